//! Strict base64url (RFC 4648 §5, no padding) as JWS compact serialisation requires.
//!
//! Only the canonical encoding of a byte string is accepted: no `=` padding, no whitespace,
//! no characters of the standard alphabet, and no non-zero bits left over in the last
//! character. Accepting several spellings of one token would let one signed token pass under
//! many strings, which defeats replay detection keyed on the token text.

use ct_codecs::{Base64UrlSafeNoPadding, Decoder, Encoder};

/// Decodes a canonical base64url segment, or `None`.
pub(crate) fn decode(segment: &str) -> Option<Vec<u8>> {
    let bytes = Base64UrlSafeNoPadding::decode_to_vec(segment, None).ok()?;
    // Re-encoding is the simplest exact check that `segment` is the one canonical spelling
    // of `bytes`, whatever the decoder's own leniency (padding, leftover bits) is in the
    // version we happen to build with.
    let again = Base64UrlSafeNoPadding::encode_to_string(&bytes).ok()?;
    (again == segment).then_some(bytes)
}

/// Encodes bytes as unpadded base64url.
pub fn encode(bytes: &[u8]) -> String {
    // Encoding into a String cannot fail for any input length this crate handles; an
    // empty string would only make the token fail verification, never pass it.
    Base64UrlSafeNoPadding::encode_to_string(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for bytes in [&b""[..], b"f", b"fo", b"foo", b"\xff\xfe\xfd\x00"] {
            assert_eq!(decode(&encode(bytes)).as_deref(), Some(bytes));
        }
    }

    #[test]
    fn rejects_non_canonical_spellings() {
        assert_eq!(decode("Zg").as_deref(), Some(&b"f"[..]));
        assert_eq!(decode("Zh"), None, "leftover bits set");
        assert_eq!(decode("Zg=="), None, "padding");
        assert_eq!(decode("Zm9v "), None, "whitespace");
        assert_eq!(decode("Zm+v"), None, "standard alphabet");
        assert_eq!(decode("Z"), None, "impossible length");
    }
}
