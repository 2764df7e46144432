/* finscope/store.h - the SQLite database: schema, one transaction per capture, flows, queries. */
#ifndef FINSCOPE_STORE_H
#define FINSCOPE_STORE_H

#include "finscope/common.h"
#include "finscope/decode.h"
#include "finscope/flow.h"

/* Schema version kept in PRAGMA user_version; PRAGMA application_id marks a finscope file. */
#define FSC_SCHEMA_VERSION 6
#define FSC_APPLICATION_ID 0x46534331 /* "FSC1" */

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
 * The compact logs (schema 6; store.c writes them, docs/schema.md describes them): JSON arrays
 * of small integers, decoded here and nowhere else (the views, show, summary and census.h read
 * them through these).  Names are codes of the tokens table (kind, code, name).
 *   transition_log: [code, t, p, held] or [code, s, held] per transition, code =
 *     (((evidence * 16 + from) * 16 + to) * 2 + endpoint) * 2 + ref; t microseconds after
 *     first_ts, p packets after first_packet (held_flows has none: p is the packet), or when ref
 *     is 1, s the index of the stored segment with that time and packet; held as before
 *     (absent on an endpoint's last transition).
 *   segment_log: [code, t, p, rel_seq, rel_ack, len] per segment, code = (why * 256 + flags) * 2
 *     + sender; rel_ack is 0 when the ACK bit is off (the segments view gives NULL), len is
 *     left out when 0.
 * V is an entry (JSON text), T0 the flow's first_ts, P0 its first_packet, SEGS its segment_log.
 * Fields are taken out with shifts and masks: no '%', since census.c formats this SQL.
 */
#define FSC_SQL_TOKEN(KIND, CODE)                                                                  \
    "(SELECT name FROM tokens WHERE kind = '" KIND "' AND code = (" CODE "))"
#define FSC_SQL_TR_ENDPOINT(V) FSC_SQL_TOKEN("endpoint", "(" V " ->> 0) >> 1 & 1")
#define FSC_SQL_TR_FROM(V) FSC_SQL_TOKEN("state", "(" V " ->> 0) >> 6 & 15")
#define FSC_SQL_TR_TO(V) FSC_SQL_TOKEN("state", "(" V " ->> 0) >> 2 & 15")
#define FSC_SQL_TR_EVIDENCE(V) FSC_SQL_TOKEN("evidence", "(" V " ->> 0) >> 10")
#define FSC_SQL_TR_REF(V) "((" V " ->> 0) & 1)"
/* The segment a ref entry names, as JSON text. */
#define FSC_SQL_TR_SEG(V, SEGS) "(" SEGS " -> CAST(" V " ->> 1 AS INTEGER))"
#define FSC_SQL_TR_TS_US(V, T0, SEGS)                                                              \
    "(round(" T0 " * 1e6) + iif(" FSC_SQL_TR_REF(V) ", " FSC_SQL_TR_SEG(V, SEGS) " ->> 1, " V      \
                                                                                 " ->> 1))"
#define FSC_SQL_TR_PACKET(V, P0, SEGS)                                                             \
    "(" P0 " + iif(" FSC_SQL_TR_REF(V) ", " FSC_SQL_TR_SEG(V, SEGS) " ->> 2, " V " ->> 2))"
#define FSC_SQL_TR_HELD_US(V) "iif(" FSC_SQL_TR_REF(V) ", " V " ->> 2, " V " ->> 3)"
#define FSC_SQL_SEG_SENDER(V) FSC_SQL_TOKEN("endpoint", "(" V " ->> 0) & 1")
#define FSC_SQL_SEG_FLAGS(V) FSC_SQL_TOKEN("flags", "(" V " ->> 0) >> 1 & 255")
#define FSC_SQL_SEG_WHY(V) FSC_SQL_TOKEN("why", "(" V " ->> 0) >> 9")
#define FSC_SQL_SEG_TS_US(V, T0) "(round(" T0 " * 1e6) + (" V " ->> 1))"
#define FSC_SQL_SEG_PACKET(V, P0) "(" P0 " + (" V " ->> 2))"
#define FSC_SQL_SEG_SEQ(V) "(" V " ->> 3)"
#define FSC_SQL_SEG_ACK(V) "iif((" V " ->> 0) >> 1 & 16, " V " ->> 4, NULL)"
#define FSC_SQL_SEG_LEN(V) "coalesce(" V " ->> 5, 0)"

/* flows.rst_cause as people read it: "(likely)" after a cause the packets do not prove
 * (rst_cause_proven 0), "(not judged)" on rows of an older schema.  An SQL expression. */
#define FSC_SQL_RST_CAUSE_SHOWN                                                                    \
    "(rst_cause || CASE rst_cause_proven WHEN 1 THEN '' WHEN 0 THEN ' (likely)' "                  \
    "ELSE ' (not judged)' END)"

/* How many flows in a set are marked one_sided (an SQL aggregate over flows). */
#define FSC_SQL_ONE_SIDED_COUNT "sum(instr(',' || anomalies || ',', ',one_sided,') > 0)"

struct fsc_store;

/* What is known about one capture (one input file, or one live session). */
struct fsc_capture_info {
    const char *source;    /* path, "-" for stdin, or "live:IFACE" */
    int64_t size_bytes;    /* -1 when unknown (stdin, live) */
    const char *hash;      /* "xxh128:<32 hex>" of the file's bytes, NULL when unknown */
    const char *link_type; /* pcap name, e.g. "EN10MB" */
    int link_type_id;      /* DLT_ value */
    const char *filter;    /* BPF expression or NULL */
    /* Filled in as the capture is read: */
    uint64_t packets_read;             /* frames handed over by libpcap */
    uint64_t packets_tcp;              /* frames decoded to a TCP segment */
    uint64_t skipped[FSC_SKIP__COUNT]; /* frames not used, by reason */
    bool truncated;                    /* the file ended in the middle of a record */
    int64_t truncated_at; /* byte offset where the incomplete record starts, -1 if none */
    int64_t drops;        /* kernel drops (live), -1 when not applicable */
    fsc_time first_ts, last_ts;
    uint64_t flows;         /* flows written */
    uint64_t flows_evicted; /* flows written early because the table was full */
};

/* Return values: 0 success, -1 error with a message in err (caller-owned, errlen bytes). */

/*
 * Open or create the database at path.  A new or empty file gets the schema; an existing file
 * must carry FSC_APPLICATION_ID and a user_version <= FSC_SCHEMA_VERSION, otherwise it is refused
 * and left untouched.  read_only opens with SQLITE_OPEN_READONLY and never creates.
 */
int fsc_store_open(const char *path, bool read_only, struct fsc_store **out, char *err,
                   size_t errlen);

void fsc_store_close(struct fsc_store *s);

/* Id of a capture already stored with this hash, 0 if none, -1 on error. */
int64_t fsc_store_find_capture(struct fsc_store *s, const char *hash, char *err, size_t errlen);

/*
 * BEGIN a transaction for a new capture; when replace_id > 0 first delete that capture and its
 * flows, transitions and segments (inside the same transaction).  Inserts the captures row
 * and returns its id (> 0), or -1.
 */
int64_t fsc_store_begin_capture(struct fsc_store *s, const struct fsc_capture_info *ci,
                                int64_t replace_id, char *err, size_t errlen);

/* Inside the open capture transaction, delete capture id and its rows (replace after the fact,
 * when the hash is only known at the end, as for stdin).  0 or -1. */
int fsc_store_delete_capture(struct fsc_store *s, int64_t id, char *err, size_t errlen);

/* Insert one finalized flow with its n transitions tr (fsc_flow_transitions) and its segments;
 * sets f->id.  0 or -1. */
int fsc_store_flow(struct fsc_store *s, int64_t capture_id, struct fsc_flow *f,
                   const struct fsc_transition *tr, uint32_t n, char *err, size_t errlen);

/*
 * The held_flows rows of a live capture: the connections it still holds, as they stand (no
 * closer or closer_call yet), so that state_intervals counts them while it runs.  clear deletes
 * the capture's rows; held_flow adds one with its n transitions so far.  end_capture deletes
 * them (every held connection is a flows row by then).  Inside the capture transaction; 0 or -1.
 */
int fsc_store_held_clear(struct fsc_store *s, int64_t capture_id, char *err, size_t errlen);
int fsc_store_held_flow(struct fsc_store *s, int64_t capture_id, const struct fsc_flow *f,
                        const struct fsc_transition *tr, uint32_t n, char *err, size_t errlen);

/* COMMIT what has been written so far and BEGIN again (live capture).  0 or -1. */
int fsc_store_checkpoint(struct fsc_store *s, char *err, size_t errlen);

/* Update the captures row with the counters so far, COMMIT and BEGIN again (live: readers see
 * the capture grow every second).  0 or -1. */
int fsc_store_commit_capture(struct fsc_store *s, int64_t capture_id,
                             const struct fsc_capture_info *ci, char *err, size_t errlen);

/* Switch the file to WAL mode (persistent), so readers never block the writer and see every
 * commit while a live capture runs.  0 or -1. */
int fsc_store_wal(struct fsc_store *s, char *err, size_t errlen);

/*
 * Record that frames first_frame..last_frame of capture capture_id are frames 1.. of the file
 * path (its file_no-th file; last_frame < first_frame: no frame yet, and last_frame and the
 * times are stored as NULL), inside the
 * open transaction; written again with the same file_no it replaces the row.  `live -w` calls
 * it for each file it writes; a capture read from a file gets its row when it ends.  0 or -1.
 */
int fsc_store_capture_file(struct fsc_store *s, int64_t capture_id, int file_no, const char *path,
                           uint64_t first_frame, uint64_t last_frame, fsc_time first_ts,
                           fsc_time last_ts, char *err, size_t errlen);

/* Update the captures row with the final counters and COMMIT.  0 or -1. */
int fsc_store_end_capture(struct fsc_store *s, int64_t capture_id,
                          const struct fsc_capture_info *ci, char *err, size_t errlen);

/* ROLLBACK the open capture transaction (nothing of it remains). */
void fsc_store_abort_capture(struct fsc_store *s);

/*
 * Run one SQL statement (with optional ?1 bound to an integer when bind_id >= 0) and call row()
 * for each result row with the column count, names and text values (NULL for SQL NULL).
 * row() returns 0 to go on, non-zero to stop.  Returns 0 or -1 (SQLite's message in err).
 */
typedef int (*fsc_store_row_fn)(void *user, int ncol, const char *const *names,
                                const char *const *values);
int fsc_store_query(struct fsc_store *s, const char *sql, int64_t bind_id, fsc_store_row_fn row,
                    void *user, char *err, size_t errlen);

/* Storage class of a value passed to fsc_store_user_fn (SQLite's fundamental types). */
enum fsc_value_type {
    FSC_VALUE_INTEGER = 1,
    FSC_VALUE_FLOAT = 2,
    FSC_VALUE_TEXT = 3,
    FSC_VALUE_BLOB = 4,
    FSC_VALUE_NULL = 5,
};

/*
 * Callbacks for fsc_store_query_user().  begin() is called once per statement that yields
 * columns, before its rows; row() once per result row with the text of each value (NULL for SQL
 * NULL) and its storage class in types[]; end() after the statement's last row.  Any of them may
 * be NULL; a non-zero return stops the query (still a success).
 */
struct fsc_store_user_fn {
    int (*begin)(void *user, int ncol, const char *const *names);
    int (*row)(void *user, int ncol, const char *const *values, const int *types);
    int (*end)(void *user, int ncol);
};

/*
 * Run SQL a person typed: one or several ';'-separated statements, in order, strictly read-only.
 * A statement that could write (sqlite3_stmt_readonly() false), ATTACH, DETACH, a PRAGMA with an
 * argument other than the schema-reading ones (table_info and the like) and extension loading are
 * refused before anything runs; the connection should also be opened read-only.  Returns 0, or
 * -1 with SQLite's message (or the refusal) in err.
 */
int fsc_store_query_user(struct fsc_store *s, const char *sql, const struct fsc_store_user_fn *fn,
                         void *user, char *err, size_t errlen);

/* A value for a numbered parameter: text when text is not NULL (borrowed), else the integer i. */
struct fsc_store_param {
    const char *text;
    int64_t i;
};

/*
 * fsc_store_query_user() on one statement whose parameters ?1 .. ?np are bound to params (a
 * program's filter values, never pasted into the SQL text); the statement must have exactly np
 * parameters.  Returns 0, or -1 with a message in err.
 */
int fsc_store_query_bound(struct fsc_store *s, const char *sql,
                          const struct fsc_store_param *params, int np,
                          const struct fsc_store_user_fn *fn, void *user, char *err, size_t errlen);

#endif
