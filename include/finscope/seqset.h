/* finscope/seqset.h - a bounded set of sequence ranges: the holes in one direction's stream. */
#ifndef FINSCOPE_SEQSET_H
#define FINSCOPE_SEQSET_H

#include "finscope/common.h"

/*
 * Ranges [lo, hi) of 64-bit stream offsets (sequence numbers unwrapped from the ISN), sorted,
 * disjoint.  The first FSC_SEQSET_INLINE ranges live in the struct, so a connection without
 * loss never allocates; more grow an array on the heap, up to FSC_SEQSET_MAX ranges.  Beyond
 * that a range is not held (the caller counts it at once) and `capped` is set.
 */
#define FSC_SEQSET_INLINE 2
#define FSC_SEQSET_MAX 4096

struct fsc_seqset {
    uint32_t n, cap; /* cap 0: the inline array is in use */
    bool capped;     /* a range was refused: counts built on the set are approximate */
    uint64_t (*heap)[2];
    uint64_t in[FSC_SEQSET_INLINE][2];
};

/*
 * Add [lo, hi), which must lie above every range held (holes open at the top of the stream).
 * Returns true when held, false when the cap (or memory) refused it (capped is then set).
 */
bool fsc_seqset_add_top(struct fsc_seqset *s, uint64_t lo, uint64_t hi);

/*
 * Remove [lo, hi) from the set (splitting a range if needed).  Returns how many of those
 * offsets were in the set.  A split the cap does not allow keeps the lower part, drops the
 * range above hi and adds its size to *dropped (set capped).
 */
uint64_t fsc_seqset_remove(struct fsc_seqset *s, uint64_t lo, uint64_t hi, uint64_t *dropped);

/* Total size of the ranges held. */
uint64_t fsc_seqset_total(const struct fsc_seqset *s);

/* Release the heap array (the set is then empty and may be reused). */
void fsc_seqset_clear(struct fsc_seqset *s);

#endif
