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

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use crate::global::config_error::ConfigError;
use crate::global::mail_conf::MailConf;
use crate::global::mail_conf_types::{IntParam, ParamType};
use crate::server::mail_server::{Family, Server, ServerOpt, WatchdogDefault};

pub use crate::server::mail_server::{Credentials, Ctx};

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

/// The request handler: one datagram at a time.
type Handler<'a, S> = dyn FnMut(&mut S, &[u8], &mut Ctx) + 'a;

/// The socket form's handler: the socket, to read from.
type SocketHandler<'a, S> = dyn FnMut(&mut S, &UnixDatagram, &mut Ctx) + 'a;

/// The datagram skeleton as a [`Family`] member.
pub struct Dgram;

impl Family for Dgram {
    const NAME: &'static str = "dgram_server";
    const GETOPT: &'static str = "cdDi:lm:n:o:s:t:uvVz";
    const TRANSPORTS: &'static [&'static str] = &["unix-dgram"];
    const POOL_LOCK: bool = true;
    const WATCHDOG: WatchdogDefault = WatchdogDefault::Seconds(DEFAULT_WATCHDOG);
}

/// A datagram service under construction (the builder every skeleton
/// shares, on this skeleton).
pub type DgramServer<S> = Server<S, Dgram>;

impl<S: 'static> Server<S, Dgram> {
    /// Runs after each batch of datagrams, before the master hears that
    /// this process is idle again: flush buffered output here, so that
    /// nothing is ever behind by more than the batch being handled.
    pub fn batch_end(self, f: impl FnMut(&mut S, &mut Ctx) + 'static) -> Self {
        self.with(ServerOpt::BatchEnd(Box::new(f)))
    }

    /// Each datagram's sender, as the kernel attests it (SO_PASSCRED:
    /// process, user and group), in [`Ctx::credentials`] while the handler
    /// runs.  postkit's own; no Postfix skeleton offers it.  The option is
    /// set on the master's socket by the first process of the service:
    /// what was queued before that (the datagram that made the master
    /// start it) comes with `None`.
    pub fn pass_credentials(self) -> Self {
        self.with(ServerOpt::PassCredentials)
    }

    /// Runs the service in Postfix 3.11's socket form: the handler is
    /// given the socket each time it is readable and reads it itself
    /// (non-blocking: another process of a pool may have taken the
    /// datagram first, and `recv` then says `WouldBlock`).  Each call is
    /// one request for `max_use`, reported busy then idle to the master;
    /// no batches.  Never returns.
    pub fn run_socket(
        mut self,
        mut service: impl FnMut(&mut S, &UnixDatagram, &mut Ctx) + 'static,
    ) -> ! {
        let args: Vec<String> = std::env::args().collect();
        let mut running = init::start(&mut self.state, std::mem::take(&mut self.opts), &args);
        running.socket_loop(&mut self.state, &mut service)
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
