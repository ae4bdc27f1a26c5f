import http from "node:http";
import https from "node:https";
import type { Duplex } from "node:stream";
import { withDeadline } from "@nudge/core";

export class CallTimeoutError extends Error {
  override readonly name = "TimeoutError";
  readonly code = "ETIMEDOUT";
}

/** Rejects with a CallTimeoutError when `work` has not settled within `ms`; for SDKs that take no timeout or signal. */
export function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  return withDeadline(work, ms, () => new CallTimeoutError(`${what}: no answer within ${ms} ms`));
}

/**
 * A keep-alive agent whose sockets are destroyed after `ms` without traffic. A timeout race alone would leave a hung
 * request's socket open for good; this closes it (and the abandoned request settles, unobserved).
 */
export function idleTimeoutAgent(protocol: string, ms: number): http.Agent {
  const agent = protocol === "https:" ? new https.Agent({ keepAlive: true, timeout: ms }) : new http.Agent({ keepAlive: true, timeout: ms });
  const createConnection = agent.createConnection.bind(agent);
  agent.createConnection = ((options: object, callback?: (err: Error | null, socket: Duplex) => void) => {
    const socket = createConnection(options, callback);
    socket?.on("timeout", () => socket.destroy(new CallTimeoutError(`socket idle for ${ms} ms`)));
    return socket;
  }) as typeof agent.createConnection;
  return agent;
}
