/**
 * Deterministic sample data for the demo: page views of a small storefront, with the kinds of
 * damage real producers send (wrong types, missing fields, unknown countries, broken JSON lines,
 * re-sent events). The same seed always gives the same bytes.
 */
import * as fs from 'node:fs';

/** mulberry32: a tiny seeded PRNG, so the sample is reproducible without dependencies. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const COUNTRIES = ['DE', 'FR', 'GB', 'NL', 'US', 'JP', 'BR', 'IN'] as const;
const DEVICES = ['desktop', 'mobile', 'tablet'] as const;
const PAGES = ['/', '/search', '/product/1', '/product/2', '/product/3', '/cart', '/checkout', '/help'] as const;

export interface SampleStats {
  lines: number;
  valid: number;
  invalid: number;
  resent: number;
}

function pick<T>(rnd: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rnd() * xs.length)] as T;
}

/** Writes `count` page-view lines (NDJSON) to `file`; returns what was planted. */
export function writePageViews(file: string, count: number, seed = 42): SampleStats {
  const rnd = seededRandom(seed);
  const start = Date.UTC(2026, 10, 1);
  const lines: string[] = [];
  const stats: SampleStats = { lines: 0, valid: 0, invalid: 0, resent: 0 };
  for (let i = 0; i < count; i++) {
    const device = pick(rnd, DEVICES);
    const converted = rnd() < (device === 'desktop' ? 0.12 : 0.06);
    const event: Record<string, unknown> = {
      id: `pv-${String(i).padStart(7, '0')}`,
      ts: new Date(start + i * 37_000 + Math.floor(rnd() * 30_000)).toISOString(),
      user_id: Math.floor(rnd() * 5_000),
      ...(rnd() < 0.7 ? { user_email: `user${i % 5_000}@shop.example` } : {}), // PII: logged-in users only
      page: pick(rnd, PAGES),
      referrer: rnd() < 0.4 ? null : 'https://search.example/',
      duration_ms: Math.floor(-Math.log(1 - rnd()) * 40_000),
      country: pick(rnd, COUNTRIES),
      device,
      converted,
      revenue: converted ? Math.round(rnd() * 20_000) / 100 : 0,
    };
    const damage = rnd();
    if (damage < 0.01)
      event.user_id = String(event.user_id); // wrong type
    else if (damage < 0.02)
      delete event.country; // missing required field
    else if (damage < 0.025) event.country = 'XX'; // not in the enum
    if (damage < 0.025) stats.invalid++;
    else stats.valid++;
    lines.push(damage >= 0.025 && damage < 0.03 ? `${JSON.stringify(event).slice(0, 25)}` : JSON.stringify(event));
    if (damage >= 0.025 && damage < 0.03) {
      // that line was cut: broken JSON, counted as invalid instead
      stats.valid--;
      stats.invalid++;
    }
    if (rnd() < 0.01 && damage >= 0.03) {
      lines.push(JSON.stringify(event)); // the producer re-sent it
      stats.resent++;
    }
  }
  stats.lines = lines.length;
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return stats;
}
