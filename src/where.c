/* where.c - where a flow is: the tshark display filter that isolates it, and capture:frame. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "finscope/where.h"

/* 4 or 6 for a well-formed address (the canonical text is written back), 0 otherwise. */
static int canonical(const char *in, char *out, size_t outlen)
{
    unsigned char a[16];

    if (!in)
        return 0;
    if (inet_pton(AF_INET, in, a) == 1)
        return inet_ntop(AF_INET, a, out, (socklen_t)outlen) ? 4 : 0;
    if (inet_pton(AF_INET6, in, a) == 1)
        return inet_ntop(AF_INET6, a, out, (socklen_t)outlen) ? 6 : 0;
    return 0;
}

static bool port_ok(long long p)
{
    return p >= 0 && p <= 65535;
}

int fsc_where_tshark(char *buf, size_t len, const struct fsc_where *w)
{
    char c[INET6_ADDRSTRLEN], s[INET6_ADDRSTRLEN], frames[64] = "";
    int vc = canonical(w->client, c, sizeof c), vs = canonical(w->server, s, sizeof s);
    const char *ip;
    int n;

    buf[0] = '\0';
    if (!vc || vc != vs || !port_ok(w->client_port) || !port_ok(w->server_port))
        return -1;
    ip = vc == 4 ? "ip" : "ipv6";
    if (w->first_frame > 0 && w->last_frame >= w->first_frame)
        snprintf(frames, sizeof frames, " && frame.number>=%lld && frame.number<=%lld",
                 w->first_frame, w->last_frame);
    else if (w->first_frame > 0)
        snprintf(frames, sizeof frames, " && frame.number>=%lld", w->first_frame);
    if (!strcmp(c, s) && w->client_port == w->server_port)
        n = snprintf(buf, len,
                     "%s.src==%s && tcp.srcport==%lld && %s.dst==%s && tcp.dstport==%lld%s", ip, c,
                     w->client_port, ip, s, w->server_port, frames);
    else
        n = snprintf(buf, len,
                     "((%s.src==%s && tcp.srcport==%lld && %s.dst==%s && tcp.dstport==%lld) || "
                     "(%s.src==%s && tcp.srcport==%lld && %s.dst==%s && tcp.dstport==%lld))%s",
                     ip, c, w->client_port, ip, s, w->server_port, ip, s, w->server_port, ip, c,
                     w->client_port, frames);
    if (n < 0) {
        buf[0] = '\0';
        return -1;
    }
    return n;
}

int fsc_where_frame(char *buf, size_t len, long long capture_id, long long frame)
{
    int n = snprintf(buf, len, "%lld:%lld", capture_id, frame);
    return n < 0 || (size_t)n >= len ? -1 : n;
}
