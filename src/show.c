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
#include "finscope/flowsel.h"
#include "finscope/show.h"
#include "finscope/store.h"
#include "show_draw.h"

#define ERRLEN 1024

static const char usage[] =
    "usage: finscope show [DB] FLOW_ID [--svg FILE] [--width N]\n"
    "       finscope show [DB] [filters] [--first | --all [--limit N]] [--svg FILE] [--width N]\n"
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
    "Above the text ladder, where the flow is: its capture id and file (captures.source, or\n"
    "the file of capture_files that holds its frames), its first and last frames as\n"
    "CAPTURE:FRAME, and a tshark command whose display filter selects exactly its packets\n"
    "(addresses, ports and frame range, in that file's frame numbers).\n"
    "\n"
    "The flow is given by its id (flows.id), or chosen by filters, the same as `finscope\n"
    "flows` takes: the first flow (lowest id) that matches all of them, or with --all every\n"
    "one in id order, each under a line '==== flow ID (K of N) ===='.\n"
    "\n" FSC_FLOWSEL_USAGE "\n"
    "options:\n"
    "      --first             the first matching flow (the default)\n"
    "      --all               every matching flow (with no filter: every flow)\n"
    "      --limit N           with --all: at most N flows\n"
    "      --svg FILE          write the diagram as a standalone SVG file instead ('-':\n"
    "                          standard output); arrows slant, crossing the dashed tap line\n"
    "                          at the time the packet was captured.  With --all, one file per\n"
    "                          flow: FILE with -ID before its extension (flows.svg ->\n"
    "                          flows-42.svg), each named on standard output; '-' is refused\n"
    "      --width N           fit the text ladder to N columns: the evidence of the states\n"
    "                          wraps, the arrows stay whole (default: the terminal's width\n"
    "                          when standard output is one, else no limit; 0: no limit)\n"
    "  -h, --help              this text\n"
    "\n"
    "examples:\n"
    "  finscope show 42\n"
    "  finscope show web.db --kind simultaneous --first\n"
    "  finscope show --kind rst --rst-cause unread_data\n"
    "  finscope show --server 10.0.0.2:80 --closer server --all --limit 5\n"
    "  finscope show web.db 42 --svg flow42.svg\n"
    "  finscope show web.db --kind half_closed --all --svg leak.svg\n"
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

#define SHOW_SEGS FSC_SQL_JSON_ARRAY("f.segment_log")
#define SHOW_TR_TS_US FSC_SQL_TR_TS_US("j.value", "f.first_ts", SHOW_SEGS)

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
    /* The entries through store.h's decoders, as the segments and transitions views do. */
    static const char
        seg_sql[] =
            "SELECT " FSC_SQL_SEG_PACKET(
                "j.value",
                "f.first_packet") ", "
                                  "CAST(round((" FSC_SQL_SEG_TS_US(
                                      "j.value",
                                      "f.first_ts") " / 1e6 - f.first_ts) * 1e6) "
                                                    "AS INTEGER), " FSC_SQL_SEG_SENDER("j.value") ", " FSC_SQL_SEG_FLAGS("j.value") ", " FSC_SQL_SEG_SEQ(
                                                        "j.value") ", " FSC_SQL_SEG_ACK("j.value") ", " FSC_SQL_SEG_LEN("j.value") " FROM flows AS f, json_each(" FSC_SQL_JSON_ARRAY("f.segment_log") ") AS j "
                                                                                                                                                                                                      "WHERE f.id = ?1 AND j.type = 'array' ORDER BY j.key";
    static const char tr_sql[] =
        "SELECT " FSC_SQL_TR_ENDPOINT("j.value") ", " FSC_SQL_TR_FROM("j.value") ", " FSC_SQL_TR_TO(
            "j.value") ", CAST(round((" SHOW_TR_TS_US " / 1e6 - f.first_ts) * 1e6) AS "
                       "INTEGER), " FSC_SQL_TR_PACKET(
                           "j.value", "f.first_packet",
                           SHOW_SEGS) ", " FSC_SQL_TR_EVIDENCE("j.value") " FROM flows AS f, "
                                                                          "json_"
                                                                          "each"
                                                                          "(" FSC_SQL_JSON_ARRAY(
                                                                              "f"
                                                                              "."
                                                                              "t"
                                                                              "r"
                                                                              "a"
                                                                              "n"
                                                                              "s"
                                                                              "i"
                                                                              "t"
                                                                              "i"
                                                                              "o"
                                                                              "n"
                                                                              "_"
                                                                              "l"
                                                                              "o"
                                                                              "g") ") AS j "
                                                                                   "WHERE f.id = "
                                                                                   "?1 AND j.type "
                                                                                   "= 'array' "
                                                                                   "ORDER BY j.key";

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

/* Display width of UTF-8 text: code points (continuation bytes do not count). */
static int text_width(const char *s)
{
    int w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

/*
 * The n pieces joined by sep, in lines of at most width columns (0: one line): a piece that
 * would pass the width starts a new line indented by indent; a piece is never cut.
 */
static void put_fitted(FILE *out, char **pieces, int n, const char *sep, int indent, int width)
{
    int col = 0, gap = (int)strlen(sep);

    for (int k = 0; k < n; k++) {
        int w = text_width(pieces[k]);
        if (k && width > 0 && col + gap + w > width && col > indent) {
            fprintf(out, "\n%*s", indent, "");
            col = indent;
        } else if (k) {
            fputs(sep, out);
            col += gap;
        }
        fputs(pieces[k], out);
        col += w;
    }
    fputc('\n', out);
}

/* A note in words fitted to width (0: one line), continued lines indented by 2. */
static void put_note(FILE *out, const char *text, int width)
{
    char *copy = strdup(text), *words[64], *save = NULL;
    int n = 0;

    if (!copy) {
        fprintf(out, "%s\n", text);
        return;
    }
    for (char *w = strtok_r(copy, " ", &save); w && n < 64; w = strtok_r(NULL, " ", &save))
        words[n++] = w;
    put_fitted(out, words, n, " ", 2, width);
    free(copy);
}

void fsc_show_header_line(FILE *out, const struct flow *f, int width)
{
    char buf[8][256], *pieces[8];
    const char *v[8];

    /* The pieces as the one-line header shows them, each escaped for the terminal. */
    header_fields(f, v);
    snprintf(buf[0], sizeof buf[0], "flow %" PRId64, f->id);
    for (int k = 0; k < 7; k++) {
        char raw[256];
        if (k == 1)
            continue; /* the server goes with the client: "CLIENT -> SERVER" */
        snprintf(raw, sizeof raw, "%s%s%s%s", k ? header_sep[k] + 2 : "", v[k],
                 k ? "" : header_sep[1], k ? "" : v[1]);
        fsc_esc_term_buf(buf[k ? k : 1], sizeof buf[0], raw);
    }
    for (int k = 0; k < 7; k++)
        pieces[k] = buf[k];
    put_fitted(out, pieces, 7, "  ", 6, width);
    if (f->odd)
        put_note(out, fsc_show_odd_note, width);
    if (f->one_sided)
        put_note(out,
                 "one direction captured only: the other side's states are inferred from its "
                 "peer's acks",
                 width);
}

/* ---- command ---- */

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

/* --svg FILE for flow id with --all: FILE with "-ID" before its extension (flows.svg ->
 * flows-42.svg; an extension is a '.' in the last path element, not at its start).  0, or -1
 * when it does not fit in buf. */
static int svg_name(char *buf, size_t len, const char *file, int64_t id)
{
    const char *base = strrchr(file, '/'), *dot;
    int n;

    base = base ? base + 1 : file;
    dot = strrchr(base, '.');
    if (!dot || dot == base)
        dot = file + strlen(file);
    n = snprintf(buf, len, "%.*s-%" PRId64 "%s", (int)(dot - file), file, id, dot);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Draw flow id as asked: text to stdout (with where it is above it) fitted to width columns (0:
 * no limit), or SVG to file svg ("-": stdout).  0, or 1 with a message on stderr. */
static int show_one(struct fsc_store *s, const char *db, int64_t id, const char *svg, int width)
{
    char err[ERRLEN];
    int rc;

    if (!svg) {
        if (fsc_show_where(s, id, width, stdout, err, sizeof err) < 0 ||
            fsc_show_text_width(s, id, width, stdout, err, sizeof err) < 0) {
            fflush(stdout);
            fprintf(stderr, "finscope show: %s: %s\n", db, err);
            return 1;
        }
        return 0;
    }
    FILE *out = strcmp(svg, "-") ? fopen(svg, "w") : stdout;
    if (!out) {
        fprintf(stderr, "finscope show: %s: %s\n", svg, strerror(errno));
        return 1;
    }
    rc = fsc_show_svg(s, id, true, out, err, sizeof err);
    if (out != stdout && fclose(out) != 0 && rc == 0) {
        fsc_seterr(err, sizeof err, "write error");
        rc = -1;
    }
    if (rc < 0)
        fprintf(stderr, "finscope show: %s: %s\n", svg, err);
    return rc < 0 ? 1 : 0;
}

int fsc_cmd_show(int argc, char **argv)
{
    enum { OPT_FIRST = 256, OPT_ALL, OPT_LIMIT, OPT_SVG, OPT_WIDTH };
    static const struct option longopts[] = {
        FSC_FLOWSEL_LONGOPTS,
        {"first", no_argument, NULL, OPT_FIRST},
        {"all", no_argument, NULL, OPT_ALL},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"svg", required_argument, NULL, OPT_SVG},
        {"width", required_argument, NULL, OPT_WIDTH},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = "finscope.db", *svg = NULL, *idarg = NULL;
    struct fsc_flowsel sel;
    bool all = false, first = false;
    long long limit = -1;
    char err[ERRLEN];
    uint64_t n, width = UINT64_MAX; /* width not given: the terminal's, when stdout is one */
    int c;

    fsc_flowsel_init(&sel);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int took = fsc_flowsel_option(&sel, c, optarg, err, sizeof err);
        if (took < 0) {
            fprintf(stderr, "finscope show: %s\n", err);
            return 2;
        }
        if (took)
            continue;
        switch (c) {
        case OPT_FIRST:
            first = true;
            break;
        case OPT_ALL:
            all = true;
            break;
        case OPT_LIMIT:
            if (fsc_parse_uint(optarg, 1, INT64_MAX, &n) < 0) {
                fprintf(stderr, "finscope show: --limit: '%s' is not a count (1, 2, ...)\n",
                        optarg);
                return 2;
            }
            limit = (long long)n;
            break;
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
    bool filtered = sel.given > 0 || all;
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
        fputs("finscope show: give a flow id or filters (--all), not both\n", stderr);
        return 2;
    }
    if (!idarg && !filtered) {
        fputs("finscope show: which flow? give FLOW_ID, filters (--kind, --server, ...) or --all "
              "(finscope show --help)\n",
              stderr);
        return 2;
    }
    if (idarg && !is_id(idarg)) {
        fprintf(stderr, "finscope show: '%s' is not a flow id (1, 2, ...)\n", idarg);
        return 2;
    }
    if (all && first) {
        fputs("finscope show: --first or --all, not both\n", stderr);
        return 2;
    }
    if (limit >= 0 && !all) {
        fputs("finscope show: --limit goes with --all\n", stderr);
        return 2;
    }
    if (all && svg && !strcmp(svg, "-")) {
        fputs("finscope show: --all --svg writes one file per flow (FILE-ID.svg): give a file "
              "name, not '-'\n",
              stderr);
        return 2;
    }

    struct fsc_store *s = NULL;
    if (fsc_store_open(db, true, &s, err, sizeof err) < 0) {
        fprintf(stderr, "finscope show: %s\n", err);
        return 1;
    }
    int64_t one, *ids = &one;
    size_t nids = 1;
    one = idarg ? strtoll(idarg, NULL, 10) : 0;
    if (!idarg) {
        if (fsc_flowsel_ids(s, &sel, all ? limit : 1, &ids, &nids, err, sizeof err) < 0) {
            fprintf(stderr, "finscope show: %s\n", err);
            fsc_store_close(s);
            return 1;
        }
        if (nids == 0) {
            fsc_flowsel_describe(&sel, err, sizeof err);
            fprintf(stderr, "finscope show: %s: no flow matches%s%s\n", db, *err ? " " : "", err);
            free(ids);
            fsc_store_close(s);
            return 1;
        }
    }
    int rc = 0, cols = width != UINT64_MAX ? (int)width : fsc_show_term_width();
    for (size_t k = 0; k < nids && rc == 0; k++) {
        char name[4096];
        if (all && svg) {
            if (svg_name(name, sizeof name, svg, ids[k]) < 0) {
                fputs("finscope show: --svg: file name too long\n", stderr);
                rc = 1;
                break;
            }
            rc = show_one(s, db, ids[k], name, cols);
            if (rc == 0) {
                fputs("wrote ", stdout);
                fsc_esc_term(stdout, name);
                printf(" (flow %" PRId64 ")\n", ids[k]);
            }
            continue;
        }
        if (all)
            printf("%s==== flow %" PRId64 " (%zu of %zu) ====\n", k ? "\n" : "", ids[k], k + 1,
                   nids);
        rc = show_one(s, db, ids[k], svg, cols);
    }
    if (ids != &one)
        free(ids);
    fsc_store_close(s);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("finscope show: write error");
        rc = 1;
    }
    return rc;
}
