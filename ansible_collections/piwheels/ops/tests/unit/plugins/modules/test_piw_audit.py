# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""piw_audit against a fake Mr Chase that runs audit jobs: following a job past the timeout, paging, joining,
refusals, a failed job, check mode, and options refused before anything is sent."""

from __future__ import annotations

import json
import threading
import time

import pytest

from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase import site_audit
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.codec import FINDING_KINDS, REPAIRED_BY_ALL
from ansible_collections.piwheels.ops.plugins.modules import piw_audit
from ansible_collections.piwheels.ops.tests.unit.plugins.conftest import site_status

STARTED = "2026-01-02T03:04:05Z"
FINISHED = "2026-01-02T03:04:09Z"
PAGE = 500


def finding(kind, package, path, detail="found"):
    return {"kind": kind, "package": package, "path": path, "detail": detail, "repaired": False}


class FakeAuditor:
    """Mr Chase's AUDIT and JOB, from memory: ``damage`` is what the site's audit finds, the job ends after
    ``polls`` JOB requests (or when ``until`` is set), and a repair fixes what ``fixable`` allows."""

    def __init__(self):
        self.damage = [
            finding("orphan_wheel", "gamma", "simple/gamma/gamma-9.9-py3-none-any.whl", "no files row"),
            finding("stale_page", "gamma", "simple/gamma/index.html", "links a file too many"),
            finding("foreign_file", "gamma", "simple/gamma/notes.txt", "not a wheel or a page"),
        ]
        self.polls = 0
        self.until = None
        self.fixable = lambda found: True
        self.refusal = None
        self.failure = None
        self.job = None
        self.jobs = 0
        self.site_refresh = True

    def __call__(self, frame):
        request = json.loads(frame.decode("utf-8"))
        handler = {"AUDIT": self.do_AUDIT, "JOB": self.do_JOB, "STATUS": self.do_STATUS}[request[0]]
        return json.dumps(handler(*request[1:])).encode("utf-8")

    def do_STATUS(self, package, version):
        assert package is None and version is None, "only the whole site's STATUS"
        return site_status(self.site_refresh)

    def do_AUDIT(self, options):
        if self.refusal:
            return ["ERROR", self.refusal]
        if self.job and self.job["state"] not in ("done", "failed") and self.job["options"] == options:
            return ["AUDIT", self.page(dict(self.job, joined=True), 0)]
        self.jobs += 1
        repaired = [dict(f, repaired=f["kind"] in options["repair"] and self.fixable(f)) for f in self.damage]
        self.job = {"id": f"job-{self.jobs}", "state": "scanning", "joined": False, "options": options,
                    "started": STARTED, "finished": None, "asked": 0, "results": repaired}
        return ["AUDIT", self.page(self.job, 0)]

    def do_JOB(self, job_id, offset):
        if self.job is None or job_id != self.job["id"]:
            return ["ERROR", f"unknown audit job {job_id} (jobs are kept until the next audit starts or Mr Chase "
                    "restarts)"]
        self.job["asked"] += 1
        ended = self.until.is_set() if self.until is not None else self.job["asked"] > self.polls
        if ended and self.job["state"] == "scanning":
            self.job.update(state="failed" if self.failure else "done", finished=FINISHED)
            if not self.failure:
                self.damage = [f for f in self.job["results"] if not f["repaired"]]
        return ["JOB", self.page(self.job, offset)]

    def page(self, job, offset):
        """The job object on the wire: findings only once the job has ended (as they are final), from offset."""
        ended = job["state"] in ("done", "failed")
        ready = job["results"] if ended else []
        findings = ready[offset:offset + PAGE]
        following = offset + len(findings)
        return {
            "id": job["id"], "state": job["state"], "joined": job["joined"], "options": job["options"],
            "started": job["started"], "finished": job["finished"],
            "progress": {"packages_done": 3 if ended else 1, "packages_total": 3},
            "scanned": {"packages": 3, "files": 12, "bytes_hashed": 0},
            "counts": {kind: sum(1 for f in ready if f["kind"] == kind) for kind in FINDING_KINDS},
            "findings": findings,
            "next": None if ended and following >= len(ready) else following,
            "error": self.failure if job["state"] == "failed" else None,
        }


@pytest.fixture
def auditor(peer):
    fake = FakeAuditor()
    fake.peer = peer(fake)
    return fake


@pytest.fixture
def audit(runner, auditor, monkeypatch):
    """Run piw_audit against the fake, polling without the real waits unless a test wants them."""
    monkeypatch.setattr(site_audit, "FIRST_POLL", 0.001)
    monkeypatch.setattr(site_audit, "LONGEST_POLL", 0.01)
    return runner(piw_audit, auditor.peer, timeout=5, min_age=0)


def test_report_only_finds_everything_and_changes_nothing(audit, auditor):
    result = audit()
    assert result["changed"] is False
    assert [f["kind"] for f in result["findings"]] == ["orphan_wheel", "stale_page", "foreign_file"]
    assert not any(f["repaired"] for f in result["findings"])
    found = ("orphan_wheel", "stale_page", "foreign_file")
    assert result["counts"] == {kind: int(kind in found) for kind in FINDING_KINDS}
    assert result["scanned"] == {"packages": 3, "files": 12, "bytes_hashed": 0}
    assert result["would_repair"] == 0 and result["repaired"] == 0
    assert result["job"] == {"id": "job-1", "state": "done", "started": STARTED, "finished": FINISHED,
                             "options": {"packages": None, "repair": [], "verify_hashes": False, "min_age": 0,
                                         "archives": []},
                             "joined": False, "duration": 4.0, "finished_epoch": 1767323049.0}
    assert result["msg"] == ("audited 3 package(s), 12 wheel file(s): 3 finding(s) (orphan_wheel 1, stale_page 1, "
                             "foreign_file 1)")
    assert auditor.peer.sent("AUDIT") == [
        ["AUDIT", {"packages": None, "repair": [], "verify_hashes": False, "min_age": 0, "archives": []}]]


def test_a_job_that_outlives_the_timeout_succeeds(audit, auditor, monkeypatch):
    """timeout bounds each round trip: the job runs four times as long as it, and the task follows it."""
    monkeypatch.setattr(site_audit, "LONGEST_POLL", 0.05)
    auditor.until = threading.Event()
    threading.Timer(1.2, auditor.until.set).start()
    begun = time.monotonic()
    result = audit(timeout=0.3)
    assert time.monotonic() - begun >= 1.2
    assert "failed" not in result, result
    assert len(result["findings"]) == 3
    assert len(auditor.peer.sent("JOB")) > 3


def test_findings_are_read_page_by_page(audit, auditor):
    auditor.damage = [finding("orphan_wheel", f"p{n:04d}", f"simple/p{n:04d}/p-1.0-py3-none-any.whl")
                      for n in range(1234)]
    result = audit()
    assert [f["package"] for f in result["findings"]] == [f"p{n:04d}" for n in range(1234)]
    offsets = [request[2] for request in auditor.peer.sent("JOB")]
    assert offsets[-3:] == [0, 500, 1000]
    assert result["counts"]["orphan_wheel"] == 1234


def test_repair_all_repairs_every_kind_but_foreign_file(audit, auditor):
    result = audit(repair=["all"])
    assert auditor.peer.sent("AUDIT")[0][1]["repair"] == list(REPAIRED_BY_ALL)
    assert result["changed"] is True
    assert result["repair"] == list(REPAIRED_BY_ALL)
    assert {f["kind"]: f["repaired"] for f in result["findings"]} == {
        "orphan_wheel": True, "stale_page": True, "foreign_file": False}
    assert result["would_repair"] == 2 and result["repaired"] == 2
    assert "warnings" not in result
    assert result["msg"].endswith(", 2 repaired")


def test_a_second_run_with_the_same_repair_is_ok(audit, auditor):
    assert audit(repair=["all"])["changed"] is True
    again = audit(repair=["all"])
    assert again["changed"] is False
    assert [f["kind"] for f in again["findings"]] == ["foreign_file"]
    assert again["would_repair"] == 0


def test_foreign_file_is_repaired_only_when_named(audit, auditor):
    result = audit(repair=["all", "foreign_file"])
    assert auditor.peer.sent("AUDIT")[0][1]["repair"] == list(FINDING_KINDS)
    assert all(f["repaired"] for f in result["findings"])


def test_check_mode_sends_no_repair_and_predicts_the_real_run(audit, auditor):
    predicted = audit(repair=["orphan_wheel"], check_mode=True)
    assert auditor.peer.sent("AUDIT")[-1][1]["repair"] == []
    assert predicted["changed"] is True
    assert predicted["would_repair"] == 1 and predicted["repaired"] == 0
    assert not any(f["repaired"] for f in predicted["findings"])
    assert predicted["msg"].endswith("; a real run would repair 1")
    assert len(auditor.damage) == 3
    done = audit(repair=["orphan_wheel"])
    assert done["changed"] is True and done["repaired"] == predicted["would_repair"]
    assert audit(repair=["orphan_wheel"], check_mode=True)["changed"] is False


def test_check_mode_with_nothing_to_repair_is_ok(audit):
    assert audit(repair=["missing_wheel"], check_mode=True)["changed"] is False


def test_a_finding_that_was_not_repaired_is_warned_about(audit, auditor):
    detail = "no longer found when repaired: left alone"

    def only_pages(found):
        if found["kind"] == "orphan_wheel":
            found["detail"] = detail
            return False
        return True

    auditor.fixable = only_pages
    result = audit(repair=["orphan_wheel", "stale_page"])
    assert result["changed"] is True
    assert result["repaired"] == 1 and result["would_repair"] == 2
    assert result["warnings"] == [
        f"orphan_wheel simple/gamma/gamma-9.9-py3-none-any.whl not repaired: {detail}"]


def test_many_unrepaired_findings_give_a_bounded_number_of_warnings(audit, auditor):
    auditor.damage = [finding("stale_project_page", f"p{n}", f"project/p{n}/index.html") for n in range(30)]
    auditor.fixable = lambda found: False
    result = audit(repair=["stale_project_page"])
    assert result["changed"] is False
    assert len(result["warnings"]) == piw_audit.SHOWN_WARNINGS + 1
    assert result["warnings"][-1].startswith("10 more finding(s) of the kinds to repair were not repaired")


def test_project_pages_are_left_out_without_a_piw_master_to_refresh_them(audit, auditor):
    """Without mr_chase_master_queue only piw-master could repair stale_project_page: the task leaves the kind out
    (check mode predicts ok, the real run is ok) and warns, instead of reporting it unrepaired on every run."""
    auditor.damage = [finding("stale_project_page", "gamma", "project/gamma/index.html")]
    auditor.site_refresh = False
    predicted = audit(repair=["all"], check_mode=True)
    done = audit(repair=["all"])
    for result in (predicted, done):
        assert result["changed"] is False
        assert result["would_repair"] == 0
        assert "stale_project_page" not in result["repair"]
        assert result["warnings"] == ["1 stale_project_page finding(s) left as they are: only piw-master rewrites "
                                      "project pages, and Mr Chase has no piw-master to tell (set "
                                      "mr_chase_master_queue)"]
    assert auditor.peer.sent("AUDIT")[-1][1]["repair"] == [k for k in REPAIRED_BY_ALL if k != "stale_project_page"]
    assert auditor.peer.sent("STATUS") == [["STATUS", None, None]] * 2


def test_with_a_piw_master_project_pages_are_repaired(audit, auditor):
    auditor.damage = [finding("stale_project_page", "gamma", "project/gamma/index.html")]
    result = audit(repair=["stale_project_page"])
    assert result["changed"] is True and "warnings" not in result


def test_no_site_status_is_asked_when_project_pages_are_not_to_be_repaired(audit, auditor):
    audit(repair=["orphan_wheel"])
    assert auditor.peer.sent("STATUS") == []


def test_an_audit_running_with_the_same_options_is_joined(audit, auditor):
    auditor.polls = 10**6  # never ends by itself
    first = auditor.do_AUDIT({"packages": None, "repair": [], "verify_hashes": False, "min_age": 0, "archives": []})[1]
    auditor.polls = 0
    result = audit()
    assert result["job"]["id"] == first["id"]
    assert result["job"]["joined"] is True
    assert auditor.jobs == 1


def test_a_refused_audit_fails_with_mr_chases_message(audit, auditor):
    auditor.refusal = ("an audit is already running (job job-7, started 2026-01-02T03:04:05Z, options {...}): wait "
                       "for it, or run with the same options to join it")
    result = audit(repair=["all"])
    assert result["failed"] is True
    assert result["changed"] is False
    assert result["msg"] == auditor.refusal
    assert auditor.peer.sent("JOB") == []


def test_a_failed_job_fails_the_task_with_its_error(audit, auditor):
    auditor.failure = "database unavailable: connection lost"
    result = audit()
    assert result["failed"] is True
    assert result["msg"] == "the audit failed in Mr Chase (job job-1): database unavailable: connection lost"
    assert result["job"]["state"] == "failed"
    assert result["changed"] is False


def test_a_forgotten_job_fails_the_task(audit, auditor):
    auditor.polls = 10**6
    original = auditor.do_JOB
    auditor.do_JOB = lambda job_id, offset: original("job-0", offset)
    result = audit()
    assert result["failed"] is True
    assert result["msg"].startswith("unknown audit job job-0")


def test_a_job_that_stops_answering_fails_within_the_timeout(run_module, peer, monkeypatch):
    fake = FakeAuditor()
    fake.polls = 10**6
    silent = peer(lambda frame: None if frame.startswith(b'["JOB"') else fake(frame))
    monkeypatch.setattr(site_audit, "FIRST_POLL", 0.001)
    result = run_module(piw_audit, {"import_queue": silent.address, "timeout": 0.3})
    assert result["failed"] is True
    assert result["msg"] == f"Mr Chase did not answer within 0.3 s at {silent.address}"


def test_mr_chase_down_fails_cleanly(run_module, ipc_dir):
    result = run_module(piw_audit, {"import_queue": f"ipc://{ipc_dir}/nothing", "timeout": 1})
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"].startswith(f"no Mr Chase socket at {ipc_dir}/nothing")


@pytest.mark.parametrize("args, message", [
    ({"repair": ["orphan_wheels"]}, "repair: unknown finding kind(s) orphan_wheels; the kinds are orphan_wheel, "),
    ({"repair": ["all", "everything"]}, "repair: unknown finding kind(s) everything;"),
    ({"packages": []}, "packages is an empty list: leave it out to audit every package"),
    ({"packages": [f"p{n}" for n in range(1001)]}, "packages names 1001 packages, at most 1000 are allowed"),
    ({"packages": ["foo\nbar"]}, "packages: 'foo\\nbar': package contains a control character"),
    ({"packages": ["x" * 201]}, "packages: '" + "x" * 201 + "': package longer than 200 characters"),
    ({"min_age": -1}, "min_age must be 0 or more seconds, got -1"),
    ({"archives": [{"location": "https://a.example/simple", "listing": "a.txt"}]},
     "archives: {'location': 'https://a.example/simple', 'listing': 'a.txt'} needs a location and an absolute "),
    ({"archives": [{"location": "", "listing": "/a.txt"}]}, "archives: {'location': '', 'listing': '/a.txt'} needs"),
])
def test_bad_options_fail_before_anything_is_sent(audit, auditor, args, message):
    result = audit(**args)
    assert result["failed"] is True
    assert result["msg"].startswith(message)
    assert auditor.peer.requests == []


def test_packages_are_sent_once_each_in_the_order_given(audit, auditor):
    audit(packages=["gamma", "alpha", "gamma"], verify_hashes=True, min_age=60)
    assert auditor.peer.sent("AUDIT") == [
        ["AUDIT", {"packages": ["gamma", "alpha"], "repair": [], "verify_hashes": True, "min_age": 60, "archives": []}]]


def test_archives_are_sent_as_given(audit, auditor):
    archives = [{"location": "https://archive1.piwheels.example/simple/", "listing": "/var/lib/piwheels/a1.txt"}]
    audit(archives=archives)
    assert auditor.peer.sent("AUDIT")[0][1]["archives"] == archives


def test_a_page_that_skips_findings_is_a_protocol_error(audit, auditor):
    original = auditor.page

    def skipping(job, offset):
        page = original(job, offset)
        if page["next"] is not None and page["findings"]:
            page["next"] += 1
        return page

    auditor.page = skipping
    auditor.damage *= 200  # more than one page
    result = audit()
    assert result["failed"] is True
    assert "unexpected reply from Mr Chase" in result["msg"] and "but next is 501, not 500" in result["msg"]
