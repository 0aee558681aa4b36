//! The counters a service's processes report on stderr (no Postfix
//! counterpart; see `dgram_server::STATS_PREFIX`), kept per service for
//! `status --json` and `--prometheus`.
//!
//! The channel is a child's own stderr, so what arrives is whatever a
//! compromised service writes.  Only the pid check makes a line count at
//! all (a child speaks for itself, in its own service); beyond it, the
//! names are a fixed set per skeleton plus at most `MAX_DECLARED` a service
//! may add, each a plain metric-name word that cannot pass for one of the
//! master's own metrics; any other name is ignored and counted, so that a
//! child can neither break the exposition format nor grow the master.
//! Values saturate instead of wrapping.

use std::collections::{BTreeMap, HashMap};

/// The counters every skeleton process reports, and postlogd's.
pub const KNOWN: &[&str] = &[
    "handled",
    "empty_wakeups",
    "records_written",
    "bytes_written",
    "records_held",
    "records_dropped",
    "cut_records_removed",
];

/// Names a service may not declare: they would read as (or, with
/// Prometheus's `_total` suffix, collide with) the master's own metrics.
const RESERVED: &[&str] = &[
    "pid",
    "process_limit",
    "processes",
    "busy",
    "idle",
    "spawns",
    "failures",
    "throttled",
    "throttle_seconds_left",
    "throttles",
    "stress",
    "datagrams",
    "counters_ignored",
];

/// Most names a service may add to `KNOWN`.
pub const MAX_DECLARED: usize = 16;

/// Longest counter name.
const NAME_MAX: usize = 40;

/// Most reaped children whose last report is kept (a report that arrives
/// after the reap adds only what is new).
const RETIRED_MAX: usize = 64;

/// Whether `name` is a word a service may declare as a counter.
fn declarable(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= NAME_MAX
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
        && !name.ends_with("_total")
        && !RESERVED.contains(&name)
}

/// One service's counters.
#[derive(Debug, Default)]
pub struct Counters {
    /// What each running child last reported.
    live: HashMap<i32, Vec<(usize, u64)>>,
    /// The children that have exited, summed, by name index.
    done: BTreeMap<usize, u64>,
    /// The last reports of recently reaped children.
    retired: HashMap<i32, Vec<(usize, u64)>>,
    /// The names beyond `KNOWN` this service's processes declared.
    declared: Vec<String>,
    /// Counter fields refused (unknown name over the limit, bad name,
    /// bad value).
    ignored: u64,
}

impl Counters {
    /// The index of `name`, declaring it when there is room.
    fn index(&mut self, name: &str) -> Option<usize> {
        if let Some(i) = KNOWN.iter().position(|k| *k == name) {
            return Some(i);
        }
        if let Some(i) = self.declared.iter().position(|d| d == name) {
            return Some(KNOWN.len() + i);
        }
        if self.declared.len() < MAX_DECLARED && declarable(name) {
            self.declared.push(name.to_string());
            return Some(KNOWN.len() + self.declared.len() - 1);
        }
        None
    }

    fn name(&self, i: usize) -> &str {
        KNOWN
            .get(i)
            .copied()
            .unwrap_or_else(|| &self.declared[i - KNOWN.len()])
    }

    fn add_done(&mut self, i: usize, value: u64) {
        let sum = self.done.entry(i).or_default();
        *sum = sum.saturating_add(value);
    }

    /// A child's report `pid=P name=value ...`; `running` says whether the
    /// pid is one of the service's children.
    pub fn record(&mut self, line: &str, running: impl Fn(i32) -> bool) {
        let mut fields = line.split(' ').filter(|f| !f.is_empty());
        // The pid first: a line that speaks for no child of this service
        // declares and counts nothing.
        let Some(pid) = fields
            .find_map(|f| f.strip_prefix("pid="))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            return;
        };
        let live = running(pid);
        if !live && !self.retired.contains_key(&pid) {
            return;
        }
        let mut seen_pid = false;
        let mut values = Vec::new();
        for field in line.split(' ').filter(|f| !f.is_empty()) {
            let parsed = field
                .split_once('=')
                .and_then(|(n, v)| Some((n, v.parse::<u64>().ok()?)));
            match parsed {
                Some(("pid", _)) if !seen_pid => seen_pid = true,
                Some((name, value)) => match self.index(name) {
                    Some(i) if !values.iter().any(|(j, _)| *j == i) => values.push((i, value)),
                    _ => self.ignored = self.ignored.saturating_add(1),
                },
                None => self.ignored = self.ignored.saturating_add(1),
            }
        }
        if live {
            self.live.insert(pid, values);
        } else if let Some(before) = self.retired.remove(&pid) {
            for (i, value) in values {
                let old = before.iter().find(|(j, _)| *j == i).map_or(0, |(_, v)| *v);
                self.add_done(i, value.saturating_sub(old));
            }
        }
    }

    /// A child is gone: its last report joins the totals.
    pub fn retire(&mut self, pid: i32) {
        let last = self.live.remove(&pid).unwrap_or_default();
        for &(i, value) in &last {
            self.add_done(i, value);
        }
        if self.retired.len() >= RETIRED_MAX {
            self.retired.clear();
        }
        self.retired.insert(pid, last);
    }

    /// Every counter, over the children that ran and run.
    pub fn totals(&self) -> BTreeMap<String, u64> {
        let mut sums = self.done.clone();
        for &(i, value) in self.live.values().flatten() {
            let sum = sums.entry(i).or_default();
            *sum = sum.saturating_add(value);
        }
        sums.into_iter()
            .map(|(i, v)| (self.name(i).to_string(), v))
            .collect()
    }

    /// Fields refused so far.
    pub fn ignored(&self) -> u64 {
        self.ignored
    }

    /// The state as the hand-over carries it to the next program
    /// (restart, upgrade): `ignored;done;pid/live;pid/live...`, each list
    /// of counters as `name:value,...`.  The new master continues exactly
    /// where this one is: a running child's next report replaces its part.
    pub fn handover_text(&self) -> String {
        let list = |values: &mut dyn Iterator<Item = (usize, u64)>| -> String {
            values
                .map(|(i, v)| format!("{}:{v}", self.name(i)))
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut text = format!(
            "{};{}",
            self.ignored,
            list(&mut self.done.iter().map(|(i, v)| (*i, *v)))
        );
        for (pid, values) in &self.live {
            text.push_str(&format!(";{pid}/{}", list(&mut values.iter().copied())));
        }
        text
    }

    /// Counters from a hand-over; names are checked as a child's are.
    pub fn from_handover(text: &str) -> Counters {
        let mut c = Counters::default();
        let mut parts = text.split(';');
        c.ignored = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        let list = |c: &mut Counters, text: &str| -> Vec<(usize, u64)> {
            text.split(',')
                .filter_map(|field| {
                    let (name, value) = field.split_once(':')?;
                    let value = value.parse::<u64>().ok()?;
                    Some((c.index(name)?, value))
                })
                .collect()
        };
        for (i, v) in list(&mut c, parts.next().unwrap_or("")) {
            c.add_done(i, v);
        }
        for part in parts {
            if let Some((pid, values)) = part.split_once('/')
                && let Ok(pid) = pid.parse::<i32>()
            {
                let values = list(&mut c, values);
                c.live.insert(pid, values);
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_add_up_and_retire() {
        let mut c = Counters::default();
        c.record("pid=1 handled=5 empty_wakeups=0", |_| true);
        c.record("pid=2 handled=7", |_| true);
        c.record("pid=1 handled=6", |_| true);
        assert_eq!(c.totals()["handled"], 13);
        c.retire(1);
        c.record("pid=1 handled=9", |_| false);
        assert_eq!(c.totals()["handled"], 16);
    }

    #[test]
    fn names_outside_the_set_are_ignored_and_counted() {
        let mut c = Counters::default();
        c.record(
            "pid=1 bad\"name=1 uni\u{2603}=2 x{}=3 #HELP=4 spawns=0 failures=0 datagrams=1 handled=18446744073709551615",
            |_| true,
        );
        c.record("pid=2 handled=5", |_| true);
        let t = c.totals();
        assert_eq!(t.keys().collect::<Vec<_>>(), vec!["handled"]);
        assert_eq!(t["handled"], u64::MAX, "saturates instead of wrapping");
        assert_eq!(c.ignored(), 7);
    }

    #[test]
    fn a_line_for_no_child_of_the_service_counts_nothing() {
        let mut c = Counters::default();
        c.record("pid=9 mine=1 bad\"name=2 handled=3", |_| false);
        c.record("handled=3 other=1", |_| true);
        assert!(c.totals().is_empty());
        assert_eq!(c.ignored(), 0);
        assert!(c.declared.is_empty());
    }

    #[test]
    fn a_service_declares_a_bounded_number_of_names() {
        let mut c = Counters::default();
        for n in 0..60_000 {
            c.record(&format!("pid=1 name{n}=1"), |_| true);
            c.retire(1);
        }
        assert_eq!(c.totals().len(), MAX_DECLARED);
        assert_eq!(c.ignored(), 60_000 - MAX_DECLARED as u64);
        assert!(c.declared.iter().all(|d| declarable(d)));
    }

    #[test]
    fn the_handover_carries_the_totals() {
        let mut c = Counters::default();
        c.record("pid=1 handled=5 mine=2 nonsense", |_| true);
        let text = c.handover_text();
        let mut d = Counters::from_handover(&text);
        assert_eq!(d.totals(), c.totals());
        assert_eq!(d.ignored(), 1);
        // The running child's next report replaces its part.
        d.record("pid=1 handled=6 mine=2", |_| true);
        assert_eq!(d.totals()["handled"], 6);
        assert!(
            Counters::from_handover("0;spawns:5,x{}:1,handled:2")
                .totals()
                .keys()
                .eq(["handled"])
        );
    }
}
