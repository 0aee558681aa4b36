//! The master daemon (Postfix's master.c): its options and its state.  It
//! reads master.cf, creates each service's endpoint, spawns children on
//! demand up to each process limit, keeps count of busy and idle children
//! from their status records, throttles services whose children fail at
//! start, reloads on SIGHUP and stops on SIGTERM; each of those jobs lives
//! in the `master_*` file Postfix has for it, start-up in `master_start`
//! and the loop in `master_loop`.
//!
//! The state is a few parts: the configuration (options, main.cf,
//! parameters), the services (`service_table`), the control socket
//! (`master_control`), the event set (`master_events`), the wake-ups and
//! the upgrade's vetting, and what the process holds for its lifetime
//! (locks, the flow pipe, its program, the service manager).
//!
//! One thread and one event loop (epoll).  The master never blocks: its
//! status channels and its log socket are non-blocking, and a log record
//! the socket cannot take goes straight to the log file.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::global::mail_params::MailParams;
use crate::util::getopt::{Getopt, Opt};
use crate::util::msg;

use super::master_control::Control;
use super::master_events::Events;
use super::master_systemd::Systemd;
use super::master_upgrade::Upgrade;
use super::master_wakeup::Wakeups;
use super::service_table::Services;

/// What the master calls itself in `daemon started -- version ...`.
pub const VERSION: &str = concat!("postkit-", env!("CARGO_PKG_VERSION"));

/// Set in the environment of a master that `postkit start` runs: until it
/// is ready, it copies its records to stderr, which `start` reads.
pub const STARTUP_STDERR: &str = "POSTKIT_STARTUP_STDERR";

/// The master's command-line options.
#[derive(Debug, Default, Clone)]
pub struct MasterOptions {
    /// `-c DIR`: the configuration directory.
    pub config_dir: Option<String>,
    /// `-d`: stay attached to the terminal; children get `-d`.
    pub foreground: bool,
    /// `-t`: exit 0 when no master runs, 1 when one does.
    pub test: bool,
    /// `-v`, once per level.
    pub verbose: u32,
    /// `-V`: copy log records to stderr.
    pub stderr: bool,
    /// `-e SECONDS`: exit after this long.
    pub exit_after: Option<u64>,
    /// `-D`: run `debugger_command` once initialized.
    pub debug: bool,
    /// `-i`: init mode, as PID 1 of a container: no session of its own,
    /// stdout kept, exit 0 on SIGTERM.
    pub init_mode: bool,
    /// `-s` (and `-i`): stdout is not detached, for `maillog_file =
    /// /dev/stdout`.
    pub keep_stdout: bool,
    /// `-w`: a foreground process waits until the master has initialized
    /// (`master_monitor`).
    pub wait: bool,
}

impl MasterOptions {
    /// The command line that gives these options (without `-w`): what the
    /// monitor starts the master with.
    pub fn args(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(dir) = &self.config_dir {
            v.extend(["-c".to_string(), dir.clone()]);
        }
        v.extend(self.flags());
        v
    }

    /// The same without `-c`: what a master re-executed in place (restart,
    /// upgrade) runs with beside its configuration directory.
    pub fn flags(&self) -> Vec<String> {
        let mut v = Vec::new();
        for (on, flag) in [
            (self.debug, "-D"),
            (self.foreground, "-d"),
            (self.keep_stdout && !self.init_mode, "-s"),
            (self.init_mode, "-i"),
            (self.test, "-t"),
            (self.stderr, "-V"),
        ] {
            if on {
                v.push(flag.to_string());
            }
        }
        if let Some(secs) = self.exit_after {
            v.extend(["-e".to_string(), secs.to_string()]);
        }
        v.extend(std::iter::repeat_n("-v".to_string(), self.verbose as usize));
        v
    }
}

/// A command line the master does not take: Postfix's usage text, with
/// the program name as invoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "usage: {} [-c config_dir] [-D (debug)] [-d (don't detach from terminal)] [-e exit_time] [-t (test)] [-v] [-w (wait for initialization)]",
            self.0
        )
    }
}

impl std::error::Error for UsageError {}

/// Parses the master's options (`args` without the program name `me`).
/// Beside Postfix's own: `-V`, copy log records to stderr.
pub fn parse_options(me: &str, args: &[String]) -> Result<MasterOptions, UsageError> {
    let usage = || UsageError(me.to_string());
    let mut o = MasterOptions::default();
    let mut g = Getopt::new(args, "c:Dde:istvVw");
    for opt in g.by_ref() {
        match opt.map_err(|_| usage())? {
            Opt::Flag('D') => o.debug = true,
            Opt::Flag('d') => o.foreground = true,
            Opt::Flag('i') => {
                o.init_mode = true;
                o.keep_stdout = true;
            }
            Opt::Flag('s') => o.keep_stdout = true,
            Opt::Flag('t') => o.test = true,
            Opt::Flag('v') => o.verbose += 1,
            Opt::Flag('V') => o.stderr = true,
            Opt::Flag('w') => o.wait = true,
            Opt::Value('c', v) => o.config_dir = Some(v),
            // atoi(), as Postfix: what is not a number is no time limit.
            Opt::Value('e', v) => o.exit_after = Some(leading_number(&v)),
            _ => return Err(usage()),
        }
    }
    if !g.rest().is_empty() {
        return Err(usage());
    }
    Ok(o)
}

/// The number a text starts with, as atoi() reads it (0 when none).
fn leading_number(text: &str) -> u64 {
    let t = text.trim_start();
    let digits: String = t.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or(if digits.is_empty() { 0 } else { u64::MAX })
}

/// Postfix's refusals of option combinations, and of `-i` outside PID 1.
pub fn check_options(o: &MasterOptions) -> Result<(), String> {
    if o.init_mode && std::process::id() != 1 {
        return Err("-i is allowed only for PID 1 process".into());
    }
    if o.test && o.wait {
        return Err("the -t and -w options cannot be used together".into());
    }
    if o.init_mode && (o.debug || o.foreground || o.wait) {
        return Err("the -i option cannot be used with -D, -d, or -w".into());
    }
    Ok(())
}

/// The running master's state, in parts; each `master_*` module adds its
/// methods.
pub struct Master {
    /// What the master was started with and read from main.cf.
    pub(super) conf: RunConf,
    /// The services, by id.
    pub(super) services: Services,
    /// Children of services that a reload removed, by pid: their path.
    pub(super) orphans: HashMap<i32, String>,
    /// The control socket and its clients.
    pub(super) control: Control,
    /// Everything the loop waits on.
    pub(super) events: Events,
    /// Inet wake-ups whose connections are under way.
    pub(super) wakeups: Wakeups,
    /// The vetting of a new program for an upgrade or restart.
    pub(super) upgrade: Upgrade,
    /// The service manager, when there is one.
    pub(super) systemd: Systemd,
    /// What the process holds for its lifetime (and hands over).
    pub(super) life: Lifetime,
    /// When timers and supervision must be looked at next.
    pub(super) next_housekeeping: Instant,
    /// When the children were last looked at for being stopped.
    pub(super) last_supervision: Instant,
}

/// The configuration part: the options, main.cf, and what follows from it.
pub struct RunConf {
    pub(super) opts: MasterOptions,
    pub(super) config_dir: String,
    pub(super) params: MailParams,
    /// main.cf as read at start or the last reload: what each service's
    /// declared watchdog time is read from.
    pub(super) main_cf: crate::global::mail_conf::MailConf,
    /// inet_interfaces as the master started with it (a change needs a
    /// stop and start).
    pub(super) inet_interfaces: Option<String>,
    /// inet_protocols as the master started with it (the same).
    pub(super) inet_protocols: Option<String>,
    pub(super) throttle_time: Duration,
    /// The environment children get (import_environment).
    pub(super) child_env: Vec<(String, String)>,
    /// mail_owner's uid and gid when running as root (None otherwise):
    /// looked up once per reading of main.cf, as Postfix's master does.
    pub(super) owner: Option<(u32, u32)>,
}

/// The lifetime part: what the process holds from start to exit, and hands
/// over to the program that replaces it.
pub struct Lifetime {
    /// The flow-token pipe every child gets as fds 3 and 4.
    pub(super) flow: (OwnedFd, OwnedFd),
    /// The last generation given to a child.
    pub(super) generation: u32,
    /// This executable: built-in daemons run from it.
    pub(super) exe: PathBuf,
    /// The pid file, locked for as long as this master (and the programs it
    /// re-executes for an upgrade) runs.
    pub(super) pid_lock: std::fs::File,
    /// data_directory's lock file.
    pub(super) data_lock: Option<std::fs::File>,
    /// Upgrades and restarts in place so far.
    pub(super) execs: u32,
    pub(super) started: Instant,
    /// Descriptors held back so that, out of descriptors at start, the
    /// master can still write why into the log before it exits.
    pub(super) fd_reserve: Vec<std::fs::File>,
}

/// `master [-c dir] [-D] [-d] [-e secs] [-i] [-s] [-t] [-v] [-V] [-w]`
/// (`args[0]`, the program name as invoked, included).
pub fn main(args: &[String]) -> i32 {
    msg::set_tag("postfix/master");
    let me = args.first().map_or("master", String::as_str);
    let fatal = |e: &dyn std::fmt::Display| -> ! {
        msg::set_stderr(true);
        msg::fatal(e)
    };
    let opts = parse_options(me, &args[1.min(args.len())..]).unwrap_or_else(|e| fatal(&e));
    if let Err(e) = check_options(&opts) {
        fatal(&e);
    }
    if opts.wait {
        super::master_monitor::monitor(me, &opts);
    }
    Master::run(opts)
}
