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
 * libpcap reads the file through a stdio stream that finscope supplies (fopencookie): every
 * byte passes through read_hashed() once, so the content hash costs no second pass, stdin is
 * hashed like a file, and the stream position (the offset of the next record, for the
 * "cut off at byte offset N" warning) is known without a seek system call.
 */
struct fsc_capture {
    pcap_t *p;
    FILE *fp; /* the cookie stream handed to libpcap */
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
    bool has_filter;
    struct bpf_program prog; /* applied here, not in libpcap, so that frames keep their numbers */
};

#define IOBUF_SIZE (1 << 18)

static ssize_t read_hashed(void *cookie, char *buf, size_t len)
{
    struct fsc_capture *c = cookie;
    ssize_t n;

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

static void capture_free(struct fsc_capture *c)
{
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
    if (!(c->fp = fopencookie(c, "r", io))) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        capture_free(c);
        return -1;
    }
    __fsetlocking(c->fp, FSETLOCKING_BYCALLER); /* one thread reads it: no stdio locks */
    if ((c->iobuf = malloc(IOBUF_SIZE)))
        setvbuf(c->fp, c->iobuf, _IOFBF, IOBUF_SIZE);
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

int fsc_capture_list_ifaces(FILE *out, char *err, size_t errlen)
{
    char perr[PCAP_ERRBUF_SIZE] = "";
    pcap_if_t *all = NULL;
    int n = 0;

    if (pcap_findalldevs(&all, perr) < 0) {
        snprintf(err, errlen, "cannot list interfaces: %s", perr);
        return -1;
    }
    for (pcap_if_t *d = all; d; d = d->next)
        fprintf(out, "%d.%s%s%s%s\n", ++n, d->name,
                (d->flags & PCAP_IF_LOOPBACK) ? " [Loopback]" : "",
                (d->flags & PCAP_IF_UP) ? " [Up]" : "", d->description ? d->description : "");
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
    const char *n = pcap_datalink_val_to_name(c->dlt);
    return n ? n : "unknown";
}

int fsc_capture_next(struct fsc_capture *c, struct fsc_frame *fr, char *err, size_t errlen)
{
    struct pcap_pkthdr *h;
    const u_char *data;
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
        fr->filtered = c->has_filter && !pcap_offline_filter(&c->prog, h, data);
        fr->ts = (fsc_time)h->ts.tv_sec * FSC_USEC_PER_SEC + h->ts.tv_usec;
        fr->data = data;
        fr->caplen = h->caplen;
        fr->wirelen = h->len;
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
    if (!c->eof) {
        /*
         * Not the end of the file: a corrupt record.  Read the rest through the hashing stream
         * anyway, so the capture row still gets the file's hash and size (and a second run on
         * the same file is recognized as a duplicate).
         */
        char scratch[1 << 16];
        c->corrupt = true;
        while (fread(scratch, 1, sizeof scratch, c->fp) > 0)
            ;
    }
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
