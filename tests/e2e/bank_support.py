"""The bank and crash tests: a real ``kopek serve`` process on PostgreSQL, client threads that charge, run sessions and
refill over HTTP with retries of the same request, and the checks of what they were answered against the ledger.

Everything is bounded: the load runs for a fixed time, every request and retry has a deadline, every wait for the
server has a timeout that fails the test with the server's log, and the server is killed when the test ends.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from kopek import AccessInput, ContractInput, Engine, SubscriberAccountInput
from kopek.documents import parse_document
from kopek.store.schema import account_operations, accounts, charged_items, charging_operations, notifications, session_requests

CATALOG = """
item_classes:
  - name: sms
    properties:
      - {name: destination, type: string}
  - name: call
    quantity: duration
    properties:
      - {name: duration, type: integer, unit: seconds}
charge_plans:
  - name: bank
    currency: EUR
    counters:
      - {name: free_seconds, scope: contract_item, unit: seconds, initial: 120}
      - {name: pool, scope: shared, namespace: bank, unit: seconds, initial: 1800}
    charges:
      - name: sms
        item_class: sms
        price: {type: flat, amount: "0.07"}
      - name: voice
        item_class: call
        price:
          type: allowance
          counter: free_seconds
          then:
            type: allowance
            counter: pool
            then: {type: rate, amount: "0.60", unit: minutes, increment: 1}
refill_plans:
  - name: top_up
    currency: EUR
    min_amount: 1
    max_amount: 50
"""
"""SMS at 0.07; calls use their line's 120 free seconds, then a pool of 1,800 seconds shared by every line, then cost
0.60 a started minute; refills of 1 to 50."""

START = datetime(2026, 1, 1, tzinfo=UTC)
AT = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)

HOT = {"hot-0": ("8.00", "0"), "hot-1": ("8.00", "1.00"), "hot-2": ("6.00", "0"), "hot-3": ("6.00", "-2.00")}
"""The hot subscriber accounts: opening balance and floor of their prepaid account; two lines each."""
VAULT = ("vault", "2.10")
"""A prepaid account that only offline charges touch: its balance only falls, so a charge it refused once stays
refused, and a retry that both succeeds and is refused is a fault whatever the interleaving."""
LINES_PER_HOT = 2
SESSION_TTL_MS = 120_000
"""Longer than any test: no session expires while its client still drives it (the expiry pass is off anyway)."""

REQUEST_TIMEOUT_SECONDS = 30
SERVER_START_SECONDS = 45
RETRY_PAUSE_SECONDS = 0.05
"""How long a client waits before sending a request again after the connection failed (the server is down)."""


def lines() -> list[str]:
    """Every line (contract id, and user id of its access on service ``bank``)."""
    return [f"{holder}-line-{index}" for holder in HOT for index in range(LINES_PER_HOT)] + [f"{VAULT[0]}-line-0"]


def hot_lines() -> list[str]:
    return [line for line in lines() if not line.startswith(VAULT[0])]


def account_of(line: str) -> str:
    return f"{line.rsplit('-line-', 1)[0]}-prepaid"


def build_bank(engine: Engine) -> dict[str, Decimal]:
    """Load the catalog and the subscribers; the opening balance of each prepaid account."""
    engine.load_catalog(parse_document(CATALOG, source="bank.yaml"))
    openings = {}
    holders = {**HOT, VAULT[0]: (VAULT[1], "0")}
    for holder, (balance, floor) in holders.items():
        account = {"id": f"{holder}-prepaid", "kind": "prepaid", "initial_balance": balance, "floor": floor}
        engine.create_subscriber_account(SubscriberAccountInput.model_validate({"id": holder, "currency": "EUR", "accounts": [account]}))
        openings[f"{holder}-prepaid"] = Decimal(balance)
    for line in lines():
        holder = line.rsplit("-line-", 1)[0]
        contract = {
            "id": line,
            "subscriber_account_id": holder,
            "valid_from": START.isoformat(),
            "items": [{"id": "main", "charge_plan": "bank"}],
            "roles": {"prepaid": account_of(line)},
        }
        engine.create_contract(ContractInput.model_validate(contract))
        access = {"service_id": "bank", "user_id": line, "contract_id": line, "valid_from": START.isoformat()}
        engine.create_access(AccessInput.model_validate(access))
    return openings


# ---- the server -------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    """``kopek serve`` in its own process on 127.0.0.1, its output in a log file."""

    def __init__(self, database_url: str, log_path: Path) -> None:
        self.database_url = database_url
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "one server at a time"
        command = [
            sys.executable, "-m", "kopek.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
            "--log-level", "warning", "--cleanup-interval-seconds", "0", "--database-url", self.database_url,
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            log.write(f"---- start {self.starts + 1}\n".encode())
            log.flush()
            # A session of its own: the server's worker processes are killed with it, as a crash of the machine would.
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "KOPEK_DATABASE_URL": ""}, start_new_session=True
            )
        self.starts += 1
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"kopek serve exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(RETRY_PAUSE_SECONDS)
        raise AssertionError(f"kopek serve did not answer /healthz within {SERVER_START_SECONDS} s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL to the server and its workers: no clean-up of any kind, as a crash. (Killed alone, the server's
        process would leave its worker serving on the port and holding its database connections.)"""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-20_000:]


# ---- the clients --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One HTTP exchange of one copy of a request."""

    key: str
    kind: str
    group: int
    copy: int
    sent_at: float
    received_at: float
    status: int
    body: Any


@dataclass
class Record:
    """Every answer every client received, and the requests that never got one before their deadline."""

    answers: list[Answer] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)
    groups: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, answer: Answer) -> None:
        with self.lock:
            self.answers.append(answer)

    def by_key(self) -> dict[str, list[Answer]]:
        found: dict[str, list[Answer]] = defaultdict(list)
        for answer in self.answers:
            found[answer.key].append(answer)
        return found


class Client:
    """One client thread's work: until ``until``, offline charges, session cycles and refills, some sent several times
    (one after the other, or at once from several threads), each retried with its key while the server is down."""

    def __init__(self, number: int, base_url: str, record: Record, *, until: float, hard_deadline: float) -> None:
        self.number = number
        self.random = random.Random(number)
        self.http = httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT_SECONDS)
        self.record = record
        self.until = until
        self.hard_deadline = hard_deadline
        self.requests = itertools.count(1)

    def run(self) -> None:
        try:
            while time.monotonic() < self.until:
                choice = self.random.random()
                if choice < 0.45:
                    self.offline_charge()
                elif choice < 0.8:
                    self.session_cycle()
                else:
                    self.refill()
        finally:
            self.http.close()

    def _key(self, kind: str) -> str:
        return f"c{self.number}-{kind}-{next(self.requests)}"

    def offline_charge(self) -> None:
        vault = self.random.random() < 0.2
        line = f"{VAULT[0]}-line-0" if vault else self.random.choice(hot_lines())
        # The vault takes only SMS: a flat price on a falling balance, so a refusal stays a refusal.
        if vault or self.random.random() < 0.7:
            item = {"item_class": "sms", "properties": {"destination": "33612345678"}}
        else:
            item = {"item_class": "call", "properties": {"duration": self.random.randint(20, 400)}}
        body = {
            "item": item | {"consumption_date": AT.isoformat(), "service_id": "bank", "user_id": line},
            "options": {"charging_process_info": True, "account_operations": True, "notifications": True},
        }
        self.send("vault-charge" if vault else "charge", "/v1/charging", body)

    def session_cycle(self) -> None:
        line = self.random.choice(hot_lines())
        session_id = self._key("session")
        start = {
            "session_id": session_id,
            "service_id": "bank",
            "user_id": line,
            "consumption_date": AT.isoformat(),
            "ttl_ms": SESSION_TTL_MS,
            "quantity_property": "duration",
            "requested_quantity": self.random.randint(60, 300),
            "item": {"item_class": "call", "properties": {}},
        }
        started = self.send("start", "/v1/sessions", start)
        if started is None or started.status >= 300:
            return
        granted = int(Decimal(started.body["granted_quantity"]))
        # Mostly within the grant; sometimes beyond it (charged in full, with usage_above_grant).
        used = granted + self.random.randint(1, 90) if self.random.random() < 0.1 else self.random.randint(0, granted)
        updated = self.send("update", f"/v1/sessions/{session_id}/updates", {"used_quantity": used, "requested_quantity": 60})
        granted = int(Decimal(updated.body["granted_quantity"])) if updated is not None and updated.status < 300 else 0
        self.send("stop", f"/v1/sessions/{session_id}/stop", {"used_quantity": self.random.randint(0, granted)})

    def refill(self) -> None:
        line = self.random.choice(hot_lines())
        amount = f"{self.random.randint(1, 2)}.{self.random.randint(0, 99):02d}"
        body = {"refill_id": self._key("refill"), "contract_id": line, "refill_plan": "top_up", "amount": amount}
        self.send("refill", "/v1/refills", body)

    def send(self, kind: str, path: str, body: dict[str, Any]) -> Answer | None:
        """Send one request with its own key; maybe again (after the answer, or at once from three threads). The
        answer of the first copy (none if it never got one)."""
        if kind != "refill":
            body = body | {"idempotency_key": self._key(kind)}
        key = body.get("idempotency_key") or body["refill_id"]
        group = next(self.record.groups)
        shape = self.random.random()
        if shape < 0.2:
            answers = self._at_once(kind, key, group, path, body, copies=3)
        else:
            answers = [self._exchange(kind, key, group, 0, path, body)]
            if shape < 0.35:
                answers.append(self._exchange(kind, key, group, 1, path, body))
        return answers[0]

    def _at_once(self, kind: str, key: str, group: int, path: str, body: dict[str, Any], *, copies: int) -> list[Answer | None]:
        barrier = threading.Barrier(copies)
        answers: list[Answer | None] = [None] * copies

        def copy(index: int) -> None:
            barrier.wait(timeout=REQUEST_TIMEOUT_SECONDS)
            with httpx.Client(base_url=str(self.http.base_url), timeout=REQUEST_TIMEOUT_SECONDS) as http:
                answers[index] = self._exchange(kind, key, group, index, path, body, http=http)

        threads = [threading.Thread(target=copy, args=(index,), daemon=True) for index in range(copies)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=max(1.0, self.hard_deadline - time.monotonic()))
        return answers

    def _exchange(
        self, kind: str, key: str, group: int, copy: int, path: str, body: dict[str, Any], *, http: httpx.Client | None = None
    ) -> Answer | None:
        """POST ``body`` until an answer comes back (the connection may fail while the server is down), by the deadline."""
        http = http or self.http
        sent_at = time.monotonic()
        while time.monotonic() < self.hard_deadline:
            try:
                response = http.post(path, json=body)
            except httpx.TransportError:
                time.sleep(RETRY_PAUSE_SECONDS)
                continue
            try:
                content = response.json()
            except ValueError:
                content = response.text
            answer = Answer(key, kind, group, copy, sent_at, time.monotonic(), response.status_code, content)
            self.record.add(answer)
            return answer
        with self.record.lock:
            self.record.unanswered.append(key)
        return None


def run_clients(base_url: str, record: Record, *, count: int, load_seconds: float, grace_seconds: float) -> None:
    """``count`` clients, all started together, each issuing work for ``load_seconds`` and finishing what it began
    within ``grace_seconds`` more; a client still running after that fails the test."""
    start = time.monotonic()
    until, hard_deadline = start + load_seconds, start + load_seconds + grace_seconds
    clients = [Client(number, base_url, record, until=until, hard_deadline=hard_deadline) for number in range(count)]
    failures: list[BaseException] = []

    def run(client: Client) -> None:
        try:
            client.run()
        except BaseException as error:  # handed to the test, never lost in a thread
            failures.append(error)

    threads = [threading.Thread(target=run, args=(client,), daemon=True) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(1.0, hard_deadline + 5 - time.monotonic()))
    stuck = [thread.name for thread in threads if thread.is_alive()]
    assert not stuck, f"clients still running after {load_seconds + grace_seconds} s: {stuck}"
    assert not failures, failures


# ---- the checks ----------------------------------------------------------------------------------------------------


@dataclass
class Figures:
    """What a run did, for docs/reliability.md."""

    requests: int = 0
    answers: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    replayed: int = 0
    concurrent_groups: int = 0
    keys_with_success: int = 0
    charged_items: int = 0
    below_floor_operations: int = 0

    def line(self) -> str:
        statuses = ", ".join(f"{status}: {count}" for status, count in sorted(self.by_status.items()))
        return (
            f"{self.requests} requests, {self.answers} answers ({statuses}), {self.replayed} replayed, "
            f"{self.concurrent_groups} sent three at once, {self.charged_items} charged items, "
            f"{self.below_floor_operations} postings below a floor (each with usage_above_grant)"
        )


def successes(answers: list[Answer]) -> list[Answer]:
    return [answer for answer in answers if 200 <= answer.status < 300]


def replayed(answer: Answer) -> bool:
    """Whether a successful answer replays the first result of its request."""
    if answer.kind in ("charge", "vault-charge"):
        return bool(answer.body["charging_process_info"]["replayed"])
    return bool(answer.body["replayed"])


def result_id(answer: Answer) -> str:
    """What identifies a successful answer's result: its operation, or its session's state after the call."""
    body = answer.body
    if answer.kind in ("charge", "vault-charge", "refill"):
        return str(body["operation_id"])
    session = body["session"]
    return f"{session['session_id']}@{session['version']}"


def check_answers(record: Record, *, crashes: bool = False) -> Figures:
    """No 5xx; every retry answered the first result; a refusal never answered a retry of a success. With ``crashes``
    the first answer of a success may have been lost with the server (its retries then all replay it)."""
    figures = Figures()
    by_key = record.by_key()
    figures.requests, figures.answers = len(by_key), len(record.answers)
    figures.by_status.update(answer.status for answer in record.answers)
    figures.replayed = sum(replayed(answer) for answer in successes(record.answers))
    figures.concurrent_groups = len({answer.group for answer in record.answers if answer.copy == 2})
    server_errors = [answer for answer in record.answers if answer.status >= 500]
    assert server_errors == [], server_errors[:5]
    assert record.unanswered == [], f"requests never answered by their deadline: {record.unanswered[:10]}"
    for key, answers in by_key.items():
        won = successes(answers)
        if not won:
            continue
        figures.keys_with_success += 1
        assert len({result_id(answer) for answer in won}) == 1, f"{key}: several results {[result_id(answer) for answer in won]}"
        firsts = sum(not replayed(answer) for answer in won)
        assert firsts == 1 or (crashes and firsts == 0), f"{key}: {firsts} first results"
        first_received = min(answer.received_at for answer in won)
        refused = [answer for answer in answers if answer.status >= 400]
        # A retry sent once a success was answered must answer that success.
        late = [answer for answer in refused if answer.sent_at > first_received]
        assert late == [], f"{key}: a retry of a success was refused: {late}"
        # Steps of a session, and charges of the vault (whose balance only falls), cannot be refused once they
        # succeeded: a refusal among copies of a success is a retry answered with a refusal.
        if answers[0].kind in ("update", "stop", "vault-charge") or any(_already_exists(answer) for answer in refused):
            assert refused == [], f"{key}: copies of a success were refused: {refused}"
    return figures


def _already_exists(answer: Answer) -> bool:
    return isinstance(answer.body, dict) and answer.body.get("code") == "already_exists"


def check_ledger(engine: Engine, base_url: str, record: Record, openings: dict[str, Decimal], figures: Figures) -> None:
    """The ledger against the answers: every first result stored once, nothing else charged, balances as answered."""
    report = httpx.get(f"{base_url}/v1/ledger:verify", timeout=120).json()
    assert report["consistent"], report["differences"][:10]
    first = {key: _first_result(answers) for key, answers in record.by_key().items() if successes(answers)}
    with engine.database.connect() as connection:
        _check_keys_stored_once(connection, first)
        figures.charged_items = _check_charged_items(connection, first)
        _check_balances(connection, first, openings)
        figures.below_floor_operations = _check_floors(connection)


def _first_result(answers: list[Answer]) -> Answer:
    """The first result of a request: its first answer, or a replay of it when that answer was lost in a crash."""
    won = successes(answers)
    return next((answer for answer in won if not replayed(answer)), won[0])


def _check_keys_stored_once(connection: sa.Connection, first: dict[str, Answer]) -> None:
    keyed = dict(connection.execute(sa.select(charging_operations.c.idempotency_key, charging_operations.c.id)).all())
    charges = {key: answer for key, answer in first.items() if answer.kind in ("charge", "vault-charge")}
    assert {key: keyed.get(key) for key in charges} == {key: answer.body["operation_id"] for key, answer in charges.items()}
    steps = set(connection.execute(sa.select(session_requests.c.idempotency_key)).scalars())
    assert {key for key, answer in first.items() if answer.kind in ("start", "update", "stop")} <= steps


def _answered_items(first: dict[str, Answer]) -> list[tuple[str, str, Decimal]]:
    """Every charged item a first result reports: (operation id, account id, amount)."""
    items = []
    for answer in first.values():
        if answer.kind in ("charge", "vault-charge"):
            items += [(answer.body["operation_id"], line["account_id"], Decimal(line["amount"])) for line in answer.body["charged_items"]]
        elif answer.kind in ("update", "stop") and answer.body.get("charge") is not None:
            charge = answer.body["charge"]
            items += [(charge["operation_id"], line["account_id"], Decimal(line["amount"])) for line in charge["charged_items"]]
    return items


def _check_charged_items(connection: sa.Connection, first: dict[str, Answer]) -> int:
    """The charged items stored are exactly those the first results report: none lost, none doubled."""
    stored = Counter(
        (row.operation_id, row.account_id, Decimal(row.amount))
        for row in connection.execute(sa.select(charged_items.c.operation_id, charged_items.c.account_id, charged_items.c.amount))
    )
    answered = Counter(_answered_items(first))
    assert stored == answered, (stored - answered, answered - stored)
    return sum(stored.values())


def _check_balances(connection: sa.Connection, first: dict[str, Answer], openings: dict[str, Decimal]) -> None:
    """Each balance is its opening, plus the refills answered, less the charges answered."""
    expected = dict(openings)
    for answer in first.values():
        if answer.kind == "refill":
            expected[answer.body["account_id"]] += Decimal(answer.body["amount"])
    for _, account_id, amount in _answered_items(first):
        expected[account_id] -= amount
    balances = {row.id: Decimal(row.balance) for row in connection.execute(sa.select(accounts.c.id, accounts.c.balance))}
    assert balances == expected


def _check_floors(connection: sa.Connection) -> int:
    """Every posting that took a balance down below its floor came with usage_above_grant naming the account.

    Only postings that lower a balance count: a refill onto a balance that usage above its grant took below its floor
    may leave it still below, and is no fault."""
    floors = {row.id: Decimal(row.floor) for row in connection.execute(sa.select(accounts.c.id, accounts.c.floor))}
    postings = account_operations.c
    columns = (postings.operation_id, postings.account_id, postings.amount, postings.balance_after)
    below = [
        (row.operation_id, row.account_id)
        for row in connection.execute(sa.select(*columns))
        if Decimal(row.amount) < 0 and Decimal(row.balance_after) < floors[row.account_id]
    ]
    told = {
        (row.operation_id, account_id)
        for row in connection.execute(
            sa.select(notifications.c.operation_id, notifications.c.data).where(notifications.c.kind == "usage_above_grant")
        )
        for account_id in json.loads(row.data).get("beyond_bound", "").split(",")
    }
    untold = [posting for posting in below if posting not in told]
    assert not untold, f"below a floor without usage_above_grant (operation, account): {untold[:10]}; {_operations(connection, untold)}"
    return len(below)


def _operations(connection: sa.Connection, postings: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """What is stored of the operations of ``postings`` (their kind, request and result), to say in a failure."""
    ids = sorted({operation_id for operation_id, _ in postings})[:10]
    rows = connection.execute(sa.select(charging_operations).where(charging_operations.c.id.in_(ids))).mappings()
    return [dict(row) for row in rows]


def timed(step: Callable[[], None]) -> float:
    started = time.monotonic()
    step()
    return time.monotonic() - started
