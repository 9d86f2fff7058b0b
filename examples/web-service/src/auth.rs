//! Who is calling: a bearer token checked against the service's table of
//! users. (A stand-in for real authentication; the point is that the
//! subject comes from an authenticated credential, not from a header any
//! client can set.)

use http::HeaderMap;
use http::header::AUTHORIZATION;

/// The demo users and their tokens.
const USERS: &[(&str, &str)] = &[
    ("token-alice", "alice"),
    ("token-bob", "bob"),
    ("token-carol", "carol"),
];

/// The user a request is authenticated as, if its bearer token is known.
pub fn user_of(headers: &HeaderMap) -> Option<&'static str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?;
    USERS
        .iter()
        .find(|(t, _)| *t == token)
        .map(|(_, user)| *user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn only_known_bearer_tokens_authenticate() {
        let mut h = HeaderMap::new();
        assert_eq!(user_of(&h), None);
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer token-bob"));
        assert_eq!(user_of(&h), Some("bob"));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer forged"));
        assert_eq!(user_of(&h), None);
        h.insert(AUTHORIZATION, HeaderValue::from_static("token-bob"));
        assert_eq!(user_of(&h), None);
    }
}
