//! Receiving queued datagrams in batches with one `recvmmsg()` call, so
//! that a busy service pays one system call (and one busy/idle report to
//! the master) per batch instead of per datagram.

use std::io::IoSliceMut;
use std::os::fd::AsRawFd;

use nix::sys::socket::{MsgFlags, MultiHeaders, recvmmsg};

use crate::global::mail_proto::DGRAM_BUF_SIZE;

/// Buffers for up to `limit` datagrams taken with one `recvmmsg()`.
pub struct BatchReceiver {
    headers: MultiHeaders<()>,
    bufs: Vec<Vec<u8>>,
    lens: Vec<usize>,
}

impl BatchReceiver {
    /// Room for `limit` datagrams of up to DGRAM_BUF_SIZE bytes each.
    pub fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        BatchReceiver {
            headers: MultiHeaders::preallocate(limit, None),
            bufs: vec![vec![0u8; DGRAM_BUF_SIZE]; limit],
            lens: Vec::with_capacity(limit),
        }
    }

    /// Takes up to `max` queued datagrams without waiting; 0 when none is
    /// there (another process got it, or the queue is empty).
    pub fn recv(&mut self, sock: &impl AsRawFd, max: usize) -> usize {
        let max = max.clamp(1, self.bufs.len());
        self.lens.clear();
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
            self.lens.extend(results.map(|r| r.bytes));
        }
        self.lens.len()
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
}
