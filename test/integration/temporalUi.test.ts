// The Temporal Web UI of the dev server, looked at as a person would: a headless Chromium filters
// the workflow list by SluicePipeline, opens the pipeline run, and reads its status, its search
// attributes and the links in its memo off the page. Screenshots go to test-results/.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { workflows, type PipelineSpec } from '../../api';
import { pollUntil } from '../../client/poll';
import { SluiceClient } from '../../client/sluiceClient';
import { ContractRegistry } from '../../contracts/registry';
import { loadConfig } from '../../config';
import { startIngestHttpServer, type IngestHttpServer } from '../../workers/httpIngest';
import { startTestStack, uniqueName, type TestStack } from '../helpers/env';
import { CHROMIUM_PATH, HeadlessChromium } from '../helpers/headlessChromium';

const TOKEN = 'temporal-ui-test-token';
const RESULTS = path.resolve(__dirname, '../../test-results');
const uiUrl = process.env.SLUICE_TEST_TEMPORAL_UI_URL;
const skipReason = !fs.existsSync(CHROMIUM_PATH)
  ? `no browser at ${CHROMIUM_PATH} (Debian package chromium; .ci/run installs it)`
  : !uiUrl
    ? 'the Web UI of the Temporal server is unknown (set TEMPORAL_UI_URL along with TEMPORAL_ADDRESS)'
    : undefined;
if (skipReason) process.stderr.write(`temporalUi.test.ts skipped: ${skipReason}\n`);
const describeWithBrowser = skipReason ? describe.skip : describe;

/** Page views that pass the page_views contract's suite. */
function pageViews(n: number): object[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `pv-${i}`,
    ts: new Date(Date.UTC(2026, 10, 1) + i * 60_000).toISOString(),
    user_id: i % 97,
    user_email: `u${i % 97}@example.com`,
    page: ['/', '/search', '/cart'][i % 3],
    duration_ms: 1000 + ((i * 37) % 5000),
    country: ['DE', 'FR', 'US'][i % 3],
    device: ['desktop', 'mobile'][i % 2],
    converted: i % 4 === 0,
    revenue: i % 4 === 0 ? 12.5 : 0,
  }));
}

/** Catch-up ingest, one transform and the validation: no training, to stay fast. */
function spec(name: string): PipelineSpec {
  return {
    name,
    sources: [{ source: 'page_views' }],
    transforms: [
      {
        name: 'pv_pages',
        version: 1,
        sql: `SELECT seq, payload->>'page' AS page FROM sluice.raw_events WHERE source = 'page_views' AND seq BETWEEN $1 AND $2`,
      },
    ],
    validation: { suite: 'page_views', on: { log: 'page_views' } },
  };
}

describeWithBrowser('the Temporal UI shows a pipeline run', () => {
  let stack: TestStack;
  let client: SluiceClient;
  let http: IngestHttpServer;
  let browser: HeadlessChromium | undefined;
  const artifactsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-ui-'));

  beforeAll(async () => {
    http = await startIngestHttpServer({
      config: { artifactsDir, httpIngest: { token: TOKEN } },
      client: { ingestFile: () => Promise.reject(new Error('not in this test')) },
      contracts: ContractRegistry.fromDirectory(),
      port: 0,
      host: '127.0.0.1',
      log: () => undefined,
    });
    const base = loadConfig();
    stack = await startTestStack({
      queues: ['cpu'],
      config: { artifactsDir, httpIngest: { ...base.httpIngest, token: TOKEN, publicUrl: `http://127.0.0.1:${http.port}` } },
    });
    client = await SluiceClient.connect({ config: { ...stack.config, databaseUrl: stack.db.url } });
    browser = await HeadlessChromium.launch({ timeoutScreenshot: path.join(RESULTS, 'temporal-ui-timeout.png') });
  });

  afterAll(async () => {
    await browser?.close();
    await client?.close();
    await stack?.close();
    await http?.close();
  });

  it('filters the list by SluicePipeline, opens the run, and shows Completed, its search attributes and its memo links', async () => {
    const page = browser!;
    const name = uniqueName('ui');
    await client.ingest('page_views', pageViews(60), { batchId: 'pv-ui' });
    const applied = await client.applyPipeline(spec(name));
    const run = await client.startPipeline(name, {
      triggerKey: 'ui',
      reason: 'the UI test',
      version: applied.version,
      rerunWindowAfterSuccessSeconds: 0,
      rerunWindowAfterFailureSeconds: 0,
    });
    await client.handle(workflows.pipeline, run.workflowId).result();
    const status = await client.pipelineStatus(run.workflowId);
    const dataDocs = status.steps.find((s) => s.step === 'validate')?.links.dataDocs;
    expect(dataDocs).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1\/artifacts\/[0-9a-f]{64}\?sig=/);

    // the list, filtered as the README says; the page loads once, so first wait for visibility to see the close
    const query = `SluicePipeline="${name}" AND ExecutionStatus="Completed"`;
    await pollUntil(`visibility to list ${run.workflowId} as completed`, async () => {
      for await (const w of client.temporal.workflow.list({ query })) if (w.runId === run.runId) return true;
      return undefined;
    });
    const namespace = stack.config.temporal.namespace;
    const listUrl = `${uiUrl}/namespaces/${namespace}/workflows?query=${encodeURIComponent(`SluicePipeline="${name}"`)}`;
    await page.navigate(listUrl);
    const runHref = `/namespaces/${namespace}/workflows/${run.workflowId}/${run.runId}/`;
    const runLink = `document.querySelector('a[href*=${JSON.stringify(runHref)}]')`;
    await page.waitFor(
      "the run's row, Completed",
      `(() => { const row = ${runLink}?.closest('tr, [role="row"]'); return row && row.innerText.includes('Completed'); })()`,
    );
    await page.screenshot(path.join(RESULTS, 'temporal-ui-list.png'));
    // a person clicks the workflow id in the row
    await page.evaluate(`${runLink}.click()`);

    // the run's page: its status in the header, then the Search Attributes and Memo tabs
    await page.waitFor(
      "the run's page",
      `location.pathname.includes(${JSON.stringify(runHref)}) && document.querySelector('[data-testid="memo-tab"]')`,
    );
    await page.waitForText([run.runId]);
    // the status badge sits beside the workflow id heading (the History tab below says "Completed" too)
    await page.waitFor(
      'the heading to say Completed',
      `(() => { const header = document.querySelector('[data-testid="workflow-id-heading"]')?.parentElement?.parentElement;
        return header && header.innerText.includes(${JSON.stringify(run.workflowId)}) && header.innerText.split('\\n').map((l) => l.trim()).includes('Completed'); })()`,
    );
    await page.evaluate(`document.querySelector('[data-testid="search-attributes-tab"]').click()`);
    await page.waitForText([`"SluicePipeline": "${name}"`, '"SluiceStatus": "completed"']);
    await page.evaluate(`document.querySelector('[data-testid="memo-tab"]').click()`);
    await page.waitForText(['"links": {', `"dataDocs": "${dataDocs}"`]);
    await page.screenshot(path.join(RESULTS, 'temporal-ui-run.png'));

    // the link read off the page opens the data docs
    const shown = await page.text();
    const link = /"dataDocs":\s*"([^"]+)"/.exec(shown)?.[1];
    expect(link).toBe(dataDocs);
    const docs = await fetch(link!);
    expect([docs.status, docs.headers.get('content-type')]).toEqual([200, expect.stringContaining('text/html')]);
  });
});
