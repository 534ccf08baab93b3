//! The propwash command line. Thin on purpose: it parses arguments, calls
//! the library and prints. Each subcommand is one arm of the `match` in
//! `main` (track, identity and bench will join `demo` there).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use propwash::demo::{self, DemoConfig};
use propwash::session::{MAX_PILOTS, MAX_SPECTATORS, RATE_RANGE};

/// Exit status when the arguments are wrong.
const USAGE_ERROR: u8 = 2;
/// Exit status when a command ran but what it measured went wrong.
const FAILED: u8 = 1;

fn usage() -> String {
    "propwash: community multiplayer for DRL Simulator

Usage: propwash <command> [options]

Commands:
  demo      run a whole room over loopback UDP (host, bot pilots, spectators) and measure it
  help      show this help (also -h, --help)
  version   show the version (also -V, --version)

Run 'propwash demo --help' for the demo's options.
"
    .to_string()
}

fn demo_usage() -> String {
    format!(
        "Usage: propwash demo [--seconds N] [--pilots N] [--spectators N] [--rate HZ] [--json]

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
        Some(other) => bad_usage(&format!("unknown command '{other}'"), Some(usage())),
    };
    ExitCode::from(code)
}

/// What `propwash demo` was asked to do.
enum DemoArgs {
    Help,
    Run { cfg: DemoConfig, json: bool },
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
    cfg.validate().map_err(|e| (e.to_string(), false))?;
    Ok(DemoArgs::Run { cfg, json })
}

fn run_demo(args: &[String]) -> u8 {
    let (cfg, json) = match parse_demo(args) {
        Ok(DemoArgs::Help) => {
            out(&demo_usage());
            return 0;
        }
        Ok(DemoArgs::Run { cfg, json }) => (cfg, json),
        Err((msg, show_usage)) => return bad_usage(&msg, show_usage.then(demo_usage)),
    };
    let tty = std::io::stdout().is_terminal();
    if !json {
        out(&format!(
            "propwash demo: seating {} pilots and {} spectators on 127.0.0.1 for {} s at {} Hz\n",
            cfg.pilots, cfg.spectators, cfg.seconds, cfg.rate_hz
        ));
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
