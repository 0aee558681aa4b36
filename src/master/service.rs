//! One master.cf service as the running master holds it (Postfix's
//! MASTER_SERV, with the event side of master_status): its entry, its
//! listening sockets, its status channel and child table, its counters,
//! its throttle, stress and wakeup state; and what it does with what its
//! children send (status records, stderr lines).  `service_table` holds
//! them; `master_service` adds and removes them.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::time::Instant;

use crate::server::dgram_server::STATS_PREFIX;
use crate::util::msg;
use crate::{msg_info, msg_warn};

use super::master_counters::Counters;
use super::master_ent::MasterEnt;
use super::master_listen::master_listen_init;
use super::master_status::{ProcTable, Update, read_status, status_channel};

/// Longest unfinished line kept from a child's stderr.
const STDERR_LINE_MAX: usize = 8192;

/// One service and its processes.
pub struct Service {
    /// Its master.cf entry.
    pub ent: MasterEnt,
    /// Its listening sockets (a child gets them from fd 6 on).
    pub listen: Vec<OwnedFd>,
    /// The master's end and the end every child gets as fd 5.
    pub status: Option<(OwnedFd, OwnedFd)>,
    /// Its children, busy or idle.
    pub procs: ProcTable,
    /// While throttled: until when.
    pub throttled_until: Option<Instant>,
    /// While under stress (see `master_avail`): until when.
    pub stress_until: Option<Instant>,
    /// When the process limit warning was last given.
    pub busy_warned: Option<Instant>,
    /// When the next wakeup request is due.
    pub next_wakeup: Option<Instant>,
    /// Children started.
    pub spawns: u64,
    /// Children that could not be started or ended abnormally.
    pub failures: u64,
    /// Times the service was throttled.
    pub throttles: u64,
    /// Children in a row that exited at once without taking any work.
    pub quick_exits: u32,
    /// The children's stderr: the master's read end (non-blocking) and the
    /// end every child gets as fd 2, so that a child's fatal text reaches
    /// the master even when the child cannot log.
    pub stderr: Option<(OwnedFd, OwnedFd)>,
    /// The start of a line a child is still writing on stderr.
    pub stderr_partial: Vec<u8>,
    /// The last fatal text a child wrote on stderr, not yet tied to a
    /// failure.
    pub captured: Option<String>,
    /// Why the last child failed, for `postkit status` and `start`.
    pub last_failure: Option<String>,
    /// The counters its children report (see STATS_PREFIX).
    pub counters: Counters,
    /// How long a child may stay stopped (SIGSTOP) before it is replaced:
    /// the service's watchdog time.
    pub watchdog: std::time::Duration,
    /// Whether its listening sockets are in the master's event set.
    pub listening: bool,
}

/// Why a service could not be added.
#[derive(Debug)]
pub enum ServiceError {
    /// Its endpoint could not be made (Postfix's text).
    Endpoint(String),
    /// No status channel (out of descriptors): nothing can run.
    Channel(String),
}

impl Service {
    /// A child's counters line: `pid=P name=value ...`.
    pub fn record_stats(&mut self, line: &str) {
        let procs = &self.procs;
        self.counters.record(line, |pid| procs.contains(pid));
    }

    /// Every counter, over the children that ran and run.
    pub fn stats(&self) -> BTreeMap<String, u64> {
        self.counters.totals()
    }

    /// A new service with its endpoint open; Postfix's warning text when
    /// the endpoint cannot be made.
    pub fn new(ent: MasterEnt, owner: Option<(u32, u32)>) -> Result<Service, ServiceError> {
        let listen = master_listen_init(&ent, owner).map_err(ServiceError::Endpoint)?;
        let mut s = Service::with_endpoint(ent, listen);
        s.new_status_channel().map_err(ServiceError::Channel)?;
        Ok(s)
    }

    /// A service over an endpoint that exists already (bound now, or
    /// handed over by the master this one replaced), without a status
    /// channel yet.
    pub fn with_endpoint(ent: MasterEnt, listen: Vec<OwnedFd>) -> Service {
        let mut s = Service {
            next_wakeup: None,
            stress_until: None,
            busy_warned: None,
            ent,
            listen,
            status: None,
            procs: ProcTable::default(),
            throttled_until: None,
            spawns: 0,
            failures: 0,
            throttles: 0,
            quick_exits: 0,
            stderr: nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .ok()
                .inspect(|(r, _)| {
                    let _ = nix::fcntl::fcntl(
                        r,
                        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
                    );
                }),
            stderr_partial: Vec::new(),
            captured: None,
            last_failure: None,
            counters: Counters::default(),
            watchdog: std::time::Duration::from_secs(
                crate::server::dgram_server::DEFAULT_WATCHDOG as u64,
            ),
            listening: false,
        };
        s.arm_wakeup();
        s
    }

    /// Its children, busy or idle.
    pub fn total_proc(&self) -> usize {
        self.procs.total()
    }

    /// A fresh status channel: children holding the old one see EOF.
    pub fn new_status_channel(&mut self) -> Result<(), String> {
        let (m, c) = status_channel().map_err(|e| format!("pipe: {}", crate::util::nix_text(e)))?;
        self.status = Some((m, c));
        Ok(())
    }

    /// An unconditional wakeup timer starts at once; a conditional one
    /// with the first child.
    pub fn arm_wakeup(&mut self) {
        self.next_wakeup =
            (self.ent.wakeup_time > 0 && !self.ent.wakeup_conditional).then(Instant::now);
    }

    /// Takes a new master.cf entry for the same endpoint (a reload): the
    /// old children see EOF on their status channel and exit, so the new
    /// configuration takes effect; the socket and what waits in it stay.
    pub fn replace_ent(&mut self, ent: MasterEnt) {
        self.ent = ent;
        self.arm_wakeup();
        let _ = self.new_status_channel();
        self.procs.retire_all();
        self.throttled_until = None;
        // A new entry starts without stress, as Postfix's does.
        self.stress_until = None;
        self.busy_warned = None;
    }
}

impl Service {
    /// What this service's children wrote on stderr (see
    /// `Master::stderr_event`); false when there was nothing to read.
    pub(super) fn stderr_event(
        &mut self,
        foreground: bool,
        params: &crate::global::mail_params::MailParams,
    ) -> bool {
        let s = self;
        let Some((r, _)) = &s.stderr else {
            return false;
        };
        let mut buf = [0u8; 8192];
        let n = match nix::unistd::read(r, &mut buf) {
            Ok(n) if n > 0 => n,
            _ => return false,
        };
        // Lines, whole: a line a read cut in two waits for its end (up to
        // a bound: a child that never ends its line cannot grow this).
        let mut data = std::mem::take(&mut s.stderr_partial);
        data.extend_from_slice(&buf[..n]);
        let end = data.iter().rposition(|b| *b == b'\n').map_or(0, |e| e + 1);
        if data.len() - end <= STDERR_LINE_MAX {
            s.stderr_partial = data[end..].to_vec();
        }
        let text = String::from_utf8_lossy(&data[..end]).into_owned();
        for line in text.lines() {
            if let Some(stats) = line.strip_prefix(STATS_PREFIX) {
                s.record_stats(stats);
                continue;
            }
            // A child's text reaches a terminal and `status` as postlogd
            // would log it: no escape sequence gets through.
            let line = &crate::util::printable::printable(line, '?');
            if foreground {
                eprintln!("{line}");
            }
            let Some(at) = line.find(": fatal: ").or_else(|| line.find(": panic: ")) else {
                continue;
            };
            let reason = line[at + 2..].to_string();
            s.captured = Some(reason.clone());
            if crate::daemons::find(&s.ent.command).is_some_and(|d| d.log_writer) {
                crate::global::maillog_client::append_direct(
                    params,
                    &format!(
                        "warning: service {}: {} failed: {reason}",
                        s.ent.ext_name, s.ent.command
                    ),
                );
            }
        }
        true
    }

    /// Reads the status records waiting from this service's children;
    /// how many there were.
    pub(super) fn status_event(&mut self) -> usize {
        let s = self;
        let Some((m, _)) = &s.status else {
            return 0;
        };
        let mut records = 0;
        // Postfix names the service by its master.cf name and its endpoint.
        let (ext_name, endpoint) = (&s.ent.ext_name, &s.ent.name);
        let procs = &mut s.procs;
        // A bounded number per wake-up, so that one busy service cannot
        // starve the others.
        let result = read_status(m, 256, |msg| {
            records += 1;
            match procs.update(msg) {
                Update::Applied => {}
                Update::Partial { pid, len } => msg_warn!(
                    "service {ext_name}({endpoint}): child (pid {}) sent partial status update ({len} bytes)",
                    pid.map_or("?".to_string(), |p| p.to_string())
                ),
                Update::NotFound { pid } => {
                    if msg::verbose() > 0 {
                        msg_info!("master_status_event: process id not found: {pid}");
                    }
                }
                Update::WrongGeneration { pid, generation } => {
                    msg_info!("ignoring status update from child pid {pid} generation {generation}")
                }
                // Postfix's own text, with its arguments in this order.
                Update::Unknown { pid, avail } => msg_warn!(
                    "master_status_event: ignoring unknown status: {pid} allegedly from pid: {avail}"
                ),
            }
        });
        if let Err(e) = result {
            msg_warn!("master_status_event: read: {}", crate::util::nix_text(e));
        }
        records
    }
}
