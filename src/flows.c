/* flows.c - `finscope flows`: the flows that match filters, one line each, as query writes. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "finscope/analyze.h"
#include "finscope/flowsel.h"
#include "finscope/query.h"
#include "finscope/store.h"

#define ERRLEN 1024

static const char usage[] =
    "usage: finscope flows [DB] [filters] [--limit N] [--csv | --json]\n"
    "\n"
    "Lists the flows of a finscope database (default: finscope.db) that match every filter\n"
    "given, in id order, one line each:\n"
    "  id          flows.id (finscope show DB ID draws it)\n"
    "  frames      CAPTURE:FIRST-LAST, the capture id and the frame numbers of the flow's\n"
    "              first and last packets (CAPTURE:FIRST when they are one): the\n"
    "              file's, unless live -w rotated files (capture_files maps them)\n"
    "  client      client address:port ([v6]:port for IPv6), the side that sent the first SYN\n"
    "  server      server address:port\n"
    "  handshake, close_kind, closer   the stored tokens\n"
    "  rst_cause   with \" (likely)\" when the packets do not prove it; empty unless rst\n"
    "  states      final states, client/server\n"
    "  duration_s  seconds from the first packet to the last\n"
    "  dwell_s     seconds in close_wait, fin_wait_2 and last_ack, those that are known;\n"
    "              state>=S when an endpoint was still in it at the end (S so far)\n"
    "The table is aligned as `finscope query` writes it (stored text escaped for the\n"
    "terminal); --csv and --json write the same columns as query does.  A token not in its\n"
    "list, or an address that is not IPv4 or IPv6, is refused with exit status 2.\n"
    "\n" FSC_FLOWSEL_USAGE "\n"
    "options:\n"
    "      --limit N           at most N flows\n"
    "      --csv               CSV with a header line\n"
    "      --json              one JSON array of objects\n"
    "  -h, --help              this text\n"
    "\n"
    "examples:\n"
    "  finscope flows --kind half_closed --closer client\n"
    "  finscope flows web.db --server 10.0.0.2:80 --kind rst --rst-cause unread_data\n"
    "  finscope flows --server [2001:db8::2]:443 --limit 20\n"
    "  finscope flows --anomaly one_sided --capture 2 --json | jq '.[].id'\n";

/* " state=SECONDS", or " state>=SECONDS" when an endpoint was still in it at the end (a lower
 * bound: the time so far), or nothing when the flow never had that state. */
#define DWELL(st)                                                                                  \
    "iif(" st "_s IS NULL, '', ' " st "' || iif('" st "' IN (client_state, server_state), '>=', "  \
    "'=') || printf('%.6f', " st "_s))"

/* The listing's columns, from the flows row (fsc_flowsel_sql adds the filters). */
static const char select_sql[] =
    "SELECT id, capture_id || ':' || first_packet || "
    "iif(last_packet > first_packet, '-' || last_packet, '') AS frames, "
    "iif(ip_version = 6, '[' || client_addr || ']', client_addr) || ':' || client_port AS "
    "client, "
    "iif(ip_version = 6, '[' || server_addr || ']', server_addr) || ':' || server_port AS "
    "server, "
    "handshake, close_kind, " FSC_SQL_RST_CAUSE_SHOWN " AS rst_cause, closer, "
    "client_state || '/' || server_state AS states, "
    "iif(duration_s IS NULL, NULL, printf('%.6f', duration_s)) AS duration_s, "
    "nullif(trim(" DWELL("close_wait") " || " DWELL("fin_wait_2") " || " DWELL(
        "last_ack") "), '') AS dwell_s FROM flows";

static int writer_begin(void *user, int ncol, const char *const *names)
{
    return fsc_query_writer_begin(user, ncol, names);
}

/* The column duration_s is a number written to the microsecond ("0.000055", not SQLite's
 * "5.5e-05"): text from printf() in the SQL, a number to the writer (right-aligned, JSON number).
 */
#define DURATION_COL 9

static int writer_row(void *user, int ncol, const char *const *values, const int *types)
{
    int t[16];

    if (ncol > (int)(sizeof t / sizeof *t))
        return 1;
    memcpy(t, types, (size_t)ncol * sizeof *t);
    if (ncol > DURATION_COL && values[DURATION_COL])
        t[DURATION_COL] = FSC_VALUE_FLOAT;
    return fsc_query_writer_row(user, ncol, values, t);
}

/* Run the listing on s to stdout.  0, or -1 with a message in err. */
static int list_flows(struct fsc_store *s, const struct fsc_flowsel *sel, long long limit,
                      enum fsc_query_mode mode, char *err, size_t errlen)
{
    struct fsc_store_param params[FSC_FLOWSEL_MAX_PARAMS + 1];
    char sql[sizeof select_sql + 1024];
    struct fsc_store_user_fn fn = {writer_begin, writer_row, NULL};
    struct fsc_query_writer *w;
    int np = fsc_flowsel_sql(sel, select_sql, limit, sql, sizeof sql, params);

    if (np < 0) {
        fsc_seterr(err, errlen, "filters too long");
        return -1;
    }
    w = fsc_query_writer_new(mode, isatty(STDOUT_FILENO), stdout, "finscope flows");
    if (!w) {
        fsc_seterr(err, errlen, "out of memory");
        return -1;
    }
    int rc = fsc_store_query_bound(s, sql, params, np, &fn, w, err, errlen);
    return fsc_query_writer_end(w, rc, err, errlen);
}

int fsc_cmd_flows(int argc, char **argv)
{
    enum { OPT_LIMIT = 256, OPT_CSV, OPT_JSON };
    static const struct option longopts[] = {
        FSC_FLOWSEL_LONGOPTS,
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"csv", no_argument, NULL, OPT_CSV},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    enum fsc_query_mode mode = FSC_QUERY_TABLE;
    struct fsc_flowsel sel;
    const char *db = "finscope.db";
    long long limit = -1; /* SQLite: no limit */
    char err[ERRLEN];
    uint64_t n;
    int c;

    fsc_flowsel_init(&sel);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int took = fsc_flowsel_option(&sel, c, optarg, err, sizeof err);
        if (took < 0) {
            fprintf(stderr, "finscope flows: %s\n", err);
            return 2;
        }
        if (took)
            continue;
        switch (c) {
        case OPT_LIMIT:
            if (fsc_parse_uint(optarg, 0, INT64_MAX, &n) < 0) {
                fprintf(stderr, "finscope flows: --limit: '%s' is not a count (0, 1, ...)\n",
                        optarg);
                return 2;
            }
            limit = (long long)n;
            break;
        case OPT_CSV:
            mode = FSC_QUERY_CSV;
            break;
        case OPT_JSON:
            mode = FSC_QUERY_JSON;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs("try 'finscope flows --help'\n", stderr);
            return 2;
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, "finscope flows: too many arguments ('%s')\n", argv[optind + 1]);
        return 2;
    }
    if (argc - optind == 1)
        db = argv[optind];

    struct fsc_store *s = NULL;
    if (fsc_store_open(db, true, &s, err, sizeof err) < 0) {
        fprintf(stderr, "finscope flows: %s\n", err);
        return 1;
    }
    int rc = list_flows(s, &sel, limit, mode, err, sizeof err);
    fsc_store_close(s);
    if (rc < 0) {
        fflush(stdout);
        fprintf(stderr, "finscope flows: %s\n", err);
        return 1;
    }
    return 0;
}
