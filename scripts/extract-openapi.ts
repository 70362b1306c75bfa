// Extracts the request and response schemas of the operations the ISC emulator serves from
// SailPoint's published OpenAPI specifications (sailpoint-oss/api-specs, MIT licensed) into
// src/emulator/contract/isc-contract.json, so the emulator validates traffic without the spec tree.
//
// Usage: node scripts/extract-openapi.ts [specDir]
// specDir defaults to ../shared/isc-openapi and must contain dereferenced/deref-sailpoint-api.v2025.yaml
// and dereferenced/deref-sailpoint-api.oauth.yaml. The output keeps OpenAPI 3.0 schema keywords
// (nullable, readOnly) because src/emulator/contract.ts converts them when it compiles the schemas;
// only documentation keywords (description, example, examples, externalDocs, x-*) are dropped.
// The repository keeps the file as biome formats it, so format the output before committing:
// node_modules/.bin/biome format --stdin-file-path=contract.json < isc-contract.json

import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** Operations served by the emulator, as [spec, method, path] in the spec's own path templates. */
const servedOperations: Array<['v2025' | 'oauth', string, string]> = [
  ['oauth', 'post', '/oauth/token'],
  ['v2025', 'get', '/sources'],
  ['v2025', 'post', '/sources'],
  ['v2025', 'get', '/sources/{id}'],
  ['v2025', 'put', '/sources/{id}'],
  ['v2025', 'get', '/sources/{id}/schemas/accounts'],
  ['v2025', 'post', '/sources/{id}/load-accounts'],
  ['v2025', 'get', '/sources/{sourceId}/schemas'],
  ['v2025', 'get', '/sources/{sourceId}/schemas/{schemaId}'],
  ['v2025', 'put', '/sources/{sourceId}/schemas/{schemaId}'],
  ['v2025', 'patch', '/sources/{sourceId}/schemas/{schemaId}'],
  ['v2025', 'get', '/accounts'],
  ['v2025', 'post', '/accounts'],
  ['v2025', 'get', '/accounts/{id}'],
  ['v2025', 'put', '/accounts/{id}'],
  ['v2025', 'delete', '/accounts/{id}'],
  ['v2025', 'get', '/identity-profiles'],
  ['v2025', 'post', '/identity-profiles'],
  ['v2025', 'get', '/identity-profiles/{identity-profile-id}'],
  ['v2025', 'patch', '/identity-profiles/{identity-profile-id}'],
  ['v2025', 'delete', '/identity-profiles/{identity-profile-id}'],
  ['v2025', 'post', '/identity-profiles/{identity-profile-id}/process-identities'],
  ['v2025', 'get', '/identities'],
  ['v2025', 'get', '/identities/{id}'],
  ['v2025', 'get', '/task-status/{id}'],
  ['v2025', 'post', '/identities/invite'],
  ['v2025', 'get', '/auth-users/{id}'],
  ['v2025', 'patch', '/auth-users/{id}'],
  ['v2025', 'get', '/personal-access-tokens'],
  ['v2025', 'post', '/personal-access-tokens'],
  ['v2025', 'patch', '/personal-access-tokens/{id}'],
  ['v2025', 'delete', '/personal-access-tokens/{id}'],
];

const documentationKeywords = new Set(['description', 'example', 'examples', 'externalDocs']);
const schemaRefPrefix = '#/components/schemas/';

/** The $id under which src/emulator/contract.ts registers the shared schema definitions. */
const contractSchemaId = 'isc-contract';

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function loadSpec(file: string): JsonObject {
  const spec = parse(readFileSync(file, 'utf8')) as Json;
  if (!isObject(spec)) throw new Error(`${file} does not contain an OpenAPI document`);
  return spec;
}

function getPath(root: JsonObject, pointer: string): Json {
  let node: Json = root;
  for (const raw of pointer.replace(/^#\//, '').split('/')) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (!isObject(node) || !(key in node)) throw new Error(`unresolvable reference ${pointer}`);
    node = node[key] as Json;
  }
  return node;
}

/**
 * Copies a schema without documentation keywords, rewriting component references to point into the
 * contract's shared definitions, and records every referenced component name in `used`.
 */
function cleanSchema(schema: Json, used: Set<string>): Json {
  if (Array.isArray(schema)) return schema.map((item) => cleanSchema(item, used));
  if (!isObject(schema)) return schema;
  const copy: JsonObject = {};
  for (const [key, value] of Object.entries(schema)) {
    if (documentationKeywords.has(key) || key.startsWith('x-')) continue;
    if (key === '$ref' && typeof value === 'string') {
      if (!value.startsWith(schemaRefPrefix)) throw new Error(`unexpected reference ${value}`);
      const name = value.slice(schemaRefPrefix.length);
      used.add(name);
      copy.$ref = `${contractSchemaId}#/definitions/${name}`;
      continue;
    }
    // Property maps use schema keywords as property names (for example a property called "type"),
    // so recurse into their values without treating the keys as keywords.
    if (key === 'properties' && isObject(value)) {
      const properties: JsonObject = {};
      for (const [name, property] of Object.entries(value)) {
        properties[name] = cleanSchema(property, used);
      }
      copy.properties = properties;
      continue;
    }
    copy[key] = cleanSchema(value, used);
  }
  return copy;
}

function resolveResponse(spec: JsonObject, response: Json): JsonObject {
  if (isObject(response) && typeof response.$ref === 'string') {
    const target = getPath(spec, response.$ref);
    if (!isObject(target)) throw new Error(`response ${response.$ref} is not an object`);
    return target;
  }
  if (!isObject(response)) throw new Error('response is not an object');
  return response;
}

function extractContent(content: Json | undefined, used: Set<string>): JsonObject {
  const media: JsonObject = {};
  if (!isObject(content)) return media;
  // A media type declared with only an example (text/csv downloads) gets the empty schema, which
  // accepts any body but still declares the media type.
  for (const [mediaType, entry] of Object.entries(content)) {
    media[mediaType] =
      isObject(entry) && entry.schema !== undefined ? cleanSchema(entry.schema, used) : {};
  }
  return media;
}

function extractOperation(spec: JsonObject, method: string, path: string, used: Set<string>) {
  const pathItem = (spec.paths as JsonObject | undefined)?.[path];
  const operation = isObject(pathItem) ? pathItem[method] : undefined;
  if (!isObject(operation)) throw new Error(`operation ${method.toUpperCase()} ${path} not found`);

  const responses: JsonObject = {};
  for (const [status, response] of Object.entries(operation.responses as JsonObject)) {
    responses[status] = extractContent(resolveResponse(spec, response).content, used);
  }

  const requestBody = isObject(operation.requestBody)
    ? {
        required: operation.requestBody.required === true,
        content: extractContent(operation.requestBody.content, used),
      }
    : null;

  return {
    operationId: operation.operationId as string,
    method: method.toUpperCase(),
    path,
    scopes: operationScopes(operation),
    requestBody,
    responses,
  };
}

/**
 * Returns the OAuth scopes listed in an operation's `security` requirements (userAuth and
 * applicationAuth), sorted and without repeats. A token needs one of them.
 */
function operationScopes(operation: JsonObject): string[] {
  const scopes = new Set<string>();
  const requirements = Array.isArray(operation.security) ? operation.security : [];
  for (const requirement of requirements) {
    if (!isObject(requirement)) continue;
    for (const listed of Object.values(requirement)) {
      if (!Array.isArray(listed)) continue;
      for (const scope of listed) if (typeof scope === 'string') scopes.add(scope);
    }
  }
  return [...scopes].sort();
}

/** Adds the referenced component schemas, and everything they reference in turn. */
function collectDefinitions(spec: JsonObject, names: Set<string>, definitions: JsonObject): void {
  const pending = [...names];
  while (pending.length > 0) {
    const name = pending.pop()!;
    if (name in definitions) continue;
    const nested = new Set<string>();
    definitions[name] = cleanSchema(getPath(spec, `${schemaRefPrefix}${name}`), nested);
    for (const next of nested) if (!(next in definitions)) pending.push(next);
  }
}

function main(): void {
  const here = dirname(fileURLToPath(import.meta.url));
  const specDir = resolve(process.argv[2] ?? join(here, '..', '..', 'shared', 'isc-openapi'));
  const outDir = join(here, '..', 'src', 'emulator', 'contract');
  const specs = {
    v2025: loadSpec(join(specDir, 'dereferenced', 'deref-sailpoint-api.v2025.yaml')),
    oauth: loadSpec(join(specDir, 'dereferenced', 'deref-sailpoint-api.oauth.yaml')),
  };

  const operations: JsonObject = {};
  const definitions: JsonObject = {};
  for (const specName of ['v2025', 'oauth'] as const) {
    const used = new Set<string>();
    for (const [name, method, path] of servedOperations) {
      if (name !== specName) continue;
      const operation = extractOperation(specs[specName], method, path, used);
      operations[operation.operationId] = operation;
    }
    const specDefinitions: JsonObject = {};
    collectDefinitions(specs[specName], used, specDefinitions);
    for (const [definitionName, schema] of Object.entries(specDefinitions)) {
      const existing = definitions[definitionName];
      // Both specs share one definitions namespace, which is only sound while same-named schemas
      // are identical.
      if (existing !== undefined && JSON.stringify(existing) !== JSON.stringify(schema)) {
        throw new Error(`schema ${definitionName} differs between the v2025 and oauth specs`);
      }
      definitions[definitionName] = schema;
    }
  }

  const sortedDefinitions: JsonObject = {};
  for (const name of Object.keys(definitions).sort()) sortedDefinitions[name] = definitions[name]!;

  const contract = {
    source: {
      repository: 'https://github.com/sailpoint-oss/api-specs',
      license: 'MIT (see LICENSE in this folder)',
      files: [
        'dereferenced/deref-sailpoint-api.v2025.yaml at 81ef79d05e43806f9083f42015a2a359bbd76e1f',
        'dereferenced/deref-sailpoint-api.oauth.yaml at 6478ebb616f65c54cbe43216b2c9b2edf97164a8',
      ],
      generatedBy: 'scripts/extract-openapi.ts',
    },
    schemaId: contractSchemaId,
    operations,
    definitions: sortedDefinitions,
  };
  writeFileSync(join(outDir, 'isc-contract.json'), `${JSON.stringify(contract, null, 2)}\n`);
  copyFileSync(join(specDir, 'LICENSE'), join(outDir, 'LICENSE'));
  console.log(
    `wrote ${Object.keys(operations).length} operations and ` +
      `${Object.keys(sortedDefinitions).length} schemas to ${outDir}`,
  );
}

main();
