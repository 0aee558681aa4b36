//! The stream skeletons against Postfix's (issue 24's performance rows):
//! one line service (a line in, `ok` out) written three times, on
//! Postfix's multi_server, event_server and single_server
//! (bench/c/stream_echo.c, linked against Debian's libpostfix-master.so),
//! on postkit's (`bench_echo_multi`, `bench_echo_event`,
//! `bench_echo_single`), and as a bare Rust epoll
//! server with no skeleton and no master (`postkit-bench echo-server`),
//! the raw limit of the same I/O.  The policy example is measured the same
//! way against its C twin (stream_echo.c with -DPOLICY, on Postfix's
//! multi_server): a policy request of the size smtpd sends at RCPT in,
//! `action=DUNNO` out.  The skeleton services run under
//! postkit's master (the master is not in a connection's path once the
//! process runs; `max_use` is raised so that the rows measure the
//! skeletons, not spawns).  Loads: connections per second (connect, one
//! request, answer, close) and requests per second over kept connections,
//! from 1, 10 and 100 concurrent clients.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use postkit_kit::instance::{Instance, POSTLOG};

use crate::stats::{Stats, fmt_range, stats};

const C_SOURCE: &str = include_str!("../c/stream_echo.c");
const CLIENTS: [usize; 3] = [1, 10, 100];

/// postkit's twin of stream_echo.c, run by a master under one of these
/// names.
pub fn echo_service(args: &[String]) -> ! {
    use postkit::server::event_server::EventServer;
    use postkit::server::multi_server::MultiServer;
    use postkit::server::single_server::SingleServer;
    let name = args.first().map(String::as_str).unwrap_or_default();
    if name.ends_with("bench_echo_event") {
        EventServer::new(()).run_with_args(
            args,
            |_, _, _| {},
            |_, client, _| loop {
                match client.read_line() {
                    Ok(Some(_)) if client.write_all(b"ok\n").is_ok() => {}
                    _ => return client.disconnect(),
                }
                if !client.has_buffered() {
                    return;
                }
            },
        )
    } else if name.ends_with("bench_echo_multi") {
        MultiServer::new(()).run_with_args(args, |_, client, _| match client.read_line() {
            Ok(Some(_)) => {
                if client.write_all(b"ok\n").is_err() {
                    client.disconnect();
                }
            }
            _ => client.disconnect(),
        })
    } else {
        SingleServer::new(()).run_with_args(args, |_, client, _| {
            while let Ok(Some(_)) = client.read_line() {
                if client.write_all(b"ok\n").is_err() {
                    return;
                }
            }
        })
    }
}

/// `postkit-bench echo-server SOCKET`: the bare server, one process, one
/// epoll set, the same protocol.
pub fn echo_server(args: &[String]) -> i32 {
    use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
    use std::collections::HashMap;
    use std::os::fd::AsFd;
    let [socket] = args else {
        eprintln!("usage: postkit-bench echo-server SOCKET");
        return 2;
    };
    let listener = match UnixListener::bind(socket) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bind {socket}: {e}");
            return 1;
        }
    };
    listener.set_nonblocking(true).expect("non-blocking");
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).expect("epoll");
    epoll
        .add(listener.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, 0))
        .expect("epoll add");
    let mut conns: HashMap<u64, (UnixStream, Vec<u8>)> = HashMap::new();
    let mut next = 1u64;
    let mut events = vec![EpollEvent::empty(); 256];
    let mut buf = [0u8; 4096];
    loop {
        let n = epoll.wait(&mut events, EpollTimeout::NONE).unwrap_or(0);
        for ev in &events[..n] {
            let key = ev.data();
            if key == 0 {
                while let Ok((s, _)) = listener.accept() {
                    s.set_nonblocking(true).expect("non-blocking");
                    let _ = epoll.add(s.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, next));
                    conns.insert(next, (s, Vec::new()));
                    next += 1;
                }
                continue;
            }
            let mut close = false;
            if let Some((s, pending)) = conns.get_mut(&key) {
                loop {
                    match s.read(&mut buf) {
                        Ok(0) => {
                            close = true;
                            break;
                        }
                        Ok(k) => pending.extend_from_slice(&buf[..k]),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(_) => {
                            close = true;
                            break;
                        }
                    }
                }
                while let Some(i) = pending.iter().position(|&b| b == b'\n') {
                    pending.drain(..=i);
                    if s.write_all(b"ok\n").is_err() {
                        close = true;
                    }
                }
            }
            if close && let Some((s, _)) = conns.remove(&key) {
                let _ = epoll.delete(s.as_fd());
            }
        }
    }
}

/// Compiles a C twin on `skeleton` (multi, event or single; policy: a
/// policy service on multi_server).
fn build_c(dir: &Path, skeleton: &str) -> Result<PathBuf, String> {
    let src = dir.join("stream_echo.c");
    let exe = dir.join(format!("stream_echo_{skeleton}"));
    std::fs::write(&src, C_SOURCE).map_err(|e| e.to_string())?;
    let defines: Vec<String> = match skeleton {
        "multi" => vec!["-DMULTI".into()],
        "policy" => vec!["-DMULTI".into(), "-DPOLICY".into()],
        "event" => vec!["-DEVENT".into()],
        _ => Vec::new(),
    };
    postkit_kit::postfix::build_c_service(&src, &exe, &defines)?;
    Ok(exe)
}

/// What the clients of a load say: a line, or a policy request.
#[derive(Clone, Copy)]
enum Protocol {
    /// `x`, answered `ok`.
    Line,
    /// A policy request as Postfix's smtpd sends it at RCPT
    /// (SMTPD_POLICY_README), answered `action=DUNNO` and an empty line.
    Policy,
}

const POLICY_REQUEST: &[u8] = b"request=smtpd_access_policy\nprotocol_state=RCPT\n\
protocol_name=ESMTP\nclient_address=192.0.2.10\nclient_name=mail.example.com\n\
client_port=40624\nreverse_client_name=mail.example.com\nserver_address=192.0.2.1\n\
server_port=25\nhelo_name=mail.example.com\nsender=alice@example.com\n\
recipient=bob@example.net\nrecipient_count=0\nqueue_id=\ninstance=123.456.7\n\
size=12345\netrn_domain=\nstress=\nsasl_method=\nsasl_username=\nsasl_sender=\n\
ccert_subject=\nccert_issuer=\nccert_fingerprint=\nencryption_protocol=TLSv1.3\n\
encryption_cipher=TLS_AES_256_GCM_SHA384\nencryption_keysize=256\n\
policy_context=\ncompatibility_level=3.6\n\n";

/// One request and its answer on a connection.
fn exchange(
    r: &mut BufReader<UnixStream>,
    line: &mut String,
    protocol: Protocol,
) -> std::io::Result<()> {
    let (request, answer): (&[u8], &[&str]) = match protocol {
        Protocol::Line => (b"x\n", &["ok\n"]),
        Protocol::Policy => (POLICY_REQUEST, &["action=DUNNO\n", "\n"]),
    };
    r.get_mut().write_all(request)?;
    for want in answer {
        line.clear();
        r.read_line(line)?;
        if line != want {
            return Err(std::io::Error::other(format!("answer {line:?}")));
        }
    }
    Ok(())
}

/// Requests (kept) or connections (not kept) per second from `clients`
/// concurrent clients for `secs`.
fn load(
    socket: &Path,
    clients: usize,
    kept: bool,
    secs: f64,
    protocol: Protocol,
) -> Result<f64, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (socket, stop, done) = (socket.to_path_buf(), stop.clone(), done.clone());
            std::thread::spawn(move || -> std::io::Result<()> {
                let mut line = String::new();
                let connect = || -> std::io::Result<BufReader<UnixStream>> {
                    let s = UnixStream::connect(&socket)?;
                    s.set_read_timeout(Some(Duration::from_secs(30)))?;
                    Ok(BufReader::new(s))
                };
                let mut conn = if kept { Some(connect()?) } else { None };
                while !stop.load(Ordering::Relaxed) {
                    match conn.as_mut() {
                        Some(c) => exchange(c, &mut line, protocol)?,
                        None => exchange(&mut connect()?, &mut line, protocol)?,
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    let counted = done.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join()
            .map_err(|_| "a client thread failed")?
            .map_err(|e| format!("{}: {e}", socket.display()))?;
    }
    Ok(counted as f64 / elapsed.as_secs_f64())
}

struct Target {
    name: &'static str,
    socket: PathBuf,
    protocol: Protocol,
}

/// Kills the bare server when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn run(exe: &Path, rounds: usize, scale: f64) -> Result<(), String> {
    println!(
        "\n## The stream skeletons: Postfix's multi_server, event_server and single_server (libpostfix-master.so) and postkit's, under postkit's master, and a bare epoll server\n"
    );
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let c_multi = build_c(work.path(), "multi")?;
    let c_event = build_c(work.path(), "event")?;
    let c_single = build_c(work.path(), "single")?;
    let c_policy = build_c(work.path(), "policy")?;
    let c_trigger =
        crate::skeleton::build_c_as(work.path(), "trigger_count", &["-DTRIGGER".into()])?;
    let counters = [
        work.path().join("ctrig.count"),
        work.path().join("rtrig.count"),
    ];
    for c in &counters {
        crate::count_service::new_counter(c)?;
    }
    let i = {
        let mut i = Instance::new(
            &format!(
                "{POSTLOG}cmulti unix n - n - 1 stream_echo_multi\n\
                 rmulti unix n - n - 1 bench_echo_multi\n\
                 cevent unix n - n - 1 stream_echo_event\n\
                 revent unix n - n - 1 bench_echo_event\n\
                 cpolicy unix n - n - 1 stream_echo_policy\n\
                 rpolicy unix n - n - 1 bench_policy\n\
                 csingle unix n - n - 100 stream_echo_single\n\
                 rsingle unix n - n - 100 bench_echo_single\n\
                 ctrig unix n - n - 1 trigger_count {}\n\
                 rtrig unix n - n - 1 bench_count_trigger {}\n",
                counters[0].display(),
                counters[1].display()
            ),
            "max_use = 1000000\n",
        );
        for (name, program) in [
            ("stream_echo_multi", c_multi.as_path()),
            ("stream_echo_event", c_event.as_path()),
            ("stream_echo_policy", c_policy.as_path()),
            ("bench_policy", exe),
            ("bench_echo_event", exe),
            ("stream_echo_single", c_single.as_path()),
            ("bench_echo_multi", exe),
            ("bench_echo_single", exe),
            ("trigger_count", c_trigger.as_path()),
            ("bench_count_trigger", exe),
        ] {
            std::os::unix::fs::symlink(program, i.path().join("libexec").join(name))
                .map_err(|e| e.to_string())?;
        }
        i.start();
        i
    };
    let bare_socket = work.path().join("bare");
    let bare = Guard(
        Command::new(exe)
            .arg("echo-server")
            .arg(&bare_socket)
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?,
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !bare_socket.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let public = |n: &str| i.path().join("queue/public").join(n);
    let targets = [
        Target {
            name: "Postfix multi_server",
            socket: public("cmulti"),
            protocol: Protocol::Line,
        },
        Target {
            name: "postkit multi_server",
            socket: public("rmulti"),
            protocol: Protocol::Line,
        },
        Target {
            name: "Postfix event_server",
            socket: public("cevent"),
            protocol: Protocol::Line,
        },
        Target {
            name: "postkit event_server",
            socket: public("revent"),
            protocol: Protocol::Line,
        },
        Target {
            name: "Postfix single_server",
            socket: public("csingle"),
            protocol: Protocol::Line,
        },
        Target {
            name: "postkit single_server",
            socket: public("rsingle"),
            protocol: Protocol::Line,
        },
        Target {
            name: "bare epoll server",
            socket: bare_socket.clone(),
            protocol: Protocol::Line,
        },
        Target {
            name: "Postfix multi_server policy",
            socket: public("cpolicy"),
            protocol: Protocol::Policy,
        },
        Target {
            name: "postkit multi_server policy",
            socket: public("rpolicy"),
            protocol: Protocol::Policy,
        },
    ];
    let secs = (1.0 * scale).max(0.3);
    // Warm-up: every service has its processes (single_server: as many
    // as the largest load needs).
    for t in &targets {
        load(&t.socket, 100, true, 0.3, t.protocol)?;
    }
    // results[target][kept][clients] over rounds, rounds interleaved.
    let mut results = vec![vec![vec![Vec::new(); CLIENTS.len()]; 2]; targets.len()];
    for _ in 0..rounds {
        for (k, kept) in [false, true].into_iter().enumerate() {
            for (c, &clients) in CLIENTS.iter().enumerate() {
                for (ti, t) in targets.iter().enumerate() {
                    results[ti][k][c].push(load(&t.socket, clients, kept, secs, t.protocol)?);
                }
            }
        }
    }
    drop(bare);
    // Triggers: Postfix's trigger_server and postkit's, rounds interleaved.
    let counter = |p: &Path| crate::count_service::map_counter(&p.display().to_string());
    let triggers = [
        (
            "Postfix trigger_server",
            public("ctrig"),
            counter(&counters[0]),
        ),
        (
            "postkit trigger_server",
            public("rtrig"),
            counter(&counters[1]),
        ),
    ];
    for (_, socket, counter) in &triggers {
        trigger_load(socket, counter, 10, 0.3)?;
    }
    let mut trigger_results = vec![vec![Vec::new(); CLIENTS.len()]; triggers.len()];
    for _ in 0..rounds {
        for (c, &clients) in CLIENTS.iter().enumerate() {
            for (ti, (_, socket, counter)) in triggers.iter().enumerate() {
                trigger_results[ti][c].push(trigger_load(socket, counter, clients, secs)?);
            }
        }
    }
    let med: Vec<Vec<Vec<Stats>>> = results
        .iter()
        .map(|t| {
            t.iter()
                .map(|k| k.iter().map(|v| stats(v)).collect())
                .collect()
        })
        .collect();
    for (k, what) in [
        "connections/s (connect, request, answer, close)",
        "requests/s over kept connections",
    ]
    .iter()
    .enumerate()
    {
        println!("\n{what}, median (min-max) of {rounds} rounds:\n");
        println!("| skeleton | 1 client | 10 clients | 100 clients |");
        println!("|---|---|---|---|");
        for (ti, t) in targets.iter().enumerate() {
            let cells: Vec<String> = med[ti][k].iter().map(|s| fmt_range(s, 0)).collect();
            println!("| {} | {} |", t.name, cells.join(" | "));
        }
        println!("\n| ratio | 1 | 10 | 100 |");
        println!("|---|---|---|---|");
        for (ours, theirs, label) in [
            (1, 0, "postkit / Postfix multi_server (target >= 1.5)"),
            (3, 2, "postkit / Postfix event_server (target >= 1.5)"),
            (5, 4, "postkit / Postfix single_server (target >= 1.5)"),
            (1, 6, "postkit multi_server / bare epoll (target >= 0.9)"),
            (3, 6, "postkit event_server / bare epoll (target >= 0.9)"),
            (5, 6, "postkit single_server / bare epoll (target >= 0.9)"),
            (
                8,
                7,
                "postkit / Postfix multi_server, policy requests (target >= 1.5)",
            ),
        ] {
            let cells: Vec<String> = (0..CLIENTS.len())
                .map(|c| format!("{:.2}", med[ours][k][c].median / med[theirs][k][c].median))
                .collect();
            println!("| {label} | {} |", cells.join(" | "));
        }
    }
    println!(
        "\ntriggers/s handled (connect, write `W`, close; the service counts each), process limit 1, median (min-max) of {rounds} rounds:\n"
    );
    println!("| skeleton | 1 sender | 10 senders | 100 senders |");
    println!("|---|---|---|---|");
    let tmed: Vec<Vec<Stats>> = trigger_results
        .iter()
        .map(|t| t.iter().map(|v| stats(v)).collect())
        .collect();
    for (ti, (name, _, _)) in triggers.iter().enumerate() {
        let cells: Vec<String> = tmed[ti].iter().map(|s| fmt_range(s, 0)).collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
    let cells: Vec<String> = (0..CLIENTS.len())
        .map(|c| format!("{:.2}", tmed[1][c].median / tmed[0][c].median))
        .collect();
    println!(
        "| postkit / Postfix trigger_server (target >= 1.5) | {} |",
        cells.join(" | ")
    );
    drop(i);
    Ok(())
}

/// Triggers per second that the service behind `socket` handled (its
/// shared `count`), from `senders` concurrent senders for `secs`: each
/// connects, writes the wake-up byte and closes, as Postfix's
/// unix_trigger does.
fn trigger_load(
    socket: &Path,
    count: &AtomicU64,
    senders: usize,
    secs: f64,
) -> Result<f64, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..senders)
        .map(|_| {
            let (socket, stop) = (socket.to_path_buf(), stop.clone());
            std::thread::spawn(move || -> std::io::Result<()> {
                while !stop.load(Ordering::Relaxed) {
                    UnixStream::connect(&socket)?.write_all(b"W")?;
                }
                Ok(())
            })
        })
        .collect();
    // The first triggers start the process, if it is not running.
    std::thread::sleep(Duration::from_millis(50));
    let (c0, t0) = (count.load(Ordering::Relaxed), Instant::now());
    std::thread::sleep(Duration::from_secs_f64(secs));
    let (c1, elapsed) = (count.load(Ordering::Relaxed), t0.elapsed());
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join()
            .map_err(|_| "a trigger sender failed")?
            .map_err(|e| format!("{}: {e}", socket.display()))?;
    }
    Ok((c1 - c0) as f64 / elapsed.as_secs_f64())
}
