/* show_where.c - where a flow's packets are: its capture, file, frames and tshark command. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "finscope/escape.h"
#include "finscope/show.h"
#include "finscope/where.h"

/* Files of one capture a flow's frames may span before the rest is only counted. */
#define MAX_FILES 8

/* The flow as the lines need it; strings cut to the buffers (they are only shown). */
struct loc {
    bool found;
    long long capture, first, last; /* -1 when not stored as an integer */
    char client[64], server[64];
    long long client_port, server_port;
    bool have_source;
    char source[4096];
    FILE *out;
    int width; /* columns the tshark command is fitted to; 0: one line */
    int files; /* capture_files rows printed */
    int more;  /* rows beyond MAX_FILES */
};

/* A stored integer, or -1 when the stored text is not one (the database is untrusted). */
static long long stored_int(const char *v)
{
    char *end;
    long long n;

    if (!v || !*v)
        return -1;
    errno = 0;
    n = strtoll(v, &end, 10);
    return errno || *end ? -1 : n;
}

/*
 * path as one shell word: as it is when no shell treats any of its characters specially, else
 * in single quotes (a quote in it as '"'"'); escaped for the terminal either way, so nothing
 * stored acts on the terminal (a control character shows as \xHH, a backslash as \\).
 */
static void shell_word(FILE *out, const char *path)
{
    static const char plain[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                "_./+:@%,=-";
    size_t n = strlen(path), quotes = 0;
    char *word, *w;

    if (n && strspn(path, plain) == n) {
        fsc_esc_term(out, path);
        return;
    }
    for (const char *p = path; *p; p++)
        quotes += *p == '\'';
    if (!(word = malloc(n + 4 * quotes + 3))) {
        fputs("?", out);
        return;
    }
    w = word;
    *w++ = '\'';
    for (const char *p = path; *p; p++) {
        if (*p == '\'') {
            memcpy(w, "'\"'\"'", 5);
            w += 5;
        } else {
            *w++ = *p;
        }
    }
    *w++ = '\'';
    *w = '\0';
    fsc_esc_term(out, word);
    free(word);
}

/*
 * Words on lines of at most width columns (0: one line), a word never cut: a break before word
 * k is " \" and a new line outside the quotes, a plain new line inside them (bash keeps it in
 * the quoted filter, where Wireshark's display filters take it as a blank); both indent by 4.
 */
static void put_wrapped(FILE *out, char **words, const bool *quoted, int n, int width)
{
    int col = 0;

    for (int k = 0; k < n; k++) {
        int len = (int)strlen(words[k]), room = quoted[k] ? 0 : 2;
        if (width > 0 && col > 4 && col + 1 + len + room > width) {
            fputs(quoted[k] ? "\n    " : " \\\n    ", out);
            col = 4;
        } else if (k) {
            fputc(' ', out);
            col++;
        }
        fputs(words[k], out);
        col += len;
    }
    fputc('\n', out);
}

/* "tshark [-r FILE] -Y 'FILTER'" for frames first..last of file (NULL: no -r; first <= 0: no
 * frame range), fitted to width columns (0: one line) by breaks between the filter's terms.
 * The filter holds canonical addresses and numbers only: quoted as it is. */
static void tshark_line(const struct loc *l, const char *file, long long first, long long last,
                        int width)
{
    struct fsc_where w = {l->client, l->server, l->client_port, l->server_port, first, last};
    char buf[700], quoted_file[8192] = "", *words[48], *p;
    /* The filter after "-Y '", room left for the closing quote. */
    int n = fsc_where_tshark(buf + 4, sizeof buf - 5, &w), nw = 0;
    bool quoted[48];
    FILE *mem;

    if (n < 0 || (size_t)n >= sizeof buf - 5) {
        fputs("tshark: no display filter (the stored addresses or ports are not valid)\n", l->out);
        return;
    }
    memcpy(buf, "-Y '", 4);
    strcat(buf, "'");
    /* No file holds the frames (a live capture without -w, standard input): a tshark command
     * without -r would start capturing, so only the filter is given, for another recording. */
    bool saved = file && strcmp(file, "-") != 0;
    words[nw] = saved ? "tshark" : "display filter (no file holds these frames):";
    quoted[nw++] = false;
    if (saved && (mem = fmemopen(quoted_file, sizeof quoted_file - 1, "w"))) {
        fputs("-r ", mem);
        shell_word(mem, file);
        fclose(mem); /* a name longer than the buffer is cut: it is only shown */
        words[nw] = quoted_file;
        quoted[nw++] = false;
    }
    /* "-Y '" with the first term, then one word per " && " or " || " term. */
    words[nw] = saved ? buf : buf + 3;
    quoted[nw++] = false;
    for (p = buf + 4; nw < 48 && (p = strstr(p, " ")) != NULL; p++) {
        if ((p[1] == '&' || p[1] == '|') && p[2] == p[1] && p[3] == ' ') {
            *p = '\0';
            words[nw] = p + 1;
            quoted[nw++] = true;
        }
    }
    put_wrapped(l->out, words, quoted, nw, width);
}

static void copy(char *dst, size_t n, const char *v)
{
    snprintf(dst, n, "%s", v ? v : "");
}

static int flow_row(void *user, int ncol, const char *const *names, const char *const *v)
{
    struct loc *l = user;

    (void)names;
    if (ncol < 8)
        return 1;
    l->found = true;
    l->capture = stored_int(v[0]);
    l->first = stored_int(v[1]);
    l->last = stored_int(v[2]);
    copy(l->client, sizeof l->client, v[3]);
    l->client_port = stored_int(v[4]);
    copy(l->server, sizeof l->server, v[5]);
    l->server_port = stored_int(v[6]);
    l->have_source = v[7] != NULL;
    copy(l->source, sizeof l->source, v[7]);
    return 1;
}

/* One capture_files row holding some of the flow's frames: its tshark line, in the file's own
 * frame numbers (frame F of the capture is frame F - first_frame + 1 of the file). */
static int file_row(void *user, int ncol, const char *const *names, const char *const *v)
{
    struct loc *l = user;
    long long ff, lf, a, b;

    (void)names;
    if (ncol < 3 || !v[0])
        return 0;
    ff = stored_int(v[1]);
    lf = stored_int(v[2]);
    if (ff <= 0 || lf < ff)
        return 0; /* not what finscope writes: no frame range can be derived from it */
    if (l->files == MAX_FILES) {
        l->more++;
        return 0;
    }
    a = l->first > ff ? l->first : ff;
    b = l->last > 0 && l->last < lf ? l->last : lf;
    tshark_line(l, v[0], a - ff + 1, b - ff + 1, l->width);
    l->files++;
    return 0;
}

int fsc_show_where(struct fsc_store *s, int64_t flow_id, int width, FILE *out, char *err,
                   size_t errlen)
{
    static const char flow_sql[] =
        "SELECT f.capture_id, f.first_packet, f.last_packet, f.client_addr, f.client_port, "
        "f.server_addr, f.server_port, c.source FROM flows AS f "
        "LEFT JOIN captures AS c ON c.id = f.capture_id WHERE f.id = ?1";
    /* The files that hold frames of the flow: those whose range meets first..last. */
    static const char files_sql[] =
        "SELECT c.path, c.first_frame, c.last_frame FROM flows AS f JOIN capture_files AS c "
        "ON c.capture_id = f.capture_id AND c.first_frame <= coalesce(f.last_packet, "
        "f.first_packet) AND c.last_frame >= f.first_packet WHERE f.id = ?1 ORDER BY c.file_no";
    struct loc *l = calloc(1, sizeof *l);
    char a[64] = "?", b[64] = "?";
    int rc = -1;

    if (!l) {
        fsc_seterr(err, errlen, "out of memory");
        return -1;
    }
    l->out = out;
    l->width = width;
    if (fsc_store_query(s, flow_sql, flow_id, flow_row, l, err, errlen) < 0)
        goto out;
    if (!l->found) {
        fsc_seterr(err, errlen, "no flow with id %" PRId64, flow_id);
        goto out;
    }
    if (l->capture > 0 && l->first > 0)
        fsc_where_frame(a, sizeof a, l->capture, l->first);
    if (l->capture > 0 && l->last > 0)
        fsc_where_frame(b, sizeof b, l->capture, l->last);
    fprintf(out, "capture %s", l->capture > 0 ? "" : "?");
    if (l->capture > 0)
        fprintf(out, "%lld", l->capture);
    fputs(" (", out);
    fsc_esc_term(out, l->have_source ? l->source : "no captures row");
    if (l->first > 0 && l->last > l->first)
        fprintf(out, "), frames %s to %s\n", a, b);
    else
        fprintf(out, "), frame %s\n", a);
    if (fsc_store_query(s, files_sql, flow_id, file_row, l, err, errlen) < 0)
        goto out;
    if (l->more)
        fprintf(out, "(and %d more files of capture %lld)\n", l->more, l->capture);
    /* No file row (a database from before schema 4, or a live capture without -w): the
     * capture's source is the file, unless it was a live interface whose frames nobody saved,
     * where the addresses and ports alone can still find the flow in another recording. */
    if (l->files == 0 && l->have_source && !strncmp(l->source, "live:", 5))
        tshark_line(l, NULL, -1, -1, l->width);
    else if (l->files == 0)
        tshark_line(l, l->have_source ? l->source : NULL, l->first, l->last, l->width);
    rc = ferror(out) ? -1 : 0;
    if (rc < 0)
        fsc_seterr(err, errlen, "write error");
out:
    free(l);
    return rc;
}
