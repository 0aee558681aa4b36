//! The skeleton from the outside: a real process started with the
//! descriptors a master gives (the kit's fake master: flow pipe, status
//! socketpair, a bound datagram socket), observed through its status
//! records, exit status, messages and the probe service's notes.

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::fake_master::{Pool, assert_pairs, wait_exit};
use postkit::server::master_proto::{MASTER_STAT_AVAIL, MASTER_STAT_TAKEN, MasterStatus};

#[test]
fn status_records_per_request() {
    // A batch of one datagram is Postfix's behaviour: TAKEN and AVAIL for each.
    let mut pool = Pool::new("dgram_batch_limit = 1\n");
    let child = pool.start(&["-t", "unix-dgram", "-n", "probe", "-l", "-d", "-V"], &[]);
    let pid = child.id() as i32;
    pool.send(b"one");
    pool.send(b"two");
    let recs = pool.records(Duration::from_millis(1500));
    let expect: Vec<MasterStatus> = [
        MASTER_STAT_TAKEN,
        MASTER_STAT_AVAIL,
        MASTER_STAT_TAKEN,
        MASTER_STAT_AVAIL,
    ]
    .iter()
    .map(|&avail| MasterStatus {
        pid,
        generation: 0o17,
        avail,
    })
    .collect();
    assert_eq!(recs, expect);
    let log = pool.log();
    assert!(
        log.contains("got 3 one") && log.contains("got 3 two"),
        "{log}"
    );
    assert!(log.find("pre_init").unwrap() < log.find("post_init").unwrap());
    assert_eq!(log.matches("pre_accept").count(), 2);
    pool.master_end = None;
    let (code, _) = wait_exit(child, Duration::from_secs(3));
    assert_eq!(code, Some(0));
}

/// A member of a pool (no -l: it takes the pool lock) that finds more
/// queued when it is done with a datagram stays busy: one TAKEN, the
/// datagrams one at a time (each taken under the pool lock, with its
/// PRE_ACCEPT), one AVAIL when the queue is empty, instead of a pair per
/// datagram that wakes the master twice each.
#[test]
fn a_pool_member_with_queued_work_reports_one_busy_spell() {
    let mut pool = Pool::new("");
    for i in 0..10 {
        pool.send(format!("q{i}").as_bytes());
    }
    let child = pool.start(&["-t", "unix-dgram", "-n", "probe", "-d"], &[]);
    let recs = pool.avails(Duration::from_millis(1500));
    assert_eq!(recs, [MASTER_STAT_TAKEN, MASTER_STAT_AVAIL]);
    let log = pool.log();
    for i in 0..10 {
        assert!(log.contains(&format!("got 2 q{i}")), "{log}");
    }
    assert_eq!(log.matches("pre_accept").count(), 10, "{log}");
    // Idle again: the next datagram is a spell of its own.
    pool.send(b"later");
    let recs = pool.avails(Duration::from_millis(1000));
    assert_eq!(recs, [MASTER_STAT_TAKEN, MASTER_STAT_AVAIL]);
    pool.master_end = None;
    let (code, _) = wait_exit(child, Duration::from_secs(3));
    assert_eq!(code, Some(0));
}

#[test]
fn master_disconnect_exits_at_once() {
    let mut pool = Pool::new("");
    let child = pool.start(&["-t", "unix-dgram", "-n", "probe", "-l", "-d"], &[]);
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    pool.master_end = None;
    let (code, _) = wait_exit(child, Duration::from_secs(3));
    assert_eq!(code, Some(0));
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "took {:?}",
        t.elapsed()
    );
    assert!(pool.log().contains("exit"));
}

#[test]
fn idle_limit_ends_the_process() {
    let pool = Pool::new("");
    let child = pool.start(
        &["-t", "unix-dgram", "-n", "probe", "-l", "-d", "-i", "1"],
        &[],
    );
    let (code, _) = wait_exit(child, Duration::from_secs(5));
    assert_eq!(code, Some(0));
    assert!(pool.log().ends_with("exit\n"), "{}", pool.log());
}

#[test]
fn use_limit_ends_the_process() {
    let mut pool = Pool::new("");
    let child = pool.start(
        &["-t", "unix-dgram", "-n", "probe", "-l", "-d", "-m", "2"],
        &[],
    );
    for i in 0..3 {
        pool.send(format!("m{i}").as_bytes());
    }
    let (code, _) = wait_exit(child, Duration::from_secs(5));
    assert_eq!(code, Some(0));
    assert_pairs(&pool.records(Duration::from_millis(200)));
    let log = pool.log();
    assert_eq!(log.matches("got ").count(), 2, "{log}");
    // The third datagram waits in the socket for the next process.
    let mut buf = [0u8; 16];
    assert_eq!(pool.sock.recv(&mut buf).unwrap(), 2);
}

#[test]
fn watchdog_ends_a_stuck_handler() {
    let pool = Pool::new("probe_mode = stuck\nprobe_watchdog = 3s\n");
    let child = pool.start(&["-t", "unix-dgram", "-n", "probe", "-l", "-d", "-V"], &[]);
    std::thread::sleep(Duration::from_millis(200));
    pool.send(b"hang");
    let (code, err) = wait_exit(child, Duration::from_secs(10));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("fatal: watchdog timeout"), "{err}");
}

#[test]
fn in_flow_delay_takes_a_token_or_waits() {
    let mut pool = Pool::new("in_flow_delay = 2s\n");
    let child = pool.start(
        &["-t", "unix-dgram", "-n", "probe", "-l", "-d"],
        &[("PROBE_OPTS", "in_flow_delay")],
    );
    postkit::server::mail_flow::mail_flow_put(&pool.flow.1, 1).unwrap();
    pool.send(b"with-token");
    let fast = pool.records(Duration::from_millis(1500));
    assert_eq!(fast.len(), 2, "served without waiting for the delay");
    assert!(
        postkit::server::mail_flow::mail_flow_get(&pool.flow.0, &pool.flow.1, 1).is_err(),
        "token was taken"
    );
    pool.send(b"without-token");
    assert_eq!(
        pool.records(Duration::from_millis(1000)).len(),
        1,
        "TAKEN, then the delay"
    );
    assert_eq!(
        pool.records(Duration::from_millis(2500)).len(),
        1,
        "AVAIL after the delay"
    );
    pool.master_end = None;
    wait_exit(child, Duration::from_secs(3));
}

/// Two processes of one pool share the lock: each datagram wakes one.
#[test]
fn pool_lock_wakes_one_process_per_datagram() {
    let mut pool = Pool::new("");
    let a = pool.start(&["-t", "unix-dgram", "-n", "probe", "-d"], &[]);
    let b = pool.start(&["-t", "unix-dgram", "-n", "probe", "-d"], &[]);
    std::thread::sleep(Duration::from_millis(400));
    assert!(pool.dir.path().join("queue/pid/unix-dgram.probe").exists());
    let lock_mode = std::fs::metadata(pool.dir.path().join("queue/pid/unix-dgram.probe")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&lock_mode.permissions()) & 0o777,
        0o600
    );
    for i in 0..6 {
        pool.send(format!("d{i}").as_bytes());
        std::thread::sleep(Duration::from_millis(60));
    }
    let recs = pool.records(Duration::from_millis(800));
    // Without the lock both processes would wake and report for every datagram.
    assert_eq!(recs.len(), 12, "{recs:?} {}", pool.log());
    assert_eq!(pool.log().matches("got ").count(), 6);
    pool.master_end = None;
    // Each process's last counters: none woke for a datagram it did not get.
    let mut handled = 0;
    for child in [a, b] {
        let (_, stderr) = wait_exit(child, Duration::from_secs(3));
        let last = stderr
            .lines()
            .rfind(|l| l.starts_with("postkit-stats: "))
            .unwrap_or_else(|| panic!("no counters: {stderr}"))
            .to_string();
        assert!(last.contains(" empty_wakeups=0"), "{last}");
        let n = last.split(' ').find_map(|f| f.strip_prefix("handled="));
        handled += n.and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
    }
    assert_eq!(handled, 6);
}

/// Arguments, environment, expected message.
type FatalCase = (
    Vec<&'static str>,
    Vec<(&'static str, &'static str)>,
    &'static str,
);

/// Every fatal message of the original, each with exit status 1.
#[test]
fn fatal_messages() {
    let cases: Vec<FatalCase> = vec![
        (
            vec!["-d", "-l", "-n", "probe"],
            vec![],
            "fatal: no transport type specified",
        ),
        (
            vec!["-d", "-l", "-t", "unix"],
            vec![],
            "fatal: unsupported transport type: unix",
        ),
        (
            vec!["-d", "-l", "-t", "unix-dgram", "-q"],
            vec![],
            "fatal: invalid option: q",
        ),
        (
            vec!["-d", "-l", "-t", "unix-dgram", "-s", "0"],
            vec![],
            "fatal: invalid socket_count: 0",
        ),
        (
            vec!["-d", "-l", "-t", "unix-dgram", "-o", "novalue"],
            vec![],
            "fatal: invalid \"-o novalue\" option value: missing '=' after attribute name",
        ),
        (
            vec!["-d", "-l", "-t", "unix-dgram"],
            vec![("GENERATION", "12x")],
            "fatal: bad generation: 12x",
        ),
        (
            vec!["-d", "-t", "unix-dgram", "-n", "svc"],
            vec![("PROBE_OPTS", "solitary")],
            "fatal: service svc requires a process limit of 1",
        ),
        (
            vec!["-d", "-l", "-t", "unix-dgram", "-n", "svc"],
            vec![("PROBE_OPTS", "unlimited")],
            "fatal: service svc requires a process limit of 0",
        ),
        (
            vec!["-d", "-l", "-u", "-t", "unix-dgram", "-n", "svc"],
            vec![("PROBE_OPTS", "privileged")],
            "fatal: service svc requires privileged operation",
        ),
        (
            vec!["-d", "-l", "-t", "unix-dgram", "-o", "max_use=x"],
            vec![],
            "fatal: bad numerical configuration: max_use = x",
        ),
        (
            vec!["-d", "-l", "-t", "unix-dgram", "-o", "probe_sleep=5 s"],
            vec![],
            "fatal: parameter probe_sleep: bad time value or unit: 5 s",
        ),
        (
            vec!["-d", "-l", "-t", "unix-dgram", "-i", "0"],
            vec![],
            "fatal: invalid max_idle: 0 (min 1)",
        ),
        (
            vec![
                "-d",
                "-l",
                "-t",
                "unix-dgram",
                "-o",
                "a=$a",
                "-o",
                "probe_mode=$a",
            ],
            vec![],
            "fatal: dictionary mail_dict: macro processing error",
        ),
        (
            vec![
                "-d",
                "-l",
                "-t",
                "unix-dgram",
                "-o",
                "maillog_file=/tmp/x.log",
            ],
            vec![],
            "fatal: maillog_file value '/tmp/x.log' does not match any prefix in maillog_file_prefixes",
        ),
    ];
    let pool = Pool::new("");
    let handles: Vec<_> = cases
        .into_iter()
        .map(|(args, env, expect)| {
            let args: Vec<&str> = std::iter::once("-V").chain(args).collect();
            let child = pool.start(&args, &env);
            (child, expect)
        })
        .collect();
    for (child, expect) in handles {
        let (code, err) = wait_exit(child, Duration::from_secs(10));
        assert_eq!(code, Some(1), "{expect}: {err}");
        assert!(
            err.contains(&format!("postfix/skeleton_probe: {expect}\n")),
            "want {expect:?}, got {err:?}"
        );
    }
    let _ = pool.log_path();
}

/// Before main.cf is read, a daemon logs where its parent's environment
/// says: a missing main.cf is Postfix's `open` fatal, sent to the postlog
/// socket in Postfix's record format.
#[test]
fn missing_main_cf_is_logged_to_postlog_service() {
    let pool = Pool::new("");
    std::fs::remove_file(pool.dir.path().join("main.cf")).unwrap();
    let log_path = pool.dir.path().join("log.sock");
    let log = UnixDatagram::bind(&log_path).unwrap();
    log.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let child = pool.start(
        &["-d", "-l", "-t", "unix-dgram"],
        &[
            ("POSTLOG_SERVICE", log_path.to_str().unwrap()),
            ("POSTLOG_HOSTNAME", "box.example.com"),
        ],
    );
    let mut buf = [0u8; 4096];
    let n = log.recv(&mut buf).unwrap();
    let rec = String::from_utf8_lossy(&buf[..n]).to_string();
    let want = format!(
        " box postfix/skeleton_probe[{}]: fatal: open {}/main.cf: No such file or directory",
        child.id(),
        pool.dir.path().display()
    );
    assert!(rec.ends_with(&want), "{rec:?} should end with {want:?}");
    // "Mon dd hh:mm:ss" before the host.
    assert_eq!(rec.as_bytes()[3], b' ');
    assert_eq!(&rec[9..10], ":");
    let (code, _) = wait_exit(child, Duration::from_secs(5));
    assert_eq!(code, Some(1));
}

/// As root: `-u` leaves only mail_owner's uid, gid and groups; `-c` puts the
/// process in a chroot at queue_directory.
#[test]
#[cfg_attr(postkit_unprivileged_build, ignore = "needs root")]
fn privilege_drop_and_chroot() {
    if !common::needs_root("privilege_drop_and_chroot") {
        return;
    }
    let owner = nix::unistd::User::from_name("postfix").unwrap();
    let Some(owner) = owner else {
        assert_ne!(
            std::env::var("POSTKIT_REQUIRE_POSTFIX").as_deref(),
            Ok("1"),
            "user postfix is missing"
        );
        return;
    };
    let pool = Pool::new("");
    // The probe writes its notes as mail_owner after the drop.
    std::fs::write(pool.dir.path().join("probe.log"), "").unwrap();
    nix::unistd::chown(&pool.dir.path().join("probe.log"), Some(owner.uid), None).unwrap();
    let child = pool.start(&["-t", "unix-dgram", "-n", "probe", "-l", "-d", "-u"], &[]);
    std::thread::sleep(Duration::from_millis(500));
    drop(child);
    let log = pool.log();
    let line = log
        .lines()
        .find(|l| l.starts_with("post_init"))
        .expect(&log)
        .to_string();
    let want = format!(
        "post_init uid={0} euid={0} gid={1} egid={1} groups=",
        owner.uid, owner.gid
    );
    assert!(line.starts_with(&want), "{line} vs {want}");
    assert_eq!(
        common::groups_noted(&line),
        common::groups_of("postfix", owner.gid)
    );
    assert!(line.ends_with("chrooted=false"));
}

#[test]
#[cfg_attr(postkit_unprivileged_build, ignore = "needs root")]
fn chroot_to_queue_directory() {
    if !common::needs_root("chroot_to_queue_directory") {
        return;
    }
    let pool = Pool::new("");
    // The probe opens its notes before the chroot and keeps them open.
    let notes = pool.dir.path().join("notes.log");
    std::fs::write(
        pool.dir.path().join("main.cf"),
        format!(
            "queue_directory = {}\nprobe_log = {}\n",
            pool.dir.path().join("queue").display(),
            notes.display()
        ),
    )
    .unwrap();
    common::make_cold(&pool.dir.path().join("main.cf"));
    let child = pool.start(&["-t", "unix-dgram", "-n", "probe", "-l", "-d", "-c"], &[]);
    std::thread::sleep(Duration::from_millis(500));
    drop(child);
    let log = std::fs::read_to_string(notes).unwrap_or_default();
    assert!(log.contains("chrooted=true"), "{log}");
}

/// The example service from examples/ counts events and reports at exit.
#[test]
fn event_counter_example_counts_by_key() {
    let mut pool = Pool::new("");
    let child = pool.start_program(
        "event_counter",
        &["-V", "-t", "unix-dgram", "-n", "events", "-l", "-d"],
        &[],
    );
    for e in ["login alice", "login bob", "logout alice"] {
        pool.send(e.as_bytes());
    }
    assert_pairs(&pool.records(Duration::from_millis(1000)));
    pool.master_end = None;
    let (code, err) = wait_exit(child, Duration::from_secs(3));
    assert_eq!(code, Some(0));
    assert!(
        err.contains("postfix/event_counter: event login: 2\n"),
        "{err}"
    );
    assert!(
        err.contains("postfix/event_counter: event logout: 1\n"),
        "{err}"
    );
}

/// Started from a terminal without -d, a daemon refuses, on stderr too.
#[test]
fn refuses_to_run_by_hand() {
    let pool = Pool::new("");
    let pty = nix::pty::openpty(None, None).unwrap();
    let child = pool.start_with_stdin(
        "skeleton_probe",
        &["-l", "-t", "unix-dgram"],
        &[],
        pty.slave,
    );
    let (code, err) = wait_exit(child, Duration::from_secs(5));
    assert_eq!(code, Some(1));
    assert!(
        err.contains("postfix/skeleton_probe: fatal: do not run this command by hand\n"),
        "{err}"
    );
    drop(pty.master);
}

/// BOUNCE_INIT: a DSN filter over inline:, static: and texthash: tables,
/// and a table that cannot be opened reports errors instead of ending the
/// process.
#[test]
fn bounce_init_dsn_filter_tables() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("dsn");
    std::fs::write(
        &table,
        "5.7.1 relay denied   5.7.1 Relaying is not allowed here\n",
    )
    .unwrap();
    let maps = format!(
        "inline:{{ {{5.1.1 user unknown = 5.1.1 No such mailbox}} }}, texthash:{}, texthash:/nonexistent/table, static:{{5.0.0 catch-all}}",
        table.display()
    );
    let mut pool = Pool::new(&format!("probe_dsn_filter = {maps}\n"));
    let child = pool.start(
        &["-V", "-t", "unix-dgram", "-n", "probe", "-l", "-d"],
        &[("PROBE_OPTS", "bounce_init")],
    );
    for d in [
        "dsn 5.1.1 User unknown",
        "dsn 5.7.1 relay denied",
        "dsn 5.2.2 mailbox full",
    ] {
        pool.send(d.as_bytes());
    }
    // The process kept running after the broken table's lookup error.
    assert_pairs(&pool.records(Duration::from_millis(1500)));
    pool.master_end = None;
    let (code, err) = wait_exit(child, Duration::from_secs(3));
    assert_eq!(code, Some(0));
    let log = pool.log();
    assert!(
        log.contains(
            r#"dsn -> Some(Dsn { status: "5.1.1", action: "failed", reason: "No such mailbox" })"#
        ),
        "{log}"
    );
    // texthash keys end at white space, so this table never matches a
    // "status reason" key; the broken table after it ends the search with
    // an error, so the catch-all is not reached.
    assert_eq!(log.matches("dsn -> None").count(), 2, "{log}");
    assert!(err.contains("warning: texthash:/nonexistent/table is unavailable. open /nonexistent/table: No such file or directory"), "{err}");
    assert!(
        err.contains(
            "warning: texthash:/nonexistent/table lookup error for \"5.2.2 mailbox full\""
        ),
        "{err}"
    );
}

#[test]
fn bounce_init_open_error_fatal_when_configured() {
    let pool = Pool::new(
        "probe_dsn_filter = texthash:/nonexistent/table\ndaemon_table_open_error_is_fatal = yes\n",
    );
    let child = pool.start(
        &["-V", "-t", "unix-dgram", "-n", "probe", "-l", "-d"],
        &[("PROBE_OPTS", "bounce_init")],
    );
    let (code, err) = wait_exit(child, Duration::from_secs(5));
    assert_eq!(code, Some(1));
    assert!(
        err.contains(
            "fatal: texthash:/nonexistent/table: open /nonexistent/table: No such file or directory"
        ),
        "{err}"
    );
}

/// Datagrams that queued up while no process ran are handled as one batch:
/// one TAKEN/AVAIL pair for all of them, each still counted as a use.
#[test]
fn queued_datagrams_are_drained_in_one_batch() {
    let mut pool = Pool::new("");
    for i in 0..5 {
        pool.send(format!("q{i}").as_bytes());
    }
    let child = pool.start(
        &["-t", "unix-dgram", "-n", "probe", "-l", "-d", "-m", "5"],
        &[],
    );
    let (code, _) = wait_exit(child, Duration::from_secs(5));
    assert_eq!(code, Some(0), "exits after five uses");
    let recs = pool.records(Duration::from_millis(200));
    assert_eq!(recs.len(), 2, "{recs:?}");
    assert_pairs(&recs);
    let log = pool.log();
    assert_eq!(log.matches("got 2 q").count(), 5, "{log}");
    assert_eq!(log.matches("pre_accept").count(), 1, "one wake-up");
}

/// A process that runs alone reports its first spell (a master takes a
/// child that never said AVAIL for a broken command), then goes quiet: a
/// record now and then costs the master nothing.  Load is reported: TAKEN
/// while it lasts, AVAIL once it is over.
#[test]
fn a_solitary_process_reports_its_first_spell_and_load_only() {
    let mut pool = Pool::new("max_use = 100000\n");
    let child = pool.start(&["-t", "unix-dgram", "-n", "probe", "-l", "-d"], &[]);
    let pid = child.id() as i32;
    let rec = |avail| MasterStatus {
        pid,
        generation: 0o17,
        avail,
    };
    pool.send(b"first");
    let recs = pool.records(Duration::from_millis(500));
    assert_eq!(recs, vec![rec(MASTER_STAT_TAKEN), rec(MASTER_STAT_AVAIL)]);
    for i in 0..5 {
        pool.send(format!("now and then {i}").as_bytes());
        std::thread::sleep(Duration::from_millis(50));
    }
    let recs = pool.records(Duration::from_millis(300));
    assert_eq!(recs, vec![], "records now and then are not reported");
    // Load: a blocking sender that keeps the queue full.
    let sender = UnixDatagram::unbound().unwrap();
    sender
        .connect(pool.log_path().join("queue/public/probe"))
        .unwrap();
    for i in 0..3000 {
        sender.send(format!("load {i}").as_bytes()).unwrap();
    }
    let recs = pool.records(Duration::from_millis(1000));
    assert!(!recs.is_empty(), "load is reported");
    assert_pairs(&recs);
    assert_eq!(recs.last(), Some(&rec(MASTER_STAT_AVAIL)), "{recs:?}");
    let log = pool.log();
    assert_eq!(log.matches(" now and then ").count(), 5, "{log}");
    assert_eq!(log.matches(" load ").count(), 3000);
    pool.master_end = None;
    let (code, _) = wait_exit(child, Duration::from_secs(3));
    assert_eq!(code, Some(0));
}

/// Postfix 3.11's socket form (issue 24.4): the handler gets the socket
/// and reads it itself; TAKEN and AVAIL around each call, as Postfix's.
#[test]
fn socket_form_hands_the_socket_to_the_handler() {
    let mut pool = Pool::new("");
    let child = pool.start(
        &["-t", "unix-dgram", "-n", "probe", "-l", "-d", "-V"],
        &[("PROBE_OPTS", "socket_form")],
    );
    let pid = child.id() as i32;
    pool.send(b"alpha");
    let recs = pool.records(Duration::from_millis(1000));
    pool.send(b"beta");
    let more = pool.records(Duration::from_millis(1000));
    let pair: Vec<MasterStatus> = [MASTER_STAT_TAKEN, MASTER_STAT_AVAIL]
        .iter()
        .map(|&avail| MasterStatus {
            pid,
            generation: 0o17,
            avail,
        })
        .collect();
    assert_eq!(recs, pair);
    assert_eq!(more, pair);
    let log = pool.log();
    assert!(
        log.contains("socket got 5 alpha") && log.contains("socket got 4 beta"),
        "{log}"
    );
    pool.master_end = None;
    let (code, _) = wait_exit(child, Duration::from_secs(3));
    assert_eq!(code, Some(0));
}

/// The sender's kernel-attested credentials, as an opt-in (issue 24.4):
/// the pid, uid and gid of the process that sent each datagram.
#[test]
fn credentials_name_the_sending_process() {
    let pool = Pool::new("");
    let child = pool.start(
        &["-t", "unix-dgram", "-n", "probe", "-l", "-d", "-V"],
        &[("PROBE_OPTS", "credentials")],
    );
    // The first datagram may have been queued before the process set
    // SO_PASSCRED (as the one that makes a master start it): unattested.
    pool.send(b"first");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !pool.log().contains("got 5 first") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!pool.log().contains("from pid=0 "), "{}", pool.log());
    pool.send(b"who");
    let me = format!(
        "from pid={} uid={} gid={}",
        std::process::id(),
        nix::unistd::getuid(),
        nix::unistd::getgid()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !pool.log().contains(&me) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(pool.log().contains(&me), "{}", pool.log());
    drop(child);
}
