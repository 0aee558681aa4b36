//! Lookup tables (Postfix's `dict_*`): `inline:{key=value, ...}`,
//! `static:value` and `texthash:/file`, plus the stand-in a daemon gets for
//! a table that cannot be opened: instead of ending the process it reports
//! the error on every lookup, as Postfix's surrogate tables do.

use crate::util::readlline::{is_space, logical_lines};

/// What a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The value.
    Found(String),
    /// No such key.
    NotFound,
    /// The table is broken; the text is why.
    Error(String),
}

/// A lookup table.
pub trait Dict {
    /// `type:name`, as the table was named.
    fn spec(&self) -> &str;
    /// Looks `key` up.
    fn get(&self, key: &str) -> Lookup;
}

struct MemDict {
    spec: String,
    entries: Vec<(String, String)>,
}

impl Dict for MemDict {
    fn spec(&self) -> &str {
        &self.spec
    }
    fn get(&self, key: &str) -> Lookup {
        let key = key.to_lowercase();
        match self.entries.iter().rev().find(|(k, _)| *k == key) {
            Some((_, v)) => Lookup::Found(v.clone()),
            None => Lookup::NotFound,
        }
    }
}

struct StaticDict {
    spec: String,
    value: String,
}

impl Dict for StaticDict {
    fn spec(&self) -> &str {
        &self.spec
    }
    fn get(&self, _key: &str) -> Lookup {
        Lookup::Found(self.value.clone())
    }
}

/// A table that could not be opened.
pub struct Surrogate {
    spec: String,
    reason: String,
}

impl Dict for Surrogate {
    fn spec(&self) -> &str {
        &self.spec
    }
    fn get(&self, _key: &str) -> Lookup {
        crate::msg_warn!("{} is unavailable. {}", self.spec, self.reason);
        Lookup::Error(self.reason.clone())
    }
}

/// The lookup table types postkit's programs open (`postconf -m`).
pub const DICT_TYPES: &[&str] = &["inline", "static", "texthash"];

/// Splits at commas and white space, keeping `{...}` groups whole
/// (Postfix's `mystrtokq`).
pub fn split_quoted(text: &str) -> Vec<String> {
    super::mystrtok::mystrtokq(text, |c| c == ',' || is_space(c))
}

fn parse_inline(body: &str) -> Result<Vec<(String, String)>, String> {
    let inner = body
        .strip_prefix('{')
        .and_then(|b| b.strip_suffix('}'))
        .filter(|b| !b.trim().is_empty())
        .ok_or_else(|| {
            format!("bad syntax: \"inline:{body}\"; need \"inline:{{name=value...}}\"")
        })?;
    let mut entries = Vec::new();
    for item in split_quoted(inner) {
        // `{name with spaces = value}` keeps the spaces in the name.
        let (k, v) = match item.strip_prefix('{') {
            Some(rest) => {
                let body = rest
                    .strip_suffix('}')
                    .ok_or_else(|| format!("missing '}}' in \"{item}\""))?;
                let (k, v) = body
                    .split_once('=')
                    .ok_or_else(|| format!("missing '=' after attribute name: \"{item}\""))?;
                let k = k.trim_matches(is_space);
                if k.is_empty() {
                    return Err(format!("missing attribute name: \"{item}\""));
                }
                (k.to_string(), v.trim_matches(is_space).to_string())
            }
            None => {
                let (k, v) = crate::util::split_nameval::split_nameval(&item)
                    .map_err(|e| format!("{e}: \"{item}\""))?;
                (k.to_string(), v.to_string())
            }
        };
        entries.push((k.to_lowercase(), v));
    }
    Ok(entries)
}

fn parse_texthash(path: &str) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("open {path}: {}", crate::util::errno_text(&e)))?;
    let mut entries = Vec::new();
    for line in logical_lines(path, &text, &mut |m| crate::util::msg::warn(&m)) {
        let t = line.text.trim_matches(is_space);
        let (k, v) = match t.find(is_space) {
            Some(i) => (&t[..i], t[i..].trim_matches(is_space)),
            None => (t, ""),
        };
        if v.is_empty() {
            crate::msg_warn!(
                "{path}, line {}: expected format: key whitespace value",
                line.first_line
            );
            continue;
        }
        entries.push((k.to_lowercase(), v.to_string()));
    }
    Ok(entries)
}

/// Opens `type:name`.  A table that cannot be opened is a surrogate, or an
/// error when `fatal_errors` (daemon_table_open_error_is_fatal) is set.
pub fn dict_open(spec: &str, fatal_errors: bool) -> Result<Box<dyn Dict>, String> {
    let opened: Result<Box<dyn Dict>, String> = match spec.split_once(':') {
        Some(("static", value)) => Ok(Box::new(StaticDict {
            spec: spec.to_string(),
            // `static:{text with spaces}`
            value: value
                .strip_prefix('{')
                .and_then(|v| v.strip_suffix('}'))
                .map_or(value, |v| v.trim_matches(is_space))
                .to_string(),
        })),
        Some(("inline", body)) => parse_inline(body).map(|entries| {
            Box::new(MemDict {
                spec: spec.to_string(),
                entries,
            }) as Box<dyn Dict>
        }),
        Some(("texthash", path)) => parse_texthash(path).map(|entries| {
            Box::new(MemDict {
                spec: spec.to_string(),
                entries,
            }) as Box<dyn Dict>
        }),
        Some((kind, _)) => Err(format!("unsupported dictionary type: {kind}")),
        None => Err(format!("need dictionary type:name, not \"{spec}\"")),
    };
    match opened {
        Ok(d) => Ok(d),
        Err(reason) if fatal_errors => Err(format!("{spec}: {reason}")),
        Err(reason) => {
            crate::msg_warn!("{spec} is unavailable. {reason}");
            Ok(Box::new(Surrogate {
                spec: spec.to_string(),
                reason,
            }))
        }
    }
}

/// A list of tables searched in order (Postfix's `maps`).
pub struct Maps {
    /// Names the maps in messages.
    pub title: String,
    dicts: Vec<Box<dyn Dict>>,
}

impl Maps {
    /// Opens the tables `names` (comma or blank separated `type:name`); unopenable ones fail on lookup unless `fatal_errors`.
    pub fn new(title: &str, names: &str, fatal_errors: bool) -> Result<Maps, String> {
        let dicts = split_quoted(names)
            .iter()
            .map(|n| dict_open(n, fatal_errors))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Maps {
            title: title.to_string(),
            dicts,
        })
    }

    /// The first table's answer; a broken table ends the search.
    pub fn find(&self, key: &str) -> Lookup {
        if key.is_empty() {
            return Lookup::NotFound;
        }
        for d in &self.dicts {
            match d.get(key) {
                Lookup::Found(v) if v.is_empty() => {
                    crate::msg_warn!(
                        "{} lookup of {key} returns an empty string result",
                        self.title
                    );
                    return Lookup::Error("empty result".into());
                }
                Lookup::Found(v) => return Lookup::Found(v),
                Lookup::Error(e) => {
                    crate::msg_warn!("{} lookup error for \"{key}\"", d.spec());
                    return Lookup::Error(e);
                }
                Lookup::NotFound => {}
            }
        }
        Lookup::NotFound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_static_texthash() {
        let m = Maps::new("t", "inline:{ A=1, {b = two words} }, static:dflt", false).unwrap();
        assert_eq!(m.find("a"), Lookup::Found("1".into()));
        assert_eq!(m.find("B"), Lookup::Found("two words".into()));
        assert_eq!(m.find("zzz"), Lookup::Found("dflt".into()));
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("t");
        std::fs::write(&f, "# c\nKey1   value one\nkey2 v\n  continued\n").unwrap();
        let m = Maps::new("t", &format!("texthash:{}", f.display()), false).unwrap();
        assert_eq!(m.find("KEY1"), Lookup::Found("value one".into()));
        assert_eq!(m.find("key2"), Lookup::Found("v  continued".into()));
        assert_eq!(m.find("nope"), Lookup::NotFound);
    }

    #[test]
    fn unavailable_tables_become_surrogates() {
        crate::util::msg::capture_start();
        let m = Maps::new("t", "texthash:/nonexistent/x, static:never", false).unwrap();
        assert!(matches!(m.find("k"), Lookup::Error(_)));
        let msgs = crate::util::msg::capture_take();
        assert!(msgs.iter().any(|(_, t)| t == "texthash:/nonexistent/x is unavailable. open /nonexistent/x: No such file or directory"));
        assert!(
            msgs.iter()
                .any(|(_, t)| t == "texthash:/nonexistent/x lookup error for \"k\"")
        );
        assert!(Maps::new("t", "texthash:/nonexistent/x", true).is_err());
        assert!(Maps::new("t", "inline:{oops", false).is_ok());
        let err = Maps::new("t", "btree:/x", true).err().unwrap();
        assert!(err.contains("unsupported dictionary type: btree"));
    }
}
