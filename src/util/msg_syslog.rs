//! Syslog output, written straight to `/dev/log` so that a record can carry
//! any tag (postlogd forwards each record under its sender's `NAME[PID]`).
//! Format as glibc's `syslog()`: `<PRI>Mmm dd hh:mm:ss TAG[PID]: TEXT`.

use std::os::unix::net::UnixDatagram;

use super::msg_output::{Level, MsgOutput};

/// A client of the system logger's socket.
pub struct SyslogClient {
    facility: u8,
    socket: Option<UnixDatagram>,
}

/// Facility names as main.cf's `syslog_facility` spells them.
pub fn facility_code(name: &str) -> Option<u8> {
    Some(match name.to_ascii_lowercase().as_str() {
        "kern" => 0,
        "user" => 1,
        "mail" => 2,
        "daemon" => 3,
        "auth" => 4,
        "syslog" => 5,
        "lpr" => 6,
        "news" => 7,
        "uucp" => 8,
        "cron" => 9,
        "authpriv" => 10,
        "ftp" => 11,
        "local0" => 16,
        "local1" => 17,
        "local2" => 18,
        "local3" => 19,
        "local4" => 20,
        "local5" => 21,
        "local6" => 22,
        "local7" => 23,
        _ => return None,
    })
}

impl SyslogClient {
    /// A client of the system logger at `/dev/log`, or at the path in
    /// `POSTKIT_SYSLOG_SOCKET` (for tests, which must not touch the
    /// machine's logger; a master passes it on when import_environment
    /// names it).
    pub fn new(facility: u8) -> Self {
        let path = std::env::var_os("POSTKIT_SYSLOG_SOCKET").unwrap_or_else(|| "/dev/log".into());
        let socket = UnixDatagram::unbound()
            .and_then(|s| s.connect(&path).map(|_| s))
            .ok();
        SyslogClient { facility, socket }
    }

    /// Sends under `tag`; a tag that already names a pid (`name[123]`) gets
    /// no pid of ours, as Postfix drops LOG_PID for forwarded records.
    pub fn send(&mut self, tag: &str, level: Level, text: &str) {
        let Some(sock) = &self.socket else { return };
        let severity = match level {
            Level::Info => 6,
            Level::Warning => 4,
            Level::Error => 3,
            Level::Fatal | Level::Panic => 2,
        };
        let pri = u32::from(self.facility) * 8 + severity;
        let now = chrono::Local::now().format("%b %e %H:%M:%S");
        let head = if tag.contains('[') {
            format!("<{pri}>{now} {tag}: ")
        } else {
            format!("<{pri}>{now} {tag}[{}]: ", std::process::id())
        };
        let body = match level.word() {
            Some(w) => format!("{w}: {text}"),
            None => text.to_string(),
        };
        let body = &body.as_bytes()[..body.len().min(2000)];
        let mut rec = head.into_bytes();
        rec.extend_from_slice(body);
        let _ = sock.send(&rec);
    }
}

impl MsgOutput for SyslogClient {
    fn output(&mut self, tag: &str, level: Level, text: &str) {
        self.send(tag, level, text);
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
