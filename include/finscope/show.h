/* finscope/show.h - ladder diagrams of one connection, drawn from the database alone. */
#ifndef FINSCOPE_SHOW_H
#define FINSCOPE_SHOW_H

#include <stdio.h>

#include "finscope/store.h"

/*
 * A flow's JSON log column x (transition_log, segment_log, zeek_earlier) as the read commands
 * take it, an SQL expression: x itself when it is a JSON array, else '[]'.  The database is
 * untrusted: json_each() on malformed text stops the whole statement with an error, and on a
 * scalar yields one row with a NULL key.  Readers also skip elements that are not arrays
 * (json_each's type column), since ->> on a bare string element fails the same way.
 */
#define FSC_SQL_JSON_ARRAY(x)                                                                      \
    "coalesce(CASE WHEN json_valid(" x ") THEN CASE json_type(" x ") WHEN 'array' THEN " x         \
    " END END, '[]')"

/*
 * Write flow flow_id's ladder diagram as SVG to out: two timelines, one slanted arrow per stored
 * segment, states beside the lines.  standalone adds the XML declaration (a file of its own);
 * without it the <svg> element can sit inside an HTML page.  0, or -1 with a message in err
 * (no such flow, a database error, out of memory).
 */
int fsc_show_svg(struct fsc_store *s, int64_t flow_id, bool standalone, FILE *out, char *err,
                 size_t errlen);

/*
 * Write flow flow_id's ladder diagram as text to out (what `finscope show DB ID` prints): every
 * stored string escaped for a terminal (escape.h), stored numbers clamped to sane ranges with a
 * note when any was.  0, or -1 with a message in err (no such flow, a database error, out of
 * memory, a write error on out).
 */
int fsc_show_text(struct fsc_store *s, int64_t flow_id, FILE *out, char *err, size_t errlen);

/*
 * fsc_show_text fitted to width columns (`show --width`, a terminal's width): the states' evidence
 * wraps to stay within it, the arrows are never cut.  width 0 is fsc_show_text.
 */
int fsc_show_text_width(struct fsc_store *s, int64_t flow_id, int width, FILE *out, char *err,
                        size_t errlen);

#endif
