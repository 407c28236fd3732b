import { MockActivityEnvironment } from '@temporalio/testing';
import { recordRunEvents } from '../../activities/runEvents';
import { createTestDatabase, type TestDatabase } from '../helpers/env';

describe('recordRunEvents (MockActivityEnvironment)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  const info = (attempt: number) => ({
    attempt,
    workflowType: 'ingest',
    workflowExecution: { workflowId: 'wf-1', runId: 'run-1' },
  });

  it('records start and completion with the numeric fields of the result as counts', async () => {
    const acts = recordRunEvents(db.pool, {
      async appendBatch(n: number) {
        return { accepted: n, quarantined: 1, note: 'not a count' };
      },
    });
    const env = new MockActivityEnvironment(info(1));
    await expect(env.run(acts.appendBatch, 5)).resolves.toEqual({ accepted: 5, quarantined: 1, note: 'not a count' });
    const { rows } = await db.pool.query(
      "SELECT step, status, attempt, counts, workflow_type FROM sluice.run_events WHERE step = 'appendBatch' ORDER BY id",
    );
    expect(rows).toEqual([
      { step: 'appendBatch', status: 'started', attempt: 1, counts: {}, workflow_type: 'ingest' },
      { step: 'appendBatch', status: 'completed', attempt: 1, counts: { accepted: 5, quarantined: 1 }, workflow_type: 'ingest' },
    ]);
  });

  it('records the log range a step wrote or read, and what it links under runEventDetails', async () => {
    const acts = recordRunEvents(db.pool, {
      async ingestBatch() {
        return { accepted: 3, fromSeq: '11', toSeq: '13', batchId: 'b1' };
      },
      async emptyBatch() {
        return { accepted: 0, fromSeq: null, toSeq: null };
      },
      async chunk() {
        return { rowsWritten: 2, fromSeq: '14', toSeq: '20', runEventDetails: { version: 'v2', outcome: 'committed' } };
      },
      async report() {
        return { runEventDetails: { reportUri: 'sha256:abc' } };
      },
    });
    const env = new MockActivityEnvironment(info(1));
    for (const step of ['ingestBatch', 'emptyBatch', 'chunk', 'report'] as const) await env.run(acts[step]);
    const { rows } = await db.pool.query(
      "SELECT step, details FROM sluice.run_events WHERE step IN ('ingestBatch', 'emptyBatch', 'chunk', 'report') AND status = 'completed' ORDER BY id",
    );
    expect(rows).toEqual([
      { step: 'ingestBatch', details: { fromSeq: '11', toSeq: '13' } },
      { step: 'emptyBatch', details: { fromSeq: null, toSeq: null } },
      { step: 'chunk', details: { fromSeq: '14', toSeq: '20', version: 'v2', outcome: 'committed' } },
      { step: 'report', details: { reportUri: 'sha256:abc' } },
    ]);
  });

  it('records a failure with its attempt and error, and rethrows the original error', async () => {
    class BadBatch extends Error {
      type = 'SLUICE_TEST';
    }
    const acts = recordRunEvents(db.pool, {
      async failingStep() {
        throw new BadBatch('row 7 is broken');
      },
    });
    const env = new MockActivityEnvironment(info(3));
    await expect(env.run(acts.failingStep)).rejects.toThrow('row 7 is broken');
    const { rows } = await db.pool.query("SELECT status, attempt, error FROM sluice.run_events WHERE step = 'failingStep' ORDER BY id");
    expect(rows).toEqual([
      { status: 'started', attempt: 3, error: null },
      { status: 'failed', attempt: 3, error: { type: 'SLUICE_TEST', message: 'row 7 is broken' } },
    ]);
  });
});
