//! The master's event loop (Postfix's master.c main loop and its timers):
//! signals first, then the descriptors that are ready (status records,
//! children's stderr, work on a watched socket, control clients, inet
//! wake-ups), then timers and supervision when they are due.

use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::poll::PollTimeout;

use crate::msg_info;

use super::master::Master;
use super::master_events::{Events, Token};
use super::master_metrics::{self, MasterInfo};
use super::master_sig::Signals;

impl Master {
    pub(super) fn main_loop(&mut self, signals: Signals) -> ! {
        self.watch_all(signals.wake.as_fd());
        let mut ready = Vec::new();
        // When the last two turns began, and how many status records the
        // last one read.
        let (mut prev_turn, mut last_turn) = (Instant::now(), Instant::now());
        let mut records = 0;
        loop {
            // Records coming at a rate that fills a pause: what comes
            // within PACE of the last turn is taken in one turn (see PACE).
            if pays_to_pause(records, last_turn - prev_turn)
                && let Some(left) = PACE.checked_sub(last_turn.elapsed())
            {
                std::thread::sleep(left);
            }
            let timeout = self.wait_timeout();
            self.events.wait(timeout, &mut ready);
            (prev_turn, last_turn) = (last_turn, Instant::now());
            records = 0;
            // Signals first: a reload or stop changes everything else.
            // The flags are read every turn; the self-pipe is emptied only
            // when it woke the loop (a signal that came after the wait is
            // handled now by its flag, and its byte wakes the next wait).
            if ready.contains(&Token::Wake) {
                signals.drain();
            }
            if let Some(sig) = signals.take_term() {
                self.terminate(sig);
            }
            let mut other = false;
            if signals.take_chld() {
                self.reap();
                other = true;
            }
            if signals.take_hup() {
                self.systemd.notify_reloading();
                self.reload();
                self.watch_all(signals.wake.as_fd());
                self.systemd.notify_ready(&self.services);
                continue;
            }
            if signals.take_usr2() {
                self.upgrade.start(&self.life.exe, &self.conf.config_dir);
                other = true;
            }
            if self.upgrade.take_ready() {
                self.exec_upgrade();
                self.watch_all(signals.wake.as_fd());
                continue;
            }
            let mut to_spawn = Vec::new();
            for &token in &ready {
                match token {
                    Token::Wake => {}
                    Token::Status(id) => {
                        records += self.status_event(id);
                        self.sync_listen(id);
                    }
                    Token::Stderr(id) => self.stderr_event(id),
                    Token::Listen(id) => to_spawn.push(id),
                    Token::Control => {
                        self.control.accept(&self.events);
                        other = true;
                    }
                    Token::Client(id) => {
                        let info = MasterInfo {
                            config_dir: &self.conf.config_dir,
                            execs: self.life.execs,
                        };
                        let services = &self.services;
                        self.control
                            .client_event(id, &self.events, |request| match request {
                                "status" => master_metrics::text(&info, services),
                                "status json" => master_metrics::json(&info, services),
                                "status prometheus" => master_metrics::prometheus(&info, services),
                                other => format!("unknown request: {other}\n"),
                            });
                        other = true;
                    }
                    Token::Wakeup(id) => self.wakeups.event(id, &self.events),
                }
            }
            if !to_spawn.is_empty() {
                self.avail_event(to_spawn);
                other = true;
            }
            if other || Instant::now() >= self.next_housekeeping {
                self.housekeeping();
            }
            self.systemd.watchdog();
            if let Some(secs) = self.conf.opts.exit_after
                && self.life.started.elapsed() >= Duration::from_secs(secs)
            {
                msg_info!("master exit time has arrived");
                std::process::exit(0);
            }
        }
    }
}
/// The least time between two turns of the loop while status records
/// come at a moderate rate.  A mail host's daemons tell the master TAKEN
/// and AVAIL for every request (Postfix's protocol, which its C daemons
/// speak): under SMTP load that was a dozen master wake-ups per message,
/// each a pair of context switches costing more than the records it read
/// (docs/benchmarks.md, whole host).  When the last turn's records, at the
/// rate they came since the turn before, would make PACED_RECORDS in a
/// pause, the master pauses until PACE after that turn began and reads
/// what every channel holds then in one turn.  Not at a lower rate:
/// records that come one or two at a time (a service's requests a few
/// milliseconds apart) would gain nothing and pay for the pause's own
/// wake-up; an idle master answers at once.  Not at a higher one: it
/// would fill a child's status channel within a pause (the child would
/// block in its status write), and each wake-up reads many anyway.  Under
/// load nothing the master does waits more than PACE longer: a spawn for
/// a service whose processes are all busy (the connection waits in the
/// listen queue meanwhile, as it waits for the fork and exec anyway), a
/// reap, a signal, a control request.  Two milliseconds: against one,
/// the master's CPU per message of the whole host fell by a fifth to a
/// third (one wake-up per message instead of one and a half at one SMTP
/// session), and a pause still holds a few hundred records at the
/// highest rate it is taken at, far below a status channel's 5,461.
const PACE: Duration = Duration::from_millis(2);

/// The records a pause should gather for the loop to pause (see PACE).
const PACED_RECORDS: std::ops::Range<f64> = 4.0..64.0;

/// Whether `records` read by a turn that came `gap` after the one before
/// say the next turn should wait for PACE.
fn pays_to_pause(records: usize, gap: Duration) -> bool {
    let per_pace = records as f64 * PACE.as_secs_f64() / gap.as_secs_f64().max(1e-9);
    records > 0 && PACED_RECORDS.contains(&per_pace)
}

/// The longest the loop sleeps: stopped children and silent control
/// clients are looked at about once a second.
const TICK: Duration = Duration::from_secs(1);

impl Master {
    /// A fresh event set holding everything the master watches now: at
    /// start and after a reload.  The old set goes, with every
    /// registration in it.
    pub(super) fn watch_all(&mut self, wake: BorrowedFd<'_>) {
        let events = Events::new();
        events.add(wake, Token::Wake);
        self.control.watch_all(&events);
        self.wakeups.watch_all(&events);
        for id in self.services.ids() {
            let s = &mut self.services[id];
            if let Some((m, _)) = &s.status {
                events.add(m, Token::Status(id));
            }
            if let Some((r, _)) = &s.stderr {
                events.add(r, Token::Stderr(id));
            }
            s.listening = false;
        }
        self.events = events;
        self.housekeeping();
    }

    /// Timers and supervision over every service: throttles lifted,
    /// wakeups sent, stopped children, silent control clients; then each
    /// service's listening state, and when this must run next.
    pub(super) fn housekeeping(&mut self) {
        self.throttle_timers();
        self.wakeups
            .send_due(&mut self.services, self.conf.owner, &self.events);
        self.stopped_children();
        self.control.expire(&self.events);
        self.wakeups.expire(&self.events);
        if let Some(pid) = self.upgrade.expire(&self.life.exe) {
            // Reaped quietly when it goes.
            self.orphans.insert(pid, "(the upgrade's check)".into());
        }
        for id in self.services.ids() {
            self.sync_listen(id);
        }
        self.control.sync(&self.events);
        let mut next = self.last_supervision + TICK;
        for s in self.services.iter() {
            for t in [s.throttled_until, s.next_wakeup].into_iter().flatten() {
                next = next.min(t);
            }
        }
        for t in [
            self.control.deadline(),
            self.wakeups.deadline(),
            self.upgrade.deadline(),
        ]
        .into_iter()
        .flatten()
        {
            next = next.min(t);
        }
        self.next_housekeeping = next;
    }

    /// How long the loop may sleep: until housekeeping or the service
    /// manager's watchdog is due.
    pub(super) fn wait_timeout(&self) -> PollTimeout {
        let now = Instant::now();
        let mut deadline = self.next_housekeeping.min(now + TICK);
        if let Some(t) = self.systemd.next_watchdog() {
            deadline = deadline.min(t);
        }
        // Rounded up: a timer must not wake the loop a little early, find
        // nothing due, and sleep zero milliseconds again until it is.
        let left = deadline.saturating_duration_since(now);
        let ms = left.as_micros().div_ceil(1000).min(TICK.as_millis()) as i32;
        PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_only_for_a_moderate_rate() {
        let ms = Duration::from_millis;
        // Nothing, or a pair a few milliseconds after the last turn: no
        // pause.
        assert!(!pays_to_pause(0, ms(1)));
        assert!(!pays_to_pause(2, ms(3)));
        assert!(!pays_to_pause(1, ms(1)));
        // A mail host's burst: a few records in a fraction of a
        // millisecond.
        assert!(pays_to_pause(3, Duration::from_micros(300)));
        assert!(pays_to_pause(10, ms(1)));
        // A flood: a pause would fill the children's channels.
        assert!(!pays_to_pause(200, ms(1)));
        assert!(!pays_to_pause(10, Duration::from_micros(50)));
    }
}
