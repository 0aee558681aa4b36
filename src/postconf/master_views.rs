//! postconf's views of master.cf (Postfix's postconf_master): `-M` shows
//! entries in a normal form (aligned columns, `-o` options split from
//! their values, braces only where a value has blanks; `-f` folds them at
//! 80 columns), `-F` one line per field (`smtp/inet/chroot = y`), `-P` the
//! `-o` parameters of each service (`relay/unix/syslog_name = ...`).  Each
//! takes `service[/type[/field]]` patterns (`*` matches anything) and
//! warns about a pattern that matched nothing.  (`master_entry` reads
//! master.cf as postconf does.)

use super::master_entry::{COMMAND, Entry, FIELDS, is_blank};
use crate::msg_fatal;
use crate::util::msg;

const LINE_LIMIT: usize = 80;
const INDENT: &str = "    ";

/// A `service[/type[/field]]` pattern of `min` to `max` parts, the
/// missing ones `*`: None when malformed.
pub(super) fn pattern(text: &str, min: usize, max: usize) -> Option<Vec<String>> {
    if text.starts_with('/') {
        return None;
    }
    let mut parts: Vec<String> = text
        .split('/')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    if parts.len() < min.max(1) || parts.len() > max {
        return None;
    }
    if parts.iter().any(|p| p != "*" && p.contains('*')) {
        return None;
    }
    parts.resize(max, "*".into());
    Some(parts)
}

pub(super) fn matches(p: &str, value: &str) -> bool {
    p == "*" || p == value
}

/// `-x` for an entry: expands a value in the entry's scope.
pub type Expander<'a> = &'a dyn Fn(&Entry, &str) -> String;

/// How the views print: `-f`, `-h`, `-H`, and `-x` as an expander.
pub struct Style<'a> {
    /// `-f`.
    pub fold: bool,
    /// `-h`.
    pub hide_name: bool,
    /// `-H`.
    pub hide_value: bool,
    /// `-x`: expands a value in an entry's scope.
    pub expand: Option<Expander<'a>>,
}

impl Style<'_> {
    fn value(&self, e: &Entry, v: &str) -> String {
        self.expand.map_or_else(|| v.to_string(), |x| x(e, v))
    }
}

/// The command's arguments, as -M and -F print them after the command.
fn print_args(out: &mut String, e: &Entry, from: usize, mut line_len: usize, style: &Style) {
    let mut in_options = true;
    let mut field = from;
    while field < e.argv.len() {
        let arg = &e.argv[field];
        let mut arg_len = arg.len();
        let mut aval: Option<String> = None;
        let mut parens = false;
        if in_options {
            // (The first argument after the options is never braced, as
            // in Postfix's postconf.)
            if !arg.starts_with('-') || arg == "--" {
                in_options = false;
            } else if arg.as_bytes().get(1) == Some(&b'o') && field + 1 < e.argv.len() {
                line_len = LINE_LIMIT;
                let v = if arg == "-o" {
                    style.value(e, &e.argv[field + 1])
                } else {
                    e.argv[field + 1].clone()
                };
                arg_len += v.len() + 3;
                parens = v.contains(is_blank);
                if parens {
                    arg_len += 2;
                }
                aval = Some(v);
            }
        } else {
            parens = arg.contains(is_blank);
        }
        if line_len > INDENT.len() {
            let fold_here = style.fold && line_len + 1 + arg_len >= LINE_LIMIT;
            separate(out, &mut line_len, fold_here);
        }
        let braced = !in_options && parens;
        if braced {
            out.push('{');
        }
        out.push_str(arg);
        line_len += arg.len() + 2 * usize::from(braced);
        if braced {
            out.push('}');
        }
        if let Some(v) = aval {
            out.push(' ');
            if parens {
                out.push('{');
            }
            out.push_str(&v);
            if parens {
                out.push('}');
            }
            field += 1;
            line_len = LINE_LIMIT;
        }
        field += 1;
    }
    out.push('\n');
}

pub(super) fn print_entry(out: &mut String, e: &Entry, style: &Style) {
    const GOAL: [usize; 8] = [0, 11, 17, 25, 33, 41, 49, 57];
    let mut line = String::new();
    for (field, goal) in GOAL.iter().enumerate() {
        if !line.is_empty() {
            loop {
                line.push(' ');
                if line.len() >= *goal {
                    break;
                }
            }
        }
        line.push_str(&e.argv[field]);
    }
    let len = line.len();
    out.push_str(&line);
    print_args(out, e, COMMAND + 1, len, style);
}

fn print_field(out: &mut String, e: &Entry, field: usize, style: &Style) {
    let mut line_len = 0;
    if !style.hide_name {
        let head = format!("{}/{}/{}", e.argv[0], e.argv[1], FIELDS[field]);
        line_len += head.len();
        out.push_str(&head);
    }
    if !style.hide_name && !style.hide_value {
        out.push_str(" = ");
        line_len += 3;
    }
    if style.hide_value {
        out.push('\n');
        return;
    }
    if line_len > 0 && line_len + e.argv[field].len() > LINE_LIMIT {
        out.push('\n');
        out.push_str(INDENT);
        line_len = INDENT.len();
    }
    out.push_str(&e.argv[field]);
    line_len += e.argv[field].len();
    if field == COMMAND {
        print_args(out, e, COMMAND + 1, line_len, style);
    } else {
        out.push('\n');
    }
}

/// A space before the next word, or, where -f folds, a new line
/// indented by four.
fn separate(out: &mut String, line_len: &mut usize, fold_here: bool) {
    if fold_here {
        out.push('\n');
        out.push_str(INDENT);
        *line_len = INDENT.len();
    } else {
        out.push(' ');
        *line_len += 1;
    }
}

/// Whitespace normalized, folded with -f (postconf's print_line).
pub fn print_line(out: &mut String, text: &str, fold: bool) {
    let mut line_len = 0;
    for word in text.split(is_blank).filter(|w| !w.is_empty()) {
        if line_len > 0 {
            let fold_here = fold && line_len + word.len() >= LINE_LIMIT;
            separate(out, &mut line_len, fold_here);
        }
        out.push_str(word);
        line_len += word.len();
    }
    out.push('\n');
}

fn print_param(out: &mut String, e: &Entry, name: &str, value: &str, style: &Style) {
    if style.hide_value {
        print_line(out, &format!("{}/{name}", e.name_space()), style.fold);
        return;
    }
    let value = style.value(e, value);
    if style.hide_name {
        print_line(out, &value, style.fold);
    } else {
        print_line(
            out,
            &format!("{}/{name} = {value}", e.name_space()),
            style.fold,
        );
    }
}

/// Which view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// `-M`.
    Entries,
    /// `-F`.
    Fields,
    /// `-P`.
    Params,
}

/// Prints `view` of `entries` for the `requests` (none: everything).
pub fn show(view: View, entries: &[Entry], requests: &[String], style: &Style) -> String {
    let (max, usage) = match view {
        View::Entries => (2, "-M option requires service_name[/type]"),
        View::Fields => (3, "-F option requires service_name[/type[/field]]"),
        View::Params => (3, "-P option requires service_name[/type[/parameter]]"),
    };
    let patterns: Vec<Vec<String>> = requests
        .iter()
        .map(|r| pattern(r, 1, max).unwrap_or_else(|| msg_fatal!("{usage}")))
        .collect();
    if view == View::Fields {
        for p in &patterns {
            if p[2] != "*" && !FIELDS.contains(&p[2].as_str()) {
                msg_fatal!("invalid service attribute name: \"{}\"", p[2]);
            }
        }
    }
    let mut out = String::new();
    let all = vec![vec!["*".to_string(); max]];
    let patterns_used = if patterns.is_empty() { &all } else { &patterns };
    let mut counts = vec![0usize; patterns_used.len()];
    for e in entries {
        for (i, p) in patterns_used.iter().enumerate() {
            if !matches(&p[0], &e.argv[0]) || !matches(&p[1], &e.argv[1]) {
                continue;
            }
            match view {
                View::Entries => {
                    counts[i] += 1;
                    print_entry(&mut out, e, style);
                }
                View::Fields => {
                    counts[i] += 1;
                    match FIELDS.iter().position(|f| *f == p[2]) {
                        Some(field) => print_field(&mut out, e, field, style),
                        None => (0..FIELDS.len()).for_each(|f| print_field(&mut out, e, f, style)),
                    }
                }
                // An entry without -o settings has no parameters to show,
                // and does not count as a match.
                View::Params if e.params.is_empty() => {}
                View::Params => {
                    if p[2] == "*" {
                        for (n, v) in &e.params {
                            print_param(&mut out, e, n, v, style);
                        }
                        counts[i] += 1;
                    } else if let Some(v) = e.params.get(&p[2]) {
                        print_param(&mut out, e, &p[2], v, style);
                        counts[i] += 1;
                    }
                }
            }
        }
    }
    // (With no requests, nothing is zipped.)
    for (r, n) in requests.iter().zip(&counts) {
        if *n == 0 {
            msg::warn(&format!("unmatched request: \"{r}\""));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postconf::master_entry::read_master;

    fn style() -> Style<'static> {
        Style {
            fold: false,
            hide_name: false,
            hide_value: false,
            expand: None,
        }
    }

    #[test]
    fn normal_form_of_entries() {
        let e = read_master(
            "master.cf",
            "relay unix - - y - - smtp\n  -o syslog_name=postfix/$service_name\n\
             x unix - n n - - pipe -vo{ a = b c } flags=F argv=/bin/x {a b}\n",
        );
        let text = show(View::Entries, &e, &[], &style());
        assert_eq!(
            text,
            "relay      unix  -       -       y       -       -       smtp -o syslog_name=postfix/$service_name\n\
             x          unix  -       n       n       -       -       pipe -v -o {a=b c} flags=F argv=/bin/x {a b}\n"
        );
        assert_eq!(e[1].params["a"], "b c");
        let fields = show(View::Fields, &e, &["relay/unix/chroot".into()], &style());
        assert_eq!(fields, "relay/unix/chroot = y\n");
    }
}
