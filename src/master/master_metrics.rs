//! The master's state for machines: `postkit status --json` (one object;
//! the schema is in the README) and `postkit status --prometheus` (the
//! Prometheus text exposition format, for node_exporter's textfile
//! collector or a scrape wrapper).  Per service: its type, endpoint, limit,
//! processes, busy, idle, spawns, failures, throttle state and reason, and
//! the counters its processes report (datagrams handled; postlogd's records
//! and bytes written, records held while the file cannot be written,
//! records dropped, cut records removed).

use std::fmt::Write;
use std::time::Instant;

use serde_json::{Value, json};

use super::master::VERSION;
use super::service::Service;
use super::service_table::Services;

/// What the views say of the master itself.
pub struct MasterInfo<'a> {
    /// Its configuration directory.
    pub config_dir: &'a str,
    /// Restarts and upgrades in place so far.
    pub execs: u32,
}

/// One number about a service.
type Getter = fn(&Service) -> u64;

fn throttle_left(s: &Service) -> u64 {
    s.throttled_until
        .map_or(0, |t| t.saturating_duration_since(Instant::now()).as_secs())
}

/// `postkit status --json`.
pub fn json(m: &MasterInfo, services: &Services) -> String {
    let services: Vec<Value> = services
        .iter()
        .map(|s| {
            json!({
                "name": s.ent.ext_name,
                "type": s.ent.kind.name(),
                "endpoint": s.ent.name,
                "command": s.ent.command,
                "limit": s.ent.max_proc,
                "processes": s.total_proc(),
                "busy": s.procs.busy(),
                "idle": s.procs.avail(),
                "spawns": s.spawns,
                "failures": s.failures,
                "throttled": s.throttled_until.is_some(),
                "throttle_seconds_left": throttle_left(s),
                "throttles": s.throttles,
                "stress": s.under_stress(),
                "last_failure": s.last_failure,
                "counters": s.stats(),
                "counters_ignored": s.counters.ignored(),
            })
        })
        .collect();
    let report = json!({
        "master": {
            "pid": std::process::id(),
            "version": VERSION,
            "configuration": m.config_dir,
            "execs": m.execs,
        },
        "services": services,
    });
    report.to_string() + "\n"
}

/// A label value, escaped as the exposition format wants.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `postkit status --prometheus`.
pub fn prometheus(m: &MasterInfo, services: &Services) -> String {
    let mut out = String::new();
    let metric = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP postkit_{name} {help}");
        let _ = writeln!(out, "# TYPE postkit_{name} {kind}");
    };
    metric(
        &mut out,
        "master_execs_total",
        "counter",
        "Restarts and upgrades in place of the master.",
    );
    let _ = writeln!(out, "postkit_master_execs_total {}", m.execs);
    let gauges: [(&str, &str, Getter); 7] = [
        (
            "service_process_limit",
            "The service's process limit (0: none).",
            |s| s.ent.max_proc.max(0) as u64,
        ),
        ("service_processes", "Processes of the service.", |s| {
            s.total_proc() as u64
        }),
        ("service_busy", "Processes handling a request.", |s| {
            s.procs.busy() as u64
        }),
        ("service_idle", "Processes waiting for a request.", |s| {
            s.procs.avail() as u64
        }),
        (
            "service_throttled",
            "1 while the service is throttled.",
            |s| u64::from(s.throttled_until.is_some()),
        ),
        (
            "service_throttle_seconds_left",
            "Seconds until the throttle is lifted.",
            throttle_left,
        ),
        (
            "service_stress",
            "1 while the service is under stress (new processes get stress=yes).",
            |s| u64::from(s.under_stress()),
        ),
    ];
    let counters: [(&str, &str, Getter); 4] = [
        ("service_spawns_total", "Processes started.", |s| s.spawns),
        ("service_failures_total", "Processes that failed.", |s| {
            s.failures
        }),
        (
            "service_throttles_total",
            "Times the service was throttled.",
            |s| s.throttles,
        ),
        (
            "service_counters_ignored_total",
            "Counter fields from the service's processes that were refused.",
            |s| s.counters.ignored(),
        ),
    ];
    let labels = |s: &Service| {
        format!(
            "service=\"{}\",type=\"{}\"",
            label(&s.ent.ext_name),
            s.ent.kind.name()
        )
    };
    for (name, help, get) in gauges {
        metric(&mut out, name, "gauge", help);
        for s in services.iter() {
            let _ = writeln!(out, "postkit_{name}{{{}}} {}", labels(s), get(s));
        }
    }
    for (name, help, get) in counters {
        metric(&mut out, name, "counter", help);
        for s in services.iter() {
            let _ = writeln!(out, "postkit_{name}{{{}}} {}", labels(s), get(s));
        }
    }
    // The counters the services report, one metric per name.
    let stats: Vec<_> = services.iter().map(Service::stats).collect();
    let mut names: Vec<String> = stats.iter().flat_map(|c| c.keys().cloned()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let (metric_name, kind) = if name == "records_held" {
            (name.clone(), "gauge")
        } else {
            (format!("{name}_total"), "counter")
        };
        let metric_name = if name == "handled" {
            "service_datagrams_total".to_string()
        } else {
            format!("service_{metric_name}")
        };
        metric(
            &mut out,
            &metric_name,
            kind,
            &format!("The services' own counter {name}."),
        );
        for (s, counters) in services.iter().zip(&stats) {
            if let Some(v) = counters.get(&name) {
                let _ = writeln!(out, "postkit_{metric_name}{{{}}} {v}", labels(s));
            }
        }
    }
    out
}

/// `postkit status`: one line per service, with its counts.
pub fn text(m: &MasterInfo, services: &Services) -> String {
    let mut out = format!(
        "master pid {} {VERSION} configuration {} execs {}\n{:<20} {:<10} {:>5} {:>6} {:>5} {:>5} {:>7} {:>8}  {}\n",
        std::process::id(),
        m.config_dir,
        m.execs,
        "service",
        "type",
        "limit",
        "procs",
        "busy",
        "idle",
        "spawns",
        "failures",
        "throttled"
    );
    let now = Instant::now();
    for s in services.iter() {
        let throttled = match s.throttled_until {
            Some(t) => format!(
                "yes ({}s left, {} times)",
                t.saturating_duration_since(now).as_secs(),
                s.throttles
            ),
            None if s.throttles > 0 => format!("no ({} times)", s.throttles),
            None => "no".to_string(),
        };
        let throttled = match &s.last_failure {
            Some(why) if s.failures > 0 => format!("{throttled}; last failure: {why}"),
            _ => throttled,
        };
        let limit = if s.ent.max_proc == 0 {
            "-".to_string()
        } else {
            s.ent.max_proc.to_string()
        };
        out.push_str(&format!(
            "{:<20} {:<10} {:>5} {:>6} {:>5} {:>5} {:>7} {:>8}  {}\n",
            s.ent.ext_name,
            s.ent.kind.name(),
            limit,
            s.total_proc(),
            s.procs.busy(),
            s.procs.avail(),
            s.spawns,
            s.failures,
            throttled
        ));
    }
    out
}
