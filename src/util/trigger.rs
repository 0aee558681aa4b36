//! Wake-up triggers (Postfix's fifo_trigger, unix_trigger, inet_trigger
//! and pass_trigger): a short request written to a service's endpoint by
//! a client that must never wait for the service.  The master sends them
//! from its event loop, so each one is non-blocking from the first system
//! call: a server that does not accept, a full backlog or a fifo nobody
//! reads is an error at once, not a stall.
//!
//! The endpoints live in directories mail_owner owns (`public/`,
//! `private/`), so the name may be anything mail_owner put there.  The
//! last component is never followed: a fifo is opened with O_NOFOLLOW and
//! must be a fifo with one link (Postfix's safe_open rule), a socket is
//! opened as a path (O_PATH|O_NOFOLLOW), checked to be a socket, and
//! connected through that descriptor.  The callers switch to mail_owner's
//! ids around these calls, so what the name points to is reached with
//! mail_owner's rights at most.

use std::io::{Error, ErrorKind, Write};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::socket::{
    AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, SockaddrStorage, UnixAddr,
    connect, getsockopt, sendmsg, socket, sockopt,
};

fn os(e: nix::errno::Errno) -> Error {
    Error::from_raw_os_error(e as i32)
}

/// Writes `data` to the fifo `path`: no reader is ENXIO, a full fifo is
/// EAGAIN, a symbolic link ELOOP, anything but a fifo with one link is
/// refused.
pub fn fifo_trigger(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.file_type().is_fifo() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a fifo"));
    }
    if meta.nlink() != 1 {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("file has {} hard links", meta.nlink()),
        ));
    }
    f.write_all(data)
}

/// A non-blocking stream connection to the UNIX socket `path`, never
/// through a symbolic link: a full backlog is EAGAIN at once.
fn unix_connect(path: &Path) -> std::io::Result<UnixStream> {
    let target = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    let kind = target.metadata()?.file_type();
    if kind.is_symlink() {
        return Err(os(nix::errno::Errno::ELOOP));
    }
    if !kind.is_socket() {
        return Err(os(nix::errno::Errno::ECONNREFUSED));
    }
    let sock = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(os)?;
    // The descriptor's magic link names the very inode checked above.
    let via =
        UnixAddr::new(format!("/proc/self/fd/{}", target.as_raw_fd()).as_str()).map_err(os)?;
    connect(sock.as_raw_fd(), &via).map_err(os)?;
    Ok(UnixStream::from(sock))
}

/// Connects to the UNIX stream socket `path` and writes `data` and a
/// null byte, as Postfix's unix_trigger does.
pub fn unix_trigger(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut conn = unix_connect(path)?;
    let mut req = data.to_vec();
    req.push(0);
    conn.write_all(&req)
}

/// Connects to the pass service `path`, passes it one end of a fresh
/// pipe (as a connection would be passed) and writes `data` and a null
/// byte into the other end, as Postfix's pass_trigger does.
pub fn pass_trigger(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let conn = unix_connect(path)?;
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
        .map_err(os)?;
    let fds = [r.as_raw_fd()];
    let iov = [std::io::IoSlice::new(b"\0")];
    sendmsg::<()>(
        conn.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT,
        None,
    )
    .map_err(os)?;
    let mut req = data.to_vec();
    req.push(0);
    std::fs::File::from(w).write_all(&req)
}

/// An inet trigger under way: the connection is made in the background.
pub struct InetTrigger {
    /// The connecting socket: writable once connected (or failed).
    pub sock: OwnedFd,
}

impl InetTrigger {
    /// Starts a non-blocking TCP connection to `addr`.
    pub fn start(addr: SocketAddr) -> std::io::Result<InetTrigger> {
        let family = match addr {
            SocketAddr::V4(_) => AddressFamily::Inet,
            SocketAddr::V6(_) => AddressFamily::Inet6,
        };
        let sock = socket(
            family,
            SockType::Stream,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(os)?;
        match connect(sock.as_raw_fd(), &SockaddrStorage::from(addr)) {
            Ok(()) | Err(nix::errno::Errno::EINPROGRESS) => Ok(InetTrigger { sock }),
            Err(e) => Err(os(e)),
        }
    }

    /// The socket is writable: the connection's outcome, then `data` and a
    /// null byte (Postfix's inet_trigger).
    pub fn finish(self, data: &[u8]) -> std::io::Result<()> {
        let err = getsockopt(&self.sock, sockopt::SocketError).map_err(os)?;
        if err != 0 {
            return Err(Error::from_raw_os_error(err));
        }
        let mut req = data.to_vec();
        req.push(0);
        let mut stream = std::net::TcpStream::from(self.sock);
        stream.write_all(&req)
    }
}

impl AsFd for InetTrigger {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::FromRawFd;
    use std::os::unix::net::UnixListener;

    #[test]
    fn unix_trigger_writes_the_request_and_a_null() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let l = UnixListener::bind(&path).unwrap();
        unix_trigger(&path, b"W").unwrap();
        let (mut c, _) = l.accept().unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"W\0");
    }

    #[test]
    fn a_symbolic_link_is_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let _l = UnixListener::bind(&path).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let e = unix_trigger(&link, b"W").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP));
        let file = dir.path().join("file");
        std::fs::write(&file, "ROOT-OWNED").unwrap();
        let flink = dir.path().join("flink");
        std::os::unix::fs::symlink(&file, &flink).unwrap();
        let e = fifo_trigger(&flink, b"W").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP));
        assert!(
            fifo_trigger(&file, b"W").is_err(),
            "a plain file is refused"
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "ROOT-OWNED");
    }

    #[test]
    fn a_full_backlog_is_an_error_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let l = UnixListener::bind(&path).unwrap();
        // Fill the backlog (never accepted).
        let mut held = Vec::new();
        let start = std::time::Instant::now();
        let e = loop {
            match unix_connect(&path) {
                Ok(c) => held.push(c),
                Err(e) => break e,
            }
            assert!(held.len() < 100_000);
        };
        assert_eq!(e.raw_os_error(), Some(libc::EAGAIN));
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        drop(l);
    }

    #[test]
    fn pass_trigger_passes_a_descriptor_holding_the_request() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let l = UnixListener::bind(&path).unwrap();
        pass_trigger(&path, b"W").unwrap();
        let (c, _) = l.accept().unwrap();
        let mut buf = [0u8; 1];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let msg = nix::sys::socket::recvmsg::<()>(
            c.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::empty(),
        )
        .unwrap();
        let fd = msg
            .cmsgs()
            .unwrap()
            .find_map(|m| match m {
                nix::sys::socket::ControlMessageOwned::ScmRights(f) => f.first().copied(),
                _ => None,
            })
            .unwrap();
        // SAFETY: the descriptor just arrived with SCM_RIGHTS and is ours.
        let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
        let mut got = Vec::new();
        f.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"W\0");
    }

    #[test]
    fn inet_trigger_connects_in_the_background() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let t = InetTrigger::start(l.local_addr().unwrap()).unwrap();
        let mut pfd = [nix::poll::PollFd::new(
            t.sock.as_fd(),
            nix::poll::PollFlags::POLLOUT,
        )];
        nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(5000u16)).unwrap();
        t.finish(b"W").unwrap();
        let (mut c, _) = l.accept().unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"W\0");
    }
}
