/* test_writer.c - unit test of the flow writer: the deep copy, and flows written in order. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "finscope/store.h"
#include "finscope/writer.h"
#include "unit_check.h"

#define T0 1700000000000000LL
#define NFLOWS (3 * FSC_WRITER_SLOTS + 7) /* the ring fills and wraps more than once */

/* A finalized flow with n_seg segments from seg (a refused connection: no transitions). */
static void make_flow(struct fsc_flow *f, uint16_t port, struct fsc_segment *seg, uint32_t n_seg)
{
    memset(f, 0, sizeof *f);
    f->close_wait_us = f->fin_wait_2_us = f->last_ack_us = -1;
    f->ip_version = 4;
    f->finalized = f->closed = true;
    f->ep[FSC_CLIENT].addr.b[0] = 192;
    f->ep[FSC_CLIENT].port = port;
    f->ep[FSC_SERVER].addr.b[0] = 198;
    f->ep[FSC_SERVER].port = 80;
    f->first_ts = f->last_ts = T0 + port;
    f->first_packet = f->last_packet = port;
    f->handshake = FSC_HS_REFUSED;
    f->close_kind = FSC_CK_REFUSED;
    f->first_fin_by = f->first_rst_by = -1;
    for (uint32_t i = 0; i < n_seg; i++) {
        memset(&seg[i], 0, sizeof seg[i]);
        seg[i].ts = T0 + i;
        seg[i].packet = i + 1;
        seg[i].rel_seq = 1000 + i;
        seg[i].flags = FSC_TH_ACK;
        seg[i].why = FSC_SEG_ACK_SYN;
    }
    f->seg = seg;
    f->n_seg = f->cap_seg = n_seg;
}

static void test_copy(void)
{
    struct fsc_segment seg[40];
    struct fsc_flow src, dst;
    struct fsc_zeek_record early[FSC_ZEEK_MAX_EARLIER];
    uint32_t cap = 0;

    memset(&dst, 0, sizeof dst);
    make_flow(&src, 1234, seg, 5);
    src.hnext = &src;
    src.lru.next = src.lru.prev = &src.lru;
    check(fsc_writer_copy_flow(&dst, &cap, early, &src) == 0, "copy", "failed");
    check(dst.seg != src.seg && cap == 16, "copy owns its segments", "seg %p / %p, cap %u",
          (void *)dst.seg, (void *)src.seg, cap);
    check(!dst.hnext && !dst.lru.next && !dst.lru.prev && !dst.seg_pool, "copy has no table links",
          "links kept");
    check(dst.n_seg == 5 && memcmp(dst.seg, seg, 5 * sizeof *seg) == 0 &&
              dst.ep[FSC_CLIENT].port == 1234 && dst.cap_seg == 16,
          "copy equal", "n_seg %u port %u cap_seg %u", dst.n_seg, dst.ep[FSC_CLIENT].port,
          dst.cap_seg);
    seg[0].rel_seq = 7;
    check(dst.seg[0].rel_seq == 1000, "copy independent of the original", "rel_seq %u",
          dst.seg[0].rel_seq);

    make_flow(&src, 99, seg, 40);
    check(fsc_writer_copy_flow(&dst, &cap, early, &src) == 0 && cap == 48 && dst.n_seg == 40 &&
              dst.seg[39].rel_seq == 1039,
          "copy grows the segments", "cap %u n_seg %u", cap, dst.n_seg);
    struct fsc_segment *grown = dst.seg;
    make_flow(&src, 98, seg, 3);
    check(fsc_writer_copy_flow(&dst, &cap, early, &src) == 0 && dst.seg == grown && cap == 48 &&
              dst.n_seg == 3,
          "copy reuses the segments", "cap %u n_seg %u", cap, dst.n_seg);
    free(dst.seg);
}

static int one_int(void *user, int ncol, const char *const *names, const char *const *v)
{
    (void)ncol;
    (void)names;
    *(long long *)user = v[0] ? atoll(v[0]) : -1;
    return 0;
}

static long long q_int(struct fsc_store *s, const char *sql)
{
    long long v = -2;
    char err[512];

    if (fsc_store_query(s, sql, -1, one_int, &v, err, sizeof err) < 0)
        printf("query %s: %s\n", sql, err);
    return v;
}

/* NFLOWS flows through the ring (threaded or not): every one written, in handover order. */
static void test_write(const char *path, bool threaded)
{
    const char *name = threaded ? "thread" : "no thread";
    struct fsc_store *s = NULL;
    struct fsc_capture_info ci = {.source = "x.pcap",
                                  .link_type = "EN10MB",
                                  .link_type_id = 1,
                                  .size_bytes = -1,
                                  .truncated_at = -1,
                                  .drops = -1};
    struct fsc_segment seg[8];
    struct fsc_flow f;
    char err[512] = "";
    int64_t id;
    int bad = 0;

    unlink(path);
    if (fsc_store_open(path, false, &s, err, sizeof err) < 0 ||
        (id = fsc_store_begin_capture(s, &ci, 0, err, sizeof err)) < 0) {
        check(false, name, "store: %s", err);
        fsc_store_close(s);
        return;
    }
    struct fsc_writer *w = fsc_writer_new(s, id, threaded, err, sizeof err);
    check(w != NULL, name, "new: %s", err);
    for (int i = 0; w && i < NFLOWS; i++) {
        make_flow(&f, (uint16_t)(1000 + i), seg, 1 + i % 8);
        bad += fsc_writer_put(w, &f, NULL, 0, err, sizeof err) < 0;
        memset(seg, 0xee, sizeof seg); /* the caller may reuse its flow at once */
    }
    check(bad == 0 && w && fsc_writer_sync(w, err, sizeof err) == 0, name, "put/sync: %d, %s", bad,
          err);
    ci.flows = NFLOWS;
    check(fsc_store_end_capture(s, id, &ci, err, sizeof err) == 0, name, "end: %s", err);
    fsc_writer_free(w);
    long long n = q_int(s, "SELECT count(*) FROM flows");
    long long order = q_int(s, "SELECT count(*) FROM flows WHERE client_port != 999 + id");
    long long segs = q_int(s, "SELECT count(*) FROM segments");
    long long odd =
        q_int(s, "SELECT count(*) FROM segments AS g JOIN flows AS f ON f.id = g.flow_id "
                 "WHERE g.rel_seq != 1000 + g.ord OR "
                 "g.ord >= 1 + (f.client_port - 1000) % 8");
    long long want = 0;
    for (int i = 0; i < NFLOWS; i++)
        want += 1 + i % 8;
    check(n == NFLOWS && order == 0, name, "%lld rows (want %d), %lld out of order", n, NFLOWS,
          order);
    check(segs == want && odd == 0, name, "%lld segments (want %lld), %lld not as handed over",
          segs, want, odd);
    fsc_store_close(s);
    unlink(path);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    char path[4096];

    snprintf(path, sizeof path, "%s/fsc_writer_test_%d.db", tmp && *tmp ? tmp : "/tmp",
             (int)getpid());
    test_copy();
    test_write(path, true);
    test_write(path, false);
    printf("writer: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
