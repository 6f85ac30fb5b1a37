-- The piwheels tables Mr Chase works on, column-compatible with the piwheels
-- 0.23 schema (same table and column names, types and keys).  The demo and the
-- tests load this file; a real master already has these tables.

CREATE TABLE configuration (
    id      INTEGER DEFAULT 1 NOT NULL,
    version VARCHAR(16) DEFAULT '0.23' NOT NULL,
    CONSTRAINT config_pk PRIMARY KEY (id)
);
INSERT INTO configuration (id, version) VALUES (1, '0.23');

CREATE TABLE packages (
    package     VARCHAR(200) NOT NULL,
    skip        VARCHAR(100) DEFAULT '' NOT NULL,
    description VARCHAR(200) DEFAULT '' NOT NULL,
    CONSTRAINT packages_pk PRIMARY KEY (package)
);

CREATE TABLE versions (
    package  VARCHAR(200) NOT NULL,
    version  VARCHAR(200) NOT NULL,
    released TIMESTAMP DEFAULT '1970-01-01 00:00:00' NOT NULL,
    skip     VARCHAR(100) DEFAULT '' NOT NULL,
    yanked   BOOLEAN DEFAULT false NOT NULL,
    CONSTRAINT versions_pk PRIMARY KEY (package, version),
    CONSTRAINT versions_package_fk FOREIGN KEY (package)
        REFERENCES packages (package) ON DELETE CASCADE
);

CREATE TABLE package_names (
    package VARCHAR(200) NOT NULL,
    name    VARCHAR(200) NOT NULL,
    seen    TIMESTAMP DEFAULT '1970-01-01 00:00:00' NOT NULL,
    CONSTRAINT package_names_pk PRIMARY KEY (name),
    CONSTRAINT package_names_package_fk FOREIGN KEY (package)
        REFERENCES packages ON DELETE CASCADE
);
CREATE INDEX package_names_package ON package_names (package, seen DESC);

CREATE TABLE builds (
    build_id  SERIAL NOT NULL,
    package   VARCHAR(200) NOT NULL,
    version   VARCHAR(200) NOT NULL,
    built_by  INTEGER NOT NULL,
    built_at  TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    duration  INTERVAL NOT NULL,
    status    BOOLEAN DEFAULT true NOT NULL,
    abi_tag   VARCHAR(100) NOT NULL,
    CONSTRAINT builds_pk PRIMARY KEY (build_id),
    CONSTRAINT builds_versions_fk FOREIGN KEY (package, version)
        REFERENCES versions (package, version) ON DELETE CASCADE
);
CREATE INDEX builds_pkgver ON builds (package, version);

CREATE TABLE files (
    filename            VARCHAR(255) NOT NULL,
    build_id            INTEGER NOT NULL,
    filesize            INTEGER NOT NULL,
    filehash            CHAR(64) NOT NULL,
    package_tag         VARCHAR(200) NOT NULL,
    package_version_tag VARCHAR(200) NOT NULL,
    py_version_tag      VARCHAR(100) NOT NULL,
    abi_tag             VARCHAR(100) NOT NULL,
    platform_tag        VARCHAR(100) NOT NULL,
    requires_python     VARCHAR(100) NULL,
    location            VARCHAR(200) DEFAULT '/simple' NOT NULL,
    CONSTRAINT files_pk PRIMARY KEY (filename),
    CONSTRAINT files_builds_fk FOREIGN KEY (build_id)
        REFERENCES builds (build_id) ON DELETE CASCADE
);
CREATE INDEX files_builds ON files (build_id);

CREATE TABLE dependencies (
    filename   VARCHAR(255) NOT NULL,
    tool       VARCHAR(10) DEFAULT 'apt' NOT NULL,
    dependency VARCHAR(255) NOT NULL,
    CONSTRAINT dependencies_pk PRIMARY KEY (filename, tool, dependency),
    CONSTRAINT dependencies_files_fk FOREIGN KEY (filename)
        REFERENCES files (filename) ON DELETE CASCADE
);

CREATE TABLE downloads (
    filename           VARCHAR(255) NOT NULL,
    accessed_by        INET NOT NULL,
    accessed_at        TIMESTAMP NOT NULL,
    arch               VARCHAR(100) DEFAULT NULL,
    distro_name        VARCHAR(100) DEFAULT NULL,
    distro_version     VARCHAR(100) DEFAULT NULL,
    os_name            VARCHAR(100) DEFAULT NULL,
    os_version         VARCHAR(100) DEFAULT NULL,
    py_name            VARCHAR(100) DEFAULT NULL,
    py_version         VARCHAR(100) DEFAULT NULL,
    installer_name     VARCHAR(20) DEFAULT NULL,
    installer_version  VARCHAR(100) DEFAULT NULL,
    setuptools_version VARCHAR(100) DEFAULT NULL
);
CREATE INDEX downloads_files ON downloads (filename);
CREATE INDEX downloads_accessed_at ON downloads (accessed_at);
