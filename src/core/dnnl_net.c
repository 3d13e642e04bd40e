#include "core/dnnl_net.h"
#include "core/dnnl_ctx.h"
#include "core/ops.h"   /* mmf_threads_use */
#include <stdlib.h>
#include <string.h>

enum { ST_IN, ST_CONV, ST_POOL, ST_OUT };

typedef struct dn_tensor { dnnl_memory_desc_t md; int slot; } dn_tensor;

typedef struct dn_step {
    int kind, src, dst;        /* tensor ids (ST_IN: src unused; ST_OUT: dst unused) */
    dnnl_primitive_t prim;
    void *w;                   /* ST_CONV: weights in the kernel's layout (owned) */
    float *bias;               /* owned copy */
    dnnl_memory_desc_t wmd, bmd;
    dnnl_memory_t mem[5];
    dnnl_exec_arg_t args[5];
    int na;
} dn_step;

struct mmf_dnet {
    int bf16, nt, failed, ready, out_t;
    int wino, n_wino;            /* try Winograd for 3x3 stride-1 convolutions; how many got it */
    dnnl_format_tag_t act_tag;   /* the activations' layout between primitives */
    dn_tensor *t;
    int nt_used, t_cap;
    dn_step *s;
    int ns, s_cap;
    dnnl_memory_desc_t in_md, out_md;   /* the caller's NCHW fp32 */
    dnnl_memory_t in_mem, out_mem;
    void *slot[MMF_DNET_SLOTS];
    size_t slot_bytes[MMF_DNET_SLOTS];
    void *scratch;
    size_t scratch_bytes, w_bytes;
};

#define CK(x) do { if ((x) != dnnl_success) goto fail; } while (0)

mmf_dnet *mmf_dnet_new(int bf16, int nt) {
    if (!mmf_dnnl_engine() || !mmf_dnnl_stream()) return NULL;
    mmf_dnet *n = calloc(1, sizeof *n);
    if (n) { n->bf16 = bf16; n->nt = nt < 1 ? 1 : nt; n->out_t = -1; }
    /* bf16 without AMX: nChw16c. oneDNN's own choice there (format any) is
     * NHWC brgconv, whose 1x1 kernels ran at 37-51% of the bf16 peak on Zen 5;
     * the blocked jit kernels, slower on 3x3, won overall: ResNet-50 b16, 1
     * thread, CPU time, shared Zen 5: 345-379 ms against 385-419 ms. With AMX
     * the brgconv kernels are AMX ones and NHWC is theirs. */
    if (n) n->act_tag = bf16 && dnnl_get_effective_cpu_isa() != dnnl_cpu_isa_avx512_core_amx ? dnnl_nChw16c
                                                                                              : dnnl_format_tag_any;
    return n;
}

void mmf_dnet_free(mmf_dnet *n) {
    if (!n) return;
    for (int i = 0; i < n->ns; i++) {
        dn_step *s = &n->s[i];
        if (s->prim) dnnl_primitive_destroy(s->prim);
        for (int j = 0; j < 5; j++)
            if (s->mem[j] && s->mem[j] != n->in_mem && s->mem[j] != n->out_mem) dnnl_memory_destroy(s->mem[j]);
        free(s->w);
        free(s->bias);
    }
    if (n->in_mem) dnnl_memory_destroy(n->in_mem);
    if (n->out_mem) dnnl_memory_destroy(n->out_mem);
    for (int i = 0; i < MMF_DNET_SLOTS; i++) free(n->slot[i]);
    free(n->scratch);
    free(n->t);
    free(n->s);
    free(n);
}

/* 1 when oneDNN makes fp32 Winograd convolutions here (avx512_core; not under
 * ONEDNN_MAX_CPU_ISA=AVX2): a 16-channel 3x3 on 8 x 8 asked for once */
int mmf_dnet_winograd_supported(void) {
    static int known = -1;
    if (known >= 0) return known;
    dnnl_engine_t eng = mmf_dnnl_engine();
    dnnl_memory_desc_t s, w, d;
    dnnl_convolution_desc_t cd;
    dnnl_primitive_desc_t pd = NULL;
    int ok = eng && dnnl_memory_desc_init_by_tag(&s, 4, (dnnl_dims_t){1, 16, 8, 8}, dnnl_f32, dnnl_nChw16c) == dnnl_success &&
             dnnl_memory_desc_init_by_tag(&d, 4, (dnnl_dims_t){1, 16, 8, 8}, dnnl_f32, dnnl_nChw16c) == dnnl_success &&
             dnnl_memory_desc_init_by_tag(&w, 4, (dnnl_dims_t){16, 16, 3, 3}, dnnl_f32, dnnl_format_tag_any) == dnnl_success &&
             dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_winograd, &s, &w, NULL, &d,
                                                (dnnl_dims_t){1, 1}, (dnnl_dims_t){1, 1}, (dnnl_dims_t){1, 1}) == dnnl_success &&
             dnnl_primitive_desc_create(&pd, &cd, NULL, eng, NULL) == dnnl_success;
    if (pd) dnnl_primitive_desc_destroy(pd);
    known = ok;
    return known;
}

int mmf_dnet_use_winograd(mmf_dnet *n) {
    if (!n || n->bf16 || n->ns || !mmf_dnet_winograd_supported()) return -1;
    n->wino = 1;
    n->act_tag = dnnl_nChw16c;   /* the only layout oneDNN's Winograd kernels read and write */
    return 0;
}

int mmf_dnet_winograd_convs(const mmf_dnet *n) { return n ? n->n_wino : 0; }

static int add_tensor(mmf_dnet *n, const dnnl_memory_desc_t *md, int slot) {
    if (slot < 0 || slot >= MMF_DNET_SLOTS) return -1;
    if (n->nt_used == n->t_cap) {
        int cap = n->t_cap ? 2 * n->t_cap : 32;
        dn_tensor *t = realloc(n->t, sizeof *t * (size_t)cap);
        if (!t) return -1;
        n->t = t;
        n->t_cap = cap;
    }
    n->t[n->nt_used] = (dn_tensor){*md, slot};
    size_t b = dnnl_memory_desc_get_size(md);
    if (b > n->slot_bytes[slot]) n->slot_bytes[slot] = b;
    return n->nt_used++;
}

static dn_step *add_step(mmf_dnet *n, int kind, dnnl_primitive_desc_t pd) {
    if (n->ns == n->s_cap) {
        int cap = n->s_cap ? 2 * n->s_cap : 32;
        dn_step *s = realloc(n->s, sizeof *s * (size_t)cap);
        if (!s) return NULL;
        n->s = s;
        n->s_cap = cap;
    }
    dn_step *s = &n->s[n->ns];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->src = s->dst = -1;
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t sb = smd ? dnnl_memory_desc_get_size(smd) : 0;
    if (sb > n->scratch_bytes) n->scratch_bytes = sb;
    if (dnnl_primitive_create(&s->prim, pd) != dnnl_success) return NULL;
    n->ns++;
    return s;
}

static dnnl_primitive_attr_t user_scratch_attr(void) {
    dnnl_primitive_attr_t a = NULL;
    if (dnnl_primitive_attr_create(&a) != dnnl_success) return NULL;
    if (dnnl_primitive_attr_set_scratchpad_mode(a, dnnl_scratchpad_mode_user) != dnnl_success) {
        dnnl_primitive_attr_destroy(a);
        return NULL;
    }
    return a;
}

static int reorder_step(mmf_dnet *n, int kind, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to) {
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t a = user_scratch_attr();
    int ok = a && dnnl_reorder_primitive_desc_create(&pd, from, mmf_dnnl_engine(), to, mmf_dnnl_engine(), a) == dnnl_success;
    dn_step *s = ok ? add_step(n, kind, pd) : NULL;
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (a) dnnl_primitive_attr_destroy(a);
    return s ? n->ns - 1 : -1;
}

int mmf_dnet_input(mmf_dnet *n, int B, int C, int H, int W, int slot) {
    if (!n || n->failed || n->ns) return -1;
    dnnl_memory_desc_t to;
    mmf_threads_use(n->nt);
    /* the layout the first convolution would like is unknown yet: plain NCHW in
     * the net's type; mmf_dnet_conv re-targets this reorder to its choice */
    if (dnnl_memory_desc_init_by_tag(&n->in_md, 4, (dnnl_dims_t){B, C, H, W}, dnnl_f32, dnnl_nchw) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&to, 4, (dnnl_dims_t){B, C, H, W}, n->bf16 ? dnnl_bf16 : dnnl_f32, dnnl_nchw) != dnnl_success) {
        n->failed = 1;
        return -1;
    }
    int t = add_tensor(n, &to, slot), si = t < 0 ? -1 : reorder_step(n, ST_IN, &n->in_md, &to);
    if (si < 0) { n->failed = 1; return -1; }
    n->s[si].dst = t;
    return t;
}

/* the input reorder, made again to write md (the first convolution's choice) */
static int retarget_input(mmf_dnet *n, int t, const dnnl_memory_desc_t *md) {
    dn_step *s = &n->s[0];
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t a = user_scratch_attr();
    int ok = a && dnnl_reorder_primitive_desc_create(&pd, &n->in_md, mmf_dnnl_engine(), md, mmf_dnnl_engine(), a) == dnnl_success;
    dnnl_primitive_t p = NULL;
    if (ok) ok = dnnl_primitive_create(&p, pd) == dnnl_success;
    if (ok) {
        const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        size_t sb = smd ? dnnl_memory_desc_get_size(smd) : 0;
        if (sb > n->scratch_bytes) n->scratch_bytes = sb;
        dnnl_primitive_destroy(s->prim);
        s->prim = p;
        n->t[t].md = *md;
        size_t b = dnnl_memory_desc_get_size(md);
        if (b > n->slot_bytes[n->t[t].slot]) n->slot_bytes[n->t[t].slot] = b;
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (a) dnnl_primitive_attr_destroy(a);
    return ok ? 0 : -1;
}

int mmf_dnet_conv(mmf_dnet *n, int src, const float *w, const float *bias, int oc, int k, int stride, int pad, int relu,
                  int dst_slot, int sum_t) {
    if (!n || n->failed || src < 0 || src >= n->nt_used || sum_t >= n->nt_used) return -1;
    dnnl_engine_t eng = mmf_dnnl_engine();
    const dnnl_memory_desc_t *smd0 = &n->t[src].md;
    const int B = (int)smd0->dims[0], ic = (int)smd0->dims[1], H = (int)smd0->dims[2], W = (int)smd0->dims[3];
    const int OH = (H + 2 * pad - k) / stride + 1, OW = (W + 2 * pad - k) / stride + 1;
    const dnnl_data_type_t dt = n->bf16 ? dnnl_bf16 : dnnl_f32;
    /* the net's input is still open to the layout this first convolution picks */
    const int src_open = n->s[0].dst == src && n->ns == 1;
    dnnl_memory_desc_t smd, dmd, wany, wplain, bmd;
    dnnl_primitive_attr_t attr = user_scratch_attr();
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dn_step *s = NULL;
    void *wbuf = NULL;
    float *bcopy = NULL;
    mmf_threads_use(n->nt);   /* the primitive is laid out for the threads it is made with */
    if (!attr) goto fail;
    if (src_open) CK(dnnl_memory_desc_init_by_tag(&smd, 4, (dnnl_dims_t){B, ic, H, W}, dt, dnnl_format_tag_any));
    else smd = *smd0;
    if (sum_t >= 0) {
        dmd = n->t[sum_t].md;
        if (dmd.dims[0] != B || dmd.dims[1] != oc || dmd.dims[2] != OH || dmd.dims[3] != OW) goto fail;
    } else {
        CK(dnnl_memory_desc_init_by_tag(&dmd, 4, (dnnl_dims_t){B, oc, OH, OW}, dt, n->act_tag));
    }
    CK(dnnl_memory_desc_init_by_tag(&wany, 4, (dnnl_dims_t){oc, ic, k, k}, dt, dnnl_format_tag_any));
    CK(dnnl_memory_desc_init_by_tag(&wplain, 4, (dnnl_dims_t){oc, ic, k, k}, dnnl_f32, dnnl_ohwi));
    CK(dnnl_memory_desc_init_by_tag(&bmd, 1, (dnnl_dims_t){oc}, dnnl_f32, dnnl_a));
    CK(dnnl_post_ops_create(&po));
    if (sum_t >= 0) CK(dnnl_post_ops_append_sum(po, 1.0f));   /* + the residual, already in dst */
    if (relu) CK(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f));
    CK(dnnl_primitive_attr_set_post_ops(attr, po));
    dnnl_convolution_desc_t cd;
    /* Winograd where asked and oneDNN takes the shape (3x3 stride 1; it refuses
     * others, e.g. channel counts it cannot block), direct otherwise */
    int is_wino = n->wino && k == 3 && stride == 1 &&
                  dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_winograd, &smd, &wany,
                                                     bias ? &bmd : NULL, &dmd, (dnnl_dims_t){1, 1}, (dnnl_dims_t){pad, pad},
                                                     (dnnl_dims_t){pad, pad}) == dnnl_success &&
                  dnnl_primitive_desc_create(&pd, &cd, attr, eng, NULL) == dnnl_success;
    if (!is_wino) {
        pd = NULL;
        CK(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &smd, &wany,
                                              bias ? &bmd : NULL, &dmd, (dnnl_dims_t){stride, stride},
                                              (dnnl_dims_t){pad, pad}, (dnnl_dims_t){pad, pad}));
        CK(dnnl_primitive_desc_create(&pd, &cd, attr, eng, NULL));
    }
    if (src_open) {
        if (retarget_input(n, src, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0))) goto fail;
    } else if (!dnnl_memory_desc_equal(dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), smd0)) {
        goto fail;
    }
    const dnnl_memory_desc_t wmd = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t dst_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    const size_t wb = dnnl_memory_desc_get_size(&wmd);
    if (!(wbuf = malloc(wb))) goto fail;
    if (bias && !(bcopy = malloc(sizeof(float) * (size_t)oc))) goto fail;
    if (bias) memcpy(bcopy, bias, sizeof(float) * (size_t)oc);
    if (wmd.format_kind == dnnl_format_kind_wino) {
        /* oneDNN reorders into the Winograd layout only from oihw / hwio: ours is ohwi */
        dnnl_memory_desc_t woihw;
        float *tmp = malloc(sizeof(float) * (size_t)oc * ic * k * k);
        int bad = !tmp || dnnl_memory_desc_init_by_tag(&woihw, 4, (dnnl_dims_t){oc, ic, k, k}, dnnl_f32, dnnl_oihw) != dnnl_success ||
                  mmf_dnnl_reorder(&wplain, w, &woihw, tmp) || mmf_dnnl_reorder(&woihw, tmp, &wmd, wbuf);
        free(tmp);
        if (bad) goto fail;
    } else if (mmf_dnnl_reorder(&wplain, w, &wmd, wbuf)) {
        goto fail;
    }
    int dst = sum_t >= 0 ? sum_t : add_tensor(n, &dst_md, dst_slot);
    if (dst < 0 || !(s = add_step(n, ST_CONV, pd))) goto fail;
    s->src = src;
    s->dst = dst;
    s->w = wbuf;
    s->bias = bcopy;
    s->wmd = wmd;
    s->bmd = bmd;
    n->w_bytes += wb;
    n->n_wino += is_wino;
    wbuf = NULL;
    bcopy = NULL;
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    free(wbuf);
    free(bcopy);
    if (!s) { n->failed = 1; return -1; }
    return s->dst;
}

int mmf_dnet_maxpool(mmf_dnet *n, int src, int k, int stride, int pad, int dst_slot) {
    if (!n || n->failed || src < 0 || src >= n->nt_used) return -1;
    const dnnl_memory_desc_t *smd = &n->t[src].md;
    const int B = (int)smd->dims[0], C = (int)smd->dims[1], H = (int)smd->dims[2], W = (int)smd->dims[3];
    const int OH = (H + 2 * pad - k) / stride + 1, OW = (W + 2 * pad - k) / stride + 1;
    dnnl_memory_desc_t dmd;
    dnnl_pooling_desc_t d;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = user_scratch_attr();
    dn_step *s = NULL;
    int dst = -1;
    mmf_threads_use(n->nt);
    if (!attr) goto fail;
    CK(dnnl_memory_desc_init_by_tag(&dmd, 4, (dnnl_dims_t){B, C, OH, OW}, smd->data_type, dnnl_format_tag_any));
    CK(dnnl_pooling_forward_desc_init(&d, dnnl_forward_inference, dnnl_pooling_max, smd, &dmd, (dnnl_dims_t){stride, stride},
                                      (dnnl_dims_t){k, k}, (dnnl_dims_t){pad, pad}, (dnnl_dims_t){pad, pad}));
    CK(dnnl_primitive_desc_create(&pd, &d, attr, mmf_dnnl_engine(), NULL));
    dst = add_tensor(n, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), dst_slot);
    if (dst < 0 || !(s = add_step(n, ST_POOL, pd))) goto fail;
    s->src = src;
    s->dst = dst;
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (!s) { n->failed = 1; return -1; }
    return dst;
}

int mmf_dnet_output(mmf_dnet *n, int t) {
    if (!n || n->failed || t < 0 || t >= n->nt_used || n->out_t >= 0) return -1;
    const dnnl_memory_desc_t *md = &n->t[t].md;
    mmf_threads_use(n->nt);
    int si = -1;
    if (dnnl_memory_desc_init_by_tag(&n->out_md, 4, md->dims, dnnl_f32, dnnl_nchw) == dnnl_success)
        si = reorder_step(n, ST_OUT, md, &n->out_md);
    if (si < 0) { n->failed = 1; return -1; }
    n->s[si].src = t;
    n->out_t = t;
    return 0;
}

void mmf_dnet_out_dims(const mmf_dnet *n, int dims[4]) {
    for (int i = 0; i < 4; i++) dims[i] = (int)n->out_md.dims[i];
}

size_t mmf_dnet_bytes(const mmf_dnet *n) {
    size_t b = n->w_bytes + n->scratch_bytes;
    for (int i = 0; i < MMF_DNET_SLOTS; i++) b += n->slot_bytes[i];
    return b;
}

static dnnl_memory_t tensor_mem(mmf_dnet *n, int t) {
    dnnl_memory_t m = NULL;
    if (dnnl_memory_create(&m, &n->t[t].md, mmf_dnnl_engine(), n->slot[n->t[t].slot]) != dnnl_success) return NULL;
    return m;
}

int mmf_dnet_ready(mmf_dnet *n) {
    if (!n || n->failed || n->ready || n->out_t < 0) return -1;
    dnnl_engine_t eng = mmf_dnnl_engine();
    for (int i = 0; i < MMF_DNET_SLOTS; i++)
        if (n->slot_bytes[i] && !(n->slot[i] = malloc(n->slot_bytes[i]))) goto fail;
    if (n->scratch_bytes && !(n->scratch = malloc(n->scratch_bytes))) goto fail;
    CK(dnnl_memory_create(&n->in_mem, &n->in_md, eng, DNNL_MEMORY_NONE));
    CK(dnnl_memory_create(&n->out_mem, &n->out_md, eng, DNNL_MEMORY_NONE));
    for (int i = 0; i < n->ns; i++) {
        dn_step *s = &n->s[i];
        const_dnnl_primitive_desc_t pd;
        CK(dnnl_primitive_get_primitive_desc(s->prim, &pd));
        int j = 0;
        if (s->kind == ST_IN || s->kind == ST_OUT) {
            s->mem[j] = s->kind == ST_IN ? n->in_mem : tensor_mem(n, s->src);
            s->args[j] = (dnnl_exec_arg_t){DNNL_ARG_FROM, s->mem[j]};
            j++;
            s->mem[j] = s->kind == ST_OUT ? n->out_mem : tensor_mem(n, s->dst);
            s->args[j] = (dnnl_exec_arg_t){DNNL_ARG_TO, s->mem[j]};
            j++;
        } else {
            s->mem[j] = tensor_mem(n, s->src);
            s->args[j] = (dnnl_exec_arg_t){DNNL_ARG_SRC, s->mem[j]};
            j++;
            s->mem[j] = tensor_mem(n, s->dst);
            s->args[j] = (dnnl_exec_arg_t){DNNL_ARG_DST, s->mem[j]};
            j++;
            if (s->kind == ST_CONV) {
                CK(dnnl_memory_create(&s->mem[j], &s->wmd, eng, s->w));
                s->args[j] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, s->mem[j]};
                j++;
                if (s->bias) {
                    CK(dnnl_memory_create(&s->mem[j], &s->bmd, eng, s->bias));
                    s->args[j] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, s->mem[j]};
                    j++;
                }
            }
        }
        const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        if (smd && dnnl_memory_desc_get_size(smd)) {
            CK(dnnl_memory_create(&s->mem[j], smd, eng, n->scratch));
            s->args[j] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, s->mem[j]};
            j++;
        }
        for (int q = 0; q < j; q++) if (!s->mem[q]) goto fail;
        s->na = j;
    }
    n->ready = 1;
    return 0;
fail:
    n->failed = 1;
    return -1;
}

int mmf_dnet_run(mmf_dnet *n, const float *in, float *out) {
    if (!n || !n->ready || n->failed) return -1;
    dnnl_stream_t st = mmf_dnnl_stream();
    if (!st) return -1;
    mmf_threads_use(n->nt);
    CK(dnnl_memory_set_data_handle(n->in_mem, (void *)in));
    CK(dnnl_memory_set_data_handle(n->out_mem, out));
    for (int i = 0; i < n->ns; i++) CK(dnnl_primitive_execute(n->s[i].prim, st, n->s[i].na, n->s[i].args));
    CK(dnnl_stream_wait(st));
    return 0;
fail:
    return -1;
}
