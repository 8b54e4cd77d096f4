//! Replays, as an attacker and a visitor would try them: the ECDSA twin of a token (its
//! signature's s replaced by n − s, equally valid) is the same participation; a token posted many
//! times at once across two server processes sharing a database always answers its original
//! participation; a replay after the end still answers it; and the request checks (415, a
//! token that is not a string).

// Test helpers outside #[test] functions: a panic there is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashSet;

use campaign_token_core::mint::{mint, SigningKey, TokenClaims};
use campaign_token_core::Algorithm;
use common::*;
use serde_json::Value;

/// Minted once with the npm `jose` package (an implementation independent of ours), for
/// the campaign `twins-jose-es256`; its private key was thrown away.
const JOSE_ES256_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAECk+NfaAuG2SRRY0PlOjSFyh/LboP\nFd6IY6eL7Lj3IZkGdAwuWRHGcbQIAbmYmSyVAPpxf7vi03UxGgOM4W2y2g==\n-----END PUBLIC KEY-----";
const JOSE_ES256_TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.eyJjYW1wYWlnbklkIjoidHdpbnMtam9zZS1lczI1NiIsImdpZnQiOnsiY3ciOnRydWV9LCJzdWIiOiJqb3NlLW1lbWJlciIsImlhdCI6MTk5OTk5NjQwMCwiZXhwIjoyMzE1MzU2NDAwfQ.lngQcyUtH6pd8sVOKFS5tfqeAOoPfdqwaTpLdgX4XNapx9FSAWP4wOF1Z-MqLDe1lpax7DeUbgwECiCqlZSIdA";
/// Minted once with the npm `jose` package (an implementation independent of ours), for
/// the campaign `twins-jose-es384`; its private key was thrown away.
const JOSE_ES384_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE/E9OYh2sXEo3sM6zszd1QXJlj/oFeK6p\nf644Lqbg2oCc98w6RuugGAs4ejWx3aHdMLytmXn6ZWFf0+1OOqExfVVTMhe0pF38\nqyAel6r+qAGl4LWi9yrLgPlZmm5FIHa4\n-----END PUBLIC KEY-----";
const JOSE_ES384_TOKEN: &str = "eyJhbGciOiJFUzM4NCJ9.eyJjYW1wYWlnbklkIjoidHdpbnMtam9zZS1lczM4NCIsImdpZnQiOnsiY3ciOnRydWV9LCJzdWIiOiJqb3NlLW1lbWJlciIsImlhdCI6MTk5OTk5NjQwMCwiZXhwIjoyMzE1MzU2NDAwfQ.GkeLYhiJvx1-Mm3hSSylgyw5LkV7Gg2TXhf95o5QGmyel8Vm65WkYh2WYR01hWD21w53qbEBguCtjhI0LCkjpfscZkRNG7XeWs_fdNDKV2ta042DzZyiKfi_13TT-xeq";
/// The group orders n of P-256 and P-384, big-endian.
const P256_N: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
const P384_N: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// `a - b` for big-endian numbers of equal length, `a > b`.
fn sub(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; a.len()];
    let mut borrow = 0i16;
    for i in (0..a.len()).rev() {
        let mut d = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = d as u8;
    }
    assert_eq!(borrow, 0);
    out
}

/// The token with its ECDSA signature (r, s) replaced by (r, n − s): another valid signature of
/// the same signing input, which every mainstream verifier accepts.
fn twin(token: &str, alg: Algorithm) -> String {
    use ct_codecs::{Base64UrlSafeNoPadding as B64, Decoder, Encoder};
    let n = unhex(match alg {
        Algorithm::Es256 => P256_N,
        Algorithm::Es384 => P384_N,
        _ => unreachable!(),
    });
    let (input, sig) = token.rsplit_once('.').unwrap();
    let sig = B64::decode_to_vec(sig, None).unwrap();
    let (r, s) = sig.split_at(sig.len() / 2);
    let mut twin_sig = r.to_vec();
    twin_sig.extend(sub(&n, s));
    assert_ne!(twin_sig, sig);
    format!("{input}.{}", B64::encode_to_string(&twin_sig).unwrap())
}

fn campaign_with_key(id: &str, pem: &str) -> String {
    format!(
        "[[campaign]]\nid = \"{id}\"\ntype = \"draw\"\nstart = \"{START_RFC}\"\nend = \"{END_RFC}\"\n\
         participation_limit = 2\n\
         [[campaign.keys]]\npem = '''\n{pem}\n'''\n\
         [[campaign.prizes]]\nid = \"a\"\nname = \"Alpha\"\nquantity = 100\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_ecdsa_twin_of_a_token_is_the_same_participation() {
    let es384 = SigningKey::generate(Algorithm::Es384).unwrap();
    let claims = TokenClaims::new(
        "member-384",
        "twins-ours-es384",
        (START - 3600) as u64,
        365 * 86_400,
    )
    .with_gift(Some(true), None);
    let ours_384 = mint(&es384, &claims).unwrap();
    let ours_256 = token("twins-ours-es256", "member-256", Some(true), None);
    let cases = [
        (
            "ours ES256",
            "twins-ours-es256",
            public_pem(),
            ours_256,
            Algorithm::Es256,
        ),
        (
            "ours ES384",
            "twins-ours-es384",
            es384.public_pem().unwrap(),
            ours_384,
            Algorithm::Es384,
        ),
        (
            "jose ES256",
            "twins-jose-es256",
            JOSE_ES256_PEM.to_owned(),
            JOSE_ES256_TOKEN.to_owned(),
            Algorithm::Es256,
        ),
        (
            "jose ES384",
            "twins-jose-es384",
            JOSE_ES384_PEM.to_owned(),
            JOSE_ES384_TOKEN.to_owned(),
            Algorithm::Es384,
        ),
    ];
    for db in databases("twins").await {
        let campaigns: Vec<String> = cases
            .iter()
            .map(|(_, id, pem, _, _)| campaign_with_key(id, pem.trim()))
            .collect();
        let h = Harness::start(&config_toml(&db.url, &campaigns), START + 10).await;
        for (what, id, _, original, alg) in &cases {
            let l = format!("{} {what}", db.label);
            let (s, first) = h.participate(id, original).await;
            assert_eq!(
                (s, &first["outcome"]),
                (200, &Value::from("won")),
                "{l}: {first}"
            );
            let twin = twin(original, *alg);
            let (s, again) = h.participate(id, &twin).await;
            assert_eq!(s, 200, "{l}: the twin verifies: {again}");
            assert_eq!(again["replayed"], true, "{l}: {again}");
            assert_eq!(again["participationId"], first["participationId"], "{l}");
            assert_eq!(again["prize"], first["prize"], "{l}");
            let stats = h.operator_get(id, "stats").await;
            assert_eq!(
                stats["participations"], 1,
                "{l}: one token, one participation"
            );
            assert_eq!(stats["winners"], 1, "{l}: one token, one prize");
        }
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replay_after_the_end_answers_the_participation_and_a_new_token_is_refused() {
    for db in databases("replay_after_end").await {
        let cfg = config_toml(&db.url, &[draw_campaign("c1", "", &[("a", "Alpha", 1)])]);
        let h = Harness::start(&cfg, START + 10).await;
        let l = db.label;
        let t = token("c1", "alice", Some(true), None);
        let (_, first) = h.participate("c1", &t).await;
        assert_eq!(first["outcome"], "won", "{l}");
        h.clock.set(END + 3600);
        let (s, again) = h.participate("c1", &t).await;
        assert_eq!(s, 200, "{l}: {again}");
        assert_eq!(again["replayed"], true, "{l}");
        assert_eq!(again["participationId"], first["participationId"], "{l}");
        assert_eq!(again["outcome"], "won", "{l}");
        let (s, e) = h.participate("c1", &twin(&t, Algorithm::Es256)).await;
        assert_eq!(
            (s, &e["replayed"]),
            (200, &Value::from(true)),
            "{l}: its twin too"
        );
        let (s, e) = h
            .participate("c1", &token("c1", "bob", Some(true), None))
            .await;
        assert_eq!(
            (s, &e["error"]["code"]),
            (409, &Value::from("campaign_ended")),
            "{l}"
        );
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn posts_must_be_json_and_a_token_must_be_a_string() {
    let db = databases("requests").await.remove(0);
    let cfg = config_toml(&db.url, &[draw_campaign("c1", "", &[("a", "Alpha", 1)])]);
    let h = Harness::start(&cfg, START + 10).await;
    let t = token("c1", "alice", Some(true), None);
    let body = serde_json::json!({ "token": t }).to_string();
    let path = "/api/campaigns/c1/participations";
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/jsonx"),
    ] {
        let headers: Vec<(&str, &str)> = ct.map(|c| ("Content-Type", c)).into_iter().collect();
        let (s, e) = request(h.addr(), "POST", path, &headers, body.as_bytes()).await;
        assert_eq!(
            (s, &e["error"]["code"]),
            (415, &Value::from("unsupported_media_type")),
            "{ct:?}: {e}"
        );
    }
    let bearer = format!("Bearer {OPERATOR_TOKEN}");
    let draw = request(
        h.addr(),
        "POST",
        "/api/campaigns/c1/draw",
        &[("Authorization", bearer.as_str())],
        b"{}",
    )
    .await;
    assert_eq!(draw.0, 415, "operator POSTs too: {}", draw.1);
    let json_utf8 = [("Content-Type", "Application/JSON; charset=utf-8")];
    let (s, e) = request(h.addr(), "POST", path, &json_utf8, br#"{"token": null}"#).await;
    assert_eq!(
        (s, &e["error"]["code"]),
        (400, &Value::from("bad_request")),
        "null: {e}"
    );
    let (s, e) = request(h.addr(), "POST", path, &json_utf8, b"{}").await;
    assert_eq!(
        (s, &e["error"]["code"]),
        (401, &Value::from("no_token")),
        "absent: {e}"
    );
    let (s, v) = request(h.addr(), "POST", path, &json_utf8, body.as_bytes()).await;
    assert_eq!(s, 200, "{v}");
    h.stop().await;
}

/// 50 concurrent posts of one token, split across two processes sharing one database, 20
/// rounds: every answer is the original participation (one fresh, the rest replays); and a
/// sub's second token at its limit is refused.
async fn one_token_many_posts_two_processes(database: &str, label: &str) {
    let dir = tempfile::tempdir().unwrap();
    let campaign = campaign_toml(
        "c",
        "draw",
        "2020-01-01T00:00:00Z",
        "2099-01-01T00:00:00Z",
        "participation_limit = 1",
        &[("a", "Alpha", 1000)],
    );
    let cfg = config_toml(database, &[campaign]);
    let (_a, a_addr) = spawn_binary(dir.path(), "a", &cfg).await;
    let (_b, b_addr) = spawn_binary(dir.path(), "b", &cfg).await;
    for round in 0..20 {
        let sub = format!("member-{round}");
        let t = live_token("c", &sub, Some(true), None);
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let addr = if i % 2 == 0 { a_addr } else { b_addr };
                let t = t.clone();
                tokio::spawn(async move { participate(addr, "c", &t).await })
            })
            .collect();
        let mut ids = HashSet::new();
        let mut fresh = 0;
        for task in tasks {
            let (s, v) = task.await.unwrap();
            assert_eq!(s, 200, "{label} round {round}: {v}");
            ids.insert(v["participationId"].as_str().unwrap().to_owned());
            fresh += usize::from(v["replayed"] == false);
        }
        assert_eq!((ids.len(), fresh), (1, 1), "{label} round {round}");
        // Another token of the same sub (another iat), at its limit of one: refused.
        let other = token_at(
            "c",
            &sub,
            campaign_token_core::now() as i64 - 100,
            Some(true),
            None,
        );
        assert_ne!(other, t);
        let addr = if round % 2 == 0 { a_addr } else { b_addr };
        let (s, e) = participate(addr, "c", &other).await;
        assert_eq!(
            (s, &e["error"]["code"]),
            (409, &Value::from("participation_limit")),
            "{label}: {e}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_token_posted_fifty_times_across_two_processes_is_one_participation() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite:{}", dir.path().join("two.db").display());
    one_token_many_posts_two_processes(&sqlite, "sqlite").await;
    if let Some(admin) = pg_admin_url() {
        let url = pg_database(&admin, "one_token_two_processes").await;
        one_token_many_posts_two_processes(&url, "postgres").await;
    }
}
