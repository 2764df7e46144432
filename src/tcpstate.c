/* tcpstate.c - infers both endpoints' RFC 9293 states from the segments of one flow. */
#include <stdlib.h>
#include <string.h>

#include "finscope/flow.h"

/*
 * The rules below are written once for (s, r): s is the endpoint that sent the segment, r the
 * one it is addressed to.  For a self-connected socket s and r are the same endpoint.
 *
 * ../shared/DESIGN.md section 1: a transition that depends on *receiving* a SYN or FIN is placed
 * at the first segment whose ack field covers it (proof that the receiver had it); a transition
 * that depends on *sending* (SYN, FIN, RST) is placed at the segment sent.  A transition caused
 * by receiving an acknowledgment of one's own SYN or FIN is placed at the segment carrying that
 * acknowledgment, the earliest packet that can have caused it.
 */

static bool same_addr(const struct fsc_addr *a, const struct fsc_addr *b)
{
    return memcmp(a->b, b->b, sizeof a->b) == 0;
}

/* Append to a flow's bounded event array; counts what did not fit. */
static void *grow(void *arr, uint32_t *n, uint32_t *cap, uint32_t *dropped, uint32_t max,
                  size_t elem)
{
    if (*n >= max) {
        (*dropped)++;
        return NULL;
    }
    if (*n == *cap) {
        uint32_t ncap = *cap ? *cap * 2 : 8;
        if (ncap > max)
            ncap = max;
        void *p = realloc(arr, ncap * elem);
        if (!p) {
            (*dropped)++;
            return NULL;
        }
        arr = p;
        *cap = ncap;
    }
    return arr;
}

/* Close the running dwell time of the flow-level headline states when an endpoint leaves one. */
static void dwell_leave(struct fsc_flow *f, enum fsc_tcp_state st, fsc_time now)
{
    /* Capture time can step back a little (multi-queue capture): a dwell is never negative. */
    if (st == FSC_TCP_CLOSE_WAIT && f->close_wait_enter > now)
        now = f->close_wait_enter;
    else if (st == FSC_TCP_FIN_WAIT_2 && f->fin_wait_2_enter > now)
        now = f->fin_wait_2_enter;
    else if (st == FSC_TCP_LAST_ACK && f->last_ack_enter > now)
        now = f->last_ack_enter;
    if (st == FSC_TCP_CLOSE_WAIT && f->close_wait_enter >= 0 && f->close_wait_us < 0)
        f->close_wait_us = now - f->close_wait_enter;
    else if (st == FSC_TCP_FIN_WAIT_2 && f->fin_wait_2_enter >= 0 && f->fin_wait_2_us < 0)
        f->fin_wait_2_us = now - f->fin_wait_2_enter;
    else if (st == FSC_TCP_LAST_ACK && f->last_ack_enter >= 0 && f->last_ack_us < 0)
        f->last_ack_us = now - f->last_ack_enter;
}

static void dwell_enter(struct fsc_flow *f, enum fsc_tcp_state st, fsc_time now)
{
    if (st == FSC_TCP_CLOSE_WAIT && f->close_wait_enter < 0)
        f->close_wait_enter = now;
    else if (st == FSC_TCP_FIN_WAIT_2 && f->fin_wait_2_enter < 0)
        f->fin_wait_2_enter = now;
    else if (st == FSC_TCP_LAST_ACK && f->last_ack_enter < 0)
        f->last_ack_enter = now;
}

static void set_state(struct fsc_flow *f, int e, enum fsc_tcp_state to, enum fsc_evidence ev,
                      const struct fsc_pkt *p)
{
    struct fsc_endpoint *x = &f->ep[e];
    enum fsc_tcp_state from = (enum fsc_tcp_state)x->state;

    if (from == to)
        return;
    struct fsc_transition *arr =
        grow(f->tr, &f->n_tr, &f->cap_tr, &f->dropped_tr, FSC_FLOW_MAX_TRANSITIONS, sizeof *arr);
    if (arr) {
        f->tr = arr;
        struct fsc_transition *t = &arr[f->n_tr++];
        t->ts = p->ts;
        t->packet = p->number;
        t->endpoint = (uint8_t)e;
        t->from = (uint8_t)from;
        t->to = (uint8_t)to;
        t->evidence = (uint8_t)ev;
    }
    dwell_leave(f, from, p->ts);
    dwell_enter(f, to, p->ts);
    x->state = (uint8_t)to;
    x->state_since = p->ts;
}

static void add_segment(struct fsc_flow *f, int dir, const struct fsc_pkt *p, unsigned why)
{
    struct fsc_segment *arr =
        grow(f->seg, &f->n_seg, &f->cap_seg, &f->dropped_seg, FSC_FLOW_MAX_SEGMENTS, sizeof *arr);
    if (!arr)
        return;
    f->seg = arr;
    struct fsc_segment *g = &arr[f->n_seg++];
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
 * x's sequence number seq as a 64-bit offset from x's ISN, unwrapped around snd_max: lets
 * distances beyond 2^31 (a 3 GiB upload) compare correctly.  seq must lie within 2^31 of
 * snd_max, which holds for anything x has sent or had acked.
 */
static uint64_t seq64(const struct fsc_endpoint *x, uint32_t seq)
{
    int64_t v = (int64_t)x->snd_max64 + FSC_SEQ_DIFF(x->snd_max, seq);
    return v > 0 ? (uint64_t)v : 0;
}

/*
 * Account payload [lo, hi) sent by x: new bytes extend snd_max (a jump forward opens a hole),
 * bytes filling a hole are late but not retransmitted, everything else below snd_max is a
 * retransmission.  Returns the number of new bytes.
 */
static uint32_t account_payload(struct fsc_endpoint *x, uint32_t lo, uint32_t hi)
{
    uint32_t fresh = 0, filled = 0;

    if (FSC_SEQ_GT(lo, x->snd_max)) {
        if (x->n_holes < 4) {
            x->hole_lo[x->n_holes] = x->snd_max;
            x->hole_hi[x->n_holes] = lo;
            x->n_holes++;
        } else {
            x->gap_bytes += (uint32_t)(lo - x->snd_max); /* too many holes to track: count now */
        }
        advance(x, lo);
    }
    if (FSC_SEQ_GT(hi, x->snd_max)) {
        uint32_t from = FSC_SEQ_GT(lo, x->snd_max) ? lo : x->snd_max;
        fresh = hi - from;
        hi = from; /* what remains below snd_max */
    }
    /* [lo, hi) is now at or below snd_max: holes it fills are not retransmissions. */
    for (int i = 0; i < x->n_holes && FSC_SEQ_LT(lo, hi); i++) {
        uint32_t a = FSC_SEQ_GT(lo, x->hole_lo[i]) ? lo : x->hole_lo[i];
        uint32_t b = FSC_SEQ_LT(hi, x->hole_hi[i]) ? hi : x->hole_hi[i];
        if (!FSC_SEQ_LT(a, b))
            continue;
        filled += b - a;
        if (a == x->hole_lo[i] && b == x->hole_hi[i]) {
            x->n_holes--;
            x->hole_lo[i] = x->hole_lo[x->n_holes];
            x->hole_hi[i] = x->hole_hi[x->n_holes];
            i--;
        } else if (a == x->hole_lo[i]) {
            x->hole_lo[i] = b;
        } else if (b == x->hole_hi[i]) {
            x->hole_hi[i] = a;
        } else if (x->n_holes < 4) { /* filled the middle: split */
            x->hole_lo[x->n_holes] = b;
            x->hole_hi[x->n_holes] = x->hole_hi[i];
            x->n_holes++;
            x->hole_hi[i] = a;
        } else {
            x->gap_bytes += x->hole_hi[i] - b; /* cannot split further: count the tail now */
            x->hole_hi[i] = a;
        }
    }
    if (FSC_SEQ_GT(hi, lo))
        x->retrans_bytes += (hi - lo) - filled;
    return fresh;
}

/* x received its peer's FIN (RFC 9293 section 3.10.7.4, "eighth, check the FIN bit"). */
static void receive_fin(struct fsc_flow *f, int e, enum fsc_evidence ev, const struct fsc_pkt *p)
{
    struct fsc_endpoint *x = &f->ep[e];

    x->rcvd_fin = true;
    switch (x->state) {
    case FSC_TCP_SYN_RCVD:
    case FSC_TCP_ESTABLISHED:
        set_state(f, e, FSC_TCP_CLOSE_WAIT, ev, p);
        break;
    case FSC_TCP_FIN_WAIT_1: /* own FIN not yet acknowledged: both FINs in flight */
        set_state(f, e, FSC_TCP_CLOSING, ev, p);
        break;
    case FSC_TCP_FIN_WAIT_2:
        set_state(f, e, FSC_TCP_TIME_WAIT, ev, p);
        break;
    default:
        break;
    }
}

/* x learned that its own FIN was acknowledged. */
static void fin_acked(struct fsc_flow *f, int e, const struct fsc_pkt *p)
{
    struct fsc_endpoint *x = &f->ep[e];

    x->fin_acked = true;
    switch (x->state) {
    case FSC_TCP_FIN_WAIT_1:
        set_state(f, e, FSC_TCP_FIN_WAIT_2, FSC_EV_PEER_ACK_FIN, p);
        break;
    case FSC_TCP_CLOSING:
        set_state(f, e, FSC_TCP_TIME_WAIT, FSC_EV_PEER_ACK_FIN, p);
        break;
    case FSC_TCP_LAST_ACK:
        set_state(f, e, FSC_TCP_CLOSED, FSC_EV_PEER_ACK_FIN, p);
        break;
    default:
        break;
    }
}

static bool handshake_done(const struct fsc_flow *f)
{
    return f->midstream || (f->ep[FSC_CLIENT].syn_acked && f->ep[FSC_SERVER].syn_acked) ||
           (f->self_connect && f->ep[FSC_CLIENT].syn_acked);
}

/*
 * Why s is resetting the connection, decided at its first RST (DESIGN.md, rst_cause).  Every
 * test reads sequence and ack numbers, never capture order.
 *
 * data_after_close: s had sent its FIN, and the peer sent payload beyond what the FIN's own
 * ack field shows s had received when it closed (RFC 9293 section 3.10.7.4: an orphaned socket
 * answers new data with RST).
 *
 * unread_data: the wire cannot show whether an application read its receive buffer, so the call
 * rests on who spoke last.  Payload from the peer beyond what s had received when it last sent
 * new payload (the ack on that payload), that s's acks show arrived, is unanswered when s is the
 * server (a request it never answered) or when s never sent payload at all (e.g. a banner).  A
 * client that reset after the server's reply to its own request got its answer: that is an
 * abort (SO_LINGER 0), as the real-kernel capture captures/lo_linger0.pcap shows;
 * captures/lo_unread_data.pcap is the other case.
 */
static enum fsc_rst_cause rst_cause(const struct fsc_flow *f, int sd, const struct fsc_endpoint *s,
                                    const struct fsc_endpoint *r)
{
    if (!handshake_done(f))
        return FSC_RC_HANDSHAKE;
    if (s->fin_sent) {
        if (!r->data_sent)
            return FSC_RC_OTHER;
        if (s->fin_seg_has_ack)
            return seq64(r, r->data_hi) > seq64(r, s->fin_seg_ack) ? FSC_RC_DATA_AFTER_CLOSE
                                                                   : FSC_RC_OTHER;
        return r->data_after_peer_fin ? FSC_RC_DATA_AFTER_CLOSE : FSC_RC_OTHER;
    }
    if (r->data_sent && (sd == FSC_SERVER || !s->data_sent)) {
        uint64_t answered = s->answered_set ? s->answered : 1; /* 1: r's first byte */
        if (seq64(r, r->data_hi) > answered && s->ack_seen && seq64(r, s->ack_hi) > answered)
            return FSC_RC_UNREAD_DATA;
    }
    /* A lone RST picked up midstream shows no ESTABLISHED endpoint (scans, stray segments). */
    if (f->midstream && s->pkts == 1 && r->pkts == 0)
        return FSC_RC_OTHER;
    if (s->state == FSC_TCP_ESTABLISHED || s->state == FSC_TCP_CLOSE_WAIT)
        return FSC_RC_ABORT;
    return FSC_RC_OTHER;
}

/*
 * RFC 9293 section 3.10.7.3 and 3.10.7.4 (with RFC 5961): a RST is acceptable in SYN-SENT only
 * if its ACK acknowledges the SYN, otherwise only near what the receiver expects next.  Real
 * stacks send RSTs at exactly snd_nxt; the slack covers bytes the tap did not see.
 */
#define RST_SLACK (1 << 24)

static bool rst_acceptable(const struct fsc_flow *f, const struct fsc_endpoint *s,
                           const struct fsc_endpoint *r, const struct fsc_pkt *p)
{
    if (f->self_connect)
        return true;
    if (r->state == FSC_TCP_SYN_SENT)
        return (p->flags & FSC_TH_ACK) && r->syn_sent && p->ack == r->isn + 1;
    if (s->pkts <= 1) /* nothing else seen from s: no window to judge by */
        return true;
    int32_t d_snd = FSC_SEQ_DIFF(s->snd_max, p->seq);
    if (d_snd >= -RST_SLACK && d_snd <= RST_SLACK)
        return true;
    if (r->ack_seen) {
        int32_t d_rcv = FSC_SEQ_DIFF(r->ack_hi, p->seq);
        if (d_rcv >= -RST_SLACK && d_rcv <= RST_SLACK)
            return true;
    }
    return false;
}

void fsc_tcp_flow_init(struct fsc_flow *f, const struct fsc_pkt *p)
{
    int c = FSC_CLIENT, s = FSC_SERVER;
    bool syn = (p->flags & FSC_TH_SYN) != 0, ack = (p->flags & FSC_TH_ACK) != 0;
    bool src_is_client;

    f->ip_version = p->ip_version;
    f->first_ts = f->last_ts = p->ts;
    f->first_packet = p->number;
    f->first_fin_by = f->first_rst_by = -1;
    f->close_wait_enter = f->fin_wait_2_enter = f->last_ack_enter = -1;
    f->close_wait_us = f->fin_wait_2_us = f->last_ack_us = -1;
    f->self_connect = same_addr(&p->src, &p->dst) && p->sport == p->dport;

    if (syn && !ack)
        src_is_client = true;
    else if (syn && ack)
        src_is_client = false; /* the SYN before this SYN+ACK was not captured */
    else                       /* midstream: the lower, well-known port is the server's */
        src_is_client = p->sport > p->dport || (p->sport == p->dport && !f->self_connect);

    f->ep[c].addr = src_is_client ? p->src : p->dst;
    f->ep[c].port = src_is_client ? p->sport : p->dport;
    f->ep[s].addr = src_is_client ? p->dst : p->src;
    f->ep[s].port = src_is_client ? p->dport : p->sport;
    f->ep[c].state = FSC_TCP_CLOSED;
    f->ep[s].state = FSC_TCP_LISTEN;
    f->ep[c].state_since = f->ep[s].state_since = p->ts;

    if (syn && ack && !f->self_connect) {
        /* The client's SYN is implied by the SYN+ACK's ack field. */
        f->anomalies |= FSC_AN_SYNACK_NO_SYN;
        f->ep[c].syn_sent = f->ep[c].seq_known = true;
        f->ep[c].isn = p->ack - 1;
        f->ep[c].snd_max = p->ack;
        set_state(f, c, FSC_TCP_SYN_SENT, FSC_EV_INITIAL, p);
    } else if (!syn) {
        f->midstream = true;
        f->ep[s].state = FSC_TCP_CLOSED; /* no SYN seen: nothing says it was listening */
        set_state(f, c, FSC_TCP_ESTABLISHED, FSC_EV_MIDSTREAM, p);
        set_state(f, s, FSC_TCP_ESTABLISHED, FSC_EV_MIDSTREAM, p);
    }
}

int fsc_flow_dir(const struct fsc_flow *f, const struct fsc_pkt *p)
{
    if (f->self_connect)
        return FSC_CLIENT;
    return p->sport == f->ep[FSC_CLIENT].port && same_addr(&p->src, &f->ep[FSC_CLIENT].addr)
               ? FSC_CLIENT
               : FSC_SERVER;
}

/*
 * s retransmitted a FIN the tap had already seen acked: that ack never reached s (it was lost
 * after the tap).  Take back the transition the ack caused - if it is still s's latest - so the
 * ack that does arrive (a TIME_WAIT re-ACK) is where s moves on, and the LAST_ACK or FIN_WAIT_1
 * dwell shows the loss (DESIGN.md section 3).
 */
static void retract_fin_ack(struct fsc_flow *f, int sd)
{
    struct fsc_endpoint *s = &f->ep[sd];
    uint32_t k = f->n_tr;

    while (k > 0 && f->tr[k - 1].endpoint != sd)
        k--;
    if (k == 0 || f->tr[k - 1].evidence != FSC_EV_PEER_ACK_FIN || f->dropped_tr)
        return;
    const struct fsc_transition t = f->tr[k - 1];
    memmove(&f->tr[k - 1], &f->tr[k], (f->n_tr - k) * sizeof *f->tr);
    f->n_tr--;
    s->state = t.from;
    s->fin_acked = false;
    if (t.to == FSC_TCP_FIN_WAIT_2)
        f->fin_wait_2_enter = -1;
    if (t.from == FSC_TCP_LAST_ACK)
        f->last_ack_us = -1;
}

/* s's FIN at fin_seq was acked by r before the tap saw the FIN (r->ack_hi covers it already). */
static void early_ack_of_fin(struct fsc_flow *f, int sd, int rd, const struct fsc_pkt *p)
{
    struct fsc_endpoint *s = &f->ep[sd], *r = &f->ep[rd];

    if (!r->rcvd_fin) {
        /* r's own FIN segment acked this FIN: r was in CLOSE_WAIT when it closed. */
        if (r->fin_sent && r->fin_seg_has_ack && FSC_SEQ_GEQ(r->fin_seg_ack, s->fin_seq + 1) &&
            (r->state == FSC_TCP_FIN_WAIT_1 || r->state == FSC_TCP_FIN_WAIT_2)) {
            r->rcvd_fin = true;
            set_state(f, rd, r->fin_acked ? FSC_TCP_TIME_WAIT : FSC_TCP_LAST_ACK,
                      FSC_EV_FIN_ACKED_PEER, p);
        } else {
            receive_fin(f, rd, FSC_EV_EARLY_ACK_FIN, p);
        }
    }
    fin_acked(f, sd, p);
}

void fsc_tcp_segment(struct fsc_flow *f, int dir, const struct fsc_pkt *p)
{
    const int sd = dir, rd = f->self_connect ? dir : !dir;
    struct fsc_endpoint *s = &f->ep[sd], *r = &f->ep[rd];
    const uint8_t fl = p->flags;
    const bool syn = fl & FSC_TH_SYN, fin = fl & FSC_TH_FIN, rst = fl & FSC_TH_RST;
    const bool ack = fl & FSC_TH_ACK;
    const uint32_t len = p->payload_len;
    const uint32_t data_lo = p->seq + (syn ? 1 : 0), data_hi = data_lo + len;
    const bool s_had_fin = s->fin_sent;
    const bool rst_before = f->first_rst_by >= 0;
    const bool first_pkt = s->pkts == 0 && r->pkts == 0;
    unsigned why = 0;
    uint32_t fresh = 0;

    fsc_zeek_segment(&f->zeek, sd == FSC_CLIENT, p);
    f->last_ts = p->ts;
    s->pkts++;
    s->bytes += len;

    /*
     * Sequence base: the ISN of a SYN (which occupies it), else (midstream) the byte before the
     * first one seen.  A SYN or SYN+ACK with a new ISN before the old one was acked replaces it
     * (the peer will ack the new one).
     */
    if (syn && (!s->syn_sent || (p->seq != s->isn && !s->syn_acked))) {
        if (s->syn_sent)
            f->anomalies |= FSC_AN_SYN_CHANGED;
        s->isn = p->seq;
        s->snd_max = p->seq + 1;
        s->snd_max64 = 1;
        s->seq_known = true;
    } else if (syn && p->seq != s->isn) {
        f->anomalies |= FSC_AN_SYN_CHANGED;
    } else if (!s->seq_known) {
        s->isn = p->seq - 1;
        s->snd_max = p->seq;
        s->snd_max64 = 1;
        s->seq_known = true;
    }

    if (len > 0) {
        fresh = account_payload(s, data_lo, data_hi);
        if (!s->data_sent)
            why |= FSC_SEG_FIRST_DATA;
        if (!s->data_sent || FSC_SEQ_GT(data_hi, s->data_hi))
            s->data_hi = data_hi;
        s->data_sent = true;
        /* New payload answers what s had received when it sent it: its own ack field. */
        if (fresh && ack && r->seq_known) {
            s->answered = seq64(r, p->ack);
            s->answered_set = true;
        }
        if (fresh && s_had_fin)
            f->anomalies |= FSC_AN_DATA_AFTER_FIN;
        if (fresh && r->fin_sent)
            s->data_after_peer_fin = true;
        if (rst_before)
            f->anomalies |= FSC_AN_DATA_AFTER_RST;
        if (f->first_fin_by >= 0)
            why |= FSC_SEG_AFTER_FIN;
    } else if (!syn && !rst && FSC_SEQ_GT(data_lo, s->snd_max)) {
        account_payload(s, data_lo, data_lo); /* a FIN or ACK beyond unseen bytes: a hole */
    }
    if (!rst) /* a RST occupies no sequence space, and its number is yet to be judged */
        advance(s, data_hi + (fin ? 1 : 0));
    if (ack) {
        if (r->seq_known && FSC_SEQ_GT(p->ack, r->snd_max) && r->pkts > 0)
            f->anomalies |= FSC_AN_ACK_UNSEEN;
        if (!s->ack_seen || FSC_SEQ_GT(p->ack, s->ack_hi))
            s->ack_hi = p->ack;
        s->ack_seen = true;
        /*
         * What s had acked before its FIN, judged by sequence number: before the FIN, or a pure
         * ACK at or below the FIN's sequence number (sent before it, seen after it).  A
         * retransmission carries a newer ack and says nothing about the order, so it is left out.
         */
        if ((!s_had_fin && !fin) ||
            (s_had_fin && !fin && !syn && !rst && len == 0 && FSC_SEQ_LEQ(p->seq, s->fin_seq))) {
            if (!s->ack_pre_fin_seen || FSC_SEQ_GT(p->ack, s->ack_pre_fin))
                s->ack_pre_fin = p->ack;
            s->ack_pre_fin_seen = true;
        }
    }

    /* 1. SYN sent (a transition that depends only on sending). */
    if (syn) {
        why |= FSC_SEG_SYN;
        if (fin)
            f->anomalies |= FSC_AN_SYN_FIN;
        if (!ack) {
            if (s->syn_sent && s->state == FSC_TCP_SYN_SENT)
                f->anomalies |= FSC_AN_SYN_RETRANS;
            /* LISTEN was only assumed for the side that got the first SYN; one that sends a
             * bare SYN of its own called connect() from CLOSED (a simultaneous open). */
            if (s->state == FSC_TCP_LISTEN && !s->synack_sent)
                s->state = FSC_TCP_CLOSED;
            if (s->state == FSC_TCP_CLOSED)
                set_state(f, sd, FSC_TCP_SYN_SENT, FSC_EV_SENT_SYN, p);
            /* RFC 9293 section 3.5 simultaneous open: both bare SYNs before either is acked. */
            if (!f->self_connect && r->syn_sent && !r->synack_sent && !r->syn_acked &&
                !s->syn_acked)
                f->both_syn_unacked = true;
            if (sd == FSC_CLIENT && !r->synack_sent)
                f->syn_ts = p->ts;
        } else {
            s->synack_sent = true;
            if (s->state == FSC_TCP_CLOSED || s->state == FSC_TCP_LISTEN ||
                s->state == FSC_TCP_SYN_SENT)
                set_state(f, sd, FSC_TCP_SYN_RCVD, FSC_EV_SENT_SYNACK, p);
        }
        s->syn_sent = true;
    }

    /* 2. What the ack field proves: s received r's SYN / FIN, and r's SYN / FIN is acked. */
    if (ack && r->syn_sent && !r->syn_acked && FSC_SEQ_GEQ(p->ack, r->isn + 1)) {
        why |= FSC_SEG_ACK_SYN;
        s->rcvd_syn = true;
        r->syn_acked = true;
        if (sd == FSC_CLIENT && !f->hs_done_ts)
            f->hs_done_ts = p->ts;
        if (s->state == FSC_TCP_SYN_SENT && s->syn_acked && !syn)
            set_state(f, sd, FSC_TCP_ESTABLISHED, FSC_EV_ACK_PEER_SYN, p);
    } else if (ack && r->syn_sent && sd == FSC_CLIENT && !f->hs_done_ts &&
               FSC_SEQ_GEQ(p->ack, r->isn + 1)) {
        f->hs_done_ts = p->ts; /* simultaneous open or self-connect: SYN acked earlier */
    }
    /* r in SYN_RCVD learns its SYN was acked (for a simultaneous open, by a later segment). */
    if (ack && r->syn_sent && r->state == FSC_TCP_SYN_RCVD && !rst &&
        FSC_SEQ_GEQ(p->ack, r->isn + 1))
        set_state(f, rd, FSC_TCP_ESTABLISHED, FSC_EV_PEER_ACK_SYN, p);
    if (ack && r->fin_sent && !r->fin_acked && FSC_SEQ_GEQ(p->ack, r->fin_seq + 1)) {
        why |= FSC_SEG_ACK_FIN;
        if (!s->rcvd_fin)
            receive_fin(f, sd, FSC_EV_ACK_PEER_FIN, p);
        /*
         * A receiver processes segments in sequence order (RFC 9293 section 3.10.7.4), so if
         * this segment comes after s's own FIN, r has processed that FIN before this ack.
         */
        if (s->fin_sent && !r->rcvd_fin && FSC_SEQ_GEQ(p->seq, s->fin_seq + 1))
            receive_fin(f, rd, FSC_EV_PEER_FIN_BEFORE, p);
        fin_acked(f, rd, p);
    }

    /* 3. A non-SYN segment with ACK from a half-open endpoint shows it reached ESTABLISHED. */
    if (ack && !syn && !rst && (s->state == FSC_TCP_SYN_SENT || s->state == FSC_TCP_SYN_RCVD)) {
        s->rcvd_syn = true;
        set_state(f, sd, FSC_TCP_ESTABLISHED, FSC_EV_SENT_AFTER_SYN, p);
    }

    /* Payload the passive side sent after it had received the first FIN (half-close). */
    if (fresh && f->first_fin_by >= 0 && sd != f->first_fin_by && s->rcvd_fin && !f->self_connect)
        f->half_close_bytes += fresh;

    /* 4. FIN sent. */
    if (fin) {
        uint32_t fseq = data_hi;
        why |= FSC_SEG_FIN;
        if (!s->fin_sent) {
            s->fin_sent = true;
            s->fin_seq = fseq;
            s->fin_seg_has_ack = ack;
            s->fin_seg_ack = p->ack;
            if (f->first_fin_by < 0) {
                f->first_fin_by = sd;
                f->first_fin_packet = p->number;
            }
            switch (s->state) {
            case FSC_TCP_CLOSE_WAIT:
                set_state(f, sd, FSC_TCP_LAST_ACK, FSC_EV_SENT_FIN, p);
                break;
            case FSC_TCP_SYN_RCVD:
            case FSC_TCP_ESTABLISHED:
                set_state(f, sd, FSC_TCP_FIN_WAIT_1, FSC_EV_SENT_FIN, p);
                break;
            default:
                break;
            }
            /* The peer's ack of this FIN was captured before the FIN itself. */
            if (rd != sd && r->ack_seen && FSC_SEQ_GEQ(r->ack_hi, fseq + 1))
                early_ack_of_fin(f, sd, rd, p);
        } else if (fseq == s->fin_seq) {
            s->fin_retrans++;
            if (s->fin_acked)
                retract_fin_ack(f, sd);
        } else {
            f->anomalies |= FSC_AN_FIN_MOVED;
        }
    } else if (f->ep[FSC_CLIENT].fin_sent && (f->ep[FSC_SERVER].fin_sent || f->self_connect)) {
        why |= FSC_SEG_AFTER_FIN; /* the teardown tail: final ACKs, TIME_WAIT re-ACKs */
    }

    /* 5. RST: both endpoints are closed (a receiver in TIME_WAIT too, as Linux does). */
    if (rst && !rst_acceptable(f, s, r, p)) {
        why |= FSC_SEG_RST;
        f->anomalies |= FSC_AN_RST_INVALID; /* dropped by the receiver: no state changes */
    } else if (rst) {
        why |= FSC_SEG_RST;
        if (fin)
            f->anomalies |= FSC_AN_FIN_RST;
        if (len)
            f->anomalies |= FSC_AN_RST_DATA;
        bool both_fins = f->self_connect ? s_had_fin : (s_had_fin && r->fin_sent);
        if (rst_before || both_fins) {
            f->rst_after_close++;
            f->anomalies |= FSC_AN_RST_NO_STATE;
        } else {
            f->first_rst_by = sd;
            f->first_rst_packet = p->number;
            f->rst_before_both_fins = true;
            f->rst_cause_at_rst = rst_cause(f, sd, s, r);
        }
        s->rst_sent = true;
        /* A TIME_WAIT socket answers stray segments with RST and stays in TIME_WAIT. */
        if (s->state != FSC_TCP_TIME_WAIT)
            set_state(f, sd, FSC_TCP_CLOSED, FSC_EV_SENT_RST, p);
        if (rd != sd)
            set_state(f, rd, FSC_TCP_CLOSED, FSC_EV_PEER_RST, p);
    }

    if (first_pkt && f->midstream)
        why |= FSC_SEG_FIRST;
    if (why)
        add_segment(f, sd, p, why);

    /* Done when both sides are closed or in TIME_WAIT (or either reset): linger, then write. */
    {
        const struct fsc_endpoint *c = &f->ep[FSC_CLIENT], *v = &f->ep[FSC_SERVER];
        bool c_done = c->state == FSC_TCP_CLOSED || c->state == FSC_TCP_TIME_WAIT;
        bool v_done =
            v->state == FSC_TCP_CLOSED || v->state == FSC_TCP_TIME_WAIT || f->self_connect;
        f->closed = f->first_rst_by >= 0 || (c_done && v_done && (c->fin_sent || v->fin_sent));
    }
}
