//! The demo's custom track: the host's folder (or single `<guid>.cmp`
//! file), served to the room when the pilots start; a temporary maps folder
//! (and custom tracks' folder) per joiner, removed afterwards; and
//! what the transfer came to (copies that verify, aggregate speed, and
//! whether frames kept their latency while it ran).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use crate::track::transfer::{FolderSource, MapsFolder, TrackSource};
use crate::track::{
    file_track_id, verify_installed, Limits, TrackError, TrackHash, FILE_TRACK_MAP_ID,
};

/// Map id when the folder is not at `maps/<map-id>/custom/<track-id>`
/// (the same as `propwash track generate`'s).
pub const DEFAULT_MAP_ID: &str = "MP-demo";
/// Track id when the folder does not say.
pub const DEFAULT_TRACK_ID: &str = "CMP-demo";

/// A track folder, or a single-file track (`<guid>.cmp`), for the demo's
/// host to serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoTrack {
    /// The folder, or the `.cmp` file.
    pub dir: PathBuf,
    /// Map id; by default the folder's place in `maps/<map-id>/custom/...`,
    /// else [`DEFAULT_MAP_ID`].
    pub map_id: Option<String>,
    /// Track id; by default the folder's name when its parent is `custom`,
    /// else [`DEFAULT_TRACK_ID`].
    pub track_id: Option<String>,
}

impl DemoTrack {
    /// Whether it is a single file (the game's own `.cmp` format).
    pub fn is_file(&self) -> bool {
        self.dir.is_file()
    }

    /// The ids to serve the track under. A single-file track's id is its
    /// file's name without `.cmp`, its map id `MapCustom` unless given.
    pub fn ids(&self) -> (String, String) {
        if self.is_file() {
            let name = self
                .dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            return (
                self.map_id
                    .clone()
                    .unwrap_or_else(|| FILE_TRACK_MAP_ID.into()),
                file_track_id(name).unwrap_or_else(|| name.to_string()),
            );
        }
        let real = std::fs::canonicalize(&self.dir).unwrap_or_else(|_| self.dir.clone());
        let name = |p: Option<&Path>| {
            p.and_then(Path::file_name)
                .and_then(|n| n.to_str())
                .map(str::to_owned)
        };
        let parent = real.parent();
        let in_custom = name(parent).as_deref() == Some("custom");
        // An installed copy beside another is `<track-id>~<hash>`.
        let from_dir = in_custom
            .then(|| name(Some(&real)))
            .flatten()
            .map(|n| n.split('~').next().unwrap_or_default().to_owned());
        let map_from_dir = in_custom
            .then(|| name(parent.and_then(Path::parent)))
            .flatten();
        (
            self.map_id
                .clone()
                .or(map_from_dir)
                .unwrap_or_else(|| DEFAULT_MAP_ID.into()),
            self.track_id
                .clone()
                .or(from_dir)
                .unwrap_or_else(|| DEFAULT_TRACK_ID.into()),
        )
    }
}

/// The host's track, hashed and ready to serve.
pub(crate) struct Served {
    pub(crate) source: Box<dyn TrackSource>,
    pub(crate) hash: TrackHash,
    pub(crate) bytes: u64,
}

/// Reads the track's manifest (hashing every file once). A single file
/// must be named `<guid>.cmp`; a `--track-id` given for it must be that
/// guid.
pub(crate) fn prepare(track: &DemoTrack) -> Result<Served, TrackError> {
    let (map, id) = track.ids();
    let source = if track.is_file() {
        let source = FolderSource::from_file(&track.dir, &map, &Limits::default())?;
        let own = TrackSource::manifest(&source).track_id().to_string();
        if let Some(asked) = track.track_id.as_ref().filter(|t| **t != own) {
            return Err(TrackError::NotAFileTrack {
                track_id: asked.clone(),
                detail: format!("the file names the track {own}"),
            });
        }
        source
    } else {
        FolderSource::new(&track.dir, &map, &id, &Limits::default())?
    };
    let manifest = crate::track::transfer::TrackSource::manifest(&source);
    let (hash, bytes) = (manifest.track_hash(), manifest.total_size());
    Ok(Served {
        source: Box::new(source),
        hash,
        bytes,
    })
}

/// One temporary maps folder per joiner under the system's temp folder,
/// all removed when this is dropped.
pub(crate) struct MapsFolders {
    root: PathBuf,
}

impl MapsFolders {
    pub(crate) fn new() -> Result<MapsFolders, TrackError> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let root =
            std::env::temp_dir().join(format!("propwash-demo-{}-{stamp:x}", std::process::id()));
        create(&root)?;
        Ok(MapsFolders { root })
    }

    /// A fresh maps folder for `peer` and a custom tracks' folder beside
    /// it (as the game has `content/maps` and `storage/offline/maps`), as
    /// the joiner's track target.
    pub(crate) fn target(&self, peer: &str) -> Result<MapsFolder, TrackError> {
        let maps = self.root.join(peer).join("content").join("maps");
        let custom = self
            .root
            .join(peer)
            .join("storage")
            .join("offline")
            .join("maps");
        create(&maps)?;
        create(&custom)?;
        MapsFolder::new(&maps, None, Limits::default())?.with_file_tracks(&custom)
    }
}

fn create(dir: &Path) -> Result<(), TrackError> {
    std::fs::create_dir_all(dir).map_err(|source| TrackError::Io {
        action: "creating",
        path: dir.to_path_buf(),
        source,
    })
}

impl Drop for MapsFolders {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.root) {
            tracing::warn!("could not remove {}: {e}", self.root.display());
        }
    }
}

/// Whether a transfer is running, shared by every peer thread: from the
/// host's announcement until the last joiner's track settled.
#[derive(Debug, Default)]
pub(crate) struct TransferClock {
    announced: AtomicBool,
    expected: AtomicUsize,
    settled: AtomicUsize,
}

impl TransferClock {
    /// How many joiners will fetch the track (set before the start).
    pub(crate) fn expect(&self, joiners: usize) {
        self.expected.store(joiners, Ordering::Release);
    }

    /// The host announced the track.
    pub(crate) fn announce(&self) {
        self.announced.store(true, Ordering::Release);
    }

    /// A joiner's track is ready or failed.
    pub(crate) fn settle(&self) {
        self.settled.fetch_add(1, Ordering::AcqRel);
    }

    /// True while some joiner is still fetching.
    pub(crate) fn in_progress(&self) -> bool {
        self.announced.load(Ordering::Acquire)
            && self.settled.load(Ordering::Acquire) < self.expected.load(Ordering::Acquire)
    }

    /// True once announced and every joiner settled (or nobody fetches).
    pub(crate) fn done(&self) -> bool {
        self.expected.load(Ordering::Acquire) == 0
            || (self.announced.load(Ordering::Acquire)
                && self.settled.load(Ordering::Acquire) >= self.expected.load(Ordering::Acquire))
    }
}

/// What one joiner saw of the track.
#[derive(Clone, Debug, Default)]
pub(crate) struct JoinerTrack {
    /// When the announcement reached it (its request went out then).
    pub(crate) asked_at: Option<Instant>,
    /// Where it was installed, whether it was downloaded, and when.
    pub(crate) ready: Option<(PathBuf, bool, Instant)>,
    /// Why it could not be had.
    pub(crate) failed: Option<String>,
}

/// The transfer, summed up after the run.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TransferSummary {
    pub(crate) installed: usize,
    /// The file or folder names of the verified copies, sorted, each once.
    pub(crate) names: Vec<String>,
    /// MiB per second over all joiners together.
    pub(crate) mib_per_s: Option<f64>,
    pub(crate) errors: Vec<String>,
}

/// Verifies every joiner's installed copy against `hash` and measures the
/// aggregate speed: bytes installed by download over the time from the
/// first request to the last ready.
pub(crate) fn summarize(
    hash: &TrackHash,
    bytes: u64,
    joiners: &[(&str, &JoinerTrack)],
) -> TransferSummary {
    let mut installed = 0;
    let mut names: Vec<String> = Vec::new();
    let mut downloaded = 0u64;
    let mut errors = Vec::new();
    for (name, j) in joiners {
        match (&j.ready, &j.failed) {
            (Some((path, fetched, _)), _) => match verify_installed(path, hash, &Limits::default())
            {
                Ok(_) => {
                    installed += 1;
                    if let Some(n) = path.file_name().and_then(|n| n.to_str()) {
                        if !names.iter().any(|m| m == n) {
                            names.push(n.to_string());
                        }
                    }
                    downloaded += u64::from(*fetched);
                }
                Err(e) => errors.push(format!(
                    "{name}'s installed track at {} does not verify: {e}",
                    path.display()
                )),
            },
            (None, Some(why)) => errors.push(format!("{name} could not get the track: {why}")),
            (None, None) => errors.push(format!("{name}'s track did not arrive in time")),
        }
    }
    let first = joiners.iter().filter_map(|(_, j)| j.asked_at).min();
    let last = joiners
        .iter()
        .filter_map(|(_, j)| j.ready.as_ref().map(|r| r.2))
        .max();
    let mib_per_s = match (first, last) {
        (Some(a), Some(b)) if b > a && downloaded > 0 => {
            Some((downloaded * bytes) as f64 / (1u64 << 20) as f64 / (b - a).as_secs_f64())
        }
        _ => None,
    };
    names.sort();
    TransferSummary {
        installed,
        names,
        mib_per_s,
        errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_the_flags_then_the_folders_place_then_the_defaults() {
        let base = std::env::temp_dir().join(format!("propwash-demo-ids-{}", std::process::id()));
        let placed = base.join("maps/MP-Stadium/custom/CMP-night~abcd");
        std::fs::create_dir_all(&placed).unwrap();
        let t = DemoTrack {
            dir: placed.clone(),
            map_id: None,
            track_id: None,
        };
        assert_eq!(t.ids(), ("MP-Stadium".into(), "CMP-night".into()));
        let loose = DemoTrack {
            dir: base.clone(),
            map_id: None,
            track_id: None,
        };
        assert_eq!(
            loose.ids(),
            (DEFAULT_MAP_ID.into(), DEFAULT_TRACK_ID.into())
        );
        let named = DemoTrack {
            dir: placed,
            map_id: Some("MP-x".into()),
            track_id: Some("CMP-y".into()),
        };
        assert_eq!(named.ids(), ("MP-x".into(), "CMP-y".into()));
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn the_clock_runs_from_the_announcement_to_the_last_joiner() {
        let c = TransferClock::default();
        c.expect(2);
        assert!(!c.in_progress() && !c.done(), "not announced yet");
        c.announce();
        assert!(c.in_progress());
        c.settle();
        assert!(c.in_progress());
        c.settle();
        assert!(!c.in_progress() && c.done());
        assert!(TransferClock::default().done(), "nobody to wait for");
    }
}
