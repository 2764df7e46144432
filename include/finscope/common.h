/* finscope/common.h - types shared by every stage: time, addresses, wraparound-safe sequence math.
 */
#ifndef FINSCOPE_COMMON_H
#define FINSCOPE_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#define FSC_VERSION "0.1.0"

/* Capture time in microseconds since the Unix epoch (pcapng nanosecond stamps are rounded down). */
typedef int64_t fsc_time;

#define FSC_USEC_PER_SEC 1000000LL

static inline double fsc_time_seconds(fsc_time t)
{
    return (double)t / (double)FSC_USEC_PER_SEC;
}

/*
 * TCP sequence comparisons modulo 2^32 (RFC 9293 section 3.4): a is "less than" b when b lies in
 * the half of the sequence space that follows a.  Every comparison of packet sequence or
 * acknowledgment numbers goes through these; never compare them with < directly.
 */
#define FSC_SEQ_LT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define FSC_SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define FSC_SEQ_GT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) > 0)
#define FSC_SEQ_GEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) >= 0)
/* Signed distance b - a in sequence space. */
#define FSC_SEQ_DIFF(a, b) ((int32_t)((uint32_t)(b) - (uint32_t)(a)))

/* 64-bit finalizer (MurmurHash3's fmix64): every input bit moves every output bit. */
static inline uint64_t fsc_mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* An IPv4 or IPv6 address; IPv4 uses the first 4 bytes and the rest stays zero. */
struct fsc_addr {
    uint8_t b[16];
};

/* printf into a caller-owned error buffer (err may be NULL or errlen 0: then nothing). */
void fsc_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Seconds from a command-line argument: a finite decimal number from 0 to 1e9, fractions
 * allowed; no sign, space, hex, nan or inf.  0, or -1 if malformed or out of range.
 */
int fsc_parse_seconds(const char *s, double *out);

/* A count from a command-line argument: decimal digits only, min .. max.  0, or -1. */
int fsc_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/*
 * --max-flows: 1 .. FSC_MAX_FLOWS_LIMIT connections held at once.  0, or -1 if malformed.
 * A held connection takes about FSC_FLOW_BYTES of memory (peak RSS growth per connection open
 * at once, measured between 50,000 and 250,000 open: README "Memory"), so the default holds
 * ~1.6 GB: a modest machine's share, not a server's worth.
 */
#define FSC_MAX_FLOWS_LIMIT 100000000
#define FSC_MAX_FLOWS_DEFAULT 1000000
#define FSC_FLOW_BYTES 1594 /* (the help texts of analyze and live say both) */

int fsc_parse_max_flows(const char *s, uint32_t *out);

/* Text form of an address ("192.0.2.1", "2001:db8::1") into buf (at least 46 bytes). */
const char *fsc_addr_str(const struct fsc_addr *a, int ip_version, char *buf, size_t len);

#endif
