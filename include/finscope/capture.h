/* finscope/capture.h - reading frames (pcap files and live interfaces with libpcap, pcapng files
 * block by block) and writing pcap files. */
#ifndef FINSCOPE_CAPTURE_H
#define FINSCOPE_CAPTURE_H

#include <stdio.h>

#include "finscope/common.h"

struct fsc_capture;

/* One frame as it was read; data is borrowed until the next call. */
struct fsc_frame {
    fsc_time ts;
    uint64_t number; /* 1-based position in the file, as tcpdump and Wireshark count frames */
    int dlt;         /* its link type (DLT_ value): in pcapng, its interface's */
    bool filtered;   /* did not match the BPF filter: counted, not to be analyzed */
    const uint8_t *data;
    uint32_t caplen, wirelen;
};

/*
 * Open a pcap or pcapng file ("-" = stdin) and compile filter (may be NULL).  On error returns
 * -1 with a one-line message naming the file in err.
 *
 * pcap goes to libpcap.  pcapng is read here, block by block, because libpcap refuses a file
 * whose interfaces differ in link type: each frame gets its own interface's link type, time
 * stamp resolution (if_tsresol) and offset (if_tsoffset); sections may follow one another (the
 * interfaces start anew) in either byte order.  Open reads up to the first packet block, so a
 * file broken before it (or with no interface) is an error here, naming the byte offset.  The
 * filter is compiled for each link type: an expression no link type described before the first
 * packet can take is a bad filter; an interface whose link type it cannot apply to (an Ethernet
 * address on a Linux cooked capture) has none of its frames match.
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

/*
 * Link type of the capture: DLT value and libpcap's name for it ("EN10MB").  For pcapng, the
 * DLT of the first interface, and the names of every link type its interfaces have had so far,
 * each once, comma-separated in the order they appeared ("EN10MB,LINUX_SLL"; "unknown" for a
 * value libpcap has no name for; ",..." ends a list too long to hold).  The string belongs to c.
 */
int fsc_capture_dlt(const struct fsc_capture *c);
const char *fsc_capture_dlt_name(const struct fsc_capture *c);

/* The distinct link types seen so far (1 for pcap and live), up to max of them into out.
 * Returns how many there are. */
unsigned fsc_capture_dlts(const struct fsc_capture *c, int *out, unsigned max);

/* Live capture settings. */
struct fsc_live_opts {
    const char *iface; /* NULL: the first usable interface (fsc_capture_default_iface) */
    const char *filter;
    int snaplen; /* bytes kept per frame */
    bool promisc;
    int buffer_bytes; /* kernel capture buffer */
};

/*
 * Open a live capture in immediate mode and apply the BPF filter (compiled before anything is
 * captured).  -1 with a one-line message in err: a bad filter names the expression; missing
 * privileges say which capability is missing.
 */
int fsc_capture_open_live(const struct fsc_live_opts *o, struct fsc_capture **out, char *err,
                          size_t errlen);

/* Name of the first interface libpcap would capture on (not loopback when another is up), into
 * buf.  -1 with a message when there is none. */
int fsc_capture_default_iface(char *buf, size_t len, char *err, size_t errlen);

/* Print every capturable interface as `tcpdump -D` does: "1.lo [Up, Running, Loopback]", the
 * description in parentheses when there is one.  0 or -1. */
int fsc_capture_list_ifaces(FILE *out, char *err, size_t errlen);

/* Kernel counters of a live capture: frames received and dropped (pcap_stats; interface drops
 * included).  0, or -1 when not available. */
int fsc_capture_stats(struct fsc_capture *c, uint64_t *received, uint64_t *dropped);

/*
 * Next frame: 1 with *fr filled, 0 at the end of input, 2 when a live capture's read timeout
 * passed with no frame (call again), -1 on a read error (message in err).
 * A file cut off mid-record, or a corrupt record or pcapng block (a length that is impossible,
 * an interface that was not described, ...), ends with 0, the reason in err, and
 * fsc_capture_truncated() telling where.
 */
int fsc_capture_next(struct fsc_capture *c, struct fsc_frame *fr, char *err, size_t errlen);

/* -1 when the input ended cleanly, else the byte offset of the record (pcapng: block) where
 * reading stopped: an incomplete last one, or (fsc_capture_corrupt) a corrupt one. */
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

/* ---- writing a live capture's frames as captured (live -w, as tcpdump -w) ---- */

struct fsc_dump;

/* Create path ("-": standard output) as a pcap file with the live capture's link type and
 * snaplen (pcap_dump_open on its handle).  0, or -1 with a message naming path. */
int fsc_dump_open(struct fsc_capture *c, const char *path, struct fsc_dump **out, char *err,
                  size_t errlen);

/* Append the frame fsc_capture_next() returned last on c, as captured: libpcap's record
 * header and bytes, written from its buffer (no copy). */
void fsc_dump_frame(struct fsc_dump *d, const struct fsc_capture *c);

/* Bytes written so far, the file header and every record (what pcap_dump_ftell would say). */
uint64_t fsc_dump_size(const struct fsc_dump *d);

/* Hand what is buffered to the file, so readers see every frame written so far.  0, or -1 when
 * a write failed (message naming path). */
int fsc_dump_flush(struct fsc_dump *d, const char *path, char *err, size_t errlen);

/* Flush and close (d may be NULL).  0, or -1 when a write failed. */
int fsc_dump_close(struct fsc_dump *d, const char *path, char *err, size_t errlen);

/* Whether expr compiles as a BPF filter for Ethernet (as tcpdump takes it; names in it may be
 * looked up, as tcpdump does).  analyze uses it to tell a filter after the files from a file. */
bool fsc_capture_filter_compiles(const char *expr);

#endif
