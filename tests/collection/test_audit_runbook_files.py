"""The files the audit runbook (playbooks/audit.yml) writes on the control node, rendered by ansible-playbook
from its own templates: the metrics parse with prometheus-client's parser (every kind, 0 included), and the
Markdown report has the counts per kind, then each finding.

The runbook's run against a real Mr Chase is the integration target audit_runbook; these tests pin what the
templates make of a result, quickly and for every shape (findings repaired or not, none at all).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "ansible_collections/piwheels/ops/playbooks/templates"
PLAYBOOK = ROOT / "ansible_collections/piwheels/ops/playbooks/audit.yml"
KINDS = ("orphan_wheel", "missing_wheel", "hash_mismatch", "stale_page", "missing_page", "orphan_directory",
         "broken_alias", "missing_alias", "stale_root_index", "stale_project_page", "foreign_file", "leftover_staging",
         "orphan_archived_wheel", "missing_archived_wheel")


def finding(kind, package, path, detail, repaired):
    return {"kind": kind, "package": package, "path": path, "detail": detail, "repaired": repaired}


FINDINGS = [
    finding("orphan_wheel", "gamma", "simple/gamma/gamma-9.9-py3-none-any.whl", "no files row", True),
    finding("orphan_wheel", "delta", "simple/delta/delta-1.0-py3-none-any.whl", "no files row", True),
    finding("stale_project_page", "gamma", "project/gamma/index.html", "lists 9.9; not refreshed: no master_queue",
            False),
    finding("foreign_file", "gamma", "simple/gamma/notes`1`.txt", "not a wheel\nor a page", False),
    finding("stale_root_index", None, "simple/index.html", "lacks delta", True),
]


def result_of(findings, repair, check=False):
    """A piw_audit result as the module returns it (and as registered, with its invocation)."""
    return {
        "changed": any(f["repaired"] for f in findings),
        "findings": findings,
        "counts": {kind: sum(1 for f in findings if f["kind"] == kind) for kind in KINDS},
        "scanned": {"packages": 4, "files": 17, "bytes_hashed": 0},
        "job": {"id": "job-3", "state": "done", "started": "2026-01-02T03:04:05Z", "finished": "2026-01-02T03:04:09Z",
                "joined": False, "duration": 4.25, "finished_epoch": 1767323049.0,
                "options": {"packages": None, "repair": [] if check else repair, "verify_hashes": False,
                            "min_age": 3600}},
        "repair": repair,
        "would_repair": sum(1 for f in findings if f["kind"] in repair),
        "repaired": 0 if check else sum(1 for f in findings if f["repaired"]),
        "msg": "audited",
    }


def render(tmp_path, template, result, **extra):
    """Render one of the runbook's templates with ansible-playbook's template module, as the runbook does."""
    variables = {"result": result, "repaired_run": True, "check": False, **extra}
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    dest = tmp_path / template.replace(".j2", "")
    play = [{"hosts": "localhost", "gather_facts": False, "connection": "local", "tasks": [
        {"ansible.builtin.template": {"src": str(TEMPLATES / template), "dest": str(dest), "mode": "0644"}}]}]
    (tmp_path / "play.json").write_text(json.dumps(play))
    run = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "-i", "localhost,", str(tmp_path / "play.json"),
         "-e", f"@{tmp_path / 'vars.json'}", "-e", f"ansible_python_interpreter={sys.executable}"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    return dest.read_text(encoding="utf-8")


def samples(text):
    """{(name, kind label or None): value} of every sample, through prometheus-client's own parser."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, sample.labels.get("kind"))] = sample.value
    return found


def test_metrics_parse_with_every_kind_and_the_times(tmp_path):
    text = render(tmp_path, "audit_metrics.prom.j2", result_of(FINDINGS, ["orphan_wheel", "stale_project_page",
                                                                          "stale_root_index"]))
    assert text.endswith("\n")
    parsed = samples(text)
    assert {kind for name, kind in parsed if name == "piwheels_audit_findings"} == set(KINDS)
    assert parsed[("piwheels_audit_findings", "orphan_wheel")] == 2
    assert parsed[("piwheels_audit_findings", "missing_wheel")] == 0
    assert parsed[("piwheels_audit_findings", "foreign_file")] == 1
    assert parsed[("piwheels_audit_repaired_findings", "orphan_wheel")] == 2
    assert parsed[("piwheels_audit_repaired_findings", "stale_project_page")] == 0
    assert {kind for name, kind in parsed if name == "piwheels_audit_repaired_findings"} == set(KINDS)
    assert parsed[("piwheels_audit_last_run_timestamp_seconds", None)] == 1767323049.0
    assert parsed[("piwheels_audit_duration_seconds", None)] == 4.25
    families = {family.name: family.type for family in text_string_to_metric_families(text)}
    assert families == dict.fromkeys(("piwheels_audit_findings", "piwheels_audit_repaired_findings",
                                      "piwheels_audit_archive_hosts_unlisted",
                                      "piwheels_audit_last_run_timestamp_seconds", "piwheels_audit_duration_seconds"),
                                     "gauge")
    assert parsed[("piwheels_audit_archive_hosts_unlisted", None)] == 0  # an inventory without archive hosts


def test_metrics_of_a_clean_site_are_all_zero(tmp_path):
    parsed = samples(render(tmp_path, "audit_metrics.prom.j2", result_of([], [])))
    assert [parsed[("piwheels_audit_findings", kind)] for kind in KINDS] == [0] * len(KINDS)


def test_markdown_has_counts_per_kind_then_each_finding(tmp_path):
    text = render(tmp_path, "audit_report.md.j2", result_of(FINDINGS, ["orphan_wheel", "stale_project_page",
                                                                      "stale_root_index"]))
    lines = text.splitlines()
    assert lines[0] == "# piwheels site audit of localhost"
    assert "Audited 4 package(s) and 17 wheel file(s): 5 finding(s)." in text
    assert "Repaired 3 of the 4 finding(s) of the kinds asked for." in text
    table = [line for line in lines if line.startswith("| `")]
    assert [line.split("`")[1] for line in table] == list(KINDS)
    assert "| `orphan_wheel` | 2 | 2 |" in lines
    assert "| `foreign_file` | 1 | 0 |" in lines
    assert "| **total** | 5 | 3 |" in lines
    items = lines[lines.index("## Findings") + 2:]
    assert items[0] == "- `orphan_wheel` `simple/gamma/gamma-9.9-py3-none-any.whl` (gamma): no files row **repaired**"
    assert items[2] == ("- `stale_project_page` `project/gamma/index.html` (gamma): lists 9.9; not refreshed: "
                        "no master_queue")
    assert items[3] == "- `foreign_file` `` simple/gamma/notes`1`.txt `` (gamma): not a wheel or a page"
    assert items[4] == "- `stale_root_index` `simple/index.html`: lacks delta **repaired**"
    assert len([line for line in items if line.startswith("- ")]) == 5


def test_markdown_in_check_mode_says_nothing_was_repaired(tmp_path):
    result = result_of([dict(f, repaired=False) for f in FINDINGS], ["orphan_wheel"], check=True)
    text = render(tmp_path, "audit_report.md.j2", result, repaired_run=False, check=True)
    assert "Check mode: nothing was repaired; a real run would repair 2 finding(s)." in text
    assert "| **total** | 5 | 0 |" in text


def test_markdown_of_a_clean_site(tmp_path):
    text = render(tmp_path, "audit_report.md.j2", result_of([], []), repaired_run=False)
    assert "None: the database, the wheels and the pages agree." in text
    assert "repair: none (report only)" in text


def test_the_shown_report_and_the_summary_say_what_was_and_would_be_repaired(tmp_path):
    repair = ["orphan_wheel", "stale_project_page", "stale_root_index"]
    report = result_of([dict(f, repaired=False) for f in FINDINGS], repair, check=True)
    shown = render(tmp_path, "audit_report.j2", report)
    assert "  orphan_wheel: 2 (to repair)\n" in shown
    assert "  foreign_file: 1\n" in shown
    assert "Would repair 4 finding(s) (orphan_wheel, stale_project_page, stale_root_index)" in shown
    assert "Packages: every package; hashes verified: no; min_age: 3600 s" in render(
        tmp_path, "audit_report.md.j2", report, repaired_run=False, check=True)
    summary = render(tmp_path, "audit_summary.j2", result_of(FINDINGS, repair), report=report,
                     files=["/r/audit.json", "/r/audit.md"])
    assert "Repaired 3 of 4 finding(s) on localhost: orphan_wheel 2 stale_root_index 1.\n" in summary
    assert ("  not repaired: stale_project_page project/gamma/index.html: lists 9.9; not refreshed: no master_queue"
            in summary)
    assert "2 finding(s) remain (of kinds this run does not repair: foreign_file)." in summary
    assert summary.rstrip().endswith("Report: /r/audit.json, /r/audit.md")
    checked = render(tmp_path, "audit_summary.j2", report, report=report, files=[], repaired_run=False, check=True)
    assert ("Check mode: nothing was repaired. A real run would repair 4 finding(s) (orphan_wheel, stale_project_page, "
            "stale_root_index).") in checked


ARCHIVE1 = "https://archive1.piwheels.example/simple"
UNREACHABLE = "Failed to connect to the host via ssh"
ARCHIVES = {"listed": [{"host": "archive1", "location": ARCHIVE1, "count": 1200}],
            "unlisted": [{"host": "archive2", "location": ARCHIVE1, "problem": UNREACHABLE}]}
ARCHIVE_FINDINGS = [finding("orphan_archived_wheel", "gamma", f"{ARCHIVE1}/gamma/gamma-0.9-py3-none-any.whl",
                            f"{ARCHIVE1}'s archive host serves it; the database has no files row for it", False)]


def test_an_archive_host_not_listed_is_counted_in_the_metrics(tmp_path):
    parsed = samples(render(tmp_path, "audit_metrics.prom.j2", result_of(ARCHIVE_FINDINGS, []), archives=ARCHIVES))
    assert parsed[("piwheels_audit_archive_hosts_unlisted", None)] == 1
    assert parsed[("piwheels_audit_findings", "orphan_archived_wheel")] == 1


def test_the_reports_name_the_archive_hosts_listed_and_those_not_audited(tmp_path):
    report = result_of(ARCHIVE_FINDINGS, ["orphan_archived_wheel"], check=True)
    text = render(tmp_path, "audit_report.md.j2", report, archives=ARCHIVES, repaired_run=False, check=True)
    assert f"| archive1 | `{ARCHIVE1}` | 1200 file(s) |" in text.splitlines()
    assert (f"| archive2 | `{ARCHIVE1}` | **not audited**: Failed to connect to the host via ssh |"
            in text.splitlines())
    assert f"- `orphan_archived_wheel` `{ARCHIVE1}/gamma/gamma-0.9-py3-none-any.whl` (gamma): " in text
    shown = render(tmp_path, "audit_report.j2", report, archives=ARCHIVES)
    assert f"Archive host archive1 ({ARCHIVE1}): 1200 file(s) listed and audited\n" in shown
    assert (f"Archive host archive2 ({ARCHIVE1}): NOT AUDITED, it could not be listed: Failed to connect to the "
            "host via ssh\n") in shown
    summary = render(tmp_path, "audit_summary.j2", report, report=report, files=[], repaired_run=False, check=True,
                     archives=ARCHIVES)
    assert (f"NOT AUDITED: archive host archive2 ({ARCHIVE1}) could not be listed: Failed to connect to the host "
            "via ssh\n") in summary


def test_the_markdown_without_archive_hosts_has_no_archive_section(tmp_path):
    assert "## Archive hosts" not in render(tmp_path, "audit_report.md.j2", result_of([], []), repaired_run=False)


def run_runbook(tmp_path, inventory: str, *extra: str) -> subprocess.CompletedProcess:
    """piwheels.ops.audit from this checkout against ``inventory``; the cases below stop before Mr Chase is asked."""
    (tmp_path / "inventory.yml").write_text(inventory)
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT), "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(tmp_path / "inventory.yml"),
         "piwheels.ops.audit", "-e", f"ansible_python_interpreter={sys.executable}", *extra],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)


MASTER = "piwheels_master:\n  hosts:\n    master:\n      ansible_connection: local\n"


def archive_host(location: str, root: str = "/srv/archive") -> str:
    return (f"piwheels_archive:\n  hosts:\n    archive1:\n      ansible_connection: local\n"
            f"      piw_archive_location: {location}\n      piw_archive_root: {root}\n")


def test_a_relative_listing_dir_is_refused_before_anything_runs(tmp_path):
    run = run_runbook(tmp_path, MASTER, "-e", "listing_dir=relative/dir")
    assert run.returncode != 0
    assert "-e listing_dir= an absolute directory on the master" in run.stdout


def test_archive_hosts_with_mr_chase_on_tcp_need_a_listing_dir(tmp_path):
    inventory = MASTER + "      mr_chase_import_queue: tcp://127.0.0.1:5599\n" + archive_host(ARCHIVE1)
    run = run_runbook(tmp_path, inventory)
    assert run.returncode != 0
    assert ("Mr Chase listens at tcp://127.0.0.1:5599, so the runbook has no directory of Mr Chase's on the master to "
            "put the archive hosts' listings in: give -e listing_dir=") in " ".join(run.stdout.split())


def test_an_archive_host_without_a_url_location_is_named_before_it_is_listed(tmp_path):
    run = run_runbook(tmp_path, MASTER + archive_host("archive1.example"), "-e", f"listing_dir={tmp_path}")
    assert run.returncode != 0
    assert "archive1 (group piwheels_archive): set piw_archive_location to the files.location" in " ".join(
        run.stdout.split())
    assert "List the archive tree" not in run.stdout
