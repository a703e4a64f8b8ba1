/*
 * Replays a fuzz corpus without libFuzzer: linked with one harness
 * (fuzz_NAME.c, which defines LLVMFuzzerTestOneInput) into fuzz_replay_NAME,
 * it runs the harness once on every regular file of each directory (or file)
 * given, in name order, so the seeds and every regress-* input found earlier
 * are checked by each build, whatever its compiler. A harness reports a bug by
 * aborting (or through a sanitizer); the file's name is printed before it runs.
 * Exits 1 when an argument cannot be read or holds no input at all (a corpus
 * that went missing must not pass), 0 otherwise.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads all of `path` into a malloc'd buffer (at least one byte allocated). */
static int
read_all(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;

    if (f == NULL)
        return -1;
    for (;;) {
        if (n == cap) {
            uint8_t *p = realloc(buf, cap = cap ? 2 * cap : 4096);
            if (p == NULL) {
                free(buf);
                fclose(f);
                return -1;
            }
            buf = p;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    /* An exact-size copy, so a sanitizer sees any read past the input. */
    *out = malloc(n ? n : 1);
    if (*out == NULL) {
        free(buf);
        return -1;
    }
    memcpy(*out, buf, n);
    free(buf);
    *len = n;
    return 0;
}

static int
run_file(const char *path)
{
    uint8_t *data;
    size_t len;

    if (read_all(path, &data, &len) != 0) {
        fprintf(stderr, "fuzz replay: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(stderr, "%s (%zu bytes)\n", path, len);
    LLVMFuzzerTestOneInput(data, len);
    free(data);
    return 0;
}

static int
only_files(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

int
main(int argc, char **argv)
{
    int ran = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        struct dirent **names;
        struct stat st;
        int n;

        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "fuzz replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (run_file(argv[i]) != 0)
                return 1;
            ran++;
            continue;
        }
        n = scandir(argv[i], &names, only_files, alphasort);
        if (n < 0) {
            fprintf(stderr, "fuzz replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        for (int j = 0; j < n; j++) {
            char path[PATH_MAX];

            snprintf(path, sizeof(path), "%s/%s", argv[i], names[j]->d_name);
            if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                if (run_file(path) != 0)
                    return 1;
                ran++;
            }
            free(names[j]);
        }
        free(names);
    }
    if (ran == 0) {
        fprintf(stderr, "fuzz replay: no input found\n");
        return 1;
    }
    fprintf(stderr, "fuzz replay: %d inputs, no failure\n", ran);
    return 0;
}
