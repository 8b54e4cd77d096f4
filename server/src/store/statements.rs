//! Every SQL statement of the allocation rules, each written once: its text (PostgreSQL's
//! spelling, see [`super::tx::sqlite_text`]), its arguments and the Rust shape of its rows.
//! One function, one statement; the rules that combine them are in [`super::rules`].

use super::rules::Candidate;
use super::tx::{args, Row, Tx, Value};
use super::{
    parse_eligibility, AuditEntry, DrawRecord, NewParticipation, Outcome, Participation,
    PrizeStock, PrizeWon, StoreError, Winner, WinnerKey,
};

/// Runs a query; maps each row.
async fn all<T: Tx, R>(
    tx: &mut T,
    sql: &'static str,
    args: &[Value<'_>],
    map: impl Fn(&Row) -> Result<R, StoreError>,
) -> Result<Vec<R>, StoreError> {
    tx.query(sql, args).await?.iter().map(map).collect()
}

/// Runs a query; maps its first row, if any.
async fn one<T: Tx, R>(
    tx: &mut T,
    sql: &'static str,
    args: &[Value<'_>],
    map: impl Fn(&Row) -> Result<R, StoreError>,
) -> Result<Option<R>, StoreError> {
    tx.query(sql, args).await?.first().map(map).transpose()
}

/// Runs a `SELECT COUNT(*)`.
async fn count<T: Tx>(
    tx: &mut T,
    sql: &'static str,
    args: &[Value<'_>],
) -> Result<i64, StoreError> {
    one(tx, sql, args, |r| r.int(0))
        .await?
        .ok_or_else(|| StoreError::new("a count answered no row"))
}

/// A (text, integer) row.
fn text_int(r: &Row) -> Result<(String, i64), StoreError> {
    Ok((r.text(0)?, r.int(1)?))
}

/// One step of a batch: `each` once per argument list, on both databases
/// ([`Tx::query_many`]); or, on a backend with array parameters and for two lists or more,
/// `arrays` once for all of them ([`Tx::query_arrays`]), PostgreSQL's batch form of the same
/// statement, whose rows end with the 1-based position of their list (`WITH ORDINALITY`,
/// ordered by it). Answers the rows of each list, in order, either way.
async fn many<T: Tx>(
    tx: &mut T,
    each: &'static str,
    arrays: &'static str,
    args: &[Vec<Value<'_>>],
) -> Result<Vec<Vec<Row>>, StoreError> {
    if args.len() < 2 || !tx.has_arrays() {
        return tx.query_many(each, args).await;
    }
    let mut out: Vec<Vec<Row>> = args.iter().map(|_| Vec::new()).collect();
    for mut r in tx.query_arrays(arrays, args).await? {
        let list = match r.0.pop() {
            Some(super::tx::Cell::Int(i)) => usize::try_from(i).ok().and_then(|i| i.checked_sub(1)),
            _ => None,
        };
        list.and_then(|i| out.get_mut(i))
            .ok_or_else(|| StoreError::new("a batch statement answered a row of no list"))?
            .push(r);
    }
    Ok(out)
}

/// Whether the database answers (the backends run it on a bare connection).
pub(crate) const PING: &str = "SELECT 1";

// ---------------------------------------------------------------------------------------
// Campaign records (prepare).

/// The stored prizes of a campaign: (id, quantity from the configuration, i.e. without the
/// units operators added through the API).
pub(crate) async fn prize_quantities<T: Tx>(
    tx: &mut T,
    campaign: &str,
) -> Result<Vec<(String, i64)>, StoreError> {
    all(
        tx,
        "SELECT id, quantity - added FROM prizes WHERE campaign = $1",
        args![campaign],
        text_int,
    )
    .await
}

/// Records a prize with its full stock, unless it is recorded already.
pub(crate) async fn insert_prize<T: Tx>(
    tx: &mut T,
    campaign: &str,
    id: &str,
    ord: i64,
    name: &str,
    quantity: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO prizes (campaign, id, ord, name, quantity, remaining)
         VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT DO NOTHING",
        args![campaign, id, ord, name, quantity],
    )
    .await
    .map(drop)
}

/// Updates what may change in a started campaign's prize: its name and its place.
pub(crate) async fn rename_prize<T: Tx>(
    tx: &mut T,
    campaign: &str,
    id: &str,
    name: &str,
    ord: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE prizes SET name = $3, ord = $4 WHERE campaign = $1 AND id = $2",
        args![campaign, id, name, ord],
    )
    .await
    .map(drop)
}

/// The stored winning moments of a campaign, in order: (at, prize id).
pub(crate) async fn stored_moments<T: Tx>(
    tx: &mut T,
    campaign: &str,
) -> Result<Vec<(i64, String)>, StoreError> {
    all(
        tx,
        "SELECT at, prize_id FROM moments WHERE campaign = $1 ORDER BY seq",
        args![campaign],
        |r| Ok((r.int(0)?, r.text(1)?)),
    )
    .await
}

/// Records one winning moment.
pub(crate) async fn insert_moment<T: Tx>(
    tx: &mut T,
    campaign: &str,
    seq: i64,
    at: i64,
    prize_id: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO moments (campaign, seq, at, prize_id) VALUES ($1, $2, $3, $4)",
        args![campaign, seq, at, prize_id],
    )
    .await
    .map(drop)
}

// ---------------------------------------------------------------------------------------
// Participation.

/// The participation already recorded for this token, answered as a replay (a campaign that
/// has ended answers these, and records nothing).
pub(crate) async fn find_by_token<T: Tx>(
    tx: &mut T,
    campaign: &str,
    token_hash: &str,
    legacy_hash: &str,
    sub: &str,
) -> Result<Option<Participation>, StoreError> {
    let rows = tx
        .query(
            TOKEN_AND_COUNT,
            args![campaign, token_hash, legacy_hash, sub],
        )
        .await?;
    match rows.first() {
        Some(r) if r.opt_text(0)?.is_some() => Ok(Some(replayed(r)?)),
        _ => Ok(None),
    }
}

/// The participation recorded for a token ($2: its replay identity, $3: the key of its text
/// before schema 5) in campaign $1, if any, and how many participations its sub ($4) has: ONE
/// statement (one round trip, one snapshot), exactly one row whether or not the token is
/// recorded (the `LEFT JOIN` on a one-row table).
///
/// There is no index on the token hash. A token's rows carry its sub (the replay identity
/// hashes the signing input, which holds the sub; the text key, the text), so they are looked
/// up among the sub's rows through (campaign, sub, n); an erased row's sub was replaced, so
/// erased rows are looked up through the partial index of erased rows (schema 7).
///
/// Why a token can never be recorded twice without a unique index of its own: the row is
/// inserted as its sub's `n` = (the count this statement saw) + 1, and (campaign, sub, n) is
/// unique. Committed `n` of a sub are 1..k without gaps (each insert is the visible count + 1
/// and loses to any committed row of the same `n`), so a row commits only if its snapshot held
/// every committed row of its sub, and a second row of the token would have seen the first
/// here and been answered as its replay. An erasure renames the sub's rows while they are
/// outside any participation's snapshot-to-commit window: SQLite runs both on its one writer;
/// PostgreSQL's erasure locks the table against the participations' `ROW EXCLUSIVE` lock,
/// taken before this statement (postgres.rs).
const TOKEN_AND_COUNT: &str = "SELECT p.id, p.outcome, p.eligibility, p.prize_id, p.prize_label,
        (SELECT COUNT(*) FROM participations WHERE campaign = $1 AND sub = $4)
     FROM (SELECT 1 AS one) AS one
     LEFT JOIN participations p ON p.id = COALESCE(
        (SELECT id FROM participations
         WHERE campaign = $1 AND sub = $4 AND token_hash IN ($2, $3) LIMIT 1),
        (SELECT id FROM participations
         WHERE campaign = $1 AND erased = 1 AND token_hash IN ($2, $3) LIMIT 1))";

/// PostgreSQL's [`TOKEN_AND_COUNT`] for a whole batch, in one statement (one snapshot for
/// all, one row per list, the list's position last): $1 … $4 are the arrays of every
/// participation's campaign, token hash, text key and sub. The lookup is a `LATERAL`
/// subquery with a `LIMIT`, which the planner cannot flatten into a join: as a join of the
/// lists with the table, the generic plan was a hash join over every participation of the
/// campaign (21 ms a batch on 10,000 rows); as a subquery, index lookups per list.
const TOKENS_AND_COUNTS_ARRAYS: &str = "SELECT p.id, p.outcome, p.eligibility, p.prize_id,
        p.prize_label,
        (SELECT COUNT(*) FROM participations c WHERE c.campaign = a.campaign AND c.sub = a.sub),
        a.i
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
         WITH ORDINALITY AS a(campaign, token_hash, legacy_hash, sub, i)
     LEFT JOIN LATERAL (
         SELECT id, outcome, eligibility, prize_id, prize_label FROM participations
         WHERE id = COALESCE(
            (SELECT id FROM participations
             WHERE campaign = a.campaign AND sub = a.sub
               AND token_hash IN (a.token_hash, a.legacy_hash) LIMIT 1),
            (SELECT id FROM participations
             WHERE campaign = a.campaign AND erased = 1
               AND token_hash IN (a.token_hash, a.legacy_hash) LIMIT 1))
         LIMIT 1) p ON true
     ORDER BY a.i";

/// A recorded participation (columns id, outcome, eligibility, prize id, prize label),
/// answered as a replay.
fn replayed(r: &Row) -> Result<Participation, StoreError> {
    Ok(Participation {
        participation_id: r.text(0)?,
        outcome: Outcome::parse(&r.text(1)?)?,
        prize: match (r.opt_text(3)?, r.opt_text(4)?) {
            (Some(id), Some(label)) => Some(PrizeWon { id, label }),
            _ => None,
        },
        eligibility: parse_eligibility(&r.text(2)?)?,
        replayed: true,
    })
}

/// What a participation's rules read before writing ([`TOKEN_AND_COUNT`]): the participation
/// already recorded for its token, if any, and how many participations its `sub` has. Once
/// per participation of `batch`, in order; on PostgreSQL one statement for the whole batch
/// ([`TOKENS_AND_COUNTS_ARRAYS`], see [`many`]).
pub(crate) async fn tokens_and_counts<T: Tx>(
    tx: &mut T,
    batch: &[(&str, &NewParticipation)],
) -> Result<Vec<(Option<Participation>, i64)>, StoreError> {
    let args: Vec<Vec<Value<'_>>> = batch
        .iter()
        .map(|(campaign, p)| args![*campaign, &p.token_hash, &p.legacy_hash, &p.sub].to_vec())
        .collect();
    let answers = many(tx, TOKEN_AND_COUNT, TOKENS_AND_COUNTS_ARRAYS, &args).await?;
    answers
        .iter()
        .map(|rows| {
            let r = rows
                .first()
                .ok_or_else(|| StoreError::new("the replay lookup answered no row"))?;
            let existing = match r.opt_text(0)? {
                None => None,
                Some(_) => Some(replayed(r)?),
            };
            Ok((existing, r.int(5)?))
        })
        .collect()
}

/// Claims the earliest unclaimed winning moment at or before `now` for a participation;
/// answers its prize. On PostgreSQL, `SKIP LOCKED` lets concurrent claimants pass a moment
/// another transaction is claiming instead of queueing behind it, and `participation_id IS
/// NULL` in the outer `WHERE` is re-checked on the committed row, so a moment is never
/// claimed twice. Once per (campaign, now, participation id) of `claims`, in order; on
/// PostgreSQL, two claims or more in one statement ([`CLAIM_MOMENTS_ARRAYS`]), with the same
/// answers.
pub(crate) async fn claim_moments<T: Tx>(
    tx: &mut T,
    claims: &[(&str, i64, &str)],
) -> Result<Vec<Option<String>>, StoreError> {
    let args: Vec<Vec<Value<'_>>> = claims
        .iter()
        .map(|(campaign, now, participation)| args![*campaign, *now, *participation].to_vec())
        .collect();
    if claims.len() > 1 && tx.has_arrays() {
        let mut won: Vec<Option<String>> = claims.iter().map(|_| None).collect();
        for r in tx.query_arrays(CLAIM_MOMENTS_ARRAYS, &args).await? {
            let slot = usize::try_from(r.int(0)?)
                .ok()
                .and_then(|i| i.checked_sub(1))
                .and_then(|i| won.get_mut(i))
                .ok_or_else(|| StoreError::new("a moment was claimed for no participation"))?;
            *slot = Some(r.text(1)?);
        }
        return Ok(won);
    }
    let answers = tx.query_many(CLAIM_MOMENT, &args).await?;
    answers
        .iter()
        .map(|rows| rows.first().map(|r| r.text(0)).transpose())
        .collect()
}

/// Claims the earliest unclaimed moment of campaign $1 due at $2 for participation $3.
const CLAIM_MOMENT: &str = "UPDATE moments SET participation_id = $3
     WHERE campaign = $1 AND participation_id IS NULL AND seq = (
         SELECT seq FROM moments
         WHERE campaign = $1 AND participation_id IS NULL AND at <= $2
         ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)
     RETURNING prize_id";

/// PostgreSQL's [`CLAIM_MOMENT`] for a whole batch, in one statement: $1 … $3 are the arrays
/// of every claim's campaign, `now` and participation id; one row (the claim's position,
/// the prize) per claim that got a moment. The same answers as the claims one after the
/// other:
/// - `cand` locks, per campaign, the first k unclaimed moments (by `seq`, skipping those
///   another transaction holds) due at the campaign's latest `now` in the batch, k being
///   its claims in the batch. Moments are numbered in time order (the configuration sorts
///   the calendar, and its commitment, made when it is stored, refuses any other order), so the moments due at any claim's `now` are a prefix of them, and the
///   moment a claim gets one at a time — the first of that prefix not taken by the claims
///   before it, at most k − 1 — is among those k.
/// - `assign` walks the claims in batch order (a recursive CTE: each sees what the ones
///   before it took) and gives each the first candidate due at its own `now` not taken yet.
/// - the `UPDATE` records the claims on the locked rows (`participation_id IS NULL` again,
///   as [`CLAIM_MOMENT`] re-checks it: under this transaction's lock it cannot have changed,
///   but a moment is never claimed twice even if that reasoning were wrong).
///
/// A candidate no claim takes (due only at a later claim's `now` than the one it would
/// have suited) stays locked until the batch commits; another process skips it meanwhile,
/// as it skips a moment any transaction is claiming.
const CLAIM_MOMENTS_ARRAYS: &str = "WITH RECURSIVE
     claims AS (
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])
             WITH ORDINALITY AS a(campaign, now, participation, i)),
     wanted AS (
         SELECT campaign, MAX(now) AS now, COUNT(*) AS k FROM claims GROUP BY campaign),
     cand AS MATERIALIZED (
         SELECT row_number() OVER () AS r, m.campaign, m.seq, m.at
         FROM wanted w CROSS JOIN LATERAL (
             SELECT campaign, seq, at FROM moments
             WHERE campaign = w.campaign AND participation_id IS NULL AND at <= w.now
             ORDER BY seq LIMIT w.k FOR UPDATE SKIP LOCKED) m),
     assign (i, taken, r) AS (
         SELECT 0::bigint, '{}'::bigint[], NULL::bigint
         UNION ALL
         SELECT c.i, CASE WHEN p.r IS NULL THEN a.taken ELSE a.taken || p.r END, p.r
         FROM assign a JOIN claims c ON c.i = a.i + 1
         LEFT JOIN LATERAL (
             SELECT d.r FROM cand d
             WHERE d.campaign = c.campaign AND d.at <= c.now AND d.r <> ALL (a.taken)
             ORDER BY d.seq LIMIT 1) p ON true)
     UPDATE moments m SET participation_id = c.participation
     FROM assign a JOIN claims c ON c.i = a.i JOIN cand d ON d.r = a.r
     WHERE m.campaign = d.campaign AND m.seq = d.seq AND m.participation_id IS NULL
     RETURNING c.i, m.prize_id";

/// Takes one unit of a prize if it has stock left: a conditional update, so the stock never
/// goes below zero however many take at once (on PostgreSQL a concurrent taker waits for
/// the row and re-checks `remaining` on the committed value).
const TAKE_UNIT: &str = "UPDATE prizes SET remaining = remaining - 1
     WHERE campaign = $1 AND id = $2 AND remaining > 0";

/// Takes one unit of a prize if it has stock left ([`TAKE_UNIT`]).
pub(crate) async fn take_unit<T: Tx>(
    tx: &mut T,
    campaign: &str,
    prize: &str,
) -> Result<bool, StoreError> {
    Ok(tx.execute(TAKE_UNIT, args![campaign, prize]).await? == 1)
}

/// PostgreSQL's [`TAKE_UNIT`] for a whole batch: the units each (campaign, prize) is asked
/// for, at most what it has left, taken in ONE update of each prize row, answering how many
/// each row gave. `granted` locks the rows first (`FOR UPDATE`, in key order, so two batches
/// never wait for each other's rows crosswise) and, under READ COMMITTED, computes `n` on
/// the latest committed stock (a row changed since the snapshot is re-read once locked), so
/// the update never takes more than is left (the `CHECK (remaining >= 0)` says so too).
const TAKE_UNITS_ARRAYS: &str = "WITH wanted AS (
         SELECT campaign, prize, COUNT(*) AS k
         FROM unnest($1::text[], $2::text[]) AS w(campaign, prize) GROUP BY campaign, prize),
     granted AS MATERIALIZED (
         SELECT q.campaign, q.id, LEAST(w.k, q.remaining) AS n
         FROM prizes q JOIN wanted w ON q.campaign = w.campaign AND q.id = w.prize
         WHERE q.remaining > 0 ORDER BY q.campaign, q.id FOR UPDATE OF q)
     UPDATE prizes p SET remaining = p.remaining - g.n FROM granted g
     WHERE p.campaign = g.campaign AND p.id = g.id
     RETURNING p.campaign, p.id, g.n";

/// [`take_unit`] once per (campaign, prize) of `takes`, in order: the first of the takes
/// of a prize get its units while they last. On PostgreSQL, for two takes or more, one
/// statement for all ([`TAKE_UNITS_ARRAYS`]), with the same answers.
pub(crate) async fn take_units<T: Tx>(
    tx: &mut T,
    takes: &[(&str, &str)],
) -> Result<Vec<bool>, StoreError> {
    let args: Vec<Vec<Value<'_>>> = takes
        .iter()
        .map(|(campaign, prize)| args![*campaign, *prize].to_vec())
        .collect();
    if takes.len() > 1 && tx.has_arrays() {
        let mut left = std::collections::HashMap::new();
        for r in tx.query_arrays(TAKE_UNITS_ARRAYS, &args).await? {
            left.insert((r.text(0)?, r.text(1)?), r.int(2)?);
        }
        return Ok(takes
            .iter()
            .map(|(campaign, prize)| {
                match left.get_mut(&((*campaign).to_owned(), (*prize).to_owned())) {
                    Some(n) if *n > 0 => {
                        *n -= 1;
                        true
                    }
                    _ => false,
                }
            })
            .collect());
    }
    Ok(tx
        .execute_many(TAKE_UNIT, &args)
        .await?
        .into_iter()
        .map(|n| n == 1)
        .collect())
}

/// A participation to record: its campaign, itself, its rank `n` for its `sub`, its outcome
/// and its prize.
pub(crate) type Record<'a> = (
    &'a str,
    &'a NewParticipation,
    i64,
    Outcome,
    Option<&'a PrizeWon>,
);

/// Records each participation of `records` as the `n`-th of its `sub`, in order (on
/// PostgreSQL, two or more in one statement).
pub(crate) async fn insert_participations<T: Tx>(
    tx: &mut T,
    records: &[Record<'_>],
) -> Result<(), StoreError> {
    let args: Vec<Vec<Value<'_>>> = records
        .iter()
        .map(|(campaign, p, n, outcome, prize)| {
            args![
                &p.id,
                *campaign,
                &p.token_hash,
                &p.sub,
                *n,
                p.eligibility.as_str(),
                p.token_label.as_deref(),
                outcome.as_str(),
                prize.map(|x| x.id.as_str()),
                prize.map(|x| x.label.as_str()),
                prize.map(|_| p.now),
                p.answers.as_deref(),
                p.now,
                p.brand_form.as_deref(),
                p.brand_optin.as_deref(),
            ]
            .to_vec()
        })
        .collect();
    if args.len() > 1 && tx.has_arrays() {
        // PostgreSQL: every row of the batch in one statement.
        return tx
            .query_arrays(
                "INSERT INTO participations (id, campaign, token_hash, sub, n, eligibility,
                    token_label, outcome, prize_id, prize_label, won_at, answers, created_at,
                    brand_form, brand_optin)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                    $5::integer[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                    $11::bigint[], $12::text[], $13::bigint[], $14::text[], $15::text[])",
                &args,
            )
            .await
            .map(drop);
    }
    tx.execute_many(
        "INSERT INTO participations (id, campaign, token_hash, sub, n, eligibility, token_label,
            outcome, prize_id, prize_label, won_at, answers, created_at, brand_form, brand_optin)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        &args,
    )
    .await
    .map(drop)
}

// ---------------------------------------------------------------------------------------
// Counters and winners.

/// Participations and distinct participants of a campaign.
pub(crate) async fn count_participations<T: Tx>(
    tx: &mut T,
    campaign: &str,
) -> Result<(i64, i64), StoreError> {
    one(
        tx,
        "SELECT COUNT(*), COUNT(DISTINCT sub) FROM participations WHERE campaign = $1",
        args![campaign],
        |r| Ok((r.int(0)?, r.int(1)?)),
    )
    .await?
    .ok_or_else(|| StoreError::new("a count answered no row"))
}

/// Participations per outcome.
pub(crate) async fn outcome_counts<T: Tx>(
    tx: &mut T,
    campaign: &str,
) -> Result<Vec<(String, i64)>, StoreError> {
    all(
        tx,
        "SELECT outcome, COUNT(*) FROM participations WHERE campaign = $1 GROUP BY outcome",
        args![campaign],
        text_int,
    )
    .await
}

/// The stock of each prize, in configured order.
pub(crate) async fn prize_stock<T: Tx>(
    tx: &mut T,
    campaign: &str,
) -> Result<Vec<PrizeStock>, StoreError> {
    all(
        tx,
        "SELECT id, name, quantity, remaining FROM prizes WHERE campaign = $1 ORDER BY ord",
        args![campaign],
        |r| {
            Ok(PrizeStock {
                id: r.text(0)?,
                name: r.text(1)?,
                quantity: r.int(2)?,
                remaining: r.int(3)?,
            })
        },
    )
    .await
}

/// Winning moments not yet claimed.
pub(crate) async fn unclaimed_moments<T: Tx>(
    tx: &mut T,
    campaign: &str,
) -> Result<i64, StoreError> {
    count(
        tx,
        "SELECT COUNT(*) FROM moments WHERE campaign = $1 AND participation_id IS NULL",
        args![campaign],
    )
    .await
}

/// The draw of a campaign, if made.
pub(crate) async fn draw_record<T: Tx>(
    tx: &mut T,
    campaign: &str,
) -> Result<Option<DrawRecord>, StoreError> {
    one(
        tx,
        "SELECT drawn_by, drawn_at, winners FROM draws WHERE campaign = $1",
        args![campaign],
        |r| {
            Ok(DrawRecord {
                drawn_by: r.text(0)?,
                drawn_at: r.int(1)?,
                winners: r.int(2)?,
            })
        },
    )
    .await
}

// ---------------------------------------------------------------------------------------
// The draw.

/// Records that the campaign is being drawn; false when it was drawn already.
pub(crate) async fn insert_draw<T: Tx>(
    tx: &mut T,
    campaign: &str,
    drawn_by: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = tx
        .execute(
            "INSERT INTO draws (campaign, drawn_by, drawn_at, winners) VALUES ($1, $2, $3, 0)
             ON CONFLICT DO NOTHING",
            args![campaign, drawn_by, now],
        )
        .await?;
    Ok(n == 1)
}

/// The remaining stock, in configured order: (prize id, units). Locks the stock rows on
/// PostgreSQL, so a late participation on another process waits for the draw.
pub(crate) async fn stock_for_draw<T: Tx>(
    tx: &mut T,
    campaign: &str,
) -> Result<Vec<(String, i64)>, StoreError> {
    all(
        tx,
        "SELECT id, remaining FROM prizes WHERE campaign = $1 ORDER BY ord FOR UPDATE",
        args![campaign],
        text_int,
    )
    .await
}

/// Participations that may be drawn: eligible, not won, of a `sub` that has not won; in
/// participation order.
pub(crate) async fn draw_candidates<T: Tx>(
    tx: &mut T,
    campaign: &str,
) -> Result<Vec<Candidate>, StoreError> {
    all(
        tx,
        "SELECT p.id, p.sub, p.token_label FROM participations p
         WHERE p.campaign = $1 AND p.eligibility <> 'cannot-win' AND p.outcome <> 'won'
           AND NOT EXISTS (SELECT 1 FROM participations w
                           WHERE w.campaign = p.campaign AND w.sub = p.sub
                             AND w.outcome = 'won')
         ORDER BY p.created_at, p.id",
        args![campaign],
        |r| {
            Ok(Candidate {
                id: r.text(0)?,
                sub: r.text(1)?,
                token_label: r.opt_text(2)?,
            })
        },
    )
    .await
}

/// Marks a participation as a drawn winner.
pub(crate) async fn set_drawn_winner<T: Tx>(
    tx: &mut T,
    participation: &str,
    prize: &PrizeWon,
    now: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE participations SET outcome = 'won', prize_id = $2, prize_label = $3,
            won_at = $4, drawn = 1 WHERE id = $1",
        args![participation, &prize.id, &prize.label, now],
    )
    .await
    .map(drop)
}

// ---------------------------------------------------------------------------------------
// Fairness: commitments, the draw record, the audit log.

/// The fairness secrets and commitments of a campaign: (calendar salt, calendar
/// commitment, draw secret, draw secret commitment), each hex or NULL.
pub(crate) type FairnessRow = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The stored fairness row of a campaign, if any.
pub(crate) async fn fairness_row<T: Tx>(
    tx: &mut T,
    campaign: &str,
) -> Result<Option<FairnessRow>, StoreError> {
    one(
        tx,
        "SELECT calendar_salt, calendar_commitment, draw_secret, draw_secret_commitment
         FROM fairness WHERE campaign = $1",
        args![campaign],
        |r| {
            Ok((
                r.opt_text(0)?,
                r.opt_text(1)?,
                r.opt_text(2)?,
                r.opt_text(3)?,
            ))
        },
    )
    .await
}

/// Records a campaign's fairness secrets and commitments, once.
pub(crate) async fn insert_fairness<T: Tx>(
    tx: &mut T,
    campaign: &str,
    row: &FairnessRow,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO fairness (campaign, calendar_salt, calendar_commitment, draw_secret,
            draw_secret_commitment) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        args![
            campaign,
            row.0.as_deref(),
            row.1.as_deref(),
            row.2.as_deref(),
            row.3.as_deref()
        ],
    )
    .await
    .map(drop)
}

/// The stored draw record (JSON) of a campaign: `None` when not drawn, `Some(None)` for a
/// draw made before records existed. Locks the draw row on PostgreSQL, so operator actions
/// on one campaign's draw run one after the other.
pub(crate) async fn draw_record_json<T: Tx>(
    tx: &mut T,
    campaign: &str,
) -> Result<Option<Option<String>>, StoreError> {
    one(
        tx,
        "SELECT record FROM draws WHERE campaign = $1 FOR UPDATE",
        args![campaign],
        |r| r.opt_text(0),
    )
    .await
}

/// Stores the draw record (JSON) and the number of current winners.
pub(crate) async fn set_draw_record<T: Tx>(
    tx: &mut T,
    campaign: &str,
    record: &str,
    winners: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE draws SET record = $2, winners = $3 WHERE campaign = $1",
        args![campaign, record, winners],
    )
    .await
    .map(drop)
}

/// Marks a drawn winner as disqualified: the prize leaves it.
pub(crate) async fn set_disqualified<T: Tx>(
    tx: &mut T,
    campaign: &str,
    participation: &str,
) -> Result<bool, StoreError> {
    let n = tx
        .execute(
            "UPDATE participations SET outcome = 'disqualified', prize_id = NULL,
                prize_label = NULL, won_at = NULL, drawn = 0
             WHERE campaign = $1 AND id = $2 AND outcome = 'won'",
            args![campaign, participation],
        )
        .await?;
    Ok(n == 1)
}

/// Gives one unit of a prize back to the stock (a disqualified winner's, with nobody left to
/// take it).
pub(crate) async fn return_unit<T: Tx>(
    tx: &mut T,
    campaign: &str,
    prize: &str,
) -> Result<bool, StoreError> {
    let n = tx
        .execute(
            "UPDATE prizes SET remaining = remaining + 1
             WHERE campaign = $1 AND id = $2 AND remaining < quantity",
            args![campaign, prize],
        )
        .await?;
    Ok(n == 1)
}

/// Appends an entry to the audit log, numbered after the campaign's last one.
pub(crate) async fn append_audit<T: Tx>(
    tx: &mut T,
    campaign: &str,
    at: i64,
    operator: &str,
    action: &str,
    details: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO audit_log (campaign, seq, at, operator, action, details)
         SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5 FROM audit_log
         WHERE campaign = $1",
        args![campaign, at, operator, action, details],
    )
    .await
    .map(drop)
}

/// The audit log of a campaign, in order.
pub(crate) async fn audit_log<T: Tx>(
    tx: &mut T,
    campaign: &str,
) -> Result<Vec<AuditEntry>, StoreError> {
    all(
        tx,
        "SELECT seq, at, operator, action, details FROM audit_log
         WHERE campaign = $1 ORDER BY seq",
        args![campaign],
        |r| {
            let details = r.text(4)?;
            Ok(AuditEntry {
                seq: r.int(0)?,
                at: r.int(1)?,
                operator: r.text(2)?,
                action: r.text(3)?,
                details: serde_json::from_str(&details)
                    .map_err(|e| StoreError::caused("audit_log: stored details are not JSON", e))?,
            })
        },
    )
    .await
}

/// The draw record (JSON) as published: a plain read, for read-only snapshots.
pub(crate) async fn published_draw_record<T: Tx>(
    tx: &mut T,
    campaign: &str,
) -> Result<Option<String>, StoreError> {
    Ok(one(
        tx,
        "SELECT record FROM draws WHERE campaign = $1",
        args![campaign],
        |r| r.opt_text(0),
    )
    .await?
    .flatten())
}

/// The `sub` and token label of a participation of a campaign.
pub(crate) async fn sub_and_label<T: Tx>(
    tx: &mut T,
    campaign: &str,
    participation: &str,
) -> Result<Option<(String, Option<String>)>, StoreError> {
    one(
        tx,
        "SELECT sub, token_label FROM participations WHERE campaign = $1 AND id = $2",
        args![campaign, participation],
        |r| Ok((r.text(0)?, r.opt_text(1)?)),
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Operator API: time series, winners in pages, stock additions, erasure, retention.

/// Winning moments already claimed.
pub(crate) async fn claimed_moments<T: Tx>(tx: &mut T, campaign: &str) -> Result<i64, StoreError> {
    count(
        tx,
        "SELECT COUNT(*) FROM moments WHERE campaign = $1 AND participation_id IS NOT NULL",
        args![campaign],
    )
    .await
}

/// Participations per (bucket start, outcome), buckets of `width` seconds, ascending.
pub(crate) async fn timeseries<T: Tx>(
    tx: &mut T,
    campaign: &str,
    width: i64,
) -> Result<Vec<(i64, String, i64)>, StoreError> {
    all(
        tx,
        "SELECT created_at - created_at % $2 AS bucket, outcome, COUNT(*) FROM participations
         WHERE campaign = $1 GROUP BY bucket, outcome ORDER BY bucket, outcome",
        args![campaign, width],
        |r| Ok((r.int(0)?, r.text(1)?, r.int(2)?)),
    )
    .await
}

/// At most `limit` winners after `after`, in the order they won (won_at, created_at, id),
/// with the key of each. The key is compared as a row value, so both databases start reading
/// the winners index at the key (an OR of its three cases made SQLite read the campaign's
/// winners from the first one for every page: 0.12 s a page near the end of 1,000,000).
pub(crate) async fn winners_after<T: Tx>(
    tx: &mut T,
    campaign: &str,
    after: &WinnerKey,
    limit: i64,
) -> Result<Vec<(Winner, WinnerKey)>, StoreError> {
    all(
        tx,
        "SELECT id, sub, prize_id, prize_label, won_at, drawn, created_at, brand_form, brand_optin
         FROM participations
         WHERE campaign = $1 AND outcome = 'won' AND (won_at, created_at, id) > ($2, $3, $4)
         ORDER BY won_at, created_at, id LIMIT $5",
        args![campaign, after.0, after.1, after.2.as_str(), limit],
        |r| {
            // Stored by the server from a verified token: JSON it wrote itself.
            let json = |i| -> Result<Option<serde_json::Value>, StoreError> {
                r.opt_text(i)?
                    .map(|t| serde_json::from_str(&t))
                    .transpose()
                    .map_err(|e| StoreError::caused("a stored brand value is not JSON", e))
            };
            let w = Winner {
                participation_id: r.text(0)?,
                sub: r.text(1)?,
                prize: PrizeWon {
                    id: r.text(2)?,
                    label: r.text(3)?,
                },
                won_at: r.int(4)?,
                drawn: r.int(5)? != 0,
                form: json(7)?,
                optin: json(8)?,
            };
            let key = (w.won_at, r.int(6)?, w.participation_id.clone());
            Ok((w, key))
        },
    )
    .await
}

/// Adds `add` units to a prize (quantity, remaining and the audited `added` together, in one
/// update: a concurrent `take_unit` sees the old or the new stock, never a mix); answers
/// the new stock, or nothing for an unknown prize.
pub(crate) async fn add_units<T: Tx>(
    tx: &mut T,
    campaign: &str,
    prize: &str,
    add: i64,
) -> Result<Option<PrizeStock>, StoreError> {
    one(
        tx,
        "UPDATE prizes SET quantity = quantity + $3, remaining = remaining + $3,
            added = added + $3
         WHERE campaign = $1 AND id = $2 RETURNING id, name, quantity, remaining",
        args![campaign, prize, add],
        |r| {
            Ok(PrizeStock {
                id: r.text(0)?,
                name: r.text(1)?,
                quantity: r.int(2)?,
                remaining: r.int(3)?,
            })
        },
    )
    .await
}

/// Replaces a `sub` by its keyed hash, flags its participations erased (their tokens still
/// replay: [`TOKEN_AND_COUNT`]) and removes their answers; answers how many participations
/// changed.
///
/// A participant erased, back with the same sub and erased again has rows under the same
/// keyed hash already: the new ones are numbered after them, so that (campaign, sub, n) stays
/// unique.
pub(crate) async fn erase_sub<T: Tx>(
    tx: &mut T,
    campaign: &str,
    sub: &str,
    replacement: &str,
) -> Result<u64, StoreError> {
    let rows = tx
        .query(
            "SELECT COALESCE(MAX(n), 0) FROM participations WHERE campaign = $1 AND sub = $2",
            args![campaign, replacement],
        )
        .await?;
    let after = rows
        .first()
        .ok_or_else(|| StoreError::new("MAX answered no row"))?
        .int(0)?;
    tx.execute(
        "UPDATE participations SET sub = $3, n = n + $4, erased = 1, answers = NULL,
            brand_form = NULL, brand_optin = NULL
         WHERE campaign = $1 AND sub = $2",
        args![campaign, sub, replacement, after],
    )
    .await
}

/// Removes the answers of every participation of a campaign; answers how many changed.
pub(crate) async fn purge_answers<T: Tx>(tx: &mut T, campaign: &str) -> Result<u64, StoreError> {
    tx.execute(
        "UPDATE participations SET answers = NULL, brand_form = NULL, brand_optin = NULL
         WHERE campaign = $1
           AND (answers IS NOT NULL OR brand_form IS NOT NULL OR brand_optin IS NOT NULL)",
        args![campaign],
    )
    .await
}

/// A server secret by name (hex), if created.
pub(crate) async fn server_secret<T: Tx>(
    tx: &mut T,
    name: &str,
) -> Result<Option<String>, StoreError> {
    one(
        tx,
        "SELECT value FROM server_secrets WHERE name = $1",
        args![name],
        |r| r.text(0),
    )
    .await
}

/// Records a server secret, unless one with that name exists (the first writer wins).
pub(crate) async fn insert_server_secret<T: Tx>(
    tx: &mut T,
    name: &str,
    value: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        args![name, value],
    )
    .await
    .map(drop)
}
