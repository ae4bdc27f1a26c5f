import { DELIVERY_STATES, TERMINAL_STATES, canTransition, isSettled } from "../src";

describe("delivery state machine", () => {
  it("only a claim leads to sending, and only from pending", () => {
    for (const from of DELIVERY_STATES) expect(canTransition(from, "sending")).toBe(from === "pending");
  });

  it("a claimed delivery never goes back to pending except when the provider provably did not accept it", () => {
    expect(canTransition("sending", "pending")).toBe(true);
    expect(canTransition("sending", "unknown")).toBe(true);
    expect(canTransition("unknown", "sending")).toBe(false);
  });

  it("terminal states are final, except that a sent message the provider could not deliver becomes undelivered", () => {
    for (const from of TERMINAL_STATES) {
      for (const to of DELIVERY_STATES) expect([from, to, canTransition(from, to)]).toEqual([from, to, from === "sent" && to === "undelivered"]);
    }
  });

  it("pending and sending are the only unsettled states", () => {
    expect(DELIVERY_STATES.filter((s) => !isSettled(s))).toEqual(["pending", "sending"]);
  });
});
