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
}

/// Option letters in the order postconf names them in its messages.
const LETTER_ORDER: &str = "aAbCdefFhHlmMnopPtTxX#";

/// Options that exclude each other, by group, as postconf checks them:
/// the major modes first, then the modifiers.
const EXCLUSIVE: &[&str] = &["lmMFP", "den#X", "fe#X", "xe#X", "ode#X", "he#XH"];

/// Each major mode and the modifiers it takes (postconf's table; main.cf's
/// parameters are the mode when no other is given).
const COMPATIBLE: &[(char, &str)] = &[
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

const USAGE: &str = "usage: postconf [-c config_dir] [-d] [-e] [-h] [-H] [-n] [-o name=value] [-x] [-X] [-#] [parameter ...]";

/// Parses the options with Postfix's getopt rules (options stop at the
/// first parameter name).
pub(super) fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut g = Getopt::new(args, "c:dnxhHo:eX#MFPflm");
    for opt in g.by_ref() {
        if let Ok(Opt::Flag(c) | Opt::Value(c, _)) = &opt
            && *c != 'c'
        {
            o.letters.push(*c);
        }
        match opt {
            Ok(Opt::Value('c', v)) => o.config_dir = Some(v),
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
            Err(GetoptError::Unknown(c)) | Ok(Opt::Flag(c) | Opt::Value(c, _)) => {
                return Err(format!(
                    "option -{c} is not supported by postkit postconf; {USAGE}"
                ));
            }
            Err(GetoptError::MissingValue(_)) => return Err(USAGE.to_string()),
        }
    }
    o.names = g.rest().to_vec();
    // `postconf name=value` edits, as `postconf -e name=value`.
    if o.names.first().is_some_and(|n| n.contains('=')) && !o.letters.contains(&'e') {
        o.letters.push('e');
        o.edit.get_or_insert(edit_main::EditMode::Set);
    }
    check_exclusive(&o.letters)?;
    check_compatible(&o.letters)?;
    if o.letters.contains(&'e') && o.names.is_empty() {
        return Err("-e requires name=value argument".into());
    }
    Ok(o)
}
