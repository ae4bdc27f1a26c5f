import { eventually, startApp, type AppProcess } from "@nudge/testing";
import { OPERATOR, startDashboardFleet, type DashboardFleet } from "./dashboard-fixture";

/**
 * Acceptance 5: an operator's decision on a send the reconciler could not settle (mark it sent, or release it for one
 * resend) is written to the audit log under the operator's name; a release is sent exactly once, by the simulator's
 * record, by the reconciler through the claim, however often it is clicked.
 */
jest.setTimeout(120_000);

let f: DashboardFleet;
let reconciler: AppProcess | undefined;

beforeAll(async () => {
  f = await startDashboardFleet();
});
afterAll(async () => {
  await reconciler?.kill("SIGKILL");
  await f?.close();
});

const form = (fields: Record<string, string> = {}) => ({ body: new URLSearchParams(fields).toString(), type: "application/x-www-form-urlencoded" });

async function audit(deliveryId: number) {
  const { rows } = await f.pg.query<{ operator: string; action: string; outcome: string; detail: string | null }>(
    `SELECT operator, action, outcome, detail FROM operator_audit_log WHERE delivery_id = $1 ORDER BY id`,
    [deliveryId],
  );
  return rows;
}

async function delivery(id: number) {
  const { rows } = await f.pg.query<{ state: string; resends: number; provider_message_id: string | null; reason: string }>(
    `SELECT state::text, resends, provider_message_id, reason FROM deliveries WHERE id = $1`,
    [id],
  );
  return rows[0]!;
}

const smsTo = (phone: string) => f.sim.records().filter((r) => r.provider === "twilio-sms" && r.to === phone);

test("marking a send `sent` settles it with the operator's provider id, sends nothing, and is audited", async () => {
  const { deliveryId, phone } = await f.seedAwaitingDecision();
  const cookie = await f.login(OPERATOR);
  const page = await (await f.request("GET", "/decisions", { cookie })).text();
  expect(page).toContain(`delivery-${deliveryId}`);
  expect(page).toContain("cannot tell which");

  const res = await f.request("POST", `/decisions/${deliveryId}/mark-sent`, { cookie, ...form({ providerMessageId: "CA00000000000000000000000000000001" }) });
  expect(res.status).toBe(303);
  expect(await delivery(deliveryId)).toMatchObject({ state: "sent", provider_message_id: "CA00000000000000000000000000000001", reason: `marked sent by operator ${OPERATOR.name}` });
  expect(await audit(deliveryId)).toEqual([{ operator: OPERATOR.name, action: "mark-sent", outcome: "sent", detail: "CA00000000000000000000000000000001" }]);

  // A second decision on a settled send changes nothing and is audited as refused.
  await f.request("POST", `/decisions/${deliveryId}/release`, { cookie, ...form() });
  expect((await delivery(deliveryId)).state).toBe("sent");
  expect((await audit(deliveryId))[1]).toEqual({ operator: OPERATOR.name, action: "release", outcome: "refused: the delivery is sent, not waiting for a decision", detail: null });
  expect(smsTo(phone)).toHaveLength(0);
  // The timeline shows the decision.
  const timeline = await (await f.request("GET", `/timeline?address=${encodeURIComponent(phone)}`, { cookie })).text();
  expect(timeline).toContain(`${OPERATOR.name}: sent`);
});

test("an unknown send the reconciler has not handed over cannot be decided: refused and audited, nothing changes", async () => {
  const { deliveryId } = await f.seedAwaitingDecision();
  await f.pg.query(`UPDATE deliveries SET awaiting_operator_since = NULL WHERE id = $1`, [deliveryId]);
  const cookie = await f.login(OPERATOR);
  for (const action of ["release", "mark-sent"]) await f.request("POST", `/decisions/${deliveryId}/${action}`, { cookie, ...form() });
  expect(await delivery(deliveryId)).toMatchObject({ state: "unknown", resends: 0 });
  expect((await audit(deliveryId)).map((e) => [e.action, e.outcome])).toEqual([
    ["release", "refused: the reconciler has not handed it to an operator (yet)"],
    ["mark-sent", "refused: the reconciler has not handed it to an operator (yet)"],
  ]);
});

test("a release, clicked three times at once, is audited once as released and sent exactly once by the reconciler", async () => {
  const { deliveryId, phone } = await f.seedAwaitingDecision();
  const cookie = await f.login(OPERATOR);
  const clicks = await Promise.all([1, 2, 3].map(() => f.request("POST", `/decisions/${deliveryId}/release`, { cookie, ...form() })));
  expect(clicks.map((r) => r.status)).toEqual([303, 303, 303]);
  const entries = await audit(deliveryId);
  expect(entries.filter((e) => e.outcome.startsWith("released"))).toHaveLength(1);
  expect(entries.filter((e) => e.outcome.startsWith("refused"))).toHaveLength(2);
  expect(entries.every((e) => e.operator === OPERATOR.name && e.action === "release")).toBe(true);
  expect(await delivery(deliveryId)).toMatchObject({ state: "pending", resends: 1 });
  // Nothing is sent by the dashboard itself.
  expect(smsTo(phone)).toHaveLength(0);

  reconciler = startApp("apps/reconciler/src/main.ts", { ...f.workerEnv, RECONCILE_INTERVAL_MS: "300", RECONCILE_SETTLE_MS: "1000" });
  await reconciler.waitForLine(/"msg":"reconciler started"/);
  const sent = await eventually("the released send recorded", async () => {
    const d = await delivery(deliveryId);
    return d.state === "sent" ? d : undefined;
  });
  const records = smsTo(phone);
  expect(records).toHaveLength(1);
  // The stored body, as the claim sent it (the delivery id travels only with a status callback URL, not set here).
  expect(records[0]!.body).toBe((await f.pg.query(`SELECT body FROM deliveries WHERE id = $1`, [deliveryId])).rows[0].body);
  expect(sent.provider_message_id).toBe(records[0]!.id);

  // Once sent, another release is refused and nothing more goes out.
  await f.request("POST", `/decisions/${deliveryId}/release`, { cookie, ...form() });
  expect((await audit(deliveryId)).at(-1)!.outcome).toBe("refused: the delivery is sent, not waiting for a decision");
  expect(smsTo(phone)).toHaveLength(1);
  const log = await (await f.request("GET", "/audit", { cookie })).text();
  expect(log).toContain("released: pending, the reconciler sends it once");
});
