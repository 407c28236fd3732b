-- Ingestion bookkeeping (shared/DESIGN.md, "ingest"): idempotent quarantine, resumable batches
-- with exact counts, and the record of quarantine re-drives. All append-only.

-- A re-sent or retried invalid event must not add a second quarantine row: (source, event_id) is
-- unique in quarantine as it is in raw_events.
CREATE UNIQUE INDEX quarantine_source_event_id_key ON sluice.quarantine (source, event_id);

-- One row per committed chunk of an ingest batch, written in the same transaction as the chunk's
-- rows: a retried activity skips the chunks already committed and sums these counts, so a crash
-- neither loses nor duplicates rows, and the batch's counts stay exact.
CREATE TABLE sluice.ingest_chunks (
  source       text        NOT NULL,
  batch_id     text        NOT NULL,
  chunk_no     integer     NOT NULL CHECK (chunk_no >= 0),
  records      integer     NOT NULL,
  accepted     integer     NOT NULL,
  quarantined  integer     NOT NULL,
  duplicates   integer     NOT NULL,
  from_seq     bigint,
  to_seq       bigint,
  committed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source, batch_id, chunk_no),
  CHECK (records = accepted + quarantined + duplicates)
);

-- How a quarantined event left quarantine after a contract fix. The quarantine row itself stays.
-- No foreign key to sluice.quarantine: its rows are never deleted anyway, and a referencing key
-- would make TRUNCATE fail on the key instead of on the append-only trigger.
CREATE TABLE sluice.quarantine_resolutions (
  quarantine_seq   bigint      PRIMARY KEY,
  source           text        NOT NULL,
  event_id         text        NOT NULL,
  resolution       text        NOT NULL CHECK (resolution IN ('accepted', 'duplicate')),
  -- the log row it became (accepted) or already was (duplicate)
  raw_seq          bigint,
  contract         text        NOT NULL,
  contract_version text        NOT NULL,
  batch_id         text        NOT NULL,
  resolved_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quarantine_resolutions_source_idx ON sluice.quarantine_resolutions (source, quarantine_seq);

CREATE TRIGGER ingest_chunks_append_only BEFORE UPDATE OR DELETE ON sluice.ingest_chunks
  FOR EACH ROW EXECUTE FUNCTION sluice.refuse_mutation();
CREATE TRIGGER ingest_chunks_no_truncate BEFORE TRUNCATE ON sluice.ingest_chunks
  FOR EACH STATEMENT EXECUTE FUNCTION sluice.refuse_mutation();
CREATE TRIGGER quarantine_resolutions_append_only BEFORE UPDATE OR DELETE ON sluice.quarantine_resolutions
  FOR EACH ROW EXECUTE FUNCTION sluice.refuse_mutation();
CREATE TRIGGER quarantine_resolutions_no_truncate BEFORE TRUNCATE ON sluice.quarantine_resolutions
  FOR EACH STATEMENT EXECUTE FUNCTION sluice.refuse_mutation();
