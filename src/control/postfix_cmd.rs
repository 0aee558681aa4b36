//! postkit as Postfix's `postfix` command.  Run under the name `postfix`
//! (a link), `postfix [-c config_dir] [-Dv] VERB` answers as Postfix's
//! does for the verbs postkit's master serves (`start`, `start-fg`,
//! `stop`, `abort`, `reload`, `status`, `check`): the same exit codes, and
//! postfix-script's records (`postfix/postfix-script: the Postfix mail
//! system is running: PID: N`) in the log and, when standard error is a
//! terminal, there; nothing else.  So a service manager or a script written
//! for Postfix can be pointed at it.  `flush` is done as postfix-script
//! does it (Postfix's `postqueue -f`).  The verbs that remain Postfix's own
//! (`set-permissions`, `upgrade-configuration`, `tls`, `drain`,
//! `quick-stop`, `post-install`, ...) are handed to Postfix's own command
//! when it is installed (and is not this program), provided the
//! configuration's daemon_directory has Postfix's postfix-script for it to
//! run; otherwise they are refused with the reason.

use std::os::unix::process::CommandExt;
use std::path::Path;

use crate::util::getopt::{Getopt, Opt};

/// Postfix's own command, for the verbs it keeps.
pub const POSTFIX_COMMAND: &str = "/usr/sbin/postfix";

/// The verbs postkit answers itself when run as `postfix`.
pub const POSTKIT_VERBS: &[&str] = &[
    "start", "start-fg", "stop", "abort", "reload", "status", "check",
];

const USAGE: &str = "usage: postfix [-c config_dir] [-Dv] command";

/// Whether `a` and `b` name the same file.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// `postfix [-c config_dir] [-Dv] VERB` (`args` with the program name).
pub fn main(args: &[String]) -> i32 {
    super::set_postfix_voice();
    let mut config_dir = None;
    let mut options = Getopt::new(&args[1..], "c:Dv");
    for opt in options.by_ref() {
        match opt {
            Ok(Opt::Value('c', dir)) => config_dir = Some(dir),
            // Debugging and verbosity are for Postfix's own daemons.
            Ok(Opt::Flag('D' | 'v')) => {}
            _ => {
                super::postfix_script(None, crate::util::msg::Level::Fatal, USAGE);
                return 1;
            }
        }
    }
    let rest = options.rest().to_vec();
    let Some(verb) = rest.first() else {
        super::postfix_script(None, crate::util::msg::Level::Fatal, USAGE);
        return 1;
    };
    let config_dir = config_dir.unwrap_or_else(crate::global::mail_conf::config_dir_from_env);
    if POSTKIT_VERBS.contains(&verb.as_str()) {
        return super::run(&config_dir, verb, &rest[1..]);
    }
    // `flush` as postfix-script does it: Postfix's postqueue, in the queue
    // directory.  It needs no postfix-script, which a daemon_directory of
    // postkit's does not have.
    let params = crate::master::master_vars::MasterConf::load(&config_dir)
        .ok()
        .map(|mc| mc.params);
    if let Some(p) = &params {
        if verb == "flush" && rest.len() == 1 {
            return flush(&config_dir, p);
        }
        let script = Path::new(&p.daemon_directory).join("postfix-script");
        if !script.exists() {
            super::postfix_script(
                Some(p),
                crate::util::msg::Level::Fatal,
                &format!(
                    "'{verb}' is Postfix's own command, run by Postfix's postfix-script, and daemon_directory {} has none: use a configuration whose daemon_directory is Postfix's",
                    p.daemon_directory
                ),
            );
            return 1;
        }
    }
    // Postfix's own verbs: Postfix's own command does them.
    let own = std::env::current_exe().ok();
    let postfix = Path::new(POSTFIX_COMMAND);
    if postfix.exists() && !own.as_deref().is_some_and(|o| same_file(o, postfix)) {
        let e = std::process::Command::new(postfix)
            .arg0("postfix")
            .args(&args[1..])
            .exec();
        super::postfix_script(
            None,
            crate::util::msg::Level::Fatal,
            &format!("cannot run {POSTFIX_COMMAND}: {e}"),
        );
        return 1;
    }
    super::postfix_script(
        None,
        crate::util::msg::Level::Fatal,
        &format!("unknown command: '{verb}'"),
    );
    super::postfix_script(
        None,
        crate::util::msg::Level::Fatal,
        "usage: postfix start (or stop, reload, abort, flush, check, status, set-permissions, upgrade-configuration)",
    );
    1
}

/// `postfix flush`: postfix-script's recipe (`$command_directory/postqueue
/// -f`, from the queue directory, for this configuration).
fn flush(config_dir: &str, p: &crate::global::mail_params::MailParams) -> i32 {
    if let Err(e) = std::env::set_current_dir(&p.queue_directory) {
        super::postfix_script(
            Some(p),
            crate::util::msg::Level::Fatal,
            &format!("no Postfix queue directory {}! ({e})", p.queue_directory),
        );
        return 1;
    }
    let postqueue = Path::new(&p.command_directory).join("postqueue");
    match std::process::Command::new(&postqueue)
        .arg("-f")
        .env("MAIL_CONFIG", config_dir)
        .status()
    {
        Ok(st) => st.code().unwrap_or(1),
        Err(e) => {
            super::postfix_script(
                Some(p),
                crate::util::msg::Level::Fatal,
                &format!("cannot run {}: {e}", postqueue.display()),
            );
            1
        }
    }
}
