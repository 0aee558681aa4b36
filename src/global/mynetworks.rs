//! The default of `mynetworks`, as Postfix's mynetworks() computes it from
//! this host's interfaces: by `mynetworks_style` (`host`: each address;
//! `subnet`: each address's network; `class`: each IPv4 address's class A,
//! B or C network, IPv6 as `subnet`) for the families of `inet_protocols`.

use std::net::IpAddr;

use super::mail_conf::MailConf;
use crate::util::inet_proto::InetProto;

/// Postfix 3.7's default `mynetworks_style`: `subnet` below compatibility
/// level 2, `host` from there on.
fn default_style(conf: &MailConf) -> &'static str {
    let level = conf
        .lookup_eval("compatibility_level")
        .ok()
        .flatten()
        .unwrap_or_else(|| "0".into());
    match super::compat_level::parse(&level) {
        Ok(l) if l >= (2, 0, 0) => "host",
        _ => "subnet",
    }
}

fn prefix_len(mask: IpAddr) -> u32 {
    match mask {
        IpAddr::V4(m) => u32::from(m).count_ones(),
        IpAddr::V6(m) => u128::from(m).count_ones(),
    }
}

fn network(addr: IpAddr, len: u32) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            IpAddr::V6((u128::from(a) & mask).into())
        }
    }
}

fn show(addr: IpAddr, len: u32) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}/{len}"),
        IpAddr::V6(a) => format!("[{a}]/{len}"),
    }
}

/// `mynetworks`' default for main.cf as `conf` has it.
pub fn mynetworks(conf: &MailConf) -> String {
    let eval = |name: &str, default: &str| {
        conf.lookup_eval(name)
            .ok()
            .flatten()
            .unwrap_or_else(|| default.to_string())
    };
    let style = eval("mynetworks_style", default_style(conf)).to_ascii_lowercase();
    let proto = InetProto::init(
        "inet_protocols",
        &eval("inet_protocols", "all"),
        &mut |_| {},
    )
    .unwrap_or(InetProto {
        ipv4: true,
        ipv6: true,
    });
    let mut nets: Vec<String> = Vec::new();
    for (addr, mask) in crate::util::inet_addr_local::inet_addr_local() {
        if (addr.is_ipv4() && !proto.ipv4) || (addr.is_ipv6() && !proto.ipv6) {
            continue;
        }
        let len = match (style.as_str(), addr) {
            ("host", IpAddr::V4(_)) => 32,
            ("host", IpAddr::V6(_)) => 128,
            ("class", IpAddr::V4(a)) => match a.octets()[0] {
                0..=127 => 8,
                128..=191 => 16,
                _ => 24,
            },
            _ => prefix_len(mask),
        };
        let shown = show(network(addr, len), len);
        if !nets.contains(&shown) {
            nets.push(shown);
        }
    }
    // (IPv4 networks come first: inet_addr_local lists them first.)
    nets.join(" ")
}
