//! The daemons this executable provides under their own names (a master.cf
//! command `postlogd` needs no link in daemon_directory), each described
//! by what the master and `postkit check` must know of it: its main, the
//! parameters it reads beyond the global ones (checked before it starts,
//! with its own texts), its watchdog time (the longest a stopped process
//! of it may stay so), and whether it writes the log itself.  The master
//! learns a service only from this description, never from its code.

use crate::global::config_error::ConfigError;
use crate::global::mail_conf::MailConf;

/// What a built-in daemon declares.
pub struct Daemon {
    /// Its command name in master.cf.
    pub name: &'static str,
    /// Runs it (argv with its name first); the exit status.
    pub main: fn(&[String]) -> i32,
    /// Reads every parameter it reads beyond the global ones, as it reads
    /// them, from main.cf with its master.cf `-o` settings applied.
    pub check: fn(&mut MailConf) -> Result<(), ConfigError>,
    /// Its watchdog time in seconds, from the same configuration.
    pub watchdog: fn(&mut MailConf) -> Result<i32, ConfigError>,
    /// It is the log service: its diagnostics go straight into the log
    /// file (its own socket is not for its own records), so the master
    /// writes its failures there too.
    pub log_writer: bool,
}

/// Every built-in daemon.
pub const DAEMONS: &[Daemon] = &[crate::postlogd::DAEMON];

/// The built-in daemon `command` names, if any.
pub fn find(command: &str) -> Option<&'static Daemon> {
    DAEMONS.iter().find(|d| d.name == command)
}
