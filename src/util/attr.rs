//! Postfix's attribute protocol (attr_print/attr_scan), in the two forms a
//! service meets: plain (`name=value` lines, an empty line at the end: the
//! policy delegation protocol of SMTPD_POLICY_README speaks it) and
//! base64 (`base64(name):base64(value)` lines, an empty line at the end:
//! Postfix's default form, in which a `pass` connection's attributes
//! come).  Values are text; Postfix's numbers are their decimal text.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Attributes as read: name and value, in the order they came.
pub type Attrs = Vec<(String, String)>;

/// The longest line either form accepts (Postfix's default
/// `line_length_limit`-like bound for a request).
pub const MAX_LINE: usize = 100 * 1024;

/// Appends `attrs` in the plain form, with the closing empty line.
pub fn print_plain(out: &mut Vec<u8>, attrs: &[(&str, &str)]) {
    for (n, v) in attrs {
        out.extend_from_slice(n.as_bytes());
        out.push(b'=');
        out.extend_from_slice(v.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// Appends `attrs` in the base64 form, with the closing empty line.
pub fn print64(out: &mut Vec<u8>, attrs: &[(&str, &str)]) {
    for (n, v) in attrs {
        out.extend_from_slice(STANDARD.encode(n).as_bytes());
        out.push(b':');
        out.extend_from_slice(STANDARD.encode(v).as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// Why a list of attributes could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanError {
    /// The peer closed before the closing empty line (none read: a clean
    /// end between requests).
    Eof {
        /// Whether some attributes were read before the end.
        partial: bool,
    },
    /// A line that is not an attribute, with Postfix's reason.
    Malformed(String),
    /// A read error, as text.
    Io(String),
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanError::Eof { partial: false } => f.write_str("premature end-of-input"),
            ScanError::Eof { partial: true } => {
                f.write_str("premature end-of-input while reading attributes")
            }
            ScanError::Malformed(why) | ScanError::Io(why) => f.write_str(why),
        }
    }
}

/// Reads one list of attributes in the plain form with `next_line` (a
/// line without its newline; None at end of input).
pub fn scan_plain(
    mut next_line: impl FnMut() -> std::io::Result<Option<String>>,
) -> Result<Attrs, ScanError> {
    let mut attrs = Attrs::new();
    loop {
        let line = next_line()
            .map_err(|e| ScanError::Io(e.to_string()))?
            .ok_or(ScanError::Eof {
                partial: !attrs.is_empty(),
            })?;
        if !plain_line(&line, &mut attrs)? {
            return Ok(attrs);
        }
    }
}

/// One line of the plain form: an attribute added to `attrs` (true), or
/// the empty line that ends the list (false).
pub(crate) fn plain_line(line: &str, attrs: &mut Attrs) -> Result<bool, ScanError> {
    if line.is_empty() {
        return Ok(false);
    }
    match line.split_once('=') {
        Some((n, v)) if !n.is_empty() => {
            attrs.push((n.to_string(), v.to_string()));
            Ok(true)
        }
        _ => Err(ScanError::Malformed(format!(
            "missing attribute name or '=' in \"{line}\""
        ))),
    }
}

/// Reads one list of attributes in the base64 form.
pub fn scan64(
    mut next_line: impl FnMut() -> std::io::Result<Option<String>>,
) -> Result<Attrs, ScanError> {
    let mut attrs = Attrs::new();
    let decode = |t: &str, what: &str| -> Result<String, ScanError> {
        STANDARD
            .decode(t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                ScanError::Malformed(format!("malformed base64 data in {what}: \"{t}\""))
            })
    };
    loop {
        let line = next_line()
            .map_err(|e| ScanError::Io(e.to_string()))?
            .ok_or(ScanError::Eof {
                partial: !attrs.is_empty(),
            })?;
        if line.is_empty() {
            return Ok(attrs);
        }
        let (n, v) = line.split_once(':').unwrap_or((&line, ""));
        attrs.push((decode(n, "attribute name")?, decode(v, "attribute value")?));
    }
}

/// Lines of `bytes` for the scanners (tests, and requests already read).
pub fn lines_of(bytes: &[u8]) -> impl FnMut() -> std::io::Result<Option<String>> + '_ {
    let mut rest = bytes;
    move || {
        if rest.is_empty() {
            return Ok(None);
        }
        let end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
        let line = String::from_utf8_lossy(&rest[..end]).into_owned();
        rest = &rest[(end + 1).min(rest.len())..];
        Ok(Some(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_policy_protocol_example() {
        // SMTPD_POLICY_README's request and reply.
        let req = b"request=smtpd_access_policy\nprotocol_state=RCPT\nsender=foo@bar.tld\n\n";
        let attrs = scan_plain(lines_of(req)).unwrap();
        assert_eq!(attrs[0], ("request".into(), "smtpd_access_policy".into()));
        assert_eq!(attrs.len(), 3);
        let mut out = Vec::new();
        print_plain(&mut out, &[("action", "DUNNO")]);
        assert_eq!(out, b"action=DUNNO\n\n");
        assert_eq!(
            scan_plain(lines_of(b"request=x\n")),
            Err(ScanError::Eof { partial: true })
        );
        assert!(matches!(
            scan_plain(lines_of(b"no equals\n\n")),
            Err(ScanError::Malformed(_))
        ));
    }

    #[test]
    fn base64_form_as_postfix_writes_it() {
        let mut out = Vec::new();
        print64(&mut out, &[("client_address", "192.0.2.1")]);
        assert_eq!(out, b"Y2xpZW50X2FkZHJlc3M=:MTkyLjAuMi4x\n\n");
    }

    proptest! {
        #[test]
        fn both_forms_round_trip(attrs in proptest::collection::vec(("[a-z_]{1,12}", "[ -~]{0,40}"), 0..8)) {
            let pairs: Vec<(&str, &str)> = attrs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let mut out = Vec::new();
            print64(&mut out, &pairs);
            let back = scan64(lines_of(&out)).unwrap();
            prop_assert_eq!(&back, &attrs);
            let plain: Vec<(String, String)> = attrs.iter().filter(|(_, v)| !v.contains('\n')).cloned().collect();
            let pairs: Vec<(&str, &str)> = plain.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let mut out = Vec::new();
            print_plain(&mut out, &pairs);
            prop_assert_eq!(scan_plain(lines_of(&out)).unwrap(), plain);
        }
    }
}
