//! `propwash-coordinator`: the lobby list, NAT introductions and relay.
//! Parses its flags and runs [`propwash::lobby::service::Service`].

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use propwash::lobby::service::{Service, ServiceConfig};
use propwash::lobby::CoordinatorConfig;

const USAGE: &str = "\
usage: propwash-coordinator --bind IP:PORT [options]

  --bind IP:PORT              UDP address for hosts and joiners (required; one
                              explicit IP, never 0.0.0.0 or ::, so answers leave
                              from the address the requests came to)
  --http IP:PORT              serve the room list, /healthz, /metrics and a web
                              page over HTTP here (default: no HTTP)
  --relay-kbps N              relay cap per relay and direction, kilobits per
                              second; 0 turns the relay off (default 256)
  --max-relays N              relays open at once at most (default 256)
  --max-relays-per-ip N       relays one joiner address may hold (default 4)
  --max-sessions-per-ip N     rooms one IP address (IPv6: one /64) may list
                              (default 4)
  --requests-per-sec N        requests per second per IP address (default 20)
  --session-timeout-secs N    drop a room after N s without heartbeat (default 30)
  --heartbeat-secs N          how often hosts heartbeat (default 10)
  --max-sessions N            rooms listed at most (default 50000)
  --stats-secs N              log a line of counters every N s (default 60; 0 off)
  --verbose                   log every refused datagram
  --help                      this text
";

#[derive(Debug)]
struct Args {
    service: ServiceConfig,
    stats: Duration,
    verbose: bool,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut bind: Option<SocketAddr> = None;
    let mut http = None;
    let mut c = CoordinatorConfig {
        relay_bytes_per_sec: 256 * 1000 / 8,
        ..CoordinatorConfig::default()
    };
    let mut stats = Duration::from_secs(60);
    let mut verbose = false;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Err(String::new());
        }
        if flag == "--verbose" {
            verbose = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let addr = || -> Result<SocketAddr, String> {
            value
                .parse()
                .map_err(|_| format!("{flag}: {value:?} is not an IP:PORT address"))
        };
        let num = || -> Result<u64, String> {
            value
                .parse()
                .map_err(|_| format!("{flag}: {value:?} is not a whole number"))
        };
        match flag.as_str() {
            "--bind" => bind = Some(addr()?),
            "--http" => http = Some(addr()?),
            "--relay-kbps" => c.relay_bytes_per_sec = num()?.saturating_mul(1000) / 8,
            "--max-relays" => c.max_relays = num()? as usize,
            "--max-relays-per-ip" => c.max_relays_per_ip = num()? as usize,
            "--max-sessions-per-ip" => c.max_sessions_per_ip = num()? as usize,
            "--requests-per-sec" => {
                let n = num()?.max(1) as f64;
                c.requests_per_sec_per_ip = n;
                c.request_burst_per_ip = 2.0 * n;
            }
            "--session-timeout-secs" => c.session_timeout = Duration::from_secs(num()?.max(1)),
            "--heartbeat-secs" => c.heartbeat_interval = Duration::from_secs(num()?.max(1)),
            "--max-sessions" => c.max_sessions = num()? as usize,
            "--stats-secs" => stats = Duration::from_secs(num()?),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    let udp = bind.ok_or("--bind IP:PORT is required")?;
    if udp.ip().is_unspecified() {
        return Err(format!(
            "--bind {udp}: give one explicit IP address, not {}: on a host with several \
             addresses the answers would leave from the wrong one and NATs drop them",
            udp.ip()
        ));
    }
    if c.heartbeat_interval >= c.session_timeout {
        return Err("--heartbeat-secs must be shorter than --session-timeout-secs".into());
    }
    Ok(Args {
        service: ServiceConfig {
            udp,
            http,
            coordinator: c,
        },
        stats,
        verbose,
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&args) {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("propwash-coordinator: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let level = if args.verbose {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    tracing_subscriber::fmt().with_max_level(level).init();
    let relay = args.service.coordinator.relay_bytes_per_sec;
    let service = match Service::start(args.service) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("propwash-coordinator: {e}");
            return ExitCode::from(1);
        }
    };
    tracing::info!(
        udp = %service.udp_addr(),
        http = ?service.http_addr(),
        relay_kbps = relay * 8 / 1000,
        "coordinator running"
    );
    let mut last_stats = std::time::Instant::now();
    // Runs until killed; the service threads do the work.
    while service.is_running() {
        std::thread::sleep(Duration::from_millis(200));
        if !args.stats.is_zero() && last_stats.elapsed() >= args.stats {
            last_stats = std::time::Instant::now();
            let m = service.metrics();
            tracing::info!(
                sessions = service.session_count(),
                registrations = m.registrations,
                joins = m.joins,
                punch_success = m.punch_success,
                punch_failure = m.punch_failure,
                relayed_bytes = m.relayed_bytes,
                rate_limited = m.rate_limited,
                "stats"
            );
        }
    }
    tracing::error!("a service thread stopped; exiting");
    ExitCode::from(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn bind_is_required_and_must_be_explicit() {
        assert!(parse(&args("")).unwrap_err().contains("--bind"));
        assert!(parse(&args("--bind 0.0.0.0:7400"))
            .unwrap_err()
            .contains("explicit"));
        assert!(parse(&args("--bind [::]:7400")).is_err());
        let a = parse(&args("--bind 127.0.0.1:7400 --relay-kbps 0")).unwrap();
        assert_eq!(a.service.coordinator.relay_bytes_per_sec, 0);
        let a = parse(&args("--bind 127.0.0.1:7400 --relay-kbps 80")).unwrap();
        assert_eq!(a.service.coordinator.relay_bytes_per_sec, 10_000);
        assert!(parse(&args("--bind 127.0.0.1:7400 --max-sessions-per-ip x")).is_err());
        assert!(parse(&args("--bind 127.0.0.1:7400 --nope 1")).is_err());
    }
}
