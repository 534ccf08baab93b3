//! Who a racer is. With Steam: the Steam id, persona name and avatar, and a
//! host that checks a joiner's Steam auth ticket before seating them. Without
//! Steam: a stable random id kept beside the plugin's config and a name from
//! the config, reported as `verified: false`.
//!
//! Steam lives in a separate plugin library (`propwash-steam`) loaded at run
//! time, so this library loads and works where steam_api is absent; see
//! [`steam`]. Everything that talks to Steam sits behind [`IdentityProvider`]
//! and [`verify::TicketVerifier`], so the rest is tested with fakes.
//!
//! Nothing here is for the game thread: loading Steam, fetching the avatar
//! and rewriting `player-state.json` can each take a moment.

pub(crate) mod atomic;
pub mod avatar;
pub mod cli;
mod offline;
pub mod player_state;
pub mod steam;
pub mod verify;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use offline::{OfflineProvider, ID_FILE};
pub use player_state::{sync_player_state, SyncReport};
pub use steam::{SteamPlugin, SteamProvider, SteamUnavailable, SteamVerifier};
pub use verify::{
    decide_seat, FakeAnswer, FakeVerifier, JoinGate, RefuseKind, SeatDecision, SeatQuery,
    TicketVerifier, Verification, VerifyError, VerifyState,
};

/// DRL Simulator's Steam app id.
pub const DRL_APP_ID: u32 = 641_780;

/// How long Steam may take to start before we give up and go offline.
pub const STEAM_INIT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where an identity came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The Steam client vouched for it.
    Steam,
    /// Made up locally; nobody vouches for it.
    Offline,
}

/// The identity this game presents: what `propwash identity show` prints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// 64-bit Steam id; JSON carries it as a decimal string, since it does
    /// not fit a double.
    #[serde(with = "steam_id_text")]
    pub steam_id: Option<u64>,
    /// Display name (Steam persona name, or the configured name).
    pub name: String,
    /// Public profile picture URL, when known.
    pub avatar_url: Option<String>,
    /// propwash's stable id for this install (32 hex digits).
    pub player_id: String,
    /// True when Steam vouches for this identity.
    pub verified: bool,
    /// Steam or offline.
    pub source: Source,
    /// Why the identity is offline, when it is.
    pub note: Option<String>,
}

impl Identity {
    /// The identity as one line of JSON.
    pub fn to_json(&self) -> String {
        // Plain strings, numbers and options: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

mod steam_id_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(id: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match id {
            Some(id) => s.serialize_str(&id.to_string()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| t.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// A Steam auth session ticket we handed out, to send in our hello.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthTicket {
    /// The ticket bytes (Steam's are a few hundred bytes).
    pub bytes: Vec<u8>,
    /// The handle to cancel it with.
    pub handle: u32,
}

/// Makes our Steam auth ticket for one host, named by its Steam id, when
/// its challenge arrives: a ticket minted for that identity is refused by
/// Steam anywhere else, so a host cannot replay it to another room as us.
/// `None`: Steam gave none (we join unverified).
#[derive(Clone)]
pub struct TicketMinter(Arc<dyn Fn(u64) -> Option<Vec<u8>> + Send + Sync>);

impl TicketMinter {
    /// A minter calling `mint` with the host's Steam id.
    pub fn new(mint: impl Fn(u64) -> Option<Vec<u8>> + Send + Sync + 'static) -> Self {
        TicketMinter(Arc::new(mint))
    }

    /// A fresh ticket for the host `host_steam_id`.
    pub fn mint(&self, host_steam_id: u64) -> Option<Vec<u8>> {
        (self.0)(host_steam_id)
    }
}

impl fmt::Debug for TicketMinter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TicketMinter")
    }
}

/// Gives the local player's identity and, with Steam, auth tickets.
pub trait IdentityProvider: Send + Sync {
    /// The identity to present now (cheap: no network, no disk).
    fn identity(&self) -> Identity;
    /// A fresh auth ticket for joining the host whose Steam id is
    /// `for_host` (so the ticket cannot be replayed to another host);
    /// `None` without Steam.
    fn auth_ticket(&self, for_host: u64) -> Option<AuthTicket>;
    /// Cancels a ticket once we left the room it was for.
    fn cancel_ticket(&self, ticket: &AuthTicket);
    /// Whether Steam says this account owns `app_id` (a license), or why
    /// nobody can say: without Steam there is no one to ask.
    fn owns_app(&self, app_id: u32) -> Result<bool, String> {
        let _ = app_id;
        Err("there is no Steam to ask (offline identity)".into())
    }
}

/// What the caller (the shim's config, or the command line) tells us.
#[derive(Clone, Debug)]
pub struct IdentityConfig {
    /// The folder of the plugin's config; the offline id file lives here.
    pub config_dir: PathBuf,
    /// The configured display name (offline; ignored with Steam).
    pub name: Option<String>,
    /// Do not try Steam at all.
    pub offline: bool,
    /// Steam app id; 0 leaves it to Steam (`SteamAppId` / `steam_appid.txt`).
    pub app_id: u32,
    /// The Steam plugin's path; `None` searches the usual places
    /// ([`steam::plugin_candidates`]).
    pub steam_plugin: Option<PathBuf>,
    /// How long Steam may take to start.
    pub init_timeout: Duration,
}

impl IdentityConfig {
    /// Defaults for DRL Simulator with the id file in `config_dir`.
    pub fn new(config_dir: impl Into<PathBuf>) -> IdentityConfig {
        IdentityConfig {
            config_dir: config_dir.into(),
            name: None,
            offline: false,
            app_id: DRL_APP_ID,
            steam_plugin: None,
            init_timeout: STEAM_INIT_TIMEOUT,
        }
    }
}

/// What [`start`] gives: the local identity, and the means to check joiners
/// when hosting.
pub struct Started {
    /// The local player's identity and auth tickets.
    pub provider: Box<dyn IdentityProvider>,
    /// Checks joiners' Steam tickets when hosting, or why this host cannot
    /// (hand it to [`JoinGate::new`]).
    pub verifier: Result<SteamVerifier, String>,
}

/// Starts identity: Steam when it starts, otherwise offline with a note
/// saying why (also logged as a warning). Never fails and never waits longer
/// than `config.init_timeout` for Steam. Call it once and keep the result:
/// Steam starts once per process.
pub fn start(config: &IdentityConfig) -> Started {
    let offline = OfflineProvider::open_or_ephemeral(&config.config_dir, config.name.clone());
    if config.offline {
        return Started {
            provider: Box::new(offline.with_note("offline mode was asked for")),
            verifier: Err("this host runs without Steam (offline mode)".into()),
        };
    }
    match SteamProvider::start(config, offline.player_id().to_string()) {
        Ok(p) => {
            tracing::info!(steam_id = p.steam_id(), "identity from Steam");
            Started {
                verifier: Ok(p.verifier()),
                provider: Box::new(p),
            }
        }
        Err(why) => {
            tracing::warn!(%why, "Steam unavailable, using the offline identity");
            Started {
                provider: Box::new(offline.with_note(&format!("Steam unavailable: {why}"))),
                verifier: Err(format!("Steam unavailable on the host: {why}")),
            }
        }
    }
}

/// The local identity provider of [`start`].
pub fn provider(config: &IdentityConfig) -> Box<dyn IdentityProvider> {
    start(config).provider
}

/// The identity the library would use now (see [`start`]).
pub fn current(config: &IdentityConfig) -> Identity {
    provider(config).identity()
}

/// Errors of the identity files, each naming the path it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdentityError {
    /// The game folder is neither the install folder (holding
    /// `DRL Simulator_Data`) nor the data folder itself.
    NotAGameDir {
        /// The folder given.
        path: PathBuf,
    },
    /// A folder that should exist does not (we do not create the game's).
    FolderMissing {
        /// The missing folder.
        path: PathBuf,
    },
    /// The file does not exist.
    FileMissing {
        /// The missing file.
        path: PathBuf,
    },
    /// Reading failed.
    Read {
        /// The file.
        path: PathBuf,
        /// The system's words.
        error: String,
    },
    /// The file is not the JSON we expect; it was left untouched.
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        error: String,
    },
    /// Writing failed; the old file is still in place.
    Write {
        /// The file.
        path: PathBuf,
        /// The system's words.
        error: String,
    },
}

impl IdentityError {
    /// The path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            IdentityError::NotAGameDir { path }
            | IdentityError::FolderMissing { path }
            | IdentityError::FileMissing { path }
            | IdentityError::Read { path, .. }
            | IdentityError::Parse { path, .. }
            | IdentityError::Write { path, .. } => path,
        }
    }
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityError::NotAGameDir { path } => write!(
                f,
                "{}: not a DRL Simulator folder (expected the install folder holding \
                 \"{}\" or that data folder itself)",
                path.display(),
                player_state::DATA_DIR_NAME
            ),
            IdentityError::FolderMissing { path } => write!(
                f,
                "{}: folder does not exist (start the game once so it creates it)",
                path.display()
            ),
            IdentityError::FileMissing { path } => write!(
                f,
                "{}: file does not exist (start the game once so it creates it)",
                path.display()
            ),
            IdentityError::Read { path, error } => {
                write!(f, "{}: cannot read: {error}", path.display())
            }
            IdentityError::Parse { path, error } => write!(
                f,
                "{}: not valid JSON, left untouched: {error}",
                path.display()
            ),
            IdentityError::Write { path, error } => write!(
                f,
                "{}: cannot write, the old file is unchanged: {error}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for IdentityError {}

#[cfg(test)]
pub(crate) mod test_dir {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A fresh folder under the system temp folder, removed on drop.
    pub(crate) struct TestDir(PathBuf);

    impl TestDir {
        pub(crate) fn new(tag: &str) -> TestDir {
            static N: AtomicU32 = AtomicU32::new(0);
            let p = std::env::temp_dir().join(format!(
                "propwash-{tag}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).expect("create test dir");
            TestDir(p)
        }
        pub(crate) fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TestDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steam_ids_travel_as_text_in_json() {
        let id = Identity {
            steam_id: Some(76_561_198_000_000_001),
            name: "Ace".into(),
            avatar_url: None,
            player_id: "00".repeat(16),
            verified: true,
            source: Source::Steam,
            note: None,
        };
        let json = id.to_json();
        assert!(json.contains(r#""steam_id":"76561198000000001""#), "{json}");
        assert!(json.contains(r#""source":"steam""#), "{json}");
        let back: Identity = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
    }
}
