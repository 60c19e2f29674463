//! The SSRF guard: which destinations the web tools may reach.
//!
//! A URL's host is checked by name (localhost and cloud-metadata names), resolved once, and
//! every address it resolves to is checked; the request then connects only to those checked
//! addresses (see `fetch.rs`), so a DNS answer that changes between check and connect cannot
//! move it. Refused: loopback, private (RFC 1918), shared/CGNAT (RFC 6598), link-local,
//! multicast, unspecified, broadcast, reserved, documentation and benchmark ranges (IANA
//! special-purpose registries, RFC 6890), unique-local IPv6 (RFC 4193), and the IPv4 forms
//! hidden in IPv6 (mapped, compatible, NAT64 RFC 6052, 6to4 RFC 3056; Teredo outright).
//! `tools.web.allowPrivate` lets named destinations through; cloud metadata endpoints need an
//! entry naming exactly them, never just a range that happens to contain them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::LazyLock;

use async_trait::async_trait;
use ipnet::IpNet;
use url::{Host, Url};

use clawtalk_config::{AllowTarget, PrivateAllow};

/// Turns a host name into addresses; injectable so tests can answer as they please.
#[async_trait]
pub trait Resolve: Send + Sync {
    /// Every address `host` resolves to (for a connection to `port`).
    async fn lookup(&self, host: &str, port: u16) -> std::io::Result<Vec<IpAddr>>;
}

/// The system's resolver (getaddrinfo, through tokio).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemResolver;

#[async_trait]
impl Resolve for SystemResolver {
    async fn lookup(&self, host: &str, port: u16) -> std::io::Result<Vec<IpAddr>> {
        Ok(tokio::net::lookup_host((host, port))
            .await?
            .map(|addr| addr.ip())
            .collect())
    }
}

/// Where one request may go: the host as the URL names it and the checked addresses to
/// connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The URL's host (a name, or the address's text), as reqwest looks it up.
    pub host: String,
    /// Checked addresses with the URL's port; the only ones the request may use.
    pub addrs: Vec<SocketAddr>,
}

/// The guard with its exceptions.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    allow: Vec<PrivateAllow>,
}

/// Host names that mean this machine or a cloud's metadata service, whatever DNS says.
const LOCAL_NAMES: &[&str] = &[
    "localhost",
    "localhost.localdomain",
    "ip6-localhost",
    "ip6-loopback",
];
const METADATA_NAMES: &[&str] = &[
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
];

/// Cloud metadata services: AWS/GCP/Azure/Oracle (169.254.169.254), AWS over IPv6
/// (fd00:ec2::254), Alibaba Cloud ECS (100.100.100.200), Tencent Cloud (metadata.tencentyun.com
/// resolves to 169.254.0.23), AWS ECS task metadata (169.254.170.2).
const METADATA_ADDRS: &[&str] = &[
    "169.254.169.254",
    "169.254.170.2",
    "169.254.0.23",
    "100.100.100.200",
    "fd00:ec2::254",
];

/// Special-purpose ranges that are never a public web site, with what to call them.
static BLOCKED_V4: LazyLock<Vec<(IpNet, &'static str)>> = LazyLock::new(|| {
    [
        ("0.0.0.0/8", "an unspecified (\"this network\") address"),
        ("10.0.0.0/8", "a private (RFC 1918) address"),
        ("100.64.0.0/10", "a shared carrier-grade NAT (RFC 6598) address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", "a private (RFC 1918) address"),
        ("192.0.0.0/24", "an IETF protocol assignment address"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.88.99.0/24", "a 6to4 relay anycast address"),
        ("192.168.0.0/16", "a private (RFC 1918) address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved (or broadcast) address"),
    ]
    .into_iter()
    .map(|(net, what)| (net.parse().expect("valid CIDR"), what))
    .collect()
});

static BLOCKED_V6: LazyLock<Vec<(IpNet, &'static str)>> = LazyLock::new(|| {
    [
        ("::/128", "the unspecified address"),
        ("::1/128", "a loopback address"),
        ("64:ff9b:1::/48", "a local-use NAT64 address"),
        ("100::/64", "a discard-only address"),
        ("2001::/32", "a Teredo tunnel address"),
        ("2001:2::/48", "a benchmarking address"),
        ("2001:db8::/32", "a documentation address"),
        ("3fff::/20", "a documentation address"),
        ("fc00::/7", "a unique-local (private) address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),
        ("ff00::/8", "a multicast address"),
    ]
    .into_iter()
    .map(|(net, what)| (net.parse().expect("valid CIDR"), what))
    .collect()
});

/// Why `ip` is not a public address, or `None` when it is one.
#[must_use]
pub fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return blocked_v4(v4);
            }
            BLOCKED_V6
                .iter()
                .find(|(net, _)| net.contains(&ip))
                .map(|(_, what)| *what)
        }
    }
}

fn blocked_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let ip = IpAddr::V4(ip);
    BLOCKED_V4
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, what)| *what)
}

/// The IPv4 address an IPv6 address carries, in the forms a connection reaches it through:
/// IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 well-known prefix
/// (`64:ff9b::a.b.c.d`) and 6to4 (`2002:aabb:ccdd::`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    let mapped = s[..6] == [0, 0, 0, 0, 0, 0xffff];
    // `::` and `::1` are themselves, not IPv4-compatible forms.
    let compatible = s[..6] == [0; 6] && !(s[6] == 0 && s[7] <= 1);
    if mapped || compatible {
        return Some(low);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(low);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

fn is_metadata(ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    METADATA_ADDRS
        .iter()
        .any(|m| m.parse::<IpAddr>().is_ok_and(|m| m == ip))
}

impl Guard {
    /// A guard letting through what `allow` names (`tools.web.allowPrivate`).
    #[must_use]
    pub fn new(allow: Vec<PrivateAllow>) -> Self {
        Self { allow }
    }

    /// Checks `url` and resolves its host: where the request may connect, or why not.
    ///
    /// # Errors
    /// The refusal, in words the model (and the user) can act on.
    pub async fn destination(&self, url: &Url, resolver: &dyn Resolve) -> Result<Destination, String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "{}: URLs are refused; web_fetch reads only http and https",
                url.scheme()
            ));
        }
        let port = url
            .port_or_known_default()
            .ok_or_else(|| "the URL has no port".to_owned())?;
        if port == 0 {
            return Err("port 0 is not a port a web site listens on".to_owned());
        }
        match url.host() {
            None => Err("the URL has no host".to_owned()),
            Some(Host::Ipv4(v4)) => self.checked(&v4.to_string(), None, vec![IpAddr::V4(v4)], port),
            Some(Host::Ipv6(v6)) => self.checked(&format!("[{v6}]"), None, vec![IpAddr::V6(v6)], port),
            Some(Host::Domain(raw)) => {
                let name = raw.trim_end_matches('.').to_ascii_lowercase();
                if name.is_empty() {
                    return Err("the URL has no host".to_owned());
                }
                self.check_name(&name, port)?;
                let ips = resolver
                    .lookup(raw, port)
                    .await
                    .map_err(|e| format!("could not resolve {name}: {e}"))?;
                if ips.is_empty() {
                    return Err(format!("{name} resolves to no address"));
                }
                self.checked(raw, Some(&name), ips, port)
            }
        }
    }

    fn check_name(&self, name: &str, port: u16) -> Result<(), String> {
        let local = LOCAL_NAMES.contains(&name) || name.ends_with(".localhost");
        let metadata = METADATA_NAMES.contains(&name);
        if (local || metadata) && !self.allows_name(name, port) {
            let what = if local {
                "this machine"
            } else {
                "a cloud metadata service"
            };
            return Err(format!(
                "{name} names {what}; refused (list it in tools.web.allowPrivate to allow it)"
            ));
        }
        Ok(())
    }

    /// Every address must pass: a name that also resolves to a private address is refused,
    /// since the connection could land on any of them.
    fn checked(
        &self,
        host: &str,
        name: Option<&str>,
        ips: Vec<IpAddr>,
        port: u16,
    ) -> Result<Destination, String> {
        for &ip in &ips {
            self.check_ip(name, ip, port)?;
        }
        Ok(Destination {
            host: host.to_owned(),
            addrs: ips.into_iter().map(|ip| SocketAddr::new(ip, port)).collect(),
        })
    }

    fn check_ip(&self, name: Option<&str>, ip: IpAddr, port: u16) -> Result<(), String> {
        let shown = match name {
            Some(name) => format!("{name} resolves to {ip}, "),
            None => format!("{ip} is "),
        };
        if is_metadata(ip) {
            let exact = self.allow.iter().any(|a| {
                port_matches(a, port)
                    && match &a.target {
                        AllowTarget::Net(net) => net.prefix_len() == net.max_prefix_len() && net.addr() == ip,
                        AllowTarget::Host(h) => name == Some(h.as_str()),
                    }
            });
            if exact {
                return Ok(());
            }
            return Err(format!(
                "{shown}a cloud metadata address; refused (only an allowPrivate entry naming exactly this address lets it through)"
            ));
        }
        let Some(what) = non_public(ip) else {
            return Ok(());
        };
        let allowed = self.allow.iter().any(|a| {
            port_matches(a, port)
                && match &a.target {
                    AllowTarget::Net(net) => net.contains(&ip) || net.contains(&canonical(ip)),
                    AllowTarget::Host(h) => name == Some(h.as_str()),
                }
        });
        if allowed {
            Ok(())
        } else {
            Err(format!(
                "{shown}{what}, not a public web address; refused (list it in tools.web.allowPrivate to allow it)"
            ))
        }
    }

    fn allows_name(&self, name: &str, port: u16) -> bool {
        self.allow
            .iter()
            .any(|a| port_matches(a, port) && matches!(&a.target, AllowTarget::Host(h) if h == name))
    }
}

/// An IPv6 form of an IPv4 address as that IPv4 address, so `127.0.0.1` in allowPrivate also
/// covers `::ffff:127.0.0.1`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn port_matches(allow: &PrivateAllow, port: u16) -> bool {
    allow.port.is_none_or(|p| p == port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_addresses_pass_and_special_ones_do_not() {
        for public in [
            "8.8.8.8",
            "223.5.5.5",
            "2400:3200::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert_eq!(non_public(public.parse().unwrap()), None, "{public}");
        }
        for special in [
            "127.0.0.1",
            "10.1.2.3",
            "172.31.255.255",
            "192.168.1.1",
            "100.100.100.200",
            "169.254.169.254",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "192.0.2.1",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "2001:0:4136:e378::1",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
        ] {
            assert!(non_public(special.parse().unwrap()).is_some(), "{special}");
        }
    }

    #[test]
    fn metadata_needs_an_exact_entry() {
        let range = Guard::new(vec![clawtalk_config::PrivateAllow {
            target: AllowTarget::Net("100.64.0.0/10".parse().unwrap()),
            port: None,
        }]);
        assert!(range.check_ip(None, "100.64.1.1".parse().unwrap(), 80).is_ok());
        let refused = range
            .check_ip(None, "100.100.100.200".parse().unwrap(), 80)
            .unwrap_err();
        assert!(refused.contains("metadata"), "{refused}");
        let exact = Guard::new(vec![clawtalk_config::PrivateAllow {
            target: AllowTarget::Net("100.100.100.200/32".parse().unwrap()),
            port: None,
        }]);
        assert!(
            exact
                .check_ip(None, "100.100.100.200".parse().unwrap(), 80)
                .is_ok()
        );
    }

    #[test]
    fn ports_of_an_entry_are_kept() {
        let guard = Guard::new(vec![clawtalk_config::PrivateAllow {
            target: AllowTarget::Net("127.0.0.1/32".parse().unwrap()),
            port: Some(8080),
        }]);
        let lo = "127.0.0.1".parse().unwrap();
        assert!(guard.check_ip(None, lo, 8080).is_ok());
        assert!(guard.check_ip(None, lo, 8081).is_err());
        assert!(
            guard
                .check_ip(None, "::ffff:127.0.0.1".parse().unwrap(), 8080)
                .is_ok(),
            "the mapped form of an allowed address is that address"
        );
    }
}
