//! The schema, shared by both databases (types chosen to mean the same in both; every
//! integer is read back as `i64`), applied inside the transaction of
//! [`super::Store::prepare`].

use super::tx::Tx;
use super::StoreError;

/// Schema version written by the migrations (for the logs).
pub const SCHEMA_VERSION: i64 = 1;

/// The statements of the schema, idempotent.
const SCHEMA: &[&str] = &[
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
];

/// Creates what is missing of the schema; answers the version it is at.
pub(crate) async fn migrate<T: Tx>(tx: &mut T) -> Result<i64, StoreError> {
    for statement in SCHEMA {
        tx.batch(statement).await?;
    }
    Ok(SCHEMA_VERSION)
}
