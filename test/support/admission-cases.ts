/**
 * Inputs on which the API server (CRD schemas and CEL rules), `validate` and the operator's
 * own checks must reach the same verdict. Each entry: the value and whether it is accepted.
 */

export const emailCases: Array<[string, boolean]> = [
  ['svc@example.com', true],
  ['first.last+ci@eu.corp.example', true],
  ['under_score%tag@sub-domain.example.com', true],
  ['svc@xn--exmple-cua.com', true],
  ['"a,b"@example.com', false],
  ['a,b@example.com', false],
  ["o'brien@example.com", false],
  ['a@localhost', false],
  ['ü@exämple.com', false],
  ['svc@exämple.com', false],
  ['a@example.com ', false],
  [' a@example.com', false],
  ['svc @example.com', false],
  ['svc@example.com\n', false],
  ['a..b@example.com', false],
  ['.a@example.com', false],
  ['a@-example.com', false],
  ['a@example.com.', false],
  ['a@b@example.com', false],
  ['Name <svc@example.com>', false],
];

export const baseUrlCases: Array<[string, boolean]> = [
  ['https://acme.api.identitynow.com', true],
  ['https://acme.api.identitynow.com/base', true],
  ['http://127.0.0.1:8080', true],
  ['http://localhost:8080/', true],
  ['http://[::1]:8080', true],
  ['http://acme.api.identitynow.com', false],
  ['http://127.0.0.2:8080', false],
  ['http://127.0.0.1@evil.example.com', false],
  ['http://localhost.example.com', false],
  ['ftp://acme', false],
];
