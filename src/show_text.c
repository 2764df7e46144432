/* show_text.c - the text ladder of `finscope show`: one row per segment, states beside the lines.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "finscope/common.h"
#include "finscope/escape.h"
#include "show_draw.h"

#define TXT_LEFT 19  /* "   time ms  frame  " */
#define TXT_INNER 58 /* characters between the two timelines */
#define TXT_LINE (TXT_LEFT + TXT_INNER + 2 + 96)
#define TXT_LABEL (TXT_LEFT + 3)                 /* where a client label starts */
#define TXT_LABEL_END (TXT_LEFT + TXT_INNER - 2) /* last column of a label inside the lanes */
#define TXT_WIDE 124 /* a width limit from which server labels stay right of its line */

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

    fsc_show_upper(st, sizeof st, state);
    return term(buf, len, st);
}

/* Columns s takes on a terminal: UTF-8 continuation bytes take none. */
static int cols(const char *s, int nbytes)
{
    int c = 0;
    for (int i = 0; i < nbytes && s[i]; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/*
 * The next line of s at most w columns wide: its length in bytes, broken after the last space
 * that fits (or at w columns when no space does, never inside a UTF-8 character); *rest is where
 * the following line starts (spaces skipped).
 */
static int wrap(const char *s, int w, const char **rest)
{
    int i = 0, c = 0, brk = -1;

    while (s[i] && !(c == w && ((unsigned char)s[i] & 0xC0) != 0x80)) {
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            c++;
        if (s[i] == ' ')
            brk = i;
        i++;
    }
    if (s[i] && s[i] != ' ' && brk > 0)
        i = brk;
    *rest = s + i;
    while (**rest == ' ')
        (*rest)++;
    return i;
}

/*
 * line (ASCII: timelines, time, frame) with up to two texts set in it at display columns, each
 * the first n bytes of s: a multi-byte character takes one column, so the server's line stays
 * where it is whatever the text holds.  Texts in column order, not overlapping.
 */
struct piece {
    int col, n;
    const char *s;
};

static void txt_emit_pieces(FILE *out, const char *line, const struct piece *p, int np)
{
    char buf[4 * TXT_LINE + 2];
    size_t o = 0;
    int at = 0;

    for (int k = 0; k < np && p[k].col >= at && p[k].col < TXT_LINE; k++) {
        if (o + (size_t)(p[k].col - at) + (size_t)p[k].n + TXT_LINE >= sizeof buf)
            break; /* cannot happen with the widths above; a guard, not a layout */
        memcpy(buf + o, line + at, (size_t)(p[k].col - at));
        o += (size_t)(p[k].col - at);
        memcpy(buf + o, p[k].s, (size_t)p[k].n);
        o += (size_t)p[k].n;
        at = p[k].col + cols(p[k].s, p[k].n);
    }
    if (at < TXT_LINE) {
        memcpy(buf + o, line + at, (size_t)(TXT_LINE - at));
        o += (size_t)(TXT_LINE - at);
    }
    while (o > 0 && buf[o - 1] == ' ')
        o--;
    buf[o++] = '\n';
    fwrite(buf, 1, o, out);
}

/*
 * A state label within a width limit (--width, the terminal's): the evidence wraps, the arrows
 * stay whole.  Client labels start inside the lanes as without a limit and wrap before the
 * server's line.  Server labels go right of its line when the limit leaves TXT_WIDE columns,
 * else inside the lanes as the client's mirror, "(evidence, packet N)  STATE" against its line.
 * Continuation lines start one column in, after the parenthesis.
 */
static void txt_transition_wrapped(FILE *out, const struct trans *t, bool with_prefix, int width,
                                   const char *state, const char *body)
{
    char line[TXT_LINE + 1];
    const char *from[TXT_LINE], *rest = body;
    int len[TXT_LINE], nl = 0, evw = 0, col, w;
    int sw = cols(state, TXT_LINE) > 11 ? cols(state, TXT_LINE) : 11; /* the state's columns */
    bool mirror = !t->client && width < TXT_WIDE;

    if (t->client || mirror) {
        col = TXT_LABEL + sw + 1;
        w = TXT_LABEL_END + 1 - col;
    } else {
        col = TXT_LEFT + TXT_INNER + 4 + sw + 1;
        w = (width < TXT_LINE ? width : TXT_LINE) - col;
    }
    if (w < 8)
        w = 8; /* a limit narrower than the ladder itself: the evidence still wraps somewhere */
    while ((*rest || nl == 0) && nl < TXT_LINE) {
        from[nl] = rest;
        len[nl] = wrap(rest, nl ? w - 1 : w, &rest);
        if (cols(from[nl], len[nl]) + (nl > 0) > evw)
            evw = cols(from[nl], len[nl]) + (nl > 0);
        nl++;
    }
    if (mirror) /* the evidence ends a space before the state's columns */
        col = TXT_LABEL_END - sw - evw;
    for (int k = 0; k < nl; k++) {
        struct piece p[2] = {{col + (k > 0), len[k], from[k]}};
        int np = 1;

        txt_blank(line);
        if (k == 0 && with_prefix)
            txt_prefix(line, &t->t_us, &t->packet);
        if (k == 0 && mirror) /* the state last, against the server's line */
            p[np++] = (struct piece){TXT_LABEL_END + 1 - cols(state, TXT_LINE), (int)strlen(state),
                                     state};
        else if (k == 0) {
            p[1] = p[0];
            p[0] = (struct piece){col - sw - 1, (int)strlen(state), state};
            np = 2;
        }
        txt_emit_pieces(out, line, p, np);
    }
}

static void txt_transition(FILE *out, const struct trans *t, bool with_prefix, int width)
{
    char line[TXT_LINE + 1], st[128], ev[TXT_LINE + 1], text[400];

    term_state(st, sizeof st, t->to);
    term(ev, sizeof ev, t->evidence);
    if (width > 0) {
        snprintf(text, sizeof text, "(%s, packet %" PRId64 ")", ev, t->packet);
        txt_transition_wrapped(out, t, with_prefix, width, st, text);
        return;
    }
    txt_blank(line);
    if (with_prefix)
        txt_prefix(line, &t->t_us, &t->packet);
    snprintf(text, sizeof text, "%-11s (%s, packet %" PRId64 ")", st, ev, t->packet);
    txt_put(line, t->client ? TXT_LABEL : TXT_LEFT + TXT_INNER + 4, text);
    txt_emit(out, line);
}

/* One arrow; a retransmission's shaft is '~' and its label starts with "retrans". */
static void txt_segment(FILE *out, const struct seg *s, bool retrans)
{
    char line[TXT_LINE + 1], label[96], text[100];
    int n, start;

    txt_blank(line);
    txt_prefix(line, &s->t_us, &s->packet);
    for (int i = 1; i <= TXT_INNER; i++)
        line[TXT_LEFT + i] = retrans ? '~' : '-';
    if (s->from_client)
        line[TXT_LEFT + TXT_INNER] = '>';
    else
        line[TXT_LEFT + 1] = '<';
    fsc_show_seg_label(s, label, sizeof label);
    n = snprintf(text, sizeof text, " %s%s ", retrans ? "retrans " : "", label);
    if (n > TXT_INNER - 4)
        n = TXT_INNER - 4;
    text[n] = '\0';
    start = TXT_LEFT + 1 + (TXT_INNER - n) / 2;
    txt_put(line, start, text);
    txt_emit(out, line);
}

/* A note centred between the lines; with a width limit, wrapped to stay between them. */
static void txt_note(FILE *out, const char *text, int width)
{
    char line[TXT_LINE + 1];
    const char *rest = text;
    int n = (int)strlen(text);

    if (width > 0 && n > TXT_INNER - 2) {
        while (*rest) {
            const char *from = rest;
            n = wrap(from, TXT_INNER - 2, &rest);
            struct piece p = {TXT_LEFT + 1 + (TXT_INNER - cols(from, n)) / 2, n, from};
            txt_blank(line);
            txt_emit_pieces(out, line, &p, 1);
        }
        return;
    }
    txt_blank(line);
    txt_put(line, TXT_LEFT + 1 + (n < TXT_INNER ? (TXT_INNER - n) / 2 : 1), text);
    txt_emit(out, line);
}

/*
 * The column titles, endpoints and initial states, the client's from its line, the server's from
 * its own.  Within a width limit that the server's would cross, they end at its line instead,
 * unless that would run them into the client's.
 */
static void txt_titles(FILE *out, const struct flow *f, int width)
{
    char text[3][2][TXT_LINE + 1], line[TXT_LINE + 1];
    int right = TXT_LEFT + TXT_INNER + 1;
    bool flush = false, fits = true;

    snprintf(text[0][0], sizeof text[0][0], "client");
    snprintf(text[0][1], sizeof text[0][1], "server");
    term(text[1][0], sizeof text[1][0], f->client);
    term(text[1][1], sizeof text[1][1], f->server);
    term_state(text[2][0], sizeof text[2][0], fsc_show_initial_state(f, true));
    term_state(text[2][1], sizeof text[2][1], fsc_show_initial_state(f, false));
    for (int k = 0; k < 3; k++) {
        int c = cols(text[k][0], TXT_LINE), sv = cols(text[k][1], TXT_LINE);
        flush |= width > 0 && right + sv > width;
        fits &= TXT_LEFT + c < right + 1 - sv;
    }
    for (int k = 0; k < 3; k++) {
        memset(line, ' ', TXT_LINE);
        line[TXT_LINE] = '\0';
        if (k == 0)
            txt_put(line, 0, "   time ms  frame");
        txt_put(line, TXT_LEFT, text[k][0]);
        txt_put(line, flush && fits ? right + 1 - cols(text[k][1], TXT_LINE) : right, text[k][1]);
        txt_emit(out, line);
    }
}

int fsc_show_draw_text(FILE *out, const struct flow *f, int width)
{
    char gap[160], a[32];
    bool retrans[MAX_SEGS];
    struct unstored u;
    int ti = 0;

    fsc_show_count_unstored(f, &u);
    fsc_show_retrans(f, retrans);
    fsc_show_header_line(out, f);
    fputc('\n', out);
    txt_titles(out, f, width);
    for (int i = 0; i < f->nseg; i++) {
        const struct seg *s = &f->seg[i];
        /* Transitions proved by packets that come before this one and were not stored. */
        while (ti < f->ntr && f->tr[ti].packet < s->packet)
            txt_transition(out, &f->tr[ti++], true, width);
        if (i > 0 && s->packet > f->seg[i - 1].packet + 1) {
            fsc_show_gap_text(&u, f->seg[i - 1].packet, s->packet, gap, sizeof gap);
            txt_note(out, gap, width);
        }
        txt_segment(out, s, retrans[i]);
        while (ti < f->ntr && f->tr[ti].packet <= s->packet)
            txt_transition(out, &f->tr[ti++], false, width);
    }
    while (ti < f->ntr)
        txt_transition(out, &f->tr[ti++], true, width);
    if (u.cp + u.sp > 0)
        fprintf(out,
                "\nnot stored: %" PRId64 " packet%s, %s payload bytes (client %" PRId64
                ", server %" PRId64 ")\n",
                u.cp + u.sp, u.cp + u.sp == 1 ? "" : "s",
                fsc_show_thousands(u.cb + u.sb, a, sizeof a), u.cp, u.sp);
    return ferror(out) ? -1 : 0;
}

int fsc_show_term_width(void)
{
    struct winsize ws;
    const char *env = getenv("COLUMNS");
    uint64_t n;

    if (!isatty(STDOUT_FILENO))
        return 0;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    if (env && fsc_parse_uint(env, 1, 10000, &n) == 0)
        return (int)n;
    return 80;
}
