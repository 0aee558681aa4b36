//! Draining (Postfix's `multi_server_drain` and `event_server_drain`): a
//! process that keeps clients stops taking new ones and finishes those it
//! has in the background, so that the master can start a fresh process
//! at once (after `postfix reload`, say) instead of waiting for the last
//! client of the old one.  As in Postfix, the process forks: the parent
//! exits at once (the master counts it gone), the child keeps the clients
//! and the event loop, without the listening sockets.
//!
//! A fork is only safe in a process with one thread (a lock another
//! thread held would stay held in the child forever, and POSIX makes
//! anything but async-signal-safe calls undefined there).  The skeletons
//! are single-threaded, but a service may start threads of its own, so
//! the thread count is read before each fork from the process's
//! `/proc/self/task`, opened at start-up so that a chroot does not hide
//! it.  When it shows other threads, or cannot be read, the process drains
//! in place instead: it stops accepting and finishes its clients itself,
//! and the master counts it until it exits.

use std::fs::File;
use std::os::fd::AsFd;

/// `/proc/self/task`, opened before chroot.
pub(crate) struct TaskDir(Option<File>);

impl TaskDir {
    /// Opens the directory (None when /proc is not mounted).
    pub(crate) fn open() -> TaskDir {
        TaskDir(File::open("/proc/self/task").ok())
    }

    /// No directory: a drain never forks.
    pub(crate) fn none() -> TaskDir {
        TaskDir(None)
    }

    /// The number of threads of this process, when it can be read.
    fn threads(&self) -> Option<usize> {
        let dir = self.0.as_ref()?;
        let fd = dir.as_fd().try_clone_to_owned().ok()?;
        // A duplicate shares the read position: start from the top.
        nix::unistd::lseek(&fd, 0, nix::unistd::Whence::SeekSet).ok()?;
        let mut d = nix::dir::Dir::from_fd(fd).ok()?;
        let n = d
            .iter()
            .filter_map(Result::ok)
            .filter(|e| !matches!(e.file_name().to_bytes(), b"." | b".."))
            .count();
        Some(n)
    }
}

/// What a drain request led to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Drained {
    /// This is the background child: finish the clients.
    InChild,
    /// No fork (other threads, or their number unknown): finish the
    /// clients in this process.
    InPlace(String),
    /// The fork failed: try again later.
    Failed(String),
}

/// Forks to drain.  In the parent this does not return (exit status 0,
/// without the exit hook: the child runs it when it is done, as in
/// Postfix).
pub(crate) fn fork_to_drain(tasks: &TaskDir) -> Drained {
    match tasks.threads() {
        Some(1) => {}
        Some(n) => return Drained::InPlace(format!("the process runs {n} threads")),
        None => return Drained::InPlace("/proc/self/task cannot be read".into()),
    }
    // SAFETY: the process has exactly one thread (counted just above, and
    // this thread is the one running), so the child inherits no lock held
    // by another thread and may run any code.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { .. }) => std::process::exit(0),
        Ok(nix::unistd::ForkResult::Child) => {
            // The alarm behind the watchdog is not inherited.
            crate::util::watchdog::after_fork();
            Drained::InChild
        }
        Err(e) => Drained::Failed(crate::util::nix_text(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_fork_while_another_thread_runs() {
        let t = TaskDir::open();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let h = std::thread::spawn(move || {
            let _ = rx.recv();
        });
        // At least this thread and the one just started.
        assert!(t.threads().unwrap() >= 2);
        assert!(matches!(
            fork_to_drain(&t),
            Drained::InPlace(w) if w.contains("threads")
        ));
        drop(tx);
        h.join().unwrap();
        assert!(matches!(
            fork_to_drain(&TaskDir::none()),
            Drained::InPlace(w) if w.contains("cannot be read")
        ));
    }
}
