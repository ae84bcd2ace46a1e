/* The kata-runtime command line, runc-compatible: global flags, a command, its flags and arguments. */
#ifndef VC_CLI_H
#define VC_CLI_H

#include <json-c/json.h>

#include "vc/error.h"

/* Parse argv (argv[0] is the program) into
 *   {"command": "create", "global": {"root": ..., "log_format": ...}, "options": {"bundle": ...},
 *    "args": ["id", ...]}
 * Flag names have dashes turned into underscores. Missing global values get their defaults (root
 * /run/kata-containers, log_format text). "--help"/"--version" become the commands "help"/"version".
 * Errors are one line naming the flag or command, e.g. "create: unknown flag '--bogus'". */
int vc_cli_parse(int argc, char *const *argv, json_object **ret, vc_error_t *err);
/* Usage text for `command` (NULL: the global usage); static storage. */
const char *vc_cli_usage(const char *command);
/* A signal by name ("TERM", "SIGTERM", "term") or number ("15"; "0" asks whether the process lives, as for
 * kill(2)); -EINVAL when unknown. */
int vc_signal_parse(const char *s, int *ret_signo);
/* "TERM" for 15, NULL when unknown. */
const char *vc_signal_name(int signo);

#define VC_DEFAULT_ROOT "/run/kata-containers"

#endif
