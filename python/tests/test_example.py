"""python/examples/search.py runs and its image hits equal the CLI's search on the same gallery."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import IMAGES, cli

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "search.py"
NAMES = ["a red square", "a photo", "grey", "rotated"]


def gallery(folder: Path) -> Path:
    """The test images copied into folder, with a records file naming them r0..r3."""
    for p in IMAGES:
        shutil.copy(p, folder / p.name)
    (folder / "g.jsonl").write_text("".join(json.dumps({"id": "r%d" % i, "text": t, "image": p.name}) + "\n"
                                            for i, (t, p) in enumerate(zip(NAMES, IMAGES))))
    return folder / "g.jsonl"


def run_example(*args, cwd=None):
    """search.py's stdout lines (the installed mmfuse, or this checkout's)."""
    env = dict(os.environ)
    if not env.get("MMFUSE_TEST_INSTALLED"):
        env["PYTHONPATH"] = str(EXAMPLE.parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run([sys.executable, str(EXAMPLE)] + [str(a) for a in args] + ["--threads", "1"],
                       capture_output=True, text=True, env=env, cwd=cwd)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def test_search_example_equals_cli(tmp_path, clip_folder):
    records = gallery(tmp_path)
    lines = run_example("--model", clip_folder, "--records", records, "--query", "a photo of a cat", "-k", 3,
                        cwd=tmp_path)
    at = lines.index("query 'a photo of a cat', top 3 by image:")
    got = [l.split()[1] for l in lines[at + 1:at + 4]]
    # the CLI: embed the same images, build an index, search with the same text
    (tmp_path / "list.txt").write_text("".join(str(tmp_path / p.name) + "\n" for p in IMAGES))
    cli("embed", "--model", clip_folder, "--image-list", tmp_path / "list.txt", "--out", tmp_path / "g.safetensors")
    cli("index", "build", tmp_path / "g.safetensors", "--out", tmp_path / "g.mmfidx")
    out = cli("search", tmp_path / "g.mmfidx", "--text", "a photo of a cat", "--model", clip_folder, "-k", 3, "--json")
    ref = ["r%d" % h["id"] for h in json.loads(out.splitlines()[0])["results"]]
    assert got == ref


def test_search_example_on_a_demo_layout(tmp_path):
    """The default mode: the demo's encoders (paths in encoders/*.path) and its align head."""
    import numpy as np
    import mmfuse
    from conftest import TEXT_MODEL, VIT_MODEL
    demo = tmp_path / "demo"
    (demo / "encoders").mkdir(parents=True)
    (demo / "retrieval").mkdir()
    (demo / "encoders/text.path").write_text(str(TEXT_MODEL) + "\n")
    (demo / "encoders/image.path").write_text(str(VIT_MODEL) + "\n")
    t = mmfuse.TextEncoder(TEXT_MODEL, threads=1).encode(NAMES * 8)
    i = mmfuse.ImageEncoder(VIT_MODEL, threads=1).encode([str(p) for p in IMAGES] * 8)
    rng = np.random.default_rng(0)
    head = mmfuse.fusion.train({"text": t + rng.normal(0, 0.01, t.shape).astype(np.float32),
                                "image": i + rng.normal(0, 0.01, i.shape).astype(np.float32)},
                               None, task="align", epochs=2, batch=8, hidden=16)
    head.save(demo / "retrieval/align.head.safetensors")
    lines = run_example("--demo", demo, "--records", gallery(tmp_path), "--query", "grey", "-k", 4)
    for by in ("image", "caption"):
        at = lines.index("query 'grey', top 4 by %s:" % by)
        hits = [l.split() for l in lines[at + 1:at + 5]]
        assert sorted(h[1] for h in hits) == ["r0", "r1", "r2", "r3"]      # every gallery item once
        scores = [float(h[2]) for h in hits]
        assert scores == sorted(scores, reverse=True)
    # the caption index of the query's own caption ranks it first: same text, same projection
    at = lines.index("query 'grey', top 4 by caption:")
    assert lines[at + 1].split()[1] == "r2"
