import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WorkQueue } from '../../src/controller/queue.ts';

test('queue holds a key once however often added', async () => {
  const queue = new WorkQueue();
  queue.add('ns/a');
  queue.add('ns/a');
  queue.add('ns/b');
  assert.is(queue.length, 2);
  assert.is(await queue.get(), 'ns/a');
  assert.is(await queue.get(), 'ns/b');
  queue.shutdown();
});

test('queue re-adds a key added while processing', async () => {
  const queue = new WorkQueue();
  queue.add('ns/a');
  const key = await queue.get();
  queue.add('ns/a');
  assert.is(queue.length, 0, 'a key being processed must not be handed to a second worker');
  queue.done(key!);
  assert.is(queue.length, 1);
  assert.is(await queue.get(), 'ns/a');
  queue.shutdown();
});

test('addFirst goes ahead of added keys', async () => {
  const queue = new WorkQueue();
  queue.add('ns/a');
  queue.add('ns/b');
  queue.addFirst('ns/c');
  queue.addFirst('ns/d');
  assert.is(queue.length, 4);
  assert.equal(
    [await queue.get(), await queue.get(), await queue.get(), await queue.get()],
    ['ns/c', 'ns/d', 'ns/a', 'ns/b'],
  );
  queue.shutdown();
});

test('addFirst moves a waiting key forward', async () => {
  const queue = new WorkQueue();
  queue.add('ns/a');
  queue.add('ns/b');
  queue.addFirst('ns/b');
  queue.addFirst('ns/b');
  assert.is(queue.length, 2);
  assert.is(await queue.get(), 'ns/b');
  assert.is(await queue.get(), 'ns/a');
  assert.is(queue.length, 0);
  queue.shutdown();
});

test('addFirst of a processing key waits for done', async () => {
  const queue = new WorkQueue();
  queue.add('ns/a');
  const key = await queue.get();
  queue.addFirst('ns/a');
  assert.is(queue.length, 0);
  queue.done(key!);
  assert.is(await queue.get(), 'ns/a');
  queue.shutdown();
});

test('queue hands a waiting worker the next key', async () => {
  const queue = new WorkQueue();
  const pending = queue.get();
  queue.add('ns/a');
  assert.is(await pending, 'ns/a');
  queue.shutdown();
});

test('queue keeps the earlier of two delays', async () => {
  const queue = new WorkQueue();
  queue.addAfter('ns/a', 10_000);
  queue.addAfter('ns/a', 20);
  assert.is(await queue.get(), 'ns/a');
  queue.shutdown();
});

test('queue doubles rate-limited delays until forget', () => {
  const queue = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 350 });
  assert.is(queue.addRateLimited('ns/a'), 100);
  assert.is(queue.addRateLimited('ns/a'), 200);
  assert.is(queue.addRateLimited('ns/a'), 350);
  queue.forget('ns/a');
  assert.is(queue.addRateLimited('ns/a'), 100);
  queue.shutdown();
});

test('queue caps retries across keys', () => {
  // The clock does not advance, so no token comes back between the calls.
  const queue = new WorkQueue({
    baseDelayMs: 1,
    retriesPerSecond: 10,
    retryBurst: 3,
    now: () => 1_000,
  });
  const delays = ['a', 'b', 'c', 'd', 'e'].map((key) => queue.addRateLimited(`ns/${key}`));
  assert.equal(delays, [1, 1, 1, 100, 200]);
  queue.shutdown();
});

test('queue cancels a delayed add', async () => {
  const queue = new WorkQueue();
  queue.addAfter('ns/a', 20);
  queue.cancelDelayed('ns/a');
  queue.addAfter('ns/b', 40);
  assert.is(await queue.get(), 'ns/b');
  queue.shutdown();
});

test('queue shutdown releases waiting workers', async () => {
  const queue = new WorkQueue();
  const pending = queue.get();
  queue.shutdown();
  assert.is(await pending, undefined);
});

test.run();
