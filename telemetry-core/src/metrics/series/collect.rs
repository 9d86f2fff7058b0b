//! Reading a series table into the points exporters receive; for delta
//! temporality, reading resets it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crate::export::{HistogramPoint, MetricPoints, Number, NumberPoint, Temporality};

use super::{Cells, Kind, Series, SeriesTable};

impl SeriesTable {
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
        let mut all: Vec<Arc<Series>> = self.map.all();
        all.push(self.overflow.clone());
        let mut numbers = Vec::new();
        let mut hists = Vec::new();
        for s in &all {
            let is_overflow = Arc::ptr_eq(s, &self.overflow);
            // What bound instruments added in their per-thread cells.
            let local = s.local.get().map(|l| l.collect(delta));
            let local_at = |k: usize| local.as_ref().and_then(|l| l.get(k)).copied();
            match &s.cells {
                Cells::Sum(c) => {
                    let shared = if delta {
                        c.swap(0, Ordering::Relaxed)
                    } else {
                        c.load(Ordering::Relaxed)
                    };
                    let raw = shared.wrapping_add(local_at(0).unwrap_or(0));
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
                    let value =
                        f64::from_bits(raw) + local_at(0).map(f64::from_bits).unwrap_or(0.0);
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
                    let bucket_counts: Vec<u64> = h
                        .buckets
                        .iter()
                        .enumerate()
                        .map(|(k, b)| take(b, 0).wrapping_add(local_at(k).unwrap_or(0)))
                        .collect();
                    let count = bucket_counts.iter().fold(0u64, |n, c| n.wrapping_add(*c));
                    if is_overflow && count == 0 {
                        continue;
                    }
                    let sum = f64::from_bits(take(&h.sum, 0f64.to_bits()))
                        + local_at(h.buckets.len()).map(f64::from_bits).unwrap_or(0.0);
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
                        bucket_counts,
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
