/**
 * Workflow determinism: every recorded history in test/histories replays against the current
 * workflow code without a non-determinism error; a planted change must be caught.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DeterminismViolationError } from '@temporalio/workflow';
import { Worker, bundleWorkflowCode } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { workflows } from '../../api/workflows';

const dir = path.resolve(__dirname, '../histories');
const files = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();

function load(file: string) {
  const { workflowId, ...history } = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as { workflowId?: string };
  return { history: temporal.api.history.v1.History.fromObject(history), workflowId };
}

function currentBundle(): { codePath: string } {
  const codePath = process.env.SLUICE_WORKFLOW_BUNDLE;
  if (!codePath) throw new Error('SLUICE_WORKFLOW_BUNDLE is not set (jest global setup builds it)');
  return { codePath };
}

describe('recorded histories replay against the current workflow code', () => {
  it('has histories to replay', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it('has a recorded history of every workflow type sluice registers', () => {
    const recorded = new Set(
      files.map((f) => {
        const { history } = load(f);
        return history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name;
      }),
    );
    const missing = Object.keys(workflows).filter((name) => !recorded.has(name));
    // record one with SLUICE_RECORD_HISTORIES=1 and the test that runs it (test/helpers/histories.ts)
    expect(missing).toEqual([]);
  });

  it.each(files)('%s', async (file) => {
    const { history, workflowId } = load(file);
    await expect(Worker.runReplayHistory({ workflowBundle: currentBundle() }, history, workflowId)).resolves.toBeUndefined();
  });

  it('a planted change to healthCheck fails with DeterminismViolationError', async () => {
    const bundle = await bundleWorkflowCode({
      workflowsPath: require.resolve('../histories/planted'),
      logger: { trace() {}, debug() {}, info() {}, log() {}, warn() {}, error() {} },
    });
    await expect(Worker.runReplayHistory({ workflowBundle: bundle }, load('healthCheck.json').history)).rejects.toBeInstanceOf(
      DeterminismViolationError,
    );
  });
});
