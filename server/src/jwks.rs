//! Keys from the brand's JWKS endpoint (`jwks_url` in a campaign's `[[campaign.keys]]`), with
//! rotation.
//!
//! When to fetch is the core's rule ([`campaign_token_core::jwks`]), the same as the page's:
//! a fetched set is used for its `Cache-Control` `max-age` clamped to one minute … one day; a
//! token whose `kid` the set lacks triggers one refetch at most once a minute, however many
//! tokens name unknown `kid`s; a failed fetch keeps the last good set. Here only the fetching:
//!
//! - One fetch at a time per URL; tokens that need the set while it is fetched wait for it
//!   (a stale set is refreshed in the background and keeps serving meanwhile).
//! - Explicit limits, the page's where they apply (the core's `jwks` constants and URL rule):
//!   `timeout_seconds` for the whole exchange (default the core's `FETCH_TIMEOUT_SECS`, 10 s),
//!   2 s to connect, at most the core's `MAX_JWKS_BYTES` (64 KiB) of body, no redirects, no
//!   cookies, no proxy from the environment, only `https:` (plain `http:` only on the loopback
//!   host, `jwks::url_allowed`).
//! - TLS by rustls with AWS-LC, the server's one TLS stack, checking the certificate against
//!   the Mozilla roots (`webpki-roots`) or, with `ca_file`, against that CA only.
//!
//! The set is parsed by the core exactly as a configured `jwks_file`: private members or a
//! symmetric key make the fetch fail (the last good set stays), unusable keys are skipped.

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use campaign_token_core::jwks::{url_allowed, JwksCache, Need, MAX_JWKS_BYTES};
use campaign_token_core::{Backend, ErrorCode, KeySet, Policy, Verified, Verifier};

/// Why a token could not be checked against the brand's keys.
#[derive(Debug)]
pub enum CheckError {
    /// The core rejected the token.
    Token(campaign_token_core::Error),
    /// No key set could be fetched yet (`503 keys_unavailable`): not the token's fault.
    KeysUnavailable,
}

impl From<campaign_token_core::Error> for CheckError {
    fn from(e: campaign_token_core::Error) -> Self {
        CheckError::Token(e)
    }
}

/// A brand's JWKS URL, its last good set and when to fetch it again.
pub struct RemoteKeys {
    url: reqwest::Url,
    policy: Policy,
    client: reqwest::Client,
    /// The last good set, as a verifier with the campaign's policy.
    current: RwLock<Option<Arc<Verifier>>>,
    /// The core's fetch policy state (held only for a moment, never across a fetch).
    cache: Mutex<JwksCache>,
    /// Held during a fetch: tokens that need the set wait on it.
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteKeys")
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

/// Why a `jwks_url` is refused at start-up (the message names what to change).
#[derive(Debug)]
pub struct SetupError(pub String);

impl RemoteKeys {
    /// Checks the URL and builds the client; fetches nothing yet.
    pub fn new(
        url: &str,
        policy: Policy,
        timeout: Duration,
        ca_pem: Option<&str>,
    ) -> Result<RemoteKeys, SetupError> {
        let url = reqwest::Url::parse(url)
            .map_err(|e| SetupError(format!("jwks_url `{url}` is not a URL: {e}")))?;
        match url.scheme() {
            "https" | "http" => {}
            s => return Err(SetupError(format!("jwks_url: unsupported scheme `{s}`"))),
        }
        if !url_allowed(url.scheme(), url.host_str().unwrap_or_default()) {
            return Err(SetupError(
                "jwks_url must be https: (plain http: only on localhost, 127.0.0.1 or [::1])"
                    .into(),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(SetupError("jwks_url must not carry credentials".into()));
        }
        if timeout.is_zero() || timeout > Duration::from_secs(60) {
            return Err(SetupError(
                "jwks timeout_seconds must be between 1 and 60".into(),
            ));
        }
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls_config(ca_pem)?)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(2).min(timeout))
            .timeout(timeout)
            .user_agent(concat!("campaign-token-server/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SetupError(format!("jwks_url: cannot build the HTTP client: {e}")))?;
        Ok(RemoteKeys {
            url,
            policy,
            client,
            current: RwLock::new(None),
            cache: Mutex::new(JwksCache::new()),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// The URL.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// The `kid`s of the last good set (empty before the first successful fetch).
    pub fn kids(&self) -> Vec<Option<String>> {
        self.current()
            .map(|v| v.keys().kids().map(|k| k.map(String::from)).collect())
            .unwrap_or_default()
    }

    fn current(&self) -> Option<Arc<Verifier>> {
        self.current.read().ok().and_then(|c| c.clone())
    }

    /// Whether the policy says to fetch now for `need`; if so the attempt is recorded, so
    /// concurrent callers do not fetch too.
    fn claim_fetch(&self, now: u64, need: Need) -> bool {
        let Ok(mut cache) = self.cache.lock() else {
            return false;
        };
        let go = cache.should_fetch(now, need);
        if go {
            cache.started(now);
        }
        go
    }

    /// Fetches the set now (the caller has claimed the fetch). Keeps the last good set when
    /// anything fails, and logs why.
    pub async fn refresh(&self, now: u64) {
        let _one = self.fetching.lock().await;
        match self.fetch().await {
            Ok((keys, cache_control)) => {
                tracing::info!(url = %self.url, keys = keys.len(), "fetched the brand's JWKS");
                let verifier = Arc::new(Verifier::new(keys, self.policy.clone()));
                if let Ok(mut current) = self.current.write() {
                    *current = Some(verifier);
                }
                if let Ok(mut cache) = self.cache.lock() {
                    cache.fetched(now, cache_control.as_deref());
                }
            }
            Err(e) => {
                tracing::warn!(url = %self.url, error = %e, "cannot fetch the brand's JWKS; keeping the last good set");
            }
        }
    }

    /// The first fetch, at start-up: a failure is logged, not fatal (tokens then get
    /// `503 keys_unavailable` until a fetch succeeds, retried at most once a minute).
    pub async fn prefetch(&self, now: u64) {
        if self.claim_fetch(now, Need::Keys) {
            self.refresh(now).await;
        }
    }

    async fn fetch(&self) -> Result<(KeySet, Option<String>), String> {
        let mut res = self
            .client
            .get(self.url.clone())
            .header(
                reqwest::header::ACCEPT,
                "application/jwk-set+json, application/json",
            )
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if res.status() != reqwest::StatusCode::OK {
            return Err(format!("answered {}", res.status()));
        }
        if res
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err(format!("larger than {MAX_JWKS_BYTES} bytes"));
        }
        let cache_control = res
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let mut body = Vec::new();
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|e| format!("reading the body failed: {e}"))?
        {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(format!("larger than {MAX_JWKS_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        let text = std::str::from_utf8(&body).map_err(|_| "the body is not UTF-8".to_string())?;
        let keys = KeySet::from_jwks(text).map_err(|e| e.message().to_string())?;
        Ok((keys, cache_control))
    }

    /// The set to check a token with, fetching first when the policy says so.
    async fn verifier(self: &Arc<Self>, now: u64, need: Need) -> Option<Arc<Verifier>> {
        let current = self.current();
        if self.claim_fetch(now, need) {
            if current.is_some() && need == Need::Keys {
                // Stale but usable: refresh in the background, serve the last set meanwhile.
                let me = Arc::clone(self);
                tokio::spawn(async move { me.refresh(now).await });
                return current;
            }
            self.refresh(now).await;
        } else if current.is_none() || need == Need::UnknownKid {
            // A fetch may be under way (another token claimed it): wait for it, not longer.
            drop(self.fetching.lock().await);
        }
        self.current()
    }

    /// Verifies `token` with the brand's keys: the last good set, refetched once (at most
    /// once a minute) when it lacks the token's `kid`.
    pub async fn verify(self: &Arc<Self>, token: &str, now: u64) -> Result<Verified, CheckError> {
        let Some(v) = self.verifier(now, Need::Keys).await else {
            return Err(CheckError::KeysUnavailable);
        };
        match v.verify_with(token, now, Backend::AwsLc) {
            Err(e) if e.code() == ErrorCode::UnknownKey => {
                match self.verifier(now, Need::UnknownKid).await {
                    Some(fresh) if !Arc::ptr_eq(&fresh, &v) => {
                        Ok(fresh.verify_with(token, now, Backend::AwsLc)?)
                    }
                    _ => Err(CheckError::Token(e)),
                }
            }
            other => Ok(other?),
        }
    }
}

/// rustls with AWS-LC (the process's one provider) and either the Mozilla roots or one CA.
fn tls_config(ca_pem: Option<&str>) -> Result<rustls::ClientConfig, SetupError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    match ca_pem {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| SetupError(format!("jwks ca_file: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| SetupError(format!("jwks ca_file: {e}")))?;
            }
            if roots.is_empty() {
                return Err(SetupError("jwks ca_file holds no certificate".into()));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SetupError(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// Reads a CA file for `ca_file`.
pub fn read_ca(path: &Path) -> Result<String, SetupError> {
    std::fs::read_to_string(path)
        .map_err(|e| SetupError(format!("cannot read jwks ca_file {}: {e}", path.display())))
}
