//! postkit's skeletons under both masters (issue 24), started with the
//! argv each master builds: a policy service on `multi_server`, asked by
//! Debian's real smtpd (the stock configuration with
//! `check_policy_service unix:private/policy`: a message for a blocked
//! recipient is refused at RCPT with the policy's text, one for another
//! recipient is delivered), beside a `single_server` service on inet, an
//! `event_server` one on unix and a `trigger_server` one woken by the
//! master's timer on a fifo.  Under postkit's master, then under
//! Postfix's own.

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
    for other in ["line_echo", "line_count", "wakeup_log"] {
        let exe = common::instance::examples_dir().join(other);
        std::os::unix::fs::symlink(&exe, libexec.join(other)).unwrap();
    }
    std::os::unix::fs::symlink(&example, libexec.join("policy_service")).unwrap();
    let master_cf = host.path().join("master.cf");
    let mut text = std::fs::read_to_string(&master_cf).unwrap();
    text.push_str(
        "policy unix - n n - 0 policy_service\n  -o policy_service_blocked_recipients=blocked@localhost\n",
    );
    text.push_str(&format!(
        "127.0.0.1:{} inet n - n - 2 line_echo\n\
         count unix - n n - 1 line_count\n\
         tick fifo - n n 1 1 wakeup_log\n",
        echo_port(&host)
    ));
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

/// The inet port of the single_server example (free when the host was
/// made: a port per host, remembered in a file beside it).
fn echo_port(host: &StockHost) -> u16 {
    let file = host.path().join("echo-port");
    if let Ok(p) = std::fs::read_to_string(&file) {
        return p.trim().parse().unwrap();
    }
    let port = postkit_kit::free_port();
    std::fs::write(&file, port.to_string()).unwrap();
    port
}

/// The other three skeletons answer as their examples say.
fn exercise_skeletons(host: &StockHost) {
    use std::io::{BufRead, BufReader, Write};
    // single_server on inet: greeting, echo, bye.
    let conn = std::net::TcpStream::connect(("127.0.0.1", echo_port(host))).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut r = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("hello stranger ("), "{line}");
    writeln!(&conn, "ping").unwrap();
    line.clear();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "echo: ping\n");
    writeln!(&conn, "quit").unwrap();
    line.clear();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "bye\n");
    // event_server on unix: two clients at once, one count.
    let sock = host.path().join("queue/private/count");
    let a = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    let b = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    let mut ra = BufReader::new(a.try_clone().unwrap());
    let mut rb = BufReader::new(b.try_clone().unwrap());
    for (r, w) in [(&mut ra, &a), (&mut rb, &b)] {
        w.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        line.clear();
        r.read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n");
    }
    writeln!(&a, "one").unwrap();
    line.clear();
    ra.read_line(&mut line).unwrap();
    let first: u64 = line.trim().parse().unwrap();
    writeln!(&b, "two").unwrap();
    line.clear();
    rb.read_line(&mut line).unwrap();
    assert_eq!(line.trim().parse::<u64>().unwrap(), first + 1);
    // trigger_server on a fifo, woken by the master's timer.
    host.wait_for(
        |h| h.log().contains("wakeup_log[") && h.log().contains("]: wake-up 2: \"W\""),
        "the timer's wake-ups logged",
    );
}

/// Sends both messages and checks what smtpd and the policy did.
fn exercise(host: &StockHost, round: &str) {
    exercise_skeletons(host);
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
