//! Installing a track into the game's maps folder without ever exposing a
//! half-written or unverified track, and without writing outside that folder.
//!
//! Files are written into a temporary folder inside the maps folder
//! (`maps/.propwash-tmp-<hash16>-<random>/track/`), chunk by chunk in any
//! order, beside a small state file that lets a later process resume. When
//! every byte is in, [`PartialTrack::finish`] re-reads and hashes the whole
//! temporary track, then makes it visible with one rename to
//! `maps/<map-id>/custom/<track-id>`.
//!
//! A track that already sits there is never overwritten: if it holds the
//! same content it is used as is; if it holds other content (an older or
//! edited version under the same id) the new track goes beside it as
//! `<track-id>~<first 8 hex digits of the hash>` (or `~<all 64>` should that
//! be taken too), and [`InstalledTrack::occupied`] says so. We chose this over
//! refusing because the player keeps their own track and still gets the
//! room's; the caller decides how to tell the game which folder to load.
//!
//! A single-file track ([`Layout::File`], the game's own `<guid>.cmp`) goes
//! the same way into the custom tracks' folder
//! ([`Installer::with_file_tracks`]): written and hashed in a temporary
//! folder there, then linked into place as `<track-id>.cmp` in one step
//! that fails if a file of that name appeared meanwhile. A different file
//! already of that name is never overwritten, and not installed beside
//! either (the game finds a custom track by its file name only): the
//! install fails with [`TrackError::FileTaken`], naming it.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::{io_err, TrackError};
use super::manifest::{
    compare_listing, file_track_name, list_dir, list_file, verify_dir_against, verify_file, Layout,
    Limits, Listed, TrackHash, TrackManifest,
};

/// Name prefix of our temporary folders in the maps folder.
pub const TEMP_PREFIX: &str = ".propwash-tmp-";
/// A temporary folder untouched this long is abandoned; see
/// [`sweep_stale_temps`].
pub const DEFAULT_STALE_AGE: Duration = Duration::from_secs(24 * 60 * 60);
/// Interrupted downloads kept for a resume, per folder, besides the one
/// starting: older ones are removed when a new download starts, so a host
/// cycling through tracks cannot fill the disk with preallocated partial
/// tracks (at most this many plus one, each within [`Limits`]).
pub const MAX_PARTIAL_TRACKS: usize = 2;
/// The install state is saved at least every this many new bytes, and when
/// a [`PartialTrack`] is dropped. A crash loses at most this much progress
/// (the bytes are re-fetched, never trusted unhashed).
pub const PERSIST_EVERY_BYTES: u64 = 4 << 20;

const STATE_FILE: &str = "state.json";
const STATE_TMP_FILE: &str = "state.json.new";
const MANIFEST_FILE: &str = "manifest.json";
const FILES_DIR: &str = "track";
const STATE_VERSION: u32 = 1;
/// The longest state file we read back.
const MAX_STATE_LEN: u64 = 64 << 20;
/// Chunk size when installing from a folder on this machine.
const COPY_CHUNK: usize = 1 << 20;

/// Installs tracks into one maps folder (`.../StreamingAssets/game/content/maps`).
#[derive(Clone, Debug)]
pub struct Installer {
    maps_root: PathBuf,
    /// Where single-file tracks go (`storage/offline/maps`), when known.
    files_root: Option<PathBuf>,
    limits: Limits,
}

/// How a track got to its folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstallOutcome {
    /// Our files were moved into place.
    Installed,
    /// A folder with exactly this track was already there; ours were dropped.
    AlreadyPresent,
}

/// A verified track in the maps folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstalledTrack {
    /// The track's folder.
    pub path: PathBuf,
    /// Its hash.
    pub hash: TrackHash,
    /// Whether we placed it or found it.
    pub outcome: InstallOutcome,
    /// Set when `maps/<map-id>/custom/<track-id>` holds a different track,
    /// left untouched, and `path` is a `~` name beside it.
    pub occupied: Option<PathBuf>,
}

/// What one chunk did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkOutcome {
    /// The chunk's file.
    pub file_index: usize,
    /// Bytes this chunk added; 0 for a duplicate.
    pub new_bytes: u64,
    /// The file is complete and its SHA-256 matched.
    pub file_complete: bool,
    /// Bytes received of the whole track.
    pub received_bytes: u64,
    /// Bytes in the whole track.
    pub total_bytes: u64,
}

impl ChunkOutcome {
    /// Every byte of the track is in; call [`PartialTrack::finish`].
    pub fn track_complete(&self) -> bool {
        self.received_bytes == self.total_bytes
    }
}

/// Bytes `start..end` of file `file_index` are still needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MissingRange {
    /// Index into [`TrackManifest::files`].
    pub file_index: usize,
    /// First byte needed.
    pub start: u64,
    /// One past the last byte needed.
    pub end: u64,
}

/// A track being written into its temporary folder. Dropping it saves the
/// progress (so [`Installer::resume`] can pick it up) and leaves the folder;
/// [`PartialTrack::abort`] removes it. Not for use from two threads at once.
#[derive(Debug)]
pub struct PartialTrack {
    manifest: TrackManifest,
    limits: Limits,
    maps_root: PathBuf,
    temp_dir: PathBuf,
    files_dir: PathBuf,
    files: Vec<FileProgress>,
    received_bytes: u64,
    unpersisted: u64,
    open: Option<(usize, File)>,
    scratch: Vec<u8>,
    closed: bool,
}

/// One file's progress. Its SHA-256 is computed as a stream over the
/// contiguous prefix received so far (`hashed` bytes): chunks arriving in
/// order are hashed from memory, bytes that arrived early are read back
/// once the hole before them fills. So every byte is hashed exactly once,
/// and a file is verified the moment its last byte arrives.
#[derive(Clone, Debug, Default)]
struct FileProgress {
    received: RangeSet,
    hasher: Sha256,
    hashed: u64,
    verified: bool,
}

impl FileProgress {
    fn with_ranges(received: RangeSet) -> FileProgress {
        FileProgress {
            received,
            ..FileProgress::default()
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateJson {
    version: u32,
    track_hash: TrackHash,
    /// Per file, the received byte ranges as `[start, end)` pairs.
    received: Vec<Vec<[u64; 2]>>,
}

impl Installer {
    /// An installer for the maps folder at `maps_root`, which must exist (we
    /// never create the game's folders). Links in `maps_root`'s own path are
    /// resolved once here; inside it we never follow one.
    pub fn new(maps_root: &Path, limits: Limits) -> Result<Installer, TrackError> {
        let maps_root = fs::canonicalize(maps_root).map_err(io_err("opening", maps_root))?;
        if !maps_root.is_dir() {
            return Err(TrackError::NotADirectory { path: maps_root });
        }
        Ok(Installer {
            maps_root,
            files_root: None,
            limits,
        })
    }

    /// Also installs single-file tracks, into `dir` (the game's
    /// `storage/offline/maps`, which must exist; links in its own path are
    /// resolved once here).
    pub fn with_file_tracks(mut self, dir: &Path) -> Result<Installer, TrackError> {
        let dir = fs::canonicalize(dir).map_err(io_err("opening", dir))?;
        if !dir.is_dir() {
            return Err(TrackError::NotADirectory { path: dir });
        }
        self.files_root = Some(dir);
        Ok(self)
    }

    /// The folder single-file tracks go into (canonical), when set.
    pub fn files_root(&self) -> Option<&Path> {
        self.files_root.as_deref()
    }

    /// The folder a track's temporary copy and its destination live in.
    fn root_for(&self, manifest: &TrackManifest) -> Result<&Path, TrackError> {
        match manifest.layout() {
            Layout::Folder => Ok(&self.maps_root),
            Layout::File => {
                self.files_root
                    .as_deref()
                    .ok_or_else(|| TrackError::NoFileTrackFolder {
                        track_id: manifest.track_id().to_string(),
                    })
            }
        }
    }

    /// The maps folder (canonical).
    pub fn maps_root(&self) -> &Path {
        &self.maps_root
    }

    /// The limits every manifest is checked against.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Where a track belongs: `maps/<map-id>/custom/<track-id>`, or for a
    /// single-file track `<file tracks>/<track-id>.cmp` (`None` when that
    /// folder was not given).
    pub fn destination(&self, manifest: &TrackManifest) -> Option<PathBuf> {
        match manifest.layout() {
            Layout::Folder => Some(
                self.maps_root
                    .join(manifest.map_id())
                    .join("custom")
                    .join(manifest.track_id()),
            ),
            Layout::File => self
                .files_root
                .as_ref()
                .map(|r| r.join(file_track_name(manifest.track_id()))),
        }
    }

    /// Starts a fresh install: creates the temporary folder with every file
    /// preallocated to its size. The caller should first have checked the
    /// manifest against the room's announcement
    /// ([`TrackManifest::check_announced`]).
    pub fn begin(&self, manifest: &TrackManifest) -> Result<PartialTrack, TrackError> {
        manifest.validate(&self.limits)?;
        let root = self.root_for(manifest)?.to_path_buf();
        // Abandoned (a day untouched) and surplus interrupted downloads go
        // before a new one takes its room.
        match sweep_prefixed(
            &root,
            TEMP_PREFIX,
            SystemTime::now(),
            DEFAULT_STALE_AGE,
            MAX_PARTIAL_TRACKS,
        ) {
            Ok(removed) if !removed.is_empty() => {
                tracing::info!(removed = removed.len(), "removed old interrupted downloads");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("could not remove old interrupted downloads: {e}"),
        }
        let temp_dir = create_temp_dir(&root, &manifest.track_hash())?;
        let mut partial = PartialTrack {
            manifest: manifest.clone(),
            limits: self.limits,
            maps_root: root,
            files_dir: temp_dir.join(FILES_DIR),
            temp_dir,
            files: vec![FileProgress::default(); manifest.files().len()],
            received_bytes: 0,
            unpersisted: 0,
            open: None,
            scratch: Vec::new(),
            closed: false,
        };
        match partial.populate() {
            Ok(()) => Ok(partial),
            Err(e) => {
                // Nothing is visible yet; remove what we made.
                let _ = partial.abort();
                Err(e)
            }
        }
    }

    /// Picks up an install of this track left by an earlier run (same or
    /// another process): the temporary folder with the most bytes. Reads
    /// back and hashes what its state file says arrived, so a file the
    /// state calls complete but that did not reach the disk intact is
    /// wanted again. `None` when there is nothing to resume; unusable
    /// leftovers are skipped (and later swept).
    pub fn resume(&self, manifest: &TrackManifest) -> Result<Option<PartialTrack>, TrackError> {
        manifest.validate(&self.limits)?;
        let root = self.root_for(manifest)?;
        let prefix = format!("{TEMP_PREFIX}{}-", &manifest.track_hash().to_string()[..16]);
        let mut best: Option<PartialTrack> = None;
        let entries = fs::read_dir(root).map_err(io_err("listing", root))?;
        for entry in entries {
            let entry = entry.map_err(io_err("listing", root))?;
            let is_ours = entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&prefix));
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if !is_ours || !is_dir {
                continue;
            }
            match self.load_partial(root, &entry.path(), manifest) {
                Ok(p) => {
                    if best
                        .as_ref()
                        .is_none_or(|b| p.received_bytes > b.received_bytes)
                    {
                        best = Some(p);
                    }
                }
                Err(e) => tracing::warn!("not resuming {}: {e}", entry.path().display()),
            }
        }
        if let Some(p) = best.as_mut() {
            p.catch_up_all()?;
        }
        Ok(best)
    }

    /// [`Installer::resume`] if there is something to resume, else
    /// [`Installer::begin`].
    pub fn begin_or_resume(&self, manifest: &TrackManifest) -> Result<PartialTrack, TrackError> {
        match self.resume(manifest)? {
            Some(p) => Ok(p),
            None => self.begin(manifest),
        }
    }

    /// Installs a track from a folder on this machine (the download cache,
    /// a folder a player points at) through the same checked path as a
    /// download: the source is listed without following links and must
    /// match the manifest; every byte is hashed again on the way.
    pub fn install_from_dir(
        &self,
        src: &Path,
        manifest: &TrackManifest,
    ) -> Result<InstalledTrack, TrackError> {
        let listing = list_source(src, manifest, &self.limits)?;
        compare_listing(manifest.files(), &listing)?;
        let mut partial = self.begin(manifest)?;
        let result = copy_into(&mut partial, &listing).and_then(|()| partial.finish());
        if result.is_err() {
            let _ = partial.abort();
        }
        result
    }

    fn load_partial(
        &self,
        root: &Path,
        temp_dir: &Path,
        manifest: &TrackManifest,
    ) -> Result<PartialTrack, TrackError> {
        let temp_dir = inside(root, temp_dir)?;
        let corrupt = |path: &Path, detail: String| TrackError::StateCorrupt {
            path: path.to_path_buf(),
            detail,
        };
        let manifest_path = temp_dir.join(MANIFEST_FILE);
        let saved = read_bounded(&manifest_path, self.limits.max_manifest_json_len() as u64)?;
        let saved = TrackManifest::from_json(&saved, &self.limits)
            .map_err(|e| corrupt(&manifest_path, e.to_string()))?;
        if saved.track_hash() != manifest.track_hash() {
            return Err(corrupt(&manifest_path, "belongs to another track".into()));
        }
        let state_path = temp_dir.join(STATE_FILE);
        let state: StateJson = serde_json::from_slice(&read_bounded(&state_path, MAX_STATE_LEN)?)
            .map_err(|e| corrupt(&state_path, e.to_string()))?;
        if state.version != STATE_VERSION
            || state.track_hash != manifest.track_hash()
            || state.received.len() != manifest.files().len()
        {
            return Err(corrupt(&state_path, "another version or track".into()));
        }
        let mut files = Vec::with_capacity(state.received.len());
        let mut received_bytes = 0;
        for (ranges, entry) in state.received.iter().zip(manifest.files()) {
            let mut set = RangeSet::default();
            for &[start, end] in ranges {
                if start >= end || end > entry.size {
                    return Err(corrupt(
                        &state_path,
                        format!("bad range for {}", entry.path),
                    ));
                }
                set.insert(start, end);
            }
            received_bytes += set.covered;
            files.push(FileProgress::with_ranges(set));
        }
        // The files must all be there, plain, at their announced sizes.
        let files_dir = temp_dir.join(FILES_DIR);
        let listing = list_dir(&files_dir, &self.limits)?;
        compare_listing(manifest.files(), &listing)?;
        Ok(PartialTrack {
            manifest: manifest.clone(),
            limits: self.limits,
            maps_root: root.to_path_buf(),
            temp_dir,
            files_dir,
            files,
            received_bytes,
            unpersisted: 0,
            open: None,
            scratch: Vec::new(),
            closed: false,
        })
    }
}

/// Makes `<root>/.propwash-tmp-<hash16>-<random>` and checks it is inside
/// `root` (canonical).
fn create_temp_dir(root: &Path, hash: &TrackHash) -> Result<PathBuf, TrackError> {
    let hash_hex = hash.to_string();
    let mut tries = 0;
    let dir = loop {
        let dir = root.join(format!(
            "{TEMP_PREFIX}{}-{:016x}",
            &hash_hex[..16],
            unique_u64()
        ));
        match fs::create_dir(&dir) {
            Ok(()) => break dir,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < 8 => tries += 1,
            Err(e) => return Err(io_err("creating", dir)(e)),
        }
    };
    match inside(root, &dir) {
        Ok(canonical) => Ok(canonical),
        Err(e) => {
            let _ = fs::remove_dir(&dir);
            Err(e)
        }
    }
}

/// The files of a track on this machine: a folder's, or for a single-file
/// track its one file given by itself (or a folder holding it).
pub(crate) fn list_source(
    src: &Path,
    manifest: &TrackManifest,
    limits: &Limits,
) -> Result<Vec<Listed>, TrackError> {
    let is_file = fs::symlink_metadata(src).is_ok_and(|m| m.is_file());
    if manifest.layout() == Layout::File && is_file {
        let mut one = list_file(src, limits)?;
        // Compared by the name it will have.
        one.rel = file_track_name(manifest.track_id());
        Ok(vec![one])
    } else {
        list_dir(src, limits)
    }
}

/// Feeds every listed file into `partial` in `COPY_CHUNK` pieces.
fn copy_into(partial: &mut PartialTrack, listing: &[Listed]) -> Result<(), TrackError> {
    let mut buf = vec![0u8; COPY_CHUNK];
    for (index, l) in listing.iter().enumerate() {
        let mut file = File::open(&l.abs).map_err(io_err("opening", &l.abs))?;
        let mut offset = 0;
        while offset < l.size {
            let want = usize::try_from(l.size - offset)
                .unwrap_or(usize::MAX)
                .min(buf.len());
            file.read_exact(&mut buf[..want])
                .map_err(io_err("reading", &l.abs))?;
            partial.write_chunk(index, offset, &buf[..want])?;
            offset += want as u64;
        }
    }
    Ok(())
}

impl PartialTrack {
    /// The manifest being installed; chunk file indices index its files.
    pub fn manifest(&self) -> &TrackManifest {
        &self.manifest
    }

    /// The temporary folder (inside the maps folder).
    pub fn temp_dir(&self) -> &Path {
        &self.temp_dir
    }

    /// Bytes received so far.
    pub fn received_bytes(&self) -> u64 {
        self.received_bytes
    }

    /// Bytes in the whole track.
    pub fn total_bytes(&self) -> u64 {
        self.manifest.total_size()
    }

    /// Every byte is in.
    pub fn is_complete(&self) -> bool {
        self.received_bytes == self.manifest.total_size()
    }

    /// Writes `bytes` at `offset` of file `file_index`. Chunks may come in
    /// any order and more than once. Refused, with nothing written: an
    /// unknown file index, a chunk reaching past the file's announced size,
    /// and a chunk overlapping bytes already received with different bytes.
    /// Each file is hashed as its contiguous prefix grows (from memory for
    /// chunks in order; bytes that came early are read back once, when the
    /// hole before them fills, so filling the first hole of a file can read
    /// up to the whole file: call this off the game thread). When a file's
    /// last byte arrives its hash is checked; on a mismatch it is emptied
    /// (all its ranges become missing again) and
    /// [`TrackError::FileHashMismatch`] names it, so the sender can be asked
    /// for it again.
    pub fn write_chunk(
        &mut self,
        file_index: usize,
        offset: u64,
        bytes: &[u8],
    ) -> Result<ChunkOutcome, TrackError> {
        self.ensure_open()?;
        let files = self.manifest.files().len();
        let size = match self.manifest.files().get(file_index) {
            Some(f) => f.size,
            None => {
                return Err(TrackError::UnknownFileIndex {
                    index: file_index,
                    files,
                })
            }
        };
        let len = bytes.len() as u64;
        let end = match offset.checked_add(len) {
            Some(end) if end <= size => end,
            _ => {
                return Err(TrackError::ChunkOutOfRange {
                    path: self.manifest.files()[file_index].path.clone(),
                    offset,
                    len,
                    size,
                })
            }
        };
        if len == 0 {
            return Ok(self.outcome(file_index, 0));
        }
        let overlaps = self.files[file_index].received.intersections(offset, end);
        if !overlaps.is_empty() {
            let mut existing = Vec::new();
            for &(s, e) in &overlaps {
                existing.resize((e - s) as usize, 0);
                self.read_at(file_index, s, &mut existing)?;
                if existing[..] != bytes[(s - offset) as usize..(e - offset) as usize] {
                    return Err(TrackError::ChunkConflict {
                        path: self.manifest.files()[file_index].path.clone(),
                        offset,
                        len,
                    });
                }
            }
        }
        let mut at = offset;
        for &(s, e) in overlaps.iter().chain(std::iter::once(&(end, end))) {
            if at < s {
                self.write_at(
                    file_index,
                    at,
                    &bytes[(at - offset) as usize..(s - offset) as usize],
                )?;
            }
            at = at.max(e);
        }
        let new_bytes = self.files[file_index].received.insert(offset, end);
        self.received_bytes += new_bytes;
        self.unpersisted += new_bytes;
        if new_bytes > 0 {
            self.advance_hash(file_index, Some((offset, bytes)))?;
        }
        // Saving costs a rewrite of the whole state (every file's ranges),
        // so it is done by the megabyte, not per chunk or per file.
        if self.unpersisted >= PERSIST_EVERY_BYTES {
            self.persist()?;
        }
        Ok(self.outcome(file_index, new_bytes))
    }

    /// The byte ranges still needed, by file, in order. After a resume this
    /// is what to ask the host for.
    pub fn missing_ranges(&self) -> Vec<MissingRange> {
        let mut out = Vec::new();
        for (file_index, (progress, entry)) in
            self.files.iter().zip(self.manifest.files()).enumerate()
        {
            for (start, end) in progress.received.gaps(0, entry.size) {
                out.push(MissingRange {
                    file_index,
                    start,
                    end,
                });
            }
        }
        out
    }

    /// Saves the progress to the state file now (write a new file, then
    /// rename over the old one). Done on its own every
    /// [`PERSIST_EVERY_BYTES`], when a file completes and on drop; call it
    /// when the connection drops to lose nothing.
    pub fn persist(&mut self) -> Result<(), TrackError> {
        self.ensure_open()?;
        let state = StateJson {
            version: STATE_VERSION,
            track_hash: self.manifest.track_hash(),
            received: self
                .files
                .iter()
                .map(|f| f.received.ranges.iter().map(|(&a, &b)| [a, b]).collect())
                .collect(),
        };
        let json = serde_json::to_vec(&state).unwrap_or_default();
        let tmp = self.temp_dir.join(STATE_TMP_FILE);
        let _ = fs::remove_file(&tmp);
        let mut f = create_new(&tmp)?;
        f.write_all(&json).map_err(io_err("writing", &tmp))?;
        drop(f);
        let path = self.temp_dir.join(STATE_FILE);
        fs::rename(&tmp, &path).map_err(io_err("saving", &path))?;
        self.unpersisted = 0;
        Ok(())
    }

    /// Checks the whole track and makes it visible with one rename (see the
    /// module docs for what happens when the destination is taken). Every
    /// file's SHA-256 was checked as its last byte arrived, and the file
    /// list is the manifest's, whose hash is the track hash; here the
    /// temporary folder is listed again so that exactly the manifest's
    /// names and sizes are there, all plain files. An error leaves the
    /// partial track usable (fetch what [`PartialTrack::missing_ranges`]
    /// says, call `finish` again) or abortable. After success the temporary
    /// folder is gone and further calls fail with [`TrackError::Closed`].
    pub fn finish(&mut self) -> Result<InstalledTrack, TrackError> {
        self.ensure_open()?;
        self.open = None; // Windows cannot rename a folder with an open file in it.
        if let Some(r) = self.missing_ranges().first() {
            return Err(TrackError::Incomplete {
                path: self.manifest.files()[r.file_index].path.clone(),
                missing: self.total_bytes() - self.received_bytes,
            });
        }
        // Every file was hashed as it came in; one that was not (it cannot
        // happen, but cheap to be sure) is hashed now.
        for i in 0..self.files.len() {
            if !self.files[i].verified {
                self.files[i].hasher = Sha256::new();
                self.files[i].hashed = 0;
                self.advance_hash(i, None)?;
            }
        }
        self.open = None;
        self.persist()?;
        // Nothing else slipped into the folder: exactly the manifest's
        // names and sizes, plain files only.
        let listing = list_dir(&self.files_dir, &self.limits)?;
        compare_listing(self.manifest.files(), &listing)?;
        if self.manifest.layout() == Layout::File {
            return self.finish_file();
        }

        let map_dir = ensure_dir_inside(
            &self.maps_root,
            &self.maps_root.join(self.manifest.map_id()),
        )?;
        let custom = ensure_dir_inside(&self.maps_root, &map_dir.join("custom"))?;
        let hash = self.manifest.track_hash();
        let track_id = self.manifest.track_id();
        let candidates = [
            custom.join(track_id),
            custom.join(format!("{track_id}~{}", hash.short())),
            custom.join(format!("{track_id}~{hash}")),
        ];
        let mut occupied = None;
        for (n, dest) in candidates.iter().enumerate() {
            let outcome = match fs::symlink_metadata(dest) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::rename(&self.files_dir, dest).map_err(io_err("moving into place", dest))?;
                    InstallOutcome::Installed
                }
                Err(e) => return Err(io_err("reading", dest)(e)),
                Ok(meta) => {
                    let same = !meta.file_type().is_symlink()
                        && meta.is_dir()
                        && verify_dir_against(dest, &self.manifest, &self.limits).is_ok();
                    if !same {
                        if n == 0 {
                            occupied = Some(dest.clone());
                        }
                        continue;
                    }
                    InstallOutcome::AlreadyPresent
                }
            };
            self.closed = true;
            if let Err(e) = fs::remove_dir_all(&self.temp_dir) {
                tracing::warn!("left {}: {e}", self.temp_dir.display());
            }
            return Ok(InstalledTrack {
                path: dest.clone(),
                hash,
                outcome,
                occupied,
            });
        }
        Err(TrackError::Occupied {
            path: candidates[0].clone(),
        })
    }

    /// A verified single-file track into place: linked as
    /// `<root>/<track-id>.cmp` only if no file has that name (checked by the
    /// link itself, so one that appears meanwhile is not overwritten
    /// either); a file already there with this content is used as is.
    fn finish_file(&mut self) -> Result<InstalledTrack, TrackError> {
        let name = file_track_name(self.manifest.track_id());
        let dest = self.maps_root.join(&name);
        let ours = self.files_dir.join(&name);
        let hash = self.manifest.track_hash();
        // The bytes on disk before the name the game reads appears.
        File::open(&ours)
            .and_then(|f| f.sync_all())
            .map_err(io_err("flushing", &ours))?;
        let outcome = match place_new(&ours, &dest) {
            Ok(()) => {
                sync_dir(&self.maps_root);
                InstallOutcome::Installed
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let same = fs::symlink_metadata(&dest).is_ok_and(|m| m.is_file())
                    && verify_file(&dest, &hash, &self.limits).is_ok();
                if !same {
                    return Err(TrackError::FileTaken { path: dest });
                }
                InstallOutcome::AlreadyPresent
            }
            Err(e) => return Err(io_err("moving into place", &dest)(e)),
        };
        self.closed = true;
        if let Err(e) = fs::remove_dir_all(&self.temp_dir) {
            tracing::warn!("left {}: {e}", self.temp_dir.display());
        }
        Ok(InstalledTrack {
            path: dest,
            hash,
            outcome,
            occupied: None,
        })
    }

    /// Gives up: removes the temporary folder. Nothing visible changes.
    pub fn abort(mut self) -> Result<(), TrackError> {
        self.closed = true;
        self.open = None;
        match fs::remove_dir_all(&self.temp_dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("removing", &self.temp_dir)(e)),
        }
    }

    fn outcome(&self, file_index: usize, new_bytes: u64) -> ChunkOutcome {
        ChunkOutcome {
            file_index,
            new_bytes,
            file_complete: self.files[file_index].verified,
            received_bytes: self.received_bytes,
            total_bytes: self.manifest.total_size(),
        }
    }

    fn ensure_open(&self) -> Result<(), TrackError> {
        if self.closed {
            return Err(TrackError::Closed {
                path: self.temp_dir.clone(),
            });
        }
        Ok(())
    }

    /// Creates the manifest copy, the folders and every file (preallocated,
    /// `create_new`, each folder checked to be inside the temporary folder),
    /// and checks empty files' hashes at once.
    fn populate(&mut self) -> Result<(), TrackError> {
        let manifest_path = self.temp_dir.join(MANIFEST_FILE);
        create_new(&manifest_path)?
            .write_all(self.manifest.to_json().as_bytes())
            .map_err(io_err("writing", &manifest_path))?;
        fs::create_dir(&self.files_dir).map_err(io_err("creating", &self.files_dir))?;
        self.files_dir = inside(&self.maps_root, &self.files_dir)?;
        let mut made: HashSet<String> = HashSet::new();
        for entry in self.manifest.files() {
            let path = prepare_file_path(&self.files_dir, &entry.path, &mut made)?;
            let file = create_new(&path)?;
            file.set_len(entry.size).map_err(io_err("sizing", &path))?;
        }
        for i in 0..self.files.len() {
            if self.manifest.files()[i].size == 0 {
                self.advance_hash(i, None)?;
            }
        }
        self.persist()
    }

    fn file_path(&self, index: usize) -> PathBuf {
        let mut p = self.files_dir.clone();
        p.extend(self.manifest.files()[index].path.split('/'));
        p
    }

    /// The open file for `index`, opened only after checking it is a plain
    /// file (not a link someone put there).
    fn file(&mut self, index: usize) -> Result<&mut File, TrackError> {
        let file = match self.open.take() {
            Some((i, f)) if i == index => f,
            _ => {
                let path = self.file_path(index);
                let meta = fs::symlink_metadata(&path).map_err(io_err("reading", &path))?;
                if meta.file_type().is_symlink() {
                    return Err(TrackError::Symlink { path });
                }
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&path)
                    .map_err(io_err("opening", &path))?
            }
        };
        Ok(&mut self.open.insert((index, file)).1)
    }

    fn read_at(&mut self, index: usize, offset: u64, buf: &mut [u8]) -> Result<(), TrackError> {
        let f = self.file(index)?;
        let r = f
            .seek(SeekFrom::Start(offset))
            .and_then(|_| f.read_exact(buf));
        r.map_err(|e| io_err("reading", self.file_path(index))(e))
    }

    fn write_at(&mut self, index: usize, offset: u64, buf: &[u8]) -> Result<(), TrackError> {
        let f = self.file(index)?;
        let r = f
            .seek(SeekFrom::Start(offset))
            .and_then(|_| f.write_all(buf));
        r.map_err(|e| io_err("writing", self.file_path(index))(e))
    }

    /// Extends file `index`'s running hash up to the end of its contiguous
    /// prefix: first from `chunk` (just written at its offset) where it
    /// continues the prefix, then by reading back bytes that came early.
    /// When the prefix is the whole file the hash is checked; on a mismatch
    /// the file is emptied and the error names it.
    fn advance_hash(
        &mut self,
        index: usize,
        chunk: Option<(u64, &[u8])>,
    ) -> Result<(), TrackError> {
        let size = self.manifest.files()[index].size;
        let frontier = self.files[index].received.prefix_end();
        let fp = &mut self.files[index];
        if fp.verified {
            return Ok(());
        }
        if let Some((offset, bytes)) = chunk {
            let end = offset + bytes.len() as u64;
            if offset <= fp.hashed && fp.hashed < end.min(frontier) {
                let upto = end.min(frontier);
                fp.hasher
                    .update(&bytes[(fp.hashed - offset) as usize..(upto - offset) as usize]);
                fp.hashed = upto;
            }
        }
        if self.files[index].hashed < frontier {
            let mut buf = std::mem::take(&mut self.scratch);
            buf.resize(256 << 10, 0);
            while self.files[index].hashed < frontier {
                let at = self.files[index].hashed;
                let n = (frontier - at).min(buf.len() as u64) as usize;
                let r = self.read_at(index, at, &mut buf[..n]);
                if let Err(e) = r {
                    self.scratch = buf;
                    return Err(e);
                }
                self.files[index].hasher.update(&buf[..n]);
                self.files[index].hashed += n as u64;
            }
            self.scratch = buf;
        }
        if self.files[index].hashed < size || frontier < size {
            return Ok(());
        }
        let actual: [u8; 32] = std::mem::take(&mut self.files[index].hasher)
            .finalize()
            .into();
        let entry = &self.manifest.files()[index];
        if actual == entry.sha256 {
            self.files[index].verified = true;
            return Ok(());
        }
        let err = TrackError::FileHashMismatch {
            path: entry.path.clone(),
            expected: entry.sha256,
            actual,
        };
        self.reset_file(index)?;
        self.persist()?;
        Err(err)
    }

    /// Forgets every byte of a file and zeroes it.
    fn reset_file(&mut self, index: usize) -> Result<(), TrackError> {
        self.received_bytes -= self.files[index].received.covered;
        self.files[index] = FileProgress::default();
        let size = self.manifest.files()[index].size;
        let path = self.file_path(index);
        let f = self.file(index)?;
        let r = f.set_len(0).and_then(|_| f.set_len(size));
        self.open = None;
        r.map_err(io_err("emptying", path))
    }

    /// After a resume: hash what the state file says arrived, so complete
    /// files are checked again (the previous run may have died before
    /// they reached the disk) and later chunks continue the running hashes.
    fn catch_up_all(&mut self) -> Result<(), TrackError> {
        for i in 0..self.files.len() {
            match self.advance_hash(i, None) {
                Ok(()) => {}
                Err(TrackError::FileHashMismatch { path, .. }) => {
                    tracing::warn!("resumed track file {path} failed its hash; fetching it again")
                }
                Err(e) => return Err(e),
            }
        }
        self.open = None;
        Ok(())
    }
}

impl Drop for PartialTrack {
    fn drop(&mut self) {
        if !self.closed && self.unpersisted > 0 {
            let _ = self.persist();
        }
    }
}

/// Removes our temporary folders in `maps_root` untouched for longer than
/// `max_age` at time `now` (the later of the folder's and its state file's
/// modification times). Links and anything not named like ours are left
/// alone. Returns what it removed.
pub fn sweep_stale_temps(
    maps_root: &Path,
    now: SystemTime,
    max_age: Duration,
) -> Result<Vec<PathBuf>, TrackError> {
    sweep_prefixed(maps_root, TEMP_PREFIX, now, max_age, usize::MAX)
}

/// Removes the folders in `root` named `prefix...` untouched for longer
/// than `max_age`, and of the others all but the `keep` touched last.
pub(crate) fn sweep_prefixed(
    root: &Path,
    prefix: &str,
    now: SystemTime,
    max_age: Duration,
    keep: usize,
) -> Result<Vec<PathBuf>, TrackError> {
    let mut removed = Vec::new();
    let mut kept = Vec::new();
    for entry in fs::read_dir(root).map_err(io_err("listing", root))? {
        let entry = entry.map_err(io_err("listing", root))?;
        let path = entry.path();
        let ours = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(prefix));
        if !ours || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let touched = [path.clone(), path.join(STATE_FILE)]
            .iter()
            .filter_map(|p| fs::symlink_metadata(p).and_then(|m| m.modified()).ok())
            .max();
        let stale = touched
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > max_age);
        if stale {
            fs::remove_dir_all(&path).map_err(io_err("removing", &path))?;
            removed.push(path);
        } else {
            kept.push((touched, path));
        }
    }
    if kept.len() > keep {
        // Touched last first; the unreadable (no time) count as oldest.
        kept.sort_by_key(|k| std::cmp::Reverse(k.0));
        for (_, path) in kept.drain(keep..) {
            fs::remove_dir_all(&path).map_err(io_err("removing", &path))?;
            removed.push(path);
        }
    }
    Ok(removed)
}

/// Puts `src` at `dst` only if nothing is at `dst` (`AlreadyExists` if
/// something is): a hard link fails atomically when the name is taken; on a
/// file system without links, the name is checked and `src` renamed.
fn place_new(src: &Path, dst: &Path) -> io::Result<()> {
    match fs::hard_link(src, dst) {
        Ok(()) => {
            // The temporary name goes with its folder.
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        Err(link_error) => match fs::symlink_metadata(dst) {
            Ok(_) => Err(io::Error::new(io::ErrorKind::AlreadyExists, "taken")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                tracing::debug!("no hard link ({link_error}); renaming into place");
                fs::rename(src, dst)
            }
            Err(e) => Err(e),
        },
    }
}

/// Makes a new name in `dir` durable where the platform allows it.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Creates the missing parent folders of track path `rel` under `base`
/// (canonical, freshly made by us), each checked to resolve inside `base`;
/// `made` remembers folders already created. Returns the file's path.
pub(crate) fn prepare_file_path(
    base: &Path,
    rel: &str,
    made: &mut HashSet<String>,
) -> Result<PathBuf, TrackError> {
    let mut path = base.to_path_buf();
    let mut components = rel.split('/').peekable();
    let mut prefix_len = 0;
    while let Some(c) = components.next() {
        path.push(c);
        if components.peek().is_none() {
            break;
        }
        prefix_len += c.len() + usize::from(prefix_len > 0);
        if made.insert(rel[..prefix_len].to_owned()) {
            fs::create_dir(&path).map_err(io_err("creating", &path))?;
            inside(base, &path)?;
        }
    }
    Ok(path)
}

/// Makes `path` a plain folder if it is missing; refuses a link or a file;
/// checks it resolves inside `root` (canonical). Returns it canonical.
pub(crate) fn ensure_dir_inside(root: &Path, path: &Path) -> Result<PathBuf, TrackError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(TrackError::Symlink {
                path: path.to_path_buf(),
            })
        }
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(TrackError::NotADirectory {
                path: path.to_path_buf(),
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::create_dir(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return ensure_dir_inside(root, path)
            }
            Err(e) => return Err(io_err("creating", path)(e)),
        },
        Err(e) => return Err(io_err("reading", path)(e)),
    }
    inside(root, path)
}

/// Canonicalizes `path` and checks it lies inside `root` (itself canonical).
pub(crate) fn inside(root: &Path, path: &Path) -> Result<PathBuf, TrackError> {
    let canonical = fs::canonicalize(path).map_err(io_err("resolving", path))?;
    if canonical.starts_with(root) && canonical != root {
        Ok(canonical)
    } else {
        Err(TrackError::OutsideRoot {
            path: canonical,
            root: root.to_path_buf(),
        })
    }
}

/// A new file; fails if anything (a link included) is already there.
pub(crate) fn create_new(path: &Path) -> Result<File, TrackError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io_err("creating", path))
}

/// Reads a small file of ours, refusing links and anything over `max` bytes.
pub(crate) fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, TrackError> {
    let meta = fs::symlink_metadata(path).map_err(io_err("reading", path))?;
    if meta.file_type().is_symlink() {
        return Err(TrackError::Symlink {
            path: path.to_path_buf(),
        });
    }
    if meta.len() > max {
        return Err(TrackError::StateCorrupt {
            path: path.to_path_buf(),
            detail: format!("{} bytes, more than {max}", meta.len()),
        });
    }
    let mut out = Vec::new();
    File::open(path)
        .and_then(|f| f.take(max).read_to_end(&mut out))
        .map_err(io_err("reading", path))?;
    Ok(out)
}

/// A number for temp folder names: unique within the process (counter) and
/// unlikely to repeat across processes (std's per-process random hash keys).
/// Not a secret; `create_dir` refuses a clash anyway.
pub(crate) fn unique_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.finish()
}

/// Disjoint, non-touching half-open byte ranges, merged on insert.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct RangeSet {
    /// start → end.
    ranges: BTreeMap<u64, u64>,
    /// Bytes covered.
    covered: u64,
}

impl RangeSet {
    /// Adds `start..end`; returns how many bytes were new.
    fn insert(&mut self, start: u64, end: u64) -> u64 {
        if start >= end {
            return 0;
        }
        let (mut lo, mut hi) = (start, end);
        let mut removed = 0;
        if let Some((&a, &b)) = self.ranges.range(..=start).next_back() {
            if b >= start {
                lo = a;
                hi = hi.max(b);
                removed += b - a;
                self.ranges.remove(&a);
            }
        }
        let after: Vec<(u64, u64)> = self.ranges.range(lo..=hi).map(|(&a, &b)| (a, b)).collect();
        for (a, b) in after {
            hi = hi.max(b);
            removed += b - a;
            self.ranges.remove(&a);
        }
        self.ranges.insert(lo, hi);
        let new = (hi - lo) - removed;
        self.covered += new;
        new
    }

    /// The covered parts of `start..end`, in order.
    fn intersections(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        if let Some((_, &b)) = self.ranges.range(..start).next_back() {
            if b > start {
                out.push((start, b.min(end)));
            }
        }
        for (&a, &b) in self.ranges.range(start..end) {
            out.push((a, b.min(end)));
        }
        out
    }

    /// The uncovered parts of `start..end`, in order.
    fn gaps(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut at = start;
        for (s, e) in self.intersections(start, end) {
            if at < s {
                out.push((at, s));
            }
            at = e;
        }
        if at < end {
            out.push((at, end));
        }
        out
    }

    /// End of the range starting at 0 (0 when byte 0 has not arrived).
    fn prefix_end(&self) -> u64 {
        self.ranges.get(&0).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_tracks_can_move_to_the_disk_thread() {
        fn send<T: Send>() {}
        fn sync<T: Send + Sync>() {}
        send::<PartialTrack>();
        sync::<Installer>();
    }

    #[test]
    fn range_set_merges_and_counts_new_bytes() {
        let mut s = RangeSet::default();
        assert_eq!(s.insert(10, 20), 10);
        assert_eq!(s.insert(30, 40), 10);
        assert_eq!(s.insert(15, 35), 10);
        assert_eq!(s.ranges.len(), 1);
        assert_eq!(s.insert(0, 10), 10); // touching merges
        assert_eq!(s.ranges.iter().collect::<Vec<_>>(), vec![(&0, &40)]);
        assert_eq!(s.insert(5, 6), 0);
        assert_eq!(s.insert(40, 40), 0);
        assert_eq!(s.covered, 40);
        assert_eq!(s.prefix_end(), 40);
    }

    #[test]
    fn range_set_gaps_and_intersections() {
        let mut s = RangeSet::default();
        s.insert(2, 4);
        s.insert(6, 8);
        assert_eq!(s.gaps(0, 10), vec![(0, 2), (4, 6), (8, 10)]);
        assert_eq!(s.intersections(3, 7), vec![(3, 4), (6, 7)]);
        assert_eq!(s.intersections(4, 6), vec![]);
        assert_eq!(s.gaps(2, 4), vec![]);
    }

    #[test]
    fn range_set_out_of_order_inserts_cover_exactly_once() {
        let mut s = RangeSet::default();
        let mut rng = crate::util::SplitMix64(7);
        let mut total = 0;
        for _ in 0..2000 {
            let a = rng.next_u64() % 1000;
            let len = rng.next_u64() % 50;
            total += s.insert(a, (a + len).min(1000));
        }
        let covered: u64 = s.ranges.iter().map(|(a, b)| b - a).sum();
        assert_eq!(total, covered);
        assert_eq!(s.covered, covered);
        let gaps: u64 = s.gaps(0, 1000).iter().map(|(a, b)| b - a).sum();
        assert_eq!(covered + gaps, 1000);
    }
}
