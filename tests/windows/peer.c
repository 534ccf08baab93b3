/* One peer of a room, driven by tests/windows.rs: the same source is built
 * for Linux (against libpropwash.so) and for Windows (against the packaged
 * propwash.dll, run under Wine), so a room can have a host on one system and
 * a pilot on the other.
 *
 *   peer host [--bind A] [--coordinator A --listing JSON] [--serve DIR MAP TRACK]
 *             [--start MS --seconds S] [--hz N] [--rate N] [--debug]
 *   peer join (--host A | --coordinator A (--session ID | --find TEXT))
 *             [--bind A] [--maps DIR] [--start MS --seconds S] [--hz N] [--rate N] [--debug]
 *   peer identity CONFIG_DIR GAME_DIR NAME [steam]   (offline unless "steam")
 *   peer bind ADDR
 *   peer hold FILE MS          (Windows: keeps FILE open, sharing reads only)
 *
 * A flight: from wall-clock time --start (ms since 1970, the same clock on
 * both systems) for --seconds, the peer pushes ticks 1..N at --hz, reads the
 * remote pilots every 2 ms and sends a numbered game event every 250 ms.
 * Then it keeps reading for 1 s. Its result lists the remote ticks it never
 * read (`missing`) and its own ticks that were pushed in one burst with the
 * next one after a late wake-up (`superseded`: the library sends the newest
 * frame, so these are not expected to arrive), and the longest pause
 * between two turns of its loop from the start on (`max_gap_ms`: the
 * machine's hiccups, not the network's), and its link's packet counts to
 * the other peer when the flight ends. It prints what happened as lines:
 * `port N`, `session ID`, `seated ...`, `track-ready ...`, `log ...`,
 * `error ...`, and last `result {json}`; it exits 1 if it counted errors.
 * Every wait is bounded. */
#ifdef _WIN32
#define _WIN32_WINNT 0x0602
#include <windows.h>
#else
#define _POSIX_C_SOURCE 200809L
#include <time.h>
#endif

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "propwash.h"

#define GAME "windows-peer"
#define MAX_TICKS 20000
#define EVENT_EVERY_MS 250.0
#define LINGER_MS 1000.0
#define SEAT_LIMIT_MS 20000.0
#define TRACK_LIMIT_MS 30000.0

static double wall_ms(void) {
#ifdef _WIN32
    FILETIME ft;
    ULARGE_INTEGER t;
    GetSystemTimePreciseAsFileTime(&ft);
    t.LowPart = ft.dwLowDateTime;
    t.HighPart = ft.dwHighDateTime;
    /* 100 ns units since 1601 to ms since 1970. */
    return (double)(t.QuadPart - 116444736000000000ULL) / 10000.0;
#else
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
#endif
}

static void sleep_ms(double ms) {
    if (ms <= 0) {
        return;
    }
#ifdef _WIN32
    Sleep((DWORD)(ms + 0.5));
#else
    struct timespec ts;
    ts.tv_sec = (time_t)(ms / 1000.0);
    ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1000.0) * 1e6);
    nanosleep(&ts, NULL);
#endif
}

static int errors = 0;

static void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

static PwStr str(const char *s) {
    PwStr r;
    r.ptr = (const uint8_t *)s;
    r.len = s ? strlen(s) : 0;
    return r;
}

static const char *last_error(void) {
    static char buf[1024];
    size_t len = 0;
    if (pw_last_error((uint8_t *)buf, sizeof buf - 1, &len) != PW_RESULT_OK) {
        len = 0;
    }
    buf[len] = '\0';
    return buf;
}

static void error(const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    errors++;
    say("error %s", msg);
}

static void drain_log(void) {
    char line[2048];
    size_t len = 0;
    int n;
    for (n = 0; n < 256; n++) {
        PwResult r = pw_log_read((uint8_t *)line, sizeof line - 1, &len);
        if (r != PW_RESULT_OK) {
            return;
        }
        line[len] = '\0';
        say("log %s", line);
    }
}

/* Copies the 16 hex digits after `"session_id":"` in `json` to `out`. */
static int session_id_in(const char *json, char out[17]) {
    const char *key = "\"session_id\":\"";
    const char *at = strstr(json, key);
    if (!at || strlen(at + strlen(key)) < 16) {
        return 0;
    }
    memcpy(out, at + strlen(key), 16);
    out[16] = '\0';
    return 1;
}

/* ---- the flight ---------------------------------------------------------- */

typedef struct {
    int is_host;
    double start;
    double seconds;
    double hz;
    uint32_t ticks;
    uint8_t *seen;       /* seen[k]: remote tick k was read */
    uint8_t *superseded; /* superseded[k]: our tick k was pushed in one go with k + 1 */
    uint32_t frames_bad;
    uint32_t events_sent;
    uint32_t events_got;
    uint32_t events_dup;
    uint32_t events_order;
    uint32_t events_bad;
    uint32_t next_seq; /* the next sequence number expected */
    double max_gap_ms; /* the longest pause between two turns of the flight's loop */
    PwPeerStats link; /* the link to the other peer, as last seen */
    uint32_t pilots_joined;
    uint32_t pilots_left;
    int closed;
    int track_done;
} Flight;

static float tick_x(uint32_t tick) {
    return (float)(tick % 4000u) * 0.25f;
}

static PwPilotFrame make_frame(uint32_t tick, int is_host) {
    PwPilotFrame f;
    memset(&f, 0, sizeof f);
    f.tick = tick;
    f.position[0] = tick_x(tick);
    f.position[1] = is_host ? 1.0f : 2.0f;
    f.rotation[3] = 1.0f;
    f.input.throttle = 0.5f;
    return f;
}

static size_t event_len(uint32_t seq, uint32_t count) {
    if (seq == count / 2) {
        return PW_MAX_EVENT_PAYLOAD;
    }
    return 8 + (size_t)((seq * 977u) % 2040u);
}

static void fill_event(uint8_t *p, size_t len, uint32_t seq) {
    size_t i;
    memcpy(p, &seq, 4);
    memcpy(p + 4, &len, 4);
    for (i = 8; i < len; i++) {
        p[i] = (uint8_t)(seq + i);
    }
}

static int event_ok(const uint8_t *p, size_t len, uint32_t *seq) {
    uint32_t stated = 0;
    size_t i;
    if (len < 8) {
        return 0;
    }
    memcpy(seq, p, 4);
    memcpy(&stated, p + 4, 4);
    if (stated != (uint32_t)len) {
        return 0;
    }
    for (i = 8; i < len; i++) {
        if (p[i] != (uint8_t)(*seq + i)) {
            return 0;
        }
    }
    return 1;
}

static uint8_t event_buf[PW_MAX_EVENT_PAYLOAD + 64];

static void poll_events(PwSession *s, Flight *f) {
    PwEvent ev;
    size_t len = 0;
    int n;
    for (n = 0; n < 1000; n++) {
        PwResult r = pw_session_poll_event(s, &ev, event_buf, sizeof event_buf - 1, &len);
        if (r == PW_RESULT_EMPTY) {
            return;
        }
        if (r != PW_RESULT_OK) {
            error("pw_session_poll_event returned %u: %s", (unsigned)r, last_error());
            return;
        }
        switch (ev.kind) {
        case PW_EVENT_KIND_PLAYER_JOINED:
            if (f->is_host && ev.role == PW_ROLE_PILOT) {
                f->pilots_joined++;
                say("joined actor=%u", (unsigned)ev.actor);
            }
            break;
        case PW_EVENT_KIND_PLAYER_LEFT:
            if (f->is_host) {
                f->pilots_left++;
                say("left actor=%u reason=%u", (unsigned)ev.actor, (unsigned)ev.reason);
            }
            break;
        case PW_EVENT_KIND_GAME_EVENT: {
            uint32_t seq = 0;
            if (ev.code != 9 || !event_ok(event_buf, len, &seq)) {
                f->events_bad++;
            } else if (seq < f->next_seq) {
                f->events_dup++;
            } else {
                if (seq != f->next_seq) {
                    f->events_order++;
                }
                f->next_seq = seq + 1;
                f->events_got++;
            }
            break;
        }
        case PW_EVENT_KIND_TRACK_READY:
            event_buf[len] = '\0';
            say("track-ready downloaded=%d %s", ev.downloaded ? 1 : 0, (const char *)event_buf);
            f->track_done = 1;
            break;
        case PW_EVENT_KIND_TRACK_FAILED:
            event_buf[len] = '\0';
            say("track-failed %s", (const char *)event_buf);
            f->track_done = 1;
            break;
        case PW_EVENT_KIND_REFUSED:
            event_buf[len] = '\0';
            error("refused (%u): %s", (unsigned)ev.reason, (const char *)event_buf);
            break;
        case PW_EVENT_KIND_REQUEST_FAILED:
            event_buf[len] = '\0';
            error("request failed: %s", (const char *)event_buf);
            break;
        case PW_EVENT_KIND_CLOSED:
            f->closed = 1;
            say("closed reason=%u", (unsigned)ev.reason);
            break;
        default:
            break;
        }
    }
}

static void poll_lobby(PwSession *s) {
    char buf[4096];
    size_t len = 0;
    char id[17];
    while (pw_session_poll_lobby_event(s, (uint8_t *)buf, sizeof buf - 1, &len) == PW_RESULT_OK) {
        buf[len] = '\0';
        say("lobby %s", buf);
        if (strstr(buf, "\"registered\"") && session_id_in(buf, id)) {
            say("session %s", id);
        }
    }
}

static void read_remote(PwSession *s, Flight *f) {
    PwPilotState st[PW_MAX_PILOTS];
    size_t count = 0;
    size_t i;
    PwResult r = pw_session_read_pilots(s, st, PW_MAX_PILOTS, &count);
    if (r != PW_RESULT_OK) {
        error("pw_session_read_pilots returned %u: %s", (unsigned)r, last_error());
        return;
    }
    for (i = 0; i < count; i++) {
        uint32_t t = st[i].frame.tick;
        if (t == 0 || t > f->ticks) {
            continue;
        }
        if (!f->seen[t]) {
            float dx = st[i].frame.position[0] - tick_x(t);
            if (dx > 0.01f || dx < -0.01f) {
                f->frames_bad++;
            }
        }
        f->seen[t] = 1;
    }
}

/* Keeps the counts of the link to the other peer while it is there: the
 * peer that lingers longer would otherwise read them after the other left
 * (its link gone with it) and report none. */
static void note_link(PwSession *s, Flight *f) {
    PwPeerStats st[PW_MAX_PEERS];
    PwSessionInfo info;
    size_t n = 0;
    size_t i;
    if (pw_session_stats(s, st, PW_MAX_PEERS, &n) == PW_RESULT_OK &&
        pw_session_info(s, &info) == PW_RESULT_OK) {
        for (i = 0; i < n; i++) {
            if (st[i].actor != info.actor) {
                f->link = st[i];
            }
        }
    }
}

/* One step of every loop: events, lobby reports, remote frames, log. */
static void pump(PwSession *s, Flight *f) {
    poll_events(s, f);
    poll_lobby(s);
    read_remote(s, f);
    drain_log();
}

static void fly(PwSession *s, Flight *f) {
    uint32_t pushed = 0;
    uint32_t events = (uint32_t)((f->seconds * 1000.0 - 1000.0) / EVENT_EVERY_MS) + 1;
    double end = f->start + f->seconds * 1000.0;
    uint8_t *payload = (uint8_t *)malloc(PW_MAX_EVENT_PAYLOAD);
    if (!payload) {
        error("out of memory");
        return;
    }
    while (wall_ms() < f->start) {
        pump(s, f);
        sleep_ms(2);
    }
    double last_turn = f->start;
    while (pushed < f->ticks && !f->closed) {
        double now = wall_ms();
        if (now - last_turn > f->max_gap_ms) {
            f->max_gap_ms = now - last_turn;
        }
        last_turn = now;
        /* Every tick whose time has come: after a late wake-up several go
         * in one burst, as a game's physics catches up, and the library
         * sends the newest of them (by design: the last frame wins). */
        uint32_t burst = 0;
        while (pushed < f->ticks && now >= f->start + (double)pushed * 1000.0 / f->hz) {
            PwPilotFrame fr = make_frame(pushed + 1, f->is_host);
            PwResult r = pw_session_push_local(s, &fr);
            if (r != PW_RESULT_OK && r != PW_RESULT_QUEUE_FULL) {
                error("pw_session_push_local returned %u: %s", (unsigned)r, last_error());
            }
            if (burst++ > 0) {
                f->superseded[pushed] = 1;
            }
            pushed++;
        }
        while (f->events_sent < events &&
               now >= f->start + 500.0 + (double)f->events_sent * EVENT_EVERY_MS) {
            size_t len = event_len(f->events_sent, events);
            PwResult r;
            fill_event(payload, len, f->events_sent);
            r = pw_session_send_event(s, 9, PW_EVENT_TARGET_OTHERS, 0, payload, len);
            if (r != PW_RESULT_OK) {
                error("pw_session_send_event returned %u: %s", (unsigned)r, last_error());
            }
            f->events_sent++;
        }
        pump(s, f);
        sleep_ms(2);
    }
    free(payload);
    while (wall_ms() < end + LINGER_MS && !f->closed) {
        double now = wall_ms();
        if (now - last_turn > f->max_gap_ms) {
            f->max_gap_ms = now - last_turn;
        }
        last_turn = now;
        pump(s, f);
        note_link(s, f);
        sleep_ms(2);
    }
    note_link(s, f);
}

/* Appends the ticks k in 1..ticks with flags[k] == want as "a,b,c". */
static char *tick_list(const uint8_t *flags, uint32_t ticks, uint8_t want) {
    char *out = (char *)malloc((size_t)ticks * 7 + 1);
    size_t used = 0;
    uint32_t k;
    if (!out) {
        return NULL;
    }
    out[0] = '\0';
    for (k = 1; flags && k <= ticks; k++) {
        if (flags[k] == want) {
            used += (size_t)sprintf(out + used, "%s%u", used ? "," : "", (unsigned)k);
        }
    }
    return out;
}

static void print_result(const char *role, const Flight *f) {
    uint32_t got = 0;
    uint32_t k;
    char *missing = tick_list(f->seen, f->ticks, 0);
    char *superseded = tick_list(f->superseded, f->ticks, 1);
    for (k = 1; f->seen && k <= f->ticks; k++) {
        got += f->seen[k] ? 1u : 0u;
    }
    say("result {\"role\":\"%s\",\"ticks\":%u,\"frames_got\":%u,\"missing\":[%s],"
        "\"superseded\":[%s],\"frames_bad\":%u,\"events_sent\":%u,\"events_got\":%u,"
        "\"events_dup\":%u,\"events_order\":%u,\"events_bad\":%u,\"max_gap_ms\":%.0f,"
        "\"packets_sent\":%llu,\"packets_received\":%llu,\"packets_lost\":%llu,"
        "\"errors\":%d}",
        role, (unsigned)f->ticks, (unsigned)got, missing ? missing : "",
        superseded ? superseded : "", (unsigned)f->frames_bad, (unsigned)f->events_sent,
        (unsigned)f->events_got, (unsigned)f->events_dup, (unsigned)f->events_order,
        (unsigned)f->events_bad, f->max_gap_ms, (unsigned long long)f->link.packets_sent,
        (unsigned long long)f->link.packets_received, (unsigned long long)f->link.packets_lost,
        errors);
    free(missing);
    free(superseded);
}

/* ---- host and join -------------------------------------------------------- */

typedef struct {
    const char *bind;
    const char *host;
    const char *coordinator;
    const char *listing;
    const char *session;
    const char *find;
    const char *serve_dir;
    const char *serve_map;
    const char *serve_track;
    const char *maps;
    double start;
    double seconds;
    double hz;
    uint32_t rate;
    int debug;
} Args;

static int parse(int argc, char **argv, Args *a) {
    int i;
    memset(a, 0, sizeof *a);
    a->bind = "127.0.0.1:0";
    a->hz = 60;
    a->rate = 120;
    for (i = 2; i < argc; i++) {
        const char *o = argv[i];
        int left = argc - i - 1;
        if (!strcmp(o, "--debug")) {
            a->debug = 1;
        } else if (!strcmp(o, "--serve") && left >= 3) {
            a->serve_dir = argv[++i];
            a->serve_map = argv[++i];
            a->serve_track = argv[++i];
        } else if (left < 1) {
            fprintf(stderr, "peer: %s needs a value\n", o);
            return 0;
        } else if (!strcmp(o, "--bind")) {
            a->bind = argv[++i];
        } else if (!strcmp(o, "--host")) {
            a->host = argv[++i];
        } else if (!strcmp(o, "--coordinator")) {
            a->coordinator = argv[++i];
        } else if (!strcmp(o, "--listing")) {
            a->listing = argv[++i];
        } else if (!strcmp(o, "--session")) {
            a->session = argv[++i];
        } else if (!strcmp(o, "--find")) {
            a->find = argv[++i];
        } else if (!strcmp(o, "--maps")) {
            a->maps = argv[++i];
        } else if (!strcmp(o, "--start")) {
            a->start = atof(argv[++i]);
        } else if (!strcmp(o, "--seconds")) {
            a->seconds = atof(argv[++i]);
        } else if (!strcmp(o, "--hz")) {
            a->hz = atof(argv[++i]);
        } else if (!strcmp(o, "--rate")) {
            a->rate = (uint32_t)atoi(argv[++i]);
        } else {
            fprintf(stderr, "peer: unknown option %s\n", o);
            return 0;
        }
    }
    if (a->seconds < 0 || a->seconds * a->hz > MAX_TICKS || a->hz <= 0) {
        fprintf(stderr, "peer: --seconds and --hz give too many ticks\n");
        return 0;
    }
    return 1;
}

static void init_flight(Flight *f, const Args *a, int is_host) {
    memset(f, 0, sizeof *f);
    f->is_host = is_host;
    f->start = a->start > 0 ? a->start : wall_ms();
    f->seconds = a->seconds;
    f->hz = a->hz;
    f->ticks = (uint32_t)(a->seconds * a->hz);
    f->seen = (uint8_t *)calloc(f->ticks + 1, 1);
    f->superseded = (uint8_t *)calloc(f->ticks + 1, 1);
}

static void say_port(PwSession *s) {
    PwSessionInfo info;
    if (pw_session_info(s, &info) == PW_RESULT_OK) {
        say("port %u", (unsigned)info.local_port);
    } else {
        error("pw_session_info: %s", last_error());
    }
}

static int run_host(const Args *a) {
    PwHostOptions ho;
    PwSession *s = NULL;
    Flight f;
    PwResult r;
    double end;
    pw_host_options_default(&ho);
    ho.bind_addr = str(a->bind);
    ho.game_version = str(GAME);
    ho.player_name = str("Host");
    ho.pilot_hz = a->rate;
    if (a->coordinator) {
        ho.coordinator_addr = str(a->coordinator);
        ho.listing_json = str(a->listing);
    }
    r = pw_session_host(&ho, &s);
    if (r != PW_RESULT_OK) {
        error("pw_session_host returned %u: %s", (unsigned)r, last_error());
        return 1;
    }
    say_port(s);
    init_flight(&f, a, 1);
    if (a->serve_dir) {
        r = pw_session_serve_track(s, str(a->serve_dir), str(a->serve_map), str(a->serve_track), true);
        if (r != PW_RESULT_OK) {
            error("pw_session_serve_track returned %u: %s", (unsigned)r, last_error());
        }
    }
    if (f.ticks > 0) {
        end = f.start;
        while (f.pilots_joined == 0 && wall_ms() < end) {
            pump(s, &f);
            sleep_ms(2);
        }
        if (f.pilots_joined == 0) {
            error("no pilot joined before the start");
        } else {
            fly(s, &f);
        }
    }
    /* Serve until the joiners have gone (bounded). */
    end = wall_ms() + TRACK_LIMIT_MS;
    while (f.pilots_left < f.pilots_joined && !f.closed && wall_ms() < end) {
        pump(s, &f);
        sleep_ms(5);
    }
    if (a->serve_dir && !f.track_done) {
        /* A host with no flight waits for its own announcement. */
        end = wall_ms() + 10000.0;
        while (!f.track_done && wall_ms() < end) {
            pump(s, &f);
            sleep_ms(5);
        }
    }
    pw_session_leave(s);
    pw_session_free(s);
    drain_log();
    print_result("host", &f);
    free(f.seen);
    free(f.superseded);
    return errors ? 1 : 0;
}

/* Finds a room through the lobby: the first listed room whose listing
 * mentions `text`; its id goes to `out`. */
static int find_room(const char *coordinator, const char *text, char out[17]) {
    PwLobby *lobby = NULL;
    char buf[16384];
    size_t len = 0;
    uint32_t id = 0;
    double end = wall_ms() + 10000.0;
    double next_list = 0;
    PwResult r = pw_lobby_open(str(coordinator), str(GAME), &lobby);
    if (r != PW_RESULT_OK) {
        error("pw_lobby_open returned %u: %s", (unsigned)r, last_error());
        return 0;
    }
    while (wall_ms() < end) {
        if (wall_ms() >= next_list) {
            r = pw_lobby_list(lobby, str(""), &id);
            if (r != PW_RESULT_OK) {
                error("pw_lobby_list returned %u: %s", (unsigned)r, last_error());
                break;
            }
            next_list = wall_ms() + 250.0;
        }
        while (pw_lobby_poll(lobby, (uint8_t *)buf, sizeof buf - 1, &len) == PW_RESULT_OK) {
            buf[len] = '\0';
            if (strstr(buf, text) && session_id_in(buf, out)) {
                say("found %s", out);
                pw_lobby_free(lobby);
                return 1;
            }
        }
        drain_log();
        sleep_ms(5);
    }
    pw_lobby_free(lobby);
    error("no room mentioning %s was listed within 10 s", text);
    return 0;
}

static int run_join(const Args *a) {
    PwJoinOptions jo;
    PwSession *s = NULL;
    Flight f;
    PwResult r;
    PwEvent ev;
    size_t len = 0;
    double end;
    int seated = 0;
    char found[17];
    pw_join_options_default(&jo);
    jo.bind_addr = str(a->bind);
    jo.game_version = str(GAME);
    jo.player_name = str("Pilot");
    jo.role = PW_ROLE_PILOT;
    jo.send_hz = a->rate;
    if (a->maps) {
        jo.maps_dir = str(a->maps);
    }
    if (a->coordinator) {
        jo.coordinator_addr = str(a->coordinator);
        if (a->find) {
            if (!find_room(a->coordinator, a->find, found)) {
                return 1;
            }
            jo.session_id = str(found);
        } else {
            jo.session_id = str(a->session);
        }
    } else {
        jo.host_addr = str(a->host);
    }
    r = pw_session_join(&jo, &s);
    if (r != PW_RESULT_OK) {
        error("pw_session_join returned %u: %s", (unsigned)r, last_error());
        return 1;
    }
    say_port(s);
    init_flight(&f, a, 0);
    end = wall_ms() + SEAT_LIMIT_MS;
    while (!seated && !f.closed && wall_ms() < end) {
        r = pw_session_poll_event(s, &ev, event_buf, sizeof event_buf - 1, &len);
        if (r == PW_RESULT_OK) {
            if (ev.kind == PW_EVENT_KIND_WELCOMED) {
                seated = 1;
                say("seated actor=%u", (unsigned)ev.actor);
            } else if (ev.kind == PW_EVENT_KIND_REFUSED || ev.kind == PW_EVENT_KIND_CLOSED) {
                event_buf[len] = '\0';
                error("not seated (event %u): %s", (unsigned)ev.kind, (const char *)event_buf);
                f.closed = 1;
            }
            continue;
        }
        poll_lobby(s);
        drain_log();
        sleep_ms(2);
    }
    if (!seated) {
        if (!f.closed) {
            error("not seated within %.0f s", SEAT_LIMIT_MS / 1000.0);
        }
    } else {
        if (f.ticks > 0) {
            if (wall_ms() > f.start) {
                error("seated after the start");
            }
            fly(s, &f);
        }
        if (a->maps) {
            end = wall_ms() + TRACK_LIMIT_MS;
            while (!f.track_done && !f.closed && wall_ms() < end) {
                pump(s, &f);
                sleep_ms(5);
            }
            if (!f.track_done) {
                error("no track outcome within %.0f s", TRACK_LIMIT_MS / 1000.0);
            }
        }
    }
    pw_session_leave(s);
    pw_session_free(s);
    drain_log();
    print_result("pilot", &f);
    free(f.seen);
    free(f.superseded);
    return errors ? 1 : 0;
}

/* ---- identity, bind, hold ------------------------------------------------- */

static int run_identity(const char *config_dir, const char *game_dir, const char *name,
                        int steam) {
    PwIdentityOptions io;
    char buf[4096];
    size_t len = 0;
    PwResult r;
    double end = wall_ms() + 10000.0;
    pw_identity_options_default(&io);
    io.config_dir = str(config_dir);
    io.player_name = str(name);
    io.offline = !steam;
    io.fetch_avatar = false;
    r = pw_identity_start(&io);
    if (r != PW_RESULT_OK) {
        error("pw_identity_start returned %u: %s", (unsigned)r, last_error());
        return 1;
    }
    do {
        r = pw_identity_json((uint8_t *)buf, sizeof buf - 1, &len);
        if (r == PW_RESULT_PENDING) {
            sleep_ms(10);
        }
    } while (r == PW_RESULT_PENDING && wall_ms() < end);
    if (r != PW_RESULT_OK) {
        error("pw_identity_json returned %u: %s", (unsigned)r, last_error());
        return 1;
    }
    buf[len] = '\0';
    say("identity %s", buf);
    r = pw_identity_sync_player_state(str(game_dir), (uint8_t *)buf, sizeof buf - 1, &len);
    if (r == PW_RESULT_OK) {
        buf[len] = '\0';
        say("sync 0 %s", buf);
    } else {
        say("sync %u %s", (unsigned)r, last_error());
    }
    drain_log();
    return 0;
}

static int run_bind(const char *addr) {
    PwHostOptions ho;
    PwSession *first = NULL;
    PwSession *second = NULL;
    PwSessionInfo info;
    char again[64];
    PwResult r;
    pw_host_options_default(&ho);
    ho.bind_addr = str(addr);
    ho.game_version = str(GAME);
    r = pw_session_host(&ho, &first);
    if (r != PW_RESULT_OK || pw_session_info(first, &info) != PW_RESULT_OK) {
        error("the first host on %s: %u %s", addr, (unsigned)r, last_error());
        return 1;
    }
    say("first port=%u", (unsigned)info.local_port);
    snprintf(again, sizeof again, "127.0.0.1:%u", (unsigned)info.local_port);
    ho.bind_addr = str(again);
    r = pw_session_host(&ho, &second);
    say("same-address %u %s", (unsigned)r, r == PW_RESULT_OK ? "" : last_error());
    pw_session_free(second);
    second = NULL;
    snprintf(again, sizeof again, "0.0.0.0:%u", (unsigned)info.local_port);
    ho.bind_addr = str(again);
    r = pw_session_host(&ho, &second);
    say("any-address %u %s", (unsigned)r, r == PW_RESULT_OK ? "" : last_error());
    pw_session_free(second);
    pw_session_free(first);
    drain_log();
    return 0;
}

static int run_hold(const char *file, double ms) {
#ifdef _WIN32
    HANDLE h = CreateFileA(file, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING,
                           FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE) {
        error("cannot open %s: error %lu", file, (unsigned long)GetLastError());
        return 1;
    }
    say("holding %s", file);
    sleep_ms(ms);
    CloseHandle(h);
    say("released");
    return 0;
#else
    (void)ms;
    error("hold %s: only on Windows", file);
    return 1;
#endif
}

int main(int argc, char **argv) {
    Args a;
    const char *cmd = argc > 1 ? argv[1] : "";
    if (!strcmp(cmd, "identity") && (argc == 5 || (argc == 6 && !strcmp(argv[5], "steam")))) {
        return run_identity(argv[2], argv[3], argv[4], argc == 6);
    }
    if (!strcmp(cmd, "bind") && argc == 3) {
        return run_bind(argv[2]);
    }
    if (!strcmp(cmd, "hold") && argc == 4) {
        return run_hold(argv[2], atof(argv[3]));
    }
    if ((!strcmp(cmd, "host") || !strcmp(cmd, "join")) && parse(argc, argv, &a)) {
        if (a.debug) {
            pw_log_set_level(PW_LOG_LEVEL_DEBUG);
        }
        drain_log(); /* installs the capture */
        return !strcmp(cmd, "host") ? run_host(&a) : run_join(&a);
    }
    fprintf(stderr, "usage: see the top of tests/windows/peer.c\n");
    return 2;
}
