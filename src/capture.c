/* capture.c - the only file that talks to libpcap: reading capture files and writing pcap files. */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "finscope/capture.h"

struct fsc_capture {
    pcap_t *p;
    FILE *fp;             /* libpcap's stream, for byte offsets */
    int64_t record_start; /* offset of the record about to be read, -1 if the stream can't tell */
    int64_t truncated_at;
    int dlt;
};

int fsc_capture_open_file(const char *path, const char *filter, struct fsc_capture **out,
                          char *err, size_t errlen)
{
    char perr[PCAP_ERRBUF_SIZE] = "";
    struct fsc_capture *c = calloc(1, sizeof *c);

    if (!c) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    /* Microsecond stamps whatever the file holds: nanosecond pcapng/pcap files are scaled. */
    c->p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, perr);
    if (!c->p) {
        /* libpcap says e.g. "unknown file format"; the offset of that is the file header. */
        snprintf(err, errlen, "%s: not a readable pcap or pcapng capture (byte offset 0): %s", path,
                 perr);
        free(c);
        return -1;
    }
    c->dlt = pcap_datalink(c->p);
    c->fp = pcap_file(c->p);
    c->record_start = c->fp ? (int64_t)ftello(c->fp) : -1;
    c->truncated_at = -1;
    if (filter && *filter) {
        struct bpf_program prog;
        if (pcap_compile(c->p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) < 0 ||
            pcap_setfilter(c->p, &prog) < 0) {
            snprintf(err, errlen, "bad filter '%s': %s", filter, pcap_geterr(c->p));
            if (prog.bf_insns)
                pcap_freecode(&prog);
            pcap_close(c->p);
            free(c);
            return -1;
        }
        pcap_freecode(&prog);
    }
    *out = c;
    return 0;
}

int fsc_capture_dlt(const struct fsc_capture *c) { return c->dlt; }

const char *fsc_capture_dlt_name(const struct fsc_capture *c)
{
    const char *n = pcap_datalink_val_to_name(c->dlt);
    return n ? n : "unknown";
}

int fsc_capture_next(struct fsc_capture *c, struct fsc_frame *fr, char *err, size_t errlen)
{
    struct pcap_pkthdr *h;
    const u_char *data;
    int rc = pcap_next_ex(c->p, &h, &data);

    if (rc == 1) {
        fr->ts = (fsc_time)h->ts.tv_sec * FSC_USEC_PER_SEC + h->ts.tv_usec;
        fr->data = data;
        fr->caplen = h->caplen;
        fr->wirelen = h->len;
        /* libpcap reads each record with fread, so the stream position is the next record. */
        if (c->record_start >= 0)
            c->record_start = (int64_t)ftello(c->fp);
        return 1;
    }
    if (rc == PCAP_ERROR_BREAK)
        return 0;
    /*
     * Anything else in the middle of a file - a record cut off by the end of the file, or a
     * corrupt record header - ends the input early: what came before it is kept.
     */
    c->truncated_at = c->record_start >= 0 ? c->record_start : 0;
    snprintf(err, errlen, "%s", pcap_geterr(c->p));
    return 0;
}

int64_t fsc_capture_truncated(const struct fsc_capture *c) { return c->truncated_at; }

void fsc_capture_close(struct fsc_capture *c)
{
    if (!c)
        return;
    pcap_close(c->p);
    free(c);
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
