//! The attacks and faults of the second adversarial round (issue 14), end
//! to end, each as it was found: postlogd killed while its socket is full,
//! a real full file system as root, two logrotates at once, a stop under
//! load, children that ignore SIGTERM, exit at once or are stopped, and a
//! lock another user holds on the log.  Each failed on the main of its day.

mod common;

use std::time::{Duration, Instant};

use common::instance::{
    Instance, Load, PAD, POSTLOG, alive, check_load, finish, load_record, one_at_a_time,
};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The kernel function a process sleeps in (`/proc/PID/wchan`).
fn wchan(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default()
}

/// Issue 14.3: two senders of 4,000-byte records keep the log socket full
/// while postlogd is killed every 0.3 s.  Each new postlogd finds a record
/// its predecessor cut short and warns about it; that warning must never be
/// sent to its own (full) socket, where it would wait for itself forever,
/// blocking every client.
#[test]
fn postlogd_never_sends_to_its_own_full_socket() {
    let _serial = one_at_a_time();
    let pad = 3960;
    let mut i = Instance::new(POSTLOG, "service_throttle_time = 1s\n");
    i.start();
    let load = Load::start(&i.postlog_socket(), 2, pad);
    let mut stuck = Vec::new();
    for _ in 0..40 {
        let old = i.one_postlogd();
        // Watch it for a while: a postlogd sleeping in a send to a full
        // socket (its own: it sends nowhere else) is the deadlock.
        for _ in 0..30 {
            if wchan(old) == "unix_wait_for_peer" {
                stuck.push(old);
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // As a kill in the middle of a write leaves it: a record cut
        // short at the end of the file (written while postlogd is stopped,
        // so that nothing it writes lands after it).
        let _ = kill(Pid::from_raw(old), Signal::SIGSTOP);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(i.path().join("maillog"))
            .unwrap();
        std::io::Write::write_all(&mut f, &load_record(9, 0, 100)).unwrap();
        drop(f);
        let _ = kill(Pid::from_raw(old), Signal::SIGKILL);
        i.wait_for(
            |i| i.children_named("postlogd").iter().all(|p| *p != old),
            "the killed postlogd reaped",
        );
    }
    let sent = load.stop();
    i.send("postlog", b"marker after the kills");
    i.wait_for(
        |i| i.log().contains("marker after the kills"),
        "postlogd serving again",
    );
    let log = i.log();
    eprintln!(
        "40 kills under 4000-byte records: {} records sent, {} cut-line warnings",
        sent.iter().sum::<u64>(),
        log.matches("record cut short by a writer that died")
            .count()
    );
    eprintln!(
        "planted cut records left: {}; lines with load[9] {}",
        log.lines()
            .filter(|l| l.starts_with("Nov 24 10:00:00 host load[9]"))
            .count(),
        log.matches("load[9]").count()
    );
    assert!(
        stuck.is_empty(),
        "postlogd {stuck:?} waited on its own full socket"
    );
}

/// A tmpfs of `size` mounted on `dir` for the life of the value.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &std::path::Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mount tmpfs: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Issue 14.4: in the default root set-up (postlogd drops to mail_owner,
/// the log is root's, mode 0600) on a real full file system, postlogd says
/// so once, and when there is room again says so and counts what it
/// dropped: its own messages reach the log through the descriptor it
/// opened as root, not by reopening the file by name as mail_owner.
#[test]
fn full_file_system_as_root_is_reported_once_and_recovered() {
    if !common::needs_root("full_file_system_as_root_is_reported_once_and_recovered") {
        return;
    }
    let _serial = one_at_a_time();
    let mut i = Instance::new(POSTLOG, "");
    let fs = i.path().join("logfs");
    let _tmpfs = Tmpfs::mount(&fs, "8m");
    i.append_main_cf(&format!("maillog_file = {}/maillog\n", fs.display()));
    // Half a megabyte of room; 7.5 MB to give back later, more than the
    // 4 MiB postlogd holds while it cannot write.
    std::fs::write(fs.join("filler"), vec![b'x'; 7680 * 1024]).unwrap();
    i.start();
    let log_path = fs.join("maillog");
    let load = Load::start(&i.postlog_socket(), 1, PAD);
    let pid = i.one_postlogd();
    let warning = format!(
        "postlogd[{pid}]: warning: logfile '{}' write error",
        log_path.display()
    );
    let read_log =
        || String::from_utf8_lossy(&std::fs::read(&log_path).unwrap_or_default()).into_owned();
    // Until the file system is full and postlogd has said so.
    i.wait_for(
        |i| i.stderr().contains(&warning) || read_log().contains(&warning),
        "the write error",
    );
    std::thread::sleep(Duration::from_millis(300));
    let sent = load.stop();
    std::fs::remove_file(fs.join("filler")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !read_log().contains("is writable again") {
        if Instant::now() > deadline {
            let df = std::process::Command::new("df").arg(&fs).output().unwrap();
            panic!(
                "the log was not written again: {} bytes; df: {}; log (end): {}; stderr (end): {}",
                read_log().len(),
                String::from_utf8_lossy(&df.stdout),
                common::instance::tail(&read_log()),
                common::instance::tail(&i.stderr())
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = read_log();
    eprintln!(
        "full tmpfs as root: {} records sent, log {} bytes",
        sent[0],
        log.len()
    );
    assert!(
        log.contains("is writable again"),
        "{}",
        common::instance::tail(&log)
    );
    assert!(
        log.contains("dropped while logfile") || log.contains("could not be written"),
        "what was lost is counted in the log: {}",
        common::instance::tail(&log)
    );
    let said = log.matches(&warning).count() + i.stderr().matches(&warning).count();
    assert_eq!(said, 1, "said once");
    assert_eq!(i.one_postlogd(), pid, "the same postlogd kept running");
}

/// Every rotated file (compressed or not) and the live log, as one text.
fn all_logs(i: &Instance) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(i.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("maillog.") {
            continue;
        }
        if name.ends_with(".gz") {
            let out = std::process::Command::new("gzip")
                .arg("-dc")
                .arg(&path)
                .output()
                .unwrap();
            assert!(out.status.success());
            text.push_str(&String::from_utf8(out.stdout).unwrap());
        } else {
            text.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
    text + &i.log()
}

/// Issue 14.6: two logrotates a tenth of a second apart under load: the
/// second must neither rename onto the first's file nor compress it; every
/// record ends up in exactly one file.
#[test]
fn two_logrotates_at_once_lose_nothing() {
    let _serial = one_at_a_time();
    let mut i = Instance::new(POSTLOG, "");
    i.start();
    let load = Load::start(&i.postlog_socket(), 1, PAD);
    std::thread::sleep(Duration::from_millis(200));
    let first = std::process::Command::new(common::postkit())
        .arg("-c")
        .arg(i.path())
        .arg("logrotate")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let (code, _, err) = i.ctl("logrotate");
    let out = first.wait_with_output().unwrap();
    let first_err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{first_err}");
    assert_eq!(code, 0, "{err}");
    std::thread::sleep(Duration::from_millis(200));
    let sent = finish(&i, load, all_logs);
    let rotated: Vec<String> = std::fs::read_dir(i.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("maillog."))
        .collect();
    eprintln!("two logrotates: {rotated:?}; {} records", sent[0]);
    check_load(&all_logs(&i), &sent, PAD).assert_exactly_once();
    assert_eq!(
        rotated.len(),
        2,
        "two rotated files: {rotated:?}\n{first_err}\n{err}"
    );
}

/// Issue 14.7: a normal `postkit stop` under a two-sender flood: every
/// record the socket accepted is written, and so is the master's own
/// `terminating on signal 15`.
#[test]
fn graceful_stop_loses_nothing() {
    let _serial = one_at_a_time();
    let mut i = Instance::new(POSTLOG, "");
    i.start();
    let load = Load::start(&i.postlog_socket(), 2, PAD);
    std::thread::sleep(Duration::from_millis(500));
    let (code, _, err) = i.ctl("stop");
    assert_eq!(code, 0, "{err}");
    let sent = load.stop();
    let exited = i.master.as_mut().unwrap().wait().unwrap();
    i.master = None;
    assert!(exited.success(), "{exited}");
    let log = i.log();
    let check = check_load(&log, &sent, PAD);
    eprintln!(
        "stop under load: {} of {} records lost",
        check.missing_total(),
        sent.iter().sum::<u64>()
    );
    check.assert_exactly_once();
    assert!(
        log.contains("master[") && log.contains("terminating on signal 15"),
        "{}",
        common::instance::tail(&log)
    );
}

/// Issue 14.10: a child that ignores SIGTERM does not survive `stop` as
/// an orphan: it is killed after the grace period, and the log says so.
#[test]
fn child_that_ignores_sigterm_is_killed_on_stop() {
    let _serial = one_at_a_time();
    let mut i = Instance::new(&format!("{POSTLOG}stubborn unix n n n - 1 stubborn\n"), "");
    std::fs::write(
        i.path().join("libexec/stubborn"),
        "#!/bin/sh\ntrap '' TERM\nexec 5<&-\nwhile :; do sleep 1; done\n",
    )
    .unwrap();
    std::fs::set_permissions(
        i.path().join("libexec/stubborn"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    i.start();
    let _conn = std::os::unix::net::UnixStream::connect(i.path().join("queue/public/stubborn"));
    i.wait_for(
        |i| !i.children_named("stubborn").is_empty(),
        "the stubborn child",
    );
    let child = i.children_named("stubborn")[0];
    let (code, _, err) = i.ctl("stop");
    assert_eq!(code, 0, "{err}");
    i.master.as_mut().unwrap().wait().unwrap();
    i.master = None;
    assert!(!alive(child), "the child that ignores SIGTERM is gone");
    assert!(
        i.log()
            .contains(&format!("pid {child} did not exit within")),
        "{}",
        common::instance::tail(&i.log())
    );
}

/// Issue 14.10: a command that exits 0 at once while work waits for it is
/// throttled with a warning, not restarted a thousand times a second.
#[test]
fn service_whose_processes_exit_at_once_is_throttled() {
    let _serial = one_at_a_time();
    let mut i = Instance::new(
        &format!("{POSTLOG}quick unix-dgram n n n - 1 quick\n"),
        "service_throttle_time = 60s\n",
    );
    std::os::unix::fs::symlink("/bin/true", i.path().join("libexec/quick")).unwrap();
    i.start();
    i.send("quick", b"work nobody takes");
    std::thread::sleep(Duration::from_millis(3000));
    let quick = i.service("quick");
    assert!(quick.spawns <= 10, "{} spawns in 3 s", quick.spawns);
    assert!(quick.throttled, "{quick:?}");
    assert!(
        i.log()
            .contains("processes in a row exited without taking any work -- throttling"),
        "{}",
        common::instance::tail(&i.log())
    );
}

/// Issue 14.10: a stopped (SIGSTOP) postlogd holds the log socket while
/// every sender blocks; past its watchdog time the master kills it, says
/// why, and a new postlogd serves.
#[test]
fn stopped_postlogd_is_replaced_after_its_watchdog_time() {
    stopped_postlogd_is_replaced(POSTLOG, "");
}

/// The watchdog time the master uses is the one the service declares and
/// reads, master.cf's `-o` included: a long main.cf value (600 s) with
/// `-o postlogd_watchdog_timeout=10s` on the entry is replaced after 10 s.
#[test]
fn stopped_service_check_uses_the_entrys_own_watchdog_setting() {
    let entry = POSTLOG.trim_end().to_string() + " -o postlogd_watchdog_timeout=10s\n";
    stopped_postlogd_is_replaced(&entry, "postlogd_watchdog_timeout = 600s\n");
}

fn stopped_postlogd_is_replaced(master_cf: &str, main_cf: &str) {
    let _serial = one_at_a_time();
    let mut i = Instance::new(master_cf, main_cf);
    i.start();
    i.send("postlog", b"before the stop");
    i.wait_for(|i| i.log().contains("before the stop"), "postlogd at work");
    let old = i.one_postlogd();
    kill(Pid::from_raw(old), Signal::SIGSTOP).unwrap();
    i.send("postlog", b"sent while postlogd is stopped");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !i.log().contains("sent while postlogd is stopped") {
        assert!(
            Instant::now() < deadline,
            "no new postlogd: {}",
            common::instance::tail(&i.log())
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!alive(old), "the stopped postlogd is gone");
    assert!(
        i.log().contains(&format!("pid {old} has been stopped for")),
        "{}",
        common::instance::tail(&i.log())
    );
}

/// Issue 14.8: with maillog_file_permissions = 0644 anyone can open the
/// log and flock it.  A lock held by another user must not gate writing:
/// every record is written, and the log says once that the lock was held.
#[test]
fn lock_held_on_the_log_by_another_user_does_not_stop_logging() {
    if !common::needs_root("lock_held_on_the_log_by_another_user_does_not_stop_logging") {
        return;
    }
    let _serial = one_at_a_time();
    let mut i = Instance::new(POSTLOG, "maillog_file_permissions = 0644\n");
    i.start();
    i.send("postlog", b"the log exists");
    i.wait_for(|i| i.log().contains("the log exists"), "the log");
    let log = i.path().join("maillog");
    let mut holder = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "flock",
            "-x",
        ])
        .arg(&log)
        .args(["sleep", "60"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let total = 3000u64;
    let c = std::os::unix::net::UnixDatagram::unbound().unwrap();
    for seq in 0..total {
        c.send_to(&load_record(0, seq, PAD), i.postlog_socket())
            .unwrap();
    }
    let last = String::from_utf8(load_record(0, total - 1, PAD)).unwrap();
    i.wait_for(|i| i.log().contains(&last), "every record");
    let _ = holder.kill();
    let _ = holder.wait();
    let text = i.log();
    check_load(&text, &[total], PAD).assert_exactly_once();
    assert_eq!(
        text.matches("another process holds its lock").count(),
        1,
        "{}",
        common::instance::tail(&text)
    );
}

/// A Ctrl-C under start-fg signals the master's whole process group: the
/// children must not get it (they are in groups of their own), so the
/// master's stop still drains, and its last record is logged.
#[test]
fn a_signal_to_the_masters_process_group_still_stops_in_order() {
    let _serial = one_at_a_time();
    let mut i = Instance::new(POSTLOG, "");
    // setsid: the master leads a process group, as under a shell.
    i.start_with(&["setsid"]);
    i.send("postlog", b"before the group signal");
    i.wait_for(|i| i.log().contains("before the group signal"), "postlogd");
    let master = i.master_pid();
    kill(Pid::from_raw(-master), Signal::SIGINT).unwrap();
    let exited = i.master.take().unwrap().wait().unwrap();
    assert!(exited.success(), "{exited}");
    assert!(
        i.log().contains("terminating on signal 2"),
        "{}",
        common::instance::tail(&i.log())
    );
}
