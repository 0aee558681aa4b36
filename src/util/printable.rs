//! Postfix's `printable()`: what may reach a log line or a terminal.

/// Replaces every byte that is not printable ASCII with `replacement`, so
/// that a log record can never carry a newline, an escape sequence or bytes
/// a log reader would misread.  A multi-byte character becomes one
/// replacement per byte, as it does in Postfix.
pub fn printable(text: &str, replacement: char) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if (' '..='~').contains(&c) {
            out.push(c);
        } else {
            for _ in 0..c.len_utf8() {
                out.push(replacement);
            }
        }
    }
    out
}

/// The same over raw bytes, for data that need not be UTF-8.
pub fn printable_bytes(text: &[u8], replacement: u8) -> Vec<u8> {
    text.iter()
        .map(|&b| {
            if (b' '..=b'~').contains(&b) {
                b
            } else {
                replacement
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_controls_and_eight_bit() {
        assert_eq!(printable("a\tb\nc\u{1b}[0m", '?'), "a?b?c?[0m");
        assert_eq!(printable("é", '?'), "??");
        assert_eq!(printable_bytes(b"x\0y\xff", b'?'), b"x?y?");
    }
}
