/* capture.c - the only file that talks to libpcap: reading capture files and writing pcap files. */
#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xxhash.h>
#ifdef __linux__
#include <linux/if_packet.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <xxh_x86dispatch.h> /* AVX2/AVX-512 at run time: the hash is 12% of an analysis */
#endif

#include "finscope/capture.h"

/*
 * A pcap file is read by libpcap, a pcapng file block by block here (see "pcapng" below), both
 * through a stdio stream that finscope supplies (fopencookie): every byte passes through
 * read_hashed() once, so the content hash costs no second pass, stdin is hashed like a file, and
 * the stream position (the offset of the next record, for the "cut off at byte offset N"
 * warning) is known without a seek system call.
 */

/* One interface of a pcapng section. */
struct ng_iface {
    int dlt;          /* DLT_ value of its link type */
    uint32_t snaplen; /* 0: none */
    uint64_t units;   /* time stamp units per second (if_tsresol; 10^6 when absent) */
    int64_t offset_s; /* if_tsoffset: seconds added to every time stamp */
    int filter;       /* index into ng_state.filters, -1 until a frame needs it */
};

/* The BPF filter compiled for one link type. */
struct ng_filter {
    int dlt;
    bool ok; /* false: the expression cannot apply to this link type, so no frame matches */
    struct bpf_program prog;
};

#define NG_NAMES_MAX 256
#define NG_DLTS 65536 /* DLT values a pcapng interface can have (16-bit LINKTYPE_ values) */

/* Reading a pcapng file. */
struct ng_state {
    bool big; /* this section is big-endian */
    struct ng_iface *ifs;
    uint32_t nifs, ifs_cap;
    uint8_t *blk; /* the block being read, whole: type, length, body, trailing length */
    uint32_t blk_cap;
    uint32_t type, body_len; /* of the block in blk; its body starts at blk + 8 */
    int64_t pos;             /* stream offset of the next byte */
    int64_t blk_start;       /* stream offset of the block in blk */
    bool pending;            /* blk holds a packet block that open read ahead */
    struct ng_filter *filters;
    uint32_t nfilters, filters_cap;
    int32_t *filter_of; /* DLT -> index into filters, -1 when not compiled yet (with a filter) */
    int *dlts;          /* link types of the interfaces, each once, in the order they appeared */
    uint32_t ndlts, dlts_cap;
    uint8_t seen[NG_DLTS / 8]; /* bit per DLT: in dlts */
    char names[NG_NAMES_MAX];  /* their names, comma-separated */
};

struct fsc_capture {
    pcap_t *p;
    FILE *fp; /* the cookie stream: libpcap reads it, or the pcapng reader */
    int fd;   /* what the cookie reads from */
    bool own_fd;
    bool eof;       /* read_hashed() saw the end of the input */
    bool corrupt;   /* reading stopped at a corrupt record before the end */
    uint64_t bytes; /* bytes read from fd so far */
    XXH3_state_t *xs;
    char *iobuf;          /* the stream's buffer: glibc ignores a size given without one */
    int64_t record_start; /* offset of the record about to be read */
    int64_t truncated_at;
    int dlt;
    uint64_t frames;
    bool live;
    int sel_fd; /* live: the descriptor to poll() */
    int copies; /* live: copies of each frame the kernel counts (see count_once) */
    const struct pcap_pkthdr *last_h; /* live: the record of the frame returned last (for -w) */
    const u_char *last_data;
    bool has_filter;
    struct bpf_program prog; /* applied here, not in libpcap, so that frames keep their numbers */
    uint8_t head[4];         /* the first bytes, read to choose the reader, handed out again */
    unsigned head_len, head_pos;
    bool is_ng;   /* pcapng: read here, not by libpcap */
    char *filter; /* pcapng: the BPF expression, compiled for each link type */
    struct ng_state ng;
};

#define IOBUF_SIZE (1 << 18)

static ssize_t read_hashed(void *cookie, char *buf, size_t len)
{
    struct fsc_capture *c = cookie;
    ssize_t n;

    if (c->head_pos < c->head_len) { /* hashed when peek_head() read them */
        size_t k = c->head_len - c->head_pos < len ? c->head_len - c->head_pos : len;
        memcpy(buf, c->head + c->head_pos, k);
        c->head_pos += (unsigned)k;
        c->bytes += k;
        return (ssize_t)k;
    }
    do
        n = read(c->fd, buf, len);
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        XXH3_128bits_update(c->xs, buf, (size_t)n);
        c->bytes += (uint64_t)n;
    } else if (n == 0) {
        c->eof = true;
    }
    return n;
}

/* Only "where am I" is supported: ftello() on the stream asks with (0, SEEK_CUR). */
static int seek_tell(void *cookie, off64_t *off, int whence)
{
    struct fsc_capture *c = cookie;

    if (whence != SEEK_CUR || *off != 0) {
        errno = ESPIPE;
        return -1;
    }
    *off = (off64_t)c->bytes;
    return 0;
}

/* Read the first bytes of the input (pcap or pcapng?) and hash them; read_hashed() hands them
 * out again.  0, or -1 with errno. */
static int peek_head(struct fsc_capture *c)
{
    while (c->head_len < sizeof c->head) {
        ssize_t n = read(c->fd, c->head + c->head_len, sizeof c->head - c->head_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        c->head_len += (unsigned)n;
    }
    XXH3_128bits_update(c->xs, c->head, c->head_len);
    return 0;
}

/*
 * Reading stopped before the end (a corrupt record or block): read the rest through the hashing
 * stream anyway, so the capture row still gets the file's hash and size (and a second run on
 * the same file is recognized as a duplicate).
 */
static void drain(struct fsc_capture *c)
{
    char scratch[1 << 16];

    c->corrupt = true;
    while (fread(scratch, 1, sizeof scratch, c->fp) > 0)
        ;
}

static void ng_free(struct ng_state *n)
{
    for (uint32_t i = 0; i < n->nfilters; i++)
        if (n->filters[i].ok)
            pcap_freecode(&n->filters[i].prog);
    free(n->filters);
    free(n->filter_of);
    free(n->ifs);
    free(n->blk);
    free(n->dlts);
}

static void capture_free(struct fsc_capture *c)
{
    ng_free(&c->ng);
    free(c->filter);
    if (c->has_filter)
        pcap_freecode(&c->prog);
    if (c->p)
        pcap_close(c->p); /* closes c->fp */
    else if (c->fp)
        fclose(c->fp);
    if (c->own_fd && c->fd >= 0)
        close(c->fd);
    if (c->xs)
        XXH3_freeState(c->xs);
    free(c->iobuf);
    free(c);
}

/* ---- pcapng ---- */

/*
 * libpcap (1.10) refuses a pcapng file whose interfaces differ in link type ("an interface has a
 * type 113 different from the type of the first interface"): what mergecap makes of an Ethernet
 * and a Linux cooked capture.  So finscope reads pcapng itself (draft-ietf-opsawg-pcapng), and
 * every frame carries its own interface's link type, time stamp resolution and offset.  It reads
 * every pcapng file so, not only those libpcap refuses: libpcap notices only at the second
 * interface, after frames were handed out from a stream that cannot be read again (stdin), and
 * one reader for a format keeps one set of rules.  It checks every length libpcap checks; a
 * block that breaks one is corrupt.
 */
enum {
    NG_SHB = 0x0A0D0D0A, /* section header: byte order and interfaces start anew */
    NG_IDB = 1,          /* interface description */
    NG_PB = 2,           /* packet block (obsolete) */
    NG_SPB = 3,          /* simple packet block: interface 0, no time stamp */
    NG_EPB = 6,          /* enhanced packet block */
};
#define NG_BYTE_ORDER_MAGIC 0x1A2B3C4DU
#define NG_MAX_BLOCK (16U << 20)   /* as libpcap: a longer block is taken for corruption */
#define NG_MAX_IFACES 65536U       /* interfaces in one section */
#define NG_MAX_SECONDS (1LL << 40) /* time stamps within +-2^40 s (~35,000 years) of 1970 */
#define NG_SNAPLEN_DEFAULT 262144  /* for compiling filters, as libpcap's dead handles */

/* What reading a block came to. */
enum {
    NG_FRAME = 2, /* a packet block: the frame is filled in */
    NG_OK = 1,    /* a block was read (or, handled) */
    NG_END = 0,   /* the input ended between blocks */
    NG_IOERR = -1,
    NG_CUT = -2, /* the input ended inside a block */
    NG_BAD = -3, /* the block is impossible: corrupt */
};

/* Integers in the section's byte order. */
static uint16_t ng16(const struct ng_state *n, const uint8_t *p)
{
    return n->big ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}

static uint32_t ng32(const struct ng_state *n, const uint8_t *p)
{
    return n->big ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
                  : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint64_t ng64(const struct ng_state *n, const uint8_t *p)
{
    return n->big ? (uint64_t)ng32(n, p) << 32 | ng32(n, p + 4)
                  : (uint64_t)ng32(n, p + 4) << 32 | ng32(n, p);
}

/* pcapng files hold LINKTYPE_ values; libpcap's DLT_ values differ for a few (its
 * linktype_to_dlt() maps these).  Always below NG_DLTS. */
static int ng_dlt(uint16_t linktype)
{
    switch (linktype) {
    case 100:
        return DLT_ATM_RFC1483;
    case 101:
        return DLT_RAW;
    case 102:
        return DLT_SLIP_BSDOS;
    case 103:
        return DLT_PPP_BSDOS;
    default:
        return linktype;
    }
}

static const char *dlt_name(int dlt)
{
    const char *n = pcap_datalink_val_to_name(dlt);
    return n ? n : "unknown";
}

/* fread that keeps the stream offset. */
static size_t ng_read(struct fsc_capture *c, void *buf, size_t len)
{
    size_t got = fread(buf, 1, len, c->fp);
    c->ng.pos += (int64_t)got;
    return got;
}

/* The input ended (or failed) inside a block. */
static int ng_short(struct fsc_capture *c, char *err, size_t errlen)
{
    if (ferror(c->fp)) {
        snprintf(err, errlen, "read error: %s", strerror(errno));
        return NG_IOERR;
    }
    snprintf(err, errlen, "the input ends inside a block");
    return NG_CUT;
}

/*
 * Read the next block, whole, into ng.blk.  NG_OK, NG_END at the end of the input, NG_CUT when it
 * ends inside the block, NG_BAD when its lengths are impossible, NG_IOERR; err says why.
 */
static int ng_read_block(struct fsc_capture *c, char *err, size_t errlen)
{
    struct ng_state *n = &c->ng;
    uint8_t h[12];
    size_t have = 8, got;

    n->blk_start = n->pos;
    got = ng_read(c, h, 8);
    if (got == 0 && !ferror(c->fp))
        return NG_END;
    if (got < 8)
        return ng_short(c, err, errlen);
    if (h[0] == 0x0A && h[1] == 0x0D && h[2] == 0x0D && h[3] == 0x0A) {
        /* A section header's type reads the same either way; its byte-order magic says how to
         * read its length and everything up to the next one. */
        if (ng_read(c, h + 8, 4) < 4)
            return ng_short(c, err, errlen);
        have = 12;
        n->big = false;
        if (ng32(n, h + 8) != NG_BYTE_ORDER_MAGIC) {
            n->big = true;
            if (ng32(n, h + 8) != NG_BYTE_ORDER_MAGIC) {
                snprintf(err, errlen, "section header with a bad byte-order magic 0x%08x",
                         ng32(n, h + 8));
                return NG_BAD;
            }
        }
    }
    uint32_t type = ng32(n, h), len = ng32(n, h + 4);
    if (len < 12) {
        snprintf(err, errlen, "block length %u is shorter than 12", len);
        return NG_BAD;
    }
    if (len % 4) {
        snprintf(err, errlen, "block length %u is not a multiple of 4", len);
        return NG_BAD;
    }
    if (len > NG_MAX_BLOCK) {
        snprintf(err, errlen, "block length %u is larger than %u", len, NG_MAX_BLOCK);
        return NG_BAD;
    }
    if (type == NG_SHB && len < 28) {
        snprintf(err, errlen, "section header length %u is shorter than 28", len);
        return NG_BAD;
    }
    if (len > n->blk_cap) {
        uint32_t cap = n->blk_cap ? n->blk_cap : 1U << 16;
        while (cap < len)
            cap *= 2;
        uint8_t *blk = realloc(n->blk, cap);
        if (!blk) {
            snprintf(err, errlen, "out of memory for a block of %u bytes", len);
            return NG_IOERR;
        }
        n->blk = blk;
        n->blk_cap = cap;
    }
    memcpy(n->blk, h, have);
    if (ng_read(c, n->blk + have, len - have) < len - have)
        return ng_short(c, err, errlen);
    if (ng32(n, n->blk + len - 4) != len) {
        snprintf(err, errlen, "block length %u in the trailer differs from %u in the header",
                 ng32(n, n->blk + len - 4), len);
        return NG_BAD;
    }
    n->type = type;
    n->body_len = len - 12;
    return NG_OK;
}

/* A section header: only major version 1 exists; the interfaces start anew. */
static int ng_section(struct ng_state *n, char *err, size_t errlen)
{
    const uint8_t *b = n->blk + 8;

    if (ng16(n, b + 4) != 1) {
        snprintf(err, errlen, "pcapng version %u.%u is not supported (1.x is)", ng16(n, b + 4),
                 ng16(n, b + 6));
        return NG_BAD;
    }
    n->nifs = 0;
    return NG_OK;
}

/* if_tsresol: units per second, 10^v or, with the top bit, 2^(v & 0x7f).  false beyond 64 bits. */
static bool ng_resolution(uint8_t v, uint64_t *units)
{
    if (v & 0x80) {
        if ((v & 0x7f) > 63)
            return false;
        *units = 1ULL << (v & 0x7f);
        return true;
    }
    if (v > 19)
        return false;
    for (*units = 1; v; v--)
        *units *= 10;
    return true;
}

/* Remember a link type for the capture row: each once, names comma-separated. */
static int ng_note_dlt(struct ng_state *n, int dlt)
{
    if (n->seen[dlt / 8] & (1U << (dlt % 8)))
        return 0;
    if (n->ndlts == n->dlts_cap) {
        uint32_t cap = n->dlts_cap ? 2 * n->dlts_cap : 4;
        int *d = realloc(n->dlts, cap * sizeof *d);
        if (!d)
            return -1;
        n->dlts = d;
        n->dlts_cap = cap;
    }
    n->seen[dlt / 8] |= (uint8_t)(1U << (dlt % 8));
    n->dlts[n->ndlts++] = dlt;
    size_t used = strlen(n->names);
    const char *name = dlt_name(dlt);
    if (used >= 4 && strcmp(n->names + used - 4, ",...") == 0)
        return 0; /* the list is full */
    if (used + 1 + strlen(name) + 4 >= sizeof n->names)
        snprintf(n->names + used, sizeof n->names - used, ",...");
    else
        snprintf(n->names + used, sizeof n->names - used, "%s%s", used ? "," : "", name);
    return 0;
}

/* An interface description: link type, snaplen, and the options that place its time stamps. */
static int ng_interface(struct ng_state *n, char *err, size_t errlen)
{
    const uint8_t *b = n->blk + 8, *end = b + n->body_len, *o;
    struct ng_iface i = {.units = 1000000, .filter = -1};
    bool resol = false, offset = false;

    if (n->body_len < 8) {
        snprintf(err, errlen, "interface description block too short (%u bytes)", n->body_len);
        return NG_BAD;
    }
    if (n->nifs == NG_MAX_IFACES) {
        snprintf(err, errlen, "more than %u interfaces in one section", NG_MAX_IFACES);
        return NG_BAD;
    }
    i.dlt = ng_dlt(ng16(n, b));
    i.snaplen = ng32(n, b + 4);
    for (o = b + 8; o < end;) {
        if (end - o < 4) {
            snprintf(err, errlen, "option header cut by the end of its block");
            return NG_BAD;
        }
        uint16_t code = ng16(n, o), len = ng16(n, o + 2);
        size_t padded = ((size_t)len + 3) & ~(size_t)3;
        const uint8_t *v = o + 4;
        if (padded > (size_t)(end - v)) {
            snprintf(err, errlen, "option %u of %u bytes runs past the end of its block", code,
                     len);
            return NG_BAD;
        }
        o = v + padded;
        if (code == 0) /* opt_endofopt */
            break;
        if (code == 9) { /* if_tsresol: at most once, one byte */
            if (resol || len != 1 || !ng_resolution(v[0], &i.units)) {
                snprintf(err, errlen,
                         "if_tsresol option (%u bytes, 0x%02x) repeated, not one byte, or finer "
                         "than 10^-19 s or 2^-63 s",
                         len, len ? v[0] : 0);
                return NG_BAD;
            }
            resol = true;
        } else if (code == 14) { /* if_tsoffset: at most once, 8 bytes of seconds */
            if (offset || len != 8) {
                snprintf(err, errlen, "if_tsoffset option (%u bytes) repeated or not 8 bytes", len);
                return NG_BAD;
            }
            i.offset_s = (int64_t)ng64(n, v);
            offset = true;
        }
    }
    if (n->nifs == n->ifs_cap) {
        uint32_t cap = n->ifs_cap ? 2 * n->ifs_cap : 4;
        struct ng_iface *ifs = realloc(n->ifs, cap * sizeof *ifs);
        if (!ifs) {
            snprintf(err, errlen, "out of memory for %u interfaces", cap);
            return NG_IOERR;
        }
        n->ifs = ifs;
        n->ifs_cap = cap;
    }
    n->ifs[n->nifs++] = i;
    if (ng_note_dlt(n, i.dlt) < 0) {
        snprintf(err, errlen, "out of memory for link types");
        return NG_IOERR;
    }
    return NG_OK;
}

/*
 * A time stamp t in the interface's units as microseconds since the epoch, rounded down as
 * libpcap rounds (frac * 10^6 / units, in exact integer arithmetic).  false when it lies beyond
 * NG_MAX_SECONDS.
 */
static bool ng_time(const struct ng_iface *i, uint64_t t, fsc_time *out)
{
    uint64_t whole = t / i->units, frac = t % i->units, usec;
    int64_t sec;

    if (i->units >= FSC_USEC_PER_SEC && i->units % FSC_USEC_PER_SEC == 0) {
        usec = frac / (i->units / FSC_USEC_PER_SEC); /* 10^k, k >= 6 */
    } else if (FSC_USEC_PER_SEC % i->units == 0) {
        usec = frac * (FSC_USEC_PER_SEC / i->units); /* 10^k, k < 6, or 2^0 */
    } else {
        /* 2^s: frac * 10^6 >> s, with frac < 2^63 split in 32-bit halves so nothing overflows */
        unsigned s = (unsigned)__builtin_ctzll(i->units);
        uint64_t hi = (frac >> 32) * FSC_USEC_PER_SEC, lo = (frac & 0xffffffffU) * FSC_USEC_PER_SEC;
        usec = s >= 32 ? (hi + (lo >> 32)) >> (s - 32) : (frac * FSC_USEC_PER_SEC) >> s;
    }
    if (whole > (uint64_t)INT64_MAX || __builtin_add_overflow((int64_t)whole, i->offset_s, &sec) ||
        sec >= NG_MAX_SECONDS || sec <= -NG_MAX_SECONDS)
        return false;
    *out = sec * FSC_USEC_PER_SEC + (fsc_time)usec;
    return true;
}

/*
 * The filter for link type dlt, compiled the first time a frame of it comes.  A link type the
 * expression cannot apply to (an Ethernet address and a Linux cooked frame, a link type libpcap
 * cannot filter) gets ok = false: none of its frames matches.  Its index, or -1 out of memory;
 * why, when it cannot apply, into why (may be NULL).
 */
static int ng_filter_index(struct fsc_capture *c, int dlt, char *why, size_t whylen)
{
    struct ng_state *n = &c->ng;

    if (!n->filter_of) {
        if (!(n->filter_of = malloc(NG_DLTS * sizeof *n->filter_of)))
            return -1;
        for (int d = 0; d < NG_DLTS; d++)
            n->filter_of[d] = -1;
    }
    if (n->filter_of[dlt] >= 0)
        return n->filter_of[dlt];
    if (n->nfilters == n->filters_cap) {
        uint32_t cap = n->filters_cap ? 2 * n->filters_cap : 4;
        struct ng_filter *more = realloc(n->filters, cap * sizeof *more);
        if (!more)
            return -1;
        n->filters = more;
        n->filters_cap = cap;
    }
    struct ng_filter *f = &n->filters[n->nfilters];
    f->dlt = dlt;
    pcap_t *dead = pcap_open_dead(dlt, NG_SNAPLEN_DEFAULT);
    if (!dead)
        return -1;
    f->ok = pcap_compile(dead, &f->prog, c->filter, 1, PCAP_NETMASK_UNKNOWN) == 0;
    if (!f->ok && why)
        snprintf(why, whylen, "%s", pcap_geterr(dead));
    pcap_close(dead);
    n->filter_of[dlt] = (int32_t)n->nfilters;
    return (int)n->nfilters++;
}

/* A packet block (EPB, PB, SPB) into *fr.  NG_FRAME, or NG_BAD / NG_IOERR with err. */
static int ng_packet(struct fsc_capture *c, struct fsc_frame *fr, char *err, size_t errlen)
{
    struct ng_state *n = &c->ng;
    const uint8_t *b = n->blk + 8;
    uint32_t ifid = 0, caplen = 0, wirelen, room; /* caplen: set below for every block type */
    uint64_t t = 0;
    const char *what = n->type == NG_EPB  ? "enhanced packet block"
                       : n->type == NG_PB ? "packet block"
                                          : "simple packet block";

    if (n->body_len < (n->type == NG_SPB ? 4U : 20U)) {
        snprintf(err, errlen, "%s too short (%u bytes)", what, n->body_len);
        return NG_BAD;
    }
    if (n->type == NG_SPB) {
        wirelen = ng32(n, b);
        room = n->body_len - 4;
        b += 4;
    } else {
        ifid = n->type == NG_EPB ? ng32(n, b) : ng16(n, b);
        t = (uint64_t)ng32(n, b + 4) << 32 | ng32(n, b + 8);
        caplen = ng32(n, b + 12);
        wirelen = ng32(n, b + 16);
        room = n->body_len - 20;
        b += 20;
    }
    if (ifid >= n->nifs) {
        if (n->nifs)
            snprintf(err, errlen, "%s on interface %u, but the section describes %u interface(s)",
                     what, ifid, n->nifs);
        else
            snprintf(err, errlen, "%s before any interface description block", what);
        return NG_BAD;
    }
    const struct ng_iface *i = &n->ifs[ifid];
    if (n->type == NG_SPB) /* what the interface's snaplen left of the frame */
        caplen = i->snaplen && i->snaplen < wirelen ? i->snaplen : wirelen;
    if (caplen > room) {
        snprintf(err, errlen, "captured length %u is more than the %s holds (%u bytes)", caplen,
                 what, room);
        return NG_BAD;
    }
    if (!ng_time(i, t, &fr->ts)) {
        snprintf(err, errlen, "time stamp %llu (units of 1/%llu s, offset %lld s) out of range",
                 (unsigned long long)t, (unsigned long long)i->units, (long long)i->offset_s);
        return NG_BAD;
    }
    fr->number = ++c->frames;
    fr->dlt = i->dlt;
    fr->data = b;
    fr->caplen = caplen;
    fr->wirelen = wirelen;
    fr->filtered = false;
    if (c->filter) {
        struct ng_iface *mi = &n->ifs[ifid];
        if (mi->filter < 0 && (mi->filter = ng_filter_index(c, mi->dlt, NULL, 0)) < 0) {
            snprintf(err, errlen, "out of memory for a filter");
            return NG_IOERR;
        }
        const struct ng_filter *f = &n->filters[mi->filter];
        struct pcap_pkthdr h = {.caplen = caplen, .len = wirelen};
        fr->filtered = !f->ok || !pcap_offline_filter(&f->prog, &h, b);
    }
    return NG_FRAME;
}

/* Handle the block in ng.blk: NG_FRAME (a packet, into *fr), NG_OK, or an error. */
static int ng_block(struct fsc_capture *c, struct fsc_frame *fr, char *err, size_t errlen)
{
    switch (c->ng.type) {
    case NG_SHB:
        return ng_section(&c->ng, err, errlen);
    case NG_IDB:
        return ng_interface(&c->ng, err, errlen);
    case NG_EPB:
    case NG_PB:
    case NG_SPB:
        return ng_packet(c, fr, err, errlen);
    default: /* name resolution, statistics, secrets, custom, ...: nothing finscope uses */
        return NG_OK;
    }
}

/*
 * After the file's first bytes said pcapng: read the blocks up to the first packet block (kept
 * for fsc_capture_next) and compile the filter.  Anything wrong before the first packet is an
 * error of the open, naming the block's offset.  0 or -1.
 */
static int ng_open(struct fsc_capture *c, const char *path, const char *filter, char *err,
                   size_t errlen)
{
    struct ng_state *n = &c->ng;
    char why[256] = "";
    int rc;

    c->is_ng = true;
    if (filter && *filter && !(c->filter = strdup(filter))) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    while ((rc = ng_read_block(c, why, sizeof why)) == NG_OK) {
        if (n->type == NG_EPB || n->type == NG_PB || n->type == NG_SPB) {
            if (n->nifs == 0) {
                snprintf(why, sizeof why, "packet block before any interface description block");
                rc = NG_BAD;
            }
            n->pending = true;
            break;
        }
        if ((rc = ng_block(c, NULL, why, sizeof why)) != NG_OK)
            break;
    }
    if (rc == NG_END && n->ndlts == 0) {
        snprintf(why, sizeof why, "no interface description block");
        rc = NG_BAD;
    }
    if (rc == NG_CUT)
        snprintf(why, sizeof why, "cut off inside a block");
    if (rc < 0) {
        snprintf(err, errlen, "%s: not a readable pcapng capture: %s (byte offset %lld)", path, why,
                 (long long)n->blk_start);
        return -1;
    }
    c->dlt = n->dlts[0];
    if (c->filter) {
        /* Checked now against each link type described so far: it must apply to one. */
        bool any = false;
        for (uint32_t k = 0; k < n->ndlts; k++) {
            int f = ng_filter_index(c, n->dlts[k], k ? NULL : why, sizeof why);
            if (f < 0) {
                snprintf(err, errlen, "%s: out of memory", path);
                return -1;
            }
            any |= n->filters[f].ok;
        }
        if (!any) {
            snprintf(err, errlen, "bad filter '%s': %s", c->filter, why);
            return -1;
        }
    }
    return 0;
}

/* The next frame of a pcapng file (as fsc_capture_next). */
static int ng_next(struct fsc_capture *c, struct fsc_frame *fr, char *err, size_t errlen)
{
    struct ng_state *n = &c->ng;
    int rc;

    do {
        rc = n->pending ? NG_OK : ng_read_block(c, err, errlen);
        n->pending = false;
        if (rc == NG_OK)
            rc = ng_block(c, fr, err, errlen);
    } while (rc == NG_OK);
    if (rc == NG_FRAME)
        return 1;
    if (rc == NG_END)
        return 0;
    if (rc == NG_IOERR)
        return -1;
    c->truncated_at = n->blk_start; /* NG_CUT, NG_BAD: what came before is kept */
    if (rc == NG_BAD)
        drain(c);
    return 0;
}

int fsc_capture_open_file(const char *path, const char *filter, struct fsc_capture **out, char *err,
                          size_t errlen)
{
    char perr[PCAP_ERRBUF_SIZE] = "";
    struct fsc_capture *c = calloc(1, sizeof *c);
    cookie_io_functions_t io = {.read = read_hashed, .seek = seek_tell};

    if (!c || !(c->xs = XXH3_createState())) {
        snprintf(err, errlen, "%s: out of memory", path);
        free(c);
        return -1;
    }
    XXH3_128bits_reset(c->xs);
    c->truncated_at = -1;
    if (strcmp(path, "-") == 0) {
        c->fd = STDIN_FILENO;
    } else if ((c->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        capture_free(c);
        return -1;
    } else {
        c->own_fd = true;
        posix_fadvise(c->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    if (peek_head(c) < 0) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        capture_free(c);
        return -1;
    }
    if (!(c->fp = fopencookie(c, "r", io))) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        capture_free(c);
        return -1;
    }
    __fsetlocking(c->fp, FSETLOCKING_BYCALLER); /* one thread reads it: no stdio locks */
    if ((c->iobuf = malloc(IOBUF_SIZE)))
        setvbuf(c->fp, c->iobuf, _IOFBF, IOBUF_SIZE);
    if (c->head_len == sizeof c->head && memcmp(c->head, "\x0a\x0d\x0d\x0a", 4) == 0) {
        if (ng_open(c, path, filter, err, errlen) < 0) {
            capture_free(c);
            return -1;
        }
        *out = c;
        return 0;
    }
    /* Microsecond stamps whatever the file holds: nanosecond pcapng/pcap files are scaled. */
    c->p = pcap_fopen_offline_with_tstamp_precision(c->fp, PCAP_TSTAMP_PRECISION_MICRO, perr);
    if (!c->p) {
        /* libpcap says e.g. "unknown file format"; what it could not read is the file header. */
        snprintf(err, errlen, "%s: not a readable pcap or pcapng capture (byte offset 0): %s", path,
                 perr);
        capture_free(c);
        return -1;
    }
    c->dlt = pcap_datalink(c->p);
    c->record_start = (int64_t)ftello(c->fp);
    if (filter && *filter) {
        if (pcap_compile(c->p, &c->prog, filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
            snprintf(err, errlen, "bad filter '%s': %s", filter, pcap_geterr(c->p));
            capture_free(c);
            return -1;
        }
        c->has_filter = true;
    }
    *out = c;
    return 0;
}

bool fsc_capture_hash(const struct fsc_capture *c, char *buf, size_t len)
{
    if (!c->eof)
        return false;
    XXH128_hash_t h = XXH3_128bits_digest(c->xs);
    snprintf(buf, len, "xxh128:%016llx%016llx", (unsigned long long)h.high64,
             (unsigned long long)h.low64);
    return true;
}

uint64_t fsc_capture_bytes(const struct fsc_capture *c)
{
    return c->bytes;
}

/* What a failed pcap_activate means, in words that say what to do. */
static void activate_error(pcap_t *p, int rc, const char *iface, char *err, size_t errlen)
{
    switch (rc) {
    case PCAP_ERROR_PERM_DENIED:
    case PCAP_ERROR_PROMISC_PERM_DENIED:
        snprintf(err, errlen,
                 "%s: no permission to capture (%s): finscope needs CAP_NET_RAW (and "
                 "CAP_NET_ADMIN for --promisc); run it as root, or give the binary the "
                 "capabilities: setcap cap_net_raw,cap_net_admin=eip finscope",
                 iface, pcap_geterr(p));
        break;
    case PCAP_ERROR_NO_SUCH_DEVICE:
        snprintf(err, errlen, "%s: no such interface (finscope live --list-interfaces)", iface);
        break;
    case PCAP_ERROR_IFACE_NOT_UP:
        snprintf(err, errlen, "%s: the interface is down (ip link set %s up)", iface, iface);
        break;
    default:
        snprintf(err, errlen, "%s: cannot capture: %s", iface, pcap_geterr(p));
        break;
    }
}

/* Whether libpcap lists iface as a loopback interface. */
static bool iface_is_loopback(const char *iface)
{
    char perr[PCAP_ERRBUF_SIZE] = "";
    pcap_if_t *all = NULL;
    bool lo = false;

    if (pcap_findalldevs(&all, perr) < 0)
        return false;
    for (pcap_if_t *d = all; d; d = d->next)
        if (strcmp(d->name, iface) == 0)
            lo = (d->flags & PCAP_IF_LOOPBACK) != 0;
    pcap_freealldevs(all);
    return lo;
}

/*
 * How many times the kernel counts each frame of this live capture: 1, or 2 on a loopback
 * interface where outgoing copies cannot be left out.
 *
 * Linux hands a packet socket on lo every frame twice: once as it is sent (PACKET_OUTGOING) and
 * once as it comes back in.  libpcap drops the outgoing copy in user space, but the kernel ring
 * and its counters (PACKET_STATISTICS: ps_recv, ps_drop) hold both, so a stall that lost N frames
 * reported 2N drops (`tcpdump -i lo` of 1,000 datagrams: "1000 packets captured, 2000 packets
 * received by filter"; stalled: 19,992 missing, 39,984 dropped).  PACKET_IGNORE_OUTGOING (Linux
 * 4.20) keeps the outgoing copies out of the socket altogether: the frames finscope sees do not
 * change, the ring holds twice as many of them, and the counters count frames.  On "any" the
 * outgoing copies of other interfaces are real frames, so nothing is done there.
 */
static int count_once(pcap_t *p, const char *iface)
{
    if (!iface_is_loopback(iface))
        return 1;
#ifdef PACKET_IGNORE_OUTGOING
    int one = 1;
    if (setsockopt(pcap_fileno(p), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) == 0)
        return 1;
#endif
    return 2; /* an older kernel: fsc_capture_stats halves the counters */
}

int fsc_capture_open_live(const struct fsc_live_opts *o, struct fsc_capture **out, char *err,
                          size_t errlen)
{
    char perr[PCAP_ERRBUF_SIZE] = "";
    struct fsc_capture *c = calloc(1, sizeof *c);
    int rc;

    if (!c) {
        snprintf(err, errlen, "%s: out of memory", o->iface);
        return -1;
    }
    c->fd = -1;
    c->live = true;
    c->truncated_at = -1;
    c->record_start = -1;
    if (!(c->p = pcap_create(o->iface, perr))) {
        snprintf(err, errlen, "%s: %s", o->iface, perr);
        capture_free(c);
        return -1;
    }
    pcap_set_snaplen(c->p, o->snaplen);
    pcap_set_promisc(c->p, o->promisc);
    /* Immediate mode: frames are delivered as they come, not when a buffer fills, so short
     * captures are not empty and rows appear while the connections happen.  The timeout lets
     * the loop look at the clock and the signals when the interface is quiet. */
    pcap_set_immediate_mode(c->p, 1);
    pcap_set_timeout(c->p, 100);
    pcap_set_buffer_size(c->p, o->buffer_bytes);
    if ((rc = pcap_activate(c->p)) < 0) {
        activate_error(c->p, rc, o->iface, err, errlen);
        capture_free(c);
        return -1;
    }
    c->dlt = pcap_datalink(c->p);
    c->copies = count_once(c->p, o->iface);
    c->sel_fd = pcap_get_selectable_fd(c->p);
    if (c->sel_fd < 0 || pcap_setnonblock(c->p, 1, perr) < 0) {
        snprintf(err, errlen, "%s: cannot wait on the capture handle: %s", o->iface, perr);
        capture_free(c);
        return -1;
    }
    if (o->filter && *o->filter) {
        struct bpf_program prog;
        bpf_u_int32 net = 0, mask = PCAP_NETMASK_UNKNOWN;
        if (pcap_lookupnet(o->iface, &net, &mask, perr) < 0)
            mask = PCAP_NETMASK_UNKNOWN;
        if (pcap_compile(c->p, &prog, o->filter, 1, mask) < 0) {
            snprintf(err, errlen, "bad filter '%s': %s", o->filter, pcap_geterr(c->p));
            capture_free(c);
            return -1;
        }
        /* In the kernel: frames the filter drops never cost a copy. */
        rc = pcap_setfilter(c->p, &prog);
        pcap_freecode(&prog);
        if (rc < 0) {
            snprintf(err, errlen, "cannot apply filter '%s': %s", o->filter, pcap_geterr(c->p));
            capture_free(c);
            return -1;
        }
    }
    *out = c;
    return 0;
}

int fsc_capture_default_iface(char *buf, size_t len, char *err, size_t errlen)
{
    char perr[PCAP_ERRBUF_SIZE] = "";
    pcap_if_t *all = NULL, *pick = NULL;

    if (pcap_findalldevs(&all, perr) < 0) {
        snprintf(err, errlen, "cannot list interfaces: %s", perr);
        return -1;
    }
    /* As tcpdump: the first interface that is up and running, loopback only if nothing else. */
    for (pcap_if_t *d = all; d; d = d->next) {
        bool up = (d->flags & PCAP_IF_UP) && (d->flags & PCAP_IF_RUNNING);
        if (!up || strcmp(d->name, "any") == 0)
            continue;
        if (!(d->flags & PCAP_IF_LOOPBACK)) {
            pick = d;
            break;
        }
        if (!pick)
            pick = d;
    }
    if (!pick) {
        snprintf(err, errlen, "no interface to capture on (finscope live --list-interfaces)");
        pcap_freealldevs(all);
        return -1;
    }
    snprintf(buf, len, "%s", pick->name);
    pcap_freealldevs(all);
    return 0;
}

/* The flags in brackets after an interface, as `tcpdump -D` prints them ("Up, Running, Loopback"
 * and the connection status; "none" when flags has none of the first four). */
static void iface_flags(FILE *out, bpf_u_int32 flags)
{
    static const struct {
        bpf_u_int32 bit;
        const char *name;
    } names[] = {{PCAP_IF_UP, "Up"},
                 {PCAP_IF_RUNNING, "Running"},
                 {PCAP_IF_LOOPBACK, "Loopback"},
                 {PCAP_IF_WIRELESS, "Wireless"}};
    bool wireless = flags & PCAP_IF_WIRELESS;
    const char *sep = "";

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (flags & names[i].bit) {
            fprintf(out, "%s%s", sep, names[i].name);
            sep = ", ";
        }
    if (!*sep)
        fputs("none", out);
    switch (flags & PCAP_IF_CONNECTION_STATUS) {
    case PCAP_IF_CONNECTION_STATUS_UNKNOWN:
        fputs(wireless ? ", Association status unknown" : ", Connection status unknown", out);
        break;
    case PCAP_IF_CONNECTION_STATUS_CONNECTED:
        fputs(wireless ? ", Associated" : ", Connected", out);
        break;
    case PCAP_IF_CONNECTION_STATUS_DISCONNECTED:
        fputs(wireless ? ", Not associated" : ", Disconnected", out);
        break;
    default: /* not applicable: nothing, as tcpdump */
        break;
    }
}

int fsc_capture_list_ifaces(FILE *out, char *err, size_t errlen)
{
    char perr[PCAP_ERRBUF_SIZE] = "";
    pcap_if_t *all = NULL;
    int n = 0;

    if (pcap_findalldevs(&all, perr) < 0) {
        snprintf(err, errlen, "cannot list interfaces: %s", perr);
        return -1;
    }
    /* Line for line as `tcpdump -D`: "1.eth0 [Up, Running, Connected]", the description in
     * parentheses when libpcap has one, no brackets when libpcap knows no flag at all. */
    for (pcap_if_t *d = all; d; d = d->next) {
        fprintf(out, "%d.%s", ++n, d->name);
        if (d->description)
            fprintf(out, " (%s)", d->description);
        if (d->flags) {
            fputs(" [", out);
            iface_flags(out, d->flags);
            fputc(']', out);
        }
        fputc('\n', out);
    }
    pcap_freealldevs(all);
    return 0;
}

int fsc_capture_stats(struct fsc_capture *c, uint64_t *received, uint64_t *dropped)
{
    struct pcap_stat st;

    if (!c->live || pcap_stats(c->p, &st) < 0)
        return -1;
    /*
     * libpcap keeps ps_recv and ps_drop as totals since the handle was opened (the kernel resets
     * its counters at each read and libpcap adds them up), so each call returns the totals so
     * far.  ps_ifdrop (promiscuous mode only) counts frames the interface itself dropped.  With
     * two copies per frame (count_once) the halved counts are approximate: a stall can begin or
     * end between a frame's two copies.
     */
    *received = st.ps_recv / (unsigned)c->copies;
    *dropped =
        ((uint64_t)st.ps_drop + (unsigned)c->copies - 1) / (unsigned)c->copies + st.ps_ifdrop;
    return 0;
}

int fsc_capture_dlt(const struct fsc_capture *c)
{
    return c->dlt;
}

const char *fsc_capture_dlt_name(const struct fsc_capture *c)
{
    return c->is_ng ? c->ng.names : dlt_name(c->dlt);
}

unsigned fsc_capture_dlts(const struct fsc_capture *c, int *out, unsigned max)
{
    unsigned n = c->is_ng ? c->ng.ndlts : 1;

    for (unsigned i = 0; i < n && i < max; i++)
        out[i] = c->is_ng ? c->ng.dlts[i] : c->dlt;
    return n;
}

int fsc_capture_next(struct fsc_capture *c, struct fsc_frame *fr, char *err, size_t errlen)
{
    struct pcap_pkthdr *h;
    const u_char *data;

    if (c->is_ng)
        return ng_next(c, fr, err, errlen);
    int rc = pcap_next_ex(c->p, &h, &data);

    /*
     * Live: the handle is non-blocking, because with immediate mode on Linux (TPACKET_V3) the
     * read timeout is not honoured and a blocking read would wait forever on a quiet interface -
     * no commits, no expiry, no reaction to SIGINT.  Wait in poll() instead, at most 100 ms;
     * a signal interrupts it.
     */
    if (c->live && rc == 0 && c->sel_fd >= 0) {
        struct pollfd pfd = {.fd = c->sel_fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0)
            return 2;
        rc = pcap_next_ex(c->p, &h, &data);
    }

    if (rc == 1) {
        fr->number = ++c->frames;
        fr->dlt = c->dlt;
        fr->filtered = c->has_filter && !pcap_offline_filter(&c->prog, h, data);
        fr->ts = (fsc_time)h->ts.tv_sec * FSC_USEC_PER_SEC + h->ts.tv_usec;
        fr->data = data;
        fr->caplen = h->caplen;
        fr->wirelen = h->len;
        c->last_h = h;
        c->last_data = data;
        /* libpcap reads each record with fread, so the stream position is the next record. */
        if (!c->live)
            c->record_start = (int64_t)ftello(c->fp);
        return 1;
    }
    if (rc == PCAP_ERROR_BREAK)
        return 0;
    if (c->live) {
        if (rc == 0)
            return 2; /* read timeout: no frame yet */
        snprintf(err, errlen, "%s", pcap_geterr(c->p));
        return -1;
    }
    /*
     * Anything else in the middle of a file - a record cut off by the end of the file, or a
     * corrupt record header - ends the input early: what came before it is kept.
     */
    c->truncated_at = c->record_start;
    snprintf(err, errlen, "%s", pcap_geterr(c->p));
    if (!c->eof) /* not the end of the file: a corrupt record */
        drain(c);
    return 0;
}

bool fsc_capture_corrupt(const struct fsc_capture *c)
{
    return c->corrupt;
}

int64_t fsc_capture_truncated(const struct fsc_capture *c)
{
    return c->truncated_at;
}

void fsc_capture_close(struct fsc_capture *c)
{
    if (c)
        capture_free(c);
}

struct fsc_pcap_writer {
    pcap_t *p;
    pcap_dumper_t *d;
};

int fsc_pcap_writer_open(const char *path, int dlt, struct fsc_pcap_writer **out, char *err,
                         size_t errlen)
{
    struct fsc_pcap_writer *w = calloc(1, sizeof *w);

    if (!w || !(w->p = pcap_open_dead(dlt, 262144))) {
        snprintf(err, errlen, "%s: cannot set up a pcap writer", path);
        free(w);
        return -1;
    }
    w->d = pcap_dump_open(w->p, path);
    if (!w->d) {
        snprintf(err, errlen, "%s: %s", path, pcap_geterr(w->p));
        pcap_close(w->p);
        free(w);
        return -1;
    }
    *out = w;
    return 0;
}

void fsc_pcap_writer_write(struct fsc_pcap_writer *w, fsc_time ts, const uint8_t *data,
                           uint32_t len)
{
    struct pcap_pkthdr h;

    h.ts.tv_sec = (time_t)(ts / FSC_USEC_PER_SEC);
    h.ts.tv_usec = (suseconds_t)(ts % FSC_USEC_PER_SEC);
    h.caplen = len;
    h.len = len;
    pcap_dump((u_char *)w->d, &h, data);
}

int fsc_pcap_writer_close(struct fsc_pcap_writer *w)
{
    int rc = 0;

    if (!w)
        return 0;
    if (pcap_dump_flush(w->d) < 0 || ferror(pcap_dump_file(w->d)))
        rc = -1;
    pcap_dump_close(w->d);
    pcap_close(w->p);
    free(w);
    return rc;
}

/* ---- writing a live capture's frames as captured (tcpdump -w) ---- */

struct fsc_dump {
    pcap_dumper_t *d;
    uint64_t size;
};

#define PCAP_FILE_HEADER_LEN 24 /* magic, version, thiszone, sigfigs, snaplen, linktype */
#define PCAP_RECORD_HEADER_LEN 16

int fsc_dump_open(struct fsc_capture *c, const char *path, struct fsc_dump **out, char *err,
                  size_t errlen)
{
    struct fsc_dump *d = calloc(1, sizeof *d);

    if (!d || !c->live) {
        snprintf(err, errlen, "%s: cannot set up a pcap writer", path);
        free(d);
        return -1;
    }
    /* On the live handle, as tcpdump does: the file gets its link type and snaplen. */
    if (!(d->d = pcap_dump_open(c->p, path))) {
        snprintf(err, errlen, "%s", pcap_geterr(c->p)); /* "PATH: why" */
        free(d);
        return -1;
    }
    d->size = PCAP_FILE_HEADER_LEN;
    *out = d;
    return 0;
}

void fsc_dump_frame(struct fsc_dump *d, const struct fsc_capture *c)
{
    pcap_dump((u_char *)d->d, c->last_h, c->last_data);
    d->size += PCAP_RECORD_HEADER_LEN + c->last_h->caplen;
}

uint64_t fsc_dump_size(const struct fsc_dump *d)
{
    return d->size;
}

int fsc_dump_flush(struct fsc_dump *d, const char *path, char *err, size_t errlen)
{
    if (pcap_dump_flush(d->d) < 0 || ferror(pcap_dump_file(d->d))) {
        snprintf(err, errlen, "%s: write error: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int fsc_dump_close(struct fsc_dump *d, const char *path, char *err, size_t errlen)
{
    int rc;

    if (!d)
        return 0;
    rc = fsc_dump_flush(d, path, err, errlen);
    pcap_dump_close(d->d); /* also closes standard output for "-", as tcpdump */
    free(d);
    return rc;
}

bool fsc_capture_filter_compiles(const char *expr)
{
    struct bpf_program prog;
    pcap_t *dead = pcap_open_dead(DLT_EN10MB, 262144);
    bool ok;

    if (!dead)
        return false;
    ok = pcap_compile(dead, &prog, expr, 1, PCAP_NETMASK_UNKNOWN) == 0;
    if (ok)
        pcap_freecode(&prog);
    pcap_close(dead);
    return ok;
}
