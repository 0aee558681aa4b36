//! When a service's sockets are watched (Postfix's master_avail): a
//! service listens for work only while it is not throttled, none of its
//! children is idle, and it is under its process limit; work arriving on a
//! socket it watches starts one more child.  Idle children wait on the
//! socket themselves, so the master stays out of the way of every request
//! a running child can take.
//!
//! Stress mode, as Postfix's: a service that remote clients reach (an inet
//! service not on loopback alone, or a pass service, with a process limit
//! above 1: its argv has `-o stress=`) and whose spawn now reaches its
//! process limit is under stress for STRESS_TIME from then on.  On
//! entering stress its status channel is made anew, so that its idle
//! children exit (busy ones finish their client first), and every child
//! started while under stress gets `-o stress=yes`: Postfix's servers
//! then use their stress-dependent settings (smtpd_timeout 10 s instead of
//! 300 s, and so on).  At the limit with no idle child, the master warns,
//! at most once per STRESS_TIME, as Postfix's does.

use std::time::{Duration, Instant};

use crate::msg_warn;

use super::master::Master;
use super::master_events::Token;
use super::service::Service;
use super::service_table::ServiceId;

/// How long stress lasts after the last spawn that reached the limit,
/// and how often the limit warning may repeat (Postfix: 1000 s).
pub const STRESS_TIME: Duration = Duration::from_secs(1000);

/// Postfix's MASTER_LIMIT_OK: `count` processes are within `limit`.
fn limit_ok(limit: i32, count: usize) -> bool {
    limit == 0 || (count as i64) < i64::from(limit)
}

impl Service {
    /// Whether the master watches this service's sockets now.
    pub fn wants_listen(&self) -> bool {
        self.throttled_until.is_none()
            && self.procs.avail() == 0
            && limit_ok(self.ent.max_proc, self.total_proc())
            && self.status.is_some()
    }

    /// Where the master's own `-o stress=` stands in the argv, when the
    /// service can be under stress.
    pub fn stress_arg(&self) -> Option<usize> {
        let own = &self.ent.argv[..self.ent.user_args_at.min(self.ent.argv.len())];
        own.iter()
            .position(|a| a == "stress=")
            .filter(|&k| k > 0 && own[k - 1] == "-o")
    }

    /// Whether children started now run with `stress=yes`.
    pub fn under_stress(&self) -> bool {
        self.stress_until.is_some_and(|t| Instant::now() < t)
    }

    /// At the process limit with no idle child: Postfix's warning, at most
    /// once per STRESS_TIME.
    pub fn warn_if_at_limit(&mut self) {
        if self.stress_arg().is_none()
            || self.throttled_until.is_some()
            || self.procs.avail() > 0
            || limit_ok(self.ent.max_proc, self.total_proc())
            || self.busy_warned.is_some_and(|t| t.elapsed() < STRESS_TIME)
        {
            return;
        }
        self.busy_warned = Some(Instant::now());
        msg_warn!(
            "service \"{}\" ({}) has reached its process limit \"{}\": new clients may experience noticeable delays",
            self.ent.ext_name,
            self.ent.postfix_name(),
            self.ent.max_proc
        );
        msg_warn!(
            "to avoid this condition, increase the process count in master.cf or reduce the service time per client"
        );
        msg_warn!(
            "see http://www.postfix.org/STRESS_README.html for examples of stress-adapting configuration settings"
        );
    }
}

impl Master {
    /// A service's sockets join the set when it wants work and leave it
    /// when it does not (Postfix's master_avail_listen).
    pub(super) fn sync_listen(&mut self, i: ServiceId) {
        let Some(s) = self.services.get_mut(i) else {
            return;
        };
        let want = s.wants_listen();
        if !want {
            s.warn_if_at_limit();
        }
        if want == s.listening {
            return;
        }
        for l in &s.listen {
            if want {
                self.events.add(l, Token::Listen(i));
            } else {
                self.events.delete(l);
            }
        }
        s.listening = want;
    }

    /// Work arrived on the sockets of the services in `ready` (possibly
    /// repeated): one child more for each that still wants one.
    pub(super) fn avail_event(&mut self, mut ready: Vec<ServiceId>) {
        ready.sort();
        ready.dedup();
        for i in ready {
            let Some(s) = self.services.get(i).filter(|s| s.wants_listen()) else {
                continue;
            };
            if s.stress_arg().is_some() && !limit_ok(s.ent.max_proc, s.total_proc() + 1) {
                if !s.under_stress() {
                    self.enter_stress(i);
                }
                self.services[i].stress_until = Some(Instant::now() + STRESS_TIME);
            }
            self.spawn(i);
        }
    }

    /// A service comes under stress: a new status channel, so that the
    /// children started without stress exit once idle (Postfix's
    /// master_restart_service).
    fn enter_stress(&mut self, i: ServiceId) {
        let Master {
            services, events, ..
        } = self;
        let s = &mut services[i];
        if let Some((m, _)) = &s.status {
            events.delete(m);
        }
        if let Err(e) = s.new_status_channel() {
            msg_warn!("service {}: {e}", s.ent.ext_name);
            return;
        }
        s.procs.retire_all();
        if let Some((m, _)) = &s.status {
            events.add(m, Token::Status(i));
        }
    }
}
