//! One client connection of a stream skeleton (Postfix's VSTREAM as the
//! skeletons hand it to a service): buffered line reads with the IPC time
//! limit (`ipc_timeout`, as Postfix's timed_ipc_setup), whole writes, the
//! connection attributes a `pass` service receives with the descriptor,
//! and the service's request to end the connection.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::util::attr::{self, Attrs, ScanError};

/// A connection to one client.
pub struct Client {
    fd: OwnedFd,
    buf: Vec<u8>,
    pos: usize,
    timeout: Duration,
    attrs: Option<Attrs>,
    disconnect: bool,
    /// Where writes go when not to `fd` (`-S`: standard output).
    out: Option<OwnedFd>,
    /// The kernel bounds each read by the time limit (SO_RCVTIMEO): a read
    /// needs no poll before it.
    timed_reads: bool,
}

impl Client {
    pub(crate) fn new(fd: OwnedFd, timeout: Duration, attrs: Option<Attrs>) -> Client {
        // One call per connection instead of a poll per read; a
        // descriptor that is no socket (standard input under -S) waits in
        // poll.
        let limit = nix::sys::time::TimeVal::new(
            timeout.as_secs().min(i64::MAX as u64) as nix::libc::time_t,
            timeout.subsec_micros() as nix::libc::suseconds_t,
        );
        let timed_reads = !timeout.is_zero()
            && nix::sys::socket::setsockopt(&fd, nix::sys::socket::sockopt::ReceiveTimeout, &limit)
                .is_ok();
        Client {
            timed_reads,
            fd,
            buf: Vec::new(),
            pos: 0,
            timeout,
            attrs,
            disconnect: false,
            out: None,
        }
    }

    /// `-S`: replies go to standard output (the request comes on
    /// standard input).
    pub(crate) fn write_to_stdout(&mut self) {
        self.out = std::io::stdout().as_fd().try_clone_to_owned().ok();
    }

    /// The attributes that came with a `pass` connection (the client's
    /// address and the like, as postscreen sends them); None for `unix`
    /// and `inet`.
    pub fn pass_attrs(&self) -> Option<&Attrs> {
        self.attrs.as_ref()
    }

    /// Ends the connection once the handler returns (Postfix's
    /// `multi_server_disconnect`).  A single_server connection always ends
    /// when its handler returns.
    pub fn disconnect(&mut self) {
        self.disconnect = true;
    }

    pub(crate) fn wants_disconnect(&self) -> bool {
        self.disconnect
    }

    /// Whether input is buffered already (a request that came with the
    /// previous one).
    pub fn has_buffered(&self) -> bool {
        self.pos < self.buf.len()
    }

    /// Reads what the socket has, waiting at most the IPC time limit;
    /// 0 at end of input.  (A multi-client loop has read what woke it
    /// already, see `readable_input`: here the wait comes first, as a
    /// one-client process mostly waits for its client.)
    fn fill(&mut self) -> std::io::Result<usize> {
        // With SO_RCVTIMEO the kernel bounds the read itself (EAGAIN at
        // the limit); otherwise poll first.
        if !self.timed_reads {
            self.wait_until(PollFlags::POLLIN)?;
        }
        let mut chunk = [0u8; 4096];
        let n = loop {
            match nix::unistd::read(&self.fd, &mut chunk) {
                // A signal starts the wait again, as a poll would.
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::EAGAIN) if self.timed_reads => return Err(timed_out()),
                other => break other?,
            }
        };
        self.take_in(&chunk[..n]);
        Ok(n)
    }

    /// Waits at most the time limit until the socket is ready for
    /// `flags` (input, or room for output).
    fn wait_until(&self, flags: PollFlags) -> std::io::Result<()> {
        let ms = PollTimeout::try_from(self.timeout.as_millis().min(i32::MAX as u128) as i32)
            .unwrap_or(PollTimeout::MAX);
        loop {
            match poll(&mut [PollFd::new(self.fd.as_fd(), flags)], ms) {
                Ok(0) => return Err(timed_out()),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
                Ok(_) => return Ok(()),
            }
        }
    }

    /// Appends input after what is unread.
    fn take_in(&mut self, data: &[u8]) {
        if self.pos >= self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// A read that does not wait: Some(bytes read, 0 at end of input), or
    /// None when nothing is there yet (or the descriptor is no socket, as
    /// standard input under `-S`: then the caller waits and reads).
    fn read_now(&mut self) -> std::io::Result<Option<usize>> {
        let mut chunk = [0u8; 4096];
        loop {
            match nix::sys::socket::recv(
                self.fd.as_raw_fd(),
                &mut chunk,
                nix::sys::socket::MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(n) => {
                    self.take_in(&chunk[..n]);
                    return Ok(Some(n));
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::ENOTSOCK) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// One line without its newline (a carriage return before it is
    /// kept, as Postfix's line reads keep it); None at end of input.  A
    /// line longer than `attr::MAX_LINE` is an error.
    pub fn read_line(&mut self) -> std::io::Result<Option<String>> {
        Ok(self
            .next_line()?
            .map(|(a, b)| String::from_utf8_lossy(&self.buf[a..b]).into_owned()))
    }

    /// Where the next line is in the buffer (without its newline, the
    /// last one without one at end of input), read in as needed; None at
    /// end of input.
    fn next_line(&mut self) -> std::io::Result<Option<(usize, usize)>> {
        loop {
            if let Some(i) = self.buf[self.pos..].iter().position(|b| *b == b'\n') {
                let line = (self.pos, self.pos + i);
                self.pos += i + 1;
                return Ok(Some(line));
            }
            if self.buf.len() - self.pos > attr::MAX_LINE {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "line too long",
                ));
            }
            if self.fill()? == 0 {
                if self.has_buffered() {
                    let line = (self.pos, self.buf.len());
                    self.pos = self.buf.len();
                    return Ok(Some(line));
                }
                return Ok(None);
            }
        }
    }

    /// One list of attributes in the plain form (a policy request).  The
    /// lines are parsed where they lie in the buffer: no string per line.
    pub fn read_attrs_plain(&mut self) -> Result<Attrs, ScanError> {
        let mut attrs = Attrs::new();
        loop {
            let (a, b) = self
                .next_line()
                .map_err(|e| ScanError::Io(e.to_string()))?
                .ok_or(ScanError::Eof {
                    partial: !attrs.is_empty(),
                })?;
            if !attr::plain_line(&String::from_utf8_lossy(&self.buf[a..b]), &mut attrs)? {
                return Ok(attrs);
            }
        }
    }

    /// Writes attributes in the plain form (a policy reply).
    pub fn write_attrs_plain(&mut self, attrs: &[(&str, &str)]) -> std::io::Result<()> {
        let mut out = Vec::new();
        attr::print_plain(&mut out, attrs);
        self.write_all(&out)
    }

    /// Whether the peer has something to say (Postfix's peekfd(): bytes
    /// waiting; false at end of input).  What is there is read into the
    /// buffer at once, so that the handler's read needs no second call.
    pub(crate) fn readable_input(&mut self) -> bool {
        if self.has_buffered() {
            return true;
        }
        matches!(self.read_now(), Ok(Some(n)) if n > 0)
    }

    pub(crate) fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }
}

/// The IPC time limit ran out.
fn timed_out() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, "timeout")
}

impl Read for Client {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if !self.has_buffered() && self.fill()? == 0 {
            return Ok(0);
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for Client {
    /// Writes without waiting when the socket has room (the common case:
    /// one call); when it has none, waits at most the time limit for room,
    /// as Postfix's timed writes do, so that a client that stops reading
    /// cannot hold the process.
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        use nix::sys::socket::{MsgFlags, send};
        if let Some(out) = &self.out {
            loop {
                match nix::unistd::write(out, data) {
                    Err(nix::errno::Errno::EINTR) => continue,
                    other => return Ok(other?),
                }
            }
        }
        let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
        loop {
            match send(self.fd.as_raw_fd(), data, flags) {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::EAGAIN) => self.wait_until(PollFlags::POLLOUT)?,
                // No socket (standard input under -S): a plain write.
                Err(nix::errno::Errno::ENOTSOCK) => loop {
                    match nix::unistd::write(&self.fd, data) {
                        Err(nix::errno::Errno::EINTR) => continue,
                        other => return Ok(other?),
                    }
                },
                other => return Ok(other?),
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl AsFd for Client {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
