//! Compatibility levels (`major[.minor[.patch]]`) and the `<level` family of
//! relational operators that compares them in `${{a} <level {b} ? ...}`.

use crate::util::mac_expand::{Op, RelOp, RelOpError, apply};

/// The operator suffixes every program registers with the expander.
pub const RELOPS: &[(&str, RelOp)] = &[("level", compat_relop)];

/// Parses a compatibility level; the error is Postfix's warning text.
pub fn parse(text: &str) -> Result<(u64, u64, u64), String> {
    let bad = || format!("malformed compatibility level syntax: \"{text}\"");
    let parts: Vec<&str> = text.split('.').collect();
    if parts.is_empty() || parts.len() > 3 {
        return Err(bad());
    }
    let mut nums = [0u64; 3];
    for (i, p) in parts.iter().enumerate() {
        let digits = p.strip_prefix('+').unwrap_or(p);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        nums[i] = digits.parse().map_err(|_| bad())?;
    }
    Ok((nums[0], nums[1], nums[2]))
}

fn compat_relop(left: &str, op: Op, right: &str) -> Result<bool, RelOpError> {
    let l = parse(left).map_err(RelOpError::Warn)?;
    let r = parse(right).map_err(RelOpError::Warn)?;
    Ok(apply(op, l.cmp(&r)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert!(compat_relop("0", Op::Lt, "1").unwrap());
        assert!(compat_relop("3.6", Op::Ge, "3.6.0").unwrap());
        assert!(compat_relop("3.10", Op::Gt, "3.9").unwrap());
        assert!(compat_relop("x", Op::Lt, "1").is_err());
    }
}
