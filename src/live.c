/* live.c - `finscope live`: capture on an interface and keep the database current while it runs. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "finscope/analyze.h"
#include "finscope/capture.h"
#include "finscope/livedump.h"
#include "finscope/session.h"
#include "finscope/summary.h"

static const char usage[] =
    "usage: finscope live [options] [FILTER EXPRESSION]\n"
    "       finscope live -D | --list-interfaces\n"
    "\n"
    "Captures on a network interface (libpcap, immediate mode) and writes the same rows as\n"
    "'finscope analyze' while it runs: connections are written once they have closed (after\n"
    "--linger) or gone idle (--idle-timeout), and committed every second, so\n"
    "'sqlite3 finscope.db ...' in another terminal sees them (the database is put in WAL mode:\n"
    "readers never block the capture).  Ctrl-C (SIGINT), SIGTERM, -c or --duration stop it:\n"
    "every connection still in memory is written with its current state, the summary is\n"
    "printed.  A second Ctrl-C exits at once; the database keeps everything committed.\n"
    "\n"
    "The connections still open are kept current in the held_flows table (every commit, or\n"
    "less often when there are very many), so 'finscope states' and the state_intervals view\n"
    "count them while the capture runs.  On a terminal, the status line shows the three TCP\n"
    "states that hold the most sockets now, over every host seen (as 'finscope states' counts\n"
    "them, with Linux's TIME_WAIT of 60 s).\n"
    "\n"
    "options:\n"
    "  -i, --interface IFACE   interface (default: the first one that is up, said on stderr)\n"
    "  -o, --output FILE       database (default: finscope.db)\n"
    "  -f, --filter EXPR       BPF filter, as tcpdump takes it (e.g. 'tcp port 443'); or give\n"
    "                          it after the options, as tcpdump: finscope live -i lo tcp port 80\n"
    "  -w FILE                 also write every captured frame to the pcap file FILE, as tcpdump\n"
    "                          -w (snaplen as set; flushed every second, so it can be read while\n"
    "                          live runs): frame N in the database is frame N of FILE.  '-':\n"
    "                          standard output (the summary then goes to standard error)\n"
    "  -C MB                   with -w, as tcpdump -C: before writing a frame, a file larger than\n"
    "                          MB millions of bytes is closed and FILE1, FILE2, ... follow\n"
    "  -G SEC                  with -w, as tcpdump -G: a new file every SEC seconds, FILE being\n"
    "                          an strftime(3) pattern ('web-%Y%m%d-%H%M%S.pcap')\n"
    "  -W N                    with -C, reuse N files in a ring (FILE0 .. FILE<N-1>); with -G\n"
    "                          alone, stop after N files\n"
    "                          (the capture_files table says which frames are in which file)\n"
    "  -c, --count N           stop after N packets\n"
    "      --duration SEC      stop after SEC seconds\n"
    "      --snaplen N         bytes kept per packet (default 256: every header and option)\n"
    "  -B, --buffer-size KIB   kernel capture buffer in KiB, as tcpdump -B (default 32768);\n"
    "                          a larger one rides out longer stalls without drops\n"
    "      --promisc           promiscuous mode\n"
    "      --linger SEC        keep closed connections this long for late segments (default 1)\n"
    "      --idle-timeout SEC  write connections idle this long as they are (default 300); if\n"
    "                          one continues later it becomes a new, midstream row\n"
    "      --max-flows N       connections held at once (default 1000000; ~1.6 KiB each)\n"
    "  -Z, --user USER         after opening the interface, run as USER (as tcpdump -Z does):\n"
    "                          the analysis and the database writes do not run as root\n"
    "  -q, --quiet             no summary at the end\n"
    "  -D, --list-interfaces   list the interfaces as tcpdump -D does, and exit\n"
    "  -h, --help              this text\n"
    "\n"
    "examples:\n"
    "  finscope live -i eth0 -f 'tcp port 443'\n"
    "  finscope live -i eth0 -w web.pcap tcp port 443   # then: tshark -r web.pcap\n"
    "  finscope live -i eth0 -w web.pcap -C 100 -W 10   # a ring of ten 100 MB files\n"
    "  finscope live -i eth0 -w 'web-%H%M.pcap' -G 3600 # a new file every hour\n"
    "  finscope live -i eth0 -o web.db --duration 600 -Z nobody\n"
    "  sqlite3 finscope.db 'SELECT * FROM close_wait_suspects'    # while it runs\n"
    "  finscope states finscope.db --state close_wait              # while it runs\n";

static volatile sig_atomic_t stop_signal;

/* First SIGINT/SIGTERM: stop and save.  Second: leave at once; SQLite drops the open
 * transaction, so the file holds exactly what was committed. */
static void on_signal(int sig)
{
    if (stop_signal)
        _exit(128 + sig);
    stop_signal = sig;
}

static fsc_time wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (fsc_time)ts.tv_sec * FSC_USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* tcpdump -Z: give up root once the capture handle is open. */
static int drop_privileges(const char *user, char *err, size_t errlen)
{
    struct passwd *pw = getpwnam(user);

    if (!pw) {
        snprintf(err, errlen, "-Z %s: no such user", user);
        return -1;
    }
    if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
        setuid(pw->pw_uid) < 0) {
        snprintf(err, errlen, "-Z %s: cannot switch to that user: %s", user, strerror(errno));
        return -1;
    }
    if (setuid(0) == 0) { /* must not be able to get root back */
        snprintf(err, errlen, "-Z %s: root privileges could be regained; refusing to go on", user);
        return -1;
    }
    return 0;
}

struct live_opts {
    struct fsc_live_opts cap;
    struct fsc_livedump_opts dump; /* -w (path NULL: none), -C, -G, -W */
    const char *db_path, *user;
    uint64_t count;
    double duration;
    bool quiet;
    struct fsc_flow_limits lim;
};

/* The sockets now in the three most held states, "estab 12 close_wait 3 time_wait 40". */
static void top_states(const uint64_t counts[FSC_CENSUS_NSTATES], char *buf, size_t len)
{
    bool used[FSC_CENSUS_NSTATES] = {false};
    size_t off = 0;

    buf[0] = '\0';
    for (int shown = 0; shown < 3; shown++) {
        int best = -1;
        for (int k = 0; k < FSC_CENSUS_NSTATES; k++)
            if (!used[k] && counts[k] > 0 && (best < 0 || counts[k] > counts[best]))
                best = k;
        if (best < 0 || off >= len)
            break;
        used[best] = true;
        off += (size_t)snprintf(buf + off, len - off, "%s%s %llu", off ? ", " : "",
                                fsc_census_state_name(best), (unsigned long long)counts[best]);
    }
}

static void status_line(const struct fsc_session *s, const struct fsc_capture_info *ci, double pps,
                        uint64_t drops, const uint64_t counts[FSC_CENSUS_NSTATES])
{
    char top[128];

    top_states(counts, top, sizeof top);
    fprintf(stderr,
            "\rfinscope: %llu packets, %.0f packets/s, %llu active connections, %llu written, "
            "%llu dropped%s%s   ",
            (unsigned long long)ci->packets_read, pps,
            (unsigned long long)fsc_flow_table_stats(s->ft)->active, (unsigned long long)ci->flows,
            (unsigned long long)drops, top[0] ? "; sockets: " : "", top);
}

static int run_live(const struct live_opts *o)
{
    struct fsc_session s;
    struct fsc_capture *cap = NULL;
    struct fsc_store *store = NULL;
    struct fsc_livedump *dump = NULL;
    struct fsc_frame fr;
    char err[512], rerr[256] = "", werr[512] = "", source[128], iface[64];
    uint64_t recv = 0, drops = 0, last_pkts = 0;
    bool tty = isatty(STDERR_FILENO), read_failed = false, dump_failed = false;
    /* -w -: standard output is the pcap stream, so the summary goes to standard error. */
    FILE *summary_out = o->dump.path && strcmp(o->dump.path, "-") == 0 ? stderr : stdout;
    int rc;

    memset(&s, 0, sizeof s);
    if (o->cap.iface) {
        snprintf(iface, sizeof iface, "%s", o->cap.iface);
    } else {
        if (fsc_capture_default_iface(iface, sizeof iface, err, sizeof err) < 0) {
            fprintf(stderr, "finscope: %s\n", err);
            return 1;
        }
        fprintf(stderr, "finscope: no interface given (-i), using %s\n", iface);
    }
    struct fsc_live_opts co = o->cap;
    co.iface = iface;
    if (fsc_capture_open_live(&co, &cap, err, sizeof err) < 0) {
        fprintf(stderr, "finscope: %s\n", err);
        return 1;
    }
    if (!fsc_decode_link_supported(fsc_capture_dlt(cap))) {
        fprintf(stderr, "finscope: %s: link type %s is not supported\n", iface,
                fsc_capture_dlt_name(cap));
        fsc_capture_close(cap);
        return 1;
    }
    if (o->user && drop_privileges(o->user, err, sizeof err) < 0) {
        fprintf(stderr, "finscope: %s\n", err);
        fsc_capture_close(cap);
        return 1;
    }
    if (fsc_store_open(o->db_path, false, &store, err, sizeof err) < 0 ||
        fsc_store_wal(store, err, sizeof err) < 0) {
        fprintf(stderr, "finscope: %s\n", err);
        fsc_store_close(store);
        fsc_capture_close(cap);
        return 1;
    }
    snprintf(source, sizeof source, "live:%s", iface);
    s.ci.source = source;
    s.ci.size_bytes = -1;
    s.ci.truncated_at = -1;
    s.ci.drops = 0;
    s.ci.filter = o->cap.filter;
    s.ci.link_type_id = fsc_capture_dlt(cap);
    s.ci.link_type = fsc_capture_dlt_name(cap);
    if (fsc_session_begin(&s, store, 0, &o->lim) < 0)
        goto fail;
    s.track_time_wait = true;
    /* After -Z, as tcpdump: the files belong to that user. */
    if (o->dump.path &&
        fsc_livedump_open(&o->dump, cap, store, s.capture_id, &dump, err, sizeof err) < 0) {
        fprintf(stderr, "finscope: -w: %s\n", err);
        goto abandon;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* -w - | a reader that leaves: the next flush fails with EPIPE and the capture ends with
     * its rows saved, instead of SIGPIPE killing it between commits. */
    if (dump)
        signal(SIGPIPE, SIG_IGN);
    fprintf(stderr,
            "finscope: capturing on %s (link %s, snaplen %d), writing %s%s%s; Ctrl-C to stop\n",
            iface, s.ci.link_type, o->cap.snaplen, o->db_path, dump ? " and frames to " : "",
            dump ? o->dump.path : "");

    fsc_time start = wall_now(), last_commit = start, last_snapshot = 0, snapshot_cost = 0;
    uint64_t counts[FSC_CENSUS_NSTATES] = {0};
    fsc_time deadline = o->duration > 0 ? start + (fsc_time)(o->duration * FSC_USEC_PER_SEC) : 0;
    while (!stop_signal) {
        rc = fsc_capture_next(cap, &fr, rerr, sizeof rerr);
        /* Written before it is analyzed: a frame number in the database is always in a file. */
        if (rc == 1 && dump) {
            /* -C, -G: a new file's capture_files row comes with the frame: only then is the
             * store taken from the writer thread */
            bool rotates = fsc_livedump_rotation_due(dump);
            if (rotates)
                fsc_session_lock_store(&s);
            int w = fsc_livedump_frame(dump, &fr, werr, sizeof werr);
            if (rotates)
                fsc_session_unlock_store(&s);
            if (w > 0)
                fprintf(stderr, "finscope: -W %u: the last file is written, stopping\n",
                        o->dump.max_files);
            dump_failed = w < 0;
            if (w != 0)
                break;
        }
        if (rc == 1 && fsc_session_frame(&s, &fr) < 0)
            goto fail;
        if (rc == 0)
            break; /* the interface went away */
        if (rc < 0) {
            read_failed = true;
            break;
        }
        fsc_time now = wall_now();
        if (now - last_commit >= FSC_USEC_PER_SEC) {
            /* Time moves on without packets: write what has lingered or idled, then commit. */
            if (fsc_session_expire(&s, now) < 0)
                goto fail;
            if (fsc_capture_stats(cap, &recv, &drops) == 0)
                s.ci.drops = (int64_t)drops;
            /* The held connections go to held_flows, at most ~5% of the time (~2 us each). */
            if (now - last_snapshot >= 20 * snapshot_cost) {
                if (fsc_session_snapshot(&s, now, counts) < 0)
                    goto fail;
                snapshot_cost = wall_now() - now;
                last_snapshot = now;
            }
            /* Every flow written before the commit: the captures row counts them all. */
            if (fsc_session_sync(&s) < 0)
                goto fail;
            if (dump && fsc_livedump_commit(dump, werr, sizeof werr) < 0) {
                dump_failed = true;
                break;
            }
            if (fsc_store_commit_capture(store, s.capture_id, &s.ci, s.err, sizeof s.err) < 0)
                goto fail;
            if (tty && !o->quiet)
                status_line(&s, &s.ci,
                            (double)(s.ci.packets_read - last_pkts) * FSC_USEC_PER_SEC /
                                (double)(now - last_commit),
                            drops, counts);
            last_pkts = s.ci.packets_read;
            last_commit = now;
        }
        if ((o->count && s.ci.packets_read >= o->count) || (deadline && now >= deadline))
            break;
    }
    if (tty && !o->quiet)
        fputc('\n', stderr);
    if (fsc_capture_stats(cap, &recv, &drops) == 0)
        s.ci.drops = (int64_t)drops;
    /* The last file's row goes in the last commit.  A write error stops the capture; the
     * database still gets every frame analyzed so far (their files may lack the last ones). */
    if (fsc_session_sync(&s) < 0)
        goto fail;
    if (fsc_livedump_close(dump, err, sizeof err) < 0 && !dump_failed) {
        snprintf(werr, sizeof werr, "%s", err);
        dump_failed = true;
    }
    dump = NULL;
    /* Connections still open are written as they are; their open dwells run to now. */
    if (fsc_session_end(&s, wall_now()) < 0)
        goto fail;
    fsc_session_free(&s);
    fsc_capture_close(cap);
    if (read_failed)
        fprintf(stderr, "finscope: %s: capture stopped: %s (everything before it was stored)\n",
                iface, rerr);
    if (dump_failed)
        fprintf(stderr,
                "finscope: -w: %s (capture stopped; capture_files names the frames written before "
                "it)\n",
                werr);
    if (s.ci.drops > 0)
        fprintf(stderr,
                "finscope: the kernel dropped %lld packets (recorded on the capture row); a "
                "tighter -f filter, a smaller --snaplen or a larger -B helps\n",
                (long long)s.ci.drops);
    if (!o->quiet && fsc_summary_print(store, s.capture_id, summary_out, err, sizeof err) < 0)
        fprintf(stderr, "finscope: summary: %s\n", err);
    fsc_store_close(store);
    return read_failed || dump_failed ? 1 : 0;

fail:
    /* What was committed every second stays; the uncommitted rest is rolled back. */
    fprintf(stderr, "finscope: %s: %s (the database holds what was committed before)\n", o->db_path,
            s.err);
abandon:
    fsc_session_sync(&s);                      /* the writer idle before livedump uses the store */
    fsc_livedump_close(dump, err, sizeof err); /* its rows are rolled back with the rest */
    fsc_session_abort(&s);
    fsc_capture_close(cap);
    fsc_store_close(store);
    return 1;
}

/* -w, -C, -G, -W as tcpdump takes them.  0, or -1 after a message. */
static int parse_dump_opt(int c, const char *arg, struct fsc_livedump_opts *d)
{
    uint64_t v;

    switch (c) {
    case 'w':
        if (!*arg) {
            fputs("finscope live: -w takes a file name ('-' for standard output)\n", stderr);
            return -1;
        }
        d->path = arg;
        return 0;
    case 'C':
        if (fsc_parse_uint(arg, 1, 1000000000, &v) < 0) {
            fprintf(stderr,
                    "finscope live: -C takes a file size in millions of bytes from 1, not '%s'\n",
                    arg);
            return -1;
        }
        d->max_bytes = v * 1000000;
        return 0;
    case 'G':
        if (fsc_parse_uint(arg, 1, INT32_MAX, &v) < 0) {
            fprintf(stderr, "finscope live: -G takes whole seconds from 1, not '%s'\n", arg);
            return -1;
        }
        d->every_s = (unsigned)v;
        return 0;
    default: /* 'W' */
        if (fsc_parse_uint(arg, 1, 1000000, &v) < 0) {
            fprintf(stderr,
                    "finscope live: -W takes a number of files from 1 to 1000000, not '%s'\n", arg);
            return -1;
        }
        d->max_files = (unsigned)v;
        return 0;
    }
}

/* -C, -G and -W only with -w, and not with standard output.  0, or -1 after a message. */
static int check_dump_opts(const struct fsc_livedump_opts *d)
{
    const char *rot = d->max_bytes ? "-C" : d->every_s ? "-G" : d->max_files ? "-W" : NULL;

    if (rot && !d->path) {
        fprintf(stderr, "finscope live: %s goes with -w FILE\n", rot);
        return -1;
    }
    if (rot && strcmp(d->path, "-") == 0) {
        fprintf(stderr, "finscope live: %s rotates files: not with -w - (standard output)\n", rot);
        return -1;
    }
    if (d->max_files && !d->max_bytes && !d->every_s) {
        fputs("finscope live: -W goes with -C or -G\n", stderr);
        return -1;
    }
    return 0;
}

/* The filter given as the remaining arguments, joined by spaces as tcpdump does (copy_argv).
 * Owned by the caller; NULL when out of memory. */
static char *join_args(int n, char **args)
{
    size_t len = 1;

    for (int i = 0; i < n; i++)
        len += strlen(args[i]) + 1;
    char *s = malloc(len), *p = s;
    if (!s)
        return NULL;
    for (int i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? " " : "", args[i]);
    *p = '\0';
    return s;
}

int fsc_cmd_live(int argc, char **argv)
{
    enum {
        OPT_DURATION = 256,
        OPT_SNAPLEN,
        OPT_PROMISC,
        OPT_LINGER,
        OPT_IDLE,
        OPT_MAXFLOWS,
    };
    static const struct option longopts[] = {
        {"interface", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {"filter", required_argument, NULL, 'f'},
        {"count", required_argument, NULL, 'c'},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"snaplen", required_argument, NULL, OPT_SNAPLEN},
        {"buffer-size", required_argument, NULL, 'B'},
        {"promisc", no_argument, NULL, OPT_PROMISC},
        {"linger", required_argument, NULL, OPT_LINGER},
        {"idle-timeout", required_argument, NULL, OPT_IDLE},
        {"max-flows", required_argument, NULL, OPT_MAXFLOWS},
        {"user", required_argument, NULL, 'Z'},
        {"quiet", no_argument, NULL, 'q'},
        {"list-interfaces", no_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct live_opts o = {
        .cap = {.snaplen = 256, .buffer_bytes = 32 << 20},
        .db_path = "finscope.db",
        .lim = {.max_flows = FSC_MAX_FLOWS_DEFAULT,
                .linger_us = FSC_USEC_PER_SEC,
                .idle_us = 300 * FSC_USEC_PER_SEC},
    };
    double secs;
    uint64_t v;
    char err[256];
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "i:o:f:c:B:Z:qhw:C:G:W:D", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
            o.cap.iface = optarg;
            break;
        case 'o':
            o.db_path = optarg;
            break;
        case 'f':
            o.cap.filter = optarg;
            break;
        case 'c':
            if (fsc_parse_uint(optarg, 1, UINT64_MAX, &o.count) < 0) {
                fprintf(stderr, "finscope live: -c takes a packet count from 1, not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case OPT_DURATION:
        case OPT_LINGER:
        case OPT_IDLE:
            if (fsc_parse_seconds(optarg, &secs) < 0) {
                fprintf(stderr,
                        "finscope live: --%s takes seconds from 0 to 1e9 (e.g. 10 or "
                        "0.5), not '%s'\n",
                        c == OPT_DURATION ? "duration"
                        : c == OPT_LINGER ? "linger"
                                          : "idle-timeout",
                        optarg);
                return 2;
            }
            if (c == OPT_DURATION)
                o.duration = secs;
            else if (c == OPT_LINGER)
                o.lim.linger_us = (fsc_time)(secs * FSC_USEC_PER_SEC);
            else
                o.lim.idle_us = (fsc_time)(secs * FSC_USEC_PER_SEC);
            break;
        case OPT_SNAPLEN:
            if (fsc_parse_uint(optarg, 96, 262144, &v) < 0) {
                fprintf(stderr,
                        "finscope live: --snaplen takes 96..262144 (TCP headers need "
                        "up to ~130 bytes below them), not '%s'\n",
                        optarg);
                return 2;
            }
            o.cap.snaplen = (int)v;
            break;
        case 'B':
            if (fsc_parse_uint(optarg, 256, (1U << 21) - 1, &v) < 0) {
                fprintf(stderr,
                        "finscope live: -B takes a buffer size in KiB from 256 to 2097151, "
                        "not '%s'\n",
                        optarg);
                return 2;
            }
            o.cap.buffer_bytes = (int)(v * 1024);
            break;
        case OPT_PROMISC:
            o.cap.promisc = true;
            break;
        case OPT_MAXFLOWS:
            if (fsc_parse_max_flows(optarg, &o.lim.max_flows) < 0) {
                fprintf(stderr, "finscope live: --max-flows takes a count from 1 to %d, not '%s'\n",
                        FSC_MAX_FLOWS_LIMIT, optarg);
                return 2;
            }
            break;
        case 'Z':
            o.user = optarg;
            break;
        case 'q':
            o.quiet = true;
            break;
        case 'w':
        case 'C':
        case 'G':
        case 'W':
            if (parse_dump_opt(c, optarg, &o.dump) < 0)
                return 2;
            break;
        case 'D':
            if (fsc_capture_list_ifaces(stdout, err, sizeof err) < 0) {
                fprintf(stderr, "finscope: %s\n", err);
                return 1;
            }
            return 0;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs("try 'finscope live --help'\n", stderr);
            return 2;
        }
    }
    char *filter = NULL;
    if (optind < argc) {
        if (o.cap.filter) {
            fprintf(stderr,
                    "finscope live: a filter with -f and another after the options ('%s'): "
                    "give one\n",
                    argv[optind]);
            return 2;
        }
        if (!(filter = join_args(argc - optind, argv + optind))) {
            fputs("finscope live: out of memory\n", stderr);
            return 1;
        }
        o.cap.filter = filter;
    }
    if (check_dump_opts(&o.dump) < 0) {
        free(filter);
        return 2;
    }
    c = run_live(&o);
    free(filter);
    return c;
}
