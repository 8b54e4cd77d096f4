//! PostgreSQL's batching writers (group commit), through the store as the API uses it: two
//! stores on one database (each its own pool and writers, so two "processes" as far as
//! PostgreSQL can tell) racing batches that hold the same subs and tokens; a batch whose
//! transaction fails, answered item by item with nothing recorded twice; and a full writer
//! queue, answered with a clear error. PostgreSQL only: SQLite's writer has its own tests.

// Test helpers outside #[test] functions: a panic there is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use campaign_token_core::Eligibility;
use campaign_token_server::config::{Campaign, Config};
use campaign_token_server::store::pg_tls::PgOptions;
use campaign_token_server::store::postgres::PgStore;
use campaign_token_server::store::{
    Erasure, NewParticipation, Outcome, ParticipateError, Participation, Store,
};

const CONFIG: &str = r#"
listen = "127.0.0.1:0"
database = "sqlite:unused.db"
[[campaign]]
id = "c"
type = "draw"
start = "2020-01-01T00:00:00Z"
end = "2040-01-01T00:00:00Z"
participation_limit = 2
[[campaign.keys]]
hmac_secret_env = "K"
alg = "HS256"
kid = "hs"
[[campaign.prizes]]
id = "a"
name = "Alpha"
quantity = 5
[[campaign]]
id = "m"
type = "draw"
start = "2020-01-01T00:00:00Z"
end = "2040-01-01T00:00:00Z"
participation_limit = 2
[[campaign.keys]]
hmac_secret_env = "K"
alg = "HS256"
kid = "hs"
[[campaign.prizes]]
id = "x"
name = "First"
quantity = 1
[[campaign.prizes]]
id = "y"
name = "Second"
quantity = 2
[[campaign]]
id = "w"
type = "instant-win"
start = "2020-01-01T00:00:00Z"
end = "2040-01-01T00:00:00Z"
[campaign.calendar]
moments = [
    { at = "2026-01-01T00:00:00Z", prize = "w1" },
    { at = "2026-01-02T00:00:00Z", prize = "w1" },
    { at = "2026-01-03T00:00:00Z", prize = "w2" },
    { at = "2030-01-01T00:00:00Z", prize = "w2" },
]
[[campaign.keys]]
hmac_secret_env = "K"
alg = "HS256"
kid = "hs"
[[campaign.prizes]]
id = "w1"
name = "Moment one"
quantity = 2
[[campaign.prizes]]
id = "w2"
name = "Moment two"
quantity = 2
"#;

fn campaigns() -> Vec<Arc<Campaign>> {
    let env = |_: &str| Some("a shared secret of at least 32 bytes, for tests".to_owned());
    Config::parse(CONFIG, Path::new("."), &env)
        .unwrap()
        .campaigns
}

/// A draw campaign with one prize of 5 units.
fn campaign() -> Arc<Campaign> {
    Arc::clone(&campaigns()[0])
}

fn participation(id: &str, token: &str, sub: &str) -> NewParticipation {
    NewParticipation {
        id: id.into(),
        token_hash: token.into(),
        legacy_hash: format!("text:{token}"),
        sub: sub.into(),
        eligibility: Eligibility::AnyPrize,
        token_label: None,
        answers: None,
        brand_form: None,
        brand_optin: None,
        allowance: 2,
        now: 1_800_000_000,
    }
}

/// A store on `url` with `writers` writer tasks and batches of at most `max_batch`.
async fn store(url: &str, writers: usize, max_batch: usize, queue_wait: Duration) -> PgStore {
    let options = PgOptions {
        writers,
        max_batch,
        acquire_timeout: queue_wait,
        ..PgOptions::default()
    };
    let store = PgStore::connect(url, &options).unwrap();
    store.prepare(&campaigns()).await.unwrap();
    store
}

/// A fresh database, or `None` (test skipped) without `CAMPAIGN_TOKEN_TEST_PG`.
async fn database(test: &str) -> Option<String> {
    Some(common::pg_database(&common::pg_admin_url()?, test).await)
}

/// A plain connection, to hold locks the store must wait for.
async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

/// Waits until `depth` participations are queued (a wait for a state, not a timed check).
async fn until_queued(store: &PgStore, depth: usize) {
    for _ in 0..2000 {
        if store.queue_depth() == depth {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!(
        "the queue never held {depth} participations (it holds {})",
        store.queue_depth()
    );
}

/// Waits until a session of this database waits for a lock: the writer, stopped by `client`'s
/// lock in the middle of a participation.
async fn until_blocked(client: &tokio_postgres::Client) {
    for _ in 0..2000 {
        let row = client
            .query_one(
                "SELECT COUNT(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap();
        if row.get::<_, i64>(0) > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the writer never waited for the lock");
}

/// A plain connection holding an exclusive lock on the participations table (in an open
/// transaction): the store's writer waits for it in the middle of a participation.
async fn lock_participations(url: &str) -> tokio_postgres::Client {
    let blocker = connect(url).await;
    blocker
        .batch_execute("BEGIN; LOCK TABLE participations IN EXCLUSIVE MODE")
        .await
        .unwrap();
    blocker
}

type Answer = tokio::task::JoinHandle<Result<Participation, ParticipateError>>;

/// Holds the writer inside `first` (its INSERT waits for a table lock), queues `batch` behind
/// it one after the other, in this order, so that they form one batch, then lets the writer
/// go on: the answers of `first` and of the batch.
async fn one_batch_behind(
    url: &str,
    st: &PgStore,
    c: &Arc<Campaign>,
    first: NewParticipation,
    batch: Vec<NewParticipation>,
) -> (Answer, Vec<Answer>) {
    let batch = batch.into_iter().map(|p| (Arc::clone(c), p)).collect();
    one_mixed_batch_behind(url, st, (Arc::clone(c), first), batch).await
}

/// [`one_batch_behind`] for participations of several campaigns.
async fn one_mixed_batch_behind(
    url: &str,
    st: &PgStore,
    first: (Arc<Campaign>, NewParticipation),
    batch: Vec<(Arc<Campaign>, NewParticipation)>,
) -> (Answer, Vec<Answer>) {
    let blocker = lock_participations(url).await;
    let first = {
        let st = st.clone();
        tokio::spawn(async move { st.participate(first.0, first.1).await })
    };
    until_blocked(&blocker).await;
    let mut tasks = Vec::new();
    for (i, (c, p)) in batch.into_iter().enumerate() {
        let st2 = st.clone();
        tasks.push(tokio::spawn(async move { st2.participate(c, p).await }));
        until_queued(st, i + 1).await;
    }
    blocker.batch_execute("COMMIT").await.unwrap();
    (first, tasks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_racing_on_the_same_subs_and_tokens_across_two_stores_record_each_once() {
    let Some(url) = database("pg_batches_race").await else {
        return;
    };
    let c = campaign();
    // One writer each with large batches: the posts of a burst share batches, and the two
    // stores' batches hold the same subs and tokens at the same time.
    let stores = [
        store(&url, 1, 64, Duration::from_secs(5)).await,
        store(&url, 1, 64, Duration::from_secs(5)).await,
    ];
    // 30 subs × 4 tokens (the limit is 2), each token posted twice to each store.
    let mut posts = Vec::new();
    for round in 0..2 {
        for sub in 0..30 {
            for token in 0..4 {
                for (s, st) in stores.iter().enumerate() {
                    let p = participation(
                        &format!("p-{sub}-{token}-{s}-{round}"),
                        &format!("t-{sub}-{token}"),
                        &format!("s-{sub}"),
                    );
                    posts.push((format!("t-{sub}-{token}"), st.clone(), p));
                }
            }
        }
    }
    let tasks: Vec<_> = posts
        .into_iter()
        .map(|(token, st, p)| {
            let c = Arc::clone(&c);
            tokio::spawn(async move { (token, st.participate(c, p).await) })
        })
        .collect();
    let mut recorded: HashMap<String, HashSet<String>> = HashMap::new();
    let mut refused: HashSet<String> = HashSet::new();
    let mut fresh_wins = 0;
    let mut fresh = 0;
    for t in tasks {
        let (token, answer) = t.await.unwrap();
        match answer {
            Ok(p) => {
                if !p.replayed {
                    fresh += 1;
                    if p.outcome == Outcome::Won {
                        fresh_wins += 1;
                    }
                }
                recorded
                    .entry(token)
                    .or_default()
                    .insert(p.participation_id);
            }
            Err(ParticipateError::Limit) => {
                refused.insert(token);
            }
            Err(ParticipateError::Store(e)) => panic!("{token}: {e}"),
        }
    }
    for (token, ids) in &recorded {
        assert_eq!(
            ids.len(),
            1,
            "{token} answered several participations: {ids:?}"
        );
        assert!(
            !refused.contains(token),
            "{token} was both recorded and refused with participation_limit"
        );
    }
    for sub in 0..30 {
        let n = recorded
            .keys()
            .filter(|t| t.starts_with(&format!("t-{sub}-")))
            .count();
        assert_eq!(n, 2, "sub {sub}: {n} tokens recorded, its limit is 2");
    }
    assert_eq!(fresh, 60, "one first answer per recorded participation");
    assert_eq!(fresh_wins, 5, "exactly the stock was won");
    let s = stores[0].stats(Arc::clone(&c)).await.unwrap();
    assert_eq!(
        (s.participations, s.winners, s.prizes[0].remaining),
        (60, 5, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_whose_transaction_fails_answers_each_item_and_records_nothing_twice() {
    let Some(url) = database("pg_batches_failed").await else {
        return;
    };
    let c = campaign();
    let st = store(&url, 1, 64, Duration::from_secs(5)).await;
    let batch = [
        participation("p1", "t1", "s1"),
        // The same id as the first participation: its INSERT fails (primary key) once the
        // first one committed, failing the whole batch's transaction.
        participation("p0", "t-dup", "s-dup"),
        participation("p1-again", "t1", "s1"), // a replay of p1
        participation("p2", "t2", "s2"),
    ];
    let (first, tasks) =
        one_batch_behind(&url, &st, &c, participation("p0", "t0", "s0"), batch.into()).await;

    let p0 = first.await.unwrap().unwrap();
    assert_eq!((p0.participation_id.as_str(), p0.replayed), ("p0", false));
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let ok = |i: usize| match &answers[i] {
        Ok(p) => p.clone(),
        Err(e) => panic!("item {i}: {e:?}"),
    };
    assert_eq!(
        (ok(0).participation_id.as_str(), ok(0).replayed),
        ("p1", false)
    );
    assert!(
        matches!(answers[1], Err(ParticipateError::Store(_))),
        "the item that cannot be recorded answers an error: {:?}",
        answers[1]
    );
    assert_eq!(
        (ok(2).participation_id.as_str(), ok(2).replayed),
        ("p1", true)
    );
    assert_eq!(ok(2).prize, ok(0).prize);
    assert_eq!(
        (ok(3).participation_id.as_str(), ok(3).replayed),
        ("p2", false)
    );
    assert_eq!(
        st.batches_redone(),
        1,
        "the batch failed once and was redone item by item"
    );
    let s = st.stats(Arc::clone(&c)).await.unwrap();
    // p0, p1, p2: each once, each a win, the stock taken once each (the rolled-back batch
    // returned what it took).
    assert_eq!(
        (s.participations, s.winners, s.prizes[0].remaining),
        (3, 3, 2)
    );
}

/// The batch's last statement (its INSERT, which carries the transaction's COMMIT in the same
/// round trip: `Tx::commit_with_next`) fails: nothing of the batch is committed, not even the
/// stock its earlier statement took, and every item is answered as alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_whose_last_statement_fails_commits_nothing_of_it() {
    let Some(url) = database("pg_batches_failed_last").await else {
        return;
    };
    let c = campaign();
    let st = store(&url, 1, 64, Duration::from_secs(5)).await;
    let batch = [
        participation("p1", "t1", "s1"),
        // The same id as the first participation: the batch's INSERT, its last statement
        // (no item shares a sub or a token), fails once the first one committed.
        participation("p0", "t-dup", "s-dup"),
        participation("p2", "t2", "s2"),
    ];
    let (first, tasks) =
        one_batch_behind(&url, &st, &c, participation("p0", "t0", "s0"), batch.into()).await;
    let p0 = first.await.unwrap().unwrap();
    assert_eq!((p0.participation_id.as_str(), p0.replayed), ("p0", false));
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let won = |i: usize| match &answers[i] {
        Ok(p) => (p.participation_id.clone(), p.replayed, p.prize.is_some()),
        Err(e) => panic!("item {i}: {e:?}"),
    };
    assert_eq!(won(0), ("p1".to_owned(), false, true));
    assert!(
        matches!(answers[1], Err(ParticipateError::Store(_))),
        "the item that cannot be recorded answers an error: {:?}",
        answers[1]
    );
    assert_eq!(won(2), ("p2".to_owned(), false, true));
    assert_eq!(st.batches_redone(), 1, "the batch failed once");
    let s = st.stats(Arc::clone(&c)).await.unwrap();
    // The batch's stock step took 2 units before its INSERT failed; had that been committed,
    // the redone items would have taken 2 more (remaining 0, not 2).
    assert_eq!(
        (s.participations, s.winners, s.prizes[0].remaining),
        (3, 3, 2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_batch_answers_replays_limits_and_prizes_in_order_as_one_at_a_time_would() {
    let Some(url) = database("pg_batches_one").await else {
        return;
    };
    // Two prizes: 1 unit of x, then 2 of y.
    let c = Arc::clone(&campaigns()[1]);
    let st = store(&url, 1, 64, Duration::from_secs(5)).await;
    let batch = [
        participation("p1", "t1", "alice"),
        participation("p1-again", "t1", "alice"), // a replay of p1, in the same batch
        participation("p2", "t2", "alice"),       // alice's second: her limit is 2
        participation("p3", "t3", "alice"),       // past her limit
        participation("p4", "t4", "bob"),
        participation("p4-again", "t4", "bob"), // a replay of p4
        participation("p5", "t5", "carol"),
    ];
    let (first, tasks) = one_batch_behind(
        &url,
        &st,
        &c,
        participation("p0", "t0", "zoe"),
        batch.into(),
    )
    .await;
    let p0 = first.await.unwrap().unwrap();
    assert_eq!(
        p0.prize.map(|p| p.id).as_deref(),
        Some("x"),
        "the first unit"
    );
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let ok = |i: usize| match &answers[i] {
        Ok(p) => p.clone(),
        Err(e) => panic!("item {i}: {e:?}"),
    };
    assert_eq!(
        (ok(1).participation_id.as_str(), ok(1).replayed),
        ("p1", true)
    );
    assert_eq!(ok(1).prize, ok(0).prize);
    assert!(matches!(answers[3], Err(ParticipateError::Limit)));
    assert_eq!(
        (ok(5).participation_id.as_str(), ok(5).replayed),
        ("p4", true)
    );
    assert_eq!(ok(5).prize, ok(4).prize);
    // x is gone; p1, p2, p4, p5 compete for y's 2 units: two win y, two lose.
    let fresh = [ok(0), ok(2), ok(4), ok(6)];
    assert!(fresh.iter().all(|p| !p.replayed));
    let prizes: Vec<Option<String>> = fresh
        .iter()
        .map(|p| p.prize.as_ref().map(|x| x.id.clone()))
        .collect();
    assert_eq!(
        prizes.iter().filter(|p| p.as_deref() == Some("y")).count(),
        2,
        "{prizes:?}"
    );
    assert_eq!(
        fresh.iter().filter(|p| p.outcome == Outcome::Lost).count(),
        2
    );
    assert_eq!(st.batches_redone(), 0, "the batch committed as one");
    let s = st.stats(Arc::clone(&c)).await.unwrap();
    assert_eq!((s.participations, s.winners), (5, 3));
    assert!(s.prizes.iter().all(|p| p.remaining == 0));
}

/// An answer, comparable across databases.
fn summary(answer: &Result<Participation, ParticipateError>) -> String {
    match answer {
        Ok(p) => format!(
            "{} {:?} {:?} replayed={}",
            p.participation_id, p.outcome, p.prize, p.replayed
        ),
        Err(ParticipateError::Limit) => "participation_limit".into(),
        Err(ParticipateError::Store(e)) => panic!("a store error: {e}"),
    }
}

/// What a campaign holds once the participations are in, comparable across databases.
async fn holdings(st: &PgStore, c: &Arc<Campaign>) -> String {
    let s = st.stats(Arc::clone(c)).await.unwrap();
    let stock: Vec<(String, i64)> = s
        .prizes
        .iter()
        .map(|p| (p.id.clone(), p.remaining))
        .collect();
    format!(
        "{} participations, {} participants, {} winners, outcomes {:?}, stock {stock:?}, \
         moments {} claimed / {} not",
        s.participations,
        s.participants,
        s.winners,
        s.outcomes,
        s.claimed_moments,
        s.unclaimed_moments
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_of_many_through_the_array_statements_answers_as_each_alone_would() {
    let Some(batched_url) = database("pg_batches_arrays").await else {
        return;
    };
    let alone_url = database("pg_batches_arrays_alone").await.unwrap();
    let all = campaigns();
    let (c, m, w) = (&all[0], &all[1], &all[2]);
    let with = |e: Eligibility, label: Option<&str>, mut p: NewParticipation| {
        p.eligibility = e;
        p.token_label = label.map(Into::into);
        p
    };
    use Eligibility::{CannotWin, GivenPrize, Standard};
    // The first two moments of `w` (2026-01-01 and 2026-01-02, 00:00 UTC).
    const MOMENT_0: i64 = 1_767_225_600;
    const MOMENT_1: i64 = 1_767_312_000;
    let at = |now: i64, mut p: NewParticipation| {
        p.now = now;
        p
    };
    // Recorded before the batch, one at a time: a sub of `c` at its limit (2), a token of
    // `m` recorded under its legacy hash only (as before the hash changed).
    let mut legacy = participation("p-lg", "lg", "lg");
    legacy.token_hash = "text:lg".into();
    let before = [
        (c, participation("p-f1", "t-f1", "full")),
        (c, participation("p-f2", "t-f2", "full")),
        (m, legacy),
    ];
    let first = (c, participation("p-first", "t-first", "zoe"));
    // One batch: prizes running out in the middle (c: 2 units left; m: x gone, 2 of y; w:
    // three moments due, one in the future), a sub at its limit, replays of tokens recorded
    // before and of one earlier in the batch, every eligibility, three campaigns mixed.
    let batch = [
        (c, participation("c1", "t1", "s1")),
        (c, participation("c-limit", "t-f3", "full")),
        (c, participation("c-replay", "t-f1", "full")),
        (m, participation("m1", "t1", "s1")),
        (c, with(CannotWin, None, participation("c2", "t2", "s2"))),
        (c, participation("c3", "t3", "s3")),
        (c, participation("c4", "t4", "s4")),
        (m, with(Standard, None, participation("m2", "t2", "s2"))),
        (m, participation("m3", "t3", "s3")),
        (m, participation("m4", "t4", "s4")),
        // Claims at their own `now` (the batch's array statement for moments): before the
        // second moment, this one takes the first; w1 takes the second; one whose `now` is
        // before the second finds the first taken and wins nothing, though later moments
        // are due at the batch's latest `now`.
        (
            w,
            at(MOMENT_1 + 3600, participation("w-mid", "t-mid", "s-mid")),
        ),
        (w, participation("w1", "t1", "s1")),
        (
            w,
            at(
                MOMENT_0 + 3600,
                participation("w-early", "t-early", "s-early"),
            ),
        ),
        (w, with(CannotWin, None, participation("w2", "t2", "s2"))),
        (w, with(Standard, None, participation("w3", "t3", "s3"))),
        (w, participation("w4", "t4", "s4")),
        (w, participation("w5", "t5", "s5")),
        (c, participation("c1-again", "t1", "s1")),
        (
            c,
            with(GivenPrize, Some("Gift"), participation("c5", "t5", "s5")),
        ),
        (
            m,
            with(GivenPrize, Some("Gift"), participation("m5", "t5", "s5")),
        ),
        (m, participation("m-legacy", "lg", "lg")),
    ];
    // Each alone, one after the other.
    let alone = store(&alone_url, 1, 64, Duration::from_secs(5)).await;
    for (c, p) in before.iter().chain([&first]).cloned() {
        alone.participate(Arc::clone(c), p).await.unwrap();
    }
    let mut expected = Vec::new();
    for (c, p) in batch.iter().cloned() {
        expected.push(summary(&alone.participate(Arc::clone(c), p).await));
    }
    // The same through one batch.
    let batched = store(&batched_url, 1, 64, Duration::from_secs(5)).await;
    for (c, p) in before.iter().cloned() {
        batched.participate(Arc::clone(c), p).await.unwrap();
    }
    let (first_answer, tasks) = one_mixed_batch_behind(
        &batched_url,
        &batched,
        (Arc::clone(first.0), first.1.clone()),
        batch
            .iter()
            .map(|(c, p)| (Arc::clone(c), p.clone()))
            .collect(),
    )
    .await;
    first_answer.await.unwrap().unwrap();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(summary(&t.await.unwrap()));
    }
    assert_eq!(batched.batches_redone(), 0, "the batch committed as one");
    for (i, (got, want)) in answers.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "item {i} ({})", batch[i].1.id);
    }
    for c in [c, m, w] {
        assert_eq!(
            holdings(&batched, c).await,
            holdings(&alone, c).await,
            "campaign {}",
            c.id
        );
    }
    // Not vacuous: the batch met every case.
    let count = |s: &str| answers.iter().filter(|a| a.contains(s)).count();
    assert_eq!(count("participation_limit"), 1);
    assert_eq!(count("replayed=true"), 3, "{answers:#?}");
    let fresh_wins = answers
        .iter()
        .filter(|a| a.contains("Won") && a.contains("replayed=false"))
        .count();
    assert_eq!(
        fresh_wins, 7,
        "2 of c, 2 of m (y), 3 moments of w: {answers:#?}"
    );
    assert_eq!(count("NotEligible"), 2);
    assert_eq!(count("EnteredDraw"), 1);
    let answer = |id: &str| &answers[batch.iter().position(|(_, p)| p.id == id).unwrap()];
    assert!(answer("w-mid").contains("Won"), "{answers:#?}");
    assert!(answer("w-early").contains("Lost"), "{answers:#?}");
    let s = batched.stats(Arc::clone(c)).await.unwrap();
    assert_eq!(s.prizes[0].remaining, 0);
}

/// Fewer instant-win claims in a batch than moments due: the batch's one statement for the
/// moments locks only as many as it has claims, and they must be the ones one at a time
/// would take (the earliest), each claim at its own `now`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instant_win_claims_of_a_batch_take_the_moments_one_at_a_time_would() {
    let Some(batched_url) = database("pg_batches_moments").await else {
        return;
    };
    let alone_url = database("pg_batches_moments_alone").await.unwrap();
    let all = campaigns();
    let (c, w) = (&all[0], &all[2]);
    // Three moments of `w` due at 1_800_000_000 (2026-01-01, -02, -03), one in 2030; two
    // claims in the batch.
    let mut early = participation("w-early", "t-early", "s-early");
    early.now = 1_767_225_600 + 60; // only the first moment is due
    let batch = [participation("w-a", "t-a", "s-a"), early];
    let first = participation("c-0", "t-0", "s-0");
    let alone = store(&alone_url, 1, 64, Duration::from_secs(5)).await;
    alone
        .participate(Arc::clone(c), first.clone())
        .await
        .unwrap();
    let mut expected = Vec::new();
    for p in batch.iter().cloned() {
        expected.push(summary(&alone.participate(Arc::clone(w), p).await));
    }
    let batched = store(&batched_url, 1, 64, Duration::from_secs(5)).await;
    let (first, tasks) = one_mixed_batch_behind(
        &batched_url,
        &batched,
        (Arc::clone(c), first),
        batch.iter().map(|p| (Arc::clone(w), p.clone())).collect(),
    )
    .await;
    first.await.unwrap().unwrap();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(summary(&t.await.unwrap()));
    }
    assert_eq!(batched.batches_redone(), 0, "the batch committed as one");
    // Which moments were taken shows in a claim for which only the first is due (the first
    // two moments give the same prize): after w-a took it, none.
    let mut after = participation("w-after", "t-after", "s-after");
    after.now = 1_767_225_600 + 120;
    let after_alone = summary(&alone.participate(Arc::clone(w), after.clone()).await);
    let after_batched = summary(&batched.participate(Arc::clone(w), after).await);
    assert_eq!(answers, expected);
    assert_eq!(after_batched, after_alone, "w-after");
    assert_eq!(holdings(&batched, w).await, holdings(&alone, w).await);
    // Not vacuous: w-a took the first moment (of prize w1); w-early, for which only that one
    // is due, none; nor w-after.
    assert!(answers[0].contains("w1"), "{answers:#?}");
    assert!(answers[1].contains("Lost"), "{answers:#?}");
    assert!(after_batched.contains("Lost"), "{after_batched}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_writer_queue_answers_a_clear_error_and_records_nothing() {
    let Some(url) = database("pg_batches_full").await else {
        return;
    };
    let c = campaign();
    // One writer, batches of one: the queue holds 4 × 1 × 1 participations.
    let st = store(&url, 1, 1, Duration::from_millis(200)).await;
    let blocker = lock_participations(&url).await;
    let queued: Vec<_> = (0..5)
        .map(|i| {
            let (st, c) = (st.clone(), Arc::clone(&c));
            tokio::spawn(async move {
                let p = participation(&format!("p{i}"), &format!("t{i}"), &format!("s{i}"));
                st.participate(c, p).await
            })
        })
        .collect();
    // The writer holds one (waiting for the lock), the queue the 4 others: full.
    until_blocked(&blocker).await;
    until_queued(&st, 4).await;
    let refused = st
        .participate(Arc::clone(&c), participation("late", "t-late", "s-late"))
        .await;
    match refused {
        Err(ParticipateError::Store(e)) => assert!(
            e.to_string().contains("writer queue stayed full") && e.is_unavailable(),
            "a clear error, answered 503 database_unavailable: {e}"
        ),
        other => panic!("a full queue answered {other:?}"),
    }
    blocker.batch_execute("COMMIT").await.unwrap();
    for t in queued {
        assert!(!t.await.unwrap().unwrap().replayed);
    }
    let s = st.stats(Arc::clone(&c)).await.unwrap();
    assert_eq!(
        s.participations, 5,
        "the refused participation is not recorded"
    );
}

#[test]
fn the_writer_settings_have_defaults_and_are_checked() {
    let env = |_: &str| Some("a shared secret of at least 32 bytes, for tests".to_owned());
    let parse = |extra: &str| {
        let toml = CONFIG.replacen(
            "database = \"sqlite:unused.db\"",
            &format!("database = \"postgres://app@127.0.0.1/db\"\n{extra}"),
            1,
        );
        Config::parse(&toml, Path::new("."), &env)
    };
    let d = parse("").unwrap().pg;
    assert_eq!((d.writers, d.max_batch), (1, 64));
    let set = parse("database_writers = 8\ndatabase_batch_size = 256")
        .unwrap()
        .pg;
    assert_eq!((set.writers, set.max_batch), (8, 256));
    for (bad, says) in [
        ("database_writers = 0", "database_writers must be between 1"),
        (
            "database_max_connections = 4\ndatabase_writers = 5",
            "database_max_connections (4)",
        ),
        (
            "database_batch_size = 0",
            "database_batch_size must be between 1",
        ),
        (
            "database_batch_size = 1025",
            "database_batch_size must be between 1",
        ),
    ] {
        match parse(bad) {
            Ok(_) => panic!("accepted {bad}"),
            Err(e) => assert!(e.to_string().contains(says), "{bad}: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_participations_table_is_analysed_once_the_first_ones_are_written() {
    let Some(url) = database("pg_batches_analyze").await else {
        return;
    };
    let c = campaign();
    let st = store(&url, 2, 64, Duration::from_secs(5)).await;
    let client = connect(&url).await;
    let reltuples = async || -> f32 {
        client
            .query_one(
                "SELECT reltuples FROM pg_class WHERE relname = 'participations'",
                &[],
            )
            .await
            .unwrap()
            .get(0)
    };
    assert!(
        reltuples().await < 0.0,
        "a fresh table has never been analysed"
    );
    let tasks: Vec<_> = (0..250)
        .map(|i| {
            let (st, c) = (st.clone(), Arc::clone(&c));
            tokio::spawn(async move {
                let p = participation(&format!("p{i}"), &format!("t{i}"), &format!("s{i}"));
                st.participate(c, p).await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // Without statistics, the generic plans of the replay lookup chose an index on the
    // campaign alone (see ANALYZE_AFTER in postgres.rs): the writers analyse the table
    // after their first 200 participations, long before autovacuum's first round.
    for _ in 0..2000 {
        if reltuples().await >= 200.0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!(
        "participations was not analysed: reltuples {}",
        reltuples().await
    );
}

/// An erasure and the participations being recorded exclude each other (table locks), so no
/// participation looks its token up before a sub is renamed and commits after: one that
/// arrives while an erasure holds its lock waits, then finds its token among the erased rows;
/// an erasure waits for the participations being recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_erasure_and_participations_being_recorded_exclude_each_other() {
    let Some(url) = database("pg_erasure_locks").await else {
        return;
    };
    let c = campaign();
    let st = store(&url, 1, 64, Duration::from_secs(5)).await;
    let first = st
        .participate(Arc::clone(&c), participation("p1", "t1", "s1"))
        .await
        .unwrap();
    assert!(!first.replayed);

    // An erasure in progress (the statements of the store's own, not yet committed).
    let eraser = connect(&url).await;
    eraser
        .batch_execute(
            "BEGIN; LOCK TABLE participations IN SHARE ROW EXCLUSIVE MODE;
             UPDATE participations SET sub = 'erased:s1', erased = 1 WHERE sub = 's1'",
        )
        .await
        .unwrap();
    let again = {
        let (st, c) = (st.clone(), Arc::clone(&c));
        tokio::spawn(async move {
            st.participate(c, participation("p1-again", "t1", "s1"))
                .await
        })
    };
    until_blocked(&eraser).await;
    eraser.batch_execute("COMMIT").await.unwrap();
    let again = again.await.unwrap().unwrap();
    assert_eq!(
        (again.participation_id.as_str(), again.replayed),
        ("p1", true)
    );

    // A participation being recorded (its lock taken, as `Begin::Participations` does).
    let writer = connect(&url).await;
    writer
        .batch_execute("BEGIN; LOCK TABLE participations IN ROW EXCLUSIVE MODE")
        .await
        .unwrap();
    let erasure = {
        let (st, c) = (st.clone(), Arc::clone(&c));
        tokio::spawn(async move {
            let request = Erasure {
                sub: "s2".into(),
                key: Some(vec![7; 32]),
                by: "test".into(),
                now: 1_800_000_000,
            };
            st.erase(c, request).await
        })
    };
    until_blocked(&writer).await;
    writer.batch_execute("COMMIT").await.unwrap();
    assert_eq!(erasure.await.unwrap().unwrap(), 0);
    let stats = st.stats(Arc::clone(&c)).await.unwrap();
    assert_eq!(stats.participations, 1);
}
