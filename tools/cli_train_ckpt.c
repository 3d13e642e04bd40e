/* --checkpoint / --checkpoint-every / --resume for every training command
 * (cli_train_opts.h): the setup a resume must match, and the resume line. */
#include "cli_train_opts.h"
#include "cli.h"
#include "cli_dist.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* options that leave the trained weights as they are */
static const char *const neutral[] = {"--checkpoint", "--checkpoint-every", "--resume", "--threads", "--out", "--quiet", "--profile", NULL};

static int listed(const char *const *names, const char *s) {
    for (int i = 0; names && names[i]; i++)
        if (!strcmp(names[i], s)) return 1;
    return 0;
}

/* "N bytes, hash H" of a file's contents (an unreadable file says so: the command fails on it later) */
static void file_id(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        snprintf(buf, cap, "unreadable (%s)", strerror(errno));
        if (fd >= 0) close(fd);
        return;
    }
    if (!S_ISREG(sb.st_mode)) { snprintf(buf, cap, "not a file"); close(fd); return; }
    size_t n = (size_t)sb.st_size;
    void *m = n ? mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    close(fd);
    if (n && m == MAP_FAILED) { snprintf(buf, cap, "unreadable (%s)", strerror(errno)); return; }
    snprintf(buf, cap, "%zu bytes, hash %016llx", n, (unsigned long long)mmf_hash64(m, n, 0));
    if (n) munmap(m, n);
}

/* On rank 0 (the writer): the resume line, and the test hook that stands for a
 * node failing right after a write (MMFUSE_TEST_KILL_AFTER_CHECKPOINT=N: SIGKILL
 * after the N-th checkpoint written). */
static void notice(void *user, int resumed, const char *path, int epoch, int64_t step, int finished) {
    cli_train_opts *o = user;
    if (resumed) {
        if (finished) fprintf(stderr, "%s: resumed from %s: training had finished (epoch %d)\n", o->cmd, path, epoch);
        else fprintf(stderr, "%s: resumed from %s at epoch %d step %lld\n", o->cmd, path, epoch, (long long)step);
        return;
    }
    const char *k = getenv("MMFUSE_TEST_KILL_AFTER_CHECKPOINT");
    if (k && ++o->written == atoi(k)) raise(SIGKILL);
}

int cli_train_checkpoint(cli_train_opts *o, int argc, char **argv, const char *const *files, mmf_checkpoint_params *cp) {
    memset(cp, 0, sizeof *cp);
    if (!o->checkpoint) {
        if (o->resume) return cli_usage(o->cmd, "--resume needs --checkpoint FILE (the checkpoint to continue from)");
        if (o->checkpoint_every) return cli_usage(o->cmd, "--checkpoint-every needs --checkpoint FILE");
        return 0;
    }
    /* one line per option; a repeated one (--encoder m=DIR ...) lists its values in order */
    size_t n = 0;
    o->setup[0] = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (strncmp(a, "--", 2)) continue;   /* a value, taken with its option */
        if (i + 1 < argc && strncmp(argv[i + 1], "--", 2)) v = argv[++i];
        if (v && (!strcmp(a, "--out") || listed(files, a)) && !strcmp(v, o->checkpoint))
            return cli_usage(o->cmd, "--checkpoint %s is also %s: give the checkpoint a file of its own", v, a);
        if (listed(neutral, a)) continue;
        int first = 1;
        for (int j = 1; j < i - (v != NULL) && first; j++) first = strcmp(argv[j], a) != 0;
        if (!first) continue;   /* its line is written */
        int isfile = listed(files, a);
        int k = snprintf(o->setup + n, sizeof o->setup - n, "%s %s=", isfile ? "file" : "option", a);
        for (int j = i - (v != NULL), m = 0; k >= 0 && (size_t)k < sizeof o->setup - n && j < argc; j++) {
            if (strcmp(argv[j], a)) continue;
            const char *w = j + 1 < argc && strncmp(argv[j + 1], "--", 2) ? argv[j + 1] : "(set)";
            char id[128];
            if (isfile && strcmp(w, "(set)")) file_id(w, id, sizeof id), w = id;
            if (strchr(w, '\n')) return cli_usage(o->cmd, "--checkpoint: option %s has a line break in its value", a);
            n += (size_t)k;
            k = snprintf(o->setup + n, sizeof o->setup - n, "%s%s", m++ ? " | " : "", w);
        }
        if (k >= 0 && (size_t)k < sizeof o->setup - n) n += (size_t)k, k = snprintf(o->setup + n, sizeof o->setup - n, "\n");
        if (k < 0 || (size_t)k >= sizeof o->setup - n) return cli_usage(o->cmd, "--checkpoint: the options are too long to fingerprint (%s)", a);
        n += (size_t)k;
    }
    cp->path = o->checkpoint;
    cp->every = o->checkpoint_every;
    cp->resume = o->resume;
    cp->setup = o->setup;
    cp->notice = cli_dist_rank() == 0 ? notice : NULL;
    cp->notice_user = o;
    return 0;
}
