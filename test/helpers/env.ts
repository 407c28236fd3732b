/**
 * Per-test-file isolation on the shared test stack: a fresh database (migrated), unique task
 * queues, real workers and a real client.
 */
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { loadConfig, type SluiceConfig } from '../../config';
import { createScratchDatabase, type ScratchDatabase } from '../../db/scratch';
import { registerSearchAttributes } from '../../scripts/provision/temporal';
import { createWorkerSet, type WorkerSet } from '../../workers/bootstrap';

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the tests through jest (its global setup provisions the stack)`);
  return v;
}

export const testTemporalAddress = (): string => required('SLUICE_TEST_TEMPORAL_ADDRESS');
export const testNamespace = (): string => required('SLUICE_TEST_NAMESPACE');
export const testAdminDatabaseUrl = (): string => required('SLUICE_TEST_DATABASE_URL');

export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

export type TestDatabase = ScratchDatabase;

/** A new, migrated database on the test server; `drop()` removes it. */
export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  return createScratchDatabase(testAdminDatabaseUrl(), {
    prefix: 'sluice_t',
    poolMax: 8,
    applicationName: 'sluice-test',
    migrate: options.migrate,
  });
}

/** Configuration pointing at the test stack, with unique task queues. */
export function testConfig(overrides: Partial<SluiceConfig> = {}): SluiceConfig {
  const base = loadConfig({ ...process.env, TEMPORAL_ADDRESS: testTemporalAddress(), TEMPORAL_NAMESPACE: testNamespace() });
  const id = randomBytes(4).toString('hex');
  return {
    ...base,
    taskQueues: { cpu: `test-${id}-cpu`, gpu: `test-${id}-gpu` },
    shutdownGraceSeconds: 5,
    ...overrides,
  };
}

export interface TestStack {
  config: SluiceConfig;
  db: TestDatabase;
  workers: WorkerSet;
  client: Client;
  /** Resolves when the workers have stopped. */
  running: Promise<void>;
  close(): Promise<void>;
}

/**
 * A namespace of its own for one test file, with sluice's search attributes. Workflow ids derived
 * from names (`ingest-<source>`, `transform-<name>`) are unique per namespace, so test files that
 * run at the same time must not share one.
 */
export async function createTestNamespace(connection: Connection): Promise<string> {
  const namespace = uniqueName('t');
  await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
  await registerSearchAttributes(connection, namespace);
  return namespace;
}

/** Database + CPU and GPU workers on unique queues in a namespace of its own + a Temporal client; `close()` undoes it all. */
export async function startTestStack(options: { config?: Partial<SluiceConfig>; queues?: ('cpu' | 'gpu')[] } = {}): Promise<TestStack> {
  const connection = await Connection.connect({ address: testTemporalAddress() });
  const namespace = await createTestNamespace(connection);
  const base = testConfig(options.config);
  const config = { ...base, temporal: { ...base.temporal, namespace } };
  const db = await createTestDatabase();
  const quiet = (): void => undefined;
  const workers = await createWorkerSet({
    config,
    databaseUrl: db.url,
    queues: options.queues ?? ['cpu', 'gpu'],
    log: quiet,
    migrate: false,
    connectTimeoutMs: 15_000,
  });
  const running = workers.run();
  const client = new Client({ connection, namespace });
  return {
    config,
    db,
    workers,
    client,
    running,
    async close() {
      workers.shutdown();
      await running;
      await connection.close();
      await db.drop();
    },
  };
}

/** The environment of a process (a worker, the CLI) that uses a test stack's database, namespace and task queues. */
export function stackEnv(stack: Pick<TestStack, 'config' | 'db'>): NodeJS.ProcessEnv {
  return {
    ...process.env,
    DATABASE_URL: stack.db.url,
    TEMPORAL_ADDRESS: testTemporalAddress(),
    TEMPORAL_NAMESPACE: stack.config.temporal.namespace,
    SLUICE_TASK_QUEUE_CPU: stack.config.taskQueues.cpu,
    SLUICE_TASK_QUEUE_GPU: stack.config.taskQueues.gpu,
  };
}
