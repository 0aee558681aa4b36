//! The multi-client skeleton (Postfix's `multi_server`): one process
//! serves many clients at once in one event loop (no threads), as
//! trivial-rewrite and proxymap do.  The handler runs once per request:
//! when a client has something to say, the master hears TAKEN, the
//! handler reads the request and answers, the master hears AVAIL.  A client
//! that closes, or that the handler ends with [`Client::disconnect`], is
//! disconnected (the `pre_disconnect` hook first); `max_use` counts
//! clients, and `max_idle` runs only while no client is connected.
//! Services `unix`, `inet` and `pass`; `-S` serves one client on standard
//! input and output, without a master.
//!
//! ```no_run
//! use postkit::server::multi_server::MultiServer;
//!
//! fn main() {
//!     // SMTPD_POLICY_README's protocol: attributes in, an action out.
//!     MultiServer::new(())
//!         .run(|_, client, _ctx| match client.read_attrs_plain() {
//!             Ok(_request) => {
//!                 let _ = client.write_attrs_plain(&[("action", "DUNNO")]);
//!             }
//!             Err(_) => client.disconnect(),
//!         })
//! }
//! ```

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::server::client::Client;
use crate::server::mail_flow::mail_flow_get;
use crate::server::mail_server::{self, Ctx, Family, Server, ServerOpt, Started, WatchdogDefault};
use crate::server::master_proto::MASTER_STAT_TAKEN;
use crate::server::stream_accept::{Listener, Transport, accept_client};
use crate::util::msg;
use crate::{msg_info, msg_warn};

/// The multi-client skeleton as a [`Family`] member.
pub struct Multi;

impl Family for Multi {
    const NAME: &'static str = "multi_server";
    const GETOPT: &'static str = "cdDi:lm:n:o:s:St:uvVz";
    const TRANSPORTS: &'static [&'static str] = &["inet", "unix", "pass"];
    // Postfix's multi_server takes no pool lock: its processes watch
    // their clients as well as the listening socket.
    const POOL_LOCK: bool = false;
    const WATCHDOG: WatchdogDefault = WatchdogDefault::DaemonTimeout;
    const DRAINS: bool = true;
}

/// A multi-client service under construction.
pub type MultiServer<S> = Server<S, Multi>;

/// The request handler: one request of one client.
pub type Handler<'a, S> = dyn FnMut(&mut S, &mut Client, &mut Ctx) + 'a;

impl<S: 'static> Server<S, Multi> {
    /// Runs before a client is disconnected (Postfix's
    /// MAIL_SERVER_PRE_DISCONN).
    pub fn pre_disconnect(self, f: impl FnMut(&mut S, &mut Ctx) + 'static) -> Self {
        self.with(ServerOpt::PreDisconnect(Box::new(f)))
    }

    /// Runs after each new client is connected, before its first request
    /// (Postfix's MAIL_SERVER_POST_ACCEPT): the attributes a `pass`
    /// service receives with a client are [`Client::pass_attrs`].  Without
    /// this hook such attributes are logged as ignored, as in Postfix.
    pub fn post_accept(self, f: impl FnMut(&mut S, &mut Client, &mut Ctx) + 'static) -> Self {
        self.with(ServerOpt::PostAccept(Box::new(f)))
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
            mail_server::start::<S, Multi>(&mut self.state, std::mem::take(&mut self.opts), args);
        let mut state = self.state;
        serve_clients(started, &mut state, Handlers::PerRequest(&mut service))
    }
}

/// What the loop calls, by skeleton.
pub(crate) enum Handlers<'a, S> {
    /// multi_server: the handler per request, with TAKEN and AVAIL.
    PerRequest(&'a mut Handler<'a, S>),
    /// event_server: `connect` once per client (with TAKEN and AVAIL),
    /// then `input` whenever it has something to say, until the service
    /// ends the connection.
    PerClient {
        connect: &'a mut Handler<'a, S>,
        input: &'a mut Handler<'a, S>,
    },
}

/// A connected client and when its first request may be read (a flow
/// token was missing: `in_flow_delay`).
struct Connected {
    client: Client,
    read_from: Instant,
}

/// The loop of the stream skeletons that keep clients: accept, serve
/// requests, disconnect; exit on the limits or when the master goes.
pub(crate) fn serve_clients<S>(mut st: Started<S>, state: &mut S, mut h: Handlers<'_, S>) -> ! {
    let ipc_timeout = Duration::from_secs(st.ctx.params.ipc_timeout.max(1) as u64);
    if st.stand_alone {
        let first = match &mut h {
            Handlers::PerRequest(f) => &mut **f,
            Handlers::PerClient { connect, .. } => &mut **connect,
        };
        stand_alone(&mut st, state, first, ipc_timeout);
    }
    let transport = Transport::from_name(&st.transport);
    let mut listeners: Vec<Listener> = std::mem::take(&mut st.listen)
        .into_iter()
        .map(|fd| Listener::new(fd, transport))
        .collect();
    let mut clients: Vec<Connected> = Vec::new();
    let mut use_count: i64 = 0;
    let mut idle_since = Instant::now();
    let mut max_use = i64::from(st.ctx.max_use);
    while max_use == 0 || use_count < max_use || !clients.is_empty() {
        st.lock_and_arm();
        let idle = clients.is_empty().then_some(idle_since);
        let mut wait = st.wait_time(state, idle);
        if st.ctx.drain_requested {
            // A drain whose fork failed is tried again within a second.
            let retry = Duration::from_secs(1);
            wait = Some(wait.map_or(retry, |w| w.min(retry)));
        }
        let now = Instant::now();
        if let Some(first) = clients
            .iter()
            .map(|c| c.read_from)
            .filter(|t| *t > now)
            .min()
        {
            let left = first - now;
            wait = Some(wait.map_or(left, |w| w.min(left)));
        }
        // Descriptors: the status channel, the listening sockets (only
        // while more clients may come), the clients ready to be read.
        let accepting = max_use == 0 || use_count + (clients.len() as i64) < max_use;
        let n_listen = if accepting { listeners.len() } else { 0 };
        let readable_clients: Vec<usize> = (0..clients.len())
            .filter(|i| clients[*i].read_from <= now)
            .collect();
        let fds: Vec<_> = listeners[..n_listen]
            .iter()
            .map(|l| l.as_fd())
            .chain(readable_clients.iter().map(|i| clients[*i].client.as_fd()))
            .collect();
        let Some(ready) = st.wait_ready(state, &fds, wait) else {
            continue;
        };
        drop(fds);
        let listen_ready: Vec<bool> = ready[..n_listen].to_vec();
        let client_ready: Vec<usize> = ready[n_listen..]
            .iter()
            .zip(&readable_clients)
            .filter(|(r, _)| **r)
            .map(|(_, i)| *i)
            .collect();
        // Busy for the requests and new clients of this wake-up: one
        // TAKEN before the first, one AVAIL after the last (none after the
        // first when the process runs alone: see `Started::quiet`).
        let quiet = st.quiet();
        let mut taken = false;
        let busy = |st: &mut Started<S>, taken: &mut bool| {
            if !*taken && !quiet {
                let _ = st.notify(MASTER_STAT_TAKEN);
                *taken = true;
            }
        };
        // Requests first, from the last client back (removal keeps the
        // indexes of those before it).
        for &i in client_ready.iter().rev() {
            if clients[i].client.readable_input() || matches!(h, Handlers::PerClient { .. }) {
                match &mut h {
                    Handlers::PerRequest(service) => {
                        busy(&mut st, &mut taken);
                        service(state, &mut clients[i].client, &mut st.ctx);
                    }
                    // The service is told of end of input too: it ends
                    // the connection itself, as Postfix's event_server
                    // services do.
                    Handlers::PerClient { input, .. } => {
                        let eof = !clients[i].client.readable_input();
                        input(state, &mut clients[i].client, &mut st.ctx);
                        // A closed client the service kept is let go all
                        // the same (it would wake the loop forever).
                        if eof {
                            clients[i].client.disconnect();
                        }
                    }
                }
                if !clients[i].client.wants_disconnect() {
                    continue;
                }
            }
            disconnect(&mut st, state, clients.remove(i));
            use_count = use_count.saturating_add(1);
            if clients.is_empty() {
                idle_since = Instant::now();
            }
        }
        for (l, _) in listeners.iter().zip(listen_ready).filter(|(_, r)| *r) {
            if let Some(f) = st.hooks.pre_accept.as_mut() {
                f(state, &mut st.ctx);
            }
            let accepted = accept_client(l, transport);
            st.unlock();
            let Some((fd, attrs)) = accepted else {
                continue;
            };
            let mut c = connect(&st, fd, attrs, ipc_timeout);
            match &mut h {
                Handlers::PerClient { connect, .. } => {
                    busy(&mut st, &mut taken);
                    connect(state, &mut c.client, &mut st.ctx);
                }
                Handlers::PerRequest(_) => match st.hooks.post_accept.as_mut() {
                    Some(f) => f(state, &mut c.client, &mut st.ctx),
                    None if c.client.pass_attrs().is_some() => {
                        msg_warn!("service ignores 'pass' connection attributes")
                    }
                    None => {}
                },
            }
            if c.client.wants_disconnect() {
                disconnect(&mut st, state, c);
                use_count = use_count.saturating_add(1);
                continue;
            }
            clients.push(c);
        }
        if taken && st.report_avail().is_err() {
            st.master_gone(state);
        }
        // A drain asked for by a hook or handler of this turn: no more
        // new clients; the loop ends with the last one (Postfix sets the
        // use limit to 1).
        if st.drain_if_asked() {
            listeners.clear();
            max_use = 1;
        }
    }
    st.exit_normally(state, "use limit -- exiting")
}

/// A new client: its first request waits `in_flow_delay` when the service
/// takes flow tokens and none is there.
fn connect<S>(
    st: &Started<S>,
    fd: OwnedFd,
    attrs: Option<crate::util::attr::Attrs>,
    ipc_timeout: Duration,
) -> Connected {
    let client = Client::new(fd, ipc_timeout, attrs);
    if msg::verbose() > 0 {
        msg_info!("connection established fd {}", client.raw_fd());
    }
    let mut read_from = Instant::now();
    if st.in_flow_delay
        && let Some((r, w)) = &st.flow
        && mail_flow_get(r, w, 1).is_err()
    {
        read_from += Duration::from_secs(st.ctx.params.in_flow_delay.max(0) as u64);
    }
    Connected { client, read_from }
}

fn disconnect<S>(st: &mut Started<S>, state: &mut S, c: Connected) {
    if msg::verbose() > 0 {
        msg_info!("connection closed fd {}", c.client.raw_fd());
    }
    if let Some(f) = st.hooks.pre_disconnect.as_mut() {
        f(state, &mut st.ctx);
    }
    drop(c);
}

/// `-S`: the one client is standard input and output (every stream
/// skeleton's).
pub(crate) fn stand_alone<S>(
    st: &mut Started<S>,
    state: &mut S,
    service: &mut Handler<'_, S>,
    ipc_timeout: Duration,
) -> ! {
    let stdin = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .unwrap_or_else(|e| crate::msg_fatal!("dup stdin: {e}"));
    let mut client = Client::new(stdin, ipc_timeout, None);
    client.write_to_stdout();
    service(state, &mut client, &mut st.ctx);
    st.exit_normally(state, "stand-alone client done -- exiting")
}
