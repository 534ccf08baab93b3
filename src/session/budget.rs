//! Per-sender budgets on the host: how many reliable game events and
//! property changes one seated peer may make the room carry, in messages
//! and in bytes, each a token bucket sized far above what PUN's own traffic
//! needs. A peer over budget has its messages refused; a peer that keeps
//! pushing (or whose events would swamp another peer's reliable queue) is
//! the one dropped, never the peer it floods.

use std::time::{Duration, Instant};

/// Reliable events one peer may raise per second, sustained.
pub(crate) const EVENTS_PER_SEC: f64 = 400.0;
/// ... and in one burst.
pub(crate) const EVENTS_BURST: f64 = 800.0;
/// Reliable event payload bytes one peer may raise per second, sustained.
pub(crate) const EVENT_BYTES_PER_SEC: f64 = 256.0 * 1024.0;
/// ... and in one burst (64 events of the largest size).
pub(crate) const EVENT_BYTES_BURST: f64 = 1024.0 * 1024.0;
/// Property changes one peer may ask for per second, sustained.
pub(crate) const PROPS_PER_SEC: f64 = 100.0;
/// ... and in one burst.
pub(crate) const PROPS_BURST: f64 = 200.0;
/// Property bytes (keys and values) one peer may set per second, sustained.
pub(crate) const PROP_BYTES_PER_SEC: f64 = 64.0 * 1024.0;
/// ... and in one burst.
pub(crate) const PROP_BYTES_BURST: f64 = 256.0 * 1024.0;
/// Messages over budget within [`FLOOD_WINDOW`] after which the sender is
/// dropped rather than throttled.
pub(crate) const FLOOD_REFUSALS: u32 = 200;
/// The window [`FLOOD_REFUSALS`] counts in.
pub(crate) const FLOOD_WINDOW: Duration = Duration::from_secs(1);
/// Reliable bytes a receiver may have queued before a peer's event to it is
/// no longer queued (and counted against the sender): a quarter of what
/// would break the receiver's link.
pub(crate) const RECEIVER_HIGH_WATER: usize = super::link::MAX_QUEUED_BYTES / 4;

/// One token bucket: `rate` tokens a second, at most `burst` saved.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tokens {
    /// Tokens there now (may go below zero when a take overdraws).
    pub(crate) tokens: f64,
    at: Instant,
    rate: f64,
    burst: f64,
}

impl Tokens {
    pub(crate) fn new(now: Instant, rate: f64, burst: f64) -> Self {
        Tokens {
            tokens: burst,
            at: now,
            rate,
            burst,
        }
    }

    pub(crate) fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        self.at = self.at.max(now);
    }

    /// When `amount` tokens will be there (at the last refill if they are).
    /// Rounded up to whole microseconds, so a wakeup at that instant always
    /// finds them: float rounding must never make it wake for nothing.
    pub(crate) fn ready_at(&self, amount: f64) -> Instant {
        let need = amount - self.tokens;
        if need <= 0.0 {
            self.at
        } else {
            let micros = (need / self.rate * 1e6).ceil().max(1.0);
            self.at + Duration::from_micros(micros as u64)
        }
    }
}

/// What the host does with one message of a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Within budget: carry it.
    Pass,
    /// Over budget: drop this message, keep the peer.
    Refuse,
    /// Flooding: drop the peer, for the reason given.
    Drop(&'static str),
}

/// The budgets of one seated peer.
#[derive(Clone, Debug)]
pub(crate) struct SenderBudget {
    events: Tokens,
    event_bytes: Tokens,
    props: Tokens,
    prop_bytes: Tokens,
    refused: u32,
    window_start: Instant,
    /// Messages refused over the peer's whole stay.
    pub(crate) refused_total: u64,
}

impl SenderBudget {
    pub(crate) fn new(now: Instant) -> Self {
        SenderBudget {
            events: Tokens::new(now, EVENTS_PER_SEC, EVENTS_BURST),
            event_bytes: Tokens::new(now, EVENT_BYTES_PER_SEC, EVENT_BYTES_BURST),
            props: Tokens::new(now, PROPS_PER_SEC, PROPS_BURST),
            prop_bytes: Tokens::new(now, PROP_BYTES_PER_SEC, PROP_BYTES_BURST),
            refused: 0,
            window_start: now,
            refused_total: 0,
        }
    }

    /// A reliable event of `bytes` payload bytes.
    pub(crate) fn event(&mut self, now: Instant, bytes: usize) -> Verdict {
        let (count, size) = (&mut self.events, &mut self.event_bytes);
        if take(now, count, size, bytes) {
            Verdict::Pass
        } else {
            self.strike(now, "it raised events far faster than the room carries")
        }
    }

    /// A property change of `bytes` bytes of keys and values.
    pub(crate) fn props(&mut self, now: Instant, bytes: usize) -> Verdict {
        let (count, size) = (&mut self.props, &mut self.prop_bytes);
        if take(now, count, size, bytes) {
            Verdict::Pass
        } else {
            self.strike(
                now,
                "it changed properties far faster than the room carries",
            )
        }
    }

    /// An event of this peer that a receiver's queue could not take.
    pub(crate) fn swamped(&mut self, now: Instant) -> Verdict {
        match self.strike(now, "") {
            Verdict::Drop(_) => {
                Verdict::Drop("its events would overflow another player's reliable queue")
            }
            v => v,
        }
    }

    fn strike(&mut self, now: Instant, why: &'static str) -> Verdict {
        if now.saturating_duration_since(self.window_start) >= FLOOD_WINDOW {
            self.window_start = now;
            self.refused = 0;
        }
        self.refused += 1;
        self.refused_total += 1;
        if self.refused >= FLOOD_REFUSALS {
            Verdict::Drop(why)
        } else {
            Verdict::Refuse
        }
    }
}

/// Takes one message and `bytes` from the two buckets, or nothing at all.
fn take(now: Instant, count: &mut Tokens, size: &mut Tokens, bytes: usize) -> bool {
    count.refill(now);
    size.refill(now);
    let bytes = bytes as f64;
    if count.tokens < 1.0 || size.tokens < bytes.min(size.burst) {
        return false;
    }
    count.tokens -= 1.0;
    size.tokens -= bytes;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_game_passes_and_a_flood_is_refused_then_dropped() {
        let t0 = Instant::now();
        let mut b = SenderBudget::new(t0);
        // Ten seconds of a busy game: 100 RPCs of 200 B a second.
        for n in 0..1000u64 {
            let at = t0 + Duration::from_millis(n * 10);
            assert_eq!(b.event(at, 200), Verdict::Pass, "event {n}");
        }
        assert_eq!(b.refused_total, 0);
        // Then a flood of the largest events, all at one instant.
        let at = t0 + Duration::from_secs(11);
        let mut verdicts = Vec::new();
        for _ in 0..400 {
            verdicts.push(b.event(at, 16 * 1024));
        }
        let passed = verdicts.iter().filter(|v| **v == Verdict::Pass).count();
        assert_eq!(passed, 64, "the burst carries 1 MiB of events");
        assert!(matches!(verdicts.last(), Some(Verdict::Drop(_))));
    }

    #[test]
    fn property_changes_have_their_own_budget() {
        let t0 = Instant::now();
        let mut b = SenderBudget::new(t0);
        let passed = (0..300)
            .filter(|_| b.props(t0, 10) == Verdict::Pass)
            .count();
        assert_eq!(passed, PROPS_BURST as usize);
        assert_eq!(b.event(t0, 10), Verdict::Pass);
        // A second later a hundred more fit again.
        let later = t0 + Duration::from_secs(1);
        let passed = (0..300)
            .filter(|_| b.props(later, 10) == Verdict::Pass)
            .count();
        assert_eq!(passed, PROPS_PER_SEC as usize);
    }
}
