//! Stress mode under a connection flood, end to end (issue 20.3): Debian's
//! stock configuration under postkit's master, its smtpd on an address
//! that is not loopback (so remote clients reach it and it gets Postfix's
//! `-o stress=`), flooded with silent clients.  The address lives in a
//! network namespace the test makes (192.0.2.1, a documentation address,
//! on the namespace's own loopback device): no traffic leaves it.  The
//! same flood under Postfix's own master gives the same warnings.  Needs
//! root, the postfix package and `ip` (iproute2).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::stock::StockHost;

/// A network namespace of the test's own, removed on drop.
struct Netns(String);

impl Netns {
    fn new(addr: &str) -> Netns {
        let name = format!("postkit-stress-{}", std::process::id());
        let ip = |args: &[&str]| {
            let out = Command::new("ip")
                .args(args)
                .output()
                .expect("ip (iproute2)");
            assert!(
                out.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        ip(&["netns", "add", &name]);
        let ns = Netns(name);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        ip(&[
            "-n",
            &ns.0,
            "addr",
            "add",
            &format!("{addr}/32"),
            "dev",
            "lo",
        ]);
        ns
    }

    /// A command run inside the namespace.
    fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0, program]);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Opens N connections at once and stays silent; prints, per client, when
/// its banner came and when the server closed it (seconds, or None).
const FLOOD: &str = r#"
import selectors, socket, sys, time
host, port, n, duration = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
start = time.time()
sel = selectors.DefaultSelector()
state = {}
for k in range(n):
    s = socket.create_connection((host, port), timeout=10)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, k)
    state[k] = [None, None]
while time.time() - start < duration and any(v[1] is None for v in state.values()):
    for key, _ in sel.select(timeout=0.5):
        k, s = key.data, key.fileobj
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        now = time.time() - start
        if data:
            if state[k][0] is None:
                state[k][0] = now
        else:
            state[k][1] = now
            sel.unregister(s)
            s.close()
for k in sorted(state):
    print(k, state[k][0], state[k][1])
"#;

/// The master's children whose command line has `stress=yes`, and those
/// with `stress=` alone.
fn smtpd_stress_args(master: i32) -> (usize, usize) {
    let (mut yes, mut empty) = (0, 0);
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let ppid: i32 = stat
            .rsplit_once(") ")
            .and_then(|(_, t)| t.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0);
        if ppid != master {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if args.first().is_some_and(|a| a.ends_with(b"smtpd")) {
            if args.contains(&&b"stress=yes"[..]) {
                yes += 1;
            } else if args.contains(&&b"stress="[..]) {
                empty += 1;
            }
        }
    }
    (yes, empty)
}

#[test]
#[cfg_attr(postkit_unprivileged_build, ignore = "needs root")]
fn connection_flood_puts_smtpd_under_stress() {
    if !common::needs_root("connection_flood_puts_smtpd_under_stress")
        || !common::have_postfix("connection_flood_puts_smtpd_under_stress")
    {
        return;
    }
    let addr = "192.0.2.1";
    let host = StockHost::new(false);
    let port = host.port;
    let master_cf = std::fs::read_to_string(host.path().join("master.cf")).unwrap();
    let master_cf: String = master_cf
        .lines()
        .map(|l| {
            if l.starts_with(&format!("127.0.0.1:{port} ")) {
                format!("{addr}:{port} inet n - y - 3 smtpd\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(host.path().join("master.cf"), master_cf).unwrap();
    let ns = Netns::new(addr);
    let out = ns
        .command(common::postkit().to_str().unwrap())
        .arg("-c")
        .arg(host.path())
        .arg("start")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let master: i32 = std::fs::read_to_string(host.path().join("queue/pid/master.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // data_directory's lock is mail_owner's, as Postfix's master makes it
    // (and needs it, when it runs this host again below).
    let lock = std::fs::metadata(host.path().join("data/master.lock")).unwrap();
    let postfix = nix::unistd::User::from_name("postfix").unwrap().unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&lock),
        postfix.uid.as_raw()
    );
    let flood = ns
        .command("/usr/bin/python3")
        .args(["-c", FLOOD, addr, &port.to_string(), "30", "40"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // During the flood: status answers, and stressed smtpd processes run.
    let start = Instant::now();
    let mut most_stressed = 0;
    let mut status_answers = 0;
    while start.elapsed() < Duration::from_secs(20) {
        let (code, out, err) = host.postkit(&["status", "--json"]);
        assert_eq!(code, 0, "status during the flood: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        status_answers += 1;
        let (yes, _) = smtpd_stress_args(master);
        most_stressed = most_stressed.max(yes);
        if yes > 0 {
            let smtp = v["services"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["command"] == "smtpd" && s["type"] == "inet")
                .unwrap()
                .clone();
            assert_eq!(smtp["stress"], true, "{smtp}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let out = flood.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    let log = host.log();
    let (code, _, err) = host.postkit(&["stop"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.status.success(),
        "flood: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("flood (client, banner s, closed s):\n{report}");
    assert!(status_answers >= 10, "{status_answers}");
    assert!(most_stressed >= 1, "an smtpd ran with stress=yes");
    assert!(
        log.contains(&format!(
            "warning: service \"{addr}:{port}\" ([{addr}]:{port}) has reached its process limit \"3\": new clients may experience noticeable delays"
        )),
        "{}",
        common::instance::tail(&log)
    );
    assert!(log.contains("see http://www.postfix.org/STRESS_README.html"));
    // Silent clients of a stressed smtpd are dropped after its stress
    // timeout (10 s), not 300 s: several were served and closed in 40 s.
    let closed: Vec<f64> = report
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let banner: f64 = f.get(1)?.parse().ok()?;
            let closed: f64 = f.get(2)?.parse().ok()?;
            Some(closed - banner)
        })
        .collect();
    assert!(
        closed.len() >= 2,
        "clients closed by the server: {closed:?}"
    );
    assert!(
        closed.iter().all(|d| *d >= 5.0 && *d < 60.0),
        "each after about 10 s: {closed:?}"
    );

    // The same flood under Postfix's own master (`master -w`, in the same
    // namespace, on the same configuration): the same warnings, and
    // smtpd processes with stress=yes too.
    let ours = stress_warnings(&log);
    let before = host.log().len();
    let out = ns
        .command("/usr/lib/postfix/sbin/master")
        .arg("-c")
        .arg(host.path())
        .arg("-w")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "Postfix's master -w: {} {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        common::instance::tail(&host.log()[before..])
    );
    let theirs_pid: i32 = std::fs::read_to_string(host.path().join("queue/pid/master.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let flood = ns
        .command("/usr/bin/python3")
        .args(["-c", FLOOD, addr, &port.to_string(), "30", "15"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut their_stressed = 0;
    while start.elapsed() < Duration::from_secs(12) {
        their_stressed = their_stressed.max(smtpd_stress_args(theirs_pid).0);
        std::thread::sleep(Duration::from_millis(500));
    }
    let _ = flood.wait_with_output();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(theirs_pid),
        nix::sys::signal::Signal::SIGTERM,
    );
    // (Its last words race its postlogd's end: wait for the process.)
    host.wait_for(
        |_| {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(theirs_pid), None)
                == Err(nix::errno::Errno::ESRCH)
        },
        "Postfix's master stopped",
    );
    let their_log = host.log()[before..].to_string();
    assert!(
        their_stressed >= 1,
        "Postfix's master ran an smtpd with stress=yes"
    );
    assert_eq!(
        stress_warnings(&their_log),
        ours,
        "the master's stress warnings, Postfix's then postkit's"
    );
}

/// The master's stress warnings in a log (text after the pid), each once.
fn stress_warnings(log: &str) -> std::collections::BTreeSet<String> {
    log.lines()
        .filter(|l| l.contains("postfix/master["))
        .filter_map(|l| l.split_once("]: ").map(|(_, t)| t.to_string()))
        .filter(|t| {
            t.contains("process limit") || t.contains("STRESS_README") || t.contains("stress")
        })
        .collect()
}
