/** CPU worker: polls `sluice-cpu` (workflows and ingest, transform, validate, evaluate, deploy activities). */
import { main } from './main';

if (require.main === module) main(['cpu']);
