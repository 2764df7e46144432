/* show_draw.h - private to the show files: a flow as the ladders draw it, and what both share. */
#ifndef FSC_SHOW_DRAW_H
#define FSC_SHOW_DRAW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* More than the per-flow caps (96 segments, 64 transitions): a foreign database is cut here. */
#define MAX_SEGS 256
#define MAX_TRANS 256

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

/* ---- show.c: the header line above a ladder ---- */

/* Said under the header when the loader had to clamp a stored number. */
extern const char fsc_show_odd_note[];

/* "flow ID  CLIENT -> SERVER  handshake=..." with every piece through esc (terminal or markup). */
void fsc_show_header_text(FILE *out, const struct flow *f, void (*esc)(FILE *, const char *));

/* The header as the text ladder prints it: the line, then the notes that apply, each with '\n'. */
void fsc_show_header_line(FILE *out, const struct flow *f);

/* ---- show_draw.c: formatting both ladders share ---- */

/* "FIN,ACK seq=1 ack=1 len=0": a segment's flags in words, relative seq/ack, payload length. */
void fsc_show_seg_label(const struct seg *s, char *buf, size_t len);

/* src in capitals into dst (n bytes, always terminated). */
void fsc_show_upper(char *dst, size_t n, const char *src);

/* 80000 -> "80,000" into buf; returns buf. */
const char *fsc_show_thousands(int64_t v, char *buf, size_t len);

/* What was not stored: from the flow's counters minus the stored segments. */
struct unstored {
    int64_t cp, sp, cb, sb; /* client/server packets and bytes */
    int64_t frames_in_gaps; /* frame numbers skipped between stored segments */
    int ngaps;
};

void fsc_show_count_unstored(const struct flow *f, struct unstored *u);

/* The text of the "not stored" line for the gap between frames a and b (exclusive). */
void fsc_show_gap_text(const struct unstored *u, int64_t a, int64_t b, char *buf, size_t len);

/* Initial state of one endpoint: the from_state of its first transition ("" with none). */
const char *fsc_show_initial_state(const struct flow *f, bool client);

/* For each stored segment, whether it only resends sequence numbers stored before it from the
 * same sender (SYN, payload, FIN): retrans[i] for f->seg[i], f->nseg entries. */
void fsc_show_retrans(const struct flow *f, bool *retrans);

/* ---- the ladders: 0, or -1 on a write error (SVG: or out of memory) ---- */

/* width: the columns to fit the state labels in (--width), 0 for no limit. */
int fsc_show_draw_text(FILE *out, const struct flow *f, int width);      /* show_text.c */
int fsc_show_draw_svg(FILE *out, const struct flow *f, bool standalone); /* show_svg.c */

/* The width of the terminal on standard output (its window size, else $COLUMNS, else 80); 0 when
 * standard output is not a terminal, so that a pipe gets the same bytes everywhere. */
int fsc_show_term_width(void);

#endif
