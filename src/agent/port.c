/* The port to the host: a virtio-serial port (or, in tests, any stream socket) carrying frames. Frames
 * out wait in one queue until the port takes them; frames in are handed up through port_ops one at a
 * time. The port knows nothing of processes: data frames count against a counter their owner gives. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

struct outq {
        struct outq *next;
        size_t *account; /* the owner's count of queued bytes (NULL once the owner is gone) */
        uint8_t type;
        size_t len, off;
        uint8_t data[];
};

static struct {
        int fd;
        char name[64];
        const struct port_ops *ops;
        bool connected;
        bool discard; /* protocol error: ignore input until the host closes its end */
        uint64_t hup_since;
        struct vc_frame_reader reader;
        struct outq *head, *tail;
} P = {.fd = -1};

void port_init(int fd, const char *name, const struct port_ops *ops)
{
        P.fd = fd;
        snprintf(P.name, sizeof P.name, "%s", name);
        P.ops = ops;
        P.connected = false;
        P.discard = false;
        P.hup_since = agent_now_ms();
        vc_frame_reader_init(&P.reader);
}

int port_fd(void)
{
        return P.fd;
}

bool port_connected(void)
{
        return P.connected;
}

bool port_has_output(void)
{
        return P.head != NULL;
}

uint64_t port_away_since(void)
{
        return P.hup_since;
}

static void outq_append(struct outq *q, size_t *account)
{
        q->next = NULL;
        q->account = account;
        q->off = 0;
        if (account)
                *account += q->len;
        if (P.tail)
                P.tail->next = q;
        else
                P.head = q;
        P.tail = q;
}

int port_queue(uint8_t type, uint8_t stream, uint32_t id, const void *payload, size_t len, size_t *account)
{
        struct outq *q = malloc(sizeof *q + VC_FRAME_HEADER + len);
        int rc;

        if (q == NULL)
                return -ENOMEM;
        rc = vc_frame_header_encode(q->data, type, stream, id, len);
        if (rc < 0) {
                free(q);
                return rc;
        }
        if (len)
                memcpy(q->data + VC_FRAME_HEADER, payload, len);
        q->type = type;
        q->len = VC_FRAME_HEADER + len;
        outq_append(q, account);
        return 0;
}

ssize_t port_queue_read(int fd, uint8_t stream, uint32_t id, size_t cap, size_t *account)
{
        struct outq *q = malloc(sizeof *q + VC_FRAME_HEADER + cap), *small;
        ssize_t n;

        if (q == NULL)
                return -ENOMEM;
        n = read(fd, q->data + VC_FRAME_HEADER, cap);
        if (n <= 0 || vc_frame_header_encode(q->data, VC_FRAME_DATA, stream, id, (size_t)n) < 0) {
                int e = n < 0 ? errno : EINVAL;
                free(q);
                return n == 0 ? 0 : -e;
        }
        q->type = VC_FRAME_DATA;
        q->len = VC_FRAME_HEADER + (size_t)n;
        /* a short read does not keep a whole read buffer queued */
        if ((size_t)n < cap / 2 && (small = realloc(q, sizeof *q + q->len)) != NULL)
                q = small;
        outq_append(q, account);
        return n;
}

void port_queue_json(uint8_t type, uint32_t id, json_object *o)
{
        size_t len = 0;
        const char *s = o ? vc_rpc_text(o, &len) : NULL;

        if (s == NULL || port_queue(type, 0, id, s, len, NULL) < 0)
                agent_log("cannot queue a frame of %zu bytes", len);
        json_object_put(o);
}

void port_forget_account(size_t *account)
{
        for (struct outq *q = P.head; q; q = q->next)
                if (q->account == account)
                        q->account = NULL;
}

void reply_ok(uint32_t id, json_object *result)
{
        port_queue_json(VC_FRAME_RESPONSE, id, vc_rpc_result(result));
}

void reply_err(uint32_t id, int code, const char *fmt, ...)
{
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        agent_debug("request %u failed: %s", id, msg);
        port_queue_json(VC_FRAME_RESPONSE, id, vc_rpc_error(code, msg));
}

void port_event(const char *name, json_object *params)
{
        port_queue_json(VC_FRAME_EVENT, 0, vc_rpc_event(name, params));
}

static void outq_pop(void)
{
        struct outq *q = P.head;

        P.head = q->next;
        if (P.head == NULL)
                P.tail = NULL;
        if (q->account)
                *q->account -= q->len;
        free(q);
}

/* The host closed its end of the port (or we must behave as if it had). Frames it will never read:
 * the rest of a partly written one (so the next connection starts on a frame boundary) and responses,
 * which answer requests of the connection that is gone. Data and exit events stay queued. */
static void port_disconnected(void)
{
        if (!P.connected)
                return;
        P.connected = false;
        P.discard = false;
        P.hup_since = agent_now_ms();
        vc_frame_reader_free(&P.reader);
        vc_frame_reader_init(&P.reader);
        if (P.head && P.head->off > 0)
                outq_pop();
        struct outq **pp = &P.head;
        int dropped = 0;
        P.tail = NULL;
        while (*pp) {
                struct outq *q = *pp;
                if (q->type == VC_FRAME_RESPONSE) {
                        *pp = q->next;
                        free(q);
                        dropped++;
                } else {
                        P.tail = q;
                        pp = &q->next;
                }
        }
        P.ops->hangup();
        agent_debug("host disconnected%s", dropped ? " (dropped responses for it)" : "");
}

void port_flush(void)
{
        while (P.connected && P.head) {
                struct outq *q = P.head;
                ssize_t n = write(P.fd, q->data + q->off, q->len - q->off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN) {
                                agent_log("write %s: %s", P.name, strerror(errno));
                                port_disconnected();
                        }
                        return;
                }
                if (n == 0) /* virtio_console: no room in the queue after all; wait for POLLOUT */
                        return;
                q->off += (size_t)n;
                if (q->off == q->len)
                        outq_pop();
        }
}

void port_process(void)
{
        while (P.connected && !P.discard && !P.ops->hold()) {
                struct vc_frame f;
                int rc = vc_frame_reader_next(&P.reader, &f);
                if (rc == 0)
                        return;
                if (rc < 0) {
                        agent_log("protocol error from the host: dropping the connection");
                        P.discard = true;
                        vc_frame_reader_free(&P.reader);
                        vc_frame_reader_init(&P.reader);
                        return;
                }
                P.ops->frame(&f);
        }
}

void port_read(void)
{
        uint8_t buf[65536];

        port_process();
        for (int round = 0; round < 16 && P.connected && !P.ops->hold(); round++) {
                ssize_t n = read(P.fd, buf, sizeof buf);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN) {
                                agent_log("read %s: %s", P.name, strerror(errno));
                                port_disconnected();
                        }
                        return;
                }
                if (n == 0) {
                        port_disconnected();
                        return;
                }
                if (P.discard)
                        continue;
                if (vc_frame_reader_feed(&P.reader, buf, (size_t)n) < 0) {
                        agent_log("out of memory reading the port");
                        P.discard = true;
                        continue;
                }
                port_process();
        }
}

static bool port_hung_up(void)
{
        struct pollfd pfd = {.fd = P.fd, .events = POLLIN | POLLOUT};

        return poll(&pfd, 1, 0) < 0 || (pfd.revents & (POLLHUP | POLLERR | POLLNVAL));
}

void port_revents(short re)
{
        if (re & (POLLIN | POLLHUP | POLLERR))
                port_read(); /* reads what is left, then sees EOF */
        /* The hang-up may be stale: a new host can have connected since the poll (its request just read).
         * Believe only the port's state now. */
        if (P.connected && (re & POLLHUP) && port_hung_up())
                port_disconnected();
        if (P.connected && (re & POLLOUT))
                port_flush();
}

/* While the host is away the port polls as hung up at once, so it leaves the poll set; SIGIO (or the
 * loop's timeout) brings us here to look again. */
void port_check_reconnect(void)
{
        if (P.connected || port_hung_up())
                return;
        P.connected = true;
        P.discard = false;
        agent_debug("host connected");
}

void port_drain(uint64_t deadline)
{
        while (P.connected && P.head && agent_now_ms() < deadline) {
                struct pollfd pfd = {.fd = P.fd, .events = POLLOUT};
                if (poll(&pfd, 1, 50) > 0 && (pfd.revents & POLLHUP))
                        break;
                port_flush();
        }
}
