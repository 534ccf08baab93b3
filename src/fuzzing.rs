//! Entry points shared by the fuzz targets (`fuzz/`) and the replay of
//! their regression inputs (`tests/fuzz_regressions.rs`). Each takes
//! arbitrary bytes, drives one sans-IO core with them, and panics only
//! when the core panics or an oracle fails: no more bytes sent to an
//! unproven source than it sent us, bounded disk for the installer.
//! Memory is bounded by the fuzz crate's counting allocator.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::lobby::record::{Capacity, HostProfile, RoomInfo, RoomSettings};
use crate::lobby::wire::{
    key_from_hex, seal, Message, Packet, RegisterBody, SealKey, HEADER_LEN, SEALED_FLAG, SEAL_LEN,
};
use crate::lobby::{
    Coordinator, CoordinatorConfig, ListQuery, Listing, LobbyClient, LobbyConfig, SessionId,
};
use crate::proto::control::Role;
use crate::session::sim::{Conditions, SimRoom};
use crate::session::{ClientConfig, HostConfig};
use crate::track::transfer::MapsFolder;
use crate::track::{Installer, Limits, TrackManifest};

const GAME: &str = "drl-fuzz";

/// Splits fuzz input into (selector, delay in ms, datagram): each record
/// is a selector byte, a delay byte, a u16 length (big-endian), the bytes.
fn records(mut data: &[u8]) -> impl Iterator<Item = (u8, u8, &[u8])> {
    std::iter::from_fn(move || {
        if data.len() < 4 {
            return None;
        }
        let (sel, delay) = (data[0], data[1]);
        let n = usize::from(u16::from_be_bytes([data[2], data[3]])).min(data.len() - 4);
        let d = &data[4..4 + n];
        data = &data[4 + n..];
        Some((sel, delay, d))
    })
}

/// Counts bytes each way per address and checks that no unproven address
/// ever gets more than it sent.
#[derive(Default)]
struct Amplification {
    bytes_in: HashMap<SocketAddr, usize>,
    bytes_out: HashMap<SocketAddr, usize>,
}

impl Amplification {
    fn came(&mut self, from: SocketAddr, n: usize) {
        *self.bytes_in.entry(from).or_default() += n;
    }
    fn went(&mut self, to: SocketAddr, n: usize) {
        *self.bytes_out.entry(to).or_default() += n;
    }
    fn check(&self, unproven: &[SocketAddr]) {
        for a in unproven {
            let i = self.bytes_in.get(a).copied().unwrap_or(0);
            let o = self.bytes_out.get(a).copied().unwrap_or(0);
            assert!(o <= i, "amplification: {o} bytes out to {a}, {i} in");
        }
    }
}

fn listing() -> Listing {
    Listing {
        host: HostProfile {
            steam_id: "76561198000000001".into(),
            player_name: "Fuzz host".into(),
            avatar_url: String::new(),
        },
        room: RoomInfo {
            name: "Fuzz".into(),
            map_id: "MP-1".into(),
            track_id: String::new(),
            is_custom_track: false,
            mode: "race".into(),
            props: Default::default(),
        },
        capacity: Capacity {
            pilots: 6,
            spectators: 15,
            current_pilots: 1,
            current_spectators: 0,
        },
        settings: RoomSettings::default(),
        game_version: GAME.into(),
        protocol_version: crate::proto::PROTOCOL_VERSION,
        has_password: false,
        host_key: String::new(),
    }
}

/// Re-seals a fuzz datagram that asks for a seal (its kind byte has
/// [`SEALED_FLAG`]) with the real key, so the fuzzer reaches the code
/// behind the MAC.
fn reseal(d: &[u8], key: &SealKey, counter: &mut u64) -> Vec<u8> {
    let mut v = d.to_vec();
    if v.len() >= HEADER_LEN + SEAL_LEN && v[..4] == *b"PWCO" && v[5] & SEALED_FLAG != 0 {
        v.truncate(v.len() - SEAL_LEN);
        v[5] &= !SEALED_FLAG;
        *counter += 1;
        let _ = seal(&mut v, key, *counter);
    }
    v
}

fn drain_coordinator(c: &mut Coordinator, amp: &mut Amplification) -> Vec<Packet> {
    let mut out = Vec::new();
    while let Some(t) = c.poll_transmit() {
        amp.went(t.to, t.bytes.len());
        if let Ok(p) = Packet::decode(&t.bytes) {
            out.push(p);
        }
    }
    out
}

/// The coordinator's `handle_datagram`: a listed host (its sealed
/// messages re-sealed with its key), a stranger with a valid address
/// cookie, and two unproven strangers (their cookie zeroed), in any order.
pub fn coordinator(data: &[u8]) {
    let mut now = Instant::now();
    let mut c = Coordinator::new(
        CoordinatorConfig {
            secret: [9; 32],
            ..CoordinatorConfig::default()
        },
        now,
    );
    let mut amp = Amplification::default();
    let host: SocketAddr = "203.0.113.1:5056".parse().expect("address");
    let proven: SocketAddr = "198.51.100.1:1000".parse().expect("address");
    let strangers: [SocketAddr; 2] = [
        "198.51.100.2:2000".parse().expect("address"),
        "[2001:db8::2]:3000".parse().expect("address"),
    ];
    // The host registers, answering the challenge.
    let mut reg = Packet::new(1, Message::Register(RegisterBody { listing: listing() }));
    let _ = c.handle_datagram(now, host, &reg.encode().unwrap_or_default());
    reg.cookie = drain_coordinator(&mut c, &mut amp)
        .first()
        .map_or(0, |p| p.cookie);
    let _ = c.handle_datagram(now, host, &reg.encode().unwrap_or_default());
    let key = drain_coordinator(&mut c, &mut amp)
        .into_iter()
        .find_map(|p| match p.message {
            Message::Registered(b) => key_from_hex(&b.key),
            _ => None,
        })
        .unwrap_or([0; 32]);
    // The proven stranger's cookie.
    let list = Packet::new(2, Message::List(ListQuery::default()));
    let _ = c.handle_datagram(now, proven, &list.encode().unwrap_or_default());
    let cookie = drain_coordinator(&mut c, &mut amp)
        .first()
        .map_or(0, |p| p.cookie);
    let start = now;
    let mut counter = 0u64;
    for (sel, delay, d) in records(data) {
        // Cookies last 10 s at least: stay within them.
        if now.duration_since(start) < Duration::from_secs(9) {
            now += Duration::from_millis(u64::from(delay));
        }
        let (from, bytes) = match sel % 4 {
            0 => (host, reseal(d, &key, &mut counter)),
            1 => {
                let mut v = d.to_vec();
                if v.len() >= HEADER_LEN {
                    v[10..18].copy_from_slice(&cookie.to_be_bytes());
                }
                (proven, v)
            }
            s => {
                let mut v = d.to_vec();
                if v.len() >= HEADER_LEN && v[..4] == *b"PWCO" {
                    v[10..18].fill(0);
                }
                (strangers[usize::from(s - 2)], v)
            }
        };
        amp.came(from, bytes.len());
        let _ = c.handle_datagram(now, from, &bytes);
        c.handle_timeout(now);
        drain_coordinator(&mut c, &mut amp);
        let _ = c.poll_timeout();
    }
    amp.check(&strangers);
}

/// `LobbyClient::handle_datagram` while hosting (listed, with a key), with a
/// join and a lobby query in flight: datagrams from the coordinator (sealed
/// ones re-sealed with the room's key), from a stranger, from a peer.
pub fn lobby_client(data: &[u8]) {
    let mut now = Instant::now();
    let coordinator: SocketAddr = "192.0.2.1:7400".parse().expect("address");
    let stranger: SocketAddr = "198.51.100.9:5056".parse().expect("address");
    let peer: SocketAddr = "198.51.100.20:5056".parse().expect("address");
    let mut c = LobbyClient::new(LobbyConfig::new(coordinator, GAME));
    c.host(now, listing());
    let register_id = std::iter::from_fn(|| c.poll_transmit())
        .filter_map(|t| Packet::decode(&t.bytes).ok())
        .map(|p| p.request_id)
        .next()
        .unwrap_or(0);
    let key = [5u8; 32];
    let registered = Packet::new(
        register_id,
        Message::Registered(crate::lobby::wire::RegisteredBody {
            session_id: SessionId(1),
            token: SessionId(2),
            heartbeat_secs: 10,
            public_addr: "203.0.113.1:5056".parse().expect("address"),
            key: crate::lobby::wire::key_to_hex(&key),
        }),
    );
    let _ = c.handle_datagram(now, coordinator, &registered.encode().unwrap_or_default());
    c.join(now, SessionId(3));
    c.list(now, ListQuery::default());
    let mut amp = Amplification::default();
    while let Some(t) = c.poll_transmit() {
        amp.went(t.to, t.bytes.len());
    }
    let mut counter = 0u64;
    for (sel, delay, d) in records(data) {
        now += Duration::from_millis(u64::from(delay) * 10);
        let (from, bytes) = match sel % 3 {
            0 => (coordinator, reseal(d, &key, &mut counter)),
            1 => (stranger, d.to_vec()),
            _ => (peer, d.to_vec()),
        };
        amp.came(from, bytes.len());
        let _ = c.handle_datagram(now, from, &bytes);
        c.handle_timeout(now);
        while let Some(t) = c.poll_transmit() {
            amp.went(t.to, t.bytes.len());
        }
        while c.poll_event().is_some() {}
        let mut out = [0u8; 2048];
        let _ = c.wrap_relayed(peer, &bytes, &mut out);
    }
    amp.check(&[stranger]);
}

static SCRATCH: AtomicU64 = AtomicU64::new(0);

/// A fresh folder under the system's temp folder, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Option<Scratch> {
        let n = SCRATCH.fetch_add(1, Ordering::Relaxed);
        let p =
            std::env::temp_dir().join(format!("propwash-fuzz-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).ok()?;
        Some(Scratch(p))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn disk_bytes(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => disk_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// Limits for the installer target: small, so the disk oracle is tight.
const FUZZ_LIMITS: Limits = Limits {
    max_total_bytes: 256 * 1024,
    max_files: 16,
    max_path_len: 128,
};

/// `TrackManifest::from_json`, then (if it parsed) the installer's
/// `begin`, `write_chunk` for every following record (file index, offset
/// as u32, the bytes) and `finish`, into a temp folder whose size never
/// exceeds the limits.
pub fn manifest_installer(data: &[u8]) {
    let mut recs = records(data);
    let Some((_, _, json)) = recs.next() else {
        return;
    };
    let Ok(manifest) = TrackManifest::from_json(json, &FUZZ_LIMITS) else {
        return;
    };
    let _ = manifest.to_json();
    let Some(dir) = Scratch::new("install") else {
        return;
    };
    let Ok(installer) = Installer::new(&dir.0, FUZZ_LIMITS) else {
        return;
    };
    let Ok(mut partial) = installer.begin(&manifest) else {
        return;
    };
    for (sel, _, d) in recs {
        if d.len() < 4 {
            continue;
        }
        let offset = u64::from(u32::from_be_bytes([d[0], d[1], d[2], d[3]]));
        let _ = partial.write_chunk(usize::from(sel), offset, &d[4..]);
        let used = disk_bytes(&dir.0);
        assert!(
            used <= FUZZ_LIMITS.max_total_bytes,
            "the installer wrote {used} bytes"
        );
    }
    let _ = partial.finish();
    let used = disk_bytes(&dir.0);
    assert!(
        used <= FUZZ_LIMITS.max_total_bytes,
        "the installer left {used} bytes"
    );
}

/// A room in memory with one pilot seated through the ordinary handshake
/// (so both sides hold the sealed session's keys).
fn seated_room(maps: Option<&Path>) -> Option<SimRoom> {
    let mut room = SimRoom::new(
        HostConfig::new(GAME, "Host"),
        Conditions {
            latency: Duration::from_millis(5),
            ..Conditions::default()
        },
        1,
    );
    room.add_client(|h| ClientConfig::new(h, GAME, "Pilot", Role::Pilot));
    if let Some(m) = maps {
        let target = MapsFolder::inline(m, None, Limits::default()).ok()?;
        room.clients[0].1.set_track_target(Box::new(target));
    }
    room.run_for(Duration::from_millis(500));
    (room.host.players().len() == 2).then_some(room)
}

/// The fuzz input as the peer would send it: a datagram that starts with
/// the data kind is taken as the plain packet and sealed with the peer's
/// session, so the fuzzer reaches the code behind the seal; anything else
/// goes as it is (forgeries, handshakes from a seated address).
fn as_from_peer(d: &[u8], seal: impl FnOnce(&[u8]) -> Option<Vec<u8>>) -> Vec<u8> {
    if d.first() == Some(&(crate::proto::wire::PacketKind::Data as u8)) {
        if let Some(sealed) = seal(d) {
            return sealed;
        }
    }
    d.to_vec()
}

/// `Host::handle_datagram` with a seated pilot: records from the pilot's
/// address (as the pilot would send them) or a stranger's.
pub fn host(data: &[u8]) {
    let Some(mut room) = seated_room(None) else {
        panic!("the pilot was not seated");
    };
    let pilot = room.clients[0].0;
    let stranger: SocketAddr = "198.51.100.7:5056".parse().expect("address");
    let mut now = room.now;
    let mut amp = Amplification::default();
    let mut buf = vec![0u8; 2048];
    for (sel, delay, d) in records(data) {
        now += Duration::from_millis(u64::from(delay));
        let (from, bytes) = if sel % 2 == 0 {
            let client = &mut room.clients[0].1;
            (pilot, as_from_peer(d, |p| client.seal_plain(p)))
        } else {
            (stranger, d.to_vec())
        };
        amp.came(from, bytes.len());
        let _ = room.host.handle_datagram(now, from, &bytes);
        room.host.handle_timeout(now);
        while let Some(t) = room.host.poll_transmit(now, &mut buf) {
            amp.went(t.to, t.len);
        }
        while room.host.poll_event().is_some() {}
    }
    amp.check(&[stranger]);
}

/// `Client::handle_datagram` while connected, with a maps folder: records
/// from the host's address (as the host would send them).
pub fn client(data: &[u8]) {
    let Some(maps) = Scratch::new("maps") else {
        return;
    };
    let Some(mut room) = seated_room(Some(&maps.0)) else {
        panic!("the pilot was not seated");
    };
    let host = room.host_addr;
    let pilot = room.clients[0].0;
    let mut now = room.now;
    let mut buf = vec![0u8; 2048];
    let (h, c) = (&mut room.host, &mut room.clients[0].1);
    for (_, delay, d) in records(data) {
        now += Duration::from_millis(u64::from(delay));
        let bytes = as_from_peer(d, |p| h.seal_plain_for(pilot, p));
        let _ = c.handle_datagram(now, host, &bytes);
        c.handle_timeout(now);
        while c.poll_transmit(now, &mut buf).is_some() {}
        while c.poll_event().is_some() {}
        let used = disk_bytes(&maps.0);
        assert!(
            used <= Limits::default().max_total_bytes * 2,
            "the client wrote {used} bytes"
        );
    }
}
