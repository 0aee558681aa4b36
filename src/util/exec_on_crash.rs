//! A way back that survives a crash or a hang.  While armed, a fatal
//! signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT) or the expiry of an
//! alarm (SIGALRM: the caller set a time limit, which outlives an exec)
//! makes this process execute a prepared program instead of dying: an
//! upgraded master that crashes or hangs while it starts hands everything
//! back to the program it replaced, as it does on a fatal error.  A signal handler may not allocate or lock, so
//! the path, argument and environment vectors are built when arming, and
//! the handler only clears close-on-exec on the descriptors to keep and
//! calls execve(); if that fails, the signal does what it would have done.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicPtr, Ordering};

use nix::sys::signal::{SigHandler, Signal, signal};

/// Everything the handler needs, built in advance and never freed while
/// armed.
struct Prepared {
    path: CString,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    /// The environment when the alarm fired.
    envp_hang: Vec<*const libc::c_char>,
    keep: Vec<i32>,
    // The strings the pointers above point into.
    _strings: Vec<CString>,
}

static PREPARED: AtomicPtr<Prepared> = AtomicPtr::new(std::ptr::null_mut());

const SIGNALS: [Signal; 6] = [
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGILL,
    Signal::SIGFPE,
    Signal::SIGABRT,
    Signal::SIGALRM,
];

fn c_string(bytes: &[u8]) -> CString {
    CString::new(
        bytes
            .iter()
            .copied()
            .filter(|b| *b != 0)
            .collect::<Vec<u8>>(),
    )
    .unwrap_or_default()
}

extern "C" fn on_crash(sig: libc::c_int) {
    let p = PREPARED.load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: `p` came from Box::into_raw in arm() and is never freed
        // while it is stored; fcntl() and execve() are async-signal-safe,
        // and every pointer handed to execve() points into strings that
        // live as long as the Prepared does (null-terminated vectors).
        // sigemptyset(), sigaddset() and sigprocmask() are too: the
        // program executed must not start with this signal blocked.
        unsafe {
            let p = &*p;
            for &fd in &p.keep {
                libc::fcntl(fd, libc::F_SETFD, 0);
            }
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            // alarm() is async-signal-safe; a pending alarm would outlive
            // the exec and end the program gone back to.
            libc::alarm(0);
            let envp = if sig == libc::SIGALRM {
                &p.envp_hang
            } else {
                &p.envp
            };
            libc::execve(p.path.as_ptr(), p.argv.as_ptr(), envp.as_ptr());
        }
    }
    // SAFETY: signal() and raise() are async-signal-safe; with the default
    // action back, the signal ends the process as it would have.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// From now on, a fatal signal executes `path` with `argv` (its name
/// included), this process's environment plus `extra_env` (`hang_env` when
/// the signal is the alarm), and the descriptors `keep` left open.
pub fn arm(
    path: &str,
    argv: &[String],
    extra_env: &[(&str, &str)],
    hang_env: &[(&str, &str)],
    keep: Vec<i32>,
) {
    let mut strings: Vec<CString> = Vec::new();
    let pointers = |items: Vec<CString>, strings: &mut Vec<CString>| {
        let mut v: Vec<*const libc::c_char> = items.iter().map(|s| s.as_ptr()).collect();
        v.push(std::ptr::null());
        strings.extend(items);
        v
    };
    let args: Vec<CString> = argv.iter().map(|a| c_string(a.as_bytes())).collect();
    let argv_ptrs = pointers(args, &mut strings);
    let environment = |extra_env: &[(&str, &str)]| -> Vec<CString> {
        let overridden: Vec<&str> = extra_env.iter().map(|(k, _)| *k).collect();
        let mut env: Vec<CString> = std::env::vars_os()
            .filter(|(k, _)| {
                !overridden
                    .iter()
                    .any(|o| k.as_os_str() == std::ffi::OsStr::new(o))
            })
            .map(|(k, v)| {
                let mut kv = k.as_bytes().to_vec();
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                c_string(&kv)
            })
            .collect();
        env.extend(
            extra_env
                .iter()
                .map(|(k, v)| c_string(format!("{k}={v}").as_bytes())),
        );
        env
    };
    let envp_ptrs = pointers(environment(extra_env), &mut strings);
    let envp_hang = pointers(environment(hang_env), &mut strings);
    let prepared = Box::new(Prepared {
        path: c_string(path.as_bytes()),
        argv: argv_ptrs,
        envp: envp_ptrs,
        envp_hang,
        keep,
        _strings: strings,
    });
    let old = PREPARED.swap(Box::into_raw(prepared), Ordering::AcqRel);
    if !old.is_null() {
        // SAFETY: a previous arm()'s box; the handler now sees the new one.
        drop(unsafe { Box::from_raw(old) });
    }
    for sig in SIGNALS {
        // SAFETY: on_crash only calls async-signal-safe functions and reads
        // the Prepared published above with a release store.
        let _ = unsafe { super::sig::set_handler(sig, on_crash) };
    }
}

/// Crashes are crashes again (the prepared program is kept, unused), and
/// the alarm is off.
pub fn disarm() {
    nix::unistd::alarm::cancel();
    for sig in SIGNALS {
        // SAFETY: SIG_DFL runs no code of ours in signal context.
        let _ = unsafe { signal(sig, SigHandler::SigDfl) };
    }
    // Left allocated: a handler running on another thread could still be
    // reading it (there is none in the master, but nothing is gained by
    // freeing a few hundred bytes).
    PREPARED.store(std::ptr::null_mut(), Ordering::Release);
}
