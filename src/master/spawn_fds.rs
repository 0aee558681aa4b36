//! Starting a child with the master's descriptors in place: the flow pipe
//! on 3 and 4, the status channel on 5, the listening sockets from 6 on,
//! and `GENERATION` in its environment.  Nothing else: a descriptor the
//! master inherited from whoever started it (a shell's open file, a
//! service manager's pipe) is closed in the child at exec, so that a
//! service running as mail_owner never holds what root had open.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

use crate::server::master_proto::{
    MASTER_FLOW_READ, MASTER_FLOW_WRITE, MASTER_GEN_NAME, MASTER_LISTEN_FD, MASTER_STATUS_FD,
};

/// The descriptors a child gets.
pub struct ChildFds<'a> {
    /// The flow-token pipe (read, write end): fds 3 and 4.
    pub flow: Option<(BorrowedFd<'a>, BorrowedFd<'a>)>,
    /// The child's end of the status channel: fd 5.
    pub status: BorrowedFd<'a>,
    /// The listening sockets: fds 6 on.
    pub listen: Vec<BorrowedFd<'a>>,
}

const MAX_PLACED: usize = 256;

/// Spawns `cmd` with `fds` placed and `GENERATION` set to `generation` in
/// octal.  Descriptors are first copied above every target number, so that
/// placing one never overwrites another, whatever numbers they had.
pub fn spawn(mut cmd: Command, fds: &ChildFds, generation: u32) -> std::io::Result<Child> {
    let mut plan: Vec<(i32, i32)> = Vec::new();
    if let Some((r, w)) = &fds.flow {
        plan.push((r.as_raw_fd(), MASTER_FLOW_READ));
        plan.push((w.as_raw_fd(), MASTER_FLOW_WRITE));
    }
    plan.push((fds.status.as_raw_fd(), MASTER_STATUS_FD));
    for (i, l) in fds.listen.iter().enumerate() {
        plan.push((l.as_raw_fd(), MASTER_LISTEN_FD + i as i32));
    }
    if plan.len() > MAX_PLACED {
        return Err(std::io::Error::other(
            "master_spawn: too many listen descriptors",
        ));
    }
    let top = MASTER_LISTEN_FD + fds.listen.len() as i32;
    // A caller that set GENERATION itself (a test of bad values) keeps it.
    if !cmd.get_envs().any(|(k, _)| k == MASTER_GEN_NAME) {
        cmd.env(MASTER_GEN_NAME, format!("{generation:o}"));
    }
    // SAFETY: between fork and exec the closure only calls dup2(), fcntl()
    // and close_range(), which are async-signal-safe, on descriptors that
    // the parent keeps open until spawn() returns; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            let mut high = [0i32; MAX_PLACED];
            for (i, &(from, _)) in plan.iter().enumerate() {
                high[i] = libc::fcntl(from, libc::F_DUPFD_CLOEXEC, top);
                if high[i] < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for (i, &(_, to)) in plan.iter().enumerate() {
                // dup2 leaves close-on-exec clear on the target.
                if libc::dup2(high[i], to) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // Everything above the child's own descriptors closes at exec
            // (a kernel without close_range, before 5.11, leaves them).
            libc::syscall(
                libc::SYS_close_range,
                top as libc::c_uint,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            Ok(())
        })
    };
    cmd.spawn()
}
