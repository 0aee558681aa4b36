//! The master daemon (Postfix's master.c): options, start-up and the event
//! loop.  It reads master.cf, creates each service's endpoint, spawns
//! children on demand up to each process limit, keeps count of busy and
//! idle children from their status records, throttles services whose
//! children fail at start, reloads on SIGHUP and stops on SIGTERM; each of
//! those jobs lives in the `master_*` file Postfix has for it.
//!
//! One thread and one event loop (epoll, `master_events`).  The master
//! never blocks: its status channels and its log socket are non-blocking,
//! and a log record the socket cannot take goes straight to the log file.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::global::mail_params::MailParams;
use crate::global::maillog_client::{self, FallbackMode};
use crate::util::getopt::{Getopt, Opt};
use crate::util::msg;
use crate::{msg_fatal, msg_info, msg_warn};

use super::master_control::{Control, ControlSocket};
use super::master_events::Events;
use super::master_handover::{HANDOVER_ENV, Handover, UPGRADE_FAILED_ENV, install_way_back};
use super::master_queue::{
    PID_FILE, lock_pid_file, make_queue_dirs, owner_ids, running_master, set_dir_owner_mode,
};
use super::master_sig::Signals;
use super::master_systemd::Systemd;
use super::master_upgrade::Upgrade;
use super::master_vars::{MasterConf, child_environment};
use super::master_wakeup::Wakeups;
use super::service_table::Services;

/// What the master calls itself in `daemon started -- version ...`.
pub const VERSION: &str = concat!("postkit-", env!("CARGO_PKG_VERSION"));

/// Set in the environment of a master that `postkit start` runs: until it
/// is ready, it copies its records to stderr, which `start` reads.
pub const STARTUP_STDERR: &str = "POSTKIT_STARTUP_STDERR";

/// Fault injection for the upgrade tests: an upgraded master (one that
/// received a hand-over) fails at start when this is set.
pub const FAULT_UPGRADED_START: &str = "POSTKIT_FAULT_UPGRADED_START";

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
}

const USAGE: &str = "usage: master [-c config_dir] [-d (don't detach from terminal)] [-e exit_time] [-t (test)] [-v] [-V (log to stderr)]";

/// A command line the master does not take; shown as its usage text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError;

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(USAGE)
    }
}

impl std::error::Error for UsageError {}

/// Parses the master's options.
pub fn parse_options(args: &[String]) -> Result<MasterOptions, UsageError> {
    let mut o = MasterOptions::default();
    let mut g = Getopt::new(args, "c:de:tvV");
    for opt in g.by_ref() {
        match opt.map_err(|_| UsageError)? {
            Opt::Flag('d') => o.foreground = true,
            Opt::Flag('t') => o.test = true,
            Opt::Flag('v') => o.verbose += 1,
            Opt::Flag('V') => o.stderr = true,
            Opt::Value('c', v) => o.config_dir = Some(v),
            Opt::Value('e', v) => o.exit_after = Some(v.parse().map_err(|_| UsageError)?),
            _ => return Err(UsageError),
        }
    }
    if !g.rest().is_empty() {
        return Err(UsageError);
    }
    Ok(o)
}

/// The running master's state; each `master_*` module adds its methods.
pub struct Master {
    pub(super) opts: MasterOptions,
    pub(super) config_dir: String,
    pub(super) params: MailParams,
    /// inet_interfaces as the master started with it (a change needs a
    /// stop and start).
    pub(super) inet_interfaces: Option<String>,
    pub(super) throttle_time: Duration,
    pub(super) services: Services,
    /// Children of services that a reload removed, by pid: their path.
    pub(super) orphans: HashMap<i32, String>,
    /// The flow-token pipe every child gets as fds 3 and 4.
    pub(super) flow: (OwnedFd, OwnedFd),
    pub(super) generation: u32,
    pub(super) child_env: Vec<(String, String)>,
    /// The control socket and its clients.
    pub(super) control: Control,
    /// The vetting of a new program for an upgrade or restart.
    pub(super) upgrade: Upgrade,
    /// Inet wake-ups whose connections are under way.
    pub(super) wakeups: Wakeups,
    /// Everything the loop waits on.
    pub(super) events: Events,
    /// When timers and supervision must be looked at next.
    pub(super) next_housekeeping: Instant,
    /// Descriptors held back so that, out of descriptors at start, the
    /// master can still write why into the log before it exits.
    pub(super) fd_reserve: Vec<std::fs::File>,
    /// This executable: built-in daemons run from it.
    pub(super) exe: PathBuf,
    /// main.cf as read at start or the last reload: what each service's
    /// declared watchdog time is read from.
    pub(super) main_cf: crate::global::mail_conf::MailConf,
    /// When the children were last looked at for being stopped.
    pub(super) last_supervision: Instant,
    pub(super) started: Instant,
    /// The pid file, locked for as long as this master (and the programs it
    /// re-executes for an upgrade) runs.
    pub(super) pid_lock: std::fs::File,
    /// data_directory's lock file.
    pub(super) data_lock: Option<std::fs::File>,
    /// Upgrades and restarts in place so far.
    pub(super) execs: u32,
    /// The service manager, when there is one.
    pub(super) systemd: Systemd,
}

impl Master {
    /// Starts a master and never returns.
    pub fn run(opts: MasterOptions) -> ! {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
        if let Some(dir) = &opts.config_dir {
            // Absolute, because the master and its children work in the
            // queue directory.
            let dir = std::fs::canonicalize(dir)
                .map_or_else(|_| dir.clone(), |p| p.display().to_string());
            crate::util::safe_env::set_var("MAIL_CONFIG", &dir);
        }
        // The service manager's sockets sit at descriptors 3 on: claim them
        // before anything else is opened.
        let systemd = Systemd::from_env();
        // A master that replaced this process's previous program (restart,
        // upgrade) takes over its locks, sockets and children; from here
        // on, a fatal error in its start-up hands them back.
        let mut handover = std::env::var(HANDOVER_ENV).ok().map(|t| {
            crate::util::safe_env::remove_var(HANDOVER_ENV);
            Handover::parse(&t)
        });
        let took_over = handover.is_some();
        // A program that got everything back from a failed successor does
        // not bounce again: its own failure is final.
        let bounced_back = std::env::var_os(UPGRADE_FAILED_ENV).is_some();
        if let Some(h) = handover.as_ref().filter(|_| !bounced_back) {
            let mut args = vec![
                "master".to_string(),
                "-c".to_string(),
                crate::global::mail_conf::config_dir_from_env(),
            ];
            if opts.foreground {
                args.push("-d".into());
            }
            args.extend(std::iter::repeat_n("-v".to_string(), opts.verbose as usize));
            if opts.stderr {
                args.push("-V".into());
            }
            install_way_back(h, args);
        }
        if took_over && !bounced_back {
            // Faults for the tests: a fatal error, a crash, a panic.
            match std::env::var(FAULT_UPGRADED_START).as_deref() {
                Ok("abort") => std::process::abort(),
                Ok("segv") => {
                    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSEGV);
                }
                Ok("panic") => panic!("fault injected ({FAULT_UPGRADED_START})"),
                Ok("hang") => loop {
                    std::thread::sleep(Duration::from_secs(3600));
                },
                Ok(_) => msg_fatal!(
                    "fault injected at the start of an upgraded master ({FAULT_UPGRADED_START})"
                ),
                Err(_) => {}
            }
        }
        // Detached, a session of its own, as Postfix's master: its
        // children share its process group, apart from the caller's
        // terminal and signals.  (A re-executed master already is.)
        if !opts.foreground
            && !took_over
            && let Err(e) = nix::unistd::setsid()
            && nix::unistd::getsid(None).ok() != Some(nix::unistd::getpid())
        {
            msg_fatal!(
                "unable to set session and process group ID: {}",
                crate::util::nix_text(e)
            );
        }
        msg::set_verbose(opts.verbose);
        // Started by `postkit start`: records go to its terminal too until
        // the master is ready.
        let startup_stderr = std::env::var_os(STARTUP_STDERR).is_some();
        crate::util::safe_env::remove_var(STARTUP_STDERR);
        msg::set_stderr(opts.stderr || startup_stderr);
        raise_open_limit();
        maillog_client::init_from_env(&maillog_client::mail_task("master", None), false);
        let config_dir = crate::global::mail_conf::config_dir_from_env();
        let mc = MasterConf::load(&config_dir).unwrap_or_else(|e| msg::fatal(&e));
        let params = mc.params.clone();
        let tag = maillog_client::mail_task("master", Some(&params));
        maillog_client::init(&tag, &params, FallbackMode::LogWriter)
            .unwrap_or_else(|e| msg::fatal(&e));
        maillog_client::with_postlog(|p| p.set_nonblocking());
        // Until the services run, nobody reads the log socket: a record
        // sent there now would die with the master if it could not start.
        maillog_client::with_postlog(|p| p.use_fallback_only());

        if opts.test {
            let running = running_master(&params.queue_directory).is_some();
            std::process::exit(i32::from(running));
        }
        make_queue_dirs(&params).unwrap_or_else(|e| msg::fatal(&e));
        if let Err(e) = std::env::set_current_dir(&params.queue_directory) {
            msg_fatal!(
                "chdir {}: {}",
                params.queue_directory,
                crate::util::errno_text(&e)
            );
        }
        let inherited_lock = handover
            .as_mut()
            .and_then(|h| h.pid_lock.take())
            .map(std::fs::File::from);
        let pid_lock = match inherited_lock {
            Some(f) => f,
            None => lock_pid_file(PID_FILE).unwrap_or_else(|e| msg::fatal(&e)),
        };
        let inherited_data_lock = handover
            .as_mut()
            .and_then(|h| h.data_lock.take())
            .map(std::fs::File::from);
        let data_lock = if let Some(f) = inherited_data_lock {
            Some(f)
        } else if params.data_directory.is_empty() {
            None
        } else {
            let data = std::path::Path::new(&params.data_directory);
            if !data.exists() {
                let _ = std::fs::create_dir_all(data);
                if let Some((uid, gid)) = owner_ids(&params) {
                    let _ = set_dir_owner_mode(data, Some(uid), Some(gid), 0o700);
                }
            }
            Some(
                lock_pid_file(&format!("{}/master.lock", params.data_directory))
                    .unwrap_or_else(|e| msg::fatal(&e)),
            )
        };
        if !nix::unistd::geteuid().is_root() {
            msg_warn!("not running as root: privilege separation (-u, chroot) is not in effect");
        }
        let flow = match handover.as_mut().and_then(|h| h.flow.take()) {
            Some(flow) => flow,
            None => {
                nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC)
                    .unwrap_or_else(|e| {
                        msg_fatal!("master_flow_init: pipe: {}", crate::util::nix_text(e))
                    })
            }
        };
        let control = match handover.as_mut().and_then(|h| h.control.take()) {
            Some(fd) => ControlSocket::adopt(fd),
            None => ControlSocket::bind(),
        };
        let signals = Signals::install().unwrap_or_else(|e| msg_fatal!("signals: {e}"));
        let mut master = Master {
            child_env: child_environment(&params.import_environment),
            opts,
            config_dir: config_dir.clone(),
            params,
            inet_interfaces: None,
            throttle_time: Duration::from_secs(mc.throttle_time as u64),
            services: Services::default(),
            orphans: HashMap::new(),
            flow,
            generation: 0,
            control: Control::new(control),
            wakeups: Wakeups::default(),
            upgrade: Upgrade::default(),
            events: Events::new(),
            next_housekeeping: Instant::now(),
            fd_reserve: (0..4)
                .filter_map(|_| std::fs::File::open("/dev/null").ok())
                .collect(),
            exe: handover
                .as_mut()
                .and_then(|h| h.exe.take())
                .or_else(|| std::env::current_exe().ok())
                .unwrap_or_else(|| PathBuf::from("postkit")),
            main_cf: mc.conf.clone(),
            last_supervision: Instant::now(),
            started: Instant::now(),
            pid_lock,
            data_lock,
            execs: handover.as_ref().map_or(0, |h| h.execs),
            systemd,
        };
        if let Some(h) = &handover {
            master.generation = h.generation;
        }
        let ents = master.read_master_cf(&mc).unwrap_or_else(|e| {
            master.fd_reserve.clear();
            msg::fatal(&e)
        });
        // The program this one replaced, kept open for the way back only.
        let old_exe = handover.as_ref().and_then(|h| h.old_exe);
        // At start every endpoint must be made: a master that runs without
        // some of its services would say "running" and serve half.
        master.take_services(ents, handover.map(|h| h.services).unwrap_or_default());
        // Children that ended while the program was being replaced.
        master.reap();
        master.fd_reserve.clear();
        maillog_client::with_postlog(|p| p.use_socket());
        if !took_over {
            master.control.socket.publish();
            msg_info!("daemon started -- version {VERSION}, configuration {config_dir}");
            master.systemd.notify_ready(&master.services);
        } else {
            msg_info!("daemon restarted in place -- version {VERSION}, configuration {config_dir}");
        }
        // Running: a fatal error, a crash or a panic from now on is this
        // master's own.
        msg::set_fatal_hook(None);
        if took_over {
            crate::util::exec_on_crash::disarm();
            let _ = std::panic::take_hook();
            // No way back is needed now: the old program's descriptor goes
            // (it would pin a replaced binary and cost a descriptor per
            // restart).
            drop(old_exe.and_then(crate::server::fds::inherited));
        }
        if let Ok(why) = std::env::var(UPGRADE_FAILED_ENV) {
            crate::util::safe_env::remove_var(UPGRADE_FAILED_ENV);
            msg_warn!(
                "upgrade failed: the new program could not start: {why}; this master keeps running"
            );
        }
        msg::set_stderr(master.opts.stderr);
        master.main_loop(signals)
    }
}

/// Raises the soft limit on open files to the hard limit, as Postfix's
/// master does: every service's sockets, status channels and control
/// clients come out of it.
fn raise_open_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
    {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// `postkit master [-c dir] [-d] [-t] [-v] [-V] [-e secs]`.
pub fn main(args: &[String]) -> i32 {
    msg::set_tag("postfix/master");
    let opts = parse_options(args).unwrap_or_else(|e| {
        msg::set_stderr(true);
        msg::fatal(e)
    });
    Master::run(opts)
}
