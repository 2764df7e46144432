/* tcpstate.c - what each segment of a flow shows about its two endpoints (the facts). */
#include <stdlib.h>
#include <string.h>

#include "finscope/tcpstate.h"

#include "finscope/classify.h"
#include "finscope/flow.h"
#include "finscope/lifecycle.h"

/*
 * The rules below are written once for (s, r): s is the endpoint that sent the segment, r the
 * one it is addressed to.  For a self-connected socket s and r are the same endpoint.
 *
 * This file records facts and the first frame that shows each (a mark, tcpstate.h):
 * ../shared/DESIGN.md section 1: that r had received a SYN or FIN is shown by the first segment
 * of r whose ack field covers it; that s sent something, by the segment sent.  lifecycle.c turns
 * the facts into states; classify.c into tokens.
 */

const struct fsc_mark *fsc_ack_proof_final(const struct fsc_ack_proof *a)
{
    return fsc_mark_set(&a->ack) ? &a->ack : &a->crossed;
}

static bool same_addr(const struct fsc_addr *a, const struct fsc_addr *b)
{
    return memcmp(a->b, b->b, sizeof a->b) == 0;
}

static struct fsc_mark mark_of(const struct fsc_pkt *p, unsigned how)
{
    return (struct fsc_mark){.ts = p->ts, .packet = p->number, .how = how};
}

/* Set m at p unless it is set already; true when this call set it. */
static bool mark_first(struct fsc_mark *m, const struct fsc_pkt *p, unsigned how)
{
    if (fsc_mark_set(m))
        return false;
    *m = mark_of(p, how);
    return true;
}

static void add_segment(struct fsc_flow *f, int dir, const struct fsc_pkt *p, unsigned why)
{
    if (f->n_seg >= FSC_FLOW_MAX_SEGMENTS) {
        f->dropped_seg++;
        return;
    }
    if (f->n_seg == f->cap_seg && fsc_flow_seg_grow(f) < 0) {
        f->dropped_seg++;
        return;
    }
    struct fsc_segment *g = &f->seg[f->n_seg++];
    g->ts = p->ts;
    g->packet = p->number;
    /* Raw numbers for now; fsc_classify makes them relative once both bases are known. */
    g->rel_seq = p->seq;
    g->rel_ack = p->ack;
    g->len = p->payload_len;
    g->from = (uint8_t)dir;
    g->flags = p->flags;
    g->why = (uint8_t)why;
}

/* Move x's snd_max forward to seq (never back), keeping the unwrapped count in step. */
static void advance(struct fsc_endpoint *x, uint32_t seq)
{
    if (FSC_SEQ_GT(seq, x->snd_max)) {
        x->snd_max64 += (uint32_t)(seq - x->snd_max);
        x->snd_max = seq;
    }
}

/*
 * Account payload [lo, hi) sent by x: new bytes extend snd_max (a jump forward opens a hole),
 * bytes filling a hole are late but not retransmitted, everything else below snd_max is a
 * retransmission.  Exact for any number of holes up to FSC_SEQSET_MAX (then holes_capped).
 * Returns the number of new bytes; *late_after_fin: the bytes filling a hole at or above
 * x->after_fin (sent after x received its peer's FIN, wherever the tap sits).
 */
static uint32_t account_payload(struct fsc_flow *f, struct fsc_endpoint *x, uint32_t lo,
                                uint32_t hi, uint32_t *late_after_fin)
{
    /* Bytes below the first one the capture showed (midstream) were sent before it began:
     * neither new nor, as far as the capture shows, sent twice. */
    int64_t at = (int64_t)x->snd_max64 + FSC_SEQ_DIFF(x->snd_max, lo);
    int64_t end = at + (uint32_t)(hi - lo);
    if (at < 1) {
        if (end <= 1)
            return 0;
        at = 1;
    }
    uint64_t a = (uint64_t)at, b = (uint64_t)end, top = x->snd_max64, dropped = 0, fresh = 0;
    uint64_t old_hi = b;

    if (a > top && !fsc_seqset_add_top(&x->holes, top, a))
        x->gap_bytes += a - top; /* too many holes to track: counted now */
    if (b > top) {
        old_hi = a > top ? a : top;
        fresh = b - old_hi;
        advance(x, hi);
    }
    *late_after_fin = 0;
    if (old_hi > a) {
        uint64_t cut = x->after_fin == 0 || x->after_fin > old_hi ? old_hi
                       : x->after_fin < a                         ? a
                                                                  : x->after_fin;
        uint64_t late = 0, dropped_late = 0;
        uint64_t filled = fsc_seqset_remove(&x->holes, a, cut, &dropped);
        if (cut < old_hi)
            late = fsc_seqset_remove(&x->holes, cut, old_hi, &dropped_late);
        x->retrans_bytes += (old_hi - a) - filled - late;
        x->gap_bytes += dropped + dropped_late;
        *late_after_fin = (uint32_t)late;
    }
    if (x->holes.capped)
        f->anomalies |= FSC_AN_HOLES_CAPPED;
    return (uint32_t)fresh;
}

/*
 * Whether the receiver r takes s's RST (RFC 9293 sections 3.10.7.3 and 3.10.7.4, with RFC 5961
 * section 3.2, as Linux does in tcp_validate_incoming).  In SYN-SENT it must acknowledge the SYN.
 * Otherwise only a RST at exactly RCV.NXT resets; one elsewhere in the window draws a challenge
 * ACK and the connection lives on, one outside it is dropped.  r's RCV.NXT lies between its
 * highest ack and the end of what s was seen to send: a RST there is exact.  One beyond that
 * may be at bytes of s the tap missed: tentative, it counts only if nothing but RSTs follow.
 */
enum rst_fit { RST_DROPPED, RST_EXACT, RST_TENTATIVE };

#define RST_SLACK (1 << 24)

static enum rst_fit rst_fit(const struct fsc_flow *f, const struct fsc_endpoint *s,
                            const struct fsc_endpoint *r, const struct fsc_pkt *p)
{
    if (f->self_connect || r->pkts == 0) /* nothing of r seen: no state or window to judge by */
        return RST_EXACT;
    /* r had reset first: this RST crossed its own (a reset socket sends nothing more), and r's
     * acks from its RST on say nothing of what this one met. */
    if (r->rst_sent && f->first_rst_by == (int)(r - f->ep))
        return RST_EXACT;
    if (r->state == FSC_TCP_SYN_SENT) /* 3.10.7.3: acceptable if ISS < SEG.ACK =< SND.NXT */
        return (p->flags & FSC_TH_ACK) && r->syn_sent && FSC_SEQ_GT(p->ack, r->isn) &&
                       FSC_SEQ_LEQ(p->ack, r->snd_max)
                   ? RST_EXACT
                   : RST_DROPPED;
    if (!r->ack_seen && s->pkts <= 1) /* nothing else seen of either window */
        return RST_EXACT;
    /* Linux's tcp_reset_check: one below RCV.NXT resets a receiver that has s's FIN (CLOSE_WAIT,
     * LAST_ACK, CLOSING): an orphan's reply to data that crossed its FIN carries the FIN's seq. */
    if (s->fin_sent && r->ack_seen && r->ack_hi == s->fin_seq + 1 && p->seq == s->fin_seq)
        return RST_EXACT;
    /* RCV.NXT is at least r's highest ack, and at most what s sent (s's snd_max means nothing
     * when this RST is all the tap saw of s). */
    uint32_t lo = r->ack_seen ? r->ack_hi : s->isn, hi = lo;
    if (s->pkts > 1 && FSC_SEQ_GT(s->snd_max, hi))
        hi = s->snd_max;
    if (FSC_SEQ_GEQ(p->seq, lo) && FSC_SEQ_LEQ(p->seq, hi))
        return RST_EXACT;
    if (FSC_SEQ_GT(p->seq, hi) && (uint32_t)(p->seq - hi) <= RST_SLACK)
        return RST_TENTATIVE;
    return RST_DROPPED;
}

void fsc_tcp_flow_init(struct fsc_flow *f, const struct fsc_pkt *p, int server_hint)
{
    int c = FSC_CLIENT, s = FSC_SERVER;
    bool syn = (p->flags & FSC_TH_SYN) != 0, ack = (p->flags & FSC_TH_ACK) != 0;
    bool src_is_client;

    f->ip_version = p->ip_version;
    f->first_ts = f->last_ts = p->ts;
    f->first_packet = p->number;
    f->first_fin_by = f->first_rst_by = -1;
    f->close_wait_us = f->fin_wait_2_us = f->last_ack_us = -1;
    f->self_connect = same_addr(&p->src, &p->dst) && p->sport == p->dport;

    if (syn && !ack)
        src_is_client = true;
    else if (syn && ack)
        src_is_client = false; /* the SYN before this SYN+ACK was not captured */
    else if (server_hint >= 0)
        src_is_client = server_hint == 1;
    else /* midstream, nothing better known: the lower, well-known port is the server's */
        src_is_client = p->sport > p->dport || (p->sport == p->dport && !f->self_connect);

    f->ep[c].addr = src_is_client ? p->src : p->dst;
    f->ep[c].port = src_is_client ? p->sport : p->dport;
    f->ep[s].addr = src_is_client ? p->dst : p->src;
    f->ep[s].port = src_is_client ? p->dport : p->sport;
    f->ep[c].state = FSC_TCP_CLOSED;
    f->ep[s].state = FSC_TCP_LISTEN;

    if (syn && ack) {
        /* The client's SYN is implied by the SYN+ACK's ack field (a self-connected socket's
         * own SYN, for one that started at its SYN+ACK). */
        f->anomalies |= FSC_AN_SYNACK_NO_SYN;
        f->ep[c].syn_sent = f->ep[c].seq_known = true;
        f->ep[c].isn = p->ack - 1;
        f->ep[c].snd_max = p->ack;
        f->ep[c].snd_max64 = 1;
        f->ep[c].syn = mark_of(p, FSC_MK_IMPLIED);
    } else if (!syn) {
        f->midstream = true;
        f->ep[s].state = FSC_TCP_CLOSED; /* no SYN seen: nothing says it was listening */
    }
    fsc_lifecycle_refresh(f);
}

int fsc_flow_dir(const struct fsc_flow *f, const struct fsc_pkt *p)
{
    if (f->self_connect)
        return FSC_CLIENT;
    return p->sport == f->ep[FSC_CLIENT].port && same_addr(&p->src, &f->ep[FSC_CLIENT].addr)
               ? FSC_CLIENT
               : FSC_SERVER;
}

void fsc_flow_swap_roles(struct fsc_flow *f)
{
    struct fsc_endpoint t = f->ep[0];

    f->ep[0] = f->ep[1];
    f->ep[1] = t;
    if (f->first_fin_by >= 0)
        f->first_fin_by = !f->first_fin_by;
    if (f->first_rst_by >= 0)
        f->first_rst_by = !f->first_rst_by;
    for (uint32_t i = 0; i < f->n_seg; i++)
        f->seg[i].from = !f->seg[i].from;
    f->rst_pending.by = !f->rst_pending.by;
    /* The RST causes were judged for both roles when they were seen (rst_reading). */
    fsc_lifecycle_refresh(f);
}

/* One segment being applied: who sent it, to whom, and what it changed. */
struct seg {
    struct fsc_flow *f;
    const struct fsc_pkt *p;
    int sd, rd;
    struct fsc_endpoint *s, *r;
    bool syn, fin, rst, ack;
    bool replay;    /* a pending RST confirmed at the end: counted and kept when captured */
    unsigned why;   /* FSC_SEG_* */
    bool changed;   /* a fact the states depend on changed */
    bool ahead;     /* a bare ACK beyond everything s had sent: something unseen precedes it */
    uint32_t fresh; /* new payload bytes */
    uint32_t late_after_fin; /* bytes filling a hole, sent after the peer's FIN arrived */
};

static struct seg seg_of(struct fsc_flow *f, int dir, const struct fsc_pkt *p)
{
    struct seg g = {
        .f = f,
        .p = p,
        .sd = dir,
        .rd = fsc_flow_peer(f, dir),
        .syn = p->flags & FSC_TH_SYN,
        .fin = p->flags & FSC_TH_FIN,
        .rst = p->flags & FSC_TH_RST,
        .ack = p->flags & FSC_TH_ACK,
    };
    g.s = &f->ep[g.sd];
    g.r = &f->ep[g.rd];
    return g;
}

/* Sequence base: the ISN of a SYN (which occupies it), else (midstream) the byte before the
 * first one seen.  A SYN or SYN+ACK with a new ISN before the old one was acked replaces it
 * (the peer will ack the new one). */
static void sequence_base(struct seg *g)
{
    struct fsc_endpoint *s = g->s;
    const struct fsc_pkt *p = g->p;

    if (g->syn &&
        (!s->syn_sent || (p->seq != s->isn && !fsc_mark_set(fsc_ack_proof_final(&s->syn_acked))))) {
        if (s->syn_sent && p->seq != s->isn)
            g->f->anomalies |= FSC_AN_SYN_CHANGED;
        s->isn = p->seq;
        s->snd_max = p->seq + 1;
        s->snd_max64 = 1;
        s->seq_known = true;
    } else if (g->syn && p->seq != s->isn) {
        g->f->anomalies |= FSC_AN_SYN_CHANGED;
    } else if (!s->seq_known) {
        s->isn = p->seq - 1;
        s->snd_max = p->seq;
        s->snd_max64 = 1;
        s->seq_known = true;
        s->base_soft = p->payload_len == 0 && !g->fin && !g->rst;
    }
}

/*
 * A flow picked up at a keep-alive probe (a bare ACK at SEG.SEQ = SND.NXT - 1, RFC 9293 3.8.4):
 * the sender's next segment, or the peer's ack, lies one past it.  That byte was sent and acked
 * before the capture began: it is not missing, so the base moves up one.
 */
static void settle_base(struct fsc_endpoint *x, uint32_t seq)
{
    if (x->base_soft && seq == x->snd_max + 1) {
        x->isn++;
        x->snd_max++;
    }
}

/* Payload and sequence space: retransmissions, holes, what the payload answers. */
static void payload(struct seg *g, uint32_t data_lo, uint32_t data_hi)
{
    struct fsc_flow *f = g->f;
    struct fsc_endpoint *s = g->s, *r = g->r;
    const struct fsc_pkt *p = g->p;

    if (s->pkts > 1) { /* its next segment settles a base taken from a bare ACK */
        settle_base(s, data_lo);
        s->base_soft = false;
    }
    if (p->payload_len > 0 && !g->rst) {
        g->fresh = account_payload(f, s, data_lo, data_hi, &g->late_after_fin);
        if (!s->data_sent)
            g->why |= FSC_SEG_FIRST_DATA;
        if (!s->data_sent || FSC_SEQ_GT(data_hi, s->data_hi))
            s->data_hi = data_hi;
        s->data_sent = true;
        /* New payload answers what s had received when it sent it: its own ack field. */
        if (g->fresh && g->ack && r->seq_known) {
            s->answered = fsc_seq64(r, p->ack);
            s->answered_set = true;
        }
        if (g->fresh && s->fin_sent)
            f->anomalies |= FSC_AN_DATA_AFTER_FIN;
        if (g->fresh && r->fin_sent)
            s->data_after_peer_fin = true;
        if (f->first_rst_by >= 0)
            f->anomalies |= FSC_AN_DATA_AFTER_RST;
        if (f->first_fin_by >= 0)
            g->why |= FSC_SEG_AFTER_FIN;
    } else if (!g->syn && !g->rst && FSC_SEQ_GT(data_lo, s->snd_max)) {
        g->ahead = !g->fin && s->pkts > 1;
        uint32_t none;
        account_payload(f, s, data_lo, data_lo, &none); /* a FIN or ACK beyond unseen bytes */
    }
    /* A FIN below snd_max: a segment sent after it was captured first.  Its sequence number is
     * the FIN's own, never a missing byte. */
    if (g->fin && FSC_SEQ_LT(data_hi, s->snd_max)) {
        uint64_t at = fsc_seq64(s, data_hi), dropped = 0;
        fsc_seqset_remove(&s->holes, at, at + 1, &dropped);
        s->gap_bytes += dropped;
    }
    /* A RST occupies no sequence space, and its payload (RFC 9293 3.5.3: diagnostic text) is
     * no stream data. */
    if (!g->rst)
        advance(s, data_hi + (g->fin ? 1 : 0));
}

static void pre_fin_ack(struct fsc_endpoint *s, uint32_t ack)
{
    if (!s->ack_pre_fin_seen || FSC_SEQ_GT(ack, s->ack_pre_fin))
        s->ack_pre_fin = ack;
    s->ack_pre_fin_seen = true;
}

/* The ack field: how far s has received, and (by sequence number) what it had acked before
 * its FIN.  A retransmission carries a newer ack and says nothing about the order; nor does a
 * bare ACK captured before a FIN it follows in sequence (a tap that swapped the two). */
static void ack_field(struct seg *g)
{
    struct fsc_endpoint *s = g->s, *r = g->r;
    const struct fsc_pkt *p = g->p;

    settle_base(r, p->ack);
    r->base_soft = false;
    if (r->seq_known && FSC_SEQ_GT(p->ack, r->snd_max) && r->pkts > 0)
        g->f->anomalies |= FSC_AN_ACK_UNSEEN;
    if (!s->ack_seen) {
        s->ack_hi = s->ack_first = p->ack;
        s->ack_seen = true;
        s->first_ack = s->ack_rise = mark_of(p, FSC_MK_SEEN);
        g->changed = true;
        if (r->pkts == 0 && !g->syn && r != s && !g->f->midstream) /* acks an unseen SYN */
            g->why |= FSC_SEG_ACK_SYN;
    } else if (FSC_SEQ_GT(p->ack, s->ack_hi)) {
        s->ack_prev = s->ack_hi;
        s->ack_hi = p->ack;
        s->ack_rise = mark_of(p, FSC_MK_SEEN);
        if (s->ack_rises < 255)
            s->ack_rises++;
        g->changed |= mark_first(&s->ack_moved, p, FSC_MK_SEEN);
        if (r->pkts == 0 && r != s) /* the unseen peer is read from these acks (lifecycle.c) */
            g->changed = true;
        if (r->pkts == 0 && r != s && s->ack_hi - s->ack_prev == 1)
            g->why |= FSC_SEG_ACK_FIN; /* likely acks a FIN the tap did not see (lifecycle.c) */
    }
    if (g->ahead && !s->fin_sent) { /* before or after its FIN: its FIN will tell */
        if (!s->ack_ahead_seen || FSC_SEQ_GT(p->ack, s->ack_ahead)) {
            s->ack_ahead = p->ack;
            s->ack_ahead_seq = p->seq;
        }
        s->ack_ahead_seen = true;
    } else if ((!s->fin_sent && !g->fin) ||
               (s->fin_sent && !g->fin && !g->syn && !g->rst && p->payload_len == 0 &&
                FSC_SEQ_LEQ(p->seq, s->fin_seq))) {
        pre_fin_ack(s, p->ack);
    }
}

/*
 * Whether a segment captured at `at` can have been sent before an ack captured at `ack_ts`
 * arrived: at either tap the two are less than a round trip apart (at the sender's tap, less
 * than the delay from the tap).  The capture's handshake bounds the round trip; without one,
 * anything may have crossed.
 */
#define CROSS_SLACK_US 10000

static bool may_cross(const struct fsc_flow *f, fsc_time ack_ts, fsc_time at)
{
    if (!f->syn_ts || !f->hs_done_ts || f->hs_done_ts < f->syn_ts)
        return true;
    return at - ack_ts <= 2 * (f->hs_done_ts - f->syn_ts) + CROSS_SLACK_US;
}

/* s (re)sent its SYN or FIN: an ack of it captured before shows only that the ack had not
 * reached s yet.  It crossed the retransmission in flight (set aside: if no later ack comes,
 * s got this one) or, a round trip and more before it, was lost after the tap (it does not
 * count): the next ack is the one. */
static void resent(const struct fsc_flow *f, struct fsc_ack_proof *a, const struct fsc_pkt *p)
{
    if (fsc_mark_set(&a->ack)) {
        if (may_cross(f, a->ack.ts, p->ts))
            a->crossed = mark_of(p, FSC_MK_CROSSED);
        else
            memset(&a->crossed, 0, sizeof a->crossed);
        memset(&a->ack, 0, sizeof a->ack);
    }
}

/* s's SYN (bare, or the SYN of a SYN+ACK): a transition that depends only on sending. */
static void syn_sent(struct seg *g)
{
    struct fsc_flow *f = g->f;
    struct fsc_endpoint *s = g->s, *r = g->r;
    const struct fsc_pkt *p = g->p;

    g->why |= FSC_SEG_SYN;
    g->changed = true;
    if (g->fin)
        f->anomalies |= FSC_AN_SYN_FIN;
    if (!g->ack) {
        if (s->syn.how == FSC_MK_IMPLIED && fsc_mark_set(&s->syn) && p->seq == s->isn) {
            /* The SYN a SYN+ACK captured earlier implied: the tap reordered them. */
            s->syn = mark_of(p, FSC_MK_SEEN);
            f->anomalies = (f->anomalies & ~FSC_AN_SYNACK_NO_SYN) | FSC_AN_TAP_REORDER;
            if (g->sd == FSC_CLIENT)
                f->syn_ts = p->ts;
        } else if (s->syn_sent && s->state == FSC_TCP_SYN_SENT) {
            f->anomalies |= FSC_AN_SYN_RETRANS;
        }
        mark_first(&s->syn, p, FSC_MK_SEEN);
        /* RFC 9293 section 3.5 simultaneous open: both bare SYNs before either is acked. */
        if (!f->self_connect && fsc_mark_set(&r->syn) && r->syn.how != FSC_MK_IMPLIED &&
            !r->synack_sent && !fsc_mark_set(fsc_ack_proof_final(&r->syn_acked)) &&
            !fsc_mark_set(fsc_ack_proof_final(&s->syn_acked)))
            f->both_syn_unacked = true;
        /* The handshake RTT runs from the client's last SYN before the ACK that completes it. */
        if (g->sd == FSC_CLIENT && !f->hs_done_ts)
            f->syn_ts = p->ts;
    } else {
        s->synack_sent = true;
        mark_first(&s->synack, p, FSC_MK_SEEN);
    }
    bool first = !s->syn_sent;
    s->syn_sent = true;
    resent(f, &s->syn_acked, p);
    /* r's ack of this SYN captured before it (a tap that reorders the two directions). */
    if (first && r != s && r->ack_seen && FSC_SEQ_DIFF(s->isn + 1, r->ack_hi) >= 0 &&
        FSC_SEQ_DIFF(s->isn + 1, r->ack_hi) <= (1 << 20)) {
        r->rcvd_syn = r->first_ack;
        r->rcvd_syn.how = FSC_MK_EARLY;
        s->syn_acked.ack = mark_of(p, FSC_MK_EARLY);
        f->anomalies |= FSC_AN_TAP_REORDER;
    }
}

/* What s's ack field proves: s received r's SYN / FIN, and r's SYN / FIN is acknowledged. */
static void ack_proves(struct seg *g)
{
    struct fsc_flow *f = g->f;
    struct fsc_endpoint *s = g->s, *r = g->r;
    const struct fsc_pkt *p = g->p;

    /* A RST's ack field tells what its sender had received; its receiver processes the RST
     * before the ACK field (RFC 9293 3.10.7.4, Linux's tcp_validate_incoming): it acks
     * nothing of the receiver's. */
    if (r->syn_sent && FSC_SEQ_GEQ(p->ack, r->isn + 1)) {
        g->changed |= mark_first(&s->rcvd_syn, p, FSC_MK_SEEN);
        if (!g->rst && mark_first(&r->syn_acked.ack, p, FSC_MK_SEEN)) {
            g->why |= FSC_SEG_ACK_SYN;
            g->changed = true;
        }
        if (g->sd == FSC_CLIENT && !f->hs_done_ts && !g->rst)
            f->hs_done_ts = p->ts;
    }
    if (r->fin_sent && FSC_SEQ_GEQ(p->ack, r->fin_seq + 1)) {
        if (mark_first(&s->rcvd_fin, p, FSC_MK_SEEN)) {
            g->changed = true;
            /* A bare ACK (or FIN) carries its sender's SND.NXT; at or beyond all it was seen to
             * send, it shows where it stood when the FIN had arrived: every byte from there
             * on was sent after (a keepalive's or a retransmission's seq is lower). */
            uint64_t at = fsc_seq64(s, p->seq);
            if (p->payload_len == 0 && !g->syn && at >= s->snd_max64)
                s->after_fin = at ? at : 1;
        }
        if (!g->rst && mark_first(&r->fin_acked.ack, p, FSC_MK_SEEN)) {
            g->why |= FSC_SEG_ACK_FIN;
            g->changed = true;
        }
        /* s received r's FIN segment, and that segment acked s's own FIN: s has its ack,
         * whatever became of the ones captured before (a late FIN+ACK, s resending). */
        if (s->fin_sent && r->fin_seg_has_ack && FSC_SEQ_GEQ(r->fin_seg_ack, s->fin_seq + 1))
            g->changed |= mark_first(&s->fin_acked.ack, p, FSC_MK_VIA_FIN);
    }
}

/* s's FIN (RFC 9293 section 3.10.4, CLOSE): a transition that depends only on sending. */
static void fin_sent(struct seg *g, uint32_t fseq)
{
    struct fsc_flow *f = g->f;
    struct fsc_endpoint *s = g->s, *r = g->r;
    const struct fsc_pkt *p = g->p;

    g->why |= FSC_SEG_FIN;
    if (!g->ack) {
        /* RFC 9293 3.10.7.4 "fifth, check the ACK field": a segment without ACK is dropped by
         * a synchronized receiver; in LISTEN or SYN-SENT a FIN is not processed either. */
        if (!g->syn)
            f->anomalies |= FSC_AN_FIN_NO_ACKBIT;
        return;
    }
    if (s->fin_sent) {
        if (fseq != s->fin_seq) {
            f->anomalies |= FSC_AN_FIN_MOVED;
            return;
        }
        s->fin_retrans++;
        resent(f, &s->fin_acked, p);
        g->changed = true;
        return;
    }
    s->fin_sent = true;
    s->fin_seq = fseq;
    s->fin_seg_has_ack = true;
    s->fin_seg_ack = p->ack;
    if (s->ack_ahead_seen && FSC_SEQ_LEQ(s->ack_ahead_seq, fseq))
        pre_fin_ack(s, s->ack_ahead); /* it only skipped unseen data */
    else if (s->ack_ahead_seen)
        f->anomalies |= FSC_AN_TAP_REORDER;
    s->fin = mark_of(p, FSC_MK_SEEN);
    g->changed = true;
    if (f->first_fin_by < 0) {
        f->first_fin_by = g->sd;
        f->first_fin_packet = p->number;
    }
    /* r's ack of this FIN captured before the FIN itself. */
    if (r != s && r->ack_seen && r->ack_hi == fseq + 1) {
        r->rcvd_fin = r->ack_rise;
        r->rcvd_fin.how = FSC_MK_EARLY;
        s->fin_acked.ack = mark_of(p, FSC_MK_EARLY);
        f->anomalies |= FSC_AN_TAP_REORDER;
    }
}

/*
 * The closer's orphaned FIN_WAIT_2 socket was gone (Linux destroys it after tcp_fin_timeout):
 * a bare RST (no ACK: the reply to a segment no socket wanted) answers the peer's FIN, which
 * carried no payload the closer had not acknowledged.
 */
static bool fin_wait_2_gone(const struct seg *g)
{
    const struct fsc_endpoint *s = g->s, *r = g->r;

    return g->sd == g->f->first_fin_by && s->state == FSC_TCP_FIN_WAIT_2 && r->fin_sent &&
           !g->ack && (!r->data_sent || FSC_SEQ_LEQ(r->data_hi, s->ack_hi));
}

/*
 * Whether s's RST comes after the close: s had sent its FIN and received the peer's (its acks,
 * or this RST's own ack, cover it), or it answers the peer's FIN from a FIN_WAIT_2 socket that
 * was gone.  Acks, not capture order: the peer's FIN may pass a tap only after the RST.
 */
static bool rst_after_fins(const struct seg *g)
{
    struct fsc_endpoint v[2];
    const struct fsc_endpoint *view = g->f->ep;

    if (g->f->self_connect)
        return g->s->fin_sent;
    if (g->r->pkts == 0) { /* one-sided: what s's acks show of the peer */
        fsc_flow_view(g->f, v);
        view = v;
    }
    const struct fsc_endpoint *s = &view[g->sd], *r = &view[g->rd];
    if (!s->fin_sent || !r->fin_sent)
        return false;
    return fsc_mark_set(&s->rcvd_fin) || fin_wait_2_gone(g);
}

/* s's accepted RST (RFC 9293 section 3.10.7.4, "second, check the RST bit"). */
static void rst_sent(struct seg *g)
{
    struct fsc_flow *f = g->f;
    struct fsc_endpoint *s = g->s;
    const struct fsc_pkt *p = g->p;

    if (g->fin)
        f->anomalies |= FSC_AN_FIN_RST;
    if (p->payload_len)
        f->anomalies |= FSC_AN_RST_DATA;
    if (g->changed) /* this segment's own acks count for the states the cause reads */
        fsc_lifecycle_refresh(f);
    bool first_of_s = !s->rst_sent, after = first_of_s && rst_after_fins(g);
    if (first_of_s) {
        s->rst_flags = p->flags;
        s->rst_seq = p->seq;
        s->rst_ack = p->ack;
        s->rst = mark_of(p, FSC_MK_SEEN);
    }
    if (!first_of_s || after) {
        f->rst_after_close++;
        f->anomalies |= FSC_AN_RST_NO_STATE;
        if (!f->rst_answered_fin && fin_wait_2_gone(g)) {
            f->rst_answered_fin = true;
            f->anomalies |= FSC_AN_FW2_TIMEOUT;
        }
    } else {
        /* The first RST ended the connection.  One from the other endpoint that follows was
         * sent before that one arrived (a reset socket sends nothing): they crossed. */
        bool crossing = f->first_rst_by >= 0;
        if (crossing)
            f->rst_crossed = true;
        else
            f->first_rst_by = g->sd;
        fsc_rst_judge(f, g->sd, p, crossing); /* why, judged on the facts of this moment */
    }
    s->rst_sent = true;
    g->changed = true;
}

/* Everything a segment shows, once it is known to count. */
static void apply(struct seg *g, bool first_pkt)
{
    struct fsc_flow *f = g->f;
    const struct fsc_pkt *p = g->p;
    const uint32_t data_lo = p->seq + (g->syn ? 1 : 0), data_hi = data_lo + p->payload_len;

    payload(g, data_lo, data_hi);
    if (g->ack)
        ack_field(g);
    if (g->syn)
        syn_sent(g);
    if (g->ack)
        ack_proves(g);
    /* A non-SYN segment with ACK shows its sender was synchronized (RFC 9293 3.10.7.4). */
    if (g->ack && !g->syn && !g->rst)
        g->changed |= mark_first(&g->s->est, p, FSC_MK_SEEN);
    /* Payload the passive side sent after it had received the first FIN (half-close). */
    if ((g->fresh || g->late_after_fin) && f->first_fin_by >= 0 && g->sd != f->first_fin_by &&
        fsc_mark_set(&g->s->rcvd_fin) && !f->self_connect)
        f->half_close_bytes += g->fresh + g->late_after_fin;
    if (g->fin && !g->rst) /* a RST is processed first: the FIN of a FIN+RST is not */
        fin_sent(g, data_hi);
    else if (g->fin)
        g->why |= FSC_SEG_FIN;
    else if (fsc_flow_fins_sent(f))
        g->why |= FSC_SEG_AFTER_FIN; /* the teardown tail: final ACKs, TIME_WAIT re-ACKs */
    if (g->rst) {
        g->why |= FSC_SEG_RST;
        rst_sent(g);
    }

    if (first_pkt && f->midstream)
        g->why |= FSC_SEG_FIRST;
    if (g->why && !g->replay)
        add_segment(f, g->sd, p, g->why);
    if (g->changed)
        fsc_lifecycle_refresh(f);
}

/*
 * A RST that may fall on bytes the tap missed: hold it (the flow lingers as if closed).  It
 * counts if nothing but RSTs follow (fsc_tcp_flow_end); anything else shows the receiver
 * ignored it (fsc_tcp_segment).
 */
static void hold_rst(struct seg *g)
{
    struct fsc_flow *f = g->f;
    const struct fsc_pkt *p = g->p;

    f->rst_pending.ts = p->ts;
    f->rst_pending.packet = p->number;
    f->rst_pending.seq = p->seq;
    f->rst_pending.ack = p->ack;
    f->rst_pending.len = p->payload_len;
    f->rst_pending.flags = p->flags;
    f->rst_pending.by = (uint8_t)g->sd;
    add_segment(f, g->sd, p, FSC_SEG_RST);
    fsc_lifecycle_refresh(f);
}

/* The held RST counts, at its own frame: nothing but RSTs followed it, or its receiver's ack
 * showed it sat at RCV.NXT. */
static void confirm_rst(struct fsc_flow *f)
{
    if (!f->rst_pending.packet)
        return;
    struct fsc_pkt p = {
        .ts = f->rst_pending.ts,
        .number = f->rst_pending.packet,
        .seq = f->rst_pending.seq,
        .ack = f->rst_pending.ack,
        .payload_len = f->rst_pending.len,
        .flags = f->rst_pending.flags,
    };
    struct seg g = seg_of(f, f->rst_pending.by, &p);

    memset(&f->rst_pending, 0, sizeof f->rst_pending);
    g.replay = true;
    g.changed = true;
    apply(&g, false);
}

/* The RST that ended the flow did nothing: its sender went on sending.  A RST of the peer that
 * crossed it is now the one. */
static void revoke_rst(struct fsc_flow *f)
{
    struct fsc_endpoint *x = &f->ep[f->first_rst_by];

    memset(&x->rst, 0, sizeof x->rst);
    memset(x->rst_reading, 0, sizeof x->rst_reading);
    x->rst_sent = false;
    x->rst_flags = 0;
    x->rst_seq = x->rst_ack = 0;
    f->anomalies |= FSC_AN_RST_INVALID;
    if (f->rst_crossed) {
        f->first_rst_by = !f->first_rst_by;
        f->rst_crossed = false;
    } else {
        f->first_rst_by = -1;
        f->anomalies &= ~FSC_AN_DATA_AFTER_RST;
    }
}

/*
 * What a segment after a RST shows of it.  A held RST: a RST after it, or its receiver's ack
 * equal to its seq (it sat at RCV.NXT), confirms it; anything else shows the connection went
 * on (a challenge ACK, or the sender still sending): it did nothing.  A counted RST whose own
 * sender sends anything but a RST afterwards did nothing either: a reset socket sends nothing
 * more, so it was not that socket's (injected) or not taken.
 */
static void after_rst(struct seg *g)
{
    struct fsc_flow *f = g->f;
    const struct fsc_pkt *p = g->p;

    if (f->rst_pending.packet) {
        if (g->rst || (g->sd != f->rst_pending.by && g->ack && p->ack == f->rst_pending.seq)) {
            confirm_rst(f);
        } else {
            memset(&f->rst_pending, 0, sizeof f->rst_pending);
            f->anomalies |= FSC_AN_RST_INVALID;
            g->changed = true;
        }
    }
    if (!g->rst && !g->syn && f->first_rst_by == g->sd && !f->self_connect) {
        revoke_rst(f);
        g->changed = true;
    }
}

void fsc_tcp_segment(struct fsc_flow *f, int dir, const struct fsc_pkt *p)
{
    struct seg g = seg_of(f, dir, p);
    const bool first_pkt = g.s->pkts == 0 && g.r->pkts == 0;

    f->last_ts = p->ts;
    f->last_packet = p->number;
    if (g.s->pkts == 0)
        g.changed = true; /* the other side shows up: its facts replace what was inferred */
    after_rst(&g);
    g.s->pkts++;
    g.s->bytes += p->payload_len;
    sequence_base(&g);

    if (g.rst) {
        enum rst_fit fit = rst_fit(f, g.s, g.r, p);
        if (fit == RST_DROPPED) {
            f->anomalies |= FSC_AN_RST_INVALID; /* dropped by the receiver: changes nothing */
            add_segment(f, g.sd, p, FSC_SEG_RST);
            if (g.changed)
                fsc_lifecycle_refresh(f);
            return;
        }
        if (fit == RST_TENTATIVE && f->first_rst_by < 0) {
            hold_rst(&g);
            return;
        }
    }
    apply(&g, first_pkt);
}

void fsc_tcp_flow_end(struct fsc_flow *f)
{
    confirm_rst(f);
}
