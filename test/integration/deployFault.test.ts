// Crash safety of a deployment: the CPU worker process is SIGKILLed while the deployment waits out
// its shadow period, and again inside the promotion's transaction. Each time a new worker process
// comes up, the workflow completes, and the endpoint has exactly one champion, moved exactly once.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Connection } from '@temporalio/client';
import { LocalArtifactStore } from '../../activities/artifacts';
import { DeployRefusedError, SluiceClient } from '../../client';
import type { SluiceConfig } from '../../config';
import {
  aliasMoves,
  gatePolicy,
  holdChampionAlias,
  modelAliases,
  promotionWaitingOnLock,
  registerVersion,
  SHADOW_ENDPOINT,
  shadowedPredictions,
  stepStarted,
} from '../helpers/deploy';
import { createTestDatabase, createTestNamespace, testConfig, testTemporalAddress, type TestDatabase } from '../helpers/env';
import { startWorkerProcess, stopWorkerProcesses, type WorkerProcess } from '../helpers/workerProcess';

const D1 = 'd'.repeat(64);
const MODEL = 'faulty';

describe('deploy: SIGKILL of the CPU worker during shadow and during promote', () => {
  let db: TestDatabase;
  let connection: Connection;
  let config: SluiceConfig;
  let client: SluiceClient;
  let dir: string;
  let store: LocalArtifactStore;
  const workers: WorkerProcess[] = [];

  const startWorker = async (): Promise<WorkerProcess> => {
    const w = startWorkerProcess('workers/cpu.ts', {
      ...process.env,
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: testTemporalAddress(),
      TEMPORAL_NAMESPACE: config.temporal.namespace,
      SLUICE_TASK_QUEUE_CPU: config.taskQueues.cpu,
      SLUICE_TASK_QUEUE_GPU: config.taskQueues.gpu,
      SLUICE_ARTIFACTS: dir,
      SLUICE_SHUTDOWN_GRACE_SECONDS: '1',
    });
    workers.push(w);
    await w.ready;
    return w;
  };
  const kill = async (w: WorkerProcess): Promise<void> => {
    w.child.kill('SIGKILL');
    await w.exit;
  };
  const aliases = (): Promise<Record<string, number>> => modelAliases(db.pool, MODEL);
  const moves = (alias: string, version: number): Promise<number> => aliasMoves(db.pool, MODEL, alias, version);
  const started = (workflowId: string, step: string): Promise<true> => stepStarted(db.pool, workflowId, step);

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-deploy-fault-'));
    store = new LocalArtifactStore(dir);
    connection = await Connection.connect({ address: testTemporalAddress() });
    const namespace = await createTestNamespace(connection);
    const base = testConfig({ artifactsDir: dir });
    config = { ...base, temporal: { ...base.temporal, namespace } };
    db = await createTestDatabase();
    await db.pool.query('INSERT INTO sluice.datasets (id, row_count) VALUES ($1, 1000)', [D1]);
    client = await SluiceClient.connect({ config, address: testTemporalAddress() });
  });
  afterAll(async () => {
    await stopWorkerProcesses(workers);
    await client?.close();
    await connection?.close();
    await db?.drop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('killed while waiting out the shadow period: a new worker goes on waiting, compares, ends the session once and promotes once', async () => {
    const first = await startWorker();
    for (const accuracy of [0.8, 0.9]) await registerVersion(db.pool, store, MODEL, { datasetId: D1, metrics: { accuracy } });
    await (await client.deploy({ model: MODEL, version: 1, endpoint: SHADOW_ENDPOINT, policy: gatePolicy() })).result();
    const handle = await client.deploy({
      model: MODEL,
      version: 2,
      endpoint: SHADOW_ENDPOINT,
      policy: gatePolicy({ shadow: { maxRequests: 4, windowSeconds: 600, minAgreement: 0.9 } }),
    });
    await started(handle.workflowId, 'awaitShadowSession');
    await kill(first);
    expect(await aliases()).toEqual({ champion: 1 });

    await startWorker();
    const { rows } = await db.pool.query<{ id: string }>('SELECT id::text FROM sluice.shadow_sessions WHERE run_id = $1', [
      handle.firstExecutionRunId,
    ]);
    expect(rows).toHaveLength(1);
    await client.ingest(
      `predictions_${SHADOW_ENDPOINT}`,
      shadowedPredictions(rows[0]!.id, 4, { agree: () => true, championVersion: 1, candidateVersion: 2 }),
    );
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'promoted', championBefore: 1, championAfter: 2, shadow: { requests: 4, agreement: 1 } });
    expect(await aliases()).toEqual({ champion: 2, previous: 1 });
    expect([await moves('champion', 2), await moves('previous', 1)]).toEqual([1, 1]);
    const ends = await db.pool.query('SELECT outcome FROM sluice.shadow_session_ends WHERE session_id = $1', [rows[0]!.id]);
    expect(ends.rows).toEqual([{ outcome: 'completed' }]);
    // the waiting activity ran more than once: the first attempt died with its worker
    const attempts = await db.pool.query<{ attempt: number }>(
      "SELECT DISTINCT attempt FROM sluice.run_events WHERE workflow_id = $1 AND run_id = $2 AND step = 'awaitShadowSession'",
      [handle.workflowId, handle.firstExecutionRunId],
    );
    expect(attempts.rows.length).toBeGreaterThan(1);
  });

  it('killed inside the promotion transaction: nothing half-promoted; the retry on a new worker promotes once, previous moved once', async () => {
    const [second] = workers.slice(-1);
    await registerVersion(db.pool, store, MODEL, { datasetId: D1, metrics: { accuracy: 0.95 } });
    // hold the champion's alias lock so the promotion stops inside its transaction, after its first statements
    const hold = await holdChampionAlias(db.pool, MODEL);
    let handle;
    try {
      handle = await client.deploy({ model: MODEL, version: 3, endpoint: SHADOW_ENDPOINT, policy: gatePolicy() });
      await started(handle.workflowId, 'promoteCandidate');
      await promotionWaitingOnLock(db.pool);
      await kill(second!);
      // a deploy of the endpoint is running: a second one is refused, not raced
      await expect(client.deploy({ model: MODEL, version: 3, endpoint: SHADOW_ENDPOINT, policy: gatePolicy() })).rejects.toBeInstanceOf(
        DeployRefusedError,
      );
    } finally {
      await hold.release();
    }
    // the dead worker's transaction never commits
    await new Promise((r) => setTimeout(r, 1000));
    expect(await aliases()).toEqual({ champion: 2, previous: 1 });

    await startWorker();
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'promoted', championBefore: 2, championAfter: 3 });
    expect(await aliases()).toEqual({ champion: 3, previous: 2 });
    expect([await moves('champion', 3), await moves('previous', 2)]).toEqual([1, 1]);
    const attempts = await db.pool.query<{ attempt: number; status: string }>(
      "SELECT attempt, status FROM sluice.run_events WHERE workflow_id = $1 AND run_id = $2 AND step = 'promoteCandidate' ORDER BY id",
      [handle.workflowId, handle.firstExecutionRunId],
    );
    expect(attempts.rows.at(-1)).toMatchObject({ status: 'completed' });
    expect(attempts.rows.at(-1)!.attempt).toBeGreaterThan(1);
  });
});
