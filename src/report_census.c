/* report_census.c - the census sections of `finscope report`: how many sockets the busiest hosts
 * hold in each TCP state, the servers whose CLOSE_WAIT count keeps growing, the TIME_WAIT
 * pressure on a client's ephemeral ports.  The counting is census.h's, the same as `finscope
 * states`; this file picks, samples and formats. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "finscope/census.h"
#include "finscope/escape.h"
#include "finscope/report.h"

/*
 * The second census, one load for two sections: a server endpoint in CLOSE_WAIT counts for
 * "L <capture> <server:port>", a client endpoint in TIME_WAIT for "T <capture> <client> ->
 * <server:port>", anything else is left out (NULL).  The capture is in the key so that two
 * captures of the same hours are not added up, and a server's growth is judged on its capture.
 */
#define LEAK_KEY "'L ' || capture_id || ' ' || " FSC_SQL_EP("host", "port")
#define TIME_WAIT_KEY                                                                              \
    "'T ' || capture_id || ' ' || host || ' -> ' || " FSC_SQL_EP("peer", "peer_port")
#define ENDS_KEY                                                                                   \
    "CASE WHEN endpoint = 'server' AND state = 'close_wait' THEN " LEAK_KEY                        \
    " WHEN endpoint = 'client' AND state = 'time_wait' THEN " TIME_WAIT_KEY " END"

/* Each selected capture's first and last packet, in the census's microseconds. */
#define SPANS_SQL                                                                                  \
    "SELECT id, CAST(round(first_ts * 1e6) AS INTEGER), CAST(round(last_ts * 1e6) AS INTEGER) "    \
    "FROM captures WHERE (?1 IS NULL OR id = ?1) AND first_ts IS NOT NULL "                        \
    "AND last_ts IS NOT NULL ORDER BY id"

struct span {
    int64_t id;
    fsc_time first, last;
};

struct fsc_report_census {
    struct fsc_census *hosts; /* key "host": every socket, as finscope states counts them */
    struct fsc_census *ends;  /* key ENDS_KEY */
    struct span *caps;
    size_t ncaps, capcap;
    bool oom;
};

static int span_row(void *user, int ncol, const char *const *names, const char *const *v)
{
    struct fsc_report_census *c = user;

    (void)names;
    if (ncol < 3 || !v[0] || !v[1] || !v[2])
        return 0;
    if (c->ncaps == c->capcap) {
        size_t cap = c->capcap ? 2 * c->capcap : 8;
        struct span *s = realloc(c->caps, cap * sizeof *s);
        if (!s) {
            c->oom = true;
            return 1;
        }
        c->caps = s;
        c->capcap = cap;
    }
    c->caps[c->ncaps++] =
        (struct span){strtoll(v[0], NULL, 10), strtoll(v[1], NULL, 10), strtoll(v[2], NULL, 10)};
    return 0;
}

int fsc_report_census_load(struct fsc_store *s, int64_t capture_id, struct fsc_report_census **out,
                           char *err, size_t errlen)
{
    struct fsc_report_census *c = calloc(1, sizeof *c);
    struct fsc_census_opts o;

    *out = NULL;
    if (!c) {
        fsc_seterr(err, errlen, "out of memory");
        return -1;
    }
    fsc_census_defaults(&o);
    o.capture_id = capture_id;
    if (fsc_store_query(s, SPANS_SQL, capture_id, span_row, c, err, errlen) < 0 ||
        fsc_census_load(s, &o, "host", &c->hosts, err, errlen) < 0 ||
        fsc_census_load(s, &o, ENDS_KEY, &c->ends, err, errlen) < 0)
        goto fail;
    if (c->oom) {
        fsc_seterr(err, errlen, "out of memory");
        goto fail;
    }
    *out = c;
    return 0;
fail:
    fsc_report_census_free(c);
    return -1;
}

void fsc_report_census_free(struct fsc_report_census *c)
{
    if (!c)
        return;
    fsc_census_free(c->hosts);
    fsc_census_free(c->ends);
    free(c->caps);
    free(c);
}

static const struct span *capture_span(const struct fsc_report_census *c, int64_t id)
{
    for (size_t i = 0; i < c->ncaps; i++)
        if (c->caps[i].id == id)
            return &c->caps[i];
    return NULL;
}

/* An instant as `finscope states` prints it: UTC "YYYY-MM-DD HH:MM:SS.ffffff", and seconds from
 * the first packet of the captures reported. */
struct when {
    char utc[48], rel[32];
};

static struct when when_of(fsc_time t, fsc_time start)
{
    struct when w = {"?", ""};
    int64_t us = ((t % FSC_USEC_PER_SEC) + FSC_USEC_PER_SEC) % FSC_USEC_PER_SEC;
    time_t secs = (time_t)((t - us) / FSC_USEC_PER_SEC);
    struct tm tm;
    size_t n = gmtime_r(&secs, &tm) ? strftime(w.utc, sizeof w.utc, "%Y-%m-%d %H:%M:%S", &tm) : 1;

    snprintf(w.utc + n, sizeof w.utc - n, ".%06lld", (long long)us);
    snprintf(w.rel, sizeof w.rel, "%.6f", fsc_time_seconds(t - start));
    return w;
}

/* Sockets per host: per state of each of the busiest hosts (states' order, pairs that were ever
 * above 0, as states shows them).  The hosts beyond FSC_REPORT_HOSTS_SHOWN are counted. */
static int host_rows(const struct fsc_census *c, fsc_store_row_fn row, void *user)
{
    uint32_t key = UINT32_MAX;
    int hosts = 0;

    for (size_t i = 0; i < fsc_census_npairs(c); i++) {
        const struct fsc_census_pair *p = fsc_census_pair(c, i);
        if (p->peak <= 0)
            continue;
        if (p->key != key) {
            key = p->key;
            hosts++;
        }
        if (hosts > FSC_REPORT_HOSTS_SHOWN)
            continue;
        char end[24], peak[24];
        struct when w = when_of(p->peak_at, fsc_census_start(c));
        snprintf(end, sizeof end, "%lld", (long long)p->at_end);
        snprintf(peak, sizeof peak, "%lld", (long long)p->peak);
        const char *v[] = {
            fsc_census_key(c, p->key), fsc_census_state_name(p->state), end, peak, w.utc, w.rel};
        if (row(user, 6, NULL, v))
            return -1;
    }
    return hosts > FSC_REPORT_HOSTS_SHOWN ? hosts - FSC_REPORT_HOSTS_SHOWN : 0;
}

/* The kind ('L' or 'T') of an ENDS_KEY, its capture and the text shown; 0 for another key. */
static char ends_key(const char *key, int64_t *capture, const char **shown)
{
    char *end;

    if ((key[0] != 'L' && key[0] != 'T') || key[1] != ' ')
        return 0;
    *capture = strtoll(key + 2, &end, 10);
    if (end == key + 2 || *end != ' ')
        return 0;
    *shown = end + 1;
    return key[0];
}

/*
 * A CLOSE_WAIT count that keeps growing: sampled at 25, 50, 75 and 100% of its capture, it never
 * falls, ends above where it was at 25%, and ends at 2 or more (one socket is not yet a trend).
 * Sockets an application forgets to close() pile up this way; a busy server that closes them
 * goes up and down.
 */
static bool keeps_growing(const int64_t n[4])
{
    return n[0] <= n[1] && n[1] <= n[2] && n[2] <= n[3] && n[3] > n[0] && n[3] >= 2;
}

/* The CLOSE_WAIT leak suspects, busiest first: server, capture, the four counts, peak. */
static int leak_rows(const struct fsc_report_census *rc, fsc_store_row_fn row, void *user)
{
    const struct fsc_census *c = rc->ends;
    int close_wait = fsc_census_state_index("close_wait");

    for (size_t i = 0; i < fsc_census_npairs(c); i++) {
        const struct fsc_census_pair *p = fsc_census_pair(c, i);
        const struct span *sp;
        const char *server;
        int64_t cap, n[4];
        if (p->state != close_wait || ends_key(fsc_census_key(c, p->key), &cap, &server) != 'L' ||
            !(sp = capture_span(rc, cap)))
            continue;
        for (int q = 0; q < 4; q++)
            n[q] = fsc_census_count_at(c, i, sp->first + (sp->last - sp->first) * (q + 1) / 4);
        if (!keeps_growing(n))
            continue;
        char num[6][24];
        struct when w = when_of(p->peak_at, fsc_census_start(rc->hosts));
        snprintf(num[0], sizeof num[0], "%lld", (long long)cap);
        for (int q = 0; q < 4; q++)
            snprintf(num[q + 1], sizeof num[q + 1], "%lld", (long long)n[q]);
        snprintf(num[5], sizeof num[5], "%lld", (long long)p->peak);
        const char *v[] = {server, num[0], num[1], num[2], num[3], num[4], num[5], w.utc, w.rel};
        if (row(user, 9, NULL, v))
            return -1;
    }
    return 0;
}

/* TIME_WAIT pressure, highest peak first: client -> server, capture, peak, its share of the
 * ephemeral ports (FSC_EPHEMERAL_PORTS), when. */
static int time_wait_rows(const struct fsc_census *c, fsc_time start, fsc_store_row_fn row,
                          void *user)
{
    int time_wait = fsc_census_state_index("time_wait");

    for (size_t i = 0; i < fsc_census_npairs(c); i++) {
        const struct fsc_census_pair *p = fsc_census_pair(c, i);
        const char *pair;
        int64_t cap;
        if (p->state != time_wait || p->peak <= 0 ||
            ends_key(fsc_census_key(c, p->key), &cap, &pair) != 'T')
            continue;
        char capture[24], peak[24], share[32];
        struct when w = when_of(p->peak_at, start);
        snprintf(capture, sizeof capture, "%lld", (long long)cap);
        snprintf(peak, sizeof peak, "%lld", (long long)p->peak);
        snprintf(share, sizeof share, "%.1f", 100.0 * (double)p->peak / FSC_EPHEMERAL_PORTS);
        const char *v[] = {pair, capture, peak, share, w.utc, w.rel};
        if (row(user, 6, NULL, v))
            return -1;
    }
    return 0;
}

int fsc_report_census_rows(const struct fsc_report_census *c, enum fsc_report_census_section sec,
                           fsc_store_row_fn row, void *user)
{
    switch (sec) {
    case FSC_REPORT_HOSTS:
        return host_rows(c->hosts, row, user);
    case FSC_REPORT_LEAKS:
        return leak_rows(c, row, user);
    case FSC_REPORT_TIME_WAIT:
        return time_wait_rows(c->ends, fsc_census_start(c->hosts), row, user);
    }
    return 0;
}
