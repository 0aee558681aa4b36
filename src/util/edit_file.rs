//! Replacing a configuration file the way Postfix's edit_file does, so that
//! postconf's edits are atomic and two editors never interleave: the new
//! text goes to `FILE.tmp` (a deterministic name, so that a crash leaves
//! no litter), created with no group or other access and locked
//! exclusively; once written it gets its final mode, is synced, and is
//! renamed over `FILE` while still locked.  A `FILE.tmp` that is a link,
//! that the kernel refuses root (another user's file in a sticky
//! directory), or that is not an empty, private (0600), singly linked
//! regular file (left by a crash, or planted) is removed and made again,
//! never written through.  An empty 0600 regular file of the running user
//! already there is used (Postfix also uses one another user planted,
//! which in a sticky directory would leave that user owning the new
//! main.cf; postkit removes it).

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};

use super::myflock::{LockOp, myflock};

/// The suffix of the file being written.
pub const EDIT_FILE_SUFFIX: &str = ".tmp";

/// The mode the file is made with until it is complete.
const EDIT_FILE_MODE: u32 = 0o600;

/// Times a temporary file planted by someone else is removed before the
/// edit gives up.
const PLANTED_TRIES: u32 = 5;

/// A replacement for a file, being written.
pub struct EditFile {
    /// `FILE.tmp`.
    pub tmp_path: String,
    final_path: String,
    final_mode: u32,
    file: File,
}

impl EditFile {
    /// Opens `path.tmp` for the new text (the caller reads `path` itself).
    /// The error is the C library's text for `path.tmp`.
    pub fn open(path: &str, final_mode: u32) -> std::io::Result<EditFile> {
        let tmp_path = format!("{path}{EDIT_FILE_SUFFIX}");
        let mut refused = 0;
        loop {
            // O_NOFOLLOW: a link planted under the temporary name is
            // refused instead of followed.
            let file = match std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .mode(EDIT_FILE_MODE)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&tmp_path)
            {
                Ok(f) => f,
                // A symbolic link under the temporary name: removed, and
                // the file made afresh.
                Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                    std::fs::remove_file(&tmp_path)?;
                    continue;
                }
                // In a sticky, world-writable directory the kernel refuses
                // root a link or a file another user planted there
                // (protected_symlinks, protected_regular): removed too, as
                // Postfix does, a few times at most.
                Err(e)
                    if e.raw_os_error() == Some(libc::EACCES)
                        && refused < PLANTED_TRIES
                        && std::fs::symlink_metadata(&tmp_path).is_ok() =>
                {
                    refused += 1;
                    std::fs::remove_file(&tmp_path).map_err(|_| e)?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            myflock(&file, LockOp::Exclusive, true).map_err(|e| {
                std::io::Error::other(format!("lock {tmp_path}: {}", super::nix_text(e)))
            })?;
            let held = file.metadata()?;
            // Someone renamed or removed it while this waited for the lock.
            let Ok(now) = std::fs::symlink_metadata(&tmp_path) else {
                continue;
            };
            if held.dev() != now.dev() || held.ino() != now.ino() {
                continue;
            }
            if !now.file_type().is_file()
                || now.uid() != nix::unistd::geteuid().as_raw()
                || now.size() > 0
                || now.nlink() > 1
                || now.permissions().mode() & 0o7777 != EDIT_FILE_MODE
            {
                match std::fs::remove_file(&tmp_path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                    _ => continue,
                }
            }
            return Ok(EditFile {
                tmp_path,
                final_path: path.to_string(),
                final_mode,
                file,
            });
        }
    }

    /// Appends text.
    pub fn write(&mut self, text: &[u8]) -> std::io::Result<()> {
        self.file.write_all(text)
    }

    /// Gives the file its final mode, syncs it and renames it over the
    /// original, still locked.  On failure the temporary file is removed.
    pub fn close(self) -> std::io::Result<()> {
        let result = self
            .file
            .set_permissions(std::fs::Permissions::from_mode(self.final_mode))
            .and_then(|_| self.file.sync_all())
            .and_then(|_| std::fs::rename(&self.tmp_path, &self.final_path));
        if result.is_err() {
            let _ = std::fs::remove_file(&self.tmp_path);
        }
        result
    }

    /// Abandons the edit: the temporary file is removed.
    pub fn cleanup(self) {
        let _ = std::fs::remove_file(&self.tmp_path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_atomically_with_the_final_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("main.cf").display().to_string();
        std::fs::write(&path, "old\n").unwrap();
        // A stale, non-empty temporary file from a crash is not reused.
        std::fs::write(format!("{path}.tmp"), "stale").unwrap();
        let mut e = EditFile::open(&path, 0o644).unwrap();
        e.write(b"new\n").unwrap();
        e.close().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        assert!(!std::path::Path::new(&format!("{path}.tmp")).exists());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o644);
    }

    #[test]
    fn a_planted_link_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("main.cf").display().to_string();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, format!("{path}.tmp")).unwrap();
        let mut e = EditFile::open(&path, 0o644).unwrap();
        e.write(b"new\n").unwrap();
        e.close().unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
    }
}
