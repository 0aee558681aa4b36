//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The postkit executable cargo built for these tests.
pub fn postkit() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_postkit"))
}

/// Whether real Postfix is installed.  With POSTKIT_REQUIRE_POSTFIX=1 (as in
/// CI) a missing Postfix fails the test instead of skipping it.
pub fn have_postfix(test: &str) -> bool {
    let ok = Path::new("/usr/sbin/postconf").exists()
        && Path::new("/usr/lib/postfix/sbin/master").exists();
    if !ok {
        if std::env::var("POSTKIT_REQUIRE_POSTFIX").as_deref() == Ok("1") {
            panic!(
                "{test}: real Postfix is required (POSTKIT_REQUIRE_POSTFIX=1) but not installed"
            );
        }
        eprintln!("{test}: skipped, real Postfix is not installed");
    }
    ok
}

/// Sets a file's modification time an hour back: Postfix re-reads a main.cf
/// changed within the last second until it has been quiet for a second.
pub fn make_cold(path: &Path) {
    let status = Command::new("touch")
        .args(["-d", "1 hour ago"])
        .arg(path)
        .status()
        .expect("touch");
    assert!(status.success());
}

/// stdout, stderr lines and exit status of a command.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: Vec<String>,
    pub status: i32,
}

pub fn run(cmd: &mut Command) -> Outcome {
    let out = cmd.output().expect("run command");
    Outcome {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr)
            .lines()
            .map(str::to_string)
            .collect(),
        status: out.status.code().unwrap_or(-1),
    }
}

pub mod instance;
