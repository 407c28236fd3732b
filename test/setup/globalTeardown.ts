import * as fs from 'node:fs';

export default async function globalTeardown(): Promise<void> {
  await globalThis.__SLUICE_STACK__?.stop();
  const dir = globalThis.__SLUICE_TEST_DIR__;
  if (dir && !process.env.SLUICE_KEEP_TEST_DIR) fs.rmSync(dir, { recursive: true, force: true });
}
