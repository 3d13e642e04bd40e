/* placeholder, replaced below */
#include "direct/tower.h"
#include "core/error.h"
mmf_status mmf_train_text_tower(const char *a, const char *b, const char *c, const mmf_tower_params *p) {
    (void)a; (void)b; (void)c; (void)p;
    return mmf_fail(MMF_ERR_UNSUPPORTED, "text tower: not yet");
}
