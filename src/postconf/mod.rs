//! `postkit postconf`: Postfix's `postconf` for the parameters postkit knows
//! and for user-defined ones.  Flags `-c DIR`, `-d`, `-n`, `-x`, `-h`, `-H`
//! and `-o name=value`; output formatted as `postconf` formats it.
//!
//! A user-defined parameter exists for `postconf` only when some value in
//! main.cf refers to it; finding those references also finds references to
//! names defined nowhere, which are warned about, as Postfix does.

use std::collections::BTreeSet;

use crate::global::mail_conf::{DEF_CONFIG_DIR, MailConf};
use crate::global::mail_params::{self, Kind};
use crate::util::getopt::{Getopt, GetoptError, Opt};
use crate::util::mac_expand::{self, Mode, RECURSE, SCAN};
use crate::util::msg;
use crate::{msg_fatal, msg_warn};

#[derive(Default)]
struct Options {
    config_dir: Option<String>,
    defaults: bool,
    non_default: bool,
    expand: bool,
    hide_name: bool,
    hide_value: bool,
    overrides: Vec<String>,
    names: Vec<String>,
}

const USAGE: &str =
    "usage: postconf [-c config_dir] [-d] [-h] [-H] [-n] [-o name=value] [-x] [parameter ...]";

/// Parses the options with Postfix's getopt rules (options stop at the
/// first parameter name).
fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut g = Getopt::new(args, "c:dnxhHo:");
    for opt in g.by_ref() {
        match opt {
            Ok(Opt::Value('c', v)) => o.config_dir = Some(v),
            Ok(Opt::Flag('d')) => o.defaults = true,
            Ok(Opt::Flag('n')) => o.non_default = true,
            Ok(Opt::Flag('x')) => o.expand = true,
            Ok(Opt::Flag('h')) => o.hide_name = true,
            Ok(Opt::Flag('H')) => o.hide_value = true,
            Ok(Opt::Value('o', v)) => o.overrides.push(v),
            Err(GetoptError::Unknown(c)) | Ok(Opt::Flag(c) | Opt::Value(c, _)) => {
                return Err(format!(
                    "option -{c} is not supported by postkit postconf; {USAGE}"
                ));
            }
            Err(GetoptError::MissingValue(_)) => return Err(USAGE.to_string()),
        }
    }
    o.names = g.rest().to_vec();
    Ok(o)
}

/// Joins the words of a line with single spaces, as `postconf` prints.
fn normalize(line: &str) -> String {
    line.split([' ', '\t', '\r', '\n'])
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

struct Postconf {
    conf: MailConf,
    opts: Options,
    /// User-defined names that some value refers to.
    user_valid: BTreeSet<String>,
    explicit_dir: bool,
}

impl Postconf {
    fn known(&self, name: &str) -> bool {
        mail_params::find(name).is_some() || self.user_valid.contains(name)
    }

    /// The value before expansion: main.cf's, else the default.
    fn raw_value(&self, name: &str, defaults_only: bool) -> Option<String> {
        if !defaults_only && let Some(v) = self.conf.lookup(name) {
            return Some(v.to_string());
        }
        if let Some(def) = mail_params::find(name) {
            return Some(def.default_text(&self.conf));
        }
        if self.user_valid.contains(name) {
            return Some(String::new());
        }
        None
    }

    fn expand(&self, value: &str) -> String {
        let defaults_only = self.opts.defaults;
        let mut lookup = |name: &str, _m: Mode| self.raw_value(name, defaults_only);
        let mut warn = |m: String| msg::warn(&m);
        let e = mac_expand::expand(
            value,
            RECURSE,
            &mut lookup,
            &mut warn,
            crate::global::compat_level::RELOPS,
        );
        if let Some(fatal) = e.fatal {
            msg_fatal!("{fatal}");
        }
        if e.status.error {
            msg_fatal!("macro processing error");
        }
        e.text
    }

    /// Finds the user-defined names that values refer to, warning about
    /// names defined nowhere.
    fn register_user_parameters(&mut self) {
        let dir = self.conf.config_dir.clone();
        let mut values: Vec<String> = Vec::new();
        for name in self.conf.file_names().to_vec() {
            let def = mail_params::find(&name);
            if def.is_some_and(|d| d.read_only) {
                let value = self.conf.lookup(&name).unwrap_or_default().to_string();
                msg_warn!("{dir}/main.cf: read-only parameter assignment: {name}={value}");
                continue;
            }
            if def.is_some_and(|d| d.kind == Kind::Raw) {
                continue;
            }
            values.extend(self.conf.lookup(&name).map(str::to_string));
        }
        for def in mail_params::PARAMS {
            if def.kind != Kind::Raw && self.conf.lookup(def.name).is_none() && !def.read_only {
                values.push(def.default_text(&self.conf));
            }
        }
        for value in values {
            let mut found: Vec<String> = Vec::new();
            {
                let mut lookup = |name: &str, _m: Mode| {
                    found.push(name.to_string());
                    None
                };
                let mut warn = |m: String| msg::warn(&m);
                let _ = mac_expand::expand(
                    &value,
                    SCAN,
                    &mut lookup,
                    &mut warn,
                    crate::global::compat_level::RELOPS,
                );
            }
            for name in found {
                if self.conf.lookup(&name).is_some() {
                    if mail_params::find(&name).is_none() {
                        self.user_valid.insert(name);
                    }
                } else if !self.known(&name) {
                    msg_warn!("{dir}/main.cf: undefined parameter: {name}");
                }
            }
        }
    }

    fn print(&self, name: &str, out: &mut String) {
        let Some(mut value) = self.raw_value(name, self.opts.defaults) else {
            return;
        };
        let raw = mail_params::find(name).is_some_and(|d| d.kind == Kind::Raw);
        if self.opts.hide_value {
            out.push_str(&normalize(name));
        } else {
            if self.opts.expand && !raw {
                value = self.expand(&value);
            }
            if self.opts.hide_name {
                out.push_str(&normalize(&value));
            } else {
                out.push_str(&normalize(&format!("{name} = {value}")));
            }
        }
        out.push('\n');
    }

    fn run(&mut self) {
        if !self.opts.defaults {
            self.register_user_parameters();
        }
        let mut out = String::new();
        if !self.opts.names.is_empty() {
            for name in self.opts.names.clone() {
                let known = if self.opts.defaults {
                    mail_params::find(&name).is_some_and(|d| !d.read_only || name != "process_id")
                } else {
                    self.known(&name)
                };
                if known {
                    self.print(&name, &mut out);
                } else {
                    msg_warn!("{name}: unknown parameter");
                }
            }
        } else {
            let mut names: BTreeSet<String> = BTreeSet::new();
            if self.opts.non_default {
                for n in self.conf.file_names() {
                    if self.known(n) && !mail_params::find(n).is_some_and(|d| d.read_only) {
                        names.insert(n.clone());
                    }
                }
                if self.explicit_dir {
                    names.insert("config_directory".into());
                }
            } else {
                names.extend(mail_params::PARAMS.iter().map(|d| d.name.to_string()));
                if !self.opts.defaults {
                    names.extend(self.user_valid.iter().cloned());
                }
            }
            for n in &names {
                self.print(n, &mut out);
            }
        }
        use std::io::Write;
        let _ = std::io::stdout().write_all(out.as_bytes());
        let _ = std::io::stdout().flush();
        if !self.opts.defaults {
            let dir = &self.conf.config_dir;
            for n in self.conf.file_names() {
                if !self.known(n) {
                    let v = self.conf.lookup(n).unwrap_or_default();
                    msg_warn!("{dir}/main.cf: unused parameter: {n}={v}");
                }
            }
        }
    }
}

/// Entry point; `args` excludes the program name.
pub fn main(args: &[String]) -> i32 {
    msg::set_tag("postconf");
    msg::set_stderr(true);
    let opts = parse_args(args).unwrap_or_else(|e| msg_fatal!("{e}"));
    let explicit_dir =
        opts.config_dir.is_some() || std::env::var_os("MAIL_CONFIG").is_some_and(|v| !v.is_empty());
    let dir = opts
        .config_dir
        .clone()
        .unwrap_or_else(crate::global::mail_conf::config_dir_from_env);
    let dir = if dir.is_empty() {
        DEF_CONFIG_DIR.to_string()
    } else {
        dir
    };
    let mut conf =
        MailConf::read(&dir, &mut |m| msg::warn(&m)).unwrap_or_else(|e| msg_fatal!("{e}"));
    for o in &opts.overrides {
        conf.apply_override(o).unwrap_or_else(|e| msg_fatal!("{e}"));
    }
    let master_cf = format!("{dir}/master.cf");
    if let Err(e) = std::fs::metadata(&master_cf) {
        msg_warn!("open {master_cf}: {}", crate::util::errno_text(&e));
    }
    let mut pc = Postconf {
        conf,
        opts,
        user_valid: BTreeSet::new(),
        explicit_dir,
    };
    pc.run();
    0
}
