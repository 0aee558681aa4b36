//! Throughput of the log path: blocking senders into each target, every
//! datagram checked to be in the target's log exactly once, each line
//! whole.  Rounds go round the targets, so that the machine's drift falls
//! on all of them alike; the bare receivers say which rounds it disturbed.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::stats::{Stats, deviating, stats};

pub struct Load {
    pub name: &'static str,
    pub senders: usize,
    pub size: usize,
    pub count: usize,
}

pub const LOADS: &[Load] = &[
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
        name: "4 senders, 120 B",
        senders: 4,
        size: 120,
        count: 200_000,
    },
    Load {
        name: "1 sender, 1000 B",
        senders: 1,
        size: 1000,
        count: 100_000,
    },
    Load {
        name: "4 senders, 1000 B",
        senders: 4,
        size: 1000,
        count: 100_000,
    },
];

/// Something that receives datagrams on `socket` and appends lines to `log`.
#[derive(Clone)]
pub struct Target {
    pub name: &'static str,
    /// A bare receiver (the raw socket limit), not a product.
    pub raw: bool,
    pub socket: PathBuf,
    pub log: PathBuf,
}

/// The datagram with sequence number `seq` of a round, exactly `size` bytes.
fn datagram(round: usize, seq: usize, size: usize) -> Vec<u8> {
    let mut d = format!("Nov 24 09:00:00 bench r{round}[1]: seq {seq:010} ").into_bytes();
    d.resize(size, b'x');
    d
}

fn send_all(socket: &Path, round: usize, seqs: std::ops::Range<usize>, size: usize) {
    let s = UnixDatagram::unbound().expect("socket");
    s.connect(socket).expect("connect to the log socket");
    for seq in seqs {
        s.send(&datagram(round, seq, size)).expect("send");
    }
}

pub fn log_len(log: &Path) -> u64 {
    std::fs::metadata(log).map(|m| m.len()).unwrap_or(0)
}

/// Waits until `log` is at least `want` bytes long.
pub fn wait_len(log: &Path, want: u64, what: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let len = log_len(log);
        if len >= want {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{what}: only {len} of {want} bytes arrived"));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// One round: sends `load.count` datagrams, waits until all are in the log,
/// checks each is there exactly once, and returns datagrams per second.
fn round(t: &Target, load: &Load, round_no: usize) -> Result<f64, String> {
    let start_len = log_len(&t.log);
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
    wait_len(&t.log, want, t.name)?;
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

/// Every load against every target; prints the table, the ratios and the
/// disturbed rounds.
pub fn run(targets: &[Target], rounds: usize, scale: f64) -> Result<(), String> {
    println!("\n## Throughput (blocking senders, every datagram checked in the log)\n");
    let mut table: Vec<(&'static str, &'static str, Stats)> = Vec::new();
    let mut disturbed = Vec::new();
    for load in LOADS {
        let load = Load {
            count: ((load.count as f64 * scale) as usize).max(1000),
            ..*load
        };
        // Each round after a sync(): at 1000-byte records the file system's
        // dirty-page throttling would otherwise slow whichever target runs
        // after another's writes.
        let mut rates = vec![Vec::new(); targets.len()];
        for r in 0..rounds {
            for (t, rates) in targets.iter().zip(rates.iter_mut()) {
                nix::unistd::sync();
                rates.push(round(t, &load, r)?);
            }
        }
        for (t, rates) in targets.iter().zip(&rates) {
            let s = stats(rates);
            eprintln!("  {:<22} {:<18} {:>10.0}/s", t.name, load.name, s.median);
            table.push((load.name, t.name, s));
            if t.raw {
                for r in deviating(rates) {
                    disturbed.push(format!(
                        "{}: round {r}: {} at {:.0}/s, more than 30% from its median {:.0}/s",
                        load.name, t.name, rates[r], s.median
                    ));
                }
            }
        }
    }
    println!(
        "{:<18} {:<22} {:>10} {:>10} {:>10}",
        "load", "target", "median/s", "min/s", "max/s"
    );
    for (load, name, s) in &table {
        println!(
            "{load:<18} {name:<22} {:>10.0} {:>10.0} {:>10.0}",
            s.median, s.min, s.max
        );
    }
    println!();
    println!(
        "{:<18} {:>16} {:>16} {:>18}",
        "load", "postkit/Postfix", "postkit/rsyslog", "postkit/best raw"
    );
    for load in LOADS {
        let get = |name: &str| {
            table
                .iter()
                .find(|(l, n, _)| *l == load.name && *n == name)
                .map(|(_, _, s)| s.median)
        };
        let ours = get("postkit postlogd").unwrap_or(0.0);
        let ratio =
            |other: Option<f64>| other.map_or("-".to_string(), |t| format!("{:.2}x", ours / t));
        let raw = targets
            .iter()
            .filter(|t| t.raw)
            .filter_map(|t| get(t.name))
            .fold(0.0, f64::max);
        println!(
            "{:<18} {:>16} {:>16} {:>17.0}%",
            load.name,
            ratio(get("Postfix postlogd")),
            ratio(get("rsyslog")),
            100.0 * ours / raw
        );
    }
    if disturbed.is_empty() {
        println!("no round disturbed (each bare receiver within 30% of its median)");
    }
    for d in disturbed {
        println!("disturbed round: {d}");
    }
    Ok(())
}
