/*
 * ipfrag.c - IPv4 and IPv6 fragment reassembly (RFC 791 section 3.2, RFC 8200 section 4.5) from
 * pools allocated once, timed by capture time; overlapping fragments drop the datagram (RFC 5722).
 */
#include "finscope/ipfrag.h"
#include "finscope/siphash.h"

#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX

enum {
    DEF_MAX_DATAGRAMS = 1024,
    DEF_MAX_BYTES = 4 << 20,
    DEF_MAX_FRAGS = 128,
    LIMIT_MAX_DATAGRAMS = 1 << 20, /* keeps the hash table size in 32 bits */
    IP4_HDR_LEN = 20,              /* the header made for a reassembled IPv4 datagram */
    IP6_HDR_LEN = 40,
    IP_MAX_LEN = 65535, /* largest IPv4 total length and IPv6 payload length */
};

/* One fragment held: its place in the datagram and its captured bytes in a chain of blocks. */
struct piece {
    uint32_t offset, len; /* bytes, in the datagram's fragmentable part */
    uint32_t caplen;      /* bytes captured of it (a snaplen may have cut it), <= len */
    uint32_t block;       /* first block of the captured bytes, NIL when none */
    uint32_t next;        /* the next piece by offset, NIL at the end; or the free list */
};

/* One datagram in progress, or dropped and remembered until its timeout. */
struct dgram {
    struct fsc_addr src, dst;
    uint32_t id;
    uint8_t ip_version, proto, depth;
    bool dead;           /* dropped: its later fragments are dropped for the same reason */
    uint8_t dead_reason; /* enum fsc_skip, when dead */
    bool have_last;      /* the fragment without "more" arrived, so total is known */
    uint32_t total;      /* payload bytes of the datagram, once have_last */
    uint32_t covered;    /* bytes of all pieces; they never overlap, so complete = covered total */
    uint32_t max_end;    /* end of the furthest piece */
    uint32_t frames;     /* frames held: pieces and tolerated exact copies */
    uint32_t npieces;
    uint32_t pieces;     /* first piece by offset */
    fsc_time expires;    /* first fragment's time + the timeout of its IP version */
    uint32_t hnext;      /* hash chain; or the free list */
    uint32_t prev, next; /* age list of its IP version, oldest first */
};

struct fsc_ipfrag {
    struct fsc_ipfrag_limits lim;
    struct dgram *dg;
    uint32_t free_dg, ndg;
    uint32_t *bucket, bucket_mask;
    struct fsc_sipkey key;     /* drawn per table: senders cannot aim fragments at one chain */
    uint32_t head[2], tail[2]; /* age lists: [0] IPv4, [1] IPv6 (different timeouts) */
    struct piece *pc;
    uint32_t free_pc;
    uint8_t *blocks; /* nblocks * FSC_IPFRAG_BLOCK bytes */
    uint32_t *block_next;
    uint32_t free_block, nblocks, blocks_used;
    uint64_t held_frames;
    uint8_t *scratch; /* where a datagram is put together: header + 65,535 bytes */
};

struct fsc_ipfrag *fsc_ipfrag_new(const struct fsc_ipfrag_limits *lim)
{
    struct fsc_ipfrag *rf = calloc(1, sizeof *rf);
    if (!rf)
        return NULL;
    if (lim)
        rf->lim = *lim;
    if (rf->lim.max_datagrams == 0)
        rf->lim.max_datagrams = DEF_MAX_DATAGRAMS;
    if (rf->lim.max_datagrams > LIMIT_MAX_DATAGRAMS)
        rf->lim.max_datagrams = LIMIT_MAX_DATAGRAMS;
    if (rf->lim.max_bytes == 0)
        rf->lim.max_bytes = DEF_MAX_BYTES;
    if (rf->lim.max_frags == 0)
        rf->lim.max_frags = DEF_MAX_FRAGS;
    if (rf->lim.timeout_v4 <= 0)
        rf->lim.timeout_v4 = FSC_IPFRAG_TIMEOUT_V4;
    if (rf->lim.timeout_v6 <= 0)
        rf->lim.timeout_v6 = FSC_IPFRAG_TIMEOUT_V6;

    uint32_t nb = 1;
    while (nb < 2 * rf->lim.max_datagrams)
        nb <<= 1;
    rf->bucket_mask = nb - 1;
    fsc_sipkey_random(&rf->key);
    rf->nblocks = rf->lim.max_bytes / FSC_IPFRAG_BLOCK;
    if (rf->nblocks == 0)
        rf->nblocks = 1;
    /* malloc, not calloc: pages of the block pool that are never used are never touched. */
    rf->dg = malloc((size_t)rf->lim.max_datagrams * sizeof *rf->dg);
    rf->bucket = malloc((size_t)nb * sizeof *rf->bucket);
    rf->pc = malloc((size_t)rf->nblocks * sizeof *rf->pc); /* a piece holds >= 1 block... */
    rf->blocks = malloc((size_t)rf->nblocks * FSC_IPFRAG_BLOCK);
    rf->block_next = malloc((size_t)rf->nblocks * sizeof *rf->block_next);
    rf->scratch = malloc(IP6_HDR_LEN + IP_MAX_LEN);
    if (!rf->dg || !rf->bucket || !rf->pc || !rf->blocks || !rf->block_next || !rf->scratch) {
        fsc_ipfrag_free(rf);
        return NULL;
    }
    for (uint32_t i = 0; i < nb; i++)
        rf->bucket[i] = NIL;
    for (uint32_t i = 0; i < rf->lim.max_datagrams; i++)
        rf->dg[i].hnext = i + 1 < rf->lim.max_datagrams ? i + 1 : NIL;
    rf->free_dg = 0;
    /* ...except a piece cut to 0 captured bytes, so pieces are as many as blocks: too_many. */
    for (uint32_t i = 0; i < rf->nblocks; i++) {
        rf->pc[i].next = i + 1 < rf->nblocks ? i + 1 : NIL;
        rf->block_next[i] = i + 1 < rf->nblocks ? i + 1 : NIL;
    }
    rf->free_pc = rf->free_block = 0;
    rf->head[0] = rf->head[1] = rf->tail[0] = rf->tail[1] = NIL;
    return rf;
}

void fsc_ipfrag_free(struct fsc_ipfrag *rf)
{
    if (!rf)
        return;
    free(rf->dg);
    free(rf->bucket);
    free(rf->pc);
    free(rf->blocks);
    free(rf->block_next);
    free(rf->scratch);
    free(rf);
}

/* RFC 791 keys IPv4 reassembly on protocol too; IPv6 (RFC 8200) does not. */
static bool key_has_proto(int ip_version)
{
    return ip_version == 4;
}

/* Keyed (SipHash-2-4): the id, addresses and protocol are the sender's to choose. */
static uint32_t key_hash(const struct fsc_ipfrag *rf, const struct fsc_frag *fr)
{
    uint8_t k[8 + 2 * sizeof fr->src.b];
    uint64_t h = (uint64_t)fr->id | (uint64_t)fr->ip_version << 32 | (uint64_t)fr->depth << 40;
    if (key_has_proto(fr->ip_version))
        h |= (uint64_t)fr->proto << 48;
    memcpy(k, &h, 8);
    memcpy(k + 8, fr->src.b, sizeof fr->src.b);
    memcpy(k + 8 + sizeof fr->src.b, fr->dst.b, sizeof fr->dst.b);
    return (uint32_t)fsc_siphash24(&rf->key, k, sizeof k);
}

static bool key_equal(const struct dgram *d, const struct fsc_frag *fr)
{
    return d->id == fr->id && d->ip_version == fr->ip_version && d->depth == fr->depth &&
           (!key_has_proto(fr->ip_version) || d->proto == fr->proto) &&
           memcmp(&d->src, &fr->src, sizeof d->src) == 0 &&
           memcmp(&d->dst, &fr->dst, sizeof d->dst) == 0;
}

static int age_list(int ip_version)
{
    return ip_version == 4 ? 0 : 1;
}

/* Give back the pieces and blocks of d. */
static void release_pieces(struct fsc_ipfrag *rf, struct dgram *d)
{
    uint32_t p = d->pieces;
    while (p != NIL) {
        struct piece *pc = &rf->pc[p];
        uint32_t next = pc->next, b = pc->block;
        while (b != NIL) {
            uint32_t bn = rf->block_next[b];
            rf->block_next[b] = rf->free_block;
            rf->free_block = b;
            rf->blocks_used--;
            b = bn;
        }
        pc->next = rf->free_pc;
        rf->free_pc = p;
        p = next;
    }
    d->pieces = NIL;
    d->npieces = 0;
    rf->held_frames -= d->frames;
    d->frames = 0;
}

/* Forget datagram i entirely: out of the hash table and its age list, back to the free list. */
static void dgram_free(struct fsc_ipfrag *rf, uint32_t i, uint32_t hash)
{
    struct dgram *d = &rf->dg[i];
    uint32_t *link = &rf->bucket[hash & rf->bucket_mask];
    int l = age_list(d->ip_version);

    release_pieces(rf, d);
    while (*link != i && *link != NIL) /* always found: the hash is the one it was filed under */
        link = &rf->dg[*link].hnext;
    if (*link == i)
        *link = d->hnext;
    if (d->prev != NIL)
        rf->dg[d->prev].next = d->next;
    else
        rf->head[l] = d->next;
    if (d->next != NIL)
        rf->dg[d->next].prev = d->prev;
    else
        rf->tail[l] = d->prev;
    d->hnext = rf->free_dg;
    rf->free_dg = i;
    rf->ndg--;
}

/* The hash of a datagram held, as key_hash gave it for its fragments. */
static uint32_t dgram_hash(const struct fsc_ipfrag *rf, const struct dgram *d)
{
    struct fsc_frag k = {.src = d->src,
                         .dst = d->dst,
                         .id = d->id,
                         .ip_version = d->ip_version,
                         .proto = d->proto,
                         .depth = d->depth};
    return key_hash(rf, &k);
}

/*
 * Drop datagram d for reason: its frames held and the frame being taken are counted, its memory
 * is given back, and it stays, dead, until its timeout so its later fragments go the same way.
 */
static void dgram_kill(struct fsc_ipfrag *rf, struct dgram *d, enum fsc_skip reason,
                       uint64_t *skipped)
{
    skipped[reason] += (uint64_t)d->frames + 1;
    release_pieces(rf, d);
    d->dead = true;
    d->dead_reason = (uint8_t)reason;
}

fsc_time fsc_ipfrag_deadline(const struct fsc_ipfrag *rf)
{
    fsc_time t = INT64_MAX;
    for (int l = 0; l < 2; l++)
        if (rf->head[l] != NIL && rf->dg[rf->head[l]].expires < t)
            t = rf->dg[rf->head[l]].expires;
    return t;
}

/* Abandon the datagrams of each age list, oldest first, while test says so. */
static void abandon(struct fsc_ipfrag *rf, fsc_time now, bool all, enum fsc_skip reason,
                    uint64_t *skipped)
{
    for (int l = 0; l < 2; l++) {
        while (rf->head[l] != NIL && (all || rf->dg[rf->head[l]].expires <= now)) {
            uint32_t i = rf->head[l];
            struct dgram *d = &rf->dg[i];
            if (!d->dead)
                skipped[reason] += d->frames;
            dgram_free(rf, i, dgram_hash(rf, d));
        }
    }
}

void fsc_ipfrag_expire(struct fsc_ipfrag *rf, fsc_time now, uint64_t *skipped)
{
    abandon(rf, now, false, FSC_SKIP_FRAG_TIMEOUT, skipped);
}

void fsc_ipfrag_flush(struct fsc_ipfrag *rf, uint64_t *skipped)
{
    abandon(rf, 0, true, FSC_SKIP_FRAG_INCOMPLETE, skipped);
}

void fsc_ipfrag_stats(const struct fsc_ipfrag *rf, struct fsc_ipfrag_stats *st)
{
    st->datagrams = rf->ndg;
    st->frames = rf->held_frames;
    st->bytes = rf->blocks_used * FSC_IPFRAG_BLOCK;
}

/* A new datagram for fr, first fragment at now; NIL when every slot is taken. */
static uint32_t dgram_new(struct fsc_ipfrag *rf, const struct fsc_frag *fr, uint32_t hash,
                          fsc_time now)
{
    uint32_t i = rf->free_dg;
    if (i == NIL)
        return NIL;
    struct dgram *d = &rf->dg[i];
    int l = age_list(fr->ip_version);

    rf->free_dg = d->hnext;
    rf->ndg++;
    memset(d, 0, sizeof *d);
    d->src = fr->src;
    d->dst = fr->dst;
    d->id = fr->id;
    d->ip_version = fr->ip_version;
    d->proto = fr->proto;
    d->depth = fr->depth;
    d->pieces = NIL;
    d->expires = now + (fr->ip_version == 4 ? rf->lim.timeout_v4 : rf->lim.timeout_v6);
    d->hnext = rf->bucket[hash & rf->bucket_mask];
    rf->bucket[hash & rf->bucket_mask] = i;
    d->prev = rf->tail[l];
    d->next = NIL;
    if (d->prev != NIL)
        rf->dg[d->prev].next = i;
    else
        rf->head[l] = i;
    rf->tail[l] = i;
    return i;
}

/* Whether the bytes captured of both p and fr (the shorter capture) are the same. */
static bool same_bytes(const struct fsc_ipfrag *rf, const struct piece *p,
                       const struct fsc_frag *fr)
{
    uint32_t n = p->caplen < fr->caplen ? p->caplen : fr->caplen;
    uint32_t b = p->block;
    for (uint32_t off = 0; off < n; off += FSC_IPFRAG_BLOCK, b = rf->block_next[b]) {
        uint32_t k = n - off < FSC_IPFRAG_BLOCK ? n - off : FSC_IPFRAG_BLOCK;
        if (memcmp(rf->blocks + (size_t)b * FSC_IPFRAG_BLOCK, fr->data + off, k) != 0)
            return false;
    }
    return true;
}

/* Copy fr's captured bytes into a new piece (the caller checked there is room); its index. */
static uint32_t piece_new(struct fsc_ipfrag *rf, const struct fsc_frag *fr)
{
    uint32_t i = rf->free_pc;
    struct piece *p = &rf->pc[i];
    uint32_t *link = &p->block;

    rf->free_pc = p->next;
    p->offset = fr->offset;
    p->len = fr->len;
    p->caplen = fr->caplen;
    for (uint32_t off = 0; off < fr->caplen; off += FSC_IPFRAG_BLOCK) {
        uint32_t b = rf->free_block;
        uint32_t k = fr->caplen - off < FSC_IPFRAG_BLOCK ? fr->caplen - off : FSC_IPFRAG_BLOCK;
        rf->free_block = rf->block_next[b];
        rf->blocks_used++;
        memcpy(rf->blocks + (size_t)b * FSC_IPFRAG_BLOCK, fr->data + off, k);
        *link = b;
        link = &rf->block_next[b];
    }
    *link = NIL;
    return i;
}

static void put_be16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/*
 * Put complete datagram d together in the scratch buffer behind a minimal IP header: the
 * addresses, the protocol and the length; options and the unfragmentable extension headers were
 * read (and noted as quirks) when the fragments were decoded.
 */
static void gather(struct fsc_ipfrag *rf, const struct dgram *d, struct fsc_ipfrag_datagram *out)
{
    uint8_t *h = rf->scratch;
    uint32_t hlen, prefix = 0;
    bool cut = false;

    if (d->ip_version == 4) {
        hlen = IP4_HDR_LEN;
        memset(h, 0, hlen);
        h[0] = 0x45;
        put_be16(h + 2, hlen + d->total);
        put_be16(h + 4, d->id);
        h[8] = 64;
        h[9] = d->proto;
        memcpy(h + 12, d->src.b, 4);
        memcpy(h + 16, d->dst.b, 4);
    } else {
        hlen = IP6_HDR_LEN;
        memset(h, 0, hlen);
        h[0] = 0x60;
        put_be16(h + 4, d->total);
        h[6] = d->proto;
        h[7] = 64;
        memcpy(h + 8, d->src.b, 16);
        memcpy(h + 24, d->dst.b, 16);
    }
    /* The pieces are in order and leave no hole; a piece cut by the snaplen ends the capture. */
    for (uint32_t i = d->pieces; i != NIL && !cut; i = rf->pc[i].next) {
        const struct piece *p = &rf->pc[i];
        uint32_t b = p->block;
        for (uint32_t off = 0; off < p->caplen; off += FSC_IPFRAG_BLOCK, b = rf->block_next[b]) {
            uint32_t k = p->caplen - off < FSC_IPFRAG_BLOCK ? p->caplen - off : FSC_IPFRAG_BLOCK;
            memcpy(h + hlen + p->offset + off, rf->blocks + (size_t)b * FSC_IPFRAG_BLOCK, k);
        }
        prefix += p->caplen;
        cut = p->caplen < p->len;
    }
    out->data = h;
    out->caplen = hlen + prefix;
    out->ip_version = d->ip_version;
    out->depth = d->depth;
}

int fsc_ipfrag_add(struct fsc_ipfrag *rf, const struct fsc_frag *fr, fsc_time now,
                   uint64_t *skipped, struct fsc_ipfrag_datagram *dg)
{
    uint32_t end = fr->offset + fr->len; /* offset <= 65528 and len <= 65535: no overflow */
    uint32_t max = fr->ip_version == 4 ? IP_MAX_LEN - IP4_HDR_LEN : IP_MAX_LEN;

    if (now >= fsc_ipfrag_deadline(rf))
        fsc_ipfrag_expire(rf, now, skipped);
    /* RFC 791 and RFC 8200 section 4.5: all but the last carry a multiple of 8 bytes, and no
       datagram is longer than its length field can say. */
    if ((fr->ip_version != 4 && fr->ip_version != 6) || fr->len == 0 || end > max ||
        (fr->more && fr->len % 8 != 0) || fr->caplen > fr->len || (fr->caplen && !fr->data)) {
        skipped[FSC_SKIP_FRAG_BAD]++;
        return 0;
    }

    uint32_t hash = key_hash(rf, fr), i = rf->bucket[hash & rf->bucket_mask];
    while (i != NIL && !key_equal(&rf->dg[i], fr))
        i = rf->dg[i].hnext;
    if (i == NIL && (i = dgram_new(rf, fr, hash, now)) == NIL) {
        skipped[FSC_SKIP_FRAG_TOO_MANY]++; /* every slot taken: this fragment is lost */
        return 0;
    }
    struct dgram *d = &rf->dg[i];
    if (d->dead) {
        skipped[d->dead_reason]++;
        return 0;
    }
    /* A second end, or bytes past the end: the fragments contradict each other. */
    if (fr->more ? (d->have_last && end > d->total)
                 : ((d->have_last && end != d->total) || d->max_end > end)) {
        dgram_kill(rf, d, FSC_SKIP_FRAG_OVERLAP, skipped);
        return 0;
    }
    uint32_t prev = NIL, next = d->pieces;
    while (next != NIL && rf->pc[next].offset < fr->offset) {
        prev = next;
        next = rf->pc[next].next;
    }
    if (next != NIL && rf->pc[next].offset == fr->offset && rf->pc[next].len == fr->len) {
        if (!same_bytes(rf, &rf->pc[next], fr)) {
            dgram_kill(rf, d, FSC_SKIP_FRAG_OVERLAP, skipped); /* same place, other bytes */
            return 0;
        }
        d->frames++; /* an exact copy (a retransmission, a second tap): harmless */
        rf->held_frames++;
        return 0;
    }
    if ((prev != NIL && rf->pc[prev].offset + rf->pc[prev].len > fr->offset) ||
        (next != NIL && end > rf->pc[next].offset)) {
        dgram_kill(rf, d, FSC_SKIP_FRAG_OVERLAP, skipped);
        return 0;
    }
    uint32_t blocks = (fr->caplen + FSC_IPFRAG_BLOCK - 1) / FSC_IPFRAG_BLOCK;
    if (d->npieces >= rf->lim.max_frags || rf->free_pc == NIL ||
        blocks > rf->nblocks - rf->blocks_used) {
        dgram_kill(rf, d, FSC_SKIP_FRAG_TOO_MANY, skipped);
        return 0;
    }

    uint32_t p = piece_new(rf, fr);
    rf->pc[p].next = next;
    if (prev != NIL)
        rf->pc[prev].next = p;
    else
        d->pieces = p;
    d->npieces++;
    d->frames++;
    rf->held_frames++;
    d->covered += fr->len;
    if (end > d->max_end)
        d->max_end = end;
    if (fr->offset == 0)
        d->proto = fr->proto; /* IPv6: the next header that counts is the first fragment's */
    if (!fr->more) {
        d->have_last = true;
        d->total = end;
    }
    if (!d->have_last || d->covered != d->total)
        return 0;

    gather(rf, d, dg);
    dg->quirks = fr->quirks;
    skipped[FSC_SKIP_FRAG_REASSEMBLED] += d->frames - 1; /* the last one carries the datagram */
    dgram_free(rf, i, hash);
    return 1;
}

enum fsc_skip fsc_ipfrag_take(struct fsc_ipfrag *rf, struct fsc_frag *fr, fsc_time now,
                              uint64_t *skipped, struct fsc_pkt *pkt, bool *held)
{
    enum fsc_skip why = FSC_SKIP_IP_FRAGMENT;

    *held = false;
    for (int round = 0; round <= FSC_MAX_TUNNEL_DEPTH && why == FSC_SKIP_IP_FRAGMENT; round++) {
        struct fsc_ipfrag_datagram dg;
        if (fsc_ipfrag_add(rf, fr, now, skipped, &dg) == 0) {
            *held = true;
            return FSC_SKIP_NONE;
        }
        /* fr's bytes were copied by fsc_ipfrag_add: it may now point into the datagram. */
        why = fsc_decode_datagram(dg.data, dg.caplen, dg.ip_version, dg.depth, dg.quirks, pkt, fr);
    }
    return why == FSC_SKIP_IP_FRAGMENT ? FSC_SKIP_TUNNEL_TOO_DEEP : why;
}
