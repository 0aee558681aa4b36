//! Typed parameters: int, long, str, raw, bool, time, nint and nbool, each
//! converted from main.cf (after `-o` overrides) with Postfix's syntax rules,
//! limits and fatal message texts.
//!
//! As in Postfix, a parameter that main.cf does not set gets its default
//! written back into the dictionary, so that later `$name` references see it.
//! Every conversion returns Postfix's fatal text as the error; callers end
//! the process with it.

use super::config_error::{ConfigError, Limit};
use super::mail_conf::MailConf;

/// C's `strtol(s, &end, 10)` over the whole string: leading white space and
/// a sign are allowed, trailing text is not.
pub fn parse_c_long(s: &str) -> Option<i64> {
    let t = s.trim_start_matches(crate::util::readlline::is_space);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = digits.parse().ok()?;
    Some(if neg { -v } else { v })
}

/// Postfix's `conv_time()`: a number, then an optional unit letter (the
/// default unit when absent).  Text after the unit is ignored, as Postfix
/// ignores it.
pub fn conv_time(value: &str, def_unit: char) -> Option<i32> {
    let t = value.trim_start_matches(crate::util::readlline::is_space);
    let sign_len = usize::from(t.starts_with(['+', '-']));
    let digit_end = sign_len + t[sign_len..].bytes().take_while(u8::is_ascii_digit).count();
    if digit_end == sign_len {
        return None;
    }
    let n: i64 = t[..digit_end].parse().ok()?;
    if n < 0 || n > i64::from(i32::MAX) {
        return None;
    }
    let n = n as i32;
    let unit = t[digit_end..].chars().next().unwrap_or(def_unit);
    let mult = match unit {
        's' => return Some(n),
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        'w' => 604800,
        _ => return None,
    };
    if n < i32::MAX / mult {
        Some(n * mult)
    } else {
        None
    }
}

/// The unit a time parameter's bare numbers are in: the first letter of its
/// default value.
pub fn default_time_unit(default: &str) -> char {
    default
        .chars()
        .find(char::is_ascii_alphabetic)
        .unwrap_or('s')
}

fn parse_bool(name: &str, value: &str) -> Result<bool, ConfigError> {
    if value.eq_ignore_ascii_case("yes") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("no") {
        Ok(false)
    } else {
        Err(ConfigError::BadBool {
            name: name.to_string(),
            value: value.to_string(),
        })
    }
}

/// The limit `v` breaks, if any (a bound of 0 is none).
fn broken_limit(v: i64, min: i64, max: i64) -> Option<Limit> {
    if min != 0 && v < min {
        Some(Limit::Min(min))
    } else if max != 0 && v > max {
        Some(Limit::Max(max))
    } else {
        None
    }
}

fn check_int(name: &str, value: i64, min: i64, max: i64) -> Result<(), ConfigError> {
    match broken_limit(value, min, max) {
        Some(limit) => Err(ConfigError::IntRange {
            name: name.to_string(),
            value,
            limit,
        }),
        None => Ok(()),
    }
}

fn check_len(
    name: &str,
    value: String,
    min: usize,
    max: usize,
    raw: bool,
) -> Result<String, ConfigError> {
    match broken_limit(value.len() as i64, min as i64, max as i64) {
        Some(limit) => Err(ConfigError::StrLength {
            name: name.to_string(),
            value,
            limit,
            raw,
        }),
        None => Ok(value),
    }
}

impl MailConf {
    fn int_value(&self, name: &str, lo: i64, hi: i64) -> Result<Option<i64>, ConfigError> {
        let Some(v) = self.lookup_eval(name)? else {
            return Ok(None);
        };
        match parse_c_long(&v) {
            Some(n) if n >= lo && n <= hi => Ok(Some(n)),
            _ => Err(ConfigError::BadNumber {
                name: name.to_string(),
                value: v,
            }),
        }
    }

    /// An int parameter (min/max 0 = no bound).
    pub fn get_int(
        &mut self,
        name: &str,
        default: i32,
        min: i32,
        max: i32,
    ) -> Result<i32, ConfigError> {
        let v = match self.int_value(name, i32::MIN.into(), i32::MAX.into())? {
            Some(v) => v,
            None => {
                self.update(name, &default.to_string());
                default.into()
            }
        };
        check_int(name, v, min.into(), max.into())?;
        Ok(v as i32)
    }

    /// A long parameter (min/max 0 = no bound).
    pub fn get_long(
        &mut self,
        name: &str,
        default: i64,
        min: i64,
        max: i64,
    ) -> Result<i64, ConfigError> {
        let v = match self.int_value(name, i64::MIN, i64::MAX)? {
            Some(v) => v,
            None => {
                self.update(name, &default.to_string());
                default
            }
        };
        check_int(name, v, min, max)?;
        Ok(v)
    }

    /// An int whose default is a string (possibly `$name`).
    pub fn get_nint(
        &mut self,
        name: &str,
        default: &str,
        min: i32,
        max: i32,
    ) -> Result<i32, ConfigError> {
        if self.lookup(name).is_none() {
            self.update(name, default);
        }
        let v = self
            .int_value(name, i32::MIN.into(), i32::MAX.into())?
            .unwrap_or_default();
        check_int(name, v, min.into(), max.into())?;
        Ok(v as i32)
    }

    /// A string, `$name`-expanded; min/max bound its length.
    pub fn get_str(
        &mut self,
        name: &str,
        default: &str,
        min: usize,
        max: usize,
    ) -> Result<String, ConfigError> {
        let v = match self.lookup_eval(name)? {
            Some(v) => v,
            None => {
                let v = self.eval(default)?;
                self.update(name, &v);
                v
            }
        };
        check_len(name, v, min, max, false)
    }

    /// A string that is never expanded.
    pub fn get_raw(
        &mut self,
        name: &str,
        default: &str,
        min: usize,
        max: usize,
    ) -> Result<String, ConfigError> {
        let v = match self.lookup(name) {
            Some(v) => v.to_string(),
            None => {
                self.update(name, default);
                default.to_string()
            }
        };
        check_len(name, v, min, max, true)
    }

    /// A boolean (`yes`/`no`, case-insensitive).
    pub fn get_bool(&mut self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.lookup_eval(name)? {
            Some(v) => parse_bool(name, &v),
            None => {
                self.update(name, if default { "yes" } else { "no" });
                Ok(default)
            }
        }
    }

    /// A bool whose default is a string (possibly an expression).
    pub fn get_nbool(&mut self, name: &str, default: &str) -> Result<bool, ConfigError> {
        if self.lookup(name).is_none() {
            self.update(name, default);
        }
        let v = self.lookup_eval(name)?.unwrap_or_default();
        parse_bool(name, &v)
    }

    /// A time in seconds; bare numbers are in the default's unit.
    pub fn get_time(
        &mut self,
        name: &str,
        default: &str,
        min: i32,
        max: i32,
    ) -> Result<i32, ConfigError> {
        if self.lookup(name).is_none() {
            self.update(name, default);
        }
        let v = self.lookup_eval(name)?.unwrap_or_default();
        let Some(secs) = conv_time(&v, default_time_unit(default)) else {
            return Err(ConfigError::BadTime {
                name: name.to_string(),
                value: v,
            });
        };
        match broken_limit(secs as i64, min as i64, max as i64) {
            Some(limit) => Err(ConfigError::TimeRange {
                name: name.to_string(),
                value: secs as i64,
                limit,
            }),
            None => Ok(secs),
        }
    }
}

/// A parameter's type with its default and limits: how one main.cf value
/// is read.  Services declare their parameters with these (see the
/// skeleton's `param`), so one mechanism serves every type.
pub trait ParamType {
    /// What the value converts to.
    type Value;
    /// Reads `name` from `conf` (after `-o` overrides), with Postfix's
    /// conversion rules and fatal texts.
    fn read(&self, conf: &mut MailConf, name: &str) -> Result<Self::Value, ConfigError>;
}

/// An int; a bound of 0 means none.
#[derive(Debug, Clone, Copy)]
pub struct IntParam {
    /// The default.
    pub default: i32,
    /// The least value (0: no bound).
    pub min: i32,
    /// The greatest value (0: no bound).
    pub max: i32,
}

/// A long; a bound of 0 means none.
#[derive(Debug, Clone, Copy)]
pub struct LongParam {
    /// The default.
    pub default: i64,
    /// The least value (0: no bound).
    pub min: i64,
    /// The greatest value (0: no bound).
    pub max: i64,
}

/// A string, `$name`-expanded (`raw`: never expanded); the bounds are on
/// its length.
#[derive(Debug, Clone, Copy)]
pub struct StrParam {
    /// The default.
    pub default: &'static str,
    /// The shortest length.
    pub min: usize,
    /// The longest length (0: no bound).
    pub max: usize,
    /// Taken as written, without expansion.
    pub raw: bool,
}

/// A boolean (`yes`/`no`).
#[derive(Debug, Clone, Copy)]
pub struct BoolParam {
    /// The default.
    pub default: bool,
}

/// A time in seconds; the default's unit letter is the unit of bare
/// numbers.
#[derive(Debug, Clone, Copy)]
pub struct TimeParam {
    /// The default, with its unit (`"60s"`).
    pub default: &'static str,
    /// The least value in seconds (0: no bound).
    pub min: i32,
    /// The greatest value in seconds (0: no bound).
    pub max: i32,
}

/// An int whose default is text (such as `$default_process_limit`).
#[derive(Debug, Clone, Copy)]
pub struct NIntParam {
    /// The default, expanded.
    pub default: &'static str,
    /// The least value (0: no bound).
    pub min: i32,
    /// The greatest value (0: no bound).
    pub max: i32,
}

/// A boolean whose default is text (such as an expression).
#[derive(Debug, Clone, Copy)]
pub struct NBoolParam {
    /// The default, expanded.
    pub default: &'static str,
}

impl ParamType for IntParam {
    type Value = i32;
    fn read(&self, conf: &mut MailConf, name: &str) -> Result<i32, ConfigError> {
        conf.get_int(name, self.default, self.min, self.max)
    }
}

impl ParamType for LongParam {
    type Value = i64;
    fn read(&self, conf: &mut MailConf, name: &str) -> Result<i64, ConfigError> {
        conf.get_long(name, self.default, self.min, self.max)
    }
}

impl ParamType for StrParam {
    type Value = String;
    fn read(&self, conf: &mut MailConf, name: &str) -> Result<String, ConfigError> {
        if self.raw {
            conf.get_raw(name, self.default, self.min, self.max)
        } else {
            conf.get_str(name, self.default, self.min, self.max)
        }
    }
}

impl ParamType for BoolParam {
    type Value = bool;
    fn read(&self, conf: &mut MailConf, name: &str) -> Result<bool, ConfigError> {
        conf.get_bool(name, self.default)
    }
}

impl ParamType for TimeParam {
    type Value = i32;
    fn read(&self, conf: &mut MailConf, name: &str) -> Result<i32, ConfigError> {
        conf.get_time(name, self.default, self.min, self.max)
    }
}

impl ParamType for NIntParam {
    type Value = i32;
    fn read(&self, conf: &mut MailConf, name: &str) -> Result<i32, ConfigError> {
        conf.get_nint(name, self.default, self.min, self.max)
    }
}

impl ParamType for NBoolParam {
    type Value = bool;
    fn read(&self, conf: &mut MailConf, name: &str) -> Result<bool, ConfigError> {
        conf.get_nbool(name, self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> MailConf {
        let mut c = MailConf::empty("/x");
        c.load_text("/x/main.cf", text, &mut |_| {}).unwrap();
        c
    }

    #[test]
    fn times() {
        assert_eq!(conv_time("10", 's'), Some(10));
        assert_eq!(conv_time("10m", 's'), Some(600));
        assert_eq!(conv_time("2w", 's'), Some(1209600));
        assert_eq!(conv_time("10sx", 's'), Some(10));
        assert_eq!(conv_time("10 s", 's'), None);
        assert_eq!(conv_time("", 's'), None);
        assert_eq!(conv_time("-1", 's'), None);
        assert_eq!(conv_time("10x", 's'), None);
        assert_eq!(conv_time("3549w", 's'), Some(3549 * 604800));
        assert_eq!(conv_time("3550w", 's'), None);
    }

    /// The error as its text, which is what these tests pin down.
    fn t<T>(r: Result<T, ConfigError>) -> Result<T, String> {
        r.map_err(|e| e.to_string())
    }

    #[test]
    fn conversions_and_messages() {
        let mut c = conf("a = 5\nb = x\nt = 3m\nu = 9\nbb = YES\ns = $a$a\n");
        assert_eq!(t(c.get_int("a", 1, 1, 0)), Ok(5));
        assert_eq!(
            t(c.get_int("b", 1, 0, 0)),
            Err("bad numerical configuration: b = x".into())
        );
        assert_eq!(
            t(c.get_int("a", 1, 6, 0)),
            Err("invalid a parameter value 5 < 6".into())
        );
        assert_eq!(t(c.get_int("missing", 7, 0, 0)), Ok(7));
        assert_eq!(c.lookup("missing"), Some("7"));
        assert_eq!(t(c.get_time("t", "100s", 1, 0)), Ok(180));
        assert_eq!(t(c.get_time("u", "1h", 1, 0)), Ok(9 * 3600));
        assert_eq!(
            t(c.get_time("u", "10s", 10, 0)),
            Err("invalid u: 9 (min 10)".into())
        );
        assert_eq!(
            t(c.get_time("t", "10s", 0, 10)),
            Err("invalid t: 180 (max 10)".into())
        );
        assert_eq!(
            t(c.get_time("b", "10s", 0, 0)),
            Err("parameter b: bad time value or unit: x".into())
        );
        assert_eq!(t(c.get_bool("bb", false)), Ok(true));
        assert_eq!(
            t(c.get_bool("b", false)),
            Err("bad boolean configuration: b = x".into())
        );
        assert_eq!(t(c.get_str("s", "", 0, 0)), Ok("55".into()));
        assert_eq!(
            t(c.get_str("s", "", 3, 0)),
            Err("bad string length 2 < 3: s = 55".into())
        );
        assert_eq!(t(c.get_raw("s", "", 0, 4)), Ok("$a$a".into()));
        assert_eq!(
            t(c.get_raw("s", "", 0, 2)),
            Err("bad string length (4 > 2): s = $a$a".into())
        );
        assert_eq!(t(c.get_nint("n", "$a", 0, 0)), Ok(5));
        assert_eq!(
            t(c.get_nbool("nb", "${{$a} > {4} ? {yes} : {no}}")),
            Ok(true)
        );
        assert_eq!(t(c.get_long("l", 1 << 40, 0, 0)), Ok(1 << 40));
    }
}
