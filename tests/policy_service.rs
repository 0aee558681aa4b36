//! A policy service on postkit's `multi_server` skeleton, asked by
//! Debian's real smtpd (issue 24): the stock configuration with
//! `check_policy_service unix:private/policy` and the example
//! `policy_service` in master.cf; a message for a blocked recipient is
//! refused at RCPT with the policy's text, one for another recipient is
//! delivered.  Under postkit's master, then under Postfix's own.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::stock::StockHost;

fn policy_host() -> StockHost {
    let host = StockHost::new(false);
    let example: PathBuf = common::instance::examples_dir().join("policy_service");
    assert!(
        example.is_file(),
        "{} (cargo builds the examples for tests)",
        example.display()
    );
    // A master runs commands from daemon_directory (Postfix's and
    // postkit's alike): Postfix's daemons there, and the example beside
    // them.
    let libexec = host.path().join("libexec");
    std::fs::create_dir(&libexec).unwrap();
    for entry in std::fs::read_dir("/usr/lib/postfix/sbin")
        .unwrap()
        .flatten()
    {
        std::os::unix::fs::symlink(entry.path(), libexec.join(entry.file_name())).unwrap();
    }
    std::os::unix::fs::symlink(&example, libexec.join("policy_service")).unwrap();
    let master_cf = host.path().join("master.cf");
    let mut text = std::fs::read_to_string(&master_cf).unwrap();
    text.push_str(
        "policy unix - n n - 0 policy_service\n  -o policy_service_blocked_recipients=blocked@localhost\n",
    );
    std::fs::write(&master_cf, text).unwrap();
    let main_cf = host.path().join("main.cf");
    let mut text = std::fs::read_to_string(&main_cf).unwrap();
    text.push_str(&format!(
        "daemon_directory = {}\nsmtpd_recipient_restrictions = check_policy_service unix:private/policy, \
         permit_mynetworks, reject_unauth_destination\n",
        libexec.display()
    ));
    std::fs::write(&main_cf, text).unwrap();
    host
}

/// Sends both messages and checks what smtpd and the policy did.
fn exercise(host: &StockHost, round: &str) {
    let refused = host
        .smtp_send("blocked@localhost", &format!("{round} blocked"))
        .expect_err("the blocked recipient is refused");
    assert!(refused.contains("blocked by policy"), "{refused}");
    host.smtp_send("nobody@localhost", &format!("{round} allowed"))
        .unwrap();
    host.wait_for(
        |h| {
            h.mailbox("nobody")
                .contains(&format!("Subject: {round} allowed"))
        },
        "the allowed message delivered",
    );
    let log = host.log();
    assert!(
        log.contains("recipient=<blocked@localhost> action=REJECT 5.7.1 blocked by policy"),
        "{}",
        common::procs::tail(&log)
    );
    assert!(
        log.contains("recipient=<nobody@localhost> action=DUNNO"),
        "{}",
        common::procs::tail(&log)
    );
    assert!(!host.mailbox("blocked").contains(round));
}

#[test]
#[cfg_attr(postkit_unprivileged_build, ignore = "needs root")]
fn policy_service_on_multi_server_decides_for_real_smtpd() {
    if !common::needs_root("policy_service_on_multi_server_decides_for_real_smtpd")
        || !common::have_postfix("policy_service_on_multi_server_decides_for_real_smtpd")
    {
        return;
    }
    let _serial = common::instance::one_at_a_time();
    // postkit's master.
    let host = policy_host();
    let (code, out, err) = host.postkit(&["start"]);
    assert_eq!(code, 0, "{out}{err}\n{}", host.log());
    exercise(&host, "postkit");
    let (code, status, _) = host.postkit(&["status"]);
    assert_eq!(code, 0, "{status}");
    assert!(status.lines().any(|l| l.starts_with("policy ")), "{status}");
    let (code, _, err) = host.postkit(&["stop"]);
    assert_eq!(code, 0, "{err}");
    drop(host);

    // Postfix's master, same configuration.
    let host = policy_host();
    let out = Command::new(host.path().join("libexec/master"))
        .arg("-c")
        .arg(host.path())
        .arg("-w")
        .env_remove("MAIL_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "Postfix's master: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    exercise(&host, "postfix");
    let pid: i32 = std::fs::read_to_string(host.path().join("queue/pid/master.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    );
    // (Its own "terminating" record is often lost: Postfix's master
    // ends its postlogd at the same moment.)
    host.wait_for(|_| !common::procs::alive(pid), "Postfix's master stopped");
}
