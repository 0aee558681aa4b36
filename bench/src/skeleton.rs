//! The skeleton for any service, against the seed's own: one small
//! service written twice, on Postfix's dgram_server (bench/c/dgram_count.c,
//! compiled here and linked against Debian's libpostfix-master.so) and on
//! postkit's (`bench_count`), each with a null handler, with 20 us of
//! fixed work per datagram and with a 1 ms wait per datagram (what a pool
//! is for: a handler that waits on something), each under both masters,
//! with process limits 1, 2 and 4 (the pool lock at work) and 1, 2 and 4
//! blocking senders.
//! Every datagram sent is counted by the services before a round ends.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use postkit_kit::instance::{Instance, POSTLOG};
use postkit_kit::postfix::PostfixInstance;

use crate::cpu;
use crate::stats::{Stats, fmt_range, stats};

const C_SOURCE: &str = include_str!("../c/dgram_count.c");
const LIMITS: &[u32] = &[1, 2, 4];
const SENDERS: &[usize] = &[1, 2, 4];
const SPIN_NS: u64 = 20_000;
const SLEEP_NS: u64 = 1_000_000;

/// What the handler does per datagram.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Work {
    Null,
    Spin,
    Wait,
}

/// One master.cf service of the section.
struct Svc {
    /// "Postfix" (the C twin) or "postkit".
    skeleton: &'static str,
    work: Work,
    limit: u32,
}

impl Svc {
    fn name(&self) -> String {
        format!(
            "{}{}{}",
            if self.skeleton == "Postfix" { "c" } else { "r" },
            match self.work {
                Work::Null => "n",
                Work::Spin => "s",
                Work::Wait => "w",
            },
            self.limit
        )
    }
    fn command(&self) -> &'static str {
        if self.skeleton == "Postfix" {
            "dgram_count"
        } else {
            "bench_count"
        }
    }
    fn handler(&self) -> &'static str {
        match self.work {
            Work::Null => "null",
            Work::Spin => "20 us",
            Work::Wait => "1 ms wait",
        }
    }
}

fn services() -> Vec<Svc> {
    let mut v = Vec::new();
    for skeleton in ["Postfix", "postkit"] {
        for work in [Work::Null, Work::Spin, Work::Wait] {
            for &limit in LIMITS {
                v.push(Svc {
                    skeleton,
                    work,
                    limit,
                });
            }
        }
    }
    v
}

/// Compiles the C twin; its path.
pub fn build_c(dir: &Path) -> Result<PathBuf, String> {
    build_c_as(dir, "dgram_count", &[])
}

/// Compiles dgram_count.c as `name` with `defines` (-DTRIGGER: on
/// trigger_server); its path.
pub fn build_c_as(dir: &Path, name: &str, defines: &[String]) -> Result<PathBuf, String> {
    let src = dir.join("dgram_count.c");
    let exe = dir.join(name);
    std::fs::write(&src, C_SOURCE).map_err(|e| e.to_string())?;
    postkit_kit::postfix::build_c_service(&src, &exe, defines)?;
    Ok(exe)
}

/// A master with every service of the section; the counter files live in
/// `counters`.
enum AnyMaster {
    Postkit(Instance),
    Postfix(PostfixInstance),
}

impl AnyMaster {
    fn master_pid(&self) -> i32 {
        match self {
            AnyMaster::Postkit(i) => i.master_pid(),
            AnyMaster::Postfix(p) => p.master_pid().unwrap_or(0),
        }
    }

    fn socket(&self, name: &str) -> PathBuf {
        match self {
            AnyMaster::Postkit(i) => i.path().join("queue/public").join(name),
            AnyMaster::Postfix(p) => p.dir.path().join("spool/public").join(name),
        }
    }
}

fn master_cf(counters: &Path) -> String {
    services()
        .iter()
        .map(|s| {
            format!(
                "{} unix-dgram n n n - {} {} {} {} {}\n",
                s.name(),
                s.limit,
                s.command(),
                counters.join(s.name()).display(),
                if s.work == Work::Spin { SPIN_NS } else { 0 },
                if s.work == Work::Wait { SLEEP_NS } else { 0 }
            )
        })
        .collect()
}

fn counter(path: &Path) -> u64 {
    use std::os::unix::fs::FileExt;
    let mut b = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|f| f.read_exact_at(&mut b, 0))
        .map(|_| u64::from_ne_bytes(b))
        .unwrap_or(0)
}

fn make_counters(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    for s in services() {
        crate::count_service::new_counter(&dir.join(s.name()))?;
    }
    Ok(())
}

/// One round into `socket`: `count` datagrams from `senders` blocking
/// senders; datagrams per second until `counter_file` counted them all.
pub fn count_round(
    socket: &Path,
    counter_file: &Path,
    senders: usize,
    count: usize,
) -> Result<f64, String> {
    let before = counter(counter_file);
    let per = count / senders;
    let started = Instant::now();
    let threads: Vec<_> = (0..senders)
        .map(|_| {
            let socket = socket.to_path_buf();
            std::thread::spawn(move || -> std::io::Result<()> {
                let s = UnixDatagram::unbound()?;
                s.connect(&socket)?;
                let d = [b'x'; 120];
                for _ in 0..per {
                    s.send(&d)?;
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join()
            .map_err(|_| "a sender failed")?
            .map_err(|e| format!("send {}: {e}", socket.display()))?;
    }
    let want = before + (per * senders) as u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    while counter(counter_file) < want {
        if Instant::now() > deadline {
            return Err(format!(
                "{}: {} of {} datagrams counted",
                counter_file.display(),
                counter(counter_file) - before,
                want - before
            ));
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    let elapsed = started.elapsed();
    let counted = counter(counter_file) - before;
    if counted != want - before {
        return Err(format!(
            "{}: {counted} datagrams counted, {} sent",
            counter_file.display(),
            want - before
        ));
    }
    Ok(counted as f64 / elapsed.as_secs_f64())
}

/// The service's processes: their wake-ups and CPU time so far, by pid.
fn sample(svc: &Svc, counters: &Path) -> Vec<(i32, u64, u64)> {
    let needle = counters.join(svc.name()).display().to_string();
    cpu::pids_of(svc.command(), &needle)
        .into_iter()
        .filter_map(|p| Some((p, cpu::wakeups(p)?, cpu::cpu_ns(p)?)))
        .collect()
}

/// Wake-ups and CPU nanoseconds between two samples (a process that
/// started in between counts from zero).
fn between(before: &[(i32, u64, u64)], after: &[(i32, u64, u64)]) -> (u64, u64) {
    after.iter().fold((0, 0), |(w, c), (p, wa, ca)| {
        let (wb, cb) = before
            .iter()
            .find(|(q, _, _)| q == p)
            .map_or((0, 0), |(_, w, c)| (*w, *c));
        (w + wa - wb.min(*wa), c + ca - cb.min(*ca))
    })
}

struct Row {
    master: &'static str,
    skeleton: &'static str,
    handler: &'static str,
    limit: u32,
    rates: Vec<Stats>,
    wakeups: Vec<f64>,
    /// With one sender, CPU microseconds per datagram: the service's
    /// processes, the master, the bench (its sender and its wait).
    cpu: (f64, f64, f64),
}

pub struct Baseline {
    /// The best bare counting receiver, one sender.
    pub raw: f64,
    /// The bare receiver doing the 20 us of work, one sender.
    pub spin: f64,
}

/// Bare receivers, one sender: the raw limit for a null handler, and what
/// this machine gives 20 us of work per datagram now.
fn raw_counting(
    exe: &Path,
    rounds: usize,
    count: usize,
    spin_count: usize,
) -> Result<Baseline, String> {
    let mut best: f64 = 0.0;
    let mut spin = 0.0;
    for mode in ["count-recv", "count-mmsg", "spin-mmsg"] {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let socket = dir.path().join("sock");
        let file = dir.path().join("counter");
        crate::count_service::new_counter(&file)?;
        let child = crate::receiver::start(exe, mode, &socket, &file)?;
        let _guard = crate::receiver::Guard(child);
        let n = if mode == "spin-mmsg" {
            spin_count
        } else {
            count
        };
        let rates: Vec<f64> = (0..rounds)
            .map(|_| count_round(&socket, &file, 1, n))
            .collect::<Result<_, _>>()?;
        let s = stats(&rates);
        println!("bare receiver ({mode}), 1 sender: {}/s", fmt_range(&s, 0));
        if mode == "spin-mmsg" {
            spin = s.median;
        } else {
            best = best.max(s.median);
        }
    }
    Ok(Baseline { raw: best, spin })
}

pub fn run(exe: &Path, c_exe: &Path, rounds: usize, scale: f64) -> Result<(), String> {
    println!(
        "\n## The skeleton for any service: Postfix's dgram_server (libpostfix-master.so) and postkit's, under both masters\n"
    );
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
    }
    let null_count = ((100_000.0 * scale) as usize).max(2000);
    let spin_count = ((20_000.0 * scale) as usize).max(1000);
    let wait_count = ((2_000.0 * scale) as usize).max(200);
    let base = raw_counting(exe, rounds, null_count, spin_count)?;

    let programs: [(&str, &Path); 2] = [("dgram_count", c_exe), ("bench_count", exe)];
    let mut masters: Vec<(&'static str, AnyMaster, PathBuf)> = Vec::new();
    {
        let counters = work.path().join("postfix-counters");
        make_counters(&counters)?;
        let mut p = PostfixInstance::with_services(
            &master_cf(&counters),
            &programs,
            "max_use = 1000000\n",
        )?;
        p.start()?;
        masters.push(("Postfix", AnyMaster::Postfix(p), counters));
    }
    {
        let counters = work.path().join("postkit-counters");
        make_counters(&counters)?;
        let mut i = Instance::new(
            &format!("{POSTLOG}{}", master_cf(&counters)),
            "max_use = 1000000\n",
        );
        for (name, program) in programs {
            std::os::unix::fs::symlink(program, i.path().join("libexec").join(name))
                .map_err(|e| e.to_string())?;
        }
        i.start();
        masters.push(("postkit", AnyMaster::Postkit(i), counters));
    }
    // One datagram each first: every pool has its first process.
    for (_, m, _) in &masters {
        for s in services() {
            let _ =
                UnixDatagram::unbound().and_then(|u| u.send_to(b"warm-up", m.socket(&s.name())));
        }
    }
    std::thread::sleep(Duration::from_millis(500));

    let mut rows = Vec::new();
    for svc in services() {
        for (master, m, counters) in &masters {
            let count = match svc.work {
                Work::Null => null_count,
                Work::Spin => spin_count,
                Work::Wait => wait_count,
            };
            let mut rates = Vec::new();
            let mut wakes = Vec::new();
            let mut cpu_us = (0.0, 0.0, 0.0);
            let master_pid = m.master_pid();
            for &senders in SENDERS {
                let mut per_round = Vec::new();
                let (mut woke, mut service_ns, mut master_ns, mut bench_ns) = (0, 0, 0, 0);
                for _ in 0..rounds {
                    let before = sample(&svc, counters);
                    let (m0, b0) = (cpu::cpu_ns(master_pid), cpu::own_cpu_ns());
                    per_round.push(count_round(
                        &m.socket(&svc.name()),
                        &counters.join(svc.name()),
                        senders,
                        count,
                    )?);
                    let (w, c) = between(&before, &sample(&svc, counters));
                    woke += w;
                    service_ns += c;
                    master_ns += cpu::cpu_ns(master_pid).zip(m0).map_or(0, |(a, b)| a - b);
                    bench_ns += cpu::own_cpu_ns() - b0;
                }
                let n = (count * rounds) as f64;
                rates.push(stats(&per_round));
                wakes.push(woke as f64 / n);
                if senders == 1 {
                    cpu_us = (
                        service_ns as f64 / n / 1000.0,
                        master_ns as f64 / n / 1000.0,
                        bench_ns as f64 / n / 1000.0,
                    );
                }
            }
            eprintln!(
                "  {:<8} skeleton under {:<8} {:<6} limit {}: {:.0}/s",
                svc.skeleton,
                master,
                svc.handler(),
                svc.limit,
                rates[0].median
            );
            rows.push(Row {
                master,
                skeleton: svc.skeleton,
                handler: svc.handler(),
                limit: svc.limit,
                rates,
                wakeups: wakes,
                cpu: cpu_us,
            });
        }
    }
    print_rows(&rows, &base);
    if let Some((_, AnyMaster::Postkit(i), _)) = masters.iter().find(|(n, _, _)| *n == "postkit") {
        print_empty_wakeups(i);
    }
    Ok(())
}

fn print_rows(rows: &[Row], base: &Baseline) {
    println!(
        "{:<9} {:<9} {:<9} {:>5} {:>26} {:>26} {:>26} {:>16} {:>22}",
        "skeleton",
        "master",
        "handler",
        "limit",
        "1 sender /s",
        "2 senders /s",
        "4 senders /s",
        "wake-ups/dgram",
        "CPU us/dgram svc/m/b"
    );
    for r in rows {
        println!(
            "{:<9} {:<9} {:<9} {:>5} {:>26} {:>26} {:>26} {:>16} {:>22}",
            r.skeleton,
            r.master,
            r.handler,
            r.limit,
            fmt_range(&r.rates[0], 0),
            fmt_range(&r.rates[1], 0),
            fmt_range(&r.rates[2], 0),
            r.wakeups
                .iter()
                .map(|w| format!("{w:.2}"))
                .collect::<Vec<_>>()
                .join("/"),
            format!("{:.1}/{:.1}/{:.1}", r.cpu.0, r.cpu.1, r.cpu.2)
        );
    }
    println!(
        "(CPU us/dgram svc/m/b, with one sender: the service's processes / the master / the bench, its sender thread and its wait for the count)"
    );
    let row = |skeleton: &str, master: &str, handler: &str, limit: u32| {
        rows.iter().find(|r| {
            r.skeleton == skeleton && r.master == master && r.handler == handler && r.limit == limit
        })
    };
    let get = |skeleton: &str, master: &str, handler: &str, limit: u32, senders: usize| {
        row(skeleton, master, handler, limit).map_or(0.0, |r| r.rates[senders].median)
    };
    println!();
    let ours = get("postkit", "postkit", "null", 1, 0);
    let seed = get("Postfix", "Postfix", "null", 1, 0);
    println!(
        "null handler, limit 1, 1 sender: postkit's skeleton {:.0}/s = {:.0}% of the best bare counting receiver ({:.0}/s; target >= 90%) and {:.2}x the seed's skeleton under its master ({seed:.0}/s; target >= 2.5x)",
        ours,
        100.0 * ours / base.raw,
        base.raw,
        ours / seed
    );
    let bound = 1e9 / SPIN_NS as f64;
    for (skeleton, master) in [
        ("postkit", "postkit"),
        ("Postfix", "Postfix"),
        ("postkit", "Postfix"),
        ("Postfix", "postkit"),
    ] {
        let r = get(skeleton, master, "20 us", 1, 0);
        println!(
            "20 us handler, limit 1, 1 sender: {skeleton}'s skeleton under {master}'s master {r:.0}/s = {:.0}% of the work bound ({bound:.0}/s), {:.0}% of the bare receiver doing the same work ({:.0}/s)",
            100.0 * r / bound,
            100.0 * r / base.spin,
            base.spin
        );
    }
    // The pool's own cost per datagram: what its members and its master
    // spend beyond the handler's work (20 us of CPU for the spinning
    // handler, none for the null and waiting ones), one sender.
    let cpu = |skeleton: &str, master: &str, handler: &str, limit: u32| {
        row(skeleton, master, handler, limit).map(|r| {
            let work = if handler == "20 us" {
                SPIN_NS as f64 / 1000.0
            } else {
                0.0
            };
            (r.cpu.0 + r.cpu.1 - work).max(0.0)
        })
    };
    for handler in ["null", "20 us", "1 ms wait"] {
        let cells: Vec<String> = LIMITS
            .iter()
            .filter_map(|&limit| {
                let ours = cpu("postkit", "postkit", handler, limit)?;
                let theirs = cpu("Postfix", "Postfix", handler, limit)?;
                Some(format!(
                    "limit {limit}: {ours:.1} vs {theirs:.1} us = {:.2}x",
                    ours / theirs
                ))
            })
            .collect();
        println!(
            "pool overhead per datagram (members + master - handler work), {handler} handler, postkit vs Postfix, each under its master: {} (target <= 0.5x in a pool)",
            cells.join("; ")
        );
    }
    for handler in ["20 us", "1 ms wait"] {
        for (skeleton, master) in [("postkit", "postkit"), ("Postfix", "Postfix")] {
            let line: Vec<String> = (0..SENDERS.len())
                .map(|s| {
                    let one = get(skeleton, master, handler, 1, s);
                    format!(
                        "{} senders: limit 2 {:.2}x, limit 4 {:.2}x",
                        SENDERS[s],
                        get(skeleton, master, handler, 2, s) / one,
                        get(skeleton, master, handler, 4, s) / one
                    )
                })
                .collect();
            let target = if handler == "20 us" {
                " (target >= 1.8x at limit 2)"
            } else {
                ""
            };
            println!(
                "pools, {handler} handler, {skeleton}'s skeleton under {master}'s master, against one process: {}{target}",
                line.join("; ")
            );
        }
    }
}

/// postkit's skeleton counts the wake-ups that found their datagram gone;
/// the pool lock is meant to keep them at 0.
fn print_empty_wakeups(i: &Instance) {
    let out = std::process::Command::new(postkit_kit::postkit_exe())
        .arg("-c")
        .arg(i.path())
        .args(["status", "--json"])
        .output();
    let v = match out.map(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout)) {
        Ok(Ok(v)) => v,
        _ => {
            println!("postkit's skeleton, empty wake-ups: not read (postkit status --json failed)");
            return;
        }
    };
    let mut parts = Vec::new();
    for s in v["services"].as_array().into_iter().flatten() {
        let name = s["name"].as_str().unwrap_or("");
        if !name.starts_with('r') {
            continue;
        }
        let c = &s["counters"];
        parts.push(format!(
            "{name}: {} of {}",
            c["empty_wakeups"].as_u64().unwrap_or(0),
            c["handled"].as_u64().unwrap_or(0)
        ));
    }
    println!(
        "postkit's skeleton, empty wake-ups of the datagrams its processes have reported handling so far (its own counters, under postkit's master): {}",
        parts.join(", ")
    );
}
