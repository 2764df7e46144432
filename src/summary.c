/* summary.c - the human summary of one capture, read back from the database with plain SQL. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "finscope/escape.h"
#include "finscope/show.h"
#include "finscope/store.h"
#include "finscope/summary.h"

/* Tokens come from small enums; more rows than this means a foreign database, so cut it short. */
#define TALLY_MAX_ROWS 32
#define STALLS_MAX 5
#define SKIP_REASONS_SHOWN 3

struct tally {
    const char *title;
    struct {
        char tok[48];
        uint64_t n;
    } row[TALLY_MAX_ROWS];
    int nrows;
    uint64_t total; /* over every row, shown or not, so percentages stay right */
};

struct header {
    bool found;
    char source[1024];
    uint64_t packets_read, packets_tcp, packets_skipped, flows, flows_evicted, one_sided;
    bool truncated;
    int64_t truncated_at, drops; /* -1 when NULL */
};

/* One CLOSE_WAIT stall: the endpoint that sat in CLOSE_WAIT, its peer, and how long. */
struct stall {
    char stalled[128], peer[128];
    double secs;
    char kind[24], side[8], state[24];
};

struct stalls {
    struct stall s[STALLS_MAX];
    int n;
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

static int header_row(void *user, int ncol, const char *const *names, const char *const *v)
{
    struct header *h = user;

    (void)names;
    if (ncol < 9)
        return 1;
    h->found = true;
    fsc_esc_term_buf(h->source, sizeof h->source, v[0] ? v[0] : "?");
    h->packets_read = to_u64(v[1]);
    h->packets_tcp = to_u64(v[2]);
    h->packets_skipped = to_u64(v[3]);
    h->truncated = to_u64(v[4]) != 0;
    h->truncated_at = to_i64_or(v[5], -1);
    h->drops = to_i64_or(v[6], -1);
    h->flows_evicted = to_u64(v[7]);
    h->flows = to_u64(v[8]);
    h->one_sided = ncol > 9 ? to_u64(v[9]) : 0;
    return 1;
}

/* Row callback for "SELECT token, count ...". */
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
        fsc_esc_term_buf(t->row[t->nrows].tok, sizeof t->row[t->nrows].tok, v[0] ? v[0] : "-");
        t->row[t->nrows].n = n;
        t->nrows++;
    }
    return 0;
}

/* "addr:port", with brackets around an IPv6 address so the port stays readable; escaped for a
 * terminal, like every stored string this file prints. */
static void endpoint_str(char *buf, size_t len, const char *addr, const char *port)
{
    char raw[160];

    if (!addr)
        addr = "?";
    snprintf(raw, sizeof raw, strchr(addr, ':') ? "[%s]:%s" : "%s:%s", addr, port ? port : "?");
    fsc_esc_term_buf(buf, len, raw);
}

static int stall_row(void *user, int ncol, const char *const *names, const char *const *v)
{
    struct stalls *ss = user;
    struct stall *st;
    const char *side;
    bool server;

    (void)names;
    if (ncol < 9 || ss->n == STALLS_MAX)
        return 1;
    st = &ss->s[ss->n++];
    /*
     * Usually the server leaks CLOSE_WAIT, but the client may be the one that was closed on.
     * Prefer the side still in close_wait, else the side whose transitions entered it.
     */
    if (v[7] && strcmp(v[7], "close_wait") == 0)
        server = true;
    else if (v[6] && strcmp(v[6], "close_wait") == 0)
        server = false;
    else
        server = !(v[8] && strcmp(v[8], "client") == 0);
    side = server ? "server" : "client";
    endpoint_str(st->stalled, sizeof st->stalled, v[server ? 0 : 2], v[server ? 1 : 3]);
    endpoint_str(st->peer, sizeof st->peer, v[server ? 2 : 0], v[server ? 3 : 1]);
    st->secs = v[4] ? strtod(v[4], NULL) : 0;
    fsc_esc_term_buf(st->kind, sizeof st->kind, v[5] ? v[5] : "?");
    snprintf(st->side, sizeof st->side, "%s", side);
    fsc_esc_term_buf(st->state, sizeof st->state, v[server ? 7 : 6] ? v[server ? 7 : 6] : "?");
    return 0;
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
    if (t->nrows == 0)
        return;
    fprintf(out, "%s\n", t->title);
    for (int r = 0; r < t->nrows; r++)
        fprintf(out, "  %-*s  %*" PRIu64 "  %5.1f%%\n", tokw, t->row[r].tok, cntw, t->row[r].n,
                t->total ? 100.0 * (double)t->row[r].n / (double)t->total : 0.0);
}

static void print_header(FILE *out, const struct header *h, const struct tally *skips)
{
    fprintf(out, "%s: %" PRIu64 " packets read, %" PRIu64 " TCP, %" PRIu64 " skipped", h->source,
            h->packets_read, h->packets_tcp, h->packets_skipped);
    if (skips->nrows > 0) {
        fputs(" (", out);
        for (int r = 0; r < skips->nrows && r < SKIP_REASONS_SHOWN; r++)
            fprintf(out, "%s%s %" PRIu64, r ? ", " : "", skips->row[r].tok, skips->row[r].n);
        if (skips->nrows > SKIP_REASONS_SHOWN)
            fprintf(out, ", %d more reasons", skips->nrows - SKIP_REASONS_SHOWN);
        fputc(')', out);
    }
    fprintf(out, ", %" PRIu64 " connection%s\n", h->flows, h->flows == 1 ? "" : "s");

    /* Things that make the numbers above incomplete; silent when all is well. */
    if (h->truncated) {
        if (h->truncated_at >= 0)
            fprintf(out, "  input truncated at byte %" PRId64 "\n", h->truncated_at);
        else
            fputs("  input truncated\n", out);
    }
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

static void print_stalls(FILE *out, const struct stalls *ss)
{
    int lw = 0, rw = 0, sw = 0;
    char secs[32];

    if (ss->n == 0)
        return;
    for (int k = 0; k < ss->n; k++) {
        int n = snprintf(secs, sizeof secs, "%.3f", ss->s[k].secs);
        if ((int)strlen(ss->s[k].stalled) > lw)
            lw = (int)strlen(ss->s[k].stalled);
        if ((int)strlen(ss->s[k].peer) > rw)
            rw = (int)strlen(ss->s[k].peer);
        if (n > sw)
            sw = n;
    }
    fputs("worst CLOSE_WAIT stalls\n", out);
    for (int k = 0; k < ss->n; k++) {
        const struct stall *st = &ss->s[k];
        fprintf(out, "  %-*s <- %-*s  %*.3f s  (%s, %s %s)\n", lw, st->stalled, rw, st->peer, sw,
                st->secs, st->kind, st->side, st->state);
    }
}

int fsc_summary_print(struct fsc_store *s, int64_t capture_id, FILE *out, char *err, size_t errlen)
{
    static const char header_sql[] =
        "SELECT source, packets_read, packets_tcp, packets_skipped, truncated, truncated_at, "
        "drops, flows_evicted, (SELECT count(*) FROM flows WHERE capture_id = ?1), "
        "(SELECT " FSC_SQL_ONE_SIDED_COUNT " FROM flows WHERE capture_id = ?1) "
        "FROM captures WHERE id = ?1";
    static const char skips_sql[] = "SELECT reason, packets FROM skipped WHERE capture_id = ?1 "
                                    "ORDER BY packets DESC, reason";
    static const char *const tally_sql[] = {
        "SELECT handshake, count(*) AS n FROM flows WHERE capture_id = ?1 "
        "GROUP BY 1 ORDER BY n DESC, 1",
        "SELECT close_kind, count(*) AS n FROM flows WHERE capture_id = ?1 "
        "GROUP BY 1 ORDER BY n DESC, 1",
        "SELECT " FSC_SQL_RST_CAUSE_SHOWN ", count(*) AS n FROM flows WHERE capture_id = ?1 "
        "AND close_kind = 'rst' GROUP BY 1 ORDER BY n DESC, 1",
        "SELECT closer, count(*) AS n FROM flows WHERE capture_id = ?1 "
        "GROUP BY 1 ORDER BY n DESC, 1",
    };
    static const char *const tally_title[] = {"handshake", "close kind", "rst cause",
                                              "first to close"};
    static const char stalls_sql[] =
        "SELECT f.server_addr, f.server_port, f.client_addr, f.client_port, f.close_wait_s, "
        "f.close_kind, f.client_state, f.server_state, "
        /* The transitions view, read defensively: a malformed log must not fail the summary. */
        "(SELECT j.value ->> 0 FROM json_each(" FSC_SQL_JSON_ARRAY(
            "f.transition_log") ") AS j "
                                "WHERE j.type = 'array' AND j.value ->> 2 = 'close_wait' ORDER BY "
                                "j.key LIMIT 1) "
                                "FROM flows f WHERE f.capture_id = ?1 AND f.close_wait_s > 0 "
                                "ORDER BY f.close_wait_s DESC, f.id LIMIT 5";
    enum { NTALLY = sizeof tally_sql / sizeof *tally_sql };
    struct header h = {0};
    struct tally skips = {0}, *t;
    struct stalls ss = {0};
    int tokw = 0, cntw = 1, ret = -1;

    /* About 10 KiB of rows: heap, not stack. */
    t = calloc(NTALLY, sizeof *t);
    if (!t) {
        seterr(err, errlen, "summary: out of memory");
        return -1;
    }
    if (fsc_store_query(s, header_sql, capture_id, header_row, &h, err, errlen) < 0)
        goto out;
    if (!h.found) {
        seterr(err, errlen, "summary: no capture with id %" PRId64 " in the database", capture_id);
        goto out;
    }
    if (fsc_store_query(s, skips_sql, capture_id, tally_row, &skips, err, errlen) < 0)
        goto out;
    for (int k = 0; k < NTALLY; k++) {
        t[k].title = tally_title[k];
        if (fsc_store_query(s, tally_sql[k], capture_id, tally_row, &t[k], err, errlen) < 0)
            goto out;
        /* One column width for every section, so the tallies line up as one table. */
        for (int r = 0; r < t[k].nrows; r++) {
            if ((int)strlen(t[k].row[r].tok) > tokw)
                tokw = (int)strlen(t[k].row[r].tok);
            if (digits(t[k].row[r].n) > cntw)
                cntw = digits(t[k].row[r].n);
        }
    }
    if (fsc_store_query(s, stalls_sql, capture_id, stall_row, &ss, err, errlen) < 0)
        goto out;

    print_header(out, &h, &skips);
    for (int k = 0; k < NTALLY; k++)
        print_tally(out, &t[k], tokw, cntw);
    print_stalls(out, &ss);
    if (fflush(out) != 0 || ferror(out)) {
        seterr(err, errlen, "summary: write error");
        goto out;
    }
    ret = 0;
out:
    free(t);
    return ret;
}
