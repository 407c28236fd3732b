/** A worker as users run it: a separate process on workers/<entry>.ts, configured by environment. */
import { startWorkerProcess, type WorkerProcess } from '../../scripts/workerProcess';
import { testNamespace, testTemporalAddress } from './env';

export { startWorkerProcess, stopWorkerProcesses, type WorkerProcess } from '../../scripts/workerProcess';

/**
 * workers/cpu.ts against a test database and the test namespace, polling `queue` (its GPU queue
 * `<queue>-gpu`), with a one-second shutdown grace and `env` on top; resolves when it is ready.
 */
export async function startTestCpuWorker(databaseUrl: string, queue: string, env: NodeJS.ProcessEnv = {}): Promise<WorkerProcess> {
  const w = startWorkerProcess('workers/cpu.ts', {
    ...process.env,
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: testTemporalAddress(),
    TEMPORAL_NAMESPACE: testNamespace(),
    SLUICE_TASK_QUEUE_CPU: queue,
    SLUICE_TASK_QUEUE_GPU: `${queue}-gpu`,
    SLUICE_SHUTDOWN_GRACE_SECONDS: '1',
    ...env,
  });
  await w.ready;
  return w;
}
