//! Helpers shared by the integration tests: the test kit, and the postkit
//! executable cargo built for them.
#![allow(dead_code, unused_imports)]

use std::path::PathBuf;

pub use postkit_kit::*;

/// The postkit executable cargo built for these tests.
pub fn postkit() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_postkit"))
}

pub mod fake_master;

/// An instance of postkit, loads of log records and /proc helpers.
pub mod instance {
    pub use postkit_kit::instance::*;
    pub use postkit_kit::load::*;
}
