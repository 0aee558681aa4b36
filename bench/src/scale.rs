//! The master's scale: master.cf with 1, 100 and 1,000 idle datagram
//! services (each with its own socket) beside the log service and a pool
//! of two, under postkit's master and under Postfix's.  Per size: the
//! master's CPU per record at 1,000 records/s into the log service, per
//! status event (a pool member reports TAKEN and AVAIL per datagram), per
//! spawn, the spawn latency, the master's memory, and `postkit status`.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use postkit_kit::instance::{Instance, POSTLOG};
use postkit_kit::postfix::PostfixInstance;
use postkit_kit::procs::rss_kb;

use crate::cpu;
use crate::skeleton::count_round;
use crate::stats::stats;
use crate::throughput::{log_len, wait_len};

const SIZES: &[usize] = &[1, 100, 1000];
const SPAWNS: usize = 5;

struct Measured {
    per_record_us: f64,
    per_event_us: f64,
    per_spawn_us: f64,
    spawn_ms: f64,
    rss_mb: f64,
    status_ms: Option<f64>,
}

fn master_cf(idle: usize, pool_command: &str, counter: &Path) -> String {
    let mut cf = format!(
        "pool unix-dgram n n n - 2 {pool_command} {} 0\n",
        counter.display()
    );
    for k in 0..idle {
        cf.push_str(&format!("s{k} unix-dgram n n n - 1 postlogd\n"));
    }
    cf
}

/// 120-byte records at 1,000/s for `secs` seconds into `socket`, then
/// waits until `log` has them.
fn paced(socket: &Path, log: &Path, secs: f64) -> Result<usize, String> {
    let total = (1000.0 * secs) as usize;
    let want = log_len(log) + (total * 121) as u64;
    let mut d = b"Nov 24 09:00:00 bench scale[1]: ".to_vec();
    d.resize(120, b'x');
    crate::paced::send_paced(socket, 1000, total, |_| d.clone())?;
    wait_len(log, want, "paced records")?;
    Ok(total)
}

fn measure(
    master_pid: i32,
    socket: &dyn Fn(&str) -> PathBuf,
    log: &Path,
    counter: &Path,
    idle: usize,
    secs: f64,
    status: Option<&dyn Fn() -> Duration>,
) -> Result<Measured, String> {
    let master_cpu = || cpu::cpu_ns(master_pid).ok_or("the master went away");
    // The log service and the pool run first.
    let _ = UnixDatagram::unbound().and_then(|u| u.send_to(b"warm-up", socket("postlog")));
    count_round(&socket("pool"), counter, 1, 100)?;
    std::thread::sleep(Duration::from_millis(300));

    let c0 = master_cpu()?;
    let records = paced(&socket("postlog"), log, secs)?;
    let per_record_us = (master_cpu()? - c0) as f64 / records as f64 / 1000.0;

    let events = 20_000;
    let c0 = master_cpu()?;
    count_round(&socket("pool"), counter, 1, events)?;
    // Two status records per datagram (TAKEN, AVAIL).
    let per_event_us = (master_cpu()? - c0) as f64 / (2 * events) as f64 / 1000.0;

    let spawns = SPAWNS.min(idle);
    let mut latencies = Vec::new();
    let c0 = master_cpu()?;
    for k in 0..spawns {
        let before = log_len(log);
        let marker = format!("Nov 24 09:00:00 bench spawn[1]: s{k}");
        let started = Instant::now();
        UnixDatagram::unbound()
            .and_then(|u| u.send_to(marker.as_bytes(), socket(&format!("s{k}"))))
            .map_err(|e| e.to_string())?;
        wait_len(
            log,
            before + marker.len() as u64 + 1,
            "the spawned service's record",
        )?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let per_spawn_us = (master_cpu()? - c0) as f64 / spawns.max(1) as f64 / 1000.0;
    let rss_mb = rss_kb(master_pid).unwrap_or(0) as f64 / 1024.0;
    let status_ms = status.map(|f| {
        let v: Vec<f64> = (0..5).map(|_| f().as_secs_f64() * 1000.0).collect();
        stats(&v).median
    });
    Ok(Measured {
        per_record_us,
        per_event_us,
        per_spawn_us,
        spawn_ms: stats(&latencies).median,
        rss_mb,
        status_ms,
    })
}

pub fn run(exe: &Path, c_exe: &Path, secs: f64) -> Result<(), String> {
    println!(
        "\n## The master's scale: idle datagram services beside the log service and a pool of two\n"
    );
    println!(
        "{:<9} {:>9} {:>14} {:>13} {:>13} {:>11} {:>9} {:>11}",
        "master",
        "services",
        "CPU us/record",
        "CPU us/event",
        "CPU us/spawn",
        "spawn ms",
        "RSS MB",
        "status ms"
    );
    let mut figures: Vec<(&str, usize, Measured)> = Vec::new();
    for &idle in SIZES {
        let work = tempfile::tempdir().map_err(|e| e.to_string())?;
        let counter = work.path().join("counter");
        crate::count_service::new_counter(&counter)?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o755))
                .map_err(|e| e.to_string())?;
        }
        let services = idle + 2;
        {
            let mut p = PostfixInstance::with_services(
                &master_cf(idle, "dgram_count", &counter),
                &[("dgram_count", c_exe)],
                "max_use = 1000000\n",
            )?;
            p.start()?;
            let spool = p.dir.path().join("spool/public");
            let m = measure(
                p.master_pid().ok_or("no Postfix master")?,
                &|name| spool.join(name),
                &p.log_path(),
                &counter,
                idle,
                secs,
                None,
            )?;
            print_row("Postfix", services, &m);
            figures.push(("Postfix", services, m));
        }
        {
            let mut i = Instance::new(
                &format!("{POSTLOG}{}", master_cf(idle, "bench_count", &counter)),
                "max_use = 1000000\n",
            );
            std::os::unix::fs::symlink(exe, i.path().join("libexec/bench_count"))
                .map_err(|e| e.to_string())?;
            i.start();
            let public = i.path().join("queue/public");
            let status = || {
                let t = Instant::now();
                let _ = i.ctl("status");
                t.elapsed()
            };
            let m = measure(
                i.master_pid(),
                &|name| public.join(name),
                &i.path().join("maillog"),
                &counter,
                idle,
                secs,
                Some(&status),
            )?;
            print_row("postkit", services, &m);
            figures.push(("postkit", services, m));
        }
    }
    let first = |who: &str| {
        figures
            .iter()
            .find(|(w, _, _)| *w == who)
            .map(|(_, _, m)| m)
    };
    let last = |who: &str| {
        figures
            .iter()
            .rev()
            .find(|(w, _, _)| *w == who)
            .map(|(_, _, m)| m)
    };
    if let (Some(a), Some(b)) = (first("postkit"), last("postkit")) {
        println!(
            "postkit's master from {} to {} services: CPU per event x{:.2}, per spawn x{:.2}, per record x{:.2} (flat: about 1)",
            SIZES[0] + 2,
            SIZES[SIZES.len() - 1] + 2,
            b.per_event_us / a.per_event_us,
            b.per_spawn_us / a.per_spawn_us,
            b.per_record_us / a.per_record_us.max(0.001)
        );
    }
    Ok(())
}

fn print_row(who: &str, services: usize, m: &Measured) {
    println!(
        "{:<9} {:>9} {:>14.2} {:>13.2} {:>13.0} {:>11.2} {:>9.1} {:>11}",
        who,
        services,
        m.per_record_us,
        m.per_event_us,
        m.per_spawn_us,
        m.spawn_ms,
        m.rss_mb,
        m.status_ms.map_or("-".to_string(), |s| format!("{s:.1}"))
    );
}
