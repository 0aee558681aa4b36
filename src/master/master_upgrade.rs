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
use std::time::{Duration, Instant};

use nix::sys::wait::WaitStatus;

use crate::{msg_info, msg_warn};

use super::master::Master;
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
pub struct Vetting {
    step: Step,
    /// The step's process (and process group).
    pub pid: i32,
    output: std::fs::File,
    deadline: Instant,
}

impl Master {
    /// SIGUSR2: starts vetting the program on disk.
    pub(super) fn start_upgrade(&mut self) {
        if self.vetting.is_some() {
            msg_info!("upgrade: already checking {}", self.exe.display());
            return;
        }
        self.run_step(Step::Version);
    }

    /// Starts one step; a program that cannot run ends the upgrade.
    fn run_step(&mut self, step: Step) {
        let output = match nix::sys::memfd::memfd_create(
            c"postkit-upgrade",
            nix::sys::memfd::MFdFlags::MFD_CLOEXEC,
        ) {
            Ok(fd) => std::fs::File::from(fd),
            Err(e) => {
                return self.upgrade_failed(&format!("memfd_create: {}", crate::util::nix_text(e)));
            }
        };
        let mut cmd = std::process::Command::new(&self.exe);
        match step {
            Step::Version => {
                cmd.arg("--version");
            }
            Step::Check => {
                cmd.args(["-c", &self.config_dir, "check"])
                    .env(UPGRADE_CHECK_ENV, "1");
                msg_info!("upgrade: checking {} with the new program", self.config_dir);
            }
        }
        let (out, err) = match (output.try_clone(), output.try_clone()) {
            (Ok(a), Ok(b)) => (a, b),
            _ => return self.upgrade_failed("cannot share the output file"),
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
            Err(e) => self.upgrade_failed(&format!(
                "cannot run {}: {}",
                self.exe.display(),
                crate::util::errno_text(&e)
            )),
        }
    }

    /// The reaper found the step's process gone.
    pub(super) fn vetting_done(&mut self, status: WaitStatus) {
        let Some(mut v) = self.vetting.take() else {
            return;
        };
        let mut text = String::new();
        let _ = v.output.rewind();
        let _ = (&v.output).take(OUTPUT_MAX).read_to_string(&mut text);
        let ok = matches!(status, WaitStatus::Exited(_, 0));
        match v.step {
            Step::Version => {
                let says = text.lines().next().unwrap_or("").to_string();
                if !ok || !says.starts_with("postkit ") {
                    return self.upgrade_failed(&format!(
                        "{} is not postkit (its --version says \"{says}\")",
                        self.exe.display()
                    ));
                }
                self.run_step(Step::Check);
            }
            Step::Check if ok => self.upgrade_ready = true,
            Step::Check => {
                let why = text
                    .lines()
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
                    .join("; ");
                self.upgrade_failed(&format!(
                    "{} -c {} check: {why}",
                    self.exe.display(),
                    self.config_dir
                ));
            }
        }
    }

    /// A step past its limit is killed, with whatever it started.
    pub(super) fn expire_vetting(&mut self) {
        let Some(v) = &self.vetting else { return };
        if Instant::now() < v.deadline {
            return;
        }
        let (pid, step) = (v.pid, v.step);
        self.vetting = None;
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        // Reaped quietly when it goes.
        self.orphans.insert(pid, "(the upgrade's check)".into());
        let (what, limit) = match step {
            Step::Version => ("--version", VERSION_LIMIT),
            Step::Check => ("check", CHECK_LIMIT),
        };
        self.upgrade_failed(&format!(
            "{} {what} did not finish within {} seconds",
            self.exe.display(),
            limit.as_secs()
        ));
    }

    /// When the step under way must have finished.
    pub(super) fn vetting_deadline(&self) -> Option<Instant> {
        self.vetting.as_ref().map(|v| v.deadline)
    }

    fn upgrade_failed(&mut self, why: &str) {
        msg_warn!("upgrade failed: {why}; this master keeps running");
    }
}
