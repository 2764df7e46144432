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

/*
 * Write flow flow_id's ladder diagram as text to out (what `finscope show DB ID` prints): every
 * stored string escaped for a terminal (escape.h), stored numbers clamped to sane ranges with a
 * note when any was.  0, or -1 with a message in err (no such flow, a database error, out of
 * memory, a write error on out).
 */
int fsc_show_text(struct fsc_store *s, int64_t flow_id, FILE *out, char *err, size_t errlen);

/*
 * Write where flow flow_id's packets are, the lines `finscope show` prints above its ladder:
 *   capture 3 (web.pcap), frames 3:17 to 3:42
 *   tshark -r web.pcap -Y '((ip.src==...)) && frame.number>=17 && frame.number<=42'
 * The file and its frame numbers come from capture_files (a capture `live -w` wrote in several
 * files gives one tshark line per file the flow's frames are in, numbered as in that file), else
 * from captures.source; a live capture whose frames were not saved gets the filter without a
 * frame range.  Stored text is escaped for a terminal, the file name quoted for a shell when it
 * needs it.  width > 0 breaks a tshark command longer than width columns between its words
 * and its filter's terms (" \" outside the quotes, a plain new line inside them, which the
 * filter takes as a blank), so that it still pastes into a shell whole; 0 keeps it on one line.
 * 0, or -1 with a message in err (no such flow, a database error, a write error).
 */
int fsc_show_where(struct fsc_store *s, int64_t flow_id, int width, FILE *out, char *err,
                   size_t errlen);

/*
 * fsc_show_text fitted to width columns (`show --width`, a terminal's width): the states' evidence
 * wraps to stay within it, the arrows are never cut.  width 0 is fsc_show_text.
 */
int fsc_show_text_width(struct fsc_store *s, int64_t flow_id, int width, FILE *out, char *err,
                        size_t errlen);

#endif
