//! Privilege and files, end to end: what an unprivileged, chrooted service
//! runs with under the master; symbolic links planted where the lock, pid
//! and log files go are refused; Postfix's modes on the queue's directories
//! and sockets; `postkit check` reporting wrong modes and owners.  The
//! privilege cases need root (CI runs as root).

mod common;

use std::os::unix::process::ExitStatusExt;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;

use common::instance::{Instance, POSTLOG, root};

/// Plants a symbolic link as a user other than root would: Postfix (and
/// postkit) follow a link only when root owns it and its directory.
fn plant_symlink(target: &std::path::Path, link: &std::path::Path) {
    std::os::unix::fs::symlink(target, link).unwrap();
    if root() {
        std::os::unix::fs::lchown(link, Some(65534), Some(65534)).unwrap();
    }
}

/// mail_owner's account, as the tests running as root expect it.
fn postfix_user() -> Option<nix::unistd::User> {
    let user = nix::unistd::User::from_name("postfix").ok().flatten();
    if user.is_none() {
        assert_ne!(
            std::env::var("POSTKIT_REQUIRE_POSTFIX").as_deref(),
            Ok("1"),
            "user postfix (mail_owner) is missing"
        );
        common::skip("(privilege tests)", "no user postfix");
    }
    user
}

#[test]
#[cfg_attr(postkit_unprivileged_build, ignore = "needs root")]
fn unprivileged_chrooted_service_has_mail_owners_ids_only() {
    if !common::needs_root("unprivileged_chrooted_service_has_mail_owners_ids_only") {
        return;
    }
    let Some(owner) = postfix_user() else { return };
    // unprivileged y, chroot y.
    let mut i = Instance::new(
        &format!("{POSTLOG}probe unix-dgram n y y - 1 skeleton_probe\n"),
        "",
    );
    i.start();
    i.send("probe", b"x");
    i.wait_for(|i| i.probe_log().contains("got 1 x"), "the probe");
    let notes = i.probe_log();
    let line = notes
        .lines()
        .find(|l| l.starts_with("post_init"))
        .expect(&notes);
    let want = format!(
        "post_init uid={0} euid={0} gid={1} egid={1} groups=",
        owner.uid, owner.gid
    );
    assert!(line.starts_with(&want), "{line} vs {want}");
    assert_eq!(
        common::groups_noted(line),
        common::groups_of("postfix", owner.gid),
        "mail_owner's groups and no others"
    );
    assert!(line.ends_with("chrooted=true"), "{line}");
    // The argv says so too.
    let pid = i.probe_pids()[0];
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let argv = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    let args: Vec<&str> = argv.split_whitespace().collect();
    assert!(args.contains(&"-u") && args.contains(&"-c"), "{argv}");
}

#[test]
fn symlinked_log_file_is_refused() {
    let mut i = Instance::new(POSTLOG, "");
    let target = i.path().join("elsewhere");
    std::fs::write(&target, "untouched\n").unwrap();
    plant_symlink(&target, &i.path().join("maillog"));
    i.start();
    let c = std::os::unix::net::UnixDatagram::unbound().unwrap();
    c.send_to(b"Nov 24 10:00:00 host t[1]: hello", i.postlog_socket())
        .unwrap();
    i.wait_for(
        |i| i.stderr().contains("open logfile"),
        "postlogd's refusal",
    );
    let err = i.stderr();
    assert!(
        err.contains(&format!(
            "fatal: open logfile '{}/maillog': ",
            i.path().display()
        )),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched\n");
}

#[test]
fn symlinked_pid_file_is_refused() {
    let i = Instance::new(POSTLOG, "");
    let pid_dir = i.path().join("queue/pid");
    std::fs::create_dir_all(&pid_dir).unwrap();
    let target = i.path().join("elsewhere");
    std::fs::write(&target, "untouched\n").unwrap();
    plant_symlink(&target, &pid_dir.join("master.pid"));
    let (code, _, err) = i.ctl("start");
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("fatal: open lock file pid/master.pid: file is a symbolic link"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched\n");
}

#[test]
fn symlinked_pool_lock_file_is_refused() {
    // maxproc 2: a pool, so the skeleton takes the lock file.
    let mut i = Instance::new(
        &format!("{POSTLOG}probe unix-dgram n n n - 2 skeleton_probe\n"),
        "",
    );
    let pid_dir = i.path().join("queue/pid");
    std::fs::create_dir_all(&pid_dir).unwrap();
    let target = i.path().join("elsewhere");
    std::fs::write(&target, "untouched\n").unwrap();
    plant_symlink(&target, &pid_dir.join("unix-dgram.probe"));
    i.start();
    i.send("probe", b"x");
    i.wait_for(
        |i| i.log().contains("unix-dgram.probe"),
        "the probe's refusal",
    );
    let log = i.log();
    assert!(
        log.contains("fatal: open lock file pid/unix-dgram.probe: "),
        "{log}"
    );
    assert!(!i.probe_log().contains("got 1 x"), "no request served");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched\n");
}

#[test]
fn queue_directories_and_sockets_have_postfix_modes() {
    let mut i = Instance::new(
        &format!("{POSTLOG}probe unix-dgram y n n - 1 skeleton_probe\n"),
        "",
    );
    i.start();
    let q = i.path().join("queue");
    let mode = |p: &str| std::fs::symlink_metadata(q.join(p)).unwrap().mode() & 0o7777;
    assert_eq!(mode("public"), 0o2710, "public");
    assert_eq!(mode("private"), 0o700, "private");
    assert_eq!(mode("pid"), 0o755, "pid");
    assert_eq!(mode("public/postlog"), 0o666, "public socket");
    assert_eq!(mode("private/probe"), 0o666, "private socket");
    assert_eq!(mode("pid/master.pid"), 0o600, "pid file");
    if root()
        && let Some(owner) = postfix_user()
    {
        let meta = std::fs::metadata(q.join("public")).unwrap();
        assert_eq!(meta.uid(), owner.uid.as_raw());
        let postdrop = nix::unistd::Group::from_name("postdrop").unwrap().unwrap();
        assert_eq!(
            meta.gid(),
            postdrop.gid.as_raw(),
            "public is group postdrop"
        );
        assert_eq!(
            std::fs::metadata(q.join("private")).unwrap().uid(),
            owner.uid.as_raw()
        );
    }
}

#[test]
fn check_reports_wrong_modes_and_owners() {
    let mut i = Instance::new(POSTLOG, "");
    i.start();
    let (code, _, err) = i.ctl("check");
    assert_eq!(code, 0, "{err}");
    let public = i.path().join("queue/public");
    std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (code, _, err) = i.ctl("check");
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("{}: mode 0777, want 2710", public.display())),
        "{err}"
    );
    std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o2710)).unwrap();
    if root() && postfix_user().is_some() {
        let private = i.path().join("queue/private");
        std::os::unix::fs::chown(&private, Some(0), None).unwrap();
        let (code, _, err) = i.ctl("check");
        assert_eq!(code, 1);
        assert!(
            err.contains(&format!("{}: owner uid 0, want", private.display())),
            "{err}"
        );
    }
}

/// Issue 14.1: mail_owner swaps a service's fresh socket for a symbolic
/// link to a root file while the master is between bind() and setting the
/// socket's owner and mode.  The master must not follow it: the file stays
/// root's, mode 0600 (the master makes the socket as mail_owner instead).
#[test]
#[cfg_attr(postkit_unprivileged_build, ignore = "needs root")]
fn socket_swapped_for_a_symlink_after_bind_gives_root_nothing() {
    if !common::needs_root("socket_swapped_for_a_symlink_after_bind_gives_root_nothing") {
        return;
    }
    let Some(owner) = postfix_user() else { return };
    let mut i = Instance::new(
        &format!("{POSTLOG}probe unix-dgram n - n - 1 skeleton_probe\n"),
        "",
    );
    let target = i.path().join("root-secret");
    std::fs::write(&target, "secret\n").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
    let socket = i.path().join("queue/public/probe");
    // As mail_owner: as soon as the socket exists, put a link in its place.
    let script = format!(
        "end=$(($(date +%s) + 20)); while [ $(date +%s) -lt $end ]; do if [ -S {s} ]; then ln -sfn {t} {s}; exit 0; fi; done; exit 1",
        s = socket.display(),
        t = target.display()
    );
    let mut attacker = std::process::Command::new("sh")
        .args(["-c", &script])
        .uid(owner.uid.as_raw())
        .gid(owner.gid.as_raw())
        .spawn()
        .unwrap();
    i.start_with(&["env", "POSTKIT_FAULT_AFTER_BIND_MS=300"]);
    let swapped = attacker.wait().unwrap().success();
    let meta = std::fs::metadata(&target).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (0, 0, 0o600),
        "the root file was given away (attacker swapped the socket: {swapped})"
    );
    assert!(swapped, "the attacker never saw the socket");
    // The service's socket belongs to mail_owner from the start.
    let postlog = std::fs::symlink_metadata(i.path().join("queue/public/postlog")).unwrap();
    assert_eq!(postlog.uid(), owner.uid.as_raw());
    assert_eq!(postlog.mode() & 0o7777, 0o666);
}

/// Issue 14.2: the user who owns an instance writes another process's pid
/// (root's `sleep`) into its pid file; root's `postkit stop` must signal
/// only the proven master (the control socket's peer, holding the pid
/// file's lock), never the pid the file names.
#[test]
#[cfg_attr(postkit_unprivileged_build, ignore = "needs root")]
fn stop_as_root_signals_only_the_proven_master() {
    if !common::needs_root("stop_as_root_signals_only_the_proven_master") {
        return;
    }
    let mut i = Instance::new(POSTLOG, "");
    let status = std::process::Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(i.path())
        .status()
        .unwrap();
    assert!(status.success());
    i.start_with(&[
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ]);
    let master = i.master_pid();
    let mut victim = std::process::Command::new("sleep")
        .arg("1000")
        .spawn()
        .unwrap();
    let pid_file = i.path().join("queue/pid/master.pid");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf '%32d\\n' {} > {}",
            victim.id(),
            pid_file.display()
        ))
        .uid(65534)
        .gid(65534)
        .status()
        .unwrap();
    assert!(status.success(), "the user rewrites the pid file");
    let (code, _, err) = i.ctl("stop");
    let victim_alive = victim.try_wait().unwrap().is_none();
    let _ = victim.kill();
    let _ = victim.wait();
    assert!(victim_alive, "root's sleep was signalled: {err}");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("master PID {master}")), "{err}");
    let exited = i.master.as_mut().unwrap().wait().unwrap();
    assert_eq!(
        exited.signal(),
        Some(15),
        "the real master stopped: {exited}"
    );
    i.master = None;
}

/// Issue 14.11: `maillog_file = DIR/../elsewhere/maillog` is not under DIR,
/// whatever its spelling: refused by `check` and `start` with Postfix's
/// text.
#[test]
fn maillog_file_outside_its_prefix_by_dot_dot_is_refused() {
    let i = Instance::new(POSTLOG, "");
    let outside = format!(
        "{}/../outside-{}/maillog",
        i.path().display(),
        std::process::id()
    );
    i.append_main_cf(&format!("maillog_file = {outside}\n"));
    let want = format!(
        "maillog_file value '{outside}' does not match any prefix in maillog_file_prefixes"
    );
    for command in ["check", "start"] {
        let (code, _, err) = i.ctl(command);
        assert_eq!(code, 1, "{command}: {err}");
        assert!(err.contains(&want), "{command}: {err}");
    }
}

/// Issue 14.11: a regular file another user planted at the log's name in a
/// world-writable directory is refused, not adopted: no record goes into
/// it.
#[test]
#[cfg_attr(postkit_unprivileged_build, ignore = "needs root")]
fn log_file_planted_by_another_user_is_refused() {
    if !common::needs_root("log_file_planted_by_another_user_is_refused") {
        return;
    }
    let mut i = Instance::new(POSTLOG, "");
    let dir = i.path().join("shared");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let planted = dir.join("maillog");
    std::fs::write(&planted, "").unwrap();
    std::os::unix::fs::chown(&planted, Some(65534), Some(65534)).unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o666)).unwrap();
    i.append_main_cf(&format!("maillog_file = {}\n", planted.display()));
    i.start();
    i.send("postlog", b"a record for the real log only");
    i.wait_for(
        |i| i.stderr().contains("not by root or postfix"),
        "the refusal of the planted file",
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        std::fs::read(&planted).unwrap(),
        b"",
        "a record went into the planted file"
    );
}

/// A descriptor the master inherited from whoever started it (an
/// administrator's shell with a private file open, a service manager's
/// stray pipe) never reaches a service: children get 0-2, the flow pipe,
/// the status channel and their sockets, nothing else.
#[test]
fn a_descriptor_the_master_inherited_never_reaches_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "root's eyes only\n").unwrap();
    // Above the numbers a child's own descriptors take (placed ones are
    // overwritten anyway) ...
    let filler: Vec<std::fs::File> = (0..64)
        .map(|_| std::fs::File::open("/dev/null").unwrap())
        .collect();
    let file = std::fs::File::open(&secret).unwrap();
    drop(filler);
    // ... and inheritable, as a shell leaves the files it opened.
    nix::fcntl::fcntl(
        &file,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )
    .unwrap();
    let mut i = Instance::new(POSTLOG, "");
    i.start();
    drop(file);
    i.send("postlog", b"Nov 24 10:00:00 host t[1]: hello");
    i.wait_for(|i| i.log().contains("t[1]: hello"), "the record");
    let postlogd = i.one_postlogd();
    let master = i.master_pid();
    let holds_secret = |pid: i32| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .flatten()
            .any(|e| std::fs::read_link(e.path()).is_ok_and(|t| t == secret))
    };
    assert!(
        holds_secret(master),
        "the test's premise: the master inherited it"
    );
    assert!(
        !holds_secret(postlogd),
        "postlogd got the master's inherited descriptor"
    );
}
