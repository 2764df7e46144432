/*
 * fuzz_decode.c - libFuzzer harness for fsc_decode, fsc_decode_frag and fsc_decode_datagram;
 * with -DFSC_FUZZ_REPLAY (and replay.c), a program that replays saved inputs.
 *
 * Long runs (clang):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
 *       tests/fuzz/fuzz_decode.c src/decode.c -o fuzz_decode
 *   ./fuzz_decode -max_total_time=300 NEW_DIR tests/fuzz/corpus/decode
 * (new inputs land in NEW_DIR; `-merge=1 tests/fuzz/corpus/decode NEW_DIR` keeps the ones that
 * add coverage.)
 */
#include "finscope/decode.h"

#include <stdlib.h>
#include <string.h>

/* Every link type fsc_decode supports; the first 2 input bytes pick one. */
static const int fuzz_dlts[] = {0, 1, 12, 14, 101, 108, 113, 228, 229, 276};
#define N_DLTS (sizeof(fuzz_dlts) / sizeof(fuzz_dlts[0]))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size - 2 > UINT32_MAX)
        return 0;
    int dlt = fuzz_dlts[((unsigned)data[0] << 8 | data[1]) % N_DLTS];
    uint32_t caplen = (uint32_t)(size - 2);

    /* An exact-size copy, so a read one past caplen is a heap overflow ASan reports. */
    uint8_t *frame = malloc(caplen ? caplen : 1);
    if (!frame)
        return 0;
    if (caplen)
        memcpy(frame, data + 2, caplen);

    struct fsc_pkt pkt;
    struct fsc_frag frag;
    memset(&pkt, 0xa5, sizeof(pkt));
    memset(&frag, 0xa5, sizeof(frag));
    pkt.ts = 17;
    pkt.number = 99;
    enum fsc_skip r = fsc_decode_frag(dlt, frame, caplen, &pkt, &frag);
    if (r == FSC_SKIP_IP_FRAGMENT) {
        /* The fragment lies inside the frame, no longer than it says, at a possible depth. */
        if (frag.caplen > frag.len || (frag.ip_version != 4 && frag.ip_version != 6) ||
            frag.depth > FSC_MAX_TUNNEL_DEPTH || frag.data < frame ||
            frag.data + frag.caplen > frame + caplen)
            abort();
        /* Decode its bytes as if they were a reassembled datagram of either version. */
        uint8_t *dg = malloc(frag.caplen ? frag.caplen : 1);
        if (!dg)
            abort();
        if (frag.caplen)
            memcpy(dg, frag.data, frag.caplen);
        struct fsc_pkt p2;
        struct fsc_frag f2;
        p2.ts = 3;
        p2.number = 4;
        enum fsc_skip r2 = fsc_decode_datagram(dg, frag.caplen, (frag.proto & 1) ? 6 : 4,
                                               frag.depth, frag.quirks, &p2, &f2);
        if ((unsigned)r2 >= FSC_SKIP__COUNT || p2.ts != 3 || p2.number != 4 ||
            (r2 == FSC_SKIP_NONE && !(p2.quirks & FSC_QUIRK_REASSEMBLED)) ||
            (r2 == FSC_SKIP_IP_FRAGMENT &&
             (f2.depth < frag.depth || f2.data < dg || f2.data + f2.caplen > dg + frag.caplen)))
            abort();
        free(dg);
    }
    free(frame);

    /* Invariants of the contract in decode.h. */
    if ((unsigned)r >= FSC_SKIP__COUNT || fsc_skip_name(r) == NULL)
        abort();
    if (pkt.ts != 17 || pkt.number != 99)
        abort();
    if (r == FSC_SKIP_NONE) {
        if (pkt.ip_version != 4 && pkt.ip_version != 6)
            abort();
        if (pkt.sport == 0 || pkt.dport == 0)
            abort();
        if (pkt.ip_version == 4) {
            static const uint8_t zero[12];
            if (memcmp(pkt.src.b + 4, zero, 12) != 0 || memcmp(pkt.dst.b + 4, zero, 12) != 0)
                abort();
        }
    }
    return 0;
}
