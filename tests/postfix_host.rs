//! postkit's master on a real Postfix host (issue 11): Debian's stock
//! main.cf and master.cf (a private copy: queue, data, log, mailboxes and
//! the SMTP address changed), every service of it run by postkit's master,
//! Postfix's own daemons doing the mail.  Mail given over SMTP (Python's
//! smtplib) and to sendmail reaches the local mailbox; with Debian's
//! postscreen lines uncommented, through postscreen and `smtpd pass`.

mod common;

use common::stock::StockHost;

const NOBODY: &str = "nobody@localhost";

fn ready(test: &str) -> bool {
    common::needs_root(test) && common::have_postfix(test)
}

fn start(host: &StockHost) {
    let (code, out, err) = host.postkit(&["start"]);
    assert_eq!(code, 0, "start: {out}{err}\nlog:\n{}", host.log());
}

/// Every master.cf service is in `postkit status`, and the inet one
/// listens where master.cf says.
fn every_service_listed(host: &StockHost) {
    let (code, status, err) = host.postkit(&["status"]);
    assert_eq!(code, 0, "{err}");
    let master_cf = std::fs::read_to_string(host.path().join("master.cf")).unwrap();
    for line in master_cf.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 8 || line.starts_with('#') || line.starts_with(char::is_whitespace) {
            continue;
        }
        assert!(
            status
                .lines()
                .any(|l| l.split_whitespace().take(2).eq(fields[..2].iter().copied())),
            "{} {} is not in the status:\n{status}",
            fields[0],
            fields[1]
        );
    }
}

fn stop_leaves_no_process(host: &StockHost) {
    let (code, out, err) = host.postkit(&["stop"]);
    assert_eq!(code, 0, "{out}{err}");
    host.wait_for(
        |h| h.processes().is_empty(),
        "every process of the host to end",
    );
}

#[test]
#[cfg_attr(postkit_unprivileged_build, ignore = "needs root")]
fn stock_configuration_delivers_smtp_and_sendmail_mail() {
    if !ready("stock_configuration_delivers_smtp_and_sendmail_mail") {
        return;
    }
    let host = StockHost::new(false);
    start(&host);
    every_service_listed(&host);
    host.smtp_send(NOBODY, "over SMTP").unwrap();
    host.sendmail(NOBODY, "given to sendmail");
    host.wait_for(
        |h| {
            let mbox = h.mailbox("nobody");
            mbox.contains("Subject: over SMTP") && mbox.contains("Subject: given to sendmail")
        },
        "both messages in nobody's mailbox",
    );
    let log = host.log();
    assert!(log.contains("postfix/smtpd["), "{log}");
    assert!(log.contains("status=sent (delivered to mailbox)"), "{log}");
    stop_leaves_no_process(&host);
}

#[test]
#[cfg_attr(postkit_unprivileged_build, ignore = "needs root")]
fn postscreen_hands_smtp_to_smtpd_pass() {
    if !ready("postscreen_hands_smtp_to_smtpd_pass") {
        return;
    }
    let host = StockHost::new(true);
    start(&host);
    every_service_listed(&host);
    host.smtp_send(NOBODY, "through postscreen").unwrap();
    host.wait_for(
        |h| h.mailbox("nobody").contains("Subject: through postscreen"),
        "the message in nobody's mailbox",
    );
    let log = host.log();
    assert!(log.contains("postfix/postscreen["), "{log}");
    assert!(log.contains("CONNECT from [127.0.0.1]"), "{log}");
    assert!(
        !log.contains("warning: setsid"),
        "postscreen could not make its session:\n{log}"
    );
    let (_, status, _) = host.postkit(&["status"]);
    let pass = status
        .lines()
        .find(|l| l.starts_with("smtpd ") && l.contains(" pass "))
        .unwrap_or_else(|| panic!("{status}"));
    let spawns: u64 = pass.split_whitespace().nth(6).unwrap().parse().unwrap();
    assert!(spawns >= 1, "smtpd pass never ran: {pass}");
    stop_leaves_no_process(&host);
}

/// 20 reloads while 40 messages arrive over SMTP: every message is
/// delivered exactly once, no connection is refused.
#[test]
#[cfg_attr(postkit_unprivileged_build, ignore = "needs root")]
fn twenty_reloads_during_smtp_lose_and_duplicate_nothing() {
    if !ready("twenty_reloads_during_smtp_lose_and_duplicate_nothing") {
        return;
    }
    let host = std::sync::Arc::new(StockHost::new(false));
    start(&host);
    let sender = {
        let host = std::sync::Arc::clone(&host);
        std::thread::spawn(move || {
            for n in 0..40 {
                host.smtp_send(NOBODY, &format!("message {n:03}"))
                    .unwrap_or_else(|e| panic!("message {n}: {e}"));
            }
        })
    };
    for _ in 0..20 {
        let (code, _, err) = host.postkit(&["reload"]);
        assert_eq!(code, 0, "{err}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    sender.join().expect("every SMTP session succeeded");
    host.wait_for(
        |h| h.mailbox("nobody").matches("Subject: message ").count() >= 40,
        "40 messages in the mailbox",
    );
    let mbox = host.mailbox("nobody");
    for n in 0..40 {
        assert_eq!(
            mbox.matches(&format!("Subject: message {n:03}\n")).count(),
            1,
            "message {n}"
        );
    }
    stop_leaves_no_process(&host);
}
