"""`make demo`: a private piwheels master on this machine, and a removal on it.

Everything lives under .demo/: a PostgreSQL (pgserver) with the sample
repository and upstream's grants, its wheel tree, a stand-in for piw-master's
import queue (which rewrites the project pages when told), and Mr Chase
deployed by the mr_chase role as a supervised process, connecting as its own
least-privilege database role.  The demo removes one version with the
maintainer-request runbook, lets pip show that the version is gone and the
others are not, shows that the project JSON no longer lists it, and runs the
runbook again to show that nothing changes.  Then it yanks a release (pip
still finds it pinned exactly; its links carry data-yanked) and deletes a
whole package (pip finds nothing; its directories, alias links and root index
entry are gone), each run twice to show the second run changes nothing.
Last it damages a package as upstream's plain piw-remove does (the rows go,
the wheel stays on disk and linked, so pip still finds it) and lets the
site audit runbook find the orphan wheel and repair it: pip no longer finds
it, the report is written as JSON, Markdown and Prometheus metrics, and a
second audit finds nothing.
Root is not needed.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import grp
import http.server
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / ".demo"
BIN = ROOT / ".venv" / "bin"
PACKAGE, REMOVED, KEPT = "beta-tools", "1.1", "1.2"
#: the release the demo yanks after the removal, and the package it then deletes with its aliases
YANKED, DELETED = "1.2", "beta-tools"
#: the wheel whose rows the demo deletes (as upstream's plain piw-remove does) for the audit to find
ORPHAN_PACKAGE, ORPHAN_VERSION = "gamma", "1.0"
ORPHAN = f"{ORPHAN_PACKAGE}-{ORPHAN_VERSION}-py3-none-any.whl"
#: every message the stand-in piw-master accepted, one JSON line each
MASTER_RECORD = DEMO / "run/master-messages.jsonl"


def step(text: str) -> None:
    print(f"\n\033[1m==> {text}\033[0m", flush=True)


def run(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    return subprocess.run(args, check=check, env=env, **kwargs)


def inventory(dsn: str, output_path: str, master_queue: str) -> Path:
    """An inventory for this machine: the role's variables, every path under .demo/."""
    master = {
        "ansible_connection": "local",
        "ansible_python_interpreter": str(BIN / "python"),
        "mr_chase_dsn": dsn,
        "mr_chase_output_path": output_path,
        "mr_chase_import_queue": f"ipc://{DEMO}/run/mr-chase/queue",
        "mr_chase_master_queue": master_queue,
        "mr_chase_user": getpass.getuser(),
        "mr_chase_group": grp.getgrgid(os.getgid()).gr_name,
        "mr_chase_manage_user": False,
        "mr_chase_service_manager": "process",
        "mr_chase_install_dir": str(DEMO / "mr-chase"),
        "mr_chase_config_path": str(DEMO / "etc/mr-chase.yaml"),
        "mr_chase_log_file": str(DEMO / "log/mr-chase.log"),
        "mr_chase_audit_log": str(DEMO / "log/mr-chase-audit.jsonl"),
        "mr_chase_pid_file": str(DEMO / "run/mr-chase.pid"),
    }
    path = DEMO / "inventory.json"
    path.write_text(json.dumps({"piwheels_master": {"hosts": {"localhost": master}}}, indent=2))
    return path


def serve_site(output_path: str) -> str:
    """Serve the output tree over HTTP on a free local port, as the site's web server does; return the index URL.

    Links on piwheels' pages are site-absolute (/simple/<package>/<file>), so pip must see them over HTTP."""
    handler = functools.partial(QuietHandler, directory=output_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/simple/"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        pass


def pip_finds(index: str, requirement: str) -> bool:
    """Ask pip, with no other index or configuration, whether ``requirement`` can be downloaded."""
    with tempfile.TemporaryDirectory() as dest:
        result = subprocess.run(
            [str(BIN / "pip"), "download", "--no-deps", "--no-cache-dir", "--disable-pip-version-check",
             "--index-url", index, "-d", dest, requirement],
            capture_output=True, text=True, env=dict(os.environ, PIP_CONFIG_FILE=os.devnull))
    print(f"    pip download {requirement}: {'found' if result.returncode == 0 else 'not found'}")
    return result.returncode == 0


def playbook(name: str, inventory_path: Path, *extra: str) -> str:
    """Run one of the collection's playbooks, show its output, return it."""
    result = run(str(BIN / "ansible-playbook"), "-i", str(inventory_path), f"piwheels.ops.{name}", *extra,
                 capture_output=True, text=True, check=False)
    print(result.stdout[-6000:])
    if result.returncode != 0:
        sys.exit(f"{name} failed:\n{result.stderr}")
    return result.stdout


def up() -> int:
    step("Starting a private PostgreSQL and loading the sample repository under .demo/")
    made = run(str(BIN / "python"), "-m", "piwheels_testbed", "up", "--state", str(DEMO / "testbed"),
               "--output", str(DEMO / "www"), capture_output=True, text=True, cwd=ROOT)
    testbed = json.loads(made.stdout)
    for package, versions in testbed["packages"].items():
        print(f"    {package}: {', '.join(versions)}")
    index = serve_site(testbed["output_path"])

    step("Starting a stand-in for piw-master's import queue (it rewrites the project pages when told)")
    master_queue = start_master(testbed["piwheels_dsn"], testbed["output_path"])
    path = inventory(testbed["dsn"], testbed["output_path"], master_queue)

    step("Deploying Mr Chase with the piwheels.ops.mr_chase role")
    playbook("deploy_mr_chase", path)

    step(f"Before: what pip finds for {PACKAGE}")
    found_before = pip_finds(index, f"{PACKAGE}=={REMOVED}")

    step(f"Removing {PACKAGE} {REMOVED} with the maintainer-request runbook")
    extra = ("-e", f"package={PACKAGE}", "-e", json.dumps({"versions": [REMOVED]}),
             "-e", json.dumps({"skip_reason": "maintainer asked (demo)"}), "-e", "confirm=yes")
    playbook("remove", path, *extra)

    step(f"After: {REMOVED} is gone, {KEPT} is still there")
    gone = not pip_finds(index, f"{PACKAGE}=={REMOVED}")
    kept = pip_finds(index, f"{PACKAGE}=={KEPT}")
    project = Path(testbed["output_path"]) / "project" / PACKAGE / "json" / "index.json"
    refreshed = wait_for_project_json(project)
    print(f"    {project}: {REMOVED} {'no longer listed' if refreshed else 'STILL LISTED'}")

    step("The same request again changes nothing")
    again = playbook("remove", path, *extra)
    unchanged = "changed=0" in again

    yanked = yank_step(path, Path(testbed["output_path"]), index)
    deleted = delete_step(path, Path(testbed["output_path"]), index, testbed.get("aliases", {}).get(DELETED, []))
    audited = audit_step(path, Path(testbed["output_path"]), index, testbed["admin_dsn"])

    ok = found_before and gone and kept and refreshed and unchanged and yanked and deleted and audited
    step("Demo " + ("succeeded" if ok else "FAILED"))
    print(f"""
    Explore:
      index pages    {Path(testbed["output_path"]) / "simple" / "index.html"} (root; {DELETED} deleted)
                     {Path(testbed["output_path"]) / "simple" / "alpha" / "index.html"}
      service log    {DEMO / 'log/mr-chase.log'}
      audit log      {DEMO / 'log/mr-chase-audit.jsonl'}
      site audit     {DEMO / 'audit'} (the reports and piwheels_audit.prom)
      inventory      {path}
      another run    ANSIBLE_COLLECTIONS_PATH={ROOT} .venv/bin/ansible-playbook -i {path} \\
                       piwheels.ops.remove -e package=gamma -e versions=all -e skip_reason=test
    Stop it all:     make demo-stop
""")
    return 0 if ok else 1


def tasks_playbook(name: str, tasks: list[dict]) -> Path:
    """A one-play playbook in .demo/ running ``tasks`` on the master host with the role's queue address."""
    play = {"name": name, "hosts": "piwheels_master", "gather_facts": False,
            "module_defaults": {"group/piwheels.ops.mr_chase": {"import_queue": "{{ mr_chase_import_queue }}"}},
            "tasks": tasks}
    path = DEMO / f"{name.replace(' ', '_')}.yml"
    path.write_text(json.dumps([play], indent=2))  # JSON is YAML
    return path


def run_twice(playbook_path: Path, inventory_path: Path) -> tuple[bool, bool]:
    """(the first run changed something, the second changed nothing): each task of the demo is idempotent."""
    outputs = []
    for _ in range(2):
        result = run(str(BIN / "ansible-playbook"), "-i", str(inventory_path), str(playbook_path),
                     capture_output=True, text=True, check=False)
        print(result.stdout[-3000:])
        if result.returncode != 0:
            sys.exit(f"{playbook_path.name} failed:\n{result.stderr}")
        outputs.append(result.stdout)
    return "changed=1" in outputs[0], "changed=0" in outputs[1]


def yank_step(inventory_path: Path, output: Path, index: str) -> bool:
    """Yank a release (PEP 592): pip still finds it pinned exactly, and its links carry data-yanked."""
    step(f"Yanking {PACKAGE} {YANKED} (piw_remove state=yanked), twice: changed, then ok")
    path = tasks_playbook("demo yank", [{"name": f"Yank {PACKAGE} {YANKED}", "piwheels.ops.piw_remove": {
        "package": PACKAGE, "version": YANKED, "state": "yanked"}}])
    changed, unchanged = run_twice(path, inventory_path)
    page = (output / "simple" / PACKAGE / "index.html").read_text()
    marked = [line for line in page.splitlines() if f"-{YANKED}-" in line]
    flagged = bool(marked) and all('data-yanked=""' in line for line in marked)
    print(f"    {len(marked)} links of {YANKED} on the index page, {'all' if flagged else 'NOT all'} data-yanked")
    pinned = pip_finds(index, f"{PACKAGE}=={YANKED}")
    return changed and unchanged and flagged and pinned


def delete_step(inventory_path: Path, output: Path, index: str, aliases: list[str]) -> bool:
    """Delete a whole package: rows, wheels, pages, alias links, and its line in the root index."""
    step(f"Deleting the whole package {DELETED} (piw_package state=absent), twice: changed, then ok")
    path = tasks_playbook("demo delete", [{"name": f"Delete {DELETED}", "piwheels.ops.piw_package": {
        "package": DELETED, "state": "absent"}}])
    changed, unchanged = run_twice(path, inventory_path)
    left = [p for p in (output / "simple" / DELETED, output / "project" / DELETED,
                        *(output / "project" / alias for alias in aliases)) if os.path.lexists(p)]
    listed = f'href="{DELETED}"' in (output / "simple" / "index.html").read_text()
    print(f"    directories and alias links left: {[str(p) for p in left] or 'none'}; "
          f"root index {'STILL LISTS' if listed else 'no longer lists'} {DELETED}")
    found = pip_finds(index, DELETED)
    told = wait_for_message(["REBUILD", ["SEARCH"]])
    rempkg = [m for m in master_messages() if m[0] == "REMPKG"]
    print(f"    piw-master was told: {'REBUILD SEARCH (search index rebuilt)' if told else 'NOTHING'}; "
          f"REMPKG {'SENT' if rempkg else 'never sent'}")
    return changed and unchanged and not left and not listed and not found and told and not rempkg


def audit_step(inventory_path: Path, output: Path, index: str, admin_dsn: str) -> bool:
    """Orphan a wheel as upstream's plain piw-remove does, then let the audit runbook find and repair it."""
    step(f"Damaging {ORPHAN_PACKAGE} as upstream's plain piw-remove does: the rows of {ORPHAN} go, the wheel stays")
    with psycopg.connect(admin_dsn) as conn:
        conn.execute("DELETE FROM downloads WHERE filename = %s", (ORPHAN,))
        conn.execute("DELETE FROM files WHERE filename = %s", (ORPHAN,))
    wheel = output / "simple" / ORPHAN_PACKAGE / ORPHAN
    print(f"    {wheel}: {'still on disk' if wheel.exists() else 'GONE'}, and piwheels' database has no row of it")
    served = pip_finds(index, f"{ORPHAN_PACKAGE}=={ORPHAN_VERSION}")

    step("Auditing the site with the audit runbook, repairing everything (piwheels.ops.audit -e repair=all)")
    reports = DEMO / "audit"
    reports.mkdir(parents=True, exist_ok=True)
    extra = ("-e", "repair=all", "-e", "min_age=0", "-e", "confirm=yes", "-e", f"report_dir={reports}",
             "-e", f"metrics_file={reports / 'piwheels_audit.prom'}")
    first = playbook("audit", inventory_path, *extra)
    found = f"orphan_wheel simple/{ORPHAN_PACKAGE}/{ORPHAN}" in first and "Repaired " in first
    print(f"    {wheel}: {'STILL ON DISK' if wheel.exists() else 'gone'}")
    repaired = not wheel.exists() and not pip_finds(index, f"{ORPHAN_PACKAGE}=={ORPHAN_VERSION}")
    print(f"    reports: {', '.join(sorted(p.name for p in reports.iterdir()))}")
    project = output / "project" / ORPHAN_PACKAGE / "json" / "index.json"
    rewritten = wait_until(lambda: ORPHAN not in project.read_text())
    print(f"    {project}: {ORPHAN} {'no longer listed' if rewritten else 'STILL LISTED'} (piw-master was told)")

    step("The same audit again finds nothing to repair")
    clean = "No findings remain." in playbook("audit", inventory_path, *extra)
    return served and found and repaired and rewritten and clean


def wait_until(predicate, timeout: float = 20.0) -> bool:
    """Whether ``predicate()`` comes true within ``timeout`` (piw-master rewrites pages after Mr Chase's reply)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def master_messages() -> list[list]:
    if not MASTER_RECORD.exists():
        return []
    return [json.loads(line) for line in MASTER_RECORD.read_text().splitlines() if line]


def wait_for_message(message: list, timeout: float = 20.0) -> bool:
    """Whether the stand-in piw-master accepts ``message`` within ``timeout`` (notifications follow the reply)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if message in master_messages():
            return True
        time.sleep(0.2)
    return False


def start_master(dsn: str, output_path: str) -> str:
    """The stand-in piw-master (python -m piwheels_testbed master) in the background, reading as piw-master's
    SELECT-only account; its pid goes to .demo/run/master.pid."""
    stop_master()
    queue = f"ipc://{DEMO}/run/piw-master"
    (DEMO / "run").mkdir(parents=True, exist_ok=True)
    log = open(DEMO / "run/master.log", "ab")  # noqa: SIM115 (the child keeps it)
    MASTER_RECORD.unlink(missing_ok=True)
    proc = subprocess.Popen([str(BIN / "python"), "-m", "piwheels_testbed", "master", "--queue", queue, "--dsn", dsn,
                             "--output", output_path, "--record", str(MASTER_RECORD)], cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    (DEMO / "run/master.pid").write_text(str(proc.pid))
    print(f"    listening on {queue} (pid {proc.pid})")
    return queue


def stop_master() -> None:
    pid_file = DEMO / "run/master.pid"
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
        pid_file.unlink()


def wait_for_project_json(path: Path, timeout: float = 20.0) -> bool:
    """Whether piw-master (the stand-in) rewrote the project JSON without the removed version's files."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        releases = json.loads(path.read_text())["releases"] if path.exists() else {REMOVED: {"files": [1]}}
        if not releases.get(REMOVED, {}).get("files"):
            return True
        time.sleep(0.2)
    return False


def down() -> int:
    stop_master()
    ctl = DEMO / "mr-chase/bin/mr-chase-ctl"
    if ctl.exists():
        run(str(ctl), "stop")
    run(str(BIN / "python"), "-m", "piwheels_testbed", "down", "--state", str(DEMO / "testbed"), cwd=ROOT)
    print("demo stopped; remove .demo/ to start from scratch")
    return 0


if __name__ == "__main__":
    sys.exit({"up": up, "down": down}[sys.argv[1]]())
