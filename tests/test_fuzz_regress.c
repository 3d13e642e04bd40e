/* Replays the fuzzing regression corpus (tests/data/fuzz_regress/: every
 * input that once crashed a harness) and the seed corpora through every fuzz
 * target, in the normal and the ASan test runs (fuzz_tokenize too, from the
 * source root; fuzz_image and fuzz_serve_api replay in make fuzz only). A
 * broken promise traps. */
#define MMF_FUZZ_NO_MAIN
#include "../fuzz/fuzz_safetensors.c"
#include "../fuzz/fuzz_config.c"
#include "../fuzz/fuzz_index.c"
#include "../fuzz/fuzz_index_file.c"
#include "../fuzz/fuzz_tokenize.c"
#include "test_util.h"
#include "io/json.h"
#include <dirent.h>
#include <sys/stat.h>

static int replay_dir(const char *rel, int required) {
    char dir[600];
    t_src_path(rel, dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d) { CHECK_MSG(!required, "cannot open %s", dir); return 0; }
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "EXPECTED.tsv") == 0) continue;
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
        char *buf;
        size_t len;
        CHECK_OK(mmf_read_file(path, 1 << 26, &buf, &len));
        if (!buf) continue;
        /* an exact-size copy, so ASan sees a read one byte past the input */
        uint8_t *exact = malloc(len ? len : 1);
        if (len) memcpy(exact, buf, len);
        free(buf);
        fprintf(stderr, "replay %s\n", path);
        mmf_fuzz_safetensors(exact, len);
        mmf_fuzz_config(exact, len);
        mmf_fuzz_index(exact, len);
        mmf_fuzz_index_file(exact, len);
        mmf_fuzz_tokenize(exact, len);
        free(exact);
        n++;
    }
    closedir(d);
    return n;
}

int main(void) {
    mmf_log_set_level(MMF_LOG_ERROR);
    char root[1024];
    /* fuzz_tokenize loads its tokenizers from the source root, as make fuzz runs it */
    CHECK(chdir(t_src_path("", root, sizeof root)) == 0);
    int n = replay_dir("tests/data/fuzz_regress", 1);
    CHECK_MSG(n >= 1, "the regression corpus is empty");
    int seeds = replay_dir("tests/data/fuzz/fuzz_safetensors", 1) + replay_dir("tests/data/fuzz/fuzz_config", 1) +
                replay_dir("tests/data/fuzz/fuzz_index", 1) + replay_dir("tests/data/fuzz/fuzz_index_file", 1) +
                replay_dir("tests/data/safetensors_bad", 1) + replay_dir("tests/data/fuzz/fuzz_tokenize", 1);
    printf("replayed %d regression inputs and %d seeds through every harness\n", n, seeds);
    return t_done("test_fuzz_regress");
}
