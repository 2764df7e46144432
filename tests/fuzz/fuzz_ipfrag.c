/*
 * fuzz_ipfrag.c - libFuzzer harness for IP fragment reassembly as the session drives it: a
 * sequence of frames, each decoded, its fragment taken (fsc_ipfrag_take), with small caps so
 * that every limit is hit.  With -DFSC_FUZZ_REPLAY (and replay.c), a replay program.
 *
 * Input: records of [link type index: 1 byte][capture time step, 1/8 s: 1 byte]
 * [frame length: 2 bytes, big-endian][frame].  A record cut short ends the input.
 *
 * Long runs (clang):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
 *       tests/fuzz/fuzz_ipfrag.c src/ipfrag.c src/decode.c -o fuzz_ipfrag
 *   ./fuzz_ipfrag -max_total_time=300 NEW_DIR tests/fuzz/corpus/ipfrag
 */
#include "finscope/ipfrag.h"

#include <stdlib.h>
#include <string.h>

static const int fuzz_dlts[] = {0, 1, 12, 14, 101, 108, 113, 228, 229, 276};
#define N_DLTS (sizeof(fuzz_dlts) / sizeof(fuzz_dlts[0]))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every frame taken is counted once: in tcp, in a skip reason, or still held. */
static void check_balance(const struct fsc_ipfrag *rf, uint64_t frames, uint64_t tcp,
                          const uint64_t *skipped)
{
    struct fsc_ipfrag_stats st;
    uint64_t sum = tcp;
    fsc_ipfrag_stats(rf, &st);
    for (int i = 0; i < FSC_SKIP__COUNT; i++)
        sum += skipped[i];
    if (sum + st.frames != frames || st.datagrams > 8 || st.bytes > 8 * FSC_IPFRAG_BLOCK)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct fsc_ipfrag_limits lim = {
        .max_datagrams = 8,
        .max_bytes = 8 * FSC_IPFRAG_BLOCK,
        .max_frags = 6,
        .timeout_v4 = 2 * FSC_USEC_PER_SEC,
        .timeout_v6 = 3 * FSC_USEC_PER_SEC,
    };
    struct fsc_ipfrag *rf = fsc_ipfrag_new(&lim);
    uint64_t skipped[FSC_SKIP__COUNT] = {0}, frames = 0, tcp = 0;
    fsc_time now = 0;
    size_t pos = 0;

    if (!rf)
        return 0;
    while (size - pos >= 4) {
        int dlt = fuzz_dlts[data[pos] % N_DLTS];
        uint32_t len = (uint32_t)data[pos + 2] << 8 | data[pos + 3];
        now += (fsc_time)data[pos + 1] * FSC_USEC_PER_SEC / 8;
        pos += 4;
        if (len > size - pos)
            break;
        /* An exact-size copy, so a read one past the frame is a heap overflow ASan reports. */
        uint8_t *frame = malloc(len ? len : 1);
        if (!frame)
            abort();
        if (len)
            memcpy(frame, data + pos, len);
        pos += len;

        struct fsc_pkt pkt;
        struct fsc_frag frag;
        bool held = false;
        frames++;
        if (now >= fsc_ipfrag_deadline(rf))
            fsc_ipfrag_expire(rf, now, skipped);
        pkt.ts = now;
        pkt.number = frames;
        enum fsc_skip r = fsc_decode_frag(dlt, frame, len, &pkt, &frag);
        if (r == FSC_SKIP_IP_FRAGMENT)
            r = fsc_ipfrag_take(rf, &frag, now, skipped, &pkt, &held);
        free(frame);
        if ((unsigned)r >= FSC_SKIP__COUNT || r == FSC_SKIP_IP_FRAGMENT)
            abort();
        if (!held) {
            if (r == FSC_SKIP_NONE) {
                if (pkt.sport == 0 || pkt.dport == 0 || pkt.number != frames ||
                    (pkt.ip_version != 4 && pkt.ip_version != 6))
                    abort();
                tcp++;
            } else {
                skipped[r]++;
            }
        }
        check_balance(rf, frames, tcp, skipped);
    }
    fsc_ipfrag_flush(rf, skipped);
    check_balance(rf, frames, tcp, skipped);
    struct fsc_ipfrag_stats st;
    fsc_ipfrag_stats(rf, &st);
    if (st.frames != 0 || st.datagrams != 0 || st.bytes != 0)
        abort();
    fsc_ipfrag_free(rf);
    return 0;
}
