/**
 * Layer rules, checked by `npm run lint` (`npm run lint:deps`). Dependencies flow one way:
 * apps (with libs/platform, their shared composition: the DataSource and the Nest module that
 * wires every library) -> feature libraries (flows) -> trust and identity -> infrastructure ->
 * core. No cycles, another library only by its alias ('#libs/core') and so only through its
 * index.ts, libraries never import apps. See docs/architecture.md. No violation is tolerated.
 */
const FEATURES = ['signin', 'account', 'recovery', 'contacts', 'support', 'people', 'staff', 'transaction-codes', 'legacy-import'];
const TRUST = ['identity', 'sessions', 'otp', 'oidc', 'oidc-store', 'throttle', 'factors'];
const INFRA = ['database', 'flows', 'audit', 'notifications', 'web', 'observability', 'config'];
const lib = (names) => `^libs/(${names.join('|')})/`;

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'No import cycles: a cycle makes two modules one, and Nest needs forwardRef for it. A type-only import is erased at run time and does not count.',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'libs-never-import-apps',
      severity: 'error',
      from: { path: '^libs/' },
      to: { path: '^apps/' },
    },
    {
      name: 'through-the-index',
      severity: 'error',
      comment: 'Another library is used through its index.ts only (its public surface).',
      from: { path: '^(apps|libs)/([^/]+)/' },
      to: { path: '^libs/([^/]+)/src/(?!index\\.ts$).+', pathNot: '^libs/$2/' },
    },
    {
      name: 'other-libraries-by-alias',
      severity: 'error',
      comment: 'Another library is imported by its alias (\'#libs/core\', package.json "imports"), never by a relative path.',
      from: { path: '^(apps|libs)/([^/]+)/' },
      to: { path: '^libs/', pathNot: '^libs/$2/', dependencyTypesNot: ['aliased-subpath-import'] },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve would escape every rule above.',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'platform-is-for-apps',
      severity: 'error',
      comment: 'libs/platform composes every library for the apps; no library depends on it.',
      from: { path: '^libs/', pathNot: '^libs/platform/' },
      to: { path: '^libs/platform/' },
    },
    {
      name: 'core-depends-on-nothing',
      severity: 'error',
      from: { path: '^libs/core/' },
      to: { path: '^libs/(?!core/)' },
    },
    {
      name: 'infrastructure-below-trust-and-features',
      severity: 'error',
      from: { path: lib(INFRA) },
      to: { path: `${lib([...TRUST, ...FEATURES])}` },
    },
    {
      name: 'trust-below-features',
      severity: 'error',
      from: { path: lib(TRUST) },
      to: { path: lib(FEATURES) },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist|test|bench|migrations)/|\\.spec\\.ts$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // 'types' first: '#libs/x' (package.json "imports") resolves to the library's index.ts, not to dist.
    enhancedResolveOptions: { extensions: ['.ts', '.js'], exportsFields: ['exports'], conditionNames: ['types', 'import', 'default'] },
  },
};
