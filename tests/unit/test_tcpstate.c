/* test_tcpstate.c - unit tests for the per-endpoint state inference, from hand-built segments. */
#include "finscope/flow.h"
#include "finscope/ports.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Each case builds a list of segments by hand, feeds them to one struct fsc_flow exactly as the
 * flow table does (fsc_tcp_flow_init on the first, fsc_tcp_segment for each, fsc_classify at the
 * end) and compares everything the database would store: transitions, final states, tokens,
 * counters, dwell times and the kept segments.
 *
 * Expected transitions and segments are written as text, one item per event, comma-separated.
 * A transition reads "<packet><endpoint> <from>><to> <evidence>":
 *     "8S established>close_wait ack_fin"
 * A kept segment reads "<packet><endpoint> <why> <rel_seq>/<rel_ack>[+<len>]":
 *     "4C first_data 1/1+100"
 * Cases run in both directions use the letters A (the endpoint that closes or acts first) and B
 * (its peer) in place of C and S; they are substituted before comparing.
 */

static int passed, failed;

enum { C = FSC_CLIENT, S = FSC_SERVER };

#define F_SYN FSC_TH_SYN
#define F_SA (FSC_TH_SYN | FSC_TH_ACK)
#define F_ACK FSC_TH_ACK
#define F_PA (FSC_TH_PSH | FSC_TH_ACK)
#define F_FA (FSC_TH_FIN | FSC_TH_ACK)
#define F_RST FSC_TH_RST
#define F_RA (FSC_TH_RST | FSC_TH_ACK)

/* Client and server initial sequence numbers of the ordinary cases. */
#define CI 1000u
#define SI 5000u

static uint32_t isn(int e)
{
    return e == C ? CI : SI;
}

/* Short evidence names for the expected-transition strings (fsc_evidence_name order). */
static const char *const EV[FSC_EV__COUNT] = {
    "init",           "mid",         "syn",           "synack",         "ack_syn",
    "peer_ack_syn",   "after_syn",   "fin",           "ack_fin",        "peer_ack_fin",
    "fin_before",     "rst",         "peer_rst",      "early_ack_fin",  "fin_acked_peer",
    "early_peer_ack", "crossed",     "unseen_synack", "unseen_data",    "unseen_fin",
    "early_ack_syn",  "fw2_timeout", "unseen_syn",    "unseen_ack_syn", "fin_reordered",
    "via_fin",
};

/* ---- checks ---- */

static void check_str(const char *file, int line, const char *what, const char *got,
                      const char *exp)
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
    printf("FAIL %s:%d: %s: expected \"%s\" got \"%s\"\n", file, line, what, exp, got);
}

static void check_int(const char *file, int line, const char *what, long long got, long long exp)
{
    if (got == exp) {
        passed++;
        return;
    }
    failed++;
    printf("FAIL %s:%d: %s: expected %lld got %lld\n", file, line, what, exp, got);
}

#define CHECK_STR(got, exp, what) check_str(__FILE__, __LINE__, what, got, exp)
#define CHECK_INT(got, exp, what)                                                                  \
    check_int(__FILE__, __LINE__, what, (long long)(got), (long long)(exp))

/* ---- segments ---- */

/* Who talks to whom: client and server address:port, IP version. */
struct link {
    uint8_t ipv;
    uint8_t caddr[16], saddr[16];
    uint16_t cport, sport;
};

/* Client on an ephemeral port, server on a well-known one. */
static const struct link LINK4 = {4, {192, 0, 2, 1}, {198, 51, 100, 7}, 40000, 80};
/* The client is on the lower port: the SYN, not the port, must decide who is the client. */
static const struct link LINK_LO = {4, {198, 51, 100, 9}, {192, 0, 2, 20}, 25, 50000};
static const struct link LINK6 = {6,
                                  {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
                                  {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2},
                                  51000,
                                  443};
/* A socket connected to itself. */
static const struct link LINK_SELF = {4, {127, 0, 0, 1}, {127, 0, 0, 1}, 45555, 45555};

/* One segment sent by dir (C or S) on link l. */
static struct fsc_pkt pkt_on(const struct link *l, int dir, uint8_t flags, uint32_t seq,
                             uint32_t ack, uint32_t len, fsc_time ts_us, uint64_t number)
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

static struct fsc_pkt pkt(int dir, uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len,
                          fsc_time ts_us, uint64_t number)
{
    return pkt_on(&LINK4, dir, flags, seq, ack, len, ts_us, number);
}

/* The segments of one case, in capture order. */
struct trace {
    const struct link *l;
    struct fsc_pkt p[128];
    size_t n;
};

static void trace_init(struct trace *t, const struct link *l)
{
    memset(t, 0, sizeof *t);
    t->l = l;
}

/* Append a segment; number must be the next frame number (keeps the cases readable). */
static void add(struct trace *t, int dir, uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len,
                fsc_time ts_us, uint64_t number)
{
    if (number != t->n + 1 || t->n >= sizeof t->p / sizeof t->p[0]) {
        fprintf(stderr, "test bug: packet %llu added as #%zu\n", (unsigned long long)number,
                t->n + 1);
        exit(2);
    }
    t->p[t->n++] = pkt_on(t->l, dir, flags, seq, ack, len, ts_us, number);
}

/* Feed a trace to a fresh flow as the flow table would, then classify at end_ts. */
static void run(struct fsc_flow *f, const struct trace *t, fsc_time end_ts)
{
    memset(f, 0, sizeof *f);
    fsc_tcp_flow_init(f, &t->p[0], -1);
    for (size_t i = 0; i < t->n; i++)
        fsc_tcp_segment(f, fsc_flow_dir(f, &t->p[i]), &t->p[i]);
    fsc_classify(f, end_ts);
}

static void release(struct fsc_flow *f)
{
    free(f->seg);
    f->seg = NULL;
    fsc_zeek_release(&f->zeek);
}

/* How many transitions the flow's facts give. */
static uint32_t n_transitions(const struct fsc_flow *f)
{
    struct fsc_transition tr[FSC_FLOW_MAX_TRANSITIONS];
    return fsc_flow_transitions(f, tr);
}

/*
 * 1-6: handshake, 100 bytes from each side, the client's ACK.  Both sides' next sequence number
 * is ISN + 101, relative 101, whichever of them closes first.
 */
static void opening(struct trace *t)
{
    add(t, C, F_SYN, CI, 0, 0, 1000, 1);
    add(t, S, F_SA, SI, CI + 1, 0, 2000, 2);
    add(t, C, F_ACK, CI + 1, SI + 1, 0, 3000, 3);
    add(t, C, F_PA, CI + 1, SI + 1, 100, 4000, 4);
    add(t, S, F_PA, SI + 1, CI + 101, 100, 5000, 5);
    add(t, C, F_ACK, CI + 101, SI + 101, 0, 6000, 6);
}

#define TR_OPEN                                                                                    \
    "1C closed>syn_sent syn, 2S listen>syn_rcvd synack, 3C syn_sent>established ack_syn, "         \
    "3S syn_rcvd>established peer_ack_syn"
#define SEG_OPEN                                                                                   \
    "1C syn 0/0, 2S syn,ack_syn 0/1, 3C ack_syn 1/1, 4C first_data 1/1+100, "                      \
    "5S first_data 1/101+100"

/* ---- rendering what the flow holds ---- */

static char ep_letter(int e)
{
    return e == C ? 'C' : 'S';
}

static void appendf(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void appendf(char *buf, size_t len, const char *fmt, ...)
{
    size_t used = strlen(buf);
    va_list ap;

    if (used >= len - 1)
        return;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

static const char *dump_tr(const struct fsc_flow *f, char *buf, size_t len)
{
    struct fsc_transition tr[FSC_FLOW_MAX_TRANSITIONS];
    uint32_t n = fsc_flow_transitions(f, tr);

    buf[0] = '\0';
    for (uint32_t i = 0; i < n; i++) {
        const struct fsc_transition *t = &tr[i];
        appendf(buf, len, "%s%llu%c %s>%s %s", i ? ", " : "", (unsigned long long)t->packet,
                ep_letter(t->endpoint), fsc_tcp_state_name(t->from), fsc_tcp_state_name(t->to),
                t->evidence < FSC_EV__COUNT ? EV[t->evidence] : "?");
    }
    return buf;
}

static const char *dump_seg(const struct fsc_flow *f, char *buf, size_t len)
{
    char why[128];

    buf[0] = '\0';
    for (uint32_t i = 0; i < f->n_seg; i++) {
        const struct fsc_segment *g = &f->seg[i];
        appendf(buf, len, "%s%llu%c %s %u/%u", i ? ", " : "", (unsigned long long)g->packet,
                ep_letter(g->from), fsc_segment_why_str(g->why, why, sizeof why), g->rel_seq,
                g->rel_ack);
        if (g->len)
            appendf(buf, len, "+%u", g->len);
    }
    return buf;
}

/* Replace the role letters A and B of a template by C/S (a is the endpoint written A). */
static const char *roles(const char *tmpl, int a, char *buf, size_t len)
{
    size_t i = 0;

    for (; tmpl[i] && i + 1 < len; i++) {
        char ch = tmpl[i];
        if (ch == 'A')
            ch = ep_letter(a);
        else if (ch == 'B')
            ch = ep_letter(!a);
        buf[i] = ch;
    }
    buf[i] = '\0';
    return buf;
}

static const char *dwell_str(int64_t us, char *buf, size_t len)
{
    if (us < 0)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%lld", (long long)us);
    return buf;
}

/* Everything a case asserts.  Zero/NULL fields mean "none"; "*" skips a string check. */
struct want {
    const char *tr, *seg;     /* A/B templates */
    const char *st_a, *st_b;  /* final states of A and B */
    const char *hs, *ck, *rc; /* rc NULL: no rst_cause */
    const char *closer;       /* "A", "B" or a closer token */
    const char *cc;           /* closer_call token; NULL: none (nobody sent a FIN) */
    const char *proven;       /* rst_cause_proven "1"/"0"; NULL when rc is NULL */
    const char *anomalies;    /* NULL: none */
    const char *dwell;        /* "cw <us> fw2 <us> la <us>", "-" never entered; NULL all - */
    const char *rg;           /* "r<retrans> g<gap> / r<retrans> g<gap>" of A / B */
    uint64_t half_close;
    uint32_t fr_a, fr_b, rst_after; /* fin_retrans of A and B, rst_after_close */
};

static void expect(const char *file, int line, const char *name, const struct fsc_flow *f, int a,
                   const struct want *w)
{
    char got[4096], exp[4096], what[160];
    const int b = !a;

#define WHAT(field) (snprintf(what, sizeof what, "%s: %s", name, field), what)
    if (w->tr && strcmp(w->tr, "*") != 0)
        check_str(file, line, WHAT("transitions"), dump_tr(f, got, sizeof got),
                  roles(w->tr, a, exp, sizeof exp));
    if (w->seg && strcmp(w->seg, "*") != 0)
        check_str(file, line, WHAT("segments"), dump_seg(f, got, sizeof got),
                  roles(w->seg, a, exp, sizeof exp));
    check_str(file, line, WHAT("state A"), fsc_tcp_state_name(f->ep[a].state), w->st_a);
    check_str(file, line, WHAT("state B"), fsc_tcp_state_name(f->ep[b].state), w->st_b);
    check_str(file, line, WHAT("handshake"), fsc_handshake_name(f->handshake), w->hs);
    check_str(file, line, WHAT("close_kind"), fsc_close_kind_name(f->close_kind), w->ck);
    check_str(file, line, WHAT("rst_cause"), fsc_rst_cause_name(f->rst_cause), w->rc);
    {
        const char *cl = w->closer;
        if (cl && strcmp(cl, "A") == 0)
            cl = a == C ? "client" : "server";
        else if (cl && strcmp(cl, "B") == 0)
            cl = b == C ? "client" : "server";
        check_str(file, line, WHAT("closer"), fsc_closer_name(f->closer), cl);
    }
    check_str(file, line, WHAT("closer_call"), fsc_closer_call_name(f->closer_call), w->cc);
    check_str(file, line, WHAT("rst_cause_proven"),
              f->rst_cause == FSC_RC_NONE ? NULL
              : f->rst_cause_proven       ? "1"
                                          : "0",
              w->proven);
    if (!w->anomalies || strcmp(w->anomalies, "*") != 0)
        check_str(file, line, WHAT("anomalies"), fsc_anomaly_str(f->anomalies, got, sizeof got),
                  w->anomalies ? w->anomalies : "");
    {
        char d1[24], d2[24], d3[24];
        snprintf(got, sizeof got, "cw %s fw2 %s la %s", dwell_str(f->close_wait_us, d1, sizeof d1),
                 dwell_str(f->fin_wait_2_us, d2, sizeof d2),
                 dwell_str(f->last_ack_us, d3, sizeof d3));
        check_str(file, line, WHAT("dwell"), got, w->dwell ? w->dwell : "cw - fw2 - la -");
    }
    snprintf(got, sizeof got, "r%llu g%llu / r%llu g%llu",
             (unsigned long long)f->ep[a].retrans_bytes, (unsigned long long)f->ep[a].gap_bytes,
             (unsigned long long)f->ep[b].retrans_bytes, (unsigned long long)f->ep[b].gap_bytes);
    check_str(file, line, WHAT("retrans/gap bytes"), got, w->rg ? w->rg : "r0 g0 / r0 g0");
    check_int(file, line, WHAT("half_close_bytes"), (long long)f->half_close_bytes,
              (long long)w->half_close);
    check_int(file, line, WHAT("fin_retrans A"), f->ep[a].fin_retrans, w->fr_a);
    check_int(file, line, WHAT("fin_retrans B"), f->ep[b].fin_retrans, w->fr_b);
    check_int(file, line, WHAT("rst_after_close"), f->rst_after_close, w->rst_after);
    check_int(file, line, WHAT("finalized"), f->finalized, 1);
    {
        /* The invariant: every transition is an RFC 9293 edge, each endpoint's form a chain. */
        struct fsc_transition tr[FSC_FLOW_MAX_TRANSITIONS];
        uint32_t n = fsc_flow_transitions(f, tr);
        int last[2] = {-1, -1}, broken = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (!fsc_tcp_edge_allowed(tr[i].from, tr[i].to) ||
                (last[tr[i].endpoint] >= 0 && last[tr[i].endpoint] != tr[i].from))
                broken++;
            last[tr[i].endpoint] = tr[i].to;
        }
        check_int(file, line, WHAT("transitions off the state diagram"), broken, 0);
    }
    check_int(file, line, WHAT("dropped segments"), f->dropped_seg, 0);
#undef WHAT
}

#define EXPECT(name, f, a, ...) expect(__FILE__, __LINE__, name, f, a, &(struct want){__VA_ARGS__})

static const char *side(int a)
{
    return a == C ? "client first" : "server first";
}

/* ---- tokens ---- */

static void test_tokens(void)
{
    static const char *const states[] = {"closed",      "listen",     "syn_sent",   "syn_rcvd",
                                         "established", "fin_wait_1", "fin_wait_2", "close_wait",
                                         "closing",     "last_ack",   "time_wait"};
    static const char *const ev[] = {"initial",
                                     "midstream",
                                     "sent SYN",
                                     "sent SYN+ACK (ack covers peer SYN)",
                                     "ack covers peer SYN",
                                     "peer ack covers SYN",
                                     "sent after its SYN was acked",
                                     "sent FIN",
                                     "ack covers peer FIN",
                                     "peer ack covers FIN",
                                     "peer FIN precedes this segment in sequence",
                                     "sent RST",
                                     "peer RST",
                                     "ack covers peer FIN (ack captured before the FIN)",
                                     "its FIN's ack covers peer FIN (captured in the other order)",
                                     "peer ack covers it (ack captured before it)",
                                     "peer ack covers it (crossed its retransmission)",
                                     "sent SYN+ACK (not captured: peer ack covers it)",
                                     "sent data (not captured: peer ack covers it)",
                                     "sent FIN (not captured: peer ack covers it)",
                                     "ack covers peer SYN (ack captured before the SYN)",
                                     "FIN_WAIT_2 timed out (RST answers the peer FIN)",
                                     "sent SYN (not captured: peer's SYN+ACK answers it)",
                                     "acked peer SYN (not captured: peer's segments show it)",
                                     "ack covers peer FIN (captured before its own FIN)",
                                     "peer FIN segment acks it (its ack of that FIN shows it "
                                     "arrived)"};
    static const char *const hs[] = {"none",         "three_way", "simultaneous_open",
                                     "self_connect", "refused",   "unanswered",
                                     "aborted"};
    static const char *const ck[] = {"open",         "four_way",     "three_way", "two_way",
                                     "simultaneous", "half_closed",  "rst",       "refused",
                                     "unanswered",   "fins_unproven"};
    static const char *const rc[] = {NULL,        "abort", "unread_data",    "data_after_close",
                                     "handshake", "other", "accept_overflow"};
    static const char *const cl[] = {"none", "client", "server", "both", "self", "unknown"};
    static const char *const cc[] = {NULL, "unknown", "close", "shutdown"};
    char buf[512];

    for (int i = 0; i < FSC_TCP__COUNT; i++)
        CHECK_STR(fsc_tcp_state_name((enum fsc_tcp_state)i), states[i], "state token");
    CHECK_STR(fsc_tcp_state_name(FSC_TCP__COUNT), "?", "state token out of range");
    for (int i = 0; i < FSC_EV__COUNT; i++)
        CHECK_STR(fsc_evidence_name((enum fsc_evidence)i), ev[i], "evidence token");
    for (int i = 0; i < FSC_HS__COUNT; i++)
        CHECK_STR(fsc_handshake_name((enum fsc_handshake)i), hs[i], "handshake token");
    for (int i = 0; i < FSC_CK__COUNT; i++)
        CHECK_STR(fsc_close_kind_name((enum fsc_close_kind)i), ck[i], "close_kind token");
    for (int i = 0; i < FSC_RC__COUNT; i++)
        CHECK_STR(fsc_rst_cause_name((enum fsc_rst_cause)i), rc[i], "rst_cause token");
    for (int i = 0; i < FSC_CL__COUNT; i++)
        CHECK_STR(fsc_closer_name((enum fsc_closer)i), cl[i], "closer token");
    for (int i = 0; i < FSC_CC__COUNT; i++)
        CHECK_STR(fsc_closer_call_name((enum fsc_closer_call)i), cc[i], "closer_call token");
    CHECK_STR(fsc_segment_why_str(0xff, buf, sizeof buf),
              "syn,fin,rst,ack_syn,ack_fin,after_fin,first_data,first", "segment why tokens");
    CHECK_STR(fsc_segment_why_str(0, buf, sizeof buf), "", "segment why empty");
    CHECK_STR(fsc_anomaly_str(0x3fffff, buf, sizeof buf),
              "data_after_rst,fin_rst,ack_unseen_data,data_after_own_fin,fin_seq_changed,syn_fin,"
              "handshake_incomplete,rst_after_close,syn_retransmitted,synack_without_syn,"
              "syn_isn_changed,fin_never_acked,evicted,idle_timeout,rst_with_data,"
              "rst_not_acceptable,timestamp_jump,one_sided,fin_wait_2_timeout,fin_without_ack,"
              "tap_reordered,holes_capped",
              "anomaly tokens");
}

/* ---- handshakes ---- */

/*
 * Four-way close (RFC 9293 section 3.6, figure 12), A closing first: covers CLOSED->SYN_SENT,
 * LISTEN->SYN_RCVD, SYN_SENT->ESTABLISHED, SYN_RCVD->ESTABLISHED, ESTABLISHED->FIN_WAIT_1,
 * ESTABLISHED->CLOSE_WAIT, FIN_WAIT_1->FIN_WAIT_2, CLOSE_WAIT->LAST_ACK, FIN_WAIT_2->TIME_WAIT,
 * LAST_ACK->CLOSED.
 */
static void test_four_way(int a, const struct link *l)
{
    const int b = !a;
    const uint32_t na = isn(a) + 101, nb = isn(b) + 101;
    struct trace t;
    struct fsc_flow f;
    char name[80];

    snprintf(name, sizeof name, "four_way %s%s", side(a), l == &LINK_LO ? " client low port" : "");
    trace_init(&t, l);
    opening(&t);
    add(&t, a, F_FA, na, nb, 0, 10000, 7);
    add(&t, b, F_ACK, nb, na + 1, 0, 10500, 8);
    add(&t, b, F_FA, nb, na + 1, 0, 30500, 9);
    add(&t, a, F_ACK, na + 1, nb + 1, 0, 31000, 10);
    run(&f, &t, 40000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7A established>fin_wait_1 fin, 8B established>close_wait ack_fin, "
                         "8A fin_wait_1>fin_wait_2 peer_ack_fin, 9B close_wait>last_ack fin, "
                         "10A fin_wait_2>time_wait ack_fin, 10B last_ack>closed peer_ack_fin",
           .seg = SEG_OPEN ", 7A fin 101/101, 8B ack_fin 101/102, 9B fin 101/102, "
                           "10A ack_fin,after_fin 102/102",
           .st_a = "time_wait", .st_b = "closed", .hs = "three_way", .ck = "four_way",
           .closer = "A", .cc = "unknown", .dwell = "cw 20000 fw2 20500 la 500");
    CHECK_INT(f.closed, 1, "four_way: closed");
    CHECK_INT(f.syn_ts, 1000, "four_way: syn_ts");
    CHECK_INT(f.hs_done_ts, 3000, "four_way: hs_done_ts");
    CHECK_INT(f.ep[C].port, l->cport, "four_way: client port");
    CHECK_INT(f.ep[S].port, l->sport, "four_way: server port");
    CHECK_INT(f.ep[C].pkts, 6, "four_way: client packets");
    CHECK_INT(f.ep[S].pkts, 4, "four_way: server packets");
    CHECK_INT(f.ep[C].bytes, 100, "four_way: client bytes");
    CHECK_INT(f.first_packet, 1, "four_way: first_packet");
    CHECK_INT(f.last_ts, 31000, "four_way: last_ts");
    release(&f);
}

/* The same four-way close over IPv6. */
static void test_four_way_ipv6(void)
{
    struct trace t;
    struct fsc_flow f;

    trace_init(&t, &LINK6);
    opening(&t);
    add(&t, C, F_FA, CI + 101, SI + 101, 0, 10000, 7);
    add(&t, S, F_ACK, SI + 101, CI + 102, 0, 10500, 8);
    add(&t, S, F_FA, SI + 101, CI + 102, 0, 30500, 9);
    add(&t, C, F_ACK, CI + 102, SI + 102, 0, 31000, 10);
    run(&f, &t, 40000);
    EXPECT("four_way ipv6", &f, C, .tr = "*", .seg = "*", .st_a = "time_wait", .st_b = "closed",
           .hs = "three_way", .ck = "four_way", .closer = "client", .cc = "unknown",
           .dwell = "cw 20000 fw2 20500 la 500");
    CHECK_INT(f.ip_version, 6, "four_way ipv6: ip_version");
    release(&f);
}

/* First packet is the SYN+ACK: the client's SYN is implied by its ack field. */
static void test_synack_first(void)
{
    struct trace t;
    struct fsc_flow f;

    trace_init(&t, &LINK4);
    add(&t, S, F_SA, SI, CI + 1, 0, 2000, 1);
    add(&t, C, F_ACK, CI + 1, SI + 1, 0, 3000, 2);
    run(&f, &t, 9000);
    EXPECT("synack first", &f, C,
           .tr = "1C closed>syn_sent init, 1S listen>syn_rcvd synack, "
                 "2C syn_sent>established ack_syn, 2S syn_rcvd>established peer_ack_syn",
           .seg = "1S syn,ack_syn 0/1, 2C ack_syn 1/1", .st_a = "established",
           .st_b = "established", .hs = "three_way", .ck = "open", .closer = "none",
           .anomalies = "synack_without_syn");
    release(&f);
}

/*
 * Simultaneous open (RFC 9293 figure 8): both bare SYNs before either is acknowledged, each side
 * SYN_SENT -> SYN_RCVD -> ESTABLISHED.  synack_c_first: which SYN+ACK the tap sees first.
 */
static void test_simultaneous_open(bool synack_c_first)
{
    struct trace t;
    struct fsc_flow f;
    const char *name = synack_c_first ? "simultaneous open, client SYN+ACK first"
                                      : "simultaneous open, server SYN+ACK first";

    trace_init(&t, &LINK4);
    add(&t, C, F_SYN, CI, 0, 0, 1000, 1);
    add(&t, S, F_SYN, SI, 0, 0, 1100, 2);
    if (synack_c_first) {
        add(&t, C, F_SA, CI, SI + 1, 0, 1200, 3);
        add(&t, S, F_SA, SI, CI + 1, 0, 1300, 4);
    } else {
        add(&t, S, F_SA, SI, CI + 1, 0, 1200, 3);
        add(&t, C, F_SA, CI, SI + 1, 0, 1300, 4);
    }
    add(&t, C, F_ACK, CI + 1, SI + 1, 0, 1400, 5);
    add(&t, S, F_ACK, SI + 1, CI + 1, 0, 1500, 6);
    add(&t, C, F_FA, CI + 1, SI + 1, 0, 2000, 7);
    add(&t, S, F_ACK, SI + 1, CI + 2, 0, 2100, 8);
    add(&t, S, F_FA, SI + 1, CI + 2, 0, 2200, 9);
    add(&t, C, F_ACK, CI + 2, SI + 2, 0, 2300, 10);
    run(&f, &t, 9000);
    EXPECT(name, &f, C,
           .tr = synack_c_first
                     ? "1C closed>syn_sent syn, 2S closed>syn_sent syn, "
                       "3C syn_sent>syn_rcvd synack, 4S syn_sent>syn_rcvd synack, "
                       "4C syn_rcvd>established peer_ack_syn, "
                       "5S syn_rcvd>established peer_ack_syn, "
                       "7C established>fin_wait_1 fin, 8S established>close_wait ack_fin, "
                       "8C fin_wait_1>fin_wait_2 peer_ack_fin, 9S close_wait>last_ack fin, "
                       "10C fin_wait_2>time_wait ack_fin, 10S last_ack>closed peer_ack_fin"
                     : "1C closed>syn_sent syn, 2S closed>syn_sent syn, "
                       "3S syn_sent>syn_rcvd synack, 4C syn_sent>syn_rcvd synack, "
                       "4S syn_rcvd>established peer_ack_syn, "
                       "5C syn_rcvd>established after_syn, "
                       "7C established>fin_wait_1 fin, 8S established>close_wait ack_fin, "
                       "8C fin_wait_1>fin_wait_2 peer_ack_fin, 9S close_wait>last_ack fin, "
                       "10C fin_wait_2>time_wait ack_fin, 10S last_ack>closed peer_ack_fin",
           /* Each side resent its SYN (in its SYN+ACK) after the peer's SYN+ACK acked it: the
            * ack that does establish it (5 or 6) is kept too. */
           .seg = synack_c_first ? "1C syn 0/0, 2S syn 0/0, 3C syn,ack_syn 0/1, "
                                   "4S syn,ack_syn 0/1, 5C ack_syn 1/1, 7C fin 1/1, "
                                   "8S ack_fin 1/2, 9S fin 1/2, 10C ack_fin,after_fin 2/2"
                                 : "1C syn 0/0, 2S syn 0/0, 3S syn,ack_syn 0/1, "
                                   "4C syn,ack_syn 0/1, 6S ack_syn 1/1, 7C fin 1/1, "
                                   "8S ack_fin 1/2, 9S fin 1/2, 10C ack_fin,after_fin 2/2",
           .st_a = "time_wait", .st_b = "closed", .hs = "simultaneous_open", .ck = "four_way",
           .closer = "client", .cc = "unknown", .dwell = "cw 100 fw2 200 la 100");
    CHECK_INT(f.both_syn_unacked, 1, "simultaneous open: both_syn_unacked");
    /* The client's first segment acking the server's SYN is its own SYN+ACK. */
    CHECK_INT(f.hs_done_ts, synack_c_first ? 1200 : 1300, "simultaneous open: hs_done_ts");
    release(&f);
}

/* SYN answered by RST+ACK: refused. */
static void test_refused(const struct link *l)
{
    struct trace t;
    struct fsc_flow f;

    trace_init(&t, l);
    add(&t, C, F_SYN, CI, 0, 0, 1000, 1);
    add(&t, S, F_RA, 0, CI + 1, 0, 1100, 2);
    run(&f, &t, 5000);
    EXPECT(l == &LINK_LO ? "refused client low port" : "refused", &f, C,
           .tr = "1C closed>syn_sent syn, 2S listen>closed rst, 2C syn_sent>closed peer_rst",
           .seg = "1C syn 0/0, 2S rst 1/1", .st_a = "closed", .st_b = "closed", .hs = "refused",
           .ck = "refused", .closer = "server");
    CHECK_INT(f.ep[C].port, l->cport, "refused: client port");
    CHECK_INT(f.closed, 1, "refused: closed");
    release(&f);
}

/* SYN retransmitted, never answered. */
static void test_unanswered(void)
{
    struct trace t;
    struct fsc_flow f;

    trace_init(&t, &LINK4);
    add(&t, C, F_SYN, CI, 0, 0, 1000, 1);
    add(&t, C, F_SYN, CI, 0, 0, 1001000, 2);
    add(&t, C, F_SYN, CI, 0, 0, 3001000, 3);
    run(&f, &t, 9000000);
    EXPECT("unanswered", &f, C, .tr = "1C closed>syn_sent syn",
           .seg = "1C syn 0/0, 2C syn 0/0, 3C syn 0/0", .st_a = "syn_sent", .st_b = "listen",
           .hs = "unanswered", .ck = "unanswered", .closer = "none",
           .anomalies = "syn_retransmitted");
    CHECK_INT(f.syn_ts, 3001000, "unanswered: syn_ts is the last SYN");
    CHECK_INT(f.closed, 0, "unanswered: not closed");
    release(&f);

    /* More control segments than a flow keeps: the rest are counted, never written past. */
    trace_init(&t, &LINK4);
    for (int i = 0; i < 100; i++)
        add(&t, C, F_SYN, CI, 0, 0, 1000 + i, (uint64_t)i + 1);
    run(&f, &t, 9000000);
    CHECK_INT(f.n_seg, FSC_FLOW_MAX_SEGMENTS, "100 SYNs: segments kept");
    CHECK_INT(f.dropped_seg, 100 - FSC_FLOW_MAX_SEGMENTS, "100 SYNs: segments dropped");
    CHECK_INT(n_transitions(&f), 1, "100 SYNs: transitions");
    release(&f);
}

/* The handshake ends in a RST before both sides are ESTABLISHED. */
static void test_aborted_handshake(void)
{
    struct trace t;
    struct fsc_flow f;

    /* SYN, SYN+ACK, client RST. */
    trace_init(&t, &LINK4);
    add(&t, C, F_SYN, CI, 0, 0, 1000, 1);
    add(&t, S, F_SA, SI, CI + 1, 0, 2000, 2);
    add(&t, C, F_RST, CI + 1, 0, 0, 2500, 3);
    run(&f, &t, 9000);
    EXPECT("aborted handshake by client", &f, C,
           .tr = "1C closed>syn_sent syn, 2S listen>syn_rcvd synack, 3C syn_sent>closed rst, "
                 "3S syn_rcvd>closed peer_rst",
           .seg = "1C syn 0/0, 2S syn,ack_syn 0/1, 3C rst 1/0", .st_a = "closed", .st_b = "closed",
           .hs = "aborted", .ck = "rst", .rc = "handshake", .closer = "client", .proven = "1");
    release(&f);

    /* SYN, SYN+ACK, server RST. */
    trace_init(&t, &LINK4);
    add(&t, C, F_SYN, CI, 0, 0, 1000, 1);
    add(&t, S, F_SA, SI, CI + 1, 0, 2000, 2);
    add(&t, S, F_RA, SI + 1, CI + 1, 0, 2500, 3);
    run(&f, &t, 9000);
    EXPECT("aborted handshake by server", &f, S,
           .tr = "1C closed>syn_sent syn, 2S listen>syn_rcvd synack, 3S syn_rcvd>closed rst, "
                 "3C syn_sent>closed peer_rst",
           .seg = "1C syn 0/0, 2S syn,ack_syn 0/1, 3S rst 1/1", .st_a = "closed", .st_b = "closed",
           .hs = "aborted", .ck = "rst", .rc = "handshake", .closer = "server", .proven = "1");
    release(&f);

    /* SYN, then the client gives up with a RST before any answer. */
    trace_init(&t, &LINK4);
    add(&t, C, F_SYN, CI, 0, 0, 1000, 1);
    add(&t, C, F_RST, CI + 1, 0, 0, 1500, 2);
    run(&f, &t, 9000);
    EXPECT("aborted handshake, SYN then RST", &f, C,
           .tr = "1C closed>syn_sent syn, 2C syn_sent>closed rst", /* a listener ignores a RST */
           .seg = "1C syn 0/0, 2C rst 1/0", .st_a = "closed", .st_b = "listen", .hs = "aborted",
           .ck = "rst", .rc = "handshake", .closer = "client", .proven = "1");
    release(&f);
}

/* ---- closes ---- */

/*
 * Three-way close: B's FIN segment itself acknowledges A's FIN (delayed ACK merged).
 * A processes the ACK before the FIN (RFC 9293 section 3.10.7.4): FIN_WAIT_1 -> FIN_WAIT_2 at the
 * segment carrying the ack, FIN_WAIT_2 -> TIME_WAIT when A's own ACK proves it got the FIN.
 */
static void test_three_way(int a)
{
    const int b = !a;
    const uint32_t na = isn(a) + 101, nb = isn(b) + 101;
    struct trace t;
    struct fsc_flow f;
    char name[64];

    snprintf(name, sizeof name, "three_way %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_FA, na, nb, 0, 10000, 7);
    add(&t, b, F_FA, nb, na + 1, 0, 10400, 8);
    add(&t, a, F_ACK, na + 1, nb + 1, 0, 10900, 9);
    run(&f, &t, 20000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7A established>fin_wait_1 fin, 8B established>close_wait ack_fin, "
                         "8A fin_wait_1>fin_wait_2 peer_ack_fin, 8B close_wait>last_ack fin, "
                         "9A fin_wait_2>time_wait ack_fin, 9B last_ack>closed peer_ack_fin",
           .seg = SEG_OPEN ", 7A fin 101/101, 8B fin,ack_fin 101/102, 9A ack_fin,after_fin 102/102",
           .st_a = "time_wait", .st_b = "closed", .hs = "three_way", .ck = "three_way",
           .closer = "A", .cc = "unknown", .dwell = "cw 0 fw2 500 la 500");
    release(&f);
}

/*
 * Simultaneous close (RFC 9293 figure 13): the FINs cross, each side FIN_WAIT_1 -> CLOSING ->
 * TIME_WAIT.  A's ACK (seq after its FIN) proves A got B's FIN, and that B had processed A's FIN
 * before it (in-sequence delivery), so both enter CLOSING at packet 9.
 */
static void test_simultaneous_close(int a)
{
    const int b = !a;
    const uint32_t na = isn(a) + 101, nb = isn(b) + 101;
    struct trace t;
    struct fsc_flow f;
    char name[64];

    snprintf(name, sizeof name, "simultaneous close %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_FA, na, nb, 0, 10000, 7);
    add(&t, b, F_FA, nb, na, 0, 10100, 8);
    add(&t, a, F_ACK, na + 1, nb + 1, 0, 10300, 9);
    add(&t, b, F_ACK, nb + 1, na + 1, 0, 10400, 10);
    run(&f, &t, 20000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7A established>fin_wait_1 fin, 8B established>fin_wait_1 fin, "
                         "9A fin_wait_1>closing ack_fin, 9B fin_wait_1>closing fin_before, "
                         "9B closing>time_wait peer_ack_fin, 10A closing>time_wait peer_ack_fin",
           .seg = SEG_OPEN ", 7A fin 101/101, 8B fin 101/101, 9A ack_fin,after_fin 102/102, "
                           "10B ack_fin,after_fin 102/102",
           .st_a = "time_wait", .st_b = "time_wait", .hs = "three_way", .ck = "simultaneous",
           .closer = "both", .cc = "unknown");
    CHECK_INT(f.closed, 1, "simultaneous close: closed");
    release(&f);
}

/*
 * The ack-number principle (DESIGN.md section 1): the tap sees B's ACK of A's FIN only after B's
 * own FIN.  The FINs' ack fields decide, not the capture order.
 */
static void test_ack_principle(int a)
{
    const int b = !a;
    const uint32_t na = isn(a) + 101, nb = isn(b) + 101;
    struct trace t;
    struct fsc_flow f;
    char name[96];

    /* B's FIN does not cover A's FIN: the FINs crossed, simultaneous. */
    snprintf(name, sizeof name, "ack principle, FINs crossed, %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_FA, na, nb, 0, 10000, 7);
    add(&t, b, F_FA, nb, na, 0, 10100, 8);
    add(&t, b, F_ACK, nb + 1, na + 1, 0, 10200, 9);
    add(&t, a, F_ACK, na + 1, nb + 1, 0, 10300, 10);
    run(&f, &t, 20000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7A established>fin_wait_1 fin, 8B established>fin_wait_1 fin, "
                         "9B fin_wait_1>closing ack_fin, 9A fin_wait_1>closing fin_before, "
                         "9A closing>time_wait peer_ack_fin, 10B closing>time_wait peer_ack_fin",
           .seg = SEG_OPEN ", 7A fin 101/101, 8B fin 101/101, 9B ack_fin,after_fin 102/102, "
                           "10A ack_fin,after_fin 102/102",
           .st_a = "time_wait", .st_b = "time_wait", .hs = "three_way", .ck = "simultaneous",
           .closer = "both", .cc = "unknown");
    release(&f);

    /* B's FIN covers A's FIN; B's pure ACK (seq after the FIN) was sent later: three_way. */
    snprintf(name, sizeof name, "ack principle, FIN covers FIN, ACK sent after, %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_FA, na, nb, 0, 10000, 7);
    add(&t, b, F_FA, nb, na + 1, 0, 10400, 8);
    add(&t, b, F_ACK, nb + 1, na + 1, 0, 10450, 9);
    add(&t, a, F_ACK, na + 1, nb + 1, 0, 10900, 10);
    run(&f, &t, 20000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7A established>fin_wait_1 fin, 8B established>close_wait ack_fin, "
                         "8A fin_wait_1>fin_wait_2 peer_ack_fin, 8B close_wait>last_ack fin, "
                         "10A fin_wait_2>time_wait ack_fin, 10B last_ack>closed peer_ack_fin",
           .seg = SEG_OPEN ", 7A fin 101/101, 8B fin,ack_fin 101/102, 9B after_fin 102/102, "
                           "10A ack_fin,after_fin 102/102",
           .st_a = "time_wait", .st_b = "closed", .hs = "three_way", .ck = "three_way",
           .closer = "A", .cc = "unknown", .dwell = "cw 0 fw2 500 la 500");
    release(&f);

    /*
     * B's pure ACK of A's FIN carries seq = B's FIN sequence number: it was sent BEFORE B's FIN
     * (after the FIN, B's snd.nxt is one higher) and only reordered behind it on the way to the
     * tap.  B acknowledged A's FIN in a segment of its own before its FIN: four_way.
     */
    snprintf(name, sizeof name, "ack principle, ACK sent before FIN seen after it, %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_FA, na, nb, 0, 10000, 7);
    add(&t, b, F_FA, nb, na + 1, 0, 10400, 8);
    add(&t, b, F_ACK, nb, na + 1, 0, 10450, 9);
    add(&t, a, F_ACK, na + 1, nb + 1, 0, 10900, 10);
    run(&f, &t, 20000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7A established>fin_wait_1 fin, 8B established>close_wait ack_fin, "
                         "8A fin_wait_1>fin_wait_2 peer_ack_fin, 8B close_wait>last_ack fin, "
                         "10A fin_wait_2>time_wait ack_fin, 10B last_ack>closed peer_ack_fin",
           .seg = SEG_OPEN ", 7A fin 101/101, 8B fin,ack_fin 101/102, 9B after_fin 101/102, "
                           "10A ack_fin,after_fin 102/102",
           .st_a = "time_wait", .st_b = "closed", .hs = "three_way", .ck = "four_way",
           .closer = "A", .cc = "unknown", .dwell = "cw 0 fw2 500 la 500");
    release(&f);
}

/* A self-connected socket: SYN, SYN+ACK, ACK on one endpoint; FIN, ACK to close (two_way). */
static void test_self_connect(void)
{
    struct trace t;
    struct fsc_flow f;

    trace_init(&t, &LINK_SELF);
    add(&t, C, F_SYN, 7000, 0, 0, 1000, 1);
    add(&t, C, F_SA, 7000, 7001, 0, 1100, 2);
    add(&t, C, F_ACK, 7001, 7001, 0, 1200, 3);
    add(&t, C, F_PA, 7001, 7001, 10, 2000, 4);
    add(&t, C, F_ACK, 7011, 7011, 0, 2100, 5);
    add(&t, C, F_FA, 7011, 7011, 0, 5000, 6);
    add(&t, C, F_ACK, 7012, 7012, 0, 5100, 7);
    run(&f, &t, 9000);
    EXPECT("self connect", &f, C,
           .tr = "1C closed>syn_sent syn, 2C syn_sent>syn_rcvd synack, "
                 "2C syn_rcvd>established peer_ack_syn, 6C established>fin_wait_1 fin, "
                 "7C fin_wait_1>closing ack_fin, 7C closing>time_wait peer_ack_fin",
           .seg = "1C syn 0/0, 2C syn,ack_syn 0/1, 4C first_data 1/1+10, 6C fin 11/11, "
                  "7C ack_fin,after_fin 12/12",
           .st_a = "time_wait", .st_b = "time_wait", .hs = "self_connect", .ck = "two_way",
           .closer = "self", .cc = "unknown");
    CHECK_INT(f.self_connect, 1, "self connect: self_connect");
    CHECK_INT(f.closed, 1, "self connect: closed");
    CHECK_INT(f.hs_done_ts, 1100, "self connect: hs_done_ts"); /* its SYN+ACK acks the SYN */
    CHECK_INT(f.ep[C].pkts, 7, "self connect: packets");
    release(&f);
}

/* Half-close: B keeps sending after it received A's FIN, then closes (four_way). */
static void test_half_close(int a)
{
    const int b = !a;
    const uint32_t na = isn(a) + 101, nb = isn(b) + 101;
    struct trace t;
    struct fsc_flow f;
    char name[64];

    snprintf(name, sizeof name, "half close %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_FA, na, nb, 0, 10000, 7);
    add(&t, b, F_ACK, nb, na + 1, 0, 10200, 8);
    add(&t, b, F_PA, nb, na + 1, 300, 12000, 9);
    add(&t, a, F_ACK, na + 1, nb + 300, 0, 12100, 10);
    add(&t, b, F_FA, nb + 300, na + 1, 0, 20000, 11);
    add(&t, a, F_ACK, na + 1, nb + 301, 0, 20300, 12);
    run(&f, &t, 30000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7A established>fin_wait_1 fin, 8B established>close_wait ack_fin, "
                         "8A fin_wait_1>fin_wait_2 peer_ack_fin, 11B close_wait>last_ack fin, "
                         "12A fin_wait_2>time_wait ack_fin, 12B last_ack>closed peer_ack_fin",
           .seg = SEG_OPEN ", 7A fin 101/101, 8B ack_fin 101/102, 9B after_fin 101/102+300, "
                           "11B fin 401/102, 12A ack_fin,after_fin 102/402",
           .st_a = "time_wait", .st_b = "closed", .hs = "three_way", .ck = "four_way",
           .closer = "A", .cc = "shutdown", .dwell = "cw 9800 fw2 10100 la 300", .half_close = 300);
    CHECK_INT(f.ep[b].data_after_peer_fin, 1, "half close: data_after_peer_fin");
    release(&f);

    /* The capture ends after one FIN and its ACK: half_closed, dwell times run to the end. */
    snprintf(name, sizeof name, "half closed at end %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_FA, na, nb, 0, 10000, 7);
    add(&t, b, F_ACK, nb, na + 1, 0, 10200, 8);
    run(&f, &t, 70200);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7A established>fin_wait_1 fin, 8B established>close_wait ack_fin, "
                         "8A fin_wait_1>fin_wait_2 peer_ack_fin",
           .seg = SEG_OPEN ", 7A fin 101/101, 8B ack_fin 101/102", .st_a = "fin_wait_2",
           .st_b = "close_wait", .hs = "three_way", .ck = "half_closed", .closer = "A",
           .cc = "unknown", .dwell = "cw 60000 fw2 60000 la -");
    CHECK_INT(f.closed, 0, "half closed at end: not closed");
    release(&f);
}

/*
 * FIN retransmitted by A, and B's FIN retransmitted after the final ACK (TIME_WAIT re-ACK): B
 * retransmitting shows A's ACK at 11 never reached it (lost after the tap), so B leaves
 * LAST_ACK at the re-ACK, 13, as in the real-kernel capture captures/ns_time_wait_reack.pcap.
 */
static void test_fin_retransmission(int a)
{
    const int b = !a;
    const uint32_t na = isn(a) + 101, nb = isn(b) + 101;
    struct trace t;
    struct fsc_flow f;
    char name[64];

    snprintf(name, sizeof name, "fin retransmission %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_FA, na, nb, 0, 10000, 7);
    add(&t, a, F_FA, na, nb, 0, 10300, 8);
    add(&t, b, F_ACK, nb, na + 1, 0, 10400, 9);
    add(&t, b, F_FA, nb, na + 1, 0, 11000, 10);
    add(&t, a, F_ACK, na + 1, nb + 1, 0, 11100, 11);
    add(&t, b, F_FA, nb, na + 1, 0, 211100, 12);
    add(&t, a, F_ACK, na + 1, nb + 1, 0, 211200, 13);
    run(&f, &t, 300000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7A established>fin_wait_1 fin, 9B established>close_wait ack_fin, "
                         "9A fin_wait_1>fin_wait_2 peer_ack_fin, 10B close_wait>last_ack fin, "
                         "11A fin_wait_2>time_wait ack_fin, 13B last_ack>closed peer_ack_fin",
           .seg = SEG_OPEN ", 7A fin 101/101, 8A fin 101/101, 9B ack_fin 101/102, 10B fin 101/102, "
                           "11A ack_fin,after_fin 102/102, 12B fin 101/102, "
                           "13A ack_fin,after_fin 102/102",
           .st_a = "time_wait", .st_b = "closed", .hs = "three_way", .ck = "four_way",
           .closer = "A", .cc = "unknown", .dwell = "cw 600 fw2 700 la 200200", .fr_a = 1,
           .fr_b = 1);
    release(&f);
}

/* ---- resets ---- */

/*
 * abort: A answered all of B's payload, sent no FIN, and resets (SO_LINGER 0).
 * Covers ESTABLISHED -> CLOSED by RST sent and by RST received.
 */
static void test_rst_abort(int a)
{
    const int b = !a;
    const uint32_t na = isn(a) + 101, nb = isn(b) + 101;
    struct trace t;
    struct fsc_flow f;
    char name[64];

    snprintf(name, sizeof name, "rst abort %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_PA, na, nb, 50, 7000, 7);
    add(&t, b, F_ACK, nb, na + 50, 0, 7100, 8);
    add(&t, a, F_RA, na + 50, nb, 0, 9000, 9);
    run(&f, &t, 20000);
    EXPECT(name, &f, a, .tr = TR_OPEN ", 9A established>closed rst, 9B established>closed peer_rst",
           .seg = SEG_OPEN ", 9A rst 151/101", .st_a = "closed", .st_b = "closed",
           .hs = "three_way", .ck = "rst", .rc = "abort", .closer = "A", .proven = "0");
    CHECK_INT(f.closed, 1, "rst abort: closed");
    CHECK_INT(f.first_rst_by, a, "rst abort: first_rst_by");
    CHECK_INT(f.ep[a].rst.packet, 9, "rst abort: its rst mark");
    release(&f);
}

/*
 * unread_data: payload the resetting endpoint's acks show arrived and it never answered.  A
 * server that resets after a request it did not answer, a client that never sent payload.
 */
static void test_rst_unread(void)
{
    struct trace t;
    struct fsc_flow f;

    /* The client's second request (80 bytes) is acked, never answered: the server resets. */
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, C, F_PA, CI + 101, SI + 101, 80, 7000, 7);
    add(&t, S, F_ACK, SI + 101, CI + 181, 0, 7100, 8);
    add(&t, S, F_RA, SI + 101, CI + 181, 0, 9000, 9);
    run(&f, &t, 20000);
    EXPECT("rst unread_data by server", &f, S,
           .tr = TR_OPEN ", 9S established>closed rst, 9C established>closed peer_rst",
           .seg = SEG_OPEN ", 9S rst 101/181", .st_a = "closed", .st_b = "closed",
           .hs = "three_way", .ck = "rst", .rc = "unread_data", .closer = "server", .proven = "0");
    release(&f);

    /* The server's banner is acked by a client that never sent payload, then resets. */
    trace_init(&t, &LINK4);
    add(&t, C, F_SYN, CI, 0, 0, 1000, 1);
    add(&t, S, F_SA, SI, CI + 1, 0, 2000, 2);
    add(&t, C, F_ACK, CI + 1, SI + 1, 0, 3000, 3);
    add(&t, S, F_PA, SI + 1, CI + 1, 80, 4000, 4);
    add(&t, C, F_ACK, CI + 1, SI + 81, 0, 4100, 5);
    add(&t, C, F_RA, CI + 1, SI + 81, 0, 9000, 6);
    run(&f, &t, 20000);
    EXPECT("rst unread_data by client", &f, C,
           .tr = "1C closed>syn_sent syn, 2S listen>syn_rcvd synack, "
                 "3C syn_sent>established ack_syn, 3S syn_rcvd>established peer_ack_syn, "
                 "6C established>closed rst, 6S established>closed peer_rst",
           .seg = "1C syn 0/0, 2S syn,ack_syn 0/1, 3C ack_syn 1/1, 4S first_data 1/1+80, "
                  "6C rst 1/81",
           .st_a = "closed", .st_b = "closed", .hs = "three_way", .ck = "rst", .rc = "unread_data",
           .closer = "client", .proven = "0");
    release(&f);

    /*
     * A client that resets after the server's reply to its own request got its answer: abort
     * (SO_LINGER 0; tcpstate.c, rst_cause, after captures/lo_linger0.pcap).
     */
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, C, F_RA, CI + 101, SI + 101, 0, 9000, 7);
    run(&f, &t, 20000);
    EXPECT("rst by client after the reply", &f, C,
           .tr = TR_OPEN ", 7C established>closed rst, 7S established>closed peer_rst",
           .seg = SEG_OPEN ", 7C rst 101/101", .st_a = "closed", .st_b = "closed",
           .hs = "three_way", .ck = "rst", .rc = "abort", .closer = "client", .proven = "0");
    release(&f);
}

/*
 * data_after_close: A closed (FIN), B's payload arrived after it, A answered with RST.
 * Covers FIN_WAIT_2 -> CLOSED (RST sent) and CLOSE_WAIT -> CLOSED (RST received).
 */
static void test_rst_data_after_close(int a)
{
    const int b = !a;
    const uint32_t na = isn(a) + 101, nb = isn(b) + 101;
    struct trace t;
    struct fsc_flow f;
    char name[64];

    snprintf(name, sizeof name, "rst data_after_close %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_FA, na, nb, 0, 10000, 7);
    add(&t, b, F_ACK, nb, na + 1, 0, 10100, 8);
    add(&t, b, F_PA, nb, na + 1, 40, 10200, 9);
    add(&t, a, F_RST, na + 1, 0, 0, 10300, 10);
    run(&f, &t, 20000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7A established>fin_wait_1 fin, 8B established>close_wait ack_fin, "
                         "8A fin_wait_1>fin_wait_2 peer_ack_fin, 10A fin_wait_2>closed rst, "
                         "10B close_wait>closed peer_rst",
           .seg = SEG_OPEN ", 7A fin 101/101, 8B ack_fin 101/102, 9B after_fin 101/102+40, "
                           "10A rst 102/0",
           .st_a = "closed", .st_b = "closed", .hs = "three_way", .ck = "rst",
           .rc = "data_after_close", .closer = "A", .cc = "close", .proven = "1",
           .dwell = "cw 200 fw2 200 la -", .half_close = 40);
    release(&f);
}

/* other: A closed with a FIN, no data followed, and A resets anyway (FIN_WAIT_2 timeout). */
static void test_rst_other(int a)
{
    const int b = !a;
    const uint32_t na = isn(a) + 101, nb = isn(b) + 101;
    struct trace t;
    struct fsc_flow f;
    char name[64];

    snprintf(name, sizeof name, "rst other %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_FA, na, nb, 0, 10000, 7);
    add(&t, b, F_ACK, nb, na + 1, 0, 10100, 8);
    add(&t, a, F_RA, na + 1, nb, 0, 40000, 9);
    run(&f, &t, 50000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7A established>fin_wait_1 fin, 8B established>close_wait ack_fin, "
                         "8A fin_wait_1>fin_wait_2 peer_ack_fin, 9A fin_wait_2>closed rst, "
                         "9B close_wait>closed peer_rst",
           .seg = SEG_OPEN ", 7A fin 101/101, 8B ack_fin 101/102, 9A rst 102/101", .st_a = "closed",
           .st_b = "closed", .hs = "three_way", .ck = "rst", .rc = "other", .closer = "A",
           .cc = "unknown", .proven = "0", .dwell = "cw 29900 fw2 29900 la -");
    release(&f);

    /* B, in CLOSE_WAIT with nothing unread, aborts instead of closing: abort, A closed first. */
    snprintf(name, sizeof name, "rst from close_wait %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, b, F_PA, nb, na, 20, 8000, 7);
    add(&t, a, F_FA, na, nb + 20, 0, 10000, 8);
    add(&t, b, F_ACK, nb + 20, na + 1, 0, 10100, 9);
    add(&t, b, F_RA, nb + 20, na + 1, 0, 12000, 10);
    run(&f, &t, 50000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 8A established>fin_wait_1 fin, 9B established>close_wait ack_fin, "
                         "9A fin_wait_1>fin_wait_2 peer_ack_fin, 10B close_wait>closed rst, "
                         "10A fin_wait_2>closed peer_rst",
           .seg = SEG_OPEN ", 8A fin 101/121, 9B ack_fin 121/102, 10B rst 121/102",
           .st_a = "closed", .st_b = "closed", .hs = "three_way", .ck = "rst", .rc = "abort",
           .closer = "A", .cc = "unknown", .proven = "0", .dwell = "cw 1900 fw2 1900 la -");
    release(&f);
}

/* B resets while A's FIN is unacknowledged: FIN_WAIT_1 -> CLOSED by RST received. */
static void test_rst_in_fin_wait_1(int a)
{
    const int b = !a;
    const uint32_t na = isn(a) + 101, nb = isn(b) + 101;
    struct trace t;
    struct fsc_flow f;
    char name[64];

    snprintf(name, sizeof name, "rst in fin_wait_1 %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_FA, na, nb, 0, 10000, 7);
    add(&t, b, F_RA, nb, na, 0, 10100, 8);
    run(&f, &t, 50000);
    /* Either side had answered (or been answered on) all the peer's payload: abort.  B's RST
     * does not ack A's FIN: B reset before the FIN reached it, the two crossed, and a tap near
     * B sees them in the other order: neither closed first. */
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7A established>fin_wait_1 fin, 8B established>closed rst, "
                         "8A fin_wait_1>closed peer_rst",
           .seg = SEG_OPEN ", 7A fin 101/101, 8B rst 101/101", .st_a = "closed", .st_b = "closed",
           .hs = "three_way", .ck = "rst", .rc = "abort", .closer = "both", .cc = "unknown",
           .proven = "0");
    release(&f);

    /* The same at a tap near B: the RST first, A's FIN (sent before the RST reached A) next. */
    snprintf(name, sizeof name, "rst crossing a fin, tap near the resetter %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, b, F_RA, nb, na, 0, 10000, 7);
    add(&t, a, F_FA, na, nb, 0, 10100, 8);
    run(&f, &t, 50000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7B established>closed rst, 8A established>fin_wait_1 fin, "
                         "8A fin_wait_1>closed peer_rst",
           .seg = SEG_OPEN ", 7B rst 101/101, 8A fin 101/101", .st_a = "closed", .st_b = "closed",
           .hs = "three_way", .ck = "rst", .rc = "abort", .closer = "both", .cc = "unknown",
           .proven = "0");
    release(&f);

    /* B's RST+ACK acks A's FIN: B got it first (close() with unread data), A closed first.
     * A processes the RST before its ACK field (3.10.7.4): FIN_WAIT_1 -> CLOSED. */
    snprintf(name, sizeof name, "rst acking a fin %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_FA, na, nb, 0, 10000, 7);
    add(&t, b, F_RA, nb, na + 1, 0, 10100, 8);
    run(&f, &t, 50000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7A established>fin_wait_1 fin, 8B established>close_wait ack_fin, "
                         "8B close_wait>closed rst, 8A fin_wait_1>closed peer_rst",
           .seg = SEG_OPEN ", 7A fin 101/101, 8B rst 101/102", .st_a = "closed", .st_b = "closed",
           .hs = "three_way", .ck = "rst", .rc = "abort", .closer = "A", .cc = "unknown",
           .proven = "0", .dwell = "cw 0 fw2 - la -");
    release(&f);
}

/* RSTs after both FINs do not change the FIN-based kind; they are counted. */
static void test_rst_after_fins(int a)
{
    const int b = !a;
    const uint32_t na = isn(a) + 101, nb = isn(b) + 101;
    struct trace t;
    struct fsc_flow f;
    char name[64];

    /* After a complete four-way close: TIME_WAIT -> CLOSED by RST received. */
    snprintf(name, sizeof name, "rst after four_way %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_FA, na, nb, 0, 10000, 7);
    add(&t, b, F_ACK, nb, na + 1, 0, 10500, 8);
    add(&t, b, F_FA, nb, na + 1, 0, 30500, 9);
    add(&t, a, F_ACK, na + 1, nb + 1, 0, 31000, 10);
    add(&t, b, F_RST, nb + 1, 0, 0, 32000, 11);
    run(&f, &t, 40000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7A established>fin_wait_1 fin, 8B established>close_wait ack_fin, "
                         "8A fin_wait_1>fin_wait_2 peer_ack_fin, 9B close_wait>last_ack fin, "
                         "10A fin_wait_2>time_wait ack_fin, 10B last_ack>closed peer_ack_fin, "
                         "11A time_wait>closed peer_rst",
           .seg = SEG_OPEN ", 7A fin 101/101, 8B ack_fin 101/102, 9B fin 101/102, "
                           "10A ack_fin,after_fin 102/102, 11B rst,after_fin 102/0",
           .st_a = "closed", .st_b = "closed", .hs = "three_way", .ck = "four_way", .closer = "A",
           .cc = "unknown", .anomalies = "rst_after_close", .dwell = "cw 20000 fw2 20500 la 500",
           .rst_after = 1);
    CHECK_INT(f.first_rst_by, -1, "rst after four_way: first_rst_by");
    release(&f);

    /* A RST from A after the four-way close: TIME_WAIT never sends one (it ACKs stray
     * segments), so A's socket was gone: CLOSED. */
    snprintf(name, sizeof name, "rst from time_wait %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_FA, na, nb, 0, 10000, 7);
    add(&t, b, F_ACK, nb, na + 1, 0, 10500, 8);
    add(&t, b, F_FA, nb, na + 1, 0, 30500, 9);
    add(&t, a, F_ACK, na + 1, nb + 1, 0, 31000, 10);
    add(&t, a, F_RST, na + 1, 0, 0, 32100, 11);
    run(&f, &t, 40000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7A established>fin_wait_1 fin, 8B established>close_wait ack_fin, "
                         "8A fin_wait_1>fin_wait_2 peer_ack_fin, 9B close_wait>last_ack fin, "
                         "10A fin_wait_2>time_wait ack_fin, 10B last_ack>closed peer_ack_fin, "
                         "11A time_wait>closed rst",
           .seg = SEG_OPEN ", 7A fin 101/101, 8B ack_fin 101/102, 9B fin 101/102, "
                           "10A ack_fin,after_fin 102/102, 11A rst,after_fin 102/0",
           .st_a = "closed", .st_b = "closed", .hs = "three_way", .ck = "four_way", .closer = "A",
           .cc = "unknown", .anomalies = "rst_after_close", .dwell = "cw 20000 fw2 20500 la 500",
           .rst_after = 1);
    release(&f);

    /* A resets instead of the last ACK: FIN_WAIT_2 -> CLOSED sent, LAST_ACK -> CLOSED received. */
    snprintf(name, sizeof name, "rst instead of last ack %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_FA, na, nb, 0, 10000, 7);
    add(&t, b, F_ACK, nb, na + 1, 0, 10500, 8);
    add(&t, b, F_FA, nb, na + 1, 0, 30500, 9);
    add(&t, a, F_RST, na + 1, 0, 0, 31000, 10);
    run(&f, &t, 40000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7A established>fin_wait_1 fin, 8B established>close_wait ack_fin, "
                         "8A fin_wait_1>fin_wait_2 peer_ack_fin, 9B close_wait>last_ack fin, "
                         "10A fin_wait_2>closed fw2_timeout, 10B last_ack>closed peer_rst",
           .seg = SEG_OPEN ", 7A fin 101/101, 8B ack_fin 101/102, 9B fin 101/102, "
                           "10A rst,after_fin 102/0",
           .st_a = "closed", .st_b = "closed", .hs = "three_way", .ck = "four_way", .closer = "A",
           .cc = "close", .anomalies = "rst_after_close,fin_never_acked,fin_wait_2_timeout",
           .dwell = "cw 20000 fw2 20500 la 500", .rst_after = 1);
    release(&f);

    /* The same, but A's RST carries an ACK: a live socket aborting (SO_LINGER {1,0} after
     * shutdown), not a reply to B's FIN from a socket that is gone. */
    snprintf(name, sizeof name, "rst+ack instead of last ack %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_FA, na, nb, 0, 10000, 7);
    add(&t, b, F_ACK, nb, na + 1, 0, 10500, 8);
    add(&t, b, F_FA, nb, na + 1, 0, 30500, 9);
    add(&t, a, F_RA, na + 1, nb + 1, 0, 31000, 10);
    run(&f, &t, 40000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7A established>fin_wait_1 fin, 8B established>close_wait ack_fin, "
                         "8A fin_wait_1>fin_wait_2 peer_ack_fin, 9B close_wait>last_ack fin, "
                         "10A fin_wait_2>time_wait ack_fin, 10A time_wait>closed rst, "
                         "10B last_ack>closed peer_rst",
           .seg = SEG_OPEN ", 7A fin 101/101, 8B ack_fin 101/102, 9B fin 101/102, "
                           "10A rst,after_fin 102/102",
           .st_a = "closed", .st_b = "closed", .hs = "three_way", .ck = "four_way", .closer = "A",
           .cc = "unknown", .anomalies = "rst_after_close,fin_never_acked",
           .dwell = "cw 20000 fw2 20500 la 500", .rst_after = 1);
    release(&f);

    /*
     * The FINs crossed; A acked B's FIN, B never acked A's, and B's bare RST answers A's ACK.
     * A's ACK shows B was in CLOSING, then TIME_WAIT (A's FIN precedes it in sequence), but B's
     * own acks never show it had A's FIN when it reset: the RST ended the connection before
     * both FINs were proven exchanged.  Neither FIN was first: both.
     */
    snprintf(name, sizeof name, "rst in closing %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_FA, na, nb, 0, 10000, 7);
    add(&t, b, F_FA, nb, na, 0, 10100, 8);
    add(&t, a, F_ACK, na + 1, nb + 1, 0, 10300, 9);
    add(&t, b, F_RST, nb + 1, 0, 0, 10400, 10);
    run(&f, &t, 20000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7A established>fin_wait_1 fin, 8B established>fin_wait_1 fin, "
                         "9A fin_wait_1>closing ack_fin, 9B fin_wait_1>closing fin_before, "
                         "9B closing>time_wait peer_ack_fin, 10B time_wait>closed rst, "
                         "10A closing>closed peer_rst",
           .seg = SEG_OPEN ", 7A fin 101/101, 8B fin 101/101, 9A ack_fin,after_fin 102/102, "
                           "10B rst,after_fin 102/0",
           .st_a = "closed", .st_b = "closed", .hs = "three_way", .ck = "rst", .rc = "other",
           .proven = "0", .closer = "both", .cc = "unknown");
    release(&f);
}

/* ---- sequence space ---- */

/*
 * Where the tap sits must not change the verdict: the acks decide, not the order of capture.
 * A closes first; at a tap near A, B's segments sent before A's RST reached B are captured
 * after it.
 */
static void test_rst_taps(int a)
{
    const int b = !a;
    const uint32_t na = isn(a) + 101, nb = isn(b) + 101;
    struct trace t;
    struct fsc_flow f;
    char name[64];

    /* A close()d; B sends 20 bytes and its FIN; A's orphan answers the data with a bare RST
     * at its ack (captures/lo_data_after_close.pcap), twice.  Tap near B. */
    snprintf(name, sizeof name, "orphan reset, tap near the peer %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_FA, na, nb, 0, 10000, 7);
    add(&t, b, F_ACK, nb, na + 1, 0, 10500, 8);
    add(&t, b, F_PA, nb, na + 1, 20, 11000, 9);
    add(&t, b, F_FA, nb + 20, na + 1, 0, 11100, 10);
    add(&t, a, F_RST, na + 1, 0, 0, 11200, 11);
    add(&t, a, F_RST, na + 1, 0, 0, 11300, 12);
    run(&f, &t, 50000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7A established>fin_wait_1 fin, 8B established>close_wait ack_fin, "
                         "8A fin_wait_1>fin_wait_2 peer_ack_fin, 10B close_wait>last_ack fin, "
                         "11A fin_wait_2>closed rst, 11B last_ack>closed peer_rst",
           .seg = "*", .st_a = "closed", .st_b = "closed", .hs = "three_way", .ck = "rst",
           .rc = "data_after_close", .proven = "1", .closer = "A", .cc = "close",
           .anomalies = "rst_after_close", .dwell = "cw 600 fw2 700 la 100", .half_close = 20,
           .rst_after = 1);
    release(&f);

    /* The same connection at a tap near A: B's FIN passes it after the first RST. */
    snprintf(name, sizeof name, "orphan reset, tap near the orphan %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_FA, na, nb, 0, 10000, 7);
    add(&t, b, F_ACK, nb, na + 1, 0, 10500, 8);
    add(&t, b, F_PA, nb, na + 1, 20, 11000, 9);
    add(&t, a, F_RST, na + 1, 0, 0, 11100, 10);
    add(&t, b, F_FA, nb + 20, na + 1, 0, 11200, 11);
    add(&t, a, F_RST, na + 1, 0, 0, 11300, 12);
    run(&f, &t, 50000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7A established>fin_wait_1 fin, 8B established>close_wait ack_fin, "
                         "8A fin_wait_1>fin_wait_2 peer_ack_fin, 10A fin_wait_2>closed rst, "
                         "11B close_wait>last_ack fin, 11B last_ack>closed peer_rst",
           .seg = "*", .st_a = "closed", .st_b = "closed", .hs = "three_way", .ck = "rst",
           .rc = "data_after_close", .proven = "1", .closer = "A", .cc = "close",
           .anomalies = "rst_after_close", .dwell = "cw 700 fw2 600 la 0", .half_close = 20,
           .rst_after = 1);
    release(&f);

    /* A shut down its sending side, then aborted (RST+ACK at SND.NXT) while 30 bytes of B's
     * were in flight: not an orphan's reply, the RST's ack does not cover them.  Tap near A. */
    snprintf(name, sizeof name, "abort after shutdown, tap near A %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_FA, na, nb, 0, 10000, 7);
    add(&t, b, F_ACK, nb, na + 1, 0, 10500, 8);
    add(&t, a, F_RA, na + 1, nb, 0, 11000, 9);
    add(&t, b, F_PA, nb, na + 1, 30, 11050, 10);
    run(&f, &t, 50000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7A established>fin_wait_1 fin, 8B established>close_wait ack_fin, "
                         "8A fin_wait_1>fin_wait_2 peer_ack_fin, 9A fin_wait_2>closed rst, "
                         "9B close_wait>closed peer_rst",
           .seg = "*", .st_a = "closed", .st_b = "closed", .hs = "three_way", .ck = "rst",
           .rc = "other", .proven = "0", .closer = "A", .cc = "unknown",
           .anomalies = "data_after_rst", .dwell = "cw 500 fw2 500 la -", .half_close = 30);
    release(&f);

    snprintf(name, sizeof name, "abort after shutdown, tap near B %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_FA, na, nb, 0, 10000, 7);
    add(&t, b, F_ACK, nb, na + 1, 0, 10500, 8);
    add(&t, b, F_PA, nb, na + 1, 30, 10900, 9);
    add(&t, a, F_RA, na + 1, nb, 0, 11000, 10);
    run(&f, &t, 50000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7A established>fin_wait_1 fin, 8B established>close_wait ack_fin, "
                         "8A fin_wait_1>fin_wait_2 peer_ack_fin, 10A fin_wait_2>closed rst, "
                         "10B close_wait>closed peer_rst",
           .seg = "*", .st_a = "closed", .st_b = "closed", .hs = "three_way", .ck = "rst",
           .rc = "other", .proven = "0", .closer = "A", .cc = "unknown",
           .dwell = "cw 500 fw2 500 la -", .half_close = 30);
    release(&f);

    /* Both abort at once: each RST left before the other's arrived.  Either tap order. */
    for (int order = 0; order < 2; order++) {
        int first = order ? b : a;
        uint32_t n1 = order ? nb : na, n2 = order ? na : nb;
        snprintf(name, sizeof name, "crossing rsts %d %s", order, side(a));
        trace_init(&t, &LINK4);
        opening(&t);
        add(&t, first, F_RA, n1, n2, 0, 10000, 7);
        add(&t, !first, F_RA, n2, n1, 0, 10100, 8);
        run(&f, &t, 50000);
        EXPECT(name, &f, a,
               .tr = order ? TR_OPEN ", 7B established>closed rst, 8A established>closed rst"
                           : TR_OPEN ", 7A established>closed rst, 8B established>closed rst",
               .seg = "*", .st_a = "closed", .st_b = "closed", .hs = "three_way", .ck = "rst",
               .rc = "abort", .proven = "0", .closer = "both");
        CHECK_INT(f.rst_crossed, 1, "crossing rsts: crossed");
        release(&f);
    }
}

/* The tokens a flow is stored with, as one string (for comparing two taps). */
static const char *tokens(const struct fsc_flow *f, char *buf, size_t len)
{
    char an[256];
    const char *rc = fsc_rst_cause_name(f->rst_cause), *cc = fsc_closer_call_name(f->closer_call);

    snprintf(buf, len, "%s %s %s%s %s %s %s/%s %s rac=%u", fsc_handshake_name(f->handshake),
             fsc_close_kind_name(f->close_kind), rc ? rc : "-",
             rc ? (f->rst_cause_proven ? "(1)" : "(0)") : "", fsc_closer_name(f->closer),
             cc ? cc : "-", fsc_tcp_state_name(f->ep[C].state), fsc_tcp_state_name(f->ep[S].state),
             fsc_anomaly_str(f->anomalies, an, sizeof an), f->rst_after_close);
    return buf;
}

/* One connection at two taps: both must give want (every token, states and anomalies); want2,
 * when not NULL, is what the second tap gives (anomalies that describe the capture, such as
 * data_after_rst, may differ). */
static void expect_taps(const char *name, const struct trace *t1, const struct trace *t2,
                        const char *want, const char *want2)
{
    struct fsc_flow f;
    char got[512], what[160];
    const struct trace *t[2] = {t1, t2};

    for (int i = 0; i < 2; i++) {
        run(&f, t[i], 900000);
        snprintf(what, sizeof what, "%s, tap %d", name, i + 1);
        CHECK_STR(tokens(&f, got, sizeof got), i && want2 ? want2 : want, what);
        snprintf(what, sizeof what, "%s, tap %d: transitions off the state diagram", name, i + 1);
        struct fsc_transition tr[FSC_FLOW_MAX_TRANSITIONS];
        uint32_t n = fsc_flow_transitions(&f, tr);
        int last[2] = {-1, -1}, broken = 0;
        for (uint32_t k = 0; k < n; k++) {
            if (!fsc_tcp_edge_allowed(tr[k].from, tr[k].to) ||
                (last[tr[k].endpoint] >= 0 && last[tr[k].endpoint] != tr[k].from))
                broken++;
            last[tr[k].endpoint] = tr[k].to;
        }
        CHECK_INT(broken, 0, what);
        release(&f);
    }
}

/*
 * The second review's cases (docs/schema.md, "Which RST ends the connection"), each at a tap
 * near A and a tap near B (one-way delay 5 ms; each frame stamped when it passes that tap).
 */
static void test_rst_review(void)
{
    const uint32_t ca = CI + 101, sa = SI + 101;
    struct trace t1, t2;

    /* The client close()s; 1 byte of the server's crosses its FIN; the server reads EOF and
     * aborts (RST+ACK acking the FIN) while the client's orphan answers the byte with a bare
     * RST at its ack: the RSTs crossed.  The server's RST+ACK, captured first at the server's
     * tap, must not make the client's look unacceptable there. */
    trace_init(&t1, &LINK4);
    opening(&t1);
    add(&t1, C, F_FA, ca, sa, 0, 30000, 7);
    add(&t1, S, F_PA, sa, ca, 1, 37000, 8);
    add(&t1, C, F_RST, ca, 0, 0, 37500, 9);
    add(&t1, S, F_RA, sa + 1, ca + 1, 0, 41000, 10);
    trace_init(&t2, &LINK4);
    opening(&t2);
    add(&t2, S, F_PA, sa, ca, 1, 32000, 7);
    add(&t2, C, F_FA, ca, sa, 0, 35000, 8);
    add(&t2, S, F_RA, sa + 1, ca + 1, 0, 36000, 9);
    add(&t2, C, F_RST, ca, 0, 0, 42500, 10);
    expect_taps("orphan RST crossing an abort", &t1, &t2,
                "three_way rst data_after_close(1) client close closed/closed  rac=0", NULL);

    /* Linux's tcp_reset_check: the server close()s, the client's next request crosses its
     * FIN, the client acks the FIN (CLOSE_WAIT), and the orphan's bare RST at the request's
     * ack (the FIN's seq, RCV.NXT - 1 by then) resets it. */
    trace_init(&t1, &LINK4);
    opening(&t1);
    add(&t1, C, F_PA, ca, sa, 20, 32000, 7);
    add(&t1, S, F_FA, sa, ca, 0, 35000, 8);
    add(&t1, C, F_ACK, ca + 20, sa + 1, 0, 35100, 9);
    add(&t1, S, F_RST, sa, 0, 0, 42000, 10);
    trace_init(&t2, &LINK4);
    opening(&t2);
    add(&t2, S, F_FA, sa, ca, 0, 30000, 7);
    add(&t2, C, F_PA, ca, sa, 20, 37000, 8);
    add(&t2, S, F_RST, sa, 0, 0, 37500, 9);
    add(&t2, C, F_ACK, ca + 20, sa + 1, 0, 40100, 10);
    expect_taps("orphan RST at RCV.NXT-1", &t1, &t2,
                "three_way rst data_after_close(1) server close closed/closed  rac=0", NULL);

    /* A client that gives up (RST) before the SYN+ACK arrives, then resets the SYN+ACK: the
     * server had sent it before either RST arrived, so it was in SYN_RCVD, not listening. */
    trace_init(&t1, &LINK4);
    add(&t1, C, F_SYN, CI, 0, 0, 0, 1);
    add(&t1, C, F_RST, CI + 1, 0, 0, 3000, 2);
    add(&t1, S, F_SA, SI, CI + 1, 0, 10000, 3);
    add(&t1, C, F_RST, CI + 1, 0, 0, 10100, 4);
    trace_init(&t2, &LINK4);
    add(&t2, C, F_SYN, CI, 0, 0, 5000, 1);
    add(&t2, S, F_SA, SI, CI + 1, 0, 5100, 2);
    add(&t2, C, F_RST, CI + 1, 0, 0, 8000, 3);
    add(&t2, C, F_RST, CI + 1, 0, 0, 15100, 4);
    expect_taps("RST before the SYN+ACK arrived", &t1, &t2,
                "aborted rst handshake(1) client - closed/closed rst_after_close rac=1", NULL);

    /* The tap missed 100 bytes of the server's.  Its RST past what the tap saw is held at the
     * server's tap; the client's segment that crossed it acks exactly the RST's seq: it sat at
     * the client's RCV.NXT, and counts.  At the client's tap that ack came first. */
    trace_init(&t1, &LINK4);
    opening(&t1);
    add(&t1, C, F_PA, ca, sa + 100, 20, 60000, 7);
    add(&t1, S, F_RA, sa + 100, ca, 0, 67000, 8);
    trace_init(&t2, &LINK4);
    opening(&t2);
    add(&t2, S, F_RA, sa + 100, ca, 0, 62000, 7);
    add(&t2, C, F_PA, ca, sa + 100, 20, 65000, 8);
    expect_taps("held RST confirmed by a crossing ack", &t1, &t2,
                "three_way rst abort(0) server - closed/closed ack_unseen_data rac=0",
                "three_way rst abort(0) server - closed/closed data_after_rst,ack_unseen_data "
                "rac=0");

    /* The client's RST+ACK (its FIN sent, the server's not received: ack below it) crosses
     * the server's FIN and ACK.  At the server's tap the server's ACK (after its FIN in
     * sequence) is captured before the RST; the RST's ack still shows the client never got
     * the server's FIN: FIN_WAIT_1 to CLOSED, no CLOSING. */
    trace_init(&t1, &LINK4);
    opening(&t1);
    add(&t1, C, F_FA, ca, sa, 0, 30000, 7);
    add(&t1, C, F_RA, ca + 1, sa, 0, 32000, 8);
    add(&t1, S, F_FA, sa, ca, 0, 38000, 9);
    add(&t1, S, F_ACK, sa + 1, ca + 1, 0, 40000, 10);
    trace_init(&t2, &LINK4);
    opening(&t2);
    add(&t2, S, F_FA, sa, ca, 0, 33000, 7);
    add(&t2, C, F_FA, ca, sa, 0, 35000, 8);
    add(&t2, S, F_ACK, sa + 1, ca + 1, 0, 35100, 9);
    add(&t2, C, F_RA, ca + 1, sa, 0, 37000, 10);
    expect_taps("RST+ACK below the peer FIN", &t1, &t2,
                "three_way rst other(0) both unknown closed/closed  rac=0", NULL);
    struct fsc_flow f;
    char buf[1024];
    run(&f, &t2, 900000);
    CHECK_STR(strstr(dump_tr(&f, buf, sizeof buf), "C fin_wait_1>closing") ? "closing" : "-", "-",
              "RST+ACK below the peer FIN: the resetter never reached CLOSING");
    release(&f);

    /* Client frames only, and one lone RST "from the server" far from where the client's acks
     * put its RCV.NXT: its only frame gives it no window of its own, the client's acks do. */
    trace_init(&t1, &LINK4);
    add(&t1, C, F_PA, ca, sa, 100, 1000, 1);
    add(&t1, C, F_ACK, ca + 100, sa + 100, 0, 2000, 2);
    add(&t1, S, F_RST, 999999, 0, 0, 3000, 3);
    add(&t1, C, F_PA, ca + 100, sa + 100, 100, 4000, 4);
    run(&f, &t1, 9000);
    CHECK_STR(fsc_close_kind_name(f.close_kind), "open", "lone far RST: kind");
    CHECK_STR(fsc_anomaly_str(f.anomalies, buf, sizeof buf), "rst_not_acceptable",
              "lone far RST: anomalies");
    release(&f);
}

/*
 * RFC 9293 3.10.7.4 with RFC 5961: only a RST at exactly RCV.NXT resets.  Its payload is
 * diagnostic text, never stream data.
 */
static void test_rst_acceptance(int a)
{
    const int b = !a;
    const uint32_t na = isn(a) + 101, nb = isn(b) + 101;
    struct trace t;
    struct fsc_flow f;
    char name[64], buf[256];

#define CLOSE_4WAY(k)                                                                              \
    add(&t, a, F_FA, na, nb, 0, 20000, (k));                                                       \
    add(&t, b, F_ACK, nb, na + 1, 0, 20500, (k) + 1);                                              \
    add(&t, b, F_FA, nb, na + 1, 0, 21000, (k) + 2);                                               \
    add(&t, a, F_ACK, na + 1, nb + 1, 0, 21500, (k) + 3)

    /* 20 bytes at ~100 M past B's stream, the four-way close goes on: dropped. */
    snprintf(name, sizeof name, "rst with data out of window %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, b, F_RST, isn(b) + 100000000u, 0, 20, 10000, 7);
    CLOSE_4WAY(8);
    run(&f, &t, 50000);
    EXPECT(name, &f, a, .tr = "*", .seg = "*", .st_a = "time_wait", .st_b = "closed",
           .hs = "three_way", .ck = "four_way", .closer = "A", .cc = "unknown",
           .anomalies = "rst_not_acceptable", .dwell = "cw 500 fw2 1000 la 500");
    release(&f);

    /* In the window but 949 bytes past RCV.NXT: a challenge ACK answers it, the close goes on. */
    snprintf(name, sizeof name, "rst in window not exact %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, b, F_RST, nb + 949, 0, 0, 10000, 7);
    add(&t, a, F_ACK, na, nb, 0, 10100, 8);
    CLOSE_4WAY(9);
    run(&f, &t, 50000);
    EXPECT(name, &f, a, .tr = "*", .seg = "*", .st_a = "time_wait", .st_b = "closed",
           .hs = "three_way", .ck = "four_way", .closer = "A", .cc = "unknown",
           .anomalies = "rst_not_acceptable", .dwell = "cw 500 fw2 1000 la 500");
    release(&f);

    /* Below RCV.NXT: outside the window. */
    snprintf(name, sizeof name, "rst below rcv.nxt %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, b, F_RA, nb - 50, na, 0, 10000, 7);
    CLOSE_4WAY(8);
    run(&f, &t, 50000);
    EXPECT(name, &f, a, .tr = "*", .seg = "*", .st_a = "time_wait", .st_b = "closed",
           .hs = "three_way", .ck = "four_way", .closer = "A", .cc = "unknown",
           .anomalies = "rst_not_acceptable", .dwell = "cw 500 fw2 1000 la 500");
    release(&f);

    /* Past anything B was seen to send, and nothing follows: the tap may have missed bytes of
     * B's; it counts.  Held until the end, the flow lingers as closed meanwhile. */
    snprintf(name, sizeof name, "rst past snd.max, nothing after %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, b, F_RA, nb + 949, na, 0, 10000, 7);
    memset(&f, 0, sizeof f);
    fsc_tcp_flow_init(&f, &t.p[0], -1);
    for (size_t i = 0; i < t.n; i++)
        fsc_tcp_segment(&f, fsc_flow_dir(&f, &t.p[i]), &t.p[i]);
    CHECK_INT(f.closed, 1, "rst past snd.max: closed while held");
    CHECK_INT(f.first_rst_by, -1, "rst past snd.max: not yet counted");
    fsc_classify(&f, 50000);
    EXPECT(name, &f, a, .tr = TR_OPEN ", 7B established>closed rst, 7A established>closed peer_rst",
           .seg = SEG_OPEN ", 7B rst 1050/101", .st_a = "closed", .st_b = "closed",
           .hs = "three_way", .ck = "rst", .rc = "abort", .proven = "0", .closer = "B");
    release(&f);

    /* Exactly at RCV.NXT with 20 bytes of text: it resets; the text is no stream data. */
    snprintf(name, sizeof name, "rst with diagnostic text %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, b, F_RA, nb, na, 20, 10000, 7);
    run(&f, &t, 50000);
    EXPECT(name, &f, a, .tr = TR_OPEN ", 7B established>closed rst, 7A established>closed peer_rst",
           .seg = "*", .st_a = "closed", .st_b = "closed", .hs = "three_way", .ck = "rst",
           .rc = "abort", .proven = "0", .closer = "B", .anomalies = "rst_with_data");
    CHECK_INT(f.ep[b].snd_max, nb, "rst with text: snd_max unmoved");
    release(&f);

    /* A RST at B's exact seq, and B goes on sending (an ACK, its FIN): a reset socket sends
     * nothing more, so it was not B's stack's (injected) or not taken: it did nothing. */
    snprintf(name, sizeof name, "rst whose sender goes on %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, b, F_RA, nb, na, 0, 10000, 7);
    add(&t, a, F_PA, na, nb, 20, 10100, 8);
    add(&t, b, F_ACK, nb, na + 20, 0, 10200, 9);
    add(&t, a, F_FA, na + 20, nb, 0, 20000, 10);
    add(&t, b, F_ACK, nb, na + 21, 0, 20500, 11);
    add(&t, b, F_FA, nb, na + 21, 0, 21000, 12);
    add(&t, a, F_ACK, na + 21, nb + 1, 0, 21500, 13);
    run(&f, &t, 50000);
    EXPECT(name, &f, a, .tr = "*", .seg = "*", .st_a = "time_wait", .st_b = "closed",
           .hs = "three_way", .ck = "four_way", .closer = "A", .cc = "unknown",
           .anomalies = "rst_not_acceptable", .dwell = "cw 500 fw2 1000 la 500");
    CHECK_INT(f.first_rst_by, -1, "rst whose sender goes on: not the flow's RST");
    release(&f);

    /* The tap missed 100 bytes of B's, which A acked; B's RST+ACK 100 below A's RCV.NXT is out
     * of the window. */
    snprintf(name, sizeof name, "rst below the receiver's ack %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_PA, na, nb + 100, 20, 10000, 7);
    add(&t, b, F_RA, nb, na + 20, 0, 10100, 8);
    CLOSE_4WAY(9);
    run(&f, &t, 50000);
    CHECK_STR(fsc_close_kind_name(f.close_kind), "four_way", "rst below the receiver's ack: kind");
    CHECK_STR(fsc_anomaly_str(f.anomalies, buf, sizeof buf), "ack_unseen_data,rst_not_acceptable",
              "rst below the receiver's ack: anomalies");
    release(&f);

    /* FIN+RST: the RST is processed first (3.10.7.4), the FIN never is. */
    snprintf(name, sizeof name, "fin+rst %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_FA, na, nb, 0, 10000, 7);
    add(&t, b, F_ACK, nb, na + 1, 0, 10500, 8);
    add(&t, b, FSC_TH_FIN | F_RA, nb, na + 1, 0, 11000, 9);
    run(&f, &t, 50000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7A established>fin_wait_1 fin, 8B established>close_wait ack_fin, "
                         "8A fin_wait_1>fin_wait_2 peer_ack_fin, 9B close_wait>closed rst, "
                         "9A fin_wait_2>closed peer_rst",
           .seg = "*", .st_a = "closed", .st_b = "closed", .hs = "three_way", .ck = "rst",
           .rc = "abort", .proven = "0", .closer = "A", .cc = "unknown", .anomalies = "fin_rst",
           .dwell = "cw 500 fw2 500 la -");
    release(&f);
#undef CLOSE_4WAY
}

/* Both ISNs just below 2^32: data, FINs and acks wrap during the teardown. */
static void test_wraparound(int a)
{
    struct trace t;
    struct fsc_flow f;
    char name[64];
    /* The closer's FIN sits at 0xFFFFFFFF (acked by ack 0); the other FIN at 0x11. */
    const uint32_t ia = 0xFFFFFF00u, ib = 0xFFFFFFF0u;
    const uint32_t ci = a == C ? ia : ib, si = a == C ? ib : ia;
    const uint32_t clen = a == C ? 0xFE : 0x20, slen = a == C ? 0x20 : 0xFE;
    const int b = !a;

    snprintf(name, sizeof name, "wraparound %s", side(a));
    trace_init(&t, &LINK4);
    add(&t, C, F_SYN, ci, 0, 0, 1000, 1);
    add(&t, S, F_SA, si, ci + 1, 0, 2000, 2);
    add(&t, C, F_ACK, ci + 1, si + 1, 0, 3000, 3);
    add(&t, C, F_PA, ci + 1, si + 1, clen, 4000, 4);
    add(&t, S, F_PA, si + 1, ci + 1 + clen, slen, 5000, 5);
    add(&t, a, F_FA, 0xFFFFFFFFu, 0x11, 0, 6000, 6);
    add(&t, b, F_ACK, 0x11, 0, 0, 7000, 7);
    add(&t, b, F_FA, 0x11, 0, 0, 8000, 8);
    add(&t, a, F_ACK, 0, 0x12, 0, 9000, 9);
    run(&f, &t, 10000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 6A established>fin_wait_1 fin, 7B established>close_wait ack_fin, "
                         "7A fin_wait_1>fin_wait_2 peer_ack_fin, 8B close_wait>last_ack fin, "
                         "9A fin_wait_2>time_wait ack_fin, 9B last_ack>closed peer_ack_fin",
           .seg = a == C ? "1C syn 0/0, 2S syn,ack_syn 0/1, 3C ack_syn 1/1, "
                           "4C first_data 1/1+254, 5S first_data 1/255+32, 6C fin 255/33, "
                           "7S ack_fin 33/256, 8S fin 33/256, 9C ack_fin,after_fin 256/34"
                         : "1C syn 0/0, 2S syn,ack_syn 0/1, 3C ack_syn 1/1, "
                           "4C first_data 1/1+32, 5S first_data 1/33+254, 6S fin 255/33, "
                           "7C ack_fin 33/256, 8C fin 33/256, 9S ack_fin,after_fin 256/34",
           .st_a = "time_wait", .st_b = "closed", .hs = "three_way", .ck = "four_way",
           .closer = "A", .cc = "unknown", .dwell = "cw 1000 fw2 2000 la 1000");
    CHECK_INT(f.ep[a].fin_seq, 0xFFFFFFFFu, "wraparound: closer fin_seq");
    CHECK_INT(f.ep[a].snd_max, 0u, "wraparound: closer snd_max wrapped");
    CHECK_INT(f.ep[a].bytes, 0xFE, "wraparound: closer bytes");
    release(&f);
}

/* ---- issue 8: messy real traffic ---- */

/*
 * FINs cross; B's ACK of A's FIN is captured, then A's FIN retransmission, which acks B's FIN:
 * A had B's FIN but not yet B's ACK when it resent (seen on real MySQL and sslh traffic).  The
 * ACK crossed the retransmission: A still gets it, so both end in TIME_WAIT and no FIN is left
 * unacknowledged.
 */
static void test_fin_retx_crossing_simultaneous(int a)
{
    const int b = !a;
    const uint32_t na = isn(a) + 101, nb = isn(b) + 101;
    struct trace t;
    struct fsc_flow f;
    char name[80];

    snprintf(name, sizeof name, "FIN resent across the ACK, simultaneous, %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_FA, na, nb, 0, 10000, 7);
    add(&t, b, F_FA, nb, na, 0, 10100, 8);
    add(&t, b, F_ACK, nb + 1, na + 1, 0, 205000, 9);
    add(&t, a, F_FA, na, nb + 1, 0, 210000, 10);
    run(&f, &t, 300000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7A established>fin_wait_1 fin, 8B established>fin_wait_1 fin, "
                         "9B fin_wait_1>closing ack_fin, 10A fin_wait_1>closing ack_fin, "
                         "10B closing>time_wait peer_ack_fin, 10A closing>time_wait crossed",
           .seg = SEG_OPEN ", 7A fin 101/101, 8B fin 101/101, 9B ack_fin,after_fin 102/102, "
                           "10A fin,ack_fin 101/102",
           .st_a = "time_wait", .st_b = "time_wait", .hs = "three_way", .ck = "simultaneous",
           .closer = "both", .cc = "unknown", .fr_a = 1);
    CHECK_INT(f.closed, 1, "FIN resent across the ACK: closed");
    release(&f);

    /* The ACK was captured 200 ms (a hundred handshake round trips) before A resent its FIN:
     * it did not cross the retransmission, it was lost after the tap.  A is still CLOSING. */
    snprintf(name, sizeof name, "FIN resent long after the ACK, simultaneous, %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_FA, na, nb, 0, 10000, 7);
    add(&t, b, F_FA, nb, na, 0, 10100, 8);
    add(&t, b, F_ACK, nb + 1, na + 1, 0, 10200, 9);
    add(&t, a, F_FA, na, nb + 1, 0, 210000, 10);
    run(&f, &t, 300000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7A established>fin_wait_1 fin, 8B established>fin_wait_1 fin, "
                         "9B fin_wait_1>closing ack_fin, 10A fin_wait_1>closing ack_fin, "
                         "10B closing>time_wait peer_ack_fin",
           .seg = SEG_OPEN ", 7A fin 101/101, 8B fin 101/101, 9B ack_fin,after_fin 102/102, "
                           "10A fin,ack_fin 101/102",
           .st_a = "closing", .st_b = "time_wait", .hs = "three_way", .ck = "simultaneous",
           .closer = "both", .cc = "unknown", .anomalies = "fin_never_acked", .fr_a = 1);
    CHECK_INT(f.closed, 0, "FIN resent long after the ACK: not closed");
    release(&f);

    /* B's last FIN resent 220 ms after A's ACK of it: the ACK was lost, B stays in LAST_ACK
     * until A's RST (A's TIME_WAIT socket was gone: it would have ACKed) closes it. */
    snprintf(name, sizeof name, "last FIN resent long after the ACK, then RST %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_FA, na, nb, 0, 10000, 7);
    add(&t, b, F_ACK, nb, na + 1, 0, 11000, 8);
    add(&t, b, F_FA, nb, na + 1, 0, 11100, 9);
    add(&t, a, F_ACK, na + 1, nb + 1, 0, 12000, 10);
    add(&t, b, F_FA, nb, na + 1, 0, 232000, 11);
    add(&t, a, F_RST, na + 1, 0, 0, 232100, 12);
    run(&f, &t, 300000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7A established>fin_wait_1 fin, 8B established>close_wait ack_fin, "
                         "8A fin_wait_1>fin_wait_2 peer_ack_fin, 9B close_wait>last_ack fin, "
                         "10A fin_wait_2>time_wait ack_fin, 12A time_wait>closed rst, "
                         "12B last_ack>closed peer_rst",
           .seg = "*", .st_a = "closed", .st_b = "closed", .hs = "three_way", .ck = "four_way",
           .closer = "A", .cc = "unknown", .anomalies = "rst_after_close,fin_never_acked",
           .dwell = "cw 100 fw2 1000 la 221000", .fr_b = 1, .rst_after = 1);
    release(&f);
}

/* Four-way: B's ACK of A's FIN is lost after the tap, A resends its FIN, B re-ACKs it: A reaches
 * FIN_WAIT_2 at the re-ACK, the one it got. */
static void test_fin_retx_crossing_four_way(int a)
{
    const int b = !a;
    const uint32_t na = isn(a) + 101, nb = isn(b) + 101;
    struct trace t;
    struct fsc_flow f;
    char name[80];

    snprintf(name, sizeof name, "FIN resent across the ACK, four-way, %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_FA, na, nb, 0, 10000, 7);
    add(&t, b, F_ACK, nb, na + 1, 0, 20000, 8);
    add(&t, a, F_FA, na, nb, 0, 210000, 9);
    add(&t, b, F_ACK, nb, na + 1, 0, 210100, 10);
    add(&t, b, F_FA, nb, na + 1, 0, 260000, 11);
    add(&t, a, F_ACK, na + 1, nb + 1, 0, 270000, 12);
    run(&f, &t, 300000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7A established>fin_wait_1 fin, 8B established>close_wait ack_fin, "
                         "10A fin_wait_1>fin_wait_2 peer_ack_fin, 11B close_wait>last_ack fin, "
                         "12A fin_wait_2>time_wait ack_fin, 12B last_ack>closed peer_ack_fin",
           .seg = SEG_OPEN ", 7A fin 101/101, 8B ack_fin 101/102, 9A fin 101/101, "
                           "10B ack_fin 101/102, 11B fin 101/102, 12A ack_fin,after_fin 102/102",
           .st_a = "time_wait", .st_b = "closed", .hs = "three_way", .ck = "four_way",
           .closer = "A", .cc = "unknown", .dwell = "cw 240000 fw2 59900 la 10000", .fr_a = 1);
    release(&f);

    /* Three-way at a tap near B: B's FIN+ACK (acking A's FIN) is captured 190 ms before A
     * resends its FIN, whose ack does not cover B's FIN: A did not have it yet (a late
     * segment).  A's ACK of B's FIN shows the FIN+ACK arrived, and with it the ack of A's FIN. */
    snprintf(name, sizeof name, "late FIN+ACK, three-way, %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_FA, na, nb, 0, 10000, 7);
    add(&t, b, F_FA, nb, na + 1, 0, 20000, 8);
    add(&t, a, F_FA, na, nb, 0, 210000, 9);
    add(&t, a, F_ACK, na + 1, nb + 1, 0, 230000, 10);
    run(&f, &t, 300000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7A established>fin_wait_1 fin, 8B established>close_wait ack_fin, "
                         "8B close_wait>last_ack fin, 10A fin_wait_1>fin_wait_2 via_fin, "
                         "10A fin_wait_2>time_wait ack_fin, 10B last_ack>closed peer_ack_fin",
           .seg = "*", .st_a = "time_wait", .st_b = "closed", .hs = "three_way", .ck = "three_way",
           .closer = "A", .cc = "unknown", .dwell = "cw 0 fw2 0 la 210000", .fr_a = 1);
    release(&f);
}

/* The tap stamps the SYN+ACK 260 us before its SYN: one SYN, the handshake RTT is measured. */
static void test_synack_before_syn(void)
{
    struct trace t;
    struct fsc_flow f;

    trace_init(&t, &LINK4);
    add(&t, S, F_SA, SI, CI + 1, 0, 1000, 1);
    add(&t, C, F_SYN, CI, 0, 0, 1260, 2);
    add(&t, C, F_ACK, CI + 1, SI + 1, 0, 11260, 3);
    run(&f, &t, 20000);
    EXPECT("SYN+ACK stamped before its SYN", &f, C,
           .tr = "1S listen>syn_rcvd synack, 2C closed>syn_sent syn, "
                 "3C syn_sent>established ack_syn, 3S syn_rcvd>established peer_ack_syn",
           .seg = "1S syn,ack_syn 0/1, 2C syn 0/0, 3C ack_syn 1/1", .st_a = "established",
           .st_b = "established", .hs = "three_way", .ck = "open", .closer = "none",
           .anomalies = "tap_reordered");
    CHECK_INT(f.syn_ts, 1260, "SYN+ACK before SYN: syn_ts is the SYN's");
    CHECK_INT(f.hs_done_ts, 11260, "SYN+ACK before SYN: hs_done_ts");
    release(&f);
}

/* RFC 9293 3.10.7.4: a FIN without ACK in SYN-RECEIVED is dropped; no CLOSE_WAIT. */
static void test_fin_without_ack(void)
{
    struct trace t;
    struct fsc_flow f;

    trace_init(&t, &LINK4);
    add(&t, C, F_SYN, CI, 0, 0, 1000, 1);
    add(&t, S, F_SA, SI, CI + 1, 0, 2000, 2);
    add(&t, C, FSC_TH_FIN, CI + 1, 0, 0, 2100, 3);
    add(&t, S, F_RA, SI + 1, CI + 2, 0, 2200, 4);
    run(&f, &t, 9000);
    EXPECT("FIN without ACK in SYN-RECEIVED", &f, C,
           .tr = "1C closed>syn_sent syn, 2S listen>syn_rcvd synack, 4S syn_rcvd>closed rst, "
                 "4C syn_sent>closed peer_rst",
           .seg = "1C syn 0/0, 2S syn,ack_syn 0/1, 3C fin 1/0, 4S rst 1/2", .st_a = "closed",
           .st_b = "closed", .hs = "aborted", .ck = "rst", .rc = "handshake", .proven = "1",
           .closer = "server", .anomalies = "fin_without_ack");
    release(&f);
}

/*
 * One-sided, only the client's frames: the server closed first.  Its SYN+ACK, its response and
 * its FIN are shown by the client's acks (the last rise by one, before the client's own FIN);
 * the client's FIN acks the server FIN in a segment of its own before: four-way.
 */
static void test_one_sided_client(void)
{
    struct trace t;
    struct fsc_flow f;

    trace_init(&t, &LINK4);
    add(&t, C, F_SYN, CI, 0, 0, 1000, 1);
    add(&t, C, F_ACK, CI + 1, SI + 1, 0, 3000, 2);
    add(&t, C, F_PA, CI + 1, SI + 1, 100, 4000, 3);
    add(&t, C, F_ACK, CI + 101, SI + 101, 0, 6000, 4);
    add(&t, C, F_ACK, CI + 101, SI + 102, 0, 9000, 5);
    add(&t, C, F_FA, CI + 101, SI + 102, 0, 30000, 6);
    run(&f, &t, 40000);
    EXPECT("one-sided, client frames only, server closes first", &f, C,
           .tr = "1C closed>syn_sent syn, 2S listen>syn_rcvd unseen_synack, "
                 "2C syn_sent>established ack_syn, 2S syn_rcvd>established peer_ack_syn, "
                 "5S established>fin_wait_1 unseen_fin, 5C established>close_wait ack_fin, "
                 "5S fin_wait_1>fin_wait_2 peer_ack_fin, 6C close_wait>last_ack fin",
           .seg = "1C syn 0/0, 2C ack_syn 1/1, 3C first_data 1/1+100, 5C ack_fin 101/102, "
                  "6C fin 101/102",
           .st_a = "last_ack", .st_b = "fin_wait_2", .hs = "three_way", .ck = "four_way",
           .closer = "server", .cc = "unknown", .anomalies = "one_sided",
           .dwell = "cw 21000 fw2 31000 la 10000");
    CHECK_INT(f.one_sided, 1, "one-sided client: one_sided");
    release(&f);
}

/* One-sided, only the server's frames: an accept-queue overflow.  The bare RST at the server's
 * ISN+1 answers the client's (unseen) handshake ACK. */
static void test_one_sided_server_overflow(void)
{
    struct trace t;
    struct fsc_flow f;

    trace_init(&t, &LINK4);
    add(&t, S, F_SA, SI, CI + 1, 0, 2000, 1);
    add(&t, S, F_RST, SI + 1, 0, 0, 3100, 2);
    run(&f, &t, 9000);
    EXPECT("one-sided, server frames only, accept-queue overflow", &f, S,
           .tr = "1C closed>syn_sent init, 1S listen>syn_rcvd synack, "
                 "2C syn_sent>established unseen_ack_syn, 2S syn_rcvd>established peer_ack_syn, "
                 "2S established>closed rst, 2C established>closed peer_rst",
           .seg = "1S syn,ack_syn 0/1, 2S rst 1/0", .st_a = "closed", .st_b = "closed",
           .hs = "three_way", .ck = "rst", .rc = "accept_overflow", .proven = "0",
           .closer = "server", .anomalies = "synack_without_syn,one_sided");
    release(&f);

    /* The server's data after its SYN+ACK shows it was ESTABLISHED: the client had acked its
     * SYN (a TCP Fast Open server would look the same: the wire cannot tell). */
    trace_init(&t, &LINK4);
    add(&t, S, F_SA, SI, CI + 1, 0, 2000, 1);
    add(&t, S, F_PA, SI + 1, CI + 1, 50, 4000, 2);
    run(&f, &t, 9000);
    EXPECT("one-sided, server frames only, server speaks first", &f, S,
           .tr = "1C closed>syn_sent init, 1S listen>syn_rcvd synack, "
                 "2C syn_sent>established unseen_ack_syn, 2S syn_rcvd>established after_syn",
           .seg = "1S syn,ack_syn 0/1, 2S first_data 1/1+50", .st_a = "established",
           .st_b = "established", .hs = "three_way", .ck = "open", .closer = "none",
           .anomalies = "synack_without_syn,one_sided");
    release(&f);
}

/* Many holes, every one filled late: nothing was retransmitted and nothing is missing. */
static void test_many_holes(void)
{
    struct fsc_flow f;
    struct trace t;

    trace_init(&t, &LINK4);
    opening(&t);
    for (uint32_t i = 0; i < 12; i++) /* 12 segments, every other one missing */
        add(&t, C, F_PA, CI + 101 + 200 * i, SI + 101, 100, 7000 + i, 7 + i);
    for (uint32_t i = 0; i < 11; i++) /* the holes filled, last first */
        add(&t, C, F_PA, CI + 201 + 200 * (10 - i), SI + 101, 100, 8000 + i, 19 + i);
    add(&t, C, F_PA, CI + 101 + 200 * 3, SI + 101, 100, 9000, 30); /* one real retransmission */
    run(&f, &t, 20000);
    EXPECT("eleven holes filled late", &f, C, .tr = TR_OPEN, .seg = SEG_OPEN, .st_a = "established",
           .st_b = "established", .hs = "three_way", .ck = "open", .closer = "none",
           .rg = "r100 g0 / r0 g0");
    release(&f);
}

/* More holes than a side tracks: the rest counted at once, the flow says so. */
static void test_holes_capped(void)
{
    struct fsc_flow f;
    struct fsc_pkt p;
    uint64_t n = 1;

    memset(&f, 0, sizeof f);
    p = pkt(C, F_SYN, CI, 0, 0, 1000, n++);
    fsc_tcp_flow_init(&f, &p, -1);
    fsc_tcp_segment(&f, C, &p);
    p = pkt(S, F_SA, SI, CI + 1, 0, 1100, n++);
    fsc_tcp_segment(&f, S, &p);
    for (uint32_t i = 0; i < FSC_SEQSET_MAX + 10; i++) {
        p = pkt(C, F_PA, CI + 1 + 20 * i, SI + 1, 10, 2000 + i, n++);
        fsc_tcp_segment(&f, C, &p);
    }
    fsc_classify(&f, 1000000);
    CHECK_INT(f.ep[C].gap_bytes, 10ull * (FSC_SEQSET_MAX + 9), "holes capped: gap bytes");
    CHECK_INT((f.anomalies & FSC_AN_HOLES_CAPPED) != 0, 1, "holes capped: anomaly");
    CHECK_INT(f.ep[C].holes.n, 0, "holes capped: set released");
    release(&f);
}

/* Midstream orientation: the capture's handshakes, then service ports, then port numbers. */
static void test_server_port_guess(void)
{
    CHECK_INT(fsc_port_pick_server(3389, 50123, 0, 0), 0, "port guess: RDP");
    CHECK_INT(fsc_port_pick_server(1128, 20000, 0, 0), 1, "port guess: DNP3 outstation");
    CHECK_INT(fsc_port_pick_server(40000, 5432, 0, 0), 1, "port guess: PostgreSQL");
    CHECK_INT(fsc_port_pick_server(61000, 45000, 3, 0), 0, "port guess: the capture's handshakes");
    CHECK_INT(fsc_port_pick_server(80, 43000, 0, 2), 1, "port guess: handshakes before the list");
    CHECK_INT(fsc_port_pick_server(50001, 50000, 0, 0), 1, "port guess: lower port last");
    CHECK_INT(fsc_port_is_service(1023), 1, "well-known ports are service ports");
    CHECK_INT(fsc_port_is_service(33000), 0, "an ephemeral port is not");
}

/*
 * The tap swapped two segments of B: B's ACK of A's FIN (seq = B's FIN + 1: sent after it) is
 * captured before B's FIN, whose ack does not cover A's FIN.  By sequence numbers the FINs
 * crossed (real MySQL traffic, captured at the client): simultaneous, both TIME_WAIT, and the
 * FIN's sequence number is not a missing byte.
 */
static void test_ack_captured_before_own_fin(int a)
{
    const int b = !a;
    const uint32_t na = isn(a) + 101, nb = isn(b) + 101;
    struct trace t;
    struct fsc_flow f;
    char name[80];

    snprintf(name, sizeof name, "ACK captured before its own FIN, %s", side(a));
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, a, F_FA, na, nb, 0, 10000, 7);
    add(&t, b, F_ACK, nb + 1, na + 1, 0, 20000, 8);
    add(&t, b, F_FA, nb, na, 0, 20000, 9);
    add(&t, a, F_ACK, na + 1, nb + 1, 0, 20100, 10);
    run(&f, &t, 30000);
    EXPECT(name, &f, a,
           .tr = TR_OPEN ", 7A established>fin_wait_1 fin, 8A fin_wait_1>closing fin_before, "
                         "8A closing>time_wait peer_ack_fin, 9B established>fin_wait_1 fin, "
                         "9B fin_wait_1>closing fin_reordered, 10B closing>time_wait peer_ack_fin",
           .seg = SEG_OPEN ", 7A fin 101/101, 8B ack_fin 102/102, 9B fin 101/101, "
                           "10A ack_fin,after_fin 102/102",
           .st_a = "time_wait", .st_b = "time_wait", .hs = "three_way", .ck = "simultaneous",
           .closer = "both", .cc = "unknown", .anomalies = "tap_reordered");
    release(&f);
}

/* Picked up at a keep-alive probe (SEG.SEQ = SND.NXT - 1): the probe's byte is not missing. */
static void test_keepalive_start(void)
{
    struct trace t;
    struct fsc_flow f;

    trace_init(&t, &LINK4);
    add(&t, C, F_ACK, CI + 100, SI + 1, 0, 1000, 1); /* probe: SND.NXT is CI + 101 */
    add(&t, S, F_ACK, SI + 1, CI + 101, 0, 1100, 2);
    add(&t, S, F_FA, SI + 1, CI + 101, 0, 5000, 3);
    add(&t, C, F_FA, CI + 101, SI + 2, 0, 5100, 4);
    add(&t, S, F_ACK, SI + 2, CI + 102, 0, 5200, 5);
    run(&f, &t, 9000);
    EXPECT("midstream at a keep-alive probe", &f, C,
           .tr = "1C closed>established mid, 1S closed>established mid, "
                 "3S established>fin_wait_1 fin, 4C established>close_wait ack_fin, "
                 "4S fin_wait_1>fin_wait_2 peer_ack_fin, 4C close_wait>last_ack fin, "
                 "5S fin_wait_2>time_wait ack_fin, 5C last_ack>closed peer_ack_fin",
           .seg = "1C first 0/1, 3S fin 1/1, 4C fin,ack_fin 1/2, 5S ack_fin,after_fin 2/2",
           .st_a = "closed", .st_b = "time_wait", .hs = "none", .ck = "three_way",
           .closer = "server", .cc = "unknown", .dwell = "cw 0 fw2 100 la 100");
    release(&f);
}

/* A bare RST (no ACK) answering data: the reply of a host with no socket for it (RFC 9293
 * 3.10.7.1), not an application's abort (a live socket aborts with RST+ACK). */
static void test_rst_without_socket(void)
{
    struct trace t;
    struct fsc_flow f;

    trace_init(&t, &LINK4);
    add(&t, C, F_PA, CI + 1, SI + 1, 109, 1000, 1);
    add(&t, S, F_RST, SI + 1, 0, 0, 1100, 2);
    run(&f, &t, 9000);
    EXPECT("bare RST answering data", &f, C,
           .tr = "1C closed>established mid, 1S closed>established mid, "
                 "2S established>closed rst, 2C established>closed peer_rst",
           .seg = "1C first_data,first 1/1+109, 2S rst 1/0", .st_a = "closed", .st_b = "closed",
           .hs = "none", .ck = "rst", .rc = "other", .proven = "0", .closer = "server");
    release(&f);
}

/* Out-of-order data later filled (not retransmission) and real retransmissions. */
static void test_out_of_order(void)
{
    struct trace t;
    struct fsc_flow f;

    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, C, F_PA, CI + 101, SI + 101, 100, 7000, 7);  /* [101,201) */
    add(&t, C, F_PA, CI + 301, SI + 101, 100, 7100, 8);  /* [301,401): hole [201,301) */
    add(&t, C, F_PA, CI + 201, SI + 101, 100, 7200, 9);  /* fills the hole: late, not resent */
    add(&t, C, F_PA, CI + 101, SI + 101, 100, 7300, 10); /* resent: 100 */
    add(&t, C, F_PA, CI + 351, SI + 101, 100, 7400, 11); /* 50 resent, 50 new */
    add(&t, S, F_ACK, SI + 101, CI + 451, 0, 7500, 12);
    run(&f, &t, 20000);
    EXPECT("out of order", &f, C, .tr = TR_OPEN, .seg = SEG_OPEN, .st_a = "established",
           .st_b = "established", .hs = "three_way", .ck = "open", .closer = "none",
           .rg = "r150 g0 / r0 g0");
    CHECK_INT(f.ep[C].bytes, 600, "out of order: client bytes");
    CHECK_INT(f.ep[C].snd_max, CI + 451, "out of order: client snd_max");
    release(&f);

    /* A hole that overlaps a late segment only in part. */
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, S, F_PA, SI + 101, CI + 101, 100, 7000, 7); /* [101,201) */
    add(&t, S, F_PA, SI + 301, CI + 101, 100, 7100, 8); /* hole [201,301) */
    add(&t, S, F_PA, SI + 151, CI + 101, 150, 7200, 9); /* 50 resent, hole filled */
    run(&f, &t, 20000);
    EXPECT("out of order, late segment overlaps", &f, S, .tr = TR_OPEN, .seg = SEG_OPEN,
           .st_a = "established", .st_b = "established", .hs = "three_way", .ck = "open",
           .closer = "none", .rg = "r50 g0 / r0 g0");
    release(&f);
}

/* Holes never filled: gap bytes exact at the end. */
static void test_gap(void)
{
    struct trace t;
    struct fsc_flow f;

    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, C, F_PA, CI + 101, SI + 101, 100, 7000, 7); /* [101,201) */
    add(&t, C, F_PA, CI + 301, SI + 101, 100, 7100, 8); /* hole [201,301) */
    add(&t, C, F_PA, CI + 501, SI + 101, 100, 7200, 9); /* hole [401,501) */
    add(&t, C, F_PA, CI + 401, SI + 101, 30, 7300, 10); /* hole now [431,501) */
    add(&t, S, F_ACK, SI + 101, CI + 201, 0, 7400, 11);
    run(&f, &t, 20000);
    EXPECT("gap", &f, C, .tr = TR_OPEN, .seg = SEG_OPEN, .st_a = "established",
           .st_b = "established", .hs = "three_way", .ck = "open", .closer = "none",
           .rg = "r0 g170 / r0 g0");
    CHECK_INT(f.ep[C].holes.n, 0, "gap: holes folded into gap_bytes");
    release(&f);

    /* Five holes: one more than is tracked, counted at once. */
    trace_init(&t, &LINK4);
    opening(&t);
    for (int i = 0; i < 6; i++)
        add(&t, C, F_PA, CI + 101 + 20 * (uint32_t)i, SI + 101, 10, 7000 + i, (uint64_t)i + 7);
    add(&t, C, F_PA, CI + 111, SI + 101, 10, 8000, 13); /* fills the first hole */
    run(&f, &t, 20000);
    EXPECT("gap, five holes", &f, C, .tr = TR_OPEN, .seg = SEG_OPEN, .st_a = "established",
           .st_b = "established", .hs = "three_way", .ck = "open", .closer = "none",
           .rg = "r0 g40 / r0 g0");
    release(&f);

    /*
     * The FIN's sequence number shows 100 bytes the tap never saw ([201,301)): a gap, exactly
     * like a hole opened by later data.
     */
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, C, F_PA, CI + 101, SI + 101, 100, 7000, 7); /* [101,201) */
    add(&t, C, F_FA, CI + 301, SI + 101, 0, 7100, 8);   /* FIN at 301 */
    add(&t, S, F_ACK, SI + 101, CI + 302, 0, 7200, 9);
    add(&t, S, F_FA, SI + 101, CI + 302, 0, 7300, 10);
    add(&t, C, F_ACK, CI + 302, SI + 102, 0, 7400, 11);
    run(&f, &t, 20000);
    EXPECT("gap before FIN", &f, C, .tr = "*",
           .seg = SEG_OPEN ", 8C fin 301/101, 9S ack_fin 101/302, 10S fin 101/302, "
                           "11C ack_fin,after_fin 302/102",
           .st_a = "time_wait", .st_b = "closed", .hs = "three_way", .ck = "four_way",
           .closer = "client", .cc = "unknown", .dwell = "cw 100 fw2 200 la 100",
           .rg = "r0 g100 / r0 g0");
    release(&f);

    /* ... and when the missing bytes show up after the FIN they fill the gap: not resent. */
    trace_init(&t, &LINK4);
    opening(&t);
    add(&t, C, F_PA, CI + 101, SI + 101, 100, 7000, 7); /* [101,201) */
    add(&t, C, F_FA, CI + 301, SI + 101, 0, 7100, 8);   /* FIN at 301 */
    add(&t, C, F_PA, CI + 201, SI + 101, 100, 7150, 9); /* [201,301), first time seen */
    add(&t, S, F_ACK, SI + 101, CI + 302, 0, 7200, 10);
    run(&f, &t, 20000);
    EXPECT("gap before FIN filled", &f, C, .tr = "*", .seg = "*", .st_a = "fin_wait_2",
           .st_b = "close_wait", .hs = "three_way", .ck = "half_closed", .closer = "client",
           .cc = "unknown", .dwell = "cw 12800 fw2 12800 la -", .rg = "r0 g0 / r0 g0");
    release(&f);
}

/* Capture starts mid-connection; A sends the first packet seen and closes first. */
static void test_midstream(int a)
{
    const int b = !a;
    const uint32_t ia = a == C ? 20000 : 90000, ib = a == C ? 90000 : 20000;
    struct trace t;
    struct fsc_flow f;
    char name[64];

    snprintf(name, sizeof name, "midstream %s", side(a));
    trace_init(&t, &LINK4);
    add(&t, a, F_PA, ia + 1, ib + 1, 100, 1000, 1);
    add(&t, b, F_PA, ib + 1, ia + 101, 100, 2000, 2);
    add(&t, a, F_FA, ia + 101, ib + 101, 0, 3000, 3);
    add(&t, b, F_FA, ib + 101, ia + 102, 0, 3100, 4);
    add(&t, a, F_ACK, ia + 102, ib + 102, 0, 3300, 5);
    run(&f, &t, 9000);
    EXPECT(name, &f, a,
           .tr = "1C closed>established mid, 1S closed>established mid, "
                 "3A established>fin_wait_1 fin, 4B established>close_wait ack_fin, "
                 "4A fin_wait_1>fin_wait_2 peer_ack_fin, 4B close_wait>last_ack fin, "
                 "5A fin_wait_2>time_wait ack_fin, 5B last_ack>closed peer_ack_fin",
           .seg = "1A first_data,first 1/1+100, 2B first_data 1/101+100, 3A fin 101/101, "
                  "4B fin,ack_fin 101/102, 5A ack_fin,after_fin 102/102",
           .st_a = "time_wait", .st_b = "closed", .hs = "none", .ck = "three_way", .closer = "A",
           .cc = "unknown", .dwell = "cw 0 fw2 200 la 200");
    CHECK_INT(f.midstream, 1, "midstream: midstream");
    CHECK_INT(f.ep[C].port, 40000, "midstream: client is the higher port");
    CHECK_INT(f.ep[C].isn, 20000, "midstream: client sequence base");
    CHECK_INT(f.ep[S].isn, 90000, "midstream: server sequence base");
    release(&f);

    /* After B's half-close, A sends 1500 bytes starting 1000 below the first byte the capture
     * showed of A's: 1000 were sent before the capture began, 100 again, 400 are new. */
    snprintf(name, sizeof name, "midstream, data reaching before the base %s", side(a));
    trace_init(&t, &LINK4);
    add(&t, a, F_PA, ia + 1001, ib + 1, 100, 1000, 1);
    add(&t, b, F_ACK, ib + 1, ia + 1101, 0, 2000, 2);
    add(&t, b, F_FA, ib + 1, ia + 1101, 0, 3000, 3);
    add(&t, a, F_ACK, ia + 1101, ib + 2, 0, 4000, 4);
    add(&t, a, F_PA, ia + 1, ib + 2, 1500, 5000, 5);
    run(&f, &t, 9000);
    EXPECT(name, &f, a, .tr = "*", .seg = "*", .st_a = "close_wait", .st_b = "fin_wait_2",
           .hs = "none", .ck = "half_closed", .closer = "B", .cc = "unknown",
           .dwell = "cw 5000 fw2 5000 la -", .rg = "r100 g0 / r0 g0", .half_close = 400);
    release(&f);
}

/* Both directions of one flow map to its two endpoints; the first packet decides roles. */
static void test_flow_dir(void)
{
    struct fsc_flow f;
    struct fsc_pkt syn = pkt(C, F_SYN, CI, 0, 0, 1000, 1);
    struct fsc_pkt from_s = pkt(S, F_SA, SI, CI + 1, 0, 1100, 2);

    memset(&f, 0, sizeof f);
    fsc_tcp_flow_init(&f, &syn, -1);
    CHECK_INT(fsc_flow_dir(&f, &syn), C, "flow_dir: SYN sender is the client");
    CHECK_INT(fsc_flow_dir(&f, &from_s), S, "flow_dir: reply is the server");
    CHECK_INT(f.ep[C].state, FSC_TCP_CLOSED, "flow_dir: client starts closed");
    CHECK_INT(f.ep[S].state, FSC_TCP_LISTEN, "flow_dir: server starts listening");
    CHECK_INT(n_transitions(&f), 0, "flow_dir: no transition before the SYN is applied");
    release(&f);

    /* Midstream, first packet from the server: the lower port is the server's. */
    struct fsc_pkt mid = pkt(S, F_ACK, SI + 1, CI + 1, 0, 1000, 1);
    memset(&f, 0, sizeof f);
    fsc_tcp_flow_init(&f, &mid, -1);
    CHECK_INT(fsc_flow_dir(&f, &mid), S, "flow_dir: midstream server packet");
    CHECK_INT(f.ep[C].port, 40000, "flow_dir: midstream client port");
    CHECK_INT(f.ep[S].port, 80, "flow_dir: midstream server port");
    CHECK_INT(f.midstream, 1, "flow_dir: midstream");
    release(&f);

    /* A SYN from the lower port still makes its sender the client. */
    struct fsc_pkt lo = pkt_on(&LINK_LO, C, F_SYN, CI, 0, 0, 1000, 1);
    memset(&f, 0, sizeof f);
    fsc_tcp_flow_init(&f, &lo, -1);
    CHECK_INT(f.ep[C].port, 25, "flow_dir: SYN from port 25 is the client");
    CHECK_INT(fsc_flow_dir(&f, &lo), C, "flow_dir: low-port SYN sender");
    release(&f);
}

int main(void)
{
    test_tokens();
    test_flow_dir();
    for (int a = C; a <= S; a++) {
        test_four_way(a, &LINK4);
        test_four_way(a, &LINK_LO);
        test_three_way(a);
        test_simultaneous_close(a);
        test_ack_principle(a);
        test_half_close(a);
        test_fin_retransmission(a);
        test_rst_abort(a);
        test_rst_data_after_close(a);
        test_rst_other(a);
        test_rst_in_fin_wait_1(a);
        test_rst_after_fins(a);
        test_rst_taps(a);
        test_rst_acceptance(a);
        test_wraparound(a);
        test_midstream(a);
        test_fin_retx_crossing_simultaneous(a);
        test_fin_retx_crossing_four_way(a);
        test_ack_captured_before_own_fin(a);
    }
    test_four_way_ipv6();
    test_synack_first();
    test_simultaneous_open(true);
    test_simultaneous_open(false);
    test_refused(&LINK4);
    test_refused(&LINK_LO);
    test_unanswered();
    test_aborted_handshake();
    test_rst_unread();
    test_self_connect();
    test_out_of_order();
    test_gap();
    test_synack_before_syn();
    test_fin_without_ack();
    test_one_sided_client();
    test_one_sided_server_overflow();
    test_rst_review();
    test_many_holes();
    test_keepalive_start();
    test_rst_without_socket();
    test_holes_capped();
    test_server_port_guess();

    printf("tcpstate: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
