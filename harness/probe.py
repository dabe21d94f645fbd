"""HTTP GET from inside a network namespace: `python -m harness.probe URL [--ca F] [--cert F
--key F] [--bearer FILE]` prints `{"status": N, "body": ...}` (status 0: no answer).

The test process lives in the root namespace and cannot reach addresses of namespaces it made;
`probe(prefix, url, ...)` runs this module behind `ip netns exec NAME`.
"""

from __future__ import annotations

import argparse
import json
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]


def probe(
    prefix: list[str] | tuple[str, ...], url: str, *, ca: Path | str | None = None,
    cert: tuple[Path, Path] | None = None, bearer: Path | None = None, timeout: float = 3.0,
) -> tuple[int, Any]:  # fmt: skip
    """(status, JSON body or text) of GET `url` run behind `prefix`; (0, error) when none."""
    argv = [*prefix, sys.executable, "-m", "harness.probe", url, "--timeout", str(timeout)]
    if ca is not None:
        argv += ["--ca", str(ca)]
    if cert is not None:
        argv += ["--cert", str(cert[0]), "--key", str(cert[1])]
    if bearer is not None:
        argv += ["--bearer", str(bearer)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 30, cwd=ROOT)
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        return 0, done.stderr[-500:]
    return int(answer["status"]), answer["body"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--ca")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--bearer")
    parser.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args()
    headers = {}
    if args.bearer:
        headers["Authorization"] = "Bearer " + Path(args.bearer).read_text().strip()
    context = ssl.create_default_context(cafile=args.ca)
    if args.cert:
        context.load_cert_chain(args.cert, args.key)
    try:
        answer = httpx.get(args.url, verify=context, headers=headers, timeout=args.timeout)
    except httpx.HTTPError as exc:
        print(json.dumps({"status": 0, "body": f"{exc.__class__.__name__}: {exc}"}))
        return
    try:
        body: Any = answer.json()
    except ValueError:
        body = answer.text
    print(json.dumps({"status": answer.status_code, "body": body}))


if __name__ == "__main__":
    main()
