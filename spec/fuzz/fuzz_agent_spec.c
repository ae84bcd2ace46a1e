/* libFuzzer: the guest agent reading a request as methods_dispatch does (one JSON value, depth 64), then
 * the parts it parses with spawn_parse_*: create_container's spec and rootfs, exec_process's process. */
#include <stdint.h>
#include <string.h>

#include "agent.h"

static void spawn_init(struct spawn *s)
{
        memset(s, 0, sizeof *s);
        s->ns_fd_mnt = s->ns_fd_uts = s->ns_fd_ipc = s->ns_fd_cgroup = s->root_fd = -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        json_tokener *tok = json_tokener_new_ex(64);
        json_object *req, *params = NULL, *v = NULL;
        struct spawn s;
        char err[256];

        if (tok == NULL)
                return 0;
        req = json_tokener_parse_ex(tok, (const char *)data, (int)size);
        if (req == NULL || json_tokener_get_error(tok) != json_tokener_success ||
            json_tokener_get_parse_end(tok) != size || !json_object_is_type(req, json_type_object))
                goto out;
        if (!json_object_object_get_ex(req, "params", &params) ||
            !json_object_is_type(params, json_type_object))
                params = req;
        if (json_object_object_get_ex(params, "spec", &v) && json_object_is_type(v, json_type_object)) {
                json_object *rootfs = NULL;
                const char *r = "c1/rootfs";
                if (json_object_object_get_ex(params, "rootfs", &rootfs) &&
                    json_object_is_type(rootfs, json_type_string) &&
                    json_object_get_string_len(rootfs) < 4000)
                        r = json_object_get_string(rootfs);
                spawn_init(&s);
                (void)spawn_parse_spec(&s, v, r, err, sizeof err);
                spawn_free(&s);
        }
        if (json_object_object_get_ex(params, "process", &v) && json_object_is_type(v, json_type_object)) {
                spawn_init(&s);
                (void)spawn_parse_process(&s, v, err, sizeof err);
                spawn_free(&s);
        }
out:
        json_object_put(req);
        json_tokener_free(tok);
        return 0;
}
