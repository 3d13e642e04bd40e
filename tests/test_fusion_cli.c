/* The fusion subcommands end to end through the CLI binary ($MMFUSE_CLI):
 * train -> eval (robustness table, --json) -> fuse, --help texts, and failures
 * that must exit 1 with a message and leave an existing head file untouched. */
#include "synth.h"
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char dir[256];
static const char *cli;

static int sh(const char *fmt, ...) {
    char cmd[4096], full[4700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "%s > %s/out.txt 2> %s/err.txt", cmd, dir, dir);
    int rc = system(full);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}
static char *slurp(const char *name) {
    static char buf[65536];
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = 0;
    if (f) fclose(f);
    return buf;
}

int main(void) {
    cli = getenv("MMFUSE_CLI");
    if (!cli) return t_skip("MMFUSE_CLI not set");
    t_tmpdir(dir, sizeof dir);
    char p[600];
    snprintf(p, sizeof p, "%s/tr.safetensors", dir); synth_write(p, SYN_XOR, 400, 4, 1, 0.9f, -1);
    snprintf(p, sizeof p, "%s/va.safetensors", dir); synth_write(p, SYN_XOR, 100, 4, 2, 0.9f, -1);
    snprintf(p, sizeof p, "%s/wide.safetensors", dir); synth_write(p, SYN_XOR, 10, 5, 2, 1.0f, -1);

    CHECK(sh("%s fusions", cli) == 0 && strstr(slurp("out.txt"), "compact_bilinear"));
    CHECK(sh("%s fusions --json", cli) == 0 && strstr(slurp("out.txt"), "\"name\": \"tfn\""));
    for (int k = 0; k < 4; k++) {
        static const char *cmds[] = {"train", "eval", "fuse", "fusions"};
        CHECK(sh("%s %s --help", cli, cmds[k]) == 0 && strstr(slurp("out.txt"), "Example"));
    }
    CHECK(sh("%s train --train %s/tr.safetensors --val %s/va.safetensors --fusion mlb --hidden 16 --epochs 25 "
             "--lr 0.01 --modality-dropout text=0.1,image=0.2 --out %s/h.safetensors", cli, dir, dir, dir) == 0);
    CHECK(strstr(slurp("out.txt"), "epoch   1") && strstr(slurp("out.txt"), "wrote"));
    CHECK(sh("%s eval %s/h.safetensors --data %s/va.safetensors", cli, dir, dir) == 0);
    char *o = slurp("out.txt");
    CHECK(strstr(o, "without text") && strstr(o, "without image") && strstr(o, "drop rate 0.50") && strstr(o, "noise sigma 1.00"));
    double acc = 0;
    char *asg = strstr(o, "as given");
    if (asg) sscanf(asg + 8, "%*d %*f %lf", &acc);
    printf("cli: mlb val accuracy %.3f\n%s", acc, o);
    CHECK(acc > 0.8);
    CHECK(sh("%s eval %s/h.safetensors --data %s/va.safetensors --json --drop image", cli, dir, dir) == 0);
    CHECK(strstr(slurp("out.txt"), "\"setting\": \"without image\""));
    CHECK(sh("%s fuse %s/h.safetensors --data %s/va.safetensors --out %s/f.safetensors", cli, dir, dir, dir) == 0);
    snprintf(p, sizeof p, "%s/f.safetensors", dir);
    mmf_embfile *f = NULL;
    CHECK_OK(mmf_embfile_open(p, &f));
    if (f) { CHECK(mmf_embfile_rows(f) == 100 && mmf_embfile_dim(f, 0) == 16); mmf_embfile_close(f); }

    /* failures: exit 1, a message naming the problem, the old head untouched */
    struct stat st0, st1;
    snprintf(p, sizeof p, "%s/h.safetensors", dir);
    stat(p, &st0);
    CHECK(sh("%s train --train %s/tr.safetensors --fusion mlp --lr 1e30 --clip 0 --epochs 3 --out %s/h.safetensors", cli, dir, dir) == 1);
    CHECK(strstr(slurp("err.txt"), "no head written") && strstr(slurp("err.txt"), "step"));
    stat(p, &st1);
    CHECK(st0.st_size == st1.st_size && st0.st_mtime == st1.st_mtime);
    CHECK(sh("%s eval %s/h.safetensors --data %s/wide.safetensors", cli, dir, dir) == 1);
    CHECK(strstr(slurp("err.txt"), "dimension 5"));
    CHECK(sh("%s eval %s/tr.safetensors --data %s/va.safetensors", cli, dir, dir) == 1);
    CHECK(strstr(slurp("err.txt"), "not a fusion head"));
    CHECK(sh("%s train --train %s/tr.safetensors --fusion nope --out %s/x", cli, dir, dir) == 2);
    CHECK(sh("%s train --train %s/missing.safetensors --out %s/x", cli, dir, dir) == 1);
    CHECK(sh("%s train --train %s/tr.safetensors --modality-dropout audio=0.2 --out %s/x", cli, dir, dir) == 2);
    CHECK(strstr(slurp("err.txt"), "audio"));
    /* --precision: bf16 trains where the CPU has AVX512-BF16 and is refused with a clear message elsewhere */
    CHECK(sh("%s train --train %s/tr.safetensors --fusion mlp --precision fp16 --out %s/x", cli, dir, dir) == 2);
    CHECK(strstr(slurp("err.txt"), "fp32 or bf16"));
    int rb = sh("%s train --train %s/tr.safetensors --fusion mlp --hidden 16 --epochs 3 --precision bf16 --out %s/hb.safetensors",
                cli, dir, dir);
    CHECK(rb == 0 || (rb == 1 && strstr(slurp("err.txt"), "AVX512-BF16")));
    /* --profile: the time per step split into its phases, which add up to the total */
    CHECK(sh("%s train --train %s/tr.safetensors --fusion gmu --hidden 16 --epochs 2 --profile --quiet --out %s/hp.safetensors",
             cli, dir, dir) == 0);
    double pg = -1, pf = -1, pb = -1, po = -1, pt = -1, steps = 0;
    char *pl = strstr(slurp("err.txt"), "profile: ");
    CHECK(pl && sscanf(pl, "profile: %lf steps, ms per step: gather %lf, forward %lf, backward %lf, optimiser %lf (total %lf)",
                       &steps, &pg, &pf, &pb, &po, &pt) == 6);
    CHECK(steps > 0 && pg >= 0 && pf > 0 && pb > 0 && po > 0 && fabs(pg + pf + pb + po - pt) < 0.01 + 1e-3 * pt);
    synth_cleanup(dir);
    return t_done("test_fusion_cli");
}
