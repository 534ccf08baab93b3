//! Custom tracks travelling from host to joiners through the room (in
//! memory, simulated network): verified, installed in one step, resumable,
//! and refused cleanly when the host or its data is wrong.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use propwash::proto::room::{PropChanges, SetProps};
use propwash::proto::Role;
use propwash::session::sim::{Conditions, SimRoom};
use propwash::session::{ClientConfig, Event, HostConfig};
use propwash::track::transfer::{Announcement, FolderSource, MapsFolder, TrackSource};
use propwash::track::{generate_track, verify_dir, Limits, TrackHash, TrackManifest};

mod common;
use common::scratch::{copy_dir, Scratch};

const GAME: &str = "drl-4.2.1";
const MAP: &str = "MP-Stadium";
const TRACK: &str = "CMP-propwash-test";

fn harsh() -> Conditions {
    Conditions {
        latency: Duration::from_millis(40),
        jitter: Duration::from_millis(20),
        loss: 0.05,
        duplicate: 0.05,
    }
}

fn clean() -> Conditions {
    Conditions {
        latency: Duration::from_millis(5),
        ..Default::default()
    }
}

fn joiner(room: &mut SimRoom, name: &str, maps: &Path) -> usize {
    let name = name.to_string();
    let i = room.add_client(|h| ClientConfig::new(h, GAME, &name, Role::Pilot));
    // The simulated room has no threads: its disk work runs in line.
    let target = MapsFolder::inline(maps, None, Limits::default()).expect("maps folder");
    room.clients[i].1.set_track_target(Box::new(target));
    i
}

fn ready(room: &SimRoom, i: usize) -> Option<(PathBuf, bool)> {
    room.client_events[i].iter().find_map(|e| match e {
        Event::TrackReady { path, downloaded } => Some((path.clone(), *downloaded)),
        _ => None,
    })
}

fn failed(room: &SimRoom, i: usize) -> Option<String> {
    room.client_events[i].iter().find_map(|e| match e {
        Event::TrackFailed { reason } => Some(reason.clone()),
        _ => None,
    })
}

/// Runs until every listed joiner has an outcome, or the limit.
fn run_until_settled(room: &mut SimRoom, who: &[usize], limit: Duration) {
    let step = Duration::from_millis(100);
    let mut waited = Duration::ZERO;
    while waited < limit {
        if who
            .iter()
            .all(|&i| ready(room, i).is_some() || failed(room, i).is_some())
        {
            return;
        }
        room.run_for(step);
        waited += step;
    }
}

fn serve(room: &mut SimRoom, src: &Path, allow: bool) -> TrackManifest {
    let source = FolderSource::new(src, MAP, TRACK, &Limits::default()).expect("source");
    let m = source.manifest().clone();
    room.host
        .serve_track(Some(Box::new(source)), allow)
        .expect("serve");
    m
}

/// Everything in `root` (recursively), to prove nothing appeared elsewhere.
fn listing(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(rd) = fs::read_dir(&d) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p.clone());
                }
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn five_joiners_download_at_once_under_loss_duplication_and_reordering() {
    let s = Scratch::new("five");
    let src = s.dir("src");
    let manifest = generate_track(&src, MAP, TRACK, 3 << 20, 40, 7).expect("track");
    let mut room = SimRoom::new(HostConfig::new(GAME, "Host"), harsh(), 21);
    serve(&mut room, &src, true);
    let joiners: Vec<(usize, PathBuf)> = (0..5)
        .map(|k| {
            let maps = s.dir(&format!("maps{k}"));
            (joiner(&mut room, &format!("J{k}"), &maps), maps)
        })
        .collect();
    let ids: Vec<usize> = joiners.iter().map(|j| j.0).collect();
    run_until_settled(&mut room, &ids, Duration::from_secs(120));
    for (i, maps) in &joiners {
        assert_eq!(failed(&room, *i), None, "joiner {i}");
        let (path, downloaded) =
            ready(&room, *i).unwrap_or_else(|| panic!("joiner {i} never finished"));
        assert!(downloaded);
        assert_eq!(path, maps.join(MAP).join("custom").join(TRACK));
        verify_dir(&path, &manifest.track_hash(), &Limits::default())
            .expect("installed copy verifies");
        // Progress was reported, ending at the total.
        let last = room.client_events[*i].iter().rev().find_map(|e| match e {
            Event::TrackProgress { received, total } => Some((*received, *total)),
            _ => None,
        });
        assert_eq!(last, Some((manifest.total_size(), manifest.total_size())));
        // No temporary folders left behind.
        let stray: Vec<_> = fs::read_dir(maps)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name() != MAP)
            .collect();
        assert!(stray.is_empty(), "left in the maps folder: {stray:?}");
    }
}

#[test]
fn zero_byte_files_and_many_small_files_arrive_intact() {
    let s = Scratch::new("small");
    let src = s.dir("src");
    for k in 0..2000 {
        let dir = src.join(format!("d{}", k % 20));
        fs::create_dir_all(&dir).unwrap();
        let body: Vec<u8> = if k % 7 == 0 {
            Vec::new()
        } else {
            (0..(k % 300)).map(|b| (b ^ k) as u8).collect()
        };
        fs::write(dir.join(format!("f{k}.bin")), body).unwrap();
    }
    let mut room = SimRoom::new(HostConfig::new(GAME, "Host"), clean(), 22);
    let manifest = serve(&mut room, &src, true);
    let maps = s.dir("maps");
    let j = joiner(&mut room, "J", &maps);
    run_until_settled(&mut room, &[j], Duration::from_secs(120));
    assert_eq!(failed(&room, j), None);
    let (path, _) = ready(&room, j).expect("finished");
    verify_dir(&path, &manifest.track_hash(), &Limits::default()).expect("verifies");
    assert_eq!(manifest.files().len(), 2000);
}

#[test]
fn one_hundred_mib_file_arrives_intact() {
    let s = Scratch::new("big");
    let src = s.dir("src");
    let manifest = generate_track(&src, MAP, TRACK, 100 << 20, 1, 3).expect("track");
    let cfg = HostConfig {
        track_rate_per_joiner: 64 << 20,
        track_rate_room: 64 << 20,
        ..HostConfig::new(GAME, "Host")
    };
    let mut room = SimRoom::new(cfg, clean(), 23);
    serve(&mut room, &src, true);
    let maps = s.dir("maps");
    let j = joiner(&mut room, "J", &maps);
    run_until_settled(&mut room, &[j], Duration::from_secs(60));
    assert_eq!(failed(&room, j), None);
    let (path, _) = ready(&room, j).expect("finished");
    verify_dir(&path, &manifest.track_hash(), &Limits::default()).expect("verifies");
}

#[test]
fn a_download_cut_by_a_disconnect_resumes_where_it_stopped() {
    let s = Scratch::new("resume");
    let src = s.dir("src");
    let manifest = generate_track(&src, MAP, TRACK, 8 << 20, 8, 5).expect("track");
    let cfg = HostConfig {
        track_rate_per_joiner: 4 << 20,
        ..HostConfig::new(GAME, "Host")
    };
    let mut room = SimRoom::new(cfg, clean(), 24);
    serve(&mut room, &src, true);
    let maps = s.dir("maps");
    let first = joiner(&mut room, "J", &maps);
    // Run until about half is on disk, then the joiner vanishes.
    let mut got = 0;
    for _ in 0..400 {
        room.run_for(Duration::from_millis(25));
        got = room.client_events[first]
            .iter()
            .filter_map(|e| match e {
                Event::TrackProgress { received, .. } => Some(*received),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        if got >= manifest.total_size() / 2 {
            break;
        }
    }
    assert!(
        got >= manifest.total_size() / 2 && got < manifest.total_size(),
        "got {got}"
    );
    room.disconnect(first);
    room.run_for(Duration::from_secs(6)); // the host times the joiner out
                                          // The same player joins again with the same maps folder.
    let i = joiner(&mut room, "J", &maps);
    run_until_settled(&mut room, &[i], Duration::from_secs(60));
    assert_eq!(failed(&room, i), None);
    let first_progress = room.client_events[i].iter().find_map(|e| match e {
        Event::TrackProgress { received, .. } => Some(*received),
        _ => None,
    });
    assert!(
        first_progress.is_some_and(|p| p >= got),
        "resumed at {first_progress:?}, had {got}"
    );
    let (path, _) = ready(&room, i).expect("finished after resuming");
    verify_dir(&path, &manifest.track_hash(), &Limits::default()).expect("verifies");
}

#[test]
fn a_joiner_that_has_the_track_uses_it_and_a_host_that_forbids_downloads_says_so() {
    let s = Scratch::new("have");
    let src = s.dir("src");
    generate_track(&src, MAP, TRACK, 100_000, 3, 9).expect("track");
    let mut room = SimRoom::new(HostConfig::new(GAME, "Host"), clean(), 25);
    serve(&mut room, &src, false);
    // One joiner already has it installed; another has nothing.
    let has = s.dir("has");
    let installed = has.join(MAP).join("custom").join(TRACK);
    fs::create_dir_all(installed.parent().unwrap()).unwrap();
    copy_dir(&src, &installed);
    let lacks = s.dir("lacks");
    let a = joiner(&mut room, "A", &has);
    let b = joiner(&mut room, "B", &lacks);
    run_until_settled(&mut room, &[a, b], Duration::from_secs(10));
    assert_eq!(ready(&room, a), Some((installed, false)));
    let reason = failed(&room, b).expect("refused");
    assert!(reason.contains("does not allow"), "{reason}");
    assert!(
        listing(&lacks).is_empty(),
        "nothing written: {:?}",
        listing(&lacks)
    );
}

/// Serves a real manifest but lies about file contents.
struct LyingSource {
    inner: FolderSource,
}

impl TrackSource for LyingSource {
    fn manifest(&self) -> &TrackManifest {
        self.inner.manifest()
    }
    fn read(&mut self, file: usize, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(file, offset, buf)?;
        if file == 1 {
            for b in &mut buf[..n] {
                *b ^= 0x5a;
            }
        }
        Ok(n)
    }
}

#[test]
fn corrupt_data_or_a_wrong_manifest_is_refused_and_nothing_is_installed() {
    let s = Scratch::new("liar");
    let src = s.dir("src");
    generate_track(&src, MAP, TRACK, 200_000, 3, 11).expect("track");
    // Corrupt bytes for one file: retried, then refused; nothing left.
    let mut room = SimRoom::new(HostConfig::new(GAME, "Host"), clean(), 26);
    let inner = FolderSource::new(&src, MAP, TRACK, &Limits::default()).unwrap();
    room.host
        .serve_track(Some(Box::new(LyingSource { inner })), true)
        .unwrap();
    let maps = s.dir("maps");
    let j = joiner(&mut room, "J", &maps);
    run_until_settled(&mut room, &[j], Duration::from_secs(20));
    let reason = failed(&room, j).expect("refused");
    assert!(reason.contains("SHA-256"), "{reason}");
    assert!(
        listing(&maps).is_empty(),
        "left behind: {:?}",
        listing(&maps)
    );

    // A room announcing one hash while serving another track.
    let mut room = SimRoom::new(HostConfig::new(GAME, "Host"), clean(), 27);
    serve(&mut room, &src, true);
    let lie = SetProps {
        changes: PropChanges::from([(
            b"track_hash".to_vec(),
            Some(TrackHash([7; 32]).to_string().into_bytes()),
        )]),
        ..SetProps::default()
    };
    room.host.set_props(lie).unwrap();
    let maps2 = s.dir("maps2");
    let k = joiner(&mut room, "K", &maps2);
    run_until_settled(&mut room, &[k], Duration::from_secs(10));
    let reason = failed(&room, k).expect("refused");
    assert!(
        reason.contains("no longer serves") || reason.contains("hash"),
        "{reason}"
    );
    assert!(listing(&maps2).is_empty());
    assert!(Announcement::from_props(room.host.room_props()).is_some());
}

#[test]
fn serving_the_same_track_again_keeps_downloads_going_and_withdrawing_it_ends_them() {
    let s = Scratch::new("reserve");
    let src = s.dir("src");
    generate_track(&src, MAP, TRACK, 4 << 20, 4, 13).expect("track");
    let cfg = HostConfig {
        track_rate_per_joiner: 2 << 20,
        ..HostConfig::new(GAME, "Host")
    };
    let mut room = SimRoom::new(cfg, clean(), 28);
    serve(&mut room, &src, true);
    let maps = s.dir("maps");
    let a = joiner(&mut room, "A", &maps);
    room.run_for(Duration::from_millis(700));
    // The game calls serve again with the same folder: the download goes on.
    serve(&mut room, &src, true);
    run_until_settled(&mut room, &[a], Duration::from_secs(30));
    assert_eq!(failed(&room, a), None);
    assert!(
        ready(&room, a).is_some(),
        "the download stalled after serving again"
    );

    // A second joiner starts; the host withdraws the track mid-way.
    let maps2 = s.dir("maps2");
    let b = joiner(&mut room, "B", &maps2);
    room.run_for(Duration::from_millis(700));
    room.host.serve_track(None, false).unwrap();
    run_until_settled(&mut room, &[b], Duration::from_secs(10));
    let reason = failed(&room, b).expect("told, not left waiting");
    assert!(reason.contains("stopped sharing"), "{reason}");
}

#[test]
fn a_joiner_behind_a_capped_relay_gets_the_track_at_its_own_pace() {
    // A relay with a 32 kB/s cap: the host sends that joiner's track at a
    // quarter of it (the runtime does this when the lobby reports a relayed
    // peer), while a direct joiner beside it gets the room's pace.
    let s = Scratch::new("capped");
    let src = s.dir("src");
    generate_track(&src, MAP, TRACK, 2 << 20, 4, 5).expect("track");
    let mut room = SimRoom::new(HostConfig::new(GAME, "Host"), clean(), 29);
    room.transmitted = Some(Vec::new());
    serve(&mut room, &src, true);
    let capped = joiner(&mut room, "Relayed", &s.dir("maps-relayed"));
    let direct = joiner(&mut room, "Direct", &s.dir("maps-direct"));
    let cap = 8_000;
    let (now, capped_addr) = (room.now, room.client_addr(capped));
    room.host.limit_track_rate(now, capped_addr, cap);
    let start = room.now;
    run_until_settled(&mut room, &[direct], Duration::from_secs(10));
    assert!(ready(&room, direct).is_some(), "the direct joiner finished");
    room.run_for(Duration::from_secs(4));
    let secs = room.now.duration_since(start).as_secs_f64();
    let to = |addr| -> u64 {
        let sent = room.transmitted.as_ref().unwrap();
        sent.iter()
            .filter(|(from, to, _)| *from == room.host_addr && *to == addr)
            .map(|(_, _, d)| d.len() as u64)
            .sum()
    };
    let (to_capped, to_direct) = (to(capped_addr), to(room.client_addr(direct)));
    // Frames, pings and acks ride along: allow 4 kB/s of them and the burst.
    let allowed = (cap as f64 + 4_000.0) * secs + 16_000.0;
    assert!(
        (to_capped as f64) < allowed,
        "{to_capped} B to the capped joiner in {secs:.1} s (allowed {allowed:.0})"
    );
    assert!(
        to_capped as f64 > cap as f64 * secs * 0.5,
        "it still downloads: {to_capped} B"
    );
    assert!(
        to_direct > 2 << 20,
        "the direct joiner got the whole track: {to_direct} B"
    );
    assert!(
        ready(&room, capped).is_none(),
        "2 MiB at 8 kB/s takes minutes"
    );
}

/// Bytes of every file under `root` (as their lengths say: preallocated
/// files count in full).
fn bytes_under(root: &Path) -> u64 {
    listing(root)
        .iter()
        .filter(|p| p.is_file())
        .map(|p| fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum()
}

fn partial_downloads(maps: &Path) -> usize {
    fs::read_dir(maps)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(".propwash-tmp-"))
        })
        .count()
}

#[test]
fn a_host_cycling_through_tracks_cannot_fill_the_joiners_disk() {
    const SIZE: u64 = 4 << 20;
    let s = Scratch::new("cycling");
    let cfg = HostConfig {
        track_rate_per_joiner: 2 << 20,
        ..HostConfig::new(GAME, "Host")
    };
    let mut room = SimRoom::new(cfg, clean(), 31);
    let maps = s.dir("maps");
    let mut j = None;
    // Ten tracks, each switched for the next a quarter of the way in.
    let mut most_partials = 0;
    let mut most_bytes = 0;
    for n in 0..10u64 {
        let src = s.dir(&format!("src{n}"));
        generate_track(&src, MAP, TRACK, SIZE, 4, 100 + n).expect("track");
        serve(&mut room, &src, true);
        let i = *j.get_or_insert_with(|| joiner(&mut room, "J", &maps));
        room.run_for(Duration::from_millis(600));
        most_partials = most_partials.max(partial_downloads(&maps));
        most_bytes = most_bytes.max(bytes_under(&maps));
        assert!(ready(&room, i).is_none(), "track {n} finished too soon");
    }
    // Two interrupted downloads kept for a resume, besides the one going,
    // each with its manifest and state file.
    let bound = (propwash::track::install::MAX_PARTIAL_TRACKS as u64 + 1) * (SIZE + (64 << 10));
    assert!(most_partials <= 3, "{most_partials} partial downloads");
    assert!(
        most_bytes <= bound,
        "{most_bytes} bytes on disk, more than {bound}"
    );
    // The last track still arrives.
    let i = j.unwrap();
    run_until_settled(&mut room, &[i], Duration::from_secs(30));
    assert_eq!(failed(&room, i), None);
    assert!(ready(&room, i).is_some());
}

#[test]
fn a_session_starts_so_many_track_downloads_and_no_more() {
    let s = Scratch::new("many-tracks");
    let mut room = SimRoom::new(HostConfig::new(GAME, "Host"), clean(), 32);
    let maps = s.dir("maps");
    let mut j = None;
    for n in 0..33u64 {
        let src = s.dir(&format!("src{n}"));
        generate_track(&src, MAP, TRACK, 4096, 1, 200 + n).expect("track");
        serve(&mut room, &src, true);
        j.get_or_insert_with(|| joiner(&mut room, "J", &maps));
        room.run_for(Duration::from_millis(300));
    }
    let i = j.unwrap();
    let readies = room.client_events[i]
        .iter()
        .filter(|e| matches!(e, Event::TrackReady { .. }))
        .count();
    assert_eq!(readies, 32);
    let reason = failed(&room, i).expect("the 33rd is refused");
    assert!(reason.contains("32 times"), "{reason}");
    assert_eq!(
        room.clients[i].1.state(),
        propwash::session::ClientState::Connected
    );
}
