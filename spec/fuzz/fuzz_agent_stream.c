/* libFuzzer: the host side of the agent protocol. A hostile guest's byte stream, cut into reads by the
 * first byte, goes through what the supervisor's agent channel does with it (channel.c read_cb and
 * router.c's handlers): frames decoded, responses and events parsed and read with the rpc.h readers, exit and
 * process events' handle, status and ids read. */
#include <stdint.h>
#include <string.h>

#include "frame.h"
#include "rpc.h"

static void response(const struct vc_frame *f)
{
        json_object *resp = vc_rpc_parse(f->payload, f->len), *result = NULL;
        const char *msg = NULL;
        uint32_t h;
        int code = 0;

        if (resp == NULL)
                return;
        if (vc_rpc_read_response(resp, &result, &code, &msg) == 0 && result) {
                (void)vc_rpc_get_handle(result, &h);
                (void)vc_rpc_get_status(result, &code);
        } else if (msg) {
                (void)strlen(msg);
        }
        json_object_put(resp);
}

static void event(const struct vc_frame *f)
{
        json_object *ev = vc_rpc_parse(f->payload, f->len), *params = NULL;
        const char *name = NULL, *s;
        uint32_t h;
        int status;

        if (ev == NULL)
                return;
        if (vc_rpc_read_event(ev, &name, &params) == 0 && params) {
                (void)vc_rpc_get_handle(params, &h);
                (void)vc_rpc_get_status(params, &status);
                if ((s = vc_rpc_get_string(params, "id")))
                        (void)strlen(s);
                if ((s = vc_rpc_get_string(params, "exec_id")))
                        (void)strlen(s);
        }
        json_object_put(ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct vc_frame_reader r;
        struct vc_frame f;
        size_t chunk, off = 0;
        int rc = 0;

        if (size == 0)
                return 0;
        chunk = 1 + (size_t)data[0] % 64;
        data++, size--;
        vc_frame_reader_init(&r);
        while (off < size && rc >= 0) {
                size_t n = chunk < size - off ? chunk : size - off;
                if (vc_frame_reader_feed(&r, data + off, n) < 0)
                        break;
                off += n;
                while ((rc = vc_frame_reader_next(&r, &f)) == 1) {
                        if (f.type == VC_FRAME_RESPONSE)
                                response(&f);
                        else if (f.type == VC_FRAME_EVENT)
                                event(&f);
                }
        }
        vc_frame_reader_free(&r);
        return 0;
}
