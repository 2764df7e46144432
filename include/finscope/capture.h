/* finscope/capture.h - reading frames with libpcap (files, stdin, later live) and writing pcap
 * files. */
#ifndef FINSCOPE_CAPTURE_H
#define FINSCOPE_CAPTURE_H

#include "finscope/common.h"

struct fsc_capture;

/* One frame as libpcap handed it over; data is borrowed until the next call. */
struct fsc_frame {
    fsc_time ts;
    uint64_t number; /* 1-based position in the file, as tcpdump and Wireshark count frames */
    bool filtered;   /* did not match the BPF filter: counted, not to be analyzed */
    const uint8_t *data;
    uint32_t caplen, wirelen;
};

/*
 * Open a pcap or pcapng file ("-" = stdin) and compile filter (may be NULL).  On error returns
 * -1 with a one-line message naming the file in err.
 */
int fsc_capture_open_file(const char *path, const char *filter, struct fsc_capture **out, char *err,
                          size_t errlen);

/*
 * Content hash of everything read, "xxh128:<32 hex digits>" as `xxhsum -H2` computes it, into
 * buf (at least 40 bytes).  Only once the whole input was read: false before that.
 */
bool fsc_capture_hash(const struct fsc_capture *c, char *buf, size_t len);

/* Bytes read from the input so far (the file size once it was read to the end). */
uint64_t fsc_capture_bytes(const struct fsc_capture *c);

/* Link type of the capture: DLT value and libpcap's name for it ("EN10MB"). */
int fsc_capture_dlt(const struct fsc_capture *c);
const char *fsc_capture_dlt_name(const struct fsc_capture *c);

/*
 * Next frame: 1 with *fr filled, 0 at the end of input, -1 on a read error (message in err).
 * A file cut off mid-record ends with 0 and fsc_capture_truncated() telling where.
 */
int fsc_capture_next(struct fsc_capture *c, struct fsc_frame *fr, char *err, size_t errlen);

/* -1 when the input ended cleanly, else the byte offset of the record where reading stopped:
 * an incomplete last record, or (fsc_capture_corrupt) a corrupt record before the end. */
int64_t fsc_capture_truncated(const struct fsc_capture *c);

/* Reading stopped at a corrupt record before the end of the file (the rest was only hashed). */
bool fsc_capture_corrupt(const struct fsc_capture *c);

void fsc_capture_close(struct fsc_capture *c);

/* ---- writing (forge, tests) ---- */

struct fsc_pcap_writer;

/* Create a pcap file with link type dlt and snaplen 262144.  -1 with message on error. */
int fsc_pcap_writer_open(const char *path, int dlt, struct fsc_pcap_writer **out, char *err,
                         size_t errlen);
void fsc_pcap_writer_write(struct fsc_pcap_writer *w, fsc_time ts, const uint8_t *data,
                           uint32_t len);
/* Flush and close; -1 if any write failed. */
int fsc_pcap_writer_close(struct fsc_pcap_writer *w);

#endif
