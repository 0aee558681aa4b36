//! The whole mail host as the yardstick (issue 25.1): a private copy of
//! Debian's stock configuration (SMTP on a loopback port, private queue,
//! data and log, `default_transport = discard`, so that every message is
//! received by smtpd, queued by cleanup, scheduled by qmgr and discarded by
//! discard(8)), loaded by Postfix's own `smtp-source` (one message per
//! connection, 512-byte bodies), under three configurations, rounds
//! interleaved: Postfix's master with Postfix's postlogd, postkit's master
//! with postkit's postlogd, and postkit's master with Postfix's postlogd
//! (to tell the two apart).  CPU comes from a cpuacct cgroup that holds
//! the master and everything it starts (the whole system), and from
//! /proc schedstat for the master and the log daemon.  Beside each load a
//! probe sends records of its own into the host's log socket at a steady
//! rate and times each to the file: the log service's latency when every
//! core is busy, which bounds what it may do to save wake-ups (issue 25.2).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use postkit_kit::stock::StockHost;

use crate::cpu;
use crate::stats::{Stats, fmt_range, percentile, stats};

const SESSIONS: [u32; 3] = [1, 20, 100];

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Config {
    Postfix,
    Postkit,
    PostkitWithPostfixLog,
}

impl Config {
    fn name(self) -> &'static str {
        match self {
            Config::Postfix => "Postfix master + Postfix postlogd",
            Config::Postkit => "postkit master + postkit postlogd",
            Config::PostkitWithPostfixLog => "postkit master + Postfix postlogd",
        }
    }
}

/// A cpuacct cgroup of the bench's own, removed on drop.
struct Cgroup(PathBuf);

impl Cgroup {
    fn new(tag: &str) -> Result<Cgroup, String> {
        let root = Path::new("/sys/fs/cgroup/cpuacct");
        if !root.join("cpuacct.usage").exists() {
            return Err("no cgroup v1 cpuacct hierarchy at /sys/fs/cgroup/cpuacct".into());
        }
        let dir = root.join(format!("postkit-bench-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Cgroup(dir))
    }

    fn usage_ns(&self) -> u64 {
        std::fs::read_to_string(self.0.join("cpuacct.usage"))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
    }

    /// `program args` started inside the cgroup (so is everything it
    /// forks); its exit status.
    fn run(&self, program: &Path, args: &[&str]) -> Result<(), String> {
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg("echo $$ > \"$0\" && exec \"$@\"")
            .arg(self.0.join("cgroup.procs"))
            .arg(program)
            .args(args)
            .env_remove("MAIL_CONFIG")
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "{} {args:?}: {}",
                program.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// A stock host whose daemon_directory holds Postfix's daemons, and
/// postkit's postlogd in place of Postfix's for `Config::Postkit`.
pub(crate) fn host(config: Config) -> StockHost {
    let host = StockHost::new(false);
    let libexec = host.path().join("libexec");
    std::fs::create_dir(&libexec).expect("libexec");
    for entry in std::fs::read_dir("/usr/lib/postfix/sbin")
        .expect("Postfix's daemons")
        .flatten()
    {
        let target = if entry.file_name() == "postlogd" && config == Config::Postkit {
            postkit_kit::postkit_exe()
        } else {
            entry.path()
        };
        std::os::unix::fs::symlink(target, libexec.join(entry.file_name())).expect("symlink");
    }
    let main_cf = host.path().join("main.cf");
    let mut text = std::fs::read_to_string(&main_cf).expect("main.cf");
    text.push_str(&format!(
        "daemon_directory = {}\ndefault_transport = discard\n",
        libexec.display()
    ));
    std::fs::write(&main_cf, text).expect("main.cf");
    host
}

fn master_pid(host: &StockHost) -> i32 {
    std::fs::read_to_string(host.path().join("queue/pid/master.pid"))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

fn start(config: Config, host: &StockHost, cg: &Cgroup) -> Result<(), String> {
    let d = host.path().display().to_string();
    match config {
        Config::Postfix => cg.run(&host.path().join("libexec/master"), &["-c", &d, "-w"]),
        _ => cg.run(&postkit_kit::postkit_exe(), &["-c", &d, "start"]),
    }
}

fn stop(config: Config, host: &StockHost) {
    let pid = master_pid(host);
    match config {
        Config::Postfix => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        _ => {
            let _ = host.postkit(&["stop"]);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while postkit_kit::procs::alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Children a master left (none should be) would count in the next
    // round of the cgroup.
    std::thread::sleep(Duration::from_millis(300));
}

/// The log daemon of a running host.
fn postlogd_pid(host: &StockHost) -> Option<i32> {
    let marker = format!("MAIL_CONFIG={}", host.path().display());
    postkit_kit::procs::find_process("postlogd", &marker).map(|(p, _)| p)
}

struct Sample {
    rate: f64,
    /// Microseconds of CPU per message: whole system, master, log daemon.
    cpu_us: (f64, f64, f64),
    master_wakeups: f64,
    log_wakeups: f64,
    log_lines: f64,
    /// The probe's records: microseconds from send() to the file.
    latencies_us: Vec<f64>,
}

/// Records of the bench's own, sent into the host's log socket at this
/// rate while the load runs, with the time each spends on its way into
/// the file: what the log service holds a record for when every core is
/// busy (issue 25.2's latency bound, measured where it matters).
const PROBE_RATE: u64 = 500;
/// The probe's records are tagged as paced round PROBE_ROUND.
const PROBE_ROUND: usize = 7777;

/// A sender and a tailer of probe records, running beside a load.
struct Probe {
    stop: Arc<AtomicBool>,
    total: Arc<AtomicUsize>,
    sender: std::thread::JoinHandle<Result<usize, String>>,
    tailer: std::thread::JoinHandle<Result<Vec<f64>, String>>,
}

impl Probe {
    fn start(host: &StockHost) -> Probe {
        let log = host.path().join("maillog");
        let socket = host.path().join("queue/public/postlog");
        let from = crate::throughput::log_len(&log);
        let base = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let total = Arc::new(AtomicUsize::new(usize::MAX));
        let tailer = {
            let total = total.clone();
            std::thread::spawn(move || crate::paced::tail(&log, from, PROBE_ROUND, &total, base))
        };
        // The tailer watches before the first record goes out.
        std::thread::sleep(Duration::from_millis(50));
        let sender = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                crate::paced::send_paced_while(
                    &socket,
                    PROBE_RATE,
                    |_| !stop.load(Ordering::Acquire),
                    |seq| crate::paced::record(PROBE_ROUND, seq, base.elapsed().as_nanos()),
                )
            })
        };
        Probe {
            stop,
            total,
            sender,
            tailer,
        }
    }

    /// Stops sending; how many were sent, and the latency of each once
    /// every one is in the file.
    fn finish(self) -> Result<(usize, Vec<f64>), String> {
        self.stop.store(true, Ordering::Release);
        let sent = self.sender.join().map_err(|_| "the probe sender failed")?;
        // The tailer must stop even if the sender failed.
        self.total
            .store(*sent.as_ref().unwrap_or(&0), Ordering::Release);
        let latencies = self
            .tailer
            .join()
            .map_err(|_| "the probe tailer failed")??;
        Ok((sent?, latencies))
    }
}

/// Messages discarded so far (discard(8) logs `status=sent`).
fn discarded(log: &str) -> usize {
    log.matches("status=sent").count()
}

/// One load: `messages` messages over `sessions` sessions; measured until
/// every one was discarded.
fn one_load(
    host: &StockHost,
    cg: &Cgroup,
    sessions: u32,
    messages: usize,
) -> Result<Sample, String> {
    let log_before = host.log();
    let sent_before = discarded(&log_before);
    let lines_before = log_before.lines().count();
    let master = master_pid(host);
    let logd = postlogd_pid(host);
    let probe = Probe::start(host);
    // CPU of the whole system, the master and the log daemon, and the
    // wake-ups of the last two.
    let read = || {
        (
            cg.usage_ns(),
            cpu::cpu_ns(master).unwrap_or(0),
            logd.and_then(cpu::cpu_ns).unwrap_or(0),
            cpu::wakeups(master).unwrap_or(0),
            logd.and_then(cpu::wakeups).unwrap_or(0),
        )
    };
    let (cg0, m0, l0, w0, lw0) = read();
    let started = Instant::now();
    let out = Command::new("/usr/sbin/smtp-source")
        .args([
            "-s",
            &sessions.to_string(),
            "-m",
            &messages.to_string(),
            "-l",
            "512",
            "-f",
            "bench@example.com",
            "-t",
            "sink@example.com",
            &format!("127.0.0.1:{}", host.port),
        ])
        .output()
        .map_err(|e| format!("smtp-source: {e}"))?;
    if !out.status.success() {
        let _ = probe.finish();
        return Err(format!(
            "smtp-source: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let want = sent_before + messages;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let log = host.log();
        if discarded(&log) >= want {
            break;
        }
        if Instant::now() > deadline {
            let _ = probe.finish();
            return Err(format!(
                "{} of {messages} messages discarded",
                discarded(&log) - sent_before
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let n = messages as f64;
    let us = |a: u64, b: u64| a.saturating_sub(b) as f64 / n / 1000.0;
    let (cg1, m1, l1, w1, lw1) = read();
    let (probes, latencies_us) = probe.finish()?;
    let lines = host.log().lines().count() - lines_before;
    Ok(Sample {
        rate: n / elapsed,
        cpu_us: (us(cg1, cg0), us(m1, m0), us(l1, l0)),
        master_wakeups: w1.saturating_sub(w0) as f64 / n,
        log_wakeups: lw1.saturating_sub(lw0) as f64 / n,
        log_lines: lines.saturating_sub(probes) as f64 / n,
        latencies_us,
    })
}

/// Every probe record's latency over the rounds of one cell, sorted.
fn latencies(v: &[Sample]) -> Vec<f64> {
    let mut lat: Vec<f64> = v.iter().flat_map(|s| s.latencies_us.clone()).collect();
    lat.sort_by(f64::total_cmp);
    lat
}

pub fn run(rounds: usize, scale: f64) -> Result<(), String> {
    println!(
        "\n## The whole mail host: Debian's stock configuration, smtp-source into smtpd, cleanup, qmgr and discard(8)\n"
    );
    let configs = [
        Config::Postfix,
        Config::Postkit,
        Config::PostkitWithPostfixLog,
    ];
    let messages = ((2000.0 * scale) as usize).max(200);
    let rounds = rounds.min(3);
    let hosts: Vec<(Config, StockHost, Cgroup)> = configs
        .iter()
        .enumerate()
        .map(|(i, &c)| Ok((c, host(c), Cgroup::new(&i.to_string())?)))
        .collect::<Result<_, String>>()?;
    // samples[config][sessions]
    let mut samples: Vec<Vec<Vec<Sample>>> = configs
        .iter()
        .map(|_| SESSIONS.iter().map(|_| Vec::new()).collect())
        .collect();
    for round in 0..rounds {
        for (ci, (config, host, cg)) in hosts.iter().enumerate() {
            start(*config, host, cg)?;
            // Warm-up: the first smtpd, cleanup, trivial-rewrite.
            let _ = one_load(host, cg, 1, 20);
            for (si, &sessions) in SESSIONS.iter().enumerate() {
                let s = one_load(host, cg, sessions, messages);
                match s {
                    Ok(s) => {
                        eprintln!(
                            "  round {round}: {:<36} {sessions:>3} sessions: {:.0} msg/s",
                            config.name(),
                            s.rate
                        );
                        samples[ci][si].push(s);
                    }
                    Err(e) => {
                        stop(*config, host);
                        return Err(format!("{}: {e}", config.name()));
                    }
                }
            }
            stop(*config, host);
        }
    }
    println!(
        "{messages} messages per load, one per connection, 512-byte bodies; median (min-max) of {rounds} rounds; CPU in microseconds per message; \
         log wake-ups: the log daemon's voluntary context switches per message; \
         log records per message not counting the probe's ({PROBE_RATE}/s of the bench's own, timed from send() to the file: \
         p50 / p99 / max over every round)\n"
    );
    println!(
        "| configuration | sessions | msg/s | whole system CPU | master CPU | log daemon CPU | master + log | master wake-ups | log wake-ups | log records | probe latency p50 / p99 / max |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let med = |v: &[Sample], f: fn(&Sample) -> f64| -> Stats {
        stats(&v.iter().map(f).collect::<Vec<_>>())
    };
    for (ci, config) in configs.iter().enumerate() {
        for (si, sessions) in SESSIONS.iter().enumerate() {
            let v = &samples[ci][si];
            let lat = latencies(v);
            println!(
                "| {} | {sessions} | {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} / {:.0} / {:.0} µs |",
                config.name(),
                fmt_range(&med(v, |s| s.rate), 0),
                fmt_range(&med(v, |s| s.cpu_us.0), 0),
                fmt_range(&med(v, |s| s.cpu_us.1), 1),
                fmt_range(&med(v, |s| s.cpu_us.2), 1),
                med(v, |s| s.cpu_us.1 + s.cpu_us.2).median,
                med(v, |s| s.master_wakeups).median,
                med(v, |s| s.log_wakeups).median,
                med(v, |s| s.log_lines).median,
                percentile(&lat, 50.0),
                percentile(&lat, 99.0),
                lat.last().copied().unwrap_or(0.0),
            );
        }
    }
    println!(
        "\n| ratio, postkit / Postfix | sessions | msg/s (target >= 1) | master + log CPU per message (target <= 0.33) | log wake-ups per message | probe p99 under load (target <= 1) |"
    );
    println!("|---|---|---|---|---|---|");
    for (si, sessions) in SESSIONS.iter().enumerate() {
        let rate = |ci: usize| med(&samples[ci][si], |s| s.rate).median;
        let ml = |ci: usize| med(&samples[ci][si], |s| s.cpu_us.1 + s.cpu_us.2).median;
        let wakeups = |ci: usize| med(&samples[ci][si], |s| s.log_wakeups).median;
        let p99 = |ci: usize| percentile(&latencies(&samples[ci][si]), 99.0);
        println!(
            "| postkit master + postkit postlogd | {sessions} | {:.2} | {:.2} | {:.2} | {:.2} |",
            rate(1) / rate(0),
            ml(1) / ml(0),
            wakeups(1) / wakeups(0),
            p99(1) / p99(0),
        );
    }
    Ok(())
}
