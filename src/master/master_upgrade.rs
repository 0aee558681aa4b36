//! Vetting a new program before an upgrade or restart in place (no
//! Postfix counterpart).  On SIGUSR2 the master asks the program on disk
//! for its `--version` (it must say postkit: a program exiting 0 to
//! anything would pass `check`), then has it `check` the configuration as
//! a start would; only then does it hand everything over
//! (`master_handover`).
//!
//! Each step runs as a child process the loop does not wait for: its
//! output goes to an anonymous memory file read when it has exited (the
//! reaper reports its end), and a step that takes longer than its limit is
//! killed with its process group.  Meanwhile the master serves as ever, so
//! a slow or hanging program on disk costs a warning, not the mail system.

use std::io::{Read, Seek};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::wait::WaitStatus;

use crate::{msg_info, msg_warn};

use super::master_handover::HANDOVER_ENV;

/// Set for the new program's `check`: only what would stop a start
/// decides its exit status (the queue's mode and owner warnings are
/// shown, as `start` shows them, but do not refuse the upgrade).
pub const UPGRADE_CHECK_ENV: &str = "POSTKIT_UPGRADE_CHECK";

/// How long `--version` may take.
const VERSION_LIMIT: Duration = Duration::from_secs(10);

/// How long `check` may take (a large main.cf takes seconds).
const CHECK_LIMIT: Duration = Duration::from_secs(60);

/// Most output read from a step.
const OUTPUT_MAX: u64 = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Version,
    Check,
}

/// A vetting step under way.
struct Vetting {
    step: Step,
    /// The step's process (and process group).
    pid: i32,
    output: std::fs::File,
    deadline: Instant,
}

/// The master's part that vets a new program before the hand-over.
#[derive(Default)]
pub struct Upgrade {
    vetting: Option<Vetting>,
    ready: bool,
}

impl Upgrade {
    /// SIGUSR2: starts vetting the program `exe` on `config_dir`.
    pub fn start(&mut self, exe: &Path, config_dir: &str) {
        if self.vetting.is_some() {
            msg_info!("upgrade: already checking {}", exe.display());
            return;
        }
        self.run_step(Step::Version, exe, config_dir);
    }

    /// Whether the program passed: the hand-over may go (once).
    pub fn take_ready(&mut self) -> bool {
        std::mem::take(&mut self.ready)
    }

    /// Starts one step; a program that cannot run ends the upgrade.
    fn run_step(&mut self, step: Step, exe: &Path, config_dir: &str) {
        let output = match nix::sys::memfd::memfd_create(
            c"postkit-upgrade",
            nix::sys::memfd::MFdFlags::MFD_CLOEXEC,
        ) {
            Ok(fd) => std::fs::File::from(fd),
            Err(e) => {
                return failed(&format!("memfd_create: {}", crate::util::nix_text(e)));
            }
        };
        let mut cmd = std::process::Command::new(exe);
        match step {
            Step::Version => {
                cmd.arg("--version");
            }
            Step::Check => {
                cmd.args(["-c", config_dir, "check"])
                    .env(UPGRADE_CHECK_ENV, "1");
                msg_info!("upgrade: checking {config_dir} with the new program");
            }
        }
        let (out, err) = match (output.try_clone(), output.try_clone()) {
            (Ok(a), Ok(b)) => (a, b),
            _ => return failed("cannot share the output file"),
        };
        let spawned = cmd
            .env_remove(HANDOVER_ENV)
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn();
        match spawned {
            Ok(child) => {
                let limit = match step {
                    Step::Version => VERSION_LIMIT,
                    Step::Check => CHECK_LIMIT,
                };
                self.vetting = Some(Vetting {
                    step,
                    pid: child.id() as i32,
                    output,
                    deadline: Instant::now() + limit,
                });
            }
            Err(e) => failed(&format!(
                "cannot run {}: {}",
                exe.display(),
                crate::util::errno_text(&e)
            )),
        }
    }

    /// The reaper found `pid` gone: true when it was a vetting step's,
    /// whose outcome decides the next step.
    pub fn reaped(&mut self, pid: i32, status: WaitStatus, exe: &Path, config_dir: &str) -> bool {
        if self.vetting.as_ref().is_none_or(|v| v.pid != pid) {
            return false;
        }
        let Some(mut v) = self.vetting.take() else {
            return false;
        };
        let mut text = String::new();
        let _ = v.output.rewind();
        let _ = (&v.output).take(OUTPUT_MAX).read_to_string(&mut text);
        let ok = matches!(status, WaitStatus::Exited(_, 0));
        match v.step {
            Step::Version => {
                let says = text.lines().next().unwrap_or("").to_string();
                if !ok || !says.starts_with("postkit ") {
                    failed(&format!(
                        "{} is not postkit (its --version says \"{says}\")",
                        exe.display()
                    ));
                } else {
                    self.run_step(Step::Check, exe, config_dir);
                }
            }
            Step::Check if ok => self.ready = true,
            Step::Check => {
                let why = text
                    .lines()
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
                    .join("; ");
                failed(&format!("{} -c {config_dir} check: {why}", exe.display()));
            }
        }
        true
    }

    /// A step past its limit is killed, with whatever it started; its pid,
    /// for the reaper to take quietly.
    pub fn expire(&mut self, exe: &Path) -> Option<i32> {
        let v = self.vetting.as_ref()?;
        if Instant::now() < v.deadline {
            return None;
        }
        let (pid, step) = (v.pid, v.step);
        self.vetting = None;
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        let (what, limit) = match step {
            Step::Version => ("--version", VERSION_LIMIT),
            Step::Check => ("check", CHECK_LIMIT),
        };
        failed(&format!(
            "{} {what} did not finish within {} seconds",
            exe.display(),
            limit.as_secs()
        ));
        Some(pid)
    }

    /// When the step under way must have finished.
    pub fn deadline(&self) -> Option<Instant> {
        self.vetting.as_ref().map(|v| v.deadline)
    }
}

fn failed(why: &str) {
    msg_warn!("upgrade failed: {why}; this master keeps running");
}
