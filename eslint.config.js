// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The folders are layers (ARCHITECTURE.md). Each entry names the folders a layer must not
 * import: the lower layers never learn about the higher ones, and only server/ knows koa.
 * Flat config replaces (does not merge) a rule's options per matching block, so each
 * folder gets exactly one block with its whole list.
 */
const KOA = { group: ['koa', '@koa/router'], message: 'Only server/ knows koa (ARCHITECTURE.md, layers).' };
const OURS = ['cache', 'cli', 'config', 'discovery', 'mirror', 'oci', 'peer', 'server', 'site', 'transparent', 'upstream'];
/** @type {Record<string, string[]>} folder → folders of ours it must not import */
const FORBIDDEN = {
  oci: OURS.filter((folder) => folder !== 'oci'),
  config: OURS.filter((folder) => folder !== 'config' && folder !== 'oci'),
  cache: ['mirror', 'peer', 'server', 'cli', 'transparent'],
  upstream: ['mirror', 'peer', 'server', 'cli', 'transparent'],
  discovery: ['mirror', 'peer', 'server', 'cli', 'transparent'],
  site: ['mirror', 'peer', 'server', 'cli', 'transparent'],
  mirror: ['peer', 'server', 'cli', 'transparent'],
  peer: ['server', 'cli', 'transparent'],
  transparent: ['cli'],
  server: ['cli', 'transparent'],
  scripts: ['cli'],
};

/** @param {string} folder @param {string[]} forbidden */
function layer(folder, forbidden) {
  const patterns = forbidden.map((other) => ({
    group: [`**/${other}/*`, `**/${other}/**`],
    message: `${folder}/ sits below ${other}/ and must not import it (ARCHITECTURE.md, layers).`,
  }));
  return {
    files: [`${folder}/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', { patterns: folder === 'server' ? patterns : [KOA, ...patterns] }],
    },
  };
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // node:test's test()/describe() return promises that the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'error',
    },
  },
  ...Object.entries(FORBIDDEN).map(([folder, forbidden]) => layer(folder, forbidden)),
  {
    // The composition root wires every layer, but is itself imported by nothing but tests
    // and benchmarks.
    files: ['cli/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [KOA] }] },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
);
