/**
 * The operator container's NODE_OPTIONS as the chart renders them, and what they do to V8: the
 * test starts the project's Node with exactly the rendered value and reads the heap limit.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseAllDocuments } from 'yaml';
import { ensureHelm, runHelm } from '../../src/envtest/index.ts';

const chart = fileURLToPath(new URL('../../charts/isc-sa-operator', import.meta.url));
const dockerfile = fileURLToPath(new URL('../../Dockerfile', import.meta.url));
const nodeBinary = fileURLToPath(new URL('../../node_modules/.bin/node', import.meta.url));
const mebibyte = 1024 * 1024;

interface EnvVar {
  name: string;
  value?: string;
}

let helm: string;

test.before(async () => {
  helm = await ensureHelm();
});

/** Renders the chart and returns the operator container's environment variables, in order. */
async function renderOperatorEnv(setValues: string[] = []): Promise<EnvVar[]> {
  const args = ['template', 'isc', chart, '--namespace', 'isc-system'];
  for (const value of setValues) args.push('--set', value);
  const { stdout } = await runHelm(helm, args);
  const deployment = parseAllDocuments(stdout)
    .map((document) => document.toJS())
    .find((object) => object?.kind === 'Deployment');
  assert.ok(deployment, 'no Deployment rendered');
  return deployment.spec.template.spec.containers[0].env;
}

async function renderNodeOptions(setValues: string[] = []): Promise<string | undefined> {
  const env = await renderOperatorEnv(setValues);
  const entries = env.filter((variable) => variable.name === 'NODE_OPTIONS');
  assert.ok(entries.length <= 1, `NODE_OPTIONS rendered ${entries.length} times`);
  return entries[0]?.value;
}

interface HeapReport {
  heapSizeLimit: number;
  constrainedMemory: number;
  totalMemory: number;
}

/** Starts node_modules/.bin/node with only these NODE_OPTIONS and returns what V8 reports. */
function readHeap(nodeOptions: string): HeapReport {
  const script =
    'const v8 = require("node:v8"); const os = require("node:os");' +
    'console.log(JSON.stringify({ heapSizeLimit: v8.getHeapStatistics().heap_size_limit,' +
    ' constrainedMemory: process.constrainedMemory(), totalMemory: os.totalmem() }))';
  const output = execFileSync(nodeBinary, ['-e', script], {
    env: { PATH: process.env.PATH ?? '', NODE_OPTIONS: nodeOptions },
    encoding: 'utf8',
  });
  return JSON.parse(output) as HeapReport;
}

/**
 * Returns the memory that --max-old-space-size-percentage takes its share of: the cgroup
 * limit, or the machine's memory when libuv reports no limit (0 or 2^64 - 1, which is 2^64 as
 * a double). The rule is the one Node's own test of the flag checks against.
 */
function memorySeenByNode(report: HeapReport): number {
  const constrained = report.constrainedMemory;
  return constrained > 0 && constrained < 2 ** 64 ? constrained : report.totalMemory;
}

/**
 * Asserts that `nodeOptions` gives the heap limit of an explicit old-space cap of `percent`
 * percent of the memory Node reads, with the same young generation. A test cannot set that
 * memory without root (it is the cgroup limit or the machine's RAM), so the expected cap is
 * computed from what the child process reports.
 */
function assertHeapIsPercentOfMemory(nodeOptions: string, percent: number): void {
  const rendered = readHeap(nodeOptions);
  const oldSpaceMiB = Math.floor((memorySeenByNode(rendered) * percent) / 100 / mebibyte);
  const explicitOptions = `--max-semi-space-size=2 --max-old-space-size=${oldSpaceMiB}`;
  const explicit = readHeap(explicitOptions);
  const differenceMiB = Math.abs(rendered.heapSizeLimit - explicit.heapSizeLimit) / mebibyte;
  assert.ok(
    differenceMiB <= 1,
    `heap limit with "${nodeOptions}" is ${rendered.heapSizeLimit / mebibyte} MiB, with ` +
      `"${explicitOptions}" ${explicit.heapSizeLimit / mebibyte} MiB`,
  );
}

test('default caps old space at 50%', async () => {
  const nodeOptions = await renderNodeOptions();
  assert.is(nodeOptions, '--max-semi-space-size=2 --max-old-space-size-percentage=50');
  assertHeapIsPercentOfMemory(nodeOptions!, 50);
});

test('custom percentage reaches node', async () => {
  const nodeOptions = await renderNodeOptions(['heap.percentOfMemoryLimit=25']);
  assert.is(nodeOptions, '--max-semi-space-size=2 --max-old-space-size-percentage=25');
  assertHeapIsPercentOfMemory(nodeOptions!, 25);
});

test('no memory limit leaves old space to node', async () => {
  const nodeOptions = await renderNodeOptions(['resources.limits=null']);
  assert.is(nodeOptions, '--max-semi-space-size=2');
});

test('null percentage leaves old space to node', async () => {
  const nodeOptions = await renderNodeOptions(['heap.percentOfMemoryLimit=null']);
  assert.is(nodeOptions, '--max-semi-space-size=2');
});

test('extra env replaces node options', async () => {
  const env = await renderOperatorEnv([
    'operator.extraEnv[0].name=NODE_OPTIONS',
    'operator.extraEnv[0].value=--max-old-space-size=300',
  ]);
  const entries = env.filter((variable) => variable.name === 'NODE_OPTIONS');
  assert.equal(entries, [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=300' }]);
});

test('schema rejects fractional percent', async () => {
  let failure: Error | undefined;
  try {
    await runHelm(helm, ['template', 'isc', chart, '--set-json', 'heap.percentOfMemoryLimit=25.5']);
  } catch (error) {
    failure = error as Error;
  }
  assert.ok(failure, 'helm template accepted a fractional percentage');
  assert.match(failure!.message, /percentOfMemoryLimit/);
});

test('dockerfile matches chart default', async () => {
  const image = /^ENV NODE_OPTIONS="([^"]*)"/m.exec(readFileSync(dockerfile, 'utf8'));
  assert.ok(image, 'the Dockerfile sets no NODE_OPTIONS');
  assert.is(image![1], await renderNodeOptions());
});

test.run();
