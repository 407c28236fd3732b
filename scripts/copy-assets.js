// Copies what the compiled code reads at run time (SQL migrations, contract files) into dist/.
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const assets = [
  { dir: 'db/migrations', match: /\.sql$/ },
  { dir: 'contracts', match: /\.(json|ya?ml)$/ },
];
let copied = 0;
for (const { dir, match } of assets) {
  const walk = (rel) => {
    for (const entry of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const child = path.join(rel, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (match.test(entry.name)) {
        fs.mkdirSync(path.join(root, 'dist', rel), { recursive: true });
        fs.copyFileSync(path.join(root, child), path.join(root, 'dist', child));
        copied++;
      }
    }
  };
  walk(dir);
}
console.log(`copied ${copied} asset file(s) into dist/`);
