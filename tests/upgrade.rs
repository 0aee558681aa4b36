//! Restart and upgrade in place (issue 13), end to end: under load, the
//! master re-executes its program keeping its pid, every listening socket
//! and its running children; a new program that cannot run leaves the old
//! master serving.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::Duration;

use common::instance::{Instance, Load, PAD, POSTLOG, alive, check_load, finish, one_at_a_time};

fn execs(i: &Instance) -> String {
    let (code, out, err) = i.ctl("status");
    assert_eq!(code, 0, "{err}");
    out.lines().next().unwrap_or("").to_string()
}

/// `postkit restart` under a two-sender flood: same master pid, same socket
/// (inode), the same postlogd carrying on, nothing lost or duplicated; the
/// new master supervises the children it took over.
#[test]
fn restart_under_load_keeps_sockets_and_services_and_loses_nothing() {
    let _serial = one_at_a_time();
    let mut i = Instance::new(POSTLOG, "");
    i.start();
    let master = i.master_pid();
    let load = Load::start(&i.postlog_socket(), 2, PAD);
    let postlogd = i.one_postlogd();
    let inode = std::fs::metadata(i.postlog_socket()).unwrap().ino();
    std::thread::sleep(Duration::from_millis(300));
    let (code, _, err) = i.ctl("restart");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("restarted in place"), "{err}");
    std::thread::sleep(Duration::from_millis(300));
    let sent = finish(&i, load, Instance::log);
    assert!(
        execs(&i).contains(&format!("master pid {master} ")),
        "{}",
        execs(&i)
    );
    assert!(execs(&i).ends_with(" execs 1"), "{}", execs(&i));
    assert_eq!(
        std::fs::metadata(i.postlog_socket()).unwrap().ino(),
        inode,
        "the same socket"
    );
    assert!(alive(postlogd), "the running postlogd carried on");
    assert_eq!(i.children_named("postlogd"), vec![postlogd]);
    check_load(&i.log(), &sent, PAD).assert_exactly_once();
    assert!(i.log().contains("daemon restarted in place"));
    // The children it took over are its own: a death is seen and repaired.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(postlogd),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    i.send("postlog", b"after the restart and the kill");
    i.wait_for(
        |i| i.log().contains("after the restart and the kill"),
        "a new postlogd",
    );
    assert!(
        i.log()
            .contains(&format!("pid {postlogd} killed by signal 9")),
        "{}",
        common::instance::tail(&i.log())
    );
}

/// `postkit upgrade` with a new program on disk that does not run: the
/// running master stays, says why, and serves; with a good one it upgrades.
#[test]
fn upgrade_with_a_broken_program_keeps_the_old_master() {
    let _serial = one_at_a_time();
    let mut i = Instance::new(POSTLOG, "");
    let bin = i.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let program = bin.join("postkit");
    std::fs::copy(common::postkit(), &program).unwrap();
    // The master runs from the copy, which the test then replaces.
    let exec_copy = format!("shift; exec {} \"$@\"", program.display());
    i.start_with(&["sh", "-c", &exec_copy, "sh"]);
    let master = i.master_pid();
    let replace = |content: &[u8], mode: u32| {
        let new = bin.join("postkit.new");
        std::fs::write(&new, content).unwrap();
        std::fs::set_permissions(&new, std::fs::Permissions::from_mode(mode)).unwrap();
        std::fs::rename(&new, &program).unwrap();
    };
    replace(b"#!/bin/sh\necho 'broken build' >&2\nexit 1\n", 0o755);
    let (code, _, err) = i.ctl("upgrade");
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("the master did not restart") && err.contains("broken build"),
        "{err}"
    );
    assert!(execs(&i).contains(&format!("master pid {master} ")));
    assert!(execs(&i).ends_with(" execs 0"), "{}", execs(&i));
    i.send("postlog", b"still served by the old master");
    i.wait_for(
        |i| i.log().contains("still served by the old master"),
        "the old master",
    );
    // A good program: the upgrade goes through.
    replace(&std::fs::read(common::postkit()).unwrap(), 0o755);
    let (code, _, err) = i.ctl("upgrade");
    assert_eq!(code, 0, "{err}");
    assert!(execs(&i).ends_with(" execs 1"), "{}", execs(&i));
    assert_eq!(i.master_pid(), master);
}

/// A new program that passes `check` but fails while it starts as the
/// master (a fault injected into the upgraded master's start): it hands
/// everything back to the program it replaced, which carries on serving,
/// with the same sockets and children, and says why.
#[test]
fn upgrade_whose_new_master_fails_at_start_goes_back_to_the_old_one() {
    let _serial = one_at_a_time();
    let mut i = Instance::new(POSTLOG, "");
    i.start_with(&["env", "POSTKIT_FAULT_UPGRADED_START=1"]);
    let master = i.master_pid();
    i.send("postlog", b"before the upgrade");
    i.wait_for(|i| i.log().contains("before the upgrade"), "postlogd");
    let postlogd = i.one_postlogd();
    let inode = std::fs::metadata(i.postlog_socket()).unwrap().ino();
    let (code, _, err) = i.ctl("upgrade");
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("the new program could not start") && err.contains("fault injected"),
        "{err}"
    );
    assert!(execs(&i).contains(&format!("master pid {master} ")));
    assert!(execs(&i).ends_with(" execs 0"), "{}", execs(&i));
    assert_eq!(std::fs::metadata(i.postlog_socket()).unwrap().ino(), inode);
    assert!(alive(postlogd));
    i.send("postlog", b"after the failed upgrade");
    i.wait_for(
        |i| i.log().contains("after the failed upgrade"),
        "the old master serving",
    );
    assert_eq!(
        i.children_named("postlogd"),
        vec![postlogd],
        "the same postlogd"
    );
}

/// Ten upgrades and ten restarts under a steady two-sender load: every
/// one succeeds, `status` answers throughout, no send is refused, and every
/// record is in the log exactly once.
#[test]
fn ten_upgrades_and_ten_restarts_under_load_lose_and_refuse_nothing() {
    let _serial = one_at_a_time();
    let mut i = Instance::new(POSTLOG, "");
    i.start();
    let master = i.master_pid();
    let load = Load::start(&i.postlog_socket(), 2, PAD);
    for round in 0..10 {
        for command in ["upgrade", "restart"] {
            let (code, _, err) = i.ctl(command);
            assert_eq!(code, 0, "round {round} {command}: {err}");
            let (code, _, err) = i.ctl("status");
            assert_eq!(code, 0, "round {round} status: {err}");
        }
    }
    assert!(execs(&i).ends_with(" execs 20"), "{}", execs(&i));
    assert_eq!(i.master_pid(), master);
    let errors = load.errors();
    let sent = finish(&i, load, Instance::log);
    eprintln!(
        "20 restarts in place under load: {} records, {errors} refused",
        sent.iter().sum::<u64>()
    );
    assert_eq!(errors, 0, "sends refused during the restarts");
    check_load(&i.log(), &sent, PAD).assert_exactly_once();
}
