//! systemd, both ways (no Postfix counterpart).  As a `Type=notify`
//! service the master says READY=1 only once every service listens (with
//! a one-line STATUS=), RELOADING=1 and READY=1 around a reload,
//! STOPPING=1 when it stops, and WATCHDOG=1 at half the unit's
//! WatchdogSec.  With socket activation, a master.cf service whose socket
//! the service manager passes by name (`FileDescriptorName=` = the
//! master.cf service name) uses it instead of binding: the socket lives in
//! the service manager and survives even a `kill -9` of the master.
//! Without NOTIFY_SOCKET and LISTEN_FDS nothing here does anything.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use sd_notify::NotifyState;

use super::service_table::Services;

/// The master's side of the service manager.
#[derive(Debug, Default)]
pub struct Systemd {
    /// NOTIFY_SOCKET was set.
    notify: bool,
    /// WATCHDOG=1 this often, when the unit has a watchdog.
    watchdog: Option<Duration>,
    last_watchdog: Option<Instant>,
    /// Sockets passed by name, not yet taken by a service.
    pub activated: HashMap<String, OwnedFd>,
}

impl Systemd {
    /// Reads (and removes, so that children do not see them) the service
    /// manager's variables; claims the passed sockets.
    pub fn from_env() -> Systemd {
        let notify = std::env::var_os("NOTIFY_SOCKET").is_some();
        let mut usec = 0;
        let watchdog = sd_notify::watchdog_enabled(true, &mut usec)
            .then(|| Duration::from_micros(usec / 2).max(Duration::from_millis(10)));
        let mut activated = HashMap::new();
        if let Ok(fds) = sd_notify::listen_fds_with_names(true) {
            for (fd, name) in fds {
                if let Some(owned) = crate::server::fds::inherited(fd) {
                    activated.insert(name, owned);
                }
            }
        }
        Systemd {
            notify,
            watchdog,
            last_watchdog: None,
            activated,
        }
    }

    /// Whether a service manager runs the master (its stderr is the
    /// manager's journal, not a terminal).
    pub fn managed(&self) -> bool {
        self.notify
    }

    fn send(&self, states: &[NotifyState]) {
        if self.notify {
            let _ = sd_notify::notify(false, states);
        }
    }

    /// The socket passed for service `name`, if any.
    pub fn take(&mut self, name: &str) -> Option<OwnedFd> {
        self.activated.remove(name)
    }

    /// When the next WATCHDOG=1 is due.
    pub fn next_watchdog(&self) -> Option<Instant> {
        let every = self.watchdog?;
        Some(self.last_watchdog.map_or_else(Instant::now, |t| t + every))
    }
}

impl Systemd {
    /// Every service listens: READY=1 with a STATUS= line.
    pub fn notify_ready(&self, services: &Services) {
        let procs: usize = services.iter().map(|s| s.total_proc()).sum();
        let throttled = services
            .iter()
            .filter(|s| s.throttled_until.is_some())
            .count();
        let status = format!(
            "{} services, {procs} processes, {throttled} throttled",
            services.len()
        );
        self.send(&[NotifyState::Ready, NotifyState::Status(&status)]);
    }

    /// A reload begins.
    pub fn notify_reloading(&self) {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[NotifyState::Reloading, now]),
            Err(_) => self.send(&[NotifyState::Reloading]),
        }
    }

    /// The master stops.
    pub fn notify_stopping(&self) {
        self.send(&[NotifyState::Stopping]);
    }

    /// WATCHDOG=1 when due.
    pub fn watchdog(&mut self) {
        if self.next_watchdog().is_some_and(|t| Instant::now() >= t) {
            self.send(&[NotifyState::Watchdog]);
            self.last_watchdog = Some(Instant::now());
        }
    }
}
