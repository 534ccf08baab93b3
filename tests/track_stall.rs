//! A joiner's frame flow while its track is found on disk, over real sockets
//! on 127.0.0.1. Finding an installed 64 MiB track means hashing it, and
//! taking it from the download cache means copying and hashing it; when
//! that ran on the session's network thread the room froze for the joiner
//! for as long as the disk work took (0.4 to 0.6 s, and up to 0.95 s from
//! the cache, in a debug build on a 2-core machine, against 20 to 30 ms for
//! a joiner without a track).
//! The disk work runs on the maps folder's own thread: the longest gap
//! between the host's frames the joiner reads stays near that of a joiner
//! without any track to look for. A re-join then finds the track without
//! hashing it again, since nothing on disk changed.
//!
//! The host flies at the physics rate throughout. Each joiner's gaps are
//! measured from the moment it starts joining (so a stall before the first
//! frame counts too) until half a second after its track is ready.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use propwash::proto::{PilotFrame, Role};
use propwash::runtime::{PilotState, Session};
use propwash::session::{ClientConfig, Event, HostConfig, HOST_ACTOR, MAX_PILOTS};
use propwash::track::transfer::{FolderSource, MapsFolder, TrackSource};
use propwash::track::{generate_track, Limits, TrackStore};

mod common;
use common::scratch::Scratch;

const GAME: &str = "drl-loopback-stall";
const MAP: &str = "MP-Stadium";
const TRACK: &str = "CMP-stall";
/// Big enough that hashing it takes a few hundred milliseconds.
const TRACK_BYTES: u64 = 64 << 20;
const PHYSICS_HZ: u64 = 120;
/// Watching goes on this long after the track is ready.
const TAIL: Duration = Duration::from_millis(500);
/// Longest a phase may take.
const PHASE_LIMIT: Duration = Duration::from_secs(10);
/// The longest gap allowed between host frames read by a joiner whose
/// track is found on disk. Snapshots come 60 a second; with the disk work
/// on the network thread the gaps were 400 ms and more here.
const MAX_GAP: Duration = Duration::from_millis(150);
/// How much longer than the trackless joiner's the gap may be when the
/// machine is busy (a few snapshot intervals).
const CONTROL_SLACK: Duration = Duration::from_millis(50);

/// Makes every file under `dir` an hour old, as an installed track is
/// (files written moments ago are hashed again on every join, since a
/// coarse file system clock could hide a change made right after).
fn age(dir: &Path) {
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            age(&e.path());
        } else {
            fs::OpenOptions::new()
                .write(true)
                .open(e.path())
                .unwrap()
                .set_modified(SystemTime::now() - Duration::from_secs(3600))
                .unwrap();
        }
    }
}

fn any() -> SocketAddr {
    ([127, 0, 0, 1], 0).into()
}

fn frame(tick: u32) -> PilotFrame {
    PilotFrame {
        tick,
        position: [tick as f32 * 0.1, 2.0, 0.0],
        rotation: [0.0, 0.0, 0.0, 1.0],
        ..PilotFrame::default()
    }
}

/// The host, flying at the physics rate from the test's loop.
struct Room {
    host: Session,
    start: Instant,
    tick: u32,
}

impl Room {
    fn step(&mut self) {
        let due = (self.start.elapsed().as_micros() as u64 * PHYSICS_HZ / 1_000_000) as u32;
        while self.tick < due {
            self.tick += 1;
            // A full queue only drops a frame; the next tick replaces it.
            let _ = self.host.push_local(&frame(self.tick));
        }
        while let Some(ev) = self.host.poll_event() {
            if let Event::Closed { reason } = ev {
                panic!("the host closed: {reason:?}");
            }
        }
    }
}

/// Gaps between the host's frames as one joiner reads them.
struct Gaps {
    joined: Instant,
    newest: u32,
    last_new: Instant,
    /// From the join call to the first host frame read.
    first: Option<Duration>,
    /// Longest time without a new host frame, the first included.
    max: Duration,
}

impl Gaps {
    fn new(joined: Instant) -> Gaps {
        Gaps {
            joined,
            newest: 0,
            last_new: joined,
            first: None,
            max: Duration::ZERO,
        }
    }

    fn read(&mut self, s: &mut Session) {
        let mut states = [PilotState::default(); MAX_PILOTS];
        let n = s.read_pilots(&mut states);
        let host_tick = states[..n]
            .iter()
            .find(|st| st.actor == HOST_ACTOR)
            .map_or(0, |st| st.frame.tick);
        let now = Instant::now();
        if host_tick > self.newest {
            self.newest = host_tick;
            self.max = self.max.max(now - self.last_new);
            self.last_new = now;
            self.first.get_or_insert(now - self.joined);
        }
    }

    /// The last stretch counts as well.
    fn end(&mut self) {
        self.max = self.max.max(self.last_new.elapsed());
    }
}

/// What one joiner saw, and a joiner without a track beside it.
#[derive(Debug)]
struct Watch {
    first_frame: Duration,
    max_gap: Duration,
    /// From the join call to `TrackReady`.
    ready_after: Duration,
    ready: (PathBuf, bool),
    /// The longest gap of a joiner without a track, joined at the same
    /// moment: what the machine itself gives (loopback, scheduling).
    control_gap: Duration,
}

/// Joins with `target` and, at the same moment, without one; polls both
/// every millisecond while the host flies, until half a second after the
/// track is ready.
fn watch(room: &mut Room, name: &str, target: MapsFolder) -> Watch {
    let host = room.host.local_addr();
    let joined = Instant::now();
    let mut s = Session::join_with_target(
        any(),
        ClientConfig::new(host, GAME, name, Role::Pilot),
        Some(Box::new(target)),
    )
    .expect("join");
    let mut control = Session::join(
        any(),
        ClientConfig::new(host, GAME, &format!("{name}-control"), Role::Pilot),
    )
    .expect("join");
    let (mut gaps, mut control_gaps) = (Gaps::new(joined), Gaps::new(joined));
    let mut ready = None;
    let mut end: Option<Instant> = None;
    while end.is_none_or(|e| Instant::now() < e) {
        assert!(
            joined.elapsed() < PHASE_LIMIT,
            "{name}: no outcome within {PHASE_LIMIT:?}"
        );
        room.step();
        while let Some(ev) = s.poll_event() {
            match ev {
                Event::TrackReady { path, downloaded } => {
                    ready = Some((path, downloaded, joined.elapsed()));
                    end = Some(Instant::now() + TAIL);
                }
                Event::TrackFailed { reason } => panic!("{name}: the track failed: {reason}"),
                Event::Closed { reason } => panic!("{name} was closed: {reason:?}"),
                _ => {}
            }
        }
        while let Some(ev) = control.poll_event() {
            if let Event::Closed { reason } = ev {
                panic!("{name}'s control was closed: {reason:?}");
            }
        }
        gaps.read(&mut s);
        control_gaps.read(&mut control);
        std::thread::sleep(Duration::from_millis(1));
    }
    gaps.end();
    control_gaps.end();
    s.close_and_wait();
    control.close_and_wait();
    let (path, downloaded, ready_after) = ready.expect("ready");
    Watch {
        first_frame: gaps.first.expect("a host frame was read"),
        max_gap: gaps.max,
        ready_after,
        ready: (path, downloaded),
        control_gap: control_gaps.max,
    }
}

/// A joiner's frames were not held up: its longest gap is within the
/// bound, or (on a machine busy with other work, where every joiner sees
/// long gaps) close to that of the joiner without a track beside it.
fn not_stalled(w: &Watch) -> bool {
    w.max_gap < MAX_GAP || w.max_gap < w.control_gap + CONTROL_SLACK
}

#[test]
fn finding_a_big_track_on_disk_does_not_stall_the_joiners_frames() {
    let s = Scratch::new("find");
    // Joiner A has the track installed; the host serves that same folder
    // (it only reads it).
    let a_maps = s.dir("a-maps");
    let installed = a_maps.join(MAP).join("custom").join(TRACK);
    let manifest = generate_track(&installed, MAP, TRACK, TRACK_BYTES, 12, 77).expect("track");
    age(&installed);
    let limits = Limits {
        max_total_bytes: TRACK_BYTES,
        ..Limits::default()
    };
    let source = FolderSource::new(&installed, MAP, TRACK, &limits).expect("source");
    assert_eq!(source.manifest().track_hash(), manifest.track_hash());
    // Joiner B has nothing installed but the track in its download cache.
    let b_maps = s.dir("b-maps");
    let cache = s.dir("b-cache");
    TrackStore::open(&cache, limits)
        .expect("cache")
        .insert(&installed, &manifest)
        .expect("cached");

    let host = Session::host(any(), HostConfig::new(GAME, "Host")).expect("host");
    host.serve_track(Some(Box::new(source)), false)
        .expect("the host serves");
    let mut room = Room {
        host,
        start: Instant::now(),
        tick: 0,
    };
    // Let the room settle into flying.
    while room.start.elapsed() < Duration::from_millis(200) {
        room.step();
        std::thread::sleep(Duration::from_millis(1));
    }

    let a = watch(
        &mut room,
        "Installed",
        MapsFolder::new(&a_maps, None, limits).expect("maps folder"),
    );
    let b = watch(
        &mut room,
        "Cached",
        MapsFolder::new(&b_maps, Some(&cache), limits).expect("maps folder"),
    );
    // Joiner A again: its track was hashed on its first join and did not
    // change since.
    let again = watch(
        &mut room,
        "Rejoined",
        MapsFolder::new(&a_maps, None, limits).expect("maps folder"),
    );
    room.host.close_and_wait();

    let line = |what: &str, w: &Watch| {
        format!(
            "{what}: first frame {:?}, max gap {:?} (without a track {:?}), ready after {:?}",
            w.first_frame, w.max_gap, w.control_gap, w.ready_after
        )
    };
    let report = format!(
        "{} MiB track; {}; {}; {}",
        TRACK_BYTES >> 20,
        line("installed", &a),
        line("from the cache", &b),
        line("re-joined", &again),
    );
    eprintln!("{report}");
    let canonical = |maps: &Path| {
        fs::canonicalize(maps)
            .unwrap()
            .join(MAP)
            .join("custom")
            .join(TRACK)
    };
    assert_eq!(a.ready, (canonical(&a_maps), false), "{report}");
    assert_eq!(b.ready, (canonical(&b_maps), false), "{report}");
    assert_eq!(again.ready, a.ready, "{report}");
    assert!(not_stalled(&a), "installed: {report}");
    assert!(not_stalled(&b), "from the cache: {report}");
    assert!(not_stalled(&again), "re-joined: {report}");
    // Not hashed again: ready as soon as welcomed, before the first join's
    // hash was done (that alone took hundreds of milliseconds).
    assert!(again.ready_after < a.ready_after, "re-joined: {report}");
}
