"""A private PostgreSQL with the piwheels schema, and sample repositories to fill it.

Used by the service tests, the integration setup target, the benchmarks and the
demo, so that all of them stand on the same real database and real wheel files.
"""

from .postgres import MASTER_ROLE, SERVICE_ROLE, Cluster, create_database, drop_database, reset_database, role_dsn
from .repository import RepositorySpec, build_repository

__all__ = ["MASTER_ROLE", "SERVICE_ROLE", "Cluster", "RepositorySpec", "build_repository", "create_database",
           "drop_database", "reset_database", "role_dsn"]
