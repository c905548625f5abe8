// The command's standard output and error as main() writes them (bin/netprobify.js). A write that
// fails (a full disk under a redirection, a device like /dev/full, a reader gone) makes Node's stream
// emit 'error', which without a listener kills the process with exit 1 and a stack trace: `check`
// of a valid file on a full disk exited 1, a refused configuration 1 instead of 65. The message that
// could not be written is lost either way; the exit code stays the command's (docs/exit-codes.md).
import type { Io } from "./main.js";

export function processIo(): Io {
  for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {});
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  };
}
