// Renders the results as a two-panel SVG: calls per account and time to Ready against N.

interface OperatorRun {
  callsPerAccount: number;
  secondsToAllReady: number;
  rateLimitFloorSeconds: number;
}

interface PlotRow {
  n: number;
  /** The api-mode run. */
  operator: OperatorRun | undefined;
  csv: OperatorRun | undefined;
  baseline: { callsPerAccount: number; secondsToAllIdentities: number } | undefined;
}

/** Returns the points of the rows that have a value. */
function pointsOf(
  rows: readonly PlotRow[],
  value: (row: PlotRow) => number | undefined,
): Array<[number, number]> {
  return rows.flatMap((row) => {
    const y = value(row);
    return y === undefined ? [] : [[row.n, y] as [number, number]];
  });
}

interface Series {
  label: string;
  color: string;
  dashed?: boolean;
  points: Array<[number, number]>;
}

const panelWidth = 360;
const panelHeight = 240;
const margin = { left: 56, right: 16, top: 32, bottom: 44 };

/** Returns an SVG document; the x axis (N) is logarithmic, the y axes are linear from 0. */
export function renderPlot(rows: readonly PlotRow[]): string {
  const calls: Series[] = [
    {
      label: 'operator (api mode)',
      color: '#1f77b4',
      points: pointsOf(rows, (r) => r.operator?.callsPerAccount),
    },
    {
      label: 'operator (csv mode)',
      color: '#9467bd',
      points: pointsOf(rows, (r) => r.csv?.callsPerAccount),
    },
    {
      label: 'naive manual procedure',
      color: '#d62728',
      points: pointsOf(rows, (r) => r.baseline?.callsPerAccount),
    },
    {
      label: 'target: 6 (api mode)',
      color: '#2ca02c',
      dashed: true,
      points: rows.map((r) => [r.n, 6]),
    },
  ];
  const times: Series[] = [
    {
      label: 'api mode: all Ready',
      color: '#1f77b4',
      points: pointsOf(rows, (r) => r.operator?.secondsToAllReady),
    },
    {
      label: 'csv mode: all Ready',
      color: '#9467bd',
      points: pointsOf(rows, (r) => r.csv?.secondsToAllReady),
    },
    {
      label: 'naive: all identities',
      color: '#d62728',
      points: pointsOf(rows, (r) => r.baseline?.secondsToAllIdentities),
    },
    {
      label: 'api mode: 2x rate-limit floor',
      color: '#2ca02c',
      dashed: true,
      points: pointsOf(rows, (r) =>
        r.operator ? 2 * r.operator.rateLimitFloorSeconds : undefined,
      ),
    },
  ];
  const width = panelWidth * 2;
  const height = panelHeight + 70;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    panel(0, 'ISC calls per new account', calls),
    panel(panelWidth, 'Seconds until all are done', times),
    '</svg>',
    '',
  ].join('\n');
}

function panel(offsetX: number, title: string, series: readonly Series[]): string {
  const all = series.flatMap((s) => s.points);
  const xs = all.map(([x]) => x);
  const minX = Math.log10(Math.min(...xs, 10));
  const maxX = Math.log10(Math.max(...xs, 100));
  const maxY = niceCeiling(Math.max(...all.map(([, y]) => y), 1));
  const plotWidth = panelWidth - margin.left - margin.right;
  const plotHeight = panelHeight - margin.top - margin.bottom;
  const px = (x: number) =>
    offsetX + margin.left + ((Math.log10(x) - minX) / (maxX - minX || 1)) * plotWidth;
  const py = (y: number) => margin.top + plotHeight - (y / maxY) * plotHeight;

  const parts: string[] = [
    `<text x="${offsetX + panelWidth / 2}" y="18" text-anchor="middle" font-size="13">${title}</text>`,
    `<line x1="${px(10 ** minX)}" y1="${py(0)}" x2="${px(10 ** maxX)}" y2="${py(0)}" stroke="black"/>`,
    `<line x1="${px(10 ** minX)}" y1="${py(0)}" x2="${px(10 ** minX)}" y2="${py(maxY)}" stroke="black"/>`,
  ];
  for (let exponent = Math.ceil(minX); exponent <= maxX; exponent++) {
    const x = px(10 ** exponent);
    parts.push(`<line x1="${x}" y1="${py(0)}" x2="${x}" y2="${py(0) + 4}" stroke="black"/>`);
    parts.push(
      `<text x="${x}" y="${py(0) + 16}" text-anchor="middle">${(10 ** exponent).toLocaleString('en')}</text>`,
    );
  }
  parts.push(
    `<text x="${offsetX + margin.left + plotWidth / 2}" y="${py(0) + 32}" text-anchor="middle">N (resources, log scale)</text>`,
  );
  for (let i = 0; i <= 4; i++) {
    const value = (maxY * i) / 4;
    parts.push(
      `<line x1="${px(10 ** minX) - 4}" y1="${py(value)}" x2="${px(10 ** minX)}" y2="${py(value)}" stroke="black"/>`,
    );
    parts.push(
      `<text x="${px(10 ** minX) - 6}" y="${py(value) + 4}" text-anchor="end">${formatNumber(value)}</text>`,
    );
  }
  for (const s of series) {
    if (s.points.length === 0) continue;
    const path = s.points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    parts.push(
      `<polyline points="${path}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,4"' : ''}/>`,
    );
    for (const [x, y] of s.points) {
      parts.push(
        `<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${s.color}"><title>N=${x}: ${formatNumber(y)}</title></circle>`,
      );
    }
  }
  series.forEach((s, i) => {
    const y = panelHeight + 8 + i * 16;
    const x = offsetX + margin.left;
    parts.push(
      `<line x1="${x}" y1="${y}" x2="${x + 24}" y2="${y}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,4"' : ''}/>`,
    );
    parts.push(`<text x="${x + 30}" y="${y + 4}">${s.label}</text>`);
  });
  return parts.join('\n');
}

function niceCeiling(value: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * magnitude >= value) return step * magnitude;
  }
  return 10 * magnitude;
}

function formatNumber(value: number): string {
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}
