/** Durations as users write them: `500ms`, `30s`, `10m`, `1h30m`, `2d`. */
import { HayateError } from './errors';

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const WHOLE = /^(\d+(ms|s|m|h|d))+$/;
const PART = /(\d+)(ms|s|m|h|d)/g;

/**
 * Milliseconds of a duration such as `30s` or `1h30m` (parts of `<integer><ms|s|m|h|d>`).
 * @param what the option, for the error message (`--every`)
 * @throws HayateError HAYATE_ERR_INVALID_OPTION when the text is not such a duration or is 0
 */
export function parseDuration(text: string, what: string): number {
  if (!WHOLE.test(text)) throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Invalid ${what} ${JSON.stringify(text)}: expected a duration such as 500ms, 30s, 10m, 1h30m`);
  let ms = 0;
  for (const m of text.matchAll(PART)) ms += Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  if (ms <= 0 || !Number.isSafeInteger(ms)) throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Invalid ${what} ${JSON.stringify(text)}: it must be longer than 0`);
  return ms;
}

/** The shortest text of a duration in ms (`90000` → `1m30s`). */
export function formatDuration(ms: number): string {
  if (ms <= 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of [['d', UNIT_MS.d], ['h', UNIT_MS.h], ['m', UNIT_MS.m], ['s', UNIT_MS.s], ['ms', UNIT_MS.ms]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out;
}
