import { MockActivityEnvironment } from '@temporalio/testing';
import { withHeartbeat } from '../../activities/heartbeat';
import { recordRunEvents, STARTED_ROW_DELAY_MS } from '../../activities/runEvents';
import { WorkerMetrics } from '../../activities/workerMetrics';
import { createPool } from '../../db/pool';
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

  it("writes a long attempt's started row while it runs, and a short attempt's with its end; both at the attempt's start", async () => {
    let seenWhileRunning: string[] = [];
    const acts = recordRunEvents(db.pool, {
      async longStep() {
        await new Promise((r) => setTimeout(r, STARTED_ROW_DELAY_MS * 4));
        seenWhileRunning = (await db.pool.query("SELECT status FROM sluice.run_events WHERE step = 'longStep'")).rows.map((r) => r.status);
        return {};
      },
      async shortStep() {
        return {};
      },
    });
    const env = new MockActivityEnvironment(info(1));
    await env.run(acts.longStep);
    const queries = jest.spyOn(db.pool, 'query');
    await env.run(acts.shortStep);
    // a short attempt costs one statement (one commit) for its two rows
    expect(queries).toHaveBeenCalledTimes(1);
    queries.mockRestore();
    expect(seenWhileRunning).toEqual(['started']);
    const { rows } = await db.pool.query<{ step: string; status: string; occurred_at: Date; duration_ms: number | null }>(
      "SELECT step, status, occurred_at, duration_ms FROM sluice.run_events WHERE step IN ('longStep', 'shortStep') ORDER BY id",
    );
    expect(rows.map((r) => `${r.step} ${r.status}`)).toEqual([
      'longStep started',
      'longStep completed',
      'shortStep started',
      'shortStep completed',
    ]);
    const [longStarted, longEnded, shortStarted, shortEnded] = rows as [
      (typeof rows)[0],
      (typeof rows)[0],
      (typeof rows)[0],
      (typeof rows)[0],
    ];
    // the started row is the start: a duration before the end row, not the time it was written
    expect(longEnded.occurred_at.getTime() - longStarted.occurred_at.getTime()).toBeGreaterThanOrEqual((longEnded.duration_ms ?? 0) - 5);
    expect(longEnded.duration_ms).toBeGreaterThanOrEqual(STARTED_ROW_DELAY_MS * 4);
    expect(shortStarted.occurred_at.getTime()).toBeLessThanOrEqual(shortEnded.occurred_at.getTime() + 5);
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

  describe('with the worker metrics', () => {
    const series = (text: string, name: string): number | undefined => {
      const line = text.split('\n').find((l) => l.startsWith(`${name} `));
      return line === undefined ? undefined : Number(line.slice(name.length + 1));
    };

    it('counts step durations and outcomes, ingest results per source, failures per code and model metrics', async () => {
      const metrics = new WorkerMetrics();
      class BadBatch extends Error {
        type = 'SLUICE_TEST';
      }
      const acts = recordRunEvents(
        db.pool,
        {
          async ingestEvents() {
            return { source: 'clicks', accepted: 4, quarantined: 2, conflicting: 1, duplicates: 3, fromSeq: '1', toSeq: '4' };
          },
          async evaluateModel() {
            return { onnxSha256: 'ab'.repeat(32), metrics: { accuracy: 0.75, logLoss: 0.5, kind: 'classification' } };
          },
          async failingStep() {
            throw new BadBatch('row 7 is broken');
          },
        },
        metrics,
      );
      await new MockActivityEnvironment(info(1)).run(acts.ingestEvents);
      await new MockActivityEnvironment(info(1)).run(acts.ingestEvents);
      await new MockActivityEnvironment(info(1)).run(acts.evaluateModel);
      await expect(new MockActivityEnvironment(info(2)).run(acts.failingStep)).rejects.toThrow('row 7 is broken');
      const text = await metrics.render();
      expect(series(text, 'sluice_events_total{source="clicks",result="accepted"}')).toBe(8);
      expect(series(text, 'sluice_events_total{source="clicks",result="quarantined"}')).toBe(4);
      expect(series(text, 'sluice_events_total{source="clicks",result="duplicate"}')).toBe(6);
      expect(series(text, 'sluice_events_total{source="clicks",result="conflicting"}')).toBe(2);
      expect(series(text, 'sluice_step_duration_seconds_count{step="ingestEvents",outcome="completed"}')).toBe(2);
      expect(series(text, 'sluice_step_duration_seconds_count{step="failingStep",outcome="failed"}')).toBe(1);
      expect(series(text, 'sluice_step_failures_total{step="failingStep",code="SLUICE_TEST"}')).toBe(1);
      expect(series(text, 'sluice_model_metric{model="abababababab",metric="accuracy"}')).toBe(0.75);
      expect(text).not.toContain('metric="kind"');
    });

    it('shows the training progress of a running step from its heartbeats, and drops it when the step ends', async () => {
      const metrics = new WorkerMetrics();
      let during = '';
      const acts = recordRunEvents(
        db.pool,
        {
          async trainModel() {
            return withHeartbeat(async (hb) => {
              hb.progress({ epoch: 3, loss: 0.25 });
              during = await metrics.render();
              return { epochs: 3 };
            });
          },
        },
        metrics,
      );
      const env = new MockActivityEnvironment(info(1));
      const beats: unknown[] = [];
      env.on('heartbeat', (d: unknown) => beats.push(d));
      await env.run(acts.trainModel);
      expect(series(during, 'sluice_training_epoch{workflow_id="wf-1",step="trainModel"}')).toBe(3);
      expect(series(during, 'sluice_training_loss{workflow_id="wf-1",step="trainModel"}')).toBe(0.25);
      expect(beats).toContainEqual({ epoch: 3, loss: 0.25 }); // the heartbeat still reaches Temporal
      const after = await metrics.render();
      expect(after).not.toContain('sluice_training_epoch{');
    });

    it('renders the other metrics when the transform lag cannot be read, and says why', async () => {
      const closed = createPool(db.url, { max: 1 });
      await closed.end();
      const metrics = new WorkerMetrics(closed);
      metrics.stepDuration.observe({ step: 'ingestEvents', outcome: 'completed' }, 0.2);
      const text = await metrics.render();
      expect(text).toMatch(/^# the transform lag could not be read: /);
      expect(series(text, 'sluice_transform_lag_errors_total')).toBe(1);
      expect(series(text, 'sluice_step_duration_seconds_count{step="ingestEvents",outcome="completed"}')).toBe(1);
      expect(text).not.toContain('sluice_transform_lag_rows{');
    });
  });
});
