#!/usr/bin/python3
"""netbed: a multi-host test bed for the distributed job, made of Linux network namespaces.

Every bed is private and disposable:

* one namespace per host (`wcnb-<random>-<host>`), each with one veth interface whose peer is
  a port of a bridge that lives in a namespace of its own (`wcnb-<random>-br`); the hosts get
  addresses in 10.213.<random 0-255>.0/24, a subnet that exists only inside those namespaces
  (the root namespace gets no interface, no address, no route, no qdisc: the only things done
  there are `ip netns add` and `ip netns del`). IPv6 is switched off in every namespace, so
  nothing but the bed's IPv4 traffic and loopback ever leaves a process.
* every process is started inside a host's namespace (`ip netns exec`), in a session of its
  own, and recorded; teardown SIGKILLs each recorded process group, then anything still
  inside the bed's namespaces (`ip netns pids`), deletes the namespaces and the bed's temp
  dir. Teardown runs from `Bed.__exit__`, from `atexit`, and from SIGTERM/SIGINT (turned into
  exceptions, so `finally` blocks run); signals are blocked while it runs.
* the "shared file system" of the hosts is simply the bed's temp dir under /tmp: all
  namespaces see the same files (the lab's assumption of one shared file system).
* Redis runs on its host from a 0600 config file in the bed's temp dir (bind to its bed
  address only, `requirepass`, `appendonly yes`, `appendfsync everysec`, `save ""`); the
  password is never on a command line of ours: redis-cli gets it through REDISCLI_AUTH, the
  bed's own RESP client through NETBED_REDIS_PASSWORD, wordcount through `redis_auth()` (see
  there: WC_REDIS_PASSWORD once the CLI reads it, the URL until then).

Substitutions, because of what this kernel and machine have (checked):

* no `netem` qdisc ("Specified qdisc kind is unknown"), so no kernel delay/loss emulation.
  `slow()` uses `tbf` (rate limit, on both ends of a host's link); its small queue (`latency`)
  drops what overflows, which gives real packet loss and TCP retransmissions under load.
  Delay and connection loss come from `Proxy`: a userspace TCP proxy (asyncio, this file,
  `netbed.py proxy`) running in a host's namespace, bound to that host's bed address and
  forwarding to Redis. It delays every chunk by ~20 ms (seeded jitter, order kept, pipelined:
  latency, not a throughput cap) and cuts connections (RST both sides) at random - per
  forwarded chunk with a small seeded probability, at most `max_cuts` times and only during
  the first `cut_window` seconds, so a job always gets a quiet link to finish on; the proxy
  also exits by itself after `lifetime` seconds.
* no iptables/nftables binaries installed. The kernel has nf_tables (CONFIG_NF_TABLES=y,
  NFT_NUMGEN, NFT_REJECT): `apt-get install nftables` gives an `nft` that works inside a
  namespace, random drops (`numgen random mod 100 < 5 drop`) included (checked, then
  removed again). The bed does not depend on a package CI lacks: a cut link is a bridge port
  set down (`link_down`): the host's packets vanish silently, as in a real partition (no RST,
  no ICMP), and loss comes from tbf's queue and the proxy's cuts.
* no ping: reachability is checked with Redis PINGs (redis-cli inside a namespace).

API (see each docstring): `Bed()` (context manager) -> `bed.host(name)` -> `host.spawn(argv,
env=, log=)`, `host.run(argv)`; `bed.link_down/link_up(host)`, `bed.slow/unslow(host, rate)`,
`bed.kill(proc, sig)`, `bed.start_redis/kill_redis/restart_redis()`, `bed.redis_url()` /
`bed.wc_env()`, `bed.redis_cli(...)`, `bed.pending_of(consumer)`, `bed.zdump(key, out)`,
`bed.start_proxy(...)`; waiting helpers `bed.wait_for(pred, timeout, what)`,
`bed.wait_exit(proc, timeout)`, `bed.tails(...)`. `netbed.py cleanup` removes beds whose owner
process died (SIGKILLed runner); `netbed.py proxy|zdump` are the in-namespace helpers.
"""
import argparse
import asyncio
import atexit
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "differential"))
from counts_escape import escape  # noqa: E402  (the counts file's word escaping)

PREFIX = "wcnb-"
SUBNET_FMT = "10.213.{}.0/24"
REDIS_PORT = 6379
THIS_FILE = os.path.abspath(__file__)

# How wordcount processes get the Redis password: True = WC_REDIS_PASSWORD in the environment
# (the target CLI), False = in the URL (redis://:pw@host:port, what the CLI reads today),
# "auto" = the environment if the binary mentions WC_REDIS_PASSWORD. Switching is this line.
PASSWORD_VIA_ENV = "auto"


def redis_auth(password, host, port, via_env):
    """(url, extra environment) for a wordcount process: THE one place that decides how the
    password travels."""
    if via_env:
        return f"redis://{host}:{port}", {"WC_REDIS_PASSWORD": password}
    return f"redis://:{password}@{host}:{port}", {}


class BedError(Exception):
    """A bed operation or a wait failed; the message carries the relevant log tails."""


class Unavailable(Exception):
    """Network namespaces (or a tool the bed needs) are not available here."""


# --------------------------------------------------------------------------------------------
# teardown on every exit path

_LIVE = []  # beds not torn down yet
_HANDLERS_INSTALLED = False


def _on_signal(signum, _frame):
    # Raise, so that every `finally` (and Bed.__exit__) runs; atexit is the backstop.
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


def _install_handlers():
    global _HANDLERS_INSTALLED
    if _HANDLERS_INSTALLED or threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    atexit.register(_teardown_all)
    _HANDLERS_INSTALLED = True


def _teardown_all():
    for bed in list(_LIVE):
        bed.down()


def _sh(argv, timeout=20, check=True, env=None, input=None):
    """Runs a short command (no network unless it runs in a namespace); returns stdout text."""
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, input=input)
    if check and p.returncode != 0:
        raise BedError(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr.strip() or p.stdout.strip()}")
    return p.stdout


def _tail(path, n=20):
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - 16384))
            lines = fh.read().decode("utf-8", "replace").splitlines()
        return lines[-n:]
    except OSError as e:
        return [f"(cannot read: {e})"]


def _proc_starttime(pid):
    """The start time of a live process (None if gone or a zombie): with the PID, an identity."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return None if fields[0] in ("Z", "X") else fields[19]
    except (OSError, IndexError):
        return None


def check_available():
    """Raises Unavailable with the reason if beds cannot be built here."""
    if os.geteuid() != 0:
        raise Unavailable("not root (network namespaces need CAP_SYS_ADMIN)")
    for tool in ("ip", "tc", "redis-server", "redis-cli", "redis-check-aof"):
        if shutil.which(tool) is None:
            raise Unavailable(f"{tool} not found")
    name = f"{PREFIX}{secrets.token_hex(4)}-probe"
    p = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if p.returncode != 0:
        raise Unavailable(f"`ip netns add` failed: {p.stderr.strip()}")
    subprocess.run(["ip", "netns", "del", name], capture_output=True)


# --------------------------------------------------------------------------------------------


class Host:
    """One machine of the bed: a network namespace with one address on the bed's bridge."""

    def __init__(self, bed, name, ns, addr, ifname, port):
        self.bed, self.name, self.ns, self.addr = bed, name, ns, addr
        self.ifname = ifname  # its interface, inside its namespace
        self.port = port  # the bridge port it hangs on, inside the bridge's namespace

    def __repr__(self):
        return f"Host({self.name} {self.addr} ns={self.ns})"

    def _env(self, env):
        e = dict(os.environ)
        e["TMPDIR"] = self.bed.tmp  # defaults of our programs (spill dir, temp files) stay in the bed
        e.pop("REDISCLI_AUTH", None)
        e.pop("WC_REDIS_PASSWORD", None)
        if env:
            e.update(env)
        return e

    def spawn(self, argv, env=None, log=None, label=None):
        """Starts argv in this host's namespace (own session, stdout+stderr to `log`, by default
        LOGDIR/<label>.log) and records it for teardown. Returns the Popen, with .log and .label."""
        label = label or f"{self.name}-{os.path.basename(argv[0])}"
        log = log or os.path.join(self.bed.logdir, f"{label}.log")
        fh = open(log, "ab")
        try:
            p = subprocess.Popen(["ip", "netns", "exec", self.ns] + [str(a) for a in argv], stdin=subprocess.DEVNULL,
                                 stdout=fh, stderr=subprocess.STDOUT, env=self._env(env), start_new_session=True)
        finally:
            fh.close()
        p.log, p.label, p.host = log, label, self
        self.bed._procs.append(p)
        return p

    def run(self, argv, env=None, timeout=20, input=None):
        """Runs a short command in this namespace and waits for it (killed at `timeout`)."""
        return subprocess.run(["ip", "netns", "exec", self.ns] + [str(a) for a in argv], capture_output=True,
                              text=True, env=self._env(env), timeout=timeout, input=input)


class Proxy:
    """A delaying, connection-cutting TCP proxy running in a host's namespace (see `proxy`)."""

    def __init__(self, proc, addr, port, events):
        self.proc, self.addr, self.port, self.events_path = proc, addr, port, events

    def events(self):
        out = []
        try:
            with open(self.events_path) as fh:
                for line in fh:
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
        except OSError:
            pass
        return out

    def count(self, kind):
        return sum(1 for e in self.events() if e.get("ev") == kind)


class Bed:
    """A private multi-host network: `with Bed(wordcount=path) as bed: ...`.

    hosts: names (lowercase letters/digits, <= 8 chars); "redis" is where start_redis() runs.
    """

    def __init__(self, hosts=("redis", "coord", "w1", "w2"), wordcount=None, keep_tmp=False):
        for h in hosts:
            if not re.fullmatch(r"[a-z0-9]{1,8}", h):
                raise ValueError(f"bad host name {h!r}")
        self.host_names = list(hosts)
        self.wordcount = wordcount
        self.keep_tmp = keep_tmp
        self.hosts = {}
        self._procs = []
        self._namespaces = []
        self._up = False
        self.tmp = None
        self.redis_proc = None
        self.redis_password = None
        self.redis_conf = None
        self.redis_host = None
        self.redis_port = REDIS_PORT
        self._via_env = None

    # ---- life cycle

    def __enter__(self):
        try:
            self.up()
        except BaseException:
            self.down()  # __exit__ does not run when __enter__ fails
            raise
        return self

    def __exit__(self, *exc):
        self.down()
        return False

    def up(self):
        _install_handlers()
        _LIVE.append(self)
        self._up = True
        self.tag = secrets.token_hex(3)
        self.octet = random.SystemRandom().randrange(256)
        self.subnet = SUBNET_FMT.format(self.octet)
        self.tmp = tempfile.mkdtemp(prefix=f"{PREFIX}{self.tag}-", dir="/tmp")
        self.logdir = os.path.join(self.tmp, "logs")
        os.makedirs(self.logdir)
        self.br_ns = f"{PREFIX}{self.tag}-br"
        names = [self.br_ns] + [f"{PREFIX}{self.tag}-{h}" for h in self.host_names]
        with open(os.path.join(self.tmp, "owner.json"), "w") as fh:
            json.dump({"pid": os.getpid(), "start": _proc_starttime(os.getpid()), "namespaces": names}, fh)
        self._netns_add(self.br_ns)
        bridge = f"br{self.tag}"
        _sh(["ip", "-n", self.br_ns, "link", "add", bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0"])
        _sh(["ip", "-n", self.br_ns, "link", "set", bridge, "up"])
        for i, name in enumerate(self.host_names):
            ns = f"{PREFIX}{self.tag}-{name}"
            self._netns_add(ns)
            ifname, port = f"nb{self.tag}", f"{name}-{self.tag}"
            addr = f"10.213.{self.octet}.{10 + i}"
            _sh(["ip", "-n", ns, "link", "add", ifname, "type", "veth", "peer", "name", port, "netns", self.br_ns])
            _sh(["ip", "-n", self.br_ns, "link", "set", port, "master", bridge])
            _sh(["ip", "-n", self.br_ns, "link", "set", port, "up"])
            _sh(["ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", ifname])
            _sh(["ip", "-n", ns, "link", "set", ifname, "up"])
            self.hosts[name] = Host(self, name, ns, addr, ifname, port)
        return self

    def _netns_add(self, ns):
        self._namespaces.append(ns)  # recorded first: a signal in between still deletes it
        _sh(["ip", "netns", "add", ns])
        # No IPv6 (no router solicitations, no link-local chatter); loopback up.
        _sh(["ip", "netns", "exec", ns, "sh", "-c",
             "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6"])
        _sh(["ip", "-n", ns, "link", "set", "lo", "up"])

    def down(self):
        """Kills every process we started (and anything left in our namespaces), deletes the
        namespaces and the temp dir. Idempotent; signals are held off while it runs."""
        if not self._up:
            return
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            for p in reversed(self._procs):
                try:
                    os.killpg(p.pid, signal.SIGKILL)  # its session/group: also its children
                except (ProcessLookupError, PermissionError):
                    pass
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
            for ns in self._namespaces:
                for _ in range(3):
                    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
                    pids = [int(x) for x in out.split()]
                    if not pids:
                        break
                    for pid in pids:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    time.sleep(0.1)
            for ns in reversed(self._namespaces):
                for _ in range(5):
                    r = subprocess.run(["ip", "netns", "del", ns], capture_output=True, text=True)
                    if r.returncode == 0 or "No such file" in r.stderr:
                        break
                    time.sleep(0.2)
            self._namespaces = []
            if self.tmp and not self.keep_tmp:
                shutil.rmtree(self.tmp, ignore_errors=True)
        finally:
            self._up = False
            if self in _LIVE:
                _LIVE.remove(self)
            signal.pthread_sigmask(signal.SIG_SETMASK, old)

    # ---- hosts and links

    def host(self, name):
        return self.hosts[name]

    def _h(self, host):
        return host if isinstance(host, Host) else self.hosts[host]

    def link_down(self, host):
        """Cuts `host` off the bridge: its bridge port goes down, its packets vanish silently."""
        h = self._h(host)
        _sh(["ip", "-n", self.br_ns, "link", "set", h.port, "down"])

    def link_up(self, host):
        h = self._h(host)
        _sh(["ip", "-n", self.br_ns, "link", "set", h.port, "up"])

    def slow(self, host, rate="2mbit", latency="50ms", burst="16kb"):
        """Rate-limits `host`'s link both ways with tbf (on its interface and on its bridge port).
        Packets beyond `latency` of queue are dropped: loss under load."""
        h = self._h(host)
        for ns, dev in ((h.ns, h.ifname), (self.br_ns, h.port)):
            _sh(["ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate", rate,
                 "burst", burst, "latency", latency])

    def unslow(self, host):
        h = self._h(host)
        for ns, dev in ((h.ns, h.ifname), (self.br_ns, h.port)):
            _sh(["ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", dev, "root"], check=False)

    def link_stats(self, host):
        """{"out": (bytes, dropped), "in": (bytes, dropped)} of `host`'s link qdiscs (tbf
        drops are the link's packet loss)."""
        h = self._h(host)
        stats = {}
        for key, ns, dev in (("out", h.ns, h.ifname), ("in", self.br_ns, h.port)):
            text = _sh(["ip", "netns", "exec", ns, "tc", "-s", "qdisc", "show", "dev", dev], check=False)
            m = re.search(r"Sent (\d+) bytes \d+ pkt \(dropped (\d+)", text)
            stats[key] = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        return stats

    # ---- processes

    def kill(self, proc, sig=signal.SIGKILL):
        """Sends `sig` to one process we started (its PID only, not its children)."""
        if proc not in self._procs:
            raise BedError(f"not one of the bed's processes: {proc.pid}")
        if proc.poll() is None:
            os.kill(proc.pid, sig)

    def wait_exit(self, proc, timeout, what=None, logs=()):
        """Waits for `proc` to exit by itself; on timeout SIGKILLs it and raises with log tails."""
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill(proc, signal.SIGKILL)
            proc.wait()
            raise BedError(f"{what or proc.label} did not exit within {timeout} s (killed)"
                           + self.tails([proc.log] + list(logs)))

    def wait_for(self, pred, timeout, what, logs=(), interval=0.05):
        """Polls pred() until it returns a true value (returned); raises BedError naming `what`
        with the tails of `logs` after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            v = pred()
            if v:
                return v
            if time.monotonic() >= deadline:
                raise BedError(f"timed out after {timeout} s waiting for {what}" + self.tails(logs))
            time.sleep(interval)

    def tails(self, logs, n=12):
        """The last `n` lines of each log (paths or spawned processes) that has any."""
        out = []
        for item in logs:
            path = getattr(item, "log", item)
            if path and os.path.exists(path) and os.path.getsize(path) > 0:
                out.append(f"\n--- tail of {path}:\n" + "\n".join("    " + l for l in _tail(path, n)))
            elif path and not os.path.exists(path):
                out.append(f"\n--- {path}: missing")
        return "".join(out)

    # ---- Redis

    def start_redis(self, host="redis", port=REDIS_PORT, extra_conf=()):
        """Starts redis-server on `host`, bound to its bed address only, from a 0600 config
        file (password, AOF every second, no save points). Waits until it answers."""
        self.redis_host, self.redis_port = self._h(host), port
        d = os.path.join(self.tmp, "redis")
        os.makedirs(d, exist_ok=True)
        self.redis_password = secrets.token_hex(16)
        self.redis_conf = os.path.join(d, "redis.conf")
        lines = [f"bind {self.redis_host.addr}", f"port {port}", "protected-mode yes", "daemonize no",
                 f"requirepass {self.redis_password}", f"dir {d}", "logfile redis.log", "appendonly yes",
                 "appendfsync everysec", 'save ""'] + list(extra_conf)
        fd = os.open(self.redis_conf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        self.redis_log = os.path.join(d, "redis.log")
        return self.restart_redis()

    def restart_redis(self):
        """Starts redis-server again from the same config (address, port, password, AOF dir)."""
        if self.redis_proc is not None and self.redis_proc.poll() is None:
            raise BedError("redis-server is still running")
        # The operator's step the README asks for before restarting an AOF Redis 7.0: cut a
        # MULTI/EXEC block torn by the crash off the file's tail (else the next restart but one
        # applies half of it).
        manifest = os.path.join(os.path.dirname(self.redis_conf), "appendonlydir", "appendonly.aof.manifest")
        if os.path.exists(manifest):
            fix = subprocess.run(["redis-check-aof", "--fix", manifest], input=b"y\n", capture_output=True)
            if fix.returncode != 0:
                raise BedError(f"redis-check-aof --fix failed: {fix.stdout.decode(errors='replace')[-500:]}")
        self.redis_proc = self.redis_host.spawn(["redis-server", self.redis_conf], label="redis-server")
        self.wait_for(lambda: self.redis_ping() or self._redis_died(), 20, "redis-server to answer PING",
                      logs=[self.redis_proc, self.redis_log])
        return self.redis_proc

    def _redis_died(self):
        if self.redis_proc.poll() is not None:
            raise BedError(f"redis-server exited with {self.redis_proc.returncode}"
                           + self.tails([self.redis_proc, self.redis_log]))
        return False

    def kill_redis(self, sig=signal.SIGKILL):
        """SIGKILLs (by default) our redis-server: a crash, no final save."""
        self.kill(self.redis_proc, sig)
        self.redis_proc.wait(timeout=10)

    def redis_ping(self):
        try:
            return self.redis_cli("PING") == "PONG"
        except BedError:
            return False

    def redis_cli(self, *args, host=None, timeout=10):
        """Runs one command with redis-cli from `host` (default: the Redis host itself, which
        no link cut separates from Redis) and returns the reply decoded from --json (RESP2).
        Raises BedError on a connection failure or an error reply."""
        h = self._h(host) if host else self.redis_host
        env = {"REDISCLI_AUTH": self.redis_password}
        try:
            p = h.run(["redis-cli", "-2", "--json", "-h", self.redis_host.addr, "-p", str(self.redis_port)]
                      + [str(a) for a in args], env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BedError(f"redis-cli {args[0]} timed out after {timeout} s") from None
        out = p.stdout.strip()
        if p.returncode != 0 or not out:
            raise BedError(f"redis-cli {' '.join(map(str, args))}: rc {p.returncode} {p.stderr.strip()} {out}")
        if out.startswith(("error:", "(error)", "ERR", "NOAUTH", "WRONGPASS")):
            raise BedError(f"redis-cli {' '.join(map(str, args))}: {out}")
        try:
            return json.loads(out)
        except ValueError:
            return out

    def pending_of(self, consumer, stream="files", group="worker"):
        """How many entries `consumer` holds in the group's pending list (0 if none/no group)."""
        try:
            r = self.redis_cli("XPENDING", stream, group)
        except BedError:
            return 0
        if not isinstance(r, list) or len(r) < 4 or not r[3]:
            return 0
        for name, n in r[3]:
            if name == consumer:
                return int(n)
        return 0

    def hget(self, key, field):
        try:
            return self.redis_cli("HGET", key, field)
        except BedError:
            return None

    def zdump(self, key, out):
        """Writes every (word, count) of sorted set `key` to `out` in `wordcount serial --out`
        format (binary-safe RESP client run in the Redis host's namespace)."""
        p = self.redis_host.run([sys.executable, THIS_FILE, "zdump", "--addr", self.redis_host.addr, "--port",
                                 str(self.redis_port), "--key", key, "--out", out],
                                env={"NETBED_REDIS_PASSWORD": self.redis_password}, timeout=60)
        if p.returncode != 0:
            raise BedError(f"zdump {key}: {p.stderr.strip()}")

    # ---- wordcount's view of Redis

    def password_via_env(self):
        if self._via_env is None:
            if PASSWORD_VIA_ENV == "auto":
                try:
                    with open(self.wordcount, "rb") as fh:
                        self._via_env = b"WC_REDIS_PASSWORD" in fh.read()
                except (OSError, TypeError):
                    self._via_env = False
            else:
                self._via_env = bool(PASSWORD_VIA_ENV)
        return self._via_env

    def redis_url(self, addr=None, port=None):
        """The URL a wordcount process is given (with the password in it only while the CLI
        cannot read WC_REDIS_PASSWORD); `addr`/`port` point it elsewhere, e.g. at a proxy."""
        return redis_auth(self.redis_password, addr or self.redis_host.addr, port or self.redis_port,
                          self.password_via_env())[0]

    def wc_env(self):
        return redis_auth(self.redis_password, self.redis_host.addr, self.redis_port, self.password_via_env())[1]

    # ---- the lossy link

    def start_proxy(self, host, listen_port, delay_ms=20, jitter_ms=5, cut_prob=0.02, cut_window=10.0,
                    max_cuts=5, seed=1, lifetime=300, upstream=None):
        """Starts the delaying, cutting proxy in `host`'s namespace on its address:listen_port,
        forwarding to `upstream` (default: Redis). Returns a Proxy once it listens."""
        h = self._h(host)
        up_addr, up_port = upstream or (self.redis_host.addr, self.redis_port)
        events = os.path.join(self.logdir, f"proxy-{h.name}-{listen_port}.events")
        proc = h.spawn([sys.executable, THIS_FILE, "proxy", "--listen", f"{h.addr}:{listen_port}", "--upstream",
                        f"{up_addr}:{up_port}", "--delay-ms", delay_ms, "--jitter-ms", jitter_ms, "--cut-prob",
                        cut_prob, "--cut-window", cut_window, "--max-cuts", max_cuts, "--seed", seed, "--lifetime",
                        lifetime, "--events", events], label=f"proxy-{h.name}")
        px = Proxy(proc, h.addr, listen_port, events)

        def ready():
            if proc.poll() is not None:
                raise BedError(f"proxy exited with {proc.returncode}" + self.tails([proc]))
            return px.count("listening") > 0
        self.wait_for(ready, 10, "the proxy to listen", logs=[proc])
        return px


# --------------------------------------------------------------------------------------------
# in-namespace helpers: a tiny RESP client, zdump, the proxy, cleanup


class RespError(Exception):
    pass


class Resp:
    """A minimal, binary-safe RESP2 client."""

    def __init__(self, host, port, password=None, timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.f = self.sock.makefile("rb")
        if password:
            self.call("AUTH", password)

    def call(self, *args):
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(parts))
        return self._read()

    def _read(self):
        line = self.f.readline()
        if not line:
            raise RespError("connection closed")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest
        if t == b"-":
            raise RespError(rest.decode("utf-8", "replace"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            return data[:-2]
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RespError(f"bad reply line {line!r}")


def _zdump_main(args):
    r = Resp(args.addr, args.port, os.environ.get("NETBED_REDIS_PASSWORD"))
    items = []
    page = 100000
    for start in range(0, 1 << 62, page):
        got = r.call("ZRANGE", args.key, start, start + page - 1, "WITHSCORES")
        for i in range(0, len(got), 2):
            s = got[i + 1].decode()
            items.append((int(s) if s.lstrip("-").isdigit() else int(float(s)), got[i]))
        if len(got) < 2 * page:
            break
    items.sort(key=lambda cw: (-cw[0], cw[1]))
    with open(args.out, "wb") as fh:
        fh.write(b"".join(b"%d\t%s\n" % (c, escape(w)) for c, w in items))
    return 0


def _set_rst(writer):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass


async def _proxy(args):
    loop = asyncio.get_running_loop()
    rng = random.Random(args.seed)
    t0 = loop.time()
    state = {"cuts": 0, "conns": 0}
    ev = open(args.events, "a", buffering=1)

    def emit(kind, **kw):
        ev.write(json.dumps({"t": round(loop.time() - t0, 3), "ev": kind, **kw}) + "\n")

    def maybe_cut():
        return (state["cuts"] < args.max_cuts and loop.time() - t0 < args.cut_window and rng.random() < args.cut_prob)

    async def handle(c_reader, c_writer):
        state["conns"] += 1
        cid = state["conns"]
        host, port = args.upstream.rsplit(":", 1)
        try:
            u_reader, u_writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 10)
        except (OSError, asyncio.TimeoutError) as e:
            emit("upstream_failed", conn=cid, error=str(e))
            _set_rst(c_writer)
            c_writer.transport.abort()
            return
        emit("open", conn=cid)
        done = asyncio.Event()

        def cut(why):
            if done.is_set():
                return
            done.set()
            for w in (c_writer, u_writer):
                _set_rst(w)
                w.transport.abort()
            emit("cut" if why == "cut" else "closed", conn=cid, why=why)

        async def pump(reader, writer, direction):
            q = asyncio.Queue()
            last_due = [0.0]

            async def sender():
                while True:
                    item = await q.get()
                    if item is None:
                        try:
                            writer.write_eof()
                        except (OSError, RuntimeError):
                            pass
                        return
                    due, data = item
                    wait = due - loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    if done.is_set():
                        return
                    writer.write(data)
                    try:
                        await writer.drain()
                    except (OSError, ConnectionError):
                        cut("peer_error")
                        return

            s = asyncio.ensure_future(sender())
            try:
                while not done.is_set():
                    try:
                        data = await reader.read(65536)
                    except (OSError, ConnectionError):
                        cut("peer_error")
                        break
                    if not data:
                        q.put_nowait(None)
                        break
                    if maybe_cut():
                        state["cuts"] += 1
                        cut("cut")
                        break
                    delay = max(0.0, args.delay_ms + rng.uniform(-args.jitter_ms, args.jitter_ms)) / 1000
                    due = max(loop.time() + delay, last_due[0])
                    last_due[0] = due
                    q.put_nowait((due, data))
            finally:
                if done.is_set():
                    s.cancel()
            try:
                await s
            except asyncio.CancelledError:
                pass

        await asyncio.gather(pump(c_reader, u_writer, "up"), pump(u_reader, c_writer, "down"))
        if not done.is_set():
            done.set()
            for w in (c_writer, u_writer):
                w.close()
            emit("closed", conn=cid, why="eof")

    host, port = args.listen.rsplit(":", 1)
    server = await asyncio.start_server(handle, host, int(port), reuse_address=True)
    emit("listening", addr=args.listen, upstream=args.upstream)
    async with server:
        await asyncio.sleep(args.lifetime)
    emit("lifetime_over")


def _cleanup_main(_args):
    """Removes beds whose owner process is gone (a runner that was SIGKILLed): only beds that
    have an owner.json of ours, never other namespaces."""
    import glob
    removed = 0
    for owner in glob.glob(f"/tmp/{PREFIX}*/owner.json"):
        try:
            with open(owner) as fh:
                o = json.load(fh)
        except (OSError, ValueError):
            continue
        if o.get("start") and _proc_starttime(o["pid"]) == o["start"]:
            continue  # its runner is alive
        for ns in o.get("namespaces", []):
            if not ns.startswith(PREFIX):
                continue
            out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
            for pid in (int(x) for x in out.split()):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(os.path.dirname(owner), ignore_errors=True)
        removed += 1
        print(f"removed stale bed {os.path.dirname(owner)}")
    print(f"{removed} stale bed(s) removed")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description="netbed helpers (run inside a bed's namespaces)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("proxy", help="delaying, connection-cutting TCP proxy")
    p.add_argument("--listen", required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--delay-ms", type=float, default=20)
    p.add_argument("--jitter-ms", type=float, default=5)
    p.add_argument("--cut-prob", type=float, default=0.02)
    p.add_argument("--cut-window", type=float, default=10)
    p.add_argument("--max-cuts", type=int, default=5)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--lifetime", type=float, default=300)
    p.add_argument("--events", required=True)
    z = sub.add_parser("zdump", help="dump a sorted set in `wordcount serial --out` format")
    z.add_argument("--addr", required=True)
    z.add_argument("--port", type=int, required=True)
    z.add_argument("--key", required=True)
    z.add_argument("--out", required=True)
    sub.add_parser("cleanup", help="remove beds whose runner died")
    args = ap.parse_args(argv)
    if args.cmd == "proxy":
        asyncio.run(_proxy(args))
        return 0
    if args.cmd == "zdump":
        return _zdump_main(args)
    return _cleanup_main(args)


if __name__ == "__main__":
    sys.exit(main())
