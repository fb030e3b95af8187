// @ts-check
/**
 * Lint rules for the whole tree (server, client, shared, bin, test, bench, demo, k8s):
 * typescript-eslint's recommended type-aware set. The type-aware rules catch what hurts a network
 * program most: a promise nobody awaits or catches (its rejection ends the process), an async
 * function passed where the caller ignores the result, a value of type `any` flowing unchecked.
 * Formatting is prettier's job, not eslint's.
 */
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // package.json sits outside tsconfig's rootDir once compiled, so it is read with require().
      '@typescript-eslint/no-require-imports': ['error', { allow: ['/package\\.json$'] }],
    },
  },
  {
    // Tests, benchmarks and the demo read JSON answers as `any` on purpose: the assertions that
    // follow are the type check.
    files: ['test/**', 'bench/**', 'demo/**'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
  {
    // The CLI loads each subcommand's modules only when that subcommand runs, so `standin --help`
    // does not load express or undici.
    files: ['bin/standin.ts'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  // Deliberate: each says why.
  { files: ['server/selector/select.ts'], rules: { 'no-control-regex': 'off' } }, // refuses control characters in a redirect target
  { files: ['bench/load.ts'], rules: { '@typescript-eslint/require-await': 'off' } }, // an async generator feeds undici a streamed body
  {
    files: ['**/*.mjs', '**/*.cjs', '**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { module: 'writable', require: 'readonly', process: 'readonly', __dirname: 'readonly' } },
  },
);
