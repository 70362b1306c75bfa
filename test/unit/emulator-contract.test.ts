import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Contract, toJsonSchema } from '../../src/emulator/contract.ts';
import { IscHttpError } from '../../src/emulator/errors.ts';
import { applyJsonPatch } from '../../src/emulator/json-patch.ts';

const contract = Contract.load();

test('nullable type becomes null union', () => {
  assert.equal(toJsonSchema({ type: 'string', nullable: true }), { type: ['string', 'null'] });
});

test('nullable enum gains null member', () => {
  assert.equal(toJsonSchema({ type: 'string', nullable: true, enum: ['A'] }), {
    type: ['string', 'null'],
    enum: ['A', null],
  });
});

test('nullable allOf marker becomes anyOf', () => {
  const converted = toJsonSchema({ allOf: [{ $ref: 'x#/definitions/Y' }, { nullable: true }] });
  assert.equal(converted, { anyOf: [{ type: 'null' }, { allOf: [{ $ref: 'x#/definitions/Y' }] }] });
});

test('property named nullable is kept', () => {
  const converted = toJsonSchema({ type: 'object', properties: { nullable: { type: 'boolean' } } });
  assert.equal(converted, { type: 'object', properties: { nullable: { type: 'boolean' } } });
});

test('contract compiles every schema', () => {
  contract.compileAll();
});

test('request issues name the field', () => {
  const issues = contract.validateRequest('createAccount', 'application/json', {
    attributes: { name: 'audit01', count: 3 },
  });
  assert.equal(issues, [
    { field: 'attributes.sourceId', message: 'is required' },
    { field: 'attributes.count', message: 'must be string' },
  ]);
});

test('response with undeclared status', () => {
  const problems = contract.validateResponse('getAccount', 418, 'application/json', {});
  assert.equal(problems, ['status 418 is not declared for getAccount']);
});

test('response missing required fields', () => {
  const problems = contract.validateResponse('createAccount', 202, 'application/json', {});
  assert.equal(problems, ['id is required']);
});

test('null accepted where spec is nullable', () => {
  const problems = contract.validateResponse('getSource', 200, 'application/json', {
    name: 'Service Accounts',
    owner: null,
    connector: 'delimited-file-angularsc',
    managerCorrelationMapping: null,
    category: null,
  });
  assert.equal(problems, []);
});

test('json patch add, replace, remove', () => {
  const document = { attributes: [{ name: 'id' }], name: 'account', extra: 1 };
  const patched = applyJsonPatch(document, [
    { op: 'add', path: '/attributes/-', value: { name: 'purpose' } },
    { op: 'replace', path: '/name', value: 'renamed' },
    { op: 'remove', path: '/extra' },
  ]);
  assert.equal(patched, { attributes: [{ name: 'id' }, { name: 'purpose' }], name: 'renamed' });
  assert.equal(document.attributes.length, 1);
});

test('json patch move, copy, test', () => {
  const patched = applyJsonPatch({ a: 1, list: [1, 2] }, [
    { op: 'copy', from: '/a', path: '/b' },
    { op: 'move', from: '/list/0', path: '/list/1' },
    { op: 'test', path: '/b', value: 1 },
  ]);
  assert.equal(patched, { a: 1, b: 1, list: [2, 1] });
});

test('json patch failures are 400', () => {
  const failing = [
    { op: 'replace' as const, path: '/missing', value: 1 },
    { op: 'remove' as const, path: '/list/5' },
    { op: 'test' as const, path: '/a', value: 2 },
    { op: 'add' as const, path: 'no-slash', value: 1 },
  ];
  for (const operation of failing) {
    try {
      applyJsonPatch({ a: 1, list: [] }, [operation]);
      assert.unreachable(`${operation.op} ${operation.path} succeeded`);
    } catch (error) {
      assert.instance(error, IscHttpError);
      assert.is((error as IscHttpError).status, 400);
    }
  }
});

test.run();
