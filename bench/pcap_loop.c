/* pcap_loop.c - the baseline: read every record of a capture with pcap_next_ex and nothing else. */
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdint.h>

int main(int argc, char **argv)
{
    char err[PCAP_ERRBUF_SIZE];
    struct pcap_pkthdr *h;
    const u_char *data;
    uint64_t n = 0, bytes = 0;
    pcap_t *p;

    if (argc != 2) {
        fprintf(stderr, "usage: pcap_loop FILE\n");
        return 2;
    }
    if (!(p = pcap_open_offline(argv[1], err))) {
        fprintf(stderr, "pcap_loop: %s\n", err);
        return 1;
    }
    while (pcap_next_ex(p, &h, &data) == 1) {
        n++;
        bytes += h->caplen + data[0]; /* touch the frame so the read is not optimized away */
    }
    pcap_close(p);
    printf("%llu packets %llu bytes\n", (unsigned long long)n, (unsigned long long)bytes);
    return 0;
}
