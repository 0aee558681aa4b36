//! systemd, played by the test (CI has no systemd as process 1): the
//! notification protocol a Type=notify unit sees, and socket activation
//! with the socket held by the "service manager" across a kill -9 of the
//! master; and Debian's `systemd-socket-activate --datagram` as the
//! service manager.

mod common;

use std::os::unix::process::ExitStatusExt;

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::instance::{Instance, POSTLOG};

/// The next notification that contains `what`, within five seconds.
fn expect(sock: &UnixDatagram, what: &str, seen: &mut Vec<String>) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            seen.push(msg.clone());
            if msg.contains(what) {
                return msg;
            }
        }
    }
    panic!("no {what:?} among {seen:?}");
}

#[test]
fn type_notify_ready_reloading_stopping_and_watchdog() {
    let mut i = Instance::new(POSTLOG, "");
    let path = i.path().join("notify");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let env = format!("NOTIFY_SOCKET={}", path.display());
    // As systemd sets them: WATCHDOG_PID is the master's own pid.
    i.start_with(&[
        "sh",
        "-c",
        "export WATCHDOG_PID=$$ WATCHDOG_USEC=200000; exec env \"$@\"",
        "sh",
        &env,
    ]);
    let mut seen = Vec::new();
    let ready = expect(&sock, "READY=1", &mut seen);
    assert!(ready.contains("STATUS=1 services, "), "{ready}");
    // Ready means listening: the control socket and the service's socket.
    assert!(i.path().join("queue/pid/master.control").exists());
    assert!(i.postlog_socket().exists());
    expect(&sock, "WATCHDOG=1", &mut seen);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i.master_pid()),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    let reloading = expect(&sock, "RELOADING=1", &mut seen);
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    expect(&sock, "READY=1", &mut seen);
    i.stop();
    expect(&sock, "STOPPING=1", &mut seen);
}

/// The socket lives in the service manager: records sent while no master
/// runs (after a kill -9 of it) wait in the socket and are logged by the
/// next master, which uses the socket it is given instead of binding one.
#[test]
fn socket_activation_keeps_the_log_socket_across_a_kill_9_of_the_master() {
    let mut i = Instance::new(POSTLOG, "");
    for dir in ["queue", "queue/public"] {
        std::fs::create_dir_all(i.path().join(dir)).unwrap();
    }
    let socket_path = i.postlog_socket();
    let held = UnixDatagram::bind(&socket_path).unwrap();
    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&socket_path).unwrap());
    nix::fcntl::fcntl(
        &held,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )
    .unwrap();
    // As systemd does: the socket at descriptor 3, LISTEN_PID the
    // master's own pid (exec keeps it), the name of the service it is for.
    let activate = format!(
        "import os, sys; os.dup2({fd}, 3); os.environ['LISTEN_FDS'] = '1'; \
         os.environ['LISTEN_FDNAMES'] = 'postlog'; os.environ['LISTEN_PID'] = str(os.getpid()); \
         os.execv(sys.argv[1], sys.argv[1:])",
        fd = held.as_raw_fd()
    );
    i.start_with(&["python3", "-c", &activate]);
    i.send("postlog", b"first, through the activated socket");
    i.wait_for(
        |i| i.log().contains("first, through the activated socket"),
        "the first record",
    );
    // kill -9 of the master: its children go, the socket stays (held here).
    let master = i.master_pid();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(master),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = i.master.take().map(|mut m| m.wait());
    std::thread::sleep(Duration::from_millis(1500));
    i.send("postlog", b"sent while no master runs");
    i.start_with(&["python3", "-c", &activate]);
    i.wait_for(
        |i| i.log().contains("sent while no master runs"),
        "the waiting record",
    );
    assert_eq!(
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&socket_path).unwrap()),
        inode,
        "the master used the socket it was given"
    );
}

/// Debian's own socket activator plays systemd: `systemd-socket-activate
/// --datagram` binds the log socket, waits for the first datagram, then
/// executes `postkit start-fg` with LISTEN_FDS, LISTEN_FDNAMES and
/// LISTEN_PID.  The record sent before any master existed is logged, and
/// the master uses the activator's socket.
#[test]
fn start_fg_under_systemd_socket_activate_uses_the_passed_socket() {
    let mut i = Instance::new(POSTLOG, "");
    for dir in ["queue", "queue/public"] {
        std::fs::create_dir_all(i.path().join(dir)).unwrap();
    }
    let socket_path = i.postlog_socket();
    let child = std::process::Command::new("systemd-socket-activate")
        .arg("--datagram")
        .arg("-l")
        .arg(&socket_path)
        .arg("--fdname=postlog")
        .arg(common::postkit())
        .arg("-c")
        .arg(i.path())
        .arg("start-fg")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(i.path().join("stderr")).unwrap())
        .spawn()
        .expect("systemd-socket-activate (Debian's systemd package)");
    let pid = child.id();
    i.master = Some(child);
    i.wait_for(|i| i.postlog_socket().exists(), "the activator's socket");
    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&socket_path).unwrap());
    assert!(
        std::fs::read_to_string(i.path().join("maillog")).is_err(),
        "nothing ran before the first datagram"
    );
    i.send("postlog", b"sent before any master existed");
    i.wait_for(
        |i| i.log().contains("sent before any master existed"),
        "the first record, through the activated socket",
    );
    // The activator executed postkit in its own process, as systemd
    // would: LISTEN_PID is the master's pid.
    let claimed = std::fs::read_to_string(i.path().join("queue/pid/master.pid")).unwrap();
    assert_eq!(claimed.trim(), pid.to_string());
    i.send("postlog", b"and one more");
    i.wait_for(|i| i.log().contains("and one more"), "the second record");
    assert_eq!(
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&socket_path).unwrap()),
        inode,
        "the master used the socket it was given"
    );
    let (code, _, err) = i.ctl_with(&[], "stop");
    assert_eq!(code, 0, "{err}");
    let status = i.master.take().unwrap().wait().unwrap();
    // Stopped, it ends by the signal, as Postfix's master does.
    assert_eq!(status.signal(), Some(15), "start-fg ended with {status}");
    let stderr = std::fs::read_to_string(i.path().join("stderr")).unwrap();
    assert!(
        stderr.contains("starting the master in the foreground"),
        "{stderr}"
    );
}
