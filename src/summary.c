/* summary.c - the summary of one capture, or the total over the captures of a run, read back from
 * the database with plain SQL: as text for a person, or as JSON for scripts (same numbers). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "finscope/escape.h"
#include "finscope/show.h"
#include "finscope/store.h"
#include "finscope/summary.h"
#include "finscope/where.h"

/* Tokens come from small enums; more rows than this means a foreign database, so cut it short. */
#define TALLY_MAX_ROWS 32
#define TOKEN_MAX 48
#define STALLS_MAX 5
#define STALLS_MAX_SQL "5"
#define SKIP_REASONS_SHOWN 3
#define NTALLY 4

/*
 * Every query names its captures with CAPS: "= 3" for one, "IN (3,4,7)" for a run's.  A CLOSE_WAIT
 * that ended within 1 ms is an application answering promptly, not a stall; one still open when
 * the flow was written is always a stall, however short (the CLOSE_WAIT-leak signature).
 */
#define CAPS "@CAPS@"
#define STILL_SQL "(client_state = 'close_wait' OR server_state = 'close_wait')"
#define STALL_WHERE                                                                                \
    "capture_id " CAPS " AND typeof(close_wait_s) IN ('integer', 'real') AND close_wait_s >= 0 "   \
    "AND (close_wait_s >= 0.001 OR " STILL_SQL ")"
/* The transition log, read defensively: a malformed one must not fail the summary. */
#define F_LOG FSC_SQL_JSON_ARRAY("f.transition_log")
#define T_LOG FSC_SQL_JSON_ARRAY("t.transition_log")

/* The tallies: text heading, and JSON member (the flows column counted). */
static const char *const tally_title[NTALLY] = {"handshake", "close kind", "rst cause",
                                                "first to close (sent the first FIN or RST)"};
static const char *const tally_key[NTALLY] = {"handshake", "close_kind", "rst_cause", "closer"};

struct tally {
    const char *title, *key; /* text heading, JSON member */
    struct {
        char tok[TOKEN_MAX];   /* as stored ("-" for NULL); rst causes: with "(likely)" */
        char cause[TOKEN_MAX]; /* rst causes: the bare token */
        int proven;            /* rst causes: 1, 0, -1 not judged */
        bool null;             /* the token is SQL NULL */
        uint64_t n;
    } row[TALLY_MAX_ROWS];
    int nrows;
    uint64_t total; /* over every row, shown or not, so percentages stay right */
};

struct header {
    uint64_t captures;
    char source[4096]; /* as stored ("?" for NULL); a total has none */
    uint64_t packets_read, packets_tcp, packets_skipped, flows, flows_evicted, one_sided, truncated;
    int64_t truncated_at, drops; /* -1 when NULL */
};

/* One CLOSE_WAIT stall: the endpoint that sat in CLOSE_WAIT, its peer, how long, what then. */
struct stall {
    int64_t flow, capture, first, last; /* frames: <= 0 when unknown */
    char side[8], addr[128], peer[128], kind[TOKEN_MAX];
    int64_t port, peer_port;
    double secs;
    bool still; /* still in CLOSE_WAIT when the flow was written: secs is a lower bound */
    bool idle;  /* ... and that was at the idle timeout, before the capture's end */
    const char *then;
};

struct stalls {
    struct stall s[STALLS_MAX];
    int n;
    uint64_t ended, still; /* every stall of the captures, not only the longest shown */
};

struct summary {
    int64_t capture_id; /* 0: a total */
    struct header h;
    struct tally skips, t[NTALLY];
    struct stalls ss;
};

#define seterr fsc_seterr

/* A stored count: NULL, negative or not a number is 0 (strtoull would wrap "-1" around). */
static uint64_t to_u64(const char *v)
{
    return v && *v != '-' ? strtoull(v, NULL, 10) : 0;
}

static int64_t to_i64_or(const char *v, int64_t dflt)
{
    return v ? strtoll(v, NULL, 10) : dflt;
}

static void copy(char *buf, size_t len, const char *v, const char *null)
{
    snprintf(buf, len, "%s", v ? v : null);
}

static int header_row(void *user, int ncol, const char *const *names, const char *const *v)
{
    struct header *h = user;

    (void)names;
    if (ncol < 11)
        return 1;
    h->captures = to_u64(v[0]);
    copy(h->source, sizeof h->source, v[1], "?");
    h->packets_read = to_u64(v[2]);
    h->packets_tcp = to_u64(v[3]);
    h->packets_skipped = to_u64(v[4]);
    h->truncated = to_u64(v[5]);
    h->truncated_at = to_i64_or(v[6], -1);
    h->drops = to_i64_or(v[7], -1);
    h->flows_evicted = to_u64(v[8]);
    h->flows = to_u64(v[9]);
    h->one_sided = to_u64(v[10]);
    return 1;
}

/* Row callback for "SELECT token, count [, bare cause, proven] ...". */
static int tally_row(void *user, int ncol, const char *const *names, const char *const *v)
{
    struct tally *t = user;
    uint64_t n;

    (void)names;
    if (ncol < 2)
        return 1;
    n = to_u64(v[1]);
    t->total += n;
    if (t->nrows < TALLY_MAX_ROWS) {
        /* NULL where a token belongs (an rst flow with no cause) shows as "-", not as a gap. */
        copy(t->row[t->nrows].tok, sizeof t->row[t->nrows].tok, v[0], "-");
        t->row[t->nrows].null = !v[0];
        t->row[t->nrows].n = n;
        t->row[t->nrows].proven = ncol > 3 ? (int)to_i64_or(v[3], -1) : -1;
        copy(t->row[t->nrows].cause, sizeof t->row[t->nrows].cause, ncol > 2 ? v[2] : v[0], "-");
        if (ncol > 2)
            t->row[t->nrows].null = !v[2];
        t->nrows++;
    }
    return 0;
}

/* What the endpoint did when it left CLOSE_WAIT (the state it went to). */
static const char *stall_then(const char *next)
{
    if (!next)
        return "left"; /* its transitions were not all kept */
    if (strcmp(next, "last_ack") == 0)
        return "closed"; /* it sent its FIN: the application called close() or shutdown() */
    if (strcmp(next, "closed") == 0)
        return "reset";
    return "left";
}

static int stall_row(void *user, int ncol, const char *const *names, const char *const *v)
{
    struct stalls *ss = user;
    struct stall *st;
    bool server;

    (void)names;
    if (ncol < 16 || ss->n == STALLS_MAX)
        return 1;
    ss->ended = to_u64(v[14]); /* the counts over all the stalls, on every row */
    ss->still = to_u64(v[15]);
    st = &ss->s[ss->n++];
    st->flow = to_i64_or(v[0], 0);
    st->capture = to_i64_or(v[1], 0);
    st->first = to_i64_or(v[2], 0);
    st->last = to_i64_or(v[3], 0);
    server = !(v[4] && strcmp(v[4], "client") == 0);
    snprintf(st->side, sizeof st->side, "%s", server ? "server" : "client");
    copy(st->addr, sizeof st->addr, v[server ? 7 : 5], "?");
    st->port = to_i64_or(v[server ? 8 : 6], 0);
    copy(st->peer, sizeof st->peer, v[server ? 5 : 7], "?");
    st->peer_port = to_i64_or(v[server ? 6 : 8], 0);
    st->secs = v[9] ? strtod(v[9], NULL) : 0;
    copy(st->kind, sizeof st->kind, v[10], "?");
    st->still = to_u64(v[11]) != 0;
    st->idle = st->still && to_u64(v[13]) != 0;
    st->then = st->still ? NULL : stall_then(v[12]);
    return 0;
}

/* Run tmpl with every CAPS replaced by caps.  0 or -1. */
static int query_caps(struct fsc_store *s, const char *tmpl, const char *caps, fsc_store_row_fn fn,
                      void *user, char *err, size_t errlen)
{
    size_t n = 0, cl = strlen(caps), ml = strlen(CAPS);
    const char *p, *q;
    char *sql, *w;
    int rc;

    for (p = tmpl; (p = strstr(p, CAPS)); p += ml)
        n++;
    if (!(sql = malloc(strlen(tmpl) + n * cl + 1))) {
        seterr(err, errlen, "summary: out of memory");
        return -1;
    }
    for (p = tmpl, w = sql; (q = strstr(p, CAPS)); p = q + ml) {
        memcpy(w, p, (size_t)(q - p));
        w += q - p;
        memcpy(w, caps, cl);
        w += cl;
    }
    strcpy(w, p);
    rc = fsc_store_query(s, sql, -1, fn, user, err, errlen);
    free(sql);
    return rc;
}

/* A summary of nothing: every count 0, every tally empty. */
static void empty(struct summary *sm)
{
    memset(sm, 0, sizeof *sm);
    sm->h.truncated_at = sm->h.drops = -1;
    for (int k = 0; k < NTALLY; k++) {
        sm->t[k].title = tally_title[k];
        sm->t[k].key = tally_key[k];
    }
}

/* Read everything the summary shows for the captures CAPS names.  0 or -1. */
static int collect(struct fsc_store *s, const char *caps, struct summary *sm, char *err,
                   size_t errlen)
{
    /* Sums over one row are that row, so one capture and a run's total share the queries. */
    static const char header_sql[] =
        "SELECT count(*), CASE WHEN count(*) = 1 THEN max(source) END, sum(packets_read), "
        "sum(packets_tcp), sum(packets_skipped), sum(truncated <> 0), max(truncated_at), "
        "CASE WHEN count(drops) > 0 THEN sum(drops) END, sum(flows_evicted), "
        "(SELECT count(*) FROM flows WHERE capture_id " CAPS "), "
        "(SELECT " FSC_SQL_ONE_SIDED_COUNT " FROM flows WHERE capture_id " CAPS ") "
        "FROM captures WHERE id " CAPS;
    static const char skips_sql[] = "SELECT reason, sum(packets) AS n FROM skipped WHERE "
                                    "capture_id " CAPS " GROUP BY 1 ORDER BY n DESC, 1";
    static const char *const tally_sql[NTALLY] = {
        "SELECT handshake, count(*) AS n FROM flows WHERE capture_id " CAPS
        " GROUP BY 1 ORDER BY n DESC, 1",
        "SELECT close_kind, count(*) AS n FROM flows WHERE capture_id " CAPS
        " GROUP BY 1 ORDER BY n DESC, 1",
        "SELECT " FSC_SQL_RST_CAUSE_SHOWN ", count(*) AS n, rst_cause, "
        "CASE rst_cause_proven WHEN 1 THEN 1 WHEN 0 THEN 0 ELSE -1 END FROM flows "
        "WHERE capture_id " CAPS " AND close_kind = 'rst' GROUP BY 1 ORDER BY n DESC, 1",
        "SELECT closer, count(*) AS n FROM flows WHERE capture_id " CAPS
        " GROUP BY 1 ORDER BY n DESC, 1",
    };
    /*
     * The longest, picked on plain columns first (and every stall counted): the transition log
     * (JSON) is read only for those.  The stalled endpoint is the first to enter CLOSE_WAIT (whose
     * dwell close_wait_s is); "idle" when its dwell ended before the capture did: written at the
     * idle timeout.
     */
    static const char stalls_sql[] =
        "WITH top AS (SELECT id, sum(NOT " STILL_SQL ") OVER () AS n_ended, sum(" STILL_SQL ") "
        "  OVER () AS n_still FROM flows WHERE " STALL_WHERE " ORDER BY close_wait_s DESC, id "
        "  LIMIT " STALLS_MAX_SQL "), "
        "s AS (SELECT f.*, top.n_ended, top.n_still, (SELECT j.value FROM json_each(" F_LOG
        ") AS j "
        "    WHERE j.type = 'array' AND " FSC_SQL_TR_TO(
            "j.value") " = 'close_wait' ORDER BY j.key "
                       "    LIMIT 1) AS cw "
                       "  FROM flows AS f JOIN top USING (id)), "
                       "t AS (SELECT s.*, CASE WHEN " FSC_SQL_TR_ENDPOINT(
                           "cw") " IN ('client', 'server') "
                                 "  THEN " FSC_SQL_TR_ENDPOINT(
                                     "cw") " "
                                           "  WHEN server_state = 'close_wait' THEN 'server' "
                                           "  WHEN client_state = 'close_wait' THEN 'client' ELSE "
                                           "'server' END AS side FROM s) "
                                           "SELECT id, capture_id, first_packet, last_packet, "
                                           "side, client_addr, client_port, "
                                           "  server_addr, server_port, close_wait_s, "
                                           "close_kind, " STILL_SQL ", "
                                           "  (SELECT " FSC_SQL_TR_TO(
                                               "j.value") " FROM json_each(" T_LOG ") AS j "
                                                          "    WHERE j.type = 'array' "
                                                          "AND " FSC_SQL_TR_ENDPOINT(
                                                              "j.value") " = t.side "
                                                                         "    AND " FSC_SQL_TR_FROM(
                                                                             "j.value") " = "
                                                                                        "'close_"
                                                                                        "wait' "
                                                                                        "ORDER BY "
                                                                                        "j.key "
                                                                                        "LIMIT 1), "
                                                                                        " "
                                                                                        " " FSC_SQL_TR_TS_US(
                                                                                            "cw",
                                                                                            "t."
                                                                                            "first_"
                                                                                            "ts",
                                                                                            FSC_SQL_JSON_ARRAY(
                                                                                                "t."
                                                                                                "se"
                                                                                                "gm"
                                                                                                "en"
                                                                                                "t_"
                                                                                                "lo"
                                                                                                "g")) " / 1e6 "
                                                                                                      "    + close_wait_s "
                                                                                                      "    < (SELECT c.last_ts FROM captures AS c WHERE c.id = t.capture_id) - 0.0005, "
                                                                                                      "  n_ended, n_still "
                                                                                                      "FROM t ORDER BY close_wait_s DESC, id";

    empty(sm);
    if (query_caps(s, header_sql, caps, header_row, &sm->h, err, errlen) < 0 ||
        query_caps(s, skips_sql, caps, tally_row, &sm->skips, err, errlen) < 0)
        return -1;
    for (int k = 0; k < NTALLY; k++) {
        if (query_caps(s, tally_sql[k], caps, tally_row, &sm->t[k], err, errlen) < 0)
            return -1;
    }
    if (query_caps(s, stalls_sql, caps, stall_row, &sm->ss, err, errlen) < 0)
        return -1;
    return 0;
}

/* ---- text ---- */

/* "addr:port", with brackets around an IPv6 address so the port stays readable; escaped for a
 * terminal, like every stored string this file prints. */
static void endpoint_str(char *buf, size_t len, const char *addr, int64_t port)
{
    char raw[200];

    snprintf(raw, sizeof raw, strchr(addr, ':') ? "[%s]:%" PRId64 : "%s:%" PRId64, addr, port);
    fsc_esc_term_buf(buf, len, raw);
}

/* A token as the text shows it: escaped, and the two "none"s said in words. */
static void tally_label(char *buf, size_t len, const struct tally *t, int r)
{
    char tok[TOKEN_MAX * 4 + 8];

    fsc_esc_term_buf(tok, sizeof tok, t->row[r].tok);
    if (strcmp(t->key, "handshake") == 0 && strcmp(t->row[r].tok, "none") == 0)
        snprintf(buf, len, "%s (began mid-connection)", tok);
    else if (strcmp(t->key, "closer") == 0 && strcmp(t->row[r].tok, "none") == 0)
        snprintf(buf, len, "%s (no FIN or RST)", tok);
    else
        snprintf(buf, len, "%s", tok);
}

static double pct(uint64_t n, uint64_t total)
{
    return total ? 100.0 * (double)n / (double)total : 0.0;
}

static int digits(uint64_t n)
{
    int d = 1;

    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

static void print_tally(FILE *out, const struct tally *t, int tokw, int cntw)
{
    char label[TOKEN_MAX * 4 + 32];

    if (t->nrows == 0)
        return;
    fprintf(out, "%s\n", t->title);
    for (int r = 0; r < t->nrows; r++) {
        tally_label(label, sizeof label, t, r);
        fprintf(out, "  %-*s  %*" PRIu64 "  %5.1f%%\n", tokw, label, cntw, t->row[r].n,
                pct(t->row[r].n, t->total));
    }
}

static void print_header(FILE *out, const struct header *h, const struct tally *skips, bool total)
{
    char tok[TOKEN_MAX * 4 + 8];

    if (!total)
        fsc_esc_term(out, h->source);
    else
        fprintf(out, "total over %" PRIu64 " capture%s", h->captures, h->captures == 1 ? "" : "s");
    fprintf(out, ": %" PRIu64 " packets read, %" PRIu64 " TCP, %" PRIu64 " skipped",
            h->packets_read, h->packets_tcp, h->packets_skipped);
    if (skips->nrows > 0) {
        fputs(" (", out);
        for (int r = 0; r < skips->nrows && r < SKIP_REASONS_SHOWN; r++) {
            fsc_esc_term_buf(tok, sizeof tok, skips->row[r].tok);
            fprintf(out, "%s%s %" PRIu64, r ? ", " : "", tok, skips->row[r].n);
        }
        if (skips->nrows > SKIP_REASONS_SHOWN)
            fprintf(out, ", %d more reasons", skips->nrows - SKIP_REASONS_SHOWN);
        fputc(')', out);
    }
    fprintf(out, ", %" PRIu64 " connection%s\n", h->flows, h->flows == 1 ? "" : "s");

    /* Things that make the numbers above incomplete; silent when all is well. */
    if (h->truncated && total)
        fprintf(out, "  %" PRIu64 " of them cut off or corrupt: read up to that point\n",
                h->truncated);
    else if (h->truncated && h->truncated_at >= 0)
        fprintf(out, "  input truncated at byte %" PRId64 "\n", h->truncated_at);
    else if (h->truncated)
        fputs("  input truncated\n", out);
    if (h->drops > 0)
        fprintf(out, "  %" PRId64 " packets dropped by kernel\n", h->drops);
    if (h->flows_evicted > 0)
        fprintf(out, "  %" PRIu64 " connections written early: flow table full (--max-flows)\n",
                h->flows_evicted);
    if (h->one_sided > 0)
        fprintf(out,
                "  %" PRIu64 " connection%s seen in one direction only: the other side's states "
                "are inferred from its peer's acks (anomaly one_sided)\n",
                h->one_sided, h->one_sided == 1 ? "" : "s");
}

/* "flow 12 (3:4-19)": the flow id and where its packets are, capture:first-last frame. */
static void stall_where(char *buf, size_t len, const struct stall *st)
{
    char fr[64];
    int n;

    if (st->first <= 0 || (n = fsc_where_frame(fr, sizeof fr, st->capture, st->first)) < 0) {
        snprintf(buf, len, "flow %" PRId64, st->flow);
        return;
    }
    if (st->last > st->first)
        snprintf(fr + n, sizeof fr - (size_t)n, "-%" PRId64, st->last);
    snprintf(buf, len, "flow %" PRId64 " (%s)", st->flow, fr);
}

/* What happened to the stalled endpoint, in words that need no legend. */
static void stall_story(char *buf, size_t len, const struct stall *st)
{
    const char *when = st->idle ? "when written at the idle timeout" : "at capture end";

    if (st->still && st->secs >= 0.001)
        snprintf(buf, len, "still in CLOSE_WAIT %s, >= %.3f s", when, st->secs);
    else if (st->still)
        snprintf(buf, len, "still in CLOSE_WAIT %s, entered < 0.001 s before", when);
    else
        snprintf(buf, len, "in CLOSE_WAIT %.3f s, then %s", st->secs, st->then);
}

static void print_stalls(FILE *out, const struct stalls *ss)
{
    char where[STALLS_MAX][96], who[STALLS_MAX][300], peer[300], kind[TOKEN_MAX * 4 + 8];
    char story[128];
    int ww = 0, hw = 0;

    if (ss->n == 0)
        return;
    for (int k = 0; k < ss->n; k++) {
        const struct stall *st = &ss->s[k];
        char ep[280];
        stall_where(where[k], sizeof where[k], st);
        endpoint_str(ep, sizeof ep, st->addr, st->port);
        snprintf(who[k], sizeof who[k], "%s %s", st->side, ep);
        if ((int)strlen(where[k]) > ww)
            ww = (int)strlen(where[k]);
        if ((int)strlen(who[k]) > hw)
            hw = (int)strlen(who[k]);
    }
    fputs("worst CLOSE_WAIT stalls (", out);
    if (ss->ended)
        fprintf(out, "%" PRIu64 " ended after 1 ms or more%s", ss->ended, ss->still ? ", " : "");
    if (ss->still)
        fprintf(out, "%" PRIu64 " still in CLOSE_WAIT at the end", ss->still);
    fputs(")\n", out);
    for (int k = 0; k < ss->n; k++) {
        const struct stall *st = &ss->s[k];
        stall_story(story, sizeof story, st);
        endpoint_str(peer, sizeof peer, st->peer, st->peer_port);
        fsc_esc_term_buf(kind, sizeof kind, st->kind);
        fprintf(out, "  %-*s  %-*s %s (%s, peer %s)\n", ww, where[k], hw, who[k], story, kind,
                peer);
    }
}

static void print_text(FILE *out, const struct summary *sm)
{
    char label[TOKEN_MAX * 4 + 32];
    int tokw = 0, cntw = 1;

    /* One column width for every section, so the tallies line up as one table. */
    for (int k = 0; k < NTALLY; k++)
        for (int r = 0; r < sm->t[k].nrows; r++) {
            tally_label(label, sizeof label, &sm->t[k], r);
            if ((int)strlen(label) > tokw)
                tokw = (int)strlen(label);
            if (digits(sm->t[k].row[r].n) > cntw)
                cntw = digits(sm->t[k].row[r].n);
        }
    print_header(out, &sm->h, &sm->skips, sm->capture_id == 0);
    for (int k = 0; k < NTALLY; k++)
        print_tally(out, &sm->t[k], tokw, cntw);
    print_stalls(out, &sm->ss);
}

/* ---- JSON ---- */

static void json_i64_or_null(FILE *out, const char *name, int64_t v)
{
    if (v < 0)
        fprintf(out, ",\"%s\":null", name);
    else
        fprintf(out, ",\"%s\":%" PRId64, name, v);
}

static void json_tally(FILE *out, const struct tally *t)
{
    fprintf(out, ",\"%s\":[", t->key);
    for (int r = 0; r < t->nrows; r++) {
        fputs(r ? ",{\"token\":" : "{\"token\":", out);
        if (t->row[r].null)
            fputs("null", out);
        else
            fsc_esc_json(out, t->row[r].cause);
        if (strcmp(t->key, "rst_cause") == 0)
            fprintf(out, ",\"proven\":%s",
                    t->row[r].proven == 1   ? "true"
                    : t->row[r].proven == 0 ? "false"
                                            : "null");
        fprintf(out, ",\"count\":%" PRIu64 ",\"percent\":%.1f}", t->row[r].n,
                pct(t->row[r].n, t->total));
    }
    fputc(']', out);
}

/* The Wireshark/tshark display filter that isolates the stall's flow, or null. */
static void json_tshark(FILE *out, const struct stall *st)
{
    bool server = strcmp(st->side, "server") == 0;
    struct fsc_where w = {
        .client = server ? st->peer : st->addr,
        .server = server ? st->addr : st->peer,
        .client_port = server ? st->peer_port : st->port,
        .server_port = server ? st->port : st->peer_port,
        .first_frame = st->first,
        .last_frame = st->last,
    };
    char buf[512];
    int n = fsc_where_tshark(buf, sizeof buf, &w);

    fputs(",\"tshark_filter\":", out);
    if (n < 0 || (size_t)n >= sizeof buf)
        fputs("null", out);
    else
        fsc_esc_json(out, buf);
}

static void json_stalls(FILE *out, const struct stalls *ss)
{
    fprintf(out,
            ",\"close_wait_stalls\":{\"ended_1ms_or_more\":%" PRIu64
            ",\"still_in_close_wait\":%" PRIu64 ",\"longest\":[",
            ss->ended, ss->still);
    for (int k = 0; k < ss->n; k++) {
        const struct stall *st = &ss->s[k];
        fprintf(out, "%s{\"flow_id\":%" PRId64 ",\"capture_id\":%" PRId64, k ? "," : "", st->flow,
                st->capture);
        json_i64_or_null(out, "first_frame", st->first > 0 ? st->first : -1);
        json_i64_or_null(out, "last_frame", st->last > 0 ? st->last : -1);
        fprintf(out, ",\"endpoint\":\"%s\",\"addr\":", st->side);
        fsc_esc_json(out, st->addr);
        fprintf(out, ",\"port\":%" PRId64 ",\"peer_addr\":", st->port);
        fsc_esc_json(out, st->peer);
        fprintf(out, ",\"peer_port\":%" PRId64 ",\"seconds\":", st->peer_port);
        /* A foreign database can hold an infinite REAL, which JSON has no number for. */
        fprintf(out, isfinite(st->secs) ? "%.3f" : "null", st->secs);
        fprintf(out, ",\"still_in_close_wait\":%s", st->still ? "true" : "false");
        fprintf(out, ",\"still_at\":%s,\"then\":",
                !st->still ? "null"
                : st->idle ? "\"idle_timeout\""
                           : "\"capture_end\"");
        if (st->then)
            fprintf(out, "\"%s\"", st->then);
        else
            fputs("null", out);
        fputs(",\"close_kind\":", out);
        fsc_esc_json(out, st->kind);
        json_tshark(out, st);
        fputc('}', out);
    }
    fputs("]}", out);
}

/* One JSON object: the numbers print_text() shows, under the column names of the database. */
static void print_json(FILE *out, const struct summary *sm)
{
    const struct header *h = &sm->h;
    int64_t capture_id = sm->capture_id;

    if (capture_id > 0) {
        fprintf(out, "{\"capture_id\":%" PRId64 ",\"source\":", capture_id);
        fsc_esc_json(out, h->source);
    } else {
        fprintf(out, "{\"captures\":%" PRIu64, h->captures);
    }
    fprintf(out,
            ",\"packets_read\":%" PRIu64 ",\"packets_tcp\":%" PRIu64 ",\"packets_skipped\":%" PRIu64
            ",\"skipped\":{",
            h->packets_read, h->packets_tcp, h->packets_skipped);
    for (int r = 0; r < sm->skips.nrows; r++) {
        fputs(r ? "," : "", out);
        fsc_esc_json(out, sm->skips.row[r].tok);
        fprintf(out, ":%" PRIu64, sm->skips.row[r].n);
    }
    fprintf(out, "},\"connections\":%" PRIu64, h->flows);
    if (capture_id > 0) {
        fprintf(out, ",\"truncated\":%s", h->truncated ? "true" : "false");
        json_i64_or_null(out, "truncated_at", h->truncated ? h->truncated_at : -1);
    } else {
        fprintf(out, ",\"truncated\":%" PRIu64, h->truncated);
    }
    json_i64_or_null(out, "drops", h->drops);
    fprintf(out, ",\"connections_written_early\":%" PRIu64 ",\"one_sided\":%" PRIu64,
            h->flows_evicted, h->one_sided);
    for (int k = 0; k < NTALLY; k++)
        json_tally(out, &sm->t[k]);
    json_stalls(out, &sm->ss);
    fputc('}', out);
}

/* ---- entry points ---- */

static int finish(FILE *out, char *err, size_t errlen)
{
    if (fflush(out) != 0 || ferror(out)) {
        seterr(err, errlen, "summary: write error");
        return -1;
    }
    return 0;
}

/* "IN (1,2,3)" for the captures ids[0..n-1] (malloc'd), or NULL when out of memory. */
static char *caps_of(const int64_t *ids, size_t n)
{
    size_t len = 8 + n * 21;
    char *caps = malloc(len), *w = caps;

    if (!caps)
        return NULL;
    w += sprintf(w, "IN (");
    for (size_t k = 0; k < n; k++)
        w += sprintf(w, "%s%" PRId64, k ? "," : "", ids[k]);
    strcpy(w, ")");
    return caps;
}

/* The summary of capture_id (text) or of every capture in caps (id 0). */
static int summarize(struct fsc_store *s, const char *caps, int64_t capture_id, bool json,
                     FILE *out, char *err, size_t errlen)
{
    struct summary *sm = malloc(sizeof *sm); /* about 20 KiB of rows: heap, not stack */
    int ret = -1;

    if (!sm) {
        seterr(err, errlen, "summary: out of memory");
        return -1;
    }
    if (collect(s, caps, sm, err, errlen) < 0)
        goto out;
    sm->capture_id = capture_id;
    if (capture_id > 0 && sm->h.captures == 0) {
        seterr(err, errlen, "summary: no capture with id %" PRId64 " in the database", capture_id);
        goto out;
    }
    if (json)
        print_json(out, sm);
    else
        print_text(out, sm);
    ret = 0;
out:
    free(sm);
    return ret;
}

int fsc_summary_print(struct fsc_store *s, int64_t capture_id, FILE *out, char *err, size_t errlen)
{
    char caps[32];

    snprintf(caps, sizeof caps, "= %" PRId64, capture_id);
    if (summarize(s, caps, capture_id, false, out, err, errlen) < 0)
        return -1;
    return finish(out, err, errlen);
}

int fsc_summary_print_total(struct fsc_store *s, const int64_t *ids, size_t n, FILE *out, char *err,
                            size_t errlen)
{
    char *caps = caps_of(ids, n);
    int rc;

    if (!caps) {
        seterr(err, errlen, "summary: out of memory");
        return -1;
    }
    rc = summarize(s, caps, 0, false, out, err, errlen);
    free(caps);
    return rc < 0 ? -1 : finish(out, err, errlen);
}

int fsc_summary_json(struct fsc_store *s, const int64_t *ids, size_t n, const char *const *failed,
                     size_t nfailed, FILE *out, char *err, size_t errlen)
{
    char *caps = caps_of(ids, n), one[32];
    int rc = 0;

    if (!caps) {
        seterr(err, errlen, "summary: out of memory");
        return -1;
    }
    fputs("{\"captures\":[", out);
    for (size_t k = 0; k < n && rc == 0; k++) {
        snprintf(one, sizeof one, "= %" PRId64, ids[k]);
        fputs(k ? ",\n" : "\n", out);
        rc = summarize(s, one, ids[k], true, out, err, errlen);
    }
    fputs("],\n\"total\":", out);
    if (rc == 0 && n > 0) {
        rc = summarize(s, caps, 0, true, out, err, errlen);
    } else if (rc == 0) { /* nothing stored, maybe no database: zeros, not a query */
        struct summary *sm = malloc(sizeof *sm);
        if (!sm) {
            rc = -1;
            seterr(err, errlen, "summary: out of memory");
        } else {
            empty(sm);
            print_json(out, sm);
            free(sm);
        }
    }
    fputs(",\n\"failed\":[", out);
    for (size_t k = 0; k < nfailed; k++) {
        fputs(k ? "," : "", out);
        fsc_esc_json(out, failed[k]);
    }
    fputs("]}\n", out);
    free(caps);
    return rc < 0 ? -1 : finish(out, err, errlen);
}
