//! Every parameter Postfix 3.7.11 knows (Debian's build): name, type,
//! limits and default, as data (`postfix_params.tsv`, read once), so that
//! `postkit postconf` knows what Postfix's postconf knows.  The parameters
//! postkit's own programs read are also in `mail_params::PARAMS`, which
//! takes precedence (computed defaults, postkit's own parameters); a value
//! is typed and checked where a program reads it.

use std::sync::OnceLock;

use super::param_def::{DefaultValue, Kind, ParamDef, p};

const TABLE: &str = include_str!("postfix_params.tsv");

fn kind(name: &str) -> Kind {
    match name {
        "int" => Kind::Int,
        "long" => Kind::Long,
        "time" => Kind::Time,
        "bool" => Kind::Bool,
        "nint" => Kind::Nint,
        "nbool" => Kind::Nbool,
        "raw" => Kind::Raw,
        _ => Kind::Str,
    }
}

fn parse_line(line: &'static str) -> Option<ParamDef> {
    let mut f = line.splitn(5, '\t');
    let name = f.next()?;
    let kind = kind(f.next()?);
    let min = f.next()?.parse().ok()?;
    let max = f.next()?.parse().ok()?;
    let text = f.next()?;
    let default = match kind {
        Kind::Int | Kind::Long => DefaultValue::Int(text.parse().ok()?),
        Kind::Bool => DefaultValue::Bool(text == "yes"),
        _ => DefaultValue::Text(text),
    };
    Some(p(name, kind, default, min, max))
}

/// The table, sorted by name.
pub fn table() -> &'static [ParamDef] {
    static PARSED: OnceLock<Vec<ParamDef>> = OnceLock::new();
    PARSED.get_or_init(|| {
        TABLE
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| parse_line(l).unwrap_or_else(|| panic!("postfix_params.tsv: bad line: {l}")))
            .collect()
    })
}

/// Postfix's definition of `name`.
pub fn find(name: &str) -> Option<&'static ParamDef> {
    let t = table();
    t.binary_search_by(|d| d.name.cmp(name)).ok().map(|i| &t[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_table_parses_sorted_and_typed() {
        let t = table();
        assert!(t.len() > 800, "{}", t.len());
        assert!(t.windows(2).all(|w| w[0].name < w[1].name));
        let d = find("smtpd_recipient_limit").unwrap();
        assert_eq!((d.kind, d.min), (Kind::Int, 1));
        assert!(matches!(d.default, DefaultValue::Int(1000)));
        assert_eq!(find("in_flow_delay").unwrap().max, 10);
        assert_eq!(find("biff").unwrap().kind, Kind::Bool);
        assert!(find("no_such_parameter").is_none());
    }
}
