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

use super::master_events::{Events, Token};

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
    pub fn watch(&self, events: &Events) {
        let token = Token::Client(self.id);
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

/// The control socket and its clients: the master's part that answers
/// `postkit status`.
pub struct Control {
    /// The socket.
    pub socket: ControlSocket,
    /// Connections waiting for their request or taking their answer.
    clients: Vec<ControlClient>,
    /// The serial number of the next client.
    next_id: u64,
    /// Whether the socket is in the event set.
    registered: bool,
    /// While out of descriptors: when to watch the socket again.
    paused_until: Option<Instant>,
}

impl Control {
    /// The part over a socket, without clients yet.
    pub fn new(socket: ControlSocket) -> Control {
        Control {
            socket,
            clients: Vec::new(),
            next_id: 0,
            registered: false,
            paused_until: None,
        }
    }

    /// New connections: their requests are read when they arrive.  Out of
    /// descriptors, the oldest waiting client is dropped to make room, and
    /// with none to drop the socket is left alone for a moment: an
    /// accept() that fails must not make the loop spin.
    pub fn accept(&mut self, events: &Events) {
        loop {
            match self.socket.listener.accept() {
                Ok((conn, _)) => {
                    if self.clients.len() >= MAX_CLIENTS {
                        self.drop_client(0, events);
                    }
                    if conn.set_nonblocking(true).is_ok() {
                        let id = self.next_id;
                        self.next_id += 1;
                        let client = ControlClient {
                            conn,
                            since: Instant::now(),
                            id,
                            answer: None,
                        };
                        client.watch(events);
                        self.clients.push(client);
                    }
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                    if self.clients.is_empty() {
                        self.paused_until = Some(Instant::now() + CONTROL_BACKOFF);
                        self.sync(events);
                        return;
                    }
                    self.drop_client(0, events);
                }
                Err(_) => return,
            }
        }
    }

    /// The socket is watched unless it is paused (out of descriptors): a
    /// level-triggered socket left in the set would make the loop spin on
    /// an accept() that keeps failing.
    pub fn sync(&mut self, events: &Events) {
        let want = match self.paused_until {
            Some(t) if Instant::now() < t => false,
            _ => {
                self.paused_until = None;
                true
            }
        };
        if want == self.registered {
            return;
        }
        if want {
            events.add(&self.socket.listener, Token::Control);
        } else {
            events.delete(&self.socket.listener);
        }
        self.registered = want;
    }

    /// Registers every client in a fresh event set; the socket joins at
    /// the next `sync`.
    pub fn watch_all(&mut self, events: &Events) {
        for c in &self.clients {
            c.watch(events);
        }
        self.registered = false;
    }

    /// When the socket must be looked at again, while it is paused.
    pub fn deadline(&self) -> Option<Instant> {
        self.paused_until
    }

    /// Removes client `i`, out of the event set before it closes.
    fn drop_client(&mut self, i: usize, events: &Events) {
        let c = self.clients.remove(i);
        events.delete(&c.conn);
    }

    /// Client `id` sent something (or went away), or has room for more of
    /// its answer; `answer` makes the answer to a request.
    pub fn client_event(&mut self, id: u64, events: &Events, answer: impl FnOnce(&str) -> String) {
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
            let text = answer(std::str::from_utf8(&req[..n]).unwrap_or("").trim());
            let c = &mut self.clients[i];
            c.answer = Some((text.into_bytes(), 0));
            c.since = Instant::now();
            if !c.write_some() {
                // The rest as the client reads: watched for room now.
                events.delete(&c.conn);
                c.watch(events);
                return;
            }
        } else if !self.clients[i].write_some() {
            return;
        }
        self.drop_client(i, events);
    }

    /// Drops the clients that never said anything, or stopped reading
    /// their answer.
    pub fn expire(&mut self, events: &Events) {
        while let Some(i) = self
            .clients
            .iter()
            .position(|c| c.since.elapsed() >= CLIENT_TIMEOUT)
        {
            self.drop_client(i, events);
        }
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
