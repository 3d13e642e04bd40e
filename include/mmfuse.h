/* mmfuse: multimodal deep learning in C.
 *
 * One public header. Conventions:
 *  - Handles are opaque. Names are `mmf_<object>_<verb>`: `_load` reads a whole
 *    model or file into memory and `_new` builds one, both released by `_free`;
 *    `_open` maps a file and reads it on demand, released by `_close` (the
 *    index maps too, but add/delete may copy it into memory: `mmf_index_free`).
 *    Training is `mmf_<object>_train`, held-out scoring `mmf_<object>_eval`,
 *    parameter defaults `mmf_<object>_params_default`.
 *  - Fallible calls return mmf_status (or NULL); mmf_last_error() then holds a
 *    message naming the file, the field and what was expected.
 *  - The library never exits, aborts or prints to stdout; diagnostics go to the
 *    log callback (default: warnings and errors to stderr).
 *  - Thread counts are parameters (`n_threads`), never global settings.
 */
#ifndef MMFUSE_H
#define MMFUSE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MMFUSE_VERSION "0.1.0"
/* The version of the library actually loaded (MMFUSE_VERSION is the header's). */
const char *mmf_version(void);

/* ------------------------------------------------------------------ errors */

typedef enum mmf_status {
    MMF_OK = 0,
    MMF_ERR_ARG,         /* a bad argument from the caller */
    MMF_ERR_IO,          /* open/read/write/mmap failed */
    MMF_ERR_FORMAT,      /* a file is malformed */
    MMF_ERR_SHAPE,       /* shapes or dimensions disagree */
    MMF_ERR_UNSUPPORTED, /* well formed, but not something mmfuse handles */
    MMF_ERR_NOMEM,       /* allocation failed or a size budget was exceeded */
    MMF_ERR_NUMERIC,     /* NaN/Inf or another numerical failure */
    MMF_ERR_NOT_FOUND    /* a named tensor, field or file is absent */
} mmf_status;

const char *mmf_status_str(mmf_status s);
/* Message of the last failure on the calling thread ("" if none). */
const char *mmf_last_error(void);
void mmf_clear_error(void);

typedef enum mmf_log_level {
    MMF_LOG_DEBUG = 0, MMF_LOG_INFO, MMF_LOG_WARN, MMF_LOG_ERROR
} mmf_log_level;
typedef void (*mmf_log_fn)(mmf_log_level level, const char *msg, void *user);
/* Route diagnostics; fn = NULL restores the default (>= min_level to stderr). */
void mmf_log_set(mmf_log_fn fn, void *user);
void mmf_log_set_level(mmf_log_level min_level);

/* 64-bit hash of n bytes, chained through seed (0 to start): for telling
 * files and setups apart (training checkpoints' fingerprints), not for
 * security. */
uint64_t mmf_hash64(const void *p, size_t n, uint64_t seed);

/* ---------------------------------------------------------------- machine */

/* What this process runs on, so a result or a failure can be tied to a machine:
 * the CPU, the SIMD features the kernels care about (each usable only if the CPU
 * has it and the OS saves its registers), the cores this process may run on, and
 * the instruction set the compute engine (oneDNN) chose at run time (capped by
 * ONEDNN_MAX_CPU_ISA). */
typedef struct mmf_machine_info {
    char cpu_model[96];
    int avx2, fma, avx512f, avx512_bf16, avx512_vnni, amx;
    int n_cpus;          /* cores in this process's affinity mask */
    char engine[64];     /* e.g. "oneDNN 2.6.3, ISA avx512_core_bf16" */
} mmf_machine_info;
void mmf_machine_info_get(mmf_machine_info *out);
/* The bf16 multiply-add rate of this core over its fp32 FMA rate, timed once
 * per process (~1 ms): about 2 where AVX512-BF16 pays (AMD Zen 4 / Zen 5),
 * about 1 where vdpbf16ps issues at half the FMA rate (Intel Xeons without
 * AMX: bf16 then runs slower than fp32 end to end); 0 without AVX512-BF16.
 * MMF_PRECISION_AUTO picks bf16 only where it is >= MMF_BF16_AUTO_SPEEDUP. */
double mmf_bf16_speedup(void);
#define MMF_BF16_AUTO_SPEEDUP 1.3

/* ------------------------------------------------------------- safetensors */

typedef enum mmf_dtype {
    MMF_DT_F32 = 0, MMF_DT_F16, MMF_DT_BF16, MMF_DT_F64,
    MMF_DT_I64, MMF_DT_I32, MMF_DT_I16, MMF_DT_I8,
    MMF_DT_U8, MMF_DT_BOOL, MMF_DT_U16, MMF_DT_U32, MMF_DT_U64,
    MMF_DT_COUNT
} mmf_dtype;

const char *mmf_dtype_name(mmf_dtype dt);   /* "F32", "BF16", ... */
size_t mmf_dtype_size(mmf_dtype dt);        /* bytes per element */

#define MMF_MAX_DIMS 8

typedef struct mmf_tensor_info {
    const char *name;
    mmf_dtype dtype;
    int ndim;
    int64_t shape[MMF_MAX_DIMS];
    int64_t numel;
    size_t nbytes;
    const void *data;   /* points into the read-only mapping (zero copy). Aligned to the element
                         * size in files from mmf_st_writer or the reference writer; a file from
                         * elsewhere may not be: copy out (mmf_st_read_f32, memcpy) unless aligned */
} mmf_tensor_info;

/* A validated, read-only, memory-mapped safetensors file, or a sharded
 * checkpoint opened through its `*.safetensors.index.json`. Everything is
 * checked at open (header <= 100 MB, JSON, dtypes, shape x dtype = span with
 * overflow checks, offsets sorted, in range, tiling the data exactly, unique
 * UTF-8 names, string-only __metadata__); after that, tensor data is used in
 * place. As with any mapping, the file must not be truncated while open. */
typedef struct mmf_safetensors mmf_safetensors;

mmf_status mmf_st_open(const char *path, mmf_safetensors **out);
/* Validate an in-memory image of a file (the bytes are borrowed, not copied).
 * `name` is used in error messages. */
mmf_status mmf_st_open_memory(const void *bytes, size_t len, const char *name, mmf_safetensors **out);
void mmf_st_close(mmf_safetensors *st);

size_t mmf_st_count(const mmf_safetensors *st);
const mmf_tensor_info *mmf_st_at(const mmf_safetensors *st, size_t i);   /* sorted by offset */
const mmf_tensor_info *mmf_st_find(const mmf_safetensors *st, const char *name);
/* __metadata__ entries (string -> string) */
size_t mmf_st_metadata_count(const mmf_safetensors *st);
void mmf_st_metadata_at(const mmf_safetensors *st, size_t i, const char **key, const char **value);
const char *mmf_st_metadata(const mmf_safetensors *st, const char *key);   /* NULL if absent */
const char *mmf_st_path(const mmf_safetensors *st);

/* Copy a float tensor (F32, F16, BF16, F64) into dst as float32; `count` must equal numel. */
mmf_status mmf_st_read_f32(const mmf_safetensors *st, const char *name, float *dst, size_t count);

/* Work split over processes (`mpirun -np N mmfuse ...`; docs/scale.md). The library
 * never links MPI: the caller passes the job as a rank, a size and an in-place
 * all-reduce, which mmfuse's CLI implements with MPI_Allreduce. Every rank calls
 * the same library function with its own shard; the all-reduce is collective. */
typedef enum mmf_comm_op { MMF_COMM_SUM = 0, MMF_COMM_MAX, MMF_COMM_MIN } mmf_comm_op;
typedef struct mmf_comm {
    int rank, size;
    /* buf: count elements of dt (F32, F64, I32 or I64), replaced by the reduction
     * over all ranks; returns 0 on success */
    int (*allreduce)(void *buf, size_t count, mmf_dtype dt, mmf_comm_op op, void *user);
    void *user;
} mmf_comm;

/* Writing: collect tensors, then mmf_st_writer_finish() writes them to a temp
 * file beside `path`, fsyncs and renames it into place. On any failure the
 * previous file at `path` is untouched and no temp file is left behind. */
typedef struct mmf_st_writer mmf_st_writer;
mmf_st_writer *mmf_st_writer_new(void);
/* The data is copied; shape has ndim entries. */
mmf_status mmf_st_writer_add(mmf_st_writer *w, const char *name, mmf_dtype dtype,
                             int ndim, const int64_t *shape, const void *data);
mmf_status mmf_st_writer_meta(mmf_st_writer *w, const char *key, const char *value);
mmf_status mmf_st_writer_finish(mmf_st_writer *w, const char *path);
/* The same file image in memory instead (malloc'd; free it): for mmf_st_open_memory. */
mmf_status mmf_st_writer_bytes(mmf_st_writer *w, void **bytes, size_t *len);
void mmf_st_writer_free(mmf_st_writer *w);
/* Files written in pieces by several processes (mmfuse embed under mpirun, each
 * rank its rows): a reserved tensor has a shape but no data, the caller writes its
 * bytes. mmf_st_writer_layout gives the file's first *header_len bytes (length
 * prefix + JSON header, as mmf_st_writer_finish writes them), the absolute file
 * offset of each tensor in the order added (offsets: mmf_st_writer_count entries,
 * or NULL) and the file size; finish and bytes refuse a writer with reserved tensors. */
mmf_status mmf_st_writer_reserve(mmf_st_writer *w, const char *name, mmf_dtype dtype, int ndim, const int64_t *shape);
mmf_status mmf_st_writer_layout(mmf_st_writer *w, void **header, size_t *header_len, uint64_t *offsets, uint64_t *total);
size_t mmf_st_writer_count(const mmf_st_writer *w);
const char *mmf_st_writer_name(const mmf_st_writer *w, size_t i);
/* The copied data of tensor i (NULL when reserved) and its size in bytes. */
const void *mmf_st_writer_data(const mmf_st_writer *w, size_t i, size_t *nbytes);

/* Write `len` bytes to `path` atomically (temp file, fsync, rename). */
mmf_status mmf_write_file_atomic(const char *path, const void *data, size_t len);

/* ----------------------------------------------------------- JSONL records */

/* A records file: one JSON object a line (blank lines skipped), read whole,
 * the one reader behind `mmfuse embed --records`, the captions and answers
 * files and the from-scratch trainers. Of each record it keeps the fields
 * named in mmf_recfile_params: a text (a string, or an array of strings
 * joined by single spaces), an image path (a string, resolved against the
 * records file's folder unless absolute), a label and an id (each as the
 * file gives it: a string or a number) and keyword tags (an array of
 * strings, or one string). A text or image of another type, a line that is
 * not one JSON object, or tags of another type is an error naming the file,
 * the line and the field. Unknown fields are ignored. */
typedef struct mmf_recfile mmf_recfile;
typedef struct mmf_recfile_params {
    const char *text_field;    /* "text"; NULL: not read */
    const char *image_field;   /* "image"; NULL: not read */
    const char *label_field;   /* "label"; NULL: not read */
    const char *id_field;      /* "id"; NULL: not read */
    const char *tags_field;    /* "tags"; NULL: not read */
} mmf_recfile_params;
/* What a label or id field holds: absent (missing or null), a string, a number, or another JSON type. */
typedef enum mmf_field_kind { MMF_FIELD_ABSENT = 0, MMF_FIELD_STRING, MMF_FIELD_NUMBER, MMF_FIELD_OTHER } mmf_field_kind;

mmf_recfile_params mmf_recfile_params_default(void);
mmf_status mmf_recfile_load(const char *path, const mmf_recfile_params *p, mmf_recfile **out);
/* The same over len bytes already in memory: `path` names them in messages and
 * its folder resolves image paths; a line ends at its first NUL byte. */
mmf_status mmf_recfile_parse(const char *text, size_t len, const char *path, const mmf_recfile_params *p, mmf_recfile **out);
void mmf_recfile_free(mmf_recfile *f);
size_t mmf_recfile_count(const mmf_recfile *f);
const char *mmf_recfile_path(const mmf_recfile *f);
/* The 1-based line record i was read from, for messages. */
long mmf_recfile_line(const mmf_recfile *f, size_t i);
/* NULL when absent, null or empty (an array of empty strings too). */
const char *mmf_recfile_text(const mmf_recfile *f, size_t i);
const char *mmf_recfile_image(const mmf_recfile *f, size_t i);
/* *str (a string) or *num (a number) by kind; either pointer may be NULL. */
mmf_field_kind mmf_recfile_label(const mmf_recfile *f, size_t i, const char **str, double *num);
mmf_field_kind mmf_recfile_id(const mmf_recfile *f, size_t i, const char **str, double *num);
/* Record i's non-empty tags (other array items skipped); returns how many. */
int mmf_recfile_tags(const mmf_recfile *f, size_t i, const char *const **tags);

/* ----------------------------------------------------------- text encoders */

/* Tokenizers loaded from a Hugging Face folder: tokenizer.json (WordPiece,
 * BPE (CLIP's, byte-level GPT-2 / RoBERTa, SentencePiece-style), Unigram),
 * vocab.txt + tokenizer_config.json, vocab.json + merges.txt, or a
 * SentencePiece model (spiece.model, sentencepiece.bpe.model, tokenizer.model);
 * the kind is read from the files (docs/text.md). Text is UTF-8; invalid
 * byte sequences are replaced by U+FFFD (one per bad byte) with a warning
 * through the log, and BERT's text cleaning then drops them. */
typedef struct mmf_tokenizer mmf_tokenizer;

typedef struct mmf_encoding {
    int n;                    /* tokens, special tokens included */
    int32_t *ids;             /* (n) */
    int32_t *type_ids;        /* (n) token type (segment) ids */
    uint8_t *attention_mask;  /* (n) all 1: padding happens per batch */
    const char **tokens;      /* (n) token strings, owned by the tokenizer */
    int truncated;            /* 1 if tokens were dropped to fit max_length */
} mmf_encoding;

mmf_status mmf_tokenizer_load(const char *dir, mmf_tokenizer **out);
void mmf_tokenizer_free(mmf_tokenizer *tok);
/* Encode `text` (and `pair`, or NULL) as the reference does: added/special
 * tokens split out, normalizer, pre-tokenizer, model, post-processor.
 * max_length: > 0 truncates to that many tokens (specials included; pairs:
 * longest first); 0 uses the tokenizer's own limit (model_max_length or
 * tokenizer.json's truncation), none if it has none; < 0 never truncates.
 * On success free `out` with mmf_encoding_free. */
mmf_status mmf_tokenizer_encode(const mmf_tokenizer *tok, const char *text, const char *pair,
                                int add_special_tokens, int max_length, mmf_encoding *out);
void mmf_encoding_free(mmf_encoding *enc);
int64_t mmf_tokenizer_vocab_size(const mmf_tokenizer *tok);   /* max id + 1 */
const char *mmf_tokenizer_id_to_token(const mmf_tokenizer *tok, int32_t id);   /* NULL if none */
int32_t mmf_tokenizer_token_to_id(const mmf_tokenizer *tok, const char *token); /* -1 if none */
int mmf_tokenizer_max_length(const mmf_tokenizer *tok);      /* 0 = no limit known */
int32_t mmf_tokenizer_pad_id(const mmf_tokenizer *tok);

/* Encoders: a pretrained model loaded from a Hugging Face folder, dispatched
 * on config.json's model_type (bert, ...; the image families add theirs). */
typedef struct mmf_encoder mmf_encoder;

typedef enum mmf_modality { MMF_MODALITY_TEXT = 1, MMF_MODALITY_IMAGE = 2 } mmf_modality;

typedef enum mmf_pooling {
    MMF_POOL_DEFAULT = -1,  /* the folder's own (sentence-transformers 1_Pooling), else mean */
    MMF_POOL_CLS = 0,       /* hidden state of the first token */
    MMF_POOL_MEAN,          /* mean over real (unpadded) tokens */
    MMF_POOL_MAX,           /* elementwise max over real tokens */
    MMF_POOL_POOLER,        /* BERT pooler: tanh(dense(h_cls)) */
    MMF_POOL_NONE,          /* every token's hidden state (see mmf_encoder_embed_text_tokens) */
    MMF_POOL_CLS_MEAN       /* [CLS, mean of the patch tokens] (DINOv2, as Dinov2ForImageClassification):
                               twice the hidden size, so it is chosen at load (mmf_encoder_params.pooling) */
} mmf_pooling;

const char *mmf_pooling_name(mmf_pooling p);                 /* "cls", "mean", ... */
mmf_status mmf_pooling_parse(const char *name, mmf_pooling *out);

#define MMF_NORMALIZE_DEFAULT (-1)   /* normalize if the folder has a Normalize module */

typedef void (*mmf_progress_fn)(size_t done, size_t total, void *user);

typedef enum mmf_precision {
    MMF_PRECISION_F32 = 0,   /* matches PyTorch fp32 to ~1e-6: ask for it where parity matters */
    MMF_PRECISION_BF16 = 1,  /* AVX512-BF16 CPUs (else MMF_ERR_UNSUPPORTED at load): transformer
                                projections/FFN (BERT, ViT, CLIP) and every ResNet convolution as
                                bf16 GEMMs with fp32 accumulation; ~2x GEMM rate, ~3 digits */
    MMF_PRECISION_INT8 = 2,  /* VNNI CPUs: transformer projections/FFN with int8 weights (per output
                                channel) and int8 activations (per token), int32 accumulation;
                                LayerNorm, softmax, GELU, attention stay fp32; ResNet: every
                                convolution's GEMM (accurate, but slower than fp32 so far) */
    MMF_PRECISION_AUTO = 3   /* the default: bf16 where the model runs it and it pays on this CPU
                                (mmf_bf16_speedup() >= MMF_BF16_AUTO_SPEEDUP), else fp32 */
} mmf_precision;

/* The precision an encoder runs when nobody names one (mmf_encoder_params_default,
 * the CLI's --precision): MMF_PRECISION_AUTO, or what the environment variable
 * MMFUSE_PRECISION says (fp32 | bf16 | int8 | auto), so that a deployment can pin
 * fp32 without changing command lines. Another value of it is ignored with a
 * warning on stderr. */
mmf_precision mmf_default_precision(void);

typedef struct mmf_encoder_params {
    int n_threads;     /* default 1 */
    int max_batch;     /* sequences per forward pass; activations are sized for it (default 32) */
    int max_length;    /* tokens per sequence; 0 = the model's limit (default 0) */
    mmf_progress_fn progress;   /* called after each batch, or NULL */
    void *progress_user;
    mmf_precision precision;   /* default mmf_default_precision(): MMF_PRECISION_AUTO unless MMFUSE_PRECISION */
    mmf_pooling pooling;       /* the encoder's default pooling instead of the folder's (MMF_POOL_DEFAULT,
                                  the default); MMF_POOL_CLS_MEAN can only be chosen here: it sets the dim */
} mmf_encoder_params;

mmf_encoder_params mmf_encoder_params_default(void);
mmf_status mmf_encoder_load(const char *dir, const mmf_encoder_params *params, mmf_encoder **out);
void mmf_encoder_free(mmf_encoder *enc);

int mmf_encoder_modalities(const mmf_encoder *enc);         /* MMF_MODALITY_* bits */
int mmf_encoder_dim(const mmf_encoder *enc);                /* pooled embedding size */
const char *mmf_encoder_model_type(const mmf_encoder *enc); /* config.json's model_type */
mmf_pooling mmf_encoder_default_pooling(const mmf_encoder *enc);
int mmf_encoder_default_normalize(const mmf_encoder *enc);
int mmf_encoder_max_length(const mmf_encoder *enc);         /* tokens per sequence after truncation */
const mmf_tokenizer *mmf_encoder_tokenizer(const mmf_encoder *enc);   /* NULL for image-only */
const char *mmf_encoder_family(const mmf_encoder *enc);     /* what runs, e.g. "RoBERTa (BertModel layers, ...)" */
/* What pooling p (MMF_POOL_DEFAULT: the encoder's default) computes for this
 * encoder, in words ("the mean over real tokens", "attention-pooling head (MAP)"). */
const char *mmf_encoder_pooling_desc(const mmf_encoder *enc, mmf_pooling p);
mmf_status mmf_encoder_set_threads(mmf_encoder *enc, int n_threads);

/* Pooled text embeddings: out (n, dim). pooling may be MMF_POOL_DEFAULT but
 * not MMF_POOL_NONE; normalize 0/1 or MMF_NORMALIZE_DEFAULT (L2 per row).
 * Inputs longer than the model allows are truncated with a notice. */
mmf_status mmf_encoder_embed_text(mmf_encoder *enc, const char *const *texts, size_t n,
                                  mmf_pooling pooling, int normalize, float *out);
/* Token lengths (special tokens included, after truncation) of each text. */
mmf_status mmf_encoder_text_lengths(mmf_encoder *enc, const char *const *texts, size_t n, int32_t *lengths);
/* Last hidden states: out (n, T, dim) and mask (n, T) (1 = real token; padded
 * positions are 0 in both). T must be >= every text's length. */
mmf_status mmf_encoder_embed_text_tokens(mmf_encoder *enc, const char *const *texts, size_t n, int T,
                                         float *out, uint8_t *mask);


/* ---------------------------------------------------------- image encoders */

/* A decoded image: 8-bit RGB, interleaved, rows top to bottom (malloc'd). */
typedef struct mmf_image {
    int width, height;
    uint8_t *rgb;          /* width * height * 3 bytes */
} mmf_image;

typedef struct mmf_image_decode_params {
    int64_t max_pixels;    /* decompression-bomb guard (width * height); default 89478485, Pillow's limit */
    int64_t max_file_bytes;/* default 256 MiB */
    int exif_orientation;  /* apply JPEG EXIF orientation as HF load_image (exif_transpose); default 1 */
} mmf_image_decode_params;

mmf_image_decode_params mmf_image_decode_params_default(void);
/* Decode a PNG or JPEG file (sniffed from its bytes) to RGB exactly as Pillow's
 * Image.open(...).convert("RGB") (alpha is dropped, not composited: that is
 * what Hugging Face processors do). params may be NULL (defaults). Errors name
 * the file and the problem (truncated, corrupt, too large, unsupported format). */
mmf_status mmf_image_load(const char *path, const mmf_image_decode_params *params, mmf_image *out);
mmf_status mmf_image_decode_memory(const void *bytes, size_t len, const char *name,
                                   const mmf_image_decode_params *params, mmf_image *out);
void mmf_image_free(mmf_image *img);

/* Pillow's resampling filters (values are PIL's Image.Resampling numbers). */
typedef enum mmf_resample {
    MMF_RESAMPLE_NEAREST = 0, MMF_RESAMPLE_LANCZOS = 1, MMF_RESAMPLE_BILINEAR = 2,
    MMF_RESAMPLE_BICUBIC = 3, MMF_RESAMPLE_BOX = 4, MMF_RESAMPLE_HAMMING = 5
} mmf_resample;

/* Resize as Pillow's Image.resize((w, h), filter): separable convolution with the
 * filter support widened when downscaling (antialiasing), 8-bit fixed-point
 * coefficients, horizontal pass first with 8-bit rounding between passes.
 * NEAREST is not supported. */
mmf_status mmf_image_resize(const mmf_image *in, int out_w, int out_h, mmf_resample filter, mmf_image *out);

/* A Hugging Face image processor read from preprocessor_config.json:
 * CLIPImageProcessor, ViTImageProcessor, ConvNextImageProcessor (ResNet) and
 * their *FeatureExtractor names. */
typedef struct mmf_image_processor mmf_image_processor;
/* dir_or_file: a model folder (reads preprocessor_config.json) or the json file. */
mmf_status mmf_image_processor_load(const char *dir_or_file, mmf_image_processor **out);
void mmf_image_processor_free(mmf_image_processor *p);
/* Output geometry of pixel_values for one image (always fixed: crop or square resize). */
void mmf_image_processor_size(const mmf_image_processor *p, int *channels, int *height, int *width);
/* Resize + crop only (the uint8 image before rescale/normalise); for parity checks. */
mmf_status mmf_image_processor_geometry(const mmf_image_processor *p, const mmf_image *in, mmf_image *out);
/* Full pipeline: out is (3, H, W) float32, channels first, rescaled and normalised. */
mmf_status mmf_image_processor_run(const mmf_image_processor *p, const mmf_image *in, float *out);

/* Per-image failure report: index in the input list, its path, the message. */
typedef void (*mmf_image_error_fn)(size_t index, const char *path, const char *message, void *user);
/* Decode + preprocess n files into out (n, 3, H, W) using n_threads. A file
 * that cannot be read, decoded or preprocessed: without skip_bad the call
 * fails with the first such file's error (its path named); with skip_bad its
 * row is zeros, failed[i] = 1 (failed may be NULL) and on_error (may be NULL)
 * hears about it, in input order. */
mmf_status mmf_image_processor_files(const mmf_image_processor *p, const char *const *paths, size_t n, int skip_bad,
                                     int n_threads, uint8_t *failed, float *out, mmf_image_error_fn on_error, void *user);

/* Image embeddings from an encoder loaded with mmf_encoder_load on a vit,
 * dinov2, clip, siglip, siglip_vision_model or resnet folder (its
 * preprocessor_config.json is the processor).
 * Poolings: ViT pooler (default when the checkpoint has one) / cls / mean
 * (patch tokens); DINOv2 cls (default) / mean / cls_mean; CLIP the projected
 * features (get_image_features; default); SigLIP pooler (the attention-pooling
 * head; default) / mean; ResNet the pooled features (mean; default).
 * normalize as for text. */
const mmf_image_processor *mmf_encoder_image_processor(const mmf_encoder *enc);   /* NULL for text-only */
/* CLIP, SigLIP: exp(logit_scale), the factor on cosine similarities; 0 for others. */
float mmf_encoder_logit_scale(const mmf_encoder *enc);
/* SigLIP: logit_bias, added to the scaled cosines; 0 for others. */
float mmf_encoder_logit_bias(const mmf_encoder *enc);
/* 1 when zero-shot probabilities are sigmoid(scale * cosine + bias) per label
 * (SigLIP), 0 when they are a softmax over the labels (CLIP). */
int mmf_encoder_logits_sigmoid(const mmf_encoder *enc);
/* pixels (n, 3, H, W) as the processor makes them -> out (n, dim). */
mmf_status mmf_encoder_embed_pixels(mmf_encoder *enc, const float *pixels, size_t n, mmf_pooling pooling,
                                    int normalize, float *out);
/* Image files -> out (n, dim), batched by params.max_batch, decoding in
 * parallel. Failure semantics as mmf_image_processor_files (failed rows are zeros). */
mmf_status mmf_encoder_embed_image_files(mmf_encoder *enc, const char *const *paths, size_t n, mmf_pooling pooling,
                                         int normalize, int skip_bad, uint8_t *failed, float *out,
                                         mmf_image_error_fn on_error, void *user);

/* ---------------------------------------------------------- fusion, training */

/* ---- Embedding files: the seam between encoders and fusion (docs/embedding-file.md).
 * One safetensors file per split: one tensor per modality (F32/F16/BF16 [N, D] or
 * token-level [N, T, D] with "<name>.mask" U8 [N, T]), "mask" U8 [N, M] (1 = present,
 * columns in the order of __metadata__["modalities"]), "labels" (I64 [N] class ids or
 * F32 [N, C] multi-hot; optional), "ids" (I64 [N], optional). */
#define MMF_EMB_MAX_MODALITIES 8

typedef struct mmf_embfile mmf_embfile;

typedef enum mmf_label_kind {
    MMF_LABELS_NONE = 0, /* no "labels" tensor */
    MMF_LABELS_CLASS,    /* I64 [N] class ids in [0, n_classes) */
    MMF_LABELS_MULTIHOT  /* F32 [N, C] of 0/1 */
} mmf_label_kind;

/* Read and validate a whole file into memory. Token-level modalities are pooled to
 * vectors here (mean over the tokens their mask keeps). Fails, naming the file and
 * the tensor, on mismatched N, a modality listed without a tensor (or the reverse),
 * bad dtypes or shapes, NaN/Inf in a present row, and bad labels. */
mmf_status mmf_embfile_open(const char *path, mmf_embfile **out);
void mmf_embfile_close(mmf_embfile *f);
const char *mmf_embfile_path(const mmf_embfile *f);
int64_t mmf_embfile_rows(const mmf_embfile *f);
int mmf_embfile_n_modalities(const mmf_embfile *f);
const char *mmf_embfile_modality(const mmf_embfile *f, int m);   /* name of column m */
int mmf_embfile_find(const mmf_embfile *f, const char *name);   /* column, or -1 */
int64_t mmf_embfile_dim(const mmf_embfile *f, int m);
/* Pooled embeddings of modality m, [N, dim] row-major. Rows of absent samples are zero. */
const float *mmf_embfile_data(const mmf_embfile *f, int m);
const uint8_t *mmf_embfile_mask(const mmf_embfile *f);          /* [N, M] */
mmf_label_kind mmf_embfile_label_kind(const mmf_embfile *f);
int64_t mmf_embfile_n_classes(const mmf_embfile *f);            /* max id + 1, or C */
const int64_t *mmf_embfile_labels(const mmf_embfile *f);        /* [N] or NULL */
const float *mmf_embfile_multihot(const mmf_embfile *f);        /* [N, C] or NULL */
const int64_t *mmf_embfile_ids(const mmf_embfile *f);           /* [N] or NULL */
/* The encoder folder that embedded modality m (__metadata__ "encoder.<name>",
 * written by `mmfuse embed --records`), or NULL when the file does not say.
 * Models trained on the file record it, so that they can embed a new sample
 * the same way without being told. */
const char *mmf_embfile_encoder(const mmf_embfile *f, int m);

/* Everything needed to write an embedding file in one call (the data is copied). */
typedef struct mmf_embfile_spec {
    int64_t n_rows;
    int n_modalities;
    const char *const *names;     /* [M] modality names: [A-Za-z0-9_-], unique, not a reserved name */
    const int64_t *dims;          /* [M] */
    const float *const *data;     /* [M] pointers to [N, dims[m]] (absent rows: anything finite) */
    const uint8_t *mask;          /* [N, M] or NULL = all present */
    const int64_t *labels;        /* [N] class ids, or NULL */
    const float *multihot;        /* [N, n_classes], or NULL */
    int64_t n_classes;            /* for multihot (required) or labels (0 = infer) */
    const int64_t *ids;           /* [N] or NULL */
    const char *const *encoders;  /* [M] encoder folder per modality (NULL entries: none), or NULL */
    const char *label_names;      /* optional comma-separated class names (metadata) */
} mmf_embfile_spec;

mmf_status mmf_embfile_write(const char *path, const mmf_embfile_spec *spec);
/* The file mmf_embfile_write would write, opened without touching the disk (the data is
 * copied and validated as mmf_embfile_open does; `name` stands for the path in messages):
 * how callers holding embeddings in memory (the Python binding) reach fusion heads. */
mmf_status mmf_embfile_from_spec(const mmf_embfile_spec *spec, const char *name, mmf_embfile **out);
/* The writer mmf_embfile_write would fill, with the per-row tensors (every modality,
 * and "mask") reserved instead of copied: spec->data entries and spec->mask are not
 * read (may be NULL); labels, ids and metadata are copied as usual. For writers that
 * place each process's rows themselves (mmf_st_writer_layout). */
mmf_status mmf_embfile_layout(const mmf_embfile_spec *spec, const char *name, mmf_st_writer **out);

/* ---- Training checkpoints (docs/fusion.md "Checkpoints and restart"). Every
 * trainer (fusion heads, VQA, captioners, towers, contrastive and direct models)
 * runs one training loop, which can write all it needs to continue exactly to
 * one safetensors file: every parameter, the optimiser moments, step and
 * schedule position, the generators, the epoch and step reached, the epoch's
 * order, the best weights with their score and the patience count, the
 * batchnorm statistics and the epoch's loss sums. Written atomically (temp
 * file, fsync, rename), by rank 0 alone under data parallelism. A resumed run
 * ends with the bytes an uninterrupted one writes (same thread count). */
typedef struct mmf_checkpoint_params {
    const char *path;   /* NULL: no checkpoints */
    /* write after every `every` steps (counted over the whole run); 0: after
     * each epoch. The end of training is always written. */
    int64_t every;
    /* 1: continue from path, which must exist, be whole, and come from the same
     * setup (else MMF_ERR_FORMAT naming the file and what differs); 0: start
     * afresh, and refuse an existing file at path rather than overwrite it */
    int resume;
    /* what else a resume must match, as "key=value" lines (the CLI: its options
     * and a hash of each input file); the loop adds its own (samples, batch,
     * epochs, patience, parameter shapes, optimiser, ranks, a hash of the
     * initial weights and generators). May be NULL. */
    const char *setup;
    /* after each write (resumed 0; rank 0) and on resuming (1): the position,
     * as the epoch in progress (1-based) and the steps done in it; finished:
     * training had ended, after epoch `epoch` (step 0). May be NULL. */
    void (*notice)(void *user, int resumed, const char *path, int epoch, int64_t step, int finished);
    void *notice_user;
} mmf_checkpoint_params;

/* ---- Fusion heads (docs/fusion.md): an operator over the modality embeddings,
 * then an output layer. The layer before the output is the multimodal embedding. */
typedef enum mmf_task {
    MMF_TASK_CLASSIFY = 0,  /* softmax cross-entropy over class ids */
    MMF_TASK_MULTILABEL,    /* sigmoid + binary cross-entropy over multi-hot labels */
    MMF_TASK_ALIGN          /* CLIP-style symmetric InfoNCE between the first two modalities */
} mmf_task;

typedef struct mmf_head mmf_head;

/* The operator zoo (for listings): name, one-line summary, cost formula, absent-modality rule. */
int mmf_fusion_count(void);
const char *mmf_fusion_name(int i);
const char *mmf_fusion_summary(int i);
const char *mmf_fusion_cost(int i);
const char *mmf_fusion_absent(int i);

typedef struct mmf_train_params {
    const char *fusion;         /* operator name, default "concat" */
    mmf_task task;
    int hidden;                 /* common size H, default 128 */
    int heads, layers;          /* transformer fusion: 4 heads, 1 layer */
    int rank;                   /* LMF rank / MFB factors, default 4 */
    int proj;                   /* TFN per-modality size, default 16 */
    int sketch;                 /* compact bilinear size (power of two), default 1024 */
    int64_t budget;             /* full bilinear/TFN weight budget, default 16M */
    int epochs;                 /* default 20 */
    int batch;                  /* default 64 */
    float lr;                   /* default 1e-3 (AdamW) */
    float weight_decay;         /* default 0.01 */
    float dropout;              /* on the fused embedding, default 0.1 */
    float label_smoothing;      /* default 0 */
    float clip_norm;            /* default 1.0; 0 = off */
    int cosine;                 /* cosine schedule with 5% warmup (default 1) */
    float modality_dropout[MMF_EMB_MAX_MODALITIES]; /* per modality, in the train file's order */
    int patience;               /* early stopping: epochs without val improvement, default 5 */
    uint64_t seed;              /* default 1 */
    int n_threads;              /* default 1 */
    /* progress: called after every batch and epoch (may be NULL) */
    void (*progress)(void *user, int epoch, int epochs, int64_t batch, int64_t batches, double train_loss,
                     const double *val_metrics /* NULL mid-epoch; else loss, accuracy, macro-F1 */);
    void *progress_user;
    /* MMF_PRECISION_BF16: the linear layers' GEMMs (forward, weight and input
     * gradients) take bf16 operands with fp32 sums (AVX512-BF16 CPUs only);
     * weights, optimiser state, loss and validation stay fp32. Default fp32. */
    mmf_precision precision;
    /* where the training time went (may be NULL): on return, wall seconds in
     * [0] batch gathering, [1] forward passes, [2] backward passes, [3]
     * optimiser steps, and [4] the number of steps (validation not counted) */
    double *phase_seconds;
    /* checkpoints and restart (path NULL: none) */
    mmf_checkpoint_params checkpoint;
} mmf_train_params;

mmf_train_params mmf_train_params_default(void);

/* Train on `train`, select the epoch with the best validation score (val may be
 * NULL: the last epoch is kept). Fails on NaN/Inf loss or gradients, naming the
 * epoch and step; labels out of range; val files that differ in modalities/dims. */
mmf_status mmf_head_train(const mmf_embfile *train, const mmf_embfile *val, const mmf_train_params *p, mmf_head **out);
/* Data-parallel training over the ranks of comm (`mpirun -np N mmfuse train`): every
 * rank calls it with the same files and parameters; each step's batch is split by
 * rank and the gradients all-reduced, so every rank ends with the model one process
 * trains on the same batches (up to the order of the float sums; modality dropout
 * and dropout are drawn for the whole batch). Contrastive losses (align,
 * xmodal's alignment term) compare each rank's rows with the whole batch's,
 * all-gathered. comm NULL or of size 1: mmf_head_train. */
mmf_status mmf_head_train_comm(const mmf_embfile *train, const mmf_embfile *val, const mmf_train_params *p,
                               const mmf_comm *comm, mmf_head **out);
/* safetensors with the parameters + __metadata__ "mmfuse.head" (JSON config); atomic. */
mmf_status mmf_head_save(const mmf_head *h, const char *path);
mmf_status mmf_head_load(const char *path, mmf_head **out);
void mmf_head_free(mmf_head *h);
const char *mmf_head_fusion(const mmf_head *h);
mmf_task mmf_head_task(const mmf_head *h);
int64_t mmf_head_param_count(const mmf_head *h);
int64_t mmf_head_flops(const mmf_head *h);      /* forward FLOPs per sample */
int64_t mmf_head_emb_dim(const mmf_head *h);
int64_t mmf_head_out_dim(const mmf_head *h);
/* The modalities the head was trained on, in the train file's order (callers that build
 * inputs in memory, e.g. the Python binding, need names and sizes): NULL / 0 out of range. */
int mmf_head_n_modalities(const mmf_head *h);
const char *mmf_head_modality(const mmf_head *h, int m);
int64_t mmf_head_dim(const mmf_head *h, int m);
/* Writes a JSON object describing the head into buf. */
const char *mmf_head_describe(const mmf_head *h, char *buf, size_t cap);

typedef struct mmf_eval_params {
    const char *drop;           /* a modality name forced absent, or NULL */
    float drop_rate;            /* each modality of each row absent with this probability (one kept) */
    float noise;                /* Gaussian noise, sigma relative to each feature's std */
    uint64_t seed;
    int n_threads;
    int batch;                  /* rows per forward, default 256 */
} mmf_eval_params;
mmf_eval_params mmf_eval_params_default(void);

typedef struct mmf_eval_result {
    int64_t n;
    double loss;
    double accuracy;            /* classify: top-1; multilabel: exact match */
    double macro_f1;            /* classify / multilabel (threshold 0.5) */
    double recall[3];           /* align: recall@1, @5, @10 (first modality -> second) */
} mmf_eval_result;

/* Data must carry the head's modalities (by name, any order; a modality missing
 * from the file counts as absent) with the same dimensions. */
mmf_status mmf_head_eval(mmf_head *h, const mmf_embfile *data, const mmf_eval_params *o, mmf_eval_result *r);
/* Multimodal embeddings [N, emb_dim] and outputs [N, out_dim] (either may be NULL). */
mmf_status mmf_head_predict(mmf_head *h, const mmf_embfile *data, const mmf_eval_params *o, float *emb, float *out);
/* Write the embeddings to an embedding file with one modality "fused" (+ labels, ids);
 * a loaded head's file is recorded as the encoder of "fused" (__metadata__
 * "encoder.fused"), so an index over them refuses vectors made another way. */
mmf_status mmf_head_fuse(mmf_head *h, const mmf_embfile *data, const char *out_path, int n_threads);

/* ------------------------------------ from-scratch models (src/direct, docs/direct.md) */

/* Small encoders trained from scratch on JSONL records ("id", "text", "image"
 * relative to the JSONL file, a label field), saved as a model folder that
 * mmf_encoder_load opens like any Hugging Face folder (docs/direct.md):
 *   image: model_type "mmfuse_cnn" (conv3x3-BN-ReLU-maxpool stages, global
 *          average pool = the embedding), preprocessor_config.json;
 *   text:  model_type "mmfuse_text" (BERT layout, word-level WordPiece vocab.txt
 *          learned from the training texts, mean pooling = the embedding).
 * Both are trained to classify the label field (softmax cross-entropy). */
typedef struct mmf_tower_params {
    int epochs;               /* 0 = per modality (image 10, text 40) */
    int batch;                /* default 64 */
    float lr;                 /* AdamW, cosine with 5% warmup; default 2e-3 */
    float weight_decay;       /* default 1e-4 */
    int dim;                  /* embedding size: image last stage channels, text hidden size; default 128 */
    int image_size;           /* image: input side (resized), default 64 */
    int layers, heads;        /* text: 2 layers, 4 heads */
    int max_length;           /* text: tokens incl. [CLS]/[SEP], default 32 */
    int min_count;            /* text: words seen fewer times are left to characters, default 1 */
    int augment;              /* image: random shifts up to 1/16 of the side, default 1 */
    const char *label_field;  /* default "label" */
    float dropout;            /* text: dropout of the transformer, default 0.1 */
    uint64_t seed;            /* default 1 */
    int n_threads;            /* default 1 */
    /* after every epoch (val_accuracy < 0 without validation records); may be NULL */
    void (*progress)(void *user, int epoch, int epochs, double train_loss, double train_accuracy, double val_accuracy);
    void *progress_user;
    /* Data parallel (`mpirun -np N mmfuse train-encoder`, docs/scale.md): every
     * rank calls the trainer with the same records and parameters and trains on
     * its slice of each batch (batchnorm over the whole batch); rank 0 writes
     * the model. NULL (default) or size 1: one process. */
    const mmf_comm *comm;
    /* checkpoints and restart (path NULL: none) */
    mmf_checkpoint_params checkpoint;
} mmf_tower_params;

mmf_tower_params mmf_tower_params_default(void);
/* Train on train_jsonl, keep the epoch with the best accuracy on val_jsonl (may be
 * NULL: the last), write the model folder out_dir (created if needed). */
mmf_status mmf_image_tower_train(const char *train_jsonl, const char *val_jsonl, const char *out_dir,
                                 const mmf_tower_params *p);
mmf_status mmf_text_tower_train(const char *train_jsonl, const char *val_jsonl, const char *out_dir,
                                const mmf_tower_params *p);

/* Contrastive dual encoders trained from scratch (the CLIP recipe, docs/direct.md):
 * a text tower (mmfuse_text layout) and a CNN image tower (mmfuse_cnn layout),
 * each followed by a linear projection to `dim`, trained jointly with the
 * symmetric InfoNCE loss over all pairs of a batch and a learned temperature,
 * on (text, image) pairs of JSONL records: every record's image against its
 * concept's text (records sharing pair_field are one concept; a batch holds
 * different concepts). Views are augmented: random resized crops, shifts,
 * colour jitter and greyscale for the pictures; the name alone, the name with
 * a random subset of its "tags", or a subset of the tags for the texts. AdamW
 * with a cosine schedule; with validation records the epoch with the best
 * text -> image R@10 over the validation images (ties: R@1) is kept, and training stops
 * after `patience` epochs without a better one. The folder out_dir is a model
 * mmf_encoder_load opens as model_type "mmfuse_clip" (both modalities in one
 * space, unit-length embeddings, its own tokenizer, logit scale). */
typedef struct mmf_clip_params {
    int epochs;               /* default 40 */
    int patience;             /* default 8; 0 = run every epoch */
    int batch;                /* pairs per step (all others are the negatives), default 128 */
    float lr;                 /* AdamW peak, cosine with 5% warmup; default 2e-3 */
    float weight_decay;       /* default 0.05 (not on biases, norms, the temperature) */
    int dim;                  /* joint embedding size, default 128 */
    int text_dim, image_dim;  /* tower widths, default 128 and 128 */
    int image_size;           /* picture side, default 32 */
    int layers, heads;        /* text tower: 2 layers, 4 heads */
    int max_length;           /* text: tokens incl. [CLS]/[SEP], default 32 */
    int min_count;            /* text: words seen fewer times are left to characters, default 1 */
    float temperature;        /* initial temperature, default 0.07 (the scale 1/T is learned, capped at 100) */
    int augment;              /* 1 (default): picture and text views as above; 0: the plain pairs */
    const char *pair_field;   /* field naming a record's concept, default "hexcode" (absent: the text) */
    uint64_t seed;            /* default 1 */
    int n_threads;            /* default 1 */
    /* after every epoch: mean loss, the logit scale exp(t), validation R@1 and
     * R@10 text -> image (< 0 without validation records); may be NULL */
    void (*progress)(void *user, int epoch, int epochs, double train_loss, double logit_scale, double val_r1,
                     double val_r10);
    void *progress_user;
    float dropout;            /* text tower dropout, default 0.1 */
    /* Data parallel (as mmf_tower_params.comm): the loss of the whole batch,
     * each rank embedding its slice (the embeddings are all-gathered). */
    const mmf_comm *comm;
    /* checkpoints and restart (path NULL: none) */
    mmf_checkpoint_params checkpoint;
} mmf_clip_params;

mmf_clip_params mmf_clip_params_default(void);
mmf_status mmf_clip_train(const char *train_jsonl, const char *val_jsonl, const char *out_dir, const mmf_clip_params *p);

/* Direct multimodal models over embedding files (docs/direct.md), written as
 * fusion heads (mmf_head_save / mmf_head_load, `mmfuse eval` / `mmfuse fuse`):
 *   "bimodal-ae": Ngiam et al.'s bimodal deep autoencoder, trained unsupervised
 *   (reconstruct every modality from inputs with all but one modality zeroed for
 *   single_fraction of the samples); with labels, a linear classifier on the
 *   shared code becomes the output layer. The code is the fused embedding. */
typedef struct mmf_direct_params {
    const char *model;        /* "bimodal-ae" (default) */
    int hidden;               /* per-modality layer and code size, default 128 */
    int epochs;               /* default 40 */
    int batch;                /* default 64 */
    float lr;                 /* AdamW, cosine with 5% warmup; default 2e-3 */
    float weight_decay;       /* default 1e-4 */
    float single_fraction;    /* samples fed one modality only, default 2/3 (Ngiam: 1/3 each modality) */
    int probe_epochs;         /* linear classifier on the code, default 100 (0 = none) */
    uint64_t seed;            /* default 1 */
    int n_threads;            /* default 1 */
    /* after every epoch (phase 0: autoencoder, loss = reconstruction MSE; phase 1:
     * classifier, loss = cross-entropy); val_accuracy < 0 when not measured */
    void (*progress)(void *user, int phase, int epoch, int epochs, double loss, double val_accuracy);
    void *progress_user;
    float dropout;            /* xmodal: dropout on the fused embedding, default 0.1 */
    /* Data parallel (as mmf_tower_params.comm): `mpirun -np N mmfuse train-direct` */
    const mmf_comm *comm;
    /* checkpoints and restart (path NULL: none); the classifier phase uses path + ".probe" */
    mmf_checkpoint_params checkpoint;
} mmf_direct_params;

mmf_direct_params mmf_direct_params_default(void);
/* train may lack labels (then no output layer is fitted: the head's outputs are
 * meaningless, its embeddings are not). val may be NULL. */
mmf_status mmf_direct_train(const mmf_embfile *train, const mmf_embfile *val, const mmf_direct_params *p, mmf_head **out);

/* Raw features of JSONL records as an embedding file with modalities "image"
 * (the picture resized to image_side^2, RGB / 255, channels first) and "text"
 * (binary bag of words), labels from label_field, ids = line order. The folder
 * `dir` holds vocab.txt (words, most frequent first) and classes.txt (sorted
 * labels): learned from `records` when absent, reused when present, so the
 * training split must be featurised first. */
typedef struct mmf_featurize_params {
    int image_side;           /* default 16 */
    int max_words;            /* default 2000 */
    int min_count;            /* default 1 */
    const char *label_field;  /* default "label" */
} mmf_featurize_params;
/* An "xmodal" head's attention maps over data (raw --records features): writes
 * "attention" F32 [N, 16 word slots, 16 patches (4 x 4, row-major)] (the last
 * layer's word -> patch attention, mean over heads), "words" I32 [N, 16] (the
 * vocabulary line of each word token, -1 = empty slot) and "ids". */
mmf_status mmf_xmodal_attention(mmf_head *h, const mmf_embfile *data, const char *out_path);
mmf_featurize_params mmf_featurize_params_default(void);
mmf_status mmf_records_features(const char *records, const char *dir, const mmf_featurize_params *p, const char *out);

/* Attention overlays (`mmfuse attention --overlay`, docs/direct.md).
 * Write an 8-bit RGB PNG through a temp file + fsync + rename: a failure leaves
 * the old file (or none), never half a PNG. */
mmf_status mmf_image_save_png(const mmf_image *img, const char *path);

typedef struct mmf_overlay_params {
    int size;                 /* panel side in pixels, default 128 (16..1024) */
    int caption;              /* caption row under the panels, default 1 */
    int rows;                 /* mmf_xmodal_overlay: the first `rows` rows, default 8 */
} mmf_overlay_params;
mmf_overlay_params mmf_overlay_params_default(void);
/* One strip, left to right: the picture resized to size x size (stretched to a
 * square, as the model sees it), then one panel per word: the same picture with
 * that word's grid x grid attention (maps[w * grid * grid + gy * grid + gx],
 * row-major, patch (gy, gx) = the gy-th row and gx-th column of equal squares)
 * drawn as a heat map: each patch blended towards red (240, 20, 20) with weight
 * 0.75 * (a - min) / (max - min) over the panel's values (a flat map draws no
 * red), and the patch boundaries as thin light lines. Panels are `gap` =
 * max(2, size / 32) pixels apart; with captions a row of 12 * s pixels (s = 2
 * when size >= 128, else 1) holds `title` under the first panel and under each
 * other "word NN%" (NN = the word's largest attention share; uniform over 16
 * patches is 6%), in the built-in font (lowercase, digits; other characters as
 * '?'; long words shortened). Output: width (n_words + 1) * size + n_words * gap,
 * height size (+ the caption row). */
mmf_status mmf_attention_strip(const mmf_image *img, int grid, const float *maps, const char *const *words, int n_words,
                               const char *title, const mmf_overlay_params *p, mmf_image *out);
/* Strips for the first p->rows rows of a mmf_xmodal_attention file: row r's
 * id (its "ids" entry, else r) is the 0-based line of `records` (the JSONL that
 * was featurised into the data: train-direct --records numbers rows so; blank
 * lines skipped), whose "image" (relative to the records file) is drawn; word
 * slots are lines of `vocab` (the vocab.txt beside the head). Writes
 * out_dir/<id>.png (out_dir created). Every row's id, record, image and words
 * are checked before the first PNG is written; errors name the file and the id. */
mmf_status mmf_xmodal_overlay(const char *maps_path, const char *records, const char *vocab, const char *out_dir,
                              const mmf_overlay_params *p, int *n_written);

/* ------------------------------------------------------------ index, tasks */

/* ---------------------------------------------- vector index (src/index, docs/index.md) */

/* Similarity used by an index, k-means or retrieval evaluation.
 * COSINE: vectors are L2-normalised on the way in; score = cosine similarity.
 * DOT:    score = inner product.    L2: score = squared Euclidean distance.
 * Results are always ordered best first (highest similarity, lowest distance). */
typedef enum mmf_metric { MMF_METRIC_COSINE = 0, MMF_METRIC_DOT, MMF_METRIC_L2 } mmf_metric;
typedef enum mmf_index_kind { MMF_INDEX_HNSW = 0, MMF_INDEX_FLAT } mmf_index_kind;
/* INT8: per-vector symmetric int8 codes steer the HNSW walk (4x less memory
 * traffic); the candidates are re-ranked with the exact float vectors. */
typedef enum mmf_index_quant { MMF_QUANT_NONE = 0, MMF_QUANT_INT8 } mmf_index_quant;

const char *mmf_metric_name(mmf_metric m);               /* "cosine", "dot", "l2" */
mmf_status mmf_metric_parse(const char *s, mmf_metric *out);

typedef struct mmf_index_params {
    mmf_index_kind kind;    /* HNSW */
    mmf_metric metric;      /* COSINE */
    mmf_index_quant quant;  /* NONE */
    int M;                  /* 16: links per node above level 0 (2*M on level 0) */
    int ef_construction;    /* 200 */
    int ef_search;          /* 64: default search breadth, stored in the file */
    uint64_t seed;          /* 42: level draws are a function of seed and slot */
    int n_threads;          /* 1: threads used by mmf_index_add */
} mmf_index_params;
mmf_index_params mmf_index_params_default(void);

typedef struct mmf_search_params {
    int ef;                 /* 0: the index's ef_search; raised to k when smaller */
    int exact;              /* 1: brute force with BLAS even on an HNSW index */
    int n_threads;          /* 1 */
} mmf_search_params;
mmf_search_params mmf_search_params_default(void);

typedef struct mmf_index mmf_index;

mmf_status mmf_index_new(int dim, const mmf_index_params *p, mmf_index **out);
/* Add n vectors (n, dim). ids: n caller ids, or NULL for 0, 1, 2, ... after the
 * largest id so far. An id already live in the index is an error (nothing added). */
mmf_status mmf_index_add(mmf_index *ix, size_t n, const float *vecs, const int64_t *ids);
/* Mark an id deleted: it is never returned again but still routes the graph
 * walk. MMF_ERR_NOT_FOUND if the id is not live. */
mmf_status mmf_index_delete(mmf_index *ix, int64_t id);
/* Drop the tombstones: rebuild the index over its live items (same parameters,
 * ids, names, payloads and provenance, graph rebuilt in slot order), as a new
 * index built from them would be. Costs an index build and twice the memory
 * while it runs; on failure the index is unchanged. Not concurrent with search. */
mmf_status mmf_index_compact(mmf_index *ix);
/* k best live vectors for each of nq queries (nq, dim): ids (nq, k), scores
 * (nq, k) or NULL. Slots beyond the live count get id -1 and score NaN.
 * Safe to call from several threads at once, not concurrently with add/delete. */
mmf_status mmf_index_search(const mmf_index *ix, size_t nq, const float *queries, int k,
                            const mmf_search_params *sp, int64_t *ids, float *scores);
/* Versioned, checksummed file, written atomically (the old file survives any failure). */
mmf_status mmf_index_save(const mmf_index *ix, const char *path);
/* Maps the file read-only and validates every field, offset, link and checksum.
 * A later add/delete copies the mapped arrays into memory first. */
mmf_status mmf_index_open(const char *path, mmf_index **out);
void mmf_index_free(mmf_index *ix);

typedef struct mmf_index_info {
    int dim;
    mmf_index_kind kind;
    mmf_metric metric;
    mmf_index_quant quant;
    int M, ef_construction, ef_search;
    size_t count;           /* live vectors */
    size_t deleted;         /* tombstones */
    int max_level;          /* HNSW top level (-1 when empty) */
    size_t bytes;           /* memory held (or mapped) by the index */
} mmf_index_info;
void mmf_index_get_info(const mmf_index *ix, mmf_index_info *out);
/* Change the default search breadth (kept in memory; saved by mmf_index_save). */
void mmf_index_set_ef(mmf_index *ix, int ef_search);
/* Threads used by later mmf_index_add calls (an opened index starts at 1). */
void mmf_index_set_threads(mmf_index *ix, int n_threads);

/* Named items and provenance (index file format 2, docs/index.md). Each item
 * may carry a name (the record's string id, e.g. an emoji hexcode) and a JSON
 * payload (e.g. {"name": "grinning cat", "image": "..."}); the index records
 * which model and tensor its vectors came from, so a query embedded elsewhere
 * is refused instead of answered with nonsense. All strings are copied. */
/* mmf_index_add plus per-item names and payloads: names/payloads NULL or [n]
 * entries, each NULL (none) or a non-empty UTF-8 string; a payload must be one
 * JSON value. Checked before anything is added. */
mmf_status mmf_index_add_named(mmf_index *ix, size_t n, const float *vecs, const int64_t *ids,
                               const char *const *names, const char *const *payloads);
/* Set or replace (NULL: clear) the name and payload of a live id. */
mmf_status mmf_index_set_item(mmf_index *ix, int64_t id, const char *name, const char *payload);
/* The live id's name / payload, NULL when it has none or is not live. Valid
 * until the next add, delete, set or free. */
const char *mmf_index_item_name(const mmf_index *ix, int64_t id);
const char *mmf_index_item_payload(const mmf_index *ix, int64_t id);
/* The live id whose name is `name` (first by slot; O(n)); MMF_ERR_NOT_FOUND. */
mmf_status mmf_index_find_name(const mmf_index *ix, const char *name, int64_t *id);
/* The model the vectors were embedded with (an id such as mmf_model_id gives)
 * and the tensor / modality they came from; NULL = unknown. */
mmf_status mmf_index_set_source(mmf_index *ix, const char *model_id, const char *tensor);
void mmf_index_get_source(const mmf_index *ix, const char **model_id, const char **tensor);
/* MMF_ERR_ARG with a message naming both sides when a query of dimension dim
 * embedded by model_id (NULL = unknown: only the dimension is checked) cannot
 * be compared with the index's vectors. */
mmf_status mmf_index_check_query(const mmf_index *ix, const char *model_id, int dim);

/* A short content fingerprint of a model folder (or a single weights file):
 * "<model_type>-<16 hex digits>" from config.json and the weights (their
 * safetensors headers, sizes and 64 bytes of every 64 KiB), so two copies of one
 * model agree and two trainings of one architecture do not. out: >= 96 bytes. */
#define MMF_MODEL_ID_MAX 96
mmf_status mmf_model_id(const char *path, char *out, size_t cap);

/* ------------------------------- clustering, retrieval metrics (src/tasks) */


typedef struct mmf_kmeans_params {
    int k;                  /* required */
    int max_iter;           /* 0: 50 Lloyd iterations, or 100 batches in mini-batch mode */
    double tol;             /* 1e-4: stop when inertia improves by less (relative) or no
                               point changes cluster; < 0: always run max_iter (Lloyd) */
    int mini_batch;         /* 0: full Lloyd; > 0: mini-batch k-means with this batch size */
    int init_plus_plus;     /* 1: greedy k-means++ seeding (2 + ln k trials per seed, as
                               scikit-learn) over a uniform sample of at most 40*k
                               points; 0: k distinct random points */
    uint64_t seed;          /* 42 */
    int n_threads;          /* 1 */
} mmf_kmeans_params;
mmf_kmeans_params mmf_kmeans_params_default(void);

typedef struct mmf_kmeans_result {
    float *centroids;       /* (k, dim), malloc'd */
    int32_t *assign;        /* (n), malloc'd */
    double inertia;         /* sum of squared distances to the assigned centroid */
    int iterations;
} mmf_kmeans_result;
/* Squared-Euclidean k-means over x (n, dim). Errors: k < 1, k > n, NaN input. */
mmf_status mmf_kmeans(const float *x, size_t n, int dim, const mmf_kmeans_params *p,
                      mmf_kmeans_result *out);
void mmf_kmeans_result_free(mmf_kmeans_result *r);
/* The same over rows split between the ranks of comm: this rank holds rows
 * [row0, row0 + n_local) of n, every rank calls it with the same n, dim and p.
 * Seeding draws from the global rows; the result (centroids, inertia, on every
 * rank; assign: this rank's n_local rows) is one process's up to the order of
 * floating-point sums. comm NULL or of size 1: mmf_kmeans. */
mmf_status mmf_kmeans_sharded(const float *x, size_t n_local, size_t row0, size_t n, int dim, const mmf_kmeans_params *p,
                              const mmf_comm *comm, mmf_kmeans_result *out);

/* Agreement of a clustering `pred` with reference `truth` (n labels each, any
 * non-negative or negative integers). NMI uses the arithmetic mean of the two
 * entropies (scikit-learn's default); ARI is Hubert & Arabie's; purity is the
 * share of points in their cluster's majority class. */
typedef struct mmf_cluster_scores { double nmi, ari, purity; } mmf_cluster_scores;
mmf_status mmf_cluster_scores_compute(const int64_t *truth, const int64_t *pred, size_t n,
                                      mmf_cluster_scores *out);

/* Cross-modal retrieval: each query (nq, dim) ranks the whole gallery (ng, dim)
 * by `metric`; gallery items sharing the query's pair id are the relevant ones.
 * R@K = share of queries with a relevant item in the top K; mAP = mean average
 * precision over all relevant items. Queries with no relevant item are skipped
 * (n_queries counts the ones used). */
typedef struct mmf_retrieval_scores {
    double r1, r5, r10, map;
    size_t n_queries;
} mmf_retrieval_scores;
mmf_status mmf_retrieval_eval(const float *queries, const int64_t *query_ids, size_t nq,
                              const float *gallery, const int64_t *gallery_ids, size_t ng,
                              int dim, mmf_metric metric, int n_threads,
                              mmf_retrieval_scores *out);

/* ------------------------------------ captioning, VQA (src/tasks, docs/caption.md) */
/* docs/caption.md. Caption words: ASCII letters lower-cased; a word is a run of
 * ASCII letters, digits, apostrophes and non-ASCII bytes; anything else separates. */

/* Vocabulary built from training captions: 0 <unk>, 1 <bos>, 2 <eos>, then the
 * words seen at least min_count times, most frequent first (ties by bytes),
 * at most max_words of them (0 = no cap). */
typedef struct mmf_caption_vocab mmf_caption_vocab;
mmf_status mmf_caption_vocab_build(const char *const *captions, size_t n, int min_count, int max_words,
                                   mmf_caption_vocab **out);
void mmf_caption_vocab_free(mmf_caption_vocab *v);
int32_t mmf_caption_vocab_size(const mmf_caption_vocab *v);
const char *mmf_caption_vocab_word(const mmf_caption_vocab *v, int32_t id);   /* NULL if out of range */
int32_t mmf_caption_vocab_id(const mmf_caption_vocab *v, const char *word);    /* -1 if absent */

/* Corpus scores of n candidate captions against their references:
 * refs[ref_off[i] .. ref_off[i+1]) belong to candidate i (ref_off has n+1 entries,
 * ref_off[0] = 0; every candidate needs >= 1 reference). */
typedef struct mmf_caption_scores {
    double bleu[4];          /* corpus BLEU-1..4 in [0,1] (Papineni et al. 2002; no smoothing) */
    double brevity_penalty;  /* exp(1 - r/c) when c < r, else 1 */
    double cider_d;          /* CIDEr-D as coco-caption reports "CIDEr" (x10) */
    double cider;            /* CIDEr of Vedantam et al. (mean cosine of tf-idf vectors, n = 1..4) */
    int64_t n;
} mmf_caption_scores;
mmf_status mmf_caption_score(const char *const *hyps, size_t n, const char *const *refs, const size_t *ref_off,
                             mmf_caption_scores *out);

/* Caption decoders (docs/caption.md): the modality embeddings of a sample go
 * through a fusion operator from the zoo (docs/fusion.md; with one modality the
 * embedding itself) to z; a GRU or LSTM conditioned on z writes the caption. */
typedef struct mmf_captioner mmf_captioner;
typedef enum mmf_rnn_cell { MMF_CELL_GRU = 0, MMF_CELL_LSTM = 1 } mmf_rnn_cell;
#define MMF_INJECT_INIT 1    /* h0 (and LSTM c0) = tanh(W z + b) */
#define MMF_INJECT_INPUT 2   /* every step's input is [word embedding; W' z + b'] */

typedef struct mmf_caption_train_params {
    const char *fusion;         /* operator from the zoo, default "concat" (ignored with one modality) */
    int fusion_hidden;          /* its common size H, default 128 (other operator settings: mmf_train_params_default) */
    mmf_rnn_cell cell;          /* default GRU */
    int inject;                 /* MMF_INJECT_* bits, default both */
    int hidden;                 /* decoder state size, default 256 */
    int embed;                  /* word embedding size, default 128 */
    int min_count;              /* vocabulary: words seen fewer times become <unk> (default 1) */
    int max_words;              /* vocabulary cap, 0 = none (default) */
    int max_len;                /* words per caption kept for training and generated at most (default 20) */
    int epochs;                 /* default 20 */
    int batch;                  /* captions per step, default 64 */
    float lr;                   /* AdamW, cosine schedule with 5% warm-up; default 2e-3 */
    float weight_decay;         /* default 0 */
    float clip_norm;            /* global gradient norm clip, default 5; 0 = off */
    float dropout;              /* on z, word embeddings and states (training only), default 0.1 */
    float modality_dropout[MMF_EMB_MAX_MODALITIES]; /* per modality of the train file (keeps >= 1) */
    int patience;               /* early stopping on the validation loss, default 5 */
    uint64_t seed;              /* default 1 */
    int n_threads;              /* default 1 */
    /* called after every epoch (val_loss NaN without validation data); may be NULL */
    void (*progress)(void *user, int epoch, int epochs, double train_loss, double val_loss);
    void *progress_user;
    /* checkpoints and restart (path NULL: none) */
    mmf_checkpoint_params checkpoint;
} mmf_caption_train_params;
mmf_caption_train_params mmf_caption_train_params_default(void);

/* Captions of row i of `train` are caps[cap_off[i] .. cap_off[i+1]) (cap_off has
 * N+1 entries; rows without captions are skipped). The vocabulary comes from these
 * captions. val (may be NULL) selects the epoch with the lowest teacher-forced loss. */
mmf_status mmf_captioner_train(const mmf_embfile *train, const char *const *caps, const size_t *cap_off,
                               const mmf_embfile *val, const char *const *val_caps, const size_t *val_off,
                               const mmf_caption_train_params *p, mmf_captioner **out);
/* safetensors: parameters + __metadata__ "mmfuse.caption" (JSON config with the vocabulary); atomic. */
mmf_status mmf_captioner_save(const mmf_captioner *c, const char *path);
mmf_status mmf_captioner_load(const char *path, mmf_captioner **out);
void mmf_captioner_free(mmf_captioner *c);
int mmf_captioner_n_modalities(const mmf_captioner *c);
const char *mmf_captioner_modality(const mmf_captioner *c, int m);
int64_t mmf_captioner_dim(const mmf_captioner *c, int m);
/* Encoder folder recorded for a modality ("" if none); set before saving. */
const char *mmf_captioner_encoder(const mmf_captioner *c, int m);
mmf_status mmf_captioner_set_encoder(mmf_captioner *c, const char *modality, const char *dir);
const mmf_caption_vocab *mmf_captioner_vocab(const mmf_captioner *c);
const char *mmf_captioner_describe(const mmf_captioner *c, char *buf, size_t cap);   /* JSON */

typedef struct mmf_caption_gen_params {
    int beam;                   /* beam width 1..32; 1 = greedy (default) */
    float length_penalty;       /* GNMT alpha: score / ((5 + len) / 6)^alpha; default 0 */
    float repetition_penalty;   /* >= 0: each earlier occurrence of a word in the caption (prefix
                                 * included) lowers its log-probability by this much; default 0 */
    int max_len;                /* 0 = the model's max_len */
    const char *prefix;         /* words every caption starts with, or NULL; unknown words become
                                 * <unk> with a notice through the log */
    const char *drop;           /* generate_file: a modality forced absent, or NULL */
    int n_threads;              /* default 1 */
} mmf_caption_gen_params;
mmf_caption_gen_params mmf_caption_gen_params_default(void);

/* B samples: xs[m] [B, dim_m] for the captioner's modalities (NULL = absent in
 * every row), mask [B, M] (NULL = present where xs[m] is given). captions[b] is
 * malloc'd (free each). Errors on a modality of the wrong size are the caller's
 * to avoid: dims are the captioner's. */
mmf_status mmf_captioner_generate(mmf_captioner *c, int64_t B, const float *const *xs, const uint8_t *mask,
                                  const mmf_caption_gen_params *g, char **captions);
/* Every row of an embedding file; modalities matched by name (missing = absent;
 * another dimension = MMF_ERR_SHAPE naming file, modality and both sizes). */
mmf_status mmf_captioner_generate_file(mmf_captioner *c, const mmf_embfile *f, const mmf_caption_gen_params *g,
                                       char **captions);
/* Teacher-forced mean cross-entropy per word over the captions of f (as for training). */
mmf_status mmf_captioner_loss(mmf_captioner *c, const mmf_embfile *f, const char *const *caps, const size_t *cap_off,
                              int n_threads, double *loss);

/* Visual question answering (docs/caption.md): a fusion head (classify) over
 * (image, question) embeddings with a softmax over the top-K training answers.
 * Answers are normalised to caption words joined by one space ("Two." -> "two"). */
typedef struct mmf_vqa mmf_vqa;
typedef struct mmf_vqa_train_params {
    int top_k;                  /* answers kept (most frequent; ties by bytes), default 1000 */
    /* operator, sizes, optimiser, precision, phase_seconds, progress (after
     * every epoch): mmf_train_params_default with fusion "mlb" */
    mmf_train_params fusion;
} mmf_vqa_train_params;
mmf_vqa_train_params mmf_vqa_train_params_default(void);
/* answers[i] is row i's answer (NULL or "" = none). Rows whose answer is not among the K are left out
 * of training (and count as wrong in accuracy). val (may be NULL) picks the epoch
 * with the best accuracy (early stopping with the fusion patience). */
mmf_status mmf_vqa_train(const mmf_embfile *train, const char *const *answers, const mmf_embfile *val,
                         const char *const *val_answers, const mmf_vqa_train_params *p, mmf_vqa **out);
/* Exact-match accuracy of the top answer over the rows with an answer (answers[i]
 * NULL = none); drop: a modality forced absent or NULL. */
mmf_status mmf_vqa_eval(mmf_vqa *v, const mmf_embfile *f, const char *const *answers, const char *drop,
                            int n_threads, double *acc);
/* xs[m] [B, dim_m] or NULL (absent); answer[b] in [0, K), prob[b] its softmax probability (may be NULL). */
mmf_status mmf_vqa_predict(mmf_vqa *v, int64_t B, const float *const *xs, const uint8_t *mask, int n_threads,
                           int32_t *answer, float *prob);
/* The fusion head file plus __metadata__ "mmfuse.vqa" (answers, encoders, bag of words); atomic. */
mmf_status mmf_vqa_save(const mmf_vqa *v, const char *path);
mmf_status mmf_vqa_load(const char *path, mmf_vqa **out);
void mmf_vqa_free(mmf_vqa *v);
int mmf_vqa_n_answers(const mmf_vqa *v);
const char *mmf_vqa_answer(const mmf_vqa *v, int k);
int mmf_vqa_n_modalities(const mmf_vqa *v);
const char *mmf_vqa_modality(const mmf_vqa *v, int m);
int64_t mmf_vqa_dim(const mmf_vqa *v, int m);
const char *mmf_vqa_encoder(const mmf_vqa *v, int m);            /* folder, "bow", or "" */
mmf_status mmf_vqa_set_encoder(mmf_vqa *v, const char *modality, const char *dir);
/* A bag-of-words question featuriser: vocabulary from mmf_caption_vocab_build over
 * the training questions; the vector (size = vocabulary size) counts each word
 * (unknown words in the <unk> slot, counted in *n_unknown) and is L2-normalised. */
mmf_status mmf_bow_encode(const mmf_caption_vocab *v, const char *text, float *out, int *n_unknown);
mmf_status mmf_vqa_set_bow(mmf_vqa *v, const char *modality, const mmf_caption_vocab *bow);
const mmf_caption_vocab *mmf_vqa_bow(const mmf_vqa *v, int m);   /* NULL unless modality m is a bag of words */

#ifdef __cplusplus
}
#endif
#endif /* MMFUSE_H */
