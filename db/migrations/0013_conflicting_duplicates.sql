-- Conflicting duplicates (issue #9, point 8): an event id that arrives again with another payload
-- is not a silent duplicate. It becomes a quarantine row whose reason has the code
-- `conflicting_duplicate`, the seq of the row that holds the id first and the sha256 of both
-- payloads (`firstDigest`, `digest`: of the jsonb text, `payload::text`), and its chunk counts it in
-- `conflicting`, a part of `quarantined`, so that records = accepted + quarantined + duplicates holds.

-- (source, event_id) stays unique among the ordinary quarantine rows (one row per invalid event);
-- a conflicting payload is recorded once per digest, so that a resent or retried batch adds nothing.
DROP INDEX sluice.quarantine_source_event_id_key;
CREATE UNIQUE INDEX quarantine_source_event_id_key ON sluice.quarantine (source, event_id)
  WHERE (reason ->> 'code') IS DISTINCT FROM 'conflicting_duplicate';
CREATE UNIQUE INDEX quarantine_conflicting_digest_key ON sluice.quarantine (source, event_id, (reason ->> 'digest'))
  WHERE (reason ->> 'code') = 'conflicting_duplicate';

ALTER TABLE sluice.ingest_chunks
  ADD COLUMN conflicting integer NOT NULL DEFAULT 0,
  ADD CONSTRAINT ingest_chunks_conflicting_check CHECK (conflicting BETWEEN 0 AND quarantined);
