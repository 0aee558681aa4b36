//! Taking ownership of the descriptors a master hands its children (3, 4, 5
//! and 6 on) and those a master hands the program it re-executes for an
//! upgrade: the one place where raw descriptor numbers become owned
//! objects.

use std::os::fd::{FromRawFd, OwnedFd};

/// Claims inherited descriptor `fd` if it is open.
///
/// Call once per number: two owners of one descriptor would close it twice.
pub fn inherited(fd: i32) -> Option<OwnedFd> {
    if !is_open(fd) {
        return None;
    }
    // SAFETY: the descriptor is open (checked above) and, by the protocol
    // that passed it (the master/child protocol's descriptors 3 to 6+N-1,
    // or the numbers a master's hand-over names), it belongs to the caller
    // alone; each is claimed once, at start-up, so nobody else owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether descriptor `fd` is open (without claiming it).
pub fn is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD only queries the descriptor table.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Marks a descriptor close-on-exec, so that programs a service runs do not
/// inherit the master's channels.
pub fn close_on_exec(fd: &OwnedFd) {
    let _ = nix::fcntl::fcntl(
        fd,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
}

/// Clears close-on-exec on descriptor `fd` by number, so that a program
/// this process executes next keeps it (a master handing its sockets back
/// to the program it replaced).  A number that is not open is left alone.
pub fn keep_across_exec(fd: i32) {
    // SAFETY: F_SETFD only changes this descriptor's flags; an invalid
    // number makes fcntl fail with EBADF, which is ignored.
    unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
}
