/* finscope/livedump.h - `live -w`: the frames of a live capture written to pcap files as tcpdump
 * -w writes them (rotation with -C, -G, -W), and their capture_files rows. */
#ifndef FINSCOPE_LIVEDUMP_H
#define FINSCOPE_LIVEDUMP_H

#include "finscope/capture.h"
#include "finscope/store.h"

/* What -w, -C, -G and -W asked for, with tcpdump's meanings. */
struct fsc_livedump_opts {
    const char *path;   /* -w: the file; with -G an strftime(3) pattern; "-": standard output */
    uint64_t max_bytes; /* -C (in bytes): before a frame, a file larger than this is closed and
                         * NAME1, NAME2, ... follow; 0: never */
    unsigned every_s;   /* -G: before the first frame SEC s or more after a file was opened, it is
                         * closed and a new one named from the pattern at that time; 0: never */
    unsigned max_files; /* -W: with -C, a ring of N names (NAME0 .. NAME(N-1), reused); with -G
                         * alone, the capture stops after N files; 0: no limit */
};

struct fsc_livedump;

/*
 * Open the first file for capture cap and record it in the capture_files rows of capture_id
 * (inside the store's open transaction).  0, or -1 with a message naming the file.
 */
int fsc_livedump_open(const struct fsc_livedump_opts *o, struct fsc_capture *cap,
                      struct fsc_store *st, int64_t capture_id, struct fsc_livedump **out,
                      char *err, size_t errlen);

/*
 * Whether the next fsc_livedump_frame() rotates to a new file (and so writes a capture_files
 * row through the store): the caller that shares the store with a writer thread locks it only
 * then.  The -G clock read here is the one that frame's rotation uses, so the answer holds.
 */
bool fsc_livedump_rotation_due(struct fsc_livedump *d);

/*
 * Write frame fr (the one fsc_capture_next() returned last on the capture), first rotating to a
 * new file when -C or -G says so.  0; 1 when -G -W's files are all written (the frame is not:
 * stop the capture before it); -1 with a message (a file that cannot be opened or recorded).
 * No allocation unless a file is rotated.
 */
int fsc_livedump_frame(struct fsc_livedump *d, const struct fsc_frame *fr, char *err,
                       size_t errlen);

/* Flush the current file (readers see every frame so far) and bring its capture_files row up
 * to date, before a commit.  0, or -1 with a message (a write error). */
int fsc_livedump_commit(struct fsc_livedump *d, char *err, size_t errlen);

/* Flush and close the current file, record its final row, and free d (may be NULL); before the
 * capture's last commit.  0, or -1 with a message. */
int fsc_livedump_close(struct fsc_livedump *d, char *err, size_t errlen);

/* The files opened so far (every rotation counts). */
unsigned fsc_livedump_files(const struct fsc_livedump *d);

#endif
