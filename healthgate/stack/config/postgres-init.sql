-- First-start initialisation of the stack's PostgreSQL, run by the image entrypoint in the app database.
-- The dollar placeholders are filled by healthgate.stack.components with per-stack random values.

CREATE EXTENSION IF NOT EXISTS pg_stat_statements;

-- The monitoring login the checks use: statistics views through pg_monitor, nothing else.
CREATE ROLE ${monitor_user} LOGIN PASSWORD '${monitor_password}';
GRANT pg_monitor TO ${monitor_user};
GRANT CONNECT ON DATABASE ${database} TO ${monitor_user};

-- postgres_exporter's login: the same statistics, and no table at all (its default queries read only
-- pg_stat_* and pg_settings).
CREATE ROLE ${exporter_user} LOGIN PASSWORD '${exporter_password}';
GRANT pg_monitor TO ${exporter_user};
GRANT CONNECT ON DATABASE ${database} TO ${exporter_user};

CREATE TABLE detections (
    id bigserial PRIMARY KEY,
    species text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO detections (species, created_at) VALUES
    ('Pipistrellus pipistrellus', now() - interval '3 hours'),
    ('Nyctalus noctula', now() - interval '2 hours'),
    ('Myotis daubentonii', now() - interval '40 minutes'),
    ('Eptesicus serotinus', now() - interval '5 minutes');

CREATE TABLE schema_migrations (version text PRIMARY KEY);
INSERT INTO schema_migrations (version) VALUES ('20250713_01');

-- Table checks a profile asks for (migration version, baseline row counts) need SELECT on those tables only.
GRANT SELECT ON schema_migrations, detections TO ${monitor_user};

-- A healthy database has been vacuumed and analyzed; without this a fresh stack would fail the vacuum-age check.
VACUUM ANALYZE detections;
VACUUM ANALYZE schema_migrations;
