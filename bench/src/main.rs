//! `postkit-bench`: the log path measured in one run against real Postfix
//! and against bare receivers (the raw socket limit): throughput for three
//! loads, spawn latency, and idle resident memory; every datagram sent is
//! checked to be in the log exactly once.
//!
//! Targets: Postfix's postlogd under Postfix's master, postkit's postlogd
//! under postkit's master, and two bare receivers (recv + write per
//! datagram; recvmmsg(64) + one write per batch).

mod receiver;

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use std::time::{Duration, Instant};

use postkit_kit::instance::Instance;
use postkit_kit::postfix::{self as postfix_instance, PostfixInstance};
use postkit_kit::procs::{find_process, rss_kb};

struct Load {
    name: &'static str,
    senders: usize,
    size: usize,
    count: usize,
}

const LOADS: &[Load] = &[
    Load {
        name: "1 sender, 120 B",
        senders: 1,
        size: 120,
        count: 200_000,
    },
    Load {
        name: "2 senders, 120 B",
        senders: 2,
        size: 120,
        count: 200_000,
    },
    Load {
        name: "1 sender, 1000 B",
        senders: 1,
        size: 1000,
        count: 100_000,
    },
];

/// Something that receives datagrams on `socket` and appends lines to `log`.
struct Target {
    name: &'static str,
    socket: PathBuf,
    log: PathBuf,
    /// Keeps the service running (dropped at the end).
    _guard: Box<dyn std::any::Any>,
}

/// The datagram with sequence number `seq` of a round, exactly `size` bytes.
fn datagram(round: usize, seq: usize, size: usize) -> Vec<u8> {
    let mut d = format!("Nov 24 09:00:00 bench r{round}[1]: seq {seq:010} ").into_bytes();
    while d.len() < size {
        d.push(b'x');
    }
    d.truncate(size);
    d
}

fn send_all(socket: &Path, round: usize, seqs: std::ops::Range<usize>, size: usize) {
    let s = UnixDatagram::unbound().expect("socket");
    s.connect(socket).expect("connect to the log socket");
    for seq in seqs {
        s.send(&datagram(round, seq, size)).expect("send");
    }
}

/// One round: sends `load.count` datagrams, waits until all are in the log,
/// checks each is there exactly once, and returns datagrams per second.
fn round(t: &Target, load: &Load, round_no: usize) -> Result<f64, String> {
    let start_len = std::fs::metadata(&t.log).map(|m| m.len()).unwrap_or(0);
    let want = start_len + (load.count * (load.size + 1)) as u64;
    let per = load.count / load.senders;
    let started = Instant::now();
    let senders: Vec<_> = (0..load.senders)
        .map(|i| {
            let socket = t.socket.clone();
            let size = load.size;
            std::thread::spawn(move || send_all(&socket, round_no, i * per..(i + 1) * per, size))
        })
        .collect();
    for s in senders {
        s.join().map_err(|_| "a sender failed")?;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let len = std::fs::metadata(&t.log).map(|m| m.len()).unwrap_or(0);
        if len >= want {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{}: only {} of {} bytes arrived",
                t.name,
                len - start_len,
                want - start_len
            ));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let elapsed = started.elapsed();
    verify(&t.log, start_len, load, round_no)?;
    Ok(load.count as f64 / elapsed.as_secs_f64())
}

/// Every sequence number of the round exactly once, each line whole.
fn verify(log: &Path, from: u64, load: &Load, round_no: usize) -> Result<(), String> {
    let mut f = std::fs::File::open(log).map_err(|e| e.to_string())?;
    f.seek(SeekFrom::Start(from)).map_err(|e| e.to_string())?;
    let mut text = Vec::new();
    f.read_to_end(&mut text).map_err(|e| e.to_string())?;
    let mut seen = vec![0u8; load.count];
    let tag = format!(" bench r{round_no}[1]: seq ");
    for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let line = String::from_utf8_lossy(line);
        let Some(i) = line.find(&tag) else { continue };
        if line.len() != load.size {
            return Err(format!("a line of {} bytes, not {}", line.len(), load.size));
        }
        let seq: usize = line[i + tag.len()..i + tag.len() + 10]
            .parse()
            .map_err(|_| "bad sequence number")?;
        seen[seq] += 1;
    }
    let missing = seen.iter().filter(|&&n| n == 0).count();
    let duplicated = seen.iter().filter(|&&n| n > 1).count();
    if missing + duplicated > 0 {
        return Err(format!(
            "{missing} datagrams missing, {duplicated} duplicated"
        ));
    }
    Ok(())
}

struct Stats {
    median: f64,
    min: f64,
    max: f64,
}

fn stats(mut v: Vec<f64>) -> Stats {
    v.sort_by(f64::total_cmp);
    Stats {
        median: v[v.len() / 2],
        min: v[0],
        max: v[v.len() - 1],
    }
}

/// postkit's rootless default configuration (what `postkit start-fg`
/// writes) under postkit's master, in a temporary directory.
fn postkit_instance() -> Result<Instance, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let d = dir.path();
    std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    postkit::control::default_config::ensure(&d.display().to_string())?;
    let main_cf = d.join("main.cf");
    let text = std::fs::read_to_string(&main_cf).map_err(|e| e.to_string())?;
    std::fs::write(&main_cf, format!("{text}{IDLE}")).map_err(|e| e.to_string())?;
    let mut instance = Instance::in_dir(dir);
    instance.start();
    Ok(instance)
}

fn postkit_postlogd_pid(i: &Instance) -> Option<i32> {
    find_process("postlogd", &i.path().display().to_string()).map(|(p, _)| p)
}

/// Both instances' postlogd exit after two idle seconds, so that spawn
/// latency can be measured from a state with no process.
const IDLE: &str = "max_idle = 2s\n";

/// Time from one datagram sent to a service with no process (it exited on
/// its idle timer) until its line is in the log.
fn spawn_latency(
    socket: &Path,
    log: &Path,
    postlogd: &dyn Fn() -> Option<i32>,
) -> Result<f64, String> {
    let mut samples = Vec::new();
    for i in 0..5 {
        let deadline = Instant::now() + Duration::from_secs(30);
        while postlogd().is_some() {
            if Instant::now() > deadline {
                return Err("postlogd did not exit on its idle timer".into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(200));
        let marker = format!("spawn-latency-probe-{i}-{}", std::process::id());
        let before = std::fs::metadata(log).map(|m| m.len()).unwrap_or(0);
        let started = Instant::now();
        UnixDatagram::unbound()
            .and_then(|s| s.send_to(marker.as_bytes(), socket))
            .map_err(|e| e.to_string())?;
        loop {
            let len = std::fs::metadata(log).map(|m| m.len()).unwrap_or(0);
            if len > before + marker.len() as u64 {
                break;
            }
            if started.elapsed() > Duration::from_secs(10) {
                return Err("the first datagram never reached the log".into());
            }
            std::thread::sleep(Duration::from_micros(50));
        }
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(stats(samples).median)
}

fn qlen() -> String {
    std::fs::read_to_string("/proc/sys/net/unix/max_dgram_qlen")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("receiver") {
        std::process::exit(receiver::main(&args[1..]));
    }
    std::process::exit(bench_main(&args));
}

/// `postkit-bench [--rounds N] [--quick]`.
fn bench_main(args: &[String]) -> i32 {
    let mut rounds = 5;
    let mut scale = 1.0;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--rounds" => rounds = it.next().and_then(|v| v.parse().ok()).unwrap_or(5).max(1),
            "--quick" => scale = 0.1,
            other => {
                eprintln!("usage: postkit-bench [--rounds N] [--quick]\nunknown argument: {other}");
                return 2;
            }
        }
    }
    match run(rounds, scale) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("postkit-bench: {e}");
            1
        }
    }
}

fn run(rounds: usize, scale: f64) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    println!(
        "postkit-bench: {rounds} rounds per load; net.unix.max_dgram_qlen = {}; {} CPUs",
        qlen(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    let mut targets: Vec<Target> = Vec::new();
    let mut notes = Vec::new();

    // Bare receivers: the raw socket limit.
    for mode in ["recv", "mmsg"] {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let socket = dir.path().join("sock");
        let log = dir.path().join("log");
        let child = receiver::start(&exe, mode, &socket, &log)?;
        targets.push(Target {
            name: if mode == "recv" {
                "raw recv+write"
            } else {
                "raw recvmmsg+writev"
            },
            socket,
            log,
            _guard: Box::new((dir, receiver::Guard(child))),
        });
    }
    let postkit = postkit_instance()?;
    let postfix = if postfix_instance::available() {
        let mut p = PostfixInstance::new(None, IDLE)?;
        p.start()?;
        Some(p)
    } else {
        notes.push("Postfix: not measured (needs root and Debian's postfix package)".to_string());
        None
    };

    // Throughput.
    let mut table: Vec<(String, &'static str, Stats)> = Vec::new();
    let mut all: Vec<(&'static str, &'static str, PathBuf, PathBuf)> = Vec::new();
    if let Some(p) = &postfix {
        all.push(("Postfix postlogd", "postfix", p.socket_path(), p.log_path()));
    }
    all.push((
        "postkit postlogd",
        "postkit",
        postkit.postlog_socket(),
        postkit.path().join("maillog"),
    ));
    for t in &targets {
        all.push((t.name, "raw", t.socket.clone(), t.log.clone()));
    }
    for load in LOADS {
        let load = Load {
            count: ((load.count as f64 * scale) as usize).max(1000),
            ..*load
        };
        let targets: Vec<Target> = all
            .iter()
            .map(|(name, _, socket, log)| Target {
                name,
                socket: socket.clone(),
                log: log.clone(),
                _guard: Box::new(()),
            })
            .collect();
        // Rounds go round the targets, each after a sync(): at 1000-byte
        // records the file system's dirty-page throttling would otherwise
        // slow whichever target runs after another's writes.
        let mut rates = vec![Vec::new(); targets.len()];
        for r in 0..rounds {
            for (t, rates) in targets.iter().zip(rates.iter_mut()) {
                nix::unistd::sync();
                rates.push(round(t, &load, r)?);
            }
        }
        for ((name, kind, _, _), rates) in all.iter().zip(rates) {
            let s = stats(rates);
            eprintln!("  {:<22} {:<18} {:>10.0}/s", name, load.name, s.median);
            table.push((format!("{}|{}", load.name, name), kind, s));
        }
    }

    println!();
    println!(
        "{:<18} {:<22} {:>12} {:>12} {:>12}",
        "load", "target", "median/s", "min/s", "max/s"
    );
    for (key, _, s) in &table {
        let (load, name) = key.split_once('|').unwrap_or((key, ""));
        println!(
            "{load:<18} {name:<22} {:>12.0} {:>12.0} {:>12.0}",
            s.median, s.min, s.max
        );
    }
    println!();
    println!(
        "{:<18} {:>16} {:>22}",
        "load", "postkit/Postfix", "postkit/best raw"
    );
    for load in LOADS {
        let get = |name: &str| {
            table
                .iter()
                .find(|(k, _, _)| *k == format!("{}|{name}", load.name))
                .map(|(_, _, s)| s.median)
        };
        let ours = get("postkit postlogd").unwrap_or(0.0);
        let theirs = get("Postfix postlogd");
        let raw = get("raw recv+write")
            .unwrap_or(0.0)
            .max(get("raw recvmmsg+writev").unwrap_or(0.0));
        println!(
            "{:<18} {:>16} {:>21.0}%",
            load.name,
            theirs.map_or("-".to_string(), |t| format!("{:.2}x", ours / t)),
            100.0 * ours / raw
        );
    }

    // Spawn latency and memory.
    println!();
    let postkit_master = postkit.master_pid();
    let ours_latency = spawn_latency(
        &postkit.postlog_socket(),
        &postkit.path().join("maillog"),
        &|| postkit_postlogd_pid(&postkit),
    )?;
    let theirs_latency = match &postfix {
        Some(p) => Some(spawn_latency(&p.socket_path(), &p.log_path(), &|| {
            p.postlogd_pid()
        })?),
        None => None,
    };
    println!(
        "spawn latency (first datagram, no process, until in the log; median of 5): postkit {ours_latency:.2} ms, Postfix {}",
        theirs_latency.map_or("-".into(), |l| format!("{l:.2} ms"))
    );
    // One datagram so that each postlogd runs, then idle.
    let _ =
        UnixDatagram::unbound().and_then(|s| s.send_to(b"memory probe", postkit.postlog_socket()));
    if let Some(p) = &postfix {
        let _ = p.send(b"memory probe");
    }
    std::thread::sleep(Duration::from_millis(500));
    let fmt =
        |kb: Option<u64>| kb.map_or("-".to_string(), |k| format!("{:.1} MB", k as f64 / 1024.0));
    println!(
        "idle resident memory: postkit master {}, postlogd {}; Postfix master {}, postlogd {}",
        fmt(rss_kb(postkit_master)),
        fmt(postkit_postlogd_pid(&postkit).and_then(rss_kb)),
        fmt(postfix
            .as_ref()
            .and_then(|p| p.master_pid())
            .and_then(rss_kb)),
        fmt(postfix
            .as_ref()
            .and_then(|p| p.postlogd_pid())
            .and_then(rss_kb)),
    );
    println!("every datagram sent was found in its log exactly once, each line whole");
    for n in notes {
        println!("note: {n}");
    }
    Ok(())
}
