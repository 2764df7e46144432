/* finscope/classify.h - how a finished flow opened and ended: the tokens of DESIGN.md section 2,
 * each decided in one place (classify.c) from the facts tcpstate.c records. */
#ifndef FINSCOPE_CLASSIFY_H
#define FINSCOPE_CLASSIFY_H

#include "finscope/common.h"
#include "finscope/decode.h"

struct fsc_flow; /* finscope/flow.h */

/* ../shared/DESIGN.md section 2.  Tokens are stored; never rename one. */
enum fsc_handshake {
    FSC_HS_NONE = 0,     /* "none": capture began mid-connection */
    FSC_HS_THREE_WAY,    /* "three_way" */
    FSC_HS_SIMULTANEOUS, /* "simultaneous_open" */
    FSC_HS_SELF_CONNECT, /* "self_connect" */
    FSC_HS_REFUSED,      /* "refused" */
    FSC_HS_UNANSWERED,   /* "unanswered" */
    FSC_HS_ABORTED,      /* "aborted" */
    FSC_HS__COUNT
};

enum fsc_close_kind {
    FSC_CK_OPEN = 0,      /* "open" */
    FSC_CK_FOUR_WAY,      /* "four_way" */
    FSC_CK_THREE_WAY,     /* "three_way" */
    FSC_CK_TWO_WAY,       /* "two_way" */
    FSC_CK_SIMULTANEOUS,  /* "simultaneous" */
    FSC_CK_HALF_CLOSED,   /* "half_closed" */
    FSC_CK_RST,           /* "rst" */
    FSC_CK_REFUSED,       /* "refused" */
    FSC_CK_UNANSWERED,    /* "unanswered" */
    FSC_CK_FINS_UNPROVEN, /* "fins_unproven": both FINs sent, the acks do not prove the kind */
    FSC_CK__COUNT
};

enum fsc_rst_cause {
    FSC_RC_NONE = 0,         /* NULL in the database: close_kind is not "rst" */
    FSC_RC_ABORT,            /* "abort" */
    FSC_RC_UNREAD_DATA,      /* "unread_data" */
    FSC_RC_DATA_AFTER_CLOSE, /* "data_after_close" */
    FSC_RC_HANDSHAKE,        /* "handshake" */
    FSC_RC_OTHER,            /* "other" */
    FSC_RC_ACCEPT_OVERFLOW,  /* "accept_overflow": bare RST answering the handshake's ACK */
    FSC_RC__COUNT
};

enum fsc_closer {
    FSC_CL_NONE = 0, /* "none" */
    FSC_CL_CLIENT,   /* "client" */
    FSC_CL_SERVER,   /* "server" */
    FSC_CL_BOTH,     /* "both" */
    FSC_CL_SELF,     /* "self" */
    FSC_CL_UNKNOWN,  /* "unknown": one direction not captured, the seen FIN was the first */
    FSC_CL__COUNT
};

/* What the first FIN's sender called, as far as the wire proves it (sockets API semantics). */
enum fsc_closer_call {
    FSC_CC_NONE = 0, /* NULL in the database: nobody sent a FIN */
    FSC_CC_UNKNOWN,  /* "unknown" */
    FSC_CC_CLOSE,    /* "close": data after its FIN was answered by RST, or FIN_WAIT_2 timed out */
    FSC_CC_SHUTDOWN, /* "shutdown": it acknowledged data the peer sent after receiving its FIN */
    FSC_CC__COUNT
};

/* The stored tokens (util.c, with the other token tables). */
const char *fsc_handshake_name(enum fsc_handshake h);
const char *fsc_close_kind_name(enum fsc_close_kind k);
const char *fsc_rst_cause_name(enum fsc_rst_cause c); /* NULL for FSC_RC_NONE */
const char *fsc_closer_name(enum fsc_closer c);
const char *fsc_closer_call_name(enum fsc_closer_call c); /* NULL for FSC_CC_NONE */

/*
 * Classify a flow whose input has ended: settles a RST held as tentative (fsc_tcp_flow_end),
 * then fills one_sided, each endpoint's final state, handshake, close_kind, rst_cause and
 * rst_cause_proven (NONE/false unless close_kind is "rst"), closer, closer_call, the anomalies
 * that need the whole flow, gap_bytes (the holes left), the dwell times (a dwell still running
 * ends at end_ts) and the kept segments' relative seq/ack; sets finalized.  A second call does
 * nothing.  The Zeek view is not touched (zeek.h: the flow table finishes it).
 */
void fsc_classify(struct fsc_flow *f, fsc_time end_ts);

/*
 * Record why endpoint sd resets the flow, judged now, at its first RST p (tcpstate.c calls it
 * when that RST ends the flow, once this segment's facts are in): one reading with sd as the
 * client and one with sd as the server (ep[sd].rst_reading), because the roles of a flow picked
 * up midstream are settled only when it is written.  crossing: the peer's RST was captured
 * first, but sd sent its own before that one arrived.  fsc_classify tells the flow's rst_cause
 * from these readings; nothing else decides or copies it.
 */
void fsc_rst_judge(struct fsc_flow *f, int sd, const struct fsc_pkt *p, bool crossing);

/* Whether both sides sent a bare SYN before either SYN was acked (RFC 9293 figure 8): seen, or
 * in a one-sided capture shown by the seen side answering its peer's SYN with a SYN+ACK after
 * its own bare SYN.  Valid at any time (the flow table orients a flow by it). */
bool fsc_tcp_simultaneous_open(const struct fsc_flow *f);

#endif
