// The listener's socket layer: node:http, or node:https when the web configuration asks for TLS,
// with exporter-toolkit's client_auth_type modes mapped onto node (which has two knobs, requestCert
// and rejectUnauthorized, read for every new connection: a reload changes them for the next one)
// and the two modes node cannot express finished once the handshake is done.
import { createServer as createHttpServer, type Server as HttpServer, type ServerOptions } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { TLSSocket } from "node:tls";
import { sanAllowed } from "./client-sans.js";
import type { ClientAuthType, TlsSettings } from "./web-config.js";

type Log = (level: "debug", msg: string, fields: Record<string, unknown>) => void;

export interface Listener {
  server: HttpServer | HttpsServer;
  /** Certificates and client authentication for new connections (TLS listeners only). */
  setTls(t: TlsSettings): void;
}

export function createListener(
  httpOptions: ServerOptions,
  tls: TlsSettings | undefined,
  handshakeMs: number,
  log: Log,
): Listener {
  if (!tls) return { server: createHttpServer(httpOptions), setTls: () => {} };
  const server = createHttpsServer({ ...httpOptions, ...tls.context, handshakeTimeout: handshakeMs });
  let current = tls;
  const setTls = (t: TlsSettings) => {
    server.setSecureContext(t.context);
    Object.assign(server, clientCertOptions(t.clientAuth));
    current = t;
  };
  setTls(tls);
  // A handshake that failed (no client certificate, an untrusted one, not TLS at all): the client
  // sees the TLS alert; here it is a debug line.
  server.on("tlsClientError", (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    log("debug", "tls handshake failed", { code: err.code, msg: err.message });
    socket.destroy();
  });
  server.on("secureConnection", (socket: TLSSocket) => {
    const { clientAuth, allowedSans } = current;
    if (!clientCertAccepted(clientAuth, socket)) {
      log("debug", "tls client refused: certificate missing or not verified", { clientAuth });
      socket.destroy();
    } else if (allowedSans && !sanAllowed(socket.getPeerX509Certificate()?.subjectAltName, allowedSans)) {
      // A client without a certificate has no name either: refused too.
      log("debug", "tls client refused: no allowed subject alternative name", { allowedSans });
      socket.destroy();
    }
  });
  return { server, setTls };
}

/** node's per-connection options for a client_auth_type. */
function clientCertOptions(mode: ClientAuthType): { requestCert: boolean; rejectUnauthorized: boolean } {
  return { requestCert: mode !== "NoClientCert", rejectUnauthorized: mode === "RequireAndVerifyClientCert" };
}

/** After the handshake: RequireAnyClientCert needs a certificate; VerifyClientCertIfGiven a valid one if any. */
function clientCertAccepted(mode: ClientAuthType, socket: TLSSocket): boolean {
  const given = Object.keys(socket.getPeerCertificate() ?? {}).length > 0;
  if (mode === "RequireAnyClientCert" || mode === "RequireClientCert") return given;
  if (mode === "VerifyClientCertIfGiven") return !given || socket.authorized;
  return true;
}
