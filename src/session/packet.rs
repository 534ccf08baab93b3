//! Building and reading data packets, shared by host and client: the ack
//! header, whatever per-tick section the owner adds, pings and pongs, and
//! reliable fragments to fill the rest; sealed on the way out and opened
//! on the way in (see [`super::seal`]).

use std::time::Instant;

use super::clock::Pinger;
use super::link::{Lane, Link};
use super::seal::{Seal, SEAL_OVERHEAD};
use crate::proto::wire::{
    packet_kind, section_kind, DataHeader, PacketKind, Reader, SectionKind, WireError, Writer,
    MAX_PAYLOAD,
};

/// Builds one data packet into `buf` if anything is due (or `force`).
/// `extra` writes the owner's per-tick sections and says whether it wrote
/// any; bulk fragments may use up to `bulk_budget` bytes (reduced by what
/// they took). The packet is sealed with `seal`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn build(
    link: &mut Link,
    pinger: &mut Pinger,
    seal: &mut Seal,
    now: Instant,
    buf: &mut [u8],
    force: bool,
    bulk_budget: &mut usize,
    extra: impl FnOnce(&mut Writer<'_>) -> bool,
) -> Option<usize> {
    let cap = buf.len().min(MAX_PAYLOAD);
    if cap <= SEAL_OVERHEAD || !seal.can_send() {
        return None;
    }
    let mut w = Writer::new(&mut buf[..cap - SEAL_OVERHEAD]);
    let seq = link.begin_packet(&mut w);
    let mut wrote = extra(&mut w);
    if pinger.due(now) {
        let before = w.len();
        pinger.write(now, &mut w);
        wrote |= w.len() > before;
    }
    let fragments = link.write_fragments(now, seq, &mut w, bulk_budget);
    if !wrote && fragments == 0 && !link.ack_due(now) && !force {
        return None;
    }
    let len = w.len();
    link.finish_packet(now, seq, len + SEAL_OVERHEAD, fragments > 0);
    seal.seal(&mut buf[..cap], len)
}

/// Opens a sealed data packet and reads it: header and acks, pings, pongs
/// and fragments; every other section goes to `other`. Returns false for
/// a duplicate packet; a packet that does not open is an error
/// ([`WireError::Unsealed`]) and nothing of it is read.
pub(crate) fn read(
    link: &mut Link,
    pinger: &mut Pinger,
    seal: &mut Seal,
    now: Instant,
    sealed: &[u8],
    mut other: impl FnMut(SectionKind, &mut Reader<'_>) -> Result<(), WireError>,
) -> Result<bool, WireError> {
    if packet_kind(sealed)? != PacketKind::Data {
        return Err(WireError::Invalid("packet kind for a seated peer"));
    }
    let mut plain = [0u8; MAX_PAYLOAD];
    let data = seal.open(sealed, &mut plain)?;
    let mut r = Reader::new(&data[1..]);
    let header = DataHeader::read(&mut r)?;
    if !link.on_header(now, &header, sealed.len()) {
        return Ok(false);
    }
    while r.remaining() > 0 {
        let kind = section_kind(r.u8("section kind")?)?;
        match kind {
            SectionKind::Fragment => link.on_fragment(now, Lane::Control, &mut r)?,
            SectionKind::BulkFragment => link.on_fragment(now, Lane::Bulk, &mut r)?,
            SectionKind::Ping => pinger.on_ping(&mut r)?,
            SectionKind::Pong => pinger.on_pong(now, &mut r)?,
            other_kind => other(other_kind, &mut r)?,
        }
    }
    Ok(true)
}
