#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

bool agent_debug_on;
int agent_hangup_timeout_s = 10;
struct rlimit agent_nofile_default = {1024, 4096};

uint64_t agent_now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void vlog(const char *fmt, va_list ap)
{
        char line[1024];
        struct timespec ts;
        int n;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        n = snprintf(line, sizeof line, "[%5ld.%03ld] kata-agent: ", (long)ts.tv_sec, ts.tv_nsec / 1000000);
        if (n < 0)
                return;
        vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
        n = (int)strlen(line);
        line[n++] = '\n';
        /* stderr is the serial console; a lost log line is not worth blocking for */
        (void)!write(STDERR_FILENO, line, (size_t)n);
}

void agent_log(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vlog(fmt, ap);
        va_end(ap);
}

void agent_debug(const char *fmt, ...)
{
        va_list ap;
        if (!agent_debug_on)
                return;
        va_start(ap, fmt);
        vlog(fmt, ap);
        va_end(ap);
}

int write_file(const char *path, const char *s)
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

int read_file(const char *path, char *buf, size_t size)
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
        buf[got] = '\0';
        return (int)got;
}

int mkdir_p(const char *path, mode_t mode)
{
        char tmp[4096];
        size_t len = strlen(path);

        if (len == 0 || len >= sizeof tmp)
                return -ENAMETOOLONG;
        memcpy(tmp, path, len + 1);
        for (char *p = tmp + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(tmp, mode) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(tmp, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* [A-Za-z0-9][A-Za-z0-9_+.-]*, at most AGENT_ID_MAX bytes */
bool id_valid(const char *s)
{
        size_t n = 0;

        if (s == NULL)
                return false;
        for (const char *p = s; *p; p++, n++) {
                char c = *p;
                bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
                if (n == 0 ? !alnum : !(alnum || c == '_' || c == '+' || c == '.' || c == '-'))
                        return false;
        }
        return n > 0 && n <= AGENT_ID_MAX;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
        if (b->off > 0 && b->off == b->len)
                b->off = b->len = 0;
        if (b->len + n > b->cap) {
                if (b->off > 0) {
                        memmove(b->data, b->data + b->off, b->len - b->off);
                        b->len -= b->off;
                        b->off = 0;
                }
                if (b->len + n > b->cap) {
                        size_t cap = b->cap ? b->cap : 4096;
                        while (cap < b->len + n)
                                cap *= 2;
                        uint8_t *d = realloc(b->data, cap);
                        if (d == NULL)
                                return -ENOMEM;
                        b->data = d;
                        b->cap = cap;
                }
        }
        memcpy(b->data + b->len, p, n);
        b->len += n;
        return 0;
}

void buf_consume(struct buf *b, size_t n)
{
        b->off += n;
        if (b->off >= b->len)
                b->off = b->len = 0;
}

void buf_free(struct buf *b)
{
        free(b->data);
        memset(b, 0, sizeof *b);
}
