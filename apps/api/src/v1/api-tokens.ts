import { createHash, randomBytes } from "node:crypto";
import { sourceNameSchema } from "@nudge/client";
import { type Db, sqlPool } from "@nudge/db";

export const API_SCOPES = ["send", "read", "admin"] as const;
export type ApiScope = (typeof API_SCOPES)[number];

/** Recognisable in a leak scan or a log line that should not have it. */
const TOKEN_PREFIX = "nudge_";
const TOKEN_SHAPE = /^nudge_[A-Za-z0-9_-]{43}$/;

/** What a request's bearer token stands for. */
export interface ApiPrincipal {
  tokenId: number;
  source: string;
  scopes: readonly ApiScope[];
}

export interface ApiTokenInfo {
  id: number;
  name: string | null;
  source: string;
  scopes: ApiScope[];
  createdAt: Date;
  revokedAt: Date | null;
}

/**
 * SHA-256, unsalted: the token is 32 random bytes, so there is nothing to guess and a salt or a slow hash (for
 * passwords people choose) would buy nothing but a lookup that cannot use an index.
 */
export function hashApiToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** `send,read` as scopes, or an error naming the one that is not a scope. */
export function parseScopes(text: string): ApiScope[] {
  const scopes = [...new Set(text.split(",").map((s) => s.trim()).filter((s) => s.length > 0))];
  if (scopes.length === 0) throw new RangeError(`--scopes needs at least one of ${API_SCOPES.join(", ")}, e.g. --scopes send,read`);
  for (const scope of scopes) {
    if (!(API_SCOPES as readonly string[]).includes(scope)) throw new RangeError(`--scopes: ${JSON.stringify(scope)} is not a scope; use ${API_SCOPES.join(", ")}`);
  }
  return scopes as ApiScope[];
}

/** Creates a token; the token itself is in the result only, never stored: it cannot be shown again. */
export async function createApiToken(db: Db, options: { source: string; scopes: readonly ApiScope[]; name?: string }): Promise<ApiTokenInfo & { token: string }> {
  const source = sourceNameSchema.safeParse(options.source);
  if (!source.success) throw new RangeError(`--source: ${source.error.issues[0]!.message}; got ${JSON.stringify(options.source)}`);
  if (options.scopes.length === 0) throw new RangeError("a token needs at least one scope");
  const token = TOKEN_PREFIX + randomBytes(32).toString("base64url");
  const { rows } = await sqlPool(db).query<ApiTokenInfo>(
    `INSERT INTO api_tokens (name, source, scopes, token_hash) VALUES ($1, $2, $3::text[], $4)
     RETURNING id, name, source, scopes, created_at AS "createdAt", revoked_at AS "revokedAt"`,
    [options.name ?? null, source.data, options.scopes, hashApiToken(token)],
  );
  return { ...rows[0]!, token };
}

export async function listApiTokens(db: Db): Promise<ApiTokenInfo[]> {
  const { rows } = await sqlPool(db).query<ApiTokenInfo>(
    `SELECT id, name, source, scopes, created_at AS "createdAt", revoked_at AS "revokedAt" FROM api_tokens ORDER BY id`,
  );
  return rows;
}

/** Revokes a token: its next request fails. Undefined when there is no such token; a revoked one keeps its first revocation. */
export async function revokeApiToken(db: Db, id: number): Promise<ApiTokenInfo | undefined> {
  const { rows } = await sqlPool(db).query<ApiTokenInfo>(
    `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, nudge_now()) WHERE id = $1
     RETURNING id, name, source, scopes, created_at AS "createdAt", revoked_at AS "revokedAt"`,
    [id],
  );
  return rows[0];
}

/**
 * The token's principal, looked up on every request (one indexed read, no cache): a revoked token fails on its very
 * next request, in every API process. Undefined for an unknown or revoked token.
 */
export async function authenticateApiToken(db: Db, token: string): Promise<ApiPrincipal | undefined> {
  if (!TOKEN_SHAPE.test(token)) return undefined;
  const { rows } = await sqlPool(db).query<{ id: number; source: string; scopes: ApiScope[] }>(
    `SELECT id, source, scopes FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL`,
    [hashApiToken(token)],
  );
  const row = rows[0];
  return row && { tokenId: row.id, source: row.source, scopes: row.scopes };
}
