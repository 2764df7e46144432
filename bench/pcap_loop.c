/* pcap_loop.c - the baseline: read every record of a capture with pcap_next_ex and nothing else,
 * through a 256 KiB stdio buffer, as finscope reads (libpcap's own fopen gets the 4 KiB default,
 * which made this floor 2.6x slower than a fair one: issue 9). */
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>

#define BUFFER_BYTES (256 * 1024)

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
    FILE *f = fopen(argv[1], "rb");
    char *buf = malloc(BUFFER_BYTES);
    if (!f || !buf || setvbuf(f, buf, _IOFBF, BUFFER_BYTES) != 0) {
        perror(argv[1]);
        return 1;
    }
    if (!(p = pcap_fopen_offline(f, err))) {
        fprintf(stderr, "pcap_loop: %s\n", err);
        return 1;
    }
    while (pcap_next_ex(p, &h, &data) == 1) {
        n++;
        bytes += h->caplen + data[0]; /* touch the frame so the read is not optimized away */
    }
    pcap_close(p); /* closes f */
    free(buf);
    printf("%llu packets %llu bytes\n", (unsigned long long)n, (unsigned long long)bytes);
    return 0;
}
