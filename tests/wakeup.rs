//! Wake-ups, end to end: the master's `W` reaches unix, fifo, inet and
//! pass services as Postfix's master sends it; an endpoint that mail_owner
//! replaced (a symbolic link to root's file, a root-only fifo, a socket
//! that never accepts) costs a warning, never a write through the link nor
//! a frozen master.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::instance::{Instance, POSTLOG};

/// A service command that accepts on fd 6 forever and notes what each
/// connection brought (for `pass`, what the passed descriptor holds).
const NOTER: &str = r#"#!/usr/bin/python3
import os, socket, sys
kind, notes = sys.argv[-2], sys.argv[-1]
l = socket.socket(fileno=6)
l.setblocking(True)
while True:
    c, _ = l.accept()
    if kind == "pass":
        _, fds, _, _ = socket.recv_fds(c, 1, 1)
        data = os.read(fds[0], 16)
    else:
        data = c.recv(16)
    with open(notes, "a") as f:
        f.write("%s %r\n" % (kind, data))
    c.close()
"#;

/// A service command that takes nothing and exits only when told to.
const SLEEPER: &str = "#!/bin/sh\nexec sleep 3600\n";

fn notes_file(i: &Instance) -> std::path::PathBuf {
    let notes = i.path().join("notes");
    std::fs::write(&notes, "").unwrap();
    std::fs::set_permissions(&notes, std::fs::Permissions::from_mode(0o666)).unwrap();
    notes
}

/// Every service type Postfix wakes gets `W` and a null byte (a pass
/// service on a descriptor passed to it), every second.
#[test]
fn wakeups_reach_unix_inet_and_pass_services() {
    let port = common::free_port();
    let mut i = Instance::new(
        &format!(
            "{POSTLOG}uwake unix n - n 1 1 noter unix NOTES\n\
             127.0.0.1:{port} inet n - n 1 1 noter inet NOTES\n\
             pwake pass n - n 1 1 noter pass NOTES\n"
        ),
        "",
    );
    i.install_command("noter", NOTER);
    let notes = notes_file(&i);
    i.edit_master_cf("NOTES", &notes.display().to_string());
    i.start();
    for kind in ["unix", "inet", "pass"] {
        i.wait_for(
            |_| {
                std::fs::read_to_string(&notes)
                    .unwrap_or_default()
                    .matches(&format!("{kind} b'W\\x00'\n"))
                    .count()
                    >= 2
            },
            &format!("two {kind} wake-ups"),
        );
    }
    assert!(
        !i.log().contains("master_wakeup_timer_event"),
        "no wake-up failed:\n{}",
        i.log()
    );
}

/// Issue 20.1: the fifo of a service with a wakeup time is replaced by a
/// symbolic link to a file (as mail_owner, who owns `public/`, can).  The
/// master warns and writes nothing through the link.
#[test]
fn fifo_replaced_by_a_symlink_is_not_written_through() {
    let mut i = Instance::new(&format!("{POSTLOG}wake fifo n - n 1 1 sleeper\n"), "");
    i.install_command("sleeper", SLEEPER);
    i.start();
    let victim = i.path().join("passwd");
    std::fs::write(&victim, "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    let fifo = i.path().join("queue/public/wake");
    std::fs::remove_file(&fifo).unwrap();
    std::os::unix::fs::symlink(&victim, &fifo).unwrap();
    i.wait_for(
        |i| {
            i.log()
                .contains("warning: master_wakeup_timer_event: service wake(public/wake): Too many levels of symbolic links")
        },
        "the wake-up's warning",
    );
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "root:x:0:0:root:/root:/bin/bash\n"
    );
}

/// The wake-up is sent with mail_owner's rights: a fifo mail_owner may not
/// write (root's, mode 0600) is refused with Postfix's "Permission
/// denied", where root's own rights would have opened it.
#[test]
#[cfg_attr(postkit_unprivileged_build, ignore = "needs root")]
fn wakeup_is_sent_with_mail_owners_rights() {
    if !common::needs_root("wakeup_is_sent_with_mail_owners_rights") {
        return;
    }
    let mut i = Instance::new(&format!("{POSTLOG}wake fifo n - n 1 1 sleeper\n"), "");
    i.install_command("sleeper", SLEEPER);
    i.start();
    let fifo = i.path().join("queue/public/wake");
    std::fs::remove_file(&fifo).unwrap();
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    // A reader, so that a write would go through if the open did.
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags_nonblock()
        .open(&fifo)
        .unwrap();
    i.wait_for(
        |i| {
            i.log().contains(
                "warning: master_wakeup_timer_event: service wake(public/wake): Permission denied",
            )
        },
        "Permission denied",
    );
    let mut buf = [0u8; 16];
    let n = nix::unistd::read(&reader, &mut buf).unwrap_or(0);
    assert_eq!(n, 0, "nothing was written into root's fifo");
}

trait NonBlock {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}

impl NonBlock for std::fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::custom_flags(self, libc::O_NONBLOCK)
    }
}

/// Fills the backlog of a listening socket that never accepts.
fn fill_backlog(path: &Path) -> Vec<std::os::fd::OwnedFd> {
    use nix::sys::socket::*;
    let mut held = Vec::new();
    loop {
        let s = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_NONBLOCK,
            None,
        )
        .unwrap();
        match connect(
            std::os::fd::AsRawFd::as_raw_fd(&s),
            &UnixAddr::new(path).unwrap(),
        ) {
            Ok(()) => held.push(s),
            Err(nix::errno::Errno::EAGAIN) => return held,
            Err(e) => panic!("connect: {e}"),
        }
        assert!(held.len() < 10_000);
    }
}

/// Issue 20.2: the socket of a unix service with a wakeup time is replaced
/// by one that listens with a full backlog and never accepts.  The master
/// warns (Postfix's "Resource temporarily unavailable") and keeps serving:
/// `status` answers, records are logged, across several wake-ups.
#[test]
fn blackholed_unix_wakeup_does_not_freeze_the_master() {
    let mut i = Instance::new(&format!("{POSTLOG}pickup unix n - n 1 1 sleeper\n"), "");
    i.install_command("sleeper", SLEEPER);
    i.start();
    let sock = i.path().join("queue/public/pickup");
    std::fs::remove_file(&sock).unwrap();
    let hole = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    // Anyone may connect, as to mail_owner's own sockets.
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let _held = fill_backlog(&sock);
    i.wait_for(
        |i| {
            i.log().contains(
                "warning: master_wakeup_timer_event: service pickup(public/pickup): Resource temporarily unavailable",
            )
        },
        "the blackholed wake-up's warning",
    );
    let start = Instant::now();
    let mut answers = 0;
    while start.elapsed() < Duration::from_secs(3) {
        let (code, out, err) = i.ctl("status");
        assert_eq!(code, 0, "status answers during the attack: {err}");
        assert!(out.contains("pickup"));
        answers += 1;
    }
    assert!(answers >= 2);
    common::run(
        std::process::Command::new(common::postkit())
            .arg("-c")
            .arg(i.path())
            .args(["postlog", "-t", "probe", "still logging"]),
    );
    i.wait_for(
        |i| i.log().contains("probe"),
        "a record logged during the attack",
    );
    drop(hole);
}
