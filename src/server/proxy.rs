//! Who the client is: the PROXY protocol header a trusted load balancer
//! sends before TLS, and the one rule ([`client_addr`]) that picks the
//! client's address for allowlists, the per-IP connection cap and per-client
//! rate limits.

use std::net::IpAddr;

use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;

/// Longest PROXY protocol header read (v2 allows 16 + 65535; we need only
/// addresses and refuse TLVs past this).
const MAX_PROXY_HEADER: usize = 536;

/// What a connection's PROXY protocol header said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proxied {
    /// No header: the peer is not a trusted proxy (nothing is read from
    /// it), or it sent none.
    No,
    /// A header naming the client's address.
    Client(IpAddr),
    /// A header without an address (v1 `UNKNOWN`, v2 `LOCAL` or a non-IP
    /// family): the balancer speaks for itself, e.g. a health check.
    Unknown,
}

/// Whether `ip` is one of the trusted proxies.
pub(crate) fn is_trusted(trusted: &[ipnet::IpNet], ip: IpAddr) -> bool {
    trusted.iter().any(|n| n.contains(&ip))
}

/// The client's address. `None` when a trusted L7 balancer sent an
/// `X-Forwarded-For` that does not parse (the caller refuses what needs an
/// address).
///
/// | peer | PROXY header | `X-Forwarded-For` | client |
/// |---|---|---|---|
/// | not trusted | not read | ignored | the peer |
/// | trusted | names an address | ignored: inside TLS only the client can have written it | that address |
/// | trusted | without an address | ignored, as above | the peer |
/// | trusted | none (an L7 balancer) | the right-most entry that is not a trusted proxy | that entry, else the peer |
pub(crate) fn client_addr<'a>(
    peer: IpAddr,
    trusted: &[ipnet::IpNet],
    proxied: Proxied,
    forwarded_for: impl IntoIterator<Item = &'a [u8]>,
) -> Option<IpAddr> {
    if !is_trusted(trusted, peer) {
        return Some(peer);
    }
    match proxied {
        Proxied::Client(ip) => return Some(ip),
        Proxied::Unknown => return Some(peer),
        Proxied::No => {}
    }
    let mut entries = Vec::new();
    for value in forwarded_for {
        let text = std::str::from_utf8(value).ok()?;
        for item in text.split(',') {
            entries.push(item.trim().parse::<IpAddr>().ok()?);
        }
    }
    Some(
        entries
            .into_iter()
            .rev()
            .find(|ip| !is_trusted(trusted, *ip))
            .unwrap_or(peer),
    )
}

/// Reads a PROXY protocol v1 or v2 header if the stream starts with one
/// (parsed with the `ppp` crate).
pub(crate) async fn read_header(stream: &mut TcpStream) -> std::io::Result<Proxied> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let stated = |ip: Option<IpAddr>| ip.map_or(Proxied::Unknown, Proxied::Client);
    let mut head = [0u8; 16];
    let n = stream.peek(&mut head).await?;
    const V2_SIG: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
    if n >= 12 && &head[..12] == V2_SIG {
        if n < 16 {
            let mut full = [0u8; 16];
            stream.read_exact(&mut full).await?;
            head = full;
        } else {
            stream.read_exact(&mut head).await?;
        }
        let len = usize::from(u16::from_be_bytes([head[14], head[15]]));
        if 16 + len > MAX_PROXY_HEADER {
            return Err(bad("PROXY v2 header too long"));
        }
        let mut buf = head.to_vec();
        buf.resize(16 + len, 0);
        stream.read_exact(&mut buf[16..]).await?;
        let header = ppp::v2::Header::try_from(buf.as_slice()).map_err(|_| bad("PROXY v2"))?;
        return Ok(stated(match header.addresses {
            ppp::v2::Addresses::IPv4(a) => Some(IpAddr::V4(a.source_address)),
            ppp::v2::Addresses::IPv6(a) => Some(IpAddr::V6(a.source_address)),
            _ => None,
        }));
    }
    if n >= 6 && &head[..6] == b"PROXY " {
        // v1: one text line of at most 107 bytes.
        let mut line = Vec::with_capacity(108);
        loop {
            let mut b = [0u8; 1];
            stream.read_exact(&mut b).await?;
            line.push(b[0]);
            if line.ends_with(b"\r\n") {
                break;
            }
            if line.len() > 107 {
                return Err(bad("PROXY v1 line too long"));
            }
        }
        let text = std::str::from_utf8(&line).map_err(|_| bad("PROXY v1"))?;
        let header = ppp::v1::Header::try_from(text).map_err(|_| bad("PROXY v1"))?;
        return Ok(stated(match header.addresses {
            ppp::v1::Addresses::Tcp4(a) => Some(IpAddr::V4(a.source_address)),
            ppp::v1::Addresses::Tcp6(a) => Some(IpAddr::V6(a.source_address)),
            ppp::v1::Addresses::Unknown => None,
        }));
    }
    Ok(Proxied::No)
}

#[cfg(test)]
mod tests {
    use super::{client_addr, Proxied};
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<ipnet::IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn xff(values: &[&'static str]) -> Vec<&'static [u8]> {
        values.iter().map(|v| v.as_bytes()).collect()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        let trusted = nets(&["10.0.0.0/8"]);
        let peer = ip("198.51.100.1");
        for proxied in [
            Proxied::No,
            Proxied::Client(ip("10.1.1.1")),
            Proxied::Unknown,
        ] {
            let got = client_addr(peer, &trusted, proxied, xff(&["10.2.2.2"]));
            assert_eq!(got, Some(peer), "{proxied:?}");
        }
        assert_eq!(
            client_addr(peer, &[], Proxied::No, xff(&["not-an-ip"])),
            Some(peer)
        );
    }

    #[test]
    fn a_proxy_header_outranks_x_forwarded_for() {
        let trusted = nets(&["127.0.0.1/32"]);
        let lb = ip("127.0.0.1");
        let got = client_addr(
            lb,
            &trusted,
            Proxied::Client(ip("203.0.113.5")),
            xff(&["10.1.2.3"]),
        );
        assert_eq!(got, Some(ip("203.0.113.5")));
        let got = client_addr(
            lb,
            &trusted,
            Proxied::Client(ip("203.0.113.5")),
            xff(&["garbage"]),
        );
        assert_eq!(got, Some(ip("203.0.113.5")), "not even parsed");
        let got = client_addr(lb, &trusted, Proxied::Unknown, xff(&["10.1.2.3"]));
        assert_eq!(got, Some(lb), "UNKNOWN/LOCAL: the balancer itself");
    }

    #[test]
    fn without_a_proxy_header_the_right_most_untrusted_forwarded_entry_wins() {
        let trusted = nets(&["127.0.0.1/32", "10.0.0.0/8"]);
        let lb = ip("127.0.0.1");
        let at = |values: &[&'static str]| client_addr(lb, &trusted, Proxied::No, xff(values));
        assert_eq!(at(&[]), Some(lb), "no header: the balancer");
        assert_eq!(at(&["203.0.113.7"]), Some(ip("203.0.113.7")));
        assert_eq!(
            at(&["203.0.113.7, 198.51.100.1"]),
            Some(ip("198.51.100.1")),
            "a client-written entry on the left is not believed"
        );
        assert_eq!(
            at(&["203.0.113.8, 10.0.0.2", "127.0.0.1"]),
            Some(ip("203.0.113.8")),
            "trusted hops on the right are skipped, across header lines"
        );
        assert_eq!(at(&["10.0.0.2"]), Some(lb), "only trusted hops");
        assert_eq!(at(&["2001:db8::1"]), Some(ip("2001:db8::1")));
        assert_eq!(at(&["203.0.113.7, nonsense"]), None);
        assert_eq!(at(&["\u{fffd}"]), None);
    }
}
