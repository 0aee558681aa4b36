//! Text inside braces, as Postfix's extpar() takes it out of a
//! `{ ... }` group (master.cf arguments, nested table names): an
//! unclosed brace keeps the rest of the text, text after the closing
//! brace is dropped, and each is an error text for the caller to warn
//! with.

/// The length of the balanced `{...}` that `text` starts with (0 when it
/// does not start with one or it is not closed), as Postfix's balpar().
pub fn balpar(text: &str) -> usize {
    if !text.starts_with('{') {
        return 0;
    }
    let mut level = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => level += 1,
            '}' => {
                level -= 1;
                if level == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    0
}

/// The text inside the braces `text` starts with, and Postfix's error
/// text when the group is malformed; `strip` trims white space inside.
pub fn extpar(text: &str, strip: bool) -> (String, Option<String>) {
    let (inner, err) = if !text.starts_with('{') {
        (
            text,
            Some(format!("no '{{' at start of text in \"{text}\"")),
        )
    } else {
        match balpar(text) {
            0 => (&text[1..], Some(format!("missing '}}' in \"{text}\""))),
            len if len < text.len() => (
                &text[1..len - 1],
                Some(format!("syntax error after '}}' in \"{text}\"")),
            ),
            len => (&text[1..len - 1], None),
        }
    };
    let inner = if strip {
        inner.trim_matches(|c: char| c.is_ascii_whitespace())
    } else {
        inner
    };
    (inner.to_string(), err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_postfix_takes_groups_apart() {
        assert_eq!(extpar("{ a b }", true), ("a b".into(), None));
        assert_eq!(extpar("{ a b }", false), (" a b ".into(), None));
        assert_eq!(extpar("{a {b} c}", true), ("a {b} c".into(), None));
        assert_eq!(
            extpar("{ a b }x", true),
            (
                "a b".into(),
                Some("syntax error after '}' in \"{ a b }x\"".into())
            )
        );
        assert_eq!(
            extpar("{xx", false),
            ("xx".into(), Some("missing '}' in \"{xx\"".into()))
        );
    }
}
