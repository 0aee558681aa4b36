//! `postkit check`: main.cf and master.cf parse as the master parses them,
//! and the queue directories exist with the modes and owners in the
//! master's own table.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::master::master_queue::{QUEUE_DIRS, dir_ids};
use crate::master::master_vars::MasterConf;
use crate::util::msg;

/// Runs the checks; 0 when everything is in order.
pub fn check(config_dir: &str, mc: &MasterConf) -> i32 {
    let params = &mc.params;
    let mut config_problems = 0;
    match mc.read_master_cf(config_dir, false, false, &mc.inet_interfaces) {
        Ok(ents) => {
            for problem in mc.check_services(config_dir, &ents) {
                msg::warn(&problem);
                config_problems += 1;
            }
        }
        Err(e) => {
            msg::warn(&e.to_string());
            config_problems += 1;
        }
    }
    // Names main.cf or master.cf set that nothing uses (a misspelling),
    // in postconf's own words: a warning, not a refusal, as with Postfix.
    let unused = unused_parameters(config_dir);
    for u in &unused {
        msg::warn(u);
    }
    let in_order = if unused.is_empty() {
        "in order".to_string()
    } else {
        format!(
            "in order but for {} unused parameter(s) above",
            unused.len()
        )
    };
    let mut problems = config_problems;
    let mut report = |text: String| {
        msg::warn(&text);
        problems += 1;
    };
    // Vetting a program for an upgrade: what a start would refuse decides,
    // the queue's modes and owners below are only shown (a start accepts
    // them too).
    let vetting = std::env::var_os(crate::master::master_upgrade::UPGRADE_CHECK_ENV).is_some();
    let root = nix::unistd::geteuid().is_root();
    let q = Path::new(&params.queue_directory);
    // A configuration that has never run: its queue is made at the first
    // start, so missing directories are not faults yet.
    if !q.exists() {
        if problems == 0 {
            msg::info(&format!(
                "{config_dir}: main.cf and master.cf are {in_order}; not started yet ({} is made by `postkit start`)",
                params.queue_directory
            ));
            return 0;
        }
        return 1;
    }
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
    for d in QUEUE_DIRS {
        let dir = q.join(d.name);
        match std::fs::symlink_metadata(&dir) {
            Err(_) => report(format!("missing directory {}", dir.display())),
            Ok(m) => {
                if !m.is_dir() {
                    report(format!("{} is not a directory", dir.display()));
                    continue;
                }
                if m.mode() & 0o7777 != d.mode {
                    report(format!(
                        "{}: mode {:04o}, want {:04o}",
                        dir.display(),
                        m.mode() & 0o7777,
                        d.mode
                    ));
                }
                if root
                    && let (Some(uid), _) = dir_ids(d, params)
                    && m.uid() != uid
                {
                    report(format!(
                        "{}: owner uid {}, want {uid} ({})",
                        dir.display(),
                        m.uid(),
                        params.mail_owner
                    ));
                }
            }
        }
    }
    if problems == 0 {
        msg::info(&format!(
            "{config_dir}: main.cf, master.cf and {} are {in_order}",
            params.queue_directory
        ));
        0
    } else if vetting && config_problems == 0 {
        0
    } else {
        1
    }
}

/// postconf's "unused parameter" warnings for the configuration, from
/// postconf itself (this executable's), so that `check` says what
/// `postconf` says.
fn unused_parameters(config_dir: &str) -> Vec<String> {
    let Ok(exe) = std::env::current_exe() else {
        return Vec::new();
    };
    let Ok(out) = std::process::Command::new(exe)
        .args(["postconf", "-c", config_dir, "-n"])
        .env_remove("MAIL_CONFIG")
        .stdout(std::process::Stdio::null())
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| l.split_once("warning: ").map(|(_, w)| w))
        .filter(|w| w.contains(": unused parameter: "))
        .map(str::to_string)
        .collect()
}
