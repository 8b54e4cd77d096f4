//! `verify-draw` and `verify-calendar`: an auditor's check of what a campaign published,
//! with [`campaign_token_core::fairness`], the code the server draws with.
//!
//! Exit codes as for the rest of the tool: 0 when everything recomputes (the result as JSON
//! on stdout), 1 when it does not (`{"ok": false, "error": {"code", "field", …}}` on
//! stdout), 2 for bad usage or an unreadable file (the reason on stderr).

use std::fs::File;
use std::io::{self, Read};

use campaign_token_core::fairness::calendar::{verify_calendar, RevealedCalendar};
use campaign_token_core::fairness::draw::{verify_draw, DrawRecord};
use campaign_token_core::fairness::{hex_32, FairnessError};
use clap::Subcommand;
use serde_json::json;

use crate::Failure;

/// Most bytes of a record or calendar read. A record of the largest draw the server makes
/// (a million candidates with 32-character ids) is about 40 MB; anything beyond is refused
/// before it is parsed.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The fairness checks.
#[derive(Debug, Subcommand)]
pub(crate) enum FairnessCommand {
    /// Recompute a draw's winners from its record (docs/fairness.md) and say whether they match.
    VerifyDraw {
        /// The draw record (JSON), or `-` to read it from stdin.
        record: String,
        /// The secret commitment the campaign published at its start (64 hex digits); the
        /// record's must equal it.
        #[arg(long, value_name = "HEX")]
        secret_commitment: Option<String>,
    },
    /// Check a revealed instant-win calendar against its commitment (docs/fairness.md).
    VerifyCalendar {
        /// The revealed calendar (JSON), or `-` to read it from stdin.
        calendar: String,
        /// The commitment the campaign published at its start (64 hex digits); the
        /// calendar's must equal it.
        #[arg(long, value_name = "HEX")]
        commitment: Option<String>,
    },
}

pub(crate) fn run(command: FairnessCommand) -> Result<(), Failure> {
    match command {
        FairnessCommand::VerifyDraw {
            record,
            secret_commitment,
        } => {
            let published = published("--secret-commitment", secret_commitment.as_deref())?;
            let text = read_input(&record)?;
            let record = DrawRecord::from_json(&text).map_err(refused)?;
            let winners = verify_draw(&record).map_err(refused)?;
            if let Some(published) = published {
                if published != record.secret_commitment {
                    return Err(not_published(
                        "secretCommitment",
                        &published,
                        &record.secret_commitment,
                    ));
                }
            }
            crate::print_json(&json!({
                "ok": true,
                "algorithm": record.algorithm,
                "version": record.version,
                "campaignId": record.campaign_id,
                "candidates": record.candidates.len(),
                "publicSource": record.public_source,
                "publicValue": record.public_value,
                "secretCommitment": record.secret_commitment,
                "seed": record.seed,
                "winners": winners,
                "disqualifications": record.disqualifications,
                "unawarded": record.unawarded,
            }))
        }
        FairnessCommand::VerifyCalendar {
            calendar,
            commitment,
        } => {
            let published = published("--commitment", commitment.as_deref())?;
            let text = read_input(&calendar)?;
            let calendar = RevealedCalendar::from_json(&text).map_err(refused)?;
            verify_calendar(&calendar).map_err(refused)?;
            if let Some(published) = published {
                if published != calendar.commitment {
                    return Err(not_published(
                        "commitment",
                        &published,
                        &calendar.commitment,
                    ));
                }
            }
            crate::print_json(&json!({
                "ok": true,
                "algorithm": calendar.algorithm,
                "campaignId": calendar.campaign_id,
                "commitment": calendar.commitment,
                "moments": calendar.moments.len(),
            }))
        }
    }
}

/// A commitment given on the command line: 64 lowercase hex digits, or bad usage.
fn published(flag: &str, value: Option<&str>) -> Result<Option<String>, Failure> {
    match value {
        None => Ok(None),
        Some(text) => {
            let text = text.trim();
            hex_32(flag, text).map_err(|e| Failure::Usage(e.to_string()))?;
            Ok(Some(text.to_owned()))
        }
    }
}

fn refused(error: FairnessError) -> Failure {
    Failure::Refused(json!({ "ok": false, "error": error }))
}

fn not_published(field: &str, published: &str, recorded: &str) -> Failure {
    Failure::Refused(json!({
        "ok": false,
        "error": {
            "code": "mismatch",
            "field": field,
            "message": format!(
                "{field} is not the commitment published at the start: the record says \
                 {recorded}, the published one is {published}"
            ),
            "published": published,
            "recorded": recorded,
        },
    }))
}

/// The file's text (or stdin's for `-`), at most [`MAX_FILE_BYTES`]. Text that is not UTF-8
/// is a record that does not parse (exit 1), not a usage problem.
fn read_input(arg: &str) -> Result<String, Failure> {
    let (name, reader): (&str, Box<dyn Read>) = if arg == "-" {
        ("stdin", Box::new(io::stdin().lock()))
    } else {
        let file =
            File::open(arg).map_err(|e| Failure::Usage(format!("cannot read {arg}: {e}")))?;
        (arg, Box::new(file))
    };
    let mut bytes = Vec::new();
    reader
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::Usage(format!("cannot read {name}: {e}")))?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_FILE_BYTES {
        return Err(Failure::Usage(format!(
            "{name} is larger than {} MiB; refusing to read it",
            MAX_FILE_BYTES / (1024 * 1024)
        )));
    }
    String::from_utf8(bytes).map_err(|_| {
        refused(FairnessError::Malformed {
            reason: "the file is not UTF-8 text".into(),
        })
    })
}
