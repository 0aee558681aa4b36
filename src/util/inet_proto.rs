//! `inet_protocols`: which address families inet services use, as
//! Postfix's inet_proto_init() decides: `all`, `ipv4`, `ipv6`, or a list;
//! a family the kernel does not have is dropped with Postfix's warning,
//! so that `all` works on a host without IPv6.

use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};

/// The families in use, IPv4 first (Postfix's order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InetProto {
    /// IPv4 is in use.
    pub ipv4: bool,
    /// IPv6 is in use.
    pub ipv6: bool,
}

impl InetProto {
    /// Parses `value` (the setting of parameter `context`) and drops what
    /// the kernel cannot do, with a warning through `warn`.
    pub fn init(
        context: &str,
        value: &str,
        warn: &mut dyn FnMut(String),
    ) -> Result<InetProto, String> {
        let mut p = InetProto::default();
        for name in value
            .split([' ', '\t', '\r', '\n', ','])
            .filter(|s| !s.is_empty())
        {
            match name.to_ascii_lowercase().as_str() {
                "all" => (p.ipv4, p.ipv6) = (true, true),
                "ipv4" => p.ipv4 = true,
                "ipv6" => p.ipv6 = true,
                _ => return Err(format!("unknown {context} value \"{name}\" in \"{value}\"")),
            }
        }
        for (wanted, family, name) in [
            (&mut p.ipv6, AddressFamily::Inet6, "IPv6"),
            (&mut p.ipv4, AddressFamily::Inet, "IPv4"),
        ] {
            if !*wanted {
                continue;
            }
            match socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None) {
                Ok(_) => {}
                Err(e @ (nix::errno::Errno::EAFNOSUPPORT | nix::errno::Errno::EPROTONOSUPPORT)) => {
                    warn(format!(
                        "{context}: disabling {name} name/address support: {}",
                        super::nix_text(e)
                    ));
                    *wanted = false;
                }
                Err(e) => return Err(format!("socket: {}", super::nix_text(e))),
            }
        }
        Ok(p)
    }

    /// Whether `addr` is of a family in use.
    pub fn allows(&self, addr: &std::net::SocketAddr) -> bool {
        if addr.is_ipv4() { self.ipv4 } else { self.ipv6 }
    }

    /// No family at all: inet services are disabled.
    pub fn none(&self) -> bool {
        !self.ipv4 && !self.ipv6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_lists() {
        let mut warnings = Vec::new();
        let mut w = |m| warnings.push(m);
        let all = InetProto::init("inet_protocols", "all", &mut w).unwrap();
        assert!(all.ipv4);
        let v4 = InetProto::init("inet_protocols", "ipv4", &mut w).unwrap();
        assert_eq!(
            v4,
            InetProto {
                ipv4: true,
                ipv6: false
            }
        );
        let none = InetProto::init("inet_protocols", "", &mut w).unwrap();
        assert!(none.none());
        assert_eq!(
            InetProto::init("inet_protocols", "ipv4, ipx", &mut w),
            Err("unknown inet_protocols value \"ipx\" in \"ipv4, ipx\"".into())
        );
    }
}
