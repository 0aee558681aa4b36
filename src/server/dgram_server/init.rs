//! The datagram skeleton's start-up: the family's (`mail_server::start`,
//! Postfix's numbered steps), then the batch size and the datagram
//! sockets.

use std::os::unix::net::UnixDatagram;

use crate::server::mail_server::{self, ServerOpt, Started};

use super::event_loop::Running;
use super::{BATCH_LIMIT, Dgram};
use crate::global::mail_conf_types::ParamType;

fn fatal(e: impl std::fmt::Display) -> ! {
    crate::util::msg::fatal(e)
}

/// Starts the service described by `server_opts` with `args` (program
/// name first): the family's start-up, then what only this skeleton has
/// (the batch size, datagram sockets).
pub(super) fn start<S>(
    state: &mut S,
    server_opts: Vec<ServerOpt<S>>,
    args: &[String],
) -> Running<S> {
    let credentials = server_opts
        .iter()
        .any(|o| matches!(o, ServerOpt::PassCredentials));
    let Started {
        mut ctx,
        hooks,
        opts,
        status_fd,
        flow,
        listen,
        lock,
        generation,
        in_flow_delay,
        watchdog,
        ..
    } = mail_server::start::<S, Dgram>(state, server_opts, args);
    // postkit's own: how many queued datagrams one system call takes.
    // Unless main.cf or -o says otherwise, a process that runs alone
    // (-l) takes up to 64; a member of a pool takes one at a time, so
    // that slow requests spread over the pool as in Postfix.
    let explicit = ctx.conf.lookup(BATCH_LIMIT.0).is_some();
    let batch_limit = BATCH_LIMIT
        .1
        .read(&mut ctx.conf, BATCH_LIMIT.0)
        .unwrap_or_else(|e| fatal(e)) as usize;
    let batch_limit = if explicit || opts.alone {
        batch_limit
    } else {
        1
    };

    let sockets: Vec<UnixDatagram> = listen.into_iter().map(UnixDatagram::from).collect();
    if credentials {
        for sock in &sockets {
            nix::sys::socket::setsockopt(sock, nix::sys::socket::sockopt::PassCred, &true)
                .unwrap_or_else(|e| {
                    crate::msg_fatal!("setsockopt SO_PASSCRED: {}", crate::util::nix_text(e))
                });
        }
    }
    Running {
        ctx,
        hooks,
        status_fd,
        flow,
        sockets,
        lock,
        generation,
        in_flow_delay,
        watchdog,
        pid: std::process::id() as i32,
        batch_limit,
        credentials,
        handled: 0,
        empty_wakeups: 0,
        last_stats: None,
        stats_reported: 0,
        phase: Default::default(),
        holds_lock: false,
    }
}
