#!/usr/bin/env python3
"""Hostile clients for benches/load/hostile.sh: attack a running service for a while,
count the answers each kind of attack got, and print them as JSON.

    hostile.py --url http://127.0.0.1:PORT --seconds N --network-key KEY
               --label-key KEY --fingerprint FILE.emfp [--attacks all|none|A,B,...]
    hostile.py --table RESULT.json     (the JSON as markdown table rows)

Each kind of attack runs as a few asyncio tasks, each a loop:

  slow-headers   200 connections that send one header byte every 2 to 4 s, no key
  slow-bodies    20 POST /v1/identify (audio/wav, Content-Length 1000000) that trickle
                 4 bytes a second
  absurd-audio   4 at once: POST /v1/identify with 16-bit mono WAV declaring 1 Hz or
                 1,000,000 Hz, 40 KB of samples
  long-audio     2 at once: POST /v1/identify with 50 MB of 8 kHz near-silence (52 min)
  dense-prints   4 at once: a fingerprint with a peak in every cell of every frame of 60 s, to
                 POST /v1/check (network key) and POST /v1/tracks (label key)
  method-abuse   8 at once: random method tokens to random paths (no key), and a 60 KB
                 X-Request-Id on /healthz (no key) and on a real check (network key)

An outcome is the answer's status code, or `closed` (the service closed the connection
without an answer), `reset`, `client timeout` (120 s), `connect failed`, or
`unfinished at the end` for what was still in flight when the time was up. "(early)"
marks an answer that came before the whole body was sent. Only the standard library.
"""

import asyncio
import json
import os
import random
import struct
import sys
import time
import urllib.parse

# The analysis of every fingerprint (AnalysisConfig::V2 in crates/earmark-core/src/config.rs).
ANALYSIS_ID = 2
FRAME_S = 256 / 8000
TICKS_PER_FRAME = 16
PITCH_STEPS = 3037  # one past the highest pitch: 47.45 semitones of 64 steps
CELL_STEPS = 21  # a third of a semitone, the peak picker's cell
FORMAT_VERSION = 3
MAGIC = b"EMFP"
FINGERPRINT_TYPE = "application/vnd.earmark.fingerprint"

CLIENT_TIMEOUT_S = 120.0
CONNECT_TIMEOUT_S = 5.0


# --- The binary fingerprint (crates/earmark-core/src/wire.rs) ----------------------

def _crc_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        table.append(c)
    return table


CRC_TABLE = _crc_table()


def crc32(data):
    """CRC-32 (IEEE, as crc32fast computes it)."""
    crc = 0xFFFFFFFF
    table = CRC_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def varint(value):
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def read_varint(data, pos):
    value = shift = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, pos


def encode_fingerprint(duration_ms, peaks):
    """Fingerprint::to_bytes: peaks are (tick, pitch, rank) sorted by tick, then pitch."""
    out = bytearray(MAGIC)
    out.append(FORMAT_VERSION)
    out += struct.pack("<H", ANALYSIS_ID)
    out += varint(duration_ms)
    out += varint(len(peaks))
    prev = None
    for tick, pitch, rank in peaks:
        if prev is not None and prev[0] == tick:
            dtick, dpitch = 0, pitch - prev[1] - 1
        elif prev is not None:
            dtick, dpitch = tick - prev[0], pitch
        else:
            dtick, dpitch = tick, pitch
        out += varint(dtick) + varint(dpitch << 4 | rank)
        prev = (tick, pitch)
    out += struct.pack("<I", crc32(out))
    return bytes(out)


def decode_fingerprint(data):
    """Fingerprint::from_bytes without the checks: (analysis id, duration ms, peaks)."""
    if data[:4] != MAGIC or data[4] != FORMAT_VERSION:
        raise ValueError(f"not a version {FORMAT_VERSION} binary fingerprint")
    body, stored = data[:-4], struct.unpack("<I", data[-4:])[0]
    if crc32(body) != stored:
        raise ValueError("checksum mismatch: the CRC-32 here is not the encoder's")
    analysis_id = struct.unpack("<H", body[5:7])[0]
    duration_ms, pos = read_varint(body, 7)
    count, pos = read_varint(body, pos)
    peaks, prev = [], None
    for _ in range(count):
        dtick, pos = read_varint(body, pos)
        coded, pos = read_varint(body, pos)
        dpitch, rank = coded >> 4, coded & 15
        if prev is not None and dtick == 0:
            peak = (prev[0], prev[1] + dpitch + 1, rank)
        elif prev is not None:
            peak = (prev[0] + dtick, dpitch, rank)
        else:
            peak = (dtick, dpitch, rank)
        peaks.append(peak)
        prev = peak
    if pos != len(body):
        raise ValueError("bytes after the peaks")
    return analysis_id, duration_ms, peaks


def dense_fingerprint(seconds):
    """A strong peak in every pitch cell of every frame for `seconds` of audio, encoded
    as to_bytes does. Built from byte runs (the peaks' deltas repeat), so that 270,000
    peaks take no time."""
    frames = round(seconds / FRAME_S)
    cells = len(range(0, PITCH_STEPS, CELL_STEPS))
    # Within a frame each peak (rank 0, strong) is one cell above the last:
    # (0, (CELL_STEPS - 1) << 4). A new frame starts one frame later at pitch 0:
    # (TICKS_PER_FRAME, 0). The first peak is (0, 0).
    within = varint(0) + varint((CELL_STEPS - 1) << 4)
    out = bytearray(MAGIC)
    out.append(FORMAT_VERSION)
    out += struct.pack("<H", ANALYSIS_ID)
    out += varint(int(seconds * 1000))
    out += varint(frames * cells)
    out += varint(0) + varint(0) + within * (cells - 1)
    out += (varint(TICKS_PER_FRAME) + varint(0) + within * (cells - 1)) * (frames - 1)
    out += struct.pack("<I", crc32(out))
    return bytes(out), frames * cells


def self_test(real_fingerprint):
    """The encoder must give back a real fingerprint's bytes exactly, and the quick
    dense builder what the general encoder gives."""
    analysis_id, duration_ms, peaks = decode_fingerprint(real_fingerprint)
    if analysis_id != ANALYSIS_ID:
        raise ValueError(f"analysis id {analysis_id}, expected {ANALYSIS_ID}")
    if encode_fingerprint(duration_ms, peaks) != real_fingerprint:
        raise ValueError("re-encoding a real fingerprint does not give its bytes back")
    frames = round(1.0 / FRAME_S)
    small = [(f * TICKS_PER_FRAME, p, 0) for f in range(frames)
             for p in range(0, PITCH_STEPS, CELL_STEPS)]
    if dense_fingerprint(1.0)[0] != encode_fingerprint(1000, small):
        raise ValueError("the dense builder disagrees with the encoder")


# --- Bodies ------------------------------------------------------------------------

def wav_header(rate, data_bytes):
    """The 44-byte header of 16-bit mono PCM."""
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
            + b"data" + struct.pack("<I", data_bytes))


def noise_samples(n_bytes, amplitude):
    """16-bit little-endian samples uniform in [-amplitude, amplitude] (below 128), from
    os.urandom mapped through two byte tables (low and high byte), without a per-sample
    loop."""
    assert 0 <= amplitude < 128
    n = n_bytes // 2
    raw = os.urandom(n)
    span = 2 * amplitude + 1
    values = [(b % span) - amplitude for b in range(256)]
    low = raw.translate(bytes(v & 0xFF for v in values))
    high = raw.translate(bytes((v >> 8) & 0xFF for v in values))
    out = bytearray(2 * n)
    out[0::2] = low
    out[1::2] = high
    return bytes(out)


# --- HTTP over asyncio streams -------------------------------------------------------

class Closed(Exception):
    """The service closed the connection before a whole answer."""


async def read_response(reader):
    """Reads one answer; returns (status, whether the connection may be reused)."""
    line = await reader.readline()
    if not line:
        raise Closed()
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        raise Closed()
    status = int(parts[1])
    headers = {}
    while True:
        h = await reader.readline()
        if not h:
            raise Closed()
        if h in (b"\r\n", b"\n"):
            break
        name, _, value = h.partition(b":")
        headers[name.strip().lower()] = value.strip().lower()
    keep = headers.get(b"connection") != b"close"
    if b"content-length" in headers:
        await reader.readexactly(int(headers[b"content-length"]))
    elif b"chunked" in headers.get(b"transfer-encoding", b""):
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif status not in (204, 304) and not 100 <= status < 200:
        await reader.read()
        keep = False
    return status, keep


async def send_all(writer, head, body):
    """Sends a request; returns None, or the error that stopped it."""
    try:
        writer.write(head)
        view = memoryview(body)
        for i in range(0, len(view), 1 << 16):
            writer.write(view[i:i + (1 << 16)])
            await writer.drain()
        await writer.drain()
        return None
    except (ConnectionError, OSError) as e:
        return e


class Conn:
    """One keep-alive connection, opened again whenever it cannot be reused."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.streams = None

    async def open(self):
        if self.streams is None:
            self.streams = await asyncio.wait_for(
                asyncio.open_connection(self.ctx.host, self.ctx.port, limit=1 << 20),
                CONNECT_TIMEOUT_S)
        return self.streams

    def drop(self):
        if self.streams is not None:
            self.streams[1].transport.abort()
            self.streams = None

    async def exchange(self, head, body):
        try:
            reader, writer = await self.open()
        except (OSError, asyncio.TimeoutError, TimeoutError):
            return "connect failed"
        sender = asyncio.ensure_future(send_all(writer, head, body))
        try:
            status, keep = await read_response(reader)
        except (Closed, asyncio.IncompleteReadError, ValueError):
            self.drop()
            return "closed"
        except (ConnectionError, OSError):
            self.drop()
            return "reset"
        finally:
            unsent = not sender.done()
            if unsent:
                sender.cancel()
        early = unsent or sender.result() is not None
        if early or not keep:
            self.drop()
        return f"{status} (early)" if early else str(status)


def request_head(method, path, headers, body_len=None):
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body_len is not None:
        lines.append(f"Content-Length: {body_len}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# --- Bookkeeping -------------------------------------------------------------------

class Kind:
    """Outcome counts of one kind of attack."""

    def __init__(self, name):
        self.name = name
        self.outcomes = {}
        self.open = 0
        self.lifetimes = []

    def count(self, outcome):
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def summary(self):
        out = {"attempts": sum(self.outcomes.values()),
               "outcomes": dict(sorted(self.outcomes.items()))}
        if self.lifetimes:
            life = sorted(self.lifetimes)
            out["closed_connection_lifetime_s"] = {
                "count": len(life),
                "median": round(life[len(life) // 2], 1),
                "max": round(life[-1], 1),
            }
        return out


async def timed(kind, conn, label, head, body):
    """One request, counted under `label`."""
    try:
        outcome = await asyncio.wait_for(conn.exchange(head, body), CLIENT_TIMEOUT_S)
    except (asyncio.TimeoutError, TimeoutError):
        conn.drop()
        outcome = "client timeout"
    except asyncio.CancelledError:
        conn.drop()
        kind.count(f"{label}unfinished at the end")
        raise
    kind.count(label + outcome)
    if outcome in ("connect failed",):
        await asyncio.sleep(0.5)


async def request_loop(kind, ctx, make):
    """Sends what `make()` gives, (label, head, body), one after the other."""
    conn = Conn(ctx)
    while not ctx.stopping:
        label, head, body = make()
        await timed(kind, conn, label, head, body)


async def trickle(kind, ctx, head, payload, chunk, interval):
    """Keeps one connection sending `payload` `chunk` bytes every `interval` seconds
    (a callable, for jitter); opens another when the service closes it."""
    while not ctx.stopping:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(ctx.host, ctx.port, limit=1 << 20),
                CONNECT_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError, TimeoutError):
            kind.count("connect failed")
            await asyncio.sleep(1)
            continue
        opened = time.monotonic()
        kind.open += 1
        answer = asyncio.ensure_future(read_response(reader))
        outcome = None
        try:
            writer.write(head)
            pos = 0
            while outcome is None:
                if pos < len(payload):
                    try:
                        writer.write(payload[pos:pos + chunk])
                        await writer.drain()
                    except (ConnectionError, OSError):
                        outcome = "reset"
                        break
                    pos += chunk
                done, _ = await asyncio.wait({answer}, timeout=interval())
                if answer in done:
                    try:
                        outcome = str(answer.result()[0])
                    except (Closed, asyncio.IncompleteReadError, ValueError):
                        outcome = "closed"
                    except (ConnectionError, OSError):
                        outcome = "reset"
        except asyncio.CancelledError:
            kind.count("open at the end")
            raise
        finally:
            kind.open -= 1
            if not answer.done():
                answer.cancel()
            elif not answer.cancelled():
                answer.exception()  # retrieved, so that asyncio does not warn
            writer.transport.abort()
        kind.count(outcome)
        kind.lifetimes.append(time.monotonic() - opened)


# --- The attacks -------------------------------------------------------------------

def slow_headers(ctx, kind):
    head = b"GET /v1/tracks HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
    payload = bytes(random.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(4096))
    return [trickle(kind, ctx, head, payload, 1, lambda: random.uniform(2, 4))
            for _ in range(200)]


def slow_bodies(ctx, kind):
    length = 1_000_000
    head = request_head("POST", "/v1/identify", {
        "Authorization": f"Bearer {ctx.network_key}", "Content-Type": "audio/wav"}, length)
    payload = wav_header(8000, length - 44) + bytes(length - 44)
    return [trickle(kind, ctx, head, payload, 4, lambda: 1.0) for _ in range(20)]


def absurd_audio(ctx, kind):
    samples = os.urandom(40_000)  # full-scale white noise
    bodies = {rate: wav_header(rate, len(samples)) + samples for rate in (1, 1_000_000)}

    def make():
        rate = random.choice((1, 1_000_000))
        body = bodies[rate]
        head = request_head("POST", "/v1/identify", {
            "Authorization": f"Bearer {ctx.network_key}", "Content-Type": "audio/wav"},
            len(body))
        return f"{rate} Hz: ", head, body
    return [request_loop(kind, ctx, make) for _ in range(4)]


def long_audio(ctx, kind):
    data = 50_000_000
    body = wav_header(8000, data) + noise_samples(data, 2)
    head = request_head("POST", "/v1/identify", {
        "Authorization": f"Bearer {ctx.network_key}", "Content-Type": "audio/wav"},
        len(body))
    return [request_loop(kind, ctx, lambda: ("", head, body)) for _ in range(2)]


def dense_prints(ctx, kind):
    body, _ = ctx.dense
    check = request_head("POST", "/v1/check", {
        "Authorization": f"Bearer {ctx.network_key}", "Content-Type": FINGERPRINT_TYPE},
        len(body))
    track = request_head("POST", "/v1/tracks", {
        "Authorization": f"Bearer {ctx.label_key}", "Content-Type": FINGERPRINT_TYPE},
        len(body))

    def make():
        if random.random() < 0.5:
            return "check: ", check, body
        return "tracks: ", track, body
    return [request_loop(kind, ctx, make) for _ in range(4)]


def method_abuse(ctx, kind):
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    long_id = "".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789")
                      for _ in range(60_000))

    def make():
        pick = random.random()
        if pick < 0.6:
            method = "".join(random.choice(alphabet) for _ in range(8))
            segments = ["".join(random.choice("abcdefghijklmnopqrstuvwxyz-.%0123456789")
                                for _ in range(random.randint(1, 12)))
                        for _ in range(random.randint(1, 4))]
            prefix = random.choice(("", "/v1", "/v1/tracks"))
            path = prefix + "/" + "/".join(urllib.parse.quote(s, safe="%") for s in segments)
            return "random method: ", request_head(method, path, {}, 0), b""
        if pick < 0.8:
            return "60 KB X-Request-Id on /healthz: ", request_head(
                "GET", "/healthz", {"X-Request-Id": long_id}), b""
        return "60 KB X-Request-Id on a check: ", request_head("POST", "/v1/check", {
            "Authorization": f"Bearer {ctx.network_key}",
            "Content-Type": FINGERPRINT_TYPE,
            "X-Request-Id": long_id}, len(ctx.fingerprint)), ctx.fingerprint
    return [request_loop(kind, ctx, make) for _ in range(8)]


ATTACKS = {
    "slow-headers": slow_headers,
    "slow-bodies": slow_bodies,
    "absurd-audio": absurd_audio,
    "long-audio": long_audio,
    "dense-prints": dense_prints,
    "method-abuse": method_abuse,
}


class Context:
    def __init__(self, opts):
        url = urllib.parse.urlsplit(opts["url"])
        self.host, self.port = url.hostname, url.port or 80
        self.network_key = opts["network-key"]
        self.label_key = opts["label-key"]
        with open(opts["fingerprint"], "rb") as f:
            self.fingerprint = f.read()
        chosen = opts.get("attacks", "all")
        if chosen == "all":
            self.attacks = list(ATTACKS)
        elif chosen == "none":
            self.attacks = []
        else:
            self.attacks = chosen.split(",")
            unknown = [a for a in self.attacks if a not in ATTACKS]
            if unknown:
                raise SystemExit(f"unknown attacks {', '.join(unknown)}: "
                                 f"choose from {', '.join(ATTACKS)}")
        self.dense = dense_fingerprint(60.0)
        # Loops stop on this as well as on cancellation: asyncio.wait_for in Python
        # 3.11 can swallow a cancellation that meets a finished request.
        self.stopping = False


async def attack(opts):
    ctx = Context(opts)
    self_test(ctx.fingerprint)
    kinds = {name: Kind(name) for name in ctx.attacks}
    tasks = [asyncio.ensure_future(loop)
             for name in ctx.attacks for loop in ATTACKS[name](ctx, kinds[name])]
    started = time.monotonic()
    await asyncio.sleep(float(opts["seconds"]))
    ctx.stopping = True
    for t in tasks:
        t.cancel()
    _, stuck = await asyncio.wait(tasks, timeout=5) if tasks else (set(), set())
    crashed = [t.exception() for t in tasks
               if t.done() and not t.cancelled() and t.exception() is not None]
    return {
        "seconds": round(time.monotonic() - started, 1),
        "attacks": ctx.attacks,
        "dense_fingerprint": {"bytes": len(ctx.dense[0]), "peaks": ctx.dense[1]},
        "client_errors": sorted({f"{type(e).__name__}: {e}" for e in crashed}),
        "loops_not_stopped": len(stuck),
        "kinds": {name: kind.summary() for name, kind in kinds.items()},
    }


def table(path):
    """The JSON's outcomes as rows of | kind | attempts | outcomes |."""
    with open(path) as f:
        result = json.load(f)
    for name, kind in result["kinds"].items():
        outcomes = "; ".join(f"{k}: {v}" for k, v in kind["outcomes"].items()) or "none"
        life = kind.get("closed_connection_lifetime_s")
        if life:
            outcomes += (f"; closed connections lived {life['median']} s median,"
                         f" {life['max']} s at most")
        print(f"| {name} | {kind['attempts']} | {outcomes} |")
    for e in result["client_errors"]:
        print(f"| client error | | {e} |")
    if result.get("loops_not_stopped"):
        print(f"| client loops still running at the end | {result['loops_not_stopped']} | |")


def parse(argv):
    opts = {}
    it = iter(argv)
    for arg in it:
        if not arg.startswith("--"):
            raise SystemExit(f"unexpected argument {arg}")
        value = next(it, None)
        if value is None:
            raise SystemExit(f"{arg} needs a value")
        opts[arg[2:]] = value
    return opts


def main():
    opts = parse(sys.argv[1:])
    if "table" in opts:
        table(opts["table"])
        return
    missing = [k for k in ("url", "seconds", "network-key", "label-key", "fingerprint")
               if k not in opts]
    if missing:
        raise SystemExit("missing: " + ", ".join("--" + k for k in missing))
    loop = asyncio.new_event_loop()
    result = loop.run_until_complete(attack(opts))
    print(json.dumps(result, indent=2), flush=True)
    # Without waiting for loops that did not stop: the result is out.
    os._exit(0)


if __name__ == "__main__":
    main()
