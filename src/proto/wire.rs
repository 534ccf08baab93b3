//! The datagram envelope: packet kinds, the per-packet ack header and the
//! sections a data packet carries. Everything a peer sends is parsed here
//! first; anything malformed becomes a [`WireError`], never a panic.

use std::fmt;

/// Bumped whenever a peer of the previous version could misread us.
pub const PROTOCOL_VERSION: u16 = 5;
/// Largest payload we hand to the transport (laminar adds 5 bytes; the
/// UDP payload stays within the 1200-byte budget).
pub const MAX_PAYLOAD: usize = 1195;
/// Starts every handshake datagram. Handshakes (hello, challenge, refuse)
/// travel as plain UDP outside laminar, so strangers never make laminar
/// create a connection; a laminar packet can never start with these bytes
/// (its third byte is a packet type of 0 to 2).
pub const MAGIC: [u8; 4] = *b"PWSH";
/// Bytes before a handshake's body: the magic and the kind.
pub const HANDSHAKE_HEADER: usize = MAGIC.len() + 1;

/// What a datagram is. Handshakes are `MAGIC, kind, body`; data packets
/// (inside laminar) start with the kind byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PacketKind {
    /// Client asks to join: protocol version and cookie; once it has the
    /// host's cookie, its ephemeral key and the sealed JSON body too.
    Hello = 0x01,
    /// Host proves the client's address (echo this cookie in the next
    /// hello) and names its key.
    Challenge = 0x02,
    /// Host refuses a join; readable by every protocol version.
    Refuse = 0x03,
    /// Sequenced data between seated peers, sealed: ack header plus
    /// sections inside.
    Data = 0x04,
}

/// True for a handshake datagram (sent and received outside laminar).
pub fn is_handshake(data: &[u8]) -> bool {
    data.len() >= HANDSHAKE_HEADER && data[..MAGIC.len()] == MAGIC
}

/// Writes a handshake header.
pub fn write_handshake(w: &mut Writer<'_>, kind: PacketKind) {
    w.bytes(&MAGIC);
    w.u8(kind as u8);
}

/// A section inside a data packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SectionKind {
    /// A piece of a reliable control message or game event.
    Fragment = 0x10,
    /// A piece of a reliable bulk message (track transfer).
    BulkFragment = 0x11,
    /// A pilot's latest frame plus its recent inputs (client to host).
    Pilot = 0x20,
    /// Every pilot's latest frame (host to peers).
    Snapshot = 0x21,
    /// A game event on the per-tick lane: unreliable, unordered, the
    /// newest of a slot wins (PUN's view serialization).
    Unreliable = 0x22,
    /// Clock and round-trip probe.
    Ping = 0x30,
    /// Answer to a ping, with the host's clock.
    Pong = 0x31,
}

/// Bytes of the data-packet header: kind, seq, ack, ack bits.
pub const DATA_HEADER: usize = 1 + 2 + 2 + 4;
/// Bytes of a fragment section before its data.
pub const FRAGMENT_HEADER: usize = 1 + 4 + 1 + 1 + 2;

/// Why a datagram could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireError {
    /// The datagram ended inside the named field.
    Truncated(&'static str),
    /// The first byte is not a packet kind we know.
    UnknownPacket(u8),
    /// A section tag we do not know.
    UnknownSection(u8),
    /// A hello without the propwash magic.
    BadMagic,
    /// A field holds a value outside its allowed range.
    Invalid(&'static str),
    /// A JSON body did not parse.
    Json(String),
    /// A sealed packet that was not opened: forged, damaged or replayed.
    Unsealed(&'static str),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated(what) => write!(f, "datagram truncated in {what}"),
            WireError::UnknownPacket(b) => write!(f, "unknown packet kind 0x{b:02x}"),
            WireError::UnknownSection(b) => write!(f, "unknown section kind 0x{b:02x}"),
            WireError::BadMagic => write!(f, "hello without the propwash magic"),
            WireError::Invalid(what) => write!(f, "invalid {what}"),
            WireError::Json(e) => write!(f, "malformed control message: {e}"),
            WireError::Unsealed(what) => write!(f, "dropped {what}"),
        }
    }
}

impl std::error::Error for WireError {}

/// Reads big-endian fields from a datagram, failing on truncation.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading at the first byte.
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }
    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }
    /// Takes `n` bytes.
    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        if self.remaining() < n {
            return Err(WireError::Truncated(what));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    /// Takes everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.data[self.pos..];
        self.pos = self.data.len();
        s
    }
    /// Takes one byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        Ok(self.bytes(1, what)?[0])
    }
    /// Takes a big-endian u16.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, WireError> {
        let b = self.bytes(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    /// Takes a big-endian u32.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// Takes a big-endian u64.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, WireError> {
        let b = self.bytes(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    /// Takes a fixed-size array.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<&'a [u8; N], WireError> {
        let b = self.bytes(N, what)?;
        b.try_into().map_err(|_| WireError::Truncated(what))
    }
}

/// Appends big-endian fields into a caller buffer without allocating; writing
/// past the end is reported by [`Writer::fits`] being false, never a panic.
pub struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
    overflow: bool,
}

impl<'a> Writer<'a> {
    /// Starts writing at the beginning of `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Writer {
            buf,
            len: 0,
            overflow: false,
        }
    }
    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }
    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Room left.
    pub fn space(&self) -> usize {
        self.buf.len() - self.len
    }
    /// False once any write did not fit.
    pub fn fits(&self) -> bool {
        !self.overflow
    }
    /// Appends raw bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        if self.space() < b.len() {
            self.overflow = true;
            return;
        }
        self.buf[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
    }
    /// Appends one byte.
    pub fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }
    /// Appends a big-endian u16.
    pub fn u16(&mut self, v: u16) {
        self.bytes(&v.to_be_bytes());
    }
    /// Appends a big-endian u32.
    pub fn u32(&mut self, v: u32) {
        self.bytes(&v.to_be_bytes());
    }
    /// Appends a big-endian u64.
    pub fn u64(&mut self, v: u64) {
        self.bytes(&v.to_be_bytes());
    }
    /// Overwrites a byte already written (for counts known only at the end).
    pub fn patch_u8(&mut self, at: usize, v: u8) {
        if at < self.len {
            self.buf[at] = v;
        }
    }
}

/// The ack header every data packet starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataHeader {
    /// This packet's sequence number.
    pub seq: u16,
    /// The newest sequence number received from the other side.
    pub ack: u16,
    /// Bit `i` set: `ack - 1 - i` was received too.
    pub ack_bits: u32,
}

impl DataHeader {
    /// Writes the kind byte and the header.
    pub fn write(&self, w: &mut Writer<'_>) {
        w.u8(PacketKind::Data as u8);
        w.u16(self.seq);
        w.u16(self.ack);
        w.u32(self.ack_bits);
    }
    /// Reads the header after the kind byte.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(DataHeader {
            seq: r.u16("data seq")?,
            ack: r.u16("data ack")?,
            ack_bits: r.u32("data ack bits")?,
        })
    }
}

/// Reads the packet kind of a datagram.
pub fn packet_kind(data: &[u8]) -> Result<PacketKind, WireError> {
    if is_handshake(data) {
        return match data[MAGIC.len()] {
            0x01 => Ok(PacketKind::Hello),
            0x02 => Ok(PacketKind::Challenge),
            0x03 => Ok(PacketKind::Refuse),
            b => Err(WireError::UnknownPacket(b)),
        };
    }
    match data.first() {
        None => Err(WireError::Truncated("packet kind")),
        Some(0x04) => Ok(PacketKind::Data),
        Some(&b) => Err(WireError::UnknownPacket(b)),
    }
}

/// Reads a section tag.
pub fn section_kind(b: u8) -> Result<SectionKind, WireError> {
    Ok(match b {
        0x10 => SectionKind::Fragment,
        0x11 => SectionKind::BulkFragment,
        0x20 => SectionKind::Pilot,
        0x21 => SectionKind::Snapshot,
        0x22 => SectionKind::Unreliable,
        0x30 => SectionKind::Ping,
        0x31 => SectionKind::Pong,
        _ => return Err(WireError::UnknownSection(b)),
    })
}

/// True when `a` is newer than `b` in wrapping u16 sequence space.
pub fn seq_newer(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_reports_truncation_by_field() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16("a").unwrap(), 0x0102);
        assert_eq!(r.u32("the tick"), Err(WireError::Truncated("the tick")));
        assert_eq!(
            WireError::Truncated("the tick").to_string(),
            "datagram truncated in the tick"
        );
    }

    #[test]
    fn writer_never_writes_past_its_buffer() {
        let mut buf = [0u8; 3];
        let mut w = Writer::new(&mut buf);
        w.u16(7);
        w.u16(8);
        assert!(!w.fits());
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn sequence_comparison_wraps() {
        assert!(seq_newer(1, 0));
        assert!(seq_newer(0, 65535));
        assert!(!seq_newer(65535, 0));
        assert!(!seq_newer(5, 5));
    }

    #[test]
    fn unknown_kinds_are_errors() {
        assert_eq!(packet_kind(&[0x99]), Err(WireError::UnknownPacket(0x99)));
        assert_eq!(
            packet_kind(b"PWSH\x09"),
            Err(WireError::UnknownPacket(0x09))
        );
        assert_eq!(packet_kind(b"PWSH\x02"), Ok(PacketKind::Challenge));
        assert_eq!(
            packet_kind(&[0x01, 0, 0]),
            Err(WireError::UnknownPacket(0x01))
        );
        assert_eq!(packet_kind(&[]), Err(WireError::Truncated("packet kind")));
        assert_eq!(section_kind(0x77), Err(WireError::UnknownSection(0x77)));
    }
}
