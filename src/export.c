/* export.c - `finscope export --zeek`: the database as a Zeek conn.log (TSV or JSON lines). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "finscope/escape.h"
#include "finscope/export.h"
#include "finscope/show.h"

#define ERRLEN 512

/* --help in two pieces: C99 promises string literals of 4095 bytes, no more. */
static const char usage_what[] =
    "usage: finscope export --zeek [options] [DB]\n"
    "\n"
    "Writes the connections of a finscope database (default: finscope.db) as a Zeek conn.log,\n"
    "so finscope's findings drop into pipelines built for Zeek: Zeek's TSV layout with its\n"
    "#separator ... #fields/#types header lines and #close, or JSON lines with --json.\n"
    "\n"
    "Zeek's 21 columns come first, in Zeek's order.  conn_state, history, orientation\n"
    "(id.orig_*), duration, orig_bytes/resp_bytes and orig_pkts/resp_pkts are what finscope\n"
    "computed the way Zeek's TCP analyzer does (the flows.zeek_* columns); a flow that Zeek\n"
    "would have split (timers, tuple reuse) gives several lines.  missed_bytes is\n"
    "flows.client_gap_bytes + flows.server_gap_bytes: sequence space of either side that the\n"
    "capture never showed, below later data, a FIN or an ACK of the same side.  Zeek's\n"
    "missed_bytes adds up its content_gap events, the holes its reassembler skips (usually when\n"
    "an ACK passes them), so it can differ on holes nobody acknowledged or where Zeek's\n"
    "reassembly stops.  It is on a flow's last line only (unset on the earlier lines of a\n"
    "split flow: finscope does not count gaps per Zeek record).  Fields finscope does not\n"
    "know are unset ('-' in TSV, absent in JSON): service, local_orig, local_resp,\n"
    "orig_ip_bytes, resp_ip_bytes, tunnel_parents.  Only TCP is exported: finscope follows\n"
    "nothing else.\n"
    "\n"
    "finscope's own findings follow as 15 more columns, named the way Zeek names the fields\n"
    "of a record a package adds to conn.log (same keys in JSON); stable, never renamed:\n"
    "  finscope.flow_id           count     flows.id: `finscope show DB ID` draws the flow\n"
    "  finscope.capture_id        count     flows.capture_id (captures.id)\n"
    "  finscope.first_packet      count     the capture's frame number of the flow's first\n"
    "                                       packet (capture_files maps it to a file)\n"
    "  finscope.handshake         string    flows.handshake (three_way, ..., none)\n"
    "  finscope.close_kind        string    flows.close_kind (four_way, ..., rst, open)\n"
    "  finscope.rst_cause         string    flows.rst_cause; unset unless close_kind is rst\n"
    "  finscope.rst_cause_proven  bool      T: the packets prove rst_cause, F: the likely\n"
    "                                       reading; unset unless close_kind is rst\n"
    "  finscope.closer            string    flows.closer (client, server, both, ...)\n"
    "  finscope.closer_call       string    flows.closer_call; unset when no FIN was sent\n"
    "  finscope.client_state      string    client's RFC 9293 state at the end\n"
    "  finscope.server_state      string    server's state at the end\n"
    "  finscope.close_wait        interval  flows.close_wait_s; unset if never entered\n"
    "  finscope.fin_wait_2        interval  flows.fin_wait_2_s; likewise\n"
    "  finscope.last_ack          interval  flows.last_ack_s; likewise\n"
    "  finscope.anomalies         set[string]  flows.anomalies, (empty) when none\n"
    "A flow that Zeek would have split repeats them on each of its lines.\n";
static const char usage_how[] =
    "\n"
    "uid is 'C' and 17 base-62 characters hashed from the capture id, the flow id and the\n"
    "record's number within the flow: stable for a database and unique per line, but not\n"
    "Zeek's random one and not decodable.  The way back from a line to its flow is\n"
    "finscope.flow_id (export again without --zeek-only to find a uid's flow id).\n"
    "\n"
    "options:\n"
    "      --zeek            conn.log format, Zeek's columns and finscope's (the only\n"
    "                        format so far: this or --zeek-only is required)\n"
    "      --zeek-only       Zeek's 21 columns only, for pipelines that expect exactly\n"
    "                        Zeek's conn.log (implies --zeek)\n"
    "      --json            JSON lines (one object per line) instead of TSV\n"
    "  -o, --output FILE     write here instead of standard output\n"
    "      --capture N       only capture N (captures.id); default: every capture\n"
    "  -h, --help            this text\n"
    "\n"
    "examples:\n"
    "  finscope export --zeek finscope.db > conn.log\n"
    "  finscope export --zeek --json --capture 2 -o conn.json web.db\n"
    "  finscope export --zeek-only web.db | zeek-cut id.orig_h id.resp_h conn_state history\n"
    "  zeek-cut uid finscope.flow_id finscope.close_kind finscope.close_wait < conn.log\n"
    "  zeek-cut uid finscope.flow_id < conn.log | grep CHhAvVGS1DHFjwGM9   # a uid's flow id\n"
    "  finscope show web.db 42                # then draw that flow (finscope.flow_id 42)\n"
    "  finscope export --zeek --json web.db | jq -c 'select(.\"finscope.close_kind\" == "
    "\"rst\")'\n";

/*
 * One row per Zeek record: the earlier records kept in zeek_earlier (JSON), then the flow's
 * last one (last = 1), joined back to their flow for its addresses and finscope's columns.
 * Times are formatted here with microseconds, as Zeek prints them; a stored dwell that is not a
 * number stays NULL (printf would make 0 of text).  The database is untrusted: zeek_earlier
 * that is not a JSON array counts as an empty one, and an element that is not an array is no
 * record (json_each would give a NULL key, and ->> on a bare string fails).
 */
#define SQL_SECONDS(x)                                                                             \
    "CASE WHEN typeof(" x ") IN ('integer', 'real') THEN printf('%.6f', " x ") END"
#define EARLIER FSC_SQL_JSON_ARRAY("f.zeek_earlier")
#define CLOSE_WAIT SQL_SECONDS("g.close_wait_s")
#define FIN_WAIT_2 SQL_SECONDS("g.fin_wait_2_s")
#define LAST_ACK SQL_SECONDS("g.last_ack_s")
#define RECORDS_SQL(where)                                                                         \
    "SELECT r.capture_id, r.id, r.rec, r.orig, g.client_addr, g.client_port, g.server_addr, "      \
    "g.server_port, printf('%.6f', r.ts), CASE WHEN r.dur > 0 THEN printf('%.6f', r.dur) END, "    \
    "r.conn_state, r.history, r.ob, r.rb, r.op, r.rp, r.last, g.client_gap_bytes, "                \
    "g.server_gap_bytes, g.first_packet, g.handshake, g.close_kind, g.rst_cause, "                 \
    "g.rst_cause_proven, g.closer, g.closer_call, g.client_state, g.server_state, " CLOSE_WAIT     \
    ", " FIN_WAIT_2 ", " LAST_ACK ", g.anomalies FROM ("                                           \
    "SELECT f.capture_id, f.id, j.key AS rec, 0 AS last, j.value ->> 4 AS orig, "                  \
    "(j.value ->> 0) / 1e6 AS ts, (j.value ->> 1) / 1e6 AS dur, j.value ->> 2 AS conn_state, "     \
    "j.value ->> 3 AS history, j.value ->> 5 AS ob, j.value ->> 6 AS rb, j.value ->> 7 AS op, "    \
    "j.value ->> 8 AS rp FROM flows AS f, json_each(" EARLIER ") AS j "                            \
    "WHERE j.type = 'array' " where " UNION ALL "                                                  \
    "SELECT f.capture_id, f.id, json_array_length(" EARLIER "), 1, f.zeek_orig, f.zeek_ts, "       \
    "f.zeek_duration_s, f.zeek_conn_state, f.zeek_history, f.zeek_orig_bytes, "                    \
    "f.zeek_resp_bytes, f.zeek_orig_pkts, f.zeek_resp_pkts FROM flows AS f "                       \
    "WHERE f.zeek_conn_state IS NOT NULL " where ") AS r JOIN flows AS g ON g.id = r.id "          \
    "ORDER BY r.ts, r.id, r.rec"

static const char all_sql[] = RECORDS_SQL("");
static const char one_sql[] = RECORDS_SQL("AND f.capture_id = ?1");

/* Columns of a record row (RECORDS_SQL's select list). */
enum rec_col {
    RC_CAPTURE,
    RC_FLOW,
    RC_REC,
    RC_ORIG,
    RC_CLIENT_ADDR,
    RC_CLIENT_PORT,
    RC_SERVER_ADDR,
    RC_SERVER_PORT,
    RC_TS,
    RC_DURATION,
    RC_CONN_STATE,
    RC_HISTORY,
    RC_ORIG_BYTES,
    RC_RESP_BYTES,
    RC_ORIG_PKTS,
    RC_RESP_PKTS,
    RC_LAST,
    RC_CLIENT_GAP,
    RC_SERVER_GAP,
    RC_FIRST_PACKET, /* from here on, finscope's columns in the order of fields[] */
    RC__COUNT = RC_FIRST_PACKET + 13
};

/* Zeek's conn.log columns (NZEEK of them, in Zeek's order), then finscope's. */
static const char *const fields[] = {
    "ts",
    "uid",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "service",
    "duration",
    "orig_bytes",
    "resp_bytes",
    "conn_state",
    "local_orig",
    "local_resp",
    "missed_bytes",
    "history",
    "orig_pkts",
    "orig_ip_bytes",
    "resp_pkts",
    "resp_ip_bytes",
    "tunnel_parents",
    /* finscope's: stable names (README, --help) */
    "finscope.flow_id",
    "finscope.capture_id",
    "finscope.first_packet",
    "finscope.handshake",
    "finscope.close_kind",
    "finscope.rst_cause",
    "finscope.rst_cause_proven",
    "finscope.closer",
    "finscope.closer_call",
    "finscope.client_state",
    "finscope.server_state",
    "finscope.close_wait",
    "finscope.fin_wait_2",
    "finscope.last_ack",
    "finscope.anomalies",
};
static const char *const types[] = {
    "time",     "string",   "addr",     "port",        "addr",        "port",   "enum",   "string",
    "interval", "count",    "count",    "string",      "bool",        "bool",   "count",  "string",
    "count",    "count",    "count",    "count",       "set[string]", "count",  "count",  "count",
    "string",   "string",   "string",   "bool",        "string",      "string", "string", "string",
    "interval", "interval", "interval", "set[string]",
};
#define NFIELDS (sizeof fields / sizeof *fields)
#define NZEEK 21

/* How a field's value is checked before it is written: stored text is untrusted, and a value
 * that is not what the field's Zeek type allows is written as unset. */
enum field_kind { FK_STRING, FK_COUNT, FK_PORT, FK_TIME, FK_BOOL, FK_SET };

static enum field_kind field_kind(size_t k)
{
    if (!strcmp(types[k], "count"))
        return FK_COUNT;
    if (!strcmp(types[k], "port"))
        return FK_PORT;
    if (!strcmp(types[k], "time") || !strcmp(types[k], "interval"))
        return FK_TIME;
    if (!strcmp(types[k], "bool"))
        return FK_BOOL;
    if (!strcmp(types[k], "set[string]"))
        return FK_SET;
    return FK_STRING;
}

/* v as an unsigned decimal integer (digits only, no sign, fits 64 bits) into *n; else false. */
static bool parse_u64(const char *v, uint64_t *n)
{
    char *end;

    if (!v || !*v || strspn(v, "0123456789") != strlen(v))
        return false;
    errno = 0;
    *n = strtoull(v, &end, 10);
    return errno == 0;
}

/* Whether v is what a field of kind k may hold: a count, a port (0..65535), a time as
 * printf('%.6f') gives it (not Inf or NaN, which are not JSON numbers and not Zeek times), or a
 * bool as stored (0 or 1). */
static bool value_ok(enum field_kind k, const char *v)
{
    uint64_t n;
    const char *p = v;

    switch (k) {
    case FK_COUNT:
        return parse_u64(v, &n);
    case FK_PORT:
        return parse_u64(v, &n) && n <= 65535;
    case FK_TIME:
        if (*p == '-')
            p++;
        p += strspn(p, "0123456789");
        return p > v + (*v == '-') && *p == '.' && strspn(p + 1, "0123456789") == 6 && !p[7];
    case FK_BOOL:
        return !strcmp(v, "0") || !strcmp(v, "1");
    default:
        return true;
    }
}

static void usage(FILE *out)
{
    fputs(usage_what, out);
    fputs(usage_how, out);
}

struct export_run {
    FILE *out;
    bool json;
    size_t nfields; /* NZEEK (--zeek-only) or NFIELDS */
    uint64_t rows;
};

/* "C" and 17 base-62 digits, as Zeek's uids look; derived from (capture, flow, record).  Any of
 * the three may be NULL or not a number in a foreign database: it then counts as 0. */
static void make_uid(const char *capture, const char *flow, const char *rec, char *buf)
{
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    uint64_t c = 0, f = 0, r = 0;

    if (!parse_u64(capture, &c))
        c = 0;
    if (!parse_u64(flow, &f))
        f = 0;
    if (!parse_u64(rec, &r))
        r = 0;
    uint64_t h = fsc_mix64(c * 0x9e3779b97f4a7c15ULL ^ fsc_mix64(f) ^ (r << 48));
    uint64_t g = fsc_mix64(h + 0x632be59bd9b4e019ULL);

    buf[0] = 'C';
    for (int i = 1; i <= 17; i++) {
        uint64_t *w = i <= 9 ? &h : &g;
        buf[i] = digits[*w % 62];
        *w /= 62;
    }
    buf[18] = '\0';
}

/* A set[string] from a comma-separated stored list: each non-empty element escaped for where it
 * goes (TSV: Zeek's set separator ',', an empty set "(empty)"; JSON: an array of strings). */
static void write_set(struct export_run *r, const char *v)
{
    char *copy = strdup(v), *p = copy;
    size_t n = 0;

    if (!copy) {
        fputs(r->json ? "[]" : "-", r->out); /* out of memory: JSON has its key out, so [] */
        return;
    }
    fputs(r->json ? "[" : "", r->out);
    while (p) {
        char *elem = strsep(&p, ",");
        if (!*elem)
            continue;
        fputs(n++ ? "," : "", r->out);
        if (r->json)
            fsc_esc_json(r->out, elem);
        else
            fsc_esc_zeek_tsv(r->out, elem);
    }
    fputs(r->json ? "]" : n ? "" : "(empty)", r->out);
    free(copy);
}

/* One field: TSV escaped by Zeek's ASCII writer's rules, or a JSON member through the one JSON
 * writer (numbers only when value_ok() vouches for them). */
static void write_value(struct export_run *r, size_t k, const char *v, bool *first)
{
    enum field_kind kind = field_kind(k);

    if (v && !value_ok(kind, v))
        v = NULL; /* not what the field's type allows: unset rather than a lie or broken syntax */
    if (!r->json) {
        fputs(k ? "\t" : "", r->out);
        if (kind == FK_SET && v)
            write_set(r, v);
        else if (kind == FK_BOOL && v)
            fputs(*v == '1' ? "T" : "F", r->out);
        else if (kind == FK_STRING || !v)
            fsc_esc_zeek_tsv(r->out, v);
        else
            fputs(v, r->out);
        return;
    }
    if (!v)
        return; /* Zeek's JSON leaves unset fields out */
    fprintf(r->out, "%s\"%s\":", *first ? "" : ",", fields[k]);
    if (kind == FK_SET)
        write_set(r, v);
    else if (kind == FK_BOOL)
        fputs(*v == '1' ? "true" : "false", r->out);
    else if (kind == FK_STRING)
        fsc_esc_json(r->out, v);
    else
        fputs(v, r->out);
    *first = false;
}

/* missed_bytes of a record: the flow's gap bytes, both sides, on its last record only; unset
 * when either count is not a number or their sum does not fit (a foreign database). */
static const char *missed_bytes(const char *const *v, char *buf, size_t len)
{
    uint64_t c, s;

    if (!v[RC_LAST] || strcmp(v[RC_LAST], "1") || !parse_u64(v[RC_CLIENT_GAP], &c) ||
        !parse_u64(v[RC_SERVER_GAP], &s) || c > UINT64_MAX - s)
        return NULL;
    snprintf(buf, len, "%" PRIu64, c + s);
    return buf;
}

static int record_row(void *user, int ncol, const char *const *names, const char *const *v)
{
    struct export_run *r = user;
    char uid[24], missed[24];
    bool first = true;

    (void)names;
    if (ncol < RC__COUNT)
        return 1;
    bool orig_client = v[RC_ORIG] && !strcmp(v[RC_ORIG], "client");
    const char *ch = v[RC_CLIENT_ADDR], *cp = v[RC_CLIENT_PORT];
    const char *sh = v[RC_SERVER_ADDR], *sp = v[RC_SERVER_PORT];
    const char *const *fs = v + RC_FIRST_PACKET; /* finscope's columns from the flow */

    make_uid(v[RC_CAPTURE], v[RC_FLOW], v[RC_REC], uid);
    const char *vals[NFIELDS] = {
        v[RC_TS],
        uid,
        orig_client ? ch : sh,
        orig_client ? cp : sp,
        orig_client ? sh : ch,
        orig_client ? sp : cp,
        "tcp",
        NULL,
        v[RC_DURATION],
        v[RC_ORIG_BYTES],
        v[RC_RESP_BYTES],
        v[RC_CONN_STATE],
        NULL,
        NULL,
        missed_bytes(v, missed, sizeof missed),
        v[RC_HISTORY],
        v[RC_ORIG_PKTS],
        NULL,
        v[RC_RESP_PKTS],
        NULL,
        NULL,
        /* finscope's */
        v[RC_FLOW],
        v[RC_CAPTURE],
        fs[0],
        fs[1],
        fs[2],
        fs[3],
        fs[4],
        fs[5],
        fs[6],
        fs[7],
        fs[8],
        fs[9],
        fs[10],
        fs[11],
        fs[12],
    };
    if (!v[RC_DURATION]) /* duration 0: Zeek leaves the byte counts unset too */
        vals[9] = vals[10] = NULL;
    if (r->json)
        fputc('{', r->out);
    for (size_t k = 0; k < r->nfields; k++)
        write_value(r, k, vals[k], &first);
    fputs(r->json ? "}\n" : "\n", r->out);
    r->rows++;
    return ferror(r->out) ? 1 : 0;
}

static void zeek_time(char *buf, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(buf, len, "%Y-%m-%d-%H-%M-%S", &tm);
}

int fsc_export_zeek(struct fsc_store *s, int64_t capture_id, unsigned flags, FILE *out, char *err,
                    size_t errlen)
{
    bool json = flags & FSC_EXPORT_JSON;
    struct export_run r = {
        .out = out, .json = json, .nfields = flags & FSC_EXPORT_FINSCOPE ? NFIELDS : NZEEK};
    char stamp[32];

    if (!json) {
        zeek_time(stamp, sizeof stamp);
        fprintf(out,
                "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n"
                "#unset_field\t-\n#path\tconn\n#open\t%s\n#fields",
                stamp);
        for (size_t k = 0; k < r.nfields; k++)
            fprintf(out, "\t%s", fields[k]);
        fputs("\n#types", out);
        for (size_t k = 0; k < r.nfields; k++)
            fprintf(out, "\t%s", types[k]);
        fputc('\n', out);
    }
    if (fsc_store_query(s, capture_id < 0 ? all_sql : one_sql, capture_id < 0 ? -1 : capture_id,
                        record_row, &r, err, errlen) < 0)
        return -1;
    if (!json) {
        zeek_time(stamp, sizeof stamp);
        fprintf(out, "#close\t%s\n", stamp);
    }
    if (fflush(out) != 0 || ferror(out)) {
        fsc_seterr(err, errlen, "write error");
        return -1;
    }
    return 0;
}

int fsc_export_zeek_conn(struct fsc_store *s, int64_t capture_id, bool json, FILE *out, char *err,
                         size_t errlen)
{
    return fsc_export_zeek(s, capture_id, json ? FSC_EXPORT_JSON : 0, out, err, errlen);
}

int fsc_cmd_export(int argc, char **argv)
{
    enum { OPT_ZEEK = 256, OPT_ZEEK_ONLY, OPT_JSON, OPT_CAPTURE };
    static const struct option longopts[] = {
        {"zeek", no_argument, NULL, OPT_ZEEK},
        {"zeek-only", no_argument, NULL, OPT_ZEEK_ONLY},
        {"json", no_argument, NULL, OPT_JSON},
        {"output", required_argument, NULL, 'o'},
        {"capture", required_argument, NULL, OPT_CAPTURE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = "finscope.db", *path = NULL;
    bool zeek = false;
    unsigned flags = FSC_EXPORT_FINSCOPE;
    int64_t capture = -1;
    char err[ERRLEN];
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_ZEEK:
            zeek = true;
            break;
        case OPT_ZEEK_ONLY:
            zeek = true;
            flags &= ~(unsigned)FSC_EXPORT_FINSCOPE;
            break;
        case OPT_JSON:
            flags |= FSC_EXPORT_JSON;
            break;
        case 'o':
            path = optarg;
            break;
        case OPT_CAPTURE: {
            uint64_t v;
            if (fsc_parse_uint(optarg, 1, INT64_MAX, &v) < 0) {
                fprintf(stderr,
                        "finscope export: --capture takes a capture id (1, 2, ...), not '%s'\n",
                        optarg);
                return 2;
            }
            capture = (int64_t)v;
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            fputs("try 'finscope export --help'\n", stderr);
            return 2;
        }
    }
    if (!zeek) {
        fputs("finscope export: say which format: --zeek (Zeek conn.log) or --zeek-only\n\n",
              stderr);
        usage(stderr);
        return 2;
    }
    if (optind < argc)
        db = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "finscope export: one database at a time ('%s' is extra)\n", argv[optind]);
        return 2;
    }

    struct fsc_store *s = NULL;
    if (fsc_store_open(db, true, &s, err, sizeof err) < 0) {
        fprintf(stderr, "finscope: %s\n", err);
        return 1;
    }
    FILE *out = path ? fopen(path, "w") : stdout;
    if (!out) {
        perror(path);
        fsc_store_close(s);
        return 1;
    }
    int rc = fsc_export_zeek(s, capture, flags, out, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "finscope export: %s%s%s\n", path ? path : "", path ? ": " : "", err);
    if (path && fclose(out) != 0 && rc == 0) {
        perror(path);
        rc = -1;
    }
    fsc_store_close(s);
    return rc < 0 ? 1 : 0;
}
