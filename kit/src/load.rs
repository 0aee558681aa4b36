//! Loads of numbered log records sent to a log socket, and the check that
//! a log holds each exactly once, whole.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Senders of numbered records, `load[T]: seq N`, to an instance's postlog
/// socket with blocking sends (as Postfix's clients), until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<u64>>,
    /// Sends the socket refused (ENOENT, ECONNREFUSED, EPIPE, ...).
    errors: Arc<std::sync::atomic::AtomicU64>,
    /// The longest one send() call took, in microseconds (a blocking send
    /// waits while the socket is full).
    max_wait_us: Arc<std::sync::atomic::AtomicU64>,
}

/// A record as a Postfix client formats it, numbered by sender and sequence.
pub fn load_record(sender: usize, seq: u64, pad: usize) -> Vec<u8> {
    let mut r = format!("Nov 24 10:00:00 host load[{sender}]: seq {seq:09} ").into_bytes();
    r.resize(r.len() + pad, b'x');
    r
}

impl Load {
    pub fn start(socket: &Path, senders: usize, pad: usize) -> Load {
        Load::start_ids(socket, 0..senders, pad)
    }

    /// Senders numbered `ids` (their records' `load[T]`).
    pub fn start_ids(socket: &Path, ids: std::ops::Range<usize>, pad: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let max_wait_us = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let threads = ids
            .map(|t| {
                let stop = Arc::clone(&stop);
                let errors = Arc::clone(&errors);
                let max_wait_us = Arc::clone(&max_wait_us);
                let socket = socket.to_path_buf();
                std::thread::spawn(move || {
                    let c = UnixDatagram::unbound().unwrap();
                    let mut seq = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        // A send the socket refuses (it is being
                        // re-created) is not a record sent.
                        let began = std::time::Instant::now();
                        let sent = c.send_to(&load_record(t, seq, pad), &socket);
                        let took = began.elapsed().as_micros() as u64;
                        max_wait_us.fetch_max(took, Ordering::Relaxed);
                        if sent.is_ok() {
                            seq += 1;
                        } else {
                            errors.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                    seq
                })
            })
            .collect();
        Load {
            stop,
            threads,
            errors,
            max_wait_us,
        }
    }

    /// Sends refused so far.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// The longest a sender has waited in one send() so far.
    pub fn max_wait(&self) -> Duration {
        Duration::from_micros(self.max_wait_us.load(Ordering::Relaxed))
    }

    /// Stops the senders; how many records each sent, in id order.
    pub fn stop(self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect()
    }
}

/// What a log holds of a load.
#[derive(Debug, Default)]
pub struct LoadCheck {
    /// Records sent but not in the log, per sender.
    pub missing: Vec<Vec<u64>>,
    /// Records found more than once.
    pub duplicated: Vec<String>,
    /// Lines that are not one whole record (split, merged or cut).
    pub malformed: Vec<String>,
}

impl LoadCheck {
    pub fn missing_total(&self) -> usize {
        self.missing.iter().map(Vec::len).sum()
    }

    /// Says how many of the records sent were lost, for the test's output.
    pub fn report(&self, what: &str, sent: &[u64]) -> &Self {
        eprintln!(
            "{what}: {} of {} records lost",
            self.missing_total(),
            sent.iter().sum::<u64>()
        );
        self
    }

    /// Every line whole and none twice; at most `max` records lost (what
    /// a killed process had taken and not written).
    pub fn assert_at_most_lost(&self, max: usize) {
        assert!(
            self.malformed.is_empty(),
            "{:?}",
            &self.malformed[..self.malformed.len().min(5)]
        );
        assert!(self.duplicated.is_empty(), "{:?}", self.duplicated);
        assert!(
            self.missing_total() <= max,
            "lost {} records, at most {max} may be: {:?}",
            self.missing_total(),
            self.missing
                .iter()
                .map(|m| m.iter().take(10).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        );
    }

    pub fn assert_exactly_once(&self) {
        assert!(
            self.missing_total() == 0 && self.duplicated.is_empty() && self.malformed.is_empty(),
            "missing {:?}, duplicated {:?}, malformed {:?}",
            self.missing
                .iter()
                .map(|m| m.iter().take(10).collect::<Vec<_>>())
                .collect::<Vec<_>>(),
            &self.duplicated[..self.duplicated.len().min(5)],
            &self.malformed[..self.malformed.len().min(5)]
        );
    }
}

/// Checks the load lines of `log` against what each sender sent.
pub fn check_load(log: &str, sent: &[u64], pad: usize) -> LoadCheck {
    let mut seen: Vec<Vec<u8>> = sent.iter().map(|n| vec![0u8; *n as usize]).collect();
    let mut check = LoadCheck::default();
    for line in log.lines() {
        if !line.contains("load[") {
            continue;
        }
        let parsed = (|| {
            let rest = line.strip_prefix("Nov 24 10:00:00 host load[")?;
            let (t, rest) = rest.split_once("]: seq ")?;
            let t: usize = t.parse().ok()?;
            let (seq, tail) = rest.split_once(' ')?;
            let seq: u64 = seq.parse().ok()?;
            (tail.len() == pad && load_record(t, seq, pad) == line.as_bytes()).then_some((t, seq))
        })();
        match parsed {
            Some((t, seq)) if t < sent.len() && seq < sent[t] => {
                let n = &mut seen[t][seq as usize];
                *n += 1;
                if *n == 2 {
                    check.duplicated.push(line.to_string());
                }
            }
            _ => check.malformed.push(line.to_string()),
        }
    }
    check.missing = seen
        .iter()
        .map(|s| {
            s.iter()
                .enumerate()
                .filter(|(_, n)| **n == 0)
                .map(|(i, _)| i as u64)
                .collect()
        })
        .collect();
    check
}

/// The padding the fault tests give their records.
pub const PAD: usize = 40;

/// The tests that bound times (a new postlogd within a second, children
/// gone within a second) while senders keep both cores busy run one at a
/// time, so that two loads never compete for the machine.
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Stops the load and waits until the last record of every sender is in
/// `log()`; returns what each sent.
pub fn finish(
    i: &crate::instance::Instance,
    load: Load,
    log: impl Fn(&crate::instance::Instance) -> String,
) -> Vec<u64> {
    let sent = load.stop();
    let last: Vec<String> = sent
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(t, n)| String::from_utf8(load_record(t, n - 1, PAD)).unwrap())
        .collect();
    i.wait_for(
        |i| {
            let text = log(i);
            last.iter().all(|l| text.contains(l.as_str()))
        },
        "the last record of every sender",
    );
    sent
}

/// A log service under load, the shape most fault tests start from: the
/// serial guard (see one_at_a_time), an instance of the log service alone,
/// started, and `senders` senders of numbered records keeping its socket
/// full.
pub fn log_service_under_load(
    senders: usize,
) -> (
    std::sync::MutexGuard<'static, ()>,
    crate::instance::Instance,
    Load,
) {
    let serial = one_at_a_time();
    let mut i = crate::instance::Instance::new(crate::instance::POSTLOG, "");
    i.start();
    let load = Load::start(&i.postlog_socket(), senders, PAD);
    (serial, i, load)
}
