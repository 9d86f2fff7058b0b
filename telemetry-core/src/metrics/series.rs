//! Lock-free aggregation: one series per distinct attribute set, found by an
//! order-independent hash in a concurrent map, updated with atomics.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use crate::export::Attribute;
use crate::export::{Exemplar, HistogramPoint, MetricPoints, Number, NumberPoint, Temporality};
use crate::value::{AttrValue, TRUNCATED, Value};

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

pub(crate) struct HistogramCells {
    count: AtomicU64,
    sum: AtomicU64,
    min: AtomicU64,
    max: AtomicU64,
    buckets: Box<[AtomicU64]>,
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
    fn new(kind: Kind, buckets: usize) -> Self {
        match kind {
            Kind::Counter | Kind::UpDownCounter => Cells::Sum(AtomicU64::new(0)),
            Kind::FloatCounter => Cells::FloatSum(AtomicU64::new(0f64.to_bits())),
            Kind::Gauge => Cells::Gauge {
                bits: AtomicU64::new(0),
                set: AtomicBool::new(false),
            },
            Kind::Histogram => Cells::Histogram(HistogramCells {
                count: AtomicU64::new(0),
                sum: AtomicU64::new(0f64.to_bits()),
                min: AtomicU64::new(f64::INFINITY.to_bits()),
                max: AtomicU64::new(f64::NEG_INFINITY.to_bits()),
                buckets: (0..buckets).map(|_| AtomicU64::new(0)).collect(),
            }),
        }
    }
}

/// One series: an attribute set and its cells.
pub(crate) struct Series {
    attrs: Vec<Attribute>,
    /// For each declared key: 1 + its position in `attrs`, or 0 if absent.
    slots: Box<[u8]>,
    pub(crate) cells: Cells,
    /// The latest exemplar offered (instrumented functions' calls only).
    exemplar: Mutex<Option<Exemplar>>,
    /// The next series whose attribute hash collides with this one.
    next: OnceLock<Arc<Series>>,
}

impl Series {
    /// Keeps `exemplar` as the series' latest, unless another thread is
    /// storing one right now (never waits).
    #[inline]
    pub(crate) fn offer_exemplar(&self, exemplar: Exemplar) {
        if let Ok(mut slot) = self.exemplar.try_lock() {
            *slot = Some(exemplar);
        }
    }

    /// The latest exemplar (taken, for delta temporality).
    fn exemplars(&self, take: bool) -> Vec<Exemplar> {
        match self.exemplar.lock() {
            Ok(mut slot) if take => slot.take().into_iter().collect(),
            Ok(slot) => slot.iter().copied().collect(),
            Err(_) => Vec::new(),
        }
    }

    #[inline]
    pub(crate) fn add_u64(&self, v: u64) {
        if let Cells::Sum(c) = &self.cells {
            c.fetch_add(v, Ordering::Relaxed);
        }
    }

    /// Adds a non-negative finite amount (others are ignored).
    #[inline]
    pub(crate) fn add_f64(&self, v: f64) {
        if let Cells::FloatSum(c) = &self.cells
            && v.is_finite()
            && v > 0.0
        {
            f64_update(c, |sum| sum + v);
        }
    }

    #[inline]
    pub(crate) fn add_i64(&self, v: i64) {
        if let Cells::Sum(c) = &self.cells {
            c.fetch_add(v as u64, Ordering::Relaxed);
        }
    }

    #[inline]
    pub(crate) fn set_f64(&self, v: f64) {
        if let Cells::Gauge { bits, set } = &self.cells {
            bits.store(v.to_bits(), Ordering::Relaxed);
            set.store(true, Ordering::Release);
        }
    }

    #[inline]
    pub(crate) fn record_f64(&self, v: f64, bounds: &[f64]) {
        if let Cells::Histogram(h) = &self.cells {
            if v.is_nan() {
                return;
            }
            let i = bounds.partition_point(|b| *b < v);
            if let Some(b) = h.buckets.get(i) {
                b.fetch_add(1, Ordering::Relaxed);
            }
            h.count.fetch_add(1, Ordering::Relaxed);
            f64_update(&h.sum, |s| s + v);
            if v < f64::from_bits(h.min.load(Ordering::Relaxed)) {
                f64_update(&h.min, |m| m.min(v));
            }
            if v > f64::from_bits(h.max.load(Ordering::Relaxed)) {
                f64_update(&h.max, |m| m.max(v));
            }
        }
    }

    fn matches(
        &self,
        attrs: &[(&'static str, Value<'_>)],
        declared: &[&'static str],
        max_len: usize,
    ) -> bool {
        let mut n = 0;
        for (k, v) in attrs {
            let Some(i) = key_index(declared, k) else {
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

fn cut(s: &str, max_len: usize) -> Option<&str> {
    if s.len() <= max_len {
        return None;
    }
    let mut end = max_len;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    Some(&s[..end])
}

fn value_matches(stored: &AttrValue, v: Value<'_>, max_len: usize) -> bool {
    match (stored, v) {
        (AttrValue::Str(s), Value::Str(v)) => match cut(v, max_len) {
            None => s == v,
            Some(prefix) => s.strip_prefix(prefix) == Some(TRUNCATED),
        },
        (AttrValue::Bool(a), Value::Bool(b)) => *a == b,
        (AttrValue::I64(a), Value::I64(b)) => *a == b,
        (AttrValue::U64(a), Value::U64(b)) => *a == b,
        (AttrValue::F64(a), Value::F64(b)) => a.to_bits() == b.to_bits(),
        (AttrValue::U64(a), Value::Duration(d)) => u128::from(*a) == d.as_nanos(),
        (AttrValue::U64(a), Value::Timestamp(t)) => *a == crate::value::unix_nanos(t),
        // Rare as metric attributes: compared through their stored form.
        (
            _,
            Value::I128(_) | Value::U128(_) | Value::Char(_) | Value::Bytes(_) | Value::List(_),
        ) => crate::value::own_public(v, max_len).is_some_and(|(owned, _)| owned == *stored),
        _ => false,
    }
}

/// The index of `key` among the declared keys. Keys are usually the same
/// `&'static str` as declared, so pointers are compared before contents.
#[inline]
fn key_index(declared: &[&'static str], key: &str) -> Option<usize> {
    declared
        .iter()
        .position(|d| std::ptr::eq(d.as_ptr(), key.as_ptr()) && d.len() == key.len())
        .or_else(|| declared.iter().position(|d| *d == key))
}

#[inline]
fn mix(h: u64, x: u64) -> u64 {
    (h.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95)
}

fn hash_bytes(mut h: u64, bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = mix(h, u64::from_le_bytes(w));
    }
    let mut w = [0u8; 8];
    let rest = chunks.remainder();
    w[..rest.len()].copy_from_slice(rest);
    mix(mix(h, u64::from_le_bytes(w)), bytes.len() as u64)
}

/// Order-independent hash of the declared attributes (by key index).
#[inline]
fn hash_attrs(
    attrs: &[(&'static str, Value<'_>)],
    declared: &[&'static str],
    max_len: usize,
) -> u64 {
    let mut total = 0u64;
    for (k, v) in attrs {
        let Some(i) = key_index(declared, k) else {
            continue;
        };
        let h = mix(0x243f_6a88_85a3_08d3, i as u64);
        let h = match v {
            Value::Str(s) => hash_bytes(mix(h, 1), cut(s, max_len).unwrap_or(s).as_bytes()),
            Value::Bool(b) => mix(mix(h, 2), u64::from(*b)),
            Value::I64(i) => mix(mix(h, 3), *i as u64),
            Value::U64(u) => mix(mix(h, 4), *u),
            Value::F64(f) => mix(mix(h, 5), f.to_bits()),
            Value::Duration(d) => mix(mix(h, 4), u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            Value::Timestamp(t) => mix(mix(h, 4), crate::value::unix_nanos(*t)),
            Value::I128(i) => mix(mix(mix(h, 7), *i as u64), (*i >> 64) as u64),
            Value::U128(u) => mix(mix(mix(h, 8), *u as u64), (*u >> 64) as u64),
            Value::Char(c) => mix(mix(h, 9), u64::from(u32::from(*c))),
            Value::Bytes(b) => hash_bytes(mix(h, 10), b),
            Value::Absent => mix(h, 6),
            // Rare as metric attributes: told apart by length, then
            // compared through their stored form.
            Value::List(l) => mix(mix(h, 11), l.0.len() as u64),
        };
        total = total.wrapping_add(h);
    }
    total
}

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
    map: papaya::HashMap<u64, Arc<Series>>,
    count: AtomicUsize,
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
            map: papaya::HashMap::new(),
            count: AtomicUsize::new(0),
            overflow: Arc::new(Series {
                attrs: vec![Attribute::new(OVERFLOW_KEY, true)],
                slots: Box::new([]),
                cells: Cells::new(kind, nb),
                exemplar: Mutex::new(None),
                next: OnceLock::new(),
            }),
            declared,
            bounds: bounds.into(),
            max_series,
            max_len,
            temporality,
            created: now,
            last_collect: Mutex::new(now),
        }
    }

    fn new_series(&self, attrs: &[(&'static str, Value<'_>)]) -> Arc<Series> {
        let nb = if self.kind == Kind::Histogram {
            self.bounds.len() + 1
        } else {
            0
        };
        let mut owned = Vec::with_capacity(attrs.len());
        let mut slots = vec![0u8; self.declared.len()].into_boxed_slice();
        for (k, v) in attrs {
            if let Some(i) = key_index(&self.declared, k)
                && slots[i] == 0
                && let Some((value, _)) = crate::value::own_public(*v, self.max_len)
            {
                owned.push(Attribute::new(self.declared[i], value));
                slots[i] = u8::try_from(owned.len()).unwrap_or(u8::MAX);
            }
        }
        Arc::new(Series {
            attrs: owned,
            slots,
            cells: Cells::new(self.kind, nb),
            exemplar: Mutex::new(None),
            next: OnceLock::new(),
        })
    }

    /// Whether any attribute key is not declared (it is ignored, and counted).
    #[inline]
    pub(crate) fn has_undeclared(&self, attrs: &[(&'static str, Value<'_>)]) -> bool {
        attrs
            .iter()
            .any(|(k, _)| key_index(&self.declared, k).is_none())
    }

    /// Runs `f` on the series for `attrs`, creating it if needed.
    #[inline]
    pub(crate) fn with_series<R>(
        &self,
        attrs: &[(&'static str, Value<'_>)],
        f: impl FnOnce(Found<'_>) -> R,
    ) -> R {
        let h = hash_attrs(attrs, &self.declared, self.max_len);
        let map = self.map.pin();
        let mut cur = map.get(&h);
        while let Some(s) = cur {
            if s.matches(attrs, &self.declared, self.max_len) {
                return f(Found::Series(s));
            }
            cur = s.next.get();
        }
        // Not found: create under the series limit.
        if self.count.fetch_add(1, Ordering::Relaxed) >= self.max_series {
            self.count.fetch_sub(1, Ordering::Relaxed);
            return f(Found::Overflow);
        }
        let new = self.new_series(attrs);
        let mut slot = match map.try_insert(h, new.clone()) {
            Ok(s) => return f(Found::Series(s)),
            Err(occupied) => occupied.current,
        };
        loop {
            if slot.matches(attrs, &self.declared, self.max_len) {
                self.count.fetch_sub(1, Ordering::Relaxed);
                return f(Found::Series(slot));
            }
            match slot.next.get() {
                Some(next) => slot = next,
                None => {
                    if slot.next.set(new.clone()).is_ok() {
                        return f(Found::Series(&new));
                    }
                }
            }
        }
    }

    /// A counted handle to the series for `attrs` (for bound instruments).
    pub(crate) fn series_arc(&self, attrs: &[(&'static str, Value<'_>)]) -> Arc<Series> {
        let h = hash_attrs(attrs, &self.declared, self.max_len);
        // Ensure it exists, then find it again to get the Arc.
        self.with_series(attrs, |_| ());
        let map = self.map.pin();
        let mut cur = map.get(&h);
        while let Some(s) = cur {
            if s.matches(attrs, &self.declared, self.max_len) {
                return s.clone();
            }
            cur = s.next.get();
        }
        self.overflow.clone()
    }

    /// Whether the table reports deltas (reading it resets it).
    pub(crate) fn is_delta(&self) -> bool {
        self.temporality == Temporality::Delta
    }

    /// Number of series (without the overflow series).
    pub(crate) fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Reads (and for delta temporality, resets) every series.
    pub(crate) fn collect(&self) -> Option<MetricPoints> {
        let now = SystemTime::now();
        let start = match self.temporality {
            Temporality::Cumulative => self.created,
            Temporality::Delta => match self.last_collect.lock() {
                Ok(mut last) => std::mem::replace(&mut *last, now),
                Err(_) => self.created,
            },
        };
        let delta = self.temporality == Temporality::Delta;
        let mut all: Vec<Arc<Series>> = Vec::new();
        {
            let map = self.map.pin();
            for (_, s) in map.iter() {
                let mut cur = Some(s);
                while let Some(s) = cur {
                    all.push(s.clone());
                    cur = s.next.get();
                }
            }
        }
        all.push(self.overflow.clone());
        let mut numbers = Vec::new();
        let mut hists = Vec::new();
        for s in &all {
            let is_overflow = Arc::ptr_eq(s, &self.overflow);
            match &s.cells {
                Cells::Sum(c) => {
                    let raw = if delta {
                        c.swap(0, Ordering::Relaxed)
                    } else {
                        c.load(Ordering::Relaxed)
                    };
                    if is_overflow && raw == 0 {
                        continue;
                    }
                    let value = match self.kind {
                        Kind::UpDownCounter => Number::I64(raw as i64),
                        _ => Number::I64(i64::try_from(raw).unwrap_or(i64::MAX)),
                    };
                    numbers.push(NumberPoint {
                        attributes: s.attrs.clone(),
                        start,
                        time: now,
                        value,
                        exemplars: s.exemplars(delta),
                    });
                }
                Cells::FloatSum(c) => {
                    let raw = if delta {
                        c.swap(0f64.to_bits(), Ordering::Relaxed)
                    } else {
                        c.load(Ordering::Relaxed)
                    };
                    let value = f64::from_bits(raw);
                    if is_overflow && value == 0.0 {
                        continue;
                    }
                    numbers.push(NumberPoint {
                        attributes: s.attrs.clone(),
                        start,
                        time: now,
                        value: Number::F64(value),
                        exemplars: s.exemplars(delta),
                    });
                }
                Cells::Gauge { bits, set } => {
                    if set.load(Ordering::Acquire) {
                        let value = Number::F64(f64::from_bits(bits.load(Ordering::Relaxed)));
                        numbers.push(NumberPoint {
                            attributes: s.attrs.clone(),
                            start,
                            time: now,
                            value,
                            exemplars: Vec::new(),
                        });
                    }
                }
                Cells::Histogram(h) => {
                    let take = |c: &AtomicU64, reset: u64| {
                        if delta {
                            c.swap(reset, Ordering::Relaxed)
                        } else {
                            c.load(Ordering::Relaxed)
                        }
                    };
                    let count = take(&h.count, 0);
                    if is_overflow && count == 0 {
                        continue;
                    }
                    let sum = f64::from_bits(take(&h.sum, 0f64.to_bits()));
                    let min = f64::from_bits(take(&h.min, f64::INFINITY.to_bits()));
                    let max = f64::from_bits(take(&h.max, f64::NEG_INFINITY.to_bits()));
                    hists.push(HistogramPoint {
                        attributes: s.attrs.clone(),
                        start,
                        time: now,
                        count,
                        sum,
                        min: (count > 0).then_some(min),
                        max: (count > 0).then_some(max),
                        bounds: self.bounds.clone(),
                        bucket_counts: h.buckets.iter().map(|b| take(b, 0)).collect(),
                        exemplars: s.exemplars(delta),
                    });
                }
            }
        }
        let points = match self.kind {
            Kind::Counter | Kind::FloatCounter => MetricPoints::Sum {
                monotonic: true,
                temporality: self.temporality,
                points: numbers,
            },
            Kind::UpDownCounter => MetricPoints::Sum {
                monotonic: false,
                temporality: self.temporality,
                points: numbers,
            },
            Kind::Gauge => MetricPoints::Gauge { points: numbers },
            Kind::Histogram => MetricPoints::Histogram {
                temporality: self.temporality,
                points: hists,
            },
        };
        let empty = match &points {
            MetricPoints::Sum { points, .. } | MetricPoints::Gauge { points } => points.is_empty(),
            MetricPoints::Histogram { points, .. } => points.is_empty(),
        };
        (!empty).then_some(points)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                Found::Series(s) => s.add_u64(2),
                Found::Overflow => unreachable!(),
            },
        );
        t.with_series(
            &[("b", Value::U64(1)), ("a", Value::Str("x"))],
            |f| match f {
                Found::Series(s) => s.add_u64(3),
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
                    s.add_u64(1)
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
                    s.add_u64(1)
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
                Found::Series(s) => s.add_u64(1),
                Found::Overflow => {
                    t.overflow.add_u64(1);
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
                    s.record_f64(v, &t.bounds)
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
