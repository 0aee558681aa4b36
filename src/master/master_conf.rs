//! Reading the configuration into the running master (Postfix's
//! master_conf): master.cf with the inet_interfaces the master started
//! with, and reload (SIGHUP), which keeps, replaces, adds and removes
//! services by their endpoints.  The files themselves are read by
//! `master_vars`.

use std::time::Duration;

use crate::global::config_error::ConfigError;
use crate::global::mail_params::MailParams;
use crate::global::maillog_client::{self, FallbackMode, LogPolicy};
use crate::msg_warn;

use super::master::{Master, VERSION};
use super::master_ent::{MasterEnt, ServType};
use super::master_vars::{MasterConf, child_environment};

impl Master {
    /// master.cf as this master reads it.  inet_interfaces and
    /// inet_protocols are the values the master started with: a change
    /// needs a stop and start, as with Postfix (the warnings are Postfix's,
    /// inet_protocols' from its master_vars watch at reload).
    pub(super) fn read_master_cf(
        &mut self,
        mc: &MasterConf,
    ) -> Result<Vec<MasterEnt>, ConfigError> {
        let saved = self
            .conf
            .inet_interfaces
            .get_or_insert_with(|| mc.inet_interfaces.clone())
            .clone();
        let protocols = self
            .conf
            .inet_protocols
            .get_or_insert_with(|| mc.inet_protocols.clone())
            .clone();
        let ents = mc.read_master_cf(
            &self.conf.config_dir,
            self.conf.opts.foreground,
            self.conf.opts.verbose > 0,
            &saved,
            &protocols,
        )?;
        if saved != mc.inet_interfaces {
            for e in ents.iter().filter(|e| e.kind == ServType::Inet) {
                msg_warn!("service {}: ignoring inet_interfaces change", e.ext_name);
                msg_warn!("to change inet_interfaces, stop and start Postfix");
            }
        }
        Ok(ents)
    }

    /// Re-reads main.cf and master.cf (SIGHUP).  A configuration that does
    /// not parse leaves the running one in place.
    pub(super) fn reload(&mut self) {
        crate::msg_info!(
            "reload -- version {VERSION}, configuration {}",
            self.conf.config_dir
        );
        let mc = match MasterConf::load(&self.conf.config_dir) {
            Ok(mc) => mc,
            Err(e) => {
                msg_warn!("{e}; keeping the running configuration");
                return;
            }
        };
        for (name, old, new) in [
            (
                "config_directory",
                &self.conf.params.config_directory,
                &mc.params.config_directory,
            ),
            (
                "queue_directory",
                &self.conf.params.queue_directory,
                &mc.params.queue_directory,
            ),
            (
                "inet_protocols",
                self.conf
                    .inet_protocols
                    .as_ref()
                    .unwrap_or(&mc.inet_protocols),
                &mc.inet_protocols,
            ),
        ] {
            if old != new {
                msg_warn!("ignoring {name} parameter value change");
                msg_warn!("old value: \"{old}\", new value: \"{new}\"");
                msg_warn!("to change {name}, stop and start Postfix");
            }
        }
        self.conf.params = MailParams {
            queue_directory: self.conf.params.queue_directory.clone(),
            ..mc.params.clone()
        };
        self.conf.throttle_time = Duration::from_secs(mc.throttle_time as u64);
        self.conf.main_cf = mc.conf.clone();
        self.conf.child_env = child_environment(&self.conf.params.import_environment);
        self.conf.owner = super::master_queue::owner_ids(&self.conf.params);
        let tag = maillog_client::mail_task("master", Some(&self.conf.params));
        if let Err(e) = maillog_client::init(&tag, &self.conf.params, FallbackMode::LogWriter) {
            msg_warn!("{e}");
        }
        maillog_client::set_policy(LogPolicy::Serving);
        let ents = match self.read_master_cf(&mc) {
            Ok(e) => e,
            Err(e) => {
                msg_warn!("{e}; keeping the running services");
                return;
            }
        };
        // Kept services keep their ids; new ones get theirs; the table
        // takes master.cf's new order.
        let old = self.services.ids();
        let mut order = Vec::new();
        for ent in ents {
            match self.services.find(ent.kind, &ent.name) {
                Some(id) => {
                    let watchdog = self.watchdog_of(&ent);
                    let s = &mut self.services[id];
                    s.replace_ent(ent);
                    s.watchdog = watchdog;
                    order.push(id);
                }
                None => order.extend(self.add_service(ent, false)),
            }
        }
        for id in old {
            if !order.contains(&id) {
                self.remove_service(id);
            }
        }
        self.services.reorder(&order);
    }
}
