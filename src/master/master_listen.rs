//! Listening endpoints for master.cf services, under queue_directory:
//! `public/NAME` or `private/NAME`, created as Postfix creates them (old
//! file removed, socket mode 0666 with access controlled by the directory,
//! owned by mail_owner, non-blocking, close-on-exec).  A `pass` service
//! listens on a UNIX stream socket like a `unix` one (its processes
//! receive connections over it).  An inet service gets one TCP socket per
//! address (`master_inet`), made by root as Postfix's are (a port below
//! 1024 needs it; no file is involved), with SO_REUSEADDR, IPV6_V6ONLY for
//! IPv6 (so that the IPv4 wildcard socket is a socket of its own), and
//! Postfix's listen backlog.
//!
//! As root, every step (remove, bind, mkfifo, open) runs with mail_owner's
//! effective ids and a umask that gives the mode: the endpoint is
//! mail_owner's from birth, and root never chmods, chowns or opens by a
//! path in a directory that mail_owner could change under it.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::Path;

use super::master_ent::{MasterEnt, ServType};
use crate::util::set_eugid::set_eugid;

/// Longest path a UNIX-domain socket address holds.
const SUN_PATH_MAX: usize = 107;

/// Creates the endpoint of `ent` (relative to the current directory, the
/// queue directory).  `owner` is mail_owner's uid and gid when running as
/// root.  The error is Postfix's fatal text.
pub fn master_listen_init(
    ent: &MasterEnt,
    owner: Option<(u32, u32)>,
) -> Result<Vec<OwnedFd>, String> {
    if ent.kind == ServType::Inet {
        return ent
            .addrs
            .iter()
            .map(|a| inet_listen(a, ent.backlog))
            .collect();
    }
    let path = ent.name.as_str();
    let prepare = |kind: &str| -> Result<(), String> {
        if path.len() > SUN_PATH_MAX {
            return Err(format!("{kind}: unix-domain name too long: {path}"));
        }
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(format!("remove {path}: {}", crate::util::errno_text(&e)))
            }
            _ => Ok(()),
        }
    };
    // Sockets are made 0777 & ~umask, fifos 0622 & ~umask.
    let old_umask = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o111));
    let as_owner = match owner {
        Some((uid, gid)) => match set_eugid(uid, gid) {
            Ok(ids) => Some(ids),
            Err(e) => {
                nix::sys::stat::umask(old_umask);
                return Err(e);
            }
        },
        None => None,
    };
    let result = make_endpoint(ent, path, prepare);
    drop(as_owner);
    nix::sys::stat::umask(old_umask);
    let fd = result?;
    crate::server::fds::close_on_exec(&fd);
    Ok(vec![fd])
}

/// Creates the endpoint (with whatever effective ids and umask are set).
fn make_endpoint(
    ent: &MasterEnt,
    path: &str,
    prepare: impl Fn(&str) -> Result<(), String>,
) -> Result<OwnedFd, String> {
    let fd: OwnedFd = match ent.kind {
        ServType::UnixDgram => {
            prepare("unix_dgram_listen")?;
            let s = UnixDatagram::bind(path)
                .map_err(|e| format!("bind: {path}: {}", crate::util::errno_text(&e)))?;
            fault_injection_pause();
            s.set_nonblocking(true).map_err(|e| e.to_string())?;
            s.into()
        }
        ServType::Unix | ServType::Pass => {
            prepare("unix_listen")?;
            let s = UnixListener::bind(path)
                .map_err(|e| format!("bind: {path}: {}", crate::util::errno_text(&e)))?;
            fault_injection_pause();
            s.set_nonblocking(true).map_err(|e| e.to_string())?;
            s.into()
        }
        ServType::Fifo => {
            prepare("fifo_listen")?;
            nix::unistd::mkfifo(
                Path::new(path),
                nix::sys::stat::Mode::from_bits_truncate(0o622),
            )
            .map_err(|e| format!("mkfifo: {path}: {}", crate::util::nix_text(e)))?;
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags_nonblock()
                .open(path)
                .map_err(|e| format!("open {path}: {}", crate::util::errno_text(&e)))?;
            f.into()
        }
        ServType::Inet => {
            return Err(format!("{}: not a local endpoint", ent.name));
        }
    };
    Ok(fd)
}

/// A TCP listener on `addr`, as Postfix's inet_listen() makes it.
/// The inet sockets for `ent` (a restart or upgrade): each handed over
/// socket whose address `ent` still has is kept (never closed, so nothing
/// waiting in it is lost), a new address gets a new socket, and a socket
/// for an address main.cf no longer names is dropped.  So a changed
/// inet_interfaces or inet_protocols takes effect at a restart.
pub fn inet_rebind(ent: &MasterEnt, handed: Vec<OwnedFd>) -> Result<Vec<OwnedFd>, String> {
    let mut handed: Vec<(Option<SocketAddr>, OwnedFd)> =
        handed.into_iter().map(|fd| (local_addr(&fd), fd)).collect();
    let mut out = Vec::new();
    for a in &ent.addrs {
        match handed.iter().position(|(h, _)| *h == Some(*a)) {
            Some(i) => out.push(handed.swap_remove(i).1),
            None => match inet_listen(a, ent.backlog) {
                Ok(fd) => out.push(fd),
                Err(e) => {
                    // Nothing handed over is closed: a start that fails
                    // goes back to the program it replaced (by exec, which
                    // closes what was made here), and that program claims
                    // the handed over descriptors again by number.
                    out.into_iter()
                        .chain(handed.into_iter().map(|(_, fd)| fd))
                        .for_each(std::mem::forget);
                    return Err(e);
                }
            },
        }
    }
    Ok(out)
}

/// The address a socket is bound to.
pub fn local_addr(fd: &OwnedFd) -> Option<SocketAddr> {
    let a: nix::sys::socket::SockaddrStorage =
        nix::sys::socket::getsockname(fd.as_raw_fd()).ok()?;
    if let Some(v4) = a.as_sockaddr_in() {
        Some(SocketAddr::from((v4.ip(), v4.port())))
    } else {
        a.as_sockaddr_in6()
            .map(|v6| SocketAddr::from((v6.ip(), v6.port())))
    }
}

fn inet_listen(addr: &SocketAddr, backlog: i32) -> Result<OwnedFd, String> {
    use nix::sys::socket::{
        AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage, bind, listen, setsockopt,
        socket, sockopt,
    };
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let text = crate::util::nix_text;
    let fd = socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| format!("socket: {}", text(e)))?;
    if addr.is_ipv6() {
        setsockopt(&fd, sockopt::Ipv6V6Only, &true)
            .map_err(|e| format!("setsockopt(IPV6_V6ONLY): {}", text(e)))?;
    }
    setsockopt(&fd, sockopt::ReuseAddr, &true)
        .map_err(|e| format!("setsockopt(SO_REUSEADDR): {}", text(e)))?;
    bind(fd.as_raw_fd(), &SockaddrStorage::from(*addr))
        .map_err(|e| format!("bind {} port {}: {}", addr.ip(), addr.port(), text(e)))?;
    let backlog = Backlog::new(backlog.max(1)).unwrap_or(Backlog::MAXCONN);
    listen(&fd, backlog).map_err(|e| format!("listen: {}", text(e)))?;
    Ok(fd)
}

/// `POSTKIT_FAULT_AFTER_BIND_MS`: a pause right after bind(), so that the
/// privilege tests can race the master deterministically (the window a
/// by-path chmod or chown after bind() used to leave open).
fn fault_injection_pause() {
    if let Some(ms) = std::env::var("POSTKIT_FAULT_AFTER_BIND_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

trait NonBlockOpen {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}

impl NonBlockOpen for std::fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOFOLLOW)
    }
}
