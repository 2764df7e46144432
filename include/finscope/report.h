/* finscope/report.h - the summary of a whole database (or one capture), as text or one HTML file.
 */
#ifndef FINSCOPE_REPORT_H
#define FINSCOPE_REPORT_H

#include <stdio.h>

#include "finscope/store.h"

/*
 * Write the report of the database open as s to out: every capture, or only capture_id when it
 * is >= 0: as text, as one self-contained HTML page with inline SVG charts and each example
 * flow's ladder (show.h), or as one JSON object holding the same numbers (each section an array
 * of objects with fixed keys, numbers as JSON numbers).  db names the database in the output. Every
 * stored string is escaped (escape.h: terminal text, markup, or JSON).  0, or -1 with a message in
 * err (no such capture, a database error, out of memory, a write error on out).
 */
enum fsc_report_format { FSC_REPORT_TEXT, FSC_REPORT_HTML, FSC_REPORT_JSON };
int fsc_report_write(struct fsc_store *s, const char *db, int64_t capture_id,
                     enum fsc_report_format fmt, FILE *out, char *err, size_t errlen);

/* SQL text of "addr:port" for two columns a and p, brackets around an IPv6 address. */
#define FSC_SQL_EP(a, p)                                                                           \
    "CASE WHEN instr(" a ", ':') THEN '[' || " a " || ']:' || " p " ELSE " a " || ':' || " p " EN" \
    "D"

/*
 * The report's census sections (report_census.c, on census.h): sockets per host, CLOSE_WAIT
 * leak suspects and TIME_WAIT pressure, as rows of text cells for report.c to lay out, and the
 * HTML charts of the busiest hosts.
 */
enum fsc_report_census_section {
    FSC_REPORT_HOSTS = 1, /* host, state, at end, peak, peak at (UTC), peak at s */
    FSC_REPORT_LEAKS,     /* server, capture, at 25 50 75 100 %, peak, peak at (UTC), peak at s */
    FSC_REPORT_TIME_WAIT, /* client -> server, capture, peak, % of ports, peak at (UTC), peak at s
                           */
};

/* The most hosts in the sockets-per-host table, and the most charted in HTML. */
#define FSC_REPORT_HOSTS_SHOWN 10
#define FSC_REPORT_HOSTS_CHARTED 4

struct fsc_report_census;

/* Count the sockets of every capture, or of capture_id when >= 0.  0, or -1 with a message in
 * err (database error, out of memory).  Freed with fsc_report_census_free. */
int fsc_report_census_load(struct fsc_store *s, int64_t capture_id, struct fsc_report_census **out,
                           char *err, size_t errlen);
void fsc_report_census_free(struct fsc_report_census *c);

/*
 * The rows of one section, in the order shown, each given to row() as ncol text cells (names is
 * NULL); a non-zero return from row() stops.  Returns the rows left out (hosts beyond
 * FSC_REPORT_HOSTS_SHOWN: those are not given to row), or -1 when row() stopped.
 */
int fsc_report_census_rows(const struct fsc_report_census *c, enum fsc_report_census_section sec,
                           fsc_store_row_fn row, void *user);

/*
 * The colour of a token (a TCP state, close kind, handshake, RST cause, or a side: "client",
 * "server"), the same in every chart of every report; FSC_REPORT_COLOUR_OTHER for any other
 * text.  A static string.
 */
const char *fsc_report_colour(const char *token);
#define FSC_REPORT_COLOUR_OTHER "#b8c2cc"

/* The SVG charts (HTML) of the FSC_REPORT_HOSTS_CHARTED busiest hosts: sockets per state over
 * the capture, stacked, with a legend, each an <svg id="chart-census-N"> (N from 1).  Stored text
 * is escaped with fsc_esc_markup. */
void fsc_report_census_svg(FILE *out, const struct fsc_report_census *c);

#endif
