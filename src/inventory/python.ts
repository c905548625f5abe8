// The original netprobify's dynamic inventories are Python modules, and teams still have theirs: this
// says how one runs here. host.ts starts it like a JavaScript module (sandbox.ts: memory limit,
// process group, pdeathsig; the same NDJSON channel on fd 3), but the command is a Python interpreter
// running python_shim.py, which calls the module's start(targets, module_name, logging_level,
// config_file) as the original did. The shim is shipped as source (package.json "files").
import { fileURLToPath } from "node:url";

/** The shim, at the same place in the repository and in the installed package. */
export const PYTHON_SHIM = fileURLToPath(new URL("../../../src/inventory/python_shim.py", import.meta.url));

/** The interpreter when global.dynamic_inventories_python is not set: looked up in PATH. */
export const DEFAULT_PYTHON = "python3";

/** Module files of the inventories directory that run in Python (the package marker is not one). */
export function isPythonModule(file: string): boolean {
  return file.endsWith(".py") && file !== "__init__.py";
}

/**
 * The command running a Python module: unbuffered output (its print() lines reach the log as they
 * are written), and no __pycache__ written into the inventories directory (-B).
 */
export function pythonCommand(interpreter: string = DEFAULT_PYTHON): string[] {
  return [interpreter, "-u", "-B", PYTHON_SHIM];
}
