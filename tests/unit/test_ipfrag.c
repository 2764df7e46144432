/* test_ipfrag.c - unit tests for IP fragment reassembly: order, copies, overlaps, timeouts, caps.
 */
#include "finscope/ipfrag.h"

#include "unit_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEC FSC_USEC_PER_SEC

/*
 * The datagram payload every test cuts into fragments: a TCP header (ports 40000 -> 443, data
 * offset 5, ACK) followed by a pattern, DATA_LEN bytes in all.
 */
#define DATA_LEN 3000
static uint8_t data[DATA_LEN];

static void make_data(void)
{
    for (int i = 0; i < DATA_LEN; i++)
        data[i] = (uint8_t)(i * 7 + 3);
    memset(data, 0, 20);
    data[0] = 40000 >> 8;
    data[1] = 40000 & 0xff;
    data[2] = 443 >> 8;
    data[3] = 443 & 0xff;
    data[12] = 5 << 4;
    data[13] = 0x10;
}

/* Fragment [off, off + len) of the datagram of version ver and identification id. */
static struct fsc_frag piece(int ver, uint32_t id, uint32_t off, uint32_t len, bool more)
{
    struct fsc_frag f;
    memset(&f, 0, sizeof f);
    f.ip_version = (uint8_t)ver;
    f.src.b[0] = 192;
    f.src.b[3] = 1;
    f.dst.b[0] = 192;
    f.dst.b[3] = 2;
    if (ver == 6) {
        f.src.b[15] = 1;
        f.dst.b[15] = 2;
    }
    f.id = id;
    f.proto = 6;
    f.offset = off;
    f.len = len;
    f.more = more;
    f.data = off + len <= DATA_LEN ? data + off : data; /* past the pattern: any bytes */
    f.caplen = len;
    return f;
}

struct run {
    struct fsc_ipfrag *rf;
    uint64_t skipped[FSC_SKIP__COUNT];
    uint64_t frames, done;
    struct fsc_ipfrag_datagram dg;
};

static void run_init(struct run *r, const struct fsc_ipfrag_limits *lim)
{
    memset(r, 0, sizeof *r);
    r->rf = fsc_ipfrag_new(lim);
    if (!r->rf) {
        perror("fsc_ipfrag_new");
        exit(2);
    }
}

static int add(struct run *r, const struct fsc_frag *f, fsc_time now)
{
    r->frames++;
    int d = fsc_ipfrag_add(r->rf, f, now, r->skipped, &r->dg);
    r->done += (uint64_t)d;
    return d;
}

/* Every frame given is counted exactly once (done, a skip reason, or still held). */
static void check_balance(const char *name, struct run *r)
{
    struct fsc_ipfrag_stats st;
    uint64_t sum = r->done;
    fsc_ipfrag_stats(r->rf, &st);
    for (int i = 0; i < FSC_SKIP__COUNT; i++)
        sum += r->skipped[i];
    check(sum + st.frames == r->frames, name, "frames %llu = done %llu + skipped + held %llu?",
          (unsigned long long)r->frames, (unsigned long long)r->done,
          (unsigned long long)st.frames);
}

static void run_end(const char *name, struct run *r)
{
    check_balance(name, r);
    fsc_ipfrag_flush(r->rf, r->skipped);
    struct fsc_ipfrag_stats st;
    fsc_ipfrag_stats(r->rf, &st);
    check(st.datagrams == 0 && st.frames == 0 && st.bytes == 0, name, "left %u datagrams",
          st.datagrams);
    check_balance(name, r);
    fsc_ipfrag_free(r->rf);
}

/* The datagram r->dg must be the whole DATA_LEN bytes of version ver, decoding to TCP. */
static void check_datagram(const char *name, const struct run *r, int ver, uint32_t len)
{
    uint32_t hlen = ver == 4 ? 20 : 40;
    const uint8_t *h = r->dg.data;
    bool ok =
        r->dg.ip_version == ver && r->dg.caplen == hlen + len && memcmp(h + hlen, data, len) == 0;
    if (ver == 4)
        ok = ok && h[0] == 0x45 && (h[2] << 8 | h[3]) == (int)(20 + DATA_LEN) && h[9] == 6 &&
             h[12] == 192 && h[19] == 2;
    else
        ok = ok && h[0] == 0x60 && (h[4] << 8 | h[5]) == DATA_LEN && h[6] == 6 && h[23] == 1;
    struct fsc_pkt p;
    memset(&p, 0, sizeof p);
    enum fsc_skip why =
        fsc_decode_datagram(r->dg.data, r->dg.caplen, ver, r->dg.depth, r->dg.quirks, &p, NULL);
    ok = ok && why == FSC_SKIP_NONE && p.sport == 40000 && p.dport == 443 &&
         p.payload_len == DATA_LEN - 20 && (p.quirks & FSC_QUIRK_REASSEMBLED) &&
         ((p.quirks & FSC_QUIRK_PAYLOAD_CUT) != 0) == (len < DATA_LEN);
    check(ok, name, "caplen %u decode %s quirks %#x", (unsigned)r->dg.caplen, fsc_skip_name(why),
          p.quirks);
}

/* 1480-byte pieces in order, reverse order, and a shuffled order, IPv4 and IPv6. */
static void test_orders(void)
{
    static const int orders[3][3] = {{0, 1, 2}, {2, 1, 0}, {1, 2, 0}};
    static const char *const names[3] = {"in order", "reversed", "shuffled"};
    for (int ver = 4; ver <= 6; ver += 2) {
        for (int o = 0; o < 3; o++) {
            struct run r;
            char name[64];
            snprintf(name, sizeof name, "ipv%d %s", ver, names[o]);
            run_init(&r, NULL);
            int got = 0;
            for (int k = 0; k < 3; k++) {
                int i = orders[o][k];
                uint32_t off = (uint32_t)i * 1480, len = i == 2 ? DATA_LEN - 2960 : 1480;
                struct fsc_frag f = piece(ver, 77, off, len, i != 2);
                got = add(&r, &f, (fsc_time)k * 1000);
                check(got == (k == 2), name, "fragment %d returned %d", k, got);
            }
            check(r.skipped[FSC_SKIP_FRAG_REASSEMBLED] == 2, name, "reassembled %llu",
                  (unsigned long long)r.skipped[FSC_SKIP_FRAG_REASSEMBLED]);
            check_datagram(name, &r, ver, DATA_LEN);
            run_end(name, &r);
        }
    }
}

/* Two datagrams interleaved; one told apart only by protocol (IPv4) or not at all (IPv6). */
static void test_keys(void)
{
    struct run r;
    run_init(&r, NULL);
    struct fsc_frag a0 = piece(4, 1, 0, 1480, true), a1 = piece(4, 1, 1480, 1520, false);
    struct fsc_frag b0 = piece(4, 1, 0, 1480, true), b1 = piece(4, 1, 1480, 1520, false);
    b0.proto = b1.proto = 17;
    b0.data = b1.data = NULL; /* never read: b is never completed with the wrong bytes */
    b0.caplen = b1.caplen = 0;
    add(&r, &a0, 0);
    add(&r, &b0, 0);
    check(add(&r, &a1, 0) == 1, "ipv4 protocol in the key", "a not completed");
    check_datagram("ipv4 protocol in the key", &r, 4, DATA_LEN);
    check(add(&r, &b1, 0) == 1 && r.dg.caplen == 20 && r.dg.data[9] == 17, "ipv4 second protocol",
          "b not completed");
    /* Different depth: another datagram. */
    struct fsc_frag c0 = piece(4, 9, 0, 1480, true), c1 = piece(4, 9, 1480, 1520, false);
    c1.depth = 1;
    check(add(&r, &c0, 0) == 0 && add(&r, &c1, 0) == 0, "depth in the key", "completed");
    run_end("keys", &r);
    check(r.skipped[FSC_SKIP_FRAG_INCOMPLETE] == 2, "keys incomplete", "%llu",
          (unsigned long long)r.skipped[FSC_SKIP_FRAG_INCOMPLETE]);
}

/* An exact copy is tolerated and shares the datagram's fate; different bytes drop it all. */
static void test_duplicates_and_overlaps(void)
{
    for (int ver = 4; ver <= 6; ver += 2) {
        struct run r;
        struct fsc_frag f0 = piece(ver, 5, 0, 1480, true), f1 = piece(ver, 5, 1480, 1480, true),
                        f2 = piece(ver, 5, 2960, 40, false);
        run_init(&r, NULL);
        add(&r, &f1, 0);
        add(&r, &f1, 1);
        add(&r, &f0, 2);
        check(add(&r, &f2, 3) == 1 && r.skipped[FSC_SKIP_FRAG_REASSEMBLED] == 3,
              ver == 4 ? "ipv4 duplicate" : "ipv6 duplicate", "reassembled %llu",
              (unsigned long long)r.skipped[FSC_SKIP_FRAG_REASSEMBLED]);
        check_datagram("duplicate", &r, ver, DATA_LEN);
        /* A copy cut by the snaplen compares on what both hold. */
        struct fsc_frag cut = f1;
        cut.caplen = 100;
        add(&r, &f0, 10);
        add(&r, &cut, 11);
        add(&r, &f1, 12);
        check(add(&r, &f2, 13) == 1, "cut duplicate", "not completed");
        run_end("duplicates", &r);

        /* Overlaps: same place other bytes, a partial overlap either side, two ends. */
        static const char *const names[] = {"same place other bytes", "overlaps the previous",
                                            "overlaps the next",      "second end",
                                            "beyond the end",         "end before held bytes"};
        for (int k = 0; k < 6; k++) {
            uint8_t other[1480];
            memset(other, 0xee, sizeof other);
            struct fsc_frag bad;
            run_init(&r, NULL);
            add(&r, &f0, 0);
            add(&r, &f2, 0);
            switch (k) {
            case 0:
                bad = f0;
                bad.data = other;
                break;
            case 1:
                bad = piece(ver, 5, 1472, 16, true);
                break;
            case 2:
                bad = piece(ver, 5, 1480, 1488, true);
                break;
            case 3:
                bad = piece(ver, 5, 2960, 48, false);
                break;
            case 4:
                bad = piece(ver, 5, 2960, 48, true);
                break;
            default:
                bad = piece(ver, 5, 1480, 8, false);
                break;
            }
            add(&r, &bad, 1);
            /* The datagram is gone, and stays gone: even its missing piece is dropped. */
            check(add(&r, &f1, 2) == 0 && r.skipped[FSC_SKIP_FRAG_OVERLAP] == 4, names[k],
                  "ipv%d overlap count %llu", ver,
                  (unsigned long long)r.skipped[FSC_SKIP_FRAG_OVERLAP]);
            /* Until its timeout: then the same identification starts a new datagram. */
            fsc_time later = (ver == 4 ? 30 : 60) * SEC + 2;
            add(&r, &f0, later);
            add(&r, &f1, later);
            check(add(&r, &f2, later) == 1, names[k], "ipv%d not reassembled after the timeout",
                  ver);
            run_end(names[k], &r);
        }
    }
}

/* Timeouts in capture time: 30 s for IPv4, 60 s for IPv6; the end of the input. */
static void test_timeouts(void)
{
    struct run r;
    run_init(&r, NULL);
    struct fsc_frag a = piece(4, 1, 0, 1480, true), b = piece(6, 1, 0, 1480, true);
    add(&r, &a, 10 * SEC);
    add(&r, &b, 10 * SEC);
    check(fsc_ipfrag_deadline(r.rf) == 40 * SEC, "deadline", "%lld",
          (long long)fsc_ipfrag_deadline(r.rf));
    fsc_ipfrag_expire(r.rf, 40 * SEC - 1, r.skipped);
    check(r.skipped[FSC_SKIP_FRAG_TIMEOUT] == 0, "ipv4 before 30 s", "expired");
    fsc_ipfrag_expire(r.rf, 40 * SEC, r.skipped);
    check(r.skipped[FSC_SKIP_FRAG_TIMEOUT] == 1 && fsc_ipfrag_deadline(r.rf) == 70 * SEC,
          "ipv4 at 30 s", "timeouts %llu", (unsigned long long)r.skipped[FSC_SKIP_FRAG_TIMEOUT]);
    /* A fragment arriving after the deadline expires the old one first. */
    struct fsc_frag b2 = piece(6, 1, 1480, 1520, false);
    check(add(&r, &b2, 71 * SEC) == 0 && r.skipped[FSC_SKIP_FRAG_TIMEOUT] == 2, "ipv6 at 60 s",
          "timeouts %llu", (unsigned long long)r.skipped[FSC_SKIP_FRAG_TIMEOUT]);
    run_end("timeouts", &r);
    check(r.skipped[FSC_SKIP_FRAG_INCOMPLETE] == 1, "incomplete at the end", "%llu",
          (unsigned long long)r.skipped[FSC_SKIP_FRAG_INCOMPLETE]);
    check(fsc_ipfrag_deadline(r.rf = fsc_ipfrag_new(NULL)) == INT64_MAX, "no deadline", "set");
    fsc_ipfrag_free(r.rf);

    /* Custom timeouts. */
    struct fsc_ipfrag_limits lim = {.timeout_v4 = SEC, .timeout_v6 = 2 * SEC};
    run_init(&r, &lim);
    add(&r, &a, 0);
    add(&r, &b, 0);
    fsc_ipfrag_expire(r.rf, SEC, r.skipped);
    check(r.skipped[FSC_SKIP_FRAG_TIMEOUT] == 1, "custom timeout", "%llu",
          (unsigned long long)r.skipped[FSC_SKIP_FRAG_TIMEOUT]);
    run_end("custom timeout", &r);
}

/* Fragments impossible on their own. */
static void test_bad(void)
{
    struct run r;
    run_init(&r, NULL);
    struct fsc_frag f[6];
    f[0] = piece(4, 1, 0, 1479, true);    /* not a multiple of 8, more follow */
    f[1] = piece(4, 1, 8, 0, false);      /* empty */
    f[2] = piece(4, 1, 65512, 8, false);  /* IPv4 datagram past 65,535 bytes */
    f[3] = piece(6, 1, 65528, 16, false); /* IPv6 payload past 65,535 */
    f[4] = piece(5, 1, 0, 8, true);       /* not IPv4 nor IPv6 */
    f[5] = piece(4, 1, 0, 8, true);
    f[5].caplen = 9; /* more captured than the fragment holds */
    for (int i = 0; i < 6; i++)
        add(&r, &f[i], 0);
    check(r.skipped[FSC_SKIP_FRAG_BAD] == 6, "bad fragments", "%llu",
          (unsigned long long)r.skipped[FSC_SKIP_FRAG_BAD]);
    /* The largest legal ones are fine. */
    struct fsc_frag ok4 = piece(4, 2, 65512, 3, false), ok6 = piece(6, 2, 65528, 7, false);
    ok4.data = ok6.data = data;
    check(add(&r, &ok4, 0) == 0 && add(&r, &ok6, 0) == 0 && r.skipped[FSC_SKIP_FRAG_BAD] == 6,
          "largest fragments", "refused");
    run_end("bad", &r);
}

/* Caps: datagrams, bytes, fragments of one datagram. */
static void test_caps(void)
{
    struct run r;
    struct fsc_ipfrag_limits lim = {
        .max_datagrams = 4, .max_bytes = 8 * FSC_IPFRAG_BLOCK, .max_frags = 3};
    run_init(&r, &lim);
    for (uint32_t id = 0; id < 6; id++) {
        struct fsc_frag f = piece(4, id, 0, 8, true);
        add(&r, &f, 0);
    }
    check(r.skipped[FSC_SKIP_FRAG_TOO_MANY] == 2, "datagram cap", "%llu",
          (unsigned long long)r.skipped[FSC_SKIP_FRAG_TOO_MANY]);
    run_end("datagram cap", &r);

    /* 8 blocks: a 1480-byte piece takes 3; the third datagram does not fit and is dropped. */
    run_init(&r, &lim);
    struct fsc_frag a = piece(4, 1, 0, 1480, true), b = piece(4, 2, 0, 1480, true),
                    c = piece(4, 3, 0, 1480, true), c1 = piece(4, 3, 1480, 8, true);
    add(&r, &a, 0);
    add(&r, &b, 0);
    add(&r, &c, 0);
    add(&r, &c1, 0); /* dropped with its datagram */
    struct fsc_ipfrag_stats st;
    fsc_ipfrag_stats(r.rf, &st);
    check(r.skipped[FSC_SKIP_FRAG_TOO_MANY] == 2 && st.bytes == 6 * FSC_IPFRAG_BLOCK, "byte cap",
          "too many %llu bytes %u", (unsigned long long)r.skipped[FSC_SKIP_FRAG_TOO_MANY],
          st.bytes);
    /* Memory comes back when a datagram completes. */
    struct fsc_frag a1 = piece(4, 1, 1480, 1520, false);
    a1.caplen = 0; /* cut by the snaplen to nothing: still completes, with a short capture */
    check(add(&r, &a1, 0) == 1 && r.dg.caplen == 20 + 1480, "byte cap completes", "caplen %u",
          (unsigned)r.dg.caplen);
    check_datagram("cut last piece", &r, 4, 1480);
    fsc_ipfrag_stats(r.rf, &st);
    check(st.bytes == 3 * FSC_IPFRAG_BLOCK, "blocks returned", "bytes %u", st.bytes);
    run_end("byte cap", &r);

    /* Three fragments of one datagram at most. */
    run_init(&r, &lim);
    for (uint32_t k = 0; k < 5; k++) {
        struct fsc_frag f = piece(6, 1, k * 8, 8, true);
        add(&r, &f, 0);
    }
    check(r.skipped[FSC_SKIP_FRAG_TOO_MANY] == 5, "fragment cap", "%llu",
          (unsigned long long)r.skipped[FSC_SKIP_FRAG_TOO_MANY]);
    run_end("fragment cap", &r);
}

/* A piece cut by the snaplen: the datagram is captured up to it. */
static void test_cut(void)
{
    struct run r;
    run_init(&r, NULL);
    struct fsc_frag f0 = piece(6, 3, 0, 1480, true), f1 = piece(6, 3, 1480, 1520, false);
    f0.caplen = 200;
    add(&r, &f1, 0);
    check(add(&r, &f0, 0) == 1 && r.dg.caplen == 40 + 200, "cut first piece", "caplen %u",
          (unsigned)r.dg.caplen);
    check_datagram("cut first piece", &r, 6, 200);
    run_end("cut", &r);
}

/* Many datagrams through a bounded table: slots and blocks are reused, nothing leaks. */
static void test_churn(void)
{
    struct run r;
    struct fsc_ipfrag_limits lim = {.max_datagrams = 1024, .max_bytes = 4096 * FSC_IPFRAG_BLOCK};
    run_init(&r, &lim);
    uint64_t want = 0;
    for (uint32_t id = 0; id < 20000; id++) {
        struct fsc_frag f0 = piece(id % 3 ? 4 : 6, id, 0, 1480, true),
                        f1 = piece(id % 3 ? 4 : 6, id, 1480, 1520, false);
        fsc_time t = (fsc_time)id * 10000; /* one every 10 ms: ~800 held until they time out */
        if (id % 5 == 0) {
            add(&r, &f0, t); /* never completed: times out */
            continue;
        }
        add(&r, &f1, t);
        want += (uint64_t)add(&r, &f0, t);
    }
    check(want == r.done && r.done == 16000, "churn", "done %llu", (unsigned long long)r.done);
    check(r.skipped[FSC_SKIP_FRAG_TOO_MANY] == 0, "churn no drops", "%llu",
          (unsigned long long)r.skipped[FSC_SKIP_FRAG_TOO_MANY]);
    run_end("churn", &r);
    check(r.skipped[FSC_SKIP_FRAG_TIMEOUT] + r.skipped[FSC_SKIP_FRAG_INCOMPLETE] == 4000,
          "churn timeouts", "%llu + %llu", (unsigned long long)r.skipped[FSC_SKIP_FRAG_TIMEOUT],
          (unsigned long long)r.skipped[FSC_SKIP_FRAG_INCOMPLETE]);
}

int main(void)
{
    make_data();
    test_orders();
    test_keys();
    test_duplicates_and_overlaps();
    test_timeouts();
    test_bad();
    test_caps();
    test_cut();
    test_churn();
    printf("ipfrag: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
