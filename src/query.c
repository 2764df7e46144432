/* query.c - `finscope query`: SQL on the database, read-only, as a table, CSV or JSON. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "finscope/analyze.h"
#include "finscope/store.h"

#define ERRLEN 1024
#define TTY_MAX_WIDTH 40 /* characters per column on a terminal; longer values end in "..." */

static const char usage[] =
    "usage: finscope query [DB] [\"SQL\"] [--csv | --json]\n"
    "\n"
    "Runs SQL on a finscope database (default: finscope.db) opened read-only and prints the\n"
    "result: an aligned table (numbers right-aligned; on a terminal, values wider than 40\n"
    "characters are cut with an ellipsis), CSV (RFC 4180) with --csv, or one JSON array of\n"
    "objects with --json (numbers as numbers, NULL as null).  Several statements separated by\n"
    "';' run in order.  SQL \"-\" reads the SQL from standard input.  Without SQL it lists the\n"
    "tables and views with their columns, and example queries (docs/schema.md has them all).\n"
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

enum out_mode { OUT_TABLE, OUT_CSV, OUT_JSON };

/* One result cell kept until the statement's last row (the table needs every width first). */
struct cell {
    char *text; /* NULL for SQL NULL */
    int type;
};

struct query_run {
    enum out_mode mode;
    bool tty;
    FILE *out;
    int statements; /* statements with columns so far */
    /* table mode: the current statement's result */
    int ncol;
    char **names;
    struct cell *cells;
    size_t nrows, cap;
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

/* ---- table ---- */

static void table_free(struct query_run *r)
{
    for (int c = 0; c < r->ncol; c++)
        free(r->names[c]);
    free(r->names);
    for (size_t i = 0; i < r->nrows * (size_t)r->ncol; i++)
        free(r->cells[i].text);
    free(r->cells);
    r->names = NULL;
    r->cells = NULL;
    r->ncol = 0;
    r->nrows = r->cap = 0;
}

/* A value as the table shows it: control characters become spaces. */
static char *table_text(const char *v)
{
    char *t = strdup(v ? v : "");
    if (t)
        for (char *p = t; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = ' ';
    return t;
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
    r->names = calloc((size_t)ncol, sizeof *r->names);
    if (!r->names) {
        r->oom = true;
        return 1;
    }
    r->ncol = ncol;
    for (int c = 0; c < ncol; c++)
        if (!(r->names[c] = table_text(names[c])))
            r->oom = true;
    return r->oom;
}

static int table_row(void *user, int ncol, const char *const *values, const int *types)
{
    struct query_run *r = user;

    if (r->nrows == r->cap) {
        size_t ncap = r->cap ? 2 * r->cap : 64;
        struct cell *g = realloc(r->cells, ncap * (size_t)ncol * sizeof *g);
        if (!g) {
            r->oom = true;
            return 1;
        }
        r->cells = g;
        r->cap = ncap;
    }
    struct cell *row = r->cells + r->nrows * (size_t)ncol;
    for (int c = 0; c < ncol; c++) {
        row[c].type = types[c];
        row[c].text = values[c] ? table_text(values[c]) : NULL;
        if (values[c] && !row[c].text)
            r->oom = true;
    }
    r->nrows++;
    return r->oom;
}

static int table_end(void *user, int ncol)
{
    struct query_run *r = user;
    size_t *width = calloc((size_t)ncol, sizeof *width);
    bool *numeric = calloc((size_t)ncol, sizeof *numeric);

    if (!width || !numeric) {
        free(width);
        free(numeric);
        r->oom = true;
        return 1;
    }
    for (int c = 0; c < ncol; c++) {
        bool any = false, all = true;
        width[c] = shown_width(r, r->names[c]);
        for (size_t i = 0; i < r->nrows; i++) {
            const struct cell *x = &r->cells[i * (size_t)ncol + (size_t)c];
            if (!x->text)
                continue;
            size_t w = shown_width(r, x->text);
            if (w > width[c])
                width[c] = w;
            any = true;
            all = all && is_number(x->type);
        }
        numeric[c] = any && all;
    }
    if (r->statements++ > 0)
        fputc('\n', r->out);
    for (int c = 0; c < ncol; c++) {
        fputs(c ? "  " : "", r->out);
        put_cell(r, r->names[c], c == ncol - 1 && !numeric[c] ? 0 : width[c], numeric[c]);
    }
    fputc('\n', r->out);
    for (int c = 0; c < ncol; c++) {
        fputs(c ? "  " : "", r->out);
        for (size_t k = 0; k < width[c]; k++)
            fputc('-', r->out);
    }
    fputc('\n', r->out);
    for (size_t i = 0; i < r->nrows; i++) {
        const struct cell *row = r->cells + i * (size_t)ncol;
        for (int c = 0; c < ncol; c++) {
            fputs(c ? "  " : "", r->out);
            /* The last column is not padded on the left-aligned side: no trailing blanks. */
            if (c == ncol - 1 && !is_number(row[c].type)) {
                put_cell(r, row[c].text ? row[c].text : "", 0, false);
                continue;
            }
            put_cell(r, row[c].text ? row[c].text : "", width[c], is_number(row[c].type));
        }
        fputc('\n', r->out);
    }
    if (r->tty)
        fprintf(r->out, "(%zu row%s)\n", r->nrows, r->nrows == 1 ? "" : "s");
    free(width);
    free(numeric);
    table_free(r);
    return ferror(r->out) ? 1 : 0;
}

/* ---- CSV (RFC 4180) ---- */

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

static int csv_begin(void *user, int ncol, const char *const *names)
{
    struct query_run *r = user;

    if (r->statements++ > 0)
        fputs("\r\n", r->out);
    for (int c = 0; c < ncol; c++) {
        fputs(c ? "," : "", r->out);
        csv_field(r->out, names[c]);
    }
    fputs("\r\n", r->out);
    return 0;
}

static int csv_row(void *user, int ncol, const char *const *values, const int *types)
{
    struct query_run *r = user;

    (void)types;
    for (int c = 0; c < ncol; c++) {
        fputs(c ? "," : "", r->out);
        csv_field(r->out, values[c]);
    }
    fputs("\r\n", r->out);
    return ferror(r->out) ? 1 : 0;
}

/* ---- JSON ---- */

static void json_string(FILE *out, const char *v)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(out, "\\u%04x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

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

static char **json_names;
static int json_ncol;

static int json_begin(void *user, int ncol, const char *const *names)
{
    struct query_run *r = user;

    for (int c = 0; c < json_ncol; c++)
        free(json_names[c]);
    free(json_names);
    json_ncol = 0;
    json_names = calloc((size_t)ncol, sizeof *json_names);
    if (!json_names) {
        r->oom = true;
        return 1;
    }
    json_ncol = ncol;
    for (int c = 0; c < ncol; c++)
        if (!(json_names[c] = strdup(names[c] ? names[c] : "")))
            r->oom = true;
    return r->oom;
}

static int json_row(void *user, int ncol, const char *const *values, const int *types)
{
    struct query_run *r = user;

    fputs(r->json_any ? ",\n{" : "\n{", r->out);
    r->json_any = true;
    for (int c = 0; c < ncol; c++) {
        fputs(c ? ", " : "", r->out);
        json_string(r->out, json_names[c]);
        fputs(": ", r->out);
        if (!values[c])
            fputs("null", r->out);
        else if (is_number(types[c]))
            fputs(json_number_text(values[c]) ? values[c] : "null", r->out);
        else
            json_string(r->out, values[c]);
    }
    fputc('}', r->out);
    return ferror(r->out) ? 1 : 0;
}

static void json_free(void)
{
    for (int c = 0; c < json_ncol; c++)
        free(json_names[c]);
    free(json_names);
    json_names = NULL;
    json_ncol = 0;
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
    fprintf(out, "  %-5s %s\n", v[0], v[1]);
    /* The columns, wrapped at 92 characters and indented under the name. */
    fputs("        ", out);
    col = 8;
    while (*cols) {
        size_t n = strcspn(cols, ",");
        if (col + n > 92 && col > 8) {
            fputs("\n        ", out);
            col = 8;
        }
        fwrite(cols, 1, n, out);
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

    printf("%s: tables and views (docs/schema.md explains every column)\n", db);
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
    struct query_run r = {.mode = OUT_TABLE, .out = stdout};
    const char *db = "finscope.db", *sql = NULL;
    char err[ERRLEN], *input = NULL;
    int c;

    optind = 1;
    /* '+'-less getopt permutes, so options may follow the SQL; "-" stays a positional. */
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_CSV:
            r.mode = OUT_CSV;
            break;
        case OPT_JSON:
            r.mode = OUT_JSON;
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

    struct fsc_store_user_fn fn = {0};
    r.tty = isatty(STDOUT_FILENO);
    switch (r.mode) {
    case OUT_TABLE:
        fn = (struct fsc_store_user_fn){table_begin, table_row, table_end};
        break;
    case OUT_CSV:
        fn = (struct fsc_store_user_fn){csv_begin, csv_row, NULL};
        break;
    case OUT_JSON:
        fn = (struct fsc_store_user_fn){json_begin, json_row, NULL};
        fputc('[', r.out);
        break;
    }
    int rc = fsc_store_query_user(s, sql, &fn, &r, err, sizeof err);
    if (r.mode == OUT_JSON) {
        fputs(r.json_any ? "\n]\n" : "]\n", r.out);
        json_free();
    }
    table_free(&r);
    fsc_store_close(s);
    free(input);
    if (r.oom && rc == 0) {
        fsc_seterr(err, sizeof err, "out of memory");
        rc = -1;
    }
    if (rc < 0) {
        fflush(stdout);
        fprintf(stderr, "finscope query: %s\n", err);
        return 1;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("finscope query: write error");
        return 1;
    }
    return 0;
}
