//! The master daemon, in the files Postfix has for the same jobs: `master`
//! (start-up and the event loop), `master_conf` (main.cf, master.cf,
//! reload), `master_ent` (master.cf's syntax), `master_service` (a
//! service and its state), `master_listen` (endpoints), `master_avail`
//! (when to listen), `master_spawn` (spawn, reap, throttle) with
//! `spawn_fds` (descriptors in the child), `master_status` (the status
//! channel), `master_wakeup` (wakeup timers), `master_events` (the epoll set), `master_sig` (signals, stop),
//! `master_inet` (inet services' addresses), `master_queue` (queue directories, the pid lock) and `master_control`
//! (postkit's control socket and status report), `master_handover`
//! (restart and upgrade in place, sockets and children kept),
//! `master_systemd` (Type=notify and socket activation), `master_metrics`
//! (`status --json` and `--prometheus`).

// As Postfix's src/master/master.c: the daemon itself.
#[allow(clippy::module_inception)]
pub mod master;
pub mod master_avail;
pub mod master_conf;
pub mod master_control;
pub mod master_counters;
pub mod master_ent;
pub mod master_events;
pub mod master_exec;
pub mod master_handover;
pub mod master_inet;
pub mod master_listen;
pub mod master_loop;
pub mod master_metrics;
pub mod master_queue;
pub mod master_service;
pub mod master_sig;
pub mod master_spawn;
pub mod master_status;
pub mod master_stop;
pub mod master_systemd;
pub mod master_upgrade;
pub mod master_vars;
pub mod master_wakeup;
pub mod service;
pub mod service_table;
pub mod spawn_fds;
