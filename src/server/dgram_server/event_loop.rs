//! The skeleton's event loop: wait for a datagram (under the pool lock
//! when in a pool), tell the master TAKEN, take what is queued in batches,
//! run the handler and the batch_end hook, tell the master AVAIL; exit on
//! the idle and use limits or when the master goes away.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout};

use crate::server::dgram_batch::BatchReceiver;
use crate::server::mail_flow::mail_flow_get;
use crate::server::master_proto::{MASTER_STAT_AVAIL, MASTER_STAT_TAKEN, master_notify};
use crate::util::msg;
use crate::{msg_fatal, msg_info};

use super::{Ctx, DRAIN_BATCHES, DRAIN_ON_EXIT, Handler, LINGER, STATS_PREFIX, SocketHandler};

pub(super) use crate::server::mail_server::Hooks;

/// Where the process stands with the master.
///
/// A batching process that runs alone (`-l`: its service's process limit
/// is 1) is a process the master never spawns a second of, so its busy and
/// idle reports serve only `status`.  Once it has reported AVAIL it goes
/// quiet: a busy spell that the queue ends (it ran dry before
/// DRAIN_BATCHES batches) is not reported at all, which at the rates most
/// hosts log (a record now and then) saves two status records, a master
/// wake-up and a timer wake-up per record.  Load is reported: a spell that
/// DRAIN_BATCHES ends, or spells back to back (each starting within
/// BACK_TO_BACK of the last one's end) for LOAD_AFTER, but not one slow
/// spell alone (a process the scheduler kept waiting).  Then the process
/// reports TAKEN and lingers, staying busy for LINGER after its queue runs
/// dry before it reports AVAIL, so that the master hears about the load
/// once per busy period, not once per batch.
/// The first spell is always reported: a master (Postfix's too) takes a
/// child that dies without ever having reported AVAIL for a broken command
/// and throttles the service.  A member of a pool reports every spell at
/// once, as in Postfix: the master needs TAKEN to know when to spawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum State {
    /// Idle as far as the master knows, and every spell is reported (a
    /// fresh process, or a member of a pool).
    #[default]
    Idle,
    /// Idle as far as the master knows; a spell is reported only if it
    /// shows load.
    Quiet,
    /// TAKEN sent: AVAIL after LINGER with nothing new.
    Lingering,
}

/// A started service: what the loop works with.
pub(super) struct Running<S> {
    pub ctx: Ctx,
    pub hooks: Hooks<S>,
    pub status_fd: OwnedFd,
    pub flow: Option<(OwnedFd, OwnedFd)>,
    pub sockets: Vec<UnixDatagram>,
    /// The pool lock (none with `-l`).
    pub lock: Option<std::fs::File>,
    pub generation: u32,
    pub in_flow_delay: bool,
    pub watchdog: bool,
    pub pid: i32,
    /// Datagrams taken per recvmmsg() (dgram_batch_limit).
    pub batch_limit: usize,
    /// Each datagram's sender credentials go to the handler.
    pub credentials: bool,
    /// Datagrams handled by this process.
    pub handled: u64,
    /// Wake-ups for a datagram that was gone by the time it was asked for
    /// (another reader took it): the pool lock is meant to keep this at 0.
    pub empty_wakeups: u64,
    /// When the counters were last reported.
    pub last_stats: Option<Instant>,
    /// `handled` as last reported: more since then is reported when the
    /// rate limit allows, even if no request comes.
    pub stats_reported: u64,
    /// Where the process stands with the master.
    pub phase: State,
    /// A pool member that looked for more work under the pool lock and
    /// found none keeps the lock for its next wait.
    pub holds_lock: bool,
}

/// Spells this close together are one stretch of work.
const BACK_TO_BACK: Duration = Duration::from_micros(200);
/// A stretch of work this long is load, reported to the master.
const LOAD_AFTER: Duration = Duration::from_millis(2);

/// When the current stretch of back-to-back spells began, and when the
/// last spell ended.
struct Stretch {
    began: Instant,
    last_end: Instant,
    spells: u32,
}

impl Stretch {
    /// A spell begins now: it continues the stretch or starts a new one.
    fn spell_begins(&mut self) {
        let now = Instant::now();
        if now.saturating_duration_since(self.last_end) > BACK_TO_BACK {
            self.began = now;
            self.spells = 0;
        }
        self.spells += 1;
    }

    /// A spell ended now; whether the stretch is load.
    fn spell_ends(&mut self) -> bool {
        self.last_end = Instant::now();
        self.spells > 1 && self.last_end.saturating_duration_since(self.began) >= LOAD_AFTER
    }
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
        self.report_stats(state, true);
        std::process::exit(0);
    }

    /// Whether the use limit (`max_use` requests, 0: none) is reached.
    fn used_up(&self) -> bool {
        self.ctx.max_use != 0 && self.handled as i64 >= i64::from(self.ctx.max_use)
    }

    /// Reports the counters to the master (at most once a second, unless
    /// `now`): one short line, so one atomic write on the pipe.
    fn report_stats(&mut self, state: &S, now: bool) {
        if !now
            && self
                .last_stats
                .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        self.last_stats = Some(Instant::now());
        self.stats_reported = self.handled;
        let mut line = format!(
            "{STATS_PREFIX}pid={} handled={} empty_wakeups={}",
            self.pid, self.handled, self.empty_wakeups
        );
        if let Some(f) = &self.hooks.stats {
            for (name, value) in f(state) {
                line.push_str(&format!(" {name}={value}"));
            }
        }
        line.push('\n');
        use std::io::Write;
        let _ = std::io::stderr().write_all(line.as_bytes());
    }

    /// When an idle spell that starts now ends the process (`max_idle`).
    fn idle_deadline(&self) -> Option<Instant> {
        (self.ctx.max_idle > 0)
            .then(|| Instant::now() + Duration::from_secs(self.ctx.max_idle as u64))
    }

    /// Tells the master this process is idle; if it cannot, the master is
    /// gone and so is the reason to run.
    fn report_idle(&mut self, state: &mut S) {
        self.report_stats(state, false);
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

    /// Takes the pool lock (the watchdog does not count the wait for it).
    fn lock(&self) {
        if let Some(lock) = &self.lock {
            crate::server::mail_server::wait_pool_lock(lock, self.watchdog);
        }
    }

    /// How long to wait for the next datagram.
    fn timeout(&mut self, s: &mut S, phase: State, idle: Option<Instant>) -> PollTimeout {
        let mut wait = match self.hooks.loop_hook.as_mut() {
            Some(f) => f(s, &mut self.ctx),
            None => None,
        };
        if let Some(deadline) = idle {
            let left = deadline.saturating_duration_since(Instant::now());
            wait = Some(wait.map_or(left, |w| w.min(left)));
        }
        if phase == State::Lingering {
            wait = Some(wait.map_or(LINGER, |w| w.min(LINGER)));
        }
        if self.handled != self.stats_reported {
            let due = self
                .last_stats
                .map_or(Duration::ZERO, |t| STATS_EVERY.saturating_sub(t.elapsed()));
            wait = Some(wait.map_or(due, |w| w.min(due)));
        }
        match wait {
            None => PollTimeout::NONE,
            Some(d) => PollTimeout::try_from(d.as_millis().min(i32::MAX as u128) as i32)
                .unwrap_or(PollTimeout::MAX),
        }
    }

    /// Waits; the index of a socket with a datagram, None on a timeout.
    /// EOF or anything else on the status channel means the master left.
    fn wait(&mut self, timeout: PollTimeout) -> Result<Option<usize>, MasterGone> {
        let (status_ready, ready) = {
            let mut pfds: Vec<PollFd> = self
                .sockets
                .iter()
                .map(|s| PollFd::new(s.as_fd(), PollFlags::POLLIN))
                .collect();
            pfds.push(PollFd::new(self.status_fd.as_fd(), PollFlags::POLLIN));
            match nix::poll::poll(&mut pfds, timeout) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => return Ok(None),
                Err(e) => msg_fatal!("event_loop: poll: {}", crate::util::nix_text(e)),
            }
            let (status, listen) = pfds.split_last().expect("status descriptor is polled");
            (has_events(status), listen.iter().position(has_events))
        };
        if status_ready {
            return Err(MasterGone);
        }
        Ok(ready)
    }

    /// The master went away (stop, reload, or its death): what the sockets
    /// already hold was accepted from its senders, so it is handled before
    /// the exit, for at most DRAIN_ON_EXIT.
    fn drain_and_exit(
        &mut self,
        s: &mut S,
        service: &mut Handler<'_, S>,
        batch: &mut BatchReceiver,
    ) -> ! {
        let deadline = Instant::now() + DRAIN_ON_EXIT;
        while Instant::now() < deadline {
            let mut took = 0;
            for i in 0..self.sockets.len() {
                let n = batch.recv(&self.sockets[i], self.batch_limit);
                if n > 0 {
                    self.handle_batch(s, service, batch, n);
                    self.handled += n as u64;
                    took += n;
                }
            }
            if took == 0 {
                break;
            }
        }
        self.exit_normally(s, "master disconnect -- exiting")
    }

    /// The start of a busy spell: pool lock released, PRE_ACCEPT, and
    /// TAKEN when the spell is reported.
    fn begin_busy(&mut self, s: &mut S, report: bool) {
        if let Some(lock) = &self.lock {
            crate::server::mail_server::release_pool_lock(lock);
        }
        if msg::verbose() > 0 {
            msg_info!("dgram_server_accept: request arrived");
        }
        if let Some(f) = self.hooks.pre_accept.as_mut() {
            f(s, &mut self.ctx);
        }
        if report {
            self.report_busy();
        }
    }

    /// Tells the master this process is busy.
    fn report_busy(&self) {
        let _ = master_notify(
            &self.status_fd,
            self.pid,
            self.generation,
            MASTER_STAT_TAKEN,
        );
    }

    /// Handles one batch of `n` datagrams: flow token, handler, batch_end.
    fn handle_batch(
        &mut self,
        s: &mut S,
        service: &mut Handler<'_, S>,
        batch: &BatchReceiver,
        n: usize,
    ) {
        if self.in_flow_delay {
            let got = match &self.flow {
                Some((r, w)) => mail_flow_get(r, w, n).is_ok(),
                None => false,
            };
            if !got {
                // A wait this long is busy time the master should see.
                if self.phase == State::Quiet {
                    self.report_busy();
                    self.phase = State::Lingering;
                }
                std::thread::sleep(Duration::from_secs(self.ctx.params.in_flow_delay as u64));
            }
        }
        for i in 0..n {
            self.ctx.credentials = batch.credentials(i);
            service(s, batch.datagram(i), &mut self.ctx);
        }
        self.ctx.credentials = None;
        if let Some(f) = self.hooks.batch_end.as_mut() {
            f(s, &mut self.ctx);
        }
    }

    pub(super) fn main_loop(&mut self, s: &mut S, service: &mut Handler<'_, S>) -> ! {
        let mut idle_deadline = self.idle_deadline();
        let mut batch = BatchReceiver::with_credentials(self.batch_limit, self.credentials);
        let may_go_quiet = self.batch_limit > 1 && self.lock.is_none();
        let mut stretch = Stretch {
            began: Instant::now(),
            last_end: Instant::now(),
            spells: 0,
        };
        while !self.used_up() {
            if !std::mem::take(&mut self.holds_lock) {
                self.lock();
            }
            if self.watchdog {
                crate::util::watchdog::start();
            }
            let timeout = self.timeout(s, self.phase, idle_deadline);
            let Ok(ready) = self.wait(timeout) else {
                self.drain_and_exit(s, service, &mut batch);
            };
            let Some(index) = ready else {
                if self.handled != self.stats_reported {
                    self.report_stats(s, false);
                }
                if self.phase == State::Lingering {
                    // Nothing more came: now the process is idle.
                    self.report_idle(s);
                    idle_deadline = self.idle_deadline();
                    self.phase = State::Quiet;
                } else if idle_deadline.is_some_and(|d| Instant::now() >= d) {
                    self.exit_normally(s, "idle timeout -- exiting");
                }
                continue;
            };
            // The datagrams are taken while the pool lock is still held: a
            // process that wakes without finding one (another got it) keeps
            // the lock and waits again, without telling the master anything.
            // So exactly one process handles, and reports on, each datagram.
            let mut asked = self.asked();
            let mut n = batch.recv(&self.sockets[index], asked);
            if n == 0 {
                self.empty_wakeups += 1;
                continue;
            }
            if self.phase != State::Lingering {
                self.begin_busy(s, self.phase == State::Idle);
            }
            if self.phase == State::Quiet {
                stretch.spell_begins();
            }
            // A batch is what one recvmmsg() took (up to dgram_batch_limit
            // datagrams), flushed by the batch_end hook.  While more are
            // queued the process stays busy and takes the next batch at
            // once, for at most DRAIN_BATCHES batches.  A batch smaller
            // than asked for emptied the queue: no second, empty call.
            let mut drained = 0;
            loop {
                self.handle_batch(s, service, &batch, n);
                self.handled += n as u64;
                drained += 1;
                // A pool member takes one datagram per wake-up, as in Postfix.
                if self.batch_limit == 1 || drained >= DRAIN_BATCHES || n < asked || self.used_up()
                {
                    break;
                }
                if self.watchdog {
                    crate::util::watchdog::pat();
                }
                asked = self.asked();
                n = batch.recv(&self.sockets[index], asked);
                if n == 0 {
                    break;
                }
            }
            if self.lock.is_some() {
                self.pool_run(s, service, &mut batch, index);
            }
            let under_load =
                self.phase == State::Quiet && (stretch.spell_ends() || drained >= DRAIN_BATCHES);
            self.phase = match self.phase {
                State::Idle => {
                    self.report_idle(s);
                    idle_deadline = self.idle_deadline();
                    if may_go_quiet {
                        State::Quiet
                    } else {
                        State::Idle
                    }
                }
                State::Quiet if under_load => {
                    self.report_busy();
                    State::Lingering
                }
                State::Quiet => {
                    idle_deadline = self.idle_deadline();
                    State::Quiet
                }
                State::Lingering => State::Lingering,
            };
        }
        if self.phase == State::Lingering {
            self.report_idle(s);
        }
        self.exit_normally(s, "use limit -- exiting")
    }

    /// A member of a pool that is done with a datagram while more are
    /// queued stays busy: it takes the pool lock if no other member holds
    /// it (a member that holds it is waiting for the socket: the queue was
    /// empty when it looked) and the next datagram under it, as at a
    /// wake-up, but without telling the master AVAIL and TAKEN in between
    /// (and waking it twice).  The master still sees TAKEN from every busy
    /// member, and each datagram is still taken by one process under the
    /// lock.  When the queue is empty the member keeps the lock for its
    /// wait; after POOL_RUN datagrams it reports AVAIL all the same and
    /// goes round the loop (the master's channel, the idle timer).
    fn pool_run(
        &mut self,
        s: &mut S,
        service: &mut Handler<'_, S>,
        batch: &mut BatchReceiver,
        index: usize,
    ) {
        for _ in 0..POOL_RUN {
            let Some(lock) = &self.lock else { return };
            if self.used_up() {
                return;
            }
            if !crate::server::mail_server::try_pool_lock(lock) {
                return;
            }
            let n = batch.recv(&self.sockets[index], self.asked());
            if n == 0 {
                self.holds_lock = true;
                return;
            }
            if self.watchdog {
                crate::util::watchdog::pat();
            }
            self.begin_busy(s, false);
            self.handle_batch(s, service, batch, n);
            self.handled += n as u64;
        }
    }

    /// Postfix 3.11's socket form, as its dgram_server runs it: per
    /// wake-up the pool lock is released, TAKEN, a flow token, the handler
    /// with the socket, AVAIL; the idle timer starts again.
    pub(super) fn socket_loop(&mut self, s: &mut S, service: &mut SocketHandler<'_, S>) -> ! {
        let mut idle_deadline = self.idle_deadline();
        while !self.used_up() {
            self.lock();
            if self.watchdog {
                crate::util::watchdog::start();
            }
            let timeout = self.timeout(s, State::Idle, idle_deadline);
            let ready = match self.wait(timeout) {
                Ok(r) => r,
                Err(MasterGone) => self.exit_normally(s, "master disconnect -- exiting"),
            };
            let Some(index) = ready else {
                if self.handled != self.stats_reported {
                    self.report_stats(s, false);
                }
                if idle_deadline.is_some_and(|d| Instant::now() >= d) {
                    self.exit_normally(s, "idle timeout -- exiting");
                }
                continue;
            };
            self.begin_busy(s, true);
            if self.in_flow_delay {
                let token = self
                    .flow
                    .as_ref()
                    .is_some_and(|(r, w)| mail_flow_get(r, w, 1).is_ok());
                if !token {
                    std::thread::sleep(Duration::from_secs(self.ctx.params.in_flow_delay as u64));
                }
            }
            service(s, &self.sockets[index], &mut self.ctx);
            self.handled += 1;
            self.report_idle(s);
            idle_deadline = self.idle_deadline();
        }
        self.exit_normally(s, "use limit -- exiting")
    }

    /// Datagrams to ask for in one recvmmsg(): the batch limit, or fewer
    /// when the use limit is near.
    fn asked(&self) -> usize {
        self.batch_limit
            .min(remaining(self.ctx.max_use, self.handled))
            .max(1)
    }
}

/// Datagrams a pool member takes back to back before it reports AVAIL
/// and goes round its loop (see `pool_run`).
const POOL_RUN: usize = 64;

/// The least time between two reports of the counters.
const STATS_EVERY: Duration = Duration::from_secs(1);

/// The master closed the status channel.
struct MasterGone;

/// Requests left before the use limit (no limit: as many as there are).
fn remaining(max_use: i32, used: u64) -> usize {
    if max_use == 0 {
        usize::MAX
    } else {
        (i64::from(max_use) - used as i64).max(1) as usize
    }
}

fn has_events(p: &PollFd) -> bool {
    p.revents().is_some_and(|r| !r.is_empty())
}
