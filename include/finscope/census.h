/* finscope/census.h - netstat from the wire: how many sockets each host holds in each TCP state,
 * at any instant of a capture.
 *
 * Every endpoint of every flow holds one state at a time; its transitions (the transitions
 * view) cut its life into intervals, and the kernel's lifetimes close the last one.  The census
 * counts, per host, the intervals that cover an instant.  All of it is SQL on the database, so
 * `finscope states`, `report` and a person at the sqlite3 shell (the state_intervals view) get
 * the same numbers from one text: FSC_SQL_STATE_INTERVALS.  docs/schema.md "state_intervals".
 */
#ifndef FINSCOPE_CENSUS_H
#define FINSCOPE_CENSUS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "finscope/common.h"
#include "finscope/store.h"

/* The kernel's lifetimes (Linux): TCP_TIMEWAIT_LEN is 60 s (2MSL, fixed); an orphan leaves
 * FIN_WAIT_2 after net.ipv4.tcp_fin_timeout (default 60 s); analyze writes a connection that
 * has been idle this long (--idle-timeout default), so it is no longer known after it. */
#define FSC_TIME_WAIT_DEFAULT_S 60
#define FSC_FIN_TIMEOUT_DEFAULT_S 60
#define FSC_IDLE_TIMEOUT_DEFAULT_S 300
/* An unanswered connect() gives up after net.ipv4.tcp_syn_retries = 6 retransmissions, 1 s
 * doubling: 1+2+4+8+16+32+64 = 127 s; a request socket (SYN_RCVD) after tcp_synack_retries = 5:
 * 1+2+4+8+16+32 = 63 s. */
#define FSC_SYN_SENT_LIFE_S 127
#define FSC_SYN_RCVD_LIFE_S 63
/* Linux's default net.ipv4.ip_local_port_range, 32768..60999: ports a client has for one
 * (client address, server address, server port), each blocked while in TIME_WAIT. */
#define FSC_EPHEMERAL_PORTS 28232

#define FSC_XSTR(x) FSC_STR(x)
#define FSC_STR(x) #x

/*
 * The state intervals of every endpoint, one row each: capture_id, flow_id (NULL for a
 * connection a running live still holds: held_flows), endpoint ('client' or 'server'), host,
 * port, peer, peer_port, state, from_ts, until_ts, ended, at_end.  TW, FT and IDLE are SQL
 * expressions (or printf conversions: the text has no other '%') for the TIME_WAIT length, the
 * orphan FIN_WAIT_2 timeout and the idle timeout, in seconds.
 *
 * The endpoint is in the state from from_ts (the packet that caused or proved it) until the
 * first of (ended):
 *   transition     the endpoint's next transition;
 *   time_wait_over TIME_WAIT entered + TW;
 *   fin_timeout    FIN_WAIT_2 entered + FT, when the endpoint is the closer and closer_call is
 *                  'close' (a proven orphan; an unproven FIN_WAIT_2 may be held forever by a
 *                  shutdown(), the wire cannot tell);
 *   syn_timeout    SYN_SENT entered + FSC_SYN_SENT_LIFE_S, SYN_RCVD + FSC_SYN_RCVD_LIFE_S, when
 *                  it is the endpoint's last state (the kernel gives the handshake up; a later
 *                  transition shows this host waited longer);
 *   idle           the flow's last packet + IDLE, for the last state of an endpoint that no
 *                  lifetime ends (the capture may have ended before: the kernel keeps states
 *                  when packets stop);
 *   reused         the first packet of the next connection on the same 4-tuple in the same
 *                  capture, whichever end opened it (a host holds one socket per 4-tuple: a
 *                  SYN that reuses it ends what was there, TIME_WAIT included).
 * When idle comes at or before the capture's last packet, the endpoint is then 'unknown' until
 * that last packet (ended 'capture_end'; it counts at that instant too) or a reuse.
 * at_end is 1 for the intervals held when the capture's last packet was captured.
 * closed and listen are not intervals (no socket per connection, as ss -tan counts them).
 * A log that is not a JSON array gives no intervals; an entry without a time is skipped.
 */
/* The flows and the connections a running live holds (negative ids), with what the census
 * reads of them. */
/* clang-format off */
#define CENSUS_FLOWS(COLS, HELD_COLS)                                                              \
    "(SELECT id, capture_id, client_addr, client_port, server_addr, server_port, " COLS            \
    " FROM flows UNION ALL SELECT -id, capture_id, client_addr, client_port, server_addr, "        \
    "server_port, " HELD_COLS " FROM held_flows)"

/* The segment a ref entry j names (store.h), its flow's segment log read defensively. */
#define CENSUS_SEG FSC_SQL_TR_SEG("j.value", FSC_SQL_JSON_ARRAY("f.segment_log"))
/* Element N of an entry as JSON text; CENSUS_NUMBER makes it a number only when it is one
 * (JSON true, false, a string are not: the entry is skipped). */
#define CENSUS_NUMBER(X) "iif(" X " GLOB '[0-9-]*', CAST(" X " AS REAL), NULL)"

/* When an endpoint's last state ends by the kernel's clock, or NULL (lt: the lifetimes). */
#define CENSUS_LIFE                                                                                \
    "CASE state WHEN 'time_wait' THEN ts_us / 1e6 + lt.tw\n"                                       \
    "           WHEN 'syn_sent' THEN iif(held_us IS NULL,\n"                                       \
    "                                    ts_us / 1e6 + " FSC_XSTR(FSC_SYN_SENT_LIFE_S) ", NULL)\n" \
    "           WHEN 'syn_rcvd' THEN iif(held_us IS NULL,\n"                                       \
    "                                    ts_us / 1e6 + " FSC_XSTR(FSC_SYN_RCVD_LIFE_S) ", NULL)\n" \
    "           WHEN 'fin_wait_2' THEN iif(closer_call = 'close' AND closer = endpoint,\n"         \
    "                                      ts_us / 1e6 + lt.ft, NULL) END"

/*
 * ru: when the next connection on the same 4-tuple began (either way round: A:a-B:b is one
 * socket on A whoever was the client).  tj: each log entry's fields, read once (an entry that
 * is not an array, or a time that is not a number, gives NULLs and is skipped).
 */
#define FSC_SQL_STATE_INTERVALS(TW, FT, IDLE)                                                      \
    "WITH lt(tw, ft, idle) AS (SELECT " TW ", " FT ", " IDLE "),\n"                                \
    "ru AS (\n"                                                                                    \
    "    SELECT id, lead(first_ts) OVER (PARTITION BY capture_id,\n"                               \
    "               min(client_addr || ' ' || client_port, server_addr || ' ' || server_port),\n"  \
    "               max(client_addr || ' ' || client_port, server_addr || ' ' || server_port)\n"   \
    "               ORDER BY first_ts, id) AS reuse_ts\n"                                          \
    "    FROM " CENSUS_FLOWS("first_ts", "first_ts") "),\n"                                        \
    "tj AS MATERIALIZED (\n"                                                                       \
    "    SELECT f.id, f.capture_id, f.client_addr, f.client_port, f.server_addr, f.server_port,\n" \
    "           f.first_ts, f.last_ts, f.closer, f.closer_call,\n"                                 \
    "           iif(j.type = 'array', " FSC_SQL_TR_ENDPOINT("j.value") ", NULL) AS endpoint,\n"    \
    "           iif(j.type = 'array', " FSC_SQL_TR_TO("j.value") ", NULL) AS state,\n"             \
    "           iif(j.type = 'array', iif(" FSC_SQL_TR_REF("j.value") ", " CENSUS_SEG " -> 1,\n"   \
    "                                     j.value -> 1), NULL) AS ts_json,\n"                      \
    "           iif(j.type = 'array', iif(" FSC_SQL_TR_REF("j.value") ", j.value -> 2,\n"          \
    "                                     j.value -> 3), NULL) AS held_json\n"                     \
    "    FROM " CENSUS_FLOWS("last_ts, closer, closer_call, first_ts, first_packet, segment_log, " \
                            "transition_log", "last_ts, NULL, NULL, first_ts, 0, '[]', "           \
                            "transition_log") " AS f,\n"                                           \
    "         json_each(" FSC_SQL_JSON_ARRAY("f.transition_log") ") AS j),\n"                      \
    "tn AS (\n"                                                                                    \
    "    SELECT tj.*, round(first_ts * 1e6) + " CENSUS_NUMBER("ts_json") " AS ts_us,\n"            \
    "           " CENSUS_NUMBER("held_json") " AS held_us FROM tj),\n"                             \
"tr AS (\n"                                                                                        \
    "    SELECT tn.id, tn.capture_id, tn.last_ts, ru.reuse_ts, endpoint, state,\n"                 \
    "           coalesce(c.last_ts, tn.last_ts) AS cap_end, ts_us / 1e6 AS from_ts,\n"             \
    "           (ts_us + held_us) / 1e6 AS next_ts,\n"                                             \
    "           " CENSUS_LIFE " AS life_ts, lt.idle,\n"                                            \
    "           iif(endpoint = 'client', client_addr, server_addr) AS host,\n"                     \
    "           iif(endpoint = 'client', client_port, server_port) AS port,\n"                     \
    "           iif(endpoint = 'client', server_addr, client_addr) AS peer,\n"                     \
    "           iif(endpoint = 'client', server_port, client_port) AS peer_port\n"                 \
    "    FROM tn JOIN ru ON ru.id = tn.id LEFT JOIN captures AS c ON c.id = tn.capture_id, lt\n"   \
    "    WHERE endpoint IN ('client', 'server') AND state NOT IN ('closed', 'listen')\n"           \
    "          AND ts_us IS NOT NULL),\n"                                                          \
    "ti AS (\n"                                                                                    \
    "    SELECT tr.*, iif(next_ts IS NULL AND life_ts IS NULL, last_ts + idle, NULL) AS idle_ts\n" \
    "    FROM tr),\n"                                                                              \
    "iv AS (\n"                                                                                    \
    "    SELECT ti.*, min(coalesce(next_ts, 9e18), coalesce(life_ts, 9e18),\n"                     \
    "                     coalesce(idle_ts, 9e18), coalesce(reuse_ts, 9e18)) AS e\n"               \
    "    FROM ti)\n"                                                                               \
    "SELECT capture_id, iif(id > 0, id, NULL) AS flow_id, endpoint, host, port, peer, peer_port,\n" \
    "       state, from_ts, e AS until_ts,\n"                                                      \
    "       CASE WHEN e = next_ts THEN 'transition'\n"                                             \
    "            WHEN e = life_ts THEN CASE state WHEN 'time_wait' THEN 'time_wait_over'\n"        \
    "                                             WHEN 'fin_wait_2' THEN 'fin_timeout'\n"          \
    "                                             ELSE 'syn_timeout' END\n"                        \
    "            WHEN e = idle_ts THEN 'idle' ELSE 'reused' END AS ended,\n"                       \
    "       from_ts <= cap_end AND e > cap_end AS at_end\n"                                        \
    "FROM iv WHERE from_ts <= e\n"                                                                 \
    "UNION ALL\n"                                                                                  \
    "SELECT capture_id, iif(id > 0, id, NULL), endpoint, host, port, peer, peer_port, 'unknown',\n" \
    "       idle_ts, min(coalesce(reuse_ts, 9e18), cap_end),\n"                                    \
    "       iif(coalesce(reuse_ts, 9e18) > cap_end, 'capture_end', 'reused'),\n"                   \
    "       coalesce(reuse_ts, 9e18) > cap_end\n"                                                  \
    "FROM iv WHERE e = idle_ts AND from_ts <= idle_ts AND idle_ts <= cap_end\n"                    \
    "      AND coalesce(reuse_ts, 9e18) >= idle_ts\n"
/* clang-format on */

/* The view in the schema, with Linux's lifetimes. */
#define FSC_SQL_STATE_INTERVALS_VIEW                                                               \
    "CREATE VIEW state_intervals AS\n" FSC_SQL_STATE_INTERVALS(                                    \
        FSC_XSTR(FSC_TIME_WAIT_DEFAULT_S) ".0", FSC_XSTR(FSC_FIN_TIMEOUT_DEFAULT_S) ".0",          \
        FSC_XSTR(FSC_IDLE_TIMEOUT_DEFAULT_S) ".0") ";\n"

/* The census's states in netstat order (the index of a state in struct fsc_census). */
#define FSC_CENSUS_STATES                                                                          \
    "syn_sent, syn_rcvd, established, fin_wait_1, fin_wait_2, close_wait, closing, last_ack, "     \
    "time_wait, unknown"
enum { FSC_CENSUS_NSTATES = 10 };
const char *fsc_census_state_name(int state);
int fsc_census_state_index(const char *name); /* -1 when not a census state */

/* What to count (finscope states, report). */
struct fsc_census_opts {
    double time_wait_s, fin_timeout_s, idle_s; /* the lifetimes (FSC_*_DEFAULT_S) */
    int64_t capture_id;                        /* only this capture; < 0: every capture */
    const char *host;                          /* only this address (canonical text) or NULL */
    const char *state;                         /* only this state token or NULL */
};

/* Fill o with the defaults: Linux's lifetimes, every capture, every host and state. */
void fsc_census_defaults(struct fsc_census_opts *o);

/*
 * A census: the state intervals of the selection, grouped by a key (an SQL expression over
 * state_intervals' columns, e.g. "host", or "host || ':' || port"; an interval whose key is NULL
 * is left out, so a CASE picks intervals: "CASE WHEN endpoint = 'server' THEN host END"), turned
 * into running counts per (key, state): a "pair".  The key is SQL text from the program, never
 * from a user.  Pairs are ordered by key, busiest key first (its highest peak of any state, then
 * the key's text), and by state within a key.  Counting is one sort and one sweep in C.
 */
struct fsc_census;

struct fsc_census_pair {
    uint32_t key;     /* index for fsc_census_key() */
    int state;        /* index of FSC_CENSUS_STATES */
    int64_t at_end;   /* the count at the last packet of the captures counted */
    int64_t peak;     /* the highest count */
    fsc_time peak_at; /* when it was first reached */
    size_t lo, hi;    /* its count changes (internal) */
};

/* Load the census of the database s.  0, or -1 with a message in err (database error, out of
 * memory).  The result is freed with fsc_census_free. */
int fsc_census_load(struct fsc_store *s, const struct fsc_census_opts *o, const char *key,
                    struct fsc_census **out, char *err, size_t errlen);
/* The censuses of n keys at once (one pass over the intervals, which is most of the cost):
 * out[k] for keys[k].  0, or -1 with a message in err (then every out[k] is NULL). */
int fsc_census_load_keys(struct fsc_store *s, const struct fsc_census_opts *o,
                         const char *const *keys, size_t n, struct fsc_census **out, char *err,
                         size_t errlen);
void fsc_census_free(struct fsc_census *c);

size_t fsc_census_npairs(const struct fsc_census *c);
const struct fsc_census_pair *fsc_census_pair(const struct fsc_census *c, size_t i);
const char *fsc_census_key(const struct fsc_census *c, uint32_t key);
/* The first packet and the last of the selected captures (0 when there is none). */
fsc_time fsc_census_start(const struct fsc_census *c);
fsc_time fsc_census_end(const struct fsc_census *c);
/* An instant as the census prints it: UTC "YYYY-MM-DD HH:MM:SS.ffffff", and seconds from start
 * with six decimals (any two times: the difference is taken in double when it would overflow). */
struct fsc_census_when {
    char utc[48], rel[32];
};
struct fsc_census_when fsc_census_when(fsc_time t, fsc_time start);
/* Seconds from start to t, as fsc_census_when's rel. */
double fsc_census_seconds(fsc_time t, fsc_time start);

/* The count of pair i at instant t: the intervals with from <= t < until, and those held at
 * their capture's end with until == t. */
int64_t fsc_census_count_at(const struct fsc_census *c, size_t i, fsc_time t);

#endif
