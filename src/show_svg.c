/* show_svg.c - the SVG ladder of `finscope show --svg` (and of report --html): slanted arrows. */
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

    fsc_show_upper(st, sizeof st, t->to);
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" class=\"state\">", x, y,
            left ? "end" : "start");
    fsc_esc_markup(out, st);
    fprintf(out, "</text>\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" class=\"ev\">", x, y + 13,
            left ? "end" : "start");
    fsc_esc_markup(out, t->evidence);
    fprintf(out, ", packet %" PRId64 "</text>\n", t->packet);
}

int fsc_show_draw_svg(FILE *out, const struct flow *f, bool standalone)
{
    struct row *rows = calloc((size_t)(f->nseg + f->ntr + 1), sizeof *rows);
    int nrows = 0, ti = 0;
    struct unstored u;
    double y, height;

    if (!rows)
        return -1;
    fsc_show_count_unstored(f, &u);
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
    fsc_show_header_text(out, f, fsc_esc_markup);
    if (f->one_sided)
        fputs("  (one direction captured: the other inferred from acks)", out);
    fputs("</text>\n", out);
    if (f->odd)
        fprintf(out, "<text x=\"20\" y=\"40\" class=\"ev\">%s</text>\n", fsc_show_odd_note);
    /* Endpoint titles, initial states, timelines and the tap. */
    fprintf(out, "<text x=\"%d\" y=\"62\" text-anchor=\"middle\" class=\"hdr\">client ", SVG_XC);
    fsc_esc_markup(out, f->client);
    fprintf(out, "</text>\n<text x=\"%d\" y=\"62\" text-anchor=\"middle\" class=\"hdr\">server ",
            SVG_XS);
    fsc_esc_markup(out, f->server);
    fputs("</text>\n", out);
    {
        char st[32];
        fsc_show_upper(st, sizeof st, fsc_show_initial_state(f, true));
        fprintf(out, "<text x=\"%d\" y=\"84\" text-anchor=\"middle\" class=\"state\">", SVG_XC);
        fsc_esc_markup(out, st);
        fsc_show_upper(st, sizeof st, fsc_show_initial_state(f, false));
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
            fsc_show_gap_text(&u, f->seg[w->seg - 1].packet, w->packet, gap, sizeof gap);
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
            fsc_show_seg_label(s, label, sizeof label);
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
                height - 10, u.cp + u.sp, fsc_show_thousands(u.cb + u.sb, a, sizeof a));
    }
    fputs("</svg>\n", out);
    free(rows);
    return ferror(out) ? -1 : 0;
}
