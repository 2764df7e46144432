/*
 * fuzz_db.c - libFuzzer harness for every command that reads a database (show text and SVG,
 * report text and HTML, export --zeek TSV and JSON, query table/CSV/JSON, the analyze summary);
 * with -DFSC_FUZZ_REPLAY (and replay.c), a program that replays saved inputs.
 *
 * The database is untrusted input.  To reach the read code rather than SQLite's header checks,
 * the input is mostly a script of edits to a real one: on the first call a forged capture of 10
 * mixed connections is analyzed into a template database whose NOT NULL constraints are then
 * removed from the schema text (what anyone with a hex editor or writable_schema can do), so that
 * every column can hold anything.  Each input then starts from a copy of the template and applies
 * up to 48 edits, each "table, row, column, value": NULL, integers (random or the extremes),
 * reals (random, 1e308, Inf), text and blobs of arbitrary bytes, tokens finscope stores, JSON
 * arrays shaped like the stored logs with random members, malformed JSON, or a deleted row.  An
 * input whose first byte is 0xff is instead the raw bytes of the database file (the secondary
 * mode: finscope's own checks and SQLite's).
 *
 * Every read command's renderer then runs in-process on the result, each writing to a memory
 * buffer.  The harness aborts when a terminal output (show, report, query table, summary) holds a
 * raw control character or a C1 control, or when a conn.log line is not 21 TAB-separated fields:
 * what escape.c promises.  ASan and UBSan catch the rest.
 *
 * Long runs (clang; build the core with the same flags, as below):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude \
 *       tests/fuzz/fuzz_db.c $(find src -name '*.c' ! -name main.c) \
 *       -lpcap -lnet -lsqlite3 -lxxhash -lm -o fuzz_db
 *   ./fuzz_db -max_total_time=1800 NEW_DIR tests/fuzz/corpus/db
 * (tests/fuzz/README.md has the figures of the runs made so far.)
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "finscope/analyze.h"
#include "finscope/census.h"
#include "finscope/escape.h"
#include "finscope/export.h"
#include "finscope/flowsel.h"
#include "finscope/forge.h"
#include "finscope/query.h"
#include "finscope/report.h"
#include "finscope/show.h"
#include "finscope/store.h"
#include "finscope/summary.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_EDITS 48
#define MAX_COLS 64
#define MAX_FLOWS_SHOWN 4

/* The template: its bytes, and the columns of each table. */
struct table_def {
    const char *name;
    const char *key; /* selects one row: rowid, or the primary key of a WITHOUT ROWID table */
    char *col[MAX_COLS];
    int ncol;
};

static struct {
    bool ready;
    char dir[64], work[96];
    uint8_t *bytes;
    size_t len;
    struct table_def t[4];
} tpl = {.t = {{"flows", "rowid"},
               {"captures", "rowid"},
               {"skipped", "capture_id, reason"},
               {"held_flows", "rowid"}}};

static void die(const char *what, const char *err)
{
    fprintf(stderr, "fuzz_db: %s: %s\n", what, err ? err : "");
    abort();
}

static int col_row(void *user, int ncol, const char *const *names, const char *const *v)
{
    struct table_def *t = user;

    (void)names;
    if (ncol >= 1 && v[0] && t->ncol < MAX_COLS && !(t->col[t->ncol++] = strdup(v[0])))
        die("init", "out of memory");
    return 0;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;

    if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0 ||
        !(buf = malloc((size_t)n)) || fread(buf, 1, (size_t)n, f) != (size_t)n)
        die("read template", path);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void spill(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
        die("write", path);
}

static void cleanup(void)
{
    char journal[128];

    snprintf(journal, sizeof journal, "%s-journal", tpl.work);
    unlink(journal);
    unlink(tpl.work);
    rmdir(tpl.dir);
}

/*
 * Drop the NOT NULL constraints through the schema text, on a plain SQLite connection: finscope's
 * own connections run in defensive mode, which refuses writable_schema (as it should).
 */
static void loosen(const char *db)
{
    sqlite3 *h = NULL;

    if (sqlite3_open(db, &h) != SQLITE_OK ||
        sqlite3_exec(h,
                     "PRAGMA writable_schema = ON; UPDATE sqlite_master SET sql = replace(sql, "
                     "'NOT NULL', '') WHERE type = 'table';",
                     NULL, NULL, NULL) != SQLITE_OK)
        die("loosen schema", h ? sqlite3_errmsg(h) : "out of memory");
    sqlite3_close(h);
}

/* Forge, analyze, loosen the schema, remember the bytes. */
static void init(void)
{
    char pcap[96], tsv[96], db[96], err[512];
    struct fsc_store *s = NULL;
    const char *tmp = getenv("TMPDIR");

    /* Scratch files in memory where there is a tmpfs: every input writes a database. */
    if (!tmp || !*tmp)
        tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(tpl.dir, sizeof tpl.dir, "%s/fuzz_db.XXXXXX", tmp);
    if (!mkdtemp(tpl.dir))
        die("mkdtemp", tpl.dir);
    atexit(cleanup);
    snprintf(pcap, sizeof pcap, "%s/mix.pcap", tpl.dir);
    snprintf(tsv, sizeof tsv, "%s/mix.tsv", tpl.dir);
    snprintf(db, sizeof db, "%s/template.db", tpl.dir);
    snprintf(tpl.work, sizeof tpl.work, "%s/work.db", tpl.dir);
    if (fsc_forge_mix(10, 7, NULL, pcap, tsv, err, sizeof err) < 0)
        die("forge", err);
    struct fsc_analyze_opts o = {.db_path = db,
                                 .quiet = true,
                                 .linger_us = 10 * FSC_USEC_PER_SEC,
                                 .idle_us = 300 * FSC_USEC_PER_SEC,
                                 .max_flows = 1000};
    const char *paths[] = {pcap};
    if (fsc_analyze(paths, 1, &o) != 0)
        die("analyze", pcap);
    loosen(db);
    if (fsc_store_open(db, false, &s, err, sizeof err) < 0)
        die("reopen template", err);
    /* A live capture's held connections: the template's flows, as held_flows rows. */
    if (fsc_store_query(
            s,
            "INSERT INTO held_flows (capture_id, client_addr, client_port, server_addr, "
            "server_port, first_ts, last_ts, transition_log) SELECT capture_id, "
            "client_addr, client_port, server_addr, server_port, first_ts, last_ts, "
            "transition_log FROM flows LIMIT 4",
            -1, NULL, NULL, err, sizeof err) < 0)
        die("held_flows", err);
    for (int k = 0; k < 4; k++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT name FROM pragma_table_info('%s')", tpl.t[k].name);
        if (fsc_store_query(s, sql, -1, col_row, &tpl.t[k], err, sizeof err) < 0 ||
            tpl.t[k].ncol == 0)
            die("columns", err);
    }
    fsc_store_close(s);
    tpl.bytes = slurp(db, &tpl.len);
    unlink(db);
    unlink(pcap);
    unlink(tsv);
    tpl.ready = true;
}

/* ---- the edit script ---- */

struct script {
    const uint8_t *p;
    size_t n;
};

static uint8_t take(struct script *s)
{
    if (!s->n)
        return 0;
    s->n--;
    return *s->p++;
}

static uint64_t take64(struct script *s)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | take(s);
    return v;
}

/* A growing SQL text. */
struct sql {
    char *p;
    size_t len, cap;
};

static void add(struct sql *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add(struct sql *q, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(q->p + q->len, q->cap - q->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            die("sql", "format");
        if (q->len + (size_t)n < q->cap) {
            q->len += (size_t)n;
            return;
        }
        q->cap = (q->cap + (size_t)n) * 2;
        if (!(q->p = realloc(q->p, q->cap)))
            die("sql", "out of memory");
    }
}

static void add_hex(struct sql *q, struct script *s, size_t n)
{
    add(q, "X'");
    for (size_t i = 0; i < n; i++)
        add(q, "%02x", take(s));
    add(q, "'");
}

/* Strings finscope stores, and strings near them. */
static const char *const tokens[] = {
    "four_way",    "three_way",  "two_way",     "simultaneous",
    "half_closed", "rst",        "refused",     "unanswered",
    "open",        "none",       "client",      "server",
    "both",        "self",       "abort",       "unread_data",
    "other",       "close_wait", "fin_wait_2",  "time_wait",
    "established", "closed",     "listen",      "syn_sent",
    "SF",          "S0",         "REJ",         "RSTO",
    "ShADadFf",    "-",          "(empty)",     "",
    "6",           "4",          "one_sided",   "F.",
    "S",           "R.",         "none",        "\x1b[31m",
    "a\tb\nc",     "<&\"'>",     "\\x41",       "\xc2\x9b",
    "\xff\xfe",    "192.0.2.1",  "2001:db8::1", "close",
};
#define NTOKENS (sizeof tokens / sizeof *tokens)

static const char *const bad_json[] = {
    "[",
    "[1,",
    "{\"a\":",
    "\"str\"",
    "5",
    "null",
    "[]",
    "[[1,2]",
    "{}",
    "[1]",
    "[[],[[]]]",
    "true",
    "[\"x\"]",
    "[[null]]",
    "1e999",
    "[[1e999]]",
    "[[\"client\",\"established\",\"close_wait\",9e99,-1,\"x\"]]",
};
#define NBAD (sizeof bad_json / sizeof *bad_json)

/* A scalar JSON value: a number near what the logs hold, an extreme, a token, null. */
static void json_scalar(struct sql *q, struct script *s)
{
    uint8_t how = take(s);
    switch (how % 7) {
    case 0:
        add(q, "%u", take(s));
        break;
    case 1:
        add(q, "%lld", (long long)take64(s));
        break;
    case 2:
        add(q, "%s",
            (const char *[]){"9223372036854775807", "-9223372036854775808", "1e308", "-1e308",
                             "1767225600000000", "0.5", "-1"}[take(s) % 7]);
        break;
    case 3: {
        const char *t = tokens[take(s) % NTOKENS];
        add(q, "\"");
        for (const char *c = t; *c; c++) /* JSON-escape for the SQL literal's JSON text */
            add(q, (unsigned char)*c < 0x20 || *c == '"' || *c == '\\' ? "\\u%04x" : "%c",
                (unsigned char)*c);
        add(q, "\"");
        break;
    }
    case 4:
        add(q, "null");
        break;
    case 5:
        add(q, "[%u]", take(s));
        break;
    default:
        add(q, "%d", (int)(int8_t)take(s));
    }
}

/* A JSON array of arrays, the shape of transition_log, segment_log and zeek_earlier. */
static void json_log(struct sql *q, struct script *s)
{
    unsigned n = take(s) % 9;
    add(q, "'[");
    for (unsigned i = 0; i < n; i++) {
        unsigned m = take(s) % 11;
        add(q, "%s[", i ? "," : "");
        for (unsigned j = 0; j < m; j++) {
            if (j)
                add(q, ",");
            json_scalar(q, s);
        }
        add(q, "]");
    }
    add(q, "]'");
}

/* One value as an SQL expression. */
static void value(struct sql *q, struct script *s, const struct table_def *t)
{
    uint8_t kind = take(s);
    switch (kind % 11) {
    case 0:
        add(q, "NULL");
        break;
    case 1:
        add(q, "%lld", (long long)take64(s));
        break;
    case 2:
        add(q, "%s",
            (const char *[]){"0", "-1", "1", "(-9223372036854775807 - 1)", "9223372036854775807",
                             "2147483648", "4294967296", "9007199254740993", "65536",
                             "281474976710657"}[take(s) % 10]);
        break;
    case 3: {
        uint64_t bits = take64(s);
        double d;
        memcpy(&d, &bits, sizeof d);
        if (isnan(d))
            add(q, "NULL"); /* SQLite stores NaN as NULL */
        else if (isinf(d))
            add(q, "%s", d > 0 ? "9e999" : "-9e999");
        else
            add(q, "%.17g", d);
        break;
    }
    case 4:
        add(q, "%s",
            (const char *[]){"1e308", "-1e308", "9e999", "-9e999", "0.5", "-0.0", "1e-300",
                             "1767225600.5", "-1767225600.5"}[take(s) % 9]);
        break;
    case 5:
        add(q, "CAST(");
        add_hex(q, s, take(s) % 64);
        add(q, " AS TEXT)");
        break;
    case 6:
        add_hex(q, s, take(s) % 64);
        break;
    case 7: {
        const char *tok = tokens[take(s) % NTOKENS];
        add(q, "CAST(X'");
        for (const char *c = tok; *c; c++)
            add(q, "%02x", (unsigned char)*c);
        add(q, "' AS TEXT)");
        break;
    }
    case 8:
        json_log(q, s);
        break;
    case 9:
        add(q, "'%s'", bad_json[take(s) % NBAD]);
        break;
    default:
        /* another column of the same row */
        add(q, "\"%s\"", t->col[take(s) % t->ncol]);
    }
}

/* Apply the edits; errors (a text id, a duplicate key) just leave the row as it was. */
static void edit(struct fsc_store *st, struct script *s)
{
    struct sql q = {malloc(256), 0, 256};
    char err[256];

    if (!q.p)
        die("sql", "out of memory");
    /* One transaction without syncs: the copy is scratch, and speed is executions. */
    fsc_store_query(st, "PRAGMA synchronous = OFF", -1, NULL, NULL, err, sizeof err);
    fsc_store_query(st, "PRAGMA journal_mode = MEMORY", -1, NULL, NULL, err, sizeof err);
    fsc_store_query(st, "BEGIN", -1, NULL, NULL, err, sizeof err);
    for (int e = 0; e < MAX_EDITS && s->n > 0; e++) {
        uint8_t which = take(s); /* held_flows from 0xfc: older inputs keep their meaning */
        const struct table_def *t = &tpl.t[which >= 0xfc ? 3 : which % 3];
        uint8_t row = take(s), col = take(s);

        q.len = 0;
        if (col >= 0xf8) {
            add(&q, "DELETE FROM %s", t->name);
        } else {
            add(&q, "UPDATE %s SET \"%s\" = ", t->name, t->col[col % t->ncol]);
            value(&q, s, t);
        }
        if (row < 0xf0)
            add(&q, " WHERE (%s) IN (SELECT %s FROM %s LIMIT 1 OFFSET %u)", t->key, t->key, t->name,
                row % 24);
        fsc_store_query(st, q.p, -1, NULL, NULL, err, sizeof err);
    }
    fsc_store_query(st, "COMMIT", -1, NULL, NULL, err, sizeof err);
    free(q.p);
}

/* ---- the readers, and what their output must be ---- */

static int id_row(void *user, int ncol, const char *const *names, const char *const *v)
{
    int64_t *ids = user;

    (void)names;
    if (ids[0] >= MAX_FLOWS_SHOWN)
        return 1;
    if (ncol >= 1 && v[0])
        ids[1 + ids[0]++] = strtoll(v[0], NULL, 10);
    return 0;
}

/* Text for a terminal: no raw C0 control but LF, no DEL, no C1 control, no bidi override. */
static void check_terminal(const char *what, const char *p, size_t n)
{
    const unsigned char *u = (const unsigned char *)p;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = fsc_utf8_seq(u + i, n - i, &cp);
        if (l == 0 || (cp < 0x20 && cp != '\n') || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||
            (cp >= 0x202a && cp <= 0x202e)) {
            fprintf(stderr, "fuzz_db: %s: raw byte 0x%02x at %zu\n", what, u[i], i);
            abort();
        }
        i += l;
    }
}

/* A conn.log: every record line has exactly as many fields as its #fields line names (21 for
 * Zeek's, 36 with finscope's). */
static void check_tsv(const char *p, size_t n)
{
    const char *end = p + n;
    int want = 20; /* tabs */
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            fprintf(stderr, "fuzz_db: conn.log: unterminated line\n");
            abort();
        }
        int tabs = 0;
        for (const char *c = p; c < nl; c++)
            tabs += *c == '\t';
        if (!strncmp(p, "#fields\t", 8)) {
            want = tabs - 1;
        } else if (*p != '#') {
            if (tabs != want) {
                fprintf(stderr, "fuzz_db: conn.log: %d fields: %.*s\n", tabs + 1, (int)(nl - p), p);
                abort();
            }
        }
        p = nl + 1;
    }
}

enum check { CHECK_NONE, CHECK_TERMINAL, CHECK_TSV };

/* Run one renderer into a memory buffer and check what it wrote. */
#define RENDER(what, check, call)                                                                  \
    do {                                                                                           \
        char *buf_ = NULL, err[512];                                                               \
        size_t len_ = 0;                                                                           \
        FILE *out = open_memstream(&buf_, &len_);                                                  \
        if (!out)                                                                                  \
            die("open_memstream", what);                                                           \
        (void)(call);                                                                              \
        fclose(out);                                                                               \
        if ((check) == CHECK_TERMINAL)                                                             \
            check_terminal(what, buf_, len_);                                                      \
        else if ((check) == CHECK_TSV)                                                             \
            check_tsv(buf_, len_);                                                                 \
        free(buf_);                                                                                \
    } while (0)

/* The census (finscope states, report): every pair's count at the first and last packet. */
static void census(struct fsc_store *s)
{
    struct fsc_census_opts o;
    struct fsc_census *c = NULL;
    char err[256];
    int64_t sum = 0;

    fsc_census_defaults(&o);
    if (fsc_census_load(s, &o, "host", &c, err, sizeof err) < 0)
        return;
    for (size_t i = 0; i < fsc_census_npairs(c); i++) {
        const struct fsc_census_pair *p = fsc_census_pair(c, i);
        sum += fsc_census_count_at(c, i, fsc_census_start(c)) +
               fsc_census_count_at(c, i, fsc_census_end(c)) + p->peak + p->at_end;
        if (!fsc_census_key(c, p->key))
            die("census", "a pair without its key");
    }
    fsc_census_free(c);
    if (sum == INT64_MIN) /* keep the counts computed */
        die("census", "impossible sum");
}

/* flows and show's selection: filters whose SQL compares stored values as text. */
static void flow_selection(struct fsc_store *s)
{
    static const struct {
        int opt;
        const char *arg;
    } sel[] = {{FSC_FLOWSEL_KIND, "rst"},
               {FSC_FLOWSEL_ANOMALY, "data_after_rst"},
               {FSC_FLOWSEL_SERVER, "10.0.0.2:80"},
               {FSC_FLOWSEL_CLIENT, "[::1]:1"},
               {FSC_FLOWSEL_CAPTURE, "1"}};
    struct fsc_flowsel f;
    char err[256];
    int64_t *ids = NULL;
    size_t n = 0;

    for (size_t k = 0; k < sizeof sel / sizeof *sel; k++) {
        fsc_flowsel_init(&f);
        if (fsc_flowsel_option(&f, sel[k].opt, sel[k].arg, err, sizeof err) < 0)
            die("flowsel", err);
        if (fsc_flowsel_ids(s, &f, 8, &ids, &n, err, sizeof err) == 0)
            free(ids);
        ids = NULL;
    }
}

static void read_all(struct fsc_store *s)
{
    static const char *const queries[] = {
        "SELECT * FROM captures; SELECT * FROM skipped; SELECT * FROM flows",
        "SELECT * FROM transitions; SELECT * FROM segments",
        "SELECT * FROM close_kinds; SELECT * FROM close_wait_suspects; SELECT * FROM state_dwell; "
        "SELECT * FROM state_intervals",
    };
    int64_t ids[1 + MAX_FLOWS_SHOWN] = {0};
    char qerr[256];

    fsc_store_query(s, "SELECT id FROM flows ORDER BY id", -1, id_row, ids, qerr, sizeof qerr);
    for (int k = 0; k < ids[0]; k++) {
        RENDER("show", CHECK_TERMINAL, fsc_show_text(s, ids[1 + k], out, err, sizeof err));
        RENDER("show where", CHECK_TERMINAL,
               fsc_show_where(s, ids[1 + k], 0, out, err, sizeof err));
        RENDER("show --width", CHECK_TERMINAL,
               fsc_show_text_width(s, ids[1 + k], 40 + 20 * k, out, err, sizeof err));
        RENDER("show --svg", CHECK_NONE, fsc_show_svg(s, ids[1 + k], true, out, err, sizeof err));
    }
    /* Each renderer once on the whole file; the per-capture paths of export once more.  CSV
     * and JSON share the table's queries: one statement list each is enough (parsing SQL is a
     * third of the time per input). */
    RENDER("summary", CHECK_TERMINAL, fsc_summary_print(s, 1, out, err, sizeof err));
    RENDER("report", CHECK_TERMINAL, fsc_report_write(s, "x.db", -1, false, out, err, sizeof err));
    RENDER("report --html", CHECK_NONE,
           fsc_report_write(s, "x.db", -1, true, out, err, sizeof err));
    RENDER("export", CHECK_TSV, fsc_export_zeek_conn(s, -1, false, out, err, sizeof err));
    RENDER("export", CHECK_TSV, fsc_export_zeek_conn(s, 1, false, out, err, sizeof err));
    RENDER("export --json", CHECK_NONE, fsc_export_zeek_conn(s, -1, true, out, err, sizeof err));
    RENDER("export finscope", CHECK_TSV,
           fsc_export_zeek(s, -1, FSC_EXPORT_FINSCOPE, out, err, sizeof err));
    RENDER("export finscope --json", CHECK_NONE,
           fsc_export_zeek(s, -1, FSC_EXPORT_FINSCOPE | FSC_EXPORT_JSON, out, err, sizeof err));
    RENDER("report --json", CHECK_NONE,
           fsc_report_write(s, "x.db", -1, FSC_REPORT_JSON, out, err, sizeof err));
    static const int64_t caps[] = {1, 2};
    RENDER("summary total", CHECK_TERMINAL,
           fsc_summary_print_total(s, caps, 2, out, err, sizeof err));
    RENDER("summary --json", CHECK_NONE,
           fsc_summary_json(s, caps, 2, NULL, 0, out, err, sizeof err));
    flow_selection(s);
    for (size_t k = 0; k < sizeof queries / sizeof *queries; k++)
        RENDER("query", CHECK_TERMINAL,
               fsc_query_run(s, queries[k], FSC_QUERY_TABLE, k == 1, out, err, sizeof err));
    census(s);
    RENDER("query --csv", CHECK_NONE,
           fsc_query_run(s, queries[0], FSC_QUERY_CSV, false, out, err, sizeof err));
    RENDER("query --json", CHECK_NONE,
           fsc_query_run(s, queries[1], FSC_QUERY_JSON, false, out, err, sizeof err));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fsc_store *s = NULL;
    char err[512], journal[128];

    if (!tpl.ready)
        init();
    snprintf(journal, sizeof journal, "%s-journal", tpl.work);
    unlink(journal);
    if (size > 0 && data[0] == 0xff) {
        spill(tpl.work, data + 1, size - 1); /* raw file bytes */
    } else {
        struct script sc = {data, size};
        spill(tpl.work, tpl.bytes, tpl.len);
        if (fsc_store_open(tpl.work, false, &s, err, sizeof err) < 0)
            die("open copy", err);
        edit(s, &sc);
        fsc_store_close(s);
        s = NULL;
    }
    /* The commands open read-only; so does this. */
    if (fsc_store_open(tpl.work, true, &s, err, sizeof err) == 0) {
        read_all(s);
        fsc_store_close(s);
    }
    return 0;
}
