/** Registered benchmark suites (one module per suite in scripts/bench/). */
import { contractsSuite } from './contracts';
import type { BenchSuite } from './harness';
import { ingestFileSuite } from './ingest';
import { replaySuite, transformSuite, transformVsSqlSuite } from './transform';

export const SUITES: BenchSuite[] = [ingestFileSuite, contractsSuite, transformSuite, transformVsSqlSuite, replaySuite];
