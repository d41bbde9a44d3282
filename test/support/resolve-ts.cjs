// Jest loads globalSetup/globalTeardown through require(), where moduleNameMapper does not
// apply. Our sources import each other as './x.js' (NodeNext ESM) and another library as
// '#libs/<name>' (package.json "imports", which Node would resolve to dist/): map those to
// the .ts files, so the global setup uses the same library code (and migrations) as the
// tests, whether or not dist/ is built or current.
const Module = require('node:module');
const fs = require('node:fs');
const path = require('node:path');

const original = Module._resolveFilename;
Module._resolveFilename = function resolveTs(request, parent, ...rest) {
  const alias = /^#libs\/([a-z0-9-]+)$/u.exec(request);
  if (alias) return path.resolve(__dirname, '../../libs', alias[1], 'src/index.ts');
  if (parent && parent.filename && (request.startsWith('./') || request.startsWith('../')) && request.endsWith('.js')) {
    const candidate = path.resolve(path.dirname(parent.filename), `${request.slice(0, -3)}.ts`);
    if (fs.existsSync(candidate)) return candidate;
  }
  return original.call(this, request, parent, ...rest);
};
