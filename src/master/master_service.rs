//! Starting and stopping services (Postfix's master_service): adding one
//! from its master.cf entry (its endpoint made, or handed over by the
//! service manager or the program this master replaced), removing one on
//! reload, and handing its children's traffic to it.

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::{msg_fatal, msg_warn};

use super::master::Master;
use super::master_counters::Counters;
use super::master_ent::MasterEnt;
use super::master_handover::ServiceState;
use super::service::{Service, ServiceError};
use super::service_table::ServiceId;

impl Master {
    /// The services of master.cf at start: made (a fresh start: nothing
    /// was handed over), or taken over when the previous program handed
    /// them over; children of handed over services the new master.cf no
    /// longer has are stopped.
    pub(super) fn take_services(
        &mut self,
        ents: Vec<super::master_ent::MasterEnt>,
        mut inherited: std::collections::HashMap<(String, String), ServiceState>,
    ) {
        for ent in ents {
            match inherited.remove(&(ent.kind.name().to_string(), ent.name.clone())) {
                Some(state) => self.adopt_service(ent, state),
                None => {
                    self.add_service(ent, true);
                }
            }
        }
        for (_, state) in inherited {
            for (pid, ..) in state.procs {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
                self.orphans
                    .insert(pid, "(a service the upgrade removed)".into());
            }
        }
    }

    /// Adds a service.  An endpoint that cannot be made ends a master that
    /// is starting (it would run without the service and say nothing); on a
    /// reload the service is left out with a warning and the rest runs on.
    pub(super) fn add_service(&mut self, ent: MasterEnt, at_start: bool) -> Option<ServiceId> {
        // A socket the service manager passed for this service is used as
        // it is: it was made (and is kept) by the service manager.
        let made = match self
            .systemd
            .take(&ent.ext_name)
            .or_else(|| self.systemd.take(&ent.name))
        {
            Some(fd) => {
                let _ = nix::fcntl::fcntl(
                    &fd,
                    nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
                );
                let mut s = Service::with_endpoint(ent, vec![fd]);
                s.new_status_channel()
                    .map(|_| s)
                    .map_err(ServiceError::Channel)
            }
            None => Service::new(ent, self.conf.owner),
        };
        match made {
            Ok(s) => Some(self.push_service(s)),
            Err(ServiceError::Channel(e)) => msg_fatal!("{e}"),
            Err(ServiceError::Endpoint(e)) if at_start => {
                // Room for the log file, so that the reason gets there.
                self.life.fd_reserve.clear();
                msg_fatal!("{e}")
            }
            Err(ServiceError::Endpoint(e)) => {
                msg_warn!("{e}");
                None
            }
        }
    }

    /// Takes over a service the program this process ran before handed
    /// over: its sockets, its status channel and its children, which carry
    /// on; the entry is the new master.cf's, as on a reload.
    pub(super) fn adopt_service(&mut self, ent: MasterEnt, state: ServiceState) {
        // An inet service listens where main.cf now says.
        let listen = if ent.kind == super::master_ent::ServType::Inet {
            super::master_listen::inet_rebind(&ent, state.listen).unwrap_or_else(|e| {
                self.life.fd_reserve.clear();
                msg_fatal!("{e}")
            })
        } else {
            state.listen
        };
        let mut s = Service::with_endpoint(ent, listen);
        (s.spawns, s.failures, s.throttles) = state.counts;
        if let Some(text) = &state.counters {
            s.counters = Counters::from_handover(text);
        }
        if state.stderr.is_some() {
            s.stderr = state.stderr;
        }
        match state.status {
            Some(status) => {
                s.status = Some(status);
                for (pid, generation, avail, use_count) in state.procs {
                    s.procs.restore(pid, generation, avail, use_count);
                }
            }
            None => {
                if let Err(e) = s.new_status_channel() {
                    msg_fatal!("{e}");
                }
            }
        }
        self.push_service(s);
    }

    /// A service joins the running ones, with its watchdog time.
    fn push_service(&mut self, mut s: Service) -> ServiceId {
        s.watchdog = self.watchdog_of(&s.ent);
        self.services.insert(s)
    }

    /// Removes a service: its children get SIGTERM and are reaped as
    /// orphans; its socket closes.
    pub(super) fn remove_service(&mut self, id: ServiceId) {
        let Some(s) = self.services.remove(id) else {
            return;
        };
        for pid in s.procs.pids() {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGTERM);
            self.orphans.insert(pid, s.ent.path.clone());
        }
    }

    /// What a service's children wrote on stderr: fatal texts are kept as
    /// the reason of the next failure, copied to the terminal under a
    /// foreground master, and, when the log service is the one failing,
    /// written into the log file directly (nobody else would log them).
    pub(super) fn stderr_event(&mut self, id: ServiceId) {
        let (foreground, params) = (self.conf.opts.foreground, &self.conf.params);
        if let Some(s) = self.services.get_mut(id) {
            s.stderr_event(foreground, params);
        }
    }

    /// Reads the status records from a service's children; how many
    /// there were.
    pub(super) fn status_event(&mut self, id: ServiceId) -> usize {
        self.services.get_mut(id).map_or(0, |s| s.status_event())
    }
}
