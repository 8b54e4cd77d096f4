//! `POST /api/campaigns/{id}/participations` with any body, through the real axum router and a
//! real SQLite store (a temporary file) in this process: never a panic, never a 5xx, and every
//! refusal a JSON error with a stable code. The body parser the handler calls
//! (`ParticipationBody::parse`) is checked on its own too: a 400 `bad_request` or a token.
//!
//! Byte 0 picks the body: even, the rest is the body itself; odd, the rest is the `answers`
//! JSON text (or garbage) of a body whose token is valid (signed by the campaign's key, its
//! `sub` from the input), so the fuzzer reaches the answers, the store and the allocation.
#![no_main]

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::Request;
use axum::Router;
use campaign_token_core::mint::{mint, SigningKey, TokenClaims};
use campaign_token_core::Algorithm;
use campaign_token_server::api::{self, AppState, ParticipationBody};
use campaign_token_server::config::Config;
use campaign_token_server::{metrics, open_store, Clock};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt as _;

const START: i64 = 2_000_000_000;
const NOW: i64 = START + 10;
/// The statuses of an accepted participation.
const OK_STATUS: [u16; 2] = [200, 201];

struct Setup {
    rt: tokio::runtime::Runtime,
    app: Router,
    key: SigningKey,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        // libFuzzer ends the process with exit(): nothing is dropped, so the database lives
        // under fuzz/target/, one per process (libFuzzer's -jobs), and scripts/fuzz.sh empties
        // the directory before each run.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/fuzz-sqlite")
            .join(std::process::id().to_string());
        std::fs::create_dir_all(&dir).expect("temp dir");
        let key = SigningKey::generate(Algorithm::Es256).expect("key");
        let toml = format!(
            "listen = \"127.0.0.1:0\"\ndatabase = \"sqlite:{db}\"\n\
             [[campaign]]\nid = \"fuzz\"\ntype = \"draw\"\n\
             start = \"2033-05-18T03:33:20Z\"\nend = \"2033-05-19T03:33:20Z\"\n\
             [[campaign.keys]]\npem = '''\n{pem}'''\n\
             [[campaign.prizes]]\nid = \"tv\"\nname = \"TV\"\nquantity = 3\n",
            db = dir.join("fuzz.db").display(),
            pem = key.public_pem().expect("pem"),
        );
        let config = Config::parse(&toml, Path::new("."), &|_| None).expect("config");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let store = open_store(&config).expect("store");
        rt.block_on(store.prepare(&config.campaigns))
            .expect("prepare");
        let campaigns: HashMap<String, _> = config
            .campaigns
            .iter()
            .map(|c| (c.id.clone(), Arc::clone(c)))
            .collect();
        let state = Arc::new(AppState {
            campaigns,
            store,
            operator_token: None,
            clock: Clock::manual(NOW),
            limits: config.http.clone(),
            rejected: None,
            trusted_proxy_header: None,
            metrics: Arc::new(metrics::Metrics::new()),
            erasure_key: None,
        });
        let app = api::router(state, &config.site);
        let s = Setup { rt, app, key };
        // The target can fail: a valid token participates, a bad one is refused.
        let token = valid_token(&s.key, "sanity");
        let (status, _) = post(&s, format!("{{\"token\":\"{token}\"}}").into_bytes());
        assert!(
            OK_STATUS.contains(&status),
            "a valid token answered {status}"
        );
        let (status, code) = post(&s, b"{\"token\":\"a.b.c\"}".to_vec());
        assert_eq!((status, code.as_deref()), (401, Some("malformed")));
        s
    })
}

fn valid_token(key: &SigningKey, sub: &str) -> String {
    mint(key, &TokenClaims::new(sub, "fuzz", NOW as u64 - 5, 600)).expect("mint")
}

/// POSTs `body`; the status and the error code, if the answer is an error.
fn post(s: &Setup, body: Vec<u8>) -> (u16, Option<String>) {
    let request = Request::post("/api/campaigns/fuzz/participations")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("request");
    s.rt.block_on(async {
        let response = s.app.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("response body");
        let json: serde_json::Value =
            serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("{status}: not JSON"));
        let code = json["error"]["code"].as_str().map(str::to_owned);
        assert!(!status.is_server_error(), "{status} {json}");
        if !status.is_success() {
            assert!(
                code.as_deref().is_some_and(|c| !c.is_empty()),
                "{status} {json}"
            );
        }
        (status.as_u16(), code)
    })
}

fuzz_target!(|data: &[u8]| {
    let s = setup();
    // The parser alone.
    match ParticipationBody::parse(data) {
        Ok(body) => assert!(body.token.len() <= data.len()),
        Err(e) => assert_eq!(e.code(), "bad_request"),
    }
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let body = if pick % 2 == 0 {
        rest.to_vec()
    } else {
        let sub: String = rest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        let token = valid_token(&s.key, &format!("u{sub}"));
        let mut b = format!("{{\"token\":\"{token}\",\"answers\":").into_bytes();
        b.extend_from_slice(rest);
        b.push(b'}');
        b
    };
    let (status, code) = post(s, body);
    assert!(status < 500, "{status} {code:?}");
});
