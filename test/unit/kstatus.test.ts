import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { computeKstatus, type KstatusObject, type KstatusStatus } from '../support/kstatus.ts';

function condition(type: string, status: string, message = `${type} is ${status}`) {
  return { type, status, message };
}

const cases: Array<{ name: string; object: KstatusObject; expected: KstatusStatus }> = [
  {
    name: 'deletion wins over Ready',
    object: {
      metadata: { generation: 1, deletionTimestamp: '2026-01-01T00:00:00Z' },
      status: { observedGeneration: 1, conditions: [condition('Ready', 'True')] },
    },
    expected: 'Terminating',
  },
  {
    name: 'unobserved generation',
    object: {
      metadata: { generation: 3 },
      status: { observedGeneration: 2, conditions: [condition('Ready', 'True')] },
    },
    expected: 'InProgress',
  },
  {
    name: 'Reconciling True',
    object: {
      metadata: { generation: 1 },
      status: {
        observedGeneration: 1,
        conditions: [condition('Ready', 'False'), condition('Reconciling', 'True')],
      },
    },
    expected: 'InProgress',
  },
  {
    name: 'Stalled True',
    object: {
      metadata: { generation: 1 },
      status: {
        observedGeneration: 1,
        conditions: [condition('Ready', 'False'), condition('Stalled', 'True')],
      },
    },
    expected: 'Failed',
  },
  {
    name: 'first of Reconciling and Stalled',
    object: {
      status: { conditions: [condition('Stalled', 'True'), condition('Reconciling', 'True')] },
    },
    expected: 'Failed',
  },
  {
    name: 'Reconciling False is ignored',
    object: {
      status: { conditions: [condition('Reconciling', 'False'), condition('Ready', 'True')] },
    },
    expected: 'Current',
  },
  {
    name: 'Ready True',
    object: {
      metadata: { generation: 2 },
      status: { observedGeneration: 2, conditions: [condition('Ready', 'True')] },
    },
    expected: 'Current',
  },
  {
    name: 'Ready False alone',
    object: { status: { conditions: [condition('Ready', 'False')] } },
    expected: 'InProgress',
  },
  {
    name: 'Ready Unknown',
    object: { status: { conditions: [condition('Ready', 'Unknown')] } },
    expected: 'Current',
  },
  {
    name: 'no status at all',
    object: { metadata: { generation: 1 } },
    expected: 'Current',
  },
];

for (const { name, object, expected } of cases) {
  test(`kstatus: ${name}`, () => {
    assert.is(computeKstatus(object).status, expected);
  });
}

test('kstatus message names the condition', () => {
  const result = computeKstatus({
    status: { conditions: [condition('Stalled', 'True', 'set spec.adopt: true')] },
  });
  assert.is(result.message, 'set spec.adopt: true');
});

test('kstatus message names the generations', () => {
  const result = computeKstatus({
    kind: 'ServiceAccount',
    metadata: { generation: 5 },
    status: { observedGeneration: 4 },
  });
  assert.is(result.message, 'ServiceAccount generation is 5, but latest observed generation is 4');
});

test.run();
