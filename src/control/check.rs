//! `postkit check`: main.cf and master.cf parse as the master parses them,
//! and the queue directories exist with the modes and owners in the
//! master's own table.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::service_probe::probe_services;
use crate::master::master_queue::{QUEUE_DIRS, dir_ids};
use crate::master::master_vars::MasterConf;
use crate::util::msg;

/// Runs the checks; 0 when everything is in order.
pub fn check(config_dir: &str, mc: &MasterConf) -> i32 {
    let params = &mc.params;
    let mut config_problems = 0;
    let mut declared = std::collections::HashSet::new();
    match mc.read_master_cf_as_configured(config_dir) {
        Ok(ents) => {
            for problem in mc.check_services(config_dir, &ents) {
                msg::warn(&problem);
                config_problems += 1;
            }
            // postkit services say which parameters they have, and
            // whether their settings are good.
            let probed = probe_services(config_dir, &ents, params);
            for problem in &probed.problems {
                msg::warn(problem);
                config_problems += 1;
            }
            for note in &probed.unasked {
                msg::warn(note);
            }
            declared = probed.declared;
        }
        Err(e) => {
            msg::warn(&e.to_string());
            config_problems += 1;
        }
    }
    // Names main.cf or master.cf set that nothing uses (a misspelling),
    // in postconf's own words: a warning, not a refusal, as with Postfix.
    let unused: Vec<String> = unused_parameters(config_dir)
        .into_iter()
        .filter(|u| {
            let name = u
                .split_once(": unused parameter: ")
                .and_then(|(_, nv)| nv.split_once('='))
                .map_or("", |(n, _)| n);
            !declared.contains(name)
        })
        .collect();
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
    // What `start` makes must be makeable, and a configuration postkit
    // wrote for another directory (copied or moved) must not quietly use
    // that directory's queue and log.
    for why in start_would_refuse(config_dir, params) {
        report(why);
    }
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
    // The queue directory alone, none of its subdirectories: made by a
    // package (as the mail_owner's home), not started yet.
    let never_started = QUEUE_DIRS
        .iter()
        .all(|d| std::fs::symlink_metadata(q.join(d.name)).is_err());
    for d in QUEUE_DIRS.iter().filter(|_| !never_started) {
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
    if problems == 0 && never_started {
        msg::info(&format!(
            "{config_dir}: main.cf and master.cf are {in_order}; not started yet (the directories of {} are made by `postkit start`)",
            params.queue_directory
        ));
        0
    } else if problems == 0 {
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

/// The first line of the main.cf `start-fg` writes (default_config).
const WRITTEN_HERE: &str = "# Written by postkit for an instance that lives in this directory.";

/// What `start` would refuse about where things go: a main.cf postkit
/// wrote for an instance in another directory (the configuration was
/// copied or moved), and directories it must make where the running user
/// cannot.
fn start_would_refuse(
    config_dir: &str,
    params: &crate::global::mail_params::MailParams,
) -> Vec<String> {
    let mut out = Vec::new();
    let main_cf = Path::new(config_dir).join("main.cf");
    let here = std::fs::canonicalize(config_dir).unwrap_or_else(|_| config_dir.into());
    if std::fs::read_to_string(&main_cf).is_ok_and(|t| t.starts_with(WRITTEN_HERE))
        && let Some(there) = Path::new(&params.queue_directory).parent()
        && there != here
    {
        out.push(format!(
            "{}: written for an instance in {}, but it is in {}: its queue, data and log would be {}'s (copied or moved?); correct queue_directory, data_directory, maillog_file and maillog_file_prefixes, or remove main.cf to have `postkit start` write a new one",
            main_cf.display(),
            there.display(),
            here.display(),
            there.display()
        ));
    }
    let mut places = vec![
        params.queue_directory.as_str(),
        params.data_directory.as_str(),
    ];
    if params.maillog_file.starts_with('/') && !params.maillog_file.starts_with("/dev/") {
        places.push(params.maillog_file.as_str());
    }
    for place in places.into_iter().filter(|p| !p.is_empty()) {
        let path = Path::new(place);
        if path.exists() {
            continue;
        }
        // The nearest directory that exists is where start makes it.
        let Some(parent) = path.ancestors().skip(1).find(|a| a.exists()) else {
            continue;
        };
        if let Err(e) = nix::unistd::access(
            parent,
            nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
        ) {
            out.push(format!(
                "{place} cannot be made: {}: {}",
                parent.display(),
                crate::util::nix_text(e)
            ));
        }
    }
    out
}
