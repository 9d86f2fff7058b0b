//! Propagation headers ignored as malformed or oversized, counted by header
//! and reason (exported as `telemetry.propagation.rejected`).

use std::sync::atomic::{AtomicU64, Ordering};

/// The W3C trace context header.
const TRACEPARENT: &str = "traceparent";
/// The W3C vendor trace state header.
const TRACESTATE: &str = "tracestate";
/// The W3C baggage header.
const BAGGAGE: &str = "baggage";

/// Which header a rejection was about.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Header {
    Traceparent = 0,
    Tracestate = 1,
    Baggage = 2,
}

/// Why a header was ignored.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    Malformed = 0,
    Oversized = 1,
}

/// Counts of ignored headers, by header and reason.
#[derive(Default)]
pub(crate) struct Rejections {
    counts: [[AtomicU64; 2]; 3],
}

impl Rejections {
    pub(crate) fn count(&self, header: Header, reason: Reason) {
        self.counts[header as usize][reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Non-zero counts as (header, reason, count).
    pub(crate) fn snapshot(&self) -> Vec<(&'static str, &'static str, u64)> {
        let headers = [TRACEPARENT, TRACESTATE, BAGGAGE];
        let reasons = ["malformed", "oversized"];
        let mut out = Vec::new();
        for (h, row) in self.counts.iter().enumerate() {
            for (r, cell) in row.iter().enumerate() {
                let n = cell.load(Ordering::Relaxed);
                if n > 0 {
                    out.push((headers[h], reasons[r], n));
                }
            }
        }
        out
    }
}
