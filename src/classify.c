/* classify.c - names how a finished flow opened and ended (DESIGN.md section 2) from its facts. */
#include "finscope/flow.h"

static enum fsc_handshake classify_handshake(const struct fsc_flow *f)
{
    const struct fsc_endpoint *srv = &f->ep[FSC_SERVER];

    if (f->midstream)
        return FSC_HS_NONE;
    if (f->self_connect)
        return FSC_HS_SELF_CONNECT;
    if (f->both_syn_unacked)
        return FSC_HS_SIMULTANEOUS;
    if (srv->synack_sent)
        return f->first_rst_by >= 0 && f->rst_cause_at_rst == FSC_RC_HANDSHAKE ? FSC_HS_ABORTED
                                                                               : FSC_HS_THREE_WAY;
    if (srv->rst_sent && f->first_rst_by == FSC_SERVER)
        return FSC_HS_REFUSED;
    if (f->first_rst_by == FSC_CLIENT)
        return FSC_HS_ABORTED; /* the client gave up on its own SYN with a RST */
    if (f->ep[FSC_CLIENT].state == FSC_TCP_SYN_SENT)
        return FSC_HS_UNANSWERED;
    return FSC_HS_THREE_WAY; /* server answered without a SYN+ACK captured, yet both talk */
}

/* Whether b had received a's FIN when it sent its own FIN: the FIN's ack, or an earlier ack. */
static bool fin_acked_by(const struct fsc_endpoint *a, const struct fsc_endpoint *b, bool *before)
{
    *before = b->ack_pre_fin_seen && FSC_SEQ_GEQ(b->ack_pre_fin, a->fin_seq + 1);
    return *before || (b->fin_seg_has_ack && FSC_SEQ_GEQ(b->fin_seg_ack, a->fin_seq + 1));
}

/*
 * Which FIN came first, from sequence and ack numbers only (DESIGN.md section 1): the second
 * FIN is the one whose sender had already received the other.  Returns the first closer, or -1
 * when neither had received the other's FIN: they crossed (simultaneous close).  *prior: the
 * second closer acked the first FIN in a segment of its own before its FIN (four-way).
 */
static int first_closer(const struct fsc_flow *f, bool *prior)
{
    const struct fsc_endpoint *c = &f->ep[FSC_CLIENT], *v = &f->ep[FSC_SERVER];

    if (fin_acked_by(c, v, prior))
        return FSC_CLIENT;
    if (fin_acked_by(v, c, prior))
        return FSC_SERVER;
    return -1;
}

static enum fsc_close_kind classify_close(const struct fsc_flow *f)
{
    const struct fsc_endpoint *c = &f->ep[FSC_CLIENT], *v = &f->ep[FSC_SERVER];
    bool prior;

    if (f->handshake == FSC_HS_REFUSED)
        return FSC_CK_REFUSED;
    if (f->handshake == FSC_HS_UNANSWERED)
        return FSC_CK_UNANSWERED;
    if (f->first_rst_by >= 0)
        return FSC_CK_RST;
    if (f->self_connect)
        return c->fin_sent ? FSC_CK_TWO_WAY : FSC_CK_OPEN;
    if (c->fin_sent && v->fin_sent) {
        if (first_closer(f, &prior) < 0)
            return FSC_CK_SIMULTANEOUS;
        return prior ? FSC_CK_FOUR_WAY : FSC_CK_THREE_WAY;
    }
    if (c->fin_sent || v->fin_sent)
        return FSC_CK_HALF_CLOSED;
    return FSC_CK_OPEN;
}

static enum fsc_closer classify_closer(const struct fsc_flow *f)
{
    int by;
    bool prior;

    if (f->first_fin_by < 0 && f->first_rst_by < 0)
        return FSC_CL_NONE;
    if (f->self_connect)
        return FSC_CL_SELF;
    if (f->close_kind == FSC_CK_SIMULTANEOUS)
        return FSC_CL_BOTH;
    if (f->first_fin_by < 0)
        by = f->first_rst_by;
    else if (f->ep[FSC_CLIENT].fin_sent && f->ep[FSC_SERVER].fin_sent && f->first_rst_by < 0)
        by = first_closer(f, &prior); /* both FINs: sequence numbers say who was first */
    else if (f->first_rst_by < 0)
        by = f->first_fin_by;
    else
        by = f->first_fin_packet <= f->first_rst_packet ? f->first_fin_by : f->first_rst_by;
    return by == FSC_CLIENT ? FSC_CL_CLIENT : FSC_CL_SERVER;
}

/* Close a dwell still running at end_ts. */
static void finish_dwell(int64_t *us, fsc_time enter, fsc_time end_ts)
{
    if (enter >= 0 && *us < 0)
        *us = end_ts > enter ? end_ts - enter : 0;
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
        int to = f->self_connect ? g->from : !g->from;
        if (!known[to] && (g->flags & FSC_TH_ACK)) {
            base[to] = g->rel_ack - 1;
            known[to] = true;
        }
    }
    for (uint32_t i = 0; i < f->n_seg; i++) {
        struct fsc_segment *g = &f->seg[i];
        int to = f->self_connect ? g->from : !g->from;
        g->rel_seq -= base[g->from];
        g->rel_ack = (g->flags & FSC_TH_ACK) ? g->rel_ack - base[to] : 0;
    }
}

void fsc_classify(struct fsc_flow *f, fsc_time end_ts)
{
    if (f->finalized)
        return;
    if (f->self_connect) /* one socket: the "server" is the same endpoint */
        f->ep[FSC_SERVER].state = f->ep[FSC_CLIENT].state;

    f->handshake = classify_handshake(f);
    f->close_kind = classify_close(f);
    f->rst_cause = f->close_kind == FSC_CK_RST ? f->rst_cause_at_rst : FSC_RC_NONE;
    f->closer = classify_closer(f);

    if (f->handshake == FSC_HS_THREE_WAY && !f->ep[FSC_SERVER].syn_acked && !f->midstream)
        f->anomalies |= FSC_AN_HS_INCOMPLETE;
    for (int e = 0; e < 2; e++) {
        struct fsc_endpoint *x = &f->ep[e];
        if (x->fin_sent && !x->fin_acked && f->first_rst_by < 0)
            f->anomalies |= FSC_AN_FIN_NO_ACK;
        for (int i = 0; i < x->n_holes; i++)
            x->gap_bytes += x->hole_hi[i] - x->hole_lo[i];
        x->n_holes = 0;
    }
    finish_dwell(&f->close_wait_us, f->close_wait_enter, end_ts);
    finish_dwell(&f->fin_wait_2_us, f->fin_wait_2_enter, end_ts);
    finish_dwell(&f->last_ack_us, f->last_ack_enter, end_ts);
    relativize_segments(f);
    fsc_zeek_finish(&f->zeek);
    f->finalized = true;
}
