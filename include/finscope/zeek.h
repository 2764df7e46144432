/* finscope/zeek.h - Zeek's view of a flow: conn_state, history, orientation and byte counts. */
#ifndef FINSCOPE_ZEEK_H
#define FINSCOPE_ZEEK_H

#include "finscope/common.h"
#include "finscope/decode.h"

/*
 * finscope's own inference (tcpstate.c, classify.c) is independent of this module.  This one
 * replays, segment by segment, the per-endpoint state machine of Zeek's TCP analyzer (endpoint
 * states inactive, SYN sent, SYN-ACK sent, partial, established, closed, reset), its history
 * letters and repeat rules, its sequence-range byte counts and the timers that end a Zeek
 * connection record, so that the Zeek-compatible columns of a flow say what Zeek's conn.log
 * would say.  ../shared/corpus/zeek/README.md states the rules; the corpus test measures them.
 *
 * Zeek ends a record (and starts a new one for the next packet) where finscope keeps one flow:
 * 5 s after a close is complete (tcp_close_delay), 5 s after an unanswered SYN
 * (tcp_attempt_delay), and at a SYN that reuses the tuple.  Those earlier records of a flow are
 * kept in `earlier`, at most FSC_ZEEK_MAX_EARLIER of them (the rest, and those that found no
 * memory, are counted in earlier_dropped).
 */

/* Letters kept per record.  Zeek's own history string is not bounded (it appends one letter
 * per event, repeats limited by the rules in the corpus README); past this many letters
 * finscope stops appending and counts the loss in hist_dropped. */
#define FSC_ZEEK_HISTORY_MAX 48
/* The open record keeps them 5 bits a letter (Zeek's letters, in either case, and '^'). */
#define FSC_ZEEK_HISTORY_BYTES ((FSC_ZEEK_HISTORY_MAX * 5 + 7) / 8)
#define FSC_ZEEK_MAX_EARLIER 3
/* Out-of-order data blocks tracked per direction to find content gaps ('g'). */
#define FSC_ZEEK_MAX_BLOCKS 2

/* Zeek's conn_state codes; fsc_zeek_conn_state_name gives the stored token ("S0", "SF", ...). */
enum fsc_zeek_conn_state {
    FSC_ZS_S0 = 0,
    FSC_ZS_S1,
    FSC_ZS_SF,
    FSC_ZS_REJ,
    FSC_ZS_S2,
    FSC_ZS_S3,
    FSC_ZS_RSTO,
    FSC_ZS_RSTR,
    FSC_ZS_RSTOS0,
    FSC_ZS_RSTRH,
    FSC_ZS_SH,
    FSC_ZS_SHR,
    FSC_ZS_OTH,
    FSC_ZS__COUNT
};

const char *fsc_zeek_conn_state_name(enum fsc_zeek_conn_state s);

/* Zeek's TCP endpoint states (its TCP_ENDPOINT_*). */
enum fsc_zeek_ep_state {
    FSC_ZE_INACTIVE = 0,
    FSC_ZE_SYN_SENT,
    FSC_ZE_SYN_ACK_SENT,
    FSC_ZE_PARTIAL,
    FSC_ZE_ESTABLISHED,
    FSC_ZE_CLOSED,
    FSC_ZE_RESET,
};

/* One endpoint as Zeek tracks it.  Sequence numbers are raw 32-bit values with wrap counts,
 * as Zeek keeps them; relative numbers are 64-bit offsets from start_seq.  Its small fields
 * (states, flags) live in struct fsc_zeek_conn's bit fields, packed for every held flow. */
struct fsc_zeek_endpoint {
    uint32_t start_seq, last_seq, ack_seq;
    uint32_t seq_wraps, ack_wraps;
    /* Retransmissions, zero windows and content gaps (Zeek's ScaledHistoryEntry counters;
     * the threshold is the next power of ten, see scaled_history in zeek.c). */
    uint32_t scaled_cnt[3];
    uint64_t fin_seq; /* relative sequence number just past the FIN */
    uint64_t hist_last_syn, hist_last_fin, hist_last_rst;
    /* Reassembly bookkeeping (relative numbers): delivered up to, acked up to, and data seen
     * above a hole, [lo, hi) sorted by lo. */
    uint64_t reassem_seq, trim_seq;
    uint64_t blk_lo[FSC_ZEEK_MAX_BLOCKS], blk_hi[FSC_ZEEK_MAX_BLOCKS];
    uint64_t pkts;
};

/* One finished Zeek connection record. */
struct fsc_zeek_record {
    uint8_t conn_state;  /* enum fsc_zeek_conn_state */
    bool orig_is_client; /* Zeek's originator is finscope's client endpoint */
    bool has_bytes;      /* orig_bytes/resp_bytes set (Zeek leaves them unset when duration 0) */
    char history[FSC_ZEEK_HISTORY_MAX + 1];
    uint64_t orig_bytes, resp_bytes;
    uint64_t orig_pkts, resp_pkts;
    fsc_time ts, duration_us;
};

/* Which of an endpoint's scaled_cnt counts what. */
enum { FSC_ZEEK_SC_RXMT = 0, FSC_ZEEK_SC_WIN0, FSC_ZEEK_SC_GAP };

/* Per endpoint bits of struct fsc_zeek_conn (enum fsc_zeek_ep_state fits in 3). */
struct fsc_zeek_ep_bits {
    uint8_t state : 3, prev_state : 3;
    bool did_close : 1, fin_seen : 1;
    uint8_t n_blocks : 2;
    uint8_t scaled_wrapped : 3; /* bit i: scaled_cnt[i] went past UINT32_MAX */
};

/*
 * The Zeek view of one finscope flow; zero-initialized memory is a valid empty state.  One
 * sits in every held flow, so it is packed: the state of the open Zeek connection shares its
 * memory with `final`, which fsc_zeek_finish fills from it, and the earlier records are
 * allocated only for a flow that has one.
 */
struct fsc_zeek_conn {
    bool active : 1;         /* a Zeek connection is open (or, after finish, `final` is valid) */
    bool orig_is_client : 1; /* of the open connection */
    bool finished : 1;       /* fsc_zeek_finish ran: only `final` is left */
    uint8_t n_earlier;
    uint16_t hist_dropped; /* letters past FSC_ZEEK_HISTORY_MAX (saturates) */
    uint32_t earlier_dropped;
    struct fsc_zeek_record *earlier; /* n_earlier of them, NULL until the first */
    union {
        struct { /* the open connection, until fsc_zeek_finish */
            bool is_partial : 1;
            uint8_t first_seen : 2; /* bit 1: orig sent a packet, bit 2: resp did */
            uint8_t timer : 2;      /* Zeek's removal timer set: enum in zeek.c; at most one */
            uint8_t hist_len;
            uint16_t hist_seen; /* Zeek's HIST_* masks seen, the responder's shifted by 8 */
            struct fsc_zeek_ep_bits eb[2];
            uint8_t hist_packed[FSC_ZEEK_HISTORY_BYTES]; /* hist_len letters, see zeek.c */
            fsc_time start_ts, last_ts;
            fsc_time timer_at;              /* when the timer removes the record */
            struct fsc_zeek_endpoint ep[2]; /* [0] originator, [1] responder */
        };
        struct fsc_zeek_record final; /* valid after fsc_zeek_finish when active */
    };
};

/*
 * Feed one segment; from_client says which finscope endpoint sent it (FSC_CLIENT for every
 * segment of a self-connected flow).  Never fails; it allocates only at the first earlier
 * record of z (a tuple reused within the flow), and without memory counts it dropped.
 */
void fsc_zeek_segment(struct fsc_zeek_conn *z, bool from_client, const struct fsc_pkt *p);

/*
 * The flow's input has ended: fill z->final from the open record (the flow table calls this
 * when it writes the flow out).  The open record's state is gone after it: later calls to it
 * and fsc_zeek_segment do nothing.
 */
void fsc_zeek_finish(struct fsc_zeek_conn *z);

/* Free the earlier records; z is then empty (zeroed).  Whoever frees or recycles a flow calls
 * it. */
void fsc_zeek_release(struct fsc_zeek_conn *z);

/* finscope swapped the flow's client and server roles (flow.c, a flow picked up midstream or a
 * simultaneous open; before fsc_zeek_finish): every record's orig_is_client follows; Zeek's
 * own orientation does not change. */
void fsc_zeek_swap_roles(struct fsc_zeek_conn *z);

/*
 * Zeek's conn_state for a pair of endpoint states, the history string and the two sizes
 * (Zeek's base/protocols/conn conn_state function); exposed for the unit tests.
 */
enum fsc_zeek_conn_state fsc_zeek_conn_state(enum fsc_zeek_ep_state os, enum fsc_zeek_ep_state rs,
                                             const char *history, uint64_t orig_size,
                                             uint64_t resp_size);

/* Whether Zeek's likely_server_ports (as its default analyzers register them) holds port. */
bool fsc_zeek_likely_server_port(uint16_t port);

#endif
