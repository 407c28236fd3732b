/**
 * `npx tsx scripts/record-history.ts <workflowId> <file>`: saves a workflow's event history as
 * JSON for the replay tests in test/histories (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE).
 */
import * as fs from 'node:fs';
import { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { loadConfig } from '../config';
import { connectTemporal } from '../client/connection';

async function main(): Promise<void> {
  const [workflowId, file] = process.argv.slice(2);
  if (!workflowId || !file) throw new Error('usage: record-history.ts <workflowId> <file.json>');
  const config = loadConfig();
  const connection = await connectTemporal(config.temporal, config.temporal.address ?? 'localhost:7233', { timeoutMs: 10_000 });
  try {
    const client = new Client({ connection, namespace: config.temporal.namespace });
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    // protobufjs object form (base64 bytes, string longs and enums): test/unit/replay.test.ts reads it back with History.fromObject.
    const json = temporal.api.history.v1.History.toObject(temporal.api.history.v1.History.fromObject(history), {
      longs: String,
      enums: String,
      bytes: String,
    });
    // The workflow id goes with it: replay needs it where the code derives ids from it (child workflows).
    fs.writeFileSync(file, `${JSON.stringify({ workflowId, ...json }, null, 2)}\n`);
    process.stdout.write(`wrote ${history.events?.length ?? 0} events of ${workflowId} to ${file}\n`);
  } finally {
    await connection.close();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
