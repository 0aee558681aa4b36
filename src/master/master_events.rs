//! The master's event set (Postfix's events.c, which uses epoll on Linux).
//! Every descriptor the master waits on is registered once, with a token
//! that says whose it is, so that a wake-up costs the same with one
//! service as with a thousand: nothing is rebuilt or scanned per wake-up.
//!
//! Registrations change in three places only.  At start and after every
//! reload the whole set is made afresh (services come and go, their
//! indexes shift, and a socket the children still hold would keep a
//! registration alive after the master closed it: dropping the old set
//! drops every registration with it).  A service's listening sockets join
//! and leave as it starts and stops wanting work (`sync_listen`).  Control
//! clients join on accept and leave before they are closed.
//!
//! Timers (throttles, wakeups, the once-a-second supervision) are looked
//! at by `housekeeping`, which runs when the earliest of them is due or
//! after any event other than a child's status record or stderr line:
//! those two are the per-request traffic, and they touch one service.

use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::poll::PollTimeout;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};

use crate::msg_fatal;

use super::master::Master;
use super::service_table::ServiceId;

/// What a ready descriptor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// The signal self-pipe.
    Wake,
    /// The control socket's listener.
    Control,
    /// A control client, by its serial number.
    Client(u64),
    /// A service's status channel.
    Status(ServiceId),
    /// A service's stderr pipe.
    Stderr(ServiceId),
    /// One of a service's listening sockets.
    Listen(ServiceId),
    /// An inet wake-up's connection, by its serial number.
    Wakeup(u64),
}

const KIND_SHIFT: u32 = 56;
const VALUE_MASK: u64 = (1 << KIND_SHIFT) - 1;

impl Token {
    /// The token as epoll's 64-bit user data: the kind in the top byte.
    pub fn encode(self) -> u64 {
        let (kind, value) = match self {
            Token::Wake => (0, 0),
            Token::Control => (1, 0),
            Token::Client(id) => (2, id),
            Token::Status(i) => (3, i.0 as u64),
            Token::Stderr(i) => (4, i.0 as u64),
            Token::Listen(i) => (5, i.0 as u64),
            Token::Wakeup(id) => (6, id),
        };
        (kind << KIND_SHIFT) | (value & VALUE_MASK)
    }

    /// The token back from epoll's user data.
    pub fn decode(data: u64) -> Option<Token> {
        let value = data & VALUE_MASK;
        Some(match data >> KIND_SHIFT {
            0 => Token::Wake,
            1 => Token::Control,
            2 => Token::Client(value),
            3 => Token::Status(ServiceId(value as usize)),
            4 => Token::Stderr(ServiceId(value as usize)),
            5 => Token::Listen(ServiceId(value as usize)),
            6 => Token::Wakeup(value),
            _ => return None,
        })
    }
}

/// Events taken per epoll_wait(); more ready ones wait for the next call.
const READY_MAX: usize = 256;

/// An epoll instance and the buffer its events arrive in.
pub struct Events {
    epoll: Epoll,
    ready: Vec<EpollEvent>,
}

impl Events {
    /// A new, empty set (close-on-exec: a child or an upgraded master
    /// never inherits it).
    pub fn new() -> Events {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)
            .unwrap_or_else(|e| msg_fatal!("epoll_create: {}", crate::util::nix_text(e)));
        Events {
            epoll,
            ready: vec![EpollEvent::empty(); READY_MAX],
        }
    }

    /// Watches `fd` for input.
    pub fn add(&self, fd: impl AsFd, token: Token) {
        self.add_for(fd, EpollFlags::EPOLLIN, token);
    }

    /// Watches `fd` for room to write (a connection under way, an answer
    /// the client has not read yet).
    pub fn add_out(&self, fd: impl AsFd, token: Token) {
        self.add_for(fd, EpollFlags::EPOLLOUT, token);
    }

    fn add_for(&self, fd: impl AsFd, flags: EpollFlags, token: Token) {
        if let Err(e) = self.epoll.add(fd, EpollEvent::new(flags, token.encode()))
            && e != nix::errno::Errno::EEXIST
        {
            msg_fatal!("epoll_ctl: add: {}", crate::util::nix_text(e));
        }
    }

    /// Stops watching `fd`.
    pub fn delete(&self, fd: impl AsFd) {
        let _ = self.epoll.delete(fd);
    }

    /// Waits up to `timeout`; `out` gets the tokens of what is ready (none
    /// on a timeout or a signal).  The caller keeps `out` from one wait to
    /// the next, so a wake-up allocates nothing.
    pub fn wait(&mut self, timeout: PollTimeout, out: &mut Vec<Token>) {
        out.clear();
        match self.epoll.wait(&mut self.ready, timeout) {
            Ok(n) => out.extend(
                self.ready[..n]
                    .iter()
                    .filter_map(|e| Token::decode(e.data())),
            ),
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => msg_fatal!("event_loop: epoll_wait: {}", crate::util::nix_text(e)),
        }
    }
}

impl Default for Events {
    fn default() -> Self {
        Events::new()
    }
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

    /// A service's sockets join the set when it wants work and leave it
    /// when it does not (Postfix's master_avail_listen).
    pub(super) fn sync_listen(&mut self, i: ServiceId) {
        let Some(s) = self.services.get_mut(i) else {
            return;
        };
        let want = s.wants_listen();
        if !want {
            s.warn_if_at_limit();
        }
        if want == s.listening {
            return;
        }
        for l in &s.listen {
            if want {
                self.events.add(l, Token::Listen(i));
            } else {
                self.events.delete(l);
            }
        }
        s.listening = want;
    }

    /// Timers and supervision over every service: throttles lifted,
    /// wakeups sent, stopped children, silent control clients; then each
    /// service's listening state, and when this must run next.
    pub(super) fn housekeeping(&mut self) {
        self.throttle_timers();
        let owner = super::master_queue::owner_ids(&self.params);
        self.wakeups
            .send_due(&mut self.services, owner, &self.events);
        self.stopped_children();
        self.control.expire(&self.events);
        self.wakeups.expire(&self.events);
        self.expire_vetting();
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
            self.vetting_deadline(),
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
    fn tokens_round_trip() {
        for t in [
            Token::Wake,
            Token::Control,
            Token::Client(0),
            Token::Client(u64::from(u32::MAX) + 7),
            Token::Status(ServiceId(0)),
            Token::Status(ServiceId(999)),
            Token::Stderr(ServiceId(12)),
            Token::Listen(ServiceId(1000)),
            Token::Wakeup(5),
        ] {
            assert_eq!(Token::decode(t.encode()), Some(t));
        }
        assert_eq!(Token::decode(9 << KIND_SHIFT), None);
    }

    #[test]
    fn a_ready_descriptor_comes_back_with_its_token() {
        let (a, b) = std::os::unix::net::UnixDatagram::pair().unwrap();
        let mut events = Events::new();
        let mut ready = vec![Token::Wake];
        events.add(&b, Token::Listen(ServiceId(42)));
        events.wait(PollTimeout::ZERO, &mut ready);
        assert!(ready.is_empty());
        a.send(b"x").unwrap();
        events.wait(PollTimeout::ZERO, &mut ready);
        assert_eq!(ready, vec![Token::Listen(ServiceId(42))]);
        events.delete(&b);
        events.wait(PollTimeout::ZERO, &mut ready);
        assert!(ready.is_empty());
    }
}
