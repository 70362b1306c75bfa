import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, readConfig } from '../../src/config.ts';
import { baseUrlCases } from '../support/admission-cases.ts';

const minimal = {
  ISC_BASE_URL: 'https://acme.api.identitynow.com',
  ISC_CLIENT_ID: 'id',
  ISC_CLIENT_SECRET: 'secret',
};

test('config defaults', () => {
  const config = readConfig(minimal);
  assert.is(config.isc?.name, 'default');
  assert.is(config.isc?.apiVersion, 'v2025');
  assert.is(config.sourceName, 'Service Accounts');
  assert.is(config.identityProfileName, 'Service Accounts');
  assert.is(config.isc?.rateLimitPer10s, 100);
  assert.is(config.workers, 4);
});

test('config reads credentials Secret reference', () => {
  const config = readConfig({
    ISC_BASE_URL: minimal.ISC_BASE_URL,
    ISC_CREDENTIALS_SECRET: 'isc/creds',
  });
  assert.equal(config.isc?.credentialsSecret, { namespace: 'isc', name: 'creds' });
});

test('config lists every problem at once', () => {
  try {
    readConfig({ ISC_CLIENT_ID: 'id', ISC_API_VERSION: 'v3', OPERATOR_WORKERS: '0' });
    assert.unreachable('invalid configuration was accepted');
  } catch (error) {
    assert.instance(error, ConfigError);
    const message = (error as Error).message;
    assert.match(message, 'ISC_BASE_URL is missing');
    assert.match(message, 'ISC_API_VERSION "v3" is invalid');
    assert.match(message, 'ISC credentials are missing');
    assert.match(message, 'OPERATOR_WORKERS "0" must be a positive integer');
  }
});

test('config without ISC variables uses Tenant resources only', () => {
  assert.is(readConfig({}).isc, undefined);
});

test('config rejects malformed Secret reference', () => {
  assert.throws(
    () => readConfig({ ISC_BASE_URL: minimal.ISC_BASE_URL, ISC_CREDENTIALS_SECRET: 'no-slash' }),
    /must be namespace\/name/,
  );
});

test('leader election off outside a pod', () => {
  assert.is(readConfig(minimal).leaderElection, undefined);
});

test('leader election on with a pod namespace', () => {
  const config = readConfig({ ...minimal, POD_NAMESPACE: 'isc-system' });
  assert.equal(config.leaderElection, { namespace: 'isc-system', leaseName: 'isc-sa-operator' });
});

test('leader election needs a namespace', () => {
  assert.throws(
    () => readConfig({ ...minimal, OPERATOR_LEADER_ELECTION: 'true' }),
    /no namespace is known for the lease/,
  );
});

test('watch namespaces parsing', () => {
  assert.is(readConfig(minimal).watchNamespaces, undefined);
  assert.equal(
    readConfig({ ...minimal, OPERATOR_WATCH_NAMESPACES: 'team-a, team-b' }).watchNamespaces,
    ['team-a', 'team-b'],
  );
  assert.throws(
    () => readConfig({ ...minimal, OPERATOR_WATCH_NAMESPACES: 'Team_A' }),
    /invalid namespaces: Team_A/,
  );
});

test('metrics address parsing', () => {
  assert.equal(readConfig(minimal).metricsAddress, { host: '127.0.0.1', port: 8080 });
  assert.equal(readConfig({ ...minimal, OPERATOR_METRICS_ADDRESS: '[::1]:9090' }).metricsAddress, {
    host: '::1',
    port: 9090,
  });
  assert.is(readConfig({ ...minimal, OPERATOR_METRICS_ADDRESS: 'off' }).metricsAddress, undefined);
  assert.throws(() => readConfig({ ...minimal, OPERATOR_METRICS_ADDRESS: '8080' }), /host:port/);
});

for (const [baseUrl, accepted] of baseUrlCases) {
  test(`ISC_BASE_URL ${accepted ? 'accepts' : 'rejects'} ${baseUrl}`, () => {
    const read = () => readConfig({ ...minimal, ISC_BASE_URL: baseUrl });
    if (accepted) assert.is(read().isc?.baseUrl, baseUrl);
    else assert.throws(read, /ISC_BASE_URL ".*" (must use https|is not a valid URL)/);
  });
}

test.run();
