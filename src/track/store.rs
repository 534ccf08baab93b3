//! Finding a track we already have: in the game's maps folder (where a
//! previous install or the player put it) or in our content-addressed cache
//! of tracks downloaded before (`<cache>/<hash hex>/manifest.json` and
//! `<cache>/<hash hex>/files/...`). Nothing found is trusted unverified.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
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

/// The cache of downloaded tracks, one folder per track hash.
#[derive(Clone, Debug)]
pub struct TrackStore {
    root: PathBuf,
    limits: Limits,
}

impl TrackStore {
    /// Opens (creating if needed) the cache at `root`.
    pub fn open(root: &Path, limits: Limits) -> Result<TrackStore, TrackError> {
        fs::create_dir_all(root).map_err(io_err("creating", root))?;
        let root = fs::canonicalize(root).map_err(io_err("opening", root))?;
        Ok(TrackStore { root, limits })
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
        let files = self.root.join(hash.to_string()).join(FILES_DIR);
        let listing = list_dir(&files, &self.limits).ok()?;
        compare_listing(manifest.files(), &listing).ok()?;
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
        let listing = list_dir(src, &self.limits)?;
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
        Ok(entry.join(FILES_DIR))
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
        sweep_prefixed(&self.root, STORE_TEMP_PREFIX, now, max_age)
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
