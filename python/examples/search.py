#!/usr/bin/env python3
"""Text -> image search with mmfuse from Python: embed a gallery's images (and texts),
build an index, print the top hits for a query.

On the demo's outputs (after `make demo`, from the source folder):
    python3 python/examples/search.py --query "a red heart"
uses data/emoji/openmoji.jsonl as the gallery, the demo's text and image encoders
(data/demo/encoders) and its align head (data/demo/retrieval/align.head.safetensors),
which maps both modalities into one space. With a CLIP folder instead (one space already):
    python3 python/examples/search.py --model models/clip-vit-base-patch32 \\
        --records my_images.jsonl --query "a red heart"
Records are JSONL lines {"id", "text", "image"}, image paths relative to the file.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import mmfuse


def read_records(path: Path):
    recs = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            r = json.loads(line)
            if not r.get("image"):
                continue
            r["image"] = str(path.parent / r["image"])
            r["_line"] = n
            recs.append(r)
    if not recs:
        sys.exit("%s: no records with an image" % path)
    return recs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--query", required=True, action="append", help="query text (repeatable)")
    ap.add_argument("--records", type=Path, default=Path("data/emoji/openmoji.jsonl"), help="gallery JSONL")
    ap.add_argument("--model", help="a CLIP folder (text and image towers in one space)")
    ap.add_argument("--demo", type=Path, default=Path("data/demo"), help="the demo's outputs (without --model)")
    ap.add_argument("-k", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: every core)")
    a = ap.parse_args()

    if a.model:
        text_model = image_model = a.model
        head = None
    else:
        enc = a.demo / "encoders"
        try:
            text_model = (enc / "text.path").read_text().strip()
            image_model = (enc / "image.path").read_text().strip()
        except OSError as e:
            sys.exit("%s (run `make demo` first, or give --model CLIP_DIR)" % e)
        head = mmfuse.FusionHead.load(a.demo / "retrieval" / "align.head.safetensors")

    recs = read_records(a.records)
    t0 = time.perf_counter()
    images = mmfuse.ImageEncoder(image_model, threads=a.threads)
    texts = mmfuse.TextEncoder(text_model, threads=a.threads)
    gallery = images.encode([r["image"] for r in recs])          # decoded in parallel by the library
    captions = texts.encode([r.get("text") or "" for r in recs])
    if head is not None:                                          # into the align head's shared space
        gallery = head.fuse(image_emb=gallery)
        captions = head.fuse(text_emb=captions)
    indexes = {}
    for name, vecs in (("image", gallery), ("caption", captions)):
        ix = mmfuse.Index(vecs.shape[1], metric="cosine")
        ix.add(vecs, ids=range(len(recs)), payloads=[{"id": r.get("id"), "text": r.get("text")} for r in recs])
        indexes[name] = ix
    print("gallery: %d records from %s, images and captions embedded and indexed in %.1f s"
          % (len(recs), a.records, time.perf_counter() - t0))

    q = texts.encode(a.query)
    if head is not None:
        q = head.fuse(text_emb=q)
    k = min(a.k, len(recs))
    for name, ix in indexes.items():
        ids, scores = ix.search(q, k=k)
        for query, row, srow in zip(a.query, ids, scores):
            print("query %r, top %d by %s:" % (query, k, name))
            for rank, (i, s) in enumerate(zip(row, srow), 1):
                p = ix.payload(i)
                print("  %d. %-20s %.4f  %-30s %s" % (rank, p["id"], s, p["text"], os.path.relpath(recs[i]["image"])))

if __name__ == "__main__":
    main()
