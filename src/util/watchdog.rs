//! The watchdog: a process whose loop turn takes longer than its timeout
//! (a handler stuck in a system call, an endless loop) logs
//! `fatal: watchdog timeout` and exits, so that the master replaces it.
//!
//! As in Postfix, SIGALRM fires every third of the timeout; each firing that
//! finds the loop not restarted counts a trip, and the third trip ends the
//! process.  Unlike Postfix, the alarm is armed once and re-armed by its own
//! handler, so a loop turn costs no system call: starting, stopping and
//! patting the watchdog are stores to atomics.  The handler may only do
//! async-signal-safe work, so the fatal record is prepared beforehand and
//! the time stamp computed by arithmetic.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU32, Ordering};

static STEP: AtomicU32 = AtomicU32::new(0);
static TRIPS: AtomicU32 = AtomicU32::new(0);
/// Set while the process waits where it may legitimately wait long (a lock).
static SUSPENDED: AtomicU32 = AtomicU32::new(0);
static UTC_OFFSET: AtomicI64 = AtomicI64::new(0);
/// Where the fatal record goes: a connected postlog socket, or -1.
static LOG_FD: AtomicI32 = AtomicI32::new(-1);
/// Whether to also write `TAG: fatal: watchdog timeout` to stderr.
static TO_STDERR: AtomicU32 = AtomicU32::new(0);
/// ` HOST TAG[` and `]: fatal: watchdog timeout` (after the time stamp,
/// around the process ID, which a drained child changes).
static RECORD_HEAD: OnceLock<Vec<u8>> = OnceLock::new();
static RECORD_TAIL: &[u8] = b"]: fatal: watchdog timeout";
static STDERR_LINE: OnceLock<Vec<u8>> = OnceLock::new();

/// Arms the watchdog machinery for `timeout` seconds.  `log_fd` is the
/// connected postlog socket (if logging goes there) and `host` and `tag`
/// what its records carry.
pub fn create(
    timeout: u32,
    log_fd: Option<i32>,
    host: &str,
    tag: &str,
    to_stderr: bool,
) -> Result<(), String> {
    let step = timeout / 3;
    if step == 0 {
        return Err(format!("watchdog_create: timeout {timeout} is too small"));
    }
    STEP.store(step, Ordering::SeqCst);
    UTC_OFFSET.store(
        i64::from(chrono::Local::now().offset().local_minus_utc()),
        Ordering::SeqCst,
    );
    LOG_FD.store(log_fd.unwrap_or(-1), Ordering::SeqCst);
    TO_STDERR.store(u32::from(to_stderr), Ordering::SeqCst);
    let host = host.split('.').next().unwrap_or("");
    let _ = RECORD_HEAD.set(format!(" {host} {tag}[").into_bytes());
    let _ = STDERR_LINE.set(format!("{tag}: fatal: watchdog timeout\n").into_bytes());
    // SAFETY: on_alarm only touches atomics and OnceLock values that were
    // set above, and calls async-signal-safe functions (alarm, clock_gettime,
    // write, send, _exit).
    unsafe { crate::util::sig::set_handler(nix::sys::signal::Signal::SIGALRM, on_alarm) }
        .map_err(|e| format!("watchdog_create: sigaction: {}", crate::util::nix_text(e)))?;
    nix::unistd::alarm::set(step);
    Ok(())
}

/// Re-arms the alarm in a forked child (a drain), which does not inherit
/// it; a no-op where no watchdog was created.
pub fn after_fork() {
    let step = STEP.load(Ordering::SeqCst);
    if step > 0 {
        nix::unistd::alarm::set(step);
    }
}

/// Starts (or restarts) the countdown: called at the top of each loop turn.
pub fn start() {
    TRIPS.store(0, Ordering::SeqCst);
    SUSPENDED.store(0, Ordering::SeqCst);
}

/// Stops the countdown (while waiting for a lock, which may take long).
pub fn stop() {
    SUSPENDED.store(1, Ordering::SeqCst);
}

/// Resets the trip count without restarting the timer.
pub fn pat() {
    TRIPS.store(0, Ordering::SeqCst);
}

extern "C" fn on_alarm(_sig: libc::c_int) {
    let trips = if SUSPENDED.load(Ordering::SeqCst) != 0 {
        0
    } else {
        TRIPS.fetch_add(1, Ordering::SeqCst) + 1
    };
    if trips < 3 {
        nix::unistd::alarm::set(STEP.load(Ordering::SeqCst));
        return;
    }
    let mut rec = [0u8; 512];
    let mut len = timestamp(&mut rec);
    let mut pid_buf = [0u8; 12];
    // getpid() is async-signal-safe.
    let pid = digits(nix::unistd::getpid().as_raw() as u32, &mut pid_buf);
    for part in [
        RECORD_HEAD.get().map_or(&[][..], |h| &h[..]),
        pid,
        RECORD_TAIL,
    ] {
        let n = part.len().min(rec.len() - len);
        rec[len..len + n].copy_from_slice(&part[..n]);
        len += n;
    }
    let fd = LOG_FD.load(Ordering::SeqCst);
    // SAFETY: send(), write() and _exit() are async-signal-safe; the buffers
    // are valid for the lengths given.
    unsafe {
        if fd >= 0 {
            libc::send(fd, rec.as_ptr().cast(), len, 0);
        }
        if TO_STDERR.load(Ordering::SeqCst) != 0
            && let Some(line) = STDERR_LINE.get()
        {
            libc::write(2, line.as_ptr().cast(), line.len());
        }
        libc::_exit(1);
    }
}

/// `n` in decimal, at the end of `buf`, without allocating.
fn digits(mut n: u32, buf: &mut [u8; 12]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// Writes `Mon dd hh:mm:ss` (local time, by the offset captured at start)
/// into `buf` without any library call that could take a lock.
fn timestamp(buf: &mut [u8]) -> usize {
    // clock_gettime() is async-signal-safe.
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME)
        .map_or(0, |t| t.tv_sec())
        + UTC_OFFSET.load(Ordering::SeqCst);
    format_time(now, buf)
}

fn format_time(local_secs: i64, buf: &mut [u8]) -> usize {
    const MONTHS: &[u8; 36] = b"JanFebMarAprMayJunJulAugSepOctNovDec";
    let days = local_secs.div_euclid(86400);
    let secs = local_secs.rem_euclid(86400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let m = (month - 1) as usize * 3;
    let two = |v: i64| [b'0' + (v / 10) as u8, b'0' + (v % 10) as u8];
    let mut out = [0u8; 15];
    out[..3].copy_from_slice(&MONTHS[m..m + 3]);
    out[3] = b' ';
    out[4..6].copy_from_slice(&two(day));
    out[6] = b' ';
    out[7..9].copy_from_slice(&two(secs / 3600));
    out[9] = b':';
    out[10..12].copy_from_slice(&two(secs / 60 % 60));
    out[12] = b':';
    out[13..15].copy_from_slice(&two(secs % 60));
    buf[..15].copy_from_slice(&out);
    15
}

#[cfg(test)]
mod tests {
    #[test]
    fn time_format_matches_strftime() {
        for t in [
            0i64,
            1_700_000_000,
            1_709_712_307,
            951_782_400,
            4_102_444_799,
        ] {
            let mut b = [0u8; 32];
            let n = super::format_time(t, &mut b);
            let expect = chrono::DateTime::from_timestamp(t, 0)
                .unwrap()
                .format("%b %d %H:%M:%S")
                .to_string();
            assert_eq!(std::str::from_utf8(&b[..n]).unwrap(), expect);
        }
    }

    #[test]
    fn pid_digits() {
        let mut b = [0u8; 12];
        assert_eq!(super::digits(0, &mut b), b"0");
        assert_eq!(super::digits(4711, &mut b), b"4711");
        assert_eq!(super::digits(u32::MAX, &mut b), b"4294967295");
    }
}
