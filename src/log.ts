import { pino, type Logger, type LevelWithSilent } from "pino";

/** JSON logs on stdout; built once in main and passed down (child loggers carry context). */
export function createLogger(level: LevelWithSilent, component: string): Logger {
  return pino({
    level,
    base: { component },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}

export const LOG_LEVELS: readonly LevelWithSilent[] = [
  "fatal",
  "error",
  "warn",
  "info",
  "debug",
  "trace",
  "silent",
];
