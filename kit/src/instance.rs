//! A postkit instance: a configuration in a fresh directory, a real
//! `postkit master -d`, ready once its control socket answers (the master's
//! readiness contract), and ways to look at it from the outside (log, probe
//! notes, `postkit status`, /proc).

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use crate::procs::{alive, tail};

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
        for name in [
            "skeleton_probe",
            "event_counter",
            "policy_service",
            "line_echo",
            "wakeup_log",
            "line_count",
        ] {
            std::os::unix::fs::symlink(examples_dir().join(name), daemon.join(name)).unwrap();
        }
        std::os::unix::fs::symlink(crate::postkit_exe(), daemon.join("postlogd")).unwrap();
        std::os::unix::fs::symlink("/bin/false", daemon.join("failing")).unwrap();
        let accounts = crate::accounts_main_cf();
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
        crate::make_cold(&d.join("main.cf"));
        std::fs::write(d.join("master.cf"), master_cf).unwrap();
        // The probe writes its notes as mail_owner when unprivileged.
        std::fs::write(d.join("probe.log"), "").unwrap();
        std::fs::set_permissions(d.join("probe.log"), std::fs::Permissions::from_mode(0o666))
            .unwrap();
        Instance { dir, master: None }
    }

    /// An instance over a configuration the caller wrote into `dir` (such
    /// as postkit's rootless default configuration).
    pub fn in_dir(dir: tempfile::TempDir) -> Instance {
        Instance { dir, master: None }
    }

    /// Adds lines to main.cf (later entries override earlier ones), with
    /// the file's time set back so that Postfix reads it at once.
    pub fn append_main_cf(&self, lines: &str) {
        let main_cf = self.path().join("main.cf");
        let text = std::fs::read_to_string(&main_cf).unwrap();
        std::fs::write(&main_cf, text + lines).unwrap();
        crate::make_cold(&main_cf);
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Puts an executable command `name` with `text` into daemon_directory.
    pub fn install_command(&self, name: &str, text: &str) {
        let path = self.path().join("libexec").join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Replaces `from` with `to` everywhere in master.cf.
    pub fn edit_master_cf(&self, from: &str, to: &str) {
        let path = self.path().join("master.cf");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace(from, to)).unwrap();
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
        let mut cmd = postkit_behind(prefix);
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

    /// `postkit -c DIR COMMAND`: exit status, stdout, stderr.
    pub fn ctl(&self, command: &str) -> (i32, String, String) {
        self.ctl_with(&[], command)
    }

    /// The same behind `prefix`, a command that execs the rest (`prlimit
    /// --nofile=N --`, `setpriv --reuid=...`).
    pub fn ctl_with(&self, prefix: &[&str], command: &str) -> (i32, String, String) {
        let mut cmd = postkit_behind(prefix);
        let out = cmd
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

    /// The master's state, typed (`postkit status --json`).
    pub fn report(&self) -> crate::status::Report {
        crate::status::read(self.path())
    }

    /// One service's state, typed.
    pub fn service(&self, name: &str) -> crate::status::ServiceReport {
        self.report().service(name).clone()
    }

    /// The line `postkit status` shows people for a service.
    pub fn status_line(&self, service: &str) -> String {
        let (code, out, err) = self.ctl("status");
        assert!(code == 0 || code == 3, "{code}: {err}");
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(service))
            .unwrap_or_else(|| panic!("no {service} in {out}"))
            .to_string()
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
            crate::procs::terminate(&mut m);
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
            && std::fs::read_link(format!("/proc/{pid}/exe"))
                .is_ok_and(|e| e == crate::postkit_exe())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
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

/// The postkit executable run behind `prefix`, a command that execs the
/// rest (`prlimit ... --`, `setpriv ...`), or directly.
fn postkit_behind(prefix: &[&str]) -> Command {
    match prefix.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(crate::postkit_exe());
            c
        }
        None => Command::new(crate::postkit_exe()),
    }
}
