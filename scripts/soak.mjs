#!/usr/bin/env node
// npm run soak: the reliability suite at full size (SOAK=1) — crash points, races, bad input,
// faults, security — then one JSON report on stdout. Test output goes to stderr.
// Needs what .ci/run installs (a Docker Engine with the test image, Chromium) and root for the
// tmpfs mounts; without them those parts are skipped and the report says so.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const FILES = [
  'test/integration/crash-actions.test.ts',
  'test/integration/race.test.ts',
  'test/integration/bad-input.test.ts',
  'test/integration/bad-desired.test.ts',
  'test/integration/telegram-hostile.test.ts',
  'test/integration/hostile-files.test.ts',
  'test/integration/storage-faults.test.ts',
  'test/integration/api.test.ts',
  'test/integration/page.browser.test.ts',
  'test/docker/faults.test.ts',
];

const tmp = mkdtempSync(path.join(os.tmpdir(), 'hcp-soak-'));
const reportFile = path.join(tmp, 'figures.jsonl');
const vitestJson = path.join(tmp, 'vitest.json');
const started = Date.now();
const code = await new Promise((resolve) => {
  const child = spawn(
    process.execPath,
    [path.join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...FILES, '--reporter=default', '--reporter=json', `--outputFile.json=${vitestJson}`],
    { cwd: root, env: { ...process.env, SOAK: '1', SOAK_REPORT: reportFile }, stdio: ['ignore', process.stderr, process.stderr] },
  );
  child.on('exit', (c) => resolve(c ?? 1));
});

const sections = {};
if (existsSync(reportFile)) {
  for (const line of readFileSync(reportFile, 'utf8').split('\n').filter(Boolean)) {
    const { section, ...figures } = JSON.parse(line);
    sections[section] = figures;
  }
}
let tests = { passed: 0, failed: 0, skipped: 0 };
const failedTests = [];
if (existsSync(vitestJson)) {
  const r = JSON.parse(readFileSync(vitestJson, 'utf8'));
  tests = { passed: r.numPassedTests, failed: r.numFailedTests, skipped: (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0) };
  for (const f of r.testResults ?? []) for (const a of f.assertionResults ?? []) if (a.status === 'failed') failedTests.push(`${path.relative(root, f.name)} > ${a.fullName}: ${(a.failureMessages ?? [])[0]?.split('\n')[0] ?? ''}`);
}
rmSync(tmp, { recursive: true, force: true });
const report = {
  soak: true,
  started_at: new Date(started).toISOString(),
  seconds: Math.round((Date.now() - started) / 1000),
  machine: { cpus: os.cpus().length, node: process.version, root: process.getuid?.() === 0 },
  tests,
  failures: tests.failed + Object.values(sections).reduce((n, s) => n + (typeof s.failures === 'number' ? s.failures : 0), 0),
  failed_tests: failedTests,
  sections,
};
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
process.exit(code === 0 && report.failures === 0 ? 0 : 1);
