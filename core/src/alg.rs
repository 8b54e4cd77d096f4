//! The algorithm table: everything the code knows about each JWS algorithm and each kind of
//! key, in one place.
//!
//! [`Algorithm::spec`] is one row per algorithm: its key family and its signature scheme (with
//! the hash). [`Family::spec`] is one row per key family: its JWK `kty`/`crv`, the size of its
//! public coordinates, its SPKI curve, and the cargo feature that puts it in a build. The rest
//! of the crate translates these rows — into RustCrypto and superboring types natively
//! (`keys/native.rs`, `mint.rs`) — and so do signature backends outside it, which is why the
//! table is public: the browser glue (`src/crypto.rs` of the `campaign-token` crate) turns
//! them into WebCrypto parameters. Each translation is an exhaustive match with no fallback
//! arm: a new algorithm is a new row here plus what only its backend can know (its native key
//! type), and the compiler points at each place.

/// A JWS signature algorithm accepted by some key kind.
///
/// The browser build accepts only the asymmetric ones; the `Hs*` variants exist so that an
/// HMAC token is recognised (and refused as `unsupported_algorithm`) rather than unknown,
/// and so that the server, built with the `hmac` feature, can accept it from a secret key.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// ECDSA on P-384 with SHA-384.
    Es384,
    /// ECDSA on P-521 with SHA-512.
    Es512,
    /// Ed25519 (`EdDSA`, or the fully specified `Ed25519`).
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
    /// HMAC with SHA-256 (server only).
    Hs256,
    /// HMAC with SHA-384 (server only).
    Hs384,
    /// HMAC with SHA-512 (server only).
    Hs512,
}

/// A SHA-2 hash, as the JWS algorithms use it.
// Not `#[non_exhaustive]`: a backend matches it exhaustively, so that a new row fails to
// compile in every backend until each translates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

/// How a signature is made and checked, with the hash it signs.
// Not `#[non_exhaustive]`: a backend matches it exhaustively, so that a new row fails to
// compile in every backend until each translates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// ECDSA; the JWS signature is `r || s`, each as long as the curve's coordinates (RFC 7518
    /// §3.4), which is also WebCrypto's raw format.
    Ecdsa(Hash),
    /// Ed25519 (RFC 8037); its hash is part of the scheme.
    EdDsa,
    /// RSASSA-PKCS1-v1_5.
    Pkcs1(Hash),
    /// RSASSA-PSS, MGF1 with the same hash, and a salt exactly as long as the hash (RFC 7518
    /// §3.5): `hash.len()` is the salt length wherever one is set.
    Pss(Hash),
    /// HMAC (server only).
    Hmac(Hash),
}

/// The kind of a key, which decides the algorithms it can verify.
// Not `#[non_exhaustive]`: a backend matches it exhaustively, so that a new row fails to
// compile in every backend until each translates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// EC P-256 (ES256).
    P256,
    /// EC P-384 (ES384).
    P384,
    /// EC P-521 (ES512).
    P521,
    /// OKP Ed25519 (EdDSA).
    Ed25519,
    /// RSA (RS256/384/512, PS256/384/512).
    Rsa,
    /// A shared secret (HS256/384/512). Only the server can configure one: the browser build
    /// has no way to construct such a key.
    Hmac,
}

/// One algorithm's row of the table.
#[non_exhaustive]
#[derive(Debug, Clone, Copy)]
pub struct AlgSpec {
    /// The header `alg` name.
    pub name: &'static str,
    /// Another name a header may give it: the fully specified name (RFC 9864) of an
    /// algorithm JWS has long called otherwise.
    pub alias: Option<&'static str>,
    /// The kind of key that verifies it.
    pub family: Family,
    /// How the signature is made.
    pub scheme: Scheme,
}

/// One key family's row of the table.
#[non_exhaustive]
#[derive(Debug, Clone, Copy)]
pub struct FamilySpec {
    /// For messages and debug output.
    pub name: &'static str,
    /// The JWK `kty`.
    pub kty: &'static str,
    /// The JWK `crv`; for EC keys also WebCrypto's `namedCurve`.
    pub crv: Option<&'static str>,
    /// Bytes of each public coordinate (EC `x` and `y`, OKP `x`), exactly (RFC 7518 §6.2.1.2);
    /// 0 for families without coordinates.
    pub coordinate_len: usize,
    /// The shortest key accepted, in bytes, where keys vary in size: an RSA modulus of 2048
    /// bits (NIST SP 800-131A; also what `jose` enforces; counted in bits), an HMAC secret of
    /// 32 bytes (RFC 7518 §3.2: at least the hash size — HS256's here; HS384 and HS512 need
    /// 48 and 64, checked per algorithm). 0 where the curve fixes the size.
    pub min_key_len: usize,
    /// The named curve's OID in an EC SubjectPublicKeyInfo.
    pub spki_curve: Option<&'static str>,
    /// The cargo feature that puts the family in a build (`alg-*`; `hmac` for secrets), which
    /// [`FamilySpec::included`] tests; a test holds it to `Cargo.toml`.
    pub feature: &'static str,
    /// Whether this build has it. A token or key of a family left out is treated like an
    /// unsupported one.
    pub included: bool,
}

impl Algorithm {
    /// The asymmetric algorithms, accepted wherever a public key is configured.
    pub const ASYMMETRIC: [Algorithm; 10] = [
        Algorithm::Es256,
        Algorithm::Es384,
        Algorithm::Es512,
        Algorithm::EdDsa,
        Algorithm::Rs256,
        Algorithm::Rs384,
        Algorithm::Rs512,
        Algorithm::Ps256,
        Algorithm::Ps384,
        Algorithm::Ps512,
    ];

    /// The HMAC algorithms, for the server's shared secrets.
    pub(crate) const HMAC: [Algorithm; 3] = [Algorithm::Hs256, Algorithm::Hs384, Algorithm::Hs512];

    /// The table: what each algorithm is.
    // One copy in the module: the browser glue calls it from another crate, and an inlined copy
    // there would carry its own copy of the table's strings.
    #[inline(never)]
    pub const fn spec(self) -> AlgSpec {
        use Family::*;
        use Hash::*;
        let (name, alias, family, scheme) = match self {
            Algorithm::Es256 => ("ES256", None, P256, Scheme::Ecdsa(Sha256)),
            Algorithm::Es384 => ("ES384", None, P384, Scheme::Ecdsa(Sha384)),
            Algorithm::Es512 => ("ES512", None, P521, Scheme::Ecdsa(Sha512)),
            Algorithm::EdDsa => ("EdDSA", Some("Ed25519"), Ed25519, Scheme::EdDsa),
            Algorithm::Rs256 => ("RS256", None, Rsa, Scheme::Pkcs1(Sha256)),
            Algorithm::Rs384 => ("RS384", None, Rsa, Scheme::Pkcs1(Sha384)),
            Algorithm::Rs512 => ("RS512", None, Rsa, Scheme::Pkcs1(Sha512)),
            Algorithm::Ps256 => ("PS256", None, Rsa, Scheme::Pss(Sha256)),
            Algorithm::Ps384 => ("PS384", None, Rsa, Scheme::Pss(Sha384)),
            Algorithm::Ps512 => ("PS512", None, Rsa, Scheme::Pss(Sha512)),
            Algorithm::Hs256 => ("HS256", None, Hmac, Scheme::Hmac(Sha256)),
            Algorithm::Hs384 => ("HS384", None, Hmac, Scheme::Hmac(Sha384)),
            Algorithm::Hs512 => ("HS512", None, Hmac, Scheme::Hmac(Sha512)),
        };
        AlgSpec {
            name,
            alias,
            family,
            scheme,
        }
    }

    /// The algorithm for a header `alg` value. `none` and anything unknown give `None`.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ASYMMETRIC
            .into_iter()
            .chain(Algorithm::HMAC)
            .find(|alg| alg.name() == name || alg.alias() == Some(name))
    }

    /// The header name.
    pub const fn name(self) -> &'static str {
        self.spec().name
    }

    /// Another name [`Algorithm::from_name`] accepts for it (`Ed25519` for EdDSA), if any.
    pub const fn alias(self) -> Option<&'static str> {
        self.spec().alias
    }

    /// The algorithm a key of this one's family signs with when none is named: the family's
    /// first in [`Algorithm::ASYMMETRIC`] (RS256 for RSA keys; every other family has one).
    pub fn family_default(self) -> Algorithm {
        self.spec().family.default_algorithm().unwrap_or(self)
    }

    /// Whether this is an HMAC algorithm.
    pub(crate) const fn is_hmac(self) -> bool {
        matches!(self.spec().scheme, Scheme::Hmac(_))
    }

    /// The exact length of its signatures, where the algorithm alone decides it; `None` for
    /// RSA, whose signatures are as long as the key's modulus.
    pub(crate) const fn signature_len(self) -> Option<usize> {
        let spec = self.spec();
        match spec.scheme {
            Scheme::Ecdsa(_) => Some(2 * spec.family.spec().coordinate_len),
            Scheme::EdDsa => Some(64),
            Scheme::Pkcs1(_) | Scheme::Pss(_) => None,
            Scheme::Hmac(hash) => Some(hash.len()),
        }
    }
}

impl core::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

impl Hash {
    /// The name WebCrypto gives it.
    pub const fn name(self) -> &'static str {
        match self {
            Hash::Sha256 => "SHA-256",
            Hash::Sha384 => "SHA-384",
            Hash::Sha512 => "SHA-512",
        }
    }

    /// Its output length in bytes (also RSASSA-PSS's salt length).
    // A digest's length, not a collection's: there is no empty one.
    #[allow(clippy::len_without_is_empty)]
    pub const fn len(self) -> usize {
        match self {
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }
}

impl Scheme {
    /// The name WebCrypto gives it (`importKey` and `verify` parameters).
    pub const fn webcrypto_name(self) -> &'static str {
        match self {
            Scheme::Ecdsa(_) => "ECDSA",
            Scheme::EdDsa => "Ed25519",
            Scheme::Pkcs1(_) => "RSASSA-PKCS1-v1_5",
            Scheme::Pss(_) => "RSA-PSS",
            Scheme::Hmac(_) => "HMAC",
        }
    }
}

impl Family {
    /// Every family, asymmetric first.
    pub(crate) const ALL: [Family; 6] = [
        Family::P256,
        Family::P384,
        Family::P521,
        Family::Ed25519,
        Family::Rsa,
        Family::Hmac,
    ];

    /// The table: what each key family is. Each row is a constant: reading one column costs
    /// the module a load, not the building of the whole row.
    pub const fn spec(self) -> &'static FamilySpec {
        match self {
            Family::P256 => &FamilySpec {
                name: "EC P-256",
                kty: "EC",
                crv: Some("P-256"),
                coordinate_len: 32,
                min_key_len: 0,
                spki_curve: Some("1.2.840.10045.3.1.7"),
                feature: "alg-es256",
                included: cfg!(feature = "alg-es256"),
            },
            Family::P384 => &FamilySpec {
                name: "EC P-384",
                kty: "EC",
                crv: Some("P-384"),
                coordinate_len: 48,
                min_key_len: 0,
                spki_curve: Some("1.3.132.0.34"),
                feature: "alg-es384",
                included: cfg!(feature = "alg-es384"),
            },
            // 521 bits: 66 bytes a coordinate, and 132-byte signatures.
            Family::P521 => &FamilySpec {
                name: "EC P-521",
                kty: "EC",
                crv: Some("P-521"),
                coordinate_len: 66,
                min_key_len: 0,
                spki_curve: Some("1.3.132.0.35"),
                feature: "alg-es512",
                included: cfg!(feature = "alg-es512"),
            },
            Family::Ed25519 => &FamilySpec {
                name: "OKP Ed25519",
                kty: "OKP",
                crv: Some("Ed25519"),
                coordinate_len: 32,
                min_key_len: 0,
                spki_curve: None,
                feature: "alg-eddsa",
                included: cfg!(feature = "alg-eddsa"),
            },
            Family::Rsa => &FamilySpec {
                name: "RSA",
                kty: "RSA",
                crv: None,
                coordinate_len: 0,
                min_key_len: 2048 / 8,
                spki_curve: None,
                feature: "alg-rsa",
                included: cfg!(feature = "alg-rsa"),
            },
            // A secret is never published as a JWK: `oct` in a public key set is refused.
            Family::Hmac => &FamilySpec {
                name: "HMAC secret",
                kty: "oct",
                crv: None,
                coordinate_len: 0,
                min_key_len: 32,
                spki_curve: None,
                feature: "hmac",
                included: cfg!(feature = "hmac"),
            },
        }
    }

    /// Whether a key of this family verifies `alg`.
    pub(crate) fn accepts(self, alg: Algorithm) -> bool {
        alg.spec().family == self
    }

    /// The algorithm a key of this family signs with, or is checked with, when nothing names
    /// one: its first in [`Algorithm::ASYMMETRIC`] (or [`Algorithm::HMAC`]).
    pub(crate) fn default_algorithm(self) -> Option<Algorithm> {
        Algorithm::ASYMMETRIC
            .into_iter()
            .chain(Algorithm::HMAC)
            .find(|alg| self.accepts(*alg))
    }

    /// The asymmetric family of a JWK's `kty` and `crv`, if this build includes it.
    pub(crate) fn from_jwk(kty: &str, crv: Option<&str>) -> Option<Family> {
        Family::ALL.into_iter().find(|family| {
            let spec = family.spec();
            spec.included
                && spec.kty == kty
                && *family != Family::Hmac
                && (spec.crv.is_none() || spec.crv == crv)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for alg in Algorithm::ASYMMETRIC.into_iter().chain(Algorithm::HMAC) {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
        }
        assert_eq!(Algorithm::from_name("Ed25519"), Some(Algorithm::EdDsa));
        assert_eq!(Algorithm::from_name("none"), None);
        assert_eq!(Algorithm::from_name("NONE"), None);
        assert_eq!(
            Algorithm::from_name("es256"),
            None,
            "names are case-sensitive"
        );
    }

    #[test]
    fn the_asymmetric_list_holds_every_public_key_algorithm_once() {
        for (i, alg) in Algorithm::ASYMMETRIC.into_iter().enumerate() {
            assert!(!alg.is_hmac(), "{alg}");
            assert!(!Algorithm::ASYMMETRIC[..i].contains(&alg), "{alg} twice");
        }
        for alg in Algorithm::HMAC {
            assert!(alg.is_hmac(), "{alg}");
        }
    }

    #[test]
    fn each_family_has_its_algorithms_and_a_default() {
        for family in Family::ALL {
            let algs: Vec<_> = Algorithm::ASYMMETRIC
                .into_iter()
                .chain(Algorithm::HMAC)
                .filter(|a| family.accepts(*a))
                .collect();
            let first = algs
                .first()
                .copied()
                .unwrap_or_else(|| panic!("{family:?}"));
            for alg in algs {
                assert_eq!(alg.family_default(), first, "{alg}");
            }
        }
        assert_eq!(Algorithm::Ps512.family_default(), Algorithm::Rs256);
    }

    #[test]
    fn signature_lengths_and_webcrypto_names_are_those_of_the_standards() {
        let expected = [
            (Algorithm::Es256, Some(64), "ECDSA"),
            (Algorithm::Es384, Some(96), "ECDSA"),
            (Algorithm::Es512, Some(132), "ECDSA"),
            (Algorithm::EdDsa, Some(64), "Ed25519"),
            (Algorithm::Rs256, None, "RSASSA-PKCS1-v1_5"),
            (Algorithm::Ps512, None, "RSA-PSS"),
            (Algorithm::Hs384, Some(48), "HMAC"),
        ];
        for (alg, len, name) in expected {
            assert_eq!(alg.signature_len(), len, "{alg}");
            assert_eq!(alg.spec().scheme.webcrypto_name(), name, "{alg}");
        }
    }

    #[test]
    fn every_family_has_its_cargo_feature_on_by_default() {
        let manifest = include_str!("../Cargo.toml");
        let features = manifest
            .split("\n[features]\n")
            .nth(1)
            .and_then(|rest| rest.split("\n[").next())
            .expect("Cargo.toml has a [features] table");
        let default = features
            .lines()
            .find(|line| line.starts_with("default = "))
            .expect("default features");
        for family in Family::ALL {
            let feature = family.spec().feature;
            assert!(
                features
                    .lines()
                    .any(|l| l.starts_with(&format!("{feature} = "))),
                "{feature} is not a feature of Cargo.toml"
            );
            // Every public key family is in the default build; secrets only where asked for.
            let on = default.contains(&format!("\"{feature}\""));
            assert_eq!(
                on,
                family != Family::Hmac,
                "{feature} in the default features"
            );
        }
    }

    #[test]
    fn jwk_members_select_the_family() {
        for family in Family::ALL {
            let spec = family.spec();
            let expected = (spec.included && family != Family::Hmac).then_some(family);
            assert_eq!(Family::from_jwk(spec.kty, spec.crv), expected, "{family:?}");
        }
        assert_eq!(Family::from_jwk("EC", Some("secp256k1")), None);
        assert_eq!(Family::from_jwk("OKP", Some("X25519")), None);
        assert_eq!(Family::from_jwk("EC", None), None);
        assert_eq!(Family::from_jwk("oct", None), None, "never a public key");
    }
}
