//! The master daemon, in the files Postfix has for the same jobs, each one
//! concept; the files that name a type (the parts of the master's state)
//! import nothing that adds to `Master`, so nothing imports in a circle.
//!
//! - `master` (the options and the state), `master_monitor` (`-w`: waiting
//!   for the master to initialize), `master_start` (start-up, fresh
//!   or taken over), `master_loop` (the event loop and its timers),
//!   `master_stop` (stopping without losing what was accepted);
//! - `master_vars` (main.cf and master.cf as files, what services declare),
//!   `master_conf` (reading them into the running master, reload),
//!   `master_ent` (master.cf's syntax), `master_inet` (inet addresses);
//! - `service` (one service, Postfix's MASTER_SERV), `service_table` (the
//!   services under stable ids), `master_service` (adding and removing
//!   them), `master_listen` (endpoints), `master_avail` (when to listen;
//!   stress), `master_spawn` (spawn, reap, throttle) with `spawn_fds`
//!   (descriptors in the child), `master_status` (the status channel),
//!   `master_counters` (the counters children report);
//! - `master_wakeup` (wakeup timers), `master_events` (the epoll set),
//!   `master_sig` (signals), `master_queue` (queue directories, the pid
//!   lock), `master_control` (postkit's control socket) and
//!   `master_metrics` (what `status` shows, as text, JSON, Prometheus);
//! - `master_handover` (what a restart or upgrade in place hands over),
//!   `master_upgrade` (vetting the new program), `master_exec` (the exec),
//!   `master_systemd` (Type=notify and socket activation), and
//!   `fault_injection` (the faults the tests inject, in one place).

pub mod fault_injection;
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
pub mod master_monitor;
pub mod master_queue;
pub mod master_service;
pub mod master_sig;
pub mod master_spawn;
pub mod master_start;
pub mod master_status;
pub mod master_stop;
pub mod master_systemd;
pub mod master_upgrade;
pub mod master_vars;
pub mod master_wakeup;
pub mod service;
pub mod service_table;
pub mod spawn_fds;
