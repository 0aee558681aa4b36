//! postkit run as Postfix's `postfix` command (issue 11): the same verbs
//! on the same configuration, first with Debian's `postfix`, then with
//! postkit under the name `postfix`, give the same exit codes and the same
//! postfix-script records in the log; the verbs postkit leaves to Postfix
//! reach Postfix's own command.

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::postfix::PostfixInstance;

/// The verbs, in an order that visits every answer: not running, running,
/// already running, stopping, aborting.
const SEQUENCE: &[&str] = &[
    "status", "stop", "reload", "abort", "start", "start", "status", "reload", "stop", "stop",
    "status", "start", "abort",
];

/// Runs the sequence with `program` (argv[0] `postfix`); the exit codes.
fn run_sequence(program: &Path, etc: &Path, log: &Path) -> Vec<i32> {
    let mut codes = Vec::new();
    for verb in SEQUENCE {
        let out = Command::new(program)
            .arg0("postfix")
            .arg("-c")
            .arg(etc)
            .arg(verb)
            .env_remove("MAIL_CONFIG")
            .output()
            .unwrap();
        assert!(
            out.stdout.is_empty(),
            "{verb}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        codes.push(out.status.code().unwrap_or(-1));
        if *verb == "abort" {
            // Nobody waits after an abort; the next verb must see it gone.
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::fs::read_to_string(log)
                .unwrap_or_default()
                .matches("terminating on signal 15")
                .count()
                < SEQUENCE[..codes.len()]
                    .iter()
                    .filter(|v| **v == "abort")
                    .count()
                    .min(1)
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    codes
}

/// postfix-script's records (not its file-permission warnings, which
/// postkit leaves to `postkit check`), with the PID masked.
fn script_records(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.split_once("postfix/postfix-script[").map(|(_, r)| r))
        .filter_map(|r| r.split_once("]: ").map(|(_, t)| t))
        .filter(|t| !t.starts_with("warning: "))
        .map(|t| match t.split_once("PID: ") {
            Some((head, _)) => format!("{head}PID: N"),
            None => t.to_string(),
        })
        .collect()
}

#[test]
#[cfg_attr(postkit_unprivileged_build, ignore = "needs root")]
fn as_postfix_it_answers_as_postfix_does() {
    if !common::needs_root("as_postfix_it_answers_as_postfix_does")
        || !common::have_postfix("as_postfix_it_answers_as_postfix_does")
    {
        return;
    }
    let _serial = common::instance::one_at_a_time();
    let p = PostfixInstance::new(None, "").unwrap();
    let etc = p.etc();
    let log = p.log_path();
    let theirs = run_sequence(Path::new("/usr/sbin/postfix"), &etc, &log);
    let their_records = script_records(&std::fs::read_to_string(&log).unwrap());

    // postkit under the name postfix, on the same configuration but with
    // postkit's postlogd (Postfix's, run by any master, drops what its
    // socket holds when the master stops).
    let q = PostfixInstance::new(Some(&common::postkit()), "").unwrap();
    let etc = q.etc();
    let log = q.log_path();
    let bin = tempfile::tempdir().unwrap();
    let link = bin.path().join("postfix");
    std::os::unix::fs::symlink(common::postkit(), &link).unwrap();
    let ours = run_sequence(&link, &etc, &log);
    let our_text = std::fs::read_to_string(&log).unwrap();
    let our_records = script_records(&our_text);
    assert_eq!(theirs, ours, "exit codes of {SEQUENCE:?}");
    // Postfix's own "stopping" record races with its master's stop (sent
    // to postlogd as the master kills it, it is often lost); postkit's
    // master lets postkit's postlogd drain the socket first, so it is kept.
    let stopping = "stopping the Postfix mail system";
    let without = |r: &[String]| {
        r.iter()
            .filter(|l| *l != stopping)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        without(&their_records),
        without(&our_records),
        "postfix-script's records"
    );
    assert_eq!(
        our_records.iter().filter(|l| *l == stopping).count(),
        1,
        "{our_records:?}"
    );
    assert!(
        our_text.contains("version postkit-"),
        "postkit's master ran:\n{our_text}"
    );
    assert_eq!(theirs, [1, 1, 1, 1, 0, 1, 0, 0, 0, 1, 1, 0, 0]);

    // A verb that stays Postfix's own reaches Postfix's command (its
    // postfix-script, from the first configuration's daemon_directory,
    // refuses an unknown one, in the log).
    let (etc, log) = (p.etc(), p.log_path());
    let out = Command::new(&link)
        .arg0("postfix")
        .arg("-c")
        .arg(&etc)
        .arg("no-such-verb")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("unknown command: 'no-such-verb'"), "{text}");

    // `flush` (issue 23), on a configuration whose daemon_directory is
    // postkit's (no postfix-script there): done as postfix-script does it,
    // with Postfix's postqueue; the same answer as Postfix's command on
    // Postfix's daemon_directory (both systems are stopped here).
    let flush = |program: &Path, etc: &Path| {
        let out = Command::new(program)
            .arg0("postfix")
            .arg("-c")
            .arg(etc)
            .arg("flush")
            .env_remove("MAIL_CONFIG")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let theirs = flush(Path::new("/usr/sbin/postfix"), &p.etc());
    let ours = flush(&link, &q.etc());
    assert_eq!(theirs, ours);
    assert!(
        ours.1
            .contains("postqueue: fatal: Cannot flush mail queue - mail system is down"),
        "{ours:?}"
    );
    // Another of Postfix's own verbs there: said plainly, not a missing
    // file of Postfix's.
    let out = Command::new(&link)
        .arg0("postfix")
        .arg("-c")
        .arg(q.etc())
        .arg("set-permissions")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(q.log_path()).unwrap();
    assert!(
        text.contains("fatal: 'set-permissions' is Postfix's own command, run by Postfix's postfix-script, and daemon_directory"),
        "{text}"
    );
}
