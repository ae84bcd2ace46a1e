/* libFuzzer: config.json loaded and validated as `kata-runtime create` does (vc_oci_load), from a memfd. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vc/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        json_object *config = NULL, *annotations = NULL;
        vc_error_t err = NULL;
        enum vc_container_type type;
        const char *sid = NULL;
        char path[64];
        int fd = memfd_create("config.json", MFD_CLOEXEC);

        if (fd < 0)
                return 0;
        if (write(fd, data, size) != (ssize_t)size) {
                close(fd);
                return 0;
        }
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        if (vc_oci_load(path, &config, &err) == 0) {
                if (json_object_object_get_ex(config, "annotations", &annotations) &&
                    vc_oci_container_type(annotations, &type, &sid, &err) == 0 && sid)
                        (void)strlen(sid);
                (void)json_object_to_json_string(config);
        }
        vc_error_release(&err);
        json_object_put(config);
        close(fd);
        return 0;
}
