//! The fairness algorithms as an auditor relies on them: the documented vector holds, a
//! record verifies only untouched, redraws verify, the draw is uniform, calendar moments are
//! random inside their slots and bound by their commitment.

#![cfg(not(target_arch = "wasm32"))]
// Helpers outside `#[test]` functions unwrap too: a panic in a test is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use campaign_token_core::fairness::calendar::{
    self, seal, spread, verify_calendar, Moment, RevealedCalendar,
};
use campaign_token_core::fairness::draw::{
    self, candidates_sha256, draw, redraw, secret_commitment, verify_draw, DrawInputs, DrawRecord,
    Pick,
};
use campaign_token_core::fairness::{
    hex_32, to_hex, FairnessError, KeyStream, RandomSource, MAX_CANDIDATES, MAX_ID_BYTES,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------------------
// Helpers.

/// The ```json block between `<!-- NAME:begin -->` and `<!-- NAME:end -->` in
/// docs/fairness.md: the doc is the source, so what it shows is what is tested.
fn doc_json(name: &str) -> String {
    let doc = include_str!("../docs/fairness.md");
    let start = doc
        .find(&format!("<!-- {name}:begin -->"))
        .expect("begin marker");
    let end = doc
        .find(&format!("<!-- {name}:end -->"))
        .expect("end marker");
    doc[start..end]
        .split_once("```json")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(json, _)| json.to_owned())
        .expect("a ```json block between the markers")
}

/// The test vector of docs/fairness.md.
fn vector() -> Value {
    serde_json::from_str(&doc_json("test-vector")).expect("the vector is JSON")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

fn picks(v: &Value) -> Vec<Pick> {
    serde_json::from_value(v.clone()).unwrap()
}

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("p-{i:04}")).collect()
}

fn inputs(candidates: Vec<String>, units: &[&str], public_value: &str) -> DrawInputs {
    DrawInputs {
        campaign_id: "summer-2026".into(),
        candidates,
        prize_units: units.iter().map(|u| (*u).to_owned()).collect(),
        secret: [7; 32],
        public_source: "drand quicknet round 1234567".into(),
        public_value: public_value.into(),
        drawn_at: 1_767_225_600,
    }
}

/// A record with 3 winners among 10 candidates.
fn sample() -> DrawRecord {
    draw(inputs(
        ids(10),
        &["voucher", "voucher", "t-shirt"],
        "abc123",
    ))
    .unwrap()
}

fn field_of(result: Result<Vec<Pick>, FairnessError>) -> (String, String) {
    let err = result.expect_err("the record must be refused");
    (err.code().to_owned(), err.field().unwrap_or("").to_owned())
}

fn assert_mismatch(record: &DrawRecord, field: &str) {
    assert_eq!(
        field_of(verify_draw(record)),
        ("mismatch".to_owned(), field.to_owned())
    );
}

fn assert_invalid(record: &DrawRecord, field: &str) {
    assert_eq!(
        field_of(verify_draw(record)),
        ("invalid".to_owned(), field.to_owned())
    );
}

/// The documented encodings, rebuilt here from docs/fairness.md rather than from the
/// crate, so a drift between the doc and the code fails.
fn str_(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&u32::try_from(s.len()).unwrap().to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn sha256(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

/// Pearson's chi-square statistic of observed counts against equal expectations.
fn chi_square(counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    let expected = total as f64 / counts.len() as f64;
    counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum()
}

// ---------------------------------------------------------------------------------------
// The documented vector.

#[test]
fn the_documented_vector_gives_the_documented_seed_and_winners() {
    let v = &vector()["draw"];
    let record = draw(DrawInputs {
        campaign_id: v["campaignId"].as_str().unwrap().into(),
        candidates: strings(&v["candidates"]),
        prize_units: strings(&v["prizeUnits"]),
        secret: hex_32("secret", v["secret"].as_str().unwrap()).unwrap(),
        public_source: v["publicSource"].as_str().unwrap().into(),
        public_value: v["publicValue"].as_str().unwrap().into(),
        drawn_at: v["drawnAt"].as_i64().unwrap(),
    })
    .unwrap();
    assert_eq!(record.candidates_sha256, v["candidatesSha256"]);
    assert_eq!(record.secret_commitment, v["secretCommitment"]);
    assert_eq!(record.seed, v["seed"]);
    assert_eq!(record.winners, picks(&v["winners"]));
    assert_eq!(record.picks, picks(&v["winners"]));
    assert!(record.unawarded.is_empty());
    assert_eq!(verify_draw(&record).unwrap(), picks(&v["winners"]));

    let mut stream = KeyStream::new(hex_32("seed", &record.seed).unwrap());
    let words: Vec<String> = (0..4)
        .map(|_| format!("{:016x}", stream.next_u64().unwrap()))
        .collect();
    assert_eq!(words, strings(&v["firstWords"]));

    let r = &v["redraw"];
    let redrawn = redraw(
        &record,
        r["disqualify"].as_str().unwrap(),
        r["reason"].as_str().unwrap(),
        r["at"].as_i64().unwrap(),
    )
    .unwrap();
    assert_eq!(redrawn.record.picks, picks(&r["picks"]));
    assert_eq!(redrawn.record.winners, picks(&r["winners"]));
    assert_eq!(redrawn.record.unawarded, strings(&r["unawarded"]));
    assert_eq!(verify_draw(&redrawn.record).unwrap(), picks(&r["winners"]));
}

#[test]
fn the_documented_example_record_verifies_and_is_the_vector_after_its_redraw() {
    let example = DrawRecord::from_json(&doc_json("example-record")).unwrap();
    let r = &vector()["draw"]["redraw"];
    assert_eq!(verify_draw(&example).unwrap(), picks(&r["winners"]));
    assert_eq!(example.picks, picks(&r["picks"]));
    assert_eq!(example.seed, vector()["draw"]["seed"]);
}

#[test]
fn the_documented_byte_layouts_are_the_ones_hashed() {
    let v = vector();
    let d = &v["draw"];
    // Candidates hash: str(tag) u32(count) str(id)*, ids sorted bytewise.
    let mut sorted = strings(&d["candidates"]);
    sorted.sort();
    let mut c = Vec::new();
    str_(&mut c, "campaign-token-draw-v1/candidates");
    c.extend_from_slice(&u32::try_from(sorted.len()).unwrap().to_be_bytes());
    for id in &sorted {
        str_(&mut c, id);
    }
    assert_eq!(sha256(&c), d["candidatesSha256"]);
    assert_eq!(candidates_sha256(&sorted).unwrap(), d["candidatesSha256"]);

    // Secret commitment: str(tag) secret.
    let secret = hex_32("secret", d["secret"].as_str().unwrap()).unwrap();
    let mut s = Vec::new();
    str_(&mut s, "campaign-token-draw-v1/secret");
    s.extend_from_slice(&secret);
    assert_eq!(sha256(&s), d["secretCommitment"]);
    assert_eq!(secret_commitment(&secret), d["secretCommitment"]);

    // Seed preimage.
    let mut p = Vec::new();
    str_(&mut p, "campaign-token-draw-v1");
    str_(&mut p, d["campaignId"].as_str().unwrap());
    p.extend_from_slice(&hex_32("h", d["candidatesSha256"].as_str().unwrap()).unwrap());
    let units = strings(&d["prizeUnits"]);
    p.extend_from_slice(&u32::try_from(units.len()).unwrap().to_be_bytes());
    for u in &units {
        str_(&mut p, u);
    }
    p.extend_from_slice(&secret);
    str_(&mut p, d["publicSource"].as_str().unwrap());
    str_(&mut p, d["publicValue"].as_str().unwrap());
    assert_eq!(to_hex(&p), d["seedPreimage"]);
    assert_eq!(sha256(&p), d["seed"]);

    // Calendar preimage: str(tag) salt str(campaign) u32(count) (i64(at) str(prize))*.
    let cal = &v["calendar"];
    let salt = hex_32("salt", cal["salt"].as_str().unwrap()).unwrap();
    let mut m = Vec::new();
    str_(&mut m, "campaign-token-calendar-v1");
    m.extend_from_slice(&salt);
    str_(&mut m, cal["campaignId"].as_str().unwrap());
    let moments = cal["moments"].as_array().unwrap();
    m.extend_from_slice(&u32::try_from(moments.len()).unwrap().to_be_bytes());
    for moment in moments {
        m.extend_from_slice(&moment["at"].as_i64().unwrap().to_be_bytes());
        str_(&mut m, moment["prizeId"].as_str().unwrap());
    }
    assert_eq!(to_hex(&m), cal["preimage"]);
    assert_eq!(sha256(&m), cal["commitment"]);
}

#[test]
fn the_documented_calendar_vector_holds() {
    let v = &vector()["calendar"];
    let s = &v["spread"];
    let mut stream = KeyStream::new(hex_32("k", s["streamKey"].as_str().unwrap()).unwrap());
    let n = u32::try_from(s["n"].as_u64().unwrap()).unwrap();
    let moments = spread(
        s["start"].as_i64().unwrap(),
        s["end"].as_i64().unwrap(),
        n,
        &mut stream,
    )
    .unwrap();
    let expected: Vec<i64> = s["moments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_i64().unwrap())
        .collect();
    assert_eq!(moments, expected);

    let listed: Vec<Moment> = serde_json::from_value(v["moments"].clone()).unwrap();
    let salt = hex_32("salt", v["salt"].as_str().unwrap()).unwrap();
    // Sealed from the reverse order: seal sorts.
    let sealed = seal(
        v["campaignId"].as_str().unwrap(),
        listed.iter().rev().cloned().collect(),
        salt,
    )
    .unwrap();
    assert_eq!(sealed.moments, listed);
    assert_eq!(sealed.commitment, v["commitment"]);
    verify_calendar(&sealed).unwrap();
}

// ---------------------------------------------------------------------------------------
// Determinism and verification.

#[test]
fn the_same_inputs_always_give_the_same_winners_whatever_the_candidate_order() {
    let a = sample();
    let mut shuffled = ids(10);
    shuffled.reverse();
    shuffled.swap(2, 7);
    let b = draw(inputs(
        shuffled,
        &["voucher", "voucher", "t-shirt"],
        "abc123",
    ))
    .unwrap();
    assert_eq!(a, b);
    assert_eq!(a.winners.len(), 3);
    // A different public value gives a different seed (and here different winners).
    let c = draw(inputs(
        ids(10),
        &["voucher", "voucher", "t-shirt"],
        "abc124",
    ))
    .unwrap();
    assert_ne!(a.seed, c.seed);
    assert_ne!(a.winners, c.winners);
}

#[test]
fn verify_draw_accepts_an_untouched_record_also_after_a_json_round_trip() {
    let record = sample();
    assert_eq!(verify_draw(&record).unwrap(), record.winners);
    let text = serde_json::to_string_pretty(&record).unwrap();
    let back = DrawRecord::from_json(&text).unwrap();
    assert_eq!(back, record);
    assert_eq!(verify_draw(&back).unwrap(), record.winners);
    // camelCase, no sub anywhere.
    let json: Value = serde_json::from_str(&text).unwrap();
    for key in [
        "algorithm",
        "version",
        "campaignId",
        "drawnAt",
        "candidates",
        "candidatesSha256",
        "prizeUnits",
        "publicSource",
        "publicValue",
        "secret",
        "secretCommitment",
        "seed",
        "picks",
        "disqualifications",
        "winners",
        "unawarded",
    ] {
        assert!(json.get(key).is_some(), "{key} in the record");
    }
    assert_eq!(json.as_object().unwrap().len(), 16);
    assert!(!text.contains("\"sub\""));
}

#[test]
fn verify_draw_refuses_a_changed_candidate() {
    let good = sample();
    let loser = good
        .candidates
        .iter()
        .find(|c| !good.winners.iter().any(|w| &w.participation_id == *c))
        .unwrap()
        .clone();

    // Replaced (still sorted): the hash no longer matches.
    let mut r = good.clone();
    let at = r.candidates.iter().position(|c| *c == loser).unwrap();
    r.candidates[at] = format!("{loser}x");
    assert_mismatch(&r, "candidatesSha256");

    // Removed, or added.
    let mut r = good.clone();
    r.candidates.retain(|c| *c != loser);
    assert_mismatch(&r, "candidatesSha256");
    let mut r = good.clone();
    r.candidates.push("q-9999".into());
    assert_mismatch(&r, "candidatesSha256");

    // Changed together with a recomputed hash: the seed no longer matches.
    let mut r = good.clone();
    r.candidates.retain(|c| *c != loser);
    r.candidates_sha256 = candidates_sha256(&r.candidates).unwrap();
    assert_mismatch(&r, "seed");
}

#[test]
fn verify_draw_refuses_a_changed_public_value_or_source() {
    let mut r = sample();
    r.public_value = "abc124".into();
    assert_mismatch(&r, "seed");
    let mut r = sample();
    r.public_source = "drand quicknet round 1234568".into();
    assert_mismatch(&r, "seed");
}

#[test]
fn verify_draw_refuses_a_changed_secret() {
    let good = sample();
    let mut r = good.clone();
    r.secret = to_hex(&[8; 32]);
    assert_mismatch(&r, "secretCommitment");
    // With a matching commitment (a secret swapped before publication would have needed
    // this): the seed no longer matches.
    r.secret_commitment = secret_commitment(&[8; 32]);
    assert_mismatch(&r, "seed");
}

#[test]
fn verify_draw_refuses_a_changed_winner() {
    let good = sample();
    let outsider = good
        .candidates
        .iter()
        .find(|c| !good.winners.iter().any(|w| &w.participation_id == *c))
        .unwrap()
        .clone();

    let mut r = good.clone();
    r.winners[1].participation_id = outsider.clone();
    assert_mismatch(&r, "winners[1].participationId");

    // Changed in both lists.
    let mut r = good.clone();
    r.winners[0].participation_id = outsider.clone();
    r.picks[0].participation_id = outsider;
    assert_mismatch(&r, "picks[0].participationId");

    // Two winners swapped (prizes follow the pick order).
    let mut r = good.clone();
    r.winners.swap(0, 2);
    assert_mismatch(&r, "winners[0].pick");

    // A winner dropped, or one added.
    let mut r = good.clone();
    r.winners.pop();
    assert_mismatch(&r, "winners");
    let mut r = good;
    r.winners.push(r.winners[0].clone());
    assert_mismatch(&r, "winners");
}

#[test]
fn verify_draw_refuses_a_changed_prize_unit() {
    let good = sample();
    // The units are hashed into the seed.
    let mut r = good.clone();
    r.prize_units[2] = "car".into();
    assert_mismatch(&r, "seed");
    let mut r = good.clone();
    r.prize_units.swap(0, 2);
    assert_mismatch(&r, "seed");
    // A winner's prize changed.
    let mut r = good.clone();
    r.winners[2].prize_id = "voucher".into();
    assert_mismatch(&r, "winners[2].prizeId");
    // A unit moved to the unawarded list.
    let mut r = good;
    r.unawarded.push("t-shirt".into());
    assert_mismatch(&r, "unawarded");
}

#[test]
fn a_forger_who_recomputes_every_hash_still_cannot_choose_the_winners() {
    // Change the public value and restate every derived hash: the picks betray it.
    let good = sample();
    let forged_seed = draw(inputs(ids(10), &["voucher", "voucher", "t-shirt"], "zzz"))
        .unwrap()
        .seed;
    let mut r = good;
    r.public_value = "zzz".into();
    r.seed = forged_seed;
    assert_eq!(field_of(verify_draw(&r)).0, "mismatch");
    assert!(field_of(verify_draw(&r)).1.starts_with("picks["));
}

// ---------------------------------------------------------------------------------------
// Disqualification and redraw.

#[test]
fn a_redraw_after_a_disqualification_verifies_and_continues_the_same_stream() {
    let first = sample();
    let out = first.winners[1].clone();
    let redrawn = redraw(&first, &out.participation_id, "fraud", 1_767_300_000).unwrap();
    let record = &redrawn.record;
    assert_eq!(redrawn.freed_prize, out.prize_id);
    let replacement = redrawn.replacement.clone().unwrap();
    assert_eq!(replacement.pick, 3, "the next pick of the stream");
    assert_eq!(replacement.prize_id, out.prize_id, "takes the freed unit");
    assert!(
        !first
            .picks
            .iter()
            .any(|p| p.participation_id == replacement.participation_id),
        "never someone picked before"
    );
    // The first picks are unchanged: a redraw does not redo the draw.
    assert_eq!(record.picks[..3], first.picks[..]);
    assert_eq!(record.disqualifications.len(), 1);
    assert_eq!(
        record.disqualifications[0].participation_id,
        out.participation_id
    );
    assert_eq!(record.disqualifications[0].reason, "fraud");
    assert_eq!(
        verify_draw(record).unwrap(),
        vec![
            first.winners[0].clone(),
            first.winners[2].clone(),
            replacement.clone()
        ]
    );

    // A second disqualification, of the replacement: the stream goes on.
    let again = redraw(
        record,
        &replacement.participation_id,
        "unreachable",
        1_767_400_000,
    )
    .unwrap();
    assert_eq!(again.replacement.unwrap().pick, 4);
    assert_eq!(verify_draw(&again.record).unwrap().len(), 3);

    // A record that drops its pick history is refused.
    let mut replay = again.record.clone();
    replay.picks.clear();
    replay.winners.clear();
    assert_mismatch(&replay, "picks");
}

#[test]
fn only_a_current_winner_can_be_disqualified() {
    let first = sample();
    let outsider = first
        .candidates
        .iter()
        .find(|c| !first.winners.iter().any(|w| &w.participation_id == *c))
        .unwrap()
        .clone();
    assert!(matches!(
        redraw(&first, &outsider, "fraud", 0),
        Err(FairnessError::NotAWinner { .. })
    ));
    let w = first.winners[0].participation_id.clone();
    let once = redraw(&first, &w, "fraud", 0).unwrap().record;
    assert!(matches!(
        redraw(&once, &w, "fraud", 0),
        Err(FairnessError::NotAWinner { .. })
    ));
    assert!(redraw(&first, &w, "", 0).is_err(), "a reason is required");

    // A record whose disqualification names a non-winner is refused.
    let mut r = once.clone();
    r.disqualifications[0].participation_id = outsider;
    assert_invalid(&r, "disqualifications[0].participationId");
    // A disqualification deleted from the record: the replacement pick is unexplained.
    let mut r = once.clone();
    r.disqualifications.clear();
    assert_mismatch(&r, "picks");
    // A tampered record is not extended.
    let mut r = once;
    r.public_value = "other".into();
    assert_eq!(
        redraw(&r, &r.winners[0].participation_id.clone(), "fraud", 0)
            .unwrap_err()
            .code(),
        "mismatch"
    );
}

#[test]
fn units_are_unawarded_when_candidates_run_out() {
    let record = draw(inputs(ids(2), &["a", "b", "c"], "v")).unwrap();
    assert_eq!(record.winners.len(), 2);
    assert_eq!(record.unawarded, vec!["c".to_owned()]);
    verify_draw(&record).unwrap();
    // Disqualify a winner: nobody is left, the unit goes back unawarded.
    let w = record.winners[0].clone();
    let redrawn = redraw(&record, &w.participation_id, "fraud", 1).unwrap();
    assert_eq!(redrawn.replacement, None);
    assert_eq!(redrawn.record.unawarded, vec!["c".to_owned(), w.prize_id]);
    verify_draw(&redrawn.record).unwrap();

    // No candidates at all, or no units.
    let empty = draw(inputs(Vec::new(), &["a"], "v")).unwrap();
    assert!(empty.winners.is_empty());
    verify_draw(&empty).unwrap();
    let none = draw(inputs(ids(3), &[], "v")).unwrap();
    assert!(none.picks.is_empty());
    verify_draw(&none).unwrap();
}

// ---------------------------------------------------------------------------------------
// Hostile records and inputs.

#[test]
fn hostile_inputs_get_clear_errors_not_panics() {
    let dup = vec!["p-1".to_owned(), "p-2".to_owned(), "p-1".to_owned()];
    let err = draw(inputs(dup, &["a"], "v")).unwrap_err();
    assert_eq!(
        (err.code(), err.field()),
        ("invalid", Some("candidates[1]"))
    );
    assert!(err.to_string().contains("duplicate"));

    assert!(draw(inputs(vec![String::new()], &["a"], "v")).is_err());
    assert!(draw(inputs(ids(2), &[""], "v")).is_err());
    assert!(draw(inputs(ids(2), &["a"], "")).is_err());
    assert!(draw(inputs(ids(2), &["a"], "value\n")).is_err());
    assert!(draw(inputs(vec!["x".repeat(MAX_ID_BYTES + 1)], &["a"], "v")).is_err());
    let too_many = (0..=MAX_CANDIDATES).map(|i| i.to_string()).collect();
    assert_eq!(
        draw(inputs(too_many, &["a"], "v")).unwrap_err().field(),
        Some("candidates")
    );
}

#[test]
fn hostile_records_get_clear_errors_not_panics() {
    let good = sample();
    let mut r = good.clone();
    r.candidates.swap(0, 1);
    assert_invalid(&r, "candidates[1]");
    let mut r = good.clone();
    r.candidates[1] = r.candidates[0].clone();
    assert_invalid(&r, "candidates[1]");
    let mut r = good.clone();
    // Uppercase hex (the sample secret is all digits: put a letter in).
    r.secret = format!("A{}", &r.secret[1..]);
    assert_invalid(&r, "secret");
    let mut r = good.clone();
    r.seed = "00".into();
    assert_invalid(&r, "seed");
    let mut r = good.clone();
    r.candidates_sha256 = "zz".repeat(32);
    assert_invalid(&r, "candidatesSha256");
    let mut r = good.clone();
    r.algorithm = "other".into();
    assert_invalid(&r, "algorithm");
    let mut r = good.clone();
    r.version = 2;
    assert_invalid(&r, "version");
    let mut r = good.clone();
    r.disqualifications = (0..11)
        .map(|i| draw::Disqualification {
            participation_id: format!("p-{i:04}"),
            reason: "x".into(),
            at: 0,
        })
        .collect();
    assert_invalid(&r, "disqualifications");

    // JSON that is not a record.
    let text = serde_json::to_string(&good).unwrap();
    for bad in [
        "not json".to_owned(),
        "[]".to_owned(),
        text.replacen('{', "{\"sub\":\"alice\",", 1),
        text.replacen('{', "{\"seed\":\"00\",", 1),
        text.replacen("\"version\":1", "\"version\":-1", 1),
        text.replacen("\"drawnAt\":1767225600", "\"drawnAt\":1e400", 1),
    ] {
        let err = DrawRecord::from_json(&bad).unwrap_err();
        assert_eq!(err.code(), "malformed", "{bad:.60}");
    }
}

// ---------------------------------------------------------------------------------------
// Uniformity.
//
// Each statistic is Pearson's chi-square over many draws with fixed inputs (one secret,
// public values "round-0", "round-1", …), so the result is the same on every run: it cannot
// flake. Expected counts are in the thousands, so the statistic of a uniform draw follows
// the chi-square law closely; the threshold is its 0.999 quantile. A correct implementation
// had a 1-in-1000 chance of failing with these fixed inputs, which would have shown when the
// test was written, never later; a biased one fails (the last test shows the statistic
// catches a plain modulo pick).

#[test]
fn the_first_winner_is_uniform_over_the_candidates() {
    let candidates = ids(5);
    let mut counts = [0u64; 5];
    for round in 0..20_000 {
        let r = draw(inputs(
            candidates.clone(),
            &["prize"],
            &format!("round-{round}"),
        ))
        .unwrap();
        let w = &r.winners[0].participation_id;
        counts[candidates.iter().position(|c| c == w).unwrap()] += 1;
    }
    let x2 = chi_square(&counts);
    // 4 degrees of freedom: P(X² > 18.467) = 0.001.
    assert!(x2 < 18.467, "chi-square {x2:.2} over {counts:?}");
}

#[test]
fn ordered_pairs_of_winners_are_uniform() {
    // 4 candidates, 2 units: 12 ordered outcomes (who took the first unit, who the second).
    let candidates = ids(4);
    let mut counts = [0u64; 12];
    for round in 0..24_000 {
        let r = draw(inputs(
            candidates.clone(),
            &["first", "second"],
            &format!("round-{round}"),
        ))
        .unwrap();
        let a = candidates
            .iter()
            .position(|c| *c == r.winners[0].participation_id)
            .unwrap();
        let b = candidates
            .iter()
            .position(|c| *c == r.winners[1].participation_id)
            .unwrap();
        assert_ne!(a, b);
        // Index of (a, b) among the 12 pairs a != b.
        counts[a * 3 + if b > a { b - 1 } else { b }] += 1;
    }
    let x2 = chi_square(&counts);
    // 11 degrees of freedom: P(X² > 31.264) = 0.001.
    assert!(x2 < 31.264, "chi-square {x2:.2} over {counts:?}");
}

#[test]
fn the_uniformity_check_catches_a_biased_pick() {
    // The same stream, picked with a byte modulo 5 after folding to 3 bits: outcomes 0–2
    // twice as likely as 3–4. The statistic must see it, or the tests above prove nothing.
    let mut counts = [0u64; 5];
    for round in 0..20_000 {
        let r = draw(inputs(ids(5), &["prize"], &format!("round-{round}"))).unwrap();
        let mut stream = KeyStream::new(hex_32("seed", &r.seed).unwrap());
        let biased = (stream.next_u64().unwrap() % 8) % 5;
        counts[biased as usize] += 1;
    }
    assert!(chi_square(&counts) > 18.467);
}

// ---------------------------------------------------------------------------------------
// Calendar.

/// Slot i of N over [start, end), computed here from the documented formula.
fn slot(start: i64, end: i64, n: u32, i: u32) -> (i64, i64) {
    let span = i128::from(end) - i128::from(start);
    let from = i128::from(start) + i128::from(i) * span / i128::from(n);
    let to = i128::from(start) + (i128::from(i) + 1) * span / i128::from(n);
    (i64::try_from(from).unwrap(), i64::try_from(to).unwrap())
}

#[test]
fn every_moment_lies_inside_its_slot() {
    let cases: [(i64, i64, u32); 7] = [
        (1_767_225_600, 1_767_225_600 + 86_400, 10),
        (1_767_225_600, 1_767_225_600 + 86_401, 7), // not divisible
        (0, 5, 5),                                  // slots of one second: fixed moments
        (-1_000, 1_000, 3),                         // before the epoch
        (1_700_000_000, 1_700_000_120, 120),
        (i64::MIN / 2, i64::MAX / 2, 1000), // huge window
        (10, 11, 1),
    ];
    for (k, &(start, end, n)) in cases.iter().enumerate() {
        let mut stream = KeyStream::new([u8::try_from(k).unwrap(); 32]);
        let moments = spread(start, end, n, &mut stream).unwrap();
        assert_eq!(moments.len(), n as usize);
        for (i, &m) in moments.iter().enumerate() {
            let (from, to) = slot(start, end, n, u32::try_from(i).unwrap());
            assert!(
                from <= m && m < to,
                "case {k}: moment {i} = {m} outside [{from}, {to})"
            );
        }
        // Consecutive slots meet, and the first and last touch the window's ends.
        assert_eq!(slot(start, end, n, 0).0, start);
        assert_eq!(slot(start, end, n, n - 1).1, end);
    }
    assert_eq!(
        spread(0, 5, 5, &mut KeyStream::new([9; 32])).unwrap(),
        vec![0, 1, 2, 3, 4]
    );
}

#[test]
fn calendars_from_different_randomness_differ_and_the_same_randomness_repeats() {
    let (start, end) = (1_767_225_600, 1_767_225_600 + 30 * 86_400);
    let a = spread(start, end, 10, &mut KeyStream::new([1; 32])).unwrap();
    let b = spread(start, end, 10, &mut KeyStream::new([2; 32])).unwrap();
    let a2 = spread(start, end, 10, &mut KeyStream::new([1; 32])).unwrap();
    assert_ne!(a, b);
    assert_eq!(a, a2);
    // The OS generator: two campaigns with the same configuration get different moments
    // (equal with probability 259,200^-10).
    let x = calendar::spread_os(start, end, 10).unwrap();
    let y = calendar::spread_os(start, end, 10).unwrap();
    assert_ne!(x, y);
    // And no longer the old predictable midpoints.
    let midpoints: Vec<i64> = (0..10)
        .map(|i| start + (end - start) * (2 * i + 1) / 20)
        .collect();
    assert_ne!(x, midpoints);
}

#[test]
fn a_moment_is_uniform_inside_its_slot() {
    // One slot of 10 seconds, 20,000 calendars from fixed keys: each second equally likely.
    let mut counts = [0u64; 10];
    for k in 0u32..20_000 {
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(&k.to_le_bytes());
        let m = spread(100, 110, 1, &mut KeyStream::new(key)).unwrap()[0];
        counts[usize::try_from(m - 100).unwrap()] += 1;
    }
    // 9 degrees of freedom: P(X² > 27.877) = 0.001.
    let x2 = chi_square(&counts);
    assert!(x2 < 27.877, "chi-square {x2:.2} over {counts:?}");
}

#[test]
fn spread_refuses_impossible_windows() {
    let mut s = KeyStream::new([0; 32]);
    assert!(spread(0, 100, 0, &mut s).is_err());
    assert!(spread(100, 100, 1, &mut s).is_err());
    assert!(spread(100, 0, 1, &mut s).is_err());
    assert!(spread(0, 4, 5, &mut s).is_err(), "a slot would be empty");
    assert!(
        spread(i64::MIN, i64::MAX, u32::MAX, &mut s).is_err(),
        "too many moments"
    );
}

fn sealed() -> RevealedCalendar {
    let moments = vec![
        Moment {
            at: 1_767_300_000,
            prize_id: "voucher".into(),
        },
        Moment {
            at: 1_767_250_000,
            prize_id: "t-shirt".into(),
        },
        Moment {
            at: 1_767_250_000,
            prize_id: "car".into(),
        },
    ];
    seal("summer-2026", moments, [3; 32]).unwrap()
}

fn calendar_error(c: &RevealedCalendar) -> (String, String) {
    let e = verify_calendar(c).expect_err("the calendar must be refused");
    (e.code().to_owned(), e.field().unwrap_or("").to_owned())
}

#[test]
fn the_commitment_matches_the_revealed_list_and_salt() {
    let c = sealed();
    // Canonical order: by time, then prize id.
    let order: Vec<&str> = c.moments.iter().map(|m| m.prize_id.as_str()).collect();
    assert_eq!(order, ["car", "t-shirt", "voucher"]);
    verify_calendar(&c).unwrap();
    let text = serde_json::to_string(&c).unwrap();
    let back = RevealedCalendar::from_json(&text).unwrap();
    verify_calendar(&back).unwrap();
    assert_eq!(
        calendar::commitment(&c.campaign_id, &c.moments, &[3; 32]).map(|h| to_hex(&h)),
        Ok(c.commitment.clone())
    );
    // A fresh salt each time: the same list commits differently.
    let a = calendar::seal_os("summer-2026", c.moments.clone()).unwrap();
    let b = calendar::seal_os("summer-2026", c.moments.clone()).unwrap();
    assert_ne!(a.salt, b.salt);
    assert_ne!(a.commitment, b.commitment);
    verify_calendar(&a).unwrap();
}

#[test]
fn a_changed_moment_salt_campaign_or_order_fails_the_calendar() {
    let good = sealed();
    let mismatch = ("mismatch".to_owned(), "commitment".to_owned());

    let mut c = good.clone();
    c.moments[2].at += 1;
    assert_eq!(calendar_error(&c), mismatch);
    let mut c = good.clone();
    c.moments[2].prize_id = "car".into();
    c.moments.sort();
    assert_eq!(calendar_error(&c), mismatch);
    let mut c = good.clone();
    c.moments.pop();
    assert_eq!(calendar_error(&c), mismatch);
    let mut c = good.clone();
    c.moments.push(good.moments[2].clone());
    assert_eq!(calendar_error(&c), mismatch);
    let mut c = good.clone();
    c.salt = to_hex(&[4; 32]);
    assert_eq!(calendar_error(&c), mismatch);
    let mut c = good.clone();
    c.campaign_id = "summer-2027".into();
    assert_eq!(calendar_error(&c), mismatch);
    let mut c = good.clone();
    c.commitment = to_hex(&[0; 32]);
    assert_eq!(calendar_error(&c), mismatch);

    let mut c = good.clone();
    c.moments.swap(0, 2);
    assert_eq!(
        calendar_error(&c),
        ("invalid".to_owned(), "moments[1]".to_owned())
    );
    let mut c = good.clone();
    c.salt = format!("A{}", &good.salt[1..]);
    assert_eq!(
        calendar_error(&c),
        ("invalid".to_owned(), "salt".to_owned())
    );
    let mut c = good.clone();
    c.algorithm = "campaign-token-calendar-v2".into();
    assert_eq!(calendar_error(&c).1, "algorithm");
    let mut c = good.clone();
    c.moments[0].prize_id = String::new();
    assert_eq!(calendar_error(&c).1, "moments[0].prizeId");

    let text = serde_json::to_string(&good).unwrap();
    for bad in [
        text.replacen('{', "{\"extra\":1,", 1),
        text.replacen('{', "{\"salt\":\"00\",", 1),
        "{}".to_owned(),
        "\u{0}".to_owned(),
    ] {
        assert_eq!(
            RevealedCalendar::from_json(&bad).unwrap_err().code(),
            "malformed"
        );
    }
}
