/* test_flow.c - unit tests for the flow table: identity, reuse, linger, idle, eviction, churn. */
#include "finscope/flow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

enum { C = FSC_CLIENT, S = FSC_SERVER };

#define F_SYN FSC_TH_SYN
#define F_SA (FSC_TH_SYN | FSC_TH_ACK)
#define F_ACK FSC_TH_ACK
#define F_PA (FSC_TH_PSH | FSC_TH_ACK)
#define F_FA (FSC_TH_FIN | FSC_TH_ACK)
#define F_RST FSC_TH_RST
#define F_RA (FSC_TH_RST | FSC_TH_ACK)

/* ---- checks ---- */

static void check_str(int line, const char *what, const char *got, const char *exp)
{
    if (!got)
        got = "-";
    if (!exp)
        exp = "-";
    if (strcmp(got, exp) == 0) {
        passed++;
        return;
    }
    failed++;
    printf("FAIL %s:%d: %s: expected \"%s\" got \"%s\"\n", __FILE__, line, what, exp, got);
}

static void check_int(int line, const char *what, long long got, long long exp)
{
    if (got == exp) {
        passed++;
        return;
    }
    failed++;
    printf("FAIL %s:%d: %s: expected %lld got %lld\n", __FILE__, line, what, exp, got);
}

#define CHECK_STR(got, exp, what) check_str(__LINE__, what, got, exp)
#define CHECK_INT(got, exp, what) check_int(__LINE__, what, (long long)(got), (long long)(exp))

/* ---- segments ---- */

struct link {
    uint8_t ipv;
    uint8_t caddr[16], saddr[16];
    uint16_t cport, sport;
};

static const struct link LINK4 = {4, {192, 0, 2, 1}, {198, 51, 100, 7}, 40000, 80};
static const struct link LINK6 = {6,
                                  {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
                                  {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2},
                                  40000,
                                  80};
/* Same address bytes as LINK4, but IPv6: must be a different flow. */
static const struct link LINK6_AS_4 = {6, {192, 0, 2, 1}, {198, 51, 100, 7}, 40000, 80};

/* Link l with the client on another port. */
static struct link on_port(const struct link *l, uint16_t cport)
{
    struct link n = *l;
    n.cport = cport;
    return n;
}

/* One segment sent by dir (C or S) on link l. */
static struct fsc_pkt pkt(const struct link *l, int dir, uint8_t flags, uint32_t seq, uint32_t ack,
                          uint32_t len, fsc_time ts_us, uint64_t number)
{
    struct fsc_pkt p;

    memset(&p, 0, sizeof p);
    p.ts = ts_us;
    p.number = number;
    p.ip_version = l->ipv;
    memcpy(p.src.b, dir == C ? l->caddr : l->saddr, 16);
    memcpy(p.dst.b, dir == C ? l->saddr : l->caddr, 16);
    p.sport = dir == C ? l->cport : l->sport;
    p.dport = dir == C ? l->sport : l->cport;
    p.flags = flags;
    p.seq = seq;
    p.ack = ack;
    p.window = 65535;
    p.payload_len = len;
    return p;
}

/* ---- the sink: what the table wrote ---- */

struct rec {
    char hs[24], ck[24], rc[24], closer[12], an[200], st_c[16], st_s[16];
    uint8_t ipv;
    uint16_t cport, sport;
    bool midstream, closed;
    uint64_t first_packet, pkts_c, pkts_s;
    uint32_t fin_retrans_c, fin_retrans_s, rst_after_close;
    int64_t close_wait_us, fin_wait_2_us, duration_us;
};

#define KEEP 32

struct recorder {
    struct rec r[KEEP]; /* the first KEEP flows written */
    size_t calls, not_finalized;
    size_t by_ck[FSC_CK__COUNT], by_hs[FSC_HS__COUNT];
    size_t with_evicted, with_idle;
};

static void sink(struct fsc_flow *f, void *user)
{
    struct recorder *rc = user;
    char an[200];

    if (!f->finalized)
        rc->not_finalized++;
    if ((unsigned)f->close_kind < FSC_CK__COUNT)
        rc->by_ck[f->close_kind]++;
    if ((unsigned)f->handshake < FSC_HS__COUNT)
        rc->by_hs[f->handshake]++;
    if (f->anomalies & FSC_AN_EVICTED)
        rc->with_evicted++;
    if (f->anomalies & FSC_AN_IDLE)
        rc->with_idle++;
    if (rc->calls < KEEP) {
        struct rec *r = &rc->r[rc->calls];
        const char *cause = fsc_rst_cause_name(f->rst_cause);
        snprintf(r->hs, sizeof r->hs, "%s", fsc_handshake_name(f->handshake));
        snprintf(r->ck, sizeof r->ck, "%s", fsc_close_kind_name(f->close_kind));
        snprintf(r->rc, sizeof r->rc, "%s", cause ? cause : "-");
        snprintf(r->closer, sizeof r->closer, "%s", fsc_closer_name(f->closer));
        snprintf(r->an, sizeof r->an, "%s", fsc_anomaly_str(f->anomalies, an, sizeof an));
        snprintf(r->st_c, sizeof r->st_c, "%s", fsc_tcp_state_name(f->ep[C].state));
        snprintf(r->st_s, sizeof r->st_s, "%s", fsc_tcp_state_name(f->ep[S].state));
        r->ipv = f->ip_version;
        r->cport = f->ep[C].port;
        r->sport = f->ep[S].port;
        r->midstream = f->midstream;
        r->closed = f->closed;
        r->first_packet = f->first_packet;
        r->pkts_c = f->ep[C].pkts;
        r->pkts_s = f->ep[S].pkts;
        r->fin_retrans_c = f->ep[C].fin_retrans;
        r->fin_retrans_s = f->ep[S].fin_retrans;
        r->rst_after_close = f->rst_after_close;
        r->close_wait_us = f->close_wait_us;
        r->fin_wait_2_us = f->fin_wait_2_us;
        r->duration_us = f->last_ts - f->first_ts;
    }
    rc->calls++;
}

/* Expected tokens of one written flow. */
static void expect_rec(int line, const struct recorder *rc, size_t i, const char *hs,
                       const char *ck, const char *cause, const char *closer, const char *an)
{
    char what[64];

    snprintf(what, sizeof what, "flow #%zu written", i);
    check_int(line, what, rc->calls > i, 1);
    if (rc->calls <= i || i >= KEEP)
        return;
    snprintf(what, sizeof what, "flow #%zu handshake", i);
    check_str(line, what, rc->r[i].hs, hs);
    snprintf(what, sizeof what, "flow #%zu close_kind", i);
    check_str(line, what, rc->r[i].ck, ck);
    snprintf(what, sizeof what, "flow #%zu rst_cause", i);
    check_str(line, what, rc->r[i].rc, cause ? cause : "-");
    snprintf(what, sizeof what, "flow #%zu closer", i);
    check_str(line, what, rc->r[i].closer, closer);
    snprintf(what, sizeof what, "flow #%zu anomalies", i);
    if (strcmp(an, "*") != 0) /* "*": not checked */
        check_str(line, what, rc->r[i].an, an);
}

#define EXPECT_REC(rc, i, hs, ck, cause, closer, an)                                               \
    expect_rec(__LINE__, rc, i, hs, ck, cause, closer, an)

static struct fsc_flow_table *table(uint32_t max_flows, fsc_time linger_us, fsc_time idle_us,
                                    struct recorder *rc)
{
    struct fsc_flow_limits lim = {max_flows, linger_us, idle_us};

    memset(rc, 0, sizeof *rc);
    struct fsc_flow_table *t = fsc_flow_table_new(&lim, sink, rc);
    if (!t) {
        fprintf(stderr, "fsc_flow_table_new failed\n");
        exit(2);
    }
    return t;
}

/* Feed one segment; every call must succeed. */
static void feed(struct fsc_flow_table *t, const struct fsc_pkt *p)
{
    int rc = fsc_flow_table_packet(t, p);
    if (rc != 0) {
        failed++;
        printf("FAIL %s:%d: fsc_flow_table_packet: expected 0 got %d (packet %llu)\n", __FILE__,
               __LINE__, rc, (unsigned long long)p->number);
    }
}

#define FEED(t, ...)                                                                               \
    do {                                                                                           \
        struct fsc_pkt p_ = pkt(__VA_ARGS__);                                                      \
        feed(t, &p_);                                                                              \
    } while (0)

/*
 * A complete connection on l: handshake, four-way close by the client (7 segments, ISNs ci and
 * si, starting at t0, 100 us apart, frame numbers from *num).  The client ends in TIME_WAIT.
 */
static void connection(struct fsc_flow_table *t, const struct link *l, uint32_t ci, uint32_t si,
                       fsc_time t0, uint64_t *num)
{
    FEED(t, l, C, F_SYN, ci, 0, 0, t0, (*num)++);
    FEED(t, l, S, F_SA, si, ci + 1, 0, t0 + 100, (*num)++);
    FEED(t, l, C, F_ACK, ci + 1, si + 1, 0, t0 + 200, (*num)++);
    FEED(t, l, C, F_FA, ci + 1, si + 1, 0, t0 + 300, (*num)++);
    FEED(t, l, S, F_ACK, si + 1, ci + 2, 0, t0 + 400, (*num)++);
    FEED(t, l, S, F_FA, si + 1, ci + 2, 0, t0 + 500, (*num)++);
    FEED(t, l, C, F_ACK, ci + 2, si + 2, 0, t0 + 600, (*num)++);
}

#define SEC 1000000LL

/* ---- cases ---- */

/* Both directions of a connection are one flow, for IPv4 and IPv6; v4 and v6 never mix. */
static void test_both_directions(void)
{
    const struct link *links[2] = {&LINK4, &LINK6};

    for (int i = 0; i < 2; i++) {
        struct recorder rc;
        struct fsc_flow_table *t = table(100, SEC, 300 * SEC, &rc);
        uint64_t num = 1;
        const char *v = i ? "ipv6" : "ipv4";
        char what[64];

        connection(t, links[i], 1000, 5000, 1000, &num);
        const struct fsc_flow_stats *st = fsc_flow_table_stats(t);
        snprintf(what, sizeof what, "%s: one flow created", v);
        CHECK_INT(st->created, 1, what);
        snprintf(what, sizeof what, "%s: lingering, not yet written", v);
        CHECK_INT(rc.calls, 0, what);
        snprintf(what, sizeof what, "%s: active (lingering)", v);
        CHECK_INT(st->active, 1, what);
        fsc_flow_table_flush(t, 10 * SEC);
        EXPECT_REC(&rc, 0, "three_way", "four_way", NULL, "client", "");
        snprintf(what, sizeof what, "%s: written once", v);
        CHECK_INT(rc.calls, 1, what);
        snprintf(what, sizeof what, "%s: ip version", v);
        CHECK_INT(rc.r[0].ipv, links[i]->ipv, what);
        snprintf(what, sizeof what, "%s: client packets", v);
        CHECK_INT(rc.r[0].pkts_c, 4, what);
        snprintf(what, sizeof what, "%s: server packets", v);
        CHECK_INT(rc.r[0].pkts_s, 3, what);
        snprintf(what, sizeof what, "%s: client port", v);
        CHECK_INT(rc.r[0].cport, 40000, what);
        snprintf(what, sizeof what, "%s: states", v);
        CHECK_STR(rc.r[0].st_c, "time_wait", what);
        CHECK_STR(rc.r[0].st_s, "closed", what);
        CHECK_INT(st->active, 0, "after flush: nothing active");
        CHECK_INT(st->written, 1, "after flush: written");
        CHECK_INT(rc.not_finalized, 0, "sink sees finalized flows");
        fsc_flow_table_free(t);
    }

    /* Identical address bytes and ports, IPv4 and IPv6: two flows. */
    struct recorder rc;
    struct fsc_flow_table *t = table(100, SEC, 300 * SEC, &rc);
    FEED(t, &LINK4, C, F_SYN, 1000, 0, 0, 1000, 1);
    FEED(t, &LINK6_AS_4, C, F_SYN, 2000, 0, 0, 1100, 2);
    FEED(t, &LINK4, S, F_SA, 5000, 1001, 0, 1200, 3);
    FEED(t, &LINK6_AS_4, S, F_RA, 0, 2001, 0, 1300, 4);
    CHECK_INT(fsc_flow_table_stats(t)->created, 2, "v4/v6 same bytes: two flows");
    fsc_flow_table_flush(t, 10 * SEC);
    CHECK_INT(rc.calls, 2, "v4/v6 same bytes: two written");
    /* The refused v6 flow is closed, so it is written first. */
    EXPECT_REC(&rc, 0, "refused", "refused", NULL, "server", "");
    CHECK_INT(rc.r[0].ipv, 6, "v4/v6 same bytes: refused one is v6");
    EXPECT_REC(&rc, 1, "three_way", "open", NULL, "none", "handshake_incomplete");
    CHECK_INT(rc.r[1].ipv, 4, "v4/v6 same bytes: open one is v4");
    fsc_flow_table_free(t);

    /* Midstream, the server's packet first (IPv6): later client packets join the same flow. */
    t = table(100, SEC, 300 * SEC, &rc);
    FEED(t, &LINK6, S, F_PA, 90001, 20001, 10, 1000, 1);
    FEED(t, &LINK6, C, F_ACK, 20001, 90011, 0, 1100, 2);
    FEED(t, &LINK6, C, F_PA, 20001, 90011, 5, 1200, 3);
    CHECK_INT(fsc_flow_table_stats(t)->created, 1, "midstream v6: one flow");
    fsc_flow_table_flush(t, 10 * SEC);
    EXPECT_REC(&rc, 0, "none", "open", NULL, "none", "");
    CHECK_INT(rc.r[0].pkts_c, 2, "midstream v6: client packets");
    CHECK_INT(rc.r[0].pkts_s, 1, "midstream v6: server packets");
    CHECK_INT(rc.r[0].cport, 40000, "midstream v6: client port");
    fsc_flow_table_free(t);
}

/* A simultaneous open through the table: the second bare SYN joins the first attempt. */
static void test_simultaneous_open(void)
{
    struct recorder rc;
    struct fsc_flow_table *t = table(100, SEC, 300 * SEC, &rc);

    FEED(t, &LINK4, C, F_SYN, 1000, 0, 0, 1000, 1);
    FEED(t, &LINK4, S, F_SYN, 5000, 0, 0, 1100, 2);
    FEED(t, &LINK4, C, F_SA, 1000, 5001, 0, 1200, 3);
    FEED(t, &LINK4, S, F_SA, 5000, 1001, 0, 1300, 4);
    FEED(t, &LINK4, C, F_ACK, 1001, 5001, 0, 1400, 5);
    CHECK_INT(fsc_flow_table_stats(t)->created, 1, "simultaneous open: one flow");
    CHECK_INT(fsc_flow_table_stats(t)->port_reuse, 0, "simultaneous open: no port reuse");
    fsc_flow_table_flush(t, 10 * SEC);
    EXPECT_REC(&rc, 0, "simultaneous_open", "open", NULL, "none", "");
    CHECK_STR(rc.r[0].st_c, "established", "simultaneous open: client state");
    CHECK_STR(rc.r[0].st_s, "established", "simultaneous open: server state");
    fsc_flow_table_free(t);
}

/* A new SYN with a new ISN on the tuple of a finished connection starts a second flow. */
static void test_port_reuse(void)
{
    struct recorder rc;
    struct fsc_flow_table *t = table(100, 2 * SEC, 300 * SEC, &rc);
    const struct fsc_flow_stats *st = fsc_flow_table_stats(t);
    uint64_t num = 1;

    connection(t, &LINK4, 1000, 5000, 1000, &num); /* frames 1-7, ends at 1600 */
    CHECK_INT(rc.calls, 0, "port reuse: first connection lingers");
    FEED(t, &LINK4, C, F_SYN, 900000, 0, 0, 50000, 8); /* within the linger time */
    CHECK_INT(st->port_reuse, 1, "port reuse: counted");
    CHECK_INT(rc.calls, 1, "port reuse: old instance written at the new SYN");
    EXPECT_REC(&rc, 0, "three_way", "four_way", NULL, "client", "");
    CHECK_INT(rc.r[0].first_packet, 1, "port reuse: first flow's first packet");
    CHECK_INT(rc.r[0].pkts_c + rc.r[0].pkts_s, 7, "port reuse: first flow's packets");
    /* Retransmitted SYN (same ISN): the same new instance. */
    FEED(t, &LINK4, C, F_SYN, 900000, 0, 0, 1050000, 9);
    FEED(t, &LINK4, S, F_SA, 7000, 900001, 0, 1050100, 10);
    FEED(t, &LINK4, C, F_ACK, 900001, 7001, 0, 1050200, 11);
    FEED(t, &LINK4, C, F_RA, 900001, 7001, 0, 1060000, 12);
    CHECK_INT(st->created, 2, "port reuse: two flows");
    CHECK_INT(st->port_reuse, 1, "port reuse: retransmitted SYN is not a reuse");
    fsc_flow_table_flush(t, 10 * SEC);
    CHECK_INT(rc.calls, 2, "port reuse: two written");
    EXPECT_REC(&rc, 1, "three_way", "rst", "abort", "client", "syn_retransmitted");
    CHECK_INT(rc.r[1].first_packet, 8, "port reuse: second flow's first packet");
    CHECK_INT(rc.r[1].pkts_c + rc.r[1].pkts_s, 5, "port reuse: second flow's packets");
    fsc_flow_table_free(t);

    /* A reset connection, then a new SYN right away: new instance too. */
    t = table(100, 2 * SEC, 300 * SEC, &rc);
    st = fsc_flow_table_stats(t);
    FEED(t, &LINK4, C, F_SYN, 1000, 0, 0, 1000, 1);
    FEED(t, &LINK4, S, F_RA, 0, 1001, 0, 1100, 2);
    FEED(t, &LINK4, C, F_SYN, 3000, 0, 0, 1200, 3);
    FEED(t, &LINK4, S, F_SA, 5000, 3001, 0, 1300, 4);
    FEED(t, &LINK4, C, F_ACK, 3001, 5001, 0, 1400, 5);
    fsc_flow_table_flush(t, 10 * SEC);
    CHECK_INT(st->port_reuse, 1, "reuse after refused: counted");
    EXPECT_REC(&rc, 0, "refused", "refused", NULL, "server", "");
    EXPECT_REC(&rc, 1, "three_way", "open", NULL, "none", "");
    fsc_flow_table_free(t);
}

/*
 * Late segments inside the linger time land on the closed flow; after the linger a packet on the
 * tuple starts a new midstream flow.
 */
static void test_linger(void)
{
    struct recorder rc;
    struct fsc_flow_table *t = table(100, SEC, 300 * SEC, &rc);
    const struct fsc_flow_stats *st = fsc_flow_table_stats(t);
    uint64_t num = 1;

    connection(t, &LINK4, 1000, 5000, 1000, &num);       /* client TIME_WAIT, server CLOSED */
    FEED(t, &LINK4, S, F_FA, 5001, 1002, 0, 200000, 8);  /* retransmitted FIN */
    FEED(t, &LINK4, C, F_ACK, 1002, 5002, 0, 200100, 9); /* TIME_WAIT re-ACK */
    FEED(t, &LINK4, S, F_RST, 5002, 0, 0, 300000, 10);   /* late RST */
    CHECK_INT(st->created, 1, "linger: late segments on the old flow");
    CHECK_INT(rc.calls, 0, "linger: still lingering");
    /* 1 s after the late RST: the old flow is written, this packet starts a new one. */
    FEED(t, &LINK4, C, F_ACK, 1002, 5002, 0, 1300000, 11);
    CHECK_INT(rc.calls, 1, "linger: old flow written after the linger");
    CHECK_INT(st->created, 2, "linger: new flow after the linger");
    CHECK_INT(st->port_reuse, 0, "linger: not a port reuse");
    EXPECT_REC(&rc, 0, "three_way", "four_way", NULL, "client", "*");
    CHECK_INT(rc.r[0].fin_retrans_s, 1, "linger: server fin_retrans");
    CHECK_INT(rc.r[0].fin_retrans_c, 0, "linger: client fin_retrans");
    CHECK_INT(rc.r[0].rst_after_close, 1, "linger: rst_after_close");
    CHECK_INT(rc.r[0].pkts_c + rc.r[0].pkts_s, 10, "linger: old flow packets");
    fsc_flow_table_flush(t, 10 * SEC);
    EXPECT_REC(&rc, 1, "none", "open", NULL, "none", "");
    CHECK_INT(rc.r[1].midstream, 1, "linger: new flow is midstream");
    CHECK_INT(rc.r[1].first_packet, 11, "linger: new flow's first packet");
    fsc_flow_table_free(t);

    /* Exactly at the linger boundary the closed flow is written (now - last >= linger). */
    t = table(100, SEC, 300 * SEC, &rc);
    num = 1;
    connection(t, &LINK4, 1000, 5000, 1000, &num); /* last segment at 1600 */
    FEED(t, &LINK4, C, F_ACK, 1002, 5002, 0, 1600 + SEC - 1, 8);
    CHECK_INT(rc.calls, 0, "linger boundary: 1 us before, still the old flow");
    FEED(t, &LINK4, C, F_ACK, 1002, 5002, 0, 1600 + 2 * SEC - 1, 9);
    CHECK_INT(rc.calls, 1, "linger boundary: written at the linger time");
    fsc_flow_table_flush(t, 10 * SEC);
    CHECK_INT(rc.r[0].pkts_c + rc.r[0].pkts_s, 8, "linger boundary: old flow packets");
    fsc_flow_table_free(t);
}

/* Open flows idle for idle_us are written with the idle_timeout anomaly. */
static void test_idle(void)
{
    struct recorder rc;
    const fsc_time idle = 60 * SEC;
    struct fsc_flow_table *t = table(100, SEC, idle, &rc);
    const struct fsc_flow_stats *st = fsc_flow_table_stats(t);
    const struct link x = on_port(&LINK4, 40001), z = on_port(&LINK4, 40002),
                      y = on_port(&LINK4, 40003);

    /* x: established, last segment at 5000. */
    FEED(t, &x, C, F_SYN, 1000, 0, 0, 1000, 1);
    FEED(t, &x, S, F_SA, 5000, 1001, 0, 1100, 2);
    FEED(t, &x, C, F_ACK, 1001, 5001, 0, 1200, 3);
    FEED(t, &x, C, F_PA, 1001, 5001, 10, 5000, 4);
    /* z: half-closed, server in CLOSE_WAIT since 10200. */
    FEED(t, &z, C, F_SYN, 2000, 0, 0, 6000, 5);
    FEED(t, &z, S, F_SA, 6000, 2001, 0, 6100, 6);
    FEED(t, &z, C, F_ACK, 2001, 6001, 0, 6200, 7);
    FEED(t, &z, C, F_FA, 2001, 6001, 0, 10000, 8);
    FEED(t, &z, S, F_ACK, 6001, 2002, 0, 10200, 9);
    /* 1 us before x's idle time: nothing written. */
    FEED(t, &y, C, F_SYN, 3000, 0, 0, 5000 + idle - 1, 10);
    CHECK_INT(rc.calls, 0, "idle: not yet");
    /* At z's idle time both x and z go, oldest first. */
    FEED(t, &y, C, F_SYN, 3000, 0, 0, 10200 + idle, 11);
    CHECK_INT(rc.calls, 2, "idle: x and z written");
    CHECK_INT(st->idled, 2, "idle: idled count");
    EXPECT_REC(&rc, 0, "three_way", "open", NULL, "none", "idle_timeout");
    CHECK_INT(rc.r[0].cport, 40001, "idle: x first");
    EXPECT_REC(&rc, 1, "three_way", "half_closed", NULL, "client", "idle_timeout");
    CHECK_INT(rc.r[1].cport, 40002, "idle: z second");
    CHECK_INT(rc.r[1].close_wait_us, idle, "idle: z close_wait ends at last + idle");
    CHECK_INT(rc.r[1].fin_wait_2_us, idle, "idle: z fin_wait_2 ends at last + idle");
    CHECK_STR(rc.r[1].st_s, "close_wait", "idle: z server state");
    fsc_flow_table_flush(t, 10200 + idle + SEC);
    EXPECT_REC(&rc, 2, "unanswered", "unanswered", NULL, "none", "syn_retransmitted");
    CHECK_INT(st->idled, 2, "idle: flush does not count as idle");
    fsc_flow_table_free(t);
}

/* A table of 4 flows and 6 concurrent connections: the least recently active go first. */
static void test_eviction(void)
{
    struct recorder rc;
    struct fsc_flow_table *t = table(4, SEC, 300 * SEC, &rc);
    const struct fsc_flow_stats *st = fsc_flow_table_stats(t);
    struct link l[7];
    uint64_t num = 1;

    for (int i = 1; i <= 6; i++)
        l[i] = on_port(&LINK4, (uint16_t)(40000 + i));
    for (int i = 1; i <= 4; i++) {
        fsc_time t0 = i * 1000;
        FEED(t, &l[i], C, F_SYN, 1000, 0, 0, t0, num++);
        FEED(t, &l[i], S, F_SA, 5000, 1001, 0, t0 + 100, num++);
        FEED(t, &l[i], C, F_ACK, 1001, 5001, 0, t0 + 200, num++);
    }
    FEED(t, &l[1], C, F_PA, 1001, 5001, 20, 6000, num++); /* 1 is now the most recent */
    CHECK_INT(st->evicted, 0, "eviction: 4 flows fit");
    FEED(t, &l[5], C, F_SYN, 1000, 0, 0, 7000, num++); /* evicts 2 */
    FEED(t, &l[6], C, F_SYN, 1000, 0, 0, 8000, num++); /* evicts 3 */
    CHECK_INT(st->evicted, 2, "eviction: evicted count");
    CHECK_INT(st->active, 4, "eviction: active stays at the limit");
    CHECK_INT(st->peak_active, 4, "eviction: peak");
    CHECK_INT(rc.calls, 2, "eviction: two written early");
    EXPECT_REC(&rc, 0, "three_way", "open", NULL, "none", "evicted");
    CHECK_INT(rc.r[0].cport, 40002, "eviction: oldest idle first");
    EXPECT_REC(&rc, 1, "three_way", "open", NULL, "none", "evicted");
    CHECK_INT(rc.r[1].cport, 40003, "eviction: next oldest");
    /* The evicted flows' tuples still work: a later packet starts a midstream flow. */
    FEED(t, &l[2], C, F_PA, 1001, 5001, 5, 9000, num++); /* evicts 4 */
    CHECK_INT(st->evicted, 3, "eviction: third");
    fsc_flow_table_flush(t, 20000);
    CHECK_INT(rc.calls, 7, "eviction: all written");
    EXPECT_REC(&rc, 2, "three_way", "open", NULL, "none", "evicted");
    CHECK_INT(rc.r[2].cport, 40004, "eviction: 4 evicted third");
    static const uint16_t rest[4] = {40001, 40005, 40006, 40002};
    for (int i = 0; i < 4; i++)
        CHECK_INT(rc.r[3 + i].cport, rest[i], "eviction: flush order, oldest first");
    EXPECT_REC(&rc, 3, "three_way", "open", NULL, "none", "");
    EXPECT_REC(&rc, 4, "unanswered", "unanswered", NULL, "none", "");
    EXPECT_REC(&rc, 5, "unanswered", "unanswered", NULL, "none", "");
    EXPECT_REC(&rc, 6, "none", "open", NULL, "none", "");
    CHECK_INT(rc.with_evicted, 3, "eviction: flows with the evicted anomaly");
    CHECK_INT(st->created, 7, "eviction: created");
    CHECK_INT(st->written, 7, "eviction: written");
    fsc_flow_table_free(t);
}

/* IPv4 client address number i (10.x.y.z), for churning many distinct tuples. */
static struct link churn_link(uint32_t i)
{
    struct link l = LINK4;
    l.caddr[0] = 10;
    l.caddr[1] = (uint8_t)(i >> 16);
    l.caddr[2] = (uint8_t)(i >> 8);
    l.caddr[3] = (uint8_t)i;
    l.cport = (uint16_t)(1024 + i % 60000);
    return l;
}

/*
 * 100000 complete connections, one after the other, through a table of 1000 flows with a long
 * linger: closed flows fill the table and are evicted oldest first (no anomaly: they are done).
 */
static void test_churn_serial(void)
{
    enum { N = 100000, MAX = 1000 };
    struct recorder rc;
    struct fsc_flow_table *t = table(MAX, 60 * SEC, 300 * SEC, &rc);
    const struct fsc_flow_stats *st = fsc_flow_table_stats(t);
    uint64_t num = 1;

    for (uint32_t i = 0; i < N; i++) {
        struct link l = churn_link(i);
        connection(t, &l, i * 7919u, ~i * 104729u, (fsc_time)i * 1000, &num);
    }
    CHECK_INT(st->active, MAX, "serial churn: table full");
    fsc_flow_table_flush(t, (fsc_time)N * 1000 + SEC);
    CHECK_INT(rc.calls, N, "serial churn: all written");
    CHECK_INT(st->created, N, "serial churn: created");
    CHECK_INT(st->written, N, "serial churn: written");
    CHECK_INT(st->evicted, N - MAX, "serial churn: evicted");
    CHECK_INT(st->active, 0, "serial churn: active after flush");
    CHECK_INT(st->peak_active, MAX, "serial churn: peak");
    CHECK_INT(rc.by_ck[FSC_CK_FOUR_WAY], N, "serial churn: all four_way");
    CHECK_INT(rc.by_hs[FSC_HS_THREE_WAY], N, "serial churn: all three_way");
    CHECK_INT(rc.with_evicted, 0, "serial churn: closed flows evicted without anomaly");
    CHECK_INT(rc.not_finalized, 0, "serial churn: all finalized");
    fsc_flow_table_free(t);
}

/*
 * 100000 connections overlapping by 1500 through a table of 1000: open flows are evicted, and the
 * rest of each evicted connection continues as one midstream flow.
 */
static void test_churn_overlap(void)
{
    enum { N = 100000, W = 1500, MAX = 1000 };
    struct recorder rc;
    struct fsc_flow_table *t = table(MAX, 0, 300 * SEC, &rc);
    const struct fsc_flow_stats *st = fsc_flow_table_stats(t);
    uint64_t num = 1;

    for (uint32_t i = 0; i < N + W; i++) {
        fsc_time now = (fsc_time)i * 100;
        if (i < N) {
            struct link l = churn_link(i);
            FEED(t, &l, C, F_SYN, 1000, 0, 0, now, num++);
            FEED(t, &l, S, F_SA, 5000, 1001, 0, now, num++);
        }
        if (i >= W) {
            struct link l = churn_link(i - W);
            FEED(t, &l, C, F_ACK, 1001, 5001, 0, now, num++);
            FEED(t, &l, C, F_FA, 1001, 5001, 0, now, num++);
            FEED(t, &l, S, F_ACK, 5001, 1002, 0, now, num++);
            FEED(t, &l, S, F_FA, 5001, 1002, 0, now, num++);
            FEED(t, &l, C, F_ACK, 1002, 5002, 0, now, num++);
        }
    }
    fsc_flow_table_flush(t, (fsc_time)(N + W) * 100 + SEC);
    CHECK_INT(st->evicted > 0, 1, "overlap churn: evictions happened");
    CHECK_INT(st->created, N + st->evicted, "overlap churn: one continuation per eviction");
    CHECK_INT(st->written, st->created, "overlap churn: every flow written");
    CHECK_INT(rc.calls, st->written, "overlap churn: sink calls");
    CHECK_INT(st->active, 0, "overlap churn: active after flush");
    CHECK_INT(st->peak_active, MAX, "overlap churn: peak");
    CHECK_INT(rc.with_evicted, st->evicted, "overlap churn: evicted anomaly per eviction");
    CHECK_INT(rc.by_hs[FSC_HS_NONE], st->evicted, "overlap churn: midstream continuations");
    CHECK_INT(rc.by_ck[FSC_CK_FOUR_WAY], N, "overlap churn: every teardown is four_way");
    CHECK_INT(rc.by_ck[FSC_CK_OPEN], st->evicted, "overlap churn: evicted halves are open");
    fsc_flow_table_free(t);
}

/* Flows a table's slabs hold once it has held peak flows at once (its slabs are 64 KiB). */
static uint64_t pooled_for(uint64_t peak)
{
    uint64_t per_slab = 65536 / sizeof(struct fsc_flow);
    return (peak + per_slab - 1) / per_slab * per_slab;
}

/*
 * Memory follows the flows held at once, never the flows written (issue 9): 100000 serial
 * connections with no linger reuse one slab of flows and one slab per segment-array class;
 * then 5000 held at once take just the slabs for 5000, and written they are reused again.
 */
static void test_pool(void)
{
    enum { N = 100000, HELD = 5000 };
    struct recorder rc;
    struct fsc_flow_table *t = table(N, 0, 300 * SEC, &rc);
    const struct fsc_flow_stats *st = fsc_flow_table_stats(t);
    uint64_t num = 1;
    fsc_time now = 0;

    for (uint32_t i = 0; i < N; i++, now += 1000) {
        struct link l = churn_link(i);
        connection(t, &l, i * 7919u, ~i * 104729u, now, &num);
    }
    CHECK_INT(st->peak_active, 1, "pool: serial connections, one held at a time");
    CHECK_INT(st->flows_pooled, pooled_for(1), "pool: one slab of flows for 100000 connections");
    CHECK_INT(st->seg_pool_bytes <= 2 * 65536, 1, "pool: one slab per segment-array class");
    uint64_t seg_bytes = st->seg_pool_bytes;
    for (int round = 0; round < 2; round++) {
        for (uint32_t i = 0; i < HELD; i++) {
            struct link l = churn_link(N + i);
            FEED(t, &l, C, F_SYN, 1000, 0, 0, now, num++);
            FEED(t, &l, S, F_SA, 5000, 1001, 0, now, num++);
        }
        fsc_flow_table_flush(t, now);
        now += SEC;
    }
    CHECK_INT(st->peak_active, HELD, "pool: held at once");
    CHECK_INT(st->flows_pooled, pooled_for(HELD), "pool: slabs for the peak, reused the 2nd time");
    /* 5000 arrays of 4 segments (32 bytes each) in 64 KiB slabs, on top of the first ones. */
    uint64_t grown = st->seg_pool_bytes - seg_bytes, need = HELD * 4 * sizeof(struct fsc_segment);
    CHECK_INT(grown >= need - 65536 && grown <= need + 65536, 1, "pool: segment slabs for 5000");
    CHECK_INT(rc.calls, N + 2 * HELD, "pool: every flow written");
    fsc_flow_table_free(t);
}

/* What a table wrote, in total: rows, packets, and rows by kind. */
struct tally {
    uint64_t rows, pkts, evicted, midstream;
};

static void tally_sink(struct fsc_flow *f, void *user)
{
    struct tally *y = user;
    y->rows++;
    y->pkts += f->ep[C].pkts + f->ep[S].pkts;
    y->evicted += (f->anomalies & FSC_AN_EVICTED) != 0;
    y->midstream += f->handshake == FSC_HS_NONE;
}

/*
 * Eviction under pressure (flow.h, "Eviction"): N connections touched in turn, one data
 * segment each per round, R rounds, through a table of N/4.  Least-recently-used wrote one row
 * per packet (N*R); now round 1 evicts 3N/4 of them, round 2 continues those (evicting the other
 * N/4), and from then on the N/4 continuations stay while the other 3N/4 tuples collect in
 * tails: 2N rows, every packet counted once.
 */
static void test_evict_round_robin(void)
{
    enum { N = 4000, R = 10, MAX = N / 4 };
    struct tally y = {0};
    struct fsc_flow_limits lim = {MAX, SEC, 300 * SEC};
    struct fsc_flow_table *t = fsc_flow_table_new(&lim, tally_sink, &y);
    const struct fsc_flow_stats *st = fsc_flow_table_stats(t);
    uint64_t num = 1;
    fsc_time now = 0;

    for (uint32_t r = 0; r < R; r++) {
        for (uint32_t i = 0; i < N; i++, now += 10) {
            struct link l = churn_link(i);
            FEED(t, &l, C, F_PA, 1001 + r * 10, 5001, 10, now, num++);
        }
    }
    CHECK_INT(st->evicted, N, "round robin: 3N/4 originals, then the other N/4");
    CHECK_INT(st->created, N + MAX, "round robin: continuations for the first N/4 only");
    CHECK_INT(st->tail_packets, (uint64_t)(N - MAX) * (R - 1), "round robin: tail packets");
    fsc_flow_table_flush(t, now + SEC);
    CHECK_INT(y.rows, 2 * N, "round robin: 2N rows, not N*R");
    CHECK_INT(st->tail_rows, N - MAX, "round robin: one tail row per thrashing tuple");
    CHECK_INT(y.pkts, (uint64_t)N * R, "round robin: every packet counted once");
    CHECK_INT(y.evicted, N + (N - MAX), "round robin: evicted flows and tails marked");
    CHECK_INT(y.midstream, 2 * N, "round robin: every row midstream");
    CHECK_INT(st->written, 2 * N, "round robin: written");
    fsc_flow_table_free(t);
}

/*
 * A tail ends when its tuple needs a flow again: a bare SYN starts a new connection (the tail's
 * row is written first), and a tail idle for idle_us is written on its own.
 */
static void test_tail_ends(void)
{
    struct tally y = {0};
    struct fsc_flow_limits lim = {2, SEC, 10 * SEC};
    struct fsc_flow_table *t = fsc_flow_table_new(&lim, tally_sink, &y);
    const struct fsc_flow_stats *st = fsc_flow_table_stats(t);
    struct link l[4];
    uint64_t num = 1;

    for (int i = 0; i < 4; i++)
        l[i] = churn_link((uint32_t)i);
    /* 4 tuples in turn through 2 flows: round 1 evicts 0 and 1, round 2 continues them
     * (evicting 2 and 3), and from then on 2 and 3's packets collect in tails. */
    for (int r = 0; r < 4; r++)
        for (int i = 0; i < 4; i++)
            FEED(t, &l[i], C, F_PA, 1001 + (uint32_t)r * 10, 5001, 10, r * 1000 + i * 100, num++);
    CHECK_INT(st->tail_packets, 6, "tail ends: tuples 2 and 3 collect rounds 2-4");
    CHECK_INT(y.rows, 4, "tail ends: the 4 evicted originals");
    FEED(t, &l[2], C, F_SYN, 9000, 0, 0, 5000, num++); /* a new connection on tuple 2 */
    CHECK_INT(st->tail_rows, 1, "tail ends: the SYN writes tuple 2's tail");
    CHECK_INT(y.rows, 6, "tail ends: the tail and the continuation evicted for the SYN");
    FEED(t, &l[3], C, F_PA, 1041, 5001, 10, 30 * SEC, num++); /* 25 s later: all idle */
    CHECK_INT(st->tail_rows, 2, "tail ends: tuple 3's tail written when idle");
    fsc_flow_table_flush(t, 31 * SEC);
    CHECK_INT(y.pkts, 18, "tail ends: every packet counted once");
    CHECK_INT(y.rows, 10,
              "tail ends: 4 originals, 2 tails, 2 continuations, the SYN's flow, a new one");
    fsc_flow_table_free(t);
}

/* More flows than hash buckets: the table grows and every flow is still found. */
static void test_growth(void)
{
    enum { N = 70000 };
    struct recorder rc;
    struct fsc_flow_table *t = table(N + 10, SEC, 300 * SEC, &rc);
    const struct fsc_flow_stats *st = fsc_flow_table_stats(t);
    uint64_t num = 1;

    for (uint32_t i = 0; i < N; i++) {
        struct link l = churn_link(i);
        FEED(t, &l, C, F_SYN, 1000 + i, 0, 0, 1000, num++);
    }
    for (uint32_t i = 0; i < N; i++) {
        struct link l = churn_link(i);
        FEED(t, &l, S, F_SA, 5000, 1001 + i, 0, 2000, num++);
    }
    CHECK_INT(st->created, N, "growth: no duplicate flows after rehash");
    CHECK_INT(st->active, N, "growth: active");
    fsc_flow_table_flush(t, 10 * SEC);
    CHECK_INT(rc.calls, N, "growth: all written");
    CHECK_INT(rc.by_hs[FSC_HS_THREE_WAY], N, "growth: every SYN+ACK found its SYN");
    fsc_flow_table_free(t);
}

/*
 * Time going back inside a flow (merged captures): the segment is taken at the flow's previous
 * time and flagged; an eviction stamped before the victim's last segment does not end it early.
 * No duration or dwell comes out negative.
 */
static void test_time_backwards(void)
{
    struct recorder rc;
    struct fsc_flow_table *t = table(1, SEC, 300 * SEC, &rc);
    struct link other = on_port(&LINK4, 40999);

    FEED(t, &LINK4, C, F_SYN, 1000, 0, 0, 100000, 1);
    FEED(t, &LINK4, S, F_SA, 5000, 1001, 0, 100100, 2);
    FEED(t, &LINK4, C, F_ACK, 1001, 5001, 0, 100200, 3);
    FEED(t, &LINK4, C, F_FA, 1001, 5001, 0, 200000, 4);  /* client closes at 200 ms */
    FEED(t, &LINK4, S, F_ACK, 5001, 1002, 0, 150000, 5); /* stamped 50 ms before the FIN */
    /* The server sits in CLOSE_WAIT; another flow stamped at 120 ms evicts it (max 1 flow). */
    FEED(t, &other, C, F_SYN, 1000, 0, 0, 120000, 6);
    CHECK_INT(rc.calls, 1, "time backwards: the half-closed flow is evicted");
    EXPECT_REC(&rc, 0, "three_way", "half_closed", NULL, "client", "evicted,timestamp_backwards");
    CHECK_STR(rc.r[0].st_s, "close_wait", "time backwards: server in CLOSE_WAIT");
    CHECK_INT(rc.r[0].duration_us, 100000, "time backwards: duration runs to the FIN, not back");
    CHECK_INT(rc.r[0].close_wait_us, 0, "time backwards: CLOSE_WAIT dwell 0, not negative");
    fsc_flow_table_flush(t, 130000);
    CHECK_INT(rc.calls, 2, "time backwards: both written");
    EXPECT_REC(&rc, 1, "unanswered", "unanswered", NULL, "none", "");
    fsc_flow_table_free(t);
}

/*
 * A midstream flow with no service port: the lower port (30000) is guessed the server, and it
 * resets after a request it never answered (unread_data).  A handshake to port 40000 later in
 * the capture shows 40000 is the server: the roles swap at the end, and the cause is the one
 * judged at the RST for the resetter as the client (a client that got its reply: abort), not
 * one judged again from the end of the flow (where the resetter is already closed).
 */
static void test_role_swap_keeps_rst_reading(void)
{
    const struct link l = {4, {192, 0, 2, 1}, {198, 51, 100, 7}, 40000, 30000};
    const struct link other = {4, {203, 0, 113, 5}, {192, 0, 2, 1}, 51000, 40000};

    for (int later_syn = 0; later_syn < 2; later_syn++) {
        struct recorder rc;
        struct fsc_flow_table *t = table(100, SEC, 300 * SEC, &rc);
        FEED(t, &l, S, F_PA, 5001, 1001, 100, 1000, 1);
        FEED(t, &l, C, F_PA, 1001, 5101, 50, 11000, 2);
        FEED(t, &l, S, F_RA, 5101, 1051, 0, 21000, 3);
        if (later_syn)
            FEED(t, &other, C, F_SYN, 9000, 0, 0, 31000, 4);
        fsc_flow_table_flush(t, 60 * SEC);
        if (later_syn) {
            EXPECT_REC(&rc, 0, "none", "rst", "abort", "client", "");
            CHECK_INT(rc.r[0].cport, 30000, "role swap: the resetter is the client");
        } else {
            EXPECT_REC(&rc, 0, "none", "rst", "unread_data", "server", "");
            CHECK_INT(rc.r[0].sport, 30000, "no swap: the resetter is the server");
        }
        fsc_flow_table_free(t);
    }
}

int main(void)
{
    test_both_directions();
    test_simultaneous_open();
    test_role_swap_keeps_rst_reading();
    test_time_backwards();
    test_port_reuse();
    test_linger();
    test_idle();
    test_eviction();
    test_churn_serial();
    test_churn_overlap();
    test_growth();
    test_pool();
    test_evict_round_robin();
    test_tail_ends();

    printf("flow: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
