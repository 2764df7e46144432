/*
 * fuzz_pipeline.c - libFuzzer harness for the whole path: the input becomes a pcap or pcapng
 * file, `finscope analyze` stores it in a temporary SQLite database, and report, export --zeek
 * (TSV and JSON), show (text and SVG) and query read that database back, all through the
 * command entry points (fsc_cmd_*) as the finscope program calls them; with -DFSC_FUZZ_REPLAY
 * (and replay.c), a program that replays saved inputs.
 *
 * Input (multi-byte fields little-endian; the harness writes them in the file's byte order):
 *   byte 0    container.  Bits 0-1: 0 and 3 pcap, 1 pcapng, 2 the rest of the input is the file
 *             byte for byte (libpcap's own header and record checks).  pcap: bit 2 big-endian,
 *             bit 3 nanosecond timestamps, bits 4-7 the link type (links[] below).
 *   byte 1    analyze options.  Bits 0-1 --max-flows (default, 1, 2, 16), bits 2-3 --linger
 *             (default, 0, 0.5, 100 s), bits 4-5 --idle-timeout (default, 0, 1, 30 s), bit 6 a
 *             BPF filter that drops segments without ACK, bit 7 the same file analyzed again,
 *             refused as a duplicate, then with --replace and without -q (the summary).
 *   pcapng:   byte 2: bits 0-1 interfaces - 1, bit 2 big-endian section; then one byte per
 *             interface: bits 0-3 link type, bits 4-5 if_tsresol (none: microseconds, 10^-9,
 *             10^-3, 2^-20), bits 6-7 snaplen (0, 65535, 96, 262144).
 *   records   to the end of the input, each a 12-byte header and caplen bytes of frame:
 *               u32 hi, lo  pcap: seconds and fraction; pcapng: the 64-bit timestamp's halves
 *               u16 caplen  cut to what is left of the input
 *               u8 extra    wire length = caplen + extra (pcap, ctl bit 0: caplen - extra)
 *               u8 ctl      pcapng: below 0xf0 an Enhanced Packet Block on interface
 *                           ctl % interfaces; 0xf0-0xfd one on interface ctl (there is no
 *                           such interface); 0xfe a Simple Packet Block; 0xff the frame bytes
 *                           written as they are (a block of the input's own making)
 *             A last header shorter than 12 bytes is written as it is: a cut-off record.
 * So the file header is always valid, every record header matches its record, and mutations
 * reach frame decoding and flow analysis rather than stopping at libpcap's checks.
 *
 * The capture is a memfd (/proc/self/fd/N); the database is DIR/fsc-fuzz-PID.db, DIR being
 * $TMPDIR, else /dev/shm, else /tmp; it and its journal are deleted after each input.  The
 * commands' output goes to /dev/null: standard output by dup2 on descriptor 1, standard error by
 * pointing the stderr stream at /dev/null, so that descriptor 2 stays free for the sanitizers' and
 * libFuzzer's reports. A command that reports a usage error (status 2), or one that fails on a
 * database its own analyze wrote without error, is a bug: the harness aborts.
 *
 * Build with meson -Dfuzzing=true (clang; tests/fuzz/README.md), then e.g.
 *   ./build-fuzz/tests/fuzz_pipeline -max_len=65536 -timeout=60 NEW_DIR tests/fuzz/corpus/pipeline
 * The replay program keeps the capture it built from an input when FSC_FUZZ_SAVE=FILE is set:
 *   FSC_FUZZ_SAVE=crash.pcapng ./build/tests/fuzz_pipeline_replay tests/fuzz/crashers/NAME
 */
#include "finscope/analyze.h"
#include "finscope/export.h"
#include "finscope/store.h"

#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Inputs beyond this are skipped: they add time per input, not coverage. */
#define MAX_INPUT (64 * 1024)
#define REC_HDR 12
#define SHOW_FLOWS 3

/* Every link type decode.c supports (12 and 14 are DLT_RAW's numbers on other systems), one it
 * does not (147, USER0), and Ethernet again to weight the common case. */
static const uint16_t links[16] = {1, 113, 276, 101, 228, 229, 0, 108, 12, 14, 147, 1, 1, 1, 1, 1};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The file being built, in memory. */
struct buf {
    uint8_t *p;
    size_t n, cap;
    bool big; /* the file's byte order */
    bool oom;
};

static void put(struct buf *b, const void *src, size_t len)
{
    if (b->oom)
        return;
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + len)
            cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (len)
        memcpy(b->p + b->n, src, len);
    b->n += len;
}

static void put16(struct buf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    if (b->big)
        x[0] = (uint8_t)(v >> 8), x[1] = (uint8_t)v;
    put(b, x, 2);
}

static void put32(struct buf *b, uint32_t v)
{
    uint8_t x[4];
    for (int i = 0; i < 4; i++)
        x[b->big ? 3 - i : i] = (uint8_t)(v >> (8 * i));
    put(b, x, 4);
}

static void pad4(struct buf *b)
{
    static const uint8_t zero[3];
    put(b, zero, (4 - b->n % 4) % 4);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* One record header of the input, its frame bounded by what is left. */
struct rec {
    uint32_t hi, lo, caplen;
    uint8_t extra, ctl;
    const uint8_t *frame;
};

/* Take the next record from *p; false (and nothing consumed) when fewer than 12 bytes are left. */
static bool next_rec(const uint8_t **p, const uint8_t *end, struct rec *r)
{
    if ((size_t)(end - *p) < REC_HDR)
        return false;
    const uint8_t *h = *p;
    uint32_t want = (uint32_t)h[8] | (uint32_t)h[9] << 8;
    r->hi = get32(h);
    r->lo = get32(h + 4);
    r->ctl = h[11];
    r->frame = h + REC_HDR;
    r->caplen = (size_t)(end - r->frame) < want ? (uint32_t)(end - r->frame) : want;
    r->extra = h[10];
    *p = r->frame + r->caplen;
    return true;
}

static void write_pcap(struct buf *b, uint8_t mode, const uint8_t *p, const uint8_t *end)
{
    struct rec r;

    b->big = mode & 4;
    put32(b, mode & 8 ? 0xa1b23c4d : 0xa1b2c3d4);
    put16(b, 2);
    put16(b, 4);
    put32(b, 0);      /* thiszone */
    put32(b, 0);      /* sigfigs */
    put32(b, 262144); /* snaplen */
    put32(b, links[mode >> 4]);
    while (next_rec(&p, end, &r)) {
        put32(b, r.hi);
        put32(b, r.lo);
        put32(b, r.caplen);
        put32(b, (r.ctl & 1) ? r.caplen - (r.extra < r.caplen ? r.extra : r.caplen)
                             : r.caplen + r.extra);
        put(b, r.frame, r.caplen);
    }
    put(b, p, (size_t)(end - p));
}

static const uint8_t tsresol[4] = {0, 9, 3, 0x80 | 20};
static const uint32_t snaplens[4] = {0, 65535, 96, 262144};

static void write_pcapng(struct buf *b, const uint8_t *p, const uint8_t *end)
{
    struct rec r;

    if (p == end)
        return;
    uint8_t hdr = *p++;
    unsigned nif = 1 + (hdr & 3);
    b->big = hdr & 4;

    /* Section Header Block: byte-order magic, version 1.0, section length unknown. */
    put32(b, 0x0a0d0d0a);
    put32(b, 28);
    put32(b, 0x1a2b3c4d);
    put16(b, 1);
    put16(b, 0);
    put32(b, 0xffffffff);
    put32(b, 0xffffffff);
    put32(b, 28);
    for (unsigned i = 0; i < nif; i++) {
        uint8_t d = p < end ? *p++ : 0;
        uint8_t res = tsresol[(d >> 4) & 3];
        uint32_t total = 20 + (res ? 12 : 0);
        put32(b, 1); /* Interface Description Block */
        put32(b, total);
        put16(b, links[d & 15]);
        put16(b, 0);
        put32(b, snaplens[d >> 6]);
        if (res) {
            put16(b, 9); /* if_tsresol */
            put16(b, 1);
            put(b, &res, 1);
            pad4(b);
            put32(b, 0); /* opt_endofopt */
        }
        put32(b, total);
    }
    while (next_rec(&p, end, &r)) {
        uint32_t padded = (r.caplen + 3) & ~3u;
        if (r.ctl == 0xff) {
            put(b, r.frame, r.caplen);
        } else if (r.ctl == 0xfe) {
            put32(b, 3); /* Simple Packet Block: interface 0, no timestamp */
            put32(b, 16 + padded);
            put32(b, r.caplen + r.extra);
            put(b, r.frame, r.caplen);
            pad4(b);
            put32(b, 16 + padded);
        } else {
            put32(b, 6); /* Enhanced Packet Block */
            put32(b, 32 + padded);
            put32(b, r.ctl < 0xf0 ? r.ctl % nif : r.ctl);
            put32(b, r.hi);
            put32(b, r.lo);
            put32(b, r.caplen);
            put32(b, r.caplen + r.extra);
            put(b, r.frame, r.caplen);
            pad4(b);
            put32(b, 32 + padded);
        }
    }
    put(b, p, (size_t)(end - p));
}

/* Standard output and error to /dev/null for the duration of the commands (see the top). */
struct quiet {
    int out_fd;
    FILE *err;
    FILE *null;
};

static bool quiet_begin(struct quiet *q)
{
    q->out_fd = -1;
    q->err = stderr;
    q->null = NULL;
#ifdef FSC_FUZZ_DEBUG
    return true;
#else
    fflush(stdout);
    if (!(q->null = fopen("/dev/null", "w")))
        return false;
    if ((q->out_fd = dup(STDOUT_FILENO)) < 0 || dup2(fileno(q->null), STDOUT_FILENO) < 0) {
        if (q->out_fd >= 0)
            close(q->out_fd);
        fclose(q->null);
        return false;
    }
    stderr = q->null;
    return true;
#endif
}

static void quiet_end(struct quiet *q)
{
    if (!q->null)
        return;
    fflush(stdout);
    clearerr(stdout);
    dup2(q->out_fd, STDOUT_FILENO);
    close(q->out_fd);
    stderr = q->err;
    fclose(q->null);
}

typedef int (*command_fn)(int argc, char **argv);

/* Run one command on argv (NULL-terminated); abort on a usage error, the harness's mistake. */
static int run(command_fn fn, const char *const *args)
{
    char *argv[16];
    int argc = 0;

    while (args[argc] && argc < 15) {
        argv[argc] = (char *)args[argc];
        argc++;
    }
    argv[argc] = NULL;
    optind = 0; /* glibc's getopt starts afresh only from 0 (report.c does not reset it) */
    int rc = fn(argc, argv);
    if (rc != 0 && rc != 1)
        abort();
    return rc;
}

static int collect_id(void *user, int ncol, const char *const *names, const char *const *values)
{
    int64_t *ids = user;
    (void)names;
    for (int i = 0; i < SHOW_FLOWS; i++)
        if (ids[i] == 0) {
            ids[i] = ncol > 0 && values[0] ? strtoll(values[0], NULL, 10) : -1;
            break;
        }
    return 0;
}

/* The first flows' ids (0 where there is none); false when the database cannot be read. */
static bool first_flows(const char *db, int64_t ids[SHOW_FLOWS])
{
    struct fsc_store *s;
    char err[256];
    bool ok;

    memset(ids, 0, SHOW_FLOWS * sizeof *ids);
    if (fsc_store_open(db, true, &s, err, sizeof err) < 0)
        return false;
    ok = fsc_store_query(s, "SELECT id FROM flows ORDER BY id LIMIT 3", -1, collect_id, ids, err,
                         sizeof err) == 0;
    fsc_store_close(s);
    return ok;
}

/* Every table and view in table mode; CSV and JSON on the tables with every kind of value (the
 * schema listing, `query DB`, reads nothing an input changes). */
static const char all_sql[] =
    "SELECT * FROM captures; SELECT * FROM skipped; SELECT * FROM flows;"
    "SELECT * FROM transitions; SELECT * FROM segments; SELECT * FROM close_kinds;"
    "SELECT * FROM handshakes; SELECT * FROM closers; SELECT * FROM rst_causes;"
    "SELECT * FROM close_wait_suspects; SELECT * FROM state_dwell";
static const char flows_sql[] = "SELECT * FROM captures; SELECT * FROM flows";

/* Every read command on db; each must succeed when must_read (analyze stored the capture). */
static void read_back(const char *db, bool must_read)
{
    int64_t ids[SHOW_FLOWS] = {0};
    int bad = 0;

    bad |= run(fsc_cmd_report, (const char *const[]){"report", db, NULL});
    bad |= run(fsc_cmd_report, (const char *const[]){"report", "--html", "-", db, NULL});
    bad |= run(fsc_cmd_export, (const char *const[]){"export", "--zeek", db, NULL});
    bad |= run(fsc_cmd_export, (const char *const[]){"export", "--zeek", "--json", db, NULL});
    bad |= run(fsc_cmd_query, (const char *const[]){"query", db, all_sql, NULL});
    bad |= run(fsc_cmd_query, (const char *const[]){"query", "--csv", db, flows_sql, NULL});
    bad |= run(fsc_cmd_query, (const char *const[]){"query", "--json", db, flows_sql, NULL});
    if (!first_flows(db, ids))
        bad = 1;
    for (int i = 0; i < SHOW_FLOWS && ids[i] > 0; i++) {
        char id[24];
        snprintf(id, sizeof id, "%" PRId64, ids[i]);
        bad |= run(fsc_cmd_show, (const char *const[]){"show", db, id, NULL});
        bad |= run(fsc_cmd_show, (const char *const[]){"show", db, id, "--svg", "-", NULL});
    }
    if (must_read && bad)
        abort();
}

static void remove_db(const char *db)
{
    static const char *const suffix[] = {"", "-journal", "-wal", "-shm"};
    char path[4096];

    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        snprintf(path, sizeof path, "%s%s", db, suffix[i]);
        unlink(path);
    }
}

static void analyze(const char *db, const char *capture, uint8_t opts)
{
    static const char *const max_flows[4] = {NULL, "1", "2", "16"};
    static const char *const linger[4] = {NULL, "0", "0.5", "100"};
    static const char *const idle[4] = {NULL, "0", "1", "30"};
    const char *args[16] = {"analyze", "-q", "-o", db};
    int n = 4;

    if (max_flows[opts & 3])
        args[n++] = "--max-flows", args[n++] = max_flows[opts & 3];
    if (linger[(opts >> 2) & 3])
        args[n++] = "--linger", args[n++] = linger[(opts >> 2) & 3];
    if (idle[(opts >> 4) & 3])
        args[n++] = "--idle-timeout", args[n++] = idle[(opts >> 4) & 3];
    if (opts & 0x40)
        args[n++] = "-f", args[n++] = "tcp[tcpflags] & tcp-ack != 0";
    args[n++] = capture;
    args[n] = NULL;
    int rc = run(fsc_cmd_analyze, args);
    if (opts & 0x80) {
        /* The same file again: refused as a duplicate, then replaced, printing the summary
         * that -q kept quiet so far. */
        run(fsc_cmd_analyze, args);
        args[1] = "--replace";
        rc |= run(fsc_cmd_analyze, args);
    }
    /* No database when the capture was unreadable: nothing to read back (and `query DB` with
     * no such file would take DB for SQL on ./finscope.db). */
    if (access(db, F_OK) == 0)
        read_back(db, rc == 0);
}

#ifdef FSC_FUZZ_REPLAY
/* FSC_FUZZ_SAVE=FILE: keep the capture file built from the input, e.g. to turn a crasher into a
 * capture for the golden tests. */
static void save_capture(const struct buf *b)
{
    const char *path = getenv("FSC_FUZZ_SAVE");
    FILE *fp;

    if (!path || !*path || b->oom)
        return;
    if (!(fp = fopen(path, "wb"))) {
        perror(path);
        return;
    }
    bool ok = fwrite(b->p, 1, b->n, fp) == b->n;
    if (fclose(fp) != 0 || !ok)
        perror(path);
}
#endif

/* Where the database goes: $TMPDIR, else a tmpfs (SQLite's fsyncs at each commit cost more time
 * than the analysis on a disk), else /tmp. */
static const char *tmp_dir(void)
{
    const char *t = getenv("TMPDIR");

    if (t && *t)
        return t;
    return access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : "/tmp";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf b = {0};
    struct quiet q;
    char db[4096], capture[64];

    if (size < 2 || size > MAX_INPUT)
        return 0;
    switch (data[0] & 3) {
    case 1:
        write_pcapng(&b, data + 2, data + size);
        break;
    case 2:
        put(&b, data + 2, size - 2);
        break;
    default:
        write_pcap(&b, data[0], data + 2, data + size);
        break;
    }
#ifdef FSC_FUZZ_REPLAY
    save_capture(&b);
#endif
    int fd = b.oom ? -1 : memfd_create("fsc-fuzz-capture", MFD_CLOEXEC);
    if (fd < 0 || write(fd, b.p, b.n) != (ssize_t)b.n) {
        if (fd >= 0)
            close(fd);
        free(b.p);
        return 0;
    }
    free(b.p);
    snprintf(capture, sizeof capture, "/proc/self/fd/%d", fd);
    snprintf(db, sizeof db, "%s/fsc-fuzz-%ld.db", tmp_dir(), (long)getpid());
    remove_db(db);
    if (quiet_begin(&q)) {
        analyze(db, capture, data[1]);
        quiet_end(&q);
    }
    remove_db(db);
    close(fd);
    return 0;
}
