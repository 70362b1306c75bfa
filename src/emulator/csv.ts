// CSV reading and writing for delimited-file sources (RFC 4180: comma-separated, fields with a
// comma, quote or line break are double-quoted, and a quote inside them is doubled).

/** Parses CSV text into rows of fields, raising an Error that names the line of an open quote. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let index = 0;
  const input = text.startsWith('\uFEFF') ? text.slice(1) : text;

  const endField = () => {
    row.push(field);
    field = '';
  };
  const endRow = () => {
    endField();
    // A blank line yields one empty field, which is not an account row.
    if (!(row.length === 1 && row[0] === '')) rows.push(row);
    row = [];
  };

  while (index < input.length) {
    const char = input[index]!;
    if (quoted) {
      if (char === '"' && input[index + 1] === '"') {
        field += '"';
        index += 2;
        continue;
      }
      if (char === '"') {
        quoted = false;
        index++;
        continue;
      }
      if (char === '\n') line++;
      field += char;
      index++;
      continue;
    }
    if (char === '"' && field === '') {
      quoted = true;
    } else if (char === ',') {
      endField();
    } else if (char === '\n' || char === '\r') {
      endRow();
      if (char === '\r' && input[index + 1] === '\n') index++;
      line++;
    } else {
      field += char;
    }
    index++;
  }
  if (quoted) throw new Error(`unterminated quoted field starting before line ${line}`);
  if (field !== '' || row.length > 0) endRow();
  return rows;
}

function quoteField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** Formats one CSV line without its line break. */
export function formatCsvLine(fields: string[]): string {
  return fields.map(quoteField).join(',');
}
