/* finscope/ports.h - which TCP ports look like a server's, for connections seen without a SYN. */
#ifndef FINSCOPE_PORTS_H
#define FINSCOPE_PORTS_H

#include "finscope/common.h"

/*
 * Whether port is a well-known (below 1024) or registered service port that servers listen on
 * (databases, message brokers, remote desktops, industrial protocols, ...): wider than Zeek's
 * likely_server_ports.  A client's ephemeral port can collide with one; callers use this only
 * when the capture itself says nothing better.
 */
bool fsc_port_is_service(uint16_t port);

/*
 * Which of two ports of a connection picked up midstream is the server's: 0 for a, 1 for b.
 * seen_a/seen_b: how many connections of the same capture were opened (SYN seen) to that port.
 * In order: the capture's own handshakes, the service-port list, then the lower port number.
 */
int fsc_port_pick_server(uint16_t a, uint16_t b, uint32_t seen_a, uint32_t seen_b);

#endif
