/* finscope/export.h - writing the database out in other tools' formats (Zeek's conn.log). */
#ifndef FINSCOPE_EXPORT_H
#define FINSCOPE_EXPORT_H

#include <stdio.h>

#include "finscope/store.h"

/* Flags of fsc_export_zeek(). */
enum {
    FSC_EXPORT_JSON = 1,     /* JSON lines instead of Zeek's TSV */
    FSC_EXPORT_FINSCOPE = 2, /* finscope's columns (finscope.flow_id, ...) after Zeek's 21 */
};

/*
 * Write a Zeek conn.log of capture capture_id (every capture when capture_id < 0) to out:
 * Zeek's TSV layout with its header lines, or JSON lines with FSC_EXPORT_JSON.  One line per
 * Zeek record (a flow holds one, or several when Zeek would have split it: see zeek.h), in ts
 * order.  Zeek's 21 columns, then with FSC_EXPORT_FINSCOPE finscope's 15 (names and meaning in
 * `finscope export --help` and README.md; stable).  Reads through fsc_store_query() only.
 * Returns 0, or -1 with a message in err.
 */
int fsc_export_zeek(struct fsc_store *s, int64_t capture_id, unsigned flags, FILE *out, char *err,
                    size_t errlen);

/* fsc_export_zeek() with Zeek's columns only: json chooses FSC_EXPORT_JSON. */
int fsc_export_zeek_conn(struct fsc_store *s, int64_t capture_id, bool json, FILE *out, char *err,
                         size_t errlen);

/* `finscope export ...`: argv[0] is "export".  Returns the process exit status. */
int fsc_cmd_export(int argc, char **argv);

#endif
