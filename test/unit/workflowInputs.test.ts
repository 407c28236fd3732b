// One declaration per workflow input (api/workflows): the published JSON Schema, the TypeScript
// types and every check derive from it, and nothing drifts apart.
import * as fs from 'node:fs';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { checkValue, checkWorkflowInput } from '../../api/check';
import { workflows, type WorkflowName } from '../../api/workflows';
import type { WorkflowFn } from '../../api/workflows/define';
import { IngestBatchRequestSchema } from '../../api/workflows/ingest';
import { inputSchemaPath, publishedInputSchema, publishedInputSchemaText, workflowsWithInputSchemas } from '../../contracts/workflowInputs';
import * as workflowFunctions from '../../workflows';

// Compile-time: every registered workflow function has exactly its declared input and result types.
const typed: { [K in WorkflowName]: WorkflowFn<(typeof workflows)[K]> } = workflowFunctions;

const names = Object.keys(workflows) as WorkflowName[];

describe('workflow input declarations', () => {
  it('declares exactly the workflows the worker registers', () => {
    expect(Object.keys(typed).sort()).toEqual(Object.keys(workflowFunctions).sort());
    expect(names.sort()).toEqual(Object.keys(workflowFunctions).sort());
  });

  it.each(names)(
    'contracts/workflows/%s.input.json is its declaration, byte for byte (run `npm run schemas` after changing one)',
    (name) => {
      const file = inputSchemaPath(name);
      expect(fs.existsSync(file)).toBe(true);
      expect(fs.readFileSync(file, 'utf8')).toBe(publishedInputSchemaText(workflows[name]));
    },
  );

  it('publishes no schema for a workflow that is not declared', () => {
    expect(workflowsWithInputSchemas()).toEqual([...names].sort());
  });

  it('a committed schema that drifts from its declaration is caught', () => {
    const drifted = { ...publishedInputSchema(workflows.backfill), required: ['transform', 'version'] };
    expect(`${JSON.stringify(drifted, null, 2)}\n`).not.toBe(publishedInputSchemaText(workflows.backfill));
  });
});

// Other languages validate with their own JSON Schema library; ajv in strict mode stands in for
// them: it must compile every published schema and agree with sluice's own check.
const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);

const samples: { name: WorkflowName; input: unknown; valid: boolean }[] = [
  { name: 'healthCheck', input: {}, valid: true },
  { name: 'healthCheck', input: { queues: { cpu: 'a', gpu: 'b' } }, valid: true },
  { name: 'healthCheck', input: { queues: { cpu: 7 } }, valid: false },
  { name: 'healthCheck', input: { extra: true }, valid: false },
  { name: 'ingest', input: { source: 'page_views' }, valid: true },
  { name: 'ingest', input: { source: 'Page-Views' }, valid: false },
  { name: 'ingest', input: { source: 'a'.repeat(64) }, valid: false },
  { name: 'ingest', input: { source: 'a'.repeat(63) }, valid: true },
  { name: 'ingest', input: { source: 's', pending: [{ kind: 'inline', batchId: 'b1', events: [{ a: 1 }] }] }, valid: true },
  {
    name: 'ingest',
    input: { source: 's', pending: [{ kind: 'file', batchId: 'b1', location: { kind: 'file', path: '/x' }, format: 'csv' }] },
    valid: true,
  },
  {
    name: 'ingest',
    input: { source: 's', pending: [{ kind: 'file', batchId: 'b1', location: { kind: 'file', path: '/x' }, format: 'xml' }] },
    valid: false,
  },
  { name: 'ingest', input: { source: 's', pending: [{ kind: 'redrive', batchId: 'b1', events: [] }] }, valid: false },
  { name: 'ingest', input: { source: 's', continueAsNewAfterEvents: 10 }, valid: false },
  { name: 'transform', input: { transform: 'clicks', parallelism: 2 }, valid: true },
  { name: 'transform', input: { transform: 'clicks', parallelism: 0 }, valid: false },
  { name: 'registerTransform', input: { name: 'clicks', version: 1, sources: ['clicks'], sql: 'SELECT 1' }, valid: true },
  { name: 'registerTransform', input: { name: 'clicks', version: 1, sources: ['clicks', 'clicks'], sql: 'SELECT 1' }, valid: false },
  { name: 'registerTransform', input: { name: 'Bad-Name', version: 1, sources: ['clicks'], sql: 'SELECT 1' }, valid: false },
  { name: 'backfill', input: { transform: 'clicks', fromSeq: '1', toSeq: '0' }, valid: true },
  { name: 'backfill', input: { transform: 'clicks', fromSeq: '0' }, valid: false },
  { name: 'backfill', input: { transform: 'clicks', expectedSha256: 'ABC' }, valid: false },
  {
    name: 'backfillRange',
    input: { buildId: 'ab'.repeat(8), transform: 't', version: 1, fromSeq: '1', toSeq: '9', chunkRows: 10 },
    valid: true,
  },
  { name: 'backfillRange', input: { buildId: 'xyz', transform: 't', version: 1, fromSeq: '1', toSeq: '9', chunkRows: 10 }, valid: false },
  { name: 'validate', input: { contract: 'page_views', dataset: { kind: 'log', source: 'page_views' } }, valid: true },
  { name: 'validate', input: { contract: 'page_views', dataset: { kind: 'table', table: 't', schema: 'sluice_reference' } }, valid: true },
  { name: 'validate', input: { contract: 'page_views', dataset: { kind: 'table' } }, valid: false },
  {
    name: 'validate',
    input: { contract: 'page_views', dataset: { kind: 'arrow', sha256: 'a'.repeat(64) }, sampleSize: 101 },
    valid: false,
  },
  {
    name: 'train',
    input: {
      model: 'churn',
      datasetId: 'a'.repeat(64),
      spec: { features: [{ name: 'x', kind: 'numeric' }], label: 'y', task: 'binary' },
      trainer: { trainer: 'logistic_regression' },
      seed: 1,
    },
    valid: true,
  },
  {
    name: 'train',
    input: {
      model: 'churn',
      datasetId: 'a'.repeat(64),
      spec: { features: [], label: 'y', task: 'binary' },
      trainer: { trainer: 'mlp', hiddenLayers: [8, 8, 8] },
      seed: 1,
    },
    valid: false,
  },
  {
    name: 'train',
    input: {
      model: 'churn',
      datasetId: 'a'.repeat(64),
      spec: { features: [{ name: 'x', kind: 'numeric' }], label: 'y', task: 'binary' },
      trainer: { trainer: 'xgboost' },
      seed: 1,
    },
    valid: false,
  },
  {
    name: 'train',
    input: {
      model: 'churn',
      datasetId: 'a'.repeat(64),
      spec: { features: [{ name: 'x', kind: 'numeric' }], label: 'y', task: 'binary' },
      trainer: {
        trainer: 'command',
        command: ['python3', 'examples/trainers/torch_logistic.py'],
        params: { epochs: 5 },
        timeoutSeconds: 600,
      },
      seed: 1,
    },
    valid: true,
  },
  {
    name: 'train',
    input: {
      model: 'churn',
      datasetId: 'a'.repeat(64),
      spec: { features: [{ name: 'x', kind: 'numeric' }], label: 'y', task: 'binary' },
      trainer: { trainer: 'command', command: [], timeoutSeconds: 0 },
      seed: 1,
    },
    valid: false,
  },
  { name: 'evaluate', input: { onnxSha256: 'a'.repeat(64), testSplit: { arrowSha256: 'b'.repeat(64) }, task: 'binary' }, valid: true },
  {
    name: 'evaluate',
    input: {
      onnxSha256: 'a'.repeat(64),
      testSplit: { arrowSha256: 'b'.repeat(64), splitColumn: 'fold', testValues: ['holdout', 3] },
      task: 'multiclass',
      classes: [0, 1, 'two'],
      lineage: {
        model: 'churn',
        version: 2,
        logRange: { orders: { fromSeq: '1', toSeq: '900' } },
        contracts: { orders: ['1.0.0'] },
        parameters: { l2: 1 },
        codeDirty: null,
      },
      latency: { runs: 50, budgetMs: 1000 },
    },
    valid: true,
  },
  { name: 'evaluate', input: { onnxSha256: 'a'.repeat(64), testSplit: { arrowSha256: 'b'.repeat(64) }, task: 'ranking' }, valid: false },
  {
    name: 'evaluate',
    input: { onnxSha256: 'a'.repeat(64), testSplit: { arrowSha256: 'b'.repeat(64), testValues: [] }, task: 'binary' },
    valid: false,
  },
  {
    name: 'evaluate',
    input: {
      onnxSha256: 'a'.repeat(64),
      testSplit: { arrowSha256: 'b'.repeat(64) },
      task: 'binary',
      lineage: { logRange: { orders: { fromSeq: 'one' } } },
    },
    valid: false,
  },
  {
    name: 'snapshot',
    input: { transform: 'orders', spec: { features: [{ name: 'amount', kind: 'numeric' }], label: 'churned', task: 'binary' } },
    valid: true,
  },
  {
    name: 'snapshot',
    input: {
      transform: 'orders',
      version: 2,
      fromSeq: '1',
      toSeq: '900',
      columns: ['amount', 'churned'],
      spec: {
        features: [{ name: 'amount', kind: 'numeric' }],
        label: 'churned',
        task: 'regression',
        split: { key: 'user_id', train: 0.7, validation: 0.15, test: 0.15 },
      },
    },
    valid: true,
  },
  { name: 'snapshot', input: { transform: 'orders', spec: { features: [], label: 'churned', task: 'binary' } }, valid: false },
  {
    name: 'snapshot',
    input: { transform: 'orders', spec: { features: [{ name: 'amount', kind: 'ordinal' }], label: 'churned', task: 'binary' } },
    valid: false,
  },
  {
    name: 'snapshot',
    input: {
      transform: 'orders',
      fromSeq: '0',
      spec: { features: [{ name: 'amount', kind: 'numeric' }], label: 'churned', task: 'binary' },
    },
    valid: false,
  },
  {
    name: 'snapshot',
    input: {
      transform: 'orders',
      spec: { features: [{ name: 'amount', kind: 'numeric' }], label: 'churned', task: 'binary', split: { train: 0 } },
    },
    valid: false,
  },
  {
    name: 'snapshot',
    input: { transform: 'orders', spec: { features: [{ name: 'Amount"; DROP', kind: 'numeric' }], label: 'churned', task: 'binary' } },
    valid: false,
  },
  {
    name: 'deploy',
    input: { model: 'churn', version: 2, endpoint: 'churn', policy: { gate: { metric: 'accuracy', margin: 0.01 }, onConflict: 'refuse' } },
    valid: true,
  },
  {
    name: 'deploy',
    input: {
      model: 'churn',
      version: 2,
      endpoint: 'churn-eu',
      actor: 'ci',
      policy: {
        gate: {
          metric: 'rocAuc',
          margin: 0,
          guards: [
            { metric: 'logLoss', maxWorsening: 0.01 },
            { metric: 'p99LatencyMs', maxWorsening: 2 },
          ],
        },
        approval: { required: true, timeoutSeconds: 3600 },
        shadow: { maxRequests: 1000, windowSeconds: 600, minAgreement: 0.9, maxLatencyRatio: 1.5, labels: { source: 'churn_labels' } },
        watchSeconds: 600,
        onConflict: 'wait',
      },
    },
    valid: true,
  },
  {
    name: 'deploy',
    input: { model: 'churn', version: 0, endpoint: 'churn', policy: { gate: { metric: 'accuracy', margin: 0 }, onConflict: 'wait' } },
    valid: false,
  },
  {
    name: 'deploy',
    input: { model: 'churn', version: 1, endpoint: 'Churn', policy: { gate: { metric: 'accuracy', margin: 0 }, onConflict: 'wait' } },
    valid: false,
  },
  {
    name: 'deploy',
    input: { model: 'churn', version: 1, endpoint: 'churn', policy: { gate: { metric: 'f2', margin: 0 }, onConflict: 'wait' } },
    valid: false,
  },
  {
    name: 'deploy',
    input: { model: 'churn', version: 1, endpoint: 'churn', policy: { gate: { metric: 'accuracy', margin: -1 }, onConflict: 'wait' } },
    valid: false,
  },
  {
    name: 'deploy',
    input: { model: 'churn', version: 1, endpoint: 'churn', policy: { gate: { metric: 'accuracy', margin: 0 }, onConflict: 'race' } },
    valid: false,
  },
  {
    name: 'deploy',
    input: {
      model: 'churn',
      version: 1,
      endpoint: 'churn',
      policy: { gate: { metric: 'accuracy', margin: 0 }, approval: { required: true, timeoutSeconds: 0 }, onConflict: 'wait' },
    },
    valid: false,
  },
  {
    name: 'deploy',
    input: {
      model: 'churn',
      version: 1,
      endpoint: 'churn',
      actor: ' ',
      policy: { gate: { metric: 'accuracy', margin: 0 }, onConflict: 'wait' },
    },
    valid: false,
  },
  { name: 'rollback', input: { endpoint: 'churn', actor: 'alice', reason: 'p99 regression' }, valid: true },
  { name: 'rollback', input: { endpoint: 'churn', actor: '' }, valid: false },
  { name: 'rollback', input: { endpoint: 'churn' }, valid: false },
  { name: 'pipeline', input: { pipeline: 'demo', specVersion: 1, triggerKey: 'manual-1', reason: 'first run' }, valid: true },
  {
    name: 'pipeline',
    input: {
      pipeline: 'demo',
      specVersion: 3,
      triggerKey: 'schedule:nightly@2026-12-01T02:15Z',
      reason: 'tick',
      rerunWindowAfterFailureSeconds: 600,
      queues: { gpu: 'g' },
    },
    valid: true,
  },
  { name: 'pipeline', input: { pipeline: 'Demo', specVersion: 1, triggerKey: 'k', reason: 'r' }, valid: false },
  { name: 'pipeline', input: { pipeline: 'demo', specVersion: 0, triggerKey: 'k', reason: 'r' }, valid: false },
  { name: 'pipeline', input: { pipeline: 'demo', specVersion: 1, triggerKey: 'has space', reason: 'r' }, valid: false },
  { name: 'pipeline', input: { pipeline: 'demo', specVersion: 1, triggerKey: 'k' }, valid: false },
  { name: 'monitor', input: { monitorId: 'churn', model: { name: 'churn' }, recent: { transform: 'orders' } }, valid: true },
  {
    name: 'monitor',
    input: {
      monitorId: 'churn-daily',
      model: { name: 'churn', alias: 'champion' },
      recent: { transform: 'orders', version: 2, lastRows: 5000, fromSeq: '900', sinceMinutes: 60, timeColumn: 'event_time' },
      features: ['amount', 'country'],
      thresholds: { psi: 0.2, ks: 0.1, metricDrop: 0.05 },
      performance: { predictionsSource: 'predictions_churn', labelsSource: 'churn_labels', labelField: 'churned' },
      trigger: {
        kind: 'train',
        input: {
          model: 'churn',
          datasetId: 'a'.repeat(64),
          spec: { features: [{ name: 'amount', kind: 'numeric' }], label: 'churned', task: 'binary' },
          trainer: { trainer: 'logistic_regression' },
          seed: 1,
        },
      },
    },
    valid: true,
  },
  {
    name: 'monitor',
    input: { monitorId: 'churn', model: { name: 'churn' }, recent: { transform: 'orders' }, thresholds: { psi: 0 } },
    valid: false,
  },
  {
    name: 'monitor',
    input: { monitorId: 'churn', model: { name: 'churn' }, recent: { transform: 'orders' }, trigger: { kind: 'pipeline', input: {} } },
    valid: false,
  },
  {
    name: 'monitor',
    input: { monitorId: 'churn', model: { name: 'churn' }, recent: { transform: 'orders', timeColumn: 'x"; DROP' } },
    valid: false,
  },
  { name: 'pipelineTrigger', input: { pipeline: 'demo' }, valid: true },
  { name: 'pipelineTrigger', input: { pipeline: 'demo', minRows: 1000, maxWaitSeconds: 300 }, valid: true },
  { name: 'pipelineTrigger', input: { pipeline: 'demo', pending: { rows: 3, toSeq: '42', sinceMs: 1 } }, valid: true },
  { name: 'pipelineTrigger', input: { pipeline: 'demo', minRows: 0 }, valid: false },
  { name: 'pipelineTrigger', input: { pipeline: 'demo', pending: { rows: 3, toSeq: '-1', sinceMs: 1 } }, valid: false },
];

describe('published schemas agree with the declarations', () => {
  it.each(names)('%s compiles in ajv strict mode', (name) => {
    expect(() => ajv.compile(publishedInputSchema(workflows[name]))).not.toThrow();
  });

  it.each(samples.map((s) => [s.name, JSON.stringify(s.input), s.valid, s] as const))('%s %s valid=%s', (name, _json, valid, sample) => {
    const byAjv = ajv.compile(publishedInputSchema(workflows[name]))(sample.input);
    const bySluice = checkWorkflowInput(workflows[name], sample.input);
    expect({ ajv: byAjv, sluice: bySluice.ok }).toEqual({ ajv: valid, sluice: valid });
  });

  it('names the bad field of a batch by its kind, not "expected union value"', () => {
    const r = checkValue(IngestBatchRequestSchema, { kind: 'file', batchId: 'b1', location: { kind: 'file', path: '/x' }, format: 'xml' });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.map((i) => i.path)).toContain('/format');
  });
});
