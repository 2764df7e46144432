/* zeek.c - replays Zeek's TCP analyzer per segment: conn_state, history, orientation, sizes. */
#include <stdlib.h>
#include <string.h>

#include "finscope/zeek.h"

/*
 * Zeek's constants, as its default scripts set them: a record is removed tcp_close_delay after
 * a complete close (a RST, both FINs, or a FIN with the peer never seen) and tcp_attempt_delay
 * after a SYN nobody answered; TOO_LARGE_SEQ_DELTA bounds the sequence jumps a SYN or RST may
 * make and still move last_seq.
 */
#define CLOSE_DELAY_US (5 * FSC_USEC_PER_SEC)
#define ATTEMPT_DELAY_US (5 * FSC_USEC_PER_SEC)
#define TOO_LARGE_SEQ_DELTA 1048576

/* History masks (Zeek's HIST_*); the responder's are shifted left by 8. */
enum {
    H_SYN = 0x1,
    H_FIN = 0x2,
    H_RST = 0x4,
    H_FIN_RST = 0x8,
    H_DATA = 0x10,
    H_ACK = 0x20,
    H_MULTI = 0x40,
};

enum { ORIG = 0, RESP = 1 };

/* Zeek's removal timers (z->timer); a close cancels the attempt timer, so one at a time. */
enum { TIMER_NONE = 0, TIMER_DELETE, TIMER_ATTEMPT };

static const char *const conn_state_names[FSC_ZS__COUNT] = {
    "S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH",
};

const char *fsc_zeek_conn_state_name(enum fsc_zeek_conn_state s)
{
    return (unsigned)s < FSC_ZS__COUNT ? conn_state_names[s] : "?";
}

/*
 * The ports Zeek's default analyzers register (Analyzer::register_for_ports fills
 * likely_server_ports): FTP, SSH, SMTP, DNS, HTTP, Kerberos, POP3, IMAP, LDAP, TLS, SMB,
 * Modbus, MySQL, RDP, XMPP, Redis, IRC, SOCKS-free HTTP alternates.  Which set a run had
 * depends on the scripts it loaded; this is the usual one.
 */
static const uint16_t likely_ports[] = {
    21,   22,   25,   53,   80,   81,   88,   110,  135,  139,  143,  389,  443,  445,  502,
    563,  585,  587,  631,  636,  989,  990,  992,  993,  995,  1812, 2811, 3128, 3268, 3306,
    3389, 5060, 5222, 5223, 5269, 6379, 6666, 6667, 6668, 6669, 8000, 8080, 8888,
};

bool fsc_zeek_likely_server_port(uint16_t port)
{
    for (size_t i = 0; i < sizeof likely_ports / sizeof *likely_ports; i++)
        if (likely_ports[i] == port)
            return true;
    return false;
}

/* ---- history ---- */

/* The letters of a history; hist_packed holds each as its 5-bit index here. */
static const char hist_letters[] = "^SHFRDAIQTWGshfrdaiqtwg";

static void add_history(struct fsc_zeek_conn *z, char code)
{
    const char *at = strchr(hist_letters, code);

    if (z->hist_len >= FSC_ZEEK_HISTORY_MAX) {
        if (z->hist_dropped < UINT16_MAX)
            z->hist_dropped++;
        return;
    }
    if (!at || !code)
        return; /* not a letter of Zeek's (cannot happen: the callers pass constants) */
    unsigned v = (unsigned)(at - hist_letters), bit = z->hist_len++ * 5u;
    for (unsigned i = 0; i < 5; i++, bit++)
        if (v >> i & 1)
            z->hist_packed[bit / 8] |= (uint8_t)(1u << bit % 8);
}

/* The open record's history as text, into out[FSC_ZEEK_HISTORY_MAX + 1]. */
static void history_text(const struct fsc_zeek_conn *z, char *out)
{
    for (unsigned k = 0; k < z->hist_len; k++) {
        unsigned v = 0, bit = k * 5u;
        for (unsigned i = 0; i < 5; i++, bit++)
            v |= (unsigned)(z->hist_packed[bit / 8] >> bit % 8 & 1) << i;
        out[k] = hist_letters[v];
    }
    out[z->hist_len] = '\0';
}

static char side_code(int side, char code)
{
    return side == ORIG ? code : (char)(code - 'A' + 'a');
}

/* Zeek's Connection::CheckHistory: the letter only the first time its mask is seen. */
static bool check_history(struct fsc_zeek_conn *z, int side, uint32_t mask, char code)
{
    if (side == RESP)
        mask <<= 8;
    if (z->hist_seen & mask)
        return false;
    z->hist_seen |= mask;
    add_history(z, side_code(side, code));
    return true;
}

static bool power_of_ten(uint32_t n)
{
    for (uint32_t p = 1;; p *= 10) {
        if (n == p)
            return true;
        if (n < p || p > UINT32_MAX / 10)
            return false;
    }
}

/*
 * Zeek's ScaledHistoryEntry: a letter at the 1st, 10th, 100th, ... event.  Zeek's threshold
 * is the next power of ten up to 10^9, where it stays; so once the 32-bit count has gone round,
 * only 10^9 gives a letter again.
 */
static void scaled_history(struct fsc_zeek_conn *z, int side, char code, int which)
{
    struct fsc_zeek_ep_bits *b = &z->eb[side];
    uint32_t cnt = ++z->ep[side].scaled_cnt[which];

    if (cnt == 0)
        b->scaled_wrapped |= (uint8_t)(1u << which);
    if (power_of_ten(cnt) && (!(b->scaled_wrapped & (1u << which)) || cnt == 1000000000u))
        add_history(z, side_code(side, code));
}

/* ---- sequence space (TCP_Endpoint's accessors) ---- */

static uint64_t full_seq(uint32_t seq, uint32_t wraps)
{
    return ((uint64_t)wraps << 32) | seq;
}

static void update_last_seq32(struct fsc_zeek_endpoint *e, uint32_t seq)
{
    if (seq < e->last_seq)
        e->seq_wraps++;
    e->last_seq = seq;
}

static void update_ack_seq32(struct fsc_zeek_endpoint *e, uint32_t seq)
{
    if (seq < e->ack_seq)
        e->ack_wraps++;
    e->ack_seq = seq;
}

/* Zeek's get_relative_seq: seq relative to the endpoint's start, wraps judged against last. */
static uint64_t relative_seq(const struct fsc_zeek_endpoint *e, uint32_t cur, uint32_t last,
                             uint32_t wraps, bool *underflow)
{
    int32_t delta = FSC_SEQ_DIFF(last, cur);

    if (delta < 0) {
        if (wraps && cur > last)
            wraps--;
    } else if (delta > 0) {
        if (cur < last)
            wraps++;
    }
    if (wraps == 0) {
        delta = FSC_SEQ_DIFF(e->start_seq, cur);
        if (underflow && delta < 0)
            *underflow = true;
        return (uint64_t)(int64_t)delta;
    }
    return full_seq(cur, wraps) - e->start_seq;
}

static bool no_data_acked(const struct fsc_zeek_endpoint *e)
{
    uint64_t ack = full_seq(e->ack_seq, e->ack_wraps);
    return ack == e->start_seq || ack == (uint64_t)e->start_seq + 1;
}

/* TCP_Endpoint::Size: payload bytes from the sequence range, SYN and FIN octets left out. */
static uint64_t endpoint_size(const struct fsc_zeek_conn *z, int side)
{
    const struct fsc_zeek_endpoint *e = &z->ep[side];
    const struct fsc_zeek_ep_bits *b = &z->eb[side];

    if (b->prev_state == FSC_ZE_SYN_SENT && b->state == FSC_ZE_RESET &&
        z->eb[!side].state == FSC_ZE_INACTIVE && !no_data_acked(e))
        return 0; /* a half-open connection found and aborted: its numbers mean nothing */
    uint64_t last = full_seq(e->last_seq, e->seq_wraps), ack = full_seq(e->ack_seq, e->ack_wraps);
    uint64_t size = (last > ack ? last : ack) - e->start_seq;
    if (size)
        size--;
    if (b->fin_seen && size)
        size--;
    return size;
}

static void set_state(struct fsc_zeek_ep_bits *b, enum fsc_zeek_ep_state s)
{
    if (b->state != s) {
        b->prev_state = b->state;
        b->state = (uint8_t)s & 7;
    }
}

/* ---- reassembly, only as far as content gaps ('G') need it ---- */

static bool is_clean(const struct fsc_zeek_ep_bits *a)
{
    return a->state == FSC_ZE_ESTABLISHED ||
           (a->state == FSC_ZE_CLOSED && a->prev_state == FSC_ZE_ESTABLISHED);
}

/* TCP_Reassembler::Gap: a letter only while both sides are established or closing cleanly. */
static void gap(struct fsc_zeek_conn *z, int side)
{
    if (is_clean(&z->eb[side]) && is_clean(&z->eb[!side]))
        scaled_history(z, side, 'G', FSC_ZEEK_SC_GAP);
}

/* Deliver blocks that now start at or below the delivered point. */
static void deliver_blocks(struct fsc_zeek_endpoint *e, struct fsc_zeek_ep_bits *b)
{
    uint8_t k = 0;
    for (uint8_t i = 0; i < b->n_blocks; i++) {
        if (e->blk_lo[i] <= e->reassem_seq) {
            if (e->blk_hi[i] > e->reassem_seq)
                e->reassem_seq = e->blk_hi[i];
            continue;
        }
        e->blk_lo[k] = e->blk_lo[i];
        e->blk_hi[k] = e->blk_hi[i];
        k++;
    }
    b->n_blocks = k & 3;
}

/* TCP_Reassembler::DataSent with NewBlock and BlockInserted: payload [seq, seq + len). */
static void data_sent(struct fsc_zeek_conn *z, int side, uint64_t seq, uint64_t len)
{
    struct fsc_zeek_endpoint *e = &z->ep[side];
    struct fsc_zeek_ep_bits *b = &z->eb[side];
    uint64_t ack = full_seq(e->ack_seq, e->ack_wraps) - e->start_seq, hi = seq + len;

    if (seq < ack) {
        if (hi <= ack)
            return; /* delivered and acked already */
        seq = ack;
    }
    if (hi <= e->trim_seq)
        return;
    if (seq < e->trim_seq)
        seq = e->trim_seq;
    if (seq <= e->reassem_seq) {
        if (hi > e->reassem_seq)
            e->reassem_seq = hi;
        deliver_blocks(e, b);
        return;
    }
    /* Above a hole: keep it, sorted, merged with what it touches. */
    for (uint8_t i = 0; i < b->n_blocks; i++) {
        if (seq <= e->blk_hi[i] && hi >= e->blk_lo[i]) {
            if (seq < e->blk_lo[i])
                e->blk_lo[i] = seq;
            if (hi > e->blk_hi[i])
                e->blk_hi[i] = hi;
            return;
        }
    }
    uint8_t at = b->n_blocks;
    if (at == FSC_ZEEK_MAX_BLOCKS) { /* full: widen the last block (gaps inside are missed) */
        at--;
        if (seq < e->blk_lo[at])
            e->blk_lo[at] = seq;
        if (hi > e->blk_hi[at])
            e->blk_hi[at] = hi;
        return;
    }
    while (at > 0 && e->blk_lo[at - 1] > seq) {
        e->blk_lo[at] = e->blk_lo[at - 1];
        e->blk_hi[at] = e->blk_hi[at - 1];
        at--;
    }
    e->blk_lo[at] = seq;
    e->blk_hi[at] = hi;
    b->n_blocks++;
}

/* TCP_Reassembler::AckReceived, TrimToSeq and Undelivered: the peer acked up to seq. */
static void ack_received(struct fsc_zeek_conn *z, int side, uint64_t seq)
{
    struct fsc_zeek_endpoint *e = &z->ep[side];
    struct fsc_zeek_ep_bits *b = &z->eb[side];

    if (b->fin_seen && seq >= e->fin_seq)
        seq = e->fin_seq - 1;
    if (seq <= e->trim_seq)
        return;
    if (seq > e->reassem_seq) {
        /* A partial connection's faked-up start: no complaint (and, as in Zeek, no advance). */
        if (!(seq <= 2 && z->is_partial)) {
            while (b->n_blocks > 0 && e->blk_lo[0] < seq) {
                gap(z, side);
                e->reassem_seq = e->blk_lo[0];
                deliver_blocks(e, b);
            }
            if (seq > e->reassem_seq) {
                gap(z, side);
                e->reassem_seq = seq;
            }
        }
    }
    e->trim_seq = seq;
}

/* ---- the state machine (TCPSessionAdapter::Process and its helpers) ---- */

static void init_endpoint(struct fsc_zeek_endpoint *e, const struct fsc_zeek_ep_bits *b, bool syn,
                          uint32_t seq, uint32_t last)
{
    switch (b->state) {
    case FSC_ZE_INACTIVE:
        if (syn) {
            e->ack_seq = e->start_seq = seq;
        } else {
            /* Partial: number as though a SYN had been seen, first packet not a duplicate. */
            e->ack_seq = e->start_seq = seq - 1;
            last = seq;
        }
        e->last_seq = last;
        break;
    case FSC_ZE_SYN_SENT:
    case FSC_ZE_SYN_ACK_SENT:
        if (syn && seq != e->start_seq) {
            e->start_seq = e->ack_seq = seq;
            e->last_seq = last;
        }
        break;
    case FSC_ZE_ESTABLISHED:
    case FSC_ZE_PARTIAL:
        if (syn) {
            e->start_seq = e->ack_seq = seq;
            e->last_seq = last;
        }
        break;
    case FSC_ZE_RESET:
        if (syn && b->prev_state == FSC_ZE_INACTIVE) {
            e->start_seq = e->ack_seq = seq;
            e->last_seq = last;
        }
        break;
    default:
        break;
    }
}

static void update_history(struct fsc_zeek_conn *z, int side, uint8_t fl, uint64_t rel_seq,
                           uint32_t len)
{
    struct fsc_zeek_endpoint *e = &z->ep[side];
    bool syn = fl & FSC_TH_SYN, fin = fl & FSC_TH_FIN, rst = fl & FSC_TH_RST;
    int bits = syn + fin + rst;

    if (bits > 1) {
        if (fin && rst)
            check_history(z, side, H_FIN_RST, 'I');
        else
            check_history(z, side, H_MULTI, 'Q');
    } else if (syn) {
        char code = (fl & FSC_TH_ACK) ? 'H' : 'S';
        /* The first SYN adds its letter through the mask; a later one only at a new seq. */
        if (!check_history(z, side, H_SYN, code) && rel_seq != e->hist_last_syn)
            add_history(z, side_code(side, code));
        e->hist_last_syn = rel_seq;
    } else if (fin) {
        if (!check_history(z, side, H_FIN, 'F') && rel_seq + len != e->hist_last_fin)
            add_history(z, side_code(side, 'F'));
        e->hist_last_fin = rel_seq + len;
    } else if (rst) {
        if (!check_history(z, side, H_RST, 'R') && rel_seq != e->hist_last_rst)
            add_history(z, side_code(side, 'R'));
        e->hist_last_rst = rel_seq;
    } else if (len) {
        check_history(z, side, H_DATA, 'D');
    } else if (fl & FSC_TH_ACK) {
        check_history(z, side, H_ACK, 'A');
    }
}

/* Returns last_seq's move (Zeek's delta_last); payload that does not move it is resent. */
static int32_t update_last_seq(struct fsc_zeek_conn *z, int side, uint32_t last, uint8_t fl,
                               uint32_t len)
{
    struct fsc_zeek_endpoint *e = &z->ep[side];
    int32_t d = FSC_SEQ_DIFF(e->last_seq, last);

    if ((fl & (FSC_TH_SYN | FSC_TH_RST)) && (d > TOO_LARGE_SEQ_DELTA || d < -TOO_LARGE_SEQ_DELTA))
        ; /* an outlandish SYN or RST number is not trusted */
    else if ((fl & FSC_TH_FIN) && e->last_seq == e->start_seq + 1)
        update_last_seq32(e, last); /* > 2 GB seen only as SYN and FIN */
    else if (z->eb[side].state == FSC_ZE_RESET)
        ; /* nothing after a RST is trusted */
    else if (d > 0)
        update_last_seq32(e, last);
    else if (len > 0)
        scaled_history(z, side, 'T', FSC_ZEEK_SC_RXMT);
    return d;
}

struct verdict {
    bool do_close;
};

static void inactive_state(struct fsc_zeek_conn *z, int side, uint8_t fl, uint32_t len, fsc_time ts,
                           struct verdict *v)
{
    struct fsc_zeek_ep_bits *e = &z->eb[side], *peer = &z->eb[!side];
    bool syn = fl & FSC_TH_SYN, ack = fl & FSC_TH_ACK;

    if (syn) {
        if (side == ORIG) {
            set_state(e, ack ? FSC_ZE_SYN_ACK_SENT : FSC_ZE_SYN_SENT);
            z->timer_at = ts + ATTEMPT_DELAY_US;
            z->timer = TIMER_ATTEMPT;
        } else {
            if (peer->state == FSC_ZE_SYN_SENT)
                set_state(peer, FSC_ZE_ESTABLISHED);
            set_state(e, FSC_ZE_ESTABLISHED);
        }
    }
    if (fl & FSC_TH_FIN) {
        set_state(e, FSC_ZE_CLOSED);
        v->do_close = true;
    }
    if (fl & FSC_TH_RST) {
        set_state(e, FSC_ZE_RESET);
        v->do_close = true;
    }
    if (e->state == FSC_ZE_INACTIVE) { /* no control flag moved it */
        if (side == RESP && len == 0 && z->eb[ORIG].state == FSC_ZE_SYN_SENT)
            ; /* an ack of the SYN before the SYN-ACK: not a partial connection */
        else if (ack && peer->state == FSC_ZE_ESTABLISHED) {
            set_state(e, FSC_ZE_ESTABLISHED); /* missed the SYN, saw the SYN-ACK */
            z->is_partial = false;
        } else {
            set_state(e, FSC_ZE_PARTIAL);
        }
    }
}

static void update_state_machine(struct fsc_zeek_conn *z, int side, uint8_t fl, uint32_t len,
                                 fsc_time ts, struct verdict *v)
{
    struct fsc_zeek_ep_bits *e = &z->eb[side], *peer = &z->eb[!side];
    bool syn = fl & FSC_TH_SYN, fin = fl & FSC_TH_FIN, rst = fl & FSC_TH_RST;

    switch (e->state) {
    case FSC_ZE_INACTIVE:
        inactive_state(z, side, fl, len, ts, v);
        break;
    case FSC_ZE_SYN_SENT:
    case FSC_ZE_SYN_ACK_SENT:
        if (fin) {
            set_state(e, FSC_ZE_CLOSED);
            v->do_close = true;
        }
        if (rst) {
            set_state(e, FSC_ZE_RESET);
            v->do_close = true;
        }
        break;
    case FSC_ZE_ESTABLISHED:
    case FSC_ZE_PARTIAL:
        if (syn && e->state == FSC_ZE_PARTIAL && peer->state == FSC_ZE_INACTIVE &&
            !(fl & FSC_TH_ACK))
            set_state(e, FSC_ZE_SYN_SENT);
        if (fin && !rst) {
            set_state(e, FSC_ZE_CLOSED);
            /* The peer's FIN then RST was a normal close after all. */
            if (peer->state == FSC_ZE_RESET && peer->prev_state == FSC_ZE_CLOSED)
                set_state(peer, FSC_ZE_CLOSED);
            v->do_close = true;
        }
        if (rst) {
            set_state(e, FSC_ZE_RESET);
            v->do_close = true;
        }
        break;
    case FSC_ZE_CLOSED:
        /* After a FIN exchange a RST changes nothing. */
        if (rst && peer->state != FSC_ZE_CLOSED) {
            set_state(e, FSC_ZE_RESET);
            if (!e->did_close)
                v->do_close = true;
        }
        break;
    default: /* RESET: nothing moves */
        break;
    }
}

/* TCPSessionAdapter::ConnectionClosed, as far as it schedules the record's removal. */
static void connection_closed(struct fsc_zeek_conn *z, int side)
{
    struct fsc_zeek_ep_bits *e = &z->eb[side], *peer = &z->eb[!side];

    if (e->did_close)
        return;
    e->did_close = true;
    if (e->state == FSC_ZE_RESET || peer->did_close || peer->state == FSC_ZE_INACTIVE) {
        /* CancelTimers(), then the close delay. */
        z->timer_at = z->last_ts + CLOSE_DELAY_US;
        z->timer = TIMER_DELETE;
    }
}

static void process(struct fsc_zeek_conn *z, int side, const struct fsc_pkt *p)
{
    struct fsc_zeek_endpoint *e = &z->ep[side], *peer = &z->ep[!side];
    struct fsc_zeek_ep_bits *eb = &z->eb[side], *pb = &z->eb[!side];
    const uint8_t fl = p->flags;
    const bool syn = fl & FSC_TH_SYN, fin = fl & FSC_TH_FIN, rst = fl & FSC_TH_RST;
    const bool ack = fl & FSC_TH_ACK;
    const uint32_t len = p->payload_len;
    struct verdict v = {false};

    /* SetPartialStatus: a side whose first packet is not a bare SYN makes it partial. */
    if (side == ORIG) {
        if (!(z->first_seen & 1))
            z->is_partial = !syn || ack;
    } else if (!(z->first_seen & 2) && !z->is_partial) {
        z->is_partial = !syn;
    }
    z->first_seen |= side == ORIG ? 1 : 2;

    uint32_t seg_len = len + (syn ? 1u : 0u) + (fin ? 1u : 0u) - (rst ? len : 0u);
    uint32_t one_past = p->seq + seg_len;
    init_endpoint(e, eb, syn, p->seq, one_past);

    bool underflow = false;
    uint64_t rel_seq = relative_seq(e, p->seq, e->last_seq, e->seq_wraps, &underflow);
    update_history(z, side, fl, rel_seq, len);
    /* A zero window is news unless it comes with or after a RST, or after the peer's FIN. */
    if (p->window == 0 && !rst && pb->state != FSC_ZE_CLOSED && eb->state != FSC_ZE_RESET)
        scaled_history(z, side, 'W', FSC_ZEEK_SC_WIN0);
    if (!z->eb[ORIG].did_close || !z->eb[RESP].did_close)
        z->last_ts = p->ts;
    if (fin) {
        eb->fin_seen = true;
        e->fin_seq = rel_seq + seg_len;
    }

    uint64_t rel_ack = 0;
    if (ack) {
        if (pb->state == FSC_ZE_INACTIVE) {
            rel_ack = 1;
            peer->start_seq = peer->ack_seq = peer->last_seq = p->ack - 1;
        } else {
            bool ack_underflow = false;
            rel_ack = relative_seq(peer, p->ack, peer->ack_seq, peer->ack_wraps, &ack_underflow);
            if (ack_underflow) {
                rel_ack = 0;
            } else if (!rst) { /* acks in RSTs are not trusted */
                int32_t d = FSC_SEQ_DIFF(peer->ack_seq, p->ack);
                if (!(p->ack == 0 && d > TOO_LARGE_SEQ_DELTA) && d > 0)
                    update_ack_seq32(peer, p->ack);
            }
        }
    }
    update_last_seq(z, side, one_past, fl, len);
    update_state_machine(z, side, fl, len, p->ts, &v);
    if (ack)
        ack_received(z, !side, rel_ack);
    /* Payload reaches the reassembler unless it rides a RST, sits before the start, or the
     * snaplen cut it (Zeek then skips it: truncated_tcp_payload). */
    if (len > 0 && !rst && !underflow && !(p->quirks & FSC_QUIRK_PAYLOAD_CUT))
        data_sent(z, side, syn ? rel_seq + 1 : rel_seq, len);
    if (v.do_close)
        connection_closed(z, side);
}

/* ---- records ---- */

enum fsc_zeek_conn_state fsc_zeek_conn_state(enum fsc_zeek_ep_state os, enum fsc_zeek_ep_state rs,
                                             const char *history, uint64_t orig_size,
                                             uint64_t resp_size)
{
    bool o_inactive = os == FSC_ZE_INACTIVE || os == FSC_ZE_PARTIAL;
    bool r_inactive = rs == FSC_ZE_INACTIVE || rs == FSC_ZE_PARTIAL;

    if (rs == FSC_ZE_RESET) {
        if (os == FSC_ZE_SYN_SENT || os == FSC_ZE_SYN_ACK_SENT ||
            (os == FSC_ZE_RESET && orig_size == 0 && resp_size == 0))
            return FSC_ZS_REJ;
        return o_inactive ? FSC_ZS_RSTRH : FSC_ZS_RSTR;
    }
    if (os == FSC_ZE_RESET) {
        if (!r_inactive)
            return FSC_ZS_RSTO;
        /* History ^?S[^HAFGIQ]*R: a SYN, then a reset with no originator reply between. */
        const char *h = history + (history[0] == '^');
        if (h[0] == 'S') {
            for (h++; *h && !strchr("HAFGIQ", *h); h++)
                if (*h == 'R')
                    return FSC_ZS_RSTOS0;
        }
        return FSC_ZS_OTH;
    }
    if (rs == FSC_ZE_CLOSED && os == FSC_ZE_CLOSED)
        return FSC_ZS_SF;
    if (os == FSC_ZE_CLOSED)
        return r_inactive ? FSC_ZS_SH : FSC_ZS_S2;
    if (rs == FSC_ZE_CLOSED)
        return o_inactive ? FSC_ZS_SHR : FSC_ZS_S3;
    if (os == FSC_ZE_SYN_SENT && rs == FSC_ZE_INACTIVE)
        return FSC_ZS_S0;
    if (os == FSC_ZE_ESTABLISHED && rs == FSC_ZE_ESTABLISHED)
        return FSC_ZS_S1;
    return FSC_ZS_OTH;
}

static void make_record(const struct fsc_zeek_conn *z, struct fsc_zeek_record *r)
{
    const struct fsc_zeek_endpoint *o = &z->ep[ORIG], *s = &z->ep[RESP];

    memset(r, 0, sizeof *r);
    r->orig_is_client = z->orig_is_client;
    history_text(z, r->history);
    r->orig_bytes = endpoint_size(z, ORIG);
    r->resp_bytes = endpoint_size(z, RESP);
    r->conn_state = (uint8_t)fsc_zeek_conn_state((enum fsc_zeek_ep_state)z->eb[ORIG].state,
                                                 (enum fsc_zeek_ep_state)z->eb[RESP].state,
                                                 r->history, r->orig_bytes, r->resp_bytes);
    r->orig_pkts = o->pkts;
    r->resp_pkts = s->pkts;
    r->ts = z->start_ts;
    r->duration_us = z->last_ts > z->start_ts ? z->last_ts - z->start_ts : 0;
    r->has_bytes = r->duration_us > 0;
}

/*
 * Zeek removes the record: keep it among the flow's earlier ones, make room for the next.  A
 * tuple reused within one flow is rare, so the room for them is allocated at the first; without
 * memory the record is counted as dropped, like those past FSC_ZEEK_MAX_EARLIER.
 */
static void end_record(struct fsc_zeek_conn *z)
{
    if (!z->earlier)
        z->earlier = malloc(FSC_ZEEK_MAX_EARLIER * sizeof *z->earlier);
    if (z->earlier && z->n_earlier < FSC_ZEEK_MAX_EARLIER)
        make_record(z, &z->earlier[z->n_earlier++]);
    else if (z->earlier_dropped < UINT32_MAX)
        z->earlier_dropped++;
    z->active = false;
}

/* TCPSessionAdapter::IsReuse: does this SYN start a new connection on the tuple? */
static bool is_reuse(const struct fsc_zeek_conn *z, const struct fsc_pkt *p)
{
    const struct fsc_zeek_ep_bits *o = &z->eb[ORIG], *s = &z->eb[RESP];
    int conn_orig = ORIG;

    if (!(p->flags & FSC_TH_SYN))
        return false;
    if (p->flags & FSC_TH_ACK) {
        if (o->state != FSC_ZE_INACTIVE)
            return false; /* not a half connection */
        conn_orig = RESP;
    }
    if (!o->did_close && !s->did_close) {
        if (p->seq == z->ep[conn_orig].start_seq)
            return false;
        if (!(p->flags & FSC_TH_ACK) && z->eb[conn_orig].state == FSC_ZE_SYN_ACK_SENT &&
            s->state == FSC_ZE_INACTIVE && p->seq == z->ep[RESP].start_seq)
            return false; /* SYN and SYN-ACK seen in the other order */
    }
    return true;
}

/*
 * Zeek's orientation of a new connection (TCPAnalyzer::WantConnection): the sender of the
 * first packet originates it, unless that packet is not a bare SYN and comes from a likely
 * server port.  A SYN-ACK is always taken as the responder's: every trace of the corpus that
 * starts with one has Zeek flip it, even between two likely server ports (6669 and 80).
 */
static bool flip_roles(const struct fsc_pkt *p)
{
    uint8_t fl = p->flags;

    if ((fl & FSC_TH_SYN) && !(fl & FSC_TH_ACK))
        return false;
    if ((fl & FSC_TH_SYN) && (fl & FSC_TH_ACK))
        return true;
    if (!fsc_zeek_likely_server_port(p->sport))
        return false;
    if (fsc_zeek_likely_server_port(p->dport))
        return p->sport < p->dport;
    return true;
}

static void start_conn(struct fsc_zeek_conn *z, bool from_client, const struct fsc_pkt *p)
{
    bool flip =
        flip_roles(p) && !(p->sport == p->dport && !memcmp(&p->src, &p->dst, sizeof p->src));

    memset(z->ep, 0, sizeof z->ep);
    memset(z->eb, 0, sizeof z->eb);
    z->active = true;
    z->orig_is_client = flip ? !from_client : from_client;
    z->is_partial = false;
    z->first_seen = 0;
    z->hist_seen = 0;
    z->hist_len = 0;
    z->hist_dropped = 0;
    memset(z->hist_packed, 0, sizeof z->hist_packed);
    z->start_ts = z->last_ts = p->ts;
    z->timer = TIMER_NONE;
    for (int i = 0; i < 2; i++)
        z->ep[i].reassem_seq = z->ep[i].trim_seq = 1;
    if (flip)
        add_history(z, '^');
}

/* Whether one of Zeek's timers has removed the open record by ts. */
static bool timed_out(const struct fsc_zeek_conn *z, fsc_time ts)
{
    if (z->timer == TIMER_NONE || ts < z->timer_at)
        return false;
    return z->timer == TIMER_DELETE ||
           ((z->eb[ORIG].state == FSC_ZE_SYN_SENT || z->eb[ORIG].state == FSC_ZE_SYN_ACK_SENT) &&
            z->eb[RESP].state == FSC_ZE_INACTIVE);
}

void fsc_zeek_segment(struct fsc_zeek_conn *z, bool from_client, const struct fsc_pkt *p)
{
    if (z->finished)
        return;
    if (z->active && (timed_out(z, p->ts) || is_reuse(z, p)))
        end_record(z);
    if (!z->active)
        start_conn(z, from_client, p);
    /* A self-connected socket's segments all match the originator's side of the key. */
    int side = from_client == z->orig_is_client ? ORIG : RESP;
    z->ep[side].pkts++;
    process(z, side, p);
}

void fsc_zeek_finish(struct fsc_zeek_conn *z)
{
    if (z->finished)
        return;
    z->finished = true;
    if (z->active) {
        struct fsc_zeek_record r;
        make_record(z, &r);
        z->final = r; /* over the open record's state */
    }
}

void fsc_zeek_release(struct fsc_zeek_conn *z)
{
    free(z->earlier);
    memset(z, 0, sizeof *z);
}

void fsc_zeek_swap_roles(struct fsc_zeek_conn *z)
{
    z->orig_is_client = !z->orig_is_client;
    for (uint32_t i = 0; i < z->n_earlier; i++)
        z->earlier[i].orig_is_client = !z->earlier[i].orig_is_client;
}
