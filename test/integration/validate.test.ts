import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidWorkflowInputError, SluiceClient } from '../../client';
import type { ValidationReport } from '../../activities/validate';
import { workflows, type ValidateInput, type ValidateResult } from '../../api';
import { SluiceStatus } from '../../api/searchAttributes';
import { startTestStack, testTemporalAddress, type TestStack } from '../helpers/env';
import { recordHistoryIfAsked } from '../helpers/histories';

/** The validate workflow end to end: real workers, Temporal, PostgreSQL and the local artifact store. */
describe('validate workflow', () => {
  let stack: TestStack;
  let artifactsDir: string;
  let clean: { from: string; to: string };
  let bad: { from: string; to: string };

  async function landPageViews(
    batch: string,
    n: number,
    payloadOf: (i: number) => Record<string, unknown>,
  ): Promise<{ from: string; to: string }> {
    const rows = Array.from({ length: n }, (_, i) => payloadOf(i));
    const { rows: seqs } = await stack.db.pool.query<{ from: string; to: string }>(
      `WITH ins AS (
         INSERT INTO sluice.raw_events (source, event_id, event_time, contract, contract_version, payload, batch_id)
         SELECT 'page_views', p ->> 'id', (p ->> 'ts')::timestamptz, 'page_views', '1.0.0', p, $2 FROM jsonb_array_elements($1::jsonb) p
         RETURNING seq)
       SELECT min(seq)::text AS from, max(seq)::text AS to FROM ins`,
      [JSON.stringify(rows), batch],
    );
    return seqs[0] as { from: string; to: string };
  }

  const view = (prefix: string) => (i: number) => ({
    id: `${prefix}${i}`,
    ts: '2026-01-01T00:00:00Z',
    user_id: i,
    user_email: `u${i}@example.com`,
    page: '/home',
    referrer: i % 2 ? null : 'https://example.com',
    duration_ms: 500 + i * 10,
    country: ['DE', 'FR', 'US'][i % 3],
    device: 'desktop',
    converted: i % 4 === 0,
    revenue: i % 4 === 0 ? 12.5 : 0,
  });

  beforeAll(async () => {
    artifactsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-artifacts-'));
    stack = await startTestStack({ queues: ['cpu'], config: { artifactsDir } });
    clean = await landPageViews('clean', 60, view('c'));
    // 3 views with revenue but no conversion: breaks the error-severity custom SQL expectation
    bad = await landPageViews('bad', 30, (i) => ({ ...view('b')(i), ...(i < 3 ? { converted: false, revenue: 99 } : {}) }));
  });
  afterAll(async () => {
    await stack?.close();
    fs.rmSync(artifactsDir, { recursive: true, force: true });
  });

  const execute = (input: ValidateInput, workflowId: string): Promise<ValidateResult> =>
    stack.client.workflow.execute('validate', { taskQueue: stack.config.taskQueues.cpu, workflowId, args: [input] });

  /** SLUICE_RECORD_HISTORIES=1 refreshes test/histories/<name>.json (the replay test's inputs) from these runs. */
  const recordHistory = (workflowId: string, name: string): Promise<void> => recordHistoryIfAsked(stack.client, workflowId, name);

  const readArtifact = (uri: string, sha256: string): string => {
    const bytes = fs.readFileSync(fileURLToPath(uri));
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(sha256);
    expect(fileURLToPath(uri).startsWith(artifactsDir)).toBe(true);
    return bytes.toString('utf8');
  };

  it('passes on clean data: warnings recorded, report in the artifact store, linked from memo and run event', async () => {
    const workflowId = `validate-clean-${Date.now()}`;
    const result = await execute(
      { contract: 'page_views', dataset: { kind: 'log', source: 'page_views', fromSeq: clean.from, toSeq: clean.to } },
      workflowId,
    );
    expect(result).toMatchObject({ passed: true, rowCount: 60, errors: 0, contractVersion: '1.0.0' });
    // the drift expectations are `warn` and have no baseline here: recorded, not blocking
    expect(result.failedWarnings.sort()).toEqual(['drift:country', 'drift:duration_ms']);

    const handle = stack.client.workflow.getHandle(workflowId);
    const description = await handle.describe();
    expect(description.memo).toMatchObject({
      report: { uri: result.reportUri, sha256: result.reportSha256 },
      html: { uri: result.htmlUri, sha256: result.htmlSha256 },
      passed: true,
    });
    expect(description.typedSearchAttributes.get(SluiceStatus)).toBe('completed');

    const report = JSON.parse(readArtifact(result.reportUri, result.reportSha256)) as ValidationReport;
    expect(report).toMatchObject({ contract: 'page_views', workflowId, rowCount: 60, passed: true });
    expect(report.results.find((r) => r.name === 'drift:country')).toMatchObject({
      status: 'error',
      severity: 'warn',
      message: expect.stringMatching(/no baseline/),
    });

    const { rows } = await stack.db.pool.query<{ status: string; counts: Record<string, number>; details: Record<string, unknown> }>(
      "SELECT status, counts, details FROM sluice.run_events WHERE workflow_id = $1 AND step = 'runExpectationSuite' ORDER BY id",
      [workflowId],
    );
    expect(rows.map((r) => r.status)).toEqual(['started', 'completed']);
    expect(rows[1]?.counts).toMatchObject({ rowCount: 60, errors: 0, warnings: 2, expectations: 9 });
    expect(rows[1]?.details).toMatchObject({
      contract: 'page_views',
      contractVersion: '1.0.0',
      html: { sha256: result.htmlSha256, uri: result.htmlUri },
    });
    const v = await stack.db.pool.query('SELECT contract_version, passed, html_sha256 FROM sluice.validations WHERE workflow_id = $1', [
      workflowId,
    ]);
    expect(v.rows).toEqual([{ contract_version: '1.0.0', passed: true, html_sha256: result.htmlSha256 }]);
    await recordHistory(workflowId, 'validate.passed');
  });

  it('an error-severity failure fails the workflow with SLUICE_EXPECTATION_FAILED naming the expectation; the report says why', async () => {
    const workflowId = `validate-bad-${Date.now()}`;
    const run = execute(
      { contract: 'page_views', dataset: { kind: 'log', source: 'page_views', fromSeq: bad.from, toSeq: bad.to }, sampleSize: 2 },
      workflowId,
    );
    await expect(run).rejects.toMatchObject({
      cause: {
        type: 'SLUICE_EXPECTATION_FAILED',
        nonRetryable: true,
        message: expect.stringMatching(/^1 expectation\(s\) failed on page_views@1\.0\.0: revenue_needs_conversion \(report: file:\/\//),
      },
    });
    const description = await stack.client.workflow.getHandle(workflowId).describe();
    expect(description.typedSearchAttributes.get(SluiceStatus)).toBe('failed');
    const memo = description.memo as { html: { uri: string; sha256: string }; passed: boolean };
    expect(memo.passed).toBe(false);
    const html = readArtifact(memo.html.uri, memo.html.sha256);
    // self-contained: no scripts, no external resources; charts are inline SVG
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html).not.toMatch(/<script|<link|src="http|href="http/);
    expect(html).toMatch(/<p class="verdict fail">FAILED: 1 error\(s\), 2 warning\(s\)<\/p>/);
    expect(html).toMatch(/<tr class="error" id="exp-revenue_needs_conversion">[\s\S]*?<span class="status failed">failed<\/span>/);
    expect(html).toMatch(
      /<section class="failure error"><h3>revenue_needs_conversion[\s\S]*?3 of 30 rows failed[\s\S]*?<table class="sample">/,
    );
    const sampleRows = /<section class="failure error">[\s\S]*?<tbody>([\s\S]*?)<\/tbody>/.exec(html)?.[1]?.match(/<tr>/g) ?? [];
    expect(sampleRows).toHaveLength(2); // bounded by sampleSize
    expect((html.match(/<svg /g) ?? []).length).toBeGreaterThanOrEqual(3); // histograms and top values
    expect(html).not.toMatch(/@example\.com/); // user_email is PII: never in samples or top values
    await recordHistory(workflowId, 'validate.failed');
  });

  it('drift with a baseline: judged and drawn as a baseline-vs-current chart', async () => {
    const workflowId = `validate-baseline-${Date.now()}`;
    const result = await execute(
      {
        contract: 'page_views',
        dataset: { kind: 'log', source: 'page_views', fromSeq: clean.from, toSeq: clean.to },
        baseline: { kind: 'log', source: 'page_views', fromSeq: bad.from, toSeq: bad.to },
      },
      workflowId,
    );
    expect(result.failedWarnings).not.toContain('drift:country');
    const report = JSON.parse(readArtifact(result.reportUri, result.reportSha256)) as ValidationReport;
    const country = report.results.find((r) => r.name === 'drift:country');
    expect(country).toMatchObject({ status: 'passed', threshold: { threshold: 0.25 } });
    expect(country?.observed).toBeLessThan(0.25);
    const html = readArtifact(result.htmlUri, result.htmlSha256);
    expect(html).toMatch(/aria-label="drift:country: share per bin, baseline vs current"/);
  });

  it('refuses a bad input in the client and an unknown contract or table in the workflow, with typed failures', async () => {
    const client = await SluiceClient.connect({ config: stack.config, address: testTemporalAddress() });
    try {
      await expect(
        client.start(workflows.validate, { contract: 'page_views', dataset: { kind: 'table' } } as unknown as ValidateInput, {
          workflowId: `validate-input-${Date.now()}`,
        }),
      ).rejects.toBeInstanceOf(InvalidWorkflowInputError);
    } finally {
      await client.close();
    }
    await expect(
      execute({ contract: 'no_such_contract', dataset: { kind: 'log', source: 'x' } }, `validate-unknown-${Date.now()}`),
    ).rejects.toMatchObject({
      cause: {
        cause: { type: 'SLUICE_UNKNOWN_CONTRACT', nonRetryable: true, message: expect.stringMatching(/Unknown contract no_such_contract/) },
      },
    });
    await expect(
      execute({ contract: 'page_views', dataset: { kind: 'table', table: 'page_views__v9' } }, `validate-missing-${Date.now()}`),
    ).rejects.toMatchObject({
      cause: {
        cause: { type: 'SLUICE_DATASET_NOT_FOUND', message: expect.stringMatching(/sluice_derived\.page_views__v9 does not exist/) },
      },
    });
  });
});
