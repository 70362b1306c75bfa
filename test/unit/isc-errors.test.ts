import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { classifyFailure } from '../../src/controller/errors.ts';
import { IscApiError, kindForStatus, parseIscErrorBody } from '../../src/isc/errors.ts';

const bodies: Array<[string, string | undefined, { detailCode?: string; message?: string }]> = [
  [
    'documented ErrorResponseDto',
    JSON.stringify({
      detailCode: '400.1 Bad Request Content',
      trackingId: 'e7eab60924f64aa284175b9fa3309599',
      messages: [{ locale: 'en-US', localeOrigin: 'DEFAULT', text: 'name is required' }],
      causes: [],
    }),
    { detailCode: '400.1 Bad Request Content', message: 'name is required' },
  ],
  [
    'token layer',
    '{"error": "JWT validation failed: JWT is expired"}',
    { message: 'JWT validation failed: JWT is expired' },
  ],
  ['rate limit', '{"message": " Rate Limit Exceeded "}', { message: 'Rate Limit Exceeded' }],
  [
    'conflict',
    '{"errorName":"Conflict","errorMessage":"exists","trackingId":"t"}',
    { detailCode: 'Conflict', message: 'exists' },
  ],
  ['bare detailMessage', '{"detailMessage":"Internal fault"}', { message: 'Internal fault' }],
  [
    'HTML gateway page',
    '<html><head><title>502 Bad Gateway</title></head><body>x</body></html>',
    { message: '502 Bad Gateway' },
  ],
  ['empty body', '', {}],
  ['no body', undefined, {}],
  ['JSON string', '"oops"', { message: '"oops"' }],
  ['truncated JSON', '{"detailCode": "400', { message: '{"detailCode": "400' }],
];

for (const [name, body, expected] of bodies) {
  test(`error body: ${name}`, () => {
    const detail = parseIscErrorBody(body);
    assert.is(detail.detailCode, expected.detailCode);
    assert.is(detail.messages[0], expected.message);
  });
}

test('error kinds by status', () => {
  assert.is(kindForStatus(429), 'transient');
  assert.is(kindForStatus(500), 'transient');
  assert.is(kindForStatus(503), 'transient');
  assert.is(kindForStatus(401), 'unauthorized');
  assert.is(kindForStatus(403), 'forbidden');
  assert.is(kindForStatus(404), 'not-found');
  assert.is(kindForStatus(409), 'conflict');
  assert.is(kindForStatus(400), 'invalid-request');
  assert.is(kindForStatus(415), 'invalid-request');
});

test('error message names call and status', () => {
  const error = new IscApiError({
    status: 404,
    method: 'GET',
    path: '/v2025/accounts/x',
    detail: { messages: ['not found'] },
  });
  assert.is(error.message, 'ISC GET /v2025/accounts/x failed with HTTP 404: not found');
  assert.is(error.kind, 'not-found');
});

test('rejected credential names its Secret', () => {
  const rejected = (credential?: string) =>
    new IscApiError({
      status: 401,
      method: 'POST',
      path: '/oauth/token',
      detail: { messages: ['Bad credentials'] },
      credential,
    });
  const named = classifyFailure(rejected('Secret team-a/audit01-pat'));
  assert.is(named.kind === 'transient' && named.reason, 'Unauthorized');
  assert.match(
    named.kind === 'transient' ? named.message : '',
    'check the ISC client id and secret in Secret team-a/audit01-pat',
  );
  const unnamed = classifyFailure(rejected());
  assert.match(
    unnamed.kind === 'transient' ? unnamed.message : '',
    'check the ISC client id and secret',
  );
});

test.run();
