//! Splitting `host:port` as Postfix's host_port() does, for master.cf's
//! inet service names (`smtp`, `2525`, `127.0.0.1:2525`, `[::1]:smtp`,
//! `[fe80::1%eth0]:25`, `mail.example.com:submission`).  Pure: the names
//! are looked up later (`master_inet`); here only the form is checked,
//! so that a malformed name is refused with master.cf's file and line.

/// Where the host and port of an endpoint came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// The host part; None when the text named only a port (a wildcard
    /// service, whose addresses come from inet_interfaces).
    pub host: Option<String>,
    /// The port number or service name.
    pub port: String,
}

/// Splits a master.cf inet service name: `[host]:port`, `host:port`,
/// `:port` or `port`.  The error is Postfix's text (master.cf adds
/// ` in "NAME"`).
pub fn host_port(text: &str) -> Result<HostPort, &'static str> {
    let (host, port): (Option<&str>, Option<&str>) = if let Some(rest) = text.strip_prefix('[') {
        let tagged = rest
            .get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case("ipv6:"));
        let rest = if tagged { &rest[5..] } else { rest };
        let (host, after) = rest.split_once(']').ok_or("missing \"]\"")?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err("garbage after \"]\""),
        };
        if tagged && valid_ipv6(host).is_none() {
            return Err("malformed IPv6 address");
        }
        (Some(host), port.filter(|p| !p.is_empty()))
    } else if let Some((host, port)) = text.rsplit_once(':') {
        (Some(host), Some(port).filter(|p| !p.is_empty()))
    } else {
        (None, Some(text).filter(|p| !p.is_empty()))
    };
    let port = port.ok_or("missing service information")?;
    let host = host.filter(|h| !h.is_empty());
    if let Some(h) = host
        && !valid_hostname(h)
        && !valid_hostaddr(h)
    {
        return Err("valid hostname or network address required");
    }
    if port.starts_with(|c: char| c.is_ascii_digit()) && !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err("garbage after numerical service");
    }
    Ok(HostPort {
        host: host.map(str::to_string),
        port: port.to_string(),
    })
}

/// An IPv6 address, with an optional `%zone`.
fn valid_ipv6(text: &str) -> Option<std::net::Ipv6Addr> {
    let addr = text
        .split_once('%')
        .map_or(text, |(a, zone)| if zone.is_empty() { "" } else { a });
    addr.parse().ok()
}

/// A numeric IPv4 or IPv6 address.
pub fn valid_hostaddr(text: &str) -> bool {
    text.parse::<std::net::Ipv4Addr>().is_ok() || valid_ipv6(text).is_some()
}

/// A host name: labels of letters, digits, `-` and `_` (and UTF-8),
/// none empty or longer than 63, 255 in all, not all digits and dots.
pub fn valid_hostname(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 255
        && !text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && text.trim_end_matches('.').split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && label
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> (Option<&'static str>, &'static str) {
        let hp = host_port(text).unwrap();
        (
            hp.host.map(|h| &*Box::leak(h.into_boxed_str())),
            Box::leak(hp.port.into_boxed_str()),
        )
    }

    #[test]
    fn the_forms_master_cf_takes() {
        assert_eq!(ok("smtp"), (None, "smtp"));
        assert_eq!(ok("2525"), (None, "2525"));
        assert_eq!(ok(":2525"), (None, "2525"));
        assert_eq!(ok("127.0.0.1:2525"), (Some("127.0.0.1"), "2525"));
        assert_eq!(ok("[::1]:smtp"), (Some("::1"), "smtp"));
        assert_eq!(ok("[ipv6:::1]:25"), (Some("::1"), "25"));
        assert_eq!(ok("[fe80::1%eth0]:25"), (Some("fe80::1%eth0"), "25"));
        assert_eq!(
            ok("mail.example.com:submission"),
            (Some("mail.example.com"), "submission")
        );
        assert_eq!(ok("::1:25"), (Some("::1"), "25"));
    }

    #[test]
    fn postfix_texts_for_bad_forms() {
        for (text, why) in [
            ("127.0.0.1:", "missing service information"),
            ("[::1]", "missing service information"),
            ("[::1", "missing \"]\""),
            ("[::1]x", "garbage after \"]\""),
            ("[ipv6:zz::1]:25", "malformed IPv6 address"),
            ("bad host!:25", "valid hostname or network address required"),
            ("25x", "garbage after numerical service"),
            ("", "missing service information"),
            // Found by the fuzzer: a multi-byte character where "ipv6:"
            // would end.
            ("[nn\u{99}\u{96}:25", "missing \"]\""),
        ] {
            assert_eq!(host_port(text), Err(why), "{text}");
        }
    }
}
