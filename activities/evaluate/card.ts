/**
 * The model card: one static, self-contained HTML page (no scripts, no CDN; charts as inline SVG,
 * as the data docs of activities/validate) with a model's test metrics, its ROC curve and
 * calibration, the confusion matrix, its inference cost and where it came from. A pure function of
 * the evaluation.
 */
import type { ClassificationMetrics, EvaluateModelResult, ModelClassLabel, ModelMetrics } from '../../api/models';
import type { ModelCardLineage } from '../../api/workflows/evaluate';
import { esc, fmt } from '../validate/report';

export interface ModelCard {
  modelName: string;
  onnxSha256: string;
  evaluatedAt: string;
  testSplit: { arrowSha256: string; splitColumn: string; testValues: (string | number)[]; fileRows: number };
  metrics: ModelMetrics;
  rocCurves: { label: ModelClassLabel; points: { fpr: number; tpr: number }[] }[];
  cost: EvaluateModelResult['cost'];
  executionProvider: EvaluateModelResult['executionProvider'];
  executionProviderNote?: string;
  lineage?: ModelCardLineage;
}

const SIZE = 300;
const PAD = 36;
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** x, y in [0, 1] → SVG coordinates of the square plot. */
const px = (x: number): string => (PAD + x * (SIZE - PAD - 10)).toFixed(1);
const py = (y: number): string => (SIZE - PAD - y * (SIZE - PAD - 10)).toFixed(1);

function axes(title: string, xLabel: string, yLabel: string): string {
  return `<text x="${PAD}" y="14" font-size="12" font-weight="bold">${esc(title)}</text>
<rect x="${px(0)}" y="${py(1)}" width="${(SIZE - PAD - 10).toFixed(1)}" height="${(SIZE - PAD - 10).toFixed(1)}" fill="none" stroke="#999"/>
<line x1="${px(0)}" y1="${py(0)}" x2="${px(1)}" y2="${py(1)}" stroke="#bbb" stroke-dasharray="4 3"/>
<text x="${px(0.5)}" y="${SIZE - 6}" font-size="10" text-anchor="middle">${esc(xLabel)}</text>
<text x="10" y="${py(0.5)}" font-size="10" text-anchor="middle" transform="rotate(-90 10 ${py(0.5)})">${esc(yLabel)}</text>
<text x="${px(0)}" y="${SIZE - PAD + 12}" font-size="9" text-anchor="middle">0</text><text x="${px(1)}" y="${SIZE - PAD + 12}" font-size="9" text-anchor="middle">1</text>
<text x="${PAD - 4}" y="${py(1)}" font-size="9" text-anchor="end">1</text>`;
}

function rocChart(curves: ModelCard['rocCurves'], auc: (label: ModelClassLabel) => number | null): string {
  const drawn = curves.filter((c) => c.points.length > 0).slice(0, COLORS.length);
  const lines = drawn.map((c, i) => {
    const color = COLORS[i] as string;
    const pts = c.points.map((p) => `${px(p.fpr)},${py(p.tpr)}`).join(' ');
    return `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts}"><title>${esc(String(c.label))}: AUC ${esc(fmt(auc(c.label)))}</title></polyline>
<text x="${px(0.55)}" y="${(Number(py(0.05)) - 12 * (drawn.length - 1 - i)).toFixed(1)}" font-size="10" fill="${color}">${esc(String(c.label))} (AUC ${esc(fmt(auc(c.label)))})</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="roc" width="${SIZE}" height="${SIZE}" viewBox="0 0 ${SIZE} ${SIZE}" role="img" aria-label="ROC curve">
${axes(curves.length === 1 ? 'ROC curve' : 'ROC curves (one vs rest)', 'false positive rate', 'true positive rate')}
${lines.join('\n')}</svg>`;
}

function calibrationChart(m: ClassificationMetrics): string {
  const bins = m.calibration.bins;
  const maxCount = Math.max(1, ...bins.map((b) => b.count));
  const bars = bins.map((b) => {
    const h = (b.count / maxCount) * 0.25; // row counts as a low histogram along the bottom
    return `<rect x="${px(b.lower)}" y="${py(h)}" width="${(Number(px(b.upper)) - Number(px(b.lower)) - 1).toFixed(1)}" height="${(Number(py(0)) - Number(py(h))).toFixed(1)}" fill="#ddd"><title>${esc(fmt(b.count))} rows in [${b.lower.toFixed(1)}, ${b.upper.toFixed(1)})</title></rect>`;
  });
  const filled = bins.filter((b) => b.count > 0);
  const pts = filled.map((b) => `${px(b.meanPredicted as number)},${py(b.observed as number)}`).join(' ');
  const dots = filled.map(
    (b) =>
      `<circle cx="${px(b.meanPredicted as number)}" cy="${py(b.observed as number)}" r="3.5" fill="#d62728"><title>predicted ${esc(fmt(b.meanPredicted))}, observed ${esc(fmt(b.observed))} (${esc(fmt(b.count))} rows)</title></circle>`,
  );
  const what = m.calibration.kind === 'positive_class' ? 'predicted P(positive)' : 'predicted class probability';
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="calibration" width="${SIZE}" height="${SIZE}" viewBox="0 0 ${SIZE} ${SIZE}" role="img" aria-label="calibration">
${axes(`Calibration (ECE ${fmt(m.calibration.expectedCalibrationError)})`, what, m.calibration.kind === 'positive_class' ? 'observed frequency' : 'observed accuracy')}
${bars.join('\n')}
<polyline fill="none" stroke="#d62728" stroke-width="1.5" points="${pts}"/>
${dots.join('\n')}</svg>`;
}

function confusionTable(m: ClassificationMetrics): string {
  const labels = m.perClass.map((c) => String(c.label));
  const max = Math.max(1, ...m.confusion.flat());
  const rows = m.confusion.map(
    (row, a) =>
      `<tr><th>${esc(labels[a])}</th>${row
        .map(
          (v, p) =>
            `<td class="${a === p ? 'diag' : ''}" style="background:rgba(31,119,180,${(0.08 + 0.6 * (v / max)).toFixed(2)})">${esc(fmt(v))}</td>`,
        )
        .join('')}</tr>`,
  );
  return `<table id="confusion"><thead><tr><th>actual ↓ / predicted →</th>${labels.map((l) => `<th>${esc(l)}</th>`).join('')}</tr></thead>
<tbody>${rows.join('\n')}</tbody></table>`;
}

function headline(m: ModelMetrics): [string, unknown][] {
  if (m.task === 'regression')
    return [
      ['RMSE', m.rmse],
      ['MAE', m.mae],
      ['R²', m.r2],
      ['test rows', m.rows],
    ];
  return [
    ['accuracy', m.accuracy],
    [m.task === 'binary' ? 'ROC AUC' : 'ROC AUC (macro, one vs rest)', m.rocAuc],
    ['log loss', m.logLoss],
    ['macro F1', m.macroF1],
    ['test rows', m.rows],
  ];
}

function lineageList(l: ModelCardLineage | undefined): string {
  if (!l || Object.keys(l).length === 0) return '<p class="muted">No lineage was given to this evaluation.</p>';
  const entries: [string, unknown][] = [
    ['model', l.model !== undefined ? `${l.model}${l.version !== undefined ? `@${l.version}` : ''}` : undefined],
    ['dataset', l.datasetId],
    [
      'transform',
      l.transform
        ? `${l.transform.name} v${l.transform.version}${l.transform.buildSha256 ? ` (build sha256 ${l.transform.buildSha256})` : ''}`
        : undefined,
    ],
    [
      'log range',
      l.logRange
        ? Object.entries(l.logRange)
            .map(([s, r]) => `${s}: ${r.fromSeq ?? '…'}–${r.toSeq ?? '…'}`)
            .join('; ')
        : undefined,
    ],
    [
      'contracts',
      l.contracts
        ? Object.entries(l.contracts)
            .map(([c, v]) => `${c}@${v.join(', ')}`)
            .join('; ')
        : undefined,
    ],
    ['code', l.codeVersion !== undefined ? `${l.codeVersion}${l.codeDirty ? ' (uncommitted changes)' : ''}` : undefined],
    ['trainer', l.trainer],
    ['parameters', l.parameters],
    ['seed', l.seed],
    ['produced by', l.workflowId !== undefined ? `${l.workflowId}${l.runId ? ` / ${l.runId}` : ''}` : undefined],
  ];
  return `<dl id="lineage">${entries
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(typeof v === 'object' ? JSON.stringify(v) : String(v))}</dd>`)
    .join('')}</dl>`;
}

export function renderModelCard(c: ModelCard): string {
  const m = c.metrics;
  const cards = headline(m)
    .map(([k, v]) => `<div class="metric"><div class="k">${esc(k)}</div><div class="v">${esc(fmt(v))}</div></div>`)
    .join('');
  let details: string;
  if (m.task === 'regression') {
    details = `<table id="regression"><tr><th>RMSE</th><td>${esc(fmt(m.rmse))}</td></tr><tr><th>MAE</th><td>${esc(fmt(m.mae))}</td></tr><tr><th>R²</th><td>${esc(fmt(m.r2))}</td></tr></table>`;
  } else {
    const aucOf = (label: ModelClassLabel): number | null =>
      m.task === 'binary' ? m.rocAuc : (m.perClass.find((x) => x.label === label)?.rocAuc ?? null);
    const perClass = m.perClass
      .map(
        (x) =>
          `<tr><td>${esc(String(x.label))}</td><td>${esc(fmt(x.support))}</td><td>${esc(fmt(x.precision))}</td><td>${esc(fmt(x.recall))}</td><td>${esc(fmt(x.f1))}</td><td>${esc(fmt(x.rocAuc))}</td></tr>`,
      )
      .join('\n');
    details = `<h2>Per class</h2>
<table id="per-class"><thead><tr><th>class</th><th>support</th><th>precision</th><th>recall</th><th>F1</th><th>ROC AUC (one vs rest)</th></tr></thead><tbody>
${perClass}
</tbody></table>
<h2>Confusion matrix</h2>
${confusionTable(m)}
<h2>ROC and calibration</h2>
<figure>${rocChart(c.rocCurves, aucOf)}</figure><figure>${calibrationChart(m)}</figure>`;
  }
  const latency = c.cost.latency
    .map(
      (l) =>
        `<tr><td>${esc(fmt(l.batchSize))}</td><td>${esc(fmt(l.runs))}</td><td>${esc(fmt(l.p50Ms))}</td><td>${esc(fmt(l.p99Ms))}</td></tr>`,
    )
    .join('');
  const title = `${c.modelName}${c.lineage?.version !== undefined ? `@${c.lineage.version}` : ''}`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Model card: ${esc(title)}</title>
<style>
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,sans-serif;margin:2em;color:#222;max-width:1100px}
h1{font-size:1.4em}.metric{display:inline-block;margin:0 1em 1em 0;padding:.5em 1em;border:1px solid #ddd;border-radius:4px}
.metric .k{color:#666;font-size:.85em}.metric .v{font-size:1.4em;font-weight:bold}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ddd;padding:4px 8px;text-align:right}th{background:#f5f5f5}
td.diag{font-weight:bold}.muted{color:#777}figure{display:inline-block;margin:.5em}dt{font-weight:bold;float:left;clear:left;width:9em}dd{margin-left:10em;word-break:break-all}
</style></head>
<body>
<h1>Model card: ${esc(title)}</h1>
<p>${esc(m.task)} model, ONNX sha256 <code>${esc(c.onnxSha256)}</code>, evaluated ${esc(c.evaluatedAt)} on ${esc(fmt(m.rows))} test rows
(rows of <code>${esc(c.testSplit.arrowSha256.slice(0, 12))}</code> where <code>${esc(c.testSplit.splitColumn)}</code> is ${esc(c.testSplit.testValues.map((v) => JSON.stringify(v)).join(' or '))}; ${esc(fmt(c.testSplit.fileRows))} rows in the file).</p>
<h2>Test metrics</h2>
<div id="metrics">${cards}</div>
${details}
<h2>Inference cost</h2>
<p id="provider">Execution provider: <strong>${esc(c.executionProvider.toUpperCase())}</strong>${c.executionProviderNote ? ` <span class="muted">(${esc(c.executionProviderNote)})</span>` : ''}. Model size: ${esc(fmt(c.cost.modelBytes))} bytes.</p>
<table id="latency"><thead><tr><th>batch size</th><th>timed runs</th><th>p50 ms</th><th>p99 ms</th></tr></thead><tbody>${latency}</tbody></table>
<h2>Lineage</h2>
${lineageList(c.lineage)}
</body></html>
`;
}
