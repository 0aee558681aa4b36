//! The one-client-at-a-time skeleton (Postfix's `single_server`), as
//! smtpd and local run: a process waits for a client under the pool lock
//! (unless it runs alone, `-l`), tells the master TAKEN, runs the handler
//! for the whole connection, closes it and tells the master AVAIL.
//! `max_use` counts connections; `max_idle` is the wait for the next one.
//! A process that finds clients waiting when it is done with one takes the
//! next at once (under the pool lock, taken without waiting), reporting
//! one TAKEN and one AVAIL for the run; `pre_accept` runs before every
//! accept, including a look that finds no client waiting.
//! Services `unix`, `inet` and `pass` (the descriptor and its attributes
//! passed as postscreen passes them); `-S` serves standard input and output
//! without a master.
//!
//! ```no_run
//! use std::io::Write;
//! use postkit::server::single_server::SingleServer;
//!
//! fn main() {
//!     // An echo of the first line.
//!     SingleServer::new(()).run(|_, client, _ctx| {
//!         if let Ok(Some(line)) = client.read_line() {
//!             let _ = writeln!(client, "{line}");
//!         }
//!     })
//! }
//! ```

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use crate::msg_info;
use crate::server::client::Client;
use crate::server::mail_server::{self, Ctx, Family, Server, ServerOpt, Started, WatchdogDefault};
use crate::server::master_proto::MASTER_STAT_TAKEN;
use crate::server::stream_accept::{Listener, Transport, accept_client};

/// The single-client skeleton as a [`Family`] member.
pub struct Single;

impl Family for Single {
    const NAME: &'static str = "single_server";
    const GETOPT: &'static str = "cdDi:lm:n:o:r:s:St:uvVz";
    const TRANSPORTS: &'static [&'static str] = &["inet", "unix", "pass"];
    const POOL_LOCK: bool = true;
    const WATCHDOG: WatchdogDefault = WatchdogDefault::DaemonTimeout;
}

/// A single-client service under construction.
pub type SingleServer<S> = Server<S, Single>;

impl<S: 'static> Server<S, Single> {
    /// Prevents a process from being used for ever (Postfix's
    /// MAIL_SERVER_RETIRE_ME): after `-r` seconds, else `max_use` x
    /// `max_idle` seconds, else (either unlimited, or their product over
    /// five hours) five hours, the process exits when it next waits for a
    /// client.
    pub fn retire_me(self) -> Self {
        self.with(ServerOpt::RetireMe)
    }

    /// Runs the service with this process's arguments.  Never returns.
    pub fn run(self, service: impl FnMut(&mut S, &mut Client, &mut Ctx) + 'static) -> ! {
        let args: Vec<String> = std::env::args().collect();
        self.run_with_args(&args, service)
    }

    /// Runs the service with `args` (program name first).  Never returns.
    pub fn run_with_args(
        mut self,
        args: &[String],
        mut service: impl FnMut(&mut S, &mut Client, &mut Ctx) + 'static,
    ) -> ! {
        let started =
            mail_server::start::<S, Single>(&mut self.state, std::mem::take(&mut self.opts), args);
        let mut state = self.state;
        serve(started, &mut state, &mut service)
    }
}

/// One client: a flow token (or the `in_flow_delay` wait), the handler for
/// the whole connection, the close.
fn serve_one<S>(
    st: &mut Started<S>,
    state: &mut S,
    service: &mut dyn FnMut(&mut S, &mut Client, &mut Ctx),
    fd: std::os::fd::OwnedFd,
    attrs: Option<crate::util::attr::Attrs>,
    ipc_timeout: Duration,
) {
    if crate::util::msg::verbose() > 0 {
        msg_info!("connection established");
    }
    let mut client = Client::new(fd, ipc_timeout, attrs);
    st.flow_token_or_wait();
    service(state, &mut client, &mut st.ctx);
    drop(client);
    if crate::util::msg::verbose() > 0 {
        msg_info!("connection closed");
    }
}

fn serve<S>(
    mut st: Started<S>,
    state: &mut S,
    service: &mut dyn FnMut(&mut S, &mut Client, &mut Ctx),
) -> ! {
    let ipc_timeout = Duration::from_secs(st.ctx.params.ipc_timeout.max(1) as u64);
    if st.stand_alone {
        crate::server::multi_server::stand_alone(&mut st, state, service, ipc_timeout);
    }
    let transport = Transport::from_name(&st.transport);
    let listeners: Vec<Listener> = std::mem::take(&mut st.listen)
        .into_iter()
        .map(|fd| Listener::new(fd, transport))
        .collect();
    let mut use_count: i64 = 0;
    let mut idle_since = Instant::now();
    let max_use = i64::from(st.ctx.max_use);
    while max_use == 0 || use_count < max_use {
        // The pool lock: one process of the pool waits for the next
        // client (a process that found no client waiting kept it).
        st.lock_and_arm();
        let wait = st.wait_time(state, Some(idle_since));
        let fds: Vec<_> = listeners.iter().map(|l| l.as_fd()).collect();
        let Some(ready) = st.wait_ready(state, &fds, wait) else {
            continue;
        };
        let Some(i) = ready.iter().position(|r| *r) else {
            continue;
        };
        if let Some(f) = st.hooks.pre_accept.as_mut() {
            f(state, &mut st.ctx);
        }
        let accepted = accept_client(&listeners[i], transport);
        st.unlock();
        let Some((fd, attrs)) = accepted else {
            continue;
        };
        let _ = st.notify(MASTER_STAT_TAKEN);
        serve_one(&mut st, state, service, fd, attrs, ipc_timeout);
        use_count = use_count.saturating_add(1);
        // More clients waiting: taken in the same busy spell.
        let taken = st.take_waiting(
            state,
            mail_server::room(max_use, use_count),
            || listeners.iter().find_map(|l| accept_client(l, transport)),
            |st, state, (fd, attrs)| serve_one(st, state, service, fd, attrs, ipc_timeout),
        );
        use_count = use_count.saturating_add(taken as i64);
        if st.report_avail().is_err() {
            st.exit_normally(state, "master disconnect -- exiting");
        }
        idle_since = Instant::now();
    }
    st.release_held_lock();
    st.exit_normally(state, "use limit -- exiting")
}
