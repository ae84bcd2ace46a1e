/* Network namespaces without Lua: create, enter, list, ownership, delete. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"
#include "vc/netns.h"

static char tmp[64], dir[128];

/* Whether something is mounted at or under prefix (from /proc/self/mountinfo). */
static int mounted_under(const char *prefix)
{
        FILE *f = fopen("/proc/self/mountinfo", "re");
        char line[4096], mp[4096];
        size_t n = strlen(prefix);
        int found = 0;

        while (f && fgets(line, sizeof line, f))
                if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && strncmp(mp, prefix, n) == 0)
                        found = 1;
        if (f)
                fclose(f);
        return found;
}

static int thread_netns_ino(void *data)
{
        struct stat st;
        if (stat("/proc/thread-self/ns/net", &st) < 0)
                return -errno;
        *(ino_t *)data = st.st_ino;
        return 0;
}

static int test_create_enter_list_delete(void)
{
        struct vc_netns_links *l = NULL;
        vc_netns_t *ns = NULL;
        vc_error_t err = NULL;
        struct stat st, self_before, self_after;
        char path[192];
        ino_t inside = 0;

        CHECK(vc_netns_create(dir, "n1", &ns, &err) == 0);
        snprintf(path, sizeof path, "%s/n1", dir);
        CHECK_STREQ(vc_netns_path(ns), path);
        CHECK(mounted_under(path));
        CHECK(fstat(vc_netns_fd(ns), &st) == 0);

        CHECK(stat("/proc/thread-self/ns/net", &self_before) == 0);
        CHECK(vc_netns_enter(ns, thread_netns_ino, &inside, &err) == 0);
        CHECK(stat("/proc/thread-self/ns/net", &self_after) == 0);
        CHECK(inside == st.st_ino);
        CHECK(self_before.st_ino == self_after.st_ino && self_after.st_ino != st.st_ino);

        CHECK(vc_netns_links(ns, &l, &err) == 0);
        CHECK(l->n_links == 1);
        CHECK_STREQ(l->links[0].name, "lo");
        CHECK(l->links[0].up);
        CHECK(l->links[0].n_addrs >= 1);
        CHECK_STREQ(l->links[0].addrs[0].address, "127.0.0.1");
        CHECK(l->links[0].addrs[0].prefixlen == 8);
        l = vc_netns_links_free(l);

        CHECK(vc_netns_create(dir, "n1", &ns, &err) == -EEXIST);
        vc_error_release(&err);

        CHECK(vc_netns_delete(path, &err) == 0);
        ns = vc_netns_free(ns);
        CHECK(!mounted_under(path));
        CHECK(access(path, F_OK) < 0 && errno == ENOENT);
        return 0;
}

static int test_delete_refuses_what_the_runtime_did_not_create(void)
{
        vc_error_t err = NULL;
        char path[192];

        CHECK(vc_netns_delete("/proc/self/ns/net", &err) == -EPERM);
        CHECK_STREQ(err->msg, "refusing to delete netns '/proc/self/ns/net': not one the runtime created "
                              "(its directory has no " VC_NETNS_MARKER ")");
        vc_error_release(&err);
        snprintf(path, sizeof path, "%s/" VC_NETNS_MARKER, dir);
        CHECK(vc_netns_delete(path, &err) == -EPERM);
        vc_error_release(&err);
        CHECK(access(path, F_OK) == 0);
        return 0;
}

static int test_dir_remove(void)
{
        vc_error_t err = NULL;

        CHECK(vc_netns_dir_remove(tmp, &err) == -EPERM);
        vc_error_release(&err);
        CHECK(vc_netns_dir_remove(dir, &err) == 0);
        CHECK(!mounted_under(tmp));
        CHECK(access(dir, F_OK) < 0 && errno == ENOENT);
        return 0;
}

int main(void)
{
        if (geteuid() != 0) {
                printf("1..0 # SKIP needs root (network namespaces)\n");
                return 77;
        }
        snprintf(tmp, sizeof tmp, "/tmp/vc-test-netns.XXXXXX");
        if (mkdtemp(tmp) == NULL) {
                perror("mkdtemp");
                return 1;
        }
        snprintf(dir, sizeof dir, "%s/netns", tmp);

        RUN_TEST(test_create_enter_list_delete);
        RUN_TEST(test_delete_refuses_what_the_runtime_did_not_create);
        RUN_TEST(test_dir_remove);

        if (remove_scratch_dir(tmp) > 0)
                tap_failed = 1;
        return TAP_DONE();
}
