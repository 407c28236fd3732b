// `npm run build`: compiles the package into dist/ from a clean slate and copies beside the compiled
// code the files it reads at run time, at the same relative paths as in the source tree:
//   db/migrations/*.sql        read by db/migrate.ts       (path.join(__dirname, 'migrations'))
//   contracts/**/*.json|yaml   read by contracts/*.ts      (__dirname, __dirname/sources, __dirname/workflows)
// Workers bundle dist/workflows (require.resolve('../workflows') in workers/bootstrap.ts), which tsc emits.
// dist/ is removed first so that a file moved or deleted in the source never lingers in the package.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist');
const assets = [
  { dir: 'db/migrations', match: /\.sql$/ },
  { dir: 'contracts', match: /\.(json|ya?ml)$/ },
];

fs.rmSync(dist, { recursive: true, force: true });

const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json')], {
  cwd: root,
  stdio: 'inherit',
});
if (tsc.status !== 0) {
  console.error(`build: tsc -p tsconfig.build.json failed (${tsc.error?.message ?? tsc.signal ?? `exit code ${tsc.status}`})`);
  process.exit(tsc.status || 1);
}

let copied = 0;
for (const { dir, match } of assets) {
  const walk = (rel) => {
    for (const entry of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const child = path.join(rel, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (match.test(entry.name)) {
        fs.mkdirSync(path.join(dist, rel), { recursive: true });
        fs.copyFileSync(path.join(root, child), path.join(dist, child));
        copied++;
      }
    }
  };
  walk(dir);
}
console.log(`built dist/ (tsc -p tsconfig.build.json, ${copied} asset file(s) copied)`);
