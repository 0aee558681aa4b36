//! master.cf as postconf reads it (Postfix's postconf_master): every
//! entry, disabled and unknown services too, with postconf's checks and
//! texts, and its normal form for the command's arguments (`-o` split
//! from its value, `{...}` unwrapped, `-o {name = value}` as
//! `name=value`), and each entry's `-o` settings.

use std::collections::BTreeMap;

use crate::msg_fatal;
use crate::util::msg;
use crate::util::readlline::logical_lines;
use crate::util::split_nameval::split_nameval;

/// The fields' names, as -F shows them.
pub const FIELDS: [&str; 8] = [
    "service",
    "type",
    "private",
    "unprivileged",
    "chroot",
    "wakeup",
    "process_limit",
    "command",
];
/// The command's field.
pub const COMMAND: usize = 7;

pub use crate::util::mystrtok::is_blank;

/// One master.cf entry as postconf holds it.
pub struct Entry {
    /// The fields and the command's arguments, normalized.
    pub argv: Vec<String>,
    /// Its `-o name=value` settings.
    pub params: BTreeMap<String, String>,
    /// Their names in the order first given (Postfix walks them in its
    /// hash table's order, which follows from this one).
    pub param_order: Vec<String>,
}

impl Entry {
    /// `service/type`.
    pub fn name_space(&self) -> String {
        format!("{}/{}", self.argv[0], self.argv[1])
    }

    /// What `$name` means inside this entry: its own `-o` settings, then
    /// `service_name` and `process_name` as the service will see them.
    pub fn local(&self, name: &str) -> Option<String> {
        if let Some(v) = self.params.get(name) {
            return Some(v.clone());
        }
        let process = self.argv[COMMAND].rsplit('/').next().unwrap_or("");
        match name {
            "process_name" => Some(process.to_string()),
            "service_name" => Some(self.argv[0].clone()),
            _ => None,
        }
    }
}

/// `{ text }` as `text`, as Postfix's postconf extracts a master.cf
/// argument (warning about a malformed group).
fn extract(arg: &str) -> String {
    let (inner, err) = crate::util::extpar::extpar(arg, true);
    if let Some(err) = err {
        msg::warn(&format!("master.cf: {err}"));
    }
    inner
}

fn check(argv: &[String], raw: &str) {
    let raw = raw.replace('\n', " ");
    let bad = |field: &str, value: &str| -> ! {
        msg_fatal!("invalid {field} field \"{value}\" in \"{raw}\"")
    };
    if !["unix", "fifo", "inet", "pass", "unix-dgram"].contains(&argv[1].as_str()) {
        bad("type", &argv[1]);
    }
    for (field, name) in argv.iter().zip(FIELDS).take(5).skip(2) {
        if field.len() != 1 || !"yn-".contains(field.as_str()) {
            bad(name, field);
        }
    }
    let wakeup = argv[5].strip_suffix('?').unwrap_or(&argv[5]);
    if wakeup != "-" && (wakeup.is_empty() || !wakeup.bytes().all(|b| b.is_ascii_digit())) {
        bad("wakeup", &argv[5]);
    }
    if argv[6] != "-" && !argv[6].bytes().all(|b| b.is_ascii_digit()) {
        bad("process_limit", &argv[6]);
    }
}

/// Postfix's normal form for the command's arguments.
fn normalize(argv: &mut Vec<String>) {
    let mut field = COMMAND + 1;
    while field < argv.len() {
        let arg = argv[field].clone();
        if !arg.starts_with('-') || arg == "--" {
            break;
        }
        // "-vozz": "-v" and "-ozz".
        if let Some(at) = arg[1..].find('o').map(|i| i + 1).filter(|i| *i > 1) {
            argv[field] = arg[..at].to_string();
            argv.insert(field + 1, format!("-{}", &arg[at..]));
            field += 1;
            continue;
        }
        if arg.as_bytes().get(1) != Some(&b'o') {
            field += 1;
            continue;
        }
        if arg.len() > 2 {
            argv[field] = "-o".into();
            argv.insert(field + 1, arg[2..].to_string());
        } else if field + 1 >= argv.len() {
            field += 1;
            continue;
        }
        field += 1;
        if argv[field].starts_with('{') {
            let inner = extract(&argv[field]);
            argv[field] = match split_nameval(&inner) {
                Ok((n, v)) => format!("{n}={v}"),
                Err(e) => {
                    msg::warn(&format!("master.cf: {e}: \"{inner}\""));
                    inner
                }
            };
        }
        field += 1;
    }
    for arg in argv.iter_mut().skip(field) {
        if arg.starts_with('{') {
            *arg = extract(arg);
        }
    }
}

/// Parses one entry (continuation lines joined); "bad field count" when
/// it has fewer than eight fields, fatal on a malformed field.
pub fn parse_entry(text: &str) -> Result<Entry, &'static str> {
    let mut argv = crate::util::mystrtok::mystrtokq(text, is_blank);
    if argv.len() < FIELDS.len() {
        return Err("bad field count");
    }
    check(&argv, text);
    normalize(&mut argv);
    let mut params = BTreeMap::new();
    let mut param_order = Vec::new();
    let mut field = COMMAND + 1;
    while field + 1 < argv.len() && argv[field].starts_with('-') && argv[field] != "--" {
        if argv[field] == "-o" {
            if let Ok((n, v)) = split_nameval(&argv[field + 1])
                && params.insert(n.to_string(), v.to_string()).is_none()
            {
                param_order.push(n.to_string());
            }
            field += 1;
        }
        field += 1;
    }
    Ok(Entry {
        argv,
        params,
        param_order,
    })
}

/// Reads master.cf as postconf does; fatal on a malformed entry.
pub fn read_master(path: &str, text: &str) -> Vec<Entry> {
    logical_lines(path, text, &mut |_| {})
        .into_iter()
        .map(|line| {
            parse_entry(&line.text)
                .unwrap_or_else(|e| msg_fatal!("file {path}: line {}: {e}", line.first_line))
        })
        .collect()
}

impl Entry {
    /// `-Fe`: a new value for one field; the command field takes the
    /// command and its arguments.  Fatal when the entry becomes malformed.
    pub fn edit_field(&mut self, field: usize, value: &str) {
        if field == COMMAND {
            self.argv.truncate(COMMAND);
            self.argv
                .extend(crate::util::mystrtok::mystrtokq(value, is_blank));
            normalize(&mut self.argv);
        } else {
            self.argv[field] = value.to_string();
        }
        check(&self.argv, value);
    }

    /// `-Pe` (a value) or `-PX` (None): sets or removes `-o name=...`; a
    /// new one goes after the last option.
    pub fn edit_param(&mut self, name: &str, value: Option<&str>) {
        let mut matched = false;
        let mut field = COMMAND + 1;
        while field < self.argv.len() {
            let arg = &self.argv[field];
            if !arg.starts_with('-') || arg == "--" {
                break;
            }
            if arg.as_bytes().get(1) == Some(&b'o') && field + 1 < self.argv.len() {
                let is_it = arg == "-o"
                    && self.argv[field + 1]
                        .strip_prefix(name)
                        .is_some_and(|r| r.starts_with('='));
                if is_it {
                    matched = true;
                    match value {
                        Some(v) => self.argv[field + 1] = format!("{name}={v}"),
                        None => {
                            self.argv.drain(field..field + 2);
                            continue;
                        }
                    }
                }
                field += 1;
            }
            field += 1;
        }
        match value {
            Some(v) => {
                if !matched {
                    self.argv.insert(field, "-o".into());
                    self.argv.insert(field + 1, format!("{name}={v}"));
                }
                if self
                    .params
                    .insert(name.to_string(), v.to_string())
                    .is_none()
                {
                    self.param_order.push(name.to_string());
                }
            }
            None => {
                self.params.remove(name);
                self.param_order.retain(|n| n != name);
            }
        }
    }
}
