-- pg_pulse, part 45: operations: what the background work did (job history), what ingestion
-- counted (metrics) and what long operations are doing now (progress).

-- One row per view refresh (by the scheduler or pulse.refresh_view), failed Kafka batch and
-- Kafka worker stopped by an error; the scheduler deletes rows older than
-- pulse.job_history_retention. Read through pulse.job_history.
CREATE TABLE pulse.job_log (
  id          bigserial PRIMARY KEY,
  kind        text NOT NULL CHECK (kind IN ('refresh', 'kafka batch', 'kafka worker', 'retention')),
  project     text NOT NULL,
  object      text NOT NULL,         -- the view's name; 'subscription <id>'; retention: what was dropped
  started_at  timestamptz NOT NULL,
  finished_at timestamptz NOT NULL,
  rows        bigint,                -- refresh: groups merged (rows stored by a rebuild); batch: messages; retention: rows dropped
  status      text NOT NULL CHECK (status IN ('succeeded', 'failed')),
  error       text,
  pid         integer NOT NULL DEFAULT pg_backend_pid()
);
CREATE INDEX ON pulse.job_log (finished_at);
CREATE INDEX ON pulse.job_log (project, object, finished_at);
REVOKE ALL ON pulse.job_log FROM PUBLIC;

-- The history of the projects the caller reads (superusers and pg_monitor: all).
CREATE VIEW pulse.job_history WITH (security_barrier) AS
SELECT j.id, j.kind, j.project, j.object, j.started_at, j.finished_at, j.finished_at - j.started_at AS duration,
       j.rows, j.status, j.error, j.pid
  FROM pulse.job_log j JOIN pulse.projects p ON p.name = j.project
 WHERE EXISTS (SELECT FROM pg_roles r, pg_roles c
                WHERE r.rolname = p.reader_role AND c.rolname = current_user
                  AND pg_has_role(c.oid, r.oid, 'USAGE'))
    OR pg_has_role(current_user, 'pg_monitor', 'USAGE');  -- monitoring sees every project
GRANT SELECT ON pulse.job_history TO PUBLIC;

-- Ingestion counters (shared memory; counted at commit) of this database's projects that the
-- caller reads (superusers and pg_monitor: all): since the server started, the collection first received events, or
-- pulse.metrics_reset.
CREATE FUNCTION pulse.collection_metrics()
  RETURNS TABLE (project text, collection text, events_stored bigint, rejected_fields bigint, dead_letters bigint,
                 batches bigint, last_event_at timestamptz, since timestamptz)
  LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'pulse_collection_metrics';

CREATE VIEW pulse.metrics AS
SELECT m.project, m.collection, m.events_stored, m.rejected_fields, m.dead_letters, m.batches, m.last_event_at, m.since
  FROM pulse.collection_metrics() m
 WHERE EXISTS (SELECT FROM pulse.projects p WHERE p.name = m.project);  -- not a dropped project's
GRANT SELECT ON pulse.metrics TO PUBLIC;

CREATE FUNCTION pulse.metrics_reset(project text DEFAULT NULL) RETURNS void
  LANGUAGE c AS 'MODULE_PATHNAME', 'pulse_metrics_reset';

-- Long operations running now in this database (refreshes, replays, ingestion calls), of the
-- projects the caller reads (superusers and pg_monitor: all): like pg_stat_progress_*.
CREATE FUNCTION pulse.progress_status()
  RETURNS TABLE (pid integer, command text, project text, object text, phase text, done bigint, total bigint,
                 unit text, started_at timestamptz, updated_at timestamptz)
  LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'pulse_progress_status';

CREATE VIEW pulse.progress AS
SELECT s.pid, s.command, s.project, s.object, s.phase, s.done, s.total, s.unit,
       CASE WHEN s.total > 0 THEN round(100.0 * s.done / s.total, 1) END AS percent,
       s.started_at, s.updated_at, clock_timestamp() - s.started_at AS running_for
  FROM pulse.progress_status() s;
GRANT SELECT ON pulse.progress TO PUBLIC;
