/* finscope/report.h - the summary of a whole database (or one capture), as text or one HTML file.
 */
#ifndef FINSCOPE_REPORT_H
#define FINSCOPE_REPORT_H

#include <stdio.h>

#include "finscope/store.h"

/*
 * Write the report of the database open as s to out: every capture, or only capture_id when it
 * is >= 0; text, or with html one self-contained HTML page with inline SVG charts and each
 * example flow's ladder (show.h).  db names the database in the output.  Every stored string is
 * escaped (escape.h: terminal text, or markup).  0, or -1 with a message in err (no such capture,
 * a database error, out of memory, a write error on out).
 */
int fsc_report_write(struct fsc_store *s, const char *db, int64_t capture_id, bool html, FILE *out,
                     char *err, size_t errlen);

/* SQL text of "addr:port" for two columns a and p, brackets around an IPv6 address. */
#define FSC_SQL_EP(a, p)                                                                           \
    "CASE WHEN instr(" a ", ':') THEN '[' || " a " || ']:' || " p " ELSE " a " || ':' || " p " EN" \
    "D"

#endif
