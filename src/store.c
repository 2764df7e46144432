/* store.c - the SQLite database: schema, capture transactions, flow rows, and ad-hoc queries. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "finscope/census.h"
#include "finscope/store.h"

/*
 * The whole schema, applied in one transaction to an empty file.  docs/schema.md documents every
 * column; a change here means FSC_SCHEMA_VERSION + 1 and a migration.  Times are REAL seconds
 * since the Unix epoch, durations REAL seconds; tokens are the stable names from the headers.
 * Ids are AUTOINCREMENT: a replaced capture's ids are never handed out again, so an id
 * someone wrote down never comes to mean another capture or flow.
 * One string on purpose, so the schema reads as one piece; it exceeds the 4095 bytes that ISO C
 * promises every compiler takes, which GCC and Clang do not care about.
 */
/* proven: how many of those flows' causes the packets prove (rst_cause_proven = 1). */
#define RST_CAUSES_VIEW                                                                            \
    "CREATE VIEW rst_causes AS\n"                                                                  \
    "    SELECT rst_cause, count(*) AS flows,\n"                                                   \
    "           round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS pct,\n"                      \
    "           sum(rst_cause_proven = 1) AS proven\n"                                             \
    "    FROM flows WHERE close_kind = 'rst' GROUP BY rst_cause ORDER BY flows DESC, rst_cause;\n"

/*
 * When each endpoint entered each state and how long it held it.  The held time is each log
 * entry's element 6 (build_transition_log: the time to the endpoint's own next transition,
 * absent on its last), so no window sorts every transition (schema 4 computed it with lead()
 * over the transitions view: 17 s for `count(*)` on 500,000 flows).  leave_ts is the next
 * transition's own integer microseconds over 1e6, as lead(ts) gave it; dwell_s is rounded to the
 * microsecond (the difference of two epoch doubles carries binary noise).
 */
#define TR_V "j.value"
#define STATE_DWELL_VIEW                                                                           \
    "CREATE VIEW state_dwell AS\n"                                                                 \
    "    SELECT f.id AS flow_id, " FSC_SQL_TR_ENDPOINT(                                            \
        TR_V) " AS endpoint,\n"                                                                    \
              "           " FSC_SQL_TR_TO(                                                         \
                  TR_V) " AS state,\n"                                                             \
                        "           " TR_TS_US " / 1e6 AS enter_ts,\n"                             \
                        "           (" TR_TS_US " + " FSC_SQL_TR_HELD_US(                          \
                            TR_V) ") / 1e6 AS leave_ts,\n"                                         \
                                  "           round((" TR_TS_US " + " FSC_SQL_TR_HELD_US(          \
                                      TR_V) ") / 1e6 - " TR_TS_US " / 1e6, 6)\n"                   \
                                            "               AS dwell_s,\n"                         \
                                            "           " FSC_SQL_TR_PACKET(                       \
                                                TR_V, "f.first_packet",                            \
                                                "f.segment_log") " AS enter_packet,\n"             \
                                                                 "          "                      \
                                                                 " " FSC_SQL_TR_EVIDENCE(          \
                                                                     TR_V) " AS evidence\n"        \
                                                                           "    FROM flows AS f, " \
                                                                           "json_each(f."          \
                                                                           "transition_log) AS "   \
                                                                           "j;\n"
#define TR_TS_US FSC_SQL_TR_TS_US(TR_V, "f.first_ts", "f.segment_log")

/* The logs as tables (schema 6: decoded from their compact form, store.h). */
#define LOG_VIEWS                                                                                                                                                           \
    "CREATE VIEW transitions AS\n"                                                                                                                                          \
    "    SELECT f.id AS flow_id, j.key AS ord, " FSC_SQL_TR_ENDPOINT(                                                                                                       \
        TR_V) " AS endpoint,\n"                                                                                                                                             \
              "           " FSC_SQL_TR_FROM(TR_V) " AS from_state, " FSC_SQL_TR_TO(                                                                                         \
                  TR_V) " AS to_state,\n"                                                                                                                                   \
                        "           " TR_TS_US " / 1e6 AS ts,\n"                                                                                                            \
                        "           " FSC_SQL_TR_PACKET(                                                                                                                    \
                            TR_V, "f.first_packet",                                                                                                                         \
                            "f.segment_log") " AS packet,\n"                                                                                                                \
                                             "           " FSC_SQL_TR_EVIDENCE(                                                                                             \
                                                 TR_V) " AS evidence\n"                                                                                                     \
                                                       "    FROM flows AS f, "                                                                                              \
                                                       "json_each(f.transition_log) AS j;\n"                                                                                \
                                                       "CREATE VIEW segments AS\n"                                                                                          \
                                                       "    SELECT f.id AS flow_id, j.key AS "                                                                              \
                                                       "ord, " FSC_SQL_SEG_PACKET(                                                                                          \
                                                           TR_V,                                                                                                            \
                                                           "f.first_packet") " AS packet,\n"                                                                                \
                                                                             "          "                                                                                   \
                                                                             " " FSC_SQL_SEG_TS_US(                                                                         \
                                                                                 TR_V,                                                                                      \
                                                                                 "f.first_"                                                                                 \
                                                                                 "ts") " / "                                                                                \
                                                                                       "1e6"                                                                                \
                                                                                       " AS"                                                                                \
                                                                                       " ts"                                                                                \
                                                                                       ",\n"                                                                                \
                                                                                       "   "                                                                                \
                                                                                       "   "                                                                                \
                                                                                       "   "                                                                                \
                                                                                       " "                                                                                  \
                                                                                       " " FSC_SQL_SEG_SENDER(TR_V) " AS sender, " FSC_SQL_SEG_FLAGS(                       \
                                                                                           TR_V) " AS flags,\n"                                                             \
                                                                                                 "           " FSC_SQL_SEG_SEQ(TR_V) " AS rel_seq, " FSC_SQL_SEG_ACK(       \
                                                                                                     TR_V) " AS rel_ack,\n"                                                 \
                                                                                                           "           " FSC_SQL_SEG_LEN(TR_V) " AS len, " FSC_SQL_SEG_WHY( \
                                                                                                               TR_V) " AS why\n"                                            \
                                                                                                                     "    FROM flows AS f, json_each(f.segment_log) AS j;\n"

/* The names the compact logs' codes stand for (fill_tokens()). */
#define TOKENS_TABLE                                                                               \
    "CREATE TABLE tokens (\n"                                                                      \
    "    kind TEXT NOT NULL,\n"                                                                    \
    "    code INTEGER NOT NULL,\n"                                                                 \
    "    name TEXT NOT NULL,\n"                                                                    \
    "    PRIMARY KEY (kind, code),\n"                                                              \
    "    UNIQUE (kind, name)\n"                                                                    \
    ") WITHOUT ROWID;\n"

/*
 * Connections a running `live` still holds, as they stand at its last commit (it replaces them
 * every commit, and deletes them when the capture ends: by then every one is a flows row).
 * Only what state_intervals reads; closer and closer_call are not known before the end.
 */
#define HELD_FLOWS_TABLE                                                                           \
    "CREATE TABLE held_flows (\n"                                                                  \
    "    id INTEGER PRIMARY KEY,\n"                                                                \
    "    capture_id INTEGER NOT NULL,\n"                                                           \
    "    client_addr TEXT NOT NULL,\n"                                                             \
    "    client_port INTEGER NOT NULL,\n"                                                          \
    "    server_addr TEXT NOT NULL,\n"                                                             \
    "    server_port INTEGER NOT NULL,\n"                                                          \
    "    first_ts REAL NOT NULL,\n"                                                                \
    "    last_ts REAL NOT NULL,\n"                                                                 \
    "    transition_log TEXT NOT NULL DEFAULT '[]'\n"                                              \
    ");\n"                                                                                         \
    "CREATE INDEX held_flows_capture ON held_flows (capture_id);\n"

/*
 * Which file holds which frames (schema 4): frames first_frame..last_frame of a capture are
 * frames 1..(last_frame - first_frame + 1) of path.  A capture read from a file is its one
 * file (written when the capture ends); live -w writes one row per file it writes (rotation).
 */
#define CAPTURE_FILES_TABLE                                                                        \
    "CREATE TABLE capture_files (\n"                                                               \
    "    capture_id INTEGER NOT NULL,\n"                                                           \
    "    file_no INTEGER NOT NULL,\n"                                                              \
    "    path TEXT NOT NULL,\n"                                                                    \
    "    first_frame INTEGER NOT NULL,\n"                                                          \
    "    last_frame INTEGER,\n"                                                                    \
    "    first_ts REAL,\n"                                                                         \
    "    last_ts REAL,\n"                                                                          \
    "    PRIMARY KEY (capture_id, file_no)\n"                                                      \
    ");\n"

/*
 * The flows table, one line per column after id: its name, its declaration, and the value bound
 * for a flow being inserted (an expression over insert_flow_row()'s locals: the statement st,
 * the parameter i, the flow f, its ends c and v, Zeek's record z when zk, zb when it has byte
 * counts, ...).  It generates the CREATE TABLE, the INSERT's column list and placeholders, and
 * the binds, all in this order, so a new column is one line here (at the end: the order is what
 * `SELECT *` shows) plus its migration.  docs/schema.md documents every column.
 */
/* clang-format off */
#define FLOW_COLUMNS(X)                                                                            \
    X(capture_id, "INTEGER NOT NULL", sqlite3_bind_int64(st, i, capture_id))                       \
    X(ip_version, "INTEGER NOT NULL", sqlite3_bind_int(st, i, f->ip_version))                      \
    X(client_addr, "TEXT NOT NULL", bind_text(st, i, caddr))                                       \
    X(client_port, "INTEGER NOT NULL", sqlite3_bind_int(st, i, c->port))                           \
    X(server_addr, "TEXT NOT NULL", bind_text(st, i, saddr))                                       \
    X(server_port, "INTEGER NOT NULL", sqlite3_bind_int(st, i, v->port))                           \
    X(first_ts, "REAL NOT NULL", bind_seconds(st, i, f->first_ts))                                 \
    X(last_ts, "REAL NOT NULL", bind_seconds(st, i, f->last_ts))                                   \
    X(duration_s, "REAL NOT NULL", bind_seconds(st, i, f->last_ts - f->first_ts))                  \
    X(first_packet, "INTEGER NOT NULL", bind_u64(st, i, f->first_packet))                          \
    X(handshake, "TEXT NOT NULL", bind_text(st, i, fsc_handshake_name(f->handshake)))              \
    X(close_kind, "TEXT NOT NULL", bind_text(st, i, fsc_close_kind_name(f->close_kind)))           \
    X(rst_cause, "TEXT", bind_text(st, i, fsc_rst_cause_name(f->rst_cause)))                       \
    X(closer, "TEXT NOT NULL", bind_text(st, i, fsc_closer_name(f->closer)))                       \
    X(client_state, "TEXT NOT NULL", bind_text(st, i, cstate))                                     \
    X(server_state, "TEXT NOT NULL", bind_text(st, i, vstate))                                     \
    X(client_packets, "INTEGER NOT NULL", bind_u64(st, i, c->pkts))                                \
    X(server_packets, "INTEGER NOT NULL", bind_u64(st, i, v->pkts))                                \
    X(client_bytes, "INTEGER NOT NULL", bind_u64(st, i, c->bytes))                                 \
    X(server_bytes, "INTEGER NOT NULL", bind_u64(st, i, v->bytes))                                 \
    X(half_close_bytes, "INTEGER NOT NULL", bind_u64(st, i, f->half_close_bytes))                  \
    X(client_retrans_bytes, "INTEGER NOT NULL", bind_u64(st, i, c->retrans_bytes))                 \
    X(server_retrans_bytes, "INTEGER NOT NULL", bind_u64(st, i, v->retrans_bytes))                 \
    X(client_gap_bytes, "INTEGER NOT NULL", bind_u64(st, i, c->gap_bytes))                         \
    X(server_gap_bytes, "INTEGER NOT NULL", bind_u64(st, i, v->gap_bytes))                         \
    X(fin_retrans, "INTEGER NOT NULL", bind_u64(st, i, (uint64_t)c->fin_retrans + v->fin_retrans)) \
    X(rst_after_close, "INTEGER NOT NULL", bind_u64(st, i, f->rst_after_close))                    \
    X(handshake_rtt_s, "REAL", rtt ? bind_seconds(st, i, f->hs_done_ts - f->syn_ts) : null(st, i)) \
    X(close_wait_s, "REAL", bind_opt_seconds(st, i, f->close_wait_us))                             \
    X(fin_wait_2_s, "REAL", bind_opt_seconds(st, i, f->fin_wait_2_us))                             \
    X(last_ack_s, "REAL", bind_opt_seconds(st, i, f->last_ack_us))                                 \
    /* Only a SYN shows the ISN; a midstream flow's relative base is not one. */                   \
    X(client_isn, "INTEGER", c->syn_sent ? bind_u64(st, i, c->isn) : null(st, i))                  \
    X(server_isn, "INTEGER", v->syn_sent ? bind_u64(st, i, v->isn) : null(st, i))                  \
    X(midstream, "INTEGER NOT NULL", sqlite3_bind_int(st, i, f->midstream))                        \
    X(self_connect, "INTEGER NOT NULL", sqlite3_bind_int(st, i, f->self_connect))                  \
    X(anomalies, "TEXT NOT NULL DEFAULT ''", bind_text(st, i, anomalies))                          \
    /* Derived paths always fit. */                                                                \
    X(transitions_dropped, "INTEGER NOT NULL DEFAULT 0", bind_u64(st, i, 0))                       \
    X(segments_dropped, "INTEGER NOT NULL DEFAULT 0", bind_u64(st, i, f->dropped_seg))             \
    X(transition_log, "TEXT NOT NULL DEFAULT '[]'", bind_log(st, i, &s->tr_log))                   \
    X(segment_log, "TEXT NOT NULL DEFAULT '[]'", bind_log(st, i, &s->seg_log))                     \
    /* Zeek's view: the flow's last (or only) Zeek record; NULLs when Zeek saw no record. */       \
    X(zeek_conn_state, "TEXT", zk ? bind_text(st, i, zstate) : null(st, i))                        \
    X(zeek_history, "TEXT", zk ? bind_text(st, i, z->history) : null(st, i))                       \
    X(zeek_orig, "TEXT", zk ? bind_text(st, i, z->orig_is_client ? "client" : "server")            \
                            : null(st, i))                                                         \
    X(zeek_orig_bytes, "INTEGER", zb ? bind_u64(st, i, z->orig_bytes) : null(st, i))               \
    X(zeek_resp_bytes, "INTEGER", zb ? bind_u64(st, i, z->resp_bytes) : null(st, i))               \
    X(zeek_ts, "REAL", zk ? bind_seconds(st, i, z->ts) : null(st, i))                              \
    X(zeek_duration_s, "REAL", zk ? bind_seconds(st, i, z->duration_us) : null(st, i))             \
    X(zeek_orig_pkts, "INTEGER", zk ? bind_u64(st, i, z->orig_pkts) : null(st, i))                 \
    X(zeek_resp_pkts, "INTEGER", zk ? bind_u64(st, i, z->resp_pkts) : null(st, i))                 \
    X(zeek_earlier, "TEXT NOT NULL DEFAULT '[]'", bind_log(st, i, &s->zeek_log))                   \
    X(rst_cause_proven, "INTEGER", f->rst_cause != FSC_RC_NONE                                     \
                                       ? sqlite3_bind_int(st, i, f->rst_cause_proven)              \
                                       : null(st, i))                                              \
    X(closer_call, "TEXT", bind_text(st, i, fsc_closer_call_name(f->closer_call)))                 \
    X(last_packet, "INTEGER", bind_u64(st, i, f->last_packet))
/* clang-format on */
/* What a column table (FLOW_COLUMNS, CAPTURE_COLUMNS) generates, one column at a time: its
 * declaration, its name in a list, its placeholder, its bind (needs locals st, i and rc). */
#define COL_DECL(name, decl, value) ",\n    " #name " " decl
#define COL_NAME(name, decl, value) #name ", "
#define COL_PARAM(name, decl, value) "?, "
#define COL_BIND(name, decl, value)                                                                \
    B(value);                                                                                      \
    i++;
/* clang-format off */
#define FLOWS_TABLE                                                                                \
    "CREATE TABLE flows (\n"                                                                       \
    "    id INTEGER PRIMARY KEY AUTOINCREMENT" FLOW_COLUMNS(COL_DECL) "\n"                         \
    ");\n"
/* clang-format on */

/*
 * The captures columns that the INSERT at the start and the UPDATE of the counters share, in the
 * table's order (between source and analyzed_at), as FLOW_COLUMNS: name, declaration, value
 * bound (bind_capture()'s locals: st, i, the capture ci, skipped its skipped frames, have_ts).
 */
/* clang-format off */
#define CAPTURE_COLUMNS(X)                                                                         \
    X(size_bytes, "INTEGER", bind_opt_i64(st, i, ci->size_bytes))                                  \
    X(hash, "TEXT", bind_text(st, i, ci->hash))                                                    \
    X(link_type, "TEXT", bind_text(st, i, ci->link_type))                                          \
    X(link_type_id, "INTEGER", sqlite3_bind_int(st, i, ci->link_type_id))                          \
    X(filter, "TEXT", bind_text(st, i, ci->filter))                                                \
    X(packets_read, "INTEGER NOT NULL DEFAULT 0", bind_u64(st, i, ci->packets_read))               \
    X(packets_tcp, "INTEGER NOT NULL DEFAULT 0", bind_u64(st, i, ci->packets_tcp))                 \
    X(packets_skipped, "INTEGER NOT NULL DEFAULT 0", bind_u64(st, i, skipped))                     \
    X(truncated, "INTEGER NOT NULL DEFAULT 0", sqlite3_bind_int(st, i, ci->truncated))             \
    X(truncated_at, "INTEGER", bind_opt_i64(st, i, ci->truncated_at))                              \
    X(drops, "INTEGER", bind_opt_i64(st, i, ci->drops))                                            \
    X(first_ts, "REAL", have_ts ? bind_seconds(st, i, ci->first_ts) : null(st, i))                 \
    X(last_ts, "REAL", have_ts ? bind_seconds(st, i, ci->last_ts) : null(st, i))                   \
    X(flows, "INTEGER NOT NULL DEFAULT 0", bind_u64(st, i, ci->flows))                             \
    X(flows_evicted, "INTEGER NOT NULL DEFAULT 0", bind_u64(st, i, ci->flows_evicted))
#define CAPTURES_TABLE                                                                             \
    "CREATE TABLE captures (\n"                                                                    \
    "    id INTEGER PRIMARY KEY AUTOINCREMENT,\n"                                                  \
    "    source TEXT NOT NULL" CAPTURE_COLUMNS(COL_DECL) ",\n"                                     \
    "    analyzed_at TEXT NOT NULL,\n"                                                             \
    "    finscope_version TEXT NOT NULL\n"                                                         \
    ");\n"
/* clang-format on */

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverlength-strings"
/* clang-format off */
static const char schema_sql[] =
    CAPTURES_TABLE
    "CREATE TABLE skipped (\n"
    "    capture_id INTEGER NOT NULL,\n"
    "    reason TEXT NOT NULL,\n"
    "    packets INTEGER NOT NULL,\n"
    "    PRIMARY KEY (capture_id, reason)\n"
    ") WITHOUT ROWID;\n" FLOWS_TABLE
    /*
     * A flow's transitions and control segments live in its row as JSON arrays (one insert per
     * flow instead of ~17: SQLite spends ~1.3 us per row, measured, and rows were 60% of the
     * whole analysis), in the compact form store.h decodes (schema 6: 1,875 to ~700 bytes a
     * connection-heavy flow).  These views give them back as tables, as they were before;
     * times are integer microseconds in the JSON, seconds here.
     */
    TOKENS_TABLE LOG_VIEWS HELD_FLOWS_TABLE CAPTURE_FILES_TABLE
    "CREATE INDEX flows_capture ON flows (capture_id);\n"
    "CREATE INDEX flows_close_kind ON flows (close_kind);\n"
    "CREATE INDEX flows_server ON flows (server_addr, server_port);\n"
    "CREATE INDEX captures_hash ON captures (hash);\n"
    /* Share views: sum() OVER () is the grand total of the grouped counts, so one scan does. */
    "CREATE VIEW close_kinds AS\n"
    "    SELECT close_kind, count(*) AS flows,\n"
    "           round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS pct\n"
    "    FROM flows GROUP BY close_kind ORDER BY flows DESC, close_kind;\n"
    "CREATE VIEW handshakes AS\n"
    "    SELECT handshake, count(*) AS flows,\n"
    "           round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS pct\n"
    "    FROM flows GROUP BY handshake ORDER BY flows DESC, handshake;\n" RST_CAUSES_VIEW
    "CREATE VIEW closers AS\n"
    "    SELECT closer, count(*) AS flows,\n"
    "           round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS pct\n"
    "    FROM flows GROUP BY closer ORDER BY flows DESC, closer;\n"
    /*
     * Median per server: rank the non-NULL dwell times (NULLS LAST keeps the ranks of real values
     * at 1..nv) and average the rows at ranks (nv+1)/2 and (nv+2)/2, which are the same row for
     * an odd count and the two middle rows for an even one.
     */
    "CREATE VIEW close_wait_suspects AS\n"
    "    WITH cw AS (\n"
    "        SELECT server_addr, server_port, close_wait_s,\n"
    "               row_number() OVER (PARTITION BY server_addr, server_port\n"
    "                                  ORDER BY close_wait_s NULLS LAST) AS rn,\n"
    "               count(close_wait_s) OVER (PARTITION BY server_addr, server_port) AS nv\n"
    "        FROM flows WHERE close_kind = 'half_closed' AND server_state = 'close_wait')\n"
    "    SELECT server_addr, server_port, count(*) AS flows,\n"
    "           avg(CASE WHEN rn IN ((nv + 1) / 2, (nv + 2) / 2) THEN close_wait_s END)\n"
    "               AS median_close_wait_s,\n"
    "           max(close_wait_s) AS max_close_wait_s\n"
    "    FROM cw GROUP BY server_addr, server_port\n"
    "    ORDER BY flows DESC, max_close_wait_s DESC, server_addr, server_port;\n"
    STATE_DWELL_VIEW
    /* How long each endpoint held each state, with the kernel's lifetimes (census.h). */
    FSC_SQL_STATE_INTERVALS_VIEW;
/* clang-format on */
#pragma GCC diagnostic pop

/*
 * The statements the column tables generate.  No list may end in a comma: the INSERTs end theirs
 * with id NULL (SQLite hands out the next id), the UPDATE with id = id (changes nothing).
 */
/* clang-format off */
#define INS_FLOW_SQL                                                                               \
    "INSERT INTO flows (" FLOW_COLUMNS(COL_NAME) "id) VALUES (" FLOW_COLUMNS(COL_PARAM) "NULL)"
#define INS_CAPTURE_SQL                                                                            \
    "INSERT INTO captures (source, " CAPTURE_COLUMNS(COL_NAME) "analyzed_at, finscope_version) "   \
    "VALUES (?, " CAPTURE_COLUMNS(COL_PARAM) "strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), ?)"
#define UPD_CAPTURE_SQL                                                                            \
    "UPDATE captures SET (" CAPTURE_COLUMNS(COL_NAME) "id) = (" CAPTURE_COLUMNS(COL_PARAM) "id) "  \
    "WHERE id = ?"
/* clang-format on */

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_FIND_CAPTURE,
    ST_DEL_FLOWS,
    ST_DEL_SKIPPED,
    ST_DEL_CAPTURE,
    ST_DEL_HELD,
    ST_INS_HELD,
    ST_INS_CAPTURE,
    ST_UPD_CAPTURE,
    ST_INS_SKIPPED,
    ST_INS_FLOW,
    ST_DEL_FILES,
    ST_INS_FILE,
    ST__COUNT
};

static const struct {
    const char *what; /* names the statement in error messages */
    const char *sql;
} stmt_def[ST__COUNT] = {
    [ST_BEGIN] = {"begin transaction", "BEGIN IMMEDIATE"},
    [ST_COMMIT] = {"commit", "COMMIT"},
    [ST_ROLLBACK] = {"rollback", "ROLLBACK"},
    [ST_FIND_CAPTURE] = {"find capture",
                         "SELECT id FROM captures WHERE hash = ?1 ORDER BY id DESC LIMIT 1"},
    [ST_DEL_FLOWS] = {"delete replaced flows", "DELETE FROM flows WHERE capture_id = ?1"},
    [ST_DEL_SKIPPED] = {"delete replaced skip counts", "DELETE FROM skipped WHERE capture_id = ?1"},
    [ST_DEL_CAPTURE] = {"delete replaced capture", "DELETE FROM captures WHERE id = ?1"},
    [ST_DEL_HELD] = {"delete held connections", "DELETE FROM held_flows WHERE capture_id = ?1"},
    [ST_DEL_FILES] = {"delete capture files", "DELETE FROM capture_files WHERE capture_id = ?1"},
    [ST_INS_FILE] = {"insert capture file",
                     "INSERT OR REPLACE INTO capture_files (capture_id, file_no, path, "
                     "first_frame, last_frame, first_ts, last_ts) VALUES (?,?,?,?,?,?,?)"},
    [ST_INS_HELD] = {"insert held connection",
                     "INSERT INTO held_flows (capture_id, client_addr, client_port, server_addr, "
                     "server_port, first_ts, last_ts, transition_log) VALUES (?,?,?,?,?,?,?,?)"},
    [ST_INS_CAPTURE] = {"insert capture", INS_CAPTURE_SQL},
    [ST_UPD_CAPTURE] = {"update capture", UPD_CAPTURE_SQL},
    [ST_INS_SKIPPED] = {"insert skip count",
                        "INSERT OR REPLACE INTO skipped (capture_id, reason, packets) "
                        "VALUES (?,?,?)"},
    [ST_INS_FLOW] = {"insert flow", INS_FLOW_SQL},
};

/* A growable text buffer, reused from flow to flow (no allocation per flow once warm). */
struct text {
    char *p;
    size_t len, cap;
    bool oom;
};

struct fsc_store {
    sqlite3 *db;
    char *path;
    bool read_only;
    sqlite3_stmt *st[ST__COUNT];
    struct text tr_log, seg_log, zeek_log; /* the JSON of the flow being inserted */
};

#define seterr fsc_seterr

/* "PATH: what failed: SQLite's message" for the last error on the connection. */
static void dberr(const struct fsc_store *s, const char *what, char *err, size_t errlen)
{
    seterr(err, errlen, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

/* Forget a used statement's state and bindings, so no borrowed string outlives its call. */
static void done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Step prepared statement k, whose parameters are bound, to completion.  0 or -1. */
static int run(struct fsc_store *s, int k, char *err, size_t errlen)
{
    sqlite3_stmt *st = s->st[k];
    int rc = sqlite3_step(st);

    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        dberr(s, stmt_def[k].what, err, errlen);
        done(st);
        return -1;
    }
    done(st);
    return 0;
}

/* Bind helpers: each returns an SQLite result code so callers can chain them. */
static int bind_text(sqlite3_stmt *st, int i, const char *v)
{
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

static int bind_u64(sqlite3_stmt *st, int i, uint64_t v)
{
    /* Counters never approach 2^63; SQLite integers are signed 64-bit. */
    return sqlite3_bind_int64(st, i, (sqlite3_int64)v);
}

/* A NULL for the column at parameter i (the column tables' "not known" values). */
static int null(sqlite3_stmt *st, int i)
{
    return sqlite3_bind_null(st, i);
}

/* A value that uses -1 (or any negative) for "unknown". */
static int bind_opt_i64(sqlite3_stmt *st, int i, int64_t v)
{
    return v < 0 ? sqlite3_bind_null(st, i) : sqlite3_bind_int64(st, i, v);
}

static int bind_seconds(sqlite3_stmt *st, int i, fsc_time t)
{
    return sqlite3_bind_double(st, i, fsc_time_seconds(t));
}

/* A duration in microseconds, negative meaning "never happened" (NULL). */
static int bind_opt_seconds(sqlite3_stmt *st, int i, int64_t us)
{
    return us < 0 ? sqlite3_bind_null(st, i) : bind_seconds(st, i, us);
}

/*
 * Chain binds: B(expr) runs expr only while everything so far succeeded, so one check after a
 * long list reports the first failure.  Needs locals rc (int) and i (next parameter index).
 */
#define B(expr)                                                                                    \
    do {                                                                                           \
        if (rc == SQLITE_OK)                                                                       \
            rc = (expr);                                                                           \
    } while (0)

/* After a chain of binds: every parameter bound, none failed.  0, or -1 with the reason. */
static int bound(struct fsc_store *s, int k, int rc, int next, char *err, size_t errlen)
{
    if (rc != SQLITE_OK) {
        dberr(s, stmt_def[k].what, err, errlen);
        done(s->st[k]);
        return -1;
    }
    if (next - 1 != sqlite3_bind_parameter_count(s->st[k])) {
        /* A mismatch between a column list and its binds is a bug here, not bad input. */
        seterr(err, errlen, "%s: %s: bound %d of %d parameters", s->path, stmt_def[k].what,
               next - 1, sqlite3_bind_parameter_count(s->st[k]));
        done(s->st[k]);
        return -1;
    }
    return 0;
}

/* Bind CAPTURE_COLUMNS from parameter *ip on. */
static int bind_capture(sqlite3_stmt *st, int *ip, const struct fsc_capture_info *ci)
{
    int rc = SQLITE_OK, i = *ip;
    uint64_t skipped = 0;
    bool have_ts = ci->packets_read > 0; /* time 0 is a legal stamp; no packet means no stamp */

    for (int r = FSC_SKIP_NONE + 1; r < FSC_SKIP__COUNT; r++)
        skipped += ci->skipped[r];
    CAPTURE_COLUMNS(COL_BIND)
    *ip = i;
    return rc;
}

/* Run a one-row, one-integer statement (a PRAGMA or a count).  Returns the SQLite code. */
static int query_int(sqlite3 *db, const char *sql, int64_t *v)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *v = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            *v = 0;
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/*
 * Decide whether the open file may be used, reading only (nothing here writes, so a refused file
 * stays byte-identical).  Sets *empty for a file with no schema and no marks at all.
 * 0 when usable, -1 refused with the reason in err.
 */
static int check_file(struct fsc_store *s, bool *empty, int64_t *version_out, char *err,
                      size_t errlen)
{
    const char *hint = s->read_only ? "" : "; use another -o file";
    int64_t app_id = 0, version = 0, objects = 0;
    int rc = query_int(s->db, "PRAGMA application_id", &app_id);

    if (rc == SQLITE_OK)
        rc = query_int(s->db, "PRAGMA user_version", &version);
    *version_out = version;
    if (rc == SQLITE_OK)
        rc = query_int(s->db, "SELECT count(*) FROM sqlite_master", &objects);
    if ((rc & 0xff) == SQLITE_NOTADB) {
        seterr(err, errlen, "%s: not an SQLite database%s", s->path, hint);
        return -1;
    }
    if (rc != SQLITE_OK) {
        dberr(s, "cannot read database", err, errlen);
        return -1;
    }
    *empty = app_id == 0 && version == 0 && objects == 0;
    if (*empty)
        return 0;
    if (app_id != FSC_APPLICATION_ID) {
        seterr(err, errlen, "%s: not a finscope database (application_id 0x%08x)%s", s->path,
               (unsigned)(uint32_t)app_id, hint);
        return -1;
    }
    if (version > FSC_SCHEMA_VERSION) {
        seterr(err, errlen,
               "%s: written by a newer finscope (schema %lld, this build reads up to %d)", s->path,
               (long long)version, FSC_SCHEMA_VERSION);
        return -1;
    }
    if (version < 1 || objects == 0) {
        /* Marked as ours but the schema transaction never ran: nothing sane to build on. */
        seterr(err, errlen, "%s: finscope database without a schema (user_version %lld)%s", s->path,
               (long long)version, hint);
        return -1;
    }
    return 0;
}

static const char *tcp_flags_str(uint8_t flags, char *buf);

/* The tokens table's rows: every code the compact logs use (store.h), from the enums. */
static int fill_tokens(sqlite3 *db)
{
    static const char *const endpoints[2] = {"client", "server"};
    sqlite3_stmt *st = NULL;
    char buf[128];
    int rc = sqlite3_prepare_v2(db, "INSERT INTO tokens (kind, code, name) VALUES (?1, ?2, ?3)", -1,
                                &st, NULL);

    _Static_assert(FSC_TCP__COUNT <= 16 && FSC_EV__COUNT < 64, "the log codes' radixes");
    for (int k = 0; rc == SQLITE_OK && k < 2 + FSC_TCP__COUNT + FSC_EV__COUNT + 512; k++) {
        const char *kind, *name;
        int code = k;
        if (code < 2) {
            kind = "endpoint", name = endpoints[code];
        } else if ((code -= 2) < FSC_TCP__COUNT) {
            kind = "state", name = fsc_tcp_state_name((enum fsc_tcp_state)code);
        } else if ((code -= FSC_TCP__COUNT) < FSC_EV__COUNT) {
            kind = "evidence", name = fsc_evidence_name((enum fsc_evidence)code);
        } else if ((code -= FSC_EV__COUNT) < 256) {
            kind = "flags", name = tcp_flags_str((uint8_t)code, buf);
        } else {
            code -= 256;
            kind = "why", name = fsc_segment_why_str((unsigned)code, buf, sizeof buf);
        }
        if (sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_int(st, 2, code) != SQLITE_OK ||
            sqlite3_bind_text(st, 3, name, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_DONE || sqlite3_reset(st) != SQLITE_OK)
            rc = SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Give an empty file the schema, atomically; a concurrent creator is detected and accepted. */
static int create_schema(struct fsc_store *s, char *err, size_t errlen)
{
    char sql[128];
    bool empty = false;
    char *msg = NULL;
    int64_t version;

    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        dberr(s, "begin schema transaction", err, errlen);
        return -1;
    }
    /* Another process may have created it while we waited for the write lock. */
    if (check_file(s, &empty, &version, err, errlen) < 0)
        goto fail;
    if (!empty) {
        if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
            return 0;
        dberr(s, "commit", err, errlen);
        goto fail;
    }
    snprintf(sql, sizeof sql, "PRAGMA application_id = %d; PRAGMA user_version = %d;",
             FSC_APPLICATION_ID, FSC_SCHEMA_VERSION);
    if (sqlite3_exec(s->db, schema_sql, NULL, NULL, &msg) != SQLITE_OK ||
        fill_tokens(s->db) != SQLITE_OK ||
        sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        seterr(err, errlen, "%s: create schema: %s", s->path, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        goto fail;
    }
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        dberr(s, "commit schema", err, errlen);
        goto fail;
    }
    return 0;
fail:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/*
 * Bring a database of an older schema up to FSC_SCHEMA_VERSION, in one transaction.
 * 1 -> 2: flows.rst_cause_proven and flows.closer_call (NULL on older rows: not judged then).
 * 2 -> 3: the held_flows table and the state_intervals view (census.h), and each transition
 *         log entry gets how long its endpoint held the state (build_transition_log).
 * 3 -> 4: flows.last_packet (NULL on older rows) and the capture_files table, one row per
 *         capture read from a file (its frames were numbered from 1 in that file).
 * 4 -> 5: state_dwell reads each entry's held time instead of a window (STATE_DWELL_VIEW); the
 *         rows are the same, since schema 3 every log entry but an endpoint's last holds it.
 * 5 -> 6: the tokens table (fill_tokens(), run first) and the compact logs (store.h): every
 *         entry is rewritten in the explicit form, and the views that read the logs are made
 *         anew.  The views give the same rows as before.  (Earlier steps' views are dropped
 *         here: they are already the schema-6 text, which is why creating them did not fail.)
 */
/* Evidence no enum names (finscope never wrote one, but a log may hold it) keeps its text under a
 * negative code: the decoders' shift gives it back. */
#define MIG_UNKNOWN_EVIDENCE                                                                       \
    "INSERT INTO tokens SELECT 'evidence', -row_number() OVER (ORDER BY name), name FROM (\n"      \
    "    SELECT j.value ->> 5 AS name FROM flows, json_each(transition_log) AS j\n"                \
    "        WHERE json_valid(transition_log) AND j.type = 'array'\n"                              \
    "    UNION SELECT j.value ->> 5 FROM held_flows, json_each(transition_log) AS j\n"             \
    "        WHERE json_valid(transition_log) AND j.type = 'array')\n"                             \
    "    WHERE name IS NOT NULL AND name NOT IN (SELECT name FROM tokens WHERE kind = "            \
    "'evidence');\n"
/* A token's code from its name (tokens), for the 5 -> 6 rewrite. */
#define MIG_CODE(KIND, NAME) "(SELECT code FROM tokens WHERE kind = '" KIND "' AND name = " NAME ")"
#define MIG_T0 "CAST(round(first_ts * 1e6) AS INTEGER)"
/* A schema-5 log rewritten: ["endpoint","from","to",ts_us,packet,"evidence"(,held_us)] becomes
 * [code, t, p(, held)] (P0: the packets' base), [sender,"flags",seq,ack,len,"why",ts,packet]
 * becomes [code, t, p, seq, ack, len] with len left out when 0 (store.h). */
#define MIG_TR_LOG(P0)                                                                             \
    "(SELECT json_group_array(CASE WHEN json_array_length(v) > 6 THEN json_array(c, t, p, v ->> "  \
    "6)\n"                                                                                         \
    "                              ELSE json_array(c, t, p) END)\n"                                \
    "  FROM (SELECT j.value AS v,\n"                                                               \
    "               (((" MIG_CODE("evidence", "j.value ->> 5") " * 16 + " MIG_CODE(                \
        "state",                                                                                   \
        "j.value ->> 1") ") * 16 + " MIG_CODE("state",                                             \
                                              "j.value ->> 2") ") * 2 + " MIG_CODE("endpoint",     \
                                                                                   "j.value ->> "  \
                                                                                   "0") ") * 2 "   \
                                                                                        "AS c,\n"  \
                                                                                        "        " \
                                                                                        "       "  \
                                                                                        "(j."      \
                                                                                        "value "   \
                                                                                        "->> 3) "  \
                                                                                        "-"        \
                                                                                        " " MIG_T0 \
                                                                                        " AS t, "  \
                                                                                        "(j."      \
                                                                                        "value "   \
                                                                                        "->> 4) "  \
                                                                                        "- " P0    \
                                                                                        " AS p\n"  \
                                                                                        "        " \
                                                                                        "FROM "    \
                                                                                        "json_"    \
                                                                                        "each("    \
                                                                                        "transiti" \
                                                                                        "on_log) " \
                                                                                        "AS j "    \
                                                                                        "ORDER "   \
                                                                                        "BY "      \
                                                                                        "j.key))"
#define MIG_SEG_LOG                                                                                \
    "(SELECT json_group_array(CASE WHEN len = 0 THEN json_array(c, t, p, seq, ack)\n"              \
    "                              ELSE json_array(c, t, p, seq, ack, len) END)\n"                 \
    "  FROM (SELECT (" MIG_CODE("why", "j.value ->> 5") " * 256 + " MIG_CODE(                      \
        "flags",                                                                                   \
        "j.value ->> 1") ") * 2 + " MIG_CODE("endpoint",                                           \
                                             "j.value ->> 0") " AS c,\n"                           \
                                                              "               (j.value ->> 6) "    \
                                                              "- " MIG_T0                          \
                                                              " AS t, (j.value ->> 7) - "          \
                                                              "first_packet AS p,\n"               \
                                                              "               j.value ->> 2 AS "   \
                                                              "seq, coalesce(j.value ->> 3, 0) "   \
                                                              "AS ack,\n"                          \
                                                              "               j.value ->> 4 AS "   \
                                                              "len\n"                              \
                                                              "        FROM "                      \
                                                              "json_each(segment_log) AS j ORDER " \
                                                              "BY j.key))"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverlength-strings" /* the schema's view, as in schema_sql */
static const char *const migration[] = {
    [1] = "ALTER TABLE flows ADD COLUMN rst_cause_proven INTEGER;"
          "ALTER TABLE flows ADD COLUMN closer_call TEXT;"
          "DROP VIEW rst_causes;" RST_CAUSES_VIEW,
    [2] =
        "UPDATE flows SET transition_log = (\n"
        "    SELECT json_group_array(CASE WHEN nx IS NOT NULL THEN json_insert(v, '$[#]', nx - "
        "ts)\n"
        "                                 WHEN ty IN ('array', 'object') THEN json(v) ELSE v END)\n"
        "    FROM (SELECT j.value AS v, j.type AS ty,\n"
        "                 iif(j.type = 'array', j.value ->> 3, NULL) AS ts,\n"
        "                 lead(iif(j.type = 'array', j.value ->> 3, NULL)) OVER (\n"
        "                     PARTITION BY iif(j.type = 'array', j.value ->> 0, j.key)\n"
        "                     ORDER BY j.key) AS nx\n"
        "          FROM json_each(flows.transition_log) AS j ORDER BY j.key))\n"
        "WHERE json_valid(transition_log) AND json_type(transition_log) = "
        "'array';\n" HELD_FLOWS_TABLE FSC_SQL_STATE_INTERVALS_VIEW,
    [3] = "ALTER TABLE flows ADD COLUMN last_packet INTEGER;\n" CAPTURE_FILES_TABLE
          "INSERT INTO capture_files SELECT id, 1, source, 1, packets_read, first_ts, last_ts\n"
          "    FROM captures WHERE source NOT LIKE 'live:%';\n",
    [4] = "DROP VIEW state_dwell;\n" STATE_DWELL_VIEW,
    [5] = MIG_UNKNOWN_EVIDENCE "UPDATE flows SET transition_log = " MIG_TR_LOG(
        "first_packet") ",\n"
                        "                 segment_log = " MIG_SEG_LOG
                        " WHERE json_valid(transition_log) AND\n"
                        "    json_valid(segment_log);\n"
                        "UPDATE held_flows SET transition_log = " MIG_TR_LOG(
                            "0") " WHERE json_valid(transition_log);\n"
                                 "DROP VIEW transitions; DROP VIEW segments; DROP VIEW "
                                 "state_dwell;\n"
                                 "DROP VIEW state_intervals;\n" LOG_VIEWS STATE_DWELL_VIEW
                                     FSC_SQL_STATE_INTERVALS_VIEW,
};
#pragma GCC diagnostic pop

static int migrate(struct fsc_store *s, char *err, size_t errlen)
{
    bool empty;
    int64_t version;
    char *msg = NULL, sql[64];

    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        dberr(s, "begin schema upgrade", err, errlen);
        return -1;
    }
    if (check_file(s, &empty, &version, err, errlen) < 0) /* another process may have done it */
        goto fail;
    for (; version < FSC_SCHEMA_VERSION; version++) {
        snprintf(sql, sizeof sql, "PRAGMA user_version = %lld;", (long long)version + 1);
        /* 5 -> 6 rewrites the logs with the tokens' codes, so they come first. */
        if ((version == 5 && (sqlite3_exec(s->db, "DROP TABLE IF EXISTS tokens;" TOKENS_TABLE, NULL,
                                           NULL, &msg) != SQLITE_OK ||
                              fill_tokens(s->db) != SQLITE_OK)) ||
            sqlite3_exec(s->db, migration[version], NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
            seterr(err, errlen, "%s: upgrade schema %lld: %s", s->path, (long long)version,
                   msg ? msg : sqlite3_errmsg(s->db));
            sqlite3_free(msg);
            goto fail;
        }
    }
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    dberr(s, "commit schema upgrade", err, errlen);
fail:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* The effective user's name, for "running as USER" in a permission error. */
static const char *user_name(void)
{
    struct passwd *pw = getpwuid(geteuid());
    return pw ? pw->pw_name : "this user";
}

/*
 * Why a database cannot be used the way asked, from the file system's point of view, before
 * SQLite tries: SQLite reports a failed open with the errno of its last fallback (a read-only
 * retry), so a permission error would read "No such file or directory".  Writing needs the file
 * writable and its directory too (the rollback journal is created beside the file).
 * 0 when nothing stands in the way, else -1 with what is wrong and what to do in err.
 */
static int access_error(const char *path, bool read_only, char *err, size_t errlen)
{
    char *copy = strdup(path);
    const char *dir = copy ? dirname(copy) : ".";
    bool exists = faccessat(AT_FDCWD, path, F_OK, AT_EACCESS) == 0;
    bool in_dir = false; /* the directory, not the file, stands in the way */
    int e = 0;

    if (read_only && !exists) {
        seterr(err, errlen, "%s: no such database; make one with: finscope analyze -o %s CAPTURE",
               path, path);
        free(copy);
        return -1;
    }
    if (exists && faccessat(AT_FDCWD, path, read_only ? R_OK : R_OK | W_OK, AT_EACCESS) < 0)
        e = errno;
    else if (!read_only && faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) < 0) {
        e = errno;
        in_dir = true;
    }
    if (e == EROFS)
        seterr(err, errlen,
               "%s: cannot write the database: %s is on a read-only file system; choose a file "
               "on a writable one with -o",
               path, dir);
    else if (e && in_dir)
        seterr(err, errlen,
               "%s: cannot %s the database: directory %s: %s (running as %s; SQLite keeps its "
               "journal beside the file); choose a directory that user can write with -o",
               path, exists ? "write" : "create", dir, strerror(e), user_name());
    else if (e)
        seterr(err, errlen, "%s: cannot %s the database: %s (running as %s)%s", path,
               read_only ? "read" : "write", strerror(e), user_name(),
               read_only ? "" : "; give that user write access or choose another file with -o");
    free(copy);
    return e ? -1 : 0;
}

/*
 * The functions any statement may call, in finscope's own SQL, in views a file brings, and in
 * `query`: SQLite's documented core, date and time, aggregate, window,
 * math and JSON functions (3.40).  Everything else is refused, whatever SQLite was built with:
 * fts3_tokenizer() hands out a library address (and with two arguments takes one),
 * load_extension() runs code, the rtree/fts debugging functions parse raw blobs.  An allow list,
 * so a function a newer SQLite adds is refused until someone reads what it does.
 */
static bool function_allowed(const char *name)
{
    static const char allowed[] =
        /* core */
        " abs changes char coalesce format glob hex ifnull iif instr last_insert_rowid length like"
        " likelihood likely lower ltrim max min nullif printf quote random randomblob replace round"
        " rtrim sign soundex sqlite_source_id sqlite_version substr substring total_changes trim"
        " typeof unicode unlikely upper zeroblob"
        /* date and time */
        " date time datetime julianday unixepoch strftime current_date current_time"
        " current_timestamp"
        /* aggregate and window */
        " avg count group_concat sum total row_number rank dense_rank percent_rank cume_dist ntile"
        " lag lead first_value last_value nth_value"
        /* math */
        " acos acosh asin asinh atan atan2 atanh ceil ceiling cos cosh degrees exp floor ln log"
        " log10 log2 mod pi pow power radians sin sinh sqrt tan tanh trunc"
        /* JSON (json_each and json_tree are table-valued: not functions here) */
        " json json_array json_array_length json_extract -> ->> json_insert json_object json_patch"
        " json_remove json_replace json_set json_type json_valid json_quote json_group_array"
        " json_group_object"
        /* SQLite's internal ones: only its own ALTER TABLE can call them */
        " sqlite_drop_column sqlite_rename_column sqlite_rename_quotefix sqlite_rename_table"
        " sqlite_rename_test ";
    char key[40];
    size_t n = name ? strlen(name) : 0;

    if (n == 0 || n > sizeof key - 3)
        return false;
    key[0] = ' ';
    for (size_t i = 0; i < n; i++) {
        if (name[i] == ' ')
            return false;
        key[i + 1] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
    }
    key[n + 1] = ' ';
    key[n + 2] = '\0';
    return strstr(allowed, key) != NULL;
}

/* Every connection's authorizer outside `query`: the function allow list, nothing else. */
static int function_authorizer(void *arg, int action, const char *a1, const char *a2,
                               const char *db, const char *trigger)
{
    (void)arg;
    (void)a1;
    (void)db;
    (void)trigger;
    return action == SQLITE_FUNCTION && !function_allowed(a2) ? SQLITE_DENY : SQLITE_OK;
}

/* Open the connection with its settings; nothing reaches the file before check_file(). */
static int open_db(struct fsc_store *s, int flags, char *err, size_t errlen)
{
    if (sqlite3_open_v2(s->path, &s->db, flags, NULL) != SQLITE_OK) {
        int sys = s->db ? sqlite3_system_errno(s->db) : 0;
        if (sys)
            seterr(err, errlen, "%s: cannot open database: %s", s->path, strerror(sys));
        else if (s->db)
            dberr(s, "cannot open database", err, errlen);
        else
            seterr(err, errlen, "%s: cannot open database: out of memory", s->path);
        return -1;
    }
    sqlite3_busy_timeout(s->db, 5000);
    sqlite3_extended_result_codes(s->db, 1);
    /* The file may come from anyone: the views it holds call only allowed functions, SQL cannot
     * corrupt it, and no extension or tokenizer pointer is reachable. */
    sqlite3_set_authorizer(s->db, function_authorizer, NULL);
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER, 0, NULL);
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
    return 0;
}

/*
 * A run killed inside its transaction leaves a hot rollback journal (or, from `live`, a WAL
 * that needs recovery).  Only a connection that may write can roll it back; a read-only one
 * fails every read with one of these codes.
 */
static bool needs_recovery(sqlite3 *db)
{
    int64_t n;
    int rc = query_int(db, "SELECT count(*) FROM sqlite_master", &n);

    return rc == SQLITE_READONLY_ROLLBACK || rc == SQLITE_READONLY_RECOVERY ||
           rc == SQLITE_READONLY_CANTINIT || rc == SQLITE_READONLY_CANTLOCK;
}

/*
 * Put a killed run's database back to its last commit, on a private read-write connection that
 * only reads (SQLite rolls a hot journal back, or recovers a WAL, on the first read): the
 * unfinished capture disappears, every committed one stays.  The caller's connection stays
 * read-only, so `query` never gets a way to write.
 */
static int recover(const char *path, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int64_t n;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);

    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, 5000);
        sqlite3_extended_result_codes(db, 1);
        rc = query_int(db, "SELECT count(*) FROM sqlite_master", &n);
    }
    if (rc != SQLITE_OK)
        seterr(err, errlen,
               "%s: a killed run left an unfinished transaction that only a writer can roll back "
               "(%s); run finscope analyze -o %s --upgrade as a user who can write the file and "
               "its directory",
               path, db ? sqlite3_errmsg(db) : "out of memory", path);
    sqlite3_close_v2(db);
    return rc == SQLITE_OK ? 0 : -1;
}

int fsc_store_open(const char *path, bool read_only, struct fsc_store **out, char *err,
                   size_t errlen)
{
    struct fsc_store *s;
    bool empty = false;
    /* One connection used by one thread: no SQLite mutexes on the insert path. */
    int flags = (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
                SQLITE_OPEN_NOMUTEX;

    *out = NULL;
    s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        seterr(err, errlen, "%s: out of memory", path);
        return -1;
    }
    s->read_only = read_only;
    if (access_error(path, read_only, err, errlen) < 0 || open_db(s, flags, err, errlen) < 0)
        goto fail;
    if (read_only && needs_recovery(s->db)) {
        sqlite3_close_v2(s->db);
        s->db = NULL;
        if (recover(path, err, errlen) < 0 || open_db(s, flags, err, errlen) < 0)
            goto fail;
    }
    int64_t version;
    if (check_file(s, &empty, &version, err, errlen) < 0)
        goto fail;
    if (empty && read_only) {
        seterr(err, errlen, "%s: empty database, no finscope data in it", path);
        goto fail;
    }
    if (!empty && version < FSC_SCHEMA_VERSION) {
        if (read_only) {
            seterr(err, errlen,
                   "%s: written by an older finscope (schema %lld, this build writes %d); "
                   "upgrade it in place with: finscope analyze -o %s --upgrade",
                   path, (long long)version, FSC_SCHEMA_VERSION, path);
            goto fail;
        }
        if (migrate(s, err, errlen) < 0)
            goto fail;
    }
    /*
     * A new file gets 16 KiB pages: a flow row with its JSON logs is ~2 KiB, and bigger pages
     * cut B-tree work per row (the 2M-packet benchmark: 1.07 s -> 1.01 s).  The rollback
     * journal stays (no WAL): appending to new pages journals nothing, while WAL writes every
     * page twice (1.21 s).  `finscope live` turns WAL on for concurrent readers.
     */
    if (empty && !read_only)
        sqlite3_exec(s->db, "PRAGMA page_size = 16384", NULL, NULL, NULL);
    if (empty && create_schema(s, err, errlen) < 0)
        goto fail;
    /* 16 MiB of page cache: rows are appended, so only the index pages need to stay hot, and
     * a bigger cache would make peak memory grow with the size of the capture. */
    sqlite3_exec(s->db, "PRAGMA cache_size = -16384", NULL, NULL, NULL); /* KiB */
    /* A writer's temporary tables are small; a reader's sorts and materialized views (the
     * census: one row per transition) grow with the database, so they go to a file. */
    sqlite3_exec(s->db, read_only ? "PRAGMA temp_store = FILE" : "PRAGMA temp_store = MEMORY", NULL,
                 NULL, NULL);
    for (int k = 0; k < ST__COUNT; k++) {
        if (sqlite3_prepare_v3(s->db, stmt_def[k].sql, -1, SQLITE_PREPARE_PERSISTENT, &s->st[k],
                               NULL) != SQLITE_OK) {
            char what[96];
            snprintf(what, sizeof what, "prepare %s", stmt_def[k].what);
            dberr(s, what, err, errlen);
            goto fail;
        }
    }
    *out = s;
    return 0;
fail:
    fsc_store_close(s);
    return -1;
}

void fsc_store_close(struct fsc_store *s)
{
    if (!s)
        return;
    /* An unfinished capture never becomes visible. */
    if (s->db && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    for (int k = 0; k < ST__COUNT; k++)
        sqlite3_finalize(s->st[k]);
    sqlite3_close_v2(s->db);
    free(s->tr_log.p);
    free(s->seg_log.p);
    free(s->zeek_log.p);
    free(s->path);
    free(s);
}

int64_t fsc_store_find_capture(struct fsc_store *s, const char *hash, char *err, size_t errlen)
{
    sqlite3_stmt *st = s->st[ST_FIND_CAPTURE];
    int64_t id = 0;
    int rc;

    if (!hash)
        return 0;
    if (bind_text(st, 1, hash) != SQLITE_OK) {
        dberr(s, stmt_def[ST_FIND_CAPTURE].what, err, errlen);
        done(st);
        return -1;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
    } else if (rc != SQLITE_DONE) {
        dberr(s, stmt_def[ST_FIND_CAPTURE].what, err, errlen);
        id = -1;
    }
    done(st);
    return id;
}

/* ROLLBACK if a transaction is open; used on every failure that must leave nothing behind. */
static void rollback(struct fsc_store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        run(s, ST_ROLLBACK, NULL, 0);
}

/* Delete one capture and everything hanging off it, inside the open transaction. */
static int delete_capture(struct fsc_store *s, int64_t id, char *err, size_t errlen)
{
    static const int del[] = {ST_DEL_FLOWS, ST_DEL_HELD, ST_DEL_FILES, ST_DEL_SKIPPED,
                              ST_DEL_CAPTURE};

    for (size_t d = 0; d < sizeof del / sizeof *del; d++) {
        if (sqlite3_bind_int64(s->st[del[d]], 1, id) != SQLITE_OK ||
            run(s, del[d], err, errlen) < 0)
            return -1;
    }
    return 0;
}

int fsc_store_delete_capture(struct fsc_store *s, int64_t id, char *err, size_t errlen)
{
    if (sqlite3_get_autocommit(s->db)) {
        seterr(err, errlen, "%s: delete capture: no capture transaction is open", s->path);
        return -1;
    }
    return delete_capture(s, id, err, errlen);
}

int64_t fsc_store_begin_capture(struct fsc_store *s, const struct fsc_capture_info *ci,
                                int64_t replace_id, char *err, size_t errlen)
{
    sqlite3_stmt *st = s->st[ST_INS_CAPTURE];
    int rc = SQLITE_OK, i = 1;

    if (!sqlite3_get_autocommit(s->db)) {
        seterr(err, errlen, "%s: begin capture: a capture transaction is already open", s->path);
        return -1;
    }
    if (run(s, ST_BEGIN, err, errlen) < 0)
        return -1;
    if (replace_id > 0 && delete_capture(s, replace_id, err, errlen) < 0)
        goto fail;
    B(bind_text(st, i++, ci->source));
    B(bind_capture(st, &i, ci));
    B(bind_text(st, i++, FSC_VERSION));
    if (bound(s, ST_INS_CAPTURE, rc, i, err, errlen) < 0 || run(s, ST_INS_CAPTURE, err, errlen) < 0)
        goto fail;
    return sqlite3_last_insert_rowid(s->db);
fail:
    rollback(s);
    return -1;
}

/* tcpdump's flag letters in tcpdump's order ("S.", "FP.", "R"); "none" as tcpdump prints it. */
static const char *tcp_flags_str(uint8_t flags, char *buf)
{
    static const struct {
        uint8_t bit;
        char c;
    } letters[] = {{FSC_TH_FIN, 'F'}, {FSC_TH_SYN, 'S'}, {FSC_TH_RST, 'R'}, {FSC_TH_PSH, 'P'},
                   {FSC_TH_ACK, '.'}, {FSC_TH_URG, 'U'}, {FSC_TH_ECE, 'E'}, {FSC_TH_CWR, 'W'}};
    size_t n = 0;

    for (size_t k = 0; k < sizeof letters / sizeof *letters; k++)
        if (flags & letters[k].bit)
            buf[n++] = letters[k].c;
    buf[n] = '\0';
    return n ? buf : "none";
}

/* client_addr, client_port, server_addr, server_port, first_ts, last_ts from *i on. */
static int bind_ends(sqlite3_stmt *st, int *i, const struct fsc_flow *f)
{
    const struct fsc_endpoint *c = &f->ep[FSC_CLIENT], *v = &f->ep[FSC_SERVER];
    char caddr[64], saddr[64];
    int rc = SQLITE_OK;

    fsc_addr_str(&c->addr, f->ip_version, caddr, sizeof caddr);
    fsc_addr_str(&v->addr, f->ip_version, saddr, sizeof saddr);
    B(sqlite3_bind_text(st, (*i)++, caddr, -1, SQLITE_TRANSIENT));
    B(sqlite3_bind_int(st, (*i)++, c->port));
    B(sqlite3_bind_text(st, (*i)++, saddr, -1, SQLITE_TRANSIENT));
    B(sqlite3_bind_int(st, (*i)++, v->port));
    B(bind_seconds(st, (*i)++, f->first_ts));
    B(bind_seconds(st, (*i)++, f->last_ts));
    return rc;
}

/* A JSON log built for the flow being inserted (borrowed until the insert has run). */
static int bind_log(sqlite3_stmt *st, int i, const struct text *t)
{
    return sqlite3_bind_text(st, i, t->p, (int)t->len, SQLITE_STATIC);
}

/* Bind FLOW_COLUMNS for flow f and insert the row. */
static int insert_flow_row(struct fsc_store *s, int64_t capture_id, const struct fsc_flow *f,
                           char *err, size_t errlen)
{
    sqlite3_stmt *st = s->st[ST_INS_FLOW];
    const struct fsc_endpoint *c = &f->ep[FSC_CLIENT], *v = &f->ep[FSC_SERVER];
    const struct fsc_zeek_record *z = &f->zeek.final;
    bool zk = f->zeek.active, zb = zk && z->has_bytes;
    const char *cstate = fsc_tcp_state_name((enum fsc_tcp_state)c->state);
    const char *vstate = fsc_tcp_state_name((enum fsc_tcp_state)v->state);
    const char *zstate = fsc_zeek_conn_state_name((enum fsc_zeek_conn_state)z->conn_state);
    char anomalies[512], caddr[64], saddr[64];
    int rc = SQLITE_OK, i = 1;
    bool rtt = f->syn_ts > 0 && f->hs_done_ts > 0;

    fsc_anomaly_str(f->anomalies, anomalies, sizeof anomalies);
    fsc_addr_str(&c->addr, f->ip_version, caddr, sizeof caddr);
    fsc_addr_str(&v->addr, f->ip_version, saddr, sizeof saddr);
    FLOW_COLUMNS(COL_BIND)
    if (bound(s, ST_INS_FLOW, rc, i, err, errlen) < 0)
        return -1;
    return run(s, ST_INS_FLOW, err, errlen);
}

/* Make room for n more bytes (and a NUL); false when memory ran out. */
static bool text_reserve(struct text *t, size_t n)
{
    if (t->oom)
        return false;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *p = realloc(t->p, cap);
        if (!p) {
            t->oom = true;
            return false;
        }
        t->p = p;
        t->cap = cap;
    }
    return true;
}

/* Appends below write into space reserved per element (MAX_ELEM bytes), unchecked. */
#define MAX_ELEM 512

static void text_put(struct text *t, const char *src, size_t n)
{
    memcpy(t->p + t->len, src, n);
    t->len += n;
}

static void text_str(struct text *t, const char *v)
{
    text_put(t, v, strlen(v));
}

/* A JSON string; every value stored this way is a token from the tables in util.c or store.c,
 * none holds a quote or a backslash, so no escaping is needed. */
static void text_json_str(struct text *t, const char *v)
{
    t->p[t->len++] = '"';
    text_str(t, v);
    t->p[t->len++] = '"';
}

static void text_i64(struct text *t, int64_t v)
{
    char buf[24], *e = buf + sizeof buf, *q = e;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    do
        *--q = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        *--q = '-';
    text_put(t, q, (size_t)(e - q));
}

/* The index of f's stored segment with time ts and packet, or -1 (none: f may be NULL). */
static int64_t segment_at(const struct fsc_flow *f, fsc_time ts, uint64_t packet)
{
    for (uint32_t k = 0; f && k < f->n_seg; k++)
        if (f->seg[k].packet == packet && f->seg[k].ts == ts)
            return k;
    return -1;
}

/*
 * [code, t, p, held_us] per transition, or [code, s, held_us] when stored segment s has its
 * time and packet (store.h; t and p after t0 and p0): held_us is how long the endpoint held
 * `to`, until its own next transition; left out on its last one.  It is here so that the
 * state_intervals view needs no window over the log (census.h: lead() over every transition
 * cost ~2 us each, the rest of the view ~0.2 us), and a duration keeps it short.  segs is the
 * flow whose segment log is stored with this one (NULL: none, as for held_flows).
 */
static void build_transition_log(struct text *t, const struct fsc_transition *tr, uint32_t n,
                                 fsc_time t0, uint64_t p0, const struct fsc_flow *segs)
{
    fsc_time until[FSC_FLOW_MAX_TRANSITIONS];
    bool has_until[FSC_FLOW_MAX_TRANSITIONS];
    fsc_time next[2] = {0, 0};
    bool seen[2] = {false, false};

    if (n > FSC_FLOW_MAX_TRANSITIONS)
        n = FSC_FLOW_MAX_TRANSITIONS;
    for (uint32_t k = n; k-- > 0;) {
        unsigned e = tr[k].endpoint == FSC_SERVER;
        has_until[k] = seen[e];
        until[k] = next[e];
        next[e] = tr[k].ts;
        seen[e] = true;
    }
    t->len = 0;
    t->oom = false;
    if (!text_reserve(t, (size_t)(n + 1) * MAX_ELEM))
        return;
    text_put(t, "[", 1);
    for (uint32_t k = 0; k < n; k++) {
        const struct fsc_transition *x = &tr[k];
        int64_t s = segment_at(segs, x->ts, x->packet);
        text_put(t, k ? ",[" : "[", k ? 2 : 1);
        text_i64(t, ((((int64_t)x->evidence * 16 + x->from) * 16 + x->to) * 2 +
                     (x->endpoint == FSC_SERVER)) *
                            2 +
                        (s >= 0));
        text_put(t, ",", 1);
        if (s >= 0) {
            text_i64(t, s);
        } else {
            text_i64(t, x->ts - t0);
            text_put(t, ",", 1);
            text_i64(t, (int64_t)(x->packet - p0));
        }
        if (has_until[k]) {
            text_put(t, ",", 1);
            text_i64(t, until[k] - x->ts);
        }
        text_put(t, "]", 1);
    }
    text_put(t, "]", 1);
    t->p[t->len] = '\0';
}

/* [code, t, p, rel_seq, rel_ack, len] per segment (store.h), len left out when 0. */
static void build_segment_log(struct text *t, const struct fsc_flow *f)
{
    t->len = 0;
    t->oom = false;
    if (!text_reserve(t, (size_t)(f->n_seg + 1) * MAX_ELEM))
        return;
    text_put(t, "[", 1);
    for (uint32_t k = 0; k < f->n_seg; k++) {
        const struct fsc_segment *g = &f->seg[k];
        text_put(t, k ? ",[" : "[", k ? 2 : 1);
        text_i64(t, ((int64_t)g->why * 256 + g->flags) * 2 + (g->from == FSC_SERVER));
        text_put(t, ",", 1);
        text_i64(t, g->ts - f->first_ts);
        text_put(t, ",", 1);
        text_i64(t, (int64_t)(g->packet - f->first_packet));
        text_put(t, ",", 1);
        text_i64(t, g->rel_seq);
        text_put(t, ",", 1);
        /* Without the ACK bit the ack field is garbage (RFC 9293 3.1), so it is not stored. */
        text_i64(t, g->flags & FSC_TH_ACK ? g->rel_ack : 0);
        if (g->len) {
            text_put(t, ",", 1);
            text_i64(t, g->len);
        }
        text_put(t, "]", 1);
    }
    text_put(t, "]", 1);
}

/*
 * [ts_us,duration_us,"conn_state","history","orig",orig_bytes|null,resp_bytes|null,orig_pkts,
 * resp_pkts] per earlier Zeek record of the flow (see zeek.h); "[]" for almost every flow.
 * Histories hold only Zeek's letters and '^', so no escaping is needed.
 */
static void build_zeek_log(struct text *t, const struct fsc_flow *f)
{
    const struct fsc_zeek_conn *z = &f->zeek;

    t->len = 0;
    t->oom = false;
    if (!text_reserve(t, (size_t)(z->n_earlier + 1) * MAX_ELEM))
        return;
    text_put(t, "[", 1);
    for (uint32_t k = 0; k < z->n_earlier; k++) {
        const struct fsc_zeek_record *r = &z->earlier[k];
        text_put(t, k ? ",[" : "[", k ? 2 : 1);
        text_i64(t, r->ts);
        text_put(t, ",", 1);
        text_i64(t, r->duration_us);
        text_put(t, ",", 1);
        text_json_str(t, fsc_zeek_conn_state_name((enum fsc_zeek_conn_state)r->conn_state));
        text_put(t, ",", 1);
        text_json_str(t, r->history);
        text_put(t, ",", 1);
        text_json_str(t, r->orig_is_client ? "client" : "server");
        for (int b = 0; b < 2; b++) {
            text_put(t, ",", 1);
            if (r->has_bytes)
                text_i64(t, (int64_t)(b ? r->resp_bytes : r->orig_bytes));
            else
                text_str(t, "null");
        }
        text_put(t, ",", 1);
        text_i64(t, (int64_t)r->orig_pkts);
        text_put(t, ",", 1);
        text_i64(t, (int64_t)r->resp_pkts);
        text_put(t, "]", 1);
    }
    text_put(t, "]", 1);
}

int fsc_store_flow(struct fsc_store *s, int64_t capture_id, struct fsc_flow *f,
                   const struct fsc_transition *tr, uint32_t n, char *err, size_t errlen)
{

    if (sqlite3_get_autocommit(s->db)) {
        seterr(err, errlen, "%s: insert flow: no capture transaction is open", s->path);
        return -1;
    }
    /*
     * No savepoint per flow: a savepoint inside the capture transaction makes SQLite journal
     * every page it touches (743,000 extra writes for 33,000 flows, measured), and a failed
     * flow aborts the whole capture anyway (the caller rolls the transaction back).
     */
    build_transition_log(&s->tr_log, tr, n, f->first_ts, f->first_packet, f);
    build_segment_log(&s->seg_log, f);
    build_zeek_log(&s->zeek_log, f);
    if (s->tr_log.oom || s->seg_log.oom || s->zeek_log.oom) {
        seterr(err, errlen, "%s: insert flow: out of memory", s->path);
        return -1;
    }
    if (insert_flow_row(s, capture_id, f, err, errlen) < 0)
        return -1;
    f->id = (uint64_t)sqlite3_last_insert_rowid(s->db);
    return 0;
}

int fsc_store_held_clear(struct fsc_store *s, int64_t capture_id, char *err, size_t errlen)
{
    if (sqlite3_bind_int64(s->st[ST_DEL_HELD], 1, capture_id) != SQLITE_OK) {
        dberr(s, stmt_def[ST_DEL_HELD].what, err, errlen);
        return -1;
    }
    return run(s, ST_DEL_HELD, err, errlen);
}

int fsc_store_held_flow(struct fsc_store *s, int64_t capture_id, const struct fsc_flow *f,
                        const struct fsc_transition *tr, uint32_t n, char *err, size_t errlen)
{
    sqlite3_stmt *st = s->st[ST_INS_HELD];
    int rc = SQLITE_OK, i = 1;

    build_transition_log(&s->tr_log, tr, n, f->first_ts, 0, NULL);
    if (s->tr_log.oom) {
        seterr(err, errlen, "%s: insert held connection: out of memory", s->path);
        return -1;
    }
    B(sqlite3_bind_int64(st, i++, capture_id));
    B(bind_ends(st, &i, f));
    B(sqlite3_bind_text(st, i++, s->tr_log.p, (int)s->tr_log.len, SQLITE_STATIC));
    if (bound(s, ST_INS_HELD, rc, i, err, errlen) < 0)
        return -1;
    return run(s, ST_INS_HELD, err, errlen);
}

int fsc_store_checkpoint(struct fsc_store *s, char *err, size_t errlen)
{
    if (run(s, ST_COMMIT, err, errlen) < 0)
        return -1;
    return run(s, ST_BEGIN, err, errlen);
}

/* Write the captures row's counters and the skip counts, inside the open transaction. */
static int update_capture(struct fsc_store *s, int64_t capture_id,
                          const struct fsc_capture_info *ci, char *err, size_t errlen)
{
    sqlite3_stmt *st = s->st[ST_UPD_CAPTURE];
    int rc = SQLITE_OK, i = 1;

    if (sqlite3_get_autocommit(s->db)) {
        seterr(err, errlen, "%s: update capture: no capture transaction is open", s->path);
        return -1;
    }
    B(bind_capture(st, &i, ci));
    B(sqlite3_bind_int64(st, i++, capture_id));
    if (bound(s, ST_UPD_CAPTURE, rc, i, err, errlen) < 0 || run(s, ST_UPD_CAPTURE, err, errlen) < 0)
        return -1;
    for (int r = FSC_SKIP_NONE + 1; r < FSC_SKIP__COUNT; r++) {
        if (ci->skipped[r] == 0)
            continue;
        st = s->st[ST_INS_SKIPPED];
        rc = SQLITE_OK;
        i = 1;
        B(sqlite3_bind_int64(st, i++, capture_id));
        B(bind_text(st, i++, fsc_skip_name((enum fsc_skip)r)));
        B(bind_u64(st, i++, ci->skipped[r]));
        if (bound(s, ST_INS_SKIPPED, rc, i, err, errlen) < 0 ||
            run(s, ST_INS_SKIPPED, err, errlen) < 0)
            return -1;
    }
    return 0;
}

int fsc_store_capture_file(struct fsc_store *s, int64_t capture_id, int file_no, const char *path,
                           uint64_t first_frame, uint64_t last_frame, fsc_time first_ts,
                           fsc_time last_ts, char *err, size_t errlen)
{
    sqlite3_stmt *st = s->st[ST_INS_FILE];
    int rc = SQLITE_OK, i = 1;

    if (sqlite3_get_autocommit(s->db)) {
        seterr(err, errlen, "%s: capture file: no capture transaction is open", s->path);
        return -1;
    }
    B(sqlite3_bind_int64(st, i++, capture_id));
    B(sqlite3_bind_int(st, i++, file_no));
    B(bind_text(st, i++, path));
    B(bind_u64(st, i++, first_frame));
    if (last_frame >= first_frame) {
        B(bind_u64(st, i++, last_frame));
        B(bind_seconds(st, i++, first_ts));
        B(bind_seconds(st, i++, last_ts));
    } else { /* no frame yet, so no time either */
        for (int k = 0; k < 3; k++)
            B(sqlite3_bind_null(st, i++));
    }
    if (bound(s, ST_INS_FILE, rc, i, err, errlen) < 0)
        return -1;
    return run(s, ST_INS_FILE, err, errlen);
}

/* A capture read from a file is that file's frames 1..packets_read (live -w names its own). */
static int own_file(struct fsc_store *s, int64_t capture_id, const struct fsc_capture_info *ci,
                    char *err, size_t errlen)
{
    if (!ci->source || !strncmp(ci->source, "live:", 5))
        return 0;
    return fsc_store_capture_file(s, capture_id, 1, ci->source, 1, ci->packets_read, ci->first_ts,
                                  ci->last_ts, err, errlen);
}

int fsc_store_end_capture(struct fsc_store *s, int64_t capture_id,
                          const struct fsc_capture_info *ci, char *err, size_t errlen)
{
    if (fsc_store_held_clear(s, capture_id, err, errlen) < 0 ||
        update_capture(s, capture_id, ci, err, errlen) < 0 ||
        own_file(s, capture_id, ci, err, errlen) < 0 || run(s, ST_COMMIT, err, errlen) < 0) {
        rollback(s);
        return -1;
    }
    return 0;
}

int fsc_store_commit_capture(struct fsc_store *s, int64_t capture_id,
                             const struct fsc_capture_info *ci, char *err, size_t errlen)
{
    if (update_capture(s, capture_id, ci, err, errlen) < 0)
        return -1;
    return fsc_store_checkpoint(s, err, errlen);
}

int fsc_store_wal(struct fsc_store *s, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    bool ok = false;

    if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        ok = sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
    sqlite3_finalize(st);
    if (!ok) {
        seterr(err, errlen, "%s: cannot switch to WAL mode (readers would block): %s", s->path,
               sqlite3_errmsg(s->db));
        return -1;
    }
    sqlite3_exec(s->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
    return 0;
}

void fsc_store_abort_capture(struct fsc_store *s)
{
    rollback(s);
}

/* Whether sql holds another statement after the first (comments and ';' alone do not count). */
static bool has_second_statement(sqlite3 *db, const char *tail)
{
    sqlite3_stmt *st = NULL;

    if (!tail || !*tail)
        return false;
    if (sqlite3_prepare_v2(db, tail, -1, &st, NULL) != SQLITE_OK)
        return true;
    sqlite3_finalize(st);
    return st != NULL;
}

int fsc_store_query(struct fsc_store *s, const char *sql, int64_t bind_id, fsc_store_row_fn row,
                    void *user, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    const char *tail = NULL, **names = NULL, **values = NULL;
    int ncol, rc, ret = -1;

    if (sqlite3_prepare_v2(s->db, sql, -1, &st, &tail) != SQLITE_OK) {
        dberr(s, "query", err, errlen);
        return -1;
    }
    if (!st) {
        seterr(err, errlen, "%s: query: no SQL statement given", s->path);
        return -1;
    }
    if (has_second_statement(s->db, tail)) {
        /* Silently running only the first of several statements would surprise. */
        seterr(err, errlen, "%s: query: give one SQL statement at a time", s->path);
        goto out;
    }
    if (bind_id >= 0 && sqlite3_bind_int64(st, 1, bind_id) != SQLITE_OK) {
        dberr(s, "query: bind ?1", err, errlen);
        goto out;
    }
    ncol = sqlite3_column_count(st);
    names = calloc((size_t)ncol + 1, sizeof *names);
    values = calloc((size_t)ncol + 1, sizeof *values);
    if (!names || !values) {
        seterr(err, errlen, "%s: query: out of memory", s->path);
        goto out;
    }
    for (int c = 0; c < ncol; c++)
        names[c] = sqlite3_column_name(st, c);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        /* Each column's text stays valid until the next step, so all can be collected first. */
        for (int c = 0; c < ncol; c++)
            values[c] = sqlite3_column_type(st, c) == SQLITE_NULL
                            ? NULL
                            : (const char *)sqlite3_column_text(st, c);
        if (row && row(user, ncol, names, values) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE) {
        dberr(s, "query", err, errlen);
        goto out;
    }
    ret = 0;
out:
    free(names);
    free(values);
    sqlite3_finalize(st);
    return ret;
}

_Static_assert(FSC_VALUE_INTEGER == SQLITE_INTEGER && FSC_VALUE_FLOAT == SQLITE_FLOAT &&
                   FSC_VALUE_TEXT == SQLITE_TEXT && FSC_VALUE_BLOB == SQLITE_BLOB &&
                   FSC_VALUE_NULL == SQLITE_NULL,
               "fsc_value_type mirrors SQLite's type codes");

/* What the authorizer of fsc_store_query_user() refused, for the error message. */
struct user_auth {
    char why[160];
};

/* PRAGMAs that take an argument and only read the schema; any other PRAGMA argument is a write. */
static bool pragma_reads(const char *name)
{
    static const char *const ok[] = {
        "table_info", "table_xinfo",      "table_list",        "index_info",      "index_xinfo",
        "index_list", "foreign_key_list", "foreign_key_check", "integrity_check", "quick_check",
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        if (name && sqlite3_stricmp(name, ok[i]) == 0)
            return true;
    return false;
}

static int user_authorizer(void *arg, int action, const char *a1, const char *a2, const char *db,
                           const char *trigger)
{
    struct user_auth *a = arg;

    (void)db;
    (void)trigger;
    switch (action) {
    case SQLITE_ATTACH:
    case SQLITE_DETACH:
        snprintf(a->why, sizeof a->why, "ATTACH and DETACH are not allowed: read-only");
        return SQLITE_DENY;
    case SQLITE_PRAGMA:
        if (a2 && !pragma_reads(a1)) {
            snprintf(a->why, sizeof a->why, "PRAGMA %s with a value is not allowed: read-only",
                     a1 ? a1 : "?");
            return SQLITE_DENY;
        }
        return SQLITE_OK;
    case SQLITE_FUNCTION:
        if (!function_allowed(a2)) {
            snprintf(a->why, sizeof a->why,
                     "%.60s() is not allowed: query offers SQLite's core, date, math, aggregate, "
                     "window and JSON functions",
                     a2 ? a2 : "?");
            return SQLITE_DENY;
        }
        return SQLITE_OK;
    default:
        return SQLITE_OK;
    }
}

/* Bind params[0 .. np-1] to ?1 .. ?np of st, which must have exactly that many.  0 or -1. */
static int bind_params(struct fsc_store *s, sqlite3_stmt *st, const struct fsc_store_param *params,
                       int np, char *err, size_t errlen)
{
    if (sqlite3_bind_parameter_count(st) != np) {
        seterr(err, errlen, "%s: query: %d parameters given for %d", s->path, np,
               sqlite3_bind_parameter_count(st));
        return -1;
    }
    for (int i = 0; i < np; i++) {
        const struct fsc_store_param *p = &params[i];
        if ((p->text ? bind_text(st, i + 1, p->text) : sqlite3_bind_int64(st, i + 1, p->i)) !=
            SQLITE_OK) {
            dberr(s, "query: bind", err, errlen);
            return -1;
        }
    }
    return 0;
}

/* fsc_store_query_user(), and with np > 0 one statement whose parameters are params. */
static int query_user(struct fsc_store *s, const char *sql, const struct fsc_store_param *params,
                      int np, const struct fsc_store_user_fn *fn, void *user, char *err,
                      size_t errlen)
{
    struct user_auth auth = {.why = ""};
    sqlite3_stmt **st = NULL;
    const char **names = NULL, **values = NULL;
    int *types = NULL;
    size_t n = 0, cap = 0;
    const char *p = sql;
    int ret = -1;

    /* Prepare every statement first: a refused one anywhere means nothing runs. */
    sqlite3_set_authorizer(s->db, user_authorizer, &auth);
    while (p && *p) {
        sqlite3_stmt *one = NULL;
        const char *tail = NULL;
        if (sqlite3_prepare_v2(s->db, p, -1, &one, &tail) != SQLITE_OK) {
            if (auth.why[0])
                seterr(err, errlen, "%s", auth.why);
            else
                seterr(err, errlen, "%s", sqlite3_errmsg(s->db));
            goto out;
        }
        p = tail;
        if (!one)
            continue; /* whitespace, comments, a lone ';' */
        if (!sqlite3_stmt_readonly(one)) {
            char *text = sqlite3_expanded_sql(one);
            seterr(err, errlen, "refused, this command only reads: %.80s%s",
                   text ? text : "statement", text && strlen(text) > 80 ? "..." : "");
            sqlite3_free(text);
            sqlite3_finalize(one);
            goto out;
        }
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 8;
            sqlite3_stmt **g = realloc(st, ncap * sizeof *g);
            if (!g) {
                sqlite3_finalize(one);
                seterr(err, errlen, "out of memory");
                goto out;
            }
            st = g;
            cap = ncap;
        }
        st[n++] = one;
    }
    if (n == 0) {
        seterr(err, errlen, "no SQL statement given");
        goto out;
    }
    if (np > 0 && (n != 1 || bind_params(s, st[0], params, np, err, errlen) < 0)) {
        if (n != 1)
            seterr(err, errlen, "%s: query: give one SQL statement with parameters", s->path);
        goto out;
    }
    for (size_t k = 0; k < n; k++) {
        int ncol = sqlite3_column_count(st[k]), rc;
        bool stop = false;

        free(names);
        free(values);
        free(types);
        names = calloc((size_t)ncol + 1, sizeof *names);
        values = calloc((size_t)ncol + 1, sizeof *values);
        types = calloc((size_t)ncol + 1, sizeof *types);
        if (!names || !values || !types) {
            seterr(err, errlen, "out of memory");
            goto out;
        }
        for (int c = 0; c < ncol; c++)
            names[c] = sqlite3_column_name(st[k], c);
        if (ncol > 0 && fn && fn->begin && fn->begin(user, ncol, names) != 0)
            break;
        while ((rc = sqlite3_step(st[k])) == SQLITE_ROW) {
            for (int c = 0; c < ncol; c++) {
                types[c] = sqlite3_column_type(st[k], c);
                values[c] =
                    types[c] == SQLITE_NULL ? NULL : (const char *)sqlite3_column_text(st[k], c);
            }
            if (fn && fn->row && fn->row(user, ncol, values, types) != 0) {
                stop = true;
                rc = SQLITE_DONE;
                break;
            }
        }
        if (rc != SQLITE_DONE) {
            seterr(err, errlen, "%s", sqlite3_errmsg(s->db));
            goto out;
        }
        if (ncol > 0 && fn && fn->end && fn->end(user, ncol) != 0)
            stop = true;
        if (stop)
            break;
    }
    ret = 0;
out:
    sqlite3_set_authorizer(s->db, function_authorizer, NULL);
    for (size_t k = 0; k < n; k++)
        sqlite3_finalize(st[k]);
    free(st);
    free(names);
    free(values);
    free(types);
    return ret;
}

int fsc_store_query_user(struct fsc_store *s, const char *sql, const struct fsc_store_user_fn *fn,
                         void *user, char *err, size_t errlen)
{
    return query_user(s, sql, NULL, 0, fn, user, err, errlen);
}

int fsc_store_query_bound(struct fsc_store *s, const char *sql,
                          const struct fsc_store_param *params, int np,
                          const struct fsc_store_user_fn *fn, void *user, char *err, size_t errlen)
{
    return query_user(s, sql, params, np, fn, user, err, errlen);
}
