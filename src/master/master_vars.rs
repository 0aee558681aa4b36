//! The master's configuration files (Postfix's master_vars, with the
//! master.cf side of master_ent): main.cf with the master's own
//! parameters, master.cf parsed into service entries, and what each
//! service declares (its parameter checks, its watchdog time).  This is
//! the one path that reads them; `postkit check` and `postkit start` call
//! it too, so that they parse exactly as the master.

use std::time::Duration;

use crate::global::config_error::ConfigError;
use crate::global::mail_conf::MailConf;
use crate::global::mail_params::{MailParams, mail_params_init};
use crate::global::maillog_client;
use crate::util::msg;

use super::master_ent::{EntContext, MasterEnt, parse_master_cf};
use super::master_inet::{self, InetError};

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
    /// `inet_interfaces`: where wildcard inet services listen.
    pub inet_interfaces: String,
    /// `inet_protocols`.
    pub inet_protocols: String,
}

impl MasterConf {
    /// Reads main.cf in `config_dir`; warnings go to the diagnostics.
    pub fn load(config_dir: &str) -> Result<MasterConf, ConfigError> {
        let mut conf = MailConf::read(config_dir, &mut |m| msg::warn(&m))?;
        conf.update("process_name", "master");
        Self::convert(conf).map_err(|failed| {
            let (conf, e) = *failed;
            locate(&conf, e)
        })
    }

    /// The conversions; a failure hands the dictionary back, so that the
    /// error can name the line that set the parameter.
    #[allow(clippy::type_complexity)]
    fn convert(mut conf: MailConf) -> Result<MasterConf, Box<(MailConf, ConfigError)>> {
        macro_rules! tr {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(e) => return Err(Box::new((conf, e.into()))),
                }
            };
        }
        let params = tr!(mail_params_init(&mut conf));
        if !params.maillog_file.is_empty() {
            tr!(maillog_client::check_prefix(&params).map_err(ConfigError::Other));
        }
        let throttle_time = tr!(conf.get_time("service_throttle_time", "60s", 1, 0));
        let service_disable = tr!(conf.get_str("master_service_disable", "", 0, 0));
        tr!(crate::server::dgram_server::check_params(&mut conf));
        let inet_interfaces = tr!(conf.get_str("inet_interfaces", "all", 0, 0));
        let inet_protocols = tr!(conf.get_str("inet_protocols", "all", 0, 0));
        Ok(MasterConf {
            conf,
            params,
            throttle_time,
            service_disable,
            inet_interfaces,
            inet_protocols,
        })
    }

    /// master.cf as a master starting now on this main.cf reads it (for
    /// `check`, `start` and `reload`, which refuse what it would refuse).
    pub fn read_master_cf_as_configured(
        &self,
        config_dir: &str,
    ) -> Result<Vec<MasterEnt>, ConfigError> {
        self.read_master_cf(
            config_dir,
            false,
            false,
            &self.inet_interfaces,
            &self.inet_protocols,
        )
    }

    /// Parses `config_dir/master.cf` as a master with these options would,
    /// inet services listening on `interfaces` with `protocols` (main.cf's
    /// inet_interfaces and inet_protocols when the master started); the
    /// error names the file and line.
    pub fn read_master_cf(
        &self,
        config_dir: &str,
        foreground: bool,
        verbose: bool,
        interfaces: &str,
        protocols: &str,
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
        let mut ents = parse_master_cf(&path, &text, &ctx, &mut |m| msg::warn(&m))?;
        master_inet::resolve(&mut ents, interfaces, protocols, &mut |m| msg::warn(&m)).map_err(
            |e| match e {
                InetError::Entry(line, why) => ConfigError::MasterCf { path, line, why },
                InetError::Param(name, why) => locate_text(&self.conf, name, why),
            },
        )?;
        Ok(ents)
    }
}

impl MasterConf {
    /// What every built-in service of `ents` would refuse at start: each
    /// parameter it reads, after its master.cf options, with the same type,
    /// limits and text as the service, located at the master.cf or main.cf
    /// line that set it; and commands that do not exist.
    pub fn check_services(&self, config_dir: &str, ents: &[MasterEnt]) -> Vec<String> {
        let master_cf = format!("{config_dir}/master.cf");
        let mut problems = Vec::new();
        for ent in ents {
            let at_entry = format!("{master_cf}: line {}: service {}", ent.line, ent.ext_name);
            let daemon = crate::daemons::find(&ent.command);
            if daemon.is_none() && !std::path::Path::new(&ent.path).exists() {
                problems.push(format!("{at_entry}: command {} does not exist", ent.path));
                continue;
            }
            let Some(daemon) = daemon else { continue };
            let (mut conf, updates) = match service_conf(&self.conf, ent) {
                Ok(c) => c,
                Err(e) => {
                    problems.push(format!("{at_entry}: {e}"));
                    continue;
                }
            };
            let result = mail_params_init(&mut conf).and_then(|_| (daemon.check)(&mut conf));
            if let Err(e) = result {
                let name = e.param_name().unwrap_or("");
                let where_ = if updates.iter().any(|n| n == name) {
                    at_entry.clone()
                } else if let Some((file, line)) = conf.origin(name) {
                    format!("{file}, line {line}")
                } else {
                    at_entry.clone()
                };
                problems.push(format!("{where_}: {e}"));
            }
        }
        problems
    }
}

/// main.cf as service `ent` reads it: its process name and its master.cf
/// `-o` settings applied; and the names those settings set.
fn service_conf(conf: &MailConf, ent: &MasterEnt) -> Result<(MailConf, Vec<String>), String> {
    let opts =
        crate::server::dgram_server::parse_options(&ent.argv[1..]).map_err(|e| e.to_string())?;
    let mut conf = conf.clone();
    conf.update("process_name", &ent.command);
    for (name, value) in &opts.updates {
        conf.update(name, value);
    }
    Ok((conf, opts.updates.into_iter().map(|(n, _)| n).collect()))
}

/// How long a stopped process of service `ent` may stay so before the
/// master replaces it: the watchdog time its daemon declares, read as the
/// daemon reads it (main.cf and the entry's `-o` settings); the skeleton's
/// default for any other command, or when the value is bad (the daemon
/// then refuses to start, and says why).
pub fn service_watchdog(conf: &MailConf, ent: &MasterEnt) -> Duration {
    let declared = crate::daemons::find(&ent.command).and_then(|d| {
        let (mut conf, _) = service_conf(conf, ent).ok()?;
        (d.watchdog)(&mut conf).ok()
    });
    let secs = declared.unwrap_or(crate::server::dgram_server::DEFAULT_WATCHDOG);
    Duration::from_secs(secs.max(1) as u64)
}

/// A text about main.cf parameter `name`, at the line that set it.
fn locate_text(conf: &MailConf, name: &str, why: String) -> ConfigError {
    match conf.origin(name) {
        Some((path, line)) => ConfigError::At {
            path: path.clone(),
            line: *line,
            inner: Box::new(ConfigError::Other(why)),
        },
        None => ConfigError::Other(why),
    }
}

/// `error`, with the main.cf line of the parameter it is about.
fn locate(conf: &MailConf, error: ConfigError) -> ConfigError {
    match error.param_name().and_then(|n| conf.origin(n)) {
        Some((path, line))
            if !matches!(
                error,
                ConfigError::ExpansionLimit { .. } | ConfigError::Param { .. }
            ) =>
        {
            ConfigError::At {
                path: path.clone(),
                line: *line,
                inner: Box::new(error),
            }
        }
        _ => error,
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
