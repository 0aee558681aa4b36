//! A fake master for the skeleton's tests: the descriptors a master gives
//! a child (flow pipe, status socketpair, a bound datagram socket), a
//! child started on them, and its status records, exit status and
//! messages read from the outside.
#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{ChildStderr, ChildStdout, ExitStatus};
use std::time::{Duration, Instant};

use postkit::internal::master::spawn_fds::{ChildCommand, ChildFds, ChildStdio, spawn};
use postkit::server::master_proto::{MASTER_STAT_AVAIL, MASTER_STAT_TAKEN, MasterStatus};

pub fn example_exe(name: &str) -> PathBuf {
    let mut p = std::env::current_exe().unwrap();
    p.pop();
    if p.ends_with("deps") {
        p.pop();
    }
    p.join("examples").join(name)
}

/// A child the fake master started the way the master does (spawn_fds),
/// with its stdout and stderr piped to the test: what the tests use of
/// std's Child, which only std's Command makes.
pub struct Child {
    pid: i32,
    pub stdout: Option<ChildStdout>,
    pub stderr: Option<ChildStderr>,
    status: Option<ExitStatus>,
}

impl Child {
    pub fn id(&self) -> u32 {
        self.pid as u32
    }

    pub fn kill(&mut self) -> std::io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid),
            nix::sys::signal::SIGKILL,
        )
        .map_err(std::io::Error::from)
    }

    fn reap(
        &mut self,
        flags: Option<nix::sys::wait::WaitPidFlag>,
    ) -> std::io::Result<Option<ExitStatus>> {
        use nix::sys::wait::{WaitStatus, waitpid};
        use std::os::unix::process::ExitStatusExt;
        if let Some(st) = self.status {
            return Ok(Some(st));
        }
        let raw = match waitpid(nix::unistd::Pid::from_raw(self.pid), flags)? {
            WaitStatus::Exited(_, code) => code << 8,
            WaitStatus::Signaled(_, sig, core) => sig as i32 | if core { 0x80 } else { 0 },
            _ => return Ok(None),
        };
        self.status = Some(ExitStatus::from_raw(raw));
        Ok(self.status)
    }

    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        self.reap(Some(nix::sys::wait::WaitPidFlag::WNOHANG))
    }

    pub fn wait(&mut self) -> std::io::Result<ExitStatus> {
        loop {
            if let Some(st) = self.reap(None)? {
                return Ok(st);
            }
        }
    }
}

pub struct Pool {
    pub dir: tempfile::TempDir,
    pub master_end: Option<UnixStream>,
    pub child_end: UnixStream,
    pub flow: (OwnedFd, OwnedFd),
    pub sock: UnixDatagram,
}

impl Pool {
    pub fn new(extra_main_cf: &str) -> Pool {
        let dir = tempfile::tempdir().unwrap();
        let q = dir.path().join("queue");
        std::fs::create_dir_all(q.join("pid")).unwrap();
        std::fs::create_dir_all(q.join("public")).unwrap();
        let accounts = super::accounts_main_cf();
        std::fs::write(
            dir.path().join("main.cf"),
            format!(
                "queue_directory = {}\nprobe_log = {}/probe.log\n{accounts}{extra_main_cf}",
                q.display(),
                dir.path().display()
            ),
        )
        .unwrap();
        super::make_cold(&dir.path().join("main.cf"));
        let (master_end, child_end) = UnixStream::pair().unwrap();
        let flow = nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC)
            .unwrap();
        let sock = UnixDatagram::bind(q.join("public/probe")).unwrap();
        sock.set_nonblocking(true).unwrap();
        Pool {
            dir,
            master_end: Some(master_end),
            child_end,
            flow,
            sock,
        }
    }

    pub fn start(&self, args: &[&str], env: &[(&str, &str)]) -> Child {
        self.start_program("skeleton_probe", args, env)
    }

    pub fn start_program(&self, program: &str, args: &[&str], env: &[(&str, &str)]) -> Child {
        self.spawn_on(program, args, env, None, self.sock.as_fd())
    }

    pub fn start_with_stdin(
        &self,
        program: &str,
        args: &[&str],
        env: &[(&str, &str)],
        stdin: OwnedFd,
    ) -> Child {
        self.spawn_on(program, args, env, Some(stdin), self.sock.as_fd())
    }

    /// `program` on a stream listener of the caller's instead of the
    /// datagram socket.
    pub fn start_on(
        &self,
        program: &str,
        args: &[&str],
        env: &[(&str, &str)],
        listen: BorrowedFd<'_>,
    ) -> Child {
        self.spawn_on(program, args, env, None, listen)
    }

    fn spawn_on(
        &self,
        program: &str,
        args: &[&str],
        env: &[(&str, &str)],
        stdin: Option<OwnedFd>,
        listen: BorrowedFd<'_>,
    ) -> Child {
        let exe = example_exe(program);
        let config = self.dir.path().as_os_str().to_owned();
        let queue = self.dir.path().join("queue");
        let mut vars: Vec<(OsString, OsString)> = std::env::vars_os()
            .filter(|(k, _)| {
                !["POSTLOG_SERVICE", "MAIL_VERBOSE", "MAIL_CONFIG"]
                    .iter()
                    .any(|n| k == n)
                    && !env.iter().any(|(n, _)| k == n)
            })
            .collect();
        vars.push(("MAIL_CONFIG".into(), config));
        vars.extend(env.iter().map(|(k, v)| ((*k).into(), (*v).into())));
        let pipe = || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let (out_r, out_w) = pipe();
        let (err_r, err_w) = pipe();
        let mut argv = vec![exe.as_os_str()];
        argv.extend(args.iter().map(OsStr::new));
        let cmd = ChildCommand {
            program: &exe,
            argv,
            env: vars
                .iter()
                .map(|(k, v)| (k.as_os_str(), v.as_os_str()))
                .collect(),
            stdin: match &stdin {
                Some(fd) => ChildStdio::Fd(fd.as_fd()),
                None => ChildStdio::Null,
            },
            stdout: ChildStdio::Fd(out_w.as_fd()),
            stderr: ChildStdio::Fd(err_w.as_fd()),
            own_process_group: false,
            current_dir: Some(&queue),
        };
        let fds = ChildFds {
            flow: Some((self.flow.0.as_fd(), self.flow.1.as_fd())),
            status: self.child_end.as_fd(),
            listen: vec![listen],
        };
        let pid = spawn(&cmd, &fds, 0o17).unwrap();
        Child {
            pid,
            stdout: Some(out_r.into()),
            stderr: Some(err_r.into()),
            status: None,
        }
    }

    pub fn send(&self, data: &[u8]) {
        let c = UnixDatagram::unbound().unwrap();
        c.send_to(data, self.dir.path().join("queue/public/probe"))
            .unwrap();
    }

    /// Status records that arrive within `wait`.
    pub fn records(&mut self, wait: Duration) -> Vec<MasterStatus> {
        let m = self.master_end.as_mut().unwrap();
        m.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let deadline = Instant::now() + wait;
        let mut bytes = Vec::new();
        let mut buf = [0u8; 1200];
        while Instant::now() < deadline {
            match m.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
        }
        bytes.chunks(12).filter_map(MasterStatus::decode).collect()
    }

    /// Only the kind (TAKEN or AVAIL) of the records that arrive within
    /// `wait`.
    pub fn avails(&mut self, wait: Duration) -> Vec<i32> {
        self.records(wait).iter().map(|r| r.avail).collect()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("probe.log")).unwrap_or_default()
    }

    pub fn log_path(&self) -> &Path {
        self.dir.path()
    }
}

/// Records come as TAKEN/AVAIL pairs (one pair per batch).
pub fn assert_pairs(recs: &[MasterStatus]) {
    assert!(!recs.is_empty() && recs.len().is_multiple_of(2), "{recs:?}");
    for pair in recs.chunks(2) {
        assert_eq!(
            (pair[0].avail, pair[1].avail),
            (MASTER_STAT_TAKEN, MASTER_STAT_AVAIL),
            "{recs:?}"
        );
    }
}

/// Waits for a child to end (at most `limit`); returns its status and stderr.
pub fn wait_exit(mut child: Child, limit: Duration) -> (Option<i32>, String) {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (st.code(), err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (None, err);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
