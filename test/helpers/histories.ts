/**
 * Recording workflow histories for the replay test (test/unit/replay.test.ts): with
 * SLUICE_RECORD_HISTORIES=1 a test writes the history of a run it made to test/histories/<name>.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

export async function recordHistoryIfAsked(client: Client, workflowId: string, name: string, runId?: string): Promise<void> {
  if (process.env.SLUICE_RECORD_HISTORIES !== '1') return;
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  const json = temporal.api.history.v1.History.toObject(temporal.api.history.v1.History.fromObject(history), {
    longs: String,
    enums: String,
    bytes: String,
  });
  fs.writeFileSync(path.resolve(__dirname, '../histories', `${name}.json`), `${JSON.stringify({ workflowId, ...json }, null, 2)}\n`);
}
