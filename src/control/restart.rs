//! `postkit restart` and `postkit upgrade`: ask the proven master to
//! re-execute itself in place (SIGUSR2) and wait until its successor
//! answers on the control socket, or the log says why it could not.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::{fail, say};

/// How long `restart` waits for the master's successor.
const RESTART_WAIT: Duration = Duration::from_secs(100);

/// How many times the master re-executed itself, from its JSON report.
fn execs(queue_directory: &str) -> Option<u64> {
    super::status_json(queue_directory)?["master"]["execs"].as_u64()
}

/// Asks master `pid` to re-execute itself (SIGUSR2) and waits until it
/// answers as its successor, or says in the log why it could not.
pub fn restart_in_place(
    queue_directory: &str,
    pid: i32,
    params: Option<&crate::global::mail_params::MailParams>,
) -> i32 {
    let Some(before) = execs(queue_directory) else {
        return fail("cannot ask the master");
    };
    let log = params.map(|p| p.maillog_file.clone()).unwrap_or_default();
    let log_start = std::fs::metadata(&log).map_or(0, |m| m.len() as usize);
    let _ = kill(Pid::from_raw(pid), Signal::SIGUSR2);
    let failure_tag = format!("master[{pid}]: warning: upgrade failed: ");
    // Longer than the master's own limits (vetting, then the new master's
    // start), so that it is the master that says why.
    let deadline = Instant::now() + RESTART_WAIT;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        if let Some(now) = execs(queue_directory)
            && now > before
        {
            say(format!(
                "the mail system is running: PID: {pid} (restarted in place)"
            ));
            return 0;
        }
        let text = std::fs::read(&log).unwrap_or_default();
        if let Some(line) = text
            .get(log_start..)
            .map(String::from_utf8_lossy)
            .and_then(|t| {
                t.lines()
                    .find(|l| l.contains(&failure_tag))
                    .map(str::to_string)
            })
        {
            let why = line
                .split_once("upgrade failed: ")
                .map_or(line.as_str(), |(_, w)| w);
            return fail(format!("the master did not restart: {why}"));
        }
    }
    fail(format!(
        "the master did not restart within {} seconds; see the log",
        RESTART_WAIT.as_secs()
    ))
}
