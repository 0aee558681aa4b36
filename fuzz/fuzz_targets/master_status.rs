//! The master's status reader: any sequence of messages on the status
//! channel (whole records, short or long garbage, unknown pids and
//! generations) mixed with children coming and going keeps the busy/idle
//! accounting consistent and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postkit::internal::master::master_status::ProcTable;

fuzz_target!(|data: &[u8]| {
    let mut table = ProcTable::default();
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        match op % 4 {
            // A child is spawned (pids and generations from a small set, so
            // that records hit them).
            0 => table.add(i32::from(op >> 2) % 8, u32::from(op >> 5)),
            // A child is reaped.
            1 => {
                let _ = table.remove(i32::from(op >> 2) % 8);
            }
            // A message of up to 31 bytes.
            _ => {
                let len = usize::from(op >> 3).min(rest.len());
                let (msg, tail) = rest.split_at(len);
                rest = tail;
                let _ = table.update(msg);
            }
        }
        assert!(table.consistent());
        assert!(table.avail() + table.busy() == table.total());
    }
});
