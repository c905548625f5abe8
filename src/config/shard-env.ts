// NETPROBIFY_SHARD_INDEX: this instance's shard index from the environment. Sharded deployments ship
// one configuration file to every instance and learn each instance's index only when it starts (a
// Kubernetes StatefulSet's pod ordinal, deploy/kubernetes/); the variable replaces the file's
// global.shard.index (which the file may then leave out), on every load and reload. The count stays
// in the file: every instance must agree on it.
import type { Diagnostic } from "../errors.js";
import type { ConfigSource } from "./source.js";

export const SHARD_INDEX_ENV = "NETPROBIFY_SHARD_INDEX";

const isMap = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/** Puts the variable's index into `source.data`, or an error into `source.diagnostics`. */
export function applyShardIndexEnv(source: ConfigSource, env: NodeJS.ProcessEnv = process.env): void {
  const text = env[SHARD_INDEX_ENV];
  if (text === undefined || text === "" || !isMap(source.data)) return;
  const fail = (path: string[], message: string) => {
    const d: Diagnostic = {
      severity: "error",
      path,
      message,
      rule: "shard-index-env",
      pos: source.locate(path),
    };
    source.diagnostics.push(d);
  };
  const global = source.data.global;
  const shard = isMap(global) ? global.shard : undefined;
  if (!/^\d{1,9}$/.test(text.trim())) {
    fail(
      ["global", "shard"],
      `${SHARD_INDEX_ENV} must be a shard index (0, 1, ...), got ${JSON.stringify(text)}`,
    );
  } else if (!isMap(global) || !isMap(shard)) {
    fail(
      ["global"],
      `${SHARD_INDEX_ENV}=${text.trim()} needs global.shard in the file, e.g. shard: {index: 0, count: 3} (the index is replaced)`,
    );
  } else {
    const index = Number(text.trim());
    const count = shard.count;
    if (typeof count === "number" && Number.isInteger(count) && count >= 1 && index >= count)
      fail(
        ["global", "shard", "count"],
        `${SHARD_INDEX_ENV}=${index} is not below global.shard.count (${count})`,
      );
    else shard.index = index;
  }
}
