//! Wakeup timers (Postfix's master_wakeup): a service with a wakeup time
//! in master.cf gets the byte `W` on its endpoint at that interval, as
//! Postfix's pickup and qmgr expect; a conditional timer (`time?`) starts
//! with the service's first child.
//!
//! A wake-up goes to an endpoint in a directory mail_owner owns, so it is
//! sent the way nobody there can turn against root or the loop
//! (`util::trigger`): with mail_owner's ids, never through a link, and
//! without waiting.  A unix, fifo or pass wake-up is done or refused at
//! once; an inet wake-up connects in the background, watched by the loop
//! for at most a second (Postfix's BRIEFLY), so a service that does not
//! accept costs a warning, never a stall.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::util::set_eugid::set_eugid;
use crate::util::trigger::{InetTrigger, fifo_trigger, pass_trigger, unix_trigger};
use crate::{msg_info, msg_warn};

use super::master_ent::ServType;
use super::master_events::{Events, Token};
use super::service::Service;
use super::service_table::Services;

/// The wake-up request (Postfix's TRIGGER_REQ_WAKEUP).
const WAKEUP: &[u8] = b"W";

/// How long a wake-up may take (Postfix's BRIEFLY).
const BRIEFLY: Duration = Duration::from_secs(1);

/// An inet wake-up whose connection is under way.
struct PendingWakeup {
    /// Its token in the event set.
    id: u64,
    conn: InetTrigger,
    deadline: Instant,
    /// For the warning: the service's master.cf name and endpoint.
    who: (String, String),
}

/// The master's part that sends wake-ups, with the inet ones under way.
#[derive(Default)]
pub struct Wakeups {
    pending: Vec<PendingWakeup>,
    next_id: u64,
}

impl Wakeups {
    /// Sends every wakeup of `services` that is due and sets the next;
    /// `owner` is mail_owner's uid and gid when running as root.
    pub fn send_due(
        &mut self,
        services: &mut Services,
        owner: Option<(u32, u32)>,
        events: &Events,
    ) {
        let now = Instant::now();
        for s in services.iter_mut() {
            if s.next_wakeup.is_none_or(|t| now < t) {
                continue;
            }
            s.next_wakeup = Some(now + Duration::from_secs(s.ent.wakeup_time as u64));
            if s.throttled_until.is_some() {
                continue;
            }
            if crate::util::msg::verbose() > 0 {
                msg_info!("master_wakeup_timer_event: service {}", s.ent.name);
            }
            match wakeup(s, owner) {
                Ok(Some(conn)) => {
                    let id = self.next_id;
                    self.next_id += 1;
                    events.add_out(&conn, Token::Wakeup(id));
                    self.pending.push(PendingWakeup {
                        id,
                        conn,
                        deadline: now + BRIEFLY,
                        who: (s.ent.ext_name.clone(), s.ent.postfix_name().to_string()),
                    });
                }
                Ok(None) => {}
                Err(e) => warn(&s.ent.ext_name, s.ent.postfix_name(), &e),
            }
        }
    }

    /// An inet wake-up's connection is done (or failed): the request goes.
    pub fn event(&mut self, id: u64, events: &Events) {
        let Some(i) = self.pending.iter().position(|w| w.id == id) else {
            return;
        };
        let w = self.pending.swap_remove(i);
        events.delete(&w.conn);
        if let Err(e) = w.conn.finish(WAKEUP) {
            warn(&w.who.0, &w.who.1, &e);
        }
    }

    /// Drops the inet wake-ups that did not connect in time.
    pub fn expire(&mut self, events: &Events) {
        let now = Instant::now();
        while let Some(i) = self.pending.iter().position(|w| now >= w.deadline) {
            let w = self.pending.swap_remove(i);
            events.delete(&w.conn);
            warn(
                &w.who.0,
                &w.who.1,
                &std::io::Error::from_raw_os_error(libc::ETIMEDOUT),
            );
        }
    }

    /// When the earliest pending inet wake-up expires.
    pub fn deadline(&self) -> Option<Instant> {
        self.pending.iter().map(|w| w.deadline).min()
    }

    /// Registers the wake-ups under way in a fresh event set.
    pub fn watch_all(&self, events: &Events) {
        for w in &self.pending {
            events.add_out(&w.conn, Token::Wakeup(w.id));
        }
    }
}

/// Postfix's warning for a wake-up that failed.
fn warn(ext_name: &str, name: &str, e: &std::io::Error) {
    msg_warn!(
        "master_wakeup_timer_event: service {ext_name}({name}): {}",
        crate::util::errno_text(e)
    );
}

/// Sends the wakeup request to a service, as Postfix's master does: done
/// at once, or an inet connection under way.
fn wakeup(s: &Service, owner: Option<(u32, u32)>) -> std::io::Result<Option<InetTrigger>> {
    let path = Path::new(&s.ent.name);
    if s.ent.kind == ServType::Inet {
        // No file is involved; the address is the service's own socket's.
        return InetTrigger::start(inet_target(s)?).map(Some);
    }
    if !matches!(s.ent.kind, ServType::Unix | ServType::Fifo | ServType::Pass) {
        return Err(std::io::Error::from_raw_os_error(libc::EOPNOTSUPP));
    }
    // What the name reaches, it reaches with mail_owner's rights only.
    let _ids = match owner {
        Some((uid, gid)) => {
            Some(set_eugid(uid, gid).map_err(|e| std::io::Error::other(e.to_string()))?)
        }
        None => None,
    };
    match s.ent.kind {
        ServType::Fifo => fifo_trigger(path, WAKEUP),
        ServType::Pass => pass_trigger(path, WAKEUP),
        _ => unix_trigger(path, WAKEUP),
    }
    .map(|()| None)
}

/// Where an inet service is reached: its first socket's address, the
/// loopback address of that family for a wildcard.
fn inet_target(s: &Service) -> std::io::Result<SocketAddr> {
    let fd = s
        .listen
        .first()
        .ok_or_else(|| std::io::Error::from_raw_os_error(libc::ENOTCONN))?;
    let mut addr = super::master_listen::local_addr(fd)
        .ok_or_else(|| std::io::Error::from_raw_os_error(libc::EAFNOSUPPORT))?;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    Ok(addr)
}
