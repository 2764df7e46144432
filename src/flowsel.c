/* flowsel.c - the one home of flow-selection filters: option checking and the WHERE clause. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "finscope/common.h"
#include "finscope/flow.h"
#include "finscope/flowsel.h"
#include "finscope/tcpstate.h"

void fsc_flowsel_init(struct fsc_flowsel *f)
{
    memset(f, 0, sizeof *f);
    f->server_port = f->client_port = -1;
}

/* The stable tokens of one column, as the store writes them (util.c's name tables). */
enum list { L_KIND, L_HANDSHAKE, L_RST_CAUSE, L_CLOSER, L_ANOMALY };

/* Token i of list l, NULL past its end ("" for a slot with no token); buf holds an anomaly's. */
static const char *token_at(enum list l, int i, char *buf, size_t len)
{
    switch (l) {
    case L_KIND:
        return i < FSC_CK__COUNT ? fsc_close_kind_name((enum fsc_close_kind)i) : NULL;
    case L_HANDSHAKE:
        return i < FSC_HS__COUNT ? fsc_handshake_name((enum fsc_handshake)i) : NULL;
    case L_RST_CAUSE:
        if (i >= FSC_RC__COUNT)
            return NULL;
        return i == FSC_RC_NONE ? "" : fsc_rst_cause_name((enum fsc_rst_cause)i);
    case L_CLOSER:
        return i < FSC_CL__COUNT ? fsc_closer_name((enum fsc_closer)i) : NULL;
    case L_ANOMALY:
        /* One bit's token; the names end where a bit has none. */
        if (i >= 32 || !*fsc_anomaly_str(1u << i, buf, len))
            return NULL;
        return buf;
    }
    return NULL;
}

/* Whether tok is in list l; if not, err says so and names the valid ones. */
static bool token_valid(enum list l, const char *what, const char *tok, char *err, size_t errlen)
{
    char names[768], one[64];
    size_t n = 0;
    const char *t;

    for (int i = 0; (t = token_at(l, i, one, sizeof one)) != NULL; i++)
        if (*t && !strcmp(t, tok))
            return true;
    names[0] = '\0';
    for (int i = 0; (t = token_at(l, i, one, sizeof one)) != NULL; i++)
        if (*t && n < sizeof names)
            n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", n ? ", " : "", t);
    fsc_seterr(err, errlen, "%s: '%s' is not one of: %s", what, tok, names);
    return false;
}

/* "10.0.0.2", "10.0.0.2:80", "2001:db8::2", "[2001:db8::2]", "[2001:db8::2]:443" into the
 * canonical address text and the port (-1 when not given).  0, or -1 with a message in err. */
static int parse_endpoint(const char *what, const char *arg, char *addr, size_t addrlen,
                          long long *port, char *err, size_t errlen)
{
    char host[64];
    const char *portstr = NULL;
    unsigned char bin[16];
    int af;

    *port = -1;
    if (arg[0] == '[') {
        const char *close = strchr(arg, ']');
        if (!close || (close[1] && close[1] != ':') || (size_t)(close - arg - 1) >= sizeof host)
            goto bad;
        snprintf(host, sizeof host, "%.*s", (int)(close - arg - 1), arg + 1);
        portstr = close[1] ? close + 2 : NULL;
        af = AF_INET6;
    } else {
        const char *colon = strchr(arg, ':');
        if (strlen(arg) >= sizeof host)
            goto bad;
        snprintf(host, sizeof host, "%s", arg);
        /* One colon: IPv4 with a port.  More: IPv6 without one (brackets give it a port). */
        if (colon && !strchr(colon + 1, ':')) {
            host[colon - arg] = '\0';
            portstr = colon + 1;
            af = AF_INET;
        } else {
            af = colon ? AF_INET6 : AF_INET;
        }
    }
    if (inet_pton(af, host, bin) != 1 || !inet_ntop(af, bin, addr, (socklen_t)addrlen))
        goto bad;
    if (portstr) {
        uint64_t p;
        if (fsc_parse_uint(portstr, 0, 65535, &p) < 0) {
            fsc_seterr(err, errlen, "--%s %s: '%s' is not a port (0 to 65535)", what, arg, portstr);
            return -1;
        }
        *port = (long long)p;
    }
    return 0;
bad:
    fsc_seterr(err, errlen,
               "--%s: '%s' is not an address: give IPv4 (10.0.0.2, 10.0.0.2:80) or IPv6 "
               "(2001:db8::2, [2001:db8::2]:443)",
               what, arg);
    return -1;
}

int fsc_flowsel_option(struct fsc_flowsel *f, int opt, const char *arg, char *err, size_t errlen)
{
    const struct {
        int opt;
        enum list list;
        const char *what;
        const char **slot;
    } tokens[] = {
        {FSC_FLOWSEL_KIND, L_KIND, "--kind", &f->kind},
        {FSC_FLOWSEL_HANDSHAKE, L_HANDSHAKE, "--handshake", &f->handshake},
        {FSC_FLOWSEL_RST_CAUSE, L_RST_CAUSE, "--rst-cause", &f->rst_cause},
        {FSC_FLOWSEL_CLOSER, L_CLOSER, "--closer", &f->closer},
        {FSC_FLOWSEL_ANOMALY, L_ANOMALY, "--anomaly", &f->anomaly},
    };
    uint64_t id;

    for (size_t k = 0; k < sizeof tokens / sizeof *tokens; k++) {
        if (tokens[k].opt != opt)
            continue;
        if (!token_valid(tokens[k].list, tokens[k].what, arg, err, errlen))
            return -1;
        *tokens[k].slot = arg;
        f->given++;
        return 1;
    }
    switch (opt) {
    case FSC_FLOWSEL_SERVER:
        if (parse_endpoint("server", arg, f->server_addr, sizeof f->server_addr, &f->server_port,
                           err, errlen) < 0)
            return -1;
        break;
    case FSC_FLOWSEL_CLIENT:
        if (parse_endpoint("client", arg, f->client_addr, sizeof f->client_addr, &f->client_port,
                           err, errlen) < 0)
            return -1;
        break;
    case FSC_FLOWSEL_CAPTURE:
        if (fsc_parse_uint(arg, 1, INT64_MAX, &id) < 0) {
            fsc_seterr(err, errlen, "--capture: '%s' is not a capture id (1, 2, ...)", arg);
            return -1;
        }
        f->capture = (long long)id;
        break;
    default:
        return 0;
    }
    f->given++;
    return 1;
}

/* The condition being built: its text so far and its values. */
struct where {
    char *buf;
    size_t len, used;
    int n, first;
    bool full;
    struct fsc_store_param *params;
};

/* One condition, "before ?N after", N the next parameter, whose value is text or i. */
static void cond(struct where *w, const char *before, const char *after, const char *text,
                 long long i)
{
    int m = snprintf(w->buf + w->used, w->len - w->used, "%s?%d%s", before, w->first + w->n, after);

    if (m < 0 || (size_t)m >= w->len - w->used) {
        w->full = true;
        return;
    }
    w->used += (size_t)m;
    w->params[w->n++] = (struct fsc_store_param){.text = text, .i = i};
}

int fsc_flowsel_where(const struct fsc_flowsel *f, int first, char *buf, size_t len,
                      struct fsc_store_param *params)
{
    struct where w = {buf, len, 0, 0, first, false, params};

    if (len == 0)
        return -1;
    buf[0] = '\0';
    if (f->kind)
        cond(&w, " AND close_kind = ", "", f->kind, 0);
    if (f->handshake)
        cond(&w, " AND handshake = ", "", f->handshake, 0);
    if (f->rst_cause)
        cond(&w, " AND rst_cause = ", "", f->rst_cause, 0);
    if (f->closer)
        cond(&w, " AND closer = ", "", f->closer, 0);
    if (f->server_addr[0])
        cond(&w, " AND server_addr = ", "", f->server_addr, 0);
    if (f->server_port >= 0)
        cond(&w, " AND server_port = ", "", NULL, f->server_port);
    if (f->client_addr[0])
        cond(&w, " AND client_addr = ", "", f->client_addr, 0);
    if (f->client_port >= 0)
        cond(&w, " AND client_port = ", "", NULL, f->client_port);
    if (f->capture > 0)
        cond(&w, " AND capture_id = ", "", NULL, f->capture);
    /* One whole token of the comma-separated list: fin_rst must not match fin_rst_x. */
    if (f->anomaly)
        cond(&w, " AND instr(',' || anomalies || ',', ',' || ", " || ',') > 0", f->anomaly, 0);
    return w.full ? -1 : w.n;
}

int fsc_flowsel_sql(const struct fsc_flowsel *f, const char *head, long long limit, char *buf,
                    size_t len, struct fsc_store_param *params)
{
    char where[1024];
    int np = fsc_flowsel_where(f, 1, where, sizeof where, params), m;

    if (np < 0)
        return -1;
    m = snprintf(buf, len, "%s WHERE 1%s ORDER BY id LIMIT ?%d", head, where, np + 1);
    if (m < 0 || (size_t)m >= len)
        return -1;
    params[np++] = (struct fsc_store_param){.i = limit};
    return np;
}

/* The ids being collected by fsc_flowsel_ids(). */
struct idlist {
    int64_t *ids;
    size_t n, cap;
    bool oom;
};

static int id_row(void *user, int ncol, const char *const *values, const int *types)
{
    struct idlist *l = user;

    if (ncol < 1 || !values[0] || types[0] != FSC_VALUE_INTEGER)
        return 0; /* flows.id is an INTEGER PRIMARY KEY: never so, but the file is untrusted */
    if (l->n == l->cap) {
        size_t ncap = l->cap ? 2 * l->cap : 64;
        int64_t *g = realloc(l->ids, ncap * sizeof *g);
        if (!g) {
            l->oom = true;
            return 1;
        }
        l->ids = g;
        l->cap = ncap;
    }
    l->ids[l->n++] = strtoll(values[0], NULL, 10);
    return 0;
}

int fsc_flowsel_ids(struct fsc_store *s, const struct fsc_flowsel *sel, long long limit,
                    int64_t **ids, size_t *n, char *err, size_t errlen)
{
    struct fsc_store_param params[FSC_FLOWSEL_MAX_PARAMS + 1];
    struct fsc_store_user_fn fn = {NULL, id_row, NULL};
    struct idlist l = {NULL, 0, 0, false};
    char sql[1024];
    int np = fsc_flowsel_sql(sel, "SELECT id FROM flows", limit, sql, sizeof sql, params);

    *ids = NULL;
    *n = 0;
    if (np < 0) {
        fsc_seterr(err, errlen, "filters too long");
        return -1;
    }
    if (fsc_store_query_bound(s, sql, params, np, &fn, &l, err, errlen) < 0 || l.oom) {
        if (l.oom)
            fsc_seterr(err, errlen, "out of memory");
        free(l.ids);
        return -1;
    }
    *ids = l.ids;
    *n = l.n;
    return 0;
}

/* "10.0.0.2", "10.0.0.2:80", "[2001:db8::2]:443" (brackets only before a port). */
static void endpoint_text(char *buf, size_t len, const char *addr, long long port)
{
    bool v6 = strchr(addr, ':') != NULL;

    if (port < 0)
        snprintf(buf, len, "%s", addr);
    else
        snprintf(buf, len, v6 ? "[%s]:%lld" : "%s:%lld", addr, port);
}

void fsc_flowsel_describe(const struct fsc_flowsel *f, char *buf, size_t len)
{
    const char *names[] = {"close_kind", "handshake", "rst_cause", "closer", "anomaly"};
    const char *vals[] = {f->kind, f->handshake, f->rst_cause, f->closer, f->anomaly};
    char ep[80];
    size_t n = 0;

#define PUT(...) (n += (size_t)snprintf(buf + n, n < len ? len - n : 0, __VA_ARGS__))
    if (len == 0)
        return;
    buf[0] = '\0';
    for (size_t k = 0; k < sizeof names / sizeof *names; k++)
        if (vals[k])
            PUT("%s%s=%s", n ? " " : "", names[k], vals[k]);
    if (f->server_addr[0]) {
        endpoint_text(ep, sizeof ep, f->server_addr, f->server_port);
        PUT("%sserver=%s", n ? " " : "", ep);
    }
    if (f->client_addr[0]) {
        endpoint_text(ep, sizeof ep, f->client_addr, f->client_port);
        PUT("%sclient=%s", n ? " " : "", ep);
    }
    if (f->capture > 0)
        PUT("%scapture=%lld", n ? " " : "", f->capture);
#undef PUT
}
