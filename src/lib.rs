//! Write Postfix services in Rust, on Postfix's own process model.
//!
//! A service is a program Postfix's master (or postkit's) starts from a
//! master.cf line: it gets its listening socket, a status channel and the
//! flow pipe as descriptors, reads main.cf with its `-o` overrides, drops
//! privileges, reports busy and idle, and exits after `max_idle` or
//! `max_use`.  [`server::dgram_server`] does all of that for a datagram
//! service, with every option, hook and error text of Postfix's
//! `dgram_server`; the handler is all an author writes:
//!
//! ```no_run
//! use postkit::msg_info;
//! use postkit::server::dgram_server::DgramServer;
//!
//! struct Seen {
//!     count: u64,
//!     greeting: String,
//! }
//!
//! fn main() {
//!     DgramServer::new(Seen { count: 0, greeting: String::new() })
//!         // A parameter of its own: main.cf or `-o seen_greeting=...`.
//!         .str_param("seen_greeting", "hello", 0, 0, |s, v| s.greeting = v)
//!         .exit_hook(|s, _| msg_info!("{} datagrams seen", s.count))
//!         .run(|s, datagram, _ctx| {
//!             s.count += 1;
//!             msg_info!("{}: {}", s.greeting, String::from_utf8_lossy(datagram));
//!         })
//! }
//! ```
//!
//! Its master.cf line: `seen unix-dgram n - n - 1 seen` (the binary in
//! `daemon_directory`).  `examples/event_counter.rs` is a complete one, with
//! its recipe.  `postkit new-service --skeleton KIND NAME` writes a crate to
//! start from, for any skeleton.
//!
//! The stream skeletons take a handler per client ([`server::client::Client`]
//! reads lines and Postfix's attributes, and is `Read + Write`):
//!
//! ```no_run
//! use std::io::Write;
//! use postkit::server::single_server::SingleServer;
//!
//! // One client per process at a time, as smtpd: `7777 inet n - n - 4 echo`.
//! fn main() {
//!     SingleServer::new(()).run(|_, client, _ctx| {
//!         while let Ok(Some(line)) = client.read_line() {
//!             if writeln!(client, "echo: {line}").is_err() {
//!                 return;
//!             }
//!         }
//!     })
//! }
//! ```
//!
//! ```no_run
//! use std::io::Write;
//! use postkit::server::multi_server::MultiServer;
//!
//! // Many clients per process, one request per call, as a policy service
//! // (`policy unix - n n - 0 policy`): see examples/policy_service.rs.
//! fn main() {
//!     MultiServer::new(()).run(|_, client, _ctx| match client.read_attrs_plain() {
//!         Ok(_request) => {
//!             let _ = write!(client, "action=DUNNO\n\n");
//!         }
//!         Err(_) => client.disconnect(),
//!     })
//! }
//! ```
//!
//! ```no_run
//! use postkit::msg_info;
//! use postkit::server::trigger_server::TriggerServer;
//!
//! // Woken by the master's timer or a client, as pickup:
//! // `tick fifo - n n 60 1 tick`.
//! fn main() {
//!     TriggerServer::new(0u64).solitary().run(|woken, trigger, _ctx| {
//!         *woken += 1;
//!         msg_info!("wake-up {woken}: {trigger:?}");
//!     })
//! }
//! ```
//!
//! [`server::event_server`] is `multi_server` with a hook for each new
//! client (examples/line_count.rs).
//!
//! The surface:
//! - [`server`]: the skeletons ([`server::dgram_server`] for datagrams,
//!   [`server::single_server`] for one client at a time,
//!   [`server::multi_server`] for many clients per process,
//!   [`server::event_server`] for clients that outlive a request,
//!   [`server::trigger_server`] for wake-ups), what they
//!   share ([`server::mail_server`]: the builder, [`server::mail_server::Ctx`]),
//!   a stream client ([`server::client::Client`]), the master/child
//!   protocol ([`server::master_proto`]) and flow tokens
//!   ([`server::mail_flow`]);
//! - [`attr`]: Postfix's attribute protocol, plain and base64 (a policy
//!   service's requests and replies); [`trigger`]: waking a trigger
//!   service;
//! - [`params`]: typed main.cf parameters, as the skeleton's `*_param`
//!   methods read them;
//! - [`msg`] and the `msg_info!` … `msg_panic!` macros: Postfix's
//!   diagnostics, logged where the service's configuration says;
//! - [`tables`]: the lookup tables a service may be given (the delivery
//!   status filter of BOUNCE_INIT).
//!
//! Everything else is postkit's own program (its master, postlogd,
//! postconf, the control commands) and not an interface.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod server;

/// Typed main.cf parameters: what each kind reads, with Postfix's defaults,
/// limits and error texts.
pub mod params {
    pub use crate::global::config_error::ConfigError;
    pub use crate::global::mail_conf::MailConf;
    pub use crate::global::mail_conf_types::{
        BoolParam, IntParam, LongParam, NBoolParam, NIntParam, ParamType, StrParam, TimeParam,
    };
    pub use crate::global::mail_params::MailParams;
}

/// Postfix's diagnostics (`msg_info()` … `msg_panic()`): each message made
/// printable and logged as the service's configuration says (the postlog
/// socket, syslog, standard error under `-V`).  The macros `msg_info!`,
/// `msg_warn!`, `msg_error!`, `msg_fatal!` and `msg_panic!` format and call
/// these.
pub mod msg {
    pub use crate::util::msg::{Level, error, fatal, info, panic, verbose, warn};
}

/// Postfix's attribute protocol (attr_print/attr_scan): the plain form
/// (`name=value` lines, as the policy delegation protocol speaks it) and
/// the base64 form (Postfix's default; `pass` connection attributes).
pub mod attr {
    pub use crate::util::attr::{
        Attrs, MAX_LINE, ScanError, lines_of, print_plain, print64, scan_plain, scan64,
    };
}

/// Waking a trigger service as Postfix's clients do (fifo_trigger,
/// unix_trigger, pass_trigger): non-blocking, refusing a fifo or socket
/// that was swapped for a symbolic link.
pub mod trigger {
    pub use crate::util::trigger::{fifo_trigger, pass_trigger, unix_trigger};
}

/// Lookup tables a service may be given.
pub mod tables {
    pub use crate::global::dsn_filter::{Dsn, DsnFilter};
}

mod commands;
mod control;
mod daemons;
mod global;
mod master;
mod postconf;
mod postlog;
mod postlogd;
mod util;

/// postkit's own program: the master, postlogd, postconf, the control
/// commands and what they share.  Public only for postkit's executable,
/// tests, benchmark and fuzzers; not an interface, and it changes freely.
#[doc(hidden)]
pub mod internal {
    #![allow(missing_docs)]
    pub mod commands {
        pub use crate::commands::*;
    }
    pub mod control {
        pub use crate::control::*;
    }
    pub mod daemons {
        pub use crate::daemons::*;
    }
    pub mod global {
        pub use crate::global::*;
    }
    pub mod master {
        pub use crate::master::*;
    }
    pub mod postconf {
        pub use crate::postconf::*;
    }
    pub mod util {
        pub use crate::util::*;
    }
}
