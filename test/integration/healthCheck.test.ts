import { SluiceClient } from '../../client';
import { workflows, type HealthCheckInput, type HealthCheckResult } from '../../api';
import { SluicePipeline, SluiceStatus } from '../../api/searchAttributes';
import { startTestStack, testTemporalAddress, type TestStack } from '../helpers/env';

describe('healthCheck workflow on real workers, real Temporal, real PostgreSQL', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('runs activities on the CPU and the GPU queue and records run events', async () => {
    const workflowId = `health-test-${Date.now()}`;
    const result: HealthCheckResult = await stack.client.workflow.execute('healthCheck', {
      taskQueue: stack.config.taskQueues.cpu,
      workflowId,
      args: [{ queues: stack.config.taskQueues }],
    });
    expect(result.database.migrations).toBeGreaterThanOrEqual(1);
    expect(result.database.serverVersion).toMatch(/^\d+/);
    expect(result.cpu.inferenceOk).toBe(true);
    expect(result.gpu.inferenceOk).toBe(true);

    const { rows } = await stack.db.pool.query<{ step: string; status: string; workflow_type: string }>(
      'SELECT step, status, workflow_type FROM sluice.run_events WHERE workflow_id = $1 ORDER BY id',
      [workflowId],
    );
    const byStep = (step: string) =>
      rows
        .filter((r) => r.step === step)
        .map((r) => r.status)
        .sort();
    expect(byStep('checkWorkflowInput')).toEqual(['completed', 'started']);
    expect(byStep('describeDatabase')).toEqual(['completed', 'started']);
    expect(byStep('probeRuntime')).toEqual(['completed', 'completed', 'started', 'started']);
    expect(new Set(rows.map((r) => r.workflow_type))).toEqual(new Set(['healthCheck']));

    // The GPU probe ran on the GPU queue: its activity task queue is recorded by Temporal.
    const history = await stack.client.workflow.getHandle(workflowId).fetchHistory();
    const queues = (history.events ?? [])
      .map((e) => e.activityTaskScheduledEventAttributes?.taskQueue?.name)
      .filter((q): q is string => Boolean(q));
    expect(queues.sort()).toEqual(
      [stack.config.taskQueues.cpu, stack.config.taskQueues.cpu, stack.config.taskQueues.cpu, stack.config.taskQueues.gpu].sort(),
    );

    const description = await stack.client.workflow.getHandle(workflowId).describe();
    expect(description.typedSearchAttributes.get(SluicePipeline)).toBe('health');
    expect(description.typedSearchAttributes.get(SluiceStatus)).toBe('completed');
  });

  it('is reachable through the typed client', async () => {
    const client = await SluiceClient.connect({ config: stack.config, address: testTemporalAddress() });
    try {
      const { result } = await client.healthCheck({ gpuTaskQueue: stack.config.taskQueues.gpu });
      expect(result.cpu.onnxruntime).toMatch(/^\d+\.\d+/);
    } finally {
      await client.close();
    }
  });
});

describe('workflow input contracts', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ queues: ['cpu'] });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('the client refuses a bad input before starting anything, naming the field', async () => {
    const client = await SluiceClient.connect({ config: stack.config, address: testTemporalAddress() });
    try {
      // A caller without the types (plain JavaScript, a cast) still gets the check.
      const bad = { queues: { cpu: 7 } } as unknown as HealthCheckInput;
      await expect(client.start(workflows.healthCheck, bad, { workflowId: `bad-${Date.now()}` })).rejects.toThrow(
        /Invalid input for workflow healthCheck: \/queues\/cpu: Expected string/,
      );
    } finally {
      await client.close();
    }
  });

  it('the workflow refuses it too (a service in another language bypasses the TS client): non-retryable, names the field', async () => {
    const workflowId = `bad-raw-${Date.now()}`;
    const run = stack.client.workflow.execute('healthCheck', {
      taskQueue: stack.config.taskQueues.cpu,
      workflowId,
      args: [{ queues: { cpu: stack.config.taskQueues.cpu, gpu: stack.config.taskQueues.gpu }, extra: true }],
    });
    await expect(run).rejects.toMatchObject({
      cause: {
        cause: { type: 'SLUICE_INVALID_INPUT', nonRetryable: true, message: expect.stringMatching(/\/extra: Unexpected property/) },
      },
    });
    const { rows } = await stack.db.pool.query<{ attempt: number; status: string }>(
      "SELECT attempt, status FROM sluice.run_events WHERE workflow_id = $1 AND step = 'checkWorkflowInput' ORDER BY id",
      [workflowId],
    );
    expect(rows).toEqual([
      { attempt: 1, status: 'started' },
      { attempt: 1, status: 'failed' },
    ]);
  });
});
