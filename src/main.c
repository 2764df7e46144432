/* main.c - finscope's command line: picks the subcommand and hands over; nothing else. */
#include <stdio.h>
#include <string.h>

#include "finscope/analyze.h"
#include "finscope/export.h"
#include "finscope/flowsel.h"

static const char usage[] =
    "usage: finscope COMMAND [options]\n"
    "\n"
    "finscope follows every TCP connection in a capture, infers both endpoints' states through\n"
    "the handshake and the teardown, names how each connection ended (four-way, three-way,\n"
    "simultaneous, half-closed, RST by cause, ...) and stores it in SQLite.\n"
    "\n"
    "commands:\n"
    "  analyze   analyze pcap/pcapng files into a database (finscope.db)\n"
    "  live      capture on an interface and keep the database current\n"
    "  query     run read-only SQL on a database: table, --csv or --json\n"
    "  flows     list the connections that match filters (--kind, --server, ...)\n"
    "  show      draw one connection's ladder diagram (text, or --svg FILE)\n"
    "  states    netstat from the wire: sockets per host in each TCP state, at any instant\n"
    "  report    the summary of a database: close kinds, CLOSE_WAIT suspects (text, --html)\n"
    "  forge     write crafted captures of TCP open/close scenarios (libnet)\n"
    "  export    write a database out as a Zeek conn.log (--zeek, TSV or --json)\n"
    "\n"
    "Run 'finscope COMMAND --help' for a command's options and examples.\n"
    "\n"
    "examples:\n"
    "  finscope analyze captures/*.pcap\n"
    "  finscope live -i eth0 -f 'tcp port 443'\n"
    "  sqlite3 finscope.db 'SELECT * FROM close_kinds'\n"
    "  finscope flows --kind half_closed --server 10.0.0.2:80\n"
    "  finscope states --state close_wait\n"
    "  finscope forge --list\n"
    "  finscope export --zeek finscope.db > conn.log\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("finscope %s\n", FSC_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "analyze"))
        return fsc_cmd_analyze(argc - 1, argv + 1);
    if (!strcmp(cmd, "export"))
        return fsc_cmd_export(argc - 1, argv + 1);
    if (!strcmp(cmd, "live"))
        return fsc_cmd_live(argc - 1, argv + 1);
    if (!strcmp(cmd, "query"))
        return fsc_cmd_query(argc - 1, argv + 1);
    if (!strcmp(cmd, "flows"))
        return fsc_cmd_flows(argc - 1, argv + 1);
    if (!strcmp(cmd, "show"))
        return fsc_cmd_show(argc - 1, argv + 1);
    if (!strcmp(cmd, "states"))
        return fsc_cmd_states(argc - 1, argv + 1);
    if (!strcmp(cmd, "report"))
        return fsc_cmd_report(argc - 1, argv + 1);
    if (!strcmp(cmd, "forge"))
        return fsc_cmd_forge(argc - 1, argv + 1);
    fprintf(stderr, "finscope: unknown command '%s'\n\n%s", cmd, usage);
    return 2;
}
