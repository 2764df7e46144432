/* analyze.c - `finscope analyze`: capture files -> decode -> flow table -> SQLite, one transaction
 * per file. */
#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
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
#include "finscope/escape.h"
#include "finscope/flow.h"
#include "finscope/store.h"
#include "finscope/session.h"
#include "finscope/summary.h"

#define ERRLEN 512

static const char usage[] =
    "usage: finscope analyze [options] CAPTURE... [EXPRESSION]\n"
    "       finscope analyze [options] -r CAPTURE [-r CAPTURE]... [EXPRESSION]\n"
    "\n"
    "Reads pcap or pcapng files (\"-\" for stdin), follows every TCP connection, infers both\n"
    "endpoints' states through handshake and teardown, names how each connection ended, and\n"
    "stores it all in an SQLite database; then prints a summary of each capture and, when\n"
    "more than one was stored, their total.\n"
    "Each file is analyzed on its own and becomes one row of the captures table.\n"
    "As with tcpdump, files given with -r leave the other arguments to the BPF filter\n"
    "expression.  Without -r the arguments are files up to the first that does not exist;\n"
    "it and the rest are the filter if they compile as one, else it is a missing file\n"
    "(exit 2, nothing analyzed).\n"
    "\n"
    "options:\n"
    "  -o, --output FILE       database to write (default: finscope.db)\n"
    "  -r, --read FILE         analyze FILE (repeatable); the arguments are then the filter\n"
    "  -f, --filter EXPR       BPF filter, as tcpdump takes it (e.g. 'tcp port 443'); not\n"
    "                          with a filter expression after the files\n"
    "      --replace           analyze a file already in the database again, replacing its rows\n"
    "      --linger SEC        keep closed connections this long for late segments (default 10)\n"
    "      --idle-timeout SEC  write connections idle this long as they are (default 300)\n"
    "      --max-flows N       connections held at once; beyond, lingering closed ones go\n"
    "                          first, then the longest idle is written early (default\n"
    "                          1000000; ~1.6 KiB each)\n"
    "      --json              the summaries as one JSON document on stdout instead of text:\n"
    "                          {\"captures\": [one per file], \"total\": {...}, \"failed\": "
    "[...]}\n"
    "  -q, --quiet             no summary, no progress: nothing but errors\n"
    "      --upgrade           with no CAPTURE: bring the database to this build's schema\n"
    "                          (what the read-only commands ask for on an older file)\n"
    "  -h, --help              this text\n"
    "\n"
    "On a terminal, stderr shows the progress of each file: the share of it read, packets,\n"
    "packets/s, MB/s, elapsed time and the time left (stdin: no share, no time left).\n"
    "\n"
    "examples:\n"
    "  finscope analyze captures/*.pcap\n"
    "  finscope analyze -o web.db -f 'tcp port 443' web-*.pcapng\n"
    "  finscope analyze web.pcap tcp port 443\n"
    "  finscope analyze -o web.db -r web-1.pcap -r web-2.pcap tcp port 443\n"
    "  finscope analyze --json -o web.db web-*.pcap | jq '.total.close_kind'\n"
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

/* The status line on a terminal: refreshed at most 4 times a second, ended with a newline. */
#define PROGRESS_EVERY_S 0.25

struct progress {
    bool on;         /* stderr is a terminal */
    char name[1024]; /* the path, escaped for the terminal */
    int64_t size;    /* bytes of the file, -1 when unknown (stdin, a pipe) */
    double t0, next; /* start, next refresh (monotonic seconds) */
    bool shown;      /* a line is on screen without its newline */
};

static void progress_start(struct progress *p, const char *path, bool on)
{
    struct stat st;

    memset(p, 0, sizeof *p);
    p->on = on && isatty(STDERR_FILENO);
    fsc_esc_term_buf(p->name, sizeof p->name, path);
    p->size =
        strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0
            ? (int64_t)st.st_size
            : -1;
    p->t0 = now_seconds();
    p->next = p->t0 + PROGRESS_EVERY_S;
}

/* "1:05", or "2:01:05" past an hour; returns buf. */
static const char *clock_str(char *buf, size_t len, double secs)
{
    long s = secs > 0 && secs < 1e8 ? (long)(secs + 0.5) : 0;

    if (s >= 3600)
        snprintf(buf, len, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, len, "%ld:%02ld", s / 60, s % 60);
    return buf;
}

/* What the run is doing: reading (with an ETA when the size is known), writing the connections
 * still held once the input has ended (which can take a while), done. */
enum progress_phase { PR_READING, PR_WRITING, PR_DONE };

/*
 * The line after the name, with detail 2 (everything), 1 (without the file size) or 0 (without
 * the file size and MB/s, for a narrow terminal).  Returns its length.
 */
static int progress_line(char *buf, size_t len, const struct progress *p, uint64_t packets,
                         uint64_t bytes, enum progress_phase ph, int detail)
{
    double dt = now_seconds() - p->t0, done = 0;
    char share[48] = "", mbs[32] = "", el[32], eta[32], tail[48];

    if (p->size > 0) {
        done = ph != PR_READING || (double)bytes > (double)p->size
                   ? 1
                   : (double)bytes / (double)p->size;
        if (detail > 1)
            snprintf(share, sizeof share, " %5.1f%% of %.1f MB,", 100 * done,
                     (double)p->size / 1e6);
        else
            snprintf(share, sizeof share, " %5.1f%%,", 100 * done);
    }
    if (detail > 0)
        snprintf(mbs, sizeof mbs, " %.1f MB/s,", dt > 0 ? (double)bytes / 1e6 / dt : 0.0);
    if (ph == PR_WRITING)
        snprintf(tail, sizeof tail, ", writing%s", detail > 0 ? " the database" : "");
    else if (ph == PR_DONE)
        snprintf(tail, sizeof tail, ", done");
    else if (p->size > 0 && done > 0)
        snprintf(tail, sizeof tail, ", ETA %s", clock_str(eta, sizeof eta, dt / done - dt));
    else
        snprintf(tail, sizeof tail, "%s", p->size > 0 ? ", ETA ?" : "");
    return snprintf(buf, len, ":%s %" PRIu64 " packets, %.0f packets/s,%s elapsed %s%s", share,
                    packets, dt > 0 ? (double)packets / dt : 0.0, mbs, clock_str(el, sizeof el, dt),
                    tail);
}

/* Draw the line on one terminal row (or \r could not go back over it): details give way first,
 * then the start of the name. */
static void progress_draw(struct progress *p, uint64_t packets, uint64_t bytes,
                          enum progress_phase ph)
{
    char line[256];
    const char *tail = p->name;
    struct winsize ws;
    int cols = ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 1 << 20;
    int name = (int)strlen(p->name), want = name < 16 ? name : 16, n = 0, room;

    for (int detail = 2; detail >= 0; detail--)
        if ((n = progress_line(line, sizeof line, p, packets, bytes, ph, detail)) + want < cols)
            break;
    room = cols - 1 - n;
    if (room < 8)
        room = 8;
    if (name > room) /* "..." and the end of the name, from the start of a UTF-8 character */
        for (tail += name - room + 3; (*tail & 0xc0) == 0x80; tail++)
            ;
    fprintf(stderr, "\r%s%s%s\033[K%s", tail != p->name ? "..." : "", tail, line,
            ph == PR_DONE ? "\n" : "");
    p->shown = ph != PR_DONE;
}

/* Refresh the line if it is time; cheap enough to call for every frame. */
static void progress_tick(struct progress *p, uint64_t packets, const struct fsc_capture *cap)
{
    double t;

    if (!p->on || (packets & 63) != 0 || (t = now_seconds()) < p->next)
        return;
    progress_draw(p, packets, fsc_capture_bytes(cap), PR_READING);
    p->next = t + PROGRESS_EVERY_S;
}

/* End a line left on screen, so that a message printed next starts on its own line. */
static void progress_break(struct progress *p)
{
    if (p->shown)
        fputc('\n', stderr);
    p->shown = false;
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

/* Analyze one file into its own transaction, its captures id into *id.  0 ok, 1 refused or
 * failed (message printed). */
static int analyze_one(struct fsc_store **storep, const char *path,
                       const struct fsc_analyze_opts *o, int64_t *id)
{
    struct fsc_session r;
    struct fsc_capture *cap = NULL;
    struct fsc_frame fr;
    char rerr[256] = "", hash[48];
    int64_t replace_id = 0;
    int rc;
    struct progress pr;
    const struct fsc_flow_limits lim = {
        .max_flows = o->max_flows,
        .linger_us = o->linger_us,
        .idle_us = o->idle_us,
    };

    memset(&r, 0, sizeof r);
    progress_start(&pr, path, o->progress && !o->quiet);
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
        progress_tick(&pr, r.ci.packets_read, cap);
    }
    if (rc < 0) {
        snprintf(r.err, sizeof r.err, "read error: %s", rerr);
        goto store_error;
    }
    if (fsc_capture_truncated(cap) >= 0) {
        progress_break(&pr);
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
        if (fsc_session_sync(&r) < 0) /* the store is this thread's from here */
            goto store_error;
        if ((dup = fsc_store_find_capture(*storep, hash, r.err, sizeof r.err)) < 0)
            goto store_error;
        if (dup > 0 && !o->replace) { /* stdin, or a file that changed size: found only now */
            fsc_session_abort(&r);
            progress_break(&pr);
            refuse_duplicate(path, o, dup);
            fsc_capture_close(cap);
            return 1;
        }
        if (dup > 0 && fsc_store_delete_capture(*storep, dup, r.err, sizeof r.err) < 0)
            goto store_error;
    }
    if (pr.on)
        progress_draw(&pr, r.ci.packets_read, fsc_capture_bytes(cap), PR_WRITING);
    if (fsc_session_end(&r, r.ci.last_ts) < 0)
        goto store_error;
    if (pr.on)
        progress_draw(&pr, r.ci.packets_read, fsc_capture_bytes(cap), PR_DONE);
    fsc_session_free(&r);
    fsc_capture_close(cap);
    *id = r.capture_id;
    if (!o->quiet && !o->json &&
        fsc_summary_print(*storep, r.capture_id, stdout, r.err, sizeof r.err) < 0)
        fprintf(stderr, "finscope: summary: %s\n", r.err);
    return 0;

store_error:
    progress_break(&pr);
    fprintf(stderr, "finscope: %s: %s (nothing of this capture was stored)\n", path, r.err);
    fsc_session_abort(&r);
    fsc_capture_close(cap);
    return 1;
}

/* After the files: their total (text, when more than one was stored) or the JSON document. */
static int summarize_run(struct fsc_store *store, const int64_t *ids, size_t n,
                         const char *const *failed, size_t nfailed,
                         const struct fsc_analyze_opts *o)
{
    char err[ERRLEN];
    int rc = 0;

    if (o->json)
        rc = fsc_summary_json(store, ids, n, failed, nfailed, stdout, err, sizeof err);
    else if (!o->quiet && n > 1)
        rc = fsc_summary_print_total(store, ids, n, stdout, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "finscope: summary: %s\n", err);
    return rc < 0;
}

int fsc_analyze(const char *const *paths, int n, const struct fsc_analyze_opts *o)
{
    struct fsc_store *store = NULL;
    int64_t *ids = calloc(n > 0 ? (size_t)n : 1, sizeof *ids);
    const char **failed = calloc(n > 0 ? (size_t)n : 1, sizeof *failed);
    size_t nids = 0, nfailed = 0;

    if (!ids || !failed) {
        fputs("finscope: out of memory\n", stderr);
        free(ids);
        free(failed);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        if (analyze_one(&store, paths[i], o, &ids[nids]) == 0)
            nids++;
        else
            failed[nfailed++] = paths[i];
    }
    /* A summary that cannot be printed is reported, but the captures are stored all the same. */
    int bad = summarize_run(store, ids, nids, failed, nfailed, o) && o->json;

    fsc_store_close(store);
    free(ids);
    free(failed);
    return nfailed > 0 || bad;
}

/* The words joined by single spaces (malloc'd), or NULL when out of memory. */
static char *join_words(char *const *w, int n)
{
    size_t len = 1;
    char *s;

    for (int k = 0; k < n; k++)
        len += strlen(w[k]) + 1;
    if (!(s = malloc(len)))
        return NULL;
    *s = 0;
    for (int k = 0; k < n; k++) {
        if (k)
            strcat(s, " ");
        strcat(s, w[k]);
    }
    return s;
}

/* A word that is a file name by its form (a '/', a capture's extension): never compiled as a
 * filter, where a name would be looked up as a host. */
static bool looks_like_path(const char *w)
{
    static const char *const ext[] = {".pcap", ".pcapng", ".cap", ".gz"};
    size_t n = strlen(w);

    if (strchr(w, '/'))
        return true;
    for (size_t k = 0; k < sizeof ext / sizeof *ext; k++)
        if (n > strlen(ext[k]) && strcmp(w + n - strlen(ext[k]), ext[k]) == 0)
            return true;
    return false;
}

/* argv[from..argc) joined (malloc'd) if they are a BPF expression that compiles, else NULL. */
static char *as_filter(char **argv, int from, int argc)
{
    char *e;

    for (int k = from; k < argc; k++)
        if (looks_like_path(argv[k]))
            return NULL;
    if ((e = join_words(argv + from, argc - from)) && !fsc_capture_filter_compiles(e)) {
        free(e);
        e = NULL;
    }
    return e;
}

/*
 * Without -r, as tcpdump users type it: the files up to the first argument that is not an
 * existing file (or "-"); that one and the rest are the filter if they compile, else it is a
 * missing file.  All is decided before anything is analyzed, so a typo writes nothing.
 */
static int analyze_positional(int argc, char **argv, struct fsc_analyze_opts *o)
{
    struct stat st;
    char *expr = NULL, *rest;
    int k = optind, rc, why;

    while (k < argc && (strcmp(argv[k], "-") == 0 || stat(argv[k], &st) == 0))
        k++;
    why = errno;
    if (k < argc && !(expr = as_filter(argv, k, argc))) {
        fprintf(stderr, "finscope analyze: %s: %s\n", argv[k],
                why == ENOENT ? "no such file" : strerror(why));
        if ((rest = k + 1 < argc ? as_filter(argv, k + 1, argc) : NULL))
            fprintf(stderr,
                    "finscope analyze: if '%s' is a filter, give it with -f '%s' or read the "
                    "files with -r FILE %s\n",
                    rest, rest, rest);
        free(rest);
        return 2;
    }
    if (expr && o->filter) {
        fprintf(stderr,
                "finscope analyze: a filter both with -f ('%s') and after the files ('%s'): "
                "give one\n",
                o->filter, expr);
        free(expr);
        return 2;
    }
    if (k == optind) {
        fputs("finscope analyze: no capture file given, only a filter\n\n", stderr);
        fputs(usage, stderr);
        free(expr);
        return 2;
    }
    if (expr)
        o->filter = expr;
    rc = fsc_analyze((const char *const *)argv + optind, k - optind, o);
    free(expr);
    return rc;
}

/* What follows the options: --upgrade alone, files, or -r's files and a filter expression. */
static int analyze_args(int argc, char **argv, char **reads, int nread, bool upgrade,
                        struct fsc_analyze_opts *o)
{
    char *expr = NULL;
    int rc;

    if (o->quiet && o->json) {
        fputs("finscope analyze: -q and --json: choose one\n", stderr);
        return 2;
    }
    if (upgrade && optind >= argc) {
        /* Opening for writing upgrades an older schema in one transaction (store.c). */
        struct fsc_store *store;
        char err[ERRLEN];
        if (access(o->db_path, F_OK) != 0) {
            fprintf(stderr, "finscope analyze: %s: no such database to upgrade\n", o->db_path);
            return 1;
        }
        if (fsc_store_open(o->db_path, false, &store, err, sizeof err) < 0) {
            fprintf(stderr, "finscope: %s\n", err);
            return 1;
        }
        fsc_store_close(store);
        fprintf(stderr, "finscope: %s: schema %d\n", o->db_path, FSC_SCHEMA_VERSION);
        return 0;
    }
    if (nread == 0 && optind >= argc) {
        fputs("finscope analyze: no capture file given\n\n", stderr);
        fputs(usage, stderr);
        return 2;
    }
    if (nread == 0)
        return analyze_positional(argc, argv, o);
    /* tcpdump -r FILE EXPRESSION: the arguments are the words of one filter. */
    for (int k = optind; k < argc; k++) {
        struct stat st;
        if (stat(argv[k], &st) == 0 && S_ISREG(st.st_mode)) {
            fprintf(stderr,
                    "finscope analyze: '%s' is a file, but after -r the arguments are the filter "
                    "expression: give each file with -r (or none with -r)\n",
                    argv[k]);
            return 2;
        }
    }
    if (optind < argc && o->filter) {
        fprintf(stderr,
                "finscope analyze: a filter both with -f ('%s') and after the files "
                "('%s' ...): give one\n",
                o->filter, argv[optind]);
        return 2;
    }
    if (optind < argc && !(o->filter = expr = join_words(argv + optind, argc - optind))) {
        fputs("finscope: out of memory\n", stderr);
        return 1;
    }
    rc = fsc_analyze((const char *const *)reads, nread, o);
    free(expr);
    return rc;
}

int fsc_cmd_analyze(int argc, char **argv)
{
    enum { OPT_REPLACE = 256, OPT_LINGER, OPT_IDLE, OPT_MAXFLOWS, OPT_UPGRADE, OPT_JSON };
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"filter", required_argument, NULL, 'f'},
        {"read", required_argument, NULL, 'r'},
        {"json", no_argument, NULL, OPT_JSON},
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
    int c, nread = 0, rc;
    char **reads = calloc((size_t)argc + 1, sizeof *reads); /* the -r files */

    if (!reads) {
        fputs("finscope: out of memory\n", stderr);
        return 1;
    }
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:f:r:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'r':
            reads[nread++] = optarg;
            break;
        case OPT_JSON:
            o.json = true;
            break;
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
            free(reads);
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
                free(reads);
                return 2;
            }
            *(c == OPT_LINGER ? &o.linger_us : &o.idle_us) = (fsc_time)(secs * FSC_USEC_PER_SEC);
            break;
        case OPT_MAXFLOWS:
            if (fsc_parse_max_flows(optarg, &o.max_flows) < 0) {
                fprintf(stderr,
                        "finscope analyze: --max-flows takes a count from 1 to %d, not '%s'\n",
                        FSC_MAX_FLOWS_LIMIT, optarg);
                free(reads);
                return 2;
            }
            break;
        default:
            fputs("try 'finscope analyze --help'\n", stderr);
            free(reads);
            return 2;
        }
    }
    rc = analyze_args(argc, argv, reads, nread, upgrade, &o);
    free(reads);
    return rc;
}
