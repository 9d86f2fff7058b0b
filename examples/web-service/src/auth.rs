//! Who is calling: a bearer token checked against the service's table of
//! users, or the service token of the deployment's own services. (A
//! stand-in for real authentication; the point is that the subject comes
//! from an authenticated credential, not from a header any client can set.)
//!
//! An end user's token never leaves the service that received it. When the
//! frontend calls the inventory it presents the service token, and names
//! the user it acts for in [`SUBJECT_USER_HEADER`]; the inventory honours
//! that header only on a request that carries the valid service token, and
//! ignores it from anyone else.
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

use crate::secrets::ServiceToken;

/// The header in which a service names the user it calls for. Honoured only
/// from a caller that presents the service token.
pub const SUBJECT_USER_HEADER: &str = "x-subject-user";

/// The longest user name taken from [`SUBJECT_USER_HEADER`].
const MAX_SUBJECT_BYTES: usize = 256;

/// Who sent a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// No known credential.
    Anonymous,
    /// An end user, authenticated by their own token.
    User(&'static str),
    /// One of the deployment's own services, authenticated by the service
    /// token, calling for the user it names (if it names one).
    Service {
        /// The user the service acts for.
        on_behalf_of: Option<String>,
    },
}

impl Caller {
    /// Whose subject scope the request runs in.
    pub fn subject(&self) -> Option<&str> {
        match self {
            Caller::Anonymous => None,
            Caller::User(user) => Some(user),
            Caller::Service { on_behalf_of } => on_behalf_of.as_deref(),
        }
    }

    /// Whether the caller is one of the deployment's own services.
    pub fn is_service(&self) -> bool {
        matches!(self, Caller::Service { .. })
    }
}

/// Tells callers apart: end users by their tokens, peer services by the
/// service token.
#[derive(Clone)]
pub struct Auth {
    service: Digest,
}

/// By hand: not even the digest of the token shows.
impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").finish_non_exhaustive()
    }
}

impl Auth {
    /// Checks peer services against `service_token`.
    pub fn new(service_token: &ServiceToken) -> Auth {
        Auth {
            service: digest(service_token.as_str().as_bytes()),
        }
    }

    /// Who sent a request with `headers`. The presented token is compared
    /// with the service token and with every user's token, always, in
    /// constant time.
    pub fn caller(&self, headers: &HeaderMap) -> Caller {
        let Some(token) = bearer(headers) else {
            // A browser signed in through `/login`: a user's token only.
            return session(headers)
                .and_then(user_for_token)
                .map_or(Caller::Anonymous, Caller::User);
        };
        let presented = digest(token.as_bytes());
        let is_service = bool::from(digests_equal(&presented, &self.service));
        let user = user_for_digest(&presented);
        if is_service {
            return Caller::Service {
                on_behalf_of: subject_user(headers),
            };
        }
        user.map_or(Caller::Anonymous, Caller::User)
    }
}

/// The one user named in [`SUBJECT_USER_HEADER`], if well-formed.
fn subject_user(headers: &HeaderMap) -> Option<String> {
    let mut values = headers.get_all(SUBJECT_USER_HEADER).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return None;
    };
    let user = value.to_str().ok()?;
    (!user.is_empty() && user.len() <= MAX_SUBJECT_BYTES).then(|| user.to_owned())
}

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
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// The cookie `/login` sets: a user's token, for browsers.
pub const SESSION_COOKIE: &str = "session";

/// Whether `token` can be a cookie value as is.
pub fn cookie_safe(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'"' | b'\\'))
}

/// The `session` cookie of `headers`, if there is one.
fn session(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SESSION_COOKIE).then_some(value)
        })
}

/// The user whose token is `token`. Every known token is compared, always,
/// in constant time.
pub fn user_for_token(token: &str) -> Option<&'static str> {
    user_for_digest(&digest(token.as_bytes()))
}

/// The user whose token has the digest `presented`.
fn user_for_digest(presented: &Digest) -> Option<&'static str> {
    let users = &*USER_DIGESTS;
    // 0: no match; n: the n-th user (counting from 1).
    let mut found = 0u32;
    for (n, (known, _)) in (1u32..).zip(users) {
        found.conditional_assign(&n, digests_equal(presented, known));
    }
    let index = usize::try_from(found).ok()?.checked_sub(1)?;
    users.get(index).map(|(_, user)| *user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn auth() -> Auth {
        let token = ServiceToken::from_vars(|name| {
            (name == crate::secrets::SERVICE_TOKEN_VAR).then(|| "the-service-token".into())
        })
        .unwrap();
        Auth::new(&token)
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_static(value));
        }
        h
    }

    #[test]
    fn the_subject_header_counts_only_from_the_service() {
        let auth = auth();
        let service = "Bearer the-service-token";
        assert_eq!(
            auth.caller(&headers(&[
                ("authorization", service),
                (SUBJECT_USER_HEADER, "bob")
            ])),
            Caller::Service {
                on_behalf_of: Some("bob".into())
            }
        );
        assert_eq!(
            auth.caller(&headers(&[("authorization", service)])),
            Caller::Service { on_behalf_of: None }
        );
        // Two names: none is believed.
        assert_eq!(
            auth.caller(&headers(&[
                ("authorization", service),
                (SUBJECT_USER_HEADER, "bob"),
                (SUBJECT_USER_HEADER, "alice")
            ])),
            Caller::Service { on_behalf_of: None }
        );
        // An end user or a stranger naming someone else is ignored.
        assert_eq!(
            auth.caller(&headers(&[
                ("authorization", "Bearer token-bob"),
                (SUBJECT_USER_HEADER, "alice")
            ])),
            Caller::User("bob")
        );
        assert_eq!(
            auth.caller(&headers(&[
                ("authorization", "Bearer the-service-tokeN"),
                (SUBJECT_USER_HEADER, "alice")
            ])),
            Caller::Anonymous
        );
        assert_eq!(
            auth.caller(&headers(&[(SUBJECT_USER_HEADER, "alice")])),
            Caller::Anonymous
        );
    }

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
        let auth = auth();
        let user_of = |h: &HeaderMap| auth.caller(h).subject().map(str::to_owned);
        let mut h = HeaderMap::new();
        assert_eq!(user_of(&h), None);
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer token-bob"));
        assert_eq!(auth.caller(&h), Caller::User("bob"));
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
