//! Whether an EC public key is a point of its curve, decided by the core for every backend.
//!
//! Browsers disagree here: Chromium (BoringSSL) and Firefox (NSS) refuse a point that is not
//! on the curve when WebCrypto imports the key, but WebKitGTK (libgcrypt) imports it and then
//! answers `false` to every signature, so a page would say `bad_signature` for each token
//! instead of `invalid_key` once, at start (tests/engines/). The check is cheap arithmetic on
//! public data: `x, y < p` and `y² = x³ − 3x + b (mod p)` (SEC 1 §3.2.2.1, the NIST curves all
//! have `a = −3`). A point at infinity cannot be spelled in `04 || x || y`, and the NIST
//! prime-order curves have no other small-order points, so this is the whole public-key check.
//!
//! Arithmetic: crypto-bigint's modular operations (RustCrypto), one 576-bit width for the three
//! curves, so the module carries one instantiation.

use crypto_bigint::{NonZero, U576};

use crate::alg::Family;

/// Hex literals checked and decoded when the crate compiles, so a typo fails the build.
macro_rules! hex {
    ($s:literal) => {{
        // Evaluated by the compiler: an index out of range fails the build, never a page.
        #[allow(clippy::indexing_slicing)]
        const BYTES: [u8; $s.len() / 2] = {
            let s = $s.as_bytes();
            assert!(s.len() % 2 == 0);
            let mut out = [0u8; $s.len() / 2];
            let mut i = 0;
            while i < out.len() {
                out[i] = (nibble(s[2 * i]) << 4) | nibble(s[2 * i + 1]);
                i += 1;
            }
            out
        };
        &BYTES
    }};
}

#[allow(clippy::panic)]
const fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => panic!("not a lowercase hex digit"),
    }
}

const WIDTH: usize = 72; // bytes in a U576

/// `(p, b)` of a NIST curve, big-endian.
fn constants(family: Family) -> Option<(&'static [u8], &'static [u8])> {
    match family {
        Family::P256 => Some((
            hex!("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff"),
            hex!("5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b"),
        )),
        Family::P384 => Some((
            hex!("fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff"),
            hex!("b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef"),
        )),
        Family::P521 => Some((
            hex!("01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
            hex!("0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00"),
        )),
        Family::Ed25519 | Family::Rsa | Family::Hmac => None,
    }
}

/// Big-endian bytes (at most 72) as a U576.
fn uint(bytes: &[u8]) -> Option<U576> {
    let mut padded = [0u8; WIDTH];
    let start = WIDTH.checked_sub(bytes.len())?;
    padded.get_mut(start..)?.copy_from_slice(bytes);
    Some(U576::from_be_slice(&padded))
}

/// Whether `(x, y)`, big-endian coordinates of the family's length, is a point of its curve.
/// `false` for a family that is not a NIST curve.
pub(super) fn is_on_curve(family: Family, x: &[u8], y: &[u8]) -> bool {
    let Some((p, b)) = constants(family) else {
        return false;
    };
    let (Some(p), Some(b), Some(x), Some(y)) = (uint(p), uint(b), uint(x), uint(y)) else {
        return false;
    };
    // Coordinates must be reduced: x or y ≥ p is another spelling of a smaller number.
    if x >= p || y >= p {
        return false;
    }
    let Some(p) = Option::<NonZero<U576>>::from(NonZero::new(p)) else {
        return false;
    };
    // Public data: variable time is fine.
    let three_x = x.add_mod(&x, &p).add_mod(&x, &p);
    let x3 = x.square_mod_vartime(&p).mul_mod_vartime(&x, &p);
    let rhs = x3.sub_mod(&three_x, &p).add_mod(&b, &p);
    y.square_mod_vartime(&p) == rhs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generators_are_on_their_curves_and_tampered_points_are_not() {
        // The base points G of SEC 2 / FIPS 186-5.
        let generators: [(Family, &[u8], &[u8]); 3] = [
            (
                Family::P256,
                hex!("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"),
                hex!("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"),
            ),
            (
                Family::P384,
                hex!("aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7"),
                hex!("3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f"),
            ),
            (
                Family::P521,
                hex!("00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66"),
                hex!("011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650"),
            ),
        ];
        for (family, x, y) in generators {
            let (p, b) = constants(family).unwrap();
            assert_eq!(
                (p.len(), b.len()),
                (family.spec().coordinate_len, family.spec().coordinate_len)
            );
            assert!(is_on_curve(family, x, y), "{family:?}");
            // y and x swapped, and y + 1: not on the curve.
            assert!(!is_on_curve(family, y, x), "{family:?} swapped");
            let mut y1 = y.to_vec();
            if let Some(last) = y1.last_mut() {
                *last ^= 1;
            }
            assert!(!is_on_curve(family, x, &y1), "{family:?} y ^ 1");
            // A coordinate equal to p is 0 spelled larger: refused.
            let (p, _) = constants(family).unwrap();
            assert!(!is_on_curve(family, p, y), "{family:?} x = p");
        }
        assert!(!is_on_curve(Family::Ed25519, &[9; 32], &[9; 32]));
    }
}
