import { interpretProviderStatus, normalizeAddress, smsKeyword } from "../src";

describe("provider statuses", () => {
  it("orders a message's statuses so that a late report cannot move it backwards", () => {
    const rank = (channel: "sms" | "voice" | "email", status: string) => interpretProviderStatus(channel, status)!.rank;
    expect(rank("sms", "queued")).toBeLessThan(rank("sms", "sent"));
    expect(rank("sms", "sent")).toBeLessThan(rank("sms", "delivered"));
    expect(rank("sms", "delivered")).toBe(rank("sms", "undelivered"));
    expect(rank("voice", "ringing")).toBeLessThan(rank("voice", "completed"));
    expect(rank("email", "processed")).toBeLessThan(rank("email", "deferred"));
    expect(rank("email", "deferred")).toBeLessThan(rank("email", "bounce"));
  });

  it("says which reports mean the recipient was not reached", () => {
    for (const [channel, status] of [["sms", "undelivered"], ["sms", "failed"], ["voice", "no-answer"], ["voice", "busy"], ["email", "bounce"], ["email", "dropped"]] as const) {
      expect([channel, status, interpretProviderStatus(channel, status)?.outcome]).toEqual([channel, status, "undelivered"]);
    }
    expect(interpretProviderStatus("sms", "Delivered")).toMatchObject({ outcome: "accepted", status: "delivered" });
    expect(interpretProviderStatus("email", "open")).toBeUndefined();
  });

  it("reads Twilio's keywords as Twilio does: the whole message, trimmed, any case", () => {
    for (const word of ["STOP", " stop ", "StopAll", "unsubscribe", "CANCEL", "end", "QUIT"]) expect(smsKeyword(word)).toBe("opt-out");
    for (const word of ["START", "yes", "Unstop"]) expect(smsKeyword(word)).toBe("opt-in");
    expect(smsKeyword("help")).toBe("help");
    expect(smsKeyword("please stop calling")).toBeUndefined();
  });

  it("keys a recipient as the suppression list does", () => {
    expect(normalizeAddress("email", " Someone@Example.COM ")).toBe("someone@example.com");
    expect(normalizeAddress("sms", "+15550001111")).toBe("+15550001111");
  });
});
