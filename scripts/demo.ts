/**
 * `npm run demo`: the whole of sluice on this machine with embedded defaults. Provisions Temporal
 * and PostgreSQL (or uses TEMPORAL_ADDRESS / DATABASE_URL), migrates, starts the CPU and GPU
 * workers in this process, runs a real pipeline and prints where to look in the Temporal UI.
 *
 * Interactive runs keep the server and workers up until Ctrl-C so the UI can be browsed; in CI or
 * with `--exit` it stops once the pipeline is done (the history stays in .sluice/temporal).
 */
import { SluiceClient, workflowUiUrl } from '../client';
import { loadConfig } from '../client/config';
import { createWorkerSet } from '../workers/bootstrap';
import { provisionLocalStack } from './provision';

const log = (m: string): void => {
  process.stdout.write(`${m}\n`);
};

async function main(): Promise<void> {
  const config = loadConfig();
  const stayUp = process.stdout.isTTY && !process.env.CI && !process.argv.includes('--exit');
  log('sluice demo: provisioning Temporal and PostgreSQL…');
  const stack = await provisionLocalStack(config, { log: (m) => log(`  ${m}`) });
  const workerConfig = { ...config, temporal: { ...config.temporal, address: stack.temporal.address, namespace: stack.temporal.namespace } };
  const workers = await createWorkerSet({
    config: workerConfig,
    databaseUrl: stack.postgres.url,
    queues: ['cpu', 'gpu'],
    log: (m) => log(`  ${m}`),
    migrate: false,
  });
  const running = workers.run();
  let failed = false;
  try {
    const client = await SluiceClient.connect({ config: workerConfig });
    try {
      log('running workflow healthCheck (database + ONNX Runtime on sluice-cpu and sluice-gpu)…');
      const { workflowId, runId, result } = await client.healthCheck();
      log(`  database: PostgreSQL ${result.database.serverVersion}, ${result.database.migrations} migration(s), ${result.database.rawEvents} events in the log`);
      log(`  cpu worker: onnxruntime ${result.cpu.onnxruntime} [${result.cpu.backends.join(', ')}], inference ${result.cpu.inferenceOk ? 'ok' : 'FAILED'}`);
      log(`  gpu worker: onnxruntime ${result.gpu.onnxruntime} [${result.gpu.backends.join(', ')}], inference ${result.gpu.inferenceOk ? 'ok' : 'FAILED'}`);
      failed = !result.cpu.inferenceOk || !result.gpu.inferenceOk;
      const ui = stack.temporal.uiUrl;
      log('');
      if (ui) {
        log(`Temporal UI: ${ui}/namespaces/${stack.temporal.namespace}/workflows`);
        log(`  this run:  ${workflowUiUrl(ui, stack.temporal.namespace, workflowId, runId)}`);
        log(`  search:    SluicePipeline="health"   (Filter → Custom search attributes)`);
      } else {
        log(`Workflow ${workflowId} (run ${runId}) in namespace ${stack.temporal.namespace} at ${stack.temporal.address}`);
      }
    } finally {
      await client.close();
    }
    if (stayUp) {
      log('\nServer and workers keep running so you can browse the UI. Ctrl-C to stop.');
      await running;
    }
  } catch (err) {
    failed = true;
    process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  } finally {
    workers.shutdown();
    await running;
    await stack.stop();
  }
  if (!stayUp) log('\nStopped. The run history is kept in .sluice/temporal; `npm run dev` starts the server, the UI and the workers again.');
  process.exit(failed ? 1 : 0);
}

main().catch((err: Error) => {
  process.stderr.write(`demo failed: ${err.message}\n`);
  process.exit(1);
});
