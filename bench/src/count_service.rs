//! `bench_count`: postkit's twin of bench/c/dgram_count.c, the same
//! service on postkit's skeleton.  It counts each datagram in a shared
//! counter (an 8-byte file every process of the pool maps), after spinning
//! for a fixed time (work) or sleeping for one (a wait, as for a lookup)
//! when asked to.  A master runs it (the bench links it into
//! daemon_directory under this name):
//!
//! `NAME unix-dgram n n n - LIMIT bench_count COUNTER SPIN_NS SLEEP_NS`
//!
//! Run as `bench_count_trigger`, the same handler on the trigger skeleton,
//! once per trigger (the twin of dgram_count.c built with -DTRIGGER).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use postkit::server::dgram_server::DgramServer;

#[derive(Default)]
struct Count {
    counter: Option<&'static AtomicU64>,
    spin: Duration,
    sleep: Duration,
}

/// A fresh counter file: 8 zero bytes, writable by every service process
/// (some run as mail_owner).
pub fn new_counter(path: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, [0u8; 8]).map_err(|e| e.to_string())?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
        .map_err(|e| e.to_string())
}

/// Maps the 8-byte counter file shared by the pool.
pub fn map_counter(path: &str) -> &'static AtomicU64 {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| postkit::msg_fatal!("open {path}: {e}"));
    // SAFETY: a fresh shared mapping of 8 bytes of a file the bench made 8
    // bytes long; it is never unmapped, so the reference lives as long as
    // the process, and every process touches it only through atomics.
    unsafe {
        let p = nix::sys::mman::mmap(
            None,
            std::num::NonZeroUsize::new(8).expect("nonzero"),
            nix::sys::mman::ProtFlags::PROT_READ | nix::sys::mman::ProtFlags::PROT_WRITE,
            nix::sys::mman::MapFlags::MAP_SHARED,
            &file,
            0,
        )
        .unwrap_or_else(|e| postkit::msg_fatal!("mmap {path}: {e}"));
        AtomicU64::from_ptr(p.as_ptr().cast())
    }
}

pub fn main(args: &[String]) -> ! {
    let trigger = args
        .first()
        .is_some_and(|a| a.ends_with("bench_count_trigger"));
    if trigger {
        use postkit::server::trigger_server::TriggerServer;
        TriggerServer::new(Count::default()).run_with_args(args, |c, _trigger, ctx| count(c, ctx))
    }
    DgramServer::new(Count::default()).run_with_args(args, |c, _datagram, ctx| count(c, ctx))
}

/// The handler: the work or the wait asked for, then one count.
fn count(c: &mut Count, ctx: &postkit::server::mail_server::Ctx) {
    let counter = *c.counter.get_or_insert_with(|| {
        let ns = |i: usize| {
            Duration::from_nanos(ctx.argv.get(i).and_then(|v| v.parse().ok()).unwrap_or(0))
        };
        (c.spin, c.sleep) = (ns(1), ns(2));
        map_counter(ctx.argv.first().map_or("", String::as_str))
    });
    if !c.spin.is_zero() {
        let start = Instant::now();
        while start.elapsed() < c.spin {
            std::hint::spin_loop();
        }
    }
    if !c.sleep.is_zero() {
        std::thread::sleep(c.sleep);
    }
    counter.fetch_add(1, Ordering::Relaxed);
}
