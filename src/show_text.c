/* show_text.c - the text ladder of `finscope show`: one row per segment, states beside the lines.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "finscope/escape.h"
#include "show_draw.h"

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

    fsc_show_upper(st, sizeof st, state);
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
    fsc_show_seg_label(s, label, sizeof label);
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

int fsc_show_draw_text(FILE *out, const struct flow *f)
{
    char line[TXT_LINE + 1], st[128], gap[160], a[32], ep[TXT_LINE + 1];
    struct unstored u;
    int ti = 0;

    fsc_show_count_unstored(f, &u);
    fsc_show_header_line(out, f);
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
    txt_put(line, TXT_LEFT, term_state(st, sizeof st, fsc_show_initial_state(f, true)));
    txt_put(line, TXT_LEFT + TXT_INNER + 1,
            term_state(st, sizeof st, fsc_show_initial_state(f, false)));
    txt_emit(out, line);
    for (int i = 0; i < f->nseg; i++) {
        const struct seg *s = &f->seg[i];
        /* Transitions proved by packets that come before this one and were not stored. */
        while (ti < f->ntr && f->tr[ti].packet < s->packet)
            txt_transition(out, &f->tr[ti++], true);
        if (i > 0 && s->packet > f->seg[i - 1].packet + 1) {
            fsc_show_gap_text(&u, f->seg[i - 1].packet, s->packet, gap, sizeof gap);
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
                u.cp + u.sp, u.cp + u.sp == 1 ? "" : "s",
                fsc_show_thousands(u.cb + u.sb, a, sizeof a), u.cp, u.sp);
    return ferror(out) ? -1 : 0;
}
