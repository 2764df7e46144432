/* test_zeek.c - unit tests for Zeek's conn_state, history, orientation and sizes (zeek.c). */
#include "finscope/zeek.h"

#include <stdio.h>
#include <string.h>

/*
 * Each case feeds hand-built segments to one struct fsc_zeek_conn exactly as tcpstate.c does,
 * ends it with fsc_zeek_finish, and compares the record(s) Zeek would log: conn_state,
 * history, which finscope endpoint originates, and the sequence-range byte counts.
 */

static int passed, failed;

#define F_SYN FSC_TH_SYN
#define F_SA (FSC_TH_SYN | FSC_TH_ACK)
#define F_ACK FSC_TH_ACK
#define F_FA (FSC_TH_FIN | FSC_TH_ACK)
#define F_RST FSC_TH_RST
#define F_RA (FSC_TH_RST | FSC_TH_ACK)

enum { C = 1, S = 0 }; /* from_client */

struct seg {
    int from_client;
    uint8_t flags;
    uint32_t seq, ack, len;
    fsc_time ts_ms;
    int win0; /* 1: advertises a zero window */
};

/* Feed n more segments to z, without ending it. */
static void feed_more(struct fsc_zeek_conn *z, const struct seg *g, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct fsc_pkt p;
        memset(&p, 0, sizeof p);
        p.ts = 1700000000 * FSC_USEC_PER_SEC + g[i].ts_ms * 1000;
        p.number = i + 1;
        p.ip_version = 4;
        p.src.b[0] = 192;
        p.dst.b[0] = 192;
        p.src.b[3] = g[i].from_client ? 1 : 2;
        p.dst.b[3] = g[i].from_client ? 2 : 1;
        p.sport = g[i].from_client ? 40000 : 80;
        p.dport = g[i].from_client ? 80 : 40000;
        p.flags = g[i].flags;
        p.seq = g[i].seq;
        p.ack = g[i].ack;
        p.payload_len = g[i].len;
        p.window = g[i].win0 ? 0 : 1000;
        fsc_zeek_segment(z, g[i].from_client, &p);
    }
}

static void feed(struct fsc_zeek_conn *z, const struct seg *g, size_t n)
{
    memset(z, 0, sizeof *z);
    feed_more(z, g, n);
    fsc_zeek_finish(z);
}

static void check_record(const char *name, const struct fsc_zeek_record *r, const char *state,
                         const char *history, int orig_is_client, long long ob, long long rb)
{
    const char *got = fsc_zeek_conn_state_name((enum fsc_zeek_conn_state)r->conn_state);
    long long gob = r->has_bytes ? (long long)r->orig_bytes : -1;
    long long grb = r->has_bytes ? (long long)r->resp_bytes : -1;

    if (strcmp(got, state) || strcmp(r->history, history) || r->orig_is_client != orig_is_client ||
        gob != ob || grb != rb) {
        printf("FAIL %s: got %s %s orig_is_client=%d %lld/%lld, expected %s %s %d %lld/%lld\n",
               name, got, r->history, r->orig_is_client, gob, grb, state, history, orig_is_client,
               ob, rb);
        failed++;
    } else {
        passed++;
    }
}

#define RUN(name, segs, ...)                                                                       \
    do {                                                                                           \
        struct fsc_zeek_conn z;                                                                    \
        feed(&z, segs, sizeof segs / sizeof *segs);                                                \
        check_record(name, &z.final, __VA_ARGS__);                                                 \
        fsc_zeek_release(&z);                                                                      \
    } while (0)

/* Client ISN 1000, server ISN 5000. */
static const struct seg normal_close[] = {
    {C, F_SYN, 1000, 0, 0, 0, 0},    {S, F_SA, 5000, 1001, 0, 1, 0},
    {C, F_ACK, 1001, 5001, 0, 2, 0}, {C, F_ACK, 1001, 5001, 100, 3, 0},
    {S, F_ACK, 5001, 1101, 0, 4, 0}, {S, F_ACK, 5001, 1101, 50, 5, 0},
    {C, F_FA, 1101, 5051, 0, 6, 0},  {S, F_FA, 5051, 1102, 0, 7, 0},
    {C, F_ACK, 1102, 5052, 0, 8, 0},
};
static const struct seg refused[] = {
    {C, F_SYN, 1000, 0, 0, 0, 0},
    {S, F_RA, 0, 1001, 0, 1, 0},
};
static const struct seg unanswered[] = {
    {C, F_SYN, 1000, 0, 0, 0, 0},
    {C, F_SYN, 1000, 0, 0, 0, 0}, /* same ISN, same ms: one letter, duration 0 */
};
static const struct seg syn_then_rst[] = {
    {C, F_SYN, 1000, 0, 0, 0, 0},
    {C, F_RST, 1001, 0, 0, 1, 0},
};
static const struct seg lone_rst[] = {
    {C, F_RST, 1000, 0, 0, 0, 0},
};
static const struct seg synack_first[] = {
    {S, F_SA, 5000, 1001, 0, 0, 0},
};
static const struct seg retransmit[] = {
    {C, F_SYN, 1000, 0, 0, 0, 0},     {S, F_SA, 5000, 1001, 0, 1, 0},
    {C, F_ACK, 1001, 5001, 10, 2, 0}, {C, F_ACK, 1001, 5001, 10, 3, 0}, /* resent: T */
    {S, F_ACK, 5001, 1011, 0, 4, 0},  {C, F_FA, 1011, 5001, 0, 5, 0},
    {C, F_FA, 1011, 5001, 0, 6, 0}, /* FIN resent at its seq: no second F */
};
static const struct seg zero_window[] = {
    {C, F_SYN, 1000, 0, 0, 0, 0},
    {S, F_SA, 5000, 1001, 0, 1, 0},
    {C, F_ACK, 1001, 5001, 0, 2, 0},
    {S, F_ACK, 5001, 1001, 0, 3, 1},
};
/* Responder data acked beyond what was captured: a content gap on the responder's side. */
static const struct seg gap[] = {
    {C, F_SYN, 1000, 0, 0, 0, 0},    {S, F_SA, 5000, 1001, 0, 1, 0},
    {C, F_ACK, 1001, 5001, 0, 2, 0}, {S, F_ACK, 5001, 1001, 100, 3, 0},
    {C, F_ACK, 1001, 5201, 0, 4, 0},
};
/* Only the client's direction was captured: Zeek logs S0 after 5 s, then a new record. */
static const struct seg half_duplex[] = {
    {C, F_SYN, 1000, 0, 0, 0, 0},      {C, F_ACK, 1001, 5001, 0, 10, 0},
    {C, F_ACK, 1001, 5001, 20, 20, 0}, {C, F_ACK, 1021, 5001, 30, 6000, 0},
    {C, F_FA, 1051, 5001, 0, 6100, 0},
};
/* FIN then RST from the originator, then the responder's FIN: still SF. */
static const struct seg fin_rst_fin[] = {
    {C, F_SYN, 1000, 0, 0, 0, 0},   {S, F_SA, 5000, 1001, 0, 1, 0}, {C, F_ACK, 1001, 5001, 0, 2, 0},
    {C, F_FA, 1001, 5001, 0, 3, 0}, {C, F_RST, 1002, 0, 0, 4, 0},   {S, F_FA, 5001, 1002, 0, 5, 0},
};

static void test_history_cap(void)
{
    struct seg g[60];
    for (int i = 0; i < 60; i++)
        g[i] = (struct seg){C, F_RST, 1000u + (uint32_t)i, 0, 0, i, 0};
    struct fsc_zeek_conn z;
    feed(&z, g, 60);
    char want[FSC_ZEEK_HISTORY_MAX + 1];
    memset(want, 'R', FSC_ZEEK_HISTORY_MAX);
    want[FSC_ZEEK_HISTORY_MAX] = '\0';
    check_record("history cap", &z.final, "OTH", want, 1, 0, 0);
    if (z.hist_dropped != 60 - FSC_ZEEK_HISTORY_MAX) {
        printf("FAIL history cap: dropped %u\n", z.hist_dropped);
        failed++;
    }
}

static void expect_u(const char *name, unsigned long long got, unsigned long long want)
{
    if (got != want) {
        printf("FAIL %s: %llu, expected %llu\n", name, got, want);
        failed++;
    } else {
        passed++;
    }
}

/* A SYN at a new ISN while the first is unanswered starts a new record each time: three are
 * kept (allocated at the first), the fourth counted, and the fifth is the flow's own. */
static void test_earlier_cap(void)
{
    struct seg g[5];
    for (int i = 0; i < 5; i++)
        g[i] = (struct seg){C, F_SYN, 1000u * (uint32_t)(i + 1), 0, 0, i, 0};
    struct fsc_zeek_conn z;
    feed(&z, g, 5);
    expect_u("earlier cap: kept", z.n_earlier, FSC_ZEEK_MAX_EARLIER);
    expect_u("earlier cap: dropped", z.earlier_dropped, 1);
    for (unsigned k = 0; k < z.n_earlier && k < FSC_ZEEK_MAX_EARLIER; k++) {
        check_record("earlier cap: record", &z.earlier[k], "S0", "S", 1, -1, -1);
        expect_u("earlier cap: ts", (unsigned long long)(z.earlier[k].ts - z.earlier[0].ts),
                 k * 1000ull);
        expect_u("earlier cap: orig pkts", z.earlier[k].orig_pkts, 1);
    }
    check_record("earlier cap: last record", &z.final, "S0", "S", 1, -1, -1);
    expect_u("earlier cap: last ts", (unsigned long long)(z.final.ts - z.earlier[0].ts), 4000);
    fsc_zeek_release(&z);
    expect_u("earlier cap: released", z.n_earlier + (z.earlier != NULL), 0);
}

/* The record is made once: segments and finishes after the first finish change nothing. */
static void test_finish_once(void)
{
    static const struct seg late[] = {{C, F_RST, 1102, 0, 0, 9, 0}};
    struct fsc_zeek_conn z;
    feed(&z, normal_close, sizeof normal_close / sizeof *normal_close);
    feed_more(&z, late, 1);
    fsc_zeek_finish(&z);
    check_record("finish once", &z.final, "SF", "ShADadFf", 1, 100, 50);
    expect_u("finish once: orig pkts", z.final.orig_pkts, 5);
    expect_u("finish once: earlier", z.n_earlier, 0);
    fsc_zeek_release(&z);
}

/*
 * Zeek's retransmission threshold is the next power of ten, at most 10^9, where it stays: a
 * 'T' at the 1st, 10th, ... 10^9th, and after the 32-bit count goes round only at 10^9.  The
 * count is set near its end rather than fed four billion segments.
 */
static void test_scaled_wrap(void)
{
    static const struct seg resend[] = {{C, F_ACK, 1001, 5001, 10, 5, 0}};
    struct fsc_zeek_conn z;
    memset(&z, 0, sizeof z);
    feed_more(&z, retransmit, 3); /* "ShD", 10 bytes sent */
    uint32_t *cnt = &z.ep[0].scaled_cnt[FSC_ZEEK_SC_RXMT];
    const uint32_t at[] = {9, 99999999, UINT32_MAX - 1, UINT32_MAX, 0, 9, 999999999};
    for (size_t i = 0; i < sizeof at / sizeof *at; i++) {
        *cnt = at[i];
        feed_more(&z, resend, 1);
    }
    fsc_zeek_finish(&z);
    /* 10 and 10^8 before the wrap; after it, 10 gives nothing and 10^9 a letter. */
    check_record("scaled wrap", &z.final, "S1", "ShDTTT", 1, 10, 0);
    fsc_zeek_release(&z);
}

static void test_conn_state_table(void)
{
    static const struct {
        enum fsc_zeek_ep_state os, rs;
        const char *hist;
        uint64_t osz, rsz;
        const char *want;
    } t[] = {
        {FSC_ZE_SYN_SENT, FSC_ZE_RESET, "Sr", 0, 0, "REJ"},
        {FSC_ZE_RESET, FSC_ZE_RESET, "Rr", 0, 0, "REJ"},
        {FSC_ZE_RESET, FSC_ZE_RESET, "DRr", 5, 0, "RSTR"},
        {FSC_ZE_PARTIAL, FSC_ZE_RESET, "Dr", 109, 0, "RSTRH"},
        {FSC_ZE_INACTIVE, FSC_ZE_RESET, "^r", 0, 0, "RSTRH"},
        {FSC_ZE_ESTABLISHED, FSC_ZE_RESET, "ShADr", 1, 0, "RSTR"},
        {FSC_ZE_RESET, FSC_ZE_INACTIVE, "SR", 0, 0, "RSTOS0"},
        {FSC_ZE_RESET, FSC_ZE_INACTIVE, "SaR", 0, 0, "RSTOS0"},
        {FSC_ZE_RESET, FSC_ZE_INACTIVE, "SaFR", 0, 0, "OTH"},
        {FSC_ZE_RESET, FSC_ZE_INACTIVE, "R", 0, 0, "OTH"},
        {FSC_ZE_RESET, FSC_ZE_ESTABLISHED, "ShR", 0, 0, "RSTO"},
        {FSC_ZE_CLOSED, FSC_ZE_CLOSED, "ShADadFf", 1, 1, "SF"},
        {FSC_ZE_CLOSED, FSC_ZE_PARTIAL, "Fa", 0, 0, "SH"},
        {FSC_ZE_CLOSED, FSC_ZE_ESTABLISHED, "ShADF", 1, 0, "S2"},
        {FSC_ZE_INACTIVE, FSC_ZE_CLOSED, "^fA", 0, 0, "SHR"},
        {FSC_ZE_ESTABLISHED, FSC_ZE_CLOSED, "ShADadf", 1, 1, "S3"},
        {FSC_ZE_SYN_SENT, FSC_ZE_INACTIVE, "SAD", 5, 0, "S0"},
        {FSC_ZE_ESTABLISHED, FSC_ZE_ESTABLISHED, "ShADad", 1, 1, "S1"},
        {FSC_ZE_PARTIAL, FSC_ZE_PARTIAL, "Dd", 1, 1, "OTH"},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        const char *got = fsc_zeek_conn_state_name(
            fsc_zeek_conn_state(t[i].os, t[i].rs, t[i].hist, t[i].osz, t[i].rsz));
        if (strcmp(got, t[i].want)) {
            printf("FAIL conn_state %s: got %s, expected %s\n", t[i].hist, got, t[i].want);
            failed++;
        } else {
            passed++;
        }
    }
}

int main(void)
{
    RUN("four-way close", normal_close, "SF", "ShADadFf", 1, 100, 50);
    RUN("refused", refused, "REJ", "Sr", 1, 0, 0);
    RUN("unanswered", unanswered, "S0", "S", 1, -1, -1);
    RUN("syn then rst", syn_then_rst, "RSTOS0", "SR", 1, 0, 0);
    RUN("lone rst", lone_rst, "OTH", "R", 1, -1, -1);
    RUN("syn-ack first: flipped", synack_first, "OTH", "^h", 1, -1, -1);
    RUN("retransmission", retransmit, "S2", "ShDTaF", 1, 10, 0);
    RUN("fin, rst, fin", fin_rst_fin, "SF", "ShAFRf", 1, 0, 0);
    RUN("gap", gap, "S1", "ShAdg", 1, 0, 200);
    RUN("zero window", zero_window, "S1", "ShAaw", 1, 0, 0);
    {
        struct fsc_zeek_conn z;
        feed(&z, half_duplex, sizeof half_duplex / sizeof *half_duplex);
        if (z.n_earlier != 1) {
            printf("FAIL half duplex: %u earlier records\n", z.n_earlier);
            failed++;
        } else {
            check_record("half duplex, first record", &z.earlier[0], "S0", "SAD", 1, 20, 0);
        }
        check_record("half duplex, second record", &z.final, "SH", "DF", 1, 30, 0);
        fsc_zeek_release(&z);
    }
    test_history_cap();
    test_earlier_cap();
    test_finish_once();
    test_scaled_wrap();
    test_conn_state_table();
    if (!fsc_zeek_likely_server_port(80) || fsc_zeek_likely_server_port(40000)) {
        printf("FAIL likely server ports\n");
        failed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
