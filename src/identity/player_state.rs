//! The game's own idea of the player: `player-state.json` under
//! `<data>/StreamingAssets/game/storage/offline/state/player/`. We set
//! `steam-id`, `profile-name` and `profile-photo-url`, fill `_id` and
//! `player-id` only when missing, and leave every other byte as it was:
//! values are replaced in place in the original text, so unknown keys, their
//! order, their formatting and the file's layout all survive. The new file
//! replaces the old atomically, the old one kept as `player-state.json.bak`.

use std::path::{Path, PathBuf};

use serde::de::{self, MapAccess, Visitor};
use serde::Deserializer;
use serde_json::value::RawValue;
use serde_json::Value;

use super::atomic::{self, Stage};
use super::{Identity, IdentityError};

/// The game's data folder inside its install folder.
pub const DATA_DIR_NAME: &str = "DRL Simulator_Data";
/// The folders from the data folder down to the file.
const STATE_FOLDERS: [&str; 6] = [
    "StreamingAssets",
    "game",
    "storage",
    "offline",
    "state",
    "player",
];
/// The file's name.
pub const PLAYER_STATE_FILE: &str = "player-state.json";

/// Keys we always set.
pub const STEAM_ID: &str = "steam-id";
/// Display name key.
pub const PROFILE_NAME: &str = "profile-name";
/// Avatar URL key.
pub const PROFILE_PHOTO_URL: &str = "profile-photo-url";
/// Keys we set only when missing (absent, null or empty).
pub const ID_KEYS: [&str; 2] = ["_id", "player-id"];

/// Held while `player-state.json` is read and rewritten, so the identity
/// sync and the backend stand-in never interleave their rewrites.
pub(crate) static WRITE_LOCK: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

/// What a sync did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncReport {
    /// The file.
    pub path: PathBuf,
    /// Keys whose value changed or that were added, in file order.
    pub changed: Vec<String>,
    /// Whether the file was rewritten (not when nothing changed).
    pub written: bool,
    /// The backup of the previous content, when the file was rewritten.
    pub backup: Option<PathBuf>,
}

/// The data folder: `game_dir` itself when it holds `StreamingAssets`, or
/// its `DRL Simulator_Data`.
pub fn data_dir(game_dir: &Path) -> Result<PathBuf, IdentityError> {
    if !game_dir.is_dir() {
        return Err(IdentityError::FolderMissing {
            path: game_dir.to_path_buf(),
        });
    }
    let inside = game_dir.join(DATA_DIR_NAME);
    if inside.is_dir() {
        Ok(inside)
    } else if game_dir.join(STATE_FOLDERS[0]).is_dir() {
        Ok(game_dir.to_path_buf())
    } else {
        Err(IdentityError::NotAGameDir {
            path: game_dir.to_path_buf(),
        })
    }
}

/// The `player-state.json` of a game folder; the first missing folder or
/// the missing file is reported, nothing is created.
pub fn player_state_path(game_dir: &Path) -> Result<PathBuf, IdentityError> {
    let mut p = data_dir(game_dir)?;
    for folder in STATE_FOLDERS {
        p.push(folder);
        if !p.is_dir() {
            return Err(IdentityError::FolderMissing { path: p });
        }
    }
    p.push(PLAYER_STATE_FILE);
    if !p.is_file() {
        return Err(IdentityError::FileMissing { path: p });
    }
    Ok(p)
}

/// Writes `identity` into the game's `player-state.json` (see the module
/// doc). A file that does not parse is left untouched and reported with its
/// path and the parser's words.
pub fn sync_player_state(
    game_dir: &Path,
    identity: &Identity,
) -> Result<SyncReport, IdentityError> {
    sync_with_hook(game_dir, identity, &mut |_| Ok(()))
}

pub(crate) fn sync_with_hook(
    game_dir: &Path,
    identity: &Identity,
    hook: &mut dyn FnMut(Stage) -> std::io::Result<()>,
) -> Result<SyncReport, IdentityError> {
    let path = player_state_path(game_dir)?;
    let _guard = WRITE_LOCK.lock();
    let old = std::fs::read(&path).map_err(|e| IdentityError::Read {
        path: path.clone(),
        error: e.to_string(),
    })?;
    let (new, changed) =
        update_player_state(&old, identity).map_err(|error| IdentityError::Parse {
            path: path.clone(),
            error,
        })?;
    if changed.is_empty() {
        return Ok(SyncReport {
            path,
            changed,
            written: false,
            backup: None,
        });
    }
    atomic::replace_with_hook(&path, &new, true, hook).map_err(|e| IdentityError::Write {
        path: path.clone(),
        error: e.to_string(),
    })?;
    Ok(SyncReport {
        backup: Some(atomic::sibling(&path, ".bak")),
        path,
        changed,
        written: true,
    })
}

/// The top-level members of a JSON object, values borrowed from the text.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Members<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object at the top level")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V).map_err(de::Error::custom)
    }
}

/// The new file content and the keys changed, or why the old content is
/// not a JSON object. Pure: the file system is the caller's.
pub fn update_player_state(
    old: &[u8],
    identity: &Identity,
) -> Result<(Vec<u8>, Vec<String>), String> {
    const BOM: &str = "\u{feff}";
    let text = std::str::from_utf8(old).map_err(|e| format!("not UTF-8 text: {e}"))?;
    let (bom, body) = match text.strip_prefix(BOM) {
        Some(rest) => (BOM, rest),
        None => ("", text),
    };
    let members: Members<'_> = serde_json::from_str(body).map_err(|e| e.to_string())?;
    let members = members.0;
    let find = |key: &str| members.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
    let parsed = |raw: &RawValue| serde_json::from_str::<Value>(raw.get()).unwrap_or(Value::Null);

    let new_steam_id = identity
        .steam_id
        .map(|id| id.to_string())
        .unwrap_or_default();
    let old_steam_id = find(STEAM_ID).map(|v| match parsed(v) {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    });
    // A failed avatar fetch keeps the photo already there, but only while
    // it is the same Steam user's.
    let photo = match (&identity.avatar_url, find(PROFILE_PHOTO_URL).map(parsed)) {
        (Some(url), _) => url.clone(),
        (None, Some(Value::String(old)))
            if !new_steam_id.is_empty() && old_steam_id.as_deref() == Some(&new_steam_id) =>
        {
            old
        }
        (None, _) => String::new(),
    };
    let mut wanted: Vec<(&str, Value)> = vec![
        (STEAM_ID, Value::String(new_steam_id.clone())),
        (PROFILE_NAME, Value::String(identity.name.clone())),
        (PROFILE_PHOTO_URL, Value::String(photo)),
    ];
    for key in ID_KEYS {
        let missing = match find(key).map(parsed) {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(_) => false,
        };
        if missing {
            wanted.push((key, Value::String(identity.player_id.clone())));
        }
    }

    set_members_parsed(bom, body, &members, &wanted)
}

/// Sets top-level members of the JSON object `old` to `wanted`, in place:
/// a member that exists gets its new value where it stands (a number stays
/// a number when the new value is a string of digits), a missing one is
/// appended in the file's style, and every other byte (unknown keys, their
/// order, formatting, a byte-order mark) stays as it was. Returns the new
/// content and the keys that changed; `old` unchanged and no keys when
/// nothing differs. Fails, saying why, when `old` is not a JSON object.
/// Pure: the file system is the caller's.
pub(crate) fn set_members(
    old: &[u8],
    wanted: &[(&str, Value)],
) -> Result<(Vec<u8>, Vec<String>), String> {
    const BOM: &str = "\u{feff}";
    let text = std::str::from_utf8(old).map_err(|e| format!("not UTF-8 text: {e}"))?;
    let (bom, body) = match text.strip_prefix(BOM) {
        Some(rest) => (BOM, rest),
        None => ("", text),
    };
    let members: Members<'_> = serde_json::from_str(body).map_err(|e| e.to_string())?;
    set_members_parsed(bom, body, &members.0, wanted)
}

/// [`set_members`] on text already split from its BOM and parsed.
fn set_members_parsed(
    bom: &str,
    body: &str,
    members: &[(String, &RawValue)],
    wanted: &[(&str, Value)],
) -> Result<(Vec<u8>, Vec<String>), String> {
    let offset = |raw: &RawValue| raw.get().as_ptr() as usize - body.as_ptr() as usize;
    let parsed = |raw: &RawValue| serde_json::from_str::<Value>(raw.get()).unwrap_or(Value::Null);
    // Replace changed values where they stand; remember what to append.
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut changed: Vec<String> = Vec::new();
    let mut appended: Vec<(&str, String)> = Vec::new();
    for (key, value) in wanted {
        let occurrences: Vec<&RawValue> = members
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| *v)
            .collect();
        if occurrences.is_empty() {
            appended.push((key, value.to_string()));
            changed.push(key.to_string());
            continue;
        }
        for raw in occurrences {
            if parsed(raw) == *value {
                continue;
            }
            // Keep a number a number (the game may store the id as one).
            let text = match (parsed(raw), value) {
                (Value::Number(_), Value::String(s))
                    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    s.clone()
                }
                _ => value.to_string(),
            };
            let start = offset(raw);
            edits.push((start, start + raw.get().len(), text));
            if !changed.iter().any(|c| c == key) {
                changed.push(key.to_string());
            }
        }
    }
    if changed.is_empty() {
        return Ok((format!("{bom}{body}").into_bytes(), changed));
    }

    if !appended.is_empty() {
        let at = match members.last() {
            Some((_, raw)) => offset(raw) + raw.get().len(),
            // `{}`: before the closing brace.
            None => body.rfind('}').unwrap_or(body.len()),
        };
        edits.push((at, at, appended_text(body, members, &appended, offset)));
    }
    edits.sort_by_key(|e| e.0);
    let mut out = String::with_capacity(body.len() + 256);
    out.push_str(bom);
    let mut at = 0;
    for (start, end, text) in edits {
        out.push_str(&body[at..start]);
        out.push_str(&text);
        at = end;
    }
    out.push_str(&body[at..]);
    Ok((out.into_bytes(), changed))
}

/// New members written in the style of the last existing one.
fn appended_text(
    body: &str,
    members: &[(String, &RawValue)],
    appended: &[(&str, String)],
    offset: impl Fn(&RawValue) -> usize,
) -> String {
    let mut out = String::new();
    let (sep, colon) = match members.last() {
        Some((_, raw)) => {
            let start = offset(raw);
            let before = &body[..start];
            let colon = if before.trim_end_matches(' ').ends_with(':') && before.ends_with(' ') {
                ": "
            } else {
                ":"
            };
            let line_start = before.rfind('\n').map(|i| i + 1);
            let sep = match line_start {
                Some(ls) => {
                    let indent: String = body[ls..]
                        .chars()
                        .take_while(|c| *c == ' ' || *c == '\t')
                        .collect();
                    let newline = if body[..ls].ends_with("\r\n") {
                        "\r\n"
                    } else {
                        "\n"
                    };
                    format!(",{newline}{indent}")
                }
                None => ",".to_string(),
            };
            (sep, colon)
        }
        None => (String::new(), ":"),
    };
    for (i, (key, value)) in appended.iter().enumerate() {
        if i > 0 || !members.is_empty() {
            out.push_str(if sep.is_empty() { "," } else { &sep });
        }
        out.push_str(&Value::String(key.to_string()).to_string());
        out.push_str(colon);
        out.push_str(value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::test_dir::TestDir;
    use crate::identity::Source;

    fn ident(steam_id: Option<u64>, name: &str, avatar: Option<&str>) -> Identity {
        Identity {
            steam_id,
            name: name.into(),
            avatar_url: avatar.map(String::from),
            player_id: "0123456789abcdef0123456789abcdef".into(),
            verified: steam_id.is_some(),
            source: if steam_id.is_some() {
                Source::Steam
            } else {
                Source::Offline
            },
            note: None,
        }
    }

    fn obj(bytes: &[u8]) -> Vec<(String, Value)> {
        let v: serde_json::Map<String, Value> = serde_json::from_slice(bytes).unwrap();
        v.into_iter().collect()
    }

    #[test]
    fn values_are_replaced_in_place_and_the_rest_is_byte_identical() {
        let old = br#"{
  "version": 3,
  "steam-id": "1",
  "ratio": 1.50,
  "profile-name": "Old",
  "profile-photo-url": "https://old/x.jpg",
  "_id": "keep",
  "player-id": "keep-too",
  "nested": {"b": 1, "a": [1, 2]}
}
"#;
        let id = ident(
            Some(76_561_198_000_000_001),
            "Ace \"Q\"",
            Some("https://new/y.jpg"),
        );
        let (new, changed) = update_player_state(old, &id).unwrap();
        let new_text = String::from_utf8(new).unwrap();
        assert_eq!(changed, vec![STEAM_ID, PROFILE_NAME, PROFILE_PHOTO_URL]);
        let expected = String::from_utf8(old.to_vec())
            .unwrap()
            .replace(r#""1""#, r#""76561198000000001""#)
            .replace(r#""Old""#, r#""Ace \"Q\"""#)
            .replace("https://old/x.jpg", "https://new/y.jpg");
        assert_eq!(new_text, expected);
    }

    #[test]
    fn missing_ids_are_appended_in_the_file_style() {
        let old = b"{\r\n    \"a\": 1,\r\n    \"steam-id\": \"\"\r\n}";
        let id = ident(None, "Tester", None);
        let (new, changed) = update_player_state(old, &id).unwrap();
        let text = String::from_utf8(new).unwrap();
        assert_eq!(
            changed,
            vec![PROFILE_NAME, PROFILE_PHOTO_URL, "_id", "player-id"]
        );
        assert_eq!(
            text,
            "{\r\n    \"a\": 1,\r\n    \"steam-id\": \"\",\r\n    \"profile-name\": \"Tester\",\r\n    \
             \"profile-photo-url\": \"\",\r\n    \"_id\": \"0123456789abcdef0123456789abcdef\",\r\n    \
             \"player-id\": \"0123456789abcdef0123456789abcdef\"\r\n}"
        );
        let keys: Vec<String> = obj(text.as_bytes()).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys.len(), 6);
        // Compact files stay compact; an empty object gets members.
        let (new, _) = update_player_state(br#"{"a":1}"#, &id).unwrap();
        assert!(String::from_utf8(new)
            .unwrap()
            .starts_with(r#"{"a":1,"steam-id":"","#));
        let (new, _) = update_player_state(b"{}", &id).unwrap();
        assert_eq!(obj(&new).len(), 5);
    }

    #[test]
    fn the_last_member_can_be_edited_and_followed_by_new_ones() {
        let old = b"{\n  \"a\": [1],\n  \"profile-name\": \"Old\"\n}\n";
        let id = ident(None, "New", None);
        let (new, _) = update_player_state(old, &id).unwrap();
        let text = String::from_utf8(new).unwrap();
        assert!(
            text.starts_with(
                "{\n  \"a\": [1],\n  \"profile-name\": \"New\",\n  \"steam-id\": \"\",\n"
            ),
            "{text}"
        );
        assert!(text.ends_with("\"\n}\n"), "{text}");
        assert_eq!(obj(text.as_bytes()).len(), 6);
    }

    #[test]
    fn a_numeric_steam_id_stays_a_number_and_a_bom_survives() {
        let old = "\u{feff}{\"steam-id\": 5, \"profile-name\": \"x\"}".as_bytes();
        let id = ident(Some(76_561_198_000_000_001), "x", None);
        let (new, changed) = update_player_state(old, &id).unwrap();
        let text = String::from_utf8(new).unwrap();
        assert!(text.starts_with('\u{feff}'));
        assert!(text.contains("\"steam-id\": 76561198000000001,"), "{text}");
        assert_eq!(changed[0], STEAM_ID);
    }

    #[test]
    fn the_old_photo_stays_only_for_the_same_steam_user() {
        let old = br#"{"steam-id":"7","profile-name":"A","profile-photo-url":"https://p/7.jpg","_id":"i","player-id":"p"}"#;
        let (new, changed) = update_player_state(old, &ident(Some(7), "A", None)).unwrap();
        assert!(changed.is_empty());
        assert_eq!(new, old.to_vec());
        let (new, changed) = update_player_state(old, &ident(Some(8), "A", None)).unwrap();
        assert_eq!(changed, vec![STEAM_ID, PROFILE_PHOTO_URL]);
        assert!(String::from_utf8(new)
            .unwrap()
            .contains(r#""profile-photo-url":"""#));
    }

    #[test]
    fn not_an_object_is_an_error() {
        let id = ident(None, "T", None);
        for bad in [&b"[1,2]"[..], b"{\"a\": ", b"", b"\xff\xfe", b"{\"a\":1} x"] {
            assert!(update_player_state(bad, &id).is_err(), "{bad:?}");
        }
    }

    fn game_dir(root: &Path, content: &[u8]) -> PathBuf {
        let mut p = root.join(DATA_DIR_NAME);
        for f in STATE_FOLDERS {
            p.push(f);
        }
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join(PLAYER_STATE_FILE), content).unwrap();
        p.join(PLAYER_STATE_FILE)
    }

    #[test]
    fn missing_folders_are_reported_not_created() {
        let dir = TestDir::new("ps-missing");
        std::fs::create_dir_all(dir.path().join(DATA_DIR_NAME).join("StreamingAssets/game"))
            .unwrap();
        let err = sync_player_state(dir.path(), &ident(None, "T", None)).unwrap_err();
        let expected = dir
            .path()
            .join(DATA_DIR_NAME)
            .join("StreamingAssets/game/storage");
        assert_eq!(
            err,
            IdentityError::FolderMissing {
                path: expected.clone()
            }
        );
        assert!(!expected.exists());
        let err = sync_player_state(&dir.path().join("nope"), &ident(None, "T", None)).unwrap_err();
        assert!(matches!(err, IdentityError::FolderMissing { .. }));
        let empty = TestDir::new("ps-notgame");
        let err = sync_player_state(empty.path(), &ident(None, "T", None)).unwrap_err();
        assert!(matches!(err, IdentityError::NotAGameDir { .. }), "{err}");
    }

    #[test]
    fn the_data_folder_itself_is_accepted() {
        let dir = TestDir::new("ps-datadir");
        let file = game_dir(dir.path(), br#"{"a":1}"#);
        let report =
            sync_player_state(&dir.path().join(DATA_DIR_NAME), &ident(None, "T", None)).unwrap();
        assert_eq!(report.path, file);
        assert!(report.written);
    }

    const CRASH_ENV: &str = "PROPWASH_TEST_CRASH_GAME_DIR";

    /// Run by `a_crash_mid_write_leaves_the_old_file` in a child process:
    /// dies (abort, no unwinding, no cleanup) with half the new file written.
    #[test]
    #[ignore = "child of a_crash_mid_write_leaves_the_old_file; run through it"]
    fn crash_child() {
        let dir = std::env::var_os(CRASH_ENV).expect("run by the parent test");
        let _ = sync_with_hook(Path::new(&dir), &ident(Some(9), "Crash", None), &mut |s| {
            if s == Stage::TempHalfWritten {
                std::process::abort();
            }
            Ok(())
        });
        unreachable!("the hook aborts the process");
    }

    #[test]
    fn a_crash_mid_write_leaves_the_old_file() {
        let dir = TestDir::new("ps-crash");
        let old = br#"{"keep":"me","steam-id":"1","profile-name":"Old","profile-photo-url":"","_id":"a","player-id":"b"}"#;
        let file = game_dir(dir.path(), old);
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "identity::player_state::tests::crash_child",
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
        // The crash happened with the new file half written beside the old.
        let tmp = atomic::sibling(&file, ".tmp");
        let half = std::fs::read(&tmp).expect("the half-written temporary is left by the crash");
        assert!(!half.is_empty() && serde_json::from_slice::<Value>(&half).is_err());
        assert_eq!(std::fs::read(&file).unwrap(), old.to_vec());
        assert!(!atomic::sibling(&file, ".bak").exists());
        // The next sync ignores the leftover and replaces it.
        let report = sync_player_state(dir.path(), &ident(Some(9), "Crash", None)).unwrap();
        assert!(report.written);
        assert!(!tmp.exists());
        assert_eq!(
            std::fs::read(atomic::sibling(&file, ".bak")).unwrap(),
            old.to_vec()
        );
        let now = std::fs::read_to_string(&file).unwrap();
        assert!(now.starts_with(r#"{"keep":"me","steam-id":"9","#), "{now}");
    }
}
