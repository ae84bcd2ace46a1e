/* The agent's log (the serial console) and small fd helpers. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

bool agent_debug_on;
struct rlimit agent_nofile_default = {1024, 4096};

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

void close_fd(int *fd)
{
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
}

void set_nonblock(int fd)
{
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0)
                (void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

void sleep_ms(long ms)
{
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

int spec_fail(char *err, size_t errlen, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        return -EINVAL;
}
