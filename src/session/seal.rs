//! Sealed sessions: the key exchange carried by the hello, and the AEAD
//! every data packet travels under once a joiner is seated.
//!
//! The host holds a static X25519 key for the room (published in its
//! lobby listing, so a joiner can pin it) and sends its public half in
//! every challenge. A joiner that has the host's cookie makes a fresh
//! ephemeral key, and its second hello carries that public key beside its
//! JSON body sealed under a key only the two of them can derive:
//! HKDF-SHA-256 over the Diffie-Hellman secret, salted with the room
//! password (empty when there is none) and bound to the whole transcript
//! (protocol, cookie, both public keys). So the body (Steam ticket, name)
//! is readable by the host alone, a wrong password is simply a hello the
//! host cannot open, and a captured join gives an eavesdropper nothing to
//! guess the password against: without the Diffie-Hellman secret no
//! guess can be checked. The host does the Diffie-Hellman only after the
//! cookie proved the joiner's address, so a flood of spoofed hellos still
//! costs it one hash each.
//!
//! After the hello, each direction has its own AES-256-GCM key. A
//! data packet is `kind, counter (u32), ciphertext, tag (16 B)`: 20 bytes
//! more than the plain packet. The nonce is the counter, never reused
//! under one key (a session that would wrap it stops sending and times
//! out, after 2^32 packets: months at any send rate); the kind and the
//! counter are authenticated as associated data. The receiver keeps a
//! 1024-packet replay window and drops, and counts, any packet that is a
//! replay, too old, or fails to open, before reading a byte of it.

use hkdf::Hkdf;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};

use crate::proto::wire::WireError;

/// Bytes of an X25519 public key.
pub const KEY_BYTES: usize = 32;
/// Bytes of a Poly1305 tag.
pub const TAG_BYTES: usize = 16;
/// Bytes of a data packet's counter.
pub const COUNTER_BYTES: usize = 4;
/// What sealing adds to a data packet: the counter and the tag.
pub const SEAL_OVERHEAD: usize = COUNTER_BYTES + TAG_BYTES;
/// Packets a receiver remembers behind the newest it opened.
const WINDOW: u32 = 1024;
const WINDOW_WORDS: usize = (WINDOW / 64) as usize;
/// Names this key schedule; a change of any kind bumps it.
const LABEL: &[u8] = b"propwash seal v1";

/// A room's static key pair; the secret never leaves the host.
#[derive(Clone)]
pub struct HostKey {
    secret: StaticSecret,
    public: PublicKey,
}

impl HostKey {
    /// The key pair for a 32-byte secret (random per room in production).
    pub fn from_secret(secret: [u8; 32]) -> Self {
        let secret = StaticSecret::from(secret);
        let public = PublicKey::from(&secret);
        HostKey { secret, public }
    }

    /// The public half, as challenges and listings carry it.
    pub fn public(&self) -> [u8; KEY_BYTES] {
        self.public.to_bytes()
    }
}

impl std::fmt::Debug for HostKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HostKey({})", hex(&self.public()))
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A public key from 64 hex digits, as listings carry it.
pub fn key_from_hex(s: &str) -> Option<[u8; KEY_BYTES]> {
    if s.len() != 2 * KEY_BYTES || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; KEY_BYTES];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// What both sides of one hello agree on.
struct Transcript {
    protocol: u16,
    cookie: u64,
    host: [u8; KEY_BYTES],
    joiner: [u8; KEY_BYTES],
}

/// The keys one hello yields: the hello body's, then one per direction.
struct Keys {
    hello: LessSafeKey,
    to_host: [u8; 32],
    to_joiner: [u8; 32],
}

/// An AES-256-GCM key (ring: AES-NI and carry-less multiply where the CPU
/// has them, constant-time code where not).
fn aead_key(bytes: &[u8; 32]) -> LessSafeKey {
    // A 32-byte key is always the length AES-256 takes.
    match UnboundKey::new(&AES_256_GCM, bytes) {
        Ok(k) => LessSafeKey::new(k),
        Err(_) => unreachable!("AES-256 takes 32-byte keys"),
    }
}

fn derive(shared: &[u8; 32], password: &str, t: &Transcript) -> Keys {
    let mut salt = Sha256::new();
    salt.update(LABEL);
    salt.update(b" password\0");
    salt.update(password.as_bytes());
    let salt = salt.finalize();
    let kdf = Hkdf::<Sha256>::new(Some(&salt), shared);
    let mut info = Vec::with_capacity(LABEL.len() + 2 + 8 + 2 * KEY_BYTES);
    info.extend_from_slice(LABEL);
    info.extend_from_slice(&t.protocol.to_be_bytes());
    info.extend_from_slice(&t.cookie.to_be_bytes());
    info.extend_from_slice(&t.host);
    info.extend_from_slice(&t.joiner);
    let mut okm = [0u8; 96];
    // 96 bytes is far below HKDF-SHA-256's limit of 8160.
    let _ = kdf.expand(&info, &mut okm);
    let key = |i: usize| {
        let mut k = [0u8; 32];
        k.copy_from_slice(&okm[32 * i..32 * (i + 1)]);
        k
    };
    Keys {
        hello: aead_key(&key(0)),
        to_host: key(1),
        to_joiner: key(2),
    }
}

/// The hello body's nonce: its key is used for this one message only.
fn hello_nonce() -> Nonce {
    Nonce::assume_unique_for_key([0; 12])
}

/// A joiner's half of the exchange: its public key and the sealed body
/// of its hello, and the session it will speak once seated.
pub(crate) struct JoinerHello {
    /// The joiner's ephemeral public key.
    pub(crate) public: [u8; KEY_BYTES],
    /// The hello's JSON body, sealed (tag appended).
    pub(crate) sealed_body: Vec<u8>,
    /// The session, keyed for the joiner's side.
    pub(crate) seal: Seal,
}

/// Makes a joiner's sealed hello for the host whose challenge carried
/// `host` and `cookie`. `None` only when the host's key is one no honest
/// host has (a low-order point: the shared secret would be public).
pub(crate) fn joiner_hello(
    protocol: u16,
    cookie: u64,
    host: [u8; KEY_BYTES],
    password: &str,
    body: &[u8],
) -> Option<JoinerHello> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).ok()?;
    joiner_hello_with(seed, protocol, cookie, host, password, body)
}

fn joiner_hello_with(
    seed: [u8; 32],
    protocol: u16,
    cookie: u64,
    host: [u8; KEY_BYTES],
    password: &str,
    body: &[u8],
) -> Option<JoinerHello> {
    let secret = StaticSecret::from(seed);
    let public = PublicKey::from(&secret).to_bytes();
    let shared = secret.diffie_hellman(&PublicKey::from(host));
    if !shared.was_contributory() {
        return None;
    }
    let t = Transcript {
        protocol,
        cookie,
        host,
        joiner: public,
    };
    let keys = derive(shared.as_bytes(), password, &t);
    let mut sealed_body = body.to_vec();
    let tag = keys
        .hello
        .seal_in_place_separate_tag(hello_nonce(), Aad::from(&public), &mut sealed_body)
        .ok()?;
    sealed_body.extend_from_slice(tag.as_ref());
    Some(JoinerHello {
        public,
        sealed_body,
        seal: Seal::new(&keys.to_host, &keys.to_joiner),
    })
}

/// The datagram of a sealed hello (magic, kind, protocol, cookie, our
/// key, sealed body) and the session it opens, for the host whose
/// challenge carried `host` and `cookie`.
pub(crate) fn hello_packet(
    cookie: u64,
    host: [u8; KEY_BYTES],
    password: &str,
    body: &[u8],
) -> Option<(Vec<u8>, Seal)> {
    use crate::proto::wire::{PacketKind, MAGIC, PROTOCOL_VERSION};
    let j = joiner_hello(PROTOCOL_VERSION, cookie, host, password, body)?;
    let mut packet = Vec::with_capacity(HELLO_HEAD + j.sealed_body.len());
    packet.extend_from_slice(&MAGIC);
    packet.push(PacketKind::Hello as u8);
    packet.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    packet.extend_from_slice(&cookie.to_be_bytes());
    packet.extend_from_slice(&j.public);
    packet.extend_from_slice(&j.sealed_body);
    Some((packet, j.seal))
}

/// A sealed hello datagram with JSON `body`, as a joiner answering the
/// challenge (`cookie`, `host` key) sends it; for tools and tests that
/// speak to a host without a [`crate::session::Client`]. `None` when
/// `host` is not a usable key.
pub fn hello_datagram(
    cookie: u64,
    host: [u8; KEY_BYTES],
    password: &str,
    body: &[u8],
) -> Option<Vec<u8>> {
    hello_packet(cookie, host, password, body).map(|(p, _)| p)
}

/// A sealed hello's bytes before its sealed body: magic, kind, protocol,
/// cookie and the joiner's key.
pub const HELLO_HEAD: usize = crate::proto::wire::HANDSHAKE_HEADER + 2 + 8 + KEY_BYTES;

/// The host's half: opens a hello's body and keys the session. `None`
/// when the body does not open: a wrong password, a damaged or forged
/// hello, or a joiner key no honest joiner has.
pub(crate) fn open_hello(
    key: &HostKey,
    protocol: u16,
    cookie: u64,
    joiner: [u8; KEY_BYTES],
    sealed_body: &[u8],
    password: &str,
) -> Option<(Vec<u8>, Seal)> {
    sealed_body.len().checked_sub(TAG_BYTES)?;
    let shared = key.secret.diffie_hellman(&PublicKey::from(joiner));
    if !shared.was_contributory() {
        return None;
    }
    let t = Transcript {
        protocol,
        cookie,
        host: key.public(),
        joiner,
    };
    let keys = derive(shared.as_bytes(), password, &t);
    let mut body = sealed_body.to_vec();
    let len = keys
        .hello
        .open_in_place(hello_nonce(), Aad::from(&joiner), &mut body)
        .ok()?
        .len();
    body.truncate(len);
    Some((body, Seal::new(&keys.to_joiner, &keys.to_host)))
}

/// One side of a sealed session: its sending key and counter, its
/// receiving key and replay window.
pub(crate) struct Seal {
    send: LessSafeKey,
    recv: LessSafeKey,
    next_send: u32,
    /// The newest counter opened, and which of the `WINDOW` before it were.
    newest: Option<u32>,
    seen: [u64; WINDOW_WORDS],
}

impl std::fmt::Debug for Seal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seal")
            .field("next_send", &self.next_send)
            .field("newest", &self.newest)
            .finish()
    }
}

/// A packet's nonce: its counter, never used twice under one key.
fn nonce(counter: u32) -> Nonce {
    let mut n = [0u8; 12];
    n[8..].copy_from_slice(&counter.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

impl Seal {
    fn new(send: &[u8; 32], recv: &[u8; 32]) -> Self {
        Seal {
            send: aead_key(send),
            recv: aead_key(recv),
            next_send: 0,
            newest: None,
            seen: [0; WINDOW_WORDS],
        }
    }

    /// True while the sending counter has values left.
    pub(crate) fn can_send(&self) -> bool {
        self.next_send < u32::MAX
    }

    /// Seals the plain packet `buf[..len]` (its kind byte first) in place:
    /// the counter goes after the kind byte and the tag at the end.
    /// Returns the sealed length; `None` when `buf` has no room for
    /// [`SEAL_OVERHEAD`] more bytes or the counter is spent.
    pub(crate) fn seal(&mut self, buf: &mut [u8], len: usize) -> Option<usize> {
        let sealed = len.checked_add(SEAL_OVERHEAD)?;
        if len == 0 || sealed > buf.len() || !self.can_send() {
            return None;
        }
        let counter = self.next_send;
        buf.copy_within(1..len, 1 + COUNTER_BYTES);
        buf[1..1 + COUNTER_BYTES].copy_from_slice(&counter.to_be_bytes());
        let body_end = len + COUNTER_BYTES;
        let (head, rest) = buf.split_at_mut(1 + COUNTER_BYTES);
        let tag = self
            .send
            .seal_in_place_separate_tag(
                nonce(counter),
                Aad::from(&*head),
                &mut rest[..body_end - head.len()],
            )
            .ok()?;
        buf[body_end..sealed].copy_from_slice(tag.as_ref());
        self.next_send += 1;
        Some(sealed)
    }

    /// Opens a sealed packet into `out`, giving the plain packet (kind
    /// byte first) as [`Seal::seal`] took it. A replay, a packet too old
    /// for the window, or one whose tag fails is an error
    /// ([`WireError::Unsealed`]) the caller counts; the window moves only
    /// for packets that opened.
    pub(crate) fn open<'a>(
        &mut self,
        data: &[u8],
        out: &'a mut [u8],
    ) -> Result<&'a [u8], WireError> {
        if data.len() < 1 + SEAL_OVERHEAD {
            return Err(WireError::Truncated("sealed packet"));
        }
        let mut counter = [0u8; COUNTER_BYTES];
        counter.copy_from_slice(&data[1..1 + COUNTER_BYTES]);
        let counter = u32::from_be_bytes(counter);
        if !self.fresh(counter) {
            return Err(WireError::Unsealed("a replayed or too old packet"));
        }
        let (head, rest) = data.split_at(1 + COUNTER_BYTES);
        let len = 1 + rest.len() - TAG_BYTES;
        if 1 + rest.len() > out.len() {
            return Err(WireError::Invalid("sealed packet length"));
        }
        out[0] = data[0];
        out[1..1 + rest.len()].copy_from_slice(rest);
        self.recv
            .open_in_place(nonce(counter), Aad::from(head), &mut out[1..1 + rest.len()])
            .map_err(|_| WireError::Unsealed("a packet that does not open"))?;
        self.mark(counter);
        Ok(&out[..len])
    }

    /// True when `counter` is neither too old nor already opened.
    fn fresh(&self, counter: u32) -> bool {
        match self.newest {
            None => true,
            Some(newest) if counter > newest => true,
            Some(newest) => {
                let back = newest - counter;
                back < WINDOW && !self.bit(counter)
            }
        }
    }

    fn bit(&self, counter: u32) -> bool {
        let i = (counter % WINDOW) as usize;
        self.seen[i / 64] & (1 << (i % 64)) != 0
    }

    fn mark(&mut self, counter: u32) {
        match self.newest {
            Some(newest) if counter <= newest => {}
            Some(newest) if counter - newest >= WINDOW => {
                self.seen = [0; WINDOW_WORDS];
                self.newest = Some(counter);
            }
            Some(newest) => {
                // Forget the slots the window slides over.
                for c in newest + 1..counter {
                    let i = (c % WINDOW) as usize;
                    self.seen[i / 64] &= !(1 << (i % 64));
                }
                self.newest = Some(counter);
            }
            None => self.newest = Some(counter),
        }
        let i = (counter % WINDOW) as usize;
        self.seen[i / 64] |= 1 << (i % 64);
    }
}

/// Times sealing and opening one data packet of `len` bytes (plain,
/// kind byte included), `iters` times each, for the benchmark: a session
/// keyed by a real hello. Returns (nanoseconds per seal, per open).
#[doc(hidden)]
pub fn measure(len: usize, iters: u32) -> (f64, f64) {
    let host = HostKey::from_secret([3; 32]);
    let Some(j) = joiner_hello(3, 1, host.public(), "", b"{}") else {
        return (f64::NAN, f64::NAN);
    };
    let Some((_, mut rx)) = open_hello(&host, 3, 1, j.public, &j.sealed_body, "") else {
        return (f64::NAN, f64::NAN);
    };
    let mut tx = j.seal;
    let len = len.clamp(1, crate::proto::wire::MAX_PAYLOAD - SEAL_OVERHEAD);
    let iters = iters.max(1);
    let mut packets = Vec::with_capacity(iters as usize);
    let mut buf = vec![0u8; len + SEAL_OVERHEAD];
    let t = std::time::Instant::now();
    for i in 0..iters {
        buf[0] = 4;
        buf[1] = i as u8;
        let n = tx.seal(&mut buf, len).unwrap_or(0);
        packets.push(buf[..n].to_vec());
    }
    let sealing = t.elapsed().as_nanos() as f64 / f64::from(iters);
    let mut out = vec![0u8; len + SEAL_OVERHEAD];
    let t = std::time::Instant::now();
    let mut opened = 0u32;
    for p in &packets {
        opened += u32::from(rx.open(p, &mut out).is_ok());
    }
    let opening = t.elapsed().as_nanos() as f64 / f64::from(iters);
    if opened != iters {
        return (f64::NAN, f64::NAN);
    }
    (sealing, opening)
}

/// Seals a copy of the plain packet `plain` (kind byte first).
pub(crate) fn seal_copy(seal: &mut Seal, plain: &[u8]) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; plain.len() + SEAL_OVERHEAD];
    buf[..plain.len()].copy_from_slice(plain);
    let n = seal.seal(&mut buf, plain.len())?;
    buf.truncate(n);
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(password_joiner: &str, password_host: &str) -> Option<(Seal, Seal)> {
        let host = HostKey::from_secret([7; 32]);
        let j = joiner_hello(3, 42, host.public(), password_joiner, b"{\"name\":\"x\"}")?;
        let (body, host_seal) = open_hello(&host, 3, 42, j.public, &j.sealed_body, password_host)?;
        assert_eq!(body, b"{\"name\":\"x\"}");
        Some((j.seal, host_seal))
    }

    fn packet(s: &mut Seal, body: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; 64];
        buf[0] = 0x04;
        buf[1..1 + body.len()].copy_from_slice(body);
        let n = s.seal(&mut buf, 1 + body.len()).unwrap();
        buf.truncate(n);
        buf
    }

    #[test]
    fn packets_open_on_the_other_side_only_once_and_only_unchanged() {
        let (mut joiner, mut host) = pair("pw", "pw").unwrap();
        let p = packet(&mut joiner, b"hello host");
        assert_eq!(p.len(), 1 + 10 + SEAL_OVERHEAD);
        let mut out = [0u8; 64];
        assert_eq!(host.open(&p, &mut out).unwrap(), b"\x04hello host");
        // A replay, a flipped bit anywhere, and the joiner's own key fail.
        assert!(host.open(&p, &mut out).is_err());
        let q = packet(&mut joiner, b"second");
        for i in 0..q.len() {
            let mut bad = q.clone();
            bad[i] ^= 1;
            assert!(host.open(&bad, &mut out).is_err(), "byte {i}");
        }
        assert!(joiner.open(&q, &mut out).is_err());
        assert_eq!(host.open(&q, &mut out).unwrap(), b"\x04second");
        let back = packet(&mut host, b"hi");
        assert_eq!(joiner.open(&back, &mut out).unwrap(), b"\x04hi");
    }

    #[test]
    fn the_replay_window_takes_reordered_packets_once_and_drops_the_too_old() {
        let (mut joiner, mut host) = pair("", "").unwrap();
        let packets: Vec<_> = (0..1100).map(|_| packet(&mut joiner, b"x")).collect();
        let mut out = [0u8; 64];
        // Newest first, then the rest backwards: the window's 1024 open.
        assert!(host.open(&packets[1099], &mut out).is_ok());
        let mut opened = 1;
        for p in packets[..1099].iter().rev() {
            if host.open(p, &mut out).is_ok() {
                opened += 1;
            }
        }
        assert_eq!(opened, 1024);
        for p in &packets {
            assert!(host.open(p, &mut out).is_err());
        }
        // A jump far ahead clears the window and still opens once.
        let far: Vec<_> = (0..5000).map(|_| packet(&mut joiner, b"y")).collect();
        assert!(host.open(&far[4999], &mut out).is_ok());
        assert!(host.open(&far[4999], &mut out).is_err());
        assert!(host.open(&far[4000], &mut out).is_ok());
        assert!(host.open(&far[3000], &mut out).is_err());
    }

    #[test]
    fn a_wrong_password_or_another_transcript_does_not_open_the_hello() {
        assert!(pair("right", "wrong").is_none());
        assert!(pair("", "pw").is_none());
        let host = HostKey::from_secret([7; 32]);
        let j = joiner_hello(3, 42, host.public(), "", b"body").unwrap();
        assert!(open_hello(&host, 3, 43, j.public, &j.sealed_body, "").is_none());
        assert!(open_hello(&host, 2, 42, j.public, &j.sealed_body, "").is_none());
        let other = HostKey::from_secret([8; 32]);
        assert!(open_hello(&other, 3, 42, j.public, &j.sealed_body, "").is_none());
        assert!(open_hello(&host, 3, 42, [0; 32], &j.sealed_body, "").is_none());
        assert!(open_hello(&host, 3, 42, j.public, &j.sealed_body[..10], "").is_none());
        assert!(open_hello(&host, 3, 42, j.public, &j.sealed_body, "").is_some());
    }

    #[test]
    fn low_order_keys_are_refused_on_both_sides() {
        assert!(joiner_hello_with([1; 32], 3, 1, [0; 32], "", b"b").is_none());
        let host = HostKey::from_secret([7; 32]);
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(open_hello(&host, 3, 1, one, &[0; 20], "").is_none());
    }

    #[test]
    fn a_spent_counter_stops_sending() {
        let (mut joiner, _) = pair("", "").unwrap();
        joiner.next_send = u32::MAX;
        let mut buf = [0u8; 64];
        buf[0] = 4;
        assert!(joiner.seal(&mut buf, 5).is_none());
        assert!(!joiner.can_send());
    }

    #[test]
    fn keys_travel_as_hex() {
        let k = HostKey::from_secret([9; 32]).public();
        assert_eq!(key_from_hex(&hex(&k)), Some(k));
        assert_eq!(key_from_hex(&hex(&k).to_uppercase()), Some(k));
        assert_eq!(key_from_hex("00"), None);
        assert_eq!(key_from_hex(&"zz".repeat(32)), None);
        assert_eq!(key_from_hex(&"é".repeat(32)), None);
    }
}
