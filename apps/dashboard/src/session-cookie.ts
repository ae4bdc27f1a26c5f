import { createHash, randomBytes } from "node:crypto";

export const SESSION_COOKIE = "nudge_session";

/** 256 random bits: the cookie's value. Only its SHA-256 is stored (see the dashboard migration). */
export function newSessionId(): string {
  return randomBytes(32).toString("base64url");
}

export function sessionIdHash(id: string): string {
  return createHash("sha256").update(id).digest("hex");
}

/** The value of one cookie from a Cookie header (the only one this app reads; no dependency needed for it). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const at = part.indexOf("=");
    if (at < 0) continue;
    if (part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
}

/**
 * HttpOnly: no script reads it. SameSite=Strict: no other site's page makes the browser send it (the Origin check is
 * the second line). Secure unless the demo runs over plain http. Path=/ and no Domain: this host only.
 */
export function sessionCookie(value: string, options: { secure: boolean; maxAgeSeconds: number }): string {
  return [
    `${SESSION_COOKIE}=${value}`,
    "Path=/",
    "HttpOnly",
    "SameSite=Strict",
    `Max-Age=${options.maxAgeSeconds}`,
    ...(options.secure ? ["Secure"] : []),
  ].join("; ");
}
