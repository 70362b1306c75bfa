import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SlidingWindowLimiter } from '../../src/isc/limiter.ts';

test('limiter admits at most limit per window', async () => {
  const limiter = new SlidingWindowLimiter(3, 200);
  const started: number[] = [];
  const origin = Date.now();
  await Promise.all(
    Array.from({ length: 7 }, async () => {
      const release = await limiter.acquire();
      started.push(Date.now() - origin);
      release();
    }),
  );
  started.sort((a, b) => a - b);
  for (let i = 3; i < started.length; i++) {
    assert.ok(
      started[i]! - started[i - 3]! >= 195,
      `start ${i} at ${started[i]} ms is within 200 ms of start ${i - 3} at ${started[i - 3]} ms`,
    );
  }
});

test('limiter reports queue depth', async () => {
  const limiter = new SlidingWindowLimiter(1, 100);
  const release = await limiter.acquire();
  const pending = limiter.acquire();
  assert.is(limiter.queueDepth, 1);
  release();
  await pending;
  assert.is(limiter.queueDepth, 0);
});

test('limiter pause blocks new starts', async () => {
  const limiter = new SlidingWindowLimiter(10, 1_000);
  const origin = Date.now();
  limiter.pause(150);
  await limiter.acquire();
  assert.ok(Date.now() - origin >= 145, 'a start came before the pause ended');
});

test('limiter holds a slot until a window after release', async () => {
  const limiter = new SlidingWindowLimiter(1, 100);
  const release = await limiter.acquire();
  let second = false;
  const pending = limiter.acquire().then((next) => {
    second = true;
    next();
  });
  await new Promise((resolve) => setTimeout(resolve, 150));
  assert.is(second, false, 'a slot was given while the first request was still running');
  const releasedAt = Date.now();
  release();
  await pending;
  assert.ok(Date.now() - releasedAt >= 95, 'the slot came back before the window passed');
});

test('limiter rejects nonsense settings', () => {
  assert.throws(() => new SlidingWindowLimiter(0, 1000), /positive/);
});

test.run();
