/** The operator's log: warnings and errors (pino levels 40 and 50+). */
import { existsSync, readFileSync, statSync } from 'node:fs';

export interface LogCount {
  warnings: number;
  errors: number;
  /** Distinct messages of level >= 40, with how often each came. */
  messages: Record<string, number>;
}

const LOG_LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

export function countLog(file: string, fromByte: number): LogCount {
  const result: LogCount = { warnings: 0, errors: 0, messages: {} };
  let text: string;
  try {
    text = readFileSync(file).subarray(fromByte).toString('utf8');
  } catch {
    return result;
  }
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) {
      // Not pino's JSON: something on stderr (a crash, a Node warning).
      if (line.trim() !== '') {
        result.errors++;
        const key = line.slice(0, 160);
        result.messages[key] = (result.messages[key] ?? 0) + 1;
      }
      continue;
    }
    let entry: { level?: number | string; msg?: string };
    try {
      entry = JSON.parse(line) as { level?: number | string; msg?: string };
    } catch {
      continue;
    }
    // pino writes numbers by default; @pulse/core's logger writes the labels.
    const level = typeof entry.level === 'string' ? (LOG_LEVELS[entry.level] ?? 0) : (entry.level ?? 0);
    if (level < 40) continue;
    if (level >= 50) result.errors++;
    else result.warnings++;
    const key = entry.msg ?? '(no msg)';
    result.messages[key] = (result.messages[key] ?? 0) + 1;
  }
  return result;
}

export const fileSize = (file: string) => (existsSync(file) ? statSync(file).size : 0);
