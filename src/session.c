/* session.c - one capture in progress: frames -> decode -> flow table -> rows, one transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "finscope/session.h"
#include "finscope/writer.h"

/* ---- TIME_WAIT of written connections (live): a min-heap of when each one ends ---- */

static bool tw_push(struct fsc_session *s, fsc_time end)
{
    if (s->tw_n == s->tw_cap) {
        size_t cap = s->tw_cap ? 2 * s->tw_cap : 1024;
        fsc_time *h = realloc(s->tw_heap, cap * sizeof *h);
        if (!h)
            return false;
        s->tw_heap = h;
        s->tw_cap = cap;
    }
    size_t i = s->tw_n++;
    for (; i > 0 && s->tw_heap[(i - 1) / 2] > end; i = (i - 1) / 2)
        s->tw_heap[i] = s->tw_heap[(i - 1) / 2];
    s->tw_heap[i] = end;
    return true;
}

/* Drop the TIME_WAITs that have ended by now. */
static void tw_expire(struct fsc_session *s, fsc_time now)
{
    while (s->tw_n > 0 && s->tw_heap[0] <= now) {
        fsc_time last = s->tw_heap[--s->tw_n];
        size_t i = 0;
        for (;;) {
            size_t c = 2 * i + 1;
            if (c >= s->tw_n)
                break;
            if (c + 1 < s->tw_n && s->tw_heap[c + 1] < s->tw_heap[c])
                c++;
            if (s->tw_heap[c] >= last)
                break;
            s->tw_heap[i] = s->tw_heap[c];
            i = c;
        }
        if (s->tw_n > 0)
            s->tw_heap[i] = last;
    }
}

/* Each endpoint's last transition, or -1: the state it is in (census.h's counting). */
static void last_steps(const struct fsc_transition *tr, uint32_t n, int last[2])
{
    last[0] = last[1] = -1;
    for (uint32_t k = 0; k < n; k++)
        last[tr[k].endpoint == FSC_SERVER] = (int)k;
}

static void write_flow(struct fsc_flow *f, void *user)
{
    struct fsc_session *s = user;

    if (s->failed)
        return;
    struct fsc_transition tr[FSC_FLOW_MAX_TRANSITIONS];
    uint32_t n = fsc_flow_transitions(f, tr);

    /* Written by the writer thread: f->id is not known here (nothing after this needs it). */
    if (fsc_writer_put(s->writer, f, tr, n, s->err, sizeof s->err) < 0) {
        s->failed = true;
        return;
    }
    s->ci.flows++;
    if (!s->track_time_wait)
        return;
    int last[2];
    last_steps(tr, n, last);
    for (int e = 0; e < 2; e++)
        if (last[e] >= 0 && tr[last[e]].to == FSC_TCP_TIME_WAIT &&
            !tw_push(s, tr[last[e]].ts + FSC_TIME_WAIT_DEFAULT_S * FSC_USEC_PER_SEC)) {
            snprintf(s->err, sizeof s->err, "out of memory counting TIME_WAIT");
            s->failed = true;
        }
}

struct snapshot {
    struct fsc_session *s;
    uint64_t *counts;
};

static void snapshot_flow(const struct fsc_flow *f, void *user)
{
    struct snapshot *sn = user;
    struct fsc_session *s = sn->s;
    struct fsc_transition tr[FSC_FLOW_MAX_TRANSITIONS];
    uint32_t n = fsc_flow_transitions(f, tr);
    int last[2];

    if (s->failed)
        return;
    if (fsc_store_held_flow(s->store, s->capture_id, f, tr, n, s->err, sizeof s->err) < 0) {
        s->failed = true;
        return;
    }
    last_steps(tr, n, last);
    for (int e = 0; e < 2; e++) {
        int k =
            last[e] < 0
                ? -1
                : fsc_census_state_index(fsc_tcp_state_name((enum fsc_tcp_state)tr[last[e]].to));
        if (k >= 0)
            sn->counts[k]++;
    }
}

int fsc_session_snapshot(struct fsc_session *s, fsc_time now, uint64_t counts[FSC_CENSUS_NSTATES])
{
    struct snapshot sn = {s, counts};

    memset(counts, 0, FSC_CENSUS_NSTATES * sizeof *counts);
    if (fsc_session_sync(s) < 0 ||
        fsc_store_held_clear(s->store, s->capture_id, s->err, sizeof s->err) < 0)
        return -1;
    fsc_flow_table_foreach(s->ft, snapshot_flow, &sn);
    tw_expire(s, now);
    counts[fsc_census_state_index("time_wait")] += s->tw_n;
    return s->failed ? -1 : 0;
}

/* FINSCOPE_WRITER_THREAD=0: flows are written on the analysis thread (session.h). */
static bool writer_thread(void)
{
    const char *v = getenv("FINSCOPE_WRITER_THREAD");

    return !v || strcmp(v, "0") != 0;
}

int fsc_session_sync(struct fsc_session *s)
{
    char err[sizeof s->err];

    if (!s->writer || fsc_writer_sync(s->writer, err, sizeof err) == 0)
        return s->failed ? -1 : 0;
    if (!s->failed) /* the first failure is the one to tell */
        memcpy(s->err, err, sizeof err);
    s->failed = true;
    return -1;
}

void fsc_session_lock_store(struct fsc_session *s)
{
    if (s->writer)
        fsc_writer_lock(s->writer);
}

void fsc_session_unlock_store(struct fsc_session *s)
{
    if (s->writer)
        fsc_writer_unlock(s->writer);
}

int fsc_session_begin(struct fsc_session *s, struct fsc_store *store, int64_t replace_id,
                      const struct fsc_flow_limits *lim)
{
    s->store = store;
    s->failed = false;
    s->said_full = false;
    s->max_flows = lim->max_flows;
    s->capture_id = fsc_store_begin_capture(store, &s->ci, replace_id, s->err, sizeof s->err);
    if (s->capture_id < 0)
        return -1;
    if (!(s->writer = fsc_writer_new(store, s->capture_id, writer_thread(), s->err, sizeof s->err)))
        return -1;
    if (!(s->ft = fsc_flow_table_new(lim, write_flow, s))) {
        snprintf(s->err, sizeof s->err, "out of memory for the flow table");
        return -1;
    }
    if (!(s->frag = fsc_ipfrag_new(NULL))) {
        snprintf(s->err, sizeof s->err, "out of memory for IP fragment reassembly");
        return -1;
    }
    s->frag_deadline = INT64_MAX;
    return 0;
}

/*
 * A frame that did not decode to a TCP segment at once (kept out of fsc_session_frame, so the
 * common case carries none of it): an IP fragment goes to the reassembler, anything else is
 * counted.  Returns FSC_SKIP_NONE when *pkt now holds a segment (a datagram this fragment
 * completed), anything else when the frame is counted or held.
 */
static __attribute__((noinline)) enum fsc_skip not_decoded(struct fsc_session *s,
                                                           const struct fsc_frame *fr,
                                                           enum fsc_skip why, struct fsc_pkt *pkt,
                                                           struct fsc_frag *frag)
{
    if (why == FSC_SKIP_IP_FRAGMENT) {
        bool held;
        why = fsc_ipfrag_take(s->frag, frag, fr->ts, s->ci.skipped, pkt, &held);
        s->frag_deadline = fsc_ipfrag_deadline(s->frag);
        if (held)
            return FSC_SKIP_IP_FRAGMENT; /* held, or counted by the reassembler */
        if (why == FSC_SKIP_NONE)
            return FSC_SKIP_NONE;
    }
    s->ci.skipped[why]++;
    return why;
}

/* Fragments whose datagram's timeout has run out by capture time now. */
static __attribute__((noinline)) void expire_fragments(struct fsc_session *s, fsc_time now)
{
    fsc_ipfrag_expire(s->frag, now, s->ci.skipped);
    s->frag_deadline = fsc_ipfrag_deadline(s->frag);
}

/* The first eviction: say so while it happens (a long run would otherwise only tell at the end). */
static __attribute__((noinline)) void say_full(struct fsc_session *s, uint64_t number)
{
    s->said_full = true;
    fprintf(stderr,
            "finscope: %s: at packet %llu, %u connections are held at once (--max-flows): from "
            "now on closed connections still lingering go first, then the longest idle open one is "
            "written early, marked 'evicted' (its later packets continue one row). Each held "
            "connection takes ~%d bytes; raise --max-flows if memory allows\n",
            s->ci.source ? s->ci.source : "capture", (unsigned long long)number, s->max_flows,
            FSC_FLOW_BYTES);
}

int fsc_session_frame(struct fsc_session *s, const struct fsc_frame *fr)
{
    struct fsc_pkt pkt;
    struct fsc_frag frag;
    enum fsc_skip why;

    s->ci.packets_read++;
    if (s->ci.packets_read == 1)
        s->ci.first_ts = fr->ts;
    if (fr->ts > s->ci.last_ts)
        s->ci.last_ts = fr->ts;
    if (fr->ts >= s->frag_deadline)
        expire_fragments(s, fr->ts);
    why = fr->filtered ? FSC_SKIP_FILTERED
                       : fsc_decode_frag(fr->dlt, fr->data, fr->caplen, &pkt, &frag);
    if (why != FSC_SKIP_NONE && not_decoded(s, fr, why, &pkt, &frag) != FSC_SKIP_NONE)
        return 0;
    pkt.ts = fr->ts;
    pkt.number = fr->number;
    s->ci.packets_tcp++;
    if (fsc_flow_table_packet(s->ft, &pkt) < 0) {
        snprintf(s->err, sizeof s->err, "out of memory at packet %llu",
                 (unsigned long long)pkt.number);
        s->failed = true;
    }
    if (__builtin_expect(!s->said_full && fsc_flow_table_stats(s->ft)->evicted > 0, 0))
        say_full(s, pkt.number);
    return s->failed ? -1 : 0;
}

int fsc_session_expire(struct fsc_session *s, fsc_time now)
{
    expire_fragments(s, now);
    fsc_flow_table_expire(s->ft, now);
    return s->failed ? -1 : 0;
}

int fsc_session_end(struct fsc_session *s, fsc_time end_ts)
{
    fsc_ipfrag_flush(s->frag, s->ci.skipped);
    s->frag_deadline = INT64_MAX;
    fsc_flow_table_flush(s->ft, end_ts);
    if (fsc_session_sync(s) < 0)
        return -1;
    s->ci.flows_evicted = fsc_flow_table_stats(s->ft)->evicted;
    return fsc_store_end_capture(s->store, s->capture_id, &s->ci, s->err, sizeof s->err);
}

void fsc_session_abort(struct fsc_session *s)
{
    fsc_writer_free(s->writer); /* stopped before the connection is used here */
    s->writer = NULL;
    if (s->capture_id > 0)
        fsc_store_abort_capture(s->store);
    fsc_session_free(s);
}

void fsc_session_free(struct fsc_session *s)
{
    fsc_writer_free(s->writer);
    s->writer = NULL;
    fsc_flow_table_free(s->ft);
    s->ft = NULL;
    fsc_ipfrag_free(s->frag);
    s->frag = NULL;
    free(s->tw_heap);
    s->tw_heap = NULL;
    s->tw_n = s->tw_cap = 0;
}
