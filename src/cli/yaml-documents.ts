/**
 * Reads Kubernetes manifests from files, folders and stdin as `kubectl apply -f` would: every
 * YAML document of every file, folders recursively, `-` for stdin (e.g. `helm template` output).
 * A folder with a kustomization file is read as Kustomize reads it: only its `resources`.
 * Each document keeps its position, so a finding can name its file, line and document.
 */
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Readable } from 'node:stream';
import {
  CST,
  type Document,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  Parser,
  parseAllDocuments,
} from 'yaml';

/** Name shown for documents read from stdin. */
export const stdinName = '<stdin>';

/** Extensions read from folders; a file named directly is read whatever its name. */
const manifestExtensions = /\.(ya?ml|json)$/i;

/** One YAML document of a file, with the means to find the line of any field in it. */
export interface SourceDocument {
  file: string;
  /** Position of the document in its file, counting from 1. */
  index: number;
  /** Line of the document's first content, counting from 1. */
  line: number;
  value: unknown;
  /** Returns the line of the deepest node on `path` that exists in the document. */
  lineOf(path: readonly (string | number)[]): number;
}

/** A file or document that could not be read or parsed. */
export interface ReadProblem {
  file: string;
  index?: number;
  line?: number;
  message: string;
}

export interface ReadResult {
  documents: SourceDocument[];
  problems: ReadProblem[];
  /** Parts of the input that were not read, each with the reason. */
  notRead: string[];
}

/** File names Kustomize looks for in a folder, in its order. */
const kustomizationNames = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

/** A path on the command line that does not exist: a usage error, not an invalid manifest. */
export class MissingPathError extends Error {
  readonly path: string;

  constructor(path: string) {
    super(`path "${path}" does not exist`);
    this.name = 'MissingPathError';
    this.path = path;
  }
}

/**
 * Reads every document under `paths`. Throws MissingPathError for a path that does not exist;
 * YAML syntax errors and unreadable files are returned as problems, so one bad file does not
 * hide the findings of the others.
 */
export async function readDocuments(
  paths: readonly string[],
  stdin: Readable,
): Promise<ReadResult> {
  const result: ReadResult = { documents: [], problems: [], notRead: [] };
  const visited = new Set<string>();
  for (const path of paths) {
    if (path === '-') {
      parseInto(result, stdinName, await readStream(stdin));
      continue;
    }
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(path);
    } catch {
      throw new MissingPathError(path);
    }
    if (info.isDirectory()) {
      await readFolder(result, path, visited);
    } else {
      await readFileInto(result, path);
    }
  }
  return result;
}

/** Reads a folder recursively in name order, skipping hidden entries such as `.git`. */
async function readFolder(result: ReadResult, folder: string, visited: Set<string>): Promise<void> {
  // A symbolic link back to a parent folder would otherwise recurse forever.
  const real = await realpath(folder);
  if (visited.has(real)) return;
  visited.add(real);

  const entries = (await readdir(folder)).filter((name) => !name.startsWith('.')).sort();
  const kustomization = kustomizationNames.find((name) => entries.includes(name));
  if (kustomization) {
    await readKustomization(result, folder, join(folder, kustomization), visited);
    return;
  }
  for (const name of entries) {
    const path = join(folder, name);
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(path);
    } catch (error) {
      result.problems.push({ file: path, message: `cannot read: ${(error as Error).message}` });
      continue;
    }
    if (info.isDirectory()) await readFolder(result, path, visited);
    else if (manifestExtensions.test(name)) await readFileInto(result, path);
  }
}

/**
 * Reads the files and folders a kustomization lists in `resources`. Patches, generators and
 * remote resources are not applied, and each one is recorded in `notRead`, because the rendered
 * objects can differ from the files.
 */
async function readKustomization(
  result: ReadResult,
  folder: string,
  path: string,
  visited: Set<string>,
): Promise<void> {
  let kustomization: unknown;
  try {
    const document = parseAllDocuments(await readFile(path, 'utf8'))[0];
    kustomization = document?.toJS();
  } catch (error) {
    result.problems.push({ file: path, message: `cannot read: ${(error as Error).message}` });
    return;
  }
  const fields =
    kustomization !== null && typeof kustomization === 'object'
      ? (kustomization as Record<string, unknown>)
      : {};
  const resources = Array.isArray(fields.resources) ? fields.resources : [];
  for (const resource of resources) {
    if (typeof resource !== 'string') continue;
    if (/^[a-z][a-z0-9+.-]*:\/\/|^git@/i.test(resource)) {
      result.notRead.push(`${path}: remote resource ${resource}`);
      continue;
    }
    const target = join(folder, resource);
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(target);
    } catch {
      result.problems.push({ file: path, message: `resource ${resource} does not exist` });
      continue;
    }
    if (info.isDirectory()) await readFolder(result, target, visited);
    else await readFileInto(result, target);
  }
  const transforms = Object.keys(fields).filter(
    (field) => !['apiVersion', 'kind', 'metadata', 'resources'].includes(field),
  );
  if (transforms.length > 0) {
    result.notRead.push(
      `${path}: ${transforms.join(', ')} not applied; validate the output of ` +
        `\`kubectl kustomize ${relative(process.cwd(), folder) || '.'}\` (stdin: -) for the rendered objects`,
    );
  }
}

async function readFileInto(result: ReadResult, path: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    result.problems.push({ file: path, message: `cannot read: ${(error as Error).message}` });
    return;
  }
  parseInto(result, path, text);
}

async function readStream(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Parses every document of one file; documents with only comments are skipped. */
export function parseInto(result: ReadResult, file: string, text: string): void {
  const lineCounter = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter });
  // A stream that is not a list of documents (e.g. stray text) still yields an array here.
  const documents = Array.isArray(parsed) ? parsed : [parsed];
  let openers: number[] | undefined;
  documents.forEach((document, position) => {
    const index = position + 1;
    if (document.errors.length > 0) {
      openers ??= unclosedOpenings(text);
      for (const error of document.errors) {
        const at = error.pos[0];
        const documentStart = document.range[0];
        // The parser notices an unclosed quote or bracket only where the next line starts.
        // The mistake is on the line that opened it, so that line is reported.
        const opening = openers.findLast((offset) => offset >= documentStart && offset < at);
        const unclosed = opening !== undefined && unclosedCodes.has(error.code);
        const line = lineCounter.linePos(unclosed ? opening : at).line;
        const detail = unclosed ? '; a quote or bracket on this line is not closed' : '';
        result.problems.push({
          file,
          index,
          line,
          message: `invalid YAML: ${withoutPosition(error.message)}${detail}`,
        });
      }
      return;
    }
    if (document.contents === null) return;
    const line = lineCounter.linePos(document.contents.range?.[0] ?? 0).line;
    let value: unknown;
    try {
      value = document.toJS({ maxAliasCount: 100 });
    } catch (error) {
      // An alias without its anchor, or more alias expansions than maxAliasCount allows.
      result.problems.push({
        file,
        index,
        line,
        message: `invalid YAML: ${(error as Error).message}`,
      });
      return;
    }
    result.documents.push({
      file,
      index,
      line,
      value,
      lineOf: (path) => lineOfPath(document, lineCounter, path) ?? line,
    });
  });
}

/** Error codes the yaml parser reports, past the opening, for an unclosed quote or bracket. */
const unclosedCodes = new Set(['MISSING_CHAR', 'BAD_INDENT', 'UNEXPECTED_TOKEN']);

/** Returns the offsets of flow collections and quoted scalars that are never closed. */
function unclosedOpenings(text: string): number[] {
  const offsets: number[] = [];
  const check = (token: CST.Token | null | undefined) => {
    if (!token) return;
    if (token.type === 'flow-collection') {
      const closed = token.end.some(
        (end) => end.type === 'flow-seq-end' || end.type === 'flow-map-end',
      );
      if (!closed) offsets.push(token.offset);
    } else if (token.type === 'double-quoted-scalar' || token.type === 'single-quoted-scalar') {
      const body = token.source.slice(1);
      // Inside single quotes '' is an escaped quote, so an odd run of quotes at the end closes.
      const closed =
        token.type === 'double-quoted-scalar'
          ? /(^|[^\\])(\\\\)*"$/.test(body)
          : (/'+$/.exec(body)?.[0].length ?? 0) % 2 === 1;
      if (!closed) offsets.push(token.offset);
    }
  };
  for (const token of new Parser().parse(text)) {
    check(token as CST.Token);
    CST.visit(token as CST.Document, (item) => {
      check(item.key as CST.Token | null);
      check(item.value);
    });
  }
  return offsets.sort((a, b) => a - b);
}

/** Drops the " at line L, column C:" the yaml library appends; the finding has its own line. */
function withoutPosition(message: string): string {
  return firstLine(message).replace(/ at line \d+, column \d+:?$/, '');
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}

/**
 * Walks `path` through the document's maps and sequences and returns the line of the last node
 * found. For a map entry that is the line of its key, where an editor would point.
 */
function lineOfPath(
  document: Document.Parsed,
  lineCounter: LineCounter,
  path: readonly (string | number)[],
): number | undefined {
  let node: Node | null | undefined = document.contents;
  let offset = node?.range?.[0];
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find(
        (item) => isScalar(item.key) && String(item.key.value) === String(segment),
      );
      if (!pair) break;
      offset = (pair.key as Node).range?.[0] ?? offset;
      node = pair.value as Node | null;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment] as Node | undefined;
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else {
      break;
    }
  }
  return offset === undefined ? undefined : lineCounter.linePos(offset).line;
}
