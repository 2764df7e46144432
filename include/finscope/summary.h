/* finscope/summary.h - the summary of stored captures: per capture and over a run, text or JSON. */
#ifndef FINSCOPE_SUMMARY_H
#define FINSCOPE_SUMMARY_H

#include <stdio.h>

#include "finscope/common.h"
#include "finscope/store.h"

/*
 * Print the summary of capture capture_id to out: a header line (source, packets read / TCP /
 * skipped with the main skip reasons, connections), optional notes (truncation, evictions,
 * drops, one-sided connections), the handshake, close kind, rst cause (only when there are
 * resets) and first-to-close tallies as aligned "token count pct%" rows (percentages with one
 * decimal), and the longest CLOSE_WAIT stalls, one line each:
 *   flow 12 (3:4-19)  server 10.0.0.2:80 in CLOSE_WAIT 0.058 s, then closed (four_way, peer ...)
 * (flow id, capture:first-last frame; seconds with three decimals).  Stalls that ended within
 * 1 ms are left out; an endpoint still in CLOSE_WAIT when its flow was written says so, with
 * its dwell as a lower bound.  Reads the database through fsc_store_query() only.  Returns 0,
 * or -1 with a message in err (unknown capture, query failure, write error on out).
 */
int fsc_summary_print(struct fsc_store *s, int64_t capture_id, FILE *out, char *err, size_t errlen);

/*
 * The same sections summed over captures ids[0..n-1] (n >= 1; the captures of one run), headed
 * "total over N captures: ...".  0 or -1 as above.
 */
int fsc_summary_print_total(struct fsc_store *s, const int64_t *ids, size_t n, FILE *out, char *err,
                            size_t errlen);

/*
 * One JSON document with the numbers of the text: {"captures":[one object per id, in order],
 * "total":{the sums over them}, "failed":[the nfailed paths that were not stored]}.  Each
 * object holds packets_read, packets_tcp, packets_skipped, skipped (reason -> packets),
 * connections, truncated, drops, connections_written_early, one_sided, the tallies handshake,
 * close_kind, rst_cause and closer as [{"token", "count", "percent"}] (rst_cause also "proven"),
 * and close_wait_stalls {ended_1ms_or_more, still_in_close_wait, longest: [{flow_id,
 * capture_id, first_frame, last_frame, endpoint, addr, port, peer_addr, peer_port, seconds,
 * still_in_close_wait, still_at, then, close_kind, tshark_filter}]}.  With n == 0, s may be NULL
 * (nothing was stored): the total is all zeros.  0 or -1 as above (the document may then be
 * incomplete).
 */
int fsc_summary_json(struct fsc_store *s, const int64_t *ids, size_t n, const char *const *failed,
                     size_t nfailed, FILE *out, char *err, size_t errlen);

#endif
