/* finscope/analyze.h - the offline analysis command: capture files into the database. */
#ifndef FINSCOPE_ANALYZE_H
#define FINSCOPE_ANALYZE_H

#include "finscope/common.h"

struct fsc_analyze_opts {
    const char *db_path;
    const char *filter; /* BPF, or NULL */
    bool replace;       /* re-analyze a file already stored (same hash) */
    bool quiet;         /* no summary */
    bool json;          /* the summaries as one JSON document on stdout, after every file */
    bool progress;      /* status line when stderr is a terminal */
    fsc_time linger_us, idle_us;
    uint32_t max_flows;
};

/*
 * Analyze each path (one transaction each), printing each capture's summary after it and, when
 * more than one was stored, their total; with json, one JSON document after them all instead
 * (fsc_summary_json).  Returns 0 when all were stored, 1 otherwise.
 */
int fsc_analyze(const char *const *paths, int n, const struct fsc_analyze_opts *o);

/* `finscope analyze ...`: argv[0] is "analyze".  Returns the process exit status. */
int fsc_cmd_analyze(int argc, char **argv);

/* `finscope live ...` (live.c). */
int fsc_cmd_live(int argc, char **argv);

/* `finscope query ...` (query.c). */
int fsc_cmd_query(int argc, char **argv);

/* `finscope show ...` (show.c). */
int fsc_cmd_show(int argc, char **argv);

/* `finscope report ...` (report.c). */
int fsc_cmd_report(int argc, char **argv);

/* `finscope states ...` (census.c). */
int fsc_cmd_states(int argc, char **argv);

/* `finscope forge ...` (cmd_forge.c). */
int fsc_cmd_forge(int argc, char **argv);

#endif
