//! W3C `baggage`: validation within the W3C limits, and the consent member.

use super::CONSENT_KEY;
use crate::category::{CategoryNames, CategorySet};
use crate::health::rejections::Reason;

/// At most this many list members.
const MAX_MEMBERS: usize = 64;
/// At most this many bytes in all.
const MAX_BYTES: usize = 8192;

/// The W3C token grammar (RFC 7230 `tchar`).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

/// `baggage-octet`: printable ASCII except space, `"`, `,`, `;` and `\`,
/// plus `%` escapes.
fn is_value(s: &str) -> bool {
    s.bytes().all(is_value_byte)
}

fn is_value_byte(c: u8) -> bool {
    c == 0x21
        || (0x23..=0x2b).contains(&c)
        || (0x2d..=0x3a).contains(&c)
        || (0x3c..=0x5b).contains(&c)
        || (0x5d..=0x7e).contains(&c)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            // Exactly two hex digits (`from_str_radix` alone would take a
            // sign, so `%+1` would decode).
            let hex = s.get(i + 1..i + 3)?;
            if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.bytes() {
        if c != b'%' && c != b'|' && is_value_byte(c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// What a baggage header said about consent.
#[derive(Debug, PartialEq)]
pub(crate) struct Read {
    /// The upstream consent: `None` when the header has no consent member.
    pub(crate) consent: Option<CategorySet>,
    /// Why (part of) the header was ignored, if it was.
    pub(crate) problem: Option<Reason>,
}

impl Read {
    /// A header that could not be read: no category is allowed, since what
    /// the upstream allowed is unknown.
    fn unreadable(reason: Reason) -> Read {
        Read {
            consent: Some(CategorySet::EMPTY),
            problem: Some(reason),
        }
    }
}

/// Reads the consent member of a (possibly multi-header) baggage.
///
/// - Over the W3C limits (64 members, 8192 bytes), or with a consent member
///   that is malformed or given twice: unreadable, so nothing is allowed
///   (it fails closed; the local policy alone would be wider than what the
///   upstream may have said).
/// - Other malformed members are ignored; the consent member still counts.
/// - Category names the service does not know allow nothing.
pub(crate) fn consent(values: &[&str], names: &CategoryNames) -> Read {
    let total: usize = values.iter().map(|v| v.len() + 1).sum();
    if total > MAX_BYTES + 1 {
        return Read::unreadable(Reason::Oversized);
    }
    let mut members = 0usize;
    let mut problem = None;
    let mut found: Option<CategorySet> = None;
    for raw in values.iter().flat_map(|v| v.split(',')) {
        let member = raw.trim_matches(|c| c == ' ' || c == '\t');
        if member.is_empty() {
            continue;
        }
        members += 1;
        // Properties after `;` are allowed and ignored here.
        let kv = member.split(';').next().unwrap_or("");
        let Some((key, value)) = kv.split_once('=') else {
            if kv.trim() == CONSENT_KEY {
                return Read::unreadable(Reason::Malformed);
            }
            problem = Some(Reason::Malformed);
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        if key != CONSENT_KEY {
            if !is_token(key) || !is_value(value) {
                problem = Some(Reason::Malformed);
            }
            continue;
        }
        if found.is_some() || !is_value(value) {
            // Two consent members, or one that breaks the grammar.
            return Read::unreadable(Reason::Malformed);
        }
        let mut set = CategorySet::EMPTY;
        if value != "-" {
            for name in value.split('|') {
                let Some(name) = percent_decode(name).filter(|n| !n.is_empty()) else {
                    return Read::unreadable(Reason::Malformed);
                };
                if let Some(c) = names.lookup(&name) {
                    set = set.with(c);
                }
            }
        }
        found = Some(set);
    }
    if members > MAX_MEMBERS {
        return Read::unreadable(Reason::Oversized);
    }
    Read {
        consent: found,
        problem,
    }
}

/// The valid members of `values` as `key=value`, or none if over the limits.
fn valid_members(values: &[&str]) -> Vec<String> {
    let total: usize = values.iter().map(|v| v.len() + 1).sum();
    if total > MAX_BYTES + 1 {
        return Vec::new();
    }
    values
        .iter()
        .flat_map(|v| v.split(','))
        .filter_map(|raw| {
            let member = raw.trim_matches(|c| c == ' ' || c == '\t');
            let kv = member.split(';').next()?;
            let (key, value) = kv.split_once('=')?;
            let (key, value) = (key.trim(), value.trim());
            (is_token(key) && is_value(value)).then(|| format!("{key}={value}"))
        })
        .take(MAX_MEMBERS)
        .collect()
}

/// The consent member for `allowed`.
pub(crate) fn consent_member(allowed: CategorySet, names: &CategoryNames) -> String {
    let listed: Vec<String> = allowed
        .iter()
        .map(|c| percent_encode(&names.name(c)))
        .collect();
    if listed.is_empty() {
        format!("{CONSENT_KEY}=-")
    } else {
        format!("{CONSENT_KEY}={}", listed.join("|"))
    }
}

/// `existing` baggage with its consent member replaced by `member`;
/// members that are invalid are dropped, not passed on.
/// The result stays within the W3C limits (64 members, 8192 bytes): other
/// members are dropped from the end to make room for ours.
pub(crate) fn merge(existing: &[&str], member: &str) -> String {
    let mut kept: Vec<String> = valid_members(existing)
        .into_iter()
        .filter(|m| !m.starts_with(&format!("{CONSENT_KEY}=")))
        .collect();
    kept.truncate(MAX_MEMBERS - 1);
    let mut total: usize = member.len();
    let mut room = 0;
    for m in &kept {
        if total + m.len() + 1 > MAX_BYTES {
            break;
        }
        total += m.len() + 1;
        room += 1;
    }
    kept.truncate(room);
    kept.push(member.to_owned());
    kept.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::category::Category;

    fn read(consent: Option<CategorySet>, problem: Option<Reason>) -> Read {
        Read { consent, problem }
    }

    #[test]
    fn consent_round_trips_through_names() {
        let names = CategoryNames::default();
        let set = CategorySet::from([Category::BUSINESS, Category::PERFORMANCE]);
        let member = consent_member(set, &names);
        assert_eq!(consent(&[&member], &names), read(Some(set), None));
        let none = consent_member(CategorySet::EMPTY, &names);
        assert_eq!(none, "telemetry.consent=-");
        assert_eq!(
            consent(&[&none], &names),
            read(Some(CategorySet::EMPTY), None)
        );
    }

    #[test]
    fn unknown_names_allow_nothing_and_unreadable_consent_fails_closed() {
        let names = CategoryNames::default();
        assert_eq!(
            consent(&["telemetry.consent=business|made-up"], &names),
            read(Some(CategorySet::from([Category::BUSINESS])), None)
        );
        assert_eq!(consent(&["other=1"], &names), read(None, None));
        // An unrelated bad member is ignored; the consent member counts.
        assert_eq!(
            consent(&["note=a b,telemetry.consent=business"], &names),
            read(
                Some(CategorySet::from([Category::BUSINESS])),
                Some(Reason::Malformed)
            )
        );
        assert_eq!(
            consent(&["bad key=1"], &names),
            read(None, Some(Reason::Malformed))
        );
        for bad in [
            "telemetry.consent=a b",
            "telemetry.consent=business,telemetry.consent=-",
            "telemetry.consent=||",
            "telemetry.consent=%zz",
        ] {
            assert_eq!(
                consent(&[bad], &names),
                Read::unreadable(Reason::Malformed),
                "{bad}"
            );
        }
        let huge = format!("k={}", "v".repeat(9000));
        assert_eq!(
            consent(&[&huge], &names),
            Read::unreadable(Reason::Oversized)
        );
        let many: Vec<String> = (0..65).map(|i| format!("k{i}=v")).collect();
        assert_eq!(
            consent(&[&many.join(",")], &names),
            Read::unreadable(Reason::Oversized)
        );
    }

    #[test]
    fn merge_keeps_other_members_and_replaces_consent() {
        assert_eq!(
            merge(&["a=1,telemetry.consent=business;p"], "telemetry.consent=-"),
            "a=1,telemetry.consent=-"
        );
        assert_eq!(merge(&[], "telemetry.consent=-"), "telemetry.consent=-");
        // Other members near the limit: ours still fits, the total stays
        // within 8192 bytes, and the result reads back.
        let big: Vec<String> = (0..8)
            .map(|i| format!("k{i}={}", "v".repeat(1020)))
            .collect();
        let existing = big.join(",");
        assert!(existing.len() <= MAX_BYTES);
        let member = consent_member(
            CategorySet::from([Category::BUSINESS, Category::INTERACTION]),
            &CategoryNames::default(),
        );
        let merged = merge(&[&existing], &member);
        assert!(merged.len() <= MAX_BYTES, "{}", merged.len());
        assert!(merged.ends_with(&member));
        assert_eq!(
            consent(&[&merged], &CategoryNames::default()).consent,
            Some(CategorySet::from([
                Category::BUSINESS,
                Category::INTERACTION
            ]))
        );
    }

    #[test]
    fn names_outside_the_value_grammar_are_escaped() {
        assert_eq!(percent_encode("fraud check|x"), "fraud%20check%7Cx");
        assert_eq!(
            percent_decode("fraud%20check%7Cx").unwrap(),
            "fraud check|x"
        );
        // Exactly two hex digits after `%`: no sign, no short escape.
        for bad in ["%+1", "%-1", "%1", "%", "%g0", "a%2"] {
            assert_eq!(percent_decode(bad), None, "{bad}");
        }
    }
}
