//! Opening files without being tricked by symbolic links or hard links
//! (Postfix's `safe_open()`): lock files, pid files and the log file.
//!
//! An existing file must be a regular, non-directory file with exactly one
//! link, and what was opened must be what `lstat` saw.  A symbolic link is
//! followed only when root owns it and its non-writable parent directory
//! (so `/dev/stdout` works, a link planted by a user does not).  A missing
//! file is created exclusively; when another process creates it first (two
//! processes of a pool starting at once), the file it made is opened.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Opens `path` for writing (and reading when `read` is set), appending
/// when `append` is set, creating it with `mode` when missing.  The error is
/// Postfix's reason text.
pub fn safe_open(path: &Path, read: bool, append: bool, mode: u32) -> Result<File, String> {
    let mut tries = 0;
    loop {
        match open_once(path, read, append, mode) {
            Err(Race) if tries < RACE_TRIES => tries += 1,
            Err(Race) => {
                return Err(format!(
                    "cannot create file exclusively: {}",
                    super::errno_text(&std::io::Error::from_raw_os_error(libc::EEXIST))
                ));
            }
            Ok(result) => return result,
        }
    }
}

/// Times a missing file may turn out to exist when created before the
/// open gives up (someone keeps creating and removing it).
const RACE_TRIES: u32 = 10;

/// The file was missing when looked at and existed when created.
struct Race;

fn open_once(
    path: &Path,
    read: bool,
    append: bool,
    mode: u32,
) -> Result<Result<File, String>, Race> {
    let mut opts = OpenOptions::new();
    opts.read(read)
        .write(true)
        .append(append)
        .custom_flags(libc::O_CLOEXEC);
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            opts.create_new(true).mode(mode);
            let f = match opts.open(path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(Race),
                Err(e) => {
                    return Ok(Err(format!(
                        "cannot create file exclusively: {}",
                        super::errno_text(&e)
                    )));
                }
            };
            // The requested mode, whatever the umask (Postfix 3.9 and later).
            let _ = f.set_permissions(std::fs::Permissions::from_mode(mode));
            Ok(Ok(f))
        }
        Err(e) => Ok(Err(format!("cannot open file: {}", super::errno_text(&e)))),
        Ok(lmeta) => Ok(open_existing(path, &opts, &lmeta)),
    }
}

/// Opens a file `lstat` saw, and checks that what was opened is that file.
fn open_existing(
    path: &Path,
    opts: &OpenOptions,
    lmeta: &std::fs::Metadata,
) -> Result<File, String> {
    if lmeta.file_type().is_symlink() && !trusted_symlink(path, lmeta) {
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
        if meta.dev() != lmeta.dev() || meta.ino() != lmeta.ino() || meta.mode() != lmeta.mode() {
            return Err("file status changed unexpectedly".into());
        }
    }
    Ok(f)
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

    #[test]
    fn two_processes_creating_the_file_at_once_both_open_it() {
        for _ in 0..200 {
            let d = tempfile::tempdir().unwrap();
            let f = d.path().join("lock");
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let (f, barrier) = (f.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        safe_open(&f, true, false, 0o600).map(|_| ())
                    })
                })
                .collect();
            for t in threads {
                assert_eq!(t.join().unwrap(), Ok(()));
            }
        }
    }
}
