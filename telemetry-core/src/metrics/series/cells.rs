//! One series of an instrument: its attribute set and the atomic cells
//! that aggregate it, by kind of aggregation, and the updates the hot path
//! makes to them (lock-free: atomics and compare-and-swap loops).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::export::{Attribute, Exemplar};
use crate::value::Value;

use super::attributes::{key_index, value_matches};
use super::thread_cells::{Layout, Mine, ThreadCells};

/// The kind of aggregation an instrument does.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    FloatCounter,
    UpDownCounter,
    Gauge,
    Histogram,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::FloatCounter => "float counter",
            Kind::UpDownCounter => "up-down counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// The atomic cells of one series.
pub(crate) enum Cells {
    /// Counter (as u64) or up-down counter (as i64 bits).
    Sum(AtomicU64),
    /// Float counter, as f64 bits.
    FloatSum(AtomicU64),
    /// Last value as f64 bits; `set` once any value was recorded.
    Gauge {
        bits: AtomicU64,
        set: AtomicBool,
    },
    Histogram(HistogramCells),
}

/// A histogram's cells. Its count is the sum of its buckets, read at
/// collection, so a measurement makes one atomic add fewer.
pub(crate) struct HistogramCells {
    pub(super) sum: AtomicU64,
    pub(super) min: AtomicU64,
    pub(super) max: AtomicU64,
    pub(super) buckets: Box<[AtomicU64]>,
}

fn f64_update(cell: &AtomicU64, f: impl Fn(f64) -> f64) {
    let mut cur = cell.load(Ordering::Relaxed);
    loop {
        let next = f(f64::from_bits(cur)).to_bits();
        if next == cur {
            return;
        }
        match cell.compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(actual) => cur = actual,
        }
    }
}

impl Cells {
    pub(super) fn new(kind: Kind, buckets: usize) -> Self {
        match kind {
            Kind::Counter | Kind::UpDownCounter => Cells::Sum(AtomicU64::new(0)),
            Kind::FloatCounter => Cells::FloatSum(AtomicU64::new(0f64.to_bits())),
            Kind::Gauge => Cells::Gauge {
                bits: AtomicU64::new(0),
                set: AtomicBool::new(false),
            },
            Kind::Histogram => Cells::Histogram(HistogramCells {
                sum: AtomicU64::new(0f64.to_bits()),
                min: AtomicU64::new(f64::INFINITY.to_bits()),
                max: AtomicU64::new(f64::NEG_INFINITY.to_bits()),
                buckets: (0..buckets).map(|_| AtomicU64::new(0)).collect(),
            }),
        }
    }
}

/// The bucket of `v` (not NaN) among sorted upper `bounds`: how many
/// bounds are below it. Up to 32 bounds (the usual case: OpenTelemetry's
/// default has 15) are all compared, which compiles to a few vector
/// compares with no dependency between them; a binary search is a chain of
/// dependent loads and compares, and was most of a recorded call's
/// histogram update (`perf annotate`).
#[inline]
fn bucket_of(v: f64, bounds: &[f64]) -> usize {
    if bounds.len() <= 32 {
        bounds.iter().filter(|b| **b < v).count()
    } else {
        bounds.partition_point(|b| *b < v)
    }
}

/// At most one exemplar a series is kept per this many nanoseconds.
pub(crate) const EXEMPLAR_EVERY_NS: u64 = 1_000_000;

/// One series: an attribute set and its cells.
pub(crate) struct Series {
    pub(super) attrs: Vec<Attribute>,
    /// For each declared key: 1 + its position in `attrs`, or 0 if absent.
    pub(super) slots: Box<[u8]>,
    pub(crate) cells: Cells,
    /// The latest exemplar kept (instrumented functions' calls only).
    pub(super) exemplar: Mutex<Option<Exemplar>>,
    /// When it was measured (monotonic nanoseconds; 0: none kept since the
    /// last collection).
    pub(super) exemplar_at: AtomicU64,
    /// The hash of its attribute set (set by the table when inserted).
    pub(super) hash: u64,
    /// Its position among the table's series.
    pub(super) index: usize,
    /// The per-thread cells its bound instruments add into, made when it
    /// is first bound (see [`ThreadCells`]).
    pub(super) local: OnceLock<Arc<ThreadCells>>,
}

impl Series {
    /// A series of `attrs` with empty cells, the `index`-th of its table
    /// (its hash is set when the table inserts it).
    pub(super) fn new(
        attrs: Vec<Attribute>,
        slots: Box<[u8]>,
        cells: Cells,
        index: usize,
    ) -> Series {
        Series {
            attrs,
            slots,
            cells,
            exemplar: Mutex::new(None),
            exemplar_at: AtomicU64::new(0),
            hash: 0,
            index,
            local: OnceLock::new(),
        }
    }

    /// The per-thread cells for bound instruments of this series (none
    /// for a gauge: its last value is one shared cell). With `delta`
    /// temporality, sums of floats stay in the shared cells: per-thread
    /// cells are never reset, so a delta would be the difference of two
    /// ever-growing totals, losing small amounts once they are large, and
    /// an infinite value would make every later delta NaN; shared cells
    /// are reset at each collection, as before. Counts are exact either
    /// way.
    pub(crate) fn thread_cells(&self, delta: bool) -> Option<Arc<ThreadCells>> {
        let (n, layout) = match &self.cells {
            Cells::Sum(_) => (1, Layout::Integers),
            Cells::FloatSum(_) if delta => return None,
            Cells::FloatSum(_) => (1, Layout::Floats),
            Cells::Histogram(h) if delta => (h.buckets.len(), Layout::Integers),
            Cells::Histogram(h) => (h.buckets.len() + 1, Layout::IntegersThenFloat),
            Cells::Gauge { .. } => return None,
        };
        Some(
            self.local
                .get_or_init(|| Arc::new(ThreadCells::new(n, layout)))
                .clone(),
        )
    }

    /// Keeps the exemplar `make` makes, measured at monotonic time `mono`,
    /// as the series' latest, unless one was kept less than
    /// [`EXEMPLAR_EVERY_NS`] before it, or another thread is storing one
    /// right now (never waits). A scrape shows one exemplar a series;
    /// keeping every call's took a lock on every measurement.
    #[inline]
    pub(crate) fn offer_exemplar(&self, mono: u64, make: impl FnOnce() -> Exemplar) {
        let last = self.exemplar_at.load(Ordering::Relaxed);
        if last != 0 && mono >= last && mono - last < EXEMPLAR_EVERY_NS {
            return;
        }
        if let Ok(mut slot) = self.exemplar.try_lock() {
            *slot = Some(make());
            self.exemplar_at.store(mono.max(1), Ordering::Relaxed);
        }
    }

    /// The latest exemplar (taken, for delta temporality).
    pub(super) fn exemplars(&self, take: bool) -> Vec<Exemplar> {
        match self.exemplar.lock() {
            Ok(mut slot) if take => {
                self.exemplar_at.store(0, Ordering::Relaxed);
                slot.take().into_iter().collect()
            }
            Ok(slot) => slot.iter().copied().collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Adds `v`: into this thread's cells `mine` if given (a bound
    /// instrument's), else into the shared cell.
    #[inline]
    pub(crate) fn add_u64(&self, v: u64, mine: Option<Mine<'_>>) {
        if let Cells::Sum(c) = &self.cells {
            match mine {
                Some(m) => m.add_u64(0, v),
                None => {
                    c.fetch_add(v, Ordering::Relaxed);
                }
            }
        }
    }

    /// Adds a non-negative finite amount (others are ignored).
    #[inline]
    pub(crate) fn add_f64(&self, v: f64, mine: Option<Mine<'_>>) {
        if let Cells::FloatSum(c) = &self.cells
            && v.is_finite()
            && v > 0.0
            && !mine.is_some_and(|m| m.add_f64(0, v))
        {
            f64_update(c, |sum| sum + v);
        }
    }

    #[inline]
    pub(crate) fn add_i64(&self, v: i64, mine: Option<Mine<'_>>) {
        self.add_u64(v as u64, mine);
    }

    #[inline]
    pub(crate) fn set_f64(&self, v: f64, _mine: Option<Mine<'_>>) {
        if let Cells::Gauge { bits, set } = &self.cells {
            bits.store(v.to_bits(), Ordering::Relaxed);
            set.store(true, Ordering::Release);
        }
    }

    /// Records `v` in its bucket of `bounds`: into this thread's cells
    /// `mine` if given (a bound instrument's), else into the shared cells.
    /// The minimum and maximum are shared (rarely written once warm).
    #[inline]
    pub(crate) fn record_f64(&self, v: f64, bounds: &[f64], mine: Option<Mine<'_>>) {
        if let Cells::Histogram(h) = &self.cells {
            if v.is_nan() {
                return;
            }
            let i = bucket_of(v, bounds);
            match mine {
                Some(m) => {
                    m.add_u64(i, 1);
                    // The sum is in the thread's cells only with
                    // cumulative temporality (see `thread_cells`).
                    if !m.add_f64(h.buckets.len(), v) {
                        f64_update(&h.sum, |s| s + v);
                    }
                }
                None => {
                    if let Some(b) = h.buckets.get(i) {
                        b.fetch_add(1, Ordering::Relaxed);
                    }
                    f64_update(&h.sum, |s| s + v);
                }
            }
            if v < f64::from_bits(h.min.load(Ordering::Relaxed)) {
                f64_update(&h.min, |m| m.min(v));
            }
            if v > f64::from_bits(h.max.load(Ordering::Relaxed)) {
                f64_update(&h.max, |m| m.max(v));
            }
        }
    }

    #[inline]
    pub(super) fn matches(
        &self,
        attrs: &[(&'static str, Value<'_>)],
        declared: &[&'static str],
        max_len: usize,
    ) -> bool {
        let mut n = 0;
        for (at, (k, v)) in attrs.iter().enumerate() {
            let Some(i) = key_index(declared, k, at) else {
                continue;
            };
            let stored = self
                .slots
                .get(i)
                .and_then(|p| p.checked_sub(1))
                .and_then(|p| self.attrs.get(usize::from(p)));
            match stored {
                // An absent value is not stored: the series has none either.
                None if matches!(v, Value::Absent) => continue,
                Some(a) if value_matches(&a.value, *v, max_len) => {}
                _ => return false,
            }
            n += 1;
        }
        n == self.attrs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::bucket_of;

    #[test]
    fn the_bucket_counted_is_the_one_a_binary_search_finds() {
        let few: Vec<f64> = vec![0.005, 0.01, 0.025, 0.05, 0.1, 1.0, 10.0];
        let many: Vec<f64> = (0..40).map(|i| f64::from(i) * 2.5).collect();
        for bounds in [&few[..], &many[..], &[][..]] {
            let mut values: Vec<f64> = bounds.to_vec();
            values.extend(bounds.iter().map(|b| b + 0.001));
            values.extend([f64::NEG_INFINITY, -1.0, 0.0, 1e9, f64::INFINITY]);
            for v in values {
                assert_eq!(
                    bucket_of(v, bounds),
                    bounds.partition_point(|b| *b < v),
                    "{v} in {} bounds",
                    bounds.len()
                );
            }
        }
        // A value equal to a bound belongs to that bound's bucket.
        assert_eq!(bucket_of(0.01, &few), 1);
        assert_eq!(bucket_of(0.0100001, &few), 2);
    }
}
