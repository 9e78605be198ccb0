"""The drill simulator's PromQL against a real Prometheus, on the same samples.

The simulated series (``differential_store``) are sampled as the simulator samples them, written
as OpenMetrics, backfilled with ``promtool tsdb create-blocks-from openmetrics``, and served by a
real ``prometheus`` on 127.0.0.1. Every query of ``promql_queries.txt`` (and 150 random ones
from a fixed seed) is then asked of both at several instants: the same label sets, values equal
within 1e-9 relative (NaN equal to NaN, ±Inf to ±Inf), or both refusing the query.
"""

from __future__ import annotations

import math
import random
import subprocess
from pathlib import Path

import httpx
import pytest

from console.drill.promql import PromQLError, evaluate
from console.drill.scenario import load_scenario
from console.drill.series import SeriesStore
from console.runbook.catalog import load_catalog
from console.runbook.library import load_library
from console.runbook.template import render_promql, variables_in
from tests.servers import Server, binary, free_port

QUERIES = Path(__file__).with_name("promql_queries.txt")
DATA = Path(__file__).resolve().parents[2] / "console" / "data"
BASE = 1_700_000_000  # Unix time of drill second 0 (fixed: retention counts from the newest block)
END = 3600  # drill seconds of data
INSTANTS = [301, 1200, 1805, 2503, 3000, 3599]


def differential_store() -> SeriesStore:
    """Series with the shapes queries meet: steps, slopes, counter resets, late starts,
    histograms, NaN and ±Inf, and label values with backslashes and quotes."""
    s = SeriesStore()
    for i, node in enumerate(("m1", "m2", "m3"), start=1):
        s.set("up", {"job": "etcd", "instance": node}, 0, value=1)
        s.set("etcd_server_has_leader", {"instance": node}, 0, value=1)
        s.set("etcd_server_proposals_pending", {"instance": node}, 0, value=i + 1)
    s.set("up", {"job": "etcd", "instance": "m2"}, 1200, value=0)
    s.set("up", {"job": "etcd", "instance": "m2"}, 2000, value=1)
    s.set("etcd_server_has_leader", {"instance": "m2"}, 1200, value=0)
    s.set("etcd_server_proposals_pending", {"instance": "m1"}, 1200, value=40, slope=1.5)
    s.set("etcd_server_proposals_pending", {"instance": "m3"}, 1500, value=35, slope=-0.01)
    s.set("dlq_depth", {"queue": "orders"}, 0, value=40, slope=0.5)
    s.set("dlq_depth", {"queue": "bills"}, 0, value=7)
    s.set("dlq_messages_total", {"queue": "orders"}, 0, value=0, slope=3)
    s.set("dlq_messages_total", {"queue": "orders"}, 1800, value=0, slope=3)
    s.set("dlq_messages_total", {"queue": "bills"}, 0, value=10, slope=0.2)
    s.set("http_requests_total", {"code": "200", "instance": "m1"}, 0, value=0, slope=10)
    s.set("http_requests_total", {"code": "500", "instance": "m1"}, 0, value=3, slope=0.5)
    s.set("http_requests_total", {"code": "200", "instance": "m2"}, 0, value=100, slope=7)
    s.set("http_requests_total", {"code": "200", "instance": "m2"}, 2500, value=2, slope=7)
    s.set("http_requests_total", {"code": "500", "instance": "m2"}, 1500, value=0, slope=0.1)
    for node, slopes in (("m1", (5, 8, 9, 10)), ("m2", (1, 3, 6, 7))):
        for le, slope in zip(("0.1", "0.5", "1", "+Inf"), slopes, strict=True):
            labels = {"instance": node, "le": le}
            s.set("http_request_duration_seconds_bucket", labels, 0, value=0, slope=slope)
        s.set(
            "http_request_duration_seconds_count", {"instance": node}, 0, value=0, slope=slopes[3]
        )
        s.set("http_request_duration_seconds_sum", {"instance": node}, 0, value=0, slope=1.7)
    # etcd's disk histograms as the etcd-slow runbook and scenario query them: m1's disk turns
    # slow at 1200s, and leadership moves from m1 to m2 at 1800s
    fast = {"0.008": 38, "0.128": 39.6, "0.512": 40, "1.024": 40, "+Inf": 40}
    slow = {"0.008": 4, "0.128": 20, "0.512": 39.2, "1.024": 40}
    for node in ("m1", "m2", "m3"):
        for metric in ("wal_fsync", "backend_commit"):
            name = f"etcd_disk_{metric}_duration_seconds"
            for le, slope in fast.items():
                labels = {"instance": node, "job": "etcd", "le": le}
                s.set(f"{name}_bucket", labels, 0, value=1e6 * slope, slope=slope)
            s.set(f"{name}_count", {"instance": node, "job": "etcd"}, 0, value=4e7, slope=40)
            s.set(f"{name}_sum", {"instance": node, "job": "etcd"}, 0, value=2e5, slope=0.2)
        s.set("etcd_server_is_leader", {"instance": node}, 0, value=int(node == "m1"))
        s.set("etcd_server_is_leader", {"instance": node}, 1800, value=int(node == "m2"))
        s.set("etcd_server_leader_changes_seen_total", {"instance": node}, 0, value=1)
        s.set("etcd_server_leader_changes_seen_total", {"instance": node}, 1800, value=2)
    for le, slope in slow.items():
        labels = {"instance": "m1", "job": "etcd", "le": le}
        s.set("etcd_disk_wal_fsync_duration_seconds_bucket", labels, 1200, slope=slope)
    s.set(
        "etcd_disk_wal_fsync_duration_seconds_sum", {"instance": "m1", "job": "etcd"}, 1200, slope=9
    )
    for node, free, slope in (("m1", 5e10, -1e6), ("m2", 8e10, -2e5)):
        labels = {"instance": node, "mountpoint": "/"}
        s.set("node_filesystem_avail_bytes", labels, 0, value=free, slope=slope)
        s.set("node_filesystem_size_bytes", labels, 0, value=1e11)
    s.set("weird", {"path": "C:\\temp"}, 0, value=1)
    s.set("weird", {"path": 'a"b'}, 0, value=2)
    s.set("weird", {"path": "m\u0663"}, 0, value=3)  # an Arabic-Indic digit: not RE2's \d
    for kind, value in (("nan", math.nan), ("inf", math.inf), ("ninf", -math.inf), ("zero", 0)):
        s.set("nan_gauge", {"kind": kind}, 0, value=value)
    s.set("late_gauge", {"instance": "m1"}, 3000, value=5, slope=0.1)
    return s


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def openmetrics(store: SeriesStore) -> str:
    """The store's samples up to ``END`` as an OpenMetrics text, one family per metric name."""
    lines: list[str] = []
    for name in store.names():
        lines.append(f"# TYPE {name} gauge")
        for series in store.select(name):
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(series.labels.items()))
            for t, value in series.samples(END):
                assert t == int(t), "differential samples sit on whole seconds"
                lines.append(f"{name}{{{labels}}} {_number(value)} {BASE + int(t)}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def queries() -> list[str]:
    lines = QUERIES.read_text().splitlines()
    return [q.strip() for q in lines if q.strip() and not q.lstrip().startswith("#")]


# Random queries over the same data, from a fixed seed: the combinations nobody lists. They
# found the topk/bottomk heap order, the empty-side binary operation and stddev's start.
_NAMES = [
    "up", "etcd_server_has_leader", "etcd_server_proposals_pending", "dlq_depth",
    "dlq_messages_total", "http_requests_total", "node_filesystem_avail_bytes", "nan_gauge",
    "late_gauge", "http_request_duration_seconds_bucket",
]  # fmt: skip
_LABELS = {
    "instance": ["m1", "m2", "m3"], "code": ["200", "500"], "queue": ["orders", "bills"],
    "job": ["etcd"], "kind": ["nan", "inf", "zero"],
}  # fmt: skip
_RANGE_FUNCTIONS = [
    "rate", "increase", "delta", "irate", "idelta", "deriv", "changes", "resets",
    "avg_over_time", "max_over_time", "min_over_time", "sum_over_time", "count_over_time",
    "stddev_over_time", "last_over_time", "present_over_time",
]  # fmt: skip
_OPS = ["+", "-", "*", "/", "%", "^", "==", "!=", ">", "<", ">=", "<=", "and", "or", "unless"]
_COMPARISONS = {"==", "!=", ">", "<", ">=", "<="}


def _selector(r: random.Random) -> str:
    matchers = []
    for _ in range(r.randint(0, 2)):
        label = r.choice(list(_LABELS))
        op = r.choice(["=", "!=", "=~", "!~"])
        value = r.choice(_LABELS[label])
        if op in ("=~", "!~"):
            value = r.choice([value, value[:1] + ".*", value + "|x", ".+"])
        matchers.append(f'{label}{op}"{value}"')
    text = r.choice(_NAMES) + ("{" + ",".join(matchers) + "}" if matchers else "")
    return text + (f" offset {r.choice(['1m', '5m', '10m'])}" if r.random() < 0.1 else "")


def _scalar(r: random.Random, depth: int) -> str:
    pick = r.random()
    if pick < 0.5:
        return r.choice(["0", "1", "2", "0.5", "100", "3600", "-1"])
    return "time()" if pick < 0.7 else f"scalar({_vector(r, depth + 1)})"


def _operator(r: random.Random) -> tuple[str, str]:
    op = r.choice(_OPS)
    return op, " bool" if op in _COMPARISONS and r.random() < 0.5 else ""


def _vector(r: random.Random, depth: int = 0) -> str:
    pick = r.random() if depth < 3 else r.random() * 0.3
    inner = depth + 1
    if pick < 0.3:
        return _selector(r)
    if pick < 0.45:
        fn = r.choice(_RANGE_FUNCTIONS)
        if r.random() < 0.2 and depth < 2:
            step = r.choice(["1m", "30s", ""])
            return f"{fn}(({_vector(r, inner)})[{r.choice(['5m', '10m'])}:{step}])"
        return f"{fn}({_selector(r)}[{r.choice(['1m', '5m', '10m', '30m', '1h', '90s', '15s'])}])"
    if pick < 0.55:
        fn = r.choice(["abs", "ceil", "floor", "sqrt", "exp", "ln", "sgn", "-"])
        return f"-{_vector(r, inner)}" if fn == "-" else f"{fn}({_vector(r, inner)})"
    if pick < 0.7:
        by = r.choice(["", " by (instance)", " without (instance)", " by (code)", " by (job)"])
        agg = r.choice(["sum", "avg", "min", "max", "count", "stddev", "group"])
        return f"{agg}{by} ({_vector(r, inner)})"
    if pick < 0.8:
        op, flag = _operator(r)
        if op in ("and", "or", "unless"):
            return f"({_vector(r, inner)}) {op} ({_vector(r, inner)})"
        if r.random() < 0.5:
            return f"({_vector(r, inner)}) {op}{flag} {_scalar(r, inner)}"
        return f"{_scalar(r, inner)} {op}{flag} ({_vector(r, inner)})"
    if pick < 0.9:
        op, flag = _operator(r)
        if op in ("and", "or", "unless"):
            flag, match = "", r.choice(["", " on(instance)", " ignoring(code)"])
        else:
            match = r.choice(
                ["", " on(instance)", " ignoring(code)", " on(instance) group_left",
                 " ignoring(job) group_right"]
            )  # fmt: skip
        return f"({_vector(r, inner)}) {op}{flag}{match} ({_vector(r, inner)})"
    if pick < 0.95:
        return f"{r.choice(['topk', 'bottomk'])}({r.choice([1, 2, 3])}, {_vector(r, inner)})"
    return (
        f"histogram_quantile({r.choice(['0.5', '0.9'])}, "
        "sum by (le) (rate(http_request_duration_seconds_bucket[5m])))"
    )


def generated_queries(seed: int = 20261204, count: int = 150) -> list[str]:
    """``count`` random queries over the differential data, the same for the same seed."""
    r = random.Random(seed)
    return [_vector(r) for _ in range(count)]


def bundled_queries() -> set[str]:
    """Every query the bundled runbooks, checks, scenario panels and ``when:``s hold (runbook
    variables filled with the differential data's values)."""
    found: set[str] = set()
    for runbook in load_library([DATA / "runbooks"]).runbooks:
        for block in runbook.blocks():
            if block.lang == "promql" and not block.options.use:
                names = {use.name for use in variables_in(block.body) if use.valid}
                found.add(render_promql(block.body, dict.fromkeys(names, "orders")).strip())
    catalog, _ = load_catalog([DATA / "checks"])
    for check in catalog.checks.values():
        if check.lang == "promql":
            names = {use.name for use in variables_in(check.body) if use.valid}
            found.add(render_promql(check.body, dict.fromkeys(names, "orders")).strip())
    for path in sorted((DATA / "scenarios").glob("*.yaml")):
        scenario = load_scenario(path)
        for panel in scenario.panels:
            found |= {q for q in (getattr(panel, k, None) for k in ("query", "leader_query")) if q}
        found |= {r.when for r in scenario.responses if r.when}
    return {" ".join(q.split()) for q in found}  # one line each, as the list holds them


def test_the_query_list_holds_every_bundled_query() -> None:
    bundled = bundled_queries()
    assert len(bundled) >= 6
    assert sorted(bundled - set(queries())) == []


def _same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b)) or abs(a - b) < 1e-12


def _prometheus_result(client: httpx.Client, query: str, at: int) -> object:
    body = client.get("/api/v1/query", params={"query": query, "time": str(at)}).json()
    if body["status"] != "success":
        return ("error", body.get("error", ""))
    data = body["data"]
    if data["resultType"] == "vector":
        return sorted(
            (tuple(sorted(r["metric"].items())), float(r["value"][1])) for r in data["result"]
        )
    if data["resultType"] == "scalar":
        return [((), float(data["result"][1]))]
    return (data["resultType"], data["result"])


def _simulator_result(store: SeriesStore, query: str, t: int) -> object:
    try:
        samples = evaluate(query, store, t, horizon=END, origin=BASE)
    except PromQLError as exc:
        return ("error", str(exc))
    return sorted((tuple(sorted(labels.items())), value) for labels, value in samples)


def _differences(expected: object, got: object) -> str | None:
    if isinstance(expected, tuple) or isinstance(got, tuple):
        both_refuse = (
            isinstance(expected, tuple)
            and isinstance(got, tuple)
            and expected[0] == got[0] == "error"
        )
        return None if both_refuse else f"prometheus {expected!r}, simulator {got!r}"
    assert isinstance(expected, list) and isinstance(got, list)
    if [labels for labels, _ in expected] != [labels for labels, _ in got]:
        return f"label sets differ: prometheus {expected!r}, simulator {got!r}"
    for (labels, a), (_, b) in zip(expected, got, strict=True):
        if not _same(a, b):
            return f"{dict(labels)}: prometheus {a!r}, simulator {b!r}"
    return None


@pytest.mark.prometheus
def test_simulator_agrees_with_real_prometheus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prometheus = binary("prometheus", "prometheus")
    promtool = binary("promtool", "prometheus")
    store = differential_store()
    source = tmp_path / "samples.om"
    source.write_text(openmetrics(store))
    data = tmp_path / "data"
    backfill = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert backfill.returncode == 0, backfill.stdout + backfill.stderr
    config = tmp_path / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1m\n")
    port = free_port()
    server = Server(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=100y",
        ],
        f"http://127.0.0.1:{port}",
        tmp_path / "prometheus.log",
    )
    server.start()
    try:
        listed = queries()
        assert len(listed) >= 100
        asked = listed + generated_queries()
        mismatches: list[str] = []
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for query in asked:
                for t in INSTANTS:
                    expected = _prometheus_result(client, query, BASE + t)
                    got = _simulator_result(store, query, t)
                    problem = _differences(expected, got)
                    if problem is not None:
                        mismatches.append(f"{query} @ {t}s: {problem}")
    finally:
        server.stop()
    assert not mismatches, f"{len(mismatches)} mismatches:\n" + "\n".join(mismatches)
    with capsys.disabled():  # the figure shows in tests/run's output, not only with -s
        print(
            f"\n{len(asked)} queries × {len(INSTANTS)} instants, all equal "  # noqa: RUF001
            f"({len(listed)} listed in {QUERIES.name}, {len(asked) - len(listed)} generated)"
        )
