"""The collection tests reuse the service tests' real Mr Chase fixtures."""

import importlib.util
import sys
from pathlib import Path

SERVICE_TESTS = Path(__file__).resolve().parents[1] / "service"
sys.path.insert(0, str(SERVICE_TESTS))
_spec = importlib.util.spec_from_file_location("service_fixtures", SERVICE_TESTS / "conftest.py")
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)
ipc_dir = _fixtures.ipc_dir
mr_chase = _fixtures.mr_chase
