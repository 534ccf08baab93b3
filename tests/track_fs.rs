//! Track manifests, installation and the cache on a real file system: what
//! lands on disk, what never does, and what a hostile host cannot make us do.
//! Every test works in its own folder under the system temp dir and removes it.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use propwash::track::{
    cli, find_installed, find_installed_manifest, generate_track, sweep_stale_temps, verify_dir,
    verify_dir_against, verify_installed, FileEntry, InstallOutcome, Installer, Layout, Limits,
    MissingRange, PartialTrack, PathRule, TrackError, TrackHash, TrackManifest, TrackStore,
};
use propwash::util::SplitMix64;

mod common;
use common::scratch::{names, Scratch};

const MAP: &str = "MP-bando";
const TRACK: &str = "CMP-6a1f0c";

/// `<scratch>/game/content/maps`, created, with a sentinel file beside it.
fn game_maps(s: &Scratch) -> PathBuf {
    let maps = s.path().join("game/content/maps");
    fs::create_dir_all(maps.join(MAP)).unwrap();
    fs::write(s.path().join("game/content/sentinel.txt"), b"leave me").unwrap();
    maps
}

#[derive(Debug, PartialEq, Eq)]
enum Node {
    Dir,
    File(Vec<u8>),
    Link(PathBuf),
}

/// Everything under `root`, contents included, links not followed.
fn snapshot(root: &Path) -> BTreeMap<String, Node> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Node>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let m = fs::symlink_metadata(&p).unwrap();
            if m.file_type().is_symlink() {
                out.insert(rel, Node::Link(fs::read_link(&p).unwrap()));
            } else if m.is_dir() {
                out.insert(rel, Node::Dir);
                walk(root, &p, out);
            } else {
                out.insert(rel, Node::File(fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Sends every file of `src` as chunks of `chunk` bytes in the given order.
fn feed(
    partial: &mut PartialTrack,
    src: &Path,
    chunks: &[(usize, u64, usize)],
) -> Result<(), TrackError> {
    let files: Vec<Vec<u8>> = partial
        .manifest()
        .files()
        .iter()
        .map(|f| fs::read(src.join(&f.path)).unwrap())
        .collect();
    for &(i, off, len) in chunks {
        partial.write_chunk(i, off, &files[i][off as usize..off as usize + len])?;
    }
    Ok(())
}

/// Every (file, offset, len) chunk of a manifest, in order.
fn all_chunks(m: &TrackManifest, chunk: u64) -> Vec<(usize, u64, usize)> {
    let mut out = Vec::new();
    for (i, f) in m.files().iter().enumerate() {
        let mut off = 0;
        while off < f.size {
            let len = chunk.min(f.size - off);
            out.push((i, off, len as usize));
            off += len;
        }
    }
    out
}

fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut rng = SplitMix64(seed);
    for i in (1..v.len()).rev() {
        v.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
}

fn dest(maps: &Path) -> PathBuf {
    maps.join(MAP).join("custom").join(TRACK)
}

fn same_tree(a: &Path, b: &Path) {
    assert_eq!(
        snapshot(a),
        snapshot(b),
        "{} vs {}",
        a.display(),
        b.display()
    );
}

#[test]
fn zero_byte_files_make_a_valid_manifest_and_install() {
    let s = Scratch::new("zero");
    let src = s.path().join("src");
    let m = generate_track(&src, MAP, TRACK, 0, 5, 1).unwrap();
    assert_eq!(m.files().len(), 5);
    assert_eq!(m.total_size(), 0);
    let empty_sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    for f in m.files() {
        assert_eq!(f.size, 0);
        assert_eq!(TrackHash(f.sha256).to_string(), empty_sha);
    }
    let maps = game_maps(&s);
    let inst = Installer::new(&maps, Limits::default()).unwrap();
    let mut p = inst.begin(&m).unwrap();
    assert!(p.is_complete());
    assert!(p.missing_ranges().is_empty());
    let done = p.finish().unwrap();
    assert_eq!(done.outcome, InstallOutcome::Installed);
    same_tree(&src, &done.path);
    assert_eq!(names(&maps), vec![MAP]);
}

#[test]
fn manifest_json_round_trips_and_hash_is_stable() {
    let s = Scratch::new("json");
    let a = generate_track(&s.path().join("a"), MAP, TRACK, 10_000, 7, 42).unwrap();
    let b = generate_track(&s.path().join("b"), "MP-other", "CMP-other", 10_000, 7, 42).unwrap();
    // Same content, different ids and folders: same hash (it names content).
    assert_eq!(a.track_hash(), b.track_hash());
    let c = generate_track(&s.path().join("c"), MAP, TRACK, 10_000, 7, 43).unwrap();
    assert_ne!(a.track_hash(), c.track_hash());

    let json = a.to_json();
    assert!(json.starts_with(r#"{"version":1,"map_id":"MP-bando","track_id":"CMP-6a1f0c","files":[{"path":"part-00/piece-00000.bin","size":1429,"sha256":""#), "{json}");
    let back = TrackManifest::from_json(json.as_bytes(), &Limits::default()).unwrap();
    assert_eq!(back, a);
    let pretty =
        TrackManifest::from_json(a.to_json_pretty().as_bytes(), &Limits::default()).unwrap();
    assert_eq!(pretty.track_hash(), a.track_hash());

    // The canonical encoding, byte for byte, and the hash over it.
    let text = String::from_utf8(a.canonical_bytes()).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("propwash-track-v1"));
    assert_eq!(lines.next(), Some("7"));
    let first = &a.files()[0];
    assert_eq!(
        lines.next().unwrap(),
        format!("{} {} {}", TrackHash(first.sha256), first.size, first.path)
    );
    assert!(text.ends_with('\n'));
    assert_eq!(
        a.track_hash().to_string().parse::<TrackHash>().unwrap(),
        a.track_hash()
    );
}

#[test]
fn two_thousand_small_files_install_chunk_by_chunk() {
    let s = Scratch::new("many");
    let src = s.path().join("src");
    let m = generate_track(&src, MAP, TRACK, 2000 * 700, 2000, 3).unwrap();
    assert_eq!(m.files().len(), 2000);
    let maps = game_maps(&s);
    let inst = Installer::new(&maps, Limits::default()).unwrap();
    let mut p = inst.begin(&m).unwrap();
    feed(&mut p, &src, &all_chunks(&m, 512)).unwrap();
    let done = p.finish().unwrap();
    same_tree(&src, &done.path);
    verify_dir(&done.path, &m.track_hash(), &Limits::default()).unwrap();
    assert_eq!(names(&maps), vec![MAP]);
}

/// The one big test: 100 MiB in one file, sparse so it is quick to make.
/// Hashing dominates its time: each byte is hashed twice (reading the
/// folder, installing); in an unoptimized build sha2 manages only a few
/// MB/s, so give sha2 `opt-level = 3` in the dev profile.
#[test]
fn one_100_mib_sparse_file_hashes_and_installs() {
    let started = Instant::now();
    let s = Scratch::new("large");
    let src = s.path().join("src");
    fs::create_dir_all(&src).unwrap();
    let size: u64 = 100 << 20;
    let spots = [0, size / 3, size - 5];
    {
        let mut f = fs::File::create(src.join("terrain.bin")).unwrap();
        f.set_len(size).unwrap();
        use std::io::{Seek, SeekFrom};
        for at in spots {
            f.seek(SeekFrom::Start(at)).unwrap();
            f.write_all(b"drone").unwrap();
        }
    }
    fs::write(src.join("track.json"), b"{}").unwrap();
    let m = TrackManifest::from_dir(&src, MAP, TRACK, &Limits::default()).unwrap();
    assert_eq!(m.total_size(), size + 2);
    assert_eq!(m.files()[0].path, "terrain.bin");
    // Python's hashlib on the same bytes.
    assert_eq!(
        TrackHash(m.files()[0].sha256).to_string(),
        "30d7209547c504f4032084f95fd57f2efc15a703e86c5fabfc1746f213ae7c2d"
    );

    let maps = game_maps(&s);
    let inst = Installer::new(&maps, Limits::default()).unwrap();
    let done = inst.install_from_dir(&src, &m).unwrap();
    assert_eq!(done.outcome, InstallOutcome::Installed);
    let installed = done.path.join("terrain.bin");
    assert_eq!(fs::metadata(&installed).unwrap().len(), size);
    let mut f = fs::File::open(&installed).unwrap();
    for at in spots {
        use std::io::{Read, Seek, SeekFrom};
        let mut five = [0u8; 5];
        f.seek(SeekFrom::Start(at)).unwrap();
        f.read_exact(&mut five).unwrap();
        assert_eq!(&five, b"drone");
    }
    assert_eq!(fs::read(done.path.join("track.json")).unwrap(), b"{}");
    eprintln!("100 MiB track: {:?}", started.elapsed());
}

/// A valid one-file manifest as JSON, for mutating into hostile ones.
fn json_with(map: &str, track: &str, files: &[(&str, u64)]) -> String {
    let files: Vec<String> = files
        .iter()
        .map(|(p, size)| {
            format!(
                r#"{{"path":{},"size":{size},"sha256":"{}"}}"#,
                serde_json::to_string(p).unwrap(),
                "ab".repeat(32)
            )
        })
        .collect();
    format!(
        r#"{{"version":1,"map_id":{},"track_id":{},"files":[{}]}}"#,
        serde_json::to_string(map).unwrap(),
        serde_json::to_string(track).unwrap(),
        files.join(",")
    )
}

#[test]
fn hostile_manifests_are_refused_and_nothing_is_written() {
    let s = Scratch::new("hostile");
    let maps = game_maps(&s);
    // An existing track that must survive, byte for byte.
    generate_track(&dest(&maps), MAP, TRACK, 3000, 3, 9).unwrap();
    let game = maps.parent().unwrap();
    let before = snapshot(s.path());
    let limits = Limits::default();
    let inst = Installer::new(&maps, limits).unwrap();

    let long = format!("{}/x", "d".repeat(250));
    let mut cases: Vec<(String, &str)> = vec![
        (json_with(MAP, TRACK, &[("/etc/passwd", 1)]), "is absolute"),
        (json_with(MAP, TRACK, &[("\\evil", 1)]), "is absolute"),
        (json_with(MAP, TRACK, &[("../../../x", 1)]), "'..'"),
        (json_with(MAP, TRACK, &[("a/../../x", 1)]), "'..'"),
        (json_with(MAP, TRACK, &[("./a", 1)]), "'..'"),
        (json_with(MAP, TRACK, &[("C:/Windows/x", 1)]), "drive letter"),
        (json_with(MAP, TRACK, &[("a\\..\\x", 1)]), "backslash"),
        (json_with(MAP, TRACK, &[("a/b:ads", 1)]), "':'"),
        (json_with(MAP, TRACK, &[("CON", 1)]), "device name"),
        (json_with(MAP, TRACK, &[("nul.txt", 1)]), "device name"),
        (json_with(MAP, TRACK, &[("x/Com3.bin", 1)]), "device name"),
        (json_with(MAP, TRACK, &[("lpt1", 1)]), "device name"),
        (json_with(MAP, TRACK, &[("dot.", 1)]), "'.' or a space"),
        (json_with(MAP, TRACK, &[("space ", 1)]), "'.' or a space"),
        (json_with(MAP, TRACK, &[("a\u{1}b", 1)]), "control character"),
        (json_with(MAP, TRACK, &[("a\nb", 1)]), "control character"),
        (json_with(MAP, TRACK, &[("a?b", 1)]), "Windows does not allow"),
        (json_with(MAP, TRACK, &[("a//b", 1)]), "empty component"),
        (json_with(MAP, TRACK, &[("", 1)]), "is empty"),
        (json_with(MAP, TRACK, &[(&long, 1)]), "more than the limit of 240"),
        (json_with(MAP, TRACK, &[(".DS_Store", 1)]), "OS metadata"),
        (json_with("..", TRACK, &[("a", 1)]), "map id"),
        (json_with("../../etc", TRACK, &[("a", 1)]), "map id"),
        (json_with(MAP, "..", &[("a", 1)]), "track id"),
        (json_with(MAP, "a/b", &[("a", 1)]), "track id"),
        (json_with(MAP, ".propwash-tmp-x", &[("a", 1)]), "track id"),
        (json_with(MAP, "CMP-1~deadbeef", &[("a", 1)]), "track id"),
        (json_with(MAP, "NUL", &[("a", 1)]), "track id"),
        (json_with(MAP, TRACK, &[("A.txt", 1), ("a.txt", 1)]), "collides"),
        (json_with(MAP, TRACK, &[("Gates/a", 1), ("gates/b", 1)]), "collides"),
        (json_with(MAP, TRACK, &[("a", 1), ("a/b", 1)]), "collides"),
        (json_with(MAP, TRACK, &[("a", 1), ("a", 1)]), "listed twice"),
        (json_with(MAP, TRACK, &[("b", 1), ("a", 1)]), "sorted"),
        (json_with(MAP, TRACK, &[]), "no files"),
        (json_with(MAP, TRACK, &[("big", (256 << 20) + 1)]), "limit of 268435456"),
        (json_with(MAP, TRACK, &[("a", u64::MAX), ("b", 1)]), "limit of"),
        (r#"{"version":1,"map_id":"m","track_id":"t","files":[{"path":"a","size":1,"sha256":"abc"}]}"#.into(), "64 hex"),
        (format!(r#"{{"version":1,"map_id":"m","track_id":"t","files":[{{"path":"a","size":1,"sha256":"{}"}}]}}"#, "zz".repeat(32)), "64 hex"),
        (r#"{"version":1,"map_id":"m","track_id":"t","files":[],"extra":1}"#.into(), "unknown field"),
        (r#"{"version":1,"map_id":"m","map_id":"n","track_id":"t","files":[]}"#.into(), "duplicate field"),
        (r#"{"version":1,"map_id":"m","files":[]}"#.into(), "missing field"),
        (r#"{"version":2,"map_id":"m","track_id":"t","files":[]}"#.into(), "version 2"),
        (r#"{"version":1,"map_id":"m","track_id":"t","files":[{"path":"\udc80","size":1,"sha256":""}]}"#.into(), "does not parse"),
        (r#"{"version":1,"map_id":"m","track_id":"t","files":[{"path":"a","size":-1,"sha256":""}]}"#.into(), "does not parse"),
        ("not json".into(), "does not parse"),
        ("".into(), "does not parse"),
    ];
    let too_many: Vec<(String, u64)> = (0..4097).map(|i| (format!("f{i:05}"), 0)).collect();
    let too_many: Vec<(&str, u64)> = too_many.iter().map(|(p, n)| (p.as_str(), *n)).collect();
    cases.push((
        json_with(MAP, TRACK, &too_many),
        "more than the limit of 4096",
    ));
    cases.push((
        " ".repeat(limits.max_manifest_json_len() + 1),
        "bytes, more than",
    ));

    for (json, want) in &cases {
        match TrackManifest::from_json(json.as_bytes(), &limits) {
            Ok(m) => {
                // Must never happen; if it did, show that install is still safe.
                let r = inst.begin(&m).and_then(|mut p| p.finish());
                panic!("accepted hostile manifest {json:?} (install: {r:?})");
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains(want), "{json:.120?}: {msg:?} lacks {want:?}");
            }
        }
    }
    assert_eq!(snapshot(s.path()), before, "something was written");
    assert!(game.join("sentinel.txt").exists());
}

#[test]
fn hostile_chunks_are_refused_and_abort_leaves_no_trace() {
    let s = Scratch::new("chunks");
    let src = s.path().join("src");
    let m = generate_track(&src, MAP, TRACK, 4000, 2, 5).unwrap();
    let maps = game_maps(&s);
    generate_track(&dest(&maps), MAP, TRACK, 100, 1, 77).unwrap();
    let before = snapshot(&s.path().join("game"));
    let dest_before = snapshot(&dest(&maps));
    let inst = Installer::new(&maps, Limits::default()).unwrap();
    let mut p = inst.begin(&m).unwrap();
    assert!(p.temp_dir().starts_with(inst.maps_root()));
    let good = fs::read(src.join(&m.files()[0].path)).unwrap();

    let e = p.write_chunk(2, 0, b"x").unwrap_err();
    assert!(
        matches!(e, TrackError::UnknownFileIndex { index: 2, files: 2 }),
        "{e}"
    );
    let e = p.write_chunk(0, 1999, b"xy").unwrap_err();
    assert!(
        matches!(
            e,
            TrackError::ChunkOutOfRange {
                offset: 1999,
                len: 2,
                size: 2000,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("part-00/piece-00000.bin"), "{e}");
    let e = p.write_chunk(0, 2001, b"").unwrap_err();
    assert!(matches!(e, TrackError::ChunkOutOfRange { .. }), "{e}");
    let e = p.write_chunk(0, u64::MAX, b"x").unwrap_err();
    assert!(matches!(e, TrackError::ChunkOutOfRange { .. }), "{e}");
    assert_eq!(p.received_bytes(), 0);

    // A chunk that disagrees with bytes already here is refused.
    p.write_chunk(0, 0, &good[..100]).unwrap();
    let mut bad = good[50..150].to_vec();
    bad[10] ^= 1;
    let e = p.write_chunk(0, 50, &bad).unwrap_err();
    assert!(
        matches!(
            e,
            TrackError::ChunkConflict {
                offset: 50,
                len: 100,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(p.received_bytes(), 100);

    // Wrong bytes that do not overlap: caught by the file's hash when it
    // completes, and the file becomes missing again.
    let mut wrong = good[100..].to_vec();
    wrong[500] ^= 0xff;
    let e = p.write_chunk(0, 100, &wrong).unwrap_err();
    assert!(matches!(e, TrackError::FileHashMismatch { .. }), "{e}");
    assert!(e.to_string().contains("part-00/piece-00000.bin"), "{e}");
    assert_eq!(p.received_bytes(), 0);
    assert_eq!(
        p.missing_ranges(),
        vec![
            MissingRange {
                file_index: 0,
                start: 0,
                end: 2000
            },
            MissingRange {
                file_index: 1,
                start: 0,
                end: 2000
            },
        ]
    );
    let e = p.finish().unwrap_err();
    assert!(
        matches!(e, TrackError::Incomplete { missing: 4000, .. }),
        "{e}"
    );

    // The destination never changed while this went on.
    assert_eq!(snapshot(&dest(&maps)), dest_before);
    p.abort().unwrap();
    assert_eq!(snapshot(&s.path().join("game")), before);
}

#[test]
fn oversized_tracks_are_refused_by_the_configurable_caps() {
    let s = Scratch::new("caps");
    let src = s.path().join("src");
    let m = generate_track(&src, MAP, TRACK, 2000, 4, 1).unwrap();
    let few_files = Limits {
        max_files: 3,
        ..Limits::default()
    };
    let e = TrackManifest::from_dir(&src, MAP, TRACK, &few_files).unwrap_err();
    assert!(
        matches!(
            e,
            TrackError::TooManyFiles {
                count: 4,
                max: 3,
                ..
            }
        ),
        "{e}"
    );
    let e = TrackManifest::from_json(m.to_json().as_bytes(), &few_files).unwrap_err();
    assert!(
        matches!(
            e,
            TrackError::TooManyFiles {
                count: 4,
                max: 3,
                ..
            }
        ),
        "{e}"
    );
    let tight_bytes = Limits {
        max_total_bytes: 1000,
        ..Limits::default()
    };
    let e = TrackManifest::from_dir(&src, MAP, TRACK, &tight_bytes).unwrap_err();
    assert!(matches!(e, TrackError::TooLarge { max: 1000, .. }), "{e}");
    assert!(e.to_string().contains("piece-"), "{e}");
    let e = TrackManifest::from_json(m.to_json().as_bytes(), &tight_bytes).unwrap_err();
    assert!(matches!(e, TrackError::TooLarge { .. }), "{e}");

    let maps = game_maps(&s);
    let before = snapshot(&maps);
    let inst = Installer::new(&maps, tight_bytes).unwrap();
    let e = inst.begin(&m).unwrap_err();
    assert!(matches!(e, TrackError::TooLarge { .. }), "{e}");
    assert_eq!(snapshot(&maps), before);

    // Bigger than the room announced.
    let e = m
        .check_announced(MAP, TRACK, &m.track_hash(), 1999)
        .unwrap_err();
    assert!(
        matches!(
            e,
            TrackError::AnnouncementMismatch {
                field: "total size",
                ..
            }
        ),
        "{e}"
    );
    let e = m
        .check_announced(MAP, TRACK, &TrackHash([0; 32]), 2000)
        .unwrap_err();
    assert!(
        matches!(
            e,
            TrackError::AnnouncementMismatch {
                field: "track hash",
                ..
            }
        ),
        "{e}"
    );
    m.check_announced(MAP, TRACK, &m.track_hash(), 2000)
        .unwrap();
}

#[test]
fn case_insensitive_collisions_are_refused() {
    let s = Scratch::new("case");
    let src = s.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("A.txt"), b"1").unwrap();
    fs::write(src.join("a.txt"), b"2").unwrap();
    let e = TrackManifest::from_dir(&src, MAP, TRACK, &Limits::default()).unwrap_err();
    match &e {
        TrackError::PathCollision { path, other } => {
            assert_eq!((path.as_str(), other.as_str()), ("a.txt", "A.txt"))
        }
        other => panic!("{other}"),
    }
    assert!(
        e.to_string().contains("\"a.txt\" collides with \"A.txt\""),
        "{e}"
    );

    let src2 = s.path().join("src2");
    fs::create_dir_all(src2.join("Gates")).unwrap();
    fs::create_dir_all(src2.join("gates")).unwrap();
    fs::write(src2.join("Gates/one"), b"1").unwrap();
    fs::write(src2.join("gates/two"), b"2").unwrap();
    let e = TrackManifest::from_dir(&src2, MAP, TRACK, &Limits::default()).unwrap_err();
    assert!(matches!(e, TrackError::PathCollision { .. }), "{e}");
}

#[cfg(unix)]
#[test]
fn symlinks_in_a_source_folder_are_refused() {
    use std::os::unix::fs::symlink;
    let s = Scratch::new("link");
    fs::write(s.path().join("secret"), b"outside").unwrap();

    let src = s.path().join("file-link");
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(src.join("ok.bin"), b"fine").unwrap();
    symlink(s.path().join("secret"), src.join("sub/leak.bin")).unwrap();
    let e = TrackManifest::from_dir(&src, MAP, TRACK, &Limits::default()).unwrap_err();
    assert!(
        matches!(&e, TrackError::Symlink { path } if path.ends_with("sub/leak.bin")),
        "{e}"
    );
    assert!(e.to_string().contains("leak.bin"), "{e}");

    let src = s.path().join("dir-link");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("ok.bin"), b"fine").unwrap();
    symlink(s.path(), src.join("escape")).unwrap();
    let e = TrackManifest::from_dir(&src, MAP, TRACK, &Limits::default()).unwrap_err();
    assert!(matches!(e, TrackError::Symlink { .. }), "{e}");

    symlink(s.path().join("file-link"), s.path().join("root-link")).unwrap();
    let e = TrackManifest::from_dir(&s.path().join("root-link"), MAP, TRACK, &Limits::default())
        .unwrap_err();
    assert!(matches!(e, TrackError::Symlink { .. }), "{e}");
    let e = verify_dir(
        &s.path().join("root-link"),
        &TrackHash([0; 32]),
        &Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(e, TrackError::Symlink { .. }), "{e}");
}

#[cfg(unix)]
#[test]
fn non_utf8_names_are_refused() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let s = Scratch::new("utf8");
    let src = s.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("fine.bin"), b"1").unwrap();
    fs::write(src.join(OsStr::from_bytes(b"bad\xff\xfe.bin")), b"2").unwrap();
    let e = TrackManifest::from_dir(&src, MAP, TRACK, &Limits::default()).unwrap_err();
    assert!(matches!(e, TrackError::NonUtf8Name { .. }), "{e}");
    assert!(e.to_string().contains("bad"), "{e}");
}

#[test]
fn names_windows_cannot_hold_are_refused_on_any_os() {
    let s = Scratch::new("winnames");
    for (name, rule) in [
        ("nul.txt", PathRule::ReservedName),
        ("Con", PathRule::ReservedName),
        ("com1.dat", PathRule::ReservedName),
        ("trailing.", PathRule::TrailingDotOrSpace),
        ("trailing ", PathRule::TrailingDotOrSpace),
        ("what?", PathRule::ForbiddenChar('?')),
        ("x:y", PathRule::ForbiddenChar(':')),
        ("back\\slash", PathRule::Backslash),
    ] {
        let src = s.path().join(format!("src-{}", name.len()));
        let _ = fs::remove_dir_all(&src);
        fs::create_dir_all(src.join("d")).unwrap();
        fs::write(src.join("d").join(name), b"1").unwrap();
        let e = TrackManifest::from_dir(&src, MAP, TRACK, &Limits::default()).unwrap_err();
        match &e {
            TrackError::BadPath { path, rule: r } => {
                assert_eq!((path.as_str(), *r), (format!("d/{name}").as_str(), rule))
            }
            other => panic!("{name}: {other}"),
        }
    }
    // OS metadata files are skipped, not refused, when reading a folder.
    let src = s.path().join("meta");
    let m1 = generate_track(&src, MAP, TRACK, 100, 2, 1).unwrap();
    fs::write(src.join(".DS_Store"), b"finder").unwrap();
    fs::write(src.join("part-00/Thumbs.db"), b"explorer").unwrap();
    let m2 = TrackManifest::from_dir(&src, MAP, TRACK, &Limits::default()).unwrap();
    assert_eq!(m1, m2);
}

#[test]
fn out_of_order_and_duplicate_chunks_install_exactly() {
    let s = Scratch::new("order");
    let src = s.path().join("src");
    let m = generate_track(&src, MAP, TRACK, 300_000, 6, 11).unwrap();
    let maps = game_maps(&s);
    let inst = Installer::new(&maps, Limits::default()).unwrap();
    let mut p = inst.begin(&m).unwrap();
    let mut chunks = all_chunks(&m, 1000);
    // Duplicates and overlapping re-sends of agreeing bytes are fine.
    let dups: Vec<_> = chunks.iter().step_by(7).copied().collect();
    chunks.extend(dups);
    chunks.push((0, 500, 1000));
    shuffle(&mut chunks, 99);
    let files: Vec<Vec<u8>> = m
        .files()
        .iter()
        .map(|f| fs::read(src.join(&f.path)).unwrap())
        .collect();
    let mut new_total = 0;
    let mut completed = 0;
    for &(i, off, len) in &chunks {
        let o = p
            .write_chunk(i, off, &files[i][off as usize..off as usize + len])
            .unwrap();
        new_total += o.new_bytes;
        assert_eq!(o.received_bytes, new_total);
        if o.file_complete && o.new_bytes > 0 {
            completed += 1;
        }
    }
    assert_eq!(new_total, m.total_size());
    assert_eq!(completed, 6);
    assert!(p.is_complete());
    let done = p.finish().unwrap();
    same_tree(&src, &done.path);
    let e = p.write_chunk(0, 0, b"x").unwrap_err();
    assert!(matches!(e, TrackError::Closed { .. }), "{e}");
}

#[test]
fn resume_from_the_state_file_after_dropping_the_partial_track() {
    let s = Scratch::new("resume");
    let src = s.path().join("src");
    let m = generate_track(&src, MAP, TRACK, 50_000, 3, 21).unwrap();
    let maps = game_maps(&s);
    let mut chunks = all_chunks(&m, 1000);
    shuffle(&mut chunks, 5);
    let (first, rest) = chunks.split_at(chunks.len() / 2);
    let temp;
    {
        let inst = Installer::new(&maps, Limits::default()).unwrap();
        let mut p = inst.begin(&m).unwrap();
        feed(&mut p, &src, first).unwrap();
        temp = p.temp_dir().to_path_buf();
        // Dropped here: a disconnect, or the game closing.
    }
    assert!(temp.join("state.json").is_file());
    assert!(!dest(&maps).exists());

    // A new process: a new installer that knows only the manifest.
    let inst = Installer::new(&maps, Limits::default()).unwrap();
    let mut p = inst.resume(&m).unwrap().expect("resumable");
    assert_eq!(p.temp_dir(), temp);
    let written: u64 = first.iter().map(|c| c.2 as u64).sum();
    assert_eq!(p.received_bytes(), written);
    let missing: u64 = p.missing_ranges().iter().map(|r| r.end - r.start).sum();
    assert_eq!(missing, m.total_size() - written);
    // Exactly the chunks not sent are missing.
    for &(i, off, len) in rest {
        assert!(p
            .missing_ranges()
            .iter()
            .any(|r| r.file_index == i && r.start <= off && off + len as u64 <= r.end));
    }
    feed(&mut p, &src, rest).unwrap();
    let done = p.finish().unwrap();
    same_tree(&src, &done.path);
    assert_eq!(names(&maps), vec![MAP]);
    // Nothing left to resume.
    assert!(inst.resume(&m).unwrap().is_none());
}

#[test]
fn resume_after_a_crash_rechecks_what_the_state_file_claims() {
    let s = Scratch::new("crash-resume");
    let src = s.path().join("src");
    let m = generate_track(&src, MAP, TRACK, 30_000, 3, 8).unwrap();
    let maps = game_maps(&s);
    let inst = Installer::new(&maps, Limits::default()).unwrap();
    let mut p = inst.begin(&m).unwrap();
    // File 0 completes (state saved then), file 1 half, then a crash: no drop.
    let chunks = all_chunks(&m, 1000);
    let (done_part, _) = chunks.split_at(15);
    feed(&mut p, &src, done_part).unwrap();
    let temp = p.temp_dir().to_path_buf();
    std::mem::forget(p);
    // The disk lost the tail of file 0 (the crash came before it was written out).
    let f0 = temp.join("track").join(&m.files()[0].path);
    let mut bytes = fs::read(&f0).unwrap();
    bytes[9999] ^= 1;
    fs::write(&f0, bytes).unwrap();

    let mut p = inst.resume(&m).unwrap().expect("resumable");
    // File 0 failed its re-check and is wanted again, whole.
    assert_eq!(
        p.missing_ranges()[0],
        MissingRange {
            file_index: 0,
            start: 0,
            end: 10_000
        }
    );
    let wanted: Vec<(usize, u64, usize)> = p
        .missing_ranges()
        .iter()
        .flat_map(|r| {
            let mut v = Vec::new();
            let mut off = r.start;
            while off < r.end {
                let len = (r.end - off).min(4096);
                v.push((r.file_index, off, len as usize));
                off += len;
            }
            v
        })
        .collect();
    feed(&mut p, &src, &wanted).unwrap();
    let done = p.finish().unwrap();
    same_tree(&src, &done.path);
}

#[test]
fn a_different_track_at_the_destination_is_kept_and_ours_goes_beside_it() {
    let s = Scratch::new("beside");
    let src = s.path().join("src");
    let m = generate_track(&src, MAP, TRACK, 20_000, 4, 1).unwrap();
    let maps = game_maps(&s);
    let theirs = generate_track(&dest(&maps), MAP, TRACK, 20_000, 4, 2).unwrap();
    assert_ne!(theirs.track_hash(), m.track_hash());
    let before = snapshot(&dest(&maps));

    let inst = Installer::new(&maps, Limits::default()).unwrap();
    let done = inst.install_from_dir(&src, &m).unwrap();
    assert_eq!(done.outcome, InstallOutcome::Installed);
    let custom = fs::canonicalize(maps.join(MAP).join("custom")).unwrap();
    assert_eq!(
        done.path,
        custom.join(format!("{TRACK}~{}", m.track_hash().short()))
    );
    assert_eq!(done.occupied, Some(custom.join(TRACK)));
    assert_eq!(snapshot(&dest(&maps)), before, "existing track was touched");
    same_tree(&src, &done.path);

    // And both are found for what they are.
    let l = Limits::default();
    assert_eq!(
        find_installed(&maps, MAP, TRACK, &m.track_hash(), &l),
        Some(
            maps.join(MAP)
                .join("custom")
                .join(format!("{TRACK}~{}", m.track_hash().short()))
        )
    );
    assert_eq!(
        find_installed(&maps, MAP, TRACK, &theirs.track_hash(), &l),
        Some(dest(&maps))
    );

    // Installing again finds ours beside theirs and changes nothing.
    let again = inst.install_from_dir(&src, &m).unwrap();
    assert_eq!(again.outcome, InstallOutcome::AlreadyPresent);
    assert_eq!(again.path, done.path);
    assert_eq!(names(&maps.join(MAP).join("custom")).len(), 2);
}

#[test]
fn an_identical_track_at_the_destination_is_reused() {
    let s = Scratch::new("same");
    let src = s.path().join("src");
    let m = generate_track(&src, MAP, TRACK, 20_000, 4, 1).unwrap();
    let maps = game_maps(&s);
    let inst = Installer::new(&maps, Limits::default()).unwrap();
    let first = inst.install_from_dir(&src, &m).unwrap();
    assert_eq!(first.outcome, InstallOutcome::Installed);
    let before = snapshot(&maps);
    let mut p = inst.begin(&m).unwrap();
    feed(&mut p, &src, &all_chunks(&m, 3000)).unwrap();
    let second = p.finish().unwrap();
    assert_eq!(second.outcome, InstallOutcome::AlreadyPresent);
    assert_eq!(second.path, first.path);
    assert_eq!(second.occupied, None);
    assert_eq!(snapshot(&maps), before, "temp folder left or track touched");
}

#[test]
fn a_crash_mid_install_leaves_the_destination_untouched_and_sweep_cleans_up() {
    let s = Scratch::new("crash");
    let src = s.path().join("src");
    let m = generate_track(&src, MAP, TRACK, 40_000, 4, 1).unwrap();
    let maps = game_maps(&s);
    generate_track(&dest(&maps), MAP, TRACK, 500, 2, 3).unwrap();
    let before = snapshot(&s.path().join("game"));

    let inst = Installer::new(&maps, Limits::default()).unwrap();
    let mut p = inst.begin(&m).unwrap();
    feed(&mut p, &src, &all_chunks(&m, 1000)[..20]).unwrap();
    let temp = p.temp_dir().to_path_buf();
    std::mem::forget(p); // the process dies: no drop, no cleanup

    let mut after = snapshot(&s.path().join("game"));
    let temp_name = temp.file_name().unwrap().to_string_lossy().into_owned();
    assert!(temp_name.starts_with(".propwash-tmp-"));
    after.retain(|k, _| !k.contains(&temp_name));
    assert_eq!(after, before, "only the temp folder may differ");

    // Fresh leftovers survive a sweep; old ones go.
    assert!(
        sweep_stale_temps(&maps, SystemTime::now(), Duration::from_secs(3600))
            .unwrap()
            .is_empty()
    );
    let later = SystemTime::now() + Duration::from_secs(2 * 24 * 3600);
    let removed = sweep_stale_temps(&maps, later, Duration::from_secs(24 * 3600)).unwrap();
    assert_eq!(removed.len(), 1);
    assert_eq!(snapshot(&s.path().join("game")), before);
}

#[test]
fn files_planted_in_the_temp_folder_fail_finish() {
    let s = Scratch::new("plant");
    let src = s.path().join("src");
    let m = generate_track(&src, MAP, TRACK, 4000, 2, 1).unwrap();
    let maps = game_maps(&s);
    let inst = Installer::new(&maps, Limits::default()).unwrap();
    let mut p = inst.begin(&m).unwrap();
    feed(&mut p, &src, &all_chunks(&m, 4000)).unwrap();
    fs::write(p.temp_dir().join("track/extra.bin"), b"sneaky").unwrap();
    let e = p.finish().unwrap_err();
    assert!(
        matches!(&e, TrackError::FileUnexpected { path } if path == "extra.bin"),
        "{e}"
    );
    assert!(!dest(&maps).exists());
    p.abort().unwrap();
    assert_eq!(names(&maps), vec![MAP]);
}

#[cfg(unix)]
#[test]
fn a_linked_map_folder_is_refused_and_its_target_untouched() {
    use std::os::unix::fs::symlink;
    let s = Scratch::new("linkmap");
    let src = s.path().join("src");
    let m = generate_track(&src, "MP-linked", TRACK, 4000, 2, 1).unwrap();
    let maps = game_maps(&s);
    let elsewhere = s.path().join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    symlink(&elsewhere, maps.join("MP-linked")).unwrap();
    let inst = Installer::new(&maps, Limits::default()).unwrap();
    let e = inst.install_from_dir(&src, &m).unwrap_err();
    assert!(
        matches!(&e, TrackError::Symlink { path } if path.ends_with("MP-linked")),
        "{e}"
    );
    assert!(names(&elsewhere).is_empty(), "wrote through the link");
    assert_eq!(names(&maps), vec![MAP, "MP-linked"]);
}

#[test]
fn verify_dir_names_the_file_that_differs() {
    let s = Scratch::new("verify");
    let dir = s.path().join("t");
    let m = generate_track(&dir, MAP, TRACK, 9000, 3, 4).unwrap();
    let l = Limits::default();
    verify_dir(&dir, &m.track_hash(), &l).unwrap();
    verify_dir_against(&dir, &m, &l).unwrap();

    let f1 = dir.join(&m.files()[1].path);
    let orig = fs::read(&f1).unwrap();
    let mut changed = orig.clone();
    changed[0] ^= 1;
    fs::write(&f1, &changed).unwrap();
    let e = verify_dir(&dir, &m.track_hash(), &l).unwrap_err();
    assert!(matches!(e, TrackError::TrackHashMismatch { .. }), "{e}");
    let e = verify_dir_against(&dir, &m, &l).unwrap_err();
    assert!(
        matches!(&e, TrackError::FileHashMismatch { path, .. } if *path == m.files()[1].path),
        "{e}"
    );

    fs::write(&f1, &orig[..10]).unwrap();
    let e = verify_dir_against(&dir, &m, &l).unwrap_err();
    assert!(
        matches!(
            e,
            TrackError::FileSizeMismatch {
                expected: 3000,
                actual: 10,
                ..
            }
        ),
        "{e}"
    );
    fs::remove_file(&f1).unwrap();
    let e = verify_dir_against(&dir, &m, &l).unwrap_err();
    assert!(
        matches!(&e, TrackError::FileMissing { path } if *path == m.files()[1].path),
        "{e}"
    );
    fs::write(&f1, &orig).unwrap();
    fs::write(dir.join("zz-extra"), b"1").unwrap();
    let e = verify_dir_against(&dir, &m, &l).unwrap_err();
    assert!(
        matches!(&e, TrackError::FileUnexpected { path } if path == "zz-extra"),
        "{e}"
    );
}

#[test]
fn the_cache_keeps_to_its_budget_evicting_the_least_recently_used() {
    let s = Scratch::new("store-budget");
    let l = Limits::default();
    let track = |n: u64| {
        let src = s.path().join(format!("src{n}"));
        let m = generate_track(&src, MAP, TRACK, 100_000, 2, 40 + n).unwrap();
        (src, m)
    };
    let (a, b, c) = (track(1), track(2), track(3));
    // Room for two and a half of them.
    let store = TrackStore::open(&s.path().join("cache"), l)
        .unwrap()
        .with_budget(250_000);
    let aged = |m: &TrackManifest, secs: u64| {
        let f = store
            .root()
            .join(m.track_hash().to_string())
            .join("manifest.json");
        let t = SystemTime::now() - Duration::from_secs(secs);
        fs::File::options()
            .write(true)
            .open(f)
            .unwrap()
            .set_modified(t)
            .unwrap();
    };
    store.insert(&a.0, &a.1).unwrap();
    store.insert(&b.0, &b.1).unwrap();
    aged(&a.1, 300);
    aged(&b.1, 200);
    // Using A makes B the least recently used.
    assert!(store.lookup(&a.1.track_hash()).is_some());
    // Junk under a track's name is not kept either.
    let junk = TrackHash([9; 32]).to_string();
    fs::create_dir(store.root().join(&junk)).unwrap();
    store.insert(&c.0, &c.1).unwrap();
    let mut want = vec![a.1.track_hash().to_string(), c.1.track_hash().to_string()];
    want.sort();
    assert_eq!(names(store.root()), want);
    // A track larger than the whole budget is kept alone.
    let big = store.clone().with_budget(1);
    big.insert(&b.0, &b.1).unwrap();
    assert_eq!(names(store.root()), vec![b.1.track_hash().to_string()]);
}

#[test]
fn the_cache_stores_rechecks_and_feeds_installs() {
    let s = Scratch::new("store");
    let src = s.path().join("src");
    let m = generate_track(&src, MAP, TRACK, 30_000, 3, 6).unwrap();
    let l = Limits::default();
    let store = TrackStore::open(&s.path().join("cache"), l).unwrap();
    let h = m.track_hash();
    assert_eq!(store.lookup(&h), None);
    let cached = store.insert(&src, &m).unwrap();
    assert_eq!(cached, store.root().join(h.to_string()).join("files"));
    assert_eq!(store.lookup(&h), Some(cached.clone()));
    assert_eq!(store.manifest(&h).unwrap(), m);
    same_tree(&src, &cached);
    assert_eq!(
        store.insert(&src, &m).unwrap(),
        cached,
        "insert is idempotent"
    );
    assert_eq!(names(store.root()), vec![h.to_string()]);

    // Same-size corruption passes the cheap check, not the full one.
    let f = cached.join(&m.files()[2].path);
    let mut bytes = fs::read(&f).unwrap();
    bytes[3] ^= 1;
    fs::write(&f, &bytes).unwrap();
    assert!(store.lookup(&h).is_some());
    let e = store.verify(&h).unwrap_err();
    assert!(
        matches!(&e, TrackError::FileHashMismatch { path, .. } if *path == m.files()[2].path),
        "{e}"
    );
    // ...and an install from the corrupt cache is refused, leaving nothing.
    let maps = game_maps(&s);
    let inst = Installer::new(&maps, l).unwrap();
    let e = inst.install_from_dir(&cached, &m).unwrap_err();
    assert!(matches!(e, TrackError::FileHashMismatch { .. }), "{e}");
    assert_eq!(names(&maps), vec![MAP]);
    // A truncated file fails the cheap check; insert repairs the entry.
    fs::write(&f, b"x").unwrap();
    assert_eq!(store.lookup(&h), None);
    store.insert(&src, &m).unwrap();
    store.verify(&h).unwrap();

    // Cache hit → install → found in the maps folder.
    assert_eq!(find_installed(&maps, MAP, TRACK, &h, &l), None);
    let done = inst
        .install_from_dir(&store.lookup(&h).unwrap(), &m)
        .unwrap();
    same_tree(&src, &done.path);
    assert_eq!(find_installed(&maps, MAP, TRACK, &h, &l), Some(dest(&maps)));
    assert_eq!(find_installed_manifest(&maps, &m, &l), Some(dest(&maps)));
    // A tampered install is not trusted.
    fs::write(dest(&maps).join(&m.files()[0].path), b"tampered").unwrap();
    assert_eq!(find_installed(&maps, MAP, TRACK, &h, &l), None);
    assert_eq!(find_installed_manifest(&maps, &m, &l), None);
    assert_eq!(find_installed(&maps, "..", TRACK, &h, &l), None);

    assert!(store.remove(&h).unwrap());
    assert!(!store.remove(&h).unwrap());
    assert_eq!(store.lookup(&h), None);
}

#[test]
fn manifests_can_be_built_from_parts() {
    let l = Limits::default();
    let files = vec![
        FileEntry {
            path: "z".into(),
            size: 1,
            sha256: [1; 32],
        },
        FileEntry {
            path: "a".into(),
            size: 2,
            sha256: [2; 32],
        },
    ];
    let m = TrackManifest::new(MAP, TRACK, files.clone(), &l).unwrap();
    assert_eq!(m.files()[0].path, "a", "sorted into canonical order");
    assert_eq!(m.total_size(), 3);
    let mut bad = files;
    bad[0].path = "../z".into();
    assert!(TrackManifest::new(MAP, TRACK, bad, &l).is_err());
}

fn run_cli(args: &[&str]) -> (i32, String, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = cli::run(&args, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn cli_prints_manifests_and_verifies_folders() {
    let s = Scratch::new("cli");
    let maps = game_maps(&s);
    let dir = dest(&maps);
    let d = dir.to_str().unwrap();
    let (code, out, err) = run_cli(&[
        "generate", d, "--bytes", "5000", "--files", "3", "--seed", "2",
    ]);
    assert_eq!(code, 0, "{err}");
    let hash = out
        .lines()
        .last()
        .unwrap()
        .strip_prefix("track_hash ")
        .unwrap()
        .to_owned();

    let (code, out, err) = run_cli(&["manifest", d]);
    assert_eq!(code, 0, "{err}");
    let (json, last) = out.trim_end().rsplit_once('\n').unwrap();
    assert_eq!(last, format!("track_hash {hash}"));
    let m = TrackManifest::from_json(json.as_bytes(), &Limits::default()).unwrap();
    assert_eq!(
        (m.map_id(), m.track_id()),
        (MAP, TRACK),
        "ids from the folder's place"
    );
    assert_eq!(m.track_hash().to_string(), hash);

    assert_eq!(run_cli(&["verify", d, &hash]).0, 0);
    let wrong = "0".repeat(64);
    let (code, _, err) = run_cli(&["verify", d, &wrong]);
    assert_eq!(code, 1);
    assert!(err.contains("mismatch") && err.contains(&hash), "{err}");
    assert_eq!(run_cli(&["verify", d, "beef"]).0, 2);
    assert_eq!(run_cli(&["verify", d]).0, 2);
    assert_eq!(
        run_cli(&["manifest", s.path().to_str().unwrap()]).0,
        2,
        "no ids"
    );
    assert_eq!(run_cli(&["manifest", d, "--map", "m", "--track", "t"]).0, 0);
    assert_eq!(run_cli(&["frobnicate"]).0, 2);
    assert_eq!(run_cli(&[]).0, 2);
    let (code, out, _) = run_cli(&["help"]);
    assert_eq!(code, 0);
    assert!(out.contains("verify <dir> <hash>"));
    let (code, _, err) = run_cli(&["verify", s.path().join("nope").to_str().unwrap(), &hash]);
    assert_eq!(code, 1);
    assert!(err.contains("nope"), "{err}");
}

// ---- Single-file tracks: the game's own `storage/offline/maps/<guid>.cmp`.

const GUID: &str = "CMP-5f2a91";

/// `<scratch>/game/storage/offline/maps`, created, and the game's maps folder.
fn game_custom(s: &Scratch) -> (PathBuf, PathBuf) {
    let maps = game_maps(s);
    let custom = s.path().join("game/storage/offline/maps");
    fs::create_dir_all(&custom).unwrap();
    (maps, custom)
}

/// A host's `<guid>.cmp` of `len` bytes of varied content.
fn cmp_file(s: &Scratch, name: &str, len: usize) -> PathBuf {
    let dir = s.dir("host");
    let p = dir.join(name);
    let mut rng = SplitMix64(len as u64 + 7);
    let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
    fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn a_single_file_track_installs_as_its_guid_and_nowhere_else() {
    let s = Scratch::new("cmp-install");
    let (maps, custom) = game_custom(&s);
    let src = cmp_file(&s, &format!("{GUID}.cmp"), 300_000);
    let m = TrackManifest::from_file(&src, "MapCustom", &Limits::default()).unwrap();
    assert_eq!((m.track_id(), m.layout()), (GUID, Layout::File));
    assert_eq!(m.files().len(), 1);
    assert_eq!(m.files()[0].path, format!("{GUID}.cmp"));
    // The same bytes as a one-file folder track are another track.
    let folder = TrackManifest::new(MAP, GUID, m.files().to_vec(), &Limits::default()).unwrap();
    assert_ne!(folder.track_hash(), m.track_hash());
    assert!(String::from_utf8(m.canonical_bytes())
        .unwrap()
        .starts_with("propwash-track-file-v1\n1\n"));
    // Its JSON says so and reads back; a folder track's JSON has no layout.
    let json = m.to_json();
    assert!(json.contains(r#""layout":"file""#), "{json}");
    assert_eq!(
        TrackManifest::from_json(json.as_bytes(), &Limits::default()).unwrap(),
        m
    );
    assert!(!folder.to_json().contains("layout"));

    // Without a folder for such tracks it is refused, saying why.
    let plain = Installer::new(&maps, Limits::default()).unwrap();
    assert!(matches!(
        plain.begin(&m),
        Err(TrackError::NoFileTrackFolder { .. })
    ));
    let before_maps = snapshot(&maps);

    let inst = Installer::new(&maps, Limits::default())
        .unwrap()
        .with_file_tracks(&custom)
        .unwrap();
    let mut chunks = all_chunks(&m, 16 * 1024);
    shuffle(&mut chunks, 11);
    let mut p = inst.begin(&m).unwrap();
    assert!(
        p.temp_dir().starts_with(inst.files_root().unwrap()),
        "the temporary copy sits beside its destination"
    );
    feed(&mut p, src.parent().unwrap(), &chunks).unwrap();
    assert!(
        !custom.join(format!("{GUID}.cmp")).exists(),
        "nothing visible before finish"
    );
    let done = p.finish().unwrap();
    assert_eq!(done.outcome, InstallOutcome::Installed);
    assert_eq!(
        done.path,
        inst.files_root().unwrap().join(format!("{GUID}.cmp"))
    );
    assert_eq!(fs::read(&done.path).unwrap(), fs::read(&src).unwrap());
    assert_eq!(names(&custom), [format!("{GUID}.cmp")], "no temporary left");
    assert_eq!(snapshot(&maps), before_maps, "the maps folder is untouched");
    verify_installed(&done.path, &m.track_hash(), &Limits::default()).unwrap();
    // The same file again: used as it is.
    let again = inst.install_from_dir(&src, &m).unwrap();
    assert_eq!(again.outcome, InstallOutcome::AlreadyPresent);
}

#[test]
fn a_different_file_of_that_name_is_never_overwritten() {
    let s = Scratch::new("cmp-taken");
    let (maps, custom) = game_custom(&s);
    let src = cmp_file(&s, &format!("{GUID}.cmp"), 50_000);
    let m = TrackManifest::from_file(&src, "MapCustom", &Limits::default()).unwrap();
    let theirs = custom.join(format!("{GUID}.cmp"));
    fs::write(&theirs, b"the player's own, older version").unwrap();
    let inst = Installer::new(&maps, Limits::default())
        .unwrap()
        .with_file_tracks(&custom)
        .unwrap();
    let err = inst.install_from_dir(&src, &m).unwrap_err();
    assert!(matches!(err, TrackError::FileTaken { .. }), "{err}");
    assert!(err.to_string().contains(&format!("{GUID}.cmp")), "{err}");
    assert_eq!(
        fs::read(&theirs).unwrap(),
        b"the player's own, older version"
    );
    assert_eq!(
        names(&custom),
        [format!("{GUID}.cmp")],
        "the failed install left nothing"
    );
}

#[test]
fn hostile_single_file_tracks_are_refused_as_folder_tracks_are() {
    let s = Scratch::new("cmp-hostile");
    let (maps, custom) = game_custom(&s);
    let limits = Limits::default();
    // Names: not .cmp, a Windows device, a trailing dot, a tilde.
    for name in ["CMP-1.bin", "NUL.cmp", "CMP-1..cmp", "CMP-1~ab.cmp", ".cmp"] {
        let p = cmp_file(&s, name, 10);
        assert!(
            TrackManifest::from_file(&p, "MapCustom", &limits).is_err(),
            "{name}"
        );
    }
    // A link, a folder.
    let real = cmp_file(&s, "CMP-real.cmp", 10);
    #[cfg(unix)]
    {
        let link = s.path().join("host/CMP-link.cmp");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(matches!(
            TrackManifest::from_file(&link, "MapCustom", &limits),
            Err(TrackError::Symlink { .. })
        ));
    }
    fs::create_dir_all(s.path().join("host/CMP-dir.cmp")).unwrap();
    assert!(
        TrackManifest::from_file(&s.path().join("host/CMP-dir.cmp"), "MapCustom", &limits).is_err()
    );
    // Over the size cap.
    let tight = Limits {
        max_total_bytes: 1000,
        ..Limits::default()
    };
    let big = cmp_file(&s, "CMP-big.cmp", 1001);
    assert!(matches!(
        TrackManifest::from_file(&big, "MapCustom", &tight),
        Err(TrackError::TooLarge { .. })
    ));
    // A host's manifest that names another file, or two, for a file track.
    let entry = |path: &str| FileEntry {
        path: path.into(),
        size: 3,
        sha256: [1; 32],
    };
    for files in [
        vec![entry("other.cmp")],
        vec![entry("CMP-1.cmp"), entry("x")],
        vec![entry("../CMP-1.cmp")],
    ] {
        let json = format!(
            r#"{{"version":1,"map_id":"MapCustom","track_id":"CMP-1","layout":"file","files":[{}]}}"#,
            files
                .iter()
                .map(|f| format!(
                    r#"{{"path":"{}","size":3,"sha256":"{}"}}"#,
                    f.path,
                    "01".repeat(32)
                ))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert!(
            TrackManifest::from_json(json.as_bytes(), &limits).is_err(),
            "{json}"
        );
    }
    assert!(TrackManifest::new_file("MapCustom", "CMP-1", entry("CMP-1.cmp"), &limits).is_ok());
    // Nothing was written into the game.
    assert!(names(&custom).is_empty());
    assert!(fs::read_dir(&maps)
        .unwrap()
        .all(|e| e.unwrap().file_name() == MAP));
}
