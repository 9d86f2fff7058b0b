//! W3C `tracestate`: validation within the W3C limits, and OpenTelemetry's
//! `ot=th:<threshold>` member that carries the sampling probability.

use crate::health::rejections::Reason;

/// At most this many list members.
const MAX_MEMBERS: usize = 32;
/// At most this many characters in all.
const MAX_LEN: usize = 512;

/// The W3C key grammar: `lcalpha *255(lcalpha / DIGIT / "_" / "-"/ "*" / "/")`,
/// or a multi-tenant `tenant@system` key.
fn valid_key(key: &str) -> bool {
    let simple = |k: &str, max: usize, first_digit_ok: bool| {
        let b = k.as_bytes();
        !b.is_empty()
            && b.len() <= max
            && (b[0].is_ascii_lowercase() || (first_digit_ok && b[0].is_ascii_digit()))
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-*/".contains(c))
    };
    match key.split_once('@') {
        None => simple(key, 256, false),
        Some((tenant, system)) => simple(tenant, 241, true) && simple(system, 14, false),
    }
}

/// The W3C value grammar: up to 256 printable ASCII characters other than
/// `,` and `=`, not ending in a space.
fn valid_value(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 256
        && !value.ends_with(' ')
        && value
            .bytes()
            .all(|c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
}

/// Validates a (comma-joined) `tracestate`, returning it normalised
/// (members joined by `,` without spaces, empty members removed).
pub(crate) fn parse(header: &str) -> Result<String, Reason> {
    if header.len() > MAX_LEN {
        return Err(Reason::Oversized);
    }
    let mut members: Vec<&str> = Vec::new();
    let mut keys: Vec<&str> = Vec::new();
    for raw in header.split(',') {
        let member = raw.trim_matches(|c| c == ' ' || c == '\t');
        if member.is_empty() {
            continue;
        }
        let (key, value) = member.split_once('=').ok_or(Reason::Malformed)?;
        if !valid_key(key) || !valid_value(value) || keys.contains(&key) {
            return Err(Reason::Malformed);
        }
        keys.push(key);
        members.push(member);
    }
    if members.len() > MAX_MEMBERS {
        return Err(Reason::Oversized);
    }
    Ok(members.join(","))
}

/// The sampling probability in the `ot` member's `th` field, if valid: in
/// (0, 1], computed exactly from the integer threshold, so the largest
/// threshold gives 2⁻⁵⁶ and never 0 (whose inverse, the weight analysts
/// use, would be infinite).
pub(crate) fn probability(state: &str) -> Option<f64> {
    let ot = state.split(',').find_map(|m| m.strip_prefix("ot="))?;
    let th = ot.split(';').find_map(|f| f.strip_prefix("th:"))?;
    if th.is_empty() || th.len() > 14 || !th.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    // 1 to 14 hex digits, trailing zeros removed: pad to 14.
    let padded = format!("{th:0<14}");
    let threshold = u64::from_str_radix(&padded, 16).ok()?;
    let keep = (1u64 << 56).checked_sub(threshold).filter(|&k| k > 0)?;
    Some(keep as f64 / (1u64 << 56) as f64)
}

/// Whether `field` is a valid OpenTelemetry `ot` sub-key field
/// (`key:value`, lower-case alphanumeric key, value of letters, digits and
/// `.`, `_`, `-`).
fn valid_ot_field(field: &str) -> bool {
    let Some((key, value)) = field.split_once(':') else {
        return false;
    };
    !key.is_empty()
        && key
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && value
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c))
}

/// The rejection threshold for probability `p` as `th` wants it: up to 14
/// hex digits with trailing zeros removed, `0` for `p = 1`. `None` for
/// `p = 0` (and below 2⁻⁵⁶), which no threshold expresses.
fn threshold_hex(p: f64) -> Option<String> {
    if p.is_nan() || p <= 0.0 {
        return None;
    }
    if p >= 1.0 {
        return Some("0".to_owned());
    }
    let keep = (p * (1u64 << 56) as f64) as u64;
    if keep == 0 {
        return None;
    }
    let threshold = (1u64 << 56) - keep;
    let hex = format!("{threshold:014x}");
    let trimmed = hex.trim_end_matches('0');
    Some(if trimmed.is_empty() { "0" } else { trimmed }.to_owned())
}

/// `state` with the `ot` member's `th` set for a trace sampled with
/// probability `p` (moved to the front, as the W3C asks of a changed
/// member), or removed for an unsampled trace, as OpenTelemetry asks.
/// Members at the end are dropped to stay within 512 characters. `None`
/// when there is nothing to send.
pub(crate) fn with_probability(state: Option<&str>, p: f64, sampled: bool) -> Option<String> {
    let state = state.unwrap_or("");
    // Only members that are valid on their own are passed on: the next hop
    // drops a whole `tracestate` with one bad member.
    let valid_member = |m: &&str| {
        m.split_once('=')
            .is_some_and(|(k, v)| valid_key(k) && valid_value(v))
    };
    let others = state
        .split(',')
        .filter(|m| !m.is_empty() && !m.starts_with("ot="))
        .filter(valid_member);
    let old_ot = state.split(',').find_map(|m| m.strip_prefix("ot="));
    let mut ot_fields: Vec<&str> = old_ot
        .map(|o| {
            let mut fields: Vec<&str> = Vec::new();
            for f in o.split(';') {
                let key = f.split_once(':').map_or(f, |(k, _)| k);
                let repeated = fields
                    .iter()
                    .any(|g| g.split_once(':').map_or(*g, |(k, _)| k) == key);
                if !f.starts_with("th:") && valid_ot_field(f) && !repeated {
                    fields.push(f);
                }
            }
            fields
        })
        .unwrap_or_default();
    let th = threshold_hex(p)
        .filter(|_| sampled)
        .map(|t| format!("th:{t}"));
    if let Some(th) = &th {
        ot_fields.insert(0, th);
    }
    // A member value holds at most 256 characters: drop fields from the end.
    while ot_fields.iter().map(|f| f.len() + 1).sum::<usize>() > 257 {
        ot_fields.pop();
    }
    let mut members: Vec<String> = Vec::new();
    if !ot_fields.is_empty() {
        members.push(format!("ot={}", ot_fields.join(";")));
    }
    // A key appears at most once in a valid `tracestate`: keep the first
    // (the most recently updated, by the list's left-to-right order).
    let mut seen: Vec<&str> = Vec::new();
    for member in others {
        let key = member.split_once('=').map_or(member, |(k, _)| k);
        if !seen.contains(&key) {
            seen.push(key);
            members.push(member.to_owned());
        }
    }
    members.truncate(MAX_MEMBERS);
    while members.iter().map(|m| m.len() + 1).sum::<usize>() > MAX_LEN + 1 {
        members.pop();
    }
    if members.is_empty() {
        None
    } else {
        Some(members.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_states_are_normalised() {
        assert_eq!(parse("a=1, b=2 ,,c@d=x").unwrap(), "a=1,b=2,c@d=x");
        assert_eq!(parse("").unwrap(), "");
    }

    #[test]
    fn invalid_states_are_rejected() {
        for bad in ["A=1", "a", "a=1,a=2", "a=x=y", "a=", "1a=1", "a=\u{7f}"] {
            assert_eq!(parse(bad), Err(Reason::Malformed), "{bad:?}");
        }
        let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        assert_eq!(parse(&many.join(",")), Err(Reason::Oversized));
        let long = format!("a={}", "x".repeat(600));
        assert_eq!(parse(&long), Err(Reason::Oversized));
    }

    #[test]
    fn threshold_round_trips_the_probability() {
        for p in [1.0, 0.5, 0.25, 0.1, 0.001] {
            let state = with_probability(Some("x=1"), p, true);
            let got = state.as_deref().and_then(probability);
            assert!(
                got.is_some_and(|g| (g - p).abs() < 1e-9),
                "{p} -> {state:?} -> {got:?}"
            );
        }
        // The OpenTelemetry specification's examples.
        assert_eq!(threshold_hex(1.0).as_deref(), Some("0"));
        assert_eq!(threshold_hex(0.5).as_deref(), Some("8"));
        assert_eq!(threshold_hex(0.25).as_deref(), Some("c"));
        assert_eq!(threshold_hex(0.0), None);
        assert_eq!(threshold_hex(1e-20), None);
        assert_eq!(probability("ot=th:8"), Some(0.5));
        assert_eq!(probability("ot=th:0"), Some(1.0));
        assert_eq!(probability("ot=rv:abc;th:c"), Some(0.25));
        assert_eq!(probability("ot=th:zz"), None);
        // The largest threshold is the smallest probability, never zero.
        let tiny = probability("ot=th:ffffffffffffff").unwrap();
        assert!(tiny > 0.0 && (1.0 / tiny).is_finite(), "{tiny}");
        assert_eq!(tiny, 2f64.powi(-56));
    }

    #[test]
    fn outgoing_state_is_always_valid() {
        // A blank or malformed ot field is not passed on.
        let out = with_probability(Some("ot= ;rv:1"), 0.5, true).unwrap();
        assert_eq!(out, "ot=th:8;rv:1");
        assert_eq!(with_probability(Some("ot= "), 0.5, false), None);
        // An ot value near the limit does not grow past 256 characters.
        let long_ot = format!("ot=rv:{}", "a".repeat(250));
        assert!(parse(&long_ot).is_ok());
        let out = with_probability(Some(&long_ot), 0.25, true).unwrap();
        assert_eq!(parse(&out).as_deref(), Ok(out.as_str()));
        assert!(out.starts_with("ot=th:c"));
        // Invalid members of the incoming state are dropped.
        let out = with_probability(Some("Bad=1,ok=2"), 1.0, true).unwrap();
        assert_eq!(out, "ot=th:0,ok=2");
    }

    #[test]
    fn other_members_are_kept_behind_ot() {
        assert_eq!(
            with_probability(Some("ot=th:8;rv:1234,vendor=v"), 0.25, true).unwrap(),
            "ot=th:c;rv:1234,vendor=v"
        );
        assert_eq!(
            with_probability(Some("ot=th:8,vendor=v"), 1.0, true).unwrap(),
            "ot=th:0,vendor=v"
        );
        // Unsampled: th is removed, the rest kept.
        assert_eq!(
            with_probability(Some("ot=th:8;rv:1,vendor=v"), 0.5, false).unwrap(),
            "ot=rv:1,vendor=v"
        );
        assert_eq!(with_probability(None, 0.5, false), None);
    }

    #[test]
    fn the_result_stays_within_the_limit() {
        // 17 members of 29 characters: 509 characters with the commas.
        let long: Vec<String> = (10..27)
            .map(|i| format!("k{i}={}", "v".repeat(25)))
            .collect();
        let state = long.join(",");
        assert!(state.len() <= MAX_LEN && state.len() > MAX_LEN - 8);
        let out = with_probability(Some(&state), 0.25, true).unwrap();
        assert!(out.len() <= MAX_LEN, "{}", out.len());
        assert!(out.starts_with("ot=th:c,k10="));
        assert_eq!(parse(&out).unwrap(), out);
    }

    #[test]
    fn repeated_keys_are_passed_on_once() {
        // A state that only reached us unparsed (e.g. from a caller's own
        // bookkeeping) may repeat keys; the outgoing state never does.
        let out = with_probability(Some("a=1,b=2,a=3,ot=rv:1;rv:2"), 0.5, true).unwrap();
        assert_eq!(out, "ot=th:8;rv:1,a=1,b=2");
        assert_eq!(parse(&out).unwrap(), out);
    }
}
