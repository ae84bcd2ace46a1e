/* The protocol's methods (docs/agent-protocol.md): one handler per method, found through the table at
 * the end. A handler reads its params, answers with reply_ok or reply_err (now, or later through the
 * process table), and leaves processes, cgroups and the port to their own files. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent.h"

static struct {
        bool sandbox;
        void (*poweroff)(void);
} M;

void methods_init(void (*poweroff)(void))
{
        M.poweroff = poweroff;
}

/* Fetch params[key] of type t. Missing and required, or of the wrong type: error reply, false. */
bool param_get(uint32_t id, json_object *params, const char *key, json_type t, bool required,
               json_object **out)
{
        json_object *v = NULL;

        *out = NULL;
        if (params == NULL || !json_object_object_get_ex(params, key, &v) || v == NULL) {
                if (required)
                        reply_err(id, EINVAL, "missing parameter '%s'", key);
                return !required;
        }
        if (!json_object_is_type(v, t)) {
                reply_err(id, EINVAL, "parameter '%s': expected %s", key, json_type_to_name(t));
                return false;
        }
        *out = v;
        return true;
}

struct container *param_ctr(uint32_t id, json_object *params)
{
        json_object *v;
        struct container *c;

        if (!param_get(id, params, "id", json_type_string, true, &v))
                return NULL;
        if (!agent_id_valid(json_object_get_string(v))) {
                reply_err(id, EINVAL, "invalid container id");
                return NULL;
        }
        c = ctr_by_id(json_object_get_string(v));
        if (c == NULL)
                reply_err(id, ENOENT, "container '%s' not found", json_object_get_string(v));
        return c;
}

struct proc *param_handle(uint32_t id, json_object *params)
{
        json_object *v;
        struct proc *p;

        if (!param_get(id, params, "handle", json_type_int, true, &v))
                return NULL;
        int64_t h = json_object_get_int64(v);
        p = h > 0 && h <= UINT32_MAX ? proc_by_handle((uint32_t)h) : NULL;
        if (p == NULL)
                reply_err(id, ENOENT, "process handle %lld not found", (long long)h);
        return p;
}

/* ---------------------------------------------------------------- methods */

static void m_check(uint32_t id, json_object *params)
{
        json_object *r = json_object_new_object();
        json_object_object_add(r, "version", json_object_new_string(AGENT_VERSION));
        json_object_object_add(r, "protocol", json_object_new_int(AGENT_PROTOCOL));
        reply_ok(id, r);
}

#define SHARE_PROBE_MS 5000

/* The shared file system's readahead (agent.h): one FUSE request per window instead of eight. Not being
 * able to set it costs only speed. */
static void share_readahead(void)
{
        struct stat st;
        char path[96], kb[16];
        int rc;

        if (stat(AGENT_SHARED_DIR, &st) < 0)
                return;
        snprintf(path, sizeof path, "/sys/class/bdi/%u:%u/read_ahead_kb", major(st.st_dev), minor(st.st_dev));
        snprintf(kb, sizeof kb, "%u", AGENT_SHARE_READAHEAD_KB);
        if ((rc = vc_write_file(path, kb)) < 0)
                agent_debug("%s: %s", path, strerror(-rc));
}

static void m_create_sandbox(uint32_t id, json_object *params)
{
        json_object *host, *tag, *fs;
        const char *t;

        if (!param_get(id, params, "hostname", json_type_string, false, &host) ||
            !param_get(id, params, "share_tag", json_type_string, true, &tag) ||
            !param_get(id, params, "share_fs", json_type_string, false, &fs))
                return;
        if (fs && strcmp(json_object_get_string(fs), "9p") != 0 &&
            strcmp(json_object_get_string(fs), "virtio-fs") != 0) {
                reply_err(id, EINVAL, "invalid share_fs");
                return;
        }
        t = json_object_get_string(tag);
        if (!agent_id_valid(t) || strlen(t) > 36) {
                reply_err(id, EINVAL, "invalid share_tag");
                return;
        }
        if (host && (json_object_get_string_len(host) == 0 || json_object_get_string_len(host) > 64)) {
                reply_err(id, EINVAL, "invalid hostname");
                return;
        }
        if (M.sandbox) {
                reply_err(id, EEXIST, "sandbox already created");
                return;
        }
        /* A device hot-plugged into a clone (docs/factory.md) is still being probed for a moment: its tag
         * is unknown (EINVAL) until then. */
        uint64_t deadline = agent_now_ms() + SHARE_PROBE_MS;
        if (fs && strcmp(json_object_get_string(fs), "9p") == 0) {
                /* a template's copy-on-write clone: QEMU serves the share (docs/factory.md) */
                if (mount(t, AGENT_SHARED_DIR, "9p", MS_NOSUID | MS_NODEV,
                          "trans=virtio,version=9p2000.L,msize=262144,cache=mmap") < 0) {
                        reply_err(id, errno, "mount 9p '%s' on %s: %s", t, AGENT_SHARED_DIR, strerror(errno));
                        return;
                }
        } else {
                while (mount(t, AGENT_SHARED_DIR, "virtiofs", MS_NOSUID | MS_NODEV, NULL) < 0) {
                        if (errno != EINVAL || agent_now_ms() >= deadline) {
                                reply_err(id, errno, "mount virtio-fs '%s' on %s: %s", t, AGENT_SHARED_DIR,
                                          strerror(errno));
                                return;
                        }
                        usleep(5000);
                }
                share_readahead();
        }
        if (host && sethostname(json_object_get_string(host), (size_t)json_object_get_string_len(host)) < 0)
                agent_log("sethostname: %s", strerror(errno));
        M.sandbox = true;
        reply_ok(id, NULL);
}

/* create_container's "join": {"uts"?: id, "ipc"?: id, "pid"?: id} -- the new container enters that running
 * container's namespace of the type instead of a new one (a pod's containers share the sandbox's UTS and
 * IPC namespaces, and its pid namespace when the pod shares its processes). Opens them into
 * s->ns_fd_uts/ns_fd_ipc and *pidns; false after an error reply. */
static bool open_joins(uint32_t id, json_object *params, struct spawn *s, int *pidns)
{
        static const char *const types[] = {"uts", "ipc", "pid"};
        int *fds[] = {&s->ns_fd_uts, &s->ns_fd_ipc, pidns};
        json_object *join;
        char path[64];

        if (!param_get(id, params, "join", json_type_object, false, &join))
                return false;
        if (join == NULL)
                return true;
        json_object_object_foreach(join, key, val)
        {
                size_t i;
                for (i = 0; i < 3 && strcmp(key, types[i]) != 0; i++)
                        ;
                if (i == 3) {
                        reply_err(id, EINVAL, "join: unknown namespace type '%.32s'", key);
                        return false;
                }
                if (!json_object_is_type(val, json_type_string)) {
                        reply_err(id, EINVAL, "join.%s: expected a container id", key);
                        return false;
                }
                struct container *o = ctr_by_id(json_object_get_string(val));
                if (o == NULL) {
                        reply_err(id, ENOENT, "join.%s: container '%s' not found", key,
                                  json_object_get_string(val));
                        return false;
                }
                if (o->init == NULL || o->init->exited || o->init->state == PROC_CREATING) {
                        reply_err(id, ESRCH, "join.%s: container '%s' is not running", key, o->id);
                        return false;
                }
                snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)o->init->pid, key);
                close_fd(fds[i]);
                if ((*fds[i] = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
                        reply_err(id, errno == ENOENT ? ESRCH : errno, "join.%s: open %s: %s", key, path,
                                  strerror(errno));
                        return false;
                }
        }
        return true;
}

static void m_create_container(uint32_t id, json_object *params)
{
        json_object *cid, *rootfs, *spec;
        struct container *c = NULL;
        struct spawn s;
        char err[256] = "";
        struct stat st;
        int rc, pidns = -1;

        memset(&s, 0, sizeof s);
        s.ns_fd_mnt = s.ns_fd_uts = s.ns_fd_ipc = s.ns_fd_cgroup = s.root_fd = -1;
        if (!param_get(id, params, "id", json_type_string, true, &cid) ||
            !param_get(id, params, "rootfs", json_type_string, true, &rootfs) ||
            !param_get(id, params, "spec", json_type_object, true, &spec))
                return;
        if (!agent_id_valid(json_object_get_string(cid))) {
                reply_err(id, EINVAL, "invalid container id");
                return;
        }
        if (ctr_by_id(json_object_get_string(cid))) {
                reply_err(id, EEXIST, "container '%s' already exists", json_object_get_string(cid));
                return;
        }
        if (json_object_get_string_len(rootfs) > PATH_MAX - 64) {
                reply_err(id, EINVAL, "rootfs: too long");
                return;
        }
        rc = spawn_parse_spec(&s, spec, json_object_get_string(rootfs), err, sizeof err);
        if (rc < 0) {
                reply_err(id, -rc, "%s", err[0] ? err : strerror(-rc));
                goto out;
        }
        if (!open_joins(id, params, &s, &pidns))
                goto out;
        if (stat(s.rootfs, &st) < 0 || !S_ISDIR(st.st_mode)) {
                reply_err(id, ENOENT, "rootfs '%s' is not a directory", s.rootfs);
                goto out;
        }

        if ((rc = ctr_new(json_object_get_string(cid), &c, err, sizeof err)) < 0) {
                reply_err(id, -rc, "%s", err);
                goto out;
        }
        json_object *lnx, *res = NULL;
        if (json_object_object_get_ex(spec, "linux", &lnx) && json_object_is_type(lnx, json_type_object))
                json_object_object_get_ex(lnx, "resources", &res);
        int64_t t0 = vc_now_ms();
        if ((rc = resources_apply(c->cgroup, res, false, err, sizeof err)) < 0 ||
            (rc = devices_cgroup_apply(c->cgroup, res, &s, err, sizeof err)) < 0) {
                reply_err(id, -rc, "%s", err);
                goto out;
        }
        agent_debug("create_container %s: cgroup limits and device program in %lld ms", c->id,
                    (long long)(vc_now_ms() - t0));
        if ((s.cgroup_dir = strdup(c->cgroup)) == NULL ||
            (s.seccomp && (c->seccomp = agent_seccomp_dup(s.seccomp)) == NULL)) {
                reply_err(id, ENOMEM, "out of memory");
                goto out;
        }
        rc = proc_spawn(&s, c, "", pidns >= 0 ? pidns : s.ns_pid ? -2 : -1, id, err, sizeof err);
        if (rc < 0)
                reply_err(id, -rc, "%s", err);
        else
                c = NULL; /* its process owns it now */
        agent_debug("create_container %s: %s", json_object_get_string(cid), rc < 0 ? err : "forked");
out:
        close_fd(&pidns);
        close_fd(&s.ns_fd_uts);
        close_fd(&s.ns_fd_ipc);
        if (c)
                ctr_free(c);
        spawn_free(&s);
}

static void m_start_container(uint32_t id, json_object *params)
{
        struct container *c = param_ctr(id, params);
        if (c == NULL)
                return;
        if (c->init == NULL) {
                reply_err(id, ESRCH, "container '%s' has no process", c->id);
                return;
        }
        proc_start(id, c->init);
}

static void m_exec_process(uint32_t id, json_object *params)
{
        json_object *eid, *process;
        struct container *c;
        struct proc *old;
        struct spawn s;
        char err[256] = "", path[64];
        int pidns = -1, rc;
        static const char *const nsname[] = {"mnt", "uts", "ipc", "cgroup"};

        memset(&s, 0, sizeof s);
        s.ns_fd_mnt = s.ns_fd_uts = s.ns_fd_ipc = s.ns_fd_cgroup = s.root_fd = -1;
        if ((c = param_ctr(id, params)) == NULL ||
            !param_get(id, params, "exec_id", json_type_string, true, &eid) ||
            !param_get(id, params, "process", json_type_object, true, &process))
                return;
        if (!agent_id_valid(json_object_get_string(eid))) {
                reply_err(id, EINVAL, "invalid exec_id");
                return;
        }
        old = proc_by_exec_id(c, json_object_get_string(eid));
        if (old && !old->exit_sent) {
                reply_err(id, EEXIST, "exec '%s' already exists in '%s'", json_object_get_string(eid), c->id);
                return;
        }
        if (c->init == NULL || c->init->exited || c->init->state == PROC_CREATING) {
                reply_err(id, ESRCH, "container '%s' is not running", c->id);
                return;
        }
        rc = spawn_parse_process(&s, process, err, sizeof err);
        if (rc < 0) {
                reply_err(id, -rc, "%s", err[0] ? err : strerror(-rc));
                goto out;
        }
        int *fds[] = {&s.ns_fd_mnt, &s.ns_fd_uts, &s.ns_fd_ipc, &s.ns_fd_cgroup};
        for (int i = 0; i < 4; i++) {
                snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)c->init->pid, nsname[i]);
                if ((*fds[i] = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
                        reply_err(id, errno == ENOENT ? ESRCH : errno, "open %s: %s", path, strerror(errno));
                        goto out;
                }
        }
        snprintf(path, sizeof path, "/proc/%d/root", (int)c->init->pid);
        s.root_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        snprintf(path, sizeof path, "/proc/%d/ns/pid", (int)c->init->pid);
        pidns = open(path, O_RDONLY | O_CLOEXEC);
        if (s.root_fd < 0 || pidns < 0) {
                reply_err(id, ESRCH, "container '%s': %s", c->id, strerror(errno));
                goto out;
        }
        if ((s.cgroup_dir = strdup(c->cgroup)) == NULL ||
            (c->seccomp && (s.seccomp = agent_seccomp_dup(c->seccomp)) == NULL)) {
                reply_err(id, ENOMEM, "out of memory");
                goto out;
        }
        if (old)
                proc_free(old);
        rc = proc_spawn(&s, c, json_object_get_string(eid), pidns, id, err, sizeof err);
        if (rc < 0)
                reply_err(id, -rc, "%s", err);
out:
        close_fd(&pidns);
        close_fd(&s.ns_fd_mnt);
        close_fd(&s.ns_fd_uts);
        close_fd(&s.ns_fd_ipc);
        close_fd(&s.ns_fd_cgroup);
        close_fd(&s.root_fd);
        spawn_free(&s);
}

static void m_start_process(uint32_t id, json_object *params)
{
        struct proc *p = param_handle(id, params);
        if (p)
                proc_start(id, p);
}

static void m_signal_process(uint32_t id, json_object *params)
{
        json_object *eid, *sig, *all;
        struct container *c;
        struct proc *p;
        int signo;

        if ((c = param_ctr(id, params)) == NULL ||
            !param_get(id, params, "exec_id", json_type_string, false, &eid) ||
            !param_get(id, params, "signal", json_type_int, true, &sig) ||
            !param_get(id, params, "all", json_type_boolean, false, &all))
                return;
        if (json_object_get_int64(sig) < 1 || json_object_get_int64(sig) >= NSIG) {
                reply_err(id, EINVAL, "invalid signal %lld", (long long)json_object_get_int64(sig));
                return;
        }
        signo = (int)json_object_get_int64(sig);
        if (all && json_object_get_boolean(all)) {
                int rc = cgroup_signal_all(c->cgroup, signo);
                if (rc < 0)
                        reply_err(id, -rc, "signal container '%s': %s", c->id, strerror(-rc));
                else
                        reply_ok(id, NULL);
                return;
        }
        p = proc_by_exec_id(c, eid ? json_object_get_string(eid) : "");
        if (p == NULL) {
                reply_err(id, ENOENT, "process '%s' not found in '%s'",
                          eid ? json_object_get_string(eid) : "", c->id);
                return;
        }
        if (p->exited) {
                reply_err(id, ESRCH, "process %u is not running", p->handle);
                return;
        }
        if (kill(p->pid, signo) < 0) {
                reply_err(id, errno, "kill %d: %s", (int)p->pid, strerror(errno));
                return;
        }
        reply_ok(id, NULL);
}

static void m_wait_process(uint32_t id, json_object *params)
{
        struct proc *p = param_handle(id, params);
        uint32_t *w;

        if (p == NULL)
                return;
        if (p->exit_sent) {
                json_object *r = json_object_new_object();
                json_object_object_add(r, "status", json_object_new_int(p->status));
                reply_ok(id, r);
                return;
        }
        if (p->nwaiters >= 64 || (w = realloc(p->waiters, (p->nwaiters + 1) * sizeof *w)) == NULL) {
                reply_err(id, EAGAIN, "too many waiters on process %u", p->handle);
                return;
        }
        p->waiters = w;
        p->waiters[p->nwaiters++] = id;
}

static void m_list_processes(uint32_t id, json_object *params)
{
        struct container *c = param_ctr(id, params);
        char buf[65536];
        json_object *r, *pids;
        int rc;

        if (c == NULL)
                return;
        if ((rc = cgroup_read(c->cgroup, "cgroup.procs", buf, sizeof buf)) < 0) {
                reply_err(id, -rc, "read cgroup of '%s': %s", c->id, strerror(-rc));
                return;
        }
        r = json_object_new_object();
        pids = json_object_new_array();
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
                json_object_array_add(pids, json_object_new_int((int)strtol(line, NULL, 10)));
        json_object_object_add(r, "pids", pids);
        reply_ok(id, r);
}

static void m_resize(uint32_t id, json_object *params)
{
        json_object *rows, *cols;
        struct proc *p = param_handle(id, params);
        struct winsize ws = {0};

        if (p == NULL || !param_get(id, params, "rows", json_type_int, true, &rows) ||
            !param_get(id, params, "cols", json_type_int, true, &cols))
                return;
        if (json_object_get_int64(rows) < 0 || json_object_get_int64(rows) > 65535 ||
            json_object_get_int64(cols) < 0 || json_object_get_int64(cols) > 65535) {
                reply_err(id, EINVAL, "invalid terminal size");
                return;
        }
        if (!p->terminal || p->out_fd[0] < 0) {
                reply_err(id, ENOTTY, "process %u has no terminal", p->handle);
                return;
        }
        ws.ws_row = (unsigned short)json_object_get_int64(rows);
        ws.ws_col = (unsigned short)json_object_get_int64(cols);
        if (ioctl(p->out_fd[0], TIOCSWINSZ, &ws) < 0) {
                reply_err(id, errno, "resize: %s", strerror(errno));
                return;
        }
        reply_ok(id, NULL);
}

static void freeze(uint32_t id, json_object *params, bool on)
{
        struct container *c = param_ctr(id, params);
        int rc;

        if (c == NULL)
                return;
        rc = cgroup_freeze(c->cgroup, on);
        if (rc == -ETIMEDOUT)
                reply_err(id, ETIMEDOUT, "%s '%s': cgroup did not reach the state", on ? "pause" : "resume",
                          c->id);
        else if (rc < 0)
                reply_err(id, -rc, "%s '%s': %s", on ? "pause" : "resume", c->id, strerror(-rc));
        else
                reply_ok(id, NULL);
}

static void m_pause_container(uint32_t id, json_object *params)
{
        freeze(id, params, true);
}

static void m_resume_container(uint32_t id, json_object *params)
{
        freeze(id, params, false);
}

static void m_stats_container(uint32_t id, json_object *params)
{
        struct container *c = param_ctr(id, params);
        json_object *r;

        if (c == NULL)
                return;
        r = cgroup_stats(c->cgroup);
        json_object_object_add(r, "network", net_stats());
        reply_ok(id, r);
}

static void m_remove_container(uint32_t id, json_object *params)
{
        struct container *c = param_ctr(id, params);

        if (c == NULL)
                return;
        if (ctr_kill_and_drain(c) < 0) {
                reply_err(id, EBUSY, "container '%s': processes did not exit", c->id);
                return;
        }
        agent_debug("removed container %s", c->id);
        port_event(VC_EVENT_CONTAINER_REMOVED, vc_rpc_params_id(c->id));
        ctr_free(c);
        reply_ok(id, NULL);
}

static void m_destroy_sandbox(uint32_t id, json_object *params)
{
        for (struct container *c = ctrs_first(); c; c = c->next)
                (void)ctr_kill_and_drain(c);
        /* The answer tells the host that nothing is left in the guest: the containers are gone and what
         * they wrote to the share has reached virtiofsd, so the host may end the VM without waiting. */
        sync();
        reply_ok(id, NULL);
        /* Give the host its answer (and the last output) before the power goes. */
        port_drain(agent_now_ms() + 2000);
        if (M.sandbox)
                (void)umount2(AGENT_SHARED_DIR, MNT_DETACH);
        M.poweroff();
}

/* update_container {"id", "resources"}: linux.resources applied to a running container's cgroup. */
static void m_update_container(uint32_t id, json_object *params)
{
        struct container *c = param_ctr(id, params);
        json_object *res;
        char err[256] = "";
        int rc;

        if (c == NULL || !param_get(id, params, "resources", json_type_object, true, &res))
                return;
        if ((rc = resources_apply(c->cgroup, res, true, err, sizeof err)) < 0) {
                reply_err(id, -rc, "%s", err);
                return;
        }
        reply_ok(id, NULL);
}

/* The method table: adding a method is one line here and its handler. */
static const struct {
        const char *name;
        agent_method_fn *fn;
} methods[] = {
    {VC_AGENT_CHECK, m_check},
    {VC_AGENT_CREATE_SANDBOX, m_create_sandbox},
    {VC_AGENT_CREATE_CONTAINER, m_create_container},
    {VC_AGENT_START_CONTAINER, m_start_container},
    {VC_AGENT_EXEC_PROCESS, m_exec_process},
    {VC_AGENT_START_PROCESS, m_start_process},
    {VC_AGENT_SIGNAL_PROCESS, m_signal_process},
    {VC_AGENT_WAIT_PROCESS, m_wait_process},
    {VC_AGENT_LIST_PROCESSES, m_list_processes},
    {VC_AGENT_RESIZE, m_resize},
    {VC_AGENT_PAUSE_CONTAINER, m_pause_container},
    {VC_AGENT_RESUME_CONTAINER, m_resume_container},
    {VC_AGENT_STATS_CONTAINER, m_stats_container},
    {VC_AGENT_UPDATE_CONTAINER, m_update_container},
    {VC_AGENT_REMOVE_CONTAINER, m_remove_container},
    {VC_AGENT_DESTROY_SANDBOX, m_destroy_sandbox},
    {VC_AGENT_UPDATE_INTERFACE, net_m_update_interface},
    {VC_AGENT_RESTORE, m_restore},
};

void methods_dispatch(uint32_t id, const uint8_t *payload, size_t len)
{
        json_object *req = vc_rpc_parse(payload, len), *params = NULL;
        const char *name;
        char err[128];

        if (req == NULL) {
                reply_err(id, EINVAL, "request is not a single JSON value");
                return;
        }
        if (vc_rpc_read_request(req, &name, &params, err, sizeof err) < 0) {
                reply_err(id, EINVAL, "%s", err);
                goto out;
        }
        for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
                if (strcmp(methods[i].name, name) == 0) {
                        agent_debug("request %u: %s", id, name);
                        methods[i].fn(id, params);
                        goto out;
                }
        }
        reply_err(id, ENOSYS, "unknown method '%.64s'", name);
out:
        json_object_put(req);
}

const char *methods_name(size_t i)
{
        return i < sizeof methods / sizeof methods[0] ? methods[i].name : NULL;
}
