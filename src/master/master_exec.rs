//! Restart and upgrade in place, the master's side (no Postfix
//! counterpart; see `master_handover` for what travels and `master_upgrade`
//! for the vetting before): the services at start taken over or made, and
//! the exec itself, with every descriptor the new program takes over.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::process::CommandExt;

use crate::{msg_info, msg_warn};

use super::master::Master;
use super::master_handover::{HANDOVER_ENV, START_LIMIT};

/// Sets or clears close-on-exec on each of `fds`.
fn set_cloexec(fds: &[BorrowedFd<'_>], on: bool) {
    let flag = if on {
        nix::fcntl::FdFlag::FD_CLOEXEC
    } else {
        nix::fcntl::FdFlag::empty()
    };
    for fd in fds {
        let _ = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFD(flag));
    }
}

impl Master {
    /// Re-executes the program in place, handing everything over (the
    /// new program was vetted by `master_upgrade`).  Returns only when the
    /// exec fails.
    pub(super) fn exec_upgrade(&mut self) {
        let mut text = self.handover_text();
        // The running program itself, to come back to if the new one fails.
        let old_exe = std::fs::File::open("/proc/self/exe").ok();
        if let Some(f) = &old_exe {
            text.push_str(&format!("oldexe {}\n", f.as_raw_fd()));
        }
        text.push_str(&format!("exe {}\n", self.life.exe.display()));
        let mut fds = self.handed_fds();
        fds.extend(old_exe.as_ref().map(|f| f.as_fd()));
        set_cloexec(&fds, false);
        let mut cmd = std::process::Command::new(&self.life.exe);
        cmd.args(["master", "-c", &self.conf.config_dir])
            .args(self.conf.opts.flags());
        cmd.env(HANDOVER_ENV, &text);
        msg_info!("upgrade: executing {}", self.life.exe.display());
        // The new master must say it serves within START_LIMIT, or the
        // alarm, which survives the exec, sends it back to this program.
        nix::unistd::alarm::set(START_LIMIT.as_secs() as u32);
        let e = cmd.exec();
        // Still here: the exec failed, and this master goes on.
        nix::unistd::alarm::cancel();
        set_cloexec(&fds, true);
        msg_warn!(
            "upgrade failed: exec {}: {}; this master keeps running",
            self.life.exe.display(),
            crate::util::errno_text(&e)
        );
    }

    /// Every descriptor the new program takes over.
    fn handed_fds(&self) -> Vec<BorrowedFd<'_>> {
        let mut fds = vec![
            self.life.flow.0.as_fd(),
            self.life.flow.1.as_fd(),
            self.control.socket.listener.as_fd(),
            self.life.pid_lock.as_fd(),
        ];
        fds.extend(self.life.data_lock.as_ref().map(|d| d.as_fd()));
        for s in self.services.iter() {
            fds.extend(s.listen.iter().map(|l| l.as_fd()));
            for (a, b) in [&s.status, &s.stderr].into_iter().flatten() {
                fds.extend([a.as_fd(), b.as_fd()]);
            }
        }
        fds
    }

    /// The hand-over, as `Handover::parse` reads it.
    fn handover_text(&self) -> String {
        let n = |fd: &dyn AsRawFd| fd.as_raw_fd().to_string();
        let mut text = format!(
            "execs {}\ngeneration {}\nflow {},{}\ncontrol {}\npidlock {}\n",
            self.life.execs + 1,
            self.life.generation,
            n(&self.life.flow.0),
            n(&self.life.flow.1),
            n(&self.control.socket.listener),
            n(&self.life.pid_lock),
        );
        if let Some(d) = &self.life.data_lock {
            text.push_str(&format!("datalock {}\n", n(d)));
        }
        for s in self.services.iter() {
            let listen: Vec<String> = s.listen.iter().map(|l| n(l)).collect();
            let mut line = format!(
                "service {} {} listen={} counts={},{},{}",
                s.ent.kind.name(),
                s.ent.name,
                listen.join(","),
                s.spawns,
                s.failures,
                s.throttles
            );
            if let Some((m, c)) = &s.status {
                line.push_str(&format!(" status={},{}", n(m), n(c)));
            }
            if let Some((r, w)) = &s.stderr {
                line.push_str(&format!(" stderr={},{}", n(r), n(w)));
            }
            let procs: Vec<String> = s
                .procs
                .entries()
                .map(|(pid, c)| {
                    format!(
                        "{pid}:{}:{}:{}",
                        c.generation,
                        u8::from(c.avail),
                        c.use_count
                    )
                })
                .collect();
            if !procs.is_empty() {
                line.push_str(&format!(" procs={}", procs.join(",")));
            }
            line.push_str(&format!(" counters={}", s.counters.handover_text()));
            text.push_str(&line);
            text.push('\n');
        }
        text
    }
}
