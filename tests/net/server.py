#!/usr/bin/env python3
"""server.py - a loopback HTTP server for recx's download tests (python3 standard library only).

Run: python3 tests/net/server.py --root DIR [--wheel PACKAGE=FILE ...] [--lifetime SECONDS]
It binds 127.0.0.1 on a free port, prints "PORT <n>" on stdout (flushed) and serves until GET
/shutdown or the lifetime ends (default 300 s, so a crashed test never leaves it running).

Paths (any path may start with fault segments, applied in order):
  /files/<path>                  the file ROOT/<path>; honours "Range: bytes=N-" with 206
  /pypi/<package>/json           a PyPI JSON API answer for --wheel PACKAGE=FILE (FILE under ROOT):
                                 urls[] with an sdist and the bdist_wheel (url, digests.sha256, size)
  /<org>/<repo>/resolve/main/<f> Hugging Face style: 302 to /files/hf/<org>/<repo>/<f>, with
                                 X-Linked-Etag (sha256) and X-Linked-Size for .safetensors/.gguf
                                 files, and a git-style ETag (sha1 of the bytes) for others
  /stats                         JSON {"requests": [[path, range header or null], ...]}
  /shutdown                      stops the server
Fault segments:
  /x-status-N/      answer HTTP N (429 carries "Retry-After: 0")
  /x-statusonce-N/  answer HTTP N to the first request of this exact path, then serve normally
  /x-cut-N/         send the headers of the full answer, then only N body bytes, then close
  /x-cutonce-N/     the same, for the first request of this exact path only
  /x-norange/       ignore Range (always 200 with the whole file)
  /x-slow-S/        sleep S seconds before each 4 KiB of body
  /x-baddigest/     the PyPI JSON gives a wrong sha256 for the wheel
"""
import argparse
import hashlib
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = "."
WHEELS = {}
SEEN = {}
REQUESTS = []
LOCK = threading.Lock()


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the test reads only our first stdout line
        pass

    def send_plain(self, status, text, extra=None):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        full = self.path.split("?", 1)[0]
        with LOCK:
            REQUESTS.append([full, self.headers.get("Range")])
            SEEN[full] = SEEN.get(full, 0) + 1
            first = SEEN[full] == 1
        parts = [p for p in full.split("/") if p]
        faults = {}
        prefix = []
        while parts and parts[0].startswith("x-"):
            seg = parts.pop(0)
            prefix.append(seg)
            bits = seg.split("-")
            faults[bits[1]] = bits[2] if len(bits) > 2 else True
        base = "http://127.0.0.1:%d/%s" % (self.server.server_port, "".join(p + "/" for p in prefix))
        if "status" in faults or ("statusonce" in faults and first):
            code = int(faults.get("status") or faults.get("statusonce"))
            extra = {"Retry-After": "0"} if code == 429 else None
            return self.send_plain(code, "injected failure %d" % code, extra)
        if parts == ["shutdown"]:
            self.send_plain(200, "bye")
            threading.Thread(target=self.server.shutdown, daemon=True).start()
            return
        if parts == ["stats"]:
            with LOCK:
                return self.send_plain(200, json.dumps({"requests": REQUESTS}))
        if len(parts) == 3 and parts[0] == "pypi" and parts[2] == "json":
            return self.pypi(parts[1], base, faults)
        if len(parts) >= 5 and parts[2] == "resolve" and parts[3] == "main":
            return self.hub(parts, base)
        if parts and parts[0] == "files":
            return self.file(os.path.join(ROOT, *parts[1:]), faults, first)
        self.send_plain(404, "no route for %s" % full)

    def pypi(self, package, base, faults):
        if package not in WHEELS:
            return self.send_plain(404, "Not Found")
        path = WHEELS[package]
        rel = os.path.relpath(path, ROOT)
        digest = sha256_of(path)
        if "baddigest" in faults:
            digest = hashlib.sha256(b"not the wheel").hexdigest()
        answer = {
            "info": {"name": package, "version": "0.0.1"},
            "urls": [
                {"packagetype": "sdist", "filename": package + "-0.0.1.tar.gz", "url": base + "files/none.tar.gz",
                 "digests": {"sha256": "0" * 64}, "size": 1},
                {"packagetype": "bdist_wheel", "filename": os.path.basename(path), "url": base + "files/" + rel,
                 "digests": {"md5": "x", "sha256": digest}, "size": os.path.getsize(path)},
            ],
        }
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def hub(self, parts, base):
        rel = ["hf", parts[0], parts[1]] + parts[4:]
        path = os.path.join(ROOT, *rel)
        if not os.path.isfile(path):
            return self.send_plain(404, "Entry not found", {"X-Error-Code": "EntryNotFound"})
        self.send_response(302)
        self.send_header("Location", base + "files/" + "/".join(rel))
        if path.endswith((".safetensors", ".gguf")):
            self.send_header("X-Linked-Etag", '"%s"' % sha256_of(path))
            self.send_header("X-Linked-Size", str(os.path.getsize(path)))
        else:
            with open(path, "rb") as f:
                self.send_header("ETag", '"%s"' % hashlib.sha1(f.read()).hexdigest())
        self.send_header("Content-Length", "0")
        self.end_headers()

    def file(self, path, faults, first):
        if not os.path.isfile(path):
            return self.send_plain(404, "Not Found")
        with open(path, "rb") as f:
            data = f.read()
        start = 0
        rng = self.headers.get("Range")
        if rng and "norange" not in faults and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            if start >= len(data):
                return self.send_plain(416, "Range Not Satisfiable", {"Content-Range": "bytes */%d" % len(data)})
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        else:
            self.send_response(200)
            self.send_header("Accept-Ranges", "bytes")
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        cut = None
        if "cut" in faults:
            cut = int(faults["cut"])
        elif "cutonce" in faults and first:
            cut = int(faults["cutonce"])
        if cut is not None:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        slow = float(faults.get("slow", 0) or 0)
        for i in range(0, len(body), 4096):
            if slow:
                time.sleep(slow)
            try:
                self.wfile.write(body[i:i + 4096])
            except (BrokenPipeError, ConnectionResetError):
                return


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):  # clients that abort on purpose
        pass


def main():
    global ROOT
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--wheel", action="append", default=[], help="PACKAGE=FILE")
    ap.add_argument("--lifetime", type=float, default=300)
    args = ap.parse_args()
    ROOT = os.path.abspath(args.root)
    for w in args.wheel:
        name, path = w.split("=", 1)
        WHEELS[name] = os.path.abspath(path)
    server = QuietServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    timer = threading.Timer(args.lifetime, server.shutdown)
    timer.daemon = True
    timer.start()
    sys.stdout.write("PORT %d\n" % server.server_port)
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
