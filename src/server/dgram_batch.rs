//! Receiving queued datagrams in batches with one `recvmmsg()` call, so
//! that a busy service pays one system call (and one busy/idle report to
//! the master) per batch instead of per datagram.

use std::io::IoSliceMut;
use std::os::fd::AsRawFd;

use nix::sys::socket::{ControlMessageOwned, MsgFlags, MultiHeaders, UnixCredentials, recvmmsg};

use crate::global::mail_proto::DGRAM_BUF_SIZE;
use crate::server::mail_server::Credentials;

/// The kernel's overflow uid and gid (its default), which stand for "no
/// credentials".
const OVERFLOW_ID: u32 = 65534;

/// Buffers for up to `limit` datagrams taken with one `recvmmsg()`.
pub struct BatchReceiver {
    headers: MultiHeaders<()>,
    bufs: Vec<Vec<u8>>,
    lens: Vec<usize>,
    /// Each datagram's sender, when the socket passes credentials.
    creds: Vec<Option<Credentials>>,
}

impl BatchReceiver {
    /// Room for `limit` datagrams of up to DGRAM_BUF_SIZE bytes each.
    pub fn new(limit: usize) -> Self {
        Self::with_credentials(limit, false)
    }

    /// The same, with room for each sender's credentials (the socket must
    /// have SO_PASSCRED set).
    pub fn with_credentials(limit: usize, credentials: bool) -> Self {
        let limit = limit.max(1);
        let cmsg = credentials.then(|| nix::cmsg_space!(UnixCredentials));
        BatchReceiver {
            headers: MultiHeaders::preallocate(limit, cmsg),
            bufs: vec![vec![0u8; DGRAM_BUF_SIZE]; limit],
            lens: Vec::with_capacity(limit),
            creds: Vec::with_capacity(limit),
        }
    }

    /// Takes up to `max` queued datagrams without waiting; 0 when none is
    /// there (another process got it, or the queue is empty).
    pub fn recv(&mut self, sock: &impl AsRawFd, max: usize) -> usize {
        let max = max.clamp(1, self.bufs.len());
        self.lens.clear();
        self.creds.clear();
        let mut iovs: Vec<[IoSliceMut; 1]> = self.bufs[..max]
            .iter_mut()
            .map(|b| [IoSliceMut::new(&mut b[..])])
            .collect();
        if let Ok(results) = recvmmsg(
            sock.as_raw_fd(),
            &mut self.headers,
            iovs.iter_mut(),
            MsgFlags::MSG_DONTWAIT,
            None,
        ) {
            for r in results {
                self.lens.push(r.bytes);
                let cred = r.cmsgs().ok().and_then(|mut c| {
                    c.find_map(|m| match m {
                        // A datagram queued before SO_PASSCRED was set
                        // carries the kernel's "nobody" (pid 0, the
                        // overflow ids): nothing is attested.
                        ControlMessageOwned::ScmCredentials(u)
                            if !(u.pid() == 0
                                && u.uid() == OVERFLOW_ID
                                && u.gid() == OVERFLOW_ID) =>
                        {
                            Some(Credentials {
                                pid: u.pid(),
                                uid: u.uid(),
                                gid: u.gid(),
                            })
                        }
                        _ => None,
                    })
                });
                self.creds.push(cred);
            }
        }
        self.lens.len()
    }

    /// The sender of the `i`th datagram of the last batch, if passed.
    pub fn credentials(&self, i: usize) -> Option<Credentials> {
        self.creds.get(i).copied().flatten()
    }

    /// The `i`th datagram of the last batch.
    pub fn datagram(&self, i: usize) -> &[u8] {
        &self.bufs[i][..self.lens[i]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn drains_in_batches() {
        let (a, b) = UnixDatagram::pair().unwrap();
        for i in 0..5 {
            a.send(format!("d{i}").as_bytes()).unwrap();
        }
        a.send(&[b'x'; 5000]).unwrap();
        let mut r = BatchReceiver::new(4);
        assert_eq!(r.recv(&b, 64), 4);
        assert_eq!(r.datagram(3), b"d3");
        assert_eq!(r.recv(&b, 64), 2);
        assert_eq!(r.datagram(0), b"d4");
        assert_eq!(
            r.datagram(1).len(),
            DGRAM_BUF_SIZE,
            "longer datagrams are cut"
        );
        assert_eq!(r.recv(&b, 64), 0);
    }

    #[test]
    fn credentials_are_the_kernels() {
        let (a, b) = UnixDatagram::pair().unwrap();
        nix::sys::socket::setsockopt(&b, nix::sys::socket::sockopt::PassCred, &true).unwrap();
        a.send(b"one").unwrap();
        a.send(b"two").unwrap();
        let mut r = BatchReceiver::with_credentials(4, true);
        assert_eq!(r.recv(&b, 4), 2);
        let me = Credentials {
            pid: std::process::id() as i32,
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
        };
        assert_eq!(r.credentials(0), Some(me));
        assert_eq!(r.credentials(1), Some(me));
        let mut plain = BatchReceiver::new(4);
        a.send(b"three").unwrap();
        assert_eq!(plain.recv(&b, 4), 1);
        assert_eq!(plain.credentials(0), None);
    }
}
