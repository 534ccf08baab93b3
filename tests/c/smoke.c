/* The C ABI from C: host a room, join it as a pilot, exchange frames and
 * one game event, then free both sessions (twice, to prove the tombstone).
 * Built and run by tests/c_smoke.rs with -std=c99 -Wall -Wextra -Werror.
 * Every wait is bounded; any failure prints the last error and exits 1. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "propwash.h"

#define WAIT_SECONDS 5.0

static PwStr str(const char *s) {
    PwStr r;
    r.ptr = (const uint8_t *)s;
    r.len = strlen(s);
    return r;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

static int fail(const char *what, PwResult r) {
    char buf[512];
    size_t len = 0;
    if (pw_last_error((uint8_t *)buf, sizeof buf - 1, &len) != PW_RESULT_OK) {
        len = 0;
    }
    buf[len] = '\0';
    fprintf(stderr, "c smoke: %s returned %u: %s\n", what, (unsigned)r, buf);
    return 1;
}

#define CHECK(call)                                                            \
    do {                                                                       \
        PwResult r_ = (call);                                                  \
        if (r_ != PW_RESULT_OK) {                                              \
            return fail(#call, r_);                                            \
        }                                                                      \
    } while (0)

static PwPilotFrame make_frame(uint32_t tick, float x) {
    PwPilotFrame f;
    memset(&f, 0, sizeof f);
    f.tick = tick;
    f.position[0] = x;
    f.position[1] = 2.0f;
    f.rotation[3] = 1.0f;
    f.input.throttle = 0.75f;
    return f;
}

/* Polls `s` until an event of `kind` arrives; its data goes to `buf`. */
static int wait_event(PwSession *s, PwEventKind kind, PwEvent *ev,
                      uint8_t *buf, size_t cap, size_t *len) {
    double end = now_seconds() + WAIT_SECONDS;
    while (now_seconds() < end) {
        PwResult r = pw_session_poll_event(s, ev, buf, cap, len);
        if (r == PW_RESULT_OK) {
            if (ev->kind == kind) {
                return 1;
            }
            continue;
        }
        if (r != PW_RESULT_EMPTY) {
            fail("pw_session_poll_event", r);
            return 0;
        }
        sleep_ms(2);
    }
    fprintf(stderr, "c smoke: no event of kind %u within 5 s\n", (unsigned)kind);
    return 0;
}

int main(void) {
    PwHostOptions ho;
    PwJoinOptions jo;
    PwSession *host = NULL;
    PwSession *pilot = NULL;
    PwSessionInfo info;
    PwEvent ev;
    PwPilotState pilots[PW_MAX_PILOTS];
    uint8_t data[256];
    size_t len = 0;
    size_t count = 0;
    char addr[64];
    const char *hello = "hello from C";
    uint32_t tick;
    uint32_t seen_tick = 0;
    double end;

    printf("c smoke: propwash %s\n", pw_version());
    printf("sizes PwStr=%zu PwPilotInput=%zu PwPilotFrame=%zu PwPilotState=%zu "
           "PwEvent=%zu PwSessionInfo=%zu PwPeerStats=%zu PwHostOptions=%zu "
           "PwJoinOptions=%zu PwIdentityOptions=%zu PwBackendOptions=%zu "
           "PwSessionCounters=%zu\n",
           sizeof(PwStr), sizeof(PwPilotInput), sizeof(PwPilotFrame),
           sizeof(PwPilotState), sizeof(PwEvent), sizeof(PwSessionInfo),
           sizeof(PwPeerStats), sizeof(PwHostOptions), sizeof(PwJoinOptions),
           sizeof(PwIdentityOptions), sizeof(PwBackendOptions),
           sizeof(PwSessionCounters));

    pw_host_options_default(&ho);
    ho.bind_addr = str("127.0.0.1:0");
    ho.game_version = str("c-smoke");
    ho.player_name = str("C Host");
    CHECK(pw_session_host(&ho, &host));
    CHECK(pw_session_info(host, &info));
    if (!info.is_host || info.actor != 1 || info.local_port == 0) {
        fprintf(stderr, "c smoke: unexpected host info\n");
        return 1;
    }
    snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)info.local_port);

    pw_join_options_default(&jo);
    jo.host_addr = str(addr);
    jo.bind_addr = str("127.0.0.1:0");
    jo.game_version = str("c-smoke");
    jo.player_name = str("C Pilot");
    jo.role = PW_ROLE_PILOT;
    CHECK(pw_session_join(&jo, &pilot));
    if (!wait_event(pilot, PW_EVENT_KIND_WELCOMED, &ev, data, sizeof data, &len)) {
        return 1;
    }
    if (ev.actor != 2 || ev.role != PW_ROLE_PILOT) {
        fprintf(stderr, "c smoke: welcomed as actor %u role %u\n",
                (unsigned)ev.actor, (unsigned)ev.role);
        return 1;
    }

    for (tick = 1; tick <= 120; tick++) {
        PwPilotFrame a = make_frame(tick, (float)tick);
        PwPilotFrame b = make_frame(tick, -(float)tick);
        CHECK(pw_session_push_local(host, &a));
        CHECK(pw_session_push_local(pilot, &b));
        sleep_ms(4);
    }
    end = now_seconds() + WAIT_SECONDS;
    while (seen_tick != 120 && now_seconds() < end) {
        CHECK(pw_session_read_pilots(host, pilots, PW_MAX_PILOTS, &count));
        if (count == 1 && pilots[0].actor == 2) {
            seen_tick = pilots[0].frame.tick;
        }
        sleep_ms(2);
    }
    if (seen_tick != 120 || pilots[0].frame.position[0] > -119.9f ||
        pilots[0].frame.position[0] < -120.1f) {
        fprintf(stderr, "c smoke: host saw tick %u\n", (unsigned)seen_tick);
        return 1;
    }

    CHECK(pw_session_send_event(pilot, 7, PW_EVENT_TARGET_HOST, 0,
                                (const uint8_t *)hello, strlen(hello)));
    if (!wait_event(host, PW_EVENT_KIND_GAME_EVENT, &ev, data, sizeof data, &len)) {
        return 1;
    }
    if (ev.code != 7 || ev.actor != 2 || len != strlen(hello) ||
        memcmp(data, hello, len) != 0) {
        fprintf(stderr, "c smoke: wrong game event\n");
        return 1;
    }

    CHECK(pw_session_leave(pilot));
    pw_session_free(pilot);
    pw_session_free(pilot); /* detected, not a crash */
    if (pw_session_info(pilot, &info) != PW_RESULT_INVALID_HANDLE) {
        fprintf(stderr, "c smoke: a freed handle was not detected\n");
        return 1;
    }
    pw_session_free(host);
    pw_session_free(NULL);

    printf("c smoke: ok frames=%u event=%.*s\n", (unsigned)seen_tick, (int)len,
           (const char *)data);
    return 0;
}
