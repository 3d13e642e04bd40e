#include "core/gemm_bf16.h"
#include "core/tensor.h"
#include "core/transpose16.h"
#include "core/vmath512.h"
#include <immintrin.h>
#include <omp.h>
#include <string.h>

#define MR 12   /* rows per micro-tile: 12 x 2 accumulators of the 32 zmm registers */
#define NB 16   /* columns per packed block (one zmm of fp32 outputs) */

int mmf_bf16_gemm_supported(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}

static int pad2(int k) { return (k + 1) & ~1; }
static int pad16(int n) { return (n + 15) & ~15; }

size_t mmf_bf16_packed_size(int N, int K) { return (size_t)pad16(N) * (size_t)pad2(K); }

void mmf_bf16_pack(uint16_t *dst, const float *W, int N, int K) {
    int Kp = pad2(K), Np = pad16(N);
    for (int nb = 0; nb < Np; nb += NB)
        for (int p = 0; p < Kp / 2; p++)
            for (int j = 0; j < NB; j++)
                for (int h = 0; h < 2; h++) {
                    int n = nb + j, k = 2 * p + h;
                    float v = (n < N && k < K) ? W[(size_t)n * K + k] : 0.0f;
                    dst[(((size_t)nb / NB * (Kp / 2) + p) * NB + j) * 2 + h] = mmf_f32_to_bf16(v);
                }
}

static int64_t pad_rows(int64_t M) { return (M + MR - 1) / MR * MR; }

size_t mmf_bf16_scratch_bytes(int64_t M, int K) { return (size_t)pad_rows(M) * (size_t)pad2(K) * 2 + 64; }

#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/* one row of K floats -> Kp bf16 (zero padded) */
TGT static void cvt_row(uint16_t *d, const float *s, int K, int Kp) {
    int k = 0;
    for (; k + 32 <= K; k += 32) {
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(s + k + 16), _mm512_loadu_ps(s + k));
        _mm512_storeu_si512((void *)(d + k), (__m512i)v);
    }
    for (; k < K; k++) d[k] = mmf_f32_to_bf16(s[k]);
    for (; k < Kp; k++) d[k] = 0;
}

/* rows [r0, r1) of x -> bf16 rows of Kp (zero padded) */
TGT static void convert_rows(uint16_t *xb, const float *x, int64_t r0, int64_t r1, int64_t M, int K, int Kp) {
    for (int64_t r = r0; r < r1; r++) {
        uint16_t *d = xb + r * Kp;
        if (r >= M) { memset(d, 0, (size_t)Kp * 2); continue; }
        cvt_row(d, x + r * K, K, Kp);
    }
}

/* The epilogue of one row segment of 16 columns (mask m, columns n0..). */
TGT static inline void epi_store(const mmf_gemm_epi *e, int64_t r, int n0, __mmask16 m, __m512 v) {
    if (e->bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, e->bias + n0));
    if (e->accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, e->y + r * e->ldy + n0));
    if (e->res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, e->res + r * e->ldr + n0));
    if (e->act) v = mmf_v512_act(e->act, v);
    if (e->relu) v = _mm512_max_ps(_mm512_setzero_ps(), v);   /* NaN stays NaN (second operand) */
    if (e->y) _mm512_mask_storeu_ps(e->y + r * e->ldy + n0, m, v);
    if (e->yb) _mm256_mask_storeu_epi16(e->yb + r * e->ldyb + n0, m, (__m256i)_mm512_cvtneps_pbh(v));
}

/* The epilogue of a tile's first `rows` rows: w0 / w1 columns of its two
 * 16-column blocks (w1 <= 0: no second block). */
TGT static inline __attribute__((always_inline)) void store_tile(const mmf_gemm_epi *e, __m512 acc[][2], int64_t r0, int n0,
                                                                 int w0, int w1, int rows, const int mr) {
    __mmask16 m0 = (__mmask16)(w0 >= 16 ? 0xFFFF : ((1u << w0) - 1));
    __mmask16 m1 = (__mmask16)(w1 >= 16 ? 0xFFFF : ((1u << (w1 > 0 ? w1 : 0)) - 1));
    if (e->yt) {   /* each 16-column block transposed in registers, one store per output column */
        const __mmask16 mr_rows = (__mmask16)((1u << rows) - 1);
        const __m512 b = e->bias_row ? _mm512_maskz_loadu_ps(mr_rows, e->bias_row + r0) : _mm512_setzero_ps();
        for (int blk = 0; blk < 2; blk++) {
            int w = blk ? w1 : w0;
            if (w <= 0) break;
            __m512 t[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++) t[i] = i < mr && i < rows ? acc[i < mr ? i : 0][blk] : _mm512_setzero_ps();
            mmf_transpose16_regs(t);
            float *col = e->yt + (int64_t)(n0 + 16 * blk) * e->ldyt + r0;
            for (int c = 0; c < w; c++) _mm512_mask_storeu_ps(col + c * e->ldyt, mr_rows, _mm512_add_ps(t[c], b));
        }
        return;
    }
    if (!e->bias && !e->accumulate && !e->res && !e->act && !e->relu && !e->yb && e->y) {
        /* plain stores (a weight gradient): unrolled over the compile-time mr so
         * the accumulators stay in registers (a loop to the run-time `rows`
         * spilled them all to the stack first) */
#pragma GCC unroll 12
        for (int i = 0; i < mr; i++) {
            if (i >= rows) break;
            _mm512_mask_storeu_ps(e->y + (r0 + i) * e->ldy + n0, m0, acc[i][0]);
            if (w1 > 0) _mm512_mask_storeu_ps(e->y + (r0 + i) * e->ldy + n0 + 16, m1, acc[i][1]);
        }
    } else {   /* the general epilogue: a plain loop (unrolling it with every option bloated the kernels) */
        for (int i = 0; i < rows; i++) {
            epi_store(e, r0 + i, n0, m0, acc[i][0]);
            if (w1 > 0) epi_store(e, r0 + i, n0 + 16, m1, acc[i][1]);
        }
    }
    if (e->sumsq) {   /* plain sums only (no bias, residual or activation in this use) */
        /* four independent chains: one chain of 24 dependent FMAs cost more than the stores */
        __m512 sq[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
#pragma GCC unroll 12
        for (int i = 0; i < mr; i++) {
            if (i >= rows) break;
            sq[(2 * i) & 3] = _mm512_fmadd_ps(_mm512_maskz_mov_ps(m0, acc[i][0]), acc[i][0], sq[(2 * i) & 3]);
            if (w1 > 0) sq[(2 * i + 1) & 3] = _mm512_fmadd_ps(_mm512_maskz_mov_ps(m1, acc[i][1]), acc[i][1], sq[(2 * i + 1) & 3]);
        }
        __m512 t = _mm512_add_ps(_mm512_add_ps(sq[0], sq[1]), _mm512_add_ps(sq[2], sq[3]));
        e->sumsq[8 * omp_get_thread_num()] += (double)_mm512_reduce_add_ps(t);
    }
}

/* One k-step (a pair of K positions) of a full tile: row i of A is read at
 * a[i / 3] + (i % 3) * ld (bytes), so four base pointers and one stride
 * address all 12 rows (twelve row pointers did not fit the registers and were
 * reloaded from the stack in the inner loop). */
TGT static inline __attribute__((always_inline)) void
kstep_full(__m512 acc[][2], const char *const a[4], int64_t ld, const uint16_t *b0, const uint16_t *b1, int p,
           const int mr) {
    __m512bh B0 = (__m512bh)_mm512_loadu_si512((const void *)(b0 + (size_t)p * 32));
    __m512bh B1 = (__m512bh)_mm512_loadu_si512((const void *)(b1 + (size_t)p * 32));
#pragma GCC unroll 12
    for (int i = 0; i < mr; i++) {
        int32_t pairv;
        memcpy(&pairv, a[i / 3] + (i % 3) * ld + 4 * (int64_t)p, 4);
        __m512bh A = (__m512bh)_mm512_set1_epi32(pairv);
        acc[i][0] = _mm512_dpbf16_ps(acc[i][0], A, B0);
        acc[i][1] = _mm512_dpbf16_ps(acc[i][1], A, B1);
    }
}

/* One MR x 32 tile (two column blocks; the second may be absent) of rows
 * r0..r0+rows-1. Rows past `rows` repeat the last one (their sums are
 * dropped), so inputs need no row padding. */
TGT static inline __attribute__((always_inline)) void
tile_mr(const uint16_t *xb, int64_t ldx, int Kp, const uint16_t *b0, const uint16_t *b1, int64_t r0, int n0, int w0,
        int w1, int rows, const mmf_gemm_epi *e, const int mr, int64_t pf_off, int64_t pf_len) {
    __m512 acc[MR][2];
    for (int i = 0; i < mr; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    const int P = Kp / 2;
    const uint16_t *b1r = b1 ? b1 : b0;   /* a lone block computes its sums twice, no branch per step */
    if (rows == mr) {
        const char *a[4] = {NULL, NULL, NULL, NULL};
        for (int k = 0; 3 * k < mr; k++) a[k] = (const char *)(xb + 3 * k * ldx);
        const int64_t ld = ldx * 2;
        int p = 0;
        if (pf_len > 0) {   /* the first steps also prefetch one line of each region (locals: no reloads) */
            const int np = (int)((pf_len + 63) / 64 < P ? (pf_len + 63) / 64 : P);
            const char *q0 = e->pf[0] ? e->pf[0] + pf_off : NULL, *q1 = e->pf[1] ? e->pf[1] + pf_off : NULL;
            const char *q2 = e->pf[2] ? e->pf[2] + pf_off : NULL, *q3 = e->pf[3] ? e->pf[3] + pf_off : NULL;
            for (; p < np; p++) {
                if (q0) __builtin_prefetch(q0 + (int64_t)p * 64, 0, 2);
                if (q1) __builtin_prefetch(q1 + (int64_t)p * 64, 0, 2);
                if (q2) __builtin_prefetch(q2 + (int64_t)p * 64, 0, 2);
                if (q3) __builtin_prefetch(q3 + (int64_t)p * 64, 0, 2);
                kstep_full(acc, a, ld, b0, b1r, p, mr);
            }
        }
        for (; p < P; p++) kstep_full(acc, a, ld, b0, b1r, p, mr);
        store_tile(e, acc, r0, n0, w0, w1, rows, mr);
        return;
    }
    /* a partial tile (the last of a GEMM whose M is not a multiple of 4): one
     * pointer per row, the missing rows repeating the last one; no prefetching
     * (a hint: its share of the regions is left to the hardware) */
    const uint16_t *xr[MR];
    for (int i = 0; i < mr; i++) xr[i] = xb + (i < rows ? i : rows - 1) * ldx;
    for (int p = 0; p < P; p++) {
        __m512bh B0 = (__m512bh)_mm512_loadu_si512((const void *)(b0 + (size_t)p * 32));
        __m512bh B1 = (__m512bh)_mm512_loadu_si512((const void *)(b1r + (size_t)p * 32));
#pragma GCC unroll 12
        for (int i = 0; i < mr; i++) {
            int32_t pairv;
            memcpy(&pairv, xr[i] + 2 * p, 4);
            __m512bh A = (__m512bh)_mm512_set1_epi32(pairv);
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], A, B0);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], A, B1);
        }
    }
    store_tile(e, acc, r0, n0, w0, w1, rows, mr);
}

/* The last tile of a short M (128 = 10 x 12 + 8) runs as 8 or 4 rows
 * instead of computing 12 and dropping some. */
TGT static void tile(const uint16_t *xb, int64_t ldx, int Kp, const uint16_t *b0, const uint16_t *b1, int64_t r0,
                     int n0, int w0, int w1, int rows, const mmf_gemm_epi *e, int64_t pf_off, int64_t pf_len) {
    if (rows > 8) tile_mr(xb, ldx, Kp, b0, b1, r0, n0, w0, w1, rows, e, 12, pf_off, pf_len);
    else if (rows > 4) tile_mr(xb, ldx, Kp, b0, b1, r0, n0, w0, w1, rows, e, 8, pf_off, pf_len);
    else tile_mr(xb, ldx, Kp, b0, b1, r0, n0, w0, w1, rows, e, 4, pf_off, pf_len);
}

/* One unit: a row block of tiles times one pair of column blocks. */
TGT static inline void gemm_unit(const uint16_t *xb, int64_t ldx, const uint16_t *Wp, int64_t M, int K, int N,
                                 const mmf_gemm_epi *e, int64_t mb, int np,
                                 int64_t m_tiles, int64_t tiles_per_block) {
    const int Kp = pad2(K), P = Kp / 2;
    int n0 = np * 32;
    const uint16_t *b0 = Wp + (size_t)(n0 / NB) * P * 32;
    const uint16_t *b1 = n0 + 16 < N ? b0 + (size_t)P * 32 : NULL;
    int w0 = N - n0 < 16 ? N - n0 : 16;
    int w1 = b1 ? (N - n0 - 16 < 16 ? N - n0 - 16 : 16) : 0;
    int64_t t1 = (mb + 1) * tiles_per_block < m_tiles ? (mb + 1) * tiles_per_block : m_tiles;
    for (int64_t t = mb * tiles_per_block; t < t1; t++) {
        int64_t r0 = t * MR;
        int rows = M - r0 < MR ? (int)(M - r0) : MR;
        int64_t off = 0, len = 0;
        if (e->pf_bytes) {   /* this tile's share of the prefetch regions (tiles numbered in call order) */
            const int64_t n_pairs = (pad16(N) / NB + 1) / 2, share = (e->pf_bytes + m_tiles * n_pairs - 1) / (m_tiles * n_pairs);
            off = (t * n_pairs + np) * share;
            len = off >= e->pf_bytes ? 0 : (e->pf_bytes - off < share ? e->pf_bytes - off : share);
        }
        tile(xb + r0 * ldx, ldx, Kp, b0, b1, r0, n0, w0, w1, rows, e, off, len);
    }
}

/* The tiles, shared among the threads of the enclosing parallel region
 * (orphaned omp for; serial when there is none), or all on the calling
 * thread when !shared. */
TGT static void gemm_units_in(const uint16_t *xb, int64_t ldx, const uint16_t *Wp, int64_t M, int K, int N,
                              const mmf_gemm_epi *e, int nt, int shared) {
    const int n_pairs = (pad16(N) / NB + 1) / 2;        /* column pairs of blocks (32 columns) */
    const int64_t m_tiles = (M + MR - 1) / MR;
    /* row blocks of ~8 tiles keep the bf16 rows of a block in L2 while every
     * column panel streams past them; when all of the packed W fits in L2
     * (short K: a weight gradient, whose K is the batch), one tile per block
     * instead: each tile then sweeps its rows of y left to right, the output
     * streams through memory in order instead of in 32-column strips */
    const int64_t tiles_per_block = (int64_t)pad16(N) * pad2(K) * 2 <= (256 << 10) ? 1 : 8;
    const int64_t m_blocks = (m_tiles + tiles_per_block - 1) / tiles_per_block;
    const int64_t units = m_blocks * n_pairs;
    /* big M: split rows; one sequence: split column panels */
    int by_rows = m_blocks >= nt;
    if (!shared) {
        for (int64_t u = 0; u < units; u++)
            gemm_unit(xb, ldx, Wp, M, K, N, e, u / n_pairs, (int)(u % n_pairs), m_tiles, tiles_per_block);
        return;
    }
#pragma omp for schedule(static)
    for (int64_t u = 0; u < units; u++) {
        int64_t mb = by_rows ? u / n_pairs : u % m_blocks;
        int np = (int)(by_rows ? u % n_pairs : u / m_blocks);
        gemm_unit(xb, ldx, Wp, M, K, N, e, mb, np, m_tiles, tiles_per_block);
    }
}

TGT static void gemm_units(const uint16_t *xb, int64_t ldx, const uint16_t *Wp, int64_t M, int K, int N,
                           const mmf_gemm_epi *e, int nt) {
    gemm_units_in(xb, ldx, Wp, M, K, N, e, nt, 1);
}

int mmf_bf16_kpad(int K) { return pad2(K); }

TGT void mmf_bf16_gemm_1t(const uint16_t *xb, int64_t ldx, const uint16_t *Wp, int64_t M, int K, int N,
                          const mmf_gemm_epi *e) {
    if (M <= 0 || N <= 0) return;
    gemm_units_in(xb, ldx, Wp, M, K, N, e, 1, 0);
}

TGT void mmf_bf16_convert(uint16_t *dst, int64_t ldd, const float *src, int64_t lds, int64_t rows, int K, int nt) {
    const int Kp = pad2(K);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && rows >= 64)
    for (int64_t r = 0; r < rows; r++) convert_rows(dst + r * ldd, src + r * lds, 0, 1, 1, K, Kp);
}

TGT void mmf_bf16_gemm(const uint16_t *xb, int64_t ldx, const uint16_t *Wp, int64_t M, int K, int N, const mmf_gemm_epi *e,
                       int nt) {
    if (M <= 0 || N <= 0) return;
    if (nt < 1) nt = 1;
    if (omp_in_parallel()) { gemm_units(xb, ldx, Wp, M, K, N, e, omp_get_num_threads()); return; }
#pragma omp parallel num_threads(nt) if (nt > 1)
    gemm_units(xb, ldx, Wp, M, K, N, e, nt);
}

TGT void mmf_bf16_linear(float *y, const float *x, const uint16_t *Wp, const float *bias, int64_t M, int K, int N,
                         int accumulate, void *scratch, int nt) {
    if (M <= 0 || N <= 0) return;
    if (nt < 1) nt = 1;
    const int Kp = pad2(K);
    const int64_t Mp = pad_rows(M);
    uint16_t *xb = (uint16_t *)scratch;
    mmf_gemm_epi e = {.bias = bias, .accumulate = accumulate, .y = y, .ldy = N};
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
#pragma omp for schedule(static)
        for (int64_t r = 0; r < Mp; r += MR) convert_rows(xb, x, r, r + MR, M, K, Kp);
        gemm_units(xb, Kp, Wp, M, K, N, &e, nt);
    }
}

TGT void mmf_bf16_pack_fast(uint16_t *dst, const float *W, int N, int K, int ldw) {
    const int Kp = pad2(K), P = Kp / 2, Np = pad16(N);
    /* one pass: 16 rows x 32 values of W become 16 vectors of 16 bf16 pairs
     * (one per row), transposed in registers into 16 vectors of one pair
     * from each row: the packed [N/16][P][16] order. Rows past N and values
     * past K read as 0. */
    for (int nb = 0; nb < Np; nb += NB) {
        uint16_t *db = dst + (size_t)nb / NB * P * NB * 2;
        int w = N - nb < NB ? N - nb : NB;
        for (int p0 = 0; p0 < P; p0 += 16) {
            int k0 = 2 * p0, kn = K - k0;
            __mmask16 lo = (__mmask16)(kn >= 16 ? 0xFFFF : kn > 0 ? (1u << kn) - 1 : 0);
            __mmask16 hi = (__mmask16)(kn >= 32 ? 0xFFFF : kn > 16 ? (1u << (kn - 16)) - 1 : 0);
            __m512 t[16];
            for (int i = 0; i < 16; i++) {
                if (i >= w) { t[i] = _mm512_setzero_ps(); continue; }
                const float *row = W + (size_t)(nb + i) * ldw + k0;
                __m512bh v = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, row + 16), _mm512_maskz_loadu_ps(lo, row));
                t[i] = _mm512_castsi512_ps((__m512i)v);
            }
            mmf_transpose16_regs(t);
            int np = P - p0 < 16 ? P - p0 : 16;
            for (int c = 0; c < np; c++) _mm512_storeu_ps((float *)(db + (size_t)(p0 + c) * NB * 2), t[c]);
        }
    }
}

TGT void mmf_bf16_transpose(uint16_t *dst, int64_t ldd, const float *src, int64_t lds, int rows, int cols) {
    const int R16 = rows & ~15, C16 = cols & ~15;
    for (int c0 = 0; c0 < C16; c0 += 16)
        for (int r0 = 0; r0 < R16; r0 += 16) {
            __m512 t[16];
            for (int i = 0; i < 16; i++) t[i] = _mm512_loadu_ps(src + (int64_t)(r0 + i) * lds + c0);
            mmf_transpose16_regs(t);
            for (int c = 0; c < 16; c++)
                _mm256_storeu_si256((__m256i *)(dst + (int64_t)(c0 + c) * ldd + r0), (__m256i)_mm512_cvtneps_pbh(t[c]));
        }
    for (int r = 0; r < rows; r++)   /* the edges */
        for (int c = r < R16 ? C16 : 0; c < cols; c++) dst[(int64_t)c * ldd + r] = mmf_f32_to_bf16(src[(int64_t)r * lds + c]);
    if (rows & 1)
        for (int c = 0; c < cols; c++) dst[(int64_t)c * ldd + rows] = 0;
}

TGT void mmf_bf16_pack_t(uint16_t *dst, const float *S, int K, int N, int lds) {
    const int Kp = pad2(K), P = Kp / 2, Np = pad16(N);
    /* bf16 of a_j (row 2p) and b_j (row 2p+1) interleaved: a0 b0 a1 b1 ... */
    uint16_t ix[32];
    for (int j = 0; j < 16; j++) { ix[2 * j] = (uint16_t)j; ix[2 * j + 1] = (uint16_t)(16 + j); }
    const __m512i idx = _mm512_loadu_si512((const void *)ix);
    for (int nb = 0; nb < Np; nb += NB) {
        int w = N - nb < NB ? N - nb : NB;
        __mmask16 m = (__mmask16)(w >= 16 ? 0xFFFF : ((1u << w) - 1));
        uint16_t *db = dst + (size_t)nb / NB * P * NB * 2;
        for (int p = 0; p < P; p++) {
            int k0 = 2 * p, k1 = 2 * p + 1;
            __m512 a = _mm512_maskz_loadu_ps(m, S + (size_t)k0 * lds + nb);
            __m512 b = k1 < K ? _mm512_maskz_loadu_ps(m, S + (size_t)k1 * lds + nb) : _mm512_setzero_ps();
            __m512i v = (__m512i)_mm512_cvtne2ps_pbh(b, a);
            _mm512_storeu_si512((void *)(db + (size_t)p * NB * 2), _mm512_permutexvar_epi16(idx, v));
        }
    }
}
