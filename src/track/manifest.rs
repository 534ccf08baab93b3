//! A track's manifest: every file with its size and SHA-256, the path rules
//! that keep a manifest from naming anything outside its own folder on any
//! OS, and the canonical encoding whose SHA-256 is the track hash.
//!
//! # Canonical encoding and track hash
//!
//! The track hash is SHA-256 over these bytes (ASCII, `\n` line ends):
//!
//! ```text
//! propwash-track-v1\n
//! <number of files, decimal>\n
//! <sha256, 64 lowercase hex> <size, decimal> <path>\n     one line per file
//! ```
//!
//! Files are sorted by path, byte-wise on the UTF-8 (Rust's `str` order).
//! Decimals have no sign and no leading zeros. The path is the rest of the line;
//! the path rules forbid control characters, so it cannot hold a `\n`, and the
//! encoding is unambiguous. The map id and track id are *not* hashed: the hash
//! names content, so one track keeps its hash whatever folder it sits in, and
//! `verify <dir> <hash>` needs nothing but the folder. The JSON form
//! ([`TrackManifest::to_json`]) carries the ids beside the files.
//!
//! A single-file track (the game's own `<guid>.cmp`, [`Layout::File`]) is
//! encoded the same way under the first line `propwash-track-file-v1`, with
//! its one file named `<track-id>.cmp`; it is another track than a folder
//! holding that file, because it installs elsewhere.
//!
//! Empty folders carry no content and are not part of a track. `.DS_Store`,
//! `Thumbs.db` and `desktop.ini` (any case) are skipped while reading a folder,
//! because macOS and Windows drop them into folders on their own and the hash
//! must not change when a player merely looks at their track.

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::{io_err, IdKind, PathRule, TrackError};

/// Default cap on a track's total size: 256 MiB.
pub const DEFAULT_MAX_TOTAL_BYTES: u64 = 256 << 20;
/// Default cap on a track's number of files.
pub const DEFAULT_MAX_FILES: usize = 4096;
/// Default cap on a path's length inside a track, in bytes. The track folder
/// itself sits some 100 characters deep in the game folder, and Windows
/// programs that do not opt into long paths stop at 260.
pub const DEFAULT_MAX_PATH_LEN: usize = 240;
/// Longest single file or folder name, in bytes (the common file system limit).
pub const MAX_COMPONENT_LEN: usize = 255;
/// Longest map or track id, in bytes.
pub const MAX_ID_LEN: usize = 128;
/// Version of the manifest JSON and of the canonical encoding.
pub const MANIFEST_VERSION: u32 = 1;

/// First line of the canonical encoding.
const CANONICAL_HEADER: &str = "propwash-track-v1\n";
/// First line of a single-file track's canonical encoding: the same file as
/// a one-file folder track is another track (it installs elsewhere).
const CANONICAL_FILE_HEADER: &str = "propwash-track-file-v1\n";
/// The extension of a single-file track: the game's custom tracks are
/// `storage/offline/maps/<guid>.cmp`.
pub const FILE_TRACK_EXTENSION: &str = "cmp";
/// The map id a single-file track is announced with when nothing better is
/// known (the game's category of custom tracks).
pub const FILE_TRACK_MAP_ID: &str = "MapCustom";

/// How a track sits on disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// A folder of files: `content/maps/<map-id>/custom/<track-id>/`.
    #[default]
    Folder,
    /// One file, the game's own format: `storage/offline/maps/<track-id>.cmp`.
    File,
}

impl Layout {
    fn is_folder(&self) -> bool {
        *self == Layout::Folder
    }
}

/// The file name of single-file track `track_id`: `<track-id>.cmp`.
pub fn file_track_name(track_id: &str) -> String {
    format!("{track_id}.{FILE_TRACK_EXTENSION}")
}
/// Read buffer for hashing files.
const HASH_BUF: usize = 256 << 10;

/// Caps that keep a broken or hostile host from filling a disk or a folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes in one track, all files together.
    pub max_total_bytes: u64,
    /// Most files in one track.
    pub max_files: usize,
    /// Longest path inside a track, in bytes.
    pub max_path_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_total_bytes: DEFAULT_MAX_TOTAL_BYTES,
            max_files: DEFAULT_MAX_FILES,
            max_path_len: DEFAULT_MAX_PATH_LEN,
        }
    }
}

impl Limits {
    /// The longest manifest JSON that can describe a track within these
    /// limits (every path fully `\u` escaped); longer input is refused unread.
    pub fn max_manifest_json_len(&self) -> usize {
        let per_file = self
            .max_path_len
            .saturating_mul(6)
            .saturating_add(64 + 20 + 40);
        self.max_files
            .saturating_mul(per_file)
            .saturating_add(2 * 6 * MAX_ID_LEN + 100)
    }
}

/// SHA-256 of a track's canonical encoding; shown as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackHash(pub [u8; 32]);

impl TrackHash {
    /// The hash bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 8 hex digits, as used in the name of a track installed
    /// beside another (`<track-id>~<short>`).
    pub fn short(&self) -> String {
        hex(&self.0[..4])
    }
}

impl fmt::Display for TrackHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl fmt::Debug for TrackHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrackHash({self})")
    }
}

impl FromStr for TrackHash {
    type Err = TrackError;

    /// Accepts exactly 64 hex digits, either case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_sha256(s, "track hash").map(TrackHash)
    }
}

impl Serialize for TrackHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for TrackHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One file of a track.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// Path relative to the track folder, `/`-separated, UTF-8, obeying
    /// [`validate_relative_path`].
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content (hex in JSON).
    pub sha256: [u8; 32],
}

/// What a track is: its ids and its files, sorted by path. Only ever built
/// by checking (from a folder, from JSON, or through [`TrackManifest::new`]),
/// so a `TrackManifest` in hand obeys the path rules and was within the
/// [`Limits`] it was checked against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackManifest {
    map_id: String,
    track_id: String,
    layout: Layout,
    files: Vec<FileEntry>,
    total_size: u64,
    hash: TrackHash,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestJson {
    version: u32,
    map_id: String,
    track_id: String,
    /// Absent for folder tracks, so their JSON is what it always was.
    #[serde(default, skip_serializing_if = "Layout::is_folder")]
    layout: Layout,
    files: Vec<FileJson>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileJson {
    path: String,
    size: u64,
    sha256: String,
}

impl TrackManifest {
    /// Builds a manifest from parts: sorts the files into canonical order and
    /// checks everything [`TrackManifest::from_json`] checks.
    pub fn new(
        map_id: &str,
        track_id: &str,
        mut files: Vec<FileEntry>,
        limits: &Limits,
    ) -> Result<TrackManifest, TrackError> {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        TrackManifest::checked(
            map_id.to_owned(),
            track_id.to_owned(),
            Layout::Folder,
            files,
            limits,
        )
    }

    /// A single-file track from its one file (named `<track-id>.cmp`).
    pub fn new_file(
        map_id: &str,
        track_id: &str,
        file: FileEntry,
        limits: &Limits,
    ) -> Result<TrackManifest, TrackError> {
        TrackManifest::checked(
            map_id.to_owned(),
            track_id.to_owned(),
            Layout::File,
            vec![file],
            limits,
        )
    }

    /// Reads a single-file track: `path` must be a plain file (not a link)
    /// named `<track-id>.cmp` with a safe track id, within `limits`; it is
    /// hashed once. `map_id` is announced beside it ([`FILE_TRACK_MAP_ID`]
    /// when the caller knows no better).
    pub fn from_file(
        path: &Path,
        map_id: &str,
        limits: &Limits,
    ) -> Result<TrackManifest, TrackError> {
        let listed = list_file(path, limits)?;
        let track_id = file_track_id(&listed.rel).ok_or_else(|| TrackError::NotAFileTrack {
            track_id: listed.rel.clone(),
            detail: format!("{} does not end in .{FILE_TRACK_EXTENSION}", listed.rel),
        })?;
        validate_id(IdKind::Map, map_id)?;
        validate_id(IdKind::Track, &track_id)?;
        let files = hash_listing(vec![listed])?;
        TrackManifest::checked(map_id.to_owned(), track_id, Layout::File, files, limits)
    }

    /// Reads a track folder: walks it without following links, hashes every
    /// file and sorts the paths. Refuses symbolic links anywhere (the folder
    /// itself included), names that are not UTF-8 or break a path rule,
    /// devices and pipes, more files or bytes than `limits`, and an empty
    /// track. Skips OS metadata files (see the module docs).
    pub fn from_dir(
        dir: &Path,
        map_id: &str,
        track_id: &str,
        limits: &Limits,
    ) -> Result<TrackManifest, TrackError> {
        validate_id(IdKind::Map, map_id)?;
        validate_id(IdKind::Track, track_id)?;
        let files = hash_listing(list_dir(dir, limits)?)?;
        TrackManifest::checked(
            map_id.to_owned(),
            track_id.to_owned(),
            Layout::Folder,
            files,
            limits,
        )
    }

    /// Parses and checks a manifest from a peer. Refuses: input longer than
    /// the limits allow, JSON that does not parse, unknown or duplicate
    /// fields, another format version, bad ids, paths breaking a path rule,
    /// files out of canonical order or listed twice, case-insensitive
    /// collisions, hashes that are not 64 hex digits, and more files or
    /// bytes than `limits`.
    pub fn from_json(json: &[u8], limits: &Limits) -> Result<TrackManifest, TrackError> {
        let max = limits.max_manifest_json_len();
        if json.len() > max {
            return Err(TrackError::ManifestTooLong {
                len: json.len(),
                max,
            });
        }
        let raw: ManifestJson =
            serde_json::from_slice(json).map_err(|e| TrackError::ManifestParse {
                detail: e.to_string(),
            })?;
        if raw.version != MANIFEST_VERSION {
            return Err(TrackError::UnsupportedVersion {
                version: raw.version,
            });
        }
        // Cheap checks first, so a huge hostile list is refused before we
        // look at every hash in it.
        if raw.files.len() > limits.max_files {
            return Err(TrackError::TooManyFiles {
                path: "track manifest".into(),
                count: raw.files.len(),
                max: limits.max_files,
            });
        }
        let mut files = Vec::with_capacity(raw.files.len());
        for f in raw.files {
            let sha256 = parse_sha256(&f.sha256, &f.path)?;
            files.push(FileEntry {
                path: f.path,
                size: f.size,
                sha256,
            });
        }
        TrackManifest::checked(raw.map_id, raw.track_id, raw.layout, files, limits)
    }

    /// The manifest as compact JSON:
    /// `{"version":1,"map_id":..,"track_id":..,"files":[{"path":..,"size":..,"sha256":"<hex>"},..]}`.
    pub fn to_json(&self) -> String {
        // Serializing plain strings and numbers cannot fail.
        serde_json::to_string(&self.as_json()).unwrap_or_default()
    }

    /// The same JSON, indented for people.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(&self.as_json()).unwrap_or_default()
    }

    fn as_json(&self) -> ManifestJson {
        ManifestJson {
            version: MANIFEST_VERSION,
            map_id: self.map_id.clone(),
            track_id: self.track_id.clone(),
            layout: self.layout,
            files: self
                .files
                .iter()
                .map(|f| FileJson {
                    path: f.path.clone(),
                    size: f.size,
                    sha256: hex(&f.sha256),
                })
                .collect(),
        }
    }

    /// The canonical encoding (see the module docs); its SHA-256 is
    /// [`TrackManifest::track_hash`].
    pub fn canonical_bytes(&self) -> Vec<u8> {
        canonical_bytes(self.layout, &self.files)
    }

    /// SHA-256 of the canonical encoding.
    pub fn track_hash(&self) -> TrackHash {
        self.hash
    }

    /// All files' sizes together.
    pub fn total_size(&self) -> u64 {
        self.total_size
    }

    /// The map id.
    pub fn map_id(&self) -> &str {
        &self.map_id
    }

    /// The track id.
    pub fn track_id(&self) -> &str {
        &self.track_id
    }

    /// A folder of files, or one file.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The files in canonical order; a chunk's file index is an index here.
    pub fn files(&self) -> &[FileEntry] {
        &self.files
    }

    /// Checks the manifest against (perhaps tighter) limits than it was
    /// built with.
    pub fn validate(&self, limits: &Limits) -> Result<(), TrackError> {
        check_files(&self.files, limits).map(|_| ())
    }

    /// Checks that this is the track announced with `layout` (the hash
    /// already tells them apart; this names the difference).
    pub fn check_layout(&self, layout: Layout) -> Result<(), TrackError> {
        if self.layout == layout {
            return Ok(());
        }
        let name = |l: Layout| match l {
            Layout::Folder => "a folder".to_string(),
            Layout::File => "a single file".to_string(),
        };
        Err(TrackError::AnnouncementMismatch {
            field: "layout",
            announced: name(layout),
            manifest: name(self.layout),
        })
    }

    /// Checks that this manifest is the track a room announced.
    pub fn check_announced(
        &self,
        map_id: &str,
        track_id: &str,
        hash: &TrackHash,
        total_size: u64,
    ) -> Result<(), TrackError> {
        let mismatch = |field, announced: String, manifest: String| {
            Err(TrackError::AnnouncementMismatch {
                field,
                announced,
                manifest,
            })
        };
        if self.map_id != map_id {
            return mismatch("map id", map_id.into(), self.map_id.clone());
        }
        if self.track_id != track_id {
            return mismatch("track id", track_id.into(), self.track_id.clone());
        }
        if self.hash != *hash {
            return mismatch("track hash", hash.to_string(), self.hash.to_string());
        }
        if self.total_size != total_size {
            return mismatch(
                "total size",
                total_size.to_string(),
                self.total_size.to_string(),
            );
        }
        Ok(())
    }

    /// Compares file lists and names the first difference in path order:
    /// a missing file, an unexpected one, another size, another hash.
    pub fn compare_files(&self, actual: &[FileEntry]) -> Result<(), TrackError> {
        compare_files(&self.files, actual)
    }

    fn checked(
        map_id: String,
        track_id: String,
        layout: Layout,
        files: Vec<FileEntry>,
        limits: &Limits,
    ) -> Result<TrackManifest, TrackError> {
        validate_id(IdKind::Map, &map_id)?;
        validate_id(IdKind::Track, &track_id)?;
        let total_size = check_files(&files, limits)?;
        if layout == Layout::File {
            let want = file_track_name(&track_id);
            match files.as_slice() {
                [one] if one.path == want => {}
                [one] => {
                    return Err(TrackError::NotAFileTrack {
                        track_id,
                        detail: format!("its file is {}", one.path),
                    })
                }
                more => {
                    return Err(TrackError::NotAFileTrack {
                        track_id,
                        detail: format!("it lists {} files", more.len()),
                    })
                }
            }
        }
        let hash = hash_layout(layout, &files);
        Ok(TrackManifest {
            map_id,
            track_id,
            layout,
            files,
            total_size,
            hash,
        })
    }
}

/// Checks a file list: count, order, path rules, collisions, sizes. Returns
/// the total size.
fn check_files(files: &[FileEntry], limits: &Limits) -> Result<u64, TrackError> {
    if files.is_empty() {
        return Err(TrackError::EmptyTrack {
            path: "track manifest".into(),
        });
    }
    if files.len() > limits.max_files {
        return Err(TrackError::TooManyFiles {
            path: "track manifest".into(),
            count: files.len(),
            max: limits.max_files,
        });
    }
    let mut total: u64 = 0;
    for (i, f) in files.iter().enumerate() {
        validate_relative_path(&f.path, limits)?;
        if i > 0 {
            let prev = &files[i - 1].path;
            if *prev == f.path {
                return Err(TrackError::DuplicatePath {
                    path: f.path.clone(),
                });
            }
            if *prev > f.path {
                return Err(TrackError::NotCanonicalOrder {
                    path: f.path.clone(),
                    previous: prev.clone(),
                });
            }
        }
        total = total
            .checked_add(f.size)
            .filter(|t| *t <= limits.max_total_bytes)
            .ok_or_else(|| TrackError::TooLarge {
                path: f.path.clone(),
                bytes: total.saturating_add(f.size),
                max: limits.max_total_bytes,
            })?;
    }
    check_collisions(files.iter().map(|f| f.path.as_str()))?;
    Ok(total)
}

/// Refuses paths that would be one file or folder on a case-insensitive file
/// system, folders spelled in two cases (`Gates/a`, `gates/b`: one folder on
/// Windows, two on Linux, so the track would differ), and paths that are both
/// a file and a folder.
fn check_collisions<'a>(paths: impl Iterator<Item = &'a str>) -> Result<(), TrackError> {
    let mut files: HashMap<String, &str> = HashMap::new();
    let mut dirs: HashMap<String, &str> = HashMap::new();
    let mut in_order = Vec::new();
    for path in paths {
        let lower = path.to_lowercase();
        in_order.push((lower.clone(), path));
        if let Some(other) = files.insert(lower, path) {
            return Err(TrackError::PathCollision {
                path: path.into(),
                other: other.into(),
            });
        }
        for (i, _) in path.match_indices('/') {
            let dir = &path[..i];
            let dir_lower = dir.to_lowercase();
            match dirs.get(&dir_lower) {
                Some(other) if *other != dir => {
                    return Err(TrackError::PathCollision {
                        path: path.into(),
                        other: (*other).into(),
                    })
                }
                Some(_) => {}
                None => {
                    dirs.insert(dir_lower, dir);
                }
            }
        }
    }
    for (lower, path) in &in_order {
        if let Some(dir) = dirs.get(lower) {
            return Err(TrackError::PathCollision {
                path: (*path).into(),
                other: format!("{dir}/"),
            });
        }
    }
    Ok(())
}

/// The path rules for a path inside a track. It must be non-empty,
/// `/`-separated and relative (no leading `/` or `\`, no drive letter); hold
/// no `\` or `:` at all; have no empty, `.` or `..` components; no Windows
/// device names as a component's stem in any case (CON, PRN, AUX, NUL,
/// COM0-9, LPT0-9, CONIN$, CONOUT$; also `nul.txt`); no component ending in
/// `.` or a space; no control characters; none of `< > : " | ? *`; no OS
/// metadata files; at most `limits.max_path_len` bytes in all and 255 bytes
/// per component. A path that passes means the same file on Windows, macOS
/// and Linux and stays inside the track folder.
pub fn validate_relative_path(path: &str, limits: &Limits) -> Result<(), TrackError> {
    let bad = |rule| {
        Err(TrackError::BadPath {
            path: path.into(),
            rule,
        })
    };
    if path.is_empty() {
        return bad(PathRule::Empty);
    }
    if path.starts_with('/') || path.starts_with('\\') {
        return bad(PathRule::Absolute);
    }
    let b = path.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return bad(PathRule::DriveLetter);
    }
    if path.contains('\\') {
        return bad(PathRule::Backslash);
    }
    if path.len() > limits.max_path_len {
        return bad(PathRule::TooLong {
            len: path.len(),
            max: limits.max_path_len,
        });
    }
    for component in path.split('/') {
        if let Err(rule) = check_component(component) {
            return bad(rule);
        }
    }
    Ok(())
}

/// Checks a map or track id: one safe folder name (the component rules of
/// [`validate_relative_path`]), at most 128 bytes, not starting with `.`
/// (our temp folders do) and without `~` (which marks a track installed
/// beside another).
pub fn validate_id(kind: IdKind, id: &str) -> Result<(), TrackError> {
    let bad = |rule| {
        Err(TrackError::BadId {
            kind,
            id: id.into(),
            rule,
        })
    };
    if id.is_empty() {
        return bad(PathRule::Empty);
    }
    if id.len() > MAX_ID_LEN {
        return bad(PathRule::TooLong {
            len: id.len(),
            max: MAX_ID_LEN,
        });
    }
    if id.contains('/') {
        return bad(PathRule::Slash);
    }
    if let Err(rule) = check_component(id) {
        return bad(rule);
    }
    if id.starts_with('.') {
        return bad(PathRule::LeadingDot);
    }
    if id.contains('~') {
        return bad(PathRule::Tilde);
    }
    Ok(())
}

fn check_component(c: &str) -> Result<(), PathRule> {
    if c.is_empty() {
        return Err(PathRule::EmptyComponent);
    }
    if c == "." || c == ".." {
        return Err(PathRule::DotComponent);
    }
    if c.len() > MAX_COMPONENT_LEN {
        return Err(PathRule::ComponentTooLong);
    }
    for ch in c.chars() {
        if ch.is_control() {
            return Err(PathRule::ControlChar);
        }
        match ch {
            '\\' => return Err(PathRule::Backslash),
            '/' => return Err(PathRule::Slash),
            '<' | '>' | ':' | '"' | '|' | '?' | '*' => return Err(PathRule::ForbiddenChar(ch)),
            _ => {}
        }
    }
    if c.ends_with('.') || c.ends_with(' ') {
        return Err(PathRule::TrailingDotOrSpace);
    }
    if is_reserved_device(c) {
        return Err(PathRule::ReservedName);
    }
    if is_os_metadata(c) {
        return Err(PathRule::OsMetadata);
    }
    Ok(())
}

/// Windows device names: the part before the first dot, trailing spaces
/// dropped, in any case.
fn is_reserved_device(c: &str) -> bool {
    let stem = c.split('.').next().unwrap_or(c).trim_end_matches(' ');
    let upper = stem.to_uppercase();
    match upper.as_str() {
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$" => true,
        _ => {
            let mut chars = upper.chars();
            let prefix: String = chars.by_ref().take(3).collect();
            let rest: Vec<char> = chars.collect();
            (prefix == "COM" || prefix == "LPT")
                && rest.len() == 1
                && (rest[0].is_ascii_digit() || matches!(rest[0], '¹' | '²' | '³'))
        }
    }
}

/// Files macOS and Windows create in folders on their own.
pub(crate) fn is_os_metadata(name: &str) -> bool {
    ["/.ds_store", "/thumbs.db", "/desktop.ini"]
        .iter()
        .any(|m| name.eq_ignore_ascii_case(&m[1..]))
}

/// Checks that `dir` holds exactly the track with hash `expected`, hashing
/// every file. Cannot say which file differs (a hash does not list files);
/// use [`verify_dir_against`] when the manifest is at hand. Returns the
/// folder's files on success.
pub fn verify_dir(
    dir: &Path,
    expected: &TrackHash,
    limits: &Limits,
) -> Result<Vec<FileEntry>, TrackError> {
    let files = hash_listing(list_dir(dir, limits)?)?;
    let actual = hash_files(&files);
    if actual != *expected {
        return Err(TrackError::TrackHashMismatch {
            path: dir.to_path_buf(),
            expected: *expected,
            actual,
        });
    }
    Ok(files)
}

/// Checks that `dir` holds exactly the track `expected` describes and names
/// the first file that differs. Compares names and sizes before hashing, so
/// a folder with a missing or resized file is refused without reading it.
pub fn verify_dir_against(
    dir: &Path,
    expected: &TrackManifest,
    limits: &Limits,
) -> Result<(), TrackError> {
    let listing = list_dir(dir, limits)?;
    compare_listing(&expected.files, &listing)?;
    let files = hash_listing(listing)?;
    compare_files(&expected.files, &files)
}

/// One regular file found while walking a track folder.
#[derive(Debug)]
pub(crate) struct Listed {
    /// Path inside the track.
    pub(crate) rel: String,
    /// Path on this machine.
    pub(crate) abs: PathBuf,
    /// Size when listed.
    pub(crate) size: u64,
}

/// Walks a track folder without following links and without hashing: every
/// regular file with its size, sorted by path, all path rules and limits
/// checked. Stops as soon as a limit is crossed.
pub(crate) fn list_dir(root: &Path, limits: &Limits) -> Result<Vec<Listed>, TrackError> {
    let meta = fs::symlink_metadata(root).map_err(io_err("reading", root))?;
    if meta.file_type().is_symlink() {
        return Err(TrackError::Symlink {
            path: root.to_path_buf(),
        });
    }
    if !meta.is_dir() {
        return Err(TrackError::NotADirectory {
            path: root.to_path_buf(),
        });
    }
    let mut out = Vec::new();
    let mut total: u64 = 0;
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((abs_dir, rel_dir)) = stack.pop() {
        for entry in fs::read_dir(&abs_dir).map_err(io_err("listing", &abs_dir))? {
            let entry = entry.map_err(io_err("listing", &abs_dir))?;
            let abs = entry.path();
            let name = entry
                .file_name()
                .into_string()
                .map_err(|_| TrackError::NonUtf8Name { path: abs.clone() })?;
            if is_os_metadata(&name) {
                continue;
            }
            let rel = if rel_dir.is_empty() {
                name
            } else {
                format!("{rel_dir}/{name}")
            };
            validate_relative_path(&rel, limits)?;
            // `DirEntry::file_type` does not follow links.
            let ft = entry.file_type().map_err(io_err("reading", &abs))?;
            if ft.is_symlink() {
                return Err(TrackError::Symlink { path: abs });
            } else if ft.is_dir() {
                stack.push((abs, rel));
            } else if ft.is_file() {
                let size = fs::symlink_metadata(&abs)
                    .map_err(io_err("reading", &abs))?
                    .len();
                if out.len() == limits.max_files {
                    return Err(TrackError::TooManyFiles {
                        path: root.display().to_string(),
                        count: out.len() + 1,
                        max: limits.max_files,
                    });
                }
                total = total
                    .checked_add(size)
                    .filter(|t| *t <= limits.max_total_bytes)
                    .ok_or_else(|| TrackError::TooLarge {
                        path: rel.clone(),
                        bytes: total.saturating_add(size),
                        max: limits.max_total_bytes,
                    })?;
                out.push(Listed { rel, abs, size });
            } else {
                return Err(TrackError::SpecialFile { path: abs });
            }
        }
    }
    if out.is_empty() {
        return Err(TrackError::EmptyTrack {
            path: root.display().to_string(),
        });
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    check_collisions(out.iter().map(|l| l.rel.as_str()))?;
    Ok(out)
}

/// Hashes every listed file; a file whose size changed since listing is an
/// error (someone is writing to the track while we read it).
pub(crate) fn hash_listing(listing: Vec<Listed>) -> Result<Vec<FileEntry>, TrackError> {
    let mut buf = vec![0u8; HASH_BUF];
    listing
        .into_iter()
        .map(|l| {
            let (sha256, actual) = hash_file(&l.abs, l.size, &mut buf)?;
            if actual != l.size {
                return Err(TrackError::FileSizeMismatch {
                    path: l.rel,
                    expected: l.size,
                    actual,
                });
            }
            Ok(FileEntry {
                path: l.rel,
                size: l.size,
                sha256,
            })
        })
        .collect()
}

/// SHA-256 of a file, reading at most `size + 1` bytes so a file that grew
/// is noticed without reading all of it. Returns the hash and bytes read.
pub(crate) fn hash_file(
    path: &Path,
    size: u64,
    buf: &mut [u8],
) -> Result<([u8; 32], u64), TrackError> {
    let file = File::open(path).map_err(io_err("opening", path))?;
    let mut reader = file.take(size.saturating_add(1));
    let mut hasher = Sha256::new();
    let mut read: u64 = 0;
    loop {
        let n = match reader.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err("reading", path)(e)),
        };
        hasher.update(&buf[..n]);
        read += n as u64;
    }
    Ok((hasher.finalize().into(), read))
}

/// Compares names and sizes of a folder listing with the expected files.
pub(crate) fn compare_listing(
    expected: &[FileEntry],
    listing: &[Listed],
) -> Result<(), TrackError> {
    let actual: Vec<(&str, u64)> = listing.iter().map(|l| (l.rel.as_str(), l.size)).collect();
    compare_by(expected, &actual, |_, _| Ok(()))
}

/// Compares two sorted file lists; names the first difference.
pub(crate) fn compare_files(
    expected: &[FileEntry],
    actual: &[FileEntry],
) -> Result<(), TrackError> {
    let by_path: HashMap<&str, &[u8; 32]> = actual
        .iter()
        .map(|f| (f.path.as_str(), &f.sha256))
        .collect();
    let pairs: Vec<(&str, u64)> = actual.iter().map(|f| (f.path.as_str(), f.size)).collect();
    compare_by(expected, &pairs, |want, path| match by_path.get(path) {
        Some(got) if **got != want.sha256 => Err(TrackError::FileHashMismatch {
            path: path.into(),
            expected: want.sha256,
            actual: **got,
        }),
        _ => Ok(()),
    })
}

/// Merge-walks two path-sorted lists, then runs `same` on files present in
/// both with equal sizes.
fn compare_by(
    expected: &[FileEntry],
    actual: &[(&str, u64)],
    same: impl Fn(&FileEntry, &str) -> Result<(), TrackError>,
) -> Result<(), TrackError> {
    let (mut i, mut j) = (0, 0);
    while i < expected.len() || j < actual.len() {
        match (expected.get(i), actual.get(j)) {
            (Some(want), Some(&(path, size))) if want.path.as_str() == path => {
                if want.size != size {
                    return Err(TrackError::FileSizeMismatch {
                        path: path.into(),
                        expected: want.size,
                        actual: size,
                    });
                }
                same(want, path)?;
                i += 1;
                j += 1;
            }
            (Some(want), Some(&(path, _))) if want.path.as_str() < path => {
                return Err(TrackError::FileMissing {
                    path: want.path.clone(),
                })
            }
            (Some(want), None) => {
                return Err(TrackError::FileMissing {
                    path: want.path.clone(),
                })
            }
            (_, Some(&(path, _))) => return Err(TrackError::FileUnexpected { path: path.into() }),
            (None, None) => break,
        }
    }
    Ok(())
}

/// The canonical encoding of a sorted file list (see the module docs).
fn canonical_bytes(layout: Layout, files: &[FileEntry]) -> Vec<u8> {
    let mut out = String::with_capacity(32 + files.len() * 100);
    out.push_str(match layout {
        Layout::Folder => CANONICAL_HEADER,
        Layout::File => CANONICAL_FILE_HEADER,
    });
    out.push_str(&format!("{}\n", files.len()));
    for f in files {
        out.push_str(&hex(&f.sha256));
        out.push_str(&format!(" {} ", f.size));
        out.push_str(&f.path);
        out.push('\n');
    }
    out.into_bytes()
}

/// The track hash of a sorted file list (a folder track's).
pub(crate) fn hash_files(files: &[FileEntry]) -> TrackHash {
    hash_layout(Layout::Folder, files)
}

/// The track hash of a sorted file list laid out as `layout`.
pub(crate) fn hash_layout(layout: Layout, files: &[FileEntry]) -> TrackHash {
    TrackHash(Sha256::digest(canonical_bytes(layout, files)).into())
}

/// The track id a single-file track's file name gives (`CMP-1.cmp` gives
/// `CMP-1`); `None` without the extension.
pub fn file_track_id(name: &str) -> Option<String> {
    let (stem, ext) = name.rsplit_once('.')?;
    (ext.eq_ignore_ascii_case(FILE_TRACK_EXTENSION) && !stem.is_empty()).then(|| stem.to_string())
}

/// One plain file, checked as a single-file track's: not a link, not a
/// folder or device, a name obeying the path rules, within `limits`.
pub(crate) fn list_file(path: &Path, limits: &Limits) -> Result<Listed, TrackError> {
    let meta = fs::symlink_metadata(path).map_err(io_err("reading", path))?;
    if meta.file_type().is_symlink() {
        return Err(TrackError::Symlink {
            path: path.to_path_buf(),
        });
    }
    if !meta.is_file() {
        return Err(TrackError::SpecialFile {
            path: path.to_path_buf(),
        });
    }
    let rel = path
        .file_name()
        .unwrap_or_default()
        .to_str()
        .ok_or_else(|| TrackError::NonUtf8Name {
            path: path.to_path_buf(),
        })?
        .to_string();
    validate_relative_path(&rel, limits)?;
    if meta.len() > limits.max_total_bytes {
        return Err(TrackError::TooLarge {
            path: rel,
            bytes: meta.len(),
            max: limits.max_total_bytes,
        });
    }
    Ok(Listed {
        rel,
        abs: path.to_path_buf(),
        size: meta.len(),
    })
}

/// Checks that the file at `path` is exactly the single-file track `hash`,
/// hashing it. Returns its entry.
pub fn verify_file(
    path: &Path,
    expected: &TrackHash,
    limits: &Limits,
) -> Result<FileEntry, TrackError> {
    let files = hash_listing(vec![list_file(path, limits)?])?;
    let actual = hash_layout(Layout::File, &files);
    if actual != *expected {
        return Err(TrackError::TrackHashMismatch {
            path: path.to_path_buf(),
            expected: *expected,
            actual,
        });
    }
    files
        .into_iter()
        .next()
        .ok_or_else(|| TrackError::EmptyTrack {
            path: path.display().to_string(),
        })
}

/// [`verify_dir`] for a folder, [`verify_file`] for a single-file track.
pub fn verify_installed(
    path: &Path,
    expected: &TrackHash,
    limits: &Limits,
) -> Result<(), TrackError> {
    if fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
        verify_file(path, expected, limits).map(drop)
    } else {
        verify_dir(path, expected, limits).map(drop)
    }
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Parses exactly 64 hex digits, either case.
fn parse_sha256(s: &str, what: &str) -> Result<[u8; 32], TrackError> {
    let bad = || TrackError::BadHex {
        what: what.into(),
        value: s.into(),
    };
    let b = s.as_bytes();
    if b.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16).ok_or_else(bad)?;
        let lo = (pair[1] as char).to_digit(16).ok_or_else(bad)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(path: &str) -> Option<PathRule> {
        match validate_relative_path(path, &Limits::default()) {
            Ok(()) => None,
            Err(TrackError::BadPath { rule, .. }) => Some(rule),
            Err(e) => panic!("unexpected error {e}"),
        }
    }

    #[test]
    fn good_paths_pass() {
        for p in [
            "a",
            "track.json",
            "gates/01 start.bin",
            "deep/er/and/deeper/file.x",
            ".hidden",
            "..a",
            "a..b",
            "consul.txt",
            "com10",
            "lpt",
            "nulls/a",
            "héllo/wörld",
        ] {
            assert_eq!(rule(p), None, "{p}");
        }
    }

    #[test]
    fn every_path_rule_refuses_its_case() {
        let long_component = "x".repeat(256);
        let long_path = format!("{}/{}", "a".repeat(200), "b".repeat(50));
        let cases: Vec<(&str, PathRule)> = vec![
            ("", PathRule::Empty),
            ("/etc/passwd", PathRule::Absolute),
            ("\\windows\\system32", PathRule::Absolute),
            ("C:/x", PathRule::DriveLetter),
            ("c:x", PathRule::DriveLetter),
            ("a\\..\\..\\x", PathRule::Backslash),
            ("a:b", PathRule::DriveLetter),
            ("ab:c", PathRule::ForbiddenChar(':')),
            ("a/b:stream", PathRule::ForbiddenChar(':')),
            ("a//b", PathRule::EmptyComponent),
            ("a/", PathRule::EmptyComponent),
            ("..", PathRule::DotComponent),
            ("../x", PathRule::DotComponent),
            ("a/../../x", PathRule::DotComponent),
            ("./x", PathRule::DotComponent),
            ("CON", PathRule::ReservedName),
            ("con", PathRule::ReservedName),
            ("nul.txt", PathRule::ReservedName),
            ("a/Aux.tar.gz", PathRule::ReservedName),
            ("COM1", PathRule::ReservedName),
            ("lpt9.bin", PathRule::ReservedName),
            ("COM¹", PathRule::ReservedName),
            ("nul .txt", PathRule::ReservedName),
            ("CONOUT$", PathRule::ReservedName),
            ("a.", PathRule::TrailingDotOrSpace),
            ("a /b", PathRule::TrailingDotOrSpace),
            ("a\nb", PathRule::ControlChar),
            ("a\u{0}b", PathRule::ControlChar),
            ("a\u{7f}", PathRule::ControlChar),
            ("a<b", PathRule::ForbiddenChar('<')),
            ("a>b", PathRule::ForbiddenChar('>')),
            ("a\"b", PathRule::ForbiddenChar('"')),
            ("a|b", PathRule::ForbiddenChar('|')),
            ("a?b", PathRule::ForbiddenChar('?')),
            ("a*b", PathRule::ForbiddenChar('*')),
            (".DS_Store", PathRule::OsMetadata),
            ("x/thumbs.db", PathRule::OsMetadata),
            (&long_path, PathRule::TooLong { len: 251, max: 240 }),
        ];
        for (p, want) in cases {
            assert_eq!(rule(p), Some(want), "{p:?}");
        }
        let roomy = Limits {
            max_path_len: 1000,
            ..Limits::default()
        };
        assert!(matches!(
            validate_relative_path(&long_component, &roomy),
            Err(TrackError::BadPath {
                rule: PathRule::ComponentTooLong,
                ..
            })
        ));
    }

    #[test]
    fn ids_are_single_safe_names() {
        assert!(validate_id(IdKind::Track, "CMP-6a1f0c").is_ok());
        assert!(validate_id(IdKind::Map, "MP-Bando_2").is_ok());
        for (id, want) in [
            ("", PathRule::Empty),
            ("a/b", PathRule::Slash),
            ("..", PathRule::DotComponent),
            (".propwash-tmp-x", PathRule::LeadingDot),
            ("CMP-1~abcd", PathRule::Tilde),
            ("NUL", PathRule::ReservedName),
            ("a\\b", PathRule::Backslash),
        ] {
            match validate_id(IdKind::Track, id) {
                Err(TrackError::BadId { rule, .. }) => assert_eq!(rule, want, "{id:?}"),
                other => panic!("{id:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn hash_hex_round_trips_and_rejects_bad_lengths() {
        let h = TrackHash([0xab; 32]);
        let s = h.to_string();
        assert_eq!(s.len(), 64);
        assert_eq!(s.parse::<TrackHash>().unwrap(), h);
        assert_eq!(s.to_uppercase().parse::<TrackHash>().unwrap(), h);
        assert_eq!(h.short(), "abababab");
        for bad in [
            "",
            "ab",
            &s[..63],
            &format!("{s}0"),
            &format!("{}g", &s[..63]),
        ] {
            assert!(
                matches!(bad.parse::<TrackHash>(), Err(TrackError::BadHex { .. })),
                "{bad}"
            );
        }
        // Multi-byte text of 64 bytes must not panic on a char boundary.
        assert!("é".repeat(32).parse::<TrackHash>().is_err());
    }

    #[test]
    fn canonical_encoding_is_exactly_as_documented() {
        let m = TrackManifest::new(
            "MP-1",
            "CMP-1",
            vec![
                FileEntry {
                    path: "b c.bin".into(),
                    size: 3,
                    sha256: [0x11; 32],
                },
                FileEntry {
                    path: "a/x".into(),
                    size: 0,
                    sha256: [0; 32],
                },
            ],
            &Limits::default(),
        )
        .unwrap();
        let want = format!(
            "propwash-track-v1\n2\n{} 0 a/x\n{} 3 b c.bin\n",
            "00".repeat(32),
            "11".repeat(32)
        );
        assert_eq!(String::from_utf8(m.canonical_bytes()).unwrap(), want);
        assert_eq!(
            m.track_hash(),
            TrackHash(Sha256::digest(want.as_bytes()).into())
        );
        // Ids are not part of the hash.
        let other =
            TrackManifest::new("MP-2", "CMP-2", m.files().to_vec(), &Limits::default()).unwrap();
        assert_eq!(other.track_hash(), m.track_hash());
    }

    #[test]
    fn collisions_are_found() {
        let c = |paths: &[&str]| check_collisions(paths.iter().copied());
        assert!(c(&["a.txt", "b.txt", "d/a.txt"]).is_ok());
        assert!(c(&["A.txt", "a.txt"]).is_err());
        assert!(c(&["Gates/a", "gates/b"]).is_err());
        assert!(c(&["a", "a/b"]).is_err());
        assert!(c(&["A", "a/b"]).is_err());
        assert!(c(&["x/A", "x/a/b"]).is_err());
        assert!(c(&["ß", "SS"]).is_ok());
    }
}
