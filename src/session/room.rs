//! The room as Photon's game server keeps it: actors numbered from 1 and
//! never reused, the master client, room and actor properties with
//! check-and-set, interest groups, and the event cache replayed to
//! joiners. The host owns the authoritative copy and decides with it who
//! receives what; every client mirrors the parts it is told (actors,
//! properties, settings, master) so any peer's copy could seed a later
//! host. Pure data: no links, no time.

use std::collections::BTreeMap;
use std::fmt;

use crate::proto::room::{
    ActorNr, Caching, FilterKey, PropChanges, Props, PropsChanged, Raise, Receivers, RoomSettings,
    SetProps, MAX_ACTOR_PROP_BYTES, MAX_KEY_BYTES, MAX_PROPERTIES, MAX_ROOM_PROP_BYTES,
    MAX_VALUE_BYTES,
};

/// Most events the room's cache holds.
pub const MAX_CACHED_EVENTS: usize = 2048;
/// Most payload bytes the room's cache holds.
pub const MAX_CACHE_BYTES: usize = 1 << 20;

/// Why the room turned something down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoomError {
    /// The room is closed for joins (`open` is false).
    Closed,
    /// The room holds its most players already.
    Full(u8),
    /// Every actor number was used (four billion joins).
    NumbersUsedUp,
    /// The actor is not in the room.
    NoSuchActor(ActorNr),
    /// The event cache is at its limit; the event was not cached or sent.
    CacheFull,
    /// A property change outside the limits (which, in words).
    BadProperty(String),
    /// A check-and-set whose expectation no longer held (which key).
    Expectation(String),
}

impl fmt::Display for RoomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoomError::Closed => write!(f, "the room is closed"),
            RoomError::Full(n) => write!(f, "the room is full ({n} players)"),
            RoomError::NumbersUsedUp => write!(f, "the room has used up its player numbers"),
            RoomError::NoSuchActor(a) => write!(f, "no player with actor number {a}"),
            RoomError::CacheFull => write!(
                f,
                "the room's event cache is full ({MAX_CACHED_EVENTS} events or \
                 {MAX_CACHE_BYTES} bytes); the event was not sent"
            ),
            RoomError::BadProperty(why) => write!(f, "bad property: {why}"),
            RoomError::Expectation(why) => write!(f, "check-and-set failed: {why}"),
        }
    }
}

impl std::error::Error for RoomError {}

/// The interest groups one actor receives, 1 to 255.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Groups([u64; 4]);

impl Groups {
    fn has(&self, g: u8) -> bool {
        self.0[usize::from(g >> 6)] & (1 << (g & 63)) != 0
    }
    fn set(&mut self, g: u8, on: bool) {
        if g == 0 {
            return;
        }
        let bit = 1u64 << (g & 63);
        let word = &mut self.0[usize::from(g >> 6)];
        if on {
            *word |= bit;
        } else {
            *word &= !bit;
        }
    }
    /// Every group 1 to 255, or none (group 0 is everyone's, never a
    /// subscription).
    fn all(on: bool) -> Self {
        if on {
            Groups([!1, u64::MAX, u64::MAX, u64::MAX])
        } else {
            Groups([0; 4])
        }
    }
}

/// One player in the room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// Their number.
    pub nr: ActorNr,
    /// Their properties.
    pub props: Props,
    groups: Groups,
}

/// An event kept for joiners, in the order it was raised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedEvent {
    /// Who raised it (still named after they left, for a room-owned one).
    pub sender: ActorNr,
    /// The game's event code.
    pub code: u8,
    /// The content as the game serialized it.
    pub payload: Vec<u8>,
    keys: Vec<FilterKey>,
    /// Owned by the room: it stays when the sender leaves.
    global: bool,
}

/// The room's game-server state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomState {
    /// Settings the room acts on.
    pub settings: RoomSettings,
    /// The room's properties.
    pub props: Props,
    actors: BTreeMap<ActorNr, Actor>,
    master: ActorNr,
    next_actor: ActorNr,
    cache: Vec<CachedEvent>,
    cache_bytes: usize,
}

/// What raising an event did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Routed {
    /// Who receives it now, in actor order (the sender too when it asked).
    pub receivers: Vec<ActorNr>,
    /// Cached events it removed.
    pub removed: usize,
}

impl RoomState {
    /// A new room whose first player, the host, is actor 1 and master.
    pub fn new(settings: RoomSettings, props: Props, host_props: Props) -> Self {
        let mut room = RoomState::mirror();
        room.settings = settings;
        room.props = props;
        room.actors.insert(
            1,
            Actor {
                nr: 1,
                props: host_props,
                groups: Groups::default(),
            },
        );
        room.master = 1;
        room.next_actor = 2;
        room
    }

    /// An empty copy for a client to fill from what the host tells it.
    pub fn mirror() -> Self {
        RoomState {
            settings: RoomSettings::default(),
            props: Props::new(),
            actors: BTreeMap::new(),
            master: 0,
            next_actor: 1,
            cache: Vec::new(),
            cache_bytes: 0,
        }
    }

    /// The master client (0 while nobody is in the room).
    pub fn master(&self) -> ActorNr {
        self.master
    }

    /// Everyone in the room, by number.
    pub fn actors(&self) -> impl Iterator<Item = &Actor> + '_ {
        self.actors.values()
    }

    /// One player.
    pub fn actor(&self, nr: ActorNr) -> Option<&Actor> {
        self.actors.get(&nr)
    }

    /// How many players are in the room.
    pub fn len(&self) -> usize {
        self.actors.len()
    }

    /// True when nobody is.
    pub fn is_empty(&self) -> bool {
        self.actors.is_empty()
    }

    /// The cached events, oldest first, as a joiner receives them.
    pub fn cached(&self) -> &[CachedEvent] {
        &self.cache
    }

    /// Whether one more player may join (`extra`: players admitted but not
    /// yet in this table).
    pub fn admits(&self, extra: usize) -> Result<(), RoomError> {
        if !self.settings.open {
            return Err(RoomError::Closed);
        }
        let max = self.settings.max_players;
        if max > 0 && self.actors.len() + extra >= usize::from(max) {
            return Err(RoomError::Full(max));
        }
        if self.next_actor == ActorNr::MAX {
            return Err(RoomError::NumbersUsedUp);
        }
        Ok(())
    }

    /// The number the next joiner gets, taken for good.
    pub fn take_number(&mut self) -> Result<ActorNr, RoomError> {
        if self.next_actor == ActorNr::MAX {
            return Err(RoomError::NumbersUsedUp);
        }
        let nr = self.next_actor;
        self.next_actor += 1;
        Ok(nr)
    }

    /// Puts a player in the table with the properties they joined with
    /// (checked against the limits; a room's copy mirrors what it is told).
    pub fn insert(&mut self, nr: ActorNr, props: Props) -> Result<(), RoomError> {
        check_scope(&Props::new(), &as_changes(&props), MAX_ACTOR_PROP_BYTES)?;
        self.next_actor = self.next_actor.max(nr.saturating_add(1));
        self.actors.insert(
            nr,
            Actor {
                nr,
                props,
                groups: Groups::default(),
            },
        );
        if self.master == 0 {
            self.master = nr;
        }
        Ok(())
    }

    /// Sets the master client as the host says (a mirror).
    pub fn set_master(&mut self, nr: ActorNr) {
        self.master = nr;
    }

    /// Takes a player out. Returns the new master when the master left (the
    /// lowest number still in the room, as Photon picks). Their cached
    /// events go with them when the room cleans up after leavers.
    pub fn remove(&mut self, nr: ActorNr) -> Option<ActorNr> {
        self.actors.remove(&nr)?;
        if self.settings.cleanup_cache_on_leave {
            self.drop_cached(|e| !e.global && e.sender == nr);
        }
        if self.master == nr {
            self.master = self.actors.keys().next().copied().unwrap_or(0);
            return Some(self.master);
        }
        None
    }

    fn drop_cached(&mut self, mut gone: impl FnMut(&CachedEvent) -> bool) -> usize {
        let before = self.cache.len();
        let mut freed = 0;
        self.cache.retain(|e| {
            let drop = gone(e);
            if drop {
                freed += e.payload.len();
            }
            !drop
        });
        self.cache_bytes -= freed;
        before - self.cache.len()
    }

    /// Raises `ev` from `sender`: applies its caching option and says who
    /// receives it now. A removal from the cache reaches nobody.
    pub fn raise(&mut self, sender: ActorNr, ev: &Raise) -> Result<Routed, RoomError> {
        if !self.actors.contains_key(&sender) {
            return Err(RoomError::NoSuchActor(sender));
        }
        let mut routed = Routed::default();
        match ev.caching {
            Caching::RemoveFromRoomCache => {
                routed.removed = self.drop_cached(|e| {
                    (ev.code == 0 || e.code == ev.code)
                        && (ev.targets.is_empty() || ev.targets.contains(&e.sender))
                        && ev.keys.iter().all(|k| e.keys.contains(k))
                });
                return Ok(routed);
            }
            Caching::RemoveFromRoomCacheForActorsLeft => {
                let present: Vec<ActorNr> = self.actors.keys().copied().collect();
                routed.removed = self.drop_cached(|e| !e.global && !present.contains(&e.sender));
                return Ok(routed);
            }
            Caching::AddToRoomCache | Caching::AddToRoomCacheGlobal => {
                if self.cache.len() >= MAX_CACHED_EVENTS
                    || self.cache_bytes + ev.payload.len() > MAX_CACHE_BYTES
                {
                    return Err(RoomError::CacheFull);
                }
                self.cache_bytes += ev.payload.len();
                self.cache.push(CachedEvent {
                    sender,
                    code: ev.code,
                    payload: ev.payload.clone(),
                    keys: ev.keys.clone(),
                    global: ev.caching == Caching::AddToRoomCacheGlobal,
                });
            }
            Caching::DoNotCache => {}
        }
        routed.receivers = if !ev.targets.is_empty() {
            self.actors
                .keys()
                .copied()
                .filter(|a| ev.targets.contains(a))
                .collect()
        } else if ev.group != 0 {
            self.actors
                .values()
                .filter(|a| a.nr != sender && a.groups.has(ev.group))
                .map(|a| a.nr)
                .collect()
        } else {
            match ev.receivers {
                Receivers::Others => self
                    .actors
                    .keys()
                    .copied()
                    .filter(|&a| a != sender)
                    .collect(),
                Receivers::All => self.actors.keys().copied().collect(),
                Receivers::MasterClient => vec![self.master],
            }
        };
        Ok(routed)
    }

    /// Changes properties for `by`, checking the expectations of a
    /// check-and-set first and the limits after; nothing changes unless
    /// everything holds. Returns what everyone is told.
    pub fn set_props(&mut self, by: ActorNr, req: &SetProps) -> Result<PropsChanged, RoomError> {
        let current = match req.target {
            0 => &self.props,
            a => &self.actors.get(&a).ok_or(RoomError::NoSuchActor(a))?.props,
        };
        for (k, want) in &req.expected {
            if current.get(k) != want.as_ref() {
                return Err(RoomError::Expectation(format!(
                    "key {} no longer has the expected value",
                    describe_key(k)
                )));
            }
        }
        let exp = &req.expected_settings;
        let s = &self.settings;
        let held = exp.max_players.is_none_or(|v| v == s.max_players)
            && exp.open.is_none_or(|v| v == s.open)
            && exp.visible.is_none_or(|v| v == s.visible)
            && exp.master.is_none_or(|v| v == self.master);
        if !held {
            return Err(RoomError::Expectation(
                "the room's settings or master client changed".into(),
            ));
        }
        let limit = if req.target == 0 {
            MAX_ROOM_PROP_BYTES
        } else {
            MAX_ACTOR_PROP_BYTES
        };
        check_scope(current, &req.changes, limit)?;
        if let Some(m) = req.settings.master {
            if !self.actors.contains_key(&m) {
                return Err(RoomError::NoSuchActor(m));
            }
        }
        let changed = PropsChanged {
            target: req.target,
            by,
            cas: req.is_cas(),
            settings: req.settings,
            changes: req.changes.clone(),
        };
        self.apply(&changed);
        Ok(changed)
    }

    /// Applies a change the host made, on a mirror, within the limits the
    /// host itself keeps: a change that would take a scope past them (only
    /// a hostile or broken host sends one) is refused whole, and the mirror
    /// stays as it was.
    pub fn apply_mirrored(&mut self, ch: &PropsChanged) -> Result<(), RoomError> {
        let (current, limit) = match ch.target {
            0 => (&self.props, MAX_ROOM_PROP_BYTES),
            a => (
                &self.actors.get(&a).ok_or(RoomError::NoSuchActor(a))?.props,
                MAX_ACTOR_PROP_BYTES,
            ),
        };
        check_scope(current, &ch.changes, limit)?;
        self.apply(ch);
        Ok(())
    }

    /// Applies a change just checked.
    pub fn apply(&mut self, ch: &PropsChanged) {
        let s = &ch.settings;
        if ch.target == 0 {
            if let Some(v) = s.max_players {
                self.settings.max_players = v;
            }
            if let Some(v) = s.open {
                self.settings.open = v;
            }
            if let Some(v) = s.visible {
                self.settings.visible = v;
            }
            if let Some(m) = s.master {
                self.master = m;
            }
        }
        let props = match ch.target {
            0 => &mut self.props,
            a => match self.actors.get_mut(&a) {
                Some(actor) => &mut actor.props,
                None => return,
            },
        };
        for (k, v) in &ch.changes {
            match v {
                Some(v) => {
                    props.insert(k.clone(), v.clone());
                }
                None => {
                    props.remove(k);
                }
            }
        }
    }

    /// Changes the interest groups `actor` receives.
    pub fn change_groups(&mut self, actor: ActorNr, remove: Option<&[u8]>, add: Option<&[u8]>) {
        let Some(a) = self.actors.get_mut(&actor) else {
            return;
        };
        match remove {
            Some([]) => a.groups = Groups::all(false),
            Some(list) => list.iter().for_each(|&g| a.groups.set(g, false)),
            None => {}
        }
        match add {
            Some([]) => a.groups = Groups::all(true),
            Some(list) => list.iter().for_each(|&g| a.groups.set(g, true)),
            None => {}
        }
    }

    /// True when `actor` receives interest group `group`.
    pub fn in_group(&self, actor: ActorNr, group: u8) -> bool {
        group == 0 || self.actors.get(&actor).is_some_and(|a| a.groups.has(group))
    }
}

fn as_changes(props: &Props) -> PropChanges {
    props
        .iter()
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .collect()
}

/// Checks that applying `changes` to `current` stays within the key,
/// value, count and total-size limits.
fn check_scope(current: &Props, changes: &PropChanges, limit: usize) -> Result<(), RoomError> {
    let mut count = current.len();
    let mut bytes: usize = current.iter().map(|(k, v)| k.len() + v.len()).sum();
    for (k, v) in changes {
        if k.is_empty() || k.len() > MAX_KEY_BYTES {
            return Err(RoomError::BadProperty(format!(
                "a key must be 1 to {MAX_KEY_BYTES} bytes, not {}",
                k.len()
            )));
        }
        if let Some(old) = current.get(k) {
            count -= 1;
            bytes -= k.len() + old.len();
        }
        if let Some(v) = v {
            if v.len() > MAX_VALUE_BYTES {
                return Err(RoomError::BadProperty(format!(
                    "the value of {} is {} bytes; at most {MAX_VALUE_BYTES} are allowed",
                    describe_key(k),
                    v.len()
                )));
            }
            count += 1;
            bytes += k.len() + v.len();
        }
    }
    if count > MAX_PROPERTIES {
        return Err(RoomError::BadProperty(format!(
            "more than {MAX_PROPERTIES} properties"
        )));
    }
    if bytes > limit {
        return Err(RoomError::BadProperty(format!(
            "{bytes} bytes of properties; at most {limit} are allowed"
        )));
    }
    Ok(())
}

/// A key for a message: as text when it is printable UTF-8, else hex.
pub(crate) fn describe_key(k: &[u8]) -> String {
    match std::str::from_utf8(k) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => format!("{s:?}"),
        _ => format!("0x{}", crate::proto::room::hex_props::encode(k)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::room::SettingsChange;

    fn room() -> RoomState {
        let mut r = RoomState::new(RoomSettings::default(), Props::new(), Props::new());
        for _ in 0..3 {
            let nr = r.take_number().unwrap();
            r.insert(nr, Props::new()).unwrap();
        }
        r
    }

    fn ev(code: u8) -> Raise {
        Raise {
            code,
            reliable: true,
            ..Raise::default()
        }
    }

    fn key(k: u8, v: u32) -> FilterKey {
        (vec![0x62, k], {
            let mut b = vec![0x69];
            b.extend_from_slice(&v.to_be_bytes());
            b
        })
    }

    #[test]
    fn numbers_start_at_one_and_are_never_reused() {
        let mut r = room();
        assert_eq!(r.actors().map(|a| a.nr).collect::<Vec<_>>(), [1, 2, 3, 4]);
        r.remove(4);
        let nr = r.take_number().unwrap();
        assert_eq!(nr, 5, "a leaver's number is not given again");
        r.next_actor = ActorNr::MAX;
        assert_eq!(r.take_number(), Err(RoomError::NumbersUsedUp));
        assert_eq!(r.admits(0), Err(RoomError::NumbersUsedUp));
    }

    #[test]
    fn routing_follows_receivers_targets_and_groups() {
        let mut r = room();
        let to = |r: &mut RoomState, from, e: Raise| r.raise(from, &e).unwrap().receivers;
        assert_eq!(to(&mut r, 2, ev(1)), [1, 3, 4]);
        let all = Raise {
            receivers: Receivers::All,
            ..ev(1)
        };
        assert_eq!(to(&mut r, 2, all), [1, 2, 3, 4]);
        let master = Raise {
            receivers: Receivers::MasterClient,
            ..ev(1)
        };
        assert_eq!(to(&mut r, 3, master.clone()), [1]);
        let targets = Raise {
            targets: vec![4, 2, 99],
            ..ev(1)
        };
        assert_eq!(
            to(&mut r, 2, targets),
            [2, 4],
            "unknown targets are skipped"
        );
        // Group 5: only its subscribers, never the sender.
        r.change_groups(3, None, Some(&[5]));
        r.change_groups(2, None, Some(&[]));
        let grouped = Raise { group: 5, ..ev(1) };
        assert_eq!(to(&mut r, 2, grouped.clone()), [3]);
        assert_eq!(to(&mut r, 3, grouped.clone()), [2]);
        r.change_groups(2, Some(&[5]), None);
        assert_eq!(to(&mut r, 3, grouped.clone()), Vec::<ActorNr>::new());
        assert!(r.in_group(2, 6) && !r.in_group(2, 5) && r.in_group(4, 0));
        r.change_groups(2, Some(&[]), None);
        assert!(!r.in_group(2, 6));
        // The master moves when the master leaves: the lowest number.
        r.set_master(3);
        assert_eq!(to(&mut r, 4, master.clone()), [3]);
        assert_eq!(r.remove(2), None, "not the master");
        assert_eq!(r.remove(3), Some(1));
        assert_eq!(to(&mut r, 4, master), [1]);
        assert_eq!(r.raise(9, &ev(1)), Err(RoomError::NoSuchActor(9)));
    }

    #[test]
    fn the_cache_adds_removes_by_code_sender_and_keys_and_cleans_up_leavers() {
        let mut r = room();
        let add = |code, keys: Vec<FilterKey>, global| Raise {
            caching: if global {
                Caching::AddToRoomCacheGlobal
            } else {
                Caching::AddToRoomCache
            },
            keys,
            payload: vec![code],
            ..ev(code)
        };
        // Two instantiations and two RPCs of player 2, one room-owned event
        // of player 3, one instantiation of player 4.
        for (from, e) in [
            (2, add(202, vec![key(7, 2001)], false)),
            (2, add(200, vec![key(0, 2001)], false)),
            (2, add(202, vec![key(7, 2002)], false)),
            (2, add(200, vec![key(0, 2002)], false)),
            (3, add(204, vec![key(0, 3001)], true)),
            (4, add(202, vec![key(7, 4001)], false)),
        ] {
            assert_eq!(r.raise(from, &e).unwrap().receivers.len(), 3);
        }
        assert_eq!(r.cached().len(), 6);
        // Removing RPCs of view 2001 (a filter on key 0), from anyone.
        let by_view = Raise {
            caching: Caching::RemoveFromRoomCache,
            keys: vec![key(0, 2001)],
            ..ev(200)
        };
        let routed = r.raise(2, &by_view).unwrap();
        assert_eq!((routed.removed, routed.receivers.len()), (1, 0));
        // Removing player 2's instantiations (targets name the sender).
        let by_sender = Raise {
            caching: Caching::RemoveFromRoomCache,
            targets: vec![2],
            ..ev(202)
        };
        assert_eq!(r.raise(1, &by_sender).unwrap().removed, 2);
        let left: Vec<(ActorNr, u8)> = r.cached().iter().map(|e| (e.sender, e.code)).collect();
        assert_eq!(left, [(2, 200), (3, 204), (4, 202)], "order kept");
        // Player 2 leaves: its events go; player 3's room-owned one stays.
        r.remove(2);
        r.remove(3);
        let left: Vec<(ActorNr, u8)> = r.cached().iter().map(|e| (e.sender, e.code)).collect();
        assert_eq!(left, [(3, 204), (4, 202)]);
        // Code 0 with no filter and no targets clears everything.
        let all = Raise {
            caching: Caching::RemoveFromRoomCache,
            ..ev(0)
        };
        assert_eq!(r.raise(1, &all).unwrap().removed, 2);
        assert_eq!(r.cache_bytes, 0);
    }

    #[test]
    fn a_room_that_keeps_leavers_events_clears_them_on_request_and_the_cache_is_bounded() {
        let settings = RoomSettings {
            cleanup_cache_on_leave: false,
            ..RoomSettings::default()
        };
        let mut r = RoomState::new(settings, Props::new(), Props::new());
        let two = r.take_number().unwrap();
        r.insert(two, Props::new()).unwrap();
        let cached = Raise {
            caching: Caching::AddToRoomCache,
            payload: vec![0; 1000],
            ..ev(9)
        };
        r.raise(two, &cached).unwrap();
        r.remove(two);
        assert_eq!(r.cached().len(), 1, "kept after the leave");
        let clear = Raise {
            caching: Caching::RemoveFromRoomCacheForActorsLeft,
            ..ev(0)
        };
        assert_eq!(r.raise(1, &clear).unwrap().removed, 1);
        // Bounded: by count...
        let small = Raise {
            payload: vec![1],
            ..cached.clone()
        };
        for _ in 0..MAX_CACHED_EVENTS {
            r.raise(1, &small).unwrap();
        }
        assert_eq!(r.raise(1, &small), Err(RoomError::CacheFull));
        // ...and by bytes.
        let mut r = RoomState::new(RoomSettings::default(), Props::new(), Props::new());
        let big = Raise {
            payload: vec![0; MAX_CACHE_BYTES / 2 + 1],
            ..cached
        };
        r.raise(1, &big).unwrap();
        assert_eq!(r.raise(1, &big), Err(RoomError::CacheFull));
        assert_eq!(r.cached().len(), 1);
    }

    #[test]
    fn properties_check_and_set_and_stay_within_limits() {
        let mut r = room();
        let set = |target, k: &[u8], v: Option<&[u8]>| SetProps {
            target,
            changes: PropChanges::from([(k.to_vec(), v.map(<[u8]>::to_vec))]),
            ..SetProps::default()
        };
        let ch = r.set_props(2, &set(0, b"map", Some(b"a"))).unwrap();
        assert_eq!((ch.by, ch.cas), (2, false));
        assert_eq!(r.props.get(&b"map"[..]), Some(&b"a".to_vec()));
        // Check-and-set: applied only while the value is the expected one.
        let mut cas = set(0, b"map", Some(b"b"));
        cas.expected = PropChanges::from([(b"map".to_vec(), Some(b"a".to_vec()))]);
        assert!(r.set_props(3, &cas).unwrap().cas);
        assert!(matches!(
            r.set_props(4, &cas),
            Err(RoomError::Expectation(_))
        ));
        assert_eq!(r.props.get(&b"map"[..]), Some(&b"b".to_vec()));
        // The master by check-and-set, as PUN's SetMasterClient does it.
        let master = SetProps {
            settings: SettingsChange {
                master: Some(3),
                ..Default::default()
            },
            expected_settings: SettingsChange {
                master: Some(1),
                ..Default::default()
            },
            ..SetProps::default()
        };
        r.set_props(1, &master).unwrap();
        assert_eq!(r.master(), 3);
        assert!(
            r.set_props(1, &master).is_err(),
            "the master is no longer 1"
        );
        // A player's own properties, removal included.
        r.set_props(2, &set(2, b"ready", Some(b"1"))).unwrap();
        r.set_props(2, &set(2, b"ready", None)).unwrap();
        assert!(r.actor(2).unwrap().props.is_empty());
        assert_eq!(
            r.set_props(2, &set(9, b"x", Some(b"1"))),
            Err(RoomError::NoSuchActor(9))
        );
        // Limits: per value, per count, per total, and nothing half-applied.
        assert!(r
            .set_props(2, &set(2, b"v", Some(&[0; MAX_VALUE_BYTES + 1])))
            .is_err());
        let many = SetProps {
            target: 2,
            changes: (0..=MAX_PROPERTIES as u16)
                .map(|i| (i.to_be_bytes().to_vec(), Some(vec![1])))
                .collect(),
            ..SetProps::default()
        };
        assert!(r.set_props(2, &many).is_err());
        let heavy = SetProps {
            target: 2,
            changes: (0..3u8)
                .map(|i| (vec![i], Some(vec![0; MAX_VALUE_BYTES])))
                .collect(),
            ..SetProps::default()
        };
        assert!(
            matches!(r.set_props(2, &heavy), Err(RoomError::BadProperty(m)) if m.contains("8192"))
        );
        assert!(r.actor(2).unwrap().props.is_empty(), "nothing was applied");
    }

    #[test]
    fn a_closed_or_full_room_admits_nobody_and_a_mirror_follows_the_host() {
        let mut r = room();
        r.settings.max_players = 5;
        assert_eq!(r.admits(0), Ok(()));
        assert_eq!(r.admits(1), Err(RoomError::Full(5)), "one is on the way");
        r.settings.open = false;
        assert_eq!(r.admits(0), Err(RoomError::Closed));

        let mut m = RoomState::mirror();
        m.insert(1, Props::new()).unwrap();
        m.insert(3, Props::from([(b"n".to_vec(), b"x".to_vec())]))
            .unwrap();
        assert_eq!(m.master(), 1);
        m.apply(&PropsChanged {
            target: 0,
            by: 3,
            cas: false,
            settings: SettingsChange {
                open: Some(false),
                master: Some(3),
                ..Default::default()
            },
            changes: PropChanges::from([(b"k".to_vec(), Some(b"v".to_vec()))]),
        });
        assert!(!m.settings.open);
        assert_eq!(m.master(), 3);
        assert_eq!(m.remove(3), Some(1));
        assert_eq!(m.take_number().unwrap(), 4, "a mirror's numbering follows");
    }
}
