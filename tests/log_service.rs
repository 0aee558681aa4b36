//! The log service under faults and attacks, end to end: a real master,
//! postkit's postlogd, and senders of numbered records keeping its socket
//! full while the test kills postlogd, reloads, rotates the log, fills
//! the disk, holds the log's lock or stops the master.  Every record is
//! counted by sender and sequence number: nothing accepted is lost or
//! written twice, and postlogd never waits on its own socket.

mod common;

use std::os::unix::process::ExitStatusExt;

use std::time::{Duration, Instant};

use common::instance::{
    Instance, Load, PAD, POSTLOG, alive, check_load, finish, load_record, log_service_under_load,
    one_at_a_time,
};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The kernel function a process sleeps in (`/proc/PID/wchan`).
fn wchan(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default()
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

fn kill9(pid: i32) {
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
}

/// Whether `line` starts with a log record's `Mon dd hh:mm:ss `.
fn starts_with_a_date(line: &str) -> bool {
    let b = line.as_bytes();
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    b.len() > 16
        && MONTHS.iter().any(|m| line.starts_with(m))
        && b[3] == b' '
        && (b[4] == b' ' || b[4].is_ascii_digit())
        && b[5].is_ascii_digit()
        && b[6] == b' '
        && b[7..15].iter().enumerate().all(|(i, c)| {
            if i % 3 == 2 {
                *c == b':'
            } else {
                c.is_ascii_digit()
            }
        })
        && b[15] == b' '
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

/// Issue 14.4: in the default root set-up (postlogd drops to mail_owner,
/// the log is root's, mode 0600) on a real full file system, postlogd says
/// so once, and when there is room again says so and counts what it
/// dropped: its own messages reach the log through the descriptor it
/// opened as root, not by reopening the file by name as mail_owner.
#[test]
#[cfg_attr(postkit_unprivileged_build, ignore = "needs root")]
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

/// Issue 14.6: two logrotates a tenth of a second apart under load: the
/// second must neither rename onto the first's file nor compress it; every
/// record ends up in exactly one file.
#[test]
fn two_logrotates_at_once_lose_nothing() {
    let (_serial, i, load) = log_service_under_load(1);
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
    let (_serial, mut i, load) = log_service_under_load(2);
    std::thread::sleep(Duration::from_millis(500));
    let (code, _, err) = i.ctl("stop");
    assert_eq!(code, 0, "{err}");
    let sent = load.stop();
    let exited = i.master.as_mut().unwrap().wait().unwrap();
    i.master = None;
    // Stopped, it ends by the signal, as Postfix's master does.
    assert_eq!(exited.signal(), Some(15), "{exited}");
    let log = i.log();
    check_load(&log, &sent, PAD)
        .report("stop under load", &sent)
        .assert_exactly_once();
    assert!(
        log.contains("master[") && log.contains("terminating on signal 15"),
        "{}",
        common::instance::tail(&log)
    );
}

/// Records the log socket holds when the log service is gone (here it
/// cannot start at all; at a stop, a process leaving on its own took
/// nothing of what came after it) reach the file at the stop: nothing
/// the socket accepted is lost.
#[test]
fn a_stop_writes_what_the_log_socket_still_holds() {
    let mut i = Instance::new("postlog unix-dgram n - n - 1 failing\n", "");
    i.start();
    let out = std::process::Command::new(common::postkit())
        .arg("-c")
        .arg(i.path())
        .args(["postlog", "queued-before-the-stop"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, _, err) = i.ctl("stop");
    assert_eq!(code, 0, "{err}");
    let log = i.log();
    assert_eq!(
        log.matches("queued-before-the-stop").count(),
        1,
        "{}",
        common::instance::tail(&log)
    );
    assert!(log.contains("terminating on signal 15"), "{log}");
}

/// Issue 14.8: with maillog_file_permissions = 0644 anyone can open the
/// log and flock it.  A lock held by another user must not gate writing:
/// every record is written, and the log says once that the lock was held.
#[test]
#[cfg_attr(postkit_unprivileged_build, ignore = "needs root")]
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

#[test]
fn kill_9_of_postlogd_loses_at_most_the_batch_in_flight() {
    let (_serial, i, load) = log_service_under_load(1);
    let old = i.one_postlogd();
    std::thread::sleep(Duration::from_millis(300));
    kill9(old);
    i.wait_for(
        |i| i.children_named("postlogd").iter().any(|p| *p != old),
        "a new postlogd",
    );
    std::thread::sleep(Duration::from_millis(300));
    let sent = finish(&i, load, Instance::log);
    let log = i.log();
    // At most the one batch of 64 that was in flight.
    check_load(&log, &sent, PAD)
        .report("kill -9 of postlogd", &sent)
        .assert_at_most_lost(64);
    assert!(
        log.contains(&format!("pid {old} killed by signal 9")),
        "the master logs the death"
    );
}

/// Postfix 3.7.11's master wedges here: it blocks writing its record about
/// the dead postlogd into the full socket and never restarts it.
#[test]
fn master_never_blocks_on_its_own_logging() {
    let (_serial, i, load) = log_service_under_load(2);
    let mut killed = Vec::new();
    for round in 0..10 {
        let old = i.one_postlogd();
        std::thread::sleep(Duration::from_millis(100));
        kill9(old);
        killed.push(old);
        let t = Instant::now();
        i.wait_for(
            |i| i.children_named("postlogd").iter().any(|p| *p != old),
            "a new postlogd",
        );
        let respawn = t.elapsed();
        assert!(
            respawn < Duration::from_secs(1),
            "round {round}: new postlogd after {respawn:?}"
        );
        let t = Instant::now();
        let (code, out, err) = i.ctl("status");
        let answered = t.elapsed();
        assert_eq!(code, 0, "round {round}: status: {err}");
        assert!(out.contains("postlog"), "{out}");
        assert!(
            answered < Duration::from_secs(1),
            "round {round}: status took {answered:?}"
        );
    }
    let sent = finish(&i, load, Instance::log);
    // The master's own records about each death are in the log, written
    // when the socket drained or straight into the file.
    let log = i.log();
    for pid in &killed {
        assert_eq!(
            log.matches(&format!("postlogd pid {pid} killed by signal 9"))
                .count(),
            1,
            "the master's record of {pid}'s death"
        );
    }
    // At most a batch per kill.
    check_load(&log, &sent, PAD)
        .report("ten kills with the socket full", &sent)
        .assert_at_most_lost(10 * 64);
    let master = i.master_pid();
    let (code, _, err) = i.ctl("stop");
    assert_eq!(code, 0, "{err}");
    i.wait_for(|_| !alive(master), "the master to stop");
}

#[test]
fn fifty_reloads_under_load_lose_and_duplicate_nothing() {
    let (_serial, i, load) = log_service_under_load(1);
    let mut postlogds = std::collections::BTreeSet::new();
    for _ in 0..50 {
        postlogds.extend(i.children_named("postlogd"));
        kill(Pid::from_raw(i.master_pid()), Signal::SIGHUP).unwrap();
        std::thread::sleep(Duration::from_millis(40));
    }
    let sent = finish(&i, load, Instance::log);
    check_load(&i.log(), &sent, PAD).assert_exactly_once();
    assert!(sent[0] > 0);
    assert!(
        postlogds.len() > 10,
        "reloads replace postlogd: {postlogds:?}"
    );
    assert_eq!(i.log().matches("reload -- version").count(), 50);
}

#[test]
fn idle_exits_between_bursts_lose_nothing() {
    let _serial = one_at_a_time();
    let mut i = Instance::new(
        "postlog   unix-dgram n  -       n       -       1       postlogd -o max_idle=1\n",
        "",
    );
    i.start();
    let mut sent = Vec::new();
    let mut pids = Vec::new();
    for burst in 0..3 {
        let load = Load::start_ids(&i.postlog_socket(), burst..burst + 1, PAD);
        std::thread::sleep(Duration::from_millis(200));
        let pid = i.one_postlogd();
        sent.extend(load.stop());
        i.wait_for(|_| !alive(pid), "postlogd's idle exit");
        pids.push(pid);
    }
    check_load(&i.log(), &sent, PAD).assert_exactly_once();
    assert!(pids[0] != pids[1] && pids[1] != pids[2], "{pids:?}");
}

#[test]
fn logrotate_under_load_loses_and_splits_nothing() {
    let (_serial, i, load) = log_service_under_load(1);
    std::thread::sleep(Duration::from_millis(200));
    let (code, _, err) = i.ctl("logrotate");
    assert_eq!(code, 0, "{err}");
    std::thread::sleep(Duration::from_millis(200));
    let both = |i: &Instance| {
        let mut text = String::new();
        for entry in std::fs::read_dir(i.path()).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("maillog.") && name.ends_with(".gz") {
                let out = std::process::Command::new("gzip")
                    .arg("-dc")
                    .arg(&path)
                    .output()
                    .unwrap();
                assert!(out.status.success());
                text.push_str(&String::from_utf8(out.stdout).unwrap());
            }
        }
        text + &i.log()
    };
    let sent = finish(&i, load, both);
    let rotated = both(&i);
    assert!(
        rotated.len() > i.log().len(),
        "records before the rotation are in the rotated file"
    );
    check_load(&rotated, &sent, PAD).assert_exactly_once();
    assert!(err.contains("compressed"), "{err}");
}

/// The log file cannot grow (a file size limit stands in for a full
/// disk): postlogd says so once, keeps running, holds what it was sent,
/// and writes it when there is room again.
#[test]
fn full_log_file_is_reported_once_and_recovered() {
    let _serial = one_at_a_time();
    // postlogd keeps the test's uid, so that the test may raise its limit.
    let mut i = Instance::new(
        "postlog   unix-dgram n  n       n       -       1       postlogd\n",
        "",
    );
    let limit: u64 = 64 * 1024;
    i.start_with(&["prlimit", &format!("--fsize={limit}:unlimited"), "--"]);
    // About 90 bytes each: three times what the file may hold.
    let total = 2000u64;
    let c = std::os::unix::net::UnixDatagram::unbound().unwrap();
    for seq in 0..total {
        c.send_to(&load_record(0, seq, PAD), i.postlog_socket())
            .unwrap();
    }
    let pid = i.one_postlogd();
    let warning = format!(
        "postlogd[{pid}]: warning: logfile '{}/maillog' write error",
        i.path().display()
    );
    let said =
        |i: &Instance| i.stderr().matches(&warning).count() + i.log().matches(&warning).count();
    i.wait_for(|i| said(i) == 1, "postlogd's warning");
    let full = i.log();
    assert!(full.len() as u64 <= limit);
    assert!(full.ends_with('\n'), "only whole lines in a full file");
    assert!(!full.contains(&String::from_utf8(load_record(0, total - 1, PAD)).unwrap()));
    // Room again.
    let out = std::process::Command::new("prlimit")
        .args(["--pid", &pid.to_string(), "--fsize=unlimited"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = String::from_utf8(load_record(0, total - 1, PAD)).unwrap();
    i.wait_for(|i| i.log().contains(&last), "the records held while full");
    // postlogd says so after the held records are in (it knows only once
    // they went out): the notice may follow them by a moment.
    i.wait_for(
        |i| i.log().contains("is writable again"),
        "the notice that the file is writable again",
    );
    let log = i.log();
    check_load(&log, &[total], PAD).assert_exactly_once();
    assert_eq!(said(&i), 1, "said once");
    assert_eq!(i.one_postlogd(), pid, "the same postlogd kept running");
}

/// A writer killed in the middle of a write that spans pages leaves a
/// record cut short at the end of the log; the next writer (postlogd at
/// its start, or any process writing straight into the file) removes it
/// under the writers' lock before it appends, so nothing runs into it.
#[test]
fn a_record_cut_short_is_removed_by_the_next_writer() {
    let _serial = one_at_a_time();
    let mut i = Instance::new(POSTLOG, "");
    let log = i.path().join("maillog");
    // No master: postlog writes into the file itself.
    std::fs::write(
        &log,
        "Nov 24 10:00:00 host t[1]: whole\nNov 24 10:00:00 host t[1]: cu",
    )
    .unwrap();
    let out = std::process::Command::new(common::postkit())
        .arg("-c")
        .arg(i.path())
        .args(["postlog", "-t", "writer", "straight into the file"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // The whole record, postlog's, and postlog's note of what it removed.
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].ends_with("whole"));
    assert!(lines[1].contains(" writer[") && lines[1].ends_with("straight into the file"));
    assert!(
        lines[2].contains(" writer[")
            && lines[2].ends_with("removed 29 bytes of a record cut short by a writer that died"),
        "{text}"
    );
    // postlogd at its start.
    let cut = "Nov 24 10:00:00 host t[1]: cut aga";
    std::fs::write(&log, format!("{text}{cut}")).unwrap();
    i.start();
    i.send("postlog", b"Nov 24 10:00:00 host t[1]: after");
    i.wait_for(|i| i.log().contains("t[1]: after\n"), "the record");
    let text = i.log();
    assert!(!text.contains("cut aga"), "{text}");
    assert!(
        text.contains(&format!(
            "removed {} bytes of a record cut short by a writer that died",
            cut.len()
        )),
        "{text}"
    );
    // Every line a whole record: it starts with a record's date (the test's
    // own records say Nov 24, postkit's own say today).
    assert!(text.lines().all(starts_with_a_date), "{text}");
}

/// Issue 23.2: on `postkit stop` a service's last words reach the log: the
/// README's example logs its totals from its exit hook, and the log
/// service is the last to go, taking what its socket holds.
#[test]
fn a_services_last_words_on_stop_reach_the_log() {
    let mut i = Instance::new(
        &format!("{POSTLOG}events unix-dgram n - n - 1 event_counter\n"),
        "",
    );
    i.start();
    for _ in 0..3 {
        i.send("events", b"login alice");
    }
    i.send("events", b"logout bob");
    i.wait_for(|i| i.service("events").spawns == 1, "the example's process");
    let (code, _, err) = i.ctl("stop");
    assert_eq!(code, 0, "{err}");
    let exited = i.master.as_mut().unwrap().wait().unwrap();
    i.master = None;
    // Stopped, it ends by the signal, as Postfix's master does.
    assert_eq!(exited.signal(), Some(15), "{exited}");
    let log = i.log();
    for words in ["event login: 3", "event logout: 1"] {
        assert!(
            log.lines()
                .any(|l| l.contains("event_counter[") && l.ends_with(words)),
            "{words:?} in the log:\n{}",
            common::instance::tail(&log)
        );
    }
}
