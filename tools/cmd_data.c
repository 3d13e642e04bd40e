/* mmfuse data: builds data sets. The work is a script (fetching npm packages,
 * rasterising SVGs and joining JSON is shell + node work, not C work); this
 * subcommand finds the script and replaces itself with it, so the options, the
 * progress on stderr and the exit status are the script's own. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

/* Where the scripts live: $MMFUSE_SCRIPTS_DIR if set, else the source tree the
 * binary was built from, else the installed share folder. CMake defines both. */
#ifndef MMFUSE_SOURCE_SCRIPTS
#define MMFUSE_SOURCE_SCRIPTS "scripts"
#endif
#ifndef MMFUSE_INSTALLED_SCRIPTS
#define MMFUSE_INSTALLED_SCRIPTS "/usr/local/share/mmfuse/scripts"
#endif

static const char help[] =
    "Usage: mmfuse data emoji [--out DIR] [--cache DIR] [--from-dir DIR] [--jobs N] [--force]\n\n"
    "Builds the emoji data set (docs/data-emoji.md): Google (Noto) and Twitter\n"
    "(Twemoji) 64x64 PNGs, OpenMoji SVGs rasterised to 64x64 PNG with rsvg-convert,\n"
    "CLDR labels, tags, groups and subgroups from emojibase, joined on the hexcode.\n"
    "Fetches emoji-datasource-google@16.0.0, emoji-datasource-twitter@16.0.0,\n"
    "emojibase-data@17.0.0 and openmoji@17.0.0 with `npm pack` into a cache.\n"
    "Base concepts with art from all three vendors only (about 1906; skin-tone\n"
    "variants left out). Apple art is never used.\n\n"
    "Writes DIR/train.jsonl, val.jsonl, test.jsonl (Google + Twitter art; about 10%\n"
    "of each subgroup's concepts held out for test and 10% for val, by a stable hash\n"
    "of the hexcode), DIR/openmoji.jsonl (OpenMoji art of every concept: the\n"
    "style-shift split), DIR/img-alpha/ (the art as drawn, transparent), DIR/img/\n"
    "(the same flattened onto white, 8-bit RGB: what models read),\n"
    "DIR/vqa_<split>.jsonl (four questions per image: group, subgroup, yes/no,\n"
    "main colour), DIR/lists/ (the records as line files for --image-list and\n"
    "--text-file; paths relative to DIR), DIR/classes.json, DIR/LICENSES.md, DIR/STATS.md.\n"
    "One record a line: {\"id\", \"hexcode\", \"emoji\", \"image\" (flattened PNG, path\n"
    "relative to the JSONL file), \"image_alpha\", \"text\" (CLDR label), \"tags\",\n"
    "\"group\", \"subgroup\", \"label\" (= subgroup), \"vendor\", \"split\", \"concept_split\"}.\n"
    "Re-running reuses downloads and rasterised images (about a second); the JSONL\n"
    "files are replaced atomically. Progress goes to stderr.\n\n"
    "Options:\n"
    "  --out DIR       output folder (default: data/emoji)\n"
    "  --cache DIR     downloads and unpacked packages\n"
    "                  (default: <parent of --out>/.cache/emoji-npm)\n"
    "  --from-dir DIR  packages already unpacked as DIR/<npm name>/ (the tarball's\n"
    "                  package/ folder): no npm, no network\n"
    "  --jobs N        parallel rsvg-convert processes (default: 2)\n"
    "  --force         re-place, re-rasterise and re-flatten every image\n\n"
    "Needs node, tar, rsvg-convert and npm (scripts/install-deps.sh demo).\n"
    "The work is done by scripts/build-emoji-data.sh, found in $MMFUSE_SCRIPTS_DIR,\n"
    "else in the source tree this binary was built from (" MMFUSE_SOURCE_SCRIPTS "),\n"
    "else in the installed share folder (" MMFUSE_INSTALLED_SCRIPTS ").\n\n"
    "Example:\n"
    "  mmfuse data emoji --out data/emoji\n";

static int find_script(const char *name, char *buf, size_t cap) {
    const char *env = getenv("MMFUSE_SCRIPTS_DIR");
    const char *dirs[3] = {env && *env ? env : NULL, MMFUSE_SOURCE_SCRIPTS, MMFUSE_INSTALLED_SCRIPTS};
    for (int i = 0; i < 3; i++) {
        if (!dirs[i]) continue;
        int n = snprintf(buf, cap, "%s/%s", dirs[i], name);
        if (n > 0 && (size_t)n < cap && access(buf, R_OK) == 0) return 1;
        if (i == 0) {   /* an explicit folder that lacks the script is a mistake worth naming */
            fprintf(stderr, "mmfuse data: MMFUSE_SCRIPTS_DIR=%s has no readable %s\n", env, name);
            return 0;
        }
    }
    fprintf(stderr, "mmfuse data: cannot find %s in %s or %s (set MMFUSE_SCRIPTS_DIR)\n",
            name, MMFUSE_SOURCE_SCRIPTS, MMFUSE_INSTALLED_SCRIPTS);
    return 0;
}

static int run(int argc, char **argv) {
    if (argc < 2) return cli_usage("data", "missing the data set name (known: emoji)");
    if (strcmp(argv[1], "emoji") != 0) return cli_usage("data", "unknown data set \"%s\" (known: emoji)", argv[1]);
    char script[4096];
    if (!find_script("build-emoji-data.sh", script, sizeof script)) return MMF_EXIT_FAIL;
    /* bash SCRIPT OPTIONS...: argv[2..] pass through unchanged */
    char **args = calloc((size_t)argc + 2, sizeof *args);
    if (!args) { fprintf(stderr, "mmfuse data: out of memory\n"); return MMF_EXIT_FAIL; }
    args[0] = "bash";
    args[1] = script;
    for (int i = 2; i < argc; i++) args[i] = argv[i];
    args[argc] = NULL;
    fflush(NULL);
    execvp("bash", args);
    fprintf(stderr, "mmfuse data: cannot run bash %s: %s\n", script, strerror(errno));
    free(args);
    return MMF_EXIT_FAIL;
}

const mmf_cli_command mmf_cmd_data = {"data", "build a data set (emoji: Google/Twitter/OpenMoji art + emojibase text)", run, help};
