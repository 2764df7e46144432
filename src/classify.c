/* classify.c - names how a finished flow opened and ended (DESIGN.md section 2) from its facts. */
#include <string.h>

#include "finscope/classify.h"

#include "finscope/flow.h"
#include "finscope/lifecycle.h"

static bool handshake_done(const struct fsc_flow *f, const struct fsc_endpoint v[2])
{
    return f->midstream ||
           (fsc_mark_set(fsc_ack_proof_final(&v[FSC_CLIENT].syn_acked)) &&
            (f->self_connect || fsc_mark_set(fsc_ack_proof_final(&v[FSC_SERVER].syn_acked))));
}

/* How far s has received r's stream, counting the RST p's own ack field (an active reset carries
 * rcv.nxt: what its socket had received). */
static uint64_t received(const struct fsc_endpoint *s, const struct fsc_endpoint *r,
                         const struct fsc_pkt *p)
{
    uint32_t a = s->ack_hi;
    if ((p->flags & FSC_TH_ACK) && (!s->ack_seen || FSC_SEQ_GT(p->ack, a)))
        a = p->ack;
    return s->ack_seen || (p->flags & FSC_TH_ACK) ? fsc_seq64(r, a) : 0;
}

/*
 * An accept-queue overflow: the server's first segment after its SYN+ACK is a bare RST at its
 * ISN+1 answering the client's handshake ACK.  Linux with net.ipv4.tcp_abort_on_overflow=1 does
 * exactly this when the accept queue is full (tcp_check_req, reset in reply to the ACK); a
 * listener that had no socket for the ACK looks the same, so it is never proven.
 */
static bool accept_overflow(const struct fsc_flow *f, const struct fsc_endpoint *s,
                            const struct fsc_pkt *p)
{
    return !f->midstream && s->synack_sent && !(p->flags & FSC_TH_ACK) && !fsc_mark_set(&s->est) &&
           !s->fin_sent && !s->data_sent && p->seq == s->isn + 1 &&
           fsc_mark_set(fsc_ack_proof_final(&s->syn_acked));
}

/* ---- why a RST ended the flow: judged at the RST, told at the end (the one home) ---- */

/*
 * Why s resets the connection, decided at its first RST (DESIGN.md section 6 and
 * docs/schema.md, "RST causes").  What the wire proves (Linux 6.x):
 * - payload the peer sent after s's FIN that s never acknowledged, answered by a bare RST at
 *   that payload's ack, arrived at a close()d socket (an orphan resets new data with a reply
 *   from no socket, tcp_rcv_state_process): data_after_close, proven;
 * - payload s's stack acknowledged (its acks, or the RST+ACK's own ack field) was received into
 *   a live socket's buffer: its close() found it unread, or the application aborted (SO_LINGER
 *   {1,0}): the same packets, so unread_data or abort is only the likely reading;
 * - a RST+ACK from a socket that never received payload cannot be about unread data: abort,
 *   proven (when the whole connection was captured).
 * The likely reading for payload that was received and never answered rests on who spoke last:
 * the server (a request it never answered) or a side that never sent payload resets over unread
 * data; a client that got the reply to its request aborts (captures/lo_linger0.pcap,
 * captures/lo_unread_data.pcap).
 */
static enum fsc_rst_cause rst_cause(const struct fsc_flow *f, int sd, const struct fsc_pkt *p,
                                    bool as_server, bool crossing, bool *proven)
{
    struct fsc_endpoint v[2];
    fsc_flow_view(f, v);
    const struct fsc_endpoint *s = &v[sd], *r = &v[fsc_flow_peer(f, sd)];
    uint64_t got = received(s, r, p);
    bool bare = !(p->flags & FSC_TH_ACK);

    *proven = false;
    if (!handshake_done(f, v)) {
        *proven = true;
        return FSC_RC_HANDSHAKE;
    }
    if (as_server && accept_overflow(f, s, p))
        return FSC_RC_ACCEPT_OVERFLOW;
    if (s->fin_sent) {
        uint64_t fin_rcvd = s->fin_seg_has_ack ? fsc_seq64(r, s->fin_seg_ack) : 0;
        bool after = r->data_sent && (s->fin_seg_has_ack ? fsc_seq64(r, r->data_hi) > fin_rcvd
                                                         : r->data_after_peer_fin);
        if (!after)
            return FSC_RC_OTHER;
        /* The orphan's reply to that payload: a bare RST (the reply of no socket) at the
         * payload's ack (3.10.7.1), which lies between the peer's acks (or s's FIN, when the
         * payload crossed it) and s's snd_max. */
        uint32_t lo = FSC_SEQ_LT(s->fin_seq, r->ack_hi) ? s->fin_seq : r->ack_hi;
        if (bare && r->pkts > 0 && r->ack_seen && FSC_SEQ_GEQ(p->seq, lo) &&
            FSC_SEQ_LEQ(p->seq, s->snd_max) && got < fsc_seq64(r, r->data_hi)) {
            *proven = true;
            return FSC_RC_DATA_AFTER_CLOSE;
        }
        /* An active reset whose ack covers payload after the FIN: it reached a live socket
         * (shutdown(), then close() with it unread, or an abort). */
        return !bare && got > fin_rcvd ? FSC_RC_UNREAD_DATA : FSC_RC_OTHER;
    }
    /* A bare RST answers a segment that reached no socket (RFC 9293 3.10.7.1: its seq is that
     * segment's ack); a live socket aborting sends RST+ACK.  No application abort, no unread
     * data: the connection was already gone on that side. */
    if (bare)
        return FSC_RC_OTHER;
    if (r->data_sent && (as_server || !s->data_sent)) {
        uint64_t answered = s->answered_set ? s->answered : 1; /* 1: r's first byte */
        if (fsc_seq64(r, r->data_hi) > answered && got > answered)
            return FSC_RC_UNREAD_DATA;
    }
    /* A lone RST picked up midstream shows no ESTABLISHED endpoint (scans, stray segments). */
    if (f->midstream && s->pkts == 1 && r->pkts == 0)
        return FSC_RC_OTHER;
    /* Already closed by its peer's RST (unless the two crossed), or never synchronized. */
    if (!crossing && s->state != FSC_TCP_ESTABLISHED && s->state != FSC_TCP_CLOSE_WAIT)
        return FSC_RC_OTHER;
    /* Nothing received beyond the SYN (and a FIN): nothing could have been left unread. */
    uint64_t fin = r->fin_sent && got > fsc_seq64(r, r->fin_seq) ? 1 : 0;
    *proven = !f->midstream && got <= 1 + fin;
    return FSC_RC_ABORT;
}

void fsc_rst_judge(struct fsc_flow *f, int sd, const struct fsc_pkt *p, bool crossing)
{
    for (int as_server = 0; as_server < 2; as_server++) {
        bool proven;
        enum fsc_rst_cause c = rst_cause(f, sd, p, as_server, crossing, &proven);
        f->ep[sd].rst_reading[as_server].cause = (uint8_t)c;
        f->ep[sd].rst_reading[as_server].proven = proven;
    }
}

struct rst_verdict {
    enum fsc_rst_cause cause; /* FSC_RC_NONE: no RST ended the flow */
    bool proven;
};

/*
 * The cause of the RST that ended the flow, read for its sender's role.  When the RSTs crossed,
 * which one the tap saw first depends on where it sat: the client's is told, unless it shows
 * nothing and the server's does.
 */
static struct rst_verdict rst_verdict(const struct fsc_flow *f)
{
    int by = f->first_rst_by;

    if (by < 0)
        return (struct rst_verdict){FSC_RC_NONE, false};
    if (f->rst_crossed) {
        const struct fsc_endpoint *c = &f->ep[FSC_CLIENT], *s = &f->ep[FSC_SERVER];
        by = c->rst_reading[0].cause == FSC_RC_OTHER && s->rst_reading[1].cause != FSC_RC_OTHER
                 ? FSC_SERVER
                 : FSC_CLIENT;
    }
    return (struct rst_verdict){(enum fsc_rst_cause)f->ep[by].rst_reading[by == FSC_SERVER].cause,
                                f->ep[by].rst_reading[by == FSC_SERVER].proven};
}

/* Whether x's RST was an orphan's reply to payload sent after its FIN (data_after_close: the
 * same in both readings, which differ only before a FIN). */
static bool reset_as_orphan(const struct fsc_endpoint *x)
{
    return x->rst_sent && x->rst_reading[0].cause == FSC_RC_DATA_AFTER_CLOSE;
}

/* ---- handshake, close, closer ---- */

bool fsc_tcp_simultaneous_open(const struct fsc_flow *f)
{
    if (f->both_syn_unacked)
        return true;
    for (int e = 0; e < 2 && !f->self_connect; e++) {
        const struct fsc_endpoint *x = &f->ep[e];
        if (f->ep[!e].pkts == 0 && x->syn.how == FSC_MK_SEEN && fsc_mark_set(&x->syn) &&
            fsc_mark_set(&x->synack) && x->syn.packet < x->synack.packet)
            return true;
    }
    return false;
}

static enum fsc_handshake classify_handshake(const struct fsc_flow *f,
                                             const struct fsc_endpoint v[2], enum fsc_rst_cause rst)
{
    const struct fsc_endpoint *srv = &v[FSC_SERVER];

    if (f->midstream)
        return FSC_HS_NONE;
    if (f->self_connect)
        return FSC_HS_SELF_CONNECT;
    if (fsc_tcp_simultaneous_open(f))
        return FSC_HS_SIMULTANEOUS;
    if (srv->synack_sent || fsc_mark_set(&srv->est))
        return rst == FSC_RC_HANDSHAKE ? FSC_HS_ABORTED : FSC_HS_THREE_WAY;
    if (srv->rst_sent && f->first_rst_by == FSC_SERVER)
        return FSC_HS_REFUSED;
    if (f->first_rst_by == FSC_CLIENT)
        return FSC_HS_ABORTED; /* the client gave up on its own SYN with a RST */
    if (f->ep[FSC_CLIENT].state == FSC_TCP_SYN_SENT)
        return FSC_HS_UNANSWERED;
    return FSC_HS_THREE_WAY;
}

/*
 * The close kind from sequence and ack numbers only (DESIGN.md section 1): the second FIN is the
 * one whose sender had already received the other.  An ack of its own before its FIN: four-way;
 * only its FIN's ack: three-way.  Neither had received the other's FIN: they crossed, and the
 * close is simultaneous once both endpoints are shown to have got the other's FIN (CLOSING);
 * crossed FINs that were not both received, or a missing direction that leaves the order open,
 * prove no kind: fins_unproven.
 */
static enum fsc_close_kind classify_close(const struct fsc_flow *f, const struct fsc_endpoint v[2],
                                          const struct fsc_path p[2], int *first)
{
    bool prior;

    *first = -1;
    if (f->handshake == FSC_HS_REFUSED)
        return FSC_CK_REFUSED;
    if (f->handshake == FSC_HS_UNANSWERED)
        return FSC_CK_UNANSWERED;
    if (f->first_rst_by >= 0)
        return FSC_CK_RST;
    if (f->self_connect)
        return v[FSC_CLIENT].fin_sent ? FSC_CK_TWO_WAY : FSC_CK_OPEN;
    if (v[FSC_CLIENT].fin_sent && v[FSC_SERVER].fin_sent) {
        for (int e = 0; e < 2; e++) {
            if (fsc_lifecycle_second_closer(v, e, !e, &prior) == 1) {
                *first = !e;
                return prior ? FSC_CK_FOUR_WAY : FSC_CK_THREE_WAY;
            }
        }
        if (fsc_lifecycle_second_closer(v, FSC_CLIENT, FSC_SERVER, &prior) < 0 ||
            fsc_lifecycle_second_closer(v, FSC_SERVER, FSC_CLIENT, &prior) < 0)
            return FSC_CK_FINS_UNPROVEN;
        return fsc_path_visits(&p[0], FSC_TCP_CLOSING) && fsc_path_visits(&p[1], FSC_TCP_CLOSING)
                   ? FSC_CK_SIMULTANEOUS
                   : FSC_CK_FINS_UNPROVEN;
    }
    if (v[FSC_CLIENT].fin_sent || v[FSC_SERVER].fin_sent)
        return FSC_CK_HALF_CLOSED;
    return FSC_CK_OPEN;
}

/* Whether x's own close (its FIN, else its RST) came after o's FIN reached it: x's acks show it,
 * or x's bare RST answers o's FIN segment (its seq is that segment's ack, RFC 9293 3.10.7.1). */
static bool closed_after_fin_of(const struct fsc_endpoint v[2], int x, int o)
{
    bool prior;

    if (!v[o].fin_sent)
        return false;
    if (v[x].fin_sent)
        return fsc_lifecycle_second_closer(v, x, o, &prior) == 1;
    return fsc_mark_set(&v[x].rcvd_fin) ||
           (v[x].rst_sent && !(v[x].rst_flags & FSC_TH_ACK) && v[o].fin_seg_has_ack &&
            v[x].rst_seq == v[o].fin_seg_ack);
}

/*
 * Who began a close that a RST ended: each endpoint that sent a FIN, and the one whose RST ended
 * the connection (both, when the RSTs crossed).  One of them began first when the other's acks
 * show it had received that FIN before its own close; a RST carries no sequence space, so when
 * neither did, they closed at once and the order of the capture (which depends on where the tap
 * sat) is no answer: both.
 */
static int rst_closer(const struct fsc_flow *f, const struct fsc_endpoint v[2])
{
    bool began[2];

    for (int e = 0; e < 2; e++)
        began[e] = v[e].fin_sent || f->first_rst_by == e || (f->rst_crossed && v[e].rst_sent);
    if (!began[0] || !began[1])
        return began[FSC_CLIENT] ? FSC_CL_CLIENT : FSC_CL_SERVER;
    for (int e = 0; e < 2; e++)
        if (closed_after_fin_of(v, !e, e))
            return e == FSC_CLIENT ? FSC_CL_CLIENT : FSC_CL_SERVER;
    return FSC_CL_BOTH;
}

static enum fsc_closer classify_closer(const struct fsc_flow *f, const struct fsc_endpoint v[2],
                                       int first)
{
    if (f->first_fin_by < 0 && f->first_rst_by < 0 && first < 0)
        return FSC_CL_NONE;
    if (f->self_connect)
        return FSC_CL_SELF;
    if (f->close_kind == FSC_CK_SIMULTANEOUS)
        return FSC_CL_BOTH;
    if (f->close_kind == FSC_CK_FINS_UNPROVEN)
        return f->one_sided ? FSC_CL_UNKNOWN : FSC_CL_BOTH;
    if (f->first_rst_by >= 0)
        return rst_closer(f, v);
    /* Both FINs: sequence numbers say who was first; else the only FIN. */
    int by = first >= 0 ? first : f->first_fin_by;
    return by == FSC_CLIENT ? FSC_CL_CLIENT : FSC_CL_SERVER;
}

/*
 * What the first closer called.  Linux and the BSDs: after close() the socket is an orphan that
 * answers new data with a RST (and is destroyed after tcp_fin_timeout in FIN_WAIT_2); after
 * shutdown(SHUT_WR) it still receives.  So payload the peer sent after that FIN and the closer
 * acknowledged shows shutdown; such payload answered by a RST it never acknowledged, or a
 * FIN_WAIT_2 timeout, shows close.
 */
static enum fsc_closer_call classify_closer_call(const struct fsc_flow *f,
                                                 const struct fsc_endpoint v[2])
{
    int c = f->closer == FSC_CL_CLIENT   ? FSC_CLIENT
            : f->closer == FSC_CL_SERVER ? FSC_SERVER
                                         : f->first_fin_by;

    if (c < 0 || !v[c].fin_sent)
        return f->first_fin_by < 0 ? FSC_CC_NONE : FSC_CC_UNKNOWN;
    if (f->self_connect || (f->closer == FSC_CL_BOTH && v[!c].fin_sent))
        return FSC_CC_UNKNOWN; /* no one closed first */
    const struct fsc_endpoint *x = &v[c], *y = &v[!c];
    if (f->rst_answered_fin && f->first_fin_by == c)
        return FSC_CC_CLOSE;
    if (!x->fin_seg_has_ack || !y->data_sent)
        return FSC_CC_UNKNOWN;
    uint64_t at_fin = fsc_seq64(y, x->fin_seg_ack), data_end = fsc_seq64(y, y->data_hi);
    if (data_end <= at_fin)
        return FSC_CC_UNKNOWN; /* no payload after the FIN */
    uint64_t acked = x->ack_seen ? fsc_seq64(y, x->ack_hi) : 0;
    if ((acked < data_end ? acked : data_end) > at_fin)
        return FSC_CC_SHUTDOWN;
    /* Its bare RST answered that payload: an orphan, the reply of no socket. */
    return reset_as_orphan(x) ? FSC_CC_CLOSE : FSC_CC_UNKNOWN;
}

/* Dwell of the first endpoint to enter st: until it left, or end_ts. */
static int64_t dwell(const struct fsc_path p[2], int ends, enum fsc_tcp_state st, fsc_time end_ts)
{
    const struct fsc_mark *in = NULL, *out = NULL;

    for (int e = 0; e < ends; e++) {
        for (unsigned i = 0; i < p[e].n; i++) {
            if (p[e].step[i].to != st || (in && in->packet <= p[e].step[i].at.packet))
                continue;
            in = &p[e].step[i].at;
            out = i + 1 < p[e].n ? &p[e].step[i + 1].at : NULL;
        }
    }
    if (!in)
        return -1;
    /* Capture time can step back a little (multi-queue capture): a dwell is never negative. */
    fsc_time leave = out ? out->ts : end_ts;
    return leave > in->ts ? leave - in->ts : 0;
}

/* Rewrite the raw seq/ack of the stored segments relative to each side's ISN (ISN = 0). */
static void relativize_segments(struct fsc_flow *f)
{
    uint32_t base[2];
    bool known[2];

    for (int e = 0; e < 2; e++) {
        base[e] = f->ep[e].isn;
        known[e] = f->ep[e].seq_known;
    }
    /* A side that never sent: take the first ack aimed at it as "relative 1". */
    for (uint32_t i = 0; i < f->n_seg; i++) {
        const struct fsc_segment *g = &f->seg[i];
        int to = fsc_flow_peer(f, g->from);
        if (!known[to] && (g->flags & FSC_TH_ACK)) {
            base[to] = g->rel_ack - 1;
            known[to] = true;
        }
    }
    for (uint32_t i = 0; i < f->n_seg; i++) {
        struct fsc_segment *g = &f->seg[i];
        int to = fsc_flow_peer(f, g->from);
        g->rel_seq -= base[g->from];
        g->rel_ack = (g->flags & FSC_TH_ACK) ? g->rel_ack - base[to] : 0;
    }
}

/* Anomalies that need the whole flow. */
static void final_anomalies(struct fsc_flow *f, const struct fsc_endpoint v[2])
{
    if (f->one_sided)
        f->anomalies |= FSC_AN_ONE_SIDED;
    else if (f->handshake == FSC_HS_THREE_WAY && !f->midstream &&
             !fsc_mark_set(fsc_ack_proof_final(&v[FSC_SERVER].syn_acked)))
        f->anomalies |= FSC_AN_HS_INCOMPLETE;
    for (int e = 0; e < 2; e++) {
        const struct fsc_endpoint *x = &v[e];
        /* Its FIN's acks come from the peer: in a one-sided flow only the seen side acks. */
        bool visible = !f->one_sided || f->ep[!e].pkts > 0;
        if (x->fin_sent && visible && !fsc_mark_set(fsc_ack_proof_final(&x->fin_acked)) &&
            f->first_rst_by < 0)
            f->anomalies |= FSC_AN_FIN_NO_ACK;
    }
}

void fsc_classify(struct fsc_flow *f, fsc_time end_ts)
{
    struct fsc_endpoint v[2];
    struct fsc_path p[2];
    int first, ends = f->self_connect ? 1 : 2;

    if (f->finalized)
        return;
    fsc_tcp_flow_end(f);
    fsc_flow_view(f, v);
    f->one_sided = false;
    for (int e = 0; e < 2 && !f->self_connect; e++) {
        /* Only e was captured, and its acks show its peer sent something while the capture
         * ran: they moved, its RST answered a segment of the peer, or e acked after its own
         * SYN (it got the SYN+ACK). */
        const struct fsc_endpoint *x = &f->ep[e];
        if (f->ep[!e].pkts == 0 && x->pkts > 0 &&
            (x->ack_rises > 0 || fsc_mark_set(&v[!e].est) ||
             (x->syn.how == FSC_MK_SEEN && fsc_mark_set(&x->syn) && fsc_mark_set(&x->est))))
            f->one_sided = true;
    }
    for (int e = 0; e < ends; e++) {
        fsc_lifecycle_path(f, e, &p[e]);
        f->ep[e].state = p[e].n ? p[e].step[p[e].n - 1].to : p[e].initial;
    }
    if (f->self_connect) { /* one socket: the "server" is the same endpoint */
        p[1] = p[0];
        f->ep[FSC_SERVER].state = f->ep[FSC_CLIENT].state;
    }

    struct rst_verdict rst = rst_verdict(f);
    f->handshake = classify_handshake(f, v, rst.cause);
    f->close_kind = classify_close(f, v, p, &first);
    /* A RST that ended a refused or unanswered handshake is that close kind, not "rst". */
    f->rst_cause = f->close_kind == FSC_CK_RST ? rst.cause : FSC_RC_NONE;
    f->rst_cause_proven = f->close_kind == FSC_CK_RST && rst.proven;
    f->closer = classify_closer(f, v, first);
    f->closer_call = classify_closer_call(f, v);
    final_anomalies(f, v);

    for (int e = 0; e < 2; e++) {
        struct fsc_endpoint *x = &f->ep[e];
        x->gap_bytes += fsc_seqset_total(&x->holes);
        fsc_seqset_clear(&x->holes);
    }
    f->close_wait_us = dwell(p, ends, FSC_TCP_CLOSE_WAIT, end_ts);
    f->fin_wait_2_us = dwell(p, ends, FSC_TCP_FIN_WAIT_2, end_ts);
    f->last_ack_us = dwell(p, ends, FSC_TCP_LAST_ACK, end_ts);
    relativize_segments(f);
    f->finalized = true;
}
