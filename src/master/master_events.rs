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

use std::os::fd::AsFd;

use nix::poll::PollTimeout;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};

use crate::msg_fatal;

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
