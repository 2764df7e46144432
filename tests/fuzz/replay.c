/*
 * replay.c - replays saved fuzz inputs (files, or directories of them) through a harness's
 * LLVMFuzzerTestOneInput without libFuzzer, so every CI run replays the corpus.  Linked into each
 * harness built with -DFSC_FUZZ_REPLAY; FSC_FUZZ_NAME names the harness in the output.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef FSC_FUZZ_NAME
#define FSC_FUZZ_NAME "fuzz"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
    printf("%s: replayed %u input(s)%s\n", FSC_FUZZ_NAME, count, rc ? ", with errors" : "");
    return rc;
}
