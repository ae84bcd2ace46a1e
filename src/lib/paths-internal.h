/* Where the runtime's companion programs are: one rule for the supervisor, the shim and the tools. */
#ifndef VC_PATHS_INTERNAL_H
#define VC_PATHS_INTERNAL_H

#include "vc/error.h"

/* Where programs the runtime starts live once installed, relative to <prefix>/bin. */
#define VC_LIBEXEC_REL "../libexec/kata-runtime"

/* The executable companion program name (kata-supervisor, kata-shim): beside the running program (a build
 * tree, or libexec for the supervisor), else at its installed place relative to it, else in the build
 * directory $VC_BUILD_DIR names (a build-tree run under another program, such as lua5.4 running specs).
 * *ret_path is malloc'd. -ENOENT with a message naming where it looked. */
int vc__companion_path(const char *name, char **ret_path, vc_error_t *err);

#endif
