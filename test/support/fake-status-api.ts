// A stand-in for the daemon's JSON API (/api/v1/status, /history, /target, as the history branch
// defines them), with generated data, served by the real HTTP server (auth, static page, gzip): the
// page's browser test and its benchmark run against it without probing anything. Deterministic:
// target i's numbers depend only on i and the iteration, so tests can predict what the page shows.
import type { BasicAuth } from "../../src/server/auth.js";
import { type RunningServer, startServer } from "../../src/server/http.js";
import { landingPage } from "../../src/server/landing.js";

export interface FakeOptions {
  targets: number;
  /** Indexes of targets that lose packets (30 % in every iteration). */
  lossy?: readonly number[];
  /** Seconds between iterations (default 30). */
  interval?: number;
  /** Seconds of history kept (default 24 h). */
  retention?: number;
  auth?: BasicAuth;
  /** The clock (unix s); default: Date.now(). */
  now?: () => number;
}

const TYPES = ["TCPsyn", "ICMPping", "UDPunreachable"] as const;
const GROUPS = ["default", "dc-east", "dc-west"] as const;

interface Fake {
  id: string;
  destination: string;
  group: string;
  type: (typeof TYPES)[number];
  family: "ipv4" | "ipv6";
  lossy: boolean;
  /** Base RTT, seconds. */
  base: number;
}

function makeTargets(n: number, lossy: ReadonlySet<number>): Fake[] {
  const out: Fake[] = [];
  for (let i = 0; i < n; i++) {
    const v6 = i % 4 === 3;
    const destination = v6 ? `fd18::${(i + 1).toString(16)}` : `198.18.${(i >> 8) & 255}.${(i & 255) + 1}`;
    const group = GROUPS[i % GROUPS.length]!;
    out.push({
      id: `${destination}/${group}`,
      destination,
      group,
      type: TYPES[i % TYPES.length]!,
      family: v6 ? "ipv6" : "ipv4",
      lossy: lossy.has(i),
      base: 0.0005 + ((i * 7919) % 1000) / 200_000,
    });
  }
  return out;
}

/** One iteration of a target, or undefined when nothing was measured (a gap every ~100 iterations). */
function iteration(
  f: Fake,
  k: number,
): { sent: number; lost: number; rtts: number[]; errors: number } | undefined {
  if (k % 101 >= 95) return undefined;
  const sent = 10;
  const lost = f.lossy ? 3 : 0;
  const wobble = 1 + 0.3 * Math.sin(k / 17);
  const rtts = [0.7, 0.85, 0.95, 1, 1.1, 1.3, 1.8].map((m) => f.base * m * wobble);
  return { sent, lost, rtts, errors: f.lossy && k % 5 === 0 ? 1 : 0 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export interface FakeServer {
  server: RunningServer;
  url: string;
  targets: readonly Fake[];
  close(): Promise<void>;
}

export async function startFakeStatusApi(o: FakeOptions): Promise<FakeServer> {
  const interval = o.interval ?? 30;
  const retention = o.retention ?? 86_400;
  const now = o.now ?? (() => Date.now() / 1000);
  const targets = makeTargets(o.targets, new Set(o.lossy ?? []));
  const byId = new Map(targets.map((t) => [t.id, t]));
  const kNow = () => Math.floor(now() / interval);

  const statusEntry = (f: Fake) => {
    const it = iteration(f, kNow() - 1);
    return {
      id: f.id,
      destination: f.destination,
      group: f.group,
      type: f.type,
      family: f.family,
      state: "in production",
      description: `fake target ${f.id}`,
      loss_ratio: it ? it.lost / it.sent : null,
      rtt_p50: it ? it.rtts[3] : null,
      rtt_p95: it ? it.rtts[6] : null,
      loss_ratio_window: f.lossy ? 0.3 : 0,
      worst_rtt_window: f.base * 1.8 * 1.3,
      suspect_link: f.lossy ? { from: "198.18.0.1", to: "198.18.0.2", loss: 0.3 } : null,
    };
  };

  const history = (f: Fake, from: number, to: number, points: number) => {
    const k0 = Math.ceil(from / interval);
    const k1 = Math.floor(to / interval);
    const n = Math.max(0, k1 - k0 + 1);
    const per = Math.max(1, Math.ceil(n / points));
    const s = {
      t: [] as number[],
      sent: [] as number[],
      lost: [] as number[],
      rtt: { min: [], p10: [], p25: [], p50: [], p75: [], p90: [], max: [] } as Record<
        string,
        (number | null)[]
      >,
      errors: [] as number[],
    };
    const keys = ["min", "p10", "p25", "p50", "p75", "p90", "max"];
    for (let k = k0; k <= k1; k += per) {
      const its: NonNullable<ReturnType<typeof iteration>>[] = [];
      for (let j = k; j < Math.min(k + per, k1 + 1); j++) {
        const it = iteration(f, j);
        if (it) its.push(it);
      }
      s.t.push(k * interval);
      s.sent.push(its.reduce((a, b) => a + b.sent, 0));
      s.lost.push(its.reduce((a, b) => a + b.lost, 0));
      s.errors.push(its.reduce((a, b) => a + b.errors, 0));
      keys.forEach((key, i) => {
        const vals = its.map((it) => it.rtts[i]!);
        const v =
          vals.length === 0
            ? null
            : key === "min"
              ? Math.min(...vals)
              : key === "max"
                ? Math.max(...vals)
                : median(vals);
        s.rtt[key]!.push(v);
      });
    }
    return s;
  };

  const server = await startServer({
    address: "127.0.0.1",
    port: 0,
    ...(o.auth ? { auth: o.auth } : {}),
    metrics: async () => ({ contentType: "text/plain", body: "" }),
    health: () => ({ ok: true, detail: {} }),
    landing: landingPage("0.0.0-fake", "fake-probe"),
    api: (path, q) => {
      const a = answer(path, q);
      return a && { status: a.status ?? 200, body: JSON.stringify(a.body) };
    },
  });
  function answer(path: string, q: URLSearchParams): { status?: number; body: unknown } | undefined {
    if (path === "/api/v1/status")
      return {
        body: {
          probe_name: "fake-probe",
          version: "0.0.0-fake",
          now: now(),
          interval,
          retention_seconds: retention,
          iteration: {
            count: 1234,
            last_duration_seconds: 2.5,
            probes_per_second: (o.targets * 10) / interval,
          },
          reload: { failed: false, last_applied: now() - 3600 },
          inventories: [{ name: "fake-inventory", healthy: true, targets: o.targets, crashes: 0 }],
          targets: targets.map(statusEntry),
        },
      };
    if (path === "/api/v1/history") {
      const ids = (q.get("ids") ?? "").split(",").filter((x) => x);
      if (ids.length > 200) return { status: 400, body: { error: "at most 200 ids" } };
      const to = Number(q.get("to") ?? now());
      const from = Math.max(Number(q.get("from") ?? to - 3600), now() - retention);
      const points = Math.min(Number(q.get("points") ?? 600), 600);
      const series: Record<string, unknown> = {};
      for (const id of ids) {
        const f = byId.get(id);
        if (f) series[id] = history(f, from, to, points);
      }
      return { body: { from, to, series } };
    }
    if (path === "/api/v1/target") {
      const f = byId.get(q.get("id") ?? "");
      if (!f) return { status: 404, body: { error: "no such target" } };
      return {
        body: {
          ...statusEntry(f),
          config: {
            destination: f.destination,
            type: f.type,
            nb_packets: 10,
            timeout: 1,
            groups: [f.group],
          },
          icmp_errors: f.lossy ? { "host-unreachable": 4 } : {},
          late: f.lossy ? 2 : 0,
          duplicates: 0,
          flows:
            f.type === "TCPsyn"
              ? [0, 1, 2, 3].map((i) => ({
                  src_addr: f.family === "ipv6" ? "fd18::1" : "198.18.0.1",
                  src_port: 40000 + i,
                  flow_label: f.family === "ipv6" ? 1000 + i : null,
                  sent: 10,
                  lost: f.lossy && i === 2 ? 10 : 0,
                  rtt_min: f.base * 0.7,
                  rtt_p50: f.lossy && i === 2 ? null : f.base,
                  rtt_max: f.base * 1.8,
                  reply_ttl: 63,
                }))
              : null,
          paths: null,
        },
      };
    }
    return undefined;
  }
  return {
    server,
    url: `http://127.0.0.1:${server.port}/`,
    targets,
    close: () => server.close(),
  };
}
