/* finscope/show.h - ladder diagrams of one connection, drawn from the database alone. */
#ifndef FINSCOPE_SHOW_H
#define FINSCOPE_SHOW_H

#include <stdio.h>

#include "finscope/store.h"

/*
 * Write flow flow_id's ladder diagram as SVG to out: two timelines, one slanted arrow per stored
 * segment, states beside the lines.  standalone adds the XML declaration (a file of its own);
 * without it the <svg> element can sit inside an HTML page.  0, or -1 with a message in err
 * (no such flow, a database error, out of memory).
 */
int fsc_show_svg(struct fsc_store *s, int64_t flow_id, bool standalone, FILE *out, char *err,
                 size_t errlen);

#endif
