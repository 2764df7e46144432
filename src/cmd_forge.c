/* cmd_forge.c - `finscope forge`: write crafted captures and the results they must yield. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "finscope/forge.h"

static void forge_usage(FILE *out)
{
    fputs(
        "usage: finscope forge SCENARIO -o OUT.pcap [--ipv6] [--vlan ID] [--sll]"
        " [--expected FILE]\n"
        "                             [--one-side client|server]\n"
        "                             [--encap NAME [--outer-ipv6] [--inner-vlan ID]]\n"
        "                             [--fragment N [--fragment-inner] [--fragment-reverse]\n"
        "                              [--fragment-overlap]]\n"
        "       finscope forge mix --flows N [--seed S] -o OUT.pcap [framing options]\n"
        "       finscope forge --list\n"
        "\n"
        "Writes a deterministic crafted capture (pcap) and a TSV of the tokens finscope must\n"
        "infer for it, one row per connection in first-packet order.\n"
        "\n"
        "  -o, --output FILE    capture to write\n"
        "      --expected FILE  expected results (default: OUT with .pcap replaced by\n"
        "                       .expected.tsv)\n"
        "      --ipv6           IPv6 (2001:db8::/32) instead of IPv4\n"
        "      --vlan ID        one 802.1Q tag with this VLAN id (1-4094)\n"
        "      --sll            Linux cooked (SLL) link layer instead of Ethernet\n"
        "      --one-side SIDE  only the client's or the server's frames, as a one-direction\n"
        "                       tap sees the connection (scenarios that define that view)\n"
        "      --encap NAME     put every packet in a tunnel: vxlan, geneve (Ethernet inside),\n"
        "                       geneve-ip, gre (checksum, key, sequence), gretap, erspan1,\n"
        "                       erspan2, erspan3, ipip (protocol 4, or 41 with --ipv6), or\n"
        "                       6in4 (= ipip --ipv6); --vlan and --sll apply to the outer frame\n"
        "      --outer-ipv6     tunnel endpoints fd00::1, fd00::2 (default 10.0.0.1, 10.0.0.2)\n"
        "      --inner-vlan ID  an 802.1Q tag on the tunnelled Ethernet frame\n"
        "      --fragment N     cut IP datagrams with more than N payload bytes (a multiple of\n"
        "                       8) into fragments: the outer datagram, or with\n"
        "      --fragment-inner the tunnelled one (each fragment in its own tunnel packet)\n"
        "      --fragment-reverse  write each datagram's fragments last first\n"
        "      --fragment-overlap  first write an attack: a copy of the first fragmented\n"
        "                       datagram whose fragments overlap; finscope must drop it\n"
        "                       (counted as ip_fragment_overlap), the rows stay the same\n"
        "      --flows N        mix: number of connections, drawn from the scenarios\n"
        "      --seed S         mix: PRNG seed (default 1); same seed, same bytes\n"
        "      --list           list the scenarios\n"
        "  -h, --help           this text\n"
        "\n"
        "examples:\n"
        "  finscope forge --list\n"
        "  finscope forge three_way_close -o tw.pcap            # + tw.expected.tsv\n"
        "  finscope forge half_close -o hc6.pcap --ipv6 --vlan 7\n"
        "  finscope forge four_way -o fw-client.pcap --one-side client\n"
        "  finscope forge four_way_close -o vx.pcap --encap vxlan --inner-vlan 5 --outer-ipv6\n"
        "  finscope forge four_way_close -o fr.pcap --encap gre --fragment 512 --fragment-reverse\n"
        "  finscope forge mix --flows 30000 --seed 42 -o mix.pcap\n",
        out);
}

static int forge_usage_error(const char *msg, const char *arg)
{
    if (arg)
        fprintf(stderr, "finscope forge: %s '%s' (finscope forge --help)\n", msg, arg);
    else
        fprintf(stderr, "finscope forge: %s (finscope forge --help)\n", msg);
    return 2;
}

/* OUT.pcap -> OUT.expected.tsv; any other name gets .expected.tsv appended.  NULL if no memory. */
static char *default_expected(const char *pcap)
{
    size_t n = strlen(pcap);
    char *s = malloc(n + sizeof ".expected.tsv");

    if (!s)
        return NULL;
    memcpy(s, pcap, n + 1);
    if (n > 5 && strcmp(pcap + n - 5, ".pcap") == 0)
        s[n - 5] = '\0';
    strcat(s, ".expected.tsv");
    return s;
}

enum {
    OPT_LIST = 256,
    OPT_IPV6,
    OPT_VLAN,
    OPT_SLL,
    OPT_EXPECTED,
    OPT_FLOWS,
    OPT_SEED,
    OPT_ENCAP,
    OPT_OUTER_IPV6,
    OPT_INNER_VLAN,
    OPT_FRAGMENT,
    OPT_FRAGMENT_INNER,
    OPT_FRAGMENT_REVERSE,
    OPT_FRAGMENT_OVERLAP,
    OPT_ONE_SIDE,
};

/* --encap NAME into o (6in4 is IP-in-IP with IPv6 inside an IPv4 outer header).  false if
 * unknown. */
static bool parse_encap(const char *name, struct fsc_forge_opts *o, bool *six_in_four)
{
    *six_in_four = strcmp(name, "6in4") == 0;
    if (*six_in_four) {
        o->encap = FSC_FORGE_ENCAP_IPIP;
        return true;
    }
    for (int e = FSC_FORGE_ENCAP_NONE + 1; e < FSC_FORGE_ENCAP__COUNT; e++) {
        if (strcmp(name, fsc_forge_encap_name(e)) == 0) {
            o->encap = e;
            return true;
        }
    }
    return false;
}

int fsc_cmd_forge(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"expected", required_argument, NULL, OPT_EXPECTED},
        {"ipv6", no_argument, NULL, OPT_IPV6},
        {"vlan", required_argument, NULL, OPT_VLAN},
        {"sll", no_argument, NULL, OPT_SLL},
        {"one-side", required_argument, NULL, OPT_ONE_SIDE},
        {"encap", required_argument, NULL, OPT_ENCAP},
        {"outer-ipv6", no_argument, NULL, OPT_OUTER_IPV6},
        {"inner-vlan", required_argument, NULL, OPT_INNER_VLAN},
        {"fragment", required_argument, NULL, OPT_FRAGMENT},
        {"fragment-inner", no_argument, NULL, OPT_FRAGMENT_INNER},
        {"fragment-reverse", no_argument, NULL, OPT_FRAGMENT_REVERSE},
        {"fragment-overlap", no_argument, NULL, OPT_FRAGMENT_OVERLAP},
        {"flows", required_argument, NULL, OPT_FLOWS},
        {"seed", required_argument, NULL, OPT_SEED},
        {"list", no_argument, NULL, OPT_LIST},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct fsc_forge_opts o = {0};
    const char *out = NULL, *expected = NULL, *name;
    char *expected_alloc = NULL;
    char err[512] = "";
    bool list = false, have_flows = false, have_seed = false, six_in_four = false;
    uint64_t flows = 0, seed = 1, v;
    int opt, rc;

    opterr = 0;
    optind = 0; /* glibc: start over even if main already ran getopt */
    while ((opt = getopt_long(argc, argv, ":ho:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            forge_usage(stdout);
            return 0;
        case 'o':
            out = optarg;
            break;
        case OPT_EXPECTED:
            expected = optarg;
            break;
        case OPT_IPV6:
            o.ipv6 = true;
            break;
        case OPT_VLAN:
        case OPT_INNER_VLAN:
            if (fsc_parse_uint(optarg, 1, 4094, &v) < 0)
                return forge_usage_error(opt == OPT_VLAN ? "--vlan wants an id from 1 to 4094, not"
                                                         : "--inner-vlan wants an id from 1 to "
                                                           "4094, not",
                                         optarg);
            *(opt == OPT_VLAN ? &o.vlan : &o.inner_vlan) = (int)v;
            break;
        case OPT_SLL:
            o.sll = true;
            break;
        case OPT_ONE_SIDE:
            if (strcmp(optarg, "client") == 0)
                o.one_side = FSC_FORGE_CLIENT_ONLY;
            else if (strcmp(optarg, "server") == 0)
                o.one_side = FSC_FORGE_SERVER_ONLY;
            else
                return forge_usage_error("--one-side wants client or server, not", optarg);
            break;
        case OPT_ENCAP:
            if (!parse_encap(optarg, &o, &six_in_four))
                return forge_usage_error("unknown encapsulation", optarg);
            break;
        case OPT_OUTER_IPV6:
            o.outer_ipv6 = true;
            break;
        case OPT_FRAGMENT:
            if (fsc_parse_uint(optarg, 8, 65528, &v) < 0 || v % 8 != 0)
                return forge_usage_error("--fragment wants a multiple of 8 from 8 to 65528, not",
                                         optarg);
            o.fragment = (uint32_t)v;
            break;
        case OPT_FRAGMENT_INNER:
            o.fragment_inner = true;
            break;
        case OPT_FRAGMENT_REVERSE:
            o.fragment_reverse = true;
            break;
        case OPT_FRAGMENT_OVERLAP:
            o.fragment_overlap = true;
            break;
        case OPT_FLOWS:
            if (fsc_parse_uint(optarg, 0, UINT64_MAX, &flows) < 0)
                return forge_usage_error("--flows wants a count, not", optarg);
            have_flows = true;
            break;
        case OPT_SEED:
            if (fsc_parse_uint(optarg, 0, UINT64_MAX, &seed) < 0)
                return forge_usage_error("--seed wants an unsigned integer, not", optarg);
            have_seed = true;
            break;
        case OPT_LIST:
            list = true;
            break;
        case ':':
            return forge_usage_error("missing value for", argv[optind - 1]);
        default:
            return forge_usage_error("unknown option", argv[optind - 1]);
        }
    }
    if (list) {
        if (optind < argc)
            return forge_usage_error("--list takes no scenario, got", argv[optind]);
        if (fsc_forge_list(stdout) < 0) {
            fprintf(stderr, "finscope forge: writing the list failed\n");
            return 1;
        }
        return 0;
    }
    if (optind >= argc)
        return forge_usage_error("which scenario? give one, 'mix', or --list", NULL);
    if (optind + 1 < argc)
        return forge_usage_error("one scenario at a time; unexpected", argv[optind + 1]);
    name = argv[optind];
    if (!out)
        return forge_usage_error("-o OUT.pcap is required", NULL);
    if (o.vlan && o.sll)
        return forge_usage_error("--vlan needs Ethernet framing and cannot go with --sll", NULL);
    if (six_in_four) {
        if (o.outer_ipv6)
            return forge_usage_error("6in4 has an IPv4 outer header: no --outer-ipv6", NULL);
        o.ipv6 = true;
    }
    bool mix = strcmp(name, "mix") == 0;
    if (mix && !have_flows)
        return forge_usage_error("mix needs --flows N", NULL);
    if (!mix && (have_flows || have_seed))
        return forge_usage_error("--flows and --seed only go with mix, not with", name);
    if (!mix && !fsc_forge_scenario_exists(name)) {
        fprintf(stderr, "finscope forge: unknown scenario '%s' (finscope forge --list)\n", name);
        return 2;
    }
    if (mix && o.one_side)
        return forge_usage_error("--one-side does not go with mix", NULL);
    if (o.one_side && !fsc_forge_scenario_one_sided(name, o.one_side)) {
        fprintf(stderr,
                "finscope forge: scenario '%s' has no %s-only variant "
                "(finscope forge --list marks the ones that do)\n",
                name, o.one_side == FSC_FORGE_CLIENT_ONLY ? "client" : "server");
        return 2;
    }
    if (!expected) {
        expected_alloc = default_expected(out);
        if (!expected_alloc) {
            fprintf(stderr, "finscope forge: out of memory\n");
            return 1;
        }
        expected = expected_alloc;
    }
    if (mix)
        rc = fsc_forge_mix(flows, seed, &o, out, expected, err, sizeof err);
    else
        rc = fsc_forge_scenario(name, &o, out, expected, err, sizeof err);
    free(expected_alloc);
    if (rc < 0) {
        fprintf(stderr, "finscope forge: %s\n", err);
        return 1;
    }
    return 0;
}
