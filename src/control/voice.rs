//! How the control command speaks: as postkit (progress on the terminal,
//! failures as fatal messages) or, run as `postfix`, as Postfix's command
//! (postfix-script's records only, on a terminal); and the records
//! postfix-script leaves in the mail log, which both make.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::global::mail_params::MailParams;
use crate::util::msg;

/// Speaking as Postfix's `postfix` command (run under that name).
static POSTFIX_VOICE: AtomicBool = AtomicBool::new(false);

/// From now on, speak as Postfix's `postfix` command.
pub fn set_postfix_voice() {
    POSTFIX_VOICE.store(true, Ordering::Relaxed);
}

pub(super) fn postfix_voice() -> bool {
    POSTFIX_VOICE.load(Ordering::Relaxed)
}

/// A record as postfix-script makes it: in the mail log (when main.cf
/// could be read) and, speaking as `postfix`, on standard error when that
/// is a terminal (postfix-script's postlog writes there only then).
pub(crate) fn postfix_script(params: Option<&MailParams>, level: msg::Level, text: &str) {
    if let Some(p) = params {
        let tag = crate::global::maillog_client::mail_task("postfix-script", Some(p));
        crate::global::maillog_client::log_once(p, &tag, level, text);
    }
    if postfix_voice() && std::io::stderr().is_terminal() {
        let prefix = match level {
            msg::Level::Info => "",
            msg::Level::Warning => "warning: ",
            msg::Level::Error => "error: ",
            msg::Level::Fatal => "fatal: ",
            msg::Level::Panic => "panic: ",
        };
        eprintln!("postfix/postfix-script: {prefix}{text}");
    }
}

/// A record in the mail log, as postfix-script makes them.
pub(super) fn record(params: &MailParams, text: &str) {
    postfix_script(Some(params), msg::Level::Info, text);
}

/// Progress, on the terminal (the diagnostics' standard error output);
/// silent when speaking as `postfix`.
pub(super) fn say(text: impl std::fmt::Display) {
    if !postfix_voice() {
        msg::info(&text.to_string());
    }
}

/// A failure: reported as a fatal message, but the command returns 1
/// instead of exiting, so that its caller decides.
pub(super) fn fail(text: impl std::fmt::Display) -> i32 {
    msg::log(msg::Level::Fatal, &text.to_string());
    1
}

/// No master runs: postfix-script's fatal record, and postkit's words.
pub(super) fn not_running(params: Option<&MailParams>) -> i32 {
    postfix_script(
        params,
        msg::Level::Fatal,
        "the Postfix mail system is not running",
    );
    if postfix_voice() {
        1
    } else {
        fail("the mail system is not running")
    }
}

/// A master runs already.
pub(super) fn already_running(params: &MailParams, pid: i32) -> i32 {
    postfix_script(
        Some(params),
        msg::Level::Fatal,
        "the Postfix mail system is already running",
    );
    if postfix_voice() {
        1
    } else {
        fail(format!("the mail system is already running: PID: {pid}"))
    }
}
