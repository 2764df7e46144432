/* show_draw.c - formatting shared by the text and the SVG ladder of `finscope show`. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "show_draw.h"

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

void fsc_show_seg_label(const struct seg *s, char *buf, size_t len)
{
    char names[48], ack[32] = "";

    flag_names(s->flags, names, sizeof names);
    if (s->ack >= 0)
        snprintf(ack, sizeof ack, " ack=%" PRId64, s->ack);
    snprintf(buf, len, "%s seq=%" PRId64 "%s len=%" PRId64, names, s->seq, ack, s->len);
}

void fsc_show_upper(char *dst, size_t n, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < n; i++)
        dst[i] = (char)toupper((unsigned char)src[i]);
    dst[i] = '\0';
}

/* 80000 -> "80,000" */
const char *fsc_show_thousands(int64_t v, char *buf, size_t len)
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

void fsc_show_count_unstored(const struct flow *f, struct unstored *u)
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
void fsc_show_gap_text(const struct unstored *u, int64_t a, int64_t b, char *buf, size_t len)
{
    int64_t n = b - a - 1, total = u->cp + u->sp;
    char frames[64], nb[32], bb[32];

    if (n == 1)
        snprintf(frames, sizeof frames, "frame %" PRId64, a + 1);
    else
        snprintf(frames, sizeof frames, "frames %" PRId64 "-%" PRId64, a + 1, b - 1);
    if (total == u->frames_in_gaps && u->ngaps == 1)
        snprintf(buf, len, "... %s packet%s, %s bytes not stored (%s) ...",
                 fsc_show_thousands(n, nb, sizeof nb), n == 1 ? "" : "s",
                 fsc_show_thousands(u->cb + u->sb, bb, sizeof bb), frames);
    else if (total == u->frames_in_gaps)
        snprintf(buf, len, "... %" PRId64 " packet%s not stored (%s) ...", n, n == 1 ? "" : "s",
                 frames);
    else
        snprintf(buf, len, "... %s: other flows or packets not stored ...", frames);
}

/* Initial state of each endpoint: the from_state of its first transition. */
const char *fsc_show_initial_state(const struct flow *f, bool client)
{
    for (int i = 0; i < f->ntr; i++)
        if (f->tr[i].client == client)
            return f->tr[i].from;
    return "";
}

/* The sequence numbers s occupies after its SYN's, [*a, *b): payload and FIN.  false when a
 * stored number is so large that the sum would not fit (a foreign database). */
static bool seq_range(const struct seg *s, int64_t *a, int64_t *b)
{
    int64_t syn = strchr(s->flags, 'S') ? 1 : 0, n = s->len + (strchr(s->flags, 'F') ? 1 : 0);

    if (s->seq > INT64_MAX - syn - n)
        return false;
    *a = s->seq + syn;
    *b = *a + n;
    return true;
}

/* Whether f->seg[i]'s SYN was sent before by the same sender as the same kind of SYN with the same
 * sequence number: the SYN,ACK of a simultaneous open or of a socket connected to itself carries
 * its SYN's number again and is new (RFC 9293 3.5), and a SYN with a new ISN is a new SYN.  true
 * when it has no SYN. */
static bool resends_syn(const struct flow *f, int i)
{
    const struct seg *s = &f->seg[i];

    if (!strchr(s->flags, 'S'))
        return true;
    for (int j = 0; j < i; j++)
        if (f->seg[j].from_client == s->from_client && strchr(f->seg[j].flags, 'S') &&
            f->seg[j].seq == s->seq && (f->seg[j].ack >= 0) == (s->ack >= 0))
            return true;
    return false;
}

/* Whether [a, b) lies within the union of the payload and FIN ranges of the sender's segments
 * stored before f->seg[i]. */
static bool covered(const struct flow *f, int i, int64_t a, int64_t b)
{
    bool moved = true;

    /* Walk a forward through earlier ranges that contain it; covered when it reaches b. */
    while (a < b && moved) {
        moved = false;
        for (int j = 0; j < i && a < b; j++) {
            int64_t ja, jb;
            if (f->seg[j].from_client == f->seg[i].from_client && seq_range(&f->seg[j], &ja, &jb) &&
                ja <= a && a < jb) {
                a = jb;
                moved = true;
            }
        }
    }
    return a >= b;
}

/*
 * A segment is a retransmission when it resends a SYN, or when every payload and FIN sequence
 * number it carries was carried by an earlier stored segment of the same sender: what was stored
 * was seen, so it is resent for certain.  As for client_retrans_bytes, a late segment filling a
 * hole is not, nor is a keepalive's byte at the SYN's number.  A resent segment whose first copy
 * was not stored (data in the middle) is not marked.  Relative numbers wrap after 4 GiB; control
 * segments that far apart do not cover each other's exact range in practice.
 */
void fsc_show_retrans(const struct flow *f, bool *retrans)
{
    for (int i = 0; i < f->nseg; i++) {
        int64_t a, b;

        retrans[i] = resends_syn(f, i) && seq_range(&f->seg[i], &a, &b) &&
                     (a == b ? strchr(f->seg[i].flags, 'S') != NULL : covered(f, i, a, b));
    }
}
