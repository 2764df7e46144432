/* finscope/lifecycle.h - each endpoint's RFC 9293 states, derived from the facts tcpstate.c
 * records (lifecycle.c: the one home of the state rules). */
#ifndef FINSCOPE_LIFECYCLE_H
#define FINSCOPE_LIFECYCLE_H

#include "finscope/common.h"
#include "finscope/tcpstate.h"

struct fsc_flow; /* finscope/flow.h */

/* Whether RFC 9293 (figure 5 and the text of section 3.10) lets an endpoint go from -> to, or
 * finscope's documented extras do (docs/schema.md, "state edges"). */
bool fsc_tcp_edge_allowed(enum fsc_tcp_state from, enum fsc_tcp_state to);

/* One endpoint's states in order: step[i] is entered at its mark, with its evidence. */
#define FSC_PATH_MAX 12
struct fsc_path {
    uint8_t initial; /* enum fsc_tcp_state before the first step */
    uint8_t n;
    struct {
        struct fsc_mark at;
        uint8_t to, ev; /* enum fsc_tcp_state, enum fsc_evidence */
    } step[FSC_PATH_MAX];
};

/* Endpoint e's states from the flow's facts so far (an endpoint the tap never saw is inferred
 * from its peer's acks).  Valid at any time; what classify and the store use at the end.
 * Every step is an edge fsc_tcp_edge_allowed allows; steps never go back in frame number. */
void fsc_lifecycle_path(const struct fsc_flow *f, int e, struct fsc_path *out);

/* Both endpoints' facts as the rules read them: a copy of what was seen, or for an endpoint
 * the tap never saw (a one-sided capture), what its peer's acks prove it sent. */
void fsc_flow_view(const struct fsc_flow *f, struct fsc_endpoint view[2]);

/*
 * Whether endpoint e of view had received its peer o's FIN when it sent its own FIN: 1 yes
 * (*prior: an ack it sent before its FIN shows it, a four-way close), 0 no (or a FIN is
 * missing), -1 unknown (e was never captured and o's acks do not settle it).
 */
int fsc_lifecycle_second_closer(const struct fsc_endpoint view[2], int e, int o, bool *prior);

/* Whether endpoint e's states pass through state st. */
bool fsc_path_visits(const struct fsc_path *p, enum fsc_tcp_state st);

/* Recompute each endpoint's current state (ep[].state) and whether the flow is closed (both
 * endpoints done, a RST ended or may have ended it, or a one-sided close is complete): a
 * closed flow lingers in the table, then is written. */
void fsc_lifecycle_refresh(struct fsc_flow *f);

/* Both endpoints sent their FIN (a self-connected socket: its one FIN): what follows is the
 * teardown's tail (final ACKs, TIME_WAIT re-ACKs). */
bool fsc_flow_fins_sent(const struct fsc_flow *f);

/* The connection is over: closed (fsc_lifecycle_refresh), reset, both FINs sent, or an endpoint
 * in TIME_WAIT.  Nothing of it can open again: a SYN on its tuple starts a new connection
 * (DESIGN.md section 4, flow.c).  The one definition of "over"; "closed" (it lingers) and
 * "both FINs sent" (the teardown's tail) are the parts others ask for. */
bool fsc_flow_over(const struct fsc_flow *f);

/*
 * The flow's transitions, both endpoints merged in the order they happened (by frame number;
 * within one frame, causes before effects).  out must hold FSC_FLOW_MAX_TRANSITIONS.
 * Returns how many.
 */
uint32_t fsc_flow_transitions(const struct fsc_flow *f, struct fsc_transition *out);

#endif
