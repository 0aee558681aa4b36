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
//! use postkit::server::dgram_server::DgramServer;
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

mod event_loop;
mod init;
pub mod options;

use std::time::Duration;

use crate::global::config_error::ConfigError;
use crate::global::mail_conf::MailConf;
use crate::global::mail_conf_types::{
    BoolParam, IntParam, LongParam, NBoolParam, NIntParam, ParamType, StrParam, TimeParam,
};
use crate::global::mail_params::MailParams;

pub use crate::global::mail_proto::DGRAM_BUF_SIZE;
pub use options::{DaemonOptions, OptionError, parse_options};

/// postkit's `dgram_batch_limit`: datagrams one recvmmsg() takes.
pub const BATCH_LIMIT: (&str, IntParam) = (
    "dgram_batch_limit",
    IntParam {
        default: 64,
        min: 1,
        max: 1024,
    },
);

/// Reads the parameters the skeleton itself reads beyond the global ones,
/// as it reads them (for `postkit check`).
pub fn check_params(conf: &mut MailConf) -> Result<(), ConfigError> {
    BATCH_LIMIT.1.read(conf, BATCH_LIMIT.0).map(|_| ())
}

/// How a process reports its counters to the master: a line on stderr
/// (which postkit's master reads; Postfix's sends it to /dev/null),
/// `postkit-stats: pid=P handled=N name=value ...`, at most once a second
/// and when it exits.
pub const STATS_PREFIX: &str = "postkit-stats: ";

/// Batches taken in one busy spell before the process reports idle and
/// looks at its other descriptors (master gone, idle timer) again.
pub const DRAIN_BATCHES: usize = 16;

/// How long a process whose master went away keeps taking what its
/// sockets already hold before it exits.
pub const DRAIN_ON_EXIT: Duration = Duration::from_secs(2);

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
type Table<S> = Box<dyn FnMut(&mut MailConf, &mut S) -> Result<(), ConfigError>>;
type LoopHook<S> = Box<dyn FnMut(&mut S, &mut Ctx) -> Option<Duration>>;
type StatsHook<S> = Box<dyn Fn(&S) -> Vec<(&'static str, u64)>>;
/// The request handler: one datagram at a time.
type Handler<'a, S> = dyn FnMut(&mut S, &[u8], &mut Ctx) + 'a;

/// The skeleton's optional arguments, kept in the order they were given:
/// tables are loaded and checks made in that order, as in Postfix.
enum ServerOpt<S> {
    Table(Table<S>),
    PreInit(Hook<S>),
    PostInit(Hook<S>),
    Loop(LoopHook<S>),
    Exit(Hook<S>),
    PreAccept(Hook<S>),
    BatchEnd(Hook<S>),
    Stats(StatsHook<S>),
    InFlowDelay,
    Solitary,
    Unlimited,
    Privileged,
    LogWriter,
    Watchdog(Box<dyn Fn(&S) -> i32>),
    BounceInit(&'static str, Box<dyn Fn(&S) -> String>),
}

/// A datagram service under construction.
pub struct DgramServer<S> {
    state: S,
    opts: Vec<ServerOpt<S>>,
}

impl<S: 'static> DgramServer<S> {
    /// A service whose state starts as `state`.
    pub fn new(state: S) -> Self {
        DgramServer {
            state,
            opts: Vec::new(),
        }
    }

    /// Adds one optional argument, keeping their order.
    fn with(mut self, opt: ServerOpt<S>) -> Self {
        self.opts.push(opt);
        self
    }

    /// A parameter of any type in `mail_conf_types`, read from main.cf
    /// (after `-o`, `-i` and `-m`) when the service starts and stored with
    /// `bind`; a bad value ends the service with Postfix's fatal text.
    pub fn param<P: ParamType + 'static>(
        self,
        name: &'static str,
        spec: P,
        bind: fn(&mut S, P::Value),
    ) -> Self {
        self.with(ServerOpt::Table(Box::new(move |c, s| {
            bind(s, spec.read(c, name)?);
            Ok(())
        })))
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
        self.param(name, IntParam { default, min, max }, bind)
    }

    /// A long parameter (min/max 0 = no bound).
    pub fn long_param(
        self,
        name: &'static str,
        default: i64,
        min: i64,
        max: i64,
        bind: fn(&mut S, i64),
    ) -> Self {
        self.param(name, LongParam { default, min, max }, bind)
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
        self.param(
            name,
            StrParam {
                default,
                min,
                max,
                raw: false,
            },
            bind,
        )
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
        self.param(
            name,
            StrParam {
                default,
                min,
                max,
                raw: true,
            },
            bind,
        )
    }

    /// A boolean (`yes`/`no`).
    pub fn bool_param(self, name: &'static str, default: bool, bind: fn(&mut S, bool)) -> Self {
        self.param(name, BoolParam { default }, bind)
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
        self.param(name, TimeParam { default, min, max }, bind)
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
        self.param(name, NIntParam { default, min, max }, bind)
    }

    /// A bool whose default is text (such as an expression).
    pub fn nbool_param(
        self,
        name: &'static str,
        default: &'static str,
        bind: fn(&mut S, bool),
    ) -> Self {
        self.param(name, NBoolParam { default }, bind)
    }

    /// Runs once, before privileges are dropped (open files as root here).
    pub fn pre_init(self, f: impl FnMut(&mut S, &mut Ctx) + 'static) -> Self {
        self.with(ServerOpt::PreInit(Box::new(f)))
    }

    /// Runs once, after chroot and privilege drop, before the first request.
    pub fn post_init(self, f: impl FnMut(&mut S, &mut Ctx) + 'static) -> Self {
        self.with(ServerOpt::PostInit(Box::new(f)))
    }

    /// Runs before each wait; returns the longest wait (None: no limit).
    pub fn loop_hook(self, f: impl FnMut(&mut S, &mut Ctx) -> Option<Duration> + 'static) -> Self {
        self.with(ServerOpt::Loop(Box::new(f)))
    }

    /// Runs before a normal exit (idle, use limit, master gone), not on fatal.
    pub fn exit_hook(self, f: impl FnMut(&mut S, &mut Ctx) + 'static) -> Self {
        self.with(ServerOpt::Exit(Box::new(f)))
    }

    /// Runs on each wake-up for a datagram, before the master is told.
    pub fn pre_accept(self, f: impl FnMut(&mut S, &mut Ctx) + 'static) -> Self {
        self.with(ServerOpt::PreAccept(Box::new(f)))
    }

    /// Runs after each batch of datagrams, before the master hears that
    /// this process is idle again: flush buffered output here, so that
    /// nothing is ever behind by more than the batch being handled.
    pub fn batch_end(self, f: impl FnMut(&mut S, &mut Ctx) + 'static) -> Self {
        self.with(ServerOpt::BatchEnd(Box::new(f)))
    }

    /// The service's own counters (name, value), reported to the master
    /// with the datagram count (see `STATS_PREFIX`) for `postkit status
    /// --json` and `--prometheus`.
    pub fn stats(self, f: impl Fn(&S) -> Vec<(&'static str, u64)> + 'static) -> Self {
        self.with(ServerOpt::Stats(Box::new(f)))
    }

    /// Take a flow token per request; without one, wait `in_flow_delay`.
    pub fn in_flow_delay(self) -> Self {
        self.with(ServerOpt::InFlowDelay)
    }

    /// The service must run with a process limit of 1 (`-l`).
    pub fn solitary(self) -> Self {
        self.with(ServerOpt::Solitary)
    }

    /// The service must run with no process limit (`-z`).
    pub fn unlimited(self) -> Self {
        self.with(ServerOpt::Unlimited)
    }

    /// This service is the log service (postkit's own requirement): its
    /// diagnostics never go through the postlog socket, which is its own,
    /// but straight into maillog_file (syslog until main.cf names it).
    pub fn log_writer(self) -> Self {
        self.with(ServerOpt::LogWriter)
    }

    /// The service must keep root privileges (no `-u`).
    pub fn privileged(self) -> Self {
        self.with(ServerOpt::Privileged)
    }

    /// The watchdog timeout, read from the state when this option is
    /// processed (so a table given earlier can fill it).
    pub fn watchdog(self, f: impl Fn(&S) -> i32 + 'static) -> Self {
        self.with(ServerOpt::Watchdog(Box::new(f)))
    }

    /// Installs a delivery status filter (Postfix's BOUNCE_INIT): `maps`
    /// gives the table list (usually a parameter a table given earlier
    /// filled), `title` names it in messages.  Tables that cannot be opened
    /// report errors on lookup instead of ending the process, unless
    /// daemon_table_open_error_is_fatal is set.  Supported table types:
    /// `inline:`, `static:`, `texthash:`.
    pub fn bounce_init(self, title: &'static str, maps: impl Fn(&S) -> String + 'static) -> Self {
        self.with(ServerOpt::BounceInit(title, Box::new(maps)))
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
        let mut running = init::start(&mut self.state, std::mem::take(&mut self.opts), args);
        running.main_loop(&mut self.state, &mut service)
    }
}
