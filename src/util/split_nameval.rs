//! `name = value` splitting, shared by main.cf lines and `-o` options.

use super::readlline::is_space;

/// Splits a `name = value` line the way Postfix does: the name ends at white
/// space or `=`, a `=` is required, and white space around the value is
/// trimmed.  The error texts are Postfix's own.
pub fn split_nameval(line: &str) -> Result<(&str, &str), &'static str> {
    let s = line.trim_start_matches(is_space);
    if s.is_empty() || s.starts_with('=') {
        return Err("missing attribute name");
    }
    let name_end = s.find(|c: char| is_space(c) || c == '=').unwrap_or(s.len());
    let (name, rest) = s.split_at(name_end);
    let rest = rest.trim_start_matches(is_space);
    let Some(value) = rest.strip_prefix('=') else {
        return Err("missing '=' after attribute name");
    };
    Ok((name, value.trim_matches(is_space)))
}

#[cfg(test)]
mod tests {
    use super::split_nameval;

    #[test]
    fn forms() {
        assert_eq!(split_nameval(" a = b c  "), Ok(("a", "b c")));
        assert_eq!(split_nameval("a=b"), Ok(("a", "b")));
        assert_eq!(split_nameval("a ="), Ok(("a", "")));
        assert_eq!(split_nameval("= b"), Err("missing attribute name"));
        assert_eq!(split_nameval("   "), Err("missing attribute name"));
        assert_eq!(
            split_nameval("a b = c"),
            Err("missing '=' after attribute name")
        );
    }
}
