//! The master's supervision of its children, end to end: services whose
//! processes fail, exit at once, hang in a handler, ignore SIGTERM or are
//! stopped; the master killed with -9; a signal to its process group.
//! Each is throttled, replaced or ended as Postfix's master does, with
//! the same warnings, and no fork storm.

mod common;

use std::os::unix::process::ExitStatusExt;

use std::time::{Duration, Instant};

use common::instance::{Instance, Load, PAD, POSTLOG, alive, check_load, finish, one_at_a_time};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

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
    // Ended by the group's signal, as Postfix's master is.
    assert_eq!(exited.signal(), Some(2), "{exited}");
    assert!(
        i.log().contains("terminating on signal 2"),
        "{}",
        common::instance::tail(&i.log())
    );
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
    // At most postlogd's batch and what the old socket held.
    let qlen: usize = std::fs::read_to_string("/proc/sys/net/unix/max_dgram_qlen")
        .ok()
        .and_then(|q| q.trim().parse().ok())
        .unwrap_or(512);
    check_load(&i.log(), &sent, PAD).assert_at_most_lost(64 + qlen);
}
