//! Game events on the per-tick lane (PUN's unreliable view serialization):
//! each waits in a small outbox per receiver and rides in the next packet
//! that goes there, never behind a reliable resend. A newer event of the
//! same sender and slot replaces one still waiting (a view's newest state
//! is all that matters); when an outbox is full the oldest go.

use std::collections::VecDeque;

use crate::proto::room::{ActorNr, Raise, Receivers, MAX_TARGETS};
use crate::proto::wire::{Reader, SectionKind, WireError, Writer};
use crate::proto::GameEvent;

/// Largest section one event may take on this lane; a bigger event is sent
/// on the reliable lane instead, where it can be split.
pub(crate) const MAX_SECTION: usize = 1100;
/// Events and bytes an outbox holds at most.
const MAX_WAITING: usize = 64;
const MAX_WAITING_BYTES: usize = 64 * 1024;

/// Sections waiting for a packet to one receiver.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    items: VecDeque<(u64, Vec<u8>)>,
    bytes: usize,
    /// Events that went before they could be sent.
    pub(crate) dropped: u64,
}

impl Outbox {
    /// Queues a section; `key` (sender and slot, 0: none) replaces a
    /// waiting one in place, so its turn is kept.
    pub(crate) fn push(&mut self, key: u64, section: Vec<u8>) {
        if key != 0 {
            if let Some(item) = self.items.iter_mut().find(|(k, _)| *k == key) {
                self.bytes = self.bytes - item.1.len() + section.len();
                item.1 = section;
                self.dropped += 1;
                return;
            }
        }
        self.bytes += section.len();
        self.items.push_back((key, section));
        while self.items.len() > MAX_WAITING || self.bytes > MAX_WAITING_BYTES {
            match self.items.pop_front() {
                Some((_, s)) => {
                    self.bytes -= s.len();
                    self.dropped += 1;
                }
                None => break,
            }
        }
    }

    /// Writes as many waiting sections as fit, oldest first; true if any.
    pub(crate) fn write(&mut self, w: &mut Writer<'_>) -> bool {
        let mut wrote = false;
        while let Some((_, s)) = self.items.front() {
            if s.len() > w.space() {
                break;
            }
            w.bytes(s);
            if let Some((_, s)) = self.items.pop_front() {
                self.bytes -= s.len();
            }
            wrote = true;
        }
        wrote
    }

    /// True when something waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Forgets everything waiting.
    pub(crate) fn clear(&mut self) {
        self.items.clear();
        self.bytes = 0;
    }
}

/// The key an event's slot takes in an outbox.
pub(crate) fn key(from: ActorNr, slot: u32) -> u64 {
    if slot == 0 {
        0
    } else {
        u64::from(from) << 32 | u64::from(slot)
    }
}

/// A client's event as a section for the host, or `None` when it is too
/// big for this lane.
pub(crate) fn client_section(ev: &Raise) -> Option<Vec<u8>> {
    let targets = ev.targets.len();
    let len = 1 + 4 + 4 * targets + 4 + 2 + ev.payload.len();
    if len > MAX_SECTION || targets > MAX_TARGETS {
        return None;
    }
    let mut out = Vec::with_capacity(len);
    out.push(SectionKind::Unreliable as u8);
    out.push(ev.code);
    out.push(ev.receivers as u8);
    out.push(ev.group);
    out.push(targets as u8);
    for t in &ev.targets {
        out.extend_from_slice(&t.to_be_bytes());
    }
    out.extend_from_slice(&ev.slot.to_be_bytes());
    out.extend_from_slice(&(ev.payload.len() as u16).to_be_bytes());
    out.extend_from_slice(&ev.payload);
    Some(out)
}

/// Reads a client's section (tag consumed).
pub(crate) fn read_client(r: &mut Reader<'_>) -> Result<Raise, WireError> {
    let code = r.u8("unreliable event code")?;
    let receivers = Receivers::from_u8(r.u8("unreliable event receivers")?)?;
    let group = r.u8("unreliable event group")?;
    let n = usize::from(r.u8("unreliable event target count")?);
    if n > MAX_TARGETS {
        return Err(WireError::Invalid("too many event targets"));
    }
    let mut targets = Vec::with_capacity(n);
    for _ in 0..n {
        targets.push(r.u32("unreliable event target")?);
    }
    let slot = r.u32("unreliable event slot")?;
    let len = usize::from(r.u16("unreliable event length")?);
    let payload = r.bytes(len, "unreliable event payload")?.to_vec();
    Ok(Raise {
        code,
        receivers,
        targets,
        group,
        slot,
        payload,
        reliable: false,
        ..Raise::default()
    })
}

/// An event as a section for one receiver, or `None` when too big.
pub(crate) fn host_section(from: ActorNr, code: u8, payload: &[u8]) -> Option<Vec<u8>> {
    let len = 1 + 4 + 1 + 2 + payload.len();
    if len > MAX_SECTION {
        return None;
    }
    let mut out = Vec::with_capacity(len);
    out.push(SectionKind::Unreliable as u8);
    out.extend_from_slice(&from.to_be_bytes());
    out.push(code);
    out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    out.extend_from_slice(payload);
    Some(out)
}

/// Reads the host's section (tag consumed).
pub(crate) fn read_host(r: &mut Reader<'_>) -> Result<GameEvent, WireError> {
    let from = r.u32("unreliable event sender")?;
    let code = r.u8("unreliable event code")?;
    let len = usize::from(r.u16("unreliable event length")?);
    let payload = r.bytes(len, "unreliable event payload")?.to_vec();
    Ok(GameEvent {
        from,
        code,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_keeps_only_its_newest_and_its_place() {
        let mut o = Outbox::default();
        o.push(key(2, 7), vec![1]);
        o.push(key(3, 7), vec![2]);
        o.push(key(2, 7), vec![3]);
        o.push(0, vec![4]);
        o.push(0, vec![4]);
        let mut buf = [0u8; 16];
        let mut w = Writer::new(&mut buf);
        assert!(o.write(&mut w));
        assert_eq!(&buf[..4], [3, 2, 4, 4], "replaced in place, unslotted kept");
        assert_eq!(o.dropped, 1);
        assert!(o.is_empty());
    }

    #[test]
    fn an_outbox_stays_bounded_and_waits_for_room() {
        let mut o = Outbox::default();
        for i in 0..(MAX_WAITING as u32 + 10) {
            o.push(0, vec![i as u8; 10]);
        }
        assert_eq!(o.items.len(), MAX_WAITING);
        assert_eq!(o.dropped, 10);
        let mut buf = [0u8; 25];
        let mut w = Writer::new(&mut buf);
        assert!(o.write(&mut w));
        assert_eq!(w.len(), 20, "two fit, the third waits");
        assert_eq!(o.items.len(), MAX_WAITING - 2);
    }

    #[test]
    fn sections_round_trip_and_big_events_are_left_to_the_reliable_lane() {
        let ev = Raise {
            code: 201,
            receivers: Receivers::All,
            targets: vec![4],
            group: 2,
            slot: 99,
            payload: vec![9; 40],
            ..Raise::default()
        };
        let s = client_section(&ev).unwrap();
        let mut r = Reader::new(&s[1..]);
        assert_eq!(read_client(&mut r).unwrap(), ev);
        assert_eq!(r.remaining(), 0);
        let h = host_section(70_000, 201, &ev.payload).unwrap();
        let got = read_host(&mut Reader::new(&h[1..])).unwrap();
        assert_eq!((got.from, got.code, got.payload), (70_000, 201, ev.payload));
        let big = Raise {
            payload: vec![0; MAX_SECTION],
            ..Raise::default()
        };
        assert!(client_section(&big).is_none());
        assert!(host_section(1, 1, &big.payload).is_none());
        assert!(read_client(&mut Reader::new(&s[1..s.len() - 1])).is_err());
    }
}
