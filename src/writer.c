/* writer.c - finished flows written to SQLite by a second thread, in handover order. */
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "finscope/writer.h"

/* Flows that wake a sleeping writer. */
#define FSC_WRITER_BATCH 32

/* A flow handed over: the writer's own copy, reused for the flows that follow. */
struct slot {
    struct fsc_flow f;
    uint32_t seg_cap;                                     /* segments f.seg has room for */
    struct fsc_zeek_record earlier[FSC_ZEEK_MAX_EARLIER]; /* f.zeek.earlier points here */
    uint32_t n_tr;
    struct fsc_transition tr[FSC_FLOW_MAX_TRANSITIONS];
};

struct fsc_writer {
    struct fsc_store *store;
    int64_t capture_id;
    bool threaded;
    struct slot *ring; /* FSC_WRITER_SLOTS; flow k is in ring[k % FSC_WRITER_SLOTS] */
    pthread_t thread;
    pthread_mutex_t conn; /* held by whichever thread uses the store */

    /* The rest is guarded by mu. */
    pthread_mutex_t mu;
    pthread_cond_t more;   /* the writer waits for a flow (or stop) */
    pthread_cond_t room;   /* the analysis thread waits for a free slot or an empty ring */
    uint64_t head, tail;   /* flows handed over; flows written (or dropped after a failure) */
    bool writer_waiting;   /* the writer sleeps on more */
    bool analysis_waiting; /* the analysis thread sleeps on room ... */
    uint32_t want_free;    /* ... until this many slots are free */
    bool failed, stop;
    char err[512]; /* the failed write's message */
};

int fsc_writer_copy_flow(struct fsc_flow *dst, uint32_t *seg_cap,
                         struct fsc_zeek_record earlier[FSC_ZEEK_MAX_EARLIER],
                         const struct fsc_flow *src)
{
    struct fsc_segment *seg = dst->seg;

    if (src->n_seg > *seg_cap) {
        uint32_t cap = (src->n_seg + 15) & ~15u;
        if (!(seg = realloc(seg, cap * sizeof *seg)))
            return -1;
        dst->seg = seg;
        *seg_cap = cap;
    }
    memcpy(dst, src, sizeof *dst);
    dst->seg = seg;
    dst->cap_seg = *seg_cap;
    if (src->n_seg > 0)
        memcpy(seg, src->seg, src->n_seg * sizeof *seg);
    /* The flow table releases the original's Zeek records right after the sink returns. */
    dst->zeek.earlier = NULL;
    if (src->zeek.earlier && src->zeek.n_earlier > 0) {
        memcpy(earlier, src->zeek.earlier, src->zeek.n_earlier * sizeof *earlier);
        dst->zeek.earlier = earlier;
    }
    dst->seg_pool = NULL; /* the copy's segments are the slot's, on the heap */
    dst->hnext = NULL;
    memset(&dst->lru, 0, sizeof dst->lru);
    return 0;
}

static void copy_err(char *dst, size_t len, const char *src)
{
    if (len > 0)
        snprintf(dst, len, "%s", src);
}

/* Write flow k, outside mu; 0 or -1 with the message in err. */
static int write_one(struct fsc_writer *w, uint64_t k, char *err, size_t errlen)
{
    struct slot *sl = &w->ring[k % FSC_WRITER_SLOTS];
    int rc;

    pthread_mutex_lock(&w->conn);
    rc = fsc_store_flow(w->store, w->capture_id, &sl->f, sl->tr, sl->n_tr, err, errlen);
    pthread_mutex_unlock(&w->conn);
    return rc;
}

/* The writer thread: each flow as it comes, the slot given back as soon as it is written. */
static void *writer_main(void *arg)
{
    struct fsc_writer *w = arg;
    char err[sizeof w->err] = "";

    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->tail == w->head && !w->stop) {
            w->writer_waiting = true;
            pthread_cond_wait(&w->more, &w->mu);
            w->writer_waiting = false;
        }
        if (w->stop)
            break;
        uint64_t k = w->tail;
        int rc = -1;
        if (!w->failed) {
            pthread_mutex_unlock(&w->mu);
            rc = write_one(w, k, err, sizeof err);
            pthread_mutex_lock(&w->mu);
        }
        if (rc < 0 && !w->failed) {
            w->failed = true;
            copy_err(w->err, sizeof w->err, err);
        }
        /* After a failure nothing more is written (the capture is to be rolled back). */
        w->tail = w->failed ? w->head : k + 1;
        if (w->analysis_waiting &&
            (w->failed || FSC_WRITER_SLOTS - (w->head - w->tail) >= w->want_free))
            pthread_cond_signal(&w->room);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* The thread, with every signal blocked (they are the analysis thread's: SIGINT stops live). */
static int start_thread(struct fsc_writer *w)
{
    sigset_t all, old;
    int rc;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&w->thread, NULL, writer_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

struct fsc_writer *fsc_writer_new(struct fsc_store *store, int64_t capture_id, bool threaded,
                                  char *err, size_t errlen)
{
    struct fsc_writer *w = calloc(1, sizeof *w);

    if (!w) {
        copy_err(err, errlen, "out of memory for the flow writer");
        return NULL;
    }
    w->store = store;
    w->capture_id = capture_id;
    /* An SQLite built without thread support can only be used from the thread that opened it. */
    w->threaded = threaded && sqlite3_threadsafe() != 0;
    if (!w->threaded)
        return w;
    pthread_mutex_init(&w->conn, NULL);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->more, NULL);
    pthread_cond_init(&w->room, NULL);
    if (!(w->ring = calloc(FSC_WRITER_SLOTS, sizeof *w->ring))) {
        copy_err(err, errlen, "out of memory for the flow writer");
        w->threaded = false;
        fsc_writer_free(w);
        return NULL;
    }
    if (start_thread(w) != 0) {
        copy_err(err, errlen, "cannot start the flow writer thread");
        free(w->ring);
        w->ring = NULL;
        w->threaded = false;
        fsc_writer_free(w);
        return NULL;
    }
    return w;
}

/*
 * Wait (mu held) until want slots of the ring are free, or a write failed.  The writer is woken
 * first: it may be sleeping on fewer flows than a batch.
 */
static void wait_free(struct fsc_writer *w, uint32_t want)
{
    if (FSC_WRITER_SLOTS - (w->head - w->tail) >= want || w->failed)
        return;
    if (w->writer_waiting)
        pthread_cond_signal(&w->more);
    w->want_free = want;
    w->analysis_waiting = true;
    while (FSC_WRITER_SLOTS - (w->head - w->tail) < want && !w->failed)
        pthread_cond_wait(&w->room, &w->mu);
    w->analysis_waiting = false;
}

/* Wait (mu held) until the ring has a free slot or a write failed.  0, or -1 with err. */
static int wait_room(struct fsc_writer *w, char *err, size_t errlen)
{
    /* A full ring waits for half of it: one wake-up per half ring, not one per flow. */
    if (w->head - w->tail == FSC_WRITER_SLOTS)
        wait_free(w, FSC_WRITER_SLOTS / 2);
    if (w->failed) {
        copy_err(err, errlen, w->err);
        return -1;
    }
    return 0;
}

int fsc_writer_put(struct fsc_writer *w, struct fsc_flow *f, const struct fsc_transition *tr,
                   uint32_t n, char *err, size_t errlen)
{
    if (!w->threaded)
        return fsc_store_flow(w->store, w->capture_id, f, tr, n, err, errlen);

    pthread_mutex_lock(&w->mu);
    int rc = wait_room(w, err, errlen);
    uint64_t k = w->head;
    pthread_mutex_unlock(&w->mu);
    if (rc < 0)
        return -1;
    /* Slot k is the analysis thread's until head moves past it. */
    struct slot *sl = &w->ring[k % FSC_WRITER_SLOTS];
    if (fsc_writer_copy_flow(&sl->f, &sl->seg_cap, sl->earlier, f) < 0) {
        copy_err(err, errlen, "out of memory handing a flow to the writer");
        return -1;
    }
    if (n > 0)
        memcpy(sl->tr, tr, n * sizeof *tr);
    sl->n_tr = n;
    pthread_mutex_lock(&w->mu);
    w->head = k + 1;
    /* A sleeping writer is woken for a batch (or by a sync), not for every flow. */
    if (w->writer_waiting && w->head - w->tail == FSC_WRITER_BATCH)
        pthread_cond_signal(&w->more);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

int fsc_writer_sync(struct fsc_writer *w, char *err, size_t errlen)
{
    int rc = 0;

    if (!w->threaded)
        return 0;
    pthread_mutex_lock(&w->mu);
    wait_free(w, FSC_WRITER_SLOTS);
    if (w->failed) {
        copy_err(err, errlen, w->err);
        rc = -1;
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

void fsc_writer_lock(struct fsc_writer *w)
{
    if (w->threaded)
        pthread_mutex_lock(&w->conn);
}

void fsc_writer_unlock(struct fsc_writer *w)
{
    if (w->threaded)
        pthread_mutex_unlock(&w->conn);
}

void fsc_writer_free(struct fsc_writer *w)
{
    if (!w)
        return;
    if (w->threaded) {
        pthread_mutex_lock(&w->mu);
        w->stop = true;
        pthread_cond_signal(&w->more);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
    }
    if (w->ring) {
        for (size_t i = 0; i < FSC_WRITER_SLOTS; i++)
            free(w->ring[i].f.seg);
        free(w->ring);
        pthread_mutex_destroy(&w->conn);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->more);
        pthread_cond_destroy(&w->room);
    }
    free(w);
}
