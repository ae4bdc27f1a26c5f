import { createNudgeClient, InvalidNudgeRequestError, type NudgeOutbox, type PgQueryable } from "../src";

/**
 * Rejections need no database: every check runs before the statement. This handle fails the test if a rejected
 * request reaches it (the suite in outbox.test.ts writes the accepted ones to a real Postgres).
 */
const unreachable: PgQueryable = {
  query: () => {
    throw new Error("a rejected request reached the database");
  },
};
const outbox: NudgeOutbox = createNudgeClient({ source: "signup-service" }).outbox(unreachable);
const ada = { id: "user-1", name: "Ada Lovelace", email: "ada@example.com" };
/** `request` as a JavaScript caller may call it: TypeScript refuses these calls (see types.test-d.ts). */
const untypedRequest = outbox.request as (...args: unknown[]) => Promise<unknown>;

/** The issues a rejected write reports, as `field: message` lines. */
async function issuesOf(write: Promise<unknown>): Promise<readonly string[]> {
  const error = await write.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof InvalidNudgeRequestError)) throw new Error(`expected an InvalidNudgeRequestError, got ${String(error)}`);
  return error.issues;
}

describe("payloads are checked against their kind's schema, and the error names the field", () => {
  test.each<[string, () => Promise<unknown>, string]>([
    ["an email without a subject", () => outbox.sendMessage("k-1", { contact: ada, channel: "email", body: "Hi" } as never), "payload.subject: an email needs a subject"],
    ["an SMS with a subject", () => outbox.sendSms("k-1", { contact: ada, body: "Hi", subject: "Hi" } as never), "payload.subject: an SMS has no subject"],
    ["an SMS longer than 1600 characters", () => outbox.sendSms("k-1", { contact: ada, body: "x".repeat(1601) }), "payload.body: an SMS body is at most 1600 characters"],
    ["an email longer than 100000 characters", () => outbox.sendEmail("k-1", { contact: ada, subject: "Hi", body: "x".repeat(100_001) }), "payload.body: an email body is at most 100000 characters"],
    ["an empty body", () => outbox.sendEmail("k-1", { contact: ada, subject: "Hi", body: "" }), "payload.body: a body may not be empty"],
    ["a channel that is not one", () => outbox.sendMessage("k-1", { contact: ada, channel: "fax", body: "Hi" } as never), 'payload.channel: channel is "sms" or "email"'],
    ["a contact with neither phone nor email", () => outbox.sendSms("k-1", { contact: { id: "user-1", name: "Ada" } as never, body: "Hi" }), "payload.contact: a contact needs a phone or an email"],
    ["a phone number not in E.164", () => outbox.sendSms("k-1", { contact: { ...ada, phone: "555-0100" }, body: "Hi" }), "payload.contact.phone: a phone number is in E.164 form"],
    ["an email address that is not one", () => outbox.sendSms("k-1", { contact: { ...ada, email: "ada-at-example" }, body: "Hi" }), "payload.contact.email: not an email address"],
    ["an offset for a time zone", () => outbox.sendSms("k-1", { contact: { ...ada, timezone: "+02:00" }, body: "Hi" }), "payload.contact.timezone: a time zone is an IANA zone name"],
    ["a zone IANA does not know", () => outbox.sendSms("k-1", { contact: { ...ada, timezone: "Mars/Olympus_Mons" }, body: "Hi" }), "payload.contact.timezone: a time zone is an IANA zone name"],
    ["a contact id over 200 characters", () => outbox.sendSms("k-1", { contact: { ...ada, id: "u".repeat(201) }, body: "Hi" }), "payload.contact.id: an id is at most 200 characters"],
    ["a misspelt field", () => outbox.sendSms("k-1", { contact: ada, body: "Hi", dedline: "2026-11-24T09:00:00Z" } as never), "payload.dedline: not a field of this request"],
    ["a deadline without an offset", () => outbox.sendSms("k-1", { contact: ada, body: "Hi", deadline: "2026-11-24T09:00:00" }), "payload.deadline: deadline is an ISO 8601 date-time with an offset"],
    ["a start given as a number", () => outbox.scheduleAppointment("k-1", { appointmentId: "A-17", contact: ada, startsAt: 1_795_510_800_000 as never }, { version: 1 }), "payload.startsAt: startsAt is an ISO 8601 date-time"],
    ["a campaign id that is not a slug", () => outbox.enrollLead("k-1", { contact: ada, campaignId: "Demo Welcome" }), "payload.campaignId: a campaign id is a slug"],
    ["a stop without its reason", () => outbox.stopLead("k-1", { contactId: "user-1" } as never), "payload.reason: required"],
    ["an enrolment without its contact", () => outbox.enrollLead("k-1", { campaignId: "demo-welcome" } as never), "payload.contact: required"],
    ["a payload that is not an object", () => outbox.sendMessage("k-1", null as never), "payload: a message.send payload is an object, got null"],
    ["a kind Nudge does not know", () => untypedRequest("message.fax", "k-1", {}), 'kind: "message.fax" is not a request kind; use one of message.send,'],
  ])("%s", async (_, write, issue) => {
    expect((await issuesOf(write())).join("\n")).toContain(issue);
  });

  test("every field at fault is listed at once, and the message names the kind and key", async () => {
    const write = () => outbox.sendSms("k-1", { contact: { id: "", name: "Ada", phone: "0100" }, body: "" });
    await expect(write()).rejects.toThrow(/^Invalid message\.send request "k-1": payload\.contact\.id: /);
    expect(await issuesOf(write())).toEqual([
      "payload.contact.id: an id may not be empty",
      'payload.contact.phone: a phone number is in E.164 form, e.g. "+15550100001"',
      "payload.body: a body may not be empty",
    ]);
  });
});

describe("idempotency keys", () => {
  test.each<[string, unknown, string]>([
    ["empty", "", "an idempotency key may not be empty"],
    ["digits alone", "42", "an idempotency key may not be digits alone (BullMQ refuses integer job ids)"],
    ["digits alone, with leading zeros", "0042", "may not be digits alone"],
    ["a negative integer", "-42", "may not be digits alone"],
    ['with ":"', "welcome:42", 'an idempotency key uses only A-Z a-z 0-9 . _ | - (no ":", BullMQ\'s separator'],
    ["with a space", "welcome 42", "uses only A-Z a-z 0-9 . _ | -"],
    ["beyond ASCII", "wélcome-42", "uses only A-Z a-z 0-9 . _ | -"],
    ["over 200 characters", "k".repeat(201), "an idempotency key is at most 200 characters"],
    ["not a string", 42, "an idempotency key is a string"],
  ])("rejects a key %s", async (_, key, rule) => {
    const issues = await issuesOf(outbox.sendSms(key as string, { contact: ada, body: "Hi" }));
    expect(issues).toEqual([expect.stringMatching(/^key: /)]);
    expect(issues[0]).toContain(rule);
  });

  test("accepts what the rule allows", async () => {
    const accepted = { query: async () => ({ rowCount: 1 }) };
    const write = createNudgeClient({ source: "signup-service" }).outbox(accepted);
    for (const key of ["welcome-42", "0042x", "a|b.c_d-e", "k".repeat(200), "-", "1.5"]) {
      await expect(write.sendSms(key, { contact: ada, body: "Hi" })).resolves.toEqual({ inserted: true });
    }
  });
});

describe("subject versions", () => {
  test.each<[string, unknown, string]>([
    ["absent", undefined, "options.version: appointment.cancel changes a versioned subject and needs its version"],
    ["negative", -1, "options.version: a version may not be negative, got -1"],
    ["fractional", 1.5, "options.version: a version is an integer no larger than Number.MAX_SAFE_INTEGER"],
    ["a number past 2^53", 2 ** 53, "(pass a bigint beyond that)"],
    ["a string", "3", 'options.version: a version is a non-negative integer (a number or a bigint), got the string "3"'],
    ["beyond BIGINT", 2n ** 63n, "options.version: a version fits in a Postgres BIGINT"],
  ])("rejects a version %s", async (_, version, issue) => {
    const options = version === undefined ? (undefined as never) : { version: version as number };
    expect((await issuesOf(outbox.cancelAppointment("cancel-1", { appointmentId: "A-17" }, options))).join("\n")).toContain(issue);
  });

  test("a kind without a versioned subject takes no version", async () => {
    const write = untypedRequest("lead.stop", "stop-1", { contactId: "user-1", reason: "done" }, { version: 1 });
    expect(await issuesOf(write)).toEqual(["options.version: lead.stop has no versioned subject; leave the version out"]);
  });
});

describe("the client's source name and handle", () => {
  test.each(["Signup_Service", "signup--service", "-signup", "", "s".repeat(65)])("rejects the source %j", (source) => {
    expect(() => createNudgeClient({ source })).toThrow(/^createNudgeClient: a source name (is a slug|is at most 64 characters)/);
  });

  test("accepts a slug", () => {
    expect(createNudgeClient({ source: "signup-service-2" }).source).toBe("signup-service-2");
  });

  test("a handle that is neither pg's nor Prisma's is refused when it is handed over", () => {
    expect(() => createNudgeClient({ source: "signup-service" }).outbox({} as never)).toThrow(
      "outbox(tx): tx must be a pg client in a transaction (it has query()) or a Prisma interactive transaction client",
    );
  });
});
