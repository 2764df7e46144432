/* finscope/query.h - SQL a person types, run read-only, written as a table, CSV or JSON. */
#ifndef FINSCOPE_QUERY_H
#define FINSCOPE_QUERY_H

#include <stdbool.h>
#include <stdio.h>

#include "finscope/store.h"

enum fsc_query_mode { FSC_QUERY_TABLE, FSC_QUERY_CSV, FSC_QUERY_JSON };

/*
 * The table is streamed: column widths come from the first FSC_QUERY_TABLE_ROWS rows of each
 * statement (fewer when their escaped text reaches FSC_QUERY_TABLE_BYTES), which are held; every
 * later row is written as it comes, so memory stays bounded whatever the result's size.  A later
 * value wider than its column widens that column from its row on (values are never cut but on a
 * terminal), and how many did is said on stderr at the end.
 */
#define FSC_QUERY_TABLE_ROWS 1000
#define FSC_QUERY_TABLE_BYTES (8u << 20)

/*
 * Run sql (one or several ';'-separated statements, strictly read-only: fsc_store_query_user)
 * on s and write each statement's result to out: an aligned table (stored text escaped for a
 * terminal, escape.h; with tty, values cut at 40 characters and a row count), CSV (RFC 4180
 * quoting, LF line ends, values as stored) or one JSON array of objects (escape.h's JSON
 * writer).  0, or -1 with a message in err (SQL error, refusal, out of memory, write error).
 */
int fsc_query_run(struct fsc_store *s, const char *sql, enum fsc_query_mode mode, bool tty,
                  FILE *out, char *err, size_t errlen);

/*
 * The same writer for rows a program makes (finscope states): new, then per result begin()
 * with the column names and row() per row (text of each value, NULL for NULL, and its
 * fsc_value_type), then end(), which finishes the output and frees the writer.  who names the
 * command in the one note it may print on stderr.  begin and row return 0, or non-zero on a
 * write error; end takes the caller's status so far (0 or -1) and returns 0, or -1 with a
 * message in err (out of memory, write error).  new returns NULL when out of memory.
 */
struct fsc_query_writer;
struct fsc_query_writer *fsc_query_writer_new(enum fsc_query_mode mode, bool tty, FILE *out,
                                              const char *who);
int fsc_query_writer_begin(struct fsc_query_writer *w, int ncol, const char *const *names);
int fsc_query_writer_row(struct fsc_query_writer *w, int ncol, const char *const *values,
                         const int *types);
int fsc_query_writer_end(struct fsc_query_writer *w, int rc, char *err, size_t errlen);

#endif
