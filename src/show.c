/* show.c - `finscope show`: one connection's ladder diagram, as text or SVG. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "finscope/analyze.h"
#include "finscope/escape.h"
#include "finscope/flowsel.h"
#include "finscope/show.h"
#include "finscope/store.h"

#define ERRLEN 1024
/* More than the per-flow caps (96 segments, 64 transitions): a foreign database is cut here. */
#define MAX_SEGS 256
#define MAX_TRANS 256

static const char usage[] =
    "usage: finscope show [DB] FLOW_ID [--svg FILE]\n"
    "       finscope show [DB] [filters] [--first | --all [--limit N]] [--svg FILE]\n"
    "\n"
    "Draws the ladder diagram of one connection of a finscope database (default:\n"
    "finscope.db) from its stored control segments and state transitions (the segments and\n"
    "transitions views): time goes down, the client is on the left, the server on the right,\n"
    "one arrow per stored segment with its flags, relative seq/ack and payload length, and\n"
    "each endpoint's new state beside its line at the packet that caused or proved it, with\n"
    "the evidence.  Times are milliseconds since the flow's first packet; the frame column is\n"
    "the packet's number in the capture.  Packets that were not stored (data in the middle of\n"
    "a connection) are summarized in one line where they fall.\n"
    "\n"
    "Above the text ladder, where the flow is: its capture id and file (captures.source, or\n"
    "the file of capture_files that holds its frames), its first and last frames as\n"
    "CAPTURE:FRAME, and a tshark command whose display filter selects exactly its packets\n"
    "(addresses, ports and frame range, in that file's frame numbers).\n"
    "\n"
    "The flow is given by its id (flows.id), or chosen by filters, the same as `finscope\n"
    "flows` takes: the first flow (lowest id) that matches all of them, or with --all every\n"
    "one in id order, each under a line '==== flow ID (K of N) ===='.\n"
    "\n" FSC_FLOWSEL_USAGE "\n"
    "options:\n"
    "      --first             the first matching flow (the default)\n"
    "      --all               every matching flow (with no filter: every flow)\n"
    "      --limit N           with --all: at most N flows\n"
    "      --svg FILE          write the diagram as a standalone SVG file instead ('-':\n"
    "                          standard output); arrows slant, crossing the dashed tap line\n"
    "                          at the time the packet was captured.  With --all, one file per\n"
    "                          flow: FILE with -ID before its extension (flows.svg ->\n"
    "                          flows-42.svg), each named on standard output; '-' is refused\n"
    "  -h, --help              this text\n"
    "\n"
    "examples:\n"
    "  finscope show 42\n"
    "  finscope show web.db --kind simultaneous --first\n"
    "  finscope show --kind rst --rst-cause unread_data\n"
    "  finscope show --server 10.0.0.2:80 --closer server --all --limit 5\n"
    "  finscope show web.db 42 --svg flow42.svg\n"
    "  finscope show web.db --kind half_closed --all --svg leak.svg\n";

struct seg {
    int64_t packet, t_us; /* t_us: microseconds since the flow's first packet */
    bool from_client;
    char flags[16];
    int64_t seq, ack; /* ack -1 when the ACK flag is off */
    int64_t len;
};

struct trans {
    bool client;
    char from[16], to[16];
    int64_t t_us, packet;
    char evidence[96];
};

struct flow {
    bool found;
    int64_t id;
    char client[64], server[64];
    char handshake[32], close_kind[32], rst_cause[48], closer[16], closer_call[16];
    bool one_sided;
    bool odd; /* a stored number was not an integer or out of range: shown clamped */
    int64_t client_packets, server_packets, client_bytes, server_bytes;
    struct seg seg[MAX_SEGS];
    int nseg;
    struct trans tr[MAX_TRANS];
    int ntr;
};

/*
 * Ranges the numbers of a flow are clamped to when read.  The database is untrusted; inside these
 * ranges every sum and difference the ladder computes (gaps between frames, bytes not stored,
 * time between rows) fits in 64 bits.  finscope itself never writes values near the limits: 2^48
 * frames, 2^56 bytes, +-2^60 microseconds (36,000 years), 2^32 bytes of payload in one segment.
 */
#define MAX_FRAME (INT64_C(1) << 48)
#define MAX_BYTES (INT64_C(1) << 56)
#define MAX_T_US (INT64_C(1) << 60)
#define MAX_LEN (INT64_C(1) << 32)

/* v as an integer in [lo, hi]: NULL gives dflt; text that is not an integer, or one outside the
 * range, gives what strtoll made of it, clamped, and sets *odd. */
static int64_t num(const char *v, int64_t lo, int64_t hi, int64_t dflt, bool *odd)
{
    char *end;
    long long n;

    if (!v)
        return dflt;
    errno = 0;
    n = strtoll(v, &end, 10);
    if (errno || end == v || *end)
        *odd = true;
    if (n < lo || n > hi) {
        *odd = true;
        n = n < lo ? lo : hi;
    }
    return n;
}

static void copy(char *dst, size_t n, const char *v)
{
    snprintf(dst, n, "%s", v ? v : "");
}

static int flow_row(void *user, int ncol, const char *const *names, const char *const *v)
{
    struct flow *f = user;
    bool v6;

    (void)names;
    if (ncol < 16)
        return 1;
    f->found = true;
    f->id = num(v[0], INT64_MIN, INT64_MAX, 0, &f->odd);
    v6 = v[13] && !strcmp(v[13], "6");
    snprintf(f->client, sizeof f->client, v6 ? "[%s]:%s" : "%s:%s", v[1] ? v[1] : "?",
             v[2] ? v[2] : "?");
    snprintf(f->server, sizeof f->server, v6 ? "[%s]:%s" : "%s:%s", v[3] ? v[3] : "?",
             v[4] ? v[4] : "?");
    copy(f->handshake, sizeof f->handshake, v[5]);
    copy(f->close_kind, sizeof f->close_kind, v[6]);
    copy(f->rst_cause, sizeof f->rst_cause, v[7] ? v[7] : "-");
    copy(f->closer, sizeof f->closer, v[8]);
    copy(f->closer_call, sizeof f->closer_call, v[14] ? v[14] : "-");
    f->one_sided = v[15] && strcmp(v[15], "0") != 0;
    f->client_packets = num(v[9], 0, MAX_FRAME, 0, &f->odd);
    f->server_packets = num(v[10], 0, MAX_FRAME, 0, &f->odd);
    f->client_bytes = num(v[11], 0, MAX_BYTES, 0, &f->odd);
    f->server_bytes = num(v[12], 0, MAX_BYTES, 0, &f->odd);
    return 1;
}

static int seg_row(void *user, int ncol, const char *const *names, const char *const *v)
{
    struct flow *f = user;
    struct seg *s;

    (void)names;
    if (ncol < 7 || f->nseg >= MAX_SEGS)
        return 1;
    s = &f->seg[f->nseg++];
    s->packet = num(v[0], 0, MAX_FRAME, 0, &f->odd);
    s->t_us = num(v[1], -MAX_T_US, MAX_T_US, 0, &f->odd);
    s->from_client = v[2] && !strcmp(v[2], "client");
    copy(s->flags, sizeof s->flags, v[3]);
    s->seq = num(v[4], INT64_MIN, INT64_MAX, 0, &f->odd);
    s->ack = num(v[5], INT64_MIN, INT64_MAX, -1, &f->odd);
    s->len = num(v[6], 0, MAX_LEN, 0, &f->odd);
    return 0;
}

static int trans_row(void *user, int ncol, const char *const *names, const char *const *v)
{
    struct flow *f = user;
    struct trans *t;

    (void)names;
    if (ncol < 6 || f->ntr >= MAX_TRANS)
        return 1;
    t = &f->tr[f->ntr++];
    t->client = v[0] && !strcmp(v[0], "client");
    copy(t->from, sizeof t->from, v[1]);
    copy(t->to, sizeof t->to, v[2]);
    t->t_us = num(v[3], -MAX_T_US, MAX_T_US, 0, &f->odd);
    t->packet = num(v[4], 0, MAX_FRAME, 0, &f->odd);
    copy(t->evidence, sizeof t->evidence, v[5]);
    return 0;
}

/*
 * The flow's row, then its segments and transitions read from the JSON logs in its row (what
 * the segments and transitions views show), through FSC_SQL_JSON_ARRAY: a log that is not a JSON
 * array draws as empty instead of failing the command.
 */
static int load_flow(struct fsc_store *s, int64_t id, struct flow *f, char *err, size_t errlen)
{
    static const char flow_sql[] =
        "SELECT id, client_addr, client_port, server_addr, server_port, handshake, "
        "close_kind, " FSC_SQL_RST_CAUSE_SHOWN
        ", closer, client_packets, server_packets, client_bytes, "
        "server_bytes, ip_version, closer_call, instr(',' || anomalies || ',', ',one_sided,') "
        "FROM flows WHERE id = ?1";
    static const char seg_sql[] =
        "SELECT j.value ->> 7, CAST(round(((j.value ->> 6) / 1e6 - f.first_ts) * 1e6) AS INTEGER), "
        "j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4 "
        "FROM flows AS f, json_each(" FSC_SQL_JSON_ARRAY(
            "f.segment_log") ") AS j "
                             "WHERE f.id = ?1 AND j.type = 'array' ORDER BY j.key";
    static const char tr_sql[] =
        "SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, "
        "CAST(round(((j.value ->> 3) / 1e6 - f.first_ts) * 1e6) AS INTEGER), j.value ->> 4, "
        "j.value ->> 5 FROM flows AS f, json_each(" FSC_SQL_JSON_ARRAY(
            "f.transition_log") ") AS j "
                                "WHERE f.id = ?1 AND j.type = 'array' ORDER BY j.key";

    memset(f, 0, sizeof *f);
    if (fsc_store_query(s, flow_sql, id, flow_row, f, err, errlen) < 0)
        return -1;
    if (!f->found) {
        fsc_seterr(err, errlen, "no flow with id %" PRId64, id);
        return -1;
    }
    if (fsc_store_query(s, seg_sql, id, seg_row, f, err, errlen) < 0 ||
        fsc_store_query(s, tr_sql, id, trans_row, f, err, errlen) < 0)
        return -1;
    return 0;
}

/* ---- shared formatting ---- */

/* "F." -> "FIN,ACK", in tcpdump's order F S R P . U E W. */
static void flag_names(const char *flags, char *buf, size_t len)
{
    static const struct {
        char c;
        const char *name;
    } map[] = {{'F', "FIN"}, {'S', "SYN"}, {'R', "RST"}, {'P', "PSH"},
               {'.', "ACK"}, {'U', "URG"}, {'E', "ECE"}, {'W', "CWR"}};
    size_t n = 0;

    buf[0] = '\0';
    if (!strcmp(flags, "none")) {
        snprintf(buf, len, "none");
        return;
    }
    for (size_t k = 0; k < sizeof map / sizeof *map; k++)
        if (strchr(flags, map[k].c))
            n +=
                (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s", n ? "," : "", map[k].name);
}

static void seg_label(const struct seg *s, char *buf, size_t len)
{
    char names[48], ack[32] = "";

    flag_names(s->flags, names, sizeof names);
    if (s->ack >= 0)
        snprintf(ack, sizeof ack, " ack=%" PRId64, s->ack);
    snprintf(buf, len, "%s seq=%" PRId64 "%s len=%" PRId64, names, s->seq, ack, s->len);
}

static void upper(char *dst, size_t n, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < n; i++)
        dst[i] = (char)toupper((unsigned char)src[i]);
    dst[i] = '\0';
}

/* 80000 -> "80,000" */
static const char *thousands(int64_t v, char *buf, size_t len)
{
    char raw[32];
    size_t n, o = 0;
    /* The magnitude as unsigned: -v would overflow for INT64_MIN. */
    uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

    snprintf(raw, sizeof raw, "%" PRIu64, m);
    n = strlen(raw);
    if (v < 0 && o + 1 < len)
        buf[o++] = '-';
    for (size_t i = 0; i < n && o + 2 < len; i++) {
        if (i && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = raw[i];
    }
    buf[o] = '\0';
    return buf;
}

/* What was not stored: from the flow's counters minus the stored segments. */
struct unstored {
    int64_t cp, sp, cb, sb; /* client/server packets and bytes */
    int64_t frames_in_gaps; /* frame numbers skipped between stored segments */
    int ngaps;
};

static void count_unstored(const struct flow *f, struct unstored *u)
{
    memset(u, 0, sizeof *u);
    u->cp = f->client_packets;
    u->sp = f->server_packets;
    u->cb = f->client_bytes;
    u->sb = f->server_bytes;
    for (int i = 0; i < f->nseg; i++) {
        const struct seg *s = &f->seg[i];
        if (s->from_client) {
            u->cp--;
            u->cb -= s->len;
        } else {
            u->sp--;
            u->sb -= s->len;
        }
        if (i > 0 && s->packet > f->seg[i - 1].packet + 1) {
            u->frames_in_gaps += s->packet - f->seg[i - 1].packet - 1;
            u->ngaps++;
        }
    }
}

/* The text of the "not stored" line for the gap between frames a and b (exclusive). */
static void gap_text(const struct unstored *u, int64_t a, int64_t b, char *buf, size_t len)
{
    int64_t n = b - a - 1, total = u->cp + u->sp;
    char frames[64], nb[32], bb[32];

    if (n == 1)
        snprintf(frames, sizeof frames, "frame %" PRId64, a + 1);
    else
        snprintf(frames, sizeof frames, "frames %" PRId64 "-%" PRId64, a + 1, b - 1);
    if (total == u->frames_in_gaps && u->ngaps == 1)
        snprintf(buf, len, "... %s packet%s, %s bytes not stored (%s) ...",
                 thousands(n, nb, sizeof nb), n == 1 ? "" : "s",
                 thousands(u->cb + u->sb, bb, sizeof bb), frames);
    else if (total == u->frames_in_gaps)
        snprintf(buf, len, "... %" PRId64 " packet%s not stored (%s) ...", n, n == 1 ? "" : "s",
                 frames);
    else
        snprintf(buf, len, "... %s: other flows or packets not stored ...", frames);
}

/* Initial state of each endpoint: the from_state of its first transition. */
static const char *initial_state(const struct flow *f, bool client)
{
    for (int i = 0; i < f->ntr; i++)
        if (f->tr[i].client == client)
            return f->tr[i].from;
    return "";
}

/* ---- text ladder ---- */

#define TXT_LEFT 19  /* "   time ms  frame  " */
#define TXT_INNER 58 /* characters between the two timelines */
#define TXT_LINE (TXT_LEFT + TXT_INNER + 2 + 96)

/* A line buffer with the two timelines drawn in it. */
static void txt_blank(char *line)
{
    memset(line, ' ', TXT_LINE);
    line[TXT_LINE] = '\0';
    line[TXT_LEFT] = '|';
    line[TXT_LEFT + TXT_INNER + 1] = '|';
}

static void txt_put(char *line, int col, const char *text)
{
    for (int i = 0; text[i] && col + i < TXT_LINE; i++)
        line[col + i] = text[i];
}

static void txt_emit(FILE *out, char *line)
{
    size_t n = strlen(line);
    while (n > 0 && line[n - 1] == ' ')
        n--;
    fwrite(line, 1, n, out);
    fputc('\n', out);
}

static void txt_prefix(char *line, const int64_t *t_us, const int64_t *packet)
{
    char buf[32];
    if (t_us) {
        snprintf(buf, sizeof buf, "%10.3f", (double)*t_us / 1e3);
        txt_put(line, 0, buf);
    }
    if (packet) {
        snprintf(buf, sizeof buf, "%5" PRId64, *packet);
        txt_put(line, 12, buf);
    }
}

/* Stored text as a terminal shows it (escape.h), into buf; returns buf. */
static const char *term(char *buf, size_t len, const char *s)
{
    fsc_esc_term_buf(buf, len, s);
    return buf;
}

/* A state token in capitals, escaped for the terminal. */
static const char *term_state(char *buf, size_t len, const char *state)
{
    char st[32];

    upper(st, sizeof st, state);
    return term(buf, len, st);
}

static void txt_transition(FILE *out, const struct trans *t, bool with_prefix)
{
    char line[TXT_LINE + 1], st[128], ev[TXT_LINE + 1], text[400];

    txt_blank(line);
    if (with_prefix)
        txt_prefix(line, &t->t_us, &t->packet);
    snprintf(text, sizeof text, "%-11s (%s, packet %" PRId64 ")", term_state(st, sizeof st, t->to),
             term(ev, sizeof ev, t->evidence), t->packet);
    txt_put(line, t->client ? TXT_LEFT + 3 : TXT_LEFT + TXT_INNER + 4, text);
    txt_emit(out, line);
}

static void txt_segment(FILE *out, const struct seg *s)
{
    char line[TXT_LINE + 1], label[96], text[100];
    int n, start;

    txt_blank(line);
    txt_prefix(line, &s->t_us, &s->packet);
    for (int i = 1; i <= TXT_INNER; i++)
        line[TXT_LEFT + i] = '-';
    if (s->from_client)
        line[TXT_LEFT + TXT_INNER] = '>';
    else
        line[TXT_LEFT + 1] = '<';
    seg_label(s, label, sizeof label);
    n = snprintf(text, sizeof text, " %s ", label);
    if (n > TXT_INNER - 4)
        n = TXT_INNER - 4;
    text[n] = '\0';
    start = TXT_LEFT + 1 + (TXT_INNER - n) / 2;
    txt_put(line, start, text);
    txt_emit(out, line);
}

static void txt_note(FILE *out, const char *text)
{
    char line[TXT_LINE + 1];
    int n = (int)strlen(text);

    txt_blank(line);
    txt_put(line, TXT_LEFT + 1 + (n < TXT_INNER ? (TXT_INNER - n) / 2 : 1), text);
    txt_emit(out, line);
}

/* The flow's stored strings, in the order the header line shows them after "flow ID  ". */
static void header_fields(const struct flow *f, const char *v[8])
{
    const char *x[8] = {f->client,    f->server, f->handshake,  f->close_kind,
                        f->rst_cause, f->closer, f->closer_call};
    memcpy(v, x, sizeof x);
}

static const char *const header_sep[8] = {
    "", " -> ", "  handshake=", "  close_kind=", "  rst_cause=", "  closer=", "  closer_call=",
};

/* Said under the header when flow_row() and the log readers had to clamp a stored number. */
static const char odd_note[] = "stored numbers of this flow are not what finscope writes (not an "
                               "integer, or out of range): shown clamped";

/* "flow ID  CLIENT -> SERVER  handshake=..." with every piece through esc (terminal or markup). */
static void header_text(FILE *out, const struct flow *f, void (*esc)(FILE *, const char *))
{
    const char *v[8];

    header_fields(f, v);
    fprintf(out, "flow %" PRId64 "  ", f->id);
    for (int k = 0; k < 7; k++) {
        esc(out, header_sep[k]);
        esc(out, v[k]);
    }
}

static void header_line(FILE *out, const struct flow *f)
{
    header_text(out, f, fsc_esc_term);
    fputc('\n', out);
    if (f->odd)
        fprintf(out, "%s\n", odd_note);
    if (f->one_sided)
        fputs("one direction captured only: the other side's states are inferred from its "
              "peer's acks\n",
              out);
}

static int draw_text(FILE *out, const struct flow *f)
{
    char line[TXT_LINE + 1], st[128], gap[160], a[32], ep[TXT_LINE + 1];
    struct unstored u;
    int ti = 0;

    count_unstored(f, &u);
    header_line(out, f);
    fputc('\n', out);
    memset(line, ' ', TXT_LINE);
    line[TXT_LINE] = '\0';
    txt_put(line, 0, "   time ms  frame");
    txt_put(line, TXT_LEFT, "client");
    txt_put(line, TXT_LEFT + TXT_INNER + 1, "server");
    txt_emit(out, line);
    memset(line, ' ', TXT_LINE);
    txt_put(line, TXT_LEFT, term(ep, sizeof ep, f->client));
    txt_put(line, TXT_LEFT + TXT_INNER + 1, term(ep, sizeof ep, f->server));
    txt_emit(out, line);
    memset(line, ' ', TXT_LINE);
    txt_put(line, TXT_LEFT, term_state(st, sizeof st, initial_state(f, true)));
    txt_put(line, TXT_LEFT + TXT_INNER + 1, term_state(st, sizeof st, initial_state(f, false)));
    txt_emit(out, line);
    for (int i = 0; i < f->nseg; i++) {
        const struct seg *s = &f->seg[i];
        /* Transitions proved by packets that come before this one and were not stored. */
        while (ti < f->ntr && f->tr[ti].packet < s->packet)
            txt_transition(out, &f->tr[ti++], true);
        if (i > 0 && s->packet > f->seg[i - 1].packet + 1) {
            gap_text(&u, f->seg[i - 1].packet, s->packet, gap, sizeof gap);
            txt_note(out, gap);
        }
        txt_segment(out, s);
        while (ti < f->ntr && f->tr[ti].packet <= s->packet)
            txt_transition(out, &f->tr[ti++], false);
    }
    while (ti < f->ntr)
        txt_transition(out, &f->tr[ti++], true);
    if (u.cp + u.sp > 0)
        fprintf(out,
                "\nnot stored: %" PRId64 " packet%s, %s payload bytes (client %" PRId64
                ", server %" PRId64 ")\n",
                u.cp + u.sp, u.cp + u.sp == 1 ? "" : "s", thousands(u.cb + u.sb, a, sizeof a), u.cp,
                u.sp);
    return ferror(out) ? -1 : 0;
}

/* ---- SVG ---- */

#define SVG_W 1240
#define SVG_XC 400  /* client timeline */
#define SVG_XS 840  /* server timeline */
#define SVG_TOP 130 /* y of the first row */
#define SVG_SLANT 28.0

/* One row of the SVG: a stored segment, or a transition at a packet that was not stored. */
struct row {
    int64_t packet, t_us;
    int seg;    /* index in f->seg, or -1 */
    double y;   /* where the row's packet crosses the tap line */
    int nc, ns; /* state labels stacked so far on the client and server side */
    bool gap_before;
};

static void svg_label(FILE *out, double x, double y, bool left, const struct trans *t)
{
    char st[32];

    upper(st, sizeof st, t->to);
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" class=\"state\">", x, y,
            left ? "end" : "start");
    fsc_esc_markup(out, st);
    fprintf(out, "</text>\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" class=\"ev\">", x, y + 13,
            left ? "end" : "start");
    fsc_esc_markup(out, t->evidence);
    fprintf(out, ", packet %" PRId64 "</text>\n", t->packet);
}

static int draw_svg(FILE *out, const struct flow *f, bool standalone)
{
    struct row *rows = calloc((size_t)(f->nseg + f->ntr + 1), sizeof *rows);
    int nrows = 0, ti = 0;
    struct unstored u;
    double y, height;

    if (!rows)
        return -1;
    count_unstored(f, &u);
    /* Rows in capture order: segments, plus transitions at packets with no stored segment. */
    for (int i = 0; i <= f->nseg; i++) {
        int64_t limit = i < f->nseg ? f->seg[i].packet : INT64_MAX;
        while (ti < f->ntr && f->tr[ti].packet < limit) {
            if (nrows == 0 || rows[nrows - 1].packet != f->tr[ti].packet)
                rows[nrows++] = (struct row){f->tr[ti].packet, f->tr[ti].t_us, -1, 0, 0, 0, 0};
            ti++;
        }
        if (i < f->nseg) {
            rows[nrows++] = (struct row){f->seg[i].packet,
                                         f->seg[i].t_us,
                                         i,
                                         0,
                                         0,
                                         0,
                                         i > 0 && f->seg[i].packet > f->seg[i - 1].packet + 1};
            while (ti < f->ntr && f->tr[ti].packet == f->seg[i].packet)
                ti++;
        }
    }
    /* Vertical positions: at least one row height apart, more for longer pauses (log scale),
     * so the order and the rhythm both show on one page. */
    y = SVG_TOP;
    for (int r = 0; r < nrows; r++) {
        if (r > 0) {
            double dt_ms = (double)(rows[r].t_us - rows[r - 1].t_us) / 1e3;
            if (dt_ms < 0)
                dt_ms = 0;
            y += 44 + 40 * log10(1 + dt_ms) + (rows[r].gap_before ? 26 : 0);
        }
        rows[r].y = y;
    }
    height = y + 110;

    if (standalone) /* inside an HTML page (report --html) there is no XML declaration */
        fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", out);
    /* Inline in HTML the namespace is implied; marker ids carry the flow id so that several
     * diagrams on one page do not collide. */
    if (standalone)
        fputs("<svg xmlns=\"http://www.w3.org/2000/svg\" ", out);
    else
        fputs("<svg ", out);
    fprintf(out,
            "width=\"%d\" height=\"%.0f\" "
            "viewBox=\"0 0 %d %.0f\" font-family=\"DejaVu Sans Mono, Menlo, Consolas, "
            "monospace\">\n"
            "<style>\n"
            ".state{font-size:13px;font-weight:bold;fill:#1a4d8f}\n"
            ".ev{font-size:10px;fill:#666}\n"
            ".seg{font-size:11px;fill:#000}\n"
            ".time{font-size:10px;fill:#444}\n"
            ".hdr{font-size:13px;fill:#000}\n"
            ".gap{font-size:11px;fill:#888;font-style:italic}\n"
            "</style>\n"
            "<defs><marker id=\"arrow-%lld\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" "
            "markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\">"
            "<path d=\"M0,0 L10,5 L0,10 z\" fill=\"#000\"/></marker></defs>\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
            SVG_W, height, SVG_W, height, (long long)f->id);
    fprintf(out, "<title>");
    fprintf(out, "flow %" PRId64 " ", f->id);
    fsc_esc_markup(out, f->client);
    fputs(" -&gt; ", out);
    fsc_esc_markup(out, f->server);
    fputs("</title>\n<text x=\"20\" y=\"24\" class=\"hdr\">", out);
    header_text(out, f, fsc_esc_markup);
    if (f->one_sided)
        fputs("  (one direction captured: the other inferred from acks)", out);
    fputs("</text>\n", out);
    if (f->odd)
        fprintf(out, "<text x=\"20\" y=\"40\" class=\"ev\">%s</text>\n", odd_note);
    /* Endpoint titles, initial states, timelines and the tap. */
    fprintf(out, "<text x=\"%d\" y=\"62\" text-anchor=\"middle\" class=\"hdr\">client ", SVG_XC);
    fsc_esc_markup(out, f->client);
    fprintf(out, "</text>\n<text x=\"%d\" y=\"62\" text-anchor=\"middle\" class=\"hdr\">server ",
            SVG_XS);
    fsc_esc_markup(out, f->server);
    fputs("</text>\n", out);
    {
        char st[32];
        upper(st, sizeof st, initial_state(f, true));
        fprintf(out, "<text x=\"%d\" y=\"84\" text-anchor=\"middle\" class=\"state\">", SVG_XC);
        fsc_esc_markup(out, st);
        upper(st, sizeof st, initial_state(f, false));
        fprintf(out, "</text>\n<text x=\"%d\" y=\"84\" text-anchor=\"middle\" class=\"state\">",
                SVG_XS);
        fsc_esc_markup(out, st);
        fputs("</text>\n", out);
    }
    fprintf(out,
            "<line x1=\"%d\" y1=\"94\" x2=\"%d\" y2=\"%.0f\" stroke=\"#000\" stroke-width=\"2\"/>\n"
            "<line x1=\"%d\" y1=\"94\" x2=\"%d\" y2=\"%.0f\" stroke=\"#000\" stroke-width=\"2\"/>\n"
            "<line x1=\"%d\" y1=\"94\" x2=\"%d\" y2=\"%.0f\" stroke=\"#bbb\" "
            "stroke-dasharray=\"4 4\"/>\n"
            "<text x=\"%d\" y=\"%.0f\" text-anchor=\"middle\" class=\"time\">tap</text>\n"
            "<text x=\"20\" y=\"84\" class=\"time\">ms since first packet  (frame)</text>\n",
            SVG_XC, SVG_XC, height - 40, SVG_XS, SVG_XS, height - 40, (SVG_XC + SVG_XS) / 2,
            (SVG_XC + SVG_XS) / 2, height - 40, (SVG_XC + SVG_XS) / 2, height - 28);

    ti = 0;
    for (int r = 0; r < nrows; r++) {
        struct row *w = &rows[r];
        double xm = (SVG_XC + SVG_XS) / 2.0;

        if (w->gap_before) {
            char gap[160];
            gap_text(&u, f->seg[w->seg - 1].packet, w->packet, gap, sizeof gap);
            fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" class=\"gap\">", xm,
                    w->y - 30);
            fsc_esc_markup(out, gap);
            fputs("</text>\n", out);
        }
        fprintf(out, "<text x=\"20\" y=\"%.1f\" class=\"time\">%.3f ms  (%" PRId64 ")</text>\n",
                w->y + 4, (double)w->t_us / 1e3, w->packet);
        if (w->seg >= 0) {
            const struct seg *s = &f->seg[w->seg];
            double x1 = s->from_client ? SVG_XC : SVG_XS, x2 = s->from_client ? SVG_XS : SVG_XC;
            double y1 = w->y - SVG_SLANT / 2, y2 = w->y + SVG_SLANT / 2;
            double angle = atan2(y2 - y1, x2 - x1) * 180 / M_PI;
            char label[96];

            if (!s->from_client)
                angle -= 180; /* keep the text upright */
            seg_label(s, label, sizeof label);
            fprintf(out,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                    "stroke-width=\"1.5\" marker-end=\"url(#arrow-%lld)\"/>\n",
                    x1, y1, x2, y2, strchr(s->flags, 'R') ? "#c00" : "#000", (long long)f->id);
            fprintf(out,
                    "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" class=\"seg\" "
                    "transform=\"rotate(%.2f %.1f %.1f)\">",
                    xm, w->y - 5, angle, xm, w->y);
            fsc_esc_markup(out, label);
            fputs("</text>\n", out);
        }
        /* The states this row's packet caused or proved, beside each timeline. */
        while (ti < f->ntr && f->tr[ti].packet <= w->packet) {
            const struct trans *t = &f->tr[ti++];
            if (t->client)
                svg_label(out, SVG_XC - 12, w->y + 4 + 28 * w->nc++, true, t);
            else
                svg_label(out, SVG_XS + 12, w->y + 4 + 28 * w->ns++, false, t);
        }
    }
    if (u.cp + u.sp > 0) {
        char a[32];
        fprintf(out,
                "<text x=\"20\" y=\"%.0f\" class=\"gap\">not stored: %" PRId64
                " packets, %s payload bytes</text>\n",
                height - 10, u.cp + u.sp, thousands(u.cb + u.sb, a, sizeof a));
    }
    fputs("</svg>\n", out);
    free(rows);
    return ferror(out) ? -1 : 0;
}

/* ---- command ---- */

/* Digits only: a lone argument like this is a flow id, not a database (is_id() checks it). */
static bool looks_like_id(const char *s)
{
    return *s && strspn(s, "0123456789") == strlen(s);
}

static bool is_id(const char *s)
{
    uint64_t v;
    return fsc_parse_uint(s, 1, INT64_MAX, &v) == 0;
}

/* Load flow_id and draw it with draw(): 0, or -1 with a message in err. */
static int show_flow(struct fsc_store *s, int64_t flow_id, bool svg, bool standalone, FILE *out,
                     char *err, size_t errlen)
{
    struct flow *f = malloc(sizeof *f);
    int rc = -1;

    if (!f) {
        fsc_seterr(err, errlen, "out of memory");
        return -1;
    }
    if (load_flow(s, flow_id, f, err, errlen) == 0) {
        rc = svg ? draw_svg(out, f, standalone) : draw_text(out, f);
        if (rc < 0)
            fsc_seterr(err, errlen, svg ? "out of memory or write error" : "write error");
    }
    free(f);
    return rc;
}

int fsc_show_svg(struct fsc_store *s, int64_t flow_id, bool standalone, FILE *out, char *err,
                 size_t errlen)
{
    return show_flow(s, flow_id, true, standalone, out, err, errlen);
}

int fsc_show_text(struct fsc_store *s, int64_t flow_id, FILE *out, char *err, size_t errlen)
{
    return show_flow(s, flow_id, false, false, out, err, errlen);
}

/* --svg FILE for flow id with --all: FILE with "-ID" before its extension (flows.svg ->
 * flows-42.svg; an extension is a '.' in the last path element, not at its start).  0, or -1
 * when it does not fit in buf. */
static int svg_name(char *buf, size_t len, const char *file, int64_t id)
{
    const char *base = strrchr(file, '/'), *dot;
    int n;

    base = base ? base + 1 : file;
    dot = strrchr(base, '.');
    if (!dot || dot == base)
        dot = file + strlen(file);
    n = snprintf(buf, len, "%.*s-%" PRId64 "%s", (int)(dot - file), file, id, dot);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Draw flow id as asked: text to stdout (with where it is above it), or SVG to file svg ("-":
 * stdout).  0, or 1 with a message on stderr. */
static int show_one(struct fsc_store *s, const char *db, int64_t id, const char *svg)
{
    char err[ERRLEN];
    int rc;

    if (!svg) {
        if (fsc_show_where(s, id, 0, stdout, err, sizeof err) < 0 ||
            fsc_show_text(s, id, stdout, err, sizeof err) < 0) {
            fflush(stdout);
            fprintf(stderr, "finscope show: %s: %s\n", db, err);
            return 1;
        }
        return 0;
    }
    FILE *out = strcmp(svg, "-") ? fopen(svg, "w") : stdout;
    if (!out) {
        fprintf(stderr, "finscope show: %s: %s\n", svg, strerror(errno));
        return 1;
    }
    rc = fsc_show_svg(s, id, true, out, err, sizeof err);
    if (out != stdout && fclose(out) != 0 && rc == 0) {
        fsc_seterr(err, sizeof err, "write error");
        rc = -1;
    }
    if (rc < 0)
        fprintf(stderr, "finscope show: %s: %s\n", svg, err);
    return rc < 0 ? 1 : 0;
}

int fsc_cmd_show(int argc, char **argv)
{
    enum { OPT_FIRST = 256, OPT_ALL, OPT_LIMIT, OPT_SVG };
    static const struct option longopts[] = {
        FSC_FLOWSEL_LONGOPTS,
        {"first", no_argument, NULL, OPT_FIRST},
        {"all", no_argument, NULL, OPT_ALL},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"svg", required_argument, NULL, OPT_SVG},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = "finscope.db", *svg = NULL, *idarg = NULL;
    struct fsc_flowsel sel;
    bool all = false, first = false;
    long long limit = -1;
    char err[ERRLEN];
    uint64_t n;
    int c;

    fsc_flowsel_init(&sel);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int took = fsc_flowsel_option(&sel, c, optarg, err, sizeof err);
        if (took < 0) {
            fprintf(stderr, "finscope show: %s\n", err);
            return 2;
        }
        if (took)
            continue;
        switch (c) {
        case OPT_FIRST:
            first = true;
            break;
        case OPT_ALL:
            all = true;
            break;
        case OPT_LIMIT:
            if (fsc_parse_uint(optarg, 1, INT64_MAX, &n) < 0) {
                fprintf(stderr, "finscope show: --limit: '%s' is not a count (1, 2, ...)\n",
                        optarg);
                return 2;
            }
            limit = (long long)n;
            break;
        case OPT_SVG:
            svg = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs("try 'finscope show --help'\n", stderr);
            return 2;
        }
    }
    bool filtered = sel.given > 0 || all;
    int npos = argc - optind;
    if (npos == 2) {
        db = argv[optind];
        idarg = argv[optind + 1];
    } else if (npos == 1) {
        if (filtered || !looks_like_id(argv[optind]))
            db = argv[optind];
        else
            idarg = argv[optind];
    } else if (npos > 2) {
        fprintf(stderr, "finscope show: too many arguments ('%s')\n", argv[optind + 2]);
        return 2;
    }
    if (idarg && filtered) {
        fputs("finscope show: give a flow id or filters (--all), not both\n", stderr);
        return 2;
    }
    if (!idarg && !filtered) {
        fputs("finscope show: which flow? give FLOW_ID, filters (--kind, --server, ...) or --all "
              "(finscope show --help)\n",
              stderr);
        return 2;
    }
    if (idarg && !is_id(idarg)) {
        fprintf(stderr, "finscope show: '%s' is not a flow id (1, 2, ...)\n", idarg);
        return 2;
    }
    if (all && first) {
        fputs("finscope show: --first or --all, not both\n", stderr);
        return 2;
    }
    if (limit >= 0 && !all) {
        fputs("finscope show: --limit goes with --all\n", stderr);
        return 2;
    }
    if (all && svg && !strcmp(svg, "-")) {
        fputs("finscope show: --all --svg writes one file per flow (FILE-ID.svg): give a file "
              "name, not '-'\n",
              stderr);
        return 2;
    }

    struct fsc_store *s = NULL;
    if (fsc_store_open(db, true, &s, err, sizeof err) < 0) {
        fprintf(stderr, "finscope show: %s\n", err);
        return 1;
    }
    int64_t one, *ids = &one;
    size_t nids = 1;
    one = idarg ? strtoll(idarg, NULL, 10) : 0;
    if (!idarg) {
        if (fsc_flowsel_ids(s, &sel, all ? limit : 1, &ids, &nids, err, sizeof err) < 0) {
            fprintf(stderr, "finscope show: %s\n", err);
            fsc_store_close(s);
            return 1;
        }
        if (nids == 0) {
            fsc_flowsel_describe(&sel, err, sizeof err);
            fprintf(stderr, "finscope show: %s: no flow matches%s%s\n", db, *err ? " " : "", err);
            free(ids);
            fsc_store_close(s);
            return 1;
        }
    }
    int rc = 0;
    for (size_t k = 0; k < nids && rc == 0; k++) {
        char name[4096];
        if (all && svg) {
            if (svg_name(name, sizeof name, svg, ids[k]) < 0) {
                fputs("finscope show: --svg: file name too long\n", stderr);
                rc = 1;
                break;
            }
            rc = show_one(s, db, ids[k], name);
            if (rc == 0) {
                fputs("wrote ", stdout);
                fsc_esc_term(stdout, name);
                printf(" (flow %" PRId64 ")\n", ids[k]);
            }
            continue;
        }
        if (all)
            printf("%s==== flow %" PRId64 " (%zu of %zu) ====\n", k ? "\n" : "", ids[k], k + 1,
                   nids);
        rc = show_one(s, db, ids[k], svg);
    }
    if (ids != &one)
        free(ids);
    fsc_store_close(s);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("finscope show: write error");
        rc = 1;
    }
    return rc;
}
