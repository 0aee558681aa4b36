//! When a service's sockets are watched (Postfix's master_avail): a
//! service listens for work only while it is not throttled, none of its
//! children is idle, and it is under its process limit; work arriving on a
//! socket it watches starts one more child.  Idle children wait on the
//! socket themselves, so the master stays out of the way of every request
//! a running child can take.

use super::master::Master;
use super::master_service::Service;

impl Service {
    /// Whether the master watches this service's sockets now.
    pub fn wants_listen(&self) -> bool {
        self.throttled_until.is_none()
            && self.procs.avail() == 0
            && (self.ent.max_proc == 0 || (self.total_proc() as i32) < self.ent.max_proc)
            && self.status.is_some()
    }
}

impl Master {
    /// Work arrived on the sockets of the services in `ready` (indexes,
    /// possibly repeated): one child more for each that still wants one.
    pub(super) fn avail_event(&mut self, mut ready: Vec<usize>) {
        ready.dedup();
        for i in ready {
            if self.services[i].wants_listen() {
                self.spawn(i);
            }
        }
    }
}
