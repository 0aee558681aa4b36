//! master.cf: one service per logical line, eight fields and the command's
//! arguments, with Postfix's defaults for `-`, its error texts (naming the
//! file and the line) and the argv the master builds for each service.

use crate::global::config_error::ConfigError;
use crate::util::mystrtok::{extpar, is_blank, mystrtokq};
use crate::util::readlline::logical_lines;

/// The five transport types of master.cf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServType {
    /// `inet`: a TCP socket.
    Inet,
    /// `unix`: a UNIX-domain stream socket.
    Unix,
    /// `unix-dgram`: a UNIX-domain datagram socket.
    UnixDgram,
    /// `fifo`: a named pipe.
    Fifo,
    /// `pass`: a socket over which descriptors are passed.
    Pass,
}

impl ServType {
    /// The type master.cf's second column names.
    pub fn parse(s: &str) -> Option<ServType> {
        Some(match s {
            "inet" => ServType::Inet,
            "unix" => ServType::Unix,
            "unix-dgram" => ServType::UnixDgram,
            "fifo" => ServType::Fifo,
            "pass" => ServType::Pass,
            _ => return None,
        })
    }

    /// The type as master.cf spells it.
    pub fn name(self) -> &'static str {
        match self {
            ServType::Inet => "inet",
            ServType::Unix => "unix",
            ServType::UnixDgram => "unix-dgram",
            ServType::Fifo => "fifo",
            ServType::Pass => "pass",
        }
    }
}

/// One master.cf entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterEnt {
    /// The service field as written (`postlog`, `127.0.0.1:10025`).
    pub ext_name: String,
    /// The endpoint: `public/postlog`, `private/foo`, or the inet address.
    pub name: String,
    /// The service type.
    pub kind: ServType,
    /// Under `private/` (column 3).
    pub private: bool,
    /// Runs as mail_owner (column 4).
    pub unprivileged: bool,
    /// Chrooted to queue_directory (column 5).
    pub chroot: bool,
    /// Seconds between wakeup requests (column 6; 0: none).
    pub wakeup_time: i32,
    /// `?` after the wakeup time: no wakeups until the service was used.
    pub wakeup_conditional: bool,
    /// 0 = no limit.
    pub max_proc: i32,
    /// The command name (column 8's first word).
    pub command: String,
    /// `$daemon_directory/command`.
    pub path: String,
    /// The argv the child gets.
    pub argv: Vec<String>,
    /// First line of the entry.
    pub line: usize,
    /// Where master.cf's own arguments begin in `argv` (the master's
    /// `-o stress=` and `-s N` of an inet service go before them).
    pub user_args_at: usize,
    /// An inet service's socket addresses (`master_inet` fills them in).
    pub addrs: Vec<std::net::SocketAddr>,
    /// The listen() backlog: the larger of the process limit and
    /// default_process_limit, as Postfix's master.
    pub backlog: i32,
}

impl MasterEnt {
    /// The endpoint as Postfix's messages name it: `public/name` or
    /// `private/name`, an inet service by the canonical `[addr]:port` (or
    /// port) that master_inet gives it.
    pub fn postfix_name(&self) -> &str {
        &self.name
    }
}

/// What the parser needs from main.cf and the master's own options.
#[derive(Debug, Clone)]
pub struct EntContext {
    /// Where relative command names are found.
    pub daemon_directory: String,
    /// The process limit for `-` in column 7.
    pub default_process_limit: i32,
    /// compatibility_level >= 1: chroot defaults to n.
    pub compat_ge_1: bool,
    /// The master runs with -d: children get -d.
    pub foreground: bool,
    /// The master runs with -v: children get -v.
    pub verbose: bool,
    /// `master_service_disable`.
    pub master_service_disable: String,
}

impl Default for EntContext {
    /// Postfix's defaults (Debian's daemon_directory, compatibility level
    /// 1 or later), a master in the background: for tests and fuzzing.
    fn default() -> Self {
        EntContext {
            daemon_directory: "/usr/lib/postfix/sbin".into(),
            default_process_limit: 100,
            compat_ge_1: true,
            foreground: false,
            verbose: false,
            master_service_disable: String::new(),
        }
    }
}

/// Splits the arguments after the command: blanks separate, but not inside
/// `{...}`; a token that starts with `{` must be one balanced group, whose
/// braces and surrounding blanks are removed.
fn split_args(text: &str) -> Result<Vec<String>, String> {
    mystrtokq(text, is_blank)
        .into_iter()
        .map(|t| {
            if t.starts_with('{') {
                extpar(&t)
            } else {
                Ok(t)
            }
        })
        .collect()
}

/// The text after the first `n` blank-separated tokens.
fn after_tokens(text: &str, n: usize) -> &str {
    let mut rest = text;
    for _ in 0..n {
        rest = rest.trim_start_matches(is_blank);
        rest = &rest[rest.find(is_blank).unwrap_or(rest.len())..];
    }
    rest
}

/// `master_service_disable`: `name/type` or `type` patterns, `!` negates,
/// the first match wins.
pub fn service_disabled(list: &str, name: &str, kind: &str) -> bool {
    let id = format!("{name}/{kind}").to_ascii_lowercase();
    for item in list
        .split([',', ' ', '\t', '\r', '\n'])
        .filter(|s| !s.is_empty())
    {
        let (negate, pat) = match item.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, item),
        };
        let mut pat = pat.to_ascii_lowercase();
        if !pat.contains('/')
            && let Some(dot) = pat.rfind('.')
        {
            pat.replace_range(dot..dot + 1, "/");
        }
        let hit = if pat.contains('/') {
            pat == id
        } else {
            pat == kind.to_ascii_lowercase()
        };
        if hit {
            return !negate;
        }
    }
    false
}

/// Parses master.cf text.  `warn` receives warnings; the error is
/// Postfix's fatal text, `PATH: line N: MESSAGE`.
pub fn parse_master_cf(
    path: &str,
    text: &str,
    ctx: &EntContext,
    warn: &mut dyn FnMut(String),
) -> Result<Vec<MasterEnt>, ConfigError> {
    let mut entries: Vec<MasterEnt> = Vec::new();
    for line in logical_lines(path, text, warn) {
        let context = |why: String| ConfigError::MasterCf {
            path: path.to_string(),
            line: line.first_line,
            why,
        };
        let mut fields = line.text.split(is_blank).filter(|s| !s.is_empty());
        let take = |fields: &mut dyn Iterator<Item = &str>,
                    name: &str,
                    default: Option<&str>|
         -> Result<String, ConfigError> {
            let v = fields
                .next()
                .ok_or_else(|| context(format!("missing \"{name}\" field")))?;
            if v == "-" {
                match default {
                    Some(d) => Ok(d.to_string()),
                    None => Err(context(format!("field \"{name}\" has no default value"))),
                }
            } else {
                Ok(v.to_string())
            }
        };
        let Some(ext_name) = fields.next().map(str::to_string) else {
            continue;
        };
        let transport = take(&mut fields, "transport type", None)?;
        if service_disabled(&ctx.master_service_disable, &ext_name, &transport) {
            continue;
        }
        let kind = ServType::parse(&transport)
            .ok_or_else(|| context(format!("bad transport type: {transport}")))?;
        let boolean = |v: String, name: &str| -> Result<bool, ConfigError> {
            match v.as_str() {
                "y" => Ok(true),
                "n" => Ok(false),
                _ => Err(context(format!("field \"{name}\": bad value: \"{v}\""))),
            }
        };
        if kind == ServType::Inet {
            crate::util::host_port::host_port(&ext_name)
                .map_err(|why| context(format!("{why} in \"{ext_name}\"")))?;
        }
        let private = boolean(take(&mut fields, "private", Some("y"))?, "private")?;
        if kind == ServType::Inet && private {
            return Err(context("inet service cannot be private".into()));
        }
        let unprivileged = boolean(
            take(&mut fields, "unprivileged", Some("y"))?,
            "unprivileged",
        )?;
        let chroot_default = if ctx.compat_ge_1 { "n" } else { "y" };
        let chroot_raw = fields.clone().next().unwrap_or_default().to_string();
        let chroot = boolean(take(&mut fields, "chroot", Some(chroot_default))?, "chroot")?;
        if chroot_raw == "-" && !ctx.compat_ge_1 {
            crate::msg_info!(
                "{path}: line {}: using backwards-compatible default setting chroot=y",
                line.first_line
            );
        }
        let integer = |v: String, name: &str| -> Result<i32, ConfigError> {
            if !v.starts_with(|c: char| c.is_ascii_digit()) {
                return Err(context(format!("field \"{name}\": bad value: \"{v}\"")));
            }
            let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
            digits
                .parse::<i32>()
                .map_err(|_| context(format!("field \"{name}\": bad value: \"{v}\"")))
        };
        let wakeup_raw = take(&mut fields, "wakeup_time", Some("0"))?;
        let wakeup_time = integer(wakeup_raw.clone(), "wakeup_time")?;
        let wakeup_conditional = wakeup_time > 0 && wakeup_raw.ends_with('?');
        let limit = ctx.default_process_limit.to_string();
        let max_proc = integer(take(&mut fields, "max_proc", Some(&limit))?, "max_proc")?;
        let command = take(&mut fields, "command", None)?;
        let rest = after_tokens(&line.text, 8);
        let user_args = split_args(rest).map_err(context)?;

        let name = match kind {
            ServType::Inet => ext_name.clone(),
            _ => format!("{}/{ext_name}", if private { "private" } else { "public" }),
        };
        // An inet service's stress flag depends on its addresses, known
        // only once they are looked up (master_inet); a pass service may
        // have remote clients.
        let stress = kind == ServType::Pass && max_proc > 1;
        let mut argv = vec![command.clone()];
        if max_proc == 1 {
            argv.push("-l".into());
        }
        if max_proc == 0 {
            argv.push("-z".into());
        }
        if command.rsplit('/').next() != Some(ext_name.as_str()) {
            argv.extend(["-n".into(), ext_name.clone()]);
        }
        argv.extend(["-t".into(), transport.clone()]);
        if ctx.foreground {
            argv.push("-d".into());
        }
        if ctx.verbose {
            argv.push("-v".into());
        }
        if unprivileged {
            argv.push("-u".into());
        }
        if chroot {
            argv.push("-c".into());
        }
        if stress {
            argv.extend(["-o".into(), "stress=".into()]);
        }
        let user_args_at = argv.len();
        argv.extend(user_args);
        let ent = MasterEnt {
            ext_name,
            name,
            kind,
            private,
            unprivileged,
            chroot,
            wakeup_time,
            wakeup_conditional,
            max_proc,
            path: format!("{}/{command}", ctx.daemon_directory),
            command,
            argv,
            line: line.first_line,
            user_args_at,
            addrs: Vec::new(),
            backlog: max_proc.max(ctx.default_process_limit),
        };
        if let Some(i) = entries
            .iter()
            .position(|e| e.name == ent.name && e.kind == ent.kind)
        {
            warn(format!(
                "duplicate master.cf entry for service \"{}\" ({}) -- using the last entry",
                ent.ext_name, ent.name
            ));
            entries.remove(i);
        }
        entries.push(ent);
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {

    use super::*;

    fn ctx() -> EntContext {
        EntContext::default()
    }

    fn parse(text: &str) -> Result<Vec<MasterEnt>, String> {
        parse_master_cf("/etc/postfix/master.cf", text, &ctx(), &mut |_| {})
            .map_err(|e| e.to_string())
    }

    #[test]
    fn postlog_argv() {
        let e =
            parse("postlog   unix-dgram n  -       n       -       1       postlogd\n").unwrap();
        assert_eq!(
            e[0].argv,
            ["postlogd", "-l", "-n", "postlog", "-t", "unix-dgram", "-u"]
        );
        assert_eq!(e[0].name, "public/postlog");
        assert_eq!(e[0].path, "/usr/lib/postfix/sbin/postlogd");
    }

    #[test]
    fn fields_defaults_and_args() {
        let e = parse(
            "# comment\nfoo unix - n y 60? 0 foo\n  -o { smtpd_banner = a b }\n# inner\n  -v\nbar fifo n - - - - cmd x\n",
        )
        .unwrap();
        assert_eq!(
            e[0].argv,
            [
                "foo",
                "-z",
                "-t",
                "unix",
                "-c",
                "-o",
                "smtpd_banner = a b",
                "-v"
            ]
        );
        assert!(e[0].wakeup_conditional && e[0].wakeup_time == 60);
        assert_eq!(e[0].name, "private/foo");
        assert_eq!(e[1].max_proc, 100);
        assert_eq!(e[1].argv, ["cmd", "-n", "bar", "-t", "fifo", "-u", "x"]);
    }

    #[test]
    fn errors_name_file_and_line() {
        let p = "/etc/postfix/master.cf";
        assert_eq!(
            parse("\nfoo\n").unwrap_err(),
            format!("{p}: line 2: missing \"transport type\" field")
        );
        assert_eq!(
            parse("foo bogus\n").unwrap_err(),
            format!("{p}: line 1: bad transport type: bogus")
        );
        assert_eq!(
            parse("foo unix x\n").unwrap_err(),
            format!("{p}: line 1: field \"private\": bad value: \"x\"")
        );
        assert_eq!(
            parse("foo unix - - - - -\n").unwrap_err(),
            format!("{p}: line 1: missing \"command\" field")
        );
        assert_eq!(
            parse("foo unix - - - - - -\n").unwrap_err(),
            format!("{p}: line 1: field \"command\" has no default value")
        );
        assert_eq!(
            parse("foo unix - - - x - c\n").unwrap_err(),
            format!("{p}: line 1: field \"wakeup_time\": bad value: \"x\"")
        );
        assert_eq!(
            parse("foo inet y - - - - c\n").unwrap_err(),
            format!("{p}: line 1: inet service cannot be private")
        );
        assert_eq!(
            parse("foo unix - - - - - c {a\n").unwrap_err(),
            format!("{p}: line 1: missing '}}' in \"{{a\"")
        );
        assert_eq!(
            parse("foo unix - - - - - c {a}b\n").unwrap_err(),
            format!("{p}: line 1: syntax error after '}}' in \"{{a}}b\"")
        );
    }

    #[test]
    fn disable_and_duplicates() {
        assert!(service_disabled("unix", "x", "unix"));
        assert!(service_disabled("x/unix", "x", "unix"));
        assert!(service_disabled("x.unix", "x", "unix"));
        assert!(!service_disabled("!x/unix, unix", "x", "unix"));
        let mut w = Vec::new();
        let e = parse_master_cf(
            "m",
            "a unix - - - - - c1\na unix - - - - - c2\n",
            &ctx(),
            &mut |m| w.push(m),
        )
        .unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].command, "c2");
        assert_eq!(w.len(), 1);
    }
}
