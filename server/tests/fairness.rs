//! Issue 11, part B: random secret calendars, the public fairness endpoint, the verifiable
//! draw with disqualification and redraw, and the audit log. Every test runs on SQLite, and
//! on PostgreSQL when `CAMPAIGN_TOKEN_TEST_PG` is set.

// Test helpers outside #[test] functions: a panic there is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashSet;

use campaign_token_core::fairness::calendar::{verify_calendar, RevealedCalendar};
use campaign_token_core::fairness::draw::{verify_draw, DrawRecord};
use common::*;
use serde_json::Value;

const SOURCE: &str = "the test lottery of the end day";

async fn get(h: &Harness, path: &str, operator: bool) -> (u16, Value) {
    let auth = format!("Bearer {OPERATOR_TOKEN}");
    let headers: Vec<(&str, &str)> = if operator {
        vec![("Authorization", auth.as_str())]
    } else {
        vec![]
    };
    request(h.addr(), "GET", path, &headers, b"").await
}

async fn post(h: &Harness, path: &str, body: &str) -> (u16, Value) {
    request(
        h.addr(),
        "POST",
        path,
        &[
            ("Authorization", &format!("Bearer {OPERATOR_TOKEN}")),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )
    .await
}

fn spread_campaign(id: &str) -> String {
    campaign_toml(
        id,
        "instant-win",
        START_RFC,
        END_RFC,
        "[campaign.calendar]\nspread = 4\n",
        &[("a", "Alpha", 2), ("b", "Beta", 2)],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spread_calendars_are_random_secret_until_the_end_and_match_their_commitment() {
    let logs = logs();
    for db in databases("fair_calendar").await {
        let l = db.label;
        let cfg = config_toml(&db.url, &[spread_campaign("x"), spread_campaign("y")]);
        let h = Harness::start(&cfg, START).await;
        // Everything a whole run answers before the end.
        let mut seen = String::new();
        let mut times = HashSet::from([START, END]);
        let mut published = Vec::new();
        for id in ["x", "y"] {
            let (s, v) = get(&h, &format!("/api/campaigns/{id}/fairness"), false).await;
            assert_eq!(s, 200, "{l}: public, no token: {v}");
            let commitment = v["calendar"]["commitment"].as_str().unwrap().to_owned();
            assert_eq!(commitment.len(), 64, "{l}");
            assert_eq!(v["calendar"]["revealed"], Value::Null, "{l}: {v}");
            published.push(commitment);
            seen.push_str(&v.to_string());
        }
        for step in 0..12_i64 {
            let now = START + 1 + step * 7_000;
            times.insert(now);
            h.clock.set(now);
            for id in ["x", "y"] {
                let (_, v) = h
                    .participate(id, &token(id, &format!("u{step}"), None, None))
                    .await;
                seen.push_str(&v.to_string());
                for what in ["stats", "winners"] {
                    seen.push_str(&h.operator_get(id, what).await.to_string());
                }
                let (_, v) = get(&h, &format!("/api/campaigns/{id}/fairness"), false).await;
                assert_eq!(v["calendar"]["revealed"], Value::Null, "{l}");
                seen.push_str(&v.to_string());
            }
        }
        let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
        assert!(
            logged.contains("participation"),
            "{l}: the logs are captured"
        );

        h.clock.set(END);
        let mut calendars = Vec::new();
        for (id, commitment) in ["x", "y"].into_iter().zip(&published) {
            let (_, v) = get(&h, &format!("/api/campaigns/{id}/fairness"), false).await;
            assert_eq!(v["calendar"]["commitment"], commitment.as_str(), "{l}");
            let revealed =
                RevealedCalendar::from_json(&v["calendar"]["revealed"].to_string()).unwrap();
            verify_calendar(&revealed).expect("the revealed calendar verifies");
            token_tool(
                "verify-calendar",
                &v["calendar"]["revealed"],
                "--commitment",
                commitment,
            );
            assert_eq!(
                &revealed.commitment, commitment,
                "{l}: the one published at start"
            );
            let mut changed = revealed.clone();
            changed.moments[0].at += 1;
            assert!(verify_calendar(&changed).is_err(), "{l}");
            let span = END - START;
            assert_eq!(revealed.moments.len(), 4, "{l}");
            for (i, m) in revealed.moments.iter().enumerate() {
                let i = i as i64;
                let (from, to) = (START + i * span / 4, START + (i + 1) * span / 4);
                assert!(m.at >= from && m.at < to, "{l}: moment {i} in its slot");
                if !times.contains(&m.at) {
                    let at = m.at.to_string();
                    assert!(!seen.contains(&at), "{l}: an answer revealed {at}");
                    assert!(!logged.contains(&at), "{l}: a log line revealed {at}");
                }
            }
            calendars.push(revealed);
        }
        assert_ne!(
            calendars[0]
                .moments
                .iter()
                .map(|m| m.at)
                .collect::<Vec<_>>(),
            calendars[1]
                .moments
                .iter()
                .map(|m| m.at)
                .collect::<Vec<_>>(),
            "{l}: the same configuration draws different moments"
        );
        h.stop().await;

        // A restart keeps the drawn calendar and its commitment.
        let h = Harness::start(&cfg, END).await;
        let (_, v) = get(&h, "/api/campaigns/x/fairness", false).await;
        assert_eq!(v["calendar"]["commitment"], published[0].as_str(), "{l}");
        h.stop().await;
    }
}

/// Runs `campaign-token verify-draw` on a published record when the token tool is built in
/// the same target directory (`cargo build -p campaign-token-cli`); says so when it is not.
fn token_tool_verifies(record: &Value, secret_commitment: &str) {
    token_tool(
        "verify-draw",
        record,
        "--secret-commitment",
        secret_commitment,
    );
}

/// Runs `campaign-token COMMAND FILE FLAG VALUE` on `json` and expects exit 0 (skipped, with
/// a note, when the tool is not built).
fn token_tool(command: &str, json: &Value, flag: &str, value: &str) {
    let server = std::path::PathBuf::from(env!("CARGO_BIN_EXE_campaign-token-server"));
    let tool = server.with_file_name(format!("campaign-token{}", std::env::consts::EXE_SUFFIX));
    if !tool.exists() {
        eprintln!("{} not built: {command} not run", tool.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("published.json");
    std::fs::write(&file, json.to_string()).unwrap();
    let out = std::process::Command::new(&tool)
        .arg(command)
        .arg(&file)
        .arg(flag)
        .arg(value)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{command}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn record_of(v: &Value) -> DrawRecord {
    DrawRecord::from_json(&v.to_string()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_draw_verifies_and_so_do_disqualifications_and_the_audit_log_keeps_them() {
    logs();
    for db in databases("fair_draw").await {
        let l = db.label;
        let extra = format!("draw_public_source = \"{SOURCE}\"");
        let cfg = config_toml(
            &db.url,
            &[campaign_toml(
                "d",
                "draw",
                START_RFC,
                END_RFC,
                &extra,
                &[("a", "Alpha", 1), ("b", "Beta", 1)],
            )],
        );
        let h = Harness::start(&cfg, START + 10).await;
        let (s, v) = get(&h, "/api/campaigns/d/fairness", false).await;
        assert_eq!(s, 200, "{l}: {v}");
        let secret_commitment = v["draw"]["secretCommitment"].as_str().unwrap().to_owned();
        assert_eq!(v["draw"]["publicSource"], SOURCE, "{l}");
        assert_eq!(v["draw"]["record"], Value::Null, "{l}");
        for i in 0..5 {
            let (_, v) = h
                .participate("d", &token("d", &format!("s{i}"), None, None))
                .await;
            assert_eq!(v["outcome"], "entered-draw", "{l}");
        }

        h.clock.set(END + 5);
        let (s, v) = post(
            &h,
            "/api/campaigns/d/draw",
            "{\"by\": \"ann\", \"publicValue\": \"3 1 4 1 5\"}",
        )
        .await;
        assert_eq!(s, 200, "{l}: {v}");
        let record = record_of(&v["record"]);
        let winners = verify_draw(&record).expect("the draw record verifies");
        assert_eq!(record.secret_commitment, secret_commitment, "{l}");
        assert_eq!(record.public_source, SOURCE);
        assert_eq!(record.public_value, "3 1 4 1 5");
        let answered: Vec<&str> = v["winners"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["participationId"].as_str().unwrap())
            .collect();
        let recorded: Vec<&str> = winners
            .iter()
            .map(|w| w.participation_id.as_str())
            .collect();
        assert_eq!(answered, recorded, "{l}");
        assert_eq!(recorded.len(), 2, "{l}");
        let mut tampered = record.clone();
        tampered.public_value.push('9');
        assert!(verify_draw(&tampered).is_err(), "{l}");
        let (_, f) = get(&h, "/api/campaigns/d/fairness", false).await;
        assert_eq!(record_of(&f["draw"]["record"]), record, "{l}: published");
        token_tool_verifies(&f["draw"]["record"], &secret_commitment);

        // Refusals.
        let path = |p: &str| format!("/api/campaigns/d/winners/{p}/disqualify");
        let (s, e) = post(&h, &path("nobody"), "{\"reason\": \"fraud\"}").await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (404, Some("not_a_winner")),
            "{l}"
        );
        let (s, e) = post(&h, &path(recorded[0]), "{}").await;
        assert_eq!(s, 400, "{l}: a reason is required: {e}");
        let (s, _) = request(
            h.addr(),
            "POST",
            &path(recorded[0]),
            &[],
            b"{\"reason\": \"x\"}",
        )
        .await;
        assert_eq!(s, 401, "{l}");

        // Disqualify the current winners until nobody is left to replace them.
        let mut current = record;
        let mut returned = None;
        for round in 0..5 {
            let target = current.winners[0].clone();
            let (s, v) = post(
                &h,
                &path(&target.participation_id),
                &format!("{{\"reason\": \"unreachable {round}\", \"by\": \"bob\"}}"),
            )
            .await;
            assert_eq!(s, 200, "{l}: {v}");
            let next = record_of(&v["record"]);
            verify_draw(&next).expect("a record after a redraw verifies");
            assert_eq!(next.disqualifications.len(), round + 1, "{l}");
            assert!(
                !next
                    .winners
                    .iter()
                    .any(|w| w.participation_id == target.participation_id),
                "{l}"
            );
            current = next;
            if !v["returnedToStock"].is_null() {
                returned = Some(v["returnedToStock"].as_str().unwrap().to_owned());
                assert_eq!(v["winners"].as_array().unwrap().len(), 0, "{l}");
                break;
            }
            assert_eq!(
                v["winners"].as_array().unwrap().len(),
                1,
                "{l}: a replacement"
            );
        }
        token_tool_verifies(&serde_json::to_value(&current).unwrap(), &secret_commitment);
        let freed = returned.expect("five candidates run out after four disqualifications");
        let stats = h.operator_get("d", "stats").await;
        let left: i64 = stats["prizes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["id"] == freed.as_str())
            .map(|p| p["remaining"].as_i64().unwrap())
            .sum();
        assert_eq!(left, 1, "{l}: the freed unit is back in stock: {stats}");
        assert_eq!(stats["outcomes"]["disqualified"], 4, "{l}: {stats}");
        let winners = h.operator_get("d", "winners").await;
        let ids: Vec<&str> = winners["winners"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["participationId"].as_str().unwrap())
            .collect();
        let still: Vec<&str> = current
            .winners
            .iter()
            .map(|w| w.participation_id.as_str())
            .collect();
        assert_eq!(ids, still, "{l}: stored winners are the record's");

        let (s, _) = get(&h, "/api/campaigns/d/audit", false).await;
        assert_eq!(s, 401, "{l}: the audit log is the operator's");
        let audit = h.operator_get("d", "audit").await;
        let entries = audit["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 5, "{l}: {audit}");
        assert_eq!(entries[0]["action"], "draw");
        assert_eq!(entries[0]["operator"], "ann");
        assert_eq!(entries[0]["details"]["publicValue"], "3 1 4 1 5");
        assert_eq!(entries[1]["action"], "disqualify");
        assert_eq!(entries[1]["operator"], "bob");
        assert_eq!(entries[1]["details"]["reason"], "unreachable 0");
        let seqs: Vec<i64> = entries.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5], "{l}");
        h.stop().await;
    }
}
