/* export.c - `finscope export --zeek`: the database as a Zeek conn.log (TSV or JSON lines). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "finscope/escape.h"
#include "finscope/export.h"
#include "finscope/show.h"

#define ERRLEN 512

static const char usage[] =
    "usage: finscope export --zeek [options] [DB]\n"
    "\n"
    "Writes the connections of a finscope database (default: finscope.db) as a Zeek conn.log,\n"
    "so finscope's findings drop into pipelines built for Zeek: Zeek's TSV layout with its\n"
    "#separator ... #fields/#types header lines and #close, or JSON lines with --json.\n"
    "conn_state, history, orientation (id.orig_*), duration, orig_bytes/resp_bytes and\n"
    "orig_pkts/resp_pkts are what finscope computed the way Zeek's TCP analyzer does (the\n"
    "flows.zeek_* columns); a flow that Zeek would have split (timers, tuple reuse) gives\n"
    "several lines.  Fields finscope does not know are left unset ('-' in TSV, absent in\n"
    "JSON): service, local_orig, local_resp, missed_bytes, orig_ip_bytes, resp_ip_bytes,\n"
    "tunnel_parents.  uid is derived from the capture, flow and record numbers (stable for a\n"
    "database, not Zeek's random one).  Only TCP is exported: finscope follows nothing else.\n"
    "\n"
    "options:\n"
    "      --zeek            conn.log format (the only format so far; required)\n"
    "      --json            JSON lines (one object per line) instead of TSV\n"
    "  -o, --output FILE     write here instead of standard output\n"
    "      --capture N       only capture N (captures.id); default: every capture\n"
    "  -h, --help            this text\n"
    "\n"
    "examples:\n"
    "  finscope export --zeek finscope.db > conn.log\n"
    "  finscope export --zeek --json --capture 2 -o conn.json web.db\n"
    "  finscope export --zeek web.db | zeek-cut id.orig_h id.resp_h conn_state history\n";

/*
 * One row per Zeek record: the earlier records kept in zeek_earlier (JSON), then the flow's
 * last one.  Times are formatted here with microseconds, as Zeek prints them.  The database is
 * untrusted: zeek_earlier that is not a JSON array counts as an empty one, and an element that
 * is not an array is no record (json_each would give a NULL key, and ->> on a bare string fails).
 */
#define RECORDS_SQL(where)                                                                         \
    "SELECT capture_id, id, rec, orig, client_addr, client_port, server_addr, server_port, "       \
    "printf('%.6f', ts), CASE WHEN dur > 0 THEN printf('%.6f', dur) END, conn_state, history, "    \
    "ob, rb, op, rp FROM ("                                                                        \
    "SELECT f.capture_id, f.id, j.key AS rec, j.value ->> 4 AS orig, f.client_addr, "              \
    "f.client_port, f.server_addr, f.server_port, (j.value ->> 0) / 1e6 AS ts, "                   \
    "(j.value ->> 1) / 1e6 AS dur, j.value ->> 2 AS conn_state, j.value ->> 3 AS history, "        \
    "j.value ->> 5 AS ob, j.value ->> 6 AS rb, j.value ->> 7 AS op, j.value ->> 8 AS rp "          \
    "FROM flows AS f, json_each(" FSC_SQL_JSON_ARRAY(                                              \
        "f.zeek_earlier") ") AS j "                                                                \
                          "WHERE j.type = 'array' " where " UNION ALL "                            \
                          "SELECT f.capture_id, f.id, json_array_length(" FSC_SQL_JSON_ARRAY(      \
                              "f.zeek_earlier") "), "                                              \
                                                "f.zeek_orig, f.client_addr, f.client_port, "      \
                                                "f.server_addr, f.server_port, f.zeek_ts, "        \
                                                "f.zeek_duration_s, f.zeek_conn_state, "           \
                                                "f.zeek_history, f.zeek_orig_bytes, "              \
                                                "f.zeek_resp_bytes, f.zeek_orig_pkts, "            \
                                                "f.zeek_resp_pkts FROM flows AS f "                \
                                                "WHERE f.zeek_conn_state IS NOT NULL " where       \
                                                ") ORDER BY ts, id, rec"

static const char all_sql[] = RECORDS_SQL("");
static const char one_sql[] = RECORDS_SQL("AND f.capture_id = ?1");

static const char *const fields[] = {
    "ts",         "uid",           "id.orig_h",      "id.orig_p",  "id.resp_h",  "id.resp_p",
    "proto",      "service",       "duration",       "orig_bytes", "resp_bytes", "conn_state",
    "local_orig", "local_resp",    "missed_bytes",   "history",    "orig_pkts",  "orig_ip_bytes",
    "resp_pkts",  "resp_ip_bytes", "tunnel_parents",
};
static const char *const types[] = {
    "time",   "string",   "addr",  "port",  "addr",   "port",  "enum",
    "string", "interval", "count", "count", "string", "bool",  "bool",
    "count",  "string",   "count", "count", "count",  "count", "set[string]",
};
#define NFIELDS (sizeof fields / sizeof *fields)

/* How a field's value is checked before it is written: stored text is untrusted, and a value
 * that is not what the field's Zeek type allows is written as unset. */
enum field_kind { FK_STRING, FK_COUNT, FK_PORT, FK_TIME };

static enum field_kind field_kind(size_t k)
{
    if (!strcmp(types[k], "count"))
        return FK_COUNT;
    if (!strcmp(types[k], "port"))
        return FK_PORT;
    if (!strcmp(types[k], "time") || !strcmp(types[k], "interval"))
        return FK_TIME;
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

/* Whether v is what a field of kind k may hold: a count, a port (0..65535), or a time as
 * printf('%.6f') gives it (not Inf or NaN, which are not JSON numbers and not Zeek times). */
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
    default:
        return true;
    }
}

struct export_run {
    FILE *out;
    bool json;
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

/* One field: TSV escaped by Zeek's ASCII writer's rules, or a JSON member through the one JSON
 * writer (numbers only when value_ok() vouches for them). */
static void write_value(struct export_run *r, size_t k, const char *v, bool *first)
{
    enum field_kind kind = field_kind(k);

    if (v && !value_ok(kind, v))
        v = NULL; /* not what the field's type allows: unset rather than a lie or broken syntax */
    if (!r->json) {
        fputs(k ? "\t" : "", r->out);
        if (kind == FK_STRING || !v)
            fsc_esc_zeek_tsv(r->out, v);
        else
            fputs(v, r->out);
        return;
    }
    if (!v)
        return; /* Zeek's JSON leaves unset fields out */
    fprintf(r->out, "%s\"%s\":", *first ? "" : ",", fields[k]);
    if (kind == FK_STRING)
        fsc_esc_json(r->out, v);
    else
        fputs(v, r->out);
    *first = false;
}

static int record_row(void *user, int ncol, const char *const *names, const char *const *v)
{
    struct export_run *r = user;
    char uid[24];
    bool first = true;

    (void)names;
    if (ncol < 16)
        return 1;
    bool orig_client = v[3] && !strcmp(v[3], "client");
    const char *oh = orig_client ? v[4] : v[6], *op = orig_client ? v[5] : v[7];
    const char *rh = orig_client ? v[6] : v[4], *rp = orig_client ? v[7] : v[5];

    make_uid(v[0], v[1], v[2], uid);
    const char *vals[NFIELDS] = {
        v[8],  uid,  oh,   op,   rh,    rp,    "tcp", NULL,  v[9], v[12], v[13],
        v[10], NULL, NULL, NULL, v[11], v[14], NULL,  v[15], NULL, NULL,
    };
    if (!v[9]) /* duration 0: Zeek leaves the byte counts unset too */
        vals[9] = vals[10] = NULL;
    if (r->json)
        fputc('{', r->out);
    for (size_t k = 0; k < NFIELDS; k++)
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

int fsc_export_zeek_conn(struct fsc_store *s, int64_t capture_id, bool json, FILE *out, char *err,
                         size_t errlen)
{
    struct export_run r = {.out = out, .json = json};
    char stamp[32];

    if (!json) {
        zeek_time(stamp, sizeof stamp);
        fprintf(out,
                "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n"
                "#unset_field\t-\n#path\tconn\n#open\t%s\n#fields",
                stamp);
        for (size_t k = 0; k < NFIELDS; k++)
            fprintf(out, "\t%s", fields[k]);
        fputs("\n#types", out);
        for (size_t k = 0; k < NFIELDS; k++)
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

int fsc_cmd_export(int argc, char **argv)
{
    enum { OPT_ZEEK = 256, OPT_JSON, OPT_CAPTURE };
    static const struct option longopts[] = {
        {"zeek", no_argument, NULL, OPT_ZEEK},    {"json", no_argument, NULL, OPT_JSON},
        {"output", required_argument, NULL, 'o'}, {"capture", required_argument, NULL, OPT_CAPTURE},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *db = "finscope.db", *path = NULL;
    bool zeek = false, json = false;
    int64_t capture = -1;
    char err[ERRLEN];
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_ZEEK:
            zeek = true;
            break;
        case OPT_JSON:
            json = true;
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
            fputs(usage, stdout);
            return 0;
        default:
            fputs("try 'finscope export --help'\n", stderr);
            return 2;
        }
    }
    if (!zeek) {
        fputs("finscope export: say which format: --zeek (Zeek conn.log)\n\n", stderr);
        fputs(usage, stderr);
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
    int rc = fsc_export_zeek_conn(s, capture, json, out, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "finscope export: %s%s%s\n", path ? path : "", path ? ": " : "", err);
    if (path && fclose(out) != 0 && rc == 0) {
        perror(path);
        rc = -1;
    }
    fsc_store_close(s);
    return rc < 0 ? 1 : 0;
}
