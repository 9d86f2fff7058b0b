//! W3C `baggage` and its consent member.

use telemetry_core::CategorySet;
use telemetry_core::fuzzing::{baggage_consent, baggage_consent_member, baggage_merge};
use telemetry_core::propagation::CONSENT_KEY;

use crate::names::{nameable, names};

const MAX_BYTES: usize = 8192;
const MAX_MEMBERS: usize = 64;

/// `%XX` escapes decoded where they are well formed, the rest kept.
fn lenient_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let escaped = (b[i] == b'%')
            .then(|| s.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The members of `values` as (key, value-or-`None`), keys and values
/// trimmed, properties after `;` left out.
fn members<'a>(values: &[&'a str]) -> impl Iterator<Item = (&'a str, Option<&'a str>)> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(|raw| raw.split(';').next().unwrap_or(""))
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (kv.trim(), None),
        })
}

/// The most the consent members of `values` can allow, read as loosely as
/// possible: every category whose name appears in one of them.
fn named_in_consent_members(values: &[&str]) -> CategorySet {
    members(values)
        .filter(|(k, _)| *k == CONSENT_KEY)
        .filter_map(|(_, v)| v)
        .flat_map(|v| v.split('|'))
        .filter_map(|name| names().lookup(&lenient_decode(name)))
        .collect()
}

/// A set of nameable categories drawn from `data`.
fn set_from(data: &[u8]) -> CategorySet {
    // FNV-1a: every byte counts.
    let hash = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    CategorySet::from_bits(hash & nameable().bits())
}

/// Reads `data` (lossy UTF-8; `\n` separates several header values) as
/// baggage under a known policy of category names, and checks that:
///
/// - incoming consent never widens: every category it allows is named in a
///   consent member of the input (as read by a lenient decoder);
/// - a consent key that is present but unreadable fails closed (`Some`,
///   never `None`);
/// - our own consent member for a set of nameable categories (drawn from
///   `data`), merged into the input baggage, gives a header within the W3C
///   limits (8192 bytes, 64 members) that our parser reads back as exactly
///   that set, with no problem reported.
pub fn baggage(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let values: Vec<&str> = text.split('\n').collect();

    let read = baggage_consent(&values, names());
    let allowed = read.consent.unwrap_or(CategorySet::EMPTY);
    let named = named_in_consent_members(&values);
    assert!(
        allowed.bits() & !named.bits() == 0,
        "consent widened: {values:?} reads as {allowed:?}, but names only {named:?}"
    );
    if members(&values).any(|(k, _)| k == CONSENT_KEY) {
        assert!(
            read.consent.is_some(),
            "a consent member is present but reads as none: {values:?} -> {read:?}"
        );
    }

    let set = set_from(data);
    let member = baggage_consent_member(set, names());
    let merged = baggage_merge(&values, &member);
    assert!(merged.len() <= MAX_BYTES, "{} bytes", merged.len());
    assert!(
        merged.split(',').count() <= MAX_MEMBERS,
        "{} members",
        merged.split(',').count()
    );
    let back = baggage_consent(&[&merged], names());
    assert_eq!(
        (back.consent, back.problem),
        (Some(set), None),
        "{set:?} as {member:?}, merged into {values:?}: {merged:?}"
    );
}
