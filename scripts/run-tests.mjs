#!/usr/bin/env node
// Runs the tests in two tiers, both by default (`npm test`), or the files whose path
// contains one of the arguments (`node scripts/run-tests.mjs cache- setup`); `--unit` or
// `--integration` picks one tier:
//
// - unit: test/**/*.test.ts, in parallel (two files at a time). Loopback servers on port 0,
//   temp dirs, child node processes: nothing a neighbouring file could collide with.
// - integration: test/**/*.integration.test.ts, one file at a time. These start the real
//   components users have (docker-registry, skopeo, network namespaces, chromium,
//   containerd), which share fixed addresses, namespace names and CPU, and the tests whose
//   assertions are wall-clock budgets (cache start-up), which a busy neighbour would skew.
//
// The rule is checked, not trusted: a unit file that reaches (through its imports, test
// support included) something that starts a real component is refused until it is renamed.
//
// Node 20's runner does not find .ts files by itself, so the files are listed here; a run
// that matched no file, or in which no test ran, fails (a green run that ran nothing lies).
import { readdirSync, readFileSync, statSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const onlyTier = args.find((arg) => arg === '--unit' || arg === '--integration')?.slice(2);
const filters = args.filter((arg) => !arg.startsWith('--'));
const INTEGRATION_SUFFIX = '.integration.test.ts';

/** What makes a test an integration test: modules (and binaries) that start real components. */
const REAL_COMPONENTS = [
  { module: 'test/support/registry-process.ts', what: 'a real docker-registry' },
  { module: 'test/support/skopeo.ts', what: 'skopeo' },
  { module: 'test/support/netns.ts', what: 'network namespaces' },
  { module: 'playwright-core', what: 'chromium' },
  { text: '/usr/bin/containerd', what: 'containerd' },
];

function collect(dir) {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) return name === 'support' ? [] : collect(full);
    return name.endsWith('.test.ts') ? [relative(root, full)] : [];
  });
}

/** Every module a test file reaches: relative imports followed, package names kept as is. */
function reach(file, seen = new Set()) {
  if (seen.has(file)) return seen;
  seen.add(file);
  if (!file.endsWith('.ts')) return seen;
  const source = readFileSync(join(root, file), 'utf8');
  for (const [, specifier] of source.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
    if (specifier.startsWith('.')) {
      const target = relative(root, resolve(dirname(join(root, file)), specifier)).replace(/\.js$/, '.ts');
      // Only test code is followed: the product's own modules never start real components.
      if (target.startsWith('test/')) reach(target, seen);
    } else {
      seen.add(specifier);
    }
  }
  return seen;
}

function realComponents(file) {
  const modules = reach(file);
  const texts = [...modules].filter((m) => m.endsWith('.ts')).map((m) => readFileSync(join(root, m), 'utf8'));
  return REAL_COMPONENTS.filter((c) => (c.module ? modules.has(c.module) : texts.some((text) => text.includes(c.text)))).map((c) => c.what);
}

const all = collect(join(root, 'test')).sort();
const misfiled = all
  .filter((file) => !file.endsWith(INTEGRATION_SUFFIX))
  .map((file) => ({ file, needs: realComponents(file) }))
  .filter(({ needs }) => needs.length > 0);
if (misfiled.length > 0) {
  for (const { file, needs } of misfiled) {
    console.error(`run-tests: ${file} starts ${needs.join(', ')}: name it *${INTEGRATION_SUFFIX} (integration tier)`);
  }
  process.exit(1);
}

const selected = all.filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)));
if (selected.length === 0 || (onlyTier !== undefined && !selected.some((file) => file.endsWith(INTEGRATION_SUFFIX) === (onlyTier === 'integration')))) {
  console.error(`run-tests: no test files matched ${filters.join(' ') || 'test/**/*.test.ts'}`);
  process.exit(1);
}
const tiers = [
  { name: 'unit', concurrency: 2, files: selected.filter((file) => !file.endsWith(INTEGRATION_SUFFIX)) },
  { name: 'integration', concurrency: 1, files: selected.filter((file) => file.endsWith(INTEGRATION_SUFFIX)) },
].filter((tier) => tier.files.length > 0 && (onlyTier === undefined || tier.name === onlyTier));

const counts = mkdtempSync(join(tmpdir(), 'edgepier-run-tests-'));
let failed = false;
let ran = 0;
try {
  for (const tier of tiers) {
    console.log(`run-tests: ${tier.name} tier, ${tier.files.length} files, ${tier.concurrency} at a time`);
    const tap = join(counts, `${tier.name}.tap`);
    const result = spawnSync(
      process.execPath,
      [
        '--import', 'tsx', '--test', `--test-concurrency=${tier.concurrency}`, '--test-timeout=300000',
        // What the terminal shows, plus a TAP copy whose summary says how many tests ran.
        `--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`, '--test-reporter-destination=stdout',
        '--test-reporter=tap', `--test-reporter-destination=${tap}`,
        ...tier.files,
      ],
      { cwd: root, stdio: 'inherit' },
    );
    const summary = readFileSync(tap, 'utf8');
    const count = (key) => Number([...summary.matchAll(new RegExp(`^# ${key} (\\d+)$`, 'gm'))].at(-1)?.[1] ?? 0);
    ran += count('pass') + count('fail');
    if (result.status !== 0) failed = true;
    console.log(`run-tests: ${tier.name} tier ${result.status === 0 ? 'passed' : 'FAILED'} (${count('pass')} passed, ${count('fail')} failed, ${count('skipped')} skipped, ${count('todo')} todo)`);
  }
} finally {
  rmSync(counts, { recursive: true, force: true });
}
if (ran === 0) {
  console.error('run-tests: no test ran (all skipped?); refusing to report success');
  process.exit(1);
}
process.exit(failed ? 1 : 0);
