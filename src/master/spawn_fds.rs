//! Starting a child with the master's descriptors in place: the flow pipe
//! on 3 and 4, the status channel on 5, the listening sockets from 6 on,
//! and `GENERATION` in its environment.  Nothing else: a descriptor the
//! master inherited from whoever started it (a shell's open file, a
//! service manager's pipe) is closed in the child, so that a service
//! running as mail_owner never holds what root had open.
//!
//! The child is made with posix_spawn(), which glibc does with a clone
//! that shares the master's memory until the exec: a fork() copies the
//! master's page tables and then pays a fault for every page either side
//! writes, 125 µs of the master's CPU per child against 56 µs (measured
//! at 3 MB by `postkit-bench --only spawn`; a master with a thousand
//! services is bigger).  The master
//! spawns a child per few dozen messages on a busy host (smtpd, cleanup
//! and discard at their use limits).  Postfix forks.  The file actions
//! are the child's whole set-up: its descriptors placed with dup2(), then
//! every descriptor above them closed (posix_spawn_file_actions_addclosefrom_np,
//! glibc 2.34), the signal mask emptied and SIGPIPE back to its default
//! (the Rust runtime ignores it, and an ignored signal stays ignored across
//! exec), a process group of its own when asked.  nix wraps posix_spawn
//! but not closefrom, so the calls are libc's, in this module only.

use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::server::master_proto::{
    MASTER_FLOW_READ, MASTER_FLOW_WRITE, MASTER_GEN_NAME, MASTER_LISTEN_FD, MASTER_STATUS_FD,
};

/// The descriptors a child gets.
pub struct ChildFds<'a> {
    /// The flow-token pipe (read, write end): fds 3 and 4.
    pub flow: Option<(BorrowedFd<'a>, BorrowedFd<'a>)>,
    /// The child's end of the status channel: fd 5.
    pub status: BorrowedFd<'a>,
    /// The listening sockets: fds 6 on.
    pub listen: Vec<BorrowedFd<'a>>,
}

/// Where one of a child's standard descriptors goes.
pub enum ChildStdio<'a> {
    /// The master's own.
    Inherit,
    /// /dev/null.
    Null,
    /// This descriptor.
    Fd(BorrowedFd<'a>),
}

/// What a child runs and with what around it.
pub struct ChildCommand<'a> {
    /// The program, by path (no PATH search).
    pub program: &'a Path,
    /// Its argv, argv[0] first.
    pub argv: Vec<&'a OsStr>,
    /// Its whole environment (GENERATION is added unless given here).
    pub env: Vec<(&'a OsStr, &'a OsStr)>,
    /// Its descriptors 0, 1 and 2.
    pub stdin: ChildStdio<'a>,
    /// See `stdin`.
    pub stdout: ChildStdio<'a>,
    /// See `stdin`.
    pub stderr: ChildStdio<'a>,
    /// A process group of its own (the master in the foreground, so that
    /// the terminal's Ctrl-C reaches the master alone).
    pub own_process_group: bool,
    /// A working directory other than the master's.
    pub current_dir: Option<&'a Path>,
}

impl<'a> ChildCommand<'a> {
    /// `program` with `argv`, an empty environment, /dev/null for its
    /// standard descriptors, in the master's process group and directory.
    pub fn new(program: &'a Path, argv: Vec<&'a OsStr>) -> ChildCommand<'a> {
        ChildCommand {
            program,
            argv,
            env: Vec::new(),
            stdin: ChildStdio::Null,
            stdout: ChildStdio::Null,
            stderr: ChildStdio::Null,
            own_process_group: false,
            current_dir: None,
        }
    }
}

const MAX_PLACED: usize = 256;

/// Starts `cmd` with `fds` placed and `GENERATION` set to `generation` in
/// octal; the child's pid.
pub fn spawn(cmd: &ChildCommand, fds: &ChildFds, generation: u32) -> std::io::Result<i32> {
    let mut plan: Vec<(RawFd, RawFd)> = Vec::new();
    if let Some((r, w)) = &fds.flow {
        plan.push((r.as_raw_fd(), MASTER_FLOW_READ));
        plan.push((w.as_raw_fd(), MASTER_FLOW_WRITE));
    }
    plan.push((fds.status.as_raw_fd(), MASTER_STATUS_FD));
    for (i, l) in fds.listen.iter().enumerate() {
        plan.push((l.as_raw_fd(), MASTER_LISTEN_FD + i as i32));
    }
    if plan.len() > MAX_PLACED {
        return Err(std::io::Error::other(
            "master_spawn: too many listen descriptors",
        ));
    }
    let null = [&cmd.stdin, &cmd.stdout, &cmd.stderr]
        .iter()
        .any(|s| matches!(s, ChildStdio::Null))
        .then(|| {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
        })
        .transpose()?;
    for (n, s) in [&cmd.stdin, &cmd.stdout, &cmd.stderr]
        .into_iter()
        .enumerate()
    {
        match s {
            ChildStdio::Inherit => {}
            ChildStdio::Null => plan.push((null.as_ref().expect("opened").as_raw_fd(), n as i32)),
            ChildStdio::Fd(fd) => plan.push((fd.as_raw_fd(), n as i32)),
        }
    }
    let top = MASTER_LISTEN_FD + fds.listen.len() as i32;
    // Every source sits above every target number, so that placing one
    // never overwrites another: the low ones are copied up first (the
    // copies close with this function; the child's close at exec).
    let mut copies: Vec<OwnedFd> = Vec::new();
    for (from, _) in plan.iter_mut() {
        if *from < top {
            let high = nix::fcntl::fcntl(
                // SAFETY: `from` is one of the descriptors borrowed above,
                // open for the duration of this call.
                unsafe { BorrowedFd::borrow_raw(*from) },
                nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(top),
            )?;
            // SAFETY: F_DUPFD_CLOEXEC returned a new descriptor we own.
            copies.push(unsafe { OwnedFd::from_raw_fd(high) });
            *from = high;
        }
    }
    let c = |s: &OsStr| {
        CString::new(s.as_bytes())
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in argument"))
    };
    let program = c(cmd.program.as_os_str())?;
    let argv = cmd
        .argv
        .iter()
        .map(|a| c(a))
        .collect::<std::io::Result<Vec<_>>>()?;
    let mut env = Vec::with_capacity(cmd.env.len() + 1);
    for (k, v) in &cmd.env {
        let mut kv = k.as_bytes().to_vec();
        kv.push(b'=');
        kv.extend_from_slice(v.as_bytes());
        env.push(c(OsStr::from_bytes(&kv))?);
    }
    // A caller that set GENERATION itself (a test of bad values) keeps it.
    if !cmd
        .env
        .iter()
        .any(|(k, _)| k.as_bytes() == MASTER_GEN_NAME.as_bytes())
    {
        env.push(c(OsStr::new(&format!("{MASTER_GEN_NAME}={generation:o}")))?);
    }
    let cwd = cmd.current_dir.map(|d| c(d.as_os_str())).transpose()?;
    let mut actions = FileActions::new()?;
    for &(from, to) in &plan {
        actions.dup2(from, to)?;
    }
    if let Some(dir) = &cwd {
        actions.chdir(dir)?;
    }
    actions.close_from(top)?;
    let attr = Attr::new(cmd.own_process_group)?;
    let ptrs = |v: &[CString]| -> Vec<*mut libc::c_char> {
        v.iter()
            .map(|s| s.as_ptr().cast_mut())
            .chain(std::iter::once(std::ptr::null_mut()))
            .collect()
    };
    let (argv_p, env_p) = (ptrs(&argv), ptrs(&env));
    let mut pid: libc::pid_t = 0;
    // SAFETY: every pointer is valid for the call: the program path and
    // the NUL-terminated argv and envp arrays point into CStrings that
    // live until the end of this function, and `actions` and `attr` were
    // initialised by their constructors.  posix_spawn writes only `pid`.
    let rc = unsafe {
        libc::posix_spawn(
            &mut pid,
            program.as_ptr(),
            &actions.0,
            &attr.0,
            argv_p.as_ptr(),
            env_p.as_ptr(),
        )
    };
    drop(copies);
    check(rc).map(|()| pid)
}

/// Turns a posix_spawn family return value into a Result.
fn check(rc: libc::c_int) -> std::io::Result<()> {
    match rc {
        0 => Ok(()),
        e => Err(std::io::Error::from_raw_os_error(e)),
    }
}

/// posix_spawn's file actions, destroyed on drop.
struct FileActions(libc::posix_spawn_file_actions_t);

impl FileActions {
    fn new() -> std::io::Result<FileActions> {
        let mut fa = std::mem::MaybeUninit::uninit();
        // SAFETY: init writes the object it is given; it is used only if
        // init succeeded.
        check(unsafe { libc::posix_spawn_file_actions_init(fa.as_mut_ptr()) })?;
        // SAFETY: initialised just above.
        Ok(FileActions(unsafe { fa.assume_init() }))
    }

    fn dup2(&mut self, from: RawFd, to: RawFd) -> std::io::Result<()> {
        // SAFETY: an initialised object; the numbers are only recorded.
        check(unsafe { libc::posix_spawn_file_actions_adddup2(&mut self.0, from, to) })
    }

    fn chdir(&mut self, dir: &CString) -> std::io::Result<()> {
        // SAFETY: an initialised object; glibc copies the path.
        check(unsafe { libc::posix_spawn_file_actions_addchdir_np(&mut self.0, dir.as_ptr()) })
    }

    fn close_from(&mut self, from: RawFd) -> std::io::Result<()> {
        // SAFETY: an initialised object; the number is only recorded.
        check(unsafe { libc::posix_spawn_file_actions_addclosefrom_np(&mut self.0, from) })
    }
}

impl Drop for FileActions {
    fn drop(&mut self) {
        // SAFETY: initialised by new(), destroyed once.
        unsafe { libc::posix_spawn_file_actions_destroy(&mut self.0) };
    }
}

/// posix_spawn's attributes: an empty signal mask, SIGPIPE at its
/// default, and a process group of its own when asked; destroyed on drop.
struct Attr(libc::posix_spawnattr_t);

impl Attr {
    fn new(own_group: bool) -> std::io::Result<Attr> {
        let mut a = std::mem::MaybeUninit::uninit();
        // SAFETY: init writes the object it is given; it is used only if
        // init succeeded.
        check(unsafe { libc::posix_spawnattr_init(a.as_mut_ptr()) })?;
        // SAFETY: initialised just above.
        let mut attr = Attr(unsafe { a.assume_init() });
        let empty = nix::sys::signal::SigSet::empty();
        let mut pipe = nix::sys::signal::SigSet::empty();
        pipe.add(nix::sys::signal::Signal::SIGPIPE);
        let mut flags = libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF;
        if own_group {
            flags |= libc::POSIX_SPAWN_SETPGROUP;
        }
        // SAFETY: an initialised object; the signal sets are valid
        // sigset_t values that glibc copies; pgroup 0 is the child's pid.
        unsafe {
            check(libc::posix_spawnattr_setsigmask(
                &mut attr.0,
                empty.as_ref(),
            ))?;
            check(libc::posix_spawnattr_setsigdefault(
                &mut attr.0,
                pipe.as_ref(),
            ))?;
            check(libc::posix_spawnattr_setpgroup(&mut attr.0, 0))?;
            check(libc::posix_spawnattr_setflags(
                &mut attr.0,
                flags as libc::c_short,
            ))?;
        }
        Ok(attr)
    }
}

impl Drop for Attr {
    fn drop(&mut self) {
        // SAFETY: initialised by new(), destroyed once.
        unsafe { libc::posix_spawnattr_destroy(&mut self.0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsFd;

    /// Runs `argv` as the master runs a child, with a descriptor the
    /// master has open besides (not close-on-exec, as one it inherited);
    /// what it printed.
    fn run(argv: &[&str], own_group: bool) -> String {
        let (out_r, out_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let (status, _master_end) = std::os::unix::net::UnixStream::pair().unwrap();
        let (flow_r, flow_w) = nix::unistd::pipe().unwrap();
        let listener = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let null = std::fs::File::open("/dev/null").unwrap();
        let stray = nix::fcntl::fcntl(&null, nix::fcntl::FcntlArg::F_DUPFD(100)).unwrap();
        // SAFETY: F_DUPFD returned a new descriptor we own.
        let stray = unsafe { OwnedFd::from_raw_fd(stray) };
        let cmd = ChildCommand {
            env: vec![(OsStr::new("A"), OsStr::new("b"))],
            stdout: ChildStdio::Fd(out_w.as_fd()),
            own_process_group: own_group,
            current_dir: Some(Path::new("/proc")),
            ..ChildCommand::new(Path::new(argv[0]), argv.iter().map(OsStr::new).collect())
        };
        let fds = ChildFds {
            flow: Some((flow_r.as_fd(), flow_w.as_fd())),
            status: status.as_fd(),
            listen: vec![listener.as_fd()],
        };
        let pid = spawn(&cmd, &fds, 0o17).unwrap();
        drop(out_w);
        let mut text = String::new();
        std::fs::File::from(out_r)
            .read_to_string(&mut text)
            .unwrap();
        nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None).unwrap();
        drop(stray);
        text
    }

    #[test]
    fn the_child_has_exactly_its_descriptors_and_environment() {
        let fds = run(&["/bin/ls", "/proc/self/fd"], false);
        let mut numbers: Vec<i32> = fds.split_whitespace().map(|n| n.parse().unwrap()).collect();
        numbers.sort();
        // 0-6, and ls's own handle on the directory it lists: not the
        // stray descriptor at 100, nor the copies made above 6.
        assert_eq!(numbers.len(), 8, "{fds}");
        assert_eq!(&numbers[..7], &[0, 1, 2, 3, 4, 5, 6], "{fds}");
        let env = run(&["/usr/bin/env"], false);
        assert_eq!(env, "A=b\nGENERATION=17\n");
        assert_eq!(run(&["/bin/pwd"], false), "/proc\n");
    }

    #[test]
    fn the_child_starts_with_default_signals_and_its_group_when_asked() {
        let status = run(&["/bin/cat", "/proc/self/status"], false);
        let field = |name: &str| {
            let v = status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap()
                .trim();
            u64::from_str_radix(v, 16).unwrap()
        };
        // The test harness, a Rust program, ignores SIGPIPE; the child not.
        assert_eq!(field("SigIgn:") & (1 << (libc::SIGPIPE - 1)), 0, "{status}");
        assert_eq!(field("SigBlk:"), 0, "{status}");
        // The pid and the process group of the child.
        let stat = |own| {
            let s = run(&["/bin/cat", "/proc/self/stat"], own);
            let pid = s.split_whitespace().next().unwrap().to_string();
            let after = &s[s.rfind(')').unwrap() + 2..];
            (pid, after.split_whitespace().nth(2).unwrap().to_string())
        };
        let ours = nix::unistd::getpgrp().as_raw().to_string();
        assert_eq!(stat(false).1, ours, "in the master's group");
        let (pid, group) = stat(true);
        assert_eq!(pid, group, "a group of its own");
    }

    #[test]
    fn a_program_that_cannot_run_is_an_error() {
        let (status, _m) = std::os::unix::net::UnixStream::pair().unwrap();
        let cmd = ChildCommand::new(
            Path::new("/nonexistent/program"),
            vec![OsStr::new("program")],
        );
        let fds = ChildFds {
            flow: None,
            status: status.as_fd(),
            listen: vec![],
        };
        let e = spawn(&cmd, &fds, 1).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    }
}
