//! Stopping (Postfix's master_sigdeath and master_delete_children): on
//! SIGTERM, SIGINT or SIGQUIT the master ends every child without losing
//! what was accepted, then exits.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::{msg_info, msg_warn};

use super::master::Master;
use super::master_control::CONTROL_SOCKET;
use super::master_ent::ServType;
use super::service::Service;

/// Whether a socket has something queued.
fn readable(fd: &std::os::fd::OwnedFd) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let mut p = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    poll(&mut p, PollTimeout::ZERO).is_ok_and(|n| n > 0)
}

/// How long stopping children get before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(3);

impl Master {
    /// Stops every child and exits, losing nothing that was accepted, in
    /// two rounds: every service but the log service first, so that what
    /// they log as they exit (a service's last words, its exit hook's
    /// totals) still reaches the log; then the log service, which takes
    /// everything its socket holds before it exits.  In each round the
    /// endpoints are removed and datagram sockets shut for reading first
    /// (new senders are refused, not queued), datagram services get their
    /// status channel closed and take what their socket holds before they
    /// exit, other children get SIGTERM as in Postfix; whatever is still
    /// running after STOP_GRACE is killed, and said so.
    pub(super) fn terminate(&mut self, sig: i32) -> ! {
        msg_info!("terminating on signal {sig}");
        self.systemd.notify_stopping();
        // A datagram service with work queued and no process (it exited
        // when idle, or after a reload) gets one to take that work.
        for i in self.services.ids() {
            let s = &self.services[i];
            if s.ent.kind == ServType::UnixDgram
                && s.total_proc() == 0
                && s.throttled_until.is_none()
                && s.listen.iter().any(readable)
            {
                self.spawn(i);
            }
        }
        let log_endpoint = format!("public/{}", self.conf.params.postlog_service_name);
        let is_log = |s: &Service| s.ent.kind == ServType::UnixDgram && s.ent.name == log_endpoint;
        let mut left = Vec::new();
        for s in self.services.iter_mut().filter(|s| !is_log(s)) {
            left.extend(stop_service(s));
        }
        for (pid, path) in self.orphans.drain() {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGTERM);
            left.push((pid, path));
        }
        // Still logging through the log service: the warnings about the
        // ones that had to be killed reach the log too.
        kill_left(wait_for(left));
        let mut left = Vec::new();
        // The log socket, kept past its service's end: a process that was
        // leaving on its own (idle, use limit) as the stop began took
        // nothing of what came after it, and nobody would.
        let mut log_socks = Vec::new();
        for s in self.services.iter_mut().filter(|s| is_log(s)) {
            log_socks.extend(s.listen.iter().filter_map(|l| l.try_clone().ok()));
            left.extend(stop_service(s));
        }
        let left = wait_for(left);
        // Nobody reads the log socket any more: the last records go
        // straight into the file.
        crate::global::maillog_client::set_policy(
            crate::global::maillog_client::LogPolicy::Stopping,
        );
        kill_left(left);
        let mut records = Vec::new();
        for sock in &log_socks {
            let mut buf = vec![0u8; crate::global::mail_proto::DGRAM_BUF_SIZE];
            while let Ok(n) = nix::sys::socket::recv(
                sock.as_raw_fd(),
                &mut buf,
                nix::sys::socket::MsgFlags::MSG_DONTWAIT,
            ) {
                if n == 0 {
                    break;
                }
                records.push(buf[..n].to_vec());
            }
        }
        crate::global::maillog_client::append_postlog_records(&self.conf.params, &records);
        let _ = std::fs::remove_file(CONTROL_SOCKET);
        // As Postfix's master: ended by the signal (a shell sees 128+N),
        // but as PID 1 (where a default action is no action) an exit.
        if !self.conf.opts.init_mode {
            let _ = signal_hook::low_level::emulate_default_handler(sig);
        }
        std::process::exit(0);
    }
}

/// Stops one service: its endpoint removed, a datagram socket shut for
/// reading, its children told (SIGTERM, or EOF on the status channel for
/// a datagram service, which drains its socket first); its children, to
/// wait for.
fn stop_service(s: &mut Service) -> Vec<(i32, String)> {
    if matches!(
        s.ent.kind,
        ServType::Unix | ServType::UnixDgram | ServType::Fifo
    ) {
        let _ = std::fs::remove_file(&s.ent.name);
    }
    // A datagram socket shut for reading refuses new datagrams (EPIPE: the
    // sender knows it was not accepted) but still gives what it holds: the
    // child drains it to the end, with no race against senders.
    if s.ent.kind == ServType::UnixDgram {
        for l in &s.listen {
            let _ = nix::sys::socket::shutdown(l.as_raw_fd(), nix::sys::socket::Shutdown::Read);
        }
    }
    let mut left = Vec::new();
    for pid in s.procs.pids() {
        if s.ent.kind != ServType::UnixDgram {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        left.push((pid, s.ent.path.clone()));
    }
    // EOF on the status channel: a datagram service drains its socket and
    // exits; a child that ignores SIGTERM sees it too.
    s.status = None;
    s.listen.clear();
    left
}

/// Waits up to STOP_GRACE for `left` to exit; those still running.
fn wait_for(mut left: Vec<(i32, String)>) -> Vec<(i32, String)> {
    let deadline = Instant::now() + STOP_GRACE;
    while !left.is_empty() && Instant::now() < deadline {
        left.retain(|(pid, _)| {
            matches!(
                waitpid(Pid::from_raw(*pid), Some(WaitPidFlag::WNOHANG)),
                Ok(WaitStatus::StillAlive)
            )
        });
        if !left.is_empty() {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    left
}

/// Kills what did not exit in time, and says so.
fn kill_left(left: Vec<(i32, String)>) {
    for (pid, path) in &left {
        let _ = nix::sys::signal::kill(Pid::from_raw(*pid), Signal::SIGKILL);
        let _ = waitpid(Pid::from_raw(*pid), None);
        msg_warn!(
            "process {path} pid {pid} did not exit within {}s of the stop -- killed",
            STOP_GRACE.as_secs()
        );
    }
}
