#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base.h"

int64_t vc_now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int vc_mkdir_p_at(const char *path, mode_t mode, char *ret_failed, size_t size)
{
        char tmp[PATH_MAX];
        size_t len = strlen(path);

        if (len == 0 || len >= sizeof tmp)
                return -ENAMETOOLONG;
        memcpy(tmp, path, len + 1);
        for (char *s = tmp + 1;; s++) {
                if (*s != '/' && *s != '\0')
                        continue;
                char c = *s;
                *s = '\0';
                if (mkdir(tmp, mode) < 0 && errno != EEXIST) {
                        int e = errno;
                        if (ret_failed && size)
                                snprintf(ret_failed, size, "%s", tmp);
                        return -e;
                }
                if (c == '\0')
                        return 0;
                *s = c;
        }
}

int vc_write_file(const char *path, const char *s)
{
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        size_t len = strlen(s);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = write(fd, s, len);
        if (n < 0) {
                int e = errno;
                close(fd);
                return -e;
        }
        close(fd);
        return (size_t)n == len ? 0 : -EIO;
}

int vc_read_file(const char *path, char *buf, size_t size)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        size_t got = 0;

        if (fd < 0)
                return -errno;
        while (got + 1 < size) {
                ssize_t n = read(fd, buf + got, size - 1 - got);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        int e = errno;
                        close(fd);
                        return -e;
                }
                if (n == 0)
                        break;
                got += (size_t)n;
        }
        close(fd);
        if (size)
                buf[got] = '\0';
        return (int)got;
}

enum vc_id_fault vc_id_check(const char *id, size_t max, size_t *ret_pos)
{
        size_t n = 0;

        if (id == NULL || id[0] == '\0')
                return VC_ID_EMPTY;
        for (const char *p = id; *p; p++, n++) {
                char c = *p;
                bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
                if (n >= max)
                        return VC_ID_TOO_LONG;
                if (n == 0 ? !alnum : !(alnum || c == '_' || c == '+' || c == '.' || c == '-')) {
                        if (ret_pos)
                                *ret_pos = n;
                        return VC_ID_BAD_CHAR;
                }
        }
        return VC_ID_OK;
}

int vc_self_dir(char *buf, size_t size)
{
        ssize_t n = readlink("/proc/self/exe", buf, size - 1);
        char *slash;

        if (n < 0)
                return -errno;
        if ((size_t)n >= size - 1)
                return -ENAMETOOLONG;
        buf[n] = '\0';
        slash = strrchr(buf, '/');
        if (slash == NULL)
                return -ENOENT;
        *slash = '\0';
        return (int)(slash - buf);
}

int vc_self_relative(const char *const *rels, int mode, char **ret)
{
        char dir[PATH_MAX];
        int rc = vc_self_dir(dir, sizeof dir);

        if (rc < 0)
                return rc;
        for (; *rels; rels++) {
                char *p;
                if (asprintf(&p, "%s/%s", dir, *rels) < 0)
                        return -ENOMEM;
                if (access(p, mode) == 0) {
                        *ret = p;
                        return 0;
                }
                free(p);
        }
        return -ENOENT;
}
