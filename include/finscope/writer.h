/* finscope/writer.h - finished flows written to SQLite by a second thread, in handover order. */
#ifndef FINSCOPE_WRITER_H
#define FINSCOPE_WRITER_H

#include "finscope/flow.h"
#include "finscope/store.h"

/*
 * The analysis thread hands each finished flow over (a deep copy into a slot of a fixed ring,
 * with its transitions) and goes on; the writer thread inserts them with fsc_store_flow, in the
 * order they were handed over.  The ring is bounded: when it is full the analysis thread waits
 * (back-pressure), so memory stays bounded however slow the disk.
 *
 * One SQLite connection, one thread at a time: the writer thread uses the store only while it
 * writes a flow.  Every other store call of the analysis thread comes after fsc_writer_sync
 * (the ring empty, the writer idle until the next fsc_writer_put) or inside fsc_writer_lock /
 * fsc_writer_unlock (between two flows, without waiting for the ring).
 *
 * Without a thread (threaded false) fsc_writer_put writes the flow itself, at once.
 */
struct fsc_writer;

/* Flows the ring holds (its memory: this many flows with their segments). */
#define FSC_WRITER_SLOTS 256

/* A writer for capture capture_id of store.  NULL when memory (or a thread) is not to be had,
 * with a message in err. */
struct fsc_writer *fsc_writer_new(struct fsc_store *store, int64_t capture_id, bool threaded,
                                  char *err, size_t errlen);

/*
 * Hand over finished flow f (finalized; not kept: the caller may free it on return, and only
 * without a thread is its id set) and its n transitions tr.  May wait while the ring is full.
 * 0, or -1 once a write has failed, with that failure's message in err (the flow is dropped:
 * the capture is to be rolled back).
 */
int fsc_writer_put(struct fsc_writer *w, struct fsc_flow *f, const struct fsc_transition *tr,
                   uint32_t n, char *err, size_t errlen);

/* Wait until every flow handed over is written.  0, or -1 with the failed write's message in
 * err.  Either way the writer thread is idle until the next fsc_writer_put. */
int fsc_writer_sync(struct fsc_writer *w, char *err, size_t errlen);

/* Exclusive use of the store between two flows (livedump's capture_files row when a -C or -G
 * rotation may come with the frame), without waiting for the ring. */
void fsc_writer_lock(struct fsc_writer *w);
void fsc_writer_unlock(struct fsc_writer *w);

/* Stop the thread (flows not yet written are dropped: sync first to keep them) and free
 * everything.  w may be NULL. */
void fsc_writer_free(struct fsc_writer *w);

/*
 * Copy flow src into dst, which owns its pointer members (dst->seg holds *seg_cap segments;
 * grown when src has more; dst->zeek.earlier points into earlier, which has room for
 * FSC_ZEEK_MAX_EARLIER records).  Every pointer member of struct fsc_flow must be followed here:
 * a new one added to the struct has to be added to this function too.  The flow table's links
 * are not copied.  0, or -1 when memory ran out.
 */
int fsc_writer_copy_flow(struct fsc_flow *dst, uint32_t *seg_cap,
                         struct fsc_zeek_record earlier[FSC_ZEEK_MAX_EARLIER],
                         const struct fsc_flow *src);

#endif
