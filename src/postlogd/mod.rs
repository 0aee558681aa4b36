//! postlogd: the log service.  Each datagram a client sends becomes one
//! line of `maillog_file` (or, with `maillog_file` empty, a syslog record
//! under the sender's own `name[pid]`).
//!
//! As Postfix's, it runs alone (process limit 1), never exits on the use
//! limit, exits when idle, and has a 10 s watchdog.  Unlike Postfix's, it
//! turns control characters inside a datagram into `?`, so that one
//! datagram is always exactly one line and nobody can forge a log line.

use std::fs::File;
use std::time::Duration;

use crate::global::config_error::ConfigError;
use crate::global::mail_conf::MailConf;
use crate::global::mail_conf_types::{ParamType, TimeParam};
use crate::global::maillog_client::{
    LogPolicy, LogTarget, cut_record_note, logwriter_fallback, set_policy,
};
use crate::server::dgram_server::{Ctx, DGRAM_BUF_SIZE, DgramServer};
use crate::util::append_lines::{Appended, append_lines_locked};
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
    /// Whole lines not yet written: the batch being handled, and while the
    /// file cannot be written (disk full), what waits for it to recover.
    line: Vec<u8>,
    /// Records refused because MAX_PENDING bytes were already waiting.
    dropped: u64,
    /// The file's length after this process's last append.
    end: Option<u64>,
    /// The writers' lock was found held by someone else (said once).
    lock_held_elsewhere: bool,
    /// Counters for `postkit status`: records and bytes written, records
    /// dropped while the file could not be written, cut records removed.
    written: u64,
    bytes: u64,
    dropped_total: u64,
    cut_removed: u64,
    syslog: Option<SyslogClient>,
}

/// How much postlogd holds while its file cannot be written; records past
/// this are counted and reported when the file recovers.
pub const MAX_PENDING: usize = 4 << 20;

/// How often a waiting write is retried while no datagram comes.
const RETRY: Duration = Duration::from_secs(1);

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
    match crate::global::maillog_client::open_logfile(&path, mode, &ctx.params.mail_owner) {
        Ok(f) => s.file = Some(f),
        Err(why) => {
            // Sent to its own socket this would reach nobody (Postfix's
            // postlogd loses it so): say it on stderr and to syslog.
            crate::global::maillog_client::set_postlog(None);
            msg::set_stderr(true);
            crate::global::maillog_client::set_syslog(Some(SyslogClient::new(
                facility_code(&ctx.params.syslog_facility).unwrap_or(2),
            )));
            msg_fatal!("open logfile '{path}': {why}")
        }
    }
    s.path = path.clone();
    // postlogd's own messages go into the file through a descriptor opened
    // now, as root: after the privilege drop it could not open a root-owned
    // 0600 file by name.  (They never go to its own socket: see log_writer.)
    if let Some(file) = s.file.as_ref().and_then(|f| f.try_clone().ok()) {
        let fallback = logwriter_fallback(LogTarget::File(file, path.clone()));
        set_policy(LogPolicy::LogWriter(fallback));
    }
    if !path.starts_with("/dev/")
        && let Some(file) = s.file.as_ref()
    {
        let appended = append_lines_locked(file, b"", DGRAM_BUF_SIZE, None);
        s.end = appended.end;
        if let Some(cut) = appended.removed {
            s.cut_removed += 1;
            msg_warn!("{}", cut_record_note(&path, cut));
        }
    }
}

/// One datagram: one line, buffered until the end of the batch.
fn service(s: &mut Postlogd, data: &[u8], _ctx: &mut Ctx) {
    if let Some(sys) = s.syslog.as_mut() {
        forward_to_syslog(sys, data);
        return;
    }
    if s.line.len() >= MAX_PENDING {
        s.dropped += 1;
        s.dropped_total += 1;
        return;
    }
    sanitize_into(&mut s.line, data);
    s.line.push(b'\n');
}

/// The end of a batch: its lines go out in one write, before the master
/// hears that postlogd is idle, so the file is never behind by more than
/// the batch being handled.  What cannot be written (disk full, say) stays,
/// whole lines only (see append_lines), and goes out when the file can
/// take it again.
fn flush(s: &mut Postlogd, _ctx: &mut Ctx) {
    let Some(file) = s.file.as_mut() else {
        s.line.clear();
        return;
    };
    let Appended {
        written,
        error,
        removed,
        end,
        locked,
    } = append_lines_locked(file, &s.line, DGRAM_BUF_SIZE, s.end);
    s.end = end;
    s.written += s.line[..written].iter().filter(|b| **b == b'\n').count() as u64;
    s.bytes += written as u64;
    s.line.drain(..written);
    // A lock someone else holds does not stop the log; it is said once.
    if !locked && !s.lock_held_elsewhere {
        s.lock_held_elsewhere = true;
        msg_warn!(
            "logfile '{}': another process holds its lock; writing without it",
            s.path
        );
    } else if locked {
        s.lock_held_elsewhere = false;
    }
    if removed.is_some() {
        s.cut_removed += 1;
    }
    if let Some(cut) = removed {
        msg_warn!("{}", cut_record_note(&s.path, cut));
    }
    if let Some(e) = error {
        if !s.failing {
            s.failing = true;
            let why = crate::util::errno_text(&e);
            msg_warn!(
                "logfile '{}' write error: {why}; holding records until it can be written",
                s.path
            );
        }
        return;
    }
    if s.failing {
        s.failing = false;
        crate::msg_info!("logfile '{}' is writable again", s.path);
    }
    if s.dropped > 0 {
        msg_warn!(
            "{} record(s) dropped while logfile '{}' could not be written",
            s.dropped,
            s.path
        );
        s.dropped = 0;
    }
}

/// While records wait for the file, retry now and then even if nothing
/// else comes.
fn retry(s: &mut Postlogd, ctx: &mut Ctx) -> Option<Duration> {
    if s.line.is_empty() {
        return None;
    }
    flush(s, ctx);
    (!s.line.is_empty()).then_some(RETRY)
}

/// Last chance for waiting records before the process exits.
fn exit(s: &mut Postlogd, ctx: &mut Ctx) {
    flush(s, ctx);
    if !s.line.is_empty() {
        let lines = s.line.iter().filter(|b| **b == b'\n').count();
        msg_warn!(
            "{lines} record(s) lost: logfile '{}' could not be written before exit",
            s.path
        );
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

/// postlogd's own parameter, with Postfix's default and limits; `check`
/// reads it with the same spec.
pub const WATCHDOG_TIMEOUT: (&str, TimeParam) = (
    "postlogd_watchdog_timeout",
    TimeParam {
        default: "10s",
        min: 10,
        max: 0,
    },
);

/// postlogd as the master and `postkit check` know it.
pub const DAEMON: crate::global::daemon_desc::Daemon = crate::global::daemon_desc::Daemon {
    name: "postlogd",
    main,
    check: check_params,
    watchdog: |conf| WATCHDOG_TIMEOUT.1.read(conf, WATCHDOG_TIMEOUT.0),
    log_writer: true,
};

/// Reads every parameter postlogd reads beyond the global ones, as it reads
/// them (for `postkit check`).
pub fn check_params(conf: &mut MailConf) -> Result<(), ConfigError> {
    WATCHDOG_TIMEOUT.1.read(conf, WATCHDOG_TIMEOUT.0)?;
    crate::server::dgram_server::check_params(conf)
}

/// Entry point, as `postlogd` started by a master.
pub fn main(args: &[String]) -> i32 {
    DgramServer::new(Postlogd::default())
        .param(WATCHDOG_TIMEOUT.0, WATCHDOG_TIMEOUT.1, |s, v| {
            s.watchdog = v
        })
        .pre_init(pre_init)
        .batch_end(flush)
        .loop_hook(retry)
        .exit_hook(exit)
        .post_init(|_, ctx| ctx.max_use = 0)
        .solitary()
        .log_writer()
        .stats(|s| {
            vec![
                ("records_written", s.written),
                ("bytes_written", s.bytes),
                (
                    "records_held",
                    s.line.iter().filter(|b| **b == b'\n').count() as u64,
                ),
                ("records_dropped", s.dropped_total),
                ("cut_records_removed", s.cut_removed),
            ]
        })
        .watchdog(|s| s.watchdog)
        .run_with_args(args, service)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_question_marks() {
        let mut out = Vec::new();
        sanitize_into(&mut out, b"a\nb\x1b[0m\x7f\xc3\xa9");
        assert_eq!(out, b"a?b?[0m?\xc3\xa9");
    }
}
