/* The default precision (mmf_default_precision, models/registry.c): auto when
 * MMFUSE_PRECISION is unset or empty, the named one when it says fp32, bf16,
 * int8 or auto, auto again (with a warning) for anything else; the encoder
 * parameters' default carries it, and an encoder loaded with the defaults runs
 * exactly what auto resolves to on this CPU (bf16 where it pays, else fp32;
 * core/bf16_probe.h). ctest pins MMFUSE_PRECISION=fp32 for the parity tests,
 * so this test sets and unsets the variable itself. */
#include "test_util.h"
#include "core/bf16_probe.h"

static const char *const texts[] = {"hello world", "a red heart on a white ground", "x"};
enum { NT = 3 };

static mmf_precision with_env(const char *v) {
    if (v) setenv("MMFUSE_PRECISION", v, 1);
    else unsetenv("MMFUSE_PRECISION");
    mmf_precision p = mmf_default_precision();
    CHECK(mmf_encoder_params_default().precision == p);
    return p;
}

static float *embed(const char *dir, const mmf_encoder_params *p, int *D) {
    mmf_encoder *e = NULL;
    CHECK_OK(mmf_encoder_load(dir, p, &e));
    if (!e) return NULL;
    *D = mmf_encoder_dim(e);
    float *out = malloc(sizeof(float) * NT * (size_t)*D);
    CHECK_OK(mmf_encoder_embed_text(e, texts, NT, MMF_POOL_DEFAULT, MMF_NORMALIZE_DEFAULT, out));
    mmf_encoder_free(e);
    return out;
}

int main(void) {
    CHECK(with_env(NULL) == MMF_PRECISION_AUTO);
    CHECK(with_env("") == MMF_PRECISION_AUTO);
    CHECK(with_env("fp32") == MMF_PRECISION_F32);
    CHECK(with_env("bf16") == MMF_PRECISION_BF16);
    CHECK(with_env("int8") == MMF_PRECISION_INT8);
    CHECK(with_env("auto") == MMF_PRECISION_AUTO);
    CHECK(with_env("FP32") == MMF_PRECISION_AUTO);   /* not a name: ignored, with a warning */
    CHECK(with_env("fp16") == MMF_PRECISION_AUTO);

    char dir[1024];
    t_src_path("tests/data/text/bert_a", dir, sizeof dir);
    with_env(NULL);
    mmf_encoder_params def = mmf_encoder_params_default(), want = def;
    want.precision = mmf_bf16_pays() ? MMF_PRECISION_BF16 : MMF_PRECISION_F32;
    int D1 = 0, D2 = 0;
    float *a = embed(dir, &def, &D1), *b = embed(dir, &want, &D2), *c = embed(dir, NULL, &D2);
    if (a && b && c && D1 == D2) {
        CHECK_MSG(!memcmp(a, b, sizeof(float) * NT * (size_t)D1), "the default is not the %s path", want.precision ? "bf16" : "fp32");
        CHECK_MSG(!memcmp(a, c, sizeof(float) * NT * (size_t)D1), "NULL parameters do not run the default precision");
    }
    printf("default precision: auto, which runs %s on this CPU (bf16 at %.2fx the fp32 rate)\n",
           want.precision ? "bf16" : "fp32", mmf_bf16_speedup());
    free(a), free(b), free(c);
    return t_done("test_precision_default");
}
