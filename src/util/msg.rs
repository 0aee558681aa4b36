//! Diagnostics, as Postfix's `msg_info()` … `msg_panic()`.
//!
//! Every message is made printable (no newline or escape sequence can reach a
//! log) and handed to each output that is switched on: standard error
//! (`-V`, command-line tools), syslog, or the postlog socket.  `fatal` logs,
//! sleeps one second (so a respawning master is not flooded) and exits 1.

use std::cell::RefCell;
use std::io::Write;

pub use super::msg_output::Level;
use super::msg_output::{MsgOutput, Slot};
use super::printable::printable;

/// What runs with a fatal error's text before the program exits.
pub type FatalHook = Box<dyn FnOnce(&str)>;

#[derive(Default)]
struct Outputs {
    tag: String,
    /// The least level copied to standard error (None: nothing).
    stderr: Option<Level>,
    syslog: Option<Box<dyn MsgOutput>>,
    postlog: Option<Box<dyn MsgOutput>>,
    verbose: u32,
    errors: u32,
    /// Runs on a fatal error before the exit (a master that took over from
    /// an older program hands everything back to it).
    fatal_hook: Option<FatalHook>,
    /// Messages go to a buffer instead (tests of the library itself).
    capture: Option<Vec<(Level, String)>>,
}

thread_local! {
    static OUT: RefCell<Outputs> = RefCell::new(Outputs { tag: "postkit".into(), stderr: Some(Level::Info), ..Default::default() });
}

/// The name every record carries, e.g. `postfix/postlogd`.
pub fn set_tag(tag: &str) {
    OUT.with(|o| o.borrow_mut().tag = tag.to_string());
}

/// The current tag.
pub fn tag() -> String {
    OUT.with(|o| o.borrow().tag.clone())
}

/// Copies messages to standard error, or stops.
pub fn set_stderr(on: bool) {
    OUT.with(|o| o.borrow_mut().stderr = on.then_some(Level::Info));
}

/// Copies messages of `level` and worse to standard error (a daemon's
/// fatal text, for whoever holds its stderr: a master, a terminal).
pub fn set_stderr_from(level: Level) {
    OUT.with(|o| o.borrow_mut().stderr = Some(level));
}

/// Whether messages go to standard error.
pub fn stderr_enabled() -> bool {
    OUT.with(|o| o.borrow().stderr == Some(Level::Info))
}

/// Switches the output of `slot` on (with an output) or off.
pub fn set_output(slot: Slot, output: Option<Box<dyn MsgOutput>>) {
    OUT.with(|o| {
        let mut o = o.borrow_mut();
        match slot {
            Slot::Syslog => o.syslog = output,
            Slot::Postlog => o.postlog = output,
        }
    });
}

/// Runs `f` on the output of `slot` if one is active and is a `T`.
pub fn with_output<T: MsgOutput, R>(slot: Slot, f: impl FnOnce(&mut T) -> R) -> Option<R> {
    OUT.with(|o| {
        let mut o = o.borrow_mut();
        let out = match slot {
            Slot::Syslog => o.syslog.as_mut(),
            Slot::Postlog => o.postlog.as_mut(),
        }?;
        out.as_any_mut().downcast_mut::<T>().map(f)
    })
}

/// Runs `hook` with the text of a fatal error, before the program exits
/// (None: nothing).
pub fn set_fatal_hook(hook: Option<FatalHook>) {
    OUT.with(|o| o.borrow_mut().fatal_hook = hook);
}

/// The current verbosity (`-v` count).
pub fn verbose() -> u32 {
    OUT.with(|o| o.borrow().verbose)
}

/// Sets the verbosity.
pub fn set_verbose(level: u32) {
    OUT.with(|o| o.borrow_mut().verbose = level);
}

/// Collects messages in memory instead of writing them (for unit tests).
pub fn capture_start() {
    OUT.with(|o| o.borrow_mut().capture = Some(Vec::new()));
}

/// The messages collected since `capture_start`, and ends collecting.
pub fn capture_take() -> Vec<(Level, String)> {
    OUT.with(|o| o.borrow_mut().capture.take().unwrap_or_default())
}

/// Writes one message to every active output.
pub fn log(level: Level, text: &str) {
    let text = printable(text, '?');
    OUT.with(|o| {
        let mut o = o.borrow_mut();
        if let Some(cap) = o.capture.as_mut() {
            cap.push((level, text));
            return;
        }
        if o.stderr.is_some_and(|least| level >= least) {
            let line = match level.word() {
                Some(w) => format!("{}: {w}: {text}\n", o.tag),
                None => format!("{}: {text}\n", o.tag),
            };
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
        let tag = o.tag.clone();
        if let Some(s) = o.syslog.as_mut() {
            s.output(&tag, level, &text);
        }
        if let Some(p) = o.postlog.as_mut() {
            p.output(&tag, level, &text);
        }
    });
}

/// An informational message.
pub fn info(text: &str) {
    log(Level::Info, text);
}

/// A warning.
pub fn warn(text: &str) {
    log(Level::Warning, text);
}

/// An error; the thirteenth ends the program, as in Postfix.
pub fn error(text: &str) {
    log(Level::Error, text);
    let count = OUT.with(|o| {
        let mut o = o.borrow_mut();
        o.errors += 1;
        o.errors
    });
    if count >= 13 {
        fatal("too many errors - program terminated");
    }
}

/// Logs, waits a second so that a master does not respawn in a tight loop,
/// and exits with status 1.
pub fn fatal(text: impl std::fmt::Display) -> ! {
    fatal_status(1, &text.to_string())
}

/// Logs, waits a second and exits with `status`.
pub fn fatal_status(status: i32, text: &str) -> ! {
    log(Level::Fatal, text);
    if let Some(hook) = OUT.with(|o| o.borrow_mut().fatal_hook.take()) {
        hook(text);
    }
    std::thread::sleep(std::time::Duration::from_secs(1));
    std::process::exit(status);
}

/// A broken invariant of the program itself.
pub fn panic(text: &str) -> ! {
    log(Level::Panic, text);
    std::thread::sleep(std::time::Duration::from_secs(1));
    std::process::abort();
}

#[macro_export]
/// `msg_info!("fmt", args)`: an informational message.
macro_rules! msg_info { ($($a:tt)*) => { $crate::msg::info(&format!($($a)*)) } }
#[macro_export]
/// `msg_warn!`: a warning.
macro_rules! msg_warn { ($($a:tt)*) => { $crate::msg::warn(&format!($($a)*)) } }
#[macro_export]
/// `msg_error!`: an error (the thirteenth is fatal).
macro_rules! msg_error { ($($a:tt)*) => { $crate::msg::error(&format!($($a)*)) } }
#[macro_export]
/// `msg_fatal!`: log and exit 1.
macro_rules! msg_fatal { ($($a:tt)*) => { $crate::msg::fatal(&format!($($a)*)) } }
#[macro_export]
/// `msg_panic!`: log and abort.
macro_rules! msg_panic { ($($a:tt)*) => { $crate::msg::panic(&format!($($a)*)) } }
