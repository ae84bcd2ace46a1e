/* libFuzzer: the guest agent reading a request as methods_dispatch does (vc_rpc_parse, vc_rpc_read_request),
 * then the parts it parses with spawn_parse_*: create_container's spec and rootfs, exec_process's process. */
#include <stdint.h>
#include <string.h>

#include "agent.h"
#include "rpc.h"

static void spawn_init(struct spawn *s)
{
        memset(s, 0, sizeof *s);
        s->ns_fd_mnt = s->ns_fd_uts = s->ns_fd_ipc = s->ns_fd_cgroup = s->root_fd = -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        json_object *req = vc_rpc_parse(data, size), *params = NULL, *v = NULL;
        const char *method = NULL;
        struct spawn s;
        char err[256];

        if (req == NULL)
                return 0;
        if (vc_rpc_read_request(req, &method, &params, err, sizeof err) < 0 || params == NULL)
                goto out;
        if (json_object_object_get_ex(params, "spec", &v) && json_object_is_type(v, json_type_object)) {
                const char *r = vc_rpc_get_string(params, "rootfs");
                if (r == NULL || strlen(r) > 4000)
                        r = "c1/rootfs";
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
        return 0;
}
