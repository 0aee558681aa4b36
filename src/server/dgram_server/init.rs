//! The skeleton's start-up, in Postfix's order (the numbered steps): read
//! main.cf and the options, choose where to log, process the service's
//! optional arguments, check transport and generation, take the pool lock,
//! drop privileges, claim the master's descriptors and arm the watchdog.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixDatagram;

use crate::global::mail_conf::{MailConf, config_dir_from_env};
use crate::global::mail_params::{mail_params_init, process_name};
use crate::global::maillog_client::{self, FallbackMode};
use crate::server::fds;
use crate::server::master_proto::{
    MASTER_FLOW_READ, MASTER_FLOW_WRITE, MASTER_GEN_NAME, MASTER_LISTEN_FD, MASTER_STATUS_FD,
    parse_generation,
};
use crate::util::msg;
use crate::{msg_fatal, msg_info, msg_panic};

use super::event_loop::{Hooks, Running};
use super::{BATCH_LIMIT, Ctx, DEFAULT_WATCHDOG, ServerOpt, parse_options};
use crate::global::mail_conf_types::ParamType;

fn fatal(e: impl std::fmt::Display) -> ! {
    msg::fatal(e)
}

/// Starts the service described by `server_opts` with `args` (program
/// name first): everything up to the first wait for a datagram.
pub(super) fn start<S>(
    state: &mut S,
    server_opts: Vec<ServerOpt<S>>,
    args: &[String],
) -> Running<S> {
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
    if std::env::var_os(MASTER_GEN_NAME).is_none() && !fds::is_open(MASTER_STATUS_FD) {
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
    let opts = parse_options(&args[1..]).unwrap_or_else(|err| {
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
    maillog_client::init(&tag, &params, fallback).unwrap_or_else(|e| fatal(e));

    // 7. A daemon is started by a master, not from a terminal.
    if opts.daemon_mode && nix::unistd::isatty(std::io::stdin()).unwrap_or(false) {
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
        params,
        conf,
    };
    let mut hooks = Hooks::default();
    let mut watchdog_timeout = DEFAULT_WATCHDOG;
    let mut in_flow_delay = false;
    for opt in server_opts {
        match opt {
            ServerOpt::Table(mut f) => f(&mut ctx.conf, state).unwrap_or_else(|e| fatal(e)),
            ServerOpt::PreInit(f) => hooks.pre_init = Some(f),
            ServerOpt::PostInit(f) => hooks.post_init = Some(f),
            ServerOpt::Loop(f) => hooks.loop_hook = Some(f),
            ServerOpt::Exit(f) => hooks.exit = Some(f),
            ServerOpt::PreAccept(f) => hooks.pre_accept = Some(f),
            ServerOpt::BatchEnd(f) => hooks.batch_end = Some(f),
            ServerOpt::Stats(f) => hooks.stats = Some(f),
            ServerOpt::InFlowDelay => in_flow_delay = true,
            ServerOpt::Solitary if !opts.alone => {
                msg_fatal!("service {service_name} requires a process limit of 1")
            }
            ServerOpt::Unlimited if !opts.zero_limit => {
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
            ServerOpt::LogWriter => {}
        }
    }

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

    // 9. Transport and generation.
    match opts.transport.as_deref() {
        None => msg_fatal!("no transport type specified"),
        Some(t) if !t.eq_ignore_ascii_case("unix-dgram") => {
            msg_fatal!("unsupported transport type: {t}")
        }
        _ => {}
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
    let lock = if opts.alone {
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
    // Load the time zone before a chroot hides /etc/localtime.
    let _ = chrono::Local::now();
    let root = opts.chroot.then(|| ctx.params.queue_directory.clone());
    let user = opts.unprivileged.then(|| ctx.params.mail_owner.clone());
    crate::util::chroot_uid::chroot_uid(root.as_deref(), user.as_deref())
        .unwrap_or_else(|e| fatal(e));
    if let Some(f) = hooks.post_init.as_mut() {
        f(state, &mut ctx);
    }

    // 12. The descriptors the master passed, and the watchdog.
    let status_fd = fds::inherited(MASTER_STATUS_FD)
        .unwrap_or_else(|| msg_fatal!("status descriptor {MASTER_STATUS_FD} is not open"));
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
    let sockets: Vec<UnixDatagram> = (0..opts.socket_count)
        .map(|i| {
            let fd = MASTER_LISTEN_FD + i as i32;
            let owned = fds::inherited(fd)
                .unwrap_or_else(|| msg_fatal!("listen descriptor {fd} is not open"));
            fds::close_on_exec(&owned);
            UnixDatagram::from(owned)
        })
        .collect();

    Running {
        ctx,
        hooks,
        status_fd,
        flow,
        sockets,
        lock,
        generation,
        in_flow_delay,
        watchdog: watchdog_timeout > 0,
        pid: std::process::id() as i32,
        batch_limit,
        handled: 0,
        empty_wakeups: 0,
        last_stats: None,
        stats_reported: 0,
        phase: Default::default(),
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
