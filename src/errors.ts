// Typed errors with stable codes. Every error netprobify raises on purpose is a NetprobifyError whose
// `code` never changes between releases, so scripts, logs and docs/errors.md can rely on it. Each code
// is declared once, in ERROR_CODES below, with the exit code a CLI command returns for it and its
// meaning (test/errors/doc-table keeps docs/errors.md in step). A message never contains its code:
// errorText() appends it, once, wherever an error is printed or logged.

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
  /** An output file named on the command line could not be created or written. */
  IOERR: 74,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

interface CodeInfo {
  readonly exit: ExitCode;
  /** One line for docs/errors.md (Markdown). */
  readonly meaning: string;
}

/** Every error code, its exit code and its meaning. docs/errors.md shows exactly this table. */
export const ERROR_CODES = {
  NPF_CONFIG_INVALID: {
    exit: ExitCode.CONFIG,
    meaning:
      "The configuration file could not be read or has errors. Every problem is listed, one per line, as `file:line:col key.path: message`.",
  },
  NPF_CONFIG_NOT_FOUND: {
    exit: ExitCode.CONFIG,
    meaning:
      "No configuration file was given and the working directory has neither `netprobify.yaml` nor `config.yaml` (the original's name).",
  },
  NPF_USAGE: {
    exit: ExitCode.USAGE,
    meaning: "The command line is wrong: unknown command or option, missing or extra argument.",
  },
  NPF_NO_CAP_NET_RAW: {
    exit: ExitCode.NOPERM,
    meaning: "Opening a raw socket was refused: netprobify needs CAP_NET_RAW.",
  },
  NPF_SOCKET: {
    exit: ExitCode.SOFTWARE,
    meaning: "A socket system call failed; the message names the call and errno.",
  },
  NPF_NATIVE_UNAVAILABLE: {
    exit: ExitCode.SOFTWARE,
    meaning:
      "The raw-socket addon (build/Release/rawsock.node) is missing or does not match the TypeScript layouts.",
  },
  NPF_BPF_PARAM: {
    exit: ExitCode.SOFTWARE,
    meaning: "A socket filter was asked for with invalid parameters (a bug in the caller).",
  },
  NPF_BPF_ASSEMBLY: {
    exit: ExitCode.SOFTWARE,
    meaning: "A socket filter program would be refused by the kernel (a bug in a builder).",
  },
  NPF_DROP_NOT_ROOT: {
    exit: ExitCode.SOFTWARE,
    meaning: "`--user NAME` was given to a process that is not root (only root can switch user).",
  },
  NPF_PORT_IN_USE: {
    exit: ExitCode.UNAVAILABLE,
    meaning:
      "The metrics listener's address:port is already in use (EADDRINUSE); the daemon does not probe blind.",
  },
  NPF_PORT_ACCESS_DENIED: {
    exit: ExitCode.NOPERM,
    meaning: "Binding the metrics port was refused (EACCES): ports below 1024 need CAP_NET_BIND_SERVICE.",
  },
  NPF_ADDRESS_NOT_AVAILABLE: {
    exit: ExitCode.UNAVAILABLE,
    meaning:
      "`global.prometheus_address` is not an address of this machine, or its interface is not up yet (EADDRNOTAVAIL).",
  },
  NPF_LISTEN_FAILED: {
    exit: ExitCode.UNAVAILABLE,
    meaning:
      "The metrics listener could not start for another reason (port out of range, IPv6 disabled, unresolvable name); the message gives the system's reason.",
  },
  NPF_PROM_USER_INVALID: {
    exit: ExitCode.CONFIG,
    meaning: "`PROM_USER` contains `:`, which HTTP basic auth cannot carry: nobody could log in.",
  },
  NPF_DEMO_NO_NAMESPACES: {
    exit: ExitCode.NOPERM,
    meaning:
      "`netprobify demo` cannot create the network namespaces its sealed network lives in: not root and unprivileged user namespaces are refused (or, as root, a container without CAP_SYS_ADMIN). The message quotes the kernel's refusal.",
  },
  NPF_DEMO_MISSING_TOOL: {
    exit: ExitCode.UNAVAILABLE,
    meaning: "`netprobify demo` needs a command that is not installed (`ip`, `nft`, `unshare`, `setpriv`).",
  },
  NPF_OUTPUT_FAILED: {
    exit: ExitCode.IOERR,
    meaning:
      "An output file named on the command line (`run --once --probe-log FILE`) could not be created or written: its directory is missing or not writable, or its file system is full. The message names the file and the errno; a probe log that cannot be created refuses the run before anything is probed.",
  },
  NPF_DEMO_LAB: {
    exit: ExitCode.SOFTWARE,
    meaning:
      "Building the demo's network failed inside its sealed namespace (the message names the command that failed), or the namespace was not sealed (`LAB_NOT_ISOLATED`): nothing was probed.",
  },
} as const satisfies Record<`NPF_${string}`, CodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The codes as constants, e.g. `Code.NPF_PORT_IN_USE`: a misspelt code does not compile. */
export const Code = Object.freeze(
  Object.fromEntries(Object.keys(ERROR_CODES).map((c) => [c, c])) as { readonly [C in ErrorCode]: C },
);

export class NetprobifyError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: ExitCode;
  /** `message` says what happened and what to do; it never repeats the code (errorText adds it). */
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NetprobifyError";
    this.code = code;
    this.exitCode = ERROR_CODES[code].exit;
  }
}

export class UsageError extends NetprobifyError {
  constructor(message: string) {
    super(Code.NPF_USAGE, message);
    this.name = "UsageError";
  }
}

/**
 * An error as one line of text for a person: the message followed by its code in brackets, once
 * (`... [NPF_NO_CAP_NET_RAW]`). Every place that prints or logs a caught error goes through here.
 */
export function errorText(err: unknown): string {
  if (err instanceof NetprobifyError) return `${err.message} [${err.code}]`;
  if (err instanceof Error) return err.message;
  return String(err);
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
      Code.NPF_CONFIG_INVALID,
      `configuration ${file} is invalid: ${errors} error${errors === 1 ? "" : "s"}`,
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
