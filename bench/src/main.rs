//! `postkit-bench`: postkit measured in one run against real Postfix,
//! rsyslog, the seed's own skeleton and bare receivers (the raw socket
//! limit), every figure a ratio against baselines measured in the same
//! run, every row the median, min and max of its rounds:
//! * throughput of the log path (1, 2, 4 senders; 120 and 1000 B), every
//!   datagram checked in the log exactly once;
//! * CPU per record and latency at paced rates (1k to 100k records/s);
//! * the skeleton for any service: a null and a 20 us handler on Postfix's
//!   dgram_server and on postkit's, under both masters, pools of 1, 2, 4;
//! * the master's scale: 1, 100 and 1,000 services;
//! * spawn latency and idle memory of the log service.

mod count_service;
mod cpu;
mod host;
mod paced;
mod policy;
mod receiver;
mod rsyslog;
mod scale;
mod skeleton;
mod stats;
mod stream;
mod throughput;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use postkit_kit::instance::Instance;
use postkit_kit::postfix::{self as postfix_instance, PostfixInstance};
use postkit_kit::procs::{find_process, rss_kb};

use paced::PacedTarget;
use throughput::Target;

/// postkit's rootless default configuration (what `postkit start-fg`
/// writes) under postkit's master, in a temporary directory.
fn postkit_instance() -> Result<Instance, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let d = dir.path();
    std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    postkit::internal::control::default_config::ensure(&d.display().to_string())?;
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
        let before = throughput::log_len(log);
        let started = Instant::now();
        UnixDatagram::unbound()
            .and_then(|s| s.send_to(marker.as_bytes(), socket))
            .map_err(|e| e.to_string())?;
        loop {
            if throughput::log_len(log) > before + marker.len() as u64 {
                break;
            }
            if started.elapsed() > Duration::from_secs(10) {
                return Err("the first datagram never reached the log".into());
            }
            std::thread::sleep(Duration::from_micros(50));
        }
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(stats::stats(&samples).median)
}

fn qlen() -> String {
    std::fs::read_to_string("/proc/sys/net/unix/max_dgram_qlen")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "?".into())
}

const SECTIONS: &[&str] = &[
    "throughput",
    "paced",
    "skeleton",
    "stream",
    "host",
    "policy",
    "scale",
    "spawn",
];

struct Options {
    rounds: usize,
    scale: f64,
    paced_secs: f64,
    rates: Vec<u64>,
    only: Vec<String>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Run by a master as the bench's service.
    if args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .is_some_and(|n| n == "bench_count" || n == "bench_count_trigger")
    {
        count_service::main(&args);
    }
    if args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .is_some_and(|n| {
            ["bench_echo_multi", "bench_echo_event", "bench_echo_single"]
                .iter()
                .any(|e| n == *e)
        })
    {
        stream::echo_service(&args);
    }
    if args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .is_some_and(|n| n == "bench_policy")
    {
        policy::policy_service(&args);
    }
    if args.get(1).map(String::as_str) == Some("echo-server") {
        std::process::exit(stream::echo_server(&args[2..]));
    }
    if args.get(1).map(String::as_str) == Some("receiver") {
        std::process::exit(receiver::main(&args[2..]));
    }
    std::process::exit(bench_main(&args[1..]));
}

const USAGE: &str = "usage: postkit-bench [--rounds N] [--quick] [--only SECTION[,SECTION...]] [--rates R[,R...]]\n  sections: throughput, paced, skeleton, stream, host, policy, scale, spawn; rates: the paced section's (default 1000,10000,50000,100000)";

/// `postkit-bench [--rounds N] [--quick] [--only SECTIONS] [--rates RATES]`.
fn bench_main(args: &[String]) -> i32 {
    let mut o = Options {
        rounds: 5,
        scale: 1.0,
        paced_secs: 2.0,
        rates: paced::RATES.to_vec(),
        only: SECTIONS.iter().map(|s| s.to_string()).collect(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--rounds" => o.rounds = it.next().and_then(|v| v.parse().ok()).unwrap_or(5).max(1),
            "--rates" => {
                o.rates = it
                    .next()
                    .map(|v| v.split(',').filter_map(|r| r.parse().ok()).collect())
                    .unwrap_or_default();
                if o.rates.is_empty() {
                    eprintln!("{USAGE}\n--rates takes records per second, such as 1000,10000");
                    return 2;
                }
            }
            "--quick" => {
                o.scale = 0.1;
                o.paced_secs = 0.5;
            }
            "--only" => {
                o.only = it
                    .next()
                    .map(|v| v.split(',').map(str::to_string).collect())
                    .unwrap_or_default();
                if let Some(bad) = o.only.iter().find(|s| !SECTIONS.contains(&s.as_str())) {
                    eprintln!("{USAGE}\nunknown section: {bad}");
                    return 2;
                }
            }
            other => {
                eprintln!("{USAGE}\nunknown argument: {other}");
                return 2;
            }
        }
    }
    match run(&o) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("postkit-bench: {e}");
            1
        }
    }
}

fn run(o: &Options) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let want = |s: &str| o.only.iter().any(|x| x == s);
    println!(
        "postkit-bench: {} rounds per row; {} CPUs ({}); net.unix.max_dgram_qlen = {}",
        o.rounds,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        cpu_model(),
        qlen(),
    );
    let mut notes = Vec::new();
    let postkit = postkit_instance()?;
    let postfix = if postfix_instance::available() {
        let mut p = PostfixInstance::new(None, IDLE)?;
        p.start()?;
        Some(p)
    } else {
        notes.push("Postfix: not measured (needs root and Debian's postfix package)".to_string());
        None
    };
    let rsyslog = if rsyslog::available() {
        Some(rsyslog::Rsyslog::start()?)
    } else {
        notes.push(
            "rsyslog: not measured (apt-get install rsyslog; the bench runs its own private rsyslogd)"
                .to_string(),
        );
        None
    };

    if want("throughput") {
        let mut guards: Vec<(tempfile::TempDir, receiver::Guard)> = Vec::new();
        let mut targets = Vec::new();
        if let Some(p) = &postfix {
            targets.push(Target {
                name: "Postfix postlogd",
                raw: false,
                socket: p.socket_path(),
                log: p.log_path(),
            });
        }
        targets.push(Target {
            name: "postkit postlogd",
            raw: false,
            socket: postkit.postlog_socket(),
            log: postkit.path().join("maillog"),
        });
        if let Some(r) = &rsyslog {
            targets.push(Target {
                name: "rsyslog",
                raw: false,
                socket: r.socket(),
                log: r.log(),
            });
        }
        for (mode, name) in [("recv", "raw recv+write"), ("mmsg", "raw recvmmsg+writev")] {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let socket = dir.path().join("sock");
            let log = dir.path().join("log");
            let child = receiver::start(&exe, mode, &socket, &log)?;
            targets.push(Target {
                name,
                raw: true,
                socket,
                log,
            });
            guards.push((dir, receiver::Guard(child)));
        }
        throughput::run(&targets, o.rounds, o.scale)?;
    }

    if want("paced") {
        let mut targets = Vec::new();
        if let Some(p) = &postfix {
            targets.push(PacedTarget {
                name: "Postfix postlogd",
                socket: p.socket_path(),
                log: p.log_path(),
                pids: Box::new(|| p.master_pid().into_iter().chain(p.postlogd_pid()).collect()),
                processes: 2,
            });
        }
        targets.push(PacedTarget {
            name: "postkit postlogd",
            socket: postkit.postlog_socket(),
            log: postkit.path().join("maillog"),
            pids: Box::new(|| {
                std::iter::once(postkit.master_pid())
                    .chain(postkit_postlogd_pid(&postkit))
                    .collect()
            }),
            processes: 2,
        });
        if let Some(r) = &rsyslog {
            targets.push(PacedTarget {
                name: "rsyslog",
                socket: r.socket(),
                log: r.log(),
                pids: Box::new(|| vec![r.pid()]),
                processes: 1,
            });
        }
        paced::run(&targets, &o.rates, o.rounds, o.paced_secs)?;
    }

    let c_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let c_exe: Option<PathBuf> = if postfix.is_some() && (want("skeleton") || want("scale")) {
        Some(skeleton::build_c(c_dir.path())?)
    } else {
        None
    };
    if want("skeleton") {
        match &c_exe {
            Some(c) => skeleton::run(&exe, c, o.rounds, o.scale)?,
            None => notes.push("skeleton: not measured (needs Postfix)".into()),
        }
    }
    if want("stream") {
        if postfix.is_some() {
            stream::run(&exe, o.rounds, o.scale)?;
        } else {
            notes.push("stream: not measured (needs Postfix)".into());
        }
    }
    if want("host") {
        if postfix.is_some() {
            host::run(o.rounds, o.scale)?;
        } else {
            notes.push("host: not measured (needs root and Postfix)".into());
        }
    }
    if want("policy") {
        if postfix.is_some() {
            policy::run(&exe, o.rounds, o.scale)?;
        } else {
            notes.push("policy: not measured (needs root and Postfix)".into());
        }
    }
    if want("scale") {
        match &c_exe {
            Some(c) => scale::run(&exe, c, if o.scale < 1.0 { 1.0 } else { 3.0 })?,
            None => notes.push("scale: not measured (needs Postfix)".into()),
        }
    }

    if want("spawn") {
        spawn_and_memory(&postkit, postfix.as_ref())?;
    }
    for n in notes {
        println!("note: {n}");
    }
    Ok(())
}

/// What starting a child costs the process that starts it: the master's
/// own `spawn_fds::spawn` (posix_spawn) against fork with a pre-exec
/// closure (how the master started children before, and what Postfix's
/// master does), each starting /bin/true with a status channel, the flow
/// pipe and a listener placed, from this process with a few megabytes of
/// heap touched (as the master has); the caller's CPU per child.
fn spawn_cost() -> Result<(), String> {
    use postkit::internal::master::spawn_fds::{ChildCommand, ChildFds, spawn};
    use std::os::fd::{AsFd, AsRawFd};
    use std::os::unix::process::CommandExt;
    const CHILDREN: usize = 300;
    let heap: Vec<Vec<u8>> = (0..200).map(|i| vec![i as u8; 16 << 10]).collect();
    let (status, _master_end) =
        std::os::unix::net::UnixStream::pair().map_err(|e| e.to_string())?;
    let (flow_r, flow_w) = nix::unistd::pipe().map_err(|e| e.to_string())?;
    let listener = UnixDatagram::unbound().map_err(|e| e.to_string())?;
    let fds = ChildFds {
        flow: Some((flow_r.as_fd(), flow_w.as_fd())),
        status: status.as_fd(),
        listen: vec![listener.as_fd()],
    };
    let reap = |pids: Vec<i32>| {
        for p in pids {
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(p), None);
        }
    };
    let mut posix = Vec::new();
    let mut fork = Vec::new();
    for _ in 0..3 {
        let c0 = cpu::own_cpu_ns();
        let mut pids = Vec::new();
        for _ in 0..CHILDREN {
            let cmd = ChildCommand::new(Path::new("/bin/true"), vec![std::ffi::OsStr::new("true")]);
            pids.push(spawn(&cmd, &fds, 1).map_err(|e| e.to_string())?);
        }
        posix.push((cpu::own_cpu_ns() - c0) as f64 / CHILDREN as f64 / 1000.0);
        reap(pids);
        let c0 = cpu::own_cpu_ns();
        let mut pids = Vec::new();
        for _ in 0..CHILDREN {
            let mut cmd = std::process::Command::new("/bin/true");
            cmd.stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            let placed = [
                (flow_r.as_raw_fd(), 3),
                (flow_w.as_raw_fd(), 4),
                (status.as_raw_fd(), 5),
                (listener.as_raw_fd(), 6),
            ];
            // SAFETY: dup2 only, async-signal-safe, on descriptors this
            // function keeps open until the children are started.
            unsafe {
                cmd.pre_exec(move || {
                    for (from, to) in placed {
                        if libc::dup2(from, to) < 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                    }
                    Ok(())
                });
            }
            pids.push(cmd.spawn().map_err(|e| e.to_string())?.id() as i32);
        }
        fork.push((cpu::own_cpu_ns() - c0) as f64 / CHILDREN as f64 / 1000.0);
        reap(pids);
    }
    std::hint::black_box(&heap);
    let (p, f) = (stats::stats(&posix), stats::stats(&fork));
    println!(
        "master CPU per child started ({CHILDREN} children, /bin/true, descriptors placed, 3 MB heap; median of 3): posix_spawn (postkit's master) {:.1} µs, fork + pre-exec (postkit's master before, Postfix's fork) {:.1} µs: {:.2}x",
        p.median,
        f.median,
        p.median / f.median
    );
    Ok(())
}

/// Spawn latency and idle memory of the log service.
fn spawn_and_memory(postkit: &Instance, postfix: Option<&PostfixInstance>) -> Result<(), String> {
    println!("\n## The log service: spawn latency and idle memory\n");
    let postkit_master = postkit.master_pid();
    let ours_latency = spawn_latency(
        &postkit.postlog_socket(),
        &postkit.path().join("maillog"),
        &|| postkit_postlogd_pid(postkit),
    )?;
    let theirs_latency = match postfix {
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
    if let Some(p) = postfix {
        let _ = p.send(b"memory probe");
    }
    std::thread::sleep(Duration::from_millis(500));
    let fmt =
        |kb: Option<u64>| kb.map_or("-".to_string(), |k| format!("{:.1} MB", k as f64 / 1024.0));
    spawn_cost()?;
    println!(
        "idle resident memory: postkit master {}, postlogd {}; Postfix master {}, postlogd {}",
        fmt(rss_kb(postkit_master)),
        fmt(postkit_postlogd_pid(postkit).and_then(rss_kb)),
        fmt(postfix.and_then(|p| p.master_pid()).and_then(rss_kb)),
        fmt(postfix.and_then(|p| p.postlogd_pid()).and_then(rss_kb)),
    );
    Ok(())
}
