/* Small GEMMs of the convolution layers (conv_gemm.c). */
#ifndef MMF_TRAIN_CONV_GEMM_H
#define MMF_TRAIN_CONV_GEMM_H

/* C (M,P) = A (M,K) B (K,P) (+ C if accumulate), row-major B and C with leading
 * dimension P; A's element (m, k) is A[m * a_m + k * a_k], so A may be W (OC,K)
 * (a_m = K, a_k = 1) or its transpose W^T (a_m = 1, a_k = K). Returns 0 and does
 * nothing when this build has no kernel for the shape (caller uses BLAS). */
int mmf_conv_gemm(float *C, const float *A, long a_m, long a_k, const float *B, int M, int K, int P, int accumulate);

/* C (M,N) += A (M,P) B (N,P)^T, all row-major with rows of length P (dW^T +=
 * cols dY^T). Returns 0 when this build has no kernel for the shape or BLAS is
 * faster on it (rows shorter than 2048). */
int mmf_conv_gemm_nt(float *C, const float *A, const float *B, int M, int N, int P);

#endif
