//! The series of one instrument, found by the hash of their attribute set
//! without a lock or a guard.
//!
//! Series are never removed while the instrument lives (delta temporality
//! resets their cells, not the set), so the table only grows. That makes
//! the read side simple: an open-addressing array of pointers, probed
//! linearly. A writer (the first measurement of a new attribute set, under
//! a mutex) fills an empty slot, or, when the array would be more than half
//! full, publishes a copy twice the size. Arrays replaced that way are kept
//! until the table drops, because a reader may still be probing one, so
//! no reclamation scheme is needed: the old arrays together are smaller
//! than the current one.
//!
//! Why not a general concurrent map: the epoch guard of `papaya` (a
//! thread-local lookup on entry and an atomic swap on exit) was the largest
//! single cost of a counter add after the attribute hash, and this table
//! needs none of what it pays for (removal, values that change).

use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::Series;

/// One array of slots; a slot holds a series of the table or is null.
struct Slots {
    mask: usize,
    /// 64 minus log2 of the length: the slot a hash starts at is the top
    /// bits of its product with a large odd constant, so sets whose hashes
    /// differ only in their high bits do not pile up in one place.
    shift: u32,
    entries: Box<[AtomicPtr<Series>]>,
}

impl Slots {
    fn with_capacity(capacity: usize) -> Arc<Slots> {
        let capacity = capacity.next_power_of_two().max(8);
        Arc::new(Slots {
            mask: capacity - 1,
            shift: 64 - capacity.trailing_zeros(),
            entries: (0..capacity)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
        })
    }

    /// The slot a probe for `hash` starts at.
    #[inline]
    fn start(&self, hash: u64) -> usize {
        (hash.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize
    }

    /// Puts `series` in the first empty slot from its hash on. The array
    /// is at most half full, so there is one.
    fn put(&self, series: &Series) {
        let mut i = self.start(series.hash);
        loop {
            let Some(entry) = self.entries.get(i) else {
                return;
            };
            if entry.load(Ordering::Relaxed).is_null() {
                entry.store(std::ptr::from_ref(series).cast_mut(), Ordering::Release);
                return;
            }
            i = (i + 1) & self.mask;
        }
    }
}

/// What writers share: every series (which keeps each alive, and gives
/// collection its order) and every array ever published.
struct Owned {
    series: Vec<Arc<Series>>,
    /// Behind `Arc`s so that `current` stays valid when the vector grows
    /// (moving an `Arc` does not move or reborrow what it points to).
    arrays: Vec<Arc<Slots>>,
}

/// A grow-only table of series (see the module's documentation).
pub(crate) struct SeriesMap {
    /// The current array; it points into `owned.arrays`.
    current: AtomicPtr<Slots>,
    /// Number of series, readable without the lock.
    len: AtomicUsize,
    owned: Mutex<Owned>,
}

/// What [`SeriesMap::get_or_insert`] found.
pub(crate) enum Entry<'a> {
    /// The series, found or made.
    Series(&'a Series),
    /// Not there, and `make` declined to make it (the series limit).
    Full,
}

impl SeriesMap {
    pub(crate) fn new() -> Self {
        let first = Slots::with_capacity(8);
        let current = Arc::as_ptr(&first).cast_mut();
        SeriesMap {
            current: AtomicPtr::new(current),
            len: AtomicUsize::new(0),
            owned: Mutex::new(Owned {
                series: Vec::new(),
                arrays: vec![first],
            }),
        }
    }

    /// The series with attribute hash `hash` that `is` accepts, if the
    /// table has it. Lock-free: a few loads and `is` per candidate.
    #[inline]
    pub(crate) fn get(&self, hash: u64, mut is: impl FnMut(&Series) -> bool) -> Option<&Series> {
        // SAFETY: `current` always points to an array in `owned.arrays`,
        // which are only dropped with the table, and `&self` keeps the table
        // alive for the returned lifetime.
        let slots = unsafe { &*self.current.load(Ordering::Acquire) };
        let mut i = slots.start(hash);
        loop {
            let p = slots.entries.get(i)?.load(Ordering::Acquire);
            if p.is_null() {
                return None;
            }
            // SAFETY: a non-null slot points to a series held by an `Arc`
            // in `owned.series`, never removed while the table lives.
            let s = unsafe { &*p };
            if s.hash == hash && is(s) {
                return Some(s);
            }
            i = (i + 1) & slots.mask;
        }
    }

    /// The series that `is` accepts, else the one `make` makes (given its
    /// index, to keep in [`Series::index`]), inserted; `make` returning
    /// `None` leaves the table as it is. Writers take a mutex.
    pub(crate) fn get_or_insert(
        &self,
        hash: u64,
        mut is: impl FnMut(&Series) -> bool,
        make: impl FnOnce(usize) -> Option<Series>,
    ) -> Entry<'_> {
        let Ok(mut owned) = self.owned.lock() else {
            return Entry::Full;
        };
        if let Some(s) = self.get(hash, &mut is) {
            return Entry::Series(s);
        }
        let Some(mut made) = make(owned.series.len()) else {
            return Entry::Full;
        };
        made.hash = hash;
        let made = Arc::new(made);
        let ptr = Arc::as_ptr(&made);
        owned.series.push(made);
        // SAFETY: as in `get`; the lock is held, so no other writer
        // replaces the array meanwhile.
        let slots = unsafe { &*self.current.load(Ordering::Acquire) };
        // SAFETY: `ptr` is the `Arc` just pushed, kept until the table drops.
        let series = unsafe { &*ptr };
        if (owned.series.len()) * 2 > slots.entries.len() {
            let bigger = Slots::with_capacity(slots.entries.len() * 2);
            for s in &owned.series {
                bigger.put(s);
            }
            self.current
                .store(Arc::as_ptr(&bigger).cast_mut(), Ordering::Release);
            owned.arrays.push(bigger);
        } else {
            slots.put(series);
        }
        self.len.store(owned.series.len(), Ordering::Relaxed);
        Entry::Series(series)
    }

    /// A counted handle to `series`, which must be one of this table's.
    pub(crate) fn arc_of(&self, series: &Series) -> Option<Arc<Series>> {
        let owned = self.owned.lock().ok()?;
        owned
            .series
            .get(series.index)
            .filter(|s| std::ptr::eq(Arc::as_ptr(s), series))
            .cloned()
    }

    /// Every series, in the order they were made.
    pub(crate) fn all(&self) -> Vec<Arc<Series>> {
        self.owned
            .lock()
            .map(|o| o.series.clone())
            .unwrap_or_default()
    }

    /// Number of series.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::series::{Cells, Kind};

    fn series(tag: u64) -> Series {
        Series::new(
            vec![crate::export::Attribute::new("tag", tag)],
            Box::new([]),
            Cells::new(Kind::Counter, 0),
            0,
        )
    }

    fn tag(s: &Series) -> u64 {
        match s.attrs[0].value {
            crate::value::AttrValue::U64(t) => t,
            _ => u64::MAX,
        }
    }

    #[test]
    fn grows_keeps_every_series_and_tells_colliding_hashes_apart() {
        let map = SeriesMap::new();
        // Three hashes only, so most series collide and probe past others.
        for t in 0..200u64 {
            let hash = t % 3;
            let e = map.get_or_insert(
                hash,
                |s| tag(s) == t,
                |i| {
                    let mut s = series(t);
                    s.index = i;
                    Some(s)
                },
            );
            assert!(matches!(e, Entry::Series(s) if tag(s) == t));
        }
        assert_eq!(map.len(), 200);
        for t in 0..200u64 {
            let s = map.get(t % 3, |s| tag(s) == t).expect("found again");
            assert_eq!(tag(s), t);
            let arc = map.arc_of(s).expect("its handle");
            assert!(std::ptr::eq(Arc::as_ptr(&arc), s));
        }
        assert!(map.get(1, |s| tag(s) == 1000).is_none());
        let tags: Vec<u64> = map.all().iter().map(|s| tag(s)).collect();
        assert_eq!(tags, (0..200).collect::<Vec<_>>(), "in creation order");
    }

    #[test]
    fn make_declining_leaves_the_table_unchanged() {
        let map = SeriesMap::new();
        assert!(matches!(
            map.get_or_insert(7, |_| true, |_| None),
            Entry::Full
        ));
        assert_eq!(map.len(), 0);
        assert!(map.get(7, |_| true).is_none());
    }

    #[test]
    fn concurrent_writers_and_readers_agree_on_one_series_per_set() {
        let map = Arc::new(SeriesMap::new());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let map = Arc::clone(&map);
                std::thread::spawn(move || {
                    for round in 0..3 {
                        for t in 0..500u64 {
                            let e = map.get_or_insert(
                                t % 17,
                                |s| tag(s) == t,
                                |i| {
                                    let mut s = series(t);
                                    s.index = i;
                                    Some(s)
                                },
                            );
                            if let Entry::Series(s) = e {
                                s.add_u64(1, None);
                            }
                            if round > 0 {
                                assert!(map.get(t % 17, |s| tag(s) == t).is_some());
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("no panic");
        }
        assert_eq!(map.len(), 500, "one series per attribute set");
        for s in map.all() {
            let Cells::Sum(c) = &s.cells else {
                panic!("a counter")
            };
            assert_eq!(c.load(Ordering::Relaxed), 12, "4 threads x 3 rounds");
        }
    }
}
