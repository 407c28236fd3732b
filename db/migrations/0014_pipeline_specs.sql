-- Pipeline specs (issue "Pipelines end to end", point 1): every applied version of a pipeline's
-- declarative spec, append-only like the log. A version is never changed; applying the same spec
-- again (same sha256 of its canonical JSON) finds the existing version instead of adding one.

CREATE TABLE sluice.pipeline_specs (
  name       text        NOT NULL CHECK (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
  version    integer     NOT NULL CHECK (version >= 1),
  spec       jsonb       NOT NULL,
  sha256     text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  applied_by text        NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (name, version),
  UNIQUE (name, sha256)
);

CREATE TRIGGER pipeline_specs_append_only BEFORE UPDATE OR DELETE ON sluice.pipeline_specs
  FOR EACH ROW EXECUTE FUNCTION sluice.refuse_mutation();
CREATE TRIGGER pipeline_specs_no_truncate BEFORE TRUNCATE ON sluice.pipeline_specs
  FOR EACH STATEMENT EXECUTE FUNCTION sluice.refuse_mutation();
