//! The master/child status protocol: fixed descriptor numbers and the
//! 12-byte status record `{ int pid; unsigned generation; int avail; }` in native
//! byte order, written with one `write()` on fd 5.

use std::os::fd::AsFd;

/// Read end of the flow-control pipe.
pub const MASTER_FLOW_READ: i32 = 3;
/// Write end of the flow-control pipe.
pub const MASTER_FLOW_WRITE: i32 = 4;
/// The child's end of the status channel.
pub const MASTER_STATUS_FD: i32 = 5;
/// The first listening socket; a service with N sockets has 6..6+N-1.
pub const MASTER_LISTEN_FD: i32 = 6;

/// The environment variable with the spawn generation, in octal.
pub const MASTER_GEN_NAME: &str = "GENERATION";

/// "This process is busy."
pub const MASTER_STAT_TAKEN: i32 = 0;
/// "This process is idle."
pub const MASTER_STAT_AVAIL: i32 = 1;

/// Bytes in a status record.
pub const STATUS_SIZE: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// A status record as a child sends it.
pub struct MasterStatus {
    /// The child's pid.
    pub pid: i32,
    /// The generation the master gave it.
    pub generation: u32,
    /// MASTER_STAT_TAKEN or MASTER_STAT_AVAIL.
    pub avail: i32,
}

impl MasterStatus {
    /// The record in the host's byte order, as Postfix writes it.
    pub fn encode(&self) -> [u8; STATUS_SIZE] {
        let mut b = [0u8; STATUS_SIZE];
        b[0..4].copy_from_slice(&self.pid.to_ne_bytes());
        b[4..8].copy_from_slice(&self.generation.to_ne_bytes());
        b[8..12].copy_from_slice(&self.avail.to_ne_bytes());
        b
    }

    /// Decodes exactly one record; anything shorter is not a record.
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != STATUS_SIZE {
            return None;
        }
        let word = |i: usize| [b[i], b[i + 1], b[i + 2], b[i + 3]];
        Some(MasterStatus {
            pid: i32::from_ne_bytes(word(0)),
            generation: u32::from_ne_bytes(word(4)),
            avail: i32::from_ne_bytes(word(8)),
        })
    }
}

/// Tells the master that this process is busy or idle.  Succeeds only when
/// the whole record went out in one write, as the master reads records
/// whole.
pub fn master_notify(
    status_fd: impl AsFd,
    pid: i32,
    generation: u32,
    avail: i32,
) -> Result<(), nix::errno::Errno> {
    let rec = MasterStatus {
        pid,
        generation,
        avail,
    }
    .encode();
    match nix::unistd::write(status_fd, &rec) {
        Ok(STATUS_SIZE) => {
            if crate::util::msg::verbose() > 0 {
                crate::msg_info!("master_notify: status {avail}");
            }
            Ok(())
        }
        Ok(_) => Err(nix::errno::Errno::EIO),
        Err(e) => {
            if crate::util::msg::verbose() > 0 {
                crate::msg_info!(
                    "master_notify: status {avail}: {}",
                    crate::util::nix_text(e)
                );
            }
            Err(e)
        }
    }
}

/// Parses `GENERATION`: decimal digits only (else Postfix's fatal text), read
/// as octal up to the first 8 or 9.
pub fn parse_generation(text: &str) -> Result<u32, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad generation: {text}"));
    }
    let octal: String = text
        .chars()
        .take_while(|c| ('0'..='7').contains(c))
        .collect();
    Ok(u32::from_str_radix(&octal, 8).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn worked_example() {
        let r = MasterStatus {
            pid: 4140,
            generation: 7,
            avail: MASTER_STAT_TAKEN,
        };
        if cfg!(target_endian = "little") {
            assert_eq!(r.encode(), [0x2c, 0x10, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0]);
        }
        assert_eq!(parse_generation("17"), Ok(15));
        assert_eq!(parse_generation("19"), Ok(1));
        assert_eq!(parse_generation("1a"), Err("bad generation: 1a".into()));
    }

    proptest! {
        #[test]
        fn round_trip(pid: i32, generation: u32, avail: i32) {
            let r = MasterStatus { pid, generation, avail };
            prop_assert_eq!(MasterStatus::decode(&r.encode()), Some(r));
        }
    }
}
