/* finscope/decode.h - link, IP and TCP header decoding of one captured frame into an fsc_pkt. */
#ifndef FINSCOPE_DECODE_H
#define FINSCOPE_DECODE_H

#include "finscope/common.h"

/* TCP flag bits as they sit in the TCP header's flags byte (RFC 9293 section 3.1, RFC 3168). */
enum {
    FSC_TH_FIN = 0x01,
    FSC_TH_SYN = 0x02,
    FSC_TH_RST = 0x04,
    FSC_TH_PSH = 0x08,
    FSC_TH_ACK = 0x10,
    FSC_TH_URG = 0x20,
    FSC_TH_ECE = 0x40,
    FSC_TH_CWR = 0x80,
};

/*
 * Why a frame did not yield a TCP segment.  The tokens (fsc_skip_name) are stored in the
 * database; never rename one.  "truncated" means the capture holds fewer bytes than the header
 * needs (snaplen or a cut frame); "bad" means the header itself is impossible.
 */
enum fsc_skip {
    FSC_SKIP_NONE = 0,
    FSC_SKIP_LINK_UNSUPPORTED, /* "link_unsupported": link type finscope does not decode */
    FSC_SKIP_LINK_TRUNCATED,   /* "link_truncated": frame shorter than its link header(s) */
    FSC_SKIP_NOT_IP,           /* "not_ip": ARP, LLDP, ... */
    FSC_SKIP_IP_TRUNCATED,     /* "ip_truncated": IPv4/IPv6 header cut off (also a tunnel's) */
    FSC_SKIP_IP_BAD_VERSION,   /* "ip_bad_version": version nibble disagrees with the link */
    FSC_SKIP_IP_BAD_HDR_LEN,   /* "ip_bad_header_length": IHL < 5 */
    FSC_SKIP_IP_BAD_TOTAL_LEN, /* "ip_bad_total_length": total/payload length < header */
    FSC_SKIP_IP_FRAGMENT,      /* "ip_fragment": fragment (not reassembled) */
    FSC_SKIP_IP6_EXT_BAD,      /* "ip6_extension_bad": extension header chain cut or malformed */
    FSC_SKIP_NOT_TCP,          /* "not_tcp": UDP (but tunnels), ICMP, ... */
    FSC_SKIP_TCP_TRUNCATED,    /* "tcp_truncated": fewer than 20 (or data offset) bytes of TCP */
    FSC_SKIP_TCP_BAD_HDR_LEN,  /* "tcp_bad_header_length": data offset < 5 or beyond the IP payload
                                */
    FSC_SKIP_TCP_PORT_ZERO,    /* "tcp_port_zero": source or destination port 0 */
    FSC_SKIP_FILTERED,         /* "filtered": not matched by the BPF filter (-f) */
    FSC_SKIP__COUNT
};

/* Stable lowercase token for a skip reason. */
const char *fsc_skip_name(enum fsc_skip reason);

/* Quirks: odd but legal things noticed while decoding; the segment is still used. */
enum {
    FSC_QUIRK_PAYLOAD_CUT = 0x01, /* snaplen cut the payload (headers complete) */
    FSC_QUIRK_IP_PADDING = 0x02,  /* frame longer than the IP total length (Ethernet padding) */
    FSC_QUIRK_VLAN = 0x04,        /* one or more 802.1Q/802.1ad tags */
    FSC_QUIRK_MPLS = 0x08,        /* MPLS label stack */
    FSC_QUIRK_PPPOE = 0x10,       /* PPPoE session */
    FSC_QUIRK_IP_OPTIONS = 0x20,  /* IPv4 options or IPv6 extension headers */
    FSC_QUIRK_TUNNEL = 0x40,      /* decapsulated from Teredo or GTP-U (up to 2 levels deep) */
};

/* One decoded TCP segment.  Addresses and ports are as sent (src -> dst). */
struct fsc_pkt {
    fsc_time ts;
    uint64_t number; /* 1-based frame number in the capture, as Wireshark counts */
    struct fsc_addr src, dst;
    uint16_t sport, dport;
    uint8_t ip_version; /* 4 or 6 */
    uint8_t flags;      /* FSC_TH_* */
    uint8_t quirks;     /* FSC_QUIRK_* */
    uint32_t seq, ack;
    uint16_t window;
    uint32_t payload_len; /* from the IP length fields, not from caplen */
};

/*
 * Decode one frame of pcap link type dlt (DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW,
 * DLT_IPV4, DLT_IPV6, DLT_NULL, DLT_LOOP; numeric values, so this file needs no pcap.h).
 * data/caplen are the captured bytes, which are only read, never past caplen.
 * TCP inside Teredo (RFC 4380) or GTPv1-U is decapsulated, up to two tunnels deep: *out then
 * holds the innermost addresses and ports, FSC_QUIRK_TUNNEL and the quirks of every layer.
 * Fills everything in *out except ts and number.
 * Returns FSC_SKIP_NONE for a TCP segment, otherwise the reason it was skipped.
 */
enum fsc_skip fsc_decode(int dlt, const uint8_t *data, uint32_t caplen, struct fsc_pkt *out);

/* Whether fsc_decode understands link type dlt. */
bool fsc_decode_link_supported(int dlt);

#endif
