//! `postconf -e`, `-X` and `-#`: editing main.cf as Postfix's postconf
//! does.  The file is copied line by line: comments, blank lines and every
//! entry not named are kept byte for byte; a named entry (with its
//! continuation lines) is replaced by `name = value`, removed, or
//! commented out (`#` before each of its lines); `-e` appends the names
//! main.cf did not have.  The new file replaces the old one atomically
//! (`util::edit_file`), mode 0644.
//!
//! Differences: Postfix appends several new names in the order of its
//! randomly seeded hash table, which no one can reproduce; postkit appends
//! them in command-line order.  Postfix 3.7.11 crashes on `-X name name`
//! (it prints the earlier request's null value); postkit warns as it does
//! for `-e` and goes on.

use crate::msg_fatal;
use crate::util::edit_file::EditFile;
use crate::util::msg;
use crate::util::split_nameval::split_nameval;

/// What to do with the named entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditMode {
    /// `-e name=value`.
    Set,
    /// `-X name`.
    Remove,
    /// `-# name`.
    CommentOut,
}

struct Request {
    name: String,
    value: Option<String>,
    found: usize,
}

/// Postfix's ISSPACE.
pub(super) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Where a configuration line's text starts, as postconf's editors see
/// it: None for a comment or a blank line (copied through as they are),
/// else the first non-blank byte (above 0: a continuation line).
pub(super) fn cf_info(line: &[u8]) -> Option<usize> {
    let start = line.iter().position(|b| !is_space(*b))?;
    (line[start] != b'#').then_some(start)
}

/// The requests from the command line, each name once (the last wins).
fn requests(mode: EditMode, args: &[String]) -> Vec<Request> {
    let mut out: Vec<Request> = Vec::new();
    for arg in args {
        if arg.contains('\n') {
            msg_fatal!("-e, -X, or -# accepts no multi-line input");
        }
        let cp = arg.trim_start_matches(|c: char| c.is_ascii() && is_space(c as u8));
        if cp.starts_with('#') {
            msg_fatal!("-e, -X, or -# accepts no comment input");
        }
        let (name, value) = match mode {
            EditMode::Set => match split_nameval(cp) {
                Ok((n, v)) => (n.to_string(), Some(v.to_string())),
                Err(e) => msg_fatal!("{e}: \"{cp}\""),
            },
            EditMode::Remove | EditMode::CommentOut => {
                if cp.is_empty() {
                    msg_fatal!("-X or -# requires non-blank parameter names");
                }
                if cp.contains('=') {
                    msg_fatal!("-X or -# requires parameter names without value");
                }
                (cp.trim_end_matches([' ', '\t']).to_string(), None)
            }
        };
        if let Some(i) = out.iter().position(|r| r.name == name) {
            // C's printf shows a null value as "(null)".
            let earlier = out[i].value.as_deref().unwrap_or("(null)");
            msg::warn(&format!("ignoring earlier request: '{name} = {earlier}'"));
            out.remove(i);
        }
        out.push(Request {
            name,
            value,
            found: 0,
        });
    }
    out
}

/// Edits `config_dir/main.cf`; fatal errors carry Postfix's texts.
pub fn edit_main(config_dir: &str, mode: EditMode, args: &[String]) {
    let mut table = requests(mode, args);
    let path = format!("{config_dir}/main.cf");
    let mut out = EditFile::open(&path, 0o644)
        .unwrap_or_else(|e| msg_fatal!("open {path}.tmp: {}", crate::util::errno_text(&e)));
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) => {
            out.cleanup();
            msg_fatal!("open {path} for reading: {}", crate::util::errno_text(&e));
        }
    };
    let mut new: Vec<u8> = Vec::with_capacity(text.len() + 64);
    let mut interesting: Option<usize> = None;
    for line in text.split_inclusive(|b| *b == b'\n') {
        let Some(start) = cf_info(line) else {
            new.extend_from_slice(line);
            continue;
        };
        if start > 0 {
            // A continuation line belongs to the entry before it.
            match interesting {
                None => new.extend_from_slice(line),
                Some(_) if mode == EditMode::CommentOut => {
                    new.push(b'#');
                    new.extend_from_slice(line);
                }
                Some(_) => {}
            }
            continue;
        }
        let key_len = line
            .iter()
            .position(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'='))
            .unwrap_or(line.len());
        let key = String::from_utf8_lossy(&line[..key_len]);
        interesting = table.iter().position(|r| r.name == key);
        let Some(i) = interesting else {
            new.extend_from_slice(line);
            continue;
        };
        table[i].found += 1;
        if table[i].found == 2 {
            msg::warn(&format!("{path}: multiple entries for \"{key}\""));
        }
        match mode {
            EditMode::Set => new.extend_from_slice(
                format!("{key} = {}\n", table[i].value.as_deref().unwrap_or("")).as_bytes(),
            ),
            EditMode::CommentOut => {
                new.push(b'#');
                new.extend_from_slice(line);
            }
            EditMode::Remove => {}
        }
    }
    if mode == EditMode::Set {
        for r in table.iter().filter(|r| r.found == 0) {
            new.extend_from_slice(
                format!("{} = {}\n", r.name, r.value.as_deref().unwrap_or("")).as_bytes(),
            );
        }
    }
    if let Err(e) = out.write(&new) {
        out.cleanup();
        msg_fatal!("write {path}.tmp: {}", crate::util::errno_text(&e));
    }
    if let Err(e) = out.close() {
        msg_fatal!("close {path}.tmp: {}", crate::util::errno_text(&e));
    }
}
