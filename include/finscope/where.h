/* finscope/where.h - where a flow is: the Wireshark/tshark display filter that isolates it. */
#ifndef FINSCOPE_WHERE_H
#define FINSCOPE_WHERE_H

#include <stddef.h>
#include <stdint.h>

/* A flow as stored (flows.client_addr ... flows.last_packet), strings borrowed. */
struct fsc_where {
    const char *client, *server; /* textual IPv4 or IPv6 addresses, as stored */
    long long client_port, server_port;
    long long first_frame, last_frame; /* frame numbers in the capture file; <= 0: unknown */
};

/*
 * The display filter that selects exactly the flow's packets in Wireshark or tshark (-Y):
 * both directions of its 4-tuple, independent of tcp.stream numbering, e.g.
 *   ((ip.src==10.0.0.1 && tcp.srcport==40000 && ip.dst==10.0.0.2 && tcp.dstport==80) ||
 *    (ip.src==10.0.0.2 && tcp.srcport==80 && ip.dst==10.0.0.1 && tcp.dstport==40000))
 *    && frame.number>=4 && frame.number<=19
 * (one line; ipv6.src/ipv6.dst for IPv6; one direction when both ends are the same socket,
 * as a self-connect's are).  The frame range is added when known (the first frame alone
 * when only it is).  Values come from a database anyone may have written: an address that
 * does not parse as IPv4/IPv6, or a port outside 0..65535, gives no filter.
 * Writes into buf (len >= 1, always NUL-terminated).  Returns the filter's length (not
 * counting the NUL; > len - 1 when it was cut short, as snprintf), or -1 and "" in buf.
 */
int fsc_where_tshark(char *buf, size_t len, const struct fsc_where *w);

/* "CAPTURE:FRAME" (e.g. "3:17"), how finscope names a packet everywhere; -1 if cut short. */
int fsc_where_frame(char *buf, size_t len, long long capture_id, long long frame);

#endif
