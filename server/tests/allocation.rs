//! The allocation rules, the HTTP contract and the operator endpoints, with the server
//! in-process and a manual clock. Every test runs on SQLite, and on PostgreSQL when
//! `CAMPAIGN_TOKEN_TEST_PG` is set.

// Test helpers outside #[test] functions: a panic there is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::{json, Value};

fn prize_left(stats: &Value, id: &str) -> i64 {
    stats["prizes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .unwrap()["remaining"]
        .as_i64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn draw_campaign_allocates_at_once_while_stock_lasts_and_standard_enters_the_draw() {
    for db in databases("draw_rules").await {
        let cfg = config_toml(
            &db.url,
            &[draw_campaign(
                "c1",
                "",
                &[("a", "Alpha", 1), ("b", "Beta", 1)],
            )],
        );
        let h = Harness::start(&cfg, START + 10).await;
        let l = db.label;

        let (s, v) = h
            .participate("c1", &token("c1", "given", Some(true), Some("Spa day")))
            .await;
        assert_eq!(s, 200, "{l}: {v}");
        assert_eq!(v["outcome"], "won", "{l}");
        assert_eq!(v["eligibility"], "given-prize", "{l}");
        assert_eq!(
            v["prize"],
            json!({"id": "a", "label": "Spa day"}),
            "{l}: the token's label overrides the prize name"
        );
        assert_eq!(v["replayed"], false);
        assert_eq!(v["participationId"].as_str().unwrap().len(), 32);

        let (_, v) = h
            .participate("c1", &token("c1", "never", Some(false), Some("Car")))
            .await;
        assert_eq!(v["outcome"], "not-eligible", "{l}");
        assert_eq!(v["eligibility"], "cannot-win");
        assert_eq!(v["prize"], Value::Null);

        let (_, v) = h.participate("c1", &token("c1", "std", None, None)).await;
        assert_eq!(v["outcome"], "entered-draw", "{l}");
        assert_eq!(v["eligibility"], "standard");
        assert_eq!(v["prize"], Value::Null);

        let (_, v) = h
            .participate("c1", &token("c1", "any", Some(true), None))
            .await;
        assert_eq!(v["outcome"], "won", "{l}");
        assert_eq!(v["eligibility"], "any-prize");
        assert_eq!(
            v["prize"],
            json!({"id": "b", "label": "Beta"}),
            "{l}: any-prize shows the prize name"
        );

        // Stock is gone: eligible participants now lose.
        let (_, v) = h
            .participate("c1", &token("c1", "late-any", Some(true), None))
            .await;
        assert_eq!(v["outcome"], "lost", "{l}");
        assert_eq!(v["prize"], Value::Null);
        let (_, v) = h
            .participate("c1", &token("c1", "late-given", None, Some("Spa")))
            .await;
        assert_eq!(v["outcome"], "lost", "{l}");

        let stats = h.operator_get("c1", "stats").await;
        assert_eq!(stats["participations"], 6, "{l}");
        assert_eq!(stats["winners"], 2, "{l}");
        assert_eq!(prize_left(&stats, "a"), 0);
        assert_eq!(prize_left(&stats, "b"), 0);
        assert_eq!(stats["status"], "running");
        let winners = h.operator_get("c1", "winners").await;
        let subs: Vec<&str> = winners["winners"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["sub"].as_str().unwrap())
            .collect();
        assert_eq!(subs.len(), 2, "{l}");
        assert!(
            subs.contains(&"given") && subs.contains(&"any"),
            "{l}: {subs:?}"
        );
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instant_win_gives_each_moment_to_the_first_eligible_participant_at_or_after_it() {
    for db in databases("instant_rules").await {
        let calendar = "[campaign.calendar]\nmoments = [\"2033-05-18T03:35:00Z\", { at = \"2033-05-18T03:36:40Z\", prize = \"b\" }]\n";
        // Moments at START+100 (first free unit: prize a) and START+200 (prize b).
        let cfg = config_toml(
            &db.url,
            &[campaign_toml(
                "iw",
                "instant-win",
                START_RFC,
                END_RFC,
                calendar,
                &[("a", "Alpha", 1), ("b", "Beta", 1)],
            )],
        );
        let h = Harness::start(&cfg, START + 50).await;
        let l = db.label;

        let (_, v) = h.participate("iw", &token("iw", "early", None, None)).await;
        assert_eq!(
            v["outcome"], "lost",
            "{l}: before the first moment nobody wins"
        );

        h.clock.set(START + 100);
        let (_, v) = h
            .participate("iw", &token("iw", "cw-false", Some(false), None))
            .await;
        assert_eq!(
            v["outcome"], "not-eligible",
            "{l}: cannot-win never takes a moment"
        );
        let (_, v) = h.participate("iw", &token("iw", "first", None, None)).await;
        assert_eq!(
            v["outcome"], "won",
            "{l}: the first eligible participant at the moment wins"
        );
        assert_eq!(v["prize"], json!({"id": "a", "label": "Alpha"}));
        let (_, v) = h
            .participate("iw", &token("iw", "second", Some(true), None))
            .await;
        assert_eq!(v["outcome"], "lost", "{l}: one winner per moment");

        // The second moment passes unclaimed and rolls forward to the next participant.
        h.clock.set(START + 5000);
        let (_, v) = h
            .participate("iw", &token("iw", "later", None, Some("Gold")))
            .await;
        assert_eq!(v["outcome"], "won", "{l}");
        assert_eq!(
            v["prize"],
            json!({"id": "b", "label": "Gold"}),
            "{l}: a given-prize winner sees the token's label"
        );
        let (_, v) = h
            .participate("iw", &token("iw", "after-all", Some(true), None))
            .await;
        assert_eq!(v["outcome"], "lost", "{l}");

        let stats = h.operator_get("iw", "stats").await;
        assert_eq!(stats["winners"], 2, "{l}");
        assert_eq!(stats["unclaimedMoments"], 0);
        assert_eq!(prize_left(&stats, "a") + prize_left(&stats, "b"), 0);
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spread_places_n_moments_inside_the_campaign() {
    for db in databases("spread").await {
        let cfg = config_toml(
            &db.url,
            &[campaign_toml(
                "sp",
                "instant-win",
                START_RFC,
                END_RFC,
                "[campaign.calendar]\nspread = 4\n",
                &[("a", "Alpha", 5)],
            )],
        );
        let h = Harness::start(&cfg, START).await;
        let (_, v) = h.participate("sp", &token("sp", "u0", None, None)).await;
        assert_eq!(
            v["outcome"], "lost",
            "{}: the first moment is inside the first slot, not at start",
            db.label
        );
        // Each moment sits in the middle of a quarter of the day: by the end all four are due.
        h.clock.set(END - 1);
        let mut won = 0;
        for i in 1..=6 {
            let (_, v) = h
                .participate("sp", &token("sp", &format!("u{i}"), None, None))
                .await;
            if v["outcome"] == "won" {
                won += 1;
            }
        }
        assert_eq!(won, 4, "{}", db.label);
        let stats = h.operator_get("sp", "stats").await;
        assert_eq!(prize_left(&stats, "a"), 1, "the fifth unit has no moment");
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replayed_token_returns_the_original_outcome_and_never_a_second_prize() {
    for db in databases("replay").await {
        let cfg = config_toml(
            &db.url,
            &[draw_campaign(
                "c1",
                "participation_limit = 3",
                &[("a", "Alpha", 5)],
            )],
        );
        let h = Harness::start(&cfg, START + 10).await;
        let l = db.label;
        let t = token("c1", "alice", Some(true), None);
        let (_, first) = h.participate("c1", &t).await;
        assert_eq!(first["outcome"], "won");
        let (s, again) = h.participate("c1", &t).await;
        assert_eq!(s, 200);
        assert_eq!(again["replayed"], true, "{l}");
        assert_eq!(again["participationId"], first["participationId"]);
        assert_eq!(again["prize"], first["prize"]);

        // The same token many times at once: one participation, one prize.
        let t2 = token("c1", "bob", Some(true), None);
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let addr = h.addr();
                let t2 = t2.clone();
                tokio::spawn(async move { participate(addr, "c1", &t2).await })
            })
            .collect();
        let mut ids = HashSet::new();
        let mut fresh = 0;
        for t in tasks {
            let (s, v) = t.await.unwrap();
            assert_eq!(s, 200, "{l}: {v}");
            assert_eq!(v["outcome"], "won");
            ids.insert(v["participationId"].as_str().unwrap().to_owned());
            if v["replayed"] == false {
                fresh += 1;
            }
        }
        assert_eq!(ids.len(), 1, "{l}");
        assert_eq!(fresh, 1, "{l}: exactly one answer is the original");
        let stats = h.operator_get("c1", "stats").await;
        assert_eq!(stats["participations"], 2, "{l}");
        assert_eq!(prize_left(&stats, "a"), 3, "{l}");
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sub_past_its_participation_limit_is_refused() {
    for db in databases("limits").await {
        let cfg = config_toml(
            &db.url,
            &[
                draw_campaign("one", "", &[("a", "Alpha", 5)]),
                draw_campaign("two", "participation_limit = 2", &[("a", "Alpha", 5)]),
            ],
        );
        let h = Harness::start(&cfg, START + 10).await;
        let l = db.label;
        let (s, _) = h
            .participate("one", &token("one", "carol", None, None))
            .await;
        assert_eq!(s, 200);
        // Another token (another iat) for the same sub.
        let other = token_at("one", "carol", START - 10, Some(true), None);
        let (s, v) = h.participate("one", &other).await;
        assert_eq!(s, 409, "{l}: {v}");
        assert_eq!(v["error"]["code"], "participation_limit");

        for i in 0..2 {
            let (s, v) = h
                .participate(
                    "two",
                    &token_at("two", "dave", START - 100 - i, Some(true), None),
                )
                .await;
            assert_eq!((s, v["outcome"].as_str()), (200, Some("won")), "{l}");
        }
        let (s, v) = h
            .participate(
                "two",
                &token_at("two", "dave", START - 500, Some(true), None),
            )
            .await;
        assert_eq!(s, 409, "{l}");
        assert_eq!(v["error"]["code"], "participation_limit");

        // Concurrent different tokens of one sub: exactly `limit` accepted.
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let addr = h.addr();
                let t = token_at("two", "erin", START - 1000 - i, None, None);
                tokio::spawn(async move { participate(addr, "two", &t).await })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            let (s, v) = t.await.unwrap();
            match s {
                200 => ok += 1,
                409 => assert_eq!(v["error"]["code"], "participation_limit"),
                other => panic!("{l}: unexpected {other}: {v}"),
            }
        }
        assert_eq!(ok, 2, "{l}");
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_requests_get_the_contract_status_and_code() {
    for db in databases("http_errors").await {
        let cfg = config_toml(
            &db.url,
            &[
                draw_campaign("c1", "", &[("a", "Alpha", 5)]),
                draw_campaign("c2", "", &[("a", "Alpha", 5)]),
            ],
        );
        let h = Harness::start(&cfg, START + 10).await;
        let l = db.label;
        let a = h.addr();
        let post = |body: Vec<u8>| async move {
            request(
                a,
                "POST",
                "/api/campaigns/c1/participations",
                &[("Content-Type", "application/json")],
                &body,
            )
            .await
        };
        for bad in [
            &b"{not json"[..],
            b"[1,2]",
            b"\"token\"",
            b"{\"token\": 12}",
            b"",
        ] {
            let (s, v) = post(bad.to_vec()).await;
            assert_eq!(s, 400, "{l}: {:?}", String::from_utf8_lossy(bad));
            assert_eq!(v["error"]["code"], "bad_request");
        }
        let (s, v) = post(b"{}".to_vec()).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (401, Some("no_token")),
            "{l}"
        );

        // Oversized: declared length, and chunked without a length.
        let big = json!({"token": "x", "answers": "y".repeat(20 * 1024)})
            .to_string()
            .into_bytes();
        let (s, v) = post(big.clone()).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (413, Some("body_too_large")),
            "{l}"
        );
        let (s, _, body) = raw(
            a,
            "POST",
            "/api/campaigns/c1/participations",
            &[("Content-Type", "application/json")],
            &big,
            false,
        )
        .await;
        assert_eq!(s, 413, "{l}: {}", String::from_utf8_lossy(&body));
        // Just under the limit is fine.
        let t = token("c1", "answers", None, None);
        let fits = json!({"token": t, "answers": "y".repeat(15 * 1024)}).to_string();
        assert!(fits.len() < 16 * 1024);
        let (s, v) = post(fits.into_bytes()).await;
        assert_eq!(s, 200, "{l}: {v}");

        // Token errors: 401 with the core's code; another campaign's token: 403.
        let good = token("c1", "u", None, None);
        let mut tampered = good.clone();
        tampered.pop();
        tampered.push(if good.ends_with('A') { 'Q' } else { 'A' });
        let (s, v) = h.participate("c1", &tampered).await;
        assert_eq!(s, 401, "{l}: {v}");
        assert!(["bad_signature", "malformed"].contains(&v["error"]["code"].as_str().unwrap()));
        let expired = token_at("c1", "u", START - 400 * 86_400, None, None);
        let (s, v) = h.participate("c1", &expired).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (401, Some("expired")),
            "{l}"
        );
        assert_eq!(v["error"]["claim"], "exp");
        let (s, v) = h.participate("c1", &token("c2", "u", None, None)).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (403, Some("wrong_campaign")),
            "{l}"
        );
        let (s, v) = h.participate("nope", &good).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (404, Some("unknown_campaign")),
            "{l}"
        );

        // Not running.
        h.clock.set(START - 1);
        let (s, v) = h.participate("c1", &good).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (409, Some("campaign_not_started")),
            "{l}"
        );
        h.clock.set(END);
        let (s, v) = h.participate("c1", &good).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (409, Some("campaign_ended")),
            "{l}"
        );

        let (s, v) = request(a, "GET", "/healthz", &[], b"").await;
        assert_eq!((s, v["status"].as_str()), (200, Some("ok")));
        // Nothing above was recorded except the one good participation.
        let stats = h.operator_get("c1", "stats").await;
        assert_eq!(stats["participations"], 1, "{l}");
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operator_endpoints_need_the_bearer_token() {
    for db in databases("operator_auth").await {
        let cfg = config_toml(&db.url, &[draw_campaign("c1", "", &[("a", "Alpha", 1)])]);
        let h = Harness::start(&cfg, END + 1).await;
        let a = h.addr();
        for (method, what) in [("GET", "stats"), ("GET", "winners"), ("POST", "draw")] {
            let path = format!("/api/campaigns/c1/{what}");
            let wrong = format!("Bearer {OPERATOR_TOKEN}x");
            let short = "Bearer operator";
            for headers in [
                vec![],
                vec![("Authorization", wrong.as_str())],
                vec![("Authorization", short)],
                vec![("Authorization", OPERATOR_TOKEN)],
            ] {
                let (s, _, body) = raw(a, method, &path, &headers, b"", true).await;
                let v: Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(
                    (s, v["error"]["code"].as_str()),
                    (401, Some("unauthorized")),
                    "{} {what} {headers:?}",
                    db.label
                );
            }
        }
        // Nothing was drawn by the refused calls.
        assert_eq!(h.operator_get("c1", "stats").await["draw"], Value::Null);
        h.stop().await;
    }
}

/// The public source the draw campaigns of these tests name.
const SOURCE: &str = "draw_public_source = \"the test lottery of the end day\"";

async fn draw(h: &Harness, campaign: &str, body: &str) -> (u16, Value) {
    request(
        h.addr(),
        "POST",
        &format!("/api/campaigns/{campaign}/draw"),
        &[
            ("Authorization", &format!("Bearer {OPERATOR_TOKEN}")),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_draw_picks_remaining_prizes_among_eligible_non_winners_once_ended() {
    for db in databases("draw").await {
        let calendar = "[campaign.calendar]\nspread = 1\n";
        let cfg = config_toml(
            &db.url,
            &[
                draw_campaign("d", SOURCE, &[("a", "Alpha", 1), ("b", "Beta", 3)]),
                draw_campaign("few", SOURCE, &[("a", "Alpha", 5)]),
                draw_campaign("nosource", "", &[("a", "Alpha", 5)]),
                campaign_toml(
                    "iw",
                    "instant-win",
                    START_RFC,
                    END_RFC,
                    calendar,
                    &[("a", "Alpha", 1)],
                ),
            ],
        );
        let h = Harness::start(&cfg, START + 10).await;
        let l = db.label;
        let (_, v) = h
            .participate("d", &token("d", "fcfs", Some(true), None))
            .await;
        assert_eq!(v["prize"]["id"], "a");
        let mut eligible = HashSet::new();
        for i in 0..6 {
            let sub = format!("s{i}");
            let (_, v) = h.participate("d", &token("d", &sub, None, None)).await;
            assert_eq!(v["outcome"], "entered-draw");
            eligible.insert(sub);
        }
        for i in 0..10 {
            let (_, v) = h
                .participate("d", &token("d", &format!("never{i}"), Some(false), None))
                .await;
            assert_eq!(v["outcome"], "not-eligible");
        }
        h.participate("few", &token("few", "only1", None, None))
            .await;
        h.participate("few", &token("few", "only2", None, None))
            .await;

        let (s, v) = draw(&h, "d", "").await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (409, Some("campaign_not_ended")),
            "{l}"
        );
        let (s, v) = draw(&h, "iw", "").await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (409, Some("not_a_draw_campaign")),
            "{l}"
        );

        h.clock.set(END);
        let (s, _) = draw(&h, "iw", "").await;
        assert_eq!(s, 409, "{l}: instant-win is refused after the end too");
        let (s, v) = draw(&h, "d", "{\"by\": \"alice\"}").await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (400, Some("bad_request")),
            "{l}: the public value is required: {v}"
        );
        let (s, v) = draw(&h, "nosource", "{\"publicValue\": \"1 2 3\"}").await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (409, Some("no_public_source")),
            "{l}: a draw needs a public source named in the configuration: {v}"
        );
        let (s, v2) = draw(
            &h,
            "d",
            "{\"by\": \"alice\", \"publicValue\": \"4 8 15 16 23 42\"}",
        )
        .await;
        assert_eq!(s, 200, "{l}: {v2}");
        assert_eq!(v2["drawnBy"], "alice");
        let drawn = v2["winners"].as_array().unwrap();
        assert_eq!(drawn.len(), 3, "{l}: the three remaining units of b");
        let subs: HashSet<&str> = drawn.iter().map(|w| w["sub"].as_str().unwrap()).collect();
        assert_eq!(subs.len(), 3, "{l}: distinct participants");
        for w in drawn {
            assert!(
                eligible.contains(w["sub"].as_str().unwrap()),
                "{l}: only eligible non-winners: {w}"
            );
            assert_eq!(w["prize"], json!({"id": "b", "label": "Beta"}));
            assert_eq!(w["drawn"], true);
        }
        let stats = h.operator_get("d", "stats").await;
        assert_eq!(stats["winners"], 4, "{l}");
        assert_eq!(prize_left(&stats, "b"), 0);
        assert_eq!(stats["draw"]["drawnBy"], "alice");
        assert_eq!(stats["draw"]["winners"], 3);
        assert_eq!(
            h.operator_get("d", "winners").await["winners"]
                .as_array()
                .unwrap()
                .len(),
            4
        );

        let (s, v) = draw(&h, "d", "{\"publicValue\": \"again\"}").await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (409, Some("already_drawn")),
            "{l}"
        );

        // Fewer participants than prizes: everyone eligible wins, the rest stays in stock.
        let (s, v) = draw(&h, "few", "{\"publicValue\": \"7\"}").await;
        assert_eq!(s, 200, "{l}: {v}");
        assert_eq!(v["drawnBy"], "operator");
        let subs: HashSet<&str> = v["winners"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["sub"].as_str().unwrap())
            .collect();
        assert_eq!(subs, HashSet::from(["only1", "only2"]), "{l}");
        assert_eq!(prize_left(&h.operator_get("few", "stats").await, "a"), 3);
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_concurrent_winners_against_ten_prizes_make_exactly_ten_winners() {
    for db in databases("concurrency").await {
        let cfg = config_toml(
            &db.url,
            &[draw_campaign(
                "c",
                "",
                &[("a", "Alpha", 6), ("b", "Beta", 4)],
            )],
        );
        let h = Harness::start(&cfg, START + 10).await;
        let l = db.label;
        let tokens: Vec<String> = (0..500)
            .map(|i| token("c", &format!("p{i}"), Some(true), None))
            .collect();
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(tokens.len()));
        let tasks: Vec<_> = tokens
            .into_iter()
            .map(|t| {
                let addr = h.addr();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    participate(addr, "c", &t).await
                })
            })
            .collect();
        let mut won_ids = HashSet::new();
        let mut lost = 0;
        for t in tasks {
            let (s, v) = t.await.unwrap();
            assert_eq!(s, 200, "{l}: {v}");
            match v["outcome"].as_str() {
                Some("won") => {
                    assert!(won_ids.insert(v["participationId"].as_str().unwrap().to_owned()));
                }
                Some("lost") => lost += 1,
                other => panic!("{l}: unexpected outcome {other:?}"),
            }
        }
        assert_eq!(won_ids.len(), 10, "{l}");
        assert_eq!(lost, 490, "{l}");
        let stats = h.operator_get("c", "stats").await;
        assert_eq!(prize_left(&stats, "a") + prize_left(&stats, "b"), 0, "{l}");
        let winners = h.operator_get("c", "winners").await;
        let subs: HashSet<&str> = winners["winners"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["sub"].as_str().unwrap())
            .collect();
        assert_eq!(subs.len(), 10, "{l}: ten distinct subs");
        h.stop().await;
    }
}

#[test]
fn configuration_errors_are_clear() {
    let env = |n: &str| (n == OPERATOR_ENV).then(|| OPERATOR_TOKEN.to_owned());
    let parse =
        |t: &str| campaign_token_server::config::Config::parse(t, std::path::Path::new("."), &env);
    let base = |c: &str| config_toml("sqlite:x.db", &[c.to_owned()]);
    let cases = [
        (base(&draw_campaign("c", "", &[])), "no prize"),
        (
            base(&campaign_toml(
                "c",
                "lottery",
                START_RFC,
                END_RFC,
                "",
                &[("a", "A", 1)],
            )),
            "type `lottery`",
        ),
        (
            base(&campaign_toml(
                "c",
                "draw",
                END_RFC,
                START_RFC,
                "",
                &[("a", "A", 1)],
            )),
            "end must be after start",
        ),
        (
            base(&campaign_toml(
                "c",
                "draw",
                "tomorrow",
                END_RFC,
                "",
                &[("a", "A", 1)],
            )),
            "RFC 3339",
        ),
        (
            base(&campaign_toml(
                "c",
                "instant-win",
                START_RFC,
                END_RFC,
                "",
                &[("a", "A", 1)],
            )),
            "needs a calendar",
        ),
        (
            base(&campaign_toml(
                "c",
                "instant-win",
                START_RFC,
                END_RFC,
                "[campaign.calendar]\nspread = 2\n",
                &[("a", "A", 1)],
            )),
            "more winning moments than prizes",
        ),
        (
            base(&campaign_toml(
                "c",
                "instant-win",
                START_RFC,
                END_RFC,
                "draw_public_source = \"drand\"\n[campaign.calendar]\nspread = 1\n",
                &[("a", "A", 1)],
            )),
            "draw_public_source applies to draw campaigns only",
        ),
        (
            base(&draw_campaign(
                "c",
                "draw_public_source = \"  \"",
                &[("a", "A", 1)],
            )),
            "draw_public_source must be",
        ),
        (
            base(&draw_campaign(
                "c",
                "participation_limit = 0",
                &[("a", "A", 1)],
            )),
            "participation_limit",
        ),
        (
            base(&draw_campaign("c", "colour = 1", &[("a", "A", 1)])),
            "unknown field",
        ),
        (
            config_toml("mysql://x", &[draw_campaign("c", "", &[("a", "A", 1)])]),
            "database",
        ),
        (config_toml("sqlite:x.db", &[]), "no campaign"),
        (
            format!(
                "operator_token_env = \"CT_UNSET_VAR\"\n{}",
                draw_campaign("c", "", &[("a", "A", 1)])
            ),
            "CT_UNSET_VAR is not set",
        ),
    ];
    for (toml, want) in cases {
        let err = parse(&toml).expect_err(want);
        assert!(err.0.contains(want), "wanted `{want}` in `{err}`");
    }
    assert!(parse(&base(&draw_campaign("c", "", &[("a", "A", 1)]))).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hmac_secrets_from_the_environment_and_key_files_relative_to_the_config() {
    use campaign_token_core::mint::{mint, SigningKey, TokenClaims};
    use campaign_token_core::Algorithm;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("brand.pem"), public_pem()).unwrap();
    let db = format!("sqlite:{}", dir.path().join("t.db").display());
    let toml = format!(
        "listen = \"127.0.0.1:0\"\ndatabase = \"{db}\"\n\
         [[campaign]]\nid = \"c\"\ntype = \"draw\"\nstart = \"{START_RFC}\"\nend = \"{END_RFC}\"\n\
         [[campaign.keys]]\npem_file = \"brand.pem\"\nkid = \"pem\"\n\
         [[campaign.keys]]\nhmac_secret_env = \"{HMAC_ENV}\"\nalg = \"HS256\"\nkid = \"hs\"\n\
         [[campaign.prizes]]\nid = \"a\"\nname = \"Alpha\"\nquantity = 2\n"
    );
    let path = dir.path().join("campaign.toml");
    std::fs::write(&path, &toml).unwrap();
    // Config::load resolves brand.pem against the config's directory, wherever we run from.
    let err = campaign_token_server::config::Config::load(&path)
        .expect_err("the HMAC env var is not set in this process");
    assert!(err.0.contains(HMAC_ENV), "{err}");
    let config =
        campaign_token_server::config::Config::parse(&toml, dir.path(), &test_env).unwrap();
    let clock = campaign_token_server::Clock::manual(START + 10);
    let server = campaign_token_server::Server::start(config, clock)
        .await
        .unwrap();

    let hs = SigningKey::hmac(Algorithm::Hs256, HMAC_SECRET.as_bytes())
        .unwrap()
        .with_kid(Some("hs".into()));
    let claims = TokenClaims::new("h1", "c", (START - 10) as u64, 3600).with_gift(Some(true), None);
    let (s, v) = participate(server.addr, "c", &mint(&hs, &claims).unwrap()).await;
    assert_eq!((s, v["outcome"].as_str()), (200, Some("won")), "{v}");

    let es = SigningKey::from_pem(&key().private_pem().unwrap(), Some(Algorithm::Es256))
        .unwrap()
        .with_kid(Some("pem".into()));
    let claims = TokenClaims::new("e1", "c", (START - 10) as u64, 3600).with_gift(Some(true), None);
    let (s, v) = participate(server.addr, "c", &mint(&es, &claims).unwrap()).await;
    assert_eq!((s, v["outcome"].as_str()), (200, Some("won")), "{v}");

    let wrong = SigningKey::hmac(Algorithm::Hs256, &[7u8; 32])
        .unwrap()
        .with_kid(Some("hs".into()));
    let (s, v) = participate(
        server.addr,
        "c",
        &mint(
            &wrong,
            &TokenClaims::new("x", "c", (START - 10) as u64, 3600),
        )
        .unwrap(),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("bad_signature")),
        "{v}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_campaign_site_and_the_integrator_page_are_served_with_their_headers() {
    let dir = tempfile::tempdir().unwrap();
    for (sub, file, text) in [
        ("campaign", "index.html", "campaign page"),
        ("extra", "more.txt", "second dir"),
        ("pkg", "index.js", "export {}"),
        ("integrator", "index.html", "brand page"),
    ] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        std::fs::write(dir.path().join(sub).join(file), text).unwrap();
    }
    let db = format!("sqlite:{}", dir.path().join("t.db").display());
    let mut toml = config_toml(&db, &[draw_campaign("c", "", &[("a", "Alpha", 1)])]);
    toml = toml.replacen(
        "[[campaign]]",
        "[site]\ndirs = [\"campaign\", \"extra\"]\npkg = \"pkg\"\nintegrator_origins = [\"https://brand.example\"]\n\
         [integrator]\nlisten = \"127.0.0.1:0\"\ndir = \"integrator\"\npkg = \"pkg\"\n[[campaign]]",
        1,
    );
    let config =
        campaign_token_server::config::Config::parse(&toml, dir.path(), &test_env).unwrap();
    let server =
        campaign_token_server::Server::start(config, campaign_token_server::Clock::manual(START))
            .await
            .unwrap();
    let get =
        |addr, path: &'static str| async move { raw(addr, "GET", path, &[], b"", true).await };

    let (s, head, body) = get(server.addr, "/").await;
    assert_eq!((s, body.as_slice()), (200, &b"campaign page"[..]));
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains(
            "content-security-policy: default-src 'self'; script-src 'self' 'wasm-unsafe-eval';"
        ),
        "{head}"
    );
    assert!(
        head.contains("frame-ancestors 'self' https://brand.example;"),
        "{head}"
    );
    assert!(head.contains("referrer-policy: no-referrer"), "{head}");
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    let (s, _, body) = get(server.addr, "/more.txt").await;
    assert_eq!((s, body.as_slice()), (200, &b"second dir"[..]));
    let (s, _, body) = get(server.addr, "/pkg/index.js").await;
    assert_eq!((s, body.as_slice()), (200, &b"export {}"[..]));
    let (s, _, _) = get(server.addr, "/../t.db").await;
    assert_ne!(s, 200);
    let (s, head, _) = get(server.addr, "/api/campaigns/c/stats").await;
    assert_eq!(s, 401);
    assert!(
        head.to_ascii_lowercase()
            .contains("cache-control: no-store"),
        "{head}"
    );

    let integrator = server.integrator_addr.unwrap();
    assert_ne!(integrator, server.addr);
    let (s, head, body) = get(integrator, "/").await;
    assert_eq!((s, body.as_slice()), (200, &b"brand page"[..]));
    assert!(head
        .to_ascii_lowercase()
        .contains("referrer-policy: no-referrer"));
    let (s, _, _) = get(integrator, "/pkg/index.js").await;
    assert_eq!(s, 200);
    let (s, _, _) = get(integrator, "/healthz").await;
    assert_eq!(s, 404, "the integrator origin has no API");
    server.shutdown().await;
}

#[test]
fn configuration_errors_keep_the_error_that_caused_them() {
    use campaign_token_server::config::Config;
    use std::error::Error as _;
    let parse = |t: &str| Config::parse(t, std::path::Path::new("."), &|_: &str| None);
    let err = parse("listen = [").expect_err("invalid TOML");
    assert!(err.0.starts_with("invalid configuration"), "{err}");
    assert!(err.source().is_some(), "the TOML error is the source");
    let err =
        Config::load(std::path::Path::new("/nonexistent/campaign.toml")).expect_err("no such file");
    let io = err
        .source()
        .and_then(|s| s.downcast_ref::<std::io::Error>());
    assert_eq!(
        io.map(std::io::Error::kind),
        Some(std::io::ErrorKind::NotFound)
    );
    let err = parse(&config_toml("sqlite:x.db", &[])).expect_err("no campaign");
    assert!(err.source().is_none(), "a check of our own has no source");
}

#[test]
fn integrator_origins_follow_the_core_exact_origin_rule() {
    let parse = |origin: &str| {
        let toml = config_toml("sqlite:x.db", &[draw_campaign("c", "", &[("a", "A", 1)])])
            .replacen(
                "[[campaign]]",
                &format!("[site]\nintegrator_origins = [\"{origin}\"]\n[[campaign]]"),
                1,
            );
        campaign_token_server::config::Config::parse(&toml, std::path::Path::new("."), &test_env)
    };
    // A path, upper case or a default port could never equal a browser's MessageEvent.origin
    // (the page and the integrator refused these already; the server accepted the first).
    for bad in [
        "https://brand.example/campaign",
        "https://Brand.example",
        "https://brand.example:443",
    ] {
        let err = parse(bad).expect_err(bad);
        assert!(err.0.contains("integrator_origins"), "{err}");
    }
    assert!(parse("https://brand.example:8443").is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_id_that_does_not_decode_is_a_json_bad_request() {
    for db in databases("path_not_utf8").await {
        let cfg = config_toml(&db.url, &[draw_campaign("c1", "", &[("a", "Alpha", 1)])]);
        let h = Harness::start(&cfg, START + 10).await;
        let bearer = format!("Bearer {OPERATOR_TOKEN}");
        for (method, path, headers) in [
            ("POST", "/api/campaigns/%FF/participations", vec![]),
            (
                "GET",
                "/api/campaigns/%C3%28/stats",
                vec![("Authorization", bearer.as_str())],
            ),
        ] {
            let (s, head, body) = raw(h.addr(), method, path, &headers, b"", true).await;
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            assert_eq!(
                (s, v["error"]["code"].as_str()),
                (400, Some("bad_request")),
                "{} {method} {path}: {head}",
                db.label
            );
            assert!(head.contains("content-type: application/json"), "{head}");
        }
        h.stop().await;
    }
}
