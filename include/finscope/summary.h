/* finscope/summary.h - the human-readable summary of one stored capture. */
#ifndef FINSCOPE_SUMMARY_H
#define FINSCOPE_SUMMARY_H

#include <stdio.h>

#include "finscope/common.h"
#include "finscope/store.h"

/*
 * Print the summary of capture capture_id to out: a header line (source, packets read / TCP /
 * skipped with the main skip reasons, connections), optional notes (truncation, evictions,
 * drops), the handshake, close kind, rst cause (only when there are resets) and first-to-close
 * tallies as aligned "token count pct%" rows, and the longest CLOSE_WAIT dwell times.
 * Reads the database through fsc_store_query() only.  Returns 0, or -1 with a message in err
 * (unknown capture, query failure, write error on out).
 */
int fsc_summary_print(struct fsc_store *s, int64_t capture_id, FILE *out, char *err, size_t errlen);

#endif
