//! Opening files without being tricked by symbolic links or hard links
//! (Postfix's `safe_open()`): lock files, pid files and the log file.
//!
//! An existing file must be a regular, non-directory file with exactly one
//! link, and what was opened must be what `lstat` saw.  A symbolic link is
//! followed only when root owns it and its non-writable parent directory
//! (so `/dev/stdout` works, a link planted by a user does not).  A missing
//! file is created exclusively.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Opens `path` for writing (and reading when `read` is set), appending
/// when `append` is set, creating it with `mode` when missing.  The error is
/// Postfix's reason text.
pub fn safe_open(path: &Path, read: bool, append: bool, mode: u32) -> Result<File, String> {
    let mut opts = OpenOptions::new();
    opts.read(read)
        .write(true)
        .append(append)
        .custom_flags(libc::O_CLOEXEC);
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            opts.create_new(true).mode(mode);
            let f = opts.open(path).map_err(|e| {
                format!("cannot create file exclusively: {}", super::errno_text(&e))
            })?;
            // The requested mode, whatever the umask (Postfix 3.9 and later).
            let _ = f.set_permissions(std::fs::Permissions::from_mode(mode));
            Ok(f)
        }
        Err(e) => Err(format!("cannot open file: {}", super::errno_text(&e))),
        Ok(lmeta) => {
            if lmeta.file_type().is_symlink() && !trusted_symlink(path, &lmeta) {
                return Err("file is a symbolic link".into());
            }
            let f = opts
                .open(path)
                .map_err(|e| format!("cannot open file: {}", super::errno_text(&e)))?;
            let meta = f
                .metadata()
                .map_err(|e| format!("cannot fstat file: {}", super::errno_text(&e)))?;
            if meta.is_dir() {
                return Err("file is a directory".into());
            }
            if !lmeta.file_type().is_symlink() {
                if meta.nlink() != 1 {
                    return Err(format!("file has {} hard links", meta.nlink()));
                }
                if meta.dev() != lmeta.dev()
                    || meta.ino() != lmeta.ino()
                    || meta.mode() != lmeta.mode()
                {
                    return Err("file status changed unexpectedly".into());
                }
            }
            Ok(f)
        }
    }
}

/// A root-owned link in a root-owned directory that others cannot write.
fn trusted_symlink(path: &Path, lmeta: &std::fs::Metadata) -> bool {
    if lmeta.uid() != 0 {
        return false;
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match std::fs::metadata(parent) {
        Ok(m) => m.uid() == 0 && m.mode() & 0o022 == 0,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_links_and_directories() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        safe_open(&f, true, false, 0o600).unwrap();
        assert_eq!(std::fs::metadata(&f).unwrap().mode() & 0o777, 0o600);
        safe_open(&f, true, false, 0o600).unwrap();
        let l = d.path().join("l");
        std::os::unix::fs::symlink(&f, &l).unwrap();
        // A link somebody other than root planted is never followed.
        if nix::unistd::geteuid().is_root() {
            std::os::unix::fs::lchown(&l, Some(65534), None).unwrap();
        }
        assert_eq!(
            safe_open(&l, true, false, 0o600).unwrap_err(),
            "file is a symbolic link"
        );
        let h = d.path().join("h");
        std::fs::hard_link(&f, &h).unwrap();
        assert_eq!(
            safe_open(&h, true, false, 0o600).unwrap_err(),
            "file has 2 hard links"
        );
        assert_eq!(
            safe_open(d.path(), true, false, 0o600)
                .unwrap_err()
                .split(':')
                .next(),
            Some("cannot open file")
        );
    }
}
