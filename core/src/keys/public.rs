//! Public keys parsed into the public form WebCrypto imports: in every build, the one parser
//! of PEM and JWK keys. Parsing and every rule about which key is acceptable stay here in
//! Rust; a backend only imports the result. The browser glue (`src/crypto.rs`) imports it
//! with `crypto.subtle.importKey` (which also checks that an EC point is on its curve); the
//! native backend (`native.rs`) builds its verifying key from it (and checks the point too).

use crate::alg::Family;
use crate::b64;
use crate::error::Error;

/// How WebCrypto imports a key: `importKey`'s format and key data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebCryptoImport {
    /// DER SubjectPublicKeyInfo (`importKey("spki", …)`), from a PEM `PUBLIC KEY`.
    Spki(Vec<u8>),
    /// The public members of a JWK (`importKey("jwk", …)`): `kty`, `crv`, `x`, `y`, `n`, `e`,
    /// values base64url where the JWK format says so. Nothing else (`alg`, `use`, `key_ops`)
    /// is passed on: this module has applied those already.
    Jwk(Vec<(&'static str, String)>),
}

/// A parsed public key: its family and its public form.
pub(super) struct Parsed {
    family: Family,
    import: WebCryptoImport,
}

impl Parsed {
    pub(super) fn into_parts(self) -> (Family, WebCryptoImport) {
        (self.family, self.import)
    }

    /// An EC key from its JWK coordinates.
    pub(super) fn ec(family: Family, x: &[u8], y: &[u8]) -> Result<Parsed, Error> {
        // Lengths and that the point is on the curve (keys/curve.rs): not left to WebCrypto,
        // which does not check it in every engine.
        super::ec_point(family, x, y)?;
        let spec = family.spec();
        let crv = spec.crv.ok_or(super::bad_ec_point())?;
        Ok(Parsed {
            family,
            import: WebCryptoImport::Jwk(vec![
                ("kty", spec.kty.to_owned()),
                ("crv", crv.to_owned()),
                ("x", b64::encode(x)),
                ("y", b64::encode(y)),
            ]),
        })
    }

    #[cfg(feature = "alg-eddsa")]
    pub(super) fn ed25519(x: &[u8]) -> Result<Parsed, Error> {
        super::check_ed25519(x)?;
        Ok(Parsed {
            family: Family::Ed25519,
            import: WebCryptoImport::Jwk(vec![
                ("kty", "OKP".to_owned()),
                ("crv", "Ed25519".to_owned()),
                ("x", b64::encode(x)),
            ]),
        })
    }

    #[cfg(feature = "alg-rsa")]
    pub(super) fn rsa(n: &[u8], e: &[u8]) -> Result<Parsed, Error> {
        super::check_rsa_modulus(n)?;
        let e = strip_zeros(e);
        // WebCrypto refuses other exponents in some browsers; an even or tiny one is broken.
        if e.is_empty() || e.len() > 8 || e.last().is_none_or(|b| b & 1 == 0) || e == [1] {
            return Err(Error::invalid_key(
                "an RSA key has an unusable public exponent",
            ));
        }
        Ok(Parsed {
            family: Family::Rsa,
            import: WebCryptoImport::Jwk(vec![
                ("kty", "RSA".to_owned()),
                ("n", b64::encode(strip_zeros(n))),
                ("e", b64::encode(e)),
            ]),
        })
    }

    /// A PEM `PUBLIC KEY` (SPKI) or `RSA PUBLIC KEY` (PKCS#1), told apart by label; the SPKI
    /// algorithm identifier names the family.
    #[cfg(feature = "pem")]
    pub(super) fn from_pem(pem: &str) -> Result<Parsed, Error> {
        use der::asn1::{ObjectIdentifier as Oid, UintRef};
        use der::Decode;

        const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
        // The table's SPKI curves, parsed when the crate is compiled (not in the module); an
        // index out of range here fails the build, never a page.
        #[allow(clippy::indexing_slicing)]
        const CURVES: [Option<Oid>; Family::ALL.len()] = {
            let mut curves = [None; Family::ALL.len()];
            let mut i = 0;
            while i < curves.len() {
                if let Some(oid) = Family::ALL[i].spec().spki_curve {
                    curves[i] = Some(Oid::new_unwrap(oid));
                }
                i += 1;
            }
            curves
        };
        const ED25519: Oid = Oid::new_unwrap("1.3.101.112");
        const RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");

        let unsupported = super::unsupported_pem;
        let (label, der) = pem_rfc7468::decode_vec(pem.as_bytes()).map_err(|_| unsupported())?;
        // PKCS#1 RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
        let rsa_components = |bytes: &[u8]| -> Result<(Vec<u8>, Vec<u8>), Error> {
            der::asn1::AnyRef::from_der(bytes)
                .and_then(|any| {
                    any.sequence(|r| {
                        let n = UintRef::decode(r)?;
                        let e = UintRef::decode(r)?;
                        Ok((n.as_bytes().to_vec(), e.as_bytes().to_vec()))
                    })
                })
                .map_err(|_| Error::invalid_key("an RSA PEM key is not a valid public key"))
        };
        match label {
            #[cfg(feature = "alg-rsa")]
            "RSA PUBLIC KEY" => {
                let (n, e) = rsa_components(&der)?;
                Parsed::rsa(&n, &e)
            }
            "PUBLIC KEY" => {
                let spki = spki::SubjectPublicKeyInfoRef::try_from(der.as_slice())
                    .map_err(|_| unsupported())?;
                let curve = spki
                    .algorithm
                    .parameters
                    .and_then(|p| p.decode_as::<Oid>().ok());
                let family = match (spki.algorithm.oid, curve) {
                    // The curves of the table's EC families that this build includes.
                    (EC_PUBLIC_KEY, Some(curve)) => Family::ALL
                        .into_iter()
                        .zip(CURVES)
                        .find(|(family, oid)| family.spec().included && *oid == Some(curve))
                        .map(|(family, _)| family)
                        .ok_or(unsupported())
                        .and_then(|family| {
                            // Only the uncompressed `04 || x || y`, on the curve: the check the
                            // JWK form gets (keys/curve.rs), whatever the engine's WebCrypto does.
                            let point = spki.subject_public_key.as_bytes().ok_or(unsupported())?;
                            let len = family.spec().coordinate_len;
                            match point.split_first() {
                                Some((0x04, xy)) if xy.len() == 2 * len => {
                                    let (x, y) = xy.split_at(len);
                                    super::ec_point(family, x, y)?;
                                    Ok(family)
                                }
                                _ => Err(super::bad_ec_point()),
                            }
                        })?,
                    #[cfg(feature = "alg-eddsa")]
                    (ED25519, None) => {
                        let key = spki.subject_public_key.as_bytes().ok_or(unsupported())?;
                        super::check_ed25519(key)?;
                        Family::Ed25519
                    }
                    #[cfg(feature = "alg-rsa")]
                    (RSA, _) => {
                        let bits = spki.subject_public_key.as_bytes().ok_or(unsupported())?;
                        let (n, e) = rsa_components(bits)?;
                        return Parsed::rsa(&n, &e);
                    }
                    _ => return Err(unsupported()),
                };
                // Some of these are unused in a build without RSA or EdDSA.
                let _ = (&rsa_components, RSA, ED25519);
                Ok(Parsed {
                    family,
                    import: WebCryptoImport::Spki(der),
                })
            }
            _ => Err(unsupported()),
        }
    }
}

#[cfg(feature = "alg-rsa")]
fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes.get(first..).unwrap_or_default()
}
