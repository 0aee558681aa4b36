//! Whole-file locks with `flock()`, as Postfix uses on Linux, so that a
//! postkit process and a Postfix process exclude each other.

use std::os::fd::AsRawFd;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// What to do with the lock.
pub enum LockOp {
    /// Release it.
    Unlock,
    /// Take it shared.
    Shared,
    /// Take it exclusive.
    Exclusive,
}

/// Takes or releases a lock, waiting when `wait` is set.  Interrupted calls
/// are retried; a lock that is busy without waiting is `EAGAIN`.
pub fn myflock(fd: &impl AsRawFd, op: LockOp, wait: bool) -> Result<(), nix::errno::Errno> {
    let mut how = match op {
        LockOp::Unlock => libc::LOCK_UN,
        LockOp::Shared => libc::LOCK_SH,
        LockOp::Exclusive => libc::LOCK_EX,
    };
    if !wait {
        how |= libc::LOCK_NB;
    }
    loop {
        // SAFETY: flock() takes a descriptor number and flags, touches no
        // memory of ours, and `fd` is open for the duration of the call.
        let rc = unsafe { libc::flock(fd.as_raw_fd(), how) };
        if rc == 0 {
            return Ok(());
        }
        match nix::errno::Errno::last() {
            nix::errno::Errno::EINTR => continue,
            nix::errno::Errno::EWOULDBLOCK => return Err(nix::errno::Errno::EAGAIN),
            e => return Err(e),
        }
    }
}
