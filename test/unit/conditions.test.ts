import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setCondition } from '../../src/controller/conditions.ts';

const t0 = new Date('2026-01-01T00:00:00Z');
const t1 = new Date('2026-01-01T00:01:00Z');

test('condition keeps transition time when status holds', () => {
  const first = setCondition(
    [],
    { type: 'Ready', status: 'False', reason: 'A', message: 'a' },
    1,
    t0,
  );
  const second = setCondition(
    first,
    { type: 'Ready', status: 'False', reason: 'B', message: 'b' },
    2,
    t1,
  );
  assert.is(second[0]!.lastTransitionTime, t0.toISOString());
  assert.is(second[0]!.reason, 'B');
  assert.is(second[0]!.observedGeneration, 2);
});

test('condition moves transition time on change', () => {
  const first = setCondition(
    [],
    { type: 'Ready', status: 'False', reason: 'A', message: 'a' },
    1,
    t0,
  );
  const second = setCondition(
    first,
    { type: 'Ready', status: 'True', reason: 'C', message: 'c' },
    1,
    t1,
  );
  assert.is(second[0]!.lastTransitionTime, t1.toISOString());
});

test('conditions stay sorted by type', () => {
  let conditions = setCondition(
    [],
    { type: 'Stalled', status: 'True', reason: 'X', message: 'x' },
    1,
    t0,
  );
  conditions = setCondition(
    conditions,
    { type: 'Ready', status: 'False', reason: 'X', message: 'x' },
    1,
    t0,
  );
  assert.equal(
    conditions.map((c) => c.type),
    ['Ready', 'Stalled'],
  );
});

test.run();
