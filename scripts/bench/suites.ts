/** Registered benchmark suites (one module per suite in scripts/bench/). */
import { contractsSuite } from './contracts';
import type { BenchSuite } from './harness';

export const SUITES: BenchSuite[] = [contractsSuite];
