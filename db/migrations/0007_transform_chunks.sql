-- Incremental transform chunks: one row per committed chunk, written in the chunk's own transaction
-- together with its rows and the watermark. It answers "which chunk wrote these log rows into
-- <name>__v<N>, when, by which workflow" and gives a retried chunk the counts of the attempt that
-- committed. Not unique on the range: a backfill switch can move a watermark back, and the same
-- range is then written again (into the rebuilt table).
CREATE TABLE sluice.transform_chunks (
  id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name         text        NOT NULL,
  version      integer     NOT NULL,
  from_seq     bigint      NOT NULL,
  to_seq       bigint      NOT NULL CHECK (to_seq >= from_seq - 1),
  rows_read    bigint      NOT NULL CHECK (rows_read >= 0),
  rows_written bigint      NOT NULL CHECK (rows_written >= 0),
  workflow_id  text,
  committed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transform_chunks_range_idx ON sluice.transform_chunks (name, version, from_seq);

CREATE TRIGGER transform_chunks_append_only BEFORE UPDATE OR DELETE ON sluice.transform_chunks
  FOR EACH ROW EXECUTE FUNCTION sluice.refuse_mutation();
CREATE TRIGGER transform_chunks_no_truncate BEFORE TRUNCATE ON sluice.transform_chunks
  FOR EACH STATEMENT EXECUTE FUNCTION sluice.refuse_mutation();
