//! What every server skeleton shares (Postfix's mail_server.h and the
//! start-up its `*_server_main` functions have in common): the
//! description a service gives of itself ([`Server`]: typed parameters
//! bound to its state, hooks, requirements), the context its hooks and
//! handler see ([`Ctx`]), and the start-up in Postfix's order (options,
//! main.cf, logging, the optional arguments, transport and generation,
//! the pool lock, chroot and privileges, the master's descriptors, the
//! watchdog).  Each skeleton is a [`Family`]: which transports it serves,
//! whether it takes the pool lock, its watchdog; its own module adds the
//! handler type and the loop.

use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::global::config_error::ConfigError;
use crate::global::mail_conf::{MailConf, config_dir_from_env};
use crate::global::mail_conf_types::{
    BoolParam, IntParam, LongParam, NBoolParam, NIntParam, ParamType, StrParam, TimeParam,
};
use crate::global::mail_params::{MailParams, mail_params_init, process_name};
use crate::global::maillog_client::{self, FallbackMode};
use crate::server::dgram_server::options::{DaemonOptions, parse_options_with};
use crate::server::fds;
use crate::server::master_proto::{
    MASTER_FLOW_READ, MASTER_FLOW_WRITE, MASTER_GEN_NAME, MASTER_LISTEN_FD, MASTER_STATUS_FD,
    parse_generation,
};
use crate::util::msg;
use crate::{msg_fatal, msg_info, msg_panic};

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
    /// Requests (datagrams; clients for a stream skeleton) before a
    /// voluntary exit; 0 means no limit.
    pub max_use: i32,
    /// Idle seconds before a voluntary exit; 0 means never.
    pub max_idle: i32,
    /// The delivery status filter BOUNCE_INIT installed, if any.
    pub dsn_filter: Option<crate::global::dsn_filter::DsnFilter>,
    /// The sender of the datagram being handled, as the kernel attests it,
    /// when the service asked for it (`DgramServer::pass_credentials`).
    pub credentials: Option<Credentials>,
    /// A drain was asked for and not yet done.
    pub(crate) drain_requested: bool,
}

impl Ctx {
    /// multi_server and event_server: stop taking new clients and finish
    /// those connected in the background, so that the master can start a
    /// new process at once (Postfix's `multi_server_drain` and
    /// `event_server_drain`, called from a `slow_exit` hook after
    /// `postfix reload`, say).  The skeleton does it when the hook or
    /// handler returns: the process forks, the parent exits (status 0,
    /// no exit hook), the child keeps the clients, runs the hooks and
    /// handlers as before (without reporting to the master, which no
    /// longer counts it) and exits, with the exit hook, when the last
    /// client has gone.  A process with threads of its own is not forked
    /// (see `server::drain`): it drains in place.  Other skeletons ignore
    /// the request.
    pub fn drain(&mut self) {
        self.drain_requested = true;
    }
}

/// A sender's process, user and group, from the kernel (SCM_CREDENTIALS),
/// not from anything the sender wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credentials {
    /// The sending process (0 when it lives in another PID namespace the
    /// kernel cannot translate).
    pub pid: i32,
    /// Its user ID.
    pub uid: u32,
    /// Its group ID.
    pub gid: u32,
}

pub(crate) type Hook<S> = Box<dyn FnMut(&mut S, &mut Ctx)>;
pub(crate) type Table<S> = Box<dyn FnMut(&mut MailConf, &mut S) -> Result<(), ConfigError>>;
pub(crate) type LoopHook<S> = Box<dyn FnMut(&mut S, &mut Ctx) -> Option<Duration>>;
pub(crate) type StatsHook<S> = Box<dyn Fn(&S) -> Vec<(&'static str, u64)>>;
pub(crate) type ClientHook<S> =
    Box<dyn FnMut(&mut S, &mut crate::server::client::Client, &mut Ctx)>;

/// The skeleton's optional arguments, kept in the order they were given:
/// tables are loaded and checks made in that order, as in Postfix.
pub(crate) enum ServerOpt<S> {
    /// A parameter the service declares, by name, and how it is read.
    Table(&'static str, Table<S>),
    PreInit(Hook<S>),
    PostInit(Hook<S>),
    Loop(LoopHook<S>),
    Exit(Hook<S>),
    PreAccept(Hook<S>),
    BatchEnd(Hook<S>),
    PreDisconnect(Hook<S>),
    PostAccept(ClientHook<S>),
    SlowExit(Hook<S>),
    RetireMe,
    Stats(StatsHook<S>),
    InFlowDelay,
    Solitary,
    Unlimited,
    Privileged,
    LogWriter,
    /// dgram_server: each datagram's sender credentials in `Ctx`.
    PassCredentials,
    Watchdog(Box<dyn Fn(&S) -> i32>),
    BounceInit(&'static str, Box<dyn Fn(&S) -> String>),
}

/// The hooks the service gave, by kind.
pub(crate) struct Hooks<S> {
    pub pre_init: Option<Hook<S>>,
    pub post_init: Option<Hook<S>>,
    pub loop_hook: Option<LoopHook<S>>,
    pub exit: Option<Hook<S>>,
    pub pre_accept: Option<Hook<S>>,
    pub batch_end: Option<Hook<S>>,
    pub pre_disconnect: Option<Hook<S>>,
    pub post_accept: Option<ClientHook<S>>,
    pub slow_exit: Option<Hook<S>>,
    pub stats: Option<StatsHook<S>>,
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
            pre_disconnect: None,
            post_accept: None,
            slow_exit: None,
            stats: None,
        }
    }
}

/// Set in a service's environment by `postkit check`: the skeleton reads
/// its options and main.cf as at a start, then prints the names of the
/// parameters the service declares, one per line, and exits 0 (a bad
/// value is fatal with Postfix's text, on stderr), before it logs,
/// listens or changes anything.
pub const PARAMETER_PROBE_ENV: &str = "POSTKIT_PARAMETER_PROBE";

/// Which watchdog a skeleton runs when the service names none.
#[derive(Debug, Clone, Copy)]
pub enum WatchdogDefault {
    /// A fixed number of seconds.
    Seconds(i32),
    /// main.cf's `daemon_timeout`, as Postfix's stream skeletons.
    DaemonTimeout,
}

/// A skeleton of the family: what sets it apart at start-up.
pub trait Family {
    /// Postfix's name for it, in messages.
    const NAME: &'static str;
    /// Its getopt string (`-S`, stand-alone on stdin, for the stream
    /// skeletons).
    const GETOPT: &'static str;
    /// The transports (`-t`) it serves.
    const TRANSPORTS: &'static [&'static str];
    /// Whether its processes take the pool lock around the wait (unless
    /// `-l`: the service runs alone).
    const POOL_LOCK: bool;
    /// Its watchdog when the service names none.
    const WATCHDOG: WatchdogDefault;
    /// Whether its processes keep clients and may drain (`Ctx::drain`).
    const DRAINS: bool = false;
}

/// A service on skeleton `F`, under construction: the builder every
/// skeleton shares.  Each skeleton's module names it (`DgramServer`,
/// `MultiServer`, ...) and adds the handler and its own options.
pub struct Server<S, F> {
    pub(crate) state: S,
    pub(crate) opts: Vec<ServerOpt<S>>,
    family: PhantomData<F>,
}

impl<S: 'static, F: Family> Server<S, F> {
    /// A service whose state starts as `state`.
    pub fn new(state: S) -> Self {
        Server {
            state,
            opts: Vec::new(),
            family: PhantomData,
        }
    }

    /// Adds one optional argument, keeping their order.
    pub(crate) fn with(mut self, opt: ServerOpt<S>) -> Self {
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
        self.with(ServerOpt::Table(
            name,
            Box::new(move |c, s| {
                bind(s, spec.read(c, name)?);
                Ok(())
            }),
        ))
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
}

/// What start-up leaves the skeleton's loop.
pub(crate) struct Started<S> {
    pub ctx: Ctx,
    pub hooks: Hooks<S>,
    pub opts: DaemonOptions,
    pub status_fd: OwnedFd,
    pub flow: Option<(OwnedFd, OwnedFd)>,
    /// The listening descriptors, from MASTER_LISTEN_FD on.
    pub listen: Vec<OwnedFd>,
    /// The pool lock (none with `-l`, nor for a skeleton without one).
    pub lock: Option<std::fs::File>,
    pub generation: u32,
    pub in_flow_delay: bool,
    pub watchdog: bool,
    /// The transport type (`-t`).
    pub transport: String,
    /// `-S`: the client is on standard input and output; no master.
    pub stand_alone: bool,
    /// RETIRE_ME: when the process retires.
    pub retire_at: Option<Instant>,
    /// Whether the loop still watches the status channel (not after a
    /// slow exit began: its end of file would wake the loop forever).
    pub watch_master: bool,
    /// The thread count's source for a drain (opened only for the
    /// skeletons that drain).
    pub tasks: crate::server::drain::TaskDir,
    /// The process drains: it no longer reports to the master.
    pub drained: bool,
    /// This process's pid, for its status records (asked once: glibc
    /// does not cache getpid(), and a drained child, the only process
    /// with another pid, reports nothing).
    pub pid: i32,
    /// The process kept the pool lock after looking for waiting work and
    /// finding none (`take_waiting`): its next wait needs no new lock.
    pub holds_lock: bool,
    /// An AVAIL went to the master (see `quiet`).
    pub avail_reported: bool,
}

/// Clients or triggers a process takes back to back (`take_waiting`)
/// before it reports AVAIL and goes round its loop.
const RUN: usize = 64;

/// What the use limit leaves after `used` (no limit: as many as there are).
pub(crate) fn room(max_use: i64, used: i64) -> usize {
    if max_use == 0 {
        usize::MAX
    } else {
        (max_use - used).max(0) as usize
    }
}

fn fatal(e: impl std::fmt::Display) -> ! {
    msg::fatal(e)
}

/// What the stream and trigger skeletons' loops share: the top of every
/// turn (pool lock, watchdog, how long to wait) and the wait itself.
impl<S> Started<S> {
    /// A normal exit (idle, use limit, master gone): the exit hook, then
    /// status 0.
    pub(crate) fn exit_normally(&mut self, state: &mut S, why: &str) -> ! {
        if msg::verbose() > 0 {
            msg_info!("{why}");
        }
        if let Some(f) = self.hooks.exit.as_mut() {
            f(state, &mut self.ctx);
        }
        std::process::exit(0)
    }

    /// The pool lock, when the process is one of a pool (the watchdog does
    /// not count the wait for it: it may be long), then the watchdog armed
    /// for the turn.
    pub(crate) fn lock_and_arm(&mut self) {
        if !std::mem::take(&mut self.holds_lock)
            && let Some(lock) = &self.lock
        {
            wait_pool_lock(lock, self.watchdog);
        }
        if self.watchdog {
            crate::util::watchdog::start();
        }
    }

    /// The pool lock without waiting: false when another process of the
    /// pool holds it (true when the process has no pool lock).
    pub(crate) fn try_lock(&self) -> bool {
        self.lock.as_ref().is_none_or(try_pool_lock)
    }

    /// After a piece of work (a client, a trigger), the ones that waited
    /// meanwhile: the process stays busy and takes the next at once, under
    /// the pool lock taken without waiting (a process that holds it waits
    /// for work: none was there when it looked), with no AVAIL and TAKEN
    /// in between, as a dgram_server pool member does.  At most `room`
    /// (what the use limit leaves) and RUN, after which the process goes
    /// round its loop all the same (the master's channel, the idle
    /// timer).  `take` takes waiting work without waiting; `serve` does
    /// it.  How many were taken; when none was waiting the process keeps
    /// the pool lock for its next wait (`holds_lock`).
    pub(crate) fn take_waiting<T>(
        &mut self,
        state: &mut S,
        room: usize,
        mut take: impl FnMut() -> Option<T>,
        mut serve: impl FnMut(&mut Self, &mut S, T),
    ) -> usize {
        for taken in 0..RUN.min(room) {
            if !self.try_lock() {
                return taken;
            }
            if self.watchdog {
                crate::util::watchdog::pat();
            }
            if let Some(f) = self.hooks.pre_accept.as_mut() {
                f(state, &mut self.ctx);
            }
            let Some(work) = take() else {
                self.holds_lock = self.lock.is_some();
                return taken;
            };
            self.unlock();
            serve(self, state, work);
        }
        RUN.min(room)
    }

    /// A flow token for one request when the service asks for them
    /// (IN_FLOW_DELAY); none there, the `in_flow_delay` wait instead.
    pub(crate) fn flow_token_or_wait(&self) {
        if self.in_flow_delay
            && let Some((r, w)) = &self.flow
            && crate::server::mail_flow::mail_flow_get(r, w, 1).is_err()
        {
            std::thread::sleep(Duration::from_secs(
                self.ctx.params.in_flow_delay.max(0) as u64
            ));
        }
    }

    /// Gives back the pool lock a process kept for its next wait (before
    /// it exits on the use limit).
    pub(crate) fn release_held_lock(&mut self) {
        if std::mem::take(&mut self.holds_lock) {
            self.unlock();
        }
    }

    /// Whether a busy spell goes unreported.  A process that runs alone
    /// (-l) is one the master never spawns a second of: after its first
    /// AVAIL (a master takes a child that dies before its first AVAIL for
    /// a broken command) its busy and idle reports would only wake the
    /// master for `status`.
    pub(crate) fn quiet(&self) -> bool {
        self.opts.alone && self.avail_reported
    }

    /// Tells the master this process is available again (see `notify`),
    /// and notes that it was told (see `quiet`).
    pub(crate) fn report_avail(&mut self) -> Result<(), nix::errno::Errno> {
        self.avail_reported = true;
        self.notify(crate::server::master_proto::MASTER_STAT_AVAIL)
    }

    /// The pool lock given back once the process has its work, so that
    /// another member of the pool waits for the next.
    pub(crate) fn unlock(&self) {
        if let Some(lock) = &self.lock {
            release_pool_lock(lock);
        }
    }

    /// How long the next wait may last: the loop hook's answer, bounded by
    /// what is left of `max_idle` since `idle_since` (None: the process is
    /// not idle); the idle time used up is a normal exit.
    pub(crate) fn wait_time(
        &mut self,
        state: &mut S,
        idle_since: Option<Instant>,
    ) -> Option<Duration> {
        let mut wait = self
            .hooks
            .loop_hook
            .as_mut()
            .and_then(|f| f(state, &mut self.ctx));
        if let Some(at) = self.retire_at {
            let left = at.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.retire(state);
            } else {
                wait = Some(wait.map_or(left, |w| w.min(left)));
            }
        }
        if let Some(since) = idle_since
            && self.ctx.max_idle > 0
        {
            let left =
                Duration::from_secs(self.ctx.max_idle as u64).saturating_sub(since.elapsed());
            if left.is_zero() {
                self.exit_normally(state, "idle timeout -- exiting");
            }
            wait = Some(wait.map_or(left, |w| w.min(left)));
        }
        wait
    }

    /// Waits at most `wait` for the master's status channel and `fds`:
    /// which of `fds` are ready, or None when a signal cut the wait short.
    /// Anything on the status channel means the master went away: a
    /// normal exit.
    pub(crate) fn wait_ready(
        &mut self,
        state: &mut S,
        fds: &[BorrowedFd<'_>],
        wait: Option<Duration>,
    ) -> Option<Vec<bool>> {
        let watch = usize::from(self.watch_master);
        let mut pfds: Vec<PollFd<'_>> = Vec::with_capacity(fds.len() + 1);
        if self.watch_master {
            pfds.push(PollFd::new(self.status_fd.as_fd(), PollFlags::POLLIN));
        }
        pfds.extend(fds.iter().map(|fd| PollFd::new(*fd, PollFlags::POLLIN)));
        let timeout = wait.map_or(PollTimeout::NONE, |w| {
            PollTimeout::try_from(w.as_millis().clamp(1, i32::MAX as u128) as i32)
                .unwrap_or(PollTimeout::MAX)
        });
        match poll(&mut pfds, timeout) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return None,
            Err(e) => msg_fatal!("poll: {}", crate::util::nix_text(e)),
        }
        let ready: Vec<bool> = pfds
            .iter()
            .map(|p| p.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(pfds);
        if watch == 1 && ready[0] {
            self.master_gone(state);
        }
        Some(ready[watch..].to_vec())
    }

    /// The master went away (its end of the status channel closed: a
    /// reload, a stop, a crash): a slow exit when the service has one,
    /// else a normal exit.
    pub(crate) fn master_gone(&mut self, state: &mut S) {
        self.slow_exit_or_exit(state, "master disconnect")
    }

    /// RETIRE_ME's time has come.
    fn retire(&mut self, state: &mut S) {
        self.retire_at = None;
        self.slow_exit_or_exit(state, "time to retire")
    }

    fn slow_exit_or_exit(&mut self, state: &mut S, why: &str) {
        self.watch_master = false;
        match self.hooks.slow_exit.as_mut() {
            Some(f) => {
                if msg::verbose() > 0 {
                    msg_info!("{why} -- draining");
                }
                f(state, &mut self.ctx);
            }
            None => self.exit_normally(state, &format!("{why} -- exiting")),
        }
    }

    /// Does a drain the service asked for (`Ctx::drain`): true when this
    /// process now only finishes its clients (the parent of a fork never
    /// comes back).  A fork that failed is tried again at the next turn.
    pub(crate) fn drain_if_asked(&mut self) -> bool {
        if !self.ctx.drain_requested {
            return false;
        }
        match crate::server::drain::fork_to_drain(&self.tasks) {
            crate::server::drain::Drained::InChild => {}
            crate::server::drain::Drained::InPlace(why) => {
                crate::msg_warn!("drain without fork ({why}): the clients are finished here");
            }
            crate::server::drain::Drained::Failed(why) => {
                crate::msg_warn!("drain: fork: {why}; trying again");
                return false;
            }
        }
        self.ctx.drain_requested = false;
        self.watch_master = false;
        self.drained = true;
        true
    }

    /// Tells the master this process is busy or available again, unless
    /// it drains (the master no longer counts it).  An error means the
    /// master is gone.
    pub(crate) fn notify(&self, status: i32) -> Result<(), nix::errno::Errno> {
        if self.drained {
            return Ok(());
        }
        crate::server::master_proto::master_notify(
            &self.status_fd,
            self.pid,
            self.generation,
            status,
        )
    }
}

/// The pool lock, waited for as long as it takes: the watchdog, if it
/// runs, is stopped first (the wait is no work of the process's, and may
/// be long).  A failure is fatal, with Postfix's text.
pub(crate) fn wait_pool_lock(lock: &std::fs::File, watchdog: bool) {
    if watchdog {
        crate::util::watchdog::stop();
    }
    if let Err(e) =
        crate::util::myflock::myflock(lock, crate::util::myflock::LockOp::Exclusive, true)
    {
        msg_fatal!("select lock: {}", crate::util::nix_text(e));
    }
}

/// The pool lock given back; a failure is fatal, with Postfix's text.
pub(crate) fn release_pool_lock(lock: &std::fs::File) {
    if let Err(e) = crate::util::myflock::myflock(lock, crate::util::myflock::LockOp::Unlock, false)
    {
        msg_fatal!("select unlock: {}", crate::util::nix_text(e));
    }
}

/// The pool lock without waiting: false when another process of the pool
/// holds it; any other failure is fatal, as for the waiting lock.
pub(crate) fn try_pool_lock(lock: &std::fs::File) -> bool {
    match crate::util::myflock::myflock(lock, crate::util::myflock::LockOp::Exclusive, false) {
        Ok(()) => true,
        Err(nix::errno::Errno::EAGAIN) => false,
        Err(e) => msg_fatal!("select lock: {}", crate::util::nix_text(e)),
    }
}

/// Starts a service of skeleton `F` described by `server_opts` with
/// `args` (program name first): everything up to its first wait.
/// `extra` reads what the skeleton itself reads from main.cf, after the
/// service's own optional arguments (dgram_server's batch limit).
pub(crate) fn start<S, F: Family>(
    state: &mut S,
    server_opts: Vec<ServerOpt<S>>,
    args: &[String],
) -> Started<S> {
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
    // Started by hand, without a terminal (a script, a unit written for a
    // stand-alone daemon): Postfix's fatal texts say what is missing
    // (`requires a process limit of 1`), not why.  With no master in
    // sight (no GENERATION, no status channel) the person also learns
    // who starts a service.  Only on stderr: the log keeps Postfix's texts.
    let probing = std::env::var_os(PARAMETER_PROBE_ENV).is_some();
    if !probing && std::env::var_os(MASTER_GEN_NAME).is_none() && !fds::is_open(MASTER_STATUS_FD) {
        let name = proc_name.clone();
        msg::set_fatal_hook(Some(Box::new(move |_| {
            eprintln!(
                "{name}: started without a master: this is a service, which a master starts \
                 from a master.cf entry (see `postkit start` and master.cf(5)); it does not run by hand"
            );
        })));
    }
    // Fatal texts go to stderr always: the master captures them (a service
    // that dies at start says why even when it cannot log), and under a
    // foreground master they reach the terminal.
    msg::set_stderr_from(msg::Level::Fatal);
    // The log service itself never logs through its own socket.
    let writer_only = server_opts
        .iter()
        .any(|o| matches!(o, ServerOpt::LogWriter));
    maillog_client::init_from_env(&maillog_client::mail_task(&proc_name, None), writer_only);
    if msg::verbose() > 0 {
        msg_info!("daemon started");
    }
    let mut conf =
        MailConf::read(&config_dir_from_env(), &mut |m| msg::warn(&m)).unwrap_or_else(|e| fatal(e));
    conf.update("process_name", &proc_name);

    // 5. Options.
    let opts = parse_options_with(&args[1..], F::GETOPT).unwrap_or_else(|err| {
        // Options before the bad one still count (-V among them).
        if err.partial.stderr {
            msg::set_stderr(true);
        }
        fatal(err)
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
    let fallback = if writer_only {
        FallbackMode::WriterOnly
    } else {
        FallbackMode::None
    };
    if probing {
        // `postkit check` asks, and reads the answer on stdout and stderr:
        // nothing goes to the log.
        msg::set_stderr(true);
    } else {
        maillog_client::init(&tag, &params, fallback).unwrap_or_else(|e| fatal(e));
    }

    // 7. A daemon is started by a master, not from a terminal.
    if opts.daemon_mode
        && !opts.stand_alone
        && nix::unistd::isatty(std::io::stdin()).unwrap_or(false)
    {
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
        credentials: None,
        drain_requested: false,
        params,
        conf,
    };
    let mut hooks = Hooks::default();
    let mut watchdog_timeout = match F::WATCHDOG {
        WatchdogDefault::Seconds(s) => s,
        WatchdogDefault::DaemonTimeout => ctx.params.daemon_timeout,
    };
    let mut in_flow_delay = false;
    let mut retire: Option<i32> = None;
    let mut declared: Vec<&str> = Vec::new();
    for opt in server_opts {
        match opt {
            ServerOpt::Table(name, mut f) => {
                f(&mut ctx.conf, state).unwrap_or_else(|e| fatal(e));
                declared.push(name);
            }
            _ if probing => {}
            ServerOpt::PreInit(f) => hooks.pre_init = Some(f),
            ServerOpt::PostInit(f) => hooks.post_init = Some(f),
            ServerOpt::Loop(f) => hooks.loop_hook = Some(f),
            ServerOpt::Exit(f) => hooks.exit = Some(f),
            ServerOpt::PreAccept(f) => hooks.pre_accept = Some(f),
            ServerOpt::BatchEnd(f) => hooks.batch_end = Some(f),
            ServerOpt::PreDisconnect(f) => hooks.pre_disconnect = Some(f),
            ServerOpt::PostAccept(f) => hooks.post_accept = Some(f),
            ServerOpt::SlowExit(f) => hooks.slow_exit = Some(f),
            ServerOpt::RetireMe => {
                // Postfix's choice: -r, else max_use x max_idle seconds,
                // else (either unlimited, or a product over five hours)
                // five hours.
                let (idle, uses) = (ctx.params.max_idle, ctx.params.max_use);
                retire = Some(match opts.retire {
                    Some(r) => r,
                    None if idle <= 0 || uses <= 0 || idle > 18000 / uses => 18000,
                    None => idle * uses,
                });
            }
            ServerOpt::Stats(f) => hooks.stats = Some(f),
            ServerOpt::InFlowDelay => in_flow_delay = true,
            ServerOpt::Solitary if !opts.alone && !opts.stand_alone => {
                msg_fatal!("service {service_name} requires a process limit of 1")
            }
            ServerOpt::Unlimited if !opts.zero_limit && !opts.stand_alone => {
                msg_fatal!("service {service_name} requires a process limit of 0")
            }
            ServerOpt::Privileged if opts.unprivileged => {
                msg_fatal!("service {service_name} requires privileged operation")
            }
            ServerOpt::Watchdog(f) => watchdog_timeout = f(state),
            ServerOpt::BounceInit(title, maps) => {
                let maps = maps(&*state);
                if !maps.is_empty() {
                    let fatal_errors = ctx.params.daemon_table_open_error_is_fatal;
                    let filter =
                        crate::global::dsn_filter::DsnFilter::new(title, &maps, fatal_errors)
                            .unwrap_or_else(|e| fatal(e));
                    ctx.dsn_filter = Some(filter);
                }
            }
            ServerOpt::Solitary | ServerOpt::Unlimited | ServerOpt::Privileged => {}
            ServerOpt::LogWriter | ServerOpt::PassCredentials => {}
        }
    }

    if probing {
        // Every value was read as at a start (a bad one was fatal above).
        for name in declared {
            println!("{name}");
        }
        std::process::exit(0);
    }

    // 9. Transport and generation.
    if !opts.stand_alone {
        match opts.transport.as_deref() {
            None => msg_fatal!("no transport type specified"),
            Some(t) if !F::TRANSPORTS.iter().any(|x| t.eq_ignore_ascii_case(x)) => {
                msg_fatal!("unsupported transport type: {t}")
            }
            _ => {}
        }
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

    // The watchdog from here on, so that it covers the rest of start-up
    // (PRE_INIT, the privilege drop) as well as the loop: a process stuck
    // there is ended too.
    let log_fd = maillog_client::with_postlog(|p| p.raw_fd()).flatten();
    if watchdog_timeout > 0 {
        crate::util::watchdog::create(
            watchdog_timeout as u32,
            log_fd,
            &ctx.params.myhostname,
            &tag,
            true,
        )
        .unwrap_or_else(|e| msg_panic!("{e}"));
    }

    // 10. The pool lock, relative to the master's working directory
    // (the queue directory), opened before chroot and privilege drop.
    let lock = if opts.alone || opts.stand_alone || !F::POOL_LOCK {
        None
    } else {
        let path = format!("pid/{transport}.{service_name}");
        match crate::util::safe_open::safe_open(std::path::Path::new(&path), true, false, 0o600) {
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
        f(state, &mut ctx);
    }
    // The thread count a drain checks, before a chroot hides /proc.
    let tasks = if F::DRAINS {
        crate::server::drain::TaskDir::open()
    } else {
        crate::server::drain::TaskDir::none()
    };
    // Load the time zone before a chroot hides /etc/localtime.
    let _ = chrono::Local::now();
    let root = opts.chroot.then(|| ctx.params.queue_directory.clone());
    let user = opts.unprivileged.then(|| ctx.params.mail_owner.clone());
    crate::util::chroot_uid::chroot_uid(root.as_deref(), user.as_deref())
        .unwrap_or_else(|e| fatal(e));
    if let Some(f) = hooks.post_init.as_mut() {
        f(state, &mut ctx);
    }

    // 12. The descriptors the master passed, and the watchdog.  Stand
    // alone (-S) there is no master: the status channel is a stand-in
    // that nobody reads.
    let status_fd = if opts.stand_alone {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .map(OwnedFd::from)
            .unwrap_or_else(|e| msg_fatal!("open /dev/null: {e}"))
    } else {
        fds::inherited(MASTER_STATUS_FD)
            .unwrap_or_else(|| msg_fatal!("status descriptor {MASTER_STATUS_FD} is not open"))
    };
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
    let listen: Vec<OwnedFd> = (0..opts.socket_count)
        .filter(|_| !opts.stand_alone)
        .map(|i| {
            let fd = MASTER_LISTEN_FD + i as i32;
            let owned = fds::inherited(fd)
                .unwrap_or_else(|| msg_fatal!("listen descriptor {fd} is not open"));
            fds::close_on_exec(&owned);
            owned
        })
        .collect();

    Started {
        ctx,
        hooks,
        stand_alone: opts.stand_alone,
        opts,
        status_fd,
        flow,
        listen,
        lock,
        generation,
        in_flow_delay,
        watchdog: watchdog_timeout > 0,
        transport,
        retire_at: retire.map(|r| Instant::now() + Duration::from_secs(r.max(1) as u64)),
        watch_master: true,
        tasks,
        drained: false,
        pid: std::process::id() as i32,
        holds_lock: false,
        avail_reported: false,
    }
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
