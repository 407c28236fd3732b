/** Registered benchmark suites (one module per suite in scripts/bench/). */
import { contractsSuite } from './contracts';
import type { BenchSuite } from './harness';
import { ingestFileSuite } from './ingest';

export const SUITES: BenchSuite[] = [ingestFileSuite, contractsSuite];
