//! postconf's command line: its options, Postfix's getopt rules (options
//! stop at the first parameter name), `postconf name=value` meaning `-e`,
//! and postconf's checks of which options go together, with its texts.

use super::{edit_main, master_views};
use crate::util::getopt::{Getopt, GetoptError, Opt};

#[derive(Default)]
pub(super) struct Options {
    pub(super) config_dir: Option<String>,
    pub(super) defaults: bool,
    pub(super) non_default: bool,
    pub(super) expand: bool,
    pub(super) hide_name: bool,
    pub(super) hide_value: bool,
    pub(super) overrides: Vec<String>,
    pub(super) names: Vec<String>,
    /// -e, -X or -#.
    pub(super) edit: Option<edit_main::EditMode>,
    /// -M, -F or -P.
    pub(super) view: Option<master_views::View>,
    /// -f.
    pub(super) fold: bool,
    /// -m or -l: list table types or lock methods.
    pub(super) list: Option<char>,
    /// Every option letter given, for postconf's compatibility checks.
    pub(super) letters: Vec<char>,
    /// -C: the classes of parameters listed (CLASS_* bits; all when not
    /// given).
    pub(super) classes: u8,
    /// -a, -A or -T MODE: what Postfix's own build has (SASL plug-ins,
    /// TLS); answered by the installed Postfix's postconf.
    pub(super) build_info: bool,
    /// -b or -t: bounce templates, expanded or dumped by Postfix's bounce
    /// daemon, as Postfix's postconf has it do.
    pub(super) templates: Option<&'static str>,
}

/// Parameters Postfix itself defines.
pub(super) const CLASS_BUILTIN: u8 = 1;
/// Parameters master.cf's services define (`SERVICE_name`).
pub(super) const CLASS_SERVICE: u8 = 2;
/// Parameters main.cf or master.cf define and something refers to.
pub(super) const CLASS_USER: u8 = 4;

/// `-C builtin,service,user,all` (any case, comma or space separated), as
/// postconf's name_mask_opt reads it.
fn parse_classes(text: &str) -> Result<u8, String> {
    let mut mask = 0;
    for word in text
        .split([',', ' ', '\t', '\r', '\n'])
        .filter(|w| !w.is_empty())
    {
        mask |= match word.to_ascii_lowercase().as_str() {
            "builtin" => CLASS_BUILTIN,
            "service" => CLASS_SERVICE,
            "user" => CLASS_USER,
            "all" => CLASS_BUILTIN | CLASS_SERVICE | CLASS_USER,
            _ => return Err(format!("unknown -C option value \"{word}\" in \"{text}\"")),
        };
    }
    Ok(mask)
}

/// Option letters in the order postconf names them in its messages.
const LETTER_ORDER: &str = "aAbCdefFhHlmMnopPtTxX#";

/// Options that exclude each other, by group, as postconf checks them:
/// the major modes first, then the modifiers.
const EXCLUSIVE: &[&str] = &["aAbltmTpMFP", "den#X", "fe#X", "xe#X", "ode#X", "he#XH"];

/// The major modes: one at most; `-p` (main.cf's parameters) when none.
const MAJOR: &str = "aAbltmTpMFP";

/// Each major mode and the modifiers it takes (postconf's table; main.cf's
/// parameters are the mode when no other is given).
const COMPATIBLE: &[(char, &str)] = &[
    ('a', ""),
    ('A', ""),
    ('b', ""),
    ('T', ""),
    ('t', ""),
    ('p', "eX#fhCxdnoH"),
    ('M', "eX#fox"),
    ('F', "efhoxH"),
    ('P', "eXfhoxH"),
    ('l', ""),
    ('m', ""),
];

/// postconf's "with option -M, do not specify -d" check.
fn check_compatible(letters: &[char]) -> Result<(), String> {
    for (mode, allowed) in COMPATIBLE {
        if !letters.contains(mode) {
            continue;
        }
        let mut excess: Vec<char> = letters
            .iter()
            .copied()
            .filter(|c| c != mode && !allowed.contains(*c))
            .collect();
        excess.sort_by_key(|c| LETTER_ORDER.find(*c));
        excess.dedup();
        if !excess.is_empty() {
            let names: Vec<String> = excess.iter().map(|c| format!("-{c}")).collect();
            return Err(format!(
                "with option -{mode}, do not specify {}",
                names.join(" ")
            ));
        }
    }
    Ok(())
}

/// postconf's "specify one of" check, in its order and with its text.
fn check_exclusive(letters: &[char]) -> Result<(), String> {
    for group in EXCLUSIVE {
        let mut given: Vec<char> = group.chars().filter(|c| letters.contains(c)).collect();
        if given.len() > 1 {
            given.sort_by_key(|c| LETTER_ORDER.find(*c));
            let names: Vec<String> = given.iter().map(|c| format!("-{c}")).collect();
            return Err(format!("specify one of {}", names.join(" ")));
        }
    }
    Ok(())
}

/// Postfix's usage text, word for word (its `-c param_class` included),
/// after the program name.
const USAGE: &str = "[-a (server SASL types)] [-A (client SASL types)] [-b (bounce templates)] [-c config_dir] [-c param_class] [-d (parameter defaults)] [-e (edit configuration)] [-f (fold lines)] [-F (master.cf fields)] [-h (no names)] [-H (no values)] [-l (lock types)] [-m (map types)] [-M (master.cf)] [-n (non-default parameters)] [-o name=value (override parameter value)] [-p (main.cf, default)] [-P (master.cf parameters)] [-t (bounce templates)] [-T compile-version|run-version|public-key-algorithms] [-v (verbose)] [-x (expand parameter values)] [-X (exclude)] [-# (comment-out)] [name...]";

/// Parses the options with Postfix's getopt rules (options stop at the
/// first parameter name).
pub(super) fn parse_args(me: &str, args: &[String]) -> Result<Options, String> {
    let usage = || format!("usage: {me} {USAGE}");
    let mut o = Options {
        classes: CLASS_BUILTIN | CLASS_SERVICE | CLASS_USER,
        ..Default::default()
    };
    let mut g = Getopt::new(args, "aAbc:C:deEfFhHlmMno:pPtT:vxX#");
    for opt in g.by_ref() {
        if let Ok(Opt::Flag(c) | Opt::Value(c, _)) = &opt
            && !"cCv".contains(*c)
        {
            o.letters.push(*c);
        }
        match opt {
            Ok(Opt::Value('c', v)) => o.config_dir = Some(v),
            Ok(Opt::Value('C', v)) => o.classes = parse_classes(&v)?,
            Ok(Opt::Flag('d')) => o.defaults = true,
            Ok(Opt::Flag('n')) => o.non_default = true,
            Ok(Opt::Flag('x')) => o.expand = true,
            Ok(Opt::Flag('h')) => o.hide_name = true,
            Ok(Opt::Flag('H')) => o.hide_value = true,
            Ok(Opt::Value('o', v)) => o.overrides.push(v),
            Ok(Opt::Flag('e')) => o.edit = Some(edit_main::EditMode::Set),
            Ok(Opt::Flag('X')) => o.edit = Some(edit_main::EditMode::Remove),
            Ok(Opt::Flag('#')) => o.edit = Some(edit_main::EditMode::CommentOut),
            Ok(Opt::Flag('M')) => o.view = Some(master_views::View::Entries),
            Ok(Opt::Flag('F')) => o.view = Some(master_views::View::Fields),
            Ok(Opt::Flag('P')) => o.view = Some(master_views::View::Params),
            Ok(Opt::Flag('f')) => o.fold = true,
            Ok(Opt::Flag(c @ ('l' | 'm'))) => o.list = Some(c),
            Ok(Opt::Flag('p' | 'v')) => {}
            Ok(Opt::Flag('a' | 'A')) => o.build_info = true,
            Ok(Opt::Value('T', _)) => {
                if o.build_info && o.letters.iter().filter(|c| **c == 'T').count() > 1 {
                    return Err("At most one -T <mode> option may be specified".into());
                }
                o.build_info = true;
            }
            Ok(Opt::Flag(c @ ('b' | 't'))) => {
                if o.templates.is_some() {
                    return Err("specify one of -b and -t".into());
                }
                o.templates = Some(if c == 'b' {
                    "expand_templates"
                } else {
                    "dump_templates"
                });
            }
            Err(GetoptError::Unknown(_) | GetoptError::MissingValue(_)) | Ok(_) => {
                return Err(usage());
            }
        }
    }
    o.names = g.rest().to_vec();
    // `postconf name=value` edits, as `postconf -e name=value`.
    if o.names.first().is_some_and(|n| n.contains('=')) && !o.letters.contains(&'e') {
        o.letters.push('e');
        o.edit.get_or_insert(edit_main::EditMode::Set);
    }
    check_exclusive(&o.letters)?;
    let mut letters = o.letters.clone();
    if !letters.iter().any(|c| MAJOR.contains(*c)) {
        letters.push('p');
    }
    check_compatible(&letters)?;
    if o.letters.contains(&'e') && o.names.is_empty() {
        return Err("-e requires name=value argument".into());
    }
    Ok(o)
}
