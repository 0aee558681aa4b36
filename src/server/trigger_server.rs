//! The trigger skeleton (Postfix's `trigger_server`), as pickup and qmgr
//! run: a process waits (under the pool lock unless `-l`) for a wake-up on
//! a `fifo`, a `unix` socket or a `pass` connection, reads what the
//! waker wrote (at most TRIGGER_BUF_SIZE bytes: Postfix's wake-up is the
//! byte `W`), and runs the handler with it between a TAKEN and an AVAIL
//! report.  Triggers that wait while it is busy are taken in the same busy
//! spell, and a process that runs alone (`-l`, as pickup and qmgr) stops
//! reporting after its first trigger: the master could not start a second
//! anyway, and each report would wake it.  `max_use` counts triggers;
//! `max_idle` is the wait for the next.  The master's `wakeup` field
//! sends such triggers on a timer; so does `postkit`'s and Postfix's
//! `postqueue`/`postkick` on demand.
//!
//! A fifo is opened by the master for reading and writing, so it never
//! reads as closed, and non-blocking, so that of several processes woken
//! by one trigger the ones that find it taken go back to waiting; a fifo
//! its writers filled is emptied TRIGGER_BUF_SIZE bytes per turn.
//!
//! ```no_run
//! use postkit::server::trigger_server::TriggerServer;
//!
//! fn main() {
//!     TriggerServer::new(0u64).run(|woken, trigger, _ctx| {
//!         *woken += 1;
//!         postkit::msg_info!("woken {} times ({} bytes)", woken, trigger.len());
//!     })
//! }
//! ```

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::server::mail_server::{self, Ctx, Family, Server, Started, WatchdogDefault};
use crate::server::master_proto::MASTER_STAT_TAKEN;
use crate::server::stream_accept::{Listener, Transport, accept_client};
use crate::{msg_fatal, msg_info};

/// The most a trigger gives the handler per turn (Postfix's
/// TRIGGER_BUF_SIZE).
pub const TRIGGER_BUF_SIZE: usize = 1024;

/// The trigger skeleton as a [`Family`] member.
pub struct Trigger;

impl Family for Trigger {
    const NAME: &'static str = "trigger_server";
    const GETOPT: &'static str = "cdDi:lm:n:o:s:St:uvVz";
    const TRANSPORTS: &'static [&'static str] = &["unix", "fifo", "pass"];
    const POOL_LOCK: bool = true;
    const WATCHDOG: WatchdogDefault = WatchdogDefault::Seconds(1000);
}

/// A trigger service under construction.
pub type TriggerServer<S> = Server<S, Trigger>;

impl<S: 'static> Server<S, Trigger> {
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
        let started =
            mail_server::start::<S, Trigger>(&mut self.state, std::mem::take(&mut self.opts), args);
        let mut state = self.state;
        serve(started, &mut state, &mut service)
    }
}

/// Where triggers arrive.
enum Source {
    Fifo(OwnedFd),
    Socket(Listener, Transport),
}

impl AsFd for Source {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Source::Fifo(f) => f.as_fd(),
            Source::Socket(l, _) => l.as_fd(),
        }
    }
}

/// Reads one trigger (up to TRIGGER_BUF_SIZE bytes) from `fd`, which may
/// have nothing (another process took it): None then.
fn read_trigger(fd: &impl AsFd) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; TRIGGER_BUF_SIZE];
    loop {
        match nix::unistd::read(fd, &mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Some(buf);
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return None,
        }
    }
}

/// The trigger waiting at `source`, if any: the bytes of a fifo, or what
/// an accepted client wrote.
fn take_trigger(source: &Source) -> Option<Vec<u8>> {
    match source {
        Source::Fifo(f) => read_trigger(f),
        Source::Socket(l, t) => accept_client(l, *t).and_then(|(conn, _)| read_client(&conn, *t)),
    }
}

/// What a client wrote: at once when it is there (a waker writes as soon
/// as it is connected, so it usually is: no wait is asked for then), else
/// after a wait of at most 10 s (a client that connects and says nothing
/// is not waited for long).  A passed descriptor may be a pipe, which
/// takes no socket flags: it is always waited for.
fn read_client(conn: &OwnedFd, transport: Transport) -> Option<Vec<u8>> {
    use nix::sys::socket::{MsgFlags, recv};
    use std::os::fd::AsRawFd;
    if transport != Transport::Pass {
        let mut buf = vec![0u8; TRIGGER_BUF_SIZE];
        loop {
            match recv(conn.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
                Ok(n) => {
                    buf.truncate(n);
                    return Some(buf);
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::EAGAIN) => break,
                Err(_) => return None,
            }
        }
    }
    readable_within(conn, Duration::from_secs(10))
        .then(|| read_trigger(conn))
        .flatten()
}

/// One trigger: a flow token (or the `in_flow_delay` wait), the handler.
fn handle<S>(
    st: &mut Started<S>,
    state: &mut S,
    service: &mut dyn FnMut(&mut S, &[u8], &mut Ctx),
    trigger: &[u8],
) {
    st.flow_token_or_wait();
    service(state, trigger, &mut st.ctx);
}

fn readable_within(fd: &OwnedFd, limit: Duration) -> bool {
    let ms = PollTimeout::try_from(limit.as_millis() as i32).unwrap_or(PollTimeout::MAX);
    matches!(poll(&mut [PollFd::new(fd.as_fd(), PollFlags::POLLIN)], ms), Ok(n) if n > 0)
}

fn serve<S>(
    mut st: Started<S>,
    state: &mut S,
    service: &mut dyn FnMut(&mut S, &[u8], &mut Ctx),
) -> ! {
    if st.stand_alone {
        let stdin = std::io::stdin();
        let Some(buf) = read_trigger(&stdin).filter(|b| !b.is_empty()) else {
            msg_fatal!("read: {}", std::io::Error::last_os_error());
        };
        service(state, &buf, &mut st.ctx);
        st.exit_normally(state, "stand-alone trigger done -- exiting");
    }
    let transport = if st.transport.eq_ignore_ascii_case("fifo") {
        None
    } else {
        Some(Transport::from_name(&st.transport))
    };
    let sources: Vec<Source> = std::mem::take(&mut st.listen)
        .into_iter()
        .map(|fd| match transport {
            None => {
                // Non-blocking (the master opened it so): of several
                // processes woken, those that find it emptied go back to
                // waiting.
                crate::server::stream_accept::set_non_blocking(&fd);
                Source::Fifo(fd)
            }
            Some(t) => Source::Socket(Listener::new(fd, t), t),
        })
        .collect();
    let mut use_count: i64 = 0;
    let mut idle_since = Instant::now();
    let max_use = i64::from(st.ctx.max_use);
    while max_use == 0 || use_count < max_use {
        // The pool lock: one process of the pool waits for the next
        // trigger (a process that found none waiting kept it).
        st.lock_and_arm();
        let wait = st.wait_time(state, Some(idle_since));
        let fds: Vec<_> = sources.iter().map(|s| s.as_fd()).collect();
        let Some(ready) = st.wait_ready(state, &fds, wait) else {
            continue;
        };
        let Some(i) = ready.iter().position(|r| *r) else {
            continue;
        };
        if crate::util::msg::verbose() > 0 {
            msg_info!("trigger arrived");
        }
        if let Some(f) = st.hooks.pre_accept.as_mut() {
            f(state, &mut st.ctx);
        }
        // Take the trigger, then let the next process of the pool wait.
        let trigger = take_trigger(&sources[i]);
        st.unlock();
        let Some(trigger) = trigger else {
            continue;
        };
        // Alone (-l, as pickup and qmgr run), only the first trigger is
        // reported: see `Started::quiet`.
        let quiet = st.quiet();
        if !quiet {
            let _ = st.notify(MASTER_STAT_TAKEN);
        }
        handle(&mut st, state, service, &trigger);
        use_count = use_count.saturating_add(1);
        // More triggers waiting (a burst of wake-ups, or several wakers
        // at once): taken in the same busy spell.
        let taken = st.take_waiting(
            state,
            mail_server::room(max_use, use_count),
            || sources.iter().find_map(take_trigger),
            |st, state, trigger| handle(st, state, service, &trigger),
        );
        use_count = use_count.saturating_add(taken as i64);
        if !quiet && st.report_avail().is_err() {
            st.exit_normally(state, "master disconnect -- exiting");
        }
        idle_since = Instant::now();
    }
    st.release_held_lock();
    st.exit_normally(state, "use limit -- exiting")
}
