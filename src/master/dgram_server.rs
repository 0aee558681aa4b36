//! The datagram-server skeleton (Postfix's `dgram_server_main`).
//!
//! A service's `main` describes itself with a [`DgramServer`] (its typed
//! parameters, bound to fields of its own state, its hooks and its
//! requirements) and calls [`DgramServer::run`] with the request handler.
//! The skeleton then does what Postfix's does, in the same order: parse the
//! daemon options, read main.cf, take the pool lock, drop privileges, wait
//! for datagrams on the sockets the master passed in, tell the master when
//! it is busy and idle, and exit on the idle and use limits, when the master
//! goes away, or when the watchdog finds it stuck.
//!
//! ```no_run
//! use postkit::master::dgram_server::DgramServer;
//!
//! #[derive(Default)]
//! struct Counter { seen: u64, limit: i32 }
//!
//! fn main() {
//!     DgramServer::new(Counter::default())
//!         .int_param("counter_limit", 10, 1, 0, |s, v| s.limit = v)
//!         .run(|s, datagram, _ctx| {
//!             s.seen += 1;
//!             postkit::msg_info!("{} bytes, {} so far", datagram.len(), s.seen);
//!         })
//! }
//! ```

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout};

use crate::global::mail_conf::{MailConf, config_dir_from_env};
use crate::global::mail_params::{MailParams, mail_params_init, process_name};
use crate::global::maillog_client::{self, FallbackMode};
use crate::util::msg;
use crate::util::myflock::{LockOp, myflock};
use crate::{msg_fatal, msg_info, msg_panic};

use super::fds;
use super::mail_flow::mail_flow_get;
use super::master_proto::{
    MASTER_FLOW_READ, MASTER_FLOW_WRITE, MASTER_GEN_NAME, MASTER_LISTEN_FD, MASTER_STAT_AVAIL,
    MASTER_STAT_TAKEN, MASTER_STATUS_FD, master_notify, parse_generation,
};

/// The largest datagram a request may be; longer ones are cut by the kernel.
pub const DGRAM_BUF_SIZE: usize = 4096;

/// Batches taken in one busy spell before the process reports idle and
/// looks at its other descriptors (master gone, idle timer) again.
pub const DRAIN_BATCHES: usize = 16;

/// How long a batching process waits for more before reporting idle.
pub const LINGER: Duration = Duration::from_millis(1);

/// The watchdog timeout when the service does not set one.
pub const DEFAULT_WATCHDOG: i32 = 1000;

/// What hooks and the handler can see and change.
pub struct Ctx {
    /// The master.cf service name (`-n`, else the program name).
    pub service_name: String,
    /// The arguments left after the options.
    pub argv: Vec<String>,
    /// main.cf with `-o` overrides applied.
    pub conf: MailConf,
    /// The global parameters.
    pub params: MailParams,
    /// Requests before a voluntary exit; 0 means no limit.
    pub max_use: i32,
    /// Idle seconds before a voluntary exit; 0 means never.
    pub max_idle: i32,
    /// The delivery status filter BOUNCE_INIT installed, if any.
    pub dsn_filter: Option<crate::global::dsn_filter::DsnFilter>,
}

type Hook<S> = Box<dyn FnMut(&mut S, &mut Ctx)>;
type Table<S> = Box<dyn FnMut(&mut MailConf, &mut S) -> Result<(), String>>;
type LoopHook<S> = Box<dyn FnMut(&mut S, &mut Ctx) -> Option<Duration>>;

/// The skeleton's optional arguments, kept in the order they were given:
/// tables are loaded and checks made in that order, as in Postfix.
enum Opt<S> {
    Table(Table<S>),
    PreInit(Hook<S>),
    PostInit(Hook<S>),
    Loop(LoopHook<S>),
    Exit(Hook<S>),
    PreAccept(Hook<S>),
    BatchEnd(Hook<S>),
    InFlowDelay,
    Solitary,
    Unlimited,
    Privileged,
    Watchdog(Box<dyn Fn(&S) -> i32>),
    BounceInit(&'static str, Box<dyn Fn(&S) -> String>),
}

/// A datagram service under construction.
pub struct DgramServer<S> {
    state: S,
    opts: Vec<Opt<S>>,
}

/// Options parsed from the command line (Postfix's getopt string
/// `cdDi:lm:n:o:s:t:uvVz`).
#[derive(Debug, Default, Clone)]
pub struct DaemonOptions {
    pub chroot: bool,
    pub daemon_mode: bool,
    pub debug: bool,
    pub alone: bool,
    pub zero_limit: bool,
    pub service_name: Option<String>,
    pub socket_count: usize,
    pub transport: Option<String>,
    pub unprivileged: bool,
    pub verbose: u32,
    pub stderr: bool,
    /// `-i`, `-m` and `-o` in order, as main.cf updates.
    pub updates: Vec<(String, String)>,
    pub rest: Vec<String>,
}

/// Parses the daemon options with getopt's rules: clustered flags, attached
/// or separate values, stop at the first non-option.  The error is Postfix's
/// fatal text.
pub fn parse_options(args: &[String]) -> Result<DaemonOptions, Box<(DaemonOptions, String)>> {
    let mut o = DaemonOptions {
        daemon_mode: true,
        socket_count: 1,
        ..Default::default()
    };
    let mut i = 0;
    macro_rules! fail {
        ($($a:tt)*) => { return Err(Box::new((o, format!($($a)*)))) };
    }
    while i < args.len() {
        let arg = &args[i];
        if arg == "--" {
            i += 1;
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            break;
        }
        let chars: Vec<char> = arg[1..].chars().collect();
        let mut j = 0;
        while j < chars.len() {
            let c = chars[j];
            j += 1;
            let takes_value = matches!(c, 'i' | 'm' | 'n' | 'o' | 's' | 't');
            let value = if takes_value {
                let attached: String = chars[j..].iter().collect();
                j = chars.len();
                if !attached.is_empty() {
                    attached
                } else if i + 1 < args.len() {
                    i += 1;
                    args[i].clone()
                } else {
                    fail!("invalid option: {c}");
                }
            } else {
                String::new()
            };
            match c {
                'c' => o.chroot = true,
                'd' => o.daemon_mode = false,
                'D' => o.debug = true,
                'i' => o.updates.push(("max_idle".into(), value)),
                'l' => o.alone = true,
                'm' => o.updates.push(("max_use".into(), value)),
                'n' => o.service_name = Some(value),
                'o' => match crate::util::split_nameval::split_nameval(&value) {
                    Ok((n, v)) => o.updates.push((n.to_string(), v.to_string())),
                    Err(e) => fail!("invalid \"-o {value}\" option value: {e}"),
                },
                's' => {
                    let n = c_atoi(&value);
                    if n <= 0 {
                        fail!("invalid socket_count: {value}");
                    }
                    o.socket_count = n as usize;
                }
                't' => o.transport = Some(value),
                'u' => o.unprivileged = true,
                'v' => o.verbose += 1,
                'V' => o.stderr = true,
                'z' => o.zero_limit = true,
                other => fail!("invalid option: {other}"),
            }
        }
        i += 1;
    }
    o.rest = args[i..].to_vec();
    Ok(o)
}

/// C's `atoi()`: leading white space, a sign, digits; anything else stops.
fn c_atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits: String = rest
        .chars()
        .take_while(char::is_ascii_digit)
        .take(18)
        .collect();
    let v: i64 = digits.parse().unwrap_or(0);
    if neg { -v } else { v }
}

fn fatal(text: String) -> ! {
    msg::fatal(&text)
}

impl<S: 'static> DgramServer<S> {
    pub fn new(state: S) -> Self {
        DgramServer {
            state,
            opts: Vec::new(),
        }
    }

    fn table(
        mut self,
        f: impl FnMut(&mut MailConf, &mut S) -> Result<(), String> + 'static,
    ) -> Self {
        self.opts.push(Opt::Table(Box::new(f)));
        self
    }

    /// An int parameter (min/max 0 = no bound), stored with `bind`.
    pub fn int_param(
        self,
        name: &'static str,
        default: i32,
        min: i32,
        max: i32,
        bind: fn(&mut S, i32),
    ) -> Self {
        self.table(move |c, s| {
            bind(s, c.get_int(name, default, min, max)?);
            Ok(())
        })
    }

    pub fn long_param(
        self,
        name: &'static str,
        default: i64,
        min: i64,
        max: i64,
        bind: fn(&mut S, i64),
    ) -> Self {
        self.table(move |c, s| {
            bind(s, c.get_long(name, default, min, max)?);
            Ok(())
        })
    }

    /// A string, `$name`-expanded; min/max bound its length.
    pub fn str_param(
        self,
        name: &'static str,
        default: &'static str,
        min: usize,
        max: usize,
        bind: fn(&mut S, String),
    ) -> Self {
        self.table(move |c, s| {
            bind(s, c.get_str(name, default, min, max)?);
            Ok(())
        })
    }

    /// A string that is never expanded.
    pub fn raw_param(
        self,
        name: &'static str,
        default: &'static str,
        min: usize,
        max: usize,
        bind: fn(&mut S, String),
    ) -> Self {
        self.table(move |c, s| {
            bind(s, c.get_raw(name, default, min, max)?);
            Ok(())
        })
    }

    pub fn bool_param(self, name: &'static str, default: bool, bind: fn(&mut S, bool)) -> Self {
        self.table(move |c, s| {
            bind(s, c.get_bool(name, default)?);
            Ok(())
        })
    }

    /// A time in seconds; the default's unit letter is the unit of bare numbers.
    pub fn time_param(
        self,
        name: &'static str,
        default: &'static str,
        min: i32,
        max: i32,
        bind: fn(&mut S, i32),
    ) -> Self {
        self.table(move |c, s| {
            bind(s, c.get_time(name, default, min, max)?);
            Ok(())
        })
    }

    /// An int whose default is text (such as `$default_process_limit`).
    pub fn nint_param(
        self,
        name: &'static str,
        default: &'static str,
        min: i32,
        max: i32,
        bind: fn(&mut S, i32),
    ) -> Self {
        self.table(move |c, s| {
            bind(s, c.get_nint(name, default, min, max)?);
            Ok(())
        })
    }

    /// A bool whose default is text (such as an expression).
    pub fn nbool_param(
        self,
        name: &'static str,
        default: &'static str,
        bind: fn(&mut S, bool),
    ) -> Self {
        self.table(move |c, s| {
            bind(s, c.get_nbool(name, default)?);
            Ok(())
        })
    }

    /// Runs once, before privileges are dropped (open files as root here).
    pub fn pre_init(mut self, f: impl FnMut(&mut S, &mut Ctx) + 'static) -> Self {
        self.opts.push(Opt::PreInit(Box::new(f)));
        self
    }

    /// Runs once, after chroot and privilege drop, before the first request.
    pub fn post_init(mut self, f: impl FnMut(&mut S, &mut Ctx) + 'static) -> Self {
        self.opts.push(Opt::PostInit(Box::new(f)));
        self
    }

    /// Runs before each wait; returns the longest wait (None: no limit).
    pub fn loop_hook(
        mut self,
        f: impl FnMut(&mut S, &mut Ctx) -> Option<Duration> + 'static,
    ) -> Self {
        self.opts.push(Opt::Loop(Box::new(f)));
        self
    }

    /// Runs before a normal exit (idle, use limit, master gone), not on fatal.
    pub fn exit_hook(mut self, f: impl FnMut(&mut S, &mut Ctx) + 'static) -> Self {
        self.opts.push(Opt::Exit(Box::new(f)));
        self
    }

    /// Runs on each wake-up for a datagram, before the master is told.
    pub fn pre_accept(mut self, f: impl FnMut(&mut S, &mut Ctx) + 'static) -> Self {
        self.opts.push(Opt::PreAccept(Box::new(f)));
        self
    }

    /// Runs after each batch of datagrams, before the master hears that
    /// this process is idle again: flush buffered output here, so that
    /// nothing is ever behind by more than the batch being handled.
    pub fn batch_end(mut self, f: impl FnMut(&mut S, &mut Ctx) + 'static) -> Self {
        self.opts.push(Opt::BatchEnd(Box::new(f)));
        self
    }

    /// Take a flow token per request; without one, wait `in_flow_delay`.
    pub fn in_flow_delay(mut self) -> Self {
        self.opts.push(Opt::InFlowDelay);
        self
    }

    /// The service must run with a process limit of 1 (`-l`).
    pub fn solitary(mut self) -> Self {
        self.opts.push(Opt::Solitary);
        self
    }

    /// The service must run with no process limit (`-z`).
    pub fn unlimited(mut self) -> Self {
        self.opts.push(Opt::Unlimited);
        self
    }

    /// The service must keep root privileges (no `-u`).
    pub fn privileged(mut self) -> Self {
        self.opts.push(Opt::Privileged);
        self
    }

    /// The watchdog timeout, read from the state when this option is
    /// processed (so a table given earlier can fill it).
    pub fn watchdog(mut self, f: impl Fn(&S) -> i32 + 'static) -> Self {
        self.opts.push(Opt::Watchdog(Box::new(f)));
        self
    }

    /// Installs a delivery status filter (Postfix's BOUNCE_INIT): `maps`
    /// gives the table list (usually a parameter a table given earlier
    /// filled), `title` names it in messages.  Tables that cannot be opened
    /// report errors on lookup instead of ending the process, unless
    /// daemon_table_open_error_is_fatal is set.  Supported table types:
    /// `inline:`, `static:`, `texthash:`.
    pub fn bounce_init(
        mut self,
        title: &'static str,
        maps: impl Fn(&S) -> String + 'static,
    ) -> Self {
        self.opts.push(Opt::BounceInit(title, Box::new(maps)));
        self
    }

    /// Runs the service with this process's arguments.  Never returns.
    pub fn run(self, service: impl FnMut(&mut S, &[u8], &mut Ctx) + 'static) -> ! {
        let args: Vec<String> = std::env::args().collect();
        self.run_with_args(&args, service)
    }

    /// Runs the service with `args` (program name first).  Never returns.
    pub fn run_with_args(
        mut self,
        args: &[String],
        mut service: impl FnMut(&mut S, &[u8], &mut Ctx) + 'static,
    ) -> ! {
        // 1-2. Environment switches; SIGPIPE is ignored by the Rust runtime,
        // SIGXFSZ must be too, so that a full disk is an error, not a death.
        if std::env::var_os("MAIL_VERBOSE").is_some() {
            msg::set_verbose(1);
        }
        let mut debug = std::env::var_os("MAIL_DEBUG").is_some();
        crate::util::sig::ignore(nix::sys::signal::Signal::SIGXFSZ);

        // 3-4. Logging from the environment, then main.cf.
        let argv0 = args.first().cloned().unwrap_or_else(process_name);
        let proc_name = argv0.rsplit('/').next().unwrap_or("").to_string();
        msg::set_stderr(false);
        maillog_client::init_from_env(&maillog_client::mail_task(&proc_name, None));
        if msg::verbose() > 0 {
            msg_info!("daemon started");
        }
        let mut conf = MailConf::read(&config_dir_from_env(), &mut |m| msg::warn(&m))
            .unwrap_or_else(|e| fatal(e));
        conf.update("process_name", &proc_name);

        // 5. Options.
        let opts = parse_options(&args[1..]).unwrap_or_else(|err| {
            let (partial, e) = *err;
            // Options before the bad one still count (-V among them).
            msg::set_stderr(partial.stderr);
            fatal(e)
        });
        if opts.stderr {
            msg::set_stderr(true);
        }
        msg::set_verbose(msg::verbose() + opts.verbose);
        debug |= opts.debug;
        for (name, value) in &opts.updates {
            conf.update(name, value);
        }
        let service_name = opts
            .service_name
            .clone()
            .unwrap_or_else(|| proc_name.clone());
        conf.update("service_name", &service_name);

        // 6. Global parameters and logging as main.cf says.
        let params = mail_params_init(&mut conf).unwrap_or_else(|e| fatal(e));
        let tag = maillog_client::mail_task(&proc_name, Some(&params));
        maillog_client::init(&tag, &params, FallbackMode::None).unwrap_or_else(|e| fatal(e));

        // 7. A daemon is started by a master, not from a terminal.
        if opts.daemon_mode && nix::unistd::isatty(std::io::stdin()).unwrap_or(false) {
            msg::set_stderr(true);
            msg_fatal!("do not run this command by hand");
        }

        // 8. The optional arguments, in order.
        let mut ctx = Ctx {
            service_name: service_name.clone(),
            argv: opts.rest.clone(),
            max_use: params.max_use,
            max_idle: params.max_idle,
            dsn_filter: None,
            params,
            conf,
        };
        let mut hooks = Hooks::default();
        let mut watchdog_timeout = DEFAULT_WATCHDOG;
        let mut in_flow_delay = false;
        for opt in std::mem::take(&mut self.opts) {
            match opt {
                Opt::Table(mut f) => f(&mut ctx.conf, &mut self.state).unwrap_or_else(|e| fatal(e)),
                Opt::PreInit(f) => hooks.pre_init = Some(f),
                Opt::PostInit(f) => hooks.post_init = Some(f),
                Opt::Loop(f) => hooks.loop_hook = Some(f),
                Opt::Exit(f) => hooks.exit = Some(f),
                Opt::PreAccept(f) => hooks.pre_accept = Some(f),
                Opt::BatchEnd(f) => hooks.batch_end = Some(f),
                Opt::InFlowDelay => in_flow_delay = true,
                Opt::Solitary if !opts.alone => {
                    msg_fatal!("service {service_name} requires a process limit of 1")
                }
                Opt::Unlimited if !opts.zero_limit => {
                    msg_fatal!("service {service_name} requires a process limit of 0")
                }
                Opt::Privileged if opts.unprivileged => {
                    msg_fatal!("service {service_name} requires privileged operation")
                }
                Opt::Watchdog(f) => watchdog_timeout = f(&self.state),
                Opt::BounceInit(title, maps) => {
                    let maps = maps(&self.state);
                    if !maps.is_empty() {
                        let fatal_errors = ctx.params.daemon_table_open_error_is_fatal;
                        let filter =
                            crate::global::dsn_filter::DsnFilter::new(title, &maps, fatal_errors)
                                .unwrap_or_else(|e| fatal(e));
                        ctx.dsn_filter = Some(filter);
                    }
                }
                Opt::Solitary | Opt::Unlimited | Opt::Privileged => {}
            }
        }

        // postkit's own: how many queued datagrams one system call takes.
        // Unless main.cf or -o says otherwise, a process that runs alone
        // (-l) takes up to 64; a member of a pool takes one at a time, so
        // that slow requests spread over the pool as in Postfix.
        let explicit = ctx.conf.lookup("dgram_batch_limit").is_some();
        let batch_limit = ctx
            .conf
            .get_int("dgram_batch_limit", 64, 1, 1024)
            .unwrap_or_else(|e| fatal(e)) as usize;
        let batch_limit = if explicit || opts.alone {
            batch_limit
        } else {
            1
        };

        // 9. Transport and generation.
        match opts.transport.as_deref() {
            None => msg_fatal!("no transport type specified"),
            Some(t) if !t.eq_ignore_ascii_case("unix-dgram") => {
                msg_fatal!("unsupported transport type: {t}")
            }
            _ => {}
        }
        let transport = opts.transport.clone().unwrap_or_default();
        let generation = match std::env::var(MASTER_GEN_NAME) {
            Ok(g) => {
                let n = parse_generation(&g).unwrap_or_else(|e| fatal(e));
                if msg::verbose() > 0 {
                    msg_info!("process generation: {g} ({n:o})");
                }
                n
            }
            Err(_) => 0,
        };
        if debug {
            run_debugger(&ctx.params.debugger_command);
        }

        // 10. The pool lock, relative to the master's working directory
        // (the queue directory), opened before chroot and privilege drop.
        let lock = if opts.alone {
            None
        } else {
            let path = format!("pid/{transport}.{service_name}");
            match crate::util::safe_open::safe_open(std::path::Path::new(&path), true, false, 0o600)
            {
                Ok(f) => Some(f),
                Err(why) => msg_fatal!("open lock file {path}: {why}"),
            }
        };

        // 11. Into the queue directory, PRE_INIT, then chroot and privileges.
        if let Err(e) = std::env::set_current_dir(&ctx.params.queue_directory) {
            msg_fatal!(
                "chdir(\"{}\"): {}",
                ctx.params.queue_directory,
                crate::util::errno_text(&e)
            );
        }
        if let Some(f) = hooks.pre_init.as_mut() {
            f(&mut self.state, &mut ctx);
        }
        // Load the time zone before a chroot hides /etc/localtime.
        let _ = chrono::Local::now();
        let root = opts.chroot.then(|| ctx.params.queue_directory.clone());
        let user = opts.unprivileged.then(|| ctx.params.mail_owner.clone());
        crate::util::chroot_uid::chroot_uid(root.as_deref(), user.as_deref())
            .unwrap_or_else(|e| fatal(e));
        if let Some(f) = hooks.post_init.as_mut() {
            f(&mut self.state, &mut ctx);
        }

        // 12. The descriptors the master passed, and the watchdog.
        let status_fd = fds::inherited(MASTER_STATUS_FD)
            .unwrap_or_else(|| msg_fatal!("status descriptor {MASTER_STATUS_FD} is not open"));
        fds::close_on_exec(&status_fd);
        let flow: Option<(OwnedFd, OwnedFd)> = match (
            fds::inherited(MASTER_FLOW_READ),
            fds::inherited(MASTER_FLOW_WRITE),
        ) {
            (Some(r), Some(w)) => {
                fds::close_on_exec(&r);
                fds::close_on_exec(&w);
                Some((r, w))
            }
            _ => None,
        };
        let sockets: Vec<UnixDatagram> = (0..opts.socket_count)
            .map(|i| {
                let fd = MASTER_LISTEN_FD + i as i32;
                let owned = fds::inherited(fd)
                    .unwrap_or_else(|| msg_fatal!("listen descriptor {fd} is not open"));
                fds::close_on_exec(&owned);
                UnixDatagram::from(owned)
            })
            .collect();
        let log_fd = msg::with_postlog(|p| p.raw_fd()).flatten();
        if watchdog_timeout > 0 {
            crate::util::watchdog::create(
                watchdog_timeout as u32,
                log_fd,
                &ctx.params.myhostname,
                &tag,
                msg::stderr_enabled(),
            )
            .unwrap_or_else(|e| msg_panic!("{e}"));
        }

        let mut server = Running {
            ctx,
            hooks,
            status_fd,
            flow,
            sockets,
            lock,
            generation,
            in_flow_delay,
            watchdog: watchdog_timeout > 0,
            pid: std::process::id() as i32,
            batch_limit,
        };
        server.main_loop(&mut self.state, &mut service)
    }
}

struct Hooks<S> {
    pre_init: Option<Hook<S>>,
    post_init: Option<Hook<S>>,
    loop_hook: Option<LoopHook<S>>,
    exit: Option<Hook<S>>,
    pre_accept: Option<Hook<S>>,
    batch_end: Option<Hook<S>>,
}

impl<S> Default for Hooks<S> {
    fn default() -> Self {
        Hooks {
            pre_init: None,
            post_init: None,
            loop_hook: None,
            exit: None,
            pre_accept: None,
            batch_end: None,
        }
    }
}

struct Running<S> {
    ctx: Ctx,
    hooks: Hooks<S>,
    status_fd: OwnedFd,
    flow: Option<(OwnedFd, OwnedFd)>,
    sockets: Vec<UnixDatagram>,
    lock: Option<std::fs::File>,
    generation: u32,
    in_flow_delay: bool,
    watchdog: bool,
    pid: i32,
    /// Datagrams taken per recvmmsg() (dgram_batch_limit).
    batch_limit: usize,
}

impl<S> Running<S> {
    /// A normal exit: the EXIT hook, then status 0.
    fn exit_normally(&mut self, state: &mut S, why: &str) -> ! {
        if msg::verbose() > 0 {
            msg_info!("{why}");
        }
        if let Some(f) = self.hooks.exit.as_mut() {
            f(state, &mut self.ctx);
        }
        std::process::exit(0);
    }

    /// When an idle spell that starts now ends the process (`max_idle`).
    fn idle_deadline(&self) -> Option<Instant> {
        (self.ctx.max_idle > 0)
            .then(|| Instant::now() + Duration::from_secs(self.ctx.max_idle as u64))
    }

    /// Tells the master this process is idle; if it cannot, the master is
    /// gone and so is the reason to run.
    fn report_idle(&mut self, state: &mut S) {
        if master_notify(
            &self.status_fd,
            self.pid,
            self.generation,
            MASTER_STAT_AVAIL,
        )
        .is_err()
        {
            self.exit_normally(state, "master disconnect -- exiting");
        }
    }

    fn main_loop(&mut self, state: &mut S, service: &mut dyn FnMut(&mut S, &[u8], &mut Ctx)) -> ! {
        let mut use_count: i32 = 0;
        let mut idle_deadline = self.idle_deadline();
        let mut batch = super::dgram_batch::BatchReceiver::new(self.batch_limit);
        // A batching process that runs alone stays busy for LINGER after its
        // queue runs dry before it reports idle: under load the next
        // datagram comes first, and the master is not woken twice per batch.
        // Not before its first AVAIL though: a master (Postfix's too) takes a
        // child that dies without ever having reported AVAIL for a broken
        // command and throttles the service.
        let may_linger = self.batch_limit > 1 && self.lock.is_none();
        let mut linger = false;
        let mut busy = false;
        while self.ctx.max_use == 0 || use_count < self.ctx.max_use {
            if let Some(lock) = &self.lock {
                if self.watchdog {
                    crate::util::watchdog::stop();
                }
                if let Err(e) = myflock(lock, LockOp::Exclusive, true) {
                    msg_fatal!("select lock: {}", crate::util::nix_text(e));
                }
            }
            if self.watchdog {
                crate::util::watchdog::start();
            }
            let mut wait = match self.hooks.loop_hook.as_mut() {
                Some(f) => f(state, &mut self.ctx),
                None => None,
            };
            if let Some(deadline) = idle_deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                wait = Some(wait.map_or(left, |w| w.min(left)));
            }
            if busy {
                wait = Some(wait.map_or(LINGER, |w| w.min(LINGER)));
            }
            let timeout = match wait {
                None => PollTimeout::NONE,
                Some(d) => PollTimeout::try_from(d.as_millis().min(i32::MAX as u128) as i32)
                    .unwrap_or(PollTimeout::MAX),
            };
            let ready: Vec<bool>;
            let status_ready: bool;
            {
                let mut pfds: Vec<PollFd> = self
                    .sockets
                    .iter()
                    .map(|s| PollFd::new(s.as_fd(), PollFlags::POLLIN))
                    .collect();
                pfds.push(PollFd::new(self.status_fd.as_fd(), PollFlags::POLLIN));
                match nix::poll::poll(&mut pfds, timeout) {
                    Ok(_) => {}
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => msg_fatal!("event_loop: poll: {}", crate::util::nix_text(e)),
                }
                let (status, listen) = pfds.split_last().expect("status descriptor is polled");
                status_ready = has_events(status);
                ready = listen.iter().map(has_events).collect();
            }
            if status_ready {
                self.exit_normally(state, "master disconnect -- exiting");
            }
            let Some(index) = ready.iter().position(|r| *r) else {
                if busy {
                    // Nothing more came: now the process is idle.
                    busy = false;
                    self.report_idle(state);
                    idle_deadline = self.idle_deadline();
                } else if idle_deadline.is_some_and(|d| Instant::now() >= d) {
                    self.exit_normally(state, "idle timeout -- exiting");
                }
                continue;
            };
            // The datagrams are taken while the pool lock is still held: a
            // process that wakes without finding one (another got it) keeps
            // the lock and waits again, without telling the master anything.
            // So exactly one process handles, and reports on, each datagram.
            let n = batch.recv(
                &self.sockets[index],
                self.batch_limit.min(remaining(self.ctx.max_use, use_count)),
            );
            if n == 0 {
                continue;
            }
            if !busy {
                if let Some(lock) = &self.lock
                    && let Err(e) = myflock(lock, LockOp::Unlock, true)
                {
                    msg_fatal!("select unlock: {}", crate::util::nix_text(e));
                }
                if msg::verbose() > 0 {
                    msg_info!("dgram_server_accept: request arrived");
                }
                if let Some(f) = self.hooks.pre_accept.as_mut() {
                    f(state, &mut self.ctx);
                }
                let _ = master_notify(
                    &self.status_fd,
                    self.pid,
                    self.generation,
                    MASTER_STAT_TAKEN,
                );
                busy = true;
            }
            // A batch is what one recvmmsg() took (up to dgram_batch_limit
            // datagrams), flushed by the batch_end hook.  While more are
            // queued the process stays busy and takes the next batch at
            // once: the master hears TAKEN and AVAIL once per busy spell
            // (at most DRAIN_BATCHES batches), not once per datagram.
            let mut n = n;
            let mut drained = 0;
            loop {
                if self.in_flow_delay {
                    let got = match &self.flow {
                        Some((r, w)) => mail_flow_get(r, w, n).is_ok(),
                        None => false,
                    };
                    if !got {
                        std::thread::sleep(Duration::from_secs(
                            self.ctx.params.in_flow_delay as u64,
                        ));
                    }
                }
                for i in 0..n {
                    service(state, batch.datagram(i), &mut self.ctx);
                }
                if let Some(f) = self.hooks.batch_end.as_mut() {
                    f(state, &mut self.ctx);
                }
                use_count = use_count.saturating_add(n as i32);
                drained += 1;
                // A pool member takes one datagram per wake-up, as in Postfix.
                if self.batch_limit == 1
                    || drained >= DRAIN_BATCHES
                    || (self.ctx.max_use != 0 && use_count >= self.ctx.max_use)
                {
                    break;
                }
                if self.watchdog {
                    crate::util::watchdog::pat();
                }
                n = batch.recv(
                    &self.sockets[index],
                    self.batch_limit.min(remaining(self.ctx.max_use, use_count)),
                );
                if n == 0 {
                    break;
                }
            }
            if !linger {
                busy = false;
                self.report_idle(state);
                idle_deadline = self.idle_deadline();
                linger = may_linger;
            }
        }
        if busy {
            self.report_idle(state);
        }
        self.exit_normally(state, "use limit -- exiting")
    }
}

/// Requests left before the use limit (no limit: as many as there are).
fn remaining(max_use: i32, used: i32) -> usize {
    if max_use == 0 {
        usize::MAX
    } else {
        (max_use - used).max(1) as usize
    }
}

fn has_events(p: &PollFd) -> bool {
    p.revents().is_some_and(|r| !r.is_empty())
}

/// Runs `debugger_command` (`-D` or `MAIL_DEBUG`) with `$process_name` and
/// `$process_id` substituted by the shell, then goes on.
fn run_debugger(command: &str) {
    if command.is_empty() {
        msg_fatal!("no debugger_command variable set up");
    }
    msg_info!("running: {command}");
    let _ = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .status();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(a: &[String]) -> String {
        parse_options(a).unwrap_err().1
    }

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn getopt_rules() {
        let o = parse_options(&args("-lu -tunix-dgram -n postlog -o a=b rest -v")).unwrap();
        assert!(o.alone && o.unprivileged);
        assert_eq!(o.transport.as_deref(), Some("unix-dgram"));
        assert_eq!(o.service_name.as_deref(), Some("postlog"));
        assert_eq!(o.updates, vec![("a".to_string(), "b".to_string())]);
        assert_eq!(o.rest, args("rest -v"));
        assert_eq!(parse_err(&args("-x")), "invalid option: x");
        assert_eq!(parse_err(&args("-i")), "invalid option: i");
        assert_eq!(parse_err(&args("-s 0")), "invalid socket_count: 0");
        assert_eq!(parse_err(&args("-s x")), "invalid socket_count: x");
        assert_eq!(parse_options(&args("-s 2x")).unwrap().socket_count, 2);
        assert_eq!(
            parse_err(&args("-o novalue")),
            "invalid \"-o novalue\" option value: missing '=' after attribute name"
        );
        let o = parse_options(&args("-i 5 -m 7")).unwrap();
        assert_eq!(
            o.updates,
            vec![
                ("max_idle".into(), "5".into()),
                ("max_use".into(), "7".into())
            ]
        );
    }
}
