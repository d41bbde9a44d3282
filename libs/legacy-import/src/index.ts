export * from './legacy-importer.js';
export * from './rows.js';
export * from './utf8-decoder.js';
export * from './legacy-import.module.js';
