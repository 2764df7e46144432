/* report.c - `finscope report`: the summary a person reads first, as text or one HTML file.
 *
 * Every number shown is formatted by SQLite (count(), round(), printf()) and printed as the
 * text the query returned, so the report always equals direct SQL on the same database.  C only
 * lays the rows out; the chart geometry (bar lengths) is the one thing computed here.  The
 * census sections (sockets per host, CLOSE_WAIT leaks, TIME_WAIT pressure) are the exception:
 * counted by census.h as `finscope states` counts, their rows come from report_census.c.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "finscope/analyze.h"
#include "finscope/census.h"
#include "finscope/escape.h"
#include "finscope/report.h"
#include "finscope/show.h"
#include "finscope/store.h"
#include "finscope/where.h"

#define ERRLEN 512
#define MAXCOLS 16   /* columns of a section's query; the widest, examples_sql, has 16 */
#define CELL_MAX 512 /* bytes of a cell as shown, escaped (a tshark filter of two IPv6 ends) */
#define TOP_ROWS 10  /* rows shown in the "top" sections (ports, suspects, FIN retransmissions) */
#define TOP_ROWS_STR "10"

static const char usage[] =
    "usage: finscope report [options] [DB]\n"
    "\n"
    "Prints the summary of a finscope database (default: finscope.db, opened read-only) over\n"
    "every capture, or one with --capture: a table of the captures (source file, packets,\n"
    "flows, close kinds), close kinds and handshakes with counts and shares, RST causes, who\n"
    "closes first per server port (ports seen in one connection only are one row: \"other\n"
    "ports\"), servers leaving connections in CLOSE_WAIT (the close_wait_suspects view, per\n"
    "capture) with their stall times, histograms of the CLOSE_WAIT dwell (flows.close_wait_s,\n"
    "server side and client side apart) and of the FIN_WAIT_2 dwell (flows.fin_wait_2_s), and\n"
    "the 5-tuples with the most retransmitted FINs.  Every one of these numbers is computed by\n"
    "SQL on the database.  When the database holds several captures, the per-server and\n"
    "per-5-tuple sections have a capture column (captures.id).\n"
    "\n"
    "Then the census, counted as `finscope states` counts it (default lifetimes):\n"
    "  sockets per host     the 10 busiest hosts (by their peak of any state), per TCP state\n"
    "                       the count when the capture ended, the peak and when (UTC, and\n"
    "                       seconds from the first packet);\n"
    "  CLOSE_WAIT leaks     servers (address:port) whose CLOSE_WAIT count keeps growing: its\n"
    "                       counts at 25, 50, 75 and 100% of its capture never fall, and the\n"
    "                       last is above the first and at least 2 (an application that\n"
    "                       forgets to close());\n"
    "  TIME_WAIT pressure   per client address -> server address:port, the most client\n"
    "                       sockets in TIME_WAIT at once, when, and their share of the 28,232\n"
    "                       ephemeral ports of Linux's default (each blocks one for 60 s).\n"
    "Rows that name a capture give their times in seconds from that capture's first packet.\n"
    "\n"
    "Last, the example flows linked from the sections: flow id, capture:frame of its first\n"
    "packet, and the Wireshark/tshark display filter that isolates it (tshark -r FILE -Y ...).\n"
    "\n"
    "With --html, writes one self-contained HTML file (inline CSS and SVG charts, no script,\n"
    "nothing fetched) with a table per section, an example flow of each close kind with its\n"
    "ladder diagram, and for the 4 busiest hosts a chart of their sockets per state over the\n"
    "capture.  Every token has one colour in every chart (four_way blue, close_wait red, ...).\n"
    "\n"
    "With --json, prints one JSON object with the same numbers: \"overview\", then one array\n"
    "per section named as the section's id (captures, close_kinds, handshakes, rst_causes,\n"
    "closers, close_wait_suspects, close_wait_dwell, fin_wait_2_dwell, fin_retrans,\n"
    "sockets_per_host, close_wait_leaks, time_wait_pressure, examples) of objects with fixed\n"
    "keys; every row where the text shows the first 10 (sockets_per_host: the 10 hosts, and\n"
    "hosts_not_shown); numbers as numbers, null where SQL has NULL.\n"
    "\n"
    "options:\n"
    "      --html FILE     write the report as HTML to FILE ('-': standard output)\n"
    "      --json          print the report as JSON\n"
    "      --capture N     only capture N (captures.id); default: every capture\n"
    "  -h, --help          this text\n"
    "\n"
    "examples:\n"
    "  finscope report\n"
    "  finscope report web.db --capture 2\n"
    "  finscope report web.db --html report.html\n"
    "  finscope report web.db --json | jq '.close_kinds[] | [.close_kind, .flows]'\n"
    "  finscope show web.db 42      # the ladder diagram of an example flow\n";

/* The help text and the census sections' titles say these numbers. */
_Static_assert(FSC_REPORT_HOSTS_SHOWN == 10 && FSC_REPORT_HOSTS_CHARTED == 4 &&
                   FSC_EPHEMERAL_PORTS == 28232,
               "report's help and titles");

/* The capture filter: ?1 is left unbound (NULL) for every capture. */
#define FILT "(?1 IS NULL OR capture_id = ?1)"

#define PCT(n, total) "printf('%.1f', round(100.0 * " n " / " total ", 1))"

/* Counts and shares of one token column; the share rounds as the close_kinds view does.  extra:
 * more columns (only in JSON). */
#define TALLY_SQL(col, where, extra)                                                               \
    "SELECT coalesce(" col ", '-'), count(*) AS n, " PCT(                                          \
        "count(*)", "sum(count(*)) OVER ()") ", min(id)" extra " FROM flows WHERE " FILT where     \
                                             " GROUP BY " col " ORDER BY n DESC, " col

/*
 * Dwell-time buckets, [lo, hi) in seconds: the bucket index of v in one pass over the flows (a
 * text value, which SQLite ranks above every number, lands in the last bucket).
 */
#define BUCKET(v)                                                                                  \
    "CASE WHEN " v " < 0.001 THEN 0 WHEN " v " < 0.01 THEN 1 WHEN " v " < 0.1 THEN 2 WHEN " v      \
    " < 1.0 THEN 3 WHEN " v " < 10.0 THEN 4 WHEN " v " < 60.0 THEN 5 ELSE 6 END"
#define BUCKETS                                                                                    \
    "b(i, label) AS (VALUES (0, '<1 ms'), (1, '1-10 ms'), (2, '10-100 ms'), (3, '0.1-1 s'), "      \
    "(4, '1-10 s'), (5, '10-60 s'), (6, '>60 s'))"
#define SHARE_OF(n)                                                                                \
    "printf('%.1f', CASE WHEN sum(" n ") OVER () > 0 THEN round(100.0 * " n " / sum(" n            \
    ") OVER (), 1) ELSE 0 END)"

#define HIST_SQL(col)                                                                              \
    "WITH " BUCKETS                                                                                \
    ", c AS (SELECT " BUCKET(col) " AS i, count(*) AS n FROM flows WHERE " col                     \
                                  " IS NOT NULL AND " FILT                                         \
                                  " GROUP BY i), d AS (SELECT b.i, label, coalesce(n, 0) AS n "    \
                                  "FROM b LEFT JOIN c ON c.i = b.i) SELECT label, n, " SHARE_OF(   \
                                      "n") " FROM d ORDER BY i"

/*
 * The CLOSE_WAIT histogram per side: the endpoint in CLOSE_WAIT is the peer of the one that
 * closed first (flows.closer), the client when the server closed first, the server otherwise.
 */
#define HIST_SIDES_SQL(col)                                                                        \
    "WITH " BUCKETS ", c AS (SELECT " BUCKET(                                                      \
        col) " AS i, sum(closer IS NOT 'server') AS ns, "                                          \
             "sum(closer IS 'server') AS nc FROM flows WHERE " col " IS NOT NULL AND " FILT        \
             " GROUP BY i), "                                                                      \
             "d AS (SELECT b.i, label, coalesce(ns, 0) AS ns, coalesce(nc, 0) AS nc FROM b "       \
             "LEFT JOIN c ON c.i = b.i) SELECT label, ns, " SHARE_OF("ns") ", nc, " SHARE_OF(      \
                 "nc") " FROM d ORDER BY i"

#define EP(a, p) FSC_SQL_EP(a, p)

#define SECS(x) "CASE WHEN " x " IS NOT NULL THEN printf('%.3f', " x ") END"

/* Close kinds counted per capture, the rest as "other". */
#define KINDS(X) X(four_way) X(three_way) X(simultaneous) X(rst) X(half_closed) X(open)
#define KIND_SUM(k) ", sum(close_kind = '" #k "') AS " #k
#define KIND_COL(k) ", coalesce(k." #k ", 0)"
#define KIND_MINUS(k) " - k." #k

enum chart { CHART_NONE, CHART_BARS, CHART_HIST, CHART_CENSUS };
enum colkind {
    COL_TEXT,
    COL_NUM,
    COL_PCT,
    COL_FLOW,
    COL_CAPTURE, /* a number, shown in text and HTML only when several captures are reported */
    COL_SOFAR,   /* seconds "%.3f" still running at the end: a lower bound, "<0.001" for 0.000 */
};

struct col {
    const char *name; /* header in text and HTML; NULL: the column is only in JSON */
    enum colkind kind;
    const char *key; /* JSON key */
};

struct section {
    const char *id, *title, *sql, *empty;
    int top; /* rows shown, 0 for all */
    enum chart chart;
    int ncols;
    struct col cols[MAXCOLS];
    const char *note;                      /* a line under the title, or NULL */
    enum fsc_report_census_section census; /* rows from report_census.c instead of sql */
    const char *unit;                      /* what the rows left out by census are ("hosts") */
    const char *series[2]; /* CHART_HIST: the token of each series (columns 1 and 3), colour */
};

static const struct section sections[] = {
    {"captures",
     "captures",
     "WITH k AS (SELECT capture_id, count(*) AS n" KINDS(
         KIND_SUM) " FROM flows WHERE " FILT
                   " GROUP BY capture_id) SELECT c.id, c.source, c.packets_read, coalesce(k.n, "
                   "0)" KINDS(KIND_COL) ", coalesce(k.n" KINDS(
                       KIND_MINUS) ", 0) FROM captures c LEFT JOIN k ON "
                                   "k.capture_id = c.id WHERE ?1 IS NULL OR c.id = ?1 ORDER BY "
                                   "c.id",
     "no capture",
     0,
     CHART_NONE,
     11,
     {{"capture", COL_NUM, "capture"},
      {"source", COL_TEXT, "source"},
      {"packets", COL_NUM, "packets"},
      {"flows", COL_NUM, "flows"},
      {"four_way", COL_NUM, "four_way"},
      {"three_way", COL_NUM, "three_way"},
      {"simultaneous", COL_NUM, "simultaneous"},
      {"rst", COL_NUM, "rst"},
      {"half_closed", COL_NUM, "half_closed"},
      {"open", COL_NUM, "open"},
      {"other", COL_NUM, "other"}},
     "flows by close kind; other: two_way, refused, unanswered, fins_unproven",
     0,
     NULL,
     {NULL, NULL}},
    {"close-kinds",
     "close kinds",
     TALLY_SQL("close_kind", "", ""),
     "no flows",
     0,
     CHART_BARS,
     4,
     {{"close kind", COL_TEXT, "close_kind"},
      {"flows", COL_NUM, "flows"},
      {"%", COL_PCT, "pct"},
      {"example", COL_FLOW, "example_flow"}},
     NULL,
     0,
     NULL,
     {NULL, NULL}},
    {"handshakes",
     "handshakes",
     TALLY_SQL("handshake", "", ""),
     "no flows",
     0,
     CHART_BARS,
     4,
     {{"handshake", COL_TEXT, "handshake"},
      {"flows", COL_NUM, "flows"},
      {"%", COL_PCT, "pct"},
      {"example", COL_FLOW, "example_flow"}},
     NULL,
     0,
     NULL,
     {NULL, NULL}},
    {"rst-causes",
     "RST causes (of close kind rst; likely: what the packets suggest, not prove)",
     TALLY_SQL(FSC_SQL_RST_CAUSE_SHOWN, " AND close_kind = 'rst'",
               ", min(rst_cause), min(rst_cause_proven)"),
     "no connection ended by a RST",
     0,
     CHART_BARS,
     6,
     {{"rst cause", COL_TEXT, "shown"},
      {"flows", COL_NUM, "flows"},
      {"%", COL_PCT, "pct"},
      {"example", COL_FLOW, "example_flow"},
      {NULL, COL_TEXT, "rst_cause"},
      {NULL, COL_NUM, "proven"}},
     NULL,
     0,
     NULL,
     {NULL, NULL}},
    {"closers",
     "who closes first, by server port",
     /* A port seen in one connection only (a client's ephemeral port taken for the server's, or
      * a scan) is one of hundreds: they make one row. */
     "WITH p AS (SELECT server_port, count(*) AS n, sum(closer = 'client') AS c, "
     "sum(closer = 'server') AS s, sum(closer = 'both') AS b FROM flows WHERE " FILT
     " GROUP BY server_port), g AS (SELECT CASE WHEN n > 1 THEN server_port END AS port, "
     "count(*) AS ports, sum(n) AS n, sum(c) AS c, sum(s) AS s, sum(b) AS b FROM p GROUP BY 1) "
     "SELECT CASE WHEN port IS NULL THEN 'other ports (' || ports || ', one connection each)' "
     "ELSE port END, n, c, " PCT("c", "n") ", s, " PCT("s", "n") ", b, " PCT(
         "b", "n") ", n - c - s - b, port, ports FROM g ORDER BY n DESC, port IS NULL, port",
     "no flows",
     TOP_ROWS,
     CHART_NONE,
     11,
     {{"server port", COL_TEXT, "shown"},
      {"flows", COL_NUM, "flows"},
      {"client", COL_NUM, "client"},
      {"%", COL_PCT, "client_pct"},
      {"server", COL_NUM, "server"},
      {"%", COL_PCT, "server_pct"},
      {"both", COL_NUM, "both"},
      {"%", COL_PCT, "both_pct"},
      {"other", COL_NUM, "other"},
      {NULL, COL_NUM, "server_port"},
      {NULL, COL_NUM, "ports"}},
     NULL,
     0,
     NULL,
     {NULL, NULL}},
    {"close-wait-suspects",
     "servers with connections stuck in CLOSE_WAIT (close_wait_suspects)",
     /* The close_wait_suspects view, with the capture filter inside, per capture. */
     "WITH cw AS (SELECT capture_id, server_addr, server_port, close_wait_s, "
     "row_number() OVER (PARTITION BY capture_id, server_addr, server_port "
     "ORDER BY close_wait_s NULLS LAST) AS rn, count(close_wait_s) OVER (PARTITION BY "
     "capture_id, server_addr, server_port) AS nv FROM flows WHERE close_kind = 'half_closed' "
     "AND server_state = 'close_wait' AND " FILT "), "
     "s AS (SELECT capture_id, server_addr, server_port, count(*) AS flows, "
     "avg(CASE WHEN rn IN ((nv + 1) / 2, (nv + 2) / 2) THEN close_wait_s END) AS med, "
     "max(close_wait_s) AS mx FROM cw GROUP BY capture_id, server_addr, server_port) "
     "SELECT capture_id, server_addr, server_port, flows, " SECS("med") ", " SECS(
         "mx") " FROM s ORDER BY flows DESC, mx DESC, server_addr, server_port, capture_id",
     "none",
     TOP_ROWS,
     CHART_NONE,
     6,
     {{"capture", COL_CAPTURE, "capture"},
      {"server", COL_TEXT, "server"},
      {"port", COL_NUM, "port"},
      {"flows", COL_NUM, "flows"},
      {"median s so far", COL_SOFAR, "median_s"},
      {"max s so far", COL_SOFAR, "max_s"}},
     "each of these connections was still in CLOSE_WAIT when the capture ended: its time there "
     "is a lower bound (<0.001: it entered CLOSE_WAIT less than 1 ms before the end)",
     0,
     NULL,
     {NULL, NULL}},
    {"close-wait-dwell",
     "CLOSE_WAIT dwell (flows.close_wait_s), server side and client side",
     HIST_SIDES_SQL("close_wait_s"),
     NULL,
     0,
     CHART_HIST,
     5,
     {{"dwell", COL_TEXT, "dwell"},
      {"server side", COL_NUM, "server_side"},
      {"%", COL_PCT, "server_side_pct"},
      {"client side", COL_NUM, "client_side"},
      {"%", COL_PCT, "client_side_pct"}},
     "server side: the client closed first and the server held CLOSE_WAIT (the application's "
     "close latency on the server); client side: the server closed first",
     0,
     NULL,
     {"server", "client"}},
    {"fin-wait-2-dwell",
     "FIN_WAIT_2 dwell (flows.fin_wait_2_s)",
     HIST_SQL("fin_wait_2_s"),
     NULL,
     0,
     CHART_HIST,
     3,
     {{"dwell", COL_TEXT, "dwell"}, {"flows", COL_NUM, "flows"}, {"%", COL_PCT, "pct"}},
     NULL,
     0,
     NULL,
     {"fin_wait_2", NULL}},
    {"fin-retrans",
     "top 5-tuples (TCP) by retransmitted FINs",
     "SELECT capture_id, " EP("client_addr", "client_port") ", " EP(
         "server_addr", "server_port") ", sum(fin_retrans) AS fr, count(*), min(id) AS first "
                                       "FROM flows WHERE fin_retrans > 0 AND " FILT " "
                                       "GROUP BY capture_id, client_addr, client_port, "
                                       "server_addr, server_port ORDER BY fr DESC, first",
     "no FIN was retransmitted",
     TOP_ROWS,
     CHART_NONE,
     6,
     {{"capture", COL_CAPTURE, "capture"},
      {"client", COL_TEXT, "client"},
      {"server", COL_TEXT, "server"},
      {"FIN retrans", COL_NUM, "fin_retrans"},
      {"flows", COL_NUM, "flows"},
      {"first flow", COL_FLOW, "first_flow"}},
     NULL,
     0,
     NULL,
     {NULL, NULL}},
    {"sockets-per-host",
     "sockets per host in each TCP state (the 10 busiest, by their peak of any state, as "
     "finscope states)",
     NULL,
     "no socket in any TCP state",
     0,
     CHART_CENSUS,
     6,
     {{"host", COL_TEXT, "host"},
      {"state", COL_TEXT, "state"},
      {"at end", COL_NUM, "at_end"},
      {"peak", COL_NUM, "peak"},
      {"peak at (UTC)", COL_TEXT, "peak_at"},
      {"peak at s", COL_NUM, "peak_at_s"}},
     "at end: held when the capture ended; peak: the most at once, first reached at (UTC), "
     "s from the first packet",
     FSC_REPORT_HOSTS,
     "hosts",
     {NULL, NULL}},
    {"close-wait-leaks",
     "CLOSE_WAIT leak suspects: servers whose CLOSE_WAIT count keeps growing",
     NULL,
     "no server's CLOSE_WAIT count keeps growing",
     TOP_ROWS,
     CHART_NONE,
     9,
     {{"server", COL_TEXT, "server"},
      {"capture", COL_NUM, "capture"},
      {"25%", COL_NUM, "at_25"},
      {"50%", COL_NUM, "at_50"},
      {"75%", COL_NUM, "at_75"},
      {"end", COL_NUM, "at_end"},
      {"peak", COL_NUM, "peak"},
      {"peak at (UTC)", COL_TEXT, "peak_at"},
      {"peak at s", COL_NUM, "peak_at_s"}},
     "keeps growing: its counts at 25%, 50%, 75% and 100% of its capture never fall, and the "
     "last is above the first and at least 2",
     FSC_REPORT_LEAKS,
     NULL,
     {NULL, NULL}},
    {"time-wait-pressure",
     "TIME_WAIT pressure per client -> server:port (peak against Linux's 28,232 ephemeral "
     "ports)",
     NULL,
     "no client socket in TIME_WAIT",
     TOP_ROWS,
     CHART_NONE,
     6,
     {{"client -> server", COL_TEXT, "client_to_server"},
      {"capture", COL_NUM, "capture"},
      {"peak", COL_NUM, "peak"},
      {"% of ports", COL_PCT, "pct_of_ports"},
      {"peak at (UTC)", COL_TEXT, "peak_at"},
      {"peak at s", COL_NUM, "peak_at_s"}},
     "peak: the client's sockets to that server address and port in TIME_WAIT at once, each "
     "holding a local port (net.ipv4.ip_local_port_range 32768-60999)",
     FSC_REPORT_TIME_WAIT,
     NULL,
     {NULL, NULL}},
};
#define NSECTIONS (sizeof sections / sizeof *sections)

/* Every flow the other sections link to: the lowest id of each close kind, handshake and RST
 * cause, and the first flow of each 5-tuple shown for FIN retransmissions; with where it is. */
static const char examples_sql[] =
    "SELECT f.id, f.capture_id, f.first_packet, f.last_packet, f.close_kind, f.handshake, "
    "f.rst_cause, " EP("f.client_addr", "f.client_port") ", " EP(
        "f.server_addr",
        "f.server_port") ", f.client_addr, f.client_port, f.server_addr, f.server_port, "
                         /* The file holding the first packet, and its frames (capture_files:
                          * several when live -w rotated), else the capture's source. */
                         "coalesce(cf.path, (SELECT source FROM captures WHERE id = "
                         "f.capture_id)), cf.first_frame, cf.last_frame FROM flows f "
                         "LEFT JOIN capture_files cf ON cf.capture_id = f.capture_id AND "
                         "cf.file_no = (SELECT file_no FROM capture_files WHERE capture_id = "
                         "f.capture_id AND first_frame <= f.first_packet ORDER BY first_frame "
                         "DESC LIMIT 1) "
                         "WHERE f.id IN (SELECT min(id) FROM flows WHERE " FILT
                         " GROUP BY close_kind "
                         "UNION SELECT min(id) FROM flows WHERE " FILT " GROUP BY handshake "
                         "UNION SELECT min(id) FROM flows WHERE close_kind = 'rst' AND " FILT
                         " GROUP BY " FSC_SQL_RST_CAUSE_SHOWN
                         " UNION SELECT first FROM (SELECT min(id) AS first, "
                         "sum(fin_retrans) AS fr FROM flows WHERE fin_retrans > 0 AND " FILT
                         " GROUP BY capture_id, client_addr, client_port, server_addr, "
                         "server_port "
                         "ORDER BY fr DESC, first LIMIT " TOP_ROWS_STR ")) ORDER BY f.id";

/* The examples as shown: raw columns of examples_sql in, these out (report_examples()). */
enum {
    EX_ID,
    EX_CAPTURE,
    EX_FIRST,
    EX_LAST,
    EX_KIND,
    EX_HANDSHAKE,
    EX_CAUSE,
    EX_CLIENT,
    EX_SERVER,
    EX_CADDR,
    EX_CPORT,
    EX_SADDR,
    EX_SPORT,
    EX_FILE,
    EX_FILE_FIRST, /* the capture's frame number of the file's frame 1 (NULL: no row) */
    EX_FILE_LAST,
};
static const struct section examples_section = {
    "examples",
    "example flows: the lowest id of each kind, and every flow linked above",
    NULL,
    "no flows",
    0,
    CHART_NONE,
    12,
    {{"flow", COL_FLOW, "flow"},
     {"close kind", COL_TEXT, "close_kind"},
     {"handshake", COL_TEXT, "handshake"},
     {"rst cause", COL_TEXT, "rst_cause"},
     {"first packet", COL_TEXT, "where"},
     {"client", COL_TEXT, "client"},
     {"server", COL_TEXT, "server"},
     {"file", COL_TEXT, "file"},
     {"tshark filter", COL_TEXT, "tshark"},
     {NULL, COL_NUM, "capture"},
     {NULL, COL_NUM, "first_frame"},
     {NULL, COL_NUM, "last_frame"}},
    "first packet: capture:frame (captures.id, the capture's frame number); file: the file "
    "holding it; tshark filter: tshark -r FILE -Y 'FILTER' shows the flow's packets in that "
    "file, frames numbered as the file numbers them (so does Wireshark)",
    0,
    NULL,
    {NULL, NULL}};

static const char overview_sql[] =
    "SELECT (SELECT count(*) FROM captures WHERE ?1 IS NULL OR id = ?1), "
    "(SELECT count(*) FROM flows WHERE " FILT "), "
    "(SELECT datetime(min(first_ts), 'unixepoch') FROM flows WHERE " FILT "), "
    "(SELECT datetime(max(last_ts), 'unixepoch') FROM flows WHERE " FILT "), "
    "(SELECT coalesce(" FSC_SQL_ONE_SIDED_COUNT ", 0) FROM flows WHERE " FILT ")";
enum { OV_CAPTURES, OV_FLOWS, OV_FIRST, OV_LAST, OV_ONE_SIDED };

/* Rows of text cells as SQLite returned them (NULL kept as NULL, shown as "-"). */
struct table {
    int ncols, nrows, cap;
    char **cell; /* nrows * ncols */
    int hidden;  /* rows left out before the table (the section's unit) */
};

static int table_row(void *user, int ncol, const char *const *names, const char *const *v)
{
    struct table *t = user;

    (void)names;
    if (t->ncols == 0)
        t->ncols = ncol > MAXCOLS ? MAXCOLS : ncol;
    if (t->nrows == t->cap) {
        int cap = t->cap ? 2 * t->cap : 16;
        char **c = realloc(t->cell, (size_t)cap * (size_t)t->ncols * sizeof *c);
        if (!c)
            return 1;
        t->cell = c;
        t->cap = cap;
    }
    for (int k = 0; k < t->ncols; k++) {
        char *s = NULL;
        if (k < ncol && v[k] && !(s = strdup(v[k]))) {
            for (int j = 0; j < k; j++)
                free(t->cell[t->nrows * t->ncols + j]);
            return 1;
        }
        t->cell[t->nrows * t->ncols + k] = s;
    }
    t->nrows++;
    return 0;
}

static void table_free(struct table *t)
{
    for (int k = 0; k < t->nrows * t->ncols; k++)
        free(t->cell[k]);
    free(t->cell);
    memset(t, 0, sizeof *t);
}

/* A cell's text, or NULL for SQL NULL (and a column the query did not have). */
static const char *raw(const struct table *t, int r, int c)
{
    return c < t->ncols ? t->cell[r * t->ncols + c] : NULL;
}

static const char *cell(const struct table *t, int r, int c)
{
    const char *v = raw(t, r, c);
    return v ? v : "-";
}

struct report {
    const char *db;
    struct fsc_store *store;     /* open while the report is written (ladders in --html) */
    int64_t capture;             /* -1: every capture */
    bool several;                /* more than one capture reported: show capture columns */
    struct table overview;       /* captures, flows, first and last packet, one_sided */
    struct table tab[NSECTIONS]; /* one per section */
    struct table examples;       /* examples_section's columns */
    struct fsc_report_census *census;
};

/* A stored integer (a port, a frame number), or -1 for NULL, text, or a value out of range: the
 * database may come from anyone. */
static long long stored_int(const char *v)
{
    uint64_t n;

    return v && fsc_parse_uint(v, 0, INT64_MAX, &n) == 0 ? (long long)n : -1;
}

/* The raw examples (examples_sql) as examples_section shows them: where each flow's first
 * packet is, and the display filter that isolates it (where.h). */
/* The flow's frames [*first, *last] as the file holding its first packet numbers them: that
 * file's rows of capture_files say which of the capture's frames it holds (live -w rotation). */
static void file_frames(const struct table *ex, int r, long long *first, long long *last)
{
    long long off, end;

    if (!raw(ex, r, EX_FILE_FIRST) || (off = stored_int(raw(ex, r, EX_FILE_FIRST))) < 1 ||
        *first < off)
        return;
    end = raw(ex, r, EX_FILE_LAST) ? stored_int(raw(ex, r, EX_FILE_LAST)) : -1;
    if (end >= off && *last > end)
        *last = end; /* the rest is in the next file */
    *first -= off - 1;
    *last = *last > 0 ? *last - (off - 1) : *last;
}

static int report_examples(const struct table *ex, struct table *out)
{
    for (int r = 0; r < ex->nrows; r++) {
        struct fsc_where w = {raw(ex, r, EX_CADDR),
                              raw(ex, r, EX_SADDR),
                              stored_int(raw(ex, r, EX_CPORT)),
                              stored_int(raw(ex, r, EX_SPORT)),
                              stored_int(raw(ex, r, EX_FIRST)),
                              stored_int(raw(ex, r, EX_LAST))};
        char where[64], filter[CELL_MAX];
        if (stored_int(raw(ex, r, EX_CAPTURE)) < 0 || w.first_frame < 0 ||
            fsc_where_frame(where, sizeof where, stored_int(raw(ex, r, EX_CAPTURE)),
                            w.first_frame) < 0)
            snprintf(where, sizeof where, "-");
        file_frames(ex, r, &w.first_frame, &w.last_frame);
        if (fsc_where_tshark(filter, sizeof filter, &w) < 0 || filter[0] == '\0')
            snprintf(filter, sizeof filter, "-");
        const char *v[] = {raw(ex, r, EX_ID),
                           raw(ex, r, EX_KIND),
                           raw(ex, r, EX_HANDSHAKE),
                           raw(ex, r, EX_CAUSE),
                           where,
                           raw(ex, r, EX_CLIENT),
                           raw(ex, r, EX_SERVER),
                           raw(ex, r, EX_FILE),
                           filter,
                           raw(ex, r, EX_CAPTURE),
                           raw(ex, r, EX_FIRST),
                           raw(ex, r, EX_LAST)};
        if (table_row(out, 12, NULL, v))
            return -1;
    }
    return 0;
}

static int report_load(struct fsc_store *s, struct report *r, char *err, size_t errlen)
{
    struct table ex = {0};
    int ret;

    if (fsc_store_query(s, overview_sql, r->capture, table_row, &r->overview, err, errlen) < 0)
        return -1;
    if (r->overview.nrows != 1) {
        fsc_seterr(err, errlen, "report: out of memory");
        return -1;
    }
    if (r->capture >= 0 && strcmp(cell(&r->overview, 0, OV_CAPTURES), "0") == 0) {
        fsc_seterr(err, errlen, "%s: no capture with id %" PRId64, r->db, r->capture);
        return -1;
    }
    r->several = strtoll(cell(&r->overview, 0, OV_CAPTURES), NULL, 10) > 1;
    if (fsc_report_census_load(s, r->capture, &r->census, err, errlen) < 0)
        return -1;
    for (size_t k = 0; k < NSECTIONS; k++) {
        const struct section *sec = &sections[k];
        if (!sec->census) {
            if (fsc_store_query(s, sec->sql, r->capture, table_row, &r->tab[k], err, errlen) < 0)
                return -1;
        } else if ((r->tab[k].hidden = fsc_report_census_rows(r->census, sec->census, table_row,
                                                              &r->tab[k])) < 0) {
            fsc_seterr(err, errlen, "report: out of memory");
            return -1;
        }
    }
    if (fsc_store_query(s, examples_sql, r->capture, table_row, &ex, err, errlen) < 0)
        return -1;
    ret = report_examples(&ex, &r->examples);
    if (ret < 0)
        fsc_seterr(err, errlen, "report: out of memory");
    table_free(&ex);
    return ret;
}

static int shown_rows(const struct section *sec, const struct table *t)
{
    return sec->top > 0 && t->nrows > sec->top ? sec->top : t->nrows;
}

/* Whether text and HTML show column c. */
static bool col_shown(const struct report *r, const struct section *sec, int c)
{
    return sec->cols[c].name && (sec->cols[c].kind != COL_CAPTURE || r->several);
}

/* ---- text ---- */

/* A cell as the text report shows it: escaped for a terminal (escape.h), with the column's
 * decoration ("%" after a share, "#" before a flow id). */
/* A cell's value as text and HTML show it: a lower bound of 0.000 s is "<0.001", not 0. */
static const char *shown_value(const struct section *sec, int c, const char *v)
{
    return sec->cols[c].kind == COL_SOFAR && v && !strcmp(v, "0.000") ? "<0.001" : v;
}

static const char *text_cell(const struct section *sec, int c, const char *v, char *buf, size_t len)
{
    char e[CELL_MAX];

    fsc_esc_term_buf(e, sizeof e, shown_value(sec, c, v));
    snprintf(buf, len, "%s%s%s", sec->cols[c].kind == COL_FLOW ? "#" : "", e,
             sec->cols[c].kind == COL_PCT ? "%" : "");
    return buf;
}

static void text_section(FILE *out, const struct report *r, const struct section *sec,
                         const struct table *t)
{
    int w[MAXCOLS] = {0}, n = shown_rows(sec, t);
    char buf[CELL_MAX + 4];

    fprintf(out, "\n%s\n", sec->title);
    if (sec->note)
        fprintf(out, "%s\n", sec->note);
    if (t->nrows == 0) {
        fprintf(out, "  (%s)\n", sec->empty ? sec->empty : "none");
        return;
    }
    for (int c = 0; c < sec->ncols; c++) {
        w[c] = sec->cols[c].name ? (int)strlen(sec->cols[c].name) : 0;
        for (int k = 0; k < n; k++) {
            int l = (int)strlen(text_cell(sec, c, cell(t, k, c), buf, sizeof buf));
            if (l > w[c])
                w[c] = l;
        }
    }
    int last = 0; /* the last column shown: text there is not padded */
    for (int c = 0; c < sec->ncols; c++)
        last = col_shown(r, sec, c) ? c : last;
    for (int k = -1; k < n; k++) {
        bool first = true;
        fputs(" ", out);
        for (int c = 0; c < sec->ncols; c++) {
            if (!col_shown(r, sec, c))
                continue;
            int pad = sec->cols[c].kind != COL_TEXT ? w[c] : c < last ? -w[c] : 0;
            fprintf(out, " %s%*s", first ? "" : " ", pad,
                    k < 0 ? sec->cols[c].name : text_cell(sec, c, cell(t, k, c), buf, sizeof buf));
            first = false;
        }
        fputc('\n', out);
    }
    if (n < t->nrows)
        fprintf(out, "  (%d more not shown)\n", t->nrows - n);
    if (t->hidden > 0)
        fprintf(out, "  (%d more %s not shown)\n", t->hidden, sec->unit);
}

/* "capture N" or "N captures", then ", N flows, FIRST .. LAST UTC": each value through esc
 * (terminal or markup) between v_open and v_close. */
static void overview_counts(FILE *out, const struct report *r, void (*esc)(FILE *, const char *),
                            const char *v_open, const char *v_close)
{
    const struct table *o = &r->overview;

    if (r->capture >= 0)
        fprintf(out, "capture %s%" PRId64 "%s", v_open, r->capture, v_close);
    else {
        fputs(v_open, out);
        esc(out, cell(o, 0, OV_CAPTURES));
        fprintf(out, "%s capture%s", v_close, strcmp(cell(o, 0, OV_CAPTURES), "1") ? "s" : "");
    }
    fprintf(out, ", %s", v_open);
    esc(out, cell(o, 0, OV_FLOWS));
    fprintf(out, "%s flow%s, ", v_close, strcmp(cell(o, 0, OV_FLOWS), "1") ? "s" : "");
    esc(out, cell(o, 0, OV_FIRST));
    fputs(" .. ", out);
    esc(out, cell(o, 0, OV_LAST));
    fputs(" UTC", out);
}

static void text_report(FILE *out, const struct report *r)
{
    const struct table *o = &r->overview;

    fputs("finscope report: ", out);
    fsc_esc_term(out, r->db);
    fputs(", ", out);
    overview_counts(out, r, fsc_esc_term, "", "");
    fputc('\n', out);
    if (strcmp(cell(o, 0, OV_ONE_SIDED), "0") != 0) {
        fsc_esc_term(out, cell(o, 0, OV_ONE_SIDED));
        fprintf(out,
                " flow%s seen in one direction only (one_sided): their unseen side is inferred "
                "from the seen side's acks\n",
                strcmp(cell(o, 0, OV_ONE_SIDED), "1") ? "s" : "");
    }

    for (size_t k = 0; k < NSECTIONS; k++)
        text_section(out, r, &sections[k], &r->tab[k]);
    text_section(out, r, &examples_section, &r->examples);
    if (r->examples.nrows > 0) {
        fputs("\nladder diagram of an example flow: finscope show ", out);
        fsc_esc_term(out, r->db);
        fputs(" ID\n", out);
    }
}

/* ---- JSON ---- */

/* Whether s is a JSON number (RFC 8259 section 6), as SQLite prints integers and reals. */
static bool json_number(const char *s)
{
    const char *p = s + (*s == '-');

    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        p += strspn(p, "0123456789");
    else
        return false;
    if (*p == '.') {
        size_t d = strspn(p + 1, "0123456789");
        if (d == 0)
            return false;
        p += 1 + d;
    }
    if (*p == 'e' || *p == 'E') {
        p += 1 + (p[1] == '+' || p[1] == '-');
        size_t d = strspn(p, "0123456789");
        if (d == 0)
            return false;
        p += d;
    }
    return *p == '\0';
}

/* One value: null for SQL NULL; a number column as a number (a stored value that is not one, in
 * a database someone else wrote, stays a string); text as a JSON string. */
static void json_value(FILE *out, enum colkind kind, const char *v)
{
    if (!v)
        fputs("null", out);
    else if (kind != COL_TEXT && json_number(v))
        fputs(v, out);
    else
        fsc_esc_json(out, v);
}

/* "id": [{"key": value, ...}, ...] with every row (no top cut); the id with '_' for '-'. */
static void json_section(FILE *out, const struct section *sec, const struct table *t)
{
    fputs(",\n\"", out);
    for (const char *p = sec->id; *p; p++)
        fputc(*p == '-' ? '_' : *p, out);
    fputs("\": [", out);
    for (int k = 0; k < t->nrows; k++) {
        fputs(k ? ",\n  {" : "\n  {", out);
        for (int c = 0; c < sec->ncols; c++) {
            fprintf(out, "%s\"%s\": ", c ? ", " : "", sec->cols[c].key);
            json_value(out, sec->cols[c].kind, raw(t, k, c));
        }
        fputc('}', out);
    }
    fputs(t->nrows ? "\n]" : "]", out);
    if (t->hidden > 0)
        fprintf(out, ",\n\"%s_not_shown\": %d", sec->unit, t->hidden);
}

static void json_report(FILE *out, const struct report *r)
{
    const struct table *o = &r->overview;

    fputs("{\"overview\": {\"database\": ", out);
    fsc_esc_json(out, r->db);
    fputs(", \"capture\": ", out);
    if (r->capture >= 0)
        fprintf(out, "%" PRId64, r->capture);
    else
        fputs("null", out);
    fputs(", \"captures\": ", out);
    json_value(out, COL_NUM, raw(o, 0, OV_CAPTURES));
    fputs(", \"flows\": ", out);
    json_value(out, COL_NUM, raw(o, 0, OV_FLOWS));
    fputs(", \"first_utc\": ", out);
    json_value(out, COL_TEXT, raw(o, 0, OV_FIRST));
    fputs(", \"last_utc\": ", out);
    json_value(out, COL_TEXT, raw(o, 0, OV_LAST));
    fputs(", \"one_sided\": ", out);
    json_value(out, COL_NUM, raw(o, 0, OV_ONE_SIDED));
    fputs(", \"finscope_version\": \"" FSC_VERSION "\"}", out);
    for (size_t k = 0; k < NSECTIONS; k++)
        json_section(out, &sections[k], &r->tab[k]);
    json_section(out, &examples_section, &r->examples);
    fputs("}\n", out);
}

/* ---- HTML ---- */

#define esc fsc_esc_markup

static const char css[] =
    "body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1d232a;"
    "margin:24px auto;max-width:1100px;padding:0 16px;background:#fff}"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;"
    "border-bottom:1px solid #d6dde4;padding-bottom:4px}"
    ".meta{color:#55606b;margin:0 0 8px}"
    "nav a{margin-right:12px;color:#1f5fa8;text-decoration:none}"
    "section{display:flex;flex-wrap:wrap;gap:12px 28px;align-items:flex-start}"
    "section h2{flex-basis:100%}"
    "table{border-collapse:collapse;font-variant-numeric:tabular-nums}"
    "th,td{padding:3px 10px;border-bottom:1px solid #e6eaee;text-align:left;white-space:nowrap}"
    "th{background:#f3f5f7;font-weight:600}td.n,th.n{text-align:right}"
    "section>div{max-width:100%;overflow-x:auto}td code{white-space:normal;word-break:break-all}"
    "code{font:13px ui-monospace,Menlo,Consolas,monospace;background:#f3f5f7;padding:1px 4px;"
    "border-radius:3px}"
    "a{color:#1f5fa8}tr:target{background:#fff4c2}"
    "p.empty{color:#55606b;font-style:italic;margin:0}p.more{color:#55606b;margin:4px 0 0}"
    "p.note{flex-basis:100%;color:#55606b;margin:0}"
    "svg text{font:12px system-ui,sans-serif;fill:#1d232a}"
    /* a ladder wider than the page scrolls inside its figure; the page itself never does */
    "figure.ladder{margin:12px 0;max-width:100%;overflow-x:auto}";

#define CHAR_W 7 /* px: the widest a character of the 12 px chart font is taken to be */

static int text_w(const char *s)
{
    return (int)strlen(s) * CHAR_W;
}

/* The token a label starts with ("abort" of "abort (likely)"), for its colour. */
static const char *label_colour(const char *label)
{
    char tok[64];

    snprintf(tok, sizeof tok, "%.*s", (int)strcspn(label, " "), label);
    return fsc_report_colour(tok);
}

static int max_count(const struct table *t, int c)
{
    double max = 0;

    for (int r = 0; r < t->nrows; r++)
        if (strtod(cell(t, r, c), NULL) > max)
            max = strtod(cell(t, r, c), NULL);
    return max > 1e9 ? 1000000000 : (int)max;
}

/* The length in px of a bar of value v against max over px, at least 2 px when v > 0. */
static int bar_px(double v, double max, int px)
{
    int len = max > 0 && v > 0 ? (int)(v / max * px + 0.5) : 0;
    return v > 0 && len < 2 ? 2 : len > px ? px : len;
}

/* Horizontal bars: one per row, label column 0, value column 1, share column 2; each bar in its
 * token's colour.  The label column is as wide as the widest label, the value labels too. */
static void svg_bars(FILE *out, const struct section *sec, const struct table *t)
{
    const int bw = 300, rh = 22, top = 6;
    int lw = 60, vw = 0, h = top * 2 + rh * t->nrows;
    double max = max_count(t, 1);
    char v[CELL_MAX];

    for (int r = 0; r < t->nrows; r++) {
        lw = text_w(cell(t, r, 0)) + 16 > lw ? text_w(cell(t, r, 0)) + 16 : lw;
        snprintf(v, sizeof v, "%s (%s%%)", cell(t, r, 1), cell(t, r, 2));
        vw = text_w(v) > vw ? text_w(v) : vw;
    }
    int w = lw + bw + 6 + vw + 8;
    fprintf(out,
            "<svg class=\"bars\" id=\"chart-%s\" xmlns=\"http://www.w3.org/2000/svg\" "
            "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n",
            sec->id, w, h, w, h);
    for (int r = 0; r < t->nrows; r++) {
        int y = top + r * rh, len = bar_px(strtod(cell(t, r, 1), NULL), max, bw);
        fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", lw - 8, y + 15);
        esc(out, cell(t, r, 0));
        fprintf(out,
                "</text><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"2\" "
                "fill=\"%s\"/><text x=\"%d\" y=\"%d\">",
                lw, y + 3, len, rh - 6, label_colour(cell(t, r, 0)), lw + len + 6, y + 15);
        esc(out, cell(t, r, 1));
        fputs(" (", out);
        esc(out, cell(t, r, 2));
        fputs("%)</text>\n", out);
    }
    fputs("</svg>\n", out);
}

/*
 * Histogram: per bucket (label column 0) one vertical bar per series (counts in columns 1 and,
 * for a second series, 3), each series in its token's colour, the count above each bar, and a
 * legend when there are two.  Bars are as wide as their count labels, buckets as their labels.
 */
static void svg_hist(FILE *out, const struct section *sec, const struct table *t)
{
    const int ph = 150, left = 10, top = 20, gap = 10;
    int ns = sec->series[1] ? 2 : 1, col[2] = {1, 3}, bar = 24, slot = 0;
    char v[CELL_MAX];
    double max = 0;

    for (int s = 0; s < ns; s++)
        max = max_count(t, col[s]) > max ? max_count(t, col[s]) : max;
    for (int r = 0; r < t->nrows; r++) {
        for (int s = 0; s < ns; s++)
            bar = text_w(cell(t, r, col[s])) + 4 > bar ? text_w(cell(t, r, col[s])) + 4 : bar;
        slot = text_w(cell(t, r, 0)) + gap > slot ? text_w(cell(t, r, 0)) + gap : slot;
    }
    slot = ns * bar + gap > slot ? ns * bar + gap : slot;
    int w = left * 2 + t->nrows * slot, legend_y = top + ph + 40, h = legend_y + (ns > 1 ? 8 : -16);
    fprintf(out,
            "<svg class=\"hist\" id=\"chart-%s\" xmlns=\"http://www.w3.org/2000/svg\" "
            "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n",
            sec->id, w, h, w, h);
    fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#9aa5b1\"/>\n", left,
            top + ph, w - left, top + ph);
    for (int r = 0; r < t->nrows; r++) {
        int x0 = left + r * slot + (slot - ns * bar) / 2;
        for (int s = 0; s < ns; s++) {
            int x = x0 + s * bar, bh = bar_px(strtod(cell(t, r, col[s]), NULL), max, ph);
            fprintf(out,
                    "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\" "
                    "data-series=\"%s\"/><text x=\"%d\" y=\"%d\" text-anchor=\"middle\">",
                    x + 1, top + ph - bh, bar - 2, bh, fsc_report_colour(sec->series[s]),
                    sec->series[s], x + bar / 2, top + ph - bh - 5);
            esc(out, cell(t, r, col[s]));
            fputs("</text>", out);
        }
        fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", left + r * slot + slot / 2,
                top + ph + 16);
        esc(out, cell(t, r, 0));
        fputs("</text>\n", out);
    }
    for (int s = 0, x = left; ns > 1 && s < ns; s++) {
        snprintf(v, sizeof v, "%s side", sec->series[s]);
        fprintf(out,
                "<g class=\"legend\" data-series=\"%s\"><rect x=\"%d\" y=\"%d\" width=\"10\" "
                "height=\"10\" fill=\"%s\"/><text x=\"%d\" y=\"%d\">%s</text></g>\n",
                sec->series[s], x, legend_y - 9, fsc_report_colour(sec->series[s]), x + 14,
                legend_y, v);
        x += 14 + text_w(v) + 18;
    }
    fputs("</svg>\n", out);
}

static void html_table(FILE *out, const struct report *rep, const struct section *sec,
                       const struct table *t)
{
    int n = shown_rows(sec, t);

    if (t->nrows == 0) {
        fputs("<p class=\"empty\">", out);
        esc(out, sec->empty ? sec->empty : "none");
        fputs("</p>\n", out);
        return;
    }
    fputs("<div><table>\n<thead><tr>", out);
    for (int c = 0; c < sec->ncols; c++) {
        if (!col_shown(rep, sec, c))
            continue;
        fputs(sec->cols[c].kind == COL_TEXT ? "<th>" : "<th class=\"n\">", out);
        esc(out, sec->cols[c].name);
        fputs("</th>", out);
    }
    fputs("</tr></thead>\n<tbody>\n", out);
    for (int r = 0; r < n; r++) {
        fputs(sec == &examples_section ? "<tr id=\"flow-" : "<tr>", out);
        if (sec == &examples_section) {
            esc(out, cell(t, r, 0));
            fputs("\">", out);
        }
        for (int c = 0; c < sec->ncols; c++) {
            const char *v = cell(t, r, c);
            if (!col_shown(rep, sec, c))
                continue;
            fputs(sec->cols[c].kind == COL_TEXT ? "<td>" : "<td class=\"n\">", out);
            if (sec->cols[c].kind == COL_FLOW) {
                fputs("<a href=\"#", out);
                fputs(sec == &examples_section ? "ladder-" : "flow-", out);
                esc(out, v);
                fputs("\">", out);
                esc(out, v);
                fputs("</a>", out);
            } else if (sec == &examples_section && c == sec->ncols - 4) {
                fputs("<code>", out); /* the tshark filter */
                esc(out, v);
                fputs("</code>", out);
            } else {
                esc(out, shown_value(sec, c, v));
            }
            fputs("</td>", out);
        }
        if (sec == &examples_section) {
            fputs("<td><code>finscope show ", out);
            esc(out, rep->db);
            fputc(' ', out);
            esc(out, cell(t, r, 0));
            fputs("</code></td>", out);
        }
        fputs("</tr>\n", out);
    }
    fputs("</tbody></table>\n", out);
    if (n < t->nrows)
        fprintf(out, "<p class=\"more\">%d more not shown</p>\n", t->nrows - n);
    if (t->hidden > 0)
        fprintf(out, "<p class=\"more\">%d more %s not shown</p>\n", t->hidden, sec->unit);
    fputs("</div>\n", out);
}

static void html_section_head(FILE *out, const struct section *sec)
{
    fprintf(out, "<section id=\"%s\">\n<h2>", sec->id);
    esc(out, sec->title);
    fputs("</h2>\n", out);
    if (sec->note) {
        fputs("<p class=\"note\">", out);
        esc(out, sec->note);
        fputs("</p>\n", out);
    }
}

/* The examples' table (each flow's id links to its ladder), then each ladder diagram, drawn by
 * show.c from the same database. */
static void html_examples(FILE *out, const struct report *r)
{
    const struct table *t = &r->examples;

    html_section_head(out, &examples_section);
    html_table(out, r, &examples_section, t);
    for (int k = 0; k < t->nrows; k++) {
        const char *id = cell(t, k, 0);
        char err[256];
        fputs("<figure class=\"ladder\" id=\"ladder-", out);
        esc(out, id);
        fputs("\"><figcaption>flow ", out);
        esc(out, id);
        fputs(" (", out);
        esc(out, cell(t, k, 4));
        fputs("): ", out);
        esc(out, cell(t, k, 1));
        fputs("</figcaption>\n", out);
        if (fsc_show_svg(r->store, strtoll(id, NULL, 10), false, out, err, sizeof err) < 0) {
            fputs("<p class=\"empty\">", out);
            esc(out, err);
            fputs("</p>", out);
        }
        fputs("</figure>\n", out);
    }
    fputs("</section>\n", out);
}

static void html_report(FILE *out, const struct report *r)
{
    const struct table *o = &r->overview;

    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<title>finscope report: ",
          out);
    esc(out, r->db);
    fprintf(out, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>finscope report: ", css);
    esc(out, r->db);
    fputs("</h1>\n<p class=\"meta\" id=\"overview\">", out);
    overview_counts(out, r, esc, "<span class=\"v\">", "</span>");
    if (strcmp(cell(o, 0, OV_ONE_SIDED), "0") != 0) {
        fputs(", <span class=\"v\">", out);
        esc(out, cell(o, 0, OV_ONE_SIDED));
        fputs("</span> seen in one direction only (one_sided)", out);
    }
    fputs(" &middot; finscope " FSC_VERSION "</p>\n<nav>", out);
    for (size_t k = 0; k < NSECTIONS; k++) {
        fprintf(out, "<a href=\"#%s\">", sections[k].id);
        esc(out, sections[k].title);
        fputs("</a> ", out);
    }
    fputs("<a href=\"#examples\">example flows</a></nav>\n", out);
    for (size_t k = 0; k < NSECTIONS; k++) {
        const struct section *sec = &sections[k];
        html_section_head(out, sec);
        html_table(out, r, sec, &r->tab[k]);
        if (r->tab[k].nrows > 0 && sec->chart == CHART_BARS)
            svg_bars(out, sec, &r->tab[k]);
        else if (r->tab[k].nrows > 0 && sec->chart == CHART_HIST)
            svg_hist(out, sec, &r->tab[k]);
        else if (r->tab[k].nrows > 0 && sec->chart == CHART_CENSUS)
            fsc_report_census_svg(out, r->census);
        fputs("</section>\n", out);
    }
    html_examples(out, r);
    fputs("</body>\n</html>\n", out);
}

static void report_free(struct report *r)
{
    table_free(&r->overview);
    for (size_t k = 0; k < NSECTIONS; k++)
        table_free(&r->tab[k]);
    table_free(&r->examples);
    fsc_report_census_free(r->census);
}

int fsc_report_write(struct fsc_store *s, const char *db, int64_t capture,
                     enum fsc_report_format fmt, FILE *out, char *err, size_t errlen)
{
    struct report r = {.db = db, .store = s, .capture = capture};
    int ret = -1;

    if (report_load(s, &r, err, errlen) < 0)
        goto out;
    if (fmt == FSC_REPORT_HTML)
        html_report(out, &r);
    else if (fmt == FSC_REPORT_JSON)
        json_report(out, &r);
    else
        text_report(out, &r);
    if (fflush(out) != 0 || ferror(out)) {
        fsc_seterr(err, errlen, "write error");
        goto out;
    }
    ret = 0;
out:
    report_free(&r);
    return ret;
}

int fsc_cmd_report(int argc, char **argv)
{
    enum { OPT_HTML = 256, OPT_CAPTURE, OPT_JSON };
    static const struct option longopts[] = {{"html", required_argument, NULL, OPT_HTML},
                                             {"json", no_argument, NULL, OPT_JSON},
                                             {"capture", required_argument, NULL, OPT_CAPTURE},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *db = "finscope.db", *html = NULL;
    int64_t capture = -1;
    bool json = false;
    struct fsc_store *s = NULL;
    char err[ERRLEN] = "";
    int opt;

    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_HTML:
            html = optarg;
            break;
        case OPT_JSON:
            json = true;
            break;
        case OPT_CAPTURE: {
            uint64_t v;
            if (fsc_parse_uint(optarg, 1, INT64_MAX, &v) < 0) {
                fprintf(stderr,
                        "finscope report: --capture takes a capture id (1, 2, ...), not '%s'\n",
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
            fputs(usage, stderr);
            return 2;
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, "finscope report: one database at a time\n\n%s", usage);
        return 2;
    }
    if (optind < argc)
        db = argv[optind];
    if (html && json) {
        fputs("finscope report: --html or --json, not both\n", stderr);
        return 2;
    }

    if (fsc_store_open(db, true, &s, err, sizeof err) < 0) {
        fprintf(stderr, "finscope report: %s\n", err[0] ? err : "out of memory");
        return 1;
    }
    bool to_file = html && strcmp(html, "-") != 0;
    FILE *out = to_file ? fopen(html, "w") : stdout;
    if (!out) {
        fprintf(stderr, "finscope report: %s: %s\n", html, strerror(errno));
        fsc_store_close(s);
        return 1;
    }
    int rc = fsc_report_write(s, db, capture,
                              html   ? FSC_REPORT_HTML
                              : json ? FSC_REPORT_JSON
                                     : FSC_REPORT_TEXT,
                              out, err, sizeof err);
    if (to_file && fclose(out) != 0 && rc == 0) {
        fsc_seterr(err, sizeof err, "write error");
        rc = -1;
    }
    fsc_store_close(s);
    if (rc < 0) {
        fprintf(stderr, "finscope report: %s%s%s\n", to_file ? html : "", to_file ? ": " : "",
                err[0] ? err : "out of memory");
        if (to_file)
            unlink(html); /* no half-written report left behind */
        return 1;
    }
    if (to_file)
        fprintf(stderr, "finscope report: wrote %s\n", html);
    return 0;
}
