/* siphash.c - SipHash-2-4 and its per-run secret (include/finscope/siphash.h). */
#include <errno.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "finscope/common.h"
#include "finscope/siphash.h"

/* The key is mixed with these "somepseudorandomlygeneratedbytes" (the paper's initialization). */
#define SIP_C0 0x736f6d6570736575ULL
#define SIP_C1 0x646f72616e646f6dULL
#define SIP_C2 0x6c7967656e657261ULL
#define SIP_C3 0x7465646279746573ULL

static inline uint64_t rotl(uint64_t x, unsigned b)
{
    return (x << b) | (x >> (64 - b));
}

/* Little-endian whatever the host: the paper defines the message words so. */
static inline uint64_t load_le(const uint8_t *p, size_t n)
{
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++)
        w |= (uint64_t)p[i] << (8 * i);
    return w;
}

struct sip_state {
    uint64_t v0, v1, v2, v3;
};

static inline void sip_round(struct sip_state *s)
{
    s->v0 += s->v1;
    s->v1 = rotl(s->v1, 13) ^ s->v0;
    s->v0 = rotl(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = rotl(s->v3, 16) ^ s->v2;
    s->v0 += s->v3;
    s->v3 = rotl(s->v3, 21) ^ s->v0;
    s->v2 += s->v1;
    s->v1 = rotl(s->v1, 17) ^ s->v2;
    s->v2 = rotl(s->v2, 32);
}

/* One message word: two compression rounds (the "2" of 2-4). */
static inline void sip_absorb(struct sip_state *s, uint64_t m)
{
    s->v3 ^= m;
    sip_round(s);
    sip_round(s);
    s->v0 ^= m;
}

uint64_t fsc_siphash24(const struct fsc_sipkey *key, const void *data, size_t len)
{
    const uint8_t *p = data;
    struct sip_state s = {key->k[0] ^ SIP_C0, key->k[1] ^ SIP_C1, key->k[0] ^ SIP_C2,
                          key->k[1] ^ SIP_C3};
    size_t whole = len & ~(size_t)7;

    for (size_t i = 0; i < whole; i += 8)
        sip_absorb(&s, load_le(p + i, 8));
    /* The last word: the bytes left over, and the length (mod 256) in its top byte. */
    sip_absorb(&s, load_le(p + whole, len - whole) | ((uint64_t)(len & 0xff) << 56));
    s.v2 ^= 0xff;
    for (int i = 0; i < 4; i++) /* four finalization rounds (the "4") */
        sip_round(&s);
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

int fsc_sipkey_random(struct fsc_sipkey *key)
{
    uint8_t *b = (uint8_t *)key->k;
    size_t got = 0;

    while (got < sizeof key->k) {
        /* Never block (early boot, entropy not yet initialized): the fallback below serves. */
        ssize_t n = getrandom(b + got, sizeof key->k - got, GRND_NONBLOCK);
        if (n > 0)
            got += (size_t)n;
        else if (n < 0 && errno != EINTR)
            break;
    }
    if (got == sizeof key->k)
        return 0;
    /* No kernel randomness (a sandbox without the syscall): still a different key each run. */
    struct timespec ts = {0, 0};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    key->k[0] = fsc_mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)getpid());
    key->k[1] = fsc_mix64(key->k[0] ^ (uint64_t)(uintptr_t)key ^ (uint64_t)(uintptr_t)&ts);
    return -1;
}
