//! The build-time check that refuses to embed a private key (build.rs, CAMPAIGN_TOKEN_EMBED_KEYS)
//! reads the JSON it would embed: an escaped member name (`"\u0064"` is `"d"`) cannot slip a
//! private JWK into a published module, as it did when the check looked for the text `"d"`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// The build script itself, as a module: the function the build calls is the one tested here.
#[allow(dead_code)]
#[path = "../build.rs"]
mod build;

use build::looks_like_private_jwk;

const PUBLIC: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

#[test]
fn a_public_jwks_may_be_embedded() {
    assert!(!looks_like_private_jwk(PUBLIC));
    // A PEM is not JSON: the PEM check (`PRIVATE KEY`) is build.rs's other test.
    assert!(!looks_like_private_jwk(
        "-----BEGIN PUBLIC KEY-----\nMFkw...\n-----END PUBLIC KEY-----\n"
    ));
}

#[test]
fn private_members_are_refused_however_they_are_spelled_and_wherever_they_are() {
    let with =
        |member: &str| PUBLIC.replace(r#""kid":"k1","#, &format!(r#""kid":"k1",{member}:"AAAA","#));
    for member in [
        r#""d""#,
        r#""\u0064""#,
        r#""\u006B""#,
        r#""k""#,
        r#""\u006b""#,
    ] {
        assert!(looks_like_private_jwk(&with(member)), "{member} passed");
    }
    // A single JWK, and a private key nested anywhere.
    assert!(looks_like_private_jwk(
        r#"{"kty":"OKP","crv":"Ed25519","x":"AA","\u0064":"AA"}"#
    ));
    assert!(looks_like_private_jwk(
        r#"{"keys":[],"extra":{"nested":[{"d":"AA"}]}}"#
    ));
    // JSON-looking text that does not parse cannot be checked: refused.
    assert!(looks_like_private_jwk(r#"{"keys":[{"kty":"EC","d":"AA"}"#));
}
