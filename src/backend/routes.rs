//! The one table of the stand-in: every route the game is known (or
//! believed) to call on `api.drlgame.com`, how it is matched, what it
//! answers, how the answer's `data` is encoded, and where each of those
//! facts came from. A tester who finds a route wrong corrects it here, or
//! without a rebuild through an overrides file ([`Routes::with_overrides`]).
//!
//! Sources named in the table:
//! - "issue": what the community learned of the game and recorded in the
//!   project's issue on starting without servers (service names, DTO
//!   names, the envelope, where Base64 is needed, `/maps/updated`).
//! - "mock": the community's Python stand-in, which got the game to its
//!   menus; its paths are substrings it matched, not a spec.
//! - "guess": nobody has seen the game ask or check this; chosen to be
//!   harmless, and logged so a tester can confirm or correct it.
//!
//! Matching: a request matches a route when its method is one of the
//! route's (any, when none are listed) and one of the route's paths occurs
//! in the request path as whole segments, case-insensitively (`/state/game`
//! matches `/v2/state/game/x`, not `/state/games`); a segment pattern
//! ending in `*` matches by prefix (`drl.service.storage.*`). The first
//! route in table order wins, so the more specific come first. Nothing
//! matched: the request is logged with method, path and query and answered
//! with [`EMPTY_SUCCESS`].

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::codec::{base64_decode, base64_encode, iso8601};
use super::content::GameFolder;
use super::http::Request;
use super::BackendError;
use crate::identity::{Identity, Source, DRL_APP_ID};

/// How an answer's `data` travels inside the envelope
/// `{"success": true, "message": null, ...}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// `"encoded": true, "data": "<Base64 of the JSON>"`: where the game's
    /// DTO holds `data` as a string it Base64-decodes it (raw JSON there
    /// gave an ArgumentNullException; issue).
    Base64,
    /// `"encoded": false, "data": <the JSON>` (issue).
    Raw,
    /// The JSON alone, no envelope (no route is known to want it; for
    /// testers' overrides).
    Bare,
    /// The envelope alone, no `data`.
    None,
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::Base64 => "base64",
            Encoding::Raw => "raw",
            Encoding::Bare => "bare",
            Encoding::None => "none",
        })
    }
}

/// What a route answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The time now.
    Time,
    /// Whether this account owns the game, from Steam.
    License,
    /// The player's profile as one object, and a session token.
    Login,
    /// The servers are up and not in maintenance.
    GameState,
    /// `player-state.json`: read, or (a request with a body) written.
    PlayerState,
    /// Other storage: nothing kept locally; empty.
    Storage,
    /// The player's profile as a one-element array.
    Profile,
    /// Every track, metadata only, as a plain array.
    ProgressionTracks,
    /// The player's progression: the player state.
    ProgressionPlayer,
    /// The player's circuits (`circuits-data` of the player state).
    Circuits,
    /// Tournaments: none.
    Tournaments,
    /// Maps changed on the server since: none.
    MapsUpdated,
    /// The maps the game has, by folder.
    ContentManifest,
    /// One track by its guid, whole.
    MapByGuid,
    /// Tracks, a page at a time when asked for pages.
    MapsPage,
    /// An acknowledgement (analytics, logs).
    Ack,
}

/// One row of the table, as written in [`ROUTES`].
#[derive(Clone, Copy, Debug)]
pub struct RouteSpec {
    /// Short name: the log's and the overrides file's.
    pub id: &'static str,
    /// The game's name of the service, where known.
    pub service: &'static str,
    /// Methods it answers (empty: any).
    pub methods: &'static [&'static str],
    /// Path patterns (see the module doc).
    pub paths: &'static [&'static str],
    /// What it answers.
    pub answer: Answer,
    /// How the answer's `data` is encoded.
    pub encoding: Encoding,
    /// Where the route, the shape and the encoding come from.
    pub source: &'static str,
}

/// The table, most specific first.
pub const ROUTES: &[RouteSpec] = &[
    RouteSpec {
        id: "license",
        service: "drl.game.LicenseStateModel / drl.backend.DRLLicenseResult",
        methods: &[],
        paths: &["/player/license", "/license"],
        answer: Answer::License,
        encoding: Encoding::Base64,
        source: "path and Base64: mock (FromBase64 failed on raw JSON); the field names \
                 (license, hasLicense, licensed, valid, active): guess; the value: Steam's \
                 BIsSubscribedApp(641780)",
    },
    RouteSpec {
        id: "login",
        service: "drl.service.login.v2",
        methods: &[],
        paths: &["/login", "drl.service.login.v2", "drl.service.login"],
        answer: Answer::Login,
        encoding: Encoding::Base64,
        source: "service name: issue; path, Base64 and the top-level token: mock; the \
                 profile fields: player-state.json (issue)",
    },
    RouteSpec {
        id: "game-state",
        service: "game state",
        methods: &[],
        paths: &["/state/game"],
        answer: Answer::GameState,
        encoding: Encoding::Raw,
        source: "shape {version, maintenanceMode, serverStatus} raw: issue; path: mock",
    },
    RouteSpec {
        id: "player-state",
        service: "drl.service.storage.* (player state)",
        methods: &[],
        paths: &[
            "/state/player",
            "/storage/player",
            "/storage/state",
            "/state",
            "drl.service.storage.player*",
            "drl.service.storage.state*",
        ],
        answer: Answer::PlayerState,
        encoding: Encoding::Base64,
        source: "Base64 of player-state.json: mock; a body writes it (issue asks writes to \
                 land in the local file); the request shape of a write: guess (a JSON object, \
                 or one wrapped in {data}, or Base64 of one)",
    },
    RouteSpec {
        id: "storage",
        service: "drl.service.storage.*",
        methods: &[],
        paths: &["/storage", "drl.service.storage*"],
        answer: Answer::Storage,
        encoding: Encoding::Base64,
        source: "service name: issue; Base64 of {}: mock",
    },
    RouteSpec {
        id: "progression-tracks",
        service: "drl.service.progression.tracks (DRLProgressionTrackData[])",
        methods: &[],
        paths: &[
            "/progression/tracks",
            "/progression/maps",
            "/experience-points/tracks",
            "/experience-points/maps",
            "drl.service.progression.tracks",
        ],
        answer: Answer::ProgressionTracks,
        encoding: Encoding::Raw,
        source: "service and DTO: issue; a plain array, raw: issue; paths: mock",
    },
    RouteSpec {
        id: "progression-player",
        service: "drl.service.progression.player",
        methods: &[],
        paths: &[
            "/progression/player",
            "/progression",
            "/experience-points",
            "drl.service.progression.player",
        ],
        answer: Answer::ProgressionPlayer,
        encoding: Encoding::Raw,
        source: "service: issue; raw: mock; the content (the player state): guess",
    },
    RouteSpec {
        id: "maps-updated",
        service: "maps updated (?full=true)",
        methods: &[],
        paths: &["/maps/updated", "/maps/user/updated"],
        answer: Answer::MapsUpdated,
        encoding: Encoding::Raw,
        source: "must answer [] or the game hangs at \"Downloading Tracks\": issue",
    },
    RouteSpec {
        id: "circuits",
        service: "circuits",
        methods: &[],
        paths: &["/circuits"],
        answer: Answer::Circuits,
        encoding: Encoding::Raw,
        source: "path: mock; the content (circuits-data of player-state.json, JSON in a \
                 string): issue",
    },
    RouteSpec {
        id: "tournaments",
        service: "tournaments",
        methods: &[],
        paths: &["/tournaments"],
        answer: Answer::Tournaments,
        encoding: Encoding::Raw,
        source: "empty, raw array: issue and mock",
    },
    RouteSpec {
        id: "content-manifest",
        service: "drl.service.content.manifest",
        methods: &[],
        paths: &[
            "/content/manifest",
            "/manifest",
            "drl.service.content.manifest",
        ],
        answer: Answer::ContentManifest,
        encoding: Encoding::Base64,
        source: "service: issue; Base64 and {version, maps: [{id, name, enabled}]}: mock; \
                 the maps: the folders of content/maps",
    },
    RouteSpec {
        id: "map-by-guid",
        service: "one map (?guid=...)",
        methods: &[],
        paths: &["/maps", "/content"],
        answer: Answer::MapByGuid,
        encoding: Encoding::Raw,
        source: "?guid= and a raw whole track: mock; official tracks from content/maps, \
                 custom ones from storage/offline/maps/<guid>.cmp: issue",
    },
    RouteSpec {
        id: "maps-page",
        service: "maps (page, limit, sort, order, is-race-allowed)",
        methods: &[],
        paths: &["/maps", "/content/maps"],
        answer: Answer::MapsPage,
        encoding: Encoding::Raw,
        source: "query parameters: issue; the wrapper {pagging|paging, data}: issue (both \
                 spellings are sent, which one the game reads is not settled); the paging \
                 fields (page, limit, total, pages): guess; without page or limit a plain \
                 array, as the mock answered",
    },
    RouteSpec {
        id: "profile",
        service: "drl.service.progression.player profile (DRLPlayerProfileData[])",
        methods: &[],
        paths: &["/player/profile", "/profile", "/player", "/players"],
        answer: Answer::Profile,
        encoding: Encoding::Base64,
        source: "DTO is an array [profile], Base64: issue; paths: mock",
    },
    RouteSpec {
        id: "time",
        service: "drl.service.time",
        methods: &[],
        paths: &["/time", "drl.service.time"],
        answer: Answer::Time,
        encoding: Encoding::Raw,
        source: "service: issue; raw {serverTime, serverTimeMs, timestamp}: mock",
    },
    RouteSpec {
        id: "analytics",
        service: "analytics, logs, events",
        methods: &["POST", "PUT"],
        paths: &["/analytics", "/logs", "/events", "/telemetry"],
        answer: Answer::Ack,
        encoding: Encoding::None,
        source: "acknowledged without data: mock",
    },
];

/// The answer to a request no route matched: Base64 of `{}`, which the
/// game's string-typed DTOs decode and its object-typed ones ignore (mock).
pub const EMPTY_SUCCESS: &str = r#"{"success":true,"message":null,"encoded":true,"data":"e30="}"#;

/// The facts the stand-in does not read from the game's folder.
pub trait Facts: Send + Sync {
    /// The local player, once known (Steam or offline).
    fn identity(&self) -> Option<Identity>;
    /// Whether Steam says this account owns `app_id`, or why that cannot
    /// be asked. May wait a few seconds for Steam to start (it is called on
    /// the stand-in's own thread, never the game's).
    fn owns_app(&self, app_id: u32) -> Result<bool, String>;
}

/// A route of the running table.
#[derive(Clone, Debug)]
pub struct Route {
    /// The row it came from.
    pub spec: RouteSpec,
    methods: Vec<String>,
    /// Each path pattern as lower-case segments.
    paths: Vec<Vec<String>>,
    /// The encoding (perhaps overridden).
    pub encoding: Encoding,
}

impl Route {
    fn new(spec: RouteSpec) -> Route {
        Route {
            spec,
            methods: spec.methods.iter().map(|m| m.to_string()).collect(),
            paths: spec.paths.iter().map(|p| segments(p)).collect(),
            encoding: spec.encoding,
        }
    }

    fn matches(&self, method: &str, segs: &[String]) -> bool {
        let method_ok =
            self.methods.is_empty() || self.methods.iter().any(|m| m.eq_ignore_ascii_case(method));
        method_ok && self.paths.iter().any(|p| contains_run(segs, p))
    }

    /// The path patterns now in force.
    pub fn paths(&self) -> Vec<String> {
        self.paths
            .iter()
            .map(|p| format!("/{}", p.join("/")))
            .collect()
    }
}

/// The routes in force: [`ROUTES`], perhaps corrected by an overrides file.
#[derive(Clone, Debug)]
pub struct Routes {
    routes: Vec<Route>,
}

/// One route's corrections in an overrides file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Override {
    #[serde(default)]
    paths: Option<Vec<String>>,
    #[serde(default)]
    methods: Option<Vec<String>>,
    #[serde(default)]
    encoding: Option<Encoding>,
}

impl Default for Routes {
    fn default() -> Routes {
        Routes {
            routes: ROUTES.iter().copied().map(Route::new).collect(),
        }
    }
}

impl Routes {
    /// The table with corrections from `json`, an object keyed by route id:
    /// `{"license": {"paths": ["/v3/entitlement"], "encoding": "raw"},
    /// "maps-page": {"methods": ["GET"]}}`. Each of `paths`, `methods` and
    /// `encoding` (`base64`, `raw`, `bare`, `none`) replaces the table's.
    /// Unknown ids or fields are refused with a message naming them.
    pub fn with_overrides(json: &str) -> Result<Routes, String> {
        let mut routes = Routes::default();
        if json.trim().is_empty() {
            return Ok(routes);
        }
        let all: Map<String, Value> =
            serde_json::from_str(json).map_err(|e| format!("not a JSON object of routes: {e}"))?;
        for (id, value) in all {
            let known: Vec<&str> = ROUTES.iter().map(|r| r.id).collect();
            let route = routes
                .routes
                .iter_mut()
                .find(|r| r.spec.id == id)
                .ok_or_else(|| format!("no route {id:?}; the routes are {}", known.join(", ")))?;
            let o: Override =
                serde_json::from_value(value).map_err(|e| format!("route {id:?}: {e}"))?;
            if let Some(paths) = o.paths {
                if paths.iter().any(|p| segments(p).is_empty()) {
                    return Err(format!(
                        "route {id:?}: an empty path would match everything"
                    ));
                }
                route.paths = paths.iter().map(|p| segments(p)).collect();
            }
            if let Some(methods) = o.methods {
                route.methods = methods;
            }
            if let Some(e) = o.encoding {
                route.encoding = e;
            }
        }
        Ok(routes)
    }

    /// The route for a request, if any.
    pub fn find(&self, req: &Request) -> Option<&Route> {
        let segs: Vec<String> = req.segments().map(str::to_ascii_lowercase).collect();
        self.routes.iter().find(|r| {
            r.matches(&req.method, &segs)
                && (r.spec.answer != Answer::MapByGuid || guid_of(req).is_some())
        })
    }

    /// Every route in table order.
    pub fn all(&self) -> &[Route] {
        &self.routes
    }
}

fn segments(p: &str) -> Vec<String> {
    p.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Whether `pattern` occurs in `segs` as consecutive whole segments.
fn contains_run(segs: &[String], pattern: &[String]) -> bool {
    if pattern.is_empty() || pattern.len() > segs.len() {
        return false;
    }
    segs.windows(pattern.len()).any(|w| {
        w.iter()
            .zip(pattern)
            .all(|(s, p)| match p.strip_suffix('*') {
                Some(prefix) => s.starts_with(prefix),
                None => s == p,
            })
    })
}

/// The guid a request asks for: `?guid=`, or a last path segment that is
/// a custom track's guid (`CMP-...`).
fn guid_of(req: &Request) -> Option<String> {
    if let Some(g) = req.query_value("guid").filter(|g| !g.is_empty()) {
        return Some(g.to_string());
    }
    req.segments()
        .last()
        .filter(|s| s.len() > 4 && s[..4].eq_ignore_ascii_case("cmp-"))
        .map(str::to_string)
}

/// What the responder needs besides the request.
pub struct Context<'a> {
    /// The game's folder.
    pub game: &'a GameFolder,
    /// Identity and license.
    pub facts: &'a dyn Facts,
    /// The game's version, for the game-state answer.
    pub game_version: &'a str,
    /// The token the login answer hands out (random per process).
    pub token: &'a str,
    /// The license answer when Steam cannot be asked.
    pub offline_licensed: bool,
}

/// An answer: HTTP status and JSON body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// HTTP status (200 for every answer the game should read).
    pub status: u16,
    /// The body.
    pub body: String,
    /// The route that answered, or `None` for the empty success.
    pub route: Option<&'static str>,
}

/// Answers one request by the table. Never fails: a route whose local
/// source cannot be read answers `{"success": false, "message": ...}` and
/// logs why; no route answers [`EMPTY_SUCCESS`] and logs the request.
pub fn respond(routes: &Routes, req: &Request, ctx: &Context<'_>) -> Response {
    let Some(route) = routes.find(req) else {
        tracing::warn!(
            "backend: no route for {} {}{}{} (answered with an empty success; add one in \
             the routes table or the overrides file)",
            req.method,
            req.path,
            if req.raw_query.is_empty() { "" } else { "?" },
            req.raw_query
        );
        return Response {
            status: 200,
            body: EMPTY_SUCCESS.to_string(),
            route: None,
        };
    };
    let id = route.spec.id;
    let body = match data(route.spec.answer, req, ctx) {
        Ok(data) => {
            let mut env = envelope(route.encoding, &data);
            if route.spec.answer == Answer::Login {
                if let Value::Object(m) = &mut env {
                    m.insert("token".into(), Value::String(ctx.token.to_string()));
                    m.insert("refreshToken".into(), Value::String(ctx.token.to_string()));
                }
            }
            env.to_string()
        }
        Err(e) => {
            tracing::warn!("backend: {} {} ({id}) failed: {e}", req.method, req.path);
            json!({"success": false, "message": format!("propwash: {e}")}).to_string()
        }
    };
    tracing::info!(
        "backend: {} {}{}{} -> {id} ({}, {} bytes)",
        req.method,
        req.path,
        if req.raw_query.is_empty() { "" } else { "?" },
        req.raw_query,
        route.encoding,
        body.len()
    );
    Response {
        status: 200,
        body,
        route: Some(id),
    }
}

/// Wraps `data` as `encoding` says.
fn envelope(encoding: Encoding, data: &Value) -> Value {
    match encoding {
        Encoding::Base64 => json!({
            "success": true,
            "message": null,
            "encoded": true,
            "data": base64_encode(data.to_string().as_bytes()),
        }),
        Encoding::Raw => json!({"success": true, "message": null, "encoded": false, "data": data}),
        Encoding::Bare => data.clone(),
        Encoding::None => json!({"success": true, "message": null}),
    }
}

/// The JSON a route answers with, before encoding.
fn data(answer: Answer, req: &Request, ctx: &Context<'_>) -> Result<Value, BackendError> {
    Ok(match answer {
        Answer::Time => {
            let now = SystemTime::now();
            let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
            json!({
                "serverTime": iso8601(now),
                "serverTimeMs": d.as_millis() as u64,
                "timestamp": d.as_secs(),
            })
        }
        Answer::License => {
            let licensed = license(ctx);
            json!({
                "license": licensed,
                "hasLicense": licensed,
                "licensed": licensed,
                "valid": licensed,
                "active": licensed,
                "app-id": DRL_APP_ID,
            })
        }
        Answer::Login => {
            if !req.body.is_empty() {
                tracing::debug!("backend: login sent {} bytes (not kept)", req.body.len());
            }
            Value::Object(profile(ctx)?)
        }
        Answer::GameState => json!({
            "version": ctx.game_version,
            "maintenanceMode": false,
            "serverStatus": "online",
        }),
        Answer::PlayerState => match write_request(&req.body)? {
            Some(members) => {
                let changed = ctx.game.write_player_state(&members)?;
                tracing::info!(
                    "backend: player-state.json written ({} keys sent, changed: {})",
                    members.len(),
                    if changed.is_empty() {
                        "none".to_string()
                    } else {
                        changed.join(", ")
                    }
                );
                Value::Object(ctx.game.player_state()?)
            }
            None => Value::Object(ctx.game.player_state()?),
        },
        Answer::Storage => {
            if !req.body.is_empty() {
                tracing::warn!(
                    "backend: storage write to {} ({} bytes) not kept: no local file is known \
                     for it",
                    req.path,
                    req.body.len()
                );
            }
            json!({})
        }
        Answer::Profile => Value::Array(vec![Value::Object(profile(ctx)?)]),
        Answer::ProgressionTracks => {
            Value::Array(ctx.game.tracks().into_iter().map(Value::Object).collect())
        }
        Answer::ProgressionPlayer => Value::Object(ctx.game.player_state()?),
        Answer::Circuits => {
            let state = ctx.game.player_state()?;
            match state.get("circuits-data") {
                Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
                    Ok(Value::Array(a)) => Value::Array(a),
                    Ok(_) | Err(_) => {
                        tracing::warn!(
                            "backend: circuits-data in player-state.json is not a JSON array \
                             in a string; answering none"
                        );
                        json!([])
                    }
                },
                Some(Value::Array(a)) => Value::Array(a.clone()),
                _ => json!([]),
            }
        }
        Answer::Tournaments | Answer::MapsUpdated => json!([]),
        Answer::ContentManifest => {
            let maps: Vec<Value> = map_folders(ctx.game)
                .into_iter()
                .map(|f| json!({"id": f, "name": f, "enabled": true}))
                .collect();
            json!({"version": ctx.game_version, "maps": maps})
        }
        Answer::MapByGuid => {
            let guid = guid_of(req).unwrap_or_default();
            ctx.game
                .track(&guid)
                .ok_or(BackendError::NoSuchTrack { guid })?
        }
        Answer::MapsPage => maps_page(req, ctx.game),
        Answer::Ack => Value::Null,
    })
}

/// Steam's word on the license, or the setting's when Steam cannot say.
fn license(ctx: &Context<'_>) -> bool {
    match ctx.facts.owns_app(DRL_APP_ID) {
        Ok(true) => {
            tracing::info!(
                "backend: license: Steam says this account owns DRL Simulator ({DRL_APP_ID})"
            );
            true
        }
        Ok(false) => {
            tracing::warn!(
                "backend: license: Steam says this account does not own DRL Simulator \
                 ({DRL_APP_ID}); answering not licensed"
            );
            false
        }
        Err(why) => {
            tracing::warn!(
                "backend: license: cannot ask Steam whether this account owns DRL Simulator \
                 ({why}); answering {} as the setting Backend.OfflineLicensed says",
                if ctx.offline_licensed {
                    "licensed"
                } else {
                    "not licensed"
                }
            );
            ctx.offline_licensed
        }
    }
}

/// The profile: `player-state.json`, with the identity's Steam id, name
/// and photo over it when Steam vouches for them, and the ids filled in
/// when missing.
fn profile(ctx: &Context<'_>) -> Result<Map<String, Value>, BackendError> {
    let mut p = ctx.game.player_state()?;
    if let Some(id) = ctx.facts.identity() {
        let set = |p: &mut Map<String, Value>, k: &str, v: String, always: bool| {
            let missing = match p.get(k) {
                None | Some(Value::Null) => true,
                Some(Value::String(s)) => s.is_empty(),
                Some(_) => false,
            };
            if always || missing {
                p.insert(k.to_string(), Value::String(v));
            }
        };
        let steam = id.source == Source::Steam;
        if let Some(steam_id) = id.steam_id {
            set(&mut p, "steam-id", steam_id.to_string(), steam);
        }
        set(&mut p, "profile-name", id.name.clone(), steam);
        if let Some(url) = &id.avatar_url {
            set(&mut p, "profile-photo-url", url.clone(), steam);
        }
        set(&mut p, "_id", id.player_id.clone(), false);
        set(&mut p, "player-id", id.player_id.clone(), false);
    }
    Ok(p)
}

/// The members a write request carries, or `None` for a read (no body).
/// Accepted: a JSON object; `{"data": <object or Base64 of one>}`; a JSON
/// string or a bare body of Base64 of an object.
fn write_request(body: &[u8]) -> Result<Option<Map<String, Value>>, BackendError> {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let bad = |why: &str| BackendError::BadRequest(format!("a player-state write {why}"));
    let from_b64 = |s: &str| -> Result<Map<String, Value>, BackendError> {
        let bytes = base64_decode(s).ok_or_else(|| bad("holds a string that is not Base64"))?;
        serde_json::from_slice(&bytes).map_err(|_| bad("holds Base64 that is not a JSON object"))
    };
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => return from_b64(text).map(Some),
    };
    match value {
        Value::Object(mut m) if m.len() == 1 && m.contains_key("data") => match m.remove("data") {
            Some(Value::Object(inner)) => Ok(Some(inner)),
            Some(Value::String(s)) => from_b64(&s).map(Some),
            _ => Err(bad(
                "has a `data` that is neither an object nor Base64 of one",
            )),
        },
        Value::Object(m) => Ok(Some(m)),
        Value::String(s) => from_b64(&s).map(Some),
        _ => Err(bad("is not a JSON object")),
    }
}

/// The official maps' folder names, sorted.
fn map_folders(game: &GameFolder) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(game.official_maps_dir())
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.'))
                .take(4096)
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Default and largest page size.
const PAGE_LIMIT_DEFAULT: usize = 20;
const PAGE_LIMIT_MAX: usize = 100;

/// Tracks filtered, sorted and cut into a page, or all of them as a plain
/// array when neither `page` nor `limit` is asked for.
fn maps_page(req: &Request, game: &GameFolder) -> Value {
    let mut tracks = game.tracks();
    if let Some(want) = req.query_value("is-race-allowed") {
        let want = want.eq_ignore_ascii_case("true") || want == "1";
        tracks.retain(|t| {
            t.get("is-race-allowed")
                .and_then(Value::as_bool)
                .unwrap_or(true)
                == want
        });
    }
    if let Some(key) = req
        .query_value("sort")
        .filter(|k| matches!(*k, "score" | "created-at" | "updated-at" | "rating-count"))
    {
        let desc = !req
            .query_value("order")
            .is_some_and(|o| o.eq_ignore_ascii_case("asc") || o == "1");
        tracks.sort_by(|a, b| {
            let ord = compare(a.get(key), b.get(key));
            if desc {
                ord.reverse()
            } else {
                ord
            }
        });
    }
    if req.query_value("page").is_none() && req.query_value("limit").is_none() {
        return Value::Array(tracks.into_iter().map(Value::Object).collect());
    }
    let limit = req
        .query_value("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(PAGE_LIMIT_DEFAULT)
        .clamp(1, PAGE_LIMIT_MAX);
    // Pages count from 1; 0 is read as the first.
    let page = req
        .query_value("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let total = tracks.len();
    let pages = total.div_ceil(limit);
    let items: Vec<Value> = tracks
        .into_iter()
        .skip((page - 1).saturating_mul(limit))
        .take(limit)
        .map(Value::Object)
        .collect();
    let paging = json!({"page": page, "limit": limit, "total": total, "pages": pages});
    json!({"pagging": paging, "paging": paging, "data": items})
}

/// Orders two track fields: numbers by value, text by text, missing last.
fn compare(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        _ => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, target: &str) -> Option<&'static str> {
        Routes::default()
            .find(&Request::new(method, target, b""))
            .map(|r| r.spec.id)
    }

    #[test]
    fn requests_find_their_routes_by_whole_segments() {
        let cases = [
            ("GET", "/v1/player/license", Some("license")),
            ("POST", "/drl.service.login.v2", Some("login")),
            ("POST", "/api/login", Some("login")),
            ("GET", "/state/game", Some("game-state")),
            ("GET", "/state/player", Some("player-state")),
            ("POST", "/state", Some("player-state")),
            (
                "GET",
                "/drl.service.storage.player.get",
                Some("player-state"),
            ),
            ("GET", "/drl.service.storage.settings", Some("storage")),
            ("GET", "/progression/tracks", Some("progression-tracks")),
            ("GET", "/progression/player", Some("progression-player")),
            ("GET", "/maps/updated?full=true", Some("maps-updated")),
            ("GET", "/maps/user/updated", Some("maps-updated")),
            ("GET", "/maps?guid=MP-1", Some("map-by-guid")),
            ("GET", "/maps/CMP-abc", Some("map-by-guid")),
            ("GET", "/maps?page=1&limit=10", Some("maps-page")),
            ("GET", "/circuits", Some("circuits")),
            ("GET", "/tournaments/active", Some("tournaments")),
            ("GET", "/content/manifest", Some("content-manifest")),
            ("GET", "/player/profile", Some("profile")),
            ("GET", "/TIME", Some("time")),
            ("POST", "/analytics/event", Some("analytics")),
            ("GET", "/analytics/event", None),
            ("GET", "/states", None),
            ("GET", "/timeline", None),
            ("GET", "/", None),
        ];
        for (m, t, want) in cases {
            assert_eq!(route(m, t), want, "{m} {t}");
        }
    }

    #[test]
    fn every_route_is_documented_and_reachable() {
        let routes = Routes::default();
        for spec in ROUTES {
            assert!(
                !spec.source.is_empty() && !spec.service.is_empty(),
                "{}",
                spec.id
            );
            let reached = spec.paths.iter().any(|p| {
                let p = p.replace('*', "x");
                let target = if spec.answer == Answer::MapByGuid {
                    format!("{p}?guid=g")
                } else {
                    p
                };
                let method = spec.methods.first().copied().unwrap_or("GET");
                routes
                    .find(&Request::new(method, &target, b""))
                    .map(|r| r.spec.id)
                    == Some(spec.id)
            });
            assert!(reached, "no path of {} reaches it", spec.id);
        }
        let mut ids: Vec<&str> = ROUTES.iter().map(|r| r.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), ROUTES.len(), "route ids are unique");
    }

    #[test]
    fn overrides_correct_a_route_and_refuse_what_they_do_not_know() {
        let r = Routes::with_overrides(
            r#"{"license": {"paths": ["/v3/entitlement/*"], "encoding": "raw"},
                "time": {"methods": ["POST"]}}"#,
        )
        .unwrap();
        let lic = r
            .find(&Request::new("GET", "/v3/entitlement/abc", b""))
            .unwrap();
        assert_eq!((lic.spec.id, lic.encoding), ("license", Encoding::Raw));
        // The old path now falls to the next route that matches it.
        assert_eq!(
            r.find(&Request::new("GET", "/player/license", b""))
                .map(|r| r.spec.id),
            Some("profile")
        );
        assert!(r.find(&Request::new("GET", "/time", b"")).is_none());
        assert_eq!(
            r.find(&Request::new("POST", "/time", b""))
                .map(|r| r.spec.id),
            Some("time")
        );
        let e = Routes::with_overrides(r#"{"nope": {}}"#).unwrap_err();
        assert!(e.contains("\"nope\"") && e.contains("license"), "{e}");
        let e = Routes::with_overrides(r#"{"time": {"pathz": []}}"#).unwrap_err();
        assert!(e.contains("pathz"), "{e}");
        let e = Routes::with_overrides(r#"{"time": {"encoding": "hex"}}"#).unwrap_err();
        assert!(e.contains("hex"), "{e}");
        let e = Routes::with_overrides(r#"{"time": {"paths": ["/"]}}"#).unwrap_err();
        assert!(e.contains("match everything"), "{e}");
        assert!(Routes::with_overrides("[1]").is_err());
        assert!(Routes::with_overrides("  ").is_ok());
    }

    #[test]
    fn write_bodies_in_every_accepted_form_give_the_same_members() {
        let obj = r#"{"profile-name":"Ace","x":1}"#;
        let b64 = base64_encode(obj.as_bytes());
        let forms = [
            obj.to_string(),
            format!(r#"{{"data":{obj}}}"#),
            format!(r#"{{"data":"{b64}"}}"#),
            format!(r#""{b64}""#),
            b64.clone(),
        ];
        for f in &forms {
            let m = write_request(f.as_bytes()).unwrap().unwrap();
            assert_eq!(m.get("profile-name"), Some(&json!("Ace")), "{f}");
            assert_eq!(m.len(), 2, "{f}");
        }
        assert!(write_request(b"  \r\n").unwrap().is_none());
        for bad in [&b"[1,2]"[..], b"{\"data\": 5}", b"not base64!", b"\"e30\"x"] {
            assert!(
                matches!(write_request(bad), Err(BackendError::BadRequest(_))),
                "{bad:?}"
            );
        }
    }
}
