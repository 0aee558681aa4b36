//! `postkit logrotate`: renames the log file with the rotate suffix, makes
//! the master restart postlogd (which then creates a new file) and
//! compresses the old file.  Nothing is lost: postlogd writes to the renamed
//! file until it restarts, and the new one from its first record; the
//! compressor runs only once no process has the renamed file open (Postfix
//! sleeps a second and hopes).

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::global::mail_params::MailParams;

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

/// `postkit logrotate`: renames maillog_file, tells the master (running as `master`) to reopen, and compresses the old file.
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
            eprintln!("postkit: fatal: empty '{name}' parameter value - logfile rotation failed");
            return 1;
        }
    }
    if file.starts_with("/dev/") {
        eprintln!("postkit: fatal: not rotating '{file}'");
        return 1;
    }
    let suffix = chrono::Local::now()
        .format(&params.maillog_file_rotate_suffix)
        .to_string();
    let rotated = format!("{file}.{suffix}");
    if Path::new(file).exists() {
        if let Err(e) = std::fs::rename(file, &rotated) {
            eprintln!("postkit: fatal: logfile '{file}' rotation failed: {e}");
            return 1;
        }
        eprintln!("postkit: renamed {file} to {rotated}");
    }
    if let Some(pid) = master {
        let _ = kill(Pid::from_raw(pid), Signal::SIGHUP);
        if !wait_until_closed(Path::new(&rotated), Duration::from_secs(10)) {
            eprintln!("postkit: warning: {rotated} is still open after 10s; compressing anyway");
        }
    }
    let compressor = &params.maillog_file_compressor;
    if !compressor.is_empty() && Path::new(&rotated).exists() {
        match std::process::Command::new(compressor)
            .arg(&rotated)
            .output()
        {
            Ok(out) if out.status.success() => {
                eprintln!("postkit: compressed {rotated} with {compressor}")
            }
            Ok(out) => {
                eprintln!(
                    "postkit: fatal: logfile '{file}' rotation failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                return 1;
            }
            Err(e) => {
                eprintln!("postkit: fatal: logfile '{file}' rotation failed: {compressor}: {e}");
                return 1;
            }
        }
    }
    0
}
