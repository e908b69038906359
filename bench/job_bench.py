#!/usr/bin/python3
"""The whole count on one data set, every design in the same run, on this machine:
  serial       wordcount serial (in-process, all cores): the reference counter
  direct       wordcount run, MODE direct (the lab's design in C++)
  shuffle      wordcount run, MODE shuffle (map to spill files, reduce into Redis)
  lab-python   the lab's design in Python (bench/lab_python/lab_job.py: pandas + redis-py)
  duckdb       DuckDB (npm @duckdb/node-api, bench/duckdb/wordcount.mjs), in-process, all cores
  shuffle-out, direct-out, duckdb-out
               the same, also writing every count, sorted, to a file (run --out, DuckDB's
               sorted export): compared with each other, the "x DuckDB" column of an -out row
               divides by duckdb-out's whole process time
  shuffle@base, direct@base
               the same as shuffle / direct with the binary given by --baseline (another build,
               to compare two builds in one run)
Each design runs --repeat times; the table shows medians. Every result is checked: the full
counts of direct, shuffle and duckdb byte for byte against serial's, lab-python's top 3.
direct, shuffle and lab-python get a fresh redis-server per run (same binary, loopback, RDB in a
temp dir); the jobs checkpoint every CHECKPOINT_INTERVAL = 2 s like the lab asks.

Columns: seconds (wall clock of the whole command), MB/s, x DuckDB (seconds / DuckDB's whole
process time, top 3 or sorted export as the row does; lower is better), Redis s (CPU time of the redis-server process during the run),
peak RSS (the largest process of the command: serial, node, coordinator or one worker, Python
process), Redis RSS (the redis-server's peak).

usage: bench/job_bench.py [--files 140] [--rows 20000] [--workers 2] [--repeat 3]
                          [--skip-python] [--only serial,shuffle,...] [--baseline BINARY]
"""
import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "differential"))
from counts_escape import escape  # noqa: E402  (the counts file's word escaping, in Python)
WC = os.path.join(HERE, "..", "build", "wordcount")
DUCK = os.path.join(HERE, "duckdb", "wordcount.mjs")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def dataset(files, rows):
    d = os.path.join(HERE, "..", "build", "bench-data", f"job-{files}x{rows}")
    if not os.path.exists(os.path.join(d, "done")):
        subprocess.run([WC, "gen", "--files", str(files), "--rows", str(rows), "--seed", "1", d], check=True,
                       capture_output=True)
        open(os.path.join(d, "done"), "w").close()
    return d


def timed(cmd):
    """(seconds, stdout, stderr, peak RSS in MB) of one command. The peak RSS is GNU time's %M:
    the largest process of the command's tree (measured from a small parent, not from this
    Python process, whose pages a forked child would count as its own)."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss_file:
        t0 = time.time()
        p = subprocess.run(["/usr/bin/time", "-q", "-f", "%M", "-o", rss_file.name] + cmd, capture_output=True,
                           text=True)
        t = time.time() - t0
        if p.returncode != 0:
            sys.exit(f"{' '.join(cmd[:3])} failed ({p.returncode}): {p.stderr[-2000:]}")
        rss = int(rss_file.read().split()[-1]) / 1024
    return t, p.stdout, p.stderr, rss


class Redis:
    def __init__(self, tmp):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(dir=tmp, prefix="redis-")
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--dir", self.dir, "--logfile", "redis.log"], stdout=subprocess.DEVNULL)
        for _ in range(200):
            if self.cli("PING").strip() == "PONG":
                return
            time.sleep(0.01)
        raise RuntimeError("redis-server did not start")

    def cli(self, *args):
        return subprocess.run(["redis-cli", "-p", str(self.port)] + list(args), capture_output=True, text=True).stdout

    def busy_seconds(self):
        """CPU time of the redis-server process so far (user + system; its BGSAVE children not
        included). INFO commandstats would count the time blocked XREADGROUPs wait as well."""
        with open(f"/proc/{self.proc.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self):
        with open(f"/proc/{self.proc.pid}/status") as fh:
            return int(re.search(r"VmHWM:\s+(\d+)", fh.read()).group(1)) / 1024

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def dump_counts(port, key="count"):
    """The sorted set as serial's --out file (count desc, then word bytes asc)."""
    import redis  # Debian python3-redis (make bench-deps)
    r = redis.Redis(port=port)
    pairs, cursor = [], 0
    while True:
        page = r.zrange(key, cursor, cursor + 99999, withscores=True)
        pairs += [(int(s), w) for w, s in page]
        if len(page) < 100000:
            break
        cursor += 100000
    pairs.sort(key=lambda p: (-p[0], p[1]))
    return b"".join(b"%d\t%s\n" % (c, escape(w)) for c, w in pairs)


def run_design(name, a, data, files, tmp, expected, top3):
    """One run: (seconds, redis seconds, peak RSS MB, check result, extra dict)."""
    out = os.path.join(tmp, f"{name}.txt")
    binary = a.baseline if name.endswith("@base") else WC
    with_out = name.endswith("-out")
    mode = name.split("@")[0].removesuffix("-out")
    if name == "serial":
        t, _, _, rss = timed([WC, "serial", "-q", "--top", "0", "--out", out, data])
        return t, None, rss, "exact" if open(out, "rb").read() == expected else "MISMATCH", {}
    if mode == "duckdb":
        if with_out:
            t, stdout, err, rss = timed(["node", DUCK, os.path.join(data, "*.csv"), "--out", out])
        else:
            t, stdout, err, rss = timed(["node", DUCK, os.path.join(data, "*.csv")])
            # Its full counts are checked by one more, untimed run that writes them out.
            subprocess.run(["node", DUCK, os.path.join(data, "*.csv"), "--out", out], capture_output=True,
                           check=True)
        query = float(re.search(r"query_seconds (\S+)", err).group(1))
        ok = "exact" if open(out, "rb").read() == expected else "MISMATCH"
        if stdout != top3:
            ok += f", top 3 printed differ: {stdout!r}"
        return t, None, rss, ok, {"query": query}
    r = Redis(tmp)
    try:
        if name == "lab-python":
            t, stdout, _, rss = timed(["/usr/bin/python3", os.path.join(HERE, "lab_python", "lab_job.py"),
                                       "--redis-port", str(r.port), "--workers", str(a.workers)] + files)
            redis_s = r.busy_seconds()
            ok = "top 3 exact" if stdout == top3 else f"top 3 differ: {stdout!r}"
        else:
            cfg = os.path.join(tmp, "config.json")
            log = os.path.join(tmp, f"{name}.log")
            json.dump({"LOGFILE": log, "N_NORMAL_WORKERS": a.workers, "N_CRASHING_WORKERS": 0,
                       "N_SLEEPING_WORKERS": 0, "CHECKPOINT_INTERVAL": 2, "MODE": mode,
                       "SPILL_DIR": os.path.join(tmp, "spill")}, open(cfg, "w"))
            t, stdout, _, rss = timed([binary, "run", "-q", "--config", cfg, "--data", os.path.join(data, "*.csv"),
                                       "--redis", f"redis://127.0.0.1:{r.port}"] + (["--out", out] if with_out else []))
            redis_s = r.busy_seconds()  # before the check reads the counts back
            ok = "exact" if dump_counts(r.port) == expected else "MISMATCH"
            if with_out and open(out, "rb").read() != expected:
                ok += ", --out MISMATCH"
            if stdout != top3:
                ok += f", top 3 printed differ: {stdout!r}"
        return t, redis_s, rss, ok, {"redis_rss": r.peak_rss_mb()}
    finally:
        r.stop()


def main():
    global WC
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=140)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-python", action="store_true")
    ap.add_argument("--only", default="serial,direct,shuffle,lab-python,duckdb,shuffle-out,duckdb-out")
    ap.add_argument("--wordcount", default=WC, help="the wordcount binary")
    ap.add_argument("--baseline", help="another wordcount binary, run as shuffle@base / direct@base")
    a = ap.parse_args()
    WC = a.wordcount
    data = dataset(a.files, a.rows)
    files = sorted(os.path.join(data, f) for f in os.listdir(data) if f.endswith(".csv"))
    mb = sum(os.path.getsize(f) for f in files) / 1e6
    designs = [d for d in a.only.split(",") if not (a.skip_python and d == "lab-python")]
    notes = []
    if any(d.startswith("duckdb") for d in designs) and \
            not os.path.isdir(os.path.join(HERE, "duckdb", "node_modules", "@duckdb")):
        designs = [d for d in designs if not d.startswith("duckdb")]
        notes.append("duckdb skipped: run `make bench-deps` (npm @duckdb/node-api) to include it")
    results = {}
    with tempfile.TemporaryDirectory(prefix="wc_bench_") as tmp:
        ser = os.path.join(tmp, "reference.txt")
        subprocess.run([WC, "serial", "-q", "--top", "0", "--out", ser, data], check=True)
        expected = open(ser, "rb").read()
        top3 = "".join(f"{w}: {c}\n" for c, w in (l.split("\t") for l in expected.decode().splitlines()[:3]))
        # Rounds: every design once per round, so that machine noise spreads over all of them.
        for k in range(a.repeat):
            for d in designs:
                res = run_design(d, a, data, files, tmp, expected, top3)
                results.setdefault(d, []).append(res)
                print(f"round {k + 1}: {d:<10} {res[0]:6.2f} s  {res[3]}", file=sys.stderr, flush=True)
    med = {d: statistics.median(r[0] for r in rs) for d, rs in results.items()}
    duck = statistics.median(r[4]["query"] for r in results["duckdb"]) if "duckdb" in results else None
    # The goals compare whole processes: top 3 with DuckDB's top-3 process, --out with its export.
    duck_proc = med.get("duckdb")
    duck_out = med.get("duckdb-out")
    print(f"{len(files)} files, {mb:.0f} MB, {a.workers} workers, {os.cpu_count()} cores, "
          f"medians of {a.repeat} run(s)" + (f"; DuckDB query time {duck:.2f} s" if duck else "") +
          "; x DuckDB = seconds / DuckDB's whole process (top 3; -out rows: its sorted export)")
    print(f"| design | seconds | MB/s | x DuckDB | Redis s | peak RSS MB | Redis RSS MB | counts |")
    print(f"|---|---:|---:|---:|---:|---:|---:|---|")
    for d, rs in results.items():
        t = med[d]
        redis_s = [r[1] for r in rs if r[1] is not None]
        rs_text = f"{statistics.median(redis_s):.2f}" if redis_s else "-"
        rss = statistics.median(r[2] for r in rs)
        redis_rss = [r[4]["redis_rss"] for r in rs if "redis_rss" in r[4]]
        rr_text = f"{statistics.median(redis_rss):.0f}" if redis_rss else "-"
        ref = duck_out if d.endswith("-out") else duck_proc
        ratio = f"{t / ref:.2f}" if ref else "-"
        checks = sorted(set(r[3] for r in rs))
        print(f"| {d} | {t:.2f} | {mb / t:.0f} | {ratio} | {rs_text} | {rss:.0f} | {rr_text} | {'; '.join(checks)} |")
    for n in notes:
        print(n)
    return 0 if all("MISMATCH" not in r[3] and "differ" not in r[3] for rs in results.values() for r in rs) else 1


if __name__ == "__main__":
    sys.exit(main())
