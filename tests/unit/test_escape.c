/* test_escape.c - exact bytes of every escaping in escape.c (terminal, markup, Zeek TSV, JSON). */
#include "finscope/escape.h"

#include <stdlib.h>
#include <string.h>

#include "unit_check.h"

typedef void (*esc_fn)(FILE *, const char *);

/* What fn writes for in, as a string (open_memstream). */
static char *render(esc_fn fn, const char *in)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        abort();
    fn(f, in);
    fclose(f);
    return buf;
}

static void expect(const char *what, esc_fn fn, const char *in, const char *want)
{
    char *got = render(fn, in);
    check(strcmp(got, want) == 0, what, "got [%s], want [%s]", got, want);
    free(got);
}

static void test_utf8(void)
{
    static const struct {
        const char *in;
        size_t len;
        uint32_t cp;
    } cases[] = {
        {"A", 1, 'A'},
        {"\xc3\xa9", 2, 0xe9},
        {"\xe2\x82\xac", 3, 0x20ac},
        {"\xf0\x9f\x98\x80", 4, 0x1f600},
        {"\xf4\x8f\xbf\xbf", 4, 0x10ffff},
        {"\xc0\xaf", 0, 0},         /* overlong '/' */
        {"\xe0\x80\xaf", 0, 0},     /* overlong, 3 bytes */
        {"\xed\xa0\x80", 0, 0},     /* surrogate D800 */
        {"\xf4\x90\x80\x80", 0, 0}, /* above U+10FFFF */
        {"\x80", 0, 0},             /* lone continuation */
        {"\xe2\x82", 0, 0},         /* cut short */
        {"\xe2\x28\xa1", 0, 0},     /* bad continuation */
        {"\xff", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint32_t cp = 0;
        size_t n = fsc_utf8_seq((const unsigned char *)cases[i].in, strlen(cases[i].in), &cp);
        check(n == cases[i].len && (n == 0 || cp == cases[i].cp), "utf8", "case %zu: %zu U+%X", i,
              n, (unsigned)cp);
    }
}

static void test_term(void)
{
    expect("term plain", fsc_esc_term, "10.0.0.1:80 four_way", "10.0.0.1:80 four_way");
    expect("term NULL", fsc_esc_term, NULL, "");
    expect("term ESC", fsc_esc_term, "\x1b[31mred", "\\x1b[31mred");
    expect("term newline tab", fsc_esc_term, "a\nb\tc\r", "a\\x0ab\\x09c\\x0d");
    expect("term backslash", fsc_esc_term, "a\\x1b", "a\\\\x1b");
    expect("term DEL", fsc_esc_term, "\x7f", "\\x7f");
    expect("term UTF-8 passes", fsc_esc_term, "caf\xc3\xa9 \xe2\x82\xac",
           "caf\xc3\xa9 \xe2\x82\xac");
    expect("term C1 CSI", fsc_esc_term,
           "\xc2\x9b"
           "31m",
           "\\xc2\\x9b31m");
    expect("term bidi RLO", fsc_esc_term, "\xe2\x80\xae", "\\xe2\\x80\\xae");
    expect("term invalid", fsc_esc_term, "\xff\xc3", "\\xff\\xc3");
    expect("term markup chars pass", fsc_esc_term, "<&\"'>", "<&\"'>");

    char buf[8];
    size_t need = fsc_esc_term_buf(buf, 5,
                                   "ab\x1b"
                                   "cd");
    check(need == 8 && strcmp(buf, "ab") == 0, "term_buf cuts between escapes", "%zu [%s]", need,
          buf);
    need = fsc_esc_term_buf(buf, sizeof buf, "abc");
    check(need == 3 && strcmp(buf, "abc") == 0, "term_buf fits", "%zu [%s]", need, buf);
    need = fsc_esc_term_buf(buf, 1, "abc");
    check(need == 3 && buf[0] == '\0', "term_buf len 1", "%zu", need);
}

static void test_markup(void)
{
    expect("markup entities", fsc_esc_markup, "<a href=\"x\">&'</a>",
           "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    expect("markup controls", fsc_esc_markup, "\x1b[31m\n\t\x01", "\\x1b[31m\\x0a\\x09\\x01");
    expect("markup non-characters", fsc_esc_markup, "\xef\xbf\xbe\xef\xbf\xbf",
           "\\xef\\xbf\\xbe\\xef\\xbf\\xbf");
    expect("markup invalid", fsc_esc_markup, "a\xc3(", "a\\xc3(");
    expect("markup UTF-8 passes", fsc_esc_markup, "\xc3\xa9", "\xc3\xa9");
}

static void test_zeek(void)
{
    expect("tsv unset", fsc_esc_zeek_tsv, NULL, "-");
    expect("tsv empty", fsc_esc_zeek_tsv, "", "(empty)");
    expect("tsv dash", fsc_esc_zeek_tsv, "-", "\\x2d");
    expect("tsv (empty)", fsc_esc_zeek_tsv, "(empty)", "\\x28empty)");
    expect("tsv dash inside", fsc_esc_zeek_tsv, "--", "--");
    expect("tsv tab newline", fsc_esc_zeek_tsv, "S\tF\nx", "S\\x09F\\x0ax");
    expect("tsv backslash", fsc_esc_zeek_tsv, "a\\b", "a\\x5cb");
    expect("tsv ESC DEL", fsc_esc_zeek_tsv, "\x1b\x7f", "\\x1b\\x7f");
    expect("tsv UTF-8 passes", fsc_esc_zeek_tsv, "\xc3\xa9", "\xc3\xa9");
    expect("tsv invalid", fsc_esc_zeek_tsv, "\xc3\x28", "\\xc3(");
    expect("tsv set separator outside sets", fsc_esc_zeek_tsv, "a,b", "a,b");
}

static void test_json(void)
{
    expect("json NULL", fsc_esc_json, NULL, "\"\"");
    expect("json quote backslash", fsc_esc_json, "a\"b\\c", "\"a\\\"b\\\\c\"");
    expect("json key injection", fsc_esc_json, "ShAdFa\",\"id.orig_h\":\"6.6.6.6",
           "\"ShAdFa\\\",\\\"id.orig_h\\\":\\\"6.6.6.6\"");
    expect("json controls", fsc_esc_json, "\n\t\x01\x1f\x7f",
           "\"\\u000a\\u0009\\u0001\\u001f\\u007f\"");
    expect("json UTF-8 passes", fsc_esc_json, "\xe2\x82\xac", "\"\xe2\x82\xac\"");
    expect("json invalid byte", fsc_esc_json, "a\xff", "\"a\\\\xff\"");
    expect("json slash passes", fsc_esc_json, "a/b", "\"a/b\"");
}

int main(void)
{
    test_utf8();
    test_term();
    test_markup();
    test_zeek();
    test_json();
    printf("escape: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
