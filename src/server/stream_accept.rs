//! Taking a new client from a stream skeleton's listening socket, by
//! transport: `unix` and `inet` accept a connection; `pass` accepts a
//! connection on which another process (postscreen, say) passes the
//! client's descriptor and then its attributes in Postfix's base64
//! attribute form (Postfix's pass_accept_attr).

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};

use crate::util::attr::{self, Attrs};
use crate::{msg_error, msg_warn};

/// How long a passing process has to send the descriptor and attributes.
const PASS_ACCEPT_TMOUT: Duration = Duration::from_secs(100);

/// How clients arrive on a listening socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Unix,
    Inet,
    Pass,
}

impl Transport {
    pub(crate) fn from_name(t: &str) -> Transport {
        if t.eq_ignore_ascii_case("pass") {
            Transport::Pass
        } else if t.eq_ignore_ascii_case("inet") {
            Transport::Inet
        } else {
            Transport::Unix
        }
    }
}

/// A listening socket the master passed, as its transport makes it.
pub(crate) enum Listener {
    Unix(std::os::unix::net::UnixListener),
    Inet(std::net::TcpListener),
}

impl Listener {
    /// Takes a listening descriptor, non-blocking, so that a process that
    /// lost the race for a client to another one does not wait in accept().
    pub(crate) fn new(fd: OwnedFd, transport: Transport) -> Listener {
        let l = match transport {
            Transport::Inet => Listener::Inet(std::net::TcpListener::from(fd)),
            Transport::Unix | Transport::Pass => {
                Listener::Unix(std::os::unix::net::UnixListener::from(fd))
            }
        };
        let _ = match &l {
            Listener::Unix(u) => u.set_nonblocking(true),
            Listener::Inet(t) => t.set_nonblocking(true),
        };
        l
    }

    fn accept(&self) -> std::io::Result<OwnedFd> {
        match self {
            Listener::Unix(u) => u.accept().map(|(s, _)| OwnedFd::from(s)),
            Listener::Inet(t) => t.accept().map(|(s, _)| OwnedFd::from(s)),
        }
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Listener::Unix(u) => u.as_fd(),
            Listener::Inet(t) => t.as_fd(),
        }
    }
}

/// Makes a descriptor non-blocking (a fifo several processes read).
pub(crate) fn set_non_blocking(fd: impl std::os::fd::AsFd) {
    if let Ok(flags) = fcntl(&fd, FcntlArg::F_GETFL) {
        let _ = fcntl(
            &fd,
            FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
        );
    }
}

fn wait_readable(fd: &OwnedFd, limit: Duration) -> bool {
    let ms = PollTimeout::try_from(limit.as_millis() as i32).unwrap_or(PollTimeout::MAX);
    loop {
        match poll(&mut [PollFd::new(fd.as_fd(), PollFlags::POLLIN)], ms) {
            Err(nix::errno::Errno::EINTR) => continue,
            Ok(n) => return n > 0,
            Err(_) => return false,
        }
    }
}

/// The next client, blocking, close-on-exec; None when another process
/// took it or the accept failed (said, unless it was only taken).
pub(crate) fn accept_client(
    listen: &Listener,
    transport: Transport,
) -> Option<(OwnedFd, Option<Attrs>)> {
    let conn = match listen.accept() {
        Ok(fd) => fd,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::ConnectionAborted
            ) =>
        {
            return None;
        }
        Err(e) => {
            msg_error!("accept connection: {}", crate::util::errno_text(&e));
            return None;
        }
    };
    // The client's descriptor blocks (reads wait with a time limit).  On
    // Linux an accepted socket never inherits the listener's O_NONBLOCK
    // (accept(2)), so only the passer's connection needs the call.
    match transport {
        Transport::Unix | Transport::Inet => Some((conn, None)),
        Transport::Pass => {
            let _ = fcntl(&conn, FcntlArg::F_SETFL(OFlag::empty()));
            receive_passed(conn)
        }
    }
}

/// The descriptor and attributes sent on a `pass` connection.
fn receive_passed(conn: OwnedFd) -> Option<(OwnedFd, Option<Attrs>)> {
    if !wait_readable(&conn, PASS_ACCEPT_TMOUT) {
        msg_warn!("pass_accept_attr: timeout receiving file descriptor: Connection timed out");
        return None;
    }
    let mut byte = [0u8; 1];
    let mut iov = [std::io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!(std::os::fd::RawFd);
    let passed = match recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    ) {
        Ok(msg) => msg.cmsgs().ok().and_then(|mut c| {
            c.find_map(|m| match m {
                ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
                _ => None,
            })
        }),
        Err(e) => {
            msg_warn!(
                "pass_accept_attr: cannot receive file descriptor: {}",
                crate::util::nix_text(e)
            );
            return None;
        }
    };
    let Some(raw) = passed else {
        msg_warn!("pass_accept_attr: cannot receive file descriptor: no descriptor");
        return None;
    };
    // SAFETY: recvmsg's SCM_RIGHTS message installed this descriptor in
    // this process just now; nothing else refers to it (no safe wrapper
    // turns a received descriptor into an OwnedFd).
    let client = unsafe { OwnedFd::from_raw_fd(raw) };
    let _ = fcntl(&client, FcntlArg::F_SETFL(OFlag::empty()));
    let mut reader = crate::server::client::Client::new(conn, PASS_ACCEPT_TMOUT, None);
    match attr::scan64(|| reader.read_line()) {
        Ok(a) if a.is_empty() => Some((client, None)),
        Ok(a) => Some((client, Some(a))),
        Err(e) => {
            msg_warn!("pass_accept_attr: cannot receive connection attributes: {e}");
            None
        }
    }
}
