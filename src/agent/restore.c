/* After a VM is restored from a template (docs/factory.md) its guest holds the template's wall clock and
 * the random state every clone shares. The host's restore call hands it the time and fresh entropy. */
#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#define RESTORE_MIN_ENTROPY 32
#define RESTORE_MAX_ENTROPY 256

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Mix bytes into the input pool, credited (the host's getrandom output), and make the CRNG reseed from
 * it now rather than at its next scheduled reseed. */
static int reseed(const uint8_t *bytes, size_t len)
{
        struct {
                struct rand_pool_info info;
                uint8_t buf[RESTORE_MAX_ENTROPY];
        } req;
        int fd, r = 0;

        fd = open("/dev/urandom", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        memset(&req, 0, sizeof req);
        req.info.entropy_count = (int)(len * 8);
        req.info.buf_size = (int)len;
        memcpy(req.buf, bytes, len);
        if (ioctl(fd, RNDADDENTROPY, &req) < 0 || ioctl(fd, RNDRESEEDCRNG) < 0)
                r = -errno;
        explicit_bzero(&req, sizeof req);
        close(fd);
        return r;
}

/* restore {sec, nsec, entropy: hex}: set CLOCK_REALTIME, then reseed the RNG. */
void m_restore(uint32_t id, json_object *params)
{
        json_object *sec, *nsec, *ent;
        uint8_t bytes[RESTORE_MAX_ENTROPY];
        struct timespec ts;
        const char *hex;
        size_t len;
        int r;

        if (!param_get(id, params, "sec", json_type_int, true, &sec) ||
            !param_get(id, params, "nsec", json_type_int, true, &nsec) ||
            !param_get(id, params, "entropy", json_type_string, true, &ent))
                return;
        ts.tv_sec = (time_t)json_object_get_int64(sec);
        ts.tv_nsec = (long)json_object_get_int64(nsec);
        if (ts.tv_sec <= 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000L) {
                reply_err(id, EINVAL, "invalid time");
                return;
        }
        hex = json_object_get_string(ent);
        len = strlen(hex);
        if (len % 2 || len / 2 < RESTORE_MIN_ENTROPY || len / 2 > RESTORE_MAX_ENTROPY) {
                reply_err(id, EINVAL, "entropy must be %d..%d bytes in hex", RESTORE_MIN_ENTROPY,
                          RESTORE_MAX_ENTROPY);
                return;
        }
        for (size_t i = 0; i < len / 2; i++) {
                int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
                if (hi < 0 || lo < 0) {
                        reply_err(id, EINVAL, "entropy must be %d..%d bytes in hex", RESTORE_MIN_ENTROPY,
                                  RESTORE_MAX_ENTROPY);
                        return;
                }
                bytes[i] = (uint8_t)(hi << 4 | lo);
        }
        if (clock_settime(CLOCK_REALTIME, &ts) < 0) {
                reply_err(id, errno, "set the clock: %s", strerror(errno));
                return;
        }
        r = reseed(bytes, len / 2);
        explicit_bzero(bytes, sizeof bytes);
        if (r < 0) {
                reply_err(id, -r, "reseed the RNG: %s", strerror(-r));
                return;
        }
        agent_log("restored: clock set, RNG reseeded with %zu bytes", len / 2);
        reply_ok(id, NULL);
}
