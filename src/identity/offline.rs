//! The identity without Steam: a random id made once and kept in
//! `propwash-identity.json` beside the plugin's config, and the configured
//! name. Nobody vouches for it, so it always reports `verified: false`.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{atomic, AuthTicket, Identity, IdentityError, IdentityProvider, Source};
use crate::proto::control::MAX_NAME_BYTES;

/// Name of the file holding the offline id, in the config folder.
pub const ID_FILE: &str = "propwash-identity.json";

#[derive(Serialize, Deserialize)]
struct IdFile {
    player_id: String,
}

/// The offline identity provider.
#[derive(Clone, Debug)]
pub struct OfflineProvider {
    player_id: String,
    name: String,
    note: Option<String>,
}

impl OfflineProvider {
    /// Reads the id from `config_dir/propwash-identity.json`, making and
    /// saving a new one when the file does not exist yet. A file that does
    /// not parse is left alone and reported.
    pub fn open(config_dir: &Path, name: Option<String>) -> Result<OfflineProvider, IdentityError> {
        if !config_dir.is_dir() {
            return Err(IdentityError::FolderMissing {
                path: config_dir.to_path_buf(),
            });
        }
        let path = config_dir.join(ID_FILE);
        let player_id = match fs::read(&path) {
            Ok(bytes) => {
                let file: IdFile =
                    serde_json::from_slice(&bytes).map_err(|e| IdentityError::Parse {
                        path: path.clone(),
                        error: e.to_string(),
                    })?;
                if !is_player_id(&file.player_id) {
                    return Err(IdentityError::Parse {
                        path,
                        error: format!(
                            "player_id {:?} is not 32 lowercase hex digits",
                            file.player_id
                        ),
                    });
                }
                file.player_id
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let player_id = random_player_id();
                let json = serde_json::to_vec_pretty(&IdFile {
                    player_id: player_id.clone(),
                })
                .unwrap_or_default();
                atomic::replace(&path, &json, false).map_err(|e| IdentityError::Write {
                    path: path.clone(),
                    error: e.to_string(),
                })?;
                tracing::info!(path = %path.display(), "made a new offline player id");
                player_id
            }
            Err(e) => {
                return Err(IdentityError::Read {
                    path,
                    error: e.to_string(),
                })
            }
        };
        Ok(OfflineProvider::with_id(player_id, name))
    }

    /// [`open`](Self::open), or, when the id cannot be read or saved, a
    /// fresh id for this run only, with a note saying why.
    pub fn open_or_ephemeral(config_dir: &Path, name: Option<String>) -> OfflineProvider {
        match OfflineProvider::open(config_dir, name.clone()) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "offline id not kept; using one for this run only");
                OfflineProvider::with_id(random_player_id(), name)
                    .with_note(&format!("player id not kept: {e}"))
            }
        }
    }

    fn with_id(player_id: String, name: Option<String>) -> OfflineProvider {
        let name = name
            .as_deref()
            .map(clean_name)
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("Pilot-{}", &player_id[..4]));
        OfflineProvider {
            player_id,
            name,
            note: None,
        }
    }

    /// Adds a reason to the note the identity carries.
    pub fn with_note(mut self, note: &str) -> OfflineProvider {
        self.note = Some(match self.note.take() {
            Some(old) => format!("{note}; {old}"),
            None => note.to_string(),
        });
        self
    }

    /// The stable player id.
    pub fn player_id(&self) -> &str {
        &self.player_id
    }
}

impl IdentityProvider for OfflineProvider {
    fn identity(&self) -> Identity {
        Identity {
            steam_id: None,
            name: self.name.clone(),
            avatar_url: None,
            player_id: self.player_id.clone(),
            verified: false,
            source: Source::Offline,
            note: self.note.clone(),
        }
    }

    fn auth_ticket(&self, _for_host: u64) -> Option<AuthTicket> {
        None
    }

    fn cancel_ticket(&self, _ticket: &AuthTicket) {}

    fn owns_app(&self, _app_id: u32) -> Result<bool, String> {
        Err(match &self.note {
            Some(why) => format!("no Steam to ask (offline identity: {why})"),
            None => "no Steam to ask (offline identity)".into(),
        })
    }
}

fn is_player_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Trims, drops control characters and cuts to the protocol's name limit.
pub(crate) fn clean_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > MAX_NAME_BYTES {
            break;
        }
        out.push(c);
    }
    out
}

/// 16 random bytes from the operating system, as 32 hex digits.
fn random_player_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::getrandom(&mut bytes).is_err() {
        // No OS randomness (should not happen on the game's platforms): mix
        // the per-process hash keys, the time and the pid instead.
        use sha2::{Digest, Sha256};
        use std::hash::{BuildHasher, Hasher};
        let mut h = Sha256::new();
        let mut s = std::collections::hash_map::RandomState::new().build_hasher();
        s.write_u32(std::process::id());
        h.update(s.finish().to_be_bytes());
        h.update(format!("{:?}", std::time::SystemTime::now()).as_bytes());
        bytes.copy_from_slice(&h.finalize()[..16]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::test_dir::TestDir;

    #[test]
    fn the_id_is_made_once_and_kept() {
        let dir = TestDir::new("offline-id");
        let a = OfflineProvider::open(dir.path(), Some("Tester".into())).unwrap();
        let b = OfflineProvider::open(dir.path(), None).unwrap();
        assert!(is_player_id(a.player_id()));
        assert_eq!(a.player_id(), b.player_id());
        let ida = a.identity();
        assert_eq!(ida.name, "Tester");
        assert!(!ida.verified);
        assert_eq!(ida.source, Source::Offline);
        assert_eq!(b.identity().name, format!("Pilot-{}", &a.player_id()[..4]));
        let other = TestDir::new("offline-id-other");
        let c = OfflineProvider::open(other.path(), None).unwrap();
        assert_ne!(a.player_id(), c.player_id());
    }

    #[test]
    fn a_corrupt_id_file_is_left_alone_and_reported() {
        let dir = TestDir::new("offline-corrupt");
        let path = dir.path().join(ID_FILE);
        fs::write(&path, b"{\"player_id\": 12").unwrap();
        let err = OfflineProvider::open(dir.path(), None).unwrap_err();
        assert!(matches!(err, IdentityError::Parse { .. }), "{err}");
        assert!(err.to_string().contains(ID_FILE), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"{\"player_id\": 12");
        let p = OfflineProvider::open_or_ephemeral(dir.path(), None);
        let note = p.identity().note.unwrap();
        assert!(note.contains("not kept"), "{note}");
        assert_eq!(fs::read(&path).unwrap(), b"{\"player_id\": 12");
    }

    #[test]
    fn a_missing_config_folder_is_reported_not_created() {
        let dir = TestDir::new("offline-missing");
        let missing = dir.path().join("nope");
        let err = OfflineProvider::open(&missing, None).unwrap_err();
        assert_eq!(
            err,
            IdentityError::FolderMissing {
                path: missing.clone()
            }
        );
        assert!(!missing.exists());
    }

    #[test]
    fn names_are_cleaned_and_cut() {
        assert_eq!(clean_name("  Ace\u{7}Pilot \n"), "AcePilot");
        let long = "é".repeat(40);
        let cut = clean_name(&long);
        assert!(
            cut.len() <= MAX_NAME_BYTES && cut.len() == 64,
            "{}",
            cut.len()
        );
    }
}
