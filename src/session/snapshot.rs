//! A snapshot's entries, delta-coded per receiver.
//!
//! Each entry is a seat and age byte, then a form byte: 0 for a full frame
//! ([`FRAME_BYTES`]), or `n` for a delta of `n` bytes against an earlier
//! frame of the same seat, named by the low 16 bits of its tick. The host
//! codes against the newest frame of that seat carried by a packet the
//! receiver acknowledged ([`SentFrames`]); the receiver keeps the frames
//! it was sent lately ([`HeldFrames`]) to decode against. A delta whose
//! base the receiver no longer holds is skipped (its length is known) and
//! counted; full frames go out when no base is acknowledged, so a lost
//! packet costs one full frame rather than a stall.

use crate::proto::delta::{decode_delta, encode_delta};
use crate::proto::frame::tick_newer;
use crate::proto::wire::{Reader, WireError, Writer};
use crate::proto::{Quantized, FRAME_BYTES};

use super::MAX_PILOTS;

/// Sent packets remembered per receiver, for choosing bases.
const SENT_HISTORY: usize = 32;
/// Frames a receiver keeps per seat: every entry of the last
/// [`SENT_HISTORY`] packets (a packet carries up to two per seat), and the
/// base they were coded against.
const HELD: usize = 2 * SENT_HISTORY + 8;
/// A delta is only sent when it is at most this long.
const MAX_DELTA_BYTES: usize = FRAME_BYTES - 4;

/// Bytes before an entry's frame: seat and age, form.
pub(crate) const ENTRY_HEAD: usize = 2;
/// Most bytes one entry takes (a full frame).
pub(crate) const MAX_ENTRY: usize = ENTRY_HEAD + FRAME_BYTES;

/// One seat's frame (if any) per seat.
type PerSeat = [Option<Quantized>; MAX_PILOTS];

/// The frames each recent packet to one receiver carried, by sequence
/// number (with a flag for slots not yet used).
pub(crate) struct SentFrames {
    packets: Box<[(u16, bool, PerSeat); SENT_HISTORY]>,
}

impl Default for SentFrames {
    fn default() -> Self {
        SentFrames {
            packets: Box::new([(0, false, [None; MAX_PILOTS]); SENT_HISTORY]),
        }
    }
}

impl SentFrames {
    /// Records what packet `seq` carried.
    pub(crate) fn put(&mut self, seq: u16, frames: PerSeat) {
        self.packets[seq as usize % SENT_HISTORY] = (seq, true, frames);
    }

    /// The newest frame of `seat` in a packet the receiver acknowledged
    /// that `cur` can be coded against (same run, older tick).
    pub(crate) fn base(
        &self,
        seat: usize,
        cur: &Quantized,
        acked: impl Fn(u16) -> bool,
    ) -> Option<Quantized> {
        let mut best: Option<Quantized> = None;
        for (seq, valid, frames) in self.packets.iter() {
            let Some(q) = frames[seat] else { continue };
            if !*valid
                || q.run() != cur.run()
                || !tick_newer(cur.run(), cur.tick(), q.run(), q.tick())
                || !acked(*seq)
            {
                continue;
            }
            if best.is_none_or(|b| tick_newer(q.run(), q.tick(), b.run(), b.tick())) {
                best = Some(q);
            }
        }
        best
    }
}

/// The frames one receiver was sent lately, per seat, newest last.
pub(crate) struct HeldFrames {
    seats: Box<[([Option<Quantized>; HELD], usize); MAX_PILOTS]>,
    /// Deltas whose base was no longer held.
    pub(crate) unresolved: u64,
}

impl Default for HeldFrames {
    fn default() -> Self {
        HeldFrames {
            seats: Box::new([([None; HELD], 0); MAX_PILOTS]),
            unresolved: 0,
        }
    }
}

impl HeldFrames {
    fn hold(&mut self, seat: usize, q: Quantized) {
        let (ring, next) = &mut self.seats[seat];
        ring[*next % HELD] = Some(q);
        *next = (*next + 1) % HELD;
    }

    /// The newest held frame of `seat` whose tick ends in `tick16`.
    fn find(&self, seat: usize, tick16: u16) -> Option<Quantized> {
        let (ring, next) = &self.seats[seat];
        (1..=HELD)
            .map(|k| ring[(next + HELD - k) % HELD])
            .find_map(|q| q.filter(|q| q.tick() as u16 == tick16))
    }

    /// Forgets a seat's frames (its pilot left).
    pub(crate) fn clear(&mut self, seat: usize) {
        self.seats[seat] = ([None; HELD], 0);
    }
}

/// Writes one entry: `cur` as a delta against `base` when that is shorter,
/// else in full.
pub(crate) fn write_entry(
    w: &mut Writer<'_>,
    seat: usize,
    age: u8,
    cur: &Quantized,
    base: Option<&Quantized>,
) {
    w.u8((seat as u8) << 5 | age.min(31));
    let mut d = [0u8; 2 * FRAME_BYTES];
    if let Some(b) = base {
        if let Some(n) = encode_delta(b, cur, &mut d).filter(|n| *n <= MAX_DELTA_BYTES) {
            w.u8(n as u8);
            w.u16(b.tick() as u16);
            w.bytes(&d[..n]);
            return;
        }
    }
    w.u8(0);
    let mut full = [0u8; FRAME_BYTES];
    cur.encode(&mut full);
    w.bytes(&full);
}

/// Reads one entry: its seat, age byte and frame (`None`: a delta whose
/// base is gone, skipped). Every frame read is held as a later base.
pub(crate) fn read_entry(
    r: &mut Reader<'_>,
    held: &mut HeldFrames,
) -> Result<(usize, u8, Option<Quantized>), WireError> {
    let head = r.u8("snapshot entry")?;
    let seat = usize::from(head >> 5);
    if seat >= MAX_PILOTS {
        return Err(WireError::Invalid("snapshot seat"));
    }
    let age = head & 0x1f;
    let form = r.u8("snapshot entry form")?;
    let q = if form == 0 {
        Quantized::decode(r.array::<FRAME_BYTES>("snapshot frame")?)
    } else {
        let tick16 = r.u16("delta base")?;
        let data = r.bytes(usize::from(form), "delta frame")?;
        let Some(base) = held.find(seat, tick16) else {
            held.unresolved += 1;
            return Ok((seat, age, None));
        };
        let (q, used) = decode_delta(&base, data)?;
        if used != data.len() {
            return Err(WireError::Invalid("delta frame length"));
        }
        q
    };
    held.hold(seat, q);
    Ok((seat, age, Some(q)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::PilotFrame;

    fn q(tick: u32, x: f32) -> Quantized {
        let f = PilotFrame {
            tick,
            position: [x, 2.0, -x],
            rotation: [0.0, 0.0, 0.0, 1.0],
            velocity: [1.0, 0.0, 0.0],
            ..PilotFrame::default()
        };
        Quantized::from_frame(&f, 0)
    }

    fn round_trip(entry: impl FnOnce(&mut Writer<'_>), held: &mut HeldFrames) -> Option<Quantized> {
        let mut buf = [0u8; 128];
        let mut w = Writer::new(&mut buf);
        entry(&mut w);
        let n = w.len();
        let mut r = Reader::new(&buf[..n]);
        let out = read_entry(&mut r, held).expect("entry reads").2;
        assert_eq!(r.remaining(), 0);
        out
    }

    #[test]
    fn deltas_decode_against_the_held_base_and_fall_back_to_full() {
        let mut held = HeldFrames::default();
        let (a, b) = (q(10, 1.0), q(12, 1.1));
        assert_eq!(
            round_trip(|w| write_entry(w, 3, 0, &a, None), &mut held),
            Some(a)
        );
        let mut buf = [0u8; 128];
        let mut w = Writer::new(&mut buf);
        write_entry(&mut w, 3, 0, &b, Some(&a));
        assert!(w.len() < MAX_ENTRY, "a delta is shorter than a full entry");
        assert_eq!(
            round_trip(|w| write_entry(w, 3, 0, &b, Some(&a)), &mut held),
            Some(b)
        );
        // Another seat never held that base: skipped, counted, and the
        // entry's length is still consumed.
        assert_eq!(
            round_trip(|w| write_entry(w, 4, 0, &b, Some(&a)), &mut held),
            None
        );
        assert_eq!(held.unresolved, 1);
    }

    #[test]
    fn the_base_is_the_newest_acknowledged_frame_of_the_run() {
        let mut sent = SentFrames::default();
        let mut frames = [None; MAX_PILOTS];
        for (seq, tick) in [(1u16, 10u32), (2, 12), (3, 14)] {
            frames[0] = Some(q(tick, tick as f32));
            sent.put(seq, frames);
        }
        let cur = q(16, 16.0);
        assert_eq!(sent.base(0, &cur, |s| s != 3).map(|b| b.tick()), Some(12));
        assert_eq!(sent.base(0, &cur, |_| false), None);
        assert_eq!(sent.base(1, &cur, |_| true), None);
        let other_run = Quantized::from_frame(&q(16, 0.0).to_frame().0, 1);
        assert_eq!(sent.base(0, &other_run, |_| true), None);
    }

    #[test]
    fn truncated_or_inconsistent_entries_are_errors() {
        let mut held = HeldFrames::default();
        let a = q(10, 1.0);
        held.hold(0, a);
        let mut buf = [0u8; 128];
        let mut w = Writer::new(&mut buf);
        write_entry(&mut w, 0, 1, &q(11, 1.2), Some(&a));
        let n = w.len();
        for cut in 0..n {
            let mut r = Reader::new(&buf[..cut]);
            assert!(read_entry(&mut r, &mut held).is_err(), "cut at {cut}");
        }
        // A seat byte past the room's seats.
        let mut r = Reader::new(&[7 << 5, 0]);
        assert!(read_entry(&mut r, &mut held).is_err());
    }
}
