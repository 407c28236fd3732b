/**
 * `npm run schemas`: publishes the workflow input declarations (api/workflows) as
 * contracts/workflows/*.input.json, and the pipeline spec as contracts/pipelines/pipeline.schema.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PIPELINE_SCHEMA_PATH, publishedPipelineSchemaText } from '../contracts/pipelineSpec';
import { writeInputSchemas } from '../contracts/workflowInputs';

const { written, removed } = writeInputSchemas();
// The pipeline spec is published beside them: what `sluice pipelines apply` checks a file against.
const pipelineSchema = publishedPipelineSchemaText();
if (!fs.existsSync(PIPELINE_SCHEMA_PATH) || fs.readFileSync(PIPELINE_SCHEMA_PATH, 'utf8') !== pipelineSchema) {
  fs.mkdirSync(path.dirname(PIPELINE_SCHEMA_PATH), { recursive: true });
  fs.writeFileSync(PIPELINE_SCHEMA_PATH, pipelineSchema);
  written.push(PIPELINE_SCHEMA_PATH);
}
for (const f of written) process.stdout.write(`wrote ${f}\n`);
for (const f of removed) process.stdout.write(`removed ${f}\n`);
if (written.length + removed.length === 0) process.stdout.write('contracts/workflows is up to date\n');
