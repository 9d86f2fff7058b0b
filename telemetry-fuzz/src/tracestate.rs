//! W3C `tracestate`, with OpenTelemetry's `ot=th:` sampling threshold.

use telemetry_core::fuzzing::{
    tracestate_parse, tracestate_probability, tracestate_with_probability,
};

use crate::input::Bytes;

const MAX_LEN: usize = 512;
const MAX_MEMBERS: usize = 32;

/// Sampling probabilities to try: the edges of what a threshold expresses.
const PROBABILITIES: [f64; 18] = [
    0.0,
    -0.0,
    1.0,
    0.5,
    0.25,
    0.1,
    1.0 / 3.0,
    1.0 - f64::EPSILON,
    1.5,
    // 2^-56, the smallest threshold's probability, and around it.
    1.0 / 72_057_594_037_927_936.0,
    1.5 / 72_057_594_037_927_936.0,
    0.5 / 72_057_594_037_927_936.0,
    1e-300,
    5e-324,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    -1.0,
];

/// The members of a normalised state other than `ot`.
fn others(state: &str) -> Vec<&str> {
    state
        .split(',')
        .filter(|m| !m.is_empty() && !m.starts_with("ot="))
        .collect()
}

/// Parses `data` (after a control byte: the probability and whether the
/// trace is sampled) as a `tracestate`, and checks that:
///
/// - an accepted state is normalised: parsing it again gives it unchanged;
///   it has at most 512 characters and 32 members;
/// - its probability, if any, is in (0, 1] with a finite inverse;
/// - the state we send on (`with_probability`) for any probability is
///   accepted unchanged by our own parser, within the limits; it carries
///   the probability when the trace is sampled and a threshold expresses
///   it (rounded down by less than 2^-53), none otherwise; and it keeps
///   the other members in order, dropping only from the end.
pub fn tracestate(data: &[u8]) {
    let mut bytes = Bytes::new(data);
    let control = bytes.u8();
    let sampled = control & 0x80 != 0;
    let p = if control & 0x40 != 0 {
        f64::from_bits(bytes.u64())
    } else {
        PROBABILITIES[usize::from(control & 0x3f) % PROBABILITIES.len()]
    };
    let text = String::from_utf8_lossy(bytes.rest());

    let Ok(state) = tracestate_parse(&text) else {
        return;
    };
    assert_eq!(
        tracestate_parse(&state).as_deref(),
        Ok(state.as_str()),
        "{text:?} -> {state:?} is not a fixed point"
    );
    assert!(state.len() <= MAX_LEN, "{state:?}");
    assert!(
        state.split(',').filter(|m| !m.is_empty()).count() <= MAX_MEMBERS,
        "{state:?}"
    );
    if let Some(q) = tracestate_probability(&state) {
        assert!(
            q > 0.0 && q <= 1.0 && (1.0 / q).is_finite(),
            "{state:?} has probability {q}"
        );
    }

    let out = tracestate_with_probability(Some(&state), p, sampled);
    let expressible = sampled && p > 0.0 && (p >= 1.0 || p * 72_057_594_037_927_936.0 >= 1.0);
    if expressible {
        assert!(
            out.as_deref().is_some_and(|o| o.starts_with("ot=th:")),
            "{state:?}, p = {p}: sent {out:?}"
        );
    }
    let Some(out) = out else {
        return;
    };
    assert_eq!(
        tracestate_parse(&out).as_deref(),
        Ok(out.as_str()),
        "{state:?}, p = {p}, sampled = {sampled}: we send {out:?}, which our parser changes or rejects"
    );
    assert!(out.len() <= MAX_LEN, "{out:?}");
    let read_back = tracestate_probability(&out);
    let want = p.min(1.0);
    let carried = match read_back {
        Some(q) => expressible && q > 0.0 && q <= want && want - q < 1.0 / 9_007_199_254_740_992.0,
        None => !expressible,
    };
    assert!(
        carried,
        "{state:?}, p = {p}, sampled = {sampled}: sent {out:?} reads back {read_back:?}"
    );
    let (before, after) = (others(&state), others(&out));
    assert!(
        before.starts_with(&after),
        "{state:?}: the other members of {out:?} are not a prefix of the original's"
    );
}
