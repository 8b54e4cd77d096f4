//! `verify-draw` and `verify-calendar` as an auditor runs them: the real binary on real
//! files, with the exit codes scripts rely on (0 verified, 1 refused, 2 bad usage).

// Helpers outside `#[test]` functions unwrap too: a panic in a test is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use campaign_token_core::fairness::calendar::{seal, Moment, RevealedCalendar};
use campaign_token_core::fairness::draw::{draw, redraw, DrawInputs, DrawRecord};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_campaign-token");

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Output {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }

    fn verified(&self) -> Value {
        assert_eq!(
            self.code, 0,
            "expected exit 0: {} {}",
            self.stdout, self.stderr
        );
        let json = self.json();
        assert_eq!(json["ok"], true);
        json
    }

    /// `(code, field)` of a refusal: exit 1 with `{"ok": false, "error": {…}}` on stdout.
    fn refused(&self) -> (String, String) {
        assert_eq!(
            self.code, 1,
            "expected exit 1: {} {}",
            self.stdout, self.stderr
        );
        let json = self.json();
        assert_eq!(json["ok"], false);
        let error = &json["error"];
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
        (
            error["code"].as_str().unwrap().to_owned(),
            error["field"].as_str().unwrap_or("").to_owned(),
        )
    }

    fn usage_error(&self) -> &str {
        assert_eq!(
            self.code, 2,
            "expected exit 2: {} {}",
            self.stdout, self.stderr
        );
        assert!(self.stdout.is_empty(), "nothing on stdout: {}", self.stdout);
        assert!(!self.stderr.trim().is_empty(), "a reason on stderr");
        &self.stderr
    }
}

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The tool may exit before reading stdin (a usage error): a broken pipe is fine.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    let out = child.wait_with_output().unwrap();
    Output {
        code: out.status.code().expect("exited, not killed by a signal"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn record() -> DrawRecord {
    draw(DrawInputs {
        campaign_id: "summer-2026".into(),
        candidates: (0..12).map(|i| format!("p-{i:02}")).collect(),
        prize_units: vec!["voucher".into(), "voucher".into(), "t-shirt".into()],
        secret: [9; 32],
        public_source: "drand quicknet round 1234567".into(),
        public_value: "0123abcd".into(),
        drawn_at: 1_767_225_600,
    })
    .unwrap()
}

fn calendar() -> RevealedCalendar {
    let moments = vec![
        Moment {
            at: 1_767_250_000,
            prize_id: "voucher".into(),
        },
        Moment {
            at: 1_767_260_000,
            prize_id: "t-shirt".into(),
        },
    ];
    seal("summer-2026", moments, [5; 32]).unwrap()
}

/// Writes a record or calendar (as JSON) to `dir/name`; returns the path.
fn write(dir: &Path, name: &str, json: Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn verify_draw_exits_0_and_prints_the_winners_of_an_untouched_record() {
    let dir = tempfile::tempdir().unwrap();
    let r = record();
    let path = write(dir.path(), "record.json", serde_json::to_value(&r).unwrap());
    let json = run(&["verify-draw", &path], b"").verified();
    assert_eq!(json["winners"], serde_json::to_value(&r.winners).unwrap());
    assert_eq!(json["seed"], r.seed.as_str());
    assert_eq!(json["candidates"], 12);

    // With the commitment published at the start, and from stdin.
    let text = serde_json::to_vec(&r).unwrap();
    let json = run(
        &[
            "verify-draw",
            "-",
            "--secret-commitment",
            &r.secret_commitment,
        ],
        &text,
    )
    .verified();
    assert_eq!(json["winners"].as_array().unwrap().len(), 3);
}

/// The example record shown in docs/fairness.md.
fn documented_example() -> String {
    let doc = include_str!("../../docs/fairness.md");
    let start = doc.find("<!-- example-record:begin -->").unwrap();
    let end = doc.find("<!-- example-record:end -->").unwrap();
    let block = doc[start..end].split_once("```json").unwrap().1;
    block.split_once("```").unwrap().0.to_owned()
}

#[test]
fn the_example_record_in_the_docs_verifies_with_the_tool() {
    let example = documented_example();
    let json = run(&["verify-draw", "-"], example.as_bytes()).verified();
    let winners: Vec<&str> = json["winners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["participationId"].as_str().unwrap())
        .collect();
    assert_eq!(winners, ["p-05", "p-06", "p-01"]);
    let tampered = example.replace("\"publicValue\": \"test", "\"publicValue\": \"Test");
    assert_ne!(tampered, example);
    assert_eq!(
        run(&["verify-draw", "-"], tampered.as_bytes()).refused(),
        ("mismatch".into(), "seed".into())
    );
}

#[test]
fn verify_draw_checks_redraws_too() {
    let dir = tempfile::tempdir().unwrap();
    let r = record();
    let out = r.winners[0].participation_id.clone();
    let redrawn = redraw(&r, &out, "fraud", 1_767_300_000).unwrap().record;
    let path = write(
        dir.path(),
        "record.json",
        serde_json::to_value(&redrawn).unwrap(),
    );
    let json = run(&["verify-draw", &path], b"").verified();
    assert_eq!(
        json["disqualifications"][0]["participationId"],
        out.as_str()
    );
    assert_eq!(json["winners"][2]["pick"], 3);

    // The disqualification erased: the replacement pick no longer follows.
    let mut tampered = redrawn;
    tampered.disqualifications.clear();
    let path = write(
        dir.path(),
        "tampered.json",
        serde_json::to_value(&tampered).unwrap(),
    );
    assert_eq!(
        run(&["verify-draw", &path], b"").refused(),
        ("mismatch".into(), "picks".into())
    );
}

#[test]
fn verify_draw_exits_1_and_names_the_field_that_differs() {
    let dir = tempfile::tempdir().unwrap();
    let good = record();
    let outsider = good
        .candidates
        .iter()
        .find(|c| !good.winners.iter().any(|w| &w.participation_id == *c))
        .unwrap()
        .clone();

    let mut r = good.clone();
    r.winners[0].participation_id = outsider;
    let path = write(dir.path(), "winner.json", serde_json::to_value(&r).unwrap());
    let out = run(&["verify-draw", &path], b"");
    assert_eq!(
        out.refused(),
        ("mismatch".into(), "winners[0].participationId".into())
    );
    assert_eq!(
        out.json()["error"]["recorded"],
        r.winners[0].participation_id.as_str()
    );

    let mut r = good.clone();
    r.public_value = "0123abce".into();
    let path = write(dir.path(), "public.json", serde_json::to_value(&r).unwrap());
    assert_eq!(
        run(&["verify-draw", &path], b"").refused(),
        ("mismatch".into(), "seed".into())
    );

    let mut r = good.clone();
    r.candidates.push("p-99".into());
    let path = write(
        dir.path(),
        "candidates.json",
        serde_json::to_value(&r).unwrap(),
    );
    assert_eq!(
        run(&["verify-draw", &path], b"").refused(),
        ("mismatch".into(), "candidatesSha256".into())
    );

    // A record that is not one: not JSON, or with a `sub`.
    let path = dir.path().join("garbage.json");
    std::fs::write(&path, "{not json").unwrap();
    assert_eq!(
        run(&["verify-draw", path.to_str().unwrap()], b"")
            .refused()
            .0,
        "malformed"
    );
    let text = serde_json::to_string(&good)
        .unwrap()
        .replacen('{', "{\"sub\":\"alice\",", 1);
    assert_eq!(
        run(&["verify-draw", "-"], text.as_bytes()).refused().0,
        "malformed"
    );
    assert_eq!(
        run(&["verify-draw", "-"], b"\xff\xfe").refused().0,
        "malformed"
    );

    // Self-consistent, but not the commitment published at the start.
    let path = write(
        dir.path(),
        "good.json",
        serde_json::to_value(&good).unwrap(),
    );
    let other = "ab".repeat(32);
    assert_eq!(
        run(&["verify-draw", &path, "--secret-commitment", &other], b"").refused(),
        ("mismatch".into(), "secretCommitment".into())
    );
}

#[test]
fn verify_draw_exits_2_on_bad_usage() {
    let dir = tempfile::tempdir().unwrap();
    run(&["verify-draw"], b"").usage_error();
    let missing = dir.path().join("missing.json");
    let err = run(&["verify-draw", missing.to_str().unwrap()], b"")
        .usage_error()
        .to_owned();
    assert!(err.contains("missing.json"), "{err}");
    run(&["verify-draw", dir.path().to_str().unwrap()], b"").usage_error();
    let path = write(
        dir.path(),
        "good.json",
        serde_json::to_value(record()).unwrap(),
    );
    run(
        &["verify-draw", &path, "--secret-commitment", "nothex"],
        b"",
    )
    .usage_error();
}

#[test]
fn verify_calendar_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let good = calendar();
    let path = write(
        dir.path(),
        "calendar.json",
        serde_json::to_value(&good).unwrap(),
    );
    let json = run(&["verify-calendar", &path], b"").verified();
    assert_eq!(json["moments"], 2);
    run(
        &["verify-calendar", &path, "--commitment", &good.commitment],
        b"",
    )
    .verified();

    let mut c = good.clone();
    c.moments[1].at += 1;
    let changed = write(dir.path(), "moment.json", serde_json::to_value(&c).unwrap());
    assert_eq!(
        run(&["verify-calendar", &changed], b"").refused(),
        ("mismatch".into(), "commitment".into())
    );
    let mut c = good.clone();
    c.moments.swap(0, 1);
    let swapped = write(dir.path(), "order.json", serde_json::to_value(&c).unwrap());
    assert_eq!(
        run(&["verify-calendar", &swapped], b"").refused(),
        ("invalid".into(), "moments[1]".into())
    );
    let other = "cd".repeat(32);
    assert_eq!(
        run(&["verify-calendar", &path, "--commitment", &other], b"").refused(),
        ("mismatch".into(), "commitment".into())
    );

    run(&["verify-calendar"], b"").usage_error();
    let missing = dir.path().join("missing.json");
    run(&["verify-calendar", missing.to_str().unwrap()], b"").usage_error();
}
