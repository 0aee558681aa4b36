//! What a new operator meets first (issue 12), end to end: a configuration
//! another master runs, mistakes on the command line, the story the log
//! tells, the version.

mod common;

use std::process::Command;

use common::instance::{Instance, POSTLOG};

/// A process that is not postkit holds a configuration's pid file lock
/// (as the host's Postfix holds /etc/postfix's): `stop`, `reload` and
/// `status` neither signal it nor call it postkit's, and `start` does not
/// start a second master; each says what runs there and changes nothing.
#[test]
fn a_foreign_master_is_neither_signalled_nor_taken_for_postkit() {
    let i = Instance::new(POSTLOG, "");
    let pid_dir = i.path().join("queue/pid");
    std::fs::create_dir_all(&pid_dir).unwrap();
    let pid_file = pid_dir.join("master.pid");
    let mut foreign = Command::new("flock")
        .arg("-x")
        .arg(&pid_file)
        .args(["sleep", "60"])
        .spawn()
        .unwrap();
    i.wait_for(
        |_| {
            postkit::control::proven_master::master_state(
                &i.path().join("queue").display().to_string(),
            ) != postkit::control::proven_master::MasterState::NotRunning
        },
        "the foreign lock",
    );
    std::fs::write(&pid_file, format!("{:>32}\n", foreign.id())).unwrap();
    for command in ["stop", "reload", "status", "start"] {
        let (code, _, err) = i.ctl(command);
        assert_eq!(code, 1, "{command}: {err}");
        assert!(
            err.contains("no postkit master answers") && err.contains("nothing was changed"),
            "{command}: {err}"
        );
        assert!(
            foreign.try_wait().unwrap().is_none(),
            "{command} signalled the foreign process"
        );
    }
    let _ = foreign.kill();
    let _ = foreign.wait();
}

/// An argument a verb does not take is a usage error (exit 2), not ignored.
#[test]
fn extra_arguments_to_a_verb_are_a_usage_error() {
    let i = Instance::new(POSTLOG, "");
    for (command, extra) in [
        ("start", "extra"),
        ("stop", "now"),
        ("status", "-x"),
        ("start-fg", "-q"),
    ] {
        let out = Command::new(common::postkit())
            .arg("-c")
            .arg(i.path())
            .args([command, extra])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command} {extra}: {err}");
        assert!(
            err.contains(&format!("unexpected argument '{extra}'")),
            "{command} {extra}: {err}"
        );
    }
    assert!(
        !i.path().join("queue/pid/master.pid").exists(),
        "nothing started"
    );
}

/// start, reload and stop are in the log as Postfix records them, in order.
#[test]
fn the_log_tells_the_story_of_start_reload_and_stop() {
    let i = Instance::new(POSTLOG, "");
    for command in ["start", "reload", "stop"] {
        let (code, _, err) = i.ctl(command);
        assert_eq!(code, 0, "{command}: {err}");
        if command == "start" {
            i.wait_for(|i| i.log().contains("daemon started"), "daemon started");
        }
        if command == "reload" {
            i.wait_for(
                |i| i.log().contains("reload -- version"),
                "the reload record",
            );
        }
    }
    let log = i.log();
    let story = [
        "postfix/postfix-script[",
        "]: starting the Postfix mail system",
        "postfix/master[",
        "]: daemon started -- version",
        "]: refreshing the Postfix mail system",
        "]: reload -- version",
        "]: stopping the Postfix mail system",
        "]: terminating on signal 15",
    ];
    let mut at = 0;
    for part in story {
        match log[at..].find(part) {
            Some(p) => at += p + part.len(),
            None => panic!("{part:?} missing or out of order in:\n{log}"),
        }
    }
}

/// `postkit --version` names the version and the commit; `mail_version`
/// is a parameter `postkit postconf` knows.
#[test]
fn version_names_the_release_and_the_commit() {
    for flag in ["--version", "-V"] {
        let out = Command::new(common::postkit()).arg(flag).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success());
        assert!(
            text.starts_with(&format!("postkit {} (commit ", env!("CARGO_PKG_VERSION"))),
            "{text}"
        );
        assert!(!text.contains("commit unknown"), "{text}");
    }
    let out = Command::new(common::postkit())
        .args(["postconf", "-d", "mail_version"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "mail_version = 3.7.11\n"
    );
}
