/* finscope/forge.h - deterministic crafted captures (libnet) with the tokens each one must yield.
 */
#ifndef FINSCOPE_FORGE_H
#define FINSCOPE_FORGE_H

#include <stdio.h>

#include "finscope/common.h"

/* A tunnel around every forged packet, as mirroring and overlays deliver them. */
enum fsc_forge_encap {
    FSC_FORGE_ENCAP_NONE = 0,
    FSC_FORGE_ENCAP_VXLAN,     /* UDP to 4789, VXLAN (RFC 7348), an Ethernet frame */
    FSC_FORGE_ENCAP_GENEVE,    /* UDP to 6081, Geneve (RFC 8926) with one option, Ethernet */
    FSC_FORGE_ENCAP_GENEVE_IP, /* Geneve carrying the IP packet directly */
    FSC_FORGE_ENCAP_GRE,       /* GRE with checksum, key and sequence number, carrying IP */
    FSC_FORGE_ENCAP_GRETAP,    /* GRE with a key carrying Ethernet (0x6558) */
    FSC_FORGE_ENCAP_ERSPAN1,   /* GRE 0x88BE without sequence number: ERSPAN type I */
    FSC_FORGE_ENCAP_ERSPAN2,   /* GRE 0x88BE with sequence number and the 8-byte header */
    FSC_FORGE_ENCAP_ERSPAN3,   /* GRE 0x22EB with the 12-byte type III header */
    FSC_FORGE_ENCAP_IPIP,      /* IP in IP: protocol 4, or 41 for IPv6 inside (6in4, 6in6) */
    FSC_FORGE_ENCAP__COUNT
};

/* The --encap name of an encapsulation ("vxlan", ...); NULL out of range. */
const char *fsc_forge_encap_name(int encap);

/* How the forged frames are framed on the wire. */
struct fsc_forge_opts {
    bool ipv6; /* IPv6 (2001:db8::/32) instead of IPv4 (192.0.2.0/24, 198.18.0.0/15) */
    int vlan;  /* 0: none, else the VLAN id (1..4094) of one 802.1Q tag (the outermost frame) */
    bool sll;  /* Linux cooked (DLT_LINUX_SLL) instead of Ethernet; not with vlan */
    int encap; /* enum fsc_forge_encap */
    bool outer_ipv6; /* tunnel endpoints fd00::1 and fd00::2 instead of 10.0.0.1 and 10.0.0.2 */
    int inner_vlan;  /* VLAN id of a tag on the tunnelled Ethernet frame (encap carrying one) */
    /*
     * 0: no fragments.  Else IP datagrams with more payload than this many bytes (a multiple of
     * 8, at least 8) are cut into fragments: the outermost datagram, or with fragment_inner the
     * tunnelled one (each fragment then travels in its own tunnel packet).
     */
    uint32_t fragment;
    bool fragment_inner;
    bool fragment_reverse; /* write each datagram's fragments last first */
    /*
     * Before the first datagram that is fragmented, write an attack on it: a copy under another
     * identification whose second fragment overlaps the first with other bytes.  A reassembler
     * must drop that copy whole (RFC 5722), so the expected rows stay those of the scenario and
     * ip_fragment_overlap counts the copy's frames.
     */
    bool fragment_overlap;
    int one_side; /* 0: both directions; FSC_FORGE_CLIENT_ONLY or FSC_FORGE_SERVER_ONLY: only
                     that endpoint's frames (a one-direction tap), with its own expectations */
};

enum { FSC_FORGE_CLIENT_ONLY = 1, FSC_FORGE_SERVER_ONLY = 2 };

/*
 * The columns of an expected-results TSV, tab-separated, in this order; the file holds this
 * header line, then one row per connection in the order of each connection's first packet.
 * rst_cause is "-" when close_kind is not "rst".
 */
#define FSC_FORGE_TSV_HEADER                                                                       \
    "handshake\tclose_kind\trst_cause\tcloser\tclient_state\tserver_state\thalf_close_bytes\t"     \
    "fin_retrans\trst_after_close\trst_cause_proven\tcloser_call\tanomalies\tclient_packets\t"     \
    "server_packets\tclient_bytes\tserver_bytes"

/* Print one line per scenario, "name  description", followed by "(one side: client server)"
 * naming the one-direction views it defines, to out.  Returns 0, or -1 on a write error. */
int fsc_forge_list(FILE *out);

/* Whether name is a scenario fsc_forge_scenario knows. */
bool fsc_forge_scenario_exists(const char *name);

/* Whether scenario name has expectations for a capture of only one side (o->one_side). */
bool fsc_forge_scenario_one_sided(const char *name, int one_side);

/*
 * Write the capture of one scenario to pcap_path and its expected results (TSV, see above) to
 * expected_path.  o may be NULL (IPv4 over Ethernet).  Timestamps start at
 * 2026-01-01 00:00:00 UTC; addresses are 192.0.2.1:40000 -> 192.0.2.2:80 (2001:db8::1 ->
 * 2001:db8::2 with ipv6).  Returns 0, or -1 with a one-line message in err (caller-owned,
 * errlen bytes) for an unknown scenario, bad options or an I/O error.
 */
int fsc_forge_scenario(const char *name, const struct fsc_forge_opts *o, const char *pcap_path,
                       const char *expected_path, char *err, size_t errlen);

/*
 * Write a large interleaved capture of `flows` connections drawn from the scenarios with a
 * PRNG seeded by seed (same arguments, same bytes).  Every connection has its own client
 * address and port (198.18.0.0/15 or 2001:db8:1::/64), a new one starts about every
 * millisecond of capture time and each lasts tens to hundreds of milliseconds, so the number
 * open at once stays bounded and memory does not grow with `flows`.  The expected TSV holds one
 * row per connection instance (port_reuse gives two) in first-packet order.  0 or -1 as above.
 */
int fsc_forge_mix(uint64_t flows, uint64_t seed, const struct fsc_forge_opts *o,
                  const char *pcap_path, const char *expected_path, char *err, size_t errlen);

/* The `finscope forge` command (src/cmd_forge.c); argv[0] is "forge".  Returns the exit code. */
int fsc_cmd_forge(int argc, char **argv);

#endif
