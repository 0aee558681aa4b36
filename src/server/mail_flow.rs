//! Flow-control tokens: one byte each in the pipe on fds 3 and 4.  A
//! service that asks for in_flow_delay takes a token per request; when none
//! is there it slows down by `in_flow_delay` seconds.

use std::os::fd::AsFd;

/// Takes `n` tokens; an empty pipe (or a closed one) is an error.
pub fn mail_flow_get(read_end: impl AsFd, write_end: impl AsFd, n: usize) -> Result<usize, String> {
    if n == 0 {
        crate::msg_panic!("mail_flow_get: bad length {n}");
    }
    nix::sys::stat::fstat(write_end).map_err(|e| {
        format!(
            "fstat flow pipe write descriptor: {}",
            crate::util::nix_text(e)
        )
    })?;
    let mut buf = [0u8; 1024];
    let mut left = n;
    while left > 0 {
        let chunk = left.min(buf.len());
        match nix::unistd::read(&read_end, &mut buf[..chunk]) {
            Ok(got) if got > 0 => left -= got,
            _ => return Err("no flow token".into()),
        }
    }
    Ok(n)
}

/// Puts `n` tokens (zero bytes) into the pipe.
pub fn mail_flow_put(write_end: impl AsFd, n: usize) -> Result<usize, nix::errno::Errno> {
    let zeros = [0u8; 1024];
    let mut left = n;
    while left > 0 {
        let chunk = left.min(zeros.len());
        let put = nix::unistd::write(&write_end, &zeros[..chunk])?;
        left -= put;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK).unwrap();
        assert!(mail_flow_get(&r, &w, 1).is_err());
        assert_eq!(mail_flow_put(&w, 3), Ok(3));
        assert_eq!(mail_flow_get(&r, &w, 2), Ok(2));
        assert_eq!(mail_flow_get(&r, &w, 1), Ok(1));
        assert!(mail_flow_get(&r, &w, 1).is_err());
    }
}
