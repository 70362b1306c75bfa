import { ApiException } from '@kubernetes/client-node';
import * as assert from 'uvu/assert';
import { stringify } from 'yaml';
import { parseInto, type ReadResult } from '../../src/cli/yaml-documents.ts';
import { loadCelEvaluator } from '../../src/validation/cel.ts';
import { loadResourceSchemas } from '../../src/validation/crd-schema.ts';
import {
  type Finding,
  type ValidationOptions,
  validateDocuments,
} from '../../src/validation/validate.ts';

/**
 * Returns the API server's rejection message, or undefined when it accepted the request.
 * Only 422 (schema and CEL violations) and 400 (unknown fields under strict field validation)
 * count as rejections at admission; any other failure fails the calling test.
 */
export async function admissionRejection(
  action: () => Promise<unknown>,
): Promise<string | undefined> {
  try {
    await action();
    return undefined;
  } catch (error) {
    if (!(error instanceof ApiException)) throw error;
    assert.ok([400, 422].includes(error.code), `expected 400 or 422, got ${error.code}`);
    return typeof error.body === 'string' ? error.body : JSON.stringify(error.body);
  }
}

let offlineChecks: Promise<ValidationOptions> | undefined;

/**
 * Runs `validate`'s checks on one object, as the manifest file holding it would be checked, and
 * returns the findings. Used to assert that `validate` and the API server agree.
 */
export async function validateFindings(object: unknown): Promise<Finding[]> {
  offlineChecks ??= Promise.all([loadResourceSchemas(), loadCelEvaluator()]).then(
    ([schemas, cel]) => ({ schemas, cel }),
  );
  const read: ReadResult = { documents: [], problems: [], notRead: [] };
  parseInto(read, 'object.yaml', stringify(object));
  assert.equal(read.problems, [], 'the object did not round-trip through YAML');
  return validateDocuments(read.documents, await offlineChecks).findings;
}
