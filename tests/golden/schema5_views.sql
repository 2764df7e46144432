CREATE VIEW segments AS
    SELECT f.id AS flow_id, j.key AS ord, j.value ->> 7 AS packet,
           (j.value ->> 6) / 1e6 AS ts, j.value ->> 0 AS sender, j.value ->> 1 AS flags,
           j.value ->> 2 AS rel_seq, j.value ->> 3 AS rel_ack, j.value ->> 4 AS len,
           j.value ->> 5 AS why
    FROM flows AS f, json_each(f.segment_log) AS j;
CREATE VIEW state_dwell AS
    SELECT f.id AS flow_id, j.value ->> 0 AS endpoint, j.value ->> 2 AS state,
           (j.value ->> 3) / 1e6 AS enter_ts,
           ((j.value ->> 3) + (j.value ->> 6)) / 1e6 AS leave_ts,
           round(((j.value ->> 3) + (j.value ->> 6)) / 1e6 - (j.value ->> 3) / 1e6, 6)
               AS dwell_s,
           j.value ->> 4 AS enter_packet, j.value ->> 5 AS evidence
    FROM flows AS f, json_each(f.transition_log) AS j;
CREATE VIEW state_intervals AS
WITH lt(tw, ft, idle) AS (SELECT 60.0, 60.0, 300.0),
ru AS (
    SELECT id, lead(first_ts) OVER (PARTITION BY capture_id,
               min(client_addr || ' ' || client_port, server_addr || ' ' || server_port),
               max(client_addr || ' ' || client_port, server_addr || ' ' || server_port)
               ORDER BY first_ts, id) AS reuse_ts
    FROM (SELECT id, capture_id, client_addr, client_port, server_addr, server_port, first_ts FROM flows UNION ALL SELECT -id, capture_id, client_addr, client_port, server_addr, server_port, first_ts FROM held_flows)),
tj AS MATERIALIZED (
    SELECT f.id, f.capture_id, f.client_addr, f.client_port, f.server_addr, f.server_port,
           f.last_ts, f.closer, f.closer_call,
           iif(j.type = 'array', j.value ->> 0, NULL) AS endpoint,
           iif(j.type = 'array', j.value ->> 2, NULL) AS state,
           iif(j.type = 'array', j.value -> 3, NULL) AS ts_json, iif(j.type = 'array', j.value -> 6, NULL) AS held_json
    FROM (SELECT id, capture_id, client_addr, client_port, server_addr, server_port, last_ts, closer, closer_call, transition_log FROM flows UNION ALL SELECT -id, capture_id, client_addr, client_port, server_addr, server_port, last_ts, NULL, NULL, transition_log FROM held_flows) AS f,
         json_each(iif(json_valid(f.transition_log) AND
                       json_type(f.transition_log) = 'array', f.transition_log, '[]')) AS j),
tn AS (
    SELECT tj.*, iif(ts_json GLOB '[0-9-]*', CAST(ts_json AS REAL), NULL) AS ts_us,
           iif(held_json GLOB '[0-9-]*', CAST(held_json AS REAL), NULL) AS held_us FROM tj),
tr AS (
    SELECT tn.id, tn.capture_id, tn.last_ts, ru.reuse_ts, endpoint, state,
           coalesce(c.last_ts, tn.last_ts) AS cap_end, ts_us / 1e6 AS from_ts,
           (ts_us + held_us) / 1e6 AS next_ts,
           CASE state WHEN 'time_wait' THEN ts_us / 1e6 + lt.tw
           WHEN 'syn_sent' THEN iif(held_us IS NULL,
                                    ts_us / 1e6 + 127, NULL)
           WHEN 'syn_rcvd' THEN iif(held_us IS NULL,
                                    ts_us / 1e6 + 63, NULL)
           WHEN 'fin_wait_2' THEN iif(closer_call = 'close' AND closer = endpoint,
                                      ts_us / 1e6 + lt.ft, NULL) END AS life_ts, lt.idle,
           iif(endpoint = 'client', client_addr, server_addr) AS host,
           iif(endpoint = 'client', client_port, server_port) AS port,
           iif(endpoint = 'client', server_addr, client_addr) AS peer,
           iif(endpoint = 'client', server_port, client_port) AS peer_port
    FROM tn JOIN ru ON ru.id = tn.id LEFT JOIN captures AS c ON c.id = tn.capture_id, lt
    WHERE endpoint IN ('client', 'server') AND state NOT IN ('closed', 'listen')
          AND ts_us IS NOT NULL),
ti AS (
    SELECT tr.*, iif(next_ts IS NULL AND life_ts IS NULL, last_ts + idle, NULL) AS idle_ts
    FROM tr),
iv AS (
    SELECT ti.*, min(coalesce(next_ts, 9e18), coalesce(life_ts, 9e18),
                     coalesce(idle_ts, 9e18), coalesce(reuse_ts, 9e18)) AS e
    FROM ti)
SELECT capture_id, iif(id > 0, id, NULL) AS flow_id, endpoint, host, port, peer, peer_port,
       state, from_ts, e AS until_ts,
       CASE WHEN e = next_ts THEN 'transition'
            WHEN e = life_ts THEN CASE state WHEN 'time_wait' THEN 'time_wait_over'
                                             WHEN 'fin_wait_2' THEN 'fin_timeout'
                                             ELSE 'syn_timeout' END
            WHEN e = idle_ts THEN 'idle' ELSE 'reused' END AS ended,
       from_ts <= cap_end AND e > cap_end AS at_end
FROM iv WHERE from_ts <= e
UNION ALL
SELECT capture_id, iif(id > 0, id, NULL), endpoint, host, port, peer, peer_port, 'unknown',
       idle_ts, min(coalesce(reuse_ts, 9e18), cap_end),
       iif(coalesce(reuse_ts, 9e18) > cap_end, 'capture_end', 'reused'),
       coalesce(reuse_ts, 9e18) > cap_end
FROM iv WHERE e = idle_ts AND from_ts <= idle_ts AND idle_ts <= cap_end
      AND coalesce(reuse_ts, 9e18) >= idle_ts;
CREATE VIEW transitions AS
    SELECT f.id AS flow_id, j.key AS ord, j.value ->> 0 AS endpoint,
           j.value ->> 1 AS from_state, j.value ->> 2 AS to_state,
           (j.value ->> 3) / 1e6 AS ts, j.value ->> 4 AS packet, j.value ->> 5 AS evidence
    FROM flows AS f, json_each(f.transition_log) AS j;
