/* test_store.c - unit test of the SQLite store: schema, flow round trip, views, refusals. */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "finscope/store.h"
#include "finscope/summary.h"

static int passed, failed;

/* Base times in microseconds: whole seconds, so the REAL text forms below are exact. */
#define T0 1700000000000000LL
#define T1 (T0 + 10 * FSC_USEC_PER_SEC)
#define MS 1000LL

static void check(bool ok, const char *what, const char *got, const char *want)
{
    if (ok) {
        passed++;
        return;
    }
    failed++;
    fprintf(stderr, "FAIL %s\n  got:  %s\n  want: %s\n", what, got ? got : "(null)",
            want ? want : "(null)");
}

static void check_str(const char *what, const char *got, const char *want)
{
    check(got && want && strcmp(got, want) == 0, what, got, want);
}

static void check_int(const char *what, long long got, long long want)
{
    char g[32], w[32];

    snprintf(g, sizeof g, "%lld", got);
    snprintf(w, sizeof w, "%lld", want);
    check(got == want, what, g, w);
}

/* Collects a result set as text: columns joined by '|', rows by '\n', SQL NULL as "NULL". */
struct rows {
    char buf[8192];
    size_t len;
};

static int collect(void *user, int ncol, const char *const *names, const char *const *v)
{
    struct rows *r = user;

    (void)names;
    for (int c = 0; c < ncol; c++) {
        int w = snprintf(r->buf + r->len, sizeof r->buf - r->len, "%s%s",
                         c ? "|" : (r->len ? "\n" : ""), v[c] ? v[c] : "NULL");
        if (w < 0 || (size_t)w >= sizeof r->buf - r->len)
            return 1;
        r->len += (size_t)w;
    }
    return 0;
}

/* The whole result of sql as text (static buffer, valid until the next call). */
static const char *q(struct fsc_store *s, const char *sql, int64_t bind)
{
    static struct rows r;
    char err[512];

    r.len = 0;
    r.buf[0] = '\0';
    if (fsc_store_query(s, sql, bind, collect, &r, err, sizeof err) < 0)
        snprintf(r.buf, sizeof r.buf, "ERROR: %s", err);
    return r.buf;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    *len = 0;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n)
            *len = (size_t)n;
    }
    fclose(f);
    return buf;
}

static void check_same_file(const char *what, const char *path, const char *before, size_t blen)
{
    size_t alen;
    char *after = slurp(path, &alen);

    check(after && before && alen == blen && memcmp(after, before, blen) == 0, what, "file changed",
          "byte-identical");
    free(after);
}

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    if (!f || fwrite(data, 1, len, f) != len)
        perror(path);
    if (f)
        fclose(f);
}

static struct fsc_addr v4(unsigned a, unsigned b, unsigned c, unsigned d)
{
    struct fsc_addr x = {{(uint8_t)a, (uint8_t)b, (uint8_t)c, (uint8_t)d}};
    return x;
}

/* 2001:db8::N */
static struct fsc_addr v6(unsigned n)
{
    struct fsc_addr x = {{0x20, 0x01, 0x0d, 0xb8}};
    x.b[15] = (uint8_t)n;
    return x;
}

static void transition(struct fsc_transition *t, fsc_time ts, uint64_t pkt, int ep,
                       enum fsc_tcp_state from, enum fsc_tcp_state to, enum fsc_evidence ev)
{
    t->ts = ts;
    t->packet = pkt;
    t->endpoint = (uint8_t)ep;
    t->from = (uint8_t)from;
    t->to = (uint8_t)to;
    t->evidence = (uint8_t)ev;
}

static void segment(struct fsc_segment *g, fsc_time ts, uint64_t pkt, int from, uint8_t flags,
                    uint32_t seq, uint32_t ack, uint32_t len, uint8_t why)
{
    g->ts = ts;
    g->packet = pkt;
    g->from = (uint8_t)from;
    g->flags = flags;
    g->rel_seq = seq;
    g->rel_ack = ack;
    g->len = len;
    g->why = why;
}

static void no_dwell(struct fsc_flow *f)
{
    f->close_wait_us = f->fin_wait_2_us = f->last_ack_us = -1;
}

/* Flow A: IPv4, three-way handshake, then the server resets with unread data. */
static void make_flow_a(struct fsc_flow *f, struct fsc_transition *tr, struct fsc_segment *sg)
{
    memset(f, 0, sizeof *f);
    no_dwell(f);
    f->ip_version = 4;
    f->finalized = f->closed = true;
    f->ep[FSC_CLIENT].addr = v4(192, 0, 2, 10);
    f->ep[FSC_CLIENT].port = 51000;
    f->ep[FSC_SERVER].addr = v4(198, 51, 100, 1);
    f->ep[FSC_SERVER].port = 80;
    f->ep[FSC_CLIENT].state = FSC_TCP_CLOSED;
    f->ep[FSC_SERVER].state = FSC_TCP_CLOSED;
    f->ep[FSC_CLIENT].seq_known = f->ep[FSC_SERVER].seq_known = true;
    f->ep[FSC_CLIENT].syn_sent = f->ep[FSC_SERVER].syn_sent = true; /* ISNs come from SYNs */
    f->ep[FSC_CLIENT].isn = 1000;
    f->ep[FSC_SERVER].isn = 4000000000u; /* above 2^31: must come back unsigned */
    f->ep[FSC_CLIENT].pkts = 4;
    f->ep[FSC_SERVER].pkts = 4;
    f->ep[FSC_CLIENT].bytes = 100;
    f->ep[FSC_SERVER].bytes = 2000;
    f->ep[FSC_CLIENT].retrans_bytes = 10;
    f->ep[FSC_SERVER].retrans_bytes = 20;
    f->ep[FSC_SERVER].gap_bytes = 5;
    f->ep[FSC_CLIENT].fin_retrans = 1;
    f->ep[FSC_SERVER].fin_retrans = 2;
    f->first_ts = T0;
    f->last_ts = T0 + FSC_USEC_PER_SEC;
    f->first_packet = 1;
    f->last_packet = 8;
    f->syn_ts = T0;
    f->hs_done_ts = T0 + 250;
    f->rst_after_close = 1;
    f->anomalies = FSC_AN_RST_DATA | FSC_AN_DATA_AFTER_RST;
    f->handshake = FSC_HS_THREE_WAY;
    f->close_kind = FSC_CK_RST;
    f->rst_cause = FSC_RC_UNREAD_DATA;
    f->closer = FSC_CL_SERVER;
    f->dropped_seg = 2;

    transition(&tr[0], T0, 1, FSC_CLIENT, FSC_TCP_CLOSED, FSC_TCP_SYN_SENT, FSC_EV_SENT_SYN);
    transition(&tr[1], T0 + 100, 2, FSC_SERVER, FSC_TCP_LISTEN, FSC_TCP_SYN_RCVD,
               FSC_EV_SENT_SYNACK);
    transition(&tr[2], T0 + 100, 2, FSC_CLIENT, FSC_TCP_SYN_SENT, FSC_TCP_ESTABLISHED,
               FSC_EV_PEER_ACK_SYN);
    transition(&tr[3], T0 + 250, 3, FSC_SERVER, FSC_TCP_SYN_RCVD, FSC_TCP_ESTABLISHED,
               FSC_EV_PEER_ACK_SYN);
    transition(&tr[4], T0 + FSC_USEC_PER_SEC, 10, FSC_SERVER, FSC_TCP_ESTABLISHED, FSC_TCP_CLOSED,
               FSC_EV_SENT_RST);
    transition(&tr[5], T0 + FSC_USEC_PER_SEC, 10, FSC_CLIENT, FSC_TCP_ESTABLISHED, FSC_TCP_CLOSED,
               FSC_EV_PEER_RST);

    /* rel_ack 77 on SYN and RST: the ACK flag is off, so it must be stored as NULL. */
    segment(&sg[0], T0, 1, FSC_CLIENT, FSC_TH_SYN, 0, 77, 0, FSC_SEG_SYN);
    segment(&sg[1], T0 + 100, 2, FSC_SERVER, FSC_TH_SYN | FSC_TH_ACK, 0, 1, 0,
            FSC_SEG_SYN | FSC_SEG_ACK_SYN);
    segment(&sg[2], T0 + 250, 3, FSC_CLIENT, FSC_TH_ACK, 1, 1, 0, FSC_SEG_ACK_SYN);
    segment(&sg[3], T0 + FSC_USEC_PER_SEC, 10, FSC_SERVER, FSC_TH_RST, 2001, 77, 0, FSC_SEG_RST);
    f->seg = sg;
    f->n_seg = f->cap_seg = 4;
}

/* Flow B: IPv6, caught midstream; the client closed, the server sits in CLOSE_WAIT. */
static void make_flow_b(struct fsc_flow *f, struct fsc_transition *tr, struct fsc_segment *sg,
                        int64_t close_wait_us)
{
    memset(f, 0, sizeof *f);
    no_dwell(f);
    f->ip_version = 6;
    f->finalized = true;
    f->midstream = true;
    f->ep[FSC_CLIENT].addr = v6(2);
    f->ep[FSC_CLIENT].port = 40000;
    f->ep[FSC_SERVER].addr = v6(1);
    f->ep[FSC_SERVER].port = 443;
    f->ep[FSC_CLIENT].state = FSC_TCP_FIN_WAIT_2;
    f->ep[FSC_SERVER].state = FSC_TCP_CLOSE_WAIT;
    f->ep[FSC_CLIENT].isn = 12345; /* no SYN seen (midstream): must be NULL */
    f->ep[FSC_CLIENT].pkts = 3;
    f->ep[FSC_SERVER].pkts = 2;
    f->ep[FSC_CLIENT].bytes = 10;
    f->ep[FSC_SERVER].bytes = 5;
    f->half_close_bytes = 5;
    f->first_ts = T1;
    f->last_ts = T1 + 3500 * MS;
    f->first_packet = 20;
    f->last_packet = 31;
    f->handshake = FSC_HS_NONE;
    f->close_kind = FSC_CK_HALF_CLOSED;
    f->rst_cause = FSC_RC_NONE;
    f->closer = FSC_CL_CLIENT;
    f->close_wait_us = close_wait_us;
    f->fin_wait_2_us = 2500 * MS;

    transition(&tr[0], T1, 20, FSC_CLIENT, FSC_TCP_CLOSED, FSC_TCP_ESTABLISHED, FSC_EV_MIDSTREAM);
    transition(&tr[1], T1, 20, FSC_SERVER, FSC_TCP_CLOSED, FSC_TCP_ESTABLISHED, FSC_EV_MIDSTREAM);
    transition(&tr[2], T1 + 500 * MS, 21, FSC_CLIENT, FSC_TCP_ESTABLISHED, FSC_TCP_FIN_WAIT_1,
               FSC_EV_SENT_FIN);
    transition(&tr[3], T1 + 1000 * MS, 22, FSC_SERVER, FSC_TCP_ESTABLISHED, FSC_TCP_CLOSE_WAIT,
               FSC_EV_ACK_PEER_FIN);
    transition(&tr[4], T1 + 1000 * MS, 22, FSC_CLIENT, FSC_TCP_FIN_WAIT_1, FSC_TCP_FIN_WAIT_2,
               FSC_EV_PEER_ACK_FIN);

    segment(&sg[0], T1 + 500 * MS, 21, FSC_CLIENT, FSC_TH_FIN | FSC_TH_PSH | FSC_TH_ACK, 100, 50,
            10, FSC_SEG_FIN);
    segment(&sg[1], T1 + 1000 * MS, 22, FSC_SERVER, FSC_TH_ACK, 50, 111, 0, FSC_SEG_ACK_FIN);
    segment(&sg[2], T1 + 2000 * MS, 23, FSC_SERVER,
            FSC_TH_PSH | FSC_TH_ACK | FSC_TH_URG | FSC_TH_ECE | FSC_TH_CWR, 50, 111, 5,
            FSC_SEG_AFTER_FIN);
    segment(&sg[3], T1 + 3500 * MS, 24, FSC_CLIENT, 0, 111, 0, 0, 0);
    f->seg = sg;
    f->n_seg = f->cap_seg = 4;
}

static void make_info(struct fsc_capture_info *ci, const char *hash)
{
    memset(ci, 0, sizeof *ci);
    ci->source = "/captures/a.pcap";
    ci->size_bytes = 12345;
    ci->hash = hash;
    ci->link_type = "EN10MB";
    ci->link_type_id = 1;
    ci->truncated_at = -1;
    ci->drops = -1;
}

static void finish_info(struct fsc_capture_info *ci)
{
    ci->packets_read = 40;
    ci->packets_tcp = 33;
    ci->skipped[FSC_SKIP_NOT_IP] = 2;
    ci->skipped[FSC_SKIP_NOT_TCP] = 5;
    ci->first_ts = T0;
    ci->last_ts = T1 + 3500 * MS;
    ci->flows = 2;
}

static void rm_tree(const char *dir)
{
    char path[4096 + 256 + 2];
    DIR *d = opendir(dir);
    struct dirent *e;

    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* Every flows column but the JSON logs, which the transitions/segments checks read back. */
#define FLOW_COLS                                                                                  \
    "id, capture_id, ip_version, client_addr, client_port, server_addr, server_port, first_ts, "   \
    "last_ts, duration_s, first_packet, handshake, close_kind, rst_cause, closer, client_state, "  \
    "server_state, client_packets, server_packets, client_bytes, server_bytes, half_close_bytes, " \
    "client_retrans_bytes, server_retrans_bytes, client_gap_bytes, server_gap_bytes, "             \
    "fin_retrans, rst_after_close, handshake_rtt_s, close_wait_s, fin_wait_2_s, last_ack_s, "      \
    "client_isn, server_isn, midstream, self_connect, anomalies, transitions_dropped, "            \
    "segments_dropped, last_packet"

#define FLOW_A_ROW                                                                                 \
    "1|1|4|192.0.2.10|51000|198.51.100.1|80|1700000000.0|1700000001.0|1.0|1|three_way|rst|"        \
    "unread_data|server|closed|closed|4|4|100|2000|0|10|20|0|5|3|1|0.00025|NULL|NULL|NULL|1000|"   \
    "4000000000|0|0|data_after_rst,rst_with_data|0|2|8"
#define FLOW_B_ROW                                                                                 \
    "2|1|6|2001:db8::2|40000|2001:db8::1|443|1700000010.0|1700000013.5|3.5|20|none|half_closed|"   \
    "NULL|client|fin_wait_2|close_wait|3|2|10|5|5|0|0|0|0|0|0|NULL|2.5|2.5|NULL|NULL|NULL|1|0||0|" \
    "0|31"

static const char count_all_sql[] =
    "SELECT (SELECT count(*) FROM captures), (SELECT count(*) FROM flows), "
    "(SELECT count(*) FROM transitions), (SELECT count(*) FROM segments), "
    "(SELECT count(*) FROM skipped)";

/* Capture 1 with flows A and B; every column read back exactly. */
/*
 * Schema 4's state_dwell (lead() over the transitions view), the reference for schema 5's,
 * which reads each log entry's held time: the rows of both, of their union (IS-equal rows fold),
 * and of their intersection; four equal counts mean the same rows.
 */
#define OLD_DWELL_SQL                                                                              \
    "SELECT flow_id, endpoint, to_state AS state, ts AS enter_ts, lead(ts) OVER w AS leave_ts, "   \
    "round(lead(ts) OVER w - ts, 6) AS dwell_s, packet AS enter_packet, evidence "                 \
    "FROM transitions WINDOW w AS (PARTITION BY flow_id, endpoint ORDER BY ord)"
#define SAME_DWELL_SQL                                                                             \
    "SELECT (SELECT count(*) FROM state_dwell), (SELECT count(*) FROM (" OLD_DWELL_SQL ")), "      \
    "(SELECT count(*) FROM (SELECT * FROM state_dwell UNION " OLD_DWELL_SQL ")), "                 \
    "(SELECT count(*) FROM (SELECT * FROM state_dwell INTERSECT " OLD_DWELL_SQL "))"

static void test_round_trip(struct fsc_store *s)
{
    struct fsc_capture_info ci;
    struct fsc_flow a, b;
    struct fsc_transition atr[8], btr[8];
    struct fsc_segment asg[8], bsg[8];
    char err[512] = "";
    int64_t id;

    check_str("application_id", q(s, "PRAGMA application_id", -1), "1179861809");
    check_str("user_version", q(s, "PRAGMA user_version", -1), "6");
    check_str("journal_mode", q(s, "PRAGMA journal_mode", -1), "delete");
    check_str("page_size", q(s, "PRAGMA page_size", -1), "16384");

    make_info(&ci, "xxh128:00112233445566778899aabbccddeeff");
    id = fsc_store_begin_capture(s, &ci, 0, err, sizeof err);
    check_int("begin capture 1", id, 1);
    check_str("captures row at begin (no packets: no times)",
              q(s, "SELECT packets_read, first_ts, last_ts, flows FROM captures WHERE id = ?1", id),
              "0|NULL|NULL|0");
    make_flow_a(&a, atr, asg);
    make_flow_b(&b, btr, bsg, 2500 * MS);
    check_int("store flow A", fsc_store_flow(s, id, &a, atr, 6, err, sizeof err), 0);
    check_int("flow A id", (long long)a.id, 1);
    check_int("store flow B", fsc_store_flow(s, id, &b, btr, 5, err, sizeof err), 0);
    check_int("flow B id", (long long)b.id, 2);
    finish_info(&ci);
    check_int("end capture 1", fsc_store_end_capture(s, id, &ci, err, sizeof err), 0);
    if (err[0])
        fprintf(stderr, "  error: %s\n", err);

    check_str("captures row",
              q(s,
                "SELECT id, source, size_bytes, hash, link_type, link_type_id, filter, "
                "packets_read, packets_tcp, packets_skipped, truncated, truncated_at, drops, "
                "first_ts, last_ts, flows, flows_evicted, finscope_version FROM captures",
                -1),
              "1|/captures/a.pcap|12345|xxh128:00112233445566778899aabbccddeeff|EN10MB|1|NULL|40|"
              "33|7|0|NULL|NULL|1700000000.0|1700000013.5|2|0|" FSC_VERSION);
    check_str("analyzed_at is UTC ISO-8601",
              q(s,
                "SELECT analyzed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T"
                "[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z' FROM captures",
                -1),
              "1");
    check_str("skipped rows",
              q(s, "SELECT reason, packets FROM skipped WHERE capture_id = ?1 ORDER BY reason", id),
              "not_ip|2\nnot_tcp|5");
    check_str("flow A row", q(s, "SELECT " FLOW_COLS " FROM flows WHERE id = 1", -1), FLOW_A_ROW);
    check_str("flow B row", q(s, "SELECT " FLOW_COLS " FROM flows WHERE id = 2", -1), FLOW_B_ROW);
    check_str("rst_cause NULL is SQL NULL",
              q(s, "SELECT typeof(rst_cause), typeof(close_wait_s) FROM flows WHERE id = 2", -1),
              "null|real");
    check_str("flow A transitions",
              q(s,
                "SELECT ord, endpoint, from_state, to_state, ts, packet, evidence "
                "FROM transitions WHERE flow_id = ?1 ORDER BY ord",
                1),
              "0|client|closed|syn_sent|1700000000.0|1|sent SYN\n"
              "1|server|listen|syn_rcvd|1700000000.0001|2|sent SYN+ACK (ack covers peer SYN)\n"
              "2|client|syn_sent|established|1700000000.0001|2|peer ack covers SYN\n"
              "3|server|syn_rcvd|established|1700000000.00025|3|peer ack covers SYN\n"
              "4|server|established|closed|1700000001.0|10|sent RST\n"
              "5|client|established|closed|1700000001.0|10|peer RST");
    check_str("flow A segments",
              q(s,
                "SELECT ord, packet, ts, sender, flags, rel_seq, rel_ack, len, why "
                "FROM segments WHERE flow_id = ?1 ORDER BY ord",
                1),
              "0|1|1700000000.0|client|S|0|NULL|0|syn\n"
              "1|2|1700000000.0001|server|S.|0|1|0|syn,ack_syn\n"
              "2|3|1700000000.00025|client|.|1|1|0|ack_syn\n"
              "3|10|1700000001.0|server|R|2001|NULL|0|rst");
    check_str("flow B segments",
              q(s,
                "SELECT ord, packet, ts, sender, flags, rel_seq, rel_ack, len, why "
                "FROM segments WHERE flow_id = ?1 ORDER BY ord",
                2),
              "0|21|1700000010.5|client|FP.|100|50|10|fin\n"
              "1|22|1700000011.0|server|.|50|111|0|ack_fin\n"
              "2|23|1700000012.0|server|P.UEW|50|111|5|after_fin\n"
              "3|24|1700000013.5|client|none|111|NULL|0|");

    check_str("view close_kinds", q(s, "SELECT * FROM close_kinds", -1),
              "half_closed|1|50.0\nrst|1|50.0");
    check_str("view handshakes", q(s, "SELECT * FROM handshakes", -1),
              "none|1|50.0\nthree_way|1|50.0");
    check_str("view rst_causes", q(s, "SELECT * FROM rst_causes", -1), "unread_data|1|100.0|0");
    check_str("view closers", q(s, "SELECT * FROM closers", -1), "client|1|50.0\nserver|1|50.0");
    check_str("view close_wait_suspects (one flow)", q(s, "SELECT * FROM close_wait_suspects", -1),
              "2001:db8::1|443|1|2.5|2.5");
    check_str("view state_dwell flow A",
              q(s,
                "SELECT endpoint, state, enter_ts, leave_ts, dwell_s, enter_packet, evidence "
                "FROM state_dwell WHERE flow_id = ?1 ORDER BY endpoint, enter_ts",
                1),
              "client|syn_sent|1700000000.0|1700000000.0001|0.0001|1|sent SYN\n"
              "client|established|1700000000.0001|1700000001.0|0.9999|2|peer ack covers SYN\n"
              "client|closed|1700000001.0|NULL|NULL|10|peer RST\n"
              "server|syn_rcvd|1700000000.0001|1700000000.00025|0.00015|2|"
              "sent SYN+ACK (ack covers peer SYN)\n"
              "server|established|1700000000.00025|1700000001.0|0.99975|3|peer ack covers SYN\n"
              "server|closed|1700000001.0|NULL|NULL|10|sent RST");
    check_str("view state_dwell close_wait of flow B",
              q(s,
                "SELECT endpoint, state, dwell_s FROM state_dwell "
                "WHERE flow_id = ?1 AND endpoint = 'client' ORDER BY enter_ts",
                2),
              "client|established|0.5\nclient|fin_wait_1|0.5\nclient|fin_wait_2|NULL");
    check_str("state_dwell: the rows of schema 4's window view", q(s, SAME_DWELL_SQL, -1),
              "11|11|11|11");
    check_str("counts after capture 1", q(s, count_all_sql, -1), "1|2|11|8|2");
}

/* A capture that is rolled back leaves no row anywhere. */
static void test_rollback(struct fsc_store *s)
{
    struct fsc_capture_info ci;
    struct fsc_flow a;
    struct fsc_transition tr[8];
    struct fsc_segment sg[8];
    char err[512];
    int64_t id;

    make_info(&ci, "xxh128:rolledback");
    id = fsc_store_begin_capture(s, &ci, 0, err, sizeof err);
    check(id > 0, "begin capture to roll back", err, "an id");
    make_flow_a(&a, tr, sg);
    check_int("store flow to roll back", fsc_store_flow(s, id, &a, tr, 6, err, sizeof err), 0);
    check_str("rows visible inside the transaction",
              q(s, "SELECT count(*) FROM flows WHERE capture_id = ?1", id), "1");
    check_int("nested begin refused", fsc_store_begin_capture(s, &ci, 0, err, sizeof err), -1);
    fsc_store_abort_capture(s);
    check_str("rolled-back capture row gone",
              q(s, "SELECT count(*) FROM captures WHERE hash = 'xxh128:rolledback'", -1), "0");
    check_str("rolled-back flows gone",
              q(s, "SELECT count(*) FROM flows WHERE capture_id = ?1", id), "0");
    check_str("counts unchanged after rollback", q(s, count_all_sql, -1), "1|2|11|8|2");
    check_int("store flow without a transaction", fsc_store_flow(s, 1, &a, tr, 6, err, sizeof err),
              -1);
    fsc_store_abort_capture(s); /* a second abort is harmless */
}

/* Capture 2 (three more CLOSE_WAIT flows), then capture 3 replacing it; checks the median. */
static void test_replace(struct fsc_store *s)
{
    static const int64_t cw2[] = {1000 * MS, 4000 * MS, 3000 * MS};
    static const int64_t cw3[] = {1000 * MS, 9000 * MS};
    struct fsc_capture_info ci;
    struct fsc_flow b;
    struct fsc_transition tr[8];
    struct fsc_segment sg[8];
    char err[512] = "";
    int64_t id2, id3;

    check_int("find capture 1 by hash",
              fsc_store_find_capture(s, "xxh128:00112233445566778899aabbccddeeff", err, sizeof err),
              1);
    check_int("find unknown hash", fsc_store_find_capture(s, "xxh128:nope", err, sizeof err), 0);

    make_info(&ci, "xxh128:second");
    ci.skipped[FSC_SKIP_IP_FRAGMENT] = 1;
    id2 = fsc_store_begin_capture(s, &ci, 0, err, sizeof err);
    check_int("begin capture 2", id2, 2);
    for (size_t k = 0; k < sizeof cw2 / sizeof *cw2; k++) {
        make_flow_b(&b, tr, sg, cw2[k]);
        check_int("store capture 2 flow", fsc_store_flow(s, id2, &b, tr, 5, err, sizeof err), 0);
    }
    check_int("end capture 2", fsc_store_end_capture(s, id2, &ci, err, sizeof err), 0);
    check_str("median of an even count averages the middle two",
              q(s, "SELECT * FROM close_wait_suspects", -1), "2001:db8::1|443|4|2.75|4.0");
    check_int("find capture 2 by hash", fsc_store_find_capture(s, "xxh128:second", err, sizeof err),
              2);

    make_info(&ci, "xxh128:second");
    id3 = fsc_store_begin_capture(s, &ci, id2, err, sizeof err);
    check(id3 > 0, "begin capture 3 replacing 2", err, "an id");
    for (size_t k = 0; k < sizeof cw3 / sizeof *cw3; k++) {
        make_flow_b(&b, tr, sg, cw3[k]);
        check_int("store capture 3 flow", fsc_store_flow(s, id3, &b, tr, 5, err, sizeof err), 0);
        if (k == 0)
            check_int("checkpoint", fsc_store_checkpoint(s, err, sizeof err), 0);
    }
    check_int("end capture 3", fsc_store_end_capture(s, id3, &ci, err, sizeof err), 0);
    /* Without AUTOINCREMENT the replacement may reuse the freed id; only the rows matter. */
    check_str("replaced capture gone, replacement present",
              q(s, "SELECT id = ?1, hash FROM captures WHERE id <> 1", id3), "1|xxh128:second");
    check_str("replacement holds only its own flows",
              q(s, "SELECT close_wait_s FROM flows WHERE capture_id = ?1 ORDER BY id", id3),
              "1.0\n9.0");
    check_str("replaced capture's skip counts gone", q(s, "SELECT reason FROM skipped", -1),
              "not_ip\nnot_tcp");
    check_str("a file capture is its own one file; the replaced capture's row is gone",
              q(s,
                "SELECT capture_id = ?1, file_no, path, first_frame, quote(last_frame), "
                "quote(first_ts), quote(last_ts) FROM capture_files ORDER BY capture_id",
                id3),
              "0|1|/captures/a.pcap|1|40|1700000000.0|1700000013.5\n"
              "1|1|/captures/a.pcap|1|NULL|NULL|NULL");
    check_str("counts after replace", q(s, count_all_sql, -1), "2|4|21|16|2");
    check_str("median of an odd count", q(s, "SELECT * FROM close_wait_suspects", -1),
              "2001:db8::1|443|3|2.5|9.0");
    check_int("find replaced hash", fsc_store_find_capture(s, "xxh128:second", err, sizeof err),
              id3);
}

static void test_summary(struct fsc_store *s)
{
    char *text = NULL, err[512] = "";
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    int rc;

    if (!out) {
        check(false, "open_memstream", "NULL", "a stream");
        return;
    }
    rc = fsc_summary_print(s, 1, out, err, sizeof err);
    fclose(out);
    check_int("summary of capture 1", rc, 0);
    check(text && strstr(text, "/captures/a.pcap: 40 packets read, 33 TCP, 7 skipped (not_tcp 5, "
                               "not_ip 2), 2 connections\n"),
          "summary header", text, "header line");
    check(text && strstr(text, "\nhandshake\n  none (began mid-connection)  1   50.0%\n"),
          "summary says what handshake none means", text, "handshake rows");
    check(text && strstr(text, "\nclose kind\n  half_closed                  1   50.0%\n"),
          "summary tally", text, "close kind rows");
    check(text && strstr(text, "\nrst cause\n  unread_data (likely)         1  100.0%\n"),
          "summary says likely", text, "an unproven cause marked likely");
    /* Issue 11: the flow id and frame, and words that do not read as "the client closed". */
    check(text &&
              strstr(text, "\nworst CLOSE_WAIT stalls (1 still in CLOSE_WAIT at the end)\n"
                           "  flow 2 (1:20-31)  server [2001:db8::1]:443 still in CLOSE_WAIT at "
                           "capture end, >= 2.500 s (half_closed, peer [2001:db8::2]:40000)\n"),
          "summary stall", text, "stall row");
    free(text);
    check_int("summary of a missing capture", fsc_summary_print(s, 99, stdout, err, sizeof err),
              -1);
}

/* Files that are not ours are refused and left byte-identical. */
static void test_refusals(const char *dir)
{
    struct fsc_store *s = NULL;
    char path[4200], want[8700], err[512] = "", *before;
    size_t blen;

    /* Not SQLite at all. */
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    {
        char junk[3000];
        for (size_t k = 0; k < sizeof junk; k++)
            junk[k] = "not a database\n"[k % 15];
        write_file(path, junk, sizeof junk);
    }
    before = slurp(path, &blen);
    check_int("open non-SQLite file", fsc_store_open(path, false, &s, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: not an SQLite database; use another -o file", path);
    check_str("non-SQLite message", err, want);
    check_same_file("non-SQLite file untouched", path, before, blen);
    free(before);

    /* SQLite, but another application's. */
    snprintf(path, sizeof path, "%s/other.db", dir);
    if (fsc_store_open(path, false, &s, err, sizeof err) == 0) {
        q(s, "PRAGMA application_id = 1234", -1);
        fsc_store_close(s);
    }
    before = slurp(path, &blen);
    check_int("open other application's db", fsc_store_open(path, false, &s, err, sizeof err), -1);
    snprintf(want, sizeof want,
             "%s: not a finscope database (application_id 0x000004d2); use another -o file", path);
    check_str("other application message", err, want);
    check_same_file("other application's db untouched", path, before, blen);
    free(before);

    /* Ours, from a newer finscope. */
    snprintf(path, sizeof path, "%s/newer.db", dir);
    if (fsc_store_open(path, false, &s, err, sizeof err) == 0) {
        q(s, "PRAGMA user_version = 7", -1);
        fsc_store_close(s);
    }
    before = slurp(path, &blen);
    check_int("open newer schema", fsc_store_open(path, false, &s, err, sizeof err), -1);
    snprintf(want, sizeof want,
             "%s: written by a newer finscope (schema 7, this build reads up to 6)", path);
    check_str("newer schema message", err, want);
    check_same_file("newer db untouched", path, before, blen);
    check_int("open newer schema read-only", fsc_store_open(path, true, &s, err, sizeof err), -1);
    check_same_file("newer db untouched by read-only open", path, before, blen);
    free(before);

    /* Ours, from finscope 0.1 (schema 1): read-only opens say how to upgrade and leave it
     * alone; a writer upgrades it in one transaction, older rows keep NULLs. */
    snprintf(path, sizeof path, "%s/older.db", dir);
    if (fsc_store_open(path, false, &s, err, sizeof err) == 0) {
        /* Schema 1's flows table and rst_causes view. */
        q(s, "DROP VIEW rst_causes", -1);
        q(s, "DROP VIEW state_intervals", -1);
        q(s, "DROP TABLE held_flows", -1);
        q(s, "DROP TABLE capture_files", -1);
        q(s, "ALTER TABLE flows DROP COLUMN last_packet", -1);
        q(s,
          "INSERT INTO captures (source, packets_read, first_ts, last_ts, analyzed_at, "
          "finscope_version) VALUES ('old.pcap', 7, 1.5, 2.5, 'x', '0.1'), "
          "('live:eth0', 9, 3, 4, 'x', '0.1')",
          -1);
        q(s, "ALTER TABLE flows DROP COLUMN rst_cause_proven", -1);
        q(s, "ALTER TABLE flows DROP COLUMN closer_call", -1);
        q(s,
          "CREATE VIEW rst_causes AS SELECT rst_cause, count(*) AS flows, "
          "round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS pct FROM flows "
          "WHERE close_kind = 'rst' GROUP BY rst_cause ORDER BY flows DESC, rst_cause",
          -1);
        q(s,
          "INSERT INTO flows (capture_id, ip_version, client_addr, client_port, server_addr, "
          "server_port, first_ts, last_ts, duration_s, first_packet, handshake, close_kind, "
          "closer, client_state, server_state, client_packets, server_packets, client_bytes, "
          "server_bytes, half_close_bytes, client_retrans_bytes, server_retrans_bytes, "
          "client_gap_bytes, server_gap_bytes, fin_retrans, rst_after_close, midstream, "
          "self_connect, transition_log) VALUES (1, 4, 'a', 1, 'b', 2, 0, 1, 1, 1, 'none', "
          "'rst', 'client', 'closed', 'closed', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, "
          "'[[\"client\",\"closed\",\"syn_sent\",10,1,\"sent SYN\"],"
          "[\"server\",\"listen\",\"syn_rcvd\",20,2,\"x\"],"
          "[\"client\",\"syn_sent\",\"closed\",30,3,\"peer RST\"]]')",
          -1);
        q(s, "PRAGMA user_version = 1", -1);
        fsc_store_close(s);
    }
    before = slurp(path, &blen);
    check_int("open older schema read-only", fsc_store_open(path, true, &s, err, sizeof err), -1);
    snprintf(want, sizeof want,
             "%s: written by an older finscope (schema 1, this build writes 6); upgrade it in "
             "place with: finscope analyze -o %s --upgrade",
             path, path);
    check_str("older schema message", err, want);
    check_same_file("older db untouched by read-only open", path, before, blen);
    free(before);
    check_int("open older schema to write", fsc_store_open(path, false, &s, err, sizeof err), 0);
    if (s) {
        check_str("upgraded: version and new columns",
                  q(s,
                    "SELECT (SELECT user_version FROM pragma_user_version), "
                    "quote(rst_cause_proven), quote(closer_call), "
                    "(SELECT count(*) FROM state_intervals), quote(last_packet) FROM flows",
                    -1),
                  "6|NULL|NULL|2|NULL");
        check_str("upgraded: a file capture is its one file, a live one has none yet",
                  q(s,
                    "SELECT group_concat(capture_id || ',' || file_no || ',' || path || ',' || "
                    "first_frame || ',' || last_frame || ',' || first_ts || ',' || last_ts, "
                    "';') FROM capture_files",
                    -1),
                  "1,1,old.pcap,1,7,1.5,2.5");
        /* Schema 6's codes (store.h); "x" is no evidence finscope names: a negative code. */
        check_str("upgraded: each transition's end, for state_intervals, in codes",
                  q(s, "SELECT transition_log FROM flows", -1),
                  "[[2056,10,0,20],[-946,20,1],[12416,30,2]]");
        check_str("upgraded: the transitions view decodes the codes",
                  q(s,
                    "SELECT endpoint, from_state, to_state, ts, packet, evidence FROM "
                    "transitions ORDER BY ord",
                    -1),
                  "client|closed|syn_sent|1.0e-05|1|sent SYN\n"
                  "server|listen|syn_rcvd|2.0e-05|2|x\n"
                  "client|syn_sent|closed|3.0e-05|3|peer RST");
        check_str("upgraded: state_dwell from the held times",
                  q(s, "SELECT endpoint, state, leave_ts, dwell_s FROM state_dwell", -1),
                  "client|syn_sent|3.0e-05|2.0e-05\nserver|syn_rcvd|NULL|NULL\n"
                  "client|closed|NULL|NULL");
        check_str("upgraded: state_dwell as schema 4's", q(s, SAME_DWELL_SQL, -1), "3|3|3|3");
        fsc_store_close(s);
    }

    /* Read-only never creates. */
    snprintf(path, sizeof path, "%s/missing.db", dir);
    check_int("read-only open of a missing file", fsc_store_open(path, true, &s, err, sizeof err),
              -1);
    check_int("read-only open created nothing", access(path, F_OK), -1);

    /* An empty file is a new database. */
    snprintf(path, sizeof path, "%s/empty.db", dir);
    write_file(path, "", 0);
    check_int("open empty file", fsc_store_open(path, false, &s, err, sizeof err), 0);
    if (s) {
        check_str("empty file got the schema",
                  q(s, "SELECT count(*) FROM sqlite_master WHERE type = 'view'", -1), "9");
        fsc_store_close(s);
        s = NULL;
    }
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    char dir[4096], path[4200], err[512] = "";
    struct fsc_store *s = NULL;

    snprintf(dir, sizeof dir, "%s/fsc_store_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror(dir);
        return 1;
    }
    snprintf(path, sizeof path, "%s/test.db", dir);
    if (fsc_store_open(path, false, &s, err, sizeof err) < 0) {
        fprintf(stderr, "FAIL open %s\n", err);
        failed++;
    } else {
        test_round_trip(s);
        test_rollback(s);
        test_replace(s);
        test_summary(s);
        fsc_store_close(s);

        /* Reopened read-only: readable, not writable. */
        s = NULL;
        check_int("reopen read-only", fsc_store_open(path, true, &s, err, sizeof err), 0);
        if (s) {
            struct fsc_capture_info ci;
            make_info(&ci, NULL);
            check_str("read-only sees committed data", q(s, count_all_sql, -1), "2|4|21|16|2");
            check_int("read-only refuses a capture",
                      fsc_store_begin_capture(s, &ci, 0, err, sizeof err), -1);
            fsc_store_close(s);
        }
        s = NULL;
        check_int("reopen read-write", fsc_store_open(path, false, &s, err, sizeof err), 0);
        fsc_store_close(s);
    }
    test_refusals(dir);
    rm_tree(dir);

    printf("store: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
