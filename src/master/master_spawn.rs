//! Starting, reaping and throttling children (Postfix's master_spawn): a
//! child is the service's command with the master's descriptors in place
//! (see `spawn_fds`); a child that dies abnormally before it ever reported
//! idle marks a broken command, and the service is throttled for
//! `service_throttle_time` instead of being restarted in a tight loop.

use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::util::msg;
use crate::{msg_info, msg_warn};

use super::master::Master;
use super::service::Service;
use super::service_table::ServiceId;
use super::spawn_fds::{ChildCommand, ChildFds, ChildStdio, spawn};

/// Stops a service from getting new children for `delay`.
pub fn throttle(s: &mut Service, delay: Duration) {
    s.throttled_until = Some(Instant::now() + delay);
    s.throttles += 1;
}

impl Master {
    /// Starts one child of a service.
    pub(super) fn spawn(&mut self, id: ServiceId) {
        self.life.generation = self.life.generation.wrapping_add(1);
        let generation = self.life.generation;
        let Some(s) = self.services.get_mut(id) else {
            return;
        };
        // A daemon this executable provides runs from it when
        // daemon_directory has no program of that name.
        let builtin = crate::daemons::find(&s.ent.command).is_some();
        let program: PathBuf = if builtin && !Path::new(&s.ent.path).exists() {
            self.life.exe.clone()
        } else {
            PathBuf::from(&s.ent.path)
        };
        let stress = s.stress_arg().filter(|_| s.under_stress());
        let argv: Vec<&OsStr> = s
            .ent
            .argv
            .iter()
            .enumerate()
            .map(|(k, a)| {
                OsStr::new(if Some(k) == stress {
                    "stress=yes"
                } else {
                    a.as_str()
                })
            })
            .collect();
        let Some((_, child_end)) = &s.status else {
            return;
        };
        let foreground = self.conf.opts.foreground;
        let cmd = ChildCommand {
            program: &program,
            argv,
            env: self
                .conf
                .child_env
                .iter()
                .map(|(k, v)| (OsStr::new(k), OsStr::new(v)))
                .collect(),
            stdin: ChildStdio::Null,
            // In the foreground the children's output goes where the
            // master's does.
            stdout: if foreground {
                ChildStdio::Inherit
            } else {
                ChildStdio::Null
            },
            // stderr to the master, which keeps fatal texts as failure
            // reasons (and copies everything to its own stderr when in the
            // foreground).
            stderr: match &s.stderr {
                Some((_, w)) => ChildStdio::Fd(w.as_fd()),
                None if foreground => ChildStdio::Inherit,
                None => ChildStdio::Null,
            },
            // In the foreground (start-fg, master -d), out of the master's
            // process group: the terminal's Ctrl-C (or a signal to the
            // group) reaches the master alone, which stops its children in
            // order, letting datagram services drain what they were
            // handed.  Detached, in the master's group as with Postfix: a
            // process group leader cannot make itself a session leader, and
            // postscreen and proxymap call setsid() (postscreen warns when
            // it fails).
            own_process_group: foreground,
            current_dir: None,
        };
        let fds = ChildFds {
            flow: Some((self.life.flow.0.as_fd(), self.life.flow.1.as_fd())),
            status: child_end.as_fd(),
            listen: s.listen.iter().map(|l| l.as_fd()).collect(),
        };
        match spawn(&cmd, &fds, generation) {
            Ok(pid) => {
                s.procs.add(pid, generation);
                s.spawns += 1;
                if s.ent.wakeup_conditional && s.next_wakeup.is_none() {
                    if msg::verbose() > 0 {
                        msg_info!("start conditional timer for {}", s.ent.ext_name);
                    }
                    s.next_wakeup = Some(Instant::now());
                }
            }
            Err(e) => {
                let why = format!("exec {}: {}", s.ent.path, crate::util::errno_text(&e));
                msg_warn!("master_spawn: {why}");
                s.last_failure = Some(why);
                s.failures += 1;
                throttle(s, self.conf.throttle_time);
            }
        }
    }

    /// Collects every child that ended, with Postfix's warnings for the
    /// abnormal ones.
    pub(super) fn reap(&mut self) {
        loop {
            let status = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(st) => st,
            };
            let Some(pid) = status.pid().map(Pid::as_raw) else {
                return;
            };
            if self
                .upgrade
                .reaped(pid, status, &self.life.exe, &self.conf.config_dir)
            {
                continue;
            }
            if let Some(path) = self.orphans.remove(&pid) {
                if let WaitStatus::Exited(_, code) = status
                    && code != 0
                {
                    msg_warn!("process {path} pid {pid} exit status {code}");
                }
                continue;
            }
            let (foreground, params) = (self.conf.opts.foreground, &self.conf.params);
            let Some(s) = self.services.iter_mut().find(|s| s.procs.contains(pid)) else {
                continue;
            };
            // What the child wrote before it ended is all in the pipe now:
            // its last words (a fatal text) are the failure's reason, even
            // when the exit was seen before the text.
            // (Bounded: its siblings may still be writing.)
            for _ in 0..16 {
                if !s.stderr_event(foreground, params) {
                    break;
                }
            }
            let child = s.procs.remove(pid).expect("child is known");
            s.counters.retire(pid);
            let abnormal = match status {
                WaitStatus::Exited(_, 0) => None,
                WaitStatus::Exited(_, code) => {
                    msg_warn!("process {} pid {pid} exit status {code}", s.ent.path);
                    Some(format!("exit status {code}"))
                }
                WaitStatus::Signaled(_, sig, _) => {
                    msg_warn!(
                        "process {} pid {pid} killed by signal {}",
                        s.ent.path,
                        sig as i32
                    );
                    Some(format!("killed by signal {}", sig as i32))
                }
                _ => None,
            };
            // The child's own words, when it wrote any, else how it ended.
            let captured = s.captured.take();
            let abnormal = abnormal.map(|how| captured.unwrap_or(how));
            if child.killed_by_master {
                s.last_failure = Some("stopped longer than its watchdog time; killed".into());
                s.failures += 1;
            } else if let Some(why) = abnormal {
                s.last_failure = Some(why);
                s.failures += 1;
                if child.use_count == 0 && s.throttled_until.is_none() {
                    msg_warn!("{}: bad command startup -- throttling", s.ent.path);
                    throttle(s, self.conf.throttle_time);
                }
            } else if child.use_count == 0 && child.started.elapsed() < QUICK_EXIT {
                // Exit 0 at once, with work waiting (it was started for
                // that work): Postfix restarts such a command without end.
                s.quick_exits += 1;
                if s.quick_exits >= QUICK_EXITS_IN_A_ROW && s.throttled_until.is_none() {
                    msg_warn!(
                        "{}: {} processes in a row exited without taking any work -- throttling",
                        s.ent.path,
                        s.quick_exits
                    );
                    s.last_failure = Some("exited at once without taking any work".into());
                    s.failures += 1;
                    s.quick_exits = 0;
                    throttle(s, self.conf.throttle_time);
                }
            } else {
                s.quick_exits = 0;
            }
        }
    }

    /// Lifts the throttles whose time is up.
    pub(super) fn throttle_timers(&mut self) {
        let now = Instant::now();
        for s in self.services.iter_mut() {
            if s.throttled_until.is_some_and(|t| now >= t) {
                s.throttled_until = None;
                if msg::verbose() > 0 {
                    msg_info!("throttle released for command {}", s.ent.path);
                }
            }
        }
    }

    /// Children that are stopped (SIGSTOP, a debugger) hold their
    /// service's socket while senders block: one stopped longer than its
    /// service's watchdog time is killed, and the service gets a new one.
    /// Looked at once a second.
    pub(super) fn stopped_children(&mut self) {
        if self.last_supervision.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last_supervision = Instant::now();
        for s in self.services.iter_mut() {
            let limit = s.watchdog;
            for (pid, child) in s.procs.children_mut() {
                if !is_stopped(pid) {
                    child.stopped_since = None;
                    continue;
                }
                let since = *child.stopped_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= limit {
                    msg_warn!(
                        "process {} pid {pid} has been stopped for {}s, longer than its watchdog time -- killing it",
                        s.ent.path,
                        since.elapsed().as_secs()
                    );
                    let _ = nix::sys::signal::kill(
                        Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                    child.stopped_since = None;
                    child.killed_by_master = true;
                }
            }
        }
    }

    /// The watchdog time of a service's processes, as it declares it.
    pub(super) fn watchdog_of(&self, ent: &super::master_ent::MasterEnt) -> Duration {
        super::master_vars::service_watchdog(&self.conf.main_cf, ent)
    }
}

/// A child that exits 0 sooner than this without having taken work...
const QUICK_EXIT: Duration = Duration::from_secs(1);
/// ... this many times in a row gets its service throttled.
const QUICK_EXITS_IN_A_ROW: u32 = 5;

/// Whether /proc says `pid` is stopped (`T`) or stopped by a tracer (`t`).
fn is_stopped(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('T') || rest.starts_with('t'))
    })
}
