//! postconf's master.cf edits, as Postfix's postconf makes them: `-Me
//! name/type="entry"` replaces an entry (or appends it), `-MX` removes
//! one, `-M#` comments one out (each line of it), `-Fe name/type/field=value`
//! changes one field, `-Pe name/type/parameter=value` sets a `-o` option
//! and `-PX name/type/parameter` removes one.  Everything else is copied
//! byte for byte; an edited entry is written in postconf's normal form,
//! folded at 80 columns.  The file is replaced as main.cf is
//! (`util::edit_file`).

use super::edit_main::{EditMode, cf_info, is_space};
use super::master_entry::{Entry, FIELDS, parse_entry};
use super::master_views::{Style, View, matches, pattern, print_entry};
use crate::msg_fatal;
use crate::util::edit_file::EditFile;
use crate::util::msg;
use crate::util::split_nameval::split_nameval;

struct Request {
    raw: String,
    service: Vec<String>,
    value: Option<String>,
    field: usize,
    count: usize,
}

fn requests(view: View, mode: EditMode, args: &[String]) -> Vec<Request> {
    const OPTS: &str = "-Me, -Fe, -Pe, -X, or -#";
    args.iter()
        .map(|raw| {
            if raw.contains('\n') {
                msg_fatal!("{OPTS} accept no multi-line input");
            }
            let cp = raw.trim_start_matches(|c: char| c.is_ascii() && is_space(c as u8));
            if cp.starts_with('#') {
                msg_fatal!("{OPTS} accept no comment input");
            }
            let (pat, value) = match mode {
                EditMode::Set => match split_nameval(cp) {
                    Ok((n, v)) => (n.to_string(), Some(v.to_string())),
                    Err(e) => msg_fatal!("{e}: \"{raw}\""),
                },
                _ => {
                    if cp.contains('=') {
                        msg_fatal!("-X or -# requires names without value");
                    }
                    (cp.trim_end_matches([' ', '\t']).to_string(), None)
                }
            };
            let (want, usage) = match view {
                View::Entries => (2, "-Me, -MX or -M# requires service_name/type"),
                View::Fields => (3, "-Fe or -FX requires service_name/type/field_name"),
                View::Params => (3, "-Pe or -PX requires service_name/type/parameter"),
            };
            let service = pattern(&pat, want, want).unwrap_or_else(|| msg_fatal!("{usage}"));
            let mut field = 0;
            let blank = |v: &Option<String>| {
                v.as_deref()
                    .is_some_and(|v| v.contains(char::is_whitespace))
            };
            match view {
                View::Fields => {
                    if service[2] == "*" {
                        msg_fatal!("-Fe does not accept wild-card field name");
                    }
                    field = FIELDS
                        .iter()
                        .position(|f| *f == service[2])
                        .unwrap_or_else(|| {
                            msg_fatal!("invalid service attribute name: \"{}\"", service[2])
                        });
                    if field < FIELDS.len() - 1 && blank(&value) {
                        msg_fatal!("-Fe does not accept whitespace in non-command field");
                    }
                }
                View::Params => {
                    if service[2] == "*" {
                        msg_fatal!("-Pe does not accept wild-card parameter name");
                    }
                    if blank(&value) {
                        msg_fatal!("-Pe does not accept whitespace in parameter value");
                    }
                }
                View::Entries => {}
            }
            Request {
                raw: raw.clone(),
                service,
                value,
                field,
                count: 0,
            }
        })
        .collect()
}

fn folded(e: &Entry) -> String {
    let mut out = String::new();
    let style = Style {
        fold: true,
        hide_name: false,
        hide_value: false,
        expand: None,
    };
    print_entry(&mut out, e, &style);
    out
}

/// Edits `config_dir/master.cf`; fatal errors carry Postfix's texts.
pub fn edit_master(config_dir: &str, view: View, mode: EditMode, args: &[String]) {
    let mut reqs = requests(view, mode, args);
    let path = format!("{config_dir}/master.cf");
    let mut out = EditFile::open(&path, 0o644)
        .unwrap_or_else(|e| msg_fatal!("open {path}.tmp: {}", crate::util::errno_text(&e)));
    let text = match std::fs::read(&path) {
        Ok(t) => String::from_utf8_lossy(&t).into_owned(),
        Err(e) => {
            out.cleanup();
            msg_fatal!("open {path} for reading: {}", crate::util::errno_text(&e));
        }
    };
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut new = String::with_capacity(text.len() + 80);
    let mut matched = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let lineno = i + 1;
        i += 1;
        let Some(start) = cf_info(line.as_bytes()) else {
            new.push_str(line);
            continue;
        };
        if start > 0 {
            if !matched {
                new.push_str(line);
            } else if mode == EditMode::CommentOut {
                new.push('#');
                new.push_str(line);
            }
            continue;
        }
        matched = false;
        let mut words = line
            .split(|c: char| c.is_ascii() && is_space(c as u8))
            .filter(|w| !w.is_empty());
        let (Some(name), Some(kind)) = (words.next(), words.next()) else {
            msg_fatal!(
                "file {path}: line {lineno}: specify service name and type on the same line"
            );
        };
        if name.contains('=') {
            msg_fatal!(
                "file {path}: line {lineno}: service name syntax \"{name}\" is unsupported with -Me, -Fe, -Pe, -X, or -#"
            );
        }
        if kind.contains(['=', '/']) {
            msg_fatal!(
                "file {path}: line {lineno}: service type syntax \"{kind}\" is unsupported with -Me, -Fe, -Pe, -X, or -#"
            );
        }
        let mut new_entry: Option<Entry> = None;
        for r in reqs.iter_mut() {
            let tentative = match (view, mode, &r.value) {
                (View::Entries, EditMode::Set, Some(v)) => {
                    Some(parse_entry(v).unwrap_or_else(|e| msg_fatal!("{e}: \"{}\"", r.raw)))
                }
                _ => None,
            };
            let mut use_tentative = false;
            if matches(&r.service[0], name) && matches(&r.service[1], kind) {
                matched = true;
                r.count += 1;
                let edits =
                    mode == EditMode::Set || (view == View::Params && mode == EditMode::Remove);
                if edits {
                    match view {
                        View::Fields | View::Params => {
                            let e = new_entry.get_or_insert_with(|| {
                                // The whole entry: its continuation lines,
                                // with comments and blank lines inside it
                                // passed through.
                                let mut full = line.to_string();
                                while i < lines.len() {
                                    let next = lines[i];
                                    let first = next.bytes().next().unwrap_or(b'x');
                                    if first != b'#' && !is_space(first) {
                                        break;
                                    }
                                    i += 1;
                                    match cf_info(next.as_bytes()) {
                                        None => new.push_str(next),
                                        Some(_) => full.push_str(next),
                                    }
                                }
                                parse_entry(&full).unwrap_or_else(|e| {
                                    msg_fatal!("file {path}: line {lineno}: {e}")
                                })
                            });
                            if view == View::Fields {
                                e.edit_field(r.field, r.value.as_deref().unwrap_or(""));
                            } else {
                                e.edit_param(&r.service[2], r.value.as_deref());
                            }
                        }
                        View::Entries => use_tentative = r.count == 1,
                    }
                }
            } else if let Some(t) = &tentative
                && matches(&t.argv[0], name)
                && matches(&t.argv[1], kind)
            {
                matched = true;
                r.count += 1;
                use_tentative = r.count == 1;
            }
            if use_tentative {
                new_entry = tentative;
            }
        }
        if let Some(e) = new_entry {
            new.push_str(&folded(&e));
        } else if !matched {
            new.push_str(line);
        } else if mode == EditMode::CommentOut {
            new.push('#');
            new.push_str(line);
        }
    }
    for r in &reqs {
        if r.count > 0 {
            continue;
        }
        match (view, &r.value) {
            (View::Entries, Some(v)) if mode == EditMode::Set => {
                let e = parse_entry(v).unwrap_or_else(|e| msg_fatal!("{e}: \"{}\"", r.raw));
                new.push_str(&folded(&e));
            }
            (View::Entries, _) => {}
            _ => msg::warn(&format!("unmatched service_name/type: \"{}\"", r.raw)),
        }
    }
    if let Err(e) = out.write(new.as_bytes()) {
        out.cleanup();
        msg_fatal!("write {path}.tmp: {}", crate::util::errno_text(&e));
    }
    if let Err(e) = out.close() {
        msg_fatal!("close {path}.tmp: {}", crate::util::errno_text(&e));
    }
}
