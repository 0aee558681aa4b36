//! The event-driven skeleton (Postfix's `event_server`), as tlsproxy and
//! postscreen's helpers run: clients outlive a request.  The service hears
//! of each new client once (`connect`, between a TAKEN and an AVAIL
//! report), keeps the connection as long as it likes, and hears again
//! whenever the client has something to say or has closed (`input`); it
//! ends a connection with [`Client::disconnect`].  Many clients per
//! process in one event loop (no threads), and, as in Postfix, no pool
//! lock: a process waits for its clients and for new ones at once, so
//! the processes of a pool all watch the listening socket.  `max_use`
//! counts clients, `max_idle` runs while none is connected, the watchdog
//! is 1000 s unless the service names one.  A service may retire
//! (`retire_me`, `-r`) and exit slowly (`slow_exit`, with
//! [`Ctx::drain`]) as Postfix's tlsproxy does.  Services `unix`, `inet`
//! and `pass`.
//!
//! ```no_run
//! use std::io::Write;
//! use postkit::server::event_server::EventServer;
//!
//! fn main() {
//!     // A line counter that answers at each line and says goodbye at
//!     // end of input.
//!     EventServer::new(0u64).run(
//!         |_, client, _ctx| { let _ = writeln!(client, "ready"); },
//!         |lines, client, _ctx| match client.read_line() {
//!             Ok(Some(_)) => { *lines += 1; let _ = writeln!(client, "{lines}"); }
//!             _ => client.disconnect(),
//!         },
//!     )
//! }
//! ```

use crate::server::client::Client;
use crate::server::mail_server::{self, Ctx, Family, Server, ServerOpt, WatchdogDefault};
use crate::server::multi_server::{Handlers, serve_clients};

/// The event-driven skeleton as a [`Family`] member.
pub struct Event;

impl Family for Event {
    const NAME: &'static str = "event_server";
    const GETOPT: &'static str = "cdDi:lm:n:o:r:s:St:uvVz";
    const TRANSPORTS: &'static [&'static str] = &["inet", "unix", "pass"];
    // Postfix's event_server takes no pool lock (its processes watch
    // their clients as well as the listening socket: one holding the lock
    // while it waits for a client would stop the others).
    const POOL_LOCK: bool = false;
    const WATCHDOG: WatchdogDefault = WatchdogDefault::Seconds(1000);
    const DRAINS: bool = true;
}

/// An event-driven service under construction.
pub type EventServer<S> = Server<S, Event>;

impl<S: 'static> Server<S, Event> {
    /// Runs before a client is disconnected (Postfix's
    /// MAIL_SERVER_PRE_DISCONN).
    pub fn pre_disconnect(self, f: impl FnMut(&mut S, &mut Ctx) + 'static) -> Self {
        self.with(ServerOpt::PreDisconnect(Box::new(f)))
    }

    /// Called instead of exiting when the master goes away (`postfix
    /// reload`, a stop) or the process retires (Postfix's
    /// MAIL_SERVER_SLOW_EXIT): the hook usually calls [`Ctx::drain`] to
    /// finish its clients in the background.  Without a drain the process
    /// goes on as before, no longer watching the master.
    pub fn slow_exit(self, f: impl FnMut(&mut S, &mut Ctx) + 'static) -> Self {
        self.with(ServerOpt::SlowExit(Box::new(f)))
    }

    /// Prevents a process from being used for ever (Postfix's
    /// MAIL_SERVER_RETIRE_ME): after `-r` seconds, else `max_use` x
    /// `max_idle` seconds, else (either unlimited, or their product over
    /// five hours) five hours, the process makes its slow exit, or exits.
    pub fn retire_me(self) -> Self {
        self.with(ServerOpt::RetireMe)
    }

    /// Runs the service with this process's arguments: `connect` once per
    /// new client, `input` whenever a client has something to say (or has
    /// closed).  Never returns.
    pub fn run(
        self,
        connect: impl FnMut(&mut S, &mut Client, &mut Ctx) + 'static,
        input: impl FnMut(&mut S, &mut Client, &mut Ctx) + 'static,
    ) -> ! {
        let args: Vec<String> = std::env::args().collect();
        self.run_with_args(&args, connect, input)
    }

    /// The same with `args` (program name first).  Never returns.
    pub fn run_with_args(
        mut self,
        args: &[String],
        mut connect: impl FnMut(&mut S, &mut Client, &mut Ctx) + 'static,
        mut input: impl FnMut(&mut S, &mut Client, &mut Ctx) + 'static,
    ) -> ! {
        let started =
            mail_server::start::<S, Event>(&mut self.state, std::mem::take(&mut self.opts), args);
        let mut state = self.state;
        serve_clients(
            started,
            &mut state,
            Handlers::PerClient {
                connect: &mut connect,
                input: &mut input,
            },
        )
    }
}
