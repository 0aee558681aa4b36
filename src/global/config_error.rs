//! Configuration errors, typed: what went wrong in main.cf, a `-o` option
//! or master.cf, with the parts a program may want to look at (file, line,
//! parameter), and a `Display` that is Postfix's own fatal text, byte for
//! byte, because the texts are part of compatibility.

use std::fmt;

/// Which limit a value broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Below this least value.
    Min(i64),
    /// Above this greatest value.
    Max(i64),
}

/// A configuration error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A configuration file could not be read.
    Open {
        /// The file.
        path: String,
        /// The C library's text for the error.
        reason: String,
    },
    /// A main.cf entry that is not `name = value`.
    Syntax {
        /// The file.
        path: String,
        /// The line the entry starts on.
        line: usize,
        /// What is wrong.
        why: String,
        /// The entry.
        text: String,
    },
    /// A `-o` option that is not `name=value`.
    BadOverride {
        /// The option's value.
        option: String,
        /// What is wrong.
        why: String,
    },
    /// `$name` expansion failed (a syntax error, a loop, a fatal operand).
    Expansion(String),
    /// Not a number.
    BadNumber {
        /// The parameter.
        name: String,
        /// Its expanded value.
        value: String,
    },
    /// Neither `yes` nor `no`.
    BadBool {
        /// The parameter.
        name: String,
        /// Its expanded value.
        value: String,
    },
    /// Not a time with a known unit.
    BadTime {
        /// The parameter.
        name: String,
        /// Its expanded value.
        value: String,
    },
    /// An int or long out of its limits.
    IntRange {
        /// The parameter.
        name: String,
        /// Its value.
        value: i64,
        /// The limit broken.
        limit: Limit,
    },
    /// A time out of its limits (in seconds).
    TimeRange {
        /// The parameter.
        name: String,
        /// Its value in seconds.
        value: i64,
        /// The limit broken.
        limit: Limit,
    },
    /// A string too short or too long.
    StrLength {
        /// The parameter.
        name: String,
        /// Its value.
        value: String,
        /// The limit broken.
        limit: Limit,
        /// A raw (never expanded) string: Postfix words this one apart.
        raw: bool,
    },
    /// A global parameter with a value Postfix's `mail_params_init` refuses.
    Param {
        /// main.cf.
        file: String,
        /// The parameter.
        name: String,
        /// What is wrong.
        why: String,
        /// Its value.
        value: String,
    },
    /// An expansion that would grow without bound (postkit's own limit;
    /// Postfix has none and runs out of memory).
    ExpansionLimit {
        /// The main.cf file and line that set the parameter, if main.cf did.
        origin: Option<(String, usize)>,
        /// The parameter.
        name: String,
    },
    /// A master.cf entry.
    MasterCf {
        /// The file.
        path: String,
        /// The line the entry starts on.
        line: usize,
        /// What is wrong.
        why: String,
    },
    /// Any other check with Postfix's text (accounts, compatibility level).
    Other(String),
    /// An error about a parameter, with the main.cf line that set it (for
    /// the operator; the daemons' own fatal texts stay Postfix's).
    At {
        /// The file.
        path: String,
        /// The line of the entry in effect.
        line: usize,
        /// The error.
        inner: Box<ConfigError>,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ConfigError::*;
        match self {
            Open { path, reason } => write!(f, "open {path}: {reason}"),
            Syntax {
                path,
                line,
                why,
                text,
            } => write!(f, "{path}, line {line}: {why}: \"{text}\""),
            BadOverride { option, why } => {
                write!(f, "invalid \"-o {option}\" option value: {why}")
            }
            Expansion(text) | Other(text) => f.write_str(text),
            BadNumber { name, value } => write!(f, "bad numerical configuration: {name} = {value}"),
            BadBool { name, value } => write!(f, "bad boolean configuration: {name} = {value}"),
            BadTime { name, value } => {
                write!(f, "parameter {name}: bad time value or unit: {value}")
            }
            IntRange { name, value, limit } => match limit {
                Limit::Min(m) => write!(f, "invalid {name} parameter value {value} < {m}"),
                Limit::Max(m) => write!(f, "invalid {name} parameter value {value} > {m}"),
            },
            TimeRange { name, value, limit } => match limit {
                Limit::Min(m) => write!(f, "invalid {name}: {value} (min {m})"),
                Limit::Max(m) => write!(f, "invalid {name}: {value} (max {m})"),
            },
            StrLength {
                name,
                value,
                limit,
                raw,
            } => {
                let (op, m) = match limit {
                    Limit::Min(m) => ('<', m),
                    Limit::Max(m) => ('>', m),
                };
                let len = value.len();
                if *raw {
                    write!(f, "bad string length ({len} {op} {m}): {name} = {value}")
                } else {
                    write!(f, "bad string length {len} {op} {m}: {name} = {value}")
                }
            }
            Param {
                file,
                name,
                why,
                value,
            } => write!(f, "file {file}: parameter {name}: {why}: {value}"),
            MasterCf { path, line, why } => write!(f, "{path}: line {line}: {why}"),
            At { path, line, inner } => write!(f, "{path}, line {line}: {inner}"),
            ExpansionLimit { origin, name } => {
                if let Some((path, line)) = origin {
                    write!(f, "{path}, line {line}: ")?;
                }
                write!(
                    f,
                    "parameter {name}: expansion exceeds {} bytes or {} steps",
                    crate::util::mac_expand::MAX_EXPANSION_BYTES,
                    crate::util::mac_expand::MAX_EXPANSION_STEPS
                )
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// The parameter whose value is at fault, when the error is about one.
    pub fn param_name(&self) -> Option<&str> {
        use ConfigError::*;
        match self {
            BadNumber { name, .. }
            | BadBool { name, .. }
            | BadTime { name, .. }
            | IntRange { name, .. }
            | TimeRange { name, .. }
            | StrLength { name, .. }
            | Param { name, .. }
            | ExpansionLimit { name, .. } => Some(name),
            At { inner, .. } => inner.param_name(),
            _ => None,
        }
    }
}

impl From<ConfigError> for String {
    fn from(e: ConfigError) -> String {
        e.to_string()
    }
}

impl From<String> for ConfigError {
    fn from(text: String) -> ConfigError {
        ConfigError::Other(text)
    }
}
