//! The master end to end: a real `postkit master` process, real children
//! (the skeleton probe from examples/, postkit's postlogd, Postfix's
//! postlogd), real sockets, observed through the log, the probe's notes and
//! `postkit status`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn examples_dir() -> PathBuf {
    let mut p = std::env::current_exe().unwrap();
    p.pop();
    if p.ends_with("deps") {
        p.pop();
    }
    p.join("examples")
}

fn root() -> bool {
    nix::unistd::geteuid().is_root()
}

struct Instance {
    dir: tempfile::TempDir,
    master: Option<Child>,
}

impl Instance {
    /// A configuration in a fresh directory; `daemon` holds the commands.
    fn new(master_cf: &str, extra_main_cf: &str) -> Instance {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let d = dir.path();
        let daemon = d.join("libexec");
        std::fs::create_dir_all(&daemon).unwrap();
        for name in ["skeleton_probe", "event_counter"] {
            std::os::unix::fs::symlink(examples_dir().join(name), daemon.join(name)).unwrap();
        }
        std::os::unix::fs::symlink(common::postkit(), daemon.join("postlogd")).unwrap();
        std::os::unix::fs::symlink("/bin/false", daemon.join("failing")).unwrap();
        let accounts = if root() {
            String::new()
        } else {
            let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
                .unwrap()
                .unwrap()
                .name;
            format!("mail_owner = {me}\n")
        };
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
        common::make_cold(&d.join("main.cf"));
        std::fs::write(d.join("master.cf"), master_cf).unwrap();
        // The probe writes its notes as mail_owner when unprivileged.
        std::fs::write(d.join("probe.log"), "").unwrap();
        std::fs::set_permissions(d.join("probe.log"), std::fs::Permissions::from_mode(0o666))
            .unwrap();
        Instance { dir, master: None }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn start(&mut self) {
        let child = Command::new(common::postkit())
            .args(["master", "-c"])
            .arg(self.path())
            .arg("-d")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
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

    fn wait_for(&self, cond: impl Fn(&Instance) -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\nlog:\n{}\nprobe notes:\n{}",
                self.log(),
                self.probe_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn ctl(&self, command: &str) -> (i32, String, String) {
        let out = Command::new(common::postkit())
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
    fn status(&self, service: &str) -> (Vec<String>, String) {
        let (code, out, err) = self.ctl("status");
        assert_eq!(code, 0, "{err}");
        let line = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(service))
            .unwrap_or_else(|| panic!("no {service} in {out}"));
        let f: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        (f[2..8].to_vec(), f[8..].join(" "))
    }

    fn send(&self, public_name: &str, data: &[u8]) {
        let c = UnixDatagram::unbound().unwrap();
        c.send_to(data, self.path().join("queue/public").join(public_name))
            .unwrap();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path().join("maillog")).unwrap_or_default()
    }

    fn probe_log(&self) -> String {
        std::fs::read_to_string(self.path().join("probe.log")).unwrap_or_default()
    }

    fn probe_pids(&self) -> Vec<i32> {
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

    fn stop(&mut self) {
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
    }
}

fn alive(pid: i32) -> bool {
    // A zombie is gone for our purposes: check /proc state.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.split(") ").nth(1).unwrap_or("").starts_with('Z'),
        Err(_) => false,
    }
}

const POSTLOG: &str = "postlog   unix-dgram n  -       n       -       1       postlogd\n";

#[test]
fn spawns_on_demand_and_reports_status() {
    let mut i = Instance::new(
        &format!("{POSTLOG}probe unix-dgram n n n - 1 skeleton_probe\n"),
        "",
    );
    i.start();
    let (counts, _) = i.status("probe");
    assert_eq!(
        counts,
        ["1", "0", "0", "0", "0", "0"],
        "no process before the first datagram"
    );
    i.send("probe", b"first");
    i.wait_for(|i| i.probe_log().contains("got 5 first"), "the probe");
    i.wait_for(
        |i| i.status("probe").0 == ["1", "1", "0", "1", "1", "0"],
        "status after one request",
    );
    let pids = i.probe_pids();
    assert_eq!(pids.len(), 1);
    // The argv Postfix builds for this entry.
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", pids[0])).unwrap();
    let argv: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into())
        .collect();
    assert_eq!(
        argv,
        [
            "skeleton_probe",
            "-l",
            "-n",
            "probe",
            "-t",
            "unix-dgram",
            "-d"
        ]
    );
    let (code, _, err) = i.ctl("stop");
    assert_eq!(code, 0, "{err}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(!alive(pids[0]), "stop leaves no children behind");
    assert!(i.log().contains("postfix/master["), "{}", i.log());
}

#[test]
fn process_limit_holds_under_a_burst() {
    let mut i = Instance::new(
        "probe unix-dgram n n n - 3 skeleton_probe\n",
        "probe_sleep = 1s\n",
    );
    i.start();
    for n in 0..12 {
        i.send("probe", format!("burst{n}").as_bytes());
    }
    i.wait_for(
        |i| i.probe_log().matches("got ").count() == 12,
        "all datagrams handled",
    );
    let pids = i.probe_pids();
    assert!(
        !pids.is_empty() && pids.len() <= 3,
        "never more than maxproc children: {pids:?}"
    );
    assert!(
        pids.len() >= 2,
        "a burst spawns more than one child: {pids:?}"
    );
}

#[test]
fn idle_children_exit_and_are_not_counted() {
    let mut i = Instance::new(
        "probe unix-dgram n n n - 2 skeleton_probe -o max_idle=1\n",
        "",
    );
    i.start();
    i.send("probe", b"x");
    i.wait_for(|i| i.probe_log().contains("got 1 x"), "the probe");
    let pid = i.probe_pids()[0];
    i.wait_for(|_| !alive(pid), "idle exit");
    i.wait_for(|i| i.status("probe").0[1] == "0", "procs back to 0");
    let (counts, _) = i.status("probe");
    assert_eq!(counts, ["2", "0", "0", "0", "1", "0"]);
}

#[test]
fn failing_command_is_throttled_then_recovers_after_reload() {
    let mut i = Instance::new(
        &format!("{POSTLOG}probe unix-dgram n n n - 1 failing\n"),
        "service_throttle_time = 60s\n",
    );
    i.start();
    for n in 0..5 {
        i.send("probe", format!("queued{n}").as_bytes());
    }
    i.wait_for(
        |i| i.log().contains("bad command startup -- throttling"),
        "throttle warning",
    );
    std::thread::sleep(Duration::from_millis(500));
    let (counts, throttled) = i.status("probe");
    assert_eq!(counts[4], "1", "one spawn, no fork storm: {counts:?}");
    assert!(throttled.starts_with("yes"), "{throttled}");
    let log = i.log();
    assert!(
        log.contains(&format!(
            "warning: process {}/libexec/failing pid ",
            i.path().display()
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "warning: {}/libexec/failing: bad command startup -- throttling",
            i.path().display()
        )),
        "{log}"
    );
    // Fix the command, reload: the queued datagrams are served.
    std::fs::write(
        i.path().join("master.cf"),
        format!("{POSTLOG}probe unix-dgram n n n - 1 skeleton_probe\n"),
    )
    .unwrap();
    let (code, _, _) = i.ctl("reload");
    assert_eq!(code, 0);
    i.wait_for(
        |i| i.probe_log().matches("got ").count() == 5,
        "queued datagrams after the fix",
    );
}

#[test]
fn reload_loses_nothing_and_replaces_children() {
    let mut i = Instance::new("probe unix-dgram n n n - 1 skeleton_probe\n", "");
    i.start();
    for n in 0..20 {
        i.send("probe", format!("before{n:02}").as_bytes());
    }
    let (code, _, _) = i.ctl("reload");
    assert_eq!(code, 0);
    for n in 0..20 {
        i.send("probe", format!("after{n:02}").as_bytes());
    }
    i.wait_for(
        |i| i.probe_log().matches("got ").count() == 40,
        "all 40 datagrams",
    );
    let log = i.probe_log();
    for n in 0..20 {
        assert_eq!(log.matches(&format!("got 8 before{n:02}\n")).count(), 1);
        assert_eq!(log.matches(&format!("got 7 after{n:02}\n")).count(), 1);
    }
}

#[test]
fn master_death_ends_children_and_a_new_master_starts_cleanly() {
    let mut i = Instance::new(
        &format!("{POSTLOG}probe unix-dgram n n n - 1 skeleton_probe\n"),
        "",
    );
    i.start();
    i.send("probe", b"x");
    i.wait_for(|i| i.probe_log().contains("got 1 x"), "the probe");
    let pid = i.probe_pids()[0];
    let mut m = i.master.take().unwrap();
    m.kill().unwrap();
    m.wait().unwrap();
    let t = Instant::now();
    i.wait_for(|_| !alive(pid), "child exit after master death");
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "took {:?}",
        t.elapsed()
    );
    // Stale pid file, control socket and service sockets are handled.
    i.start();
    i.send("probe", b"again");
    i.wait_for(
        |i| i.probe_log().contains("got 5 again"),
        "service after restart",
    );
}

#[test]
fn second_master_is_refused() {
    let mut i = Instance::new(POSTLOG, "");
    i.start();
    let out = Command::new(common::postkit())
        .args(["master", "-V", "-d", "-c"])
        .arg(i.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("fatal: open lock file pid/master.pid: unable to set exclusive lock: Resource temporarily unavailable"),
        "{err}"
    );
    let (code, _, err) = i.ctl("start");
    assert_eq!(code, 1);
    assert!(err.contains("already running"), "{err}");
}

#[test]
fn postlog_service_end_to_end() {
    let mut i = Instance::new(POSTLOG, "");
    i.start();
    let out = Command::new(common::postkit())
        .args(["-c"])
        .arg(i.path())
        .args(["postlog", "-t", "tester", "-p", "warning", "hello", "world"])
        .output()
        .unwrap();
    assert!(out.status.success());
    i.wait_for(
        |i| i.log().contains(": warning: hello world\n"),
        "the record",
    );
    let line = i
        .log()
        .lines()
        .find(|l| l.contains("hello world"))
        .unwrap()
        .to_string();
    assert!(line.contains(" tester["), "{line}");
    // A forged newline stays inside its line.
    i.send(
        "postlog",
        b"Nov 24 00:00:00 host evil[1]: one\nNov 24 00:00:00 host root[1]: forged",
    );
    i.wait_for(
        |i| i.log().contains("evil[1]: one?Nov 24"),
        "escaped newline",
    );
    assert!(
        !i.log()
            .lines()
            .any(|l| l.starts_with("Nov 24 00:00:00 host root[1]"))
    );
}

#[test]
fn check_reports_missing_directories_and_status_when_stopped() {
    let i = Instance::new(POSTLOG, "");
    let (code, _, err) = i.ctl("check");
    assert_eq!(code, 1);
    assert!(err.contains("missing directory"), "{err}");
    let (code, _, err) = i.ctl("status");
    assert_eq!(code, 1);
    assert!(err.contains("the mail system is not running"), "{err}");
}

#[test]
fn control_command_start_and_stop() {
    let i = Instance::new(POSTLOG, "");
    let (code, _, err) = i.ctl("start");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("the mail system is running: PID: "), "{err}");
    let (code, _, err) = i.ctl("check");
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = i.ctl("stop");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("stopped"), "{err}");
}

/// Postfix's own postlogd, run by postkit's master from Postfix's
/// daemon_directory, logs what both clients send.
#[test]
fn real_postfix_postlogd_under_postkit_master() {
    if !common::have_postfix("real_postfix_postlogd_under_postkit_master") || !root() {
        return;
    }
    let mut i = Instance::new(POSTLOG, "daemon_directory = /usr/lib/postfix/sbin\n");
    i.start();
    let ours = Command::new(common::postkit())
        .arg("-c")
        .arg(i.path())
        .args(["postlog", "-t", "ours", "from postkit"])
        .output()
        .unwrap();
    assert!(ours.status.success());
    let theirs = Command::new("/usr/sbin/postlog")
        .arg("-c")
        .arg(i.path())
        .args(["-t", "theirs", "from postfix"])
        .output()
        .unwrap();
    assert!(
        theirs.status.success(),
        "{}",
        String::from_utf8_lossy(&theirs.stderr)
    );
    i.wait_for(
        |i| i.log().contains(" ours[") && i.log().contains(" theirs["),
        "both records",
    );
    let (counts, _) = i.status("postlog");
    assert_eq!(counts[1], "1", "Postfix's postlogd is the running child");
    let pid = std::fs::read_to_string(i.path().join("queue/pid/master.pid")).unwrap();
    assert_eq!(pid.len(), 33);
}
