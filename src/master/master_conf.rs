//! The master's configuration (Postfix's master_conf): main.cf with the
//! master's own parameters, master.cf parsed into service entries, and
//! reload.  This is the one path that reads master.cf; `postkit check` and
//! `postkit start` call it too, so that they parse exactly as the master.

use std::time::Duration;

use crate::global::config_error::ConfigError;
use crate::global::mail_conf::MailConf;
use crate::global::mail_params::{MailParams, mail_params_init};
use crate::global::maillog_client::{self, FallbackMode};
use crate::msg_warn;
use crate::util::msg;

use super::master::{Master, VERSION};
use super::master_ent::{EntContext, MasterEnt, parse_master_cf};

/// main.cf as the master reads it.
pub struct MasterConf {
    /// The dictionary, with `process_name = master`.
    pub conf: MailConf,
    /// The global parameters.
    pub params: MailParams,
    /// `service_throttle_time`, in seconds.
    pub throttle_time: i32,
    /// `master_service_disable`.
    pub service_disable: String,
    /// `postlogd_watchdog_timeout`: how long the master lets a stopped
    /// postlogd be.
    pub postlogd_watchdog: i32,
}

impl MasterConf {
    /// Reads main.cf in `config_dir`; warnings go to the diagnostics.
    pub fn load(config_dir: &str) -> Result<MasterConf, ConfigError> {
        let mut conf = MailConf::read(config_dir, &mut |m| msg::warn(&m))?;
        conf.update("process_name", "master");
        let params = mail_params_init(&mut conf)?;
        if !params.maillog_file.is_empty() {
            maillog_client::check_prefix(&params).map_err(ConfigError::Other)?;
        }
        let throttle_time = conf.get_time("service_throttle_time", "60s", 1, 0)?;
        let service_disable = conf.get_str("master_service_disable", "", 0, 0)?;
        // The same type, default and limits as postlogd reads it, so that
        // a value postlogd would refuse is refused before it starts.
        let postlogd_watchdog = conf.get_time("postlogd_watchdog_timeout", "10s", 10, 0)?;
        conf.get_int("dgram_batch_limit", 64, 1, 1024)?;
        Ok(MasterConf {
            conf,
            params,
            throttle_time,
            service_disable,
            postlogd_watchdog,
        })
    }

    /// Parses `config_dir/master.cf` as a master with these options would;
    /// the error names the file and line.
    pub fn read_master_cf(
        &self,
        config_dir: &str,
        foreground: bool,
        verbose: bool,
    ) -> Result<Vec<MasterEnt>, ConfigError> {
        let path = format!("{config_dir}/master.cf");
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Open {
            reason: crate::util::errno_text(&e),
            path: path.clone(),
        })?;
        let ctx = EntContext {
            daemon_directory: self.params.daemon_directory.clone(),
            default_process_limit: self.params.default_process_limit,
            compat_ge_1: crate::global::compat_level::parse(&self.params.compatibility_level)
                .map(|l| l >= (1, 0, 0))
                .unwrap_or(false),
            foreground,
            verbose,
            master_service_disable: self.service_disable.clone(),
        };
        parse_master_cf(&path, &text, &ctx, &mut |m| msg::warn(&m))
    }
}

/// The environment children get: `import_environment`, applied to ours.
pub fn child_environment(import: &str) -> Vec<(String, String)> {
    let mut env = Vec::new();
    for item in import
        .split([',', ' ', '\t', '\r', '\n'])
        .filter(|s| !s.is_empty())
    {
        match item.split_once('=') {
            Some((k, v)) => env.push((k.to_string(), v.to_string())),
            None => {
                if let Ok(v) = std::env::var(item) {
                    env.push((item.to_string(), v));
                }
            }
        }
    }
    env
}

impl Master {
    /// master.cf as this master reads it.
    pub(super) fn read_master_cf(&self, mc: &MasterConf) -> Result<Vec<MasterEnt>, ConfigError> {
        mc.read_master_cf(
            &self.config_dir,
            self.opts.foreground,
            self.opts.verbose > 0,
        )
    }

    /// Re-reads main.cf and master.cf (SIGHUP).  A configuration that does
    /// not parse leaves the running one in place.
    pub(super) fn reload(&mut self) {
        crate::msg_info!(
            "reload -- version {VERSION}, configuration {}",
            self.config_dir
        );
        let mc = match MasterConf::load(&self.config_dir) {
            Ok(mc) => mc,
            Err(e) => {
                msg_warn!("{e}; keeping the running configuration");
                return;
            }
        };
        for (name, old, new) in [
            (
                "config_directory",
                &self.params.config_directory,
                &mc.params.config_directory,
            ),
            (
                "queue_directory",
                &self.params.queue_directory,
                &mc.params.queue_directory,
            ),
        ] {
            if old != new {
                msg_warn!("ignoring {name} parameter value change");
                msg_warn!("old value: \"{old}\", new value: \"{new}\"");
                msg_warn!("to change {name}, stop and start Postfix");
            }
        }
        self.params = MailParams {
            queue_directory: self.params.queue_directory.clone(),
            ..mc.params.clone()
        };
        self.throttle_time = Duration::from_secs(mc.throttle_time as u64);
        self.postlogd_watchdog = mc.postlogd_watchdog;
        self.child_env = child_environment(&self.params.import_environment);
        let tag = maillog_client::mail_task("master", Some(&self.params));
        if let Err(e) = maillog_client::init(&tag, &self.params, FallbackMode::LogWriter) {
            msg_warn!("{e}");
        }
        maillog_client::with_postlog(|p| p.set_nonblocking());
        let ents = match self.read_master_cf(&mc) {
            Ok(e) => e,
            Err(e) => {
                msg_warn!("{e}; keeping the running services");
                return;
            }
        };
        let mut keep = vec![false; self.services.len()];
        for ent in ents {
            match self
                .services
                .iter()
                .position(|s| s.ent.name == ent.name && s.ent.kind == ent.kind)
            {
                Some(i) => {
                    keep[i] = true;
                    let watchdog = self.watchdog_of(&ent);
                    self.services[i].replace_ent(ent);
                    self.services[i].watchdog = watchdog;
                }
                None => {
                    let before = self.services.len();
                    self.add_service(ent, false);
                    keep.resize(self.services.len().max(before), true);
                }
            }
        }
        for i in (0..keep.len()).rev() {
            if !keep[i] {
                self.remove_service(i);
            }
        }
    }
}
