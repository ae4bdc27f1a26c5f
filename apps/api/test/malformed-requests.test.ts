import { createDb, type Db } from "@nudge/db";
import { createLogger } from "@nudge/logger";
import { createTestDatabase, type TestDatabase } from "@nudge/testing";
import { buildWebhooks, SENDGRID_BODY_LIMIT, TWILIO_BODY_LIMIT, type WebhooksApp } from "../src";
import { makeDelivery, sid, snapshot } from "./fixtures";
import { listen, type Answer, type Client } from "./http-client";
import { sendGridSigner, twilioSignature } from "./signing";

/**
 * A sweep of 1,000 requests that no provider sends: each must get a 4xx with a JSON `{error}` and no stack trace, and
 * none may write anything. Seeded, so that a failure repeats.
 */

const AUTH_TOKEN = "sweep-auth-token-0123456789";
const PUBLIC_URL = "https://nudge.example.com";
const signer = sendGridSigner();
const FORM = "application/x-www-form-urlencoded";
const JSON_TYPE = "application/json";

let database: TestDatabase;
let db: Db;
let app: WebhooksApp;
let client: Client;

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb(database.url, { poolSize: 3 });
  app = buildWebhooks({
    db,
    logger: createLogger("api-test", "silent"),
    twilio: { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL },
    sendGrid: { publicKey: signer.publicKey },
  });
  client = await listen(app);
});
afterAll(async () => {
  client.close();
  await app.close();
  await db.$disconnect();
  await database.drop();
});

/** mulberry32: a small seeded generator. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Malformed {
  kind: string;
  method?: string;
  url: string;
  headers?: Record<string, string>;
  payload?: string | Buffer;
}

const signedForm = (path: string, params: Record<string, string>): Malformed => ({
  kind: "",
  url: path,
  headers: { "content-type": FORM, "x-twilio-signature": twilioSignature(AUTH_TOKEN, PUBLIC_URL + path, params) },
  payload: new URLSearchParams(params).toString(),
});
const signedJson = (body: string): Malformed => ({ kind: "", url: "/webhooks/sendgrid/events", headers: { "content-type": JSON_TYPE, ...signer.headers(body) }, payload: body });

function generators(rand: () => number, deliveryId: number) {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
  const routes = ["/webhooks/twilio/status", `/webhooks/twilio/status?deliveryId=${deliveryId}`, "/webhooks/twilio/inbound", "/webhooks/sendgrid/events"];
  const status = (extra: Record<string, string> = {}) => ({ MessageSid: sid(), MessageStatus: pick(["delivered", "undelivered", "sent"]), ...extra });
  const list: Array<[string, () => Malformed]> = [
    ["bad JSON", () => {
      const body = pick(["[{", "{\"event\":", "[1,2,,]", "nul", "\u0000", "[]]", "{'a':1}", ""]) + bytes(3).toString("latin1");
      return { ...(rand() < 0.5 ? signedJson(body) : { kind: "", url: "/webhooks/sendgrid/events", headers: { "content-type": JSON_TYPE }, payload: body }) };
    }],
    ["wrong content type", () => {
      const [url, type] = pick([
        [routes[1]!, JSON_TYPE],
        [routes[2]!, "text/plain"],
        [routes[1]!, "multipart/form-data; boundary=x"],
        [routes[3]!, FORM],
        [routes[3]!, "text/xml"],
        [routes[3]!, "application/jsonx"],
        ["/health", JSON_TYPE],
      ] as const);
      return { kind: "", method: url === "/health" ? "GET" : "POST", url, headers: { "content-type": type }, payload: "MessageSid=SM1&MessageStatus=sent" };
    }],
    ["oversized body", () =>
      rand() < 0.9
        ? { kind: "", url: pick(routes.slice(0, 3)), headers: { "content-type": FORM }, payload: `Body=${"a".repeat(TWILIO_BODY_LIMIT)}` }
        : { kind: "", url: routes[3]!, headers: { "content-type": JSON_TYPE }, payload: `["${"a".repeat(SENDGRID_BODY_LIMIT)}"]` }],
    ["missing fields (signed)", () =>
      pick([
        () => signedForm(routes[1]!, { MessageStatus: "delivered" }),
        () => signedForm(routes[1]!, { MessageSid: sid() }),
        () => signedForm(routes[1]!, { CallSid: sid("CA") }),
        () => signedForm(routes[1]!, {}),
        () => signedForm(routes[2]!, { Body: "STOP" }),
        () => signedJson(JSON.stringify([{ event: "bounce", sg_event_id: "e1" }])),
        () => signedJson(JSON.stringify([{ event: "delivered", deliveryId: String(deliveryId) }])),
        () => signedJson(JSON.stringify([{ sg_event_id: "e2", deliveryId: String(deliveryId) }])),
      ])()],
    ["bad values (signed)", () =>
      pick([
        () => signedForm(`/webhooks/twilio/status?deliveryId=${pick(["abc", "-1", "0", "1e3", "99999999999", "%00", "1&deliveryId=2"])}`, status()),
        () => signedForm(routes[1]!, status({ MessageSid: pick(["", " ", "SM<script>", "x".repeat(100)]) })),
        () => signedForm(routes[1]!, status({ MessageStatus: pick(["delivered!", "1", "x".repeat(80)]) })),
        () => signedJson(JSON.stringify(pick([{}, "x", 1, null, { events: [] }]))),
        () => signedJson(JSON.stringify([{ event: "delivered", sg_event_id: "e3", deliveryId: pick(["x", "1.5", -3, true, {}]) }])),
        () => signedJson(JSON.stringify([pick([null, 1, "delivered", []])])),
        () => signedJson(JSON.stringify([{ event: 1, sg_event_id: "e4" }])),
      ])()],
    ["duplicate form fields (signed)", () => {
      const m = signedForm(routes[1]!, status());
      return { ...m, payload: `${m.payload}&MessageStatus=failed` };
    }],
    ["bad signature", () => {
      const body = pick([
        () => ({ type: FORM, payload: new URLSearchParams(status()).toString(), url: routes[1]! }),
        () => ({ type: FORM, payload: new URLSearchParams({ From: "+15550100001", Body: "STOP" }).toString(), url: routes[2]! }),
        () => ({ type: JSON_TYPE, payload: JSON.stringify([{ event: "bounce", sg_event_id: "e5", email: "a@example.com" }]), url: routes[3]! }),
      ])();
      const signature = pick([
        () => bytes(20).toString("base64"),
        () => bytes(72).toString("base64"),
        () => "",
        () => twilioSignature("wrong-token-xxxxxxxx", PUBLIC_URL + body.url, {}),
        () => "%%%%",
      ])();
      return {
        kind: "",
        url: body.url,
        headers: {
          "content-type": body.type,
          "x-twilio-signature": signature,
          "x-twilio-email-event-webhook-signature": signature,
          "x-twilio-email-event-webhook-timestamp": String(Math.floor(rand() * 2e9)),
        },
        payload: body.payload,
      };
    }],
    ["wrong method", () => ({ kind: "", method: pick(["GET", "PUT", "DELETE", "PATCH", "OPTIONS"]), url: pick(routes), payload: undefined })],
    ["POST to /health", () => ({ kind: "", method: "POST", url: "/health", headers: { "content-type": FORM }, payload: "a=b" })],
    ["random bytes", () => ({ kind: "", url: pick(routes), headers: { "content-type": pick([FORM, JSON_TYPE, "application/octet-stream"]) }, payload: bytes(1 + Math.floor(rand() * 2000)) })],
    ["unknown route", () => ({
      kind: "",
      method: pick(["GET", "POST"]),
      url: pick(["/", "/webhooks", "/webhooks/twilio", "/webhooks/twilio/status/1", "/WEBHOOKS/twilio/status", "/admin", "/.env", `/${bytes(6).toString("hex")}`]),
    })],
    ["bad URL escape", () => ({ kind: "", url: pick(["/webhooks/%zz", "/webhooks/twilio/%E0%A4%A", "/%", "/webhooks/twilio/status?deliveryId=%zz"]), headers: { "content-type": FORM }, payload: "" })],
    ["no body, no type", () => ({ kind: "", url: pick(routes), payload: undefined })],
  ];
  return list;
}

describe("malformed requests", () => {
  it("answers 1,000 malformed requests with a 4xx and a JSON error each, and writes nothing", async () => {
    const d = await makeDelivery(db, "sms", "sent", { providerMessageId: sid() });
    const before = await snapshot(db);
    const rand = random(20261125);
    const list = generators(rand, d.id);
    const seen = new Map<string, Map<number, number>>();
    const failures: string[] = [];
    for (let i = 0; i < 1000; i += 1) {
      const [kind, make] = list[i % list.length]!;
      const req = make();
      let res: Answer;
      try {
        res = await client.request({ method: req.method ?? "POST", url: req.url, headers: req.headers ?? {}, payload: req.payload });
      } catch (error) {
        failures.push(`#${i} ${kind} ${req.method ?? "POST"} ${req.url}: no answer (${(error as Error).message})`);
        continue;
      }
      const counts = seen.get(kind) ?? new Map<number, number>();
      counts.set(res.statusCode, (counts.get(res.statusCode) ?? 0) + 1);
      seen.set(kind, counts);
      let error: unknown;
      try {
        error = res.json().error;
      } catch {
        error = undefined;
      }
      if (res.statusCode < 400 || res.statusCode > 499 || typeof error !== "string" || /\n\s+at |node_modules|\.ts:\d+/.test(res.body)) {
        failures.push(`#${i} ${kind} ${req.method ?? "POST"} ${req.url.slice(0, 80)}: ${res.statusCode} ${res.body.slice(0, 200)}`);
      }
    }
    console.log(
      `malformed sweep, statuses by kind:\n${[...seen].map(([kind, counts]) => `  ${kind}: ${[...counts].map(([s, n]) => `${s} x${n}`).join(", ")}`).join("\n")}`,
    );
    expect(failures).toEqual([]);
    expect(await snapshot(db)).toBe(before);
  });
});
