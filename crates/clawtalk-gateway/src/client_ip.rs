//! The address a request comes from: the TCP peer, or, when the peer is one of
//! `gateway.trustedProxies`, the client that proxy names in `X-Forwarded-For`. Wrong-token
//! counting is per client, so behind a proxy one guessing client must not lock out the rest;
//! an untrusted peer's header is ignored, or anyone could pick the address they are counted as.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The client of a request from `peer`. Proxies append the address they received from to the
/// header, so it is read from the right: the first hop that is not a trusted proxy is the
/// client. An entry that is not an address ends the walk at the last trusted hop.
#[must_use]
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, proxies: &[IpNet]) -> IpAddr {
    if !is_trusted(peer, proxies) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|hop| !hop.is_empty())
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            return client;
        };
        client = ip;
        if !is_trusted(ip, proxies) {
            return ip;
        }
    }
    client
}

/// True when `peer` is this host or a trusted proxy: the peers allowed to reach the control
/// API and whose forwarding headers (`X-Forwarded-Proto`, …) are believed.
#[must_use]
pub fn is_local_or_trusted(peer: IpAddr, proxies: &[IpNet]) -> bool {
    peer.is_loopback() || is_trusted(peer, proxies)
}

/// True when `ip` is one of the trusted proxies.
#[must_use]
pub(crate) fn is_trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    let ip = canonical(ip);
    proxies.iter().any(|net| net.contains(&ip))
}

/// `203.0.113.5`, `2001:db8::1`, and the forms with a port some proxies write
/// (`203.0.113.5:4711`, `[2001:db8::1]:4711`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .map(canonical)
}

/// An IPv4 client seen on a dual-stack socket arrives as `::ffff:a.b.c.d`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_trusted_proxy_names_the_client() {
        let proxies = vec!["127.0.0.1/32".parse().unwrap()];
        let headers = forwarded(&["203.0.113.7"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &headers, &proxies), ip("203.0.113.7"));
        assert_eq!(
            client_ip(ip("::ffff:127.0.0.1"), &headers, &proxies),
            ip("203.0.113.7"),
            "an IPv4-mapped peer is the same proxy"
        );
    }

    #[test]
    fn an_untrusted_peer_is_its_own_client_whatever_it_sends() {
        let proxies = vec!["10.0.0.0/8".parse().unwrap()];
        let headers = forwarded(&["198.51.100.1"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &headers, &proxies), ip("127.0.0.1"));
        assert_eq!(client_ip(ip("127.0.0.1"), &headers, &[]), ip("127.0.0.1"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_wins_so_a_client_cannot_choose_its_address() {
        let proxies: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
        // The client sent a made-up header; the proxies appended what they saw.
        let headers = forwarded(&["1.2.3.4, 203.0.113.9", "10.1.2.3"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &headers, &proxies), ip("203.0.113.9"));
        let with_ports = forwarded(&["[2001:db8::5]:443, 10.0.0.2:80"]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &with_ports, &proxies),
            ip("2001:db8::5")
        );
    }

    #[test]
    fn garbage_or_no_header_leaves_the_last_trusted_hop() {
        let proxies = vec!["127.0.0.1/32".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            client_ip(ip("127.0.0.1"), &HeaderMap::new(), &proxies),
            ip("127.0.0.1")
        );
        let headers = forwarded(&["unknown, 10.0.0.4"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &headers, &proxies), ip("10.0.0.4"));
    }
}
