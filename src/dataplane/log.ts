/**
 * The logging the data plane needs: pino's call shape (context object first, constant
 * message second), so a pino child logger is passed in as it is.
 */
export interface DataPlaneLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}
