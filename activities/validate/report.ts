/**
 * Data docs: the result of one suite run as JSON (machine-readable) and as one static,
 * self-contained HTML page (no scripts, no CDN, charts as inline SVG) that a human can open to see
 * what failed and why. Pure functions of the run.
 */
import type { DriftBin } from './drift';
import type { ColumnProfile, ExpectationResult } from './results';

export interface ValidationReport {
  contract: string;
  contractVersion: string;
  dataset: string;
  baseline?: string;
  workflowId: string;
  runId: string;
  evaluatedAt: string;
  rowCount: number;
  passed: boolean;
  errors: number;
  warnings: number;
  results: ExpectationResult[];
  profiles: ColumnProfile[];
}

/** HTML-escapes a value (text and attribute values). */
export const esc = (v: unknown): string =>
  String(v).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

const compact = new Intl.NumberFormat('en-US', { maximumSignificantDigits: 4 });
/** A number with 4 significant digits (integers grouped), other values as text. */
export const fmt = (v: unknown): string => {
  if (typeof v === 'number') return Number.isInteger(v) ? v.toLocaleString('en-US') : compact.format(v);
  if (v === null || v === undefined) return '–';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
};

const W = 560;

/** Vertical bars; `series` share the x axis (one color each). */
function barChart(title: string, labels: string[], series: { name: string; values: number[]; color: string }[]): string {
  const H = 180;
  const top = 24;
  const bottom = 40;
  const left = 40;
  const plotW = W - left - 10;
  const plotH = H - top - bottom;
  const max = Math.max(1e-12, ...series.flatMap((s) => s.values));
  const groupW = plotW / Math.max(1, labels.length);
  const barW = Math.max(1, (groupW * 0.8) / series.length);
  // as many axis labels as fit (about 6 px per character at font-size 9)
  const longest = Math.min(14, Math.max(1, ...labels.map((l) => l.length)));
  const labelEvery = Math.max(1, Math.ceil((longest * 6 + 6) / groupW));
  const bars: string[] = [];
  labels.forEach((label, i) => {
    series.forEach((s, j) => {
      const v = s.values[i] ?? 0;
      const h = (v / max) * plotH;
      const x = left + i * groupW + groupW * 0.1 + j * barW;
      bars.push(
        `<rect x="${x.toFixed(1)}" y="${(top + plotH - h).toFixed(1)}" width="${barW.toFixed(1)}" height="${h.toFixed(1)}" fill="${s.color}"><title>${esc(label)} · ${esc(s.name)}: ${esc(fmt(v))}</title></rect>`,
      );
    });
    if (i % labelEvery === 0) {
      const x = left + i * groupW + groupW / 2;
      bars.push(
        `<text x="${x.toFixed(1)}" y="${H - bottom + 14}" font-size="9" text-anchor="middle">${esc(label.length > 14 ? `${label.slice(0, 13)}…` : label)}</text>`,
      );
    }
  });
  const legend =
    series.length > 1
      ? series
          .map(
            (s, j) =>
              `<rect x="${left + j * 110}" y="${H - 14}" width="10" height="10" fill="${s.color}"/><text x="${left + j * 110 + 14}" y="${H - 5}" font-size="10">${esc(s.name)}</text>`,
          )
          .join('')
      : '';
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">
<text x="${left}" y="14" font-size="12" font-weight="bold">${esc(title)}</text>
<line x1="${left}" y1="${top + plotH}" x2="${W - 10}" y2="${top + plotH}" stroke="#999"/>
<text x="${left - 4}" y="${top + 8}" font-size="9" text-anchor="end">${esc(fmt(max))}</text>
${bars.join('\n')}${legend}</svg>`;
}

function driftChart(r: ExpectationResult): string {
  const bins = (r.details?.bins ?? []) as DriftBin[];
  if (!bins.length) return '';
  const nc = bins.reduce((s, b) => s + b.current, 0) || 1;
  const nb = bins.reduce((s, b) => s + b.baseline, 0) || 1;
  return barChart(
    `${r.name}: share per bin, baseline vs current`,
    bins.map((b) => b.label),
    [
      { name: 'baseline', values: bins.map((b) => b.baseline / nb), color: '#8da0cb' },
      { name: 'current', values: bins.map((b) => b.current / nc), color: '#fc8d62' },
    ],
  );
}

function profileChart(p: ColumnProfile): string {
  if (p.histogram) {
    const { lo, hi, counts } = p.histogram;
    const step = (hi - lo) / counts.length;
    return barChart(
      `${p.column}: histogram (${fmt(p.nonNull)} non-null)`,
      counts.map((_, i) => fmt(lo + i * step)),
      [{ name: 'rows', values: counts, color: '#66c2a5' }],
    );
  }
  if (p.topValues && (p.topValues[0]?.count ?? 0) <= 1)
    return `<p class="muted">${esc(p.column)}: every value is distinct (no top values)</p>`;
  if (p.topValues) {
    return barChart(
      `${p.column}: top values`,
      p.topValues.map((t) => t.value ?? '(null)'),
      [{ name: 'rows', values: p.topValues.map((t) => t.count), color: '#66c2a5' }],
    );
  }
  return `<p class="muted">${esc(p.column)}: ${p.pii ? 'PII field, values not shown' : 'no chart for this type'}</p>`;
}

function sampleTable(rows: Record<string, unknown>[]): string {
  if (!rows.length) return '';
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  return `<table class="sample"><thead><tr>${cols.map((c) => `<th>${esc(c)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${cols.map((c) => `<td>${esc(fmt(r[c]))}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

export function renderHtmlReport(r: ValidationReport): string {
  const verdict = r.passed
    ? r.warnings
      ? `PASSED with ${r.warnings} warning(s)`
      : 'PASSED'
    : `FAILED: ${r.errors} error(s), ${r.warnings} warning(s)`;
  const rows = r.results
    .map(
      (
        x,
      ) => `<tr class="${x.passed ? 'ok' : x.severity}" id="exp-${esc(x.name)}"><td>${esc(x.name)}</td><td>${esc(x.type)}</td><td>${esc(x.columns.join(', '))}</td><td>${esc(x.severity)}</td>
<td><span class="status ${esc(x.status)}">${esc(x.status)}</span></td><td>${esc(fmt(x.observed))}</td><td>${esc(fmt(x.threshold))}</td><td>${esc(x.message)}</td></tr>`,
    )
    .join('\n');
  const failures = r.results.filter((x) => !x.passed);
  const failureSections = failures
    .map(
      (x) =>
        `<section class="failure ${esc(x.severity)}"><h3>${esc(x.name)} <small>(${esc(x.severity)}, ${esc(x.status)})</small></h3><p>${esc(x.message)}</p>${
          x.unexpected !== undefined ? `<p>${esc(fmt(x.unexpected))} of ${esc(fmt(x.total))} rows failed.</p>` : ''
        }${sampleTable(x.sample)}</section>`,
    )
    .join('\n');
  const drifts = r.results
    .filter((x) => x.type === 'drift' && x.details?.bins)
    .map((x) => `<figure>${driftChart(x)}<figcaption>${esc(x.message)}</figcaption></figure>`)
    .join('\n');
  const profiles = r.profiles.map((p) => `<figure>${profileChart(p)}</figure>`).join('\n');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(r.contract)}@${esc(r.contractVersion)}: ${esc(verdict)}</title>
<style>
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.4em}.verdict{font-size:1.2em;font-weight:bold;padding:.4em .8em;display:inline-block;border-radius:4px}
.verdict.pass{background:#e3f4e1;color:#1b5e20}.verdict.fail{background:#fde2e1;color:#b71c1c}
table{border-collapse:collapse;margin:1em 0;width:100%}th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f5f5f5}tr.error td{background:#fff1f0}tr.warn td{background:#fffbe6}
.status{font-weight:bold}.status.passed{color:#2e7d32}.status.failed,.status.error,.status.no_data{color:#c62828}
tr.warn .status{color:#b26a00}.muted{color:#777}figure{display:inline-block;margin:.5em}
section.failure{border-left:4px solid #c62828;padding-left:1em;margin:1em 0}section.failure.warn{border-color:#f9a825}
</style></head>
<body>
<h1>Data quality: ${esc(r.contract)}@${esc(r.contractVersion)}</h1>
<p class="verdict ${r.passed ? 'pass' : 'fail'}">${esc(verdict)}</p>
<dl><dt>Dataset</dt><dd>${esc(r.dataset)}</dd>${r.baseline ? `<dt>Baseline</dt><dd>${esc(r.baseline)}</dd>` : ''}
<dt>Rows</dt><dd>${esc(fmt(r.rowCount))}</dd><dt>Evaluated</dt><dd>${esc(r.evaluatedAt)}</dd>
<dt>Run</dt><dd>${esc(r.workflowId)} / ${esc(r.runId)}</dd></dl>
<h2>Expectations</h2>
<table id="results"><thead><tr><th>name</th><th>type</th><th>columns</th><th>severity</th><th>status</th><th>observed</th><th>threshold</th><th>why</th></tr></thead>
<tbody>
${rows}
</tbody></table>
<h2>What failed</h2>
${failureSections || '<p>Nothing failed.</p>'}
<h2>Drift</h2>
${drifts || '<p class="muted">No drift expectations with a baseline.</p>'}
<h2>Columns</h2>
${profiles || '<p class="muted">No column profiles.</p>'}
</body></html>
`;
}
