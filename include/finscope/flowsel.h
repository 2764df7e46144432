/* finscope/flowsel.h - which flows: the filter options `flows` and `show` share, checked, and
 * their SQL condition with bound values. */
#ifndef FINSCOPE_FLOWSEL_H
#define FINSCOPE_FLOWSEL_H

#include <getopt.h>
#include <stddef.h>

#include "finscope/store.h"

/* getopt_long values of the filter options (above every short option character). */
enum {
    FSC_FLOWSEL_KIND = 0x1000,
    FSC_FLOWSEL_HANDSHAKE,
    FSC_FLOWSEL_RST_CAUSE,
    FSC_FLOWSEL_CLOSER,
    FSC_FLOWSEL_SERVER,
    FSC_FLOWSEL_CLIENT,
    FSC_FLOWSEL_CAPTURE,
    FSC_FLOWSEL_ANOMALY,
};

/* The filter options' entries of a command's struct option table. */
#define FSC_FLOWSEL_LONGOPTS                                                                       \
    {"kind", required_argument, NULL, FSC_FLOWSEL_KIND},                                           \
        {"handshake", required_argument, NULL, FSC_FLOWSEL_HANDSHAKE},                             \
        {"rst-cause", required_argument, NULL, FSC_FLOWSEL_RST_CAUSE},                             \
        {"closer", required_argument, NULL, FSC_FLOWSEL_CLOSER},                                   \
        {"server", required_argument, NULL, FSC_FLOWSEL_SERVER},                                   \
        {"client", required_argument, NULL, FSC_FLOWSEL_CLIENT},                                   \
        {"capture", required_argument, NULL, FSC_FLOWSEL_CAPTURE},                                 \
    {                                                                                              \
        "anomaly", required_argument, NULL, FSC_FLOWSEL_ANOMALY                                    \
    }

/* Their lines in a command's --help. */
#define FSC_FLOWSEL_USAGE                                                                          \
    "filters (all given must match):\n"                                                            \
    "      --kind TOKEN        close_kind: four_way, three_way, two_way, simultaneous,\n"          \
    "                          half_closed, rst, refused, unanswered, open, fins_unproven\n"       \
    "      --handshake TOKEN   handshake: three_way, simultaneous_open, self_connect,\n"           \
    "                          refused, unanswered, aborted, none\n"                               \
    "      --rst-cause TOKEN   rst_cause: abort, unread_data, data_after_close, handshake,\n"      \
    "                          other, accept_overflow\n"                                           \
    "      --closer TOKEN      closer: client, server, both, self, unknown, none\n"                \
    "      --server ADDR[:PORT]\n"                                                                 \
    "                          server address, and port: 10.0.0.2, 10.0.0.2:80, 2001:db8::2,\n"    \
    "                          [2001:db8::2]:443\n"                                                \
    "      --client ADDR[:PORT]\n"                                                                 \
    "                          client address, and port (the same forms)\n"                        \
    "      --capture N         flows of capture N (captures.id)\n"                                 \
    "      --anomaly TOKEN     flows whose anomalies list holds TOKEN (e.g. one_sided,\n"          \
    "                          fin_never_acked, idle_timeout; docs/schema.md lists them)\n"

/* At most this many values are bound for the filters. */
#define FSC_FLOWSEL_MAX_PARAMS 10

/* The filters given; tokens are checked against the stable lists, addresses made canonical. */
struct fsc_flowsel {
    const char *kind, *handshake, *rst_cause, *closer, *anomaly; /* NULL: not given */
    char server_addr[48], client_addr[48]; /* inet_ntop's text; "" when not given */
    long long server_port, client_port;    /* -1 when not given */
    long long capture;                     /* 0 when not given */
    int given;                             /* how many filter options were taken */
};

void fsc_flowsel_init(struct fsc_flowsel *f);

/*
 * Take option opt (a getopt_long return value) with its argument when it is a filter option.
 * Returns 1 when taken, 0 when opt is not a filter option, -1 with a message in err when arg is
 * not valid (a token not in its list, which the message names; an address that is neither IPv4
 * nor IPv6; a port outside 0..65535; a capture id that is not a positive integer).  arg is
 * borrowed for the tokens: it must outlive f (argv does).
 */
int fsc_flowsel_option(struct fsc_flowsel *f, int opt, const char *arg, char *err, size_t errlen);

/*
 * The filters as an SQL condition on the flows table's columns, into buf: "" when none, else
 * " AND ..." pieces to follow a WHERE clause, each value a parameter ?N numbered from first,
 * its value stored in params (room for FSC_FLOWSEL_MAX_PARAMS).  Returns how many parameters
 * were used, or -1 when buf is too short.
 */
int fsc_flowsel_where(const struct fsc_flowsel *f, int first, char *buf, size_t len,
                      struct fsc_store_param *params);

/*
 * The statement "HEAD WHERE 1 <the filters> ORDER BY id LIMIT ?N" into buf, its values into
 * params (room for FSC_FLOWSEL_MAX_PARAMS + 1: the last is limit, -1 for no limit).  Returns
 * how many parameters it has, or -1 when buf is too short.
 */
int fsc_flowsel_sql(const struct fsc_flowsel *f, const char *head, long long limit, char *buf,
                    size_t len, struct fsc_store_param *params);

/*
 * The ids of the flows sel matches, in id order, at most limit of them (-1: no limit), into a
 * new array *ids (the caller frees it) of *n.  0, or -1 with a message in err.
 */
int fsc_flowsel_ids(struct fsc_store *s, const struct fsc_flowsel *sel, long long limit,
                    int64_t **ids, size_t *n, char *err, size_t errlen);

/* The filters in words for a message ("close_kind=rst server=10.0.0.2:80"), into buf. */
void fsc_flowsel_describe(const struct fsc_flowsel *f, char *buf, size_t len);

/* `finscope flows`: the flows a selection matches, one line each (flows.c). */
int fsc_cmd_flows(int argc, char **argv);

#endif
