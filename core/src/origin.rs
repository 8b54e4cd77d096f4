//! The exact-origin rule: which strings may name the other side of the postMessage exchange
//! (the campaign page's `allowedOrigins`, the server's `site.integrator_origins`, which also
//! become `frame-ancestors`, and the integrator's `targetOrigin`).
//!
//! An origin is accepted only when it is, byte for byte, what a browser reports as
//! `MessageEvent.origin` for some `http`/`https` site, because origins are compared as
//! strings: anything else (a path, a trailing slash, upper case, a default port, `*`,
//! `null`) could never match and would fail silently. The rule is deliberately a subset of
//! the URL standard's serialisation: lower-case `http` or `https`, `://`, a host, and an
//! optional port, nothing more. The host is a lower-case ASCII domain (labels of `a-z`,
//! `0-9`, `-`, `_`; non-ASCII names in their `xn--` form; no trailing dot), a dotted-decimal
//! IPv4 address in canonical form, or a bracketed IPv6 address in canonical (RFC 5952)
//! form. A port is decimal, 1–65535, without leading zeros, and never the scheme's default.
//!
//! `tests/origins.json` lists accepted and refused origins; the Rust and the JS copies of
//! this rule (`js/integrator.js`) are both tested against it.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Whether `s` is an exact serialised origin as this module defines it.
pub fn is_exact_origin(s: &str) -> bool {
    let (rest, default_port) = if let Some(r) = s.strip_prefix("https://") {
        (r, 443)
    } else if let Some(r) = s.strip_prefix("http://") {
        (r, 80)
    } else {
        return false;
    };
    let (host, port) = split_port(rest);
    let port_ok = match port {
        None => true,
        Some(p) => {
            !p.starts_with('0')
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u16>().is_ok_and(|n| n != default_port)
        }
    };
    port_ok && is_host(host)
}

/// Splits `host[:port]`; a bracketed IPv6 host keeps its colons.
fn split_port(rest: &str) -> (&str, Option<&str>) {
    let after_host = if rest.starts_with('[') {
        rest.find(']').map_or(rest.len(), |i| i + 1)
    } else {
        rest.find(':').unwrap_or(rest.len())
    };
    let (host, tail) = rest.split_at(after_host);
    match tail.strip_prefix(':') {
        Some(port) => (host, Some(port)),
        // Anything else after the host (a path, `?`, `#`, a stray `]`) is refused by
        // presenting it as a port that cannot parse.
        None if tail.is_empty() => (host, None),
        None => (host, Some(tail)),
    }
}

fn is_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        // Rust prints IPv6 in RFC 5952 form, as browsers do, except IPv4-mapped addresses,
        // which it writes with dots and browsers in hex: those are refused.
        return !inner.contains('.')
            && inner
                .parse::<Ipv6Addr>()
                .is_ok_and(|a| a.to_string() == inner);
    }
    let labels: Vec<&str> = host.split('.').collect();
    let Some(last) = labels.last() else {
        return false;
    };
    // A host whose last label is a number is an IPv4 address to a browser, which rewrites
    // it (`1.2.3` becomes `1.2.0.3`, `0x7f.1` becomes `127.0.0.1`): only the canonical
    // dotted-decimal form can match.
    if last.bytes().all(|b| b.is_ascii_digit()) || last.starts_with("0x") {
        return host
            .parse::<Ipv4Addr>()
            .is_ok_and(|a| a.to_string() == host);
    }
    labels.iter().all(|l| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::is_exact_origin;

    #[test]
    fn the_usual_origins() {
        assert!(is_exact_origin("https://brand.example"));
        assert!(is_exact_origin("http://localhost:8080"));
        assert!(!is_exact_origin("https://brand.example/"));
        assert!(!is_exact_origin("*"));
    }
}
