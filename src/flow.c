/* flow.c - the flow table: finds each segment's connection instance, lingers, expires, evicts. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "finscope/flow.h"
#include "finscope/ports.h"
#include "finscope/siphash.h"

/*
 * Memory (issue 9): flows and their segment arrays come from slabs the table carves and keeps,
 * with free lists, so memory follows the most connections held at once, never the capture's
 * length, and the hot path allocates nothing once the slabs cover the peak.  A segment array
 * grows through fixed size classes (copying into the next class's chunk), never by realloc.
 */
struct free_obj {
    struct free_obj *next;
};

struct slab {
    struct slab *next;
    _Alignas(16) unsigned char mem[]; /* objects of one size */
};

/* Carve fresh objects when a free list runs dry: one malloc per SLAB_BYTES. */
#define SLAB_BYTES (64u * 1024)

/* Segment array capacities: the classes a flow's array passes through (a connection-heavy
 * capture's flows keep ~4-10 control segments; FSC_FLOW_MAX_SEGMENTS bounds them). */
static const uint32_t seg_class_cap[] = {4, 12, 32, FSC_FLOW_MAX_SEGMENTS};
#define SEG_CLASSES (sizeof seg_class_cap / sizeof seg_class_cap[0])

struct fsc_seg_pool {
    struct free_obj *free[SEG_CLASSES];
    struct slab *slabs;
    uint64_t *carved; /* the table's seg_pool_bytes */
};

/* The table's lists (flows active, flows closed, tails), least recently active first. */
struct dlist {
    struct fsc_flow_node *head, *tail;
};

/*
 * A tuple whose open flow was evicted (flow.h, "Eviction"): a marker until its continuation is
 * evicted too or refused a place; then its packets collect here, written as one row.
 */
struct tail {
    struct fsc_flow_node lru; /* first: a node is its tail */
    struct tail *hnext;
    uint32_t hash;
    uint32_t evictions;         /* open flows of this tuple evicted */
    uint64_t n;                 /* packets collected (0: a marker only) */
    fsc_time last_ts;           /* its eviction or its last packet */
    uint64_t pkts[2], bytes[2]; /* [0]: sent by first's source, [1]: by its destination */
    struct fsc_pkt first, last; /* first: the tuple (a marker: the evicted flow's) */
};

/* Tuples remembered per flow held (--max-flows): ~220 bytes each; a round robin over 4x as many
 * connections as flows is what 4 absorbs (fewer, and tuples are forgotten and thrash again). */
#define TAILS_PER_FLOW 4

struct fsc_flow_table {
    struct fsc_flow_limits lim;
    fsc_flow_sink sink;
    void *user;
    struct fsc_flow **buckets;
    uint32_t mask;
    struct dlist active, closed;
    struct free_obj *free_flows; /* recycled flows */
    struct slab *flow_slabs;
    struct fsc_seg_pool segs;
    struct fsc_flow_stats st;
    fsc_time now; /* capture clock for expiry (see advance_clock) */
    bool clock_set;
    unsigned jump_run;     /* frames in a row far ahead of now */
    uint32_t *opened;      /* [port]: connections opened (SYN seen) to that port; NULL until one */
    struct fsc_sipkey key; /* tuple_hash's secret, drawn per table */
    /* Evicted tuples (flow.h, "Eviction"): a hash of their own, grown like buckets. */
    struct tail **tbuckets;
    uint32_t tmask;
    struct dlist tails;
    uint64_t ntails;
    struct free_obj *free_tails;
    struct slab *tail_slabs;
};

#define INITIAL_BUCKETS (1u << 16)

static void list_unlink(struct dlist *l, struct fsc_flow_node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        l->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        l->tail = n->prev;
    n->prev = n->next = NULL;
}

static void list_append(struct dlist *l, struct fsc_flow_node *n)
{
    n->next = NULL;
    n->prev = l->tail;
    if (l->tail)
        l->tail->next = n;
    else
        l->head = n;
    l->tail = n;
}

static struct fsc_flow *flow_of(struct fsc_flow_node *n)
{
    return n ? (struct fsc_flow *)(void *)((char *)n - offsetof(struct fsc_flow, lru)) : NULL;
}

/* The least recently active flow or tail of a list; NULL when empty. */
static struct fsc_flow *oldest(const struct dlist *l)
{
    return flow_of(l->head);
}

static struct tail *oldest_tail(const struct dlist *l)
{
    return (struct tail *)(void *)l->head;
}

/* Push n objects of size bytes from a new slab onto *free; -1 when memory ran out.  *carved
 * counts the objects' bytes. */
static int slab_carve(struct slab **slabs, struct free_obj **free, size_t size, size_t n,
                      uint64_t *carved)
{
    struct slab *sl = malloc(sizeof *sl + size * n);
    if (!sl)
        return -1;
    *carved += size * n;
    sl->next = *slabs;
    *slabs = sl;
    for (size_t i = n; i-- > 0;) {
        struct free_obj *o = (struct free_obj *)(void *)(sl->mem + i * size);
        o->next = *free;
        *free = o;
    }
    return 0;
}

static void *slab_take(struct slab **slabs, struct free_obj **free, size_t size, uint64_t *carved)
{
    size_t n = SLAB_BYTES / size;
    if (!*free && slab_carve(slabs, free, size, n ? n : 1, carved) < 0)
        return NULL;
    struct free_obj *o = *free;
    *free = o->next;
    return o;
}

static void slab_put(struct free_obj **free, void *p)
{
    struct free_obj *o = p;
    o->next = *free;
    *free = o;
}

static void slabs_free(struct slab *sl)
{
    while (sl) {
        struct slab *next = sl->next;
        free(sl);
        sl = next;
    }
}

static size_t seg_class(uint32_t cap)
{
    size_t c = 0;
    while (c + 1 < SEG_CLASSES && seg_class_cap[c] < cap)
        c++;
    return c;
}

int fsc_flow_seg_grow(struct fsc_flow *f)
{
    uint32_t ncap;
    struct fsc_segment *arr;

    if (f->cap_seg >= FSC_FLOW_MAX_SEGMENTS)
        return -1;
    if (!f->seg_pool) { /* a flow outside a table (tests, fuzzers): the heap */
        ncap = f->cap_seg ? f->cap_seg * 2 : 8;
        if (ncap > FSC_FLOW_MAX_SEGMENTS)
            ncap = FSC_FLOW_MAX_SEGMENTS;
        if (!(arr = realloc(f->seg, ncap * sizeof *arr)))
            return -1;
    } else {
        struct fsc_seg_pool *pool = f->seg_pool;
        size_t c = f->cap_seg ? seg_class(f->cap_seg) + 1 : 0;
        ncap = seg_class_cap[c];
        if (!(arr = slab_take(&pool->slabs, &pool->free[c], ncap * sizeof *arr, pool->carved)))
            return -1;
        if (f->n_seg)
            memcpy(arr, f->seg, f->n_seg * sizeof *arr);
        if (f->seg)
            slab_put(&pool->free[seg_class(f->cap_seg)], f->seg);
    }
    f->seg = arr;
    f->cap_seg = ncap;
    return 0;
}

/* Give a flow's segment array back to the pool it came from. */
static void seg_release(struct fsc_flow *f)
{
    if (f->seg && f->seg_pool)
        slab_put(&f->seg_pool->free[seg_class(f->cap_seg)], f->seg);
    else
        free(f->seg);
    f->seg = NULL;
    f->n_seg = f->cap_seg = 0;
}

/*
 * Direction-independent and keyed: both directions of a connection land in one bucket, and
 * since the key is a secret drawn each run, nobody can craft tuples that share a bucket (with an
 * unkeyed hash 60,000 such SYNs took 70x the CPU time of ordinary ones).  The lower endpoint
 * (address, then port) goes first.  Output never depends on the key: no order comes from
 * buckets (emission follows the activity lists).
 */
static uint32_t tuple_hash(const struct fsc_flow_table *t, const struct fsc_pkt *p)
{
    uint8_t m[40] = {0};
    const struct fsc_addr *a = &p->src, *b = &p->dst;
    uint16_t pa = p->sport, pb = p->dport;
    int c = memcmp(a->b, b->b, sizeof a->b);

    if (c > 0 || (c == 0 && pa > pb)) {
        a = &p->dst, b = &p->src;
        pa = p->dport, pb = p->sport;
    }
    memcpy(m, a->b, 16);
    memcpy(m + 16, b->b, 16);
    memcpy(m + 32, &pa, 2);
    memcpy(m + 34, &pb, 2);
    m[36] = p->ip_version;
    return (uint32_t)fsc_siphash24(&t->key, m, sizeof m);
}

/* Whether p travels between a:ap and b:bp, either way, over IP version ipv. */
static bool same_tuple(uint8_t ipv, const struct fsc_addr *a, uint16_t ap, const struct fsc_addr *b,
                       uint16_t bp, const struct fsc_pkt *p)
{
    if (ipv != p->ip_version)
        return false;
    if (ap == p->sport && bp == p->dport && !memcmp(a, &p->src, 16) && !memcmp(b, &p->dst, 16))
        return true;
    return ap == p->dport && bp == p->sport && !memcmp(a, &p->dst, 16) && !memcmp(b, &p->src, 16);
}

static bool flow_matches(const struct fsc_flow *f, const struct fsc_pkt *p)
{
    const struct fsc_endpoint *c = &f->ep[FSC_CLIENT], *s = &f->ep[FSC_SERVER];
    return same_tuple(f->ip_version, &c->addr, c->port, &s->addr, s->port, p);
}

struct fsc_flow_table *fsc_flow_table_new(const struct fsc_flow_limits *lim, fsc_flow_sink sink,
                                          void *user)
{
    struct fsc_flow_table *t = calloc(1, sizeof *t);

    if (!t)
        return NULL;
    t->lim = *lim;
    t->sink = sink;
    t->user = user;
    t->buckets = calloc(INITIAL_BUCKETS, sizeof *t->buckets);
    if (!t->buckets) {
        free(t);
        return NULL;
    }
    t->mask = INITIAL_BUCKETS - 1;
    t->segs.carved = &t->st.seg_pool_bytes;
    fsc_sipkey_random(&t->key); /* the fallback key is weaker, never fatal */
    return t;
}

/* Double the bucket array when the average chain would exceed one flow. */
static void maybe_grow(struct fsc_flow_table *t)
{
    uint32_t n = t->mask + 1;
    if (t->st.active <= n || n >= (1u << 30))
        return;
    struct fsc_flow **nb = calloc((size_t)n * 2, sizeof *nb);
    if (!nb)
        return; /* keep working with longer chains */
    for (uint32_t i = 0; i < n; i++) {
        struct fsc_flow *f = t->buckets[i], *next;
        for (; f; f = next) {
            next = f->hnext;
            uint32_t b = f->hash & (n * 2 - 1);
            f->hnext = nb[b];
            nb[b] = f;
        }
    }
    free(t->buckets);
    t->buckets = nb;
    t->mask = n * 2 - 1;
}

static void hash_unlink(struct fsc_flow_table *t, struct fsc_flow *f)
{
    struct fsc_flow **pp = &t->buckets[f->hash & t->mask];
    while (*pp && *pp != f)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = f->hnext;
    f->hnext = NULL;
}

static uint32_t opened(const struct fsc_flow_table *t, uint16_t port)
{
    return t->opened ? t->opened[port] : 0;
}

/* A handshake names its server port: remember it for connections seen without one. */
static void note_opened(struct fsc_flow_table *t, const struct fsc_pkt *p)
{
    uint8_t syn = p->flags & (FSC_TH_SYN | FSC_TH_ACK | FSC_TH_RST);
    if (syn != FSC_TH_SYN && syn != (FSC_TH_SYN | FSC_TH_ACK))
        return;
    if (!t->opened && !(t->opened = calloc(65536, sizeof *t->opened)))
        return; /* only a hint: go on without it */
    uint16_t port = syn == FSC_TH_SYN ? p->dport : p->sport;
    if (t->opened[port] < UINT32_MAX)
        t->opened[port]++;
}

/* For a connection picked up midstream: which of p's endpoints is the server (see
 * fsc_tcp_flow_init). */
static int server_hint(const struct fsc_flow_table *t, const struct fsc_pkt *p)
{
    return fsc_port_pick_server(p->sport, p->dport, opened(t, p->sport), opened(t, p->dport));
}

/* The flow's two observers, neither inside the other: the Zeek model and the TCP model each
 * see every segment, and each ends when the flow is written (finish). */
static void observe(struct fsc_flow *f, const struct fsc_pkt *p)
{
    int dir = fsc_flow_dir(f, p);
    fsc_zeek_segment(&f->zeek, dir == FSC_CLIENT, p);
    fsc_tcp_segment(f, dir, p);
}

static void finish(struct fsc_flow *f, fsc_time end_ts)
{
    fsc_classify(f, end_ts);
    fsc_zeek_finish(&f->zeek);
}

/*
 * Roles the first packet could not settle.  Midstream: handshakes seen since the flow began may
 * say them the other way round.  A simultaneous open: both sides sent a bare SYN before
 * receiving the other's, and each tap sees its own side's SYN first, so "the first SYN" is not a
 * fact of the wire; the ports decide, the same at every tap.
 */
static void orient(struct fsc_flow_table *t, struct fsc_flow *f)
{
    uint16_t c = f->ep[FSC_CLIENT].port, s = f->ep[FSC_SERVER].port;

    if (f->self_connect)
        return;
    if ((f->midstream && fsc_port_pick_server(c, s, opened(t, c), opened(t, s)) == 0) ||
        (fsc_tcp_simultaneous_open(f) && fsc_port_pick_server(c, s, 0, 0) == 0)) {
        fsc_flow_swap_roles(f);
        fsc_zeek_swap_roles(&f->zeek);
    }
}

static struct fsc_flow *flow_take(struct fsc_flow_table *t)
{
    uint64_t bytes = 0;
    struct fsc_flow *f = slab_take(&t->flow_slabs, &t->free_flows, sizeof *f, &bytes);
    if (!f)
        return NULL;
    t->st.flows_pooled += bytes / sizeof *f;
    memset(f, 0, sizeof *f);
    f->seg_pool = &t->segs;
    return f;
}

static void flow_put(struct fsc_flow_table *t, struct fsc_flow *f)
{
    seg_release(f);
    fsc_zeek_release(&f->zeek);
    slab_put(&t->free_flows, f);
}

static struct tail *tail_find(const struct fsc_flow_table *t, const struct fsc_pkt *p, uint32_t h);
static void tail_drop(struct fsc_flow_table *t, struct tail *e);

/* A packet-shaped key for a flow's tuple (client as the source). */
static struct fsc_pkt flow_key(const struct fsc_flow *f, fsc_time ts)
{
    struct fsc_pkt k = {.ts = ts, .ip_version = f->ip_version};
    k.src = f->ep[FSC_CLIENT].addr;
    k.dst = f->ep[FSC_SERVER].addr;
    k.sport = f->ep[FSC_CLIENT].port;
    k.dport = f->ep[FSC_SERVER].port;
    return k;
}

/* Finalize, hand to the sink, and recycle the flow and its segment array. */
static void emit(struct fsc_flow_table *t, struct fsc_flow *f, fsc_time end_ts)
{
    hash_unlink(t, f);
    list_unlink(f->closed ? &t->closed : &t->active, &f->lru);
    t->st.active--;
    orient(t, f);
    /* The end of a flow is never before its last segment (a later packet stamped earlier). */
    finish(f, end_ts > f->last_ts ? end_ts : f->last_ts);
    t->sink(f, t->user);
    t->st.written++;
    /* Ended on its own (not evicted): a marker its tuple left earlier has served. */
    if (t->ntails && !(f->anomalies & FSC_AN_EVICTED)) {
        struct fsc_pkt k = flow_key(f, 0);
        struct tail *e = tail_find(t, &k, f->hash);
        if (e && !e->n)
            tail_drop(t, e);
    }
    flow_put(t, f);
}

/* ---- evicted tuples ---- */

static bool tail_matches(const struct tail *e, const struct fsc_pkt *p)
{
    const struct fsc_pkt *k = &e->first;
    return same_tuple(k->ip_version, &k->src, k->sport, &k->dst, k->dport, p);
}

static struct tail *tail_find(const struct fsc_flow_table *t, const struct fsc_pkt *p, uint32_t h)
{
    if (!t->ntails)
        return NULL;
    struct tail *e = t->tbuckets[h & t->tmask];
    while (e && (e->hash != h || !tail_matches(e, p)))
        e = e->hnext;
    return e;
}

/* Keep the tail list ordered by last activity. */
static void tail_touch(struct fsc_flow_table *t, struct tail *e, fsc_time ts)
{
    if (ts > e->last_ts)
        e->last_ts = ts;
    list_unlink(&t->tails, &e->lru);
    list_append(&t->tails, &e->lru);
}

/*
 * A row for a tail's packets: a midstream flow whose states are what its first packet shows,
 * with every packet counted and its time span, marked evicted.  Only the first packet is
 * analyzed: feeding the last one too would read the unanalyzed bytes between as capture loss
 * (gap bytes, ack_unseen_data).  Zeek's columns are NULL: its view of the packets between was
 * never computed.
 */
static void tail_write(struct fsc_flow_table *t, struct tail *e)
{
    struct fsc_flow *f = flow_take(t);
    if (!f)
        return; /* out of memory: the row is lost, as a packet would be */
    const struct fsc_pkt *first = &e->first;
    fsc_tcp_flow_init(f, first, (first->flags & FSC_TH_SYN) ? -1 : server_hint(t, first));
    observe(f, first);
    if (e->n > 1 && e->last.ts > f->last_ts)
        f->last_ts = e->last.ts;
    if (e->n > 1)
        f->last_packet = e->last.number;
    int d0 = fsc_flow_dir(f, first);
    for (int i = 0; i < 2; i++) {
        struct fsc_endpoint *x = &f->ep[f->self_connect ? FSC_CLIENT : (i ? 1 - d0 : d0)];
        x->pkts = f->self_connect ? e->pkts[0] + e->pkts[1] : e->pkts[i];
        x->bytes = f->self_connect ? e->bytes[0] + e->bytes[1] : e->bytes[i];
    }
    f->anomalies |= FSC_AN_EVICTED;
    orient(t, f);
    finish(f, f->last_ts);
    fsc_zeek_release(&f->zeek);
    t->sink(f, t->user);
    t->st.written++;
    t->st.tail_rows++;
    flow_put(t, f);
}

/* Write the row of the packets a tuple collected, and keep it remembered as a marker: should its
 * next flow be evicted again, its packets go straight back to a tail. */
static void tail_flush(struct fsc_flow_table *t, struct tail *e)
{
    if (!e->n)
        return;
    tail_write(t, e);
    e->n = 0;
    memset(e->pkts, 0, sizeof e->pkts);
    memset(e->bytes, 0, sizeof e->bytes);
}

/* Forget a tuple, writing its row first if it collected packets. */
static void tail_drop(struct fsc_flow_table *t, struct tail *e)
{
    tail_flush(t, e);
    struct tail **pp = &t->tbuckets[e->hash & t->tmask];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    list_unlink(&t->tails, &e->lru);
    t->ntails--;
    slab_put(&t->free_tails, e);
}

/* Double the tail buckets when the average chain would exceed one. */
static void tails_maybe_grow(struct fsc_flow_table *t)
{
    uint32_t n = t->tmask + 1;
    if (t->ntails <= n || n >= (1u << 30))
        return;
    struct tail **nb = calloc((size_t)n * 2, sizeof *nb);
    if (!nb)
        return;
    for (uint32_t i = 0; i < n; i++) {
        for (struct tail *e = t->tbuckets[i], *next; e; e = next) {
            next = e->hnext;
            e->hnext = nb[e->hash & (n * 2 - 1)];
            nb[e->hash & (n * 2 - 1)] = e;
        }
    }
    free(t->tbuckets);
    t->tbuckets = nb;
    t->tmask = n * 2 - 1;
}

/* Remember that f, open, is being evicted at ts; NULL when memory ran out (then no marker). */
static struct tail *tail_mark(struct fsc_flow_table *t, const struct fsc_flow *f, fsc_time ts)
{
    struct fsc_pkt k = flow_key(f, ts);
    struct tail *e = tail_find(t, &k, f->hash);
    if (e) {
        e->evictions++;
        tail_touch(t, e, ts);
        return e;
    }
    if (!t->tbuckets) {
        if (!(t->tbuckets = calloc(INITIAL_BUCKETS, sizeof *t->tbuckets)))
            return NULL;
        t->tmask = INITIAL_BUCKETS - 1;
    }
    if (t->ntails >= (uint64_t)t->lim.max_flows * TAILS_PER_FLOW)
        tail_drop(t, oldest_tail(&t->tails));
    uint64_t bytes = 0;
    if (!(e = slab_take(&t->tail_slabs, &t->free_tails, sizeof *e, &bytes)))
        return NULL;
    memset(e, 0, sizeof *e);
    e->first = k;
    e->hash = f->hash;
    e->evictions = 1;
    e->last_ts = ts;
    e->hnext = t->tbuckets[e->hash & t->tmask];
    t->tbuckets[e->hash & t->tmask] = e;
    list_append(&t->tails, &e->lru);
    t->ntails++;
    tails_maybe_grow(t);
    return e;
}

/* Collect one packet of a tuple that has no flow. */
static void tail_absorb(struct fsc_flow_table *t, struct tail *e, const struct fsc_pkt *p)
{
    if (!e->n)
        e->first = *p;
    e->last = *p;
    int d = !(p->sport == e->first.sport && !memcmp(&p->src, &e->first.src, 16));
    e->pkts[d]++;
    e->bytes[d] += p->payload_len;
    e->n++;
    t->st.tail_packets++;
    tail_touch(t, e, p->ts);
}

static void expire(struct fsc_flow_table *t, fsc_time now)
{
    struct fsc_flow *f;
    while ((f = oldest(&t->closed)) && now - f->last_ts >= t->lim.linger_us)
        emit(t, f, f->last_ts);
    while ((f = oldest(&t->active)) && now - f->last_ts >= t->lim.idle_us) {
        f->anomalies |= FSC_AN_IDLE;
        t->st.idled++;
        emit(t, f, f->last_ts + t->lim.idle_us);
    }
    struct tail *e;
    while ((e = oldest_tail(&t->tails)) && now - e->last_ts >= t->lim.idle_us)
        tail_drop(t, oldest_tail(&t->tails));
}

/*
 * Whether a packet of an evicted tuple (e) goes to its tail rather than to a flow of its own
 * (flow.h, "Eviction"): only while the table is full of open flows, and the tuple is thrashing
 * (its continuation was evicted too, or it collects already) or the flow to evict would be a
 * continuation as well.  A bare SYN always gets a flow: it starts a connection.
 */
static bool to_tail(const struct fsc_flow_table *t, const struct tail *e, const struct fsc_pkt *p)
{
    if ((p->flags & (FSC_TH_SYN | FSC_TH_ACK | FSC_TH_RST)) == FSC_TH_SYN)
        return false;
    if (t->st.active < t->lim.max_flows || !t->active.head)
        return false;
    return e->evictions >= 2 || e->n || oldest(&t->active)->continued;
}

/* continued: p's tuple was evicted before (a marker exists). */
static struct fsc_flow *new_flow(struct fsc_flow_table *t, const struct fsc_pkt *p, uint32_t h,
                                 bool continued)
{
    struct fsc_flow *f;

    if (t->st.active >= t->lim.max_flows) {
        /* Full: write out the least recently active flow, closed ones first. */
        struct fsc_flow *victim = t->closed.head ? oldest(&t->closed) : oldest(&t->active);
        if (victim) {
            if (!victim->closed) {
                victim->anomalies |= FSC_AN_EVICTED;
                tail_mark(t, victim, p->ts);
            }
            t->st.evicted++;
            emit(t, victim, p->ts);
        }
    }
    if (!(f = flow_take(t)))
        return NULL;
    f->continued = continued;
    note_opened(t, p);
    fsc_tcp_flow_init(f, p, (p->flags & FSC_TH_SYN) ? -1 : server_hint(t, p));
    f->hash = h;
    f->hnext = t->buckets[h & t->mask];
    t->buckets[h & t->mask] = f;
    list_append(&t->active, &f->lru);
    t->st.created++;
    if (++t->st.active > t->st.peak_active)
        t->st.peak_active = t->st.active;
    maybe_grow(t);
    return f;
}

/*
 * Whether a bare SYN starts a new connection instance on this tuple (DESIGN.md section 4): any
 * SYN once the connection is over (closed, reset, both FINs sent, TIME_WAIT), whatever its ISN;
 * before that, a SYN with a new ISN when the old attempt never got a SYN+ACK back or the flow
 * was picked up midstream.  A SYN with the old ISN is a retransmission, and the server's own
 * first SYN during a handshake is a simultaneous open.
 */
static bool starts_new_instance(const struct fsc_flow *f, const struct fsc_pkt *p)
{
    const struct fsc_endpoint *v = &f->ep[FSC_SERVER];

    uint8_t fl = p->flags & (FSC_TH_SYN | FSC_TH_ACK | FSC_TH_RST);
    bool over = fsc_flow_over(f);
    int dir = fsc_flow_dir(f, p);
    const struct fsc_endpoint *s = &f->ep[dir];

    /* A SYN+ACK with a new ISN once the connection is over answers a new SYN the tap did not
     * see (a one-direction tap sees only the server's side). */
    if (fl == (FSC_TH_SYN | FSC_TH_ACK))
        return over && s->synack_sent && p->seq != s->isn;
    if (fl != FSC_TH_SYN)
        return false;
    if (over)
        return true;
    if (s->syn_sent && p->seq == s->isn)
        return false;
    if (dir == FSC_SERVER && !s->syn_sent && !f->midstream)
        return false;
    return !v->synack_sent || f->midstream;
}

/*
 * Capture time for expiry.  One frame stamped far ahead (a clock glitch, a merged capture)
 * must not expire every connection, so a jump of more than TS_JUMP_US is believed only once
 * TS_JUMP_CONFIRM frames in a row carry it.  Time going back a little is ignored.
 */
#define TS_JUMP_US (600 * FSC_USEC_PER_SEC)
#define TS_JUMP_CONFIRM 8

static bool advance_clock(struct fsc_flow_table *t, fsc_time ts)
{
    if (!t->clock_set || ts - t->now <= TS_JUMP_US) {
        t->jump_run = 0;
        if (!t->clock_set || ts > t->now)
            t->now = ts;
        t->clock_set = true;
        return true;
    }
    if (++t->jump_run < TS_JUMP_CONFIRM)
        return false; /* not (yet) believed */
    t->jump_run = 0;
    t->now = ts;
    return true;
}

/*
 * Time within a flow never goes back (merged captures, multi-queue stamping): a segment stamped
 * before the flow's previous one is taken at that one's time, so no duration or dwell comes out
 * negative, and the flow says so.  Rare: the copy costs nothing on the common path.
 */
static __attribute__((noinline)) const struct fsc_pkt *
clamp_time(struct fsc_flow *f, const struct fsc_pkt *p, struct fsc_pkt *copy)
{
    *copy = *p;
    copy->ts = f->last_ts;
    f->anomalies |= FSC_AN_TS_BACK;
    return copy;
}

int fsc_flow_table_packet(struct fsc_flow_table *t, const struct fsc_pkt *p)
{
    uint32_t h = tuple_hash(t, p);
    struct fsc_flow *f;
    struct fsc_pkt clamped;
    bool believed = advance_clock(t, p->ts);

    /* Expire first: it may recycle flows, including ones in this packet's bucket. */
    expire(t, t->now);
    f = t->buckets[h & t->mask];
    while (f && (f->hash != h || !flow_matches(f, p)))
        f = f->hnext;
    if (f && starts_new_instance(f, p)) {
        t->st.port_reuse++;
        emit(t, f, p->ts);
        f = NULL;
    }
    if (!f) {
        struct tail *e = tail_find(t, p, h);
        if (e && to_tail(t, e, p)) {
            tail_absorb(t, e, p);
            return 0;
        }
        /* Room again, or a new connection: the tail's row ends here.  A new connection forgets
         * the old one's marker; a continuation keeps it (evicted again, it goes to the tail). */
        bool syn = e && (p->flags & (FSC_TH_SYN | FSC_TH_ACK | FSC_TH_RST)) == FSC_TH_SYN;
        if (syn)
            tail_drop(t, e);
        else if (e)
            tail_flush(t, e);
        if (syn)
            e = NULL;
        if (!(f = new_flow(t, p, h, e != NULL)))
            return -1;
    }

    bool was_closed = f->closed;
    if (!believed)
        f->anomalies |= FSC_AN_TS_JUMP;
    if (p->ts < f->last_ts)
        p = clamp_time(f, p, &clamped);
    observe(f, p);
    /* Keep each list ordered by last activity: move to the tail of the right one. */
    list_unlink(was_closed ? &t->closed : &t->active, &f->lru);
    list_append(f->closed ? &t->closed : &t->active, &f->lru);
    return 0;
}

void fsc_flow_table_expire(struct fsc_flow_table *t, fsc_time now)
{
    if (advance_clock(t, now))
        expire(t, t->now);
}

void fsc_flow_table_flush(struct fsc_flow_table *t, fsc_time end_ts)
{
    struct fsc_flow *f;
    while ((f = oldest(&t->closed)))
        emit(t, f, f->last_ts);
    while ((f = oldest(&t->active)))
        emit(t, f, end_ts);
    while (t->tails.head)
        tail_drop(t, oldest_tail(&t->tails));
}

void fsc_flow_table_foreach(const struct fsc_flow_table *t, fsc_flow_visit fn, void *user)
{
    const struct dlist *lists[2] = {&t->closed, &t->active};
    for (int i = 0; i < 2; i++)
        for (const struct fsc_flow *f = oldest(lists[i]); f; f = flow_of(f->lru.next))
            fn(f, user);
}

const struct fsc_flow_stats *fsc_flow_table_stats(const struct fsc_flow_table *t)
{
    return &t->st;
}

void fsc_flow_table_free(struct fsc_flow_table *t)
{
    if (!t)
        return;
    /* Flows still held (no flush): released unwritten. */
    struct dlist *lists[2] = {&t->active, &t->closed};
    for (int i = 0; i < 2; i++) {
        for (struct fsc_flow *f = oldest(lists[i]); f; f = flow_of(f->lru.next)) {
            fsc_seqset_clear(&f->ep[0].holes);
            fsc_seqset_clear(&f->ep[1].holes);
            fsc_zeek_release(&f->zeek);
        }
    }
    slabs_free(t->flow_slabs);
    slabs_free(t->tail_slabs);
    free(t->tbuckets);
    slabs_free(t->segs.slabs);
    free(t->buckets);
    free(t->opened);
    free(t);
}
