/* What the C unit tests share: TAP output (RUN_TEST(test_x) prints "ok N - test_x" or "not ok N - test_x")
 * and the removal of a scratch directory, mounts included. */
#ifndef VC_TESTLIB_H
#define VC_TESTLIB_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

static int tap_n, tap_failed;

#define RUN_TEST(f)                                                                                          \
        do {                                                                                                 \
                int _r = f();                                                                                \
                printf("%s %d - %s\n", _r == 0 ? "ok" : "not ok", ++tap_n, #f);                              \
                fflush(stdout);                                                                              \
                if (_r != 0)                                                                                 \
                        tap_failed = 1;                                                                      \
        } while (0)

/* Print the plan; the exit status of the test program. */
#define TAP_DONE() (printf("1..%d\n", tap_n), tap_failed)

#define CHECK(cond)                                                                                          \
        do {                                                                                                 \
                if (!(cond)) {                                                                               \
                        printf("# %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                    \
                        return 1;                                                                            \
                }                                                                                            \
        } while (0)

#define CHECK_STREQ(a, b)                                                                                    \
        do {                                                                                                 \
                const char *_a = (a), *_b = (b);                                                             \
                if (_a == NULL || _b == NULL || strcmp(_a, _b) != 0) {                                       \
                        printf("# %s:%d: expected '%s', got '%s'\n", __FILE__, __LINE__, _b ? _b : "(null)", \
                               _a ? _a : "(null)");                                                          \
                        return 1;                                                                            \
                }                                                                                            \
        } while (0)

static int testlib_remove(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path) < 0 ? -1 : 0;
}

static int testlib_longer_first(const void *a, const void *b)
{
        return (int)strlen(*(char *const *)b) - (int)strlen(*(char *const *)a);
}

/* Remove dir and everything in it. Whatever is still mounted under it (what a failed test left) is lazily
 * unmounted first, deepest first. Returns how many mounts there were: more than 0 is a leak. */
static inline int remove_scratch_dir(const char *dir)
{
        FILE *f = fopen("/proc/self/mountinfo", "re");
        char line[4096], mp[4096], *found[64];
        size_t n = 0, len = strlen(dir);

        while (f && n < 64 && fgets(line, sizeof line, f))
                if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && strncmp(mp, dir, len) == 0 &&
                    (mp[len] == '\0' || mp[len] == '/'))
                        found[n++] = strdup(mp);
        if (f)
                fclose(f);
        qsort(found, n, sizeof *found, testlib_longer_first);
        for (size_t i = 0; i < n; i++) {
                printf("# left mounted: %s\n", found[i]);
                (void)umount2(found[i], MNT_DETACH);
                free(found[i]);
        }
        (void)nftw(dir, testlib_remove, 16, FTW_DEPTH | FTW_PHYS);
        return (int)n;
}

#endif
