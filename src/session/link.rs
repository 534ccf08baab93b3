//! One peer-to-peer link: a sequence number and an ack window on every data
//! packet, reliable messages split into fragments and resent on a
//! round-trip-based timer, and in-order exactly-once delivery on receipt.
//!
//! This is where laminar's holes are covered: acks ride on every packet we
//! send (not only reliable ones), loss is repaired by a timer rather than
//! waiting 32 packets, and duplicated or misordered fragments are reassembled
//! and ordered here, so laminar only ever carries unreliable datagrams.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::proto::wire::{
    seq_newer, DataHeader, Reader, SectionKind, WireError, Writer, FRAGMENT_HEADER,
};

/// Bytes of message data in one fragment.
pub(crate) const FRAGMENT_DATA: usize = 1024;
/// Most fragments one message may have (32 KiB).
pub(crate) const MAX_FRAGMENTS: usize = 32;
/// Largest reliable message.
pub(crate) const MAX_MESSAGE: usize = FRAGMENT_DATA * MAX_FRAGMENTS;
/// Messages the receiver accepts ahead of the next one it will deliver.
const RECEIVE_WINDOW: u32 = 1024;
/// Messages the sender puts on the wire ahead of the oldest unacknowledged one.
const SEND_WINDOW: u32 = 256;
/// Bytes of partly received messages a peer may make us hold.
const MAX_PARTIAL_BYTES: usize = 512 * 1024;
/// Bytes sent and not yet acknowledged, at most; below the receiver's
/// partial-message cap, so an honest sender never overruns it.
const MAX_INFLIGHT_BYTES: usize = 256 * 1024;
/// Bytes queued for a peer before the link is declared broken.
pub(crate) const MAX_QUEUED_BYTES: usize = 4 * 1024 * 1024;
const SENT_RING: usize = 1024;
/// An ack goes out at the latest this long after the reliable data it acks.
const ACK_DELAY: Duration = Duration::from_millis(5);
/// ... or as soon as this many fragments wait for it.
const ACK_EVERY_FRAGMENTS: u32 = 8;
/// Saved ack windows kept at most.
const ACK_BACKLOG: usize = 64;
const MIN_RTO: Duration = Duration::from_millis(25);
const MAX_RTO: Duration = Duration::from_millis(1000);
const INITIAL_RTO: Duration = Duration::from_millis(200);

/// Counters a peer's link keeps; readable as statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// Data packets sent.
    pub packets_sent: u64,
    /// Data packets received (duplicates excluded).
    pub packets_received: u64,
    /// Sent packets the peer acknowledged.
    pub packets_acked: u64,
    /// Sent packets that fell out of the ack window unacknowledged.
    pub packets_lost: u64,
    /// Packets that arrived twice.
    pub duplicates: u64,
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
    /// Reliable fragments sent again after their timer ran out.
    pub fragments_resent: u64,
}

/// The two reliable streams of a link. Each has its own message numbers,
/// window and ordering, so a lost track chunk never holds back a race event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lane {
    /// Control messages and game events: always sent first.
    Control = 0,
    /// Bulk data (track transfer): fills what room is left, within a budget.
    Bulk = 1,
}

impl Lane {
    fn section(self) -> SectionKind {
        match self {
            Lane::Control => SectionKind::Fragment,
            Lane::Bulk => SectionKind::BulkFragment,
        }
    }
}

struct SentPacket {
    seq: u16,
    valid: bool,
    acked: bool,
    sent_at: Instant,
    /// (lane, message id, fragment index) carried by this packet.
    fragments: Vec<(Lane, u32, u8)>,
}

/// What the receiver may have to hold of our messages: each message from
/// the oldest not yet acknowledged on reserves its whole size in the
/// receiver's reassembly buffer until delivered. A fragment the receiver
/// has no room for is dropped there, yet its packet is acknowledged, so it
/// would never be sent again: a first send therefore waits until its
/// message fits within the receiver's [`MAX_PARTIAL_BYTES`] (the oldest
/// message always fits; the receiver always admits it).
struct ReceiverRoom {
    front: Option<u32>,
    msg: Option<u32>,
    reserved: usize,
}

impl ReceiverRoom {
    fn new(front: Option<&OutFragment>) -> Self {
        ReceiverRoom {
            front: front.map(|f| f.msg),
            msg: None,
            reserved: 0,
        }
    }

    /// Called for each fragment in order: true when its message fits.
    fn fits(&mut self, f: &OutFragment) -> bool {
        if self.msg != Some(f.msg) {
            self.msg = Some(f.msg);
            self.reserved += usize::from(f.count) * FRAGMENT_DATA;
        }
        self.front == Some(f.msg) || self.reserved <= MAX_PARTIAL_BYTES
    }
}

struct OutFragment {
    msg: u32,
    index: u8,
    count: u8,
    data: Vec<u8>,
    last_sent: Option<Instant>,
    acked: bool,
}

impl OutFragment {
    fn key(&self) -> u64 {
        (u64::from(self.msg) << 8) | u64::from(self.index)
    }
}

struct Partial {
    count: u8,
    have: u32,
    len: usize,
    data: Vec<u8>,
}

/// One ordered, exactly-once message stream.
#[derive(Default)]
struct Stream {
    next_msg: u32,
    outgoing: VecDeque<OutFragment>,
    queued_bytes: usize,
    inflight_bytes: usize,
    next_deliver: u32,
    partial: BTreeMap<u32, Partial>,
    partial_bytes: usize,
    ready: VecDeque<Vec<u8>>,
}

impl Stream {
    fn send(&mut self, msg: &[u8]) -> Result<(), LinkError> {
        if msg.len() > MAX_MESSAGE {
            return Err(LinkError::MessageTooLarge(msg.len()));
        }
        if self.queued_bytes + msg.len() > MAX_QUEUED_BYTES {
            return Err(LinkError::Backlogged);
        }
        let id = self.next_msg;
        self.next_msg = self.next_msg.wrapping_add(1);
        let count = msg.len().div_ceil(FRAGMENT_DATA).max(1);
        for i in 0..count {
            let start = i * FRAGMENT_DATA;
            let end = (start + FRAGMENT_DATA).min(msg.len());
            self.outgoing.push_back(OutFragment {
                msg: id,
                index: i as u8,
                count: count as u8,
                data: msg[start..end].to_vec(),
                last_sent: None,
                acked: false,
            });
        }
        self.queued_bytes += msg.len();
        Ok(())
    }

    fn window_end(&self) -> u32 {
        let oldest = self.outgoing.front().map_or(self.next_msg, |f| f.msg);
        oldest.wrapping_add(SEND_WINDOW)
    }

    /// The earliest instant a fragment is due: `Some(past)` for one never
    /// sent that the caps allow now, else its resend time.
    fn due_at(&self, rto: Duration, now_hint: Instant) -> Option<Instant> {
        let end = self.window_end();
        let mut first_new = true;
        let mut earliest: Option<Instant> = None;
        let mut room = ReceiverRoom::new(self.outgoing.front());
        for f in self
            .outgoing
            .iter()
            .take_while(|f| f.msg.wrapping_sub(end) >= 0x8000_0000)
        {
            let fits = room.fits(f);
            match f.last_sent {
                None => {
                    if first_new && fits && self.inflight_bytes + f.data.len() <= MAX_INFLIGHT_BYTES
                    {
                        return Some(now_hint);
                    }
                    first_new = false;
                }
                Some(t) if !f.acked => {
                    let due = t + rto;
                    earliest = Some(earliest.map_or(due, |e| e.min(due)));
                }
                Some(_) => {}
            }
        }
        earliest
    }

    /// Writes due fragments while they fit and `budget` data bytes last,
    /// noting each in `sent`; returns (fragments written, of which resends).
    fn write(
        &mut self,
        lane: Lane,
        now: Instant,
        rto: Duration,
        w: &mut Writer<'_>,
        budget: &mut usize,
        sent: &mut Vec<(Lane, u32, u8)>,
    ) -> (usize, u64) {
        let end = self.window_end();
        let mut written = 0;
        let mut resent = 0;
        let mut room = ReceiverRoom::new(self.outgoing.front());
        for f in self.outgoing.iter_mut() {
            if f.msg.wrapping_sub(end) < 0x8000_0000 {
                break;
            }
            let fits = room.fits(f);
            let due = !f.acked
                && f.last_sent
                    .is_none_or(|t| now.saturating_duration_since(t) >= rto);
            if !due {
                continue;
            }
            if w.space() < FRAGMENT_HEADER + f.data.len() || *budget < f.data.len() {
                break;
            }
            if f.last_sent.is_none() {
                if !fits || self.inflight_bytes + f.data.len() > MAX_INFLIGHT_BYTES {
                    break;
                }
                self.inflight_bytes += f.data.len();
            } else {
                resent += 1;
            }
            w.u8(lane.section() as u8);
            w.u32(f.msg);
            w.u8(f.index);
            w.u8(f.count);
            w.u16(f.data.len() as u16);
            w.bytes(&f.data);
            *budget -= f.data.len();
            f.last_sent = Some(now);
            sent.push((lane, f.msg, f.index));
            written += 1;
        }
        (written, resent)
    }

    fn acked(&mut self, msg: u32, index: u8) {
        let key = (u64::from(msg) << 8) | u64::from(index);
        if let Ok(i) = self.outgoing.binary_search_by_key(&key, OutFragment::key) {
            let f = &mut self.outgoing[i];
            if !f.acked {
                f.acked = true;
                self.inflight_bytes = self.inflight_bytes.saturating_sub(f.data.len());
            }
        }
        while let Some(f) = self.outgoing.front() {
            if !f.acked {
                break;
            }
            self.queued_bytes = self.queued_bytes.saturating_sub(f.data.len());
            self.outgoing.pop_front();
        }
    }

    fn receive(&mut self, r: &mut Reader<'_>) -> Result<(), WireError> {
        let msg = r.u32("fragment message id")?;
        let index = r.u8("fragment index")?;
        let count = r.u8("fragment count")?;
        let len = r.u16("fragment length")? as usize;
        let data = r.bytes(len, "fragment data")?;
        if count == 0 || count as usize > MAX_FRAGMENTS || index >= count || len > FRAGMENT_DATA {
            return Err(WireError::Invalid("fragment header"));
        }
        if (index + 1 < count && len != FRAGMENT_DATA)
            || (index + 1 == count && len == 0 && count > 1)
        {
            return Err(WireError::Invalid("fragment length"));
        }
        let ahead = msg.wrapping_sub(self.next_deliver);
        if ahead >= 0x8000_0000 {
            // Already delivered: a duplicate or a late resend.
            return Ok(());
        }
        if ahead >= RECEIVE_WINDOW {
            return Err(WireError::Invalid("fragment message id beyond the window"));
        }
        if !self.partial.contains_key(&msg) {
            let size = count as usize * FRAGMENT_DATA;
            // The message delivered next is always admitted, so a full buffer
            // of later messages can never block delivery; others wait for room
            // and are resent by an honest sender.
            if msg != self.next_deliver && self.partial_bytes + size > MAX_PARTIAL_BYTES {
                return Ok(());
            }
            self.partial_bytes += size;
            self.partial.insert(
                msg,
                Partial {
                    count,
                    have: 0,
                    len: 0,
                    data: vec![0; size],
                },
            );
        }
        let Some(p) = self.partial.get_mut(&msg) else {
            return Ok(());
        };
        if p.count != count {
            return Err(WireError::Invalid("fragment count changed"));
        }
        if p.have & (1 << index) == 0 {
            let start = index as usize * FRAGMENT_DATA;
            p.data[start..start + len].copy_from_slice(data);
            p.have |= 1 << index;
            if index + 1 == count {
                p.len = start + len;
            }
        }
        self.deliver_ready();
        Ok(())
    }

    fn deliver_ready(&mut self) {
        while let Some(p) = self.partial.get(&self.next_deliver) {
            let full = if p.count as usize == 32 {
                u32::MAX
            } else {
                (1u32 << p.count) - 1
            };
            if p.have != full {
                break;
            }
            if let Some(mut p) = self.partial.remove(&self.next_deliver) {
                self.partial_bytes -= p.data.len();
                p.data.truncate(p.len);
                self.ready.push_back(p.data);
            }
            self.next_deliver = self.next_deliver.wrapping_add(1);
        }
    }
}

/// The reliable and acknowledgement state of one link.
pub(crate) struct Link {
    next_seq: u16,
    sent: Vec<SentPacket>,
    loss_cursor: u16,
    recv_latest: Option<u16>,
    recv_bits: u32,
    /// Fragments received since we last sent anything, and when the first
    /// of them came: acks go out after 8 fragments or 5 ms, whichever first.
    ack_owed: u32,
    ack_owed_since: Instant,
    /// The oldest packet received since we last reported our current acks.
    unreported_oldest: Option<u16>,
    /// Ack windows saved before a burst pushed unreported packets out of the
    /// 32-packet window; each rides out in its own header.
    ack_backlog: VecDeque<(u16, u32)>,
    /// The packet being built carries the current window (not a saved one).
    header_is_current: bool,
    streams: [Stream; 2],
    srtt: Option<Duration>,
    rttvar: Duration,
    pub(crate) last_heard: Instant,
    pub(crate) last_sent: Instant,
    pub(crate) counters: LinkCounters,
}

impl Link {
    pub(crate) fn new(now: Instant) -> Self {
        let sent = (0..SENT_RING)
            .map(|_| SentPacket {
                seq: 0,
                valid: false,
                acked: false,
                sent_at: now,
                fragments: Vec::new(),
            })
            .collect();
        Link {
            // Sequence numbers skip 0: an ack of 0 means "nothing received
            // yet", so a fresh link never acknowledges a packet it never got.
            next_seq: 1,
            sent,
            loss_cursor: 0,
            recv_latest: None,
            recv_bits: 0,
            ack_owed: 0,
            ack_owed_since: now,
            unreported_oldest: None,
            ack_backlog: VecDeque::new(),
            header_is_current: true,
            streams: Default::default(),
            srtt: None,
            rttvar: Duration::ZERO,
            last_heard: now,
            last_sent: now,
            counters: LinkCounters::default(),
        }
    }

    /// Queues a reliable control message (see [`Link::send_on`]).
    pub(crate) fn send_message(&mut self, msg: &[u8]) -> Result<(), LinkError> {
        self.send_on(Lane::Control, msg)
    }

    /// Queues a reliable message on a lane. Fails when it is too large or the
    /// peer is so far behind that [`MAX_QUEUED_BYTES`] would be exceeded.
    pub(crate) fn send_on(&mut self, lane: Lane, msg: &[u8]) -> Result<(), LinkError> {
        self.streams[lane as usize].send(msg)
    }

    fn rto(&self) -> Duration {
        match self.srtt {
            None => INITIAL_RTO,
            Some(s) => (s + self.rttvar * 4).clamp(MIN_RTO, MAX_RTO),
        }
    }

    /// When the earliest control fragment will need resending.
    pub(crate) fn next_resend(&self) -> Option<Instant> {
        self.streams[0].due_at(self.rto(), self.last_sent)
    }

    /// True when an ack for reliable data should go out now.
    pub(crate) fn ack_due(&self, now: Instant) -> bool {
        self.ack_due_at().is_some_and(|t| t <= now)
    }

    /// When an owed ack falls due.
    pub(crate) fn ack_due_at(&self) -> Option<Instant> {
        if !self.ack_backlog.is_empty() {
            return Some(self.last_sent);
        }
        match self.ack_owed {
            0 => None,
            n if n >= ACK_EVERY_FRAGMENTS => Some(self.ack_owed_since),
            _ => Some(self.ack_owed_since + ACK_DELAY),
        }
    }

    /// Bytes queued on a lane and not yet acknowledged.
    pub(crate) fn queued_bytes(&self, lane: Lane) -> usize {
        self.streams[lane as usize].queued_bytes
    }

    /// When bulk data is next due (`now_hint` if some could go now).
    pub(crate) fn bulk_due_at(&self, now_hint: Instant) -> Option<Instant> {
        self.streams[1].due_at(self.rto(), now_hint)
    }

    /// True when control messages are still waiting for acknowledgement.
    pub(crate) fn has_unacked(&self) -> bool {
        !self.streams[0].outgoing.is_empty()
    }

    /// Starts a data packet: writes the header with our current acks.
    /// The sequence number the next packet begun will carry.
    pub(crate) fn next_seq(&self) -> u16 {
        self.next_seq
    }

    /// True once the peer acknowledged our packet `seq` (while it is still
    /// among the last packets remembered).
    pub(crate) fn is_acked(&self, seq: u16) -> bool {
        let e = &self.sent[seq as usize % SENT_RING];
        e.valid && e.seq == seq && e.acked
    }

    pub(crate) fn begin_packet(&mut self, w: &mut Writer<'_>) -> u16 {
        let seq = self.next_seq;
        let (ack, ack_bits) = match self.ack_backlog.front() {
            Some(&saved) => {
                self.header_is_current = false;
                saved
            }
            None => {
                self.header_is_current = true;
                (self.recv_latest.unwrap_or(0), self.recv_bits)
            }
        };
        DataHeader { seq, ack, ack_bits }.write(w);
        seq
    }

    /// Appends due control fragments that fit, then bulk fragments within
    /// `bulk_budget` data bytes (reduced by what was written); returns how
    /// many fragments were written.
    pub(crate) fn write_fragments(
        &mut self,
        now: Instant,
        seq: u16,
        w: &mut Writer<'_>,
        bulk_budget: &mut usize,
    ) -> usize {
        let rto = self.rto();
        let slot = seq as usize % SENT_RING;
        let mut sent = std::mem::take(&mut self.sent[slot].fragments);
        sent.clear();
        let mut unlimited = usize::MAX;
        let (control, resent_control) =
            self.streams[0].write(Lane::Control, now, rto, w, &mut unlimited, &mut sent);
        let (bulk, resent_bulk) =
            self.streams[1].write(Lane::Bulk, now, rto, w, bulk_budget, &mut sent);
        self.counters.fragments_resent += resent_control + resent_bulk;
        let n = control + bulk;
        self.sent[slot].fragments = sent;
        n
    }

    /// Records that the packet begun with `seq` went out with `len` bytes.
    pub(crate) fn finish_packet(
        &mut self,
        now: Instant,
        seq: u16,
        len: usize,
        has_fragments: bool,
    ) {
        let slot = seq as usize % SENT_RING;
        let entry = &mut self.sent[slot];
        entry.seq = seq;
        entry.valid = true;
        entry.acked = false;
        entry.sent_at = now;
        if !has_fragments {
            entry.fragments.clear();
        }
        self.next_seq = match seq.wrapping_add(1) {
            0 => 1,
            n => n,
        };
        if self.header_is_current {
            self.ack_owed = 0;
            self.unreported_oldest = None;
        } else {
            self.ack_backlog.pop_front();
        }
        self.last_sent = now;
        self.counters.packets_sent += 1;
        self.counters.bytes_sent += len as u64;
    }

    /// Takes a received packet's header. Returns false for a duplicate, whose
    /// body the caller must ignore.
    pub(crate) fn on_header(&mut self, now: Instant, h: &DataHeader, len: usize) -> bool {
        // Receive side: record the sequence number.
        match self.recv_latest {
            None => {
                self.recv_latest = Some(h.seq);
                self.recv_bits = 0;
            }
            Some(latest) if seq_newer(h.seq, latest) => {
                // A burst must not push packets we never reported out of the
                // window: save the window as it is, to be sent on its own.
                if let Some(oldest) = self.unreported_oldest {
                    if seq_newer(h.seq.wrapping_sub(32), oldest) {
                        if self.ack_backlog.len() == ACK_BACKLOG {
                            self.ack_backlog.pop_front();
                        }
                        self.ack_backlog.push_back((latest, self.recv_bits));
                        self.unreported_oldest = None;
                    }
                }
                let shift = h.seq.wrapping_sub(latest) as u32;
                self.recv_bits = if shift > 32 {
                    0
                } else {
                    // The old latest becomes bit shift-1.
                    ((self.recv_bits as u64) << shift | 1u64 << (shift - 1)) as u32
                };
                self.recv_latest = Some(h.seq);
            }
            Some(latest) => {
                let back = latest.wrapping_sub(h.seq) as u32;
                if back == 0 || (back <= 32 && self.recv_bits & (1 << (back - 1)) != 0) {
                    self.counters.duplicates += 1;
                    return false;
                }
                if back <= 32 {
                    self.recv_bits |= 1 << (back - 1);
                }
            }
        }
        match self.unreported_oldest {
            Some(o) if !seq_newer(o, h.seq) => {}
            _ => self.unreported_oldest = Some(h.seq),
        }
        self.last_heard = now;
        self.counters.packets_received += 1;
        self.counters.bytes_received += len as u64;
        // Send side: what the peer acknowledges.
        self.on_ack(now, h.ack, h.ack_bits);
        true
    }

    fn on_ack(&mut self, now: Instant, ack: u16, bits: u32) {
        if ack == 0 {
            // The peer has not received anything from us yet.
            return;
        }
        if !seq_newer(self.next_seq, ack) {
            // Acks for packets we never sent: ignore (a confused or hostile peer).
            return;
        }
        let mut newest_sample = None;
        for i in 0..=32u32 {
            let seq = if i == 0 {
                ack
            } else if bits & (1 << (i - 1)) != 0 {
                ack.wrapping_sub(i as u16)
            } else {
                continue;
            };
            let slot = seq as usize % SENT_RING;
            let entry = &mut self.sent[slot];
            if !entry.valid || entry.seq != seq || entry.acked {
                continue;
            }
            entry.acked = true;
            self.counters.packets_acked += 1;
            if i == 0 || newest_sample.is_none() {
                newest_sample = Some(now.saturating_duration_since(entry.sent_at));
            }
            for &(lane, msg, index) in &entry.fragments {
                self.streams[lane as usize].acked(msg, index);
            }
        }
        if let Some(sample) = newest_sample {
            self.rtt_sample(sample);
        }
        // Packets more than 32 behind the newest ack can no longer be acked.
        let horizon = ack.wrapping_sub(32);
        while seq_newer(horizon, self.loss_cursor) {
            let slot = self.loss_cursor as usize % SENT_RING;
            let entry = &mut self.sent[slot];
            if entry.valid && entry.seq == self.loss_cursor {
                if !entry.acked {
                    self.counters.packets_lost += 1;
                }
                entry.valid = false;
            }
            self.loss_cursor = self.loss_cursor.wrapping_add(1);
        }
    }

    fn rtt_sample(&mut self, sample: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(sample);
                self.rttvar = sample / 2;
            }
            Some(s) => {
                let diff = s.abs_diff(sample);
                self.rttvar = (self.rttvar * 3 + diff) / 4;
                self.srtt = Some((s * 7 + sample) / 8);
            }
        }
    }

    /// Reads one fragment section of `lane` (its tag already consumed).
    pub(crate) fn on_fragment(
        &mut self,
        now: Instant,
        lane: Lane,
        r: &mut Reader<'_>,
    ) -> Result<(), WireError> {
        if self.ack_owed == 0 {
            self.ack_owed_since = now;
        }
        self.ack_owed += 1;
        self.streams[lane as usize].receive(r)
    }

    /// The next message received on `lane`, in order, exactly once.
    pub(crate) fn poll_message(&mut self, lane: Lane) -> Option<Vec<u8>> {
        self.streams[lane as usize].ready.pop_front()
    }
}

/// Why a reliable message could not be queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkError {
    /// The message exceeds the largest reliable message.
    MessageTooLarge(usize),
    /// The peer has not acknowledged enough of what was queued before.
    Backlogged,
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::MessageTooLarge(n) => {
                write!(
                    f,
                    "message of {n} bytes exceeds the {MAX_MESSAGE}-byte limit"
                )
            }
            LinkError::Backlogged => write!(f, "peer is too far behind acknowledging messages"),
        }
    }
}

impl std::error::Error for LinkError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::wire::{section_kind, PacketKind};
    use crate::util::SplitMix64;

    fn packet(link: &mut Link, now: Instant) -> Option<Vec<u8>> {
        let mut buf = [0u8; 1195];
        let mut w = Writer::new(&mut buf);
        let seq = link.begin_packet(&mut w);
        let n = link.write_fragments(now, seq, &mut w, &mut usize::MAX.clone());
        if n == 0 && !link.ack_due(now) {
            return None;
        }
        let len = w.len();
        link.finish_packet(now, seq, len, n > 0);
        Some(buf[..len].to_vec())
    }

    fn receive(link: &mut Link, now: Instant, data: &[u8]) {
        let mut r = Reader::new(data);
        assert_eq!(r.u8("kind").unwrap(), PacketKind::Data as u8);
        let h = DataHeader::read(&mut r).unwrap();
        if !link.on_header(now, &h, data.len()) {
            return;
        }
        while r.remaining() > 0 {
            let lane = match section_kind(r.u8("section").unwrap()).unwrap() {
                SectionKind::Fragment => Lane::Control,
                SectionKind::BulkFragment => Lane::Bulk,
                other => panic!("unexpected section {other:?}"),
            };
            link.on_fragment(now, lane, &mut r).unwrap();
        }
    }

    /// The receiver drops a fragment it has no room for, yet acknowledges
    /// its packet; so a sender that outran the receiver's buffer lost
    /// messages for good (seen on real sockets under load). Whatever the
    /// receiver misses, it never has to drop a fragment of ours, and every
    /// message arrives.
    #[test]
    fn the_sender_never_outruns_the_receivers_reassembly_room() {
        let t0 = Instant::now();
        let (mut a, mut b) = (Link::new(t0), Link::new(t0));
        let big = vec![7u8; MAX_MESSAGE];
        let count = 3 * MAX_PARTIAL_BYTES / MAX_MESSAGE;
        for _ in 0..count {
            a.send_message(&big).unwrap();
        }
        let mut now = t0;
        let mut delivered = 0;
        for round in 0..2000 {
            now += Duration::from_millis(5);
            while let Some(p) = packet(&mut a, now) {
                // The oldest message's fragments are lost for the first
                // rounds, so everything after it must wait in b's buffer.
                let after = p.get(crate::proto::wire::DATA_HEADER + 1..).unwrap_or(&[]);
                let first = Reader::new(after).u32("msg").unwrap_or(1);
                if round < 50 && first == 0 {
                    continue;
                }
                receive(&mut b, now, &p);
                assert!(b.streams[0].partial_bytes <= MAX_PARTIAL_BYTES);
            }
            while let Some(p) = packet(&mut b, now) {
                receive(&mut a, now, &p);
            }
            while b.poll_message(Lane::Control).is_some() {
                delivered += 1;
            }
            if delivered == count {
                break;
            }
        }
        assert_eq!(delivered, count, "messages lost for good");
    }

    /// Two links over a lossy, duplicating, reordering pipe: every message
    /// arrives once, in order, intact.
    #[test]
    fn messages_survive_loss_duplication_and_reordering() {
        let t0 = Instant::now();
        let (mut a, mut b) = (Link::new(t0), Link::new(t0));
        let mut rng = SplitMix64(11);
        let msgs: Vec<Vec<u8>> = (0..200u32)
            .map(|i| {
                let len = (i as usize * 997) % 20_000;
                (0..len).map(|j| (i as usize + j) as u8).collect()
            })
            .collect();
        for m in &msgs {
            a.send_message(m).unwrap();
        }
        let mut in_flight: Vec<(Instant, bool, Vec<u8>)> = Vec::new();
        let mut got = Vec::new();
        let mut now = t0;
        for _ in 0..20_000 {
            now += Duration::from_millis(2);
            while let Some(p) = packet(&mut a, now) {
                if !rng.chance(0.1) {
                    let delay = Duration::from_millis(20 + rng.next_u64() % 40);
                    in_flight.push((now + delay, true, p.clone()));
                    if rng.chance(0.1) {
                        in_flight.push((now + delay * 2, true, p));
                    }
                }
            }
            while let Some(p) = packet(&mut b, now) {
                if !rng.chance(0.1) {
                    in_flight.push((now + Duration::from_millis(30), false, p));
                }
            }
            let (due, later): (Vec<_>, Vec<_>) =
                in_flight.drain(..).partition(|(t, _, _)| *t <= now);
            in_flight = later;
            for (_, to_b, p) in due {
                if to_b {
                    receive(&mut b, now, &p);
                } else {
                    receive(&mut a, now, &p);
                }
            }
            while let Some(m) = b.poll_message(Lane::Control) {
                got.push(m);
            }
            if got.len() == msgs.len() && !a.has_unacked() {
                break;
            }
        }
        assert_eq!(got.len(), msgs.len());
        assert!(got == msgs, "messages arrived altered or out of order");
        assert!(!a.has_unacked(), "sender still waits for acks");
        assert!(a.counters.fragments_resent > 0);
        assert!(b.counters.duplicates > 0);
    }

    #[test]
    fn hostile_fragments_are_refused_without_holding_memory() {
        let t0 = Instant::now();
        let mut l = Link::new(t0);
        let frag = |msg: u32, index: u8, count: u8, len: u16| {
            let mut v = Vec::new();
            v.extend_from_slice(&msg.to_be_bytes());
            v.extend_from_slice(&[index, count]);
            v.extend_from_slice(&len.to_be_bytes());
            v.extend(std::iter::repeat_n(7u8, len as usize));
            v
        };
        let bad = [
            frag(0, 0, 0, 1),
            frag(0, 5, 2, 1),
            frag(0, 0, 33, 1024),
            frag(0, 0, 2, 10),
            frag(5000, 0, 1, 1),
        ];
        for f in &bad {
            assert!(l
                .on_fragment(t0, Lane::Control, &mut Reader::new(f))
                .is_err());
        }
        assert_eq!(
            l.on_fragment(t0, Lane::Control, &mut Reader::new(&f_trunc())),
            Err(WireError::Truncated("fragment data"))
        );
        // Many half-finished messages cannot pin more than the cap.
        for m in 1..1000u32 {
            let _ = l.on_fragment(t0, Lane::Control, &mut Reader::new(&frag(m, 0, 32, 1024)));
        }
        assert!(l.streams[0].partial_bytes <= MAX_PARTIAL_BYTES);
        assert_eq!(
            l.send_message(&vec![0; MAX_MESSAGE + 1]),
            Err(LinkError::MessageTooLarge(MAX_MESSAGE + 1))
        );

        fn f_trunc() -> Vec<u8> {
            vec![0, 0, 0, 0, 0, 1, 0, 9, 1]
        }
    }

    /// A link that has received nothing must not acknowledge anything: if
    /// our first packet is lost, its message is still resent.
    #[test]
    fn a_fresh_link_acknowledges_nothing() {
        let t0 = Instant::now();
        let (mut a, mut b) = (Link::new(t0), Link::new(t0));
        a.send_message(b"first").unwrap();
        let lost = packet(&mut a, t0).expect("a sends its message");
        drop(lost);
        // b has heard nothing but sends something of its own.
        b.send_message(b"hello").unwrap();
        let from_b = packet(&mut b, t0).expect("b sends");
        receive(&mut a, t0, &from_b);
        assert!(
            a.has_unacked(),
            "a fresh peer's header acknowledged a lost packet"
        );
        // After the timer, the message goes again and arrives.
        let later = t0 + Duration::from_millis(300);
        let again = packet(&mut a, later).expect("resent");
        receive(&mut b, later, &again);
        assert_eq!(
            b.poll_message(Lane::Control).as_deref(),
            Some(&b"first"[..])
        );
    }
}
