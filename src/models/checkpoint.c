/* mmf_open_checkpoint (models/encoder.h): the weights file of a Hugging Face
 * model folder, shared by every encoder family. */
#include "models/encoder.h"
#include "core/error.h"
#include <stdio.h>
#include <sys/stat.h>

static int file_exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

mmf_status mmf_open_checkpoint(const char *dir, mmf_safetensors **st) {
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (file_exists(path)) return mmf_st_open(path, st);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    if (file_exists(path)) return mmf_st_open(path, st);
    snprintf(path, sizeof path, "%s/pytorch_model.bin", dir);
    if (file_exists(path))
        return mmf_fail(MMF_ERR_UNSUPPORTED, "%s: only pytorch_model.bin is present; mmfuse reads model.safetensors (convert the checkpoint)", dir);
    return mmf_fail(MMF_ERR_NOT_FOUND, "%s: no model.safetensors or model.safetensors.index.json", dir);
}

