/* livedump.c - `live -w`: a live capture's frames in pcap files named and rotated as tcpdump
 * does (-C, -G, -W), each recorded in capture_files with the frames it holds. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "finscope/livedump.h"

/* A file name used in this capture and its capture_files row: a name used again (a -W ring, a
 * -G pattern that repeats) is the same file overwritten, so its row is replaced, not added. */
struct name_slot {
    char *path; /* NULL: free */
    int file_no;
};

struct fsc_livedump {
    struct fsc_livedump_opts o;
    struct fsc_capture *cap;
    struct fsc_store *st;
    int64_t capture_id;
    struct fsc_dump *dump; /* the current file */
    char path[PATH_MAX + 1];
    int file_no;                      /* its capture_files row */
    uint64_t first_frame, last_frame; /* the capture's frames in it; last < first: none yet */
    fsc_time first_ts, last_ts;
    bool recorded;    /* its row says what it holds */
    unsigned c_count; /* the number after the name (tcpdump's Cflag_count) */
    unsigned g_count; /* -G rotations so far (Gflag_count) */
    time_t g_time;    /* when the current -G period began (Gflag_time) */
    time_t now;       /* the clock fsc_livedump_rotation_due read, for the frame's rotate() */
    bool now_set;
    int width;        /* digits of that number: those of N-1 with -W N (WflagChars) */
    unsigned files;   /* files opened */
    int next_file_no; /* capture_files.file_no of the next new name */
    struct name_slot *names;
    size_t names_cap, names_used;
};

/* FNV-1a: spreads file names over the slots. */
static size_t name_hash(const char *s)
{
    size_t h = 14695981039346656037ULL & SIZE_MAX;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * (1099511628211ULL & SIZE_MAX);
    return h;
}

static struct name_slot *name_find(struct name_slot *t, size_t cap, const char *path)
{
    size_t i = name_hash(path) & (cap - 1);

    while (t[i].path && strcmp(t[i].path, path) != 0)
        i = (i + 1) & (cap - 1);
    return &t[i];
}

/* The row number of file name path: its earlier one when the name was used before.  -1 when out
 * of memory. */
static int name_file_no(struct fsc_livedump *d, const char *path)
{
    if (2 * (d->names_used + 1) > d->names_cap) { /* keep the table at most half full */
        size_t cap = d->names_cap ? 2 * d->names_cap : 64;
        struct name_slot *t = calloc(cap, sizeof *t);
        if (!t)
            return -1;
        for (size_t i = 0; i < d->names_cap; i++)
            if (d->names[i].path)
                *name_find(t, cap, d->names[i].path) = d->names[i];
        free(d->names);
        d->names = t;
        d->names_cap = cap;
    }
    struct name_slot *s = name_find(d->names, d->names_cap, path);
    if (!s->path) {
        if (!(s->path = strdup(path)))
            return -1;
        s->file_no = d->next_file_no++;
        d->names_used++;
    }
    return s->file_no;
}

/* tcpdump's MakeFilename: the -w name (through strftime at the period's start with -G), then
 * cnt in width digits unless both are 0.  0, or -1 with a message. */
static int make_name(struct fsc_livedump *d, unsigned cnt, int width, char *err, size_t errlen)
{
    char base[PATH_MAX + 1];
    struct tm tm;

    if (d->o.every_s) {
/* The pattern is the user's -w argument, as tcpdump hands it to strftime. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        size_t n = localtime_r(&d->g_time, &tm) ? strftime(base, sizeof base, d->o.path, &tm) : 0;
#pragma GCC diagnostic pop
        if (n == 0) {
            snprintf(err, errlen, "-w %s: strftime makes an empty or too long file name",
                     d->o.path);
            return -1;
        }
    } else {
        snprintf(base, sizeof base, "%s", d->o.path);
    }
    int n = cnt == 0 && width == 0 ? snprintf(d->path, sizeof d->path, "%s", base)
                                   : snprintf(d->path, sizeof d->path, "%s%0*u", base, width, cnt);
    if (n < 0 || (size_t)n >= sizeof d->path) {
        snprintf(err, errlen, "-w %s: the file name would be longer than %d bytes", d->o.path,
                 PATH_MAX);
        return -1;
    }
    return 0;
}

/* Write the current file's capture_files row as it stands. */
static int record(struct fsc_livedump *d, char *err, size_t errlen)
{
    d->recorded = true;
    return fsc_store_capture_file(d->st, d->capture_id, d->file_no, d->path, d->first_frame,
                                  d->last_frame, d->first_ts, d->last_ts, err, errlen);
}

/* Open file number cnt (in width digits) and record it, empty. */
static int open_file(struct fsc_livedump *d, unsigned cnt, int width, char *err, size_t errlen)
{
    if (make_name(d, cnt, width, err, errlen) < 0)
        return -1;
    if ((d->file_no = name_file_no(d, d->path)) < 0) {
        snprintf(err, errlen, "%s: out of memory", d->path);
        return -1;
    }
    if (fsc_dump_open(d->cap, d->path, &d->dump, err, errlen) < 0)
        return -1;
    d->files++;
    d->first_frame = d->last_frame + 1;
    return record(d, err, errlen);
}

/* Close the current file and record its final row. */
static int close_file(struct fsc_livedump *d, char *err, size_t errlen)
{
    int rc = fsc_dump_close(d->dump, d->path, err, errlen);

    d->dump = NULL;
    if (rc < 0)
        return -1;
    return d->recorded ? 0 : record(d, err, errlen);
}

int fsc_livedump_open(const struct fsc_livedump_opts *o, struct fsc_capture *cap,
                      struct fsc_store *st, int64_t capture_id, struct fsc_livedump **out,
                      char *err, size_t errlen)
{
    struct fsc_livedump *d = calloc(1, sizeof *d);

    if (!d) {
        snprintf(err, errlen, "%s: out of memory", o->path);
        return -1;
    }
    d->o = *o;
    d->cap = cap;
    d->st = st;
    d->capture_id = capture_id;
    d->next_file_no = 1;
    d->g_time = time(NULL);
    for (unsigned x = o->max_files ? o->max_files - 1 : 0; x > 0; x /= 10)
        d->width++;
    /* As tcpdump: the first file has no number unless -C and -W make a ring of them. */
    if (open_file(d, 0, o->max_bytes ? d->width : 0, err, errlen) < 0) {
        char ignored[8];
        fsc_dump_close(d->dump, d->path, ignored, sizeof ignored);
        d->dump = NULL;
        fsc_livedump_close(d, ignored, sizeof ignored);
        return -1;
    }
    *out = d;
    return 0;
}

/*
 * Rotation before a frame, in tcpdump's order (dump_packet_and_trunc): -G first (a new period
 * restarts the -C numbering), then -C.  1 when -G -W has written its last file.
 */
static int rotate(struct fsc_livedump *d, char *err, size_t errlen)
{
    if (d->o.every_s) {
        time_t t = d->now_set ? d->now : time(NULL);
        d->now_set = false;
        if (t - d->g_time >= (time_t)d->o.every_s) {
            d->g_time = t;
            d->g_count++;
            if (close_file(d, err, errlen) < 0)
                return -1;
            if (!d->o.max_bytes && d->o.max_files && d->g_count >= d->o.max_files)
                return 1;
            d->c_count = 0;
            if (open_file(d, 0, d->o.max_bytes ? d->width : 0, err, errlen) < 0)
                return -1;
        }
    }
    if (d->o.max_bytes && fsc_dump_size(d->dump) > d->o.max_bytes) {
        if (close_file(d, err, errlen) < 0)
            return -1;
        d->c_count++;
        if (d->o.max_files && d->c_count >= d->o.max_files)
            d->c_count = 0;
        if (open_file(d, d->c_count, d->width, err, errlen) < 0)
            return -1;
    }
    return 0;
}

bool fsc_livedump_rotation_due(struct fsc_livedump *d)
{
    if (d->o.every_s) {
        d->now = time(NULL);
        d->now_set = true;
        if (d->now - d->g_time >= (time_t)d->o.every_s)
            return true;
    }
    return d->o.max_bytes && fsc_dump_size(d->dump) > d->o.max_bytes;
}

int fsc_livedump_frame(struct fsc_livedump *d, const struct fsc_frame *fr, char *err, size_t errlen)
{
    if (d->o.every_s || d->o.max_bytes) {
        int rc = rotate(d, err, errlen);
        if (rc != 0)
            return rc;
    }
    fsc_dump_frame(d->dump, d->cap);
    if (d->last_frame < d->first_frame)
        d->first_ts = fr->ts;
    d->last_frame = fr->number;
    d->last_ts = fr->ts;
    d->recorded = false;
    return 0;
}

int fsc_livedump_commit(struct fsc_livedump *d, char *err, size_t errlen)
{
    if (!d->dump || fsc_dump_flush(d->dump, d->path, err, errlen) < 0)
        return d->dump ? -1 : 0;
    return d->recorded ? 0 : record(d, err, errlen);
}

int fsc_livedump_close(struct fsc_livedump *d, char *err, size_t errlen)
{
    int rc = 0;

    if (!d)
        return 0;
    if (d->dump)
        rc = close_file(d, err, errlen);
    for (size_t i = 0; i < d->names_cap; i++)
        free(d->names[i].path);
    free(d->names);
    free(d);
    return rc;
}

unsigned fsc_livedump_files(const struct fsc_livedump *d)
{
    return d->files;
}
