//! postkit's test kit: private instances of postkit (its master with the
//! log service or example services) and of Debian's real Postfix in
//! temporary directories, loads of numbered log records with the check that
//! each arrived exactly once, and /proc helpers.  The integration tests and
//! `postkit-bench` use it alike, so that both start, wait for and stop an
//! instance the same way.  Nothing under /etc/postfix is touched.

use std::path::{Path, PathBuf};
use std::process::Command;

pub mod instance;
pub mod load;
pub mod postfix;
pub mod procs;
pub mod status;
pub mod stock;

/// The postkit executable: `POSTKIT_EXE`, else the one cargo built beside
/// the running test or bench executable (`target/PROFILE/postkit`).
pub fn postkit_exe() -> PathBuf {
    if let Some(p) = std::env::var_os("POSTKIT_EXE") {
        return PathBuf::from(p);
    }
    let mut p = std::env::current_exe().expect("own executable");
    p.pop();
    if p.ends_with("deps") {
        p.pop();
    }
    p.join("postkit")
}

/// A loopback TCP port nobody listens on (now).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
        skip(test, "real Postfix is not installed");
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

/// main.cf lines for the accounts: as root the defaults (user postfix);
/// otherwise mail_owner is the user running the tests (rootless).
pub fn accounts_main_cf() -> String {
    if nix::unistd::geteuid().is_root() {
        return String::new();
    }
    let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .unwrap()
        .unwrap()
        .name;
    format!("mail_owner = {me}\n")
}

/// The groups `user` (primary group `gid`) belongs to, sorted.
pub fn groups_of(user: &str, gid: nix::unistd::Gid) -> Vec<String> {
    let mut groups: Vec<String> =
        nix::unistd::getgrouplist(&std::ffi::CString::new(user).unwrap(), gid)
            .unwrap()
            .iter()
            .map(|g| g.to_string())
            .collect();
    groups.sort();
    groups.dedup();
    groups
}

/// The `groups=` field of the probe's post_init note, sorted.
pub fn groups_noted(line: &str) -> Vec<String> {
    let mut got: Vec<String> = line
        .split_whitespace()
        .find_map(|f| f.strip_prefix("groups="))
        .unwrap_or_default()
        .split(',')
        .map(str::to_string)
        .collect();
    got.sort();
    got.dedup();
    got
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

/// Records that `test` did not run, and why: on stderr, and as a line
/// `NAME: WHY` in the file `POSTKIT_SKIP_LOG` names, which the test script
/// counts and names (libtest has no run-time skip: such a test would
/// otherwise pass as "ok" without having run).
pub fn skip(test: &str, why: &str) {
    eprintln!("SKIPPED {test}: {why}");
    if let Some(path) = std::env::var_os("POSTKIT_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            // One write, so that tests skipping at once do not interleave.
            let _ = f.write_all(format!("{test}: {why}\n").as_bytes());
        }
    }
}

/// Whether `cargo deb` runs here; if not, `test` is recorded as skipped, or
/// fails with POSTKIT_REQUIRE_POSTFIX=1 (CI: scripts/test.sh installs
/// cargo-deb).  As another user than the toolchain's owner (the suite run
/// as nobody) cargo itself is out of reach: skipped, by name.
pub fn needs_cargo_deb(test: &str) -> bool {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let ok = Command::new(cargo)
        .args(["deb", "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("POSTKIT_REQUIRE_POSTFIX").as_deref() == Ok("1") {
            panic!("{test}: cargo deb is required (POSTKIT_REQUIRE_POSTFIX=1) but does not run");
        }
        skip(
            test,
            "cargo deb does not run here (not installed, or the toolchain is another user's)",
        );
    }
    ok
}

/// Whether cargo (the one that built the tests) is this user's own, so
/// that a test may build a crate with it (its registry and caches are in
/// the owner's home); if not, `test` is recorded as skipped.
pub fn needs_own_cargo(test: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let ours = std::fs::metadata(&cargo).is_ok_and(|m| m.uid() == nix::unistd::geteuid().as_raw());
    if !ours {
        skip(test, "the toolchain that built the tests is another user's");
    }
    ours
}

/// Whether this runs as root; if not, `test` is recorded as skipped.
pub fn needs_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    skip(test, "needs root");
    false
}
