//! The control command, end to end, as an operator meets it: a
//! configuration another master runs, mistakes on the command line, the
//! story the log tells, the version, bad values caught by `check` and
//! `start` with file and line, and why a service failed.

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
            postkit::internal::control::proven_master::master_state(
                &i.path().join("queue").display().to_string(),
            ) != postkit::internal::control::proven_master::MasterState::NotRunning
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

/// Each bad value of a parameter the built-in log service reads fails
/// `check` (and `start`) with the file and line that set it and the
/// service's own text; so does a master.cf command that does not exist.
#[test]
fn bad_values_of_a_builtin_service_fail_check_with_file_and_line() {
    let cases: [(&str, &str, &str); 5] = [
        (
            "",
            "postlogd_watchdog_timeout = 5x\n",
            "main.cf, line {n}: parameter postlogd_watchdog_timeout: bad time value or unit: 5x",
        ),
        (
            "",
            "postlogd_watchdog_timeout = 5s\n",
            "main.cf, line {n}: invalid postlogd_watchdog_timeout: 5 (min 10)",
        ),
        (
            "",
            "dgram_batch_limit = 0\n",
            "main.cf, line {n}: invalid dgram_batch_limit parameter value 0 < 1",
        ),
        (
            " -o postlogd_watchdog_timeout=9s",
            "",
            "master.cf: line 1: service postlog: invalid postlogd_watchdog_timeout: 9 (min 10)",
        ),
        ("", "", "master.cf: line 2: service gone: command "),
    ];
    for (options, main_cf, want) in cases {
        let mut master_cf = POSTLOG.trim_end().to_string() + options + "\n";
        if want.contains("gone") {
            master_cf.push_str("gone unix-dgram n n n - 1 no-such-command\n");
        }
        let i = Instance::new(&master_cf, "");
        let n = std::fs::read_to_string(i.path().join("main.cf"))
            .unwrap()
            .lines()
            .count()
            + 1;
        i.append_main_cf(main_cf);
        let want = want.replace("{n}", &n.to_string());
        let want = want.as_str();
        for command in ["check", "start"] {
            let (code, _, err) = i.ctl(command);
            assert_eq!(code, 1, "{command} {want}: {err}");
            assert!(err.contains(want), "{command}: want {want:?} in {err}");
        }
    }
}

/// The log service dies at start (a bad value given to it in master.cf,
/// with the master started directly, so no check ran): its reason is in the
/// log file, on the foreground master's terminal, and in `status`.
#[test]
fn a_failing_log_service_says_why_in_the_log_on_the_terminal_and_in_status() {
    let master_cf = POSTLOG.trim_end().to_string() + " -o postlogd_watchdog_timeout=5s\n";
    let mut i = Instance::new(&master_cf, "");
    i.start();
    i.send("postlog", b"wakes postlogd up");
    let why = "invalid postlogd_watchdog_timeout: 5 (min 10)";
    i.wait_for(|i| i.log().contains(why), "the reason in the log");
    i.wait_for(|i| i.stderr().contains(why), "the reason on the terminal");
    i.wait_for(
        |i| {
            i.status_line("postlog")
                .contains(&format!("last failure: fatal: {why}"))
        },
        "the reason in status",
    );
}

/// A service that fails in its first second is reported by `start`.
#[test]
fn start_reports_a_service_that_fails_in_its_first_second() {
    let i = Instance::new(&format!("{POSTLOG}fail unix n n n 1 1 failing\n"), "");
    let (code, _, err) = i.ctl("start");
    let _ = i.ctl("stop");
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("service fail failed at start: exit status 1"),
        "{err}"
    );
}

/// Started by hand, the example service prints how to run it under a
/// master instead of a bare fatal.
#[test]
fn the_example_service_started_by_hand_prints_its_recipe() {
    let out = Command::new(common::instance::examples_dir().join("event_counter"))
        .env_remove("GENERATION")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("examples/event_counter") && err.contains("demo/master.cf"),
        "{err}"
    );
}

/// A configuration first run by root, then started by another user: the
/// start fails with the real reason on the terminal, not "see the log".
#[test]
#[cfg_attr(postkit_unprivileged_build, ignore = "needs root")]
fn start_by_another_user_after_root_says_the_real_reason() {
    if !common::needs_root("start_by_another_user_after_root_says_the_real_reason") {
        return;
    }
    let i = Instance::new(POSTLOG, "");
    let (code, _, err) = i.ctl("start");
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = i.ctl("stop");
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = i.ctl_with(
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ],
        "start",
    );
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("Permission denied"), "{err}");
    assert!(!err.contains("see the log"), "{err}");
}

/// Issue 23.3: a reload the master would refuse (a bad main.cf value, a
/// bad master.cf line) is refused by `postkit reload` with the file, line
/// and reason, and exit status 1; the running master keeps serving its
/// configuration.
#[test]
fn a_reload_the_master_would_refuse_says_why_and_fails() {
    let mut i = Instance::new(POSTLOG, "");
    i.start();
    // postlogd running before main.cf breaks: a child started later reads
    // the broken main.cf and dies, as Postfix's would.
    i.send("postlog", b"before the bad edit");
    i.wait_for(|i| i.log().contains("before the bad edit"), "postlogd");
    let main_cf = std::fs::read_to_string(i.path().join("main.cf")).unwrap();
    let n = main_cf.lines().count() + 1;
    i.append_main_cf("default_process_limit = 10o\n");
    let (code, out, err) = i.ctl("reload");
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(&format!("main.cf, line {n}:"))
            && err.contains("default_process_limit")
            && err.contains("nothing reloaded"),
        "{err}"
    );
    assert!(!out.contains("refreshing"), "{out}");
    std::fs::write(i.path().join("main.cf"), &main_cf).unwrap();
    common::make_cold(&i.path().join("main.cf"));
    std::fs::write(
        i.path().join("master.cf"),
        format!("{POSTLOG}broken unix-dgrm n - n - 1 postlogd\n"),
    )
    .unwrap();
    let (code, _, err) = i.ctl("reload");
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("master.cf: line 2:") && err.contains("unix-dgrm"),
        "{err}"
    );
    assert!(!i.log().contains("reload -- version"), "never signalled");
    i.send("postlog", b"still served");
    i.wait_for(|i| i.log().contains("still served"), "the running master");
    std::fs::write(i.path().join("master.cf"), POSTLOG).unwrap();
    let (code, _, err) = i.ctl("reload");
    assert_eq!(code, 0, "{err}");
    // With no master, the refusal does not speak of one.
    i.stop();
    i.append_main_cf("default_process_limit = 10o\n");
    let (code, _, err) = i.ctl("reload");
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("nothing reloaded (the mail system is not running)"),
        "{err}"
    );
}

/// Issue 23.3: an ordinary user asking root's running master (status,
/// stop, reload, restart) is told that a master runs and whose its
/// control socket is, not that the mail system is not running.
#[test]
#[cfg_attr(postkit_unprivileged_build, ignore = "needs root")]
fn another_user_is_told_the_running_master_is_roots() {
    if !common::needs_root("another_user_is_told_the_running_master_is_roots") {
        return;
    }
    let mut i = Instance::new(POSTLOG, "");
    i.start();
    let nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    for verb in ["status", "stop", "reload", "restart"] {
        let (code, _, err) = i.ctl_with(&nobody, verb);
        assert_eq!(code, 1, "{verb}: {err}");
        assert!(
            err.contains(&format!(
                "a master runs this configuration (PID {}",
                i.master_pid()
            )) && err.contains("are root's: run this command as root"),
            "{verb}: {err}"
        );
        assert!(!err.contains("not running"), "{verb}: {err}");
    }
    assert!(common::instance::alive(i.master_pid()));
}

/// Issue 23.3: `check` passes on postconf's "unused parameter" warning for
/// a misspelled name instead of saying plainly that all is in order.
#[test]
fn check_warns_about_a_misspelled_parameter() {
    let i = Instance::new(POSTLOG, "");
    let (code, _, err) = i.ctl("check");
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("maillog_fiel"), "{err}");
    // The test kit's own probe_log is a parameter postconf does not know.
    let before = err.matches(": unused parameter: ").count();
    i.append_main_cf("maillog_fiel = /var/log/typo\n");
    let (code, _, err) = i.ctl("check");
    assert_eq!(code, 0, "a warning, not a refusal: {err}");
    assert!(
        err.contains("main.cf: unused parameter: maillog_fiel=/var/log/typo"),
        "{err}"
    );
    assert!(
        err.contains(&format!("but for {} unused parameter(s) above", before + 1)),
        "{err}"
    );
}

/// Issue 23.3: a configuration `start-fg` wrote, copied to another
/// directory, fails `check` (its queue, data and log are still the
/// original's) instead of passing it and failing at start.
#[test]
fn a_copied_default_configuration_fails_check() {
    let original = tempfile::tempdir().unwrap();
    let copy = tempfile::tempdir().unwrap();
    let orig = std::fs::canonicalize(original.path()).unwrap();
    // What start-fg writes (default_config), for the original's place.
    let main_cf = format!(
        "# Written by postkit for an instance that lives in this directory.\n\
         compatibility_level = 3.6\nqueue_directory = {o}/queue\ndata_directory = {o}/data\n\
         maillog_file = {o}/maillog\nmaillog_file_prefixes = {o}\n{}",
        common::accounts_main_cf(),
        o = orig.display()
    );
    for dir in [&orig, &copy.path().to_path_buf()] {
        std::fs::write(dir.join("main.cf"), &main_cf).unwrap();
        std::fs::write(dir.join("master.cf"), POSTLOG).unwrap();
    }
    let check = |dir: &std::path::Path| {
        let o = Command::new(common::postkit())
            .arg("-c")
            .arg(dir)
            .arg("check")
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, err) = check(&orig);
    assert_eq!(code, Some(0), "the original is in order: {err}");
    let (code, err) = check(copy.path());
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "written for an instance in {}, but it is in",
            orig.display()
        )) && err.contains("copied or moved"),
        "{err}"
    );
}
