//! What the stand-in knows, read from the game's own folder on every
//! request (so a track installed a moment ago is listed at once): the
//! player's `player-state.json`, the official maps' JSON files under
//! `StreamingAssets/game/content/maps/<map-folder>/`, and the custom tracks,
//! single `<guid>.cmp` files under `StreamingAssets/game/storage/offline/maps/`.
//!
//! Writes go only to `player-state.json`, through the same in-place,
//! unknown-key-preserving, atomic rewrite as the identity sync.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde_json::{Map, Value};

use super::codec::iso8601;
use super::BackendError;
use crate::identity::atomic::{self, Stage};
use crate::identity::player_state::{self, PLAYER_STATE_FILE};
use crate::track::{validate_id, IdKind};

/// The folders from the data folder down to the official maps.
pub const OFFICIAL_MAPS: [&str; 4] = ["StreamingAssets", "game", "content", "maps"];
/// The folders from the data folder down to the custom tracks.
pub const CUSTOM_MAPS: [&str; 5] = ["StreamingAssets", "game", "storage", "offline", "maps"];
/// The folders from the data folder down to `player-state.json`.
const STATE_DIR: [&str; 6] = [
    "StreamingAssets",
    "game",
    "storage",
    "offline",
    "state",
    "player",
];
/// A custom track's file extension.
pub const CMP_EXTENSION: &str = "cmp";
/// Largest JSON file read (an official map file carries its whole scene).
const MAX_MAP_FILE_BYTES: u64 = 64 << 20;
/// Largest `player-state.json` read.
const MAX_STATE_BYTES: u64 = 16 << 20;
/// Most map files or custom tracks looked at in one listing.
const MAX_LISTED_FILES: usize = 4096;
/// Members of a track left out of lists: the scene itself, which only the
/// answer for one track carries.
const HEAVY_KEYS: [&str; 1] = ["root"];

/// One game's folder.
#[derive(Debug)]
pub struct GameFolder {
    data_dir: PathBuf,
    /// Track metadata of custom files by path, with the size and time they
    /// had when read, so a listing does not parse every file every time.
    custom_cache: Mutex<HashMap<PathBuf, Stamped>>,
    /// The same for the official map files: their tracks' metadata (a map
    /// file carries whole scenes, so lists do not parse it again while it
    /// is unchanged).
    official_cache: Mutex<HashMap<PathBuf, Stamped>>,
}

/// A custom track's metadata with the file's size and time when read.
type Stamped = (u64, Option<SystemTime>, Value);

/// A track as lists carry it: its metadata, without its scene.
pub type TrackMeta = Map<String, Value>;

impl GameFolder {
    /// The game whose install folder (holding `DRL Simulator_Data`) or data
    /// folder is `game_dir`.
    pub fn open(game_dir: &Path) -> Result<GameFolder, BackendError> {
        let data_dir = player_state::data_dir(game_dir).map_err(BackendError::Game)?;
        Ok(GameFolder {
            data_dir,
            custom_cache: Mutex::new(HashMap::new()),
            official_cache: Mutex::new(HashMap::new()),
        })
    }

    /// The data folder (`DRL Simulator_Data`).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    fn under(&self, parts: &[&str]) -> PathBuf {
        let mut p = self.data_dir.clone();
        p.extend(parts);
        p
    }

    /// `player-state.json` (which may not exist).
    pub fn player_state_path(&self) -> PathBuf {
        self.under(&STATE_DIR).join(PLAYER_STATE_FILE)
    }

    /// The official maps folder.
    pub fn official_maps_dir(&self) -> PathBuf {
        self.under(&OFFICIAL_MAPS)
    }

    /// The custom tracks' folder.
    pub fn custom_maps_dir(&self) -> PathBuf {
        self.under(&CUSTOM_MAPS)
    }

    /// The player state as an object; an empty one when the file does not
    /// exist yet (the game makes it on its first start).
    pub fn player_state(&self) -> Result<Map<String, Value>, BackendError> {
        let path = self.player_state_path();
        let bytes = match read_bounded(&path, MAX_STATE_BYTES) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
            Err(e) => {
                return Err(BackendError::File {
                    path,
                    error: e.to_string(),
                })
            }
        };
        let text = std::str::from_utf8(&bytes).unwrap_or_default();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        serde_json::from_str(text).map_err(|e| BackendError::File {
            path,
            error: format!("not a JSON object: {e}"),
        })
    }

    /// Sets the top-level `members` in `player-state.json`, keeping every
    /// other key and byte as it was; the old file stays as
    /// `player-state.json.bak` and the new one replaces it in one rename.
    /// Returns the keys that changed (none: nothing written). The folder
    /// must exist (it is the game's, never made here); a missing file is
    /// started as `{}`.
    pub fn write_player_state(
        &self,
        members: &Map<String, Value>,
    ) -> Result<Vec<String>, BackendError> {
        self.write_player_state_with_hook(members, &mut |_| Ok(()))
    }

    pub(crate) fn write_player_state_with_hook(
        &self,
        members: &Map<String, Value>,
        hook: &mut dyn FnMut(Stage) -> std::io::Result<()>,
    ) -> Result<Vec<String>, BackendError> {
        let path = self.player_state_path();
        let dir = self.under(&STATE_DIR);
        if !dir.is_dir() {
            return Err(BackendError::File {
                path: dir,
                error: "folder does not exist (start the game once so it creates it)".into(),
            });
        }
        // One writer at a time in this process: the identity sync writes
        // the same file.
        let _guard = player_state::WRITE_LOCK.lock();
        let old = match read_bounded(&path, MAX_STATE_BYTES) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => b"{}".to_vec(),
            Err(e) => {
                return Err(BackendError::File {
                    path,
                    error: e.to_string(),
                })
            }
        };
        let wanted: Vec<(&str, Value)> = members
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let (new, changed) =
            player_state::set_members(&old, &wanted).map_err(|error| BackendError::File {
                path: path.clone(),
                error: format!("not a JSON object, left untouched: {error}"),
            })?;
        if changed.is_empty() {
            return Ok(changed);
        }
        atomic::replace_with_hook(&path, &new, true, hook).map_err(|e| BackendError::File {
            path: path.clone(),
            error: format!("cannot write, the old file is unchanged: {e}"),
        })?;
        Ok(changed)
    }

    /// Every track the game has: the official ones from the maps' JSON
    /// files, then the custom `.cmp` files; metadata only.
    pub fn tracks(&self) -> Vec<TrackMeta> {
        let mut out = Vec::new();
        let mut seen = Vec::new();
        for f in self.official_files() {
            let Ok(meta) = fs::metadata(&f) else { continue };
            let stamp = (meta.len(), meta.modified().ok());
            let cached = self.official_cache.lock().ok().and_then(|c| {
                c.get(&f)
                    .filter(|(l, m, _)| (*l, *m) == stamp)
                    .map(|(_, _, v)| v.clone())
            });
            let list = match cached {
                Some(v) => v,
                None => {
                    let mut list = Vec::new();
                    file_tracks(&f, &mut |t| {
                        let mut t = t.clone();
                        for k in HEAVY_KEYS {
                            t.remove(k);
                        }
                        list.push(Value::Object(t));
                        false
                    });
                    let v = Value::Array(list);
                    if let Ok(mut c) = self.official_cache.lock() {
                        c.insert(f.clone(), (stamp.0, stamp.1, v.clone()));
                    }
                    v
                }
            };
            seen.push(f);
            if let Value::Array(items) = list {
                out.extend(items.into_iter().filter_map(|t| match t {
                    Value::Object(o) => Some(o),
                    _ => None,
                }));
            }
        }
        if let Ok(mut c) = self.official_cache.lock() {
            c.retain(|k, _| seen.contains(k));
        }
        out.extend(self.custom_tracks());
        out
    }

    /// The whole track (its scene included) with this guid: an official
    /// track as its map file has it, or a custom track's metadata.
    pub fn track(&self, guid: &str) -> Option<Value> {
        let mut found = None;
        self.official_tracks(&mut |t| {
            if t.get("guid").and_then(Value::as_str) == Some(guid) {
                found = Some(Value::Object(t.clone()));
                true
            } else {
                false
            }
        });
        if found.is_some() {
            return found;
        }
        validate_id(IdKind::Track, guid).ok()?;
        let path = self
            .custom_maps_dir()
            .join(format!("{guid}.{CMP_EXTENSION}"));
        self.custom_meta(&path, guid).map(Value::Object)
    }

    /// Calls `each` with every track of every official map file until it
    /// returns true. Unreadable files are logged and skipped.
    fn official_tracks(&self, each: &mut dyn FnMut(&Map<String, Value>) -> bool) {
        for f in self.official_files() {
            if file_tracks(&f, each) {
                return;
            }
        }
    }

    /// The official maps' JSON files, `<maps>/<map-folder>/*.json`, sorted.
    fn official_files(&self) -> Vec<PathBuf> {
        let root = self.official_maps_dir();
        let mut files = Vec::new();
        for folder in sorted_entries(&root) {
            if !folder.is_dir() {
                continue;
            }
            for f in sorted_entries(&folder) {
                if f.extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("json"))
                    && f.is_file()
                {
                    files.push(f);
                }
                if files.len() >= MAX_LISTED_FILES {
                    break;
                }
            }
        }
        files
    }

    /// The custom tracks' metadata, sorted by file name. Files whose name
    /// is not a safe track id are skipped.
    fn custom_tracks(&self) -> Vec<TrackMeta> {
        let mut out = Vec::new();
        let entries = sorted_entries(&self.custom_maps_dir());
        let mut seen = Vec::new();
        for p in entries.into_iter().take(MAX_LISTED_FILES) {
            let is_cmp = p
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case(CMP_EXTENSION));
            let Some(guid) = p.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            if !is_cmp || validate_id(IdKind::Track, guid).is_err() {
                continue;
            }
            if let Some(meta) = self.custom_meta(&p, guid) {
                seen.push(p.clone());
                out.push(meta);
            }
        }
        if let Ok(mut cache) = self.custom_cache.lock() {
            cache.retain(|k, _| seen.contains(k));
        }
        out
    }

    /// A custom track's metadata: the track fields of the file when it is
    /// a JSON track (its own object, or the official files' wrapping),
    /// otherwise what its name and time say. `None` when it is not a plain
    /// file.
    fn custom_meta(&self, path: &Path, guid: &str) -> Option<TrackMeta> {
        let meta = fs::symlink_metadata(path).ok()?;
        if !meta.is_file() {
            return None;
        }
        let (len, modified) = (meta.len(), meta.modified().ok());
        if let Ok(cache) = self.custom_cache.lock() {
            if let Some((l, m, v)) = cache.get(path) {
                if *l == len && *m == modified {
                    return v.as_object().cloned();
                }
            }
        }
        let from_file = read_json(path, MAX_MAP_FILE_BYTES).ok().and_then(|v| {
            let inner = v
                .get("data")
                .and_then(|d| d.get("data"))
                .and_then(Value::as_array)
                .and_then(|a| a.first().cloned());
            inner
                .unwrap_or(v)
                .as_object()
                .filter(|o| o.contains_key("guid") || o.contains_key("map-id"))
                .cloned()
        });
        let stamp = iso8601(modified.unwrap_or(SystemTime::UNIX_EPOCH));
        let mut t = from_file.unwrap_or_default();
        for k in HEAVY_KEYS {
            t.remove(k);
        }
        // The file name is the guid the game looks the track up by.
        t.insert("guid".into(), Value::String(guid.to_string()));
        let defaults = [
            ("map-category", Value::String("MapCustom".into())),
            ("map-title", Value::String(guid.to_string())),
            ("is-custom", Value::Bool(true)),
            ("is-race-allowed", Value::Bool(true)),
            ("created-at", Value::String(stamp.clone())),
            ("updated-at", Value::String(stamp)),
        ];
        for (k, v) in defaults {
            t.entry(k).or_insert(v);
        }
        if let Ok(mut cache) = self.custom_cache.lock() {
            cache.insert(
                path.to_path_buf(),
                (len, modified, Value::Object(t.clone())),
            );
        }
        Some(t)
    }
}

/// Calls `each` with every track of one official map file,
/// `{"data":{"data":[track, ...]}}` (the shape the game ships), until it
/// returns true (then returns true). An unreadable file is logged and
/// skipped.
fn file_tracks(f: &Path, each: &mut dyn FnMut(&Map<String, Value>) -> bool) -> bool {
    let tracks = match read_json(f, MAX_MAP_FILE_BYTES) {
        Ok(v) => v,
        Err(why) => {
            tracing::warn!("backend: skipping map file {}: {why}", f.display());
            return false;
        }
    };
    let list = tracks
        .get("data")
        .and_then(|d| d.get("data"))
        .and_then(Value::as_array);
    for t in list.into_iter().flatten() {
        if let Some(obj) = t.as_object().filter(|o| o.contains_key("guid")) {
            if each(obj) {
                return true;
            }
        }
    }
    false
}

/// A folder's entries, sorted by name; none when it cannot be read.
fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .take(MAX_LISTED_FILES)
            .map(|e| e.path())
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

/// Reads at most `max` bytes; a longer file is an error.
fn read_bounded(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let mut f = fs::File::open(path)?;
    let mut out = Vec::new();
    (&mut f).take(max + 1).read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(std::io::Error::other(format!("larger than {max} bytes")));
    }
    Ok(out)
}

fn read_json(path: &Path, max: u64) -> Result<Value, String> {
    let bytes = read_bounded(path, max).map_err(|e| e.to_string())?;
    let text = std::str::from_utf8(&bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    serde_json::from_str(text.strip_prefix('\u{feff}').unwrap_or(text)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::test_dir::TestDir;

    fn game(root: &Path, state: &[u8]) -> GameFolder {
        let data = root.join(player_state::DATA_DIR_NAME);
        let mut dir = data.clone();
        dir.extend(STATE_DIR);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(PLAYER_STATE_FILE), state).unwrap();
        GameFolder::open(root).unwrap()
    }

    fn members(v: &[(&str, Value)]) -> Map<String, Value> {
        v.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn a_write_changes_only_its_keys_and_keeps_a_backup() {
        let dir = TestDir::new("backend-write");
        let old = b"{\n  \"keep\": {\"deep\": [1, 2]},\n  \"profile-color\": \"ffffff\"\n}\n";
        let g = game(dir.path(), old);
        let changed = g
            .write_player_state(&members(&[
                ("profile-color", Value::String("88ffdf".into())),
                ("maps-favorite", Value::String("[\"MP-1\"]".into())),
            ]))
            .unwrap();
        // In key order (the members arrive as a sorted map).
        assert_eq!(changed, ["maps-favorite", "profile-color"]);
        let now = fs::read_to_string(g.player_state_path()).unwrap();
        assert_eq!(
            now,
            "{\n  \"keep\": {\"deep\": [1, 2]},\n  \"profile-color\": \"88ffdf\",\n  \
             \"maps-favorite\": \"[\\\"MP-1\\\"]\"\n}\n"
        );
        let bak = atomic::sibling(&g.player_state_path(), ".bak");
        assert_eq!(fs::read(bak).unwrap(), old.to_vec());
        // The same values again: nothing to write.
        let again = g
            .write_player_state(&members(&[(
                "profile-color",
                Value::String("88ffdf".into()),
            )]))
            .unwrap();
        assert!(again.is_empty());
    }

    #[test]
    fn a_broken_file_is_left_alone_and_a_missing_folder_is_not_made() {
        let dir = TestDir::new("backend-broken");
        let g = game(dir.path(), b"{\"a\": ");
        let err = g
            .write_player_state(&members(&[("a", Value::Bool(true))]))
            .unwrap_err();
        assert!(err.to_string().contains("left untouched"), "{err}");
        assert_eq!(fs::read(g.player_state_path()).unwrap(), b"{\"a\": ");
        assert!(g.player_state().is_err());

        let bare = TestDir::new("backend-nostate");
        fs::create_dir_all(
            bare.path()
                .join(player_state::DATA_DIR_NAME)
                .join("StreamingAssets"),
        )
        .unwrap();
        let g = GameFolder::open(bare.path()).unwrap();
        assert!(
            g.player_state().unwrap().is_empty(),
            "no file yet reads as {{}}"
        );
        assert!(g
            .write_player_state(&members(&[("a", Value::Bool(true))]))
            .is_err());
        assert!(!g.player_state_path().parent().unwrap().exists());
    }

    const CRASH_ENV: &str = "PROPWASH_TEST_BACKEND_CRASH_DIR";

    /// Run by `a_crash_mid_write_leaves_the_old_player_state` in a child
    /// process: dies (abort: no unwinding, no cleanup) with half the new
    /// file written.
    #[test]
    #[ignore = "child of a_crash_mid_write_leaves_the_old_player_state; run through it"]
    fn crash_child() {
        let dir = std::env::var_os(CRASH_ENV).expect("run by the parent test");
        let g = GameFolder::open(Path::new(&dir)).unwrap();
        let _ = g.write_player_state_with_hook(
            &members(&[("profile-name", Value::String("Crash".repeat(100)))]),
            &mut |s| {
                if s == Stage::TempHalfWritten {
                    std::process::abort();
                }
                Ok(())
            },
        );
        unreachable!("the hook aborts the process");
    }

    #[test]
    fn a_crash_mid_write_leaves_the_old_player_state() {
        let dir = TestDir::new("backend-crash");
        let old = br#"{"unknown-key":{"x":[1,2,3]},"profile-name":"Before"}"#;
        let g = game(dir.path(), old);
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "backend::content::tests::crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CRASH_ENV, dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(!status.success(), "the child should have died mid-write");
        let tmp = atomic::sibling(&g.player_state_path(), ".tmp");
        let half = fs::read(&tmp).expect("the crash leaves its half-written temporary");
        assert!(
            serde_json::from_slice::<Value>(&half).is_err(),
            "it is half a file"
        );
        assert_eq!(fs::read(g.player_state_path()).unwrap(), old.to_vec());
        assert_eq!(g.player_state().unwrap()["profile-name"], "Before");
        // The next write replaces the leftover and keeps the unknown key.
        g.write_player_state(&members(&[("profile-name", Value::String("After".into()))]))
            .unwrap();
        assert!(!tmp.exists());
        let now = g.player_state().unwrap();
        assert_eq!(now["profile-name"], "After");
        assert_eq!(now["unknown-key"], serde_json::json!({"x": [1, 2, 3]}));
    }

    #[test]
    fn official_tracks_are_listed_without_scenes_and_read_again_when_changed() {
        let dir = TestDir::new("backend-official");
        let g = game(dir.path(), b"{}");
        let folder = g.official_maps_dir().join("map-a");
        fs::create_dir_all(&folder).unwrap();
        let file = folder.join("a.json");
        let write = |title: &str| {
            let v = serde_json::json!({"data": {"data": [
                {"guid": "MP-a", "map-title": title, "root": {"scene": [1, 2, 3]}},
                {"no-guid": true}
            ]}});
            fs::write(&file, v.to_string()).unwrap();
        };
        write("First");
        let list = g.tracks();
        assert_eq!(list.len(), 1, "entries without a guid are not tracks");
        assert_eq!(list[0]["map-title"], "First");
        assert!(list[0].get("root").is_none());
        assert_eq!(
            g.track("MP-a").unwrap()["root"]["scene"],
            serde_json::json!([1, 2, 3])
        );
        write("Second, longer");
        assert_eq!(g.tracks()[0]["map-title"], "Second, longer");
        fs::remove_file(&file).unwrap();
        assert!(g.tracks().is_empty());
    }

    #[test]
    fn custom_tracks_are_listed_by_safe_names_and_read_when_json() {
        let dir = TestDir::new("backend-cmp");
        let g = game(dir.path(), b"{}");
        let maps = g.custom_maps_dir();
        fs::create_dir_all(&maps).unwrap();
        fs::write(
            maps.join("CMP-json.cmp"),
            br#"{"guid":"CMP-other","map-id":"MP-7","map-title":"Night","root":{"huge":1}}"#,
        )
        .unwrap();
        fs::write(maps.join("CMP-opaque.cmp"), b"\x01\x02 not json").unwrap();
        fs::write(maps.join("NUL.cmp"), b"{}").unwrap();
        fs::write(maps.join("readme.txt"), b"x").unwrap();
        fs::create_dir_all(maps.join("CMP-folder.cmp")).unwrap();
        let list = g.tracks();
        let guids: Vec<&str> = list.iter().map(|t| t["guid"].as_str().unwrap()).collect();
        assert_eq!(guids, ["CMP-json", "CMP-opaque"]);
        assert_eq!(list[0]["map-title"], "Night");
        assert_eq!(list[0]["map-id"], "MP-7");
        assert!(list[0].get("root").is_none(), "lists leave the scene out");
        assert_eq!(list[1]["map-category"], "MapCustom");
        assert_eq!(list[1]["map-title"], "CMP-opaque");
        assert!(g.track("CMP-json").is_some());
        assert!(g.track("../CMP-json").is_none());
        assert!(g.track("CMP-none").is_none());
        // A file replaced under the same name is read again.
        fs::write(
            maps.join("CMP-json.cmp"),
            br#"{"guid":"x","map-title":"Day, longer"}"#,
        )
        .unwrap();
        assert_eq!(g.tracks()[0]["map-title"], "Day, longer");
    }
}
