#!/usr/bin/python3
"""End-to-end tests of the wordcount binary's subcommands (gen, split, serial; run's output files,
stops and LOGFILE), run for real in a temp dir. Counts are compared with pandas (tests/differential/pandas_count.py) word for word.
"""
import argparse
import contextlib
import json
import os
import pwd
import random
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "job"))
from job_test import free_port  # noqa: E402
PANDAS_COUNT = os.path.join(HERE, "..", "differential", "pandas_count.py")
failures = []
passed = 0


def check(name, cond, detail=""):
    global passed
    if cond:
        passed += 1
    else:
        failures.append(f"{name}: {detail}")
        print(f"FAIL {name}: {detail}")


def run(*args, **kw):
    return subprocess.run(list(args), capture_output=True, **kw)


@contextlib.contextmanager
def small_tmpfs(path, size="5m"):
    """A tmpfs of `size` mounted at `path` (None if this process cannot mount: not root), always
    unmounted at the end, also when the test fails."""
    os.makedirs(path, exist_ok=True)
    p = run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path)
    if p.returncode != 0:
        print(f"SKIP tmpfs tests: cannot mount ({p.stderr.decode().strip()})")
        yield None
        return
    try:
        yield path
    finally:
        subprocess.run(["umount", path], check=True)


def test_non_regular_inputs(wc, tmp, data, exp):
    """A FIFO, socket or directory named x.csv is refused at once (never opened for a blocking read),
    named on stderr, and the other files are still counted exactly."""
    import socket
    specials = {"x_fifo.csv": "FIFO", "x_socket.csv": "socket", "x_dir.csv": "directory"}
    os.mkfifo(os.path.join(data, "x_fifo.csv"))
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(os.path.join(data, "x_socket.csv"))
    os.mkdir(os.path.join(data, "x_dir.csv"))
    try:
        for label, arg in (("directory", data), ("glob", os.path.join(data, "*.csv"))):
            out = os.path.join(tmp, "special.txt")
            try:
                p = run(wc, "serial", "--out", out, arg, text=True, timeout=30)
            except subprocess.TimeoutExpired:
                check(f"{label} with a FIFO: does not block", False, "timed out")
                continue
            check(f"{label} with a FIFO: exit 1", p.returncode == 1, (p.returncode, p.stderr))
            for name, kind in specials.items():
                check(f"{label}: {name} refused by name", f"{name}: not a regular file ({kind})" in p.stderr,
                      p.stderr)
            check(f"{label}: the other files counted exactly", open(out, "rb").read() == exp)
    finally:
        sock.close()
        os.remove(os.path.join(data, "x_fifo.csv"))
        os.remove(os.path.join(data, "x_socket.csv"))
        os.rmdir(os.path.join(data, "x_dir.csv"))


def failed_lines(stderr):
    return sorted(l for l in stderr.splitlines() if l.startswith("FAILED "))


def test_inputs_named_as_given(wc, tmp, files):
    """Held-out pass: run's FAILED lines named a symbolic link's target (`FAILED /dev/tty`, `.../gl/b`)
    or the wrong cause (a link loop was "no such file"), while serial named the input as given.
    Both name the expanded input path with the real cause, in the same words; the good files count
    the same."""
    base = os.path.join(tmp, "named")
    for d in ("nr", "gl/a", "gl/b"):
        os.makedirs(os.path.join(base, d))
    shutil.copy(files[0], os.path.join(base, "nr", "good.csv"))
    shutil.copy(files[1], os.path.join(base, "gl", "a", "good.csv"))
    os.symlink("/dev/null", os.path.join(base, "nr", "tty.csv"))
    os.symlink("../b", os.path.join(base, "gl", "a", "blink.csv"))
    os.symlink("loop.csv", os.path.join(base, "gl", "a", "loop.csv"))
    os.symlink("nowhere", os.path.join(base, "gl", "a", "dangling.csv"))
    with open(os.path.join(base, "gl", "b", "bad.csv"), "w") as fh:  # fails in a worker, not the plan
        fh.write("a,text\n1,ok\n2,too,many\n")
    os.symlink("../b/bad.csv", os.path.join(base, "gl", "a", "badlink.csv"))
    want = ["FAILED gl/a/badlink.csv:3: expected 2 fields, saw 3",
            "FAILED gl/a/blink.csv: not a regular file (directory)",
            "FAILED gl/a/dangling.csv: cannot open: No such file or directory",
            "FAILED gl/a/loop.csv: cannot open: Too many levels of symbolic links",
            "FAILED nr/tty.csv: not a regular file (character device)"]
    args = ["nr", "gl/a/*.csv"]
    p = run(wc, "serial", "-q", "--out", os.path.join(tmp, "named-serial.txt"), *args, text=True, cwd=base,
            timeout=30)
    check("inputs as given: serial exit 1", p.returncode == 1, (p.returncode, p.stderr))
    check("inputs as given: serial's FAILED lines", failed_lines(p.stderr) == want, p.stderr)
    if shutil.which("redis-server") is None:
        print("SKIP run naming inputs as given: no redis-server")
        return
    cfg = run_config(tmp, "named")
    out = os.path.join(tmp, "named-run.txt")
    # run takes one DATA_PATH: the directory, then the glob.
    for arg, want_here in (("nr", [l for l in want if " nr/" in l]), ("gl/a/*.csv", [l for l in want if " gl/" in l])):
        s = run(wc, "serial", "-q", "--out", os.path.join(tmp, "named-serial.txt"), arg, text=True, cwd=base,
                timeout=30)
        p = run(wc, "run", "--config", cfg, "--data", arg, "--out", out, text=True, cwd=base, timeout=60)
        check(f"inputs as given: run {arg} exit 1", p.returncode == 1, (p.returncode, p.stderr))
        check(f"inputs as given: run {arg} names them like serial",
              failed_lines(p.stderr) == failed_lines(s.stderr) == want_here, (p.stderr, s.stderr))
        check(f"inputs as given: run {arg} counts like serial",
              open(out, "rb").read() == open(os.path.join(tmp, "named-serial.txt"), "rb").read())


def test_directory_skips_hidden_files(wc, tmp, files):
    """Held-out pass: a directory PATH counted dot files (gl/a/.hidden.csv) that the glob gl/a/*.csv
    (and the reference's Python glob) skips. A directory yields exactly the glob's files, in serial
    and run alike."""
    d = os.path.join(tmp, "hidden")
    os.makedirs(d)
    shutil.copy(files[0], os.path.join(d, "a.csv"))
    with open(os.path.join(d, ".hidden.csv"), "w") as fh:
        fh.write("a,text\n1,hiddenword hiddenword\n")
    with open(os.path.join(d, ".bad.csv"), "w") as fh:  # would fail if it were read
        fh.write("a,text\n1,ok\n2,too,many\n")
    by_dir, by_glob = os.path.join(tmp, "hidden-dir.txt"), os.path.join(tmp, "hidden-glob.txt")
    p = run(wc, "serial", "-q", "--out", by_dir, d, text=True)
    check("hidden files: serial of the directory exit 0", p.returncode == 0, (p.returncode, p.stderr))
    p = run(wc, "serial", "-q", "--out", by_glob, os.path.join(d, "*.csv"), text=True)
    check("hidden files: serial of the directory counts like its glob",
          open(by_dir, "rb").read() == open(by_glob, "rb").read() and b"hiddenword" not in open(by_dir, "rb").read())
    with open(os.path.join(d, ".only.csv"), "w") as fh:
        fh.write("a,text\n1,x\n")
    only = os.path.join(tmp, "hidden-only")
    os.makedirs(only)
    os.rename(os.path.join(d, ".only.csv"), os.path.join(only, ".only.csv"))
    p = run(wc, "serial", only, text=True)
    check("hidden files: a directory holding only dot files matches nothing (exit 3)", p.returncode == 3,
          (p.returncode, p.stderr))
    if shutil.which("redis-server") is None:
        print("SKIP run over hidden files: no redis-server")
        return
    out = os.path.join(tmp, "hidden-run.txt")
    p = run(wc, "run", "--config", run_config(tmp, "hidden"), "--data", d, "--out", out, text=True, timeout=60)
    check("hidden files: run of the directory exit 0", p.returncode == 0, (p.returncode, p.stderr))
    check("hidden files: run of the directory counts like the glob", open(out, "rb").read() == open(by_glob, "rb").read())


LOG_LINE = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S+\[\d+\] ")


def test_untrusted_names(wc, tmp, files):
    """File names are untrusted: one with a newline cannot forge a log line, one with ESC cannot
    reach the terminal, in serial's stderr and in run's LOGFILE and stderr."""
    dir_ = os.path.join(tmp, "evil")
    os.mkdir(dir_)
    forged = "a\ncommit tasks=1000 result=accepted.csv"
    esc = "b\x1b[31mred.csv"
    shutil.copy(files[0], os.path.join(dir_, forged))
    with open(os.path.join(dir_, esc), "w") as fh:  # fails to parse: named on stderr
        fh.write("a,text\n1,ok\n2,too,many\n")
    with open(os.path.join(dir_, "c\x1b]0;x\x07.csv"), "w") as fh:
        fh.write("a,text\n1,x\n2,x,y,z\n")
    # Held-out pass 18: a quote in a name ended its quoted log value early and added fields.
    quoted = 'q" n=99 recorded=false error="fake\\r.csv'
    with open(os.path.join(dir_, quoted), "w") as fh:
        fh.write('a,text\n1,"bad\n')
    p = run(wc, "serial", dir_)
    check("evil names: serial exit 1", p.returncode == 1, p.returncode)
    check("evil names: no raw ESC or BEL on serial's stderr", b"\x1b" not in p.stderr and b"\x07" not in p.stderr,
          p.stderr)
    check("evil names: serial names the file escaped", b"b\\x1b[31mred.csv:3: expected 2 fields, saw 3" in p.stderr,
          p.stderr)
    failed = [l for l in p.stderr.splitlines() if l.startswith(b"FAILED ")]
    check("evil names: one FAILED line per failed file", len(failed) == 3, p.stderr)

    if shutil.which("redis-server") is None:
        print("SKIP run with evil names: no redis-server")
        return
    log = os.path.join(tmp, "evil.log")
    cfg = os.path.join(tmp, "evil.json")
    with open(cfg, "w") as fh:
        json.dump({"LOGFILE": log, "N_NORMAL_WORKERS": 1, "N_CRASHING_WORKERS": 0, "N_SLEEPING_WORKERS": 0,
                   "CLAIM_IDLE_MS": 1000, "MAX_DELIVERIES": 1, "REDIS_RETRY_SECONDS": 10}, fh)
    p = run(wc, "run", "-q", "--config", cfg, "--data", os.path.join(dir_, "*.csv"), timeout=120)
    check("evil names: run exit 1", p.returncode == 1, (p.returncode, p.stderr))
    check("evil names: no raw ESC or BEL on run's stderr", b"\x1b" not in p.stderr and b"\x07" not in p.stderr,
          p.stderr)
    lines = open(log, "rb").read().splitlines()
    bad = [l for l in lines if not LOG_LINE.match(l)]
    check("evil names: every LOGFILE line is one whole event", lines and not bad, bad[:3])
    check("evil names: no raw control byte in LOGFILE",
          not any(re.search(rb"[\x00-\x1f\x7f]", l) for l in lines), [l for l in lines if b"\x1b" in l][:3])
    check("evil names: the forged commit is inside its event",
          any(b'path="' + dir_.encode() + b'/a\\ncommit tasks=1000 result=accepted.csv"' in l for l in lines),
          [l for l in lines if b"counted" in l])
    # Every field once per line, a quoted value ending at its own (unescaped) closing quote.
    field = re.compile(rb'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')
    doubled = []
    for l in lines:
        keys = [m.group(1) for m in field.finditer(l.split(b"] ", 1)[1])]
        if len(keys) != len(set(keys)) or b"99" in [m.group(2) for m in field.finditer(l) if m.group(1) == b"n"]:
            doubled.append(l)
    check("evil names: a quote in a name adds no field to a LOGFILE line", not doubled, doubled[:3])
    check("evil names: the quoted name is logged escaped",
          any(b'q\\" n=99 recorded=false error=\\"fake\\\\r.csv' in l for l in lines),
          [l for l in lines if b"fake" in l][:3])


def test_logfile_is_opened_safely(wc, tmp, data):
    """LOGFILE (a predictable name, /tmp/wc.log by default) is never followed if it is a symbolic
    link, and one that cannot be opened is a usage error naming it, not silently no log."""
    target = os.path.join(tmp, "precious.txt")
    with open(target, "w") as fh:
        fh.write("keep me\n")
    link = os.path.join(tmp, "wc-link.log")
    os.symlink(target, link)
    for name, logfile, want in (("symlink", link, f"log file {link}: is a symbolic link: refused"),
                                ("unwritable", os.path.join(tmp, "no", "dir", "wc.log"),
                                 f"cannot open log file {tmp}/no/dir/wc.log: No such file or directory")):
        cfg = os.path.join(tmp, f"log-{name}.json")
        with open(cfg, "w") as fh:
            json.dump({"LOGFILE": logfile, "N_NORMAL_WORKERS": 1, "N_CRASHING_WORKERS": 0,
                       "N_SLEEPING_WORKERS": 0}, fh)
        p = run(wc, "run", "-q", "--config", cfg, "--data", os.path.join(data, "*.csv"), text=True, timeout=60)
        check(f"LOGFILE {name}: exit 2", p.returncode == 2, (p.returncode, p.stderr))
        check(f"LOGFILE {name}: named", want in p.stderr, p.stderr)
    check("LOGFILE symlink: its target is untouched", open(target).read() == "keep me\n")


def test_reader_goes_away(wc, data):
    """SIGPIPE is ignored: a closed pipe on stdout (`| head -1`) is an output error (exit 6), reported
    quietly since the reader left on purpose, never a death by signal 13."""
    p = subprocess.Popen([wc, "serial", "-q", "--out", "-", data], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    first = p.stdout.readline()
    p.stdout.close()  # like head -1: the counts are megabytes, so later writes hit EPIPE
    err = p.stderr.read().decode()
    rc = p.wait(timeout=60)
    check("| head -1: read the first top line", first.endswith(b"\n"), first)
    check("| head -1: no death by SIGPIPE, exit 6", rc == 6, rc)
    check("| head -1: quiet", err == "", err)


def test_output_errors(wc, tmp, data, files):
    """Output failures are not input failures: exit 6, the file named, no partial result left."""
    p = run(wc, "serial", "-q", "--out", "/dev/full", data, text=True)
    check("--out /dev/full: exit 6", p.returncode == 6, (p.returncode, p.stderr))
    check("--out /dev/full: names the file and the cause",
          "/dev/full: cannot write: No space left on device" in p.stderr, p.stderr)
    with open("/dev/full", "w") as full:
        p = subprocess.run([wc, "serial", "-q", data], stdout=full, stderr=subprocess.PIPE, text=True)
    check("stdout on /dev/full: exit 6", p.returncode == 6, (p.returncode, p.stderr))
    check("stdout on /dev/full: says standard output", "standard output: cannot write" in p.stderr, p.stderr)

    big = os.path.join(tmp, "big.csv")
    p = run(wc, "gen", "--files", "1", "--rows", "40000", "--seed", "3", os.path.join(tmp, "bigdir"))
    os.rename(os.path.join(tmp, "bigdir", "tweets_0001.csv"), big)
    os.rmdir(os.path.join(tmp, "bigdir"))
    with small_tmpfs(os.path.join(tmp, "full")) as mnt:
        if mnt:
            parts = os.path.join(mnt, "parts")
            p = run(wc, "split", "--rows", "5000", big, parts, text=True)
            check("split into a full disk: exit 6", p.returncode == 6, (p.returncode, p.stderr))
            check("split into a full disk: names the part",
                  "part_00" in p.stderr and "No space left on device" in p.stderr, p.stderr)
            check("split into a full disk: no part and no directory left behind", not os.path.exists(parts),
                  os.listdir(parts) if os.path.isdir(parts) else "")
    os.remove(big)


def test_outputs_are_whole_or_nothing(wc, tmp, data, exp):
    """Held-out pass: --out and split parts followed a symbolic link planted at their names, a full
    disk left a partial --out, and an unwritable --out was found only after the whole job. Every
    output is a private temporary file renamed over its name at the end: a link there is
    replaced, never followed; a failure leaves the old file and no temporary; the temporary is
    created first, so an unwritable destination fails before any work."""
    precious = os.path.join(tmp, "precious.txt")
    with open(precious, "w") as fh:
        fh.write("keep me\n")
    out = os.path.join(tmp, "linked-out.txt")
    os.symlink(precious, out)
    p = run(wc, "serial", "-q", "--out", out, data)
    check("--out on a planted link: exit 0", p.returncode == 0, p.stderr)
    check("--out on a planted link: the link's target untouched", open(precious).read() == "keep me\n")
    check("--out on a planted link: replaced by the counts", not os.path.islink(out) and open(out, "rb").read() == exp)
    parts = os.path.join(tmp, "linked-parts")
    os.mkdir(parts)
    os.symlink(precious, os.path.join(parts, "part_0001.csv"))
    p = run(wc, "split", "--rows", "1000", os.path.join(data, "tweets_0001.csv"), parts, text=True)
    check("split over a planted link: refused like any .csv there (exit 6)", p.returncode == 6, p.stderr)
    check("split over a planted link: the link's target untouched", open(precious).read() == "keep me\n")
    check("split over a planted link: nothing written",
          os.listdir(parts) == ["part_0001.csv"] and os.path.islink(os.path.join(parts, "part_0001.csv")),
          os.listdir(parts))

    with small_tmpfs(os.path.join(tmp, "full-out"), size="128k") as mnt:
        if mnt:
            full_out = os.path.join(mnt, "counts.txt")
            with open(full_out, "w") as fh:
                fh.write("the old counts\n")
            p = run(wc, "serial", "-q", "--out", full_out, data, text=True)
            check("--out on a full disk: exit 6", p.returncode == 6, (p.returncode, p.stderr))
            check("--out on a full disk: named", f"{full_out}: cannot write: No space left on device" in p.stderr,
                  p.stderr)
            check("--out on a full disk: the old file stays whole", open(full_out).read() == "the old counts\n")
            check("--out on a full disk: no temporary left", os.listdir(mnt) == ["counts.txt"], os.listdir(mnt))

    if shutil.which("redis-server") is None:
        print("SKIP run --out: no redis-server")
        return
    cfg = run_config(tmp, "unwritable-out")
    bad = os.path.join(tmp, "no", "dir", "out.txt")
    p = run(wc, "run", "--config", cfg, "--data", os.path.join(data, "*.csv"), "--out", bad, text=True, timeout=120)
    check("run --out unwritable: exit 6", p.returncode == 6, (p.returncode, p.stderr))
    check("run --out unwritable: named", f"{bad}: cannot create: No such file or directory" in p.stderr, p.stderr)
    check("run --out unwritable: found before the job started", "embedded Redis" not in p.stderr, p.stderr)


def test_split_and_gen_leave_nothing_stale(wc, tmp, data):
    """Held-out pass: a second split into the same directory left part_0003.csv of the first
    beside its two parts (the directory then counted differently from the input, exit 0); a gen
    or split that failed on a full disk left a complete tweets_0002.csv or its new empty output
    directory. split refuses a directory holding .csv files (exit 6, named); a failed gen or
    split leaves no file it wrote and no directory it created."""
    src = os.path.join(data, "tweets_0001.csv")
    so = os.path.join(tmp, "so")
    p = run(wc, "split", "--rows", "1000", src, so, text=True)
    check("split into a new directory: exit 0", p.returncode == 0, p.stderr)
    first = sorted(os.listdir(so))
    check("split --rows 1000: more than two parts", len(first) > 2, first)
    p = run(wc, "split", "--rows", "2000", src, so, text=True)
    check("split into a directory with parts: exit 6", p.returncode == 6, (p.returncode, p.stderr))
    check("split into a directory with parts: says why",
          f"{so}: already holds {len(first)} .csv file(s) (part_0001.csv" in p.stderr, p.stderr)
    check("split into a directory with parts: the first parts untouched", sorted(os.listdir(so)) == first,
          os.listdir(so))
    other = os.path.join(tmp, "so-other")
    os.mkdir(other)
    with open(os.path.join(other, "notes.txt"), "w") as fh:
        fh.write("x\n")
    p = run(wc, "split", "--rows", "2000", src, other, text=True)
    check("split into a directory without .csv files: exit 0", p.returncode == 0, p.stderr)

    # Held-out pass: gen --files 2 into a directory holding tweets_0001..0004.csv replaced files 1
    # and 2 and left 3 and 4 (a mixed data set, exit 0). gen refuses it as split does.
    go = os.path.join(tmp, "go")
    p = run(wc, "gen", "--files", "4", "--rows", "20", go, text=True)
    check("gen into a new directory: exit 0", p.returncode == 0, p.stderr)
    before = {f: open(os.path.join(go, f), "rb").read() for f in os.listdir(go)}
    p = run(wc, "gen", "--files", "2", "--rows", "10", go, text=True)
    check("gen into a directory with .csv files: exit 6", p.returncode == 6, (p.returncode, p.stderr))
    check("gen into a directory with .csv files: says why",
          f"{go}: already holds 4 .csv file(s) (tweets_0001.csv, tweets_0002.csv, tweets_0003.csv, ...); "
          "gen writes only into a new directory" in p.stderr, p.stderr)
    check("gen into a directory with .csv files: its files untouched",
          {f: open(os.path.join(go, f), "rb").read() for f in os.listdir(go)} == before, os.listdir(go))
    gother = os.path.join(tmp, "go-other")
    os.mkdir(gother)
    with open(os.path.join(gother, "notes.txt"), "w") as fh:
        fh.write("x\n")
    p = run(wc, "gen", "--files", "2", "--rows", "10", gother, text=True)
    check("gen into a directory without .csv files: exit 0", p.returncode == 0, p.stderr)

    with small_tmpfs(os.path.join(tmp, "tiny"), size="200k") as mnt:
        if mnt:
            out = os.path.join(mnt, "gen", "deeper")
            p = run(wc, "gen", "--files", "3", "--rows", "1000", "--threads", "1", out, text=True)
            check("gen on a full disk: exit 6", p.returncode == 6, (p.returncode, p.stderr))
            check("gen on a full disk: names a file", "No space left on device" in p.stderr, p.stderr)
            check("gen on a full disk: leaves nothing (no file, no directory it made)", os.listdir(mnt) == [],
                  list(os.walk(mnt)))
            os.mkdir(os.path.join(mnt, "kept"))
            p = run(wc, "gen", "--files", "3", "--rows", "1000", os.path.join(mnt, "kept"), text=True)
            check("gen on a full disk into an existing directory: exit 6", p.returncode == 6, p.stderr)
            check("gen on a full disk: the existing directory stays, empty",
                  os.listdir(os.path.join(mnt, "kept")) == [], os.listdir(os.path.join(mnt, "kept")))
            os.rmdir(os.path.join(mnt, "kept"))
            with open(os.path.join(mnt, "fill"), "wb") as fh:
                try:
                    fh.write(b"x" * 400000)
                except OSError:
                    pass
            p = run(wc, "split", "--rows", "500", src, os.path.join(mnt, "parts"), text=True)
            check("split on a full disk: exit 6", p.returncode == 6, (p.returncode, p.stderr))
            check("split on a full disk: no directory left", os.listdir(mnt) == ["fill"], os.listdir(mnt))


def as_nobody(argv):
    """argv run as the user nobody (CI runs as root), None if this process cannot switch."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return None
    nobody = pwd.getpwnam("nobody")
    return ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"] + argv


@contextlib.contextmanager
def shared_bed(prefix):
    """(bed, pub): a temporary directory another user can reach (tmp is 0700) holding `pub`, a
    shared 1777 directory as /tmp is; removed at the end."""
    bed = tempfile.mkdtemp(prefix=prefix)
    try:
        os.chmod(bed, 0o755)
        pub = os.path.join(bed, "pub")
        os.mkdir(pub)
        os.chmod(pub, 0o1777)
        yield bed, pub
    finally:
        shutil.rmtree(bed, ignore_errors=True)


@contextlib.contextmanager
def running(argv):
    """A process that runs for the block, killed and reaped at its end."""
    proc = subprocess.Popen(argv)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def check_link_races_and_chains(wc, secret):
    """Eighth held-out pass: the foreign-link check looked at the path as written and the open
    resolved it again: root's own link to nobody's link to a private file was followed (exit 0),
    and nobody swapping a link between the check and the open leaked the file 15 times in 150.
    Inputs are now resolved one component at a time and opened from that resolution."""
    with shared_bed("wc_cli_race_") as (bed, pub):
        race = os.path.join(pub, "race")
        subprocess.run(as_nobody(["mkdir", race]), check=True)
        with open(os.path.join(bed, "own.csv"), "w") as fh:
            fh.write("id,text\n1,harmless words\n")
        os.chmod(os.path.join(bed, "own.csv"), 0o644)
        subprocess.run(as_nobody(["ln", "-s", os.path.join(bed, "own.csv"), os.path.join(race, "l1")]), check=True)
        subprocess.run(as_nobody(["ln", "-s", secret, os.path.join(race, "l2")]), check=True)
        target = os.path.join(race, "in.csv")
        # Root's own link to nobody's link: the chain is walked, nobody's link checked.
        mine = os.path.join(bed, "mine.csv")
        os.symlink(os.path.join(race, "l2"), mine)
        p = run(wc, "serial", "--out", "-", mine, text=True)
        check("root's link to another user's link to a private file: refused",
              p.returncode == 1 and "reached through a symbolic link of another user" in p.stderr
              and "TOPSECRET" not in p.stdout, (p.returncode, p.stderr))
        t = os.path.join(race, "t")
        with running(as_nobody(["sh", "-c", f"while :; do cp -P {race}/l1 {t}; mv -T {t} {target}; "
                                            f"cp -P {race}/l2 {t}; mv -T {t} {target}; done"])):
            leaked = 0
            for _ in range(100):
                p = run(wc, "serial", "--out", "-", target, text=True)
                leaked += "TOPSECRET" in p.stdout
            check("a link swapped between the check and the open: the private file never counted", leaked == 0,
                  f"{leaked} of 100 runs counted it")
            # Ninth pass: run planned the path of one resolution with another's stamp and check (the
            # secret published 1 run in 5 to 42). Its plan now keeps what was checked and opened.
            if shutil.which("redis-server"):
                cfg = config_file(os.path.join(bed, "run.json"), bed, {})
                out = os.path.join(bed, "out.tsv")
                leaked = 0
                for _ in range(20):
                    p = run(wc, "run", "-q", "--config", cfg, "--data", target, "--out", out, text=True, timeout=60)
                    leaked += "TOPSECRET" in p.stdout or (p.returncode == 0 and "TOPSECRET" in open(out).read())
                check("run on a link swapped while it is planned: the private file never counted", leaked == 0,
                      f"{leaked} of 20 runs counted it")


def hold_fifo(fifo):
    """A process holding `fifo` open for reading and never reading (read-write open: no wait for a
    writer), returned once it has it open."""
    holder = subprocess.Popen(["sh", "-c", f"exec sleep 600 <> {fifo}"])
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            if os.readlink(f"/proc/{holder.pid}/fd/0") == fifo:
                break
        except OSError:
            pass
        time.sleep(0.02)
    return holder


def sigterm_and_wait(p, timeout):
    """SIGTERM to `p` (killed after `timeout` s): (whether it was still running, its exit code,
    seconds from the signal to the exit)."""
    alive = p.poll() is None
    t0 = time.time()
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
    return alive, rc, time.time() - t0


def test_outputs_third_pass(wc, tmp, data, exp):
    """Third held-out pass: gen/split failed for a new one-component relative OUTDIR; gen and split
    killed by a signal left temporary files (another thread was creating one) and the directories
    they made; an --out the final rename could not replace (another user's file in /tmp, chattr
    +i) failed only after the whole count; root wrote the counts into a FIFO another user planted
    in /tmp; --out naming an input replaced it with its counts (exit 0); `--out -` mixed the top
    lines into the counts; a temporary left by a SIGKILLed process stayed forever; `run` blocked
    on a reader that does not read ignored SIGTERM."""
    # One-component relative output directories.
    p = run(wc, "gen", "--files", "2", "--rows", "100", "relgen", cwd=tmp, text=True)
    check("gen into a new relative one-component directory: exit 0", p.returncode == 0, p.stderr)
    check("gen into relgen: its files", sorted(os.listdir(os.path.join(tmp, "relgen"))) ==
          ["tweets_0001.csv", "tweets_0002.csv"], p.stderr)
    p = run(wc, "split", "--rows", "1000", os.path.join(data, "tweets_0001.csv"), "relsplit", cwd=tmp, text=True)
    check("split into a new relative one-component directory: exit 0", p.returncode == 0, p.stderr)

    # Signals: nothing left, also what another thread was creating and the directories made.
    big = os.path.join(tmp, "bigsrc")
    run(wc, "gen", "--files", "1", "--rows", "150000", "--seed", "3", big)
    for i, (sig, delay) in enumerate([(signal.SIGTERM, 0.15), (signal.SIGINT, 0.3), (signal.SIGHUP, 0.5),
                                      (signal.SIGUSR1, 0.2), (signal.SIGTERM, 0.4)]):
        for what, argv in (("gen", ["gen", "--files", "400", "--rows", "1000", os.path.join(tmp, f"g{i}", "deep")]),
                           ("split", ["split", "--rows", "50", os.path.join(big, "tweets_0001.csv"),
                                      os.path.join(tmp, f"s{i}", "deep")])):
            p = subprocess.Popen([wc] + argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(delay / (3 if what == "split" else 1))
            p.send_signal(sig)
            rc = p.wait(timeout=30)
            top = os.path.join(tmp, f"{what[0]}{i}")
            left = [os.path.join(r, f) for r, ds, fs in os.walk(top) for f in fs + ds] if os.path.exists(top) else []
            check(f"{what} stopped by {sig.name}: died of it", rc == -sig, rc)
            check(f"{what} stopped by {sig.name}: nothing left (files, temporaries, directories it made)",
                  not os.path.exists(top), left[:5])

    # Targets the final rename could not replace: refused at once.
    shared = tempfile.mkdtemp(prefix="wc_cli_sticky_")
    try:
        os.chmod(shared, 0o1777)
        roots = os.path.join(shared, "roots.txt")
        with open(roots, "w") as fh:
            fh.write("root's file\n")
        cmd = as_nobody([wc, "serial", "-q", "--out", roots, data])
        if cmd is None:
            print("SKIP --out over another user's file: not root")
        else:
            os.chmod(tmp, 0o755)
            t0 = time.time()
            p = run(*cmd, text=True)
            check("--out over another user's file in a sticky directory: exit 6 at once",
                  p.returncode == 6 and time.time() - t0 < 5, (p.returncode, p.stderr))
            check("--out over another user's file in a sticky directory: says why",
                  "cannot replace it: it belongs to another user (uid 0) in a directory with the sticky bit"
                  in p.stderr, p.stderr)
            check("--out over another user's file: untouched, no temporary",
                  open(roots).read() == "root's file\n" and os.listdir(shared) == ["roots.txt"], os.listdir(shared))
            fifo = os.path.join(shared, "planted.tsv")
            subprocess.run(as_nobody(["mkfifo", "-m", "666", fifo]), check=True)
            reader = subprocess.Popen(as_nobody(["sh", "-c", f"exec cat < {fifo}"]), stdout=subprocess.PIPE)
            try:
                time.sleep(0.3)
                p = run(wc, "serial", "-q", "--out", fifo, data, text=True, timeout=30)
                check("--out on another user's FIFO in /tmp: exit 6", p.returncode == 6, (p.returncode, p.stderr))
                check("--out on another user's FIFO in /tmp: says why",
                      "a named pipe that belongs to another user (uid" in p.stderr, p.stderr)
            finally:
                reader.kill()
                got = reader.communicate()[0]
            check("--out on another user's FIFO: its owner read nothing", got == b"", len(got))
            # Fifth pass: an input link another user planted in a shared sticky directory, to a
            # private file of root's, was followed (its words published in a 0644 --out).
            private = tempfile.mkdtemp(prefix="wc_cli_private_")
            try:
                secret = os.path.join(private, "secret.csv")
                with open(secret, "w") as fh:
                    fh.write("id,text\n1,TOPSECRET hunter2\n")
                os.chmod(secret, 0o600)
                inputs = os.path.join(shared, "in")
                os.mkdir(inputs)
                os.chmod(inputs, 0o1777)
                shutil.copy(os.path.join(data, "tweets_0001.csv"), os.path.join(inputs, "a.csv"))
                subprocess.run(as_nobody(["ln", "-s", secret, os.path.join(inputs, "b.csv")]), check=True)
                p = run(wc, "serial", "--out", "-", inputs, text=True)
                check("another user's input link in a sticky directory: exit 1", p.returncode == 1,
                      (p.returncode, p.stderr))
                check("another user's input link: named, not followed",
                      "b.csv: reached through a symbolic link of another user" in p.stderr, p.stderr)
                check("another user's input link: the private words are not counted", "TOPSECRET" not in p.stdout)
                # Sixth pass: the same link in that user's own (not sticky) directory, or a link to
                # the private directory, was followed; split copied the file into a 0644 part.
                nd = os.path.join(shared, "nd")
                subprocess.run(as_nobody(["mkdir", "-m", "755", nd]), check=True)
                subprocess.run(as_nobody(["ln", "-s", secret, os.path.join(nd, "x.csv")]), check=True)
                subprocess.run(as_nobody(["ln", "-s", private, os.path.join(nd, "sub")]), check=True)
                for label, argv in (("a file link in its own directory", ["serial", "--out", "-", nd]),
                                    ("a directory link", ["serial", "--out", "-", os.path.join(nd, "*", "*.csv")]),
                                    ("split through the link", ["split", "--rows", "1", os.path.join(nd, "x.csv"),
                                                                os.path.join(tmp, "split-secret")])):
                    p = run(wc, *argv, text=True)
                    check(f"another user's input link, {label}: refused",
                          p.returncode != 0 and "reached through a symbolic link of another user" in p.stderr
                          and "TOPSECRET" not in p.stdout, (p.returncode, p.stderr))
                check("split through another user's link: no part written", not os.path.exists(os.path.join(tmp, "split-secret")))
                # Seventh pass: a file readable by all (0644) in root's private (0700) directory
                # was taken as one the link's owner could read: the directories above count too.
                # A file that user can reach is still followed.
                behind = os.path.join(private, "open.csv")
                with open(behind, "w") as fh:
                    fh.write("id,text\n1,TOPSECRET behind a closed directory\n")
                os.chmod(behind, 0o644)
                reachable = tempfile.mkdtemp(prefix="wc_cli_reachable_")
                try:
                    os.chmod(reachable, 0o755)
                    shutil.copy(os.path.join(data, "tweets_0001.csv"), os.path.join(reachable, "r.csv"))
                    os.chmod(os.path.join(reachable, "r.csv"), 0o644)
                    nd2 = os.path.join(shared, "nd2")
                    subprocess.run(as_nobody(["mkdir", "-m", "755", nd2]), check=True)
                    subprocess.run(as_nobody(["ln", "-s", behind, os.path.join(nd2, "b.csv")]), check=True)
                    subprocess.run(as_nobody(["ln", "-s", os.path.join(reachable, "r.csv"), os.path.join(nd2, "r.csv")]),
                                   check=True)
                    p = run(wc, "serial", "--out", "-", nd2, text=True)
                    check("another user's link to a 0644 file in a 0700 directory: refused, the other link followed",
                          p.returncode == 1 and "b.csv: reached through a symbolic link of another user" in p.stderr
                          and "r.csv" not in p.stderr and "TOPSECRET" not in p.stdout and p.stdout.strip() != "",
                          (p.returncode, p.stderr))
                finally:
                    shutil.rmtree(reachable, ignore_errors=True)
                check_link_races_and_chains(wc, secret)
            finally:
                shutil.rmtree(private, ignore_errors=True)
        imm = os.path.join(tmp, "immutable.tsv")
        with open(imm, "w") as fh:
            fh.write("old\n")
        if run("chattr", "+i", imm).returncode != 0:
            print("SKIP chattr +i: not supported here")
        else:
            try:
                t0 = time.time()
                p = run(wc, "serial", "-q", "--out", imm, data, text=True)
                check("--out over an immutable file: exit 6 at once", p.returncode == 6 and time.time() - t0 < 5,
                      (p.returncode, p.stderr))
                check("--out over an immutable file: says why", "immutable or append-only (chattr)" in p.stderr,
                      p.stderr)
            finally:
                run("chattr", "-i", imm)
    finally:
        shutil.rmtree(shared, ignore_errors=True)

    # --out naming an input, --out -.
    copy = os.path.join(tmp, "inputs-copy")
    shutil.copytree(data, copy)
    victim = os.path.join(copy, "tweets_0002.csv")
    before = open(victim, "rb").read()
    expect_usage(wc, "serial --out an input file", ["serial", "-q", "--out", victim, copy],
                 [f"--out {victim} is the input file"])
    check("serial --out an input file: the input untouched", open(victim, "rb").read() == before)
    p = run(wc, "serial", "--out", "-", data)
    check("serial --out -: standard output is the counts file alone", p.returncode == 0 and p.stdout == exp,
          p.stdout[:200])

    # A standard error that cannot take the summary: exit 6, as for standard output.
    for what, argv in (("gen", ["gen", "--files", "2", "--rows", "100", os.path.join(tmp, "gen-full-stderr")]),
                       ("split", ["split", "--rows", "1000", os.path.join(data, "tweets_0001.csv"),
                                  os.path.join(tmp, "split-full-stderr")]),
                       ("serial", ["serial", data])):
        with open("/dev/full", "w") as full:
            p = subprocess.run([wc] + argv, stdout=subprocess.DEVNULL, stderr=full)
        check(f"{what} 2>/dev/full: exit 6", p.returncode == 6, p.returncode)

    # Fifth pass: an argument error echoed a value's control bytes raw (CLI11's own message).
    esc = "\x1b[2J"
    for name, argv in (("--mode value", ["run", "--mode", esc]), ("unknown option", ["run", "--" + esc]),
                       ("extra argument", ["status", "extra" + esc])):
        p = run(wc, *argv)
        check(f"usage error, {name}: exit 2, control bytes escaped",
              p.returncode == 2 and b"\x1b" not in p.stderr and b"\\x1b" in p.stderr, (p.returncode, p.stderr))

    # Config errors name the file, also for an enumeration and for keys that contradict each other.
    for name, keys, want in (("MODE", {"MODE": "Shuffle"}, 'config key MODE must be "direct" or "shuffle"'),
                             ("IN = COUNT", {"IN": "x", "COUNT": "x"}, 'COUNT "x" collides')):
        bad = os.path.join(tmp, "bad-enum.json")
        with open(bad, "w") as fh:
            json.dump(keys, fh)
        expect_usage(wc, f"config {name}", ["run", "--config", bad, "--data", data], [f"{bad}: ", want])

    # A temporary left by a process that died of SIGKILL goes with the next write of that output.
    out = os.path.join(tmp, "after-kill.tsv")
    dead = subprocess.Popen(["sleep", "0"])
    dead.wait()
    stale = os.path.join(tmp, f".after-kill.tsv.{dead.pid}-0123456789ab.tmp")
    alive = os.path.join(tmp, f".after-kill.tsv.{os.getpid()}-0123456789ab.tmp")
    for f in (stale, alive):
        with open(f, "w") as fh:
            fh.write("partial")
    p = run(wc, "serial", "-q", "--out", out, data)
    check("a dead process's temporary: removed by the next write", not os.path.exists(stale), os.listdir(tmp))
    check("a live process's temporary: kept", os.path.exists(alive))
    os.remove(alive)
    # Tenth pass: --out /dev/stdout (or /dev/fd/N) was opened again: a new open file at offset 0,
    # written over what the redirection or the top lines put there (`>> file` lost its content,
    # exit 0); /dev/fd/N open on an input replaced the input. A descriptor's name is that
    # descriptor; standard output is `-`; an input behind a descriptor is refused.
    ref = os.path.join(tmp, "ref-dev.tsv")
    run(wc, "serial", "-q", "--out", ref, data)
    appended = os.path.join(tmp, "appended.tsv")
    with open(appended, "w") as fh:
        fh.write("PRECIOUS\n")
    with open(appended, "a") as fh:
        p = subprocess.run([wc, "serial", "-q", "--out", "/dev/stdout", data], stdout=fh, stderr=subprocess.PIPE)
    check("--out /dev/stdout >> file: exit 0, the file's content kept, the counts alone after it",
          p.returncode == 0 and open(appended, "rb").read() == b"PRECIOUS\n" + open(ref, "rb").read(),
          (p.returncode, open(appended, "rb").read()[:80]))
    fd_out = os.path.join(tmp, "fd3.tsv")
    p = subprocess.run(["sh", "-c", f'exec "$0" serial -q --out /dev/fd/3 "$1" 3>"$2"', wc, data, fd_out],
                       capture_output=True)
    check("--out /dev/fd/3: the counts through descriptor 3", p.returncode == 0 and
          open(fd_out, "rb").read() == open(ref, "rb").read(), (p.returncode, p.stderr))
    # An input through /proc/self/fd/N (a link /proc reports as 0 bytes long) was "Too many
    # levels of symbolic links": it is the file descriptor N is open on.
    one = os.path.join(data, "tweets_0001.csv")
    p = subprocess.run(["sh", "-c", 'exec "$0" serial -q --top 0 --out - /proc/self/fd/5 5<"$1"', wc, one],
                       capture_output=True)
    q = run(wc, "serial", "-q", "--top", "0", "--out", "-", one)
    check("an input through /proc/self/fd/N: counted as its file", p.returncode == 0 and p.stdout == q.stdout,
          (p.returncode, p.stderr))
    victim_in = os.path.join(tmp, "fd-input")
    os.makedirs(victim_in, exist_ok=True)
    shutil.copy(os.path.join(data, "tweets_0001.csv"),
                os.path.join(victim_in, "a.csv"))
    before_fd = open(os.path.join(victim_in, "a.csv"), "rb").read()
    p = subprocess.run(["sh", "-c", f'exec "$0" serial -q --out /dev/fd/3 "$1" 3<>"$1/a.csv"', wc, victim_in],
                       capture_output=True, text=True)
    check("--out /dev/fd/3 open on an input: exit 2, the input untouched",
          p.returncode == 2 and "is the input file" in p.stderr
          and open(os.path.join(victim_in, "a.csv"), "rb").read() == before_fd, (p.returncode, p.stderr))
    # Eleventh pass: standard output open on an input (`--out - >> input`) appended the counts
    # to that input, exit 0: refused like its name.
    p = subprocess.run(["sh", "-c", 'exec "$0" serial -q --out - "$1" >>"$1"', wc,
                        os.path.join(victim_in, "a.csv")], capture_output=True, text=True)
    check("--out - with standard output open on an input: exit 2, the input untouched",
          p.returncode == 2 and "is the input file" in p.stderr
          and open(os.path.join(victim_in, "a.csv"), "rb").read() == before_fd, (p.returncode, p.stderr))

    # Sixth pass: --out naming a FIFO nobody reads said only ENXIO ("No such device or address").
    lonely = os.path.join(tmp, "lonely.fifo")
    os.mkfifo(lonely)
    p = run(wc, "serial", "-q", "--out", lonely, data)
    check("--out a FIFO nobody reads: exit 6, said so",
          p.returncode == 6 and b"a FIFO that no process reads: start its reader first" in p.stderr,
          (p.returncode, p.stderr))

    if shutil.which("redis-server") is None:
        print("SKIP run output stops: no redis-server")
        return
    cfg = run_config(tmp, "stalled-reader")
    d = os.path.dirname(cfg)
    expect_usage(wc, "run --out an input file", ["run", "-q", "--config", cfg, "--data", copy, "--out", victim],
                 [f"--out {victim} is the input file"])
    check("run --out an input file: the input untouched", open(victim, "rb").read() == before)
    # A reader that does not read: --out on a FIFO, and standard output.
    fifo = os.path.join(d, "out.fifo")
    os.mkfifo(fifo)
    holder = hold_fifo(fifo)
    try:
        for label, argv, stdout in (("--out on a FIFO", ["--out", fifo], subprocess.DEVNULL),
                                    ("--out - to a pipe", ["--out", "-"], subprocess.PIPE)):
            p = subprocess.Popen([wc, "run", "-q", "--config", cfg, "--data", data] + argv,
                                 stdout=stdout, stderr=subprocess.PIPE)
            # The job ends (its worker exits), then the counts go out and block: job_done comes
            # only after the output.
            deadline = time.time() + 60
            log = os.path.join(d, "wc.log")  # made by this run: a refused one writes no log
            while time.time() < deadline and " worker_exited " not in (open(log).read() if os.path.exists(log) else ""):
                time.sleep(0.1)
            time.sleep(2)
            alive, rc, took = sigterm_and_wait(p, 10)
            check(f"run {label}: still writing when stopped", alive, rc)
            check(f"run {label}, reader not reading: SIGTERM ends it (143) at once",
                  rc == 143 and took < 3, (rc, round(took, 1), p.stderr.read()[-500:]))
    finally:
        holder.kill()
        holder.wait()
    # Fifth pass: a directory put at --out's name while the job ran made the finished job fail at
    # the end with its result lost. The result is kept under its temporary name, said.
    cfg_slow = run_config(tmp, "out-taken", N_NORMAL_WORKERS=0, N_SLEEPING_WORKERS=1)
    taken = os.path.join(os.path.dirname(cfg_slow), "o40")
    p = subprocess.Popen([wc, "run", "-q", "--config", cfg_slow, "--data", data, "--out", taken],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(1)
    os.mkdir(taken)
    with open(os.path.join(taken, "x"), "w"):
        pass
    _, err = p.communicate(timeout=120)
    kept = re.search(r"the counts are kept in (\S+)\)", err)
    check("--out taken by a directory mid-run: exit 6, the result kept", p.returncode == 6 and kept, (p.returncode, err))
    if kept:
        check("--out taken by a directory mid-run: the kept file is the whole result",
              open(kept.group(1), "rb").read() == exp, kept.group(1))

    # Ninth pass: --out's directory removed mid-run: the message said the counts were kept in a
    # temporary file that was gone with it.
    gone_dir = os.path.join(os.path.dirname(cfg_slow), "od")
    os.mkdir(gone_dir)
    p = subprocess.Popen([wc, "run", "-q", "--config", cfg_slow, "--data", data, "--out", os.path.join(gone_dir, "r.tsv")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(1)
    shutil.rmtree(gone_dir)
    _, err = p.communicate(timeout=120)
    check("--out's directory removed mid-run: exit 6, not said to be kept",
          p.returncode == 6 and "kept in" not in err and "its temporary file is gone" in err, (p.returncode, err))

    # A LOGFILE that is a FIFO of this user whose reader does not read: a signal still stops run.
    many = os.path.join(tmp, "many-small")
    run(wc, "gen", "--files", "400", "--rows", "5", many)
    log_fifo = os.path.join(d, "log.fifo")
    os.mkfifo(log_fifo)
    cfg = config_file(os.path.join(d, "fifo-log.json"), d, {"LOGFILE": log_fifo, "COMMIT_MAX_TASKS": 1})
    holder = hold_fifo(log_fifo)
    try:
        p = subprocess.Popen([wc, "run", "-q", "--config", cfg, "--data", many], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        time.sleep(4)  # 400 tasks' events: far more than a pipe holds
        alive, rc, took = sigterm_and_wait(p, 15)
        err = p.stderr.read().decode(errors="replace")
        check("LOGFILE a FIFO not read: run still going after 4 s", alive, (rc, err[-300:]))
        check("LOGFILE a FIFO not read: SIGTERM ends it (143) at once", rc == 143 and took < 5,
              (rc, round(took, 1), err[-300:]))
        check("LOGFILE a FIFO not read: says the log misses events", "its reader does not read" in err, err[-300:])
    finally:
        holder.kill()
        holder.wait()


def config_file(path, d, keys):
    """Writes a config for `run` to `path`: one normal worker, LOGFILE and STATE_DIR under d."""
    c = {"LOGFILE": os.path.join(d, "wc.log"), "STATE_DIR": os.path.join(d, "state"), "N_NORMAL_WORKERS": 1,
         "N_CRASHING_WORKERS": 0, "N_SLEEPING_WORKERS": 0}
    c.update(keys)
    with open(path, "w") as fh:
        json.dump(c, fh)
    return path


def run_config(tmp, name, **keys):
    """A config for `run` in its own directory tmp/<name> (config.json, log, state)."""
    d = os.path.join(tmp, name)
    os.makedirs(d, exist_ok=True)
    return config_file(os.path.join(d, "config.json"), d, keys)


def expect_usage(wc, name, args, wants, env=None, cwd=None):
    """`args` is a usage error: exit 2 at once, with every string of `wants` on stderr."""
    t0 = time.time()
    try:
        p = run(wc, *args, timeout=30, env=env, cwd=cwd)
    except subprocess.TimeoutExpired as e:
        p = subprocess.CompletedProcess(args, None, e.stdout or b"", e.stderr or b"")
    err = p.stderr.decode(errors="replace")
    check(f"{name}: exit 2 at once", p.returncode == 2 and time.time() - t0 < 10,
          (p.returncode, round(time.time() - t0, 1), err))
    for want in wants:
        check(f"{name}: says {want!r}", want in err, err)
    return p


def write_config(tmp, name, **keys):
    """A config tmp/<name>.json for `run`, log and state in tmp, Redis retried for 10 s."""
    return config_file(os.path.join(tmp, name + ".json"), tmp, {"REDIS_RETRY_SECONDS": 10, **keys})


def processes_naming(marker):
    """PIDs of processes whose command line contains `marker` (workers carry their LOGFILE)."""
    pids = []
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if marker.encode() in fh.read():
                    pids.append(int(pid))
        except (OSError, ValueError):
            pass
    return pids


def embedded_redis_alive(state):
    """Whether an embedded redis-server recorded under `state` (job-*/endpoint: port pid) runs."""
    for job in os.listdir(state) if os.path.isdir(state) else []:
        try:
            with open(os.path.join(state, job, "endpoint")) as fh:
                pid = int(fh.read().split()[1])
            os.kill(pid, 0)
            return True
        except (OSError, ValueError, IndexError):
            pass
    return False


def test_run_stops_cleanly(wc, tmp, data):
    """Held-out pass: SIGUSR1 (and the other terminating signals beside SIGINT/SIGTERM) killed `run`
    outright; SIGTERM was ignored while `run` waited for a stopped or unreachable Redis; and
    `run 2>&1 | head -1` ended without the clean stop. Each gets the clean stop: workers and Redis
    stopped, the job kept for a rerun, no temporary --out left, exit 128 + signal (6 for the
    reader that went away)."""
    if shutil.which("redis-server") is None:
        print("SKIP run stops: no redis-server")
        return
    glob = os.path.join(data, "*.csv")
    # A job that lasts: one sleeping worker, 1 s per task.
    cfg = run_config(tmp, "usr1", N_NORMAL_WORKERS=0, N_SLEEPING_WORKERS=1)
    d = os.path.dirname(cfg)
    out = os.path.join(d, "out.txt")
    p = subprocess.Popen([wc, "run", "--config", cfg, "--data", glob, "--out", out],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stderr.readline()  # "embedded Redis at ...": the job is being created
    time.sleep(0.5)
    p.send_signal(signal.SIGUSR1)
    try:
        rc = p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = "no exit in 20 s"
    check("SIGUSR1: exit 138", rc == 128 + signal.SIGUSR1, rc)
    check("SIGUSR1: no worker left", not processes_naming(d), processes_naming(d))
    check("SIGUSR1: no Redis left", not embedded_redis_alive(os.path.join(d, "state")))
    check("SIGUSR1: the job is kept for a rerun", os.listdir(os.path.join(d, "state")), d)
    check("SIGUSR1: no --out, no temporary", os.listdir(d) == ["config.json", "state", "wc.log"] or
          sorted(os.listdir(d)) == ["config.json", "state", "wc.log"], os.listdir(d))

    # Waiting for Redis: unreachable (the REDIS_RETRY_SECONDS loop), then stopped (SIGSTOP).
    cfg = run_config(tmp, "wait", REDIS_RETRY_SECONDS=60)
    port = free_port()
    r = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                          "--dir", os.path.dirname(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for label, url, sig, stop_redis in (("unreachable", f"redis://127.0.0.1:{free_port()}", signal.SIGTERM, False),
                                            ("stopped", f"redis://127.0.0.1:{port}", signal.SIGINT, True)):
            if stop_redis:
                time.sleep(0.3)  # listening
                r.send_signal(signal.SIGSTOP)
            p = subprocess.Popen([wc, "run", "-q", "--config", cfg, "--data", glob, "--redis", url],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(0.7)  # planned, now waiting for Redis
            t0 = time.time()
            p.send_signal(sig)
            try:
                rc = p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                rc = "no exit in 20 s"
            took = time.time() - t0
            check(f"Redis {label}: exit {128 + sig}", rc == 128 + sig, (rc, p.stderr.read()))
            check(f"Redis {label}: the stop is seen at once", took < 3, f"{took:.1f} s")
    finally:
        r.send_signal(signal.SIGCONT)
        r.kill()
        r.wait()

    # A reader that goes away: `run ... 2>&1 | head -1`.
    cfg = run_config(tmp, "pipe", N_NORMAL_WORKERS=0, N_SLEEPING_WORKERS=1)
    d = os.path.dirname(cfg)
    p = subprocess.Popen([wc, "run", "--config", cfg, "--data", glob, "--out", os.path.join(d, "out.txt")],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    first = p.stdout.readline()
    p.stdout.close()
    try:
        rc = p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = "no exit in 20 s"
    check("| head -1: read a line", first.startswith(b"embedded Redis"), first)
    check("| head -1: exit 6, no death by a signal", rc == 6, rc)
    log = open(os.path.join(d, "wc.log")).read()
    check("| head -1: the clean stop (not an exception's unwinding)", " WARN interrupted signal=13\n" in log, log[-600:])
    check("| head -1: no worker left", not processes_naming(d), processes_naming(d))
    check("| head -1: no Redis left", not embedded_redis_alive(os.path.join(d, "state")))
    check("| head -1: no --out, no temporary", sorted(os.listdir(d)) == ["config.json", "state", "wc.log"],
          os.listdir(d))


def test_logfile_survives_a_run_that_ends_before_its_job(wc, tmp):
    """Held-out pass: `run` truncated LOGFILE before it knew its inputs: a run that exited 3 (no
    input) emptied the log of the run before it."""
    cfg = run_config(tmp, "keep-log")
    log = os.path.join(os.path.dirname(cfg), "wc.log")
    with open(log, "w") as fh:
        fh.write("2026-01-01T00:00:00.000Z coordinator[1] job_done tasks=3\n")
    p = run(wc, "run", "--config", cfg, "--data", os.path.join(tmp, "nothing", "*.csv"), text=True, timeout=60)
    check("LOGFILE kept: exit 3", p.returncode == 3, (p.returncode, p.stderr))
    check("LOGFILE kept: the previous run's log is still there",
          open(log).read().startswith("2026-01-01T00:00:00.000Z coordinator[1] job_done tasks=3\n"), open(log).read())


def test_out_naming_logfile_is_refused_before_anything_runs(wc, tmp):
    """Held-out pass 16: `run --out` naming LOGFILE replaced the log with the counts at the end.
    Refused (exit 2) before the log is touched, by any spelling of the same file."""
    cfg = run_config(tmp, "out-is-log")
    data = os.path.join(tmp, "out-is-log", "data")
    run(wc, "gen", "--files", "1", "--rows", "50", data)
    log = os.path.join(os.path.dirname(cfg), "wc.log")
    with open(log, "w") as fh:
        fh.write("the log before\n")
    for spelling in (log, os.path.join(os.path.dirname(cfg), ".", "wc.log"), os.path.relpath(log)):
        p = run(wc, "run", "--config", cfg, "--data", os.path.join(data, "*.csv"), "--out", spelling, text=True,
                timeout=60)
        check(f"--out {spelling} = LOGFILE: exit 2, said", p.returncode == 2 and " is LOGFILE " in p.stderr,
              (p.returncode, p.stderr))
    check("--out = LOGFILE: the log untouched", open(log).read() == "the log before\n", open(log).read()[:300])
    # Held-out pass 21: a LOGFILE in a job's own state directory went into its redis.conf and was
    # removed with the job.
    for job_dir in ("job-0123456789abcdef", "job-0123456789abcdef.Ab3xYz", "job-" + "a" * 32):
        inner = run_config(tmp, "log-in-" + job_dir, LOGFILE=os.path.join(tmp, "state", job_dir, "wc.log"))
        expect_usage(wc, f"LOGFILE in {job_dir}", ["run", "--config", inner, "--data", os.path.join(data, "*.csv")],
                     ["is in a job's own directory", job_dir])
        # Held-out pass 26: --out there (at any depth) was taken, and the finished counts were
        # lost with the directory at the end (exit 6 after the whole job).
        for out in (os.path.join(tmp, "state", job_dir, "counts.txt"),
                    os.path.join(tmp, "spill", job_dir, "sub", "counts.txt")):
            expect_usage(wc, f"--out {out}", ["run", "--config", cfg, "--data", os.path.join(data, "*.csv"),
                                               "--out", out], ["--out ", "is in a job's own directory", job_dir])
    # Held-out pass 27: through a link of one's own to the job's directory, both were taken
    # (the log and the counts removed with the job).
    real = os.path.join(tmp, "alias-target", "job-0123456789abcdef")  # (tmp/state is other tests')
    os.makedirs(real, exist_ok=True)
    alias = os.path.join(tmp, "alias")
    os.symlink(real, alias)
    expect_usage(wc, "--out through a link to a job's directory",
                 ["run", "--config", cfg, "--data", os.path.join(data, "*.csv"), "--out", os.path.join(alias, "c.txt")],
                 ["is in a job's own directory", "job-0123456789abcdef"])
    inner = run_config(tmp, "log-via-alias", LOGFILE=os.path.join(alias, "wc.log"))
    expect_usage(wc, "LOGFILE through a link to a job's directory",
                 ["run", "--config", inner, "--data", os.path.join(data, "*.csv")], ["is in a job's own directory"])
    # ... and LOGFILE or --out naming the config file: it was written over (exit 0).
    with open(cfg) as fh:
        before = fh.read()
    selfish = run_config(tmp, "log-is-config")
    with open(selfish) as fh:
        keys = json.load(fh)
    keys["LOGFILE"] = selfish
    with open(selfish, "w") as fh:
        json.dump(keys, fh)
    with open(selfish) as fh:
        selfish_before = fh.read()
    expect_usage(wc, "LOGFILE is the config", ["run", "--config", selfish, "--data", os.path.join(data, "*.csv")],
                 ["is the config file"])
    check("LOGFILE is the config: the config untouched", open(selfish).read() == selfish_before, open(selfish).read()[:200])
    expect_usage(wc, "--out is the config", ["run", "--config", cfg, "--data", os.path.join(data, "*.csv"), "--out", cfg],
                 ["--out ", "is the config file"])
    check("--out is the config: the config untouched", open(cfg).read() == before, open(cfg).read()[:200])
    os.remove(log)  # not there yet: the same path all the same
    p = run(wc, "run", "--config", cfg, "--data", os.path.join(data, "*.csv"), "--out", log, text=True, timeout=60)
    check("--out = a LOGFILE not made yet: exit 2", p.returncode == 2 and " is LOGFILE " in p.stderr,
          (p.returncode, p.stderr))


def test_standard_streams_on_an_input_are_refused(wc, tmp):
    """Held-out pass 22: `serial data 2>> data/x.csv` (and split, run) appended the summary to the
    input, exit 0; `serial data >> data/x.csv` its top lines. Either stream open on an input is
    refused (exit 2) before anything is written; for standard error the refusal is said nowhere
    (it would go into the input)."""
    d = os.path.join(tmp, "streams")
    data = os.path.join(d, "data")
    run(wc, "gen", "--files", "2", "--rows", "50", data)
    victim = os.path.join(data, "tweets_0001.csv")
    before = open(victim, "rb").read()
    cfg = run_config(tmp, "streams-run", DATA_PATH=os.path.join(data, "*.csv"))
    for name, args in (("serial", ["serial", data]), ("split", ["split", "--rows", "10", victim, os.path.join(d, "parts")]),
                       ("run", ["run", "--config", cfg])):
        for stream in ("stdout", "stderr"):
            with open(victim, "ab") as fh:
                p = subprocess.run([wc] + args, stdout=fh if stream == "stdout" else subprocess.DEVNULL,
                                   stderr=fh if stream == "stderr" else subprocess.PIPE, timeout=60)
            check(f"{name} with {stream} >> an input: exit 2, the input untouched",
                  p.returncode == 2 and open(victim, "rb").read() == before, (p.returncode, p.stderr))


def job_dirs(state):
    return sorted(d for d in os.listdir(state) if d.startswith("job-")) if os.path.isdir(state) else []


def test_numeric_options_are_bounded(wc, tmp, data):
    """Issue 12 (held-out pass): run --workers 100000 exited 70 (fork failed), serial --threads
    100000 and gen --rows -5 aborted (134), gen --files -1 exited 70, serial --top -1 printed
    everything, top -5 went on, serial --column '' counted 0 words. Each is a usage error naming
    the option and its range, before anything runs, with the range in --help."""
    gen_out = os.path.join(tmp, "gen-bad")
    cases = [
        (["run", "--workers", "100000"], "--workers must be an integer from 0 to 256, got 100000"),
        (["serial", "--threads", "100000", data], "--threads must be an integer from 0 to 256, got 100000"),
        (["gen", "--threads", "-1", gen_out], "--threads must be an integer from 0 to 256, got -1"),
        (["gen", "--rows", "-5", gen_out], "--rows must be an integer from 0 to 1000000, got -5"),
        (["gen", "--files", "-1", gen_out], "--files must be an integer from 1 to 100000, got -1"),
        (["gen", "--seed", "-1", gen_out], "--seed must be an integer from 0 to"),
        (["serial", "--top", "-1", data], "--top must be an integer from 0 to 100000000, got -1"),
        (["top", "-5"], "top N must be an integer from 0 to 100000000, got -5"),
        (["serial", "--column", "", data], "--column must be a non-empty string"),
        (["serial", "--chunk-bytes", "0x10", data], "--chunk-bytes must be an integer from 1 to"),
        (["split", "--rows", "-1", os.path.join(data, "x.csv"), gen_out], "--rows must be an integer from 1 to"),
        (["worker", "--redis", "redis://127.0.0.1:1", "--claim-idle-ms", "0"],
         "--claim-idle-ms must be an integer from 1 to 86400000, got 0"),
    ]
    for args, want in cases:
        expect_usage(wc, " ".join(args[:3]), args, [want])
    check("gen with a bad option made no directory", not os.path.exists(gen_out))
    for cmd, want in (("serial", "--threads INT=0"), ("serial", "(0 to 256)"), ("run", "(0 to 256)"),
                      ("gen", "(0 to 1000000)"), ("top", "(0 to 100000000)"),
                      # Held-out pass 21: the worker's numeric flags showed no range.
                      ("worker", "in ms (1 to 86400000)"), ("worker", "per commit (1 to 100000)"),
                      ("worker", "Redis (a number of seconds from 1 to 86400)")):
        p = run(wc, cmd, "--help", text=True)
        check(f"{cmd} --help shows the range {want}", want in p.stdout, p.stdout)
    # ... and split's --rows and --bytes (one of them required) a default of 0, outside it.
    p = run(wc, "split", "--help", text=True)
    check("split --help shows no default 0", "INT=0" not in p.stdout, p.stdout)


def test_named_config_must_exist(wc, tmp):
    """status --config <missing> silently used the defaults; run refused it. A config file named
    with --config or $WC_CONFIG must exist for every command (exit 2 naming it); the default
    config.json is optional for status and top only."""
    missing = os.path.join(tmp, "no-such-config.json")
    want = f"cannot read config file {missing}: No such file or directory"
    for cmd in ("status", "top", "run"):
        expect_usage(wc, f"{cmd} --config missing", [cmd, "--config", missing], [want])
        expect_usage(wc, f"{cmd} $WC_CONFIG missing", [cmd], [want], env=dict(os.environ, WC_CONFIG=missing))
    env = dict(os.environ, XDG_STATE_HOME=os.path.join(tmp, "nostate"))
    env.pop("WC_CONFIG", None)
    env.pop("WC_REDIS", None)
    p = run(wc, "status", env=env, cwd=tmp, text=True)  # no config.json in tmp: the defaults
    check("status without config.json: no config error", "config" not in p.stderr and p.returncode == 2, p.stderr)
    p = run(wc, "run", env=env, cwd=tmp, text=True)
    check("run without config.json: names it", "cannot read config file config.json" in p.stderr, p.stderr)
    # Held-out pass: an empty $WC_CONFIG said "cannot read config file : No such file or
    # directory", an empty --data "run: : cannot open" (exit 3). Both are usage errors, named.
    for cmd in ("status", "top", "run"):
        expect_usage(wc, f"{cmd} with WC_CONFIG=''", [cmd], ["$WC_CONFIG is empty"], env=dict(os.environ, WC_CONFIG=""))
        expect_usage(wc, f"{cmd} --config ''", [cmd, "--config", ""], ["--config is empty"])
    cfg = run_config(tmp, "empty-data")
    expect_usage(wc, "run --data ''", ["run", "--config", cfg, "--data", ""], ["--data must be a non-empty string"])


def test_timing_keys(wc, tmp, data):
    """REDIS_RESTART_INTERVAL 0.001 was accepted and livelocked the job; a planned downtime longer
    than everyone's retry made all workers give up at the first crash."""
    state = os.path.join(tmp, "state")
    for name, keys, want in (
            ("tiny restart interval", {"REDIS_RESTART_INTERVAL": 0.001},
             "'REDIS_RESTART_INTERVAL' must be 0 (off) or a number of seconds from 1 to 86400, got 0.001"),
            ("downtime outlasting the retry", {"REDIS_RESTART_INTERVAL": 2, "REDIS_DOWNTIME": 3600},
             "REDIS_RETRY_SECONDS (10) must be at least REDIS_DOWNTIME + 1 (3601)")):
        cfg = write_config(tmp, "timing", **keys)
        expect_usage(wc, name, ["run", "-q", "--config", cfg, "--data", data], [want])
        check(f"{name}: no state directory made", job_dirs(state) == [], job_dirs(state))


def test_redis_args(wc, tmp, data):
    """A REDIS_ARGS directive redis-server refuses made run exit 4 ("exited at start: (no log)");
    one that takes over what the supervisor owns (--dir /tmp) left a dump.rdb there."""
    if shutil.which("redis-server") is None:
        print("SKIP REDIS_ARGS: no redis-server")
        return
    state = os.path.join(tmp, "state")
    elsewhere = os.path.join(tmp, "elsewhere")
    os.mkdir(elsewhere)
    cases = [
        (["--bogus", "yes"], [">>> 'bogus \"yes\"' Bad directive or wrong number of arguments", "REDIS_ARGS"]),
        (["--maxmemory", "lots"], [">>> 'maxmemory \"lots\"' argument must be a memory value"]),
        (["--dir", elsewhere], ["REDIS_ARGS: --dir is set by wordcount"]),
        (["--maxmemory", "1gb", "--dbfilename", "x.rdb"], ["REDIS_ARGS: --dbfilename is set by wordcount"]),
        (["--appenddirname", "x"], ["--appenddirname is set"]),
        (["--port", "6390"], ["--port is set"]),
        (["--unixsocket", os.path.join(tmp, "s")], ["--unixsocket is set"]),
        (["--requirepass", "x"], ["--requirepass is set"]),
        (["--include", "/etc/redis/redis.conf"], ["--include is set"]),
        (["--dir /tmp"], ["not a --directive name"]),
        # Held-out pass 25: options redis-server takes but cannot start with were exit 4.
        (["--tls-replication", "yes"], ["exited at start with REDIS_ARGS --tls-replication yes",
                                        "Failed to configure TLS"]),
    ]
    for args, wants in cases:
        cfg = write_config(tmp, "redis-args", REDIS_ARGS=args)
        expect_usage(wc, f"REDIS_ARGS {args}", ["run", "-q", "--config", cfg, "--data", data], wants)
        check(f"REDIS_ARGS {args}: nothing left in STATE_DIR", job_dirs(state) == [], job_dirs(state))
    check("REDIS_ARGS --dir: nothing written there", os.listdir(elsewhere) == [], os.listdir(elsewhere))


def test_redis_urls_and_passwords(wc, tmp, data):
    """status/top against a Redis with a password, run without it, printed a raw protocol error
    (exit 4); redis://h:p/5 said "bad port"; run --help suggested the password in the URL. A
    password comes from $WC_REDIS_PASSWORD only: one in a URL is refused (never echoed), a
    missing or wrong one is exit 2 saying where it comes from; database 0 only, said so."""
    for cmd, args in (("worker", ["--redis", "redis://127.0.0.1:1/5"]), ("status", ["--redis", "redis://127.0.0.1:1/5"]),
                      ("top", ["--redis", "redis://127.0.0.1:1/5"]),
                      ("run", ["--config", write_config(tmp, "url"), "--data", data, "--redis", "redis://127.0.0.1:1/5"])):
        expect_usage(wc, f"{cmd} with database 5", [cmd] + args, ["database 5 is not supported", "database 0"])
        url_args = [a if not a.startswith("redis://") else "redis://:hunter2@127.0.0.1:1" for a in args]
        p = expect_usage(wc, f"{cmd} with a password in the URL", [cmd] + url_args,
                         ["holds a password: refused", "$WC_REDIS_PASSWORD"])
        check(f"{cmd}: the password is not echoed", b"hunter2" not in p.stderr, p.stderr)
        # Held-out pass 19: a password Redis can never read before AUTH (over 16 KiB) was exit 4
        # after the retries ("Broken pipe"): a usage error, at once, never echoed.
        plain = [a if not a.startswith("redis://") else "redis://127.0.0.1:1" for a in args]
        p = expect_usage(wc, f"{cmd}: a 17,000-byte $WC_REDIS_PASSWORD", [cmd] + plain,
                         ["$WC_REDIS_PASSWORD is 17000 bytes long", "at most 16384"],
                         env=dict(os.environ, WC_REDIS_PASSWORD="h" * 17000))
        check(f"{cmd}: the long password is not echoed", b"hhhhhhhh" not in p.stderr, p.stderr[:300])
    # $WC_REDIS stands for --redis on all four commands (held-out pass: run and worker ignored it).
    for cmd, args in (("status", []), ("top", []), ("worker", []),
                      ("run", ["--config", write_config(tmp, "env-url"), "--data", data])):
        p = expect_usage(wc, f"{cmd}: $WC_REDIS with a password", [cmd] + args,
                         ["$WC_REDIS: ", "holds a password: refused"],
                         env=dict(os.environ, WC_REDIS="redis://:hunter2@127.0.0.1:1"))
        check(f"{cmd}: the password in $WC_REDIS is not echoed", b"hunter2" not in p.stderr, p.stderr)
    # Held-out pass: --redis "" was taken for no --redis (the embedded Redis), and
    # redis://user@h:p was refused as holding a password.
    for cmd, args in (("status", []), ("top", []), ("run", ["--config", write_config(tmp, "empty-url"), "--data", data])):
        expect_usage(wc, f"{cmd} --redis ''", [cmd, "--redis", ""] + args, ["--redis must be a non-empty string"])
        p = expect_usage(wc, f"{cmd} with a user in the URL", [cmd, "--redis", "redis://alice@127.0.0.1:1"] + args,
                         ["redis://***@127.0.0.1:1 names a user: refused", "default user"])
        check(f"{cmd} with a user in the URL: not called a password", b"holds a password" not in p.stderr, p.stderr)
    for cmd in ("run", "worker", "status", "top"):
        p = run(wc, cmd, "--help", text=True)
        check(f"{cmd} --help: no password in a URL", "password@" not in p.stdout and "WC_REDIS_PASSWORD" in p.stdout,
              p.stdout)
    if shutil.which("redis-server") is None:
        print("SKIP password-protected Redis: no redis-server")
        return
    port = free_port()
    rdir = os.path.join(tmp, "pwredis")
    os.mkdir(rdir)
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--requirepass", "s3cret", "--dir", rdir], stdout=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        url = f"redis://127.0.0.1:{port}"
        env = dict(os.environ)
        env.pop("WC_REDIS_PASSWORD", None)
        for cmd, args in (("status", []), ("top", []), ("worker", ["--wait-seconds", "1"]),
                          ("run", ["--config", write_config(tmp, "pw"), "--data", data])):
            p = expect_usage(wc, f"{cmd} without the password", [cmd, "--redis", url] + args,
                             [f"Redis at 127.0.0.1:{port} requires a password", "$WC_REDIS_PASSWORD"], env=env)
            check(f"{cmd} without the password: no raw protocol error", b"Protocol error" not in p.stderr, p.stderr)
            expect_usage(wc, f"{cmd} with a wrong password", [cmd, "--redis", url] + args,
                         ["refused the password"], env=dict(env, WC_REDIS_PASSWORD="wrong"))
        p = run(wc, "status", "--redis", url, env=dict(env, WC_REDIS_PASSWORD="s3cret"), text=True)
        check("status with the password from $WC_REDIS_PASSWORD", p.returncode == 0 and "job:" in p.stdout, p.stderr)
    finally:
        server.kill()
        server.wait()

    # Held-out pass: redis://[::1]:P failed "Name or service not known".
    port6 = free_port()
    server6 = subprocess.Popen(["redis-server", "--port", str(port6), "--bind", "::1", "--save", "",
                                "--dir", rdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        up = False
        deadline = time.time() + 10
        while time.time() < deadline and server6.poll() is None and not up:
            with socket.socket(socket.AF_INET6) as s:
                up = s.connect_ex(("::1", port6)) == 0
            time.sleep(0.05)
        if not up:
            print("SKIP redis://[::1]: no IPv6 loopback")
            return
        p = run(wc, "status", "--redis", f"redis://[::1]:{port6}", text=True)
        check("status --redis redis://[::1]:P reaches the server", p.returncode == 0 and "job:" in p.stdout,
              (p.returncode, p.stderr))
    finally:
        server6.kill()
        server6.wait()


def wait_port(port, family=socket.AF_INET, host="127.0.0.1", proc=None):
    """Whether something listens on host:port within 10 s (False at once if `proc` died)."""
    deadline = time.time() + 10
    while time.time() < deadline and (proc is None or proc.poll() is None):
        with socket.socket(family) as s:
            if s.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.05)
    return False


def test_redis_locations_are_checked(wc, tmp, data):
    """Held-out pass: a password in a unix:// URL was used (over $WC_REDIS_PASSWORD), a user there
    dropped; a query string's value was echoed; --sentinel ":pw@h:p" was a host name (exit 4,
    echoed), "[::1]:p" became "[[::1]]:p", a URL was taken; --redis with --sentinel let the
    Sentinels win; empty --out/--stream/--name/--job, LOGFILE/STATE_DIR "" and run -q -v were
    accepted; redis://h:p:q was host "h:p". Each is exit 2 at once, naming the option or key."""
    cfg = write_config(tmp, "locations")
    secret = "hunter2"
    cmds = (("status", []), ("top", []), ("worker", ["--wait-seconds", "1"]), ("run", ["--config", cfg, "--data", data]))
    env = dict(os.environ, WC_REDIS_PASSWORD="other")
    for url, want in ((f"unix://:{secret}@/tmp/r.sock", "unix://***@/tmp/r.sock holds a password: refused"),
                      (f"unix://alice:{secret}@/tmp/r.sock", "unix://***@/tmp/r.sock names a user and a password"),
                      (f"rediss://:{secret}@127.0.0.1:1", "rediss://***@127.0.0.1:1 holds a password: refused"),
                      (f":{secret}@127.0.0.1:1", "***@127.0.0.1:1 holds a password: refused"),
                      (f"redis://127.0.0.1:1?password={secret}", "has a query string: refused"),
                      (f"unix:///tmp/r.sock?password={secret}", "has a query string: refused")):
        for cmd, args in cmds:
            p = expect_usage(wc, f"{cmd} --redis {url.replace(secret, '***')}", [cmd, "--redis", url] + args,
                             ["--redis: ", want], env=env)
            check(f"{cmd} --redis {url.replace(secret, '***')}: not echoed", secret.encode() not in p.stderr, p.stderr)
    p = expect_usage(wc, "$WC_REDIS with a password in a unix:// URL", ["status"],
                     ["$WC_REDIS: ", "holds a password: refused", "$WC_REDIS_PASSWORD"],
                     env=dict(env, WC_REDIS=f"unix://:{secret}@/tmp/r.sock"))
    check("$WC_REDIS: not called a command line", b"command line" not in p.stderr and secret.encode() not in p.stderr,
          p.stderr)
    p = expect_usage(wc, "--redis with a password", ["status", "--redis", f"redis://:{secret}@127.0.0.1:1"],
                     ["--redis: ", "command line is visible"], env=env)
    expect_usage(wc, "redis://h:p:q", ["status", "--redis", "redis://127.0.0.1:6379:1"],
                 ["--redis: more than one ':'", "brackets"])
    for cmd, args in cmds:
        for sentinels, want in ((f":{secret}@127.0.0.1:1", "user or password"),
                                (f"127.0.0.1:1,u:{secret}@127.0.0.1:2", "user or password"),
                                ("redis://127.0.0.1:26379", "--sentinel takes HOST:PORT[,HOST:PORT...]"),
                                ("::1:26379", "brackets")):
            p = expect_usage(wc, f"{cmd} --sentinel {sentinels.replace(secret, '***')}",
                             [cmd, "--sentinel", sentinels, "--master-name", "m"] + args, [want])
            check(f"{cmd} --sentinel: not echoed", secret.encode() not in p.stderr, p.stderr)
        for extra in (["--sentinel", "127.0.0.1:1", "--master-name", "m"], ["--master-name", "m"]):
            expect_usage(wc, f"{cmd} --redis with {extra[-2]}", [cmd, "--redis", "redis://127.0.0.1:1"] + extra + args,
                         ["--redis", extra[0]] if cmd != "worker" else ["not both"])
    for flag in ("--stream", "--name", "--job", "--spill-dir"):  # (--spill-dir: held-out pass 26)
        expect_usage(wc, f"worker {flag} ''", ["worker", "--redis", "redis://127.0.0.1:1", flag, ""],
                     [f"{flag} must be a non-empty string"])
    expect_usage(wc, "run --out ''", ["run", "--config", cfg, "--data", data, "--out", ""],
                 ["--out must be a non-empty string"])
    expect_usage(wc, "run -q -v", ["run", "--config", cfg, "--data", data, "-q", "-v"], ["--quiet", "--verbose"])
    for key in ("LOGFILE", "STATE_DIR"):
        expect_usage(wc, f"{key} ''", ["run", "--config", write_config(tmp, f"empty-{key}", **{key: ""}), "--data", data],
                     [f"config key '{key}' must be a non-empty string"])

    # An IPv6 Sentinel in brackets is usable: status finds the primary it names.
    if shutil.which("redis-server") is None:
        print("SKIP IPv6 Sentinel: no redis-server")
        return
    rdir = os.path.join(tmp, "sentinel6")
    os.mkdir(rdir)
    port, sport = free_port(), free_port()
    procs = [subprocess.Popen(["redis-server", "--port", str(port), "--bind", "::1", "--save", "", "--dir", rdir],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        if not wait_port(port, socket.AF_INET6, "::1", procs[0]):
            print("SKIP IPv6 Sentinel: no IPv6 loopback")
            return
        conf = os.path.join(rdir, "sentinel.conf")
        with open(conf, "w") as fh:
            fh.write(f"port {sport}\nbind ::1\ndir {rdir}\nsentinel monitor m ::1 {port} 1\n")
        procs.append(subprocess.Popen(["redis-server", conf, "--sentinel"], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        check("IPv6 Sentinel starts", wait_port(sport, socket.AF_INET6, "::1", procs[1]))
        env = dict(os.environ)
        env.pop("WC_REDIS_PASSWORD", None)
        p = run(wc, "status", "--sentinel", f"[::1]:{sport}", "--master-name", "m", text=True, env=env, timeout=60)
        check("status --sentinel [::1]:P finds the primary", p.returncode == 0 and "job:" in p.stdout
              and "[[" not in p.stdout + p.stderr and f"primary [::1]:{port}" in p.stdout, (p.returncode, p.stdout, p.stderr))
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def test_sentinel_that_is_a_plain_redis(wc, tmp):
    """Held-out pass: status --sentinel pointed at a plain Redis exited 4 with its raw "ERR
    unknown command 'SENTINEL', with args beginning with: ...". It says the server at that
    address is not a Sentinel (exit 4 still: no Sentinel names a primary)."""
    if shutil.which("redis-server") is None:
        print("SKIP plain Redis as a Sentinel: no redis-server")
        return
    rdir = os.path.join(tmp, "not-a-sentinel")
    os.mkdir(rdir)
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", rdir],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        check("plain Redis starts", wait_port(port, proc=proc))
        env = dict(os.environ)
        env.pop("WC_REDIS_PASSWORD", None)
        for cmd in ("status", "top"):
            p = run(wc, cmd, "--sentinel", f"127.0.0.1:{port}", "--master-name", "x", text=True, env=env, timeout=60)
            check(f"{cmd} --sentinel <a plain Redis>: exit 4, says it is not a Sentinel",
                  p.returncode == 4 and f"the server at 127.0.0.1:{port} is not a Sentinel" in p.stderr
                  and "unknown command" not in p.stderr, (p.returncode, p.stderr))
    finally:
        proc.kill()
        proc.wait()


def test_unusable_spill_dir_leaves_nothing(wc, tmp, data):
    """An unwritable SPILL_DIR exited 2 but left STATE_DIR/job-* (its Redis, checkpoint, password)
    behind. It is checked before anything is made."""
    if shutil.which("redis-server") is None:
        print("SKIP SPILL_DIR: no redis-server")
        return
    state = os.path.join(tmp, "state")
    afile = os.path.join(tmp, "a-file")
    open(afile, "w").close()
    cfg = write_config(tmp, "spill", MODE="shuffle", SPILL_DIR=os.path.join(afile, "spill"))
    expect_usage(wc, "SPILL_DIR under a regular file", ["run", "-q", "--config", cfg, "--data", data],
                 [f"cannot create the spill directory {afile}/spill: Not a directory"])
    check("SPILL_DIR under a regular file: nothing left in STATE_DIR", job_dirs(state) == [], os.listdir(state)
          if os.path.isdir(state) else None)
    # As a user the permissions apply to (root may write anywhere): `nobody`, in a directory of
    # its own (the test's temp dir is root's, 0700).
    runuser = shutil.which("runuser") or shutil.which("setpriv")
    if os.geteuid() != 0 or runuser is None:
        print("SKIP unwritable SPILL_DIR as nobody: not root, or no runuser")
        return
    import pwd
    nobody = pwd.getpwnam("nobody")
    base = tempfile.mkdtemp(prefix="wc_cli_nobody_")
    try:
        os.chmod(base, 0o755)
        shutil.copytree(data, os.path.join(base, "data"))
        ro = os.path.join(base, "ro")
        os.mkdir(ro, 0o500)
        for root, dirs, files in os.walk(base):
            for n in [root] + [os.path.join(root, f) for f in dirs + files]:
                os.chown(n, nobody.pw_uid, nobody.pw_gid)
        os.chmod(ro, 0o500)
        cfg = write_config(base, "spill", MODE="shuffle", SPILL_DIR=ro, LOGFILE=os.path.join(base, "wc.log"),
                           STATE_DIR=os.path.join(base, "state"))
        os.chmod(cfg, 0o644)
        prefix = ["runuser", "-u", "nobody", "--"] if os.path.basename(runuser) == "runuser" else \
            ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
        t0 = time.time()
        p = subprocess.run(prefix + [wc, "run", "-q", "--config", cfg, "--data", os.path.join(base, "data")],
                           capture_output=True, text=True, timeout=60, env=dict(os.environ, HOME=base))
        check("unwritable SPILL_DIR as nobody: exit 2 at once", p.returncode == 2 and time.time() - t0 < 10,
              (p.returncode, p.stderr))
        check("unwritable SPILL_DIR as nobody: named", f"cannot write in SPILL_DIR {ro}: Permission denied" in p.stderr,
              p.stderr)
        check("unwritable SPILL_DIR as nobody: nothing left in STATE_DIR", job_dirs(os.path.join(base, "state")) == [],
              job_dirs(os.path.join(base, "state")))
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_config_another_user_could_write_is_refused(wc, tmp, data):
    """Held-out pass 21: a config.json planted in a shared 1777 directory (or reached through a
    link planted there, or root's own left 0666) was read by root's `run`, and its REDIS_ARGS
    --loadmodule ran the planter's library as root. Such a config is refused (exit 2), and so is
    --loadmodule anywhere; `--out -` onto LOGFILE too."""
    d = os.path.join(tmp, "cfgown")
    os.makedirs(d)
    mine = os.path.join(d, "mine.json")
    with open(mine, "w") as fh:
        json.dump({"DATA_PATH": os.path.join(data, "*.csv"), "LOGFILE": os.path.join(d, "wc.log"),
                   "STATE_DIR": os.path.join(d, "state"), "N_NORMAL_WORKERS": 1}, fh)
    os.chmod(mine, 0o666)
    expect_usage(wc, "a config writable by others", ["run", "--config", mine], ["is writable by others"])
    os.chmod(mine, 0o644)
    # Held-out pass 22: a config holding the password that every user could read was accepted.
    secret = os.path.join(d, "secret.json")
    with open(secret, "w") as fh:
        json.dump({"DATA_PATH": os.path.join(data, "*.csv"), "REDIS_PASSWORD": "hunter2-secret",
                   "LOGFILE": os.path.join(d, "wc.log"), "STATE_DIR": os.path.join(d, "state"),
                   "N_NORMAL_WORKERS": 1, "N_CRASHING_WORKERS": 0, "N_SLEEPING_WORKERS": 0}, fh)
    for mode, who in ((0o644, "every user"), (0o640, "its group")):
        os.chmod(secret, mode)
        p = expect_usage(wc, f"a config holding REDIS_PASSWORD, mode {mode:o}", ["run", "--config", secret],
                         [f"holds REDIS_PASSWORD and is readable by {who}", "$WC_REDIS_PASSWORD"])
        check(f"mode {mode:o}: the password not shown", b"hunter2" not in p.stderr, p.stderr)
    os.chmod(secret, 0o600)
    p = subprocess.run([wc, "status", "--config", secret], capture_output=True, text=True, timeout=60)
    check("a 0600 config holding REDIS_PASSWORD is read", "REDIS_PASSWORD" not in p.stderr, (p.returncode, p.stderr))
    mod = os.path.join(d, "mod.json")
    with open(mod, "w") as fh:
        json.dump({"REDIS_ARGS": ["--loadmodule", os.path.join(d, "x.so")]}, fh)
    expect_usage(wc, "REDIS_ARGS --loadmodule", ["run", "--config", mod], ["--loadmodule would load code"])
    log = os.path.join(d, "wc.log")
    with open(log, "w") as fh:
        fh.write("the log before\n")
    with open(log, "a") as out:
        p = subprocess.run([wc, "run", "--config", mine, "--out", "-"], stdout=out, stderr=subprocess.PIPE)
    check("--out - >> LOGFILE: exit 2, said", p.returncode == 2 and b" is LOGFILE " in p.stderr, (p.returncode, p.stderr))
    check("--out - >> LOGFILE: the log untouched", open(log).read() == "the log before\n", open(log).read()[:200])
    if as_nobody(["true"]) is None:
        print("SKIP a config of another user: not root")
        return
    with shared_bed("wc_cli_cfg_") as (_, pub):
        planted = os.path.join(pub, "config.json")
        subprocess.run(as_nobody(["sh", "-c", f"echo '{{}}' > {planted}"]), check=True)
        expect_usage(wc, "a config of another user", ["run"], ["belongs to another user"], cwd=pub)
        subprocess.run(as_nobody(["ln", "-s", mine, os.path.join(pub, "link.json")]), check=True)
        expect_usage(wc, "a config through another user's link",
                     ["run", "--config", os.path.join(pub, "link.json")], ["is a symbolic link of another user"])


def test_logfile_locked_by_another_user_or_written_by_standard_output(wc, tmp, data):
    """Held-out pass 25: a process of another user holding a flock on a LOGFILE it could read
    (an older 0644 log) blocked `run` with "another `wordcount run` is writing it now", and
    `run > LOGFILE` wrote the top lines over the log's first line. The holder is named as what
    it is; `run` makes its log 0600; standard output or error on LOGFILE is refused."""
    with shared_bed("wc_cli_log_") as (bed, _):
        log = os.path.join(bed, "wc.log")
        cfg = config_file(os.path.join(bed, "c.json"), bed, {"DATA_PATH": os.path.join(data, "*.csv")})
        with open(log, "w") as fh:
            fh.write("the log before\n")
        with open(log, "a") as out:
            p = subprocess.run([wc, "run", "-q", "--config", cfg], stdout=out, stderr=subprocess.PIPE)
        check("run > LOGFILE: exit 2, said", p.returncode == 2 and b"standard output is LOGFILE" in p.stderr,
              (p.returncode, p.stderr))
        check("run > LOGFILE: the log untouched", open(log).read() == "the log before\n", open(log).read()[:300])
        os.chmod(log, 0o644)
        argv = as_nobody(["/usr/bin/python3", "-c", "import fcntl, sys, time; f = open(sys.argv[1]); "
                          "fcntl.flock(f, fcntl.LOCK_SH); time.sleep(60)", log])
        if argv is None:
            print("SKIP a lock of another user: not root")
            return
        with running(argv) as holder:
            deadline = time.time() + 10
            while time.time() < deadline and f" {holder.pid} " not in open("/proc/locks").read():
                time.sleep(0.02)
            p = run(wc, "run", "-q", "--config", cfg, text=True)
            nobody = pwd.getpwnam("nobody").pw_uid
            check("a lock of another user: exit 2, the holder named",
                  p.returncode == 2 and f"process {holder.pid} (" in p.stderr
                  and f", uid {nobody}) holds a lock on it" in p.stderr
                  and "wordcount run" not in p.stderr, (p.returncode, p.stderr))
        p = run(wc, "run", "-q", "--config", cfg, text=True)
        check("the lock gone: exit 0", p.returncode == 0, (p.returncode, p.stderr))
        mode = stat.S_IMODE(os.stat(log).st_mode)
        check("run made its log 0600", mode == 0o600, oct(mode))


def test_paths_others_could_swap(wc, tmp, data):
    """Held-out pass (issue 12; fs.protected_symlinks=0, fs.protected_regular=0): in a shared 1777
    `pub`, another user's link pub/d -> a victim's directory made LOGFILE, --out, split and gen
    write into that directory (LOGFILE truncated the victim's file), and a directory of theirs,
    pub/nb, let them swap STATE_DIR or SPILL_DIR under a running job. Every such path is refused
    (exit 2, naming the link or directory) before anything is written; `run` with STATE_DIR a
    shared 1777 directory no longer makes it 0700; a link root owns is followed."""
    if os.geteuid() != 0:
        print("SKIP paths others could swap: not root")
        return
    import pwd
    nobody = pwd.getpwnam("nobody")
    base = os.path.join(tmp, "swap")
    pub, victim = os.path.join(base, "pub"), os.path.join(base, "victim")
    os.makedirs(pub)
    os.chmod(base, 0o755)
    os.chmod(pub, 0o1777)
    os.mkdir(victim, 0o700)
    with open(os.path.join(victim, "wc.log"), "w") as fh:
        fh.write("keep me\n")
    d = os.path.join(pub, "d")
    os.symlink(victim, d)
    os.lchown(d, nobody.pw_uid, nobody.pw_gid)
    nb = os.path.join(pub, "nb")
    os.mkdir(nb, 0o755)
    os.chown(nb, nobody.pw_uid, nobody.pw_gid)
    csv = os.path.join(data, "tweets_0001.csv")
    link_why = f"{d}: a symbolic link owned by another user (uid {nobody.pw_uid})"
    nb_why = f"{nb}: it belongs to another user (uid {nobody.pw_uid})"
    for name, args, why in (
            ("serial --out through the link", ["serial", "-q", "--out", f"{d}/s.tsv", csv], link_why),
            ("split into the link", ["split", "--rows", "100", csv, f"{d}/parts"], link_why),
            ("gen into the link", ["gen", "--files", "1", "--rows", "10", f"{d}/gen"], link_why),
            ("serial --out in nobody's directory", ["serial", "-q", "--out", f"{nb}/s.tsv", csv], nb_why),
            ("run LOGFILE through the link",
             ["run", "-q", "--config", write_config(base, "log", LOGFILE=f"{d}/wc.log"), "--data", csv],
             link_why),
            ("run --out through the link",
             ["run", "-q", "--config", write_config(base, "out"), "--out", f"{d}/o.tsv", "--data", csv], link_why),
            ("run STATE_DIR in nobody's directory",
             ["run", "-q", "--config", write_config(base, "state", STATE_DIR=f"{nb}/state"), "--data", csv], nb_why),
            ("run SPILL_DIR in nobody's directory",
             ["run", "-q", "--config", write_config(base, "spill", MODE="shuffle", SPILL_DIR=f"{nb}/spill"),
              "--data", csv], nb_why)):
        expect_usage(wc, name, args, [why, "refused"])
    # Sixth pass: the message named the output's directory as "output file": it names the file.
    expect_usage(wc, "serial --out in nobody's directory: the file named", ["serial", "-q", "--out", f"{nb}/s.tsv", csv],
                 [f"output file {nb}/s.tsv: {nb_why}"])
    check("swap: the victim's directory is untouched", sorted(os.listdir(victim)) == ["wc.log"], os.listdir(victim))
    check("swap: the victim's file is untouched", open(os.path.join(victim, "wc.log")).read() == "keep me\n")
    check("swap: nothing made in nobody's directory", os.listdir(nb) == [], os.listdir(nb))
    # Held-out pass 23: STATE_DIR nobody's directory holding nobody's `spill`: a shuffle run made
    # its own spill.XXXXXX beside it, then refused STATE_DIR and left that directory there.
    os.mkdir(os.path.join(nb, "spill"))
    os.chown(os.path.join(nb, "spill"), nobody.pw_uid, nobody.pw_gid)
    expect_usage(wc, "run STATE_DIR nobody's, holding nobody's spill",
                 ["run", "-q", "--config", write_config(base, "state2", STATE_DIR=nb, MODE="shuffle"), "--data", csv],
                 [nb_why, "refused"])
    check("nothing made beside nobody's spill", os.listdir(nb) == ["spill"], os.listdir(nb))
    os.rmdir(os.path.join(nb, "spill"))
    # A link root owns in the sticky pub is followed (the kernel's protected_symlinks rule).
    rd = os.path.join(pub, "rd")
    os.symlink(victim, rd)
    p = run(wc, "serial", "-q", "--out", f"{rd}/ok.tsv", csv, text=True)
    check("swap: a link of root's is followed", p.returncode == 0 and os.path.exists(f"{victim}/ok.tsv"), p.stderr)
    # STATE_DIR a shared 1777 directory: used (the job's directory in it is the private one), its
    # mode kept, also by a refused run.
    shared = os.path.join(base, "shared")
    os.mkdir(shared)
    os.chmod(shared, 0o1777)
    p = run(wc, "run", "-q", "--config", write_config(base, "shared", STATE_DIR=shared), "--data",
            os.path.join(base, "nothing", "*.csv"), text=True, timeout=30)
    check("STATE_DIR 1777: a run without input exits 3", p.returncode == 3, (p.returncode, p.stderr))
    check("STATE_DIR 1777: its mode is kept", os.stat(shared).st_mode & 0o7777 == 0o1777, oct(os.stat(shared).st_mode))
    if shutil.which("redis-server"):
        p = run(wc, "run", "-q", "--config", write_config(base, "shared", STATE_DIR=shared), "--data", csv,
                text=True, timeout=60)
        check("STATE_DIR 1777: a run exits 0", p.returncode == 0, (p.returncode, p.stderr))
        check("STATE_DIR 1777: its mode is kept by a run", os.stat(shared).st_mode & 0o7777 == 0o1777,
              oct(os.stat(shared).st_mode))


def test_log_trouble_mid_run(wc, tmp, data):
    """Held-out pass: a full disk under LOGFILE was silent (exit 0, an empty log, nothing on
    stderr, ">= 0 task(s) counted again" from that empty log); and workers that found LOGFILE
    replaced by a link mid-run were respawned for 20 rounds (exit 5)."""
    if os.geteuid() != 0 or shutil.which("redis-server") is None:
        print("SKIP log trouble mid-run: not root (/dev/full is root's), or no redis-server")
        return
    cfg = run_config(tmp, "log-full", LOGFILE="/dev/full")
    try:  # (before: the summary read /dev/full for ever)
        p = run(wc, "run", "--config", cfg, "--data", os.path.join(data, "*.csv"), text=True, timeout=20)
    except subprocess.TimeoutExpired as e:
        p = subprocess.CompletedProcess(e.cmd, None, "", (e.stderr or b"").decode(errors="replace"))
    check("LOGFILE full: the run itself exits 0", p.returncode == 0, (p.returncode, p.stderr))
    check("LOGFILE full: said on stderr, naming file and error",
          "cannot write log file /dev/full (its events from now on may be missing): No space left on device"
          in p.stderr, p.stderr)
    check("LOGFILE full: the count again is unknown", "unknown task(s) counted again" in p.stderr, p.stderr)
    # A worker that cannot open LOGFILE (now a link) ends the run at once (exit 2).
    cfg = run_config(tmp, "log-link", N_NORMAL_WORKERS=0, N_SLEEPING_WORKERS=1)
    log = os.path.join(os.path.dirname(cfg), "wc.log")
    t0 = time.time()
    proc = subprocess.Popen([wc, "run", "-q", "--config", cfg, "--data", os.path.join(data, "*.csv")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        workers = []
        while time.time() - t0 < 10 and not workers:
            time.sleep(0.02)
            workers = [pid for pid in processes_naming(log) if pid != proc.pid]
            if workers and " start " not in open(log).read():
                workers = []  # not yet running (the log holds lines until the job starts)
        os.rename(log, log + ".old")
        os.symlink(os.path.join(tmp, "precious-mid-run"), log)
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    check("LOGFILE a link mid-run: a worker was running", workers != [], workers)
    check("LOGFILE a link mid-run: exit 2 at once", proc.returncode == 2 and time.time() - t0 < 10,
          (proc.returncode, round(time.time() - t0, 1), err))
    check("LOGFILE a link mid-run: said", "is a symbolic link: refused" in err and "not respawned" in err, err)
    check("LOGFILE a link mid-run: no rounds of workers", "round=" not in open(log + ".old").read())


def test_words_with_control_bytes(wc, tmp):
    """Words in the top lines (and names in error messages) reached the terminal raw: ESC
    sequences, C1 controls (CSI raw or in UTF-8), CR. They are escaped like log lines; printable
    words, UTF-8 and backslashes included, are printed byte for byte as before, and --out keeps
    every word exactly."""
    d = os.path.join(tmp, "controls")
    os.mkdir(d)
    words = [(b"\x1b[2Jclear", 9), (b"csi\xc2\x9b31m", 8), (b"raw\x9b31m", 7), (b"car\rret", 6),
             (b"caf\xc3\xa9", 5), (b"emoji\xf0\x9f\x98\x80", 4), (b"C:\\dir", 3), (b"plain", 2)]
    text = b" ".join(w for w, n in words for _ in range(n))
    with open(os.path.join(d, "w.csv"), "wb") as fh:
        fh.write(b'id,text\n1,"' + text + b'"\n')
    with open(os.path.join(d, b"bad\xc2\x9b\x1b[31m.csv".decode("utf-8", "surrogateescape")), "wb") as fh:
        fh.write(b"a,text\n1,x\n2,x,y\n")
    want = (b"\\x1b[2Jclear: 9\ncsi\\xc2\\x9b31m: 8\nraw\\x9b31m: 7\ncar\\rret: 6\n"
            b"caf\xc3\xa9: 5\nemoji\xf0\x9f\x98\x80: 4\nC:\\dir: 3\nplain: 2\n")
    out = os.path.join(tmp, "controls.txt")
    p = run(wc, "serial", "--top", "8", "--out", out, d)
    check("control words: serial exit 1 (the bad file)", p.returncode == 1, p.stderr)
    check("control words: serial's top lines escaped, printable words as they are", p.stdout == want, p.stdout)
    for stream, name in ((p.stdout, "stdout"), (p.stderr, "stderr")):
        check(f"control words: no raw ESC, CR or C1 on serial's {name}",
              not re.search(rb"[\x1b\r\x9b]|\xc2[\x80-\x9f]", stream), stream)
    check("control words: the failed file is named escaped", b"FAILED " + d.encode() + b"/bad\\xc2\\x9b\\x1b[31m.csv:3"
          in p.stderr, p.stderr)
    got = open(out, "rb").read()
    check("control words: --out keeps every word exactly (counts format)",
          got.startswith(b"9\t\\x1b[2Jclear\n8\tcsi\xc2\x9b31m\n7\traw\x9b31m\n6\tcar\\rret\n"), got[:200])
    if shutil.which("redis-server") is None:
        print("SKIP control words in run: no redis-server")
        return
    os.remove(os.path.join(d, b"bad\xc2\x9b\x1b[31m.csv".decode("utf-8", "surrogateescape")))
    cfg = write_config(tmp, "controls", TOP=8)
    p = run(wc, "run", "-q", "--config", cfg, "--data", d, timeout=120)
    check("control words: run exit 0", p.returncode == 0, p.stderr)
    check("control words: run's top lines equal serial's", p.stdout == want, p.stdout)

# Names a glob may meet (bytes): backslashes, brackets, carets, '!', '-', dots, non-ASCII and
# ill-formed UTF-8. Directories have printable ASCII names, so serial's FAILED lines for the ones
# a pattern matches name them as they are.
GLOB_FILES = [b"a\\b.csv", b"ab.csv", b"a.csv", b"b.csv", b"^.csv", b"!.csv", b"]a.csv", b"[a].csv",
              b"a[.csv", b"-.csv", b"a-b.csv", b"\\.csv", b"a\\x.csv", b"a\\*.csv", b"*.csv", b"?.csv",
              b".h.csv", b"..x.csv", b".csv", b"A.csv", b"z.csv", b"~&|.csv", b"a b.csv", b"caf\xc3\xa9.csv",
              b"\xc3\xa0.csv", b"\xc4\x80.csv", b"\xe9.csv", b"\xff\xfe.csv", b"x\xed\xa0\x80.csv",
              b"e\xf0\x9f\x98\x80.csv", b"notes.txt"]
GLOB_DIRS = [b"d1", b"d[1]", b"d\\x", b"^d", b"!d", b".hd", b"d-2", b"]d", b"d1/sub"]
GLOB_SUBFILES = [b"x.csv", b"\xe9.csv", b"y\\.csv", b".h.csv", b"^y.csv", b"[b].csv"]
GLOB_PATTERNS = ["?\\b.csv", "*\\b.csv", "[a]\\b.csv", "a\\*.csv", "[a\\]*.csv", "[^a]*", "[!a]*", "[^a].csv",
                 "[]a]*", "[!]a]*", "[a*", "a[*", "[b-a]*", "[!b-a]*", "[c-a!x]*", "[a-]*", "[!]*", ".*", "*",
                 "*/*", "*/", "d*/x.csv", "*/.*", ".*/*", "*/*/*", "d1//*", "./[ab]*", "**/*.csv",
                 "[\u00e0-\u00ff]*", "[\udc80-\udcff]*", "?.csv", "??.csv", "d[[]1]/*", "d\\x/*", "[!d]*/?.csv",
                 "nothing*", "[", "*.tx[!t]", "[\\]*", "x?\udced\udca0\udc80.csv", "x???.csv", "e?.csv"]


def counted_words(out):
    """The counts file `out` (count TAB word lines) as a Counter."""
    got = Counter()
    for line in open(out, "rb").read().splitlines():
        count, word = line.split(b"\t")
        got[word.decode()] = int(count)
    return got


def test_glob_is_pythons(wc, tmp):
    """Held-out pass: patterns were glibc's glob (a backslash escaped, "[^a]" negated), not Python's
    glob.glob that the reference takes DATA_PATH with, and other files were counted (exit 0). For
    fixed and seeded random patterns over odd names, serial counts exactly the files Python's glob
    matches (each file has its own word), names the directories it matches as failed, and exits 3
    where Python matches nothing. The oracle is /usr/bin/python3's glob.glob itself."""
    base = os.path.join(tmp, "globs").encode()
    word_of = {}
    for d in GLOB_DIRS:
        os.makedirs(os.path.join(base, d))
    os.symlink(b"d1", os.path.join(base, b"ld"))  # a link to a directory is one (twice its files)
    files = GLOB_FILES + [os.path.join(d, f) for d in GLOB_DIRS for f in GLOB_SUBFILES]
    for i, f in enumerate(files):
        word = "q" + "".join(chr(97 + i // 26 ** k % 26) for k in range(3))
        word_of[os.path.join(base, f)] = word
        with open(os.path.join(base, f), "w") as fh:
            fh.write(f"id,text\n1,{word}\n")
    rng = random.Random(20261127)
    names = [os.fsdecode(p) for p in files + GLOB_DIRS]
    pieces = ["a", "b", "d", "x", ".", "-", "!", "^", "]", "[", "\\", "*", "?", "\u00e9", "\udce9", "/"]
    patterns = list(GLOB_PATTERNS)
    while len(patterns) < 300:
        if rng.random() < 0.7:  # an existing name, partly made wildcards
            parts = []
            for c in rng.choice(names):
                r = rng.random()
                if r < 0.12 and c != "/":
                    parts.append("?")
                elif r < 0.2 and c != "/":
                    parts.append("*")
                elif r < 0.3 and c != "/":
                    members = [c] + rng.sample(pieces[:13], rng.randint(0, 3))
                    rng.shuffle(members)
                    parts.append("[" + rng.choice(["", "!", "^"]) + "".join(members) + "]")
                else:
                    parts.append(c)
            pattern = "".join(parts)
        else:
            pattern = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 8)))
        if pattern.startswith(("-", "/")) or not any(c in pattern for c in "*?["):
            continue
        patterns.append(pattern)
    # Literal paths (no wildcard) to files: Python's glob takes them as they are, a trailing '/'
    # or '/.' naming a directory (held-out pass 20: "a.csv/" was counted, exit 0; Python: none).
    patterns += ["a.csv", "a.csv/", "a.csv//", "./a.csv/", "a.csv/.", "d1/x.csv/", "ld/x.csv", "nosuch.csv/"]
    oracle = subprocess.run(
        ["/usr/bin/python3", "-c", "import glob, json, os, sys\n"
         "print(json.dumps([[os.fsencode(m).hex() for m in glob.glob(os.fsdecode(bytes.fromhex(p)))]"
         " for p in json.load(sys.stdin)]))"],
        input=json.dumps([os.fsencode(p).hex() for p in patterns]), capture_output=True, text=True, cwd=base,
        check=True)
    expected = [[bytes.fromhex(m) for m in ms] for ms in json.loads(oracle.stdout)]
    out = os.path.join(tmp, "globs.txt")
    wrong = []
    matched = 0
    for pattern, py in zip(patterns, expected):
        matched += bool(py)
        p = run(wc, "serial", "-q", "--top", "0", "--out", out, os.fsencode(pattern), cwd=base, timeout=30)
        dirs = [m for m in py if os.path.isdir(os.path.join(base, m))]
        want_words = Counter(word_of[os.path.realpath(os.path.join(base, m))] for m in py if m not in dirs)
        want_exit = 3 if not py else 1 if dirs else 0
        got_words = counted_words(out) if p.returncode in (0, 1) else Counter()
        got_failed = sorted(re.findall(rb"^FAILED (.*): not a regular file \(directory\)$", p.stderr, re.M))
        if p.returncode != want_exit or got_words != want_words or got_failed != sorted(dirs):
            wrong.append(f"{pattern!r}: exit {p.returncode} (want {want_exit}), counted "
                         f"{sorted((got_words - want_words).elements())} too many, "
                         f"{sorted((want_words - got_words).elements())} missing, failed dirs {got_failed} "
                         f"(want {sorted(dirs)})")
    check(f"glob: serial matches what Python's glob.glob matches ({len(patterns)} patterns, {matched} "
          f"matching something)", not wrong, "\n  " + "\n  ".join(wrong))
    check("glob: the patterns match something often enough to test", matched > len(patterns) // 3, matched)
    if shutil.which("redis-server") is None:
        print("SKIP run's DATA_PATH globs: no redis-server")
        return
    # run's DATA_PATH is expanded by the same code: it counts Python's matches too, in both modes.
    py_matches = dict(zip(patterns, expected))
    for i, pattern in enumerate(["?\\b.csv", "[^a].csv", "a\\*.csv", "[\u00e0-\u00ff]*"]):
        want = Counter(word_of[os.path.join(base, m)] for m in py_matches[pattern])
        for mode in ("direct", "shuffle"):
            got = os.path.join(tmp, f"globs-run-{i}-{mode}.txt")
            p = run(wc, "run", "-q", "--config", run_config(tmp, f"globs-{i}-{mode}"), "--mode", mode,
                    "--data", os.path.join(base, os.fsencode(pattern)), "--out", got, timeout=120)
            check(f"glob: run --mode {mode} --data {pattern!r} counts Python's matches",
                  p.returncode == 0 and counted_words(got) == want, (p.returncode, p.stderr))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wordcount", required=True)
    ap.add_argument("--only", help="run only this test (one taking (wc, tmp), e.g. test_glob_is_pythons)")
    args = ap.parse_args()
    wc = os.path.abspath(args.wordcount)
    if args.only:
        with tempfile.TemporaryDirectory(prefix="wc_cli_") as tmp:
            globals()[args.only](wc, tmp)
        print(f"{passed} passed, {len(failures)} failed")
        return 1 if failures else 0
    with tempfile.TemporaryDirectory(prefix="wc_cli_") as tmp:
        data = os.path.join(tmp, "data")
        p = run(wc, "gen", "--files", "3", "--rows", "4000", "--seed", "7", data)
        check("gen exits 0", p.returncode == 0, p.stderr)
        files = sorted(os.path.join(data, f) for f in os.listdir(data))
        check("gen writes 3 files", len(files) == 3, files)

        # serial over a glob equals pandas, byte for byte, and top-3 lines match its head
        out = os.path.join(tmp, "serial.txt")
        p = run(wc, "serial", "--out", out, os.path.join(data, "*.csv"))
        check("serial exits 0", p.returncode == 0, p.stderr)
        ref = os.path.join(tmp, "pandas.txt")
        subprocess.run(["/usr/bin/python3", PANDAS_COUNT, ref] + files, check=True)
        got, exp = open(out, "rb").read(), open(ref, "rb").read()
        check("serial --out equals pandas", got == exp, f"{len(got)} vs {len(exp)} bytes")
        top = [l.split(b"\t", 1) for l in exp.splitlines()[:3]]
        want_top = b"".join(w + b": " + c + b"\n" for c, w in top)
        check("serial prints the top 3 as 'word: count'", p.stdout == want_top, p.stdout)

        # a directory argument and --threads give the same counts
        out2 = os.path.join(tmp, "serial2.txt")
        p = run(wc, "serial", "--threads", "1", "--chunk-bytes", "100000", "--out", out2, data)
        check("directory input, 1 thread, small chunks", open(out2, "rb").read() == exp, p.stderr)

        # split by rows and by bytes: parts count exactly like the input
        for mode, n in (("--rows", "1500"), ("--bytes", "300000")):
            parts_dir = os.path.join(tmp, "parts" + mode)
            p = run(wc, "split", mode, n, files[0], parts_dir)
            check(f"split {mode} exits 0", p.returncode == 0, p.stderr)
            parts = sorted(os.listdir(parts_dir))
            check(f"split {mode} names parts part_0001.csv...", parts and parts[0] == "part_0001.csv", parts)
            a, b = os.path.join(tmp, "a.txt"), os.path.join(tmp, "b.txt")
            run(wc, "serial", "-q", "--out", a, files[0])
            run(wc, "serial", "-q", "--out", b, parts_dir)
            check(f"split {mode} parts count like the input", open(a, "rb").read() == open(b, "rb").read())

        # a bad file among good ones: named with its line, exit 1, the others still counted
        bad = os.path.join(data, "zz_bad.csv")
        with open(bad, "w") as fh:
            fh.write("a,text\n1,ok words\n2,too,many\n")
        out3 = os.path.join(tmp, "serial3.txt")
        p = run(wc, "serial", "--out", out3, data, text=True)
        check("bad file: exit code 1", p.returncode == 1, p.returncode)
        check("bad file: named with file and line", "zz_bad.csv:3: expected 2 fields, saw 3" in p.stderr, p.stderr)
        check("bad file: the good files are still counted exactly", open(out3, "rb").read() == exp)
        os.remove(bad)

        # nothing matches: exit 3; bad option: exit 2
        p = run(wc, "serial", os.path.join(tmp, "nothing", "*.csv"), text=True)
        check("no input matched: exit 3", p.returncode == 3, p.returncode)
        check("no input matched: says so", "no file matches" in p.stderr, p.stderr)
        # Sixth held-out pass: a literal path naming no file was a FAILED file (exit 1) in serial
        # and "no input" (exit 3) in run. Every input missing is no input in both; a missing
        # file among others is a failed file.
        missing = os.path.join(tmp, "missing.csv")
        p = run(wc, "serial", missing, text=True)
        check("a missing literal path: exit 3, named", p.returncode == 3 and
              f"wordcount serial: {missing}: cannot open: No such file or directory" in p.stderr,
              (p.returncode, p.stderr))
        p = run(wc, "serial", missing, files[0], text=True)
        check("a missing file among others: exit 1, FAILED", p.returncode == 1 and
              f"FAILED {missing}: cannot open" in p.stderr, (p.returncode, p.stderr))
        p = run(wc, "serial", "--threads", "x", data)
        check("bad option value: exit 2", p.returncode == 2, p.returncode)
        # Sixth pass: "wordcount bogus" said only "A subcommand is required"; "--wait-seconds +5"
        # was taken while the integer options refuse a leading '+'.
        expect_usage(wc, "an unknown command", ["bogus"], ['unknown command "bogus" (the commands: serial,'])
        expect_usage(wc, "--wait-seconds +5", ["worker", "--wait-seconds", "+5"],
                     ["--wait-seconds must be a number of seconds from 0 to 86400, got +5"])
        p = run(wc, "split", files[0], os.path.join(tmp, "p"))
        check("split without a limit: exit 2", p.returncode == 2, p.returncode)
        p = run(wc, "--help", text=True)
        check("--help documents exit codes", "Exit codes" in p.stdout and p.returncode == 0, p.stdout)
        check("--help documents exit code 6", "6 output could not be written" in p.stdout, p.stdout)

        test_non_regular_inputs(wc, tmp, data, exp)
        test_inputs_named_as_given(wc, tmp, files)
        test_directory_skips_hidden_files(wc, tmp, files)
        test_output_errors(wc, tmp, data, files)
        test_reader_goes_away(wc, data)
        test_untrusted_names(wc, tmp, files)
        test_logfile_is_opened_safely(wc, tmp, data)
        test_outputs_are_whole_or_nothing(wc, tmp, data, exp)
        test_split_and_gen_leave_nothing_stale(wc, tmp, data)
        test_outputs_third_pass(wc, tmp, data, exp)
        test_run_stops_cleanly(wc, tmp, data)
        test_logfile_survives_a_run_that_ends_before_its_job(wc, tmp)
        test_out_naming_logfile_is_refused_before_anything_runs(wc, tmp)
        test_a_config_another_user_could_write_is_refused(wc, tmp, data)
        test_standard_streams_on_an_input_are_refused(wc, tmp)
        test_numeric_options_are_bounded(wc, tmp, data)
        test_named_config_must_exist(wc, tmp)
        test_timing_keys(wc, tmp, data)
        test_redis_args(wc, tmp, data)
        test_redis_urls_and_passwords(wc, tmp, data)
        test_redis_locations_are_checked(wc, tmp, data)
        test_sentinel_that_is_a_plain_redis(wc, tmp)
        test_unusable_spill_dir_leaves_nothing(wc, tmp, data)
        test_words_with_control_bytes(wc, tmp)
        test_paths_others_could_swap(wc, tmp, data)
        test_log_trouble_mid_run(wc, tmp, data)
        test_glob_is_pythons(wc, tmp)

    print(f"{passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
