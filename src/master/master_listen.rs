//! Listening endpoints for master.cf services, under queue_directory:
//! `public/NAME` or `private/NAME`, created as Postfix creates them (old
//! file removed, socket mode 0666 with access controlled by the directory,
//! owned by mail_owner, non-blocking, close-on-exec).

use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::Path;

use super::master_ent::{MasterEnt, ServType};

/// Longest path a UNIX-domain socket address holds.
const SUN_PATH_MAX: usize = 107;

/// Creates the endpoint of `ent` (relative to the current directory, the
/// queue directory).  `owner` is mail_owner's uid and gid when running as
/// root.  The error is Postfix's fatal text, or postkit's refusal for the
/// types its master does not run.
pub fn master_listen_init(
    ent: &MasterEnt,
    owner: Option<(u32, u32)>,
) -> Result<Vec<OwnedFd>, String> {
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
    let finish = |mode: u32| -> Result<(), String> {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("chmod socket {path}: {}", crate::util::errno_text(&e)))?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .map_err(|e| format!("chown {path}: {}", crate::util::errno_text(&e)))?;
        }
        Ok(())
    };
    let fd: OwnedFd = match ent.kind {
        ServType::UnixDgram => {
            prepare("unix_dgram_listen")?;
            let s = UnixDatagram::bind(path)
                .map_err(|e| format!("bind: {path}: {}", crate::util::errno_text(&e)))?;
            s.set_nonblocking(true).map_err(|e| e.to_string())?;
            finish(0o666)?;
            s.into()
        }
        ServType::Unix => {
            prepare("unix_listen")?;
            let s = UnixListener::bind(path)
                .map_err(|e| format!("bind: {path}: {}", crate::util::errno_text(&e)))?;
            s.set_nonblocking(true).map_err(|e| e.to_string())?;
            finish(0o666)?;
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
            finish(0o622)?;
            f.into()
        }
        ServType::Inet | ServType::Pass => {
            return Err(format!(
                "service {} ({}): postkit's master runs unix, unix-dgram and fifo services; run {} services under Postfix's master",
                ent.ext_name,
                ent.kind.name(),
                ent.kind.name()
            ));
        }
    };
    crate::server::fds::close_on_exec(&fd);
    Ok(vec![fd])
}

trait NonBlockOpen {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}

impl NonBlockOpen for std::fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
    }
}
