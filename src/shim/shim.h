/* kata-shim internals: one process per container process (or detached exec), attached to its handle
 * through the sandbox supervisor (docs/agent-protocol.md). */
#ifndef VC_SHIM_INTERNAL_H
#define VC_SHIM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "frame.h"

/* Exit status for everything that is not the process's own status (bad start, lost supervisor, vm-exit). */
#define SHIM_EXIT_FAILURE 255
#define SHIM_EXIT_USAGE 2

/* Bytes queued towards the supervisor before stdin reading pauses, and towards stdout/stderr before the
 * supervisor socket stops being read (that is the back pressure the supervisor sees). */
#define SHIM_SUP_HIGH (1u << 20)
#define SHIM_SUP_LOW (256u << 10)
#define SHIM_OUT_HIGH (4u << 20)
#define SHIM_OUT_LOW (1u << 20)
#define SHIM_READ_CHUNK (64u << 10)

struct shim;

/* The calls go one way, down: main.c calls conn.c (the supervisor connection), io.c (stdio) and
 * console.c; those report up only through these callbacks, which main.c sets in s->up. None of them
 * calls another or main.c (the test c.calls_shim checks it). */
struct shim_up {
        /* the shim cannot go on: report code and msg (to the ready fd when it is still open) and exit */
        void (*fail)(struct shim *s, int code, const char *msg);
        void (*exit)(struct shim *s, int status); /* the process is gone: flush output, exit with status */
        void (*attached)(struct shim *s);         /* sup.attach answered */
        /* conn.c: output of the process (stream 1 or 2); len 0 is that stream's end */
        void (*output)(struct shim *s, uint8_t stream, const void *data, size_t len);
        /* conn.c: the queue towards the supervisor passed SHIM_SUP_HIGH (true) or fell under SHIM_SUP_LOW */
        void (*sup_queue_full)(struct shim *s, bool full);
        /* io.c: bytes read from stdin; len 0 is its end */
        void (*input)(struct shim *s, const void *data, size_t len);
        void (*output_progress)(struct shim *s);                      /* io.c: output was written */
        void (*resize)(struct shim *s, unsigned rows, unsigned cols); /* console.c: the terminal's size */
};

/* Where process output goes: a libuv stream (pipe, FIFO, unix socket, tty) or, for what epoll cannot
 * watch (regular files, /dev/null and other character devices), blocking writes on the thread pool. */
enum shim_io_kind { SHIM_IO_NONE, SHIM_IO_STREAM, SHIM_IO_FILE };

struct shim_chunk {
        struct shim_chunk *next;
        size_t len, off;
        char data[];
};

struct shim_sink {
        struct shim *shim;
        const char *name; /* "stdout", "stderr", "console" */
        int stdio_fd;     /* 1 or 2; -1 for the console */
        enum shim_io_kind kind;
        uv_stream_t *stream; /* SHIM_IO_STREAM (owned unless shared) */
        bool shared;         /* the console: also the stdin source, never closed here */
        int fd;              /* SHIM_IO_FILE */
        struct shim_chunk *head, *tail;
        uv_work_t work;
        bool busy;
        int work_result;
        size_t queued;    /* bytes accepted but not yet written */
        uint64_t written; /* progress counter for the exit flush */
        bool dead;        /* a write failed (reader gone): further output is dropped */
        bool eof;         /* end of stream seen: close once drained */
        bool closed;
};

struct shim_source {
        struct shim *shim;
        const char *name;
        enum shim_io_kind kind;
        uv_stream_t *stream;
        bool shared;
        int fd;
        uv_work_t work;
        bool busy;
        ssize_t work_result;
        char *buf; /* SHIM_IO_FILE read buffer */
        bool started, paused, eof;
};

struct shim {
        const struct shim_up *up;
        uv_loop_t *loop;
        const char *container, *exec_id;
        uint32_t handle;
        int ready_fd;
        int devnull;
        bool debug;

        /* supervisor connection */
        uv_pipe_t sup;
        bool sup_open;
        struct vc_frame_reader reader;
        uint32_t next_id, attach_id;
        bool attached, sup_paused;
        size_t sup_queued;
        uv_timer_t attach_timer;

        /* stdio */
        struct shim_sink out, err;
        struct shim_source in;
        bool terminal; /* --terminal: stdin is the process's terminal (raw mode, resize from it) */
        bool tty_raw;  /* uv_tty_set_mode was used: reset at exit */
        uv_tty_t *stdin_tty;

        /* console (--console-socket) */
        const char *console_socket;
        uv_tty_t *console;
        int console_fd;
        bool console_ctty; /* the pty is our controlling terminal: SIGWINCH arrives */
        uv_timer_t winsize_timer;
        unsigned short last_rows, last_cols;
        bool resize_pending;

        /* signals */
        uv_signal_t *signals;
        int nsignals;

        /* exit */
        bool exiting;
        int exit_status;
        uv_timer_t flush_timer;
        uint64_t flush_progress;
        int flush_idle_ticks;

        /* saved file status flags of stdio fds we made non-blocking in place */
        int saved_flags[3];
};

/* conn.c */
int shim_connect(struct shim *s, const char *path);
int shim_send_attach(struct shim *s);
void shim_send_data(struct shim *s, uint8_t stream, const void *data, size_t len);
void shim_send_signal(struct shim *s, int signum);
void shim_send_resize(struct shim *s, unsigned rows, unsigned cols);
void shim_sup_pause(struct shim *s, bool pause);

/* io.c */
int shim_stdio_setup(struct shim *s);
void shim_source_start(struct shim_source *src);
void shim_source_pause(struct shim_source *src, bool pause);
void shim_source_stop(struct shim_source *src);
void shim_sink_write(struct shim_sink *k, const void *data, size_t len);
void shim_sink_eof(struct shim_sink *k);
bool shim_sink_drained(const struct shim_sink *k);
size_t shim_out_queued(const struct shim *s);
void shim_stdio_restore(struct shim *s);

/* console.c */
int shim_console_setup(struct shim *s);
int shim_winsize(struct shim *s, unsigned short *rows, unsigned short *cols);
void shim_resize_check(struct shim *s);

#endif
