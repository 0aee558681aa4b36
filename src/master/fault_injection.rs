//! Faults the tests inject into the master, in one place: each is named by
//! an environment variable (`POSTKIT_FAULT_*`) that only the tests set,
//! and takes effect at one named point of the start-up.  Nothing else in
//! the master looks at them.

use std::time::Duration;

use crate::msg_fatal;

/// Where a fault can be injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A master that received a hand-over, right after it armed its way
    /// back (`POSTKIT_FAULT_UPGRADED_START`): `abort`, `segv`, `panic`,
    /// `hang`, or anything else for a fatal error.
    UpgradedStart,
}

impl Fault {
    /// The variable that injects it.
    pub const fn variable(self) -> &'static str {
        match self {
            Fault::UpgradedStart => "POSTKIT_FAULT_UPGRADED_START",
        }
    }
}

/// Does what the fault's variable says, if it is set.
pub fn at(fault: Fault) {
    let var = fault.variable();
    let Ok(what) = std::env::var(var) else {
        return;
    };
    match what.as_str() {
        "abort" => std::process::abort(),
        "segv" => {
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSEGV);
        }
        "panic" => panic!("fault injected ({var})"),
        "hang" => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        _ => msg_fatal!("fault injected at the start of an upgraded master ({var})"),
    }
}
