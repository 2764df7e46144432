/*
 * fuzz_flow.c - libFuzzer harness for the inference engine (flow table, tcpstate.c,
 * lifecycle.c, classify.c); with -DFSC_FUZZ_REPLAY (and replay.c), a program that replays saved
 * inputs.
 *
 * The input is a script of segments on one or two tuples.  Sequence and ack numbers are chosen
 * near what each side has sent so far (its ISN, its next number, a little before or after, or
 * anything), so most scripts stay close to real connections and reach the close rules; the
 * flags are arbitrary.  A flow table of 1 to 4 entries forces eviction and recycling.  For every
 * flow written, the harness aborts unless the documented invariant holds (docs/schema.md, "State
 * edges"): every transition is an edge allowed by fsc_tcp_edge_allowed, each endpoint's form
 * one chain from closed or listen, that chain ends in the state the flow reports, and the tokens
 * are in range; and unless the tokens and states agree with the facts they name (a closing
 * state needs its own FIN, a FIN-based kind both FINs, rst a closed endpoint, ...).
 *
 * Long runs (clang):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude tests/fuzz/fuzz_flow.c \
 *       src/flow.c src/tcpstate.c src/lifecycle.c src/classify.c src/seqset.c src/ports.c \
 *       src/zeek.c src/util.c -o fuzz_flow
 *   ./fuzz_flow -max_total_time=600 NEW_DIR tests/fuzz/corpus/flow
 */
#include "finscope/flow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* -DFSC_FUZZ_DEBUG: print the segments and the broken flow's transitions before aborting. */
#ifdef FSC_FUZZ_DEBUG
#define DEBUG(...) fprintf(stderr, __VA_ARGS__)
#else
#define DEBUG(...) ((void)0)
#endif

static void broken(const char *why, const struct fsc_transition *tr, uint32_t n)
{
    DEBUG("broken: %s\n", why);
    for (uint32_t i = 0; i < n; i++)
        DEBUG("  %llu %s %s>%s %s\n", (unsigned long long)tr[i].packet, tr[i].endpoint ? "S" : "C",
              fsc_tcp_state_name(tr[i].from), fsc_tcp_state_name(tr[i].to),
              fsc_evidence_name(tr[i].evidence));
    (void)why;
    (void)tr;
    (void)n;
    abort();
}

/* Each endpoint's sequence space as the script has used it. */
struct side {
    uint32_t isn, nxt;
};

struct script {
    const uint8_t *p;
    size_t n;
};

static uint8_t take(struct script *s)
{
    if (!s->n)
        return 0;
    s->n--;
    return *s->p++;
}

static uint32_t take32(struct script *s)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = v << 8 | take(s);
    return v;
}

/* A sequence number in x's space: next, ISN, a little before or after next, or anything. */
static uint32_t pick(struct script *s, const struct side *x)
{
    uint8_t how = take(s);
    uint32_t d = take(s);

    switch (how % 6) {
    case 0:
    case 1:
        return x->nxt;
    case 2:
        return x->isn + (how & 0x40 ? 1 : 0);
    case 3:
        return x->nxt - d;
    case 4:
        return x->nxt + d;
    default:
        return take32(s);
    }
}

/* The tokens and states agree with the facts they are named from (docs/schema.md). */
static void consistent(const struct fsc_flow *f, const struct fsc_transition *tr, uint32_t n)
{
    const struct fsc_endpoint *c = &f->ep[FSC_CLIENT], *v = &f->ep[FSC_SERVER];

    for (int e = 0; e < 2 && !f->self_connect; e++) {
        const struct fsc_endpoint *x = &f->ep[e], *o = &f->ep[!e];
        uint8_t st = x->state;
        if ((st == FSC_TCP_FIN_WAIT_1 || st == FSC_TCP_FIN_WAIT_2 || st == FSC_TCP_CLOSING ||
             st == FSC_TCP_LAST_ACK || st == FSC_TCP_TIME_WAIT) &&
            !x->fin_sent && x->pkts > 0)
            broken("a closing state without its own FIN", tr, n);
        if ((st == FSC_TCP_CLOSE_WAIT || st == FSC_TCP_LAST_ACK) && !o->fin_sent && o->pkts > 0)
            broken("CLOSE_WAIT or LAST_ACK without the peer's FIN", tr, n);
    }
    if ((f->close_kind == FSC_CK_FOUR_WAY || f->close_kind == FSC_CK_THREE_WAY ||
         f->close_kind == FSC_CK_SIMULTANEOUS) &&
        !(c->fin_sent && v->fin_sent) && !f->one_sided)
        broken("a FIN-based kind without both FINs", tr, n);
    if (f->close_kind == FSC_CK_HALF_CLOSED && c->fin_sent == v->fin_sent && !f->one_sided)
        broken("half_closed without exactly one FIN", tr, n);
    if (f->rst_cause_proven && f->rst_cause == FSC_RC_NONE)
        broken("proven without a cause", tr, n);
    if ((f->closer_call != FSC_CC_NONE) != (f->first_fin_by >= 0))
        broken("closer_call set without a FIN, or the reverse", tr, n);
    if (f->close_kind == FSC_CK_RST && !f->self_connect && c->state != FSC_TCP_CLOSED &&
        v->state != FSC_TCP_CLOSED)
        broken("rst, but neither endpoint closed", tr, n);
    if (f->closer == FSC_CL_NONE &&
        (f->close_kind == FSC_CK_RST || f->close_kind == FSC_CK_FOUR_WAY ||
         f->close_kind == FSC_CK_THREE_WAY))
        broken("a close without a closer", tr, n);
}

static void check_flow(struct fsc_flow *f, void *user)
{
    struct fsc_transition tr[FSC_FLOW_MAX_TRANSITIONS];
    uint32_t n = fsc_flow_transitions(f, tr);
    int last[2] = {-1, -1};

    (void)user;
    if (!f->finalized || (unsigned)f->handshake >= FSC_HS__COUNT ||
        (unsigned)f->close_kind >= FSC_CK__COUNT || (unsigned)f->rst_cause >= FSC_RC__COUNT ||
        (unsigned)f->closer >= FSC_CL__COUNT || (unsigned)f->closer_call >= FSC_CC__COUNT)
        broken("token out of range", tr, n);
    if ((f->rst_cause != FSC_RC_NONE) != (f->close_kind == FSC_CK_RST))
        broken("rst_cause without close_kind rst, or the reverse", tr, n);
    for (uint32_t i = 0; i < n; i++) {
        const struct fsc_transition *t = &tr[i];
        if (t->endpoint > 1 || !fsc_tcp_edge_allowed(t->from, t->to))
            broken("not an edge", tr, n);
        if (last[t->endpoint] < 0 && t->from != FSC_TCP_CLOSED && t->from != FSC_TCP_LISTEN)
            broken("first state neither closed nor listen", tr, n);
        if (last[t->endpoint] >= 0 && last[t->endpoint] != t->from)
            broken("chain broken", tr, n);
        if (i && tr[i].packet < tr[i - 1].packet)
            broken("log not in frame order", tr, n);
        last[t->endpoint] = t->to;
    }
    for (int e = 0; e < 2; e++)
        if (last[e] >= 0 && last[e] != f->ep[e].state && !(f->self_connect && e == FSC_SERVER))
            broken("chain does not end in the reported state", tr, n);
    consistent(f, tr, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct script s = {data, size};
    uint8_t mode = take(&s);
    struct fsc_flow_limits lim = {1 + (mode & 3), (fsc_time)(1 + take(&s)) * 100000,
                                  (fsc_time)(1 + take(&s)) * 1000000};
    struct fsc_flow_table *t = fsc_flow_table_new(&lim, check_flow, NULL);
    struct side sides[2][2];
    fsc_time now = 1000000;
    uint64_t number = 0;

    if (!t)
        return 0;
    for (int c = 0; c < 2; c++)
        for (int e = 0; e < 2; e++) {
            sides[c][e].isn = take32(&s);
            sides[c][e].nxt = sides[c][e].isn;
        }
    while (s.n && number < 400) {
        uint8_t op = take(&s), fl = take(&s), len_class = take(&s);
        int conn = (op >> 1) & 1, dir = op & 1;
        bool self = (mode & 4) && conn == 1;
        struct side *x = &sides[conn][self ? 0 : dir], *y = &sides[conn][self ? 0 : !dir];
        struct fsc_pkt p;

        memset(&p, 0, sizeof p);
        now += (fsc_time)take(&s) * (op & 0x80 ? 100000 : 100);
        p.ts = now;
        p.number = ++number;
        p.ip_version = 4;
        p.src.b[0] = 10;
        p.src.b[3] = (uint8_t)(self ? 1 : 1 + dir);
        p.dst.b[0] = 10;
        p.dst.b[3] = (uint8_t)(self ? 1 : 2 - dir);
        p.sport = self ? 4444 : dir ? 80 : (uint16_t)(40000 + conn);
        p.dport = self ? 4444 : dir ? (uint16_t)(40000 + conn) : 80;
        p.flags = fl & (FSC_TH_FIN | FSC_TH_SYN | FSC_TH_RST | FSC_TH_PSH | FSC_TH_ACK);
        p.seq = (op & 0x40) ? pick(&s, x) : x->nxt;
        p.ack = (op & 0x20) ? pick(&s, y) : y->nxt;
        p.window = 65535;
        static const uint32_t lens[] = {0, 0, 0, 1, 10, 100, 1460, 65000};
        p.payload_len = lens[len_class & 7];
        if (p.flags & FSC_TH_SYN) {
            if (!(op & 0x10))
                x->isn = p.seq;
            x->nxt = p.seq + 1;
        } else if (!(p.flags & FSC_TH_RST) && (int32_t)(p.seq + p.payload_len - x->nxt) > 0) {
            x->nxt = p.seq + p.payload_len;
        }
        if (p.flags & FSC_TH_FIN)
            x->nxt = p.seq + p.payload_len + 1;
        DEBUG("%llu %s %s%s%s%s%s seq %u ack %u len %u t %lld\n", (unsigned long long)p.number,
              self  ? "self"
              : dir ? "S"
                    : "C",
              p.flags & FSC_TH_SYN ? "S" : "", p.flags & FSC_TH_FIN ? "F" : "",
              p.flags & FSC_TH_RST ? "R" : "", p.flags & FSC_TH_PSH ? "P" : "",
              p.flags & FSC_TH_ACK ? "." : "", p.seq, p.ack, p.payload_len, (long long)p.ts);
        if (fsc_flow_table_packet(t, &p) != 0)
            break;
    }
    fsc_flow_table_flush(t, now + 1);
    fsc_flow_table_free(t);
    return 0;
}
