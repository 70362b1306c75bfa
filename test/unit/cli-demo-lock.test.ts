/**
 * The demo's folder lock: a live holder blocks a second demo, a dead one's pid file does not.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { acquireDemoLock, DemoLockedError, demoLockFile } from '../../src/cli/demo-lock.ts';

let folder: string;

test.before.each(async () => {
  folder = await mkdtemp(join(tmpdir(), 'demo-lock-'));
});

test.after.each(async () => {
  await rm(folder, { recursive: true, force: true });
});

test('lock records this pid', async () => {
  const lock = await acquireDemoLock(folder);
  assert.is(await readFile(join(folder, demoLockFile), 'utf8'), `${process.pid}\n`);
  await lock.release();
  const left = await readFile(join(folder, demoLockFile)).catch((error: unknown) => error);
  assert.is((left as NodeJS.ErrnoException).code, 'ENOENT');
});

test('live holder blocks a second lock', async () => {
  const lock = await acquireDemoLock(folder);
  try {
    await acquireDemoLock(folder);
    assert.unreachable('the second lock was granted');
  } catch (error) {
    assert.instance(error, DemoLockedError);
    assert.match(
      (error as Error).message,
      `another demo (pid ${process.pid}) is running in this folder; stop it`,
    );
  }
  assert.is(await readFile(join(folder, demoLockFile), 'utf8'), `${process.pid}\n`);
  await lock.release();
});

test('pid file of a dead process is replaced', async () => {
  // A child that has exited stands for a demo killed with SIGKILL.
  const child = spawnSync(process.execPath, ['-e', '0']);
  assert.ok(child.pid > 0);
  await writeFile(join(folder, demoLockFile), `${child.pid}\n`);
  const lock = await acquireDemoLock(folder);
  assert.is(await readFile(join(folder, demoLockFile), 'utf8'), `${process.pid}\n`);
  await lock.release();
});

test('unreadable pid file is replaced', async () => {
  await writeFile(join(folder, demoLockFile), 'garbage');
  const lock = await acquireDemoLock(folder);
  assert.is(await readFile(join(folder, demoLockFile), 'utf8'), `${process.pid}\n`);
  await lock.release();
});

test('release leaves a newer holder alone', async () => {
  const lock = await acquireDemoLock(folder);
  await writeFile(join(folder, demoLockFile), '1\n');
  await lock.release();
  assert.is(await readFile(join(folder, demoLockFile), 'utf8'), '1\n');
});

test.run();
