// Parser and evaluator for the ISC collection filter language (the `filters` query parameter).
//
// Grammar, as SailPoint documents it for its standard collection parameters: comparisons
// `field op value` with the lowercase operators eq ne gt ge lt le co sw ca, `field in (v1, v2)`,
// `field isnull`, `pr field`, combined with `and`, `or`, `not` (precedence not > and > or) and
// parentheses. Strings are double-quoted, and inside them `\"` is a quote and `\\` a backslash.
// String comparisons are case-insensitive, as ISC does for most string fields.

export type FilterValue = string | number | boolean | null;

export type ComparisonOperator = 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le' | 'co' | 'sw';
export type FilterOperator = ComparisonOperator | 'in' | 'ca' | 'isnull' | 'pr';

export type FilterNode =
  | { kind: 'and' | 'or'; operands: FilterNode[] }
  | { kind: 'not'; operand: FilterNode }
  | { kind: 'comparison'; field: string; operator: ComparisonOperator; value: FilterValue }
  /** `in`: the value is one of `values`. `ca`: a multi-valued field contains all `values`. */
  | { kind: 'in' | 'ca'; field: string; values: FilterValue[] }
  | { kind: 'presence'; field: string; operator: 'isnull' | 'pr' };

/** Error for text that is not a filter expression, which the server rejects with 400. */
export class FilterSyntaxError extends Error {
  override name = 'FilterSyntaxError';
}

/** Error for a well-formed filter on a field or operator the endpoint does not support (400). */
export class UnsupportedFilterError extends Error {
  override name = 'UnsupportedFilterError';
  readonly field: string;
  readonly operator: FilterOperator;

  constructor(field: string, operator: FilterOperator) {
    super(`filter operator "${operator}" is not supported on field "${field}"`);
    this.field = field;
    this.operator = operator;
  }
}

type Token =
  | { type: 'string'; value: string; position: number }
  | { type: 'word'; value: string; position: number }
  | { type: 'punctuation'; value: '(' | ')' | ','; position: number };

const comparisonOperators = new Set<string>(['eq', 'ne', 'gt', 'ge', 'lt', 'le', 'co', 'sw']);
const wordPattern = /[A-Za-z0-9_.:\-+]/;

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let index = 0;
  while (index < text.length) {
    const char = text[index]!;
    if (/\s/.test(char)) {
      index++;
      continue;
    }
    if (char === '(' || char === ')' || char === ',') {
      tokens.push({ type: 'punctuation', value: char, position: index });
      index++;
      continue;
    }
    if (char === '"') {
      const start = index;
      let value = '';
      index++;
      while (true) {
        if (index >= text.length) {
          throw new FilterSyntaxError(`unterminated string starting at position ${start}`);
        }
        const next = text[index]!;
        if (next === '\\') {
          const escaped = text[index + 1];
          if (escaped !== '"' && escaped !== '\\') {
            throw new FilterSyntaxError(`invalid escape at position ${index}: use \\" or \\\\`);
          }
          value += escaped;
          index += 2;
          continue;
        }
        if (next === '"') {
          index++;
          break;
        }
        value += next;
        index++;
      }
      tokens.push({ type: 'string', value, position: start });
      continue;
    }
    if (wordPattern.test(char)) {
      const start = index;
      while (index < text.length && wordPattern.test(text[index]!)) index++;
      tokens.push({ type: 'word', value: text.slice(start, index), position: start });
      continue;
    }
    throw new FilterSyntaxError(`unexpected character '${char}' at position ${index}`);
  }
  return tokens;
}

/** Recursive-descent parser over the token list, one method per precedence level. */
class Parser {
  readonly #tokens: Token[];
  #index = 0;

  constructor(tokens: Token[]) {
    this.#tokens = tokens;
  }

  parse(): FilterNode {
    const node = this.#parseOr();
    const extra = this.#peek();
    if (extra) {
      throw new FilterSyntaxError(`unexpected '${extra.value}' at position ${extra.position}`);
    }
    return node;
  }

  #peek(): Token | undefined {
    return this.#tokens[this.#index];
  }

  #next(expected: string): Token {
    const token = this.#tokens[this.#index++];
    if (!token) throw new FilterSyntaxError(`expected ${expected} but the filter ended`);
    return token;
  }

  #isWord(value: string): boolean {
    const token = this.#peek();
    return token?.type === 'word' && token.value === value;
  }

  #parseOr(): FilterNode {
    const operands = [this.#parseAnd()];
    while (this.#isWord('or')) {
      this.#index++;
      operands.push(this.#parseAnd());
    }
    return operands.length === 1 ? operands[0]! : { kind: 'or', operands };
  }

  #parseAnd(): FilterNode {
    const operands = [this.#parseUnary()];
    while (this.#isWord('and')) {
      this.#index++;
      operands.push(this.#parseUnary());
    }
    return operands.length === 1 ? operands[0]! : { kind: 'and', operands };
  }

  #parseUnary(): FilterNode {
    if (this.#isWord('not')) {
      this.#index++;
      return { kind: 'not', operand: this.#parseUnary() };
    }
    const token = this.#peek();
    if (token?.type === 'punctuation' && token.value === '(') {
      this.#index++;
      const inner = this.#parseOr();
      this.#expectPunctuation(')');
      return inner;
    }
    if (this.#isWord('pr')) {
      this.#index++;
      return { kind: 'presence', field: this.#parseField(), operator: 'pr' };
    }
    return this.#parseComparison();
  }

  #parseField(): string {
    const token = this.#next('a field name');
    if (token.type !== 'word' || !/^[A-Za-z_]/.test(token.value)) {
      throw new FilterSyntaxError(`expected a field name at position ${token.position}`);
    }
    return token.value;
  }

  #expectPunctuation(value: '(' | ')' | ','): void {
    const token = this.#next(`'${value}'`);
    if (token.type !== 'punctuation' || token.value !== value) {
      throw new FilterSyntaxError(`expected '${value}' at position ${token.position}`);
    }
  }

  #parseComparison(): FilterNode {
    const field = this.#parseField();
    const operatorToken = this.#next(`an operator after "${field}"`);
    const operator = operatorToken.value;
    if (operatorToken.type !== 'word') {
      throw new FilterSyntaxError(`expected an operator at position ${operatorToken.position}`);
    }
    if (operator === 'isnull') return { kind: 'presence', field, operator: 'isnull' };
    if (operator === 'in' || operator === 'ca') {
      this.#expectPunctuation('(');
      const values = [this.#parseValue()];
      while (this.#peek()?.value === ',') {
        this.#index++;
        values.push(this.#parseValue());
      }
      this.#expectPunctuation(')');
      return { kind: operator, field, values };
    }
    if (!comparisonOperators.has(operator)) {
      const hint = comparisonOperators.has(operator.toLowerCase())
        ? ' (operators are lowercase)'
        : '';
      throw new FilterSyntaxError(
        `unknown operator "${operator}" at position ${operatorToken.position}${hint}`,
      );
    }
    return {
      kind: 'comparison',
      field,
      operator: operator as ComparisonOperator,
      value: this.#parseValue(),
    };
  }

  #parseValue(): FilterValue {
    const token = this.#next('a value');
    if (token.type === 'string') return token.value;
    if (token.type === 'word') {
      if (token.value === 'true') return true;
      if (token.value === 'false') return false;
      if (token.value === 'null') return null;
      if (/^-?\d+(\.\d+)?$/.test(token.value)) return Number(token.value);
    }
    throw new FilterSyntaxError(
      `expected a quoted string, number, true, false or null at position ${token.position}`,
    );
  }
}

/** Parses a filter expression, raising FilterSyntaxError on malformed text. */
export function parseFilter(text: string): FilterNode {
  const tokens = tokenize(text);
  if (tokens.length === 0) throw new FilterSyntaxError('the filter is empty');
  return new Parser(tokens).parse();
}

/** Operators an endpoint supports, by field name. */
export type FilterSupport = Readonly<Record<string, readonly FilterOperator[]>>;

/** Raises UnsupportedFilterError for the first field or operator outside `support`. */
export function checkFilterSupport(node: FilterNode, support: FilterSupport): void {
  switch (node.kind) {
    case 'and':
    case 'or':
      for (const operand of node.operands) checkFilterSupport(operand, support);
      return;
    case 'not':
      checkFilterSupport(node.operand, support);
      return;
    case 'comparison':
    case 'presence':
    case 'in':
    case 'ca': {
      const operator =
        node.kind === 'comparison' || node.kind === 'presence' ? node.operator : node.kind;
      if (!support[node.field]?.includes(operator)) {
        throw new UnsupportedFilterError(node.field, operator);
      }
      return;
    }
  }
}

function normalize(value: unknown): unknown {
  return typeof value === 'string' ? value.toLowerCase() : value;
}

function compare(actual: unknown, operator: ComparisonOperator, expected: FilterValue): boolean {
  if (Array.isArray(actual)) {
    // A multi-valued field matches when one value matches, and `ne` when no value is equal.
    if (operator === 'ne') return !actual.some((item) => compare(item, 'eq', expected));
    return actual.some((item) => compare(item, operator, expected));
  }
  const left = normalize(actual);
  const right = normalize(expected);
  switch (operator) {
    case 'eq':
      return left === right;
    case 'ne':
      return left !== right;
    case 'co':
      return typeof left === 'string' && typeof right === 'string' && left.includes(right);
    case 'sw':
      return typeof left === 'string' && typeof right === 'string' && left.startsWith(right);
    case 'gt':
    case 'ge':
    case 'lt':
    case 'le': {
      if (left === null || left === undefined || right === null) return false;
      const l = left as string | number;
      const r = right as string | number;
      if (operator === 'gt') return l > r;
      if (operator === 'ge') return l >= r;
      if (operator === 'lt') return l < r;
      return l <= r;
    }
  }
}

/** Evaluates a parsed filter, where `readField` returns the item's value for a dotted field name. */
export function matchesFilter(node: FilterNode, readField: (field: string) => unknown): boolean {
  switch (node.kind) {
    case 'and':
      return node.operands.every((operand) => matchesFilter(operand, readField));
    case 'or':
      return node.operands.some((operand) => matchesFilter(operand, readField));
    case 'not':
      return !matchesFilter(node.operand, readField);
    case 'comparison':
      return compare(readField(node.field), node.operator, node.value);
    case 'in': {
      const actual = readField(node.field);
      return node.values.some((value) => compare(actual, 'eq', value));
    }
    case 'ca': {
      const actual = readField(node.field);
      return Array.isArray(actual) && node.values.every((value) => compare(actual, 'eq', value));
    }
    case 'presence': {
      const actual = readField(node.field);
      const absent = actual === null || actual === undefined;
      return node.operator === 'isnull' ? absent : !absent;
    }
  }
}

/** Reads a dotted path such as `owner.id` from a plain object. */
export function readDottedField(item: unknown, field: string): unknown {
  let current: unknown = item;
  for (const key of field.split('.')) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}
