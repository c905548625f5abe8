// Typed errors with stable codes. Every error netprobify raises on purpose is a NetprobifyError whose
// `code` never changes between releases, so scripts, logs and docs/errors.md can rely on it. The exit
// code a CLI command returns is derived from the error class, in one place (exitCodeFor).

/** Process exit codes (sysexits.h where one fits). Documented in docs/exit-codes.md. */
export const ExitCode = {
  OK: 0,
  /** Unexpected internal failure (a bug): the message and stack are printed. */
  SOFTWARE: 70,
  /** Command line misuse: unknown command or option, missing argument. */
  USAGE: 64,
  /** The configuration file is missing, unreadable or invalid (the original netprobify used 65 too). */
  CONFIG: 65,
  /** Missing privilege, e.g. raw sockets without CAP_NET_RAW. */
  NOPERM: 77,
  /** A service the daemon needs is unavailable, e.g. the metrics port is already in use. */
  UNAVAILABLE: 69,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class NetprobifyError extends Error {
  readonly code: string;
  readonly exitCode: ExitCode;
  constructor(code: string, message: string, exitCode: ExitCode = ExitCode.SOFTWARE, options?: ErrorOptions) {
    super(message, options);
    this.name = "NetprobifyError";
    this.code = code;
    this.exitCode = exitCode;
  }
}

export class UsageError extends NetprobifyError {
  constructor(message: string) {
    super("NPF_USAGE", message, ExitCode.USAGE);
    this.name = "UsageError";
  }
}

/** Where a diagnostic points: a 1-based line and column in a file, when known. */
export interface SourcePosition {
  line: number;
  col: number;
}

export type Severity = "error" | "warning";

/** One problem found in a configuration file. `rule` names the check that produced it. */
export interface Diagnostic {
  severity: Severity;
  /** Key path inside the document, e.g. ["targets", "web", "dst_port"]; empty for the whole file. */
  path: (string | number)[];
  message: string;
  /** Stable name of the check, e.g. "schema", "yaml-syntax", "dst-port-required". */
  rule: string;
  pos?: SourcePosition;
}

/** The configuration could not be loaded; `diagnostics` holds every problem found, errors and warnings. */
export class ConfigError extends NetprobifyError {
  readonly file: string;
  readonly diagnostics: Diagnostic[];
  constructor(file: string, diagnostics: Diagnostic[]) {
    const errors = diagnostics.filter((d) => d.severity === "error").length;
    super(
      "NPF_CONFIG_INVALID",
      `configuration ${file} is invalid: ${errors} error${errors === 1 ? "" : "s"}`,
      ExitCode.CONFIG,
    );
    this.name = "ConfigError";
    this.file = file;
    this.diagnostics = diagnostics;
  }
}

/** The exit code a command returns for an error that reached the top level. */
export function exitCodeFor(err: unknown): ExitCode {
  return err instanceof NetprobifyError ? err.exitCode : ExitCode.SOFTWARE;
}
