/* escape.c - escaping of untrusted stored text for terminals, Zeek TSV, JSON and markup. */
#include <string.h>

#include "finscope/escape.h"

size_t fsc_utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
    uint32_t c = s[0], min;
    size_t len;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        c &= 0x1f;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        c &= 0x0f;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        c &= 0x07;
        min = 0x10000;
    } else {
        return 0; /* a continuation byte, C0/C1 (overlong 2-byte lead) or F5..FF */
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0; /* overlong, beyond Unicode, or a UTF-16 surrogate */
    *cp = c;
    return len;
}

/* Where escaped text goes: a stream, or a buffer that keeps only whole pieces. */
struct sink {
    FILE *out;
    char *buf;
    size_t len, used; /* buffer: capacity (with the NUL), bytes kept */
    size_t need;      /* bytes the whole text needs */
    int full;         /* a piece did not fit: keep nothing more */
};

static void put(struct sink *k, const char *p, size_t n)
{
    k->need += n;
    if (k->out) {
        if (n == 1)
            putc(*p, k->out); /* most pieces are one character: no fwrite call per byte */
        else
            fwrite(p, 1, n, k->out);
        return;
    }
    if (k->full || k->used + n >= k->len) {
        k->full = 1;
        return;
    }
    memcpy(k->buf + k->used, p, n);
    k->used += n;
}

static void put_hex(struct sink *k, const unsigned char *p, size_t n, const char *prefix)
{
    static const char hex[] = "0123456789abcdef";
    size_t pl = strlen(prefix);

    for (size_t i = 0; i < n; i++) {
        char e[8];
        memcpy(e, prefix, pl);
        e[pl] = hex[p[i] >> 4];
        e[pl + 1] = hex[p[i] & 15];
        put(k, e, pl + 2);
    }
}

/* Characters a terminal would act on instead of showing: C1 controls, bidirectional and line
 * separator format characters.  (C0 and DEL are single bytes, handled before.) */
static int term_hidden(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x200e || cp == 0x200f ||
           (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* Terminal text, and with markup set also & < > " ' as entities and U+FFFE/U+FFFF escaped. */
static void visible(struct sink *k, const char *s, int markup)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)p);

    while (n > 0) {
        uint32_t cp;
        size_t l = fsc_utf8_seq(p, n, &cp);
        const char *ent = NULL;

        if (markup && l == 1) {
            ent = cp == '&'    ? "&amp;"
                  : cp == '<'  ? "&lt;"
                  : cp == '>'  ? "&gt;"
                  : cp == '"'  ? "&quot;"
                  : cp == '\'' ? "&#39;"
                               : NULL;
        }
        if (ent)
            put(k, ent, strlen(ent));
        else if (l == 1 && cp == '\\')
            put(k, "\\\\", 2);
        else if (l == 0)
            put_hex(k, p, (l = 1), "\\x");
        else if (cp < 0x20 || cp == 0x7f || term_hidden(cp) ||
                 (markup && (cp == 0xfffe || cp == 0xffff)))
            put_hex(k, p, l, "\\x");
        else
            put(k, (const char *)p, l);
        p += l;
        n -= l;
    }
}

void fsc_esc_term(FILE *out, const char *s)
{
    struct sink k = {.out = out};
    visible(&k, s, 0);
}

size_t fsc_esc_term_buf(char *buf, size_t len, const char *s)
{
    struct sink k = {.buf = buf, .len = len};
    visible(&k, s, 0);
    buf[k.used] = '\0';
    return k.need;
}

void fsc_esc_markup(FILE *out, const char *s)
{
    struct sink k = {.out = out};
    visible(&k, s, 1);
}

void fsc_esc_zeek_tsv(FILE *out, const char *s)
{
    struct sink k = {.out = out};
    const unsigned char *p = (const unsigned char *)s;
    size_t n;

    if (!s) {
        fputc('-', out);
        return;
    }
    n = strlen(s);
    if (n == 0) {
        fputs("(empty)", out);
        return;
    }
    /* Zeek's escapeReservedContent(): the reserved markers as values are told apart. */
    if (!strcmp(s, "-") || !strcmp(s, "(empty)")) {
        put_hex(&k, p, 1, "\\x");
        p++;
        n--;
    }
    while (n > 0) {
        uint32_t cp;
        size_t l = fsc_utf8_seq(p, n, &cp);
        if (l == 0 || (l == 1 && (cp < 0x20 || cp >= 0x7f || cp == '\\')))
            put_hex(&k, p, (l = 1), "\\x");
        else
            put(&k, (const char *)p, l);
        p += l;
        n -= l;
    }
}

void fsc_esc_json(FILE *out, const char *s)
{
    struct sink k = {.out = out};
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)p);

    put(&k, "\"", 1);
    while (n > 0) {
        uint32_t cp;
        size_t l = fsc_utf8_seq(p, n, &cp);
        if (l == 0)
            put_hex(&k, p, (l = 1), "\\\\x");
        else if (l == 1 && (cp == '"' || cp == '\\'))
            put(&k, cp == '"' ? "\\\"" : "\\\\", 2);
        else if (l == 1 && (cp < 0x20 || cp == 0x7f))
            put_hex(&k, p, 1, "\\u00");
        else
            put(&k, (const char *)p, l);
        p += l;
        n -= l;
    }
    put(&k, "\"", 1);
}
