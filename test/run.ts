/**
 * Runs the test suites in order (unit, integration, end-to-end), each in its own uvu process,
 * and prints one closing line `N passed, N failed` over all of them.
 *
 * Usage: node test/run.ts [unit|integration|e2e ...] [-- uvu pattern]
 * Integration and end-to-end suites need the Kubernetes binaries; they are built into the user's
 * cache on first use (about 8 minutes on 2 cores), which this script does up front.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';

const allSuites = ['unit', 'integration', 'e2e'];
const args = process.argv.slice(2);
const dash = args.indexOf('--');
const requested = dash === -1 ? args : args.slice(0, dash);
const pattern = dash === -1 ? undefined : args[dash + 1];
const suites = requested.length > 0 ? requested : allSuites;
const root = fileURLToPath(new URL('..', import.meta.url));
const uvu = fileURLToPath(new URL('../node_modules/uvu/bin.js', import.meta.url));

function run(command: string, commandArgs: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, commandArgs, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      process.stdout.write(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

/** Reads uvu's summary block; a suite that crashed before it counts as one failure. */
function countResults(output: string): { passed: number; failed: number } {
  const plain = stripVTControlCharacters(output);
  const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? Number.NaN);
  const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? Number.NaN);
  // uvu's Total counts the tests that ran; skipped ones are outside it.
  if (Number.isNaN(total) || Number.isNaN(passed)) return { passed: 0, failed: 1 };
  return { passed, failed: total - passed };
}

let passed = 0;
let failed = 0;
if (suites.some((suite) => suite !== 'unit')) {
  const build = await run(process.execPath, ['scripts/build-kube.ts']);
  if (build.code !== 0) {
    console.error('building the Kubernetes binaries failed; integration and e2e suites cannot run');
    failed++;
  }
}
for (const suite of suites) {
  if (!existsSync(`${root}/test/${suite}`)) {
    console.error(`unknown suite "${suite}"; choose from ${allSuites.join(', ')}`);
    failed++;
    continue;
  }
  console.log(`\n=== ${suite} tests ===`);
  const result = await run(process.execPath, [
    uvu,
    `test/${suite}`,
    pattern ?? '.test.ts$',
    '-c',
    'false',
  ]);
  const counts = countResults(result.output);
  passed += counts.passed;
  failed += counts.failed + (result.code !== 0 && counts.failed === 0 ? 1 : 0);
}
console.log(`\n${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
