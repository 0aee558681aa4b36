//! postkit as Postfix's `master` program (issue 22): Debian's real
//! `/usr/sbin/postfix` and its postfix-script drive a private copy of the
//! stock configuration whose daemon_directory holds Postfix's daemons and,
//! as `master`, either Postfix's master or postkit.  Every verb (`start`
//! through `master -w`, `status`/`stop`/`abort`/`reload` through
//! `master -t`, `flush`, `check`, `start-fg` as `master -s`, and as
//! `master -i` when PID 1 of a PID namespace) gives the same exit code and
//! the same postfix-script records with either master, and mail is
//! delivered in between.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::stock::StockHost;

const NOBODY: &str = "nobody@localhost";

/// The stock host, with `master` (Postfix's or postkit) in a
/// daemon_directory beside Postfix's own daemons.
fn host_with_master(master: &Path) -> StockHost {
    let host = StockHost::new(false);
    let libexec = host.path().join("libexec");
    std::fs::create_dir(&libexec).unwrap();
    for entry in std::fs::read_dir("/usr/lib/postfix/sbin")
        .unwrap()
        .flatten()
    {
        if entry.file_name() != "master" {
            std::os::unix::fs::symlink(entry.path(), libexec.join(entry.file_name())).unwrap();
        }
    }
    std::os::unix::fs::symlink(master, libexec.join("master")).unwrap();
    let main_cf = host.path().join("main.cf");
    let mut text = std::fs::read_to_string(&main_cf).unwrap();
    text.push_str(&format!("daemon_directory = {}\n", libexec.display()));
    std::fs::write(&main_cf, text).unwrap();
    host
}

fn postfix(host: &StockHost) -> Command {
    let mut cmd = Command::new("/usr/sbin/postfix");
    cmd.arg("-c")
        .arg(host.path())
        .env_remove("MAIL_CONFIG")
        .stdin(Stdio::null());
    cmd
}

/// `postfix VERB`: its exit code, with its output for a failure message.
fn verb(host: &StockHost, verb: &str) -> (i32, String) {
    let out = postfix(host).arg(verb).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Whether a master runs, as postfix-script asks it: `master -t` (of the
/// master under test) exits 1.  Unlike `postfix status`, it logs nothing.
fn running(host: &StockHost) -> bool {
    Command::new(host.path().join("libexec/master"))
        .arg("-c")
        .arg(host.path())
        .arg("-t")
        .env_remove("MAIL_CONFIG")
        .status()
        .unwrap()
        .code()
        == Some(1)
}

fn wait_until(what: &str, host: &StockHost, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\nlog (end):\n{}",
            common::procs::tail(&host.log())
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One message over SMTP, delivered to nobody's mailbox.
fn mail(host: &StockHost, subject: &str) {
    host.smtp_send(NOBODY, subject).unwrap();
    wait_until(&format!("{subject} delivered"), host, || {
        host.mailbox("nobody")
            .contains(&format!("Subject: {subject}\n"))
    });
}

/// The host pid of a child of `parent` (unshare's child: PID 1 inside).
fn child_of(parent: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn wait_exit(child: &mut Child, host: &StockHost) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code().unwrap_or_else(|| {
                128 + std::os::unix::process::ExitStatusExt::signal(&st).unwrap_or(0)
            });
        }
        assert!(
            Instant::now() < deadline,
            "start-fg did not end\nlog (end):\n{}",
            common::procs::tail(&host.log())
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Drives the host through every verb; each step's name and exit code.
fn drive(host: &StockHost) -> Vec<(String, i32)> {
    let mut codes = Vec::new();
    let mut step = |name: &str, code: i32, out: &str| {
        eprintln!("{name}: {code} {out}");
        codes.push((name.to_string(), code));
    };
    for v in [
        "status", "stop", "abort", "reload", "start", "start", "status", "reload", "check", "flush",
    ] {
        let (code, out) = verb(host, v);
        step(v, code, &out);
    }
    mail(host, "after reload");
    for v in ["stop", "stop", "status", "start"] {
        let (code, out) = verb(host, v);
        step(v, code, &out);
    }
    mail(host, "after restart");
    let (code, out) = verb(host, "abort");
    step("abort", code, &out);
    // Nobody waits after an abort.
    wait_until("the aborted master gone", host, || !running(host));
    let (code, out) = verb(host, "status");
    step("status", code, &out);

    // start-fg, not PID 1: postfix-script runs `master -s` and waits.
    let mut fg = postfix(host)
        .arg("start-fg")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("start-fg running", host, || running(host));
    mail(host, "under start-fg");
    let (code, out) = verb(host, "stop");
    step("stop start-fg", code, &out);
    step("start-fg (master -s)", wait_exit(&mut fg, host), "");

    // start-fg as PID 1 of a PID namespace: postfix-script execs
    // `master -i`.  It is stopped from inside the namespace (the pid file
    // says 1, which outside would be this host's init).
    let mut init = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "/usr/sbin/postfix", "-c"])
        .arg(host.path())
        .arg("start-fg")
        .env_remove("MAIL_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("start-fg as PID 1 running", host, || running(host));
    mail(host, "under master -i");
    let inner = child_of(init.id()).expect("unshare's child");
    let pid1_cmdline = std::fs::read_to_string(format!("/proc/{inner}/cmdline"))
        .unwrap()
        .replace('\0', " ");
    let out = Command::new("nsenter")
        .args([
            "-t",
            &inner.to_string(),
            "-p",
            "-m",
            "/usr/sbin/postfix",
            "-c",
        ])
        .arg(host.path())
        .arg("stop")
        .env_remove("MAIL_CONFIG")
        .output()
        .unwrap();
    step(
        "stop start-fg in a PID namespace",
        out.status.code().unwrap_or(-1),
        &String::from_utf8_lossy(&out.stderr),
    );
    step(
        "start-fg (master -i)",
        wait_exit(&mut init, host),
        &pid1_cmdline,
    );
    assert!(
        pid1_cmdline.ends_with("/libexec/master -i "),
        "PID 1 of the namespace: {pid1_cmdline}"
    );
    codes
}

/// postfix-script's records, without the ones whose presence depends on
/// timing (`waiting for ... to terminate`; `stopping`, which Postfix's
/// master often kills before its postlogd writes it) and its
/// file-permission warnings; the PID masked.
fn script_records(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.split_once("postfix/postfix-script[").map(|(_, r)| r))
        .filter_map(|r| r.split_once("]: ").map(|(_, t)| t))
        .filter(|t| !t.starts_with("warning: "))
        .filter(|t| !t.starts_with("waiting for") && !t.starts_with("stopping the"))
        .map(|t| match t.split_once("PID: ") {
            Some((head, _)) => format!("{head}PID: N"),
            None => t.to_string(),
        })
        .collect()
}

#[test]
#[cfg_attr(postkit_unprivileged_build, ignore = "needs root")]
fn postfix_script_drives_postkit_as_its_master() {
    if !common::needs_root("postfix_script_drives_postkit_as_its_master")
        || !common::have_postfix("postfix_script_drives_postkit_as_its_master")
    {
        return;
    }
    let _serial = common::instance::one_at_a_time();
    let theirs_host = host_with_master(Path::new("/usr/lib/postfix/sbin/master"));
    let theirs = drive(&theirs_host);
    let their_log = theirs_host.log();
    drop(theirs_host);

    let postkit: PathBuf = common::postkit();
    let ours_host = host_with_master(&postkit);
    let ours = drive(&ours_host);
    let our_log = ours_host.log();
    assert!(our_log.contains("version postkit-"), "{our_log}");
    assert!(!their_log.contains("version postkit-"), "{their_log}");

    assert_eq!(theirs, ours, "exit codes, Postfix's master then postkit's");
    assert_eq!(
        script_records(&their_log),
        script_records(&our_log),
        "postfix-script's records"
    );
    // The last stop is killed (-1) with everything in the namespace when
    // its PID 1, the master, exits: with either master.
    let expected: Vec<i32> = vec![
        1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 0, 143, -1, 0,
    ];
    assert_eq!(
        ours.iter().map(|(_, c)| *c).collect::<Vec<_>>(),
        expected,
        "{ours:?}"
    );
}

/// master(8)'s refusals, with the texts and exit code of Postfix's
/// master.c, and `-D` running debugger_command once the master holds its
/// locks.  (Postfix's master writes these to syslog before it has read
/// main.cf; postkit's also to stderr, where a person sees them.)
#[test]
fn master_options_are_refused_with_postfix_texts() {
    use common::instance::{Instance, POSTLOG};
    let i = Instance::new(POSTLOG, "");
    let master = |args: &[&str]| {
        let out = Command::new(common::postkit())
            .arg("master")
            .arg("-c")
            .arg(i.path())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for (args, text) in [
        (
            &["-t", "-w"][..],
            "fatal: the -t and -w options cannot be used together",
        ),
        (&["-i"][..], "fatal: -i is allowed only for PID 1 process"),
        (
            &["-x"][..],
            "fatal: usage: master [-c config_dir] [-D (debug)] [-d (don't detach from terminal)] [-e exit_time] [-t (test)] [-v] [-w (wait for initialization)]",
        ),
        (&["extra"][..], "fatal: usage: master [-c config_dir]"),
    ] {
        let (code, err) = master(args);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert!(err.contains(text), "{args:?}: {err}");
    }
    // -t: 0 while no master runs (no pid file at all, then one unlocked).
    assert_eq!(master(&["-t"]).0, Some(0));
    // -D without debugger_command.
    let (code, _) = master(&["-D", "-d"]);
    assert_eq!(code, Some(1));
    assert!(
        i.log()
            .contains("fatal: no debugger_command variable set up"),
        "{}",
        i.log()
    );
    // -D with one: it runs (as Postfix's, through the shell, with the
    // master's pid in $process_id), then the master serves; -w returns
    // once it does.
    let mark = i.path().join("debugged");
    let main_cf = i.path().join("main.cf");
    let mut text = std::fs::read_to_string(&main_cf).unwrap();
    text.push_str(&format!(
        "debugger_command = echo $process_name $process_id > {}\n",
        mark.display()
    ));
    std::fs::write(&main_cf, text).unwrap();
    let (code, err) = master(&["-D", "-w"]);
    assert_eq!(code, Some(0), "{err}\n{}", i.log());
    let pid = std::fs::read_to_string(i.path().join("queue/pid/master.pid")).unwrap();
    let said = std::fs::read_to_string(&mark).unwrap();
    assert_eq!(said.trim(), format!("master {}", pid.trim()), "{}", i.log());
    assert!(i.log().contains("running: echo master "), "{}", i.log());
    assert_eq!(master(&["-t"]).0, Some(1), "-t with a master running");
    let (code, _, err) = i.ctl("stop");
    assert_eq!(code, 0, "{err}");
    assert_eq!(master(&["-t"]).0, Some(0));
}
