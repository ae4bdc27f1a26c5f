import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import type { SimProvider } from "./request-record";

/** A request as the provider routes see it: fully read, body still raw (form-encoded or JSON depending on provider). */
export interface SimRequest {
  method: string;
  pathname: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  /** Omitted: an empty body. */
  body?: string;
}

/** A provider endpoint matched by method and path. `handle` records whatever it accepts before returning the answer. */
export interface ProviderRoute {
  provider: SimProvider;
  handle(request: SimRequest): Reply;
}

export const JSON_TYPE = "application/json; charset=utf-8";

export function jsonReply(status: number, value: unknown, headers: Record<string, string> = {}): Reply {
  return { status, headers: { "Content-Type": JSON_TYPE, ...headers }, body: JSON.stringify(value) };
}

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf-8")));
    req.on("error", reject);
  });
}

/** Parses a JSON body, or returns undefined when it is not JSON (each provider answers that in its own words). */
export function parseJson(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

export function bearerToken(headers: IncomingHttpHeaders): string | undefined {
  const match = /^Bearer\s+(\S+)/i.exec(headers.authorization ?? "");
  return match?.[1];
}

export function basicCredentials(headers: IncomingHttpHeaders): { username: string; password: string } | undefined {
  const match = /^Basic\s+(\S+)/i.exec(headers.authorization ?? "");
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, "base64").toString("utf-8");
  const colon = decoded.indexOf(":");
  if (colon === -1) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
