//! Faults under load, end to end: a real master, postkit's postlogd and
//! senders of numbered records keeping its socket full, while the test
//! kills, reloads, rotates, fills the disk and kills the master.  Every
//! record is counted by sender and sequence number.

mod common;

use std::time::{Duration, Instant};

use common::instance::{
    Instance, Load, PAD, POSTLOG, alive, check_load, finish, load_record, one_at_a_time,
};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn kill9(pid: i32) {
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
}

#[test]
fn kill_9_of_postlogd_loses_at_most_the_batch_in_flight() {
    let _serial = one_at_a_time();
    let mut i = Instance::new(POSTLOG, "");
    i.start();
    let load = Load::start(&i.postlog_socket(), 1, PAD);
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
    let check = check_load(&log, &sent, PAD);
    eprintln!(
        "kill -9 of postlogd: {} of {} records lost",
        check.missing_total(),
        sent[0]
    );
    assert!(check.malformed.is_empty(), "{:?}", &check.malformed[..1]);
    assert!(check.duplicated.is_empty(), "{:?}", check.duplicated);
    assert!(
        check.missing_total() <= 64,
        "lost {} of {} records (at most one batch of 64 may be in flight): {:?}",
        check.missing_total(),
        sent[0],
        check.missing
    );
    assert!(
        log.contains(&format!("pid {old} killed by signal 9")),
        "the master logs the death"
    );
}

/// Postfix 3.7.11's master wedges here: it blocks writing its record about
/// the dead postlogd into the full socket and never restarts it.
#[test]
fn master_never_blocks_on_its_own_logging() {
    let _serial = one_at_a_time();
    let mut i = Instance::new(POSTLOG, "");
    i.start();
    let load = Load::start(&i.postlog_socket(), 2, PAD);
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
    let check = check_load(&log, &sent, PAD);
    eprintln!(
        "ten kills with the socket full: {} of {} records lost",
        check.missing_total(),
        sent.iter().sum::<u64>()
    );
    assert!(check.malformed.is_empty(), "{:?}", &check.malformed[..1]);
    assert!(check.duplicated.is_empty(), "{:?}", check.duplicated);
    assert!(
        check.missing_total() <= 10 * 64,
        "at most a batch per kill: lost {}",
        check.missing_total()
    );
    let master = i.master_pid();
    let (code, _, err) = i.ctl("stop");
    assert_eq!(code, 0, "{err}");
    i.wait_for(|_| !alive(master), "the master to stop");
}

#[test]
fn fifty_reloads_under_load_lose_and_duplicate_nothing() {
    let _serial = one_at_a_time();
    let mut i = Instance::new(POSTLOG, "");
    i.start();
    let load = Load::start(&i.postlog_socket(), 1, PAD);
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
    let _serial = one_at_a_time();
    let mut i = Instance::new(POSTLOG, "");
    i.start();
    let load = Load::start(&i.postlog_socket(), 1, PAD);
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

/// A service that fails at every start is throttled for
/// service_throttle_time between attempts: no fork storm.
#[test]
fn failing_service_is_throttled_without_a_fork_storm() {
    let _serial = one_at_a_time();
    let mut i = Instance::new(
        &format!("{POSTLOG}probe unix-dgram n n n - 1 failing\n"),
        "service_throttle_time = 1s\n",
    );
    i.start();
    i.send("probe", b"waiting");
    let t = Instant::now();
    std::thread::sleep(Duration::from_millis(3500));
    let spawns = i.service("probe").spawns;
    let elapsed = t.elapsed().as_secs_f64();
    assert!(
        spawns >= 2 && spawns as f64 <= 2.0 + elapsed,
        "{spawns} spawns in {elapsed:.1}s with a 1s throttle"
    );
    // A warning per failed start (the last may not be reaped yet).
    let warnings = i.log().matches("bad command startup -- throttling").count() as u64;
    assert!(
        warnings == spawns || warnings + 1 == spawns,
        "{warnings} warnings for {spawns} failed starts"
    );
    std::fs::write(
        i.path().join("master.cf"),
        format!("{POSTLOG}probe unix-dgram n n n - 1 skeleton_probe\n"),
    )
    .unwrap();
    assert_eq!(i.ctl("reload").0, 0);
    i.wait_for(
        |i| i.probe_log().contains("got 7 waiting"),
        "the datagram once the command is fixed",
    );
}

/// A handler stuck forever: the watchdog ends the process and the master
/// runs a new one for what comes next.
#[test]
fn watchdog_ends_a_stuck_handler_and_the_master_replaces_it() {
    let _serial = one_at_a_time();
    let mut i = Instance::new(
        &format!("{POSTLOG}probe unix-dgram n n n - 1 skeleton_probe -o probe_watchdog=3s\n"),
        "",
    );
    i.start();
    i.send("probe", b"first");
    i.wait_for(|i| i.probe_log().contains("got 5 first"), "first");
    let stuck = i.probe_pids()[0];
    i.send("probe", b"hang");
    i.wait_for(
        |i| i.probe_log().contains("got 4 hang"),
        "the stuck request",
    );
    i.send("probe", b"after");
    i.wait_for(|_| !alive(stuck), "the watchdog");
    i.wait_for(|i| i.probe_log().contains("got 5 after"), "a new process");
    let pids = i.probe_pids();
    assert_eq!(pids.len(), 2, "{pids:?}");
    let log = i.log();
    assert!(log.contains("fatal: watchdog timeout"), "{log}");
    assert!(log.contains(&format!("pid {stuck} exit status 1")), "{log}");
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

/// `kill -9` of the master: every child exits within a second, and a new
/// master starts on the stale pid file and sockets.
#[test]
fn master_kill_9_ends_every_child_and_a_new_master_starts() {
    let _serial = one_at_a_time();
    let mut i = Instance::new(
        &format!("{POSTLOG}probe unix-dgram n n n - 1 skeleton_probe\n"),
        "",
    );
    i.start();
    let load = Load::start(&i.postlog_socket(), 1, PAD);
    i.send("probe", b"x");
    i.wait_for(|i| i.probe_log().contains("got 1 x"), "the probe");
    let children = [i.one_postlogd(), i.probe_pids()[0]];
    let mut m = i.master.take().unwrap();
    m.kill().unwrap();
    m.wait().unwrap();
    let t = Instant::now();
    let deadline = t + Duration::from_secs(5);
    while children.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let gone = t.elapsed();
    assert!(
        gone < Duration::from_secs(1),
        "children {children:?} still alive after {gone:?}"
    );
    // The socket dies with the master, and what waited in it with the
    // socket; the sender gets an error and, once a new master runs, sends
    // to the new socket.
    let before = i.log().matches("load[").count();
    i.start();
    i.wait_for(
        |i| i.log().matches("load[").count() > before + 100,
        "the load reaching the new master",
    );
    let sent = finish(&i, load, Instance::log);
    let check = check_load(&i.log(), &sent, PAD);
    assert!(check.malformed.is_empty() && check.duplicated.is_empty());
    // At most postlogd's batch and what the old socket held.
    let qlen: usize = std::fs::read_to_string("/proc/sys/net/unix/max_dgram_qlen")
        .ok()
        .and_then(|q| q.trim().parse().ok())
        .unwrap_or(512);
    assert!(check.missing_total() <= 64 + qlen, "{:?}", check.missing);
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
