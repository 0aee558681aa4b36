//! What a daemon built into this executable declares to the master and to
//! `postkit check` (see `daemons`, the list of them): a leaf, so that each
//! daemon can describe itself without importing the list it is on.

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
