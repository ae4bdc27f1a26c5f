import { createDb, type Db } from "@nudge/db";
import { createTestDatabase, type TestDatabase } from "@nudge/testing";
import { revokeApiToken, listApiTokens, type WebhooksApp } from "../src";
import { loadTestCampaign } from "./fixtures";
import { bearer, newKey, rowCounts, startApiApp, token, validRequests } from "./http-api-fixture";
import type { Answer, Client } from "./http-client";

/**
 * What the HTTP API refuses, and that a refusal writes nothing: every route without a usable token (401/403), and a
 * seeded sweep of 1,000 bad requests (4xx naming the problem, never a 5xx). Row counts of every table a request could
 * write are compared before and after.
 */

let database: TestDatabase;
let db: Db;
let app: WebhooksApp;
let client: Client;

const BODY_LIMIT = 64 * 1024;

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb(database.url, { poolSize: 6 });
  await loadTestCampaign(db);
  ({ app, client } = await startApiApp(db, { bodyLimit: BODY_LIMIT }));
});
afterAll(async () => {
  client.close();
  await app.close();
  await db.$disconnect();
  await database.drop();
});

const GETS = ["/v1/deliveries/1", "/v1/messages/1", "/v1/recipients/patient-1/history"];

describe("tokens and scopes", () => {
  it("refuses every route without a token, with a wrong, a malformed or a revoked token (401) and without the route's scope (403), writing nothing", async () => {
    const sendOnly = await token(db, ["send"], "sweep-service");
    const readOnly = await token(db, ["read"], "sweep-service");
    const revoked = await token(db, ["send", "read"], "sweep-service");
    const revokedId = (await listApiTokens(db)).find((t) => t.scopes.length === 2 && t.source === "sweep-service")!.id;
    await revokeApiToken(db, revokedId);
    const wrong = `nudge_${"A".repeat(43)}`;
    // A valid request with the right scope is accepted (so the refusals below are about the token alone).
    const posts = validRequests(7);
    const cases: Array<{ headers: Record<string, string>; status: number; error: RegExp; methods: "both" | "post" | "get" }> = [
      { headers: {}, status: 401, error: /Authorization header missing/, methods: "both" },
      { headers: bearer(wrong), status: 401, error: /not valid \(unknown or revoked\)/, methods: "both" },
      { headers: { authorization: "Basic dXNlcjpwYXNz" }, status: 401, error: /not a bearer token/, methods: "both" },
      { headers: bearer("short"), status: 401, error: /not valid/, methods: "both" },
      { headers: bearer(revoked), status: 401, error: /not valid \(unknown or revoked\)/, methods: "both" },
      { headers: bearer(readOnly), status: 403, error: /lacks the send scope/, methods: "post" },
      { headers: bearer(sendOnly), status: 403, error: /lacks the read scope/, methods: "get" },
    ];
    const before = await rowCounts(db);
    let checked = 0;
    for (const c of cases) {
      const answers: Array<[string, Answer]> = [];
      if (c.methods !== "get") {
        for (const r of posts) {
          answers.push([r.url, await client.request({ method: "POST", url: r.url, headers: { ...c.headers, "content-type": "application/json", "idempotency-key": newKey() }, payload: JSON.stringify(r.body) })]);
        }
      }
      if (c.methods !== "post") for (const url of GETS) answers.push([url, await client.request({ method: "GET", url, headers: c.headers })]);
      for (const [url, a] of answers) {
        expect({ url, status: a.statusCode, error: a.json().error }).toEqual({ url, status: c.status, error: expect.stringMatching(c.error) });
        if (c.status === 401) expect(a.headers["www-authenticate"]).toBe('Bearer realm="nudge"');
        checked++;
      }
    }
    expect(checked).toBe(5 * (posts.length + GETS.length) + posts.length + GETS.length);
    expect(await rowCounts(db)).toEqual(before);
    // The same requests with a token that has the scope are accepted: the sweep above refused them for the token alone.
    const ok = await client.request({ method: "POST", url: posts[0]!.url, headers: { ...bearer(sendOnly), "content-type": "application/json", "idempotency-key": newKey() }, payload: JSON.stringify(posts[0]!.body) });
    expect(ok.statusCode).toBe(201);
  });
});

/** mulberry32: a seeded PRNG, so that a failing request of the sweep is the same one on the next run. */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Bad {
  what: string;
  url: string;
  headers: Record<string, string>;
  payload?: string | Buffer;
  status: number;
  /** The problem the answer must name. */
  names: RegExp;
}

const WRONG_VALUES: Array<[unknown, string]> = [
  [42, "a number"],
  ["text", "a string"],
  [true, "a boolean"],
  [null, "null"],
  [[1, 2], "an array"],
  [{ nested: 1 }, "an object"],
];

/** Every field path of a valid body that holds a value (contact's fields included). */
function paths(value: unknown, prefix: string[] = []): string[][] {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return [prefix];
  return Object.entries(value).flatMap(([k, v]) => paths(v, [...prefix, k]));
}

function withValue(body: unknown, path: string[], value: unknown): unknown {
  const copy = structuredClone(body) as Record<string, unknown>;
  let at = copy;
  for (const k of path.slice(0, -1)) at = at[k] as Record<string, unknown>;
  if (value === undefined) delete at[path.at(-1)!];
  else at[path.at(-1)!] = value;
  return copy;
}

/** Fields whose absence is not an error: leaving them out is no test of "missing". */
const OPTIONAL = new Set(["contact.phone", "contact.email", "contact.timezone", "deadline", "reenroll", "campaignId"]);

function badRequests(count: number, send: string): Bad[] {
  const random = prng(20261125);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const templates = validRequests(9);
  const json = { ...bearer(send), "content-type": "application/json" };
  const makers: Array<() => Bad> = [
    () => {
      const r = pick(templates);
      const path = pick(paths(r.body));
      const field = path.join(".");
      const original = path.reduce<any>((o, k) => o[k], r.body);
      let [value, label] = pick(WRONG_VALUES);
      // The same type as the field's is no wrong type: a number for a string, a string for anything else.
      if (typeof value === typeof original && value !== null && !Array.isArray(value)) [value, label] = typeof original === "string" ? [12345, "a number"] : ["text", "a string"];
      return { what: `wrong type (${label}) at ${field}`, url: r.url, headers: { ...json, "idempotency-key": newKey("bad") }, payload: JSON.stringify(withValue(r.body, path, value)), status: 400, names: new RegExp(`body\\.${field.replace(/\./g, "\\.")}`) };
    },
    () => {
      const r = pick(templates);
      const required = paths(r.body).filter((p) => !OPTIONAL.has(p.join(".")));
      const path = pick(required);
      const field = path.join(".");
      // A contact with neither phone nor email is named as the contact; every other missing field by its own path.
      return { what: `missing ${field}`, url: r.url, headers: { ...json, "idempotency-key": newKey("bad") }, payload: JSON.stringify(withValue(r.body, path, undefined)), status: 400, names: new RegExp(`body\\.${field.replace(/\./g, "\\.")}: (required|.*)`) };
    },
    () => {
      const r = pick(templates);
      const name = pick(["extra", "priority", "callback_url", "__proto__x", "Channel", "appointment_id"]);
      const inContact = "contact" in r.body && random() < 0.5;
      const body = structuredClone(r.body) as Record<string, any>;
      if (inContact) body.contact[name] = "x";
      else body[name] = 1;
      const field = inContact ? `contact.${name}` : name;
      return { what: `unknown field ${field}`, url: r.url, headers: { ...json, "idempotency-key": newKey("bad") }, payload: JSON.stringify(body), status: 400, names: new RegExp(`body\\.${field.replace(/\./g, "\\.")}: not a field of this request`) };
    },
    () => {
      const r = pick(templates);
      const text = JSON.stringify(r.body);
      const broken = pick([text.slice(0, Math.max(1, Math.floor(text.length * random()))), `${text}}`, text.replace(/"/g, "'"), `{"a":1,}`, "nul", "{", `${text} trailing`]);
      return { what: `malformed JSON ${JSON.stringify(broken.slice(0, 20))}`, url: r.url, headers: { ...json, "idempotency-key": newKey("bad") }, payload: broken, status: 400, names: /not valid JSON|Body cannot be empty/ };
    },
    () => {
      const r = pick(templates);
      const type = pick(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml", "application/json-patch+json"]);
      return { what: `Content-Type ${type}`, url: r.url, headers: { ...bearer(send), "content-type": type, "idempotency-key": newKey("bad") }, payload: JSON.stringify(r.body), status: 415, names: /unsupported Content-Type/ };
    },
    () => {
      const r = pick(templates);
      const body = { ...(r.body as object), padding: "x".repeat(BODY_LIMIT + Math.floor(random() * BODY_LIMIT)) };
      return { what: "oversized body", url: r.url, headers: { ...json, "idempotency-key": newKey("bad") }, payload: JSON.stringify(body), status: 413, names: /request body too large: this route takes at most 64 KiB/ };
    },
    () => {
      const r = pick(templates);
      const key = pick([undefined, "", "42", "-7", "a:b", "with space", "k".repeat(201), "tab\tinside"]);
      const headers: Record<string, string> = { ...json };
      if (key !== undefined) headers["idempotency-key"] = key;
      return { what: `Idempotency-Key ${JSON.stringify(key)}`, url: r.url, headers, payload: JSON.stringify(r.body), status: 400, names: /Idempotency-Key header/ };
    },
    () => {
      const r = pick(templates.filter((t) => "contact" in t.body));
      const [field, value, names] = pick<[string, unknown, RegExp]>([
        ["contact.phone", "555-0100", /body\.contact\.phone: a phone number is in E\.164 form/],
        ["contact.email", "not-an-email", /body\.contact\.email: not an email address/],
        ["contact.timezone", "Mars/Olympus", /body\.contact\.timezone: a time zone is an IANA zone name/],
        ["contact.name", "", /body\.contact\.name: a name may not be empty/],
        ["contact.id", "i".repeat(201), /body\.contact\.id: an id is at most 200 characters/],
      ]);
      return { what: `invalid ${field}`, url: r.url, headers: { ...json, "idempotency-key": newKey("bad") }, payload: JSON.stringify(withValue(r.body, field.split("."), value)), status: 400, names };
    },
    () => {
      const [url, body, names] = pick<[string, unknown, RegExp]>([
        ["/v1/appointments/a/cancel", { version: -1 }, /body\.version: a version may not be negative/],
        ["/v1/appointments/a/confirm", { version: 1.5 }, /body\.version: a version is a whole number/],
        ["/v1/appointments/a/cancel", {}, /body\.version: required/],
        [`/v1/appointments/${"a".repeat(201)}/cancel`, { version: 1 }, /path\.appointmentId: an id is at most 200 characters/],
        ["/v1/messages", { channel: "fax", contact: { id: "c", name: "C", phone: "+15550100001" }, body: "x" }, /body\.channel/],
        ["/v1/messages", { channel: "sms", contact: { id: "c", name: "C", phone: "+15550100001" }, subject: "s", body: "x" }, /body\.subject: an SMS has no subject/],
        ["/v1/messages", { channel: "sms", contact: { id: "c", name: "C" }, body: "x" }, /body\.contact: a contact needs a phone or an email/],
        ["/v1/messages", { channel: "sms", contact: { id: "c", name: "C", phone: "+15550100001" }, body: "x".repeat(1601) }, /body\.body: an SMS body is at most 1600 characters/],
        ["/v1/messages", { channel: "email", contact: { id: "c", name: "C", email: "c@example.com" }, subject: "s", body: "x", deadline: "tomorrow" }, /body\.deadline: deadline is an ISO 8601 date-time/],
        ["/v1/leads/enroll", { contact: { id: "c", name: "C", email: "c@example.com" }, campaignId: "Not A Slug" }, /body\.campaignId: a campaign id is a slug/],
        ["/v1/messages", [1, 2], /body: a JSON object is required, got an array/],
        ["/v1/messages", "just a string", /body: a JSON object is required, got string/],
        [`/v1/leads/${"c".repeat(201)}/stop`, { reason: "r" }, /path\.contactId: an id is at most 200 characters/],
      ]);
      return { what: `invalid value on ${url.slice(0, 40)}`, url, headers: { ...json, "idempotency-key": newKey("bad") }, payload: JSON.stringify(body), status: 400, names };
    },
  ];
  return Array.from({ length: count }, (_, i) => makers[i % makers.length]!());
}

describe("bad requests", () => {
  it("answers 1,000 bad requests (wrong types, missing and unknown fields, malformed JSON, wrong content types, oversized bodies, bad keys and values) with a 4xx naming the problem, never a 5xx, writing nothing", async () => {
    const send = await token(db, ["send", "read"], "sweep-bodies");
    const before = await rowCounts(db);
    const requests = badRequests(1000, send);
    const wrong: string[] = [];
    const statuses = new Map<number, number>();
    for (let i = 0; i < requests.length; i += 8) {
      const batch = requests.slice(i, i + 8);
      const answers = await Promise.all(batch.map((r) => client.request({ method: "POST", url: r.url, headers: r.headers, ...(r.payload !== undefined && { payload: r.payload }) })));
      batch.forEach((r, n) => {
        const a = answers[n]!;
        statuses.set(a.statusCode, (statuses.get(a.statusCode) ?? 0) + 1);
        let error = "";
        try {
          error = a.json().error;
        } catch {
          error = `(not JSON: ${a.body.slice(0, 60)})`;
        }
        if (a.statusCode !== r.status || typeof error !== "string" || !r.names.test(error) || /\bat \w+ \(/.test(a.body)) {
          wrong.push(`#${i + n} ${r.what}: expected ${r.status} naming ${r.names}, got ${a.statusCode} ${error}`);
        }
      });
    }
    expect(wrong.slice(0, 20)).toEqual([]);
    expect([...statuses.keys()].every((s) => s >= 400 && s < 500)).toBe(true);
    expect(await rowCounts(db)).toEqual(before);
  });
});
