//! `jwks_url`: the brand's keys fetched from its JWKS endpoint (a real HTTP server on
//! loopback), with rotation, one refetch per unknown `kid` at most once a minute, the last good
//! set kept when a fetch fails, and `503 keys_unavailable` before any set was fetched.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use campaign_token_core::mint::{mint, SigningKey, TokenClaims};
use campaign_token_core::Algorithm;
use campaign_token_server::config::Config;
use common::*;
use serde_json::json;

/// The brand's JWKS endpoint: what it serves, with which status, and how often it was asked.
#[derive(Default)]
struct Brand {
    body: Mutex<String>,
    status: AtomicU16,
    hits: AtomicUsize,
}

impl Brand {
    fn serve(&self, keys: &[&SigningKey]) {
        let jwks = json!({ "keys": keys.iter().map(|k| k.public_jwk()).collect::<Vec<_>>() });
        *self.body.lock().unwrap() = jwks.to_string();
        self.status.store(200, Ordering::SeqCst);
    }
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn jwks(State(brand): State<Arc<Brand>>) -> impl IntoResponse {
    brand.hits.fetch_add(1, Ordering::SeqCst);
    let status = StatusCode::from_u16(brand.status.load(Ordering::SeqCst)).unwrap();
    (
        status,
        [
            (header::CACHE_CONTROL, "public, max-age=600"),
            // With status 302: a redirect to the same set, served with 200 (never followed).
            (header::LOCATION, "/moved/jwks.json"),
        ],
        brand.body.lock().unwrap().clone(),
    )
}

async fn moved(State(brand): State<Arc<Brand>>) -> impl IntoResponse {
    brand.hits.fetch_add(1, Ordering::SeqCst);
    brand.body.lock().unwrap().clone()
}

async fn brand_server() -> (Arc<Brand>, SocketAddr) {
    let brand = Arc::new(Brand::default());
    brand.status.store(500, Ordering::SeqCst);
    let app = axum::Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route("/moved/jwks.json", get(moved))
        .with_state(Arc::clone(&brand));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (brand, addr)
}

fn signing_key(kid: &str) -> SigningKey {
    SigningKey::generate(Algorithm::Es256)
        .unwrap()
        .with_kid(Some(kid.into()))
}

fn token_of(key: &SigningKey, sub: &str) -> String {
    let claims =
        TokenClaims::new(sub, "brand", (START - 60) as u64, 365 * 86_400).with_gift(None, None);
    mint(key, &claims).unwrap()
}

fn config(database: &str, brand: SocketAddr, extra_key: &str) -> String {
    config_toml(
        database,
        &[format!(
            "[[campaign]]\nid = \"brand\"\ntype = \"draw\"\nstart = \"{START_RFC}\"\nend = \"{END_RFC}\"\n\
             participation_limit = 100\n\
             [[campaign.keys]]\njwks_url = \"http://{brand}/.well-known/jwks.json\"\n{extra_key}\
             [[campaign.prizes]]\nid = \"p\"\nname = \"a prize\"\nquantity = 1\n"
        )],
    )
}

/// Lets a background refresh (spawned by a request that found the set stale) finish.
async fn until(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn keys_rotate_and_unknown_kids_refetch_at_most_once_a_minute() {
    let (brand, addr) = brand_server().await;
    let (a, b, c) = (signing_key("a"), signing_key("b"), signing_key("c"));
    brand.serve(&[&a]);
    let db = &databases("jwks_rotation").await[0];
    let h = Harness::start(&config(&db.url, addr, ""), START + 10).await;
    assert_eq!(brand.hits(), 1, "one fetch before serving");

    let (s, v) = h.participate("brand", &token_of(&a, "u1")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(brand.hits(), 1, "a fresh set is not asked again");

    // Within the minute after a fetch, a token of a key the set lacks is refused without
    // asking again, however many such tokens come.
    brand.serve(&[&a, &b]);
    for i in 0..10 {
        let (s, v) = h
            .participate("brand", &token_of(&b, &format!("early{i}")))
            .await;
        assert_eq!((s, v["error"]["code"].as_str()), (401, Some("unknown_key")));
    }
    assert_eq!(brand.hits(), 1);

    // A minute on, the brand has rotated in key b: one refetch, and b's tokens verify.
    h.clock.set(START + 75);
    let (s, v) = h.participate("brand", &token_of(&b, "u2")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(brand.hits(), 2);

    // A flood of tokens naming a kid the brand never published: one refetch a minute.
    h.clock.set(START + 140);
    let floods = (0..30).map(|i| {
        let t = token_of(&c, &format!("flood{i}"));
        let addr = h.addr();
        tokio::spawn(async move { participate(addr, "brand", &t).await })
    });
    for f in floods {
        let (s, v) = f.await.unwrap();
        assert_eq!((s, v["error"]["code"].as_str()), (401, Some("unknown_key")));
    }
    assert_eq!(brand.hits(), 3, "30 unknown-kid tokens, one fetch");
    for i in 0..10 {
        let (s, _) = h
            .participate("brand", &token_of(&c, &format!("again{i}")))
            .await;
        assert_eq!(s, 401);
    }
    assert_eq!(brand.hits(), 3);

    // The endpoint fails after the set went stale (max-age=600): the last good set keeps
    // answering, and the failed fetch is not retried within the minute.
    brand.status.store(503, Ordering::SeqCst);
    h.clock.set(START + 800);
    let (s, v) = h.participate("brand", &token_of(&a, "u3")).await;
    assert_eq!(s, 200, "{v}");
    until("the background refresh", || brand.hits() == 4).await;
    let (s, v) = h.participate("brand", &token_of(&b, "u4")).await;
    assert_eq!(s, 200, "{v}");

    // A set that publishes a private key is refused like a configured one: the last good
    // set stays.
    let mut leaked = a.public_jwk();
    leaked["d"] = json!("AAAA");
    *brand.body.lock().unwrap() = json!({ "keys": [leaked] }).to_string();
    brand.status.store(200, Ordering::SeqCst);
    h.clock.set(START + 900);
    let (s, _) = h.participate("brand", &token_of(&a, "u5")).await;
    assert_eq!(s, 200);
    until("the refused refresh", || brand.hits() == 5).await;
    let (s, v) = h.participate("brand", &token_of(&b, "u6")).await;
    assert_eq!(s, 200, "{v}");

    // Rotation out: the brand drops key a; after the next fetch a's tokens are unknown.
    brand.serve(&[&b]);
    h.clock.set(START + 1600);
    let _ = h.participate("brand", &token_of(&b, "u7")).await;
    until("the refresh after max-age", || brand.hits() == 6).await;
    // The refresh runs in the background: wait until the new set answers.
    let mut code = String::new();
    for i in 0..100 {
        let (_, v) = h
            .participate("brand", &token_of(&a, &format!("old{i}")))
            .await;
        code = v["error"]["code"].as_str().unwrap_or("").to_owned();
        if code == "unknown_key" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(code, "unknown_key");
    h.stop().await;
}

#[tokio::test]
async fn no_set_yet_is_503_keys_unavailable_then_the_first_good_fetch_serves() {
    let (brand, addr) = brand_server().await; // answers 500
    let a = signing_key("a");
    let db = &databases("jwks_unavailable").await[0];
    let h = Harness::start(&config(&db.url, addr, ""), START + 10).await;
    assert_eq!(
        brand.hits(),
        1,
        "the server starts although the JWKS failed"
    );
    let (s, headers, body) = raw_participate(h.addr(), &token_of(&a, "u1")).await;
    assert_eq!(s, 503, "{body}");
    assert!(body.contains("\"keys_unavailable\""), "{body}");
    assert!(
        headers.to_ascii_lowercase().contains("retry-after: 60"),
        "{headers}"
    );
    assert_eq!(brand.hits(), 1, "not retried within the minute");

    brand.serve(&[&a]);
    h.clock.set(START + 71);
    let (s, v) = h.participate("brand", &token_of(&a, "u1")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(brand.hits(), 2);
    h.stop().await;
}

#[tokio::test]
async fn configured_keys_answer_first_and_the_jwks_the_other_kids() {
    let (brand, addr) = brand_server().await;
    let (local, remote) = (signing_key("local"), signing_key("remote"));
    brand.serve(&[&remote]);
    let extra = format!(
        "[[campaign.keys]]\nkid = \"local\"\npem = '''\n{}'''\n",
        local.public_pem().unwrap()
    );
    let db = &databases("jwks_mixed").await[0];
    let h = Harness::start(&config(&db.url, addr, &extra), START + 10).await;
    for (key, sub) in [(&local, "l"), (&remote, "r")] {
        let (s, v) = h.participate("brand", &token_of(key, sub)).await;
        assert_eq!(s, 200, "{sub}: {v}");
    }
    h.stop().await;
}

#[test]
fn jwks_url_settings_are_checked_at_start_up() {
    let parse = |key: &str| {
        let toml = config_toml(
            "sqlite:unused.db",
            &[format!(
                "[[campaign]]\nid = \"brand\"\ntype = \"draw\"\nstart = \"{START_RFC}\"\nend = \"{END_RFC}\"\n{key}\
                 [[campaign.prizes]]\nid = \"p\"\nname = \"a prize\"\nquantity = 1\n"
            )],
        );
        Config::parse(&toml, Path::new("."), &test_env)
            .err()
            .map(|e| e.to_string())
    };
    let url = "[[campaign.keys]]\njwks_url = \"https://brand.example/jwks.json\"\n";
    assert_eq!(parse(url), None);
    let cases = [
        (
            "[[campaign.keys]]\njwks_url = \"http://brand.example/jwks.json\"\n",
            "must be https",
        ),
        (
            "[[campaign.keys]]\njwks_url = \"ftp://brand.example/jwks.json\"\n",
            "unsupported scheme",
        ),
        (
            "[[campaign.keys]]\njwks_url = \"https://u:p@brand.example/jwks.json\"\n",
            "credentials",
        ),
        ("[[campaign.keys]]\njwks_url = \"not a url\"\n", "not a URL"),
        (&format!("{url}kid = \"a\"\n"), "come from the JWKS"),
        (&format!("{url}timeout_seconds = 0\n"), "between 1 and 60"),
        (&format!("{url}{url}"), "only one jwks_url"),
        (
            "[[campaign.keys]]\njwks_url = \"http://127.0.0.2/jwks.json\"\n",
            "must be https",
        ),
        (
            &format!("{url}[[campaign.keys]]\npem = '''\n{}'''\n", public_pem()),
            "needs a kid",
        ),
        (
            "[[campaign.keys]]\npem_file = \"k.pem\"\ntimeout_seconds = 3\n",
            "apply only to jwks_url",
        ),
        (
            &format!("{url}ca_file = \"/nonexistent/ca.pem\"\n"),
            "cannot read jwks ca_file",
        ),
    ];
    for (key, want) in cases {
        let got = parse(key).unwrap_or_default();
        assert!(got.contains(want), "{key}: {got}");
    }
}

/// POSTs a participation and returns the status, the raw header block and the body.
async fn raw_participate(addr: SocketAddr, token: &str) -> (u16, String, String) {
    let body = json!({ "token": token }).to_string();
    let (status, head, body) = raw(
        addr,
        "POST",
        "/api/campaigns/brand/participations",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
        true,
    )
    .await;
    (status, head, String::from_utf8_lossy(&body).into_owned())
}

/// A JWKS endpoint over TLS, its certificate (for `localhost`) signed by a CA of its own;
/// returns the brand, the port and the CA's PEM.
async fn tls_brand_server() -> (Arc<Brand>, u16, String) {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let brand = Arc::new(Brand::default());
    brand.status.store(500, Ordering::SeqCst);
    let app = axum::Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .with_state(Arc::clone(&brand));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (brand, port, ca.pem())
}

#[tokio::test]
async fn https_is_checked_against_the_ca_file_or_the_public_roots() {
    let (brand, port, ca_pem) = tls_brand_server().await;
    let a = signing_key("a");
    brand.serve(&[&a]);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("brand-ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let campaign = |extra: &str| {
        format!(
            "[[campaign]]\nid = \"brand\"\ntype = \"draw\"\nstart = \"{START_RFC}\"\nend = \"{END_RFC}\"\n\
             [[campaign.keys]]\njwks_url = \"https://localhost:{port}/.well-known/jwks.json\"\n{extra}\
             [[campaign.prizes]]\nid = \"p\"\nname = \"a prize\"\nquantity = 1\n"
        )
    };
    // The brand's own CA, named in ca_file: the set is fetched and tokens verify.
    let db = &databases("jwks_tls").await[0];
    let toml = config_toml(
        &db.url,
        &[campaign(&format!("ca_file = \"{}\"\n", ca_file.display()))],
    );
    let h = Harness::start(&toml, START + 10).await;
    let (s, v) = h.participate("brand", &token_of(&a, "u1")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(brand.hits(), 1);
    h.stop().await;

    // Without ca_file only the public (Mozilla) roots are trusted: the handshake fails, no
    // request reaches the endpoint, and tokens get 503 keys_unavailable.
    let db = &databases("jwks_tls_untrusted").await[0];
    let h = Harness::start(&config_toml(&db.url, &[campaign("")]), START + 10).await;
    let (s, v) = h.participate("brand", &token_of(&a, "u1")).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (503, Some("keys_unavailable"))
    );
    assert_eq!(
        brand.hits(),
        1,
        "the untrusted certificate stopped the request"
    );
    h.stop().await;
}

#[tokio::test]
async fn redirects_and_oversized_sets_are_refused() {
    let a = signing_key("a");
    // A redirect is not followed (even to a good set on the same host).
    let (brand, addr) = brand_server().await;
    brand.serve(&[&a]);
    brand.status.store(302, Ordering::SeqCst);
    let db = &databases("jwks_redirect").await[0];
    let h = Harness::start(&config(&db.url, addr, ""), START + 10).await;
    let (s, v) = h.participate("brand", &token_of(&a, "u1")).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (503, Some("keys_unavailable"))
    );
    assert_eq!(brand.hits(), 1, "the redirect's target was never asked");
    h.stop().await;

    // A set larger than 64 KiB is not read (the valid key is in it).
    let (brand, addr) = brand_server().await;
    let padding = "x".repeat(80 * 1024);
    *brand.body.lock().unwrap() =
        json!({ "keys": [a.public_jwk()], "padding": padding }).to_string();
    brand.status.store(200, Ordering::SeqCst);
    let db = &databases("jwks_oversized").await[0];
    let h = Harness::start(&config(&db.url, addr, ""), START + 10).await;
    let (s, v) = h.participate("brand", &token_of(&a, "u1")).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (503, Some("keys_unavailable"))
    );
    assert_eq!(brand.hits(), 1);
    h.stop().await;
}
