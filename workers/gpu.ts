/** GPU worker: polls `sluice-gpu`, one activity per GPU at a time (SLUICE_GPU_COUNT). */
import { main } from './main';

if (require.main === module) main(['gpu']);
