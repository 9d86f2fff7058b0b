//! Per-thread cells for the series of bound instruments: each thread that
//! measures into a bound series adds into cells of its own with a plain
//! load and store, where a shared cell needs a locked instruction.
//!
//! Why: an instrumented function's call ends in its bound `ok` counter and,
//! when recorded, its duration histogram (a bucket and the sum). On a
//! shared atomic each is a locked read-modify-write, ~5 ns on the machines
//! we measure on (the `atomic_add` row of the `instrument` benchmark) and
//! worse when threads on several cores hit the same line. A cell only one
//! thread writes needs no lock: the thread reads, adds and stores, and the
//! collection sums every thread's cells with relaxed loads.
//!
//! How a thread gets its cells: the first time it measures into any bound
//! series it takes a *slot*, a small number unique among the live threads
//! (the smallest free one); the slot goes back when the thread exits, and
//! the next thread to take it goes on adding to the same cells (so counts
//! of exited threads are never lost, and each cell keeps a single writer:
//! the slot's hand-over goes through a mutex). A series keeps one pointer
//! per slot, to that thread's cells (allocated on its first measurement
//! there, cache-line aligned so threads never share a line). Threads
//! beyond [`SLOTS`] — and a thread measuring while its thread-locals are
//! torn down — use the series' shared atomic cells, as unbound
//! measurements do.
//!
//! Delta temporality: per-thread cells are never reset (only their owner
//! may write them); the collection remembers the totals it last reported
//! and reports the difference. That is exact for counts only, so with
//! delta temporality sums of floats stay in the shared cells, which a
//! collection resets (see `Series::thread_cells`).

use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

/// Threads that get cells of their own (the first this many live threads
/// measuring into bound series); later ones use the shared cells.
pub(crate) const SLOTS: usize = 64;

/// `SLOT` before the thread asked for one.
const UNASSIGNED: u32 = u32::MAX;
/// `SLOT` of a thread that found none free, or whose slot went back.
const NONE: u32 = u32::MAX - 1;

thread_local! {
    /// This thread's slot (or `UNASSIGNED` / `NONE`). No destructor, so it
    /// stays readable while other thread-locals are torn down.
    static SLOT: Cell<u32> = const { Cell::new(UNASSIGNED) };
    /// Gives the slot back when the thread exits.
    static RELEASE: SlotRelease = const { SlotRelease };
}

/// Slots handed out: the next never used, and the ones given back.
static FREE: Mutex<(u32, Vec<u32>)> = Mutex::new((0, Vec::new()));

struct SlotRelease;

impl Drop for SlotRelease {
    fn drop(&mut self) {
        let slot = SLOT.try_with(|s| s.replace(NONE)).unwrap_or(NONE);
        if (slot as usize) < SLOTS
            && let Ok(mut free) = FREE.lock()
        {
            free.1.push(slot);
        }
    }
}

/// This thread's slot, taking one on first use; `None` when all are taken
/// (or the thread is exiting).
#[cold]
#[inline(never)]
fn assign_slot() -> Option<usize> {
    if SLOT.try_with(Cell::get).unwrap_or(NONE) != UNASSIGNED {
        return None;
    }
    // The release runs at thread exit only if this thread-local was
    // touched; if it cannot be (the thread is exiting), take no slot.
    if RELEASE.try_with(|_| ()).is_err() {
        let _ = SLOT.try_with(|s| s.set(NONE));
        return None;
    }
    let taken = FREE.lock().ok().and_then(|mut free| take(&mut free));
    let _ = SLOT.try_with(|s| s.set(taken.unwrap_or(NONE)));
    taken.map(|s| s as usize)
}

/// The smallest free slot of `free` (the next never used, and those given
/// back), so the slots in use stay few and low; `None` when all are taken.
fn take(free: &mut (u32, Vec<u32>)) -> Option<u32> {
    let smallest = free
        .1
        .iter()
        .enumerate()
        .min_by_key(|(_, s)| **s)
        .map(|(i, _)| i);
    match smallest {
        Some(i) => Some(free.1.swap_remove(i)),
        None if (free.0 as usize) < SLOTS => {
            free.0 += 1;
            Some(free.0 - 1)
        }
        None => None,
    }
}

/// Eight cells on a cache line of their own (`repr(C)`: the cells at
/// offset 0, so lines in a row are cells in a row).
#[repr(C, align(64))]
struct Line([AtomicU64; 8]);

impl Line {
    fn new(init: u64) -> Line {
        Line(std::array::from_fn(|_| AtomicU64::new(init)))
    }
}

/// One thread's cells of one series: the cells in use of its lines (the
/// rest of the last line is padding, not a cell).
pub(crate) struct Mine<'a>(&'a [AtomicU64]);

impl Mine<'_> {
    #[inline(always)]
    fn cell(&self, k: usize) -> Option<&AtomicU64> {
        self.0.get(k)
    }

    /// Adds `v` to integer cell `k` (wrapping).
    #[inline(always)]
    pub(crate) fn add_u64(&self, k: usize, v: u64) {
        if let Some(c) = self.cell(k) {
            // Only this thread writes the cell: no lock needed.
            c.store(c.load(Ordering::Relaxed).wrapping_add(v), Ordering::Relaxed);
        }
    }

    /// Adds `v` to float cell `k` (f64 bits); false if there is no such
    /// cell (the caller adds to the shared one).
    #[inline(always)]
    pub(crate) fn add_f64(&self, k: usize, v: f64) -> bool {
        match self.cell(k) {
            Some(c) => {
                let sum = f64::from_bits(c.load(Ordering::Relaxed)) + v;
                c.store(sum.to_bits(), Ordering::Relaxed);
                true
            }
            None => false,
        }
    }
}

/// What kind of number each cell holds (to sum them, and to start them).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// All cells integers.
    Integers,
    /// All cells f64.
    Floats,
    /// Integers, then one f64 last (a histogram: buckets, then the sum).
    IntegersThenFloat,
}

impl Layout {
    fn is_float(self, k: usize, n: usize) -> bool {
        match self {
            Layout::Integers => false,
            Layout::Floats => true,
            Layout::IntegersThenFloat => k + 1 == n,
        }
    }
}

/// The per-thread cells of one series: `n` cells a thread.
pub(crate) struct ThreadCells {
    n: usize,
    layout: Layout,
    /// For each slot, the first of that thread's `lines()` lines, or null.
    slots: [AtomicPtr<Line>; SLOTS],
    /// Totals the last delta collection reported, by cell.
    reported: Mutex<Vec<u64>>,
}

impl ThreadCells {
    /// Cells for `n` numbers a thread, of `layout`.
    pub(crate) fn new(n: usize, layout: Layout) -> ThreadCells {
        ThreadCells {
            n,
            layout,
            slots: std::array::from_fn(|_| AtomicPtr::new(std::ptr::null_mut())),
            reported: Mutex::new(Vec::new()),
        }
    }

    fn lines(&self) -> usize {
        self.n.div_ceil(8)
    }

    /// This thread's cells, made on its first measurement here; `None`
    /// for a thread without a slot (use the shared cells).
    #[inline(always)]
    pub(crate) fn mine(&self) -> Option<Mine<'_>> {
        let slot = SLOT.try_with(Cell::get).unwrap_or(NONE) as usize;
        let p = match self.slots.get(slot) {
            Some(p) => p.load(Ordering::Acquire),
            None => return self.mine_slow(),
        };
        if p.is_null() {
            return self.mine_slow();
        }
        Some(self.cells_at(p))
    }

    #[cold]
    #[inline(never)]
    fn mine_slow(&self) -> Option<Mine<'_>> {
        let slot = match SLOT.try_with(Cell::get).unwrap_or(NONE) {
            UNASSIGNED => assign_slot()?,
            s => s as usize,
        };
        let entry = self.slots.get(slot)?;
        let mut p = entry.load(Ordering::Acquire);
        if p.is_null() {
            p = self.make();
            // Only this thread (the slot's owner) fills its entry, so no
            // other thread can have set it meanwhile.
            entry.store(p, Ordering::Release);
        }
        Some(self.cells_at(p))
    }

    /// The cells in use of the lines at `p`, a non-null entry of `slots`.
    #[inline(always)]
    fn cells_at(&self, p: *mut Line) -> Mine<'_> {
        // SAFETY: a non-null pointer in `slots` is the start of `lines()`
        // lines allocated by `make` and freed only in `drop`, which `&self`
        // proves has not run. A `Line` is eight `AtomicU64`s and nothing
        // else (64 bytes, no padding), so the lines are `8 * lines()`
        // contiguous cells, of which the first `n` are in use.
        Mine(unsafe { std::slice::from_raw_parts(p.cast::<AtomicU64>(), self.n) })
    }

    /// A thread's cells, at their starting values.
    fn make(&self) -> *mut Line {
        let lines: Box<[Line]> = (0..self.lines())
            .map(|l| {
                let line = Line::new(0);
                for (i, c) in line.0.iter().enumerate() {
                    if self.layout.is_float(l * 8 + i, self.n) {
                        c.store(0f64.to_bits(), Ordering::Relaxed);
                    }
                }
                line
            })
            .collect();
        Box::into_raw(lines).cast::<Line>()
    }

    /// The total of cell `k` over every thread: integers wrapping, floats
    /// as f64 bits.
    fn total(&self, k: usize) -> u64 {
        let float = self.layout.is_float(k, self.n);
        let mut int = 0u64;
        let mut sum = 0f64;
        for entry in &self.slots {
            let p = entry.load(Ordering::Acquire);
            if p.is_null() {
                continue;
            }
            let Some(v) = self.cells_at(p).cell(k).map(|c| c.load(Ordering::Relaxed)) else {
                continue;
            };
            if float {
                sum += f64::from_bits(v);
            } else {
                int = int.wrapping_add(v);
            }
        }
        if float { sum.to_bits() } else { int }
    }

    /// What every thread added, by cell: since the last call with
    /// `delta` set if it is, else since the start.
    pub(crate) fn collect(&self, delta: bool) -> Vec<u64> {
        if !delta {
            return (0..self.n).map(|k| self.total(k)).collect();
        }
        // Totals read under the lock, so two collections cannot report
        // them out of order (a poisoned lock still holds the last totals).
        let mut reported = self
            .reported
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let totals: Vec<u64> = (0..self.n).map(|k| self.total(k)).collect();
        if reported.len() != self.n {
            *reported = (0..self.n)
                .map(|k| {
                    if self.layout.is_float(k, self.n) {
                        0f64.to_bits()
                    } else {
                        0
                    }
                })
                .collect();
        }
        totals
            .iter()
            .zip(reported.iter_mut())
            .enumerate()
            .map(|(k, (now, last))| {
                let diff = if self.layout.is_float(k, self.n) {
                    (f64::from_bits(*now) - f64::from_bits(*last)).to_bits()
                } else {
                    now.wrapping_sub(*last)
                };
                *last = *now;
                diff
            })
            .collect()
    }
}

impl Drop for ThreadCells {
    fn drop(&mut self) {
        let lines = self.lines();
        for entry in &mut self.slots {
            let p = *entry.get_mut();
            if !p.is_null() {
                // SAFETY: made by `make` as a boxed slice of `lines` lines;
                // no thread can reach it any more (`&mut self`).
                drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, lines)) });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn every_threads_additions_are_summed() {
        let cells = Arc::new(ThreadCells::new(3, Layout::IntegersThenFloat));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let cells = cells.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        let mine = cells.mine().expect("a slot");
                        mine.add_u64(0, 1);
                        mine.add_u64(1, 2);
                        mine.add_f64(2, 0.5);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        let totals = cells.collect(false);
        assert_eq!(totals[0], 4000);
        assert_eq!(totals[1], 8000);
        assert_eq!(f64::from_bits(totals[2]), 2000.0);
    }

    #[test]
    fn counts_of_exited_threads_are_kept() {
        let cells = Arc::new(ThreadCells::new(1, Layout::Integers));
        for _ in 0..3 {
            let cells = cells.clone();
            std::thread::spawn(move || cells.mine().expect("a slot").add_u64(0, 5))
                .join()
                .expect("thread");
        }
        assert_eq!(cells.collect(false), vec![15]);
    }

    #[test]
    fn the_smallest_free_slot_is_taken_and_none_past_the_limit() {
        let mut free = (0u32, Vec::new());
        assert_eq!(take(&mut free), Some(0));
        assert_eq!(take(&mut free), Some(1));
        assert_eq!(take(&mut free), Some(2));
        free.1.extend([2, 0]);
        assert_eq!(take(&mut free), Some(0));
        assert_eq!(take(&mut free), Some(2));
        assert_eq!(take(&mut free), Some(3));
        let mut full = (SLOTS as u32, Vec::new());
        assert_eq!(take(&mut full), None);
        full.1.push(7);
        assert_eq!(take(&mut full), Some(7));
    }

    #[test]
    fn only_the_cells_in_use_are_written() {
        // Two cells on a line of eight: the padding is not a cell.
        let cells = ThreadCells::new(2, Layout::Integers);
        let mine = cells.mine().expect("a slot");
        assert!(!mine.add_f64(2, 1.0), "past the cells in use");
        assert!(mine.add_f64(1, 0.0));
        mine.add_u64(7, 5);
        assert_eq!(cells.collect(false), vec![0, 0]);
    }

    #[test]
    fn delta_collection_reports_what_was_added_since_the_last() {
        let cells = ThreadCells::new(2, Layout::IntegersThenFloat);
        let mine = cells.mine().expect("a slot");
        mine.add_u64(0, 3);
        mine.add_f64(1, 1.5);
        let first = cells.collect(true);
        assert_eq!(first[0], 3);
        assert_eq!(f64::from_bits(first[1]), 1.5);
        let mine = cells.mine().expect("a slot");
        mine.add_u64(0, 4);
        mine.add_f64(1, 2.0);
        let second = cells.collect(true);
        assert_eq!(second[0], 4);
        assert_eq!(f64::from_bits(second[1]), 2.0);
        assert_eq!(cells.collect(true)[0], 0);
        // Cumulative collection still sees everything.
        assert_eq!(cells.collect(false)[0], 7);
    }
}
