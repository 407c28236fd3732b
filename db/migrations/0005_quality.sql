-- Data contracts and data quality (issue #4): the dataset and model registry of shared/DESIGN.md
-- (so a breaking contract change can list what used the old version), and the record of every
-- expectation-suite run. All append-only: a registered dataset, model or validation never changes.

CREATE TABLE sluice.datasets (
  -- sha256 of the Arrow IPC bytes
  id                text        PRIMARY KEY CHECK (id ~ '^[0-9a-f]{64}$'),
  transform         text,
  transform_version integer,
  -- the log range the dataset was built from, per source: {"page_views": {"fromSeq": "1", "toSeq": "900"}}
  log_range         jsonb       NOT NULL DEFAULT '{}'::jsonb,
  -- the contract versions of the rows it holds: {"page_views": ["1.0.0", "1.1.0"]}
  contract_versions jsonb       NOT NULL DEFAULT '{}'::jsonb,
  row_count         bigint      NOT NULL CHECK (row_count >= 0),
  schema            jsonb       NOT NULL DEFAULT '{}'::jsonb,
  -- column statistics: the baseline for drift
  column_stats      jsonb       NOT NULL DEFAULT '{}'::jsonb,
  artifact_uri      text,
  created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX datasets_contract_versions_idx ON sluice.datasets USING gin (contract_versions);

CREATE TABLE sluice.models (
  name            text        NOT NULL,
  version         integer     NOT NULL CHECK (version >= 1),
  dataset_id      text        NOT NULL REFERENCES sluice.datasets (id),
  code_version    text        NOT NULL,
  trainer         text        NOT NULL,
  parameters      jsonb       NOT NULL DEFAULT '{}'::jsonb,
  metrics         jsonb       NOT NULL DEFAULT '{}'::jsonb,
  onnx_uri        text        NOT NULL,
  onnx_sha256     text        NOT NULL CHECK (onnx_sha256 ~ '^[0-9a-f]{64}$'),
  workflow_id     text        NOT NULL,
  run_id          text        NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (name, version)
);
CREATE INDEX models_dataset_idx ON sluice.models (dataset_id);

-- Aliases move (champion, challenger), so they live apart from the immutable model rows.
CREATE TABLE sluice.model_aliases (
  name       text        NOT NULL,
  alias      text        NOT NULL CHECK (alias ~ '^[a-z][a-z0-9_-]{0,31}$'),
  version    integer     NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (name, alias),
  FOREIGN KEY (name, version) REFERENCES sluice.models (name, version)
);

-- One row per expectation-suite run: which data, which contract version, what happened, where the report is.
CREATE TABLE sluice.validations (
  id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workflow_id      text        NOT NULL,
  run_id           text        NOT NULL,
  contract         text        NOT NULL,
  contract_version text        NOT NULL,
  dataset          jsonb       NOT NULL,
  row_count        bigint      NOT NULL,
  passed           boolean     NOT NULL,
  errors           integer     NOT NULL,
  warnings         integer     NOT NULL,
  report_sha256    text        NOT NULL CHECK (report_sha256 ~ '^[0-9a-f]{64}$'),
  html_sha256      text        NOT NULL CHECK (html_sha256 ~ '^[0-9a-f]{64}$'),
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX validations_contract_idx ON sluice.validations (contract, contract_version);

CREATE TRIGGER datasets_append_only BEFORE UPDATE OR DELETE ON sluice.datasets
  FOR EACH ROW EXECUTE FUNCTION sluice.refuse_mutation();
CREATE TRIGGER datasets_no_truncate BEFORE TRUNCATE ON sluice.datasets
  FOR EACH STATEMENT EXECUTE FUNCTION sluice.refuse_mutation();
CREATE TRIGGER models_append_only BEFORE UPDATE OR DELETE ON sluice.models
  FOR EACH ROW EXECUTE FUNCTION sluice.refuse_mutation();
CREATE TRIGGER models_no_truncate BEFORE TRUNCATE ON sluice.models
  FOR EACH STATEMENT EXECUTE FUNCTION sluice.refuse_mutation();
CREATE TRIGGER validations_append_only BEFORE UPDATE OR DELETE ON sluice.validations
  FOR EACH ROW EXECUTE FUNCTION sluice.refuse_mutation();
CREATE TRIGGER validations_no_truncate BEFORE TRUNCATE ON sluice.validations
  FOR EACH STATEMENT EXECUTE FUNCTION sluice.refuse_mutation();
