#!/usr/bin/python3
"""Differential test: random adversarial CSVs counted by `wordcount serial` and by pandas.

Every case is a CSV built to hit the reference grammar's corners (quotes, "" escapes, text after
a closing quote, literal quotes, embedded newlines/CRLF/commas, blank and blank-only lines, short
rows, an implicit index, NA strings, NUL bytes, a BOM) and, in some cases, an error pandas
rejects (too many fields, unterminated quote, no text column, empty file). Cases are counted in
batches by the real binary (with random thread counts and chunk sizes, so record-aligned ranges
are exercised too) and by pandas; the counts files must be byte-identical and the set of
rejected files the same. On a mismatch the culprit file is printed.
"""
import argparse
import collections
import os
import random
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pandas_count  # noqa: E402

TOKENS = ["a", "b", "cd", "é", "\U0001F600", " ", "  ", ",", '"', "\n", "\r", "\r\n", "\t", "x y",
          "NA", "nan", "1", "\\", "wörd", "z"]
NA_FIELDS = ["", "NA", "None", " NA ", "null", "N/A", "nan", '""', '"NA"', "#N/A", "<NA>"]


def content(rng):
    s = "".join(rng.choice(TOKENS) for _ in range(rng.randint(0, 8)))
    if rng.random() < 0.02:
        s = s[: len(s) // 2] + "\x00" + s[len(s) // 2:]
    return s


def field(rng):
    r = rng.random()
    if r < 0.08:
        return rng.choice(NA_FIELDS)
    c = content(rng)
    if r < 0.5:
        return '"' + c.replace('"', '""') + '"'
    if r < 0.6:  # text after the closing quote, quotes literal from there on
        tail = re.sub(r"[,\n]", "", content(rng))
        return '"' + c.replace('"', '""') + '"' + tail
    raw = re.sub(r"[,\n]", "_", c)
    if raw.startswith('"') or (raw.strip(" \t") == "" and raw != ""):
        raw = "w" + raw
    return raw


def make_case(rng):
    ncols = rng.randint(1, 6)
    names = [rng.choice(["id", "author", "x", "y", "text"]) for _ in range(ncols)]
    kind = rng.random()
    if kind > 0.03:
        names[rng.randrange(ncols)] = "text"
    header = ",".join(('"%s"' % n) if rng.random() < 0.1 else n for n in names)
    lines = [header]
    extra_first = rng.choice([0, 0, 0, 0, 1, 2])
    nrows = rng.randint(0, 12)
    for r in range(nrows):
        if rng.random() < 0.1:
            lines.append(rng.choice(["", "  ", "\t", " \t "]))
        n = ncols + (extra_first if r == 0 else 0)
        if r > 0 and rng.random() < 0.15:
            n = rng.randint(1, n)
        elif r > 0 and rng.random() < 0.02:
            n = ncols + extra_first + 1  # too many fields: pandas rejects the file
        fields = [field(rng) for _ in range(n)]
        # Keep the text column textual: an all-numeric column is the documented divergence.
        if r == 0 and "text" in names:
            t = extra_first + names.index("text")
            fields[t] = "txt" + re.sub(r'[,\n"]', "", fields[t])
        lines.append(",".join(fields))
    body = "\n".join(lines)
    if rng.random() < 0.7:
        body += "\n"
    if rng.random() < 0.02:
        body += '1,"never closed'
    if rng.random() < 0.05:
        body = "\ufeff" + body
    if rng.random() < 0.01:
        body = ""
    return body.encode("utf-8")


def count_wordcount(binary, files, out, threads, chunk):
    p = subprocess.run([binary, "serial", "--quiet", "--top", "0", "--threads", str(threads),
                        "--chunk-bytes", str(chunk), "--out", out] + files,
                       capture_output=True, text=True)
    failed = set(re.findall(r"^FAILED (.*?):", p.stderr, re.M))
    if p.returncode not in (0, 1):
        raise SystemExit(f"wordcount exited {p.returncode}: {p.stderr}")
    if (p.returncode == 1) != bool(failed):
        raise SystemExit(f"exit code {p.returncode} disagrees with failures {failed}: {p.stderr}")
    with open(out, "rb") as fh:
        return fh.read(), failed


def count_pandas(files):
    total = collections.Counter()
    failed = set()
    numeric = 0
    for f in files:
        c = collections.Counter()
        try:
            import pandas as pd
            df = pd.read_csv(f, lineterminator="\n", na_values=["None"])
            if "text" in df.columns and df["text"].dtype != object and df["text"].notna().any():
                numeric += 1
            pandas_count.count_file(f, c)
        except Exception:  # noqa: BLE001
            failed.add(f)
            continue
        total.update(c)
    lines = [b"%d\t%s\n" % (n, pandas_count.escape(w))
             for w, n in sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))]
    return b"".join(lines), failed, numeric


# The documented divergences (README, "What \"exact\" means"): a text column whose every value
# parses as a number, or as a bool (True/TRUE/true, False/FALSE/false), is converted by pandas;
# wordcount counts the texts' bytes as written. Each case: file, pandas' counts, wordcount's.
DIVERGENCES = [
    ("numeric", "id,text\n1,1\n2,2.5\n3,-3\n4,1\n",
     {b"1.0": 2, b"2.5": 1, b"-3.0": 1}, {b"1": 2, b"2.5": 1, b"-3": 1}),
    ("bool-like", "id,text\n1,true\n2,FALSE\n3,True\n4,\n5,false\n",
     {b"True": 2, b"False": 2, b"nan": 1}, {b"true": 1, b"FALSE": 1, b"True": 1, b"false": 1, b"nan": 1}),
    ("bool-like and other words", "id,text\n1,true\n2,yes\n",  # stays text: no divergence
     {b"true": 1, b"yes": 1}, {b"true": 1, b"yes": 1}),
]


def check_divergences(binary, tmp):
    """Each documented divergence is what pandas and wordcount still do; returns failures."""
    bad = []
    for name, body, want_pandas, want_wc in DIVERGENCES:
        path = os.path.join(tmp, "divergence.csv")
        with open(path, "w") as fh:
            fh.write(body)
        got_pandas = collections.Counter()
        pandas_count.count_file(path, got_pandas)
        got_wc, failed = count_wordcount(binary, [path], os.path.join(tmp, "divergence.txt"), 1, 1 << 26)
        want = b"".join(b"%d\t%s\n" % (n, w) for w, n in sorted(want_wc.items(), key=lambda kv: (-kv[1], kv[0])))
        if dict(got_pandas) != want_pandas:
            bad.append(f"{name}: pandas counted {dict(got_pandas)}, documented {want_pandas}")
        if got_wc != want or failed:
            bad.append(f"{name}: wordcount counted {got_wc!r} (failed {failed}), documented {want!r}")
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wordcount", required=True)
    ap.add_argument("--cases", type=int, default=300)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    checked = rejected = numeric_cases = 0
    with tempfile.TemporaryDirectory(prefix="wc_diff_") as tmp:
        bad = check_divergences(args.wordcount, tmp)
        if bad:
            print("documented divergences changed:\n" + "\n".join(bad) + "\n1 failed")
            return 1
        print(f"{len(DIVERGENCES)} documented divergences from pandas as documented")
        for b in range(0, args.cases, args.batch):
            files = []
            for i in range(b, min(args.cases, b + args.batch)):
                path = os.path.join(tmp, f"case_{i:05}.csv")
                with open(path, "wb") as fh:
                    fh.write(make_case(rng))
                files.append(path)
            expected, pd_failed, numeric = count_pandas(files)
            numeric_cases += numeric
            threads, chunk = rng.choice([1, 2, 3]), rng.choice([1, 17, 64, 1 << 26])
            got, wc_failed = count_wordcount(args.wordcount, files, os.path.join(tmp, "out.txt"), threads, chunk)
            if got != expected or wc_failed != pd_failed:
                for f in files:  # narrow down to the culprit
                    e1, f1, _ = count_pandas([f])
                    g1, f2 = count_wordcount(args.wordcount, [f], os.path.join(tmp, "one.txt"), 1, chunk)
                    if e1 != g1 or f1 != f2:
                        print(f"MISMATCH on {f} (chunk {chunk}):\n{open(f, 'rb').read()!r}")
                        print(f"pandas rejected={bool(f1)}:\n{e1.decode(errors='replace')}")
                        print(f"wordcount rejected={bool(f2)}:\n{g1.decode(errors='replace')}")
                        print("1 failed")
                        return 1
                print(f"MISMATCH in batch at case {b} that no single file reproduces")
                return 1
            checked += len(files)
            rejected += len(pd_failed)
    print(f"{checked} cases identical to pandas ({rejected} rejected by both; "
          f"{numeric_cases} with a numeric text column)")
    print(f"{checked} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
