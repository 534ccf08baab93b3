//! The demo's yardsticks, kept apart from the room so they can be tested on
//! made-up numbers: how many frames a receiver should have seen, the
//! push-to-read latency record, and the event ledger.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

// ---------------------------------------------------------------------------
// Frames delivered
//
// The network does not carry every physics tick: a client pilot sends its
// newest frame at its send rate, and the host forwards each pilot's newest
// frame to a receiver at that receiver's snapshot rate (pilots at `rate`,
// spectators at `rate / 2`); the host reads a client pilot's frames as they
// land. So the most *distinct* ticks of pilot P a receiver R can observe is
// one per interval of the slower of the two clocks:
//
//     pair_hz = min(physics_hz, P's send rate, R's snapshot rate)
//
// (the host pilot has no send clock of its own: every tick it pushes is in
// the next snapshot, so its send rate is the physics rate).
//
// For each pair, the window opens at the first frame of P that R read (but
// no later than `FIRST_FRAME_GRACE` after the run started, so a pair that
// stays silent for a long time, or for ever, is charged for it) and closes
// when the pilots stop pushing. Then
//
//     expected = 1 + floor(window * pair_hz)
//     got      = distinct ticks of P that R read in the window (plus the
//                frames still in flight when the pilots stopped)
//
// and each pair contributes min(got, expected) / expected; the room's ratio
// is the sum of the clamped `got` over the sum of `expected`. A pair that
// received a bit more than its share (two clocks beating) cannot hide
// another pair's shortfall, and a pilot whose packets stop stops adding to
// `got` while `expected` keeps growing with the clock.
// ---------------------------------------------------------------------------

/// How long after the start a pair's window opens at the latest, even when
/// its first frame has not come (covers the first send and snapshot
/// intervals at the slowest rate, 10 Hz, with room to spare).
pub(crate) const FIRST_FRAME_GRACE: Duration = Duration::from_millis(500);

/// One (receiver, remote pilot) pair after the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PairCount {
    /// Distinct ticks the receiver read in the window.
    pub(crate) got: u64,
    /// Send intervals in the window (see the module notes).
    pub(crate) expected: u64,
}

impl PairCount {
    /// `got` capped at `expected`.
    pub(crate) fn clamped(&self) -> u64 {
        self.got.min(self.expected)
    }

    /// This pair's own ratio, 0 to 1.
    pub(crate) fn ratio(&self) -> f64 {
        if self.expected == 0 {
            1.0
        } else {
            self.clamped() as f64 / self.expected as f64
        }
    }
}

/// The distinct frames a pair should have seen: `first_seen` is when the
/// receiver first read this pilot, counted from the start of the run
/// (`None`: never), `run` is how long the pilots pushed, `hz` the pair's
/// rate.
pub(crate) fn expected_frames(first_seen: Option<Duration>, run: Duration, hz: f64) -> u64 {
    let opens = first_seen
        .unwrap_or(FIRST_FRAME_GRACE)
        .min(FIRST_FRAME_GRACE);
    let window = run.saturating_sub(opens);
    1 + (window.as_secs_f64() * hz).floor() as u64
}

/// The room's ratio: clamped frames got over frames expected, summed over
/// the pairs (`None` when nothing was expected).
pub(crate) fn delivered_ratio(pairs: &[PairCount]) -> Option<f64> {
    let expected: u64 = pairs.iter().map(|p| p.expected).sum();
    let got: u64 = pairs.iter().map(PairCount::clamped).sum();
    (expected > 0).then(|| got as f64 / expected as f64)
}

// ---------------------------------------------------------------------------
// Latency
// ---------------------------------------------------------------------------

/// Ticks remembered per pilot; at 120 Hz about 68 s, far more than any
/// frame spends in flight.
const PUSH_RING: usize = 8192;

/// When each of one pilot's recent ticks was pushed: written by that pilot's
/// game thread, read by every observer, without locks and off the session's
/// path. Times are microseconds since the room's epoch, so a run may last
/// about 71 minutes (the demo allows an hour).
pub(crate) struct PushClock {
    slots: Box<[AtomicU64]>,
}

impl PushClock {
    pub(crate) fn new() -> Self {
        PushClock {
            slots: (0..PUSH_RING).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Notes that `tick` was pushed at `at_us`.
    pub(crate) fn record(&self, tick: u32, at_us: u32) {
        let packed = (u64::from(tick) << 32) | u64::from(at_us);
        self.slots[tick as usize % PUSH_RING].store(packed, Ordering::Release);
    }

    /// When `tick` was pushed, if it is still remembered (tick 0 never is).
    pub(crate) fn pushed_at(&self, tick: u32) -> Option<u32> {
        let packed = self.slots[tick as usize % PUSH_RING].load(Ordering::Acquire);
        (tick != 0 && (packed >> 32) as u32 == tick).then_some(packed as u32)
    }
}

/// 10 µs buckets up to 100 ms, then 1 ms buckets up to 10 s, then one
/// overflow count: bounded memory however long the run, and percentiles
/// good to 10 µs where latencies actually are.
const FINE_STEP_US: u64 = 10;
const FINE_BUCKETS: usize = 10_000;
const COARSE_STEP_US: u64 = 1_000;
const COARSE_BUCKETS: usize = 9_900;
const FINE_END_US: u64 = FINE_STEP_US * FINE_BUCKETS as u64;
const COARSE_END_US: u64 = FINE_END_US + COARSE_STEP_US * COARSE_BUCKETS as u64;

/// Push-to-first-read latencies.
#[derive(Clone, Debug)]
pub(crate) struct LatencyHistogram {
    buckets: Vec<u32>,
    overflow: u64,
    count: u64,
    max_us: u64,
}

impl LatencyHistogram {
    pub(crate) fn new() -> Self {
        LatencyHistogram {
            buckets: vec![0; FINE_BUCKETS + COARSE_BUCKETS],
            overflow: 0,
            count: 0,
            max_us: 0,
        }
    }

    pub(crate) fn record(&mut self, us: u64) {
        self.count += 1;
        self.max_us = self.max_us.max(us);
        let i = if us < FINE_END_US {
            (us / FINE_STEP_US) as usize
        } else if us < COARSE_END_US {
            FINE_BUCKETS + ((us - FINE_END_US) / COARSE_STEP_US) as usize
        } else {
            self.overflow += 1;
            return;
        };
        self.buckets[i] = self.buckets[i].saturating_add(1);
    }

    pub(crate) fn merge(&mut self, other: &LatencyHistogram) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a = a.saturating_add(*b);
        }
        self.overflow += other.overflow;
        self.count += other.count;
        self.max_us = self.max_us.max(other.max_us);
    }

    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    pub(crate) fn max_ms(&self) -> f64 {
        self.max_us as f64 / 1000.0
    }

    /// The nearest-rank `q` quantile (0 < q ≤ 1) in milliseconds, at the
    /// middle of its bucket; `None` without samples.
    pub(crate) fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += u64::from(*n);
            if seen >= rank {
                let (lo, step) = if i < FINE_BUCKETS {
                    (i as u64 * FINE_STEP_US, FINE_STEP_US)
                } else {
                    (
                        FINE_END_US + (i - FINE_BUCKETS) as u64 * COARSE_STEP_US,
                        COARSE_STEP_US,
                    )
                };
                let mid = lo as f64 + step as f64 / 2.0;
                return Some(mid.min(self.max_us as f64) / 1000.0);
            }
        }
        Some(self.max_ms())
    }
}

// ---------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------

/// The game-event code the demo's events travel under.
pub(crate) const EVENT_CODE: u8 = 42;
const EVENT_MAGIC: [u8; 2] = *b"PW";
/// Magic, sender, sequence number.
pub(crate) const EVENT_HEADER: usize = 2 + 1 + 4;

/// A demo event of `len` bytes (at least [`EVENT_HEADER`]): who raised it,
/// its number in that sender's sequence, then filler derived from both so a
/// receiver notices a corrupted or mixed-up payload.
pub(crate) fn event_payload(sender: usize, seq: u32, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len.max(EVENT_HEADER));
    out.extend_from_slice(&EVENT_MAGIC);
    out.push(sender as u8);
    out.extend_from_slice(&seq.to_le_bytes());
    let len = len.max(EVENT_HEADER);
    out.extend((EVENT_HEADER..len).map(|i| filler(sender, seq, i)));
    out
}

/// The (sender, sequence number) of a demo event, if the whole payload is
/// intact.
pub(crate) fn read_event_payload(bytes: &[u8]) -> Option<(usize, u32)> {
    if bytes.len() < EVENT_HEADER || bytes[..2] != EVENT_MAGIC {
        return None;
    }
    let sender = usize::from(bytes[2]);
    let seq = u32::from_le_bytes([bytes[3], bytes[4], bytes[5], bytes[6]]);
    let intact = bytes[EVENT_HEADER..]
        .iter()
        .enumerate()
        .all(|(k, b)| *b == filler(sender, seq, EVENT_HEADER + k));
    intact.then_some((sender, seq))
}

fn filler(sender: usize, seq: u32, i: usize) -> u8 {
    (i as u32)
        .wrapping_mul(31)
        .wrapping_add(seq.wrapping_mul(7))
        .wrapping_add(sender as u32 * 101) as u8
}

/// True iff every receiver got, from every sender, exactly the events that
/// sender raised, each once, in the order raised. `sent[s]` lists sender
/// `s`'s sequence numbers as raised; `received[r][s]` those receiver `r`
/// polled from `s`, in arrival order.
pub(crate) fn exactly_once_in_order(sent: &[Vec<u32>], received: &[Vec<Vec<u32>>]) -> bool {
    let none: &[u32] = &[];
    received.iter().all(|per_sender| {
        (0..sent.len().max(per_sender.len())).all(|s| {
            let raised = sent.get(s).map_or(none, Vec::as_slice);
            let got = per_sender.get(s).map_or(none, Vec::as_slice);
            got == raised
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_perfect_pair_scores_one_and_a_silent_pilot_drags_the_room_down() {
        // 60 Hz for 5 s from the first frame at 20 ms.
        let expected = expected_frames(Some(ms(20)), ms(5_000), 60.0);
        assert_eq!(expected, 1 + (4.98f64 * 60.0).floor() as u64);
        let perfect = PairCount {
            got: expected,
            expected,
        };
        assert_eq!(delivered_ratio(&[perfect]), Some(1.0));

        // The same pilot goes quiet half way: the receiver keeps reading its
        // last frame, so `got` stops while `expected` keeps counting.
        let halted = PairCount {
            got: expected / 2,
            expected,
        };
        let r = delivered_ratio(&[perfect, halted]).unwrap();
        assert!((r - 0.75).abs() < 0.01, "{r}");
        assert!((halted.ratio() - 0.5).abs() < 0.01);
    }

    #[test]
    fn extra_frames_on_one_pair_cannot_hide_a_shortfall_on_another() {
        let over = PairCount {
            got: 130,
            expected: 100,
        };
        let short = PairCount {
            got: 90,
            expected: 100,
        };
        assert_eq!(delivered_ratio(&[over, short]), Some(0.95));
        assert_eq!(over.ratio(), 1.0);
    }

    #[test]
    fn a_pair_that_never_hears_or_hears_late_is_charged_from_the_grace() {
        let full = expected_frames(Some(Duration::ZERO), ms(3_000), 30.0);
        let never = expected_frames(None, ms(3_000), 30.0);
        let late = expected_frames(Some(ms(2_900)), ms(3_000), 30.0);
        assert_eq!(full, 91);
        assert_eq!(never, late, "a late first frame opens the window no later");
        assert_eq!(never, 1 + (2.5f64 * 30.0) as u64);
        let silent = PairCount {
            got: 0,
            expected: never,
        };
        assert_eq!(delivered_ratio(&[silent]), Some(0.0));
        assert_eq!(delivered_ratio(&[]), None);
    }

    #[test]
    fn push_clock_forgets_overwritten_ticks() {
        let c = PushClock::new();
        c.record(7, 1234);
        assert_eq!(c.pushed_at(7), Some(1234));
        assert_eq!(c.pushed_at(8), None);
        c.record(7 + PUSH_RING as u32, 99);
        assert_eq!(c.pushed_at(7), None, "the slot now holds a later tick");
        assert_eq!(c.pushed_at(0), None);
    }

    #[test]
    fn histogram_percentiles_are_good_to_a_bucket() {
        let mut h = LatencyHistogram::new();
        for us in 1..=1000u64 {
            h.record(us * 20); // 20 µs .. 20 ms, uniform
        }
        let p50 = h.quantile_ms(0.5).unwrap();
        let p99 = h.quantile_ms(0.99).unwrap();
        assert!((p50 - 10.0).abs() <= 0.011, "{p50}");
        assert!((p99 - 19.8).abs() <= 0.011, "{p99}");
        let mut slow = LatencyHistogram::new();
        slow.record(250_000);
        slow.record(20_000_000);
        h.merge(&slow);
        assert_eq!(h.count(), 1002);
        assert_eq!(h.max_ms(), 20_000.0);
        assert_eq!(h.quantile_ms(1.0), Some(20_000.0));
        assert_eq!(LatencyHistogram::new().quantile_ms(0.5), None);
    }

    #[test]
    fn event_payloads_round_trip_and_damage_is_noticed() {
        let p = event_payload(3, 77, 2048);
        assert_eq!(p.len(), 2048);
        assert_eq!(read_event_payload(&p), Some((3, 77)));
        assert_eq!(read_event_payload(&event_payload(0, 1, 0)), Some((0, 1)));
        let mut bad = p.clone();
        bad[1000] ^= 1;
        assert_eq!(read_event_payload(&bad), None);
        assert_eq!(read_event_payload(b"hello"), None);
    }

    #[test]
    fn the_ledger_wants_every_event_once_and_in_order() {
        let sent = vec![vec![0, 1, 2], vec![0]];
        let good = vec![vec![vec![0, 1, 2], vec![0]], vec![vec![0, 1, 2], vec![0]]];
        assert!(exactly_once_in_order(&sent, &good));
        let missing = vec![vec![vec![0, 2], vec![0]]];
        let twice = vec![vec![vec![0, 1, 1, 2], vec![0]]];
        let swapped = vec![vec![vec![0, 2, 1], vec![0]]];
        let stranger = vec![vec![vec![0, 1, 2], vec![0], vec![5]]];
        for bad in [missing, twice, swapped, stranger] {
            assert!(!exactly_once_in_order(&sent, &bad), "{bad:?}");
        }
    }
}
