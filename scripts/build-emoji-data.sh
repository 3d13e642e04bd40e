#!/usr/bin/env bash
# Builds the emoji data set (see docs/data-emoji.md): fetches four npm packages,
# unpacks what it needs, rasterises OpenMoji SVGs, joins everything on the
# hexcode and writes JSONL records. `mmfuse data emoji` runs this script.
# Re-running is cheap: downloads, unpacked packages and rasterised PNGs are kept
# and reused; the JSONL files are rewritten atomically (temp file + rename).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PACKAGES=(emoji-datasource-google@16.0.0 emoji-datasource-twitter@16.0.0 emojibase-data@17.0.0 openmoji@17.0.0)

usage() {
  cat <<'EOF'
Usage: mmfuse data emoji [--out DIR] [--cache DIR] [--from-dir DIR] [--jobs N] [--force]
       scripts/build-emoji-data.sh [same options]

Builds the emoji data set: Google (Noto) and Twitter (Twemoji) 64x64 PNGs from
emoji-datasource-google/twitter@16.0.0, OpenMoji colour SVGs from openmoji@17.0.0
rasterised to 64x64 PNG (rsvg-convert), names, tags, groups and subgroups from
emojibase-data@17.0.0. Base concepts with art from all three vendors (about
1906; skin-tone variants and the "component" group left out), joined on the
hexcode (upper case, FE0F parts dropped). Apple art is never used.

Writes DIR/{train,val,test}.jsonl (Google + Twitter art; about 10% of the
concepts of each subgroup held out for test and 10% for val, by a stable hash of
the hexcode), DIR/openmoji.jsonl (OpenMoji art of every concept: the style-shift
split; "concept_split" tells which concepts were held out), DIR/img-alpha/<vendor>/
(the art as drawn, transparent background), DIR/img/<vendor>/ (the same
flattened onto white, 8-bit RGB: what models read), DIR/vqa_<split>.jsonl
(four generated questions per image), DIR/lists/ (the records as line files:
images, texts, tags, class ids), DIR/classes.json, DIR/LICENSES.md,
DIR/licenses/ and DIR/STATS.md.
Record: {"id", "hexcode", "emoji", "image" (flattened PNG, path relative to the
JSONL file), "image_alpha" (the original), "text" (CLDR label), "tags", "group",
"subgroup", "label" (= subgroup), "vendor", "split", "concept_split"}.
Progress goes to stderr.

Options:
  --out DIR       output folder (default: data/emoji)
  --cache DIR     downloaded .tgz and unpacked packages
                  (default: <parent of --out>/.cache/emoji-npm, e.g. data/.cache/emoji-npm)
  --from-dir DIR  use packages already unpacked in DIR/<npm name>/ (the tarball's
                  package/ folder, e.g. DIR/openmoji/color/svg/); no npm, no network
  --jobs N        parallel rsvg-convert processes (default: 2)
  --force         re-place, re-rasterise and re-flatten every image

Needs: node, tar, rsvg-convert (Debian librsvg2-bin) and npm unless --from-dir:
  scripts/install-deps.sh demo

Example:
  mmfuse data emoji --out data/emoji
EOF
}

die() { echo "build-emoji-data: error: $*" >&2; exit 1; }
say() { echo "build-emoji-data: $*" >&2; }

OUT=data/emoji CACHE="" FROM="" JOBS=2 FORCE=""
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --out|--cache|--from-dir|--jobs)
      [ $# -ge 2 ] || { echo "build-emoji-data: option $1 needs a value (see --help)" >&2; exit 2; }
      case "$1" in --out) OUT=$2 ;; --cache) CACHE=$2 ;; --from-dir) FROM=$2 ;; --jobs) JOBS=$2 ;; esac
      shift 2 ;;
    --out=*) OUT=${1#*=}; shift ;;
    --cache=*) CACHE=${1#*=}; shift ;;
    --from-dir=*) FROM=${1#*=}; shift ;;
    --jobs=*) JOBS=${1#*=}; shift ;;
    --force) FORCE=--force; shift ;;
    *) echo "build-emoji-data: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$JOBS" =~ ^[1-9][0-9]?$ ]] || { echo "build-emoji-data: --jobs expects an integer in [1, 99], got '$JOBS'" >&2; exit 2; }
[ -n "$OUT" ] || { echo "build-emoji-data: --out must not be empty" >&2; exit 2; }

need=(node tar rsvg-convert)
[ -n "$FROM" ] || need+=(npm)
for t in "${need[@]}"; do
  command -v "$t" >/dev/null 2>&1 || die "'$t' not found; install it with: scripts/install-deps.sh demo"
done

mkdir -p "$OUT" || die "$OUT: cannot create the output folder"
OUT=$(cd "$OUT" && pwd)
# temp files of an interrupted run, only where this script writes
find "$OUT" -maxdepth 1 -name '*.tmp.*' -type f -delete 2>/dev/null || true
for d in img img-alpha lists; do
  [ -d "$OUT/$d" ] && find "$OUT/$d" -name '*.tmp.*' -type f -delete 2>/dev/null || true
done
[ -n "$CACHE" ] || CACHE="$(dirname "$OUT")/.cache/emoji-npm"
T0=$SECONDS

# ---- 1. packages: npm pack into CACHE/tgz, unpack what we use into CACHE/src ----
if [ -n "$FROM" ]; then
  [ -d "$FROM" ] || die "$FROM: --from-dir is not a folder"
  SRC=$(cd "$FROM" && pwd)
  for p in "${PACKAGES[@]}"; do
    [ -d "$SRC/${p%@*}" ] || die "$SRC/${p%@*}: missing (--from-dir expects DIR/<npm name>/ as unpacked from the tarball's package/)"
  done
else
  mkdir -p "$CACHE/tgz" "$CACHE/src"
  SRC="$CACHE/src"
  # leftovers of an interrupted run (temp folders are renamed into place only when complete)
  rm -rf "$CACHE"/tgz/.pack.* "$SRC"/.unpack.*
  for p in "${PACKAGES[@]}"; do
    name=${p%@*} ver=${p#*@}
    tgz="$CACHE/tgz/$name-$ver.tgz"
    if [ ! -s "$tgz" ]; then
      say "fetching $p with npm pack"
      tmp=$(mktemp -d "$CACHE/tgz/.pack.XXXXXX")
      (cd "$tmp" && npm pack --silent "$p" >/dev/null) || { rm -rf "$tmp"; die "npm pack $p failed (network? registry: $(npm config get registry 2>/dev/null))"; }
      mv "$tmp/$name-$ver.tgz" "$tgz" || { rm -rf "$tmp"; die "npm pack $p did not produce $name-$ver.tgz"; }
      rm -rf "$tmp"
    fi
    dest="$SRC/$name"
    if [ "$(cat "$dest/.mmfuse-unpacked" 2>/dev/null)" != "$p" ]; then
      say "unpacking $name-$ver.tgz"
      # only what the join reads: metadata, 64 px PNGs, colour SVGs, licences
      case "$name" in
        emoji-datasource-*) members=(package/package.json package/LICENSE package/README.md package/emoji.json "package/img/${name#emoji-datasource-}/64") ;;
        emojibase-data) members=(package/package.json package/LICENSE package/en/data.json package/meta/groups.json) ;;
        openmoji) members=(package/package.json package/LICENSE.txt package/README.md package/data/openmoji.json package/color/svg) ;;
      esac
      tmp=$(mktemp -d "$SRC/.unpack.XXXXXX")
      tar xzf "$tgz" -C "$tmp" --strip-components=1 "${members[@]}" || { rm -rf "$tmp"; die "$tgz: cannot unpack (corrupt download? delete it and re-run)"; }
      echo "$p" >"$tmp/.mmfuse-unpacked"
      rm -rf "$dest"
      mv "$tmp" "$dest"
    fi
  done
fi

# ---- 2. plan: place vendor PNGs, list the OpenMoji SVGs still to rasterise ----
JOBLIST=$(mktemp "${TMPDIR:-/tmp}/emoji-raster.XXXXXX")
trap 'rm -f "$JOBLIST"' EXIT
node "$HERE/emoji-join.js" plan "$SRC" "$OUT" $FORCE >"$JOBLIST"

# ---- 3. rasterise OpenMoji SVG -> 64x64 PNG, $JOBS at a time ----
# Each worker takes up to 32 (svg, png) pairs, writes every PNG through a temp
# name (an interrupted run leaves no truncated PNG) and reports how many it did.
total=$(( $(tr -cd '\0' <"$JOBLIST" | wc -c) / 2 ))
if [ "$total" -gt 0 ]; then
  done_n=0 step=$(( total / 10 > 0 ? total / 10 : 1 )) next=0
  set +o pipefail
  xargs -0 -n 64 -P "$JOBS" bash -c '
    n=0
    while [ $# -ge 2 ]; do
      tmp="$2.tmp.$$.png"
      rsvg-convert -w 64 -h 64 -f png -o "$tmp" "$1" && mv "$tmp" "$2" || { rm -f "$tmp"; echo "rsvg-convert failed on $1" >&2; exit 255; }
      shift 2; n=$((n + 1))
    done
    echo "$n"' _ <"$JOBLIST" |
  while read -r n; do
    done_n=$((done_n + n))
    if [ "$done_n" -ge "$next" ] || [ "$done_n" -eq "$total" ]; then
      say "rasterising OpenMoji: $done_n/$total"; next=$((done_n + step))
    fi
  done
  set -o pipefail
fi

# ---- 4. licences beside the data, then the records (checked, atomic) ----
mkdir -p "$OUT/licenses"
for f in emoji-datasource-google/LICENSE emoji-datasource-twitter/LICENSE emojibase-data/LICENSE openmoji/LICENSE.txt; do
  [ -f "$SRC/$f" ] && cp "$SRC/$f" "$OUT/licenses/${f%%/*}.txt"
done
node "$HERE/emoji-join.js" write "$SRC" "$OUT" $FORCE
say "done in $((SECONDS - T0)) s: $OUT"
