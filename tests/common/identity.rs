//! Copies of the fixture game folders (tests/fixtures/identity) and a look
//! at player-state.json, for the identity tests.

use std::path::{Path, PathBuf};

use serde::de::{MapAccess, Visitor};
use serde_json::Value;

use super::scratch::{copy_dir, Scratch};

/// player-state.json inside "DRL Simulator_Data".
pub(crate) const STATE: &str =
    "StreamingAssets/game/storage/offline/state/player/player-state.json";

/// tests/fixtures/identity.
pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/identity")
}

/// A copy of a fixture game folder; returns (folder guard, install dir, state file).
pub(crate) fn game_fixture(name: &str) -> (Scratch, PathBuf, PathBuf) {
    let dir = Scratch::new(name);
    let install = dir.path().join("DRL Simulator");
    copy_dir(&fixtures().join(name), &install);
    let file = install.join("DRL Simulator_Data").join(STATE);
    (dir, install, file)
}

/// Top-level members in file order.
pub(crate) fn members(text: &str) -> Vec<(String, Value)> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<(String, Value)>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
            let mut out = Vec::new();
            while let Some(e) = m.next_entry()? {
                out.push(e);
            }
            Ok(out)
        }
    }
    let mut d = serde_json::Deserializer::from_str(text);
    serde::Deserializer::deserialize_map(&mut d, V).unwrap()
}

/// Asserts that `after` (player-state.json synced) has `before`'s members in
/// the same order with the same values, but for steam-id, profile-name and
/// profile-photo-url, whose new values `check` gets.
#[track_caller]
pub(crate) fn assert_only_identity_changed(
    before: &str,
    after: &str,
    check: impl Fn(&str, &Value),
) {
    let (old, new) = (members(before), members(after));
    let old_keys: Vec<&String> = old.iter().map(|m| &m.0).collect();
    let new_keys: Vec<&String> = new.iter().map(|m| &m.0).collect();
    assert_eq!(old_keys, new_keys);
    for ((k, a), (_, b)) in old.iter().zip(&new) {
        match k.as_str() {
            "steam-id" | "profile-name" | "profile-photo-url" => check(k, b),
            _ => assert_eq!(a, b, "{k}"),
        }
    }
}
