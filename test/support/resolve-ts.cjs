// Jest loads globalSetup/globalTeardown through require(), where moduleNameMapper does not
// apply. Our sources import each other as './x.js' (NodeNext ESM); map those to the .ts
// files that exist, so the global setup can use the same library code as the app.
const Module = require('node:module');
const fs = require('node:fs');
const path = require('node:path');

const original = Module._resolveFilename;
Module._resolveFilename = function resolveTs(request, parent, ...rest) {
  if (parent && parent.filename && (request.startsWith('./') || request.startsWith('../')) && request.endsWith('.js')) {
    const candidate = path.resolve(path.dirname(parent.filename), `${request.slice(0, -3)}.ts`);
    if (fs.existsSync(candidate)) return candidate;
  }
  return original.call(this, request, parent, ...rest);
};
