//! What the demo tells its user: the live per-peer table while the room
//! runs, and the summary at the end (as text or one JSON object). Pure
//! formatting; the binary decides where it goes.

use std::fmt::Write as _;

use serde::Serialize;

use super::measure::LatencyHistogram;

/// What a peer is in the demo room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerKind {
    /// The listen server, which is also pilot 1.
    Host,
    /// A bot pilot flying a scripted lap.
    Pilot,
    /// A spectator.
    Spectator,
}

impl PeerKind {
    fn label(self) -> &'static str {
        match self {
            PeerKind::Host => "host+pilot",
            PeerKind::Pilot => "pilot",
            PeerKind::Spectator => "spectator",
        }
    }
}

/// One peer's line of the live table.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveRow {
    /// Display name.
    pub name: String,
    /// Host, pilot or spectator.
    pub kind: PeerKind,
    /// Actor number (0 while joining).
    pub actor: u32,
    /// Seated in the room right now.
    pub connected: bool,
    /// Round trip as the host measures it, milliseconds.
    pub host_rtt_ms: Option<f32>,
    /// Round trip as the peer itself measures it, milliseconds.
    pub peer_rtt_ms: Option<f32>,
    /// Fraction of the host's packets to this peer that went unacknowledged.
    pub host_loss: Option<f32>,
    /// Fraction of the peer's packets to the host that went unacknowledged.
    pub peer_loss: Option<f32>,
    /// Link payload from the host to this peer over the last second (for
    /// the host's own row: to everyone), kilobits per second.
    pub down_kbps: f64,
    /// Link payload from this peer to the host over the last second (for
    /// the host's own row: from everyone), kilobits per second.
    pub up_kbps: f64,
    /// A pilot's newest tick as the host holds it (the host's own: the
    /// last it pushed); `None` for spectators.
    pub last_tick: Option<u32>,
}

/// The room as it is this second.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveView {
    /// Seconds since the pilots started flying.
    pub elapsed_s: f64,
    /// How long the run lasts, seconds.
    pub seconds: u64,
    /// Send and snapshot rate to pilots, per second.
    pub rate_hz: u32,
    /// One row per peer, the host first.
    pub rows: Vec<LiveRow>,
    /// With a coordinator: one line on how the room was listed and found.
    pub lobby: Option<String>,
}

fn opt(v: Option<f32>, scale: f32, digits: usize) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{:.*}", digits, v * scale))
}

impl LiveView {
    /// A full table, for a terminal that is redrawn every second.
    pub fn table(&self) -> String {
        let seated = self.rows.iter().filter(|r| r.connected).count();
        let mut s = format!(
            "propwash demo  {:>4.1} / {} s  {} Hz  {}/{} peers in the room\n\n",
            self.elapsed_s,
            self.seconds,
            self.rate_hz,
            seated,
            self.rows.len()
        );
        let _ = writeln!(
            s,
            "{:<14} {:<11} {:>5}  {:>15}  {:>13}  {:>17}  {:>9}",
            "name",
            "role",
            "actor",
            "rtt ms host/own",
            "loss % h/own",
            "kbit/s down/up",
            "last tick"
        );
        for r in &self.rows {
            let tick = r
                .last_tick
                .map_or_else(|| "-".to_string(), |t| t.to_string());
            let _ = writeln!(
                s,
                "{:<14} {:<11} {:>5}  {:>7}/{:<7}  {:>6}/{:<6}  {:>8.1}/{:<8.1}  {:>9}{}",
                r.name,
                r.kind.label(),
                r.actor,
                opt(r.host_rtt_ms, 1.0, 2),
                opt(r.peer_rtt_ms, 1.0, 2),
                opt(r.host_loss, 100.0, 1),
                opt(r.peer_loss, 100.0, 1),
                r.down_kbps,
                r.up_kbps,
                tick,
                if r.connected { "" } else { "  (not seated)" }
            );
        }
        if let Some(l) = &self.lobby {
            let _ = writeln!(s, "\n{l}");
        }
        s
    }

    /// One compact line, for logs and pipes.
    pub fn line(&self) -> String {
        let seated = self.rows.iter().filter(|r| r.connected).count();
        let host_up = self
            .rows
            .iter()
            .find(|r| r.kind == PeerKind::Host)
            .map_or(0.0, |r| r.down_kbps);
        let rtts = self.rows.iter().filter_map(|r| r.host_rtt_ms);
        let rtt_max = rtts.clone().fold(0.0f32, f32::max);
        let n = rtts.clone().count().max(1);
        let rtt_avg = rtts.sum::<f32>() / n as f32;
        let loss_max = self
            .rows
            .iter()
            .flat_map(|r| [r.host_loss, r.peer_loss])
            .flatten()
            .fold(0.0f32, f32::max);
        let ticks: Vec<String> = self
            .rows
            .iter()
            .filter_map(|r| r.last_tick)
            .map(|t| t.to_string())
            .collect();
        format!(
            "[{:>5.1}s] {}/{} in room  host up {:.0} kbit/s  rtt avg {:.2} ms max {:.2} ms  loss max {:.1}%  ticks {}",
            self.elapsed_s,
            seated,
            self.rows.len(),
            host_up,
            rtt_avg,
            rtt_max,
            loss_max * 100.0,
            ticks.join(" ")
        )
    }
}

/// The frames ratio split by the path a frame takes, to show where frames
/// go missing (`None`: no such pairs in this room).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FramesByPath {
    /// The host's own frames, in snapshots to the bot pilots.
    pub host_to_pilots: Option<f64>,
    /// Bot pilots' frames, read by the host as they land.
    pub pilots_to_host: Option<f64>,
    /// Bot pilots' frames relayed by the host to the other bots: the
    /// pilot's send clock and the host's snapshot clock both run at the
    /// pilot rate.
    pub pilot_to_pilot: Option<f64>,
    /// Every pilot's frames, in snapshots to the spectators.
    pub to_spectators: Option<f64>,
}

/// Push-to-first-read latency over every (pilot, receiver, tick) seen.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Median, milliseconds.
    pub p50: Option<f64>,
    /// 99th percentile, milliseconds.
    pub p99: Option<f64>,
    /// Slowest, milliseconds.
    pub max: Option<f64>,
    /// Number of samples.
    pub samples: u64,
}

impl LatencySummary {
    /// The summary of a histogram.
    pub(crate) fn of(h: &LatencyHistogram) -> LatencySummary {
        LatencySummary {
            p50: h.quantile_ms(0.50),
            p99: h.quantile_ms(0.99),
            max: (h.count() > 0).then(|| h.max_ms()),
            samples: h.count(),
        }
    }

    fn rounded(&mut self) {
        for v in [&mut self.p50, &mut self.p99, &mut self.max]
            .into_iter()
            .flatten()
        {
            *v = round(*v, 3);
        }
    }
}

/// How the room went through the lobby (`propwash demo --coordinator`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LobbySummary {
    /// The coordinator's UDP address.
    pub coordinator: String,
    /// From opening the listed room to the coordinator confirming it,
    /// milliseconds.
    pub registered_ms: f64,
    /// Joiners that found the room by its name in a lobby query's page.
    pub found_by_list: usize,
    /// Joiners whose path to the host was punched straight through.
    pub joined_direct: usize,
    /// Joiners that reached the host through the coordinator's relay.
    pub joined_relayed: usize,
    /// Median time from a lobby query to its page, milliseconds (`None`:
    /// no query was answered).
    pub list_query_ms_p50: Option<f64>,
    /// Median time from a joiner's `join_listed` to its welcome into the
    /// room, milliseconds (`None`: nobody was welcomed).
    pub join_ms_p50: Option<f64>,
}

impl LobbySummary {
    fn rounded(&mut self) {
        self.registered_ms = round(self.registered_ms, 3);
        for v in [&mut self.list_query_ms_p50, &mut self.join_ms_p50]
            .into_iter()
            .flatten()
        {
            *v = round(*v, 3);
        }
    }
}

/// Everything the demo measured. Field meanings are in the `demo` module
/// documentation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DemoReport {
    /// Pilots asked for, the host included.
    pub pilots: usize,
    /// Spectators asked for.
    pub spectators: usize,
    /// Peers that got seated and took part, the host included.
    pub peers_in_room: usize,
    /// How long the pilots flew, seconds.
    pub seconds: u64,
    /// Send and snapshot rate to pilots, per second.
    pub rate_hz: u32,
    /// Snapshot rate to spectators, per second.
    pub spectator_rate_hz: u32,
    /// The pilots' game (physics) tick rate, per second.
    pub physics_hz: u32,
    /// Distinct frames that reached each receiver's network thread over
    /// frames the send rates allow, 0 to 1 (`None` when the room has no
    /// pair to measure): what the network delivered.
    pub frames_delivered_ratio: Option<f64>,
    /// The same, counting only the frames each receiver's game read by
    /// polling every millisecond: a busy machine that deschedules a
    /// poller costs frames here that the network did deliver.
    pub frames_read_ratio: Option<f64>,
    /// The same by path.
    pub frames_delivered_by_path: FramesByPath,
    /// Distinct frames delivered (capped per pair at what was expected).
    pub frames_got: u64,
    /// Frames the send rates allow over all pairs.
    pub frames_expected: u64,
    /// The worst single (receiver, pilot) pair's ratio.
    pub frames_worst_pair_ratio: f64,
    /// That pair, as "pilot -> receiver".
    pub frames_worst_pair: String,
    /// Push on one pilot to first read elsewhere.
    pub latency_ms: LatencySummary,
    /// `latency_ms` where the receiver flies too.
    pub pilot_latency_ms: LatencySummary,
    /// How long the pilots flew, seconds (more than `seconds` when the run
    /// was stretched for a track transfer).
    pub seconds_flown: f64,
    /// The served track's hash, hex (`None`: no track).
    pub track_hash: Option<String>,
    /// Bytes in the served track.
    pub track_bytes: Option<u64>,
    /// Joiners whose installed copy verifies against the hash after the run.
    pub tracks_installed: Option<usize>,
    /// The names the verified copies were installed under (a folder's, or
    /// a single-file track's `<guid>.cmp`), each once.
    pub track_installed_as: Option<Vec<String>>,
    /// MiB installed by download over all joiners, per second from the
    /// first request to the last joiner's ready.
    pub track_transfer_mb_s: Option<f64>,
    /// `latency_ms` over the samples taken while a joiner was still fetching.
    pub latency_ms_during_transfer: Option<LatencySummary>,
    /// Bytes one pilot's frame takes in a snapshot.
    pub bytes_per_pilot_frame: usize,
    /// Link payload bytes per packet the host sent to pilots in steady
    /// state before the first event: mostly snapshots, with the ping and
    /// pong packets (four each a second) pulling the average down.
    pub wire_bytes_per_snapshot_avg: f64,
    /// The same over the whole run, events included.
    pub wire_bytes_per_packet_to_pilots_avg: f64,
    /// Link payload the host sent to all peers, kilobits per second.
    pub host_upload_kbps: f64,
    /// The same with laminar's 5-byte header and IPv4 + UDP's 28 bytes per
    /// datagram added.
    pub host_upload_kbps_with_headers: f64,
    /// Game events raised.
    pub events_sent: u64,
    /// Every seated peer got every event exactly once, in each sender's
    /// order.
    pub events_delivered_exactly_once: bool,
    /// Frames the game pushed while the session's queue was full.
    pub pushes_dropped: u64,
    /// Datagrams dropped before laminar because a network thread was behind.
    pub datagrams_dropped: u64,
    /// Longest gap between two reads of the room by any peer while the
    /// pilots flew, milliseconds: a machine that stalls for longer than a
    /// send interval loses frames whatever the network does.
    pub max_poll_gap_ms: f64,
    /// Things that went wrong.
    pub errors: usize,
    /// What went wrong, one line each.
    pub error_messages: Vec<String>,
    /// With a coordinator, how the room was listed, found and joined;
    /// absent from the JSON without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lobby: Option<LobbySummary>,
}

fn round(v: f64, digits: i32) -> f64 {
    let k = 10f64.powi(digits);
    (v * k).round() / k
}

impl DemoReport {
    /// True when the room ran cleanly: no errors and every event delivered
    /// exactly once.
    pub fn clean(&self) -> bool {
        self.errors == 0 && self.events_delivered_exactly_once
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        let mut r = self.clone();
        let paths = &mut r.frames_delivered_by_path;
        for v in [
            &mut r.frames_delivered_ratio,
            &mut r.frames_read_ratio,
            &mut paths.host_to_pilots,
            &mut paths.pilots_to_host,
            &mut paths.pilot_to_pilot,
            &mut paths.to_spectators,
        ]
        .into_iter()
        .flatten()
        {
            *v = round(*v, 5);
        }
        r.frames_worst_pair_ratio = round(r.frames_worst_pair_ratio, 5);
        r.latency_ms.rounded();
        r.pilot_latency_ms.rounded();
        if let Some(l) = r.latency_ms_during_transfer.as_mut() {
            l.rounded();
        }
        r.seconds_flown = round(r.seconds_flown, 2);
        if let Some(v) = r.track_transfer_mb_s.as_mut() {
            *v = round(*v, 2);
        }
        r.wire_bytes_per_snapshot_avg = round(r.wire_bytes_per_snapshot_avg, 1);
        r.wire_bytes_per_packet_to_pilots_avg = round(r.wire_bytes_per_packet_to_pilots_avg, 1);
        r.host_upload_kbps = round(r.host_upload_kbps, 1);
        r.max_poll_gap_ms = round(r.max_poll_gap_ms, 2);
        r.host_upload_kbps_with_headers = round(r.host_upload_kbps_with_headers, 1);
        if let Some(l) = r.lobby.as_mut() {
            l.rounded();
        }
        serde_json::to_string(&r).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The report for a person.
    pub fn summary(&self) -> String {
        let ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.2} ms"));
        let mut s = String::new();
        let _ = writeln!(
            s,
            "propwash demo: {} pilots (the host and {} bots), {} spectators, {:.1} s at {} Hz (spectators {} Hz, physics {} Hz)",
            self.pilots,
            self.pilots.saturating_sub(1),
            self.spectators,
            self.seconds_flown,
            self.rate_hz,
            self.spectator_rate_hz,
            self.physics_hz
        );
        let pct =
            |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{:.2} %", v * 100.0));
        let _ = writeln!(
            s,
            "  frames delivered   {}  ({} of {} send intervals; worst pair {} at {:.2} %)",
            pct(self.frames_delivered_ratio),
            self.frames_got,
            self.frames_expected,
            self.frames_worst_pair,
            self.frames_worst_pair_ratio * 100.0
        );
        let _ = writeln!(
            s,
            "    read by the game {}  (polling every millisecond)",
            pct(self.frames_read_ratio)
        );
        let p = &self.frames_delivered_by_path;
        let _ = writeln!(
            s,
            "    by path          host→pilots {}  pilots→host {}  pilot→pilot {}  →spectators {}",
            pct(p.host_to_pilots),
            pct(p.pilots_to_host),
            pct(p.pilot_to_pilot),
            pct(p.to_spectators)
        );
        let _ = writeln!(
            s,
            "  latency push→read  p50 {}  p99 {}  max {}  ({} samples)",
            ms(self.latency_ms.p50),
            ms(self.latency_ms.p99),
            ms(self.latency_ms.max),
            self.latency_ms.samples
        );
        let _ = writeln!(
            s,
            "    pilot to pilot   p50 {}  p99 {}  max {}  ({} samples)",
            ms(self.pilot_latency_ms.p50),
            ms(self.pilot_latency_ms.p99),
            ms(self.pilot_latency_ms.max),
            self.pilot_latency_ms.samples
        );
        let _ = writeln!(
            s,
            "  wire               at most {} B per pilot frame in a snapshot; {:.1} B per packet to a pilot ({:.1} B with events)",
            self.bytes_per_pilot_frame,
            self.wire_bytes_per_snapshot_avg,
            self.wire_bytes_per_packet_to_pilots_avg
        );
        let _ = writeln!(
            s,
            "  host upload        {:.1} kbit/s of link payload ({:.1} kbit/s with laminar, UDP and IP headers)",
            self.host_upload_kbps, self.host_upload_kbps_with_headers
        );
        let _ = writeln!(
            s,
            "  events             {} raised; {}",
            self.events_sent,
            if self.events_delivered_exactly_once {
                format!(
                    "each delivered exactly once, in order, to all {} peers",
                    self.peers_in_room
                )
            } else {
                "NOT delivered exactly once and in order to every peer".to_string()
            }
        );
        if let Some(hash) = &self.track_hash {
            let _ = writeln!(
                s,
                "  track              {}… ({} B): installed and verified by {} joiners, {} MiB/s in all",
                &hash[..hash.len().min(16)],
                self.track_bytes.unwrap_or(0),
                self.tracks_installed.unwrap_or(0),
                self.track_transfer_mb_s
                    .map_or_else(|| "-".to_string(), |v| format!("{v:.2}"))
            );
            if let Some(l) = &self.latency_ms_during_transfer {
                let _ = writeln!(
                    s,
                    "    latency meanwhile  p50 {}  p99 {}  max {}  ({} samples)",
                    ms(l.p50),
                    ms(l.p99),
                    ms(l.max),
                    l.samples
                );
            }
        }
        if let Some(l) = &self.lobby {
            let _ = writeln!(
                s,
                "  lobby              listed at {} in {}; {} joiners found it in the list (query p50 {}), {} joined direct, {} relayed (join p50 {})",
                l.coordinator,
                ms(Some(l.registered_ms)),
                l.found_by_list,
                ms(l.list_query_ms_p50),
                l.joined_direct,
                l.joined_relayed,
                ms(l.join_ms_p50)
            );
        }
        let _ = writeln!(
            s,
            "  observers          read the room at least every {:.1} ms",
            self.max_poll_gap_ms
        );
        if self.pushes_dropped + self.datagrams_dropped > 0 {
            let _ = writeln!(
                s,
                "  dropped            {} pushes (queue full), {} datagrams (network thread behind)",
                self.pushes_dropped, self.datagrams_dropped
            );
        }
        let _ = writeln!(s, "  errors             {}", self.errors);
        for e in &self.error_messages {
            let _ = writeln!(s, "    - {e}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> DemoReport {
        DemoReport {
            pilots: 6,
            spectators: 15,
            peers_in_room: 21,
            seconds: 5,
            rate_hz: 60,
            spectator_rate_hz: 30,
            physics_hz: 120,
            frames_delivered_ratio: Some(0.998_765_4),
            frames_read_ratio: Some(0.991_234_5),
            frames_delivered_by_path: FramesByPath {
                pilot_to_pilot: Some(0.97),
                ..FramesByPath::default()
            },
            frames_got: 10,
            frames_expected: 11,
            frames_worst_pair_ratio: 0.9,
            frames_worst_pair: "bot-2 -> spectator-3".into(),
            latency_ms: LatencySummary {
                p50: Some(9.123_456),
                p99: None,
                max: Some(20.0),
                samples: 3,
            },
            pilot_latency_ms: LatencySummary {
                p50: Some(4.0),
                p99: Some(8.0),
                max: Some(9.0),
                samples: 2,
            },
            seconds_flown: 5.004_9,
            track_hash: None,
            track_bytes: None,
            tracks_installed: None,
            track_installed_as: None,
            track_transfer_mb_s: None,
            latency_ms_during_transfer: None,
            bytes_per_pilot_frame: 32,
            wire_bytes_per_snapshot_avg: 180.04,
            wire_bytes_per_packet_to_pilots_avg: 200.0,
            host_upload_kbps: 812.345,
            host_upload_kbps_with_headers: 900.0,
            events_sent: 15,
            events_delivered_exactly_once: true,
            pushes_dropped: 0,
            datagrams_dropped: 0,
            max_poll_gap_ms: 2.5,
            errors: 0,
            error_messages: vec![],
            lobby: None,
        }
    }

    #[test]
    fn json_is_one_line_with_the_promised_keys() {
        let j = report().to_json();
        assert!(!j.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        for key in [
            "pilots",
            "spectators",
            "seconds",
            "rate_hz",
            "frames_delivered_ratio",
            "frames_read_ratio",
            "bytes_per_pilot_frame",
            "wire_bytes_per_snapshot_avg",
            "host_upload_kbps",
            "events_sent",
            "events_delivered_exactly_once",
            "errors",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["latency_ms"]["p50"], 9.123);
        assert!(v["latency_ms"]["p99"].is_null());
        assert_eq!(v["frames_delivered_ratio"], 0.99877);
        assert_eq!(v["frames_read_ratio"], 0.99123);
        assert_eq!(v["frames_delivered_by_path"]["pilot_to_pilot"], 0.97);
        assert!(v["frames_delivered_by_path"]["to_spectators"].is_null());
        assert_eq!(v["host_upload_kbps"], 812.3);
        assert_eq!(v["seconds_flown"], 5.0);
        assert!(v["track_hash"].is_null() && v["latency_ms_during_transfer"].is_null());

        let mut with_track = report();
        with_track.track_hash = Some("ab".repeat(32));
        with_track.tracks_installed = Some(20);
        with_track.track_transfer_mb_s = Some(23.456_7);
        with_track.latency_ms_during_transfer = Some(LatencySummary {
            p50: Some(9.876_54),
            p99: Some(12.345_67),
            max: None,
            samples: 9,
        });
        let v: serde_json::Value = serde_json::from_str(&with_track.to_json()).unwrap();
        assert_eq!(v["tracks_installed"], 20);
        assert_eq!(v["track_transfer_mb_s"], 23.46);
        assert_eq!(v["latency_ms_during_transfer"]["p99"], 12.346);
        assert_eq!(v["track_hash"].as_str().map(str::len), Some(64));
    }

    #[test]
    fn the_lobby_object_is_there_only_with_a_coordinator() {
        let without = report();
        let v: serde_json::Value = serde_json::from_str(&without.to_json()).unwrap();
        assert!(v.get("lobby").is_none(), "no key without a coordinator");
        assert!(!without.summary().contains("lobby"));

        let mut with = report();
        with.lobby = Some(LobbySummary {
            coordinator: "127.0.0.1:7777".into(),
            registered_ms: 1.234_56,
            found_by_list: 20,
            joined_direct: 19,
            joined_relayed: 1,
            list_query_ms_p50: Some(0.456_78),
            join_ms_p50: None,
        });
        let j = with.to_json();
        assert!(!j.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        let l = &v["lobby"];
        assert_eq!(l["coordinator"], "127.0.0.1:7777");
        assert_eq!(l["registered_ms"], 1.235);
        assert_eq!(l["found_by_list"], 20);
        assert_eq!(l["joined_direct"], 19);
        assert_eq!(l["joined_relayed"], 1);
        assert_eq!(l["list_query_ms_p50"], 0.457);
        assert!(l["join_ms_p50"].is_null());
        // Every other key is as without the lobby.
        let keys = |v: &serde_json::Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.retain(|k| k != "lobby");
            k
        };
        let plain: serde_json::Value = serde_json::from_str(&without.to_json()).unwrap();
        assert_eq!(keys(&v), keys(&plain));
        let s = with.summary();
        assert!(
            s.contains("listed at 127.0.0.1:7777") && s.contains("19 joined direct"),
            "{s}"
        );
    }

    #[test]
    fn summary_and_live_views_name_what_matters() {
        let mut r = report();
        r.errors = 1;
        r.error_messages = vec!["spectator-3 did not reach the room within 5 s".into()];
        let s = r.summary();
        assert!(s.contains("99.88 %"), "{s}");
        assert!(s.contains("pilot→pilot 97.00 %"), "{s}");
        assert!(s.contains("spectator-3 did not reach"), "{s}");
        assert!(!r.clean());
        let view = LiveView {
            elapsed_s: 2.0,
            seconds: 5,
            rate_hz: 60,
            rows: vec![
                LiveRow {
                    name: "host".into(),
                    kind: PeerKind::Host,
                    actor: 1,
                    connected: true,
                    host_rtt_ms: None,
                    peer_rtt_ms: None,
                    host_loss: None,
                    peer_loss: None,
                    down_kbps: 800.0,
                    up_kbps: 90.0,
                    last_tick: Some(240),
                },
                LiveRow {
                    name: "spectator-1".into(),
                    kind: PeerKind::Spectator,
                    actor: 7,
                    connected: false,
                    host_rtt_ms: Some(0.25),
                    peer_rtt_ms: Some(0.3),
                    host_loss: Some(0.0),
                    peer_loss: Some(0.5),
                    down_kbps: 30.0,
                    up_kbps: 2.0,
                    last_tick: None,
                },
            ],
            lobby: None,
        };
        let t = view.table();
        assert!(t.contains("1/2 peers"), "{t}");
        assert!(t.contains("host+pilot") && t.contains("240"), "{t}");
        assert!(t.contains("not seated"), "{t}");
        assert!(!t.contains("lobby"), "{t}");
        let listed = LiveView {
            lobby: Some("lobby: listed at 127.0.0.1:7777".into()),
            ..view.clone()
        };
        assert!(listed.table().contains("listed at 127.0.0.1:7777"));
        let l = view.line();
        assert!(!l.contains('\n'));
        assert!(
            l.contains("host up 800 kbit/s") && l.contains("loss max 50.0%"),
            "{l}"
        );
    }
}
