/* report_census.c - the census sections of `finscope report`: how many sockets the busiest hosts
 * hold in each TCP state, the servers whose CLOSE_WAIT count keeps growing, the TIME_WAIT
 * pressure on a client's ephemeral ports, and (HTML) a stacked chart per busy host.  The counting
 * is census.h's, the same as `finscope states`; this file picks, samples and formats. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "finscope/census.h"
#include "finscope/escape.h"
#include "finscope/report.h"

/*
 * The second census, one load for two sections: a server endpoint in CLOSE_WAIT counts for
 * "L <capture> <server:port>", a client endpoint in TIME_WAIT for "T <capture> <client> ->
 * <server:port>", anything else is left out (NULL).  The capture is in the key so that two
 * captures of the same hours are not added up, and a server's growth is judged on its capture.
 */
#define LEAK_KEY "'L ' || capture_id || ' ' || " FSC_SQL_EP("host", "port")
#define TIME_WAIT_KEY                                                                              \
    "'T ' || capture_id || ' ' || host || ' -> ' || " FSC_SQL_EP("peer", "peer_port")
#define ENDS_KEY                                                                                   \
    "CASE WHEN endpoint = 'server' AND state = 'close_wait' THEN " LEAK_KEY                        \
    " WHEN endpoint = 'client' AND state = 'time_wait' THEN " TIME_WAIT_KEY " END"

/* Each selected capture's first and last packet, in the census's microseconds. */
#define SPANS_SQL                                                                                  \
    "SELECT id, CAST(round(first_ts * 1e6) AS INTEGER), CAST(round(last_ts * 1e6) AS INTEGER) "    \
    "FROM captures WHERE (?1 IS NULL OR id = ?1) AND first_ts IS NOT NULL "                        \
    "AND last_ts IS NOT NULL ORDER BY id"

#define NSAMPLES 100 /* chart instants across a capture, its first and last packet included */
#define CHAR_W 7     /* px: the widest a character of the 12 px chart font is taken to be */

struct span {
    int64_t id;
    fsc_time first, last;
};

struct fsc_report_census {
    struct fsc_census *hosts; /* key "host": every socket, as finscope states counts them */
    struct fsc_census *ends;  /* key ENDS_KEY */
    struct span *caps;
    size_t ncaps, capcap;
    bool oom;
};

static int span_row(void *user, int ncol, const char *const *names, const char *const *v)
{
    struct fsc_report_census *c = user;

    (void)names;
    if (ncol < 3 || !v[0] || !v[1] || !v[2])
        return 0;
    if (c->ncaps == c->capcap) {
        size_t cap = c->capcap ? 2 * c->capcap : 8;
        struct span *s = realloc(c->caps, cap * sizeof *s);
        if (!s) {
            c->oom = true;
            return 1;
        }
        c->caps = s;
        c->capcap = cap;
    }
    c->caps[c->ncaps++] =
        (struct span){strtoll(v[0], NULL, 10), strtoll(v[1], NULL, 10), strtoll(v[2], NULL, 10)};
    return 0;
}

int fsc_report_census_load(struct fsc_store *s, int64_t capture_id, struct fsc_report_census **out,
                           char *err, size_t errlen)
{
    struct fsc_report_census *c = calloc(1, sizeof *c);
    struct fsc_census_opts o;

    *out = NULL;
    if (!c) {
        fsc_seterr(err, errlen, "out of memory");
        return -1;
    }
    fsc_census_defaults(&o);
    o.capture_id = capture_id;
    const char *keys[] = {"host", ENDS_KEY};
    struct fsc_census *got[2];
    if (fsc_store_query(s, SPANS_SQL, capture_id, span_row, c, err, errlen) < 0 ||
        fsc_census_load_keys(s, &o, keys, 2, got, err, errlen) < 0)
        goto fail;
    c->hosts = got[0];
    c->ends = got[1];
    if (c->oom) {
        fsc_seterr(err, errlen, "out of memory");
        goto fail;
    }
    *out = c;
    return 0;
fail:
    fsc_report_census_free(c);
    return -1;
}

void fsc_report_census_free(struct fsc_report_census *c)
{
    if (!c)
        return;
    fsc_census_free(c->hosts);
    fsc_census_free(c->ends);
    free(c->caps);
    free(c);
}

static const struct span *capture_span(const struct fsc_report_census *c, int64_t id)
{
    for (size_t i = 0; i < c->ncaps; i++)
        if (c->caps[i].id == id)
            return &c->caps[i];
    return NULL;
}

/* a + (b - a) * num / den rounded down, for 0 <= num <= den: an instant between two others,
 * without overflow however far apart a stored time puts them (a when b is not after a). */
static fsc_time between(fsc_time a, fsc_time b, int64_t num, int64_t den)
{
    uint64_t span = b > a ? (uint64_t)b - (uint64_t)a : 0;

    return (fsc_time)((uint64_t)a + span / (uint64_t)den * (uint64_t)num +
                      span % (uint64_t)den * (uint64_t)num / (uint64_t)den);
}

/* Sockets per host: per state of each of the busiest hosts (states' order, pairs that were ever
 * above 0, as states shows them).  The hosts beyond FSC_REPORT_HOSTS_SHOWN are counted. */
static int host_rows(const struct fsc_census *c, fsc_store_row_fn row, void *user)
{
    uint32_t key = UINT32_MAX;
    int hosts = 0;

    for (size_t i = 0; i < fsc_census_npairs(c); i++) {
        const struct fsc_census_pair *p = fsc_census_pair(c, i);
        if (p->peak <= 0)
            continue;
        if (p->key != key) {
            key = p->key;
            hosts++;
        }
        if (hosts > FSC_REPORT_HOSTS_SHOWN)
            continue;
        char end[24], peak[24];
        struct fsc_census_when w = fsc_census_when(p->peak_at, fsc_census_start(c));
        snprintf(end, sizeof end, "%lld", (long long)p->at_end);
        snprintf(peak, sizeof peak, "%lld", (long long)p->peak);
        const char *v[] = {
            fsc_census_key(c, p->key), fsc_census_state_name(p->state), end, peak, w.utc, w.rel};
        if (row(user, 6, NULL, v))
            return -1;
    }
    return hosts > FSC_REPORT_HOSTS_SHOWN ? hosts - FSC_REPORT_HOSTS_SHOWN : 0;
}

/* The kind ('L' or 'T') of an ENDS_KEY, its capture and the text shown; 0 for another key. */
static char ends_key(const char *key, int64_t *capture, const char **shown)
{
    char *end;

    if ((key[0] != 'L' && key[0] != 'T') || key[1] != ' ')
        return 0;
    *capture = strtoll(key + 2, &end, 10);
    if (end == key + 2 || *end != ' ')
        return 0;
    *shown = end + 1;
    return key[0];
}

/*
 * A CLOSE_WAIT count that keeps growing: sampled at 25, 50, 75 and 100% of its capture, it never
 * falls, ends above where it was at 25%, and ends at 2 or more (one socket is not yet a trend).
 * Sockets an application forgets to close() pile up this way; a busy server that closes them
 * goes up and down.
 */
static bool keeps_growing(const int64_t n[4])
{
    return n[0] <= n[1] && n[1] <= n[2] && n[2] <= n[3] && n[3] > n[0] && n[3] >= 2;
}

/* The CLOSE_WAIT leak suspects, busiest first: server, capture, the four counts, peak. */
static int leak_rows(const struct fsc_report_census *rc, fsc_store_row_fn row, void *user)
{
    const struct fsc_census *c = rc->ends;
    int close_wait = fsc_census_state_index("close_wait");

    for (size_t i = 0; i < fsc_census_npairs(c); i++) {
        const struct fsc_census_pair *p = fsc_census_pair(c, i);
        const struct span *sp;
        const char *server;
        int64_t cap, n[4];
        if (p->state != close_wait || ends_key(fsc_census_key(c, p->key), &cap, &server) != 'L' ||
            !(sp = capture_span(rc, cap)))
            continue;
        for (int q = 0; q < 4; q++)
            n[q] = fsc_census_count_at(c, i, between(sp->first, sp->last, q + 1, 4));
        if (!keeps_growing(n))
            continue;
        char num[6][24];
        struct fsc_census_when w = fsc_census_when(p->peak_at, sp->first); /* its capture's */
        snprintf(num[0], sizeof num[0], "%lld", (long long)cap);
        for (int q = 0; q < 4; q++)
            snprintf(num[q + 1], sizeof num[q + 1], "%lld", (long long)n[q]);
        snprintf(num[5], sizeof num[5], "%lld", (long long)p->peak);
        const char *v[] = {server, num[0], num[1], num[2], num[3], num[4], num[5], w.utc, w.rel};
        if (row(user, 9, NULL, v))
            return -1;
    }
    return 0;
}

/* TIME_WAIT pressure, highest peak first: client -> server, capture, peak, its share of the
 * ephemeral ports (FSC_EPHEMERAL_PORTS), when (seconds from its capture's first packet). */
static int time_wait_rows(const struct fsc_report_census *rc, fsc_store_row_fn row, void *user)
{
    const struct fsc_census *c = rc->ends;
    int time_wait = fsc_census_state_index("time_wait");

    for (size_t i = 0; i < fsc_census_npairs(c); i++) {
        const struct fsc_census_pair *p = fsc_census_pair(c, i);
        const char *pair;
        int64_t cap;
        if (p->state != time_wait || p->peak <= 0 ||
            ends_key(fsc_census_key(c, p->key), &cap, &pair) != 'T')
            continue;
        char capture[24], peak[24], share[32];
        const struct span *sp = capture_span(rc, cap);
        struct fsc_census_when w =
            fsc_census_when(p->peak_at, sp ? sp->first : fsc_census_start(rc->hosts));
        snprintf(capture, sizeof capture, "%lld", (long long)cap);
        snprintf(peak, sizeof peak, "%lld", (long long)p->peak);
        snprintf(share, sizeof share, "%.1f", 100.0 * (double)p->peak / FSC_EPHEMERAL_PORTS);
        const char *v[] = {pair, capture, peak, share, w.utc, w.rel};
        if (row(user, 6, NULL, v))
            return -1;
    }
    return 0;
}

int fsc_report_census_rows(const struct fsc_report_census *c, enum fsc_report_census_section sec,
                           fsc_store_row_fn row, void *user)
{
    switch (sec) {
    case FSC_REPORT_HOSTS:
        return host_rows(c->hosts, row, user);
    case FSC_REPORT_LEAKS:
        return leak_rows(c, row, user);
    case FSC_REPORT_TIME_WAIT:
        return time_wait_rows(c, row, user);
    }
    return 0;
}

/* ---- charts ---- */

/*
 * One colour per token, the same in every chart of every report, so that two reports compare at
 * a glance: a colour never follows a rank.  The states of the census (opening blue, the closer's
 * side orange, CLOSE_WAIT red, TIME_WAIT gold); close kinds, handshakes and RST causes (a token
 * two of them share, as three_way, has one colour); the sides of a connection.  Within each of
 * those groups no two tokens share a colour.
 */
static const struct {
    const char *token, *colour;
} token_colour[] = {
    /* states */
    {"syn_sent", "#9ecae1"},
    {"syn_rcvd", "#5a6fbf"},
    {"established", "#3b7dd8"},
    {"fin_wait_1", "#f2b880"},
    {"fin_wait_2", "#e07b39"},
    {"close_wait", "#c2453d"},
    {"closing", "#8a63c9"},
    {"last_ack", "#d15b9c"},
    {"time_wait", "#c9a227"},
    {"unknown", "#9aa5b1"},
    /* close kinds (and the handshakes of the same name) */
    {"four_way", "#3b7dd8"},
    {"three_way", "#4aa564"},
    {"two_way", "#2aa1a8"},
    {"simultaneous", "#8a63c9"},
    {"rst", "#e07b39"},
    {"half_closed", "#c2453d"},
    {"open", "#9ecae1"},
    {"refused", "#5a6fbf"},
    {"unanswered", "#c9a227"},
    {"fins_unproven", "#d15b9c"},
    /* handshakes */
    {"simultaneous_open", "#8a63c9"},
    {"self_connect", "#2aa1a8"},
    {"aborted", "#e07b39"},
    {"none", "#7a8691"},
    /* RST causes */
    {"abort", "#e07b39"},
    {"unread_data", "#c2453d"},
    {"data_after_close", "#d15b9c"},
    {"handshake", "#5a6fbf"},
    {"other", "#9aa5b1"},
    {"accept_overflow", "#c9a227"},
    /* sides: who closed first, or which side held a state */
    {"client", "#3b7dd8"},
    {"server", "#e07b39"},
    {"both", "#8a63c9"},
    {"self", "#2aa1a8"},
};

const char *fsc_report_colour(const char *token)
{
    for (size_t i = 0; i < sizeof token_colour / sizeof *token_colour; i++)
        if (strcmp(token, token_colour[i].token) == 0)
            return token_colour[i].colour;
    return FSC_REPORT_COLOUR_OTHER;
}

/* Layout of a chart, in px: the plot's box, and the rows of text around it. */
enum {
    CHART_W = 500, /* two side by side in the page's 1100 px */
    PLOT_TOP = 48,
    PLOT_H = 180,
    PLOT_BOTTOM = PLOT_TOP + PLOT_H,
    XLABEL_Y = PLOT_BOTTOM + 20, /* baseline of the time labels */
    XTITLE_Y = PLOT_BOTTOM + 40,
    LEGEND_Y = PLOT_BOTTOM + 62, /* baseline of the first legend row */
    LEGEND_ROW = 20,
};

/* One host's counts at NSAMPLES instants from t0 to t1, per state. */
struct chart {
    const char *host;
    fsc_time t0, t1, start;
    bool present[FSC_CENSUS_NSTATES]; /* ever above 0 */
    int64_t n[NSAMPLES][FSC_CENSUS_NSTATES];
    int64_t ymax; /* the highest stacked total */
};

/* An axis: ticks lo, lo + step, ... <= hi, labelled with dec decimals, the widest label w px. */
struct axis {
    double first, step;
    int nticks, dec, w;
};

static int text_w(const char *s)
{
    return (int)strlen(s) * CHAR_W;
}

static fsc_time sample_at(const struct chart *ch, int k)
{
    return between(ch->t0, ch->t1, k, NSAMPLES - 1);
}

/*
 * The host's pairs [lo, hi) sampled over the captures that were running at its highest peak
 * (the selection's first packet to its last when none was): the host's own hours when the
 * database holds captures of other days.  False when the host never held a socket.
 */
static bool chart_fill(struct chart *ch, const struct fsc_report_census *rc, size_t lo, size_t hi)
{
    const struct fsc_census *c = rc->hosts;
    const struct fsc_census_pair *top = fsc_census_pair(c, lo);

    memset(ch, 0, sizeof *ch);
    ch->host = fsc_census_key(c, top->key);
    for (size_t i = lo; i < hi; i++)
        if (fsc_census_pair(c, i)->peak > top->peak)
            top = fsc_census_pair(c, i);
    if (top->peak <= 0)
        return false;
    ch->start = fsc_census_start(c);
    ch->t0 = INT64_MAX;
    ch->t1 = INT64_MIN;
    for (size_t k = 0; k < rc->ncaps; k++)
        if (rc->caps[k].first <= top->peak_at && top->peak_at <= rc->caps[k].last) {
            ch->t0 = rc->caps[k].first < ch->t0 ? rc->caps[k].first : ch->t0;
            ch->t1 = rc->caps[k].last > ch->t1 ? rc->caps[k].last : ch->t1;
        }
    if (ch->t0 > ch->t1) {
        ch->t0 = ch->start;
        ch->t1 = fsc_census_end(c);
    }
    for (size_t i = lo; i < hi; i++) {
        const struct fsc_census_pair *p = fsc_census_pair(c, i);
        ch->present[p->state] = ch->present[p->state] || p->peak > 0;
        for (int k = 0; k < NSAMPLES; k++)
            ch->n[k][p->state] = fsc_census_count_at(c, i, sample_at(ch, k));
    }
    for (int k = 0; k < NSAMPLES; k++) {
        int64_t sum = 0;
        for (int s = 0; s < FSC_CENSUS_NSTATES; s++)
            sum += ch->n[k][s];
        if (sum > ch->ymax)
            ch->ymax = sum;
    }
    return true;
}

static void tick_label(const struct axis *a, int i, char *buf, size_t len)
{
    snprintf(buf, len, "%.*f", a->dec, a->first + a->step * i);
}

/*
 * Ticks for [lo, hi] over px pixels: the smallest step of 1, 2 or 5 times a power of ten whose
 * labels (with at most max ticks) stand at least their width plus 12 px apart.  For counts
 * (integer) the step is at least 1 and the last tick at or above hi: it is the axis's top.
 */
static struct axis nice_axis(double lo, double hi, double px, int max, bool integer)
{
    static const double mult[] = {1, 2, 5};
    struct axis a = {0};
    double base = pow(10, floor(log10((hi - lo) / max)) - 1);

    if (integer && base < 1)
        base = 1;
    for (int e = 0; e < 40; e++) {
        for (int m = 0; m < 3; m++) {
            char buf[64];
            a.step = base * pow(10, e) * mult[m];
            a.dec = a.step >= 1 ? 0 : (int)ceil(-log10(a.step) - 1e-9);
            a.first = ceil(lo / a.step - 1e-9) * a.step;
            a.nticks = integer ? (int)ceil((hi - a.first) / a.step - 1e-9) + 1
                               : (int)floor((hi - a.first) / a.step + 1e-9) + 1;
            a.w = 0;
            for (int i = 0; i < a.nticks; i++) {
                tick_label(&a, i, buf, sizeof buf);
                a.w = text_w(buf) > a.w ? text_w(buf) : a.w;
            }
            double apart = a.step / (hi - lo) * px;
            if (a.nticks <= max && (integer || apart >= a.w + 12))
                return a;
        }
    }
    return a;
}

/* The y px of count v. */
static double y_px(const struct axis *ya, double v)
{
    double top = ya->first + ya->step * (ya->nticks - 1);
    return PLOT_BOTTOM - v / (top > 0 ? top : 1) * PLOT_H;
}

/* The count axis: a grid line and a label per tick, and its name above. */
static void y_axis(FILE *out, const struct axis *ya, int left, int right)
{
    char buf[64];

    for (int i = 0; i < ya->nticks; i++) {
        double y = y_px(ya, ya->first + ya->step * i);
        tick_label(ya, i, buf, sizeof buf);
        fprintf(out,
                "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e6eaee\"/>"
                "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                left, y, right, y, left - 6, y + 4, buf);
    }
    fprintf(out, "<text x=\"8\" y=\"%d\">count of sockets</text>\n", PLOT_TOP - 12);
}

static void x_axis(FILE *out, const struct axis *xa, double x0, double x1, int left, int plotw)
{
    char buf[64];

    for (int i = 0; i < xa->nticks; i++) {
        double v = xa->first + xa->step * i, x = left + (v - x0) / (x1 - x0) * plotw;
        tick_label(xa, i, buf, sizeof buf);
        fprintf(out,
                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#9aa5b1\"/>"
                "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
                x, PLOT_BOTTOM, x, PLOT_BOTTOM + 5, x, XLABEL_Y, buf);
    }
    fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">time (s from start)</text>\n",
            left + plotw / 2, XTITLE_Y);
}

/* One filled band per state present, stacked in FSC_CENSUS_STATES order. */
static void areas(FILE *out, const struct chart *ch, const struct axis *ya, int left, int plotw)
{
    int64_t below[NSAMPLES] = {0};

    for (int s = 0; s < FSC_CENSUS_NSTATES; s++) {
        if (!ch->present[s])
            continue;
        fprintf(out, "<path class=\"area\" data-state=\"%s\" fill=\"%s\" d=\"",
                fsc_census_state_name(s), fsc_report_colour(fsc_census_state_name(s)));
        for (int k = 0; k < NSAMPLES; k++)
            fprintf(out, "%s%.1f %.1f", k ? " L" : "M", left + (double)plotw * k / (NSAMPLES - 1),
                    y_px(ya, (double)(below[k] + ch->n[k][s])));
        for (int k = NSAMPLES - 1; k >= 0; k--)
            fprintf(out, " L%.1f %.1f", left + (double)plotw * k / (NSAMPLES - 1),
                    y_px(ya, (double)below[k]));
        fputs(" Z\"><title>", out);
        fsc_esc_markup(out, fsc_census_state_name(s));
        fputs("</title></path>\n", out);
        for (int k = 0; k < NSAMPLES; k++)
            below[k] += ch->n[k][s];
    }
}

/* Where each legend entry (a swatch and the state) goes, rows wrapped to the width: x and the
 * baseline y per state present.  Returns the baseline of the last row. */
static int legend_layout(const struct chart *ch, int left, int width, int x[], int y[])
{
    int cx = left, cy = LEGEND_Y;

    for (int s = 0; s < FSC_CENSUS_NSTATES; s++) {
        int w = 14 + text_w(fsc_census_state_name(s));
        if (!ch->present[s])
            continue;
        if (cx > left && cx + w > width - 8) {
            cx = left;
            cy += LEGEND_ROW;
        }
        x[s] = cx;
        y[s] = cy;
        cx += w + 18;
    }
    return cy;
}

static void legend(FILE *out, const struct chart *ch, int left)
{
    int x[FSC_CENSUS_NSTATES], y[FSC_CENSUS_NSTATES];

    legend_layout(ch, left, CHART_W, x, y);
    for (int s = 0; s < FSC_CENSUS_NSTATES; s++)
        if (ch->present[s])
            fprintf(
                out,
                "<g class=\"legend\" data-state=\"%s\"><rect x=\"%d\" y=\"%d\" "
                "width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%d\" y=\"%d\">%s</text></g>\n",
                fsc_census_state_name(s), x[s], y[s] - 9,
                fsc_report_colour(fsc_census_state_name(s)), x[s] + 14, y[s],
                fsc_census_state_name(s));
}

/* The y axis's left margin (the widest count) and the time axis, with room at both ends for
 * half of the widest time label (they are centred on their ticks). */
static void x_layout(const struct axis *ya, double x0, double x1, int *left, int *plotw,
                     struct axis *xa)
{
    char top[64];
    int right = 16;

    tick_label(ya, ya->nticks - 1, top, sizeof top);
    *left = text_w(top) + 14 > 48 ? text_w(top) + 14 : 48;
    for (int pass = 0; pass < 3; pass++) {
        *plotw = CHART_W - *left - right;
        *xa = nice_axis(x0, x1, *plotw, 10, false);
        if (*left >= xa->w / 2 + 4 && right >= xa->w / 2 + 4)
            return;
        *left = *left > xa->w / 2 + 4 ? *left : xa->w / 2 + 4;
        right = right > xa->w / 2 + 4 ? right : xa->w / 2 + 4;
    }
}

static void chart_svg(FILE *out, const struct chart *ch, int n)
{
    double x0 = fsc_census_seconds(ch->t0, ch->start), x1 = fsc_census_seconds(ch->t1, ch->start);
    struct axis ya = nice_axis(0, (double)(ch->ymax > 0 ? ch->ymax : 1), PLOT_H, 6, true), xa;
    int left, plotw, lx[FSC_CENSUS_NSTATES], ly[FSC_CENSUS_NSTATES];

    if (x1 <= x0)
        x1 = x0 + 1e-6;
    x_layout(&ya, x0, x1, &left, &plotw, &xa);
    int h = legend_layout(ch, left, CHART_W, lx, ly) + 8;
    fprintf(out,
            "<svg class=\"census\" id=\"chart-census-%d\" xmlns=\"http://www.w3.org/2000/svg\" "
            "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n<title>",
            n, CHART_W, h, CHART_W, h);
    fsc_esc_markup(out, ch->host);
    fputs(": sockets per TCP state</title>\n<text x=\"8\" y=\"16\" font-weight=\"600\">", out);
    fsc_esc_markup(out, ch->host);
    fputs("</text>\n", out);
    y_axis(out, &ya, left, left + plotw);
    areas(out, ch, &ya, left, plotw);
    fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#9aa5b1\"/>\n", left,
            PLOT_BOTTOM, left + plotw, PLOT_BOTTOM);
    x_axis(out, &xa, x0, x1, left, plotw);
    legend(out, ch, left);
    fputs("</svg>\n", out);
}

void fsc_report_census_svg(FILE *out, const struct fsc_report_census *c)
{
    struct chart *ch = malloc(sizeof *ch);
    size_t n = fsc_census_npairs(c->hosts), lo = 0;

    if (!ch)
        return;
    /* The hosts in the census's order, busiest first; one that never held a socket (its
     * intervals all empty) ends the list, as it ends the table. */
    for (int hosts = 0; lo < n && hosts < FSC_REPORT_HOSTS_CHARTED; hosts++) {
        size_t hi = lo;
        while (hi < n && fsc_census_pair(c->hosts, hi)->key == fsc_census_pair(c->hosts, lo)->key)
            hi++;
        if (!chart_fill(ch, c, lo, hi))
            break;
        chart_svg(out, ch, hosts + 1);
        lo = hi;
    }
    free(ch);
}
