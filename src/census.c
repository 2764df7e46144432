/* census.c - `finscope states`: how many sockets each host holds in each TCP state, as ss -tan
 * would have said at any instant of the capture.  The counting is SQL (census.h); this file
 * builds the statement from the options and hands it to the query printer. */
#include <arpa/inet.h>
#include <ctype.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "finscope/analyze.h"
#include "finscope/census.h"
#include "finscope/query.h"
#include "finscope/store.h"

#define ERRLEN 1024

static const char usage[] =
    "usage: finscope states [DB] [--host ADDR] [--state STATE] [--at TIME | --every SEC]\n"
    "                       [--capture N] [--time-wait SEC] [--fin-timeout SEC]\n"
    "                       [--idle-timeout SEC] [--csv | --json]\n"
    "\n"
    "netstat from the wire: how many sockets each host (address) of a finscope database\n"
    "(default: finscope.db) held in each TCP state, as `ss -tan` run on that host would have\n"
    "counted them.  Every endpoint of every connection is in one state at a time (the\n"
    "transitions view); a host's count of a state at an instant is the number of its endpoints\n"
    "in that state then, the state changing at the packet that caused or proved it.\n"
    "\n"
    "Without --at or --every: per host and state, the count at the last packet (at_end: of\n"
    "the last capture, when there are several),\n"
    "the highest count (peak), and when it was first reached.  With --at, the counts at that\n"
    "instant (states with none left out); with --every, a time series from the capture's\n"
    "first packet, every (host, state) at every instant, zeros included.  Times are UTC,\n"
    "\"YYYY-MM-DD HH:MM:SS.ffffff\", and t_s is seconds from the first packet of the captures.\n"
    "Hosts with the most sockets come first.\n"
    "\n"
    "The last state of an endpoint lasts as long as the kernel keeps it: TIME_WAIT for\n"
    "--time-wait seconds; the FIN_WAIT_2 of an endpoint that is proven to have called close()\n"
    "(closer_call = 'close') for --fin-timeout seconds; an unanswered SYN_SENT 127 s and\n"
    "SYN_RCVD 63 s (Linux's tcp_syn_retries, tcp_synack_retries); any other state until\n"
    "the connection's last packet plus --idle-timeout (after the capture's end too: states\n"
    "outlive packets), then it is counted as 'unknown' until the capture's end.  A new\n"
    "connection on the same addresses and ports ends the previous one.  LISTEN and CLOSED\n"
    "are not counted.\n"
    "The same intervals, with the default lifetimes, are the state_intervals view for SQL.\n"
    "Captures are counted together: two captures of the same traffic (two taps) count each\n"
    "socket twice; --capture counts one.\n"
    "\n"
    "options:\n"
    "      --host ADDR         only this address (IPv4 or IPv6)\n"
    "      --state STATE       only this state: syn_sent, syn_rcvd, established, fin_wait_1,\n"
    "                          fin_wait_2, close_wait, closing, last_ack, time_wait, unknown\n"
    "      --at TIME           the counts at TIME: Unix seconds (1795979312.25), seconds from\n"
    "                          the first packet (below 1e9: 12.5), or UTC \"2026-11-30 "
    "01:02:03.5\"\n"
    "      --every SEC         the counts every SEC seconds, to the microsecond (at most\n"
    "                          100000 instants)\n"
    "      --capture N         only capture N (captures.id); default: every capture\n"
    "      --time-wait SEC     TIME_WAIT length (default 60: Linux's TCP_TIMEWAIT_LEN)\n"
    "      --fin-timeout SEC   orphan FIN_WAIT_2 timeout (default 60: net.ipv4.tcp_fin_timeout)\n"
    "      --idle-timeout SEC  a silent connection's state is unknown after this (default 300)\n"
    "      --csv               CSV with a header line\n"
    "      --json              one JSON array of objects\n"
    "  -h, --help              this text\n"
    "\n"
    "examples:\n"
    "  finscope states\n"
    "  finscope states web.db --state close_wait\n"
    "  finscope states web.db --host 10.0.0.5 --at 30\n"
    "  finscope states web.db --at '2026-11-30 01:02:03' --fin-timeout 30\n"
    "  finscope states web.db --every 1 --csv > census.csv\n"
    "  sqlite3 web.db \"SELECT host, count(*) FROM state_intervals\n"
    "                  WHERE state = 'time_wait' AND at_end GROUP BY host\"\n";

void fsc_census_defaults(struct fsc_census_opts *o)
{
    *o = (struct fsc_census_opts){
        .time_wait_s = FSC_TIME_WAIT_DEFAULT_S,
        .fin_timeout_s = FSC_FIN_TIMEOUT_DEFAULT_S,
        .idle_s = FSC_IDLE_TIMEOUT_DEFAULT_S,
        .capture_id = -1,
    };
}

/* The most instants one --every series may have (a smaller step is refused). */
#define MAX_SAMPLES 100000

static const char *const state_names[FSC_CENSUS_NSTATES] = {
    "syn_sent",   "syn_rcvd", "established", "fin_wait_1", "fin_wait_2",
    "close_wait", "closing",  "last_ack",    "time_wait",  "unknown",
};

const char *fsc_census_state_name(int state)
{
    return state >= 0 && state < FSC_CENSUS_NSTATES ? state_names[state] : "?";
}

int fsc_census_state_index(const char *name)
{
    for (int i = 0; name && i < FSC_CENSUS_NSTATES; i++)
        if (!strcmp(name, state_names[i]))
            return i;
    return -1;
}

/*
 * A change of a pair's count at time t.  ph orders the changes at one instant: 0 the states
 * entered and left then, 1 (not stored) an instant being counted, 2 the ends of 'unknown'
 * intervals at their capture's last packet, which still count at it.
 */
struct change {
    uint32_t key;
    uint8_t state, ph;
    int32_t d; /* +1 or -1; after the merge, the sum at (key, state, t, ph) */
    fsc_time t;
    int64_t n; /* after the sweep: the count after this change */
};

struct fsc_census {
    char **keys; /* interned key texts */
    uint32_t nkeys, keycap;
    uint32_t *slots; /* open addressing: key index + 1, 0 empty */
    uint32_t nslots;
    struct change *ch;
    size_t nch, chcap;
    struct fsc_census_pair *pairs;
    size_t npairs;
    fsc_time start, end;
    bool oom;
};

static uint32_t hash_text(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The index of key text k, added when new; UINT32_MAX when out of memory. */
static uint32_t intern(struct fsc_census *c, const char *k)
{
    if (2 * (c->nkeys + 1) > c->nslots) {
        uint32_t n = c->nslots ? 2 * c->nslots : 1024;
        uint32_t *slots = calloc(n, sizeof *slots);
        if (!slots)
            return UINT32_MAX;
        for (uint32_t i = 0; i < c->nkeys; i++) {
            uint32_t j = hash_text(c->keys[i]) & (n - 1);
            while (slots[j])
                j = (j + 1) & (n - 1);
            slots[j] = i + 1;
        }
        free(c->slots);
        c->slots = slots;
        c->nslots = n;
    }
    uint32_t j = hash_text(k) & (c->nslots - 1);
    for (; c->slots[j]; j = (j + 1) & (c->nslots - 1))
        if (!strcmp(c->keys[c->slots[j] - 1], k))
            return c->slots[j] - 1;
    if (c->nkeys == c->keycap) {
        uint32_t cap = c->keycap ? 2 * c->keycap : 256;
        char **keys = realloc(c->keys, cap * sizeof *keys);
        if (!keys)
            return UINT32_MAX;
        c->keys = keys;
        c->keycap = cap;
    }
    if (!(c->keys[c->nkeys] = strdup(k)))
        return UINT32_MAX;
    c->slots[j] = ++c->nkeys;
    return c->nkeys - 1;
}

static bool add_change(struct fsc_census *c, uint32_t key, int state, fsc_time t, int ph, int d)
{
    if (c->nch == c->chcap) {
        size_t cap = c->chcap ? 2 * c->chcap : 4096;
        struct change *ch = realloc(c->ch, cap * sizeof *ch);
        if (!ch)
            return false;
        c->ch = ch;
        c->chcap = cap;
    }
    c->ch[c->nch++] =
        (struct change){.key = key, .state = (uint8_t)state, .ph = (uint8_t)ph, .d = d, .t = t};
    return true;
}

/* Times a database holds, in microseconds, kept within +-2^56 (2,283 years around 1970): every
 * difference and step of the census then fits in 64 bits, whatever a hostile file says. */
#define TIME_LIMIT ((fsc_time)1 << 56)

static fsc_time read_time(const char *v)
{
    long long t = strtoll(v, NULL, 10);
    return t > TIME_LIMIT ? TIME_LIMIT : t < -TIME_LIMIT ? -TIME_LIMIT : (fsc_time)t;
}

/* One interval: key, state, from, until (microseconds), whether it holds its last instant
 * (ended 'capture_end', 0/1). */
static int interval_row(void *user, int ncol, const char *const *names, const char *const *v)
{
    struct fsc_census *c = user;
    (void)names;
    if (ncol < 5 || !v[0] || !v[1] || !v[2] || !v[3])
        return 0; /* a key or a time that is NULL: nothing to count */
    int state = fsc_census_state_index(v[1]);
    if (state < 0)
        return 0;
    uint32_t key = intern(c, v[0]);
    fsc_time from = read_time(v[2]), until = read_time(v[3]);
    bool closed_end = v[4] && !strcmp(v[4], "1");
    if (key == UINT32_MAX || !add_change(c, key, state, from, 0, 1) ||
        !add_change(c, key, state, until, closed_end ? 2 : 0, -1)) {
        c->oom = true;
        return 1;
    }
    return 0;
}

static int span_row(void *user, int ncol, const char *const *names, const char *const *v)
{
    struct fsc_census *c = user;
    (void)names;
    if (ncol >= 2 && v[0] && v[1]) {
        c->start = read_time(v[0]);
        c->end = read_time(v[1]);
        if (c->end < c->start)
            c->end = c->start;
    }
    return 0;
}

static int cmp_change(const void *pa, const void *pb)
{
    const struct change *a = pa, *b = pb;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    if (a->state != b->state)
        return a->state - b->state;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    return a->ph - b->ph;
}

/* Merge the changes at one (key, state, t, ph), run the counts, and make the pairs. */
static bool sweep(struct fsc_census *c)
{
    size_t w = 0, npairs = 0;

    if (c->nch == 0)
        return true; /* nothing to count (and qsort must not see a NULL array) */
    qsort(c->ch, c->nch, sizeof *c->ch, cmp_change);
    for (size_t i = 0; i < c->nch; i++) {
        if (w > 0 && !cmp_change(&c->ch[w - 1], &c->ch[i])) {
            c->ch[w - 1].d += c->ch[i].d;
        } else
            c->ch[w++] = c->ch[i];
    }
    c->nch = w;
    for (size_t i = 0; i < c->nch; i++)
        npairs +=
            i == 0 || c->ch[i].key != c->ch[i - 1].key || c->ch[i].state != c->ch[i - 1].state;
    if (npairs && !(c->pairs = calloc(npairs, sizeof *c->pairs)))
        return false;
    struct fsc_census_pair *p = NULL;
    for (size_t i = 0; i < c->nch; i++) {
        struct change *x = &c->ch[i];
        if (!p || x->key != p->key || x->state != p->state) {
            p = &c->pairs[c->npairs++];
            *p = (struct fsc_census_pair){.key = x->key, .state = x->state, .lo = i};
        }
        x->n = (i > p->lo ? c->ch[i - 1].n : 0) + x->d;
        p->hi = i + 1;
        if (x->n > p->peak) {
            p->peak = x->n;
            p->peak_at = x->t;
        }
    }
    return true;
}

/* Each pair's count at the last packet of the captures counted (with several captures, that
 * of the last one: a sum of each capture's own end could exceed any count the host ever had
 * at once). */
static void count_at_end(struct fsc_census *c)
{
    for (size_t i = 0; i < c->npairs; i++)
        c->pairs[i].at_end = fsc_census_count_at(c, i, c->end);
}

/* Busiest key first: its highest peak, then its text; states in netstat order. */
struct pair_order {
    const struct fsc_census *c;
    const int64_t *key_peak; /* per key, its highest peak */
};

static int cmp_pair(const void *pa, const void *pb, void *arg)
{
    const struct fsc_census_pair *a = pa, *b = pb;
    const struct pair_order *o = arg;
    if (a->key != b->key) {
        int64_t x = o->key_peak[a->key], y = o->key_peak[b->key];
        if (x != y)
            return x > y ? -1 : 1;
        return strcmp(o->c->keys[a->key], o->c->keys[b->key]);
    }
    return a->state - b->state;
}

static bool order_pairs(struct fsc_census *c)
{
    if (!c->npairs)
        return true;
    int64_t *key_peak = calloc(c->nkeys, sizeof *key_peak);
    if (!key_peak)
        return false;
    for (size_t i = 0; i < c->npairs; i++)
        if (c->pairs[i].peak > key_peak[c->pairs[i].key])
            key_peak[c->pairs[i].key] = c->pairs[i].peak;
    struct pair_order o = {c, key_peak};
    qsort_r(c->pairs, c->npairs, sizeof *c->pairs, cmp_pair, &o);
    free(key_peak);
    return true;
}

/* The selection's intervals in microseconds, with each key's value first.  The view's SQL is one
 * string on purpose, as in store.c's schema. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverlength-strings"
static char *interval_sql(const struct fsc_census_opts *o, const char *const *keys, size_t n)
{
    sqlite3_str *q = sqlite3_str_new(NULL);

    sqlite3_str_appendall(q, "WITH si AS (\n");
    sqlite3_str_appendf(q, FSC_SQL_STATE_INTERVALS("%!.17g", "%!.17g", "%!.17g"), o->time_wait_s,
                        o->fin_timeout_s, o->idle_s);
    sqlite3_str_appendall(q, ")\nSELECT ");
    for (size_t k = 0; k < n; k++)
        sqlite3_str_appendf(q, "%s, ", keys[k]);
    sqlite3_str_appendall(q, "state, CAST(round(from_ts * 1e6) AS INTEGER), "
                             "CAST(round(until_ts * 1e6) AS INTEGER), ended = 'capture_end' "
                             "FROM si WHERE 1");
    if (o->capture_id >= 0)
        sqlite3_str_appendf(q, " AND capture_id = %lld", (long long)o->capture_id);
    if (o->host)
        sqlite3_str_appendf(q, " AND host = %Q", o->host);
    if (o->state)
        sqlite3_str_appendf(q, " AND state = %Q", o->state);
    return sqlite3_str_finish(q);
}
#pragma GCC diagnostic pop

/* The censuses being loaded together: one per key, fed by one pass over the intervals. */
struct loading {
    struct fsc_census **c;
    size_t n;
};

/* One interval row: n key values, then what interval_row reads. */
static int intervals_row(void *user, int ncol, const char *const *names, const char *const *v)
{
    struct loading *l = user;
    const char *w[5];

    if ((size_t)ncol != l->n + 4)
        return 0;
    for (size_t k = 0; k < l->n; k++) {
        w[0] = v[k];
        memcpy(w + 1, v + l->n, 4 * sizeof *w);
        if (interval_row(l->c[k], 5, names, w))
            return 1;
    }
    return 0;
}

int fsc_census_load_keys(struct fsc_store *s, const struct fsc_census_opts *o,
                         const char *const *keys, size_t n, struct fsc_census **out, char *err,
                         size_t errlen)
{
    char *sql = interval_sql(o, keys, n);
    struct loading l = {out, n};
    int rc = -1;
    bool oom = !sql;

    for (size_t k = 0; k < n; k++)
        oom |= !(out[k] = calloc(1, sizeof **out));
    if (oom) {
        fsc_seterr(err, errlen, "out of memory");
        goto done;
    }
    if (fsc_store_query(s,
                        "SELECT CAST(round(min(first_ts) * 1e6) AS INTEGER), "
                        "CAST(round(max(last_ts) * 1e6) AS INTEGER) FROM captures "
                        "WHERE ?1 IS NULL OR id = ?1",
                        o->capture_id, span_row, out[0], err, errlen) < 0 ||
        fsc_store_query(s, sql, -1, intervals_row, &l, err, errlen) < 0)
        goto done;
    for (size_t k = 0; k < n; k++) {
        out[k]->start = out[0]->start;
        out[k]->end = out[0]->end;
        if (out[k]->oom || !sweep(out[k])) {
            fsc_seterr(err, errlen, "out of memory");
            goto done;
        }
        count_at_end(out[k]);
        if (!order_pairs(out[k])) {
            fsc_seterr(err, errlen, "out of memory");
            goto done;
        }
    }
    rc = 0;
done:
    sqlite3_free(sql);
    for (size_t k = 0; k < n && rc < 0; k++) {
        fsc_census_free(out[k]);
        out[k] = NULL;
    }
    return rc;
}

int fsc_census_load(struct fsc_store *s, const struct fsc_census_opts *o, const char *key,
                    struct fsc_census **out, char *err, size_t errlen)
{
    return fsc_census_load_keys(s, o, &key, 1, out, err, errlen);
}

void fsc_census_free(struct fsc_census *c)
{
    if (!c)
        return;
    for (uint32_t i = 0; i < c->nkeys; i++)
        free(c->keys[i]);
    free(c->keys);
    free(c->slots);
    free(c->ch);
    free(c->pairs);
    free(c);
}

size_t fsc_census_npairs(const struct fsc_census *c)
{
    return c->npairs;
}

const struct fsc_census_pair *fsc_census_pair(const struct fsc_census *c, size_t i)
{
    return &c->pairs[i];
}

const char *fsc_census_key(const struct fsc_census *c, uint32_t key)
{
    return key < c->nkeys ? c->keys[key] : "";
}

fsc_time fsc_census_start(const struct fsc_census *c)
{
    return c->start;
}

fsc_time fsc_census_end(const struct fsc_census *c)
{
    return c->end;
}

int64_t fsc_census_count_at(const struct fsc_census *c, size_t i, fsc_time t)
{
    const struct fsc_census_pair *p = &c->pairs[i];
    size_t lo = p->lo, hi = p->hi; /* the last change at or before (t, phase 1) */

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct change *x = &c->ch[mid];
        if (x->t < t || (x->t == t && x->ph < 1))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > p->lo ? c->ch[lo - 1].n : 0;
}

/*
 * An instant from the command line: Unix seconds or seconds from the first packet (digits with
 * an optional fraction; census_samples tells them apart at 1e9), or UTC "YYYY-MM-DD HH:MM:SS"
 * with an optional fraction, 'T' for the space and 'Z' at the end allowed.  0, or -1.
 */
static int parse_instant(const char *s, double *out)
{
    int y, mo, d, h, mi, n = 0;
    char sep;

    if (isdigit((unsigned char)s[0]) && strlen(s) > 10 && s[4] == '-' &&
        sscanf(s, "%4d-%2d-%2d%c%2d:%2d:%n", &y, &mo, &d, &sep, &h, &mi, &n) == 6 && n == 17 &&
        (sep == ' ' || sep == 'T')) {
        const char *sec = s + n;
        char *end;
        if (!isdigit((unsigned char)sec[0]) || !isdigit((unsigned char)sec[1]))
            return -1;
        double secs = strtod(sec, &end);
        if (*end == 'Z')
            end++;
        if (*end || secs >= 61 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59)
            return -1;
        struct tm tm = {
            .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
        time_t t = timegm(&tm);
        if (t == (time_t)-1 || tm.tm_mday != d) /* timegm normalizes Feb 30 to March */
            return -1;
        *out = (double)t + secs;
        return 0;
    }
    /* Digits, at most one '.', digits: no sign, exponent or space (strtod takes too much). */
    size_t digits = strspn(s, "0123456789");
    if (digits == 0 || digits > 11)
        return -1;
    if (s[digits] == '.' && strspn(s + digits + 1, "0123456789") != strlen(s + digits + 1))
        return -1;
    if (s[digits] != '.' && s[digits] != '\0')
        return -1;
    *out = strtod(s, NULL);
    return 0;
}

/* --host: an IPv4 or IPv6 address, in the text form the database holds (inet_ntop's). */
static bool canonical_host(const char *s, char *buf, size_t len)
{
    unsigned char a[16];
    if (inet_pton(AF_INET, s, a) == 1)
        return inet_ntop(AF_INET, a, buf, (socklen_t)len) != NULL;
    if (inet_pton(AF_INET6, s, a) == 1)
        return inet_ntop(AF_INET6, a, buf, (socklen_t)len) != NULL;
    return false;
}

/* What `states` prints: the summary, the counts at one instant, or a series. */
enum states_mode { MODE_SUMMARY, MODE_AT, MODE_EVERY };

struct states_args {
    struct fsc_census_opts o;
    char host[64];
    enum states_mode mode;
    enum fsc_query_mode out;
    double at, every;
    const char *db;
};

/* Parse the command line into a.  0, 1 (--help printed), or 2 (usage error, said). */
static int states_args(int argc, char **argv, struct states_args *a)
{
    enum {
        OPT_HOST = 256,
        OPT_STATE,
        OPT_AT,
        OPT_EVERY,
        OPT_CAPTURE,
        OPT_TW,
        OPT_FT,
        OPT_IDLE,
        OPT_CSV,
        OPT_JSON
    };
    static const struct option longopts[] = {
        {"host", required_argument, NULL, OPT_HOST},
        {"state", required_argument, NULL, OPT_STATE},
        {"at", required_argument, NULL, OPT_AT},
        {"every", required_argument, NULL, OPT_EVERY},
        {"capture", required_argument, NULL, OPT_CAPTURE},
        {"time-wait", required_argument, NULL, OPT_TW},
        {"fin-timeout", required_argument, NULL, OPT_FT},
        {"idle-timeout", required_argument, NULL, OPT_IDLE},
        {"csv", no_argument, NULL, OPT_CSV},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t id;
    int c;

    fsc_census_defaults(&a->o);
    a->mode = MODE_SUMMARY;
    a->out = FSC_QUERY_TABLE;
    a->db = "finscope.db";
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        const char *bad = NULL;
        switch (c) {
        case OPT_HOST:
            if (!canonical_host(optarg, a->host, sizeof a->host))
                bad = "--host takes an IPv4 or IPv6 address";
            a->o.host = a->host;
            break;
        case OPT_STATE:
            if (fsc_census_state_index(optarg) < 0)
                bad = "--state takes one of " FSC_CENSUS_STATES;
            a->o.state = optarg;
            break;
        case OPT_AT:
            if (parse_instant(optarg, &a->at) < 0)
                bad = "--at takes Unix seconds, seconds from the first packet, or UTC "
                      "'YYYY-MM-DD HH:MM:SS[.frac]'";
            a->mode = MODE_AT;
            break;
        case OPT_EVERY:
            if (fsc_parse_seconds(optarg, &a->every) < 0 || a->every < 1e-6)
                bad = "--every takes seconds above 0 (fractions allowed)";
            a->mode = MODE_EVERY;
            break;
        case OPT_CAPTURE:
            if (fsc_parse_uint(optarg, 1, INT64_MAX, &id) < 0)
                bad = "--capture takes a capture id (captures.id, 1 or more)";
            a->o.capture_id = (int64_t)id;
            break;
        case OPT_TW:
        case OPT_FT:
        case OPT_IDLE: {
            double *v = c == OPT_TW   ? &a->o.time_wait_s
                        : c == OPT_FT ? &a->o.fin_timeout_s
                                      : &a->o.idle_s;
            if (fsc_parse_seconds(optarg, v) < 0)
                bad = "--time-wait, --fin-timeout and --idle-timeout take seconds, 0 to 1e9";
            break;
        }
        case OPT_CSV:
        case OPT_JSON:
            a->out = c == OPT_CSV ? FSC_QUERY_CSV : FSC_QUERY_JSON;
            break;
        case 'h':
            fputs(usage, stdout);
            return 1;
        default:
            fputs("try 'finscope states --help'\n", stderr);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "finscope states: '%s': %s\n", optarg, bad);
            return 2;
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr,
                "finscope states: too many arguments ('%s'); try 'finscope states "
                "--help'\n",
                argv[optind + 1]);
        return 2;
    }
    if (argc - optind == 1)
        a->db = argv[optind];
    return 0;
}

double fsc_census_seconds(fsc_time t, fsc_time start)
{
    if ((t >= 0) == (start >= 0))
        return fsc_time_seconds(t - start);
    return ((double)t - (double)start) / FSC_USEC_PER_SEC;
}

struct fsc_census_when fsc_census_when(fsc_time t, fsc_time start)
{
    struct fsc_census_when w = {"?", ""};
    time_t secs = (time_t)(t / FSC_USEC_PER_SEC - (t % FSC_USEC_PER_SEC < 0));
    int64_t us = t % FSC_USEC_PER_SEC + (t % FSC_USEC_PER_SEC < 0 ? FSC_USEC_PER_SEC : 0);
    struct tm tm;
    size_t n = gmtime_r(&secs, &tm) ? strftime(w.utc, sizeof w.utc, "%Y-%m-%d %H:%M:%S", &tm) : 1;

    snprintf(w.utc + n, sizeof w.utc - n, ".%06lld", (long long)us);
    snprintf(w.rel, sizeof w.rel, "%.6f", fsc_census_seconds(t, start));
    return w;
}

/* Per host and state: at_end, peak, peak_at, peak_at_s. */
static int write_summary(struct fsc_query_writer *w, const struct fsc_census *c)
{
    static const char *const names[] = {"host", "state", "at_end", "peak", "peak_at", "peak_at_s"};
    static const int types[] = {FSC_VALUE_TEXT,    FSC_VALUE_TEXT, FSC_VALUE_INTEGER,
                                FSC_VALUE_INTEGER, FSC_VALUE_TEXT, FSC_VALUE_FLOAT};
    char end[24], peak[24];

    if (fsc_query_writer_begin(w, 6, names))
        return -1;
    for (size_t i = 0; i < fsc_census_npairs(c); i++) {
        const struct fsc_census_pair *p = fsc_census_pair(c, i);
        if (p->peak <= 0)
            continue;
        snprintf(end, sizeof end, "%lld", (long long)p->at_end);
        snprintf(peak, sizeof peak, "%lld", (long long)p->peak);
        struct fsc_census_when at = fsc_census_when(p->peak_at, fsc_census_start(c));
        const char *v[] = {
            fsc_census_key(c, p->key), fsc_census_state_name(p->state), end, peak, at.utc, at.rel};
        if (fsc_query_writer_row(w, 6, v, types))
            return -1;
    }
    return 0;
}

/* The counts at instant t: every pair, or with nonzero only those above 0. */
static int write_instant(struct fsc_query_writer *w, const struct fsc_census *c, fsc_time t,
                         bool nonzero)
{
    static const int types[] = {FSC_VALUE_TEXT, FSC_VALUE_FLOAT, FSC_VALUE_TEXT, FSC_VALUE_TEXT,
                                FSC_VALUE_INTEGER};
    struct fsc_census_when at = fsc_census_when(t, fsc_census_start(c));
    char n[24];

    for (size_t i = 0; i < fsc_census_npairs(c); i++) {
        const struct fsc_census_pair *p = fsc_census_pair(c, i);
        if (p->peak <= 0) /* only ever held for no time at all (listed nowhere) */
            continue;
        int64_t count = fsc_census_count_at(c, i, t);
        if (nonzero && count <= 0)
            continue;
        snprintf(n, sizeof n, "%lld", (long long)count);
        const char *v[] = {at.utc, at.rel, fsc_census_key(c, p->key),
                           fsc_census_state_name(p->state), n};
        if (fsc_query_writer_row(w, 5, v, types))
            return -1;
    }
    return 0;
}

/* --every's step in whole microseconds (the resolution of every time here), at least 1. */
static fsc_time every_us(double every)
{
    fsc_time us = (fsc_time)llround(every * FSC_USEC_PER_SEC);
    return us > 0 ? us : 1;
}

/* --at (one instant) or --every (from the first packet to the last, exactly every step). */
static int write_samples(struct fsc_query_writer *w, const struct fsc_census *c,
                         const struct states_args *a)
{
    static const char *const names[] = {"time", "t_s", "host", "state", "sockets"};
    fsc_time start = fsc_census_start(c), end = fsc_census_end(c);

    if (fsc_query_writer_begin(w, 5, names))
        return -1;
    if (a->mode == MODE_AT) {
        double at = a->at < 1e9 ? fsc_time_seconds(start) + a->at : a->at;
        return write_instant(w, c, (fsc_time)llround(at * FSC_USEC_PER_SEC), true);
    }
    fsc_time step = every_us(a->every);
    for (fsc_time t = start; t <= end; t += step)
        if (write_instant(w, c, t, false) < 0)
            return -1;
    return 0;
}

/* --every: refuse a step that gives more than MAX_SAMPLES instants.  0 or -1 (said). */
static int check_every(const struct fsc_census *c, double every)
{
    fsc_time span = fsc_census_end(c) - fsc_census_start(c);
    int64_t n = span / every_us(every) + 1;

    if (n <= MAX_SAMPLES)
        return 0;
    fprintf(stderr,
            "finscope states: --every %g gives %lld instants over %.6f s of capture; the most is "
            "%d: use a larger step\n",
            every, (long long)n, fsc_time_seconds(span), MAX_SAMPLES);
    return -1;
}

int fsc_cmd_states(int argc, char **argv)
{
    struct states_args a;
    char err[ERRLEN];
    struct fsc_store *s = NULL;
    struct fsc_census *c = NULL;

    int rc = states_args(argc, argv, &a);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (fsc_store_open(a.db, true, &s, err, sizeof err) < 0) {
        fprintf(stderr, "finscope states: %s\n", err);
        return 1;
    }
    rc = fsc_census_load(s, &a.o, "host", &c, err, sizeof err);
    fsc_store_close(s);
    if (rc < 0) {
        fprintf(stderr, "finscope states: %s\n", err);
        return 1;
    }
    if (a.mode == MODE_EVERY && check_every(c, a.every) < 0) {
        fsc_census_free(c);
        return 1;
    }
    struct fsc_query_writer *w =
        fsc_query_writer_new(a.out, isatty(STDOUT_FILENO), stdout, "finscope states");
    if (!w) {
        fsc_census_free(c);
        fprintf(stderr, "finscope states: out of memory\n");
        return 1;
    }
    rc = a.mode == MODE_SUMMARY ? write_summary(w, c) : write_samples(w, c, &a);
    if (rc < 0)
        fsc_seterr(err, sizeof err, "write error");
    rc = fsc_query_writer_end(w, rc, err, sizeof err);
    fsc_census_free(c);
    if (rc < 0) {
        fprintf(stderr, "finscope states: %s\n", err);
        return 1;
    }
    return 0;
}
