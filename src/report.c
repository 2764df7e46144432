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

#define ERRLEN 512
#define MAXCOLS 10
#define TOP_ROWS 10 /* rows shown in the "top" sections (ports, suspects, FIN retransmissions) */
#define TOP_ROWS_STR "10"

static const char usage[] =
    "usage: finscope report [options] [DB]\n"
    "\n"
    "Prints the summary of a finscope database (default: finscope.db, opened read-only) over\n"
    "every capture, or one with --capture: close kinds and handshakes with counts and shares,\n"
    "RST causes, who closes first per server port, servers leaving connections in CLOSE_WAIT\n"
    "(the close_wait_suspects view) with their stall times, histograms of the CLOSE_WAIT and\n"
    "FIN_WAIT_2 dwell times (flows.close_wait_s, flows.fin_wait_2_s) and the 5-tuples with the\n"
    "most retransmitted FINs.  Every one of these numbers is computed by SQL on the database.\n"
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
    "\n"
    "With --html, writes one self-contained HTML file (inline CSS and SVG charts, no script,\n"
    "nothing fetched) with a table per section, an example flow of each close kind, and for\n"
    "the 4 busiest hosts a chart of their sockets per state over the capture.\n"
    "\n"
    "options:\n"
    "      --html FILE     write the report as HTML to FILE ('-': standard output)\n"
    "      --capture N     only capture N (captures.id); default: every capture\n"
    "  -h, --help          this text\n"
    "\n"
    "examples:\n"
    "  finscope report\n"
    "  finscope report web.db --capture 2\n"
    "  finscope report web.db --html report.html\n"
    "  finscope show web.db 42      # the ladder diagram of an example flow\n";

/* The help text and the census sections' titles say these numbers. */
_Static_assert(FSC_REPORT_HOSTS_SHOWN == 10 && FSC_REPORT_HOSTS_CHARTED == 4 &&
                   FSC_EPHEMERAL_PORTS == 28232,
               "report's help and titles");

/* The capture filter: ?1 is left unbound (NULL) for every capture. */
#define FILT "(?1 IS NULL OR capture_id = ?1)"

/* Counts and shares of one token column; the share rounds as the close_kinds view does. */
#define TALLY_SQL(col, where)                                                                      \
    "SELECT coalesce(" col ", '-'), count(*) AS n, "                                               \
    "printf('%.1f', round(100.0 * count(*) / sum(count(*)) OVER (), 1)), min(id) "                 \
    "FROM flows WHERE " FILT where " GROUP BY " col " ORDER BY n DESC, " col

#define SHARE(tok)                                                                                 \
    "sum(closer = '" tok "'), printf('%.1f', round(100.0 * sum(closer = '" tok "') / count(*), "   \
    "1))"

/* Dwell-time buckets: [lo, hi) in seconds, NULL for an open end. */
#define HIST_SQL(col)                                                                              \
    "WITH b(i, label, lo, hi) AS (VALUES (0, '<1 ms', NULL, 0.001), (1, '1-10 ms', 0.001, 0.01), " \
    "(2, '10-100 ms', 0.01, 0.1), (3, '0.1-1 s', 0.1, 1.0), (4, '1-10 s', 1.0, 10.0), "            \
    "(5, '10-60 s', 10.0, 60.0), (6, '>60 s', 60.0, NULL)), "                                      \
    "d AS (SELECT " col " AS v FROM flows WHERE " col " IS NOT NULL AND " FILT "), "               \
    "c AS (SELECT i, label, (SELECT count(*) FROM d WHERE (lo IS NULL OR v >= lo) "                \
    "AND (hi IS NULL OR v < hi)) AS n FROM b) "                                                    \
    "SELECT label, n, printf('%.1f', CASE WHEN sum(n) OVER () > 0 "                                \
    "THEN round(100.0 * n / sum(n) OVER (), 1) ELSE 0 END) FROM c ORDER BY i"

#define EP(a, p) FSC_SQL_EP(a, p)

#define SECS(x) "CASE WHEN " x " IS NULL THEN '-' ELSE printf('%.3f', " x ") END"

enum chart { CHART_NONE, CHART_BARS, CHART_HIST, CHART_CENSUS };
enum colkind { COL_TEXT, COL_NUM, COL_PCT, COL_FLOW };

struct col {
    const char *name;
    enum colkind kind;
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
};

static const struct section sections[] = {
    {"close-kinds",
     "close kinds",
     TALLY_SQL("close_kind", ""),
     "no flows",
     0,
     CHART_BARS,
     4,
     {{"close kind", COL_TEXT}, {"flows", COL_NUM}, {"%", COL_PCT}, {"example", COL_FLOW}},
     NULL,
     0,
     NULL},
    {"handshakes",
     "handshakes",
     TALLY_SQL("handshake", ""),
     "no flows",
     0,
     CHART_BARS,
     4,
     {{"handshake", COL_TEXT}, {"flows", COL_NUM}, {"%", COL_PCT}, {"example", COL_FLOW}},
     NULL,
     0,
     NULL},
    {"rst-causes",
     "RST causes (of close kind rst; likely: what the packets suggest, not prove)",
     TALLY_SQL(FSC_SQL_RST_CAUSE_SHOWN, " AND close_kind = 'rst'"),
     "no connection ended by a RST",
     0,
     CHART_BARS,
     4,
     {{"rst cause", COL_TEXT}, {"flows", COL_NUM}, {"%", COL_PCT}, {"example", COL_FLOW}},
     NULL,
     0,
     NULL},
    {"closers",
     "who closes first, by server port",
     "SELECT server_port, count(*) AS n, " SHARE("client") ", " SHARE("server") ", " SHARE(
         "both") ", sum(closer NOT IN ('client', 'server', 'both')) "
                 "FROM flows WHERE " FILT " GROUP BY server_port ORDER BY n DESC, server_port",
     "no flows",
     TOP_ROWS,
     CHART_NONE,
     9,
     {{"server port", COL_NUM},
      {"flows", COL_NUM},
      {"client", COL_NUM},
      {"%", COL_PCT},
      {"server", COL_NUM},
      {"%", COL_PCT},
      {"both", COL_NUM},
      {"%", COL_PCT},
      {"other", COL_NUM}},
     NULL,
     0,
     NULL},
    {"close-wait-suspects",
     "servers with connections stuck in CLOSE_WAIT (close_wait_suspects)",
     /* The close_wait_suspects view, with the capture filter inside. */
     "WITH cw AS (SELECT server_addr, server_port, close_wait_s, "
     "row_number() OVER (PARTITION BY server_addr, server_port ORDER BY close_wait_s NULLS LAST) "
     "AS rn, count(close_wait_s) OVER (PARTITION BY server_addr, server_port) AS nv "
     "FROM flows WHERE close_kind = 'half_closed' AND server_state = 'close_wait' AND " FILT "), "
     "s AS (SELECT server_addr, server_port, count(*) AS flows, "
     "avg(CASE WHEN rn IN ((nv + 1) / 2, (nv + 2) / 2) THEN close_wait_s END) AS med, "
     "max(close_wait_s) AS mx FROM cw GROUP BY server_addr, server_port) "
     "SELECT server_addr, server_port, flows, " SECS("med") ", " SECS(
         "mx") " FROM s "
               "ORDER BY flows DESC, mx DESC, server_addr, server_port",
     "none",
     TOP_ROWS,
     CHART_NONE,
     5,
     {{"server", COL_TEXT},
      {"port", COL_NUM},
      {"flows", COL_NUM},
      {"median s", COL_NUM},
      {"max s", COL_NUM}},
     NULL,
     0,
     NULL},
    {"close-wait-dwell",
     "CLOSE_WAIT dwell (flows.close_wait_s)",
     HIST_SQL("close_wait_s"),
     NULL,
     0,
     CHART_HIST,
     3,
     {{"dwell", COL_TEXT}, {"flows", COL_NUM}, {"%", COL_PCT}},
     NULL,
     0,
     NULL},
    {"fin-wait-2-dwell",
     "FIN_WAIT_2 dwell (flows.fin_wait_2_s)",
     HIST_SQL("fin_wait_2_s"),
     NULL,
     0,
     CHART_HIST,
     3,
     {{"dwell", COL_TEXT}, {"flows", COL_NUM}, {"%", COL_PCT}},
     NULL,
     0,
     NULL},
    {"fin-retrans",
     "top 5-tuples (TCP) by retransmitted FINs",
     "SELECT " EP("client_addr", "client_port") ", " EP(
         "server_addr", "server_port") ", sum(fin_retrans) AS fr, count(*), min(id) AS first "
                                       "FROM flows WHERE fin_retrans > 0 AND " FILT " "
                                       "GROUP BY client_addr, client_port, server_addr, "
                                       "server_port ORDER BY fr DESC, first",
     "no FIN was retransmitted",
     TOP_ROWS,
     CHART_NONE,
     5,
     {{"client", COL_TEXT},
      {"server", COL_TEXT},
      {"FIN retrans", COL_NUM},
      {"flows", COL_NUM},
      {"first flow", COL_FLOW}},
     NULL,
     0,
     NULL},
    {"sockets-per-host",
     "sockets per host in each TCP state (the 10 busiest, by their peak of any state, as "
     "finscope states)",
     NULL,
     "no socket in any TCP state",
     0,
     CHART_CENSUS,
     6,
     {{"host", COL_TEXT},
      {"state", COL_TEXT},
      {"at end", COL_NUM},
      {"peak", COL_NUM},
      {"peak at (UTC)", COL_TEXT},
      {"peak at s", COL_NUM}},
     "at end: held when the capture ended; peak: the most at once, first reached at (UTC), "
     "s from the first packet",
     FSC_REPORT_HOSTS,
     "hosts"},
    {"close-wait-leaks",
     "CLOSE_WAIT leak suspects: servers whose CLOSE_WAIT count keeps growing",
     NULL,
     "no server's CLOSE_WAIT count keeps growing",
     TOP_ROWS,
     CHART_NONE,
     9,
     {{"server", COL_TEXT},
      {"capture", COL_NUM},
      {"25%", COL_NUM},
      {"50%", COL_NUM},
      {"75%", COL_NUM},
      {"end", COL_NUM},
      {"peak", COL_NUM},
      {"peak at (UTC)", COL_TEXT},
      {"peak at s", COL_NUM}},
     "keeps growing: its counts at 25%, 50%, 75% and 100% of its capture never fall, and the "
     "last is above the first and at least 2",
     FSC_REPORT_LEAKS,
     NULL},
    {"time-wait-pressure",
     "TIME_WAIT pressure per client -> server:port (peak against Linux's 28,232 ephemeral "
     "ports)",
     NULL,
     "no client socket in TIME_WAIT",
     TOP_ROWS,
     CHART_NONE,
     6,
     {{"client -> server", COL_TEXT},
      {"capture", COL_NUM},
      {"peak", COL_NUM},
      {"% of ports", COL_PCT},
      {"peak at (UTC)", COL_TEXT},
      {"peak at s", COL_NUM}},
     "peak: the client's sockets to that server address and port in TIME_WAIT at once, each "
     "holding a local port (net.ipv4.ip_local_port_range 32768-60999)",
     FSC_REPORT_TIME_WAIT,
     NULL},
};
#define NSECTIONS (sizeof sections / sizeof *sections)

/* Every flow the other sections link to: the lowest id of each close kind, handshake and RST
 * cause, and the first flow of each 5-tuple shown for FIN retransmissions. */
static const char examples_sql[] =
    "SELECT f.id, f.close_kind, f.handshake, coalesce(f.rst_cause, '-'), " EP(
        "f.client_addr",
        "f.client_port") ", " EP("f.server_addr",
                                 "f.server_port") " FROM flows f "
                                                  "WHERE f.id IN (SELECT min(id) FROM flows "
                                                  "WHERE " FILT " GROUP BY close_kind "
                                                  "UNION SELECT min(id) FROM flows WHERE " FILT
                                                  " GROUP BY handshake "
                                                  "UNION SELECT min(id) FROM flows WHERE "
                                                  "close_kind = 'rst' AND " FILT
                                                  " GROUP BY " FSC_SQL_RST_CAUSE_SHOWN " "
                                                  "UNION SELECT first FROM (SELECT min(id) AS "
                                                  "first, sum(fin_retrans) AS fr FROM flows "
                                                  "WHERE fin_retrans > 0 AND " FILT
                                                  " GROUP BY client_addr, client_port, "
                                                  "server_addr, "
                                                  "server_port ORDER BY fr DESC, first "
                                                  "LIMIT " TOP_ROWS_STR ")) ORDER BY f.id";

static const char overview_sql[] =
    "SELECT (SELECT count(*) FROM captures WHERE ?1 IS NULL OR id = ?1), "
    "(SELECT count(*) FROM flows WHERE " FILT "), "
    "(SELECT coalesce(datetime(min(first_ts), 'unixepoch'), '-') || ' .. ' || "
    "coalesce(datetime(max(last_ts), 'unixepoch'), '-') || ' UTC' FROM flows WHERE " FILT "), "
    "(SELECT coalesce(" FSC_SQL_ONE_SIDED_COUNT ", 0) FROM flows WHERE " FILT ")";

/* Rows of text cells as SQLite returned them (NULL shown as "-"). */
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
        char *s = strdup(k < ncol && v[k] ? v[k] : "-");
        if (!s) {
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

static const char *cell(const struct table *t, int r, int c)
{
    return c < t->ncols ? t->cell[r * t->ncols + c] : "-";
}

struct report {
    const char *db;
    struct fsc_store *store;     /* open while the report is written (ladders in --html) */
    int64_t capture;             /* -1: every capture */
    struct table overview;       /* captures, flows, time span */
    struct table tab[NSECTIONS]; /* one per section */
    struct table examples;       /* close kind, id, handshake, client, server */
    struct fsc_report_census *census;
};

static int report_load(struct fsc_store *s, struct report *r, char *err, size_t errlen)
{
    if (fsc_store_query(s, overview_sql, r->capture, table_row, &r->overview, err, errlen) < 0)
        return -1;
    if (r->overview.nrows != 1) {
        fsc_seterr(err, errlen, "report: out of memory");
        return -1;
    }
    if (r->capture >= 0 && strcmp(cell(&r->overview, 0, 0), "0") == 0) {
        fsc_seterr(err, errlen, "%s: no capture with id %" PRId64, r->db, r->capture);
        return -1;
    }
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
    return fsc_store_query(s, examples_sql, r->capture, table_row, &r->examples, err, errlen);
}

static int shown_rows(const struct section *sec, const struct table *t)
{
    return sec->top > 0 && t->nrows > sec->top ? sec->top : t->nrows;
}

/* ---- text ---- */

/* A cell as the text report shows it: escaped for a terminal (escape.h), with the column's
 * decoration ("%" after a share, "#" before a flow id). */
static const char *text_cell(const struct section *sec, int c, const char *v, char *buf, size_t len)
{
    char e[256];

    fsc_esc_term_buf(e, sizeof e, v);
    snprintf(buf, len, "%s%s%s", sec->cols[c].kind == COL_FLOW ? "#" : "", e,
             sec->cols[c].kind == COL_PCT ? "%" : "");
    return buf;
}

static void text_section(FILE *out, const struct section *sec, const struct table *t)
{
    int w[MAXCOLS] = {0}, n = shown_rows(sec, t);
    char buf[260];

    fprintf(out, "\n%s\n", sec->title);
    if (sec->note)
        fprintf(out, "%s\n", sec->note);
    if (t->nrows == 0) {
        fprintf(out, "  (%s)\n", sec->empty ? sec->empty : "none");
        return;
    }
    for (int c = 0; c < sec->ncols; c++) {
        w[c] = (int)strlen(sec->cols[c].name);
        for (int r = 0; r < n; r++) {
            int l = (int)strlen(text_cell(sec, c, cell(t, r, c), buf, sizeof buf));
            if (l > w[c])
                w[c] = l;
        }
    }
    fputs(" ", out);
    for (int c = 0; c < sec->ncols; c++)
        fprintf(out, " %s%*s", c ? " " : "", sec->cols[c].kind == COL_TEXT ? -w[c] : w[c],
                sec->cols[c].name);
    fputc('\n', out);
    for (int r = 0; r < n; r++) {
        fputs(" ", out);
        for (int c = 0; c < sec->ncols; c++)
            fprintf(out, " %s%*s", c ? " " : "", sec->cols[c].kind == COL_TEXT ? -w[c] : w[c],
                    text_cell(sec, c, cell(t, r, c), buf, sizeof buf));
        fputc('\n', out);
    }
    if (n < t->nrows)
        fprintf(out, "  (%d more not shown)\n", t->nrows - n);
    if (t->hidden > 0)
        fprintf(out, "  (%d more %s not shown)\n", t->hidden, sec->unit);
}

/* "capture N" or "N captures", then ", N flows, TIME SPAN": each value through esc (terminal or
 * markup) between v_open and v_close. */
static void overview_counts(FILE *out, const struct report *r, void (*esc)(FILE *, const char *),
                            const char *v_open, const char *v_close)
{
    const struct table *o = &r->overview;

    if (r->capture >= 0)
        fprintf(out, "capture %s%" PRId64 "%s", v_open, r->capture, v_close);
    else {
        fputs(v_open, out);
        esc(out, cell(o, 0, 0));
        fprintf(out, "%s capture%s", v_close, strcmp(cell(o, 0, 0), "1") ? "s" : "");
    }
    fprintf(out, ", %s", v_open);
    esc(out, cell(o, 0, 1));
    fprintf(out, "%s flows, ", v_close);
    esc(out, cell(o, 0, 2));
}

static void text_report(FILE *out, const struct report *r)
{
    const struct table *o = &r->overview;

    fputs("finscope report: ", out);
    fsc_esc_term(out, r->db);
    fputs(", ", out);
    overview_counts(out, r, fsc_esc_term, "", "");
    fputc('\n', out);
    if (strcmp(cell(o, 0, 3), "0") != 0) {
        fsc_esc_term(out, cell(o, 0, 3));
        fputs(" flows seen in one direction only (one_sided): their unseen side is inferred from "
              "the seen side's acks\n",
              out);
    }

    for (size_t k = 0; k < NSECTIONS; k++)
        text_section(out, &sections[k], &r->tab[k]);
    if (r->examples.nrows > 0) {
        fputs("\nladder diagram of an example flow: finscope show ", out);
        fsc_esc_term(out, r->db);
        fputs(" ID\n", out);
    }
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
    "svg text{font:12px system-ui,sans-serif;fill:#1d232a}";

static const char *const palette[] = {"#3b7dd8", "#e07b39", "#4aa564", "#c2453d", "#8a63c9",
                                      "#2aa1a8", "#c9a227", "#7a8691", "#d15b9c", "#5a6fbf"};

/* Horizontal bars: one per row, label column 0, value column 1, share column 2. */
static void svg_bars(FILE *out, const struct table *t)
{
    const int lw = 150, bw = 300, rh = 22, top = 6;
    int h = top * 2 + rh * t->nrows;
    double max = 0;

    for (int r = 0; r < t->nrows; r++)
        if (strtod(cell(t, r, 1), NULL) > max)
            max = strtod(cell(t, r, 1), NULL);
    fprintf(out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" role=\"img\">\n",
            lw + bw + 110, h, lw + bw + 110, h);
    for (int r = 0; r < t->nrows; r++) {
        double v = strtod(cell(t, r, 1), NULL);
        int y = top + r * rh, len = max > 0 ? (int)(v / max * bw + 0.5) : 0;
        if (v > 0 && len < 2)
            len = 2;
        fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", lw - 8, y + 15);
        esc(out, cell(t, r, 0));
        fprintf(out,
                "</text><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"2\" "
                "fill=\"%s\"/><text x=\"%d\" y=\"%d\">",
                lw, y + 3, len, rh - 6, palette[r % 10], lw + len + 6, y + 15);
        esc(out, cell(t, r, 1));
        fputs(" (", out);
        esc(out, cell(t, r, 2));
        fputs("%)</text>\n", out);
    }
    fputs("</svg>\n", out);
}

/* Histogram: one vertical bar per bucket (label column 0, count column 1). */
static void svg_hist(FILE *out, const struct table *t)
{
    const int bw = 62, gap = 8, ph = 150, left = 10, top = 20, bottom = 24;
    int w = left * 2 + t->nrows * (bw + gap), h = top + ph + bottom;
    double max = 0;

    for (int r = 0; r < t->nrows; r++)
        if (strtod(cell(t, r, 1), NULL) > max)
            max = strtod(cell(t, r, 1), NULL);
    fprintf(out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" role=\"img\">\n",
            w, h, w, h);
    fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#9aa5b1\"/>\n", left,
            top + ph, w - left, top + ph);
    for (int r = 0; r < t->nrows; r++) {
        double v = strtod(cell(t, r, 1), NULL);
        int x = left + r * (bw + gap) + gap / 2, bh = max > 0 ? (int)(v / max * ph + 0.5) : 0;
        if (v > 0 && bh < 2)
            bh = 2;
        fprintf(out,
                "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#3b7dd8\"/>"
                "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">",
                x, top + ph - bh, bw, bh, x + bw / 2, top + ph - bh - 5);
        esc(out, cell(t, r, 1));
        fprintf(out, "</text><text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", x + bw / 2,
                top + ph + 16);
        esc(out, cell(t, r, 0));
        fputs("</text>\n", out);
    }
    fputs("</svg>\n", out);
}

static void html_table(FILE *out, const struct section *sec, const struct table *t)
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
        fputs(sec->cols[c].kind == COL_TEXT ? "<th>" : "<th class=\"n\">", out);
        esc(out, sec->cols[c].name);
        fputs("</th>", out);
    }
    fputs("</tr></thead>\n<tbody>\n", out);
    for (int r = 0; r < n; r++) {
        fputs("<tr>", out);
        for (int c = 0; c < sec->ncols; c++) {
            const char *v = cell(t, r, c);
            fputs(sec->cols[c].kind == COL_TEXT ? "<td>" : "<td class=\"n\">", out);
            if (sec->cols[c].kind == COL_FLOW) {
                fputs("<a href=\"#flow-", out);
                esc(out, v);
                fputs("\">", out);
                esc(out, v);
                fputs("</a>", out);
            } else {
                esc(out, v);
            }
            fputs("</td>", out);
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

static void html_examples(FILE *out, const struct report *r)
{
    const struct table *t = &r->examples;

    fputs("<section id=\"examples\">\n<h2>example flows: the lowest id of each kind, and every "
          "flow linked above"
          "</h2>\n",
          out);
    if (t->nrows == 0) {
        fputs("<p class=\"empty\">no flows</p>\n</section>\n", out);
        return;
    }
    fputs("<div><table>\n<thead><tr><th class=\"n\">flow</th><th>close kind</th>"
          "<th>handshake</th><th>rst cause</th><th>client</th><th>server</th>"
          "<th>ladder diagram</th></tr></thead>\n<tbody>\n",
          out);
    for (int k = 0; k < t->nrows; k++) {
        const char *id = cell(t, k, 0);
        fputs("<tr id=\"flow-", out);
        esc(out, id);
        fputs("\"><td class=\"n\">", out);
        esc(out, id);
        for (int c = 1; c <= 5; c++) {
            fputs("</td><td>", out);
            esc(out, cell(t, k, c));
        }
        fputs("</td><td><a href=\"#ladder-", out);
        esc(out, id);
        fputs("\">ladder</a> &middot; <code>finscope show ", out);
        esc(out, r->db);
        fputc(' ', out);
        esc(out, id);
        fputs("</code></td></tr>\n", out);
    }
    fputs("</tbody></table></div>\n", out);
    /* Each example's ladder diagram, drawn by show.c from the same database. */
    for (int k = 0; k < t->nrows; k++) {
        const char *id = cell(t, k, 0);
        char err[256];
        fputs("<figure class=\"ladder\" id=\"ladder-", out);
        esc(out, id);
        fputs("\"><figcaption>flow ", out);
        esc(out, id);
        fputs(": ", out);
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
    if (strcmp(cell(o, 0, 3), "0") != 0) {
        fputs(", <span class=\"v\">", out);
        esc(out, cell(o, 0, 3));
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
        fprintf(out, "<section id=\"%s\">\n<h2>", sec->id);
        esc(out, sec->title);
        fputs("</h2>\n", out);
        if (sec->note) {
            fputs("<p class=\"note\">", out);
            esc(out, sec->note);
            fputs("</p>\n", out);
        }
        html_table(out, sec, &r->tab[k]);
        if (r->tab[k].nrows > 0 && sec->chart == CHART_BARS)
            svg_bars(out, &r->tab[k]);
        else if (r->tab[k].nrows > 0 && sec->chart == CHART_HIST)
            svg_hist(out, &r->tab[k]);
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

int fsc_report_write(struct fsc_store *s, const char *db, int64_t capture, bool html, FILE *out,
                     char *err, size_t errlen)
{
    struct report r = {.db = db, .store = s, .capture = capture};
    int ret = -1;

    if (report_load(s, &r, err, errlen) < 0)
        goto out;
    if (html)
        html_report(out, &r);
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
    enum { OPT_HTML = 256, OPT_CAPTURE };
    static const struct option longopts[] = {{"html", required_argument, NULL, OPT_HTML},
                                             {"capture", required_argument, NULL, OPT_CAPTURE},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *db = "finscope.db", *html = NULL;
    int64_t capture = -1;
    struct fsc_store *s = NULL;
    char err[ERRLEN] = "";
    int opt;

    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_HTML:
            html = optarg;
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
    int rc = fsc_report_write(s, db, capture, html != NULL, out, err, sizeof err);
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
