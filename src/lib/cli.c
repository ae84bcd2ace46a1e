/* Argument parsing with getopt_long, one option table per command, runc's command and flag names. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"
#include "vc/cli.h"

enum opt_kind {
        OPT_BOOL,
        OPT_STRING,
        OPT_INT,
        OPT_LIST, /* repeatable, collected into an array */
};

struct opt {
        const char *name;
        char short_name;
        enum opt_kind kind;
        const char *help;
};

struct command {
        const char *name;
        const char *args_usage;
        int min_args, max_args; /* max -1: unlimited */
        const struct opt *opts;
        const char *summary;
};

#define END_OPTS                                                                                             \
        {                                                                                                    \
                NULL, 0, 0, NULL                                                                             \
        }

static const struct opt global_opts[] = {
    {"root", 0, OPT_STRING, "root directory for container state (default " VC_DEFAULT_ROOT ")"},
    {"log", 0, OPT_STRING, "log file (default: stderr)"},
    {"log-format", 0, OPT_STRING, "log format: text or json"},
    {"debug", 0, OPT_BOOL, "enable debug logging"},
    {"systemd-cgroup", 0, OPT_BOOL, "accepted for compatibility (cgroups live in the guest)"},
    {"cgroup-manager", 0, OPT_STRING, "accepted for compatibility: cgroupfs, systemd or disabled"},
    {"rootless", 0, OPT_STRING, "accepted for compatibility: true, false or auto"},
    {"criu", 0, OPT_STRING, "accepted for compatibility"},
    {"config", 0, OPT_STRING, "runtime configuration file"},
    {"help", 'h', OPT_BOOL, "show help"},
    {"version", 'v', OPT_BOOL, "print the version"},
    END_OPTS,
};

static const struct opt create_opts[] = {
    {"bundle", 'b', OPT_STRING, "path to the bundle directory (default: current directory)"},
    {"pid-file", 0, OPT_STRING, "file to write the container's process id to"},
    {"console-socket", 0, OPT_STRING, "unix socket that receives the pty master of a terminal container"},
    {"no-pivot", 0, OPT_BOOL, "accepted for compatibility"},
    {"no-new-keyring", 0, OPT_BOOL, "accepted for compatibility"},
    {"preserve-fds", 0, OPT_INT, "accepted for compatibility"},
    END_OPTS,
};

static const struct opt run_opts[] = {
    {"bundle", 'b', OPT_STRING, "path to the bundle directory (default: current directory)"},
    {"pid-file", 0, OPT_STRING, "file to write the container's process id to"},
    {"console-socket", 0, OPT_STRING, "unix socket that receives the pty master of a terminal container"},
    {"detach", 'd', OPT_BOOL, "do not wait for the container to exit"},
    {"keep", 0, OPT_BOOL, "do not delete the container after it exits"},
    {"no-subreaper", 0, OPT_BOOL, "accepted for compatibility"},
    {"no-pivot", 0, OPT_BOOL, "accepted for compatibility"},
    {"no-new-keyring", 0, OPT_BOOL, "accepted for compatibility"},
    {"preserve-fds", 0, OPT_INT, "accepted for compatibility"},
    END_OPTS,
};

static const struct opt kill_opts[] = {
    {"all", 'a', OPT_BOOL, "send the signal to all processes of the container"},
    END_OPTS,
};

static const struct opt delete_opts[] = {
    {"force", 'f', OPT_BOOL, "kill the container first if it is running"},
    END_OPTS,
};

static const struct opt exec_opts[] = {
    {"process", 'p', OPT_STRING, "path to a process.json"},
    {"detach", 'd', OPT_BOOL, "detach from the process"},
    {"pid-file", 0, OPT_STRING, "file to write the process id to"},
    {"tty", 't', OPT_BOOL, "allocate a pseudo-TTY"},
    {"console-socket", 0, OPT_STRING, "unix socket that receives the pty master"},
    {"env", 'e', OPT_LIST, "set an environment variable (repeatable)"},
    {"cwd", 0, OPT_STRING, "working directory in the container"},
    {"user", 'u', OPT_STRING, "uid[:gid]"},
    {"additional-gids", 'g', OPT_LIST, "additional gids (repeatable)"},
    {"cap", 'c', OPT_LIST, "accepted for compatibility"},
    {"no-new-privs", 0, OPT_BOOL, "accepted for compatibility"},
    {"process-label", 0, OPT_STRING, "accepted for compatibility"},
    {"apparmor", 0, OPT_STRING, "accepted for compatibility"},
    {"preserve-fds", 0, OPT_INT, "accepted for compatibility"},
    {"ignore-paused", 0, OPT_BOOL, "accepted for compatibility"},
    {"cgroup", 0, OPT_STRING, "accepted for compatibility"},
    END_OPTS,
};

static const struct opt format_opts[] = {
    {"format", 'f', OPT_STRING, "table or json"},
    END_OPTS,
};

static const struct opt list_opts[] = {
    {"format", 'f', OPT_STRING, "table or json"},
    {"quiet", 'q', OPT_BOOL, "print only the ids"},
    END_OPTS,
};

static const struct opt events_opts[] = {
    {"stats", 0, OPT_BOOL, "print the container's statistics once and exit"},
    {"interval", 0, OPT_STRING, "interval between statistics (default 5s)"},
    END_OPTS,
};

/* runc's update: -r FILE (a linux.resources object; "-" is stdin), or the flags */
static const struct opt update_opts[] = {
    {"resources", 'r', OPT_STRING,
     "file with a linux.resources object, '-' for stdin (the flags are then ignored)"},
    {"memory", 0, OPT_STRING, "memory limit in bytes (units k, m, g; -1: unlimited)"},
    {"memory-reservation", 0, OPT_STRING, "memory soft limit (memory.low)"},
    {"memory-swap", 0, OPT_STRING, "memory plus swap limit (-1: unlimited swap)"},
    {"kernel-memory", 0, OPT_STRING, "accepted for compatibility: cgroup v2 has no kernel memory limit"},
    {"kernel-memory-tcp", 0, OPT_STRING, "accepted for compatibility: cgroup v2 has no kernel memory limit"},
    {"cpu-quota", 0, OPT_STRING, "CPU time in microseconds per period (-1: unlimited)"},
    {"cpu-period", 0, OPT_STRING, "CPU period in microseconds"},
    {"cpu-share", 0, OPT_STRING, "CPU shares, relative weight"},
    {"cpu-shares", 0, OPT_STRING, "CPU shares, relative weight (as --cpu-share)"},
    {"cpu-rt-period", 0, OPT_STRING, "realtime period (refused: cgroup v2 has none)"},
    {"cpu-rt-runtime", 0, OPT_STRING, "realtime runtime (refused: cgroup v2 has none)"},
    {"cpuset-cpus", 0, OPT_STRING, "CPUs the container may use (0-3, 0,1)"},
    {"cpuset-mems", 0, OPT_STRING, "memory nodes the container may use"},
    {"pids-limit", 0, OPT_STRING, "maximum number of processes (-1: unlimited)"},
    {"blkio-weight", 0, OPT_STRING, "block IO weight (refused: the guest has no block devices)"},
    {"l3-cache-schema", 0, OPT_STRING, "Intel RDT (refused in the guest)"},
    {"mem-bw-schema", 0, OPT_STRING, "Intel RDT (refused in the guest)"},
    END_OPTS,
};

static const struct opt spec_opts[] = {
    {"bundle", 'b', OPT_STRING, "directory to write config.json to"},
    {"rootless", 0, OPT_BOOL, "accepted for compatibility"},
    END_OPTS,
};

static const struct opt no_opts[] = {END_OPTS};

static const struct opt policy_opts[] = {
    {"fail", 0, OPT_STRING,
     "trace: make this primitive call fail (\"agent start_container\", \"fs.bind\", ...)"},
    END_OPTS,
};

static const struct command commands[] = {
    {"create", "<container-id>", 1, 1, create_opts, "create a container"},
    {"start", "<container-id>", 1, 1, no_opts, "start the process of a created container"},
    {"run", "<container-id>", 1, 1, run_opts, "create and start a container"},
    {"state", "<container-id>", 1, 1, no_opts, "print the state of a container"},
    {"kill", "<container-id> [signal]", 1, 2, kill_opts, "send a signal to a container (default TERM)"},
    {"delete", "<container-id>", 1, 1, delete_opts, "delete a container and what it holds"},
    {"exec", "<container-id> [command [args...]]", 1, -1, exec_opts, "run a process in a container"},
    {"ps", "<container-id> [ps options]", 1, -1, format_opts, "list the processes of a container"},
    {"list", "", 0, 0, list_opts, "list containers"},
    {"pause", "<container-id>", 1, 1, no_opts, "freeze all processes of a container"},
    {"resume", "<container-id>", 1, 1, no_opts, "thaw a paused container"},
    {"events", "<container-id>", 1, 1, events_opts, "print container events and statistics"},
    {"update", "<container-id>", 1, 1, update_opts, "change the resource limits of a running container"},
    {"spec", "", 0, 0, spec_opts, "write a new config.json"},
    {"features", "", 0, 0, no_opts, "print the OCI features this runtime supports (JSON)"},
    {"version", "", 0, 0, no_opts, "print the version"},
    {"check", "", 0, 0, no_opts, "check what this host offers (KVM, QEMU, virtiofsd, modules)"},
    {"env", "", 0, 0, no_opts, "print the effective configuration (JSON)"},
    {"policy", "check <file|name> | show <name> | trace <name> <command> [args...]", 2, -1, policy_opts,
     "check a policy, show where its steps come from, or trace a command against fakes"},
    {"factory", "init | status | destroy", 1, 1, no_opts,
     "make, show or remove the template VMs sandboxes are cloned from (factory.template)"},
    {"teardown", "<sandbox-id>", 1, 1, no_opts,
     "finish tearing down a deleted sandbox (delete starts it in the background)"},
    {"help", "[command]", 0, 1, no_opts, "show help"},
};

static const struct command *find_command(const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (STREQ(commands[i].name, name))
                        return &commands[i];
        return NULL;
}

static char *key_of(const char *name)
{
        char *k = strdup(name);
        for (char *p = k; p && *p; p++)
                if (*p == '-')
                        *p = '_';
        return k;
}

/* getopt_long over argv[first..argc), stopping at the first non-option ("+"), as urfave/cli does. */
static int parse_opts(const char *what, const struct opt *opts, int argc, char *const *argv, int *ret_next,
                      json_object *out, vc_error_t *err)
{
        struct option lopts[32];
        char shorts[64] = "+:";
        size_t n = 0, sl = 2;

        for (const struct opt *o = opts; o->name; o++, n++) {
                lopts[n] = (struct option){o->name, o->kind == OPT_BOOL ? no_argument : required_argument,
                                           NULL, 256 + (int)n};
                if (o->short_name) {
                        shorts[sl++] = o->short_name;
                        if (o->kind != OPT_BOOL)
                                shorts[sl++] = ':';
                }
        }
        lopts[n] = (struct option){0};
        shorts[sl] = '\0';

        optind = 0; /* GNU: 0 reinitialises getopt's state */
        opterr = 0;
        for (;;) {
                int idx = -1;
                int c = getopt_long(argc, argv, shorts, lopts, NULL);
                if (c == -1)
                        break;
                if (c == '?') {
                        if (optopt && optopt < 256)
                                return vc_error_setx(err, EINVAL, "%s: unknown flag '-%c'", what, optopt);
                        return vc_error_setx(err, EINVAL, "%s: unknown flag '%s'", what, argv[optind - 1]);
                }
                if (c == ':') {
                        if (optopt && optopt < 256)
                                return vc_error_setx(err, EINVAL, "%s: flag '-%c' needs a value", what,
                                                     optopt);
                        return vc_error_setx(err, EINVAL, "%s: flag '%s' needs a value", what,
                                             argv[optind - 1]);
                }
                if (c >= 256)
                        idx = c - 256;
                else
                        for (size_t i = 0; i < n; i++)
                                if (opts[i].short_name == c)
                                        idx = (int)i;
                if (idx < 0)
                        return vc_error_setx(err, EINVAL, "%s: unknown flag '-%c'", what, c);
                const struct opt *o = &opts[idx];
                _cleanup_free_ char *key = key_of(o->name);
                if (key == NULL)
                        return vc_error_set(err, ENOMEM, "%s", what);
                switch (o->kind) {
                case OPT_BOOL:
                        json_object_object_add(out, key, json_object_new_boolean(1));
                        break;
                case OPT_STRING:
                        json_object_object_add(out, key, json_object_new_string(optarg));
                        break;
                case OPT_INT: {
                        char *end;
                        errno = 0;
                        long long v = strtoll(optarg, &end, 10);
                        if (errno || *end || end == optarg || v < 0)
                                return vc_error_setx(err, EINVAL, "%s: flag '--%s': invalid number '%s'",
                                                     what, o->name, optarg);
                        json_object_object_add(out, key, json_object_new_int64(v));
                        break;
                }
                case OPT_LIST: {
                        json_object *a;
                        if (!json_object_object_get_ex(out, key, &a)) {
                                a = json_object_new_array();
                                json_object_object_add(out, key, a);
                        }
                        json_object_array_add(a, json_object_new_string(optarg));
                        break;
                }
                }
        }
        *ret_next = optind;
        return 0;
}

int vc_cli_parse(int argc, char *const *argv, json_object **ret, vc_error_t *err)
{
        json_object *ctx = json_object_new_object(), *global = json_object_new_object(),
                    *options = json_object_new_object(), *args = json_object_new_array(), *v;
        int next = 1, r;
        const char *name;
        const struct command *cmd;

        json_object_object_add(ctx, "global", global);
        json_object_object_add(ctx, "options", options);
        json_object_object_add(ctx, "args", args);

        r = parse_opts("kata-runtime", global_opts, argc, argv, &next, global, err);
        if (r < 0)
                goto fail;
        if (json_object_object_get_ex(global, "log_format", &v)) {
                const char *f = json_object_get_string(v);
                if (!STREQ(f, "text") && !STREQ(f, "json")) {
                        r = vc_error_setx(err, EINVAL,
                                          "kata-runtime: flag '--log-format': unknown format '%s'", f);
                        goto fail;
                }
        } else {
                json_object_object_add(global, "log_format", json_object_new_string("text"));
        }
        /* crun's flag, which podman passes with cgroups=disabled; the container's cgroups live in the guest
         */
        if (json_object_object_get_ex(global, "cgroup_manager", &v)) {
                const char *m = json_object_get_string(v);
                if (!STREQ(m, "cgroupfs") && !STREQ(m, "systemd") && !STREQ(m, "disabled")) {
                        r = vc_error_setx(err, EINVAL,
                                          "kata-runtime: flag '--cgroup-manager': unknown manager '%s'", m);
                        goto fail;
                }
        }
        if (!json_object_object_get_ex(global, "root", &v))
                json_object_object_add(global, "root", json_object_new_string(VC_DEFAULT_ROOT));
        else if (json_object_get_string_len(v) == 0) {
                r = vc_error_setx(err, EINVAL, "kata-runtime: flag '--root': empty path");
                goto fail;
        }

        if (json_object_object_get_ex(global, "version", NULL))
                name = "version";
        else if (json_object_object_get_ex(global, "help", NULL) || next >= argc)
                name = "help";
        else
                name = argv[next++];
        cmd = find_command(name);
        if (cmd == NULL) {
                r = vc_error_setx(err, EINVAL, "kata-runtime: unknown command '%s'", name);
                goto fail;
        }
        json_object_object_add(ctx, "command", json_object_new_string(cmd->name));

        if (next < argc) {
                /* getopt sees argv[0] as the program name: hand it the command's slice */
                int sub_argc = argc - next + 1;
                int sub_next;
                r = parse_opts(cmd->name, cmd->opts, sub_argc, argv + next - 1, &sub_next, options, err);
                if (r < 0)
                        goto fail;
                next = next - 1 + sub_next;
        }
        for (int i = next; i < argc; i++)
                json_object_array_add(args, json_object_new_string(argv[i]));
        int nargs = argc - next;
        if (nargs < cmd->min_args || (cmd->max_args >= 0 && nargs > cmd->max_args)) {
                if (cmd->min_args == cmd->max_args)
                        r = vc_error_setx(err, EINVAL, "\"%s\" requires exactly %d argument(s)", cmd->name,
                                          cmd->min_args);
                else if (nargs < cmd->min_args)
                        r = vc_error_setx(err, EINVAL, "\"%s\" requires a minimum of %d argument(s)",
                                          cmd->name, cmd->min_args);
                else
                        r = vc_error_setx(err, EINVAL, "\"%s\" requires a maximum of %d argument(s)",
                                          cmd->name, cmd->max_args);
                goto fail;
        }
        if (json_object_object_get_ex(options, "format", &v)) {
                const char *f = json_object_get_string(v);
                if (!STREQ(f, "table") && !STREQ(f, "json")) {
                        r = vc_error_setx(err, EINVAL, "%s: flag '--format': unknown format '%s'", cmd->name,
                                          f);
                        goto fail;
                }
        }
        *ret = ctx;
        return 0;
fail:
        json_object_put(ctx);
        return r;
}

static char usage_buf[8192];

static void append_opts(size_t *len, const struct opt *opts)
{
        for (const struct opt *o = opts; o->name; o++) {
                char flag[64];
                if (o->short_name)
                        snprintf(flag, sizeof flag, "-%c, --%s%s", o->short_name, o->name,
                                 o->kind == OPT_BOOL ? "" : " value");
                else
                        snprintf(flag, sizeof flag, "--%s%s", o->name, o->kind == OPT_BOOL ? "" : " value");
                *len += (size_t)snprintf(usage_buf + *len, sizeof usage_buf - *len, "   %-28s %s\n", flag,
                                         o->help);
                if (*len >= sizeof usage_buf)
                        *len = sizeof usage_buf - 1;
        }
}

const char *vc_cli_usage(const char *command)
{
        const struct command *cmd = command ? find_command(command) : NULL;
        size_t len = 0;

        if (cmd) {
                len = (size_t)snprintf(usage_buf, sizeof usage_buf,
                                       "Usage: kata-runtime %s [options] %s\n\n%s\n", cmd->name,
                                       cmd->args_usage, cmd->summary);
                if (cmd->opts[0].name) {
                        len += (size_t)snprintf(usage_buf + len, sizeof usage_buf - len, "\nOptions:\n");
                        append_opts(&len, cmd->opts);
                }
                return usage_buf;
        }
        len = (size_t)snprintf(
            usage_buf, sizeof usage_buf,
            "Usage: kata-runtime [global options] command [options] [arguments...]\n\n"
            "An OCI runtime that runs each container or pod in its own QEMU virtual machine.\n\n"
            "Commands:\n");
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                len += (size_t)snprintf(usage_buf + len, sizeof usage_buf - len, "   %-10s %s\n",
                                        commands[i].name, commands[i].summary);
        len += (size_t)snprintf(usage_buf + len, sizeof usage_buf - len, "\nGlobal options:\n");
        append_opts(&len, global_opts);
        return usage_buf;
}

static const struct {
        const char *name;
        int signo;
} signals[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},       {"QUIT", SIGQUIT}, {"ILL", SIGILL},     {"TRAP", SIGTRAP},
    {"ABRT", SIGABRT}, {"IOT", SIGIOT},       {"BUS", SIGBUS},   {"FPE", SIGFPE},     {"KILL", SIGKILL},
    {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},     {"USR2", SIGUSR2}, {"PIPE", SIGPIPE},   {"ALRM", SIGALRM},
    {"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},   {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU}, {"URG", SIGURG},     {"XCPU", SIGXCPU},
    {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
    {"POLL", SIGPOLL}, {"PWR", SIGPWR},       {"SYS", SIGSYS},
};

int vc_signal_parse(const char *s, int *ret_signo)
{
        char *end;
        if (s == NULL || *s == '\0')
                return -EINVAL;
        if (s[0] >= '0' && s[0] <= '9') {
                errno = 0;
                long v = strtol(s, &end, 10);
                if (errno || *end || v < 0 || v > SIGRTMAX)
                        return -EINVAL;
                *ret_signo = (int)v;
                return 0;
        }
        if (strncasecmp(s, "SIG", 3) == 0)
                s += 3;
        for (size_t i = 0; i < ELEMENTSOF(signals); i++)
                if (strcasecmp(s, signals[i].name) == 0) {
                        *ret_signo = signals[i].signo;
                        return 0;
                }
        /* RTMIN, RTMIN+n, RTMAX-n */
        if (strncasecmp(s, "RTMIN", 5) == 0 || strncasecmp(s, "RTMAX", 5) == 0) {
                int base = strncasecmp(s, "RTMIN", 5) == 0 ? SIGRTMIN : SIGRTMAX, off = 0;
                if (s[5] == '+' || s[5] == '-') {
                        errno = 0;
                        long v = strtol(s + 6, &end, 10);
                        if (errno || *end || v < 0 || v > 32)
                                return -EINVAL;
                        off = s[5] == '+' ? (int)v : -(int)v;
                } else if (s[5] != '\0')
                        return -EINVAL;
                if (base + off < SIGRTMIN || base + off > SIGRTMAX)
                        return -EINVAL;
                *ret_signo = base + off;
                return 0;
        }
        return -EINVAL;
}

const char *vc_signal_name(int signo)
{
        for (size_t i = 0; i < ELEMENTSOF(signals); i++)
                if (signals[i].signo == signo)
                        return signals[i].name;
        return NULL;
}
