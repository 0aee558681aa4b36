//! The master's side of the status channel (Postfix's master_status): the
//! channel itself and the table of a service's children that its records
//! keep up to date.
//!
//! The channel is a SOCK_SEQPACKET socket pair rather than Postfix's stream
//! pair: a child still writes its 12-byte record with one write(), but each
//! write arrives as one message, so a child that writes garbage or half a
//! record costs one warning and never shifts the records after it.  The
//! child's end still reads EOF when the master goes away.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};

use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockType, socketpair};

use crate::server::master_proto::{
    MASTER_STAT_AVAIL, MASTER_STAT_TAKEN, MasterStatus, STATUS_SIZE,
};

/// The master's end (non-blocking) and the end every child gets as fd 5;
/// both close-on-exec (the child's copy on fd 5 is placed by dup2, which
/// clears the flag there).
pub fn status_channel() -> nix::Result<(OwnedFd, OwnedFd)> {
    let (master, child) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    nix::fcntl::fcntl(
        &master,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )?;
    deepen(&child);
    Ok((master, child))
}

/// What the children's end may hold before a child blocks in its status
/// write: as many records as the pipe Postfix's master uses (64 KiB, 5,461
/// records), not the 278 a socket's default send buffer holds (each
/// 12-byte record is charged its whole buffer, about 760 bytes), so that a
/// master that reads late (it paces its turns under load) never holds up a
/// child.  The kernel doubles the value and caps it at net.core.wmem_max,
/// which root may pass (SO_SNDBUFFORCE); where neither is allowed the
/// channel keeps its default depth.
fn deepen(child: &OwnedFd) {
    use nix::sys::socket::{setsockopt, sockopt};
    const DEPTH: usize = 5461 * 768 / 2;
    if setsockopt(child, sockopt::SndBufForce, &DEPTH).is_err() {
        let _ = setsockopt(child, sockopt::SndBuf, &DEPTH);
    }
}

/// Reads up to `max` waiting messages from the master's end, handing each
/// to `f`; stops early when none is left.  Up to BATCH records per system
/// call (recvmmsg on the SEQPACKET channel keeps each record whole): a
/// busy multi-client service such as trivial-rewrite sends two records per
/// request, and the master used to pay a recv() for each.
pub fn read_status(fd: impl AsFd, max: usize, mut f: impl FnMut(&[u8])) -> Result<(), nix::Error> {
    use nix::sys::socket::{MultiHeaders, recvmmsg};
    use std::io::IoSliceMut;
    use std::os::fd::AsRawFd;
    const BATCH: usize = 32;
    // Longer than a record, so that an oversized message is seen as one.
    const ROOM: usize = STATUS_SIZE * 4;
    let mut bufs = [[0u8; ROOM]; BATCH];
    let mut left = max;
    while left > 0 {
        let asked = left.min(BATCH);
        let lens: Vec<usize> = {
            let mut headers = MultiHeaders::<()>::preallocate(asked, None);
            let mut iovs: Vec<[IoSliceMut; 1]> = bufs[..asked]
                .iter_mut()
                .map(|b| [IoSliceMut::new(&mut b[..])])
                .collect();
            match recvmmsg(
                fd.as_fd().as_raw_fd(),
                &mut headers,
                iovs.iter_mut(),
                MsgFlags::MSG_DONTWAIT,
                None,
            ) {
                Ok(results) => results.map(|r| r.bytes).collect(),
                Err(nix::Error::EAGAIN) => return Ok(()),
                Err(e) => return Err(e),
            }
        };
        for (i, &n) in lens.iter().enumerate() {
            // End of input: nothing more will come.
            if n == 0 {
                return Ok(());
            }
            f(&bufs[i][..n]);
        }
        if lens.len() < asked {
            return Ok(());
        }
        left -= asked;
    }
    Ok(())
}

/// One child process as the master knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildProc {
    /// The generation the master gave the child.
    pub generation: u32,
    /// Idle (its last record was AVAIL).
    pub avail: bool,
    /// AVAIL records seen: a child that dies before its first one is taken
    /// for a broken command.
    pub use_count: u64,
    /// When the master started it.
    pub started: std::time::Instant,
    /// Since when the master has seen it stopped (SIGSTOP), if it is.
    pub stopped_since: Option<std::time::Instant>,
    /// The master killed it (stopped too long): its death says nothing
    /// about the command.
    pub killed_by_master: bool,
}

/// What one message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// A record that changed or confirmed a child's state.
    Applied,
    /// Not a whole record: Postfix's "partial status update".
    Partial {
        /// The pid, if the message was long enough to hold one.
        pid: Option<i32>,
        /// The message's length.
        len: usize,
    },
    /// A pid that is not ours (reaped already, or made up).
    NotFound {
        /// The pid the record named.
        pid: i32,
    },
    /// A child of an earlier generation (before a reload).
    WrongGeneration {
        /// The child.
        pid: i32,
        /// The generation its record carried.
        generation: u32,
    },
    /// Neither TAKEN nor AVAIL.
    Unknown {
        /// The pid the record named.
        pid: i32,
        /// The status field.
        avail: i32,
    },
}

/// A service's children and how many of them are idle.
#[derive(Debug, Default)]
pub struct ProcTable {
    children: HashMap<i32, ChildProc>,
    avail: usize,
}

impl ProcTable {
    /// A new child counts as idle until it says otherwise, as in Postfix.
    pub fn add(&mut self, pid: i32, generation: u32) {
        if let Some(old) = self.children.insert(
            pid,
            ChildProc {
                generation,
                avail: true,
                use_count: 0,
                started: std::time::Instant::now(),
                stopped_since: None,
                killed_by_master: false,
            },
        ) && old.avail
        {
            self.avail -= 1;
        }
        self.avail += 1;
    }

    /// Forgets a child (reaped); what the table knew of it.
    pub fn remove(&mut self, pid: i32) -> Option<ChildProc> {
        let child = self.children.remove(&pid)?;
        if child.avail {
            self.avail -= 1;
        }
        Some(child)
    }

    /// Whether `pid` is a child of this service.
    pub fn contains(&self, pid: i32) -> bool {
        self.children.contains_key(&pid)
    }

    /// Puts back a child a previous master of this process knew (after an
    /// upgrade in place).
    pub fn restore(&mut self, pid: i32, generation: u32, avail: bool, use_count: u64) {
        self.add(pid, generation);
        if let Some(c) = self.children.get_mut(&pid) {
            c.use_count = use_count;
            if !avail {
                c.avail = false;
                self.avail -= 1;
            }
        }
    }

    /// The children and what the table knows of each.
    pub fn entries(&self) -> impl Iterator<Item = (i32, &ChildProc)> + '_ {
        self.children.iter().map(|(pid, c)| (*pid, c))
    }

    /// The children, for the master's checks on them.
    pub fn children_mut(&mut self) -> impl Iterator<Item = (i32, &mut ChildProc)> + '_ {
        self.children.iter_mut().map(|(pid, c)| (*pid, c))
    }

    /// The children's pids.
    pub fn pids(&self) -> impl Iterator<Item = i32> + '_ {
        self.children.keys().copied()
    }

    /// Children, busy or idle.
    pub fn total(&self) -> usize {
        self.children.len()
    }

    /// Idle children.
    pub fn avail(&self) -> usize {
        self.avail
    }

    /// Busy children.
    pub fn busy(&self) -> usize {
        self.children.len() - self.avail
    }

    /// After a reload the old children's records no longer count: they are
    /// on their way out.
    pub fn retire_all(&mut self) {
        for c in self.children.values_mut() {
            c.generation = u32::MAX;
        }
    }

    /// Applies one message from the channel.
    pub fn update(&mut self, msg: &[u8]) -> Update {
        let Some(stat) = MasterStatus::decode(msg) else {
            let pid =
                (msg.len() >= 4).then(|| i32::from_ne_bytes([msg[0], msg[1], msg[2], msg[3]]));
            return Update::Partial {
                pid,
                len: msg.len(),
            };
        };
        let Some(child) = self.children.get_mut(&stat.pid) else {
            return Update::NotFound { pid: stat.pid };
        };
        if child.generation != stat.generation {
            return Update::WrongGeneration {
                pid: stat.pid,
                generation: stat.generation,
            };
        }
        match stat.avail {
            MASTER_STAT_AVAIL => {
                if !child.avail {
                    child.avail = true;
                    child.use_count += 1;
                    self.avail += 1;
                }
            }
            MASTER_STAT_TAKEN => {
                if child.avail {
                    child.avail = false;
                    self.avail -= 1;
                }
            }
            other => {
                return Update::Unknown {
                    pid: stat.pid,
                    avail: other,
                };
            }
        }
        Update::Applied
    }

    /// The invariant the fuzz target checks: the idle count is the number
    /// of idle children.
    pub fn consistent(&self) -> bool {
        self.avail == self.children.values().filter(|c| c.avail).count()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_channel_holds_as_many_records_as_postfixs_pipe() {
        let (_master, child) = super::status_channel().unwrap();
        nix::fcntl::fcntl(
            &child,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )
        .unwrap();
        let rec = [0u8; super::STATUS_SIZE];
        let mut n = 0;
        while nix::unistd::write(&child, &rec).is_ok() && n < 10_000 {
            n += 1;
        }
        // Root may deepen it anywhere; others as far as wmem_max allows.
        let wmem_max: usize = std::fs::read_to_string("/proc/sys/net/core/wmem_max")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        if nix::unistd::geteuid().is_root() || wmem_max >= 5461 * 768 / 2 {
            assert!(n >= 5000, "{n} records");
        } else {
            assert!(n >= 250, "{n} records");
        }
    }

    use super::*;

    fn rec(pid: i32, generation: u32, avail: i32) -> Vec<u8> {
        MasterStatus {
            pid,
            generation,
            avail,
        }
        .encode()
        .to_vec()
    }

    #[test]
    fn records_move_children_between_busy_and_idle() {
        let mut t = ProcTable::default();
        t.add(10, 1);
        assert_eq!((t.total(), t.avail()), (1, 1));
        assert_eq!(t.update(&rec(10, 1, MASTER_STAT_TAKEN)), Update::Applied);
        assert_eq!(t.busy(), 1);
        assert_eq!(t.update(&rec(10, 1, MASTER_STAT_AVAIL)), Update::Applied);
        assert_eq!(t.avail(), 1);
        assert_eq!(t.remove(10).unwrap().use_count, 1);
        assert_eq!(t.avail(), 0);
    }

    #[test]
    fn garbage_is_reported_and_ignored() {
        let mut t = ProcTable::default();
        t.add(10, 1);
        assert_eq!(t.update(b"xyz"), Update::Partial { pid: None, len: 3 });
        assert_eq!(t.update(&rec(11, 1, 0)), Update::NotFound { pid: 11 });
        assert_eq!(
            t.update(&rec(10, 2, 0)),
            Update::WrongGeneration {
                pid: 10,
                generation: 2
            }
        );
        assert_eq!(
            t.update(&rec(10, 1, 7)),
            Update::Unknown { pid: 10, avail: 7 }
        );
        assert_eq!((t.total(), t.avail()), (1, 1));
        assert!(t.consistent());
    }

    #[test]
    fn channel_keeps_record_boundaries() {
        let (m, c) = status_channel().unwrap();
        nix::unistd::write(&c, b"short").unwrap();
        nix::unistd::write(&c, &rec(5, 6, 1)).unwrap();
        let mut got = Vec::new();
        read_status(&m, 16, |msg| got.push(msg.to_vec())).unwrap();
        assert_eq!(got, vec![b"short".to_vec(), rec(5, 6, 1)]);
    }
}
