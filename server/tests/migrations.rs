//! The schema's numbered migrations, on SQLite and (when `CAMPAIGN_TOKEN_TEST_PG` is set)
//! PostgreSQL: a database made before versions were recorded keeps working, and a database
//! migrated by a newer server is refused instead of misread.

// Test helpers outside #[test] functions: a panic there is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;

use campaign_token_server::config::Config;
use campaign_token_server::store::SCHEMA_VERSION;
use campaign_token_server::{Clock, Server};
use common::*;

/// Runs `sql` (no rows answered) directly on the test database.
async fn run_sql(url: &str, sql: &str) {
    match url.strip_prefix("sqlite:") {
        Some(path) => rusqlite::Connection::open(path)
            .unwrap()
            .execute_batch(sql)
            .unwrap(),
        None => {
            let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .unwrap();
            let task = tokio::spawn(conn);
            client.batch_execute(sql).await.unwrap();
            drop(client);
            let _ = task.await;
        }
    }
}

/// The recorded schema versions, in order.
async fn recorded_versions(url: &str) -> Vec<i64> {
    let sql = "SELECT version FROM schema_migrations ORDER BY version";
    match url.strip_prefix("sqlite:") {
        Some(path) => {
            let conn = rusqlite::Connection::open(path).unwrap();
            let mut q = conn.prepare(sql).unwrap();
            let rows = q.query_map([], |r| r.get(0)).unwrap();
            rows.collect::<Result<_, _>>().unwrap()
        }
        None => {
            let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .unwrap();
            let task = tokio::spawn(conn);
            let rows = client.query(sql, &[]).await.unwrap();
            let out = rows.iter().map(|r| r.get(0)).collect();
            drop(client);
            let _ = task.await;
            out
        }
    }
}

/// Whether the participations table has an index of this name.
async fn has_index(url: &str, name: &str) -> bool {
    match url.strip_prefix("sqlite:") {
        Some(path) => {
            let conn = rusqlite::Connection::open(path).unwrap();
            conn.query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ?1",
                [name],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
                == 1
        }
        None => {
            let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .unwrap();
            let task = tokio::spawn(conn);
            let n: i64 = client
                .query_one(
                    "SELECT COUNT(*) FROM pg_indexes WHERE tablename = 'participations' AND indexname = $1",
                    &[&name],
                )
                .await
                .unwrap()
                .get(0);
            drop(client);
            let _ = task.await;
            n == 1
        }
    }
}

/// The key servers before schema 3 recorded a token under: SHA-256 of its text, hex.
fn text_hash(token: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn config(url: &str) -> String {
    config_toml(
        url,
        &[campaign_toml(
            "c1",
            "draw",
            START_RFC,
            END_RFC,
            "",
            &[("a", "Alpha", 2)],
        )],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_made_before_versions_were_recorded_is_adopted_as_version_1() {
    for db in databases("migrate_v1").await {
        let l = db.label;
        let cfg = config(&db.url);
        let h = Harness::start(&cfg, START + 10).await;
        let won = token("c1", "early", Some(true), None);
        let (s, first) = h.participate("c1", &won).await;
        assert_eq!((s, first["outcome"].as_str()), (200, Some("won")), "{l}");
        h.stop().await;
        let all: Vec<i64> = (1..=SCHEMA_VERSION).collect();
        assert_eq!(recorded_versions(&db.url).await, all, "{l}");

        // The first release created the tables of migration 1, recorded no version, and keyed
        // participations on the SHA-256 of the token text.
        assert!(!has_index(&db.url, "participations_outcome").await, "{l}");
        for sql in [
            &format!(
                "UPDATE participations SET token_hash = '{}'",
                text_hash(&won)
            ),
            // Migration 7's table, back to migration 6's: the token's unique index (an
            // index where the first release had a table constraint: the same rule), no flag.
            "DROP INDEX participations_erased",
            "ALTER TABLE participations DROP COLUMN erased",
            "CREATE UNIQUE INDEX participations_token ON participations (campaign, token_hash)",
            // Migration 6's indexes, back to migration 1's and 4's.
            "DROP INDEX participations_won",
            "DROP INDEX participations_created",
            "CREATE INDEX participations_outcome ON participations (campaign, outcome)",
            // Migration 4's additions.
            "DROP TABLE server_secrets",
            "ALTER TABLE prizes DROP COLUMN added",
            // Migration 3's.
            "ALTER TABLE participations DROP COLUMN brand_form",
            "ALTER TABLE participations DROP COLUMN brand_optin",
            "DROP TABLE schema_migrations",
            "DROP TABLE fairness",
            "DROP TABLE audit_log",
            "ALTER TABLE draws DROP COLUMN record",
        ] {
            run_sql(&db.url, sql).await;
        }

        let h = Harness::start(&cfg, START + 20).await;
        assert_eq!(
            recorded_versions(&db.url).await,
            all,
            "{l}: adopted as version 1, then migrated on"
        );
        for (index, there) in [
            ("participations_outcome", false),
            ("participations_winners", false),
            ("participations_won", true),
            ("participations_created", true),
            ("participations_token", false),
            ("participations_erased", true),
        ] {
            assert_eq!(
                has_index(&db.url, index).await,
                there,
                "{l}: {index} after migrations 6 and 7"
            );
        }
        let (_, again) = h.participate("c1", &won).await;
        assert_eq!(again["participationId"], first["participationId"], "{l}");
        assert_eq!(
            again["replayed"], true,
            "{l}: its participations are still there"
        );
        let stats = h.operator_get("c1", "stats").await;
        assert_eq!(stats["participations"], 1, "{l}");
        assert_eq!(stats["prizes"][0]["remaining"], 1, "{l}: and its stock");
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_recorded_under_its_text_before_migration_5_still_replays() {
    for db in databases("migrate_v3").await {
        let l = db.label;
        let cfg = config(&db.url);
        let h = Harness::start(&cfg, START + 10).await;
        let won = token("c1", "before", Some(true), None);
        let (s, first) = h.participate("c1", &won).await;
        assert_eq!((s, first["outcome"].as_str()), (200, Some("won")), "{l}");
        h.stop().await;

        // What a server before the replay-key migration (5) recorded: SHA-256 of the text.
        run_sql(
            &db.url,
            &format!(
                "UPDATE participations SET token_hash = '{}';
                 DELETE FROM schema_migrations WHERE version >= 5",
                text_hash(&won)
            ),
        )
        .await;
        assert_eq!(recorded_versions(&db.url).await, vec![1, 2, 3, 4], "{l}");

        let h = Harness::start(&cfg, START + 20).await;
        let all: Vec<i64> = (1..=SCHEMA_VERSION).collect();
        assert_eq!(recorded_versions(&db.url).await, all, "{l}: migrated on");
        // participation_limit is 1: had the old row been missed, this would be a 409.
        let (s, again) = h.participate("c1", &won).await;
        assert_eq!(s, 200, "{l}: {again}");
        assert_eq!(again["participationId"], first["participationId"], "{l}");
        assert_eq!(again["replayed"], true, "{l}");
        assert_eq!(again["outcome"], "won", "{l}");
        let stats = h.operator_get("c1", "stats").await;
        assert_eq!(stats["participations"], 1, "{l}");
        h.stop().await;
    }
}

/// Schema 7 finds a token's rows through its sub, and erased rows (whose sub was replaced)
/// through their flag: a row erased under schema 6 is flagged by the migration, so its token
/// still replays instead of counting as a new participation.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_participation_erased_before_migration_7_still_replays() {
    for db in databases("migrate_v6").await {
        let l = db.label;
        let cfg = config(&db.url);
        let h = Harness::start(&cfg, START + 10).await;
        let won = token("c1", "erased-before-7", Some(true), None);
        let (s, first) = h.participate("c1", &won).await;
        assert_eq!((s, first["outcome"].as_str()), (200, Some("won")), "{l}");
        h.stop().await;

        // Schema 6, and what its erasure left: the sub replaced, no flag.
        run_sql(
            &db.url,
            "DROP INDEX participations_erased;
             ALTER TABLE participations DROP COLUMN erased;
             CREATE UNIQUE INDEX participations_token ON participations (campaign, token_hash);
             UPDATE participations SET sub = 'erased:0123abcd';
             DELETE FROM schema_migrations WHERE version >= 7",
        )
        .await;

        let h = Harness::start(&cfg, START + 20).await;
        let all: Vec<i64> = (1..=SCHEMA_VERSION).collect();
        assert_eq!(recorded_versions(&db.url).await, all, "{l}: migrated on");
        assert!(!has_index(&db.url, "participations_token").await, "{l}");
        // A miss would record a second participation of the token (and a second win).
        let (s, again) = h.participate("c1", &won).await;
        assert_eq!(s, 200, "{l}: {again}");
        assert_eq!(again["participationId"], first["participationId"], "{l}");
        assert_eq!(again["replayed"], true, "{l}");
        let stats = h.operator_get("c1", "stats").await;
        assert_eq!(stats["participations"], 1, "{l}");
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrations_run_once_and_a_restart_changes_nothing() {
    for db in databases("migrate_once").await {
        let cfg = config(&db.url);
        for _ in 0..2 {
            Harness::start(&cfg, START + 10).await.stop().await;
        }
        let expected: Vec<i64> = (1..=SCHEMA_VERSION).collect();
        assert_eq!(recorded_versions(&db.url).await, expected, "{}", db.label);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_migrated_by_a_newer_server_is_refused() {
    for db in databases("migrate_newer").await {
        let l = db.label;
        let cfg = config(&db.url);
        Harness::start(&cfg, START + 10).await.stop().await;
        let newer = SCHEMA_VERSION + 1;
        run_sql(
            &db.url,
            &format!("INSERT INTO schema_migrations (version, name) VALUES ({newer}, 'future')"),
        )
        .await;

        let config = Config::parse(&cfg, Path::new("."), &test_env).unwrap();
        let err = match Server::start(config, Clock::manual(START + 20)).await {
            Ok(_) => panic!("{l}: a server started on a schema newer than itself"),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains(&format!(
                "version {newer}, newer than this server's {SCHEMA_VERSION}"
            )),
            "{l}: {err}"
        );
    }
}
