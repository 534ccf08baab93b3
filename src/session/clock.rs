//! Pings, round trips and the shared clock.
//!
//! Both sides ping every 40 ms for the first 5 s of a link, then every
//! 100 ms, and answer pings at once. Each answer bounds the host's clock: the host stamped it
//! between our ping leaving (local `t1`) and its pong arriving (local `t2`),
//! so `offset = host - local` lies in `[host_stamp - t2, host_stamp - t1]`.
//! The estimate is the middle of where the last 128 such intervals overlap
//! (the first 5 s, then the last 12.8 s):
//! its edges are set by the fastest trip seen in each direction on its own
//! (not by the fastest round trip as a whole), so queueing delay in either
//! direction only ever widens an interval and never moves the estimate.
//! Its error is half the difference between the two directions' fastest
//! trips: under 40 ± 20 ms each way, a few hundred microseconds. A clock
//! that drifts against ours shifts the intervals over the window, which
//! costs at most the drift over 12.8 s (0.64 ms at 50 ppm); the
//! window is kept that short rather than fitted with a skew, since over it
//! the jitter's fastest trips say less about the skew than the drift
//! moves. When the intervals stop overlapping (a clock stepped), the oldest
//! are dropped until the rest agree.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::proto::wire::{Reader, SectionKind, WireError, Writer};

/// Pings in a row sent [`FAST_PING_INTERVAL`] apart when the link opens,
/// then [`PING_INTERVAL`] apart (11 bytes a ping, 19 a pong).
const FAST_PINGS: u32 = 125;
const FAST_PING_INTERVAL: Duration = Duration::from_millis(40);
const PING_INTERVAL: Duration = Duration::from_millis(100);
/// The host's pings (round trip only; the joiners keep the clock).
const HOST_PING_INTERVAL: Duration = Duration::from_millis(250);
/// Answers the estimate remembers.
const CLOCK_SAMPLES: usize = 128;
/// Host stamps beyond this are not a clock (about 146 000 years in
/// microseconds): the sample is refused rather than overflowing the sums.
const MAX_REMOTE_US: u64 = 1 << 62;
/// Pings remembered until answered: a pong counts only when it answers one
/// of these, once (at 40 ms between the first pings, a round trip of up to
/// 640 ms still finds its ping).
const PINGS_IN_FLIGHT: usize = 16;
/// Bytes of a ping section.
pub(crate) const PING_BYTES: usize = 1 + 2 + 8;
/// Bytes of a pong section.
pub(crate) const PONG_BYTES: usize = 1 + 2 + 8 + 8;

/// The host clock as a client estimates it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ClockEstimate {
    /// Add to local microseconds to get host microseconds.
    pub offset_us: i64,
    /// Width of the window the host clock is known to lie in, microseconds:
    /// the offset is off by at most half of it (and typically far less).
    pub rtt_us: u64,
    /// False until the first answer arrived.
    pub valid: bool,
}

/// Ping scheduling, answering, round-trip and clock estimation for one link.
pub(crate) struct Pinger {
    epoch: Instant,
    next_ping_at: Instant,
    next_id: u16,
    /// Pings sent so far, counted until pings slow down.
    pings_sent: u32,
    /// The host's side: it is the clock, so it pings only for the round
    /// trip, at [`HOST_PING_INTERVAL`].
    host: bool,
    owed_pong: Option<(u16, u64)>,
    /// Pings sent and not yet answered: id and send time.
    in_flight: VecDeque<(u16, u64)>,
    /// Pongs that answered no ping of ours in flight.
    pub(crate) ignored_pongs: u64,
    rtt: Option<Duration>,
    /// Per answer: the offset's lower and upper bounds, microseconds.
    samples: VecDeque<(i64, i64)>,
    estimate: ClockEstimate,
}

impl Pinger {
    /// `epoch` is this side's zero for the microsecond times on the wire.
    pub(crate) fn new(epoch: Instant, now: Instant) -> Self {
        Pinger {
            epoch,
            next_ping_at: now,
            next_id: 0,
            pings_sent: 0,
            host: false,
            owed_pong: None,
            in_flight: VecDeque::with_capacity(PINGS_IN_FLIGHT),
            ignored_pongs: 0,
            rtt: None,
            samples: VecDeque::with_capacity(CLOCK_SAMPLES),
            estimate: ClockEstimate::default(),
        }
    }

    /// The host's side of a link: answers at once, pings slowly.
    pub(crate) fn for_host(epoch: Instant, now: Instant) -> Self {
        Pinger {
            host: true,
            ..Pinger::new(epoch, now)
        }
    }

    /// True while a pong is owed (it goes out at once).
    pub(crate) fn owes_pong(&self) -> bool {
        self.owed_pong.is_some()
    }

    fn local_us(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_micros() as u64
    }

    /// When the next ping or pong is due.
    pub(crate) fn next_due(&self) -> Instant {
        if self.owed_pong.is_some() {
            self.epoch
        } else {
            self.next_ping_at
        }
    }

    /// True when a ping or a pong should go out now.
    pub(crate) fn due(&self, now: Instant) -> bool {
        self.owed_pong.is_some() || now >= self.next_ping_at
    }

    /// Appends a due ping and an owed pong, if they fit.
    pub(crate) fn write(&mut self, now: Instant, w: &mut Writer<'_>) {
        if let Some((id, echo)) = self.owed_pong {
            if w.space() >= PONG_BYTES {
                w.u8(SectionKind::Pong as u8);
                w.u16(id);
                w.u64(echo);
                w.u64(self.local_us(now));
                self.owed_pong = None;
            }
        }
        if now >= self.next_ping_at && w.space() >= PING_BYTES {
            w.u8(SectionKind::Ping as u8);
            let sent = self.local_us(now);
            w.u16(self.next_id);
            w.u64(sent);
            if self.in_flight.len() == PINGS_IN_FLIGHT {
                self.in_flight.pop_front();
            }
            self.in_flight.push_back((self.next_id, sent));
            let gap = if self.host {
                HOST_PING_INTERVAL
            } else if self.pings_sent < FAST_PINGS {
                self.pings_sent += 1;
                FAST_PING_INTERVAL
            } else {
                PING_INTERVAL
            };
            self.next_id = self.next_id.wrapping_add(1);
            self.next_ping_at = now + gap;
        }
    }

    /// Reads a ping section (tag consumed): owe the answer.
    pub(crate) fn on_ping(&mut self, r: &mut Reader<'_>) -> Result<(), WireError> {
        let id = r.u16("ping id")?;
        let sent = r.u64("ping time")?;
        self.owed_pong = Some((id, sent));
        Ok(())
    }

    /// Reads a pong section (tag consumed): a round trip and a clock sample,
    /// when it answers a ping of ours still unanswered. Any other pong (a
    /// replay, a second answer, a forgery naming a time we never sent) is
    /// read and ignored: it would only drag the round trip and the clock.
    pub(crate) fn on_pong(&mut self, now: Instant, r: &mut Reader<'_>) -> Result<(), WireError> {
        let id = r.u16("pong id")?;
        let echo = r.u64("pong echo")?;
        let remote = r.u64("pong time")?;
        let local = self.local_us(now);
        let Some(k) = self
            .in_flight
            .iter()
            .position(|&(i, sent)| i == id && sent == echo)
        else {
            self.ignored_pongs += 1;
            return Ok(());
        };
        self.in_flight.remove(k);
        if echo > local {
            return Err(WireError::Invalid("pong from the future"));
        }
        let rtt_us = local - echo;
        let rtt = Duration::from_micros(rtt_us);
        self.rtt = Some(match self.rtt {
            None => rtt,
            Some(s) => (s * 7 + rtt) / 8,
        });
        if remote > MAX_REMOTE_US {
            return Err(WireError::Invalid("pong time out of range"));
        }
        // local and echo are microseconds since our epoch: far below 2^62.
        let (remote, local, echo) = (remote as i64, local as i64, echo as i64);
        if self.samples.len() == CLOCK_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back((remote - local, remote - echo));
        self.estimate = self.overlap();
        Ok(())
    }

    /// The middle of the window all remembered samples agree on, dropping
    /// the oldest while they do not.
    fn overlap(&mut self) -> ClockEstimate {
        loop {
            let (lower, upper) = self
                .samples
                .iter()
                .fold((i64::MIN, i64::MAX), |(lo, hi), &(l, u)| {
                    (lo.max(l), hi.min(u))
                });
            if lower <= upper || self.samples.len() <= 1 {
                // Both bounds are within ±2^62 (see MAX_REMOTE_US): the sum
                // cannot overflow.
                return ClockEstimate {
                    offset_us: (lower + upper) / 2,
                    rtt_us: upper.abs_diff(lower),
                    valid: !self.samples.is_empty(),
                };
            }
            self.samples.pop_front();
        }
    }

    /// Smoothed round trip from pings.
    pub(crate) fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// The peer's clock relative to ours.
    pub(crate) fn estimate(&self) -> ClockEstimate {
        self.estimate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One pong: our ping left at local `t1_us`, the host stamped
    /// `host_us`, the pong came back at local `t2_us`.
    fn answer(p: &mut Pinger, epoch: Instant, t1_us: u64, host_us: u64, t2_us: u64) {
        let id = ping(p, epoch, t1_us);
        pong(p, epoch, id, t1_us, host_us, t2_us).expect("a pong");
    }

    /// Sends a ping at local `t1_us` (it must be due); returns its id.
    fn ping(p: &mut Pinger, epoch: Instant, t1_us: u64) -> u16 {
        let mut buf = [0u8; 32];
        let mut w = Writer::new(&mut buf);
        p.write(epoch + Duration::from_micros(t1_us), &mut w);
        let &(id, sent) = p.in_flight.back().expect("a ping went out");
        assert_eq!(sent, t1_us);
        id
    }

    /// A pong for ping `id` sent at `t1_us`, stamped `host_us` by the host,
    /// arriving at local `t2_us`.
    fn pong(
        p: &mut Pinger,
        epoch: Instant,
        id: u16,
        t1_us: u64,
        host_us: u64,
        t2_us: u64,
    ) -> Result<(), WireError> {
        let mut buf = [0u8; 32];
        let mut w = Writer::new(&mut buf);
        w.u16(id);
        w.u64(t1_us);
        w.u64(host_us);
        let n = w.len();
        let now = epoch + Duration::from_micros(t2_us);
        p.on_pong(now, &mut Reader::new(&buf[..n]))
    }

    #[test]
    fn the_estimate_takes_each_directions_fastest_trip_on_its_own() {
        let epoch = Instant::now();
        let mut p = Pinger::new(epoch, epoch);
        let offset = 5_000_000i64; // the host's clock is 5 s ahead
                                   // Trips up and down of 20 ms plus queueing that is never in both
                                   // directions at once: no single round trip is fast, yet each
                                   // direction was fast once.
        let trips = [(20_000, 35_000), (33_000, 20_000), (28_000, 27_000)];
        for (k, (up, down)) in trips.into_iter().enumerate() {
            let t1 = 1_000_000 * (k as u64 + 1);
            let host = (t1 + up) as i64 + offset;
            answer(&mut p, epoch, t1, host as u64, t1 + up + down);
        }
        let e = p.estimate();
        assert!(e.valid);
        assert_eq!(e.offset_us, offset, "{e:?}");
        // The window is the two fastest one-way trips together, though no
        // round trip was faster than 47 ms.
        assert_eq!(e.rtt_us, 40_000, "{e:?}");
    }

    #[test]
    fn a_stepped_clock_is_followed_and_nonsense_is_refused() {
        let epoch = Instant::now();
        let mut p = Pinger::new(epoch, epoch);
        for k in 1..=10u64 {
            let t1 = k * 100_000;
            answer(&mut p, epoch, t1, t1 + 10_000 + 1_000, t1 + 20_000);
        }
        assert_eq!(p.estimate().offset_us, 1_000);
        // The host's clock jumps 2 s ahead: the old samples disagree with
        // the new one and go.
        answer(&mut p, epoch, 2_000_000, 2_010_000 + 2_001_000, 2_020_000);
        assert_eq!(p.estimate().offset_us, 2_001_000);
        // A pong of absurd time for a ping in flight is refused...
        let id = ping(&mut p, epoch, 2_500_000);
        assert!(pong(
            &mut p,
            epoch,
            id,
            2_500_000,
            0x8000_0000_0000_0000,
            2_520_000
        )
        .is_err());
        assert_eq!(p.estimate().offset_us, 2_001_000, "the estimate stays");
        // ... and one for no ping of ours (a forgery echoing time 0) is
        // ignored.
        pong(&mut p, epoch, 7, 0, 0x8000_0000_0000_0000, 3_000_000).expect("ignored");
        assert_eq!(p.estimate().offset_us, 2_001_000, "the estimate stays");
        assert_eq!(p.ignored_pongs, 1);
    }

    #[test]
    fn a_replayed_or_forged_pong_moves_neither_the_round_trip_nor_the_clock() {
        let epoch = Instant::now();
        let mut p = Pinger::new(epoch, epoch);
        let mut last = (0, 0, 0, 0);
        for k in 1..=20u64 {
            let t1 = k * 300_000;
            let id = ping(&mut p, epoch, t1);
            pong(&mut p, epoch, id, t1, t1 + 1_000 + 500_000, t1 + 2_000).expect("a pong");
            last = (id, t1, t1 + 1_000 + 500_000, t1 + 2_000);
        }
        let (rtt, estimate) = (p.rtt(), p.estimate());
        assert_eq!(estimate.offset_us, 500_000);
        // The last pong again, much later: it answers a ping already
        // answered, so a replay cannot stretch the round trip to seconds.
        let (id, t1, host, _) = last;
        pong(&mut p, epoch, id, t1, host, 30_000_000).expect("ignored");
        // A pong echoing a time we never sent, with a host time 13 s off.
        pong(
            &mut p,
            epoch,
            id.wrapping_add(1),
            0,
            host + 13_000_000,
            31_000_000,
        )
        .expect("ignored");
        assert_eq!(p.ignored_pongs, 2);
        assert_eq!(p.rtt(), rtt);
        assert_eq!(p.estimate(), estimate);
    }
}
