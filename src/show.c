/* show.c - `finscope show`: picks one connection, loads it, and draws its ladder (show_text.c,
 * show_svg.c). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "finscope/analyze.h"
#include "finscope/escape.h"
#include "finscope/show.h"
#include "finscope/store.h"
#include "show_draw.h"

#define ERRLEN 1024

static const char usage[] =
    "usage: finscope show [DB] FLOW_ID [--svg FILE] [--width N]\n"
    "       finscope show [DB] [--kind CLOSE_KIND] [--handshake TOKEN] [--rst-cause TOKEN]\n"
    "                     [--first] [--svg FILE]\n"
    "\n"
    "Draws the ladder diagram of one connection of a finscope database (default:\n"
    "finscope.db) from its stored control segments and state transitions (the segments and\n"
    "transitions views): time goes down, the client is on the left, the server on the right,\n"
    "one arrow per stored segment with its flags, relative seq/ack and payload length, and\n"
    "each endpoint's new state beside its line at the packet that caused or proved it, with\n"
    "the evidence.  Times are milliseconds since the flow's first packet; the frame column is\n"
    "the packet's number in the capture.  Packets that were not stored (data in the middle of\n"
    "a connection) are summarized in one line where they fall.  A segment that only resends\n"
    "sequence numbers stored before it is a retransmission: its arrow is drawn with ~ and its\n"
    "label starts with \"retrans\" (in the SVG: dashed, orange).\n"
    "\n"
    "The flow is given by its id (flows.id), or chosen by filters: the first flow (lowest id)\n"
    "that matches all of them.\n"
    "\n"
    "options:\n"
    "      --kind TOKEN        close_kind: four_way, three_way, two_way, simultaneous,\n"
    "                          half_closed, rst, refused, unanswered, open\n"
    "      --handshake TOKEN   handshake: three_way, simultaneous_open, self_connect, ...\n"
    "      --rst-cause TOKEN   rst_cause: abort, unread_data, data_after_close, handshake,\n"
    "                          other\n"
    "      --first             the first matching flow (the default)\n"
    "      --svg FILE          write the diagram as a standalone SVG file instead ('-':\n"
    "                          standard output); arrows slant, crossing the dashed tap line\n"
    "                          at the time the packet was captured\n"
    "      --width N           fit the text ladder to N columns: the evidence of the states\n"
    "                          wraps, the arrows stay whole (default: the terminal's width\n"
    "                          when standard output is one, else no limit; 0: no limit)\n"
    "  -h, --help              this text\n"
    "\n"
    "examples:\n"
    "  finscope show 42\n"
    "  finscope show web.db --kind simultaneous --first\n"
    "  finscope show --kind rst --rst-cause unread_data\n"
    "  finscope show web.db 42 --svg flow42.svg\n"
    "  finscope show 42 --width 100 | less\n";

/*
 * Ranges the numbers of a flow are clamped to when read.  The database is untrusted; inside these
 * ranges every sum and difference the ladder computes (gaps between frames, bytes not stored,
 * time between rows) fits in 64 bits.  finscope itself never writes values near the limits: 2^48
 * frames, 2^56 bytes, +-2^60 microseconds (36,000 years), 2^32 bytes of payload in one segment.
 */
#define MAX_FRAME (INT64_C(1) << 48)
#define MAX_BYTES (INT64_C(1) << 56)
#define MAX_T_US (INT64_C(1) << 60)
#define MAX_LEN (INT64_C(1) << 32)

/* v as an integer in [lo, hi]: NULL gives dflt; text that is not an integer, or one outside the
 * range, gives what strtoll made of it, clamped, and sets *odd. */
static int64_t num(const char *v, int64_t lo, int64_t hi, int64_t dflt, bool *odd)
{
    char *end;
    long long n;

    if (!v)
        return dflt;
    errno = 0;
    n = strtoll(v, &end, 10);
    if (errno || end == v || *end)
        *odd = true;
    if (n < lo || n > hi) {
        *odd = true;
        n = n < lo ? lo : hi;
    }
    return n;
}

static void copy(char *dst, size_t n, const char *v)
{
    snprintf(dst, n, "%s", v ? v : "");
}

static int id_row(void *user, int ncol, const char *const *names, const char *const *v)
{
    bool odd = false;

    (void)names;
    if (ncol >= 1 && v[0])
        *(int64_t *)user = num(v[0], 0, INT64_MAX, 0, &odd);
    return 1;
}

static int flow_row(void *user, int ncol, const char *const *names, const char *const *v)
{
    struct flow *f = user;
    bool v6;

    (void)names;
    if (ncol < 16)
        return 1;
    f->found = true;
    f->id = num(v[0], INT64_MIN, INT64_MAX, 0, &f->odd);
    v6 = v[13] && !strcmp(v[13], "6");
    snprintf(f->client, sizeof f->client, v6 ? "[%s]:%s" : "%s:%s", v[1] ? v[1] : "?",
             v[2] ? v[2] : "?");
    snprintf(f->server, sizeof f->server, v6 ? "[%s]:%s" : "%s:%s", v[3] ? v[3] : "?",
             v[4] ? v[4] : "?");
    copy(f->handshake, sizeof f->handshake, v[5]);
    copy(f->close_kind, sizeof f->close_kind, v[6]);
    copy(f->rst_cause, sizeof f->rst_cause, v[7] ? v[7] : "-");
    copy(f->closer, sizeof f->closer, v[8]);
    copy(f->closer_call, sizeof f->closer_call, v[14] ? v[14] : "-");
    f->one_sided = v[15] && strcmp(v[15], "0") != 0;
    f->client_packets = num(v[9], 0, MAX_FRAME, 0, &f->odd);
    f->server_packets = num(v[10], 0, MAX_FRAME, 0, &f->odd);
    f->client_bytes = num(v[11], 0, MAX_BYTES, 0, &f->odd);
    f->server_bytes = num(v[12], 0, MAX_BYTES, 0, &f->odd);
    return 1;
}

static int seg_row(void *user, int ncol, const char *const *names, const char *const *v)
{
    struct flow *f = user;
    struct seg *s;

    (void)names;
    if (ncol < 7 || f->nseg >= MAX_SEGS)
        return 1;
    s = &f->seg[f->nseg++];
    s->packet = num(v[0], 0, MAX_FRAME, 0, &f->odd);
    s->t_us = num(v[1], -MAX_T_US, MAX_T_US, 0, &f->odd);
    s->from_client = v[2] && !strcmp(v[2], "client");
    copy(s->flags, sizeof s->flags, v[3]);
    s->seq = num(v[4], INT64_MIN, INT64_MAX, 0, &f->odd);
    s->ack = num(v[5], INT64_MIN, INT64_MAX, -1, &f->odd);
    s->len = num(v[6], 0, MAX_LEN, 0, &f->odd);
    return 0;
}

static int trans_row(void *user, int ncol, const char *const *names, const char *const *v)
{
    struct flow *f = user;
    struct trans *t;

    (void)names;
    if (ncol < 6 || f->ntr >= MAX_TRANS)
        return 1;
    t = &f->tr[f->ntr++];
    t->client = v[0] && !strcmp(v[0], "client");
    copy(t->from, sizeof t->from, v[1]);
    copy(t->to, sizeof t->to, v[2]);
    t->t_us = num(v[3], -MAX_T_US, MAX_T_US, 0, &f->odd);
    t->packet = num(v[4], 0, MAX_FRAME, 0, &f->odd);
    copy(t->evidence, sizeof t->evidence, v[5]);
    return 0;
}

/*
 * The flow's row, then its segments and transitions read from the JSON logs in its row (what
 * the segments and transitions views show), through FSC_SQL_JSON_ARRAY: a log that is not a JSON
 * array draws as empty instead of failing the command.
 */
static int load_flow(struct fsc_store *s, int64_t id, struct flow *f, char *err, size_t errlen)
{
    static const char flow_sql[] =
        "SELECT id, client_addr, client_port, server_addr, server_port, handshake, "
        "close_kind, " FSC_SQL_RST_CAUSE_SHOWN
        ", closer, client_packets, server_packets, client_bytes, "
        "server_bytes, ip_version, closer_call, instr(',' || anomalies || ',', ',one_sided,') "
        "FROM flows WHERE id = ?1";
    static const char seg_sql[] =
        "SELECT j.value ->> 7, CAST(round(((j.value ->> 6) / 1e6 - f.first_ts) * 1e6) AS INTEGER), "
        "j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4 "
        "FROM flows AS f, json_each(" FSC_SQL_JSON_ARRAY(
            "f.segment_log") ") AS j "
                             "WHERE f.id = ?1 AND j.type = 'array' ORDER BY j.key";
    static const char tr_sql[] =
        "SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, "
        "CAST(round(((j.value ->> 3) / 1e6 - f.first_ts) * 1e6) AS INTEGER), j.value ->> 4, "
        "j.value ->> 5 FROM flows AS f, json_each(" FSC_SQL_JSON_ARRAY(
            "f.transition_log") ") AS j "
                                "WHERE f.id = ?1 AND j.type = 'array' ORDER BY j.key";

    memset(f, 0, sizeof *f);
    if (fsc_store_query(s, flow_sql, id, flow_row, f, err, errlen) < 0)
        return -1;
    if (!f->found) {
        fsc_seterr(err, errlen, "no flow with id %" PRId64, id);
        return -1;
    }
    if (fsc_store_query(s, seg_sql, id, seg_row, f, err, errlen) < 0 ||
        fsc_store_query(s, tr_sql, id, trans_row, f, err, errlen) < 0)
        return -1;
    return 0;
}

/* The flow's stored strings, in the order the header line shows them after "flow ID  ". */
static void header_fields(const struct flow *f, const char *v[8])
{
    const char *x[8] = {f->client,    f->server, f->handshake,  f->close_kind,
                        f->rst_cause, f->closer, f->closer_call};
    memcpy(v, x, sizeof x);
}

static const char *const header_sep[8] = {
    "", " -> ", "  handshake=", "  close_kind=", "  rst_cause=", "  closer=", "  closer_call=",
};

/* Said under the header when flow_row() and the log readers had to clamp a stored number. */
const char fsc_show_odd_note[] = "stored numbers of this flow are not what finscope writes (not an "
                                 "integer, or out of range): shown clamped";

/* "flow ID  CLIENT -> SERVER  handshake=..." with every piece through esc (terminal or markup). */
void fsc_show_header_text(FILE *out, const struct flow *f, void (*esc)(FILE *, const char *))
{
    const char *v[8];

    header_fields(f, v);
    fprintf(out, "flow %" PRId64 "  ", f->id);
    for (int k = 0; k < 7; k++) {
        esc(out, header_sep[k]);
        esc(out, v[k]);
    }
}

void fsc_show_header_line(FILE *out, const struct flow *f)
{
    fsc_show_header_text(out, f, fsc_esc_term);
    fputc('\n', out);
    if (f->odd)
        fprintf(out, "%s\n", fsc_show_odd_note);
    if (f->one_sided)
        fputs("one direction captured only: the other side's states are inferred from its "
              "peer's acks\n",
              out);
}

/* ---- command ---- */

/* Tokens are lowercase words; anything else cannot match and is refused. */
static bool token_ok(const char *t)
{
    return *t && strspn(t, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(t);
}

/* Digits only: a lone argument like this is a flow id, not a database (is_id() checks it). */
static bool looks_like_id(const char *s)
{
    return *s && strspn(s, "0123456789") == strlen(s);
}

static bool is_id(const char *s)
{
    uint64_t v;
    return fsc_parse_uint(s, 1, INT64_MAX, &v) == 0;
}

/* Load flow_id and draw it with draw(): 0, or -1 with a message in err. */
static int show_flow(struct fsc_store *s, int64_t flow_id, bool svg, bool standalone, int width,
                     FILE *out, char *err, size_t errlen)
{
    struct flow *f = malloc(sizeof *f);
    int rc = -1;

    if (!f) {
        fsc_seterr(err, errlen, "out of memory");
        return -1;
    }
    if (load_flow(s, flow_id, f, err, errlen) == 0) {
        rc = svg ? fsc_show_draw_svg(out, f, standalone) : fsc_show_draw_text(out, f, width);
        if (rc < 0)
            fsc_seterr(err, errlen, svg ? "out of memory or write error" : "write error");
    }
    free(f);
    return rc;
}

int fsc_show_svg(struct fsc_store *s, int64_t flow_id, bool standalone, FILE *out, char *err,
                 size_t errlen)
{
    return show_flow(s, flow_id, true, standalone, 0, out, err, errlen);
}

int fsc_show_text(struct fsc_store *s, int64_t flow_id, FILE *out, char *err, size_t errlen)
{
    return show_flow(s, flow_id, false, false, 0, out, err, errlen);
}

int fsc_show_text_width(struct fsc_store *s, int64_t flow_id, int width, FILE *out, char *err,
                        size_t errlen)
{
    return show_flow(s, flow_id, false, false, width, out, err, errlen);
}

int fsc_cmd_show(int argc, char **argv)
{
    enum { OPT_KIND = 256, OPT_HANDSHAKE, OPT_RST_CAUSE, OPT_FIRST, OPT_SVG, OPT_WIDTH };
    static const struct option longopts[] = {
        {"kind", required_argument, NULL, OPT_KIND},
        {"handshake", required_argument, NULL, OPT_HANDSHAKE},
        {"rst-cause", required_argument, NULL, OPT_RST_CAUSE},
        {"first", no_argument, NULL, OPT_FIRST},
        {"svg", required_argument, NULL, OPT_SVG},
        {"width", required_argument, NULL, OPT_WIDTH},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = "finscope.db", *kind = NULL, *hs = NULL, *cause = NULL, *svg = NULL;
    const char *idarg = NULL;
    char err[ERRLEN];
    uint64_t width = UINT64_MAX; /* not given: the terminal's, when standard output is one */
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_KIND:
            kind = optarg;
            break;
        case OPT_HANDSHAKE:
            hs = optarg;
            break;
        case OPT_RST_CAUSE:
            cause = optarg;
            break;
        case OPT_FIRST:
            break; /* the only choice so far */
        case OPT_SVG:
            svg = optarg;
            break;
        case OPT_WIDTH:
            if (fsc_parse_uint(optarg, 0, 10000, &width) < 0) {
                fprintf(stderr, "finscope show: --width '%s': a number of columns, 0 to 10000\n",
                        optarg);
                return 2;
            }
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs("try 'finscope show --help'\n", stderr);
            return 2;
        }
    }
    bool filtered = kind || hs || cause;
    int npos = argc - optind;
    if (npos == 2) {
        db = argv[optind];
        idarg = argv[optind + 1];
    } else if (npos == 1) {
        if (filtered || !looks_like_id(argv[optind]))
            db = argv[optind];
        else
            idarg = argv[optind];
    } else if (npos > 2) {
        fprintf(stderr, "finscope show: too many arguments ('%s')\n", argv[optind + 2]);
        return 2;
    }
    if (idarg && filtered) {
        fputs("finscope show: give a flow id or filters, not both\n", stderr);
        return 2;
    }
    if (!idarg && !filtered) {
        fputs("finscope show: which flow? give FLOW_ID or --kind/--handshake/--rst-cause "
              "(finscope show --help)\n",
              stderr);
        return 2;
    }
    if (idarg && !is_id(idarg)) {
        fprintf(stderr, "finscope show: '%s' is not a flow id (1, 2, ...)\n", idarg);
        return 2;
    }
    const char *toks[] = {kind, hs, cause};
    for (int k = 0; k < 3; k++)
        if (toks[k] && !token_ok(toks[k])) {
            fprintf(stderr, "finscope show: '%s' is not a token (lowercase, e.g. four_way)\n",
                    toks[k]);
            return 2;
        }

    struct fsc_store *s = NULL;
    if (fsc_store_open(db, true, &s, err, sizeof err) < 0) {
        fprintf(stderr, "finscope show: %s\n", err);
        return 1;
    }
    int64_t id = idarg ? strtoll(idarg, NULL, 10) : 0;
    if (!idarg) {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "SELECT id FROM flows WHERE 1%s%s%s%s%s%s%s%s%s ORDER BY id LIMIT 1",
                 kind ? " AND close_kind = '" : "", kind ? kind : "", kind ? "'" : "",
                 hs ? " AND handshake = '" : "", hs ? hs : "", hs ? "'" : "",
                 cause ? " AND rst_cause = '" : "", cause ? cause : "", cause ? "'" : "");
        if (fsc_store_query(s, sql, -1, id_row, &id, err, sizeof err) < 0) {
            fprintf(stderr, "finscope show: %s\n", err);
            fsc_store_close(s);
            return 1;
        }
        if (id == 0) {
            fprintf(stderr, "finscope show: %s: no flow matches%s%s%s%s%s%s\n", db,
                    kind ? " close_kind=" : "", kind ? kind : "", hs ? " handshake=" : "",
                    hs ? hs : "", cause ? " rst_cause=" : "", cause ? cause : "");
            fsc_store_close(s);
            return 1;
        }
    }
    int rc = 0;
    if (svg) {
        FILE *out = strcmp(svg, "-") ? fopen(svg, "w") : stdout;
        if (!out) {
            perror(svg);
            fsc_store_close(s);
            return 1;
        }
        rc = fsc_show_svg(s, id, true, out, err, sizeof err);
        if (out != stdout && fclose(out) != 0 && rc == 0) {
            fsc_seterr(err, sizeof err, "write error");
            rc = -1;
        }
        if (rc < 0)
            fprintf(stderr, "finscope show: %s: %s\n", svg, err);
    } else {
        rc = fsc_show_text_width(s, id, width != UINT64_MAX ? (int)width : fsc_show_term_width(),
                                 stdout, err, sizeof err);
        if (rc < 0)
            fprintf(stderr, "finscope show: %s: %s\n", db, err);
    }
    fsc_store_close(s);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("finscope show: write error");
        rc = -1;
    }
    return rc < 0 ? 1 : 0;
}
