#!/usr/bin/python3
"""The tiny record set of the from-scratch trainers' tests (cli_direct.sh,
cli_mpi_train_direct.sh): 16x16 PNGs with a bright square top-left (class A)
or bottom-right (class B) on a dark random background, texts whose middle
word gives the class, train (40) and val (12) JSONL records, and a list of
each split's image paths.

  gen_direct_records.py DIR [--hexcode]   (--hexcode: a concept id per record, 10 in all)
"""
import json
import random
import sys

from PIL import Image


def main():
    d = sys.argv[1]
    hexcode = "--hexcode" in sys.argv[2:]
    random.seed(3)
    for split, n in (("train", 40), ("val", 12)):
        with open(f"{d}/{split}.jsonl", "w") as f:
            for i in range(n):
                c = i % 2
                im = Image.new("RGB", (16, 16), (random.randrange(60), random.randrange(60), random.randrange(60)))
                o = 9 if c else 2
                for y in range(o, o + 5):
                    for x in range(o, o + 5):
                        im.putpixel((x, y), (250, 250, 250))
                im.save(f"{d}/{split}_{i}.png")
                words = random.choice(["small", "red", "round"]), "beta" if c else "alpha", random.choice(["shiny", "old"])
                rec = {"id": f"{split}{i}", "image": f"{split}_{i}.png", "text": " ".join(words), "label": "B" if c else "A"}
                if hexcode:
                    rec["hexcode"] = f"c{i % 10}"
                f.write(json.dumps(rec) + "\n")
        with open(f"{d}/{split}_images.txt", "w") as f:
            f.write("".join(f"{d}/{split}_{i}.png\n" for i in range(n)))


if __name__ == "__main__":
    main()
