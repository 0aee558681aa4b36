//! What a parameter is, as postconf and the programs know it: its name,
//! type, default and limits.  Its own file so that the table of the
//! parameters postkit's programs read (`mail_params`) and the table of
//! every parameter Postfix knows (`postfix_params`) both build on it, and
//! neither imports the other's definitions.

use super::mail_conf::MailConf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// A parameter's type, as Postfix's tables name them.
pub enum Kind {
    /// An expanded string.
    Str,
    /// A string never expanded.
    Raw,
    /// An int.
    Int,
    /// A long.
    Long,
    /// A boolean.
    Bool,
    /// A time with a unit.
    Time,
    /// An int whose default is text.
    Nint,
    /// A boolean whose default is text.
    Nbool,
}

#[derive(Debug, Clone, Copy)]
/// A parameter's default, as `postconf -d` prints it.
pub enum DefaultValue {
    /// Text (expanded by `-x`).
    Text(&'static str),
    /// A number.
    Int(i64),
    /// `yes` or `no`.
    Bool(bool),
    /// Computed at run time from the host (and main.cf).
    Computed(fn(&MailConf) -> String),
}

/// One known parameter.
#[derive(Debug, Clone, Copy)]
pub struct ParamDef {
    /// Its main.cf name.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Its default.
    pub default: DefaultValue,
    /// The least value (0: no bound).
    pub min: i64,
    /// The greatest value (0: no bound).
    pub max: i64,
    /// Set by the program, never by main.cf.
    pub read_only: bool,
}

/// A parameter any program may set in main.cf.
pub(crate) const fn p(
    name: &'static str,
    kind: Kind,
    default: DefaultValue,
    min: i64,
    max: i64,
) -> ParamDef {
    ParamDef {
        name,
        kind,
        default,
        min,
        max,
        read_only: false,
    }
}
