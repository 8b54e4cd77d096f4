//! The schema as numbered migrations, shared by both databases (types chosen to mean the
//! same in both; every integer is read back as `i64`).
//!
//! Each migration runs once, in version order, inside the transaction of
//! [`super::Store::prepare`] (which the backend makes exclusive between processes), and its
//! version is recorded in `schema_migrations`. The recorded version is read back; a database
//! migrated by a newer server than this one is refused rather than misread.
//!
//! To change the schema, append a migration with the next version and raise
//! [`SCHEMA_VERSION`]; never edit one that has shipped. Migration 1 is the schema the first
//! release created without recording a version: its `IF NOT EXISTS` makes it a no-op on such
//! a database, which is then recorded as version 1.

use super::tx::{args, Tx};
use super::StoreError;

/// The schema version this server writes and understands: the last migration's.
pub const SCHEMA_VERSION: i64 = 7;

/// One step of the schema.
pub(crate) struct Migration {
    /// Its number: 1, 2, … in order.
    pub(crate) version: i64,
    /// What it does, recorded beside the version.
    pub(crate) name: &'static str,
    /// Its statements, the same text for both databases.
    pub(crate) statements: &'static [&'static str],
}

/// Every migration, in version order.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
    version: 1,
    name: "prizes, moments, participations, draws",
    statements: &[
        "CREATE TABLE IF NOT EXISTS prizes (
            campaign TEXT NOT NULL,
            id TEXT NOT NULL,
            ord INTEGER NOT NULL,
            name TEXT NOT NULL,
            quantity BIGINT NOT NULL,
            remaining BIGINT NOT NULL CHECK (remaining >= 0),
            PRIMARY KEY (campaign, id))",
        "CREATE TABLE IF NOT EXISTS moments (
            campaign TEXT NOT NULL,
            seq INTEGER NOT NULL,
            at BIGINT NOT NULL,
            prize_id TEXT NOT NULL,
            participation_id TEXT UNIQUE,
            PRIMARY KEY (campaign, seq))",
        "CREATE TABLE IF NOT EXISTS participations (
            id TEXT PRIMARY KEY,
            campaign TEXT NOT NULL,
            token_hash TEXT NOT NULL,
            sub TEXT NOT NULL,
            n INTEGER NOT NULL,
            eligibility TEXT NOT NULL,
            token_label TEXT,
            outcome TEXT NOT NULL,
            prize_id TEXT,
            prize_label TEXT,
            won_at BIGINT,
            drawn INTEGER NOT NULL DEFAULT 0,
            answers TEXT,
            created_at BIGINT NOT NULL,
            UNIQUE (campaign, token_hash),
            UNIQUE (campaign, sub, n))",
        "CREATE INDEX IF NOT EXISTS participations_outcome ON participations (campaign, outcome)",
        "CREATE TABLE IF NOT EXISTS draws (
            campaign TEXT PRIMARY KEY,
            drawn_by TEXT NOT NULL,
            drawn_at BIGINT NOT NULL,
            winners BIGINT NOT NULL)",
    ],
    },
    Migration {
        version: 2,
        name: "fairness commitments, draw records, audit log",
        statements: &[
            // The calendar's salt and the draw's secret stay here, unpublished, until the
            // end (salt) or the draw (secret); their commitments are public from the start.
            "CREATE TABLE fairness (
                campaign TEXT PRIMARY KEY,
                calendar_salt TEXT,
                calendar_commitment TEXT,
                draw_secret TEXT,
                draw_secret_commitment TEXT)",
            // The verifiable draw record (docs/fairness.md), JSON, rewritten by redraws.
            "ALTER TABLE draws ADD COLUMN record TEXT",
            // Append-only: no statement updates or deletes a row.
            "CREATE TABLE audit_log (
                campaign TEXT NOT NULL,
                seq BIGINT NOT NULL,
                at BIGINT NOT NULL,
                operator TEXT NOT NULL,
                action TEXT NOT NULL,
                details TEXT NOT NULL,
                PRIMARY KEY (campaign, seq))",
        ],
    },
    Migration {
        version: 3,
        name: "what the brand vouched for: the token's form and optin, beside the answers",
        statements: &[
            "ALTER TABLE participations ADD COLUMN brand_form TEXT",
            "ALTER TABLE participations ADD COLUMN brand_optin TEXT",
        ],
    },
    Migration {
        version: 4,
        name: "operator API: stock additions, erasure key, time series index",
        statements: &[
            // Units added by operators while the campaign runs (audited); the start-up
            // check accepts quantity = configured + added.
            "ALTER TABLE prizes ADD COLUMN added BIGINT NOT NULL DEFAULT 0",
            // The erasure key when none is configured: 32 random bytes, hex, created once.
            "CREATE TABLE server_secrets (
                name TEXT PRIMARY KEY,
                value TEXT NOT NULL)",
            "CREATE INDEX participations_created ON participations (campaign, created_at)",
            "CREATE INDEX participations_winners ON participations (campaign, outcome, won_at, created_at, id)",
        ],
    },
    Migration {
        version: 5,
        name: "replay keys: rows keyed on the token text are marked text:",
        statements: &[
            // Until now `token_hash` was SHA-256 of the token text; from here it is the
            // verified token's replay identity (SHA-256 of its signing input). The old key
            // cannot be converted (the text is not kept), so it is kept under a `text:` prefix
            // and a post is looked up under both keys: a replay of a token recorded before
            // the upgrade, spelled as it was then, still answers its participation.
            "UPDATE participations SET token_hash = 'text:' || token_hash",
        ],
    },
    Migration {
        version: 6,
        name: "indexes a participation appends to: winners only in the winners index, outcome after created_at",
        statements: &[
            // A new row went into the middle of two indexes (at the end of its outcome's
            // group), where B-tree pages split in halves: on a campaign holding 1,040,000
            // participations they were 21 of the 52 KiB written per participation (31 after;
            // bench/load.mjs --fill, /proc/PID/io). Now the time index carries the outcome
            // (new rows append at its end; it answers the counts per outcome and the time
            // series from the index alone), and only winners are in the winners index.
            // (campaign, outcome) was a prefix of the old winners index and SQLite never chose it.
            "DROP INDEX IF EXISTS participations_outcome",
            "DROP INDEX IF EXISTS participations_winners",
            "DROP INDEX IF EXISTS participations_created",
            "CREATE INDEX IF NOT EXISTS participations_created ON participations (campaign, created_at, outcome)",
            "CREATE INDEX IF NOT EXISTS participations_won ON participations (campaign, won_at, created_at, id)
                WHERE outcome = 'won'",
        ],
    },
    Migration {
        version: 7,
        name: "replays found through the sub's index: no (campaign, token_hash) index; erased rows flagged",
        statements: &[
            // A new row went into three indexes at a random place (id, (campaign, token_hash),
            // (campaign, sub, n)): with 1,000,000 participations each insert read and wrote
            // leaf pages spread over the file, and the token index was the largest (120 of
            // 690 MB). The replay lookup now goes through (campaign, sub, n): a token's rows
            // carry its sub (the sub is part of what its replay identity hashes), and
            // (campaign, sub, n) unique makes a token's second row impossible (see
            // `statements::tokens_and_counts`). An erased row's sub is replaced, so erased
            // rows are flagged and found through a small partial index instead.
            //
            // SQLite cannot drop a table constraint, so the table is rebuilt (the same
            // statements on PostgreSQL): a copy of every row, then the indexes.
            "CREATE TABLE participations_v7 (
                id TEXT PRIMARY KEY,
                campaign TEXT NOT NULL,
                token_hash TEXT NOT NULL,
                sub TEXT NOT NULL,
                n INTEGER NOT NULL,
                eligibility TEXT NOT NULL,
                token_label TEXT,
                outcome TEXT NOT NULL,
                prize_id TEXT,
                prize_label TEXT,
                won_at BIGINT,
                drawn INTEGER NOT NULL DEFAULT 0,
                answers TEXT,
                created_at BIGINT NOT NULL,
                brand_form TEXT,
                brand_optin TEXT,
                erased INTEGER NOT NULL DEFAULT 0,
                UNIQUE (campaign, sub, n))",
            // Erasure wrote `erased:` + hex; a sub that merely starts so is flagged too, which
            // costs an index entry and changes no answer (the lookup compares token hashes).
            "INSERT INTO participations_v7 (id, campaign, token_hash, sub, n, eligibility,
                token_label, outcome, prize_id, prize_label, won_at, drawn, answers, created_at,
                brand_form, brand_optin, erased)
             SELECT id, campaign, token_hash, sub, n, eligibility, token_label, outcome,
                prize_id, prize_label, won_at, drawn, answers, created_at, brand_form,
                brand_optin, CASE WHEN sub LIKE 'erased:%' THEN 1 ELSE 0 END
             FROM participations",
            "DROP TABLE participations",
            "ALTER TABLE participations_v7 RENAME TO participations",
            "CREATE INDEX participations_created ON participations (campaign, created_at, outcome)",
            "CREATE INDEX participations_won ON participations (campaign, won_at, created_at, id)
                WHERE outcome = 'won'",
            "CREATE INDEX participations_erased ON participations (campaign, token_hash)
                WHERE erased = 1",
        ],
    },
];

/// Where the applied versions are recorded (not itself a migration: it must exist before
/// the version can be read).
const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL)";

/// The highest version recorded (0 for a database without one).
async fn recorded_version<T: Tx>(tx: &mut T) -> Result<i64, StoreError> {
    let rows = tx
        .query(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            args![],
        )
        .await?;
    rows.first()
        .ok_or_else(|| StoreError::new("schema_migrations: MAX answered no row"))?
        .int(0)
}

/// Applies the migrations this database lacks, in order; answers the version it is at.
pub(crate) async fn migrate<T: Tx>(tx: &mut T) -> Result<i64, StoreError> {
    tx.batch(VERSION_TABLE).await?;
    let found = recorded_version(tx).await?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::new(format!(
            "the database schema is at version {found}, newer than this server's \
             {SCHEMA_VERSION}: it was migrated by a newer server; run that version or newer"
        )));
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > found) {
        for statement in m.statements {
            tx.batch(statement).await?;
        }
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            args![m.version, m.name],
        )
        .await?;
        tracing::info!(
            version = m.version,
            name = m.name,
            "schema migration applied"
        );
    }
    let now = recorded_version(tx).await?;
    if now != SCHEMA_VERSION {
        return Err(StoreError::new(format!(
            "the database schema reads as version {now} after migrating to {SCHEMA_VERSION}"
        )));
    }
    Ok(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_and_end_at_the_schema_version() {
        let versions: Vec<i64> = MIGRATIONS.iter().map(|m| m.version).collect();
        let expected: Vec<i64> = (1..=SCHEMA_VERSION).collect();
        assert_eq!(versions, expected);
    }
}
