/* finscope/escape.h - one home for escaping stored text on its way out: terminal, Zeek TSV, JSON,
 * XML/SVG/HTML.  Every string read from a database is untrusted and goes through one of these. */
#ifndef FINSCOPE_ESCAPE_H
#define FINSCOPE_ESCAPE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Length (1..4) of the well-formed UTF-8 sequence that starts at s, with its code point in *cp;
 * 0 when the byte at s does not start one (RFC 3629: no overlong forms, no surrogates, nothing
 * above U+10FFFF, no sequence cut short by the end of the n bytes).  n must be >= 1.
 */
size_t fsc_utf8_seq(const unsigned char *s, size_t n, uint32_t *cp);

/*
 * Text for a person's terminal (show, report, query tables, the analyze summary), in the
 * spirit of `ls -b`: printable ASCII and well-formed UTF-8 pass unchanged; a backslash becomes
 * "\\"; each byte of a C0 control, DEL, a C1 control (U+0080..U+009F), a bidirectional or line
 * separator format character (U+200E, U+200F, U+2028..U+202E, U+2066..U+2069) or of anything
 * that is not well-formed UTF-8 becomes "\xHH" (lowercase hex).  So no stored byte can move the
 * cursor, recolour or reorder the screen, and distinct inputs stay distinct.  NULL writes "".
 */
void fsc_esc_term(FILE *out, const char *s);

/*
 * The same escaping into buf (len bytes, len >= 1; always NUL-terminated).  The output is cut
 * only between whole characters or whole escapes, never inside one.  Returns the length the
 * whole escaped text needs (without the NUL), as snprintf does.
 */
size_t fsc_esc_term_buf(char *buf, size_t len, const char *s);

/*
 * Text or attribute value in XML 1.0, SVG and HTML: the terminal escaping above (so the
 * characters XML 1.0 forbids never appear, and the text stays readable), then & < > " ' as
 * &amp; &lt; &gt; &quot; &#39;.  Also U+FFFE and U+FFFF (not XML characters) become "\xHH".
 * NULL writes "".
 */
void fsc_esc_markup(FILE *out, const char *s);

/*
 * One field of a Zeek TSV log, by the rules of Zeek's ASCII writer with its defaults
 * (separator TAB, LogAscii::enable_utf_8 = T): NULL (unset) is "-"; "" is "(empty)"; a value
 * that is exactly "-" or "(empty)" has its first byte escaped ("\x2d", "\x28empty)"); a
 * backslash is "\x5c"; every byte that is not printable ASCII and not part of a well-formed
 * UTF-8 multi-byte character (TAB, LF, ESC, DEL, stray bytes) is "\xHH".
 */
void fsc_esc_zeek_tsv(FILE *out, const char *s);

/*
 * A JSON string (RFC 8259) with its quotes: '"' and '\' are backslash-escaped, control
 * characters (U+0000..U+001F) and DEL are \u00XX; well-formed UTF-8 passes unchanged; a byte
 * that is not part of well-formed UTF-8 becomes the four characters \xHH (written "\\xHH", as
 * Zeek's JSON writer does), so the output is always valid UTF-8 and valid JSON.  NULL writes
 * "".
 */
void fsc_esc_json(FILE *out, const char *s);

#endif
