// Which configuration file a command reads, and whether a bare word on the command line is a file
// or a mistyped command. The original netprobify read `config.yaml` from its working directory (its
// container image mounts the file there); we read `netprobify.yaml` first, then `config.yaml`, and
// say which. A word that is not an existing file and looks like a command (`chekc`, `help`) is a
// usage error with the nearest command, not a configuration that cannot be read.
import { existsSync } from "node:fs";
import { closest, distance } from "fastest-levenshtein";
import { Code, NetprobifyError, UsageError } from "../errors.js";

/** The file names tried, in order, when no CONFIG is given. */
export const DEFAULT_CONFIGS = ["netprobify.yaml", "config.yaml"] as const;

export const COMMANDS = ["run", "check", "demo", "help"] as const;

export interface ConfigChoice {
  file: string;
  /** Set when the file was found by the default lookup: one line saying which and why. */
  note?: string;
}

/** The file given, or the first default that exists in the working directory. */
export function chooseConfig(given: string | undefined): ConfigChoice {
  if (given !== undefined) return { file: given };
  const [preferred, original] = DEFAULT_CONFIGS;
  if (existsSync(preferred)) return { file: preferred, note: `no CONFIG given: reading ./${preferred}` };
  if (existsSync(original))
    return {
      file: original,
      note: `no CONFIG given: reading ./${original} (the original netprobify's name; ./${preferred} does not exist)`,
    };
  throw new NetprobifyError(
    Code.NPF_CONFIG_NOT_FOUND,
    `no configuration file given, and the working directory ${process.cwd()} has neither ./${preferred} ` +
      `nor ./${original}: name the file (netprobify FILE, netprobify check FILE), or start from examples/netprobify.yaml`,
  );
}

/**
 * `netprobify WORD`: WORD is a configuration file when it exists or looks like a path (has a `.` or
 * a `/`, e.g. `my.yaml`, which then reports a missing file as the original did). Otherwise it is a
 * misspelt command.
 */
export function refuseUnknownCommand(word: string): void {
  if (existsSync(word) || /[./]/.test(word)) return;
  const best = closest(word, [...COMMANDS]);
  const near = distance(word, best) <= 2 ? ` (did you mean "${best}"?)` : "";
  throw new UsageError(
    `unknown command "${word}"${near}; commands: ${COMMANDS.join(", ")} (and no file of that name exists)`,
  );
}
