//! `campaign-token`: the token tool for a brand's developers.
//!
//! `keygen` writes a key pair (PEM and JWKS), `mint` signs a token, `inspect` decodes one
//! without trusting it, and `verify` judges one with [`campaign_token_core::Verifier::verify`],
//! the very function the browser module and the allocation server call, so its verdict is
//! theirs. `verify-draw` and `verify-calendar` check what a campaign published about its
//! winners (see `fairness.rs`).
//!
//! Exit codes: 0 success (a valid token for `verify`), 1 a rejected token (the error is
//! printed as JSON on stdout), 2 bad usage (bad arguments, unreadable or unusable files;
//! the reason on stderr).

mod fairness;

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use campaign_token_core::mint::{self, SigningKey, TokenClaims};
use campaign_token_core::{Algorithm, KeySet, Policy, Verifier};
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand};
use serde_json::{json, Value};

/// Exit code for a token that was read and rejected.
const EXIT_REJECTED: u8 = 1;
/// Exit code for bad usage: arguments, files, keys.
const EXIT_USAGE: u8 = 2;
/// Most bytes read from stdin. Far above any acceptable token (8 KiB by default, 64 KiB at
/// most), so an oversized token still reaches the verifier and gets `too_large`, while an
/// endless stream cannot exhaust memory.
const MAX_STDIN_BYTES: u64 = 4 * 1024 * 1024;

/// Generate keys, mint, inspect and verify campaign tokens.
#[derive(Debug, Parser)]
#[command(name = "campaign-token", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a key pair: private.pem (mode 0600), public.pem and jwks.json.
    Keygen {
        /// Signing algorithm.
        #[arg(long, value_parser = alg_parser())]
        alg: Algorithm,
        /// Directory to write the files to (created if missing).
        #[arg(long, default_value = ".")]
        out_dir: PathBuf,
        /// Key id for the JWKS (default: the key's RFC 7638 thumbprint). Pass the same
        /// `--kid` to `mint`.
        #[arg(long)]
        kid: Option<String>,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Sign a token and print it.
    Mint {
        /// PKCS#8 PEM private key (as written by `keygen`).
        #[arg(long)]
        key: PathBuf,
        /// The campaign the token is for (`campaignId`).
        #[arg(long)]
        campaign: String,
        /// The participant (`sub`).
        #[arg(long)]
        sub: String,
        /// Algorithm, for a key type that signs with several (an RSA key: RS256 by default,
        /// or another RS* or PS*); by default the key type's first.
        #[arg(long, value_parser = alg_parser())]
        alg: Option<Algorithm>,
        /// `gift.cw`: whether the participant can win (true or false).
        #[arg(long, value_name = "true|false")]
        cw: Option<bool>,
        /// `gift.label`: the prize name the page shows.
        #[arg(long)]
        label: Option<String>,
        /// Lifetime, e.g. 90s, 15m, 1h (keep tokens short-lived).
        #[arg(long, default_value = "15m", value_parser = parse_ttl)]
        ttl: u64,
        /// Issuer (`iss`).
        #[arg(long)]
        iss: Option<String>,
        /// Not before (`nbf`), seconds since the epoch.
        #[arg(long, value_name = "UNIX")]
        nbf: Option<u64>,
        /// Key id put in the header (default: the key's thumbprint, as `keygen` uses).
        #[arg(long)]
        kid: Option<String>,
        /// Issue time, seconds since the epoch (default: now).
        #[arg(long, value_name = "UNIX")]
        now: Option<u64>,
        /// A `form` member, to prefill the page's form (repeat for several).
        #[arg(long = "form", value_name = "NAME=VALUE", value_parser = parse_member)]
        form: Vec<(String, String)>,
        /// An `optin` member, true or false (repeat for several).
        #[arg(long = "optin", value_name = "NAME=true|false", value_parser = parse_optin)]
        optin: Vec<(String, bool)>,
    },
    /// Decode a token WITHOUT verifying it (for debugging only).
    Inspect {
        /// The token, or `-` to read it from stdin.
        token: String,
    },
    /// Verify a token exactly as the browser module and the server do.
    Verify {
        /// Public key: SPKI PEM, or a JWKS/JWK JSON file.
        #[arg(long)]
        key: PathBuf,
        /// The campaign being run; the token's `campaignId` must equal it.
        #[arg(long)]
        campaign: String,
        /// Accepted issuer (repeat for several). Without any, `iss` is not checked.
        #[arg(long = "issuer", value_name = "ISSUER")]
        issuers: Vec<String>,
        /// Clock tolerance in seconds for exp, nbf and iat (at most 600).
        #[arg(long, default_value_t = campaign_token_core::policy::DEFAULT_CLOCK_TOLERANCE_SECS)]
        tolerance: u64,
        /// The time to verify at, seconds since the epoch (default: now).
        #[arg(long, value_name = "UNIX")]
        now: Option<u64>,
        /// The token, or `-` to read it from stdin.
        token: String,
    },
    #[command(flatten)]
    Fairness(fairness::FairnessCommand),
}

/// `--form NAME=VALUE`: a member name (not empty) and its string value.
fn parse_member(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.to_owned()))
        }
        _ => Err("expected NAME=VALUE".into()),
    }
}

/// `--optin NAME=true|false`.
fn parse_optin(arg: &str) -> Result<(String, bool), String> {
    let (name, value) = parse_member(arg)?;
    match value.as_str() {
        "true" => Ok((name, true)),
        "false" => Ok((name, false)),
        _ => Err("expected NAME=true or NAME=false".into()),
    }
}

/// `--alg`: one of the asymmetric algorithms, which `--help` and errors list from the
/// library's table.
fn alg_parser() -> impl TypedValueParser<Value = Algorithm> {
    PossibleValuesParser::new(
        Algorithm::ASYMMETRIC.map(|alg| PossibleValue::new(alg.name()).aliases(alg.alias())),
    )
    .try_map(|name| Algorithm::from_name(&name).ok_or("not an asymmetric JWS algorithm"))
}

fn parse_ttl(text: &str) -> Result<u64, String> {
    let ttl = humantime::parse_duration(text).map_err(|e| format!("{e} (try 90s, 15m, 1h)"))?;
    match ttl.as_secs() {
        0 => Err("the lifetime must be at least one second".to_owned()),
        secs => Ok(secs),
    }
}

/// Why a command failed: a usage problem (exit 2, stderr) or a rejected token, record or
/// calendar (exit 1, JSON on stdout).
enum Failure {
    Usage(String),
    Rejected(campaign_token_core::Error),
    /// A refusal whose JSON body is already built.
    Refused(Value),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        Failure::Usage(format!("cannot write output: {e}"))
    }
}

fn main() -> ExitCode {
    // clap prints its own errors and exits 2 for bad usage (0 for --help / --version).
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            let _ = writeln!(io::stderr(), "campaign-token: error: {message}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(Failure::Rejected(error)) => {
            let body = json!({ "error": error });
            match print_json(&body) {
                Ok(()) => ExitCode::from(EXIT_REJECTED),
                Err(_) => ExitCode::from(EXIT_USAGE),
            }
        }
        Err(Failure::Refused(body)) => match print_json(&body) {
            Ok(()) => ExitCode::from(EXIT_REJECTED),
            Err(_) => ExitCode::from(EXIT_USAGE),
        },
    }
}

fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Keygen {
            alg,
            out_dir,
            kid,
            force,
        } => keygen(alg, &out_dir, kid, force),
        Command::Mint {
            key,
            campaign,
            sub,
            alg,
            cw,
            label,
            ttl,
            iss,
            nbf,
            kid,
            now,
            form,
            optin,
        } => {
            let pem = read_file(&key, "private key")?;
            let mut signer = SigningKey::from_pem(&pem, alg)
                .map_err(|e| Failure::Usage(format!("{}: {}", key.display(), e.message())))?;
            if kid.is_some() {
                signer = signer.with_kid(kid);
            }
            if campaign.is_empty() || sub.is_empty() {
                return Err(Failure::Usage(
                    "--campaign and --sub must not be empty".into(),
                ));
            }
            if label.as_deref().is_some_and(|l| l.trim().is_empty()) {
                return Err(Failure::Usage(
                    "--label must not be empty (leave it out instead)".into(),
                ));
            }
            let now = now.unwrap_or_else(campaign_token_core::now);
            let mut claims = TokenClaims::new(sub, campaign, now, ttl);
            if cw.is_some() || label.is_some() {
                claims = claims.with_gift(cw, label.as_deref());
            }
            if let Some(iss) = iss {
                claims = claims.with_issuer(iss);
            }
            claims.nbf = nbf;
            if !form.is_empty() {
                claims.form = Some(form.into_iter().map(|(k, v)| (k, v.into())).collect());
            }
            if !optin.is_empty() {
                claims.optin = Some(optin.into_iter().map(|(k, v)| (k, v.into())).collect());
            }
            let token = mint::mint(&signer, &claims)
                .map_err(|e| Failure::Usage(format!("cannot sign: {}", e.message())))?;
            write_stdout(&token)
        }
        Command::Inspect { token } => {
            let token = read_token(&token)?;
            let unverified = campaign_token_core::inspect(&token).map_err(Failure::Rejected)?;
            print_json(&json!({
                "verified": false,
                "warning": "NOT VERIFIED: anyone can write any header and claims; \
                            use `campaign-token verify` to trust a token",
                "header": unverified.header,
                "payload": unverified.payload,
            }))
        }
        Command::Verify {
            key,
            campaign,
            issuers,
            tolerance,
            now,
            token,
        } => {
            let text = read_file(&key, "key file")?;
            let keys = KeySet::parse(&text)
                .map_err(|e| Failure::Usage(format!("{}: {}", key.display(), e)))?;
            let policy = Policy::new(campaign)
                .and_then(|p| p.with_issuers(issuers).with_clock_tolerance(tolerance))
                .map_err(|e| Failure::Usage(e.to_string()))?;
            let token = read_token(&token)?;
            let verified = Verifier::new(keys, policy)
                .verify(&token, now.unwrap_or_else(campaign_token_core::now))
                .map_err(Failure::Rejected)?;
            let value = serde_json::to_value(&verified)
                .map_err(|e| Failure::Usage(format!("cannot print the result: {e}")))?;
            print_json(&value)
        }
        Command::Fairness(command) => fairness::run(command),
    }
}

fn keygen(alg: Algorithm, dir: &Path, kid: Option<String>, force: bool) -> Result<(), Failure> {
    let mut key = SigningKey::generate(alg)
        .map_err(|e| Failure::Usage(format!("cannot generate a key: {}", e.message())))?;
    if kid.is_some() {
        key = key.with_kid(kid);
    }
    let usage = |e: campaign_token_core::Error| Failure::Usage(e.message().to_owned());
    let private_pem = key.private_pem().map_err(usage)?;
    let public_pem = key.public_pem().map_err(usage)?;
    let jwks = serde_json::to_string_pretty(&key.public_jwks())
        .map_err(|e| Failure::Usage(format!("cannot write the JWKS: {e}")))?;

    fs::create_dir_all(dir)
        .map_err(|e| Failure::Usage(format!("cannot create {}: {e}", dir.display())))?;
    let files = [
        (dir.join("private.pem"), private_pem, true),
        (dir.join("public.pem"), public_pem, false),
        (dir.join("jwks.json"), jwks + "\n", false),
    ];
    // Check all three first, so a refusal never leaves a mixed old/new key pair behind.
    if !force {
        if let Some((path, _, _)) = files.iter().find(|(p, _, _)| p.exists()) {
            return Err(Failure::Usage(format!(
                "{} exists; refusing to overwrite a key (use --force)",
                path.display()
            )));
        }
    }
    for (path, content, private) in &files {
        write_new(path, content.as_bytes(), *private)
            .map_err(|e| Failure::Usage(format!("cannot write {}: {e}", path.display())))?;
    }
    let mut err = io::stderr().lock();
    let kid_hint = key.kid().map(|k| format!(" (kid {k})")).unwrap_or_default();
    writeln!(
        err,
        "wrote {} key pair{kid_hint} to {}: private.pem (keep it secret), public.pem, jwks.json",
        alg,
        dir.display()
    )?;
    // `mint` signs with the key type's first algorithm unless told otherwise.
    if alg.family_default() != alg {
        writeln!(err, "mint with: --alg {alg}")?;
    }
    Ok(())
}

/// Writes a file that did not exist; the private key is created with mode 0600 from the
/// start, so it is never readable by others, not even for a moment.
fn write_new(path: &Path, content: &[u8], private: bool) -> io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path)?;
    file.write_all(content)?;
    file.sync_all()
}

fn read_file(path: &Path, what: &str) -> Result<String, Failure> {
    fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("cannot read the {what} {}: {e}", path.display())))
}

/// The token from the argument, or from stdin for `-`, without surrounding whitespace
/// (a trailing newline from `echo` or a file is not part of a token).
fn read_token(arg: &str) -> Result<String, Failure> {
    if arg != "-" {
        return Ok(arg.trim().to_owned());
    }
    let mut bytes = Vec::new();
    io::stdin()
        .lock()
        .take(MAX_STDIN_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::Usage(format!("cannot read the token from stdin: {e}")))?;
    // Invalid UTF-8 becomes U+FFFD, which no base64url segment contains: the verifier then
    // rejects the token as `malformed` like any other garbage.
    Ok(String::from_utf8_lossy(&bytes).trim().to_owned())
}

fn print_json(value: &Value) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::Usage(format!("cannot print JSON: {e}")))?;
    write_stdout(&text)
}

/// Prints one line. A reader that stops early (`| head`) is not an error: the exit code
/// still tells the verdict.
fn write_stdout(text: &str) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
