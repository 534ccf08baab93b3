//! Control messages: the rare, reliable, JSON-encoded part of the protocol
//! (join handshake, membership, properties), and the binary game-event form.
//! None of this is sent per tick.

use serde::{Deserialize, Serialize};

use super::room::{
    hex_props, ActorNr, GroupChange, Props, PropsChanged, Raise, RoomSettings, SetProps,
};
use super::wire::{Reader, WireError};

/// Largest game-event payload (Photon's RaiseEvent equivalent).
pub const MAX_EVENT_PAYLOAD: usize = 16 * 1024;
/// Longest display name, in bytes.
pub const MAX_NAME_BYTES: usize = 64;

/// What a peer does in the room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Flies a drone; up to 6 per room, the host is one of them.
    Pilot,
    /// Watches; up to 15 per room.
    Spectator,
}

/// The JSON body of a hello.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The game build the client runs; must equal the host's.
    pub game_version: String,
    /// Display name.
    pub name: String,
    /// The game's player id (`player-id` in player-state.json), may be empty.
    pub player_id: String,
    /// The role asked for.
    pub role: Role,
    /// Seat as a spectator when the pilot seats are taken.
    #[serde(default)]
    pub spectate_if_full: bool,
    /// The Steam id the joiner claims, as decimal text (a u64 does not fit
    /// a JSON number read as a double). Only a ticket makes it count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steam_id: Option<String>,
    /// A Steam auth ticket for `steam_id`, lowercase hex, at most
    /// [`MAX_TICKET_BYTES`](crate::identity::verify::MAX_TICKET_BYTES) bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steam_ticket: Option<String>,
}

/// A seated peer as everyone sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerInfo {
    /// Room-unique number from 1 (the host), never reused while the room
    /// lives.
    pub actor: ActorNr,
    /// Pilot or spectator.
    pub role: Role,
    /// A pilot's seat (0 to 5; the host is 0); snapshots name pilots by seat.
    #[serde(default)]
    pub seat: Option<u8>,
    /// Display name.
    pub name: String,
    /// The game's player id.
    pub player_id: String,
    /// The player's own properties, as the game serialized them.
    #[serde(default, with = "hex_props")]
    pub props: Props,
    /// The player's Steam id as decimal text; set only when Steam confirmed
    /// it (or, for the host, when the host runs under Steam), so an
    /// unproven claim never shows as someone else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steam_id: Option<String>,
    /// True when `steam_id` was verified.
    #[serde(default)]
    pub verified: bool,
}

/// Why a player left the room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// They left on purpose.
    Left,
    /// Nothing was heard from them for the timeout.
    TimedOut,
    /// The host closed the room.
    RoomClosed,
}

/// Reliable control messages, host to client and client to host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Control {
    /// Host to a new peer: you are seated. Everyone already in the room
    /// came just before, each as [`Control::PlayerJoined`]; the room's
    /// cached events follow.
    Welcome {
        /// The new peer's actor number.
        actor: ActorNr,
        /// The role given (may be spectator when the pilot seats were full).
        role: Role,
        /// The room's settings.
        settings: RoomSettings,
        /// The master client.
        master: ActorNr,
        /// The room's properties.
        #[serde(with = "hex_props")]
        room: Props,
        /// Snapshot rate this peer will receive, per second.
        snapshot_hz: u32,
        /// The new peer's Steam id, when the host verified it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        steam_id: Option<String>,
        /// True when the host verified the new peer's Steam id.
        #[serde(default)]
        verified: bool,
    },
    /// New peer to host, its first message: the properties it joins with.
    /// Until it arrives (or a second passes) nobody else learns of it.
    JoinProps {
        /// The properties.
        #[serde(with = "hex_props")]
        props: Props,
    },
    /// Host to everyone: a peer is in the room.
    PlayerJoined(PlayerInfo),
    /// Host to everyone: a peer left.
    PlayerLeft {
        /// Who left.
        actor: ActorNr,
        /// Why.
        reason: LeaveReason,
        /// The new master client, when the leaver was the master.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        master: Option<ActorNr>,
    },
    /// Spectator to host: follow this pilot at the full pilot rate (`None`: none).
    Follow {
        /// The pilot's actor number.
        actor: Option<ActorNr>,
    },
    /// Client to host: I am leaving. Host to client: the room is closing.
    Leave,
}

/// Why a join was refused; the number travels in the refuse packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RefuseReason {
    /// Protocol or game version differs from the host's.
    VersionMismatch = 1,
    /// All pilot seats are taken.
    PilotsFull = 2,
    /// All spectator seats are taken.
    SpectatorsFull = 3,
    /// The hello could not be read.
    Malformed = 4,
    /// The host is closing the room.
    RoomClosed = 5,
    /// The room admits only players verified by Steam, and Steam did not
    /// confirm this one (no ticket, a rejected ticket, no answer in time).
    NotVerified = 6,
    /// A player with the same verified Steam id is already in the room or
    /// joining it.
    SteamIdInUse = 7,
    /// The room asks a password and the hello had none or a wrong one.
    WrongPassword = 8,
    /// The room holds its most players (the game's own limit, Photon's
    /// MaxPlayers, below propwash's seats).
    GameFull = 9,
    /// The room is closed for joins (Photon's IsOpen is false).
    GameClosed = 10,
    /// The host's key is not the one its lobby listing published: another
    /// machine answered for it. Decided by the joiner, never sent.
    HostKeyMismatch = 11,
}

impl RefuseReason {
    /// Reads the number from a refuse packet; unknown numbers are kept as malformed.
    pub fn from_u8(b: u8) -> RefuseReason {
        match b {
            1 => RefuseReason::VersionMismatch,
            2 => RefuseReason::PilotsFull,
            3 => RefuseReason::SpectatorsFull,
            5 => RefuseReason::RoomClosed,
            6 => RefuseReason::NotVerified,
            7 => RefuseReason::SteamIdInUse,
            8 => RefuseReason::WrongPassword,
            9 => RefuseReason::GameFull,
            10 => RefuseReason::GameClosed,
            11 => RefuseReason::HostKeyMismatch,
            _ => RefuseReason::Malformed,
        }
    }
}

/// Who receives a game event raised through the simple calls
/// (`Session::send_event`); the room's full routing is [`Raise`]'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventTarget {
    /// Everyone but the sender.
    Others,
    /// Everyone, the sender too.
    All,
    /// Only the host.
    Host,
    /// One player.
    Actor(ActorNr),
}

impl EventTarget {
    /// The room's routing for this target: a reliable, uncached event.
    pub fn raise(self, code: u8, payload: Vec<u8>) -> Raise {
        use super::room::Receivers;
        let (receivers, targets) = match self {
            EventTarget::Others => (Receivers::Others, Vec::new()),
            EventTarget::All => (Receivers::All, Vec::new()),
            EventTarget::Host => (Receivers::Others, vec![1]),
            EventTarget::Actor(a) => (Receivers::Others, vec![a]),
        };
        Raise {
            code,
            receivers,
            targets,
            reliable: true,
            payload,
            ..Raise::default()
        }
    }
}

/// A game event as a receiver gets it (the host names the sender).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GameEvent {
    /// Who raised it.
    pub from: ActorNr,
    /// Game-defined event code.
    pub code: u8,
    /// Game-defined payload, at most [`MAX_EVENT_PAYLOAD`] bytes.
    pub payload: Vec<u8>,
}

/// First byte of a reliable message.
const MSG_CONTROL: u8 = 1;
const MSG_EVENT: u8 = 2;
const MSG_RAISE: u8 = 3;
const MSG_SET_PROPS: u8 = 4;
const MSG_PROPS_CHANGED: u8 = 5;
const MSG_PROPS_REFUSED: u8 = 6;
const MSG_GROUPS: u8 = 7;

/// A reliable message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// JSON control message.
    Control(Control),
    /// Host to client: a game event.
    Event(GameEvent),
    /// Client to host: raise an event.
    Raise(Raise),
    /// Client to host: change properties.
    SetProps(SetProps),
    /// Host to clients: properties changed.
    PropsChanged(PropsChanged),
    /// Host to the client that asked: its property change was refused.
    PropsRefused {
        /// The request's id.
        request: u32,
        /// Why, in words.
        message: String,
    },
    /// Client to host: change the interest groups it receives.
    Groups(GroupChange),
}

impl Message {
    /// Serializes the message.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Message::Control(c) => {
                let mut out = vec![MSG_CONTROL];
                // Serializing these plain types cannot fail; an empty body would
                // be refused by the reader rather than misread.
                if let Ok(json) = serde_json::to_vec(c) {
                    out.extend_from_slice(&json);
                }
                out
            }
            Message::Event(e) => {
                let mut out = Vec::with_capacity(6 + e.payload.len());
                out.push(MSG_EVENT);
                out.extend_from_slice(&e.from.to_be_bytes());
                out.push(e.code);
                out.extend_from_slice(&e.payload);
                out
            }
            Message::Raise(r) => {
                let mut out = Vec::with_capacity(16 + r.payload.len());
                out.push(MSG_RAISE);
                r.encode_into(&mut out);
                out
            }
            Message::SetProps(p) => {
                let mut out = vec![MSG_SET_PROPS];
                p.encode_into(&mut out);
                out
            }
            Message::PropsChanged(p) => {
                let mut out = vec![MSG_PROPS_CHANGED];
                p.encode_into(&mut out);
                out
            }
            Message::PropsRefused { request, message } => {
                let mut out = vec![MSG_PROPS_REFUSED];
                out.extend_from_slice(&request.to_be_bytes());
                out.extend_from_slice(message.as_bytes());
                out
            }
            Message::Groups(g) => {
                let mut out = vec![MSG_GROUPS];
                g.encode_into(&mut out);
                out
            }
        }
    }

    /// Parses a reassembled reliable message.
    pub fn decode(data: &[u8]) -> Result<Message, WireError> {
        let mut r = Reader::new(data);
        let m = match r.u8("message kind")? {
            MSG_CONTROL => {
                return serde_json::from_slice(r.rest())
                    .map(Message::Control)
                    .map_err(|e| WireError::Json(e.to_string()))
            }
            MSG_EVENT => {
                let from = r.u32("event sender")?;
                let code = r.u8("event code")?;
                let payload = r.rest();
                if payload.len() > MAX_EVENT_PAYLOAD {
                    return Err(WireError::Invalid("event payload size"));
                }
                Message::Event(GameEvent {
                    from,
                    code,
                    payload: payload.to_vec(),
                })
            }
            MSG_RAISE => Message::Raise(Raise::decode(&mut r, MAX_EVENT_PAYLOAD)?),
            MSG_SET_PROPS => Message::SetProps(SetProps::decode(&mut r)?),
            MSG_PROPS_CHANGED => Message::PropsChanged(PropsChanged::decode(&mut r)?),
            MSG_PROPS_REFUSED => {
                let request = r.u32("request id")?;
                let message = String::from_utf8_lossy(r.rest()).into_owned();
                Message::PropsRefused { request, message }
            }
            MSG_GROUPS => Message::Groups(GroupChange::decode(&mut r)?),
            _ => return Err(WireError::Invalid("message kind")),
        };
        if r.remaining() > 0 {
            return Err(WireError::Invalid("bytes after the message"));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        use crate::proto::room::{PropChanges, Receivers};
        let msgs = [
            Message::Control(Control::PlayerLeft {
                actor: 4,
                reason: LeaveReason::TimedOut,
                master: Some(2),
            }),
            Message::Control(Control::JoinProps {
                props: Props::from([(vec![0x62, 255], vec![0x73, 0, 1, b'A'])]),
            }),
            Message::Event(GameEvent {
                from: 70_000,
                code: 200,
                payload: vec![1, 2, 3],
            }),
            Message::Raise(EventTarget::Actor(9).raise(7, vec![4])),
            Message::Raise(Raise {
                receivers: Receivers::All,
                reliable: false,
                ..EventTarget::All.raise(201, vec![])
            }),
            Message::SetProps(SetProps {
                request: 3,
                target: 2,
                changes: PropChanges::from([(b"k".to_vec(), None)]),
                ..SetProps::default()
            }),
            Message::PropsChanged(PropsChanged::default()),
            Message::PropsRefused {
                request: 9,
                message: "no".into(),
            },
            Message::Groups(GroupChange {
                remove: None,
                add: Some(vec![3]),
            }),
        ];
        for m in msgs {
            assert_eq!(Message::decode(&m.encode()).unwrap(), m);
        }
    }

    #[test]
    fn hellos_and_players_of_older_peers_still_parse() {
        let hello: Hello = serde_json::from_str(
            r#"{"game_version":"drl-4.2.1","name":"A","player_id":"p","role":"pilot"}"#,
        )
        .unwrap();
        assert_eq!(hello.steam_id, None);
        assert_eq!(hello.steam_ticket, None);
        assert!(!hello.spectate_if_full);
        let info: PlayerInfo =
            serde_json::from_str(r#"{"actor":2,"role":"spectator","name":"B","player_id":""}"#)
                .unwrap();
        assert_eq!(info.steam_id, None);
        assert!(!info.verified);
        assert!(info.props.is_empty());
    }

    #[test]
    fn unset_identity_fields_stay_off_the_wire() {
        let hello = Hello {
            game_version: "v".into(),
            name: "A".into(),
            player_id: String::new(),
            role: Role::Pilot,
            spectate_if_full: false,
            steam_id: None,
            steam_ticket: None,
        };
        let json = serde_json::to_string(&hello).unwrap();
        assert!(!json.contains("steam"), "{json}");
        assert!(!json.contains("password"), "{json}");
        let full = Hello {
            steam_id: Some("76561198000000001".into()),
            steam_ticket: Some("00ff".into()),
            ..hello
        };
        let back: Hello = serde_json::from_str(&serde_json::to_string(&full).unwrap()).unwrap();
        assert_eq!(back, full);
    }

    #[test]
    fn refuse_reasons_round_trip() {
        for r in [
            RefuseReason::VersionMismatch,
            RefuseReason::PilotsFull,
            RefuseReason::SpectatorsFull,
            RefuseReason::Malformed,
            RefuseReason::RoomClosed,
            RefuseReason::NotVerified,
            RefuseReason::SteamIdInUse,
            RefuseReason::WrongPassword,
            RefuseReason::GameFull,
            RefuseReason::GameClosed,
            RefuseReason::HostKeyMismatch,
        ] {
            assert_eq!(RefuseReason::from_u8(r as u8), r);
        }
        assert_eq!(RefuseReason::from_u8(200), RefuseReason::Malformed);
    }

    #[test]
    fn bad_messages_are_errors() {
        assert!(matches!(
            Message::decode(&[1, b'{']),
            Err(WireError::Json(_))
        ));
        assert_eq!(
            Message::decode(&[]),
            Err(WireError::Truncated("message kind"))
        );
        assert_eq!(
            Message::decode(&[99]),
            Err(WireError::Invalid("message kind"))
        );
        let mut big = vec![2, 0, 0, 0, 1, 5];
        big.resize(6 + MAX_EVENT_PAYLOAD + 1, 0);
        assert_eq!(
            Message::decode(&big),
            Err(WireError::Invalid("event payload size"))
        );
        let mut trailing = Message::Groups(GroupChange::default()).encode();
        trailing.push(0);
        assert!(Message::decode(&trailing).is_err());
    }
}
