//! Lock-free aggregation: one series per distinct attribute set, found by an
//! order-independent hash in a concurrent map, updated with atomics.
//!
//! The table of an instrument's series is here; [`cells`] holds one series
//! and its atomic cells, [`thread_cells`] the per-thread cells bound
//! instruments add into, [`attributes`] the hash and comparison that find
//! it, [`map`] the lock-free table they are kept in, and [`collect`] reads
//! the table into exported points.

mod attributes;
mod cells;
mod collect;
mod map;
mod thread_cells;

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::export::{Attribute, Temporality};
use crate::value::Value;

use attributes::{hash_attrs, key_index};
pub(crate) use cells::{Cells, Kind, Series};
use map::{Entry, SeriesMap};
pub(crate) use thread_cells::{Mine, ThreadCells};

/// Result of looking up a series.
pub(crate) enum Found<'g> {
    /// The series for these attributes.
    Series(&'g Series),
    /// The series limit was hit; the value goes to the overflow series.
    Overflow,
}

/// All series of one instrument.
pub(crate) struct SeriesTable {
    pub(crate) kind: Kind,
    map: SeriesMap,
    pub(crate) overflow: Arc<Series>,
    pub(crate) declared: Vec<&'static str>,
    pub(crate) bounds: Arc<[f64]>,
    max_series: usize,
    max_len: usize,
    temporality: Temporality,
    created: SystemTime,
    last_collect: Mutex<SystemTime>,
}

pub(crate) const OVERFLOW_KEY: &str = "otel.metric.overflow";

impl SeriesTable {
    pub(crate) fn new(
        kind: Kind,
        declared: Vec<&'static str>,
        bounds: Vec<f64>,
        temporality: Temporality,
        max_series: usize,
        max_len: usize,
    ) -> Self {
        let nb = if kind == Kind::Histogram {
            bounds.len() + 1
        } else {
            0
        };
        let now = SystemTime::now();
        SeriesTable {
            kind,
            map: SeriesMap::new(),
            overflow: Arc::new(Series::new(
                vec![Attribute::new(OVERFLOW_KEY, true)],
                Box::new([]),
                Cells::new(kind, nb),
                0,
            )),
            declared,
            bounds: bounds.into(),
            max_series,
            max_len,
            temporality,
            created: now,
            last_collect: Mutex::new(now),
        }
    }

    fn new_series(&self, attrs: &[(&'static str, Value<'_>)], index: usize) -> Series {
        let nb = if self.kind == Kind::Histogram {
            self.bounds.len() + 1
        } else {
            0
        };
        let mut owned = Vec::with_capacity(attrs.len());
        let mut slots = vec![0u8; self.declared.len()].into_boxed_slice();
        for (at, (k, v)) in attrs.iter().enumerate() {
            if let Some(i) = key_index(&self.declared, k, at)
                && slots[i] == 0
                && let Some((value, _)) = crate::value::own_public(*v, self.max_len)
            {
                owned.push(Attribute::new(self.declared[i], value));
                slots[i] = u8::try_from(owned.len()).unwrap_or(u8::MAX);
            }
        }
        Series::new(owned, slots, Cells::new(self.kind, nb), index)
    }

    /// Runs `f` on the series for `attrs`, creating it if needed.
    #[cfg(test)]
    pub(crate) fn with_series<R>(
        &self,
        attrs: &[(&'static str, Value<'_>)],
        f: impl FnOnce(Found<'_>) -> R,
    ) -> R {
        self.with_series_noting(attrs, || {}, f)
    }

    /// [`with_series`](Self::with_series), calling `undeclared` first if
    /// any attribute key is not declared (found while hashing, so the keys
    /// are looked up once for both).
    #[inline]
    pub(crate) fn with_series_noting<R>(
        &self,
        attrs: &[(&'static str, Value<'_>)],
        undeclared: impl FnOnce(),
        f: impl FnOnce(Found<'_>) -> R,
    ) -> R {
        let (h, any_undeclared) = hash_attrs(attrs, &self.declared, self.max_len);
        if any_undeclared {
            undeclared();
        }
        let found = match self
            .map
            .get(h, |s| s.matches(attrs, &self.declared, self.max_len))
        {
            Some(s) => Some(s),
            None => self.find_or_make(h, attrs),
        };
        match found {
            Some(s) => f(Found::Series(s)),
            None => f(Found::Overflow),
        }
    }

    /// The series for `attrs` (hash `h`), made under the series limit if no
    /// other thread made it first; `None` past the limit.
    #[cold]
    #[inline(never)]
    fn find_or_make(&self, h: u64, attrs: &[(&'static str, Value<'_>)]) -> Option<&Series> {
        let entry = self.map.get_or_insert(
            h,
            |s| s.matches(attrs, &self.declared, self.max_len),
            |index| (self.map.len() < self.max_series).then(|| self.new_series(attrs, index)),
        );
        match entry {
            Entry::Series(s) => Some(s),
            Entry::Full => None,
        }
    }

    /// A counted handle to the series for `attrs` (for bound instruments).
    pub(crate) fn series_arc(&self, attrs: &[(&'static str, Value<'_>)]) -> Arc<Series> {
        let (h, _) = hash_attrs(attrs, &self.declared, self.max_len);
        let found = match self
            .map
            .get(h, |s| s.matches(attrs, &self.declared, self.max_len))
        {
            Some(s) => Some(s),
            None => self.find_or_make(h, attrs),
        };
        found
            .and_then(|s| self.map.arc_of(s))
            .unwrap_or_else(|| self.overflow.clone())
    }

    /// Whether the table reports deltas (reading it resets it).
    pub(crate) fn is_delta(&self) -> bool {
        self.temporality == Temporality::Delta
    }

    /// Number of series (without the overflow series).
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::{MetricPoints, Number};

    fn table(kind: Kind, max: usize) -> SeriesTable {
        SeriesTable::new(
            kind,
            vec!["a", "b"],
            vec![1.0, 10.0],
            Temporality::Cumulative,
            max,
            8,
        )
    }

    #[test]
    fn attribute_order_does_not_matter() {
        let t = table(Kind::Counter, 10);
        t.with_series(
            &[("a", Value::Str("x")), ("b", Value::U64(1))],
            |f| match f {
                Found::Series(s) => s.add_u64(2, None),
                Found::Overflow => unreachable!(),
            },
        );
        t.with_series(
            &[("b", Value::U64(1)), ("a", Value::Str("x"))],
            |f| match f {
                Found::Series(s) => s.add_u64(3, None),
                Found::Overflow => unreachable!(),
            },
        );
        assert_eq!(t.len(), 1);
        let MetricPoints::Sum { points, .. } = t.collect().unwrap() else {
            panic!()
        };
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].value, Number::I64(5));
    }

    #[test]
    fn absent_and_wide_values_find_their_series_again() {
        let t = table(Kind::Counter, 10);
        for attrs in [
            [("a", Value::Absent), ("b", Value::U64(1))],
            [("a", Value::Absent), ("b", Value::U64(1))],
            [("a", Value::U128(u128::MAX)), ("b", Value::Char('x'))],
            [("a", Value::U128(u128::MAX)), ("b", Value::Char('x'))],
            [("a", Value::Bytes(b"ab")), ("b", Value::I128(-1))],
            [("a", Value::Bytes(b"ab")), ("b", Value::I128(-1))],
        ] {
            t.with_series(&attrs, |f| {
                if let Found::Series(s) = f {
                    s.add_u64(1, None)
                }
            });
        }
        assert_eq!(t.len(), 3, "one series per attribute set");
    }

    #[test]
    fn long_strings_are_truncated_consistently() {
        let t = table(Kind::Counter, 10);
        for _ in 0..2 {
            t.with_series(&[("a", Value::Str("a very long value"))], |f| {
                if let Found::Series(s) = f {
                    s.add_u64(1, None)
                }
            });
        }
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn overflow_past_the_series_limit() {
        let t = table(Kind::Counter, 2);
        let mut overflowed = 0;
        for i in 0..5u64 {
            t.with_series(&[("a", Value::U64(i))], |f| match f {
                Found::Series(s) => s.add_u64(1, None),
                Found::Overflow => {
                    t.overflow.add_u64(1, None);
                    overflowed += 1;
                }
            });
        }
        assert_eq!((t.len(), overflowed), (2, 3));
        let MetricPoints::Sum { points, .. } = t.collect().unwrap() else {
            panic!()
        };
        let over = points
            .iter()
            .find(|p| p.attributes[0].key == OVERFLOW_KEY)
            .unwrap();
        assert_eq!(over.value, Number::I64(3));
    }

    #[test]
    fn one_exemplar_a_millisecond_is_kept_and_a_collection_makes_room() {
        use crate::export::Exemplar;
        use crate::trace::{SpanId, TraceId};
        let t = SeriesTable::new(Kind::Counter, vec![], vec![], Temporality::Delta, 10, 8);
        let ex = |value: f64| Exemplar {
            value,
            time: SystemTime::UNIX_EPOCH,
            trace_id: TraceId(1),
            span_id: SpanId(2),
        };
        let offer = |mono: u64, value: f64| {
            t.with_series(&[], |f| {
                if let Found::Series(s) = f {
                    s.add_u64(1, None);
                    s.offer_exemplar(mono, || ex(value));
                }
            })
        };
        let kept = || match t.collect() {
            Some(MetricPoints::Sum { points, .. }) => points[0]
                .exemplars
                .iter()
                .map(|e| e.value)
                .collect::<Vec<_>>(),
            _ => panic!("a sum"),
        };
        offer(5_000_000, 1.0);
        offer(5_500_000, 2.0); // within a millisecond: not kept
        assert_eq!(kept(), vec![1.0]);
        offer(5_600_000, 3.0); // taken by the collection: room again
        offer(6_700_000, 4.0); // a millisecond later: replaces it
        assert_eq!(kept(), vec![4.0]);
    }

    #[test]
    fn histogram_buckets_and_delta_reset() {
        let t = SeriesTable::new(
            Kind::Histogram,
            vec![],
            vec![1.0, 10.0],
            Temporality::Delta,
            10,
            8,
        );
        for v in [0.5, 1.0, 5.0, 50.0] {
            t.with_series(&[], |f| {
                if let Found::Series(s) = f {
                    s.record_f64(v, &t.bounds, None)
                }
            });
        }
        let MetricPoints::Histogram { points, .. } = t.collect().unwrap() else {
            panic!()
        };
        assert_eq!(
            points[0].bucket_counts,
            vec![2, 1, 1],
            "bounds are inclusive upper bounds"
        );
        assert_eq!((points[0].count, points[0].sum), (4, 56.5));
        assert_eq!((points[0].min, points[0].max), (Some(0.5), Some(50.0)));
        let MetricPoints::Histogram { points, .. } = t.collect().unwrap() else {
            panic!()
        };
        assert_eq!(points[0].count, 0, "delta resets");
    }
}
