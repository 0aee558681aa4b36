//! A postkit instance for end-to-end tests: a configuration in a fresh
//! directory, a real `postkit master -d`, and ways to look at it from the
//! outside (log, probe notes, `postkit status`, /proc), plus a load of
//! numbered log records and the check that each arrived exactly once.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub const POSTLOG: &str = "postlog   unix-dgram n  -       n       -       1       postlogd\n";

pub fn examples_dir() -> PathBuf {
    let mut p = std::env::current_exe().unwrap();
    p.pop();
    if p.ends_with("deps") {
        p.pop();
    }
    p.join("examples")
}

pub fn root() -> bool {
    nix::unistd::geteuid().is_root()
}

pub struct Instance {
    pub dir: tempfile::TempDir,
    pub master: Option<Child>,
}

impl Instance {
    /// A configuration in a fresh directory; `daemon` holds the commands.
    pub fn new(master_cf: &str, extra_main_cf: &str) -> Instance {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let d = dir.path();
        let daemon = d.join("libexec");
        std::fs::create_dir_all(&daemon).unwrap();
        for name in ["skeleton_probe", "event_counter"] {
            std::os::unix::fs::symlink(examples_dir().join(name), daemon.join(name)).unwrap();
        }
        std::os::unix::fs::symlink(super::postkit(), daemon.join("postlogd")).unwrap();
        std::os::unix::fs::symlink("/bin/false", daemon.join("failing")).unwrap();
        let accounts = super::accounts_main_cf();
        std::fs::write(
            d.join("main.cf"),
            format!(
                "compatibility_level = 3.6\nqueue_directory = {q}/queue\ndata_directory = {q}/data\n\
                 daemon_directory = {q}/libexec\nmaillog_file = {q}/maillog\nmaillog_file_prefixes = {q}\n\
                 probe_log = {q}/probe.log\n{accounts}{extra_main_cf}",
                q = d.display()
            ),
        )
        .unwrap();
        super::make_cold(&d.join("main.cf"));
        std::fs::write(d.join("master.cf"), master_cf).unwrap();
        // The probe writes its notes as mail_owner when unprivileged.
        std::fs::write(d.join("probe.log"), "").unwrap();
        std::fs::set_permissions(d.join("probe.log"), std::fs::Permissions::from_mode(0o666))
            .unwrap();
        Instance { dir, master: None }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn start(&mut self) {
        self.start_with(&[]);
    }

    /// Starts the master behind `prefix` (a command that execs the rest,
    /// such as `prlimit --fsize=N --`).  Its stderr, and its children's,
    /// goes to `stderr` in the directory.
    pub fn start_with(&mut self, prefix: &[&str]) {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path().join("stderr"))
            .unwrap();
        let mut cmd = match prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(super::postkit());
                c
            }
            None => Command::new(super::postkit()),
        };
        let child = cmd
            .args(["master", "-c"])
            .arg(self.path())
            .arg("-d")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let pid = child.id();
        self.master = Some(child);
        // Ready when the pid file names this master (a killed one may have
        // left its own behind) and the control socket answers.
        self.wait_for(
            |i| {
                std::fs::read_to_string(i.path().join("queue/pid/master.pid"))
                    .is_ok_and(|p| p.trim() == pid.to_string())
                    && std::os::unix::net::UnixStream::connect(
                        i.path().join("queue/pid/master.control"),
                    )
                    .is_ok()
            },
            "master start",
        );
    }

    pub fn wait_for(&self, cond: impl Fn(&Instance) -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\nlog (end):\n{}\nprobe notes (end):\n{}\nstderr (end):\n{}",
                tail(&self.log()),
                tail(&self.probe_log()),
                tail(&self.stderr())
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn ctl(&self, command: &str) -> (i32, String, String) {
        let out = Command::new(super::postkit())
            .arg("-c")
            .arg(self.path())
            .arg(command)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }

    /// `postkit status` as (service -> [limit, procs, busy, idle, spawns, failures]) and throttle text.
    pub fn status(&self, service: &str) -> (Vec<String>, String) {
        let (code, out, err) = self.ctl("status");
        assert_eq!(code, 0, "{err}");
        let line = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(service))
            .unwrap_or_else(|| panic!("no {service} in {out}"));
        let f: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        (f[2..8].to_vec(), f[8..].join(" "))
    }

    pub fn send(&self, public_name: &str, data: &[u8]) {
        let c = UnixDatagram::unbound().unwrap();
        c.send_to(data, self.path().join("queue/public").join(public_name))
            .unwrap();
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.path().join("stderr")).unwrap_or_default()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path().join("maillog")).unwrap_or_default()
    }

    pub fn probe_log(&self) -> String {
        std::fs::read_to_string(self.path().join("probe.log")).unwrap_or_default()
    }

    pub fn probe_pids(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = self
            .probe_log()
            .lines()
            .filter_map(|l| l.strip_prefix("pre_init pid="))
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect();
        pids.sort();
        pids.dedup();
        pids
    }

    pub fn stop(&mut self) {
        if let Some(mut m) = self.master.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(m.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = m.wait();
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.stop();
        // A master that `postkit start` put in the background (the test
        // may have failed before stopping it) goes too.
        if let Some(pid) = std::fs::read_to_string(self.path().join("queue/pid/master.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
            && alive(pid)
            && std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e == super::postkit())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
}

/// The last few lines of a long text, for failure messages.
pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

pub fn alive(pid: i32) -> bool {
    // A zombie is gone for our purposes: check /proc state.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.split(") ").nth(1).unwrap_or("").starts_with('Z'),
        Err(_) => false,
    }
}

impl Instance {
    pub fn master_pid(&self) -> i32 {
        self.master.as_ref().expect("master running").id() as i32
    }

    /// The master's live children named `comm`.
    pub fn children_named(&self, comm: &str) -> Vec<i32> {
        let master = self.master_pid();
        let mut pids: Vec<i32> = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                    return false;
                };
                let Some((head, tail)) = stat.rsplit_once(") ") else {
                    return false;
                };
                let name = head.split_once(" (").map_or("", |(_, n)| n);
                let mut f = tail.split_whitespace();
                let state = f.next().unwrap_or("");
                let ppid: i32 = f.next().and_then(|p| p.parse().ok()).unwrap_or(0);
                ppid == master && name == comm && state != "Z"
            })
            .collect();
        pids.sort();
        pids
    }

    /// Waits until exactly one postlogd runs and returns its pid.
    pub fn one_postlogd(&self) -> i32 {
        self.wait_for(|i| i.children_named("postlogd").len() == 1, "one postlogd");
        self.children_named("postlogd")[0]
    }

    pub fn postlog_socket(&self) -> PathBuf {
        self.path().join("queue/public/postlog")
    }
}

/// Senders of numbered records, `load[T]: seq N`, to an instance's postlog
/// socket with blocking sends (as Postfix's clients), until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<u64>>,
}

/// A record as a Postfix client formats it, numbered by sender and sequence.
pub fn load_record(sender: usize, seq: u64, pad: usize) -> Vec<u8> {
    let mut r = format!("Nov 24 10:00:00 host load[{sender}]: seq {seq:09} ").into_bytes();
    r.resize(r.len() + pad, b'x');
    r
}

impl Load {
    pub fn start(socket: &Path, senders: usize, pad: usize) -> Load {
        Load::start_ids(socket, 0..senders, pad)
    }

    /// Senders numbered `ids` (their records' `load[T]`).
    pub fn start_ids(socket: &Path, ids: std::ops::Range<usize>, pad: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = ids
            .map(|t| {
                let stop = Arc::clone(&stop);
                let socket = socket.to_path_buf();
                std::thread::spawn(move || {
                    let c = UnixDatagram::unbound().unwrap();
                    let mut seq = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        // A send the socket refuses (it is being
                        // re-created) is not a record sent.
                        if c.send_to(&load_record(t, seq, pad), &socket).is_ok() {
                            seq += 1;
                        } else {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                    seq
                })
            })
            .collect();
        Load { stop, threads }
    }

    /// Stops the senders; how many records each sent, in id order.
    pub fn stop(self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect()
    }
}

/// What a log holds of a load.
#[derive(Debug, Default)]
pub struct LoadCheck {
    /// Records sent but not in the log, per sender.
    pub missing: Vec<Vec<u64>>,
    /// Records found more than once.
    pub duplicated: Vec<String>,
    /// Lines that are not one whole record (split, merged or cut).
    pub malformed: Vec<String>,
}

impl LoadCheck {
    pub fn missing_total(&self) -> usize {
        self.missing.iter().map(Vec::len).sum()
    }

    pub fn assert_exactly_once(&self) {
        assert!(
            self.missing_total() == 0 && self.duplicated.is_empty() && self.malformed.is_empty(),
            "missing {:?}, duplicated {:?}, malformed {:?}",
            self.missing
                .iter()
                .map(|m| m.iter().take(10).collect::<Vec<_>>())
                .collect::<Vec<_>>(),
            &self.duplicated[..self.duplicated.len().min(5)],
            &self.malformed[..self.malformed.len().min(5)]
        );
    }
}

/// Checks the load lines of `log` against what each sender sent.
pub fn check_load(log: &str, sent: &[u64], pad: usize) -> LoadCheck {
    let mut seen: Vec<Vec<u8>> = sent.iter().map(|n| vec![0u8; *n as usize]).collect();
    let mut check = LoadCheck::default();
    for line in log.lines() {
        if !line.contains("load[") {
            continue;
        }
        let parsed = (|| {
            let rest = line.strip_prefix("Nov 24 10:00:00 host load[")?;
            let (t, rest) = rest.split_once("]: seq ")?;
            let t: usize = t.parse().ok()?;
            let (seq, tail) = rest.split_once(' ')?;
            let seq: u64 = seq.parse().ok()?;
            (tail.len() == pad && load_record(t, seq, pad) == line.as_bytes()).then_some((t, seq))
        })();
        match parsed {
            Some((t, seq)) if t < sent.len() && seq < sent[t] => {
                let n = &mut seen[t][seq as usize];
                *n += 1;
                if *n == 2 {
                    check.duplicated.push(line.to_string());
                }
            }
            _ => check.malformed.push(line.to_string()),
        }
    }
    check.missing = seen
        .iter()
        .map(|s| {
            s.iter()
                .enumerate()
                .filter(|(_, n)| **n == 0)
                .map(|(i, _)| i as u64)
                .collect()
        })
        .collect();
    check
}
