/** Registered benchmark suites (one module per suite in scripts/bench/). */
import type { BenchSuite } from './harness';

export const SUITES: BenchSuite[] = [];
