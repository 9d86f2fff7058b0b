//! Who is calling: a bearer token checked against the service's table of
//! users. (A stand-in for real authentication; the point is that the
//! subject comes from an authenticated credential, not from a header any
//! client can set.)
//!
//! Tokens are compared in constant time: the presented token and every known
//! token are reduced to fixed-length BLAKE3 digests, every digest is compared
//! with [`subtle`]'s `ConstantTimeEq`, and the match is selected without a
//! branch, so neither how much of a token was right, nor its length, nor
//! which entry matched shows in the time a check takes.

use std::sync::LazyLock;

use http::HeaderMap;
use http::header::AUTHORIZATION;
use subtle::{ConditionallySelectable, ConstantTimeEq};

/// The demo users and their tokens.
const USERS: &[(&str, &str)] = &[
    ("token-alice", "alice"),
    ("token-bob", "bob"),
    ("token-carol", "carol"),
];

/// A fixed-length digest of a secret, so that comparisons do not depend on
/// its length.
pub(crate) type Digest = [u8; 32];

/// The digest of `secret`.
pub(crate) fn digest(secret: &[u8]) -> Digest {
    *blake3::hash(secret).as_bytes()
}

/// Whether two digests are equal, in constant time.
pub(crate) fn digests_equal(a: &Digest, b: &Digest) -> subtle::Choice {
    a[..].ct_eq(&b[..])
}

/// The digests of the users' tokens, computed once.
static USER_DIGESTS: LazyLock<Vec<(Digest, &'static str)>> = LazyLock::new(|| {
    USERS
        .iter()
        .map(|(token, user)| (digest(token.as_bytes()), *user))
        .collect()
});

/// The bearer token of `headers`, if it has one.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// The user whose token is `token`. Every known token is compared, always,
/// in constant time.
pub fn user_for_token(token: &str) -> Option<&'static str> {
    let presented = digest(token.as_bytes());
    let users = &*USER_DIGESTS;
    // 0: no match; n: the n-th user (counting from 1).
    let mut found = 0u32;
    for (n, (known, _)) in (1u32..).zip(users) {
        found.conditional_assign(&n, digests_equal(&presented, known));
    }
    let index = usize::try_from(found).ok()?.checked_sub(1)?;
    users.get(index).map(|(_, user)| *user)
}

/// The user a request is authenticated as, if its bearer token is known.
pub fn user_of(headers: &HeaderMap) -> Option<&'static str> {
    user_for_token(bearer(headers)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn each_known_token_finds_its_user() {
        assert_eq!(user_for_token("token-alice"), Some("alice"));
        assert_eq!(user_for_token("token-bob"), Some("bob"));
        assert_eq!(user_for_token("token-carol"), Some("carol"));
    }

    #[test]
    fn wrong_short_long_and_empty_tokens_find_no_one() {
        for token in [
            "token-bab",  // wrong, same length
            "token-bo",   // a prefix of a known token
            "token-bobx", // a known token with more after it
            "token-bob ", // trailing space
            "TOKEN-BOB",  // case matters
            "",           // empty
            "token-",     // the common prefix of all tokens
            "token-alicetoken-bob",
            &"x".repeat(4096),
        ] {
            assert_eq!(user_for_token(token), None, "{token:?}");
        }
    }

    #[test]
    fn only_known_bearer_tokens_authenticate() {
        let mut h = HeaderMap::new();
        assert_eq!(user_of(&h), None);
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer token-bob"));
        assert_eq!(user_of(&h), Some("bob"));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer forged"));
        assert_eq!(user_of(&h), None);
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(user_of(&h), None);
        h.insert(AUTHORIZATION, HeaderValue::from_static("token-bob"));
        assert_eq!(user_of(&h), None);
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic token-bob"));
        assert_eq!(user_of(&h), None);
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearer \xfftoken-bob").unwrap(),
        );
        assert_eq!(user_of(&h), None);
    }
}
