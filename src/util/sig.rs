//! Signal dispositions: the one place where handlers are installed by
//! hand (the master's own signals go through signal-hook's flags instead).

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction, signal};

/// Ignores `sig` (SIGXFSZ, say, so that a full file system is an error
/// the program sees, not a death).
pub fn ignore(sig: Signal) {
    // SAFETY: SIG_IGN runs no code of ours in signal context.
    let _ = unsafe { signal(sig, SigHandler::SigIgn) };
}

/// Installs `handler` for `sig`, with system calls restarted after it.
///
/// # Safety
///
/// `handler` runs in signal context: it may only call async-signal-safe
/// functions and touch data that is safe to read at any point of the
/// program (atomics, values set once before the handler was installed).
pub unsafe fn set_handler(sig: Signal, handler: extern "C" fn(libc::c_int)) -> nix::Result<()> {
    let action = SigAction::new(
        SigHandler::Handler(handler),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the caller vouches for the handler (see above).
    unsafe { sigaction(sig, &action) }.map(|_| ())
}
