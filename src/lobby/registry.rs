//! The coordinator's list of rooms, kept sorted the way the lobby shows
//! them, with one ordered set per (game build, protocol version): a
//! compatible-rooms query walks only its own set, in order, and stops at
//! the end of the page when no other filter needs the total counted.

use std::cmp::Reverse;
use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::time::Instant;

use super::record::{ListQuery, SessionId, SessionRecord};

/// Lobby order: rooms with a free pilot seat first, then the fullest, then
/// by name, then by id (so the order is total and stable).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct SortKey {
    full: bool,
    players: Reverse<u16>,
    name: Box<str>,
    id: SessionId,
}

impl SortKey {
    fn of(r: &SessionRecord) -> Self {
        SortKey {
            full: r.capacity.free_pilots() == 0,
            players: Reverse(r.capacity.players()),
            name: r.room.name.to_lowercase().into(),
            id: r.session_id,
        }
    }
}

type VersionKey = (Box<str>, u16);

/// What a filtered query tests, kept beside the sort key so a scan reads
/// only the ordered index, never the rooms themselves. Strings are keyed
/// 64-bit hashes (unforgeable collisions; page hits are re-checked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Filter {
    game_version: u64,
    protocol_version: u16,
    mode: u64,
    map: u64,
    free_pilots: u8,
    has_password: bool,
}

/// The query's side of [`Filter`].
struct Wanted {
    game_version: Option<u64>,
    protocol_version: Option<u16>,
    mode: Option<u64>,
    map: Option<u64>,
    min_free_pilots: u8,
    has_password: Option<bool>,
}

impl Wanted {
    fn admits(&self, f: &Filter) -> bool {
        self.game_version.is_none_or(|v| v == f.game_version)
            && self
                .protocol_version
                .is_none_or(|v| v == f.protocol_version)
            && self.mode.is_none_or(|v| v == f.mode)
            && self.map.is_none_or(|v| v == f.map)
            && f.free_pilots >= self.min_free_pilots
            && self.has_password.is_none_or(|v| v == f.has_password)
    }
}

/// One listed room and what the coordinator needs to keep it.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) record: SessionRecord,
    /// The record's JSON, made once per change and copied into answers.
    pub(crate) json: Box<str>,
    pub(crate) token: u64,
    /// The address that registered the room (its heartbeats must come from here).
    pub(crate) addr: SocketAddr,
    pub(crate) deadline: Instant,
    /// The request that created it (a repeated register is answered again).
    pub(crate) register_request: u32,
    pub(crate) intro_window: Instant,
    pub(crate) intro_count: u32,
    /// Introductions in this window per joiner IPv4 address or IPv6 /64
    /// (at most `max_intros_per_session` keys).
    pub(crate) intro_sources: std::collections::HashMap<std::net::IpAddr, u32>,
    /// Seals the room's messages both ways.
    pub(crate) key: super::wire::SealKey,
    /// Counters of the host's sealed messages seen.
    pub(crate) replay: super::wire::ReplayWindow,
    /// Counter of the last sealed message we sent the host.
    pub(crate) sent: u64,
    /// The room's own request budget (its sealed messages skip the
    /// address's, which a shared NAT may spend).
    pub(crate) tokens: f64,
    pub(crate) refilled: Instant,
}

/// All listed rooms plus their indexes.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    entries: HashMap<SessionId, Entry>,
    by_addr: HashMap<SocketAddr, SessionId>,
    all: BTreeMap<SortKey, Filter>,
    by_version: HashMap<VersionKey, BTreeMap<SortKey, Filter>>,
    hasher: RandomState,
}

fn version_key(r: &SessionRecord) -> VersionKey {
    (r.game_version.as_str().into(), r.protocol_version)
}

impl Registry {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn get(&self, id: SessionId) -> Option<&Entry> {
        self.entries.get(&id)
    }

    pub(crate) fn get_mut(&mut self, id: SessionId) -> Option<&mut Entry> {
        self.entries.get_mut(&id)
    }

    pub(crate) fn at_addr(&self, addr: SocketAddr) -> Option<SessionId> {
        self.by_addr.get(&addr).copied()
    }

    pub(crate) fn insert(&mut self, e: Entry) {
        let id = e.record.session_id;
        self.index(&e.record);
        self.by_addr.insert(e.addr, id);
        self.entries.insert(id, e);
    }

    pub(crate) fn remove(&mut self, id: SessionId) -> Option<Entry> {
        let e = self.entries.remove(&id)?;
        self.unindex(&e.record);
        if self.by_addr.get(&e.addr) == Some(&id) {
            self.by_addr.remove(&e.addr);
        }
        Some(e)
    }

    /// Replaces a room's record (same id and address), keeping the indexes
    /// in step. Returns false for an unknown id.
    pub(crate) fn replace(&mut self, id: SessionId, record: SessionRecord, json: Box<str>) -> bool {
        let Some(old) = self.entries.get(&id).map(|e| e.record.clone()) else {
            return false;
        };
        self.unindex(&old);
        self.index(&record);
        if let Some(e) = self.entries.get_mut(&id) {
            e.record = record;
            e.json = json;
        }
        true
    }

    fn filter(&self, r: &SessionRecord) -> Filter {
        Filter {
            game_version: self.hasher.hash_one(r.game_version.as_str()),
            protocol_version: r.protocol_version,
            mode: self.hasher.hash_one(r.room.mode.as_str()),
            map: self.hasher.hash_one(r.room.map_id.as_str()),
            free_pilots: r.capacity.free_pilots(),
            has_password: r.has_password,
        }
    }

    fn index(&mut self, r: &SessionRecord) {
        let k = SortKey::of(r);
        let f = self.filter(r);
        self.by_version
            .entry(version_key(r))
            .or_default()
            .insert(k.clone(), f);
        self.all.insert(k, f);
    }

    fn unindex(&mut self, r: &SessionRecord) {
        let k = SortKey::of(r);
        self.all.remove(&k);
        let vk = version_key(r);
        if let Some(set) = self.by_version.get_mut(&vk) {
            set.remove(&k);
            if set.is_empty() {
                self.by_version.remove(&vk);
            }
        }
    }

    /// A page of matching rooms, in lobby order, and how many match in all.
    pub(crate) fn query(&self, q: &ListQuery) -> (u32, Vec<&Entry>) {
        let limit = q.limit as usize;
        let offset = q.offset as usize;
        let hash = |s: &Option<String>| s.as_deref().map(|s| self.hasher.hash_one(s));
        let mut wanted = Wanted {
            game_version: hash(&q.game_version),
            protocol_version: q.protocol_version,
            mode: hash(&q.mode),
            map: hash(&q.map_id),
            min_free_pilots: q.min_free_pilots,
            has_password: q.has_password,
        };
        let set = match (&q.game_version, q.protocol_version) {
            (Some(v), Some(p)) => {
                // The compatible set: the version filters are met already.
                let key: VersionKey = (v.as_str().into(), p);
                wanted.game_version = None;
                wanted.protocol_version = None;
                match self.by_version.get(&key) {
                    Some(s) => s,
                    None => return (0, Vec::new()),
                }
            }
            _ => &self.all,
        };
        let unfiltered = wanted.game_version.is_none()
            && wanted.protocol_version.is_none()
            && wanted.mode.is_none()
            && wanted.map.is_none()
            && wanted.min_free_pilots == 0
            && wanted.has_password.is_none();
        if unfiltered {
            let page = set
                .keys()
                .skip(offset)
                .take(limit)
                .filter_map(|k| self.entries.get(&k.id))
                .collect();
            return (set.len() as u32, page);
        }
        let mut total = 0u32;
        let mut page = Vec::with_capacity(limit.min(64));
        for (k, f) in set {
            if !wanted.admits(f) {
                continue;
            }
            if total as usize >= offset && page.len() < limit {
                match self.entries.get(&k.id) {
                    Some(e) if q.matches(&e.record) => page.push(e),
                    _ => continue,
                }
            }
            total += 1;
        }
        (total, page)
    }

    /// The same answer as [`Registry::query`] the naive way: filter every
    /// room, sort the matches, cut the page. The benchmark's baseline.
    pub(crate) fn query_linear(&self, q: &ListQuery) -> (u32, Vec<&Entry>) {
        let mut hits: Vec<(SortKey, &Entry)> = self
            .entries
            .values()
            .filter(|e| q.matches(&e.record))
            .map(|e| (SortKey::of(&e.record), e))
            .collect();
        hits.sort_by(|a, b| a.0.cmp(&b.0));
        let total = hits.len() as u32;
        let page = hits
            .into_iter()
            .skip(q.offset as usize)
            .take(q.limit as usize)
            .map(|(_, e)| e)
            .collect();
        (total, page)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }
}
