//! `postkit new-service` (issue 24.5): a crate for each skeleton, built
//! with cargo against this source tree, linked into daemon_directory and
//! run under postkit's master, each doing what its README says; `check`
//! knows each one's own parameter.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::Command;
use std::time::Duration;

use common::instance::Instance;

const SKELETONS: [&str; 5] = ["dgram", "single", "multi", "event", "trigger"];

#[test]
fn new_service_crates_build_and_run_under_the_master() {
    if !common::needs_own_cargo("new_service_crates_build_and_run_under_the_master") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    for k in SKELETONS {
        let out = Command::new(common::postkit())
            .args(["new-service", "--skeleton", k, &format!("my-{k}")])
            .arg(work.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dir = work.path().join(format!("my-{k}"));
        // The versions this tree is tested with.
        std::fs::copy(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock"),
            dir.join("Cargo.lock"),
        )
        .unwrap();
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
        assert!(readme.contains(&format!("my_{k}_greeting")), "{readme}");
        let out = Command::new(env!("CARGO"))
            .args(["build", "--quiet"])
            .current_dir(&dir)
            // One target directory: postkit is compiled once for all five.
            .env("CARGO_TARGET_DIR", work.path().join("target"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cargo build my-{k}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The same name twice is refused, nothing overwritten.
    let out = Command::new(common::postkit())
        .args(["new-service", "my-dgram"])
        .arg(work.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists: not overwritten"));

    let port = common::free_port();
    let i = Instance::new(
        &format!(
            "postlog unix-dgram n - n - 1 postlogd\n\
             my-dgram unix-dgram n - n - 1 my-dgram\n\
             127.0.0.1:{port} inet n - n - 2 my-single\n\
             my-multi unix - n n - 2 my-multi -o my_multi_greeting=hi\n\
             my-event unix - n n - 1 my-event\n\
             my-trigger fifo - n n 1 1 my-trigger\n"
        ),
        "",
    );
    for k in SKELETONS {
        std::os::unix::fs::symlink(
            work.path().join(format!("target/debug/my-{k}")),
            i.path().join(format!("libexec/my-{k}")),
        )
        .unwrap();
    }
    let (code, out, err) = i.ctl("check");
    assert_eq!(code, 0, "{out}{err}");
    assert!(!err.contains("my_multi_greeting"), "{err}");
    let mut i = i;
    i.start();

    // dgram: a datagram, logged.
    i.send("my-dgram", b"12345");
    i.wait_for(
        |i| i.log().contains("]: hello #1: 5 bytes"),
        "the datagram logged",
    );
    // single, inet: a greeting, then an echo.
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(tcp.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "hello\n");
    writeln!(&tcp, "abc").unwrap();
    line.clear();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "echo: abc\n");
    drop(tcp);
    // multi: its -o greeting.
    let c =
        std::os::unix::net::UnixStream::connect(i.path().join("queue/private/my-multi")).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    writeln!(&c, "there").unwrap();
    let mut r = BufReader::new(c.try_clone().unwrap());
    line.clear();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "hi there\n");
    // event: greeting, then a count.
    let c =
        std::os::unix::net::UnixStream::connect(i.path().join("queue/private/my-event")).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(c.try_clone().unwrap());
    line.clear();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "hello\n");
    writeln!(&c, "x").unwrap();
    line.clear();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "1\n");
    // trigger: the master's timer.
    i.wait_for(
        |i| i.log().contains("]: hello: woken with \"W\""),
        "the trigger service woken",
    );
    i.stop();
}

/// The crate packages as an author would depend on it (issue 24.5):
/// `cargo package` builds what it would publish (the library, the program,
/// the examples), with the licence and changelog in it.
#[test]
fn the_crate_packages_with_its_licence_and_changelog() {
    if !common::needs_own_cargo("the_crate_packages_with_its_licence_and_changelog") {
        return;
    }
    let target = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO"))
        .args([
            "package",
            "-p",
            "postkit",
            "--allow-dirty",
            "--quiet",
            "--target-dir",
        ])
        .arg(target.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo package: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(env!("CARGO"))
        .args([
            "package",
            "-p",
            "postkit",
            "--allow-dirty",
            "--list",
            "--target-dir",
        ])
        .arg(target.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&out.stdout);
    for f in [
        "LICENSE",
        "CHANGELOG.md",
        "README.md",
        "src/lib.rs",
        "examples/policy_service.rs",
    ] {
        assert!(list.lines().any(|l| l == f), "{f} in:\n{list}");
    }
}
