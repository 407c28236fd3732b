/** `npm run schemas`: publishes the workflow input declarations (api/workflows) as contracts/workflows/*.input.json. */
import { writeInputSchemas } from '../contracts/workflowInputs';

const { written, removed } = writeInputSchemas();
for (const f of written) process.stdout.write(`wrote ${f}\n`);
for (const f of removed) process.stdout.write(`removed ${f}\n`);
if (written.length + removed.length === 0) process.stdout.write('contracts/workflows is up to date\n');
