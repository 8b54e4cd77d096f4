//! The rest of the token contract on the server (SQLite and PostgreSQL): `limit.canPlay:
//! false` is 403 `not_allowed` with nothing recorded; `limit.nb` allows exactly that many
//! participations of a `sub` under 30 concurrent posts of different tokens; a later token with a
//! higher `nb` allows the extra ones (one entry per purchase); the campaign's cap applies; and
//! the brand's `form` and `optin` are stored apart from the page's answers and shown with the
//! winners; and a `gift` number JavaScript cannot hold exactly gets the page's verdict
//! (`invalid_claim` naming its path), not a participation.

// Test helpers outside #[test] functions: a panic there is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use campaign_token_core::mint::{mint, TokenClaims};
use common::*;
use serde_json::{json, Value};

/// A token of `sub` with `limit` and `extra` claims; `seq` makes each token distinct.
fn token_with(campaign: &str, sub: &str, seq: u64, limit: (Option<u32>, Option<bool>)) -> String {
    let claims = TokenClaims::new(sub, campaign, (START - 3600) as u64 + seq, 365 * 86_400)
        .with_gift(Some(true), None)
        .with_limit(limit.0, limit.1);
    mint(key(), &claims).unwrap()
}

/// Posts `tokens` all at once; answers (fresh participations, participation_limit refusals).
async fn burst(h: &Harness, campaign: &str, tokens: Vec<String>) -> (usize, usize) {
    let tasks: Vec<_> = tokens
        .into_iter()
        .map(|t| {
            let addr = h.addr();
            let campaign = campaign.to_owned();
            tokio::spawn(async move { participate(addr, &campaign, &t).await })
        })
        .collect();
    let (mut ok, mut limited) = (0, 0);
    for t in tasks {
        let (s, v) = t.await.unwrap();
        match s {
            200 => {
                assert_eq!(v["replayed"], false, "{v}");
                ok += 1;
            }
            409 => {
                assert_eq!(v["error"]["code"], "participation_limit", "{v}");
                limited += 1;
            }
            _ => panic!("{s}: {v}"),
        }
    }
    (ok, limited)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn can_play_false_is_refused_and_nothing_is_recorded() {
    for db in databases("can_play").await {
        let cfg = config_toml(&db.url, &[draw_campaign("c1", "", &[("a", "Alpha", 5)])]);
        let h = Harness::start(&cfg, START + 10).await;
        let (s, e) = h
            .participate("c1", &token_with("c1", "alice", 0, (None, Some(false))))
            .await;
        assert_eq!(
            (s, &e["error"]["code"]),
            (403, &Value::from("not_allowed")),
            "{}: {e}",
            db.label
        );
        let stats = h.operator_get("c1", "stats").await;
        assert_eq!(stats["participations"], 0, "{}", db.label);
        let (s, _) = h
            .participate("c1", &token_with("c1", "alice", 1, (None, Some(true))))
            .await;
        assert_eq!(s, 200);
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn limit_nb_allows_exactly_nb_under_concurrency_a_higher_nb_the_extra_ones_and_the_cap_holds()
{
    for db in databases("limit_nb").await {
        let l = db.label;
        let cfg = config_toml(
            &db.url,
            &[
                draw_campaign("c1", "", &[("a", "Alpha", 1000)]),
                draw_campaign(
                    "capped",
                    "max_participations_per_sub = 10",
                    &[("a", "Alpha", 1000)],
                ),
            ],
        );
        let h = Harness::start(&cfg, START + 10).await;
        // 30 different tokens of one sub at once, each saying nb = 5: exactly 5 are recorded.
        let tokens = (0..30)
            .map(|i| token_with("c1", "buyer", i, (Some(5), None)))
            .collect();
        assert_eq!(burst(&h, "c1", tokens).await, (5, 25), "{l}: nb = 5");
        // A purchase later: tokens saying nb = 8 allow 3 more, however many arrive at once.
        let tokens = (100..130)
            .map(|i| token_with("c1", "buyer", i, (Some(8), None)))
            .collect();
        assert_eq!(burst(&h, "c1", tokens).await, (3, 27), "{l}: nb = 8");
        // Without limit.nb the campaign's participation_limit (1) applies: this sub has 8.
        let (s, _) = h
            .participate("c1", &token_with("c1", "buyer", 200, (None, None)))
            .await;
        assert_eq!(s, 409, "{l}");
        // The campaign's cap (10) bounds any nb.
        let tokens = (0..30)
            .map(|i| token_with("capped", "whale", i, (Some(50), None)))
            .collect();
        assert_eq!(
            burst(&h, "capped", tokens).await,
            (10, 20),
            "{l}: capped at 10"
        );
        let stats = h.operator_get("c1", "stats").await;
        assert_eq!(stats["participations"], 8, "{l}");
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn form_and_optin_are_stored_apart_from_the_answers_and_shown_with_the_winners() {
    for db in databases("brand_data").await {
        let cfg = config_toml(&db.url, &[draw_campaign("c1", "", &[("a", "Alpha", 5)])]);
        let h = Harness::start(&cfg, START + 10).await;
        let form = json!({"firstName": "Ada", "email": "ada@example.com"});
        let optin = json!({"newsletter": true});
        let claims = TokenClaims::new("ada", "c1", (START - 3600) as u64, 86_400)
            .with_gift(Some(true), None)
            .with_object("form", form.as_object().unwrap().clone())
            .with_object("optin", optin.as_object().unwrap().clone());
        let t = mint(key(), &claims).unwrap();
        let body = json!({"token": t, "answers": {"email": "typed@example.com"}}).to_string();
        let (s, v) = request(
            h.addr(),
            "POST",
            "/api/campaigns/c1/participations",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .await;
        assert_eq!((s, &v["outcome"]), (200, &Value::from("won")), "{v}");
        let winners = h.operator_get("c1", "winners").await;
        let w = &winners["winners"][0];
        assert_eq!(w["form"], form, "{}: {w}", db.label);
        assert_eq!(w["optin"], optin);
        h.stop().await;
    }
}

/// A token whose payload is exactly `payload` (`EXP` and `IAT` replaced by valid times), for
/// numbers a `serde_json::Value` built in Rust would not show the page as sent.
fn raw_token(payload: &str) -> String {
    let iat = (START - 3600) as u64;
    let payload = payload
        .replace("IAT", &iat.to_string())
        .replace("EXP", &(iat + 365 * 86_400).to_string());
    let header = json!({"alg": "ES256", "typ": "JWT"}).to_string();
    campaign_token_core::mint::sign_compact(key(), header.as_bytes(), payload.as_bytes()).unwrap()
}

/// The page answers `invalid_claim` (claim `gift.orderId`) for a 64-bit order id in `gift`
/// (tests/e2e/page-safety.test.mjs): so does the server, and records nothing; the same id as a
/// string is a participation like any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gift_number_beyond_2_pow_53_is_invalid_claim_as_on_the_page() {
    for db in databases("gift_numbers").await {
        let cfg = config_toml(&db.url, &[draw_campaign("c1", "", &[("a", "Alpha", 5)])]);
        let h = Harness::start(&cfg, START + 10).await;
        for (sub, order, path) in [
            ("alice", "18446744073709551615", "gift.orderId"),
            ("bob", "9007199254740993", "gift.orderId"),
            ("carol", "[1,-9007199254740993]", "gift.orderId[1]"),
        ] {
            let token = raw_token(&format!(
                r#"{{"sub":"{sub}","campaignId":"c1","iat":IAT,"exp":EXP,"gift":{{"cw":true,"orderId":{order}}}}}"#
            ));
            let (s, e) = h.participate("c1", &token).await;
            assert_eq!(
                (s, &e["error"]["code"], &e["error"]["claim"]),
                (401, &Value::from("invalid_claim"), &Value::from(path)),
                "{}: {order}: {e}",
                db.label
            );
        }
        assert_eq!(h.operator_get("c1", "stats").await["participations"], 0);
        let token = raw_token(
            r#"{"sub":"dave","campaignId":"c1","iat":IAT,"exp":EXP,"gift":{"cw":true,"orderId":"18446744073709551615"}}"#,
        );
        let (s, v) = h.participate("c1", &token).await;
        assert_eq!(s, 200, "{}: {v}", db.label);
        h.stop().await;
    }
}
