import { createHash } from 'node:crypto';
import { CanonicalRowHasher } from '../../activities/transform/contentHash';

/** COPY text lines ordered by seq (column 1 here); rows 3 and 5 share their seq with others. */
const LINES = ['a\t1\tx\n', 'c\t2\tz\n', 'b\t2\ty\n', 'a\t3\t\\N\n', 'b\t5\tq\n', 'a\t5\tq\n', 'c\t5\tp\n', 'z\t6\t\\t tab\n'];
const CANONICAL = ['a\t1\tx\n', 'b\t2\ty\n', 'c\t2\tz\n', 'a\t3\t\\N\n', 'a\t5\tq\n', 'b\t5\tq\n', 'c\t5\tp\n', 'z\t6\t\\t tab\n'];

function hashOf(chunks: string[], seqIndex = 1): { sha256: string; rows: number } {
  const h = new CanonicalRowHasher(seqIndex);
  for (const c of chunks) h.update(Buffer.from(c));
  return h.finish();
}

describe('content hash: canonical order of COPY rows', () => {
  const expected = createHash('sha256').update(CANONICAL.join('')).digest('hex');

  it('puts rows with the same seq in byte order and counts rows', () => {
    expect(hashOf([LINES.join('')])).toEqual({ sha256: expected, rows: 8, bytes: CANONICAL.join('').length });
  });

  it('does not depend on where the stream is cut, nor on the order of rows within a seq', () => {
    const text = LINES.join('');
    for (let cut = 0; cut <= text.length; cut++) {
      expect(hashOf([text.slice(0, cut), text.slice(cut)]).sha256).toBe(expected);
    }
    const bytewise = [...text].map((ch) => ch);
    expect(hashOf(bytewise).sha256).toBe(expected);
    const shuffled = [LINES[0], LINES[2], LINES[1], LINES[3], LINES[6], LINES[4], LINES[5], LINES[7]].join('');
    expect(hashOf([shuffled]).sha256).toBe(expected);
  });

  it('changes when any value changes', () => {
    const changed = LINES.join('').replace('q\n', 'Q\n');
    expect(hashOf([changed]).sha256).not.toBe(expected);
  });
});
