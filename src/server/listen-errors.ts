// Why the metrics listener could not start, as typed errors. A daemon whose /metrics cannot be
// scraped would probe blind (nobody sees its results), so every binding failure is fatal, and each
// common cause gets its own stable code and a message that says what to do.
import { Code, NetprobifyError } from "../errors.js";

/** `address:port` as a user would type it into a browser or `ss` filter: IPv6 in brackets. */
export function hostPort(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

function errnoOf(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "string")
    return err.code;
  return undefined;
}

/** The NetprobifyError for a failed listen() on address:port. */
export function listenError(err: unknown, address: string, port: number): NetprobifyError {
  const where = hostPort(address, port);
  const errno = errnoOf(err);
  const options = { cause: err };
  switch (errno) {
    case "EADDRINUSE":
      return new NetprobifyError(
        Code.NPF_PORT_IN_USE,
        `cannot serve metrics on ${where}: the port is already in use (another netprobify or exporter?). ` +
          `Find the holder with \`ss -ltnp 'sport = :${port}'\`, stop it, or set global.prometheus_port ` +
          "to a free port",
        options,
      );
    case "EACCES":
      return new NetprobifyError(
        Code.NPF_PORT_ACCESS_DENIED,
        `cannot serve metrics on ${where}: binding to this port is not permitted ` +
          "(ports below 1024 need CAP_NET_BIND_SERVICE). Use a port of 1024 or above in " +
          "global.prometheus_port, or grant the capability (systemd AmbientCapabilities=CAP_NET_BIND_SERVICE)",
        options,
      );
    case "EADDRNOTAVAIL":
      return new NetprobifyError(
        Code.NPF_ADDRESS_NOT_AVAILABLE,
        `cannot serve metrics on ${where}: ${address} is not an address of this machine ` +
          "(or its interface is not up yet). Fix global.prometheus_address, or use 0.0.0.0 / :: to listen " +
          "on every address",
        options,
      );
    default: {
      const why = err instanceof Error ? err.message : String(err);
      return new NetprobifyError(
        Code.NPF_LISTEN_FAILED,
        `cannot serve metrics on ${where}: ${why}. Check global.prometheus_address and global.prometheus_port`,
        options,
      );
    }
  }
}
