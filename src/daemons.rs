//! The daemons this executable provides under their own names (a master.cf
//! command `postlogd` needs no link in daemon_directory), each described
//! by what the master and `postkit check` must know of it: its main, the
//! parameters it reads beyond the global ones (checked before it starts,
//! with its own texts), its watchdog time (the longest a stopped process
//! of it may stay so), and whether it writes the log itself.  The master
//! learns a service only from this description, never from its code.

pub use crate::global::daemon_desc::Daemon;

/// Every built-in daemon.
pub const DAEMONS: &[Daemon] = &[crate::postlogd::DAEMON];

/// The built-in daemon `command` names, if any.
pub fn find(command: &str) -> Option<&'static Daemon> {
    DAEMONS.iter().find(|d| d.name == command)
}
