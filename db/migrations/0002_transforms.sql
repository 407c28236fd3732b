-- Transform registry: versioned SQL over a log range (shared/DESIGN.md, "derived tables").
-- A version, once registered, never changes (append-only); which version is live is a pointer.

CREATE TABLE sluice.transforms (
  name        text        NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,47}$'),
  version     integer     NOT NULL CHECK (version >= 1),
  sources     text[]      NOT NULL,
  sql         text        NOT NULL,
  sql_sha256  text        NOT NULL,
  description text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (name, version)
);
CREATE INDEX transforms_sources_idx ON sluice.transforms USING gin (sources);

CREATE TRIGGER transforms_append_only BEFORE UPDATE OR DELETE ON sluice.transforms
  FOR EACH ROW EXECUTE FUNCTION sluice.refuse_mutation();
CREATE TRIGGER transforms_no_truncate BEFORE TRUNCATE ON sluice.transforms
  FOR EACH STATEMENT EXECUTE FUNCTION sluice.refuse_mutation();

-- The live version of each transform (what the view <name> points at).
CREATE TABLE sluice.transform_live (
  name        text        PRIMARY KEY,
  version     integer     NOT NULL,
  switched_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (name, version) REFERENCES sluice.transforms (name, version)
);

-- The last log offset each transform version has consumed, per source.
CREATE TABLE sluice.watermarks (
  name       text        NOT NULL,
  version    integer     NOT NULL,
  source     text        NOT NULL,
  last_seq   bigint      NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (name, version, source),
  FOREIGN KEY (name, version) REFERENCES sluice.transforms (name, version)
);
