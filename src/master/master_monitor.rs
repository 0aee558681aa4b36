//! `master -w` (Postfix's master_monitor): the command stays in the
//! foreground until the master it starts in the background says it has
//! initialized, and exits 0 only then.  This is how postfix-script's
//! `postfix start` learns whether the mail system came up.
//!
//! Postfix forks; postkit starts itself again instead (the same program
//! and options but `-w`), with the write end of a pipe named in the
//! environment: no fork in a Rust program, and the background master is
//! an ordinary start.  The master writes one byte on the pipe once it runs
//! (`report_ready`); end of file first means it gave up, and its reason is
//! in the log.

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::time::Duration;

use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::util::msg;

use super::master::MasterOptions;

/// Names the descriptor the background master reports on.
pub const MONITOR_FD_ENV: &str = "POSTKIT_MASTER_MONITOR";

/// Generous, as Postfix's: main.cf and master.cf may name hosts and
/// ports that a slow naming service must look up.
const MASTER_INIT_TIMEOUT: Duration = Duration::from_secs(100);

/// Starts the master in the background and waits for it; never returns.
pub fn monitor(me: &str, opts: &MasterOptions) -> ! {
    let (rd, wr) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
        .unwrap_or_else(|e| msg::fatal(format!("pipe: {}", crate::util::nix_text(e))));
    // Only the write end goes to the master.
    if let Err(e) = fcntl(&wr, FcntlArg::F_SETFD(FdFlag::empty())) {
        msg::fatal(format!("fcntl: {}", crate::util::nix_text(e)));
    }
    let exe = std::env::current_exe()
        .unwrap_or_else(|e| msg::fatal(format!("cannot find this program: {e}")));
    let mut child = std::process::Command::new(exe)
        .arg0(me)
        .args(opts.args())
        .env(MONITOR_FD_ENV, wr.as_raw_fd().to_string())
        .spawn()
        .unwrap_or_else(|e| msg::fatal(format!("fork: {e}")));
    drop(wr);
    match wait_byte(&rd) {
        // It runs on in the background, a daemon nobody waits for.
        Ok(true) => std::process::exit(0),
        Ok(false) => {}
        Err(why) => {
            msg::warn(&format!("{why} while waiting for daemon initialization"));
            // It still runs, but something is wrong.
            let _ = child.kill();
        }
    }
    let _ = child.wait();
    msg::fatal("daemon initialization failure -- see logs for details")
}

/// Whether one byte came before end of file; an error or the time limit
/// as its text.
fn wait_byte(rd: &OwnedFd) -> Result<bool, String> {
    let deadline = std::time::Instant::now() + MASTER_INIT_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(crate::util::nix_text(nix::errno::Errno::ETIMEDOUT));
        }
        let ms =
            PollTimeout::try_from(left.as_millis().min(60_000) as i32).unwrap_or(PollTimeout::MAX);
        match poll(&mut [PollFd::new(rd.as_fd(), PollFlags::POLLIN)], ms) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(crate::util::nix_text(e)),
            Ok(_) => {}
        }
        let mut byte = [0u8; 1];
        return match std::fs::File::from(rd.try_clone().map_err(|e| e.to_string())?).read(&mut byte)
        {
            Ok(n) => Ok(n == 1),
            Err(e) => Err(crate::util::errno_text(&e)),
        };
    }
}

/// The pipe a monitor waits on, taken from the environment at start (and
/// kept from the master's children and from a program it re-executes).
pub fn take_monitor_fd() -> Option<OwnedFd> {
    let fd = std::env::var(MONITOR_FD_ENV).ok()?;
    crate::util::safe_env::remove_var(MONITOR_FD_ENV);
    let fd = crate::server::fds::inherited(fd.parse().ok()?)?;
    crate::server::fds::close_on_exec(&fd);
    Some(fd)
}

/// Tells the monitor the master runs.
pub fn report_ready(fd: Option<OwnedFd>) {
    if let Some(fd) = fd {
        let _ = nix::unistd::write(&fd, b"\0");
    }
}
