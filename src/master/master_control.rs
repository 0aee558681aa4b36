//! postkit's control socket (no Postfix counterpart): `pid/master.control`
//! under queue_directory, mode 0600, where `postkit status` asks the
//! running master for its live state.  It is bound under a temporary name
//! and put in place only once every service listens, so that a control
//! socket that answers is the master's readiness contract.  Requests are
//! read when they arrive and never waited for: a silent client cannot
//! stall the master.  An answer is written as the client reads it (the
//! loop watches the connection for room), so it is whole at any size,
//! and a client that stops reading is dropped, never waited for.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

use crate::msg_fatal;

use super::master::{Master, VERSION};

/// The control socket, relative to queue_directory.
pub const CONTROL_SOCKET: &str = "pid/master.control";

/// Most control connections waiting for their request at once.
const MAX_CLIENTS: usize = 16;

/// How long the control socket is left alone when no descriptor is free.
const CONTROL_BACKOFF: Duration = Duration::from_millis(100);

/// How long a control client may stay silent, or leave its answer
/// unread.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// A control connection: waiting for its request, or taking its answer.
pub struct ControlClient {
    /// The connection (non-blocking).
    pub conn: UnixStream,
    /// When it was accepted, or last took part of its answer.
    pub since: Instant,
    /// Its serial number, its token in the event set.
    pub id: u64,
    /// The answer and how much of it was written, once asked.
    answer: Option<(Vec<u8>, usize)>,
}

impl ControlClient {
    /// Registers the connection for what it waits for.
    pub fn watch(&self, events: &super::master_events::Events) {
        let token = super::master_events::Token::Client(self.id);
        if self.answer.is_some() {
            events.add_out(&self.conn, token);
        } else {
            events.add(&self.conn, token);
        }
    }

    /// Writes what the socket takes; true when the answer is all out.
    fn write_some(&mut self) -> bool {
        let Some((buf, done)) = &mut self.answer else {
            return true;
        };
        while *done < buf.len() {
            match self.conn.write(&buf[*done..]) {
                Ok(0) => return true,
                Ok(n) => {
                    *done += n;
                    self.since = Instant::now();
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // The client went away: nothing more to write.
                Err(_) => return true,
            }
        }
        true
    }
}

/// The control socket, bound but not yet in place.
pub struct ControlSocket {
    /// Accepts control connections.
    pub listener: UnixListener,
    temp: String,
}

impl ControlSocket {
    /// Binds the socket under a temporary name (relative to the queue
    /// directory, the master's working directory).
    pub fn bind() -> ControlSocket {
        let temp = format!("{CONTROL_SOCKET}.new");
        let _ = std::fs::remove_file(&temp);
        // Mode 0600 from birth (0777 & ~umask), never set by path.
        let umask = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
        let bound = UnixListener::bind(&temp);
        nix::sys::stat::umask(umask);
        let listener =
            bound.unwrap_or_else(|e| msg_fatal!("bind: {temp}: {}", crate::util::errno_text(&e)));
        let _ = listener.set_nonblocking(true);
        ControlSocket { listener, temp }
    }

    /// The socket a previous program of this process left in place.
    pub fn adopt(fd: std::os::fd::OwnedFd) -> ControlSocket {
        let listener = UnixListener::from(fd);
        let _ = listener.set_nonblocking(true);
        ControlSocket {
            listener,
            temp: String::new(),
        }
    }

    /// Puts the socket in place: from now on the master answers.  (One
    /// handed over is in place already.)
    pub fn publish(&self) {
        if self.temp.is_empty() {
            return;
        }
        if let Err(e) = std::fs::rename(&self.temp, CONTROL_SOCKET) {
            msg_fatal!(
                "rename {} {CONTROL_SOCKET}: {}",
                self.temp,
                crate::util::errno_text(&e)
            );
        }
    }
}

impl Master {
    /// New control connections: their requests are read when they arrive.
    /// Out of descriptors, the oldest waiting client is dropped to make
    /// room, and with none to drop the control socket is left alone for a
    /// moment: an accept() that fails must not make the loop spin.
    pub(super) fn control_event(&mut self) {
        loop {
            match self.control.listener.accept() {
                Ok((conn, _)) => {
                    if self.clients.len() >= MAX_CLIENTS {
                        self.drop_client(0);
                    }
                    if conn.set_nonblocking(true).is_ok() {
                        let id = self.next_client_id;
                        self.next_client_id += 1;
                        let client = ControlClient {
                            conn,
                            since: Instant::now(),
                            id,
                            answer: None,
                        };
                        client.watch(&self.events);
                        self.clients.push(client);
                    }
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                    if self.clients.is_empty() {
                        self.control_paused_until = Some(Instant::now() + CONTROL_BACKOFF);
                        self.sync_control();
                        return;
                    }
                    self.drop_client(0);
                }
                Err(_) => return,
            }
        }
    }

    /// Whether the loop watches the control socket now.
    pub(super) fn control_watched(&mut self) -> bool {
        match self.control_paused_until {
            Some(t) if Instant::now() < t => false,
            _ => {
                self.control_paused_until = None;
                true
            }
        }
    }

    /// Removes control client `i`, out of the event set before it closes.
    fn drop_client(&mut self, i: usize) -> UnixStream {
        let c = self.clients.remove(i);
        self.events.delete(&c.conn);
        c.conn
    }

    /// Control client `id` sent something (or went away), or has room for
    /// more of its answer.
    pub(super) fn client_event(&mut self, id: u64) {
        let Some(i) = self.clients.iter().position(|c| c.id == id) else {
            return;
        };
        if self.clients[i].answer.is_none() {
            let mut req = [0u8; 64];
            let n = match self.clients[i].conn.read(&mut req) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => 0,
            };
            let answer = match std::str::from_utf8(&req[..n]).unwrap_or("").trim() {
                "status" => self.status_report(),
                "status json" => super::master_metrics::json(self),
                "status prometheus" => super::master_metrics::prometheus(self),
                other => format!("unknown request: {other}\n"),
            };
            let c = &mut self.clients[i];
            c.answer = Some((answer.into_bytes(), 0));
            c.since = Instant::now();
            if !c.write_some() {
                // The rest as the client reads: watched for room now.
                self.events.delete(&c.conn);
                c.watch(&self.events);
                return;
            }
        } else if !self.clients[i].write_some() {
            return;
        }
        self.drop_client(i);
    }

    /// Drops the control clients that never said anything, or stopped
    /// reading their answer.
    pub(super) fn expire_clients(&mut self) {
        while let Some(i) = self
            .clients
            .iter()
            .position(|c| c.since.elapsed() >= CLIENT_TIMEOUT)
        {
            self.drop_client(i);
        }
    }

    /// One line per service, with the counts `postkit status` shows.
    pub(super) fn status_report(&self) -> String {
        let mut out = format!(
            "master pid {} {VERSION} configuration {} execs {}\n{:<20} {:<10} {:>5} {:>6} {:>5} {:>5} {:>7} {:>8}  {}\n",
            std::process::id(),
            self.config_dir,
            self.execs,
            "service",
            "type",
            "limit",
            "procs",
            "busy",
            "idle",
            "spawns",
            "failures",
            "throttled"
        );
        let now = Instant::now();
        for s in self.services.iter() {
            let throttled = match s.throttled_until {
                Some(t) => format!(
                    "yes ({}s left, {} times)",
                    t.saturating_duration_since(now).as_secs(),
                    s.throttles
                ),
                None if s.throttles > 0 => format!("no ({} times)", s.throttles),
                None => "no".to_string(),
            };
            let throttled = match &s.last_failure {
                Some(why) if s.failures > 0 => format!("{throttled}; last failure: {why}"),
                _ => throttled,
            };
            let limit = if s.ent.max_proc == 0 {
                "-".to_string()
            } else {
                s.ent.max_proc.to_string()
            };
            out.push_str(&format!(
                "{:<20} {:<10} {:>5} {:>6} {:>5} {:>5} {:>7} {:>8}  {}\n",
                s.ent.ext_name,
                s.ent.kind.name(),
                limit,
                s.total_proc(),
                s.procs.busy(),
                s.procs.avail(),
                s.spawns,
                s.failures,
                throttled
            ));
        }
        out
    }
}

/// Asks the master of `queue_directory` over its control socket (the
/// client side, for `postkit status`).
pub fn query(queue_directory: &str, request: &str) -> std::io::Result<String> {
    let mut s = UnixStream::connect(std::path::Path::new(queue_directory).join(CONTROL_SOCKET))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    s.write_all(request.as_bytes())?;
    s.shutdown(std::net::Shutdown::Write)?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}
