//! The master end to end: a real `postkit master` process, real children
//! (the skeleton probe from examples/, postkit's postlogd, Postfix's
//! postlogd), real sockets, observed through the log, the probe's notes and
//! `postkit status`.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::instance::{Instance, POSTLOG, alive};

#[test]
fn spawns_on_demand_and_reports_status() {
    let mut i = Instance::new(
        &format!("{POSTLOG}probe unix-dgram n n n - 1 skeleton_probe\n"),
        "",
    );
    i.start();
    assert_eq!(
        i.service("probe").counts(),
        (1, 0, 0, 0, 0, 0),
        "no process before the first datagram"
    );
    i.send("probe", b"first");
    i.wait_for(|i| i.probe_log().contains("got 5 first"), "the probe");
    i.wait_for(
        |i| i.service("probe").counts() == (1, 1, 0, 1, 1, 0),
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
    i.wait_for(|i| i.service("probe").processes == 0, "procs back to 0");
    assert_eq!(i.service("probe").counts(), (2, 0, 0, 0, 1, 0));
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
    let probe = i.service("probe");
    assert_eq!(probe.spawns, 1, "one spawn, no fork storm: {probe:?}");
    assert!(probe.throttled, "{probe:?}");
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
    // Never started: nothing is missing yet (issue 12).
    let (code, _, err) = i.ctl("check");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("not started yet"), "{err}");
    // The queue directory alone (as a package makes it): not started yet.
    std::fs::create_dir(i.path().join("queue")).unwrap();
    let (code, _, err) = i.ctl("check");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("not started yet"), "{err}");
    // A queue with some of its directories is a fault.
    std::fs::create_dir(i.path().join("queue/pid")).unwrap();
    let (code, _, err) = i.ctl("check");
    assert_eq!(code, 1);
    assert!(
        err.contains("missing directory") && err.contains("queue/public"),
        "{err}"
    );
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
#[cfg_attr(postkit_unprivileged_build, ignore = "needs root")]
fn real_postfix_postlogd_under_postkit_master() {
    if !common::have_postfix("real_postfix_postlogd_under_postkit_master")
        || !common::needs_root("real_postfix_postlogd_under_postkit_master")
    {
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
    assert_eq!(
        i.service("postlog").processes,
        1,
        "Postfix's postlogd is the running child"
    );
    let pid = std::fs::read_to_string(i.path().join("queue/pid/master.pid")).unwrap();
    assert_eq!(pid.len(), 33);
}

/// wakeup timers: a fifo service with `wakeup = 1` gets a `W` every second
/// (its command, spawned each time by the byte it reads, notes the wake-up);
/// a unix-dgram service with a wakeup time gets Postfix's warning.
#[test]
fn wakeup_timers_trigger_their_services() {
    let mut i = Instance::new(
        "wake fifo n - n 1 1 waker NOTES\nprobe unix-dgram n - n 1 1 skeleton_probe\n",
        "",
    );
    let notes = i.path().join("wakeups");
    i.install_command(
        "waker",
        "#!/bin/sh\n# Takes the wake-up byte from the fifo (fd 6) and notes it.\n\
         eval last=\\${$#}\nbyte=$(dd bs=1 count=1 <&6 2>/dev/null)\necho \"woke $byte\" >> \"$last\"\n",
    );
    i.edit_master_cf("NOTES", &notes.display().to_string());
    i.start();
    i.wait_for(
        |_| {
            std::fs::read_to_string(&notes)
                .unwrap_or_default()
                .matches("woke W\n")
                .count()
                >= 3
        },
        "three wake-ups",
    );
    i.wait_for(
        |i| {
            i.log().contains(
                "warning: master_wakeup_timer_event: service probe(public/probe): Operation not supported",
            )
        },
        "the unix-dgram wakeup warning",
    );
}

/// With maillog_file empty, postlogd hands each record to syslog under the
/// sender's own name and pid (a logger socket the test binds stands in for
/// /dev/log).
#[test]
fn postlogd_forwards_to_syslog_when_maillog_file_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let syslog_path = dir.path().join("log");
    let syslog = std::os::unix::net::UnixDatagram::bind(&syslog_path).unwrap();
    syslog
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut i = Instance::new(
        POSTLOG,
        &format!(
            "maillog_file =\nimport_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C POSTKIT_SYSLOG_SOCKET={}\n",
            syslog_path.display()
        ),
    );
    // The master's own records go there too, not to the machine's logger.
    let env = format!("POSTKIT_SYSLOG_SOCKET={}", syslog_path.display());
    i.start_with(&["env", &env]);
    i.send(
        "postlog",
        b"Nov 24 10:00:00 host sender[4242]: forwarded\nline",
    );
    let mut buf = [0u8; 4096];
    let mut got = Vec::new();
    while !got.iter().any(|r: &String| r.contains("sender[4242]")) {
        let n = syslog.recv(&mut buf).expect("a syslog record");
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let rec = got.iter().find(|r| r.contains("sender[4242]")).unwrap();
    // <mail.info>, the time, the sender's own tag, the text made printable.
    assert!(rec.starts_with("<22>"), "{rec}");
    assert!(rec.ends_with(" sender[4242]: forwarded?line"), "{rec}");
}

/// A thousand services, each with its own socket, all watched by the
/// master's event set: a datagram to any of them starts its process.  A
/// reload that removes most of them and adds others (every service's place
/// in the master's table moves) leaves the remaining and the new ones
/// watched, each under its own name.
#[test]
fn a_thousand_services_spawn_on_demand_across_a_reload() {
    let entry = |name: &str| format!("{name} unix-dgram n n n - 1 skeleton_probe\n");
    let cf: String = (0..1000).map(|n| entry(&format!("s{n}"))).collect();
    let mut i = Instance::new(&cf, "");
    i.start();
    for n in [0, 499, 999] {
        i.send(&format!("s{n}"), format!("to-s{n}").as_bytes());
    }
    i.wait_for(
        |i| {
            let log = i.probe_log();
            [0, 499, 999]
                .iter()
                .all(|n| log.contains(&format!(" to-s{n}\n")))
        },
        "the three services' processes",
    );
    // Every tenth service stays; fifty new ones come first in the file.
    let mut cf: String = (0..50).map(|n| entry(&format!("t{n}"))).collect();
    cf.extend((0..1000).step_by(10).map(|n| entry(&format!("s{n}"))));
    std::fs::write(i.path().join("master.cf"), cf).unwrap();
    let (code, _, err) = i.ctl("reload");
    assert_eq!(code, 0, "{err}");
    i.wait_for(|i| i.path().join("queue/public/t49").exists(), "the reload");
    // A removed service's socket is closed: nobody takes its datagrams.
    i.wait_for(
        |i| {
            std::os::unix::net::UnixDatagram::unbound()
                .and_then(|c| c.send_to(b"x", i.path().join("queue/public/s998")))
                .is_err()
        },
        "a removed service's socket closed",
    );
    for name in ["t0", "t49", "s10", "s990", "s0"] {
        i.send(name, format!("after-{name}").as_bytes());
    }
    i.wait_for(
        |i| {
            let log = i.probe_log();
            ["t0", "t49", "s10", "s990", "s0"]
                .iter()
                .all(|n| log.contains(&format!(" after-{n}\n")))
        },
        "the services after the reload",
    );
    let t49 = i.service("t49");
    assert_eq!(t49.idle, 1, "t49's one process, idle: {t49:?}");
}

/// Issue 22.6: a change of inet_protocols on reload is warned about as
/// Postfix's master does (its master_vars watch), and the running master
/// keeps the protocols it started with.
#[test]
fn reload_warns_about_an_inet_protocols_change() {
    let mut i = Instance::new(POSTLOG, "inet_protocols = ipv4\n");
    i.start();
    i.append_main_cf("inet_protocols = all\n");
    let (code, _, err) = i.ctl("reload");
    assert_eq!(code, 0, "{err}");
    i.wait_for(
        |i| {
            let log = i.log();
            log.contains("warning: ignoring inet_protocols parameter value change")
                && log.contains("warning: old value: \"ipv4\", new value: \"all\"")
                && log.contains("warning: to change inet_protocols, stop and start Postfix")
        },
        "Postfix's three warnings",
    );
}

/// The master's voluntary context switches so far (its waits; a busy
/// machine's preemptions are not its doing).
fn switches(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .filter(|l| l.starts_with("voluntary_ctxt_switches:"))
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

/// Under a stream of status records (a pool member reports TAKEN and
/// AVAIL for every request) the master wakes at most about once a
/// millisecond and takes what came meanwhile in one turn, instead of a
/// wake-up per record; every record is still accounted (the service shows
/// the requests done and its process idle at the end).
#[test]
fn the_master_takes_status_records_paced() {
    use std::io::{BufRead, BufReader, Write};
    let mut i = Instance::new(
        &format!("{POSTLOG}policy unix n - n - 2 policy_service\n"),
        "",
    );
    i.start();
    let path = i.path().join("queue/public/policy");
    let c = std::os::unix::net::UnixStream::connect(&path).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut w = c.try_clone().unwrap();
    let mut r = BufReader::new(c);
    let mut ask = |n: usize| {
        for k in 0..n {
            write!(w, "request=smtpd_access_policy\nrecipient=r{k}@x\n\n").unwrap();
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            assert_eq!(line, "action=DUNNO\n");
            r.read_line(&mut line).unwrap();
        }
    };
    ask(1);
    let master = i.master_pid();
    let (before, t0) = (switches(master), Instant::now());
    let requests = 3000;
    ask(requests);
    let elapsed_ms = t0.elapsed().as_millis() as u64;
    let woke = switches(master) - before;
    // A paced turn is at most two switches (the pause and the wait).
    assert!(
        woke <= 2 * elapsed_ms + 100,
        "{woke} context switches in {elapsed_ms} ms for {} status records",
        2 * requests
    );
    drop(w);
    drop(r);
    i.wait_for(
        |i| {
            let s = i.service("policy");
            s.processes == 1 && s.busy == 0
        },
        "every record accounted: the process idle",
    );
    let (code, _, err) = i.ctl("stop");
    assert_eq!(code, 0, "{err}");
}
