//! Consent coverage without identifiers and in fixed memory: how many
//! distinct subjects were seen in the current period, and how many of them
//! allowed each category.
//!
//! Distinct subjects are counted with HyperLogLog sketches (2048 one-byte
//! registers each, a standard error of about 2.3 %, exact to within a
//! subject or two for small counts), one for subjects seen and one per
//! category that requires consent. The registers are atomics: counting a
//! subject is a few `fetch_max` operations, without a lock, and memory does
//! not grow with the number of subjects, whoever chooses their ids.
//!
//! Why not a crate: the subject keys are already uniform keyed hashes, so
//! no hashing is needed, and no HyperLogLog crate offers lock-free atomic
//! registers.
//!
//! Across replicas the counts are exported as gauges that add up (see the
//! README's fleet section): a subject seen by several replicas is counted
//! once by each, in the subjects seen and in every category it allows, so
//! the fleet ratio weighs subjects by the replicas they reached.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use crate::category::{Category, CategorySet};
use crate::subject::SubjectKey;

/// log2 of the number of registers.
const PRECISION: u32 = 11;
const REGISTERS: usize = 1 << PRECISION;

/// A HyperLogLog sketch with atomic registers.
struct Sketch {
    registers: Box<[AtomicU8]>,
}

impl Sketch {
    fn new() -> Self {
        Sketch {
            registers: (0..REGISTERS).map(|_| AtomicU8::new(0)).collect(),
        }
    }

    #[inline]
    fn add(&self, hash: u64) {
        let index = (hash >> (64 - PRECISION)) as usize;
        // The rank of the first one bit in the remaining bits (1-based).
        let rest = (hash << PRECISION) | (1 << (PRECISION - 1));
        let rank = (rest.leading_zeros() + 1) as u8;
        if let Some(r) = self.registers.get(index) {
            r.fetch_max(rank, Ordering::Relaxed);
        }
    }

    fn clear(&self) {
        for r in self.registers.iter() {
            r.store(0, Ordering::Relaxed);
        }
    }

    /// The estimated number of distinct values added.
    fn estimate(&self) -> u64 {
        let m = REGISTERS as f64;
        let mut sum = 0.0;
        let mut zeros = 0usize;
        for r in self.registers.iter() {
            let v = r.load(Ordering::Relaxed);
            if v == 0 {
                zeros += 1;
            }
            sum += 2f64.powi(-i32::from(v));
        }
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let raw = alpha * m * m / sum;
        let estimate = if raw <= 2.5 * m && zeros > 0 {
            // Linear counting: accurate for small cardinalities.
            m * (m / zeros as f64).ln()
        } else {
            raw
        };
        estimate.round() as u64
    }
}

/// The sketches of one period.
struct Slot {
    /// The period they count, or `u64::MAX` before first use.
    period: AtomicU64,
    seen: Sketch,
    allowing: [OnceLock<Sketch>; Category::COUNT],
}

impl Slot {
    fn new() -> Self {
        Slot {
            period: AtomicU64::new(u64::MAX),
            seen: Sketch::new(),
            allowing: std::array::from_fn(|_| OnceLock::new()),
        }
    }
}

/// Coverage of the current period (and the previous one, while it ends).
pub(crate) struct Coverage {
    period_secs: u64,
    /// Slots alternate between even and odd periods.
    slots: [Slot; 2],
    /// Taken only to start a new period in a slot.
    rotate: Mutex<()>,
    /// The categories counted: those that require consent and have a name.
    counted: CategorySet,
}

/// Consent coverage of one period: how many subjects were seen, and how many
/// of them allowed each category. No subject is identified; the counts are
/// estimates (see the module documentation for their accuracy).
#[derive(Clone, Debug, PartialEq)]
pub struct CoverageSnapshot {
    /// Period start, seconds since the Unix epoch.
    pub period_start_secs: u64,
    /// Length of a period in seconds.
    pub period_secs: u64,
    /// Distinct subjects seen in the period.
    pub subjects_seen: u64,
    /// For each category that requires consent: distinct subjects seen in
    /// the period while allowing it.
    pub consenting: Vec<(Category, u64)>,
}

impl CoverageSnapshot {
    /// Share of subjects seen that allowed `category` (0 when none was seen).
    pub fn ratio(&self, category: Category) -> f64 {
        let n = self
            .consenting
            .iter()
            .find(|(c, _)| *c == category)
            .map_or(0, |(_, n)| *n);
        if self.subjects_seen == 0 {
            0.0
        } else {
            (n as f64 / self.subjects_seen as f64).min(1.0)
        }
    }
}

impl Coverage {
    pub(crate) fn new(period_secs: u64, counted: CategorySet) -> Self {
        Coverage {
            period_secs: period_secs.max(1),
            slots: [Slot::new(), Slot::new()],
            rotate: Mutex::new(()),
            counted,
        }
    }

    fn period_now(&self) -> u64 {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            / self.period_secs
    }

    /// The slot of `period`, cleared for it if it held an older one.
    fn slot(&self, period: u64) -> &Slot {
        let slot = &self.slots[(period % 2) as usize];
        if slot.period.load(Ordering::Acquire) != period {
            let _rotating = self.rotate.lock().unwrap_or_else(|p| p.into_inner());
            if slot.period.load(Ordering::Acquire) != period {
                slot.seen.clear();
                for s in slot.allowing.iter().filter_map(OnceLock::get) {
                    s.clear();
                }
                slot.period.store(period, Ordering::Release);
            }
        }
        slot
    }

    /// Counts a sighting of `subject`, allowing the categories in `allowed`.
    pub(crate) fn observe(&self, subject: SubjectKey, allowed: u64) {
        let mut first = [0u8; 8];
        first.copy_from_slice(subject.0.get(..8).unwrap_or(&[0; 8]));
        let hash = u64::from_le_bytes(first);
        let slot = self.slot(self.period_now());
        slot.seen.add(hash);
        for c in CategorySet::from_bits(allowed & self.counted.bits()).iter() {
            if let Some(s) = slot.allowing.get(c.bit() as usize) {
                s.get_or_init(Sketch::new).add(hash);
            }
        }
    }

    /// The coverage of the current period.
    pub(crate) fn snapshot(&self) -> CoverageSnapshot {
        let period = self.period_now();
        let slot = &self.slots[(period % 2) as usize];
        let current = slot.period.load(Ordering::Acquire) == period;
        let count = |s: Option<&Sketch>| match s {
            Some(s) if current => s.estimate(),
            _ => 0,
        };
        CoverageSnapshot {
            period_start_secs: period * self.period_secs,
            period_secs: self.period_secs,
            subjects_seen: count(Some(&slot.seen)),
            consenting: self
                .counted
                .iter()
                .map(|c| {
                    let sketch = slot.allowing.get(c.bit() as usize).and_then(OnceLock::get);
                    (c, count(sketch))
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u64) -> SubjectKey {
        SubjectKey(
            *blake3::hash(&i.to_le_bytes())
                .as_bytes()
                .first_chunk::<16>()
                .unwrap(),
        )
    }

    #[test]
    fn small_counts_are_exact_and_repeats_count_once() {
        let c = Coverage::new(3600, CategorySet::from([Category::BUSINESS]));
        for round in 0..3 {
            for i in 0..5 {
                let allowed = if i < 2 { Category::BUSINESS.mask() } else { 0 };
                c.observe(key(i), allowed);
            }
            let s = c.snapshot();
            assert_eq!(s.subjects_seen, 5, "round {round}");
            assert_eq!(s.consenting, vec![(Category::BUSINESS, 2)]);
        }
    }

    #[test]
    fn large_counts_are_within_a_few_percent_in_fixed_memory() {
        let c = Coverage::new(3600, CategorySet::from([Category::BUSINESS]));
        let n = 200_000u64;
        for i in 0..n {
            let allowed = if i % 4 == 0 {
                Category::BUSINESS.mask()
            } else {
                0
            };
            c.observe(key(i), allowed);
        }
        let s = c.snapshot();
        let seen = s.subjects_seen as f64;
        assert!((seen / n as f64 - 1.0).abs() < 0.07, "{seen}");
        let ratio = s.ratio(Category::BUSINESS);
        assert!((ratio - 0.25).abs() < 0.03, "{ratio}");
    }
}
