//! `postkit logrotate`: renames the log file with the rotate suffix, makes
//! the master restart postlogd (which then creates a new file) and
//! compresses the old file.  Nothing is lost: postlogd writes to the renamed
//! file until it restarts, and the new one from its first record; the
//! compressor runs only once no process has the renamed file open (Postfix
//! sleeps a second and hopes).  Two rotations never meet: they take a lock
//! in turn, a rename never lands on an existing name (a counter is added),
//! and each compresses only the file it renamed.

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::global::mail_params::MailParams;
use crate::util::msg::{self, Level};
use crate::util::myflock::{LockOp, myflock};

/// Whether some process has `path` open, as far as /proc lets us see.
fn is_open(path: &Path) -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    procs
        .filter_map(|p| std::fs::read_dir(p.ok()?.path().join("fd")).ok())
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .any(|target| target == path)
}

fn wait_until_closed(path: &Path, limit: Duration) -> bool {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let deadline = std::time::Instant::now() + limit;
    while is_open(&path) {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// The lock two `postkit logrotate` runs take in turn, relative to
/// queue_directory: in `pid/`, which only the master's owner can write, so
/// that nobody else can hold it and stall rotation.
pub const ROTATE_LOCK: &str = "pid/logrotate.lock";

/// Renames `file` to `base`, or `base.1`, `base.2`, ... : never onto a
/// name that exists (RENAME_NOREPLACE decides atomically), nor onto one
/// whose compressed form exists.  The name it got.
fn rename_fresh(file: &str, base: &str) -> Result<String, String> {
    use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
    for n in 0..1000 {
        let name = if n == 0 {
            base.to_string()
        } else {
            format!("{base}.{n}")
        };
        if compressed_exists(&name) {
            continue;
        }
        match renameat2(
            AT_FDCWD,
            file,
            AT_FDCWD,
            name.as_str(),
            RenameFlags::RENAME_NOREPLACE,
        ) {
            Ok(()) => return Ok(name),
            Err(nix::errno::Errno::EEXIST) => continue,
            Err(e) => return Err(crate::util::nix_text(e)),
        }
    }
    Err(format!("no free name after {base}"))
}

/// Whether `name` followed by an extension (`.gz`, `.xz`, ...) exists.
fn compressed_exists(name: &str) -> bool {
    let path = Path::new(name);
    let (Some(dir), Some(base)) = (path.parent(), path.file_name()) else {
        return false;
    };
    let prefix = format!("{}.", base.to_string_lossy());
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_prefix(&prefix)
                .is_some_and(|ext| !ext.is_empty() && !ext.chars().all(|c| c.is_ascii_digit()))
        })
    })
}

/// `postkit logrotate`: renames maillog_file to a name of its own, tells
/// the master to restart postlogd (which then creates a new file) and
/// compresses the renamed file once nobody has it open.  Runs one at a
/// time.
pub fn logrotate(params: &MailParams, master: Option<i32>) -> i32 {
    let file = &params.maillog_file;
    for (name, value) in [
        ("maillog_file", file),
        (
            "maillog_file_rotate_suffix",
            &params.maillog_file_rotate_suffix,
        ),
    ] {
        if value.is_empty() {
            msg::log(
                Level::Fatal,
                &format!("empty '{name}' parameter value - logfile rotation failed"),
            );
            return 1;
        }
    }
    if file.starts_with("/dev/") {
        msg::log(Level::Fatal, &format!("not rotating '{file}'"));
        return 1;
    }
    let lock_path = Path::new(&params.queue_directory).join(ROTATE_LOCK);
    let lock = match crate::util::safe_open::safe_open(&lock_path, true, false, 0o600) {
        Ok(f) => f,
        Err(why) => {
            msg::log(
                Level::Fatal,
                &format!("open lock file {}: {why}", lock_path.display()),
            );
            return 1;
        }
    };
    if myflock(&lock, LockOp::Exclusive, false).is_err() {
        msg::info("waiting for another logrotate to finish");
        if let Err(e) = myflock(&lock, LockOp::Exclusive, true) {
            msg::log(
                Level::Fatal,
                &format!("lock {}: {}", lock_path.display(), crate::util::nix_text(e)),
            );
            return 1;
        }
    }
    let suffix = chrono::Local::now()
        .format(&params.maillog_file_rotate_suffix)
        .to_string();
    let mut rotated = None;
    if Path::new(file).exists() {
        match rename_fresh(file, &format!("{file}.{suffix}")) {
            Ok(name) => {
                msg::info(&format!("renamed {file} to {name}"));
                rotated = Some(name);
            }
            Err(e) => {
                msg::log(
                    Level::Fatal,
                    &format!("logfile '{file}' rotation failed: {e}"),
                );
                return 1;
            }
        }
    }
    if let Some(pid) = master {
        let _ = kill(Pid::from_raw(pid), Signal::SIGHUP);
        if let Some(r) = &rotated
            && !wait_until_closed(Path::new(r), Duration::from_secs(10))
        {
            msg::warn(&format!("{r} is still open after 10s; compressing anyway"));
        }
    }
    // Only the file this run renamed is compressed.
    let compressor = &params.maillog_file_compressor;
    if let Some(rotated) = rotated.filter(|_| !compressor.is_empty()) {
        match std::process::Command::new(compressor)
            .arg(&rotated)
            .output()
        {
            Ok(out) if out.status.success() => {
                msg::info(&format!("compressed {rotated} with {compressor}"))
            }
            Ok(out) => {
                msg::log(
                    Level::Fatal,
                    &format!(
                        "logfile '{file}' rotation failed: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ),
                );
                return 1;
            }
            Err(e) => {
                msg::log(
                    Level::Fatal,
                    &format!("logfile '{file}' rotation failed: {compressor}: {e}"),
                );
                return 1;
            }
        }
    }
    0
}
