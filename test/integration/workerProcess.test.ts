// The worker entry points as users run them: separate processes for sluice-cpu and sluice-gpu,
// configured by environment variables, stopped by SIGTERM.
import { Client, Connection } from '@temporalio/client';
import type { HealthCheckResult } from '../../api';
import { startWorkerProcess } from '../helpers/workerProcess';
import { createTestDatabase, testNamespace, testTemporalAddress, uniqueName, type TestDatabase } from '../helpers/env';

describe('worker processes (workers/cpu.ts, workers/gpu.ts)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('serve their queues, migrate the database once, and exit cleanly on SIGTERM', async () => {
    const queue = uniqueName('proc');
    const env = {
      ...process.env,
      TEMPORAL_ADDRESS: testTemporalAddress(),
      TEMPORAL_NAMESPACE: testNamespace(),
      // the worker role's URL, with the owner's for migrations: how a deployment runs them
      DATABASE_URL: db.url,
      SLUICE_DATABASE_OWNER_URL: db.ownerUrl,
      SLUICE_TASK_QUEUE_CPU: `${queue}-cpu`,
      SLUICE_TASK_QUEUE_GPU: `${queue}-gpu`,
      SLUICE_SHUTDOWN_GRACE_SECONDS: '5',
    };
    // both start at once against an empty database: the migration lock lets one of them migrate
    const cpu = startWorkerProcess('workers/cpu.ts', env);
    const gpu = startWorkerProcess('workers/gpu.ts', env);
    try {
      await Promise.all([cpu.ready, gpu.ready]);
      const connection = await Connection.connect({ address: testTemporalAddress() });
      const client = new Client({ connection, namespace: testNamespace() });
      const result: HealthCheckResult = await client.workflow.execute('healthCheck', {
        taskQueue: `${queue}-cpu`,
        workflowId: uniqueName('proc-health'),
        args: [{ queues: { cpu: `${queue}-cpu`, gpu: `${queue}-gpu` } }],
      });
      await connection.close();
      expect(result.gpu.inferenceOk).toBe(true);
      const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM sluice.schema_migrations');
      expect(rows[0]!.n).toBeGreaterThanOrEqual(2);
      expect((cpu.output() + gpu.output()).match(/applied migration 0001_log\.sql/g)).toHaveLength(1);
    } finally {
      cpu.child.kill('SIGTERM');
      gpu.child.kill('SIGTERM');
    }
    const [cpuCode, gpuCode] = await Promise.all([cpu.exit, gpu.exit]);
    expect(cpu.output()).toMatch(/SIGTERM received: finishing running activities/);
    expect(cpu.output()).toMatch(/workers stopped/);
    expect([cpuCode, gpuCode]).toEqual([0, 0]);
  });

  it('refuse a bad configuration with the variable, the value and what is expected', async () => {
    const bad = startWorkerProcess('workers/gpu.ts', { ...process.env, DATABASE_URL: db.url, SLUICE_GPU_COUNT: 'lots' });
    await expect(bad.ready).rejects.toThrow(/exited with 1 before it was ready/);
    expect(await bad.exit).toBe(1);
    // one JSON object a line (SLUICE_LOG_FORMAT's default for workers)
    const last = JSON.parse(bad.output().trim().split('\n').pop() as string) as { level: string; message: string };
    expect(last.level).toBe('ERROR');
    expect(last.message).toMatch(/SLUICE_GPU_COUNT="lots": expected an integer from 1 to 64/);
  });
});
