/**
 * Evaluates a CRD's CEL rules (`x-kubernetes-validations`) on a document, with the CEL library
 * `@bufbuild/cel` when it is installed. The rules come from the CRD at run time; none is
 * restated here.
 */
import type { CelRule, StructuralSchema } from './crd-schema.ts';

/** The part of `@bufbuild/cel` this module calls. */
export interface CelEvaluator {
  run(expression: string, bindings: Record<string, unknown>): unknown;
  isCelError(value: unknown): boolean;
}

/** A rule that returned false or failed at evaluation. */
export interface CelIssue {
  path: (string | number)[];
  message: string;
  rule: string;
}

/** A rule that was not evaluated, and why. */
export interface CelSkip {
  path: string;
  rule: string;
  reason: string;
  /** True for a rule reading `oldSelf`, which the API server checks on update only. */
  transition: boolean;
}

export interface CelResult {
  issues: CelIssue[];
  skipped: CelSkip[];
}

/** Package name of the CEL library; kept in a variable so the import stays optional. */
const celPackage = '@bufbuild/cel';

/**
 * Loads `@bufbuild/cel` when it is installed. Returns undefined when it is not, so that
 * validation lists the rules it skipped instead of failing.
 */
export async function loadCelEvaluator(): Promise<CelEvaluator | undefined> {
  try {
    const library = (await import(celPackage)) as CelEvaluator;
    return { run: library.run, isCelError: library.isCelError };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') return undefined;
    throw error;
  }
}

/**
 * Evaluates every rule whose field is present in `value`, binding `self` to that field as the
 * API server does. Transition rules (those reading `oldSelf`) are skipped because they need the
 * stored object. The API server checks them on update only, so a new object passes them anyway.
 */
export function checkCelRules(
  schema: StructuralSchema,
  value: unknown,
  evaluator: CelEvaluator | undefined,
): CelResult {
  const result: CelResult = { issues: [], skipped: [] };
  visit(schema, value, [], evaluator, result);
  return result;
}

function visit(
  node: StructuralSchema,
  value: unknown,
  path: (string | number)[],
  evaluator: CelEvaluator | undefined,
  result: CelResult,
): void {
  if (value === undefined || value === null) return;
  // The schema check reports a value of the wrong type; a rule written for the right type would
  // only add a second, confusing finding.
  if (!hasSchemaType(node, value)) return;
  for (const rule of node['x-kubernetes-validations'] ?? []) {
    evaluate(rule, node, value, path, evaluator, result);
  }

  if (Array.isArray(value)) {
    const itemSchema = node.items;
    if (itemSchema) {
      value.forEach((item, index) => {
        visit(itemSchema, item, [...path, index], evaluator, result);
      });
    }
    return;
  }
  if (typeof value !== 'object') return;
  const fields = value as Record<string, unknown>;
  for (const [name, child] of Object.entries(fields)) {
    const childSchema = node.properties?.[name] ?? mapValueSchema(node);
    if (childSchema) visit(childSchema, child, [...path, name], evaluator, result);
  }
}

function hasSchemaType(node: StructuralSchema, value: unknown): boolean {
  if (node['x-kubernetes-int-or-string']) {
    return typeof value === 'string' || Number.isInteger(value);
  }
  switch (node.type) {
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'boolean':
      return typeof value === 'boolean';
    case 'array':
      return Array.isArray(value);
    case 'object':
      return typeof value === 'object' && !Array.isArray(value);
    default:
      return true;
  }
}

function mapValueSchema(node: StructuralSchema): StructuralSchema | undefined {
  return typeof node.additionalProperties === 'object' ? node.additionalProperties : undefined;
}

function evaluate(
  rule: CelRule,
  node: StructuralSchema,
  value: unknown,
  path: (string | number)[],
  evaluator: CelEvaluator | undefined,
  result: CelResult,
): void {
  const where = formatPath(path) || '(root)';
  // NOTE: this is a text search, so `oldSelf` inside a string literal also marks a rule as a
  // transition rule. Such a rule is skipped, not failed.
  if (/\boldSelf\b/.test(rule.rule)) {
    result.skipped.push({
      path: where,
      rule: rule.rule,
      reason: 'transition rule: compares with the stored object, which only the API server has',
      transition: true,
    });
    return;
  }
  if (!evaluator) {
    result.skipped.push({
      path: where,
      rule: rule.rule,
      reason: `${celPackage} is not installed`,
      transition: false,
    });
    return;
  }

  const self = toCelValue(path.length === 0 ? rootView(value) : value, node);
  const outcome = evaluator.run(rule.rule, { self });
  if (outcome === true) return;
  const target = [...path, ...fieldPathSegments(rule.fieldPath)];
  if (evaluator.isCelError(outcome)) {
    const detail = String((outcome as { message?: unknown }).message ?? outcome);
    // Kubernetes adds CEL libraries of its own (quantity, url, ...) that the library lacks.
    if (detail.includes('unbound function')) {
      result.skipped.push({
        path: where,
        rule: rule.rule,
        reason: `uses a Kubernetes CEL function the library lacks (${detail})`,
        transition: false,
      });
      return;
    }
    result.issues.push({
      path: target,
      rule: rule.rule,
      message: `rule failed to evaluate: ${detail}`,
    });
    return;
  }
  result.issues.push({
    path: target,
    rule: rule.rule,
    message: ruleMessage(rule, self, evaluator),
  });
}

function ruleMessage(rule: CelRule, self: unknown, evaluator: CelEvaluator): string {
  if (rule.messageExpression) {
    const message = evaluator.run(rule.messageExpression, { self });
    if (typeof message === 'string' && message !== '') return message;
  }
  return rule.message ?? `failed rule: ${rule.rule}`;
}

/**
 * Returns the object bound to `self` for a rule at the schema root: Kubernetes binds only
 * metadata.name and metadata.generateName there, so the other metadata fields are left out.
 */
function rootView(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const object = value as Record<string, unknown>;
  const metadata = object.metadata;
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) return value;
  const { name, generateName } = metadata as Record<string, unknown>;
  const visible = Object.fromEntries(
    Object.entries({ name, generateName }).filter(([, field]) => field !== undefined),
  );
  return { ...object, metadata: visible };
}

/**
 * Converts a parsed document to CEL input: objects become maps, and whole numbers of an
 * `integer` field become CEL ints (bigint), as Kubernetes types them by schema.
 */
function toCelValue(value: unknown, node: StructuralSchema | undefined): unknown {
  if (Array.isArray(value)) return value.map((item) => toCelValue(item, node?.items));
  if (value !== null && typeof value === 'object') {
    return new Map(
      Object.entries(value).map(([name, child]) => [
        name,
        toCelValue(child, node?.properties?.[name] ?? (node ? mapValueSchema(node) : undefined)),
      ]),
    );
  }
  if (typeof value === 'number' && Number.isInteger(value) && node?.type !== 'number') {
    return BigInt(value);
  }
  return value;
}

/** Splits a rule's `fieldPath` such as `.spec.name` or `.attributes['a.b']` into segments. */
function fieldPathSegments(fieldPath: string | undefined): (string | number)[] {
  if (!fieldPath) return [];
  const segments: (string | number)[] = [];
  for (const match of fieldPath.matchAll(/\.([^.[\]]+)|\['([^']*)'\]|\[(\d+)\]/g)) {
    if (match[1] !== undefined) segments.push(match[1]);
    else if (match[2] !== undefined) segments.push(match[2]);
    else if (match[3] !== undefined) segments.push(Number(match[3]));
  }
  return segments;
}

/** Renders path segments as `spec.attributes["e-mail"]` or `items[0].spec`. */
export function formatPath(path: readonly (string | number)[]): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(segment))
      text += text === '' ? segment : `.${segment}`;
    else text += `[${JSON.stringify(segment)}]`;
  }
  return text;
}
