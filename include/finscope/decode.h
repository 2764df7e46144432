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
    FSC_SKIP_IP_FRAGMENT,      /* "ip_fragment": fragment, where no reassembly runs (fsc_decode) */
    FSC_SKIP_IP6_EXT_BAD,      /* "ip6_extension_bad": extension header chain cut or malformed */
    FSC_SKIP_NOT_TCP,          /* "not_tcp": UDP (but tunnels), ICMP, ... */
    FSC_SKIP_TCP_TRUNCATED,    /* "tcp_truncated": fewer than 20 (or data offset) bytes of TCP */
    FSC_SKIP_TCP_BAD_HDR_LEN,  /* "tcp_bad_header_length": data offset < 5 or beyond the IP payload
                                */
    FSC_SKIP_TCP_PORT_ZERO,    /* "tcp_port_zero": source or destination port 0 */
    FSC_SKIP_FILTERED,         /* "filtered": not matched by the BPF filter (-f) */
    /* Appended for tunnels and fragments (issue 8): earlier values keep their numbers. */
    FSC_SKIP_TUNNEL_TOO_DEEP,    /* "tunnel_too_deep": more than FSC_MAX_TUNNEL_DEPTH tunnels */
    FSC_SKIP_TUNNEL_UNSUPPORTED, /* "tunnel_unsupported": valid tunnel, payload not decoded */
    FSC_SKIP_VXLAN_BAD,          /* "vxlan_bad": UDP 4789 without a VXLAN header (RFC 7348) */
    FSC_SKIP_GENEVE_BAD,         /* "geneve_bad": UDP 6081 without a Geneve header (RFC 8926) */
    FSC_SKIP_GRE_BAD,            /* "gre_bad": GRE header impossible (RFC 2784, RFC 2890) */
    FSC_SKIP_ERSPAN_BAD,         /* "erspan_bad": ERSPAN type II/III header impossible */
    FSC_SKIP_FRAG_BAD,           /* "ip_fragment_bad": fragment impossible on its own */
    FSC_SKIP_FRAG_REASSEMBLED,   /* "ip_fragment_reassembled": consumed into a reassembled
                                    datagram, which counts at the frame that completed it */
    FSC_SKIP_FRAG_OVERLAP,       /* "ip_fragment_overlap": its datagram had overlapping or
                                    contradicting fragments and was dropped whole */
    FSC_SKIP_FRAG_TIMEOUT,       /* "ip_fragment_timeout": its datagram was not complete in time */
    FSC_SKIP_FRAG_TOO_MANY,      /* "ip_fragment_too_many": reassembly memory or a cap was full */
    FSC_SKIP_FRAG_INCOMPLETE,    /* "ip_fragment_incomplete": capture ended before completion */
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
    FSC_QUIRK_TUNNEL = 0x40,      /* decapsulated from a tunnel (see fsc_decode) */
    FSC_QUIRK_REASSEMBLED = 0x80, /* decoded from IP fragments reassembled (src/ipfrag.c) */
};

/* Tunnel layers decoded inside the outermost IP header; one more is FSC_SKIP_TUNNEL_TOO_DEEP. */
#define FSC_MAX_TUNNEL_DEPTH 4

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
 * One IP fragment as the decoder found it, at any tunnel depth: what reassembly needs (the
 * identity of RFC 791 section 3.2 and RFC 8200 section 4.5, the place in the datagram, the
 * bytes) and the context of the layers outside it, so the datagram is decoded as if it had
 * arrived whole.  data is borrowed from the frame being decoded.
 */
struct fsc_frag {
    struct fsc_addr src, dst;
    uint32_t id;         /* IPv4 identification (16 bits) or IPv6 fragment identification */
    uint8_t ip_version;  /* 4 or 6 */
    uint8_t proto;       /* IPv4 protocol, or the next header after the IPv6 fragment header */
    uint8_t depth;       /* tunnel layers outside this IP header (0: the outermost) */
    uint8_t quirks;      /* FSC_QUIRK_* of the layers outside, and IP options of this header */
    bool more;           /* more fragments follow (MF, M) */
    uint32_t offset;     /* bytes from the start of the fragmentable part */
    uint32_t len;        /* fragment payload bytes, from the IP length fields */
    const uint8_t *data; /* the captured payload bytes */
    uint32_t caplen;     /* captured bytes at data, at most len (snaplen may cut a fragment) */
};

/*
 * Decode one frame of pcap link type dlt (DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW,
 * DLT_IPV4, DLT_IPV6, DLT_NULL, DLT_LOOP; numeric values, so this file needs no pcap.h).
 * data/caplen are the captured bytes, which are only read, never past caplen.
 * Tunnels are decapsulated, up to FSC_MAX_TUNNEL_DEPTH layers inside the outermost IP header:
 * Teredo (RFC 4380), GTPv1-U G-PDUs (UDP 2152), VXLAN (UDP 4789, RFC 7348), Geneve (UDP 6081,
 * RFC 8926), GRE (IP protocol 47, RFC 2784/2890) carrying IP, MPLS or Ethernet (0x6558), ERSPAN
 * types I, II and III inside GRE, and IP-in-IP (protocols 4 and 41: IPIP, 6in4, 4in6, 6in6).
 * *out then holds the innermost addresses and ports, FSC_QUIRK_TUNNEL and the quirks of every
 * layer.  Fills everything in *out except ts and number.
 * Returns FSC_SKIP_NONE for a TCP segment, otherwise the reason it was skipped; an IP fragment
 * (at any depth) is FSC_SKIP_IP_FRAGMENT.
 */
enum fsc_skip fsc_decode(int dlt, const uint8_t *data, uint32_t caplen, struct fsc_pkt *out);

/*
 * As fsc_decode; when it returns FSC_SKIP_IP_FRAGMENT and frag is not NULL, *frag describes the
 * fragment (frag->data points into data) so that a reassembler can take it.
 */
enum fsc_skip fsc_decode_frag(int dlt, const uint8_t *data, uint32_t caplen, struct fsc_pkt *out,
                              struct fsc_frag *frag);

/*
 * Decode a reassembled IP datagram: data/caplen start at an IP header of version ip_version
 * (4 or 6) that lies depth tunnel layers deep, with the quirks of the layers outside it (take
 * depth and quirks from the struct fsc_frag of one of its fragments).  The datagram may carry a
 * tunnel, and a fragment inside it fills *frag as fsc_decode_frag does.  Fills *out as
 * fsc_decode does (quirks plus FSC_QUIRK_REASSEMBLED); returns a skip reason as it does.
 */
enum fsc_skip fsc_decode_datagram(const uint8_t *data, uint32_t caplen, int ip_version,
                                  unsigned depth, uint8_t quirks, struct fsc_pkt *out,
                                  struct fsc_frag *frag);

/* Whether fsc_decode understands link type dlt. */
bool fsc_decode_link_supported(int dlt);

#endif
