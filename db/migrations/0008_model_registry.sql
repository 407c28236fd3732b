-- The model registry (issue "Datasets, training and evaluation", points 8–10): what sluice.models
-- (0005) lacks to answer an auditor, and the history of alias moves. model_aliases is a pointer
-- and changes; every change is also appended to model_alias_events, which never changes.

-- NULL on rows written before this migration: nothing recorded them.
ALTER TABLE sluice.models ADD COLUMN seed bigint;
-- true when the worker's checkout had uncommitted changes; NULL when unknown (SLUICE_CODE_VERSION, no git).
ALTER TABLE sluice.models ADD COLUMN code_dirty boolean;
ALTER TABLE sluice.models ADD COLUMN task text CHECK (task IN ('binary', 'multiclass', 'regression'));
ALTER TABLE sluice.models ADD COLUMN card_uri text;
ALTER TABLE sluice.models ADD COLUMN card_sha256 text CHECK (card_sha256 ~ '^[0-9a-f]{64}$');

-- A retry of the same run registering the same file finds its first row (registerModel is idempotent on it).
CREATE UNIQUE INDEX models_run_onnx_idx ON sluice.models (name, workflow_id, run_id, onnx_sha256);
CREATE INDEX models_onnx_idx ON sluice.models (onnx_sha256);

CREATE TABLE sluice.model_alias_events (
  id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name             text        NOT NULL,
  alias            text        NOT NULL CHECK (alias ~ '^[a-z][a-z0-9_-]{0,31}$'),
  version          integer     NOT NULL,
  -- NULL when the alias did not point anywhere before
  previous_version integer,
  actor            text        NOT NULL,
  reason           text        NOT NULL DEFAULT '',
  workflow_id      text,
  run_id           text,
  at               timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (name, version) REFERENCES sluice.models (name, version)
);
CREATE INDEX model_alias_events_alias_idx ON sluice.model_alias_events (name, alias, id);

CREATE TRIGGER model_alias_events_append_only BEFORE UPDATE OR DELETE ON sluice.model_alias_events
  FOR EACH ROW EXECUTE FUNCTION sluice.refuse_mutation();
CREATE TRIGGER model_alias_events_no_truncate BEFORE TRUNCATE ON sluice.model_alias_events
  FOR EACH STATEMENT EXECUTE FUNCTION sluice.refuse_mutation();
