//! The cost a host pays at the rates mail hosts really log, and how long a
//! record waits: a paced sender at fixed rates; CPU time (master and log
//! daemon, every thread, from schedstat) per record, and the latency from
//! send() to the record being in the file, read by a tailer woken by
//! inotify (its own wake-up is in every target's figure alike).

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use crate::cpu;
use crate::stats::{Stats, percentile, stats};
use crate::throughput::log_len;

pub const RATES: &[u64] = &[1_000, 10_000, 50_000, 100_000];

pub struct PacedTarget<'a> {
    pub name: &'static str,
    pub socket: PathBuf,
    pub log: PathBuf,
    /// The processes whose CPU time is the target's cost (master and log
    /// daemon; rsyslogd).
    pub pids: Box<dyn Fn() -> Vec<i32> + 'a>,
    /// How many of them there are while the target runs.
    pub processes: usize,
}

/// Sends a record that is not the round's and waits until every process
/// of the target runs (a log daemon may have exited on its idle timer
/// while the other targets had their turn).
fn wake(t: &PacedTarget) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let s = UnixDatagram::unbound().map_err(|e| e.to_string())?;
    s.send_to(&record(9999, 0, 0), &t.socket)
        .map_err(|e| e.to_string())?;
    loop {
        let before = (t.pids)();
        std::thread::sleep(Duration::from_millis(30));
        if before.len() == t.processes && (t.pids)() == before {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{}: its processes did not start", t.name));
        }
    }
}

struct Round {
    cpu_ns_per_record: f64,
    latencies_us: Vec<f64>,
}

const TAG: &str = " pace r";

pub fn record(round: usize, seq: usize, stamp_ns: u128) -> Vec<u8> {
    let mut d = format!("Nov 24 09:00:00 bench{TAG}{round}[1]: t={stamp_ns:016} seq={seq:08} ")
        .into_bytes();
    d.resize(120, b'x');
    d
}

/// Reads what `log` gains from `from` on, until `total` of the round's
/// records are there (a sender that does not know how many it will send
/// leaves it at usize::MAX until it does); the latency of each, in
/// microseconds.
pub fn tail(
    log: &Path,
    from: u64,
    round: usize,
    total: &AtomicUsize,
    base: Instant,
) -> Result<Vec<f64>, String> {
    let inotify =
        Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).map_err(|e| e.to_string())?;
    inotify
        .add_watch(log, AddWatchFlags::IN_MODIFY)
        .map_err(|e| format!("inotify {}: {e}", log.display()))?;
    let mut f = std::fs::File::open(log).map_err(|e| e.to_string())?;
    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(from)).map_err(|e| e.to_string())?;
    let tag = format!("{TAG}{round}[1]: t=");
    let mut pending = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    while out.len() < total.load(Ordering::Acquire) {
        let n = f.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            if Instant::now() > deadline {
                return Err(format!(
                    "only {} of {} paced records arrived",
                    out.len(),
                    total.load(Ordering::Acquire)
                ));
            }
            // Wait for a write, then take its events: taken before the
            // wait, an event for a write that came after the read above
            // would be lost, and that record would wait for the next one.
            let mut p = [PollFd::new(inotify.as_fd(), PollFlags::POLLIN)];
            let _ = nix::poll::poll(&mut p, PollTimeout::from(100u16));
            let _ = inotify.read_events();
            continue;
        }
        let now = base.elapsed().as_nanos();
        pending.extend_from_slice(&buf[..n]);
        let mut start = 0;
        while let Some(end) = pending[start..].iter().position(|b| *b == b'\n') {
            let line = &pending[start..start + end];
            start += end + 1;
            let line = String::from_utf8_lossy(line);
            if let Some(i) = line.find(&tag)
                && let Some(stamp) = line.get(i + tag.len()..i + tag.len() + 16)
                && let Ok(stamp) = stamp.parse::<u128>()
            {
                out.push(now.saturating_sub(stamp) as f64 / 1000.0);
            }
        }
        pending.drain(..start);
    }
    Ok(out)
}

/// Sends `total` datagrams into `socket` at `rate` per second, the one
/// numbered `seq` made by `make(seq)` when it is due (a sender that
/// oversleeps catches up, so the rate holds on average).
pub fn send_paced(
    socket: &Path,
    rate: u64,
    total: usize,
    make: impl FnMut(usize) -> Vec<u8>,
) -> Result<(), String> {
    send_paced_while(socket, rate, |seq| seq < total, make).map(|_| ())
}

/// The same for as long as `more(seq)` says; how many were sent.
pub fn send_paced_while(
    socket: &Path,
    rate: u64,
    mut more: impl FnMut(usize) -> bool,
    mut make: impl FnMut(usize) -> Vec<u8>,
) -> Result<usize, String> {
    let s = UnixDatagram::unbound().map_err(|e| e.to_string())?;
    s.connect(socket)
        .map_err(|e| format!("{}: {e}", socket.display()))?;
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut seq = 0;
    while more(seq) {
        let due = started + interval * seq as u32;
        if let Some(left) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(left);
        }
        s.send(&make(seq)).map_err(|e| e.to_string())?;
        seq += 1;
    }
    Ok(seq)
}

fn round(t: &PacedTarget, rate: u64, secs: f64, round_no: usize) -> Result<Round, String> {
    let total = ((rate as f64 * secs) as usize).max(100);
    wake(t)?;
    let from = log_len(&t.log);
    let base = Instant::now();
    let log = t.log.clone();
    let reader =
        std::thread::spawn(move || tail(&log, from, round_no, &AtomicUsize::new(total), base));
    // The tailer watches before the first record goes out.
    std::thread::sleep(Duration::from_millis(50));
    let pids = (t.pids)();
    let cpu_before = cpu::sum(&pids, cpu::cpu_ns).ok_or("a process went away")?;
    send_paced(&t.socket, rate, total, |seq| {
        record(round_no, seq, base.elapsed().as_nanos())
    })?;
    let latencies = reader.join().map_err(|_| "the tailer failed")??;
    let cpu_after = cpu::sum(&pids, cpu::cpu_ns)
        .ok_or_else(|| format!("{}: a process went away during the round", t.name))?;
    if (t.pids)() != pids {
        return Err(format!(
            "{}: its processes changed during the round",
            t.name
        ));
    }
    Ok(Round {
        cpu_ns_per_record: (cpu_after - cpu_before) as f64 / total as f64,
        latencies_us: latencies,
    })
}

/// Every rate against every target, rounds interleaved; prints CPU per
/// record and latency, and the ratios the targets are judged by.
pub fn run(targets: &[PacedTarget], rates: &[u64], rounds: usize, secs: f64) -> Result<(), String> {
    println!(
        "\n## Paced load: CPU per record and latency ({rounds} rounds of {secs} s per rate)\n"
    );
    // Each target runs (and has a log file) before its first round.
    for t in targets {
        wake(t)?;
    }
    println!(
        "{:<8} {:<18} {:>20} {:>10} {:>10} {:>10}",
        "rate/s", "target", "CPU us/record", "p50 us", "p99 us", "max us"
    );
    let mut cpu_table: Vec<(u64, &'static str, Stats)> = Vec::new();
    let mut p99_table: Vec<(u64, &'static str, f64)> = Vec::new();
    for &rate in rates {
        let mut cpu = vec![Vec::new(); targets.len()];
        let mut lat = vec![Vec::new(); targets.len()];
        for r in 0..rounds {
            for (i, t) in targets.iter().enumerate() {
                let got = round(t, rate, secs, r)?;
                cpu[i].push(got.cpu_ns_per_record / 1000.0);
                lat[i].extend(got.latencies_us);
            }
        }
        for (i, t) in targets.iter().enumerate() {
            let c = stats(&cpu[i]);
            lat[i].sort_by(f64::total_cmp);
            let (p50, p99, max) = (
                percentile(&lat[i], 50.0),
                percentile(&lat[i], 99.0),
                lat[i].last().copied().unwrap_or(0.0),
            );
            println!(
                "{rate:<8} {:<18} {:>20} {p50:>10.0} {p99:>10.0} {max:>10.0}",
                t.name,
                crate::stats::fmt_range(&c, 2)
            );
            cpu_table.push((rate, t.name, c));
            p99_table.push((rate, t.name, p99));
        }
    }
    println!();
    println!(
        "{:<8} {:>22} {:>22} {:>20}",
        "rate/s", "CPU postkit/Postfix", "CPU postkit/rsyslog", "p99 postkit/Postfix"
    );
    for &rate in rates {
        let cpu = |name: &str| {
            cpu_table
                .iter()
                .find(|(r, n, _)| *r == rate && *n == name)
                .map(|(_, _, s)| s.median)
        };
        let p99 = |name: &str| {
            p99_table
                .iter()
                .find(|(r, n, _)| *r == rate && *n == name)
                .map(|(_, _, v)| *v)
        };
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
            _ => "-".to_string(),
        };
        println!(
            "{rate:<8} {:>22} {:>22} {:>20}",
            ratio(cpu("postkit postlogd"), cpu("Postfix postlogd")),
            ratio(cpu("postkit postlogd"), cpu("rsyslog")),
            ratio(p99("postkit postlogd"), p99("Postfix postlogd")),
        );
    }
    Ok(())
}
