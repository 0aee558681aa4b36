//! The queue directory as the master sets it up (Postfix's
//! postfix-script and master's own start-up): the subdirectories with their
//! modes and owners, kept in one table that both the master (which creates
//! them) and `postkit check` (which verifies them) read, the pid file lock
//! that makes one master per configuration, and finding a running master.

use std::io::{Seek, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::global::mail_params::MailParams;
use crate::util::myflock::{LockOp, myflock};

/// The pid file, relative to queue_directory.
pub const PID_FILE: &str = "pid/master.pid";

/// Who owns a queue subdirectory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirOwner {
    /// Whoever runs the master (root, or the user of a rootless master).
    Master,
    /// mail_owner, group setgid_group (`public`: the postdrop group reaches
    /// the sockets in it, nobody else does).
    MailOwnerSetgid,
    /// mail_owner and its primary group.
    MailOwner,
}

/// One subdirectory of queue_directory.
#[derive(Debug, Clone, Copy)]
pub struct QueueDir {
    /// Its name under queue_directory.
    pub name: &'static str,
    /// Its mode, set bits included.
    pub mode: u32,
    /// Who owns it when the master runs as root.
    pub owner: DirOwner,
}

/// The subdirectories a master needs, with Postfix's modes.
pub const QUEUE_DIRS: &[QueueDir] = &[
    QueueDir {
        name: "pid",
        mode: 0o755,
        owner: DirOwner::Master,
    },
    QueueDir {
        name: "public",
        mode: 0o2710,
        owner: DirOwner::MailOwnerSetgid,
    },
    QueueDir {
        name: "private",
        mode: 0o700,
        owner: DirOwner::MailOwner,
    },
];

/// mail_owner's uid and gid, when running as root (who else could give
/// files away).
pub fn owner_ids(params: &MailParams) -> Option<(u32, u32)> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    nix::unistd::User::from_name(&params.mail_owner)
        .ok()
        .flatten()
        .map(|u| (u.uid.as_raw(), u.gid.as_raw()))
}

/// The uid and gid a queue subdirectory should have (None: leave as made).
pub fn dir_ids(dir: &QueueDir, params: &MailParams) -> (Option<u32>, Option<u32>) {
    let owner = owner_ids(params);
    match dir.owner {
        DirOwner::Master => (None, None),
        DirOwner::MailOwner => (owner.map(|o| o.0), owner.map(|o| o.1)),
        DirOwner::MailOwnerSetgid => {
            let group = nix::unistd::Group::from_name(&params.setgid_group)
                .ok()
                .flatten()
                .map(|g| g.gid.as_raw());
            (owner.map(|o| o.0), group.or(owner.map(|o| o.1)))
        }
    }
}

/// Creates queue_directory and its subdirectories when missing, with
/// Postfix's modes and owners.
pub fn make_queue_dirs(params: &MailParams) -> Result<(), String> {
    let q = Path::new(&params.queue_directory);
    // The queue directory itself as Postfix's: 0755, whatever the umask,
    // so that a chrooted, unprivileged child can see inside its jail.
    // Its mode through a descriptor, as for the subdirectories: the parent
    // may belong to someone who could swap the fresh name for a link.
    if !q.exists() {
        std::fs::create_dir_all(q)
            .map_err(|e| format!("mkdir {}: {}", q.display(), crate::util::errno_text(&e)))?;
        set_dir_owner_mode(q, None, None, 0o755)?;
    }
    for d in QUEUE_DIRS {
        let dir = q.join(d.name);
        if dir.exists() {
            continue;
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("mkdir {}: {}", dir.display(), crate::util::errno_text(&e)))?;
        let (uid, gid) = if nix::unistd::geteuid().is_root() {
            dir_ids(d, params)
        } else {
            (None, None)
        };
        set_dir_owner_mode(&dir, uid, gid, d.mode)?;
    }
    Ok(())
}

/// Sets a directory's owner and mode through a descriptor opened without
/// following a symbolic link, so that nobody can redirect root's chown or
/// chmod to another file by swapping the name in between.
pub fn set_dir_owner_mode(
    dir: &Path,
    uid: Option<u32>,
    gid: Option<u32>,
    mode: u32,
) -> Result<(), String> {
    use std::os::unix::fs::{OpenOptionsExt, fchown};
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dir)
        .map_err(|e| format!("open {}: {}", dir.display(), crate::util::errno_text(&e)))?;
    if uid.is_some() || gid.is_some() {
        fchown(&f, uid, gid)
            .map_err(|e| format!("chown {}: {}", dir.display(), crate::util::errno_text(&e)))?;
    }
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {}: {}", dir.display(), crate::util::errno_text(&e)))
}

/// Opens and locks a pid file, and writes our pid into it as Postfix does
/// (right-justified in 32 columns, then a newline).
pub fn lock_pid_file(path: &str) -> Result<std::fs::File, String> {
    let mut f = crate::util::safe_open::safe_open(Path::new(path), true, false, 0o600)
        .map_err(|why| format!("open lock file {path}: {why}"))?;
    myflock(&f, LockOp::Exclusive, false).map_err(|e| {
        format!(
            "open lock file {path}: unable to set exclusive lock: {}",
            crate::util::nix_text(e)
        )
    })?;
    let text = format!("{:>32}\n", std::process::id());
    f.seek(std::io::SeekFrom::Start(0))
        .and_then(|_| f.write_all(text.as_bytes()))
        .and_then(|_| f.flush())
        .map_err(|e| {
            format!(
                "cannot update lock file {path}: {}",
                crate::util::errno_text(&e)
            )
        })?;
    Ok(f)
}

/// Whether some process holds the pid file lock: Some(the pid the file
/// names) if so, Some(0) when it names none.  Only a claim: see
/// `control::proven_master` before acting on it.
pub fn running_master(queue_directory: &str) -> Option<i32> {
    let path = Path::new(queue_directory).join(PID_FILE);
    let f = std::fs::File::open(&path).ok()?;
    match myflock(&f, LockOp::Shared, false) {
        Ok(()) => None,
        Err(_) => Some(
            std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0),
        ),
    }
}
