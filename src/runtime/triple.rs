//! A wait-free single-producer single-consumer triple buffer.
//!
//! This is the "latest-state table" between the network thread (the
//! [`Writer`]) and the game's main thread (the [`Reader`], called from Unity's
//! `FixedUpdate`). The reader only ever wants the newest complete value; it
//! must never block, spin, retry or allocate, and it must never observe a
//! value that is half written.
//!
//! # How it works
//!
//! There are three slots. At every instant each slot is owned by exactly one
//! party:
//!
//! * the writer's **back** slot, which only the writer touches;
//! * the reader's **front** slot, which only the reader touches;
//! * the **middle** slot, which nobody touches; its index lives in a single
//!   shared [`AtomicU8`] together with a `DIRTY` bit meaning "the middle slot
//!   holds a value the reader has not taken yet".
//!
//! The writer fills its back slot and then [`publish`](Writer::publish)es it
//! with one `swap(back | DIRTY, AcqRel)`: the back slot becomes the middle and
//! the old middle becomes the writer's new back. The reader's
//! [`latest`](Reader::latest) loads the shared byte and, only if `DIRTY` is
//! set, does one `swap(front, AcqRel)`: its old front becomes the middle and
//! the newest published slot becomes its front. Every swap exchanges one slot
//! index for another, so the three indices stay a permutation of `{0, 1, 2}`
//! and no slot is ever owned by both sides.
//!
//! The `Release` half of each swap publishes everything its side did to the
//! slot it hands over; the `Acquire` half makes everything the other side did
//! to the slot it receives visible before it is touched. That is the whole
//! synchronisation: the slots themselves are plain [`UnsafeCell`]s.
//!
//! # Why it is wait-free
//!
//! Neither operation contains a loop. [`Writer::publish`] is exactly one
//! atomic swap; [`Reader::latest`] is one atomic load plus at most one atomic
//! swap. A swap is an unconditional read-modify-write (there is no
//! compare-and-swap that could fail and need retrying), so each call
//! finishes in a bounded number of steps no matter what the other thread is
//! doing, including being descheduled half-way through writing its back slot.
//! Neither side allocates after [`triple_buffer`] returns, and `latest` hands
//! out a reference into the front slot instead of copying the value.

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// Set in the shared byte when the middle slot holds a value the reader has
/// not yet taken.
const DIRTY: u8 = 0b100;
/// The bits of the shared byte that hold the middle slot's index.
const INDEX_MASK: u8 = 0b011;

/// Keeps the shared index on its own cache line(s), away from the slot data
/// that the writer is hammering, so that reader polls do not false-share with
/// writes into a slot.
#[repr(align(128))]
struct Padded(AtomicU8);

/// The state shared by the two halves.
struct Shared<T> {
    /// The three buffers. Which side may touch which slot is decided solely by
    /// the indices described in the module documentation.
    slots: [UnsafeCell<T>; 3],
    /// Index of the middle slot, or-ed with [`DIRTY`] when it is unread.
    middle: Padded,
}

// SAFETY: the only non-`Sync` parts of `Shared<T>` are the three
// `UnsafeCell<T>` slots. They are never accessed concurrently: at every moment
// each slot index is held by exactly one of the writer's `back`, the reader's
// `front`, or the shared `middle` byte (the three are a permutation of
// {0, 1, 2}, preserved by every swap), and a side only dereferences the slot
// whose index it holds privately. A slot changes owner only through an `AcqRel`
// swap on `middle`, whose Release/Acquire pairs order every access by the old
// owner before every access by the new owner. References handed out by
// `Writer::back_mut` and `Reader::latest`/`current` borrow the `Writer` or
// `Reader` and so end before that side can give the slot away again. So a `T`
// is only ever *moved* between the two threads in effect (written on one,
// read and eventually dropped on the other), never shared, which requires
// `T: Send` and not `T: Sync`. (`Reader` separately carries a `PhantomData<T>`
// so that sharing a `&Reader` across threads, which *would* share `&T`,
// requires `T: Sync`.)
unsafe impl<T: Send> Sync for Shared<T> {}

/// Creates the pair; both start holding `initial`.
///
/// The reader's [`current`](Reader::current) value and the writer's
/// [`back_mut`](Writer::back_mut) buffer are both `initial` (the third, middle
/// slot holds a clone too and is not marked fresh). This is the only
/// allocation the triple buffer ever makes.
pub fn triple_buffer<T: Clone + Send>(initial: T) -> (Writer<T>, Reader<T>) {
    let shared = Arc::new(Shared {
        slots: [
            UnsafeCell::new(initial.clone()),
            UnsafeCell::new(initial.clone()),
            UnsafeCell::new(initial),
        ],
        middle: Padded(AtomicU8::new(1)),
    });
    let writer = Writer {
        shared: Arc::clone(&shared),
        back: 0,
        _not_sync_unless: PhantomData,
    };
    let reader = Reader {
        shared,
        front: 2,
        _not_sync_unless: PhantomData,
    };
    (writer, reader)
}

/// The producing half of a [`triple_buffer`]: owns the back buffer and
/// publishes it. It is `Send` (for `T: Send`) but not `Clone`: there is
/// exactly one writer.
pub struct Writer<T> {
    shared: Arc<Shared<T>>,
    /// Index of the slot this writer owns exclusively.
    back: u8,
    /// Makes `Writer<T>` `Sync` only if `T` is (see the `SAFETY` comment on
    /// `Shared`).
    _not_sync_unless: PhantomData<T>,
}

impl<T> Writer<T> {
    /// Mutable access to the writer's private back buffer.
    ///
    /// The contents are whatever was last written into *that slot*: after a
    /// [`publish`](Self::publish) the writer gets back an older buffer (the
    /// value published two or more times ago, the reader's previous value, or
    /// the initial value), not the value it just published. Callers should
    /// overwrite it fully, or use [`publish_from`](Self::publish_from).
    /// Nothing written here is visible to the reader until `publish`.
    pub fn back_mut(&mut self) -> &mut T {
        // SAFETY: the writer exclusively owns slot `self.back` (see `Shared`),
        // and the returned borrow of `self` ends before `publish` can hand the
        // slot over.
        unsafe { &mut *self.shared.slots[usize::from(self.back)].get() }
    }

    /// Make the back buffer the newest value; never blocks.
    ///
    /// One atomic swap: the back buffer becomes the middle slot, marked
    /// fresh, and the previous middle slot becomes the new back buffer. If
    /// the reader had not yet taken the previous value, that value is simply
    /// superseded.
    pub fn publish(&mut self) {
        // Release: our writes to the back slot happen-before the reader's
        // Acquire swap that takes it. Acquire: the reader's last accesses to
        // the slot we receive (if it was its old front) happen-before ours.
        let old = self
            .shared
            .middle
            .0
            .swap(self.back | DIRTY, Ordering::AcqRel);
        self.back = old & INDEX_MASK;
    }
}

impl<T: Clone> Writer<T> {
    /// Convenience: `clone_from(src)` into the back buffer, then
    /// [`publish`](Self::publish).
    ///
    /// `clone_from` lets types such as `Vec` reuse the back buffer's
    /// allocation; for plain arrays and `Copy`-like structs it is a memcpy.
    pub fn publish_from(&mut self, src: &T) {
        self.back_mut().clone_from(src);
        self.publish();
    }
}

/// The consuming half of a [`triple_buffer`]: owns the front buffer and
/// swaps in newer values. It is `Send` (for `T: Send`) but not `Clone`: there
/// is exactly one reader.
pub struct Reader<T> {
    shared: Arc<Shared<T>>,
    /// Index of the slot this reader owns exclusively.
    front: u8,
    /// Makes `Reader<T>` `Sync` only if `T` is: `current(&self)` hands out
    /// `&T`, so sharing a `&Reader` between threads shares `&T`.
    _not_sync_unless: PhantomData<T>,
}

impl<T> Reader<T> {
    /// Returns the newest published value (swapping it in if a new one was
    /// published); never blocks.
    ///
    /// Returns `(value, fresh)` where `fresh` is true if a new value arrived
    /// since the last call. This is one atomic load, plus one atomic swap
    /// only when there is something new; it never copies `T`.
    pub fn latest(&mut self) -> (&T, bool) {
        let shared = &*self.shared;
        let fresh = shared.middle.0.load(Ordering::Acquire) & DIRTY != 0;
        if fresh {
            // Only the writer can change `middle` between the load and this
            // swap, and it always stores with DIRTY set, so what we get back
            // is still an unread slot (possibly an even newer one).
            // Release: our reads of the old front happen-before the writer
            // reuses it. Acquire: the writer's writes to the slot we take
            // happen-before our reads.
            let old = shared.middle.0.swap(self.front, Ordering::AcqRel);
            debug_assert!(
                old & DIRTY != 0,
                "the reader is the only side that clears DIRTY"
            );
            self.front = old & INDEX_MASK;
        }
        (self.current(), fresh)
    }

    /// The value last returned, without looking for a newer one.
    pub fn current(&self) -> &T {
        // SAFETY: the reader exclusively owns slot `self.front` (see
        // `Shared`), and the returned borrow of `self` ends before `latest`
        // (which takes `&mut self`) can hand the slot over.
        unsafe { &*self.shared.slots[usize::from(self.front)].get() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, AtomicUsize};
    use std::sync::{mpsc, Mutex};
    use std::thread;
    use std::time::{Duration, Instant};

    /// Upper bound on how long any test waits for the other thread.
    const PATIENCE: Duration = Duration::from_secs(30);

    fn assert_send<S: Send>() {}

    #[test]
    fn halves_are_send() {
        assert_send::<Writer<[u64; 64]>>();
        assert_send::<Reader<[u64; 64]>>();
        // Send but not Sync payloads are fine: values only move between threads.
        assert_send::<Writer<std::cell::Cell<u32>>>();
        assert_send::<Reader<std::cell::Cell<u32>>>();
    }

    #[test]
    fn single_thread_sees_newest_and_freshness() {
        let (mut w, mut r) = triple_buffer(0u32);
        assert_eq!(r.latest(), (&0, false));
        for v in 1..=3 {
            *w.back_mut() = v;
            w.publish();
        }
        assert_eq!(r.latest(), (&3, true));
        assert_eq!(r.latest(), (&3, false));
        assert_eq!(*r.current(), 3);

        // publish_from, and superseding a value the reader never took.
        w.publish_from(&4);
        w.publish_from(&5);
        assert_eq!(*r.current(), 3, "current() does not look for new values");
        assert_eq!(r.latest(), (&5, true));
        assert_eq!(r.latest(), (&5, false));
    }

    #[test]
    fn back_buffer_is_recycled_not_the_last_published() {
        let (mut w, mut r) = triple_buffer(0u32);
        w.publish_from(&1);
        // The back buffer is now the old middle, holding the initial value.
        assert_eq!(*w.back_mut(), 0);
        assert_eq!(r.latest(), (&1, true));
        w.publish_from(&2);
        // The writer got back the slot the reader held before taking `1`.
        assert_eq!(*w.back_mut(), 0);
    }

    /// Writer publishes `[n; 64]` for n = 1..=COUNT while the reader polls;
    /// every read must be untorn, non-decreasing, and consistent with `fresh`.
    #[test]
    fn two_threads_no_torn_reads_and_monotonic() {
        const COUNT: u64 = if cfg!(miri) { 2_000 } else { 200_000 };
        let (mut w, mut r) = triple_buffer([0u64; 64]);
        let done = Arc::new(AtomicBool::new(false));

        let writer = {
            let done = Arc::clone(&done);
            thread::spawn(move || {
                for n in 1..=COUNT {
                    // Write element by element so a torn read would show.
                    for x in w.back_mut().iter_mut() {
                        *x = n;
                    }
                    w.publish();
                }
                done.store(true, Ordering::Release);
                w
            })
        };

        let check = |value: &[u64; 64]| -> u64 {
            let first = value[0];
            assert!(value.iter().all(|&x| x == first), "torn read: {value:?}");
            first
        };

        let deadline = Instant::now() + PATIENCE;
        let max_reads: u64 = 1_000_000_000;
        let mut prev = 0u64;
        let mut reads = 0u64;
        let mut fresh_reads = 0u64;
        while !done.load(Ordering::Acquire) {
            assert!(
                reads < max_reads && Instant::now() < deadline,
                "writer took too long"
            );
            let (value, fresh) = r.latest();
            let v = check(value);
            if fresh {
                assert!(v > prev, "fresh value {v} not newer than {prev}");
                fresh_reads += 1;
            } else {
                assert_eq!(v, prev, "stale read changed value");
            }
            prev = v;
            reads += 1;
        }

        let w = writer.join().expect("writer thread panicked");
        let (value, _) = r.latest();
        assert_eq!(check(value), COUNT);
        assert!(fresh_reads >= 1);
        drop(w);
        assert_eq!(check(r.current()), COUNT);
    }

    /// The writer is parked after scribbling over its back buffer but before
    /// publishing; the reader must keep returning the last published value
    /// immediately.
    #[test]
    fn reader_never_blocks_on_a_parked_writer() {
        let (mut w, mut r) = triple_buffer([0u64; 64]);
        let (parked_tx, parked_rx) = mpsc::channel::<()>();
        let (release_tx, release_rx) = mpsc::channel::<()>();

        let writer = thread::spawn(move || {
            w.publish_from(&[1; 64]);
            // Half-write the next value, then park before publishing.
            for x in &mut w.back_mut()[..32] {
                *x = 2;
            }
            parked_tx.send(()).expect("reader gone");
            // Parked: blocked until the reader releases us (bounded).
            release_rx
                .recv_timeout(PATIENCE)
                .expect("reader never released the writer");
            for x in &mut w.back_mut()[32..] {
                *x = 2;
            }
            w.publish();
            w
        });

        parked_rx
            .recv_timeout(PATIENCE)
            .expect("writer never parked");
        let start = Instant::now();
        for i in 0..1000 {
            let (value, fresh) = r.latest();
            assert_eq!(*value, [1; 64]);
            assert_eq!(fresh, i == 0);
        }
        let elapsed = start.elapsed();
        assert!(
            elapsed < Duration::from_millis(50),
            "1000 reads took {elapsed:?} while the writer was parked"
        );

        release_tx.send(()).expect("writer gone");
        let _w = writer.join().expect("writer thread panicked");
        assert_eq!(r.latest(), (&[2; 64], true));
    }

    /// A value that records its id in a shared drop log when dropped; clones
    /// get fresh ids.
    struct Tracked {
        id: usize,
        log: Arc<DropLog>,
    }

    #[derive(Default)]
    struct DropLog {
        next_id: AtomicUsize,
        dropped: Mutex<Vec<usize>>,
    }

    impl DropLog {
        fn make(self: &Arc<Self>) -> Tracked {
            Tracked {
                id: self.next_id.fetch_add(1, Ordering::Relaxed),
                log: Arc::clone(self),
            }
        }

        fn created(&self) -> usize {
            self.next_id.load(Ordering::Relaxed)
        }

        /// Drop count per id; panics if any id was dropped twice.
        fn dropped_once(&self) -> Vec<usize> {
            let dropped = self.dropped.lock().unwrap().clone();
            let mut counts: HashMap<usize, usize> = HashMap::new();
            for &id in &dropped {
                *counts.entry(id).or_default() += 1;
            }
            assert!(counts.values().all(|&c| c == 1), "double drop: {dropped:?}");
            let mut ids = dropped;
            ids.sort_unstable();
            ids
        }
    }

    impl Clone for Tracked {
        fn clone(&self) -> Self {
            self.log.make()
        }
    }

    impl Drop for Tracked {
        fn drop(&mut self) {
            self.log.dropped.lock().unwrap().push(self.id);
        }
    }

    #[test]
    fn dropping_writer_first_drops_every_slot_once() {
        let log = Arc::new(DropLog::default());
        let (w, r) = triple_buffer(log.make());
        assert_eq!(log.created(), 3);
        drop(w);
        assert!(
            log.dropped_once().is_empty(),
            "slots dropped while reader alive"
        );
        drop(r);
        assert_eq!(log.dropped_once(), vec![0, 1, 2]);
    }

    #[test]
    fn dropping_reader_first_drops_every_slot_once() {
        let log = Arc::new(DropLog::default());
        let (w, r) = triple_buffer(log.make());
        drop(r);
        assert!(
            log.dropped_once().is_empty(),
            "slots dropped while writer alive"
        );
        drop(w);
        assert_eq!(log.dropped_once(), vec![0, 1, 2]);
    }

    #[test]
    fn no_leaks_after_publishing_across_threads() {
        let log = Arc::new(DropLog::default());
        let (mut w, mut r) = triple_buffer(log.make());
        let writer = {
            let log = Arc::clone(&log);
            thread::spawn(move || {
                for _ in 0..100 {
                    *w.back_mut() = log.make(); // drops the old back value
                    w.publish();
                }
                w.publish_from(&log.make()); // the temporary is dropped too
                                             // The writer is dropped on its own thread, reader still alive.
            })
        };
        let deadline = Instant::now() + PATIENCE;
        for _ in 0..10_000 {
            assert!(Instant::now() < deadline);
            let _ = r.latest();
            if writer.is_finished() {
                break;
            }
        }
        writer.join().expect("writer thread panicked");
        let _ = r.latest();
        drop(r);
        let created = log.created();
        assert_eq!(log.dropped_once(), (0..created).collect::<Vec<_>>());
    }
}
