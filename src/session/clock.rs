//! Pings, round trips and the shared clock.
//!
//! Both sides ping every 250 ms (faster right after joining) and answer
//! pings at once. A client estimates the host's clock from the answers the
//! NTP way: `offset = host_time + rtt/2 - local_time`. Queueing delay only
//! ever adds to a round trip, so the fastest round trips are the least
//! lopsided: the estimate is the mean offset of the 8 fastest of the last 64
//! samples. Each sample is off by half the difference between its two
//! directions' delays; averaging the fastest few shrinks that further. The
//! room harness checks the error stays within 5 ms under 40±20 ms jitter.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::proto::wire::{Reader, SectionKind, WireError, Writer};

const PING_INTERVAL: Duration = Duration::from_millis(250);
const FAST_PING_INTERVAL: Duration = Duration::from_millis(40);
const FAST_PINGS: u16 = 10;
const CLOCK_SAMPLES: usize = 64;
const BEST_SAMPLES: usize = 8;
/// Bytes of a ping section.
pub(crate) const PING_BYTES: usize = 1 + 2 + 8;
/// Bytes of a pong section.
pub(crate) const PONG_BYTES: usize = 1 + 2 + 8 + 8;

/// The host clock as a client estimates it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ClockEstimate {
    /// Add to local microseconds to get host microseconds.
    pub offset_us: i64,
    /// The slowest round trip among the samples averaged, microseconds; the
    /// offset is off by at most half of it (and typically far less).
    pub rtt_us: u64,
    /// False until the first answer arrived.
    pub valid: bool,
}

/// Ping scheduling, answering, round-trip and clock estimation for one link.
pub(crate) struct Pinger {
    epoch: Instant,
    next_ping_at: Instant,
    next_id: u16,
    owed_pong: Option<(u16, u64)>,
    rtt: Option<Duration>,
    samples: VecDeque<(u64, i64)>,
    estimate: ClockEstimate,
}

impl Pinger {
    /// `epoch` is this side's zero for the microsecond times on the wire.
    pub(crate) fn new(epoch: Instant, now: Instant) -> Self {
        Pinger {
            epoch,
            next_ping_at: now,
            next_id: 0,
            owed_pong: None,
            rtt: None,
            samples: VecDeque::with_capacity(CLOCK_SAMPLES),
            estimate: ClockEstimate::default(),
        }
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
            w.u16(self.next_id);
            w.u64(self.local_us(now));
            let gap = if self.next_id < FAST_PINGS {
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

    /// Reads a pong section (tag consumed): a round trip and a clock sample.
    pub(crate) fn on_pong(&mut self, now: Instant, r: &mut Reader<'_>) -> Result<(), WireError> {
        let _id = r.u16("pong id")?;
        let echo = r.u64("pong echo")?;
        let remote = r.u64("pong time")?;
        let local = self.local_us(now);
        if echo > local {
            return Err(WireError::Invalid("pong from the future"));
        }
        let rtt_us = local - echo;
        let rtt = Duration::from_micros(rtt_us);
        self.rtt = Some(match self.rtt {
            None => rtt,
            Some(s) => (s * 7 + rtt) / 8,
        });
        let offset = remote as i64 + (rtt_us / 2) as i64 - local as i64;
        if self.samples.len() == CLOCK_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back((rtt_us, offset));
        let mut best = [(u64::MAX, 0i64); BEST_SAMPLES];
        for &s in &self.samples {
            // Insertion into a tiny sorted array: no allocation per pong.
            if s.0 < best[BEST_SAMPLES - 1].0 {
                let mut i = BEST_SAMPLES - 1;
                while i > 0 && best[i - 1].0 > s.0 {
                    best[i] = best[i - 1];
                    i -= 1;
                }
                best[i] = s;
            }
        }
        let used = best.iter().take_while(|s| s.0 != u64::MAX);
        let (n, sum, slowest) =
            used.fold((0i64, 0i64, 0u64), |(n, sum, _), s| (n + 1, sum + s.1, s.0));
        if n > 0 {
            self.estimate = ClockEstimate {
                offset_us: sum / n,
                rtt_us: slowest,
                valid: true,
            };
        }
        Ok(())
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
