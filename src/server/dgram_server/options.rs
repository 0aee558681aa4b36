//! The skeletons' command-line options (Postfix's getopt string
//! `cdDi:lm:n:o:s:t:uvVz`, and `S` for the stream skeletons), as the master
//! builds them from master.cf.

use crate::util::getopt::{Getopt, GetoptError, Opt};

/// Options parsed from the command line.
#[derive(Debug, Default, Clone)]
pub struct DaemonOptions {
    /// `-c`: chroot to queue_directory.
    pub chroot: bool,
    /// Not `-d`: detached from any terminal.
    pub daemon_mode: bool,
    /// `-D`: run debugger_command.
    pub debug: bool,
    /// `-l`: the process limit is 1 (no pool lock).
    pub alone: bool,
    /// `-z`: the process limit is 0.
    pub zero_limit: bool,
    /// `-n`: the master.cf service name.
    pub service_name: Option<String>,
    /// `-s`: listening sockets from fd 6 on.
    pub socket_count: usize,
    /// `-t`: the transport type (`unix-dgram`).
    pub transport: Option<String>,
    /// `-u`: drop to mail_owner.
    pub unprivileged: bool,
    /// `-v`, once per level.
    pub verbose: u32,
    /// `-V`: log to stderr too.
    pub stderr: bool,
    /// `-i`, `-m` and `-o` in order, as main.cf updates.
    pub updates: Vec<(String, String)>,
    /// The arguments after the options.
    pub rest: Vec<String>,
    /// `-S` (stream skeletons): one client on standard input and output,
    /// no master.
    pub stand_alone: bool,
    /// `-r` (single_server, event_server): the retirement time in seconds,
    /// for a service that asks to retire.
    pub retire: Option<i32>,
}

/// A bad command line: Postfix's fatal text, and the options read before
/// the bad one (they still count: `-V` among them).
#[derive(Debug)]
pub struct OptionError {
    /// The options before the bad one.
    pub partial: DaemonOptions,
    /// What was wrong.
    pub kind: OptionErrorKind,
}

/// What was wrong with the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionErrorKind {
    /// getopt's `?`: unknown, or a value missing.
    Invalid(char),
    /// `-s` not a positive number.
    SocketCount(String),
    /// `-r` not a positive number.
    RetireTime(String),
    /// `-o` without `name=value`.
    BadOverride {
        /// The `-o` value.
        value: String,
        /// What split_nameval said.
        why: String,
    },
}

impl std::fmt::Display for OptionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            OptionErrorKind::Invalid(c) => write!(f, "invalid option: {c}"),
            OptionErrorKind::SocketCount(v) => write!(f, "invalid socket_count: {v}"),
            OptionErrorKind::RetireTime(v) => write!(f, "invalid retirement time: {v}"),
            OptionErrorKind::BadOverride { value, why } => {
                write!(f, "invalid \"-o {value}\" option value: {why}")
            }
        }
    }
}

impl std::error::Error for OptionError {}

/// Parses the daemon options with getopt's rules.
pub fn parse_options(args: &[String]) -> Result<DaemonOptions, Box<OptionError>> {
    parse_options_with(args, "cdDi:lm:n:o:s:t:uvVz")
}

/// The same with a skeleton's own getopt string.
pub fn parse_options_with(
    args: &[String],
    getopt: &str,
) -> Result<DaemonOptions, Box<OptionError>> {
    let mut o = DaemonOptions {
        daemon_mode: true,
        socket_count: 1,
        ..Default::default()
    };
    let mut g = Getopt::new(args, getopt);
    for opt in g.by_ref() {
        let fail = |o: DaemonOptions, kind| Err(Box::new(OptionError { partial: o, kind }));
        match opt {
            Ok(Opt::Flag('c')) => o.chroot = true,
            Ok(Opt::Flag('d')) => o.daemon_mode = false,
            Ok(Opt::Flag('D')) => o.debug = true,
            Ok(Opt::Value('i', v)) => o.updates.push(("max_idle".into(), v)),
            Ok(Opt::Flag('l')) => o.alone = true,
            Ok(Opt::Value('m', v)) => o.updates.push(("max_use".into(), v)),
            Ok(Opt::Value('n', v)) => o.service_name = Some(v),
            Ok(Opt::Value('o', value)) => match crate::util::split_nameval::split_nameval(&value) {
                Ok((n, v)) => o.updates.push((n.to_string(), v.to_string())),
                Err(why) => {
                    let why = why.to_string();
                    return fail(o, OptionErrorKind::BadOverride { value, why });
                }
            },
            Ok(Opt::Value('s', v)) => {
                let n = c_atoi(&v);
                if n <= 0 {
                    return fail(o, OptionErrorKind::SocketCount(v));
                }
                o.socket_count = n as usize;
            }
            Ok(Opt::Value('r', v)) => {
                let n = c_atoi(&v);
                if n <= 0 {
                    return fail(o, OptionErrorKind::RetireTime(v));
                }
                o.retire = Some(n.min(i64::from(i32::MAX)) as i32);
            }
            Ok(Opt::Value('t', v)) => o.transport = Some(v),
            Ok(Opt::Flag('u')) => o.unprivileged = true,
            Ok(Opt::Flag('v')) => o.verbose += 1,
            Ok(Opt::Flag('V')) => o.stderr = true,
            Ok(Opt::Flag('z')) => o.zero_limit = true,
            Ok(Opt::Flag('S')) => o.stand_alone = true,
            Ok(Opt::Flag(c) | Opt::Value(c, _)) => return fail(o, OptionErrorKind::Invalid(c)),
            Err(e @ (GetoptError::Unknown(_) | GetoptError::MissingValue(_))) => {
                return fail(o, OptionErrorKind::Invalid(e.option()));
            }
        }
    }
    o.rest = g.rest().to_vec();
    Ok(o)
}

/// C's `atoi()`: leading white space, a sign, digits; anything else stops.
fn c_atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits: String = rest
        .chars()
        .take_while(char::is_ascii_digit)
        .take(18)
        .collect();
    let v: i64 = digits.parse().unwrap_or(0);
    if neg { -v } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(a: &[String]) -> String {
        parse_options(a).unwrap_err().to_string()
    }

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn getopt_rules() {
        let o = parse_options(&args("-lu -tunix-dgram -n postlog -o a=b rest -v")).unwrap();
        assert!(o.alone && o.unprivileged);
        assert_eq!(o.transport.as_deref(), Some("unix-dgram"));
        assert_eq!(o.service_name.as_deref(), Some("postlog"));
        assert_eq!(o.updates, vec![("a".to_string(), "b".to_string())]);
        assert_eq!(o.rest, args("rest -v"));
        assert_eq!(parse_err(&args("-x")), "invalid option: x");
        assert_eq!(parse_err(&args("-i")), "invalid option: i");
        assert_eq!(parse_err(&args("-s 0")), "invalid socket_count: 0");
        assert_eq!(parse_err(&args("-s x")), "invalid socket_count: x");
        assert_eq!(parse_options(&args("-s 2x")).unwrap().socket_count, 2);
        assert_eq!(
            parse_err(&args("-o novalue")),
            "invalid \"-o novalue\" option value: missing '=' after attribute name"
        );
        // -r: only where the skeleton's getopt string has it.
        assert_eq!(parse_err(&args("-r 5")), "invalid option: r");
        let single = "cdDi:lm:n:o:r:s:St:uvVz";
        let r = |a: &str| parse_options_with(&args(a), single);
        assert_eq!(r("-r 30").unwrap().retire, Some(30));
        assert_eq!(
            r("-r 0").unwrap_err().to_string(),
            "invalid retirement time: 0"
        );
        assert_eq!(
            r("-r x").unwrap_err().to_string(),
            "invalid retirement time: x"
        );
        let o = parse_options(&args("-i 5 -m 7")).unwrap();
        assert_eq!(
            o.updates,
            vec![
                ("max_idle".into(), "5".into()),
                ("max_use".into(), "7".into())
            ]
        );
    }

    #[test]
    fn options_before_the_bad_one_count() {
        let e = parse_options(&args("-V -x")).unwrap_err();
        assert!(e.partial.stderr);
    }
}
