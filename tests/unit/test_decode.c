/* test_decode.c - unit tests for fsc_decode: frames built byte by byte, exact decoded values. */
#include "finscope/decode.h"

#include "unit_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Link type numbers (pcap-linktype(7)); the test, like decode.c, does without pcap.h. */
enum {
    T_DLT_NULL = 0,
    T_DLT_EN10MB = 1,
    T_DLT_RAW = 12,
    T_DLT_RAW_OPENBSD = 14,
    T_LINKTYPE_RAW = 101,
    T_DLT_LOOP = 108,
    T_DLT_LINUX_SLL = 113,
    T_DLT_IPV4 = 228,
    T_DLT_IPV6 = 229,
    T_DLT_LINUX_SLL2 = 276,
};

/* The segment every builder writes unless a test patches it. */
static const uint8_t SRC4[4] = {192, 0, 2, 1};
static const uint8_t DST4[4] = {198, 51, 100, 7};
static const uint8_t SRC6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
static const uint8_t DST6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x02};
#define SPORT 40000
#define DPORT 443
#define SEQ 0x11223344u
#define ACK 0xa1b2c3d4u
#define FLAGS (FSC_TH_PSH | FSC_TH_ACK | FSC_TH_CWR)
#define WINDOW 0xfaf0
#define PAYLOAD 5 /* "hello" */

/* Frame under construction. */
struct frame {
    uint8_t b[2048];
    uint32_t n;
};

static void put8(struct frame *f, unsigned v)
{
    f->b[f->n++] = (uint8_t)v;
}

static void put16(struct frame *f, unsigned v)
{
    put8(f, v >> 8);
    put8(f, v);
}

static void put32(struct frame *f, uint32_t v)
{
    put16(f, v >> 16);
    put16(f, v & 0xffff);
}

static void putn(struct frame *f, const void *p, uint32_t n)
{
    memcpy(f->b + f->n, p, n);
    f->n += n;
}

static void putfill(struct frame *f, unsigned byte, uint32_t n)
{
    memset(f->b + f->n, (int)byte, n);
    f->n += n;
}

static void set16(struct frame *f, uint32_t off, unsigned v)
{
    f->b[off] = (uint8_t)(v >> 8);
    f->b[off + 1] = (uint8_t)v;
}

/* TCP header of doff 32-bit words (NOP options after the first 20 bytes), then payload bytes. */
static void put_tcp(struct frame *f, unsigned doff, uint32_t payload)
{
    put16(f, SPORT);
    put16(f, DPORT);
    put32(f, SEQ);
    put32(f, ACK);
    put8(f, doff << 4 | 0x01); /* AE bit set: must not leak into flags */
    put8(f, FLAGS);
    put16(f, WINDOW);
    put16(f, 0xbeef); /* checksum, not verified */
    put16(f, 0);      /* urgent pointer */
    if (doff > 5)
        putfill(f, 0x01, (doff - 5) * 4);
    for (uint32_t i = 0; i < payload; i++)
        put8(f, "hello"[i % 5]);
}

/* IPv4 header of ihl words (NOP options) carrying TCP; returns the IP header offset. */
static uint32_t put_ip4(struct frame *f, unsigned ihl, unsigned doff, uint32_t payload)
{
    uint32_t at = f->n;
    put8(f, 0x40 | ihl);
    put8(f, 0);
    put16(f, ihl * 4 + doff * 4 + payload);
    put16(f, 0x1234); /* id */
    put16(f, 0x4000); /* DF */
    put8(f, 64);
    put8(f, 6);
    put16(f, 0); /* checksum, not verified */
    putn(f, SRC4, 4);
    putn(f, DST4, 4);
    if (ihl > 5)
        putfill(f, 0x01, (ihl - 5) * 4);
    put_tcp(f, doff, payload);
    return at;
}

/* IPv6 header, ext_len bytes of extension headers, TCP; returns the IP header offset. */
static uint32_t put_ip6(struct frame *f, unsigned next, const uint8_t *ext, uint32_t ext_len,
                        unsigned doff, uint32_t payload)
{
    uint32_t at = f->n;
    put32(f, 0x60000000);
    put16(f, ext_len + doff * 4 + payload);
    put8(f, next);
    put8(f, 64);
    putn(f, SRC6, 16);
    putn(f, DST6, 16);
    if (ext_len)
        putn(f, ext, ext_len);
    put_tcp(f, doff, payload);
    return at;
}

static uint32_t put_ip6_plain(struct frame *f)
{
    return put_ip6(f, 6, NULL, 0, 5, PAYLOAD);
}

static void put_eth(struct frame *f, unsigned type)
{
    static const uint8_t mac[12] = {0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02};
    putn(f, mac, sizeof(mac));
    put16(f, type);
}

static void put_sll(struct frame *f, unsigned proto)
{
    put16(f, 0); /* packet type: to us */
    put16(f, 1); /* ARPHRD_ETHER */
    put16(f, 6); /* address length */
    putfill(f, 0xaa, 6);
    putfill(f, 0, 2);
    put16(f, proto);
}

static void put_sll2(struct frame *f, unsigned proto)
{
    put16(f, proto);
    put16(f, 0); /* reserved */
    put32(f, 3); /* interface index */
    put16(f, 1); /* ARPHRD_ETHER */
    put8(f, 4);  /* packet type: outgoing */
    put8(f, 6);  /* address length */
    putfill(f, 0xbb, 6);
    putfill(f, 0, 2);
}

/* Decode from a heap copy of exactly len bytes, so ASan sees any read past caplen. */
static enum fsc_skip decode_exact(int dlt, const uint8_t *bytes, uint32_t len, struct fsc_pkt *out)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) {
        perror("malloc");
        exit(2);
    }
    if (len)
        memcpy(copy, bytes, len);
    out->ts = 1234567;
    out->number = 42;
    enum fsc_skip r = fsc_decode(dlt, copy, len, out);
    free(copy);
    return r;
}

/* A frame that must decode to the standard segment with the given version, quirks, payload. */
static void expect_tcp(const char *name, int dlt, const struct frame *f, unsigned ver,
                       unsigned quirks, uint32_t payload_len)
{
    struct fsc_pkt p;
    memset(&p, 0x5a, sizeof(p)); /* garbage that decode must overwrite */
    enum fsc_skip r = decode_exact(dlt, f->b, f->n, &p);
    struct fsc_addr src = {{0}}, dst = {{0}};
    if (ver == 4) {
        memcpy(src.b, SRC4, 4);
        memcpy(dst.b, DST4, 4);
    } else {
        memcpy(src.b, SRC6, 16);
        memcpy(dst.b, DST6, 16);
    }
    char why[512] = "";
    size_t w = 0;
#define MISMATCH(cond, ...)                                                                        \
    do {                                                                                           \
        if ((cond) && w < sizeof(why))                                                             \
            w += (size_t)snprintf(why + w, sizeof(why) - w, __VA_ARGS__);                          \
    } while (0)
    MISMATCH(r != FSC_SKIP_NONE, " skip=%s", fsc_skip_name(r));
    MISMATCH(p.ip_version != ver, " ip_version=%u", p.ip_version);
    MISMATCH(memcmp(&p.src, &src, sizeof(src)) != 0, " src differs");
    MISMATCH(memcmp(&p.dst, &dst, sizeof(dst)) != 0, " dst differs");
    MISMATCH(p.sport != SPORT, " sport=%u", p.sport);
    MISMATCH(p.dport != DPORT, " dport=%u", p.dport);
    MISMATCH(p.seq != SEQ, " seq=%#x", (unsigned)p.seq);
    MISMATCH(p.ack != ACK, " ack=%#x", (unsigned)p.ack);
    MISMATCH(p.flags != FLAGS, " flags=%#x", p.flags);
    MISMATCH(p.window != WINDOW, " window=%u", p.window);
    MISMATCH(p.payload_len != payload_len, " payload_len=%u want %u", (unsigned)p.payload_len,
             (unsigned)payload_len);
    MISMATCH(p.quirks != quirks, " quirks=%#x want %#x", p.quirks, quirks);
    MISMATCH(p.ts != 1234567 || p.number != 42, " ts/number overwritten");
#undef MISMATCH
    check(w == 0, name, "%s", why);
}

static void expect_skip(const char *name, int dlt, const struct frame *f, enum fsc_skip want)
{
    struct fsc_pkt p;
    memset(&p, 0, sizeof(p));
    enum fsc_skip r = decode_exact(dlt, f->b, f->n, &p);
    check(r == want, name, "got %s want %s", fsc_skip_name(r), fsc_skip_name(want));
}

static bool is_truncated(enum fsc_skip r)
{
    return r == FSC_SKIP_LINK_TRUNCATED || r == FSC_SKIP_IP_TRUNCATED ||
           r == FSC_SKIP_TCP_TRUNCATED;
}

/*
 * Every prefix of a valid frame either decodes with the payload cut (headers complete, payload_len
 * still from the IP length) or is skipped as truncated; the whole frame decodes without the quirk.
 */
static void expect_prefixes(const char *name, int dlt, const struct frame *f)
{
    struct fsc_pkt full, p;
    enum fsc_skip rf = decode_exact(dlt, f->b, f->n, &full);
    bool ok = rf == FSC_SKIP_NONE && !(full.quirks & FSC_QUIRK_PAYLOAD_CUT);
    uint32_t bad_len = rf == FSC_SKIP_NONE ? UINT32_MAX : f->n;
    for (uint32_t len = 0; ok && len < f->n; len++) {
        enum fsc_skip r = decode_exact(dlt, f->b, len, &p);
        if (r == FSC_SKIP_NONE)
            ok = (p.quirks & FSC_QUIRK_PAYLOAD_CUT) && p.payload_len == full.payload_len &&
                 p.seq == full.seq;
        else
            ok = is_truncated(r);
        if (!ok)
            bad_len = len;
    }
    check(ok, name, "prefix of %u bytes (of %u) misdecoded", (unsigned)bad_len, (unsigned)f->n);
}

/* Extension header chain: hop-by-hop, destination options, atomic fragment, then TCP. */
static const uint8_t EXT_HBH_DST_FRAG[24] = {
    60, 0, 0x01, 0x04, 0,    0,    0,    0,    /* hop-by-hop: next dstopts, PadN */
    44, 0, 0x01, 0x04, 0,    0,    0,    0,    /* destination options: next frag, PadN */
    6,  0, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef, /* fragment: offset 0, M=0 (atomic) */
};

/* Authentication header (RFC 4302): payload len 4 -> (4 + 2) * 4 = 24 bytes. */
static const uint8_t EXT_AH[24] = {
    6, 4, 0, 0, 0x00, 0x00, 0x10, 0x01, 0, 0,  0,  7,  /* next TCP, len, reserved, SPI, seq */
    1, 2, 3, 4, 5,    6,    7,    8,    9, 10, 11, 12, /* ICV */
};

/* Routing header type 4 with no segments left, 8 bytes, then TCP. */
static const uint8_t EXT_ROUTING[8] = {6, 0, 4, 0, 0, 0, 0, 0};

static void test_link_types(void)
{
    struct frame f;
    const uint32_t v4len = 20 + 20 + PAYLOAD;

    f.n = 0;
    put_eth(&f, 0x0800);
    put_ip4(&f, 5, 5, PAYLOAD);
    expect_tcp("ethernet ipv4", T_DLT_EN10MB, &f, 4, 0, PAYLOAD);
    expect_prefixes("ethernet ipv4 prefixes", T_DLT_EN10MB, &f);

    f.n = 0;
    put_eth(&f, 0x86dd);
    put_ip6_plain(&f);
    expect_tcp("ethernet ipv6", T_DLT_EN10MB, &f, 6, 0, PAYLOAD);

    f.n = 0;
    put_eth(&f, 0x8100);
    put16(&f, 0x2064); /* PCP 1, VID 100 */
    put16(&f, 0x0800);
    put_ip4(&f, 5, 5, PAYLOAD);
    expect_tcp("vlan ipv4", T_DLT_EN10MB, &f, 4, FSC_QUIRK_VLAN, PAYLOAD);
    expect_prefixes("vlan ipv4 prefixes", T_DLT_EN10MB, &f);

    f.n = 0;
    put_eth(&f, 0x88a8);
    put16(&f, 0x0010);
    put16(&f, 0x8100);
    put16(&f, 0x0020);
    put16(&f, 0x86dd);
    put_ip6_plain(&f);
    expect_tcp("qinq ipv6", T_DLT_EN10MB, &f, 6, FSC_QUIRK_VLAN, PAYLOAD);

    f.n = 0;
    put_eth(&f, 0x9100);
    put16(&f, 0x0010);
    put16(&f, 0x0800);
    put_ip4(&f, 5, 5, PAYLOAD);
    expect_tcp("vlan 0x9100 ipv4", T_DLT_EN10MB, &f, 4, FSC_QUIRK_VLAN, PAYLOAD);

    f.n = 0;
    put_eth(&f, 0x8847);
    put32(&f, 100u << 12 | 64);         /* label 100, S=0 */
    put32(&f, 200u << 12 | 0x100 | 64); /* label 200, S=1 */
    put_ip4(&f, 5, 5, PAYLOAD);
    expect_tcp("mpls 2 labels ipv4", T_DLT_EN10MB, &f, 4, FSC_QUIRK_MPLS, PAYLOAD);
    expect_prefixes("mpls prefixes", T_DLT_EN10MB, &f);

    f.n = 0;
    put_eth(&f, 0x8848);
    put32(&f, 300u << 12 | 0x100 | 64);
    put_ip6_plain(&f);
    expect_tcp("mpls multicast ipv6", T_DLT_EN10MB, &f, 6, FSC_QUIRK_MPLS, PAYLOAD);

    f.n = 0;
    put_eth(&f, 0x8100);
    put16(&f, 0x0005);
    put16(&f, 0x8864);
    put8(&f, 0x11); /* version 1, type 1 */
    put8(&f, 0x00); /* session data */
    put16(&f, 0x1234);
    put16(&f, 2 + v4len);
    put16(&f, 0x0021);
    put_ip4(&f, 5, 5, PAYLOAD);
    expect_tcp("vlan pppoe ipv4", T_DLT_EN10MB, &f, 4, FSC_QUIRK_VLAN | FSC_QUIRK_PPPOE, PAYLOAD);
    expect_prefixes("vlan pppoe prefixes", T_DLT_EN10MB, &f);

    f.n = 0;
    put_eth(&f, 0x8864);
    put8(&f, 0x11);
    put8(&f, 0x00);
    put16(&f, 0x0001);
    put16(&f, 2 + 40 + 20 + PAYLOAD);
    put16(&f, 0x0057);
    put_ip6_plain(&f);
    expect_tcp("pppoe ipv6", T_DLT_EN10MB, &f, 6, FSC_QUIRK_PPPOE, PAYLOAD);

    f.n = 0;
    put_sll(&f, 0x0800);
    put_ip4(&f, 5, 5, PAYLOAD);
    expect_tcp("sll ipv4", T_DLT_LINUX_SLL, &f, 4, 0, PAYLOAD);
    expect_prefixes("sll prefixes", T_DLT_LINUX_SLL, &f);

    f.n = 0;
    put_sll(&f, 0x8100);
    put16(&f, 0x0007);
    put16(&f, 0x86dd);
    put_ip6_plain(&f);
    expect_tcp("sll vlan ipv6", T_DLT_LINUX_SLL, &f, 6, FSC_QUIRK_VLAN, PAYLOAD);

    f.n = 0;
    put_sll2(&f, 0x86dd);
    put_ip6_plain(&f);
    expect_tcp("sll2 ipv6", T_DLT_LINUX_SLL2, &f, 6, 0, PAYLOAD);
    expect_prefixes("sll2 prefixes", T_DLT_LINUX_SLL2, &f);

    f.n = 0;
    put_sll2(&f, 0x0800);
    put_ip4(&f, 5, 5, PAYLOAD);
    expect_tcp("sll2 ipv4", T_DLT_LINUX_SLL2, &f, 4, 0, PAYLOAD);

    static const int raw[] = {T_DLT_RAW, T_DLT_RAW_OPENBSD, T_LINKTYPE_RAW};
    static const char *const raw4[] = {"raw12 ipv4", "raw14 ipv4", "raw101 ipv4"};
    static const char *const raw6[] = {"raw12 ipv6", "raw14 ipv6", "raw101 ipv6"};
    for (int i = 0; i < 3; i++) {
        f.n = 0;
        put_ip4(&f, 5, 5, PAYLOAD);
        expect_tcp(raw4[i], raw[i], &f, 4, 0, PAYLOAD);
        f.n = 0;
        put_ip6_plain(&f);
        expect_tcp(raw6[i], raw[i], &f, 6, 0, PAYLOAD);
    }
    f.n = 0;
    put_ip6_plain(&f);
    expect_prefixes("raw ipv6 prefixes", T_DLT_RAW, &f);

    f.n = 0;
    put_ip4(&f, 5, 5, PAYLOAD);
    expect_tcp("dlt_ipv4", T_DLT_IPV4, &f, 4, 0, PAYLOAD);
    f.n = 0;
    put_ip6_plain(&f);
    expect_tcp("dlt_ipv6", T_DLT_IPV6, &f, 6, 0, PAYLOAD);

    f.n = 0;
    putn(&f, "\x02\x00\x00\x00", 4); /* AF_INET, little-endian host */
    put_ip4(&f, 5, 5, PAYLOAD);
    expect_tcp("null le ipv4", T_DLT_NULL, &f, 4, 0, PAYLOAD);
    expect_prefixes("null prefixes", T_DLT_NULL, &f);

    f.n = 0;
    putn(&f, "\x00\x00\x00\x02", 4); /* AF_INET, big-endian host */
    put_ip4(&f, 5, 5, PAYLOAD);
    expect_tcp("null be ipv4", T_DLT_NULL, &f, 4, 0, PAYLOAD);

    static const uint8_t af6[3][4] = {{24, 0, 0, 0}, {0, 0, 0, 28}, {30, 0, 0, 0}};
    static const char *const null6[] = {"null le af24 ipv6", "null be af28 ipv6",
                                        "null le af30 ipv6"};
    for (int i = 0; i < 3; i++) {
        f.n = 0;
        putn(&f, af6[i], 4);
        put_ip6_plain(&f);
        expect_tcp(null6[i], T_DLT_NULL, &f, 6, 0, PAYLOAD);
    }

    f.n = 0;
    putn(&f, "\x00\x00\x00\x02", 4);
    put_ip4(&f, 5, 5, PAYLOAD);
    expect_tcp("loop ipv4", T_DLT_LOOP, &f, 4, 0, PAYLOAD);

    f.n = 0;
    putn(&f, "\x00\x00\x00\x18", 4);
    put_ip6_plain(&f);
    expect_tcp("loop ipv6", T_DLT_LOOP, &f, 6, 0, PAYLOAD);
}

static void test_ip_variants(void)
{
    struct frame f;
    uint32_t ip;

    f.n = 0;
    put_eth(&f, 0x0800);
    put_ip4(&f, 8, 5, PAYLOAD); /* 12 bytes of options */
    expect_tcp("ipv4 options", T_DLT_EN10MB, &f, 4, FSC_QUIRK_IP_OPTIONS, PAYLOAD);
    expect_prefixes("ipv4 options prefixes", T_DLT_EN10MB, &f);

    f.n = 0;
    put_eth(&f, 0x0800);
    put_ip4(&f, 5, 10, PAYLOAD); /* 20 bytes of TCP options */
    expect_tcp("tcp options", T_DLT_EN10MB, &f, 4, 0, PAYLOAD);

    f.n = 0;
    put_eth(&f, 0x86dd);
    put_ip6(&f, 0, EXT_HBH_DST_FRAG, sizeof(EXT_HBH_DST_FRAG), 5, PAYLOAD);
    expect_tcp("ipv6 hbh dstopts atomic frag", T_DLT_EN10MB, &f, 6, FSC_QUIRK_IP_OPTIONS, PAYLOAD);
    expect_prefixes("ipv6 extension prefixes", T_DLT_EN10MB, &f);

    f.n = 0;
    put_ip6(&f, 51, EXT_AH, sizeof(EXT_AH), 5, PAYLOAD);
    expect_tcp("ipv6 ah", T_DLT_RAW, &f, 6, FSC_QUIRK_IP_OPTIONS, PAYLOAD);

    f.n = 0;
    put_ip6(&f, 43, EXT_ROUTING, sizeof(EXT_ROUTING), 5, PAYLOAD);
    expect_tcp("ipv6 routing", T_DLT_RAW, &f, 6, FSC_QUIRK_IP_OPTIONS, PAYLOAD);

    /* SYN in a minimum-size Ethernet frame: 6 bytes of padding after the 40-byte datagram. */
    f.n = 0;
    put_eth(&f, 0x0800);
    put_ip4(&f, 5, 5, 0);
    putfill(&f, 0, 6);
    expect_tcp("ethernet padding", T_DLT_EN10MB, &f, 4, FSC_QUIRK_IP_PADDING, 0);

    f.n = 0;
    put_ip6_plain(&f);
    putfill(&f, 0, 4); /* trailing FCS */
    expect_tcp("ipv6 padding", T_DLT_RAW, &f, 6, FSC_QUIRK_IP_PADDING, PAYLOAD);

    /* snaplen 54 on a 1000-byte segment: headers whole, payload_len from the IP header. */
    f.n = 0;
    put_eth(&f, 0x0800);
    put_ip4(&f, 5, 5, 1000);
    f.n = 14 + 20 + 20;
    expect_tcp("snaplen payload cut", T_DLT_EN10MB, &f, 4, FSC_QUIRK_PAYLOAD_CUT, 1000);

    /* Linux TSO: total length 0, so the captured length stands in for it. */
    f.n = 0;
    put_eth(&f, 0x0800);
    ip = put_ip4(&f, 5, 5, 1500);
    set16(&f, ip + 2, 0);
    expect_tcp("ipv4 total length 0 (tso)", T_DLT_EN10MB, &f, 4, 0, 1500);
}

static void test_skips(void)
{
    struct frame f;
    uint32_t ip;

    f.n = 0;
    put_eth(&f, 0x0800);
    put_ip4(&f, 5, 5, PAYLOAD);
    expect_skip("link_unsupported", 147, &f, FSC_SKIP_LINK_UNSUPPORTED);
    expect_skip("link_unsupported negative", -1, &f, FSC_SKIP_LINK_UNSUPPORTED);
    f.n = 13;
    expect_skip("link_truncated ethernet", T_DLT_EN10MB, &f, FSC_SKIP_LINK_TRUNCATED);

    f.n = 0;
    put_eth(&f, 0x8100);
    put16(&f, 1);
    expect_skip("link_truncated vlan", T_DLT_EN10MB, &f, FSC_SKIP_LINK_TRUNCATED);

    f.n = 0;
    put_eth(&f, 0x8847);
    put32(&f, 1u << 12); /* no bottom of stack, nothing after */
    expect_skip("link_truncated mpls", T_DLT_EN10MB, &f, FSC_SKIP_LINK_TRUNCATED);

    f.n = 0;
    put_eth(&f, 0x8864);
    putfill(&f, 0x11, 7);
    expect_skip("link_truncated pppoe", T_DLT_EN10MB, &f, FSC_SKIP_LINK_TRUNCATED);

    f.n = 0;
    put_sll(&f, 0x0800);
    f.n = 15;
    expect_skip("link_truncated sll", T_DLT_LINUX_SLL, &f, FSC_SKIP_LINK_TRUNCATED);
    f.n = 0;
    put_sll2(&f, 0x0800);
    f.n = 19;
    expect_skip("link_truncated sll2", T_DLT_LINUX_SLL2, &f, FSC_SKIP_LINK_TRUNCATED);
    f.n = 3;
    memset(f.b, 0, 3);
    expect_skip("link_truncated null", T_DLT_NULL, &f, FSC_SKIP_LINK_TRUNCATED);

    f.n = 0;
    put_eth(&f, 0x0806);
    putfill(&f, 0, 28);
    expect_skip("not_ip arp", T_DLT_EN10MB, &f, FSC_SKIP_NOT_IP);

    f.n = 0;
    put_eth(&f, 0x05dc); /* 802.3 length 1500 */
    putfill(&f, 0xaa, 46);
    expect_skip("not_ip 802.3 length", T_DLT_EN10MB, &f, FSC_SKIP_NOT_IP);

    f.n = 0;
    put_eth(&f, 0x8864);
    put32(&f, 0x11000001);
    put16(&f, 6);
    put16(&f, 0xc021); /* LCP */
    putfill(&f, 0, 4);
    expect_skip("not_ip ppp lcp", T_DLT_EN10MB, &f, FSC_SKIP_NOT_IP);

    f.n = 0;
    put_eth(&f, 0x8847);
    put32(&f, 100u << 12 | 0x100 | 64);
    put32(&f, 0); /* pseudowire control word: first nibble 0 */
    put_ip4(&f, 5, 5, PAYLOAD);
    expect_skip("not_ip mpls control word", T_DLT_EN10MB, &f, FSC_SKIP_NOT_IP);

    f.n = 0;
    put_eth(&f, 0x8847);
    for (int i = 0; i < 16; i++)
        put32(&f, (uint32_t)(i + 16) << 12 | 64);
    put32(&f, 99u << 12 | 0x100 | 64); /* 17th label */
    put_ip4(&f, 5, 5, PAYLOAD);
    expect_skip("not_ip mpls 17 labels", T_DLT_EN10MB, &f, FSC_SKIP_NOT_IP);

    f.n = 0;
    put_eth(&f, 0x8100);
    for (int i = 0; i < 8; i++) {
        put16(&f, (unsigned)i + 1);
        put16(&f, 0x8100); /* 9th tag follows the 8th */
    }
    put16(&f, 9);
    put16(&f, 0x0800);
    put_ip4(&f, 5, 5, PAYLOAD);
    expect_skip("not_ip 9 vlan tags", T_DLT_EN10MB, &f, FSC_SKIP_NOT_IP);

    f.n = 0;
    putn(&f, "\x07\x00\x00\x00", 4); /* AF_IPX */
    put_ip4(&f, 5, 5, PAYLOAD);
    expect_skip("not_ip null af 7", T_DLT_NULL, &f, FSC_SKIP_NOT_IP);

    f.n = 0;
    putn(&f, "\x02\x00\x00\x00", 4); /* DLT_LOOP is network order only */
    put_ip4(&f, 5, 5, PAYLOAD);
    expect_skip("not_ip loop little-endian af", T_DLT_LOOP, &f, FSC_SKIP_NOT_IP);

    f.n = 0;
    put_eth(&f, 0x0800);
    put_ip4(&f, 5, 5, PAYLOAD);
    f.n = 14 + 19;
    expect_skip("ip_truncated ipv4", T_DLT_EN10MB, &f, FSC_SKIP_IP_TRUNCATED);

    f.n = 0;
    put_eth(&f, 0x0800);
    put_ip4(&f, 6, 5, PAYLOAD);
    f.n = 14 + 22;
    expect_skip("ip_truncated ipv4 options", T_DLT_EN10MB, &f, FSC_SKIP_IP_TRUNCATED);

    f.n = 0;
    expect_skip("ip_truncated raw empty", T_DLT_RAW, &f, FSC_SKIP_IP_TRUNCATED);

    f.n = 0;
    put_ip6_plain(&f);
    f.n = 39;
    expect_skip("ip_truncated ipv6", T_DLT_IPV6, &f, FSC_SKIP_IP_TRUNCATED);

    f.n = 0;
    put_eth(&f, 0x0800);
    put_ip6_plain(&f);
    expect_skip("ip_bad_version ipv6 in 0x0800", T_DLT_EN10MB, &f, FSC_SKIP_IP_BAD_VERSION);

    f.n = 0;
    put_ip4(&f, 5, 5, PAYLOAD);
    expect_skip("ip_bad_version ipv4 on dlt_ipv6", T_DLT_IPV6, &f, FSC_SKIP_IP_BAD_VERSION);
    f.b[0] = 0x55;
    expect_skip("ip_bad_version raw nibble 5", T_DLT_RAW, &f, FSC_SKIP_IP_BAD_VERSION);

    f.n = 0;
    ip = put_ip4(&f, 5, 5, PAYLOAD);
    f.b[ip] = 0x44;
    expect_skip("ip_bad_header_length ihl 4", T_DLT_IPV4, &f, FSC_SKIP_IP_BAD_HDR_LEN);

    f.n = 0;
    ip = put_ip4(&f, 5, 5, PAYLOAD);
    set16(&f, ip + 2, 19);
    expect_skip("ip_bad_total_length 19", T_DLT_IPV4, &f, FSC_SKIP_IP_BAD_TOTAL_LEN);

    f.n = 0;
    ip = put_ip6_plain(&f);
    set16(&f, ip + 4, 0);
    expect_skip("ip_bad_total_length jumbogram", T_DLT_IPV6, &f, FSC_SKIP_IP_BAD_TOTAL_LEN);

    f.n = 0;
    ip = put_ip4(&f, 5, 5, PAYLOAD);
    set16(&f, ip + 6, 0x2000);
    expect_skip("ip_fragment ipv4 mf", T_DLT_IPV4, &f, FSC_SKIP_IP_FRAGMENT);
    set16(&f, ip + 6, 0x00b9);
    expect_skip("ip_fragment ipv4 offset", T_DLT_IPV4, &f, FSC_SKIP_IP_FRAGMENT);

    uint8_t ext[24];
    memcpy(ext, EXT_HBH_DST_FRAG, sizeof(ext));
    ext[19] = 0x01; /* M flag */
    f.n = 0;
    put_ip6(&f, 0, ext, sizeof(ext), 5, PAYLOAD);
    expect_skip("ip_fragment ipv6 m flag", T_DLT_IPV6, &f, FSC_SKIP_IP_FRAGMENT);
    ext[18] = 0x05; /* offset 160 bytes */
    ext[19] = 0x00;
    f.n = 0;
    put_ip6(&f, 0, ext, sizeof(ext), 5, PAYLOAD);
    expect_skip("ip_fragment ipv6 offset", T_DLT_IPV6, &f, FSC_SKIP_IP_FRAGMENT);

    /* Hop-by-hop claiming 256 bytes in a 33-byte payload. */
    memcpy(ext, EXT_HBH_DST_FRAG, sizeof(ext));
    ext[1] = 31;
    f.n = 0;
    put_ip6(&f, 0, ext, 8, 5, PAYLOAD);
    expect_skip("ip6_extension_bad past payload length", T_DLT_IPV6, &f, FSC_SKIP_IP6_EXT_BAD);

    f.n = 0;
    put32(&f, 0x60000000);
    put16(&f, 17 * 8 + 20);
    put8(&f, 60);
    put8(&f, 64);
    putn(&f, SRC6, 16);
    putn(&f, DST6, 16);
    for (int i = 0; i < 17; i++) {
        put8(&f, i == 16 ? 6 : 60);
        put8(&f, 0);
        putn(&f, "\x01\x04\x00\x00\x00\x00", 6);
    }
    put_tcp(&f, 5, 0);
    expect_skip("ip6_extension_bad 17 headers", T_DLT_IPV6, &f, FSC_SKIP_IP6_EXT_BAD);

    f.n = 0;
    ip = put_ip4(&f, 5, 5, PAYLOAD);
    f.b[ip + 9] = 17;
    expect_skip("not_tcp udp", T_DLT_IPV4, &f, FSC_SKIP_NOT_TCP);

    f.n = 0;
    put_ip6(&f, 59, NULL, 0, 5, PAYLOAD);
    expect_skip("not_tcp no next header", T_DLT_IPV6, &f, FSC_SKIP_NOT_TCP);
    f.n = 0;
    put_ip6(&f, 50, NULL, 0, 5, PAYLOAD);
    expect_skip("not_tcp esp", T_DLT_IPV6, &f, FSC_SKIP_NOT_TCP);
    memcpy(ext, EXT_HBH_DST_FRAG, 8);
    ext[0] = 58; /* ICMPv6 after hop-by-hop */
    f.n = 0;
    put_ip6(&f, 0, ext, 8, 5, PAYLOAD);
    expect_skip("not_tcp icmpv6 after hbh", T_DLT_IPV6, &f, FSC_SKIP_NOT_TCP);

    f.n = 0;
    put_eth(&f, 0x0800);
    put_ip4(&f, 5, 5, PAYLOAD);
    f.n = 14 + 20 + 19;
    expect_skip("tcp_truncated 19 bytes", T_DLT_EN10MB, &f, FSC_SKIP_TCP_TRUNCATED);

    f.n = 0;
    put_ip4(&f, 5, 8, PAYLOAD);
    f.n = 20 + 24;
    expect_skip("tcp_truncated options", T_DLT_IPV4, &f, FSC_SKIP_TCP_TRUNCATED);

    f.n = 0;
    ip = put_ip4(&f, 5, 5, PAYLOAD);
    f.b[ip + 20 + 12] = 0x41;
    expect_skip("tcp_bad_header_length offset 4", T_DLT_IPV4, &f, FSC_SKIP_TCP_BAD_HDR_LEN);

    f.n = 0;
    ip = put_ip4(&f, 5, 5, PAYLOAD);
    f.b[ip + 20 + 12] = 0x80; /* 32 bytes in a 25-byte IP payload */
    expect_skip("tcp_bad_header_length past ip payload", T_DLT_IPV4, &f, FSC_SKIP_TCP_BAD_HDR_LEN);

    /* Total length leaves 10 bytes for TCP; Ethernet padding must not hide that. */
    f.n = 0;
    put_eth(&f, 0x0800);
    ip = put_ip4(&f, 5, 5, 0);
    set16(&f, ip + 2, 30);
    putfill(&f, 0, 6);
    expect_skip("tcp_bad_header_length ip payload 10", T_DLT_EN10MB, &f, FSC_SKIP_TCP_BAD_HDR_LEN);

    f.n = 0;
    ip = put_ip4(&f, 5, 5, PAYLOAD);
    set16(&f, ip + 20, 0);
    expect_skip("tcp_port_zero source", T_DLT_IPV4, &f, FSC_SKIP_TCP_PORT_ZERO);
    f.n = 0;
    ip = put_ip6_plain(&f);
    set16(&f, ip + 40 + 2, 0);
    expect_skip("tcp_port_zero destination", T_DLT_IPV6, &f, FSC_SKIP_TCP_PORT_ZERO);

    struct fsc_pkt p = {0};
    check(fsc_decode(T_DLT_EN10MB, NULL, 0, &p) == FSC_SKIP_LINK_TRUNCATED, "null data",
          "expected link_truncated");
}

/* Outer IPv4 (10.0.0.1 -> 10.0.0.2) or IPv6 (fd00::1 -> fd00::2) header of protocol proto. */
static uint32_t put_outer_ip(struct frame *f, int ver, unsigned proto)
{
    uint32_t at = f->n;
    if (ver == 4) {
        put8(f, 0x45);
        put8(f, 0);
        put16(f, 0); /* total length, set by end_outer_ip */
        put16(f, 0x4321);
        put16(f, 0);
        put8(f, 64);
        put8(f, proto);
        put16(f, 0);
        put32(f, 0x0a000001);
        put32(f, 0x0a000002);
    } else {
        put32(f, 0x60000000);
        put16(f, 0); /* payload length, set by end_outer_ip */
        put8(f, proto);
        put8(f, 64);
        put16(f, 0xfd00);
        putfill(f, 0, 13);
        put8(f, 1);
        put16(f, 0xfd00);
        putfill(f, 0, 13);
        put8(f, 2);
    }
    return at;
}

static void end_outer_ip(struct frame *f, int ver, uint32_t at)
{
    if (ver == 4)
        set16(f, at + 2, f->n - at);
    else
        set16(f, at + 4, f->n - at - 40);
}

/* UDP header (checksum 0); end_udp fills in the length. */
static uint32_t put_udp(struct frame *f, unsigned sport, unsigned dport)
{
    uint32_t at = f->n;
    put16(f, sport);
    put16(f, dport);
    put16(f, 0);
    put16(f, 0);
    return at;
}

static void end_udp(struct frame *f, uint32_t at)
{
    set16(f, at + 4, f->n - at);
}

/* Outer IPv4 or IPv6 header (put_outer_ip) + UDP header; end_ip_udp fills in both lengths. */
static uint32_t put_ip_udp(struct frame *f, int ver, unsigned sport, unsigned dport)
{
    uint32_t at = put_outer_ip(f, ver, 17);
    put_udp(f, sport, dport);
    return at;
}

static void end_ip_udp(struct frame *f, int ver, uint32_t at)
{
    end_udp(f, at + (ver == 4 ? 20 : 40));
    end_outer_ip(f, ver, at);
}

/* GTPv1-U G-PDU header with flags (E/S/PN in the low bits); end_gtp fills in the length. */
static uint32_t put_gtp(struct frame *f, unsigned flags)
{
    uint32_t at = f->n;
    put8(f, 0x30 | flags); /* version 1, protocol type GTP */
    put8(f, 0xff);         /* G-PDU */
    put16(f, 0);
    put32(f, 0x00c0ffee); /* TEID */
    return at;
}

static void end_gtp(struct frame *f, uint32_t at)
{
    set16(f, at + 2, f->n - at - 8);
}

/* Teredo origin indication (RFC 4380 section 5.1.1): port and address obfuscated by XOR. */
static void put_teredo_origin(struct frame *f)
{
    put16(f, 0x0000);
    put16(f, 3797 ^ 0xffff);
    put32(f, 0xc0a80210u ^ 0xffffffffu);
}

/* Decode in a heap copy; the skip reason. */
static enum fsc_skip decode_reason(int dlt, const struct frame *f, struct fsc_pkt *p)
{
    memset(p, 0, sizeof(*p));
    return decode_exact(dlt, f->b, f->n, p);
}

/* Teredo (RFC 4380) and GTP-U (3GPP TS 29.281): inner addresses, ports and the tunnel quirk. */
static void test_tunnels(void)
{
    struct frame f;
    struct fsc_pkt p;
    uint32_t udp, gtp, ip;
    const unsigned tq = FSC_QUIRK_TUNNEL;

    f.n = 0;
    put_eth(&f, 0x0800);
    udp = put_ip_udp(&f, 4, 3797, 3544);
    put_ip6_plain(&f);
    end_ip_udp(&f, 4, udp);
    expect_tcp("teredo plain", T_DLT_EN10MB, &f, 6, tq, PAYLOAD);
    expect_prefixes("teredo plain prefixes", T_DLT_EN10MB, &f);

    f.n = 0;
    put_eth(&f, 0x0800);
    udp = put_ip_udp(&f, 4, 3544, 3797);
    put_teredo_origin(&f);
    put_ip6_plain(&f);
    end_ip_udp(&f, 4, udp);
    expect_tcp("teredo origin indication", T_DLT_EN10MB, &f, 6, tq, PAYLOAD);
    expect_prefixes("teredo origin prefixes", T_DLT_EN10MB, &f);

    f.n = 0;
    put_eth(&f, 0x0800);
    udp = put_ip_udp(&f, 4, 3797, 3544);
    put16(&f, 0x0001); /* authentication indicator */
    put8(&f, 2);       /* client identifier length */
    put8(&f, 3);       /* authentication value length */
    putn(&f, "id", 2);
    putn(&f, "mac", 3);
    put32(&f, 0x01020304); /* nonce */
    put32(&f, 0x05060708);
    put8(&f, 0); /* confirmation */
    put_teredo_origin(&f);
    put_ip6_plain(&f);
    end_ip_udp(&f, 4, udp);
    expect_tcp("teredo auth and origin", T_DLT_EN10MB, &f, 6, tq, PAYLOAD);
    expect_prefixes("teredo auth prefixes", T_DLT_EN10MB, &f);

    /* Off port 3544 (a relay talks from any port) only with a Teredo address, 2001:0::/32. */
    f.n = 0;
    udp = put_ip_udp(&f, 4, 32900, 3797);
    ip = put_ip6_plain(&f);
    end_ip_udp(&f, 4, udp);
    expect_skip("teredo off port without teredo address", T_DLT_IPV4, &f, FSC_SKIP_NOT_TCP);
    set16(&f, ip + 24 + 2, 0x0000); /* destination 2001:0:0:1::2 */
    check(decode_reason(T_DLT_IPV4, &f, &p) == FSC_SKIP_NONE && p.quirks == tq &&
              p.ip_version == 6 && p.sport == SPORT && p.dport == DPORT && p.dst.b[2] == 0 &&
              p.payload_len == PAYLOAD,
          "teredo off port with teredo address", "got %s quirks %#x",
          fsc_skip_name(decode_reason(T_DLT_IPV4, &f, &p)), p.quirks);
    f.n = ip + 27; /* destination address cut: cannot be told from other UDP */
    expect_skip("teredo off port cut", T_DLT_IPV4, &f, FSC_SKIP_NOT_TCP);

    f.n = 0;
    put_eth(&f, 0x0800);
    udp = put_ip_udp(&f, 4, 5906, 2152);
    gtp = put_gtp(&f, 0);
    put_ip4(&f, 5, 5, PAYLOAD);
    end_gtp(&f, gtp);
    end_ip_udp(&f, 4, udp);
    expect_tcp("gtp-u plain ipv4", T_DLT_EN10MB, &f, 4, tq, PAYLOAD);
    expect_prefixes("gtp-u plain prefixes", T_DLT_EN10MB, &f);

    f.n = 0;
    put_eth(&f, 0x0800);
    udp = put_ip_udp(&f, 4, 2152, 2152);
    gtp = put_gtp(&f, 0x02); /* S */
    put16(&f, 0x1234);       /* sequence number */
    put8(&f, 0);             /* N-PDU number */
    put8(&f, 0xc0);          /* next extension type: ignored without E */
    put_ip6_plain(&f);
    end_gtp(&f, gtp);
    end_ip_udp(&f, 4, udp);
    expect_tcp("gtp-u sequence ipv6", T_DLT_EN10MB, &f, 6, tq, PAYLOAD);
    expect_prefixes("gtp-u sequence prefixes", T_DLT_EN10MB, &f);

    f.n = 0;
    put_eth(&f, 0x0800);
    udp = put_ip_udp(&f, 4, 2152, 40001);
    gtp = put_gtp(&f, 0x04); /* E */
    put16(&f, 0);
    put8(&f, 0);
    put8(&f, 0x85); /* PDU session container */
    put8(&f, 1);    /* 4 bytes */
    put16(&f, 0x0009);
    put8(&f, 0x40); /* next: UDP port extension */
    put8(&f, 2);    /* 8 bytes */
    putfill(&f, 0xee, 6);
    put8(&f, 0); /* end of chain */
    put_ip4(&f, 6, 5, PAYLOAD);
    end_gtp(&f, gtp);
    end_ip_udp(&f, 4, udp);
    expect_tcp("gtp-u extension headers", T_DLT_EN10MB, &f, 4, tq | FSC_QUIRK_IP_OPTIONS, PAYLOAD);
    expect_prefixes("gtp-u extension prefixes", T_DLT_EN10MB, &f);

    /* Two levels: Teredo carrying IPv6/UDP to GTP-U carrying IPv4; a third level stays UDP. */
    f.n = 0;
    udp = put_ip_udp(&f, 4, 3544, 3797);
    uint32_t udp6 = put_ip_udp(&f, 6, 2152, 2152);
    gtp = put_gtp(&f, 0);
    put_ip4(&f, 5, 5, PAYLOAD);
    end_gtp(&f, gtp);
    end_ip_udp(&f, 6, udp6);
    end_ip_udp(&f, 4, udp);
    expect_tcp("teredo gtp-u two levels", T_DLT_IPV4, &f, 4, tq, PAYLOAD);
    expect_prefixes("two levels prefixes", T_DLT_IPV4, &f);

    f.n = 0;
    udp = put_ip_udp(&f, 4, 2152, 2152);
    gtp = put_gtp(&f, 0);
    uint32_t udp2 = put_ip_udp(&f, 4, 2152, 2152);
    uint32_t gtp2 = put_gtp(&f, 0);
    uint32_t udp3 = put_ip_udp(&f, 4, 2152, 2152);
    uint32_t gtp3 = put_gtp(&f, 0);
    put_ip4(&f, 5, 5, PAYLOAD);
    end_gtp(&f, gtp3);
    end_ip_udp(&f, 4, udp3);
    end_gtp(&f, gtp2);
    end_ip_udp(&f, 4, udp2);
    end_gtp(&f, gtp);
    end_ip_udp(&f, 4, udp);
    expect_tcp("gtp-u three levels", T_DLT_IPV4, &f, 4, tq, PAYLOAD);

    /* On the tunnel ports but not the tunnel: stays not_tcp. */
    f.n = 0;
    udp = put_ip_udp(&f, 4, 3544, 3797);
    put16(&f, 0xabcd); /* some other protocol on the port */
    putfill(&f, 0x61, 60);
    end_ip_udp(&f, 4, udp);
    expect_skip("udp 3544 not teredo", T_DLT_IPV4, &f, FSC_SKIP_NOT_TCP);

    f.n = 0;
    udp = put_ip_udp(&f, 4, 3544, 3797);
    ip = put_ip6_plain(&f);
    end_ip_udp(&f, 4, udp);
    set16(&f, ip + 4, 24); /* IPv6 packet shorter than the datagram */
    expect_skip("teredo payload length mismatch", T_DLT_IPV4, &f, FSC_SKIP_NOT_TCP);

    f.n = 0;
    udp = put_ip_udp(&f, 4, 3544, 3797);
    put32(&f, 0x60000000); /* bubble: no next header, payload length 0 */
    put16(&f, 0);
    put8(&f, 59);
    put8(&f, 255);
    putn(&f, SRC6, 16);
    putn(&f, DST6, 16);
    end_ip_udp(&f, 4, udp);
    expect_skip("teredo bubble", T_DLT_IPV4, &f, FSC_SKIP_NOT_TCP);

    f.n = 0;
    udp = put_ip_udp(&f, 4, 2152, 2152);
    gtp = put_gtp(&f, 0);
    f.b[gtp + 1] = 0x01; /* echo request */
    put_ip4(&f, 5, 5, PAYLOAD);
    end_gtp(&f, gtp);
    end_ip_udp(&f, 4, udp);
    expect_skip("udp 2152 gtp echo request", T_DLT_IPV4, &f, FSC_SKIP_NOT_TCP);
    f.b[gtp + 1] = 0xff;
    f.b[gtp] = 0x48; /* GTPv2 */
    expect_skip("udp 2152 gtpv2", T_DLT_IPV4, &f, FSC_SKIP_NOT_TCP);
    f.b[gtp] = 0x30;
    set16(&f, gtp + 2, 44); /* one byte short of the datagram */
    expect_skip("gtp-u length mismatch", T_DLT_IPV4, &f, FSC_SKIP_NOT_TCP);

    f.n = 0;
    udp = put_ip_udp(&f, 4, 40000, 2152);
    gtp = put_gtp(&f, 0x04);
    put32(&f, 0x000000c0);
    put8(&f, 0); /* extension length 0: invalid */
    putfill(&f, 0, 3);
    put_ip4(&f, 5, 5, PAYLOAD);
    end_gtp(&f, gtp);
    end_ip_udp(&f, 4, udp);
    expect_skip("gtp-u extension length 0", T_DLT_IPV4, &f, FSC_SKIP_NOT_TCP);

    f.n = 0;
    udp = put_ip_udp(&f, 4, 40000, 2152);
    gtp = put_gtp(&f, 0);
    ip = put_ip4(&f, 5, 5, PAYLOAD);
    end_gtp(&f, gtp);
    end_ip_udp(&f, 4, udp);
    set16(&f, ip + 2, 46); /* inner packet larger than the tunnel carries */
    expect_skip("gtp-u inner longer than tunnel", T_DLT_IPV4, &f, FSC_SKIP_NOT_TCP);

    f.n = 0;
    udp = put_ip_udp(&f, 4, 40000, 2152);
    gtp = put_gtp(&f, 0);
    put_ip4(&f, 5, 5, PAYLOAD);
    end_gtp(&f, gtp);
    end_ip_udp(&f, 4, udp);
    set16(&f, udp + 20 + 4, 8 + 8 + 45 + 1); /* UDP length beyond the IP payload */
    expect_skip("udp length beyond ip", T_DLT_IPV4, &f, FSC_SKIP_NOT_TCP);

    f.n = 0;
    udp = put_ip_udp(&f, 4, 53, 40000);
    end_ip_udp(&f, 4, udp);
    f.n = udp + 20 + 6;
    expect_skip("udp header cut, no tunnel port", T_DLT_IPV4, &f, FSC_SKIP_NOT_TCP);
}

/* ---- VXLAN, Geneve, GRE, ERSPAN, IP-in-IP ---- */

/* Ethernet header of type, behind vlan 802.1Q tags (0, 1 or 2: QinQ) when asked. */
static void put_eth_vlan(struct frame *f, int vlans, unsigned type)
{
    if (vlans == 0) {
        put_eth(f, type);
        return;
    }
    put_eth(f, vlans > 1 ? 0x88a8 : 0x8100);
    for (int i = vlans; i > 0; i--) {
        put16(f, 0x0100 + (unsigned)i); /* VID 257, 258 */
        put16(f, i > 1 ? 0x8100 : type);
    }
}

/* The inner segment: IPv4 or IPv6 with the standard TCP header and payload. */
static void put_inner(struct frame *f, int ver)
{
    if (ver == 4)
        put_ip4(f, 5, 5, PAYLOAD);
    else
        put_ip6_plain(f);
}

static unsigned ethertype_of(int ver)
{
    return ver == 4 ? 0x0800 : 0x86dd;
}

enum encap {
    E_VXLAN,
    E_GENEVE_ETH,
    E_GENEVE_IP,
    E_GRE_IP,
    E_GRE_CKS_IP, /* checksum, key and sequence number */
    E_GRETAP,
    E_GRE_MPLS,
    E_ERSPAN1,
    E_ERSPAN2,
    E_ERSPAN3,
    E_ERSPAN3_O, /* with the platform specific subheader */
    E_ERSPAN3_IP,
    E_IPIP, /* protocol 4 or 41, by the inner version */
    E__COUNT
};

static const char *const encap_names[E__COUNT] = {
    "vxlan",        "geneve eth",    "geneve ip", "gre ip",    "gre csum/key/seq",
    "gretap",       "gre mpls",      "erspan i",  "erspan ii", "erspan iii",
    "erspan iii o", "erspan iii ip", "ip-in-ip",
};

/* Whether the encapsulation carries an Ethernet frame (so an inner VLAN tag can be asked for). */
static bool encap_has_eth(enum encap e)
{
    return e == E_VXLAN || e == E_GENEVE_ETH || e == E_GRETAP || e == E_ERSPAN1 || e == E_ERSPAN2 ||
           e == E_ERSPAN3 || e == E_ERSPAN3_O;
}

/*
 * The tunnel headers of encapsulation e after an outer IP header (not written), then the inner
 * frame (Ethernet with in_vlans tags when the encapsulation carries Ethernet) and segment of
 * version in_ver.  Returns the IP protocol the outer header must name.
 */
static unsigned put_encap(struct frame *f, enum encap e, int in_ver, int in_vlans)
{
    uint32_t udp = 0;
    unsigned proto = 47;
    switch (e) {
    case E_VXLAN:
        udp = put_udp(f, 51234, 4789);
        put32(f, 0x08000000); /* I flag */
        put32(f, 0x00123400); /* VNI 0x1234 */
        break;
    case E_GENEVE_ETH:
        udp = put_udp(f, 51234, 6081);
        put8(f, 0x02); /* version 0, 2 words of options */
        put8(f, 0x00);
        put16(f, 0x6558);
        put32(f, 0x00abcd00);
        put16(f, 0x0104); /* option class */
        put8(f, 0x01);    /* type */
        put8(f, 0x01);    /* 1 word of data */
        put32(f, 0xdeadbeef);
        break;
    case E_GENEVE_IP:
        udp = put_udp(f, 51234, 6081);
        put8(f, 0x00);
        put8(f, 0x00);
        put16(f, ethertype_of(in_ver));
        put32(f, 0x00abcd00);
        break;
    case E_GRE_IP:
        put16(f, 0x0000);
        put16(f, ethertype_of(in_ver));
        break;
    case E_GRE_CKS_IP:
        put16(f, 0xb000); /* C, K, S */
        put16(f, ethertype_of(in_ver));
        put32(f, 0xffff0000); /* checksum (not verified), reserved1 */
        put32(f, 0x00000007); /* key */
        put32(f, 0x00000042); /* sequence number */
        break;
    case E_GRETAP:
        put16(f, 0x2000); /* K */
        put16(f, 0x6558);
        put32(f, 0x00000001);
        break;
    case E_GRE_MPLS:
        put16(f, 0x0000);
        put16(f, 0x8847);
        put32(f, 0x00064140); /* label 100, bottom of stack, TTL 64 */
        break;
    case E_ERSPAN1:
        put16(f, 0x0000);
        put16(f, 0x88be);
        break;
    case E_ERSPAN2:
        put16(f, 0x1000); /* S */
        put16(f, 0x88be);
        put32(f, 0x00000001);
        put32(f, 0x10640005); /* version 1, VLAN 100, session 5 */
        put32(f, 0x00000009); /* index */
        break;
    case E_ERSPAN3:
    case E_ERSPAN3_O:
    case E_ERSPAN3_IP:
        put16(f, 0x1000);
        put16(f, 0x22eb);
        put32(f, 0x00000001);
        put32(f, 0x20640005); /* version 2, VLAN 100, session 5 */
        put32(f, 0x12345678); /* timestamp */
        put16(f, 0x0000);     /* SGT */
        put8(f, e == E_ERSPAN3_IP ? 2 << 2 : 0);
        put8(f, e == E_ERSPAN3_O ? 0x01 : 0x00);
        if (e == E_ERSPAN3_O)
            putfill(f, 0x5a, 8); /* platform specific subheader */
        break;
    case E_IPIP:
    case E__COUNT:
        proto = in_ver == 4 ? 4 : 41;
        break;
    }
    if (e == E_VXLAN || e == E_GENEVE_ETH || e == E_GENEVE_IP)
        proto = 17;
    if (encap_has_eth(e))
        put_eth_vlan(f, in_vlans, ethertype_of(in_ver));
    put_inner(f, in_ver);
    if (udp)
        end_udp(f, udp);
    return proto;
}

/* Ethernet (out_vlans tags), outer IP of out_ver, encapsulation e, the inner segment. */
static void build_encap(struct frame *f, int out_ver, int out_vlans, enum encap e, int in_ver,
                        int in_vlans)
{
    f->n = 0;
    put_eth_vlan(f, out_vlans, ethertype_of(out_ver));
    uint32_t ip = put_outer_ip(f, out_ver, 0);
    unsigned proto = put_encap(f, e, in_ver, in_vlans);
    f->b[ip + (out_ver == 4 ? 9 : 6)] = (uint8_t)proto;
    end_outer_ip(f, out_ver, ip);
}

/* Every encapsulation, IPv4 and IPv6 outside and inside, with VLAN tags outside and inside. */
static void test_encaps(void)
{
    struct frame f;
    char name[128];

    for (int e = 0; e < E__COUNT; e++) {
        for (int out_ver = 4; out_ver <= 6; out_ver += 2) {
            for (int in_ver = 4; in_ver <= 6; in_ver += 2) {
                if (e == E_GRE_MPLS && in_ver == 6)
                    continue; /* the label stack is built for IPv4 only */
                for (int vl = 0; vl < 3; vl++) {
                    int out_vlans = vl == 1 ? 1 : 0, in_vlans = vl == 2 ? 2 : 0;
                    if (in_vlans && !encap_has_eth((enum encap)e))
                        continue;
                    build_encap(&f, out_ver, out_vlans, (enum encap)e, in_ver, in_vlans);
                    unsigned q = FSC_QUIRK_TUNNEL | (vl ? FSC_QUIRK_VLAN : 0) |
                                 (e == E_GRE_MPLS ? FSC_QUIRK_MPLS : 0);
                    snprintf(name, sizeof name, "%s outer ipv%d inner ipv%d vlans %d/%d",
                             encap_names[e], out_ver, in_ver, out_vlans, in_vlans);
                    expect_tcp(name, T_DLT_EN10MB, &f, (unsigned)in_ver, q, PAYLOAD);
                    strcat(name, " prefixes");
                    expect_prefixes(name, T_DLT_EN10MB, &f);
                }
            }
        }
    }

    /* VXLAN in Geneve in GRE in IP-in-IP: four tunnels are decoded, a fifth is too deep. */
    f.n = 0;
    uint32_t ip1 = put_outer_ip(&f, 4, 4);
    uint32_t ip2 = put_outer_ip(&f, 4, 47);
    put16(&f, 0x0000);
    put16(&f, 0x86dd);
    uint32_t ip3 = put_outer_ip(&f, 6, 17);
    uint32_t udp3 = put_udp(&f, 1000, 6081);
    put32(&f, 0x000086dd);
    put32(&f, 0x00000100);
    uint32_t ip4 = put_outer_ip(&f, 6, 17);
    put_encap(&f, E_VXLAN, 4, 1);
    end_outer_ip(&f, 6, ip4);
    end_udp(&f, udp3);
    end_outer_ip(&f, 6, ip3);
    end_outer_ip(&f, 4, ip2);
    end_outer_ip(&f, 4, ip1);
    expect_tcp("four tunnels", T_DLT_RAW, &f, 4, FSC_QUIRK_TUNNEL | FSC_QUIRK_VLAN, PAYLOAD);
    expect_prefixes("four tunnels prefixes", T_DLT_RAW, &f);
    struct frame g;
    g.n = 0;
    uint32_t ip0 = put_outer_ip(&g, 6, 4);
    putn(&g, f.b, f.n);
    end_outer_ip(&g, 6, ip0);
    expect_skip("five tunnels", T_DLT_RAW, &g, FSC_SKIP_TUNNEL_TOO_DEEP);
    /* The deepest layer, when it is not a tunnel, is just UDP. */
    g.n = 0;
    ip0 = put_outer_ip(&g, 4, 4);
    ip1 = put_outer_ip(&g, 4, 4);
    ip2 = put_outer_ip(&g, 4, 4);
    ip3 = put_outer_ip(&g, 4, 4);
    ip4 = put_outer_ip(&g, 4, 17);
    uint32_t udp = put_udp(&g, 53, 5353);
    putfill(&g, 0, 20);
    end_udp(&g, udp);
    end_outer_ip(&g, 4, ip4);
    end_outer_ip(&g, 4, ip3);
    end_outer_ip(&g, 4, ip2);
    end_outer_ip(&g, 4, ip1);
    end_outer_ip(&g, 4, ip0);
    expect_skip("udp four tunnels deep", T_DLT_IPV4, &g, FSC_SKIP_NOT_TCP);
}

/* Build f as encapsulation e (IPv4 outside and inside), then let patch() break it. */
#define BAD(label, e, want, ...)                                                                   \
    do {                                                                                           \
        build_encap(&f, 4, 0, (e), 4, 0);                                                          \
        __VA_ARGS__;                                                                               \
        expect_skip(label, T_DLT_EN10MB, &f, (want));                                              \
    } while (0)

/* Offsets in a frame built by build_encap(.., 4, 0, e, 4, 0). */
enum {
    O_IP = 14,          /* outer IPv4 */
    O_L4 = 14 + 20,     /* UDP or GRE */
    O_TUN = 14 + 28,    /* VXLAN or Geneve header */
    O_ERSPAN = O_L4 + 8 /* after GRE with a sequence number */
};

/* Malformed and unsupported tunnel headers: one named reason each. */
static void test_encap_skips(void)
{
    struct frame f;

    BAD("vxlan I flag clear", E_VXLAN, FSC_SKIP_VXLAN_BAD, f.b[O_TUN] = 0);
    BAD("vxlan too short for ethernet", E_VXLAN, FSC_SKIP_VXLAN_BAD,
        set16(&f, O_L4 + 4, 8 + 8 + 13));
    BAD("vxlan inner arp", E_VXLAN, FSC_SKIP_NOT_IP, set16(&f, O_TUN + 8 + 12, 0x0806));
    BAD("vxlan inner ethernet cut", E_VXLAN, FSC_SKIP_LINK_TRUNCATED, f.n = O_TUN + 8 + 13);
    BAD("geneve version 1", E_GENEVE_ETH, FSC_SKIP_GENEVE_BAD, f.b[O_TUN] |= 0x40);
    BAD("geneve options beyond datagram", E_GENEVE_ETH, FSC_SKIP_GENEVE_BAD, f.b[O_TUN] = 0x3f);
    BAD("geneve shorter than header", E_GENEVE_IP, FSC_SKIP_GENEVE_BAD, set16(&f, O_L4 + 4, 8 + 7));
    BAD("geneve control message", E_GENEVE_IP, FSC_SKIP_TUNNEL_UNSUPPORTED, f.b[O_TUN + 1] = 0x80);
    BAD("geneve unknown protocol", E_GENEVE_IP, FSC_SKIP_TUNNEL_UNSUPPORTED,
        set16(&f, O_TUN + 2, 0x894f));
    BAD("gre version 1 (pptp)", E_GRE_IP, FSC_SKIP_TUNNEL_UNSUPPORTED, set16(&f, O_L4, 0x0001));
    BAD("gre version 3", E_GRE_IP, FSC_SKIP_GRE_BAD, set16(&f, O_L4, 0x0003));
    BAD("gre routing", E_GRE_IP, FSC_SKIP_TUNNEL_UNSUPPORTED, set16(&f, O_L4, 0x4000));
    BAD("gre ppp", E_GRE_IP, FSC_SKIP_TUNNEL_UNSUPPORTED, set16(&f, O_L4 + 2, 0x880b));
    BAD("gre fields beyond ip payload", E_GRE_IP, FSC_SKIP_GRE_BAD, set16(&f, O_L4, 0xb000);
        f.n = O_L4 + 8; set16(&f, O_IP + 2, 28));
    BAD("gre shorter than header", E_GRE_IP, FSC_SKIP_GRE_BAD, f.n = O_L4 + 3;
        set16(&f, O_IP + 2, 23));
    BAD("gre cut", E_GRE_CKS_IP, FSC_SKIP_IP_TRUNCATED, f.n = O_L4 + 10);
    BAD("gretap inner ipx", E_GRETAP, FSC_SKIP_NOT_IP, set16(&f, O_L4 + 8 + 12, 0x8137));
    BAD("erspan ii version 2", E_ERSPAN2, FSC_SKIP_ERSPAN_BAD, f.b[O_ERSPAN] = 0x20);
    BAD("erspan ii header beyond gre", E_ERSPAN2, FSC_SKIP_ERSPAN_BAD, f.n = O_ERSPAN + 7;
        set16(&f, O_IP + 2, f.n - O_IP));
    BAD("erspan iii version 1", E_ERSPAN3, FSC_SKIP_ERSPAN_BAD, f.b[O_ERSPAN] = 0x10);
    BAD("erspan iii subheader beyond gre", E_ERSPAN3, FSC_SKIP_ERSPAN_BAD,
        f.b[O_ERSPAN + 11] = 0x01;
        f.n = O_ERSPAN + 12 + 7; set16(&f, O_IP + 2, f.n - O_IP));
    BAD("erspan iii reserved frame type", E_ERSPAN3, FSC_SKIP_TUNNEL_UNSUPPORTED,
        f.b[O_ERSPAN + 10] = 5 << 2);
    BAD("erspan iii ip not ip", E_ERSPAN3_IP, FSC_SKIP_IP_BAD_VERSION, f.b[O_ERSPAN + 12] = 0x55);
    BAD("ipip inner ipv6", E_IPIP, FSC_SKIP_IP_BAD_VERSION, f.b[O_L4] = 0x60);
    BAD("6in4 inner ipv4", E_IPIP, FSC_SKIP_IP_BAD_VERSION, f.b[O_IP + 9] = 41);
    BAD("ip protocol 97 (etherip)", E_IPIP, FSC_SKIP_NOT_TCP, f.b[O_IP + 9] = 97);
    /* The inner packet ends with the outer one: trailing bytes are not inner payload. */
    BAD("ipip inner longer than outer", E_IPIP, FSC_SKIP_NONE,
        set16(&f, O_IP + 2, 20 + 20 + 20 + 2));
    struct fsc_pkt p;
    build_encap(&f, 4, 0, E_IPIP, 4, 0);
    set16(&f, O_IP + 2, 20 + 20 + 20 + 2);
    check(decode_reason(T_DLT_EN10MB, &f, &p) == FSC_SKIP_NONE &&
              (p.quirks & FSC_QUIRK_PAYLOAD_CUT) && p.payload_len == PAYLOAD,
          "ipip inner cut by outer length", "quirks %#x payload %u", p.quirks,
          (unsigned)p.payload_len);
}
#undef BAD

/* Fragments: what fsc_decode_frag reports, at the outer layer and inside a tunnel. */
static void test_fragments(void)
{
    struct frame f;
    struct fsc_pkt p;
    struct fsc_frag fr;

    /* IPv4: the second 16 bytes of a datagram, more to come. */
    f.n = 0;
    put_eth(&f, 0x0800);
    uint32_t ip = put_ip4(&f, 5, 5, PAYLOAD);
    set16(&f, ip + 6, 0x2002); /* MF, offset 2 * 8 */
    memset(&fr, 0, sizeof fr);
    enum fsc_skip r = fsc_decode_frag(T_DLT_EN10MB, f.b, f.n, &p, &fr);
    check(r == FSC_SKIP_IP_FRAGMENT && fr.ip_version == 4 && fr.id == 0x1234 && fr.proto == 6 &&
              fr.more && fr.offset == 16 && fr.len == 20 + PAYLOAD && fr.caplen == 20 + PAYLOAD &&
              fr.data == f.b + ip + 20 && fr.depth == 0 && fr.quirks == 0 &&
              memcmp(fr.src.b, SRC4, 4) == 0 && memcmp(fr.dst.b, DST4, 4) == 0,
          "ipv4 fragment", "got %s id %#x off %u len %u cap %u", fsc_skip_name(r), (unsigned)fr.id,
          (unsigned)fr.offset, (unsigned)fr.len, (unsigned)fr.caplen);
    check(fsc_decode(T_DLT_EN10MB, f.b, f.n, &p) == FSC_SKIP_IP_FRAGMENT, "ipv4 fragment stateless",
          "not ip_fragment");
    /* Cut by the snaplen: caplen says how much is there. */
    r = fsc_decode_frag(T_DLT_EN10MB, f.b, f.n - 7, &p, &fr);
    check(r == FSC_SKIP_IP_FRAGMENT && fr.len == 20 + PAYLOAD && fr.caplen == 20 + PAYLOAD - 7,
          "ipv4 fragment cut", "len %u cap %u", (unsigned)fr.len, (unsigned)fr.caplen);
    /* Last fragment with padding: the padding is not part of it, nor a quirk of the datagram. */
    set16(&f, ip + 6, 0x0003);
    putfill(&f, 0, 6);
    r = fsc_decode_frag(T_DLT_EN10MB, f.b, f.n, &p, &fr);
    check(r == FSC_SKIP_IP_FRAGMENT && !fr.more && fr.offset == 24 && fr.caplen == 20 + PAYLOAD &&
              fr.quirks == 0,
          "ipv4 last fragment padded", "more %d off %u cap %u quirks %#x", fr.more,
          (unsigned)fr.offset, (unsigned)fr.caplen, fr.quirks);

    /* IPv6 fragment header after a hop-by-hop header, inside VXLAN with an inner VLAN tag. */
    static const uint8_t ext[16] = {
        44, 0, 0x01, 0x04, 0,    0,    0,    0,    /* hop-by-hop: next fragment, PadN */
        6,  0, 0x05, 0x41, 0xca, 0xfe, 0xf0, 0x0d, /* fragment: offset 168, M, id 0xcafef00d */
    };
    f.n = 0;
    put_eth(&f, 0x0800);
    uint32_t oip = put_outer_ip(&f, 4, 17);
    uint32_t udp = put_udp(&f, 1, 4789);
    put32(&f, 0x08000000);
    put32(&f, 0x00000100);
    put_eth_vlan(&f, 1, 0x86dd);
    ip = put_ip6(&f, 0, ext, sizeof ext, 5, PAYLOAD);
    end_udp(&f, udp);
    end_outer_ip(&f, 4, oip);
    r = fsc_decode_frag(T_DLT_EN10MB, f.b, f.n, &p, &fr);
    check(r == FSC_SKIP_IP_FRAGMENT && fr.ip_version == 6 && fr.id == 0xcafef00d && fr.proto == 6 &&
              fr.more && fr.offset == 0x540 && fr.len == 20 + PAYLOAD &&
              fr.caplen == 20 + PAYLOAD && fr.data == f.b + ip + 40 + 16 && fr.depth == 1 &&
              fr.quirks == (FSC_QUIRK_TUNNEL | FSC_QUIRK_VLAN | FSC_QUIRK_IP_OPTIONS) &&
              memcmp(fr.src.b, SRC6, 16) == 0,
          "ipv6 fragment in vxlan", "got %s id %#x off %u depth %u quirks %#x", fsc_skip_name(r),
          (unsigned)fr.id, (unsigned)fr.offset, fr.depth, fr.quirks);

    /* A reassembled datagram: decoded from its IP header with the context given. */
    f.n = 0;
    put_ip4(&f, 5, 5, PAYLOAD);
    memset(&p, 0x5a, sizeof p);
    p.ts = 7;
    p.number = 8;
    r = fsc_decode_datagram(f.b, f.n, 4, 1, FSC_QUIRK_TUNNEL, &p, NULL);
    check(r == FSC_SKIP_NONE && p.sport == SPORT && p.payload_len == PAYLOAD && p.ts == 7 &&
              p.number == 8 && p.quirks == (FSC_QUIRK_TUNNEL | FSC_QUIRK_REASSEMBLED),
          "datagram", "got %s quirks %#x", fsc_skip_name(r), p.quirks);
    /* A reassembled outer datagram carrying GRE carrying a fragment. */
    f.n = 0;
    oip = put_outer_ip(&f, 6, 47);
    put32(&f, 0x00000800);
    ip = put_ip4(&f, 5, 5, PAYLOAD);
    set16(&f, ip + 6, 0x2000);
    end_outer_ip(&f, 6, oip);
    r = fsc_decode_datagram(f.b, f.n, 6, 0, FSC_QUIRK_VLAN, &p, &fr);
    check(r == FSC_SKIP_IP_FRAGMENT && fr.depth == 1 && fr.offset == 0 && fr.more &&
              fr.quirks == (FSC_QUIRK_VLAN | FSC_QUIRK_REASSEMBLED | FSC_QUIRK_TUNNEL),
          "datagram carrying a fragment", "got %s depth %u quirks %#x", fsc_skip_name(r), fr.depth,
          fr.quirks);
    check(fsc_decode_datagram(f.b, f.n, 5, 0, 0, &p, NULL) == FSC_SKIP_IP_BAD_VERSION,
          "datagram version 5", "accepted");
    check(fsc_decode_datagram(f.b, f.n, 6, FSC_MAX_TUNNEL_DEPTH + 1, 0, &p, NULL) ==
              FSC_SKIP_TUNNEL_TOO_DEEP,
          "datagram too deep", "accepted");
}

static void test_names(void)
{
    static const char *const want[FSC_SKIP__COUNT] = {
        "none",
        "link_unsupported",
        "link_truncated",
        "not_ip",
        "ip_truncated",
        "ip_bad_version",
        "ip_bad_header_length",
        "ip_bad_total_length",
        "ip_fragment",
        "ip6_extension_bad",
        "not_tcp",
        "tcp_truncated",
        "tcp_bad_header_length",
        "tcp_port_zero",
        "filtered",
        "tunnel_too_deep",
        "tunnel_unsupported",
        "vxlan_bad",
        "geneve_bad",
        "gre_bad",
        "erspan_bad",
        "ip_fragment_bad",
        "ip_fragment_reassembled",
        "ip_fragment_overlap",
        "ip_fragment_timeout",
        "ip_fragment_too_many",
        "ip_fragment_incomplete",
    };
    bool ok = true;
    for (int i = 0; i < FSC_SKIP__COUNT; i++) {
        const char *got = fsc_skip_name((enum fsc_skip)i);
        if (!got || strcmp(got, want[i]) != 0) {
            ok = false;
            printf("FAIL skip name %d: got %s want %s\n", i, got ? got : "(null)", want[i]);
        }
    }
    check(ok, "skip names", "tokens differ");
    check(strcmp(fsc_skip_name(FSC_SKIP__COUNT), "unknown") == 0, "skip name out of range",
          "got %s", fsc_skip_name(FSC_SKIP__COUNT));

    static const int yes[] = {0, 1, 12, 14, 101, 108, 113, 228, 229, 276};
    static const int no[] = {-1, 9, 105, 127, 147, 192, 277};
    ok = true;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        ok = ok && fsc_decode_link_supported(yes[i]);
    check(ok, "links supported", "a supported link type was refused");
    ok = true;
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        ok = ok && !fsc_decode_link_supported(no[i]);
    check(ok, "links unsupported", "an unsupported link type was accepted");
}

int main(void)
{
    test_link_types();
    test_ip_variants();
    test_skips();
    test_tunnels();
    test_encaps();
    test_encap_skips();
    test_fragments();
    test_names();
    printf("decode: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
