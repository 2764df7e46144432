/* forge.c - the only file that includes libnet.h: crafted captures from scenario tables. */
#include <libnet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "finscope/capture.h"
#include "finscope/decode.h"
#include "finscope/forge.h"
#include "finscope/tcpstate.h"

/* pcap link types (numeric, so this file needs no pcap.h). */
#define FORGE_DLT_EN10MB 1
#define FORGE_DLT_LINUX_SLL 113

/* 2026-01-01 00:00:00 UTC, in microseconds. */
#define FORGE_T0 (1767225600LL * FSC_USEC_PER_SEC)

#define FORGE_MSS 1448 /* payload of a full segment (1500 MTU, TCP timestamps) */
#define FORGE_PORT_CLIENT 40000
#define FORGE_PORT_SERVER 80
#define FORGE_MAX_PARTS 2 /* connection instances per scenario (port reuse) */

enum { C = FSC_CLIENT, S = FSC_SERVER };

/* Flag sets used by the tables. */
#define F_S FSC_TH_SYN
#define F_SA (FSC_TH_SYN | FSC_TH_ACK)
#define F_A FSC_TH_ACK
#define F_PA (FSC_TH_PSH | FSC_TH_ACK)
#define F_FA (FSC_TH_FIN | FSC_TH_ACK)
#define F_FPA (FSC_TH_FIN | FSC_TH_PSH | FSC_TH_ACK)
#define F_R FSC_TH_RST
#define F_RA (FSC_TH_RST | FSC_TH_ACK)
#define F_F FSC_TH_FIN

/* ---- scenario tables ---- */

enum seq_mode {
    SEQ_AUTO = 0, /* the sender's next unsent sequence number */
    SEQ_REL,      /* sender's ISN + seq */
    SEQ_FIN,      /* the sequence number of the sender's FIN (a retransmission) */
};

enum ack_mode {
    ACK_AUTO = 0, /* everything the peer has sent so far (0 when the ACK flag is clear) */
    ACK_PRE_FIN,  /* everything the peer sent except its FIN: the FINs crossed */
    ACK_REL,      /* the peer's ISN + ack: an ack of something the table sends later */
};

/* One segment of a scenario; sequence numbers follow from what each side sent before. */
struct step {
    uint8_t from;  /* C or S (a self-connected socket sends everything) */
    uint8_t flags; /* FSC_TH_* */
    uint8_t seq_mode, ack_mode;
    bool bulk;      /* mix: replaced by a response of random length (server data only) */
    uint16_t len;   /* payload bytes */
    uint32_t seq;   /* SEQ_REL only */
    uint32_t ack;   /* ACK_REL only */
    uint32_t dt_us; /* capture time after the previous segment of the connection */
};

/*
 * The tables below are laid out one segment per line, so they read like a ladder diagram;
 * clang-format would pack them into columns.
 */
/* clang-format off */
#define P(dir, fl, n, dt)          {.from = (dir), .flags = (fl), .len = (n), .dt_us = (dt)}
#define P_SEQ(dir, fl, n, dt, rel) {.from = (dir), .flags = (fl), .len = (n), .dt_us = (dt), \
                                    .seq_mode = SEQ_REL, .seq = (rel)}
#define P_REFIN(dir, fl, dt)       {.from = (dir), .flags = (fl), .dt_us = (dt), \
                                    .seq_mode = SEQ_FIN}
#define P_CROSS(dir, fl, dt)       {.from = (dir), .flags = (fl), .dt_us = (dt), \
                                    .ack_mode = ACK_PRE_FIN}
#define P_BULK(dir, fl, n, dt)     {.from = (dir), .flags = (fl), .len = (n), .dt_us = (dt), \
                                    .bulk = true}
#define P_ACK(dir, fl, dt, rel)    {.from = (dir), .flags = (fl), .dt_us = (dt), \
                                    .ack_mode = ACK_REL, .ack = (rel)}
#define P_REFIN_CROSS(dir, fl, dt) {.from = (dir), .flags = (fl), .dt_us = (dt), \
                                    .seq_mode = SEQ_FIN, .ack_mode = ACK_PRE_FIN}

/* SYN, SYN+ACK, ACK with the tap next to the client: 10 ms round trip. */
#define HANDSHAKE \
    P(C, F_S,  0, 0), \
    P(S, F_SA, 0, 10000), \
    P(C, F_A,  0, 150)
/* A 200-byte request, a 1000-byte response (longer in a mix), the client's ACK. */
#define EXCHANGE \
    P(C, F_PA, 200, 300), \
    P_BULK(S, F_PA, 1000, 10000), \
    P(C, F_A, 0, 200)
#define EXCHANGE_FIXED \
    P(C, F_PA, 200, 300), \
    P(S, F_PA, 1000, 10000), \
    P(C, F_A, 0, 200)
/* Client closes first, the server ACKs, closes 50 ms later, the client ACKs. */
#define CLOSE_CLIENT_FIRST \
    P(C, F_FA, 0, 5000), \
    P(S, F_A,  0, 10000), \
    P(S, F_FA, 0, 50000), \
    P(C, F_A,  0, 10000)

/* The tokens one connection instance must yield (the counters are computed from the steps). */
struct expect {
    const char *handshake, *close_kind, *rst_cause, *closer, *client_state, *server_state;
    uint32_t half_close_bytes, fin_retrans, rst_after_close;
    const char *rst_cause_proven, *closer_call, *anomalies;
};

/* One connection instance; a scenario has one, or two on the same 5-tuple (port reuse). */
struct part {
    const struct step *steps;
    size_t n_steps;
    uint32_t isn[2]; /* client, server */
    bool midstream;  /* the capture starts after the handshake */
    uint32_t gap_us; /* after the previous part */
    struct expect exp;
    /* The same connection captured in one direction only: [0] the client's frames, [1] the
     * server's.  handshake NULL: no expectation written for that view. */
    struct expect one[2];
};

struct scenario {
    const char *name, *desc;
    bool self_connect; /* both sides are one socket: 192.0.2.1:40000 -> itself */
    bool fixed_isn;    /* a mix keeps the table's ISNs (wraparound, RST seq 0) */
    unsigned mix_weight;
    const struct part *parts;
    size_t n_parts;
};

#define STEPS(a) .steps = (a), .n_steps = sizeof(a) / sizeof((a)[0])
#define ISN_C 1000000000u
#define ISN_S 3000000000u

/* Expected rows: handshake close_kind rst_cause closer client_state server_state
 * half_close_bytes fin_retrans rst_after_close. */
#define EXP_FOUR_WAY_CLIENT {"three_way", "four_way", "-", "client", "time_wait", "closed", 0, 0, 0, \
                             "-", "unknown", ""}

static const struct step four_way_steps[] = {
    HANDSHAKE,
    EXCHANGE,
    CLOSE_CLIENT_FIRST,
};
static const struct part four_way_parts[] = {
    {STEPS(four_way_steps), .isn = {ISN_C, ISN_S}, .exp = EXP_FOUR_WAY_CLIENT,
     .one = {{"three_way", "fins_unproven", "-", "unknown", "fin_wait_1", "established", 0, 0, 0,
              "-", "unknown", "one_sided"},
             {"three_way", "four_way", "-", "client", "fin_wait_2", "last_ack", 0, 0, 0,
              "-", "unknown", "synack_without_syn,one_sided"}}},
};

static const struct step four_way_server_first_steps[] = {
    HANDSHAKE,
    EXCHANGE,
    P(S, F_FA, 0, 5000),
    P(C, F_A,  0, 10000),
    P(C, F_FA, 0, 50000),
    P(S, F_A,  0, 10000),
};
static const struct part four_way_server_first_parts[] = {
    {STEPS(four_way_server_first_steps), .isn = {ISN_C, ISN_S},
     .exp = {"three_way", "four_way", "-", "server", "closed", "time_wait", 0, 0, 0,
             "-", "unknown", ""},
     .one = {{"three_way", "four_way", "-", "server", "last_ack", "fin_wait_2", 0, 0, 0,
              "-", "unknown", "one_sided"},
             {"three_way", "fins_unproven", "-", "unknown", "established", "fin_wait_1", 0, 0, 0,
              "-", "unknown", "synack_without_syn,one_sided"}}},
};

static const struct step three_way_close_steps[] = {
    HANDSHAKE,
    EXCHANGE,
    P(C, F_FA, 0, 5000),
    P(S, F_FA, 0, 10000), /* its ack covers the client's FIN */
    P(C, F_A,  0, 10000),
};
static const struct part three_way_close_parts[] = {
    {STEPS(three_way_close_steps), .isn = {ISN_C, ISN_S},
     .exp = {"three_way", "three_way", "-", "client", "time_wait", "closed", 0, 0, 0,
             "-", "unknown", ""},
     .one = {{"three_way", "fins_unproven", "-", "unknown", "fin_wait_1", "established", 0, 0, 0,
              "-", "unknown", "one_sided"},
             {"three_way", "three_way", "-", "client", "fin_wait_2", "last_ack", 0, 0, 0,
              "-", "unknown", "synack_without_syn,one_sided"}}},
};

/* A socket connected to itself (Linux: its own SYN puts it in SYN_RCVD, RFC 9293 figure 8). */
static const struct step two_way_self_steps[] = {
    P(C, F_S,  0, 0),
    P_SEQ(C, F_SA, 0, 100, 0),
    P(C, F_A,  0, 100),
    P(C, F_FA, 0, 5000),
    P(C, F_A,  0, 100),
};
static const struct part two_way_self_parts[] = {
    {STEPS(two_way_self_steps), .isn = {ISN_C, ISN_C},
     .exp = {"self_connect", "two_way", "-", "self", "time_wait", "time_wait", 0, 0, 0,
             "-", "unknown", ""}},
};

static const struct step simultaneous_close_steps[] = {
    HANDSHAKE,
    EXCHANGE,
    P(C, F_FA, 0, 5000),
    P_CROSS(S, F_FA, 100), /* ack stops short of the client's FIN */
    P(C, F_A,  0, 10000),
    P(S, F_A,  0, 100),
};
static const struct part simultaneous_close_parts[] = {
    {STEPS(simultaneous_close_steps), .isn = {ISN_C, ISN_S},
     .exp = {"three_way", "simultaneous", "-", "both", "time_wait", "time_wait", 0, 0, 0,
             "-", "unknown", ""},
     .one = {{"three_way", "fins_unproven", "-", "unknown", "fin_wait_1", "established", 0, 0, 0,
              "-", "unknown", "one_sided"},
             {"three_way", "fins_unproven", "-", "unknown", "established", "fin_wait_1", 0, 0, 0,
              "-", "unknown", "synack_without_syn,one_sided"}}},
};

static const struct step half_close_steps[] = {
    HANDSHAKE,
    P(C, F_PA, 200, 300),
    P(C, F_FA, 0,   100),   /* shutdown(SHUT_WR) */
    P(S, F_A,  0,   10000),
    P(S, F_PA, 100, 1000),
    P(C, F_A,  0,   10000),
    P(S, F_PA, 100, 1000),
    P(C, F_A,  0,   10000),
    P(S, F_PA, 100, 1000),
    P(C, F_A,  0,   10000),
    P(S, F_FA, 0,   5000),
    P(C, F_A,  0,   10000),
};
static const struct part half_close_parts[] = {
    {STEPS(half_close_steps), .isn = {ISN_C, ISN_S},
     .exp = {"three_way", "four_way", "-", "client", "time_wait", "closed", 300, 0, 0,
             "-", "shutdown", ""},
     .one = {{"three_way", "fins_unproven", "-", "unknown", "fin_wait_1", "established", 0, 0, 0,
              "-", "shutdown", "one_sided"},
             {"three_way", "half_closed", "-", "server", "established", "fin_wait_1", 0, 0, 0,
              "-", "unknown", "synack_without_syn,one_sided"}}},
};

static const struct step half_closed_leak_steps[] = {
    HANDSHAKE,
    EXCHANGE,
    P(C, F_FA, 0, 5000),
    P(S, F_A,  0, 10000),
};
static const struct part half_closed_leak_parts[] = {
    {STEPS(half_closed_leak_steps), .isn = {ISN_C, ISN_S},
     .exp = {"three_way", "half_closed", "-", "client", "fin_wait_2", "close_wait", 0, 0, 0,
             "-", "unknown", ""},
     .one = {{"three_way", "half_closed", "-", "client", "fin_wait_1", "established", 0, 0, 0,
              "-", "unknown", "one_sided"},
             {"three_way", "open", "-", "none", "established", "established", 0, 0, 0,
              "-", "-", "synack_without_syn,one_sided"}}},
};

/* The RST answering a SYN carries seq 0 (RFC 9293 section 3.10.7.1): server "ISN" 0. */
static const struct step refused_steps[] = {
    P(C, F_S, 0, 0),
    P_SEQ(S, F_RA, 0, 10000, 0),
};
static const struct part refused_parts[] = {
    {STEPS(refused_steps), .isn = {ISN_C, 0},
     .exp = {"refused", "refused", "-", "server", "closed", "closed", 0, 0, 0,
             "-", "-", ""},
     .one = {{"unanswered", "unanswered", "-", "none", "syn_sent", "listen", 0, 0, 0,
              "-", "-", ""},
             {"none", "rst", "other", "server", "closed", "closed", 0, 0, 0,
              "0", "-", ""}}},
};

/* Linux retransmits a SYN after 1 s, then 2 s more. */
static const struct step unanswered_steps[] = {
    P(C, F_S, 0, 0),
    P_SEQ(C, F_S, 0, 1000000, 0),
    P_SEQ(C, F_S, 0, 2000000, 0),
};
static const struct part unanswered_parts[] = {
    {STEPS(unanswered_steps), .isn = {ISN_C, ISN_S},
     .exp = {"unanswered", "unanswered", "-", "none", "syn_sent", "listen", 0, 0, 0,
             "-", "-", "syn_retransmitted"},
     .one = {{"unanswered", "unanswered", "-", "none", "syn_sent", "listen", 0, 0, 0,
              "-", "-", "syn_retransmitted"}}},
};

static const struct step aborted_handshake_steps[] = {
    P(C, F_S,  0, 0),
    P(S, F_SA, 0, 10000),
    P(C, F_R,  0, 150),
};
static const struct part aborted_handshake_parts[] = {
    {STEPS(aborted_handshake_steps), .isn = {ISN_C, ISN_S},
     .exp = {"aborted", "rst", "handshake", "client", "closed", "closed", 0, 0, 0,
             "1", "-", ""},
     .one = {{"aborted", "rst", "handshake", "client", "closed", "listen", 0, 0, 0,
              "1", "-", ""},
             {"three_way", "open", "-", "none", "syn_sent", "syn_rcvd", 0, 0, 0,
              "-", "-", "handshake_incomplete,synack_without_syn"}}},
};

/* Both SYNs cross, both sides answer with SYN+ACK (RFC 9293 figure 8). */
static const struct step simultaneous_open_steps[] = {
    P(C, F_S, 0, 0),
    P(S, F_S, 0, 100),
    P_SEQ(C, F_SA, 0, 10000, 0),
    P_SEQ(S, F_SA, 0, 100, 0),
    EXCHANGE,
    CLOSE_CLIENT_FIRST,
};
static const struct part simultaneous_open_parts[] = {
    {STEPS(simultaneous_open_steps), .isn = {ISN_C, ISN_S},
     .exp = {"simultaneous_open", "four_way", "-", "client", "time_wait", "closed", 0, 0, 0,
             "-", "unknown", ""},
     .one = {{"simultaneous_open", "fins_unproven", "-", "unknown", "fin_wait_1", "established",
              0, 0, 0, "-", "unknown", "one_sided"},
             {"simultaneous_open", "four_way", "-", "client", "fin_wait_2", "last_ack", 0, 0, 0,
              "-", "unknown", "one_sided"}}},
};

/* The client's last payload follows the server's, so it holds nothing unread: SO_LINGER 0. */
static const struct step rst_abort_steps[] = {
    HANDSHAKE,
    EXCHANGE,
    P(C, F_PA, 150, 2000),
    P(S, F_A,  0,   10000),
    P(C, F_RA, 0,   500),
};
static const struct part rst_abort_parts[] = {
    {STEPS(rst_abort_steps), .isn = {ISN_C, ISN_S},
     .exp = {"three_way", "rst", "abort", "client", "closed", "closed", 0, 0, 0,
             "0", "-", ""},
     .one = {{"three_way", "rst", "abort", "client", "closed", "closed", 0, 0, 0,
              "0", "-", "one_sided"},
             {"three_way", "open", "-", "none", "established", "established", 0, 0, 0,
              "-", "-", "synack_without_syn,one_sided"}}},
};

static const struct step rst_unread_data_steps[] = {
    HANDSHAKE,
    P(C, F_PA, 200, 300),
    P(S, F_A,  0,   10000),
    P(S, F_RA, 0,   5000),
};
static const struct part rst_unread_data_parts[] = {
    {STEPS(rst_unread_data_steps), .isn = {ISN_C, ISN_S},
     .exp = {"three_way", "rst", "unread_data", "server", "closed", "closed", 0, 0, 0,
             "0", "-", ""},
     .one = {{"three_way", "open", "-", "none", "established", "established", 0, 0, 0,
              "-", "-", "one_sided"},
             {"three_way", "rst", "unread_data", "server", "closed", "closed", 0, 0, 0,
              "0", "-", "synack_without_syn,one_sided"}}},
};

/* Linux answers data on a closed socket with a RST whose seq is the offending segment's ack. */
static const struct step rst_data_after_close_steps[] = {
    HANDSHAKE,
    EXCHANGE,
    P(S, F_FA, 0,   5000),
    P(C, F_A,  0,   10000),
    P(C, F_PA, 100, 5000), /* after the FIN: half_close_bytes 100 */
    P(S, F_R,  0,   10000),
};
static const struct part rst_data_after_close_parts[] = {
    {STEPS(rst_data_after_close_steps), .isn = {ISN_C, ISN_S},
     .exp = {"three_way", "rst", "data_after_close", "server", "closed", "closed", 100, 0, 0,
             "1", "close", ""},
     .one = {{"three_way", "open", "-", "none", "established", "established", 0, 0, 0,
              "-", "-", "one_sided"},
             {"three_way", "rst", "other", "server", "closed", "closed", 0, 0, 0,
              "0", "unknown", "synack_without_syn,one_sided"}}},
};

static const struct step fin_retransmit_steps[] = {
    HANDSHAKE,
    EXCHANGE,
    P(C, F_FA, 0, 5000),
    P_REFIN(C, F_FA, 200000),
    P(S, F_A,  0, 10000),
    P(S, F_FA, 0, 50000),
    P(C, F_A,  0, 10000),
};
static const struct part fin_retransmit_parts[] = {
    {STEPS(fin_retransmit_steps), .isn = {ISN_C, ISN_S},
     .exp = {"three_way", "four_way", "-", "client", "time_wait", "closed", 0, 1, 0,
             "-", "unknown", ""},
     .one = {{"three_way", "fins_unproven", "-", "unknown", "fin_wait_1", "established", 0, 1, 0,
              "-", "unknown", "one_sided"},
             {"three_way", "four_way", "-", "client", "fin_wait_2", "last_ack", 0, 0, 0,
              "-", "unknown", "synack_without_syn,one_sided"}}},
};

static const struct step time_wait_reack_steps[] = {
    HANDSHAKE,
    EXCHANGE,
    CLOSE_CLIENT_FIRST,
    P_REFIN(S, F_FA, 200000),
    P(C, F_A, 0, 10000),
};
static const struct part time_wait_reack_parts[] = {
    {STEPS(time_wait_reack_steps), .isn = {ISN_C, ISN_S},
     .exp = {"three_way", "four_way", "-", "client", "time_wait", "closed", 0, 1, 0,
             "-", "unknown", ""},
     .one = {{"three_way", "fins_unproven", "-", "unknown", "fin_wait_1", "established", 0, 0, 0,
              "-", "unknown", "one_sided"},
             {"three_way", "four_way", "-", "client", "fin_wait_2", "last_ack", 0, 1, 0,
              "-", "unknown", "synack_without_syn,one_sided"}}},
};

static const struct step rst_after_fins_steps[] = {
    HANDSHAKE,
    EXCHANGE,
    CLOSE_CLIENT_FIRST,
    P(C, F_R, 0, 30000),
};
static const struct part rst_after_fins_parts[] = {
    {STEPS(rst_after_fins_steps), .isn = {ISN_C, ISN_S},
     .exp = {"three_way", "four_way", "-", "client", "closed", "closed", 0, 0, 1,
             "-", "unknown", "rst_after_close"},
     .one = {{"three_way", "fins_unproven", "-", "unknown", "closed", "closed", 0, 0, 1,
              "-", "unknown", "rst_after_close,one_sided"},
             {"three_way", "four_way", "-", "client", "fin_wait_2", "last_ack", 0, 0, 0,
              "-", "unknown", "synack_without_syn,one_sided"}}},
};

/* The same 5-tuple again 100 ms after the first instance closed, with new ISNs. */
static const struct part port_reuse_parts[] = {
    {STEPS(four_way_steps), .isn = {ISN_C, ISN_S}, .exp = EXP_FOUR_WAY_CLIENT,
     .one = {{"three_way", "fins_unproven", "-", "unknown", "fin_wait_1", "established", 0, 0, 0,
              "-", "unknown", "one_sided"},
             {"three_way", "four_way", "-", "client", "fin_wait_2", "last_ack", 0, 0, 0,
              "-", "unknown", "synack_without_syn,one_sided"}}},
    {STEPS(four_way_steps), .isn = {ISN_C + 1000000u, ISN_S + 500000000u}, .gap_us = 100000,
     .exp = EXP_FOUR_WAY_CLIENT,
     .one = {{"three_way", "fins_unproven", "-", "unknown", "fin_wait_1", "established", 0, 0, 0,
              "-", "unknown", "one_sided"},
             {"three_way", "four_way", "-", "client", "fin_wait_2", "last_ack", 0, 0, 0,
              "-", "unknown", "synack_without_syn,one_sided"}}},
};

/* Client FIN at 0xffffffff (acked by ack 0); the server's 1000 bytes cross 2^32; its FIN: 2. */
static const struct step seq_wrap_steps[] = {
    HANDSHAKE,
    EXCHANGE_FIXED,
    CLOSE_CLIENT_FIRST,
};
static const struct part seq_wrap_parts[] = {
    {STEPS(seq_wrap_steps), .isn = {0xffffff36u, 0xfffffc19u}, .exp = EXP_FOUR_WAY_CLIENT,
     .one = {{"three_way", "fins_unproven", "-", "unknown", "fin_wait_1", "established", 0, 0, 0,
              "-", "unknown", "one_sided"},
             {"three_way", "four_way", "-", "client", "fin_wait_2", "last_ack", 0, 0, 0,
              "-", "unknown", "synack_without_syn,one_sided"}}},
};

static const struct step fin_with_data_steps[] = {
    HANDSHAKE,
    EXCHANGE,
    P(C, F_FPA, 300, 5000),
    P(S, F_A,   0,   10000),
    P(S, F_FA,  0,   50000),
    P(C, F_A,   0,   10000),
};
static const struct part fin_with_data_parts[] = {
    {STEPS(fin_with_data_steps), .isn = {ISN_C, ISN_S}, .exp = EXP_FOUR_WAY_CLIENT,
     .one = {{"three_way", "fins_unproven", "-", "unknown", "fin_wait_1", "established", 0, 0, 0,
              "-", "unknown", "one_sided"},
             {"three_way", "half_closed", "-", "server", "established", "fin_wait_1", 0, 0, 0,
              "-", "unknown", "synack_without_syn,one_sided"}}},
};

/* The capture starts with the server's data; the client is the side on the higher port. */
static const struct step midstream_steps[] = {
    P(S, F_PA, FORGE_MSS, 0),
    P(S, F_PA, FORGE_MSS, 100),
    P(C, F_A,  0,   10000),
    P(C, F_PA, 300, 5000),
    P_BULK(S, F_PA, 500, 10000),
    P(C, F_A,  0,   200),
    CLOSE_CLIENT_FIRST,
};
static const struct part midstream_parts[] = {
    {STEPS(midstream_steps), .isn = {ISN_C, ISN_S}, .midstream = true,
     .exp = {"none", "four_way", "-", "client", "time_wait", "closed", 0, 0, 0,
             "-", "unknown", ""},
     .one = {{"none", "fins_unproven", "-", "unknown", "fin_wait_1", "established", 0, 0, 0,
              "-", "unknown", "one_sided"},
             {"none", "four_way", "-", "client", "fin_wait_2", "last_ack", 0, 0, 0,
              "-", "unknown", "one_sided"}}},
};

/* The second closer's FIN is not acked yet, so its receipt by the first is not proved. */
static const struct step ends_mid_teardown_steps[] = {
    HANDSHAKE,
    EXCHANGE,
    P(C, F_FA, 0, 5000),
    P(S, F_FA, 0, 10000),
};
static const struct part ends_mid_teardown_parts[] = {
    {STEPS(ends_mid_teardown_steps), .isn = {ISN_C, ISN_S},
     .exp = {"three_way", "three_way", "-", "client", "fin_wait_2", "last_ack", 0, 0, 0,
             "-", "unknown", "fin_never_acked"},
     .one = {{"three_way", "half_closed", "-", "client", "fin_wait_1", "established", 0, 0, 0,
              "-", "unknown", "one_sided"},
             {"three_way", "three_way", "-", "client", "fin_wait_2", "last_ack", 0, 0, 0,
              "-", "unknown", "synack_without_syn,one_sided"}}},
};

/* Server data at relative 1 (1448 bytes) and 1449 (500 bytes), FIN at 1949; the FIN is
 * captured before the 500-byte segment. */
static const struct step fin_reordered_steps[] = {
    HANDSHAKE,
    P(C, F_PA, 200, 300),
    P(S, F_A,  0,   10000),
    P(S, F_PA, FORGE_MSS, 1000),
    P_SEQ(S, F_FA, 0,   150, 1949),
    P_SEQ(S, F_PA, 500, 50,  1449),
    P(C, F_A,  0, 10000),
    P(C, F_FA, 0, 50000),
    P(S, F_A,  0, 10000),
};
static const struct part fin_reordered_parts[] = {
    {STEPS(fin_reordered_steps), .isn = {ISN_C, ISN_S},
     .exp = {"three_way", "four_way", "-", "server", "closed", "time_wait", 0, 0, 0,
             "-", "unknown", ""},
     .one = {{"three_way", "half_closed", "-", "client", "fin_wait_1", "established", 0, 0, 0,
              "-", "unknown", "one_sided"},
             {"three_way", "fins_unproven", "-", "unknown", "established", "fin_wait_1", 0, 0, 0,
              "-", "unknown", "synack_without_syn,one_sided"}}},
};

static const struct step open_steps[] = {
    HANDSHAKE,
    EXCHANGE,
};
static const struct part open_parts[] = {
    {STEPS(open_steps), .isn = {ISN_C, ISN_S},
     .exp = {"three_way", "open", "-", "none", "established", "established", 0, 0, 0,
             "-", "-", ""},
     .one = {{"three_way", "open", "-", "none", "established", "established", 0, 0, 0,
              "-", "-", "one_sided"},
             {"three_way", "open", "-", "none", "established", "established", 0, 0, 0,
              "-", "-", "synack_without_syn,one_sided"}}},
};

/* The client closes, its FIN is acked, then it resets without any data from the server:
 * nothing unread, nothing sent after close, not an abort from ESTABLISHED: "other". */
static const struct step rst_after_own_fin_steps[] = {
    HANDSHAKE,
    EXCHANGE,
    P(C, F_FA, 0, 5000),
    P(S, F_A,  0, 10000),
    P(C, F_R,  0, 30000),
};
static const struct part rst_after_own_fin_parts[] = {
    {STEPS(rst_after_own_fin_steps), .isn = {ISN_C, ISN_S},
     .exp = {"three_way", "rst", "other", "client", "closed", "closed", 0, 0, 0,
             "0", "unknown", ""},
     .one = {{"three_way", "rst", "other", "client", "closed", "closed", 0, 0, 0,
              "0", "unknown", "one_sided"},
             {"three_way", "open", "-", "none", "established", "established", 0, 0, 0,
              "-", "-", "synack_without_syn,one_sided"}}},
};

/* SYN, SYN+ACK, and the capture ends: the server is left in SYN_RCVD. */
static const struct step synack_unacked_steps[] = {
    P(C, F_S,  0, 0),
    P(S, F_SA, 0, 10000),
};
static const struct part synack_unacked_parts[] = {
    {STEPS(synack_unacked_steps), .isn = {ISN_C, ISN_S},
     .exp = {"three_way", "open", "-", "none", "syn_sent", "syn_rcvd", 0, 0, 0,
             "-", "-", "handshake_incomplete"},
     .one = {{"unanswered", "unanswered", "-", "none", "syn_sent", "listen", 0, 0, 0,
              "-", "-", ""},
             {"three_way", "open", "-", "none", "syn_sent", "syn_rcvd", 0, 0, 0,
              "-", "-", "handshake_incomplete,synack_without_syn"}}},
};

/* FINs cross; only the client's ACK of the server's FIN is captured: the client is left in
 * CLOSING (its own FIN never acked), the server reached TIME_WAIT. */
static const struct step simultaneous_close_cut_steps[] = {
    HANDSHAKE,
    EXCHANGE,
    P(C, F_FA, 0, 5000),
    P_CROSS(S, F_FA, 100),
    P(C, F_A,  0, 10000),
};
static const struct part simultaneous_close_cut_parts[] = {
    {STEPS(simultaneous_close_cut_steps), .isn = {ISN_C, ISN_S},
     .exp = {"three_way", "simultaneous", "-", "both", "closing", "time_wait", 0, 0, 0,
             "-", "unknown", "fin_never_acked"},
     .one = {{"three_way", "fins_unproven", "-", "unknown", "fin_wait_1", "established", 0, 0, 0,
              "-", "unknown", "one_sided"},
             {"three_way", "half_closed", "-", "server", "established", "fin_wait_1", 0, 0, 0,
              "-", "unknown", "synack_without_syn,one_sided"}}},
};

/* Tap next to the server: its ACK of the client FIN is lost on the way back, the client's RTO
 * resends the FIN, the server re-ACKs the duplicate.  The first ACK crossed the
 * retransmission; the re-ACK is the one the client got: four-way, nothing stuck. */
static const struct step fin_retx_cross_four_way_steps[] = {
    HANDSHAKE,
    EXCHANGE,
    P(C, F_FA, 0, 5000),
    P(S, F_A,  0, 10000),
    P_REFIN(C, F_FA, 200000),
    P(S, F_A,  0, 100),
    P(S, F_FA, 0, 50000),
    P(C, F_A,  0, 10000),
};
static const struct part fin_retx_cross_four_way_parts[] = {
    {STEPS(fin_retx_cross_four_way_steps), .isn = {ISN_C, ISN_S},
     .exp = {"three_way", "four_way", "-", "client", "time_wait", "closed", 0, 1, 0,
             "-", "unknown", ""},
     .one = {{"three_way", "fins_unproven", "-", "unknown", "fin_wait_1", "established", 0, 1, 0,
              "-", "unknown", "one_sided"},
             {"three_way", "four_way", "-", "client", "fin_wait_2", "last_ack", 0, 0, 0,
              "-", "unknown", "synack_without_syn,one_sided"}}},
};

/* The server's FIN+ACK (covering the client FIN) is late; the client resends its FIN, whose
 * ack does not cover the server FIN yet, then ACKs the FIN+ACK when it arrives. */
static const struct step fin_retx_cross_three_way_steps[] = {
    HANDSHAKE,
    EXCHANGE,
    P(C, F_FA, 0, 5000),
    P(S, F_FA, 0, 10000),
    P_REFIN_CROSS(C, F_FA, 190000),
    P(C, F_A,  0, 20000),
};
static const struct part fin_retx_cross_three_way_parts[] = {
    {STEPS(fin_retx_cross_three_way_steps), .isn = {ISN_C, ISN_S},
     .exp = {"three_way", "three_way", "-", "client", "time_wait", "closed", 0, 1, 0,
             "-", "unknown", ""},
     .one = {{"three_way", "fins_unproven", "-", "unknown", "fin_wait_1", "established", 0, 1, 0,
              "-", "unknown", "one_sided"},
             {"three_way", "three_way", "-", "client", "fin_wait_2", "last_ack", 0, 0, 0,
              "-", "unknown", "synack_without_syn,one_sided"}}},
};

/* FINs cross; the server's ACK of the client FIN is captured, and then the client's FIN
 * retransmission, which acks the server FIN: it was sent before the client had the ACK (seen on
 * real MySQL and sslh traffic).  Both FINs were acked: both end in TIME_WAIT. */
static const struct step fin_retx_cross_simultaneous_steps[] = {
    HANDSHAKE,
    EXCHANGE,
    P(C, F_FA, 0, 5000),
    P_CROSS(S, F_FA, 100),
    P(S, F_A,  0, 195000), /* in flight when the client resends, 5 ms later */
    P_REFIN(C, F_FA, 5000),
};
static const struct part fin_retx_cross_simultaneous_parts[] = {
    {STEPS(fin_retx_cross_simultaneous_steps), .isn = {ISN_C, ISN_S},
     .exp = {"three_way", "simultaneous", "-", "both", "time_wait", "time_wait", 0, 1, 0,
             "-", "unknown", ""},
     .one = {{"three_way", "fins_unproven", "-", "unknown", "fin_wait_1", "established", 0, 1, 0,
              "-", "unknown", "one_sided"},
             {"three_way", "fins_unproven", "-", "unknown", "established", "fin_wait_1", 0, 0, 0,
              "-", "unknown", "synack_without_syn,one_sided"}}},
};

/* An aggregating tap stamps the server's SYN+ACK 260 us before the SYN it answers. */
static const struct step synack_before_syn_steps[] = {
    P_ACK(S, F_SA, 0, 1),
    P(C, F_S,  0, 260),
    P(C, F_A,  0, 10000),
    EXCHANGE,
    CLOSE_CLIENT_FIRST,
};
static const struct part synack_before_syn_parts[] = {
    {STEPS(synack_before_syn_steps), .isn = {ISN_C, ISN_S},
     .exp = {"three_way", "four_way", "-", "client", "time_wait", "closed", 0, 0, 0,
             "-", "unknown", "tap_reordered"},
     .one = {{"three_way", "fins_unproven", "-", "unknown", "fin_wait_1", "established", 0, 0, 0,
              "-", "unknown", "one_sided"},
             {"three_way", "four_way", "-", "client", "fin_wait_2", "last_ack", 0, 0, 0,
              "-", "unknown", "synack_without_syn,one_sided"}}},
};

/* A FIN without the ACK bit reaches the server in SYN-RECEIVED: RFC 9293 3.10.7.4 drops it
 * (no CLOSE_WAIT); the client then resets: an aborted handshake. */
static const struct step fin_without_ack_steps[] = {
    P(C, F_S,  0, 0),
    P(S, F_SA, 0, 10000),
    P(C, F_F,  0, 150),
    P(C, F_R,  0, 1000),
};
static const struct part fin_without_ack_parts[] = {
    {STEPS(fin_without_ack_steps), .isn = {ISN_C, ISN_S},
     .exp = {"aborted", "rst", "handshake", "client", "closed", "closed", 0, 0, 0,
             "1", "-", "fin_without_ack"},
     .one = {{"aborted", "rst", "handshake", "client", "closed", "listen", 0, 0, 0,
              "1", "-", "fin_without_ack"},
             {"three_way", "open", "-", "none", "syn_sent", "syn_rcvd", 0, 0, 0,
              "-", "-", "handshake_incomplete,synack_without_syn"}}},
};

/* Both sides send a FIN, 235 s apart, neither FIN's ack covers the other, and neither FIN is
 * ever acknowledged: the FINs did not provably meet (no endpoint reached CLOSING). */
static const struct step fins_unacked_steps[] = {
    HANDSHAKE,
    EXCHANGE,
    P(C, F_FA, 0, 5000),
    P_CROSS(S, F_FA, 235000000),
};
static const struct part fins_unacked_parts[] = {
    {STEPS(fins_unacked_steps), .isn = {ISN_C, ISN_S},
     .exp = {"three_way", "fins_unproven", "-", "both", "fin_wait_1", "fin_wait_1", 0, 0, 0,
             "-", "unknown", "fin_never_acked"},
     .one = {{"three_way", "half_closed", "-", "client", "fin_wait_1", "established", 0, 0, 0,
              "-", "unknown", "one_sided"},
             {"three_way", "half_closed", "-", "server", "established", "fin_wait_1", 0, 0, 0,
              "-", "unknown", "synack_without_syn,one_sided"}}},
};

/* The client resets having received no payload at all: nothing can have been unread, so the
 * RST+ACK is an abort (SO_LINGER {1,0}) and the packets prove it. */
static const struct step rst_abort_nothing_read_steps[] = {
    HANDSHAKE,
    P(C, F_PA, 200, 300),
    P(S, F_A,  0,   10000),
    P(C, F_RA, 0,   5000),
};
static const struct part rst_abort_nothing_read_parts[] = {
    {STEPS(rst_abort_nothing_read_steps), .isn = {ISN_C, ISN_S},
     .exp = {"three_way", "rst", "abort", "client", "closed", "closed", 0, 0, 0,
             "1", "-", ""},
     .one = {{"three_way", "rst", "abort", "client", "closed", "closed", 0, 0, 0,
              "1", "-", "one_sided"},
             {"three_way", "open", "-", "none", "established", "established", 0, 0, 0,
              "-", "-", "synack_without_syn,one_sided"}}},
};

/* The client shuts down its write side, the server sends 1000 bytes after the FIN, the client's
 * kernel acks them, then close() finds them unread: RST+ACK.  The data reached a live socket:
 * unread data (or an abort: the same packets), not data after close; shutdown, not close. */
static const struct step rst_shutdown_unread_steps[] = {
    HANDSHAKE,
    P(C, F_PA, 200,  300),
    P(S, F_A,  0,    10000),
    P(C, F_FA, 0,    1000),
    P(S, F_A,  0,    10000),
    P(S, F_PA, 1000, 1000),
    P(C, F_A,  0,    10000),
    P(C, F_RA, 0,    5000),
};
static const struct part rst_shutdown_unread_parts[] = {
    {STEPS(rst_shutdown_unread_steps), .isn = {ISN_C, ISN_S},
     .exp = {"three_way", "rst", "unread_data", "client", "closed", "closed", 1000, 0, 0,
             "0", "shutdown", ""},
     .one = {{"three_way", "rst", "unread_data", "client", "closed", "closed", 0, 0, 0,
              "0", "shutdown", "one_sided"},
             {"three_way", "open", "-", "none", "established", "established", 0, 0, 0,
              "-", "-", "synack_without_syn,one_sided"}}},
};

/* The client close()d; the server closes 61 s later, after Linux destroyed the client's orphaned
 * FIN_WAIT_2 socket (tcp_fin_timeout 60 s): the server's FIN is answered by a bare RST. */
static const struct step fin_wait_2_timeout_steps[] = {
    HANDSHAKE,
    EXCHANGE,
    P(C, F_FA, 0, 5000),
    P(S, F_A,  0, 10000),
    P(S, F_FA, 0, 61000000),
    P(C, F_R,  0, 100),
};
static const struct part fin_wait_2_timeout_parts[] = {
    {STEPS(fin_wait_2_timeout_steps), .isn = {ISN_C, ISN_S},
     .exp = {"three_way", "four_way", "-", "client", "closed", "closed", 0, 0, 1,
             "-", "close", "rst_after_close,fin_never_acked,fin_wait_2_timeout"},
     .one = {{"three_way", "rst", "other", "client", "closed", "closed", 0, 0, 0,
              "0", "unknown", "one_sided"},
             {"three_way", "four_way", "-", "client", "fin_wait_2", "last_ack", 0, 0, 0,
              "-", "unknown", "synack_without_syn,one_sided"}}},
};

/* The accept queue is full (tcp_abort_on_overflow=1): the handshake's ACK gets a bare RST. */
static const struct step accept_overflow_steps[] = {
    HANDSHAKE,
    P(S, F_R, 0, 20),
};
static const struct part accept_overflow_parts[] = {
    {STEPS(accept_overflow_steps), .isn = {ISN_C, ISN_S},
     .exp = {"three_way", "rst", "accept_overflow", "server", "closed", "closed", 0, 0, 0,
             "0", "-", ""},
     .one = {{"three_way", "open", "-", "none", "established", "established", 0, 0, 0,
              "-", "-", "one_sided"},
             {"three_way", "rst", "accept_overflow", "server", "closed", "closed", 0, 0, 0,
              "0", "-", "synack_without_syn,one_sided"}}},
};

#define PARTS(a) .parts = (a), .n_parts = sizeof(a) / sizeof((a)[0])

/* mix_weight: how often a mix draws the scenario (clean closes dominate real traffic). */
static const struct scenario scenarios[] = {
    {"four_way", "client closes first, server ACKs, server FIN 50 ms later, client ACK",
     .mix_weight = 12, PARTS(four_way_parts)},
    {"four_way_server_first", "server closes first, client ACKs, client FIN, server ACK",
     .mix_weight = 8, PARTS(four_way_server_first_parts)},
    {"three_way_close", "client FIN, server FIN+ACK covering it, client ACK",
     .mix_weight = 10, PARTS(three_way_close_parts)},
    {"two_way_self", "self-connected socket: SYN, SYN+ACK, ACK, FIN, ACK on one address:port",
     .self_connect = true, .mix_weight = 1, PARTS(two_way_self_parts)},
    {"simultaneous_close", "both FINs cross (neither acks the other), then both ACKs",
     .mix_weight = 1, PARTS(simultaneous_close_parts)},
    {"half_close", "client FIN, server sends 3x100 bytes after it, then FIN (half-close)",
     .mix_weight = 2, PARTS(half_close_parts)},
    {"half_closed_leak", "client FIN acked, server never closes: CLOSE_WAIT at the end",
     .mix_weight = 1, PARTS(half_closed_leak_parts)},
    {"refused", "SYN answered by RST+ACK",
     .fixed_isn = true, .mix_weight = 2, PARTS(refused_parts)},
    {"unanswered", "SYN and two retransmissions (1 s, 2 s), no answer",
     .mix_weight = 1, PARTS(unanswered_parts)},
    {"aborted_handshake", "SYN, SYN+ACK, RST from the client",
     .mix_weight = 1, PARTS(aborted_handshake_parts)},
    {"simultaneous_open", "both SYNs cross, both SYN+ACKs, then a four-way close",
     .mix_weight = 1, PARTS(simultaneous_open_parts)},
    {"rst_abort", "request/response, client RST+ACK without FIN (SO_LINGER 0)",
     .mix_weight = 2, PARTS(rst_abort_parts)},
    {"rst_unread_data", "client sends 200 bytes, server ACKs, server RST+ACK unanswered",
     .mix_weight = 2, PARTS(rst_unread_data_parts)},
    {"rst_data_after_close", "server FIN acked, client sends 100 bytes, server RST",
     .mix_weight = 1, PARTS(rst_data_after_close_parts)},
    {"fin_retransmit", "client FIN retransmitted after 200 ms, then a four-way close",
     .mix_weight = 1, PARTS(fin_retransmit_parts)},
    {"time_wait_reack", "four-way close, server FIN retransmitted, client re-ACKs it",
     .mix_weight = 1, PARTS(time_wait_reack_parts)},
    {"rst_after_fins", "four-way close, then a late RST from the client",
     .mix_weight = 1, PARTS(rst_after_fins_parts)},
    {"port_reuse", "two four-way connections on one 5-tuple, new ISNs 100 ms apart",
     .mix_weight = 1, PARTS(port_reuse_parts)},
    {"seq_wrap", "ISNs near 2^32: data and FINs wrap past sequence number 0",
     .fixed_isn = true, .mix_weight = 1, PARTS(seq_wrap_parts)},
    {"fin_with_data", "client's last data segment carries its FIN",
     .mix_weight = 3, PARTS(fin_with_data_parts)},
    {"midstream", "capture starts with data (no SYN), then a four-way close",
     .mix_weight = 1, PARTS(midstream_parts)},
    {"ends_mid_teardown", "client FIN, server FIN+ACK, capture ends before the last ACK",
     .mix_weight = 1, PARTS(ends_mid_teardown_parts)},
    {"fin_reordered", "server FIN+ACK captured before its last data segment",
     .mix_weight = 1, PARTS(fin_reordered_parts)},
    {"open", "handshake and data, no FIN, no RST",
     .mix_weight = 1, PARTS(open_parts)},
    {"rst_after_own_fin", "client FIN acked, then a client RST with nothing unread (cause other)",
     .mix_weight = 1, PARTS(rst_after_own_fin_parts)},
    {"synack_unacked", "SYN, SYN+ACK, capture ends: server left in SYN_RCVD",
     .mix_weight = 1, PARTS(synack_unacked_parts)},
    {"simultaneous_close_cut", "FINs cross, one final ACK captured: client left in CLOSING",
     .mix_weight = 1, PARTS(simultaneous_close_cut_parts)},
    {"fin_retx_cross_four_way", "four-way close, the client's FIN resent across the server's ACK",
     .mix_weight = 1, PARTS(fin_retx_cross_four_way_parts)},
    {"fin_retx_cross_three_way", "three-way close, the client's FIN resent across the FIN+ACK",
     .mix_weight = 1, PARTS(fin_retx_cross_three_way_parts)},
    {"fin_retx_cross_simultaneous", "FINs cross, the client's FIN resent across the server's ACK",
     .mix_weight = 1, PARTS(fin_retx_cross_simultaneous_parts)},
    {"synack_before_syn", "the tap stamps the SYN+ACK 260 us before its SYN",
     .mix_weight = 1, PARTS(synack_before_syn_parts)},
    {"fin_without_ack", "SYN, SYN+ACK, a FIN without ACK (dropped), then the client's RST",
     .mix_weight = 1, PARTS(fin_without_ack_parts)},
    {"fins_unacked", "both FINs sent 235 s apart, crossing, neither ever acknowledged",
     .mix_weight = 0, PARTS(fins_unacked_parts)}, /* minutes long: not in a mix */
    {"rst_abort_nothing_read", "request acked, no reply, the client resets: a proven abort",
     .mix_weight = 1, PARTS(rst_abort_nothing_read_parts)},
    {"rst_shutdown_unread", "client shutdown, 1000 bytes acked, then RST: unread data",
     .mix_weight = 1, PARTS(rst_shutdown_unread_parts)},
    {"fin_wait_2_timeout", "client close(), server FIN 61 s later answered by a bare RST",
     .mix_weight = 0, PARTS(fin_wait_2_timeout_parts)}, /* minutes long: not in a mix */
    {"accept_overflow", "SYN, SYN+ACK, ACK, then the server's bare RST (accept queue full)",
     .mix_weight = 1, PARTS(accept_overflow_parts)},
};
/* clang-format on */

#define N_SCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

static const struct scenario *find_scenario(const char *name)
{
    for (size_t i = 0; i < N_SCENARIOS; i++)
        if (strcmp(scenarios[i].name, name) == 0)
            return &scenarios[i];
    return NULL;
}

/* "name  description", then "  (one side: client server)" for the views it defines. */
int fsc_forge_list(FILE *out)
{
    for (size_t i = 0; i < N_SCENARIOS; i++) {
        const char *name = scenarios[i].name;
        bool c = fsc_forge_scenario_one_sided(name, FSC_FORGE_CLIENT_ONLY);
        bool s = fsc_forge_scenario_one_sided(name, FSC_FORGE_SERVER_ONLY);
        if (fprintf(out, "%-26s  %s%s%s%s%s\n", name, scenarios[i].desc,
                    c || s ? "  (one side:" : "", c ? " client" : "", s ? " server" : "",
                    c || s ? ")" : "") < 0)
            return -1;
    }
    return fflush(out) == 0 ? 0 : -1;
}

bool fsc_forge_scenario_exists(const char *name)
{
    return find_scenario(name) != NULL;
}

bool fsc_forge_scenario_one_sided(const char *name, int one_side)
{
    const struct scenario *sc = find_scenario(name);

    if (!sc || one_side < FSC_FORGE_CLIENT_ONLY || one_side > FSC_FORGE_SERVER_ONLY)
        return false;
    for (size_t p = 0; p < sc->n_parts; p++)
        if (!sc->parts[p].one[one_side - 1].handshake)
            return false;
    return true;
}

/* ---- deterministic PRNG (splitmix64) ---- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi] (the modulo bias is irrelevant here). */
static uint32_t rng_range(uint64_t *s, uint32_t lo, uint32_t hi)
{
    return lo + (uint32_t)(rng_next(s) % ((uint64_t)hi - lo + 1));
}

/* ---- expanding a scenario into segments ---- */

/* One segment to put on the wire. */
struct seg {
    fsc_time ts;
    uint32_t seq, ack;
    uint16_t len;
    uint8_t flags;
    uint8_t from;
};

/* One expected row: the table's tokens plus the counters of what was generated. */
struct row {
    const struct expect *exp;
    const struct part *part;
    uint64_t pkts[2], bytes[2];
    size_t first_seg; /* index of the instance's first segment */
};

/* A connection (one scenario on one 5-tuple) expanded into its segments. */
struct conn {
    struct seg *seg;
    size_t n_seg, cap_seg, next;
    struct row rows[FORGE_MAX_PARTS];
    int n_rows, rows_done;
    uint64_t order; /* creation order: ties in time go to the older connection */
    struct {
        uint8_t addr[16];
        uint16_t port;
        uint8_t mac[6];
        uint16_t ip_id;
    } ep[2];
};

/* Variation a mix adds to a scenario; NULL in a single-scenario capture. */
struct mix_var {
    uint64_t *rng;
    uint32_t isn_add[2];
    uint32_t time_scale; /* dt * time_scale / 256 */
};

/* What one side has put in sequence space. */
struct side {
    uint32_t isn, nxt, fin_seq;
    bool fin_sent;
};

static int conn_push(struct conn *c, fsc_time ts, uint8_t from, uint8_t flags, uint32_t seq,
                     uint32_t ack, uint16_t len)
{
    if (c->n_seg == c->cap_seg) {
        size_t cap = c->cap_seg ? c->cap_seg * 2 : 64;
        struct seg *n = realloc(c->seg, cap * sizeof *n);
        if (!n)
            return -1;
        c->seg = n;
        c->cap_seg = cap;
    }
    c->seg[c->n_seg++] = (struct seg){ts, seq, ack, len, flags, from};
    return 0;
}

/* Sequence bookkeeping and counters for one segment sent by side me to side peer. */
static int emit(struct conn *c, struct row *r, bool self, fsc_time ts, uint8_t from, uint8_t flags,
                uint32_t seq, uint16_t len, struct side *me, const struct side *peer,
                enum ack_mode am, uint32_t rel_ack)
{
    uint32_t ack = 0, end;

    if (flags & FSC_TH_ACK)
        ack = am == ACK_REL                           ? peer->isn + rel_ack
              : (am == ACK_PRE_FIN && peer->fin_sent) ? peer->fin_seq
                                                      : peer->nxt;
    end = seq + len + ((flags & FSC_TH_SYN) ? 1 : 0) + ((flags & FSC_TH_FIN) ? 1 : 0);
    if (FSC_SEQ_GT(end, me->nxt))
        me->nxt = end;
    if (flags & FSC_TH_FIN) {
        me->fin_sent = true;
        me->fin_seq = seq + len;
    }
    /* A self-connected flow has one endpoint: finscope counts everything as the client's. */
    int who = self ? C : from;
    r->pkts[who]++;
    r->bytes[who] += len;
    return conn_push(c, ts, from, flags, seq, ack, len);
}

/*
 * Server response of random length for a mix: full segments, a short last one, and the
 * client's ACK after every second segment (delayed ACK).
 */
static int emit_bulk(struct conn *c, struct row *r, bool self, fsc_time *ts, uint8_t from,
                     uint8_t flags, struct side *me, struct side *peer, const struct mix_var *mv,
                     uint32_t dt)
{
    uint32_t full =
        rng_range(mv->rng, 0, 3) == 0 ? rng_range(mv->rng, 0, 3) : rng_range(mv->rng, 5, 100);
    uint32_t tail = rng_range(mv->rng, 0, 3) == 0 ? 0 : rng_range(mv->rng, 1, FORGE_MSS - 1);
    uint32_t n = full + (tail ? 1 : 0);

    if (n == 0) {
        n = 1;
        tail = rng_range(mv->rng, 1, 600);
    }
    for (uint32_t i = 0; i < n; i++) {
        uint16_t len = (i < full) ? FORGE_MSS : (uint16_t)tail;
        *ts += i == 0 ? dt : rng_range(mv->rng, 40, 300);
        if (emit(c, r, self, *ts, from, flags, me->nxt, len, me, peer, ACK_AUTO, 0) < 0)
            return -1;
        if (i % 2 == 1 && i + 1 < n) {
            *ts += rng_range(mv->rng, 20, 80);
            if (emit(c, r, self, *ts, (uint8_t)!from, F_A, peer->nxt, 0, peer, me, ACK_AUTO, 0) < 0)
                return -1;
        }
    }
    return 0;
}

/* Expand every part of sc into c->seg starting at time t0; rows filled with the counters. */
static int expand(const struct scenario *sc, const struct mix_var *mv, fsc_time t0, struct conn *c)
{
    fsc_time ts = t0;

    if (sc->n_parts > FORGE_MAX_PARTS)
        return -1;
    c->n_seg = c->next = 0;
    c->n_rows = c->rows_done = 0;
    for (size_t p = 0; p < sc->n_parts; p++) {
        const struct part *pt = &sc->parts[p];
        struct side sd[2];
        struct row *r = &c->rows[c->n_rows++];

        memset(sd, 0, sizeof sd);
        memset(r, 0, sizeof *r);
        r->exp = &pt->exp;
        r->part = pt;
        r->first_seg = c->n_seg;
        for (int i = 0; i < 2; i++) {
            sd[i].isn = pt->isn[i] + ((mv && !sc->fixed_isn) ? mv->isn_add[i] : 0);
            /* Midstream: the SYN lies before the capture, so data starts at ISN + 1. */
            sd[i].nxt = sd[i].isn + (pt->midstream ? 1 : 0);
        }
        if (p > 0)
            ts += mv ? (fsc_time)pt->gap_us * mv->time_scale / 256 : pt->gap_us;
        for (size_t k = 0; k < pt->n_steps; k++) {
            const struct step *st = &pt->steps[k];
            /* One socket talking to itself has one sequence space. */
            struct side *me = sc->self_connect ? &sd[0] : &sd[st->from];
            struct side *peer = sc->self_connect ? &sd[0] : &sd[!st->from];
            uint32_t dt = mv ? (uint32_t)((uint64_t)st->dt_us * mv->time_scale / 256) : st->dt_us;
            uint32_t seq;

            if (k == 0)
                dt = 0;
            if (st->bulk && mv) {
                if (emit_bulk(c, r, sc->self_connect, &ts, st->from, st->flags, me, peer, mv, dt) <
                    0)
                    return -1;
                continue;
            }
            ts += dt;
            switch (st->seq_mode) {
            case SEQ_REL:
                seq = me->isn + st->seq;
                break;
            case SEQ_FIN:
                seq = me->fin_seq;
                break;
            default:
                seq = me->nxt;
                break;
            }
            if (emit(c, r, sc->self_connect, ts, st->from, st->flags, seq, st->len, me, peer,
                     (enum ack_mode)st->ack_mode, st->ack) < 0)
                return -1;
        }
    }
    return 0;
}

/* ---- building frames with libnet ---- */

struct builder {
    libnet_t *l;
    libnet_ptag_t tcp, ip, link; /* reused: libnet rewrites the blocks in place */
    struct fsc_forge_opts o;
    struct fsc_pcap_writer *w;
    uint8_t payload[FORGE_MSS];
    uint64_t frames, bytes;
    /* Tunnels and fragments (build_wrapped): a second context, rebuilt for every layer. */
    libnet_t *lw;
    uint16_t outer_ip_id; /* identification of the outer IPv4 headers */
    uint32_t gre_seqno;   /* GRE / ERSPAN sequence number */
    uint32_t frag_id6;    /* identification of IPv6 fragment headers */
    bool attack_done;     /* the overlapping-fragment attack was written (fragment_overlap) */
};

/* ---- tunnels and fragments: options ---- */

static const char *const encap_names[FSC_FORGE_ENCAP__COUNT] = {
    [FSC_FORGE_ENCAP_NONE] = "none",       [FSC_FORGE_ENCAP_VXLAN] = "vxlan",
    [FSC_FORGE_ENCAP_GENEVE] = "geneve",   [FSC_FORGE_ENCAP_GENEVE_IP] = "geneve-ip",
    [FSC_FORGE_ENCAP_GRE] = "gre",         [FSC_FORGE_ENCAP_GRETAP] = "gretap",
    [FSC_FORGE_ENCAP_ERSPAN1] = "erspan1", [FSC_FORGE_ENCAP_ERSPAN2] = "erspan2",
    [FSC_FORGE_ENCAP_ERSPAN3] = "erspan3", [FSC_FORGE_ENCAP_IPIP] = "ipip",
};

const char *fsc_forge_encap_name(int encap)
{
    return encap >= 0 && encap < FSC_FORGE_ENCAP__COUNT ? encap_names[encap] : NULL;
}

/* Whether packets take the path that builds each layer on its own (tunnel, fragments). */
static bool wrapped(const struct fsc_forge_opts *o)
{
    return o->encap != FSC_FORGE_ENCAP_NONE || o->fragment != 0;
}

/* Whether the encapsulation carries an Ethernet frame (rather than the IP packet itself). */
static bool encap_carries_eth(int encap)
{
    switch (encap) {
    case FSC_FORGE_ENCAP_VXLAN:
    case FSC_FORGE_ENCAP_GENEVE:
    case FSC_FORGE_ENCAP_GRETAP:
    case FSC_FORGE_ENCAP_ERSPAN1:
    case FSC_FORGE_ENCAP_ERSPAN2:
    case FSC_FORGE_ENCAP_ERSPAN3:
        return true;
    default:
        return false;
    }
}

static int check_wrap_opts(const struct fsc_forge_opts *o, char *err, size_t errlen)
{
    const char *why = NULL;

    if (o->encap < 0 || o->encap >= FSC_FORGE_ENCAP__COUNT)
        why = "unknown encapsulation";
    else if (o->inner_vlan < 0 || o->inner_vlan > 4094)
        why = "inner VLAN id out of range (1..4094)";
    else if (o->inner_vlan && !encap_carries_eth(o->encap))
        why = "an inner VLAN tag needs an encapsulation that carries Ethernet "
              "(vxlan, geneve, gretap, erspan1, erspan2, erspan3)";
    else if (o->outer_ipv6 && o->encap == FSC_FORGE_ENCAP_NONE)
        why = "an outer IPv6 header needs an encapsulation";
    else if (o->fragment && (o->fragment < 8 || o->fragment % 8 || o->fragment > 65528))
        why = "the fragment size must be a multiple of 8 from 8 to 65528";
    else if (!o->fragment && (o->fragment_inner || o->fragment_reverse || o->fragment_overlap))
        why = "fragment options need a fragment size";
    else if (o->fragment_inner && o->encap == FSC_FORGE_ENCAP_NONE)
        why = "fragmenting the inner datagram needs an encapsulation";
    if (why)
        snprintf(err, errlen, "%s", why);
    return why ? -1 : 0;
}

static int builder_open(struct builder *b, const struct fsc_forge_opts *o, const char *pcap_path,
                        char *err, size_t errlen)
{
    char lerr[LIBNET_ERRBUF_SIZE] = "";
    static const char text[] = "finscope forged payload 0123456789 abcdefghijklmnopqrstuvwxyz\r\n";

    memset(b, 0, sizeof *b);
    if (o)
        b->o = *o;
    if (b->o.vlan < 0 || b->o.vlan > 4094) {
        snprintf(err, errlen, "VLAN id %d out of range (1..4094)", b->o.vlan);
        return -1;
    }
    if (b->o.vlan && b->o.sll) {
        snprintf(err, errlen, "a VLAN tag needs Ethernet framing, not Linux cooked (SLL)");
        return -1;
    }
    if (check_wrap_opts(&b->o, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < sizeof b->payload; i++)
        b->payload[i] = (uint8_t)text[i % (sizeof text - 1)];
    /* LIBNET_NONE: build packets only, no device and no privileges needed. */
    b->l = libnet_init(LIBNET_NONE, NULL, lerr);
    if (!b->l) {
        snprintf(err, errlen, "libnet_init: %s", lerr);
        return -1;
    }
    if (wrapped(&b->o) && !(b->lw = libnet_init(LIBNET_NONE, NULL, lerr))) {
        snprintf(err, errlen, "libnet_init: %s", lerr);
        libnet_destroy(b->l);
        b->l = NULL;
        return -1;
    }
    b->outer_ip_id = 0x7000;
    b->frag_id6 = 0x00f00000;
    if (fsc_pcap_writer_open(pcap_path, b->o.sll ? FORGE_DLT_LINUX_SLL : FORGE_DLT_EN10MB, &b->w,
                             err, errlen) < 0) {
        libnet_destroy(b->l);
        b->l = NULL;
        if (b->lw)
            libnet_destroy(b->lw);
        b->lw = NULL;
        return -1;
    }
    return 0;
}

/* Close the writer; -1 (message in err) if it failed and no earlier error was reported. */
static int builder_close(struct builder *b, const char *pcap_path, char *err, size_t errlen, int rc)
{
    if (b->w && fsc_pcap_writer_close(b->w) < 0 && rc == 0) {
        snprintf(err, errlen, "%s: write failed", pcap_path);
        rc = -1;
    }
    if (b->l)
        libnet_destroy(b->l);
    if (b->lw)
        libnet_destroy(b->lw);
    return rc;
}

/*
 * The TCP segment sg of connection c and its IP header (DF set on IPv4 when df), built in l; *tcp
 * and *ip are the blocks to rewrite (0: new ones) and become the blocks built.  0, or -1 with
 * libnet's message in l.
 */
static int build_tcp_ip(struct builder *b, libnet_t *l, struct conn *c, const struct seg *sg,
                        bool df, libnet_ptag_t *tcp, libnet_ptag_t *ip)
{
    const int from = sg->from, to = !sg->from;
    uint16_t win = (sg->flags & FSC_TH_RST) ? 0 : 65535;

    *tcp = libnet_build_tcp(c->ep[from].port, c->ep[to].port, sg->seq, sg->ack, sg->flags, win, 0,
                            0, (uint32_t)(LIBNET_TCP_H + sg->len), sg->len ? b->payload : NULL,
                            sg->len, l, *tcp);
    if (*tcp == -1)
        return -1;
    if (b->o.ipv6) {
        struct libnet_in6_addr src, dst;
        memcpy(&src, c->ep[from].addr, 16);
        memcpy(&dst, c->ep[to].addr, 16);
        *ip = libnet_build_ipv6(0, 0, (uint16_t)(LIBNET_TCP_H + sg->len), IPPROTO_TCP, 64, src, dst,
                                NULL, 0, l, *ip);
    } else {
        uint32_t src, dst; /* network byte order, as libnet wants */
        memcpy(&src, c->ep[from].addr, 4);
        memcpy(&dst, c->ep[to].addr, 4);
        *ip = libnet_build_ipv4((uint16_t)(LIBNET_IPV4_H + LIBNET_TCP_H + sg->len), 0,
                                c->ep[from].ip_id++, df ? IP_DF : 0, 64, IPPROTO_TCP, 0, src, dst,
                                NULL, 0, l, *ip);
    }
    return *ip == -1 ? -1 : 0;
}

/*
 * Linux cooked header: packet type (4 = sent by us, the client host; 0 = to us), ARPHRD_ETHER,
 * address length 6, sender's MAC padded to 8 bytes, protocol.
 */
static void sll_header(uint8_t sll[16], int from, const uint8_t mac[6], uint16_t et)
{
    static const uint8_t fixed[6] = {0, 0, 0, 1, 0, 6};
    memcpy(sll, fixed, sizeof fixed);
    sll[1] = from == C ? 4 : 0;
    memcpy(sll + 6, mac, 6);
    sll[12] = sll[13] = 0;
    sll[14] = (uint8_t)(et >> 8);
    sll[15] = (uint8_t)et;
}

/* ---- tunnels and fragments: building each layer around the last ---- */

#define WRAP_BUF 4096 /* the largest forged packet with every header is under 1,700 bytes */
#define WRAP_VNI 0x001234u
#define WRAP_GRE_KEY 7u

/* The bytes of one packet while layers are put around it. */
struct wbuf {
    uint8_t b[WRAP_BUF];
    uint32_t n;
};

/* libnet's error as the message; -1. */
static int lw_fail(struct builder *b, char *err, size_t errlen)
{
    snprintf(err, errlen, "libnet: %s", libnet_geterror(b->lw));
    libnet_clear_packet(b->lw);
    return -1;
}

/* Coalesce what was built in b->lw into out and clear the context.  0 or -1. */
static int lw_take(struct builder *b, struct wbuf *out)
{
    uint8_t *p;
    uint32_t n;
    int rc = -1;

    if (libnet_pblock_coalesce(b->lw, &p, &n) == 1) {
        if (n <= sizeof out->b) {
            memcpy(out->b, p, n);
            out->n = n;
            rc = 0;
        }
        libnet_adv_free_packet(b->lw, p);
    }
    if (rc == 0)
        libnet_clear_packet(b->lw);
    return rc;
}

static uint16_t ethertype_of(const struct wbuf *ip)
{
    return (ip->b[0] >> 4) == 6 ? ETHERTYPE_IPV6 : ETHERTYPE_IP;
}

/* Ethernet header (with a VLAN tag when vlan) from c's side from, around payload p, in b->lw. */
static int build_eth(struct builder *b, const struct conn *c, int from, int vlan,
                     const struct wbuf *p)
{
    const uint8_t *dst = c->ep[!from].mac, *src = c->ep[from].mac;
    if (vlan)
        return libnet_build_802_1q(dst, src, ETHERTYPE_VLAN, 0, 0, (uint16_t)vlan, ethertype_of(p),
                                   p->b, p->n, b->lw, 0) == -1
                   ? -1
                   : 0;
    return libnet_build_ethernet(dst, src, ethertype_of(p), p->b, p->n, b->lw, 0) == -1 ? -1 : 0;
}

/* A function taking the next packet of a segment: a fragment or a whole datagram. */
typedef int (*wrap_sink)(struct builder *b, const struct conn *c, const struct seg *sg,
                         const struct wbuf *pkt, char *err, size_t errlen);

/* The outermost layer: the link (Ethernet with --vlan, or SLL) around ip, written at sg's time. */
static int write_link(struct builder *b, const struct conn *c, const struct seg *sg,
                      const struct wbuf *ip, char *err, size_t errlen)
{
    struct wbuf frame;
    int rc;

    if (b->o.sll) {
        uint8_t sll[16];
        sll_header(sll, sg->from, c->ep[sg->from].mac, ethertype_of(ip));
        rc = libnet_build_data(ip->b, ip->n, b->lw, 0) == -1 ||
                     libnet_build_data(sll, sizeof sll, b->lw, 0) == -1
                 ? -1
                 : 0;
    } else {
        rc = build_eth(b, c, sg->from, b->o.vlan, ip);
    }
    if (rc < 0 || lw_take(b, &frame) < 0)
        return lw_fail(b, err, errlen);
    fsc_pcap_writer_write(b->w, sg->ts, frame.b, frame.n);
    b->frames++;
    b->bytes += frame.n;
    return 0;
}

/*
 * Fragment number k of the n of datagram d (payload from hlen on): bytes [k * size, ...) under
 * identification id, into out.  The attack fragment instead is 8 other bytes at offset 8 (0
 * when size is 8), which overlap the first fragment.
 */
static int build_fragment(struct builder *b, const struct wbuf *d, uint32_t hlen, uint32_t id,
                          uint32_t k, uint32_t n, bool attack, struct wbuf *out)
{
    static const uint8_t other[8] = {0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5};
    uint32_t size = b->o.fragment, plen = d->n - hlen;
    uint32_t off = k * size, len = plen - off < size ? plen - off : size;
    const uint8_t *bytes = d->b + hlen + off;
    bool more = k + 1 < n;

    if (attack) {
        off = size >= 16 ? 8 : 0;
        len = sizeof other;
        bytes = other;
        more = true;
    }
    if ((d->b[0] >> 4) == 4) {
        uint32_t src, dst;
        memcpy(&src, d->b + 12, 4);
        memcpy(&dst, d->b + 16, 4);
        if (libnet_build_ipv4((uint16_t)(LIBNET_IPV4_H + len), d->b[1], (uint16_t)id,
                              (uint16_t)((more ? IP_MF : 0) | off / 8), d->b[8], d->b[9], 0, src,
                              dst, bytes, len, b->lw, 0) == -1)
            return -1;
    } else {
        struct libnet_in6_addr src, dst;
        memcpy(&src, d->b + 8, 16);
        memcpy(&dst, d->b + 24, 16);
        /* libnet 1.1 copies these two fields as they are given: network order here. */
        if (libnet_build_ipv6_frag(d->b[6], 0, htons((uint16_t)(off | (more ? 1 : 0))), htonl(id),
                                   bytes, len, b->lw, 0) == -1 ||
            libnet_build_ipv6(0, 0, (uint16_t)(LIBNET_IPV6_FRAG_H + len), IPPROTO_FRAGMENT, d->b[7],
                              src, dst, NULL, 0, b->lw, 0) == -1)
            return -1;
    }
    return lw_take(b, out);
}

/*
 * Give datagram d (forged here: an IPv4 header without options, or an IPv6 header without
 * extension headers) to sink whole, or in fragments of b->o.fragment payload bytes (RFC 791
 * section 3.2, RFC 8200 section 4.5), last first with fragment_reverse; before the first one
 * fragmented, the overlapping attack on a copy of it when fragment_overlap.
 */
static int fragment(struct builder *b, const struct conn *c, const struct seg *sg,
                    const struct wbuf *d, wrap_sink sink, char *err, size_t errlen)
{
    bool v4 = (d->b[0] >> 4) == 4;
    uint32_t hlen = v4 ? (uint32_t)(d->b[0] & 0x0f) * 4 : LIBNET_IPV6_H;
    uint32_t size = b->o.fragment, plen = d->n - hlen;
    struct wbuf f;

    if (size == 0 || plen <= size)
        return sink(b, c, sg, d, err, errlen);
    uint32_t n = (plen + size - 1) / size;
    uint32_t id = v4 ? (uint32_t)d->b[4] << 8 | d->b[5] : b->frag_id6++;
    if (b->o.fragment_overlap && !b->attack_done) {
        uint32_t aid = v4 ? id ^ 0x8000u : id ^ 0x80000000u;
        b->attack_done = true;
        for (uint32_t k = 0; k < n; k++) {
            for (int a = 0; a < (k == 0 ? 2 : 1); a++) {
                if (build_fragment(b, d, hlen, aid, k, n, a == 1, &f) < 0)
                    return lw_fail(b, err, errlen);
                if (sink(b, c, sg, &f, err, errlen) < 0)
                    return -1;
            }
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k = b->o.fragment_reverse ? n - 1 - i : i;
        if (build_fragment(b, d, hlen, id, k, n, false, &f) < 0)
            return lw_fail(b, err, errlen);
        if (sink(b, c, sg, &f, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/*
 * The tunnel header of b->o.encap, written here where libnet has no builder (VXLAN, Geneve,
 * ERSPAN), into t; the GRE and UDP headers come from libnet.
 */
static void tunnel_header(const struct builder *b, const struct seg *sg, uint16_t et_in,
                          struct wbuf *t)
{
    static const uint8_t vni[3] = {WRAP_VNI >> 16 & 0xff, WRAP_VNI >> 8 & 0xff, WRAP_VNI & 0xff};
    uint8_t *h = t->b;
    uint32_t ts = (uint32_t)sg->ts;

    t->n = 0;
    switch (b->o.encap) {
    case FSC_FORGE_ENCAP_VXLAN: /* I flag, VNI (RFC 7348 section 5) */
        memset(h, 0, 8);
        h[0] = 0x08;
        memcpy(h + 4, vni, 3);
        t->n = 8;
        break;
    case FSC_FORGE_ENCAP_GENEVE: /* version 0, two words of options: one of 4 bytes of data */
    case FSC_FORGE_ENCAP_GENEVE_IP: {
        bool eth = b->o.encap == FSC_FORGE_ENCAP_GENEVE;
        uint16_t type = eth ? 0x6558 : et_in;
        memset(h, 0, 8);
        h[0] = eth ? 2 : 0;
        h[2] = (uint8_t)(type >> 8);
        h[3] = (uint8_t)type;
        memcpy(h + 4, vni, 3);
        t->n = 8;
        if (eth) {
            static const uint8_t opt[8] = {0x01, 0x03, 0x42, 0x01, 0xfe, 0xed, 0xfa, 0xce};
            memcpy(h + 8, opt, sizeof opt); /* class 0x0103, type 0x42, one word of data */
            t->n = 16;
        }
        break;
    }
    case FSC_FORGE_ENCAP_ERSPAN2: /* version 1, VLAN 0, session 5, index 9 */
        memset(h, 0, 8);
        h[0] = 0x10;
        h[3] = 5;
        h[7] = 9;
        t->n = 8;
        break;
    case FSC_FORGE_ENCAP_ERSPAN3: /* version 2, session 5, a timestamp, frame type Ethernet */
        memset(h, 0, 12);
        h[0] = 0x20;
        h[3] = 5;
        h[4] = (uint8_t)(ts >> 24);
        h[5] = (uint8_t)(ts >> 16);
        h[6] = (uint8_t)(ts >> 8);
        h[7] = (uint8_t)ts;
        t->n = 12;
        break;
    default:
        break;
    }
}

/*
 * Put the tunnel of b->o.encap around packet p of segment sg: Ethernet (and an inner VLAN tag)
 * when the tunnel carries Ethernet, the tunnel's headers, and the outer IP header between the
 * tunnel endpoints (10.0.0.1 on the client's side, 10.0.0.2; fd00::1, fd00::2 with outer_ipv6).
 * The outer datagram goes to out.  0, or -1 with libnet's message in b->lw.
 */
static int encapsulate(struct builder *b, const struct conn *c, const struct seg *sg,
                       const struct wbuf *p, struct wbuf *out)
{
    static const uint16_t gre_flags[FSC_FORGE_ENCAP__COUNT] = {
        [FSC_FORGE_ENCAP_GRE] = GRE_CSUM | GRE_KEY | GRE_SEQ,
        [FSC_FORGE_ENCAP_GRETAP] = GRE_KEY,
        [FSC_FORGE_ENCAP_ERSPAN2] = GRE_SEQ,
        [FSC_FORGE_ENCAP_ERSPAN3] = GRE_SEQ,
    };
    struct wbuf eth, t;
    const struct wbuf *inner = p;
    uint16_t et_in = ethertype_of(p), gre_type = et_in;
    uint8_t proto = IPPROTO_GRE;
    uint32_t len;
    int e = b->o.encap;

    if (encap_carries_eth(e)) {
        if (build_eth(b, c, sg->from, b->o.inner_vlan, p) < 0 || lw_take(b, &eth) < 0)
            return -1;
        inner = &eth;
    }
    tunnel_header(b, sg, et_in, &t);
    memcpy(t.b + t.n, inner->b, inner->n);
    t.n += inner->n;
    switch (e) {
    case FSC_FORGE_ENCAP_VXLAN:
    case FSC_FORGE_ENCAP_GENEVE:
    case FSC_FORGE_ENCAP_GENEVE_IP: {
        /* The source port is a hash of the inner flow (RFC 7348 section 5, RFC 8926 3.3). */
        uint16_t sport = (uint16_t)(49152 + ((c->ep[C].port ^ c->ep[S].port) & 0x3fff));
        uint16_t dport = e == FSC_FORGE_ENCAP_VXLAN ? 4789 : 6081;
        if (libnet_build_udp(sport, dport, (uint16_t)(LIBNET_UDP_H + t.n), 0, t.b, t.n, b->lw, 0) ==
            -1)
            return -1;
        proto = IPPROTO_UDP;
        len = LIBNET_UDP_H + t.n;
        break;
    }
    case FSC_FORGE_ENCAP_IPIP:
        if (libnet_build_data(t.b, t.n, b->lw, 0) == -1)
            return -1;
        proto = et_in == ETHERTYPE_IPV6 ? IPPROTO_IPV6 : IPPROTO_IPIP;
        len = t.n;
        break;
    default: /* GRE (RFC 2784/2890); libnet computes its checksum */
        if (e == FSC_FORGE_ENCAP_GRETAP)
            gre_type = 0x6558;
        else if (e == FSC_FORGE_ENCAP_ERSPAN1 || e == FSC_FORGE_ENCAP_ERSPAN2)
            gre_type = 0x88be;
        else if (e == FSC_FORGE_ENCAP_ERSPAN3)
            gre_type = 0x22eb;
        len = libnet_getgre_length(gre_flags[e]) + t.n;
        if (libnet_build_gre(gre_flags[e], gre_type, 0, 0, WRAP_GRE_KEY, b->gre_seqno++,
                             (uint16_t)len, t.b, t.n, b->lw, 0) == -1)
            return -1;
        break;
    }
    /* The client's tunnel endpoint is .1, the server's .2. */
    uint8_t ends[2][16] = {{0}};
    if (b->o.outer_ipv6) {
        for (int i = 0; i < 2; i++) {
            ends[i][0] = 0xfd;
            ends[i][15] = (uint8_t)(i + 1);
        }
        struct libnet_in6_addr src, dst;
        memcpy(&src, ends[sg->from], 16);
        memcpy(&dst, ends[!sg->from], 16);
        if (libnet_build_ipv6(0, 0, (uint16_t)len, proto, 64, src, dst, NULL, 0, b->lw, 0) == -1)
            return -1;
    } else {
        uint32_t src, dst;
        for (int i = 0; i < 2; i++) {
            ends[i][0] = 10;
            ends[i][3] = (uint8_t)(i + 1);
        }
        memcpy(&src, ends[sg->from], 4);
        memcpy(&dst, ends[!sg->from], 4);
        /* DF clear: the outer datagram may be fragmented on the way (and by --fragment). */
        if (libnet_build_ipv4((uint16_t)(LIBNET_IPV4_H + len), 0, b->outer_ip_id++, 0, 64, proto, 0,
                              src, dst, NULL, 0, b->lw, 0) == -1)
            return -1;
    }
    return lw_take(b, out);
}

/* A wrap_sink: encapsulate p, then write the outer datagram (fragmented unless p was). */
static int sink_encap(struct builder *b, const struct conn *c, const struct seg *sg,
                      const struct wbuf *p, char *err, size_t errlen)
{
    struct wbuf outer;

    if (encapsulate(b, c, sg, p, &outer) < 0)
        return lw_fail(b, err, errlen);
    if (b->o.fragment_inner)
        return write_link(b, c, sg, &outer, err, errlen);
    return fragment(b, c, sg, &outer, write_link, err, errlen);
}

/* Segment sg through the tunnel and fragments the options ask for. */
static int build_wrapped(struct builder *b, struct conn *c, const struct seg *sg, char *err,
                         size_t errlen)
{
    struct wbuf ip;
    libnet_ptag_t tcp = 0, iph = 0;
    /* A datagram that will be fragmented cannot say Don't Fragment. */
    bool df = b->o.encap != FSC_FORGE_ENCAP_NONE && !b->o.fragment_inner;

    if (build_tcp_ip(b, b->lw, c, sg, df, &tcp, &iph) < 0 || lw_take(b, &ip) < 0)
        return lw_fail(b, err, errlen);
    if (b->o.encap == FSC_FORGE_ENCAP_NONE)
        return fragment(b, c, sg, &ip, write_link, err, errlen);
    if (b->o.fragment_inner)
        return fragment(b, c, sg, &ip, sink_encap, err, errlen);
    return sink_encap(b, c, sg, &ip, err, errlen);
}

/* Build segment sg of connection c with libnet (checksums by libnet) and write it. */
static int build_frame(struct builder *b, struct conn *c, const struct seg *sg, char *err,
                       size_t errlen)
{
    const int from = sg->from, to = !sg->from;
    const uint16_t et = b->o.ipv6 ? ETHERTYPE_IPV6 : ETHERTYPE_IP;
    uint8_t *frame;
    uint32_t len;

    if (wrapped(&b->o))
        return build_wrapped(b, c, sg, err, errlen);
    if (build_tcp_ip(b, b->l, c, sg, true, &b->tcp, &b->ip) < 0)
        goto fail;
    if (b->o.sll) {
        uint8_t sll[16];
        sll_header(sll, from, c->ep[from].mac, et);
        b->link = libnet_build_data(sll, sizeof sll, b->l, b->link);
    } else if (b->o.vlan) {
        b->link = libnet_build_802_1q(c->ep[to].mac, c->ep[from].mac, ETHERTYPE_VLAN, 0, 0,
                                      (uint16_t)b->o.vlan, et, NULL, 0, b->l, b->link);
    } else {
        b->link = libnet_build_ethernet(c->ep[to].mac, c->ep[from].mac, et, NULL, 0, b->l, b->link);
    }
    if (b->link == -1)
        goto fail;
    if (libnet_pblock_coalesce(b->l, &frame, &len) != 1)
        goto fail;
    fsc_pcap_writer_write(b->w, sg->ts, frame, len);
    libnet_adv_free_packet(b->l, frame);
    b->frames++;
    b->bytes += len;
    return 0;
fail:
    snprintf(err, errlen, "libnet: %s", libnet_geterror(b->l));
    return -1;
}

/* ---- expected results ---- */

static FILE *expected_open(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    fputs(FSC_FORGE_TSV_HEADER "\n", f);
    return f;
}

/* One row of the expected TSV; one_side (fsc_forge_opts) picks the view and zeroes the counters
 * of the side that was not captured. */
static void expected_row(FILE *f, const struct row *r, int one_side)
{
    const struct expect *e = one_side ? &r->part->one[one_side - 1] : r->exp;
    bool c = one_side != FSC_FORGE_SERVER_ONLY, s = one_side != FSC_FORGE_CLIENT_ONLY;
    fprintf(f, "%s\t%s\t%s\t%s\t%s\t%s\t%u\t%u\t%u\t%s\t%s\t%s\t%llu\t%llu\t%llu\t%llu\n",
            e->handshake, e->close_kind, e->rst_cause, e->closer, e->client_state, e->server_state,
            e->half_close_bytes, e->fin_retrans, e->rst_after_close, e->rst_cause_proven,
            e->closer_call, e->anomalies, (unsigned long long)(c ? r->pkts[C] : 0),
            (unsigned long long)(s ? r->pkts[S] : 0), (unsigned long long)(c ? r->bytes[C] : 0),
            (unsigned long long)(s ? r->bytes[S] : 0));
}

static int expected_close(FILE *f, const char *path, char *err, size_t errlen, int rc)
{
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0)
        bad = true;
    if (bad && rc == 0) {
        snprintf(err, errlen, "%s: write failed", path);
        rc = -1;
    }
    return rc;
}

/* ---- one scenario ---- */

static void set_v4(uint8_t *a, uint32_t host_order)
{
    memset(a, 0, 16);
    a[0] = (uint8_t)(host_order >> 24);
    a[1] = (uint8_t)(host_order >> 16);
    a[2] = (uint8_t)(host_order >> 8);
    a[3] = (uint8_t)host_order;
}

/* 2001:db8:<net>::<host> */
static void set_v6(uint8_t *a, uint16_t net, uint32_t host)
{
    memset(a, 0, 16);
    a[0] = 0x20;
    a[1] = 0x01;
    a[2] = 0x0d;
    a[3] = 0xb8;
    a[4] = (uint8_t)(net >> 8);
    a[5] = (uint8_t)net;
    a[12] = (uint8_t)(host >> 24);
    a[13] = (uint8_t)(host >> 16);
    a[14] = (uint8_t)(host >> 8);
    a[15] = (uint8_t)host;
}

/* Server side of every forged connection: 192.0.2.2:80 / [2001:db8::2]:80. */
static void set_server(struct conn *c, bool ipv6)
{
    static const uint8_t mac_s[6] = {0x02, 0, 0, 0, 0, 0x02};
    if (ipv6)
        set_v6(c->ep[S].addr, 0, 2);
    else
        set_v4(c->ep[S].addr, 0xc0000202u);
    c->ep[S].port = FORGE_PORT_SERVER;
    memcpy(c->ep[S].mac, mac_s, 6);
    c->ep[S].ip_id = 0x4000;
}

static void set_client_mac(struct conn *c)
{
    static const uint8_t mac_c[6] = {0x02, 0, 0, 0, 0, 0x01};
    memcpy(c->ep[C].mac, mac_c, 6);
    c->ep[C].ip_id = 0x1000;
}

int fsc_forge_scenario(const char *name, const struct fsc_forge_opts *o, const char *pcap_path,
                       const char *expected_path, char *err, size_t errlen)
{
    const struct scenario *sc = find_scenario(name);
    struct conn c;
    struct builder b;
    FILE *ef;
    int rc = 0;

    int one_side = o ? o->one_side : 0;

    if (!sc) {
        snprintf(err, errlen, "unknown scenario '%s' (finscope forge --list)", name);
        return -1;
    }
    if (one_side && !fsc_forge_scenario_one_sided(name, one_side)) {
        snprintf(err, errlen, "scenario '%s' has no %s-only variant", name,
                 one_side == FSC_FORGE_CLIENT_ONLY ? "client" : "server");
        return -1;
    }
    memset(&c, 0, sizeof c);
    set_server(&c, o && o->ipv6);
    set_client_mac(&c);
    if (o && o->ipv6)
        set_v6(c.ep[C].addr, 0, 1);
    else
        set_v4(c.ep[C].addr, 0xc0000201u);
    c.ep[C].port = FORGE_PORT_CLIENT;
    if (sc->self_connect)
        c.ep[S] = c.ep[C];
    if (expand(sc, NULL, FORGE_T0, &c) < 0) {
        snprintf(err, errlen, "out of memory");
        free(c.seg);
        return -1;
    }
    if (builder_open(&b, o, pcap_path, err, errlen) < 0) {
        free(c.seg);
        return -1;
    }
    for (size_t i = 0; i < c.n_seg && rc == 0; i++) {
        /* A one-direction tap: only one endpoint's frames (a self-connected socket sends all). */
        int keep = one_side == FSC_FORGE_CLIENT_ONLY ? C : S;
        if (one_side && !sc->self_connect && c.seg[i].from != keep)
            continue;
        rc = build_frame(&b, &c, &c.seg[i], err, errlen);
    }
    rc = builder_close(&b, pcap_path, err, errlen, rc);
    if (rc == 0) {
        ef = expected_open(expected_path, err, errlen);
        if (!ef) {
            rc = -1;
        } else {
            for (int r = 0; r < c.n_rows; r++)
                expected_row(ef, &c.rows[r], one_side);
            rc = expected_close(ef, expected_path, err, errlen, rc);
        }
    }
    free(c.seg);
    return rc;
}

/* ---- the mix ---- */

/* Min-heap of open connections keyed by (time of next segment, creation order). */
struct heap {
    struct conn **a;
    size_t n, cap;
};

static bool conn_before(const struct conn *x, const struct conn *y)
{
    fsc_time tx = x->seg[x->next].ts, ty = y->seg[y->next].ts;
    return tx < ty || (tx == ty && x->order < y->order);
}

static int heap_push(struct heap *h, struct conn *c)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 1024;
        struct conn **n = realloc(h->a, cap * sizeof *n);
        if (!n)
            return -1;
        h->a = n;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!conn_before(c, h->a[up]))
            break;
        h->a[i] = h->a[up];
        i = up;
    }
    h->a[i] = c;
    return 0;
}

/* Restore the heap after the root's key grew (or the root was replaced). */
static void heap_down(struct heap *h)
{
    size_t i = 0;
    struct conn *c = h->a[0];
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        struct conn *best = c;
        if (l < h->n && conn_before(h->a[l], best)) {
            m = l;
            best = h->a[l];
        }
        if (l + 1 < h->n && conn_before(h->a[l + 1], best))
            m = l + 1;
        if (m == i)
            break;
        h->a[i] = h->a[m];
        i = m;
    }
    h->a[i] = c;
}

static void heap_pop(struct heap *h)
{
    if (--h->n > 0) {
        h->a[0] = h->a[h->n];
        heap_down(h);
    }
}

/* Draw a scenario by weight. */
static const struct scenario *pick_scenario(uint64_t *rng)
{
    unsigned total = 0, x;
    for (size_t i = 0; i < N_SCENARIOS; i++)
        total += scenarios[i].mix_weight;
    x = rng_range(rng, 0, total - 1);
    for (size_t i = 0; i < N_SCENARIOS; i++) {
        if (x < scenarios[i].mix_weight)
            return &scenarios[i];
        x -= scenarios[i].mix_weight;
    }
    return &scenarios[0];
}

/* 198.18.0.0/15 holds 131072 addresses; each further round of clients moves the port. */
#define MIX_V4_HOSTS 131070u
#define MIX_PORT_BASE 32768u
#define MIX_PORTS 28232u

/* Connection number i: a client address and port no other connection of the mix uses. */
static void set_mix_client(struct conn *c, uint64_t i, bool ipv6)
{
    if (ipv6) {
        set_v6(c->ep[C].addr, 1, (uint32_t)(i + 1));
        c->ep[C].port = (uint16_t)(MIX_PORT_BASE + (i >> 32) % MIX_PORTS + (i * 7919) % 1000);
    } else {
        uint32_t h = (uint32_t)(i % MIX_V4_HOSTS);
        uint64_t round = i / MIX_V4_HOSTS;
        set_v4(c->ep[C].addr, 0xc6120000u + 1 + h);
        c->ep[C].port = (uint16_t)(MIX_PORT_BASE + (round + (uint64_t)h * 7) % MIX_PORTS);
    }
}

static void conn_free(struct conn *c)
{
    if (c) {
        free(c->seg);
        free(c);
    }
}

int fsc_forge_mix(uint64_t flows, uint64_t seed, const struct fsc_forge_opts *o,
                  const char *pcap_path, const char *expected_path, char *err, size_t errlen)
{
    uint64_t rng = seed, created = 0;
    fsc_time next_start = FORGE_T0;
    struct heap h = {0};
    struct builder b;
    struct conn *spare = NULL; /* a finished connection, kept to reuse its buffer */
    FILE *ef;
    int rc = 0;
    bool ipv6 = o && o->ipv6;

    if (flows > (uint64_t)MIX_V4_HOSTS * MIX_PORTS) {
        snprintf(err, errlen, "at most %llu flows", (unsigned long long)MIX_V4_HOSTS * MIX_PORTS);
        return -1;
    }
    if (o && o->one_side) {
        snprintf(err, errlen, "a mix is always captured in both directions");
        return -1;
    }
    if (builder_open(&b, o, pcap_path, err, errlen) < 0)
        return -1;
    ef = expected_open(expected_path, err, errlen);
    if (!ef)
        return builder_close(&b, pcap_path, err, errlen, -1);

    while (rc == 0 && (created < flows || h.n > 0)) {
        /* Open every connection that starts before the next segment already due. */
        if (created < flows && (h.n == 0 || next_start <= h.a[0]->seg[h.a[0]->next].ts)) {
            struct conn *c = spare ? spare : calloc(1, sizeof *c);
            const struct scenario *sc;
            struct mix_var mv;

            spare = NULL;
            if (!c)
                goto oom;
            sc = pick_scenario(&rng);
            mv.rng = &rng;
            mv.isn_add[C] = (uint32_t)rng_next(&rng);
            mv.isn_add[S] = (uint32_t)rng_next(&rng);
            mv.time_scale = rng_range(&rng, 128, 512);
            c->order = created;
            set_server(c, ipv6);
            set_client_mac(c);
            set_mix_client(c, created, ipv6);
            c->ep[C].ip_id = (uint16_t)rng_next(&rng);
            c->ep[S].ip_id = (uint16_t)rng_next(&rng);
            if (sc->self_connect)
                c->ep[S] = c->ep[C];
            if (expand(sc, &mv, next_start, c) < 0 || heap_push(&h, c) < 0) {
                conn_free(c);
                goto oom;
            }
            created++;
            /* A new connection every 0.2-1.8 ms (1 ms on average). */
            next_start += rng_range(&rng, 200, 1800);
            continue;
        }
        struct conn *c = h.a[0];
        if (c->rows_done < c->n_rows && c->rows[c->rows_done].first_seg == c->next)
            expected_row(ef, &c->rows[c->rows_done++], 0);
        rc = build_frame(&b, c, &c->seg[c->next], err, errlen);
        if (++c->next < c->n_seg) {
            heap_down(&h);
        } else {
            heap_pop(&h);
            conn_free(spare);
            spare = c;
        }
    }
    goto done;
oom:
    snprintf(err, errlen, "out of memory");
    rc = -1;
done:
    conn_free(spare);
    for (size_t i = 0; i < h.n; i++)
        conn_free(h.a[i]);
    free(h.a);
    rc = expected_close(ef, expected_path, err, errlen, rc);
    return builder_close(&b, pcap_path, err, errlen, rc);
}
