//! The token tool as a brand's developer uses it: the real binary, real files, real exit
//! codes (0 valid, 1 rejected, 2 bad usage). Clocks are fixed with `--now`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use campaign_token_core::Algorithm;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_campaign-token");
const NOW: u64 = 1_700_000_000;
/// Every algorithm the tool signs with: the library's table.
const ALGS: [Algorithm; 10] = Algorithm::ASYMMETRIC;

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

    /// The error code of a rejection (exit 1 with `{"error":{…}}` on stdout).
    fn rejected(&self) -> (String, Option<String>) {
        assert_eq!(
            self.code, 1,
            "expected a rejection: {} {}",
            self.stdout, self.stderr
        );
        let json = self.json();
        let error = &json["error"];
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
        (
            error["code"].as_str().unwrap().to_owned(),
            error["claim"].as_str().map(str::to_owned),
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

fn run_with_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Output {
        code: out.status.code().expect("exited, not killed by a signal"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn run(args: &[&str]) -> Output {
    run_with_stdin(args, "")
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `keygen --alg ALG` into a fresh directory.
fn keygen(alg: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let out = run(&["keygen", "--alg", alg, "--out-dir", path(&keys)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    (dir, keys)
}

fn mint(keys: &Path, alg: &str, extra: &[&str]) -> String {
    let private = keys.join("private.pem");
    let now = NOW.to_string();
    let mut args = vec![
        "mint",
        "--key",
        path(&private),
        "--campaign",
        "summer-2026",
        "--sub",
        "user-42",
        "--now",
        &now,
    ];
    // Only a key type with several algorithms (RSA) needs to be told which.
    if Algorithm::from_name(alg).is_some_and(|a| a.family_default() != a) {
        args.extend(["--alg", alg]);
    }
    args.extend(extra);
    let out = run(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let token = out.stdout.trim().to_owned();
    assert_eq!(token.split('.').count(), 3, "{token}");
    token
}

fn verify(key: &Path, token: &str, extra: &[&str]) -> Output {
    let now = (NOW + 10).to_string();
    let mut args = vec![
        "verify",
        "--key",
        path(key),
        "--campaign",
        "summer-2026",
        "--now",
        &now,
    ];
    args.extend(extra);
    args.push(token);
    run(&args)
}

#[test]
fn every_algorithm_round_trips_keygen_mint_verify_with_pem_and_jwks() {
    for alg in ALGS.map(Algorithm::name) {
        let (_dir, keys) = keygen(alg);
        let token = mint(&keys, alg, &["--cw", "true", "--label", "Spa day"]);
        let jwks: Value =
            serde_json::from_str(&std::fs::read_to_string(keys.join("jwks.json")).unwrap())
                .unwrap();
        let kid = jwks["keys"][0]["kid"].as_str().unwrap().to_owned();
        assert_eq!(jwks["keys"][0]["alg"], alg);
        assert_eq!(jwks["keys"][0]["use"], "sig");
        for key in ["public.pem", "jwks.json"] {
            let out = verify(&keys.join(key), &token, &[]);
            assert_eq!(out.code, 0, "{alg} {key}: {} {}", out.stdout, out.stderr);
            let v = out.json();
            assert_eq!(v["alg"], alg, "{key}");
            assert_eq!(v["kid"], kid.as_str());
            assert_eq!(v["sub"], "user-42");
            assert_eq!(v["campaignId"], "summer-2026");
            assert_eq!(v["iat"], NOW);
            assert_eq!(v["exp"], NOW + 15 * 60, "default ttl is 15 minutes");
            assert_eq!(v["eligibility"], "given-prize");
            assert_eq!(v["prizeLabel"], "Spa day");
            assert_eq!(
                v["gift"],
                serde_json::json!({"cw": true, "label": "Spa day"})
            );
        }
    }
}

#[test]
fn keygen_writes_the_private_key_readable_by_its_owner_only() {
    let (_dir, keys) = keygen("ES256");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(keys.join("private.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let private = std::fs::read_to_string(keys.join("private.pem")).unwrap();
    assert!(private.contains("BEGIN PRIVATE KEY"));
    let public = std::fs::read_to_string(keys.join("public.pem")).unwrap();
    assert!(public.contains("BEGIN PUBLIC KEY") && !public.contains("PRIVATE"));
    let jwks = std::fs::read_to_string(keys.join("jwks.json")).unwrap();
    assert!(!jwks.contains("\"d\""), "no private member in the JWKS");
}

#[test]
fn keygen_refuses_to_overwrite_keys_unless_forced() {
    let (_dir, keys) = keygen("ES256");
    let before = std::fs::read_to_string(keys.join("private.pem")).unwrap();
    for alg in ["ES256", "EdDSA"] {
        let out = run(&["keygen", "--alg", alg, "--out-dir", path(&keys)]);
        assert!(out.usage_error().contains("--force"), "{}", out.stderr);
        assert_eq!(
            std::fs::read_to_string(keys.join("private.pem")).unwrap(),
            before,
            "the existing key is untouched"
        );
    }
    // Even one existing file (say, jwks.json alone) stops it before anything is written.
    let other = keys.parent().unwrap().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("jwks.json"), "{}").unwrap();
    let out = run(&["keygen", "--alg", "ES256", "--out-dir", path(&other)]);
    out.usage_error();
    assert!(!other.join("private.pem").exists());

    let out = run(&[
        "keygen",
        "--alg",
        "ES256",
        "--out-dir",
        path(&keys),
        "--force",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_ne!(
        std::fs::read_to_string(keys.join("private.pem")).unwrap(),
        before
    );
}

#[test]
fn a_custom_kid_must_be_given_to_mint_as_well() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path();
    let out = run(&[
        "keygen",
        "--alg",
        "ES256",
        "--out-dir",
        path(keys),
        "--kid",
        "brand-2026-06",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let jwks = keys.join("jwks.json");
    assert!(std::fs::read_to_string(&jwks)
        .unwrap()
        .contains("\"brand-2026-06\""));
    let token = mint(keys, "ES256", &["--kid", "brand-2026-06"]);
    let out = verify(&jwks, &token, &[]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(out.json()["kid"], "brand-2026-06");
    // Without --kid the header names the key's thumbprint, which this JWKS does not list.
    let token = mint(keys, "ES256", &[]);
    assert_eq!(verify(&jwks, &token, &[]).rejected().0, "unknown_key");
}

#[test]
fn mint_sets_every_optional_claim() {
    let (_dir, keys) = keygen("EdDSA");
    let token = mint(
        &keys,
        "EdDSA",
        &[
            "--cw",
            "false",
            "--label",
            "Car",
            "--ttl",
            "90s",
            "--iss",
            "https://brand.example",
            "--nbf",
            "1700000005",
        ],
    );
    let out = verify(
        &keys.join("public.pem"),
        &token,
        &["--issuer", "https://brand.example"],
    );
    assert_eq!(out.code, 0, "{}", out.stdout);
    let v = out.json();
    assert_eq!(v["exp"], NOW + 90);
    assert_eq!(v["nbf"], 1_700_000_005u64);
    assert_eq!(v["iss"], "https://brand.example");
    assert_eq!(v["eligibility"], "cannot-win");
    assert!(v["prizeLabel"].is_null());
    // Without gift options the token has no gift: standard eligibility.
    let token = mint(&keys, "EdDSA", &[]);
    let v = verify(&keys.join("public.pem"), &token, &[]).json();
    assert_eq!(v["eligibility"], "standard");
    assert!(v["gift"].is_null());
}

#[test]
fn mint_sets_the_whole_contract_and_verify_shows_it() {
    let (_dir, keys) = keygen("ES256");
    let token = mint(
        &keys,
        "ES256",
        &[
            "--limit-nb",
            "3",
            "--can-play",
            "false",
            "--form",
            "firstName=Ada",
            "--form",
            "age:=36",
            "--form",
            "vip:=true",
            "--optin",
            "newsletter=true",
            "--optin",
            "sms=false",
            "--custom",
            "tier=gold",
            "--custom",
            "points:=1.5",
        ],
    );
    let out = verify(&keys.join("public.pem"), &token, &[]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let v = out.json();
    assert_eq!(v["limit"], serde_json::json!({"nb": 3, "canPlay": false}));
    assert_eq!(
        v["form"],
        serde_json::json!({"firstName": "Ada", "age": 36, "vip": true})
    );
    assert_eq!(
        v["optin"],
        serde_json::json!({"newsletter": true, "sms": false})
    );
    assert_eq!(
        v["custom"],
        serde_json::json!({"tier": "gold", "points": 1.5})
    );
    // Values the contract refuses are refused by verify, naming the claim path.
    let token = mint(&keys, "ES256", &["--limit-nb", "0"]);
    let out = verify(&keys.join("public.pem"), &token, &[]);
    assert_eq!(out.code, 1);
    assert_eq!(out.json()["error"]["claim"], "limit.nb");
    // Usage errors for what cannot be a member.
    for bad in [
        &["--optin", "news=yes"][..],
        &["--form", "x:={\"a\":1}"],
        &["--form", "novalue"],
    ] {
        let mut args = vec!["mint", "--key", "k", "--campaign", "c", "--sub", "s"];
        args.extend(bad);
        assert_eq!(run(&args).code, 2, "{bad:?}");
    }
}

#[test]
fn mint_signs_rsa_keys_with_rs256_unless_told_otherwise() {
    let (_dir, keys) = keygen("RS256");
    let private = keys.join("private.pem");
    let out = run(&[
        "mint",
        "--key",
        path(&private),
        "--campaign",
        "c",
        "--sub",
        "s",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let inspected = run(&["inspect", out.stdout.trim()]).json();
    assert_eq!(inspected["header"]["alg"], "RS256");
    let out = run(&[
        "mint",
        "--key",
        path(&private),
        "--campaign",
        "c",
        "--sub",
        "s",
        "--alg",
        "PS384",
    ]);
    let inspected = run(&["inspect", out.stdout.trim()]).json();
    assert_eq!(inspected["header"]["alg"], "PS384");
}

#[test]
fn verify_reports_a_rejected_token_as_json_with_exit_1() {
    let (_dir, keys) = keygen("ES256");
    let public = keys.join("public.pem");
    let token = mint(&keys, "ES256", &["--ttl", "10m"]);
    let exp = NOW + 600;

    // Expired: the clock tolerance (60 s by default, or --tolerance) applies.
    let at = |now: u64, extra: &[&str]| {
        let now = now.to_string();
        let mut args = vec![
            "verify",
            "--key",
            path(&public),
            "--campaign",
            "summer-2026",
            "--now",
            &now,
        ];
        args.extend(extra);
        args.push(&token);
        run(&args)
    };
    assert_eq!(at(exp + 59, &[]).code, 0);
    assert_eq!(
        at(exp + 60, &[]).rejected(),
        ("expired".into(), Some("exp".into()))
    );
    assert_eq!(at(exp + 119, &["--tolerance", "120"]).code, 0);
    assert_eq!(at(exp, &["--tolerance", "0"]).rejected().0, "expired");

    let out = run(&[
        "verify",
        "--key",
        path(&public),
        "--campaign",
        "winter",
        "--now",
        "1700000000",
        &token,
    ]);
    assert_eq!(
        out.rejected(),
        ("wrong_campaign".into(), Some("campaignId".into()))
    );

    let out = verify(&public, &token, &["--issuer", "https://brand.example"]);
    assert_eq!(out.rejected(), ("wrong_issuer".into(), Some("iss".into())));

    let tampered = format!("{}x", &token[..token.len() - 1]);
    let code = verify(&public, &tampered, &[]).rejected().0;
    assert!(code == "bad_signature" || code == "malformed", "{code}");

    let (_other_dir, other) = keygen("ES256");
    let out = verify(&other.join("public.pem"), &token, &[]);
    assert_eq!(out.rejected().0, "bad_signature");

    assert_eq!(verify(&public, "a.b.c.d", &[]).rejected().0, "malformed");
}

#[test]
fn verify_reads_the_token_from_stdin_with_dash_and_trims_it() {
    let (_dir, keys) = keygen("ES384");
    let token = mint(&keys, "ES384", &[]);
    let public = keys.join("jwks.json");
    let args = [
        "verify",
        "--key",
        path(&public),
        "--campaign",
        "summer-2026",
        "--now",
        "1700000001",
        "-",
    ];
    let out = run_with_stdin(&args, &format!("\n  {token}\r\n\n"));
    assert_eq!(out.code, 0, "{} {}", out.stdout, out.stderr);
    assert_eq!(out.json()["sub"], "user-42");
    // Arguments are trimmed too (a token pasted with a trailing newline).
    let mut with_space = args;
    let padded = format!(" {token}\n");
    with_space[7] = &padded;
    assert_eq!(run(&with_space).code, 0);
    // An empty stdin is "no token", a rejection rather than a usage error.
    let out = run_with_stdin(&args, " \n");
    assert_eq!(out.rejected(), ("no_token".into(), None));
    // Bytes that are not UTF-8 are just a malformed token.
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"\xff\xfe.a.b")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_one_megabyte_token_on_stdin_is_too_large() {
    let (_dir, keys) = keygen("EdDSA");
    let huge = "a".repeat(1 << 20);
    let out = run_with_stdin(
        &[
            "verify",
            "--key",
            path(&keys.join("public.pem")),
            "--campaign",
            "c",
            "-",
        ],
        &huge,
    );
    assert_eq!(out.rejected(), ("too_large".into(), None));
}

#[test]
fn inspect_shows_header_and_claims_marked_unverified() {
    let (_dir, keys) = keygen("ES256");
    let token = mint(&keys, "ES256", &["--label", "Spa"]);
    for out in [
        run(&["inspect", &token]),
        run_with_stdin(&["inspect", "-"], &token),
    ] {
        assert_eq!(out.code, 0, "{}", out.stderr);
        let v = out.json();
        assert_eq!(v["verified"], false);
        assert!(v["warning"].as_str().unwrap().contains("NOT VERIFIED"));
        assert_eq!(v["header"]["alg"], "ES256");
        assert_eq!(v["header"]["typ"], "JWT");
        assert_eq!(v["payload"]["sub"], "user-42");
        assert_eq!(v["payload"]["gift"]["label"], "Spa");
    }
    // A forged token inspects just as well: inspect trusts nothing and says so.
    let [h, _p, s]: [&str; 3] = token.split('.').collect::<Vec<_>>().try_into().unwrap();
    let forged_payload =
        campaign_token_core::base64url_encode(br#"{"sub":"admin","gift":{"label":"Car"}}"#);
    let v = run(&["inspect", &format!("{h}.{forged_payload}.{s}")]).json();
    assert_eq!(v["verified"], false);
    assert_eq!(v["payload"]["sub"], "admin");
    // Not a token at all: a rejection.
    assert_eq!(run(&["inspect", "hello"]).rejected().0, "malformed");
    assert_eq!(
        run_with_stdin(&["inspect", "-"], "").rejected().0,
        "no_token"
    );
}

#[test]
fn bad_usage_exits_2_with_a_reason_on_stderr() {
    let (dir, keys) = keygen("ES256");
    let token = mint(&keys, "ES256", &[]);
    let private = keys.join("private.pem");
    let public = keys.join("public.pem");
    let missing = dir.path().join("nope.pem");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a key").unwrap();

    let usage: Vec<Vec<&str>> = vec![
        vec![],
        vec!["frobnicate"],
        vec!["keygen"],
        vec!["keygen", "--alg", "HS256"],
        vec!["keygen", "--alg", "none"],
        vec!["mint", "--key", path(&private), "--campaign", "c"],
        vec![
            "mint",
            "--key",
            path(&private),
            "--campaign",
            "c",
            "--sub",
            "s",
            "--cw",
            "maybe",
        ],
        vec![
            "mint",
            "--key",
            path(&private),
            "--campaign",
            "c",
            "--sub",
            "s",
            "--ttl",
            "soon",
        ],
        vec![
            "mint",
            "--key",
            path(&private),
            "--campaign",
            "c",
            "--sub",
            "s",
            "--ttl",
            "0s",
        ],
        vec![
            "mint",
            "--key",
            path(&private),
            "--campaign",
            "c",
            "--sub",
            "s",
            "--label",
            "",
        ],
        vec![
            "mint",
            "--key",
            path(&private),
            "--campaign",
            "c",
            "--sub",
            "",
        ],
        vec![
            "mint",
            "--key",
            path(&private),
            "--campaign",
            "c",
            "--sub",
            "s",
            "--alg",
            "RS256",
        ],
        vec![
            "mint",
            "--key",
            path(&public),
            "--campaign",
            "c",
            "--sub",
            "s",
        ],
        vec![
            "mint",
            "--key",
            path(&missing),
            "--campaign",
            "c",
            "--sub",
            "s",
        ],
        vec!["verify", "--key", path(&public), &token],
        vec!["verify", "--campaign", "c", &token],
        vec!["verify", "--key", path(&missing), "--campaign", "c", &token],
        vec!["verify", "--key", path(&garbage), "--campaign", "c", &token],
        vec!["verify", "--key", path(&private), "--campaign", "c", &token],
        vec!["verify", "--key", path(&public), "--campaign", "", &token],
        vec![
            "verify",
            "--key",
            path(&public),
            "--campaign",
            "c",
            "--tolerance",
            "601",
            &token,
        ],
        vec![
            "verify",
            "--key",
            path(&public),
            "--campaign",
            "c",
            "--tolerance",
            "-1",
            &token,
        ],
        vec![
            "verify",
            "--key",
            path(&public),
            "--campaign",
            "c",
            "--now",
            "yesterday",
            &token,
        ],
        vec!["verify", "--key", path(&public), "--campaign", "c"],
        vec!["inspect"],
    ];
    for args in usage {
        let out = run(&args);
        assert_eq!(out.code, 2, "{args:?}: {} {}", out.stdout, out.stderr);
        assert!(
            !out.stderr.trim().is_empty(),
            "{args:?}: a reason on stderr"
        );
    }
    // The reasons name the problem.
    let out = run(&["verify", "--key", path(&private), "--campaign", "c", &token]);
    assert!(out.usage_error().contains("private key"), "{}", out.stderr);
    let out = run(&["verify", "--key", path(&missing), "--campaign", "c", &token]);
    assert!(out.usage_error().contains("nope.pem"), "{}", out.stderr);
}

#[test]
fn the_help_lists_every_algorithm_of_the_table_and_usage_errors_too() {
    let listed = |text: &str| {
        let start = text.find("[possible values: ").expect("a list of values") + 18;
        let end = start + text[start..].find(']').unwrap();
        text[start..end]
            .split(", ")
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let names: Vec<String> = ALGS.map(|a| a.name().to_owned()).to_vec();
    for command in ["keygen", "mint"] {
        let help = run(&[command, "--help"]);
        assert_eq!(help.code, 0);
        assert_eq!(listed(&help.stdout), names, "{command} --help");
    }
    let wrong = run(&["keygen", "--alg", "HS512"]);
    assert_eq!(listed(wrong.usage_error()), names);
}

#[test]
fn es512_keys_sign_with_p521_and_jwks_name_the_curve() {
    let (_dir, keys) = keygen("ES512");
    let jwks: Value =
        serde_json::from_str(&std::fs::read_to_string(keys.join("jwks.json")).unwrap()).unwrap();
    let jwk = &jwks["keys"][0];
    assert_eq!(
        (&jwk["kty"], &jwk["crv"], &jwk["alg"]),
        (&"EC".into(), &"P-521".into(), &"ES512".into())
    );
    // RFC 7518 §6.2.1.2: each coordinate is the full 66 bytes (88 base64url characters).
    assert_eq!(jwk["x"].as_str().unwrap().len(), 88);
    assert_eq!(jwk["y"].as_str().unwrap().len(), 88);
    let pem = std::fs::read_to_string(keys.join("public.pem")).unwrap();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
    let token = mint(&keys, "ES512", &[]);
    let inspected = run(&["inspect", &token]).json();
    assert_eq!(inspected["header"]["alg"], "ES512");
    // r || s: 132 bytes, 176 base64url characters.
    assert_eq!(token.rsplit('.').next().unwrap().len(), 176);
    // A P-384 key does not verify it: the alg names another key type.
    let (_other, p384) = keygen("ES384");
    let out = verify(&p384.join("public.pem"), &token, &[]);
    assert_eq!(out.rejected().0, "unsupported_algorithm");
    // Nor does mint sign with a P-521 key under another algorithm.
    let private = keys.join("private.pem");
    let out = run(&[
        "mint",
        "--key",
        path(&private),
        "--campaign",
        "c",
        "--sub",
        "s",
        "--alg",
        "ES256",
    ]);
    out.usage_error();
}

#[test]
fn help_and_version_exit_0() {
    for args in [&["--help"][..], &["--version"], &["verify", "--help"]] {
        let out = run(args);
        assert_eq!(out.code, 0, "{args:?}");
        assert!(!out.stdout.is_empty());
    }
}
