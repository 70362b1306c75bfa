// JSON Patch (RFC 6902) applied to a copy of a document, with RFC 6901 JSON Pointers.

import { isDeepStrictEqual } from 'node:util';
import { badRequest } from './errors.ts';

export interface PatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: unknown;
}

type Container = Record<string, unknown> | unknown[];

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw badRequest(`Invalid JSON Pointer "${pointer}".`);
  return pointer
    .slice(1)
    .split('/')
    .map((token) => token.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function isContainer(value: unknown): value is Container {
  return typeof value === 'object' && value !== null;
}

/** Returns the parent container of the pointer's target and the final token. */
function locateParent(document: unknown, pointer: string): [Container, string] {
  const tokens = parsePointer(pointer);
  const last = tokens.pop();
  if (last === undefined) throw badRequest(`The path "${pointer}" cannot target the whole object.`);
  let current: unknown = document;
  for (const token of tokens) {
    if (!isContainer(current)) throw badRequest(`The path "${pointer}" does not exist.`);
    current = Array.isArray(current) ? current[Number(token)] : current[token];
  }
  if (!isContainer(current)) throw badRequest(`The path "${pointer}" does not exist.`);
  return [current, last];
}

function arrayIndex(array: unknown[], token: string, pointer: string, allowEnd: boolean): number {
  if (token === '-' && allowEnd) return array.length;
  if (!/^(0|[1-9]\d*)$/.test(token)) throw badRequest(`Invalid array index in "${pointer}".`);
  const index = Number(token);
  if (index > array.length || (!allowEnd && index === array.length)) {
    throw badRequest(`Array index out of range in "${pointer}".`);
  }
  return index;
}

function readPointer(document: unknown, pointer: string): unknown {
  let current: unknown = document;
  for (const token of parsePointer(pointer)) {
    if (!isContainer(current)) throw badRequest(`The path "${pointer}" does not exist.`);
    if (Array.isArray(current)) {
      current = current[arrayIndex(current, token, pointer, false)];
    } else {
      if (!Object.hasOwn(current, token)) throw badRequest(`The path "${pointer}" does not exist.`);
      current = current[token];
    }
  }
  return current;
}

function addValue(document: unknown, pointer: string, value: unknown): unknown {
  if (pointer === '') return value;
  const [parent, token] = locateParent(document, pointer);
  if (Array.isArray(parent)) {
    parent.splice(arrayIndex(parent, token, pointer, true), 0, value);
  } else {
    parent[token] = value;
  }
  return document;
}

function removeValue(document: unknown, pointer: string): unknown {
  const [parent, token] = locateParent(document, pointer);
  if (Array.isArray(parent)) {
    parent.splice(arrayIndex(parent, token, pointer, false), 1);
  } else {
    if (!Object.hasOwn(parent, token)) throw badRequest(`The path "${pointer}" does not exist.`);
    delete parent[token];
  }
  return document;
}

/** Applies `operations` to a deep copy of `document`, raising a 400 IscHttpError on failure. */
export function applyJsonPatch<T>(document: T, operations: PatchOperation[]): T {
  let result: unknown = structuredClone(document);
  for (const operation of operations) {
    switch (operation.op) {
      case 'add':
        result = addValue(result, operation.path, structuredClone(operation.value));
        break;
      case 'remove':
        result = removeValue(result, operation.path);
        break;
      case 'replace':
        readPointer(result, operation.path);
        result = removeValue(result, operation.path);
        result = addValue(result, operation.path, structuredClone(operation.value));
        break;
      case 'move':
      case 'copy': {
        if (operation.from === undefined) {
          throw badRequest(`The "${operation.op}" operation requires "from".`);
        }
        const value = structuredClone(readPointer(result, operation.from));
        if (operation.op === 'move') result = removeValue(result, operation.from);
        result = addValue(result, operation.path, value);
        break;
      }
      case 'test':
        if (!isDeepStrictEqual(readPointer(result, operation.path), operation.value)) {
          throw badRequest(`The test operation failed at "${operation.path}".`);
        }
        break;
    }
  }
  return result as T;
}

/** Returns the first path segment each operation touches, for immutable-field checks. */
export function touchedTopLevelFields(operations: PatchOperation[]): Set<string> {
  const fields = new Set<string>();
  for (const operation of operations) {
    for (const pointer of [operation.path, operation.from]) {
      if (pointer === undefined || operation.op === 'test') continue;
      const first = parsePointer(pointer)[0];
      if (first !== undefined) fields.add(first);
    }
  }
  return fields;
}
