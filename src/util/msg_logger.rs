//! The postlog client: one datagram per record to postlogd's socket.
//!
//! The record is `Mon dd hh:mm:ss HOST TAG[PID]: [severity: ]TEXT`, with a
//! zero-padded day, HOST the first label of the host name, TEXT cut at 2000
//! bytes, no newline and no NUL: byte for byte what Postfix's client sends.
//! The socket is blocking and send errors are ignored, as in Postfix; when
//! the socket cannot be reached a fallback (if any) gets the record instead.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

use super::msg_output::{Level, MsgOutput};

/// The longest TEXT a record carries.
pub const MSG_LOGGER_RECLEN: usize = 2000;

/// Called with a formatted record when the socket is not available.
pub type Fallback = Box<dyn FnMut(&[u8])>;

/// The client: a connected datagram socket, and what to do without it.
pub struct PostlogClient {
    path: PathBuf,
    host: String,
    socket: Option<UnixDatagram>,
    fallback: Option<Fallback>,
    /// Never try the socket (postlogd's own messages go straight to its file).
    fallback_only: bool,
    /// Never wait for a full socket: hand the record to the fallback instead
    /// (the master must never block on its own logging).
    nonblocking: bool,
}

/// Formats one record at local time `now`.
pub fn format_record<Tz: chrono::TimeZone>(
    now: &chrono::DateTime<Tz>,
    host: &str,
    tag: &str,
    pid: u32,
    level: Level,
    text: &[u8],
) -> Vec<u8>
where
    Tz::Offset: std::fmt::Display,
{
    let host = host.split('.').next().unwrap_or("");
    let mut rec = Vec::with_capacity(64 + text.len().min(MSG_LOGGER_RECLEN));
    rec.extend_from_slice(now.format("%b %d %H:%M:%S ").to_string().as_bytes());
    rec.extend_from_slice(host.as_bytes());
    rec.push(b' ');
    rec.extend_from_slice(tag.as_bytes());
    rec.extend_from_slice(format!("[{pid}]: ").as_bytes());
    if let Some(w) = level.word() {
        rec.extend_from_slice(w.as_bytes());
        rec.extend_from_slice(b": ");
    }
    rec.extend_from_slice(&text[..text.len().min(MSG_LOGGER_RECLEN)]);
    rec
}

impl PostlogClient {
    /// A client for the socket at `path`, records naming `host`.
    pub fn new(path: impl Into<PathBuf>, host: &str, fallback: Option<Fallback>) -> Self {
        let mut c = PostlogClient {
            path: path.into(),
            host: host.to_string(),
            socket: None,
            fallback,
            fallback_only: false,
            nonblocking: false,
        };
        c.connect();
        c
    }

    /// A client that never uses a socket: every record goes to `fallback`
    /// (the log service's own messages).
    pub fn fallback_only(host: &str, fallback: Fallback) -> Self {
        PostlogClient {
            path: PathBuf::new(),
            host: host.to_string(),
            socket: None,
            fallback: Some(fallback),
            fallback_only: true,
            nonblocking: false,
        }
    }

    /// Connects now, so that a process that later chroots keeps its socket.
    pub fn connect(&mut self) {
        if self.socket.is_none() && !self.fallback_only {
            self.socket = UnixDatagram::unbound()
                .and_then(|s| s.connect(&self.path).map(|_| s))
                .ok();
            if self.nonblocking
                && let Some(s) = &self.socket
            {
                let _ = s.set_nonblocking(true);
            }
        }
    }

    /// Sends without waiting; a record the socket cannot take now goes to
    /// the fallback (the log file itself), so none is lost.
    pub fn set_nonblocking(&mut self) {
        self.nonblocking = true;
        if let Some(s) = &self.socket {
            let _ = s.set_nonblocking(true);
        }
    }

    /// From now on every record goes to the fallback, if there is one (the
    /// master's last records, once the log service has exited).
    pub fn use_fallback_only(&mut self) {
        if self.fallback.is_some() {
            self.fallback_only = true;
            self.socket = None;
        }
    }

    /// Back to the socket after `use_fallback_only`.
    pub fn use_socket(&mut self) {
        self.fallback_only = false;
    }

    /// The connected socket's descriptor (for the watchdog's last record).
    pub fn raw_fd(&self) -> Option<i32> {
        use std::os::fd::AsRawFd;
        self.socket.as_ref().map(|s| s.as_raw_fd())
    }

    /// Never uses the socket again: every record goes to `fallback` (postlogd's own messages).
    pub fn set_fallback_only(&mut self, fallback: Fallback) {
        self.fallback = Some(fallback);
        self.fallback_only = true;
        self.socket = None;
    }

    /// Formats and sends one message.
    pub fn send(&mut self, tag: &str, level: Level, text: &str) {
        let rec = format_record(
            &chrono::Local::now(),
            &self.host,
            tag,
            std::process::id(),
            level,
            text.as_bytes(),
        );
        self.send_record(&rec);
    }

    /// Sends one formatted record (or hands it to the fallback).
    pub fn send_record(&mut self, rec: &[u8]) {
        self.connect();
        let sent = match &self.socket {
            Some(s) => match s.send(rec) {
                Ok(_) => true,
                // A blocking client ignores errors, as Postfix's does; a
                // non-blocking one falls back.
                Err(_) if !self.nonblocking => true,
                Err(e) => {
                    if e.kind() != std::io::ErrorKind::WouldBlock {
                        // postlogd's socket was re-created: reconnect next time.
                        self.socket = None;
                    }
                    false
                }
            },
            None => false,
        };
        if !sent && let Some(f) = self.fallback.as_mut() {
            f(rec);
        }
    }
}

impl MsgOutput for PostlogClient {
    fn output(&mut self, tag: &str, level: Level, text: &str) {
        self.send(tag, level, text);
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn record_format() {
        let t = chrono::FixedOffset::east_opt(0)
            .unwrap()
            .with_ymd_and_hms(2026, 3, 6, 9, 5, 7)
            .unwrap();
        let r = format_record(
            &t,
            "vm.example.com",
            "test",
            1234,
            Level::Warning,
            b"hello world",
        );
        assert_eq!(r, b"Mar 06 09:05:07 vm test[1234]: warning: hello world");
        let long = vec![b'x'; 2500];
        let r = format_record(&t, "vm", "t", 1, Level::Info, &long);
        assert_eq!(r.len(), "Mar 06 09:05:07 vm t[1]: ".len() + 2000);
    }
}
