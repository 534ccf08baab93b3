//! The queues from the network thread to the game: bounded in events and
//! bytes, so a host (or a peer through it) flooding events while the game
//! is not reading (PUN pauses its message queue while a level loads) cannot
//! grow our memory without end. What does not fit is dropped and counted,
//! and the counter is in the session's counters for the game to read; an
//! event that ends the session always gets through.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use crate::lobby::LobbyEvent;
use crate::session::Event;

/// Most events waiting for the game (about 20 s of a busy PUN room's RPCs
/// and view updates).
pub(crate) const MAX_QUEUED_EVENTS: usize = 65_536;
/// Most bytes of events waiting for the game.
pub(crate) const MAX_QUEUED_EVENT_BYTES: usize = 32 << 20;
/// Most lobby reports waiting for the game.
pub(crate) const MAX_QUEUED_LOBBY_EVENTS: usize = 4096;

/// What a queued item costs, and whether it must get through.
pub(crate) trait Queued {
    /// Bytes it holds, roughly (its own size and its payloads).
    fn cost(&self) -> usize;
    /// It ends the session: never dropped.
    fn is_final(&self) -> bool {
        false
    }
}

impl Queued for Event {
    fn cost(&self) -> usize {
        let payload = match self {
            Event::GameEvent(e) => e.payload.len(),
            Event::PropsChanged(p) => p
                .changes
                .iter()
                .map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len))
                .sum(),
            Event::PlayerJoined(p) => p.props.iter().map(|(k, v)| k.len() + v.len()).sum(),
            Event::Welcomed { room, .. } => room.props.iter().map(|(k, v)| k.len() + v.len()).sum(),
            _ => 0,
        };
        std::mem::size_of::<Event>() + payload
    }

    fn is_final(&self) -> bool {
        matches!(self, Event::Closed { .. } | Event::Refused { .. })
    }
}

impl Queued for LobbyEvent {
    fn cost(&self) -> usize {
        std::mem::size_of::<LobbyEvent>()
    }
}

/// What is in a queue, shared by its two ends.
#[derive(Debug, Default)]
pub(crate) struct Gauge {
    items: AtomicUsize,
    bytes: AtomicUsize,
    dropped: AtomicU64,
}

impl Gauge {
    /// Items waiting now.
    pub(crate) fn queued(&self) -> usize {
        self.items.load(Ordering::Relaxed)
    }

    /// Items dropped because the queue was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The network thread's end.
pub(crate) struct QueueTx<T> {
    tx: Sender<(T, usize)>,
    gauge: Arc<Gauge>,
    max_items: usize,
    max_bytes: usize,
}

/// The game's end.
pub(crate) struct QueueRx<T> {
    rx: Receiver<(T, usize)>,
    gauge: Arc<Gauge>,
}

/// A queue holding at most `max_items` items and `max_bytes` bytes.
pub(crate) fn queue<T: Queued>(max_items: usize, max_bytes: usize) -> (QueueTx<T>, QueueRx<T>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let gauge = Arc::new(Gauge::default());
    (
        QueueTx {
            tx,
            gauge: Arc::clone(&gauge),
            max_items,
            max_bytes,
        },
        QueueRx { rx, gauge },
    )
}

impl<T: Queued> QueueTx<T> {
    /// Queues `item`, or drops and counts it when the queue is full (an item
    /// that ends the session is always queued). Returns whether it was.
    pub(crate) fn send(&self, item: T) -> bool {
        let cost = item.cost();
        let g = &self.gauge;
        // Only this thread adds, so the check and the add cannot race with
        // another add; the reader only makes room.
        let full = g.items.load(Ordering::Relaxed) >= self.max_items
            || g.bytes.load(Ordering::Relaxed).saturating_add(cost) > self.max_bytes;
        if full && !item.is_final() {
            let dropped = g.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(
                    dropped,
                    queued = g.items.load(Ordering::Relaxed),
                    "the game is not reading its events; dropping the newest"
                );
            }
            return false;
        }
        g.items.fetch_add(1, Ordering::Relaxed);
        g.bytes.fetch_add(cost, Ordering::Relaxed);
        if self.tx.send((item, cost)).is_err() {
            // The game dropped its end: nobody will read it.
            g.items.fetch_sub(1, Ordering::Relaxed);
            g.bytes.fetch_sub(cost, Ordering::Relaxed);
            return false;
        }
        true
    }
}

impl<T> QueueRx<T> {
    /// The next item, if any. Never blocks.
    pub(crate) fn try_recv(&self) -> Option<T> {
        let (item, cost) = self.rx.try_recv().ok()?;
        self.gauge.items.fetch_sub(1, Ordering::Relaxed);
        self.gauge.bytes.fetch_sub(cost, Ordering::Relaxed);
        Some(item)
    }

    /// The queue's gauge.
    pub(crate) fn gauge(&self) -> &Gauge {
        &self.gauge
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::GameEvent;
    use crate::session::CloseReason;

    fn game(len: usize) -> Event {
        Event::GameEvent(GameEvent {
            from: 2,
            code: 7,
            payload: vec![0; len],
        })
    }

    #[test]
    fn a_full_queue_drops_and_counts_the_newest_but_never_the_end() {
        let (tx, rx) = queue::<Event>(3, usize::MAX);
        for _ in 0..5 {
            tx.send(game(10));
        }
        assert_eq!(rx.gauge().queued(), 3);
        assert_eq!(rx.gauge().dropped(), 2);
        assert!(tx.send(Event::Closed {
            reason: CloseReason::RoomClosed
        }));
        for _ in 0..3 {
            assert!(matches!(rx.try_recv(), Some(Event::GameEvent(_))));
        }
        assert!(matches!(rx.try_recv(), Some(Event::Closed { .. })));
        assert_eq!(rx.try_recv(), None);
        assert_eq!(rx.gauge().queued(), 0);
        // Read: room again.
        assert!(tx.send(game(10)));
    }

    #[test]
    fn bytes_are_bounded_too() {
        let one = game(16 * 1024).cost();
        let (tx, rx) = queue::<Event>(usize::MAX, 4 * one);
        let sent = (0..10).filter(|_| tx.send(game(16 * 1024))).count();
        assert_eq!(sent, 4);
        assert_eq!(rx.gauge().dropped(), 6);
        rx.try_recv().unwrap();
        assert!(tx.send(game(16 * 1024)));
        assert!(!tx.send(game(16 * 1024)));
    }
}
