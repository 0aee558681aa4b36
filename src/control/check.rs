//! `postkit check`: both configuration files parse, and the queue
//! directories exist with Postfix's owners and modes.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::global::mail_params::MailParams;
use crate::master::master_ent::{EntContext, parse_master_cf};
use crate::util::msg;

/// Parses master.cf as the master will; the error names the file and line.
pub fn check_master_cf(config_dir: &str, params: &MailParams) -> Result<(), String> {
    let path = format!("{config_dir}/master.cf");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("open {path}: {}", crate::util::errno_text(&e)))?;
    let ctx = EntContext {
        daemon_directory: params.daemon_directory.clone(),
        default_process_limit: params.default_process_limit,
        compat_ge_1: true,
        foreground: false,
        verbose: false,
        master_service_disable: String::new(),
    };
    parse_master_cf(&path, &text, &ctx, &mut |m| msg::warn(&m)).map(|_| ())
}

pub fn check(config_dir: &str, params: &MailParams) -> i32 {
    let mut problems = 0;
    let mut report = |text: String| {
        eprintln!("postkit: warning: {text}");
        problems += 1;
    };
    if let Err(e) = check_master_cf(config_dir, params) {
        report(e);
    }
    let owner = nix::unistd::User::from_name(&params.mail_owner)
        .ok()
        .flatten();
    let root = nix::unistd::geteuid().is_root();
    let q = Path::new(&params.queue_directory);
    // Postfix's postfix-script checks: nobody but its owner (root, when
    // run as root) may write the queue directory.
    if let Ok(m) = std::fs::metadata(q) {
        if m.mode() & 0o022 != 0 {
            report(format!("group or other writable: {}", q.display()));
        }
        if root && m.uid() != 0 {
            report(format!("not owned by root: {}", q.display()));
        }
    }
    for (sub, mode, want_owner) in [
        ("pid", 0o755, None),
        ("public", 0o2710, owner.as_ref()),
        ("private", 0o700, owner.as_ref()),
    ] {
        let dir = q.join(sub);
        match std::fs::symlink_metadata(&dir) {
            Err(_) => report(format!("missing directory {}", dir.display())),
            Ok(m) => {
                if !m.is_dir() {
                    report(format!("{} is not a directory", dir.display()));
                    continue;
                }
                if m.mode() & 0o7777 != mode {
                    report(format!(
                        "{}: mode {:04o}, want {mode:04o}",
                        dir.display(),
                        m.mode() & 0o7777
                    ));
                }
                if root
                    && let Some(u) = want_owner
                    && m.uid() != u.uid.as_raw()
                {
                    report(format!(
                        "{}: owner uid {}, want {} ({})",
                        dir.display(),
                        m.uid(),
                        u.uid,
                        u.name
                    ));
                }
            }
        }
    }
    if problems == 0 {
        eprintln!(
            "postkit: {config_dir}: main.cf, master.cf and {} are in order",
            params.queue_directory
        );
        0
    } else {
        1
    }
}
