/* seqset.c - sorted disjoint sequence ranges with an inline start and a capped heap array. */
#include <stdlib.h>
#include <string.h>

#include "finscope/seqset.h"

static uint64_t (*ranges(struct fsc_seqset *s))[2]
{
    return s->cap ? s->heap : s->in;
}

/* Room for one more range; false when the cap or memory says no. */
static bool reserve(struct fsc_seqset *s)
{
    uint32_t have = s->cap ? s->cap : FSC_SEQSET_INLINE;

    if (s->n < have)
        return true;
    if (have >= FSC_SEQSET_MAX)
        return false;
    uint32_t ncap = have * 4 > FSC_SEQSET_MAX ? FSC_SEQSET_MAX : have * 4;
    uint64_t(*p)[2] = s->cap ? realloc(s->heap, ncap * sizeof *p) : malloc(ncap * sizeof *p);
    if (!p)
        return false;
    if (!s->cap)
        memcpy(p, s->in, sizeof s->in);
    s->heap = p;
    s->cap = ncap;
    return true;
}

bool fsc_seqset_add_top(struct fsc_seqset *s, uint64_t lo, uint64_t hi)
{
    if (hi <= lo)
        return true;
    uint64_t(*r)[2] = ranges(s);
    if (s->n && r[s->n - 1][1] == lo) { /* adjoins the top range: widen it */
        r[s->n - 1][1] = hi;
        return true;
    }
    if (!reserve(s)) {
        s->capped = true;
        return false;
    }
    r = ranges(s);
    r[s->n][0] = lo;
    r[s->n][1] = hi;
    s->n++;
    return true;
}

/* Index of the first range whose end lies above off (n when none). */
static uint32_t first_above(uint64_t (*r)[2], uint32_t n, uint64_t off)
{
    uint32_t a = 0, b = n;

    while (a < b) {
        uint32_t m = a + (b - a) / 2;
        if (r[m][1] <= off)
            a = m + 1;
        else
            b = m;
    }
    return a;
}

uint64_t fsc_seqset_remove(struct fsc_seqset *s, uint64_t lo, uint64_t hi, uint64_t *dropped)
{
    uint64_t filled = 0;
    uint64_t(*r)[2] = ranges(s);
    uint32_t i = first_above(r, s->n, lo);

    while (i < s->n && r[i][0] < hi) {
        uint64_t a = lo > r[i][0] ? lo : r[i][0], b = hi < r[i][1] ? hi : r[i][1];
        filled += b - a;
        if (a == r[i][0] && b == r[i][1]) { /* the whole range: delete it */
            memmove(&r[i], &r[i + 1], (s->n - i - 1) * sizeof *r);
            s->n--;
            continue;
        }
        if (a == r[i][0]) {
            r[i][0] = b;
        } else if (b == r[i][1]) {
            r[i][1] = a;
        } else if (reserve(s)) { /* filled the middle: split in two */
            r = ranges(s);
            memmove(&r[i + 2], &r[i + 1], (s->n - i - 1) * sizeof *r);
            r[i + 1][0] = b;
            r[i + 1][1] = r[i][1];
            r[i][1] = a;
            s->n++;
        } else {
            s->capped = true;
            *dropped += r[i][1] - b;
            r[i][1] = a;
        }
        i++;
    }
    return filled;
}

uint64_t fsc_seqset_total(const struct fsc_seqset *s)
{
    uint64_t t = 0;

    for (uint32_t i = 0; i < s->n; i++)
        t += s->cap ? s->heap[i][1] - s->heap[i][0] : s->in[i][1] - s->in[i][0];
    return t;
}

void fsc_seqset_clear(struct fsc_seqset *s)
{
    if (s->cap)
        free(s->heap);
    memset(s, 0, sizeof *s);
}
