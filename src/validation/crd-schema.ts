/**
 * JSON Schema validators built at run time from the project's CustomResourceDefinitions, so the
 * offline checks and the API server read one source of truth: `crds/*.yaml`.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import formatsPlugin from 'ajv-formats';
import { parseAllDocuments } from 'yaml';
import { projectPath } from '../paths.ts';

/** A CEL rule of a CRD (`x-kubernetes-validations` entry). */
export interface CelRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?: string;
}

/** A structural schema node as Kubernetes' apiextensions/v1 writes it. */
export interface StructuralSchema {
  type?: string;
  properties?: Record<string, StructuralSchema>;
  additionalProperties?: StructuralSchema | boolean;
  items?: StructuralSchema;
  required?: string[];
  format?: string;
  nullable?: boolean;
  'x-kubernetes-validations'?: CelRule[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  [keyword: string]: unknown;
}

/** One served version of one kind, with its compiled schema. */
export interface ResourceSchema {
  group: string;
  version: string;
  kind: string;
  scope: 'Namespaced' | 'Cluster';
  schema: StructuralSchema;
  /** Validates a clone of the object and fills in the schema's defaults, as admission does. */
  validate: ValidateFunction;
}

/** A schema violation with the path of the offending field as segments. */
export interface SchemaIssue {
  path: (string | number)[];
  message: string;
}

const kubernetesKeywords = [
  'x-kubernetes-validations',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-int-or-string',
  'x-kubernetes-embedded-resource',
];

/**
 * Reads `crds/*.yaml` and compiles the schema of every served version. Throws when a file is
 * not valid YAML or a schema does not compile, since every check would then be wrong.
 */
export async function loadResourceSchemas(folder = projectPath('crds')): Promise<ResourceSchema[]> {
  const ajv = new Ajv({ allErrors: true, strict: true, useDefaults: true, allowUnionTypes: true });
  formatsPlugin.default(ajv);
  ajv.addVocabulary(kubernetesKeywords);

  const schemas: ResourceSchema[] = [];
  const files = (await readdir(folder)).filter((file) => /\.ya?ml$/.test(file)).sort();
  for (const file of files) {
    for (const document of parseAllDocuments(await readFile(join(folder, file), 'utf8'))) {
      if (document.errors.length > 0) {
        throw new Error(`${file}: invalid YAML: ${document.errors[0]!.message}`);
      }
      const crd = document.toJS() as CustomResourceDefinition | null;
      if (crd?.kind !== 'CustomResourceDefinition') continue;
      for (const version of crd.spec.versions) {
        if (!version.served || !version.schema?.openAPIV3Schema) continue;
        const schema = version.schema.openAPIV3Schema;
        registerUnknownFormats(ajv, schema);
        schemas.push({
          group: crd.spec.group,
          version: version.name,
          kind: crd.spec.names.kind,
          scope: crd.spec.scope,
          schema,
          validate: ajv.compile(toJsonSchema(schema)),
        });
      }
    }
  }
  return schemas;
}

interface CustomResourceDefinition {
  kind: string;
  spec: {
    group: string;
    scope: 'Namespaced' | 'Cluster';
    names: { kind: string };
    versions: Array<{
      name: string;
      served: boolean;
      schema?: { openAPIV3Schema?: StructuralSchema };
    }>;
  };
}

/**
 * Converts a structural schema to the JSON Schema that admission enforces: an object with
 * `properties` rejects other fields (kubectl's default strict field validation) unless it
 * preserves unknown fields, `nullable` admits null, int-or-string admits both, and a list of
 * type set admits no duplicates.
 */
export function toJsonSchema(node: StructuralSchema): Record<string, unknown> {
  const converted: Record<string, unknown> = { ...node };
  if (node.properties) {
    converted.properties = Object.fromEntries(
      Object.entries(node.properties).map(([name, child]) => [name, toJsonSchema(child)]),
    );
    if (node.additionalProperties === undefined && !node['x-kubernetes-preserve-unknown-fields']) {
      converted.additionalProperties = false;
    }
  }
  if (typeof node.additionalProperties === 'object') {
    converted.additionalProperties = toJsonSchema(node.additionalProperties);
  }
  if (node.items) converted.items = toJsonSchema(node.items);
  if (node.nullable) {
    delete converted.nullable;
    if (node.type) converted.type = [node.type, 'null'];
  }
  if (node['x-kubernetes-int-or-string']) converted.type = ['integer', 'string'];
  // The API server rejects duplicates in a list of type set.
  if ((node as Record<string, unknown>)['x-kubernetes-list-type'] === 'set') {
    converted.uniqueItems = true;
  }
  return converted;
}

/** Lets formats ajv does not know pass, as the API server ignores formats it does not know. */
function registerUnknownFormats(ajv: Ajv, node: StructuralSchema): void {
  if (node.format && ajv.formats[node.format] === undefined) {
    ajv.addFormat(node.format, true);
  }
  for (const child of Object.values(node.properties ?? {})) registerUnknownFormats(ajv, child);
  if (typeof node.additionalProperties === 'object') {
    registerUnknownFormats(ajv, node.additionalProperties);
  }
  if (node.items) registerUnknownFormats(ajv, node.items);
}

/**
 * Finds items of a list of type map (`x-kubernetes-list-type: map`) that repeat the key of an
 * earlier item, at any depth, which the API server rejects as a duplicate value. JSON Schema
 * cannot state this uniqueness, so ajv does not check it.
 */
export function listMapIssues(
  node: StructuralSchema,
  value: unknown,
  path: (string | number)[] = [],
): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  if (Array.isArray(value)) {
    const keyNames = node['x-kubernetes-list-map-keys'];
    if (node['x-kubernetes-list-type'] === 'map' && Array.isArray(keyNames)) {
      const seen = new Set<string>();
      value.forEach((item, index) => {
        if (item === null || typeof item !== 'object' || Array.isArray(item)) return;
        const fields = item as Record<string, unknown>;
        const key = Object.fromEntries(keyNames.map((name: string) => [name, fields[name]]));
        const text = JSON.stringify(key);
        if (seen.has(text)) {
          issues.push({ path: [...path, index], message: `Duplicate value: ${text}` });
        }
        seen.add(text);
      });
    }
    const itemSchema = node.items;
    if (itemSchema) {
      value.forEach((item, index) => {
        issues.push(...listMapIssues(itemSchema, item, [...path, index]));
      });
    }
    return issues;
  }
  if (value === null || typeof value !== 'object') return issues;
  for (const [name, child] of Object.entries(value as Record<string, unknown>)) {
    const childSchema =
      node.properties?.[name] ??
      (typeof node.additionalProperties === 'object' ? node.additionalProperties : undefined);
    if (childSchema) issues.push(...listMapIssues(childSchema, child, [...path, name]));
  }
  return issues;
}

/** Converts ajv's errors to one issue per field, in the wording of API server messages. */
export function schemaIssues(errors: readonly ErrorObject[] | null | undefined): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  const seen = new Set<string>();
  for (const error of errors ?? []) {
    const path = pointerSegments(error.instancePath);
    let message = error.message ?? 'invalid value';
    if (error.keyword === 'required') {
      path.push(String(error.params.missingProperty));
      message = 'required value is missing';
    } else if (error.keyword === 'additionalProperties') {
      path.push(String(error.params.additionalProperty));
      message = 'unknown field';
    } else if (error.keyword === 'enum') {
      message = `must be one of ${(error.params.allowedValues as unknown[]).join(', ')}`;
    }
    const key = `${path.join('\u0000')}|${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push({ path, message });
  }
  return issues;
}

function pointerSegments(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((segment) => (/^\d+$/.test(segment) ? Number(segment) : segment));
}
