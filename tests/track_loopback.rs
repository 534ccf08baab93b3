//! Custom tracks over real sockets on 127.0.0.1: the host serves a folder
//! through `Session::serve_track`, joiners with their own maps folders
//! (`Session::join_with_target`) download it at once while pilots keep
//! flying, and what lands on disk is exactly the host's track. Every wait
//! is bounded (30 s).

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use propwash::proto::{PilotFrame, Role};
use propwash::runtime::{PilotState, Session};
use propwash::session::{ClientConfig, Event, HostConfig, HOST_ACTOR, MAX_PILOTS};
use propwash::track::transfer::{FolderSource, MapsFolder, TrackSource};
use propwash::track::{generate_track, verify_dir, Limits, TrackHash};

mod common;
use common::scratch::Scratch;

const GAME: &str = "drl-loopback-track";
const MAP: &str = "MP-Stadium";
const TRACK: &str = "CMP-loopback";
const WAIT: Duration = Duration::from_secs(30);
const PHYSICS_HZ: u64 = 120;

fn any() -> SocketAddr {
    ([127, 0, 0, 1], 0).into()
}

fn serve(host: &Session, src: &Path) -> TrackHash {
    let source = FolderSource::new(src, MAP, TRACK, &Limits::default()).expect("source");
    let hash = source.manifest().track_hash();
    host.serve_track(Some(Box::new(source)), true)
        .expect("the host serves");
    hash
}

fn join(host: &Session, name: &str, role: Role, maps: &Path) -> Session {
    let cfg = ClientConfig::new(host.local_addr(), GAME, name, role);
    let target = MapsFolder::new(maps, None, Limits::default()).expect("maps folder");
    Session::join_with_target(any(), cfg, Some(Box::new(target))).expect("join")
}

fn frame(tick: u32) -> PilotFrame {
    PilotFrame {
        tick,
        position: [tick as f32 * 0.1, 2.0, 0.0],
        rotation: [0.0, 0.0, 0.0, 1.0],
        ..PilotFrame::default()
    }
}

/// One joiner as the test follows it.
struct Joiner {
    name: &'static str,
    session: Session,
    maps: PathBuf,
    /// First progress and the outcome, as seen by polling.
    started: Option<Instant>,
    progress: Vec<(u64, u64)>,
    ready: Option<(PathBuf, bool, Instant)>,
    failed: Option<String>,
    /// Distinct ticks of the host read while its download ran.
    host_ticks_during: u64,
    newest_host_tick: u32,
}

#[test]
fn three_joiners_download_the_hosts_track_at_once_while_pilots_fly() {
    let s = Scratch::new("three");
    let src = s.dir("host-maps").join(MAP).join("custom").join(TRACK);
    let manifest = generate_track(&src, MAP, TRACK, 5 << 20, 23, 42).expect("track");
    let mut host = Session::host(any(), HostConfig::new(GAME, "Host")).expect("host");
    let hash = serve(&host, &src);
    assert_eq!(hash, manifest.track_hash());

    let mut joiners: Vec<Joiner> = [
        ("Pilot", Role::Pilot),
        ("Wingman", Role::Pilot),
        ("Watcher", Role::Spectator),
    ]
    .into_iter()
    .map(|(name, role)| {
        let maps = s.dir(&format!("{name}-maps"));
        Joiner {
            name,
            session: join(&host, name, role, &maps),
            maps,
            started: None,
            progress: Vec::new(),
            ready: None,
            failed: None,
            host_ticks_during: 0,
            newest_host_tick: 0,
        }
    })
    .collect();

    // The game loop: the host and the first joiner fly at the physics rate,
    // everyone polls every millisecond.
    let start = Instant::now();
    let mut tick = 0u32;
    let mut states = [PilotState::default(); MAX_PILOTS];
    let mut pilot_ticks_on_host = 0u32;
    while Instant::now() < start + WAIT {
        let due = (start.elapsed().as_micros() as u64 * PHYSICS_HZ / 1_000_000) as u32;
        while tick < due {
            tick += 1;
            // A full queue only drops a frame; the next tick replaces it.
            let _ = host.push_local(&frame(tick));
            let _ = joiners[0].session.push_local(&frame(tick));
        }
        let n = host.read_pilots(&mut states);
        for st in &states[..n] {
            pilot_ticks_on_host = pilot_ticks_on_host.max(st.frame.tick);
        }
        while let Some(ev) = host.poll_event() {
            if let Event::Closed { reason } = ev {
                panic!("the host closed during the transfer: {reason:?}");
            }
        }
        for j in &mut joiners {
            while let Some(ev) = j.session.poll_event() {
                match ev {
                    Event::TrackProgress { received, total } => {
                        j.started.get_or_insert_with(Instant::now);
                        j.progress.push((received, total));
                    }
                    Event::TrackReady { path, downloaded } => {
                        j.ready = Some((path, downloaded, Instant::now()));
                    }
                    Event::TrackFailed { reason } => j.failed = Some(reason),
                    Event::Closed { reason } => panic!("{} was closed: {reason:?}", j.name),
                    _ => {}
                }
            }
            let n = j.session.read_pilots(&mut states);
            let host_tick = states[..n]
                .iter()
                .find(|st| st.actor == HOST_ACTOR)
                .map_or(0, |st| st.frame.tick);
            if host_tick > j.newest_host_tick {
                j.newest_host_tick = host_tick;
                if j.started.is_some() && j.ready.is_none() {
                    j.host_ticks_during += 1;
                }
            }
        }
        if joiners
            .iter()
            .all(|j| j.ready.is_some() || j.failed.is_some())
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }

    for j in &joiners {
        assert_eq!(j.failed, None, "{}'s download failed", j.name);
        let (path, downloaded, done_at) = j
            .ready
            .clone()
            .unwrap_or_else(|| panic!("{} got no track within {WAIT:?}", j.name));
        assert!(downloaded, "{} downloaded it", j.name);
        let want = fs::canonicalize(&j.maps)
            .unwrap()
            .join(MAP)
            .join("custom")
            .join(TRACK);
        assert_eq!(path, want, "{} installed it where the game looks", j.name);
        let files = verify_dir(&path, &hash, &Limits::default())
            .unwrap_or_else(|e| panic!("{}'s copy does not verify: {e}", j.name));
        assert_eq!(files.len(), manifest.files().len());
        // Progress is in bytes of the whole track and ends at all of it.
        let total = manifest.total_size();
        assert!(j.progress.iter().all(|&(r, t)| t == total && r <= total));
        assert_eq!(j.progress.last().map(|p| p.0), Some(total), "{}", j.name);
        // The room kept flying: at least a snapshot every 100 ms reached
        // each joiner while its download ran (pilots get 60 a second,
        // spectators 30).
        let ran = done_at.duration_since(j.started.expect("progress came first"));
        let floor = (ran.as_millis() / 100) as u64;
        assert!(
            j.host_ticks_during >= floor,
            "{} read {} host ticks in a {ran:?} download, want at least {floor}",
            j.name,
            j.host_ticks_during
        );
        // Nothing but the installed track was left in the maps folder.
        let left: Vec<_> = fs::read_dir(&j.maps)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, [MAP], "{}: {left:?}", j.name);
    }
    assert!(
        pilot_ticks_on_host > 0,
        "the host read the flying pilot during the transfer"
    );
    for j in joiners {
        j.session.close_and_wait();
    }
    host.close_and_wait();
}

/// Eight rooms filling at once on a busy machine: every joiner's first
/// request (sent in reply to the welcome) must reach its host. The host's
/// reader once let a newly seated peer through only after the welcome had
/// gone out, so a quick reply was dropped as a stranger's and never resent.
#[test]
fn every_joiners_first_request_reaches_a_busy_host() {
    let s = Scratch::new("busy");
    let src = s.dir("src");
    generate_track(&src, MAP, TRACK, 256 << 10, 3, 5).expect("track");
    let rooms: Vec<_> = (0..8)
        .map(|k| {
            let src = src.clone();
            let maps = s.dir(&format!("maps{k}"));
            std::thread::spawn(move || {
                for round in 0..5 {
                    let mut host =
                        Session::host(any(), HostConfig::new(GAME, "Host")).expect("host");
                    serve(&host, &src);
                    let round_maps = maps.join(format!("{round}"));
                    fs::create_dir_all(&round_maps).expect("maps");
                    let mut c = join(&host, "Joiner", Role::Pilot, &round_maps);
                    let end = Instant::now() + Duration::from_secs(10);
                    let mut outcome = None;
                    while outcome.is_none() && Instant::now() < end {
                        while let Some(ev) = c.poll_event() {
                            match ev {
                                Event::TrackReady { .. } => outcome = Some(Ok(())),
                                Event::TrackFailed { reason } => outcome = Some(Err(reason)),
                                _ => {}
                            }
                        }
                        while host.poll_event().is_some() {}
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    let dropped = host.counters().dropped_strangers;
                    c.close_and_wait();
                    host.close_and_wait();
                    assert_eq!(outcome, Some(Ok(())), "room {k} round {round}");
                    assert_eq!(
                        dropped, 0,
                        "room {k} round {round}: the reply to the welcome was dropped"
                    );
                }
            })
        })
        .collect();
    for r in rooms {
        r.join().expect("a room's thread");
    }
}

#[test]
fn a_cmp_track_served_by_its_file_is_installed_by_a_joiner_as_its_guid() {
    let s = Scratch::new("cmp");
    let guid = "CMP-5f2a91";
    let file = s
        .dir("host/storage/offline/maps")
        .join(format!("{guid}.cmp"));
    let bytes: Vec<u8> = (0..700_000u32).map(|i| (i % 253) as u8).collect();
    fs::write(&file, &bytes).unwrap();
    let mut host = Session::host(any(), HostConfig::new(GAME, "Host")).expect("host");
    // The host serves the file as the game keeps it, hashed on a helper thread.
    host.serve_track_folder(&file, "MapCustom", "", true, Limits::default())
        .expect("serving starts");
    let maps = s.dir("joiner/content/maps");
    let custom = s.dir("joiner/storage/offline/maps");
    let cfg = ClientConfig::new(host.local_addr(), GAME, "Joiner", Role::Pilot);
    let target = MapsFolder::new(&maps, None, Limits::default())
        .and_then(|m| m.with_file_tracks(&custom))
        .expect("maps folders");
    let mut joiner = Session::join_with_target(any(), cfg, Some(Box::new(target))).expect("join");
    let end = Instant::now() + WAIT;
    let mut host_ready = false;
    let outcome = loop {
        assert!(Instant::now() < end, "no outcome within {WAIT:?}");
        while let Some(e) = host.poll_event() {
            if let Event::TrackReady { path, .. } = e {
                assert_eq!(path, file, "the host says what it serves");
                host_ready = true;
            }
        }
        match joiner.poll_event() {
            Some(Event::TrackReady { path, downloaded }) => break Ok((path, downloaded)),
            Some(Event::TrackFailed { reason }) => break Err(reason),
            Some(Event::Closed { reason }) => panic!("closed: {reason:?}"),
            Some(_) => {}
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    let (path, downloaded) = outcome.expect("the joiner got the track");
    assert!(host_ready && downloaded);
    assert_eq!(
        path,
        fs::canonicalize(&custom)
            .unwrap()
            .join(format!("{guid}.cmp"))
    );
    assert_eq!(fs::read(&path).unwrap(), bytes);
    assert_eq!(
        fs::read_dir(&custom).unwrap().count(),
        1,
        "no temporary left"
    );
    assert_eq!(
        fs::read_dir(&maps).unwrap().count(),
        0,
        "nothing in content/maps"
    );
    let props = joiner.snapshot().room.clone();
    let text = |k: &str| {
        props
            .get(k.as_bytes())
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    assert_eq!(text("track_layout").as_deref(), Some("file"));
    assert_eq!(text("track_id").as_deref(), Some(guid));
    joiner.leave();
    host.leave();
}
