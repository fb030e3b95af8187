// The code imports the top-level shared/ folder as `#shared/…` (package.json "imports"). The
// published type declarations get relative paths instead: TypeScript's older `node` module
// resolution, still common in users' projects, does not read "imports", and would lose the
// package's types. Run after the declaration build; rewrites dist/**/*.d.ts in place.

import fs from 'node:fs';
import path from 'node:path';

const dist = path.resolve('dist');
const sharedDir = path.join(dist, 'shared');

for (const entry of fs.readdirSync(dist, { recursive: true })) {
  if (!entry.endsWith('.d.ts')) continue;
  const file = path.join(dist, entry);
  const text = fs.readFileSync(file, 'utf8');
  const toShared = path.relative(path.dirname(file), sharedDir).split(path.sep).join('/');
  const rewritten = text.replace(/(['"])#shared\//g, `$1${toShared}/`);
  if (rewritten !== text) fs.writeFileSync(file, rewritten);
}
