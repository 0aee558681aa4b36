//! postlogd: the log service.  Each datagram a client sends becomes one
//! line of `maillog_file` (or, with `maillog_file` empty, a syslog record
//! under the sender's own `name[pid]`).
//!
//! As Postfix's, it runs alone (process limit 1), never exits on the use
//! limit, exits when idle, and has a 10 s watchdog.  Unlike Postfix's, it
//! turns control characters inside a datagram into `?`, so that one
//! datagram is always exactly one line and nobody can forge a log line.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use crate::master::dgram_server::{Ctx, DgramServer};
use crate::util::msg;
use crate::util::msg::Level;
use crate::util::msg_syslog::{SyslogClient, facility_code};
use crate::{msg_fatal, msg_warn};

#[derive(Default)]
struct Postlogd {
    watchdog: i32,
    file: Option<File>,
    path: String,
    /// A write failed; said once, until a write works again.
    failing: bool,
    line: Vec<u8>,
    syslog: Option<SyslogClient>,
}

/// Control characters (newline above all) become `?`: one datagram, one line.
pub fn sanitize_into(out: &mut Vec<u8>, data: &[u8]) {
    out.extend(
        data.iter()
            .map(|&b| if b < 0x20 || b == 0x7f { b'?' } else { b }),
    );
}

fn pre_init(s: &mut Postlogd, ctx: &mut Ctx) {
    if let Some(arg) = ctx.argv.first() {
        msg_fatal!("unexpected command-line argument: {arg}");
    }
    let path = ctx.params.maillog_file.clone();
    if path.is_empty() {
        s.syslog = Some(SyslogClient::new(
            facility_code(&ctx.params.syslog_facility).unwrap_or(2),
        ));
        return;
    }
    let mode = ctx.params.maillog_file_permissions;
    match crate::util::safe_open::safe_open(Path::new(&path), false, true, mode) {
        Ok(f) => s.file = Some(f),
        Err(why) => msg_fatal!("open logfile '{path}': {why}"),
    }
    s.path = path.clone();
    // From now on postlogd's own messages go straight into the file: it
    // must not send them to its own socket.
    let fallback = crate::global::maillog_client::logwriter_fallback(path, mode);
    msg::with_postlog(|p| p.set_fallback_only(fallback));
}

/// One datagram: one line, buffered until the end of the batch.
fn service(s: &mut Postlogd, data: &[u8], _ctx: &mut Ctx) {
    if let Some(sys) = s.syslog.as_mut() {
        forward_to_syslog(sys, data);
        return;
    }
    sanitize_into(&mut s.line, data);
    s.line.push(b'\n');
}

/// The end of a batch: its lines go out in one write, before the master
/// hears that postlogd is idle, so the file is never behind by more than
/// the batch being handled.
fn flush(s: &mut Postlogd, _ctx: &mut Ctx) {
    if s.line.is_empty() {
        return;
    }
    let Some(file) = s.file.as_mut() else {
        s.line.clear();
        return;
    };
    let result = file.write_all(&s.line);
    s.line.clear();
    match result {
        Ok(()) => {
            if s.failing {
                s.failing = false;
                crate::msg_info!("logfile '{}' is writable again", s.path);
            }
        }
        Err(e) => {
            if !s.failing {
                s.failing = true;
                msg_warn!(
                    "logfile '{}' write error: {}",
                    s.path,
                    crate::util::errno_text(&e)
                );
            }
        }
    }
}

/// `Mon dd hh:mm:ss host name[pid]: text` goes to syslog as `text` under
/// `name[pid]`.
fn forward_to_syslog(sys: &mut SyslogClient, data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut rest = text.as_ref();
    for _ in 0..4 {
        rest = rest.trim_start();
        rest = &rest[rest.find(char::is_whitespace).unwrap_or(rest.len())..];
    }
    rest = rest.trim_start();
    let end = rest
        .find(|c: char| c == ':' || c.is_whitespace())
        .unwrap_or(rest.len());
    let (name, body) = rest.split_at(end);
    let body = body.strip_prefix(':').unwrap_or(body).trim_start();
    sys.send(
        name,
        Level::Info,
        &crate::util::printable::printable(body, '?'),
    );
}

/// Entry point, as `postlogd` started by a master.
pub fn main(args: &[String]) -> i32 {
    DgramServer::new(Postlogd::default())
        .time_param("postlogd_watchdog_timeout", "10s", 10, 0, |s, v| {
            s.watchdog = v
        })
        .pre_init(pre_init)
        .batch_end(flush)
        .post_init(|_, ctx| ctx.max_use = 0)
        .solitary()
        .watchdog(|s| s.watchdog)
        .run_with_args(args, service)
}
