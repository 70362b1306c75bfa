import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TenantClock } from '../../src/emulator/clock.ts';
import {
  FaultInjector,
  type FaultRequest,
  faultResponse,
  parseFaults,
} from '../../src/emulator/faults.ts';
import { parseEmulatorCommand } from '../../src/emulator/main.ts';
import { SeededRandom } from '../../src/emulator/random.ts';
import { RateLimiter } from '../../src/emulator/rate-limit.ts';

const listSources: FaultRequest = {
  method: 'GET',
  apiPath: '/sources',
  operationId: 'listSources',
};
const getAccount: FaultRequest = {
  method: 'GET',
  apiPath: '/accounts/abc',
  operationId: 'getAccount',
};

function outcomes(injector: FaultInjector, request: FaultRequest, count: number): string[] {
  return Array.from({ length: count }, () => injector.plan(request).outcome.kind);
}

test('seeded random repeats per seed', () => {
  const first = new SeededRandom(1);
  const second = new SeededRandom(1);
  const values = Array.from({ length: 5 }, () => first.next());
  assert.equal(
    Array.from({ length: 5 }, () => second.next()),
    values,
  );
  assert.ok(
    values.every((value) => value >= 0 && value < 1),
    `values out of range: ${values}`,
  );
});

test('shuffle returns a permutation', () => {
  const items = Array.from({ length: 20 }, (_, index) => index);
  const shuffled = new SeededRandom(3).shuffle(items);
  assert.equal(
    [...shuffled].sort((left, right) => left - right),
    items,
  );
  assert.not.equal(shuffled, items);
});

test('parseFaults accepts a full configuration', () => {
  const faults = {
    seed: 1,
    errors: [{ operation: 'createAccount', method: 'POST', status: 429, rate: 0.2 }],
    drops: [{ path: '/accounts', phase: 'after' }],
    latency: [{ fixedMs: 10, jitterMs: 5 }],
    expireTokens: 'all',
    taskDelayMs: { accountCreate: 1000, loadAccounts: 2000, identityProcessing: 3000 },
  };
  assert.equal(parseFaults(faults), faults);
});

test('parseFaults names the invalid field', () => {
  const cases: Array<[unknown, string]> = [
    [{ errors: [{ status: 418 }] }, '/errors/0/status'],
    [{ errors: [{ status: 500, rate: 2 }] }, '/errors/0/rate'],
    [{ drops: [{ phase: 'during' }] }, '/drops/0/phase'],
    [{ expireTokens: -1 }, '/expireTokens'],
    [{ taskDelayMs: { accountDelete: 5 } }, '/taskDelayMs'],
    [{ errorRate: 1 }, 'additional properties'],
  ];
  for (const [faults, field] of cases) {
    assert.throws(
      () => parseFaults(faults),
      (error: Error) => error.message.includes(field),
    );
  }
});

test('rate 1 always fires and rate 0 never', () => {
  const always = new FaultInjector(1, { errors: [{ status: 500 }] });
  assert.equal(outcomes(always, listSources, 10), Array(10).fill('error'));
  const never = new FaultInjector(1, { errors: [{ status: 500, rate: 0 }] });
  assert.equal(outcomes(never, listSources, 10), Array(10).fill('none'));
});

test('same seed gives same plans', () => {
  const faults = {
    errors: [{ status: 503 as const, rate: 0.3 }],
    drops: [{ phase: 'after' as const, rate: 0.3 }],
    latency: [{ jitterMs: 100 }],
  };
  const first = new FaultInjector(77, faults);
  const second = new FaultInjector(77, faults);
  const plans = Array.from({ length: 30 }, () => first.plan(listSources));
  assert.equal(
    Array.from({ length: 30 }, () => second.plan(listSources)),
    plans,
  );
  const kinds = new Set(plans.map((plan) => plan.outcome.kind));
  assert.ok(kinds.has('error'), 'no error in 30 plans');
  assert.ok(kinds.has('none'), 'no clean plan in 30 plans');
});

test('selectors match operation, path and method', () => {
  const injector = new FaultInjector(1, {
    errors: [
      { operation: 'listSources', status: 500 },
      { path: '/accounts/*', method: 'DELETE', status: 502 },
    ],
  });
  assert.is(injector.plan(listSources).outcome.kind, 'error');
  assert.is(injector.plan(getAccount).outcome.kind, 'none');
  const deleteAccount = { ...getAccount, method: 'DELETE', operationId: 'deleteAccount' };
  const outcome = injector.plan(deleteAccount).outcome;
  assert.is(outcome.kind, 'error');
  assert.is(outcome.kind === 'error' ? outcome.fault.status : 0, 502);
});

test('drop before wins over error', () => {
  const injector = new FaultInjector(1, {
    errors: [{ status: 500 }],
    drops: [{ phase: 'before' }, { phase: 'after' }],
  });
  assert.is(injector.plan(listSources).outcome.kind, 'drop-before');
});

test('error wins over drop after', () => {
  const injector = new FaultInjector(1, {
    errors: [{ status: 500 }],
    drops: [{ phase: 'after' }],
  });
  assert.is(injector.plan(listSources).outcome.kind, 'error');
});

test('latency adds fixed and jitter', () => {
  const injector = new FaultInjector(1, {
    latency: [
      { fixedMs: 50, jitterMs: 20 },
      { operation: 'getAccount', fixedMs: 1000 },
    ],
  });
  for (let index = 0; index < 20; index++) {
    const delayMs = injector.plan(listSources).delayMs;
    assert.ok(delayMs >= 50, `delay ${delayMs} is below the fixed 50 ms`);
    assert.ok(delayMs <= 70, `delay ${delayMs} exceeds 50 ms plus 20 ms jitter`);
  }
  assert.ok(injector.plan(getAccount).delayMs >= 1050, 'latency rules did not add up');
});

test('expireTokens counts distinct tokens', () => {
  const injector = new FaultInjector(1, { expireTokens: 2 });
  assert.is(injector.expiresToken('a'), true);
  assert.is(injector.expiresToken('a'), true, 'token a revived');
  assert.is(injector.expiresToken('b'), true);
  assert.is(injector.expiresToken('c'), false);
  assert.is(injector.get().expireTokens, 0);
  injector.set({});
  assert.is(injector.expiresToken('a'), true, 'clearing the faults revived token a');
  assert.is(injector.expiresToken('d'), false);
});

test('task delay applies to its kind only', () => {
  const injector = new FaultInjector(1, { taskDelayMs: { loadAccounts: 900 } });
  assert.is(injector.taskDelayMs('Cloud Account Aggregation'), 900);
  assert.is(injector.taskDelayMs('Account Create'), undefined);
});

test('rate limiter counts per client and family', () => {
  let now = 0;
  const limiter = new RateLimiter({ requests: 1, windowMs: 10_000 }, () => now);
  limiter.admit('a', 'v2025');
  assert.throws(
    () => limiter.admit('a', 'v2025'),
    (error: Error & { status?: number }) => error.status === 429,
  );
  limiter.admit('a', 'accounts/v1');
  limiter.admit('b', 'v2025');
  now = 10_001;
  limiter.admit('a', 'v2025');
  assert.equal(limiter.counts(), [
    { clientId: 'a', family: 'v2025', admitted: 2, limited: 1 },
    { clientId: 'a', family: 'accounts/v1', admitted: 1, limited: 0 },
    { clientId: 'b', family: 'v2025', admitted: 1, limited: 0 },
  ]);
});

test('rate limiter Retry-After counts to window end', () => {
  let now = 0;
  const limiter = new RateLimiter({ requests: 1, windowMs: 10_000 }, () => now);
  limiter.admit('a', 'v2025');
  now = 2500;
  try {
    limiter.admit('a', 'v2025');
    assert.unreachable('the second request was admitted');
  } catch (error) {
    assert.is((error as { headers: Record<string, string> }).headers['Retry-After'], '8');
  }
});

test('fault bodies follow status or body', () => {
  const cases: Array<[Parameters<typeof faultResponse>[0], string, unknown]> = [
    [{ status: 429 }, 'json', { message: ' Rate Limit Exceeded ' }],
    [{ status: 502 }, 'html', undefined],
    [{ status: 503 }, 'empty', undefined],
    [
      { status: 500, body: 'detail-message' },
      'json',
      { detailMessage: '500 Internal Server Error' },
    ],
    [{ status: 502, body: 'detail-message' }, 'json', { detailMessage: '502 Bad Gateway' }],
    [{ status: 500, body: 'html' }, 'html', undefined],
    [{ status: 500, body: 'empty' }, 'empty', undefined],
  ];
  for (const [fault, kind, body] of cases) {
    const response = faultResponse(fault);
    const label = JSON.stringify(fault);
    assert.is(response.status, fault.status, label);
    if (kind === 'html') {
      assert.is(response.contentType, 'text/html', label);
      assert.match(String(response.body), `<title>${fault.status} `, label);
    } else if (kind === 'empty') {
      assert.is(response.body, undefined, label);
    } else {
      assert.equal(response.body, body, label);
    }
  }
  const documented = faultResponse({ status: 500 }).body as { detailCode: string };
  assert.is(documented.detailCode, '500.0 Internal Fault');
  const limited = faultResponse({ status: 429, body: 'detail-message', retryAfterSeconds: 4 });
  assert.is(limited.headers?.['Retry-After'], '4');
});

test('tenant clock moves forward only', () => {
  let base = 1_000;
  const clock = new TenantClock(() => base);
  assert.is(clock.now(), 1_000);
  clock.advance(500);
  assert.is(clock.now(), 1_500);
  base = 2_000;
  assert.is(clock.now(), 2_500);
  assert.is(clock.nowIso(), new Date(2_500).toISOString());
  assert.throws(() => clock.advance(-1), /forward/);
  assert.throws(() => clock.advance(Number.NaN), /forward/);
});

test('command reads fault flags', () => {
  const command = parseEmulatorCommand(
    [
      '--seed',
      '12',
      '--faults',
      '{"errors":[{"status":503}]}',
      '--rate-limit',
      '5/2',
      '--list-order',
      'insertion',
      '--list-lag-ms',
      '250',
      '--state-file',
      '/tmp/tenant.json',
      '--pat-scope-delay-ms',
      '1200000',
      '--internal-fault-on-missing-scope',
      'listIdentities, getAuthUser',
    ],
    {},
  );
  assert.is(command.help, false);
  const options = command.help ? {} : command.options;
  assert.is(options.seed, 12);
  assert.equal(options.faults, { errors: [{ status: 503 }] });
  assert.equal(options.rateLimit, { requests: 5, windowMs: 2000 });
  assert.is(options.listOrder, 'insertion');
  assert.is(options.listLagMs, 250);
  assert.is(options.stateFile, '/tmp/tenant.json');
  assert.is(options.patScopeDelayMs, 1200000);
  assert.equal(options.internalFaultOnMissingScope, ['listIdentities', 'getAuthUser']);
});

test('command reads fault environment', () => {
  const command = parseEmulatorCommand([], {
    ISC_EMULATOR_SEED: '3',
    ISC_EMULATOR_FAULTS: '{"expireTokens":"all"}',
    ISC_EMULATOR_STATE_FILE: '/tmp/state.json',
  });
  const options = command.help ? {} : command.options;
  assert.is(options.seed, 3);
  assert.equal(options.faults, { expireTokens: 'all' });
  assert.is(options.stateFile, '/tmp/state.json');
  assert.is(options.rateLimit, undefined);
});

test('command rejects invalid flags', () => {
  const cases: Array<[string[], string]> = [
    [['--seed', 'x'], '--seed'],
    [['--rate-limit', '5'], '--rate-limit'],
    [['--list-order', 'random'], '--list-order'],
    [['--faults', '{'], '--faults'],
    [['--faults', '{"errors":[{"status":200}]}'], '/errors/0/status'],
    [['--faults', '{"errors":[{"status":500,"body":"xml"}]}'], '/errors/0/body'],
    [['--pat-scope-delay-ms', '-1'], '--pat-scope-delay-ms'],
    [['--internal-fault-on-missing-scope', 'list accounts'], '--internal-fault-on-missing-scope'],
  ];
  for (const [argv, expected] of cases) {
    assert.throws(
      () => parseEmulatorCommand(argv, {}),
      (error: Error) => error.message.includes(expected),
    );
  }
});

test.run();
