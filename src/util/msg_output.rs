//! Where diagnostics go (Postfix's msg_output): the severity levels, and
//! the trait an output implements (the postlog client, the syslog client).
//! `msg` holds outputs only through this trait, so that the diagnostics
//! know nothing of sockets and the clients know nothing of `msg`.

use std::any::Any;

/// A diagnostic's severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// `msg_info`.
    Info,
    /// `msg_warn`.
    Warning,
    /// `msg_error`.
    Error,
    /// `msg_fatal`.
    Fatal,
    /// `msg_panic`.
    Panic,
}

impl Level {
    /// The word Postfix puts before the text; none for info.
    pub fn word(self) -> Option<&'static str> {
        match self {
            Level::Info => None,
            Level::Warning => Some("warning"),
            Level::Error => Some("error"),
            Level::Fatal => Some("fatal"),
            Level::Panic => Some("panic"),
        }
    }
}

/// A destination for diagnostics.
pub trait MsgOutput: Any {
    /// Writes one message, already made printable, under `tag`.
    fn output(&mut self, tag: &str, level: Level, text: &str);

    /// The output as `Any`, so that its owner can reach its own methods.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// The output slots a program has: at most one of each kind is active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// The system logger.
    Syslog,
    /// postlogd's socket.
    Postlog,
}
