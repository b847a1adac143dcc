"""Diagnostic only: inside the worker, every 20 s log where anonymous memory lives."""
import sys
if "worker" in sys.argv:
    import ctypes, json, os, re, tempfile, threading, time

    class _MI2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                     "fsmblks", "uordblks", "fordblks", "keepcost")]
    _libc = ctypes.CDLL("libc.so.6")
    _libc.mallinfo2.restype = _MI2

    def _arenas() -> tuple[int, int]:
        fd = os.dup(2)
        with tempfile.TemporaryFile() as f:
            os.dup2(f.fileno(), 2)
            try:
                sys._debugmallocstats()
            finally:
                os.dup2(fd, 2); os.close(fd)
            f.seek(0); text = f.read().decode(errors="replace")
        cur = re.search(r"# arenas allocated current\s*=\s*([\d,]+)", text)
        hw = re.search(r"# arenas highwater mark\s*=\s*([\d,]+)", text)
        n = lambda m: int(m.group(1).replace(",", "")) if m else -1
        return n(cur), n(hw)

    def _smaps() -> dict:
        out: dict = {}
        name = None; size = 0
        with open("/proc/self/smaps") as f:
            for line in f:
                if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                    parts = line.split()
                    a, b = (int(x, 16) for x in parts[0].split("-"))
                    size = b - a
                    path = parts[5] if len(parts) > 5 else ""
                    if path == "[heap]": name = "heap"
                    elif path.startswith("["): name = path
                    elif path: name = "file"
                    elif size == 2**20 or size == 256 * 1024: name = "anon_1MiB"
                    elif size >= 60 * 2**20: name = "anon_>=60MiB"
                    elif size >= 8 * 2**20: name = "anon_8-60MiB"
                    elif size > 2**20: name = "anon_1-8MiB"
                    else: name = "anon_<1MiB"
                elif line.startswith("Anonymous:") and name:
                    kb = int(line.split()[1])
                    c = out.setdefault(name, [0, 0]); c[0] += kb; c[1] += 1
        return {k: (round(v[0] / 1024, 1), v[1]) for k, v in out.items()}

    def _batch_sizes() -> dict:
        import urllib.request
        try:
            port = os.environ.get("CLV_WEB_PORT", "6066")
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        except Exception as exc:
            return {"error": str(exc)}
        out = {}
        for line in text.splitlines():
            if line.startswith("clv_batch_size_bucket"):
                le = re.search(r'le="([^"]+)"', line).group(1)
                out[le] = float(line.rsplit(" ", 1)[1])
        return out

    def _run() -> None:
        path = os.environ.get("CLV_DIAG_OUT", "/tmp/s4/diag/mem.jsonl")
        start = time.monotonic()
        while True:
            time.sleep(20)
            with open("/proc/self/status") as f:
                rss = [l for l in f if l.startswith("VmRSS")][0].split()[1]
            mi = _libc.mallinfo2()
            rec = {"t": round(time.monotonic() - start), "rss": round(int(rss) / 1024, 1),
                   "arena": round(mi.arena / 2**20, 1), "hblkhd": round(mi.hblkhd / 2**20, 1),
                   "hblks": mi.hblks, "inuse": round(mi.uordblks / 2**20, 1),
                   "free": round(mi.fordblks / 2**20, 1), "keep": round(mi.keepcost / 2**20, 1),
                   "blocks": sys.getallocatedblocks(), "py_arenas": _arenas(),
                   "threads": threading.active_count(), "smaps": _smaps(),
                   "batch_size": _batch_sizes()}
            with open(path, "a") as f:
                f.write(json.dumps(rec) + "\n")

    threading.Thread(target=_run, daemon=True, name="memdiag").start()
