//! Tokens of Postfix's configuration text (Postfix's `mystrtok` and
//! `mystrtokq`, and `extpar`): the one tokenizer master.cf entries are
//! split with, by the master and by postconf alike, and the one lists of
//! table names are split with.

/// The blanks that separate master.cf's fields and arguments.
pub fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Splits `text` where `is_sep` says, keeping a `{...}` group whole with
/// its braces, as Postfix's mystrtokq does: each token starts at level 0;
/// `{` opens a level, `}` closes one only when one is open (a stray `}` is
/// an ordinary character), and a separator ends the token only at level 0.
pub fn mystrtokq(text: &str, is_sep: impl Fn(char) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| is_sep(*c)).is_some() {}
        if chars.peek().is_none() {
            return out;
        }
        let mut token = String::new();
        let mut level = 0u32;
        while let Some(&c) = chars.peek() {
            if c == '{' {
                level += 1;
            } else if level > 0 && c == '}' {
                level -= 1;
            } else if level == 0 && is_sep(c) {
                break;
            }
            token.push(c);
            chars.next();
        }
        out.push(token);
    }
}

/// `{ text }` as `text` (Postfix's extpar): the braces and the blanks just
/// inside them removed; the error is Postfix's text.
pub fn extpar(token: &str) -> Result<String, String> {
    let mut level = 0i32;
    for (i, c) in token.char_indices() {
        match c {
            '{' => level += 1,
            '}' => {
                level -= 1;
                if level == 0 {
                    if i + 1 != token.len() {
                        return Err(format!("syntax error after '}}' in \"{token}\""));
                    }
                    return Ok(token[1..i].trim_matches(is_blank).to_string());
                }
            }
            _ => {}
        }
    }
    Err(format!("missing '}}' in \"{token}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blanks(text: &str) -> Vec<String> {
        mystrtokq(text, is_blank)
    }

    #[test]
    fn groups_stay_whole_and_stray_braces_are_characters() {
        assert_eq!(blanks("  a {b c}  d{e f}g "), ["a", "{b c}", "d{e f}g"]);
        assert_eq!(blanks("}a {b c}"), ["}a", "{b c}"]);
        assert_eq!(blanks("}{a b} c"), ["}{a b}", "c"]);
        assert_eq!(blanks("{a b"), ["{a b"]);
        assert!(blanks(" \t\r\n").is_empty());
        assert_eq!(
            mystrtokq("a, {b, c} d", |c| c == ',' || is_blank(c)),
            ["a", "{b, c}", "d"]
        );
    }

    #[test]
    fn extpar_texts() {
        assert_eq!(extpar("{ a b }").unwrap(), "a b");
        assert_eq!(extpar("{a {b}}").unwrap(), "a {b}");
        assert_eq!(
            extpar("{a}b").unwrap_err(),
            "syntax error after '}' in \"{a}b\""
        );
        assert_eq!(extpar("{a").unwrap_err(), "missing '}' in \"{a\"");
    }
}
