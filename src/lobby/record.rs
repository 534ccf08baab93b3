//! What the lobby lists: a room's advertisement as its host sends it
//! ([`Listing`]), the record the coordinator keeps and hands out
//! ([`SessionRecord`]), and the filters a lobby query may use ([`ListQuery`]).
//! Passwords never appear here: a host advertises only `has_password`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest display text (player name, room name), in bytes.
pub const MAX_TEXT_BYTES: usize = 64;
/// Longest identifier (map, track, mode, physics, game version), in bytes.
pub const MAX_ID_BYTES: usize = 64;
/// Longest avatar address, in bytes.
pub const MAX_URL_BYTES: usize = 256;
/// Largest JSON encoding of one [`SessionRecord`]: one record always fits
/// in a list datagram with room to spare.
pub const MAX_RECORD_JSON: usize = 1000;
/// Most pilot seats a room can have (the host's included).
pub const MAX_PILOT_SEATS: u8 = 6;
/// Most spectator seats a room can have.
pub const MAX_SPECTATOR_SEATS: u8 = 15;
/// Default page size of a lobby query.
pub const DEFAULT_PAGE: u32 = 20;
/// Largest page a query may ask for.
pub const MAX_PAGE: u32 = 50;

/// A listed room's identity at the coordinator: random, unguessable from
/// earlier ids, written as 16 hex digits (JSON numbers lose precision
/// above 2^53 in the browser).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SessionId(pub u64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for SessionId {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("a session id is 16 hex digits");
        }
        u64::from_str_radix(s, 16)
            .map(SessionId)
            .map_err(|_| "a session id is 16 hex digits")
    }
}

impl Serialize for SessionId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Who hosts, as the host tells it (its address is what the coordinator
/// saw, never what the host claims).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct HostProfile {
    /// Steam id (decimal), or the offline player id.
    pub steam_id: String,
    /// Display name.
    pub player_name: String,
    /// Avatar picture address (`https://...`), or empty.
    pub avatar_url: String,
}

/// The host as the lobby shows it: its profile and public game endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    /// Steam id (decimal), or the offline player id.
    pub steam_id: String,
    /// Display name.
    pub player_name: String,
    /// Avatar picture address, or empty.
    pub avatar_url: String,
    /// Public address of the host's game socket, as the coordinator saw it.
    pub ip: std::net::IpAddr,
    /// Public port of the host's game socket, as the coordinator saw it.
    pub port: u16,
}

/// The room: where and what is flown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RoomInfo {
    /// Room name shown in the lobby.
    pub name: String,
    /// The game's map id.
    pub map_id: String,
    /// Track id inside the map (`CMP-...` for custom tracks).
    pub track_id: String,
    /// True for a player-made track (joiners may need to download it).
    pub is_custom_track: bool,
    /// Game mode (e.g. `race`, `freestyle`).
    pub mode: String,
    /// The room properties the game lists in the lobby (Photon's
    /// `CustomRoomPropertiesForLobby`), typed as the game set them, so a
    /// lobby list and random matchmaking see them as Photon's did; at most
    /// [`MAX_LOBBY_PROPS`], [`MAX_LOBBY_PROPS_JSON`] bytes in all.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub props: BTreeMap<String, LobbyProp>,
}

/// Most room properties a listing carries for the lobby.
pub const MAX_LOBBY_PROPS: usize = 8;
/// Longest lobby property name, in bytes.
pub const MAX_LOBBY_PROP_KEY: usize = 32;
/// Most bytes the lobby properties may take in the listing's JSON, so one
/// record still fits in a list datagram ([`MAX_RECORD_JSON`]).
pub const MAX_LOBBY_PROPS_JSON: usize = 320;

/// One lobby-listed room property with the type the game gave it (a game
/// reads them back with casts such as `(byte)room.CustomProperties["x"]`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(
    tag = "type",
    content = "value",
    rename_all = "lowercase",
    deny_unknown_fields
)]
pub enum LobbyProp {
    /// A `bool`.
    Bool(bool),
    /// A `byte`.
    Byte(u8),
    /// A `short`.
    Short(i16),
    /// An `int`.
    Int(i32),
    /// A `long`.
    Long(i64),
    /// A `float` (finite).
    Float(f32),
    /// A `double` (finite).
    Double(f64),
    /// A `string` of at most [`MAX_TEXT_BYTES`].
    String(String),
}

impl PartialEq for LobbyProp {
    /// Floats compare by their bits, so equality stays reflexive.
    fn eq(&self, other: &Self) -> bool {
        use LobbyProp::*;
        match (self, other) {
            (Bool(a), Bool(b)) => a == b,
            (Byte(a), Byte(b)) => a == b,
            (Short(a), Short(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (Long(a), Long(b)) => a == b,
            (Float(a), Float(b)) => a.to_bits() == b.to_bits(),
            (Double(a), Double(b)) => a.to_bits() == b.to_bits(),
            (String(a), String(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for LobbyProp {}

/// Checks the lobby properties' count, names, values and size.
fn check_lobby_props(props: &BTreeMap<String, LobbyProp>) -> Result<(), String> {
    if props.len() > MAX_LOBBY_PROPS {
        return Err(format!(
            "room.props has {} properties, at most {MAX_LOBBY_PROPS} allowed",
            props.len()
        ));
    }
    for (k, v) in props {
        text("room.props name", k, MAX_LOBBY_PROP_KEY, false)?;
        match v {
            LobbyProp::String(t) => text(&format!("room.props[{k:?}]"), t, MAX_TEXT_BYTES, true)?,
            LobbyProp::Float(f) if !f.is_finite() => {
                return Err(format!("room.props[{k:?}] must be a finite number"))
            }
            LobbyProp::Double(f) if !f.is_finite() => {
                return Err(format!("room.props[{k:?}] must be a finite number"))
            }
            _ => {}
        }
    }
    let bytes = serde_json::to_string(props).map_or(usize::MAX, |j| j.len());
    if bytes > MAX_LOBBY_PROPS_JSON {
        return Err(format!(
            "room.props take {bytes} bytes, at most {MAX_LOBBY_PROPS_JSON} allowed"
        ));
    }
    Ok(())
}

/// Seats and how many are taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    /// Pilot seats, the host's included (1 to 6).
    pub pilots: u8,
    /// Spectator seats (0 to 15).
    pub spectators: u8,
    /// Pilots seated now, the host included.
    pub current_pilots: u8,
    /// Spectators seated now.
    pub current_spectators: u8,
}

impl Capacity {
    /// Pilot seats still free.
    pub fn free_pilots(&self) -> u8 {
        self.pilots.saturating_sub(self.current_pilots)
    }
    /// Everyone in the room.
    pub fn players(&self) -> u16 {
        u16::from(self.current_pilots) + u16::from(self.current_spectators)
    }
}

/// How the room races, and who the game lets in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomSettings {
    /// Laps per race.
    pub laps: u16,
    /// Physics profile name.
    pub physics: String,
    /// Whether joiners may download a custom track from the host.
    pub allow_track_download: bool,
    /// The game's own limit on players in the room, spectators included
    /// (Photon's `MaxPlayers`); 0: none but the seats.
    #[serde(default)]
    pub max_players: u8,
    /// False when the game closed the room to joiners (Photon's `IsOpen`).
    #[serde(default = "yes")]
    pub open: bool,
    /// False when the game wants the room out of the lobby's list, though
    /// still joined by its name (Photon's `IsVisible`).
    #[serde(default = "yes")]
    pub visible: bool,
}

fn yes() -> bool {
    true
}

impl Default for RoomSettings {
    fn default() -> Self {
        RoomSettings {
            laps: 0,
            physics: String::new(),
            allow_track_download: false,
            max_players: 0,
            open: true,
            visible: true,
        }
    }
}

/// A room's advertisement, as its host registers and updates it. Unknown
/// fields are refused, so a careless client cannot slip a password (or
/// anything else) into the coordinator's memory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Listing {
    /// Who hosts.
    pub host: HostProfile,
    /// Where and what.
    pub room: RoomInfo,
    /// Seats.
    pub capacity: Capacity,
    /// Race settings.
    pub settings: RoomSettings,
    /// The game build; only the same build can join.
    pub game_version: String,
    /// propwash's session protocol version; only the same can join.
    pub protocol_version: u16,
    /// True when the host asks a password at join. The password itself
    /// stays with the host, which checks it.
    pub has_password: bool,
    /// The room's public key, 64 hex digits (set by the library from the
    /// room's key; empty: not published). A joiner through the lobby
    /// joins only a host that answers with this key.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host_key: String,
}

impl Listing {
    /// Marks the room as password-protected when `password` is a non-empty
    /// string. Only the flag is kept: the password is not stored, so nothing
    /// built from this listing can carry it.
    pub fn with_password(mut self, password: Option<&str>) -> Self {
        self.has_password = password.is_some_and(|p| !p.is_empty());
        self
    }

    /// Checks every field's length and range; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        text("host.steam_id", &self.host.steam_id, MAX_ID_BYTES, true)?;
        text(
            "host.player_name",
            &self.host.player_name,
            MAX_TEXT_BYTES,
            false,
        )?;
        text(
            "host.avatar_url",
            &self.host.avatar_url,
            MAX_URL_BYTES,
            true,
        )?;
        if !self.host.avatar_url.is_empty() && !self.host.avatar_url.starts_with("https://") {
            return Err("host.avatar_url must be empty or start with https://".into());
        }
        text("room.name", &self.room.name, MAX_TEXT_BYTES, false)?;
        text("room.map_id", &self.room.map_id, MAX_ID_BYTES, true)?;
        text("room.track_id", &self.room.track_id, MAX_ID_BYTES, true)?;
        text("room.mode", &self.room.mode, MAX_ID_BYTES, false)?;
        check_lobby_props(&self.room.props)?;
        text(
            "settings.physics",
            &self.settings.physics,
            MAX_ID_BYTES,
            true,
        )?;
        text("game_version", &self.game_version, MAX_ID_BYTES, false)?;
        if !self.host_key.is_empty() && crate::session::seal::key_from_hex(&self.host_key).is_none()
        {
            return Err("host_key must be empty or 64 hex digits".into());
        }
        let c = &self.capacity;
        if c.pilots == 0 || c.pilots > MAX_PILOT_SEATS {
            return Err(format!(
                "capacity.pilots must be 1 to {MAX_PILOT_SEATS}, not {}",
                c.pilots
            ));
        }
        if c.spectators > MAX_SPECTATOR_SEATS {
            return Err(format!(
                "capacity.spectators must be 0 to {MAX_SPECTATOR_SEATS}, not {}",
                c.spectators
            ));
        }
        check_occupancy(c, c.current_pilots, c.current_spectators)
    }

    /// The record the coordinator lists for this advertisement.
    pub fn to_record(&self, session_id: SessionId, public: SocketAddr) -> SessionRecord {
        SessionRecord {
            session_id,
            host: HostInfo {
                steam_id: self.host.steam_id.clone(),
                player_name: self.host.player_name.clone(),
                avatar_url: self.host.avatar_url.clone(),
                ip: public.ip(),
                port: public.port(),
            },
            room: self.room.clone(),
            capacity: self.capacity,
            settings: self.settings.clone(),
            game_version: self.game_version.clone(),
            protocol_version: self.protocol_version,
            has_password: self.has_password,
            host_key: self.host_key.clone(),
        }
    }
}

/// Checks seated counts against the seats.
pub(crate) fn check_occupancy(c: &Capacity, pilots: u8, spectators: u8) -> Result<(), String> {
    if pilots > c.pilots {
        return Err(format!(
            "current_pilots ({pilots}) exceeds the pilot seats ({})",
            c.pilots
        ));
    }
    if spectators > c.spectators {
        return Err(format!(
            "current_spectators ({spectators}) exceeds the spectator seats ({})",
            c.spectators
        ));
    }
    Ok(())
}

fn text(field: &str, v: &str, max: usize, may_be_empty: bool) -> Result<(), String> {
    if v.len() > max {
        return Err(format!(
            "{field} is {} bytes, at most {max} allowed",
            v.len()
        ));
    }
    if !may_be_empty && v.trim().is_empty() {
        return Err(format!("{field} must not be empty"));
    }
    if v.chars().any(char::is_control) {
        return Err(format!("{field} must not contain control characters"));
    }
    Ok(())
}

/// One listed room, as lobby queries return it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The coordinator's id for this room.
    pub session_id: SessionId,
    /// Who hosts, and where.
    pub host: HostInfo,
    /// Where and what.
    pub room: RoomInfo,
    /// Seats.
    pub capacity: Capacity,
    /// Race settings.
    pub settings: RoomSettings,
    /// The game build the host runs.
    pub game_version: String,
    /// propwash's session protocol version the host speaks.
    pub protocol_version: u16,
    /// True when the host asks a password at join.
    pub has_password: bool,
    /// The room's public key, 64 hex digits, or empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host_key: String,
}

/// A lobby query: filters, then a page of the sorted result (rooms with a
/// free pilot seat first, then the fullest, then by name).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only rooms of this game build (the library always sets its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub game_version: Option<String>,
    /// Only rooms speaking this propwash protocol version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<u16>,
    /// Only this game mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Only this map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_id: Option<String>,
    /// Only rooms with at least this many free pilot seats.
    #[serde(default)]
    pub min_free_pilots: u8,
    /// Only rooms with (true) or without (false) a password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_password: Option<bool>,
    /// Matching rooms to skip.
    #[serde(default)]
    pub offset: u32,
    /// Rooms to return at most (1 to [`MAX_PAGE`]).
    #[serde(default = "default_page")]
    pub limit: u32,
}

fn default_page() -> u32 {
    DEFAULT_PAGE
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            game_version: None,
            protocol_version: None,
            mode: None,
            map_id: None,
            min_free_pilots: 0,
            has_password: None,
            offset: 0,
            limit: DEFAULT_PAGE,
        }
    }
}

impl ListQuery {
    /// Rooms compatible with this game build and protocol version.
    pub fn compatible_with(game_version: &str, protocol_version: u16) -> Self {
        ListQuery {
            game_version: Some(game_version.to_string()),
            protocol_version: Some(protocol_version),
            ..ListQuery::default()
        }
    }

    /// True when `r` passes every filter (paging aside).
    pub fn matches(&self, r: &SessionRecord) -> bool {
        self.game_version
            .as_deref()
            .is_none_or(|v| v == r.game_version)
            && self
                .protocol_version
                .is_none_or(|v| v == r.protocol_version)
            && self.mode.as_deref().is_none_or(|m| m == r.room.mode)
            && self.map_id.as_deref().is_none_or(|m| m == r.room.map_id)
            && r.capacity.free_pilots() >= self.min_free_pilots
            && self.has_password.is_none_or(|p| p == r.has_password)
    }
}

/// One page of a lobby query's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListPage {
    /// Matching rooms skipped before this page.
    pub offset: u32,
    /// Matching rooms in all.
    pub total: u32,
    /// This page's rooms, in order.
    pub sessions: Vec<SessionRecord>,
}

/// A plausible listing for tests.
#[cfg(test)]
pub(crate) fn sample_listing() -> Listing {
    Listing {
        host: HostProfile {
            steam_id: "76561198000000001".into(),
            player_name: "Hoster".into(),
            avatar_url: "https://avatars.example/a.jpg".into(),
        },
        room: RoomInfo {
            name: "Evening race".into(),
            map_id: "MP-Stadium".into(),
            track_id: "CMP-1234".into(),
            is_custom_track: true,
            mode: "race".into(),
            props: Default::default(),
        },
        capacity: Capacity {
            pilots: 6,
            spectators: 15,
            current_pilots: 1,
            current_spectators: 0,
        },
        settings: RoomSettings {
            laps: 3,
            physics: "drl".into(),
            allow_track_download: true,
            ..Default::default()
        },
        game_version: "4.1.2".into(),
        protocol_version: 1,
        has_password: false,
        host_key: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing() -> Listing {
        sample_listing()
    }

    #[test]
    fn lobby_props_keep_their_types_and_are_bounded() {
        let mut l = listing();
        l.room.props.insert("laps".into(), LobbyProp::Byte(3));
        l.room
            .props
            .insert("map".into(), LobbyProp::String("MP-0c6".into()));
        l.room
            .props
            .insert("gravity".into(), LobbyProp::Float(9.81));
        l.validate().unwrap();
        let j = serde_json::to_string(&l).unwrap();
        assert!(j.contains(r#""laps":{"type":"byte","value":3}"#), "{j}");
        let back: Listing = serde_json::from_str(&j).unwrap();
        assert_eq!(back, l);
        // An older host's listing has none.
        let mut old: serde_json::Value = serde_json::to_value(listing()).unwrap();
        old["room"].as_object_mut().unwrap().remove("props");
        let old: Listing = serde_json::from_value(old).unwrap();
        assert!(old.room.props.is_empty());

        let refused = |edit: &dyn Fn(&mut Listing)| {
            let mut l = listing();
            edit(&mut l);
            l.validate().unwrap_err()
        };
        let e = refused(&|l| {
            for i in 0..=MAX_LOBBY_PROPS {
                l.room.props.insert(format!("k{i}"), LobbyProp::Bool(true));
            }
        });
        assert!(e.contains("at most 8"), "{e}");
        let e = refused(&|l| {
            l.room
                .props
                .insert("x".repeat(MAX_LOBBY_PROP_KEY + 1), LobbyProp::Int(1));
        });
        assert!(e.contains("room.props name"), "{e}");
        let e = refused(&|l| {
            l.room.props.insert("g".into(), LobbyProp::Double(f64::NAN));
        });
        assert!(e.contains("finite"), "{e}");
        let e = refused(&|l| {
            for i in 0..6 {
                l.room
                    .props
                    .insert(format!("key{i}"), LobbyProp::String("v".repeat(60)));
            }
        });
        assert!(e.contains("at most 320"), "{e}");
        // A type the lobby does not know is refused at parsing.
        let bad = j.replace(r#""type":"byte""#, r#""type":"vector3""#);
        assert!(serde_json::from_str::<Listing>(&bad).is_err());
    }

    #[test]
    fn session_id_is_sixteen_hex_digits_in_json() {
        let id = SessionId(0xdead_beef_0000_0001);
        let j = serde_json::to_string(&id).unwrap();
        assert_eq!(j, "\"deadbeef00000001\"");
        assert_eq!(serde_json::from_str::<SessionId>(&j).unwrap(), id);
        assert!(serde_json::from_str::<SessionId>("\"xyz\"").is_err());
        assert!(serde_json::from_str::<SessionId>("\"+eadbeef0000000\"").is_err());
        assert!(serde_json::from_str::<SessionId>("12").is_err());
    }

    #[test]
    fn validation_names_the_field() {
        let mut l = listing();
        assert_eq!(l.validate(), Ok(()));
        l.room.name = "x".repeat(65);
        assert!(l.validate().unwrap_err().contains("room.name"));
        let mut l = listing();
        l.capacity.current_pilots = 7;
        assert!(l.validate().unwrap_err().contains("current_pilots"));
        let mut l = listing();
        l.host.avatar_url = "javascript:alert(1)".into();
        assert!(l.validate().unwrap_err().contains("avatar_url"));
        let mut l = listing();
        l.host.player_name = "a\u{0}b".into();
        assert!(l.validate().unwrap_err().contains("control"));
    }

    #[test]
    fn a_password_field_is_refused_and_only_the_flag_is_kept() {
        let mut v = serde_json::to_value(listing()).unwrap();
        v["password"] = "hunter2".into();
        assert!(serde_json::from_value::<Listing>(v).is_err());
        let l = listing().with_password(Some("hunter2"));
        assert!(l.has_password);
        assert!(!serde_json::to_string(&l).unwrap().contains("hunter2"));
        assert!(!listing().with_password(Some("")).has_password);
    }
}
