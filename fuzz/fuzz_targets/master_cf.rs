//! master.cf text: fields, `-` defaults, continuation lines, `-o` options
//! and braced arguments.  Any input must end in entries or an error naming
//! the line, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postkit::internal::master::master_ent::{EntContext, parse_master_cf};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let ctx = EntContext::default();
    let mut warn = |_: String| {};
    if let Ok(ents) = parse_master_cf("/fuzz/master.cf", &text, &ctx, &mut warn) {
        for e in ents {
            assert!(!e.argv.is_empty(), "an entry always has a command");
        }
    }
});
