//! inet services' addresses, as Postfix's master_ent decides them: the
//! master.cf name (`smtp`, `127.0.0.1:2525`, `[::1]:submission`) with
//! `inet_interfaces` and `inet_protocols` gives one socket address per
//! interface address, a canonical endpoint name (so that a reload after
//! `25` became `smtp` keeps the socket), and the arguments the master adds
//! for such a service: `-o stress=` when remote clients can reach a pool,
//! `-s N` when it listens on more than one socket.
//!
//! Names are looked up here, once per (re)load, with the C library's
//! getaddrinfo (so /etc/hosts, /etc/services and NSS answer as they do
//! for Postfix); the master.cf parser stays pure.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::master_ent::{MasterEnt, ServType};
use crate::util::host_port::{host_port, valid_hostaddr};
use crate::util::inet_proto::InetProto;

/// What went wrong, and whether master.cf's line is to blame (else
/// main.cf's parameter named in the text).
#[derive(Debug, PartialEq, Eq)]
pub enum InetError {
    /// The entry at this master.cf line.
    Entry(usize, String),
    /// A main.cf parameter (inet_interfaces, inet_protocols).
    Param(&'static str, String),
}

/// Looks up `host` (None: the wildcard) and `port` as a stream socket.
fn lookup(host: Option<&str>, port: &str) -> Result<Vec<SocketAddr>, String> {
    let hints = dns_lookup::AddrInfoHints {
        socktype: libc::SOCK_STREAM,
        flags: if host.is_none() { libc::AI_PASSIVE } else { 0 },
        ..Default::default()
    };
    let found = dns_lookup::getaddrinfo(host, Some(port), Some(hints)).map_err(|e| {
        // getaddrinfo's own text (gai_strerror), as Postfix prints it.
        let text = std::io::Error::from(e).to_string();
        text.rsplit_once("information: ")
            .map_or(text.clone(), |(_, t)| t.to_string())
    })?;
    Ok(found.filter_map(Result::ok).map(|a| a.sockaddr).collect())
}

/// The addresses of this host's interfaces.
fn local_addrs() -> Vec<IpAddr> {
    crate::util::inet_addr_local::inet_addr_local()
        .into_iter()
        .map(|(a, _)| a)
        .collect()
}

fn uniq<T: Eq + std::hash::Hash + Copy>(v: &mut Vec<T>) {
    let mut seen = HashSet::new();
    v.retain(|x| seen.insert(*x));
}

/// `inet_interfaces` as the addresses a wildcard inet service listens on.
fn interface_addrs(interfaces: &str, proto: &InetProto) -> Result<Vec<IpAddr>, InetError> {
    let param = |why: String| InetError::Param("inet_interfaces", why);
    let keep = |ip: &IpAddr| proto.allows(&SocketAddr::new(*ip, 0));
    let mut out: Vec<IpAddr> = match interfaces.trim().to_ascii_lowercase().as_str() {
        "all" => [
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        ]
        .into_iter()
        .filter(keep)
        .collect(),
        "loopback-only" => local_addrs()
            .into_iter()
            .filter(|ip| keep(ip) && ip.is_loopback())
            .collect(),
        _ => {
            let local = local_addrs();
            let mut out = Vec::new();
            for host in interfaces
                .split([' ', '\t', '\r', '\n', ','])
                .filter(|s| !s.is_empty())
            {
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let ips: Vec<IpAddr> = lookup(Some(host), "0")
                    .unwrap_or_default()
                    .into_iter()
                    .map(|a| a.ip())
                    .filter(keep)
                    .collect();
                if ips.is_empty() {
                    return Err(param(format!(
                        "config variable inet_interfaces: host not found: {host}"
                    )));
                }
                out.extend(ips);
            }
            if let Some(ip) = out.iter().find(|ip| !local.contains(ip)) {
                return Err(param(format!(
                    "parameter inet_interfaces: no local interface found for {ip}"
                )));
            }
            out
        }
    };
    uniq(&mut out);
    Ok(out)
}

/// Fills in every inet service's addresses, canonical name and master
/// arguments; drops inet services when no protocol is enabled (with
/// Postfix's warnings).
pub fn resolve(
    ents: &mut Vec<MasterEnt>,
    interfaces: &str,
    protocols: &str,
    warn: &mut dyn FnMut(String),
) -> Result<(), InetError> {
    if !ents.iter().any(|e| e.kind == ServType::Inet) {
        return Ok(());
    }
    let proto = InetProto::init("inet_protocols", protocols, warn)
        .map_err(|why| InetError::Param("inet_protocols", why))?;
    if proto.none() {
        warn(format!(
            "all network protocols are disabled (inet_protocols = {protocols})"
        ));
        warn("disabling all type \"inet\" services in master.cf".into());
        ents.retain(|e| e.kind != ServType::Inet);
        return Ok(());
    }
    let mut wildcard: Option<Vec<IpAddr>> = None;
    for ent in ents.iter_mut().filter(|e| e.kind == ServType::Inet) {
        let entry = |why: String| InetError::Entry(ent.line, why);
        let hp = host_port(&ent.ext_name)
            .map_err(|why| entry(format!("{why} in \"{}\"", ent.ext_name)))?;
        // The port as a number (a service name from /etc/services).
        let port = match lookup(None, &hp.port) {
            Ok(found) => found.first().map(SocketAddr::port),
            Err(why) => return Err(entry(format!("{}: {why}", ent.ext_name))),
        }
        .ok_or_else(|| entry(format!("{}: no address for the service", ent.ext_name)))?;
        let mut addrs: Vec<SocketAddr> = match &hp.host {
            Some(host) => lookup(Some(host), &hp.port)
                .unwrap_or_default()
                .into_iter()
                .filter(|a| proto.allows(a))
                .collect(),
            None => {
                if wildcard.is_none() {
                    wildcard = Some(interface_addrs(interfaces, &proto)?);
                }
                let ips = wildcard.as_deref().unwrap_or_default();
                ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect()
            }
        };
        uniq(&mut addrs);
        if addrs.is_empty() {
            return Err(entry(match &hp.host {
                Some(_) => format!("bad hostname or network address: {}", ent.ext_name),
                None => "service definition requires valid host name or address, or non-empty inet_interfaces setting".into(),
            }));
        }
        ent.name = match &hp.host {
            Some(h) if valid_hostaddr(h) => {
                let ip = addrs[0].ip();
                format!("[{ip}]:{port}")
            }
            Some(h) => format!("[{h}]:{port}"),
            None => port.to_string(),
        };
        let local_only = addrs.iter().all(|a| a.ip().is_loopback());
        let mut extra: Vec<String> = Vec::new();
        if !local_only && ent.max_proc > 1 {
            extra.extend(["-o".into(), "stress=".into()]);
        }
        if addrs.len() > 1 {
            extra.extend(["-s".into(), addrs.len().to_string()]);
        }
        let at = ent.user_args_at;
        ent.argv.splice(at..at, extra.iter().cloned());
        ent.user_args_at += extra.len();
        ent.addrs = addrs;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::master::master_ent::{EntContext, parse_master_cf};

    fn ents(text: &str) -> Vec<MasterEnt> {
        parse_master_cf("master.cf", text, &EntContext::default(), &mut |_| {}).unwrap()
    }

    #[test]
    fn names_addresses_and_arguments() {
        let mut e = ents(
            "smtp inet n - y - - smtpd -o smtpd_sasl_auth_enable=yes\n\
             127.0.0.1:2525 inet n - n - 1 smtpd\n",
        );
        resolve(&mut e, "all", "ipv4", &mut |_| {}).unwrap();
        assert_eq!(e[0].name, "25");
        assert_eq!(e[0].addrs, vec!["0.0.0.0:25".parse().unwrap()]);
        assert_eq!(
            e[0].argv,
            [
                "smtpd",
                "-n",
                "smtp",
                "-t",
                "inet",
                "-u",
                "-c",
                "-o",
                "stress=",
                "-o",
                "smtpd_sasl_auth_enable=yes"
            ]
        );
        assert_eq!(e[1].name, "[127.0.0.1]:2525");
        assert_eq!(
            e[1].argv,
            ["smtpd", "-l", "-n", "127.0.0.1:2525", "-t", "inet", "-u"]
        );
        // IPv6 only: the [::1] service has no address under ipv4 alone.
        assert!(
            resolve(
                &mut ents("[::1]:587 inet n - n - - smtpd\n"),
                "all",
                "ipv4",
                &mut |_| {}
            )
            .is_err()
        );
    }

    #[test]
    fn several_interfaces_give_several_sockets() {
        let mut e = ents("smtp inet n - n - - smtpd\n");
        resolve(&mut e, "127.0.0.1, localhost", "ipv4", &mut |_| {}).unwrap();
        assert_eq!(
            e[0].addrs,
            vec!["127.0.0.1:25".parse().unwrap()],
            "duplicates removed"
        );
        assert!(
            !e[0].argv.contains(&"stress=".to_string()),
            "loopback only: no stress"
        );
        let mut e = ents("smtp inet n - n - - smtpd\n");
        if resolve(&mut e, "all", "all", &mut |_| {}).is_ok() && e[0].addrs.len() == 2 {
            assert_eq!(&e[0].argv[e[0].argv.len() - 2..], ["-s", "2"]);
        }
    }

    #[test]
    fn postfix_texts() {
        let err = |text: &str, interfaces: &str| {
            resolve(&mut ents(text), interfaces, "ipv4", &mut |_| {}).unwrap_err()
        };
        assert_eq!(
            err("smtp inet n - n - - smtpd\n", "192.0.2.77"),
            InetError::Param(
                "inet_interfaces",
                "parameter inet_interfaces: no local interface found for 192.0.2.77".into()
            )
        );
        assert_eq!(
            err("nosuchport inet n - n - - smtpd\n", "all"),
            InetError::Entry(
                1,
                "nosuchport: Servname not supported for ai_socktype".into()
            )
        );
        let mut warnings = Vec::new();
        let mut e = ents("smtp inet n - n - - smtpd\npostlog unix-dgram n - n - 1 postlogd\n");
        resolve(&mut e, "all", "", &mut |w| warnings.push(w)).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(
            warnings[1],
            "disabling all type \"inet\" services in master.cf"
        );
    }
}
