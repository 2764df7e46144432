/* lifecycle.c - each endpoint's RFC 9293 states, derived from what the capture shows of it. */
#include <string.h>

#include "finscope/lifecycle.h"

#include "finscope/flow.h"

/*
 * tcpstate.c gathers facts: what each endpoint sent, and the first frame that shows each thing
 * it sent or received (a mark).  This file is the one home of the state rules: it walks an
 * endpoint through the RFC 9293 state diagram (section 3.3.2, figure 5), one step per fact,
 * in the order the endpoint lived them.  That order comes from sequence and acknowledgment
 * numbers (DESIGN.md section 1), never from the order the tap saw the frames: the tap decides
 * only where a step is placed (the first frame that proves it).
 *
 * Every rule is written once for an endpoint x and its peer o (the same endpoint for a
 * self-connected socket).
 */

enum tri { NO = 0, YES = 1, UNKNOWN = 2 };

/* ---- the edges of the state diagram ---- */

bool fsc_tcp_edge_allowed(enum fsc_tcp_state from, enum fsc_tcp_state to)
{
    /* RFC 9293 figure 5, plus section 3.10.7.4 (FIN_WAIT_1 -> TIME_WAIT when one segment acks
     * the FIN and carries the peer's FIN) and a RST (sent or received) ending any state. */
    static const uint16_t next[FSC_TCP__COUNT] = {
#define B(s) (1u << FSC_TCP_##s)
        [FSC_TCP_CLOSED] = B(LISTEN) | B(SYN_SENT) | B(ESTABLISHED), /* ESTABLISHED: midstream */
        [FSC_TCP_LISTEN] = B(SYN_RCVD) | B(SYN_SENT) | B(CLOSED),
        [FSC_TCP_SYN_SENT] = B(SYN_RCVD) | B(ESTABLISHED) | B(CLOSED),
        [FSC_TCP_SYN_RCVD] = B(ESTABLISHED) | B(FIN_WAIT_1) | B(CLOSED) | B(LISTEN),
        [FSC_TCP_ESTABLISHED] = B(FIN_WAIT_1) | B(CLOSE_WAIT) | B(CLOSED),
        [FSC_TCP_FIN_WAIT_1] = B(FIN_WAIT_2) | B(CLOSING) | B(TIME_WAIT) | B(CLOSED),
        /* FIN_WAIT_2 -> CLOSED: RST, or Linux's orphan timeout (tcp_fin_timeout) */
        [FSC_TCP_FIN_WAIT_2] = B(TIME_WAIT) | B(CLOSED),
        [FSC_TCP_CLOSE_WAIT] = B(LAST_ACK) | B(CLOSED),
        [FSC_TCP_CLOSING] = B(TIME_WAIT) | B(CLOSED),
        [FSC_TCP_LAST_ACK] = B(CLOSED),
        [FSC_TCP_TIME_WAIT] = B(CLOSED),
#undef B
    };
    return (unsigned)from < FSC_TCP__COUNT && (unsigned)to < FSC_TCP__COUNT &&
           (next[from] & (1u << to));
}

/* ---- the view: facts as the rules read them ---- */

static void mark_unseen(struct fsc_mark *dst, const struct fsc_mark *src)
{
    *dst = *src;
    dst->how = FSC_MK_UNSEEN;
}

static void mark_if_unset(struct fsc_mark *dst, const struct fsc_mark *src)
{
    if (!fsc_mark_set(dst))
        *dst = *src;
}

/*
 * A one-sided capture: o sent nothing the tap saw, x's acks show what o sent.  o's sequence
 * space starts at x's first ack; if x opened the connection, o answered with a SYN+ACK (x's
 * first ack covers its SYN); an ack of x beyond that covers data or a FIN o sent after the
 * handshake (o was synchronized), and so does x's own segment after its SYN+ACK.  o's FIN: once x
 * has closed, an ack rise of exactly one as x's last rise is o's FIN (a lone data byte there is
 * possible but would leave the connection half-open; the flow is marked one_sided and the close
 * kind says what remains unproven).
 */
static void infer_unseen(const struct fsc_flow *f, struct fsc_endpoint *x, struct fsc_endpoint *o)
{
    if (!fsc_mark_set(&x->first_ack))
        return; /* nothing of o's is proven */
    if (!o->seq_known) {
        o->isn = x->ack_first - 1;
        o->seq_known = true;
        o->snd_max = x->ack_first;
        o->snd_max64 = 1;
    }
    if (FSC_SEQ_GT(x->ack_hi, o->snd_max)) {
        o->snd_max64 += (uint32_t)(x->ack_hi - o->snd_max);
        o->snd_max = x->ack_hi;
    }
    if (!f->midstream && fsc_mark_set(&x->syn) && !o->syn_sent) {
        /* x opened.  Its SYN+ACK shows it got a bare SYN from o first: a simultaneous open. */
        o->syn_sent = o->synack_sent = true;
        if (fsc_mark_set(&x->synack))
            mark_unseen(&o->syn, &x->synack);
        mark_unseen(&o->synack, &x->first_ack);
        mark_if_unset(&o->syn_acked.ack, &x->first_ack);
        mark_if_unset(&x->rcvd_syn, &x->first_ack);
        if (!fsc_mark_set(fsc_ack_proof_final(&x->syn_acked)))
            mark_unseen(&x->syn_acked.ack, &x->first_ack);
    }
    /* o's payload or FIN came after it was synchronized: its segments acked x's SYN.  So does
     * a bare RST of x at its ISN+1 after its SYN+ACK: a reset's seq is the ack of the segment
     * it answers (RFC 9293 3.10.7.1), here o's handshake ACK. */
    const struct fsc_mark *synced = fsc_mark_set(&x->ack_moved) ? &x->ack_moved : NULL;
    /* A passive opener's own non-SYN segment after its SYN+ACK: it was ESTABLISHED, so o had
     * acked its SYN (unless it is a TCP Fast Open server, RFC 7413, sending data in
     * SYN-RECEIVED: the wire cannot tell). */
    if (!synced && x->synack_sent && !fsc_mark_set(&x->syn) && fsc_mark_set(&x->est))
        synced = &x->est;
    if (!synced && x->synack_sent && fsc_mark_set(&x->rst) && !(x->rst_flags & FSC_TH_ACK) &&
        x->rst_seq == x->isn + 1)
        synced = &x->rst;
    if (synced) {
        if (!fsc_mark_set(&o->est))
            mark_unseen(&o->est, synced);
        if (x->synack_sent && !fsc_mark_set(fsc_ack_proof_final(&x->syn_acked))) {
            mark_unseen(&x->syn_acked.ack, synced);
            mark_unseen(&o->rcvd_syn, synced);
        }
    }
    uint32_t top = x->ack_hi;
    if (x->fin_sent && x->ack_rises >= 1 && x->ack_hi - x->ack_prev == 1 && !o->fin_sent) {
        o->fin_sent = true;
        o->fin_seq = x->ack_hi - 1;
        mark_unseen(&o->fin, &x->ack_rise);
        mark_if_unset(&x->rcvd_fin, &x->ack_rise);
        mark_if_unset(&o->fin_acked.ack, &x->ack_rise);
        top = o->fin_seq;
    }
    if (FSC_SEQ_GT(top, o->isn + 1)) {
        o->data_sent = true;
        o->data_hi = top;
    }
}

void fsc_flow_view(const struct fsc_flow *f, struct fsc_endpoint view[2])
{
    view[0] = f->ep[0];
    view[1] = f->ep[1];
    if (f->self_connect)
        return;
    for (int e = 0; e < 2; e++)
        if (f->ep[e].pkts > 0 && f->ep[!e].pkts == 0)
            infer_unseen(f, &view[e], &view[!e]);
}

/* The facts the rules read: the flow's own when both endpoints were captured (no copy, the
 * common case on the hot path), else the view with the unseen endpoint inferred, in buf. */
static const struct fsc_endpoint *facts(const struct fsc_flow *f, struct fsc_endpoint buf[2])
{
    if (f->self_connect || (f->ep[0].pkts > 0 && f->ep[1].pkts > 0))
        return f->ep;
    fsc_flow_view(f, buf);
    return buf;
}

static bool unseen(const struct fsc_endpoint *x)
{
    return x->pkts == 0;
}

/* ---- who closed second ---- */

/* Whether b's acks show it had received a's FIN before it sent its own: an ack it sent before
 * its FIN (*prior: a segment of its own, four-way), or its FIN segment's ack. */
static bool fin_covered_by(const struct fsc_endpoint *a, const struct fsc_endpoint *b, bool *prior)
{
    *prior = b->ack_pre_fin_seen && FSC_SEQ_GEQ(b->ack_pre_fin, a->fin_seq + 1);
    return *prior || (b->fin_seg_has_ack && FSC_SEQ_GEQ(b->fin_seg_ack, a->fin_seq + 1));
}

/* Whether x had received o's FIN when it sent its own.  UNKNOWN when x was never captured and
 * o's acks do not settle it (o second means x was first). */
static enum tri second_closer(const struct fsc_endpoint *x, const struct fsc_endpoint *o)
{
    bool prior;

    if (!x->fin_sent || !o->fin_sent)
        return NO;
    if (!unseen(x))
        return fin_covered_by(o, x, &prior) ? YES : NO;
    return !unseen(o) && fin_covered_by(x, o, &prior) ? NO : UNKNOWN;
}

int fsc_lifecycle_second_closer(const struct fsc_endpoint view[2], int e, int o, bool *prior)
{
    *prior = false;
    enum tri t = second_closer(&view[e], &view[o]);
    if (t == YES)
        fin_covered_by(&view[o], &view[e], prior);
    return t == YES ? 1 : t == NO ? 0 : -1;
}

/* ---- walking one endpoint through the diagram ---- */

struct walk {
    struct fsc_path *p;
    uint8_t state;
    struct fsc_mark at; /* where the current state was entered */
};

/* Evidence of a proof by the peer's ack of the endpoint's SYN or FIN, by how it was shown. */
static uint8_t ev_peer_ack(const struct fsc_mark *m, uint8_t seen)
{
    switch (m->how) {
    case FSC_MK_EARLY:
        return FSC_EV_EARLY_PEER_ACK;
    case FSC_MK_CROSSED:
        return FSC_EV_ACK_CROSSED;
    case FSC_MK_VIA_FIN:
        return FSC_EV_GOT_PEER_FIN_ACK;
    default:
        return seen;
    }
}

/* Evidence of something the endpoint sent, seen or (one-sided) shown by the peer's ack. */
static uint8_t ev_sent(const struct fsc_mark *m, uint8_t seen, uint8_t unseen_ev)
{
    return m->how == FSC_MK_UNSEEN ? unseen_ev : m->how == FSC_MK_IMPLIED ? FSC_EV_INITIAL : seen;
}

/* Enter state `to` at mark m.  A step is never placed before the previous one: a proof captured
 * earlier than the state it leaves (the tap reordered the two directions) is placed there. */
static void go(struct walk *w, uint8_t to, const struct fsc_mark *m, uint8_t ev)
{
    struct fsc_path *p = w->p;

    if (w->state == to || p->n >= FSC_PATH_MAX)
        return;
    struct fsc_mark at = *m;
    if (p->n && at.packet < w->at.packet) {
        at = w->at;
        if (ev == FSC_EV_ACK_PEER_FIN)
            ev = FSC_EV_ACK_FIN_REORDERED;
        else if (ev == FSC_EV_PEER_ACK_FIN || ev == FSC_EV_PEER_ACK_SYN)
            ev = FSC_EV_EARLY_PEER_ACK;
    }
    p->step[p->n].at = at;
    p->step[p->n].to = to;
    p->step[p->n].ev = ev;
    p->n++;
    w->state = to;
    w->at = at;
}

/* The earlier of two optional marks (NULL when neither is set). */
static const struct fsc_mark *earlier(const struct fsc_mark *a, const struct fsc_mark *b)
{
    if (!fsc_mark_set(a))
        return fsc_mark_set(b) ? b : NULL;
    if (!fsc_mark_set(b))
        return a;
    return b->packet < a->packet ? b : a;
}

static uint8_t initial_state(const struct fsc_flow *f, int e, const struct fsc_endpoint *x)
{
    if (f->midstream || e == FSC_CLIENT)
        return FSC_TCP_CLOSED;
    /* A server that sent a bare SYN before any SYN+ACK called connect() from CLOSED (a
     * simultaneous open); otherwise it was listening. */
    if (fsc_mark_set(&x->syn) && (!fsc_mark_set(&x->synack) || x->syn.packet <= x->synack.packet))
        return FSC_TCP_CLOSED;
    return FSC_TCP_LISTEN;
}

/* RFC 9293 section 3.5: SYN sent, SYN received, synchronized. */
static void opening(const struct fsc_flow *f, struct walk *w, const struct fsc_endpoint *x)
{
    const struct fsc_mark *acked = fsc_ack_proof_final(&x->syn_acked), *e;

    if (f->midstream) {
        struct fsc_mark first = {.ts = f->first_ts, .packet = f->first_packet};
        go(w, FSC_TCP_ESTABLISHED, &first, FSC_EV_MIDSTREAM);
        return;
    }
    if (fsc_mark_set(&x->syn))
        go(w, FSC_TCP_SYN_SENT, &x->syn, ev_sent(&x->syn, FSC_EV_SENT_SYN, FSC_EV_UNSEEN_SYN));
    if (fsc_mark_set(&x->synack))
        go(w, FSC_TCP_SYN_RCVD, &x->synack,
           ev_sent(&x->synack, FSC_EV_SENT_SYNACK, FSC_EV_UNSEEN_SYNACK));
    else if (w->state == FSC_TCP_LISTEN && fsc_mark_set(&x->est))
        go(w, FSC_TCP_SYN_RCVD, &x->est, FSC_EV_UNSEEN_SYNACK); /* its SYN+ACK was missed */

    if (w->state == FSC_TCP_SYN_RCVD) {
        /* Synchronized when its SYN is acked, or shown by a later segment of its own (which,
         * at the same frame, is the better proof of an ack inferred from it). */
        e = acked->how == FSC_MK_UNSEEN ? earlier(&x->est, acked) : earlier(acked, &x->est);
        if (e)
            go(w, FSC_TCP_ESTABLISHED, e,
               e == &x->est ? ev_sent(e, FSC_EV_SENT_AFTER_SYN, FSC_EV_UNSEEN_DATA)
                            : ev_peer_ack(e, FSC_EV_PEER_ACK_SYN));
    } else if (w->state == FSC_TCP_SYN_SENT) {
        /* Synchronized by the peer's SYN+ACK: its own ack of the peer's SYN proves it. */
        const struct fsc_mark *rcvd = fsc_mark_set(acked) ? &x->rcvd_syn : NULL;
        e = rcvd ? earlier(rcvd, &x->est) : (fsc_mark_set(&x->est) ? &x->est : NULL);
        if (e)
            go(w, FSC_TCP_ESTABLISHED, e,
               e == &x->est              ? ev_sent(e, FSC_EV_SENT_AFTER_SYN, FSC_EV_UNSEEN_DATA)
               : e->how == FSC_MK_EARLY  ? FSC_EV_EARLY_ACK_SYN
               : e->how == FSC_MK_UNSEEN ? FSC_EV_UNSEEN_ACK_SYN
                                         : FSC_EV_ACK_PEER_SYN);
    }
}

static uint8_t ev_rcvd_fin(const struct fsc_mark *m)
{
    return m->how == FSC_MK_EARLY ? FSC_EV_EARLY_ACK_FIN : FSC_EV_ACK_PEER_FIN;
}

/*
 * RFC 9293 section 3.6: the close.  x either received o's FIN before it closed (CLOSE_WAIT,
 * LAST_ACK) or closed first (FIN_WAIT_1); from FIN_WAIT_1 the ack of its FIN and o's FIN arrive
 * in the order o sent them: if o's FIN did not cover x's FIN (they crossed), o's ack of x's FIN
 * came after o's FIN in sequence, so x got the FIN first (CLOSING); otherwise the ack first
 * (FIN_WAIT_2).  A step whose target depends on a segment of an endpoint the tap never saw is
 * not made: the endpoint stays in its last proven state.
 */
static void closing(struct walk *w, const struct fsc_endpoint *x, const struct fsc_endpoint *o)
{
    const struct fsc_mark *acked = fsc_ack_proof_final(&x->fin_acked);
    bool peer_fin = o->fin_sent;
    enum tri x_second = second_closer(x, o), o_second = second_closer(o, x);

    if (w->state < FSC_TCP_SYN_RCVD)
        return; /* never synchronized: no FIN it sent or got counts (RFC 9293 3.10.7.4) */
    /* In SYN-RECEIVED a FIN is processed only after an ACK of its SYN made it ESTABLISHED
     * (3.10.7.4, "fifth, check the ACK field"); it may send its own FIN (3.10.4). */
    if (w->state == FSC_TCP_SYN_RCVD && (!x->fin_sent || x_second == YES))
        return;
    if (!x->fin_sent) {
        if (peer_fin && fsc_mark_set(&x->rcvd_fin))
            go(w, FSC_TCP_CLOSE_WAIT, &x->rcvd_fin, ev_rcvd_fin(&x->rcvd_fin));
        return;
    }
    if (x_second == UNKNOWN)
        return;
    if (x_second == YES) {
        go(w, FSC_TCP_CLOSE_WAIT, &x->rcvd_fin, ev_rcvd_fin(&x->rcvd_fin));
        go(w, FSC_TCP_LAST_ACK, &x->fin, ev_sent(&x->fin, FSC_EV_SENT_FIN, FSC_EV_UNSEEN_FIN));
        if (fsc_mark_set(acked))
            go(w, FSC_TCP_CLOSED, acked, ev_peer_ack(acked, FSC_EV_PEER_ACK_FIN));
        return;
    }
    go(w, FSC_TCP_FIN_WAIT_1, &x->fin, ev_sent(&x->fin, FSC_EV_SENT_FIN, FSC_EV_UNSEEN_FIN));
    if (peer_fin && o_second == UNKNOWN)
        return;
    if (peer_fin && o_second == NO) { /* the FINs crossed */
        const struct fsc_mark *got = earlier(&x->rcvd_fin, acked);
        if (got)
            go(w, FSC_TCP_CLOSING, got,
               got == &x->rcvd_fin ? ev_rcvd_fin(got) : FSC_EV_PEER_FIN_BEFORE);
        if (w->state == FSC_TCP_CLOSING && fsc_mark_set(acked))
            go(w, FSC_TCP_TIME_WAIT, acked, ev_peer_ack(acked, FSC_EV_PEER_ACK_FIN));
        return;
    }
    if (fsc_mark_set(acked))
        go(w, FSC_TCP_FIN_WAIT_2, acked, ev_peer_ack(acked, FSC_EV_PEER_ACK_FIN));
    if (peer_fin && w->state == FSC_TCP_FIN_WAIT_2 && fsc_mark_set(&x->rcvd_fin))
        go(w, FSC_TCP_TIME_WAIT, &x->rcvd_fin, ev_rcvd_fin(&x->rcvd_fin));
}

/* Steps an endpoint's own segments show: it was alive when it sent them. */
static bool own_step(uint8_t ev)
{
    switch (ev) {
    case FSC_EV_SENT_SYN:
    case FSC_EV_SENT_SYNACK:
    case FSC_EV_SENT_AFTER_SYN:
    case FSC_EV_SENT_FIN:
    case FSC_EV_ACK_PEER_SYN:
    case FSC_EV_EARLY_ACK_SYN:
    case FSC_EV_ACK_PEER_FIN:
    case FSC_EV_EARLY_ACK_FIN:
    case FSC_EV_ACK_FIN_REORDERED:
    case FSC_EV_FIN_ACKED_PEER:
    case FSC_EV_GOT_PEER_FIN_ACK:
        return true;
    default:
        return false;
    }
}

/*
 * RSTs (RFC 9293 section 3.10.7.4, "second, check the RST bit").  A reset socket sends nothing
 * more, so an endpoint's own RST closes it after everything it lived.  A RST it received closes
 * it too, after any segment of its own captured later: it sent those before the RST arrived (the
 * tap sat nearer the resetter).  An endpoint that reset sent its RST before any RST of its peer
 * arrived: they crossed; and if its RST+ACK's ack is below the peer's FIN, it never received
 * that FIN.  A listener ignores a RST (3.10.7.2), unless its own SYN+ACK, captured later, shows
 * it had left LISTEN when the RST arrived; TIME_WAIT never sends one (it
 * ACKs, 3.10.7.4 and Linux's tcp_timewait_state_process): a RST "from TIME_WAIT" shows the socket
 * was gone, so its sender is CLOSED too.
 */
static bool got_fin(uint8_t st)
{
    return st == FSC_TCP_CLOSE_WAIT || st == FSC_TCP_CLOSING || st == FSC_TCP_TIME_WAIT ||
           st == FSC_TCP_LAST_ACK;
}

static void cut_at_rsts(const struct fsc_flow *f, int e, const struct fsc_endpoint *x,
                        const struct fsc_endpoint *o, struct fsc_path *p)
{
    const struct fsc_mark *sent = fsc_mark_set(&x->rst) ? &x->rst : NULL;
    const struct fsc_mark *rst = sent ? sent : f->self_connect ? NULL : &o->rst;
    if (!rst || !fsc_mark_set(rst))
        return;
    /* A RST+ACK carries its sender's RCV.NXT: below the peer's FIN, it had not received it. */
    bool no_fin = sent && (x->rst_flags & FSC_TH_ACK) && o->fin_sent && !f->self_connect &&
                  FSC_SEQ_LT(x->rst_ack, o->fin_seq + 1);
    struct fsc_path full = *p;
    struct walk w = {.p = p, .state = p->initial};
    unsigned k = 0;

    p->n = 0;
    for (; k < full.n && full.step[k].at.packet <= rst->packet; k++) {
        if (no_fin && got_fin(full.step[k].to))
            break;
        go(&w, full.step[k].to, &full.step[k].at, full.step[k].ev);
    }
    for (; !sent && k < full.n && own_step(full.step[k].ev); k++)
        go(&w, full.step[k].to, &full.step[k].at, full.step[k].ev);
    if (!sent && (w.state == FSC_TCP_LISTEN || w.state == FSC_TCP_CLOSED)) {
        for (; k < full.n; k++) /* nothing to reset: the RST changed nothing */
            go(&w, full.step[k].to, &full.step[k].at, full.step[k].ev);
        return;
    }
    if (w.state == FSC_TCP_CLOSED)
        return;
    uint8_t ev = FSC_EV_PEER_RST;
    if (sent)
        ev = f->rst_answered_fin && w.state == FSC_TCP_FIN_WAIT_2 && f->first_fin_by == e
                 ? FSC_EV_FIN_WAIT_2_TIMEOUT
                 : FSC_EV_SENT_RST;
    go(&w, FSC_TCP_CLOSED, rst, ev); /* placed after its own later steps, if any */
}

static void derive(const struct fsc_flow *f, const struct fsc_endpoint view[2], int e,
                   struct fsc_path *p)
{
    const struct fsc_endpoint *x = &view[e], *o = &view[fsc_flow_peer(f, e)];
    struct walk w = {.p = p};

    p->n = 0;
    p->initial = w.state = initial_state(f, e, x);
    opening(f, &w, x);
    closing(&w, x, o);
    if (fsc_mark_set(&x->rst) || fsc_mark_set(&o->rst))
        cut_at_rsts(f, e, x, o, p);
}

void fsc_lifecycle_path(const struct fsc_flow *f, int e, struct fsc_path *out)
{
    struct fsc_endpoint buf[2];

    derive(f, facts(f, buf), e, out);
}

static uint8_t path_state(const struct fsc_path *p)
{
    return p->n ? p->step[p->n - 1].to : p->initial;
}

static bool done(uint8_t st)
{
    return st == FSC_TCP_CLOSED || st == FSC_TCP_TIME_WAIT;
}

void fsc_lifecycle_refresh(struct fsc_flow *f)
{
    struct fsc_endpoint buf[2];
    const struct fsc_endpoint *view = facts(f, buf);
    struct fsc_path p;

    for (int e = 0; e < 2; e++) {
        derive(f, view, e, &p);
        f->ep[e].state = path_state(&p);
    }
    if (f->self_connect)
        f->ep[FSC_SERVER].state = f->ep[FSC_CLIENT].state;

    const struct fsc_endpoint *c = &view[FSC_CLIENT], *v = &view[FSC_SERVER];
    bool c_done = done(f->ep[FSC_CLIENT].state), v_done = done(f->ep[FSC_SERVER].state);
    /* One-sided: once the seen side closed and acked the peer's FIN, nothing more can show. */
    bool seen_done = false;
    for (int e = 0; e < 2 && !f->self_connect; e++)
        if (unseen(&f->ep[!e]) && !unseen(&f->ep[e]) && view[e].fin_sent &&
            fsc_mark_set(&view[e].rcvd_fin))
            seen_done = true;
    f->closed = f->first_rst_by >= 0 || f->rst_pending.packet || seen_done ||
                (c_done && (v_done || f->self_connect) && (c->fin_sent || v->fin_sent));
}

bool fsc_flow_fins_sent(const struct fsc_flow *f)
{
    return f->ep[FSC_CLIENT].fin_sent && (f->ep[FSC_SERVER].fin_sent || f->self_connect);
}

bool fsc_flow_over(const struct fsc_flow *f)
{
    return f->closed || f->first_rst_by >= 0 || fsc_flow_fins_sent(f) ||
           f->ep[FSC_CLIENT].state == FSC_TCP_TIME_WAIT ||
           f->ep[FSC_SERVER].state == FSC_TCP_TIME_WAIT;
}

/* ---- the merged transition log ---- */

/* Order within one frame: what the sender shows it received, what that tells the receiver,
 * what the sender did next; RSTs last. */
static unsigned rank(uint8_t ev)
{
    static const uint8_t r[FSC_EV__COUNT] = {
        [FSC_EV_INITIAL] = 0,
        [FSC_EV_MIDSTREAM] = 0,
        [FSC_EV_SENT_SYN] = 1,
        [FSC_EV_SENT_SYNACK] = 1,
        [FSC_EV_UNSEEN_SYNACK] = 1,
        [FSC_EV_UNSEEN_DATA] = 1,
        [FSC_EV_UNSEEN_FIN] = 1,
        [FSC_EV_ACK_PEER_SYN] = 2,
        [FSC_EV_ACK_PEER_FIN] = 2,
        [FSC_EV_EARLY_ACK_SYN] = 2,
        [FSC_EV_PEER_ACK_SYN] = 3,
        [FSC_EV_PEER_FIN_BEFORE] = 3,
        [FSC_EV_PEER_ACK_FIN] = 3,
        [FSC_EV_ACK_CROSSED] = 4,
        [FSC_EV_SENT_AFTER_SYN] = 4,
        [FSC_EV_SENT_FIN] = 5,
        [FSC_EV_EARLY_ACK_FIN] = 6,
        [FSC_EV_FIN_ACKED_PEER] = 6,
        [FSC_EV_EARLY_PEER_ACK] = 6,
        [FSC_EV_SENT_RST] = 7,
        [FSC_EV_FIN_WAIT_2_TIMEOUT] = 7,
        [FSC_EV_PEER_RST] = 8,
        [FSC_EV_UNSEEN_SYN] = 1,
        [FSC_EV_UNSEEN_ACK_SYN] = 2,
        [FSC_EV_ACK_FIN_REORDERED] = 6,
        [FSC_EV_GOT_PEER_FIN_ACK] = 2,
    };
    return ev < FSC_EV__COUNT ? r[ev] : 9;
}

static void emit_step(const struct fsc_path *p, unsigned i, int e, struct fsc_transition *t)
{
    t->ts = p->step[i].at.ts;
    t->packet = p->step[i].at.packet;
    t->endpoint = (uint8_t)e;
    t->from = i ? p->step[i - 1].to : p->initial;
    t->to = p->step[i].to;
    t->evidence = p->step[i].ev;
}

uint32_t fsc_flow_transitions(const struct fsc_flow *f, struct fsc_transition *out)
{
    struct fsc_endpoint buf[2];
    const struct fsc_endpoint *view = facts(f, buf);
    struct fsc_path p[2];
    unsigned i[2] = {0, 0};
    uint32_t n = 0;
    int ends = f->self_connect ? 1 : 2;

    derive(f, view, FSC_CLIENT, &p[0]);
    p[1].n = 0;
    if (ends == 2)
        derive(f, view, FSC_SERVER, &p[1]);
    while (n < FSC_FLOW_MAX_TRANSITIONS && (i[0] < p[0].n || i[1] < p[1].n)) {
        int e;
        if (i[1] >= p[1].n)
            e = 0;
        else if (i[0] >= p[0].n)
            e = 1;
        else {
            uint64_t a = p[0].step[i[0]].at.packet, b = p[1].step[i[1]].at.packet;
            e = b < a || (b == a && rank(p[1].step[i[1]].ev) < rank(p[0].step[i[0]].ev));
        }
        emit_step(&p[e], i[e], e, &out[n++]);
        i[e]++;
    }
    return n;
}

bool fsc_path_visits(const struct fsc_path *p, enum fsc_tcp_state st)
{
    for (unsigned i = 0; i < p->n; i++)
        if (p->step[i].to == st)
            return true;
    return p->initial == st;
}
