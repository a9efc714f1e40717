#!/usr/bin/env python3
"""Storage throughput and latency: deliveries, metadata fetch and text search.

Sets up a throwaway world on loopback (nats-server with an 8 MB max_payload,
optionally PostgreSQL, the directory and the storage service as processes),
creates the accounts through the directory's admin API, and measures through
the storage bus contract from one client process:

    .venv/bin/python bench/storage.py [--database sqlite|postgresql] [--concurrency 32]
        [--deliveries 10000] [--accounts 1000] [--fetch-messages 10000]
        [--search-messages 100000] [--populate auto|bus|direct] [--keep DIR]

1. `storage.rpc.deliver` of 4 KB messages, to one mailbox and spread over
   --accounts accounts, from --concurrency client tasks; the client puts each
   body into the blob store first (as SMTP does), timed apart and included;
   the group-commit batch sizes come from the storage /metrics;
2. `storage.rpc.fetch` of flags + envelope of a 10,000-message mailbox, in
   pages of 1,000 and as one request of 10,000;
3. `storage.rpc.search` TEXT over a 100,000-message mailbox: a rare word, a
   common word, a phrase (and BODY with the rare word).

See bench/README.md for what each row of the output means.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import multiprocessing
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import nats  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from libs.blobs import LocalBlobStore  # noqa: E402
from libs.contracts import storage as contract  # noqa: E402
from libs.db import create_engine, session_factory  # noqa: E402
from libs.db.migrations import upgrade  # noqa: E402
from libs.testing.natsd import NatsServer  # noqa: E402
from libs.testing.ports import free_ports  # noqa: E402
from libs.testing.services import ServiceProcess  # noqa: E402
from services.storage._delivery import allocate  # noqa: E402
from services.storage._mailboxes import get_mailbox  # noqa: E402
from services.storage._metadata import Metadata, extract  # noqa: E402
from services.storage._quota import add_usage  # noqa: E402
from services.storage.config import StorageSettings  # noqa: E402
from services.storage.models import Blob, StoredMessage  # noqa: E402

DOMAIN = "bench.test"
ONE_ACCOUNT = f"one@{DOMAIN}"  # the one-mailbox delivery phases
FETCH_ACCOUNT = f"fetch@{DOMAIN}"  # the metadata fetch mailbox
SEARCH_ACCOUNT = f"search@{DOMAIN}"  # the text search mailbox
ADMIN_PASSWORD = "bench-admin-password"
MESSAGE_BYTES = 4096
MAX_PAYLOAD = "8MB"
REQUEST_TIMEOUT = 60.0
ERROR_CODE_HEADER = "Nats-Service-Error-Code"
ERROR_HEADER = "Nats-Service-Error"
MACHINE_SH = Path(__file__).resolve().parents[2] / "shared" / "bench" / "lib" / "machine.sh"  # beside the repository
BASE_DATE = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

TARGET_DELIVER_PER_S = 2000.0
TARGET_FETCH_MS = 150.0
TARGET_SEARCH_MS = 100.0
BUS_POPULATE_LIMIT_S = 180.0  # --populate auto: through the bus only if it takes less than this
SEARCH_RESERVE_S = 60.0  # kept back from population for the fetch and search runs
WARMUP_DELIVERIES = 300

RARE_WORD = "xylophone"
COMMON_WORD = "invoice"
PHRASE = "quarterly report"
MARKER_WORDS = {RARE_WORD, COMMON_WORD, *PHRASE.split()}
BATCH_METRIC = "parley_storage_delivery_batch_size"


# --- messages ---------------------------------------------------------------------------


class Corpus:
    """Deterministic text/plain messages of exactly MESSAGE_BYTES; every one differs.

    Bodies are slices of a pool of paragraphs drawn from a 20,000-word
    pseudo-vocabulary with a Zipf-like frequency (so the full-text index has
    a realistic shape); subject, Message-ID and date carry the message's
    index. The marker words of the search phase are never in the vocabulary:
    they appear only where `search_markers` puts them.
    """

    def __init__(self, seed: int, *, vocabulary: int = 20_000, paragraphs: int = 256) -> None:
        rng = random.Random(seed)
        syllables = [c + v for c in "bcdfghjklmnprstvz" for v in "aeiou"]
        words: set[str] = set()
        while len(words) < vocabulary:
            word = "".join(rng.choice(syllables) for _ in range(rng.randint(1, 4)))
            if word not in MARKER_WORDS:
                words.add(word)
        ordered = sorted(words)
        rng.shuffle(ordered)
        cumulative: list[float] = []
        total = 0.0
        for rank in range(len(ordered)):
            total += 1.0 / (rank + 1) ** 1.07
            cumulative.append(total)
        self.paragraphs: list[bytes] = []
        for _ in range(paragraphs):
            chosen = rng.choices(ordered, cum_weights=cumulative, k=900)
            lines, line = [], ""
            for word in chosen:
                if len(line) + len(word) + 1 > 72:
                    lines.append(line)
                    line = word
                else:
                    line = f"{line} {word}" if line else word
            lines.append(line)
            self.paragraphs.append(("\r\n".join(lines) + "\r\n").encode())

    def message(self, index: int, *, to: str, tag: str, markers: list[str] | None = None) -> bytes:
        sender = index % 97
        head = (
            f"From: Sender {sender} <sender{sender}@example.org>\r\n"
            f"To: <{to}>\r\n"
            f"Subject: {tag} message {index}\r\n"
            f"Date: {format_datetime(BASE_DATE + timedelta(minutes=index))}\r\n"
            f"Message-ID: <{tag}.{index}@{DOMAIN}>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n"
            "\r\n"
        ).encode()
        extra = "".join(f"{line}\r\n" for line in markers or []).encode()
        room = MESSAGE_BYTES - len(head) - len(extra)
        paragraph = self.paragraphs[index % len(self.paragraphs)]
        cut = paragraph.rfind(b"\r\n", 0, room - 4) + 2
        body = extra + paragraph[:cut]
        pad = MESSAGE_BYTES - len(head) - len(body)
        if pad >= 2:
            body += b"." * (pad - 2) + b"\r\n"
        return head + body


def rare_step(total: int) -> int:
    return max(10, total // 10)  # about ten messages carry the rare word


def search_markers(index: int, total: int) -> list[str]:
    """Marker lines of search message `index`: which words and phrases it holds."""
    lines = []
    if index % rare_step(total) == 7:
        lines.append(f"please keep the {RARE_WORD} safe")
    if index % 2 == 0:
        lines.append(f"{COMMON_WORD} attached")
    if index % 100 == 17:
        lines.append(f"the {PHRASE} is ready")
    if index % 20 == 3:
        lines.append("quarterly figures follow")  # both words of the phrase, never adjacent
    if index % 4 == 1:
        lines.append("see the report below")
    return lines


@dataclass(frozen=True)
class SearchCase:
    name: str
    key: str  # suffix of the key=value line
    op: str
    value: str
    matches: Callable[[int, int], bool]  # (index, total) -> whether message `index` matches


SEARCH_CASES = (
    SearchCase("TEXT rare word", "rare", "text", RARE_WORD, lambda i, n: i % rare_step(n) == 7),
    SearchCase("TEXT common word", "common", "text", COMMON_WORD, lambda i, n: i % 2 == 0),
    SearchCase("TEXT phrase", "phrase", "text", PHRASE, lambda i, n: i % 100 == 17),
    SearchCase("BODY rare word", "body_rare", "body", RARE_WORD, lambda i, n: i % rare_step(n) == 7),
)


# --- results ----------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q=0.5: the median)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class Result:
    name: str
    concurrency: int
    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0
    errors: int = 0
    first_error: str = ""
    service_cpu: float | None = None
    client_cpu: float | None = None
    truncated: bool = False
    batches: str = ""
    batch_mean: float = float("nan")
    extra: dict[str, float] = field(default_factory=dict)

    def pct(self, q: float) -> float:
        """Nearest-rank percentile, in milliseconds."""
        return percentile(self.latencies, q) * 1000

    @property
    def done(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.done / self.wall if self.wall > 0 else float("nan")

    def per_op_ms(self, seconds: float | None) -> float:
        return seconds / self.done * 1000 if seconds is not None and self.done else float("nan")

    def note_error(self, problem: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or problem


def process_cpu_seconds(pid: int | None) -> float | None:
    """utime + stime of a process, from /proc (Linux)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


class CpuMeter:
    """CPU seconds used by the storage process and by this (client) process over a span."""

    def __init__(self, service_pid: int | None) -> None:
        self.service_pid = service_pid
        self.service = process_cpu_seconds(service_pid)
        self.client = time.process_time()

    def stop(self, result: Result) -> None:
        after = process_cpu_seconds(self.service_pid)
        if after is not None and self.service is not None:
            result.service_cpu = after - self.service
        result.client_cpu = time.process_time() - self.client


# --- talking to the services --------------------------------------------------------------


class ServiceFailure(Exception):
    pass


class Client:
    """Raw NATS requests with payloads encoded before the clock starts; replies checked after."""

    def __init__(self, nc: Any, blobs: LocalBlobStore) -> None:
        self.nc = nc
        self.blobs = blobs

    async def call(self, subject: str, payload: bytes, timeout: float = REQUEST_TIMEOUT) -> bytes:
        msg = await self.nc.request(subject, payload, timeout=timeout)
        if msg.headers and ERROR_CODE_HEADER in msg.headers:
            raise ServiceFailure(f"{msg.headers.get(ERROR_CODE_HEADER)}: {msg.headers.get(ERROR_HEADER, '')}")
        return msg.data


def deliver_payload(digest: str, account: str) -> bytes:
    return json.dumps({"blob": digest, "recipients": [{"account": account, "mailbox": "INBOX"}]}).encode()


def delivered(data: bytes) -> str:
    """'' when the one recipient got the message, else what went wrong."""
    try:
        [result] = json.loads(data)["results"]
    except (ValueError, KeyError, TypeError):
        return f"bad reply {data[:200]!r}"
    return "" if result.get("ok") and result.get("uid") else f"refused: {result}"


def scrape_batches(ops_port: int) -> dict[str, float]:
    """The delivery batch-size histogram of the storage process (cumulative buckets, sum, count)."""
    try:
        body = httpx.get(f"http://127.0.0.1:{ops_port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return {}
    values: dict[str, float] = {}
    for line in body.splitlines():
        if not line.startswith(BATCH_METRIC):
            continue
        name, _, value = line.rpartition(" ")
        if name.startswith(f"{BATCH_METRIC}_bucket"):
            values[name.split('le="', 1)[1].split('"', 1)[0]] = float(value)
        elif name in (f"{BATCH_METRIC}_sum", f"{BATCH_METRIC}_count"):
            values[name.rsplit("_", 1)[1]] = float(value)
    return values


def describe_batches(before: dict[str, float], after: dict[str, float]) -> tuple[str, float]:
    """Commits per batch-size range during a phase, and the mean batch size."""
    if not before or not after:
        return "(no /metrics)", float("nan")
    bounds = [b for b in after if b not in ("sum", "count")]
    bounds.sort(key=lambda b: math.inf if b == "+Inf" else float(b))
    parts, previous_bound, previous_count = [], 0, 0.0
    for bound in bounds:
        count = after[bound] - before.get(bound, 0.0)
        in_bucket = count - previous_count
        upper = math.inf if bound == "+Inf" else int(float(bound))
        label = str(upper) if upper == previous_bound + 1 else f"{previous_bound + 1}-{upper}"
        if upper == math.inf:
            label = f">{previous_bound}"
        if in_bucket:
            parts.append(f"{label}:{int(in_bucket)}")
        previous_bound, previous_count = upper, count
    commits = after.get("count", 0.0) - before.get("count", 0.0)
    total = after.get("sum", 0.0) - before.get("sum", 0.0)
    return " ".join(parts) or "none", (total / commits if commits else float("nan"))


class Profiler:
    """Optional py-spy recording of the storage process, one raw (collapsed-stack) file per phase."""

    def __init__(self, directory: Path | None, pid: Callable[[], int | None]) -> None:
        self.directory = directory
        self.pid = pid
        self.executable = None
        if directory is not None:
            beside = Path(sys.executable).parent / "py-spy"
            self.executable = str(beside) if beside.is_file() else shutil.which("py-spy")
            if self.executable is None:
                raise SystemExit("--profile needs py-spy (pip install py-spy)")
            directory.mkdir(parents=True, exist_ok=True)

    @contextlib.asynccontextmanager
    async def phase(self, name: str):  # type: ignore[no-untyped-def]
        pid = self.pid()
        if self.directory is None or self.executable is None or pid is None:
            yield
            return
        slug = "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")
        out = self.directory / f"{slug}.txt"
        spy = subprocess.Popen(
            [
                self.executable,
                "record",
                "-p",
                str(pid),
                "-o",
                str(out),
                "--format",
                "raw",
                "-r",
                "200",
                "--nonblocking",
                "--threads",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await asyncio.sleep(0.5)
        try:
            yield
        finally:
            spy.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                spy.wait(20)


# --- deliveries -------------------------------------------------------------------------------


@dataclass
class DeliveryPlan:
    name: str
    tag: str
    recipient: Callable[[int], str]
    count: int
    put_included: bool


async def put_blobs(client: Client, corpus: Corpus, plan: DeliveryPlan, *, concurrency: int, max_seconds: float):
    """The blobs of a put-excluded phase, written before its clock starts."""
    digests: list[tuple[str, str]] = []
    next_index = 0
    stop_at = time.perf_counter() + max_seconds

    async def worker() -> None:
        nonlocal next_index
        while next_index < plan.count and time.perf_counter() < stop_at:
            index = next_index
            next_index += 1
            account = plan.recipient(index)
            ref = await client.blobs.put(corpus.message(index, to=account, tag=plan.tag))
            digests.append((ref.digest, account))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return digests


async def deliver_phase(
    client: Client,
    corpus: Corpus,
    plan: DeliveryPlan,
    *,
    concurrency: int,
    max_seconds: float,
    service_pid: int | None,
    ops_port: int,
    profiler: Profiler,
) -> Result:
    result = Result(plan.name, concurrency)
    prepared: list[tuple[str, str]] = []
    if not plan.put_included:
        started = time.perf_counter()
        prepared = await put_blobs(client, corpus, plan, concurrency=concurrency, max_seconds=max_seconds)
        print(f"  put {len(prepared)} blobs first in {time.perf_counter() - started:.1f}s (not timed)", flush=True)
    total = len(prepared) if not plan.put_included else plan.count
    next_index = 0
    perf = time.perf_counter
    stop_at = perf() + max_seconds

    async def worker() -> None:
        nonlocal next_index
        while next_index < total:
            if perf() > stop_at:
                result.truncated = True
                return
            index = next_index
            next_index += 1
            if plan.put_included:
                account = plan.recipient(index)
                raw = corpus.message(index, to=account, tag=plan.tag)
                started = perf()
                try:
                    digest = (await client.blobs.put(raw)).digest
                except Exception as exc:
                    result.note_error(f"blob put: {exc!r}")
                    continue
            else:
                digest, account = prepared[index]
                started = perf()
            payload = deliver_payload(digest, account)
            try:
                data = await client.call(contract.RPC_DELIVER, payload)
            except Exception as exc:  # a timeout or a service error: counted, not timed
                result.note_error(f"{type(exc).__name__}: {exc}")
                continue
            result.latencies.append(perf() - started)
            problem = delivered(data)
            if problem:
                result.note_error(problem)

    batches_before = scrape_batches(ops_port)
    async with profiler.phase(plan.name):
        meter = CpuMeter(service_pid)
        started = perf()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.wall = perf() - started
        meter.stop(result)
    result.batches, result.batch_mean = describe_batches(batches_before, scrape_batches(ops_port))
    return result


async def warm_up(client: Client, corpus: Corpus, accounts: list[str], *, concurrency: int) -> Result:
    """Deliver once to each account (mailboxes, quota cache, connection pools); not reported."""
    plan = DeliveryPlan("warm-up", "warmup", lambda i: accounts[i % len(accounts)], len(accounts), True)
    return await deliver_phase(
        client,
        corpus,
        plan,
        concurrency=concurrency,
        max_seconds=120,
        service_pid=None,
        ops_port=0,
        profiler=Profiler(None, lambda: None),
    )


# --- populating the fetch and search mailboxes ---------------------------------------------


@dataclass
class Mailbox:
    account: str
    tag: str
    target: int
    search: bool
    indices: list[int] = field(default_factory=list)  # messages stored, by corpus index

    def markers(self, index: int) -> list[str]:
        return search_markers(index, self.target) if self.search else []


async def populate_bus(
    client: Client, corpus: Corpus, box: Mailbox, *, concurrency: int, deadline: float
) -> tuple[int, float]:
    """Put and deliver every message through the bus, `concurrency` at a time; (errors, seconds)."""
    next_index = 0
    errors = 0
    started = time.perf_counter()
    last_note = started

    async def worker() -> None:
        nonlocal next_index, errors, last_note
        while next_index < box.target and time.monotonic() < deadline:
            index = next_index
            next_index += 1
            raw = corpus.message(index, to=box.account, tag=box.tag, markers=box.markers(index))
            try:
                digest = (await client.blobs.put(raw)).digest
                problem = delivered(await client.call(contract.RPC_DELIVER, deliver_payload(digest, box.account)))
            except Exception as exc:
                problem = repr(exc)
            if problem:
                errors += 1
            else:
                box.indices.append(index)
            now = time.perf_counter()
            if now - last_note > 15:
                last_note = now
                print(f"    {len(box.indices)}/{box.target} in {now - started:.0f}s", flush=True)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return errors, time.perf_counter() - started


_WORKER_CORPUS: dict[int, Corpus] = {}


def _extract_chunk(
    seed: int, account: str, tag: str, target: int, search: bool, first: int, last: int, text_limit: int
) -> list[tuple[str, Metadata]]:
    """In a worker process: build messages first..last-1 and extract what storage keeps of them."""
    corpus = _WORKER_CORPUS.get(seed)
    if corpus is None:
        corpus = _WORKER_CORPUS[seed] = Corpus(seed)
    out = []
    for index in range(first, last):
        markers = search_markers(index, target) if search else []
        raw = corpus.message(index, to=account, tag=tag, markers=markers)
        out.append((hashlib.sha256(raw).hexdigest(), extract(raw, text_limit=text_limit)))
    return out


FTS_INSERT = {
    # The statements of services.storage._fts.index_text, one row per message.
    "postgresql": "INSERT INTO message_fts (message_id, mailbox_id, uid, headers, body) "
    "VALUES (:id, :mailbox_id, :uid, to_tsvector('simple', :headers), to_tsvector('simple', :body))",
    "sqlite": "INSERT INTO message_fts (rowid, headers, body) VALUES (:id, :headers, :body)",
}


async def populate_direct(url: str, seed: int, box: Mailbox, *, deadline: float, chunk: int = 2000) -> float:
    """Write the rows a delivery writes, `chunk` messages per transaction, in bulk.

    The metadata is the storage code's own (`extract`, in two worker processes
    one chunk ahead of the writes); each chunk locks the mailbox and takes its
    UIDs and one MODSEQ with `allocate` (as a COPY does), inserts the message
    rows with `Metadata.columns()`, the full-text rows with index_text's
    statement, the blob references and the quota use (`add_usage`). Blobs are
    not written: a fetch of flags/envelope and a search never read them.
    """
    engine = create_engine(url)
    sessions = session_factory(engine)
    postgres = engine.dialect.name == "postgresql"
    messages = StoredMessage.__table__
    insert_messages = insert(messages).returning(messages.c.id, sort_by_parameter_order=True)
    insert_text = text(FTS_INSERT["postgresql" if postgres else "sqlite"])
    text_limit = StorageSettings().text_index_bytes
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    last_note = started
    ranges = [(first, min(first + chunk, box.target)) for first in range(0, box.target, chunk)]

    def clean(value: str) -> str:
        return value.replace("\x00", " ")[:900_000] if postgres else value  # as _fts._pg_safe

    try:
        with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:

            def submit(first: int, last: int) -> asyncio.Future[list[tuple[str, Metadata]]]:
                args = (seed, box.account, box.tag, box.target, box.search, first, last, text_limit)
                return loop.run_in_executor(pool, _extract_chunk, *args)

            pending = [submit(a, b) for a, b in ranges[:3]]
            for position, (first, _last) in enumerate(ranges):
                if time.monotonic() > deadline:
                    for future in pending:
                        future.cancel()
                    break
                items = await pending.pop(0)
                if position + 3 < len(ranges):
                    pending.append(submit(*ranges[position + 3]))
                async with sessions.begin() as session:
                    mailbox = await get_mailbox(session, box.account, "INBOX", lock=True)
                    first_uid, modseq = await allocate(session, mailbox, len(items))
                    rows = [
                        {
                            "mailbox_id": mailbox.id,
                            "uid": first_uid + offset,
                            "modseq": modseq,
                            "blob": digest,
                            "size": metadata.size,
                            "internal_date": BASE_DATE + timedelta(minutes=first + offset),
                            "seen": False,
                            "answered": False,
                            "flagged": False,
                            "deleted": False,
                            "draft": False,
                            "keywords": "",
                            **metadata.columns(),
                        }
                        for offset, (digest, metadata) in enumerate(items)
                    ]
                    ids = list((await session.execute(insert_messages, rows)).scalars())
                    await session.execute(
                        insert_text,
                        [
                            {
                                "id": message_id,
                                "mailbox_id": mailbox.id,
                                "uid": first_uid + offset,
                                "headers": clean(m.header_text),
                                "body": clean(m.body_text),
                            }
                            for offset, (message_id, (_digest, m)) in enumerate(zip(ids, items, strict=True))
                        ],
                    )
                    await session.execute(
                        insert(Blob.__table__),
                        [{"digest": d, "size": m.size, "refs": 1, "zero_since": None} for d, m in items],
                    )
                    await add_usage(
                        session, box.account, size=sum(m.size for _d, m in items), count=len(items), limits=None
                    )
                box.indices.extend(range(first, first + len(items)))
                now = time.perf_counter()
                if now - last_note > 15:
                    last_note = now
                    print(f"    {len(box.indices)}/{box.target} in {now - started:.0f}s", flush=True)
    finally:
        await engine.dispose()
    return time.perf_counter() - started


async def analyze(url: str) -> None:
    """What autovacuum does on a live PostgreSQL soon after a bulk load."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
    finally:
        await engine.dispose()


# --- fetch and search -------------------------------------------------------------------------


async def fetch_walk(client: Client, account: str, limit: int) -> tuple[float, float, int, int, int]:
    """Fetch flags + envelope of the whole INBOX in pages of `limit`: (seconds, parse seconds, messages,
    reply bytes, requests). Each reply is parsed into the contract's FetchReply and its `messages`, as a front
    end does."""
    perf = time.perf_counter
    first, messages, size, requests, parse = 1, 0, 0, 0, 0.0
    started = perf()
    while True:
        payload = json.dumps(
            {
                "account": account,
                "mailbox": "INBOX",
                "uids": [{"first": first, "last": None}],
                "items": ["flags", "envelope"],
                "limit": limit,
            }
        ).encode()
        data = await client.call(contract.RPC_FETCH, payload)
        requests += 1
        size += len(data)
        parse_started = perf()
        reply = contract.FetchReply.model_validate_json(data)
        page = reply.messages  # what a front end iterates over
        parse += perf() - parse_started
        messages += len(page)
        if reply.next_uid is None:
            break
        first = reply.next_uid
    return perf() - started, parse, messages, size, requests


async def fetch_phase(
    client: Client,
    name: str,
    account: str,
    limit: int,
    expected: int,
    *,
    runs: int,
    service_pid: int | None,
    profiler: Profiler,
    max_seconds: float,
) -> Result:
    result = Result(name, 1)
    parses: list[float] = []
    for _ in range(2):  # warm-up, not counted
        try:
            await fetch_walk(client, account, limit)
        except Exception as exc:
            result.note_error(f"{type(exc).__name__}: {exc}")
            return result
    stop_at = time.perf_counter() + max_seconds
    async with profiler.phase(name):
        meter = CpuMeter(service_pid)
        started = time.perf_counter()
        for _ in range(runs):
            if time.perf_counter() > stop_at:
                result.truncated = True
                break
            try:
                seconds, parse, messages, size, requests = await fetch_walk(client, account, limit)
            except Exception as exc:
                result.note_error(f"{type(exc).__name__}: {exc}")
                continue
            result.latencies.append(seconds)
            parses.append(parse)
            result.extra.update(reply_bytes=size, requests=requests)
            if messages != expected:
                result.note_error(f"fetched {messages} messages, expected {expected}")
        result.wall = time.perf_counter() - started
        meter.stop(result)
    if parses:
        bus_only = [seconds - parse for seconds, parse in zip(result.latencies, parses, strict=True)]
        result.extra["parse_ms"] = percentile(parses, 0.5) * 1000
        result.extra["bus_ms"] = percentile(bus_only, 0.5) * 1000
        result.extra["bus_p95_ms"] = percentile(bus_only, 0.95) * 1000
    return result


async def search_phase(
    client: Client,
    case: SearchCase,
    account: str,
    expected: int,
    *,
    runs: int,
    service_pid: int | None,
    profiler: Profiler,
    max_seconds: float,
) -> Result:
    result = Result(f"search {case.name}", 1)
    payload = json.dumps(
        {"account": account, "mailbox": "INBOX", "criteria": {"op": case.op, "value": case.value}}
    ).encode()
    perf = time.perf_counter

    async def once() -> None:
        started = perf()
        try:
            data = await client.call(contract.RPC_SEARCH, payload)
            reply = contract.SearchReply.model_validate_json(data)
        except Exception as exc:
            result.note_error(f"{type(exc).__name__}: {exc}")
            return
        result.latencies.append(perf() - started)
        result.extra["matches"] = len(reply.uids)
        if len(reply.uids) != expected:
            result.note_error(f"{len(reply.uids)} matches, expected {expected}")

    for _ in range(2):  # warm-up, not counted
        await once()
    result.latencies.clear()
    stop_at = perf() + max_seconds
    async with profiler.phase(result.name):
        meter = CpuMeter(service_pid)
        started = perf()
        for _ in range(runs):
            if perf() > stop_at:
                result.truncated = True
                break
            await once()
        result.wall = perf() - started
        meter.stop(result)
    return result


# --- the world ------------------------------------------------------------------------------


class BenchNats(NatsServer):
    """The test nats-server with the embedded server's max_payload, so a 10,000-message fetch fits."""

    def config_text(self) -> str:
        return super().config_text() + f"max_payload: {MAX_PAYLOAD}\n"


def make_durable(admin_url: str) -> str:
    """Turn the test cluster's fsync/synchronous_commit/full_page_writes back on (production settings)."""
    import asyncpg
    from sqlalchemy.engine import make_url

    async def run() -> str:
        dsn = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn)
        try:
            for setting in ("fsync = on", "synchronous_commit = on", "full_page_writes = on"):
                await conn.execute(f"ALTER SYSTEM SET {setting}")
            await conn.execute("SELECT pg_reload_conf()")
            await asyncio.sleep(0.5)
            values = [await conn.fetchval(f"SHOW {name}") for name in ("fsync", "synchronous_commit")]
        finally:
            await conn.close()
        return f"fsync={values[0]} synchronous_commit={values[1]}"

    return asyncio.run(run())


def start_directory(work: Path, nats_url: str) -> tuple[ServiceProcess, str]:
    admin_port, ops_port = free_ports(2)
    data_dir = work / "directory"
    env = {
        "PARLEY_DATA_DIR": str(data_dir),
        "PARLEY_NATS_URL": nats_url,
        "PARLEY_BIND_HOST": "127.0.0.1",
        "PARLEY_LOG_LEVEL": "warning",
        "PARLEY_DIRECTORY_DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'directory.sqlite3'}",
        "PARLEY_DIRECTORY_ADMIN_PORT": str(admin_port),
        "PARLEY_DIRECTORY_OPS_PORT": str(ops_port),
        "PARLEY_DIRECTORY_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    process = ServiceProcess("directory", env=env, ops_port=ops_port, data_dir=data_dir).start()
    return process, f"http://127.0.0.1:{admin_port}/api/v1"


def storage_process(work: Path, nats_url: str, database_url: str, blob_dir: Path) -> ServiceProcess:
    (ops_port,) = free_ports(1)
    env = {
        "PARLEY_DATA_DIR": str(work / "storage"),
        "PARLEY_NATS_URL": nats_url,
        "PARLEY_BIND_HOST": "127.0.0.1",
        "PARLEY_LOG_LEVEL": "warning",
        "PARLEY_STORAGE_DATABASE_URL": database_url,
        "PARLEY_STORAGE_OPS_PORT": str(ops_port),
        "PARLEY_STORAGE_MIGRATE_ON_START": "false",
        "PARLEY_STORAGE_GC_INTERVAL": "0",
        "PARLEY_BLOB_BACKEND": "local",
        "PARLEY_BLOB_LOCAL_DIR": str(blob_dir),
    }
    return ServiceProcess("storage", env=env, ops_port=ops_port, data_dir=work / "storage")


async def create_accounts(admin_url: str, accounts: list[str], *, concurrency: int = 8) -> float:
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=admin_url, auth=("admin", ADMIN_PASSWORD), timeout=30) as http:
        reply = await http.post("/domains", json={"name": DOMAIN})
        if reply.status_code != 201:
            raise SystemExit(f"cannot create domain {DOMAIN}: {reply.status_code} {reply.text}")
        queue = list(reversed(accounts))

        async def worker() -> None:
            while queue:
                address = queue.pop()
                reply = await http.post("/accounts", json={"address": address})
                if reply.status_code != 201:
                    raise SystemExit(f"cannot create {address}: {reply.status_code} {reply.text}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def wait_provisioned(url: str, accounts: int, timeout: float = 180) -> tuple[int, float]:
    """Until storage has made the default mailboxes of every account (on the directory's events)."""
    started = time.perf_counter()
    engine = create_engine(url, read_only=True)
    found = 0
    try:
        while time.perf_counter() - started < timeout:
            async with engine.connect() as conn:
                found = int(await conn.scalar(text("SELECT count(DISTINCT account) FROM mailboxes")) or 0)
            if found >= accounts:
                break
            await asyncio.sleep(0.5)
    finally:
        await engine.dispose()
    return found, time.perf_counter() - started


# --- output -----------------------------------------------------------------------------


def fmt(value: float, digits: int = 2) -> str:
    return "-" if value != value else f"{value:.{digits}f}"  # NaN -> "-"


def print_table(title: str, results: list[Result], *, rates: bool) -> None:
    print(title)
    header = ["operation", "n", "conc", "p50 ms", "p95 ms", "p99 ms", "max ms"]
    header += ["msgs/s", "mean batch"] if rates else ["other"]
    header += ["svc cpu ms/op", "client cpu ms/op", "errors"]
    rows = [header]
    for r in results:
        count = f"{r.done}" + ("*" if r.truncated else "")
        cells = [
            r.name,
            count,
            str(r.concurrency),
            fmt(r.pct(0.5)),
            fmt(r.pct(0.95)),
            fmt(r.pct(0.99)),
            fmt(r.pct(1.0)),
        ]
        if rates:
            cells += [fmt(r.rate, 0), fmt(r.batch_mean, 1)]
        else:
            cells.append(" ".join(f"{k}={fmt(v, 1) if isinstance(v, float) else v}" for k, v in r.extra.items()))
        cells += [fmt(r.per_op_ms(r.service_cpu)), fmt(r.per_op_ms(r.client_cpu)), str(r.errors)]
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])]
        for i, cell in enumerate(row[1:], start=1):
            cells.append(cell.ljust(widths[i]) if header[i] == "other" else cell.rjust(widths[i]))
        print("  ".join(cells))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    if rates:
        for r in results:
            print(f"  batch sizes of {r.name!r} (size:commits): {r.batches}")
    if any(r.truncated for r in results):
        print("* stopped by the phase time limit before all requests were sent")
    for r in results:
        if r.first_error:
            print(f"first error in {r.name!r}: {r.first_error}")
    print()


def machine_notes() -> str:
    if MACHINE_SH.is_file():
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(["bash", str(MACHINE_SH)], capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f'host={platform.node()} nproc={os.cpu_count()} load="{load}" kernel={platform.release()} '
        f"python={platform.python_version()} date={datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"
    )


def code_version() -> str:
    """The commit measured, and which files of libs/ and the services involved differ from it."""

    def git(*args: str) -> str:
        out = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=10)
        return out.stdout.rstrip() if out.returncode == 0 else ""

    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = git("rev-parse", "--short", "HEAD")
        if head:
            changed = [
                line[3:]
                for line in git(
                    "status", "--porcelain", "--", "libs", "services/storage", "services/directory"
                ).splitlines()
            ]
            return head + (f" + uncommitted changes in {' '.join(changed)}" if changed else "")
    return "unknown (not a git checkout)"


def verdict(value: float, ok: Callable[[float], bool]) -> str:
    return "-" if value != value else ("yes" if ok(value) else "no")


@dataclass
class Run:
    """Everything measured, for the summary."""

    deliveries: list[Result] = field(default_factory=list)
    fetches: list[Result] = field(default_factory=list)
    searches: dict[str, Result] = field(default_factory=dict)
    fetch_size: int = 0
    search_size: int = 0
    population: str = "-"
    population_seconds: float = float("nan")
    accounts_seconds: float = float("nan")
    postgres: str = ""
    restarted: ServiceProcess | None = None  # the storage process started after direct population


def summary(run: Run, args: argparse.Namespace, load_before: str) -> list[str]:
    def rate(name: str) -> float:
        r = next((r for r in run.deliveries if r.name == name), None)
        return r.rate if r else float("nan")

    def delivery(name: str) -> Result | None:
        return next((r for r in run.deliveries if r.name == name), None)

    one, spread = "one mailbox", f"{args.accounts} accounts"
    lines = [
        f"database={args.database}" + (f" ({run.postgres})" if run.postgres else ""),
        "blob_backend=local",
        f"message_bytes={MESSAGE_BYTES}",
        f"concurrency={args.concurrency}",
        f"accounts={args.accounts} (created through the directory admin API in {fmt(run.accounts_seconds, 1)}s)",
        "quota_cache_seconds=30 (storage default)",
    ]
    for label, key in ((one, "one_mailbox"), (spread, f"{args.accounts}_accounts")):
        excluded, included = delivery(f"deliver, {label}"), delivery(f"put + deliver, {label}")
        lines += [
            f"storage_deliver_{key}_per_s={fmt(rate(f'deliver, {label}'), 0)}",
            f"storage_deliver_{key}_with_blob_put_per_s={fmt(rate(f'put + deliver, {label}'), 0)}",
            f"storage_deliver_{key}_p99_ms={fmt(excluded.pct(0.99) if excluded else float('nan'))}",
            f"storage_deliver_{key}_batch_mean={fmt(excluded.batch_mean if excluded else float('nan'), 1)}",
            f"storage_deliver_{key}_with_blob_put_batch_mean="
            f"{fmt(included.batch_mean if included else float('nan'), 1)}",
        ]
    n = run.fetch_size
    for r in run.fetches:
        key = f"storage_fetch_{n}" + ("" if r.name.startswith("fetch, pages") else "_single")
        lines += [
            f"{key}_ms={fmt(r.pct(0.5), 1)}",
            f"{key}_p95_ms={fmt(r.pct(0.95), 1)}",
            f"{key}_without_client_parse_ms={fmt(r.extra.get('bus_ms', float('nan')), 1)}",
            f"{key}_client_parse_ms={fmt(r.extra.get('parse_ms', float('nan')), 1)}",
            f"{key}_reply_bytes={int(r.extra.get('reply_bytes', 0))}",
        ]
    m = run.search_size
    text_cases = [run.searches[c.key] for c in SEARCH_CASES if c.op == "text" and c.key in run.searches]
    worst_median = max((r.pct(0.5) for r in text_cases), default=float("nan"))
    worst_p95 = max((r.pct(0.95) for r in text_cases), default=float("nan"))
    lines += [
        f"storage_search_population={run.population} ({fmt(run.population_seconds, 1)}s)",
        f"storage_search_text_{m}_ms={fmt(worst_median, 1)} (the slowest median of the three TEXT searches)",
        f"storage_search_text_{m}_p95_ms={fmt(worst_p95, 1)}",
    ]
    for case in SEARCH_CASES:
        r = run.searches.get(case.key)
        prefix = f"storage_search_{case.key}_{m}" if case.op == "body" else f"storage_search_text_{case.key}_{m}"
        lines += [
            f"{prefix}_ms={fmt(r.pct(0.5) if r else float('nan'), 1)}",
            f"{prefix}_p95_ms={fmt(r.pct(0.95) if r else float('nan'), 1)}",
            f"{prefix}_matches={int(r.extra.get('matches', -1)) if r else '-'}",
        ]
    fetch_pages = next((r for r in run.fetches if r.name.startswith("fetch, pages")), None)
    worst_rate = min(rate(f"deliver, {one}"), rate(f"deliver, {spread}"))
    errors = sum(r.errors for r in [*run.deliveries, *run.fetches, *run.searches.values()])
    lines += [
        f"target_deliver_{TARGET_DELIVER_PER_S:g}_per_s={verdict(worst_rate, lambda v: v >= TARGET_DELIVER_PER_S)}"
        " (both delivery shapes, blob put excluded)",
        f"target_fetch_{n}_under_{TARGET_FETCH_MS:g}ms="
        f"{verdict(fetch_pages.pct(0.5) if fetch_pages else float('nan'), lambda v: v < TARGET_FETCH_MS)}"
        " (median, pages of 1000, client parse included)",
        f"target_search_text_{m}_under_{TARGET_SEARCH_MS:g}ms={verdict(worst_median, lambda v: v < TARGET_SEARCH_MS)}"
        " (slowest median)",
        f"errors={errors}",
        f"code={code_version()}",
        f'load_before="{load_before}"',
        f"machine: {machine_notes()}",
    ]
    return lines


# --- the run ------------------------------------------------------------------------------------


async def measure(
    args: argparse.Namespace,
    run: Run,
    nats_url: str,
    database_url: str,
    admin_url: str,
    work: Path,
    storage: ServiceProcess,
    deadline: float,
) -> ServiceProcess:
    """All phases; returns the storage process running at the end (it is restarted around direct population)."""
    blob_dir = work / "blobs"
    nc = await nats.connect(nats_url, name="bench-storage", connect_timeout=10)
    blobs = LocalBlobStore(blob_dir)
    client = Client(nc, blobs)
    corpus = Corpus(args.seed)
    rng = random.Random(args.seed + 1)
    spread = [f"user{i}@{DOMAIN}" for i in range(args.accounts)]
    recipients = [rng.randrange(args.accounts) for _ in range(args.deliveries)]
    current = {"storage": storage}
    profiler = Profiler(args.profile, lambda: current["storage"].process.pid if current["storage"].process else None)

    def remaining() -> float:
        return deadline - time.monotonic()

    try:
        run.accounts_seconds = await create_accounts(admin_url, [ONE_ACCOUNT, FETCH_ACCOUNT, SEARCH_ACCOUNT, *spread])
        found, waited = await wait_provisioned(database_url, len(spread) + 3)
        print(
            f"created {len(spread) + 3} accounts through the admin API in {run.accounts_seconds:.1f}s; "
            f"storage had provisioned the mailboxes of {found} {waited:.1f}s later",
            flush=True,
        )

        # 1. deliveries
        warm = await warm_up(client, corpus, [ONE_ACCOUNT] * WARMUP_DELIVERIES, concurrency=args.concurrency)
        print(f"warm-up: {warm.done} deliveries to {ONE_ACCOUNT} in {warm.wall:.1f}s, {warm.errors} errors", flush=True)
        plans = [
            DeliveryPlan("deliver, one mailbox", "one", lambda i: ONE_ACCOUNT, args.deliveries, False),
            DeliveryPlan("put + deliver, one mailbox", "one-put", lambda i: ONE_ACCOUNT, args.deliveries, True),
            DeliveryPlan(
                f"deliver, {args.accounts} accounts",
                "spread",
                lambda i: spread[recipients[i % len(recipients)]],
                args.deliveries,
                False,
            ),
            DeliveryPlan(
                f"put + deliver, {args.accounts} accounts",
                "spread-put",
                lambda i: spread[recipients[-1 - i % len(recipients)]],
                args.deliveries,
                True,
            ),
        ]
        for plan in plans:
            if plan.tag == "spread":
                warm = await warm_up(client, corpus, spread, concurrency=args.concurrency)
                print(
                    f"warm-up: one delivery to each of {len(spread)} accounts in {warm.wall:.1f}s, "
                    f"{warm.errors} errors",
                    flush=True,
                )
            if remaining() < 30:
                print(f"skipped {plan.name}: run time limit reached", flush=True)
                continue
            pid = storage.process.pid if storage.process else None
            result = await deliver_phase(
                client,
                corpus,
                plan,
                concurrency=args.concurrency,
                max_seconds=min(args.phase_seconds, remaining()),
                service_pid=pid,
                ops_port=storage.ops_port,
                profiler=profiler,
            )
            run.deliveries.append(result)
            print(
                f"  {plan.name:<30} n={result.done:<6} {fmt(result.rate, 0)} msgs/s  p50={fmt(result.pct(0.5))} "
                f"p99={fmt(result.pct(0.99))} ms  mean batch {fmt(result.batch_mean, 1)}  errors={result.errors}",
                flush=True,
            )

        # 2 + 3. the fetch and search mailboxes
        boxes = [
            Mailbox(FETCH_ACCOUNT, "fetch", args.fetch_messages, search=False),
            Mailbox(SEARCH_ACCOUNT, "search", args.search_messages, search=True),
        ]
        total = sum(b.target for b in boxes)
        best = max((r.rate for r in run.deliveries if r.name.startswith("put + deliver")), default=float("nan"))
        estimate = total / best if best == best and best > 0 else math.inf
        budget = remaining() - SEARCH_RESERVE_S
        mode = args.populate
        if mode == "auto":
            mode = "bus" if estimate < min(BUS_POPULATE_LIMIT_S, budget) else "direct"
        print(
            f"populating {total} messages ({args.fetch_messages} in {FETCH_ACCOUNT}, {args.search_messages} in "
            f"{SEARCH_ACCOUNT}): {mode} (through the bus at {fmt(best, 0)} msgs/s would take about "
            f"{fmt(estimate, 0)}s; budget {budget:.0f}s)",
            flush=True,
        )
        started = time.perf_counter()
        if mode == "bus":
            for box in boxes:
                errors, seconds = await populate_bus(
                    client, corpus, box, concurrency=args.populate_concurrency, deadline=deadline - SEARCH_RESERVE_S
                )
                print(
                    f"  {box.account}: {len(box.indices)} messages through the bus in {seconds:.1f}s "
                    f"({len(box.indices) / seconds:.0f} msgs/s, {errors} errors)",
                    flush=True,
                )
            run.population = f"bus (put + deliver, concurrency {args.populate_concurrency})"
        else:
            storage.stop()
            for box in boxes:
                seconds = await populate_direct(database_url, args.seed, box, deadline=deadline - SEARCH_RESERVE_S)
                print(
                    f"  {box.account}: {len(box.indices)} messages stored directly in {seconds:.1f}s "
                    f"({len(box.indices) / seconds:.0f} msgs/s)",
                    flush=True,
                )
            run.population = (
                "direct (bulk rows from the storage code's extract(), 2000 per transaction, blobs not written)"
            )
        if args.database == "postgresql":
            await analyze(database_url)
            run.population += ", then ANALYZE"
        run.population_seconds = time.perf_counter() - started
        if mode != "bus":
            storage = storage_process(work, nats_url, database_url, blob_dir).start()
            current["storage"] = run.restarted = storage
            print(f"storage restarted on the populated database (pid {storage.process.pid})", flush=True)
        fetch_box, search_box = boxes
        run.fetch_size, run.search_size = len(fetch_box.indices), len(search_box.indices)
        pid = storage.process.pid if storage.process else None

        # 2. fetch
        for limit, name in ((1000, "fetch, pages of 1000"), (10_000, "fetch, one request of 10000")):
            if remaining() < 10:
                print(f"skipped {name}: run time limit reached", flush=True)
                continue
            result = await fetch_phase(
                client,
                name,
                FETCH_ACCOUNT,
                limit,
                run.fetch_size,
                runs=args.fetch_runs,
                service_pid=pid,
                profiler=profiler,
                max_seconds=min(60, remaining()),
            )
            run.fetches.append(result)
            print(
                f"  {name:<30} median {fmt(result.pct(0.5), 1)} ms  p95 {fmt(result.pct(0.95), 1)} ms  "
                f"errors={result.errors}",
                flush=True,
            )

        # 3. search
        for case in SEARCH_CASES:
            if remaining() < 5:
                print(f"skipped search {case.name}: run time limit reached", flush=True)
                continue
            expected = sum(1 for i in search_box.indices if case.matches(i, search_box.target))
            result = await search_phase(
                client,
                case,
                SEARCH_ACCOUNT,
                expected,
                runs=args.search_runs,
                service_pid=pid,
                profiler=profiler,
                max_seconds=min(45, remaining()),
            )
            run.searches[case.key] = result
            print(
                f"  search {case.name:<23} {int(result.extra.get('matches', -1)):>6} matches  median "
                f"{fmt(result.pct(0.5), 1)} ms  p95 {fmt(result.pct(0.95), 1)} ms  errors={result.errors}",
                flush=True,
            )
    finally:
        await blobs.close()
        await nc.close()
    return storage


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--concurrency", type=int, default=32, help="client tasks delivering at once (default 32)")
    parser.add_argument(
        "--deliveries",
        type=int,
        default=10_000,
        help="deliveries per delivery phase (default 10000; also bounded by --phase-seconds)",
    )
    parser.add_argument("--accounts", type=int, default=1000, help="accounts of the spread phases (default 1000)")
    parser.add_argument("--fetch-messages", type=int, default=10_000, help="messages of the fetch mailbox")
    parser.add_argument("--search-messages", type=int, default=100_000, help="messages of the search mailbox")
    parser.add_argument(
        "--populate",
        choices=("auto", "bus", "direct"),
        default="auto",
        help="how the fetch and search mailboxes are filled (default auto: the bus if it takes "
        f"under {BUS_POPULATE_LIMIT_S:.0f}s at the measured rate, else direct)",
    )
    parser.add_argument("--populate-concurrency", type=int, default=128, help="client tasks for --populate bus")
    parser.add_argument("--fetch-runs", type=int, default=20, help="measured runs of each fetch (default 20)")
    parser.add_argument("--search-runs", type=int, default=20, help="measured runs of each search (default 20)")
    parser.add_argument(
        "--phase-seconds", type=float, default=20.0, help="time limit of one delivery phase (default 20)"
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=540.0,
        help="overall limit in seconds, set-up included; later phases are skipped (default 540)",
    )
    parser.add_argument(
        "--no-pg-fsync",
        action="store_true",
        help="keep the test cluster's fsync=off, synchronous_commit=off (default: turned on)",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="work in DIR and keep it (SQLite files, blobs, service logs); default: a temp dir",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="record each measured phase of the storage process with py-spy into DIR",
    )
    parser.add_argument("--seed", type=int, default=20261126)
    args = parser.parse_args()
    if min(args.concurrency, args.deliveries, args.accounts, args.fetch_messages, args.search_messages) < 1:
        parser.error("counts must be positive")

    deadline = time.monotonic() + args.time_limit
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if args.keep:
        work = args.keep.resolve()
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
    else:
        work = Path(tempfile.mkdtemp(prefix="parley-bench-storage-"))
    nats_server: BenchNats | None = None
    postgres = None
    directory: ServiceProcess | None = None
    storage: ServiceProcess | None = None
    run = Run()
    try:
        nats_server = BenchNats(jetstream=False).start()
        if args.database == "postgresql":
            from libs.testing.postgres import LocalPostgres, start_postgres

            print("starting PostgreSQL ...", flush=True)
            postgres = start_postgres()
            database_url = postgres.url
            if isinstance(postgres, LocalPostgres) and not args.no_pg_fsync:
                run.postgres = make_durable(postgres.admin_url)
            elif isinstance(postgres, LocalPostgres):
                run.postgres = "test cluster settings: fsync=off synchronous_commit=off"
            else:
                run.postgres = "external server, settings as found"
        else:
            database_url = f"sqlite+aiosqlite:///{work / 'storage.sqlite3'}"
        print(
            f"nats {nats_server.url} (max_payload {MAX_PAYLOAD}), database {args.database} {run.postgres}, "
            f"work dir {work}",
            flush=True,
        )
        upgrade("storage", database_url)
        directory, admin_url = start_directory(work, nats_server.url)
        storage = storage_process(work, nats_server.url, database_url, work / "blobs").start()
        print(
            f"directory and storage ready (storage pid {storage.process.pid if storage.process else '-'})", flush=True
        )
        try:
            import uvloop

            runner: Callable[[Awaitable[Any]], Any] = uvloop.run
        except ImportError:
            runner = asyncio.run
        storage = runner(measure(args, run, nats_server.url, database_url, admin_url, work, storage, deadline))
        if storage is not None and storage.process is not None and storage.process.poll() is not None:
            print(f"storage service died during the run:\n{storage.log_tail()}", flush=True)

        print()
        print(
            f"storage: {args.database}, local blobs, {MESSAGE_BYTES}-byte messages, client in one process "
            "(raw NATS requests; latency = request sent to reply received, blob put included where named)"
        )
        print()
        print_table("deliveries (storage.rpc.deliver, one recipient each)", run.deliveries, rates=True)
        print_table(
            f"metadata fetch of {run.fetch_size} messages (flags + envelope; latency = the whole mailbox, "
            "replies parsed into FetchReply)",
            run.fetches,
            rates=False,
        )
        print_table(
            f"search over {run.search_size} messages (storage.rpc.search; replies parsed into SearchReply)",
            list(run.searches.values()),
            rates=False,
        )
        for line in summary(run, args, load_before):
            print(line)
        errors = sum(r.errors for r in [*run.deliveries, *run.fetches, *run.searches.values()])
        return 1 if errors else 0
    finally:
        for process in (storage, run.restarted):
            if process is not None:
                process.stop()
        if directory is not None:
            directory.stop()
        if nats_server is not None:
            if args.keep:
                with contextlib.suppress(OSError):
                    shutil.copy(nats_server.log_path, work / "nats-server.log")
            nats_server.close()
        if postgres is not None:
            postgres.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
