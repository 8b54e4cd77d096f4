//! Mints the tokens and keys the benchmarks share, with the project's own signer.
//!
//! `fixtures browser OUT.json` — one key pair and one token per algorithm of the library's
//!   table (public key as PEM and as JWK), and the algorithms' names in the table's order
//!   (`algNames`), for the Chromium verify benchmark, the page-load benchmark and the report.
//! `fixtures load DIR COUNT CAMPAIGN` — one ES256 key, `DIR/key.pem` (public, for the
//!   server's config) and `DIR/tokens.txt`: COUNT tokens, one per line, each for a unique
//!   `sub`, all allowed to win (`gift.cw = true`), so every request exercises allocation.
//! `fixtures load DIR COUNT CAMPAIGN FILL` — the same, plus `DIR/fill.txt`: FILL more tokens of
//!   the same key and campaign for other `sub`s, which the load benchmark posts first so the
//!   measured run meets a database already holding FILL participations.

use std::io::Write;

use campaign_token_core::mint::{mint, SigningKey, TokenClaims};
use campaign_token_core::Algorithm;
use serde_json::{json, Map, Value};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn err(e: campaign_token_core::Error) -> Box<dyn std::error::Error> {
    format!("{}: {}", e.code().as_str(), e.message()).into()
}

fn browser(out: &str) -> Res<()> {
    let now = campaign_token_core::now();
    let campaign = "bench-campaign";
    let mut algs = Map::new();
    for alg in Algorithm::ASYMMETRIC {
        let name = alg.name();
        let key = SigningKey::generate(alg)
            .and_then(|k| k.with_algorithm(alg))
            .map_err(err)?;
        // Valid for a day: a benchmark run must never fail on expiry.
        let claims = TokenClaims::new("participant-42", campaign, now, 86_400)
            .with_gift(Some(true), Some("A weekend in Lisbon"));
        algs.insert(
            name.into(),
            json!({
                "token": mint(&key, &claims).map_err(err)?,
                "pem": key.public_pem().map_err(err)?,
                "jwk": key.public_jwk(),
            }),
        );
    }
    let names: Vec<&str> = Algorithm::ASYMMETRIC.map(Algorithm::name).to_vec();
    let doc = json!({
        "campaignId": campaign,
        "label": "A weekend in Lisbon",
        "algNames": names,
        "algs": Value::Object(algs),
    });
    std::fs::write(out, serde_json::to_string_pretty(&doc)?)?;
    Ok(())
}

fn load(dir: &str, count: usize, campaign: &str, fill: usize) -> Res<()> {
    std::fs::create_dir_all(dir)?;
    let now = campaign_token_core::now();
    let key = SigningKey::generate(Algorithm::Es256).map_err(err)?;
    std::fs::write(format!("{dir}/key.pem"), key.public_pem().map_err(err)?)?;
    let write = |file: &str, prefix: &str, n: usize| -> Res<()> {
        let mut out = std::io::BufWriter::new(std::fs::File::create(format!("{dir}/{file}"))?);
        for i in 0..n {
            let claims = TokenClaims::new(format!("{prefix}-{now}-{i}"), campaign, now, 86_400)
                .with_gift(Some(true), None);
            writeln!(out, "{}", mint(&key, &claims).map_err(err)?)?;
        }
        out.flush()?;
        Ok(())
    };
    write("tokens.txt", "load", count)?;
    if fill > 0 {
        write("fill.txt", "fill", fill)?;
    }
    Ok(())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["browser", out] => browser(out),
        ["load", dir, count, campaign] => load(dir, count.parse()?, campaign, 0),
        ["load", dir, count, campaign, fill] => {
            load(dir, count.parse()?, campaign, fill.parse()?)
        }
        _ => Err(
            "usage: fixtures browser OUT.json | fixtures load DIR COUNT CAMPAIGN [FILL]".into(),
        ),
    }
}
