/* finscope/ipfrag.h - IPv4 and IPv6 fragment reassembly: bounded memory, capture-time timeouts. */
#ifndef FINSCOPE_IPFRAG_H
#define FINSCOPE_IPFRAG_H

#include "finscope/decode.h"

/*
 * Every byte the reassembler will ever use is allocated by fsc_ipfrag_new; taking a fragment
 * allocates nothing.  Fragments are held in blocks of FSC_IPFRAG_BLOCK bytes, so max_bytes counts
 * what a fragment really occupies (a 8-byte fragment takes a whole block).
 */
#define FSC_IPFRAG_BLOCK 512

/* Capture time a datagram may take to complete, from its first fragment to arrive. */
#define FSC_IPFRAG_TIMEOUT_V4 (30 * FSC_USEC_PER_SEC) /* Linux net.ipv4.ipfrag_time */
#define FSC_IPFRAG_TIMEOUT_V6 (60 * FSC_USEC_PER_SEC) /* RFC 8200 section 4.5, ip6frag_time */

struct fsc_ipfrag_limits {
    uint32_t max_datagrams; /* datagrams in progress (and dropped ones remembered), 0: 1024 */
    uint32_t max_bytes;     /* bytes of fragments held, in whole blocks; 0: 4 MiB */
    uint32_t max_frags;     /* fragments of one datagram, 0: 128 (64 KiB in 512-byte pieces) */
    fsc_time timeout_v4;    /* 0: FSC_IPFRAG_TIMEOUT_V4 */
    fsc_time timeout_v6;    /* 0: FSC_IPFRAG_TIMEOUT_V6 */
};

struct fsc_ipfrag;

/* A datagram a fragment completed: valid until the next call on the reassembler. */
struct fsc_ipfrag_datagram {
    const uint8_t *data; /* a minimal IP header (no options or extension headers) + payload */
    uint32_t caplen;     /* the header and the payload up to the first byte not captured */
    uint8_t ip_version;  /* 4 or 6 */
    uint8_t depth;       /* tunnel layers outside it, as in struct fsc_frag */
    uint8_t quirks;      /* quirks of the layers outside it (from the completing fragment) */
};

/* A reassembler with lim (NULL: every default).  NULL when out of memory. */
struct fsc_ipfrag *fsc_ipfrag_new(const struct fsc_ipfrag_limits *lim);

/* Free it and every fragment it holds (NULL is fine). */
void fsc_ipfrag_free(struct fsc_ipfrag *rf);

/*
 * Take the fragment fr (from fsc_decode_frag or fsc_decode_datagram; its bytes are copied) that
 * arrived at capture time now, in the frame being counted.  Datagrams are told apart by source,
 * destination, identification, tunnel depth and, for IPv4, protocol (RFC 791 section 3.2, RFC
 * 8200 section 4.5).  Every frame ends up counted exactly once in skipped[] (indexed by enum
 * fsc_skip) as its fate becomes known:
 *   - returns 1: fr completed its datagram, *dg describes it and the caller decodes it in place
 *     of the frame; the other frames of the datagram are counted FSC_SKIP_FRAG_REASSEMBLED;
 *   - returns 0: the frame is held (counted later: reassembled, timeout or incomplete), or was
 *     counted now: FSC_SKIP_FRAG_BAD (a fragment impossible on its own: empty, a non-last one
 *     not a multiple of 8 bytes, or past 65,535 bytes), FSC_SKIP_FRAG_OVERLAP (it overlaps a
 *     fragment held with different bytes or ends the datagram twice: the whole datagram is
 *     dropped, RFC 5722, and later fragments of it too until its timeout), or
 *     FSC_SKIP_FRAG_TOO_MANY (datagram cap, byte cap or the datagram's fragment cap reached:
 *     the datagram is dropped whole, likewise).  An exact copy of a fragment held is tolerated
 *     and its frame shares the datagram's fate.
 * Also expires datagrams older than their timeout at now (fsc_ipfrag_expire).
 */
int fsc_ipfrag_add(struct fsc_ipfrag *rf, const struct fsc_frag *fr, fsc_time now,
                   uint64_t *skipped, struct fsc_ipfrag_datagram *dg);

/*
 * What the session does with a fragment: fsc_ipfrag_add, and when that completes a datagram,
 * fsc_decode_datagram into *pkt.  A reassembled datagram may carry a tunnel whose inner packet is
 * a fragment again (fr is then overwritten with it and taken in turn); each round goes one layer
 * deeper, so at most FSC_MAX_TUNNEL_DEPTH + 1 rounds are made.  Returns the frame's skip reason
 * (FSC_SKIP_NONE: *pkt holds the segment), or FSC_SKIP_NONE with *held set when the frame was
 * held or counted in skipped[] by the reassembler (the caller counts nothing).
 */
enum fsc_skip fsc_ipfrag_take(struct fsc_ipfrag *rf, struct fsc_frag *fr, fsc_time now,
                              uint64_t *skipped, struct fsc_pkt *pkt, bool *held);

/*
 * Abandon the datagrams whose timeout has run out by now (first fragment's time + timeout <= now);
 * their frames are counted FSC_SKIP_FRAG_TIMEOUT.
 */
void fsc_ipfrag_expire(struct fsc_ipfrag *rf, fsc_time now, uint64_t *skipped);

/*
 * Capture time at which fsc_ipfrag_expire has something to do (INT64_MAX when nothing is held),
 * so a caller can skip the call on every frame.
 */
fsc_time fsc_ipfrag_deadline(const struct fsc_ipfrag *rf);

/* The input ended: every datagram still in progress is abandoned, FSC_SKIP_FRAG_INCOMPLETE. */
void fsc_ipfrag_flush(struct fsc_ipfrag *rf, uint64_t *skipped);

/* What is held now. */
struct fsc_ipfrag_stats {
    uint32_t datagrams; /* in progress, plus dropped ones remembered until their timeout */
    uint64_t frames;    /* frames held, not yet counted in skipped[] */
    uint32_t bytes;     /* block bytes in use */
};

void fsc_ipfrag_stats(const struct fsc_ipfrag *rf, struct fsc_ipfrag_stats *st);

#endif
