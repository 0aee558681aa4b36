//! `postkit postlog`: log a record the way Postfix's `postlog` does, from
//! the arguments (one record) or from standard input (one record per line).

use std::io::{BufRead, IsTerminal};

use crate::global::mail_conf::MailConf;
use crate::global::mail_params::mail_params_init;
use crate::global::maillog_client::{self, FallbackMode};
use crate::util::getopt::{Getopt, Opt};
use crate::util::msg::{self, Level};
use crate::util::printable::printable;

const USAGE: &str = "usage: postlog [-c config_dir] [-i] [-p priority] [-t tag] [-v] [text]";

fn level(name: &str) -> Option<Level> {
    Some(match name.to_ascii_lowercase().as_str() {
        "info" => Level::Info,
        "warn" | "warning" => Level::Warning,
        "error" | "err" => Level::Error,
        "fatal" | "crit" => Level::Fatal,
        "panic" => Level::Panic,
        _ => return None,
    })
}

/// `postkit postlog [-c dir] [-i] [-p priority] [-t tag] [-v] [text...]`.
pub fn main(args: &[String]) -> i32 {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    msg::set_tag("postlog");
    msg::set_stderr(std::io::stderr().is_terminal());
    let mut config_dir = None;
    let mut tag = None;
    let mut lvl = Level::Info;
    let mut options = Getopt::new(args, "c:ip:t:v");
    for opt in options.by_ref() {
        match opt {
            Ok(Opt::Value('c', v)) => config_dir = Some(v),
            Ok(Opt::Flag('i')) => {}
            Ok(Opt::Value('p', v)) => {
                lvl = level(&v).unwrap_or_else(|| msg::fatal(format!("bad severity: \"{v}\"")));
            }
            Ok(Opt::Value('t', v)) => tag = Some(printable(&v, '?')),
            Ok(Opt::Flag('v')) => msg::set_verbose(msg::verbose() + 1),
            _ => msg::fatal(USAGE),
        }
    }
    let text = options.rest();
    if let Some(d) = &config_dir {
        crate::util::safe_env::set_var("MAIL_CONFIG", d);
    }
    let dir = crate::global::mail_conf::config_dir_from_env();
    let mut conf = MailConf::read(&dir, &mut |m| msg::warn(&m)).unwrap_or_else(|e| msg::fatal(e));
    conf.update("process_name", "postlog");
    let params = mail_params_init(&mut conf).unwrap_or_else(|e| msg::fatal(&e));
    let tag = tag.unwrap_or_else(|| maillog_client::mail_task("postlog", Some(&params)));
    maillog_client::init(&tag, &params, FallbackMode::LogWriter).unwrap_or_else(|e| msg::fatal(&e));
    if !text.is_empty() {
        msg::log(lvl, &text.join(" "));
    } else {
        for line in std::io::stdin().lock().split(b'\n') {
            let Ok(line) = line else { break };
            msg::log(lvl, &String::from_utf8_lossy(&line));
        }
    }
    if lvl >= Level::Fatal {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    0
}
