//! Start-up (Postfix's master.c main before its loop): the process made a
//! daemon, main.cf read, logging and the queue directory set up, and the
//! master's state built, either fresh or from what the program this
//! process ran before handed over (restart, upgrade).  The two differ
//! only in where the locks, the flow pipe, the control socket and the
//! services come from (`Resources`); everything after reads the same.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::global::mail_params::MailParams;
use crate::global::maillog_client::{self, FallbackMode, LogPolicy};
use crate::util::msg;
use crate::{msg_fatal, msg_info, msg_warn};

use super::fault_injection::{self, Fault};
use super::master::{Lifetime, Master, MasterOptions, RunConf, STARTUP_STDERR, VERSION};
use super::master_control::{Control, ControlSocket};
use super::master_events::Events;
use super::master_handover::{
    HANDOVER_ENV, Handover, ServiceState, UPGRADE_FAILED_ENV, install_way_back,
};
use super::master_monitor::{report_ready, take_monitor_fd};
use super::master_queue::{
    PID_FILE, lock_pid_file, make_queue_dirs, owner_ids, running_master, set_dir_owner_mode,
};
use super::master_sig::Signals;
use super::master_systemd::Systemd;
use super::master_upgrade::Upgrade;
use super::master_vars::{MasterConf, child_environment};
use super::master_wakeup::Wakeups;
use super::service_table::Services;

/// What a master holds for its lifetime and either makes or takes over.
struct Resources {
    pid_lock: std::fs::File,
    data_lock: Option<std::fs::File>,
    flow: (OwnedFd, OwnedFd),
    control: ControlSocket,
    exe: PathBuf,
    execs: u32,
    generation: u32,
    /// The services handed over, by (type name, endpoint).
    services: HashMap<(String, String), ServiceState>,
    /// The program this one replaced, kept open for the way back only.
    old_exe: Option<i32>,
}

impl Resources {
    /// A fresh start: everything made here.
    fn fresh(params: &MailParams) -> Resources {
        Resources {
            pid_lock: lock_pid_file(PID_FILE).unwrap_or_else(|e| msg::fatal(&e)),
            data_lock: data_lock(params),
            flow: flow_pipe(),
            control: ControlSocket::bind(),
            exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("postkit")),
            execs: 0,
            generation: 0,
            services: HashMap::new(),
            old_exe: None,
        }
    }

    /// A take-over: what the previous program handed over (anything it
    /// did not hand over is made as at a fresh start).
    fn taken_over(h: Handover, params: &MailParams) -> Resources {
        Resources {
            pid_lock: match h.pid_lock {
                Some(fd) => std::fs::File::from(fd),
                None => lock_pid_file(PID_FILE).unwrap_or_else(|e| msg::fatal(&e)),
            },
            data_lock: match h.data_lock {
                Some(fd) => Some(std::fs::File::from(fd)),
                None => data_lock(params),
            },
            flow: h.flow.unwrap_or_else(flow_pipe),
            control: match h.control {
                Some(fd) => ControlSocket::adopt(fd),
                None => ControlSocket::bind(),
            },
            exe: h
                .exe
                .or_else(|| std::env::current_exe().ok())
                .unwrap_or_else(|| PathBuf::from("postkit")),
            execs: h.execs,
            generation: h.generation,
            services: h.services,
            old_exe: h.old_exe,
        }
    }
}

/// data_directory's lock file, made (with the directory) when missing.
fn data_lock(params: &MailParams) -> Option<std::fs::File> {
    if params.data_directory.is_empty() {
        return None;
    }
    let data = std::path::Path::new(&params.data_directory);
    if !data.exists() {
        let _ = std::fs::create_dir_all(data);
        if let Some((uid, gid)) = owner_ids(params) {
            let _ = set_dir_owner_mode(data, Some(uid), Some(gid), 0o700);
        }
    }
    // As mail_owner, as Postfix's master does: the directory is
    // mail_owner's (root would open by a path mail_owner can swap), and
    // Postfix's master, started here later, must be able to open the file.
    let path = format!("{}/master.lock", params.data_directory);
    // (A directory of root's cannot be raced, and mail_owner may not
    // write there: root opens it then.)
    let roots = std::fs::metadata(data).is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
    let as_owner = owner_ids(params).filter(|_| !roots).map(|(uid, gid)| {
        crate::util::set_eugid::set_eugid(uid, gid).unwrap_or_else(|e| msg::fatal(&e))
    });
    let mut lock = lock_pid_file(&path);
    if as_owner.is_some() && lock.is_err() {
        // A root-owned lock file left by an older postkit: mail_owner may
        // remove it from its own directory, then make its own.
        let foreign = std::fs::symlink_metadata(&path)
            .is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
        if foreign && std::fs::remove_file(&path).is_ok() {
            lock = lock_pid_file(&path);
        }
    }
    drop(as_owner);
    Some(lock.unwrap_or_else(|e| msg::fatal(&e)))
}

/// The flow-token pipe every child gets as fds 3 and 4.
fn flow_pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC)
        .unwrap_or_else(|e| msg_fatal!("master_flow_init: pipe: {}", crate::util::nix_text(e)))
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
        let monitor = take_monitor_fd();
        let systemd = Systemd::from_env();
        let handover = take_handover(&opts);
        let took_over = handover.is_some();
        // Started by `postkit start`: records go to its terminal too until
        // the master is ready.
        let startup_stderr = std::env::var_os(STARTUP_STDERR).is_some();
        crate::util::safe_env::remove_var(STARTUP_STDERR);
        if !opts.foreground && !took_over {
            detach_stdio(
                opts.keep_stdout,
                opts.stderr || startup_stderr || systemd.managed(),
            );
        }
        // Detached, a session of its own, as Postfix's master: its
        // children share its process group, apart from the caller's
        // terminal and signals.  (A re-executed master already is; PID 1
        // and a master under a debugger stay where they are.)
        if !opts.foreground
            && !opts.init_mode
            && !opts.debug
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
        msg::set_stderr(opts.stderr || startup_stderr);
        raise_open_limit();
        maillog_client::init_from_env(&maillog_client::mail_task("master", None), false);
        let config_dir = crate::global::mail_conf::config_dir_from_env();
        let mc = MasterConf::load(&config_dir).unwrap_or_else(|e| msg::fatal(&e));
        let params = mc.params.clone();
        let tag = maillog_client::mail_task("master", Some(&params));
        maillog_client::init(&tag, &params, FallbackMode::LogWriter)
            .unwrap_or_else(|e| msg::fatal(&e));
        maillog_client::set_policy(LogPolicy::Starting);

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
        let res = match handover {
            Some(h) => Resources::taken_over(h, &params),
            None => Resources::fresh(&params),
        };
        if !nix::unistd::geteuid().is_root() {
            msg_warn!("not running as root: privilege separation (-u, chroot) is not in effect");
        }
        if opts.debug {
            // Expanded now, as Postfix's: $process_id is this master's.
            debug_process(
                &mc.conf
                    .lookup_eval("debugger_command")
                    .ok()
                    .flatten()
                    .unwrap_or_default(),
            );
        }
        let signals = Signals::install().unwrap_or_else(|e| msg_fatal!("signals: {e}"));
        let mut master = Master {
            conf: RunConf {
                child_env: child_environment(&params.import_environment),
                owner: owner_ids(&params),
                opts,
                config_dir: config_dir.clone(),
                params,
                main_cf: mc.conf.clone(),
                inet_interfaces: None,
                inet_protocols: None,
                throttle_time: Duration::from_secs(mc.throttle_time as u64),
            },
            services: Services::default(),
            orphans: HashMap::new(),
            control: Control::new(res.control),
            events: Events::new(),
            wakeups: Wakeups::default(),
            upgrade: Upgrade::default(),
            systemd,
            life: Lifetime {
                flow: res.flow,
                generation: res.generation,
                exe: res.exe,
                pid_lock: res.pid_lock,
                data_lock: res.data_lock,
                execs: res.execs,
                started: Instant::now(),
                fd_reserve: (0..4)
                    .filter_map(|_| std::fs::File::open("/dev/null").ok())
                    .collect(),
            },
            next_housekeeping: Instant::now(),
            last_supervision: Instant::now(),
        };
        let ents = master.read_master_cf(&mc).unwrap_or_else(|e| {
            master.life.fd_reserve.clear();
            msg::fatal(&e)
        });
        // At start every endpoint must be made: a master that runs without
        // some of its services would say "running" and serve half.
        master.take_services(ents, res.services);
        // Children that ended while the program was being replaced.
        master.reap();
        master.life.fd_reserve.clear();
        maillog_client::set_policy(LogPolicy::Serving);
        if !took_over {
            master.control.socket.publish();
            msg_info!("daemon started -- version {VERSION}, configuration {config_dir}");
            master.systemd.notify_ready(&master.services);
            report_ready(monitor);
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
            drop(res.old_exe.and_then(crate::server::fds::inherited));
        }
        if let Ok(why) = std::env::var(UPGRADE_FAILED_ENV) {
            crate::util::safe_env::remove_var(UPGRADE_FAILED_ENV);
            msg_warn!(
                "upgrade failed: the new program could not start: {why}; this master keeps running"
            );
        }
        msg::set_stderr(master.conf.opts.stderr);
        master.main_loop(signals)
    }
}

/// The hand-over from the program this process ran before (restart,
/// upgrade), if any.  From here on a fatal error, a crash or a hang in the
/// start-up hands everything back to that program (unless it is the one
/// that got everything back from a failed successor: its own failure is
/// final).
fn take_handover(opts: &MasterOptions) -> Option<Handover> {
    let h = std::env::var(HANDOVER_ENV).ok().map(|t| {
        crate::util::safe_env::remove_var(HANDOVER_ENV);
        Handover::parse(&t)
    })?;
    let bounced_back = std::env::var_os(UPGRADE_FAILED_ENV).is_some();
    if !bounced_back {
        let mut args = vec![
            "master".to_string(),
            "-c".to_string(),
            crate::global::mail_conf::config_dir_from_env(),
        ];
        args.extend(opts.flags());
        install_way_back(&h, args);
        fault_injection::at(Fault::UpgradedStart);
    }
    Some(h)
}

/// Standard input, output and error to /dev/null, as Postfix's master
/// without `-d`: no terminal is held open by the mail system, and a caller
/// that reads the master's output (`$(postfix start)`) is not kept
/// waiting.  `-s` and `-i` keep stdout (`maillog_file = /dev/stdout`);
/// stderr stays where the records are also copied (`-V`, a start that
/// reads them, a service manager's journal).
fn detach_stdio(keep_stdout: bool, keep_stderr: bool) {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .unwrap_or_else(|e| msg_fatal!("open /dev/null: {}", crate::util::errno_text(&e)));
    let mut done = nix::unistd::dup2_stdin(&null);
    if !keep_stdout {
        done = done.and(nix::unistd::dup2_stdout(&null));
    }
    if !keep_stderr {
        done = done.and(nix::unistd::dup2_stderr(&null));
    }
    if let Err(e) = done {
        msg_fatal!("dup2 /dev/null: {}", crate::util::nix_text(e));
    }
}

/// `-D`: debugger_command, as Postfix's debug_process runs it, once the
/// master holds its locks.
fn debug_process(command: &str) {
    if command.is_empty() {
        msg_fatal!("no debugger_command variable set up");
    }
    msg_info!("running: {command}");
    let _ = std::process::Command::new("/bin/sh")
        .args(["-c", command])
        .status();
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
