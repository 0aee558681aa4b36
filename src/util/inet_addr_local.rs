//! This host's interface addresses with their netmasks (Postfix's
//! inet_addr_local), IPv4 first: where wildcard inet services may listen
//! (`inet_interfaces`) and what `mynetworks` is computed from.

use std::net::IpAddr;

/// Each interface address and its netmask, IPv4 ones first, in the order
/// the kernel lists them within each family.
pub fn inet_addr_local() -> Vec<(IpAddr, IpAddr)> {
    let mut out: Vec<(IpAddr, IpAddr)> = nix::ifaddrs::getifaddrs()
        .into_iter()
        .flatten()
        .filter_map(|ifa| {
            let (addr, mask) = (ifa.address?, ifa.netmask?);
            match (addr.as_sockaddr_in(), mask.as_sockaddr_in()) {
                (Some(a), Some(m)) => Some((IpAddr::V4(a.ip()), IpAddr::V4(m.ip()))),
                _ => match (addr.as_sockaddr_in6(), mask.as_sockaddr_in6()) {
                    (Some(a), Some(m)) => Some((IpAddr::V6(a.ip()), IpAddr::V6(m.ip()))),
                    _ => None,
                },
            }
        })
        .collect();
    out.sort_by_key(|(a, _)| a.is_ipv6());
    out
}
