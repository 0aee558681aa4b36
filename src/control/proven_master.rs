//! Which master runs a configuration, proven before anything is signalled.
//!
//! The pid file's text is not proof: whoever owns the queue directory can
//! write any number into it, and root's `postkit stop` would then signal
//! that process.  A master is proven when the process at the other end of
//! the control socket (the kernel's SO_PEERCRED, not its word) answers a
//! status request naming itself, and /proc/locks shows that same process
//! holding the pid file's lock.  Only that pid is ever signalled.

use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};

use crate::master::master_control::CONTROL_SOCKET;
use crate::master::master_queue::{PID_FILE, running_master};

/// What runs a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterState {
    /// Nobody holds the pid file's lock.
    NotRunning,
    /// A postkit master, proven: its pid.
    Postkit(i32),
    /// The lock is held, but not by a postkit master that answers on the
    /// control socket (Postfix's own master, say): why, for the operator.
    Unproven(String),
}

/// Finds out what runs the configuration whose queue is `queue_directory`.
pub fn master_state(queue_directory: &str) -> MasterState {
    let q = Path::new(queue_directory);
    let Some(claimed) = running_master(queue_directory) else {
        // A pid file this user may not open (root's, mode 0600) can still
        // be locked: /proc/locks tells, by its inode.
        let pid_file = q.join(PID_FILE);
        if std::fs::File::open(&pid_file)
            .is_err_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied)
            && let Some(holder) = flock_holder(&pid_file)
        {
            let owner = std::fs::metadata(q.join(CONTROL_SOCKET))
                .ok()
                .and_then(|m| nix::unistd::User::from_uid(m.uid().into()).ok().flatten())
                .map_or_else(|| "another user".to_string(), |u| u.name);
            return MasterState::Unproven(format!(
                "a master runs this configuration (PID {holder}{}), but its control socket and pid file are {owner}'s: run this command as {owner}",
                describe(holder)
            ));
        }
        return MasterState::NotRunning;
    };
    let who = describe(claimed);
    let unproven = |why: String| {
        MasterState::Unproven(format!(
            "{} is locked (it names PID {claimed}{who}), but {why}; nothing was changed",
            q.join(PID_FILE).display()
        ))
    };
    let conn = match UnixStream::connect(q.join(CONTROL_SOCKET)) {
        Ok(c) => c,
        Err(e) => {
            return unproven(format!(
                "no postkit master answers on {} ({}): if Postfix runs this configuration, use `postfix stop`",
                q.join(CONTROL_SOCKET).display(),
                crate::util::errno_text(&e)
            ));
        }
    };
    let peer = match getsockopt(&conn, PeerCredentials) {
        Ok(c) => c.pid(),
        Err(e) => return unproven(format!("SO_PEERCRED: {}", crate::util::nix_text(e))),
    };
    match ask_status(conn) {
        Ok(text) if first_line_pid(&text) == Some(peer) => {}
        Ok(_) => {
            return unproven(format!(
                "the process on the control socket (PID {peer}) does not answer as a postkit master"
            ));
        }
        Err(e) => {
            return unproven(format!(
                "the control socket's process (PID {peer}) did not answer: {}",
                crate::util::errno_text(&e)
            ));
        }
    }
    if !holds_flock(&q.join(PID_FILE), peer) {
        return unproven(format!(
            "the control socket's process (PID {peer}) does not hold that lock"
        ));
    }
    MasterState::Postkit(peer)
}

/// `status` over an open control connection.
fn ask_status(mut s: UnixStream) -> std::io::Result<String> {
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    s.write_all(b"status")?;
    s.shutdown(std::net::Shutdown::Write)?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// The pid in a status report's first line, `master pid N ...`.
fn first_line_pid(report: &str) -> Option<i32> {
    report
        .lines()
        .next()?
        .strip_prefix("master pid ")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Whether /proc/locks shows `pid` holding a flock() lock on `path`.
pub fn holds_flock(path: &Path, pid: i32) -> bool {
    let Some(want) = file_id(path) else {
        return false;
    };
    retried(|| {
        flock_holders(&read_proc_locks(), want)
            .contains(&pid)
            .then_some(())
    })
    .is_some()
}

/// The process /proc/locks shows holding a flock() lock on `path`.
fn flock_holder(path: &Path) -> Option<i32> {
    let want = file_id(path)?;
    retried(|| flock_holders(&read_proc_locks(), want).first().copied())
}

/// A file as /proc/locks names it: (major, minor, inode).
fn file_id(path: &Path) -> Option<(u64, u64, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((
        nix::sys::stat::major(meta.dev()),
        nix::sys::stat::minor(meta.dev()),
        meta.ino(),
    ))
}

/// /proc/locks is read in pieces; entries that come and go meanwhile (the
/// log writers lock and unlock all the time) can make the reader skip one:
/// one large read, and a few tries.
fn retried<T>(look: impl Fn() -> Option<T>) -> Option<T> {
    (0..10).find_map(|attempt| {
        if attempt > 0 {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        look()
    })
}

/// /proc/locks, in as few reads as possible.
fn read_proc_locks() -> String {
    use std::io::Read;
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0;
    if let Ok(mut f) = std::fs::File::open("/proc/locks") {
        while len < buf.len() {
            match f.read(&mut buf[len..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => len += n,
            }
        }
    }
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

/// The processes the text of /proc/locks lists holding a flock() lock on
/// the file `(major, minor, inode)`.
fn flock_holders(locks: &str, want: (u64, u64, u64)) -> Vec<i32> {
    locks
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            // `N: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE 0 EOF`; waiters
            // have a `->` after the number.
            if f.len() < 6 || f[1] != "FLOCK" {
                return None;
            }
            let mut dev = f[5].split(':');
            let parsed = (
                dev.next().and_then(|m| u64::from_str_radix(m, 16).ok()),
                dev.next().and_then(|m| u64::from_str_radix(m, 16).ok()),
                dev.next().and_then(|i| i.parse::<u64>().ok()),
            );
            (parsed == (Some(want.0), Some(want.1), Some(want.2)))
                .then(|| f[4].parse().ok())
                .flatten()
        })
        .collect()
}

/// ` (COMMAND)` for a pid, when /proc tells.
fn describe(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| format!(", {}", c.trim()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_report_names_its_master() {
        assert_eq!(
            first_line_pid("master pid 42 postkit-0.1.0 configuration /x\n"),
            Some(42)
        );
        assert_eq!(first_line_pid("unknown request: x\n"), None);
        assert_eq!(first_line_pid(""), None);
    }

    #[test]
    fn a_flock_holder_is_found_in_proc_locks() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("lock");
        let f = std::fs::File::create(&p).unwrap();
        let me = std::process::id() as i32;
        assert!(!holds_flock(&p, me));
        crate::util::myflock::myflock(&f, crate::util::myflock::LockOp::Exclusive, false).unwrap();
        assert!(holds_flock(&p, me));
        assert!(!holds_flock(&p, me + 1));
    }
}
