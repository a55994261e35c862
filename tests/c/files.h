/* files.h — temporary files for the C tests that read and write files (test_gguf.c,
 * test_safetensors.c, test_zip.c).
 *
 * Owns: one fresh folder per test program ($TMPDIR, else /tmp), paths inside it, writing and
 * reading a whole file, and removing the folder with the files left in it. Header-only (static
 * functions): each test program is one translation unit.
 *
 *   int main(void)
 *   {
 *       if (!tmp_dir_create("recx_zip")) return 2;
 *       RUN(test_x); ... write_bytes(path_in("a.zip"), p, n); ...
 *       tmp_dir_remove();
 *       return check_finish();
 *   }
 */
#ifndef RECX_TEST_FILES_H
#define RECX_TEST_FILES_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The folder: "<$TMPDIR or /tmp>/<prefix>_XXXXXX", made unique by tmp_dir_create. */
static char tmp_dir[256];

/* Creates the folder; 0 (after perror) when it cannot. */
static inline int tmp_dir_create(const char *prefix)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmp_dir, sizeof tmp_dir, "%s/%s_XXXXXX", base, prefix);
    if (mkdtemp(tmp_dir)) return 1;
    perror("mkdtemp");
    return 0;
}

/* tmp_dir/name, in a static buffer: the four most recent results stay valid. */
static inline const char *path_in(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp_dir, name);
    return buf[k];
}

/* Writes the n bytes at data to path (replacing it); exits with status 2 when it cannot. */
static inline void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n)) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    fclose(f);
}

/* The bytes of the file at path (malloc'd with one spare byte; the caller frees) and in *n how
 * many were read; NULL (and *n = 0) when it cannot be opened. */
static inline unsigned char *read_bytes(const char *path, size_t *n)
{
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(len > 0 ? (size_t)len + 1 : 1);
    if (b && len > 0) *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

/* Removes the files left in the folder, then the folder (subfolders are the tests' to remove). */
static inline void tmp_dir_remove(void)
{
    DIR *d = opendir(tmp_dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        unlink(path_in(e->d_name));
    }
    if (d) closedir(d);
    rmdir(tmp_dir);
}

#endif
