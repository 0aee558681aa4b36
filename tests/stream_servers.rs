//! The stream skeletons under postkit's master (issue 24): the example
//! `line_echo` on `single_server` as an `inet` service and as a `pass`
//! service (a test client hands it a connected descriptor and its
//! attributes, as postscreen hands clients to `smtpd pass`), and the
//! example `policy_service` on `multi_server` serving two clients at once
//! from one process.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

use common::instance::Instance;

fn lines(stream: &mut impl std::io::Read) -> impl FnMut() -> String + '_ {
    let mut r = BufReader::new(stream);
    move || {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        l.trim_end().to_string()
    }
}

/// Hands a `pass` service one end of a fresh connection, as postscreen
/// hands a client to `smtpd pass`: the descriptor, then `attrs` in
/// Postfix's base64 form, on a connection to `path`.  The service talks to
/// the other end, which is returned.
fn pass_client(path: &std::path::Path, attrs: &[(&str, &str)]) -> UnixStream {
    let (ours, theirs) = UnixStream::pair().unwrap();
    ours.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let passer = UnixStream::connect(path).unwrap();
    nix::sys::socket::sendmsg::<()>(
        passer.as_raw_fd(),
        &[std::io::IoSlice::new(b"\0")],
        &[nix::sys::socket::ControlMessage::ScmRights(&[
            theirs.as_raw_fd()
        ])],
        nix::sys::socket::MsgFlags::empty(),
        None,
    )
    .unwrap();
    let mut text = Vec::new();
    postkit::attr::print64(&mut text, attrs);
    (&passer).write_all(&text).unwrap();
    ours
}

#[test]
fn single_server_serves_inet_and_pass_clients() {
    let port = common::free_port();
    let mut i = Instance::new(
        &format!(
            "postlog unix-dgram n - n - 1 postlogd\n\
             127.0.0.1:{port} inet n - n - 2 line_echo\n\
             echopass pass n - n - 2 line_echo -o line_echo_greeting=welcome\n"
        ),
        "",
    );
    i.start();

    // inet: a TCP client.
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut w = tcp.try_clone().unwrap();
    let mut next = lines(&mut tcp);
    assert_eq!(next(), format!("hello stranger (127.0.0.1:{port})"));
    writeln!(w, "abc").unwrap();
    assert_eq!(next(), "echo: abc");
    writeln!(w, "quit").unwrap();
    assert_eq!(next(), "bye");
    assert_eq!(next(), "", "closed after quit");

    // pass: the descriptor of one end of a connection, then its
    // attributes in Postfix's base64 form, on a connection to the pass
    // socket; the service talks to the other end.
    let mut ours = pass_client(
        &i.path().join("queue/public/echopass"),
        &[("client_address", "192.0.2.7"), ("client_port", "4711")],
    );
    let mut w = ours.try_clone().unwrap();
    let mut next = lines(&mut ours);
    assert_eq!(next(), "welcome 192.0.2.7 (echopass)");
    writeln!(w, "over pass").unwrap();
    assert_eq!(next(), "echo: over pass");
    writeln!(w, "quit").unwrap();
    assert_eq!(next(), "bye");

    let inet = i.service(&format!("127.0.0.1:{port}"));
    assert_eq!(inet.spawns, 1, "{inet:?}");
    let (code, _, err) = i.ctl("stop");
    assert_eq!(code, 0, "{err}");
}

#[test]
fn multi_server_serves_many_clients_from_one_process() {
    let mut i = Instance::new(
        "postlog unix-dgram n - n - 1 postlogd\n\
         policy unix n - n - 1 policy_service -o policy_service_blocked_recipients=x@y\n",
        "",
    );
    i.start();
    let path = i.path().join("queue/public/policy");
    let request = |to: &str| {
        format!("request=smtpd_access_policy\nprotocol_state=RCPT\nsender=a@b\nrecipient={to}\n\n")
    };
    // Two clients open at once, each with two requests: one process
    // (limit 1) answers all of them, in turn.
    let mut a = UnixStream::connect(&path).unwrap();
    let mut b = UnixStream::connect(&path).unwrap();
    for s in [&a, &b] {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    let answer = |s: &mut UnixStream, to: &str| {
        s.write_all(request(to).as_bytes()).unwrap();
        let mut got = Vec::new();
        let mut byte = [0u8; 1];
        while !got.ends_with(b"\n\n") {
            assert_eq!(std::io::Read::read(s, &mut byte).unwrap(), 1, "{got:?}");
            got.push(byte[0]);
        }
        String::from_utf8(got).unwrap()
    };
    assert_eq!(
        answer(&mut a, "x@y"),
        "action=REJECT 5.7.1 blocked by policy\n\n"
    );
    assert_eq!(answer(&mut b, "ok@y"), "action=DUNNO\n\n");
    assert_eq!(answer(&mut a, "ok@y"), "action=DUNNO\n\n");
    assert_eq!(
        answer(&mut b, "X@Y"),
        "action=REJECT 5.7.1 blocked by policy\n\n"
    );
    let s = i.service("policy");
    assert_eq!((s.spawns, s.processes), (1, 1), "{s:?}");
    drop(a);
    drop(b);
    let (code, _, err) = i.ctl("stop");
    assert_eq!(code, 0, "{err}");
}

/// trigger_server: the master's timer wakes the example on its fifo (the
/// `wakeup` field) and on its unix socket, and a client wakes it at once
/// with `postkit::trigger`; each wake-up is one TAKEN/AVAIL turn.
#[test]
fn trigger_server_is_woken_by_the_timer_and_by_clients() {
    let mut i = Instance::new(
        "postlog unix-dgram n - n - 1 postlogd\n\
         tick fifo n - n 1 1 wakeup_log\n\
         kick unix n - n - 1 wakeup_log\n",
        "",
    );
    i.start();
    i.wait_for(
        |i| i.log().matches("postfix/wakeup_log[").count() >= 2,
        "two timer wake-ups",
    );
    assert!(i.log().contains("wake-up 1: \"W\""), "{}", i.log());
    postkit::trigger::fifo_trigger(&i.path().join("queue/public/tick"), b"hello").unwrap();
    i.wait_for(|i| i.log().contains(": \"hello\""), "the fifo trigger");
    postkit::trigger::unix_trigger(&i.path().join("queue/public/kick"), b"kick").unwrap();
    // (unix_trigger ends its data with a null byte, as Postfix's.)
    i.wait_for(|i| i.log().contains(r#": "kick\u{0}""#), "the unix trigger");
    let tick = i.service("tick");
    assert_eq!(tick.spawns, 1, "{tick:?}");
    let (code, _, err) = i.ctl("stop");
    assert_eq!(code, 0, "{err}");
}

/// event_server: clients outlive a request; one process keeps two of
/// them, greets each once, and answers their lines in any order.
#[test]
fn event_server_keeps_clients_between_requests() {
    let mut i = Instance::new(
        "postlog unix-dgram n - n - 1 postlogd\n\
         count unix n - n - 1 line_count\n",
        "",
    );
    i.start();
    let path = i.path().join("queue/public/count");
    let open = || {
        let s = UnixStream::connect(&path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let r = BufReader::new(s.try_clone().unwrap());
        (s, r)
    };
    let line = |r: &mut BufReader<UnixStream>| {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        l.trim_end().to_string()
    };
    let (mut a, mut ra) = open();
    assert_eq!(line(&mut ra), "ready");
    let (mut b, mut rb) = open();
    assert_eq!(line(&mut rb), "ready");
    writeln!(a, "x").unwrap();
    assert_eq!(line(&mut ra), "1");
    writeln!(b, "y").unwrap();
    assert_eq!(line(&mut rb), "2");
    writeln!(a, "z").unwrap();
    assert_eq!(line(&mut ra), "3");
    drop((a, ra));
    writeln!(b, "w").unwrap();
    assert_eq!(line(&mut rb), "4");
    let s = i.service("count");
    assert_eq!((s.spawns, s.processes), (1, 1), "{s:?}");
    drop((b, rb));
    let (code, _, err) = i.ctl("stop");
    assert_eq!(code, 0, "{err}");
}

/// `postkit check` asks each postkit service for its parameters (issue
/// 24.5): a bad `-o` value is caught before start with the service's own
/// text and its master.cf line; a declared parameter set with `-o` is not
/// "unused", an undeclared one still is.
#[test]
fn check_knows_the_parameters_services_declare() {
    let i = Instance::new(
        "postlog unix-dgram n - n - 1 postlogd\n\
         policy unix - n n - 0 policy_service -o policy_service_blocked_recipients=a@b\n\
         count unix - n n - 1 line_count -o line_count_nonsense=1\n\
         echo unix - n n - 2 line_echo -o line_echo_greeting=hi -o max_idle=5x\n",
        "",
    );
    let (code, out, err) = i.ctl("check");
    let text = format!("{out}{err}");
    assert_eq!(code, 1, "{text}");
    let master_cf = i.path().join("master.cf");
    assert!(
        text.contains(&format!(
            "{}: line 4: service echo: parameter max_idle: bad time value or unit: 5x",
            master_cf.display()
        )),
        "{text}"
    );
    assert!(
        text.contains("unused parameter: line_count_nonsense=1"),
        "{text}"
    );
    assert!(
        !text.contains("unused parameter: policy_service_blocked"),
        "{text}"
    );
    // Corrected: in order, but for the one misspelling.
    i.edit_master_cf("max_idle=5x", "max_idle=5s");
    let (code, out, err) = i.ctl("check");
    let text = format!("{out}{err}");
    assert_eq!(code, 0, "{text}");
    // (The test instance's main.cf has one of its own: probe_log.)
    assert!(
        text.contains("in order but for 2 unused parameter(s) above"),
        "{text}"
    );
    assert!(!text.contains("line_echo_greeting"), "{text}");
    // Nothing was started or logged by asking.
    assert!(!i.log().contains("line_echo"), "{}", i.log());
}

/// A service under the fake master on a unix listener, run twice, in a
/// pool and alone (-l): `exercise(socket, probe_log)` gives it three
/// pieces of work one after the other, of which the master must hear a
/// TAKEN/AVAIL pair each in a pool (as from Postfix's skeletons: the
/// master needs them to start more processes) and for the first only
/// alone (no second process can be started, and each report wakes the
/// master).  `then(pool, socket, probe_log)` goes on in the pool case.
fn reports_each_in_a_pool_and_the_first_alone(
    start: impl Fn(&common::fake_master::Pool, &UnixListener, &[&str]) -> common::fake_master::Child,
    mut exercise: impl FnMut(&std::path::Path, &std::path::Path),
    mut then: impl FnMut(&mut common::fake_master::Pool, &std::path::Path, &std::path::Path),
) {
    use postkit::server::master_proto::{MASTER_STAT_AVAIL, MASTER_STAT_TAKEN};
    let pair = [MASTER_STAT_TAKEN, MASTER_STAT_AVAIL];
    for alone in [false, true] {
        let mut pool = common::fake_master::Pool::new("");
        let log = pool.dir.path().join("probe.log");
        let sock = pool.dir.path().join("queue/public/svc");
        let listener = UnixListener::bind(&sock).unwrap();
        let mut args = vec!["-t", "unix", "-n", "svc"];
        if alone {
            args.push("-l");
        }
        let mut child = start(&pool, &listener, &args);
        exercise(&sock, &log);
        let recs = pool.avails(Duration::from_millis(500));
        if alone {
            assert_eq!(recs, pair, "alone: the first only");
        } else {
            assert_eq!(recs, pair.repeat(3), "a pool: every one");
            then(&mut pool, &sock, &log);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// multi_server reports per wake-up (here, a request).
#[test]
fn multi_server_reports_per_wake_up_and_goes_quiet_alone() {
    reports_each_in_a_pool_and_the_first_alone(
        |pool, listener, args| {
            pool.start_on(
                "policy_service",
                args,
                &[],
                std::os::fd::AsFd::as_fd(listener),
            )
        },
        |sock, _| {
            let (mut c, mut r) = connect(sock);
            for n in 0..3 {
                write!(c, "request=smtpd_access_policy\nrecipient=r{n}@x\n\n").unwrap();
                assert_eq!(read_line(&mut r), "action=DUNNO");
                assert_eq!(read_line(&mut r), "");
            }
        },
        |_, _, _| {},
    );
}

/// event_server reports around the new clients of a wake-up (as Postfix's
/// around each connect), and not for their requests (the service manages
/// those, as in Postfix).
#[test]
fn event_server_reports_new_clients_and_goes_quiet_alone() {
    reports_each_in_a_pool_and_the_first_alone(
        |pool, listener, args| stream_probe(pool, listener, "event", "", args),
        |sock, _| {
            for n in 0..3 {
                let (mut c, mut r) = connect(sock);
                assert!(read_line(&mut r).starts_with("ready "));
                for k in 0..2 {
                    writeln!(c, "r{n}.{k}").unwrap();
                    assert!(read_line(&mut r).ends_with(&format!(": r{n}.{k}")));
                }
            }
        },
        |_, _, _| {},
    );
}

/// trigger_server reports per trigger (alone, as pickup and qmgr run,
/// only the first); and triggers that wait while the process is busy are
/// taken in the same busy spell, with no AVAIL and TAKEN in between.
#[test]
fn trigger_server_reports_per_trigger_takes_waiting_ones_and_goes_quiet_alone() {
    let notes = |log: &std::path::Path, what: &str| {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .matches(what)
            .count()
    };
    reports_each_in_a_pool_and_the_first_alone(
        |pool, listener, args| stream_probe(pool, listener, "trigger", "", args),
        |sock, log| {
            for n in 0..3 {
                postkit::trigger::unix_trigger(sock, format!("t{n}").as_bytes()).unwrap();
                wait_for("the trigger", || notes(log, &format!(": t{n}\n")) == 1);
            }
        },
        |pool, sock, log| {
            // Three triggers wait while the process handles a blocking one.
            postkit::trigger::unix_trigger(sock, b"block").unwrap();
            wait_for("the blocking trigger", || notes(log, "blocking pid=") == 1);
            for n in 0..3 {
                postkit::trigger::unix_trigger(sock, format!("w{n}").as_bytes()).unwrap();
            }
            std::fs::write(format!("{}.release", log.display()), "").unwrap();
            wait_for("the waiting triggers", || notes(log, ": w2\n") == 1);
            use postkit::server::master_proto::{MASTER_STAT_AVAIL, MASTER_STAT_TAKEN};
            let recs = pool.avails(Duration::from_millis(500));
            assert_eq!(
                recs,
                [MASTER_STAT_TAKEN, MASTER_STAT_AVAIL],
                "one busy spell for the four"
            );
        },
    );
}

/// A stream_probe child under the fake master, on a unix listener of the
/// test's.
fn stream_probe(
    pool: &common::fake_master::Pool,
    listener: &std::os::unix::net::UnixListener,
    skeleton: &str,
    opts: &str,
    args: &[&str],
) -> common::fake_master::Child {
    pool.start_on(
        "stream_probe",
        args,
        &[("PROBE_SKELETON", skeleton), ("PROBE_OPTS", opts)],
        std::os::fd::AsFd::as_fd(listener),
    )
}

fn connect(path: &std::path::Path) -> (UnixStream, BufReader<UnixStream>) {
    let c = UnixStream::connect(path).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let r = BufReader::new(c.try_clone().unwrap());
    (c, r)
}

fn read_line(r: &mut BufReader<UnixStream>) -> String {
    let mut l = String::new();
    r.read_line(&mut l).unwrap();
    l.trim_end().to_string()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(std::time::Instant::now() < until, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// event_server's slow exit: when the master goes away (a reload), the
/// service's slow_exit hook drains: the process the master started exits
/// at once (status 0), and a child of it finishes the connected client,
/// takes no new one, and exits with the exit hook after the last client.
#[test]
fn event_server_drains_in_the_background_when_the_master_goes() {
    let mut pool = common::fake_master::Pool::new("");
    let sock = pool.dir.path().join("queue/public/probe-stream");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let mut child = stream_probe(&pool, &listener, "event", "slow_exit", &["-t", "unix"]);
    let started = child.id();
    let (mut a, mut ra) = connect(&sock);
    assert_eq!(read_line(&mut ra), format!("ready {started}"));
    writeln!(a, "one").unwrap();
    assert_eq!(read_line(&mut ra), format!("pid {started}: one"));

    // The master goes: its end of the status channel closes.
    drop(pool.master_end.take());
    let mut status = None;
    wait_for("the started process exits", || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    assert_eq!(status.unwrap().code(), Some(0));
    assert!(
        pool.log().contains(&format!("slow_exit pid={started}")),
        "{}",
        pool.log()
    );

    // The client is still served, by another process.
    writeln!(a, "two").unwrap();
    let answer = read_line(&mut ra);
    let drained: u32 = answer
        .strip_prefix("pid ")
        .and_then(|r| r.strip_suffix(": two"))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{answer:?}"));
    assert_ne!(drained, started);

    // A new client is not taken (the listener is the test's, so the
    // connection is queued, but nobody greets it).
    let (_b, mut rb) = connect(&sock);
    rb.get_ref()
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut l = String::new();
    assert!(rb.read_line(&mut l).is_err(), "greeted: {l:?}");

    // The last client goes: the drained process exits, with its exit hook.
    drop(a);
    drop(ra);
    wait_for("the drained process exits", || {
        pool.log().contains(&format!("exit pid={drained}"))
    });
}

/// event_server takes no pool lock (as Postfix's): while one process is
/// busy with a client's request, another greets a new client.
#[test]
fn event_server_pool_members_take_clients_while_one_is_busy() {
    let pool = common::fake_master::Pool::new("");
    let sock = pool.dir.path().join("queue/public/probe-stream");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let mut p1 = stream_probe(&pool, &listener, "event", "", &["-t", "unix"]);
    let mut p2 = stream_probe(&pool, &listener, "event", "", &["-t", "unix"]);
    let (mut a, mut ra) = connect(&sock);
    let first = read_line(&mut ra);
    writeln!(a, "block").unwrap();
    // The busy process is inside the request.
    let busy = first.strip_prefix("ready ").unwrap().to_string();
    wait_for("the request is being handled", || {
        pool.log().contains(&format!("blocking pid={busy}"))
    });
    let (_b, mut rb) = connect(&sock);
    let second = read_line(&mut rb);
    assert!(second.starts_with("ready "), "{second:?}");
    assert_ne!(first, second, "the busy process cannot have greeted");
    std::fs::write(pool.dir.path().join("probe.log.release"), "").unwrap();
    assert_eq!(read_line(&mut ra), format!("pid {busy}: block"));
    for p in [&mut p1, &mut p2] {
        let _ = p.kill();
        let _ = p.wait();
    }
}

/// RETIRE_ME: with `-r 1` a single_server process exits (exit hook, status
/// 0) on its own when it next waits after a second; `-r 0` is Postfix's
/// fatal error.
#[test]
fn single_server_retires_after_r_seconds() {
    let pool = common::fake_master::Pool::new("");
    let sock = pool.dir.path().join("queue/public/probe-stream");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let child = stream_probe(
        &pool,
        &listener,
        "single",
        "retire_me",
        &["-t", "unix", "-r", "1"],
    );
    let (mut a, mut ra) = connect(&sock);
    writeln!(a, "hi").unwrap();
    assert_eq!(read_line(&mut ra), format!("pid {}: hi", child.id()));
    let pid = child.id();
    let (code, err) = common::fake_master::wait_exit(child, Duration::from_secs(20));
    assert_eq!(code, Some(0), "{err}");
    assert!(
        pool.log().contains(&format!("exit pid={pid}")),
        "{}",
        pool.log()
    );

    let child = stream_probe(
        &pool,
        &listener,
        "single",
        "retire_me",
        &["-t", "unix", "-r", "0"],
    );
    let (code, err) = common::fake_master::wait_exit(child, Duration::from_secs(20));
    assert_eq!(code, Some(1));
    assert!(err.contains("fatal: invalid retirement time: 0"), "{err}");
}

/// multi_server's POST_ACCEPT hook sees a `pass` client's attributes;
/// without the hook they are logged as ignored, as Postfix does.
#[test]
fn multi_server_post_accept_sees_pass_attributes() {
    for with_hook in [true, false] {
        let pool = common::fake_master::Pool::new("");
        let sock = pool.dir.path().join("queue/public/probe-pass");
        let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let opts = if with_hook { "post_accept" } else { "" };
        let child = stream_probe(&pool, &listener, "multi", opts, &["-t", "pass", "-V"]);
        let ours = pass_client(&sock, &[("client_address", "192.0.2.7")]);
        let mut w = ours.try_clone().unwrap();
        let mut r = BufReader::new(ours);
        writeln!(w, "x").unwrap();
        assert_eq!(read_line(&mut r), format!("pid {}: x", child.id()));
        let mut child = child;
        let _ = child.kill();
        let (_, err) = common::fake_master::wait_exit(child, Duration::from_secs(10));
        let warned = err.contains("warning: service ignores 'pass' connection attributes");
        if with_hook {
            assert!(
                pool.log().contains("post_accept client_address=192.0.2.7"),
                "{}",
                pool.log()
            );
            assert!(!warned, "{err}");
        } else {
            assert!(warned, "{err}");
        }
    }
}

/// ipc_timeout bounds a handler's reads and writes: a client that sends
/// nothing, or that stops reading while the service writes, costs the
/// process at most that long.
#[test]
fn a_silent_or_stuck_client_times_out() {
    let pool = common::fake_master::Pool::new("ipc_timeout = 1s\n");
    let sock = pool.dir.path().join("queue/public/probe-stream");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let mut child = stream_probe(&pool, &listener, "single", "", &["-t", "unix"]);
    // Silent: the read ends with a time-out.
    let (_silent, _) = connect(&sock);
    wait_for("the read times out", || {
        pool.log().contains("read error: TimedOut")
    });
    // Stuck: the write ends with a time-out.
    let (mut stuck, _r) = connect(&sock);
    writeln!(stuck, "flood").unwrap();
    wait_for("the write times out", || {
        pool.log().contains("flood: Err(TimedOut)")
    });
    // The process serves the next client.
    let (mut c, mut r) = connect(&sock);
    writeln!(c, "next").unwrap();
    assert_eq!(read_line(&mut r), format!("pid {}: next", child.id()));
    let _ = child.kill();
    let _ = child.wait();
}

/// A single_server process that finds clients waiting when it is done
/// with one takes the next at once (under the pool lock, taken without
/// waiting): one TAKEN and one AVAIL for the run, instead of a pair per
/// client that wakes the master twice each.
#[test]
fn single_server_takes_waiting_clients_in_one_busy_spell() {
    use postkit::server::master_proto::{MASTER_STAT_AVAIL, MASTER_STAT_TAKEN};
    let mut pool = common::fake_master::Pool::new("");
    let sock = pool.dir.path().join("queue/public/probe-stream");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    // Five clients queued before the process starts.
    let mut clients: Vec<_> = (0..5)
        .map(|n| {
            let (mut c, r) = connect(&sock);
            writeln!(c, "c{n}").unwrap();
            (c, r)
        })
        .collect();
    let mut child = stream_probe(&pool, &listener, "single", "", &["-t", "unix"]);
    for (n, (_, r)) in clients.iter_mut().enumerate() {
        assert_eq!(read_line(r), format!("pid {}: c{n}", child.id()));
    }
    let recs = pool.avails(Duration::from_millis(1500));
    assert_eq!(recs, [MASTER_STAT_TAKEN, MASTER_STAT_AVAIL]);
    // Idle again: the next client is a spell of its own.
    let (mut c, mut r) = connect(&sock);
    writeln!(c, "later").unwrap();
    assert_eq!(read_line(&mut r), format!("pid {}: later", child.id()));
    let recs = pool.avails(Duration::from_millis(1500));
    assert_eq!(recs, [MASTER_STAT_TAKEN, MASTER_STAT_AVAIL]);
    let _ = child.kill();
    let _ = child.wait();
}

/// `-S`: a stream skeleton serves one client on standard input and output,
/// without a master, and exits.
#[test]
fn stand_alone_serves_standard_input_and_output() {
    for skeleton in ["single", "multi"] {
        let pool = common::fake_master::Pool::new("");
        let out = std::process::Command::new(common::fake_master::example_exe("stream_probe"))
            .arg("-S")
            .env("MAIL_CONFIG", pool.dir.path())
            .env("PROBE_SKELETON", skeleton)
            .env_remove("POSTLOG_SERVICE")
            .stdin(
                std::fs::File::open({
                    let p = pool.dir.path().join("input");
                    std::fs::write(&p, "hello\n").unwrap();
                    p
                })
                .unwrap(),
            )
            .output()
            .unwrap();
        assert!(out.status.success(), "{skeleton}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.starts_with("pid ") && text.ends_with(": hello\n"),
            "{skeleton}: {text:?}"
        );
    }
}
