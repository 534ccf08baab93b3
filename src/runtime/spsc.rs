//! A wait-free single-producer single-consumer ring: the game thread's
//! pushes to the network thread.
//!
//! The producer writes the slot at `head` and then publishes it by storing
//! `head + 1` (`Release`); the consumer reads the slot at `tail` once it has
//! seen (`Acquire`) that `head` moved past it, and frees it by storing
//! `tail + 1` (`Release`), which the producer loads (`Acquire`) before it
//! reuses the slot. Each index is written by one side only, so neither
//! side ever retries: a push or a pop is a bounded number of plain loads
//! and stores, with no system call, no lock and no allocation.
//!
//! The consumer sleeps on its own schedule and only asks to be woken when
//! it has nothing scheduled ([`Consumer::park`]); a push finds that out
//! with one load and, only then, wakes it (one system call, once per
//! flight that starts after a pause, never per push while flying).

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// Keeps each index on its own cache lines, so the two sides do not
/// false-share.
#[repr(align(128))]
struct Padded<T>(T);

struct Shared<T> {
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
    /// Slots ever written (only the producer stores it).
    head: Padded<AtomicUsize>,
    /// Slots ever read (only the consumer stores it).
    tail: Padded<AtomicUsize>,
    /// The consumer sleeps until woken.
    parked: Padded<AtomicBool>,
}

// SAFETY: a slot is touched by the producer only while it lies outside
// `tail..head` and by the consumer only while it lies inside, and the
// indices' Release/Acquire pairs order those accesses; values are `Copy`
// plain data moved between threads (`T: Send`).
unsafe impl<T: Send> Sync for Shared<T> {}

/// Wakes the consumer.
pub(crate) type Wake = Box<dyn Fn() + Send>;

/// The pushing side.
pub(crate) struct Producer<T> {
    shared: Arc<Shared<T>>,
    wake: Wake,
    /// `tail` as last loaded: reloaded only when the ring looks full.
    tail_seen: usize,
}

/// The draining side.
pub(crate) struct Consumer<T> {
    shared: Arc<Shared<T>>,
}

/// A ring of `capacity` values (at least 1); a push to a parked consumer
/// calls `wake`.
pub(crate) fn ring<T: Copy + Send>(capacity: usize, wake: Wake) -> (Producer<T>, Consumer<T>) {
    let slots = (0..capacity.max(1))
        .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
        .collect();
    let shared = Arc::new(Shared {
        slots,
        head: Padded(AtomicUsize::new(0)),
        tail: Padded(AtomicUsize::new(0)),
        parked: Padded(AtomicBool::new(false)),
    });
    (
        Producer {
            shared: shared.clone(),
            wake,
            tail_seen: 0,
        },
        Consumer { shared },
    )
}

impl<T: Copy + Send> Producer<T> {
    /// Appends `value`; false (and nothing written) when the ring is full.
    pub(crate) fn push(&mut self, value: T) -> bool {
        let s = &*self.shared;
        let head = s.head.0.load(Ordering::Relaxed);
        let cap = s.slots.len();
        if head.wrapping_sub(self.tail_seen) >= cap {
            self.tail_seen = s.tail.0.load(Ordering::Acquire);
            if head.wrapping_sub(self.tail_seen) >= cap {
                return false;
            }
        }
        // SAFETY: `head` lies outside `tail..head`: the consumer does not
        // touch this slot until the store below publishes it.
        unsafe { (*s.slots[head % cap].get()).write(value) };
        s.head.0.store(head.wrapping_add(1), Ordering::Release);
        // Pairs with the fence in `park`: either the consumer sees this
        // value before it sleeps, or we see it parked and wake it.
        fence(Ordering::SeqCst);
        if s.parked.0.load(Ordering::Relaxed) && s.parked.0.swap(false, Ordering::AcqRel) {
            (self.wake)();
        }
        true
    }

    /// True once the consumer is gone (nothing will drain the ring again).
    pub(crate) fn is_abandoned(&self) -> bool {
        Arc::strong_count(&self.shared) == 1
    }
}

impl<T: Copy + Send> Consumer<T> {
    /// The oldest value not yet taken.
    pub(crate) fn pop(&mut self) -> Option<T> {
        let s = &*self.shared;
        let tail = s.tail.0.load(Ordering::Relaxed);
        if tail == s.head.0.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: `tail` lies inside `tail..head`, published by the
        // producer's Release store that the Acquire load above saw; the
        // producer does not reuse it until the store below frees it.
        let value = unsafe { (*s.slots[tail % s.slots.len()].get()).assume_init_read() };
        s.tail.0.store(tail.wrapping_add(1), Ordering::Release);
        Some(value)
    }

    /// Asks the next push to wake us. Returns false (not parked) when a
    /// value is already waiting, which the caller should take instead of
    /// sleeping.
    pub(crate) fn park(&self) -> bool {
        let s = &*self.shared;
        s.parked.0.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if s.tail.0.load(Ordering::Relaxed) != s.head.0.load(Ordering::Acquire) {
            s.parked.0.store(false, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// No wake wanted any more (we woke for another reason).
    pub(crate) fn unpark(&self) {
        self.shared.parked.0.store(false, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crossbeam_channel::Receiver;

    /// A ring whose wake-ups arrive on a channel.
    fn woken<T: Copy + Send>(capacity: usize) -> (Producer<T>, Consumer<T>, Receiver<()>) {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let (p, c) = ring(
            capacity,
            Box::new(move || {
                let _ = tx.try_send(());
            }),
        );
        (p, c, rx)
    }

    #[test]
    fn values_come_out_in_order_and_a_full_ring_refuses() {
        let (mut p, mut c, _) = woken::<u32>(4);
        for v in 0..4 {
            assert!(p.push(v));
        }
        assert!(!p.push(99), "a full ring takes nothing");
        assert_eq!(c.pop(), Some(0));
        assert!(p.push(4));
        assert_eq!(
            std::iter::from_fn(|| c.pop()).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        assert_eq!(c.pop(), None);
    }

    #[test]
    fn every_value_crosses_threads_once_in_order() {
        const N: u64 = 200_000;
        let (mut p, mut c, _) = woken::<u64>(64);
        let producer = std::thread::spawn(move || {
            let mut v = 0;
            while v < N {
                if p.push(v) {
                    v += 1;
                } else {
                    std::thread::yield_now();
                }
            }
        });
        let mut next = 0;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while next < N && std::time::Instant::now() < deadline {
            match c.pop() {
                Some(v) => {
                    assert_eq!(v, next);
                    next += 1;
                }
                None => std::thread::yield_now(),
            }
        }
        producer.join().unwrap();
        assert_eq!(next, N);
    }

    #[test]
    fn a_parked_consumer_is_woken_by_the_next_push_only() {
        let (mut p, mut c, wakes) = woken::<u8>(8);
        assert!(c.park());
        assert!(p.push(1));
        assert!(wakes.try_recv().is_ok(), "the push woke the parked side");
        assert!(!c.park(), "a waiting value means no sleep");
        assert_eq!(c.pop(), Some(1));
        assert!(p.push(2));
        assert!(
            wakes.try_recv().is_err(),
            "a push to a consumer that is not parked wakes nobody"
        );
    }

    #[test]
    fn a_wake_is_never_lost_between_park_and_push() {
        // The consumer parks and sleeps while the producer pushes at the
        // same moment; every value is taken within the wait bound.
        const ROUNDS: u32 = 2_000;
        let (mut p, mut c, wakes) = woken::<u32>(4);
        let producer = std::thread::spawn(move || {
            for v in 0..ROUNDS {
                while !p.push(v) {
                    std::thread::yield_now();
                }
                std::thread::sleep(Duration::from_micros(20));
            }
        });
        let mut got = 0;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while got < ROUNDS && std::time::Instant::now() < deadline {
            while let Some(v) = c.pop() {
                assert_eq!(v, got);
                got += 1;
            }
            if got < ROUNDS && c.park() {
                // A lost wake would stall here for the whole second.
                let woke = wakes.recv_timeout(Duration::from_secs(1)).is_ok();
                c.unpark();
                assert!(
                    woke || c.pop().is_none(),
                    "a push did not wake the consumer"
                );
            }
        }
        producer.join().unwrap();
        assert_eq!(got, ROUNDS);
    }
}
