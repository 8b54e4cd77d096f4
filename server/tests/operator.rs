//! Issue 12, the operator API: campaign list, time series, the streamed winners CSV, stock
//! additions during participations, erasure and the answers retention. Every test runs on
//! SQLite, and on PostgreSQL when `CAMPAIGN_TOKEN_TEST_PG` is set.

// Test helpers outside #[test] functions: a panic there is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const SOURCE: &str = "the test lottery of the end day";

fn auth() -> String {
    format!("Bearer {OPERATOR_TOKEN}")
}

async fn get(addr: SocketAddr, path: &str) -> (u16, Value) {
    request(addr, "GET", path, &[("Authorization", &auth())], b"").await
}

async fn post(addr: SocketAddr, path: &str, body: &Value) -> (u16, Value) {
    request(
        addr,
        "POST",
        path,
        &[
            ("Authorization", &auth()),
            ("Content-Type", "application/json"),
        ],
        body.to_string().as_bytes(),
    )
    .await
}

async fn participate_with(addr: SocketAddr, campaign: &str, token: &str, answers: &Value) -> Value {
    let body = json!({ "token": token, "answers": answers }).to_string();
    let (s, v) = request(
        addr,
        "POST",
        &format!("/api/campaigns/{campaign}/participations"),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v
}

// ---------------------------------------------------------------------------------------
// Direct database access, to check what the API cannot show.

enum Conn {
    Sqlite(rusqlite::Connection),
    Pg(tokio_postgres::Client),
}

async fn connect(url: &str) -> Conn {
    if let Some(path) = url.strip_prefix("sqlite:") {
        Conn::Sqlite(rusqlite::Connection::open(path).unwrap())
    } else {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        Conn::Pg(client)
    }
}

impl Conn {
    async fn batch(&self, sql: &str) {
        match self {
            Conn::Sqlite(c) => c.execute_batch(sql).unwrap(),
            Conn::Pg(c) => c.batch_execute(sql).await.unwrap(),
        }
    }

    /// A one-integer query.
    async fn int(&self, sql: &str) -> i64 {
        match self {
            Conn::Sqlite(c) => c.query_row(sql, [], |r| r.get(0)).unwrap(),
            Conn::Pg(c) => c.query_one(sql, &[]).await.unwrap().get(0),
        }
    }

    /// Every (table, column) of the database.
    async fn columns(&self) -> Vec<(String, String)> {
        match self {
            Conn::Sqlite(c) => {
                let mut st = c
                    .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
                    .unwrap();
                let tables: Vec<String> = st
                    .query_map([], |r| r.get(0))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                let mut out = Vec::new();
                for t in tables {
                    let mut st = c.prepare(&format!("PRAGMA table_info(\"{t}\")")).unwrap();
                    let cols: Vec<String> = st
                        .query_map([], |r| r.get(1))
                        .unwrap()
                        .map(Result::unwrap)
                        .collect();
                    out.extend(cols.into_iter().map(|col| (t.clone(), col)));
                }
                out
            }
            Conn::Pg(c) => c
                .query(
                    "SELECT table_name::text, column_name::text FROM information_schema.columns
                     WHERE table_schema = 'public'",
                    &[],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect(),
        }
    }

    /// The (table, column) pairs where some value contains `needle`.
    async fn find(&self, needle: &str) -> Vec<(String, String)> {
        let mut hits = Vec::new();
        for (t, col) in self.columns().await {
            let n = match self {
                Conn::Sqlite(c) => c
                    .query_row(
                        &format!(
                            "SELECT COUNT(*) FROM \"{t}\" WHERE instr(CAST(\"{col}\" AS TEXT), ?1) > 0"
                        ),
                        [needle],
                        |r| r.get::<_, i64>(0),
                    )
                    .unwrap(),
                Conn::Pg(c) => c
                    .query_one(
                        &format!(
                            "SELECT COUNT(*) FROM \"{t}\" WHERE strpos(CAST(\"{col}\" AS TEXT), $1) > 0"
                        ),
                        &[&needle],
                    )
                    .await
                    .unwrap()
                    .get::<_, i64>(0),
            };
            if n > 0 {
                hits.push((t, col));
            }
        }
        hits
    }
}

// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn campaign_list_and_time_series_counts_match_participations() {
    for db in databases("operator_timeseries").await {
        let toml = config_toml(
            &db.url,
            &[
                draw_campaign("ts", "participation_limit = 5", &[("gift", "Gift", 2)]),
                campaign_toml(
                    "iw",
                    "instant-win",
                    START_RFC,
                    END_RFC,
                    "[campaign.calendar]\nmoments = [\"2033-05-18T03:34:00Z\"]\n",
                    &[("mug", "Mug", 1)],
                ),
            ],
        );
        let h = Harness::start(&toml, START - 10).await;
        // The list, before the start.
        let (s, v) = get(h.addr(), "/api/campaigns").await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(
            v["campaigns"],
            json!([
                {"campaignId":"iw","type":"instant","status":"scheduled","start":START,"end":END},
                {"campaignId":"ts","type":"draw","status":"scheduled","start":START,"end":END},
            ]),
            "{}",
            db.label
        );
        let (s, _) = request(h.addr(), "GET", "/api/campaigns", &[], b"").await;
        assert_eq!(s, 401);
        // Participations at chosen times: (offset from START, cw claim).
        let plan: &[(i64, Option<bool>)] = &[
            (5, Some(true)),     // won (stock 2)
            (30, None),          // entered-draw
            (61, Some(false)),   // not-eligible
            (62, Some(true)),    // won
            (3_601, Some(true)), // lost (no stock)
            (3_700, None),       // entered-draw
            (7_300, None),       // entered-draw
            (7_301, Some(false)),
        ];
        let mut expected: BTreeMap<(i64, i64), BTreeMap<String, i64>> = BTreeMap::new();
        for (i, (off, cw)) in plan.iter().enumerate() {
            h.clock.set(START + off);
            let t = token("ts", &format!("sub-{i}"), *cw, None);
            let (s, v) = h.participate("ts", &t).await;
            assert_eq!(s, 200, "{v}");
            let outcome = v["outcome"].as_str().unwrap().to_owned();
            for width in [60, 3600, 86_400] {
                let at = START + off;
                *expected
                    .entry((width, at - at.rem_euclid(width)))
                    .or_default()
                    .entry(outcome.clone())
                    .or_insert(0) += 1;
            }
        }
        for (bucket, width) in [("minute", 60), ("hour", 3600), ("day", 86_400)] {
            let v = h
                .operator_get("ts", &format!("timeseries?bucket={bucket}"))
                .await;
            assert_eq!(v["bucket"], bucket);
            let series = v["series"].as_array().unwrap();
            let want: Vec<Value> = expected
                .iter()
                .filter(|((w, _), _)| *w == width)
                .map(|((_, at), counts)| {
                    let c = |k: &str| counts.get(k).copied().unwrap_or(0);
                    json!({"at": at, "won": c("won"), "lost": c("lost"),
                           "entered-draw": c("entered-draw"), "not-eligible": c("not-eligible")})
                })
                .collect();
            assert_eq!(series, &want, "{} {bucket}", db.label);
            let total: i64 = series
                .iter()
                .map(|p| {
                    ["won", "lost", "entered-draw", "not-eligible"]
                        .iter()
                        .map(|k| p[*k].as_i64().unwrap())
                        .sum::<i64>()
                })
                .sum();
            let stats = h.operator_get("ts", "stats").await;
            assert_eq!(total, stats["participations"].as_i64().unwrap());
        }
        let default = h.operator_get("ts", "timeseries").await;
        assert_eq!(default["bucket"], "hour");
        let (s, v) = get(h.addr(), "/api/campaigns/ts/timeseries?bucket=week").await;
        assert_eq!((s, v["error"]["code"].as_str()), (400, Some("bad_request")));
        // Claimed moments beside unclaimed ones.
        let stats = h.operator_get("iw", "stats").await;
        assert_eq!(
            (
                stats["claimedMoments"].as_i64(),
                stats["unclaimedMoments"].as_i64()
            ),
            (Some(0), Some(1))
        );
        h.clock.set(START + 120);
        let (_, v) = h.participate("iw", &token("iw", "lucky", None, None)).await;
        assert_eq!(v["outcome"], "won", "{v}");
        let stats = h.operator_get("iw", "stats").await;
        assert_eq!(
            (
                stats["claimedMoments"].as_i64(),
                stats["unclaimedMoments"].as_i64()
            ),
            (Some(1), Some(0))
        );
        let (_, v) = get(h.addr(), "/api/campaigns").await;
        assert_eq!(v["campaigns"][0]["status"], "running");
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stock_added_while_participations_arrive_never_over_allocates() {
    for db in databases("operator_stock").await {
        let toml = config_toml(&db.url, &[draw_campaign("st", "", &[("gift", "Gift", 5)])]);
        let h = Harness::start(&toml, START + 10).await;
        let addr = h.addr();
        let (s, v) = post(
            addr,
            "/api/campaigns/st/prizes/nope/stock",
            &json!({"add": 1, "by": "alice"}),
        )
        .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (404, Some("unknown_prize"))
        );
        for bad in [
            json!({"add": 0}),
            json!({"add": -3}),
            json!({"add": "2"}),
            json!({"by": "x"}),
        ] {
            let (s, v) = post(addr, "/api/campaigns/st/prizes/gift/stock", &bad).await;
            assert_eq!(
                (s, v["error"]["code"].as_str()),
                (400, Some("bad_request")),
                "{bad}"
            );
        }
        let (s, _) = request(
            addr,
            "POST",
            "/api/campaigns/st/prizes/gift/stock",
            &[],
            b"{\"add\":1}",
        )
        .await;
        assert_eq!(s, 401);
        let tokens: Vec<String> = (0..150)
            .map(|i| token("st", &format!("p{i}"), Some(true), None))
            .collect();
        let mut tasks = Vec::new();
        for (i, t) in tokens.into_iter().enumerate() {
            tasks.push(tokio::spawn(async move {
                let (s, v) = participate(addr, "st", &t).await;
                assert_eq!(s, 200, "{v}");
                v["outcome"].as_str().unwrap().to_owned()
            }));
            if i % 15 == 0 {
                tasks.push(tokio::spawn(async move {
                    let (s, v) = post(
                        addr,
                        "/api/campaigns/st/prizes/gift/stock",
                        &json!({"add": 3, "by": "alice"}),
                    )
                    .await;
                    assert_eq!(s, 200, "{v}");
                    assert_eq!(v["prize"]["id"], "gift");
                    "stock".to_owned()
                }));
            }
        }
        let mut won = 0;
        for t in tasks {
            if t.await.unwrap() == "won" {
                won += 1;
            }
        }
        let stats = h.operator_get("st", "stats").await;
        let prize = &stats["prizes"][0];
        assert_eq!(prize["quantity"], 5 + 10 * 3, "{}: {stats}", db.label);
        assert_eq!(
            prize["quantity"].as_i64().unwrap() - prize["remaining"].as_i64().unwrap(),
            won,
            "{}: allocated units = answered wins",
            db.label
        );
        assert_eq!(stats["winners"].as_i64().unwrap(), won);
        assert!(won <= 35);
        let winners = h.operator_get("st", "winners").await;
        assert_eq!(winners["winners"].as_array().unwrap().len() as i64, won);
        let audit = h.operator_get("st", "audit").await;
        let adds: Vec<&Value> = audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "add-stock")
            .collect();
        assert_eq!(adds.len(), 10);
        assert!(adds
            .iter()
            .all(|e| e["operator"] == "alice" && e["details"]["added"] == 3));
        h.stop().await;
        // The file still says 5: the start-up check counts the audited additions…
        let h = Harness::start(&toml, START + 20).await;
        h.stop().await;
        // …and still refuses a changed configured quantity.
        let changed = config_toml(&db.url, &[draw_campaign("st", "", &[("gift", "Gift", 6)])]);
        let config = campaign_token_server::config::Config::parse(
            &changed,
            std::path::Path::new("."),
            &test_env,
        )
        .unwrap();
        let err = campaign_token_server::Server::start(
            config,
            campaign_token_server::Clock::manual(START),
        )
        .await
        .err()
        .expect("a changed quantity is refused");
        assert!(err.to_string().contains("/stock"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn erasure_leaves_no_trace_of_the_sub_or_answers_and_keeps_the_counts() {
    let sub = "erase-me-7f3a91";
    let marker = "ANSWER-MARKER-5c0d";
    let logs = logs();
    for db in databases("operator_erasure").await {
        let extra = format!("participation_limit = 2\ndraw_public_source = \"{SOURCE}\"");
        let toml = config_toml(
            &db.url,
            &[draw_campaign(
                "er",
                &extra,
                &[("gift", "Gift", 1), ("book", "Book", 2)],
            )],
        );
        let h = Harness::start(&toml, START + 10).await;
        let a = h.addr();
        // The sub wins a unit at once, then enters the draw; others enter the draw.
        participate_with(
            a,
            "er",
            &token("er", sub, Some(true), None),
            &json!({"q": marker}),
        )
        .await;
        participate_with(
            a,
            "er",
            &token("er", sub, None, None),
            &json!({"q": format!("{marker}-2")}),
        )
        .await;
        for i in 0..6 {
            participate_with(
                a,
                "er",
                &token("er", &format!("other-{i}"), None, None),
                &json!({"q": "kept"}),
            )
            .await;
        }
        h.clock.set(END + 1);
        let (s, v) = post(
            a,
            "/api/campaigns/er/draw",
            &json!({"publicValue": "42", "by": "alice"}),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let stats_before = h.operator_get("er", "stats").await;
        let winners_before = h.operator_get("er", "winners").await;
        let fairness_before = get(a, "/api/campaigns/er/fairness").await.1;
        let conn = connect(&db.url).await;
        assert!(!conn.find(sub).await.is_empty(), "the sub is stored before");
        assert!(
            !conn.find(marker).await.is_empty(),
            "answers are stored before"
        );

        let (s, v) = post(
            a,
            "/api/campaigns/er/erasure",
            &json!({"sub": sub, "by": "alice"}),
        )
        .await;
        assert_eq!((s, v.clone()), (200, json!({"erased": 2})), "{}", db.label);
        assert_eq!(
            conn.find(sub).await,
            Vec::<(String, String)>::new(),
            "{}: sub left",
            db.label
        );
        assert_eq!(
            conn.find(marker).await,
            Vec::<(String, String)>::new(),
            "{}: answers left",
            db.label
        );
        assert!(!conn.find("kept").await.is_empty(), "other answers stay");
        // Counts, winners (but the sub) and the draw record are unchanged.
        assert_eq!(h.operator_get("er", "stats").await, stats_before);
        let winners_after = h.operator_get("er", "winners").await;
        let strip = |w: &Value| -> Vec<Value> {
            w["winners"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| {
                    let mut x = x.clone();
                    x["sub"] = Value::Null;
                    x
                })
                .collect()
        };
        assert_eq!(strip(&winners_after), strip(&winners_before));
        let erased: Vec<&Value> = winners_after["winners"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["sub"].as_str().unwrap().starts_with("erased:"))
            .collect();
        assert_eq!(
            erased.len(),
            1,
            "the sub's instant win stays, pseudonymised"
        );
        assert_eq!(
            get(a, "/api/campaigns/er/fairness").await.1,
            fairness_before
        );
        // Logged without the data.
        let audit = h.operator_get("er", "audit").await;
        let entry = audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "erasure")
            .unwrap();
        assert_eq!(entry["operator"], "alice");
        assert_eq!(entry["details"], json!({"participations": 2}));
        assert!(!audit.to_string().contains(sub));
        let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
        assert!(logged.contains("erasure"), "the erasure is logged");
        assert!(!logged.contains(sub), "{}: the sub is not logged", db.label);
        // Erasing again finds nothing; bad bodies are refused.
        let (_, v) = post(a, "/api/campaigns/er/erasure", &json!({"sub": sub})).await;
        assert_eq!(v, json!({"erased": 0}));
        let (s, v) = post(a, "/api/campaigns/er/erasure", &json!({"sub": ""})).await;
        assert_eq!((s, v["error"]["code"].as_str()), (400, Some("bad_request")));
        let (s, _) = request(
            a,
            "POST",
            "/api/campaigns/er/erasure",
            &[],
            b"{\"sub\":\"x\"}",
        )
        .await;
        assert_eq!(s, 401);
        h.stop().await;
    }
}

/// An erased participant's tokens still replay (the rows are found without their sub, which
/// erasure replaced), during the campaign and after its end; the same sub with a new token is
/// a new participant; erasing it again numbers its new rows after the first erasure's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_erased_participants_tokens_still_replay_and_it_can_be_erased_twice() {
    let sub = "erase-twice-41c2";
    for db in databases("operator_erasure_replay").await {
        let l = db.label;
        let extra = format!("participation_limit = 2\ndraw_public_source = \"{SOURCE}\"");
        let toml = config_toml(
            &db.url,
            &[draw_campaign("er2", &extra, &[("gift", "Gift", 1)])],
        );
        let h = Harness::start(&toml, START + 10).await;
        let a = h.addr();
        let first_token = token("er2", sub, Some(true), None);
        let second_token = token("er2", sub, None, None);
        let first = participate_with(a, "er2", &first_token, &json!({})).await;
        assert_eq!(first["outcome"], "won", "{l}: {first}");
        let second = participate_with(a, "er2", &second_token, &json!({})).await;
        assert_eq!(second["outcome"], "entered-draw", "{l}: {second}");

        let (s, v) = post(a, "/api/campaigns/er2/erasure", &json!({"sub": sub})).await;
        assert_eq!((s, v), (200, json!({"erased": 2})), "{l}");
        // Both tokens answer their own participations, won prize included, and record nothing.
        for (t, original) in [(&first_token, &first), (&second_token, &second)] {
            let again = participate_with(a, "er2", t, &json!({})).await;
            assert_eq!(again["participationId"], original["participationId"], "{l}");
            assert_eq!(again["outcome"], original["outcome"], "{l}");
            assert_eq!(again["replayed"], true, "{l}");
        }
        assert_eq!(
            h.operator_get("er2", "stats").await["participations"],
            2,
            "{l}"
        );

        // A new token of the same sub: a new participant (its limit starts again).
        let third_token = token_at("er2", sub, START - 60, None, None);
        let third = participate_with(a, "er2", &third_token, &json!({})).await;
        assert_eq!(third["replayed"], false, "{l}: {third}");
        let (s, v) = post(a, "/api/campaigns/er2/erasure", &json!({"sub": sub})).await;
        assert_eq!((s, v), (200, json!({"erased": 1})), "{l}: erased again");
        let conn = connect(&db.url).await;
        assert!(conn.find(sub).await.is_empty(), "{l}: sub left");

        // After the end, a replay is answered from the store without recording.
        h.clock.set(END + 1);
        let again = participate_with(a, "er2", &first_token, &json!({})).await;
        assert_eq!(again["participationId"], first["participationId"], "{l}");
        assert_eq!(again["replayed"], true, "{l}");
        let (s, v) = h
            .participate("er2", &token_at("er2", sub, START - 120, None, None))
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (409, Some("campaign_ended")),
            "{l}: {v}"
        );
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retention_purges_only_answers_of_campaigns_ended_long_enough() {
    for db in databases("operator_retention").await {
        let late_end = "2033-05-29T03:33:20Z"; // END + 10 days
        let mut toml = config_toml(
            &db.url,
            &[
                draw_campaign("old", "", &[("gift", "Gift", 1)]),
                campaign_toml(
                    "late",
                    "draw",
                    START_RFC,
                    late_end,
                    "",
                    &[("gift", "Gift", 1)],
                ),
            ],
        );
        toml = format!("answers_retention_days = 2\n{toml}");
        let h = Harness::start(&toml, START + 10).await;
        for c in ["old", "late"] {
            for i in 0..3 {
                participate_with(
                    h.addr(),
                    c,
                    &token(c, &format!("s{i}"), None, None),
                    &json!({"a": i}),
                )
                .await;
            }
        }
        h.stop().await;
        let conn = connect(&db.url).await;
        let answers = |c: &'static str| {
            let conn = &conn;
            async move {
                conn.int(&format!(
                    "SELECT COUNT(*) FROM participations WHERE campaign = '{c}' AND answers IS NOT NULL"
                ))
                .await
            }
        };
        // One second short of END + 2 days: nothing is due.
        let config = campaign_token_server::config::Config::parse(
            &toml,
            std::path::Path::new("."),
            &test_env,
        )
        .unwrap();
        let store = campaign_token_server::open_store(&config).unwrap();
        let old = Arc::clone(&config.campaigns[0]);
        assert_eq!(
            store
                .purge_answers(Arc::clone(&old), END + 2 * 86_400 - 1, 2)
                .await
                .unwrap(),
            0
        );
        assert_eq!((answers("old").await, answers("late").await), (3, 3));
        drop(store);
        // A server started after the delay purges at start-up (its periodic task).
        let h = Harness::start(&toml, END + 2 * 86_400 + 5).await;
        let mut entries = Value::Null;
        for _ in 0..300 {
            entries = h.operator_get("old", "audit").await["entries"].clone();
            if entries
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == "purge-answers")
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let purge = entries
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "purge-answers")
            .unwrap_or_else(|| panic!("{}: no purge in {entries}", db.label));
        assert_eq!(purge["operator"], "retention");
        assert_eq!(
            purge["details"],
            json!({"participations": 3, "retentionDays": 2})
        );
        assert_eq!(
            (answers("old").await, answers("late").await),
            (0, 3),
            "{}",
            db.label
        );
        // Outcomes and subs stay; the other campaign is untouched and unaudited.
        assert_eq!(h.operator_get("old", "stats").await["participations"], 3);
        assert!(!h
            .operator_get("late", "audit")
            .await
            .to_string()
            .contains("purge-answers"));
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_configured_erasure_key_is_the_hmac_key_and_settings_are_checked() {
    let sub = "configured-key-sub";
    for db in databases("operator_erasure_key").await {
        // Any test variable of at least 32 bytes serves as the key.
        let toml = format!(
            "erasure_key_env = \"{HMAC_ENV}\"\n{}",
            config_toml(&db.url, &[draw_campaign("ek", "", &[("gift", "Gift", 1)])])
        );
        let h = Harness::start(&toml, START + 10).await;
        participate_with(
            h.addr(),
            "ek",
            &token("ek", sub, Some(true), None),
            &json!(1),
        )
        .await;
        let (s, v) = post(h.addr(), "/api/campaigns/ek/erasure", &json!({"sub": sub})).await;
        assert_eq!((s, v), (200, json!({"erased": 1})));
        let winners = h.operator_get("ek", "winners").await;
        assert_eq!(
            winners["winners"][0]["sub"].as_str().unwrap(),
            campaign_token_server::store::erased_sub(HMAC_SECRET.as_bytes(), "ek", sub),
            "{}",
            db.label
        );
        h.stop().await;
        let conn = connect(&db.url).await;
        assert_eq!(
            conn.int("SELECT COUNT(*) FROM server_secrets").await,
            0,
            "no key is created when one is configured"
        );
    }
    let parse = |extra: &str| {
        campaign_token_server::config::Config::parse(
            &format!(
                "{extra}\n{}",
                config_toml(
                    "sqlite:x.db",
                    &[draw_campaign("c", "", &[("gift", "Gift", 1)])]
                )
            ),
            std::path::Path::new("."),
            &test_env,
        )
    };
    assert!(parse("answers_retention_days = 0").is_err());
    assert!(parse("answers_retention_days = -1").is_err());
    assert_eq!(
        parse("answers_retention_days = 30")
            .unwrap()
            .answers_retention_days,
        Some(30)
    );
    assert!(parse("erasure_key_env = \"CT_TEST_UNSET\"").is_err());
    // Too short: the operator token (26 bytes).
    assert!(parse(&format!("erasure_key_env = \"{OPERATOR_ENV}\"")).is_err());
}

// ---------------------------------------------------------------------------------------
// The CSV and JSON exports of 100,000 winners, from a server process whose memory is measured.

const BIG: i64 = 100_000;
/// Lengthens each row, so that the file is well above the memory bound.
const PAD: &str = "a prize label of a reasonable length, like the ones brands write";

/// The peak resident memory (VmHWM) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> i64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn csv_and_json_winners_of_100k_stream_with_bounded_memory_and_match() {
    for db in databases("operator_csv").await {
        let dir = tempfile::tempdir().unwrap();
        let toml = config_toml(&db.url, &[draw_campaign("big", "", &[("gift", "Gift", 1)])]);
        let (mut child, addr) = spawn_binary(dir.path(), "config", &toml).await;
        let pid = child.id().unwrap();
        // 100,000 winners written straight into the database (labels that look like
        // formulas, a sub with a comma and a quote; ties on won_at and on (won_at,
        // created_at), some across a page boundary, so the keyset's last column decides).
        let conn = connect(&db.url).await;
        conn.batch(&format!(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {BIG})
             INSERT INTO participations (id, campaign, token_hash, sub, n, eligibility,
                 token_label, outcome, prize_id, prize_label, won_at, drawn, answers, created_at)
             SELECT 'p' || i, 'big', 'h' || i, 'sub \"' || i || '\", x', 1, 'any-prize', NULL,
                 'won', 'gift', '=label {PAD} ' || i, {START} + i / 7, i % 2, NULL, {START} + i / 3 FROM s"
        ))
        .await;
        assert_eq!(conn.int("SELECT COUNT(*) FROM participations").await, BIG);
        let (s, _) = get(addr, "/api/campaigns/big/stats").await;
        assert_eq!(s, 200);
        let before = peak_rss_kib(pid);
        let (status, head, body) = raw(
            addr,
            "GET",
            "/api/campaigns/big/winners.csv",
            &[("Authorization", &auth())],
            b"",
            true,
        )
        .await;
        let after_csv = peak_rss_kib(pid);
        assert_eq!(status, 200);
        let head = head.to_ascii_lowercase();
        assert!(
            head.contains("content-type: text/csv; charset=utf-8"),
            "{head}"
        );
        assert!(
            head.contains("content-disposition: attachment; filename=\"big-winners.csv\""),
            "{head}"
        );
        assert!(
            head.contains("transfer-encoding: chunked"),
            "streamed, not sized up front: {head}"
        );
        // The JSON list, streamed the same way.
        let (s, json_head, json_body) = raw(
            addr,
            "GET",
            "/api/campaigns/big/winners",
            &[("Authorization", &auth())],
            b"",
            true,
        )
        .await;
        let after_json = peak_rss_kib(pid);
        assert_eq!(s, 200);
        let json_head = json_head.to_ascii_lowercase();
        assert!(
            json_head.contains("content-type: application/json"),
            "{json_head}"
        );
        assert!(
            json_head.contains("transfer-encoding: chunked"),
            "streamed, not sized up front: {json_head}"
        );
        let json_body = dechunk(&json_body);
        let json: Value = serde_json::from_slice(&json_body).unwrap();
        assert_eq!(json["campaignId"], "big");
        let body = dechunk(&body);
        let mut rd = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(body.as_slice());
        assert_eq!(
            rd.headers().unwrap().iter().collect::<Vec<_>>(),
            [
                "participation_id",
                "sub",
                "prize_id",
                "prize_label",
                "won_at",
                "how"
            ]
        );
        let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
        let winners = json["winners"].as_array().unwrap();
        assert_eq!(rows.len() as i64, BIG);
        assert_eq!(winners.len() as i64, BIG);
        let distinct: std::collections::HashSet<&str> = rows.iter().map(|r| &r[0]).collect();
        assert_eq!(distinct.len() as i64, BIG, "every winner once");
        for (r, w) in rows.iter().zip(winners) {
            let won_at = time::OffsetDateTime::from_unix_timestamp(w["wonAt"].as_i64().unwrap())
                .unwrap()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap();
            let label = format!("'{}", w["prize"]["label"].as_str().unwrap());
            let how = if w["drawn"].as_bool().unwrap() {
                "drawn"
            } else {
                "instant"
            };
            assert_eq!(
                r.iter().collect::<Vec<_>>(),
                [
                    w["participationId"].as_str().unwrap(),
                    w["sub"].as_str().unwrap(),
                    w["prize"]["id"].as_str().unwrap(),
                    label.as_str(),
                    won_at.as_str(),
                    how
                ]
            );
        }
        let csv_growth = after_csv - before;
        let json_growth = after_json - after_csv;
        eprintln!(
            "{}: {} bytes of CSV, {} of JSON; peak RSS {before} KiB, +{csv_growth} KiB for the CSV, +{json_growth} KiB more for the JSON",
            db.label,
            body.len(),
            json_body.len()
        );
        // Each file is larger than this bound: a server holding it (or its rows) in memory
        // would exceed it. (Before the JSON list was streamed, building it whole grew this
        // server by more than the bound: the measure sees a buffered export.)
        let bound_kib = 8 * 1024;
        assert!(
            (body.len() as i64) / 1024 > bound_kib && (json_body.len() as i64) / 1024 > bound_kib,
            "the files outgrow the bound"
        );
        assert!(
            csv_growth < bound_kib,
            "{}: the CSV export grew the server by {csv_growth} KiB",
            db.label
        );
        assert!(
            json_growth < bound_kib,
            "{}: the JSON list grew the server by {json_growth} KiB",
            db.label
        );
        child.kill().await.unwrap();
    }
}
