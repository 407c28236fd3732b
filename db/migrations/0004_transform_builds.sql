-- Transforms, part 2: where derived tables live, and the bookkeeping of backfills (rebuilds).
--   sluice_derived: <name>__v<N> tables and the <name> views (a schema of their own, so a
--                   transform name can never collide with sluice's own tables).
--   sluice_build:   tables being rebuilt by a backfill, renamed into sluice_derived on switch.

CREATE SCHEMA IF NOT EXISTS sluice_derived;
CREATE SCHEMA IF NOT EXISTS sluice_build;

-- One row per log chunk written into a build table, in the same transaction as the chunk's rows:
-- a retried chunk finds its row and does nothing, so a crash neither loses nor duplicates rows.
CREATE TABLE sluice.transform_build_chunks (
  build_id     text        NOT NULL,
  from_seq     bigint      NOT NULL,
  to_seq       bigint      NOT NULL,
  rows_read    bigint      NOT NULL,
  rows_written bigint      NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (build_id, from_seq),
  CHECK (from_seq <= to_seq)
);

-- Finished builds: the content hash of version <version> over the log range [from_seq, to_seq]
-- (the determinism record: the same range and version must always give the same sha256).
CREATE TABLE sluice.transform_builds (
  build_id     text        PRIMARY KEY,
  name         text        NOT NULL,
  version      integer     NOT NULL,
  from_seq     bigint      NOT NULL,
  to_seq       bigint      NOT NULL,
  rows         bigint      NOT NULL,
  sha256       text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  switched     boolean     NOT NULL,
  workflow_id  text        NOT NULL,
  finished_at  timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (name, version) REFERENCES sluice.transforms (name, version)
);
CREATE INDEX transform_builds_range_idx ON sluice.transform_builds (name, version, from_seq, to_seq);

CREATE TRIGGER transform_builds_append_only BEFORE UPDATE OR DELETE ON sluice.transform_builds
  FOR EACH ROW EXECUTE FUNCTION sluice.refuse_mutation();
CREATE TRIGGER transform_builds_no_truncate BEFORE TRUNCATE ON sluice.transform_builds
  FOR EACH STATEMENT EXECUTE FUNCTION sluice.refuse_mutation();
