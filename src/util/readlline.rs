//! Logical lines of Postfix configuration files (main.cf, master.cf).
//!
//! A logical line is one physical line plus every following line that starts
//! with white space.  Blank lines and lines whose first non-blank character is
//! `#` are dropped everywhere, also between the pieces of a continued line, so
//! a comment never ends an entry.  There are no end-of-line comments.

/// One logical line and the number of its first physical line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalLine {
    /// The line the entry starts on.
    pub first_line: usize,
    /// The entry, continuation lines joined.
    pub text: String,
}

/// White space as C's `isspace()` sees it in the "C" locale.
pub fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

/// Splits `content` into logical lines.  A logical line that starts with white
/// space (a continuation with nothing before it) is reported through `warn`
/// in Postfix's words and skipped, as Postfix does rather than failing.
pub fn logical_lines(path: &str, content: &str, warn: &mut dyn FnMut(String)) -> Vec<LogicalLine> {
    let mut out = Vec::new();
    let mut current: Option<LogicalLine> = None;
    let mut flush = |cur: Option<LogicalLine>, out: &mut Vec<LogicalLine>| {
        if let Some(l) = cur {
            if l.text.starts_with(is_space) {
                let shown: String = l.text.chars().take(30).collect();
                let more = if l.text.len() > 30 { "..." } else { "" };
                warn(format!(
                    "{path}: logical line must not start with whitespace: \"{shown}{more}\""
                ));
            } else {
                out.push(l);
            }
        }
    };
    let mut physical: Vec<&str> = content.split('\n').collect();
    // A final "\n" does not start another (empty) line.
    if content.ends_with('\n') {
        physical.pop();
    }
    for (i, line) in physical.into_iter().enumerate() {
        let lineno = i + 1;
        let trimmed = line.trim_start_matches(is_space);
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let continues = line.starts_with(is_space);
        match current.as_mut() {
            Some(cur) if continues => cur.text.push_str(line),
            _ => {
                flush(current.take(), &mut out);
                current = Some(LogicalLine {
                    first_line: lineno,
                    text: line.to_string(),
                });
            }
        }
    }
    flush(current.take(), &mut out);
    // Postfix reads lines into C strings: what a NUL byte starts is not
    // seen (nor the continuation lines after it).
    for l in &mut out {
        if let Some(nul) = l.text.find('\0') {
            l.text.truncate(nul);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> (Vec<(usize, String)>, Vec<String>) {
        let mut w = Vec::new();
        let l = logical_lines("f", s, &mut |m| w.push(m));
        (l.into_iter().map(|l| (l.first_line, l.text)).collect(), w)
    }

    #[test]
    fn continuation_and_comments() {
        let (l, w) = lines("a = 1\n  b\n# c\n\tc\n\nd = 2");
        assert_eq!(l, vec![(1, "a = 1  b\tc".into()), (6, "d = 2".into())]);
        assert!(w.is_empty());
    }

    #[test]
    fn a_nul_byte_ends_the_line_as_in_c() {
        let (l, _) = lines("a = x\0y\n  more\n\0b = 1\nc = 2\n");
        assert_eq!(
            l,
            vec![(1, "a = x".into()), (3, "".into()), (4, "c = 2".into())]
        );
    }

    #[test]
    fn leading_whitespace_warns() {
        let (l, w) = lines("  x = 1\ny = 2\n");
        assert_eq!(l, vec![(2, "y = 2".into())]);
        assert_eq!(
            w,
            vec!["f: logical line must not start with whitespace: \"  x = 1\"".to_string()]
        );
    }
}
