//! Install like a real tool (issue 13): the Debian package `cargo deb`
//! builds from Cargo.toml's metadata, unpacked into a scratch root.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds the package; returns its path.  One build at a time: two at
/// once in one target directory strip and archive the same binary, and
/// one package got a half-written one ("Exec format error").
fn build_deb(out_dir: &Path) -> PathBuf {
    static ONE_BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE_BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // Its own target directory: the one `cargo test` is using stays locked
    // while the tests run.
    run(Command::new(cargo)
        .current_dir(manifest)
        .env("CARGO_TARGET_DIR", manifest.join("target/deb"))
        .args(["deb", "--strip", "--output"])
        .arg(out_dir));
    let debs: Vec<PathBuf> = std::fs::read_dir(out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    assert_eq!(debs.len(), 1, "{debs:?}");
    debs.into_iter().next().unwrap()
}

#[test]
fn debian_package_installs_into_a_scratch_root_and_runs() {
    if !common::needs_cargo_deb("debian_package_installs_into_a_scratch_root_and_runs") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let deb = build_deb(tmp.path());
    let root = tmp.path().join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));

    // The binary runs from there.
    let version = run(Command::new(root.join("usr/sbin/postkit")).arg("--version"));
    assert!(
        version.starts_with(&format!("postkit {} (commit ", env!("CARGO_PKG_VERSION")))
            && version.contains("compatible with Postfix 3.7.11"),
        "{version}"
    );
    let file = run(Command::new("file").arg(root.join("usr/sbin/postkit")));
    assert!(file.contains(", stripped"), "{file}");

    // Debian's layout: units, man pages (compressed, rendering without a
    // warning), the configuration as conffiles.
    for path in [
        "usr/lib/systemd/system/postkit.service",
        "usr/lib/systemd/system/postkit.socket",
        "etc/postkit/main.cf",
        "etc/postkit/master.cf",
        "usr/share/doc/postkit/copyright",
    ] {
        assert!(root.join(path).is_file(), "no {path} in the package");
    }
    for page in [
        "usr/share/man/man8/postkit.8.gz",
        "usr/share/man/man8/postkit-postlogd.8.gz",
        "usr/share/man/man1/postkit-postlog.1.gz",
    ] {
        let out = Command::new("man")
            .env("LC_ALL", "C.UTF-8")
            .env("MANWIDTH", "80")
            .args(["--warnings", "-l"])
            .arg(root.join(page))
            .output()
            .unwrap();
        assert!(out.status.success(), "{page}");
        assert!(
            out.stderr.is_empty(),
            "{page}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("NAME") && text.contains("SEE ALSO"),
            "{page}: {text}"
        );
    }
    let info = tmp.path().join("control");
    run(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&info));
    let conffiles = std::fs::read_to_string(info.join("conffiles")).unwrap();
    assert_eq!(conffiles, "/etc/postkit/main.cf\n/etc/postkit/master.cf\n");
    let control = std::fs::read_to_string(info.join("control")).unwrap();
    assert!(control.contains("\nSection: mail\n"), "{control}");
    let postinst = std::fs::read_to_string(info.join("postinst")).unwrap();
    assert!(postinst.contains("adduser --system --group"), "{postinst}");
    assert!(
        postinst.contains("addgroup --system postkitdrop"),
        "{postinst}"
    );

    // The packaged configuration is valid and is postkit's own, not Postfix's.
    let conf = run(Command::new(root.join("usr/sbin/postkit"))
        .arg("postconf")
        .arg("-c")
        .arg(root.join("etc/postkit"))
        .args(["-n", "queue_directory", "maillog_file", "mail_owner"]));
    assert_eq!(
        conf,
        "queue_directory = /var/spool/postkit\nmaillog_file = /var/log/postkit.log\nmail_owner = postkit\n"
    );
    let unit =
        std::fs::read_to_string(root.join("usr/lib/systemd/system/postkit.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/sbin/postkit -c /etc/postkit master"),
        "{unit}"
    );

    // Installs beside Postfix: no file of the postfix package is in it.
    if common::have_postfix("debian_package_installs_into_a_scratch_root_and_runs") {
        let postfix = run(Command::new("dpkg-query").args(["-L", "postfix"]));
        let postfix: std::collections::HashSet<&str> = postfix.lines().collect();
        let listing = run(Command::new("dpkg-deb").arg("-c").arg(&deb));
        for line in listing.lines().filter(|l| !l.starts_with('d')) {
            let path = line.rsplit(' ').next().unwrap().trim_start_matches('.');
            assert!(
                !postfix.contains(path),
                "{path} is also the postfix package's"
            );
        }
        // Why the pages are named postkit-*: Postfix's own postlog(1).
        assert!(postfix.contains("/usr/share/man/man1/postlog.1.gz"));
    }
}

/// Purges the package however the test ends.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("postkit")
            .args(["-c", "/etc/postkit", "stop"])
            .output();
        let _ = Command::new("dpkg").args(["--purge", "postkit"]).output();
    }
}

/// The packaged instance as an administrator meets it (issue 23): the
/// package installs, its configuration passes `check` (the unit's
/// ExecStartPre), starts, logs a `postlog` record to its log file, stops,
/// and a purge leaves none of its queue, data or log behind.
#[test]
#[cfg_attr(postkit_unprivileged_build, ignore = "needs root")]
fn debian_package_installs_starts_logs_stops_and_purges() {
    if !common::needs_root("debian_package_installs_starts_logs_stops_and_purges")
        || !common::needs_cargo_deb("debian_package_installs_starts_logs_stops_and_purges")
    {
        return;
    }
    let installed = Command::new("dpkg-query")
        .args(["-W", "-f", "${Status}", "postkit"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&installed.stdout).contains("installed"),
        "a postkit package is installed on this host already; this test installs and purges its own"
    );
    let tmp = tempfile::tempdir().unwrap();
    let deb = build_deb(tmp.path());
    let _guard = Installed;
    let out = run(Command::new("dpkg").arg("-i").arg(&deb));
    assert!(!out.contains("Warning"), "{out}");
    for dir in ["/var/spool/postkit", "/var/lib/postkit"] {
        assert!(Path::new(dir).is_dir(), "postinst made no {dir}");
    }
    let postkit = |args: &[&str]| {
        let out = Command::new("/usr/sbin/postkit")
            .args(["-c", "/etc/postkit"])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // As the unit's ExecStartPre runs it, before the first start.
    let (code, err) = postkit(&["check"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = postkit(&["start"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = postkit(&["check"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = postkit(&["postlog", "-t", "pkgtest", "hello from the package"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = postkit(&["status"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = postkit(&["stop"]);
    assert_eq!(code, Some(0), "{err}");
    let log = std::fs::read_to_string("/var/log/postkit.log").unwrap();
    assert!(
        log.contains(" pkgtest[") && log.contains("]: hello from the package"),
        "{log}"
    );
    assert!(log.contains("configuration /etc/postkit"), "{log}");

    run(Command::new("dpkg").args(["--purge", "postkit"]));
    for path in [
        "/etc/postkit",
        "/var/spool/postkit",
        "/var/lib/postkit",
        "/var/log/postkit.log",
        "/usr/sbin/postkit",
    ] {
        assert!(
            std::fs::symlink_metadata(path).is_err(),
            "{path} is left after a purge"
        );
    }
}
