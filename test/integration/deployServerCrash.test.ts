// Crash safety of a deployment when the Temporal server itself dies: a dev server of this test's own
// (its history in a database file, as `npm run dev` runs it) is SIGKILLed while a deployment waits
// out its shadow period, and again while the promotion is inside its transaction. Each time the
// server comes back on the same file and port, the worker process that outlived it goes on, the
// workflow completes, and the endpoint has exactly one champion, moved exactly once.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalArtifactStore } from '../../activities/artifacts';
import { SluiceClient } from '../../client';
import { pollUntil } from '../../client/poll';
import { loadConfig, type SluiceConfig } from '../../config';
import { ensureTemporal, findTemporalCli } from '../../scripts/provision';
import type { TemporalEndpoint } from '../../scripts/provision/temporal';
import { findFreePort, isProcessAlive } from '../../scripts/provision/process';
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
import { createTestDatabase, type TestDatabase } from '../helpers/env';
import { startWorkerProcess, stopWorkerProcesses, type WorkerProcess } from '../helpers/workerProcess';

const D1 = 'e'.repeat(64);
const MODEL = 'server_crash';

const cli = findTemporalCli(loadConfig(process.env));
// The dev server binary is what CI builds (or finds) in its global setup; with only a remote
// TEMPORAL_ADDRESS there is no server of our own to kill.
const describeWithCli = cli ? describe : describe.skip;
if (!cli) console.warn('deployServerCrash: no Temporal CLI found (TEMPORAL_CLI_PATH, PATH, cache): skipped');

describeWithCli('deploy: SIGKILL of the Temporal server during shadow and during promote', () => {
  let db: TestDatabase;
  let config: SluiceConfig;
  let client: SluiceClient;
  let dir: string;
  let store: LocalArtifactStore;
  let server: TemporalEndpoint | undefined;
  const workers: WorkerProcess[] = [];

  const startServer = async (): Promise<TemporalEndpoint> =>
    ensureTemporal(config, {
      dataDir: path.join(dir, 'temporal'),
      allowOtherPorts: false, // the worker and the client reconnect to the same address
      reuseRunning: false,
      allowBuild: false,
      allowDownload: false,
      log: () => undefined,
    });
  /** SIGKILL, as a crash: the server's pid from the state file it writes beside its database. */
  const killServer = async (): Promise<void> => {
    const { pid } = JSON.parse(fs.readFileSync(path.join(dir, 'temporal', 'server.json'), 'utf8')) as { pid: number };
    process.kill(pid, 'SIGKILL');
    await pollUntil('the Temporal server gone', async () => (isProcessAlive(pid) ? undefined : true), { timeoutMs: 10_000 });
    server = undefined;
  };
  const aliases = (): Promise<Record<string, number>> => modelAliases(db.pool, MODEL);
  const moves = (alias: string, version: number): Promise<number> => aliasMoves(db.pool, MODEL, alias, version);
  const started = (workflowId: string, step: string): Promise<true> => stepStarted(db.pool, workflowId, step);

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-server-crash-'));
    store = new LocalArtifactStore(path.join(dir, 'artifacts'));
    const base = loadConfig({ ...process.env, TEMPORAL_ADDRESS: '' });
    const [port, uiPort] = [await findFreePort(), await findFreePort()];
    config = {
      ...base,
      temporal: { ...base.temporal, address: undefined, namespace: 'default' },
      devServer: { ...base.devServer, port, uiPort: uiPort === port ? port + 1 : uiPort },
      taskQueues: { cpu: 'crash-cpu', gpu: 'crash-gpu' },
      artifactsDir: path.join(dir, 'artifacts'),
    };
    server = await startServer();
    db = await createTestDatabase();
    await db.pool.query('INSERT INTO sluice.datasets (id, row_count) VALUES ($1, 1000)', [D1]);
    client = await SluiceClient.connect({ config, address: server.address });
    const w = startWorkerProcess('workers/cpu.ts', {
      ...process.env,
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: server.address,
      TEMPORAL_NAMESPACE: 'default',
      SLUICE_TASK_QUEUE_CPU: config.taskQueues.cpu,
      SLUICE_TASK_QUEUE_GPU: config.taskQueues.gpu,
      SLUICE_ARTIFACTS: config.artifactsDir,
      SLUICE_SHUTDOWN_GRACE_SECONDS: '1',
    });
    workers.push(w);
    await w.ready;
  }, 120_000);
  afterAll(async () => {
    await stopWorkerProcesses(workers);
    await client?.close();
    await server?.stop();
    await db?.drop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('killed while the deployment waits out its shadow period: the server comes back, the same worker goes on, promotes once', async () => {
    for (const accuracy of [0.8, 0.9]) await registerVersion(db.pool, store, MODEL, { datasetId: D1, metrics: { accuracy } });
    await (await client.deploy({ model: MODEL, version: 1, endpoint: SHADOW_ENDPOINT, policy: gatePolicy() })).result();
    const handle = await client.deploy({
      model: MODEL,
      version: 2,
      endpoint: SHADOW_ENDPOINT,
      policy: gatePolicy({ shadow: { maxRequests: 4, windowSeconds: 600, minAgreement: 0.9 } }),
    });
    await started(handle.workflowId, 'awaitShadowSession');
    await killServer();
    expect(await aliases()).toEqual({ champion: 1 });
    const { rows } = await db.pool.query<{ id: string }>('SELECT id::text FROM sluice.shadow_sessions WHERE run_id = $1', [
      handle.firstExecutionRunId,
    ]);
    expect(rows).toHaveLength(1);
    // the requests the shadow period waits for arrive while the server is down
    await db.pool.query('SELECT 1'); // the database is not affected
    server = await startServer();
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
    expect(workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null)).toHaveLength(1);
  }, 180_000);

  it('killed while the promotion is inside its transaction: nothing half-promoted; it completes once the server is back', async () => {
    await registerVersion(db.pool, store, MODEL, { datasetId: D1, metrics: { accuracy: 0.95 } });
    const hold = await holdChampionAlias(db.pool, MODEL);
    let handle;
    try {
      handle = await client.deploy({ model: MODEL, version: 3, endpoint: SHADOW_ENDPOINT, policy: gatePolicy() });
      await started(handle.workflowId, 'promoteCandidate');
      await promotionWaitingOnLock(db.pool);
      await killServer();
      expect(await aliases()).toEqual({ champion: 2, previous: 1 });
    } finally {
      // the promotion goes on while the server is down: its transaction commits, its completion
      // cannot be reported until the server is back
      await hold.release();
    }
    server = await startServer();
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'promoted', championBefore: 2, championAfter: 3 });
    expect(await aliases()).toEqual({ champion: 3, previous: 2 });
    expect([await moves('champion', 3), await moves('previous', 2)]).toEqual([1, 1]);
  }, 240_000);
});
