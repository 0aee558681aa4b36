//! `postkit postconf`: Postfix's `postconf`, for every parameter Postfix
//! knows and for user-defined ones.  Flags `-c DIR`, `-d`, `-n`, `-x`,
//! `-h`, `-H` and `-o name=value`, output formatted as `postconf` formats
//! it, `-f` folding; master.cf's views `-M`, `-F`, `-P` (`master_views`);
//! main.cf's editing verbs `-e`, `-X`, `-#` (`edit_main`) and master.cf's
//! (`-Me`, `-MX`, `-M#`, `-Fe`, `-Pe`, `-PX`: `edit_master`).
//!
//! A user-defined parameter exists for `postconf` only when some value in
//! main.cf refers to it; finding those references also finds references to
//! names defined nowhere, which are warned about, as Postfix does.

mod edit_main;
mod edit_master;
mod master_entry;
mod master_views;
mod options;
mod service_params;
mod user_params;

use std::collections::{BTreeMap, BTreeSet};

use crate::global::mail_conf::{DEF_CONFIG_DIR, MailConf};
use crate::global::mail_params::{self, Kind};
use crate::util::mac_expand::{self, Mode, RECURSE};
use crate::util::msg;
use crate::{msg_fatal, msg_warn};
use options::{Options, parse_args};

struct Postconf {
    conf: MailConf,
    opts: Options,
    /// User-defined names that some value refers to.
    user_valid: BTreeSet<String>,
    /// Parameters derived from master.cf's services, with their defaults.
    service: BTreeMap<String, String>,
    /// No main.cf at all, for computing defaults with -d.
    empty: MailConf,
    explicit_dir: bool,
    /// master.cf's entries (their `-o` settings are name spaces).
    entries: Vec<master_entry::Entry>,
    /// Per entry, its `-o` names that some value refers to.
    local_valid: Vec<BTreeSet<String>>,
    /// `smtpd_restriction_classes` members.
    rest_classes: BTreeSet<String>,
    /// Table configuration files already checked.
    dbms_checked: BTreeSet<String>,
}

impl Postconf {
    fn known(&self, name: &str) -> bool {
        mail_params::find(name).is_some()
            || self.service.contains_key(name)
            || self.user_valid.contains(name)
    }

    /// main.cf's names in the order Postfix's postconf walks them: its
    /// dictionary holds config_directory first when the directory was
    /// given (-c, MAIL_CONFIG), then main.cf's names as first set.
    fn main_cf_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        if self.explicit_dir {
            names.push("config_directory".to_string());
        }
        names.extend(
            self.conf
                .file_names()
                .iter()
                .filter(|n| !(self.explicit_dir && *n == "config_directory"))
                .cloned(),
        );
        dict_order(names)
    }

    /// The parameter class of a known name (options::CLASS_*), for -C.
    fn class_of(&self, name: &str) -> u8 {
        if mail_params::find(name).is_some() {
            options::CLASS_BUILTIN
        } else if self.service.contains_key(name) {
            options::CLASS_SERVICE
        } else {
            options::CLASS_USER
        }
    }

    /// The value before expansion: main.cf's, else the default.
    fn raw_value(&self, name: &str, defaults_only: bool) -> Option<String> {
        // A read-only parameter set in main.cf is warned about and keeps
        // its built-in value.
        let read_only = mail_params::find(name).is_some_and(|d| d.read_only);
        if !defaults_only
            && !read_only
            && let Some(v) = self.conf.lookup(name)
        {
            return Some(v.to_string());
        }
        if name == "mydomain" {
            // postconf's rule, not the daemons': what follows the first dot
            // of myhostname, whenever it has one.
            let conf = if defaults_only {
                &self.empty
            } else {
                &self.conf
            };
            let host = self
                .raw_value("myhostname", defaults_only)
                .and_then(|h| conf.eval(&h).ok())
                .unwrap_or_default();
            return Some(match host.split_once('.') {
                Some((_, rest)) => rest.to_string(),
                None => "localdomain".into(),
            });
        }
        if let Some(def) = mail_params::find(name) {
            // With -d, computed defaults see no main.cf either (mynetworks
            // by the default mynetworks_style, not main.cf's).
            let conf = if defaults_only {
                &self.empty
            } else {
                &self.conf
            };
            return Some(def.default_text(conf));
        }
        if let Some(default) = self.service.get(name) {
            return Some(default.clone());
        }
        if self.user_valid.contains(name) {
            return Some(String::new());
        }
        None
    }

    fn expand(&self, value: &str) -> String {
        self.expand_in(value, &|_| None)
    }

    /// Expands `value` with `local` names first (a master.cf entry's).
    fn expand_in(&self, value: &str, local: &dyn Fn(&str) -> Option<String>) -> String {
        let defaults_only = self.opts.defaults;
        let mut lookup =
            |name: &str, _m: Mode| local(name).or_else(|| self.raw_value(name, defaults_only));
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

    fn print(&self, name: &str, out: &mut String) {
        let Some(mut value) = self.raw_value(name, self.opts.defaults) else {
            return;
        };
        let raw = mail_params::find(name).is_some_and(|d| d.kind == Kind::Raw);
        let line = if self.opts.hide_value {
            name.to_string()
        } else {
            if self.opts.expand && !raw {
                value = self.expand(&value);
            }
            if self.opts.hide_name {
                value
            } else {
                format!("{name} = {value}")
            }
        };
        master_views::print_line(out, &line, self.opts.fold);
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
                names.extend(mail_params::all().iter().map(|d| d.name.to_string()));
                names.extend(self.service.keys().cloned());
                if !self.opts.defaults {
                    names.extend(self.user_valid.iter().cloned());
                    names.extend(
                        self.conf
                            .file_names()
                            .iter()
                            .filter(|n| mail_params::listed_only_when_set(n))
                            .cloned(),
                    );
                }
            }
            for n in names
                .iter()
                .filter(|n| self.class_of(n) & self.opts.classes != 0)
            {
                self.print(n, &mut out);
            }
        }
        use std::io::Write;
        let _ = std::io::stdout().write_all(out.as_bytes());
        let _ = std::io::stdout().flush();
        if !self.opts.defaults {
            let dir = &self.conf.config_dir;
            for n in &self.main_cf_names() {
                if !self.known(n) {
                    let v = self.conf.lookup(n).unwrap_or_default();
                    msg_warn!("{dir}/main.cf: unused parameter: {n}={v}");
                }
            }
            self.warn_unused_master();
        }
    }
}

/// Postfix's own postconf, for what describes Postfix's build.
const POSTFIX_POSTCONF: &str = "/usr/sbin/postconf";

/// The default daemon_directory of Debian's Postfix, where its bounce is.
const POSTFIX_DAEMON_DIRECTORY: &str = "/usr/lib/postfix/sbin";

/// `-a`, `-A`, `-T mode`: the SASL plug-ins and TLS of Postfix's own
/// build, which only the installed Postfix's postconf knows; its answer,
/// or a refusal that says why.
fn postfix_build_info(me: &str, args: &[String]) -> i32 {
    use std::os::unix::process::CommandExt;
    let theirs = std::path::Path::new(POSTFIX_POSTCONF);
    let ours = std::env::current_exe().ok();
    let same = ours
        .as_deref()
        .and_then(|o| std::fs::canonicalize(o).ok())
        .is_some_and(|o| std::fs::canonicalize(theirs).is_ok_and(|t| t == o));
    if theirs.exists() && !same {
        let e = std::process::Command::new(theirs)
            .arg0(me)
            .args(args)
            .exec();
        msg_fatal!("cannot run {POSTFIX_POSTCONF}: {e}");
    }
    msg_fatal!(
        "-a, -A and -T describe the SASL and TLS support Postfix itself was built with, which only Postfix's own postconf knows; {POSTFIX_POSTCONF} is not installed"
    )
}

/// `-b` and `-t`: bounce message templates, expanded or dumped (from
/// `file` when given) by Postfix's bounce daemon, which Postfix's postconf
/// runs for this.  The configuration's daemon_directory has it on a
/// Postfix host; else Postfix's own daemon_directory does.
fn bounce_templates(dir: &str, mode: &str, names: &[String]) -> i32 {
    use std::os::unix::process::CommandExt;
    if names.len() > 1 {
        msg_fatal!("options -b and -t require at most one template file");
    }
    let conf = MailConf::read(dir, &mut |m| msg::warn(&m)).unwrap_or_else(|e| msg_fatal!("{e}"));
    let daemon_dir = conf
        .lookup_eval("daemon_directory")
        .ok()
        .flatten()
        .unwrap_or_else(|| POSTFIX_DAEMON_DIRECTORY.to_string());
    let bounce = [daemon_dir.as_str(), POSTFIX_DAEMON_DIRECTORY]
        .iter()
        .map(|d| std::path::Path::new(d).join("bounce"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            msg_fatal!(
                "bounce templates are expanded by Postfix's bounce daemon, and neither {daemon_dir} nor {POSTFIX_DAEMON_DIRECTORY} has one"
            )
        });
    let mut cmd = std::process::Command::new(&bounce);
    cmd.arg0("bounce").arg(format!("-SVn{mode}"));
    if let Some(file) = names.first() {
        cmd.arg("-o").arg(format!("bounce_template_file={file}"));
    }
    let e = cmd
        .arg("-o")
        .arg("queue_directory=.")
        .env("MAIL_CONFIG", dir)
        .exec();
    msg_fatal!("mail_run_replace: execvp {}: {e}", bounce.display())
}

/// Names in the order Postfix lists a hash table it entered them into in
/// this order: the fixed order under `NORANDOMIZE`, else as given (a
/// random order in Postfix).
fn dict_order(names: Vec<String>) -> Vec<String> {
    if !crate::util::htable_order::fixed() {
        return names;
    }
    let keys: Vec<&str> = names.iter().map(String::as_str).collect();
    crate::util::htable_order::listed(&keys)
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// Entry point; `me` is the program name as invoked (its messages start
/// with it, as Postfix's postconf's: `./postconf: warning: ...`), `args`
/// the rest.
pub fn main(me: &str, args: &[String]) -> i32 {
    msg::set_tag(me);
    mail_params::set_program_name("postconf");
    msg::set_stderr(true);
    let opts = parse_args(me, args).unwrap_or_else(|e| msg_fatal!("{e}"));
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
    if opts.build_info {
        return postfix_build_info(me, args);
    }
    if let Some(mode) = opts.templates {
        return bounce_templates(&dir, mode, &opts.names);
    }
    // What postkit supports: the table types its programs open, and the
    // one lock its programs take (postlogd's flock on the log).
    match opts.list {
        Some('m') => {
            for t in crate::util::dict::DICT_TYPES {
                println!("{t}");
            }
            return 0;
        }
        Some(_) => {
            println!("flock");
            return 0;
        }
        None => {}
    }
    if let Some(mode) = opts.edit {
        if opts.names.is_empty() {
            msg_fatal!("missing service argument");
        }
        match opts.view {
            Some(view) => edit_master::edit_master(&dir, view, mode, &opts.names),
            None => edit_main::edit_main(&dir, mode, &opts.names),
        }
        return 0;
    }
    let mut conf =
        MailConf::read(&dir, &mut |m| msg::warn(&m)).unwrap_or_else(|e| msg_fatal!("{e}"));
    for o in &opts.overrides {
        conf.apply_override(o).unwrap_or_else(|e| msg_fatal!("{e}"));
    }
    // master.cf: required for its views, else a warning when missing; a
    // malformed entry is fatal either way, as with Postfix.
    let master_cf = format!("{dir}/master.cf");
    let text = match std::fs::read_to_string(&master_cf) {
        Ok(text) => text,
        Err(e) if opts.view.is_some() => {
            msg_fatal!("open {master_cf}: {}", crate::util::errno_text(&e))
        }
        Err(e) => {
            msg_warn!("open {master_cf}: {}", crate::util::errno_text(&e));
            String::new()
        }
    };
    let entries = master_entry::read_master(&master_cf, &text);
    let mut pc = Postconf {
        service: service_params::service_parameters(&entries),
        conf,
        user_valid: BTreeSet::new(),
        empty: MailConf::empty(&dir),
        explicit_dir,
        local_valid: vec![BTreeSet::new(); entries.len()],
        entries,
        rest_classes: BTreeSet::new(),
        dbms_checked: BTreeSet::new(),
        opts,
    };
    if let Some(view) = pc.opts.view {
        pc.register_user_parameters();
        let expand = |e: &master_entry::Entry, v: &str| pc.expand_in(v, &|n| e.local(n));
        let style = master_views::Style {
            fold: pc.opts.fold,
            hide_name: pc.opts.hide_name,
            hide_value: pc.opts.hide_value,
            expand: pc.opts.expand.then_some(&expand as master_views::Expander),
        };
        let out = master_views::show(view, &pc.entries, &pc.opts.names, &style);
        use std::io::Write;
        let _ = std::io::stdout().write_all(out.as_bytes());
        let _ = std::io::stdout().flush();
        pc.warn_unused_master();
        return 0;
    }
    pc.run();
    0
}
