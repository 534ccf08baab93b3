//! The lobby inside the runtime, on loopback: a host lists its room from
//! its game socket, a browser finds it, a joiner joins it by id (the
//! introduction and punching run on the joiner's game socket) and pilot
//! frames flow; occupancy reaches the list as players come and go; the
//! room leaves the list when the host closes it; a join that finds no
//! room fails with the coordinator's reason.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use propwash::lobby::service::{Service, ServiceConfig};
use propwash::lobby::{
    CoordinatorConfig, JoinFailure, ListQuery, Listing, LobbyConfig, LobbyEvent, Path, SessionId,
};
use propwash::proto::{PilotFrame, Role};
use propwash::runtime::{LobbyBrowser, PilotState, Session, SessionState};
use propwash::session::{ClientConfig, CloseReason, Event, HostConfig};

const GAME: &str = "drl-lobby-test";

fn any() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn coordinator() -> Service {
    Service::start(ServiceConfig {
        udp: any(),
        http: None,
        coordinator: CoordinatorConfig::default(),
    })
    .expect("start coordinator")
}

fn lobby_cfg(c: &Service) -> LobbyConfig {
    let mut cfg = LobbyConfig::new(c.udp_addr(), GAME);
    cfg.retry_interval = Duration::from_millis(200);
    cfg
}

fn listing(name: &str) -> Listing {
    let mut l = Listing::default();
    l.host.player_name = "Host".into();
    l.host.steam_id = "76561198000000001".into();
    l.room.name = name.into();
    l.room.map_id = "MP-STADIUM".into();
    l.room.track_id = "TR-1".into();
    l.room.mode = "race".into();
    l.settings.laps = 3;
    l.settings.physics = "drl".into();
    l
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

/// Waits for the host's listing and returns its id.
fn registered(host: &mut Session) -> SessionId {
    let mut id = None;
    assert!(
        wait_until(Duration::from_secs(5), || {
            while let Some(ev) = host.poll_lobby_event() {
                if let LobbyEvent::Registered { session_id, .. } = ev {
                    id = Some(session_id);
                }
            }
            id.is_some()
        }),
        "the room is listed"
    );
    id.unwrap()
}

/// Lists rooms through `b` and returns the page's sessions.
fn list(b: &LobbyBrowser, q: ListQuery) -> Vec<propwash::lobby::SessionRecord> {
    let want = b.list(q).expect("queue query");
    let mut out = None;
    assert!(
        wait_until(Duration::from_secs(5), || {
            while let Some(ev) = b.poll() {
                match ev {
                    LobbyEvent::ListResult { request_id, page } if request_id == want => {
                        out = Some(page.sessions)
                    }
                    LobbyEvent::ListFailed { request_id, reason } if request_id == want => {
                        panic!("list failed: {reason}")
                    }
                    _ => {}
                }
            }
            out.is_some()
        }),
        "an answer to the lobby query"
    );
    out.unwrap()
}

/// Lists again every 250 ms (the coordinator limits each address to 20
/// requests a second) until `want` holds for the rooms, for 5 s at most.
fn list_until(
    b: &LobbyBrowser,
    mut want: impl FnMut(&[propwash::lobby::SessionRecord]) -> bool,
) -> bool {
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        if want(&list(b, ListQuery::default())) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    false
}

fn frame(tick: u32) -> PilotFrame {
    PilotFrame {
        tick,
        position: [tick as f32, 1.0, 2.0],
        rotation: [0.0, 0.0, 0.0, 1.0],
        ..Default::default()
    }
}

#[test]
fn a_listed_room_is_found_joined_by_id_and_flown() {
    let c = coordinator();
    let mut host = Session::host_listed(
        any(),
        HostConfig::new(GAME, "Host"),
        lobby_cfg(&c),
        listing("Friday night"),
    )
    .expect("host");
    let id = registered(&mut host);

    let browser = LobbyBrowser::open(any(), lobby_cfg(&c)).expect("browser");
    let rooms = list(&browser, ListQuery::default());
    assert_eq!(rooms.len(), 1, "{rooms:?}");
    assert_eq!(rooms[0].session_id, id);
    assert_eq!(rooms[0].room.name, "Friday night");
    assert_eq!(rooms[0].game_version, GAME);
    assert_eq!(rooms[0].host.port, host.local_addr().port());
    assert_eq!(
        (rooms[0].capacity.current_pilots, rooms[0].capacity.pilots),
        (1, 6)
    );
    // Another build's browser never sees it.
    let other = LobbyBrowser::open(any(), LobbyConfig::new(c.udp_addr(), "drl-other")).unwrap();
    assert!(list(&other, ListQuery::default()).is_empty());

    let cfg = ClientConfig::new(c.udp_addr(), GAME, "Joiner", Role::Pilot);
    let mut joiner =
        Session::join_listed(any(), cfg, lobby_cfg(&c), id, None).expect("join listed");
    assert!(
        wait_until(Duration::from_secs(10), || joiner.snapshot().state
            == SessionState::Connected),
        "seated through the lobby"
    );
    let mut path = None;
    while let Some(ev) = joiner.poll_lobby_event() {
        if let LobbyEvent::Connected { path: p, peer, .. } = ev {
            assert_eq!(peer, host.local_addr());
            path = Some(p);
        }
    }
    assert_eq!(path, Some(Path::Direct), "loopback needs no relay");

    // Frames flow both ways on the punched path.
    let mut out = [PilotState::default(); 6];
    for tick in 1..=60u32 {
        host.push_local(&frame(tick)).unwrap();
        joiner.push_local(&frame(tick)).unwrap();
        std::thread::sleep(Duration::from_millis(8));
    }
    assert!(wait_until(Duration::from_secs(2), || {
        let n = joiner.read_pilots(&mut out);
        n == 1 && out[0].frame.tick == 60
    }));
    assert!(wait_until(Duration::from_secs(2), || {
        let n = host.read_pilots(&mut out);
        n == 1 && out[0].frame.tick == 60
    }));

    // The list shows the joiner at once (occupancy goes with a heartbeat).
    assert!(
        list_until(&browser, |r| r.len() == 1
            && r[0].capacity.current_pilots == 2),
        "occupancy reaches the list"
    );
    // The host renames the room: seats and occupancy stay the room's.
    let mut renamed = listing("Saturday night");
    renamed.capacity.pilots = 1; // ignored: the room says 6
    host.update_listing(renamed).expect("update the listing");
    assert!(
        list_until(&browser, |r| r.len() == 1
            && r[0].room.name == "Saturday night"
            && (r[0].capacity.pilots, r[0].capacity.current_pilots) == (6, 2)),
        "the new listing reaches the list"
    );
    assert!(
        joiner.update_listing(listing("x")).is_err(),
        "only the host lists"
    );
    joiner.close_and_wait();
    assert!(
        list_until(&browser, |r| r.len() == 1
            && r[0].capacity.current_pilots == 1),
        "a departure reaches the list"
    );
    // Closing the room withdraws it at once, not after missed heartbeats.
    host.close_and_wait();
    assert!(
        list_until(&browser, |r| r.is_empty()),
        "the closed room leaves the list"
    );
    browser.close_and_wait();
    c.shutdown();
}

#[test]
fn joining_a_room_that_is_not_listed_fails_with_the_coordinators_reason() {
    let c = coordinator();
    let cfg = ClientConfig::new(c.udp_addr(), GAME, "Joiner", Role::Pilot);
    let mut joiner = Session::join_listed(any(), cfg, lobby_cfg(&c), SessionId(42), None).unwrap();
    assert!(wait_until(Duration::from_secs(10), || matches!(
        joiner.snapshot().state,
        SessionState::Closed(_)
    )));
    let mut failure = None;
    while let Some(ev) = joiner.poll_lobby_event() {
        if let LobbyEvent::JoinFailed { reason, .. } = ev {
            failure = Some(reason);
        }
    }
    assert!(
        matches!(failure, Some(JoinFailure::Refused { .. })),
        "{failure:?}"
    );
    let closed = std::iter::from_fn(|| joiner.poll_event())
        .find_map(|e| match e {
            Event::Closed { reason } => Some(reason),
            _ => None,
        })
        .expect("a closed event");
    assert_eq!(closed, CloseReason::Refused);
    c.shutdown();
}

#[test]
fn leaving_during_the_introduction_cancels_it() {
    // A coordinator that never answers: the join would take seconds to fail.
    let silent = std::net::UdpSocket::bind(any()).unwrap();
    let cfg = ClientConfig::new(silent.local_addr().unwrap(), GAME, "J", Role::Pilot);
    let lobby = LobbyConfig::new(silent.local_addr().unwrap(), GAME);
    let mut joiner = Session::join_listed(any(), cfg, lobby, SessionId(7), None).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(joiner.snapshot().state, SessionState::Connecting);
    joiner.leave();
    assert!(wait_until(Duration::from_secs(2), || joiner
        .snapshot()
        .state
        == SessionState::Closed(CloseReason::Left)));
    let cancelled = std::iter::from_fn(|| joiner.poll_lobby_event()).any(|e| {
        matches!(
            e,
            LobbyEvent::JoinFailed {
                reason: JoinFailure::Cancelled,
                ..
            }
        )
    });
    assert!(cancelled);
}
