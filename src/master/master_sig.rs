//! The master's signals (Postfix's master_sig): SIGHUP reloads, SIGUSR2
//! restarts or upgrades in place (postkit's, as nginx's binary upgrade), SIGCHLD
//! reaps, SIGTERM, SIGINT and SIGQUIT terminate.  Handlers only set flags
//! and write to a self-pipe that the event loop polls, so everything else
//! happens in the loop, outside signal context.

use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use nix::sys::signal::Signal;

/// What the signal handlers tell the event loop.
pub struct Signals {
    hup: Arc<AtomicBool>,
    usr2: Arc<AtomicBool>,
    chld: Arc<AtomicBool>,
    term: Arc<AtomicBool>,
    term_signal: Arc<AtomicUsize>,
    /// Readable whenever a signal arrived: the event loop polls it.
    pub wake: UnixStream,
}

impl Signals {
    /// Installs the handlers.
    pub fn install() -> Result<Signals, String> {
        // A full disk must be an error the master sees when it writes its
        // own records into the log file, not its death.
        crate::util::sig::ignore(Signal::SIGXFSZ);
        let (wake, wake_write) = UnixStream::pair().map_err(|e| e.to_string())?;
        wake.set_nonblocking(true).map_err(|e| e.to_string())?;
        wake_write
            .set_nonblocking(true)
            .map_err(|e| e.to_string())?;
        let signals = Signals {
            hup: Arc::default(),
            usr2: Arc::default(),
            chld: Arc::default(),
            term: Arc::default(),
            term_signal: Arc::default(),
            wake,
        };
        let wake_on = |sig: i32| -> Result<(), String> {
            let w = wake_write.try_clone().map_err(|e| e.to_string())?;
            signal_hook::low_level::pipe::register(sig, w).map_err(|e| e.to_string())?;
            Ok(())
        };
        let flag = |sig: i32, f: &Arc<AtomicBool>| {
            signal_hook::flag::register(sig, Arc::clone(f)).map_err(|e| e.to_string())
        };
        flag(signal_hook::consts::SIGHUP, &signals.hup)?;
        wake_on(signal_hook::consts::SIGHUP)?;
        flag(signal_hook::consts::SIGUSR2, &signals.usr2)?;
        wake_on(signal_hook::consts::SIGUSR2)?;
        flag(signal_hook::consts::SIGCHLD, &signals.chld)?;
        wake_on(signal_hook::consts::SIGCHLD)?;
        for sig in [
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGQUIT,
        ] {
            flag(sig, &signals.term)?;
            signal_hook::flag::register_usize(sig, Arc::clone(&signals.term_signal), sig as usize)
                .map_err(|e| e.to_string())?;
            wake_on(sig)?;
        }
        Ok(signals)
    }

    /// Empties the self-pipe.
    pub fn drain(&self) {
        use std::io::Read;
        let mut buf = [0u8; 64];
        while matches!((&self.wake).read(&mut buf), Ok(n) if n > 0) {}
    }

    /// The terminating signal, if one arrived since the last call.
    pub fn take_term(&self) -> Option<i32> {
        self.term
            .swap(false, Ordering::SeqCst)
            .then(|| self.term_signal.load(Ordering::SeqCst) as i32)
    }

    /// Whether a child ended since the last call.
    pub fn take_chld(&self) -> bool {
        self.chld.swap(false, Ordering::SeqCst)
    }

    /// Whether a restart or upgrade in place was asked for (SIGUSR2).
    pub fn take_usr2(&self) -> bool {
        self.usr2.swap(false, Ordering::SeqCst)
    }

    /// Whether a reload was asked for since the last call.
    pub fn take_hup(&self) -> bool {
        self.hup.swap(false, Ordering::SeqCst)
    }
}
