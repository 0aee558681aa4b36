//! Wakeup timers (Postfix's master_wakeup): a service with a wakeup time
//! in master.cf gets the byte `W` on its endpoint at that interval, as
//! Postfix's pickup and qmgr expect; a conditional timer (`time?`) starts
//! with the service's first child.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::msg_warn;

use super::master::Master;
use super::master_ent::{MasterEnt, ServType};

impl Master {
    /// Sends every wakeup that is due and sets the next.
    pub(super) fn wakeup_timers(&mut self) {
        let now = Instant::now();
        for s in &mut self.services {
            if s.next_wakeup.is_some_and(|t| now >= t) {
                s.next_wakeup = Some(now + Duration::from_secs(s.ent.wakeup_time as u64));
                if s.throttled_until.is_none() {
                    wakeup(&s.ent);
                }
            }
        }
    }
}

/// Sends the wakeup byte `W` to a service, as Postfix's master does.
fn wakeup(ent: &MasterEnt) {
    let result = match ent.kind {
        ServType::Unix => UnixStream::connect(&ent.name).and_then(|mut c| {
            c.set_write_timeout(Some(Duration::from_secs(1)))?;
            c.write_all(b"W")
        }),
        ServType::Fifo => std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&ent.name)
            .and_then(|mut f| f.write_all(b"W")),
        _ => Err(std::io::Error::from_raw_os_error(libc::EOPNOTSUPP)),
    };
    if let Err(e) = result {
        msg_warn!(
            "master_wakeup_timer_event: service {}({}): {}",
            ent.ext_name,
            ent.name,
            crate::util::errno_text(&e)
        );
    }
}
