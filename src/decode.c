/*
 * decode.c - link, IP and TCP header decoding of one captured frame, through tunnels (Teredo,
 * GTP-U, VXLAN, Geneve, GRE, ERSPAN, IP-in-IP): a ladder of length checks.
 */
#include "finscope/decode.h"

#include <string.h>

/*
 * Link types by number (pcap-linktype(7)), so this file needs no pcap.h.  DLT_RAW is 12 on most
 * systems, 14 on OpenBSD, and LINKTYPE_RAW (101) in savefiles.
 */
enum {
    DLT_NUM_NULL = 0,
    DLT_NUM_EN10MB = 1,
    DLT_NUM_RAW_12 = 12,
    DLT_NUM_RAW_14 = 14,
    DLT_NUM_LINKTYPE_RAW = 101,
    DLT_NUM_LOOP = 108,
    DLT_NUM_LINUX_SLL = 113,
    DLT_NUM_IPV4 = 228,
    DLT_NUM_IPV6 = 229,
    DLT_NUM_LINUX_SLL2 = 276,
};

/* Header sizes in bytes. */
enum {
    NULL_HDR_LEN = 4,     /* DLT_NULL / DLT_LOOP address family word */
    ETH_HDR_LEN = 14,     /* dst, src, ethertype */
    VLAN_TAG_LEN = 4,     /* TCI, inner ethertype (IEEE 802.1Q) */
    MPLS_LABEL_LEN = 4,   /* label, TC, S, TTL (RFC 3032 section 2.1) */
    PPPOE_HDR_LEN = 6,    /* ver/type, code, session id, length (RFC 2516 section 4) */
    PPP_PROTO_LEN = 2,    /* PPP protocol field (RFC 1661 section 2) */
    SLL_HDR_LEN = 16,     /* Linux cooked capture v1 */
    SLL2_HDR_LEN = 20,    /* Linux cooked capture v2 */
    IP4_MIN_HDR_LEN = 20, /* RFC 791 section 3.1 */
    IP6_HDR_LEN = 40,     /* RFC 8200 section 3 */
    IP6_FRAG_HDR_LEN = 8, /* RFC 8200 section 4.5 */
    TCP_MIN_HDR_LEN = 20, /* RFC 9293 section 3.1 */
    UDP_HDR_LEN = 8,      /* RFC 768 */
    /* Teredo authentication: indicator 2, id-len 1, auth-len 1, nonce 8, confirmation 1, without
       the client identifier and authentication value (RFC 4380 section 5.1.1). */
    TEREDO_AUTH_MIN_LEN = 13,
    TEREDO_ORIGIN_LEN = 8,    /* indicator 2, port 2, address 4 (RFC 4380 section 5.1.1) */
    GTP_HDR_LEN = 8,          /* flags, type, length, TEID (3GPP TS 29.281 section 5.1) */
    GTP_OPT_LEN = 4,          /* sequence number, N-PDU number, next extension header type */
    VXLAN_HDR_LEN = 8,        /* flags, reserved, VNI, reserved (RFC 7348 section 5) */
    GENEVE_HDR_LEN = 8,       /* without options (RFC 8926 section 3.4) */
    GRE_HDR_LEN = 4,          /* flags and version, protocol type (RFC 2784 section 2) */
    GRE_OPT_LEN = 4,          /* each of checksum+reserved1, key, sequence number (RFC 2890) */
    ERSPAN2_HDR_LEN = 8,      /* version, VLAN, COS, En, T, session, index */
    ERSPAN3_HDR_LEN = 12,     /* version, VLAN, COS, BSO, T, session, timestamp, SGT, P, FT, ... */
    ERSPAN3_PLATFORM_LEN = 8, /* platform specific subheader, present when O is set */
};

/* Caps on chains that input can grow. */
enum {
    MAX_VLAN_TAGS = 8,
    MAX_MPLS_LABELS = 16,
    MAX_IP6_EXT_HDRS = 16,
    MAX_GTP_EXT_HDRS = 8,
};

enum {
    UDP_PORT_GTP_U = 2152,       /* 3GPP TS 29.281 section 4.4.2 */
    UDP_PORT_TEREDO = 3544,      /* RFC 4380 section 5.2 (Teredo servers) */
    GTP_FLAG_E = 0x04,           /* extension header follows */
    GTP_FLAG_S = 0x02,           /* sequence number present */
    GTP_FLAG_PN = 0x01,          /* N-PDU number present */
    GTP_TYPE_G_PDU = 0xff,       /* user data: a tunnelled IP packet */
    TEREDO_PREFIX = 0x20010000u, /* 2001:0::/32, every Teredo address (RFC 4380 section 2.6) */
    UDP_PORT_VXLAN = 4789,       /* RFC 7348 section 5 (IANA) */
    UDP_PORT_GENEVE = 6081,      /* RFC 8926 section 3.3 (IANA) */
    VXLAN_FLAG_I = 0x08,         /* valid VNI; MUST be set (RFC 7348 section 5) */
    GENEVE_FLAG_O = 0x80,        /* control (OAM) message, no user data (RFC 8926 section 3.4) */
    GRE_FLAG_C = 0x8000,         /* checksum present (RFC 2784) */
    GRE_FLAG_R = 0x4000,         /* routing present (RFC 1701 only) */
    GRE_FLAG_K = 0x2000,         /* key present (RFC 2890) */
    GRE_FLAG_S = 0x1000,         /* sequence number present (RFC 2890) */
    GRE_VERSION_MASK = 0x0007,   /* 0: GRE; 1: PPTP's enhanced GRE (RFC 2637) */
    ERSPAN2_VERSION = 1,         /* the 4-bit version of a type II header */
    ERSPAN3_VERSION = 2,         /* the 4-bit version of a type III header */
    ERSPAN3_FT_ETHERNET = 0,     /* type III frame type: Ethernet frame */
    ERSPAN3_FT_IP = 2,           /* type III frame type: IP packet */
};

enum {
    ETHERTYPE_IPV4 = 0x0800,
    ETHERTYPE_IPV6 = 0x86DD,
    ETHERTYPE_VLAN = 0x8100, /* IEEE 802.1Q */
    ETHERTYPE_QINQ = 0x88A8, /* IEEE 802.1ad */
    ETHERTYPE_QINQ_OLD = 0x9100,
    ETHERTYPE_MPLS = 0x8847,
    ETHERTYPE_MPLS_MC = 0x8848,
    ETHERTYPE_PPPOE_SESS = 0x8864,
    ETHERTYPE_TEB = 0x6558,     /* transparent Ethernet bridging (GRE, Geneve) */
    ETHERTYPE_ERSPAN2 = 0x88BE, /* ERSPAN type I (no S bit) and II, as a GRE protocol type */
    ETHERTYPE_ERSPAN3 = 0x22EB, /* ERSPAN type III, as a GRE protocol type */
    ETHERTYPE_MIN = 0x0600,     /* below this the field is an 802.3 length */
    PPP_PROTO_IPV4 = 0x0021,
    PPP_PROTO_IPV6 = 0x0057,
};

/* Address families as DLT_NULL/DLT_LOOP carry them; IPv6 differs between the BSDs. */
enum {
    BSD_AF_INET = 2,
    BSD_AF_INET6_NETBSD = 24, /* also OpenBSD */
    BSD_AF_INET6_FREEBSD = 28,
    BSD_AF_INET6_DARWIN = 30,
};

enum {
    IPPROTO_NUM_HOPOPTS = 0,
    IPPROTO_NUM_IPIP = 4, /* IPv4 in IP (RFC 2003) */
    IPPROTO_NUM_TCP = 6,
    IPPROTO_NUM_UDP = 17,
    IPPROTO_NUM_IPV6 = 41, /* IPv6 in IP (RFC 4213: 6in4; RFC 2473) */
    IPPROTO_NUM_ROUTING = 43,
    IPPROTO_NUM_FRAGMENT = 44,
    IPPROTO_NUM_GRE = 47,
    IPPROTO_NUM_ESP = 50,
    IPPROTO_NUM_AH = 51,
    IPPROTO_NUM_NONE = 59,
    IPPROTO_NUM_DSTOPTS = 60,
    IPPROTO_NUM_MOBILITY = 135,
};

/*
 * Bounded cursor over the captured bytes.  pos is the start of the current header; every read is
 * relative to it and returns 0 past the end, so even a missing length check cannot read beyond
 * caplen.  The ladder below still checks lengths first, so a 0 is never mistaken for data.
 */
struct cursor {
    const uint8_t *base;
    uint32_t len; /* captured bytes (caplen) */
    uint32_t pos; /* always <= len */
};

/* Captured bytes from the current position to the end of the capture. */
static inline uint32_t cur_left(const struct cursor *c)
{
    return c->len - c->pos;
}

/* Whether n bytes at offset off (from pos) are captured. */
static inline bool cur_has(const struct cursor *c, uint32_t off, uint32_t n)
{
    uint32_t left = cur_left(c);
    return off <= left && n <= left - off;
}

static inline uint8_t cur_u8(const struct cursor *c, uint32_t off)
{
    return cur_has(c, off, 1) ? c->base[c->pos + off] : 0;
}

static inline uint16_t cur_be16(const struct cursor *c, uint32_t off)
{
    if (!cur_has(c, off, 2))
        return 0;
    const uint8_t *p = c->base + c->pos + off;
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t cur_be32(const struct cursor *c, uint32_t off)
{
    if (!cur_has(c, off, 4))
        return 0;
    const uint8_t *p = c->base + c->pos + off;
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint32_t cur_le32(const struct cursor *c, uint32_t off)
{
    if (!cur_has(c, off, 4))
        return 0;
    const uint8_t *p = c->base + c->pos + off;
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* Copy n bytes at off into dst; false (dst untouched) if they are not all captured. */
static inline bool cur_copy(const struct cursor *c, uint32_t off, uint8_t *dst, uint32_t n)
{
    if (!cur_has(c, off, n))
        return false;
    memcpy(dst, c->base + c->pos + off, n);
    return true;
}

/* Move pos forward by n; false (pos unchanged) if fewer than n bytes are captured. */
static inline bool cur_skip(struct cursor *c, uint32_t n)
{
    if (!cur_has(c, 0, n))
        return false;
    c->pos += n;
    return true;
}

/* Stop the cursor n bytes after pos (when more are captured), so an inner packet ends there. */
static inline void cur_limit(struct cursor *c, uint32_t n)
{
    if (cur_left(c) > n)
        c->len = c->pos + n;
}

static const char *const skip_names[FSC_SKIP__COUNT] = {
    [FSC_SKIP_NONE] = "none",
    [FSC_SKIP_LINK_UNSUPPORTED] = "link_unsupported",
    [FSC_SKIP_LINK_TRUNCATED] = "link_truncated",
    [FSC_SKIP_NOT_IP] = "not_ip",
    [FSC_SKIP_IP_TRUNCATED] = "ip_truncated",
    [FSC_SKIP_IP_BAD_VERSION] = "ip_bad_version",
    [FSC_SKIP_IP_BAD_HDR_LEN] = "ip_bad_header_length",
    [FSC_SKIP_IP_BAD_TOTAL_LEN] = "ip_bad_total_length",
    [FSC_SKIP_IP_FRAGMENT] = "ip_fragment",
    [FSC_SKIP_IP6_EXT_BAD] = "ip6_extension_bad",
    [FSC_SKIP_NOT_TCP] = "not_tcp",
    [FSC_SKIP_TCP_TRUNCATED] = "tcp_truncated",
    [FSC_SKIP_TCP_BAD_HDR_LEN] = "tcp_bad_header_length",
    [FSC_SKIP_TCP_PORT_ZERO] = "tcp_port_zero",
    [FSC_SKIP_FILTERED] = "filtered",
    [FSC_SKIP_TUNNEL_TOO_DEEP] = "tunnel_too_deep",
    [FSC_SKIP_TUNNEL_UNSUPPORTED] = "tunnel_unsupported",
    [FSC_SKIP_VXLAN_BAD] = "vxlan_bad",
    [FSC_SKIP_GENEVE_BAD] = "geneve_bad",
    [FSC_SKIP_GRE_BAD] = "gre_bad",
    [FSC_SKIP_ERSPAN_BAD] = "erspan_bad",
    [FSC_SKIP_FRAG_BAD] = "ip_fragment_bad",
    [FSC_SKIP_FRAG_REASSEMBLED] = "ip_fragment_reassembled",
    [FSC_SKIP_FRAG_OVERLAP] = "ip_fragment_overlap",
    [FSC_SKIP_FRAG_TIMEOUT] = "ip_fragment_timeout",
    [FSC_SKIP_FRAG_TOO_MANY] = "ip_fragment_too_many",
    [FSC_SKIP_FRAG_INCOMPLETE] = "ip_fragment_incomplete",
};

const char *fsc_skip_name(enum fsc_skip reason)
{
    if ((unsigned)reason >= FSC_SKIP__COUNT)
        return "unknown";
    return skip_names[reason];
}

bool fsc_decode_link_supported(int dlt)
{
    switch (dlt) {
    case DLT_NUM_NULL:
    case DLT_NUM_EN10MB:
    case DLT_NUM_RAW_12:
    case DLT_NUM_RAW_14:
    case DLT_NUM_LINKTYPE_RAW:
    case DLT_NUM_LOOP:
    case DLT_NUM_LINUX_SLL:
    case DLT_NUM_LINUX_SLL2:
    case DLT_NUM_IPV4:
    case DLT_NUM_IPV6:
        return true;
    default:
        return false;
    }
}

/*
 * The IP version a link header announced: 4 or 6, or 0 for "read it from the first nibble"
 * (raw IP, MPLS payload).
 */
typedef int ip_hint;

/*
 * MPLS label stack (RFC 3032): skip labels up to the one with the bottom-of-stack bit, then guess
 * IPv4/IPv6 from the payload's first nibble, as there is no protocol field.
 */
static enum fsc_skip decode_mpls(struct cursor *c, struct fsc_pkt *out, ip_hint *hint)
{
    out->quirks |= FSC_QUIRK_MPLS;
    for (int n = 0;; n++) {
        if (n >= MAX_MPLS_LABELS)
            return FSC_SKIP_NOT_IP; /* deeper stacks than any real network uses */
        if (!cur_has(c, 0, MPLS_LABEL_LEN))
            return FSC_SKIP_LINK_TRUNCATED; /* label stack entry cut off */
        bool bottom = (cur_u8(c, 2) & 0x01) != 0;
        cur_skip(c, MPLS_LABEL_LEN);
        if (bottom)
            break;
    }
    if (!cur_has(c, 0, 1))
        return FSC_SKIP_IP_TRUNCATED; /* nothing after the stack to identify */
    switch (cur_u8(c, 0) >> 4) {
    case 4:
        *hint = 4;
        return FSC_SKIP_NONE;
    case 6:
        *hint = 6;
        return FSC_SKIP_NONE;
    default:
        return FSC_SKIP_NOT_IP; /* pseudowire control word, Ethernet over MPLS, ... */
    }
}

/* PPPoE session stage (RFC 2516 section 4) followed by the PPP protocol field (RFC 1661). */
static enum fsc_skip decode_pppoe(struct cursor *c, struct fsc_pkt *out, ip_hint *hint)
{
    out->quirks |= FSC_QUIRK_PPPOE;
    if (!cur_has(c, 0, PPPOE_HDR_LEN + PPP_PROTO_LEN))
        return FSC_SKIP_LINK_TRUNCATED; /* PPPoE header or PPP protocol cut off */
    uint16_t proto = cur_be16(c, PPPOE_HDR_LEN);
    cur_skip(c, PPPOE_HDR_LEN + PPP_PROTO_LEN);
    if (proto == PPP_PROTO_IPV4)
        *hint = 4;
    else if (proto == PPP_PROTO_IPV6)
        *hint = 6;
    else
        return FSC_SKIP_NOT_IP; /* LCP, IPCP, CHAP, ... */
    return FSC_SKIP_NONE;
}

/*
 * Dispatch on an ethertype whose 2 bytes the caller has already consumed: IP directly, or through
 * stacked VLAN tags, an MPLS label stack or a PPPoE session.
 */
static enum fsc_skip decode_ethertype(struct cursor *c, uint16_t type, struct fsc_pkt *out,
                                      ip_hint *hint)
{
    for (int tags = 0;; tags++) {
        switch (type) {
        case ETHERTYPE_IPV4:
            *hint = 4;
            return FSC_SKIP_NONE;
        case ETHERTYPE_IPV6:
            *hint = 6;
            return FSC_SKIP_NONE;
        case ETHERTYPE_VLAN:
        case ETHERTYPE_QINQ:
        case ETHERTYPE_QINQ_OLD:
            if (tags >= MAX_VLAN_TAGS)
                return FSC_SKIP_NOT_IP; /* more tags than QinQ-in-QinQ ever needs */
            out->quirks |= FSC_QUIRK_VLAN;
            if (!cur_has(c, 0, VLAN_TAG_LEN))
                return FSC_SKIP_LINK_TRUNCATED; /* VLAN tag cut off */
            type = cur_be16(c, 2);
            cur_skip(c, VLAN_TAG_LEN);
            break;
        case ETHERTYPE_MPLS:
        case ETHERTYPE_MPLS_MC:
            return decode_mpls(c, out, hint);
        case ETHERTYPE_PPPOE_SESS:
            return decode_pppoe(c, out, hint);
        default:
            /* Below 0x0600 it is an 802.3 length (LLC/SNAP frames); above, ARP, LLDP, ... */
            return FSC_SKIP_NOT_IP;
        }
    }
}

/*
 * An Ethernet header (which may carry VLAN tags, MPLS, PPPoE): the link, or a tunnel's payload.
 * Inlined: the link is the hot path, and a call here cost ~15 instructions a packet.
 */
static inline __attribute__((always_inline)) enum fsc_skip
decode_eth(struct cursor *c, struct fsc_pkt *out, ip_hint *hint)
{
    if (!cur_has(c, 0, ETH_HDR_LEN))
        return FSC_SKIP_LINK_TRUNCATED; /* Ethernet header cut off */
    uint16_t type = cur_be16(c, 12);
    cur_skip(c, ETH_HDR_LEN);
    return decode_ethertype(c, type, out, hint);
}

/*
 * DLT_NULL stores the address family in the capturing host's byte order, which the savefile
 * does not record, so both orders are tried; DLT_LOOP stores it in network order.
 */
static enum fsc_skip decode_af(struct cursor *c, bool both_orders, ip_hint *hint)
{
    if (!cur_has(c, 0, NULL_HDR_LEN))
        return FSC_SKIP_LINK_TRUNCATED; /* address family word cut off */
    uint32_t be = cur_be32(c, 0);
    uint32_t le = both_orders ? cur_le32(c, 0) : be;
    cur_skip(c, NULL_HDR_LEN);
    if (be == BSD_AF_INET || le == BSD_AF_INET) {
        *hint = 4;
        return FSC_SKIP_NONE;
    }
    for (int i = 0; i < 2; i++) {
        uint32_t af = i ? le : be;
        if (af == BSD_AF_INET6_NETBSD || af == BSD_AF_INET6_FREEBSD || af == BSD_AF_INET6_DARWIN) {
            *hint = 6;
            return FSC_SKIP_NONE;
        }
    }
    return FSC_SKIP_NOT_IP;
}

/* Consume the link header(s) for dlt, leaving c at the start of the IP header. */
static enum fsc_skip decode_link(int dlt, struct cursor *c, struct fsc_pkt *out, ip_hint *hint)
{
    uint16_t type;

    *hint = 0;
    switch (dlt) {
    case DLT_NUM_EN10MB:
        return decode_eth(c, out, hint);
    case DLT_NUM_LINUX_SLL:
        if (!cur_has(c, 0, SLL_HDR_LEN))
            return FSC_SKIP_LINK_TRUNCATED; /* cooked header cut off */
        type = cur_be16(c, 14);
        cur_skip(c, SLL_HDR_LEN);
        return decode_ethertype(c, type, out, hint);
    case DLT_NUM_LINUX_SLL2:
        if (!cur_has(c, 0, SLL2_HDR_LEN))
            return FSC_SKIP_LINK_TRUNCATED; /* cooked v2 header cut off */
        type = cur_be16(c, 0);
        cur_skip(c, SLL2_HDR_LEN);
        return decode_ethertype(c, type, out, hint);
    case DLT_NUM_NULL:
        return decode_af(c, true, hint);
    case DLT_NUM_LOOP:
        return decode_af(c, false, hint);
    case DLT_NUM_RAW_12:
    case DLT_NUM_RAW_14:
    case DLT_NUM_LINKTYPE_RAW:
        return FSC_SKIP_NONE; /* version from the first nibble */
    case DLT_NUM_IPV4:
        *hint = 4;
        return FSC_SKIP_NONE;
    case DLT_NUM_IPV6:
        *hint = 6;
        return FSC_SKIP_NONE;
    default:
        return FSC_SKIP_LINK_UNSUPPORTED;
    }
}

/*
 * Where the TCP header may lie, as the IP layer found it.  payload is what the IP length fields
 * promise from the current cursor position; len_from_cap marks an IPv4 total length of 0 (TSO
 * capture on Linux) where that promise was taken from the captured length instead.
 */
struct ip_span {
    uint32_t payload;
    bool len_from_cap;
    /* Set with FSC_SKIP_IP_FRAGMENT: the fragment's place; payload is then the fragment's. */
    bool more;
    uint32_t offset, id;
};

/* IPv4 header (RFC 791 section 3.1); leaves c at the transport header, its protocol in *proto. */
static inline __attribute__((always_inline)) enum fsc_skip
decode_ipv4(struct cursor *c, struct fsc_pkt *out, struct ip_span *span, uint8_t *proto)
{
    if (!cur_has(c, 0, 1))
        return FSC_SKIP_IP_TRUNCATED; /* not even the version byte */
    uint8_t vihl = cur_u8(c, 0);
    if (vihl >> 4 != 4)
        return FSC_SKIP_IP_BAD_VERSION; /* link said IPv4 */
    uint32_t hlen = (uint32_t)(vihl & 0x0f) * 4;
    if (hlen < IP4_MIN_HDR_LEN)
        return FSC_SKIP_IP_BAD_HDR_LEN; /* IHL < 5 */
    if (!cur_has(c, 0, hlen))
        return FSC_SKIP_IP_TRUNCATED; /* header (with options) cut off */

    uint32_t total = cur_be16(c, 2);
    uint32_t left = cur_left(c);
    span->len_from_cap = false;
    if (total == 0) {
        /* Linux TSO/GSO captures leave total length 0 on segments above 64 KiB. */
        total = left;
        span->len_from_cap = true;
    } else if (total < hlen) {
        return FSC_SKIP_IP_BAD_TOTAL_LEN; /* total length shorter than the header */
    }
    uint16_t frag = cur_be16(c, 6);
    *proto = cur_u8(c, 9);

    if (hlen > IP4_MIN_HDR_LEN)
        out->quirks |= FSC_QUIRK_IP_OPTIONS;
    out->ip_version = 4;
    /* An outer IPv6 header (tunnel) may have filled all 16 bytes: IPv4 keeps 12 zero bytes. */
    memset(&out->src, 0, sizeof(out->src));
    memset(&out->dst, 0, sizeof(out->dst));
    cur_copy(c, 12, out->src.b, 4);
    cur_copy(c, 16, out->dst.b, 4);
    span->payload = total - hlen;
    if ((frag & 0x2000) != 0 || (frag & 0x1fff) != 0) {
        /* MF set or offset != 0 (RFC 791 section 3.1): the caller may reassemble it. */
        span->more = (frag & 0x2000) != 0;
        span->offset = (uint32_t)(frag & 0x1fff) * 8;
        span->id = cur_be16(c, 4);
        cur_skip(c, hlen);
        return FSC_SKIP_IP_FRAGMENT;
    }
    if (left > total)
        out->quirks |= FSC_QUIRK_IP_PADDING; /* Ethernet minimum-frame padding, FCS, ... */
    cur_skip(c, hlen);
    return FSC_SKIP_NONE;
}

/*
 * IPv6 header and extension header chain (RFC 8200 sections 3 and 4); leaves c at the transport
 * header (or ESP, no next header, ...), its protocol in *proto.  A chain running past the payload
 * length is malformed; one running past the capture is cut.
 */
static inline __attribute__((always_inline)) enum fsc_skip
decode_ipv6(struct cursor *c, struct fsc_pkt *out, struct ip_span *span, uint8_t *proto)
{
    if (!cur_has(c, 0, 1))
        return FSC_SKIP_IP_TRUNCATED; /* not even the version byte */
    if (cur_u8(c, 0) >> 4 != 6)
        return FSC_SKIP_IP_BAD_VERSION; /* link said IPv6 */
    if (!cur_has(c, 0, IP6_HDR_LEN))
        return FSC_SKIP_IP_TRUNCATED; /* fixed header cut off */
    uint32_t plen = cur_be16(c, 4);
    if (plen == 0)
        return FSC_SKIP_IP_BAD_TOTAL_LEN; /* jumbogram (RFC 2675): not decoded */
    uint8_t next = cur_u8(c, 6);
    out->ip_version = 6;
    cur_copy(c, 8, out->src.b, 16);
    cur_copy(c, 24, out->dst.b, 16);
    if (cur_left(c) - IP6_HDR_LEN > plen)
        out->quirks |= FSC_QUIRK_IP_PADDING;
    cur_skip(c, IP6_HDR_LEN);

    /* plen counts down as extension headers are consumed: bytes promised after c->pos. */
    for (int n = 0;; n++) {
        uint32_t elen;

        if (n >= MAX_IP6_EXT_HDRS && next != IPPROTO_NUM_TCP)
            return FSC_SKIP_IP6_EXT_BAD; /* chain longer than any sane sender builds */
        switch (next) {
        case IPPROTO_NUM_HOPOPTS:
        case IPPROTO_NUM_ROUTING:
        case IPPROTO_NUM_DSTOPTS:
        case IPPROTO_NUM_MOBILITY:
        case IPPROTO_NUM_FRAGMENT:
        case IPPROTO_NUM_AH:
            break;
        default:
            /* TCP, UDP, ICMPv6, ESP (50), no next header (59), ...: the caller decides. */
            *proto = next;
            span->payload = plen;
            span->len_from_cap = false;
            return FSC_SKIP_NONE;
        }
        out->quirks |= FSC_QUIRK_IP_OPTIONS;
        if (plen < 2)
            return FSC_SKIP_IP6_EXT_BAD; /* next header/length beyond the payload length */
        if (!cur_has(c, 0, 2))
            return FSC_SKIP_IP_TRUNCATED; /* extension header cut by the capture */
        if (next == IPPROTO_NUM_FRAGMENT)
            elen = IP6_FRAG_HDR_LEN;
        else if (next == IPPROTO_NUM_AH)
            elen = ((uint32_t)cur_u8(c, 1) + 2) * 4; /* RFC 4302 section 2.2: 32-bit words - 2 */
        else
            elen = ((uint32_t)cur_u8(c, 1) + 1) * 8; /* 8-octet units, not counting the first */
        if (elen > plen)
            return FSC_SKIP_IP6_EXT_BAD; /* extension header beyond the payload length */
        if (!cur_has(c, 0, elen))
            return FSC_SKIP_IP_TRUNCATED; /* extension header cut by the capture */
        bool fragment = false;
        if (next == IPPROTO_NUM_FRAGMENT) {
            uint16_t off_m = cur_be16(c, 2);
            /* Atomic fragments (offset 0, M clear; RFC 6946) are whole packets: fall through. */
            if ((off_m & 0xfff8) != 0 || (off_m & 0x0001) != 0) {
                fragment = true;
                span->more = (off_m & 0x0001) != 0;
                span->offset = off_m & 0xfff8;
                span->id = cur_be32(c, 4);
            }
        }
        next = cur_u8(c, 0);
        cur_skip(c, elen);
        plen -= elen;
        if (fragment) {
            *proto = next; /* the fragmentable part starts here (RFC 8200 section 4.5) */
            span->payload = plen;
            span->len_from_cap = false;
            return FSC_SKIP_IP_FRAGMENT;
        }
    }
}

/*
 * Teredo (RFC 4380 section 5.1.1): an optional authentication indicator, then an optional origin
 * indication, then an IPv6 packet whose payload length fills the rest of the UDP payload exactly
 * (len bytes by the UDP length).  Leaves c at the IPv6 header.  NOT_TCP when it is not Teredo,
 * IP_TRUNCATED when the capture ends before that can be told.
 */
static enum fsc_skip decode_teredo(struct cursor *c, uint32_t len)
{
    if (len < IP6_HDR_LEN)
        return FSC_SKIP_NOT_TCP; /* Teredo always carries at least an IPv6 header */
    if (!cur_has(c, 0, 2))
        return FSC_SKIP_IP_TRUNCATED; /* indicator cut off */
    if (cur_be16(c, 0) == 0x0001) {
        if (!cur_has(c, 0, 4))
            return FSC_SKIP_IP_TRUNCATED; /* authentication lengths cut off */
        uint32_t alen = (uint32_t)TEREDO_AUTH_MIN_LEN + cur_u8(c, 2) + cur_u8(c, 3);
        if (alen > len)
            return FSC_SKIP_NOT_TCP; /* authentication beyond the datagram */
        if (!cur_skip(c, alen))
            return FSC_SKIP_IP_TRUNCATED; /* authentication cut off */
        len -= alen;
        if (len >= 2 && !cur_has(c, 0, 2))
            return FSC_SKIP_IP_TRUNCATED; /* next indicator cut off */
    }
    if (len >= 2 && cur_be16(c, 0) == 0x0000) {
        if (len < TEREDO_ORIGIN_LEN)
            return FSC_SKIP_NOT_TCP; /* origin indication beyond the datagram */
        if (!cur_skip(c, TEREDO_ORIGIN_LEN))
            return FSC_SKIP_IP_TRUNCATED; /* origin indication cut off */
        len -= TEREDO_ORIGIN_LEN;
    }
    if (len < IP6_HDR_LEN)
        return FSC_SKIP_NOT_TCP; /* no room left for the IPv6 header */
    if (!cur_has(c, 0, 1))
        return FSC_SKIP_IP_TRUNCATED; /* inner version cut off */
    if (cur_u8(c, 0) >> 4 != 6)
        return FSC_SKIP_NOT_TCP; /* neither indicator nor IPv6: some other protocol on the port */
    if (!cur_has(c, 0, 6))
        return FSC_SKIP_IP_TRUNCATED; /* inner payload length cut off */
    if (cur_be16(c, 4) == 0)
        return FSC_SKIP_NOT_TCP; /* bubble (RFC 4380 section 2.8): no next header, no payload */
    if (IP6_HDR_LEN + (uint32_t)cur_be16(c, 4) != len)
        return FSC_SKIP_NOT_TCP; /* IPv6 packet does not fill the datagram */
    return FSC_SKIP_NONE;
}

/*
 * GTPv1-U G-PDU (3GPP TS 29.281 section 5): version 1, protocol type 1, message type 255 and a
 * length covering exactly the rest of the UDP payload (len bytes); 4 optional bytes when E, S or
 * PN is set, the extension header chain when E is set, then an IPv4 or IPv6 packet (first nibble)
 * that fits in what is left.  Leaves c at the inner IP header, *hint set.  NOT_TCP when it is not
 * a G-PDU carrying IP, IP_TRUNCATED when the capture ends before that can be told.
 */
static enum fsc_skip decode_gtp(struct cursor *c, uint32_t len, ip_hint *hint)
{
    if (len < GTP_HDR_LEN)
        return FSC_SKIP_NOT_TCP; /* shorter than the mandatory header */
    if (!cur_has(c, 0, 1))
        return FSC_SKIP_IP_TRUNCATED; /* flags cut off */
    uint8_t flags = cur_u8(c, 0);
    if (flags >> 5 != 1 || (flags & 0x10) == 0)
        return FSC_SKIP_NOT_TCP; /* GTPv0, GTPv2, GTP' */
    if (!cur_has(c, 0, 2))
        return FSC_SKIP_IP_TRUNCATED; /* message type cut off */
    if (cur_u8(c, 1) != GTP_TYPE_G_PDU)
        return FSC_SKIP_NOT_TCP; /* echo, error indication, end marker: no user data */
    if (!cur_has(c, 0, GTP_HDR_LEN))
        return FSC_SKIP_IP_TRUNCATED; /* length or TEID cut off */
    if (cur_be16(c, 2) != len - GTP_HDR_LEN)
        return FSC_SKIP_NOT_TCP; /* GTP length disagrees with the UDP length */
    cur_skip(c, GTP_HDR_LEN);
    len -= GTP_HDR_LEN;

    uint8_t next = 0;
    if (flags & (GTP_FLAG_E | GTP_FLAG_S | GTP_FLAG_PN)) {
        if (len < GTP_OPT_LEN)
            return FSC_SKIP_NOT_TCP; /* optional fields beyond the GTP length */
        if (!cur_has(c, 0, GTP_OPT_LEN))
            return FSC_SKIP_IP_TRUNCATED; /* optional fields cut off */
        if (flags & GTP_FLAG_E)
            next = cur_u8(c, 3); /* only meaningful with E (section 5.1) */
        cur_skip(c, GTP_OPT_LEN);
        len -= GTP_OPT_LEN;
    }
    /* Extension headers (section 5.2): length in 4-octet units, next type in the last octet. */
    for (int n = 0; next != 0; n++) {
        if (n >= MAX_GTP_EXT_HDRS)
            return FSC_SKIP_NOT_TCP; /* longer chain than any defined use */
        if (len < 4)
            return FSC_SKIP_NOT_TCP; /* extension header beyond the GTP length */
        if (!cur_has(c, 0, 1))
            return FSC_SKIP_IP_TRUNCATED; /* extension length cut off */
        uint32_t elen = (uint32_t)cur_u8(c, 0) * 4;
        if (elen == 0 || elen > len)
            return FSC_SKIP_NOT_TCP; /* length 0 is invalid; or beyond the GTP length */
        if (!cur_has(c, 0, elen))
            return FSC_SKIP_IP_TRUNCATED; /* extension header cut off */
        next = cur_u8(c, elen - 1);
        cur_skip(c, elen);
        len -= elen;
    }

    if (len == 0)
        return FSC_SKIP_NOT_TCP; /* no user data */
    if (!cur_has(c, 0, 1))
        return FSC_SKIP_IP_TRUNCATED; /* inner version cut off */
    switch (cur_u8(c, 0) >> 4) {
    case 4:
        if (len < IP4_MIN_HDR_LEN)
            return FSC_SKIP_NOT_TCP; /* no room for an IPv4 header */
        if (!cur_has(c, 0, 4))
            return FSC_SKIP_IP_TRUNCATED; /* inner total length cut off */
        if (cur_be16(c, 2) == 0 || cur_be16(c, 2) > len)
            return FSC_SKIP_NOT_TCP; /* inner packet larger than the tunnel carries */
        *hint = 4;
        return FSC_SKIP_NONE;
    case 6:
        if (len < IP6_HDR_LEN)
            return FSC_SKIP_NOT_TCP; /* no room for an IPv6 header */
        if (!cur_has(c, 0, 6))
            return FSC_SKIP_IP_TRUNCATED; /* inner payload length cut off */
        if (cur_be16(c, 4) == 0 || IP6_HDR_LEN + (uint32_t)cur_be16(c, 4) > len)
            return FSC_SKIP_NOT_TCP; /* inner packet larger than the tunnel carries */
        *hint = 6;
        return FSC_SKIP_NONE;
    default:
        return FSC_SKIP_NOT_TCP; /* PPP, Ethernet or non-IP PDU */
    }
}

/*
 * What a tunnel header says follows it, as an ethertype: Ethernet (transparent Ethernet
 * bridging), IPv4, IPv6 or MPLS.  Leaves c at the inner IP header, *hint set.
 */
static enum fsc_skip decode_tunnel_payload(struct cursor *c, uint16_t type, struct fsc_pkt *out,
                                           ip_hint *hint)
{
    switch (type) {
    case ETHERTYPE_TEB:
        return decode_eth(c, out, hint);
    case ETHERTYPE_IPV4:
    case ETHERTYPE_IPV6:
    case ETHERTYPE_MPLS:
    case ETHERTYPE_MPLS_MC:
        return decode_ethertype(c, type, out, hint);
    default:
        return FSC_SKIP_TUNNEL_UNSUPPORTED; /* PPP, WCCP, NSH, ...: a payload finscope skips */
    }
}

/*
 * VXLAN (RFC 7348 section 5): 8 bytes with the I flag set, then an Ethernet frame, within the len
 * bytes of the UDP payload.  Reserved bits are not checked: the Group Policy extension and
 * others use them.
 */
static enum fsc_skip decode_vxlan(struct cursor *c, uint32_t len, struct fsc_pkt *out,
                                  ip_hint *hint)
{
    if (len < VXLAN_HDR_LEN + ETH_HDR_LEN)
        return FSC_SKIP_VXLAN_BAD; /* no room for the header and an Ethernet header */
    if (!cur_has(c, 0, VXLAN_HDR_LEN))
        return FSC_SKIP_IP_TRUNCATED; /* VXLAN header cut off */
    if ((cur_u8(c, 0) & VXLAN_FLAG_I) == 0)
        return FSC_SKIP_VXLAN_BAD; /* I flag clear: no valid VNI, not VXLAN */
    cur_skip(c, VXLAN_HDR_LEN);
    return decode_eth(c, out, hint);
}

/*
 * Geneve (RFC 8926 section 3.4): version 0, options of 4-byte units, then the payload its
 * protocol type names (Ethernet, IPv4, IPv6, MPLS), within the len bytes of the UDP payload.
 */
static enum fsc_skip decode_geneve(struct cursor *c, uint32_t len, struct fsc_pkt *out,
                                   ip_hint *hint)
{
    if (len < GENEVE_HDR_LEN)
        return FSC_SKIP_GENEVE_BAD; /* shorter than the fixed header */
    if (!cur_has(c, 0, GENEVE_HDR_LEN))
        return FSC_SKIP_IP_TRUNCATED; /* Geneve header cut off */
    uint8_t ver_opt = cur_u8(c, 0);
    if (ver_opt >> 6 != 0)
        return FSC_SKIP_GENEVE_BAD; /* version other than 0 (section 3.4: MUST drop) */
    uint32_t hlen = GENEVE_HDR_LEN + (uint32_t)(ver_opt & 0x3f) * 4;
    if (hlen > len)
        return FSC_SKIP_GENEVE_BAD; /* options beyond the datagram */
    if (cur_u8(c, 1) & GENEVE_FLAG_O)
        return FSC_SKIP_TUNNEL_UNSUPPORTED; /* a control message, no tunnelled packet */
    uint16_t type = cur_be16(c, 2);
    if (!cur_skip(c, hlen))
        return FSC_SKIP_IP_TRUNCATED; /* options cut off */
    return decode_tunnel_payload(c, type, out, hint);
}

/*
 * ERSPAN inside GRE, as Cisco's draft-foschiano-erspan and Linux (net/erspan.h) lay it out: type
 * I is GRE 0x88BE without a sequence number and no ERSPAN header; type II is 0x88BE with one and
 * an 8-byte header of version 1; type III is 0x22EB with a 12-byte header of version 2, 8 more
 * bytes when its O bit is set, and a frame type (Ethernet or IP).  len is what GRE carries.
 */
static enum fsc_skip decode_erspan(struct cursor *c, uint16_t type, bool gre_seq, uint32_t len,
                                   struct fsc_pkt *out, ip_hint *hint)
{
    if (type == ETHERTYPE_ERSPAN2 && !gre_seq)
        return decode_eth(c, out, hint); /* type I */
    uint32_t hlen = type == ETHERTYPE_ERSPAN2 ? ERSPAN2_HDR_LEN : ERSPAN3_HDR_LEN;
    unsigned version = type == ETHERTYPE_ERSPAN2 ? ERSPAN2_VERSION : ERSPAN3_VERSION;
    if (hlen > len)
        return FSC_SKIP_ERSPAN_BAD; /* header beyond the GRE payload */
    if (!cur_has(c, 0, hlen))
        return FSC_SKIP_IP_TRUNCATED; /* ERSPAN header cut off */
    if (cur_u8(c, 0) >> 4 != version)
        return FSC_SKIP_ERSPAN_BAD; /* version disagrees with the GRE protocol type */
    if (type == ETHERTYPE_ERSPAN2) {
        cur_skip(c, hlen);
        return decode_eth(c, out, hint);
    }
    unsigned ft = (cur_u8(c, 10) >> 2) & 0x1f;
    if (cur_u8(c, 11) & 0x01)
        hlen += ERSPAN3_PLATFORM_LEN; /* O: platform specific subheader follows */
    if (hlen > len)
        return FSC_SKIP_ERSPAN_BAD; /* subheader beyond the GRE payload */
    if (!cur_skip(c, hlen))
        return FSC_SKIP_IP_TRUNCATED; /* platform specific subheader cut off */
    if (ft == ERSPAN3_FT_ETHERNET)
        return decode_eth(c, out, hint);
    if (ft != ERSPAN3_FT_IP)
        return FSC_SKIP_TUNNEL_UNSUPPORTED; /* reserved frame types */
    if (!cur_has(c, 0, 1))
        return FSC_SKIP_IP_TRUNCATED; /* inner version cut off */
    *hint = cur_u8(c, 0) >> 4;
    return *hint == 4 || *hint == 6 ? FSC_SKIP_NONE : FSC_SKIP_IP_BAD_VERSION;
}

/*
 * GRE (RFC 2784, with the key and sequence number of RFC 2890), len bytes by the IP length:
 * version 0, the optional fields the C, K and S bits announce, then the protocol type's payload
 * (IP, MPLS, Ethernet, ERSPAN).  PPTP's enhanced GRE (version 1) and RFC 1701 routing are not
 * decoded.
 */
static enum fsc_skip decode_gre(struct cursor *c, uint32_t len, struct fsc_pkt *out, ip_hint *hint)
{
    if (len < GRE_HDR_LEN)
        return FSC_SKIP_GRE_BAD; /* shorter than the fixed header */
    if (!cur_has(c, 0, GRE_HDR_LEN))
        return FSC_SKIP_IP_TRUNCATED; /* GRE header cut off */
    uint16_t fv = cur_be16(c, 0), type = cur_be16(c, 2);
    unsigned version = fv & GRE_VERSION_MASK;
    if (version == 1 || (fv & GRE_FLAG_R))
        return FSC_SKIP_TUNNEL_UNSUPPORTED; /* PPTP (PPP inside) or source routing */
    if (version != 0)
        return FSC_SKIP_GRE_BAD; /* versions 2-7 are not defined */
    uint32_t hlen = GRE_HDR_LEN;
    hlen += (fv & GRE_FLAG_C) ? GRE_OPT_LEN : 0;
    hlen += (fv & GRE_FLAG_K) ? GRE_OPT_LEN : 0;
    hlen += (fv & GRE_FLAG_S) ? GRE_OPT_LEN : 0;
    if (hlen > len)
        return FSC_SKIP_GRE_BAD; /* optional fields beyond the IP payload */
    if (!cur_skip(c, hlen))
        return FSC_SKIP_IP_TRUNCATED; /* optional fields cut off */
    if (type == ETHERTYPE_ERSPAN2 || type == ETHERTYPE_ERSPAN3)
        return decode_erspan(c, type, (fv & GRE_FLAG_S) != 0, len - hlen, out, hint);
    return decode_tunnel_payload(c, type, out, hint);
}

/*
 * A UDP datagram (RFC 768) that may carry a tunnel: VXLAN to port 4789, Geneve to port 6081,
 * GTP-U when port 2152 is on either side, Teredo when port 3544 is.  Teredo relays and clients talk
 * on any port, so elsewhere a datagram is Teredo only if it has the exact Teredo shape and its IPv6
 * packet has a Teredo address (2001:0::/32, RFC 4380 section 2.6) at one end, which is how Zeek
 * recognizes Teredo off port 3544.  Returns NONE with c at the inner IP header, bounded to the UDP
 * payload, and *hint set; NOT_TCP for any other UDP; IP_TRUNCATED when the capture ends before it
 * can be told.
 */
static enum fsc_skip decode_udp_tunnel(struct cursor *c, const struct ip_span *span,
                                       struct fsc_pkt *out, ip_hint *hint)
{
    if (!cur_has(c, 0, 4))
        return FSC_SKIP_IP_TRUNCATED; /* ports cut off: a tunnel cannot be ruled out */
    uint16_t sport = cur_be16(c, 0), dport = cur_be16(c, 2);
    bool gtp_port = sport == UDP_PORT_GTP_U || dport == UDP_PORT_GTP_U;
    bool teredo_port = sport == UDP_PORT_TEREDO || dport == UDP_PORT_TEREDO;
    /* Encapsulators send from a port hashed from the inner flow to the well-known one. */
    bool vxlan = dport == UDP_PORT_VXLAN, geneve = dport == UDP_PORT_GENEVE;
    if (!cur_has(c, 0, UDP_HDR_LEN))
        return gtp_port || teredo_port || vxlan || geneve ? FSC_SKIP_IP_TRUNCATED
                                                          : FSC_SKIP_NOT_TCP;
    uint32_t ulen = cur_be16(c, 4);
    if (ulen < UDP_HDR_LEN || ulen > span->payload)
        return FSC_SKIP_NOT_TCP; /* UDP length disagrees with the IP length */
    cur_skip(c, UDP_HDR_LEN);
    ulen -= UDP_HDR_LEN;
    cur_limit(c, ulen); /* trailing bytes beyond the datagram belong to no inner packet */
    if (vxlan)
        return decode_vxlan(c, ulen, out, hint);
    if (geneve)
        return decode_geneve(c, ulen, out, hint);

    struct cursor t = *c;
    enum fsc_skip r;
    if (gtp_port) {
        r = decode_gtp(&t, ulen, hint);
        if (r == FSC_SKIP_NONE)
            *c = t;
        if (r != FSC_SKIP_NOT_TCP || !teredo_port)
            return r;
        t = *c;
    }
    r = decode_teredo(&t, ulen);
    if (!teredo_port) {
        if (r != FSC_SKIP_NONE || !cur_has(&t, 0, 28))
            return FSC_SKIP_NOT_TCP; /* off port 3544 only a whole Teredo shape counts */
        if (cur_be32(&t, 8) != TEREDO_PREFIX && cur_be32(&t, 24) != TEREDO_PREFIX)
            return FSC_SKIP_NOT_TCP; /* no Teredo address at either end */
    }
    if (r == FSC_SKIP_NONE) {
        *c = t;
        *hint = 6;
    }
    return r;
}

/* TCP header (RFC 9293 section 3.1) at c, span->payload bytes long by the IP length fields. */
static inline __attribute__((always_inline)) enum fsc_skip
decode_tcp(struct cursor *c, struct fsc_pkt *out, const struct ip_span *span)
{
    uint32_t left = cur_left(c);

    /*
     * An IP length that leaves no room for a minimal TCP header is a bad header whatever the
     * capture holds (Ethernet padding must not turn it into "truncated").
     */
    if (span->payload < TCP_MIN_HDR_LEN && !span->len_from_cap)
        return FSC_SKIP_TCP_BAD_HDR_LEN; /* IP payload shorter than 20 bytes */
    if (left < TCP_MIN_HDR_LEN)
        return FSC_SKIP_TCP_TRUNCATED; /* fewer than 20 bytes captured */
    uint32_t hlen = (uint32_t)(cur_u8(c, 12) >> 4) * 4;
    if (hlen < TCP_MIN_HDR_LEN)
        return FSC_SKIP_TCP_BAD_HDR_LEN; /* data offset < 5 */
    if (hlen > span->payload)
        return FSC_SKIP_TCP_BAD_HDR_LEN; /* data offset beyond the IP payload */
    if (hlen > left)
        return FSC_SKIP_TCP_TRUNCATED; /* options cut by the capture */

    out->sport = cur_be16(c, 0);
    out->dport = cur_be16(c, 2);
    if (out->sport == 0 || out->dport == 0)
        return FSC_SKIP_TCP_PORT_ZERO; /* reserved, never on the wire from a real stack */
    out->seq = cur_be32(c, 4);
    out->ack = cur_be32(c, 8);
    out->flags = cur_u8(c, 13);
    out->window = cur_be16(c, 14);
    out->payload_len = span->payload - hlen;
    if (left < span->payload)
        out->quirks |= FSC_QUIRK_PAYLOAD_CUT;
    return FSC_SKIP_NONE;
}

/*
 * The transport header at c (protocol proto, span by the IP layer) when it is not TCP: a tunnel
 * leaves c at the inner packet, bounded by the outer one, and *hint set; NOT_TCP for anything
 * else (ICMP, ESP, plain UDP, ...).
 */
static enum fsc_skip decode_tunnel(struct cursor *c, const struct ip_span *span, uint8_t proto,
                                   struct fsc_pkt *out, ip_hint *hint)
{
    switch (proto) {
    case IPPROTO_NUM_UDP:
        return decode_udp_tunnel(c, span, out, hint);
    case IPPROTO_NUM_IPIP:
    case IPPROTO_NUM_IPV6:
        cur_limit(c, span->payload); /* the inner packet ends where the outer one does */
        *hint = proto == IPPROTO_NUM_IPIP ? 4 : 6;
        return FSC_SKIP_NONE;
    case IPPROTO_NUM_GRE:
        cur_limit(c, span->payload);
        return decode_gre(c, span->payload, out, hint);
    default:
        return FSC_SKIP_NOT_TCP;
    }
}

/*
 * From an IP header of version hint at c, depth tunnels deep, to the TCP header: each pass decodes
 * one IP header; a tunnel sends the loop around for the inner packet, whose addresses overwrite
 * the outer ones.  Quirks accumulate over all layers.  A fragment fills *frag (when not NULL).
 * Inlined into both callers so that a plain TCP frame costs no more calls than before tunnels.
 */
static inline __attribute__((always_inline)) enum fsc_skip
decode_ip_layers(struct cursor *c, struct fsc_pkt *out, ip_hint hint, unsigned depth,
                 struct fsc_frag *frag)
{
    for (;;) {
        struct ip_span span = {0};
        uint8_t proto = 0, quirks_outside = out->quirks;
        enum fsc_skip r =
            hint == 4 ? decode_ipv4(c, out, &span, &proto) : decode_ipv6(c, out, &span, &proto);
        if (r == FSC_SKIP_NONE && proto == IPPROTO_NUM_TCP)
            return decode_tcp(c, out, &span); /* the common case first */
        if (r == FSC_SKIP_IP_FRAGMENT && frag) {
            frag->src = out->src;
            frag->dst = out->dst;
            frag->id = span.id;
            frag->ip_version = out->ip_version;
            frag->proto = proto;
            frag->depth = (uint8_t)depth;
            /* Padding of the frame that carried this piece says nothing of the datagram. */
            frag->quirks = (uint8_t)(quirks_outside | (out->quirks & FSC_QUIRK_IP_OPTIONS));
            frag->more = span.more;
            frag->offset = span.offset;
            frag->len = span.payload;
            frag->data = c->base + c->pos;
            frag->caplen = cur_left(c) < span.payload ? cur_left(c) : span.payload;
        }
        if (r != FSC_SKIP_NONE)
            return r;
        r = decode_tunnel(c, &span, proto, out, &hint);
        if (r != FSC_SKIP_NONE)
            return r;
        if (depth >= FSC_MAX_TUNNEL_DEPTH)
            return FSC_SKIP_TUNNEL_TOO_DEEP; /* a tunnel inside the deepest one decoded */
        depth++;
        out->quirks |= FSC_QUIRK_TUNNEL;
    }
}

/* Clear *out except the caller's ts and number. */
static void reset_pkt(struct fsc_pkt *out)
{
    fsc_time ts = out->ts;
    uint64_t number = out->number;
    memset(out, 0, sizeof(*out));
    out->ts = ts;
    out->number = number;
}

enum fsc_skip fsc_decode(int dlt, const uint8_t *data, uint32_t caplen, struct fsc_pkt *out)
{
    return fsc_decode_frag(dlt, data, caplen, out, NULL);
}

enum fsc_skip fsc_decode_frag(int dlt, const uint8_t *data, uint32_t caplen, struct fsc_pkt *out,
                              struct fsc_frag *frag)
{
    struct cursor c = {.base = data, .len = data ? caplen : 0, .pos = 0};
    ip_hint hint = 0;
    enum fsc_skip r;

    reset_pkt(out);
    r = decode_link(dlt, &c, out, &hint);
    if (r != FSC_SKIP_NONE)
        return r;
    if (hint == 0) {
        if (!cur_has(&c, 0, 1))
            return FSC_SKIP_IP_TRUNCATED; /* raw IP frame with no bytes */
        hint = cur_u8(&c, 0) >> 4;
        if (hint != 4 && hint != 6)
            return FSC_SKIP_IP_BAD_VERSION; /* raw IP that is neither IPv4 nor IPv6 */
    }
    return decode_ip_layers(&c, out, hint, 0, frag);
}

enum fsc_skip fsc_decode_datagram(const uint8_t *data, uint32_t caplen, int ip_version,
                                  unsigned depth, uint8_t quirks, struct fsc_pkt *out,
                                  struct fsc_frag *frag)
{
    struct cursor c = {.base = data, .len = data ? caplen : 0, .pos = 0};

    reset_pkt(out);
    if (ip_version != 4 && ip_version != 6)
        return FSC_SKIP_IP_BAD_VERSION; /* reassembly knows only these */
    if (depth > FSC_MAX_TUNNEL_DEPTH)
        return FSC_SKIP_TUNNEL_TOO_DEEP; /* cannot come from fsc_decode_frag */
    out->quirks = (uint8_t)(quirks | FSC_QUIRK_REASSEMBLED);
    return decode_ip_layers(&c, out, ip_version, depth, frag);
}
