-- The append-only event log, its quarantine, and run events (shared/DESIGN.md, "Data model").
-- Append-only is enforced by the database: a trigger refuses UPDATE, DELETE and TRUNCATE.

CREATE SCHEMA IF NOT EXISTS sluice;

CREATE OR REPLACE FUNCTION sluice.refuse_mutation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'sluice.% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'restrict_violation',
          HINT = 'Rows in the log are never changed; append a correcting event or rebuild derived tables instead.';
END;
$$;

CREATE TABLE sluice.raw_events (
  seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  source           text        NOT NULL,
  event_id         text        NOT NULL,
  event_time       timestamptz,
  ingested_at      timestamptz NOT NULL DEFAULT now(),
  contract         text        NOT NULL,
  contract_version text        NOT NULL,
  payload          jsonb       NOT NULL,
  batch_id         text        NOT NULL,
  CONSTRAINT raw_events_source_event_id_key UNIQUE (source, event_id)
);
CREATE INDEX raw_events_source_seq_idx ON sluice.raw_events (source, seq);

CREATE TABLE sluice.quarantine (
  seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  source           text        NOT NULL,
  event_id         text        NOT NULL,
  event_time       timestamptz,
  ingested_at      timestamptz NOT NULL DEFAULT now(),
  contract         text,
  contract_version text,
  payload          jsonb,
  -- the event exactly as received when it could not be parsed as JSON (bad UTF-8, NUL bytes, ...)
  raw              bytea,
  batch_id         text        NOT NULL,
  reason           jsonb       NOT NULL
);
CREATE INDEX quarantine_source_seq_idx ON sluice.quarantine (source, seq);
CREATE INDEX quarantine_source_event_id_idx ON sluice.quarantine (source, event_id);

CREATE TABLE sluice.run_events (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  occurred_at   timestamptz NOT NULL DEFAULT now(),
  workflow_id   text        NOT NULL,
  run_id        text        NOT NULL,
  workflow_type text        NOT NULL,
  step          text        NOT NULL,
  attempt       integer     NOT NULL DEFAULT 1,
  status        text        NOT NULL CHECK (status IN ('started', 'completed', 'failed')),
  counts        jsonb       NOT NULL DEFAULT '{}'::jsonb,
  duration_ms   integer,
  error         jsonb,
  details       jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX run_events_workflow_idx ON sluice.run_events (workflow_id, run_id);

CREATE TRIGGER raw_events_append_only BEFORE UPDATE OR DELETE ON sluice.raw_events
  FOR EACH ROW EXECUTE FUNCTION sluice.refuse_mutation();
CREATE TRIGGER raw_events_no_truncate BEFORE TRUNCATE ON sluice.raw_events
  FOR EACH STATEMENT EXECUTE FUNCTION sluice.refuse_mutation();
CREATE TRIGGER quarantine_append_only BEFORE UPDATE OR DELETE ON sluice.quarantine
  FOR EACH ROW EXECUTE FUNCTION sluice.refuse_mutation();
CREATE TRIGGER quarantine_no_truncate BEFORE TRUNCATE ON sluice.quarantine
  FOR EACH STATEMENT EXECUTE FUNCTION sluice.refuse_mutation();
CREATE TRIGGER run_events_append_only BEFORE UPDATE OR DELETE ON sluice.run_events
  FOR EACH ROW EXECUTE FUNCTION sluice.refuse_mutation();
CREATE TRIGGER run_events_no_truncate BEFORE TRUNCATE ON sluice.run_events
  FOR EACH STATEMENT EXECUTE FUNCTION sluice.refuse_mutation();
