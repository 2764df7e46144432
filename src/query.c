/* query.c - `finscope query`: SQL on the database, read-only, as a table, CSV or JSON. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "finscope/analyze.h"
#include "finscope/escape.h"
#include "finscope/query.h"
#include "finscope/store.h"

#define ERRLEN 1024
#define TTY_MAX_WIDTH 40 /* characters per column on a terminal; longer values end in "..." */

static const char usage[] =
    "usage: finscope query [DB] [\"SQL\"] [--csv | --json]\n"
    "\n"
    "Runs SQL on a finscope database (default: finscope.db) opened read-only and prints the\n"
    "result: an aligned table (numbers right-aligned; on a terminal, values wider than 40\n"
    "characters are cut with an ellipsis), CSV (RFC 4180 quoting, LF line ends) with --csv,\n"
    "or one JSON array of objects with --json (numbers as numbers, NULL as null).  Several\n"
    "statements separated by ';' run in order.  SQL \"-\" reads the SQL from standard input.\n"
    "Without SQL it lists the tables and views with their columns, and example queries\n"
    "(docs/schema.md has them all).\n"
    "\n"
    "The table is streamed, so a result of any size takes little memory: the column widths\n"
    "come from the first 1000 rows (fewer if they hold more than 8 MiB of text); a later value\n"
    "wider than its column widens that column from its row on (never cut), and how many did\n"
    "is said on stderr at the end.  In the table, control characters, backslashes and\n"
    "bytes that are not UTF-8 are shown escaped (\\xHH, \\\\), as ls -b does; --csv writes\n"
    "values as stored, --json escapes them as JSON requires.\n"
    "\n"
    "Nothing typed here can change the database: the file is opened read-only, and statements\n"
    "that could write, ATTACH/DETACH and PRAGMA assignments are refused before anything runs.\n"
    "An SQL error prints SQLite's message and exits with status 1.\n"
    "\n"
    "options:\n"
    "      --csv       CSV with a header line\n"
    "      --json      one JSON array of objects\n"
    "  -h, --help      this text\n"
    "\n"
    "examples:\n"
    "  finscope query\n"
    "  finscope query \"SELECT * FROM close_kinds\"\n"
    "  finscope query web.db \"SELECT * FROM close_wait_suspects LIMIT 10\"\n"
    "  finscope query --csv \"SELECT id, close_kind, closer FROM flows\" > flows.csv\n"
    "  finscope query --json \"SELECT * FROM transitions WHERE flow_id = 42\" | jq .\n";

static const char examples[] =
    "example queries:\n"
    "  -- how did connections end?\n"
    "  SELECT * FROM close_kinds;\n"
    "  -- which servers leak CLOSE_WAIT?\n"
    "  SELECT * FROM close_wait_suspects LIMIT 10;\n"
    "  -- RST causes, and who closes first\n"
    "  SELECT * FROM rst_causes; SELECT * FROM closers;\n"
    "  -- the state changes of one connection (then: finscope show FLOW_ID)\n"
    "  SELECT ord, endpoint, from_state, to_state, packet, evidence\n"
    "    FROM transitions WHERE flow_id = 1 ORDER BY ord;\n"
    "  -- server CLOSE_WAIT dwell per server\n"
    "  SELECT server_addr, server_port, avg(dwell_s), max(dwell_s)\n"
    "    FROM state_dwell JOIN flows ON flows.id = state_dwell.flow_id\n"
    "    WHERE endpoint = 'server' AND state = 'close_wait' AND dwell_s IS NOT NULL\n"
    "    GROUP BY 1, 2 ORDER BY 4 DESC;\n";

/* One result cell kept while the table's column widths are measured. */
struct cell {
    char *text; /* escaped for the terminal; NULL for SQL NULL */
    int type;
};

struct query_run {
    enum fsc_query_mode mode;
    bool tty;
    FILE *out;
    int statements; /* statements with columns so far */
    int ncol;
    char **names; /* the current statement's column names (table: escaped) */
    /* table mode: the rows held until the widths are known, then the widths */
    struct cell *cells;
    size_t nrows, cap, held_bytes;
    size_t *width;
    bool *numeric;
    bool streaming;     /* widths fixed, rows written as they come */
    uint64_t rows;      /* rows of the current statement */
    uint64_t overflows; /* streamed values that widened their column */
    uint64_t probed;    /* rows the widths were measured on (the last statement that overflowed) */
    bool oom;
    /* json mode */
    bool json_any;
};

/* Display width of UTF-8 text: code points (continuation bytes do not count). */
static size_t u8_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

/* Byte length of the first n code points of s. */
static size_t u8_prefix(const char *s, size_t n)
{
    size_t i = 0, cp = 0;
    while (s[i]) {
        if (((unsigned char)s[i] & 0xc0) != 0x80) {
            if (cp == n)
                break;
            cp++;
        }
        i++;
    }
    return i;
}

static bool is_number(int type)
{
    return type == FSC_VALUE_INTEGER || type == FSC_VALUE_FLOAT;
}

static void names_free(struct query_run *r)
{
    for (int c = 0; c < r->ncol && r->names; c++)
        free(r->names[c]);
    free(r->names);
    r->names = NULL;
    r->ncol = 0;
}

/* Keep a copy of the statement's column names (escaped for the terminal when esc). */
static int names_keep(struct query_run *r, int ncol, const char *const *names, bool esc);

/* ---- table ---- */

static void table_free(struct query_run *r)
{
    for (size_t i = 0; i < r->nrows * (size_t)r->ncol; i++)
        free(r->cells[i].text);
    free(r->cells);
    free(r->width);
    free(r->numeric);
    r->cells = NULL;
    r->width = NULL;
    r->numeric = NULL;
    r->nrows = r->cap = r->held_bytes = 0;
    r->streaming = false;
    r->rows = 0;
    names_free(r);
}

/* A value as the table shows it: escaped for a terminal (escape.h), so that no stored byte can
 * act on the terminal and the widths count what is seen.  Heap copy, or NULL. */
static char *table_text(const char *v)
{
    char one[1];
    size_t need = fsc_esc_term_buf(one, sizeof one, v ? v : "");
    char *t = malloc(need + 1);
    if (t)
        fsc_esc_term_buf(t, need + 1, v ? v : "");
    return t;
}

static int names_keep(struct query_run *r, int ncol, const char *const *names, bool esc)
{
    r->names = calloc((size_t)ncol, sizeof *r->names);
    if (!r->names) {
        r->oom = true;
        return 1;
    }
    r->ncol = ncol;
    for (int c = 0; c < ncol; c++) {
        const char *n = names[c] ? names[c] : "";
        if (!(r->names[c] = esc ? table_text(n) : strdup(n)))
            r->oom = true;
    }
    return r->oom;
}

static size_t shown_width(const struct query_run *r, const char *t)
{
    size_t w = u8_width(t);
    return r->tty && w > TTY_MAX_WIDTH ? TTY_MAX_WIDTH : w;
}

static void put_cell(const struct query_run *r, const char *t, size_t width, bool right)
{
    size_t w = u8_width(t), len = strlen(t);
    bool cut = r->tty && w > TTY_MAX_WIDTH;
    int pad;

    if (cut) {
        len = u8_prefix(t, TTY_MAX_WIDTH - 1);
        w = TTY_MAX_WIDTH;
    }
    pad = width > w ? (int)(width - w) : 0;
    if (right)
        fprintf(r->out, "%*s", pad, "");
    fwrite(t, 1, len, r->out);
    if (cut)
        fputs("\xe2\x80\xa6", r->out); /* U+2026 HORIZONTAL ELLIPSIS */
    if (!right)
        fprintf(r->out, "%*s", pad, "");
}

static int table_begin(void *user, int ncol, const char *const *names)
{
    struct query_run *r = user;

    table_free(r);
    if (names_keep(r, ncol, names, true))
        return 1;
    r->width = calloc((size_t)ncol, sizeof *r->width);
    r->numeric = calloc((size_t)ncol, sizeof *r->numeric);
    if (!r->width || !r->numeric)
        r->oom = true;
    return r->oom;
}

/* One row of cells, aligned to the widths (the last column, left-aligned, is not padded: no
 * trailing blanks).  Counts streamed values that do not fit their column. */
static void table_line(struct query_run *r, const struct cell *row)
{
    for (int c = 0; c < r->ncol; c++) {
        const char *t = row[c].text ? row[c].text : "";
        fputs(c ? "  " : "", r->out);
        if (r->streaming && shown_width(r, t) > r->width[c]) {
            r->width[c] = shown_width(r, t); /* wider from this row on: a step, not a jagged edge */
            r->overflows++;
        }
        if (c == r->ncol - 1 && !is_number(row[c].type))
            put_cell(r, t, 0, false);
        else
            put_cell(r, t, r->width[c], is_number(row[c].type));
    }
    fputc('\n', r->out);
}

/* Fix the widths from the rows held so far, write the header, the rule and those rows, and
 * switch to streaming. */
static void table_flush(struct query_run *r)
{
    int ncol = r->ncol;

    for (int c = 0; c < ncol; c++) {
        bool any = false, all = true;
        r->width[c] = shown_width(r, r->names[c]);
        for (size_t i = 0; i < r->nrows; i++) {
            const struct cell *x = &r->cells[i * (size_t)ncol + (size_t)c];
            if (!x->text)
                continue;
            size_t w = shown_width(r, x->text);
            if (w > r->width[c])
                r->width[c] = w;
            any = true;
            all = all && is_number(x->type);
        }
        r->numeric[c] = any && all;
    }
    if (r->statements++ > 0)
        fputc('\n', r->out);
    for (int c = 0; c < ncol; c++) {
        fputs(c ? "  " : "", r->out);
        put_cell(r, r->names[c], c == ncol - 1 && !r->numeric[c] ? 0 : r->width[c], r->numeric[c]);
    }
    fputc('\n', r->out);
    for (int c = 0; c < ncol; c++) {
        fputs(c ? "  " : "", r->out);
        for (size_t k = 0; k < r->width[c]; k++)
            fputc('-', r->out);
    }
    fputc('\n', r->out);
    for (size_t i = 0; i < r->nrows; i++) {
        struct cell *row = r->cells + i * (size_t)ncol;
        table_line(r, row);
        for (int c = 0; c < ncol; c++)
            free(row[c].text);
    }
    free(r->cells);
    r->cells = NULL;
    r->probed = r->nrows;
    r->nrows = r->cap = r->held_bytes = 0;
    r->streaming = true;
}

static int table_row(void *user, int ncol, const char *const *values, const int *types)
{
    struct query_run *r = user;
    struct cell *row;

    if (!r->streaming && r->nrows == r->cap) {
        size_t ncap = r->cap ? 2 * r->cap : 64;
        struct cell *g = realloc(r->cells, ncap * (size_t)ncol * sizeof *g);
        if (!g) {
            r->oom = true;
            return 1;
        }
        r->cells = g;
        r->cap = ncap;
    }
    row = r->streaming ? calloc((size_t)ncol, sizeof *row) : r->cells + r->nrows * (size_t)ncol;
    if (!row) {
        r->oom = true;
        return 1;
    }
    for (int c = 0; c < ncol; c++) {
        row[c].type = types[c];
        row[c].text = values[c] ? table_text(values[c]) : NULL;
        if (values[c] && !row[c].text)
            r->oom = true;
        else if (row[c].text)
            r->held_bytes += strlen(row[c].text) + 1;
    }
    r->rows++;
    if (r->streaming) {
        table_line(r, row);
        for (int c = 0; c < ncol; c++)
            free(row[c].text);
        free(row);
    } else {
        r->nrows++;
        if (r->nrows >= FSC_QUERY_TABLE_ROWS || r->held_bytes >= FSC_QUERY_TABLE_BYTES)
            table_flush(r);
    }
    return r->oom || ferror(r->out);
}

static int table_end(void *user, int ncol)
{
    struct query_run *r = user;

    (void)ncol;
    if (!r->streaming)
        table_flush(r);
    if (r->tty)
        fprintf(r->out, "(%" PRIu64 " row%s)\n", r->rows, r->rows == 1 ? "" : "s");
    table_free(r);
    return ferror(r->out) ? 1 : 0;
}

/* ---- CSV (RFC 4180 quoting; LF line ends, so that $(...) and line tools see no CR) ---- */

static void csv_field(FILE *out, const char *v)
{
    if (!v)
        return;
    if (!strpbrk(v, ",\"\r\n") && v[0] != ' ' && (v[0] == '\0' || v[strlen(v) - 1] != ' ')) {
        fputs(v, out);
        return;
    }
    fputc('"', out);
    for (; *v; v++) {
        if (*v == '"')
            fputc('"', out);
        fputc(*v, out);
    }
    fputc('"', out);
}

static void csv_line(FILE *out, int ncol, const char *const *v)
{
    for (int c = 0; c < ncol; c++) {
        fputs(c ? "," : "", out);
        csv_field(out, v[c]);
    }
    fputc('\n', out);
}

static int csv_begin(void *user, int ncol, const char *const *names)
{
    struct query_run *r = user;

    if (r->statements++ > 0)
        fputc('\n', r->out);
    csv_line(r->out, ncol, names);
    return 0;
}

static int csv_row(void *user, int ncol, const char *const *values, const int *types)
{
    struct query_run *r = user;

    (void)types;
    csv_line(r->out, ncol, values);
    return ferror(r->out) ? 1 : 0;
}

/* ---- JSON ---- */

/* Whether SQLite's text of a number is also a JSON number (not "Inf", "NaN", "-Inf"). */
static bool json_number_text(const char *v)
{
    const char *p = v;
    if (*p == '-')
        p++;
    if (*p < '0' || *p > '9')
        return false;
    if (*p == '0' && p[1] >= '0' && p[1] <= '9')
        return false;
    return strspn(p, "0123456789.eE+-") == strlen(p);
}

static int json_begin(void *user, int ncol, const char *const *names)
{
    struct query_run *r = user;

    names_free(r);
    return names_keep(r, ncol, names, false);
}

static int json_row(void *user, int ncol, const char *const *values, const int *types)
{
    struct query_run *r = user;

    fputs(r->json_any ? ",\n{" : "\n{", r->out);
    r->json_any = true;
    for (int c = 0; c < ncol; c++) {
        fputs(c ? ", " : "", r->out);
        fsc_esc_json(r->out, c < r->ncol ? r->names[c] : "");
        fputs(": ", r->out);
        if (!values[c])
            fputs("null", r->out);
        else if (is_number(types[c]))
            fputs(json_number_text(values[c]) ? values[c] : "null", r->out);
        else
            fsc_esc_json(r->out, values[c]);
    }
    fputc('}', r->out);
    return ferror(r->out) ? 1 : 0;
}

struct fsc_query_writer {
    struct query_run r;
    const char *who;
};

struct fsc_query_writer *fsc_query_writer_new(enum fsc_query_mode mode, bool tty, FILE *out,
                                              const char *who)
{
    struct fsc_query_writer *w = calloc(1, sizeof *w);

    if (!w)
        return NULL;
    w->r = (struct query_run){.mode = mode, .tty = tty, .out = out};
    w->who = who;
    if (mode == FSC_QUERY_JSON)
        fputc('[', out);
    return w;
}

int fsc_query_writer_begin(struct fsc_query_writer *w, int ncol, const char *const *names)
{
    switch (w->r.mode) {
    case FSC_QUERY_TABLE:
        return table_begin(&w->r, ncol, names);
    case FSC_QUERY_CSV:
        return csv_begin(&w->r, ncol, names);
    case FSC_QUERY_JSON:
        return json_begin(&w->r, ncol, names);
    }
    return 1;
}

int fsc_query_writer_row(struct fsc_query_writer *w, int ncol, const char *const *values,
                         const int *types)
{
    switch (w->r.mode) {
    case FSC_QUERY_TABLE:
        return table_row(&w->r, ncol, values, types);
    case FSC_QUERY_CSV:
        return csv_row(&w->r, ncol, values, types);
    case FSC_QUERY_JSON:
        return json_row(&w->r, ncol, values, types);
    }
    return 1;
}

/* fsc_store_user_fn's end: only the table has something to finish per statement. */
static int writer_stmt_end(void *user, int ncol)
{
    struct fsc_query_writer *w = user;
    return w->r.mode == FSC_QUERY_TABLE ? table_end(&w->r, ncol) : 0;
}

int fsc_query_writer_end(struct fsc_query_writer *w, int rc, char *err, size_t errlen)
{
    struct query_run *r = &w->r;

    if (r->mode == FSC_QUERY_JSON)
        fputs(r->json_any ? "\n]\n" : "]\n", r->out);
    table_free(r);
    names_free(r);
    if (r->oom && rc == 0) {
        fsc_seterr(err, errlen, "out of memory");
        rc = -1;
    }
    if (rc == 0 && r->overflows > 0) {
        /* Said on stderr so the table on stdout stays as it is. */
        fflush(r->out);
        fprintf(stderr,
                "%s: the table is streamed, its column widths measured on the first "
                "%" PRIu64 " rows; %" PRIu64 " later value%s widened %s column from %s row on\n",
                w->who, r->probed, r->overflows, r->overflows == 1 ? "" : "s",
                r->overflows == 1 ? "its" : "their", r->overflows == 1 ? "its" : "their");
    }
    if (rc == 0 && (fflush(r->out) != 0 || ferror(r->out))) {
        fsc_seterr(err, errlen, "write error");
        rc = -1;
    }
    free(w);
    return rc;
}

static int writer_begin_fn(void *user, int ncol, const char *const *names)
{
    return fsc_query_writer_begin(user, ncol, names);
}

static int writer_row_fn(void *user, int ncol, const char *const *values, const int *types)
{
    return fsc_query_writer_row(user, ncol, values, types);
}

int fsc_query_run(struct fsc_store *s, const char *sql, enum fsc_query_mode mode, bool tty,
                  FILE *out, char *err, size_t errlen)
{
    struct fsc_query_writer *w = fsc_query_writer_new(mode, tty, out, "finscope query");
    struct fsc_store_user_fn fn = {writer_begin_fn, writer_row_fn, writer_stmt_end};

    if (!w) {
        fsc_seterr(err, errlen, "out of memory");
        return -1;
    }
    int rc = fsc_store_query_user(s, sql, &fn, w, err, errlen);
    return fsc_query_writer_end(w, rc, err, errlen);
}

/* ---- listing (no SQL) ---- */

static int list_row(void *user, int ncol, const char *const *names, const char *const *v)
{
    FILE *out = user;
    const char *cols = v[2] ? v[2] : "";
    size_t col = 0;

    (void)names;
    if (ncol < 3)
        return 1;
    fprintf(out, "  %-5s ", v[0] ? v[0] : "");
    fsc_esc_term(out, v[1]);
    fputc('\n', out);
    /* The columns, wrapped at 92 characters and indented under the name. */
    fputs("        ", out);
    col = 8;
    while (*cols) {
        size_t n = strcspn(cols, ",");
        if (col + n > 92 && col > 8) {
            fputs("\n        ", out);
            col = 8;
        }
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(n < 255 ? n : 255), cols);
        fsc_esc_term(out, name); /* a foreign database names its columns as it likes */
        col += n;
        cols += n;
        if (*cols == ',') {
            fputs(", ", out);
            col += 2;
            cols++;
        }
    }
    fputc('\n', out);
    return 0;
}

static int list_schema(struct fsc_store *s, const char *db)
{
    static const char sql[] =
        "SELECT m.type, m.name, (SELECT group_concat(name, ',') FROM pragma_table_info(m.name)) "
        "FROM sqlite_master AS m WHERE m.type IN ('table', 'view') AND m.name NOT LIKE "
        "'sqlite_%' ORDER BY m.type, m.rowid";
    char err[ERRLEN];

    fsc_esc_term(stdout, db);
    printf(": tables and views (docs/schema.md explains every column)\n");
    if (fsc_store_query(s, sql, -1, list_row, stdout, err, sizeof err) < 0) {
        fprintf(stderr, "finscope query: %s\n", err);
        return 1;
    }
    printf("\n%s\nrun: finscope query %s\"SQL\"\n", examples,
           strcmp(db, "finscope.db") ? "DB " : "");
    return 0;
}

/* ---- command ---- */

/* All of standard input as a string, or NULL. */
static char *read_stdin(void)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);

    while (buf) {
        size_t n = fread(buf + len, 1, cap - len - 1, stdin);
        len += n;
        if (n == 0)
            break;
        if (cap - len - 1 == 0) {
            char *g = realloc(buf, cap * 2);
            if (!g) {
                free(buf);
                return NULL;
            }
            buf = g;
            cap *= 2;
        }
    }
    if (buf)
        buf[len] = '\0';
    return buf;
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int fsc_cmd_query(int argc, char **argv)
{
    enum { OPT_CSV = 256, OPT_JSON };
    static const struct option longopts[] = {
        {"csv", no_argument, NULL, OPT_CSV},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    enum fsc_query_mode mode = FSC_QUERY_TABLE;
    const char *db = "finscope.db", *sql = NULL;
    char err[ERRLEN], *input = NULL;
    int c;

    optind = 1;
    /* '+'-less getopt permutes, so options may follow the SQL; "-" stays a positional. */
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_CSV:
            mode = FSC_QUERY_CSV;
            break;
        case OPT_JSON:
            mode = FSC_QUERY_JSON;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs("try 'finscope query --help'\n", stderr);
            return 2;
        }
    }
    int npos = argc - optind;
    if (npos > 2) {
        fprintf(stderr, "finscope query: too many arguments ('%s'); quote the SQL\n",
                argv[optind + 2]);
        return 2;
    }
    if (npos == 2) {
        db = argv[optind];
        sql = argv[optind + 1];
    } else if (npos == 1) {
        /* One argument: a database file if one exists by that name, else the SQL. */
        if (is_file(argv[optind]))
            db = argv[optind];
        else
            sql = argv[optind];
    }
    if (sql && !strcmp(sql, "-")) {
        if (!(input = read_stdin())) {
            fprintf(stderr, "finscope query: cannot read SQL from standard input\n");
            return 1;
        }
        sql = input;
    }

    struct fsc_store *s = NULL;
    if (fsc_store_open(db, true, &s, err, sizeof err) < 0) {
        fprintf(stderr, "finscope query: %s\n", err);
        free(input);
        return 1;
    }
    if (!sql) {
        int rc = list_schema(s, db);
        fsc_store_close(s);
        return rc;
    }

    int rc = fsc_query_run(s, sql, mode, isatty(STDOUT_FILENO), stdout, err, sizeof err);
    fsc_store_close(s);
    free(input);
    if (rc < 0) {
        fflush(stdout);
        fprintf(stderr, "finscope query: %s\n", err);
        return 1;
    }
    return 0;
}
