//! When to fetch a brand's JWKS (`jwksUrl` in the page, `jwks_url` on the server): one policy,
//! pure and clock-injected, so the page and the server cache and refetch the same way.
//!
//! - A fetched set is fresh for the `max-age` of its `Cache-Control`, clamped to
//!   [[`MIN_TTL`], [`MAX_TTL`]] (one minute to one day); `no-store`, `no-cache` or no
//!   `max-age` at all count as the minimum (a minute), so a brand's rotation is seen soon but
//!   the endpoint is never asked more than once a minute per page or server.
//! - A token whose `kid` is not in the set may trigger one refetch, at most once a minute
//!   ([`MIN_TTL`]) whatever the tokens say: a flood of made-up `kid`s cannot make the page or
//!   the server hammer the brand.
//! - A failed fetch keeps the last good set (if any), and is retried no sooner than a minute.

/// The shortest time a fetched set is used, and the least time between two fetches (seconds).
pub const MIN_TTL: u64 = 60;
/// The longest time a fetched set is used without asking again (seconds).
pub const MAX_TTL: u64 = 86_400;
/// How long one fetch of a JWKS may take before it counts as failed (seconds).
pub const FETCH_TIMEOUT_SECS: u64 = 10;
/// The largest JWKS body accepted (bytes): a key set is a few kilobytes.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;

/// Whether keys may be fetched from a URL with this scheme and host (each side parses the URL
/// with its own parser and asks here): `https:`, or plain `http:` only on the loopback host
/// (`localhost`, `127.0.0.1`, `[::1]`: a developer's machine and tests), because a key set
/// fetched in clear text could be swapped by anyone on the path.
pub fn url_allowed(scheme: &str, host: &str) -> bool {
    let scheme = scheme.trim_end_matches(':');
    if host.is_empty() {
        return false;
    }
    scheme.eq_ignore_ascii_case("https")
        || (scheme.eq_ignore_ascii_case("http")
            && (host.eq_ignore_ascii_case("localhost")
                || host == "127.0.0.1"
                || host == "[::1]"
                || host == "::1"))
}

/// Why a caller would fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// A token arrived and the set may be stale (or was never fetched).
    Keys,
    /// A token names a `kid` the current set does not have.
    UnknownKid,
}

/// The cache state of one JWKS URL. Times are seconds since the epoch, from the caller's clock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwksCache {
    /// When the current set was fetched, and how long it stays fresh.
    fetched: Option<(u64, u64)>,
    /// When the last fetch started (successful or not).
    last_attempt: Option<u64>,
}

impl JwksCache {
    /// A cache that has never fetched.
    pub fn new() -> JwksCache {
        JwksCache::default()
    }

    /// Whether a set has been fetched successfully (the last good set is kept on failures).
    pub fn has_keys(&self) -> bool {
        self.fetched.is_some()
    }

    /// Whether the caller should fetch now, for `need`. Never twice within [`MIN_TTL`].
    pub fn should_fetch(&self, now: u64, need: Need) -> bool {
        let rested = self
            .last_attempt
            .is_none_or(|t| now.saturating_sub(t) >= MIN_TTL || now < t);
        match (need, self.fetched) {
            (_, None) => rested,
            (Need::UnknownKid, Some(_)) => rested,
            (Need::Keys, Some((at, ttl))) => rested && (now >= at.saturating_add(ttl) || now < at),
        }
    }

    /// Records that a fetch starts at `now` (call before fetching: concurrent tokens then wait).
    pub fn started(&mut self, now: u64) {
        self.last_attempt = Some(now);
    }

    /// Records a successful fetch at `now` with the response's `Cache-Control` header.
    pub fn fetched(&mut self, now: u64, cache_control: Option<&str>) {
        self.last_attempt = Some(now);
        self.fetched = Some((now, ttl(cache_control)));
    }

    /// How long (seconds) the current set stays fresh from when it was fetched, if any.
    pub fn ttl(&self) -> Option<u64> {
        self.fetched.map(|(_, ttl)| ttl)
    }
}

/// The freshness a `Cache-Control` header gives, clamped to [[`MIN_TTL`], [`MAX_TTL`]].
pub fn ttl(cache_control: Option<&str>) -> u64 {
    let mut max_age = None;
    for directive in cache_control.unwrap_or_default().split(',') {
        let directive = directive.trim();
        let (name, value) = match directive.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (directive, None),
        };
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return MIN_TTL;
        }
        // `s-maxage` is for shared caches; a page and a server are private ones.
        if name.eq_ignore_ascii_case("max-age") {
            max_age = value.and_then(|v| v.parse::<u64>().ok());
        }
    }
    max_age.unwrap_or(MIN_TTL).clamp(MIN_TTL, MAX_TTL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_over_https_or_from_loopback_only() {
        assert!(url_allowed("https", "keys.brand.example"));
        assert!(url_allowed("https:", "keys.brand.example"));
        assert!(url_allowed("http:", "127.0.0.1"));
        assert!(url_allowed("http", "localhost"));
        assert!(url_allowed("http", "[::1]"));
        assert!(!url_allowed("http", "keys.brand.example"));
        assert!(!url_allowed("http", "127.0.0.2.brand.example"));
        assert!(!url_allowed("ftp", "keys.brand.example"));
        assert!(!url_allowed("data", ""));
        assert!(!url_allowed("https", ""));
    }

    #[test]
    fn cache_control_gives_a_clamped_ttl() {
        assert_eq!(ttl(None), 60);
        assert_eq!(ttl(Some("")), 60);
        assert_eq!(ttl(Some("max-age=300")), 300);
        assert_eq!(ttl(Some("public, MAX-AGE=\"600\", must-revalidate")), 600);
        assert_eq!(ttl(Some("max-age=5")), 60);
        assert_eq!(ttl(Some("max-age=999999999")), 86_400);
        assert_eq!(ttl(Some("max-age=300, no-cache")), 60);
        assert_eq!(ttl(Some("no-store")), 60);
        assert_eq!(ttl(Some("max-age=-1")), 60);
        assert_eq!(ttl(Some("max-age=abc")), 60);
    }

    #[test]
    fn fetches_when_stale_and_on_unknown_kids_at_most_once_a_minute() {
        let mut c = JwksCache::new();
        assert!(c.should_fetch(1000, Need::Keys));
        c.started(1000);
        // Concurrent tokens while the first fetch runs do not start another.
        assert!(!c.should_fetch(1001, Need::Keys));
        c.fetched(1001, Some("max-age=300"));
        assert!(c.has_keys());
        assert!(!c.should_fetch(1200, Need::Keys), "fresh");
        assert!(c.should_fetch(1301, Need::Keys), "stale after max-age");
        // Unknown kids: one refetch, then none for a minute, however many tokens come.
        assert!(
            !c.should_fetch(1030, Need::UnknownKid),
            "within a minute of the last fetch"
        );
        assert!(c.should_fetch(1061, Need::UnknownKid));
        c.started(1061);
        for t in 1062..1121 {
            assert!(!c.should_fetch(t, Need::UnknownKid), "{t}");
        }
        assert!(c.should_fetch(1121, Need::UnknownKid));
    }

    #[test]
    fn a_failed_fetch_keeps_the_last_set_and_waits_a_minute() {
        let mut c = JwksCache::new();
        c.fetched(1000, Some("max-age=60"));
        c.started(1060); // the refetch fails: nothing else is recorded
        assert!(c.has_keys(), "the last good set is kept");
        assert!(!c.should_fetch(1100, Need::Keys));
        assert!(c.should_fetch(1120, Need::Keys));
        // A clock that went back never blocks fetching for good.
        assert!(c.should_fetch(10, Need::Keys));
    }
}
