// The one error type of src/bpf. Program builders run on configuration-derived parameters before any
// socket exists, so a bad port range or an unencodable program is reported with a stable code instead
// of reaching setsockopt, where the kernel would only say EINVAL.

import { type Code, NetprobifyError } from "../errors.js";

/**
 * NPF_BPF_PARAM: a builder got parameters it cannot turn into a filter (port outside 0..65535,
 * lo > hi, nothing to accept...). NPF_BPF_ASSEMBLY: a program cannot be encoded (unknown label, jump
 * backwards or beyond 255 instructions, more than 4096 instructions, fails the kernel's checks).
 * Both are programming or validation errors upstream, hence exit code SOFTWARE.
 */
export class BpfError extends NetprobifyError {
  constructor(code: typeof Code.NPF_BPF_PARAM | typeof Code.NPF_BPF_ASSEMBLY, message: string) {
    super(code, message);
    this.name = "BpfError";
  }
}
