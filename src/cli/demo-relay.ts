// How /metrics inside the sealed demo namespace is reached from the user's shell without giving the
// host any route to the lab: a byte relay over a Unix socket. The host side listens on loopback TCP
// and forwards each connection to a Unix socket in a private directory; inside the namespace the demo
// forwards each connection on that socket to the daemon's loopback listener. Unix sockets are file
// system objects, so they cross network namespaces; nothing else does, and the relay only ever
// connects to that one listener.
import { connect, createServer, type Server, type Socket } from "node:net";

function pipeBoth(a: Socket, b: Socket): void {
  a.on("error", () => b.destroy());
  b.on("error", () => a.destroy());
  a.pipe(b);
  b.pipe(a);
}

function listen(server: Server, where: { path: string } | { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(where, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** Host side: loopback TCP on `port` (0 = any free port) to the Unix socket at `path`. */
export async function hostRelay(port: number, path: string): Promise<{ server: Server; port: number }> {
  const server = createServer((c) => pipeBoth(c, connect({ path })));
  try {
    await listen(server, { host: "127.0.0.1", port });
  } catch (e) {
    if (port === 0) throw e;
    await listen(server, { host: "127.0.0.1", port: 0 });
  }
  const addr = server.address();
  return { server, port: typeof addr === "object" && addr ? addr.port : port };
}

/** Namespace side: the Unix socket at `path` to the daemon's listener on 127.0.0.1:`port`. */
export async function labRelay(path: string, port: number): Promise<Server> {
  const server = createServer((c) => pipeBoth(c, connect({ host: "127.0.0.1", port })));
  await listen(server, { path });
  return server;
}
