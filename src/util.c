/* util.c - stable token tables and small formatting helpers shared by every stage. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "finscope/flow.h"

void fsc_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int fsc_parse_seconds(const char *s, double *out)
{
    char *end;

    /* Digits first: strtod() would also take "nan", "inf", "-1", " 1" and hex. */
    if (!s || !((*s >= '0' && *s <= '9') || *s == '.') || strpbrk(s, "xXpP"))
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0 && v <= 1e9))
        return -1;
    *out = v;
    return 0;
}

int fsc_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;

    /* Digits only: strtoull() would also take "-1" (as 2^64 - 1), " 1", "+1" and hex. */
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int fsc_parse_max_flows(const char *s, uint32_t *out)
{
    uint64_t v;

    if (fsc_parse_uint(s, 1, FSC_MAX_FLOWS_LIMIT, &v) < 0)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

const char *fsc_addr_str(const struct fsc_addr *a, int ip_version, char *buf, size_t len)
{
    if (!inet_ntop(ip_version == 6 ? AF_INET6 : AF_INET, a->b, buf, (socklen_t)len))
        snprintf(buf, len, "?");
    return buf;
}

static const char *const state_names[FSC_TCP__COUNT] = {
    "closed",     "listen",     "syn_sent", "syn_rcvd", "established", "fin_wait_1",
    "fin_wait_2", "close_wait", "closing",  "last_ack", "time_wait",
};

const char *fsc_tcp_state_name(enum fsc_tcp_state s)
{
    return (unsigned)s < FSC_TCP__COUNT ? state_names[s] : "?";
}

static const char *const evidence_names[FSC_EV__COUNT] = {
    "initial",
    "midstream",
    "sent SYN",
    "sent SYN+ACK (ack covers peer SYN)",
    "ack covers peer SYN",
    "peer ack covers SYN",
    "sent after its SYN was acked",
    "sent FIN",
    "ack covers peer FIN",
    "peer ack covers FIN",
    "peer FIN precedes this segment in sequence",
    "sent RST",
    "peer RST",
    "ack covers peer FIN (ack captured before the FIN)",
    "its FIN's ack covers peer FIN (captured in the other order)",
    "peer ack covers it (ack captured before it)",
    "peer ack covers it (crossed its retransmission)",
    "sent SYN+ACK (not captured: peer ack covers it)",
    "sent data (not captured: peer ack covers it)",
    "sent FIN (not captured: peer ack covers it)",
    "ack covers peer SYN (ack captured before the SYN)",
    "FIN_WAIT_2 timed out (RST answers the peer FIN)",
    "sent SYN (not captured: peer's SYN+ACK answers it)",
    "acked peer SYN (not captured: peer's segments show it)",
    "ack covers peer FIN (captured before its own FIN)",
    "peer FIN segment acks it (its ack of that FIN shows it arrived)",
};

const char *fsc_evidence_name(enum fsc_evidence e)
{
    return (unsigned)e < FSC_EV__COUNT ? evidence_names[e] : "?";
}

static const char *const handshake_names[FSC_HS__COUNT] = {
    "none", "three_way", "simultaneous_open", "self_connect", "refused", "unanswered", "aborted",
};

const char *fsc_handshake_name(enum fsc_handshake h)
{
    return (unsigned)h < FSC_HS__COUNT ? handshake_names[h] : "?";
}

static const char *const close_kind_names[FSC_CK__COUNT] = {
    "open",        "four_way", "three_way", "two_way",    "simultaneous",
    "half_closed", "rst",      "refused",   "unanswered", "fins_unproven",
};

const char *fsc_close_kind_name(enum fsc_close_kind k)
{
    return (unsigned)k < FSC_CK__COUNT ? close_kind_names[k] : "?";
}

static const char *const rst_cause_names[FSC_RC__COUNT] = {
    NULL, "abort", "unread_data", "data_after_close", "handshake", "other", "accept_overflow",
};

const char *fsc_rst_cause_name(enum fsc_rst_cause c)
{
    return (unsigned)c < FSC_RC__COUNT ? rst_cause_names[c] : NULL;
}

static const char *const closer_names[FSC_CL__COUNT] = {"none", "client", "server",
                                                        "both", "self",   "unknown"};

const char *fsc_closer_name(enum fsc_closer c)
{
    return (unsigned)c < FSC_CL__COUNT ? closer_names[c] : "?";
}

static const char *const closer_call_names[FSC_CC__COUNT] = {NULL, "unknown", "close", "shutdown"};

const char *fsc_closer_call_name(enum fsc_closer_call c)
{
    return (unsigned)c < FSC_CC__COUNT ? closer_call_names[c] : NULL;
}

/* Join the names of the set bits of mask into buf, comma-separated, in bit order (whole names
 * only: what does not fit in len is left out). */
static const char *join_bits(unsigned mask, const char *const *names, size_t n, char *buf,
                             size_t len)
{
    size_t used = 0;

    if (len == 0)
        return buf;
    for (size_t i = 0; i < n; i++) {
        if (!(mask & (1u << i)))
            continue;
        size_t w = strlen(names[i]);
        if (used + (used ? 1 : 0) + w >= len)
            break;
        if (used)
            buf[used++] = ',';
        memcpy(buf + used, names[i], w);
        used += w;
    }
    buf[used] = '\0';
    return buf;
}

static const char *const segment_why_names[] = {
    "syn", "fin", "rst", "ack_syn", "ack_fin", "after_fin", "first_data", "first",
};

const char *fsc_segment_why_str(unsigned why, char *buf, size_t len)
{
    return join_bits(why, segment_why_names, sizeof segment_why_names / sizeof *segment_why_names,
                     buf, len);
}

static const char *const anomaly_names[] = {
    "data_after_rst",
    "fin_rst",
    "ack_unseen_data",
    "data_after_own_fin",
    "fin_seq_changed",
    "syn_fin",
    "handshake_incomplete",
    "rst_after_close",
    "syn_retransmitted",
    "synack_without_syn",
    "syn_isn_changed",
    "fin_never_acked",
    "evicted",
    "idle_timeout",
    "rst_with_data",
    "rst_not_acceptable",
    "timestamp_jump",
    "one_sided",
    "fin_wait_2_timeout",
    "fin_without_ack",
    "tap_reordered",
    "holes_capped",
    "timestamp_backwards",
};

const char *fsc_anomaly_str(unsigned anomalies, char *buf, size_t len)
{
    return join_bits(anomalies, anomaly_names, sizeof anomaly_names / sizeof *anomaly_names, buf,
                     len);
}
