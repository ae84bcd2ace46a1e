#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "vc/oci.h"
#include "vc/state.h"

int vc_mkdir_p(const char *path, mode_t mode, vc_error_t *err)
{
        char failed[PATH_MAX] = "";
        int r = vc_mkdir_p_at(path, mode, failed, sizeof failed);

        if (r < 0)
                return vc_error_set(err, -r, "mkdir '%s'", failed[0] ? failed : path);
        return 0;
}

static int fsync_dir_of(const char *path, vc_error_t *err)
{
        _cleanup_free_ char *dir = strdup(path);
        if (dir == NULL)
                return vc_error_set(err, ENOMEM, "fsync");
        char *slash = strrchr(dir, '/');
        if (slash == dir)
                slash[1] = '\0';
        else if (slash)
                *slash = '\0';
        else
                strcpy(dir, ".");
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return vc_error_set(err, errno, "open '%s'", dir);
        if (fsync(fd) < 0)
                return vc_error_set(err, errno, "fsync '%s'", dir);
        return 0;
}

int vc_atomic_write(const char *path, const void *data, size_t len, mode_t mode, vc_error_t *err)
{
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -1;
        const char *p = data;

        if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0)
                return vc_error_set(err, ENOMEM, "write '%s'", path);
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return vc_error_set(err, errno, "create temporary file for '%s'", path);
        if (fchmod(fd, mode) < 0)
                goto fail;
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        goto fail;
                }
                p += n;
                len -= (size_t)n;
        }
        if (fsync(fd) < 0)
                goto fail;
        if (rename(tmp, path) < 0)
                goto fail;
        return fsync_dir_of(path, err);
fail:;
        int saved = errno;
        (void)unlink(tmp);
        return vc_error_set(err, saved, "write '%s'", path);
}

/* The file name that stands for an id under root: the id itself, or for an id too long to be a file name
 * (ids may have 1024 bytes, names 255) '_' and its digest; '_' cannot start an id, so the two
 * never collide, and the state file keeps the real id. */
#define VC_NAME_MAX 200
static const char *id_name(const char *id, char buf[18])
{
        if (strlen(id) <= VC_NAME_MAX)
                return id;
        buf[0] = '_';
        vc_id_digest(id, buf + 1);
        return buf;
}

static int state_file(const char *root, const char *id, char **ret, vc_error_t *err)
{
        int r = vc_id_validate(id, err);
        if (r < 0)
                return r;
        char nb[18];
        if (asprintf(ret, "%s/%s/state.json", root, id_name(id, nb)) < 0)
                return vc_error_set(err, ENOMEM, "state of '%s'", id);
        return 0;
}

int vc_state_save(const char *root, const char *id, json_object *state, vc_error_t *err)
{
        _cleanup_free_ char *path = NULL, *dir = NULL;
        int r = state_file(root, id, &path, err);
        if (r < 0)
                return r;
        char nb[18];
        if (asprintf(&dir, "%s/%s", root, id_name(id, nb)) < 0)
                return vc_error_set(err, ENOMEM, "state of '%s'", id);
        if ((r = vc_mkdir_p(dir, 0711, err)) < 0)
                return r;
        const char *s =
            json_object_to_json_string_ext(state, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        return vc_atomic_write(path, s, strlen(s), 0600, err);
}

int vc_state_load(const char *root, const char *id, json_object **ret, vc_error_t *err)
{
        _cleanup_free_ char *path = NULL;
        int r = state_file(root, id, &path, err);
        if (r < 0)
                return r;
        if (access(path, F_OK) < 0) {
                if (errno == ENOENT)
                        return vc_error_setx(err, ENOENT, "container does not exist");
                return vc_error_set(err, errno, "state of '%s'", id);
        }
        json_object *o = json_object_from_file(path);
        if (o == NULL || json_object_get_type(o) != json_type_object) {
                json_object_put(o);
                return vc_error_setx(err, EIO, "state of '%s': '%s' is corrupt", id, path);
        }
        *ret = o;
        return 0;
}

int vc_state_remove(const char *root, const char *id, vc_error_t *err)
{
        _cleanup_free_ char *path = NULL, *dir = NULL;
        int r = state_file(root, id, &path, err);
        if (r < 0)
                return r;
        char nb[18];
        if (asprintf(&dir, "%s/%s", root, id_name(id, nb)) < 0)
                return vc_error_set(err, ENOMEM, "state of '%s'", id);
        if (unlink(path) < 0 && errno != ENOENT)
                return vc_error_set(err, errno, "remove '%s'", path);
        /* temp files of a write that was interrupted before its rename */
        _cleanup_closedir_ DIR *d = opendir(dir);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL)
                if (strncmp(e->d_name, "state.json.tmp.", 15) == 0)
                        (void)unlinkat(dirfd(d), e->d_name, 0);
        if (rmdir(dir) < 0 && errno != ENOENT)
                return vc_error_set(err, errno, "remove '%s'", dir);
        return 0;
}

char **vc_strv_free(char **v)
{
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
        return NULL;
}

static int cmpstr(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int vc_state_list(const char *root, char ***ret, vc_error_t *err)
{
        _cleanup_closedir_ DIR *d = opendir(root);
        char **v = NULL;
        size_t n = 0;
        struct dirent *e;

        if (d == NULL) {
                if (errno != ENOENT)
                        return vc_error_set(err, errno, "open '%s'", root);
        }
        while (d && (e = readdir(d)) != NULL) {
                char path[4096];
                if (e->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof path, "%s/%s/state.json", root, e->d_name);
                if (access(path, F_OK) < 0)
                        continue;
                /* a long id's directory has a digest for a name: the id is in its state */
                char *id = NULL;
                if (e->d_name[0] == '_') {
                        json_object *st = json_object_from_file(path), *v_id;
                        if (st && json_object_object_get_ex(st, "id", &v_id) &&
                            json_object_get_type(v_id) == json_type_string)
                                id = strdup(json_object_get_string(v_id));
                        json_object_put(st);
                        if (id == NULL)
                                continue;
                } else {
                        id = strdup(e->d_name);
                }
                char **nv = realloc(v, (n + 2) * sizeof *v);
                if (nv == NULL || (nv[n] = id) == NULL) {
                        free(id);
                        if (nv)
                                nv[n] = NULL;
                        vc_strv_free(nv ? nv : v);
                        return vc_error_set(err, ENOMEM, "list '%s'", root);
                }
                v = nv;
                v[++n] = NULL;
        }
        if (v == NULL && (v = calloc(1, sizeof *v)) == NULL)
                return vc_error_set(err, ENOMEM, "list '%s'", root);
        qsort(v, n, sizeof *v, cmpstr);
        *ret = v;
        return 0;
}

struct vc_lock {
        int fd;
        char *path;
};

vc_lock_t *vc_lock_release(vc_lock_t *lock, int remove)
{
        if (lock == NULL)
                return NULL;
        if (remove)
                (void)unlink(lock->path);
        if (lock->fd >= 0)
                (void)close(lock->fd); /* drops the flock */
        free(lock->path);
        free(lock);
        return NULL;
}

int vc_lock_acquire(const char *root, const char *name, int timeout_ms, vc_lock_t **ret, vc_error_t *err)
{
        _cleanup_free_ char *dir = NULL, *path = NULL;
        /* + 1: vc_now_ms() drops the fraction of the current millisecond, and the wait is at least timeout_ms
         */
        long long deadline = timeout_ms < 0 ? -1 : vc_now_ms() + timeout_ms + 1;
        int r;

        if ((r = vc_id_validate(name, err)) < 0)
                return r;
        char nb[18];
        if (asprintf(&dir, "%s/.lock", root) < 0 || asprintf(&path, "%s/%s", dir, id_name(name, nb)) < 0)
                return vc_error_set(err, ENOMEM, "lock '%s'", name);
        if ((r = vc_mkdir_p(dir, 0700, err)) < 0)
                return r;
        for (;;) {
                _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
                struct stat a, b;
                if (fd < 0)
                        return vc_error_set(err, errno, "open lock '%s'", path);
                /* flock has no timeout: poll with LOCK_NB and a short sleep (waits are rare and short) */
                while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                        if (errno != EWOULDBLOCK && errno != EINTR)
                                return vc_error_set(err, errno, "lock '%s'", path);
                        if (deadline >= 0 && vc_now_ms() >= deadline)
                                return vc_error_setx(err, EAGAIN, "sandbox '%s' is locked by another command",
                                                     name);
                        (void)poll(NULL, 0, 10);
                }
                /* The holder may have destroyed the sandbox and unlinked the file: then lock a fresh one. */
                if (fstat(fd, &a) < 0)
                        return vc_error_set(err, errno, "lock '%s'", path);
                if (stat(path, &b) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev)
                        continue;
                vc_lock_t *l = calloc(1, sizeof *l);
                if (l == NULL)
                        return vc_error_set(err, ENOMEM, "lock '%s'", path);
                l->fd = TAKE_FD(fd);
                l->path = TAKE_PTR(path);
                *ret = l;
                return 0;
        }
}
