/**
 * Progress of long reads: a redrawn line on a TTY, nothing at all on a pipe or a file.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createProgress } from '../../src/cli/progress.ts';

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { stream: { isTTY, write: (text: string) => writes.push(text) }, writes };
}

test('progress is silent without a TTY', () => {
  const { stream, writes } = fakeStream(false);
  const progress = createProgress(stream);
  progress.update('reading accounts', 250, 1000);
  progress.end();
  assert.equal(writes, []);
});

test('progress is silent without a stream', () => {
  const progress = createProgress(undefined);
  progress.update('reading accounts', 1);
  progress.end();
});

test('progress redraws one line on a TTY', () => {
  const { stream, writes } = fakeStream(true);
  const progress = createProgress(stream);
  progress.update('reading accounts', 250, 1000);
  progress.update('reading accounts', 500);
  progress.end();
  assert.equal(writes, [
    '\rreading accounts 250/1000\u001b[K',
    '\rreading accounts 500\u001b[K',
    '\r\u001b[K',
  ]);
});

test('progress end without updates writes nothing', () => {
  const { stream, writes } = fakeStream(true);
  createProgress(stream).end();
  assert.equal(writes, []);
});

test.run();
