export { createWorkerSet, type WorkerSet, type WorkerSetOptions } from './bootstrap';
export { runWorkerProcess } from './main';
