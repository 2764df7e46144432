/* finscope/siphash.h - SipHash-2-4, a keyed hash for tables fed by input an attacker chooses. */
#ifndef FINSCOPE_SIPHASH_H
#define FINSCOPE_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/* A 128-bit secret: k[0] and k[1] are the key's bytes 0-7 and 8-15 read little-endian. */
struct fsc_sipkey {
    uint64_t k[2];
};

/*
 * SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012) of len bytes at
 * data: without the key nobody can choose inputs that collide, so a hash table keyed with a
 * secret per run keeps its chains short whatever the input.
 */
uint64_t fsc_siphash24(const struct fsc_sipkey *key, const void *data, size_t len);

/* A fresh secret from getrandom(2); if the kernel has none to give, one mixed from the clock and
 * addresses (weaker, but the table still works).  Returns 0, or -1 when the fallback was used. */
int fsc_sipkey_random(struct fsc_sipkey *key);

#endif
