#!/usr/bin/env python3
"""An offline trivy vulnerability DB mirror for the testbed (stdlib only, Python >= 3.11).

trivy's DB (ghcr.io/aquasecurity/trivy-db:2) cannot be downloaded here, so this builds one from an
advisories TOML file (see advisories.toml) with gen.go — compiled once with Debian's golang-go and
golang-github-coreos-bbolt-dev, cached by source hash — and pushes it, as the same OCI artifact trivy
downloads, to a plain-HTTP registry; then `trivy … --db-repository HOST:PORT/REPO:TAG` uses it.

  mirror.py push REF [--advisories FILE] [--updated-ago DUR] [--next-update-in DUR]
                    [--unless-fresh DUR] [--wait DUR]
      build, push to REF (HOST:PORT/REPO:TAG), print the manifest digest on stdout; --unless-fresh:
      keep what REF holds if `status --max-age DUR` would pass; --wait: for a registry just started
  mirror.py build --out DIR [--advisories FILE] [--updated-ago DUR] [--next-update-in DUR]
      only write DIR/trivy.db, DIR/metadata.json and DIR/db.tar.gz (with --out C/db, C is a trivy
      cache: `trivy … --cache-dir C --skip-db-update` uses the DB without any registry)
  mirror.py status REF [--advisories FILE] [--max-age DUR] [--wait DUR]
      print "DIGEST updated-at=… next-update=… source=same|changed" (or "REF holds no trivy DB");
      exit 0 if REF holds a DB built from FILE and updated within DUR (default 24h), exit 3 if it
      holds none, an older one, or one built from other advisories or by another gen.go/mirror.py

DUR is like 72h, 90m, 2d, 1h30m or 0. UpdatedAt = now - --updated-ago (default 0), NextUpdate =
UpdatedAt + --next-update-in (default 24h): `--updated-ago 72h` makes a DB trivy considers stale.
Errors are one line on stderr, exit code 1.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
GEN_SOURCE = HERE / "gen.go"
DEBIAN_GOPATH = "/usr/share/gocode"
CONFIG_TYPE = "application/vnd.aquasec.trivy.config.v1+json"
LAYER_TYPE = "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
SOURCE_ANNOTATION = "dev.beacon.testbed.trivy-db.source-sha256"  # advisories, gen.go, mirror.py


class Fail(Exception):
    """A one-line error naming the culprit and the fix."""


def duration(text):
    parts = re.fullmatch(r"(?:\d+[dhms])+|0", text)
    if not parts:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 72h, 90m, 2d, 1h30m or 0")
    unit = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    return timedelta(seconds=sum(int(n) * unit[u] for n, u in re.findall(r"(\d+)([dhms])", text)))


def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def source_hash(advisories_file):
    """What the DB is made from: the advisories and both programs."""
    parts = (advisories_file, GEN_SOURCE, Path(__file__))
    return hashlib.sha256(b"".join(hashlib.sha256(p.read_bytes()).digest() for p in parts)).hexdigest()


def load_advisories(path):
    """The TOML file as gen.go's input; each mistake named with the advisory and the key."""
    import tomllib

    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise Fail(f"{path}: no such file: pass an advisories file with --advisories FILE")
    except tomllib.TOMLDecodeError as e:
        raise Fail(f"{path}: not valid TOML ({e}): fix the file")
    unknown = set(data) - {"advisory"}
    if unknown:
        raise Fail(f"{path}: unknown top-level key(s) {sorted(unknown)}: advisories are [[advisory]] tables")
    out, seen = [], set()
    for n, adv in enumerate(data.get("advisory", []), 1):
        where = f"{path}: advisory {n} ({adv.get('id', 'no id')})"
        allowed = {"id", "crate", "vulnerable", "fixed", "severity", "title", "description", "references"}
        if set(adv) - allowed:
            raise Fail(f"{where}: unknown key(s) {sorted(set(adv) - allowed)}: use {sorted(allowed)}")
        for key in ("id", "crate", "vulnerable", "severity", "title"):
            if key not in adv:
                raise Fail(f"{where}: missing key {key!r}: add it (see the header of advisories.toml)")
        severity = str(adv["severity"]).upper()
        if severity not in ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"):
            raise Fail(f"{where}: severity {adv['severity']!r}: use UNKNOWN, LOW, MEDIUM, HIGH or CRITICAL")
        if adv["id"] in seen:
            raise Fail(f"{where}: duplicate id: give each advisory its own id")
        seen.add(adv["id"])
        as_list = lambda v: [v] if isinstance(v, str) else list(v)  # noqa: E731
        out.append({
            "id": adv["id"],
            "crate": adv["crate"].lower(),
            "vulnerable": as_list(adv["vulnerable"]),
            "fixed": as_list(adv.get("fixed", [])),
            "severity": severity,
            "title": adv["title"],
            "description": adv.get("description", f"{adv['title']}. Synthetic advisory from {path.name}."),
            "references": as_list(adv.get("references", [])),
        })
    return {"advisories": out}


def cache_dir():
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "xtask-trivy-db"
    if os.access("/var/cache", os.W_OK):
        return Path("/var/cache/xtask-trivy-db")
    return Path.home() / ".cache" / "xtask-trivy-db"


def generator():
    """gen.go compiled once per source version (GOPATH mode: the module proxy is out of reach)."""
    digest = hashlib.sha256(GEN_SOURCE.read_bytes()).hexdigest()[:16]
    binary = cache_dir() / f"gen-{digest}"
    if binary.exists():
        return binary
    if not shutil.which("go"):
        raise Fail("go is not installed: apt-get install golang-go golang-github-coreos-bbolt-dev (or run .ci/testbed.sh)")
    gopath = ":".join(p for p in (DEBIAN_GOPATH, os.environ.get("GOPATH")) if p)
    if not any(Path(p, "src/go.etcd.io/bbolt").is_dir() for p in gopath.split(":")):
        raise Fail(f"go.etcd.io/bbolt is not in GOPATH {gopath}: apt-get install golang-github-coreos-bbolt-dev")
    binary.parent.mkdir(parents=True, exist_ok=True)
    tmp = binary.with_name(f"{binary.name}.{os.getpid()}.tmp")
    env = dict(os.environ, GO111MODULE="off", GOPATH=gopath, GOFLAGS="", CGO_ENABLED="0",
               GOCACHE=str(binary.parent / "go-build"))
    built = subprocess.run(["go", "build", "-o", str(tmp), str(GEN_SOURCE)], env=env, capture_output=True, text=True)
    if built.returncode != 0:
        raise Fail(f"cannot compile {GEN_SOURCE}: {' '.join(built.stderr.split())}")
    os.replace(tmp, binary)
    return binary


def build(advisories_file, out, updated_ago, next_update_in):
    """Writes out/trivy.db, out/metadata.json and out/db.tar.gz; returns the UpdatedAt time."""
    advisories = load_advisories(advisories_file)
    updated = datetime.now(timezone.utc).replace(microsecond=0) - updated_ago
    out.mkdir(parents=True, exist_ok=True)
    gen = subprocess.run(
        [str(generator()), "-out", str(out), "-updated-at", rfc3339(updated),
         "-next-update", rfc3339(updated + next_update_in), "-downloaded-at", rfc3339(updated)],
        input=json.dumps(advisories), capture_output=True, text=True)
    if gen.returncode != 0:
        raise Fail(f"{advisories_file}: {gen.stderr.strip()}")
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name in ("trivy.db", "metadata.json"):
            info = tar.gettarinfo(str(out / name), arcname=name)
            info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode = int(updated.timestamp()), 0, 0, "", "", 0o644
            with open(out / name, "rb") as f:
                tar.addfile(info, f)
    (out / "db.tar.gz").write_bytes(raw.getvalue())
    return updated


class Registry:
    """Just enough of the registry API (plain HTTP, no auth) to push and read one artifact."""

    def __init__(self, ref):
        m = re.fullmatch(r"([^/]+)/([a-z0-9._/-]+):([\w][\w.-]{0,127})", ref)
        if not m:
            raise Fail(f"{ref!r} is not HOST[:PORT]/REPO:TAG: e.g. 127.0.0.1:5959/trivy-db:2")
        self.host, self.repo, self.tag = m.groups()
        self.ref = ref

    def request(self, method, path, body=None, headers=None, ok=(200,)):
        url = path if path.startswith("http") else f"http://{self.host}{path}"
        req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            if e.code in ok:
                return e.code, e.headers, b""
            if e.code == 401:
                raise Fail(f"{self.host} wants authentication: use a registry without auth (the testbed's is 127.0.0.1:5959)")
            raise Fail(f"{self.host}: {method} {path} -> HTTP {e.code} {e.read()[:200]!r}")
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise Fail(f"cannot reach the registry at http://{self.host} ({reason}): start it (.ci/testbed.sh starts xtask-trivy-db on 127.0.0.1:5959)")

    def wait(self, timeout):
        """Until the registry answers /v2/ (it may just have been started), at most timeout."""
        deadline = time.monotonic() + timeout.total_seconds()
        while True:
            try:
                return self.request("GET", "/v2/")
            except Fail:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def push_blob(self, data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        status, _, _ = self.request("HEAD", f"/v2/{self.repo}/blobs/{digest}", ok=(200, 404))
        if status == 404:
            _, headers, _ = self.request("POST", f"/v2/{self.repo}/blobs/uploads/", ok=(202,))
            location = headers["Location"]
            location = location if location.startswith("http") else f"http://{self.host}{location}"
            sep = "&" if "?" in location else "?"
            self.request("PUT", f"{location}{sep}digest={digest}", data,
                         {"Content-Type": "application/octet-stream"}, ok=(201,))
        return {"digest": digest, "size": len(data)}

    def push(self, layer, source, updated):
        config = self.push_blob(b"{}")
        blob = self.push_blob(layer)
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": CONFIG_TYPE, **config},
            "layers": [{"mediaType": LAYER_TYPE, **blob, "annotations": {"org.opencontainers.image.title": "db.tar.gz"}}],
            "annotations": {"org.opencontainers.image.created": rfc3339(updated), SOURCE_ANNOTATION: source},
        }, separators=(",", ":")).encode()
        digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        _, headers, _ = self.request("PUT", f"/v2/{self.repo}/manifests/{self.tag}", manifest,
                                     {"Content-Type": MANIFEST_TYPE}, ok=(201,))
        if headers.get("Docker-Content-Digest", digest) != digest:
            raise Fail(f"{self.host} stored the manifest as {headers['Docker-Content-Digest']}, not {digest}")
        return digest

    def status(self):
        """(digest, metadata.json, UpdatedAt, source annotation) of the DB at the tag, or None."""
        status, headers, body = self.request("GET", f"/v2/{self.repo}/manifests/{self.tag}",
                                             headers={"Accept": MANIFEST_TYPE}, ok=(200, 404))
        if status == 404:
            return None
        manifest = json.loads(body)
        layers = [l for l in manifest.get("layers", []) if l.get("mediaType") == LAYER_TYPE]
        if len(layers) != 1:
            return None
        _, _, blob = self.request("GET", f"/v2/{self.repo}/blobs/{layers[0]['digest']}")
        try:
            with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
                meta = json.load(tar.extractfile("metadata.json"))
            updated = datetime.fromisoformat(meta["UpdatedAt"].replace("Z", "+00:00"))
        except (tarfile.TarError, KeyError, ValueError, TypeError):
            return None  # not a DB this script can read: replaced on the next push
        digest = headers.get("Docker-Content-Digest") or "sha256:" + hashlib.sha256(body).hexdigest()
        return digest, meta, updated, manifest.get("annotations", {}).get(SOURCE_ANNOTATION)


def fresh(registry, advisories_file, max_age):
    """(digest, description, is_fresh) of what the registry holds."""
    found = registry.status()
    if found is None:
        return None, f"{registry.ref} holds no trivy DB", False
    digest, meta, updated, source = found
    same = source == source_hash(advisories_file)
    line = f"{digest} updated-at={meta['UpdatedAt']} next-update={meta.get('NextUpdate')} source={'same' if same else 'changed'}"
    return digest, line, same and datetime.now(timezone.utc) - updated <= max_age


def main(argv):
    parser = argparse.ArgumentParser(prog="mirror.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--advisories", type=Path, default=HERE / "advisories.toml", metavar="FILE",
                        help="advisories TOML (default: the testbed's, next to this script)")
    remote = argparse.ArgumentParser(add_help=False)
    remote.add_argument("ref", metavar="REF", help="HOST:PORT/REPO:TAG on a plain-HTTP registry")
    remote.add_argument("--wait", type=duration, default=timedelta(0), metavar="DUR",
                        help="wait up to DUR for the registry to answer, e.g. just started (default 0)")
    age = argparse.ArgumentParser(add_help=False)
    age.add_argument("--updated-ago", type=duration, default=timedelta(0), metavar="DUR",
                     help="UpdatedAt = now - DUR (default 0)")
    age.add_argument("--next-update-in", type=duration, default=timedelta(hours=24), metavar="DUR",
                     help="NextUpdate = UpdatedAt + DUR (default 24h)")
    push = sub.add_parser("push", parents=[remote, common, age], help="build the DB and push it to REF, print its digest")
    push.add_argument("--unless-fresh", type=duration, metavar="DUR",
                      help="skip the push if REF holds a DB from the same advisories updated within DUR")
    out = sub.add_parser("build", parents=[common, age], help="only write trivy.db, metadata.json, db.tar.gz")
    out.add_argument("--out", type=Path, required=True, metavar="DIR")
    status = sub.add_parser("status", parents=[remote, common], help="what REF holds; exit 3 if absent or stale")
    status.add_argument("--max-age", type=duration, default=timedelta(hours=24), metavar="DUR")
    args = parser.parse_args(argv)

    if args.command == "build":
        build(args.advisories, args.out, args.updated_ago, args.next_update_in)
        return 0
    if not args.advisories.is_file():
        raise Fail(f"{args.advisories}: no such file: pass an advisories file with --advisories FILE")
    registry = Registry(args.ref)
    registry.wait(args.wait)
    if args.command == "status":
        digest, line, ok = fresh(registry, args.advisories, args.max_age)
        print(line)
        return 0 if ok else 3
    if args.unless_fresh is not None:
        digest, line, ok = fresh(registry, args.advisories, args.unless_fresh)
        if ok:
            print(f"mirror.py: {args.ref} is fresh, not pushed: {line}", file=sys.stderr)
            print(digest)
            return 0
    with tempfile.TemporaryDirectory(prefix="trivy-db.") as tmp:
        updated = build(args.advisories, Path(tmp), args.updated_ago, args.next_update_in)
        layer = (Path(tmp) / "db.tar.gz").read_bytes()
    print(registry.push(layer, source_hash(args.advisories), updated))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Fail as e:
        print(f"mirror.py: error: {e}", file=sys.stderr)
        sys.exit(1)
    except ModuleNotFoundError as e:
        print(f"mirror.py: error: {e}: run it with Python 3.11 or later (python3 --version)", file=sys.stderr)
        sys.exit(1)
