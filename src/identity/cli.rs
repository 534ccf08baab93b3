//! `propwash identity ...`: show the identity the library would use, and
//! write it into the game's `player-state.json`.
//!
//! ```text
//! propwash identity show [--offline] [--name NAME] [--config-dir DIR]
//!                        [--steam-plugin PATH] [--app-id N] [--no-avatar]
//! propwash identity sync --game-dir DIR [--offline] [--name NAME] [--config-dir DIR]
//!                        [--steam-plugin PATH] [--app-id N] [--no-avatar]
//! ```
//!
//! Exit status: 0 done, 1 failed (the message names the file), 2 usage.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{avatar, player_state, provider, IdentityConfig, Source};

/// Environment variable naming the config folder when `--config-dir` is not given.
pub const CONFIG_DIR_ENV: &str = "PROPWASH_CONFIG_DIR";

const USAGE: &str = "usage:
  propwash identity show [--offline] [--name NAME] [--config-dir DIR] [--steam-plugin PATH] [--app-id N] [--no-avatar]
  propwash identity sync --game-dir DIR [--offline] [--name NAME] [--config-dir DIR] [--steam-plugin PATH] [--app-id N] [--no-avatar]

  show   prints the identity propwash would use, as JSON
  sync   writes it into <game>/DRL Simulator_Data/StreamingAssets/game/storage/offline/state/player/player-state.json
         (--game-dir: the install folder holding \"DRL Simulator_Data\", or that folder itself)
  --offline       do not try Steam; --name sets the offline name
  --config-dir    where propwash-identity.json (the offline id) lives; default: $PROPWASH_CONFIG_DIR,
                  then <game>/BepInEx/config when it exists, then the user's config folder
  --steam-plugin  the propwash-steam plugin file (default: beside propwash)
  --app-id        Steam app id (default 641780, DRL Simulator; 0 lets Steam decide)
  --no-avatar     do not fetch the avatar URL from Steam Community";

/// Runs `propwash identity <args>` (the arguments after `identity`),
/// printing to stdout and stderr; returns the exit status.
pub fn cli_main(args: &[String]) -> i32 {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    cli_run(args, &mut stdout.lock(), &mut stderr.lock())
}

/// [`cli_main`] writing to the given streams.
pub fn cli_run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    if matches!(
        args.first().map(String::as_str),
        Some("-h" | "--help" | "help")
    ) {
        let _ = writeln!(out, "{USAGE}");
        return 0;
    }
    match parse(args) {
        Ok(cmd) => run(cmd, out, err),
        Err(msg) => {
            let _ = writeln!(err, "propwash identity: {msg}\n{USAGE}");
            2
        }
    }
}

#[derive(Debug, Default)]
struct Options {
    sync: bool,
    game_dir: Option<PathBuf>,
    offline: bool,
    name: Option<String>,
    config_dir: Option<PathBuf>,
    steam_plugin: Option<PathBuf>,
    app_id: Option<u32>,
    no_avatar: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        Some("show") => {}
        Some("sync") => o.sync = true,
        Some(other) => return Err(format!("unknown command {other:?}")),
        None => return Err("missing command".into()),
    }
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match a.as_str() {
            "--offline" => o.offline = true,
            "--no-avatar" => o.no_avatar = true,
            "--name" => o.name = Some(value("--name")?),
            "--game-dir" => o.game_dir = Some(value("--game-dir")?.into()),
            "--config-dir" => o.config_dir = Some(value("--config-dir")?.into()),
            "--steam-plugin" => o.steam_plugin = Some(value("--steam-plugin")?.into()),
            "--app-id" => {
                let v = value("--app-id")?;
                o.app_id = Some(
                    v.parse()
                        .map_err(|_| format!("--app-id {v:?} is not a number"))?,
                );
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if o.sync && o.game_dir.is_none() {
        return Err("sync needs --game-dir".into());
    }
    if !o.sync && o.game_dir.is_some() {
        return Err("--game-dir is for sync".into());
    }
    Ok(o)
}

fn run(o: Options, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let config_dir = match config_dir(&o) {
        Ok(d) => d,
        Err(msg) => {
            let _ = writeln!(err, "propwash identity: {msg}");
            return 1;
        }
    };
    let mut config = IdentityConfig::new(config_dir);
    config.name = o.name.clone();
    config.offline = o.offline;
    config.steam_plugin = o.steam_plugin.clone();
    if let Some(id) = o.app_id {
        config.app_id = id;
    }
    let mut identity = provider(&config).identity();
    if let (Source::Steam, Some(id), false) = (identity.source, identity.steam_id, o.no_avatar) {
        identity.avatar_url = avatar::refresh_avatar_url(id);
    }
    if !o.sync {
        let json = serde_json::to_string_pretty(&identity).unwrap_or_default();
        let _ = writeln!(out, "{json}");
        return 0;
    }
    let game_dir = o.game_dir.unwrap_or_default();
    match player_state::sync_player_state(&game_dir, &identity) {
        Ok(r) => {
            let who = match identity.steam_id {
                Some(id) => format!("{} (Steam {id})", identity.name),
                None => format!("{} (offline)", identity.name),
            };
            let _ = writeln!(out, "player-state.json: {}", r.path.display());
            let _ = writeln!(out, "identity: {who}");
            if let Some(note) = &identity.note {
                let _ = writeln!(out, "note: {note}");
            }
            if r.written {
                let _ = writeln!(out, "changed: {}", r.changed.join(", "));
                if let Some(b) = &r.backup {
                    let _ = writeln!(out, "backup: {}", b.display());
                }
            } else {
                let _ = writeln!(out, "already up to date; nothing written");
            }
            0
        }
        Err(e) => {
            let _ = writeln!(err, "propwash identity sync: {e}");
            1
        }
    }
}

/// `--config-dir`, `$PROPWASH_CONFIG_DIR`, `<install>/BepInEx/config` when
/// it exists, or the user's config folder (created: it is ours).
fn config_dir(o: &Options) -> Result<PathBuf, String> {
    if let Some(d) = &o.config_dir {
        return Ok(d.clone());
    }
    if let Some(d) = std::env::var_os(CONFIG_DIR_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    if let Some(game) = &o.game_dir {
        let install = if game.join(player_state::DATA_DIR_NAME).is_dir() {
            Some(game.as_path())
        } else {
            game.parent()
        };
        if let Some(bepinex) = install.map(|i| i.join("BepInEx").join("config")) {
            if bepinex.is_dir() {
                return Ok(bepinex);
            }
        }
    }
    let dir = user_config_dir()
        .ok_or("no config folder: pass --config-dir or set PROPWASH_CONFIG_DIR")?
        .join("propwash");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    Ok(dir)
}

fn user_config_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if cfg!(windows) {
        env("APPDATA")
    } else if cfg!(target_os = "macos") {
        env("HOME").map(|h| h.join("Library").join("Application Support"))
    } else {
        env("XDG_CONFIG_HOME").or_else(|| env("HOME").map(|h| Path::new(&h).join(".config")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn usage_errors_exit_2_and_say_why() {
        for (a, why) in [
            (&[][..], "missing command"),
            (&["frobnicate"][..], "unknown command"),
            (&["sync"][..], "sync needs --game-dir"),
            (&["sync", "--game-dir"][..], "--game-dir needs a value"),
            (&["show", "--bogus"][..], "unknown option"),
            (&["show", "--app-id", "x"][..], "not a number"),
        ] {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            assert_eq!(cli_run(&args(a), &mut out, &mut err), 2, "{a:?}");
            let err = String::from_utf8(err).unwrap();
            assert!(err.contains(why), "{a:?}: {err}");
            assert!(err.contains("usage:"), "{err}");
            assert!(out.is_empty());
        }
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(cli_run(&args(&["--help"]), &mut out, &mut err), 0);
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("propwash identity sync"));
    }
}
