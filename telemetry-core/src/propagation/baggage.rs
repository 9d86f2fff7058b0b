//! W3C `baggage`: validation within the W3C limits, and the consent member.

use super::{CONSENT_KEY, Reason};
use crate::category::{CategoryNames, CategorySet};

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
            let hex = s.get(i + 1..i + 3)?;
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

/// The members of a (possibly multi-header) baggage, validated.
fn members<'a>(values: &[&'a str]) -> Result<Vec<(&'a str, &'a str)>, Reason> {
    let total: usize = values.iter().map(|v| v.len() + 1).sum();
    if total > MAX_BYTES + 1 {
        return Err(Reason::Oversized);
    }
    let mut out = Vec::new();
    for value in values {
        for raw in value.split(',') {
            let member = raw.trim_matches(|c| c == ' ' || c == '\t');
            if member.is_empty() {
                continue;
            }
            // Properties after `;` are allowed and ignored here.
            let kv = member.split(';').next().unwrap_or("");
            let (key, val) = kv.split_once('=').ok_or(Reason::Malformed)?;
            let (key, val) = (key.trim(), val.trim());
            if !is_token(key) || !is_value(val) {
                return Err(Reason::Malformed);
            }
            out.push((key, val));
        }
    }
    if out.len() > MAX_MEMBERS {
        return Err(Reason::Oversized);
    }
    Ok(out)
}

/// The upstream consent in a baggage header, if it has the member.
///
/// Category names the service does not know are skipped (so they cannot
/// allow anything); a malformed member rejects the whole header.
pub(super) fn consent(
    values: &[&str],
    names: &CategoryNames,
) -> Result<Option<CategorySet>, Reason> {
    let members = members(values)?;
    let mut found: Option<CategorySet> = None;
    for (key, value) in members {
        if key != CONSENT_KEY {
            continue;
        }
        if found.is_some() {
            // Two consent members: which one to believe is unknowable.
            return Err(Reason::Malformed);
        }
        let mut set = CategorySet::EMPTY;
        if value != "-" {
            for name in value.split('|') {
                let name = percent_decode(name).ok_or(Reason::Malformed)?;
                if name.is_empty() {
                    return Err(Reason::Malformed);
                }
                if let Some(c) = names.lookup(&name) {
                    set = set.with(c);
                }
            }
        }
        found = Some(set);
    }
    Ok(found)
}

/// The consent member for `allowed`.
pub(super) fn consent_member(allowed: CategorySet, names: &CategoryNames) -> String {
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

/// `existing` baggage with its consent member replaced by `member`. An
/// existing baggage that is itself invalid is dropped, not passed on.
pub(super) fn merge(existing: &[&str], member: &str) -> String {
    let mut kept: Vec<String> = match members(existing) {
        Ok(m) => m
            .into_iter()
            .filter(|(k, _)| *k != CONSENT_KEY)
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        Err(_) => Vec::new(),
    };
    kept.truncate(MAX_MEMBERS - 1);
    kept.push(member.to_owned());
    kept.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::category::Category;

    #[test]
    fn consent_round_trips_through_names() {
        let names = CategoryNames::default();
        let set = CategorySet::from([Category::BUSINESS, Category::PERFORMANCE]);
        let member = consent_member(set, &names);
        assert_eq!(consent(&[&member], &names), Ok(Some(set)));
        let none = consent_member(CategorySet::EMPTY, &names);
        assert_eq!(none, "telemetry.consent=-");
        assert_eq!(consent(&[&none], &names), Ok(Some(CategorySet::EMPTY)));
    }

    #[test]
    fn unknown_names_allow_nothing_and_bad_members_reject_the_header() {
        let names = CategoryNames::default();
        assert_eq!(
            consent(&["telemetry.consent=business|made-up"], &names),
            Ok(Some(CategorySet::from([Category::BUSINESS])))
        );
        assert_eq!(consent(&["other=1"], &names), Ok(None));
        for bad in [
            "telemetry.consent",
            "telemetry.consent=a b",
            "telemetry.consent=business,telemetry.consent=-",
            "telemetry.consent=||",
            "bad key=1",
        ] {
            assert_eq!(consent(&[bad], &names), Err(Reason::Malformed), "{bad}");
        }
        let huge = format!("k={}", "v".repeat(9000));
        assert_eq!(consent(&[&huge], &names), Err(Reason::Oversized));
        let many: Vec<String> = (0..65).map(|i| format!("k{i}=v")).collect();
        assert_eq!(consent(&[&many.join(",")], &names), Err(Reason::Oversized));
    }

    #[test]
    fn merge_keeps_other_members_and_replaces_consent() {
        assert_eq!(
            merge(&["a=1,telemetry.consent=business;p"], "telemetry.consent=-"),
            "a=1,telemetry.consent=-"
        );
        assert_eq!(merge(&[], "telemetry.consent=-"), "telemetry.consent=-");
    }

    #[test]
    fn names_outside_the_value_grammar_are_escaped() {
        assert_eq!(percent_encode("fraud check|x"), "fraud%20check%7Cx");
        assert_eq!(
            percent_decode("fraud%20check%7Cx").unwrap(),
            "fraud check|x"
        );
    }
}
