/**
 * The packaged command: `npm run build` and `npm pack` produce a package whose `bin` runs, prints
 * the help of every review command, and validates the packaged examples with the packaged CRDs.
 * This is what `npx isc-sa-operator` runs once the package is installed (Node.js 24 or newer).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
let folder: string;
let bin: string;

test.before(async () => {
  folder = await mkdtemp(join(tmpdir(), 'cli-package-'));
  await run(
    process.execPath,
    [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: root,
    },
  );
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', folder], {
    cwd: root,
  });
  const [packed] = JSON.parse(stdout) as Array<{ filename: string }>;
  await run('tar', ['-xzf', join(folder, packed!.filename), '-C', folder]);
  // The dependencies are the project's own; installing them again would need the registry.
  await symlink(join(root, 'node_modules'), join(folder, 'package', 'node_modules'));
  const manifest = JSON.parse(await readFile(join(folder, 'package', 'package.json'), 'utf8'));
  bin = join(folder, 'package', manifest.bin['isc-sa-operator']);
});

test.after(async () => {
  if (folder) await rm(folder, { recursive: true, force: true });
});

async function cli(...args: string[]): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await run(process.execPath, [bin, ...args], { cwd: folder });
    return { code: 0, stdout };
  } catch (error) {
    const failed = error as { code: number; stdout: string };
    return { code: failed.code, stdout: failed.stdout };
  }
}

test('bin starts with a node shebang', async () => {
  const text = await readFile(bin, 'utf8');
  assert.ok(text.startsWith('#!/usr/bin/env node\n'), text.slice(0, 40));
});

test('bin prints the command list', async () => {
  const result = await cli('--help');
  assert.is(result.code, 0);
  for (const command of ['validate', 'plan', 'export'])
    assert.match(result.stdout, new RegExp(`^  ${command} `, 'm'));
});

for (const command of ['validate', 'plan', 'export']) {
  test(`bin ${command} --help`, async () => {
    const result = await cli(command, '--help');
    assert.is(result.code, 0);
    assert.ok(result.stdout.startsWith(`Usage: isc-sa-operator ${command} `), result.stdout);
    assert.ok(result.stdout.includes('--output'), result.stdout);
    assert.ok(result.stdout.includes('Exit codes:'), result.stdout);
  });
}

test('bin validates the packaged examples', async () => {
  const result = await cli('validate', join(folder, 'package', 'examples'));
  assert.is(result.code, 0, result.stdout);
  assert.match(result.stdout, /3 ServiceAccounts, 1 Tenant checked, 0 problems/);
});

test.run();
