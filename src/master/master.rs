//! The master daemon: reads master.cf, creates each service's endpoint,
//! spawns children on demand up to each process limit, keeps count of busy
//! and idle children from their status records, throttles services whose
//! children fail at start, reloads on SIGHUP and stops on SIGTERM.
//!
//! One thread and one poll loop.  The master never blocks: its status
//! channels and its log socket are non-blocking, and a log record the socket
//! cannot take goes straight to the log file.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::global::mail_conf::MailConf;
use crate::global::mail_params::{MailParams, mail_params_init};
use crate::global::maillog_client::{self, FallbackMode};
use crate::util::msg;
use crate::util::myflock::{LockOp, myflock};
use crate::{msg_fatal, msg_info, msg_warn};

use super::master_ent::{EntContext, MasterEnt, ServType, parse_master_cf};
use super::master_listen::master_listen_init;
use super::master_spawn::{ChildFds, spawn};
use super::master_status::{ProcTable, Update, read_status, status_channel};

/// What the master calls itself in `daemon started -- version ...`.
pub const VERSION: &str = concat!("postkit-", env!("CARGO_PKG_VERSION"));

/// The programs this executable provides under their own names, so that a
/// master.cf line `postlogd` works without a link in daemon_directory.
pub const BUILTIN_DAEMONS: &[&str] = &["postlogd"];

/// The control socket `postkit status` asks, relative to queue_directory.
pub const CONTROL_SOCKET: &str = "pid/master.control";
/// The pid file, relative to queue_directory.
pub const PID_FILE: &str = "pid/master.pid";

#[derive(Debug, Default, Clone)]
pub struct MasterOptions {
    pub config_dir: Option<String>,
    /// `-d`: stay attached to the terminal; children get `-d`.
    pub foreground: bool,
    /// `-t`: exit 0 when no master runs, 1 when one does.
    pub test: bool,
    pub verbose: u32,
    /// `-V`: copy log records to stderr.
    pub stderr: bool,
    /// `-e SECONDS`: exit after this long.
    pub exit_after: Option<u64>,
}

const USAGE: &str = "usage: master [-c config_dir] [-D (debug)] [-d (don't detach from terminal)] [-e exit_time] [-t (test)] [-v] [-w (wait for initialization)]";

pub fn parse_options(args: &[String]) -> Result<MasterOptions, String> {
    use lexopt::prelude::*;
    let mut o = MasterOptions::default();
    let mut p = lexopt::Parser::from_args(args.iter());
    while let Some(arg) = p.next().map_err(|_| USAGE.to_string())? {
        match arg {
            Short('c') => {
                o.config_dir = Some(p.value().map_err(|_| USAGE)?.string().map_err(|_| USAGE)?)
            }
            Short('d') => o.foreground = true,
            Short('t') => o.test = true,
            Short('v') => o.verbose += 1,
            Short('V') => o.stderr = true,
            Short('e') => {
                let v = p.value().map_err(|_| USAGE)?.string().map_err(|_| USAGE)?;
                o.exit_after = Some(v.parse().map_err(|_| USAGE)?);
            }
            _ => return Err(USAGE.to_string()),
        }
    }
    Ok(o)
}

/// One service and its processes.
struct Service {
    ent: MasterEnt,
    listen: Vec<OwnedFd>,
    /// The master's end and the end every child gets as fd 5.
    status: Option<(OwnedFd, OwnedFd)>,
    procs: ProcTable,
    throttled_until: Option<Instant>,
    next_wakeup: Option<Instant>,
    spawns: u64,
    failures: u64,
    throttles: u64,
}

impl Service {
    fn total_proc(&self) -> usize {
        self.procs.total()
    }

    /// Postfix's listening rule: not throttled, nobody idle, under the limit.
    fn wants_listen(&self) -> bool {
        self.throttled_until.is_none()
            && self.procs.avail() == 0
            && (self.ent.max_proc == 0 || (self.total_proc() as i32) < self.ent.max_proc)
            && self.status.is_some()
    }

    fn new_status_channel(&mut self) -> Result<(), String> {
        let (m, c) = status_channel().map_err(|e| format!("pipe: {}", crate::util::nix_text(e)))?;
        self.status = Some((m, c));
        Ok(())
    }
}

struct Signals {
    hup: Arc<AtomicBool>,
    chld: Arc<AtomicBool>,
    term: Arc<AtomicBool>,
    term_signal: Arc<std::sync::atomic::AtomicI32>,
    wake: UnixStream,
}

fn install_signals() -> Result<Signals, String> {
    // A full disk must be an error the master sees when it writes its own
    // records into the log file, not its death.
    crate::util::sig::ignore(Signal::SIGXFSZ);
    let (wake, wake_write) = UnixStream::pair().map_err(|e| e.to_string())?;
    wake.set_nonblocking(true).map_err(|e| e.to_string())?;
    wake_write
        .set_nonblocking(true)
        .map_err(|e| e.to_string())?;
    let hup = Arc::new(AtomicBool::new(false));
    let chld = Arc::new(AtomicBool::new(false));
    let term = Arc::new(AtomicBool::new(false));
    let term_signal = Arc::new(std::sync::atomic::AtomicI32::new(0));
    let reg = |sig: i32, flag: &Arc<AtomicBool>| -> Result<(), String> {
        signal_hook::flag::register(sig, Arc::clone(flag)).map_err(|e| e.to_string())?;
        signal_hook::low_level::pipe::register(
            sig,
            wake_write.try_clone().map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
        Ok(())
    };
    reg(signal_hook::consts::SIGHUP, &hup)?;
    reg(signal_hook::consts::SIGCHLD, &chld)?;
    for sig in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGQUIT,
    ] {
        reg(sig, &term)?;
        let ts = Arc::clone(&term_signal);
        // SAFETY: the action only stores into an atomic, which is
        // async-signal-safe.
        unsafe {
            signal_hook::low_level::register(sig, move || {
                ts.store(sig, Ordering::SeqCst);
            })
        }
        .map_err(|e| e.to_string())?;
    }
    Ok(Signals {
        hup,
        chld,
        term,
        term_signal,
        wake,
    })
}

pub struct Master {
    opts: MasterOptions,
    config_dir: String,
    params: MailParams,
    throttle_time: Duration,
    services: Vec<Service>,
    /// Children of services that a reload removed, by pid: their path.
    orphans: HashMap<i32, String>,
    flow: (OwnedFd, OwnedFd),
    generation: u32,
    child_env: Vec<(String, String)>,
    control: UnixListener,
    /// Control connections waiting for their request, and since when.
    clients: Vec<(UnixStream, Instant)>,
    exe: PathBuf,
    started: Instant,
    _pid_lock: std::fs::File,
    _data_lock: Option<std::fs::File>,
}

/// Reads main.cf (with the master's own parameters) for `config_dir`.
fn load_main_cf(config_dir: &str) -> Result<(MailConf, MailParams, i32, String), String> {
    let mut conf = MailConf::read(config_dir, &mut |m| msg::warn(&m))?;
    conf.update("process_name", "master");
    let params = mail_params_init(&mut conf)?;
    let throttle = conf.get_time("service_throttle_time", "60s", 1, 0)?;
    let disable = conf.get_str("master_service_disable", "", 0, 0)?;
    Ok((conf, params, throttle, disable))
}

/// The environment children get: `import_environment`, applied to ours.
fn child_environment(import: &str) -> Vec<(String, String)> {
    let mut env = Vec::new();
    for item in import
        .split([',', ' ', '\t', '\r', '\n'])
        .filter(|s| !s.is_empty())
    {
        match item.split_once('=') {
            Some((k, v)) => env.push((k.to_string(), v.to_string())),
            None => {
                if let Ok(v) = std::env::var(item) {
                    env.push((item.to_string(), v));
                }
            }
        }
    }
    env
}

/// mail_owner's uid and gid, when running as root.
fn owner_ids(params: &MailParams) -> Option<(u32, u32)> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    nix::unistd::User::from_name(&params.mail_owner)
        .ok()
        .flatten()
        .map(|u| (u.uid.as_raw(), u.gid.as_raw()))
}

/// Creates queue_directory's `pid`, `public` and `private` when missing,
/// with Postfix's modes and owners.
pub fn make_queue_dirs(params: &MailParams) -> Result<(), String> {
    let q = Path::new(&params.queue_directory);
    let owner = owner_ids(params);
    let group = nix::unistd::Group::from_name(&params.setgid_group)
        .ok()
        .flatten()
        .map(|g| g.gid.as_raw());
    // The queue directory itself as Postfix's: 0755, whatever the umask,
    // so that a chrooted, unprivileged child can see inside its jail.
    if !q.exists() {
        std::fs::create_dir_all(q)
            .and_then(|_| std::fs::set_permissions(q, std::fs::Permissions::from_mode(0o755)))
            .map_err(|e| format!("mkdir {}: {}", q.display(), crate::util::errno_text(&e)))?;
    }
    for (sub, mode, uid, gid) in [
        ("pid", 0o755, None, None),
        (
            "public",
            0o2710,
            owner.map(|o| o.0),
            group.or(owner.map(|o| o.1)),
        ),
        ("private", 0o700, owner.map(|o| o.0), owner.map(|o| o.1)),
    ] {
        let dir = q.join(sub);
        if dir.exists() {
            continue;
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("mkdir {}: {}", dir.display(), crate::util::errno_text(&e)))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("chmod {}: {}", dir.display(), crate::util::errno_text(&e)))?;
        if nix::unistd::geteuid().is_root() {
            std::os::unix::fs::chown(&dir, uid, gid)
                .map_err(|e| format!("chown {}: {}", dir.display(), crate::util::errno_text(&e)))?;
        }
    }
    Ok(())
}

/// Opens and locks a pid file, and writes our pid into it as Postfix does
/// (right-justified in 32 columns, then a newline).
fn lock_pid_file(path: &str) -> Result<std::fs::File, String> {
    let mut f = crate::util::safe_open::safe_open(Path::new(path), true, false, 0o600)
        .map_err(|why| format!("open lock file {path}: {why}"))?;
    myflock(&f, LockOp::Exclusive, false).map_err(|e| {
        format!(
            "open lock file {path}: unable to set exclusive lock: {}",
            crate::util::nix_text(e)
        )
    })?;
    let text = format!("{:>32}\n", std::process::id());
    use std::io::Seek;
    f.seek(std::io::SeekFrom::Start(0))
        .and_then(|_| f.write_all(text.as_bytes()))
        .and_then(|_| f.flush())
        .map_err(|e| {
            format!(
                "cannot update lock file {path}: {}",
                crate::util::errno_text(&e)
            )
        })?;
    Ok(f)
}

/// Whether a master holds the pid file lock: Some(pid) if so.
pub fn running_master(queue_directory: &str) -> Option<i32> {
    let path = Path::new(queue_directory).join(PID_FILE);
    let f = std::fs::File::open(&path).ok()?;
    match myflock(&f, LockOp::Shared, false) {
        Ok(()) => None,
        Err(_) => std::fs::read_to_string(&path).ok()?.trim().parse().ok(),
    }
}

impl Master {
    fn ent_context(&self, disable: &str) -> EntContext {
        EntContext {
            daemon_directory: self.params.daemon_directory.clone(),
            default_process_limit: self.params.default_process_limit,
            compat_ge_1: crate::global::compat_level::parse(&self.params.compatibility_level)
                .map(|l| l >= (1, 0, 0))
                .unwrap_or(false),
            foreground: self.opts.foreground,
            verbose: self.opts.verbose > 0,
            master_service_disable: disable.to_string(),
        }
    }

    fn read_master_cf(&self, disable: &str) -> Result<Vec<MasterEnt>, String> {
        let path = format!("{}/master.cf", self.config_dir);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("open {path}: {}", crate::util::errno_text(&e)))?;
        parse_master_cf(&path, &text, &self.ent_context(disable), &mut |m| {
            msg::warn(&m)
        })
    }

    fn add_service(&mut self, ent: MasterEnt) {
        let listen = match master_listen_init(&ent, owner_ids(&self.params)) {
            Ok(l) => l,
            Err(e) => {
                msg_warn!("{e}");
                return;
            }
        };
        let mut s = Service {
            next_wakeup: (ent.wakeup_time > 0 && !ent.wakeup_conditional).then(Instant::now),
            ent,
            listen,
            status: None,
            procs: ProcTable::default(),
            throttled_until: None,
            spawns: 0,
            failures: 0,
            throttles: 0,
        };
        if let Err(e) = s.new_status_channel() {
            msg_fatal!("{e}");
        }
        self.services.push(s);
    }

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
        msg::set_verbose(opts.verbose);
        msg::set_stderr(opts.stderr);
        maillog_client::init_from_env(&maillog_client::mail_task("master", None));
        let config_dir = crate::global::mail_conf::config_dir_from_env();
        let (_conf, params, throttle, disable) =
            load_main_cf(&config_dir).unwrap_or_else(|e| msg::fatal(&e));
        let tag = maillog_client::mail_task("master", Some(&params));
        maillog_client::init(&tag, &params, FallbackMode::LogWriter)
            .unwrap_or_else(|e| msg::fatal(&e));
        msg::with_postlog(|p| p.set_nonblocking());

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
        let pid_lock = lock_pid_file(PID_FILE).unwrap_or_else(|e| msg::fatal(&e));
        let data_lock = if params.data_directory.is_empty() {
            None
        } else {
            let _ = std::fs::create_dir_all(&params.data_directory);
            if let Some((uid, gid)) = owner_ids(&params) {
                let _ = std::os::unix::fs::chown(&params.data_directory, Some(uid), Some(gid));
            }
            Some(
                lock_pid_file(&format!("{}/master.lock", params.data_directory))
                    .unwrap_or_else(|e| msg::fatal(&e)),
            )
        };
        if !nix::unistd::geteuid().is_root() {
            msg_warn!("not running as root: privilege separation (-u, chroot) is not in effect");
        }
        let flow = nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC)
            .unwrap_or_else(|e| msg_fatal!("master_flow_init: pipe: {}", crate::util::nix_text(e)));
        // The control socket is bound under a temporary name and put in
        // place once every service listens: whoever can ask the master
        // (the control command, the tests) finds its sockets there.
        let control_new = format!("{CONTROL_SOCKET}.new");
        let _ = std::fs::remove_file(&control_new);
        let control = UnixListener::bind(&control_new)
            .unwrap_or_else(|e| msg_fatal!("bind: {control_new}: {}", crate::util::errno_text(&e)));
        let _ = std::fs::set_permissions(&control_new, std::fs::Permissions::from_mode(0o600));
        let _ = control.set_nonblocking(true);
        let signals = install_signals().unwrap_or_else(|e| msg_fatal!("signals: {e}"));
        let mut master = Master {
            child_env: child_environment(&params.import_environment),
            opts,
            config_dir: config_dir.clone(),
            params,
            throttle_time: Duration::from_secs(throttle as u64),
            services: Vec::new(),
            orphans: HashMap::new(),
            flow,
            generation: 0,
            control,
            clients: Vec::new(),
            exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("postkit")),
            started: Instant::now(),
            _pid_lock: pid_lock,
            _data_lock: data_lock,
        };
        let ents = master
            .read_master_cf(&disable)
            .unwrap_or_else(|e| msg::fatal(&e));
        for ent in ents {
            master.add_service(ent);
        }
        if let Err(e) = std::fs::rename(&control_new, CONTROL_SOCKET) {
            msg_fatal!(
                "rename {control_new} {CONTROL_SOCKET}: {}",
                crate::util::errno_text(&e)
            );
        }
        msg_info!("daemon started -- version {VERSION}, configuration {config_dir}");
        master.main_loop(signals)
    }

    fn main_loop(&mut self, signals: Signals) -> ! {
        loop {
            let now = Instant::now();
            let mut deadline = now + Duration::from_secs(1);
            for s in &self.services {
                for t in [s.throttled_until, s.next_wakeup].into_iter().flatten() {
                    deadline = deadline.min(t);
                }
            }
            let timeout_ms = deadline
                .saturating_duration_since(now)
                .as_millis()
                .min(1000) as i32;
            // Which descriptor belongs to what.
            enum Slot {
                Wake,
                Control,
                Client(usize),
                Status(usize),
                Listen(usize),
            }
            let mut slots = vec![Slot::Wake, Slot::Control];
            let mut pfds = vec![
                PollFd::new(signals.wake.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.control.as_fd(), PollFlags::POLLIN),
            ];
            for (i, (c, _)) in self.clients.iter().enumerate() {
                pfds.push(PollFd::new(c.as_fd(), PollFlags::POLLIN));
                slots.push(Slot::Client(i));
            }
            for (i, s) in self.services.iter().enumerate() {
                if let Some((m, _)) = &s.status {
                    pfds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
                    slots.push(Slot::Status(i));
                }
                if s.wants_listen() {
                    for l in &s.listen {
                        pfds.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
                        slots.push(Slot::Listen(i));
                    }
                }
            }
            let result = nix::poll::poll(
                &mut pfds,
                PollTimeout::try_from(timeout_ms).unwrap_or(PollTimeout::MAX),
            );
            let ready: Vec<bool> = pfds
                .iter()
                .map(|p| p.revents().is_some_and(|r| !r.is_empty()))
                .collect();
            drop(pfds);
            if let Err(e) = result
                && e != nix::errno::Errno::EINTR
            {
                msg_fatal!("event_loop: poll: {}", crate::util::nix_text(e));
            }
            // Signals first: a reload or stop changes everything else.
            let mut drain = [0u8; 64];
            while matches!((&signals.wake).read(&mut drain), Ok(n) if n > 0) {}
            if signals.term.swap(false, Ordering::SeqCst) {
                self.terminate(signals.term_signal.load(Ordering::SeqCst));
            }
            if signals.chld.swap(false, Ordering::SeqCst) {
                self.reap();
            }
            if signals.hup.swap(false, Ordering::SeqCst) {
                self.reload();
                continue;
            }
            if result.is_ok() {
                let mut to_spawn = Vec::new();
                let mut clients_ready = Vec::new();
                for (slot, ready) in slots.iter().zip(ready) {
                    if !ready {
                        continue;
                    }
                    match slot {
                        Slot::Wake => {}
                        Slot::Control => self.control_event(),
                        Slot::Client(c) => clients_ready.push(*c),
                        Slot::Status(i) => self.status_event(*i),
                        Slot::Listen(i) => to_spawn.push(*i),
                    }
                }
                for c in clients_ready.into_iter().rev() {
                    self.client_event(c);
                }
                // A client that never says anything is dropped.
                self.clients
                    .retain(|(_, since)| since.elapsed() < Duration::from_secs(5));
                to_spawn.dedup();
                for i in to_spawn {
                    if self.services[i].wants_listen() {
                        self.spawn(i);
                    }
                }
            }
            self.timers();
            if let Some(secs) = self.opts.exit_after
                && self.started.elapsed() >= Duration::from_secs(secs)
            {
                msg_info!("master exit time has arrived");
                std::process::exit(0);
            }
        }
    }

    fn timers(&mut self) {
        let now = Instant::now();
        for s in &mut self.services {
            if s.throttled_until.is_some_and(|t| now >= t) {
                s.throttled_until = None;
                if msg::verbose() > 0 {
                    msg_info!("throttle released for command {}", s.ent.path);
                }
            }
            if s.next_wakeup.is_some_and(|t| now >= t) {
                s.next_wakeup = Some(now + Duration::from_secs(s.ent.wakeup_time as u64));
                if s.throttled_until.is_none() {
                    wakeup(&s.ent);
                }
            }
        }
    }

    fn spawn(&mut self, i: usize) {
        self.generation = self.generation.wrapping_add(1);
        let generation = self.generation;
        let s = &mut self.services[i];
        let builtin = BUILTIN_DAEMONS.contains(&s.ent.command.as_str());
        let program: PathBuf = if !Path::new(&s.ent.path).exists() && builtin {
            self.exe.clone()
        } else {
            PathBuf::from(&s.ent.path)
        };
        let mut cmd = Command::new(&program);
        cmd.arg0(&s.ent.argv[0])
            .args(&s.ent.argv[1..])
            .env_clear()
            .envs(self.child_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if !self.opts.foreground {
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
        } else {
            cmd.stdin(Stdio::null());
        }
        let Some((_, child_end)) = &s.status else {
            return;
        };
        let fds = ChildFds {
            flow: Some((self.flow.0.as_fd(), self.flow.1.as_fd())),
            status: child_end.as_fd(),
            listen: s.listen.iter().map(|l| l.as_fd()).collect(),
        };
        match spawn(cmd, &fds, generation) {
            Ok(child) => {
                let pid = child.id() as i32;
                // The master reaps children itself (waitpid on SIGCHLD).
                std::mem::forget(child);
                s.procs.add(pid, generation);
                s.spawns += 1;
                if s.ent.wakeup_conditional && s.next_wakeup.is_none() {
                    if msg::verbose() > 0 {
                        msg_info!("start conditional timer for {}", s.ent.ext_name);
                    }
                    s.next_wakeup = Some(Instant::now());
                }
            }
            Err(e) => {
                msg_warn!(
                    "master_spawn: exec {}: {}",
                    s.ent.path,
                    crate::util::errno_text(&e)
                );
                s.failures += 1;
                throttle(s, self.throttle_time);
            }
        }
    }

    fn status_event(&mut self, i: usize) {
        let s = &mut self.services[i];
        let Some((m, _)) = &s.status else {
            return;
        };
        // Postfix names the service by its master.cf name and its endpoint.
        let (ext_name, endpoint) = (&s.ent.ext_name, &s.ent.name);
        let procs = &mut s.procs;
        // A bounded number per wake-up, so that one busy service cannot
        // starve the others.
        let result = read_status(m, 256, |msg| match procs.update(msg) {
            Update::Applied => {}
            Update::Partial { pid, len } => msg_warn!(
                "service {ext_name}({endpoint}): child (pid {}) sent partial status update ({len} bytes)",
                pid.map_or("?".to_string(), |p| p.to_string())
            ),
            Update::NotFound { pid } => {
                if msg::verbose() > 0 {
                    msg_info!("master_status_event: process id not found: {pid}");
                }
            }
            Update::WrongGeneration { pid, generation } => {
                msg_info!("ignoring status update from child pid {pid} generation {generation}")
            }
            // Postfix's own text, with its arguments in this order.
            Update::Unknown { pid, avail } => msg_warn!(
                "master_status_event: ignoring unknown status: {pid} allegedly from pid: {avail}"
            ),
        });
        if let Err(e) = result {
            msg_warn!("master_status_event: read: {}", crate::util::nix_text(e));
        }
    }

    fn reap(&mut self) {
        loop {
            let status = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(st) => st,
            };
            let Some(pid) = status.pid().map(Pid::as_raw) else {
                return;
            };
            if let Some(path) = self.orphans.remove(&pid) {
                if let WaitStatus::Exited(_, code) = status
                    && code != 0
                {
                    msg_warn!("process {path} pid {pid} exit status {code}");
                }
                continue;
            }
            let Some(s) = self.services.iter_mut().find(|s| s.procs.contains(pid)) else {
                continue;
            };
            let child = s.procs.remove(pid).expect("child is known");
            let abnormal = match status {
                WaitStatus::Exited(_, 0) => false,
                WaitStatus::Exited(_, code) => {
                    msg_warn!("process {} pid {pid} exit status {code}", s.ent.path);
                    true
                }
                WaitStatus::Signaled(_, sig, _) => {
                    msg_warn!(
                        "process {} pid {pid} killed by signal {}",
                        s.ent.path,
                        sig as i32
                    );
                    true
                }
                _ => false,
            };
            if abnormal {
                s.failures += 1;
                if child.use_count == 0 && s.throttled_until.is_none() {
                    msg_warn!("{}: bad command startup -- throttling", s.ent.path);
                    throttle(s, self.throttle_time);
                }
            }
        }
    }

    fn reload(&mut self) {
        msg_info!(
            "reload -- version {VERSION}, configuration {}",
            self.config_dir
        );
        let (params, throttle, disable) = match load_main_cf(&self.config_dir) {
            Ok((_, p, t, d)) => (p, t, d),
            Err(e) => {
                msg_warn!("{e}; keeping the running configuration");
                return;
            }
        };
        for (name, old, new) in [
            (
                "config_directory",
                &self.params.config_directory,
                &params.config_directory,
            ),
            (
                "queue_directory",
                &self.params.queue_directory,
                &params.queue_directory,
            ),
        ] {
            if old != new {
                msg_warn!("ignoring {name} parameter value change");
                msg_warn!("old value: \"{old}\", new value: \"{new}\"");
                msg_warn!("to change {name}, stop and start Postfix");
            }
        }
        let queue = self.params.queue_directory.clone();
        self.params = MailParams {
            queue_directory: queue,
            ..params
        };
        self.throttle_time = Duration::from_secs(throttle as u64);
        self.child_env = child_environment(&self.params.import_environment);
        let tag = maillog_client::mail_task("master", Some(&self.params));
        if let Err(e) = maillog_client::init(&tag, &self.params, FallbackMode::LogWriter) {
            msg_warn!("{e}");
        }
        msg::with_postlog(|p| p.set_nonblocking());
        let ents = match self.read_master_cf(&disable) {
            Ok(e) => e,
            Err(e) => {
                msg_warn!("{e}; keeping the running services");
                return;
            }
        };
        let mut keep = vec![false; self.services.len()];
        for ent in ents {
            match self
                .services
                .iter()
                .position(|s| s.ent.name == ent.name && s.ent.kind == ent.kind)
            {
                Some(i) => {
                    keep[i] = true;
                    let s = &mut self.services[i];
                    s.next_wakeup =
                        (ent.wakeup_time > 0 && !ent.wakeup_conditional).then(Instant::now);
                    s.ent = ent;
                    // A new status channel: the old children see EOF and
                    // exit, so the new configuration takes effect; the
                    // socket and what waits in it stay.
                    let _ = s.new_status_channel();
                    s.procs.retire_all();
                    s.throttled_until = None;
                }
                None => {
                    keep.push(true);
                    self.add_service(ent);
                }
            }
        }
        let mut i = 0;
        self.services.retain(|s| {
            let k = keep.get(i).copied().unwrap_or(true);
            i += 1;
            if !k {
                for pid in s.procs.pids() {
                    let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGTERM);
                    self.orphans.insert(pid, s.ent.path.clone());
                }
            }
            k
        });
    }

    fn terminate(&mut self, sig: i32) -> ! {
        msg_info!("terminating on signal {sig}");
        let pids: Vec<i32> = self
            .services
            .iter()
            .flat_map(|s| s.procs.pids())
            .chain(self.orphans.keys().copied())
            .collect();
        for pid in &pids {
            let _ = nix::sys::signal::kill(Pid::from_raw(*pid), Signal::SIGTERM);
        }
        // Close the status channels too, so that children that ignore
        // SIGTERM still see the master go.
        for s in &mut self.services {
            s.status = None;
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut left: Vec<i32> = pids;
        while !left.is_empty() && Instant::now() < deadline {
            left.retain(|pid| {
                matches!(
                    waitpid(Pid::from_raw(*pid), Some(WaitPidFlag::WNOHANG)),
                    Ok(WaitStatus::StillAlive)
                )
            });
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = std::fs::remove_file(CONTROL_SOCKET);
        std::process::exit(0);
    }

    /// A new control connection: its request is read when it arrives,
    /// never waited for.
    fn control_event(&mut self) {
        while let Ok((conn, _)) = self.control.accept() {
            if conn.set_nonblocking(true).is_ok() && self.clients.len() < 16 {
                self.clients.push((conn, Instant::now()));
            }
        }
    }

    /// A control client sent something (or went away).
    fn client_event(&mut self, i: usize) {
        let (mut conn, _) = self.clients.remove(i);
        let mut req = [0u8; 64];
        let n = conn.read(&mut req).unwrap_or(0);
        let answer = match std::str::from_utf8(&req[..n]).unwrap_or("").trim() {
            "status" => self.status_report(),
            other => format!("unknown request: {other}\n"),
        };
        // The report is small: it fits the socket buffer, or is dropped.
        let _ = conn.write_all(answer.as_bytes());
    }

    /// One line per service, with the counts `postkit status` shows.
    fn status_report(&self) -> String {
        let mut out = format!(
            "master pid {} {VERSION} configuration {}\n{:<20} {:<10} {:>5} {:>6} {:>5} {:>5} {:>7} {:>8}  {}\n",
            std::process::id(),
            self.config_dir,
            "service",
            "type",
            "limit",
            "procs",
            "busy",
            "idle",
            "spawns",
            "failures",
            "throttled"
        );
        let now = Instant::now();
        for s in &self.services {
            let throttled = match s.throttled_until {
                Some(t) => format!(
                    "yes ({}s left, {} times)",
                    t.saturating_duration_since(now).as_secs(),
                    s.throttles
                ),
                None if s.throttles > 0 => format!("no ({} times)", s.throttles),
                None => "no".to_string(),
            };
            let limit = if s.ent.max_proc == 0 {
                "-".to_string()
            } else {
                s.ent.max_proc.to_string()
            };
            out.push_str(&format!(
                "{:<20} {:<10} {:>5} {:>6} {:>5} {:>5} {:>7} {:>8}  {}\n",
                s.ent.ext_name,
                s.ent.kind.name(),
                limit,
                s.total_proc(),
                s.procs.busy(),
                s.procs.avail(),
                s.spawns,
                s.failures,
                throttled
            ));
        }
        out
    }
}

fn throttle(s: &mut Service, delay: Duration) {
    s.throttled_until = Some(Instant::now() + delay);
    s.throttles += 1;
}

/// Sends the wakeup byte `W` to a service, as Postfix's master does.
fn wakeup(ent: &MasterEnt) {
    let result = match ent.kind {
        ServType::Unix => UnixStream::connect(&ent.name).and_then(|mut c| {
            c.set_write_timeout(Some(Duration::from_secs(1)))?;
            c.write_all(b"W")
        }),
        ServType::Fifo => std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&ent.name)
            .and_then(|mut f| f.write_all(b"W")),
        _ => Err(std::io::Error::from_raw_os_error(libc::EOPNOTSUPP)),
    };
    if let Err(e) = result {
        msg_warn!(
            "master_wakeup_timer_event: service {}({}): {}",
            ent.ext_name,
            ent.name,
            crate::util::errno_text(&e)
        );
    }
}

use std::os::unix::fs::OpenOptionsExt;

/// `postkit master [-c dir] [-d] [-t] [-v] [-V] [-e secs]`.
pub fn main(args: &[String]) -> i32 {
    msg::set_tag("postfix/master");
    let opts = parse_options(args).unwrap_or_else(|e| {
        msg::set_stderr(true);
        msg::fatal(&e)
    });
    Master::run(opts)
}
