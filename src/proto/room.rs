//! What travels for the room's game-server side (Photon's operations as
//! PUN sends them): raised events with their routing and caching options,
//! property changes with check-and-set, interest groups. Keys, values and
//! payloads are opaque bytes as the game serialized them; this module
//! never looks inside them. Binary, bounded, and checked on the way in.

use std::collections::BTreeMap;

use super::wire::{Reader, WireError};

/// A player's number in the room, as Photon's actor numbers: from 1 (the
/// host), never reused while the room lives.
pub type ActorNr = u32;

/// Property values by key, as the game serialized them.
pub type Props = BTreeMap<Vec<u8>, Vec<u8>>;
/// Property changes: a new value, or `None` to remove the key.
pub type PropChanges = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Largest property key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest property value, in bytes.
pub const MAX_VALUE_BYTES: usize = 4096;
/// Most properties the room, or one player, may hold.
pub const MAX_PROPERTIES: usize = 64;
/// Most bytes (keys and values) of the room's properties.
pub const MAX_ROOM_PROP_BYTES: usize = 16 * 1024;
/// Most bytes (keys and values) of one player's properties.
pub const MAX_ACTOR_PROP_BYTES: usize = 8 * 1024;
/// Most key/value pairs an event carries beside its payload for cache
/// filtering, and the largest of each.
pub const MAX_FILTER_KEYS: usize = 16;
/// Largest filter key or value, in bytes.
pub const MAX_FILTER_BYTES: usize = 255;
/// Most actors one event may name as its targets.
pub const MAX_TARGETS: usize = 64;

/// Who receives an event when it names no target actors (Photon's
/// `ReceiverGroup`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum Receivers {
    /// Everyone but the sender.
    #[default]
    Others = 0,
    /// Everyone, the sender too.
    All = 1,
    /// The master client only.
    MasterClient = 2,
}

impl Receivers {
    /// Reads Photon's number.
    pub fn from_u8(b: u8) -> Result<Self, WireError> {
        Ok(match b {
            0 => Receivers::Others,
            1 => Receivers::All,
            2 => Receivers::MasterClient,
            _ => return Err(WireError::Invalid("event receivers")),
        })
    }
}

/// What the room's event cache does with an event (Photon's
/// `EventCaching`; the older Lite options are not offered).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum Caching {
    /// Delivered, not cached.
    #[default]
    DoNotCache = 0,
    /// Delivered and cached as the sender's: replayed to every joiner,
    /// removed when the sender leaves (unless the room keeps a leaver's
    /// events).
    AddToRoomCache = 4,
    /// Delivered and cached as the room's: stays when the sender leaves.
    AddToRoomCacheGlobal = 5,
    /// Not delivered: removes the cached events matching its code (0: any),
    /// its target actors as senders (none: any) and its filter keys.
    RemoveFromRoomCache = 6,
    /// Not delivered: removes the cached events of players who left.
    RemoveFromRoomCacheForActorsLeft = 7,
}

impl Caching {
    /// Reads Photon's number; options this room does not offer are refused.
    pub fn from_u8(b: u8) -> Result<Self, WireError> {
        Ok(match b {
            0 => Caching::DoNotCache,
            4 => Caching::AddToRoomCache,
            5 => Caching::AddToRoomCacheGlobal,
            6 => Caching::RemoveFromRoomCache,
            7 => Caching::RemoveFromRoomCacheForActorsLeft,
            _ => return Err(WireError::Invalid("event caching option")),
        })
    }

    /// True for the options that only change the cache.
    pub fn removes(self) -> bool {
        matches!(
            self,
            Caching::RemoveFromRoomCache | Caching::RemoveFromRoomCacheForActorsLeft
        )
    }
}

/// One key/value pair of an event's content, carried beside its payload
/// so the room can match cache filters without reading the payload.
pub type FilterKey = (Vec<u8>, Vec<u8>);

/// An event a player raises, with Photon's routing and caching options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Raise {
    /// The game's event code.
    pub code: u8,
    /// Who receives it when `targets` is empty.
    pub receivers: Receivers,
    /// Exactly these actors receive it (Photon's `TargetActors`); with
    /// `RemoveFromRoomCache`, the senders whose cached events go.
    pub targets: Vec<ActorNr>,
    /// Interest group: 0 reaches everyone, any other only its subscribers.
    pub group: u8,
    /// What the event cache does with it.
    pub caching: Caching,
    /// Top-level entries of the content, for cache filters (a removal's
    /// filter, or an added event's entries to be matched later).
    pub keys: Vec<FilterKey>,
    /// Reliable and ordered (else on the per-tick lane, latest wins).
    pub reliable: bool,
    /// Unreliable events with the same non-zero slot from one sender
    /// replace each other while still waiting to go out (a view's state);
    /// 0: never replaced.
    pub slot: u32,
    /// The content as the game serialized it (empty: none).
    pub payload: Vec<u8>,
}

/// The room's settings that the room itself acts on (Photon's well-known
/// room properties).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RoomSettings {
    /// Most players in the room (0: as many as it has seats).
    pub max_players: u8,
    /// Joins are accepted.
    pub open: bool,
    /// Listed in the lobby.
    pub visible: bool,
    /// A leaver's cached events go with them.
    pub cleanup_cache_on_leave: bool,
}

impl Default for RoomSettings {
    fn default() -> Self {
        RoomSettings {
            max_players: 0,
            open: true,
            visible: true,
            cleanup_cache_on_leave: true,
        }
    }
}

/// A change of (or, in a check-and-set, an expectation about) the room's
/// settings and its master client; `None`: untouched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SettingsChange {
    /// Most players.
    pub max_players: Option<u8>,
    /// Open for joins.
    pub open: Option<bool>,
    /// Listed.
    pub visible: Option<bool>,
    /// The master client.
    pub master: Option<ActorNr>,
}

impl SettingsChange {
    /// True when nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == SettingsChange::default()
    }
}

/// A request to change properties (Photon's SetProperties).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetProps {
    /// Echoed in a refusal, so the game can tell its requests apart.
    pub request: u32,
    /// 0: the room; else the actor whose properties change.
    pub target: ActorNr,
    /// The room's settings (room only).
    pub settings: SettingsChange,
    /// Opaque properties.
    pub changes: PropChanges,
    /// Check-and-set: applied only if these settings still hold...
    pub expected_settings: SettingsChange,
    /// ...and these keys still have these values (`None`: absent).
    pub expected: PropChanges,
}

impl SetProps {
    /// True for a check-and-set.
    pub fn is_cas(&self) -> bool {
        !self.expected.is_empty() || !self.expected_settings.is_empty()
    }
}

/// Properties that changed, as everyone is told.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PropsChanged {
    /// 0: the room; else the actor.
    pub target: ActorNr,
    /// Who changed them.
    pub by: ActorNr,
    /// It was a check-and-set (the setter is told too, having not applied
    /// the change itself).
    pub cas: bool,
    /// The room's settings that changed.
    pub settings: SettingsChange,
    /// Opaque properties that changed.
    pub changes: PropChanges,
}

/// A change of the interest groups a player receives (Photon's
/// ChangeGroups): `None` leaves that side alone, an empty list means every
/// group (1 to 255).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupChange {
    /// Groups to leave.
    pub remove: Option<Vec<u8>>,
    /// Groups to join.
    pub add: Option<Vec<u8>>,
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Length markers for a removed property value.
const NO_VALUE: u16 = u16::MAX;

/// Appends property changes: a count, then key and value (or none) each
/// with a 16-bit length.
pub fn write_changes(out: &mut Vec<u8>, changes: &PropChanges) {
    put_u16(out, changes.len().min(usize::from(u16::MAX)) as u16);
    for (k, v) in changes.iter().take(usize::from(u16::MAX)) {
        put_u16(out, k.len() as u16);
        out.extend_from_slice(k);
        match v {
            Some(v) => {
                put_u16(out, v.len() as u16);
                out.extend_from_slice(v);
            }
            None => put_u16(out, NO_VALUE),
        }
    }
}

/// Appends properties (all set).
pub fn write_props(out: &mut Vec<u8>, props: &Props) {
    put_u16(out, props.len().min(usize::from(u16::MAX)) as u16);
    for (k, v) in props.iter().take(usize::from(u16::MAX)) {
        put_u16(out, k.len() as u16);
        out.extend_from_slice(k);
        put_u16(out, v.len() as u16);
        out.extend_from_slice(v);
    }
}

/// Reads what [`write_changes`] wrote, with keys and values within the
/// limits; a key given twice is an error.
pub fn read_changes(r: &mut Reader<'_>) -> Result<PropChanges, WireError> {
    let n = usize::from(r.u16("property count")?);
    if n > MAX_PROPERTIES {
        return Err(WireError::Invalid("too many properties"));
    }
    let mut out = PropChanges::new();
    for _ in 0..n {
        let klen = usize::from(r.u16("property key length")?);
        if klen == 0 || klen > MAX_KEY_BYTES {
            return Err(WireError::Invalid("property key length"));
        }
        let key = r.bytes(klen, "property key")?.to_vec();
        let vlen = r.u16("property value length")?;
        let value = if vlen == NO_VALUE {
            None
        } else if usize::from(vlen) > MAX_VALUE_BYTES {
            return Err(WireError::Invalid("property value length"));
        } else {
            Some(r.bytes(usize::from(vlen), "property value")?.to_vec())
        };
        if out.insert(key, value).is_some() {
            return Err(WireError::Invalid("a property key given twice"));
        }
    }
    Ok(out)
}

/// Reads what [`write_props`] wrote (a removal marker is an error here).
pub fn read_props(r: &mut Reader<'_>) -> Result<Props, WireError> {
    let mut props = Props::new();
    for (k, v) in read_changes(r)? {
        let v = v.ok_or(WireError::Invalid("a property without a value"))?;
        props.insert(k, v);
    }
    Ok(props)
}

/// Settings as 8 bytes: which are set, then each.
fn write_settings(out: &mut Vec<u8>, s: &SettingsChange) {
    let mask = u8::from(s.max_players.is_some())
        | u8::from(s.open.is_some()) << 1
        | u8::from(s.visible.is_some()) << 2
        | u8::from(s.master.is_some()) << 3;
    out.push(mask);
    out.push(s.max_players.unwrap_or(0));
    out.push(u8::from(s.open.unwrap_or(false)));
    out.push(u8::from(s.visible.unwrap_or(false)));
    put_u32(out, s.master.unwrap_or(0));
}

fn read_settings(r: &mut Reader<'_>) -> Result<SettingsChange, WireError> {
    let mask = r.u8("settings mask")?;
    if mask & !0x0f != 0 {
        return Err(WireError::Invalid("settings mask"));
    }
    let max = r.u8("max players")?;
    let open = r.u8("open")?;
    let visible = r.u8("visible")?;
    let master = r.u32("master client")?;
    if open > 1 || visible > 1 || (mask & 8 != 0 && master == 0) {
        return Err(WireError::Invalid("settings value"));
    }
    Ok(SettingsChange {
        max_players: (mask & 1 != 0).then_some(max),
        open: (mask & 2 != 0).then_some(open == 1),
        visible: (mask & 4 != 0).then_some(visible == 1),
        master: (mask & 8 != 0).then_some(master),
    })
}

impl Raise {
    /// Appends the event as a client sends it.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.code);
        out.push(self.receivers as u8);
        out.push(self.caching as u8);
        out.push(self.group);
        out.push(u8::from(self.reliable));
        let targets = &self.targets[..self.targets.len().min(MAX_TARGETS)];
        out.push(targets.len() as u8);
        for t in targets {
            put_u32(out, *t);
        }
        put_u32(out, self.slot);
        let keys = &self.keys[..self.keys.len().min(MAX_FILTER_KEYS)];
        out.push(keys.len() as u8);
        for (k, v) in keys {
            out.push(k.len().min(MAX_FILTER_BYTES) as u8);
            out.extend_from_slice(&k[..k.len().min(MAX_FILTER_BYTES)]);
            out.push(v.len().min(MAX_FILTER_BYTES) as u8);
            out.extend_from_slice(&v[..v.len().min(MAX_FILTER_BYTES)]);
        }
        out.extend_from_slice(&self.payload);
    }

    /// Reads an event as [`Raise::encode_into`] wrote it; the payload is
    /// the rest, at most `max_payload` bytes.
    pub fn decode(r: &mut Reader<'_>, max_payload: usize) -> Result<Self, WireError> {
        let code = r.u8("event code")?;
        let receivers = Receivers::from_u8(r.u8("event receivers")?)?;
        let caching = Caching::from_u8(r.u8("event caching")?)?;
        let group = r.u8("event group")?;
        let reliable = match r.u8("event reliability")? {
            0 => false,
            1 => true,
            _ => return Err(WireError::Invalid("event reliability")),
        };
        let n = usize::from(r.u8("event target count")?);
        if n > MAX_TARGETS {
            return Err(WireError::Invalid("too many event targets"));
        }
        let mut targets = Vec::with_capacity(n);
        for _ in 0..n {
            targets.push(r.u32("event target")?);
        }
        let slot = r.u32("event slot")?;
        let k = usize::from(r.u8("event key count")?);
        if k > MAX_FILTER_KEYS {
            return Err(WireError::Invalid("too many event keys"));
        }
        let mut keys = Vec::with_capacity(k);
        for _ in 0..k {
            let kl = usize::from(r.u8("event key length")?);
            let key = r.bytes(kl, "event key")?.to_vec();
            let vl = usize::from(r.u8("event key value length")?);
            let value = r.bytes(vl, "event key value")?.to_vec();
            keys.push((key, value));
        }
        let payload = r.rest();
        if payload.len() > max_payload {
            return Err(WireError::Invalid("event payload size"));
        }
        Ok(Raise {
            code,
            receivers,
            targets,
            group,
            caching,
            keys,
            reliable,
            slot,
            payload: payload.to_vec(),
        })
    }
}

impl SetProps {
    /// Appends the request.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        put_u32(out, self.request);
        put_u32(out, self.target);
        write_settings(out, &self.settings);
        write_changes(out, &self.changes);
        write_settings(out, &self.expected_settings);
        write_changes(out, &self.expected);
    }

    /// Reads a request; settings for a player (not the room) are refused.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let request = r.u32("request id")?;
        let target = r.u32("property target")?;
        let settings = read_settings(r)?;
        let changes = read_changes(r)?;
        let expected_settings = read_settings(r)?;
        let expected = read_changes(r)?;
        if target != 0 && !(settings.is_empty() && expected_settings.is_empty()) {
            return Err(WireError::Invalid("room settings in a player's properties"));
        }
        Ok(SetProps {
            request,
            target,
            settings,
            changes,
            expected_settings,
            expected,
        })
    }
}

impl PropsChanged {
    /// Appends the change.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        put_u32(out, self.target);
        put_u32(out, self.by);
        out.push(u8::from(self.cas));
        write_settings(out, &self.settings);
        write_changes(out, &self.changes);
    }

    /// Reads a change.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let target = r.u32("property target")?;
        let by = r.u32("property setter")?;
        let cas = match r.u8("check-and-set flag")? {
            0 => false,
            1 => true,
            _ => return Err(WireError::Invalid("check-and-set flag")),
        };
        let settings = read_settings(r)?;
        let changes = read_changes(r)?;
        if target != 0 && !settings.is_empty() {
            return Err(WireError::Invalid("room settings in a player's properties"));
        }
        Ok(PropsChanged {
            target,
            by,
            cas,
            settings,
            changes,
        })
    }
}

impl GroupChange {
    /// Appends the change.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        for side in [&self.remove, &self.add] {
            match side {
                None => out.push(0),
                Some(groups) => {
                    out.push(1);
                    let g = &groups[..groups.len().min(255)];
                    out.push(g.len() as u8);
                    out.extend_from_slice(g);
                }
            }
        }
    }

    /// Reads a change.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let side = |r: &mut Reader<'_>| -> Result<Option<Vec<u8>>, WireError> {
            match r.u8("group list flag")? {
                0 => Ok(None),
                1 => {
                    let n = usize::from(r.u8("group count")?);
                    Ok(Some(r.bytes(n, "groups")?.to_vec()))
                }
                _ => Err(WireError::Invalid("group list flag")),
            }
        };
        let remove = side(r)?;
        let add = side(r)?;
        Ok(GroupChange { remove, add })
    }
}

/// `Props` and `PropChanges` in JSON control messages: a list of
/// `[key, value]` pairs in lowercase hex (`null` for a removed value), as
/// JSON has no byte strings.
pub mod hex_props {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{Props, MAX_ACTOR_PROP_BYTES, MAX_KEY_BYTES, MAX_PROPERTIES, MAX_VALUE_BYTES};

    /// Lowercase hex of `b`.
    pub fn encode(b: &[u8]) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(b.len() * 2);
        for x in b {
            s.push(char::from(HEX[usize::from(x >> 4)]));
            s.push(char::from(HEX[usize::from(x & 15)]));
        }
        s
    }

    /// The bytes of lowercase or uppercase hex `s`.
    pub fn decode(s: &str) -> Option<Vec<u8>> {
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        };
        let b = s.as_bytes();
        if b.len() % 2 != 0 {
            return None;
        }
        b.chunks_exact(2)
            .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
            .collect()
    }

    /// Serializes properties as hex pairs.
    pub fn serialize<S: Serializer>(props: &Props, s: S) -> Result<S::Ok, S::Error> {
        let pairs: Vec<(String, String)> =
            props.iter().map(|(k, v)| (encode(k), encode(v))).collect();
        pairs.serialize(s)
    }

    /// Reads hex pairs, within the limits a player's properties have.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Props, D::Error> {
        let pairs: Vec<(String, String)> = Vec::deserialize(d)?;
        if pairs.len() > MAX_PROPERTIES {
            return Err(D::Error::custom("too many properties"));
        }
        let mut props = Props::new();
        let mut bytes = 0;
        for (k, v) in pairs {
            let (Some(k), Some(v)) = (decode(&k), decode(&v)) else {
                return Err(D::Error::custom("a property is not hex"));
            };
            if k.is_empty() || k.len() > MAX_KEY_BYTES || v.len() > MAX_VALUE_BYTES {
                return Err(D::Error::custom("a property outside the size limits"));
            }
            bytes += k.len() + v.len();
            props.insert(k, v);
        }
        if bytes > super::MAX_ROOM_PROP_BYTES.max(MAX_ACTOR_PROP_BYTES) {
            return Err(D::Error::custom("properties over the size limit"));
        }
        Ok(props)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes() -> PropChanges {
        PropChanges::from([
            (b"map".to_vec(), Some(b"MP-0c6".to_vec())),
            (vec![0x62, 253], Some(vec![0x6f, 0])),
            (b"gone".to_vec(), None),
        ])
    }

    #[test]
    fn events_round_trip_and_bad_options_are_refused() {
        let ev = Raise {
            code: 200,
            receivers: Receivers::MasterClient,
            targets: vec![3, 70_000],
            group: 7,
            caching: Caching::AddToRoomCacheGlobal,
            keys: vec![(vec![0x62, 0], vec![0x69, 0, 0, 3, 0xe9])],
            reliable: true,
            slot: 9,
            payload: vec![1, 2, 3],
        };
        let mut out = Vec::new();
        ev.encode_into(&mut out);
        assert_eq!(Raise::decode(&mut Reader::new(&out), 16).unwrap(), ev);
        assert!(
            Raise::decode(&mut Reader::new(&out), 2).is_err(),
            "payload cap"
        );
        for (at, bad) in [(1, 3u8), (2, 2), (2, 10), (4, 2)] {
            let mut b = out.clone();
            b[at] = bad;
            assert!(
                Raise::decode(&mut Reader::new(&b), 16).is_err(),
                "byte {at} = {bad}"
            );
        }
        for cut in 0..out.len() - 3 {
            assert!(
                Raise::decode(&mut Reader::new(&out[..cut]), 16).is_err(),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn property_requests_round_trip_and_limits_hold() {
        let req = SetProps {
            request: 77,
            target: 0,
            settings: SettingsChange {
                open: Some(false),
                master: Some(4),
                ..Default::default()
            },
            changes: changes(),
            expected_settings: SettingsChange {
                master: Some(1),
                ..Default::default()
            },
            expected: PropChanges::from([(b"map".to_vec(), Some(b"old".to_vec()))]),
        };
        assert!(req.is_cas());
        let mut out = Vec::new();
        req.encode_into(&mut out);
        assert_eq!(SetProps::decode(&mut Reader::new(&out)).unwrap(), req);

        let player = SetProps {
            target: 3,
            ..req.clone()
        };
        let mut out = Vec::new();
        player.encode_into(&mut out);
        assert!(
            SetProps::decode(&mut Reader::new(&out)).is_err(),
            "settings belong to the room"
        );

        let too_many: PropChanges = (0..=MAX_PROPERTIES as u16)
            .map(|i| (i.to_be_bytes().to_vec(), None))
            .collect();
        let mut out = Vec::new();
        write_changes(&mut out, &too_many);
        assert!(read_changes(&mut Reader::new(&out)).is_err());
        let big = PropChanges::from([(b"k".to_vec(), Some(vec![0; MAX_VALUE_BYTES + 1]))]);
        let mut out = Vec::new();
        write_changes(&mut out, &big);
        assert!(read_changes(&mut Reader::new(&out)).is_err());
        let empty_key = [0u8, 1, 0, 0, 0, 0];
        assert!(read_changes(&mut Reader::new(&empty_key)).is_err());
        let twice = [0u8, 2, 0, 1, b'a', 0xff, 0xff, 0, 1, b'a', 0xff, 0xff];
        assert!(read_changes(&mut Reader::new(&twice)).is_err());
    }

    #[test]
    fn changes_and_groups_round_trip() {
        let ch = PropsChanged {
            target: 0,
            by: 2,
            cas: true,
            settings: SettingsChange {
                max_players: Some(8),
                visible: Some(true),
                ..Default::default()
            },
            changes: changes(),
        };
        let mut out = Vec::new();
        ch.encode_into(&mut out);
        assert_eq!(PropsChanged::decode(&mut Reader::new(&out)).unwrap(), ch);
        for g in [
            GroupChange::default(),
            GroupChange {
                remove: Some(vec![]),
                add: Some(vec![1, 9]),
            },
        ] {
            let mut out = Vec::new();
            g.encode_into(&mut out);
            assert_eq!(GroupChange::decode(&mut Reader::new(&out)).unwrap(), g);
        }
        assert!(GroupChange::decode(&mut Reader::new(&[2, 0])).is_err());
    }

    #[test]
    fn hex_props_round_trip_in_json() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct P {
            #[serde(with = "hex_props")]
            props: Props,
        }
        let p = P {
            props: Props::from([(vec![0x73, 0, 1, b'x'], vec![0xff, 0])]),
        };
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, r#"{"props":[["73000178","ff00"]]}"#);
        assert_eq!(serde_json::from_str::<P>(&json).unwrap(), p);
        assert!(serde_json::from_str::<P>(r#"{"props":[["7","00"]]}"#).is_err());
        assert!(serde_json::from_str::<P>(r#"{"props":[["","00"]]}"#).is_err());
    }
}
