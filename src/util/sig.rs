//! Signal dispositions that install no handler of ours.

use nix::sys::signal::{SigHandler, Signal, signal};

/// Ignores `sig` (SIGXFSZ, say, so that a full file system is an error
/// the program sees, not a death).
pub fn ignore(sig: Signal) {
    // SAFETY: SIG_IGN runs no code of ours in signal context.
    let _ = unsafe { signal(sig, SigHandler::SigIgn) };
}
