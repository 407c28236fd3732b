// Worker logs at WARN in tests (SLUICE_TEST_LOG_LEVEL=INFO or DEBUG to see more).
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';

Runtime.install({ logger: new DefaultLogger((process.env.SLUICE_TEST_LOG_LEVEL ?? 'WARN') as LogLevel) });
