/* analyze.c - `finscope analyze`: capture files -> decode -> flow table -> SQLite, one transaction
 * per file. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xxh_x86dispatch.h> /* AVX2/AVX-512 at run time: the hash is 12% of an analysis */
#endif

#include "finscope/analyze.h"
#include "finscope/capture.h"
#include "finscope/decode.h"
#include "finscope/flow.h"
#include "finscope/store.h"
#include "finscope/session.h"
#include "finscope/summary.h"

#define ERRLEN 512

static const char usage[] =
    "usage: finscope analyze [options] CAPTURE...\n"
    "\n"
    "Reads pcap or pcapng files (\"-\" for stdin), follows every TCP connection, infers both\n"
    "endpoints' states through handshake and teardown, names how each connection ended, and\n"
    "stores it all in an SQLite database; then prints a summary of each capture.\n"
    "Each file is analyzed on its own and becomes one row of the captures table.\n"
    "\n"
    "options:\n"
    "  -o, --output FILE       database to write (default: finscope.db)\n"
    "  -f, --filter EXPR       BPF filter, as tcpdump takes it (e.g. 'tcp port 443')\n"
    "      --replace           analyze a file already in the database again, replacing its rows\n"
    "      --linger SEC        keep closed connections this long for late segments (default 10)\n"
    "      --idle-timeout SEC  write connections idle this long as they are (default 300)\n"
    "      --max-flows N       connections held at once before the least recently active\n"
    "                          is written early (default 1000000; ~2.2 KiB each)\n"
    "  -q, --quiet             no summary\n"
    "      --upgrade           with no CAPTURE: bring the database to this build's schema\n"
    "                          (what the read-only commands ask for on an older file)\n"
    "  -h, --help              this text\n"
    "\n"
    "examples:\n"
    "  finscope analyze captures/*.pcap\n"
    "  finscope analyze -o web.db -f 'tcp port 443' web-*.pcapng\n"
    "  tcpdump -i eth0 -w - 'tcp' | finscope analyze -o live.db -\n"
    "  finscope query web.db \"SELECT * FROM close_kinds\"\n";

/* xxh128 of a regular file, as `xxhsum -H2` prints it, into out; false if it cannot be read. */
static bool hash_file(const char *path, char *out, size_t outlen)
{
    char buf[1 << 16];
    FILE *fp = fopen(path, "rb");
    size_t n;

    if (!fp)
        return false;
    XXH3_state_t *xs = XXH3_createState();
    if (!xs) {
        fclose(fp);
        return false;
    }
    XXH3_128bits_reset(xs);
    while ((n = fread(buf, 1, sizeof buf, fp)) > 0)
        XXH3_128bits_update(xs, buf, n);
    bool ok = !ferror(fp);
    fclose(fp);
    XXH128_hash_t h = XXH3_128bits_digest(xs);
    XXH3_freeState(xs);
    snprintf(out, outlen, "xxh128:%016llx%016llx", (unsigned long long)h.high64,
             (unsigned long long)h.low64);
    return ok;
}

static int count_row(void *user, int ncol, const char *const *names, const char *const *values)
{
    (*(int *)user)++;
    return 0;
}

/*
 * The content hash is computed while the capture is read (capture.c), so a duplicate is only
 * certain at the end.  To refuse a re-run early, a regular file whose size matches a stored
 * capture is hashed up front; any other file cannot be a duplicate of what is stored.
 * Returns the id of the stored duplicate, 0 if none, -1 on error.
 */
static int64_t early_duplicate(struct fsc_store *store, const char *path, char *err, size_t errlen)
{
    struct stat st;
    char hash[48];
    int same_size = 0;

    if (strcmp(path, "-") == 0 || stat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return 0;
    if (fsc_store_query(store, "SELECT id FROM captures WHERE size_bytes = ?1", (int64_t)st.st_size,
                        count_row, &same_size, err, errlen) < 0)
        return -1;
    if (!same_size || !hash_file(path, hash, sizeof hash))
        return 0;
    return fsc_store_find_capture(store, hash, err, errlen);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void progress(const char *path, const struct fsc_session *r, int64_t size, double t0,
                     bool end)
{
    double dt = now_seconds() - t0;
    fprintf(stderr, "\r%s: %llu packets, %llu connections written, %.0f packets/s", path,
            (unsigned long long)r->ci.packets_read, (unsigned long long)r->ci.flows,
            dt > 0 ? r->ci.packets_read / dt : 0.0);
    if (size > 0)
        fprintf(stderr, " (%lld MB)", (long long)(size >> 20));
    fprintf(stderr, end ? "\n" : "   ");
}

static void refuse_duplicate(const char *path, const struct fsc_analyze_opts *o, int64_t id)
{
    fprintf(stderr,
            "finscope: %s: already analyzed into %s as capture %lld (same content hash); use "
            "--replace to analyze it again\n",
            path, o->db_path, (long long)id);
}

/* Whether finscope decodes one of the capture's link types (pcapng: of the first 64 described
 * before its first packet); frames of the others are counted link_unsupported. */
static bool any_link_supported(const struct fsc_capture *cap)
{
    int dlts[64];
    unsigned n = fsc_capture_dlts(cap, dlts, 64);

    for (unsigned i = 0; i < n && i < 64; i++)
        if (fsc_decode_link_supported(dlts[i]))
            return true;
    return false;
}

/* Analyze one file into its own transaction.  0 ok, 1 refused or failed (message printed). */
static int analyze_one(struct fsc_store **storep, const char *path,
                       const struct fsc_analyze_opts *o)
{
    struct fsc_session r;
    struct fsc_capture *cap = NULL;
    struct fsc_frame fr;
    char rerr[256] = "", hash[48];
    int64_t replace_id = 0;
    int rc;
    bool tty = o->progress && isatty(STDERR_FILENO);
    double t0 = now_seconds(), next_progress = t0 + 0.5;
    const struct fsc_flow_limits lim = {
        .max_flows = o->max_flows,
        .linger_us = o->linger_us,
        .idle_us = o->idle_us,
    };

    memset(&r, 0, sizeof r);
    r.ci.source = path;
    r.ci.size_bytes = -1;
    r.ci.filter = o->filter;
    r.ci.truncated_at = -1;
    r.ci.drops = -1;

    if (fsc_capture_open_file(path, o->filter, &cap, r.err, sizeof r.err) < 0) {
        fprintf(stderr, "finscope: %s\n", r.err);
        return 1;
    }
    r.ci.link_type_id = fsc_capture_dlt(cap);
    r.ci.link_type = fsc_capture_dlt_name(cap);
    if (!any_link_supported(cap)) {
        fprintf(stderr,
                "finscope: %s: link type %s (%d%s) is not supported; finscope decodes Ethernet, "
                "Linux cooked (SLL, SLL2), raw IP and BSD loopback captures\n",
                path, r.ci.link_type, r.ci.link_type_id,
                fsc_capture_dlts(cap, NULL, 0) > 1 ? " for the first interface" : "");
        fsc_capture_close(cap);
        return 1;
    }
    /*
     * The database is opened only once there is a capture to put in it: the first frame read,
     * or a clean end (an empty capture).  A file that breaks before its first frame has nothing
     * to analyze: an error, and no captures row (a row would make a re-run a "duplicate").
     */
    rc = fsc_capture_next(cap, &fr, rerr, sizeof rerr);
    if (rc < 0 || (rc == 0 && fsc_capture_truncated(cap) >= 0)) {
        if (rc < 0)
            fprintf(stderr, "finscope: %s: read error: %s (nothing was stored)\n", path, rerr);
        else
            fprintf(stderr,
                    "finscope: %s: %s at byte offset %lld, before any packet (%s); nothing to "
                    "analyze, nothing was stored\n",
                    path, fsc_capture_corrupt(cap) ? "corrupt record" : "capture cut off",
                    (long long)fsc_capture_truncated(cap), rerr);
        fsc_capture_close(cap);
        return 1;
    }
    if (!*storep && fsc_store_open(o->db_path, false, storep, r.err, sizeof r.err) < 0) {
        fprintf(stderr, "finscope: %s\n", r.err);
        fsc_capture_close(cap);
        return 1;
    }
    replace_id = early_duplicate(*storep, path, r.err, sizeof r.err);
    if (replace_id < 0)
        goto store_error;
    if (replace_id > 0 && !o->replace) {
        refuse_duplicate(path, o, replace_id);
        fsc_capture_close(cap);
        return 1;
    }
    if (fsc_session_begin(&r, *storep, replace_id, &lim) < 0)
        goto store_error;

    for (; rc == 1; rc = fsc_capture_next(cap, &fr, rerr, sizeof rerr)) {
        if (fsc_session_frame(&r, &fr) < 0)
            goto store_error;
        if (tty && (r.ci.packets_read & 0xffff) == 0 && now_seconds() >= next_progress) {
            progress(path, &r, r.ci.size_bytes, t0, false);
            next_progress = now_seconds() + 0.5;
        }
    }
    if (rc < 0) {
        snprintf(r.err, sizeof r.err, "read error: %s", rerr);
        goto store_error;
    }
    if (fsc_capture_truncated(cap) >= 0) {
        r.ci.truncated = true;
        r.ci.truncated_at = fsc_capture_truncated(cap);
        if (fsc_capture_corrupt(cap))
            fprintf(stderr,
                    "finscope: warning: %s: corrupt record at byte offset %lld (%s); the %llu "
                    "packets before it were analyzed, the rest of the file was not\n",
                    path, (long long)r.ci.truncated_at, rerr,
                    (unsigned long long)r.ci.packets_read);
        else
            fprintf(stderr,
                    "finscope: warning: %s: capture cut off at byte offset %lld (%s); the %llu "
                    "complete packets before it were analyzed\n",
                    path, (long long)r.ci.truncated_at, rerr,
                    (unsigned long long)r.ci.packets_read);
    }
    r.ci.size_bytes = (int64_t)fsc_capture_bytes(cap);
    r.ci.link_type = fsc_capture_dlt_name(cap); /* pcapng: interfaces described after the first
                                                   packet are named too */
    if (fsc_capture_hash(cap, hash, sizeof hash)) {
        int64_t dup;
        r.ci.hash = hash;
        if ((dup = fsc_store_find_capture(*storep, hash, r.err, sizeof r.err)) < 0)
            goto store_error;
        if (dup > 0 && !o->replace) { /* stdin, or a file that changed size: found only now */
            fsc_session_abort(&r);
            refuse_duplicate(path, o, dup);
            fsc_capture_close(cap);
            return 1;
        }
        if (dup > 0 && fsc_store_delete_capture(*storep, dup, r.err, sizeof r.err) < 0)
            goto store_error;
    }
    if (fsc_session_end(&r, r.ci.last_ts) < 0)
        goto store_error;
    if (tty)
        progress(path, &r, r.ci.size_bytes, t0, true);
    fsc_session_free(&r);
    fsc_capture_close(cap);
    if (!o->quiet && fsc_summary_print(*storep, r.capture_id, stdout, r.err, sizeof r.err) < 0)
        fprintf(stderr, "finscope: summary: %s\n", r.err);
    return 0;

store_error:
    fprintf(stderr, "finscope: %s: %s (nothing of this capture was stored)\n", path, r.err);
    fsc_session_abort(&r);
    fsc_capture_close(cap);
    return 1;
}

int fsc_analyze(const char *const *paths, int n, const struct fsc_analyze_opts *o)
{
    struct fsc_store *store = NULL;
    int failed = 0;

    for (int i = 0; i < n; i++)
        failed |= analyze_one(&store, paths[i], o);
    fsc_store_close(store);
    return failed;
}

int fsc_cmd_analyze(int argc, char **argv)
{
    enum { OPT_REPLACE = 256, OPT_LINGER, OPT_IDLE, OPT_MAXFLOWS, OPT_UPGRADE };
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"filter", required_argument, NULL, 'f'},
        {"replace", no_argument, NULL, OPT_REPLACE},
        {"linger", required_argument, NULL, OPT_LINGER},
        {"idle-timeout", required_argument, NULL, OPT_IDLE},
        {"max-flows", required_argument, NULL, OPT_MAXFLOWS},
        {"quiet", no_argument, NULL, 'q'},
        {"upgrade", no_argument, NULL, OPT_UPGRADE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct fsc_analyze_opts o = {
        .db_path = "finscope.db",
        .linger_us = 10 * FSC_USEC_PER_SEC,
        .idle_us = 300 * FSC_USEC_PER_SEC,
        .max_flows = FSC_MAX_FLOWS_DEFAULT,
        .progress = true,
    };
    double secs;
    bool upgrade = false;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "o:f:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            o.db_path = optarg;
            break;
        case 'f':
            o.filter = optarg;
            break;
        case 'q':
            o.quiet = true;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        case OPT_REPLACE:
            o.replace = true;
            break;
        case OPT_UPGRADE:
            upgrade = true;
            break;
        case OPT_LINGER:
        case OPT_IDLE:
            if (fsc_parse_seconds(optarg, &secs) < 0) {
                fprintf(stderr,
                        "finscope analyze: --%s takes seconds from 0 to 1e9 (e.g. 10 or "
                        "0.5), not '%s'\n",
                        c == OPT_LINGER ? "linger" : "idle-timeout", optarg);
                return 2;
            }
            *(c == OPT_LINGER ? &o.linger_us : &o.idle_us) = (fsc_time)(secs * FSC_USEC_PER_SEC);
            break;
        case OPT_MAXFLOWS:
            if (fsc_parse_max_flows(optarg, &o.max_flows) < 0) {
                fprintf(stderr,
                        "finscope analyze: --max-flows takes a count from 1 to %d, not '%s'\n",
                        FSC_MAX_FLOWS_LIMIT, optarg);
                return 2;
            }
            break;
        default:
            fputs("try 'finscope analyze --help'\n", stderr);
            return 2;
        }
    }
    if (upgrade && optind >= argc) {
        /* Opening for writing upgrades an older schema in one transaction (store.c). */
        struct fsc_store *store;
        char err[ERRLEN];
        if (access(o.db_path, F_OK) != 0) {
            fprintf(stderr, "finscope analyze: %s: no such database to upgrade\n", o.db_path);
            return 1;
        }
        if (fsc_store_open(o.db_path, false, &store, err, sizeof err) < 0) {
            fprintf(stderr, "finscope: %s\n", err);
            return 1;
        }
        fsc_store_close(store);
        fprintf(stderr, "finscope: %s: schema %d\n", o.db_path, FSC_SCHEMA_VERSION);
        return 0;
    }
    if (optind >= argc) {
        fputs("finscope analyze: no capture file given\n\n", stderr);
        fputs(usage, stderr);
        return 2;
    }
    return fsc_analyze((const char *const *)argv + optind, argc - optind, &o);
}
