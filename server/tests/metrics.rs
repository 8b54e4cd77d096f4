//! `GET /metrics` (OpenMetrics text, operator only): it parses, and after a burst its counters
//! match the campaign's stats, on SQLite and PostgreSQL.

// Test helpers outside #[test] functions: a panic there is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeMap;

use common::*;

/// The samples of an OpenMetrics text exposition: `name{labels}` → value. Panics on any line
/// that is neither a sample nor a `# HELP`/`# TYPE`/`# UNIT`/`# EOF` comment.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    let mut eof = false;
    for line in text.lines() {
        assert!(!eof, "a line after # EOF: {line}");
        if line == "# EOF" {
            eof = true;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let kind = rest.split(' ').next().unwrap();
            assert!(matches!(kind, "HELP" | "TYPE" | "UNIT"), "{line}");
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name: {line}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "{line}");
        }
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        samples.insert(series.to_owned(), v);
    }
    assert!(eof, "no # EOF");
    samples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_parse_and_match_the_stats_after_a_burst() {
    for db in databases("metrics").await {
        let l = db.label;
        let cfg = config_toml(&db.url, &[draw_campaign("c1", "", &[("a", "Alpha", 3)])]);
        let h = Harness::start(&cfg, START + 10).await;
        let mut tasks = Vec::new();
        for i in 0..20 {
            let addr = h.addr();
            let cw = if i % 4 == 0 { None } else { Some(true) };
            let t = token("c1", &format!("m{i}"), cw, None);
            tasks.push(tokio::spawn(
                async move { participate(addr, "c1", &t).await },
            ));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().0, 200);
        }
        // Two rejections and a replay.
        let t = token("c1", "m1", Some(true), None);
        let (input, _) = t.rsplit_once('.').unwrap();
        let forged = format!("{input}.{}", "A".repeat(86));
        assert_eq!(h.participate("c1", &forged).await.0, 401);
        assert_eq!(h.participate("c1", "not-a-token").await.0, 401);
        assert_eq!(h.participate("c1", &t).await.1["replayed"], true);

        let (s, _) = request(h.addr(), "GET", "/metrics", &[], b"").await;
        assert_eq!(s, 401, "{l}: operator only");
        let bearer = format!("Bearer {OPERATOR_TOKEN}");
        let (s, head, body) = raw(
            h.addr(),
            "GET",
            "/metrics",
            &[("Authorization", &bearer)],
            b"",
            true,
        )
        .await;
        assert_eq!(s, 200, "{l}");
        assert!(
            head.to_ascii_lowercase()
                .contains("application/openmetrics-text"),
            "{head}"
        );
        let m = parse(std::str::from_utf8(&body).unwrap());

        let stats = h.operator_get("c1", "stats").await;
        let fresh = |outcome: &str| {
            m.get(&format!(
                "campaign_token_participations_total{{campaign=\"c1\",outcome=\"{outcome}\",replayed=\"false\"}}"
            ))
            .copied()
            .unwrap_or(0.0)
        };
        let outcomes = stats["outcomes"].as_object().unwrap();
        let mut total = 0.0;
        for (outcome, n) in outcomes {
            assert_eq!(fresh(outcome), n.as_f64().unwrap(), "{l}: {outcome}");
            total += fresh(outcome);
        }
        assert_eq!(total, stats["participations"].as_f64().unwrap(), "{l}");
        // The replay is counted once, under its original outcome (won or lost: the burst
        // raced for 3 prizes).
        let replays: f64 = m
            .iter()
            .filter(|(k, _)| {
                k.starts_with("campaign_token_participations_total{")
                    && k.contains("replayed=\"true\"")
            })
            .map(|(_, v)| *v)
            .sum();
        assert_eq!(replays, 1.0, "{l}");
        assert_eq!(
            m["campaign_token_rejections_total{code=\"bad_signature\"}"], 1.0,
            "{l}"
        );
        assert_eq!(
            m["campaign_token_rejections_total{code=\"malformed\"}"], 1.0,
            "{l}"
        );
        let remaining = stats["prizes"][0]["remaining"].as_f64().unwrap();
        assert_eq!(
            m["campaign_token_stock_remaining{campaign=\"c1\",prize=\"a\"}"],
            remaining
        );
        assert_eq!(m["campaign_token_writer_queue_depth"], 0.0);
        assert_eq!(m["campaign_token_database_errors_total"], 0.0);
        let answered = m
            .iter()
            .filter(|(k, _)| k.starts_with("campaign_token_request_duration_seconds_count{endpoint=\"/api/campaigns/{id}/participations\""))
            .map(|(_, v)| *v)
            .sum::<f64>();
        assert_eq!(answered, 23.0, "{l}: every participation request is timed");
        h.stop().await;
    }
}
