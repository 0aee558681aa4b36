//! The delivery status filter a service installs with BOUNCE_INIT: it maps
//! `X.Y.Z reason` to a replacement status and text, through lookup tables,
//! never turning a success into a failure or back.

use crate::util::dict::{Lookup, Maps};

/// A delivery status: `status` is `X.Y.Z`, `action` what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dsn {
    /// The enhanced status code (`5.1.1`).
    pub status: String,
    /// The action (`failed`, `delayed`, ...).
    pub action: String,
    /// The reason text.
    pub reason: String,
}

/// A delivery status filter: lookup tables that may replace a status.
pub struct DsnFilter {
    maps: Maps,
}

/// `X.Y.Z` with a class of 2, 4 or 5 and numeric subject and detail.
fn dsn_valid(s: &str) -> bool {
    let mut parts = s.split('.');
    let (Some(c), Some(sub), Some(det), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    matches!(c, "2" | "4" | "5")
        && (1..=3).contains(&sub.len())
        && (1..=3).contains(&det.len())
        && sub.bytes().chain(det.bytes()).all(|b| b.is_ascii_digit())
}

impl DsnFilter {
    /// `maps` is a table list such as `inline:{...}, texthash:/file`.
    pub fn new(title: &str, maps: &str, fatal_errors: bool) -> Result<DsnFilter, String> {
        Ok(DsnFilter {
            maps: Maps::new(title, maps, fatal_errors)?,
        })
    }

    /// The replacement for `dsn`, if a table has one of the same class.
    pub fn lookup(&self, dsn: &Dsn) -> Option<Dsn> {
        let success = dsn.status.starts_with('2');
        let key = format!("{} {}", dsn.status, dsn.reason);
        let Lookup::Found(result) = self.maps.find(&key) else {
            return None;
        };
        let (status, text) = result.split_once(' ').unwrap_or((&result, ""));
        if !dsn_valid(status) || success != status.starts_with('2') {
            crate::msg_warn!("{}: bad status code: {result}", self.maps.title);
            return None;
        }
        let action = match status.as_bytes()[0] {
            b'4' => "delayed".to_string(),
            b'5' => "failed".to_string(),
            _ => dsn.action.clone(),
        };
        Some(Dsn {
            status: status.to_string(),
            action,
            reason: text.trim_start().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_within_class() {
        let f = DsnFilter::new(
            "smtp_dsn_filter",
            "inline:{ {5.1.1 User unknown = 5.1.1 No such mailbox}, {4.4.1 timeout = 2.0.0 ok} }",
            false,
        )
        .unwrap();
        let d = Dsn {
            status: "5.1.1".into(),
            action: "failed".into(),
            reason: "User unknown".into(),
        };
        assert_eq!(
            f.lookup(&d),
            Some(Dsn {
                status: "5.1.1".into(),
                action: "failed".into(),
                reason: "No such mailbox".into()
            })
        );
        let t = Dsn {
            status: "4.4.1".into(),
            action: "delayed".into(),
            reason: "timeout".into(),
        };
        assert_eq!(f.lookup(&t), None, "an error never becomes a success");
    }
}
