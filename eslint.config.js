import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Anything that expires or locks reads the injected Clock. */
const CLOCK_RULE = {
  selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']",
  message: 'Use the injected Clock (libs/core) for anything that expires or locks.',
};

/**
 * SQL lives in one queries module per aggregate (DESIGN.md "Where SQL lives"; #14 item 4):
 * `<aggregate>.queries.ts` or a `queries/` folder. Services call those modules; nothing else
 * runs a statement.
 */
const SQL_MESSAGE = "SQL lives in the aggregate's queries module (`<aggregate>.queries.ts`): call a function there instead.";
const SQL_RULES = [
  { selector: "CallExpression[callee.type='MemberExpression'][callee.property.name='query']", message: SQL_MESSAGE },
  { selector: "CallExpression[callee.name='runStatement']", message: SQL_MESSAGE },
  {
    selector:
      "CallExpression[callee.property.name='add'][arguments.length=2][arguments.0.type='Literal'][arguments.1.type=/^(TemplateLiteral|Literal)$/]",
    message: SQL_MESSAGE,
  },
  // TypeORM's own SQL (repositories, query builders, entity mappings) is SQL all the same.
  {
    selector: 'CallExpression[callee.property.name=/^(getRepository|getTreeRepository|createQueryBuilder|findOneBy|findBy)$/]',
    message: SQL_MESSAGE,
  },
  {
    selector:
      "ImportDeclaration[source.value='typeorm'] ImportSpecifier[imported.name=/^(Entity|Column|PrimaryColumn|PrimaryGeneratedColumn|Repository|ViewEntity)$/]",
    message: SQL_MESSAGE,
  },
];
const SQL_HOMES = ['**/*.queries.ts', '**/*queries*.ts', '**/queries/**/*.ts', 'libs/database/**', 'migrations/**'];

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'coverage/**',
      '.data/**',
      'test/artifacts/**',
      '**/*.cjs',
      'jest.config.js',
      'eslint.config.js',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-extraneous-class': 'off',
      '@typescript-eslint/require-await': 'off',
      'no-restricted-syntax': ['error', CLOCK_RULE, ...SQL_RULES],
    },
  },
  {
    files: SQL_HOMES,
    rules: { 'no-restricted-syntax': ['error', CLOCK_RULE] },
  },
  {
    files: ['**/*.spec.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
      'no-restricted-syntax': 'off',
    },
  },
);
