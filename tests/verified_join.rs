//! Verified joins and room passwords: the host checks a joiner's Steam
//! ticket (here a fake Steam) before seating them, never seats one Steam id
//! twice, ends the Steam session when they leave, and admits only joiners
//! who prove the room password without ever sending it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use propwash::identity::verify::{
    FakeAnswer, FakeVerifier, TicketVerifier, VerifyError, VerifyState, VERIFY_TIMEOUT,
};
use propwash::identity::TicketMinter;
use propwash::proto::wire::{packet_kind, PacketKind, HANDSHAKE_HEADER, MAX_PAYLOAD};
use propwash::proto::{Hello, LeaveReason, PlayerInfo, RefuseReason, Role};
use propwash::session::sim::{Conditions, SimRoom};
use propwash::session::{
    Client, ClientConfig, ClientState, CloseReason, Event, Host, HostConfig, HOST_ACTOR,
};

const GAME: &str = "drl-4.2.1";
const HOST_ID: u64 = 76_561_198_000_000_099;
const ALICE: u64 = 76_561_198_000_000_001;
const BOB: u64 = 76_561_198_000_000_002;
const PASSWORD: &str = "correct horse battery staple";

/// A fake Steam the test keeps a handle on after the host took it.
#[derive(Clone)]
struct Steam(Arc<Mutex<FakeVerifier>>);

impl Steam {
    fn new(default: FakeAnswer) -> Steam {
        Steam(Arc::new(Mutex::new(
            FakeVerifier::new(default).hosted_by(HOST_ID),
        )))
    }
    fn set_answer(&self, id: u64, answer: FakeAnswer) {
        self.0.lock().unwrap().set_answer(id, answer);
    }
    fn begun(&self) -> Vec<u64> {
        self.0.lock().unwrap().begun.clone()
    }
    fn ended(&self) -> Vec<u64> {
        self.0.lock().unwrap().ended.clone()
    }
    fn open(&self) -> Vec<u64> {
        self.0.lock().unwrap().open_sessions()
    }
}

impl TicketVerifier for Steam {
    fn begin(&mut self, steam_id: u64, ticket: &[u8]) -> Result<(), VerifyError> {
        self.0.lock().unwrap().begin(steam_id, ticket)
    }
    fn poll(&mut self, steam_id: u64) -> VerifyState {
        self.0.lock().unwrap().poll(steam_id)
    }
    fn end(&mut self, steam_id: u64) {
        self.0.lock().unwrap().end(steam_id)
    }
}

fn clean() -> Conditions {
    Conditions {
        latency: Duration::from_millis(10),
        ..Default::default()
    }
}

fn host_cfg() -> HostConfig {
    HostConfig {
        steam_id: Some(HOST_ID),
        ..HostConfig::new(GAME, "Host")
    }
}

fn room_with(cfg: HostConfig, steam: Option<&Steam>, seed: u64) -> SimRoom {
    let room = SimRoom::new(cfg, clean(), seed);
    match steam {
        Some(s) => room.with_verifier(Box::new(s.clone())),
        None => room,
    }
}

/// A Steam that mints the same `ticket` whatever host it is for.
fn fixed(ticket: &[u8]) -> TicketMinter {
    let ticket = ticket.to_vec();
    TicketMinter::new(move |_| Some(ticket.clone()))
}

/// A pilot claiming `id` with tickets from `ticket` (none: a bare claim).
fn claimant(host: SocketAddr, name: &str, id: u64, ticket: Option<TicketMinter>) -> ClientConfig {
    ClientConfig {
        steam_id: Some(id),
        steam_ticket: ticket,
        ..ClientConfig::new(host, GAME, name, Role::Pilot)
    }
}

/// A pilot who is who they say.
fn steam_player(room: &mut SimRoom, name: &str, id: u64) -> usize {
    room.add_client(|h| claimant(h, name, id, Some(FakeVerifier::minter(id))))
}

fn plain(room: &mut SimRoom, name: &str) -> usize {
    room.add_client(|h| ClientConfig::new(h, GAME, name, Role::Pilot))
}

fn refused(room: &SimRoom, i: usize) -> Option<(RefuseReason, String)> {
    refusal_in(&room.client_events[i])
}

fn refusal_in(events: &[Event]) -> Option<(RefuseReason, String)> {
    events.iter().find_map(|e| match e {
        Event::Refused { reason, message } => Some((*reason, message.clone())),
        _ => None,
    })
}

fn state(room: &SimRoom, i: usize) -> ClientState {
    room.clients[i].1.state()
}

fn named(players: &[PlayerInfo], name: &str) -> Option<PlayerInfo> {
    players.iter().find(|p| p.name == name).cloned()
}

fn with_id(players: &[PlayerInfo], id: u64) -> Vec<PlayerInfo> {
    let id = id.to_string();
    players
        .iter()
        .filter(|p| p.steam_id.as_deref() == Some(id.as_str()))
        .cloned()
        .collect()
}

fn assert_refused(room: &SimRoom, i: usize, want: RefuseReason, says: &str) {
    let (reason, message) = refused(room, i).unwrap_or_else(|| panic!("client {i} not refused"));
    assert_eq!(reason, want, "{message}");
    assert!(message.contains(says), "{message:?} lacks {says:?}");
    assert_eq!(state(room, i), ClientState::Closed(CloseReason::Refused));
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn accepted_ticket_seats_a_verified_player_everyone_sees_until_they_leave() {
    let steam = Steam::new(FakeAnswer::Accept);
    let mut room = room_with(host_cfg(), Some(&steam), 1);
    room.transmitted = Some(Vec::new());
    let a = steam_player(&mut room, "Alice", ALICE);
    room.run_for(Duration::from_secs(1));
    assert_eq!(state(&room, a), ClientState::Connected);
    // The ticket waits for the host's cookie: the first hello has none.
    let log = room.transmitted.take().unwrap();
    let hellos: Vec<&Vec<u8>> = log
        .iter()
        .filter(|(from, _, d)| {
            *from == room.client_addr(a) && packet_kind(d) == Ok(PacketKind::Hello)
        })
        .map(|(_, _, d)| d)
        .collect();
    // The first hello carries nothing but the protocol version; the one
    // with the cookie carries the ticket sealed: neither the ticket nor
    // the Steam id or name shows on the wire.
    assert!(hellos.len() >= 2);
    let ticket = FakeVerifier::ticket_for_host(ALICE, HOST_ID);
    for h in &hellos {
        assert!(!contains(h, b"steam"));
        assert!(!contains(h, ALICE.to_string().as_bytes()));
        assert!(!contains(h, b"Alice"));
        assert!(!contains(h, &ticket));
    }
    assert!(hellos[hellos.len() - 1].len() > hellos[0].len() + ticket.len());
    let b = plain(&mut room, "Bob");
    room.run_for(Duration::from_secs(1));
    assert_eq!(state(&room, b), ClientState::Connected);

    let on_host = room.host.players();
    let alice = named(&on_host, "Alice").unwrap();
    assert!(alice.verified);
    assert_eq!(alice.steam_id, Some(ALICE.to_string()));
    let bob = named(&on_host, "Bob").unwrap();
    assert!(!bob.verified);
    assert_eq!(bob.steam_id, None);
    assert!(on_host[0].verified);
    assert_eq!(on_host[0].steam_id, Some(HOST_ID.to_string()));

    // The other player sees both verified identities, the host's too.
    let seen_by_bob: Vec<PlayerInfo> = room.clients[b].1.players();
    let alice_there = named(&seen_by_bob, "Alice").unwrap();
    assert!(alice_there.verified);
    assert_eq!(alice_there.steam_id, Some(ALICE.to_string()));
    let host_there = &room.clients[b]
        .1
        .players()
        .into_iter()
        .find(|p| p.actor == HOST_ACTOR)
        .expect("the host");
    assert!(host_there.verified);
    assert_eq!(host_there.steam_id, Some(HOST_ID.to_string()));
    // And Alice learns from her welcome that she was verified.
    assert_eq!(
        room.clients[a].1.verified_steam_id(),
        Some(ALICE.to_string().as_str())
    );
    assert_eq!(room.clients[b].1.verified_steam_id(), None);

    assert_eq!(steam.open(), vec![ALICE]);
    assert!(steam.ended().is_empty());
    let now = room.now;
    room.clients[a].1.leave(now);
    room.run_for(Duration::from_secs(2));
    assert_eq!(room.host.players().len(), 2);
    assert_eq!(steam.ended(), vec![ALICE]);
    assert!(steam.open().is_empty());
}

#[test]
fn a_verified_player_that_times_out_ends_its_steam_session_too() {
    let steam = Steam::new(FakeAnswer::Accept);
    let mut room = room_with(host_cfg(), Some(&steam), 2);
    let a = steam_player(&mut room, "Alice", ALICE);
    room.run_for(Duration::from_secs(1));
    assert_eq!(state(&room, a), ClientState::Connected);
    room.disconnect(a);
    room.run_for(Duration::from_secs(7));
    assert_eq!(room.host.players().len(), 1);
    assert_eq!(steam.ended(), vec![ALICE]);
    // The id is free again: Alice back from another machine is seated.
    let again = steam_player(&mut room, "Alice again", ALICE);
    room.run_for(Duration::from_secs(1));
    assert_eq!(state(&room, again), ClientState::Connected);
    assert_eq!(steam.open(), vec![ALICE]);
}

#[test]
fn rejected_ticket_is_refused_not_verified_with_steams_reason() {
    let steam = Steam::new(FakeAnswer::Reject("VAC banned".into()));
    let mut room = room_with(host_cfg(), Some(&steam), 3);
    let a = steam_player(&mut room, "Alice", ALICE);
    room.run_for(Duration::from_secs(1));
    assert_refused(&room, a, RefuseReason::NotVerified, "VAC banned");
    assert_eq!(room.host.players().len(), 1);
    assert!(steam.begun().contains(&ALICE));
    assert!(steam.open().is_empty(), "the check was not ended");
}

#[test]
fn a_ticket_a_host_captured_is_refused_by_every_other_host() {
    // Alice's Steam mints for the host her challenge names; the test keeps
    // what it minted, as a hostile host would keep what it received.
    type Minted = Vec<(u64, Vec<u8>)>;
    let minted: Arc<Mutex<Minted>> = Arc::default();
    let log = Arc::clone(&minted);
    let alice_steam = TicketMinter::new(move |host| {
        let t = FakeVerifier::ticket_for_host(ALICE, host);
        log.lock().unwrap().push((host, t.clone()));
        Some(t)
    });
    let steam = Steam::new(FakeAnswer::Accept);
    let mut room = room_with(host_cfg(), Some(&steam), 21);
    let a = room.add_client(|h| claimant(h, "Alice", ALICE, Some(alice_steam.clone())));
    room.run_for(Duration::from_secs(1));
    assert_eq!(state(&room, a), ClientState::Connected);
    assert!(named(&room.host.players(), "Alice").unwrap().verified);
    let minted = minted.lock().unwrap().clone();
    assert_eq!(
        minted.len(),
        1,
        "one ticket per host, however many challenges"
    );
    let (for_host, ticket) = minted[0].clone();
    assert_eq!(
        for_host, HOST_ID,
        "minted for the Steam id the challenge named"
    );

    // That host replays Alice's ticket to another room as Alice: the other
    // host's Steam sees a ticket made for someone else and refuses it.
    const OTHER_HOST: u64 = 76_561_198_000_000_077;
    let other_steam = Steam(Arc::new(Mutex::new(
        FakeVerifier::new(FakeAnswer::Accept).hosted_by(OTHER_HOST),
    )));
    let cfg = HostConfig {
        steam_id: Some(OTHER_HOST),
        ..HostConfig::new(GAME, "Other host")
    };
    let mut other = room_with(cfg, Some(&other_steam), 22);
    let replay = other.add_client(|h| claimant(h, "Alice?", ALICE, Some(fixed(&ticket))));
    other.run_for(Duration::from_secs(1));
    assert_refused(&other, replay, RefuseReason::NotVerified, "another host");
    assert!(with_id(&other.host.players(), ALICE).is_empty());
    // Alice herself joins there with a ticket of its own.
    let real = other.add_client(|h| claimant(h, "Alice", ALICE, Some(alice_steam)));
    other.run_for(Duration::from_secs(1));
    assert_eq!(state(&other, real), ClientState::Connected);
    assert!(named(&other.host.players(), "Alice").unwrap().verified);

    // A host without Steam cannot check tickets and is given none.
    let count = Arc::new(Mutex::new(0));
    let counter = Arc::clone(&count);
    let counting = TicketMinter::new(move |host| {
        *counter.lock().unwrap() += 1;
        Some(FakeVerifier::ticket_for_host(ALICE, host))
    });
    let mut plain_room = room_with(HostConfig::new(GAME, "No Steam"), None, 23);
    let c = plain_room.add_client(|h| claimant(h, "Alice", ALICE, Some(counting)));
    plain_room.run_for(Duration::from_secs(1));
    assert_eq!(state(&plain_room, c), ClientState::Connected);
    assert!(!named(&plain_room.host.players(), "Alice").unwrap().verified);
    assert_eq!(
        *count.lock().unwrap(),
        0,
        "no ticket minted for a host without Steam"
    );
}

#[test]
fn unanswered_ticket_is_refused_after_the_verify_timeout_and_not_before() {
    let steam = Steam::new(FakeAnswer::NeverAnswer);
    let mut room = room_with(host_cfg(), Some(&steam), 4);
    let a = steam_player(&mut room, "Alice", ALICE);
    room.run_for(VERIFY_TIMEOUT - Duration::from_millis(200));
    assert_eq!(state(&room, a), ClientState::Connecting);
    assert_eq!(refused(&room, a), None);
    assert_eq!(room.host.players().len(), 1);
    // Hellos kept coming every 250 ms; none began a second check.
    assert_eq!(steam.begun(), vec![ALICE]);
    assert_eq!(steam.open(), vec![ALICE]);

    room.run_for(Duration::from_millis(400));
    assert_refused(&room, a, RefuseReason::NotVerified, "did not confirm");
    assert_eq!(room.host.players().len(), 1);
    room.run_for(VERIFY_TIMEOUT + Duration::from_secs(1));
    assert!(steam.open().is_empty(), "a check stayed open");
}

#[test]
fn claiming_a_seated_players_steam_id_is_refused_and_the_victim_stays() {
    let steam = Steam::new(FakeAnswer::Accept);
    let mut room = room_with(host_cfg(), Some(&steam), 5);
    let a = steam_player(&mut room, "Alice", ALICE);
    room.run_for(Duration::from_secs(1));
    assert_eq!(state(&room, a), ClientState::Connected);

    // Bob's own valid ticket does not make him Alice.
    let own_ticket =
        room.add_client(|h| claimant(h, "Mallory", ALICE, Some(FakeVerifier::minter(BOB))));
    // Nor does a forged one.
    let forged =
        room.add_client(|h| claimant(h, "Forger", ALICE, Some(fixed(b"fake-ticket:not really"))));
    // A bare claim without a ticket is refused the same way.
    let bare = room.add_client(|h| claimant(h, "Claimer", ALICE, None));
    // Alice's ticket under Bob's id is refused by Steam.
    let stolen = room.add_client(|h| claimant(h, "Thief", BOB, Some(FakeVerifier::minter(ALICE))));
    room.run_for(Duration::from_secs(1));

    assert_refused(
        &room,
        own_ticket,
        RefuseReason::SteamIdInUse,
        &ALICE.to_string(),
    );
    assert_refused(
        &room,
        forged,
        RefuseReason::SteamIdInUse,
        &ALICE.to_string(),
    );
    assert_refused(&room, stolen, RefuseReason::NotVerified, "another Steam id");
    assert_refused(&room, bare, RefuseReason::SteamIdInUse, &ALICE.to_string());
    let players = room.host.players();
    assert_eq!(players.len(), 2);

    // Alice is untouched: seated, verified, her Steam session open.
    assert_eq!(state(&room, a), ClientState::Connected);
    let alices = with_id(&players, ALICE);
    assert_eq!(alices.len(), 1);
    assert_eq!(alices[0].name, "Alice");
    assert!(!steam.ended().contains(&ALICE));
    assert_eq!(steam.open(), vec![ALICE]);
    // Steam was never asked about the seated id again.
    assert_eq!(steam.begun().iter().filter(|&&id| id == ALICE).count(), 1);
}

#[test]
fn two_joiners_racing_for_one_steam_id_get_one_seat() {
    // Both arrive while Steam is still thinking about the first.
    let steam = Steam::new(FakeAnswer::NeverAnswer);
    let mut room = room_with(host_cfg(), Some(&steam), 6);
    let first = steam_player(&mut room, "First", ALICE);
    let second = steam_player(&mut room, "Second", ALICE);
    room.run_for(Duration::from_millis(500));
    steam.set_answer(ALICE, FakeAnswer::Accept);
    room.run_for(Duration::from_secs(1));
    let states = [state(&room, first), state(&room, second)];
    let winner = if states[0] == ClientState::Connected {
        first
    } else {
        second
    };
    let loser = if winner == first { second } else { first };
    assert_eq!(state(&room, winner), ClientState::Connected);
    assert_refused(&room, loser, RefuseReason::SteamIdInUse, "already joining");
    assert_eq!(with_id(&room.host.players(), ALICE).len(), 1);
    assert_eq!(steam.open(), vec![ALICE]);

    // Both arriving at one instant when Steam answers at once.
    let steam = Steam::new(FakeAnswer::Accept);
    let mut room = room_with(host_cfg(), Some(&steam), 7);
    let one = steam_player(&mut room, "One", BOB);
    let two = steam_player(&mut room, "Two", BOB);
    room.run_for(Duration::from_secs(1));
    let connected = [one, two]
        .iter()
        .filter(|&&i| state(&room, i) == ClientState::Connected)
        .count();
    assert_eq!(connected, 1);
    let loser = if state(&room, one) == ClientState::Connected {
        two
    } else {
        one
    };
    assert_refused(&room, loser, RefuseReason::SteamIdInUse, &BOB.to_string());
    assert_eq!(with_id(&room.host.players(), BOB).len(), 1);
}

#[test]
fn claiming_the_hosts_steam_id_is_refused_without_asking_steam() {
    let steam = Steam::new(FakeAnswer::Accept);
    let mut room = room_with(host_cfg(), Some(&steam), 8);
    let c = steam_player(&mut room, "Fake host", HOST_ID);
    room.run_for(Duration::from_secs(1));
    assert_refused(&room, c, RefuseReason::SteamIdInUse, &HOST_ID.to_string());
    assert!(steam.begun().is_empty());
    assert_eq!(room.host.players().len(), 1);
}

#[test]
fn require_verified_refuses_joiners_without_steam_and_open_rooms_seat_them_unverified() {
    let steam = Steam::new(FakeAnswer::Accept);
    let cfg = HostConfig {
        require_verified: true,
        ..host_cfg()
    };
    let mut room = room_with(cfg, Some(&steam), 9);
    let nobody = plain(&mut room, "Nobody");
    let bare = room.add_client(|h| claimant(h, "Bare", ALICE, None));
    let alice = steam_player(&mut room, "Alice", BOB);
    room.run_for(Duration::from_secs(1));
    assert_refused(
        &room,
        nobody,
        RefuseReason::NotVerified,
        "verified by Steam",
    );
    assert_refused(&room, bare, RefuseReason::NotVerified, "no Steam ticket");
    assert_eq!(state(&room, alice), ClientState::Connected);

    // The rule can be lifted on a running room.
    room.host.set_require_verified(false);
    let later = plain(&mut room, "Later");
    room.run_for(Duration::from_secs(1));
    assert_eq!(state(&room, later), ClientState::Connected);

    // An open room seats them, and an unproven claim never shows as the id.
    let mut room = room_with(host_cfg(), Some(&steam), 10);
    let nobody = plain(&mut room, "Nobody");
    let bare = room.add_client(|h| claimant(h, "Bare", ALICE, None));
    room.run_for(Duration::from_secs(1));
    assert_eq!(state(&room, nobody), ClientState::Connected);
    assert_eq!(state(&room, bare), ClientState::Connected);
    let players = room.host.players();
    for name in ["Nobody", "Bare"] {
        let p = named(&players, name).unwrap();
        assert_eq!(p.steam_id, None, "{name}");
        assert!(!p.verified, "{name}");
    }
    // The bare claim does not block the real Alice either.
    let real = steam_player(&mut room, "Alice", ALICE);
    room.run_for(Duration::from_secs(1));
    assert_eq!(state(&room, real), ClientState::Connected);
    assert_eq!(with_id(&room.host.players(), ALICE)[0].name, "Alice");
}

#[test]
fn a_host_that_cannot_check_tickets_seats_unverified_or_refuses_when_required() {
    let mut room = room_with(host_cfg(), None, 11);
    let a = steam_player(&mut room, "Alice", ALICE);
    room.run_for(Duration::from_secs(1));
    assert_eq!(state(&room, a), ClientState::Connected);
    let alice = named(&room.host.players(), "Alice").unwrap();
    assert_eq!(alice.steam_id, None);
    assert!(!alice.verified);

    let cfg = HostConfig {
        require_verified: true,
        ..host_cfg()
    };
    let mut room = SimRoom::new(cfg, clean(), 12);
    room.host.set_verifier(Err("Steam is not running".into()));
    let a = steam_player(&mut room, "Alice", ALICE);
    room.run_for(Duration::from_secs(1));
    assert_refused(&room, a, RefuseReason::NotVerified, "Steam is not running");
}

#[test]
fn a_ticket_too_big_for_a_hello_is_dropped_and_the_join_goes_on_unverified() {
    let steam = Steam::new(FakeAnswer::Accept);
    let mut room = room_with(host_cfg(), Some(&steam), 13);
    let a = room.add_client(|h| claimant(h, "Alice", ALICE, Some(fixed(&[7; MAX_PAYLOAD]))));
    room.run_for(Duration::from_secs(1));
    assert_eq!(state(&room, a), ClientState::Connected);
    let alice = named(&room.host.players(), "Alice").unwrap();
    assert!(!alice.verified);
    assert!(steam.begun().is_empty());
}

fn password_client(host: SocketAddr, name: &str, password: Option<&str>) -> ClientConfig {
    ClientConfig {
        password: password.map(str::to_string),
        ..ClientConfig::new(host, GAME, name, Role::Pilot)
    }
}

fn password_room(seed: u64) -> SimRoom {
    let cfg = HostConfig {
        password: Some(PASSWORD.into()),
        ..host_cfg()
    };
    SimRoom::new(cfg, clean(), seed)
}

#[test]
fn the_right_password_seats_and_never_travels() {
    let mut room = password_room(14);
    room.transmitted = Some(Vec::new());
    let a = room.add_client(|h| password_client(h, "Alice", Some(PASSWORD)));
    room.run_for(Duration::from_secs(1));
    assert_eq!(state(&room, a), ClientState::Connected);
    let now = room.now;
    room.clients[a].1.leave(now);
    room.run_for(Duration::from_secs(1));

    let log = room.transmitted.take().unwrap();
    let from_client: Vec<&Vec<u8>> = log
        .iter()
        .filter(|(from, _, _)| *from == room.client_addr(a))
        .map(|(_, _, d)| d)
        .collect();
    assert!(from_client.len() > 3, "too little traffic to judge");
    // The first hello goes out before the host's cookie; the next is
    // sealed under a key made with the password, which never travels in
    // any form: not in clear, not as hex, not as a hash to guess against.
    let first = from_client[0];
    assert_eq!(packet_kind(first), Ok(PacketKind::Hello));
    assert_eq!(first[COOKIE_AT..COOKIE_AT + 8], [0; 8]);
    assert!(from_client
        .iter()
        .any(|d| packet_kind(d) == Ok(PacketKind::Hello) && d[COOKIE_AT..COOKIE_AT + 8] != [0; 8]));
    assert!(
        !from_client.iter().any(|d| contains(d, b"Alice")),
        "a hello went out unsealed"
    );
    let hex: String = PASSWORD.bytes().map(|b| format!("{b:02x}")).collect();
    for d in from_client {
        assert!(!contains(d, PASSWORD.as_bytes()), "the password went out");
        assert!(!contains(d, hex.as_bytes()), "the password went out as hex");
        assert!(
            !contains(d, b"correct horse"),
            "part of the password went out"
        );
    }
}

#[test]
fn a_wrong_or_missing_password_is_refused() {
    let mut room = password_room(15);
    let wrong = room.add_client(|h| password_client(h, "Wrong", Some("incorrect horse")));
    let missing = room.add_client(|h| password_client(h, "Missing", None));
    let empty = room.add_client(|h| password_client(h, "Empty", Some("")));
    room.run_for(Duration::from_secs(1));
    assert_refused(&room, wrong, RefuseReason::WrongPassword, "wrong password");
    assert_refused(
        &room,
        missing,
        RefuseReason::WrongPassword,
        "asks a password",
    );
    assert_refused(&room, empty, RefuseReason::WrongPassword, "asks a password");
    assert_eq!(room.host.players().len(), 1);

    // A room without a password ignores a proof.
    let mut open = SimRoom::new(host_cfg(), clean(), 16);
    let c = open.add_client(|h| password_client(h, "Eager", Some("whatever")));
    open.run_for(Duration::from_secs(1));
    assert_eq!(open.clients[c].1.state(), ClientState::Connected);
}

/// Hands `data` to the host as if from `from` and returns the handshake
/// answers to `from`; everything else goes on through the network.
fn send_as(room: &mut SimRoom, from: SocketAddr, data: &[u8]) -> Vec<(PacketKind, Vec<u8>)> {
    let now = room.now;
    let _ = room.host.handle_datagram(now, from, data);
    let mut buf = [0u8; MAX_PAYLOAD];
    let mut answers = Vec::new();
    let mut onward = Vec::new();
    while let Some(t) = room.host.poll_transmit(now, &mut buf) {
        let d = buf[..t.len].to_vec();
        if t.to == from {
            if let Ok(k) = packet_kind(&d) {
                answers.push((k, d[HANDSHAKE_HEADER..].to_vec()));
            }
        } else {
            onward.push((t.to, d));
        }
    }
    let host_addr = room.host_addr;
    for (to, d) in onward {
        room.inject(host_addr, to, d);
    }
    answers
}

fn refusal_of(answers: &[(PacketKind, Vec<u8>)]) -> Option<(RefuseReason, String)> {
    answers.iter().find_map(|(k, b)| {
        (*k == PacketKind::Refuse).then(|| {
            (
                RefuseReason::from_u8(b[2]),
                String::from_utf8_lossy(&b[3..]).into_owned(),
            )
        })
    })
}

fn challenge_of(answers: &[(PacketKind, Vec<u8>)]) -> Option<u64> {
    challenge_with_key(answers).map(|(cookie, _)| cookie)
}

/// A challenge's cookie and the host key it names.
fn challenge_with_key(answers: &[(PacketKind, Vec<u8>)]) -> Option<(u64, [u8; 32])> {
    answers.iter().find_map(|(k, b)| {
        (*k == PacketKind::Challenge).then(|| {
            (
                u64::from_be_bytes(b[..8].try_into().unwrap()),
                b[8..40].try_into().unwrap(),
            )
        })
    })
}

/// Byte offset of the cookie in a hello: magic, kind, protocol version.
const COOKIE_AT: usize = HANDSHAKE_HEADER + 2;

#[test]
fn a_hello_captured_from_one_address_is_refused_from_another() {
    let mut room = password_room(17);
    room.transmitted = Some(Vec::new());
    let v = room.add_client(|h| password_client(h, "Victim", Some(PASSWORD)));
    room.run_for(Duration::from_secs(1));
    assert_eq!(state(&room, v), ClientState::Connected);
    let victim = room.client_addr(v);
    let log = room.transmitted.take().unwrap();
    let captured = log
        .iter()
        .find(|(from, _, d)| {
            *from == victim
                && packet_kind(d) == Ok(PacketKind::Hello)
                && d[COOKIE_AT..COOKIE_AT + 8] != [0; 8]
        })
        .map(|(_, _, d)| d.clone())
        .expect("the victim's sealed hello");

    // Replayed as it is from elsewhere: the cookie is not that address's.
    let attacker = SocketAddr::from(([192, 0, 2, 7], 4000));
    let answers = send_as(&mut room, attacker, &captured);
    assert_eq!(refusal_of(&answers), None);
    let cookie = challenge_of(&answers).expect("a challenge for the attacker");
    assert_eq!(room.host.players().len(), 2);

    // With the attacker's own cookie: the victim's key already seated
    // someone, so the hello is a replay, dropped unanswered and counted.
    let mut forged = captured.clone();
    forged[COOKIE_AT..COOKIE_AT + 8].copy_from_slice(&cookie.to_be_bytes());
    let dropped = room.host.unsealed_dropped;
    assert!(send_as(&mut room, attacker, &forged).is_empty());
    assert_eq!(room.host.unsealed_dropped, dropped + 1);
    assert_eq!(room.host.players().len(), 2);
    // A fresh key with the victim's sealed body: the body does not open
    // under the attacker's key (the key is in its transcript), which the
    // host counts as a wrong password.
    let mut spliced = forged.clone();
    spliced[COOKIE_AT + 8] ^= 0x55;
    let (reason, message) = refusal_of(&send_as(&mut room, attacker, &spliced)).expect("refused");
    assert_eq!(reason, RefuseReason::WrongPassword);
    assert!(message.contains("wrong password"), "{message}");
    assert_eq!(room.host.players().len(), 2);
    room.run_for(Duration::from_secs(1));
    assert_eq!(state(&room, v), ClientState::Connected);
}

/// A room without a network: datagrams are handed over at once and time
/// moves only when the test says, so a join can be caught mid-check.
struct Direct {
    now: Instant,
    host: Host,
    host_addr: SocketAddr,
    clients: Vec<(SocketAddr, Client, Vec<Event>)>,
}

impl Direct {
    fn new(cfg: HostConfig, steam: &Steam) -> Direct {
        let now = Instant::now();
        let mut host = Host::new(cfg, now);
        host.set_verifier(Ok(Box::new(steam.clone())));
        Direct {
            now,
            host,
            host_addr: SocketAddr::from(([10, 0, 0, 1], 5056)),
            clients: Vec::new(),
        }
    }

    fn join(&mut self, make: impl FnOnce(SocketAddr) -> ClientConfig) -> usize {
        let i = self.clients.len();
        let addr = SocketAddr::from(([10, 0, 1, i as u8 + 2], 40000 + i as u16));
        let c = Client::new(make(self.host_addr), self.now);
        self.clients.push((addr, c, Vec::new()));
        self.pump();
        i
    }

    /// Moves datagrams both ways until nobody has anything to send.
    fn pump(&mut self) {
        let mut buf = [0u8; MAX_PAYLOAD];
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(t) = self.host.poll_transmit(self.now, &mut buf) {
                moved = true;
                if let Some((_, c, _)) = self.clients.iter_mut().find(|(a, _, _)| *a == t.to) {
                    let _ = c.handle_datagram(self.now, self.host_addr, &buf[..t.len]);
                }
            }
            for (addr, c, events) in &mut self.clients {
                while let Some(t) = c.poll_transmit(self.now, &mut buf) {
                    moved = true;
                    let _ = self.host.handle_datagram(self.now, *addr, &buf[..t.len]);
                }
                while let Some(e) = c.poll_event() {
                    events.push(e);
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the room never went quiet");
    }

    fn state(&self, i: usize) -> ClientState {
        self.clients[i].1.state()
    }
}

#[test]
fn seats_filled_while_steam_was_thinking_refuse_the_waiting_joiner() {
    let steam = Steam::new(FakeAnswer::NeverAnswer);
    let cfg = HostConfig {
        max_pilots: 2,
        ..host_cfg()
    };
    let mut room = Direct::new(cfg, &steam);
    let t0 = room.now;
    let a = room.join(|h| claimant(h, "Alice", ALICE, Some(FakeVerifier::minter(ALICE))));
    assert_eq!(room.state(a), ClientState::Connecting);
    assert_eq!(steam.open(), vec![ALICE]);
    let b = room.join(|h| ClientConfig::new(h, GAME, "Bob", Role::Pilot));
    assert_eq!(room.state(b), ClientState::Connected);

    // Steam says yes, but the last pilot seat went to Bob meanwhile.
    steam.set_answer(ALICE, FakeAnswer::Accept);
    let due = room.host.poll_timeout().expect("the host polls Steam");
    assert!(due <= t0 + Duration::from_millis(50), "{due:?}");
    room.now = due;
    room.host.handle_timeout(due);
    room.pump();
    let (reason, message) = refusal_in(&room.clients[a].2).expect("Alice refused");
    assert_eq!(reason, RefuseReason::PilotsFull, "{message}");
    assert_eq!(room.state(a), ClientState::Closed(CloseReason::Refused));
    assert_eq!(room.host.players().len(), 2);
    assert!(with_id(&room.host.players(), ALICE).is_empty());
    assert_eq!(steam.ended(), vec![ALICE]);
    assert!(steam.open().is_empty());

    // Willing to watch instead: seated as a verified spectator.
    let steam = Steam::new(FakeAnswer::NeverAnswer);
    let cfg = HostConfig {
        max_pilots: 2,
        ..host_cfg()
    };
    let mut room = Direct::new(cfg, &steam);
    let a = room.join(|h| ClientConfig {
        spectate_if_full: true,
        ..claimant(h, "Alice", ALICE, Some(FakeVerifier::minter(ALICE)))
    });
    room.join(|h| ClientConfig::new(h, GAME, "Bob", Role::Pilot));
    steam.set_answer(ALICE, FakeAnswer::Accept);
    room.now += Duration::from_millis(50);
    let now = room.now;
    room.host.handle_timeout(now);
    room.pump();
    assert_eq!(room.state(a), ClientState::Connected);
    assert_eq!(room.clients[a].1.role(), Role::Spectator);
    let alice = named(&room.host.players(), "Alice").unwrap();
    assert_eq!(alice.role, Role::Spectator);
    assert!(alice.verified);
    assert_eq!(steam.open(), vec![ALICE]);
}

#[test]
fn hellos_and_players_of_older_peers_still_work() {
    let info: PlayerInfo =
        serde_json::from_str(r#"{"actor":3,"role":"pilot","seat":2,"name":"Old","player_id":"x"}"#)
            .unwrap();
    assert_eq!(info.steam_id, None);
    assert!(!info.verified);
    let old_hello = br#"{"game_version":"drl-4.2.1","name":"Old","player_id":"","role":"pilot"}"#;
    let parsed: Hello = serde_json::from_slice(old_hello).unwrap();
    assert_eq!(parsed.steam_id, None);

    // A hello without the identity fields still seats its sender, unverified.
    let steam = Steam::new(FakeAnswer::Accept);
    let mut room = room_with(host_cfg(), Some(&steam), 18);
    let old = SocketAddr::from(([192, 0, 2, 9], 5000));
    let mut first = b"PWSH\x01".to_vec();
    first.extend_from_slice(&propwash::proto::PROTOCOL_VERSION.to_be_bytes());
    first.resize(64, 0);
    let (cookie, key) = challenge_with_key(&send_as(&mut room, old, &first)).expect("challenge");
    let hello = propwash::session::seal::hello_datagram(cookie, key, "", old_hello).unwrap();
    assert_eq!(refusal_of(&send_as(&mut room, old, &hello)), None);
    let p = named(&room.host.players(), "Old").expect("seated");
    assert!(!p.verified);
    assert_eq!(p.steam_id, None);
    // What an older client reads from the room carries the new fields
    // harmlessly: they are plain JSON members it does not know.
    let json = serde_json::to_string(&room.host.players()[0]).unwrap();
    assert!(
        json.contains(&format!("\"steam_id\":\"{HOST_ID}\"")),
        "{json}"
    );
}

#[test]
fn a_crashed_verified_player_rejoins_at_once_from_a_new_address() {
    let steam = Steam::new(FakeAnswer::Accept);
    let mut room = room_with(host_cfg(), Some(&steam), 31);
    let a = steam_player(&mut room, "Alice", ALICE);
    room.run_for(Duration::from_secs(1));
    assert_eq!(state(&room, a), ClientState::Connected);
    // Her game dies: nothing more from that address.
    room.disconnect(a);
    // Back within a second, before the old seat has been silent long
    // enough: still "in use", the old seat stays.
    room.run_for(Duration::from_millis(500));
    let early = steam_player(&mut room, "Alice again", ALICE);
    room.run_for(Duration::from_millis(500));
    assert_refused(&room, early, RefuseReason::SteamIdInUse, &ALICE.to_string());
    // After 2 s of silence, long before the 5 s timeout, a new game with a
    // fresh ticket takes her place; the old seat leaves as timed out.
    room.run_for(Duration::from_millis(1200));
    let back = steam_player(&mut room, "Alice back", ALICE);
    room.run_for(Duration::from_millis(500));
    assert_eq!(state(&room, back), ClientState::Connected);
    let players = room.host.players();
    let alices = with_id(&players, ALICE);
    assert_eq!(alices.len(), 1, "{players:?}");
    assert_eq!(alices[0].name, "Alice back");
    assert!(alices[0].verified);
    assert!(room.host_events.iter().any(|e| matches!(
        e,
        Event::PlayerLeft {
            reason: LeaveReason::TimedOut,
            ..
        }
    )));
    // Her old Steam session ended, the new one is open.
    assert_eq!(steam.open(), vec![ALICE]);
    assert!(steam.ended().contains(&ALICE));
    // A claim without a ticket never frees a seat, however silent.
    room.disconnect(back);
    room.run_for(Duration::from_secs(3));
    let bare = room.add_client(|h| claimant(h, "Bare", ALICE, None));
    room.run_for(Duration::from_millis(300));
    assert_refused(&room, bare, RefuseReason::SteamIdInUse, &ALICE.to_string());
}
