/* test_siphash.c - SipHash-2-4 against the paper's and the reference vectors, and its key. */
#include "finscope/siphash.h"

#include <string.h>

#include "unit_check.h"

/* The key 00 01 .. 0f, the one every published vector uses. */
static struct fsc_sipkey ref_key(void)
{
    uint8_t b[16];
    struct fsc_sipkey k;
    for (int i = 0; i < 16; i++)
        b[i] = (uint8_t)i;
    k.k[0] = k.k[1] = 0;
    for (int i = 0; i < 8; i++) {
        k.k[0] |= (uint64_t)b[i] << (8 * i);
        k.k[1] |= (uint64_t)b[8 + i] << (8 * i);
    }
    return k;
}

static void test_vectors(void)
{
    struct fsc_sipkey k = ref_key();
    uint8_t m[64];
    for (int i = 0; i < 64; i++)
        m[i] = (uint8_t)i;
    uint64_t h;

    /* Appendix A of the paper: the 15-byte message 00 .. 0e. */
    h = fsc_siphash24(&k, m, 15);
    check(h == 0xa129ca6149be45e5ULL, "paper vector", "got %016llx", (unsigned long long)h);
    /* The reference implementation's vectors.h, message lengths 0, 8 (a whole word and an
     * empty last block) and 7 (one partial word). */
    h = fsc_siphash24(&k, m, 0);
    check(h == 0x726fdb47dd0e0e31ULL, "empty message", "got %016llx", (unsigned long long)h);
    h = fsc_siphash24(&k, m, 8);
    check(h == 0x93f5f5799a932462ULL, "one word", "got %016llx", (unsigned long long)h);
    h = fsc_siphash24(&k, m, 7);
    check(h == 0xab0200f58b01d137ULL, "seven bytes", "got %016llx", (unsigned long long)h);
}

/* The key changes the hash; the length is hashed (a zero byte appended is a new message). */
static void test_key_and_length(void)
{
    struct fsc_sipkey k = ref_key(), k2 = k;
    uint8_t m[40] = {0};
    k2.k[1] ^= 1;
    check(fsc_siphash24(&k, m, 40) != fsc_siphash24(&k2, m, 40), "key bit", "same hash");
    check(fsc_siphash24(&k, m, 39) != fsc_siphash24(&k, m, 40), "length", "same hash");
}

/* Two draws differ (128 random bits: equal only if getrandom is broken). */
static void test_random_key(void)
{
    struct fsc_sipkey a, b;
    check(fsc_sipkey_random(&a) == 0, "getrandom", "fell back");
    fsc_sipkey_random(&b);
    check(memcmp(&a, &b, sizeof a) != 0, "two draws", "equal keys");
}

int main(void)
{
    test_vectors();
    test_key_and_length();
    test_random_key();
    printf("siphash: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
