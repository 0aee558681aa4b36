//! The one-client-at-a-time skeleton (Postfix's `single_server`), as
//! smtpd and local run: a process waits for a client under the pool lock
//! (unless it runs alone, `-l`), tells the master TAKEN, runs the handler
//! for the whole connection, closes it and tells the master AVAIL.
//! `max_use` counts connections; `max_idle` is the wait for the next one.
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

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::server::client::Client;
use crate::server::mail_flow::mail_flow_get;
use crate::server::mail_server::{self, Ctx, Family, Server, Started, WatchdogDefault};
use crate::server::master_proto::{MASTER_STAT_AVAIL, MASTER_STAT_TAKEN, master_notify};
use crate::server::multi_server::exit_normally;
use crate::server::stream_accept::{Listener, Transport, accept_client};
use crate::util::myflock::{LockOp, myflock};
use crate::{msg_fatal, msg_info};

/// The single-client skeleton as a [`Family`] member.
pub struct Single;

impl Family for Single {
    const NAME: &'static str = "single_server";
    const GETOPT: &'static str = "cdDi:lm:n:o:s:St:uvVz";
    const TRANSPORTS: &'static [&'static str] = &["inet", "unix", "pass"];
    const POOL_LOCK: bool = true;
    const WATCHDOG: WatchdogDefault = WatchdogDefault::DaemonTimeout;
}

/// A single-client service under construction.
pub type SingleServer<S> = Server<S, Single>;

impl<S: 'static> Server<S, Single> {
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

fn serve<S>(
    mut st: Started<S>,
    state: &mut S,
    service: &mut dyn FnMut(&mut S, &mut Client, &mut Ctx),
) -> ! {
    let ipc_timeout = Duration::from_secs(st.ctx.params.ipc_timeout.max(1) as u64);
    if st.stand_alone {
        let stdin = std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .unwrap_or_else(|e| msg_fatal!("dup stdin: {e}"));
        let mut client = Client::new(stdin, ipc_timeout, None);
        client.write_to_stdout();
        service(state, &mut client, &mut st.ctx);
        exit_normally(&mut st, state, "stand-alone client done -- exiting");
    }
    let transport = Transport::from_name(&st.transport);
    let listeners: Vec<Listener> = std::mem::take(&mut st.listen)
        .into_iter()
        .map(|fd| Listener::new(fd, transport))
        .collect();
    let pid = std::process::id() as i32;
    let mut use_count: i64 = 0;
    let mut idle_since = Instant::now();
    let max_use = i64::from(st.ctx.max_use);
    while max_use == 0 || use_count < max_use {
        // The pool lock: one process of the pool waits for the next
        // client (without the watchdog: the wait may be long).
        if let Some(lock) = &st.lock {
            if st.watchdog {
                crate::util::watchdog::stop();
            }
            if let Err(e) = myflock(lock, LockOp::Exclusive, true) {
                msg_fatal!("select lock: {}", crate::util::nix_text(e));
            }
        }
        if st.watchdog {
            crate::util::watchdog::start();
        }
        let mut wait = st
            .hooks
            .loop_hook
            .as_mut()
            .and_then(|f| f(state, &mut st.ctx));
        if st.ctx.max_idle > 0 {
            let left =
                Duration::from_secs(st.ctx.max_idle as u64).saturating_sub(idle_since.elapsed());
            if left.is_zero() {
                exit_normally(&mut st, state, "idle timeout -- exiting");
            }
            wait = Some(wait.map_or(left, |w| w.min(left)));
        }
        let mut pfds = vec![PollFd::new(st.status_fd.as_fd(), PollFlags::POLLIN)];
        pfds.extend(
            listeners
                .iter()
                .map(|l| PollFd::new(l.as_fd(), PollFlags::POLLIN)),
        );
        let timeout = wait.map_or(PollTimeout::NONE, |w| {
            PollTimeout::try_from(w.as_millis().clamp(1, i32::MAX as u128) as i32)
                .unwrap_or(PollTimeout::MAX)
        });
        let polled = poll(&mut pfds, timeout);
        let ready: Vec<bool> = pfds
            .iter()
            .map(|p| p.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(pfds);
        match polled {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => msg_fatal!("poll: {}", crate::util::nix_text(e)),
        }
        if ready[0] {
            exit_normally(&mut st, state, "master disconnect -- exiting");
        }
        let Some(i) = ready[1..].iter().position(|r| *r) else {
            continue;
        };
        if let Some(f) = st.hooks.pre_accept.as_mut() {
            f(state, &mut st.ctx);
        }
        let accepted = accept_client(&listeners[i], transport);
        if let Some(lock) = &st.lock
            && let Err(e) = myflock(lock, LockOp::Unlock, false)
        {
            msg_fatal!("select unlock: {}", crate::util::nix_text(e));
        }
        let Some((fd, attrs)) = accepted else {
            continue;
        };
        if crate::util::msg::verbose() > 0 {
            msg_info!("connection established");
        }
        let mut client = Client::new(fd, ipc_timeout, attrs);
        let _ = master_notify(&st.status_fd, pid, st.generation, MASTER_STAT_TAKEN);
        if st.in_flow_delay
            && let Some((r, w)) = &st.flow
            && mail_flow_get(r, w, 1).is_err()
        {
            std::thread::sleep(Duration::from_secs(
                st.ctx.params.in_flow_delay.max(0) as u64
            ));
        }
        service(state, &mut client, &mut st.ctx);
        drop(client);
        if master_notify(&st.status_fd, pid, st.generation, MASTER_STAT_AVAIL).is_err() {
            exit_normally(&mut st, state, "master disconnect -- exiting");
        }
        if crate::util::msg::verbose() > 0 {
            msg_info!("connection closed");
        }
        use_count = use_count.saturating_add(1);
        idle_since = Instant::now();
    }
    exit_normally(&mut st, state, "use limit -- exiting")
}
