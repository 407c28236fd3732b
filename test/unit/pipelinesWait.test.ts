// `sluice pipelines start --wait`: the progress line (the step; for `train`, the epochs from the
// training activity's heartbeat) and the polling until the run's steps are done, against a fake run.
import type { TrainingProgress } from '../../activities/train/activities';
import type { PipelineStatus, PipelineStepName, PipelineStepStatus } from '../../api/workflows/pipeline';
import { pipelineProgressText, waitForPipeline, type PipelineWatch } from '../../client/pipelines';

function step(name: PipelineStepName, state: PipelineStepStatus['state'], workflowId: string | null = null): PipelineStepStatus {
  return {
    step: name,
    state,
    attempt: state === 'pending' ? 0 : 1,
    workflowId,
    startedAt: null,
    finishedAt: null,
    durationMs: null,
    counts: {},
    links: {},
    output: null,
    error: null,
  };
}

function status(state: PipelineStatus['state'], currentStep: PipelineStepName | null, steps: PipelineStepStatus[]): PipelineStatus {
  return {
    pipeline: 'churn',
    specVersion: 3,
    triggerKey: 'k1',
    reason: 'test',
    state,
    currentStep,
    steps,
    reruns: [],
    refusedReruns: [],
    rerunUntil: null,
  };
}

const training = (p: Partial<TrainingProgress>): TrainingProgress => ({ epoch: 0, ...p });

describe('pipelines start --wait', () => {
  it('renders the step, and for train the epochs of maxEpochs with a bar, loss and validation metric', () => {
    const snapshotRunning = status('running', 'snapshot', [step('snapshot', 'running', 'snap-1'), step('train', 'pending')]);
    expect(pipelineProgressText(snapshotRunning, undefined)).toBe('pipeline churn v3: snapshot');

    const trainRunning = status('running', 'train', [step('snapshot', 'completed'), step('train', 'running', 'train-1')]);
    expect(pipelineProgressText(trainRunning, undefined)).toBe('pipeline churn v3: train');
    expect(
      pipelineProgressText(
        trainRunning,
        training({ epoch: 12, maxEpochs: 30, loss: 0.312345, validationMetric: 0.9412, validationMetricName: 'accuracy' }),
      ),
    ).toBe('pipeline churn v3: train [##########--------------] 40% epoch 12/30, loss 0.3123, validation accuracy 0.9412');
    // inside an epoch the bar moves with its rows; before the first epoch there is no loss yet
    expect(pipelineProgressText(trainRunning, training({ epoch: 0, maxEpochs: 4, epochRows: { done: 50, total: 100 } }))).toBe(
      'pipeline churn v3: train [###---------------------] 13% epoch 0/4',
    );
    // a command trainer's progress may have no maxEpochs: the epoch alone
    expect(pipelineProgressText(trainRunning, training({ epoch: 7 }))).toBe('pipeline churn v3: train epoch 7');
  });

  it('polls the status and the running train child until the run is no longer running, and returns the last status', async () => {
    const statuses = [
      status('running', 'snapshot', [step('snapshot', 'running', 'snap-1'), step('train', 'pending')]),
      status('running', 'train', [step('snapshot', 'completed'), step('train', 'running', 'train-child')]),
      status('running', 'train', [step('snapshot', 'completed'), step('train', 'running', 'train-child')]),
      status('running', 'train', [step('snapshot', 'completed'), step('train', 'running', 'train-child')]),
      status('waiting', null, [step('snapshot', 'completed'), step('train', 'completed', 'train-child')]),
    ];
    // then the child evaluates: its pending activity's heartbeat is not training's
    const progress: unknown[] = [
      training({ epoch: 1, maxEpochs: 2, loss: 0.5 }),
      training({ epoch: 2, maxEpochs: 2, loss: 0.25 }),
      { rows: 10 },
    ];
    const asked: string[] = [];
    const watch: PipelineWatch = {
      pipelineStatus: (id) => {
        asked.push(`status ${id}`);
        return Promise.resolve(statuses.shift() as PipelineStatus);
      },
      activityProgress: <T>(id: string) => {
        asked.push(`progress ${id}`);
        return Promise.resolve(progress.shift() as T | undefined);
      },
    };
    const lines: string[] = [];
    const sleeps: number[] = [];
    const final = await waitForPipeline(watch, 'pipeline-churn-k1', (t) => lines.push(t), {
      everyMs: 250,
      sleep: (ms) => {
        sleeps.push(ms);
        return Promise.resolve();
      },
    });
    expect(final.state).toBe('waiting');
    expect(lines).toEqual([
      'pipeline churn v3: snapshot',
      'pipeline churn v3: train [############------------] 50% epoch 1/2, loss 0.5000',
      'pipeline churn v3: train [########################] 100% epoch 2/2, loss 0.2500',
      'pipeline churn v3: train',
    ]);
    // the training progress is read from the train step's child workflow, never from the pipeline's own id
    expect(asked).toEqual([
      'status pipeline-churn-k1',
      'status pipeline-churn-k1',
      'progress train-child',
      'status pipeline-churn-k1',
      'progress train-child',
      'status pipeline-churn-k1',
      'progress train-child',
      'status pipeline-churn-k1',
    ]);
    expect(sleeps).toEqual([250, 250, 250, 250]);
  });

  it('shows the step when the training progress cannot be read (a describe that fails)', async () => {
    const statuses = [
      status('running', 'train', [step('train', 'running', 'train-child')]),
      status('failed', 'train', [step('train', 'failed', 'train-child')]),
    ];
    const watch: PipelineWatch = {
      pipelineStatus: () => Promise.resolve(statuses.shift() as PipelineStatus),
      activityProgress: () => Promise.reject(new Error('workflow not found')),
    };
    const lines: string[] = [];
    const final = await waitForPipeline(watch, 'p', (t) => lines.push(t), { sleep: () => Promise.resolve() });
    expect(final.state).toBe('failed');
    expect(lines).toEqual(['pipeline churn v3: train']);
  });
});
