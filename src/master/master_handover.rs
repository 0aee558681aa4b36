//! Restart and upgrade in place (no Postfix counterpart): on SIGUSR2 the
//! master re-executes its program (the binary now on disk: an upgrade;
//! the same one: a restart) in the same process, handing over every
//! listening socket, the status channels of its running children and what
//! it knows of them.  The process id stays, so the children stay its
//! children; no socket is closed, even for a moment, so nothing a sender
//! hands over in the meantime is refused or lost; the new master reads
//! main.cf and master.cf as a reload does.
//!
//! The new program is vetted first (`master_upgrade`).  The master also
//! hands over its own program, open: a new master that meets a fatal
//! error, crashes, or has not started serving within START_LIMIT (an
//! alarm armed before the exec, which survives it) re-executes that with
//! everything it was given, and the old master serves on and says why.
//! What is handed over travels in one environment variable; the
//! descriptors by inheritance, close-on-exec cleared for the exec only.

use std::collections::HashMap;
use std::os::fd::{OwnedFd, RawFd};
use std::os::unix::process::CommandExt;

use crate::server::fds;

/// The variable that carries the hand-over to the new program.
pub const HANDOVER_ENV: &str = "POSTKIT_HANDOVER";

/// One service as the previous master left it.
#[derive(Debug, Default)]
pub struct ServiceState {
    /// Its listening sockets.
    pub listen: Vec<OwnedFd>,
    /// The master's and the children's ends of its status channel.
    pub status: Option<(OwnedFd, OwnedFd)>,
    /// The read and write ends of its children's stderr.
    pub stderr: Option<(OwnedFd, OwnedFd)>,
    /// spawns, failures, throttles.
    pub counts: (u64, u64, u64),
    /// Its children: pid, generation, idle, AVAIL records seen.
    pub procs: Vec<(i32, u32, bool, u64)>,
    /// Its counters (`Counters::handover_text`).
    pub counters: Option<String>,
}

/// What a master receives from the one it replaces.
#[derive(Debug, Default)]
pub struct Handover {
    /// Upgrades and restarts so far.
    pub execs: u32,
    /// The last generation given to a child.
    pub generation: u32,
    /// The flow-token pipe.
    pub flow: Option<(OwnedFd, OwnedFd)>,
    /// The control socket, in place.
    pub control: Option<OwnedFd>,
    /// The pid file, locked.
    pub pid_lock: Option<OwnedFd>,
    /// data_directory's lock file, if any.
    pub data_lock: Option<OwnedFd>,
    /// The services, by (type name, endpoint).
    pub services: HashMap<(String, String), ServiceState>,
    /// The path of the program, as the first master was started.
    pub exe: Option<std::path::PathBuf>,
    /// The program that handed over (open), to go back to when this one
    /// cannot start.
    pub old_exe: Option<RawFd>,
    /// Every descriptor number the hand-over names.
    pub fd_numbers: Vec<RawFd>,
    /// The hand-over as received.
    pub text: String,
}

/// Claims inherited descriptor `fd`, close-on-exec again.
fn claim(fd: &str) -> Option<OwnedFd> {
    let fd = fd.parse::<RawFd>().ok()?;
    let owned = fds::inherited(fd)?;
    fds::close_on_exec(&owned);
    Some(owned)
}

fn claim_pair(text: &str) -> Option<(OwnedFd, OwnedFd)> {
    let (a, b) = text.split_once(',')?;
    Some((claim(a)?, claim(b)?))
}

impl Handover {
    /// Reads the hand-over text; descriptors it names are claimed.
    pub fn parse(text: &str) -> Handover {
        let mut h = Handover {
            text: text.to_string(),
            ..Handover::default()
        };
        // The descriptor fields only (counts and pids are numbers too).
        for line in text.lines() {
            let mut words = line.split(' ');
            match words.next() {
                Some("flow" | "control" | "pidlock" | "datalock" | "oldexe") => {
                    let numbers = words.next().unwrap_or("").split(',');
                    h.fd_numbers
                        .extend(numbers.filter_map(|n| n.parse::<RawFd>().ok()));
                }
                Some("service") => {
                    for field in words {
                        if let Some(("listen" | "status" | "stderr", v)) = field.split_once('=') {
                            h.fd_numbers
                                .extend(v.split(',').filter_map(|n| n.parse::<RawFd>().ok()));
                        }
                    }
                }
                _ => {}
            }
        }
        for line in text.lines() {
            if let Some(path) = line.strip_prefix("exe ") {
                h.exe = Some(path.into());
                continue;
            }
            let mut words = line.split(' ');
            match words.next() {
                Some("execs") => h.execs = words.next().and_then(|w| w.parse().ok()).unwrap_or(0),
                Some("generation") => {
                    h.generation = words.next().and_then(|w| w.parse().ok()).unwrap_or(0)
                }
                Some("flow") => h.flow = words.next().and_then(claim_pair),
                Some("control") => h.control = words.next().and_then(claim),
                Some("pidlock") => h.pid_lock = words.next().and_then(claim),
                Some("datalock") => h.data_lock = words.next().and_then(claim),
                Some("oldexe") => h.old_exe = words.next().and_then(|w| w.parse().ok()),
                Some("service") => {
                    let (Some(kind), Some(name)) = (words.next(), words.next()) else {
                        continue;
                    };
                    let mut s = ServiceState::default();
                    for field in words {
                        let Some((key, value)) = field.split_once('=') else {
                            continue;
                        };
                        match key {
                            "listen" => {
                                s.listen = value.split(',').filter_map(claim).collect();
                            }
                            "status" => s.status = claim_pair(value),
                            "stderr" => s.stderr = claim_pair(value),
                            "counters" => s.counters = Some(value.to_string()),
                            "counts" => {
                                let n: Vec<u64> =
                                    value.split(',').filter_map(|v| v.parse().ok()).collect();
                                if let [a, b, c] = n[..] {
                                    s.counts = (a, b, c);
                                }
                            }
                            "procs" => {
                                s.procs = value
                                    .split(',')
                                    .filter_map(|p| {
                                        let f: Vec<&str> = p.split(':').collect();
                                        Some((
                                            f.first()?.parse().ok()?,
                                            f.get(1)?.parse().ok()?,
                                            *f.get(2)? == "1",
                                            f.get(3)?.parse().ok()?,
                                        ))
                                    })
                                    .collect();
                            }
                            _ => {}
                        }
                    }
                    h.services.insert((kind.to_string(), name.to_string()), s);
                }
                _ => {}
            }
        }
        h
    }
}

/// Installs, for the start-up of a master that took over, the way back: a
/// fatal error before it runs hands everything back to the program it
/// replaced (re-executed from the descriptor it left open), which says why.
pub fn install_way_back(h: &Handover, args: Vec<String>) {
    let Some(old) = h.old_exe else {
        return;
    };
    let numbers = h.fd_numbers.clone();
    let argv0 = h
        .exe
        .as_ref()
        .map_or_else(|| "postkit".to_string(), |p| p.display().to_string());
    // The old program continues its own count.
    let text: String = h
        .text
        .lines()
        .map(|l| match l.strip_prefix("execs ") {
            Some(n) => format!("execs {}", n.parse::<u32>().unwrap_or(1).saturating_sub(1)),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    // A crash (a signal, a panic) goes back too, not only a fatal error.
    let mut argv = vec![argv0.clone()];
    argv.extend(args.iter().cloned());
    let mut keep = numbers.clone();
    keep.push(old);
    let hung = format!("it did not start within {} seconds", START_LIMIT.as_secs());
    crate::util::exec_on_crash::arm(
        &format!("/proc/self/fd/{old}"),
        &argv,
        &[
            (HANDOVER_ENV, &text),
            (
                UPGRADE_FAILED_ENV,
                "it was killed by a signal while starting",
            ),
        ],
        &[(HANDOVER_ENV, &text), (UPGRADE_FAILED_ENV, &hung)],
        keep,
    );
    std::panic::set_hook(Box::new(|info| {
        crate::util::msg::fatal(format!("panic while starting: {info}"));
    }));
    crate::util::msg::set_fatal_hook(Some(Box::new(move |why: &str| {
        for n in numbers {
            fds::keep_across_exec(n);
        }
        // The start's time limit must not follow into the old program.
        nix::unistd::alarm::cancel();
        let e = std::process::Command::new(format!("/proc/self/fd/{old}"))
            .arg0(&argv0)
            .args(&args)
            .env(HANDOVER_ENV, &text)
            .env(UPGRADE_FAILED_ENV, why)
            .exec();
        eprintln!("upgrade: cannot go back to the previous program: {e}");
    })));
}

/// How long a new master may take to start before the program it
/// replaced takes everything back.
pub const START_LIMIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Set for a program that got everything back because its successor
/// could not start: the successor's reason.
pub const UPGRADE_FAILED_ENV: &str = "POSTKIT_UPGRADE_FAILED";
