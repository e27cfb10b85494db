import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config/edgepier-config.js';

/** Wherever they appear in a log object, these never leave the process. */
const REDACTED_PATHS = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'password',
  '*.password',
  'token',
  '*.token',
  'credentials',
  '*.credentials',
];

/** The one root logger; components get `logger.child({ component })`. */
export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  const options = { level, base: { app: 'edgepier' }, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}
