"""The operator kit, checked offline: the alert rules load and pass their promtool unit
tests, every alert has a runbook section, and every dashboard query is valid PromQL."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")
# The situations issue 16 asks the rules to cover.
REQUIRED_ALERTS = {
    "StockroomErrorBudgetBurnFast",
    "StockroomErrorBudgetBurnSlow",
    "StockroomCircuitBreakerOpen",
    "StockroomLoadShedding",
    "StockroomReservationBacklog",
    "StockroomDatabaseUnavailable",
    "StockroomLedgerVerificationMismatch",
}


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    # .ci/run installs promtool (Debian's prometheus package); locally: apt-get install prometheus.
    assert PROMTOOL, "promtool is not installed: apt-get install prometheus"
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, check=False)


def alerts() -> list[dict[str, object]]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_the_alert_rules_load_and_pass_their_unit_tests() -> None:
    checked = promtool("check", "rules", PROMETHEUS / "alerts.yml")
    tested = promtool("test", "rules", PROMETHEUS / "alerts_test.yml")

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout + tested.stderr


def test_every_required_situation_has_an_alert_and_every_alert_is_unit_tested() -> None:
    names = {str(rule["alert"]) for rule in alerts()}
    tested = set(re.findall(r"alertname: (\w+)", (PROMETHEUS / "alerts_test.yml").read_text()))

    assert names >= REQUIRED_ALERTS
    assert names <= tested


def test_every_alert_links_to_its_runbook_section() -> None:
    runbooks = (ROOT / "docs" / "runbooks.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", runbooks, re.M)
    }
    for rule in alerts():
        annotations = rule["annotations"]
        assert isinstance(annotations, dict)
        path, _, anchor = annotations["runbook_url"].partition("#")
        assert path == "docs/runbooks.md"
        assert anchor in anchors, rule["alert"]
    for section in ("Meaning", "First checks", "Fix"):
        assert runbooks.count(f"**{section}**") >= len(REQUIRED_ALERTS)


def test_the_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses each panel's query as a recording rule (it has no offline query check)."""
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "stockroom.json").read_text())
    queries = [
        target["expr"].replace("$__rate_interval", "5m")
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query{i}", "expr": q} for i, q in enumerate(queries)
                ],
            }
        ]
    }
    (tmp_path / "dashboard.yml").write_text(yaml.safe_dump(rules))
    recorded = set(re.findall(r"record: (\S+)", (PROMETHEUS / "alerts.yml").read_text()))
    used_records = {m for q in queries for m in re.findall(r"stockroom:[a-z_:0-9]+", q)}

    checked = promtool("check", "rules", tmp_path / "dashboard.yml")

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert len(queries) >= 10
    assert used_records <= recorded
    assert dashboard["uid"] == "stockroom-overview"
