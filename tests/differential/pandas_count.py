#!/usr/bin/python3
"""The lab's reference counter, written with pandas (Debian python3-pandas).

Reads each CSV like the reference does (read_csv with lineterminator='\n' and pandas 2.x's NA
set), counts the words of the `text` column split on " ", and writes the project's counts
format (see src/count/counts_format.h). Files that pandas cannot read are reported on stderr
and contribute nothing, which is what `wordcount serial` must do too.

usage: pandas_count.py OUT FILE...
"""
import collections
import sys

import pandas as pd

from counts_escape import escape  # noqa: F401  (re-exported for callers)


def count_file(path, counts):
    df = pd.read_csv(path, lineterminator="\n", na_values=["None"])
    texts = df["text"]
    for t in texts:
        t = str(t)
        if t == "\n":
            continue
        for w in t.split(" "):
            counts[w.encode("utf-8")] += 1


def main():
    out, files = sys.argv[1], sys.argv[2:]
    total = collections.Counter()
    failed = 0
    for f in files:
        c = collections.Counter()
        try:
            count_file(f, c)
        except Exception as e:  # noqa: BLE001 - any pandas failure means "file rejected"
            print(f"FAILED {f}: {type(e).__name__}: {e}".strip(), file=sys.stderr)
            failed += 1
            continue
        total.update(c)
    items = sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))
    with open(out, "wb") as fh:
        for w, n in items:
            fh.write(b"%d\t%s\n" % (n, escape(w)))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
