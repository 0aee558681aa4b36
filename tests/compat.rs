//! postkit and Debian's Postfix together, in both directions: postkit's
//! postlogd under Postfix's master, the same datagrams through both
//! postlogds, the same fatal messages from both for bad starts, and the same
//! bytes from both postlog clients.  Runs as root with Postfix installed (as
//! CI does); fails instead of skipping when POSTKIT_REQUIRE_POSTFIX=1.

mod common;

use postkit_kit::postfix::PostfixInstance;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ready(test: &str) -> bool {
    if !common::have_postfix(test) {
        return false;
    }
    if !nix::unistd::geteuid().is_root() {
        assert_ne!(
            std::env::var("POSTKIT_REQUIRE_POSTFIX").as_deref(),
            Ok("1"),
            "{test} needs root"
        );
    }
    common::needs_root(test)
}

/// A private Postfix instance (the one `postkit bench` uses), with
/// postkit's postlogd in its master.cf when `our_postlogd`.
fn postfix_instance(our_postlogd: bool) -> PostfixInstance {
    let ours = common::postkit();
    let mut p = PostfixInstance::new(our_postlogd.then_some(ours.as_path()), "").unwrap();
    p.start().unwrap();
    p
}

fn wait_log(p: &PostfixInstance, cond: impl Fn(&str) -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond(&p.log()) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; log:\n{}",
            p.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Datagrams as Postfix clients send them (printable, no newline), of
/// several sizes, up to and past the 4096-byte receive buffer.
fn corpus() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = vec![
        b"Nov 24 09:00:00 vm postfix/smtpd[100]: connect from localhost[127.0.0.1]".to_vec(),
        b"Nov 24 09:00:01 vm postfix/qmgr[101]: warning: something odd".to_vec(),
        b"Nov 24 09:00:02 vm test[102]: caf\xc3\xa9 UTF-8 text".to_vec(),
        Vec::new(),
        b"x".to_vec(),
    ];
    for len in [120, 1000, 4095, 4096, 4097, 6000] {
        let mut d = format!("Nov 24 09:00:03 vm size[{len}]: ").into_bytes();
        while d.len() < len {
            d.push(b'a' + (d.len() % 26) as u8);
        }
        v.push(d);
    }
    v
}

fn run_corpus(our_postlogd: bool) -> (String, Vec<String>) {
    let p = postfix_instance(our_postlogd);
    let corpus = corpus();
    for d in &corpus {
        p.send(d).unwrap();
    }
    p.send(b"END-OF-CORPUS").unwrap();
    wait_log(&p, |l| l.contains("END-OF-CORPUS\n"), "the corpus");
    let argv = p.postlogd_argv().unwrap_or_default();
    // Only the corpus: the master's own start-up lines carry pids and times.
    let log = p.log();
    let start = log
        .find("Nov 24 09:00:00 vm postfix/smtpd[100]")
        .expect("first corpus line");
    (log[start..].to_string(), argv)
}

#[test]
#[cfg_attr(postkit_unprivileged_build, ignore = "needs root")]
fn postkit_postlogd_under_postfix_master_writes_what_postfix_writes() {
    if !ready("postkit_postlogd_under_postfix_master_writes_what_postfix_writes") {
        return;
    }
    let (theirs, their_argv) = run_corpus(false);
    let (ours, our_argv) = run_corpus(true);
    assert_eq!(
        their_argv,
        [
            "postlogd",
            "-l",
            "-n",
            "postlog",
            "-t",
            "unix-dgram",
            "-d",
            "-u"
        ]
    );
    assert_eq!(
        our_argv, their_argv,
        "Postfix's master started postkit's postlogd the same way"
    );
    assert_eq!(ours.len(), theirs.len());
    assert!(ours == theirs, "the log files differ");
    // 4096 bytes at most per line, as Postfix 3.7.11 reads.
    assert!(theirs.lines().all(|l| l.len() <= 4096));
}

#[test]
#[cfg_attr(postkit_unprivileged_build, ignore = "needs root")]
fn both_postlog_clients_reach_postkit_postlogd_under_postfix_master() {
    if !ready("both_postlog_clients_reach_postkit_postlogd_under_postfix_master") {
        return;
    }
    let p = postfix_instance(true);
    let etc = p.etc();
    let theirs = Command::new("/usr/sbin/postlog")
        .arg("-c")
        .arg(&etc)
        .args(["-t", "theirs", "from", "postfix"])
        .output()
        .unwrap();
    assert!(theirs.status.success());
    let ours = Command::new(common::postkit())
        .arg("-c")
        .arg(&etc)
        .args(["postlog", "-t", "ours", "-p", "warn", "from postkit"])
        .output()
        .unwrap();
    assert!(ours.status.success());
    wait_log(
        &p,
        |l| l.contains("theirs[") && l.contains("ours["),
        "both records",
    );
    let log = p.log();
    assert!(
        log.lines()
            .any(|l| l.ends_with(": from postfix") && l.contains(" theirs[")),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.ends_with(": warning: from postkit") && l.contains(" ours[")),
        "{log}"
    );
}

/// A configuration whose log socket (`queue_directory/public/postlog`)
/// is bound by the test, so that every record a daemon logs, before and
/// after it reads main.cf, arrives here.  postkit's postlogd never logs
/// through the postlog socket (it is its own): its records go to syslog
/// (`POSTKIT_SYSLOG_SOCKET`, bound here too) until main.cf is read, then
/// straight into maillog_file; the capture reads all three.
struct LogCapture {
    dir: tempfile::TempDir,
    sock: UnixDatagram,
    syslog: UnixDatagram,
}

impl LogCapture {
    fn new() -> LogCapture {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("queue/public")).unwrap();
        std::fs::create_dir_all(d.join("queue/pid")).unwrap();
        std::fs::write(
            d.join("main.cf"),
            format!(
                "compatibility_level = 3.6\nqueue_directory = {d}/queue\nmaillog_file = {d}/maillog\nmaillog_file_prefixes = {d}\n",
                d = d.display()
            ),
        )
        .unwrap();
        common::make_cold(&d.join("main.cf"));
        let sock = UnixDatagram::bind(d.join("queue/public/postlog")).unwrap();
        sock.set_nonblocking(true).unwrap();
        let syslog = UnixDatagram::bind(d.join("syslog")).unwrap();
        syslog.set_nonblocking(true).unwrap();
        LogCapture { dir, sock, syslog }
    }

    /// Runs a daemon with `args` and `env`; returns the text of its fatal
    /// record.
    fn fatal_of(&self, program: &Path, argv0: &str, args: &[&str], env: &[(&str, &str)]) -> String {
        let d = self.dir.path();
        // Where the log ends before the daemon runs (a fast daemon can
        // write its record before this thread looks).
        let maillog = d.join("maillog");
        let log_start = std::fs::metadata(&maillog).map_or(0, |m| m.len() as usize);
        let mut cmd = Command::new(program);
        {
            use std::os::unix::process::CommandExt;
            cmd.arg0(argv0);
        }
        let mut child = cmd
            .args(args)
            .env_clear()
            .env("MAIL_CONFIG", d)
            .env("POSTLOG_SERVICE", d.join("queue/public/postlog"))
            .env("POSTLOG_HOSTNAME", "box")
            .env("POSTKIT_SYSLOG_SOCKET", d.join("syslog"))
            .envs(env.iter().copied())
            .current_dir(d.join("queue"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let fatal_in = |rec: &str| {
            rec.find("]: fatal: ")
                .map(|i| rec[i + 3..].trim_end().to_string())
        };
        let mut buf = vec![0u8; 4096];
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut exited_at = None;
        let text = loop {
            let mut found = None;
            for sock in [&self.sock, &self.syslog] {
                while let Ok(n) = sock.recv(&mut buf) {
                    found = found.or_else(|| fatal_in(&String::from_utf8_lossy(&buf[..n])));
                }
            }
            let log = std::fs::read(&maillog).unwrap_or_default();
            if let Some(tail) = log.get(log_start..) {
                found = found.or_else(|| String::from_utf8_lossy(tail).lines().find_map(fatal_in));
            }
            if let Some(t) = found {
                break t;
            }
            if exited_at.is_none() && child.try_wait().unwrap().is_some() {
                exited_at = Some(Instant::now());
            }
            // Records may still be on their way just after the exit.
            if Instant::now() > deadline
                || exited_at.is_some_and(|t| t.elapsed() > Duration::from_millis(200))
            {
                break "(nothing logged)".to_string();
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let _ = child.kill();
        let _ = child.wait();
        text
    }
}

/// Daemon arguments and environment.
type StartCase = (Vec<&'static str>, Vec<(&'static str, &'static str)>);

#[test]
#[cfg_attr(postkit_unprivileged_build, ignore = "needs root")]
fn same_fatal_messages_as_postfix_postlogd() {
    if !ready("same_fatal_messages_as_postfix_postlogd") {
        return;
    }
    let cap = LogCapture::new();
    let cases: Vec<StartCase> = vec![
        (vec![], vec![]),
        (vec!["-l"], vec![]),
        (vec!["-l", "-t", "unix"], vec![]),
        (vec!["-l", "-t", "unix-dgram", "-x"], vec![]),
        (vec!["-l", "-t", "unix-dgram", "-s", "0"], vec![]),
        (vec!["-l", "-t", "unix-dgram", "-o", "novalue"], vec![]),
        (vec!["-l", "-t", "unix-dgram", "-o", "=x"], vec![]),
        (vec!["-l", "-t", "unix-dgram"], vec![("GENERATION", "12x")]),
        (
            vec![
                "-l",
                "-t",
                "unix-dgram",
                "-o",
                "postlogd_watchdog_timeout=5s",
            ],
            vec![],
        ),
        (vec!["-l", "-t", "unix-dgram", "-i", "0"], vec![]),
        (vec!["-l", "-t", "unix-dgram", "-o", "max_use=x"], vec![]),
        (vec!["-l", "-t", "unix-dgram", "-o", "max_idle=5 s"], vec![]),
        (
            vec![
                "-l",
                "-t",
                "unix-dgram",
                "-o",
                "maillog_file=/tmp/elsewhere",
            ],
            vec![],
        ),
        (
            vec!["-l", "-t", "unix-dgram", "-o", "syslog_facility=nosuch"],
            vec![],
        ),
        (
            vec!["-l", "-t", "unix-dgram", "-o", "a=$a", "-o", "max_use=$a"],
            vec![],
        ),
        (vec!["-l", "-t", "unix-dgram", "extra"], vec![]),
    ];
    let mut differ = Vec::new();
    for (args, env) in &cases {
        let theirs = cap.fatal_of(
            Path::new("/usr/lib/postfix/sbin/postlogd"),
            "postlogd",
            args,
            env,
        );
        let ours = cap.fatal_of(&common::postkit(), "postlogd", args, env);
        if theirs != ours {
            differ.push(format!(
                "{args:?} {env:?}:\n  postfix: {theirs}\n  postkit: {ours}"
            ));
        }
        assert!(theirs.starts_with("fatal: "), "{args:?}: {theirs}");
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

/// A service on one of Postfix's stream or trigger skeletons, built from
/// tests/data/c-skeletons/twin.c against Debian's libpostfix-master.so;
/// `skeleton` is 1 single, 2 multi, 3 event, 4 trigger.
fn c_twin(dir: &Path, skeleton: u32) -> std::path::PathBuf {
    let exe = dir.join(format!("twin{skeleton}"));
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/c-skeletons/twin.c");
    postkit_kit::postfix::build_c_service(&src, &exe, &[format!("-DSKELETON={skeleton}")])
        .unwrap_or_else(|e| panic!("{e}"));
    exe
}

#[test]
#[cfg_attr(postkit_unprivileged_build, ignore = "needs root")]
fn same_fatal_messages_as_postfix_stream_and_trigger_skeletons() {
    if !ready("same_fatal_messages_as_postfix_stream_and_trigger_skeletons") {
        return;
    }
    let cap = LogCapture::new();
    let build = tempfile::tempdir().unwrap();
    // Each skeleton: Postfix's (a C twin) and an example on postkit's.
    let skeletons = [
        (1, "line_echo", "unix"),
        (2, "policy_service", "unix"),
        (3, "line_count", "unix"),
        (4, "wakeup_log", "fifo"),
    ];
    let mut differ = Vec::new();
    for (n, example, t) in skeletons {
        let theirs_exe = c_twin(build.path(), n);
        let ours_exe = common::instance::examples_dir().join(example);
        let cases: Vec<StartCase> = vec![
            (vec![], vec![]),
            (vec!["-t", "unix-dgram"], vec![]),
            (vec!["-t", "inet"], vec![]),
            (vec!["-t", "fifo"], vec![]),
            (vec!["-t", "pass"], vec![]),
            (vec!["-t", t], vec![]),
            (vec!["-l", "-t", t], vec![]),
            (vec!["-t", t, "-x"], vec![]),
            (vec!["-t", t, "-n"], vec![]),
            (vec!["-t", t, "-s", "0"], vec![]),
            (vec!["-t", t, "-o", "novalue"], vec![]),
            (vec!["-t", t, "-o", "=x"], vec![]),
            (vec!["-t", t], vec![("GENERATION", "12x")]),
            (vec!["-t", t, "-o", "max_use=x"], vec![]),
            (vec!["-t", t, "-o", "max_idle=5 s"], vec![]),
            (vec!["-t", t, "-o", "a=$a", "-o", "max_use=$a"], vec![]),
            (vec!["-t", t, "-o", "ipc_timeout=0"], vec![]),
            // -r: single_server's and event_server's retirement time; an
            // unknown option elsewhere.
            (vec!["-t", t, "-r", "0"], vec![]),
            (vec!["-t", t, "-r", "x"], vec![]),
            (vec!["-t", t, "-r", "5"], vec![]),
        ];
        for (args, env) in &cases {
            let theirs = cap.fatal_of(&theirs_exe, "twin", args, env);
            let ours = cap.fatal_of(&ours_exe, "twin", args, env);
            // Without the master's descriptors Postfix's skeletons die
            // in their event loop's set-up; postkit's name the missing
            // descriptor instead (a deliberate difference, see
            // docs/compatibility.md).
            let missing_fd = theirs.contains("epoll_ctl EPOLL_CTL_ADD: Bad file descriptor")
                && ours.starts_with("fatal: ")
                && ours.ends_with(" is not open")
                && ours.contains("descriptor ");
            if theirs != ours && !missing_fd {
                differ.push(format!(
                    "{example} {args:?} {env:?}:\n  postfix: {theirs}\n  postkit: {ours}"
                ));
            }
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

/// Both postlog clients send the same bytes for the same input, apart
/// from the time stamp and the pid.
#[test]
#[cfg_attr(postkit_unprivileged_build, ignore = "needs root")]
fn postlog_clients_send_the_same_bytes() {
    if !ready("postlog_clients_send_the_same_bytes") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("queue/public")).unwrap();
    std::fs::write(
        d.join("main.cf"),
        format!(
            "queue_directory = {d}/queue\nmaillog_file = {d}/maillog\nmaillog_file_prefixes = {d}\nmyhostname = host.example.com\n",
            d = d.display()
        ),
    )
    .unwrap();
    common::make_cold(&d.join("main.cf"));
    let sock = UnixDatagram::bind(d.join("queue/public/postlog")).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let long: String = "0123456789".repeat(250);
    let cases: Vec<(Vec<String>, Option<&str>)> = vec![
        (vec!["hello".into(), "world".into()], None),
        (
            vec![
                "-t".into(),
                "tag".into(),
                "-p".into(),
                "warning".into(),
                "careful".into(),
            ],
            None,
        ),
        (
            vec![
                "-p".into(),
                "error".into(),
                "-t".into(),
                "x\ty".into(),
                "tab\tand\u{1b}[0m".into(),
            ],
            None,
        ),
        (vec!["-p".into(), "info".into(), long.clone()], None),
        (
            vec!["-t".into(), "stdin".into()],
            Some("line one\nline two\n"),
        ),
    ];
    let run = |program: &[&str], args: &[String], stdin: Option<&str>| -> Vec<String> {
        let mut cmd = Command::new(program[0]);
        cmd.args(&program[1..])
            .arg("-c")
            .arg(d)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        {
            use std::io::Write;
            let mut input = child.stdin.take().unwrap();
            if let Some(s) = stdin {
                input.write_all(s.as_bytes()).unwrap();
            }
        }
        child.wait().unwrap();
        let mut got = Vec::new();
        let expect = stdin.map_or(1, |s| s.lines().count());
        let mut buf = vec![0u8; 8192];
        for _ in 0..expect {
            let n = sock.recv(&mut buf).unwrap();
            let rec = String::from_utf8_lossy(&buf[..n]).to_string();
            // Mask the time stamp (15 bytes) and the pid.
            let rest = &rec[15..];
            let open = rest.find('[').unwrap();
            let close = rest[open..].find(']').unwrap() + open;
            got.push(format!("{}[PID{}", &rest[..open], &rest[close..]));
        }
        got
    };
    let postkit = common::postkit();
    for (args, stdin) in &cases {
        let theirs = run(&["/usr/sbin/postlog"], args, *stdin);
        let ours = run(&[postkit.to_str().unwrap(), "postlog"], args, *stdin);
        assert_eq!(ours, theirs, "postlog {args:?}");
    }
}

/// postkit's attribute functions against Postfix's own (a peer linked
/// with Debian's libpostfix-util.so, tests/data/c-attr/attr_peer.c), both
/// forms, both ways: what Postfix's attr_print writes, postkit's scanner
/// reads as the same attributes, and what postkit's printer writes,
/// Postfix's attr_scan reads in its strict mode.
#[test]
#[cfg_attr(postkit_unprivileged_build, ignore = "needs root")]
fn attributes_round_trip_with_postfix_libraries() {
    if !ready("attributes_round_trip_with_postfix_libraries") {
        return;
    }
    use std::io::{BufRead, Read, Write};
    let build = tempfile::tempdir().unwrap();
    let exe = build.path().join("attr_peer");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/c-attr/attr_peer.c");
    postkit_kit::postfix::build_c_service(&src, &exe, &[]).unwrap_or_else(|e| panic!("{e}"));
    for form in ["64", "plain"] {
        let mut peer = std::process::Command::new(&exe)
            .arg(form)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(peer.stdout.take().unwrap());
        let mut next = || {
            let mut l = String::new();
            match out.read_line(&mut l) {
                Ok(0) => Ok(None),
                Ok(_) => Ok(Some(l.trim_end_matches('\n').to_string())),
                Err(e) => Err(e),
            }
        };
        let got = if form == "64" {
            postkit::attr::scan64(&mut next)
        } else {
            postkit::attr::scan_plain(&mut next)
        }
        .unwrap();
        let text = if form == "64" {
            "two\nlines\tand \u{e9}"
        } else {
            "plain text"
        };
        let want: Vec<(String, String)> = [
            ("request", "smtpd_access_policy"),
            ("sender", "a:b=c@example.com"),
            ("empty", ""),
            ("count", "42"),
            ("size", "1234567890123"),
            ("text", text),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
        assert_eq!(got, want, "form {form}");

        let action = if form == "64" {
            "REJECT 5.7.1 a:b=c \u{e9}"
        } else {
            "REJECT 5.7.1 a:b=c"
        };
        let mut answer = Vec::new();
        let attrs = [("action", action), ("code", "550")];
        if form == "64" {
            postkit::attr::print64(&mut answer, &attrs);
        } else {
            postkit::attr::print_plain(&mut answer, &attrs);
        }
        peer.stdin.take().unwrap().write_all(&answer).unwrap();
        let mut err = String::new();
        peer.stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(peer.wait().unwrap().success());
        assert_eq!(
            err,
            format!("action=[{action}] code=[550]\n"),
            "form {form}"
        );
    }
}
