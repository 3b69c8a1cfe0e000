//! The SSRF guard: which URLs and addresses a callback may go to. One
//! check, used at registration (`chasqui callbacks add`, the API) and again
//! at every delivery, where the delivery client's resolver
//! (`super::deliver`) resolves a name once, checks every address and
//! connects only to those, so a name re-pointed at an internal address
//! (DNS rebinding) is refused too.
//!
//! - Only `https`; plain `http` only to an IP address inside an allowed
//!   range (a local receiver in development).
//! - No private (RFC 1918, `fc00::/7`), loopback, link-local (the instance
//!   metadata `169.254.169.254` and `fd00:ec2::254` included), unspecified,
//!   multicast, broadcast, CGNAT (`100.64.0.0/10`), reserved or
//!   documentation address, nor an IPv6 form carrying one of those
//!   (IPv4-mapped, IPv4-compatible, NAT64, 6to4).
//! - `CALLBACK_ALLOWED_NETWORKS` (CIDRs, the deployer's parameter, none by
//!   default) lets a range through.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::IpNet;

/// Why a URL or address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not a URL Chasqui can POST to.
    #[error("the URL is malformed: {0}")]
    Malformed(&'static str),
    /// Not `https` (and not `http` to an allowed address).
    #[error(
        "only https URLs are allowed (plain http only to an address inside CALLBACK_ALLOWED_NETWORKS)"
    )]
    Scheme,
    /// The address (given or resolved) is one callbacks may not reach.
    #[error("the address is {0}, which callbacks may not reach")]
    Address(&'static str),
    /// The name resolves to no address.
    #[error("the host name resolves to no address")]
    Unresolved,
}

/// The guard: the forbidden ranges, minus the deployer's allowed ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Guard {
    allowed: Vec<IpNet>,
}

/// A URL the guard accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedUrl {
    /// `https` (or `http`).
    pub scheme: String,
    /// The host: a name, or an address literal.
    pub host: Host,
}

/// The host of a checked URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A DNS name, to be resolved (and each address checked) at delivery.
    Name(String),
    /// An address literal, already checked.
    Ip(IpAddr),
}

impl Guard {
    /// The guard letting `allowed` through.
    pub fn new(allowed: Vec<IpNet>) -> Self {
        Self { allowed }
    }

    /// Reads `CALLBACK_ALLOWED_NETWORKS`: comma-separated CIDRs (or single
    /// addresses); empty: none.
    pub fn parse_networks(list: &str) -> Result<Vec<IpNet>, &'static str> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                IpNet::from_str(s)
                    .or_else(|_| IpAddr::from_str(s).map(IpNet::from))
                    .map(|n| n.trunc())
                    .map_err(|_| "expected comma-separated CIDRs such as 10.20.0.0/16,fd12::/64")
            })
            .collect()
    }

    /// Whether `ip` is inside an allowed range.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.allowed.iter().any(|n| n.contains(&ip))
    }

    /// Whether a callback may reach `ip`.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        if self.allows(ip) {
            return Ok(());
        }
        match forbidden(ip) {
            Some(reason) => Err(Refused::Address(reason)),
            None => Ok(()),
        }
    }

    /// Checks a URL's scheme and, for an address literal, the address. A
    /// name is checked when it is resolved ([`Guard::check_resolved`]).
    pub fn check_url(&self, url: &str) -> Result<CheckedUrl, Refused> {
        if url.len() > super::MAX_URL_CHARS {
            return Err(Refused::Malformed("longer than 2048 characters"));
        }
        let parsed = reqwest_free_parse(url)?;
        let host = match parsed.host.parse::<IpAddr>() {
            Ok(ip) => {
                self.check_ip(ip)?;
                Host::Ip(ip)
            }
            Err(_) => Host::Name(parsed.host.to_ascii_lowercase()),
        };
        match (parsed.scheme.as_str(), &host) {
            ("https", _) => {}
            ("http", Host::Ip(ip)) if self.allows(*ip) => {}
            _ => return Err(Refused::Scheme),
        }
        Ok(CheckedUrl {
            scheme: parsed.scheme,
            host,
        })
    }

    /// Checks every address a name resolved to: all must pass (a name that
    /// mixes public and internal addresses is refused whole).
    pub fn check_resolved(&self, addrs: &[IpAddr]) -> Result<(), Refused> {
        if addrs.is_empty() {
            return Err(Refused::Unresolved);
        }
        addrs.iter().try_for_each(|ip| self.check_ip(*ip))
    }
}

struct Parsed {
    scheme: String,
    host: String,
}

/// The scheme and host of an absolute URL (`scheme://[userinfo@]host[:port]/...`);
/// user info is refused (it would hide the host from a reader).
fn reqwest_free_parse(url: &str) -> Result<Parsed, Refused> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or(Refused::Malformed("expected https://host/path"))?;
    let scheme = scheme.to_ascii_lowercase();
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Refused::Malformed(
            "it contains spaces or control characters",
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(Refused::Malformed("user info (user@host) is not allowed"));
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        let (inside, after) = v6
            .split_once(']')
            .ok_or(Refused::Malformed("an unclosed [ in the host"))?;
        if !(after.is_empty() || after.starts_with(':')) {
            return Err(Refused::Malformed("text after the IPv6 address"));
        }
        inside.to_owned()
    } else {
        let (host, port) = authority.split_once(':').unwrap_or((authority, ""));
        if !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Refused::Malformed("the port is not a number"));
        }
        host.trim_end_matches('.').to_owned()
    };
    if host.is_empty() {
        return Err(Refused::Malformed("no host"));
    }
    // Forms some resolvers read as addresses (`0x7f.1`, `2130706433`,
    // `127.1`): refused rather than guessed at.
    if !host.contains(':')
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_hexdigit() || b == b'x'))
        && host
            .split('.')
            .next_back()
            .is_some_and(|l| l.bytes().any(|b| b.is_ascii_digit()))
        && host.parse::<Ipv4Addr>().is_err()
    {
        return Err(Refused::Malformed(
            "the host is an address in a non-standard form",
        ));
    }
    Ok(Parsed { scheme, host })
}

/// An IPv6 address carrying an IPv4 one (mapped `::ffff:a.b.c.d`), as that
/// IPv4 address; anything else as itself.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

/// Why `ip` may not be reached, or `None`.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_unspecified() => "unspecified",
        (0, _, _) => "in 0.0.0.0/8 (this network)",
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_private() => "private (RFC 1918)",
        _ if ip.is_link_local() => "link-local (instance metadata)",
        (100, 64..=127, _) => "shared address space (CGNAT)",
        _ if ip.is_broadcast() => "broadcast",
        _ if ip.is_multicast() => "multicast",
        (240..=255, _, _) => "reserved",
        (192, 0, 0) => "IETF protocol assignments",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18..=19, _) => "benchmarking",
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    let embedded =
        |v4: Ipv4Addr| forbidden_v4(v4).map(|_| "an IPv6 form of a forbidden IPv4 address");
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    match s[0] {
        0xfe80..=0xfebf => return Some("link-local"),
        0xfec0..=0xfeff => return Some("site-local"),
        0xfc00..=0xfdff => return Some("unique local (fc00::/7, instance metadata)"),
        0xff00..=0xffff => return Some("multicast"),
        _ => {}
    }
    let v4 = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    // IPv4-compatible (::a.b.c.d, deprecated): refused whole.
    if s[..6] == [0; 6] {
        return Some("an IPv4-compatible IPv6 address");
    }
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reach an IPv4 address.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return embedded(v4(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return embedded(v4(s[1], s[2]));
    }
    match (s[0], s[1]) {
        (0x2001, 0x0db8) => Some("documentation"),
        (0x0100, 0) if s[2..4] == [0, 0] => Some("discard-only"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(allowed: &str) -> Guard {
        Guard::new(Guard::parse_networks(allowed).unwrap())
    }

    #[test]
    fn forbidden_addresses_are_refused_and_public_ones_pass() {
        let g = Guard::default();
        for (ip, refused) in [
            ("127.0.0.1", true),
            ("127.255.0.9", true),
            ("10.1.2.3", true),
            ("172.16.0.1", true),
            ("172.31.255.255", true),
            ("172.32.0.1", false),
            ("192.168.1.1", true),
            ("169.254.169.254", true),
            ("169.254.0.1", true),
            ("100.64.0.1", true),
            ("100.127.255.255", true),
            ("100.128.0.1", false),
            ("0.0.0.0", true),
            ("0.1.2.3", true),
            ("224.0.0.1", true),
            ("239.255.255.250", true),
            ("255.255.255.255", true),
            ("240.0.0.1", true),
            ("192.0.2.10", true),
            ("198.18.0.1", true),
            ("8.8.8.8", false),
            ("93.184.216.34", false),
            ("::", true),
            ("::1", true),
            ("fe80::1", true),
            ("fc00::1", true),
            ("fd00:ec2::254", true),
            ("ff02::1", true),
            ("::ffff:127.0.0.1", true),
            ("::ffff:169.254.169.254", true),
            ("::ffff:10.0.0.1", true),
            ("::ffff:8.8.8.8", false),
            ("::127.0.0.1", true),
            ("64:ff9b::a9fe:a9fe", true),
            ("64:ff9b::808:808", false),
            ("2002:7f00:1::", true),
            ("2001:db8::1", true),
            ("2606:4700:4700::1111", false),
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(g.check_ip(ip).is_err(), refused, "{ip}");
        }
    }

    #[test]
    fn an_allowed_range_lets_its_addresses_through_and_no_more() {
        let g = guard("10.20.0.0/16, 127.0.0.1, fd12::/64");
        for (ip, ok) in [
            ("10.20.3.4", true),
            ("10.21.0.1", false),
            ("127.0.0.1", true),
            ("::ffff:127.0.0.1", true),
            ("127.0.0.2", false),
            ("fd12::5", true),
            ("fd13::5", false),
        ] {
            assert_eq!(g.check_ip(ip.parse().unwrap()).is_ok(), ok, "{ip}");
        }
        assert!(Guard::parse_networks("10.0.0.0/33").is_err());
        assert!(Guard::parse_networks("intranet").is_err());
        assert_eq!(Guard::parse_networks(" ").unwrap(), vec![]);
    }

    #[test]
    fn urls_are_checked_by_scheme_and_literal_address() {
        let g = Guard::default();
        let local = guard("127.0.0.0/8");
        let cases: &[(&Guard, &str, Option<Refused>)] = &[
            (&g, "https://hooks.example.com/chasqui", None),
            (&g, "HTTPS://Hooks.Example.com:8443/x?y=1", None),
            (&g, "https://8.8.8.8/x", None),
            (&g, "https://[2606:4700::1]:443/x", None),
            (&g, "http://hooks.example.com/x", Some(Refused::Scheme)),
            (&g, "ftp://hooks.example.com/x", Some(Refused::Scheme)),
            (
                &g,
                "https://127.0.0.1/x",
                Some(Refused::Address("loopback")),
            ),
            (
                &g,
                "https://169.254.169.254/latest/meta-data",
                Some(Refused::Address("link-local (instance metadata)")),
            ),
            (
                &g,
                "https://[::ffff:169.254.169.254]/",
                Some(Refused::Address("link-local (instance metadata)")),
            ),
            (
                &g,
                "https://[fd00:ec2::254]/",
                Some(Refused::Address(
                    "unique local (fc00::/7, instance metadata)",
                )),
            ),
            (
                &g,
                "https://10.0.0.1:8443/",
                Some(Refused::Address("private (RFC 1918)")),
            ),
            (
                &g,
                "https://2130706433/",
                Some(Refused::Malformed(
                    "the host is an address in a non-standard form",
                )),
            ),
            (
                &g,
                "https://0x7f.1/",
                Some(Refused::Malformed(
                    "the host is an address in a non-standard form",
                )),
            ),
            (
                &g,
                "https://user@hooks.example.com/",
                Some(Refused::Malformed("user info (user@host) is not allowed")),
            ),
            (
                &g,
                "hooks.example.com/x",
                Some(Refused::Malformed("expected https://host/path")),
            ),
            (&g, "https:///x", Some(Refused::Malformed("no host"))),
            (
                &g,
                "https://a b/",
                Some(Refused::Malformed(
                    "it contains spaces or control characters",
                )),
            ),
            // Plain http only to an allowed address, never to a name.
            (&local, "http://127.0.0.1:9300/hook", None),
            (&local, "https://127.0.0.1:9300/hook", None),
            (&local, "http://localhost:9300/hook", Some(Refused::Scheme)),
            (&local, "http://8.8.8.8/hook", Some(Refused::Scheme)),
        ];
        for (guard, url, expected) in cases {
            assert_eq!(guard.check_url(url).err(), *expected, "{url}");
        }
        assert_eq!(
            g.check_url("https://Hooks.Example.com./x").unwrap().host,
            Host::Name("hooks.example.com".into())
        );
    }

    #[test]
    fn resolved_addresses_must_all_pass() {
        let g = Guard::default();
        let public: IpAddr = "93.184.216.34".parse().unwrap();
        let internal: IpAddr = "10.0.0.5".parse().unwrap();
        assert_eq!(g.check_resolved(&[public]), Ok(()));
        assert!(g.check_resolved(&[public, internal]).is_err());
        assert_eq!(g.check_resolved(&[]), Err(Refused::Unresolved));
    }
}
