//! Bad input, end to end: hostile datagrams to postlogd, garbage on the
//! status channel, malformed configuration files.  Each has a defined,
//! tested outcome: no panic, no forged line, no lost neighbour record.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::instance::{Instance, POSTLOG};

/// Each bad datagram, followed by a good neighbour, becomes exactly the
/// expected line, and the neighbour its own line after it.
#[test]
fn hostile_datagrams_each_become_one_line() {
    let mut i = Instance::new(POSTLOG, "");
    i.start();
    let big = |n: usize| vec![b'a'; n];
    let cases: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        ("empty", vec![], vec![]),
        ("4096 bytes", big(4096), big(4096)),
        ("4097 bytes: cut at 4096", big(4097), big(4096)),
        ("65000 bytes: cut at 4096", big(65000), big(4096)),
        ("NUL bytes", b"a\0b\0".to_vec(), b"a?b?".to_vec()),
        (
            "invalid UTF-8 passes as bytes",
            b"bad \xff\xfe\x80 utf8 \xc3".to_vec(),
            b"bad \xff\xfe\x80 utf8 \xc3".to_vec(),
        ),
        (
            "embedded newline",
            b"one\nNov 24 10:00:00 host root[1]: forged".to_vec(),
            b"one?Nov 24 10:00:00 host root[1]: forged".to_vec(),
        ),
        (
            "terminal escapes and CR",
            b"\x1b[31mred\x1b[0m\r\x7f".to_vec(),
            b"?[31mred?[0m??".to_vec(),
        ),
        ("a trailing newline", b"text\n".to_vec(), b"text?".to_vec()),
    ];
    let c = std::os::unix::net::UnixDatagram::unbound().unwrap();
    for (n, (_, data, _)) in cases.iter().enumerate() {
        c.send_to(data, i.postlog_socket()).unwrap();
        c.send_to(
            format!("Nov 24 10:00:00 host neighbour[1]: after {n}").as_bytes(),
            i.postlog_socket(),
        )
        .unwrap();
    }
    let last = format!("neighbour[1]: after {}", cases.len() - 1);
    i.wait_for(
        |i| String::from_utf8_lossy(&log_bytes(i)).contains(&last),
        "the last neighbour",
    );
    let log = log_bytes(&i);
    let lines: Vec<&[u8]> = log
        .split(|b| *b == b'\n')
        .filter(|l| !l.windows(14).any(|w| w == b"postfix/master"))
        .collect();
    // The lines from the first case on, without the master's own.
    let start = lines
        .iter()
        .position(|l| l.is_empty())
        .expect("the empty datagram's line");
    let mut got = lines[start..].iter();
    for (n, (what, _, expected)) in cases.iter().enumerate() {
        let line = got.next().unwrap_or_else(|| panic!("{what}: no line"));
        assert_eq!(
            String::from_utf8_lossy(line),
            String::from_utf8_lossy(expected),
            "{what}"
        );
        assert_eq!(*line, &expected[..], "{what}: bytes");
        let neighbour = got.next().unwrap_or_else(|| panic!("{what}: no neighbour"));
        assert_eq!(
            String::from_utf8_lossy(neighbour),
            format!("Nov 24 10:00:00 host neighbour[1]: after {n}"),
            "the record after {what}"
        );
    }
    assert_eq!(i.children_named("postlogd").len(), 1, "postlogd still runs");
}

fn log_bytes(i: &Instance) -> Vec<u8> {
    std::fs::read(i.path().join("maillog")).unwrap_or_default()
}

/// A child that writes garbage to its status channel before it starts
/// working: short, long, unknown pid, unknown status, wrong generation.
/// The master warns as Postfix does and its counts stay right.
#[test]
fn garbage_on_the_status_channel_is_ignored() {
    let mut i = Instance::new(
        &format!("{POSTLOG}probe unix-dgram n n n - 1 garbage\n"),
        "",
    );
    let script = i.path().join("libexec/garbage");
    std::fs::write(
        &script,
        format!(
            r#"#!/usr/bin/perl
# Garbage on fd 5, then the probe in this same process (same pid).
BEGIN {{ $^F = 10 }}
open(my $st, ">&=", 5) or die "fd 5: $!";
my $gen = oct($ENV{{GENERATION}});
syswrite($st, "xyz");
syswrite($st, "x" x 40);
syswrite($st, pack("lLl", 1, $gen, 0));
syswrite($st, pack("lLl", $$, $gen, 7));
syswrite($st, pack("lLl", $$, $gen + 1, 0));
exec {{ "{}" }} "skeleton_probe", @ARGV or die "exec: $!";
"#,
            common::instance::examples_dir()
                .join("skeleton_probe")
                .display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    i.start();
    i.send("probe", b"works");
    i.wait_for(|i| i.probe_log().contains("got 5 works"), "the probe");
    let pid = i.probe_pids()[0];
    i.wait_for(
        |i| i.service("probe").counts() == (1, 1, 0, 1, 1, 0),
        "one idle child, counted right",
    );
    let log = i.log();
    for expected in [
        "warning: service probe(public/probe): child (pid ?) sent partial status update (3 bytes)"
            .to_string(),
        format!(
            "warning: service probe(public/probe): child (pid {}) sent partial status update (40 bytes)",
            i32::from_ne_bytes(*b"xxxx")
        ),
        format!(
            "warning: master_status_event: ignoring unknown status: {pid} allegedly from pid: 7"
        ),
        format!("ignoring status update from child pid {pid} generation "),
    ] {
        assert!(log.contains(&expected), "{expected}\n{log}");
    }
}

/// Malformed configuration stops `postkit start` with the file and line.
#[test]
fn malformed_configuration_names_file_and_line() {
    let i = Instance::new(
        &format!("{POSTLOG}bad unix-dgram n - n - nonsense skeleton_probe\n"),
        "",
    );
    let (code, _, err) = i.ctl("start");
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "{}/master.cf: line 2: field \"max_proc\": bad value: \"nonsense\"",
            i.path().display()
        )),
        "{err}"
    );
    std::fs::write(i.path().join("master.cf"), POSTLOG).unwrap();
    let main_cf = std::fs::read_to_string(i.path().join("main.cf")).unwrap();
    std::fs::write(
        i.path().join("main.cf"),
        format!("{main_cf}this is not a parameter\n"),
    )
    .unwrap();
    let (code, _, err) = i.ctl("start");
    assert_eq!(code, 1, "{err}");
    let line = main_cf.lines().count() + 1;
    assert!(
        err.contains(&format!(
            "{}/main.cf, line {line}: missing '=' after attribute name: \"this is not a parameter\"",
            i.path().display()
        )),
        "{err}"
    );
    // Values out of range or malformed: Postfix's own texts.
    for (setting, text) in [
        ("max_idle = 0", "invalid max_idle: 0 (min 1)"),
        ("max_use = 0", "invalid max_use parameter value 0 < 1"),
        ("max_use = 1x", "bad numerical configuration: max_use = 1x"),
        (
            "max_idle = 1fortnight",
            "parameter max_idle: bad time value or unit: 1fortnight",
        ),
        ("max_idle = $max_idle", "unreasonable macro call nesting"),
    ] {
        std::fs::write(i.path().join("main.cf"), format!("{main_cf}{setting}\n")).unwrap();
        let (code, _, err) = i.ctl("start");
        assert_eq!(code, 1, "{setting}: {err}");
        assert!(err.contains(text), "{setting}: {err}");
    }
}

/// Issue 14.9: a main.cf whose expansion doubles at every step
/// (`e_i = $e_{i+1}$e_{i+1}`, 40 deep: 2^40 bytes) is refused with the file
/// and line by `check`, and a reload that meets it leaves the running
/// master serving its old configuration.
#[test]
fn runaway_expansion_is_refused_and_a_reload_keeps_serving() {
    let mut i = Instance::new(POSTLOG, "");
    i.start();
    // postlogd running before main.cf goes bad (a postlogd started after
    // it would read the bad main.cf itself, as Postfix's daemons do).
    i.send("postlog", b"postlogd is up");
    i.wait_for(|i| i.log().contains("postlogd is up"), "postlogd");
    let main_cf = i.path().join("main.cf");
    let mut text = std::fs::read_to_string(&main_cf).unwrap();
    for n in 0..40 {
        text.push_str(&format!("e{n} = $e{m}$e{m}\n", m = n + 1));
    }
    text.push_str("e40 = x\nmail_name = $e0\n");
    let line = text.lines().count();
    std::fs::write(&main_cf, &text).unwrap();
    common::make_cold(&main_cf);
    let (code, _, err) = i.ctl("check");
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "{}, line {line}: parameter mail_name: expansion exceeds",
            main_cf.display()
        )),
        "{err}"
    );
    // The master itself: reload (as a signal, as an operator's script
    // would send it) must not hang it.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i.master_pid()),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    i.wait_for(
        |i| i.log().contains("keeping the running configuration"),
        "the master's refusal of the new main.cf",
    );
    i.send("postlog", b"still serving after the bad reload");
    i.wait_for(
        |i| i.log().contains("still serving after the bad reload"),
        "the old configuration serving",
    );
    let (code, _, err) = i.ctl("status");
    assert_eq!(code, 0, "{err}");
}

/// CPU seconds a process has used (user and system), from /proc.
fn cpu_seconds(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// Issue 14.5: more services than descriptors.  `postkit start` must not
/// say "running" with some services unbound: it fails, with the reason on
/// the terminal and in the log.
#[test]
fn start_with_too_few_descriptors_for_its_services_fails_with_the_reason() {
    let mut master_cf = String::from(POSTLOG);
    for n in 0..60 {
        master_cf.push_str(&format!("svc{n} unix-dgram n n n - 1 skeleton_probe\n"));
    }
    let i = Instance::new(&master_cf, "");
    let (code, _, err) = i.ctl_with(&["prlimit", "--nofile=48:48", "--"], "start");
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("Too many open files"), "{err}");
    assert!(!err.contains("is running"), "{err}");
    assert!(
        i.log().contains("Too many open files"),
        "the reason is in the log too: {}",
        common::instance::tail(&i.log())
    );
}

/// Issue 14.5: control clients that stay connected until the master runs
/// out of descriptors: it must not spin on accept(), and it keeps serving.
#[test]
fn idle_control_clients_past_the_descriptor_limit_do_not_make_the_master_spin() {
    let mut i = Instance::new(POSTLOG, "");
    i.start_with(&["prlimit", "--nofile=32:32", "--"]);
    let master = i.master_pid();
    let control = i.path().join("queue/pid/master.control");
    let clients: Vec<_> = (0..40)
        .filter_map(|_| std::os::unix::net::UnixStream::connect(&control).ok())
        .collect();
    let before = cpu_seconds(master);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let used = cpu_seconds(master) - before;
    assert!(
        used < 0.5,
        "the master used {used:.2} s of CPU in 2 s with {} idle clients",
        clients.len()
    );
    drop(clients);
    let (code, _, err) = i.ctl("status");
    assert_eq!(code, 0, "{err}");
}
