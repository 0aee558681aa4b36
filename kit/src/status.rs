//! `postkit status --json`, typed: the report every test reads a running
//! master's state from (its schema is the README's, every field typed and
//! none unknown, so a change of the schema fails here first).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// The whole report.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub master: MasterReport,
    pub services: Vec<ServiceReport>,
}

/// The master itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MasterReport {
    pub pid: u32,
    pub version: String,
    pub configuration: String,
    pub execs: u64,
}

/// One service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceReport {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub endpoint: String,
    pub command: String,
    pub limit: i64,
    pub processes: u64,
    pub busy: u64,
    pub idle: u64,
    pub spawns: u64,
    pub failures: u64,
    pub throttled: bool,
    pub throttle_seconds_left: u64,
    pub throttles: u64,
    pub stress: bool,
    pub last_failure: Option<String>,
    pub counters: BTreeMap<String, u64>,
    pub counters_ignored: u64,
}

impl ServiceReport {
    /// (limit, processes, busy, idle, spawns, failures), the counts
    /// `postkit status` shows people.
    pub fn counts(&self) -> (i64, u64, u64, u64, u64, u64) {
        (
            self.limit,
            self.processes,
            self.busy,
            self.idle,
            self.spawns,
            self.failures,
        )
    }
}

impl Report {
    /// The service named `name`.
    pub fn service(&self, name: &str) -> &ServiceReport {
        self.services
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no service {name} in {self:?}"))
    }
}

/// Asks the master of configuration `dir`; panics with postkit's words if
/// it does not answer.
pub fn read(dir: &Path) -> Report {
    let out = std::process::Command::new(crate::postkit_exe())
        .arg("-c")
        .arg(dir)
        .args(["status", "--json"])
        .output()
        .expect("postkit status --json");
    // 0: every service healthy; 3: some service throttled.
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "status --json: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "status --json does not follow the schema: {e}\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}
