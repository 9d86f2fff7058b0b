//! The export queue: a bounded lock-free queue from the recording threads
//! to the export worker, whose consumer moves a record out of its slot
//! straight to where it goes.
//!
//! The algorithm is Dmitry Vyukov's bounded multi-producer multi-consumer
//! queue, as `crossbeam_queue::ArrayQueue` implements it (this is a port of
//! that code: each slot has a stamp saying whose turn it is; a producer
//! claims a slot by moving the tail, writes, then stamps it full; a
//! consumer claims by moving the head, reads, then stamps it empty for the
//! next lap). What it adds is [`Queue::take`]: the value is read where it
//! lies, and moved once, into its destination, before the slot is given
//! back. `ArrayQueue::pop` returns the value, which the caller then moves
//! again into its batch: for a record of about 400 bytes the worker copied
//! each one two or three times, most of its time in `perf` (see
//! `docs/performance.md`, "One move from the queue, a prefetched slot, a
//! worker that does not wait for a spill"). On the producer's side,
//! [`Queue::push_with`] claims a slot first and builds the record there,
//! so a record just assembled is not copied once more on the recording
//! thread (see "Values built where they are kept").

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::{Backoff, CachePadded};

use super::Queued;
use crate::export::{LogRecord, Record, SpanRecord};

/// How many pushes ahead a push prefetches the slot it will write. Three to
/// twelve ahead measured alike, and a recorded span 8–20 ns faster than one
/// ahead (`docs/performance.md`, "The next slot asked for eight pushes
/// ahead"). Eight slots are 3.5 KiB, well inside the first-level cache.
const PREFETCH_AHEAD: usize = 8;

/// One place in the queue: its stamp and maybe a value. Aligned to a
/// cache line, so that a slot the worker reads shares no line with the
/// next one a recording thread writes (a record's slot is 448 bytes, seven
/// lines).
#[repr(align(64))]
struct Slot<T> {
    /// `tail + 1` once written for the lap whose tail is `tail`; `head +
    /// one_lap` once read, so that the producer of the next lap may write.
    stamp: AtomicU64,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// A bounded queue of at most `capacity` values.
pub(crate) struct Queue<T> {
    /// Where the next value is read: `{ lap, index }` in one word.
    head: CachePadded<AtomicU64>,
    /// Where the next value is written, in the same form.
    tail: CachePadded<AtomicU64>,
    buffer: Box<[Slot<T>]>,
    cap: usize,
    /// The smallest power of two above the capacity: the lap's unit.
    one_lap: u64,
}

// SAFETY: the queue hands each value from one thread to another once (a
// slot's stamp orders the write before the read), so it is `Sync` and
// `Send` when the values may be sent.
unsafe impl<T: Send> Sync for Queue<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for Queue<T> {}

// As `ArrayQueue`: a panic leaves every slot either written and stamped
// full or stamped empty (a value being moved out is dropped, and its slot
// given back, as its `Taken` unwinds), so the queue stays usable.
impl<T> std::panic::UnwindSafe for Queue<T> {}
impl<T> std::panic::RefUnwindSafe for Queue<T> {}

/// Aborts the process if dropped: held while a claimed slot is written
/// (see [`Queue::push_with`]), and forgotten once it is.
struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        std::process::abort();
    }
}

impl<T> Queue<T> {
    /// A queue of `capacity` slots (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        let cap = capacity.max(1);
        let buffer = (0..cap)
            .map(|i| Slot {
                stamp: AtomicU64::new(i as u64),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Queue {
            head: CachePadded::new(AtomicU64::new(0)),
            tail: CachePadded::new(AtomicU64::new(0)),
            buffer,
            cap,
            // A capacity that fits in memory is far below 2^63.
            one_lap: (cap as u64 + 1).next_power_of_two(),
        }
    }

    /// The index and lap of a head or tail.
    fn split(&self, at: u64) -> (usize, u64) {
        ((at & (self.one_lap - 1)) as usize, at & !(self.one_lap - 1))
    }

    /// The position after `at`.
    fn next(&self, at: u64) -> u64 {
        let (index, lap) = self.split(at);
        if index + 1 < self.cap {
            at + 1
        } else {
            lap.wrapping_add(self.one_lap)
        }
    }

    /// Adds `value` at the back, or gives it back when the queue is full.
    #[inline]
    pub(crate) fn push(&self, value: T) -> Result<(), T> {
        self.push_with(move || value).map_err(|make| make())
    }

    /// Adds the value `make` builds at the back, building it in its slot
    /// once the slot is claimed; gives `make` back, uncalled, when the
    /// queue is full.
    ///
    /// Building a record where it is kept saves copying a few hundred
    /// bytes just written (a copy that stalls reading them back), and the
    /// claim's locked compare-and-swap no longer waits for those writes to
    /// drain first. `make` must not unwind: the slot is claimed, and the
    /// consumer waits for it to be stamped. A guard aborts the process if
    /// it does, rather than leave the export worker waiting for good; the
    /// callers' `make` only moves fields.
    #[inline]
    pub(crate) fn push_with<F: FnOnce() -> T>(&self, make: F) -> Result<(), F> {
        let backoff = Backoff::new();
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            let (index, _) = self.split(tail);
            let Some(slot) = self.buffer.get(index) else {
                return Err(make);
            };
            let stamp = slot.stamp.load(Ordering::Acquire);
            if tail == stamp {
                let next = self.next(tail);
                match self.tail.compare_exchange_weak(
                    tail,
                    next,
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        let guard = AbortOnUnwind;
                        // SAFETY: moving the tail past this slot made it
                        // ours until we stamp it; its stamp said it was
                        // empty (read for the lap before, or never used).
                        unsafe { (*slot.value.get()).write(make()) };
                        std::mem::forget(guard);
                        slot.stamp.store(tail + 1, Ordering::Release);
                        self.prefetch(index + PREFETCH_AHEAD);
                        return Ok(());
                    }
                    Err(t) => {
                        tail = t;
                        backoff.spin();
                    }
                }
            } else if stamp.wrapping_add(self.one_lap) == tail + 1 {
                // The slot still holds last lap's value: full, unless the
                // head moved since.
                std::sync::atomic::fence(Ordering::SeqCst);
                let head = self.head.load(Ordering::Relaxed);
                if head.wrapping_add(self.one_lap) == tail {
                    return Err(make);
                }
                backoff.spin();
                tail = self.tail.load(Ordering::Relaxed);
            } else {
                // Another producer claimed the slot and is writing it.
                backoff.snooze();
                tail = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Asks the CPU to bring the slot at index `ahead` (wrapped once at the
    /// end: [`PREFETCH_AHEAD`] after the one just written) into this core's
    /// cache, for the push that will write it. The worker read that slot a
    /// lap ago, on its core: without a prefetch, a push waited on the
    /// slot's stamp (a cache miss, over half of the push in `perf
    /// annotate`) and wrote its seven lines one miss after another. Asked
    /// for one push ahead, the lines were often not there yet: a lap of the
    /// queue is megabytes (7 MiB by default), so they come from far in the
    /// memory hierarchy, which takes longer than one recorded span.
    #[inline]
    fn prefetch(&self, ahead: usize) {
        let index = if ahead >= self.cap {
            ahead - self.cap
        } else {
            ahead
        };
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        if let Some(slot) = self.buffer.get(index) {
            let start = (slot as *const Slot<T>).cast::<i8>();
            let mut offset = 0;
            while offset < std::mem::size_of::<Slot<T>>() {
                // SAFETY: a prefetch reads nothing architecturally; the
                // address is inside the slot.
                unsafe {
                    std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                        start.add(offset),
                    )
                };
                offset += 64;
            }
        }
        #[cfg(not(all(target_arch = "x86_64", not(miri))))]
        let _ = index;
    }

    /// Claims the value at the front, if any, and hands it over where it
    /// lies: the slot is given back when the [`Taken`] is dropped, after
    /// the value was moved out or dropped.
    #[inline]
    pub(crate) fn take(&self) -> Option<Taken<'_, T>> {
        let backoff = Backoff::new();
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let (index, _) = self.split(head);
            let slot = self.buffer.get(index)?;
            let stamp = slot.stamp.load(Ordering::Acquire);
            if head + 1 == stamp {
                let next = self.next(head);
                match self.head.compare_exchange_weak(
                    head,
                    next,
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        return Some(Taken {
                            slot,
                            release: head.wrapping_add(self.one_lap),
                            full: true,
                        });
                    }
                    Err(h) => {
                        head = h;
                        backoff.spin();
                    }
                }
            } else if stamp == head {
                std::sync::atomic::fence(Ordering::SeqCst);
                if self.tail.load(Ordering::Relaxed) == head {
                    return None;
                }
                backoff.spin();
                head = self.head.load(Ordering::Relaxed);
            } else {
                // A producer claimed the slot and is still writing it.
                backoff.snooze();
                head = self.head.load(Ordering::Relaxed);
            }
        }
    }

    /// Takes the value at the front, if any.
    #[cfg(test)]
    pub(crate) fn pop(&self) -> Option<T> {
        self.take().map(Taken::into_inner)
    }

    /// How many values are in the queue (a snapshot).
    pub(crate) fn len(&self) -> usize {
        loop {
            let tail = self.tail.load(Ordering::SeqCst);
            let head = self.head.load(Ordering::SeqCst);
            if self.tail.load(Ordering::SeqCst) == tail {
                return self.distance(head, tail);
            }
        }
    }

    /// How many values lie from `head` up to `tail`.
    fn distance(&self, head: u64, tail: u64) -> usize {
        let (h, _) = self.split(head);
        let (t, _) = self.split(tail);
        if h < t {
            t - h
        } else if h > t {
            self.cap - h + t
        } else if tail == head {
            0
        } else {
            self.cap
        }
    }
}

impl<T> Drop for Queue<T> {
    fn drop(&mut self) {
        if !std::mem::needs_drop::<T>() {
            return;
        }
        let head = *self.head.get_mut();
        let tail = *self.tail.get_mut();
        let (h, _) = self.split(head);
        for i in 0..self.distance(head, tail) {
            let index = (h + i) % self.cap;
            if let Some(slot) = self.buffer.get_mut(index) {
                // SAFETY: the slots from the head up to the tail hold
                // values no one took, and no one else can reach them now.
                unsafe { slot.value.get_mut().assume_init_drop() };
            }
        }
    }
}

/// A value claimed from the front of the queue, still in its slot. Read
/// it through `Deref`; move it out with [`into_inner`](Self::into_inner)
/// (or, for a record, [`Taken::into_batch`]); else it is dropped in place.
/// Either way the slot is given back to the producers when this goes.
///
/// Hold it briefly, and never push from the thread that holds one: a
/// producer that wraps round onto its slot (a full queue) spins until it
/// is given back. The worker and a spilling recording thread only check
/// consent (lock-free, no recording) and move the record while they hold
/// it.
pub(crate) struct Taken<'a, T> {
    slot: &'a Slot<T>,
    /// The stamp that gives the slot back for the next lap.
    release: u64,
    /// Whether the slot still holds the value.
    full: bool,
}

impl<T> Deref for Taken<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: claimed with its stamp saying written (acquire), and
        // `full` until moved out, which takes `self`.
        unsafe { (*self.slot.value.get()).assume_init_ref() }
    }
}

impl<T> Taken<'_, T> {
    /// The value, moved out of the slot.
    pub(crate) fn into_inner(mut self) -> T {
        self.full = false;
        // SAFETY: the slot holds the value (see `deref`); `full` is now
        // false, so it is not dropped again.
        unsafe { (*self.slot.value.get()).assume_init_read() }
    }
}

impl<T> Drop for Taken<'_, T> {
    fn drop(&mut self) {
        /// Gives the slot back when dropped, even if the value's own
        /// `drop` panics: a slot never given back would stop every
        /// producer that comes round to it.
        struct GiveBack<'s>(&'s AtomicU64, u64);
        impl Drop for GiveBack<'_> {
            fn drop(&mut self) {
                self.0.store(self.1, Ordering::Release);
            }
        }
        let _give_back = GiveBack(&self.slot.stamp, self.release);
        if self.full {
            self.full = false;
            // SAFETY: the value was neither moved out nor dropped.
            unsafe { (*self.slot.value.get()).assume_init_drop() };
        }
    }
}

impl Taken<'_, Queued> {
    /// Moves the record to the end of `spans` or `logs` (after room for
    /// it), one copy from its slot, and its consent version to the end of
    /// `span_versions` or `log_versions`.
    pub(crate) fn into_batch(
        mut self,
        spans: &mut Vec<SpanRecord>,
        span_versions: &mut Vec<u64>,
        logs: &mut Vec<LogRecord>,
        log_versions: &mut Vec<u64>,
    ) {
        // Every field named: a field added to `Queued` must be handled here.
        let Queued { record, version } = &*self;
        let version = *version;
        match record {
            Record::Span(s) => {
                // Room first, so nothing after the move can fail.
                span_versions.reserve(1);
                // SAFETY: the span is moved out of the slot here and never
                // read nor dropped there again (`full` is cleared below,
                // before anything else can run).
                unsafe { move_into(s, spans) };
                span_versions.push(version);
            }
            Record::Log(l) => {
                log_versions.reserve(1);
                // SAFETY: as for the span.
                unsafe { move_into(l, logs) };
                log_versions.push(version);
            }
        }
        // The record was moved out; `Queued` owns nothing else (its
        // version is a number; `Record` and its variants have no `Drop`
        // of their own), so nothing is left to drop.
        self.full = false;
    }
}

/// Copies `*value` to the end of `to`.
///
/// # Safety
///
/// The caller must treat `value` as moved: never read nor drop it again.
/// The copy is then its only owner.
unsafe fn move_into<R>(value: &R, to: &mut Vec<R>) {
    to.reserve(1);
    let len = to.len();
    // SAFETY: `reserve` made room for one more; `value` is a valid `R`
    // whose ownership the caller gives up (above).
    unsafe {
        std::ptr::copy_nonoverlapping(value, to.as_mut_ptr().add(len), 1);
        to.set_len(len + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn values_leave_in_the_order_they_came_and_a_full_queue_gives_the_value_back() {
        let q = Queue::new(3);
        assert_eq!(q.len(), 0);
        assert!(q.push(1).is_ok());
        assert!(q.push(2).is_ok());
        assert!(q.push(3).is_ok());
        assert_eq!(q.push(4), Err(4));
        assert_eq!(q.len(), 3);
        assert_eq!(q.pop(), Some(1));
        assert!(q.push(5).is_ok());
        assert_eq!(q.pop(), Some(2));
        assert_eq!(q.pop(), Some(3));
        assert_eq!(q.pop(), Some(5));
        assert_eq!(q.pop(), None);
        assert_eq!(q.len(), 0);
    }

    /// `push_with` builds the value only once it has a slot; a full queue
    /// gives the builder back uncalled, so what it would move stays where
    /// it is for the caller's fallback.
    #[test]
    fn push_with_builds_in_a_claimed_slot_and_a_full_queue_gives_the_builder_back() {
        let q = Queue::new(2);
        let built = std::cell::Cell::new(0);
        let make = |v: u32| {
            let built = &built;
            move || {
                built.set(built.get() + 1);
                v
            }
        };
        assert!(q.push_with(make(1)).is_ok());
        assert!(q.push_with(make(2)).is_ok());
        assert_eq!(built.get(), 2);
        let Err(back) = q.push_with(make(3)) else {
            panic!("a full queue took a value");
        };
        assert_eq!(built.get(), 2, "the builder ran for a full queue");
        assert_eq!(q.pop(), Some(1));
        assert!(q.push_with(back).is_ok());
        assert_eq!(built.get(), 3);
        assert_eq!((q.pop(), q.pop(), q.pop()), (Some(2), Some(3), None));
    }

    #[test]
    fn wraps_round_many_laps() {
        let q = Queue::new(5);
        for lap in 0..50u32 {
            for i in 0..4 {
                assert!(q.push(lap * 10 + i).is_ok());
            }
            assert_eq!(q.len(), 4);
            for i in 0..4 {
                assert_eq!(q.pop(), Some(lap * 10 + i));
            }
        }
    }

    /// Counts drops, to check each value is dropped exactly once.
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn every_value_is_dropped_once_whether_taken_left_or_moved_out() {
        let drops = Arc::new(AtomicUsize::new(0));
        let q = Queue::new(4);
        for _ in 0..4 {
            assert!(q.push(Counted(drops.clone())).is_ok());
        }
        // Taken and let go: dropped in its slot.
        drop(q.take());
        assert_eq!(drops.load(Ordering::Relaxed), 1);
        // Moved out: dropped when its new owner drops it.
        let v = q.take().map(Taken::into_inner);
        assert_eq!(drops.load(Ordering::Relaxed), 1);
        drop(v);
        assert_eq!(drops.load(Ordering::Relaxed), 2);
        // Left in the queue: dropped with it.
        drop(q);
        assert_eq!(drops.load(Ordering::Relaxed), 4);
    }

    /// A span that owns heap memory (its name, a long attribute), so a
    /// double drop or a leak shows under Miri.
    fn span_record(name: &str) -> SpanRecord {
        SpanRecord {
            trace_id: crate::trace::TraceId(1),
            span_id: crate::trace::SpanId(2),
            parent_span_id: None,
            parent_remote: false,
            name: name.to_owned().into(),
            category: crate::Category::PERFORMANCE,
            start: std::time::SystemTime::UNIX_EPOCH,
            end: std::time::SystemTime::UNIX_EPOCH,
            status: crate::export::SpanStatus::Unset,
            kind: crate::export::SpanKind::Internal,
            attributes: smallvec::smallvec![crate::export::Attribute::new(
                "route",
                "/a/route/longer/than/twenty-four/bytes".to_owned()
            )],
            events: Vec::new(),
            dropped_attributes: 0,
            probability: 1.0,
            subject: None,
            key_id: None,
        }
    }

    /// A log record that owns heap memory.
    fn log_record(name: &str) -> LogRecord {
        LogRecord {
            time: std::time::SystemTime::UNIX_EPOCH,
            event_name: name.to_owned().into(),
            category: crate::Category::PERFORMANCE,
            severity: crate::export::Severity::Info,
            body: Some("a body that is kept on the heap".to_owned().into()),
            schema_version: 0,
            attributes: smallvec::SmallVec::new(),
            dropped_attributes: 0,
            trace: None,
            probability: 1.0,
            subject: None,
            key_id: None,
        }
    }

    #[test]
    fn a_record_moves_into_its_batch_once_and_is_not_dropped_twice() {
        let q = Queue::new(4);
        let span = span_record("checkout");
        let log = log_record("clicked");
        assert!(
            q.push(Queued {
                record: Record::Span(span.clone()),
                version: 7,
            })
            .is_ok()
        );
        assert!(
            q.push(Queued {
                record: Record::Log(log.clone()),
                version: 9,
            })
            .is_ok()
        );
        let (mut spans, mut sv, mut logs, mut lv) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        while let Some(t) = q.take() {
            t.into_batch(&mut spans, &mut sv, &mut logs, &mut lv);
        }
        assert_eq!(spans, vec![span]);
        assert_eq!(logs, vec![log]);
        assert_eq!((sv, lv), (vec![7], vec![9]));
        assert_eq!(q.len(), 0);
        // The slots are free again.
        for v in 0..4 {
            assert!(
                q.push(Queued {
                    record: Record::Log(log_record("again")),
                    version: v,
                })
                .is_ok()
            );
        }
    }

    #[test]
    fn a_producer_coming_round_to_a_claimed_slot_waits_for_it() {
        let q = Arc::new(Queue::new(2));
        assert!(q.push(1).is_ok());
        assert!(q.push(2).is_ok());
        let claimed = q.take();
        assert_eq!(claimed.as_deref(), Some(&1));
        let pushed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let producer = {
            let (q, pushed) = (q.clone(), pushed.clone());
            std::thread::spawn(move || {
                // The head moved past the claimed slot, so the queue is not
                // full: this waits for the slot instead of giving 3 back.
                let r = q.push(3);
                pushed.store(true, Ordering::Release);
                r
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!pushed.load(Ordering::Acquire), "wrote over a claimed slot");
        drop(claimed);
        assert_eq!(producer.join().unwrap(), Ok(()));
        assert_eq!(q.pop(), Some(2));
        assert_eq!(q.pop(), Some(3));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn threads_pushing_and_taking_at_once_lose_and_repeat_nothing() {
        let (producers, per) = if cfg!(miri) { (2, 50) } else { (4, 20_000) };
        let q = Arc::new(Queue::new(64));
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let handles: Vec<_> = (0..producers)
            .map(|p| {
                let q = q.clone();
                std::thread::spawn(move || {
                    for i in 0..per {
                        let mut v = p * per + i;
                        while let Err(back) = q.push(v) {
                            v = back;
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let (q, done) = (q.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    // Until the producers are done and the queue is empty.
                    loop {
                        let finished = done.load(Ordering::Acquire);
                        match q.pop() {
                            Some(v) => got.push(v),
                            None if finished => break,
                            None => std::thread::yield_now(),
                        }
                    }
                    got
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        done.store(true, Ordering::Release);
        let mut all = Vec::new();
        for c in consumers {
            let got = c.join().unwrap();
            // Each consumer saw each producer's values in the order pushed.
            for p in 0..producers {
                let mine: Vec<usize> = got.iter().copied().filter(|v| v / per == p).collect();
                assert!(mine.windows(2).all(|w| w[0] < w[1]), "out of order");
            }
            all.extend(got);
        }
        assert_eq!(q.pop(), None);
        all.sort_unstable();
        assert_eq!(all, (0..producers * per).collect::<Vec<_>>());
    }
}
