//! CPU time and wake-ups of processes, from /proc: schedstat's run time
//! in nanoseconds (every thread of the process), not the 10 ms ticks of
//! /proc/PID/stat, so that a few thousand records at 1,000/s measure.

/// Nanoseconds process `pid` (all its threads) has run, or None when it
/// is gone.
pub fn cpu_ns(pid: i32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0;
    for t in tasks.flatten() {
        let text = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
        total += text
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(total)
}

/// Voluntary context switches of process `pid` (its main thread): each
/// is one wait the process went into and woke from.
pub fn wakeups(pid: i32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The sum of `f` over `pids`; None if any of them is gone.
pub fn sum(pids: &[i32], f: fn(i32) -> Option<u64>) -> Option<u64> {
    pids.iter().map(|&p| f(p)).sum()
}

/// The pids of the processes whose argv mentions `needle` and whose
/// command name is `comm`.
pub fn pids_of(comm: &str, needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let c = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if c.trim() != comm {
            continue;
        }
        let argv = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&argv).contains(needle) {
            out.push(pid);
        }
    }
    out
}

/// Nanoseconds this process has run, every thread counted, the ones that
/// have exited too (a round's sender threads are gone when it ends).
pub fn own_cpu_ns() -> u64 {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_SELF).map_or(0, |u| {
        let ns = |t: nix::sys::time::TimeVal| {
            t.tv_sec() as u64 * 1_000_000_000 + t.tv_usec() as u64 * 1000
        };
        ns(u.user_time()) + ns(u.system_time())
    })
}
