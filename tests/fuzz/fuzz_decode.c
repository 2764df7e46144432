/* fuzz_decode.c - libFuzzer harness for fsc_decode; with -DFSC_FUZZ_REPLAY, a replay program. */
#include "finscope/decode.h"

#include <stdlib.h>
#include <string.h>

/* Every link type fsc_decode supports; the first 2 input bytes pick one. */
static const int fuzz_dlts[] = {0, 1, 12, 14, 101, 108, 113, 228, 229, 276};
#define N_DLTS (sizeof(fuzz_dlts) / sizeof(fuzz_dlts[0]))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size - 2 > UINT32_MAX)
        return 0;
    int dlt = fuzz_dlts[((unsigned)data[0] << 8 | data[1]) % N_DLTS];
    uint32_t caplen = (uint32_t)(size - 2);

    /* An exact-size copy, so a read one past caplen is a heap overflow ASan reports. */
    uint8_t *frame = malloc(caplen ? caplen : 1);
    if (!frame)
        return 0;
    if (caplen)
        memcpy(frame, data + 2, caplen);

    struct fsc_pkt pkt;
    memset(&pkt, 0xa5, sizeof(pkt));
    pkt.ts = 17;
    pkt.number = 99;
    enum fsc_skip r = fsc_decode(dlt, frame, caplen, &pkt);
    free(frame);

    /* Invariants of the contract in decode.h. */
    if ((unsigned)r >= FSC_SKIP__COUNT || fsc_skip_name(r) == NULL)
        abort();
    if (pkt.ts != 17 || pkt.number != 99)
        abort();
    if (r == FSC_SKIP_NONE) {
        if (pkt.ip_version != 4 && pkt.ip_version != 6)
            abort();
        if (pkt.sport == 0 || pkt.dport == 0)
            abort();
        if (pkt.ip_version == 4) {
            static const uint8_t zero[12];
            if (memcmp(pkt.src.b + 4, zero, 12) != 0 || memcmp(pkt.dst.b + 4, zero, 12) != 0)
                abort();
        }
    }
    return 0;
}

#ifdef FSC_FUZZ_REPLAY
/* Replay saved inputs (files, or directories of them) without libFuzzer, e.g. in CI. */
#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>

static int replay_path(const char *path, int depth, unsigned *count);

static int replay_file(const char *path, unsigned *count)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        perror(path);
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    int rc = 0;
    if (!buf) {
        rc = -1;
        goto out_close;
    }
    for (;;) {
        if (len == cap) {
            uint8_t *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                rc = -1;
                goto out_free;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(fp)) {
        fprintf(stderr, "%s: read error\n", path);
        rc = -1;
        goto out_free;
    }
    LLVMFuzzerTestOneInput(buf, len);
    (*count)++;
out_free:
    free(buf);
out_close:
    fclose(fp);
    return rc;
}

static int replay_dir(const char *path, int depth, unsigned *count)
{
    DIR *d = opendir(path);
    if (!d) {
        perror(path);
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        size_t n = strlen(path) + strlen(e->d_name) + 2;
        char *child = malloc(n);
        if (!child) {
            rc = -1;
            break;
        }
        snprintf(child, n, "%s/%s", path, e->d_name);
        if (replay_path(child, depth + 1, count) != 0)
            rc = -1;
        free(child);
    }
    closedir(d);
    return rc;
}

static int replay_path(const char *path, int depth, unsigned *count)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        return -1;
    }
    if (S_ISDIR(st.st_mode))
        return depth < 8 ? replay_dir(path, depth, count) : 0;
    return replay_file(path, count);
}

int main(int argc, char **argv)
{
    unsigned count = 0;
    int rc = 0;
    for (int i = 1; i < argc; i++)
        if (replay_path(argv[i], 0, &count) != 0)
            rc = 1;
    printf("fuzz_decode: replayed %u input(s)%s\n", count, rc ? ", with errors" : "");
    return rc;
}
#endif
