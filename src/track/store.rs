//! Finding a track we already have: in the game's maps folder (where a
//! previous install or the player put it) or in our content-addressed cache
//! of tracks downloaded before (`<cache>/<hash hex>/manifest.json` and
//! `<cache>/<hash hex>/files/...`). Nothing found is trusted unverified.
//!
//! Verifying an installed track means hashing all of it (a third of a
//! second per 100 MiB). [`find_installed_cached`] remembers, for this
//! process, which folders it hashed and what their files looked like then,
//! so a player joining rooms with the same track again does not pay that
//! each time while nothing on disk changed.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use super::error::{io_err, IdKind, TrackError};
use super::install::{
    create_new, inside, prepare_file_path, read_bounded, sweep_prefixed, unique_u64,
};
use super::manifest::{
    compare_listing, list_dir, validate_id, verify_dir, verify_dir_against, Limits, TrackHash,
    TrackManifest,
};

/// Name prefix of the cache's temporary folders.
const STORE_TEMP_PREFIX: &str = ".tmp-";
const MANIFEST_FILE: &str = "manifest.json";
const FILES_DIR: &str = "files";
/// Most `<track-id>~...` folders [`find_installed`] looks at.
const MAX_CANDIDATES: usize = 64;
/// Most folders [`find_installed_cached`] remembers; when full it starts over.
const MAX_VERIFIED: usize = 64;
/// A file modified less than this long before it was hashed is not vouched
/// for by its modification time: on a file system with a coarse clock (FAT
/// keeps 2 s steps) a later write could leave the time as it was. Such a
/// folder is hashed again next time, when the window has passed.
const RACY_WINDOW: Duration = Duration::from_secs(2);

/// Most bytes of tracks the cache keeps by default (eight of the largest
/// tracks [`Limits`] allows by default); the least recently used go first.
pub const DEFAULT_CACHE_BYTES: u64 = 2 << 30;

/// The cache of downloaded tracks, one folder per track hash, within a
/// budget of bytes: inserting a track evicts the least recently used ones
/// (a lookup counts as a use) until the rest fit.
#[derive(Clone, Debug)]
pub struct TrackStore {
    root: PathBuf,
    limits: Limits,
    budget: u64,
}

impl TrackStore {
    /// Opens (creating if needed) the cache at `root`, with
    /// [`DEFAULT_CACHE_BYTES`] as its budget.
    pub fn open(root: &Path, limits: Limits) -> Result<TrackStore, TrackError> {
        fs::create_dir_all(root).map_err(io_err("creating", root))?;
        let root = fs::canonicalize(root).map_err(io_err("opening", root))?;
        Ok(TrackStore {
            root,
            limits,
            budget: DEFAULT_CACHE_BYTES,
        })
    }

    /// Keeps at most `bytes` of tracks (the track just inserted always
    /// stays, whatever its size).
    pub fn with_budget(mut self, bytes: u64) -> TrackStore {
        self.budget = bytes;
        self
    }

    /// The cache folder (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of the cached track with this hash, checked cheaply: its
    /// manifest parses and has this hash, and the files are there, plain,
    /// with the right names and sizes. Contents are not hashed; call
    /// [`TrackStore::verify`] for that (and [`super::Installer::install_from_dir`]
    /// hashes every byte anyway).
    pub fn lookup(&self, hash: &TrackHash) -> Option<PathBuf> {
        let manifest = self.manifest(hash).ok()?;
        let entry = self.root.join(hash.to_string());
        let files = entry.join(FILES_DIR);
        let listing = list_dir(&files, &self.limits).ok()?;
        compare_listing(manifest.files(), &listing).ok()?;
        // Used now: the manifest's modification time orders evictions.
        let _ = fs::OpenOptions::new()
            .write(true)
            .open(entry.join(MANIFEST_FILE))
            .and_then(|f| f.set_modified(SystemTime::now()));
        Some(files)
    }

    /// The cached manifest for this hash, checked to have this hash.
    pub fn manifest(&self, hash: &TrackHash) -> Result<TrackManifest, TrackError> {
        let path = self.root.join(hash.to_string()).join(MANIFEST_FILE);
        let json = read_bounded(&path, self.limits.max_manifest_json_len() as u64)?;
        let manifest = TrackManifest::from_json(&json, &self.limits)?;
        if manifest.track_hash() != *hash {
            return Err(TrackError::TrackHashMismatch {
                path,
                expected: *hash,
                actual: manifest.track_hash(),
            });
        }
        Ok(manifest)
    }

    /// Hashes every file of a cached track; names the first that differs.
    pub fn verify(&self, hash: &TrackHash) -> Result<PathBuf, TrackError> {
        let manifest = self.manifest(hash)?;
        let files = self.root.join(hash.to_string()).join(FILES_DIR);
        verify_dir_against(&files, &manifest, &self.limits)?;
        Ok(files)
    }

    /// Copies a verified track folder (an installed track, say) into the
    /// cache: into a temporary folder first, hashed there, then one rename.
    /// A valid copy already cached is kept; a broken one is replaced.
    /// Returns the cached files' folder.
    pub fn insert(&self, src: &Path, manifest: &TrackManifest) -> Result<PathBuf, TrackError> {
        let hash = manifest.track_hash();
        if let Some(found) = self.lookup(&hash) {
            return Ok(found);
        }
        let listing = super::install::list_source(src, manifest, &self.limits)?;
        compare_listing(manifest.files(), &listing)?;

        let tmp = self
            .root
            .join(format!("{STORE_TEMP_PREFIX}{:016x}", unique_u64()));
        fs::create_dir(&tmp).map_err(io_err("creating", &tmp))?;
        let result = self.fill(&tmp, &listing, manifest);
        if let Err(e) = result {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        let entry = self.root.join(hash.to_string());
        match fs::symlink_metadata(&entry) {
            Ok(_) if self.lookup(&hash).is_some() => {
                // Another process won the race with a good copy.
                let _ = fs::remove_dir_all(&tmp);
                return Ok(entry.join(FILES_DIR));
            }
            Ok(meta) if meta.file_type().is_symlink() || !meta.is_dir() => {
                fs::remove_file(&entry).map_err(io_err("removing", &entry))?
            }
            Ok(_) => fs::remove_dir_all(&entry).map_err(io_err("removing", &entry))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("reading", &entry)(e)),
        }
        if let Err(e) = fs::rename(&tmp, &entry) {
            let _ = fs::remove_dir_all(&tmp);
            return Err(io_err("moving into place", &entry)(e));
        }
        if let Err(e) = self.evict(&hash) {
            tracing::warn!("could not trim the track cache: {e}");
        }
        let _ = self.sweep_stale_temps(SystemTime::now(), super::install::DEFAULT_STALE_AGE);
        Ok(entry.join(FILES_DIR))
    }

    /// Removes the least recently used tracks until the rest fit the
    /// budget; `keep` stays whatever its size. Entries whose manifest does
    /// not read are removed too (nothing could use them). Returns the
    /// hashes removed.
    pub fn evict(&self, keep: &TrackHash) -> Result<Vec<TrackHash>, TrackError> {
        let mut entries = Vec::new();
        let mut removed = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(io_err("listing", &self.root))? {
            let entry = entry.map_err(io_err("listing", &self.root))?;
            let Some(hash) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<TrackHash>().ok())
            else {
                continue;
            };
            if hash == *keep {
                continue;
            }
            match self.manifest(&hash) {
                Ok(m) => {
                    let used = fs::metadata(entry.path().join(MANIFEST_FILE))
                        .and_then(|m| m.modified())
                        .ok();
                    entries.push((used, m.total_size(), hash));
                }
                Err(_) => {
                    if self.remove(&hash)? {
                        removed.push(hash);
                    }
                }
            }
        }
        let mut total = self
            .manifest(keep)
            .map(|m| m.total_size())
            .unwrap_or_default();
        // Used last first.
        entries.sort_by_key(|e| std::cmp::Reverse(e.0));
        for (_, size, hash) in entries {
            total = total.saturating_add(size);
            if total > self.budget && self.remove(&hash)? {
                removed.push(hash);
            }
        }
        Ok(removed)
    }

    /// Removes a cached track. Returns whether there was one.
    pub fn remove(&self, hash: &TrackHash) -> Result<bool, TrackError> {
        let entry = self.root.join(hash.to_string());
        match fs::symlink_metadata(&entry) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err("reading", &entry)(e)),
            Ok(meta) if meta.is_dir() => fs::remove_dir_all(&entry)
                .map(|()| true)
                .map_err(io_err("removing", &entry)),
            Ok(_) => fs::remove_file(&entry)
                .map(|()| true)
                .map_err(io_err("removing", &entry)),
        }
    }

    /// Removes temporary folders of interrupted inserts older than
    /// `max_age` at `now`.
    pub fn sweep_stale_temps(
        &self,
        now: SystemTime,
        max_age: Duration,
    ) -> Result<Vec<PathBuf>, TrackError> {
        sweep_prefixed(&self.root, STORE_TEMP_PREFIX, now, max_age, usize::MAX)
    }

    /// Copies the listed files into `tmp/files`, verifies them, writes the
    /// manifest.
    fn fill(
        &self,
        tmp: &Path,
        listing: &[super::manifest::Listed],
        manifest: &TrackManifest,
    ) -> Result<(), TrackError> {
        let tmp = inside(&self.root, tmp)?;
        let files = tmp.join(FILES_DIR);
        fs::create_dir(&files).map_err(io_err("creating", &files))?;
        let files = inside(&tmp, &files)?;
        let mut made = HashSet::new();
        for l in listing {
            let dst = prepare_file_path(&files, &l.rel, &mut made)?;
            let mut out = create_new(&dst)?;
            let src = fs::File::open(&l.abs).map_err(io_err("opening", &l.abs))?;
            let copied =
                io::copy(&mut src.take(l.size), &mut out).map_err(io_err("copying", &dst))?;
            if copied != l.size {
                return Err(TrackError::FileSizeMismatch {
                    path: l.rel.clone(),
                    expected: l.size,
                    actual: copied,
                });
            }
        }
        verify_dir_against(&files, manifest, &self.limits)?;
        let path = tmp.join(MANIFEST_FILE);
        create_new(&path)?
            .write_all(manifest.to_json().as_bytes())
            .map_err(io_err("writing", &path))
    }
}

/// Looks in the game's maps folder for the track with this hash: first
/// `maps/<map-id>/custom/<track-id>`, then the `<track-id>~...` folders
/// beside it (where [`super::PartialTrack::finish`] puts a track whose name
/// was taken), each hashed in full before it is trusted. Links are never
/// followed; bad ids find nothing.
pub fn find_installed(
    maps_root: &Path,
    map_id: &str,
    track_id: &str,
    hash: &TrackHash,
    limits: &Limits,
) -> Option<PathBuf> {
    candidates(maps_root, map_id, track_id)
        .into_iter()
        .find(|dir| verify_dir(dir, hash, limits).is_ok())
}

/// [`find_installed`], trusting what this process hashed before: a folder
/// whose files all still have the names, sizes and modification times
/// (and, on Unix, the inode and change time) they had when it was hashed is
/// taken to hold what it held then, without reading it again. Any
/// difference (a file added, removed, resized, written or touched) means
/// hashing it again. A folder found to hold another track is remembered
/// too, so it is passed over without reading it.
pub fn find_installed_cached(
    maps_root: &Path,
    map_id: &str,
    track_id: &str,
    hash: &TrackHash,
    limits: &Limits,
) -> Option<PathBuf> {
    static VERIFIED: VerifiedFolders = VerifiedFolders::new();
    VERIFIED.find(maps_root, map_id, track_id, hash, limits)
}

/// [`find_installed`] with the manifest at hand: a folder with the wrong
/// names or sizes is passed over without reading its contents.
pub fn find_installed_manifest(
    maps_root: &Path,
    manifest: &TrackManifest,
    limits: &Limits,
) -> Option<PathBuf> {
    candidates(maps_root, manifest.map_id(), manifest.track_id())
        .into_iter()
        .find(|dir| verify_dir_against(dir, manifest, limits).is_ok())
}

/// Track folders hashed before, with what their files looked like then.
#[derive(Debug)]
pub(crate) struct VerifiedFolders {
    entries: Mutex<BTreeMap<PathBuf, Verified>>,
    /// Folders hashed in full (what the cache saves shows here).
    hashed: AtomicU64,
}

#[derive(Debug)]
struct Verified {
    /// The track the folder held.
    hash: TrackHash,
    stamps: Vec<Stamp>,
}

/// What a file looked like, cheaply: enough to notice it changed.
#[derive(Debug, PartialEq, Eq)]
struct Stamp {
    rel: String,
    size: u64,
    modified: SystemTime,
    /// Device, inode and change time: a rewrite that restores the
    /// modification time, or a file replaced by a copy keeping it, still
    /// changes these.
    #[cfg(unix)]
    changed: [i64; 4],
}

impl VerifiedFolders {
    pub(crate) const fn new() -> VerifiedFolders {
        VerifiedFolders {
            entries: Mutex::new(BTreeMap::new()),
            hashed: AtomicU64::new(0),
        }
    }

    /// [`find_installed`] through this cache.
    pub(crate) fn find(
        &self,
        maps_root: &Path,
        map_id: &str,
        track_id: &str,
        hash: &TrackHash,
        limits: &Limits,
    ) -> Option<PathBuf> {
        candidates(maps_root, map_id, track_id)
            .into_iter()
            .find(|dir| self.holds(dir, hash, limits))
    }

    /// Folders hashed in full so far.
    #[cfg(test)]
    pub(crate) fn hashed(&self) -> u64 {
        self.hashed.load(Ordering::Relaxed)
    }

    /// Whether `dir` holds the track `hash`: known from before when
    /// nothing changed, else hashed (and remembered when its files were
    /// old enough to vouch for themselves).
    fn holds(&self, dir: &Path, hash: &TrackHash, limits: &Limits) -> bool {
        let Some(before) = stamps(dir, limits) else {
            self.forget(dir);
            return false;
        };
        if let Some(v) = self.entries().get(dir).filter(|v| v.stamps == before) {
            return v.hash == *hash;
        }
        let started = SystemTime::now();
        self.hashed.fetch_add(1, Ordering::Relaxed);
        let found = match verify_dir(dir, hash, limits) {
            Ok(_) => *hash,
            Err(TrackError::TrackHashMismatch { actual, .. }) => actual,
            Err(_) => {
                self.forget(dir);
                return false;
            }
        };
        let settled = before.iter().all(|s| {
            s.modified
                .checked_add(RACY_WINDOW)
                .is_some_and(|t| t <= started)
        });
        // Unchanged while we read it, too.
        if settled && stamps(dir, limits).as_ref() == Some(&before) {
            let mut entries = self.entries();
            if entries.len() >= MAX_VERIFIED && !entries.contains_key(dir) {
                entries.clear();
            }
            entries.insert(
                dir.to_path_buf(),
                Verified {
                    hash: found,
                    stamps: before,
                },
            );
        } else {
            self.forget(dir);
        }
        found == *hash
    }

    fn forget(&self, dir: &Path) {
        self.entries().remove(dir);
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<PathBuf, Verified>> {
        // A panic elsewhere cannot leave the map half-updated.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Every file of a track folder with its stamp, in path order; `None` when
/// the folder is not a valid track folder (or a file vanished meanwhile).
fn stamps(dir: &Path, limits: &Limits) -> Option<Vec<Stamp>> {
    list_dir(dir, limits)
        .ok()?
        .into_iter()
        .map(|l| {
            let meta = fs::symlink_metadata(&l.abs).ok()?;
            Some(Stamp {
                rel: l.rel,
                size: meta.len(),
                modified: meta.modified().ok()?,
                #[cfg(unix)]
                changed: {
                    use std::os::unix::fs::MetadataExt;
                    [
                        meta.dev() as i64,
                        meta.ino() as i64,
                        meta.ctime(),
                        meta.ctime_nsec(),
                    ]
                },
            })
        })
        .collect()
}

/// Plain folders that may hold the track: the exact name, then `~` names
/// in order.
fn candidates(maps_root: &Path, map_id: &str, track_id: &str) -> Vec<PathBuf> {
    if validate_id(IdKind::Map, map_id).is_err() || validate_id(IdKind::Track, track_id).is_err() {
        return Vec::new();
    }
    let map_dir = maps_root.join(map_id);
    let custom = map_dir.join("custom");
    let plain_dir =
        |p: &Path| fs::symlink_metadata(p).is_ok_and(|m| m.is_dir() && !m.file_type().is_symlink());
    if !plain_dir(&map_dir) || !plain_dir(&custom) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let exact = custom.join(track_id);
    if plain_dir(&exact) {
        out.push(exact);
    }
    let prefix = format!("{track_id}~");
    let mut beside: Vec<PathBuf> = fs::read_dir(&custom)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .map(|e| e.path())
        .filter(|p| plain_dir(p))
        .take(MAX_CANDIDATES)
        .collect();
    beside.sort();
    out.extend(beside);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::test_dir::TestDir;
    use crate::track::generate_track;

    const MAP: &str = "MP-Stadium";
    const TRACK: &str = "CMP-verified";

    /// A maps folder with a track installed whose files were last written
    /// an hour ago (long past the racy window).
    fn installed(t: &TestDir) -> (PathBuf, PathBuf, TrackHash) {
        let maps = t.path().join("maps");
        let dir = maps.join(MAP).join("custom").join(TRACK);
        let m = generate_track(&dir, MAP, TRACK, 300_000, 3, 5).expect("track");
        for l in list_dir(&dir, &Limits::default()).unwrap() {
            set_age(&l.abs, 3600);
        }
        (maps, dir, m.track_hash())
    }

    fn set_age(path: &Path, secs: u64) {
        let f = fs::OpenOptions::new().write(true).open(path).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(secs))
            .unwrap();
    }

    fn first_file(dir: &Path) -> PathBuf {
        list_dir(dir, &Limits::default()).unwrap()[0].abs.clone()
    }

    #[test]
    fn an_unchanged_folder_is_not_hashed_again_and_a_changed_size_is_noticed() {
        let t = TestDir::new("verified-size");
        let (maps, dir, hash) = installed(&t);
        let l = Limits::default();
        let v = VerifiedFolders::new();
        assert_eq!(v.find(&maps, MAP, TRACK, &hash, &l), Some(dir.clone()));
        assert_eq!(v.hashed(), 1);
        for _ in 0..3 {
            assert_eq!(v.find(&maps, MAP, TRACK, &hash, &l), Some(dir.clone()));
        }
        assert_eq!(v.hashed(), 1, "an unchanged folder was hashed again");
        // Known to hold this track, so it does not hold another.
        assert_eq!(v.find(&maps, MAP, TRACK, &TrackHash([9; 32]), &l), None);
        assert_eq!(v.hashed(), 1);

        // One byte more, with the old modification time put back.
        let f = first_file(&dir);
        let old = fs::metadata(&f).unwrap().modified().unwrap();
        let mut body = fs::read(&f).unwrap();
        body.push(0);
        fs::write(&f, &body).unwrap();
        fs::OpenOptions::new()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(v.find(&maps, MAP, TRACK, &hash, &l), None);
        assert_eq!(v.hashed(), 2);
    }

    #[test]
    fn a_changed_modification_time_means_hashing_again() {
        let t = TestDir::new("verified-mtime");
        let (maps, dir, hash) = installed(&t);
        let l = Limits::default();
        let v = VerifiedFolders::new();
        assert_eq!(v.find(&maps, MAP, TRACK, &hash, &l), Some(dir.clone()));
        // Same size, other bytes, an hour-old time (but not the same one).
        let f = first_file(&dir);
        let mut body = fs::read(&f).unwrap();
        body[0] ^= 1;
        fs::write(&f, &body).unwrap();
        set_age(&f, 3500);
        assert_eq!(v.find(&maps, MAP, TRACK, &hash, &l), None);
        assert_eq!(v.hashed(), 2);
        // Put right again (and old): found, hashed once more, then trusted.
        body[0] ^= 1;
        fs::write(&f, &body).unwrap();
        set_age(&f, 3400);
        assert_eq!(v.find(&maps, MAP, TRACK, &hash, &l), Some(dir.clone()));
        assert_eq!(v.find(&maps, MAP, TRACK, &hash, &l), Some(dir));
        assert_eq!(v.hashed(), 3);
    }

    #[cfg(unix)]
    #[test]
    fn a_rewrite_that_restores_size_and_modification_time_is_noticed_on_unix() {
        let t = TestDir::new("verified-ctime");
        let (maps, dir, hash) = installed(&t);
        let l = Limits::default();
        let v = VerifiedFolders::new();
        assert_eq!(v.find(&maps, MAP, TRACK, &hash, &l), Some(dir.clone()));
        let f = first_file(&dir);
        let old = fs::metadata(&f).unwrap().modified().unwrap();
        let mut body = fs::read(&f).unwrap();
        body[0] ^= 1;
        fs::write(&f, &body).unwrap();
        fs::OpenOptions::new()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(v.find(&maps, MAP, TRACK, &hash, &l), None);
        assert_eq!(v.hashed(), 2);
    }

    #[test]
    fn files_written_just_now_are_hashed_every_time() {
        let t = TestDir::new("verified-fresh");
        let maps = t.path().join("maps");
        let dir = maps.join(MAP).join("custom").join(TRACK);
        let hash = generate_track(&dir, MAP, TRACK, 100_000, 2, 6)
            .unwrap()
            .track_hash();
        let l = Limits::default();
        let v = VerifiedFolders::new();
        for n in 1..=3 {
            assert_eq!(v.find(&maps, MAP, TRACK, &hash, &l), Some(dir.clone()));
            assert_eq!(v.hashed(), n);
        }
    }

    #[test]
    fn an_added_file_or_a_link_means_not_trusted() {
        let t = TestDir::new("verified-added");
        let (maps, dir, hash) = installed(&t);
        let l = Limits::default();
        let v = VerifiedFolders::new();
        assert_eq!(v.find(&maps, MAP, TRACK, &hash, &l), Some(dir.clone()));
        let extra = dir.join("extra.bin");
        fs::write(&extra, b"x").unwrap();
        set_age(&extra, 3600);
        assert_eq!(v.find(&maps, MAP, TRACK, &hash, &l), None);
        fs::remove_file(&extra).unwrap();
        assert_eq!(v.find(&maps, MAP, TRACK, &hash, &l), Some(dir.clone()));
        #[cfg(unix)]
        {
            let f = first_file(&dir);
            let moved = t.path().join("moved");
            fs::rename(&f, &moved).unwrap();
            std::os::unix::fs::symlink(&moved, &f).unwrap();
            assert_eq!(v.find(&maps, MAP, TRACK, &hash, &l), None);
        }
    }
}
