//! The propwash command line. Thin on purpose: it parses arguments, calls
//! the library and prints. Each subcommand is one arm of the `match` in
//! `main`; `track` and `identity` are the library's own command lines,
//! `package` (the racers' zip) lives beside this file.

#[path = "propwash/package.rs"]
mod package;
#[path = "propwash/pe.rs"]
mod pe;
#[path = "propwash/zip.rs"]
mod zip;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use propwash::demo::{self, DemoConfig, DemoCoordinator, DemoTrack};
use propwash::session::{
    DEFAULT_TRACK_RATE_PER_JOINER, DEFAULT_TRACK_RATE_ROOM, MAX_PILOTS, MAX_SPECTATORS, RATE_RANGE,
};

/// Exit status when the arguments are wrong.
const USAGE_ERROR: u8 = 2;
/// Exit status when a command ran but what it measured went wrong.
const FAILED: u8 = 1;

fn usage() -> String {
    "propwash: community multiplayer for DRL Simulator

Usage: propwash <command> [options]

Commands:
  demo      run a whole room over loopback UDP (host, bot pilots, spectators) and measure it
  track     print, check or generate a custom track folder (manifest, verify, generate)
  identity  show the player identity propwash would use, or write it into the game (show, sync)
  package   make the zip racers unzip into the game folder (Windows DLLs, plugin, README, config)
  help      show this help (also -h, --help)
  version   show the version (also -V, --version)

Run 'propwash help <command>' (or 'propwash <command> --help') for a command's options.
"
    .to_string()
}

fn demo_usage() -> String {
    format!(
        "Usage: propwash demo [--seconds N] [--pilots N] [--spectators N] [--rate HZ] [--json]
                     [--track DIR | --generate-track MIB] [--map ID] [--track-id ID]
                     [--track-rate MIB] [--track-room-rate MIB]
                     [--coordinator IP:PORT|local]

Runs a room on 127.0.0.1: the host (pilot 1), bot pilots flying scripted laps
at {physics} Hz and spectators, each a real session with its own UDP socket and
threads. Shows a live table each second, then what the room delivered.

Options:
  --seconds N      how long the pilots fly (default {secs}, 1 to {max_secs})
  --pilots N       pilots, the host included (default {pilots}, at most {pilots})
  --spectators N   spectators (default {specs}, at most {specs})
  --rate HZ        send and snapshot rate to pilots, {lo} to {hi} (default {rate});
                   spectators get half, at least {lo}
  --json           no live table; the summary as one JSON object on the last line
  -h, --help       show this help

Custom track:
  --track DIR      the host serves this track folder from the start; every other
                   peer downloads it into its own temporary maps folder (removed
                   afterwards) while the room flies, and the run lasts until all
                   have it (at most {track_limit} s, or --seconds if longer).
                   DIR may be a single-file track, the game's <guid>.cmp: every
                   peer then installs it as <guid>.cmp in its own custom tracks'
                   folder (storage/offline/maps)
  --generate-track MIB
                   the same with a generated track of MIB MiB (in a temporary folder)
  --map ID         the track's map id (default: from DIR's place in
                   maps/<map>/custom/<track>, else {map})
  --track-id ID    the track's id (default: DIR's name there, else {track})
  --track-rate MIB the host's track pace per joiner, MiB/s (default {per_joiner})
  --track-room-rate MIB
                   the host's track pace for the whole room, MiB/s (default {room})

Lobby:
  --coordinator IP:PORT|local
                   list the room at this coordinator (UDP; a HOST:PORT is looked
                   up once) and have every joiner find it in the lobby list and
                   join it by id, through the coordinator's introduction and NAT
                   punching (or its relay); 'local' runs a coordinator on
                   127.0.0.1 for the run. The summary then says how long listing,
                   queries and joins took and how many joiners went direct or
                   relayed. A coordinator that does not list the room within
                   {listing} s stops the demo

Exit status: 0 when the room ran cleanly, 1 when it counted errors or an event
was not delivered exactly once, 2 for bad arguments.
",
        physics = demo::PHYSICS_HZ,
        secs = demo::DEFAULT_SECONDS,
        max_secs = demo::MAX_SECONDS,
        pilots = MAX_PILOTS,
        specs = MAX_SPECTATORS,
        lo = RATE_RANGE.start(),
        hi = RATE_RANGE.end(),
        rate = demo::DEFAULT_RATE_HZ,
        track_limit = demo::TRACK_RUN_LIMIT.as_secs(),
        map = demo::DEFAULT_MAP_ID,
        track = demo::DEFAULT_TRACK_ID,
        per_joiner = DEFAULT_TRACK_RATE_PER_JOINER >> 20,
        room = DEFAULT_TRACK_RATE_ROOM >> 20,
        listing = demo::LISTING_LIMIT.as_secs(),
    )
}

/// Writes to stdout, ignoring a closed pipe (`propwash demo | head`).
fn out(text: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(text.as_bytes());
    let _ = o.flush();
}

/// A one-line complaint, then the exit status for bad usage.
fn bad_usage(msg: &str, usage: Option<String>) -> u8 {
    eprintln!("propwash: {msg}");
    if let Some(u) = usage {
        eprint!("\n{u}");
    }
    USAGE_ERROR
}

fn main() -> ExitCode {
    let mut args = Vec::new();
    for a in std::env::args_os().skip(1) {
        match a.into_string() {
            Ok(s) => args.push(s),
            Err(raw) => {
                return ExitCode::from(bad_usage(
                    &format!("argument {raw:?} is not valid UTF-8"),
                    None,
                ))
            }
        }
    }
    let code = match args.first().map(String::as_str) {
        None => bad_usage("no command given", Some(usage())),
        Some("help" | "-h" | "--help") => match args.get(1).map(String::as_str) {
            Some("demo") => {
                out(&demo_usage());
                0
            }
            Some("track") => status(propwash::track::cli::cli_main(&["help".to_string()])),
            Some("identity") => status(propwash::identity::cli::cli_main(&["help".to_string()])),
            Some("package") => {
                out(package::USAGE);
                0
            }
            _ => {
                out(&usage());
                0
            }
        },
        Some("version" | "-V" | "--version") => {
            out(&format!("propwash {}\n", env!("CARGO_PKG_VERSION")));
            0
        }
        Some("demo") => run_demo(&args[1..]),
        Some("track") => status(propwash::track::cli::cli_main(&args[1..])),
        Some("identity") => status(propwash::identity::cli::cli_main(&args[1..])),
        Some("package") => package::cli_main(&args[1..]),
        Some(other) => bad_usage(&format!("unknown command '{other}'"), Some(usage())),
    };
    ExitCode::from(code)
}

/// A library command line's exit status as ours.
fn status(code: i32) -> u8 {
    u8::try_from(code).unwrap_or(FAILED)
}

/// What `propwash demo` was asked to do.
enum DemoArgs {
    Help,
    Run {
        cfg: Box<DemoConfig>,
        json: bool,
        /// Generate a track of this many MiB to serve.
        generate_mib: Option<u64>,
    },
}

/// Parses `--coordinator`'s value: `local`, an `ip:port`, or a
/// `host:port` looked up now (its IPv4 address first). The error names the
/// flag and what it takes.
fn coordinator(value: &str) -> Result<DemoCoordinator, String> {
    use std::net::ToSocketAddrs;
    if let Ok(c) = value.parse::<DemoCoordinator>() {
        return Ok(c);
    }
    let takes = format!("--coordinator expects IP:PORT or 'local', got '{value}'");
    // Only something shaped like host:port is worth a name lookup.
    let shaped = value
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if !shaped {
        return Err(takes);
    }
    match value.to_socket_addrs() {
        Ok(addrs) => {
            let addrs: Vec<_> = addrs.collect();
            addrs
                .iter()
                .find(|a| a.is_ipv4())
                .or(addrs.first())
                .map(|a| DemoCoordinator::At(*a))
                .ok_or(takes)
        }
        Err(e) => Err(format!("--coordinator cannot find '{value}': {e}")),
    }
}

/// Parses a flag's number; the error names the flag and what it takes.
fn number<T: std::str::FromStr>(flag: &str, value: &str, takes: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag} expects {takes}, got '{value}'"))
}

fn parse_demo(args: &[String]) -> Result<DemoArgs, (String, bool)> {
    let mut cfg = DemoConfig::default();
    let mut json = false;
    let mut track_dir: Option<PathBuf> = None;
    let mut generate_mib: Option<u64> = None;
    let (mut map_id, mut track_id) = (None, None);
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        i += 1;
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg, None),
        };
        match flag {
            "-h" | "--help" => return Ok(DemoArgs::Help),
            "--json" if inline.is_none() => json = true,
            "--track" | "--map" | "--track-id" | "--generate-track" | "--track-rate"
            | "--track-room-rate" | "--coordinator" => {
                let value = match inline {
                    Some(v) => v,
                    None => {
                        let Some(v) = args.get(i) else {
                            return Err((format!("{flag} needs a value"), true));
                        };
                        i += 1;
                        v.clone()
                    }
                };
                let mib = |v: &str| -> Result<u64, (String, bool)> {
                    match v.parse::<u64>() {
                        Ok(n) if n > 0 => Ok(n),
                        _ => Err((
                            format!("{flag} expects a whole number of MiB above 0, got '{v}'"),
                            false,
                        )),
                    }
                };
                match flag {
                    "--track" => track_dir = Some(PathBuf::from(value)),
                    "--map" => map_id = Some(value),
                    "--track-id" => track_id = Some(value),
                    "--generate-track" => generate_mib = Some(mib(&value)?),
                    "--track-rate" => cfg.track_rate_per_joiner = Some(mib(&value)? << 20),
                    "--coordinator" => {
                        cfg.coordinator = Some(coordinator(&value).map_err(|e| (e, false))?)
                    }
                    _ => cfg.track_rate_room = Some(mib(&value)? << 20),
                }
            }
            "--seconds" | "--pilots" | "--spectators" | "--rate" => {
                let value = match inline {
                    Some(v) => v,
                    None => {
                        let Some(v) = args.get(i) else {
                            return Err((format!("{flag} needs a value"), true));
                        };
                        i += 1;
                        v.clone()
                    }
                };
                let parsed = match flag {
                    "--seconds" => {
                        number(flag, &value, "a whole number of seconds").map(|v| cfg.seconds = v)
                    }
                    "--pilots" => {
                        number(flag, &value, "a whole number of pilots").map(|v| cfg.pilots = v)
                    }
                    "--spectators" => number(flag, &value, "a whole number of spectators")
                        .map(|v| cfg.spectators = v),
                    _ => number(
                        flag,
                        &value,
                        &format!(
                            "a whole number of Hz from {} to {}",
                            RATE_RANGE.start(),
                            RATE_RANGE.end()
                        ),
                    )
                    .map(|v| cfg.rate_hz = v),
                };
                parsed.map_err(|e| (e, false))?;
            }
            _ => return Err((format!("unknown option '{arg}' for demo"), true)),
        }
    }
    if track_dir.is_some() && generate_mib.is_some() {
        return Err((
            "--track and --generate-track both name the track; give one".into(),
            false,
        ));
    }
    if track_dir.is_none() && generate_mib.is_none() && (map_id.is_some() || track_id.is_some()) {
        return Err((
            "--map and --track-id name the ids of a --track or --generate-track".into(),
            false,
        ));
    }
    if let Some(dir) = track_dir {
        cfg.track = Some(DemoTrack {
            dir,
            map_id,
            track_id,
        });
    } else if generate_mib.is_some() {
        // The folder is made in `run_demo`; the ids ride along.
        cfg.track = Some(DemoTrack {
            dir: PathBuf::new(),
            map_id,
            track_id,
        });
    }
    cfg.validate().map_err(|e| (e.to_string(), false))?;
    Ok(DemoArgs::Run {
        cfg: Box::new(cfg),
        json,
        generate_mib,
    })
}

/// A generated track in a temporary folder, removed on drop.
struct GeneratedTrack(PathBuf);

impl GeneratedTrack {
    fn new(mib: u64, track: &DemoTrack) -> Result<GeneratedTrack, String> {
        let dir = std::env::temp_dir().join(format!("propwash-demo-track-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let generated = GeneratedTrack(dir);
        let (map, id) = track.ids();
        // About a MiB per file, as real tracks go: many small files.
        let files = mib.clamp(1, 256) as usize;
        propwash::track::generate_track(&generated.0, &map, &id, mib << 20, files, 1)
            .map_err(|e| format!("cannot generate a {mib} MiB track: {e}"))?;
        Ok(generated)
    }
}

impl Drop for GeneratedTrack {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run_demo(args: &[String]) -> u8 {
    let (mut cfg, json, generate_mib) = match parse_demo(args) {
        Ok(DemoArgs::Help) => {
            out(&demo_usage());
            return 0;
        }
        Ok(DemoArgs::Run {
            cfg,
            json,
            generate_mib,
        }) => (*cfg, json, generate_mib),
        Err((msg, show_usage)) => return bad_usage(&msg, show_usage.then(demo_usage)),
    };
    let mut _generated = None;
    if let (Some(mib), Some(track)) = (generate_mib, cfg.track.as_mut()) {
        match GeneratedTrack::new(mib, track) {
            Ok(g) => {
                track.dir = g.0.clone();
                _generated = Some(g);
            }
            Err(e) => {
                eprintln!("propwash: {e}");
                return FAILED;
            }
        }
    }
    let tty = std::io::stdout().is_terminal();
    if !json {
        // With a coordinator elsewhere the sockets take every interface.
        let place = match &cfg.coordinator {
            Some(DemoCoordinator::At(a)) if !a.ip().is_loopback() => "this machine",
            _ => "127.0.0.1",
        };
        out(&format!(
            "propwash demo: seating {} pilots and {} spectators on {place} for {} s at {} Hz\n",
            cfg.pilots, cfg.spectators, cfg.seconds, cfg.rate_hz
        ));
        if let Some(t) = &cfg.track {
            out(&format!(
                "propwash demo: the host serves the track in {} to every joiner\n",
                t.dir.display()
            ));
        }
        match &cfg.coordinator {
            Some(DemoCoordinator::Local) => out(
                "propwash demo: the host lists the room at a coordinator on 127.0.0.1; the joiners find it in the lobby list\n",
            ),
            Some(DemoCoordinator::At(a)) => out(&format!(
                "propwash demo: the host lists the room at the coordinator at {a}; the joiners find it in the lobby list\n"
            )),
            None => {}
        }
    }
    let report = demo::run(&cfg, |view| {
        if json {
            return;
        }
        if tty {
            // Home and clear, then the table: a redraw, not a scroll.
            out(&format!("\x1b[H\x1b[2J{}", view.table()));
        } else {
            out(&format!("{}\n", view.line()));
        }
    });
    match report {
        Ok(r) => {
            if json {
                out(&format!("{}\n", r.to_json()));
            } else {
                out(&format!("\n{}", r.summary()));
            }
            if r.clean() {
                0
            } else {
                FAILED
            }
        }
        Err(e) => {
            eprintln!("propwash: {e}");
            FAILED
        }
    }
}
