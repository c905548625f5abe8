// The basic_auth_users of a web configuration: passwords checked against bcrypt hashes. bcrypt is
// slow on purpose (cost 10: ~70 ms of CPU here), far too slow to pay on every scrape of a prober
// whose event loop also times packets, so each verdict is remembered: Prometheus sends the same
// credentials every scrape and pays bcrypt once. The memory holds SHA-256 digests of
// (user, hash, password), never a password, and is bounded; a new hash (a reload) is a new key, so
// a changed password cannot be served from it. bcryptjs is pure JavaScript (no addon to build) and
// its async compare yields to the event loop between rounds; one compare runs at a time, so a flood
// of wrong passwords costs at most one core's share, as in exporter-toolkit.
import { createHash } from "node:crypto";
import bcrypt from "bcryptjs";

/** Verdicts remembered, by digest of user, hash and password. Bounded: emptied when full. */
export class VerdictCache {
  private readonly verdicts = new Map<string, boolean>();
  constructor(private readonly max = 256) {}
  get(key: string): boolean | undefined {
    return this.verdicts.get(key);
  }
  set(key: string, ok: boolean): void {
    if (this.verdicts.size >= this.max) this.verdicts.clear();
    this.verdicts.set(key, ok);
  }
  get size(): number {
    return this.verdicts.size;
  }
}

export class BcryptUsers {
  private queue: Promise<unknown> = Promise.resolve();
  /** bcrypt comparisons actually run (tests read it to see the cache work). */
  compares = 0;
  /** A hash compared when the user is unknown, so timing does not tell which users exist. */
  private readonly decoy: string | undefined;

  constructor(
    private readonly users: ReadonlyMap<string, string>,
    private readonly cache = new VerdictCache(),
  ) {
    this.decoy = users.values().next().value;
  }

  get empty(): boolean {
    return this.users.size === 0;
  }

  /** Whether `password` is that of `user`. */
  async check(user: string, password: string): Promise<boolean> {
    const known = this.users.get(user);
    const hash = known ?? this.decoy;
    if (hash === undefined) return false;
    const key = createHash("sha256")
      .update(user)
      .update("\0")
      .update(hash)
      .update("\0")
      .update(password)
      .digest("base64");
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit && known !== undefined;
    const run = this.queue.then(async () => {
      // The same credentials may have been verified while this one waited its turn.
      const again = this.cache.get(key);
      if (again !== undefined) return again;
      this.compares++;
      const ok = await bcrypt.compare(password, hash).catch(() => false);
      this.cache.set(key, ok);
      return ok;
    });
    this.queue = run.catch(() => {});
    return (await run) && known !== undefined;
  }
}
