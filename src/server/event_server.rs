//! The event-driven skeleton (Postfix's `event_server`), as tlsproxy and
//! postscreen's helpers run: clients outlive a request.  The service hears
//! of each new client once (`connect`, between a TAKEN and an AVAIL
//! report), keeps the connection as long as it likes, and hears again
//! whenever the client has something to say or has closed (`input`); it
//! ends a connection with [`Client::disconnect`].  Many clients per
//! process in one event loop (no threads); the pool lock (unless `-l`)
//! around taking a new client; `max_use` counts clients, `max_idle` runs
//! while none is connected.  Services `unix`, `inet` and `pass`.
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
    const GETOPT: &'static str = "cdDi:lm:n:o:s:St:uvVz";
    const TRANSPORTS: &'static [&'static str] = &["inet", "unix", "pass"];
    const POOL_LOCK: bool = true;
    const WATCHDOG: WatchdogDefault = WatchdogDefault::DaemonTimeout;
}

/// An event-driven service under construction.
pub type EventServer<S> = Server<S, Event>;

impl<S: 'static> Server<S, Event> {
    /// Runs before a client is disconnected (Postfix's
    /// MAIL_SERVER_PRE_DISCONN).
    pub fn pre_disconnect(self, f: impl FnMut(&mut S, &mut Ctx) + 'static) -> Self {
        self.with(ServerOpt::PreDisconnect(Box::new(f)))
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
