/* Opening mmfuse's own model files (model_file.h). */
#include "io/model_file.h"
#include "core/error.h"

mmf_status mmf_model_file_open(const char *path, const char *key, const char *what, mmf_safetensors **st, const char **meta) {
    *meta = NULL;
    MMF_TRY(mmf_st_open(path, st));
    *meta = mmf_st_metadata(*st, key);
    if (*meta) return MMF_OK;
    mmf_st_close(*st);
    *st = NULL;
    return mmf_fail(MMF_ERR_FORMAT, "%s: not a %s (no __metadata__ \"%s\")", path, what, key);
}
