/* show_svg.c - the SVG ladder of `finscope show --svg` (and of report --html): slanted arrows,
 * every label in a place of its own. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "finscope/escape.h"
#include "show_draw.h"

#define SVG_W 1240
#define SVG_XC 400  /* client timeline */
#define SVG_XS 840  /* server timeline */
#define SVG_TOP 130 /* y of the first row under a one-line header */
#define SVG_SLANT 28.0

/*
 * Label geometry, in px.  A text's width is estimated as EM times its font size per character:
 * the monospace fonts named (DejaVu Sans Mono, Menlo, Consolas) advance 0.60 em, and 0.62 leaves
 * a margin.  State labels sit outside the timelines, segment labels and notes between them,
 * never wider than LANE_TEXT (the lines are 440 apart): so the two kinds never meet.  A state
 * label is a block: the state (13 px bold) over its evidence (10 px), which wraps; blocks of one
 * side stack downwards, and the next row starts below the lowest of them.
 */
#define EM 0.62
#define STATE_H 16  /* the state's line */
#define EV_H 13     /* each evidence line */
#define BLOCK_GAP 4 /* between two blocks */
#define LANE_TEXT 400.0
#define HDR_H 17 /* each header line */

/* One row of the SVG: a stored segment, or transitions at a packet that was not stored. */
struct row {
    int64_t packet, t_us;
    int seg;    /* index in f->seg, or -1 */
    int t0, t1; /* its transitions: f->tr[t0..t1) */
    bool gap_before;
    double y;        /* where the row's packet crosses the tap line */
    char time[64];   /* "12.345 ms  (7)" */
    int client_cols; /* characters per evidence line on the client's side (the time is left) */
};

/* ---- escaped text, wrapped ---- */

/* s escaped for markup (escape.h) in a string of its own (free it); NULL when out of memory. */
static char *markup(const char *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);

    if (!m)
        return NULL;
    fsc_esc_markup(m, s);
    if (fclose(m) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Bytes of the first character of escaped text: an entity ("&amp;") or a UTF-8 sequence. */
static int mchar(const char *s)
{
    int n = 1;

    if (*s == '&') {
        const char *e = strchr(s, ';');
        if (e && e - s < 12)
            return (int)(e - s) + 1;
    }
    while (((unsigned char)s[n] & 0xC0) == 0x80)
        n++;
    return n;
}

/* Characters of escaped text as a reader sees them. */
static int mcols(const char *s)
{
    int c = 0;

    for (; *s; s += mchar(s))
        c++;
    return c;
}

/*
 * The next line of escaped text s at most w characters (w >= 1) long: its length in bytes,
 * broken at the last space that fits, else after w characters (never inside an entity or a
 * UTF-8 character); *rest is where the following line starts (spaces skipped).
 */
static int mwrap(const char *s, int w, const char **rest)
{
    int i = 0, brk = -1;

    for (int c = 0; s[i] && c < w; c++) {
        if (s[i] == ' ')
            brk = i;
        i += mchar(s + i);
    }
    if (s[i] && s[i] != ' ' && brk > 0)
        i = brk;
    *rest = s + i;
    while (**rest == ' ')
        (*rest)++;
    return i;
}

/* Lines s takes wrapped at w characters. */
static int mlines(const char *s, int w)
{
    int n = 0;

    do {
        mwrap(s, w, &s);
        n++;
    } while (*s);
    return n;
}

/* Emit escaped text s wrapped at w characters as <text> lines from baseline y, dy apart;
 * attrs go in each element.  Returns the number of lines. */
static int emit_lines(FILE *out, const char *s, int w, double x, double y, double dy,
                      const char *attrs)
{
    int n = 0;

    do {
        const char *from = s;
        int len = mwrap(from, w, &s);
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" %s>", x, y + dy * n++, attrs);
        fwrite(from, 1, (size_t)len, out);
        fputs("</text>\n", out);
    } while (*s);
    return n;
}

/* ---- state labels ---- */

/* The evidence line of a label, escaped: "EVIDENCE, packet N" (free it); NULL: out of memory. */
static char *evidence(const struct trans *t)
{
    char *ev = markup(t->evidence), *s;
    size_t n;

    if (!ev)
        return NULL;
    n = strlen(ev) + 48;
    s = malloc(n);
    if (s)
        snprintf(s, n, "%s, packet %" PRId64, ev, t->packet);
    free(ev);
    return s;
}

#define SERVER_COLS ((int)((SVG_W - 12 - (SVG_XS + 12)) / (10 * EM)))

/* Height of t's label block with evidence lines of cols characters; -1: out of memory. */
static double block_height(const struct trans *t, int cols)
{
    char *ev = evidence(t);
    int n;

    if (!ev)
        return -1;
    n = mlines(ev, cols);
    free(ev);
    return STATE_H + EV_H * n + 2;
}

/* Draw t's block with its top at y; returns its height, -1 when out of memory. */
static double svg_label(FILE *out, const struct trans *t, double y, int cols)
{
    char st[32], *ev = evidence(t);
    bool left = t->client;
    double x = left ? SVG_XC - 12 : SVG_XS + 12;
    int n;

    if (!ev)
        return -1;
    fsc_show_upper(st, sizeof st, t->to);
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" class=\"state\">", x, y + 12.5,
            left ? "end" : "start");
    fsc_esc_markup(out, st);
    fputs("</text>\n", out);
    n = emit_lines(out, ev, cols, x, y + STATE_H + 9.5, EV_H,
                   left ? "text-anchor=\"end\" class=\"ev\""
                        : "text-anchor=\"start\" class=\"ev\"");
    free(ev);
    return STATE_H + EV_H * n + 2;
}

/* ---- layout ---- */

/* Rows in capture order: segments, plus transitions at packets with no stored segment; each
 * transition belongs to exactly one row.  Returns the number of rows. */
static int make_rows(const struct flow *f, struct row *rows)
{
    int nrows = 0, ti = 0;

    for (int i = 0; i <= f->nseg; i++) {
        int64_t limit = i < f->nseg ? f->seg[i].packet : INT64_MAX;
        while (ti < f->ntr && f->tr[ti].packet < limit) {
            if (nrows == 0 || rows[nrows - 1].seg >= 0 ||
                rows[nrows - 1].packet != f->tr[ti].packet)
                rows[nrows++] = (struct row){.packet = f->tr[ti].packet,
                                             .t_us = f->tr[ti].t_us,
                                             .seg = -1,
                                             .t0 = ti,
                                             .t1 = ti};
            rows[nrows - 1].t1 = ++ti;
        }
        if (i < f->nseg) {
            struct row *w = &rows[nrows++];
            *w = (struct row){.packet = f->seg[i].packet,
                              .t_us = f->seg[i].t_us,
                              .seg = i,
                              .t0 = ti,
                              .gap_before = i > 0 && f->seg[i].packet > f->seg[i - 1].packet + 1};
            while (ti < f->ntr && f->tr[ti].packet == f->seg[i].packet)
                ti++;
            w->t1 = ti;
        }
    }
    for (int r = 0; r < nrows; r++) {
        struct row *w = &rows[r];
        double left;
        snprintf(w->time, sizeof w->time, "%.3f ms  (%" PRId64 ")", (double)w->t_us / 1e3,
                 w->packet);
        /* Client labels end at its line and start after the time column. */
        left = 20 + (double)strlen(w->time) * 10 * EM + 12;
        w->client_cols = (int)((SVG_XC - 12 - left) / (10 * EM));
        if (w->client_cols < 8)
            w->client_cols = 8; /* a time no capture has: labels may then cross it */
    }
    return nrows;
}

/*
 * Vertical positions from top: at least one row height apart, more for longer pauses (log
 * scale), so the order and the rhythm both show on one page; and below every label block of
 * the rows above.  Returns the lowest point any block reaches, -1 when out of memory.
 */
static double place_rows(const struct flow *f, struct row *rows, int nrows, double top)
{
    double y = top, low[2] = {0, 0}; /* lowest block so far: server, client */

    for (int r = 0; r < nrows; r++) {
        struct row *w = &rows[r];
        double by[2];
        if (r > 0) {
            double dt_ms = (double)(w->t_us - rows[r - 1].t_us) / 1e3;
            if (dt_ms < 0)
                dt_ms = 0;
            y += 44 + 40 * log10(1 + dt_ms) + (w->gap_before ? 32 : 0);
        }
        /* The first block of a side starts 8 above the row; a gap of 4 under the last one. */
        for (int side = 0; side < 2; side++)
            if (low[side] > 0 && y < low[side] + 12)
                y = low[side] + 12;
        w->y = y;
        by[0] = by[1] = y - 8;
        for (int k = w->t0; k < w->t1; k++) {
            const struct trans *t = &f->tr[k];
            double h = block_height(t, t->client ? w->client_cols : SERVER_COLS);
            if (h < 0)
                return -1;
            by[t->client] += h + BLOCK_GAP;
            low[t->client] = by[t->client] - BLOCK_GAP;
        }
    }
    return low[0] > low[1] ? low[0] : low[1];
}

/* ---- drawing ---- */

/* The header (fsc_show_header_text, the one-direction note), escaped, in a string of its own. */
static char *header(const struct flow *f)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);

    if (!m)
        return NULL;
    fsc_show_header_text(m, f, fsc_esc_markup);
    if (f->one_sided)
        fputs("  (one direction captured: the other inferred from acks)", m);
    if (fclose(m) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

#define HDR_COLS ((int)((SVG_W - 40) / (13 * EM)))

static void svg_segment(FILE *out, const struct flow *f, const struct row *w, bool retrans)
{
    const struct seg *s = &f->seg[w->seg];
    double x1 = s->from_client ? SVG_XC : SVG_XS, x2 = s->from_client ? SVG_XS : SVG_XC;
    double y1 = w->y - SVG_SLANT / 2, y2 = w->y + SVG_SLANT / 2, xm = (SVG_XC + SVG_XS) / 2.0;
    double angle = atan2(y2 - y1, x2 - x1) * 180 / M_PI, size;
    char label[96];

    if (!s->from_client)
        angle -= 180; /* keep the text upright */
    fsc_show_seg_label(s, label, sizeof label);
    /* A label too long for the lanes (numbers no capture has) gets a smaller font instead. */
    size = LANE_TEXT / ((double)(strlen(label) + (retrans ? 8 : 0)) * EM);
    fprintf(out,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
            "stroke-width=\"1.5\"%s marker-end=\"url(#arrow-%lld%s)\" data-packet=\"%" PRId64
            "\"/>\n",
            x1, y1, x2, y2,
            retrans                 ? "#d9480f"
            : strchr(s->flags, 'R') ? "#c00"
                                    : "#000",
            retrans ? " stroke-dasharray=\"7 4\"" : "", (long long)f->id, retrans ? "-r" : "",
            s->packet);
    fprintf(out,
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" class=\"seg\" "
            "transform=\"rotate(%.2f %.1f %.1f)\">",
            xm, w->y - 5, angle, xm, w->y);
    if (size < 11)
        fprintf(out, "<tspan font-size=\"%.1f\">", size);
    if (retrans)
        fputs("<tspan class=\"retrans\">retrans</tspan> ", out);
    fsc_esc_markup(out, label);
    fputs(size < 11 ? "</tspan></text>\n" : "</text>\n", out);
}

/* A note between the lines, centred, its font smaller when it would not fit them. */
static void svg_note(FILE *out, const char *text, double y)
{
    double size = LANE_TEXT / ((double)strlen(text) * EM);

    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" class=\"gap\"",
            (SVG_XC + SVG_XS) / 2.0, y);
    if (size < 11)
        fprintf(out, " font-size=\"%.1f\"", size);
    fputc('>', out);
    fsc_esc_markup(out, text);
    fputs("</text>\n", out);
}

/* Whether the endpoint titles ("client " and c, "server " and s, escaped) are too wide to
 * share a line: then the server's goes a line lower (returns that offset). */
static double title_push(const char *c, const char *s)
{
    double wc = (mcols(c) + 7) * 13 * EM, ws = (mcols(s) + 7) * 13 * EM;

    return SVG_XC + wc / 2 + 10 > SVG_XS - ws / 2 ? HDR_H : 0;
}

/* Endpoint titles (c, s: escaped), initial states, timelines, tap; dy: how much lower than
 * under a one-line header, push: title_push(). */
static void svg_frame(FILE *out, const struct flow *f, const char *c, const char *s, double dy,
                      double push, double height)
{
    char st[32];

    fprintf(out,
            "<text x=\"%d\" y=\"%.0f\" text-anchor=\"middle\" class=\"hdr\">client %s</text>\n",
            SVG_XC, 62 + dy, c);
    fprintf(out,
            "<text x=\"%d\" y=\"%.0f\" text-anchor=\"middle\" class=\"hdr\">server %s</text>\n",
            SVG_XS, 62 + dy + push, s);
    dy += push;
    fsc_show_upper(st, sizeof st, fsc_show_initial_state(f, true));
    fprintf(out, "<text x=\"%d\" y=\"%.0f\" text-anchor=\"middle\" class=\"state\">", SVG_XC,
            84 + dy);
    fsc_esc_markup(out, st);
    fsc_show_upper(st, sizeof st, fsc_show_initial_state(f, false));
    fprintf(out, "</text>\n<text x=\"%d\" y=\"%.0f\" text-anchor=\"middle\" class=\"state\">",
            SVG_XS, 84 + dy);
    fsc_esc_markup(out, st);
    fputs("</text>\n", out);
    fprintf(out,
            "<line x1=\"%d\" y1=\"%.0f\" x2=\"%d\" y2=\"%.0f\" stroke=\"#000\" "
            "stroke-width=\"2\"/>\n"
            "<line x1=\"%d\" y1=\"%.0f\" x2=\"%d\" y2=\"%.0f\" stroke=\"#000\" "
            "stroke-width=\"2\"/>\n"
            "<line x1=\"%d\" y1=\"%.0f\" x2=\"%d\" y2=\"%.0f\" stroke=\"#bbb\" "
            "stroke-dasharray=\"4 4\"/>\n"
            "<text x=\"%d\" y=\"%.0f\" text-anchor=\"middle\" class=\"time\">tap</text>\n"
            "<text x=\"20\" y=\"%.0f\" class=\"time\">ms since first packet  (frame)</text>\n",
            SVG_XC, 94 + dy, SVG_XC, height - 40, SVG_XS, 94 + dy, SVG_XS, height - 40,
            (SVG_XC + SVG_XS) / 2, 94 + dy, (SVG_XC + SVG_XS) / 2, height - 40,
            (SVG_XC + SVG_XS) / 2, height - 28, 84 + dy);
}

/* The <svg> element, its style and arrow marker, the white page. */
static void svg_open(FILE *out, const struct flow *f, bool standalone, double height)
{
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
            ".retrans{font-weight:bold;fill:#d9480f}\n"
            ".time{font-size:10px;fill:#444}\n"
            ".hdr{font-size:13px;fill:#000}\n"
            ".gap{font-size:11px;fill:#888;font-style:italic}\n"
            "</style>\n"
            "<defs><marker id=\"arrow-%lld\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" "
            "markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\">"
            "<path d=\"M0,0 L10,5 L0,10 z\" fill=\"#000\"/></marker>"
            "<marker id=\"arrow-%lld-r\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" "
            "markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\">"
            "<path d=\"M0,0 L10,5 L0,10 z\" fill=\"#d9480f\"/></marker></defs>\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
            SVG_W, height, SVG_W, height, (long long)f->id, (long long)f->id);
}

/* The diagram; hdr, c, s: the header and the endpoints, escaped. */
static int draw(FILE *out, const struct flow *f, bool standalone, struct row *rows, const char *hdr,
                const char *c, const char *s)
{
    bool retrans[MAX_SEGS];
    struct unstored u;
    int nrows = make_rows(f, rows);
    double dy = HDR_H * (mlines(hdr, HDR_COLS) - 1), push = title_push(c, s), low, height;

    low = place_rows(f, rows, nrows, SVG_TOP + dy + push);
    if (low < 0)
        return -1;
    height = nrows ? rows[nrows - 1].y + 110 : SVG_TOP + dy + push + 110;
    if (low + 56 > height)
        height = low + 56;
    fsc_show_count_unstored(f, &u);
    fsc_show_retrans(f, retrans);

    svg_open(out, f, standalone, height);
    fprintf(out, "<title>flow %" PRId64 " ", f->id);
    fsc_esc_markup(out, f->client);
    fputs(" -&gt; ", out);
    fsc_esc_markup(out, f->server);
    fputs("</title>\n", out);
    emit_lines(out, hdr, HDR_COLS, 20, 24, HDR_H, "class=\"hdr\"");
    if (f->odd)
        fprintf(out, "<text x=\"20\" y=\"%.0f\" class=\"ev\">%s</text>\n", 40 + dy,
                fsc_show_odd_note);
    svg_frame(out, f, c, s, dy, push, height);
    dy += push;
    for (int r = 0; r < nrows; r++) {
        struct row *w = &rows[r];
        double by[2] = {w->y - 8, w->y - 8};

        if (w->gap_before) {
            char gap[160];
            fsc_show_gap_text(&u, f->seg[w->seg - 1].packet, w->packet, gap, sizeof gap);
            svg_note(out, gap, w->y - 36);
        }
        fprintf(out, "<text x=\"20\" y=\"%.1f\" class=\"time\">%s</text>\n", w->y + 4, w->time);
        if (w->seg >= 0)
            svg_segment(out, f, w, retrans[w->seg]);
        /* The states this row's packet caused or proved, beside each timeline. */
        for (int k = w->t0; k < w->t1; k++) {
            const struct trans *t = &f->tr[k];
            double h = svg_label(out, t, by[t->client], t->client ? w->client_cols : SERVER_COLS);
            if (h < 0)
                return -1;
            by[t->client] += h + BLOCK_GAP;
        }
    }
    if (u.cp + u.sp > 0) {
        char a[32];
        fprintf(out,
                "<text x=\"20\" y=\"%.0f\" class=\"gap\">not stored: %" PRId64
                " packets, %s payload bytes</text>\n",
                height - 10, u.cp + u.sp, fsc_show_thousands(u.cb + u.sb, a, sizeof a));
    }
    fputs("</svg>\n", out);
    return ferror(out) ? -1 : 0;
}

int fsc_show_draw_svg(FILE *out, const struct flow *f, bool standalone)
{
    struct row *rows = calloc((size_t)(f->nseg + f->ntr + 1), sizeof *rows);
    char *hdr = header(f), *c = markup(f->client), *s = markup(f->server);
    int rc = -1;

    if (rows && hdr && c && s)
        rc = draw(out, f, standalone, rows, hdr, c, s);
    free(rows);
    free(hdr);
    free(c);
    free(s);
    return rc;
}
