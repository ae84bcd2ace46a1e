#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "paths-internal.h"
#include "util.h"

int vc__companion_path(const char *name, char **ret_path, vc_error_t *err)
{
        _cleanup_free_ char *beside = NULL, *installed = NULL;
        const char *env = getenv("VC_BUILD_DIR");
        const char *rels[3] = {NULL, NULL, NULL};
        char self[PATH_MAX];
        char *p = NULL;

        if (asprintf(&beside, "%s", name) < 0 || asprintf(&installed, VC_LIBEXEC_REL "/%s", name) < 0)
                return vc_error_set(err, ENOMEM, "%s", name);
        rels[0] = beside;
        rels[1] = installed;
        if (vc_self_relative(rels, X_OK, &p) == 0) {
                *ret_path = p;
                return 0;
        }
        if (env && env[0]) {
                if (asprintf(&p, "%s/%s", env, name) < 0)
                        return vc_error_set(err, ENOMEM, "%s", name);
                if (access(p, X_OK) == 0) {
                        *ret_path = p;
                        return 0;
                }
                free(p);
        }
        if (vc_self_dir(self, sizeof self) < 0)
                snprintf(self, sizeof self, "?");
        return vc_error_setx(err, ENOENT,
                             "%s not found beside '%s', in '%s/" VC_LIBEXEC_REL "' nor in $VC_BUILD_DIR",
                             name, self, self);
}
