//! `postkit check`: both configuration files parse, and the queue
//! directories exist with Postfix's owners and modes.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::global::mail_params::MailParams;
use crate::master::master_ent::{EntContext, parse_master_cf};
use crate::util::msg;

pub fn check(config_dir: &str, params: &MailParams) -> i32 {
    let mut problems = 0;
    let mut report = |text: String| {
        eprintln!("postkit: warning: {text}");
        problems += 1;
    };
    let path = format!("{config_dir}/master.cf");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let ctx = EntContext {
                daemon_directory: params.daemon_directory.clone(),
                default_process_limit: params.default_process_limit,
                compat_ge_1: true,
                foreground: false,
                verbose: false,
                master_service_disable: String::new(),
            };
            if let Err(e) = parse_master_cf(&path, &text, &ctx, &mut |m| msg::warn(&m)) {
                report(e);
            }
        }
        Err(e) => report(format!("open {path}: {}", crate::util::errno_text(&e))),
    }
    let owner = nix::unistd::User::from_name(&params.mail_owner)
        .ok()
        .flatten();
    let root = nix::unistd::geteuid().is_root();
    let q = Path::new(&params.queue_directory);
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
